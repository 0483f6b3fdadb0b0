#ifndef ADJOINT_CBLAS_SHIM_H
#define ADJOINT_CBLAS_SHIM_H
// Debian's libopenblas-dev installs cblas.h under an alternatives path; both spellings work.
#if __has_include(<cblas.h>)
#include <cblas.h>
#else
#include <openblas/cblas.h>
#endif
#endif
