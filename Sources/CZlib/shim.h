#ifndef ADJOINT_CZLIB_SHIM_H
#define ADJOINT_CZLIB_SHIM_H
// zlib, for reading the gzip-compressed IDX files of (Fashion-)MNIST.
#include <zlib.h>
#endif
