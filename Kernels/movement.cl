// Gather and scatter-add along the middle axis of [outer, length|count, inner].
// gather_<dtype>: one work-item per output element; an out-of-range index yields 0.
// scatterAdd_<dtype>: one work-item per (outer, inner) zero-fills its output column, then
// adds updates for j ascending (deterministic, no atomics); out-of-range indices are skipped.

#define GATHER(TN, T) \
__kernel void gather_##TN(__global const T* x, int xo, __global const int* idx, int io, __global T* out, int oo, \
                          int outer, int length, int count, int inner) { \
    int g = get_global_id(0); if (g >= outer * count * inner) return; \
    int i = g % inner, o = g / (count * inner); \
    int k = idx[io + g]; \
    out[oo + g] = (k >= 0 && k < length) ? x[xo + (o * length + k) * inner + i] : (T)0; }

#define SCATTER_ADD(TN, T, ADD) \
__kernel void scatterAdd_##TN(__global const T* upd, int uo, __global const int* idx, int io, __global T* out, int oo, \
                              int outer, int length, int count, int inner) { \
    int g = get_global_id(0); if (g >= outer * inner) return; \
    int o = g / inner, i = g % inner; \
    __global T* col = out + oo + o * length * inner + i; \
    for (int l = 0; l < length; ++l) col[l * inner] = 0; \
    for (int j = 0; j < count; ++j) { \
        int e = (o * count + j) * inner + i; int k = idx[io + e]; \
        if (k >= 0 && k < length) col[k * inner] = ADD(col[k * inner], upd[uo + e]); } }

#define FADD(a, b) ((a) + (b))
#define IADD(a, b) ((int)((uint)(a) + (uint)(b)))

GATHER(float32, float) GATHER(int32, int) GATHER(bool, uchar)
SCATTER_ADD(float32, float, FADD) SCATTER_ADD(int32, int, IADD)
#ifdef ADJOINT_FP64
GATHER(float64, double) SCATTER_ADD(float64, double, FADD)
#endif
