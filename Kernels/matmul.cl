// Batched GEMM C[b] = A[b] · B[b]. A is [batch, m, k] with element (i, p) at
// ao + b*sab + i*sam + p*sak; B is [batch, k, n] with (p, j) at bo + b*sbb + p*sbk + j*sbn
// (row-major or transposed, batch stride 0 broadcasts); C is contiguous [batch, m, n] from co.
//
// Kernels (the backend picks one per product, see OpenCLGEMMTiles.swift):
// matmul_<dtype>: 64x64 output tile per 16x16 work-group, 16-deep k slices staged in local
//   memory, each work-item accumulating a 4x4 register block (rows ty + 16r, columns tx + 16c).
// matmul_small_<dtype>: the same with 32x32 tiles and 2x2 blocks, for products too small
//   to give every compute unit a 64x64 tile.
// matmul_large_<dtype>: 128x128 tiles, 8-deep k slices, 8x8 blocks read from local memory
//   as 4-wide vectors (rows ty*4 + {0..3} and 64 + ty*4 + {0..3}, columns likewise from
//   tx): 16 FMAs per local load instead of 2 in the 64x64 kernel. Local rows are padded
//   by 4 so the transposing tile loads (k contiguous in global memory) hit 32 banks.
// matmul_naive_<dtype>: one work-item per output, for products with a side under 16 and
//   devices whose work-groups are < 256.
// matmul_rowdot_<dtype>: one output column from a row-major A, a work-group per row.
// Tile loads pick the coalesced order from the strides. Edges load zeros and skip stores.

#define MATMUL_ARGS(T) \
    __global const T* A, int ao, int sab, int sam, int sak, \
    __global const T* B, int bo, int sbb, int sbk, int sbn, \
    __global T* C, int co, int m, int n, int k

// Work-item coordinates and the batch's matrices, for a TS x TS tile per work-group.
#define TILE_PROLOGUE(TS) \
    int tx = get_local_id(0), ty = get_local_id(1), tid = ty * 16 + tx; \
    int col0 = get_group_id(0) * (TS), row0 = get_group_id(1) * (TS), batch = get_global_id(2); \
    A += ao + batch * sab; B += bo + batch * sbb; C += co + batch * m * n;

// Where tile element e of a TS x DEPTH slice goes: A's row r and k index p, B's k index q
// and column c, consecutive e along each operand's contiguous axis.
#define TILE_INDEX(TS, DEPTH, e) \
    int r = sak == 1 ? (e) / (DEPTH) : (e) % (TS), p = sak == 1 ? (e) % (DEPTH) : (e) / (TS); \
    int q = sbn == 1 ? (e) / (TS) : (e) % (DEPTH), c = sbn == 1 ? (e) % (TS) : (e) / (DEPTH);

// Stages A[row0.., p0..] into As[DEPTH][..] and B[p0.., col0..] into Bs[DEPTH][..], 256
// work-items loading TS*DEPTH elements of each.
#define LOAD_TILES(T, TS, DEPTH) \
    for (int l = 0; l < (TS) * (DEPTH) / 256; ++l) { \
        TILE_INDEX(TS, DEPTH, tid + l * 256) \
        int gr = row0 + r, gp = p0 + p; \
        As[p][r] = (gr < m && gp < k) ? A[gr * sam + gp * sak] : (T)0; \
        int gq = p0 + q, gc = col0 + c; \
        Bs[q][c] = (gq < k && gc < n) ? B[gq * sbk + gc * sbn] : (T)0; \
    }

#define TK 16

