// Elementwise float32 loops for jit's CPU interpreter (CPUBackend+Fused.swift), in C so
// the compiler can build each for several vector widths: Swift code is compiled for
// baseline x86-64 (SSE2), which ran these loops 4 floats at a time on AVX-512 machines.
// No fast-math: every result is the IEEE result the Swift loops gave.
#include "CVector.h"
#include <math.h>

#if defined(__x86_64__) && defined(__linux__) && defined(__clang__)
#define MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define MULTIVERSION
#endif

#define LOOP(expression) for (long i = 0; i < n; ++i) out[i] = (expression)

MULTIVERSION
void adjoint_binary_f32(adjoint_binary_op op, const float *a, const float *b, float *out, long n) {
    switch (op) {
    case ADJOINT_ADD: LOOP(a[i] + b[i]); break;
    case ADJOINT_SUB: LOOP(a[i] - b[i]); break;
    case ADJOINT_MUL: LOOP(a[i] * b[i]); break;
    case ADJOINT_DIV: LOOP(a[i] / b[i]); break;
    case ADJOINT_MAX: LOOP((a[i] > b[i] || a[i] != a[i]) ? a[i] : b[i]); break;
    case ADJOINT_MIN: LOOP((a[i] < b[i] || a[i] != a[i]) ? a[i] : b[i]); break;
    case ADJOINT_LT: LOOP(a[i] < b[i] ? 1.0f : 0.0f); break;
    case ADJOINT_LE: LOOP(a[i] <= b[i] ? 1.0f : 0.0f); break;
    case ADJOINT_GT: LOOP(a[i] > b[i] ? 1.0f : 0.0f); break;
    case ADJOINT_GE: LOOP(a[i] >= b[i] ? 1.0f : 0.0f); break;
    case ADJOINT_EQ: LOOP(a[i] == b[i] ? 1.0f : 0.0f); break;
    case ADJOINT_NE: LOOP(a[i] != b[i] ? 1.0f : 0.0f); break;
    case ADJOINT_AND: LOOP(a[i] != 0 && b[i] != 0 ? 1.0f : 0.0f); break;
    case ADJOINT_OR: LOOP(a[i] != 0 || b[i] != 0 ? 1.0f : 0.0f); break;
    }
}

MULTIVERSION
void adjoint_unary_f32(adjoint_unary_op op, const float *x, float *out, long n) {
    switch (op) {
    case ADJOINT_NEG: LOOP(-x[i]); break;
    case ADJOINT_ABS: LOOP(fabsf(x[i])); break;
    case ADJOINT_SQRT: LOOP(sqrtf(x[i])); break;
    case ADJOINT_SIGN: LOOP(x[i] > 0 ? 1.0f : (x[i] < 0 ? -1.0f : x[i])); break;
    case ADJOINT_FLOOR: LOOP(floorf(x[i])); break;
    case ADJOINT_ROUND: LOOP(roundf(x[i])); break;
    case ADJOINT_NOT: LOOP(x[i] != 0 ? 0.0f : 1.0f); break;
    }
}

MULTIVERSION
void adjoint_select_f32(const float *c, const float *a, const float *b, float *out, long n) {
    LOOP(c[i] != 0 ? a[i] : b[i]);
}
