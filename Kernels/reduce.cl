// Reductions of a contiguous [outer, length, inner] input over `length`.
// reduce_<op>_<dtype>_rows (inner == 1): one work-group per row, each work-item folds a
// strided share of the row, then a local-memory tree (local size: a power of two <= RWG).
// reduce_<op>_<dtype>_partial (sum/max/min, few long rows): one work-group per chunk of a
// row, writing per-chunk partials that the rows kernel then folds (a two-pass reduction,
// so one long row still spreads over the whole device).
// reduce_<op>_<dtype>_cols: one work-item per (outer, inner) folding over length.
// reduce_<op>_<dtype>_colsplit (sum/max/min, few long columns): one work-item per (outer,
// chunk of length, inner), writing [outer, parts, inner] partials that cols then folds.
// Float sums use compensated (Kahan) summation per work-item. max/min propagate NaN;
// argmax/argmin return the first index of the extreme (NaN counts as extreme), 0 if empty.

#define RWG 256

// ---- accumulator functors: ACC(T, acc, comp, x) folds one value into acc (comp: Kahan term)
#define KAHAN(T, s, c, x) { T _y = (x) - c; T _t = s + _y; if (isfinite(_t)) c = (_t - s) - _y; s = _t; }
#define ISUM(T, s, c, x)  { s = (int)((uint)s + (uint)(x)); }
#define FMAX(T, s, c, x)  { T _x = (x); if (_x > s || isnan(_x)) s = isnan(s) ? s : _x; }
#define FMIN(T, s, c, x)  { T _x = (x); if (_x < s || isnan(_x)) s = isnan(s) ? s : _x; }
#define IMAX(T, s, c, x)  { s = max(s, (x)); }
#define IMIN(T, s, c, x)  { s = min(s, (x)); }
// "b beats a" for arg reductions (ties go to the smaller index, handled by the caller)
#define FBIGGER(b, a)  ((isnan(b) && !isnan(a)) || (b) > (a))
#define FSMALLER(b, a) ((isnan(b) && !isnan(a)) || (b) < (a))
#define FSAME(b, a)    ((b) == (a) || (isnan(b) && isnan(a)))
#define IBIGGER(b, a)  ((b) > (a))
#define ISMALLER(b, a) ((b) < (a))
#define ISAME(b, a)    ((b) == (a))

#define REDUCE(OP, TN, T, INIT, ACC) \
__kernel void reduce_##OP##_##TN##_rows(__global const T* x, int xo, __global T* out, int oo, int length) { \
    __local T part[RWG]; \
    int row = get_group_id(0), t = get_local_id(0), L = get_local_size(0); \
    __global const T* p = x + xo + row * length; \
    T s = INIT, c = 0; \
    for (int j = t; j < length; j += L) ACC(T, s, c, p[j]) \
    part[t] = s - c; \
    barrier(CLK_LOCAL_MEM_FENCE); \
    for (int h = L / 2; h > 0; h /= 2) { \
        if (t < h) { T a = part[t], z = 0; ACC(T, a, z, part[t + h]) part[t] = a; } \
        barrier(CLK_LOCAL_MEM_FENCE); \
    } \
    if (t == 0) out[oo + row] = part[0]; } \
__kernel void reduce_##OP##_##TN##_partial(__global const T* x, int xo, __global T* out, int length, int chunk, int parts) { \
    __local T part[RWG]; \
    int group = get_group_id(0), row = group / parts, start = (group % parts) * chunk; \
    int t = get_local_id(0), L = get_local_size(0), end = min(length, start + chunk); \
    __global const T* p = x + xo + row * length; \
    T s = INIT, c = 0; \
    for (int j = start + t; j < end; j += L) ACC(T, s, c, p[j]) \
    part[t] = s - c; \
    barrier(CLK_LOCAL_MEM_FENCE); \
    for (int h = L / 2; h > 0; h /= 2) { \
        if (t < h) { T a = part[t], z = 0; ACC(T, a, z, part[t + h]) part[t] = a; } \
        barrier(CLK_LOCAL_MEM_FENCE); \
    } \
    if (t == 0) out[group] = part[0]; } \