// A TS x TS output tile per 16x16 work-group, each work-item an R x R block (R = TS / 16).
#define MATMUL_TILED(NAME, T, TS, R) \
__kernel __attribute__((reqd_work_group_size(16, 16, 1))) \
void NAME(MATMUL_ARGS(T)) { \
    __local T As[TK][TS]; \
    __local T Bs[TK][TS]; \
    TILE_PROLOGUE(TS) \
    T acc[R][R]; \
    for (int r = 0; r < R; ++r) for (int c = 0; c < R; ++c) acc[r][c] = 0; \
    for (int p0 = 0; p0 < k; p0 += TK) { \
        LOAD_TILES(T, TS, TK) \
        barrier(CLK_LOCAL_MEM_FENCE); \
        for (int p = 0; p < TK; ++p) { \
            T a[R], b[R]; \
            for (int r = 0; r < R; ++r) a[r] = As[p][ty + 16 * r]; \
            for (int c = 0; c < R; ++c) b[c] = Bs[p][tx + 16 * c]; \
            for (int r = 0; r < R; ++r) for (int c = 0; c < R; ++c) acc[r][c] += a[r] * b[c]; \
        } \
        barrier(CLK_LOCAL_MEM_FENCE); \
    } \
    for (int r = 0; r < R; ++r) { \
        int gr = row0 + ty + 16 * r; \
        if (gr >= m) break; \
        for (int c = 0; c < R; ++c) { int gc = col0 + tx + 16 * c; if (gc < n) C[gr * n + gc] = acc[r][c]; } \
    } }

#define TL 128
#define TKL 8

// The 128x128 kernels' arithmetic on one staged k slice of DEPTH, and their store: each
// work-item's 8x8 block, rows ty*4 + {0..3} and 64 + ty*4 + {0..3}, columns likewise.
#define LARGE_MULTIPLY(T, T4, DEPTH) \
        for (int p = 0; p < (DEPTH); ++p) { \
            T4 a0 = vload4(0, &As[p][ty * 4]), a1 = vload4(0, &As[p][64 + ty * 4]); \
            T4 b0 = vload4(0, &Bs[p][tx * 4]), b1 = vload4(0, &Bs[p][64 + tx * 4]); \
            T a[8] = {a0.s0, a0.s1, a0.s2, a0.s3, a1.s0, a1.s1, a1.s2, a1.s3}; \
            T b[8] = {b0.s0, b0.s1, b0.s2, b0.s3, b1.s0, b1.s1, b1.s2, b1.s3}; \
            for (int r = 0; r < 8; ++r) for (int c = 0; c < 8; ++c) acc[r][c] += a[r] * b[c]; \
        }
#define LARGE_STORE \
    for (int r = 0; r < 8; ++r) { \
        int gr = row0 + (r < 4 ? ty * 4 + r : 64 + ty * 4 + r - 4); \
        if (gr >= m) continue; \
        for (int c = 0; c < 8; ++c) { \
            int gc = col0 + (c < 4 ? tx * 4 + c : 64 + tx * 4 + c - 4); \
            if (gc < n) C[gr * n + gc] = acc[r][c]; \
        } \
    }

// The 128x128 kernels' local tiles DEPTH deep, coordinates and zeroed accumulators.
#define LARGE_PROLOGUE(T, DEPTH) \
    __local T As[DEPTH][TL + 4]; \
    __local T Bs[DEPTH][TL + 4]; \
    TILE_PROLOGUE(TL) \
    T acc[8][8]; \
    for (int r = 0; r < 8; ++r) for (int c = 0; c < 8; ++c) acc[r][c] = 0;

#define MATMUL_LARGE(TN, T, T4) \
__kernel __attribute__((reqd_work_group_size(16, 16, 1))) \
void matmul_large_##TN(MATMUL_ARGS(T)) { \
    LARGE_PROLOGUE(T, TKL) \
    for (int p0 = 0; p0 < k; p0 += TKL) { \
        LOAD_TILES(T, TL, TKL) \
        barrier(CLK_LOCAL_MEM_FENCE); \
        LARGE_MULTIPLY(T, T4, TKL) \
        barrier(CLK_LOCAL_MEM_FENCE); \
    } \
    LARGE_STORE }

