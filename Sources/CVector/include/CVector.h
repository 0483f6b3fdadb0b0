#ifndef ADJOINT_CVECTOR_H
#define ADJOINT_CVECTOR_H

/// Binary float32 loops of jit's CPU interpreter, `out[i] = a[i] op b[i]` for i < n.
/// Semantics match the OpenCL functors (Kernels/elementwise.cl): max and min propagate a
/// NaN first operand, comparisons and logical ops give 1 or 0. `out` may alias an input.
typedef enum {
    ADJOINT_ADD, ADJOINT_SUB, ADJOINT_MUL, ADJOINT_DIV, ADJOINT_MAX, ADJOINT_MIN,
    ADJOINT_LT, ADJOINT_LE, ADJOINT_GT, ADJOINT_GE, ADJOINT_EQ, ADJOINT_NE,
    ADJOINT_AND, ADJOINT_OR
} adjoint_binary_op;

/// Unary float32 loops, `out[i] = op(x[i])`: negation, |x|, square root (correctly
/// rounded), sign (NaN and -0 kept), floor, round (halves away from zero), logical not.
typedef enum {
    ADJOINT_NEG, ADJOINT_ABS, ADJOINT_SQRT, ADJOINT_SIGN, ADJOINT_FLOOR, ADJOINT_ROUND, ADJOINT_NOT
} adjoint_unary_op;

/// Runs a binary loop; compiled for AVX-512, AVX2 and baseline x86-64 and chosen when the
/// library loads (plain C elsewhere).
void adjoint_binary_f32(adjoint_binary_op op, const float *a, const float *b, float *out, long n);

/// Runs a unary loop (same dispatch).
void adjoint_unary_f32(adjoint_unary_op op, const float *x, float *out, long n);

/// `out[i] = c[i] != 0 ? a[i] : b[i]` (same dispatch).
void adjoint_select_f32(const float *c, const float *a, const float *b, float *out, long n);

#endif