__kernel void reduce_##OP##_##TN##_cols(__global const T* x, int xo, __global T* out, int oo, int outer, int length, int inner) { \
    int g = get_global_id(0); if (g >= outer * inner) return; \
    int o = g / inner, i = g % inner; \
    __global const T* p = x + xo + o * length * inner + i; \
    T s = INIT, c = 0; \
    for (int j = 0; j < length; ++j) ACC(T, s, c, p[j * inner]) \
    out[oo + g] = s - c; } \
__kernel void reduce_##OP##_##TN##_colsplit(__global const T* x, int xo, __global T* out, int outer, int length, int inner, int chunk, int parts) { \
    int g = get_global_id(0); if (g >= outer * parts * inner) return; \
    int i = g % inner, part = (g / inner) % parts, o = g / (inner * parts); \
    __global const T* p = x + xo + o * length * inner + i; \
    int end = min(length, (part + 1) * chunk); \
    T s = INIT, c = 0; \
    for (int j = part * chunk; j < end; ++j) ACC(T, s, c, p[j * inner]) \
    out[g] = s - c; }

#define REDUCE_ARG(OP, TN, T, INIT, BEATS, SAME) \
__kernel void reduce_##OP##_##TN##_rows(__global const T* x, int xo, __global int* out, int oo, int length) { \
    __local T pv[RWG]; __local int pi[RWG]; \
    int row = get_group_id(0), t = get_local_id(0), L = get_local_size(0); \
    __global const T* p = x + xo + row * length; \
    T best = INIT; int at = INT_MAX; \
    for (int j = t; j < length; j += L) { T v = p[j]; if (at == INT_MAX || BEATS(v, best)) { best = v; at = j; } } \
    pv[t] = best; pi[t] = at; \
    barrier(CLK_LOCAL_MEM_FENCE); \
    for (int h = L / 2; h > 0; h /= 2) { \
        if (t < h) { T a = pv[t], b = pv[t + h]; int ia = pi[t], ib = pi[t + h]; \
            if (ib != INT_MAX && (ia == INT_MAX || BEATS(b, a) || (SAME(b, a) && ib < ia))) { pv[t] = b; pi[t] = ib; } } \
        barrier(CLK_LOCAL_MEM_FENCE); \
    } \
    if (t == 0) out[oo + row] = pi[0] == INT_MAX ? 0 : pi[0]; } \
__kernel void reduce_##OP##_##TN##_cols(__global const T* x, int xo, __global int* out, int oo, int outer, int length, int inner) { \
    int g = get_global_id(0); if (g >= outer * inner) return; \
    int o = g / inner, i = g % inner; \
    __global const T* p = x + xo + o * length * inner + i; \
    T best = INIT; int at = 0; \
    for (int j = 0; j < length; ++j) { T v = p[j * inner]; if (j == 0 || BEATS(v, best)) { best = v; at = j; } } \
    out[oo + g] = at; }

#define REDUCE_FLOAT(TN, T) \
    REDUCE(sum, TN, T, 0, KAHAN) REDUCE(max, TN, T, -INFINITY, FMAX) REDUCE(min, TN, T, INFINITY, FMIN) \
    REDUCE_ARG(argmax, TN, T, -INFINITY, FBIGGER, FSAME) REDUCE_ARG(argmin, TN, T, INFINITY, FSMALLER, FSAME)

REDUCE_FLOAT(float32, float)
#ifdef ADJOINT_FP64
REDUCE_FLOAT(float64, double)
#endif
REDUCE(sum, int32, int, 0, ISUM) REDUCE(max, int32, int, INT_MIN, IMAX) REDUCE(min, int32, int, INT_MAX, IMIN)
REDUCE_ARG(argmax, int32, int, INT_MIN, IBIGGER, ISAME) REDUCE_ARG(argmin, int32, int, INT_MAX, ISMALLER, ISAME)
