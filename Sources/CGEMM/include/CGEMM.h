#ifndef ADJOINT_CGEMM_H
#define ADJOINT_CGEMM_H

#include <stdbool.h>

/// Whether this CPU and operating system run `adjoint_sgemm`'s AVX-512 kernel
/// (x86-64 with AVX-512F and ZMM state enabled by the OS).
bool adjoint_sgemm_available(void);

/// Row-major single-precision `C = op(A) * op(B)` (alpha 1, beta 0) with a packed
/// AVX-512 micro-kernel. `op(A)` is `m x k`, `op(B)` is `k x n`; a transposed operand
/// is stored column-major with the given leading dimension. Call only when
/// `adjoint_sgemm_available()` is true. Returns false, with C untouched, when the
/// calling thread's packing scratch cannot be allocated. Thread-safe: each thread packs
/// into its own scratch, freed when the thread exits.
bool adjoint_sgemm(bool transposeA, bool transposeB, long m, long n, long k,
                   const float *a, long lda, const float *b, long ldb,
                   float *c, long ldc);

#endif