// matmul_large_prefetch_<dtype>: the 128x128 kernel with 16-deep k slices, each slice's
// global loads issued into registers before the previous slice's arithmetic (so memory
// latency overlaps the FMAs) and stored to local memory after it.
#define TKP 16
#define PREFETCH_FETCH(T, P0) \
    for (int l = 0; l < 8; ++l) { \
        TILE_INDEX(TL, TKP, tid + l * 256) \
        int gr = row0 + r, gp = (P0) + p, gq = (P0) + q, gc = col0 + c; \
        ra[l] = (gr < m && gp < k) ? A[gr * sam + gp * sak] : (T)0; \
        rb[l] = (gq < k && gc < n) ? B[gq * sbk + gc * sbn] : (T)0; \
    }
#define MATMUL_LARGE_PREFETCH(TN, T, T4) \
__kernel __attribute__((reqd_work_group_size(16, 16, 1))) \
void matmul_large_prefetch_##TN(MATMUL_ARGS(T)) { \
    LARGE_PROLOGUE(T, TKP) \
    T ra[8], rb[8]; \
    PREFETCH_FETCH(T, 0) \
    for (int p0 = 0; p0 < k; p0 += TKP) { \
        for (int l = 0; l < 8; ++l) { TILE_INDEX(TL, TKP, tid + l * 256) As[p][r] = ra[l]; Bs[q][c] = rb[l]; } \
        barrier(CLK_LOCAL_MEM_FENCE); \
        if (p0 + TKP < k) { PREFETCH_FETCH(T, p0 + TKP) } \
        LARGE_MULTIPLY(T, T4, TKP) \
        barrier(CLK_LOCAL_MEM_FENCE); \
    } \
    LARGE_STORE }

#define MATMUL_NAIVE(TN, T) \
__kernel void matmul_naive_##TN(MATMUL_ARGS(T)) { \
    int j = get_global_id(0), i = get_global_id(1), batch = get_global_id(2); \
    if (i >= m || j >= n) return; \
    A += ao + batch * sab; B += bo + batch * sbb; \
    T s = 0; \
    for (int p = 0; p < k; ++p) s += A[i * sam + p * sak] * B[p * sbk + j * sbn]; \
    C[co + batch * m * n + i * n + j] = s; }

// One output column (n = 1) from a row-major A: a 64-item work-group per row reads the
// row's k elements coalesced and sums them in local memory (the one-item-per-output
// kernel would have each item walk its own row, 64 rows apart per memory transaction).
#define MATMUL_ROWDOT(TN, T) \
__kernel __attribute__((reqd_work_group_size(64, 1, 1))) \
void matmul_rowdot_##TN(MATMUL_ARGS(T)) { \
    __local T partial[64]; \
    int lx = get_local_id(0), i = get_global_id(1), batch = get_global_id(2); \
    A += ao + batch * sab + i * sam; B += bo + batch * sbb; \
    T s = 0; \
    for (int p = lx; p < k; p += 64) s += A[p * sak] * B[p * sbk]; \
    partial[lx] = s; \
    barrier(CLK_LOCAL_MEM_FENCE); \
    for (int width = 32; width > 0; width >>= 1) { \
        if (lx < width) partial[lx] += partial[lx + width]; \
        barrier(CLK_LOCAL_MEM_FENCE); \
    } \
    if (lx == 0) C[co + batch * m + i] = partial[0]; }

MATMUL_TILED(matmul_float32, float, 64, 4)
MATMUL_TILED(matmul_small_float32, float, 32, 2)
MATMUL_LARGE(float32, float, float4)
MATMUL_LARGE_PREFETCH(float32, float, float4)
MATMUL_NAIVE(float32, float)
MATMUL_ROWDOT(float32, float)
#ifdef ADJOINT_FP64
MATMUL_TILED(matmul_float64, double, 64, 4)
MATMUL_TILED(matmul_small_float64, double, 32, 2)
MATMUL_LARGE(float64, double, double4)
MATMUL_LARGE_PREFETCH(float64, double, double4)
MATMUL_NAIVE(float64, double)
MATMUL_ROWDOT(float64, double)
#endif
