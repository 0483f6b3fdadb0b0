// Elementwise kernels: unary, binary, select, cast (and copy = cast to the same dtype), fill.
// Every kernel comes in two forms: `<family>_<op>_<dtype>` walks a 1-D view per operand
// (offset + i * step; step 0 broadcasts a scalar, 1 is contiguous) with no index
// arithmetic, and `..._strided` walks up to ADJ_MAX_RANK axes with per-operand strides.

// ---- unary functors (float, then int32, then bool)
#define UN_neg(x)     (-(x))
#define UN_exp(x)     exp(x)
#define UN_log(x)     log(x)
#define UN_sin(x)     sin(x)
#define UN_cos(x)     cos(x)
#define UN_tanh(x)    tanh(x)
#define UN_sqrt(x)    sqrt(x)
#define UN_abs(x)     fabs(x)
#define UN_sign(x)    ((x) > 0 ? 1 : (x) < 0 ? -1 : (x))
#define UN_floor(x)   floor(x)
#define UN_round(x)   round(x)
#define UN_sigmoid(x) ((x) >= 0 ? 1 / (1 + exp(-(x))) : exp(x) / (1 + exp(x)))
#define UN_ineg(x)    ((int)(0u - (uint)(x)))
#define UN_iabs(x)    ((x) < 0 ? UN_ineg(x) : (x))
#define UN_isign(x)   ((x) > 0 ? 1 : (x) < 0 ? -1 : 0)
#define UN_not(x)     (!(x))

// ---- binary functors
#define BI_add(a, b)  ((a) + (b))
#define BI_sub(a, b)  ((a) - (b))
#define BI_mul(a, b)  ((a) * (b))
#define BI_div(a, b)  ((a) / (b))
#define BI_pow(a, b)  pow(a, b)
#define BI_max(a, b)  ((a) > (b) || isnan(a) ? (a) : (b))
#define BI_min(a, b)  ((a) < (b) || isnan(a) ? (a) : (b))
#define BI_iadd(a, b) ((int)((uint)(a) + (uint)(b)))
#define BI_isub(a, b) ((int)((uint)(a) - (uint)(b)))
#define BI_imul(a, b) ((int)((uint)(a) * (uint)(b)))
#define BI_idiv(a, b) ((b) == 0 ? 0 : (b) == -1 ? UN_ineg(a) : (a) / (b))
#define BI_imax(a, b) ((a) > (b) ? (a) : (b))
#define BI_imin(a, b) ((a) < (b) ? (a) : (b))
#define BI_lt(a, b)   ((a) < (b))
#define BI_le(a, b)   ((a) <= (b))
#define BI_gt(a, b)   ((a) > (b))
#define BI_ge(a, b)   ((a) >= (b))
#define BI_eq(a, b)   ((a) == (b))
#define BI_ne(a, b)   ((a) != (b))
#define BI_and(a, b)  ((a) && (b))
#define BI_or(a, b)   ((a) || (b))

// ---- cast functors, by destination (float->int truncates toward zero, saturating; NaN -> 0)
#define CV_float(x)   ((float)(x))
#define CV_double(x)  ((double)(x))
#define CV_int(x)     ((int)(x))
#define CV_fint(x)    convert_int_sat_rtz(x)
#define CV_uchar(x)   ((x) != 0)

// ---- kernel templates
#define UNARY(NAME, TN, T, OT, F) \
__kernel void NAME##_##TN(__global OT* out, int oo, int os, __global const T* a, int ao, int as, int n) { \
    int i = get_global_id(0); if (i >= n) return; \
    T x = a[ao + i * as]; out[oo + i * os] = (OT)(F(x)); } \
__kernel void NAME##_##TN##_strided(__global OT* out, __global const T* a, adj_shape sh, adj_view vo, adj_view va) { \
    int i = get_global_id(0); if (i >= sh.count) return; \
    int po = vo.offset, pa = va.offset; \
    ADJ_WALK(i, sh, po += _c * vo.strides[_d]; pa += _c * va.strides[_d];) \
    T x = a[pa]; out[po] = (OT)(F(x)); }

#define BINARY(NAME, TN, T, OT, F) \
__kernel void binary_##NAME##_##TN(__global OT* out, int oo, int os, __global const T* a, int ao, int as, \
                                   __global const T* b, int bo, int bs, int n) { \
    int i = get_global_id(0); if (i >= n) return; \
    T x = a[ao + i * as], y = b[bo + i * bs]; out[oo + i * os] = (OT)(F(x, y)); } \
__kernel void binary_##NAME##_##TN##_strided(__global OT* out, __global const T* a, __global const T* b, \
                                             adj_shape sh, adj_view vo, adj_view va, adj_view vb) { \
    int i = get_global_id(0); if (i >= sh.count) return; \
    int po = vo.offset, pa = va.offset, pb = vb.offset; \
    ADJ_WALK(i, sh, po += _c * vo.strides[_d]; pa += _c * va.strides[_d]; pb += _c * vb.strides[_d];) \
    T x = a[pa], y = b[pb]; out[po] = (OT)(F(x, y)); }

