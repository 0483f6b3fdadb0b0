// Batched GEMM C[b] = A[b] · B[b]. A is [batch, m, k] with element (i, p) at
// ao + b*sab + i*sam + p*sak; B is [batch, k, n] with (p, j) at bo + b*sbb + p*sbk + j*sbn
// (row-major or transposed, batch stride 0 broadcasts); C is contiguous [batch, m, n] from co.
//
// matmul_<dtype>: 64x64 output tile per 16x16 work-group, 16-deep k slices staged in local
// memory, each work-item accumulating a 4x4 register block (rows ty + 16r, columns tx + 16c).
// Tile loads pick the coalesced order from the strides. Edges load zeros and skip stores.
// matmul_naive_<dtype>: one work-item per output, for devices whose work-groups are < 256.

#define TS 64
#define TK 16

#define MATMUL(TN, T) \
__kernel __attribute__((reqd_work_group_size(16, 16, 1))) \
void matmul_##TN(__global const T* A, int ao, int sab, int sam, int sak, \
                 __global const T* B, int bo, int sbb, int sbk, int sbn, \
                 __global T* C, int co, int m, int n, int k) { \
    __local T As[TK][TS]; \
    __local T Bs[TK][TS]; \
    int tx = get_local_id(0), ty = get_local_id(1), tid = ty * 16 + tx; \
    int col0 = get_group_id(0) * TS, row0 = get_group_id(1) * TS, batch = get_global_id(2); \
    A += ao + batch * sab; B += bo + batch * sbb; C += co + batch * m * n; \
    T acc[4][4]; \
    for (int r = 0; r < 4; ++r) for (int c = 0; c < 4; ++c) acc[r][c] = 0; \
    for (int p0 = 0; p0 < k; p0 += TK) { \
        for (int l = 0; l < 4; ++l) { \
            int e = tid + l * 256; \
            int r = sak == 1 ? e / TK : e % TS, p = sak == 1 ? e % TK : e / TS; \
            int gr = row0 + r, gp = p0 + p; \
            As[p][r] = (gr < m && gp < k) ? A[gr * sam + gp * sak] : (T)0; \
            int q = sbn == 1 ? e / TS : e % TK, c = sbn == 1 ? e % TS : e / TK; \
            int gq = p0 + q, gc = col0 + c; \
            Bs[q][c] = (gq < k && gc < n) ? B[gq * sbk + gc * sbn] : (T)0; \
        } \
        barrier(CLK_LOCAL_MEM_FENCE); \
        for (int p = 0; p < TK; ++p) { \
            T a[4], b[4]; \
            for (int r = 0; r < 4; ++r) a[r] = As[p][ty + 16 * r]; \
            for (int c = 0; c < 4; ++c) b[c] = Bs[p][tx + 16 * c]; \
            for (int r = 0; r < 4; ++r) for (int c = 0; c < 4; ++c) acc[r][c] += a[r] * b[c]; \
        } \
        barrier(CLK_LOCAL_MEM_FENCE); \
    } \
    for (int r = 0; r < 4; ++r) { \
        int gr = row0 + ty + 16 * r; \
        if (gr >= m) break; \
        for (int c = 0; c < 4; ++c) { int gc = col0 + tx + 16 * c; if (gc < n) C[gr * n + gc] = acc[r][c]; } \
    } } \
__kernel void matmul_naive_##TN(__global const T* A, int ao, int sab, int sam, int sak, \
                                __global const T* B, int bo, int sbb, int sbk, int sbn, \
                                __global T* C, int co, int m, int n, int k) { \
    int j = get_global_id(0), i = get_global_id(1), batch = get_global_id(2); \
    if (i >= m || j >= n) return; \
    A += ao + batch * sab; B += bo + batch * sbb; \
    T s = 0; \
    for (int p = 0; p < k; ++p) s += A[i * sam + p * sak] * B[p * sbk + j * sbn]; \
    C[co + batch * m * n + i * n + j] = s; }

MATMUL(float32, float)
#ifdef ADJOINT_FP64
MATMUL(float64, double)
#endif