#define SELECT(TN, T) \
__kernel void select_##TN(__global T* out, int oo, int os, __global const uchar* c, int co, int cs, \
                          __global const T* a, int ao, int as, __global const T* b, int bo, int bs, int n) { \
    int i = get_global_id(0); if (i >= n) return; \
    out[oo + i * os] = c[co + i * cs] ? a[ao + i * as] : b[bo + i * bs]; } \
__kernel void select_##TN##_strided(__global T* out, __global const uchar* c, __global const T* a, __global const T* b, \
                                    adj_shape sh, adj_view vo, adj_view vc, adj_view va, adj_view vb) { \
    int i = get_global_id(0); if (i >= sh.count) return; \
    int po = vo.offset, pc = vc.offset, pa = va.offset, pb = vb.offset; \
    ADJ_WALK(i, sh, po += _c * vo.strides[_d]; pc += _c * vc.strides[_d]; pa += _c * va.strides[_d]; pb += _c * vb.strides[_d];) \
    out[po] = c[pc] ? a[pa] : b[pb]; }

#define FILL(TN, T) \
__kernel void fill_##TN(__global T* out, int oo, int os, T value, int n) { \
    int i = get_global_id(0); if (i >= n) return; out[oo + i * os] = value; } \
__kernel void fill_##TN##_strided(__global T* out, T value, adj_shape sh, adj_view vo) { \
    int i = get_global_id(0); if (i >= sh.count) return; \
    int po = vo.offset; ADJ_WALK(i, sh, po += _c * vo.strides[_d];) out[po] = value; }

// ---- instantiation
#define UNARY_FLOAT(TN, T) \
    UNARY(unary_neg, TN, T, T, UN_neg)   UNARY(unary_exp, TN, T, T, UN_exp)     UNARY(unary_log, TN, T, T, UN_log) \
    UNARY(unary_sin, TN, T, T, UN_sin)   UNARY(unary_cos, TN, T, T, UN_cos)     UNARY(unary_tanh, TN, T, T, UN_tanh) \
    UNARY(unary_sqrt, TN, T, T, UN_sqrt) UNARY(unary_abs, TN, T, T, UN_abs)     UNARY(unary_sign, TN, T, T, UN_sign) \
    UNARY(unary_floor, TN, T, T, UN_floor) UNARY(unary_round, TN, T, T, UN_round) UNARY(unary_sigmoid, TN, T, T, UN_sigmoid)

#define BINARY_FLOAT(TN, T) \
    BINARY(add, TN, T, T, BI_add) BINARY(sub, TN, T, T, BI_sub) BINARY(mul, TN, T, T, BI_mul) BINARY(div, TN, T, T, BI_div) \
    BINARY(pow, TN, T, T, BI_pow) BINARY(maximum, TN, T, T, BI_max) BINARY(minimum, TN, T, T, BI_min)

#define COMPARE(TN, T) \
    BINARY(lt, TN, T, uchar, BI_lt) BINARY(le, TN, T, uchar, BI_le) BINARY(gt, TN, T, uchar, BI_gt) \
    BINARY(ge, TN, T, uchar, BI_ge) BINARY(eq, TN, T, uchar, BI_eq) BINARY(ne, TN, T, uchar, BI_ne)

// cast_<from>_<to>; copy uses cast_<t>_<t>.
#define CASTS_FROM(TN, T, TOINT) \
    UNARY(cast_##TN, float32, T, float, CV_float) UNARY(cast_##TN, int32, T, int, TOINT) UNARY(cast_##TN, bool, T, uchar, CV_uchar)

UNARY_FLOAT(float32, float)
BINARY_FLOAT(float32, float)
COMPARE(float32, float)
SELECT(float32, float)
FILL(float32, float)
CASTS_FROM(float32, float, CV_fint)
CASTS_FROM(int32, int, CV_int)
CASTS_FROM(bool, uchar, CV_int)

UNARY(unary_neg, int32, int, int, UN_ineg)
UNARY(unary_abs, int32, int, int, UN_iabs)
UNARY(unary_sign, int32, int, int, UN_isign)
BINARY(add, int32, int, int, BI_iadd) BINARY(sub, int32, int, int, BI_isub) BINARY(mul, int32, int, int, BI_imul)
BINARY(div, int32, int, int, BI_idiv) BINARY(maximum, int32, int, int, BI_imax) BINARY(minimum, int32, int, int, BI_imin)
COMPARE(int32, int)
SELECT(int32, int)
FILL(int32, int)

UNARY(unary_logicalNot, bool, uchar, uchar, UN_not)
BINARY(logicalAnd, bool, uchar, uchar, BI_and) BINARY(logicalOr, bool, uchar, uchar, BI_or)
COMPARE(bool, uchar)
SELECT(bool, uchar)
FILL(bool, uchar)

#ifdef ADJOINT_FP64
UNARY_FLOAT(float64, double)
BINARY_FLOAT(float64, double)
COMPARE(float64, double)
SELECT(float64, double)
FILL(float64, double)
CASTS_FROM(float64, double, CV_fint)
UNARY(cast_float64, float64, double, double, CV_double)
UNARY(cast_float32, float64, float, double, CV_double)
UNARY(cast_int32, float64, int, double, CV_double)
UNARY(cast_bool, float64, uchar, double, CV_double)
#endif
