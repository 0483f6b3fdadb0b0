// Adjoint's float32 GEMM for x86-64 CPUs with AVX-512 (see docs/PERFORMANCE.md, "CPU GEMM").
//
// OpenBLAS picks its kernel once, when the library loads, from OPENBLAS_CORETYPE or
// the CPU; a machine that pins an AVX2 core type runs every float32 GEMM at half the
// width the CPU has. This file is the usual BLIS-style blocked GEMM: B is packed into
// KC x NR micro-panels (one kept in L1 across the rows), A into MR x KC micro-panels
// (the MC x KC block kept in L2), and an MR x NR register-tile micro-kernel runs FMAs
// with A broadcast and B loaded as whole ZMM vectors.
#include "CGEMM.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#ifndef ADJOINT_SGEMM_MR
#define ADJOINT_SGEMM_MR 8
#endif
#ifndef ADJOINT_SGEMM_NV
#define ADJOINT_SGEMM_NV 3
#endif
#ifndef ADJOINT_SGEMM_KC
#define ADJOINT_SGEMM_KC 256
#endif

enum {
    MR = ADJOINT_SGEMM_MR,          // rows of the register tile
    NV = ADJOINT_SGEMM_NV,          // ZMM vectors per tile row
    NR = 16 * NV,                   // columns of the register tile
    KC = ADJOINT_SGEMM_KC,          // depth of one packed block
    MC = (128 + MR - 1) / MR * MR,  // rows of the packed A block (L2)
    NC = NR * 64,                   // columns of the packed B block (L3)
};

// MARK: - CPU detection

static bool sgemm_supported;
static pthread_once_t detect_once = PTHREAD_ONCE_INIT;

static void detect(void) {
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & (1u << 27))) return;  // OSXSAVE
    unsigned low, high;
    __asm__ volatile("xgetbv" : "=a"(low), "=d"(high) : "c"(0));
    // The OS must save XMM, YMM, the opmask registers and both halves of the ZMM file.
    if ((low & 0xE6u) != 0xE6u) return;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return;
    sgemm_supported = (ebx & (1u << 16)) != 0;  // AVX512F
}

bool adjoint_sgemm_available(void) {
    pthread_once(&detect_once, detect);
    return sgemm_supported;
}

// MARK: - Per-thread packing scratch

typedef struct {
    float *a;
    float *b;
    float *tile;
} Scratch;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void free_scratch(void *pointer) {
    Scratch *scratch = pointer;
    free(scratch->a);
    free(scratch->b);
    free(scratch->tile);
    free(scratch);
}

static void make_scratch_key(void) { pthread_key_create(&scratch_key, free_scratch); }

static Scratch *thread_scratch(void) {
    pthread_once(&scratch_once, make_scratch_key);
    Scratch *scratch = pthread_getspecific(scratch_key);
    if (scratch) return scratch;
    scratch = calloc(1, sizeof *scratch);
    if (!scratch) return NULL;
    scratch->a = aligned_alloc(64, sizeof(float) * MC * KC);
    scratch->b = aligned_alloc(64, sizeof(float) * KC * NC);
    scratch->tile = aligned_alloc(64, sizeof(float) * MR * NR);
    if (!scratch->a || !scratch->b || !scratch->tile || pthread_setspecific(scratch_key, scratch) != 0) {
        free_scratch(scratch);
        return NULL;
    }
    return scratch;
}

static inline long min_long(long x, long y) { return x < y ? x : y; }

// MARK: - Packing

/// Packs rows [0, mc) x columns [0, kc) of A(i, p) = a[i*rs + p*cs] as MR-row
/// micro-panels, each laid out [p][r]; rows past mc are zero.
static void pack_a(const float *a, long rs, long cs, long mc, long kc, float *restrict out) {
    for (long ir = 0; ir < mc; ir += MR, out += MR * kc) {
        long rows = min_long(MR, mc - ir);
        const float *src = a + ir * rs;
        if (rows == MR && rs == 1) {
            for (long p = 0; p < kc; ++p) memcpy(out + p * MR, src + p * cs, sizeof(float) * MR);
        } else if (cs == 1) {
            for (long r = 0; r < MR; ++r) {
                const float *row = src + r * rs;
                if (r < rows) {
                    for (long p = 0; p < kc; ++p) out[p * MR + r] = row[p];
                } else {
                    for (long p = 0; p < kc; ++p) out[p * MR + r] = 0;
                }
            }
        } else {
            for (long p = 0; p < kc; ++p)
                for (long r = 0; r < MR; ++r) out[p * MR + r] = r < rows ? src[r * rs + p * cs] : 0;
        }
    }
}

/// Transposes a 16 x 16 block in registers: on return `row[q]` holds element q of every
/// input row, in row order.
__attribute__((target("avx512f")))
static inline void transpose16(__m512 row[16]) {
    __m512 pair[16], quad[16];
#pragma clang loop unroll(full)
    for (int i = 0; i < 8; ++i) {
        pair[2 * i] = _mm512_unpacklo_ps(row[2 * i], row[2 * i + 1]);
        pair[2 * i + 1] = _mm512_unpackhi_ps(row[2 * i], row[2 * i + 1]);
    }
    // quad[4g + j]: element j + 4L of rows 4g..4g+3, in 128-bit lane L.
#pragma clang loop unroll(full)
    for (int g = 0; g < 4; ++g) {
        quad[4 * g + 0] = _mm512_shuffle_ps(pair[4 * g], pair[4 * g + 2], 0x44);
        quad[4 * g + 1] = _mm512_shuffle_ps(pair[4 * g], pair[4 * g + 2], 0xEE);
        quad[4 * g + 2] = _mm512_shuffle_ps(pair[4 * g + 1], pair[4 * g + 3], 0x44);
        quad[4 * g + 3] = _mm512_shuffle_ps(pair[4 * g + 1], pair[4 * g + 3], 0xEE);
    }
#pragma clang loop unroll(full)
    for (int j = 0; j < 4; ++j) {
        __m512 even01 = _mm512_shuffle_f32x4(quad[j], quad[4 + j], 0x88);
        __m512 odd01 = _mm512_shuffle_f32x4(quad[j], quad[4 + j], 0xDD);
        __m512 even23 = _mm512_shuffle_f32x4(quad[8 + j], quad[12 + j], 0x88);
        __m512 odd23 = _mm512_shuffle_f32x4(quad[8 + j], quad[12 + j], 0xDD);
        row[j] = _mm512_shuffle_f32x4(even01, even23, 0x88);
        row[j + 8] = _mm512_shuffle_f32x4(even01, even23, 0xDD);
        row[j + 4] = _mm512_shuffle_f32x4(odd01, odd23, 0x88);
        row[j + 12] = _mm512_shuffle_f32x4(odd01, odd23, 0xDD);
    }
}

/// Packs a full micro-panel of a transposed B (column c at `src + c*cs`, depths
/// contiguous) by 16 x 16 register transposes.
__attribute__((target("avx512f")))
static void transpose_panel(const float *src, long cs, long kc, float *restrict out) {
    for (long p0 = 0; p0 < kc; p0 += 16) {
        long depth = min_long(16, kc - p0);
        __mmask16 mask = (__mmask16)((1u << depth) - 1u);
#pragma clang loop unroll(full)
        for (int v = 0; v < NV; ++v) {
            __m512 block[16];
#pragma clang loop unroll(full)
            for (int i = 0; i < 16; ++i) block[i] = _mm512_maskz_loadu_ps(mask, src + (16 * v + i) * cs + p0);
            transpose16(block);
            for (long q = 0; q < depth; ++q) _mm512_store_ps(out + (p0 + q) * NR + 16 * v, block[q]);
        }
    }
}

/// Packs rows [0, kc) x columns [0, nc) of B(p, j) = b[p*rs + j*cs] as NR-column
/// micro-panels, each laid out [p][c]; columns past nc are zero.
static void pack_b(const float *b, long rs, long cs, long kc, long nc, float *restrict out) {
    for (long jr = 0; jr < nc; jr += NR, out += NR * kc) {
        long cols = min_long(NR, nc - jr);
        const float *src = b + jr * cs;
        if (cs == 1) {
            for (long p = 0; p < kc; ++p) {
                memcpy(out + p * NR, src + p * rs, sizeof(float) * cols);
                if (cols < NR) memset(out + p * NR + cols, 0, sizeof(float) * (NR - cols));
            }
        } else if (rs == 1 && cols == NR) {
            transpose_panel(src, cs, kc, out);
        } else {
            // Column by column in runs of 16 depths: each column's run is one cache line
            // and the 16 x NR patch being written stays in L1.
            for (long p0 = 0; p0 < kc; p0 += 16) {
                long depth = min_long(16, kc - p0);
                float *patch = out + p0 * NR;
                for (long c = 0; c < NR; ++c) {
                    const float *column = src + c * cs + p0 * rs;
                    if (c < cols) {
                        for (long p = 0; p < depth; ++p) patch[p * NR + c] = column[p * rs];
                    } else {
                        for (long p = 0; p < depth; ++p) patch[p * NR + c] = 0;
                    }
                }
            }
        }
    }
}

// MARK: - Micro-kernel

/// C[MR x NR] (=|+=) A-panel x B-panel over kc steps; the accumulators stay in ZMM
/// registers (MR * NV of them).
__attribute__((target("avx512f")))
static void micro_kernel(long kc, const float *restrict a, const float *restrict b,
                         float *restrict c, long ldc, bool accumulate) {
    __m512 sum[MR][NV];
#pragma clang loop unroll(full)
    for (int r = 0; r < MR; ++r)
#pragma clang loop unroll(full)
        for (int v = 0; v < NV; ++v) sum[r][v] = _mm512_setzero_ps();

    for (long p = 0; p < kc; ++p) {
        __m512 column[NV];
#pragma clang loop unroll(full)
        for (int v = 0; v < NV; ++v) column[v] = _mm512_load_ps(b + 16 * v);
#pragma clang loop unroll(full)
        for (int r = 0; r < MR; ++r) {
            __m512 broadcast = _mm512_set1_ps(a[r]);
#pragma clang loop unroll(full)
            for (int v = 0; v < NV; ++v) sum[r][v] = _mm512_fmadd_ps(broadcast, column[v], sum[r][v]);
        }
        a += MR;
        b += NR;
    }

#pragma clang loop unroll(full)
    for (int r = 0; r < MR; ++r)
#pragma clang loop unroll(full)
        for (int v = 0; v < NV; ++v) {
            float *target = c + r * ldc + 16 * v;
            __m512 value = accumulate ? _mm512_add_ps(_mm512_loadu_ps(target), sum[r][v]) : sum[r][v];
            _mm512_storeu_ps(target, value);
        }
}

// MARK: - Driver

bool adjoint_sgemm(bool transposeA, bool transposeB, long m, long n, long k,
                   const float *a, long lda, const float *b, long ldb, float *c, long ldc) {
    if (m <= 0 || n <= 0) return true;
    if (k <= 0) {
        for (long i = 0; i < m; ++i) memset(c + i * ldc, 0, sizeof(float) * n);
        return true;
    }
    Scratch *scratch = thread_scratch();
    if (!scratch) return false;
    long rsA = transposeA ? 1 : lda, csA = transposeA ? lda : 1;
    long rsB = transposeB ? 1 : ldb, csB = transposeB ? ldb : 1;
    // Depth blocks of equal size, so a k just over KC does not leave a sliver.
    long depthBlocks = (k + KC - 1) / KC;
    long kcStep = (k + depthBlocks - 1) / depthBlocks;

    for (long jc = 0; jc < n; jc += NC) {
        long nc = min_long(NC, n - jc);
        for (long pc = 0; pc < k; pc += kcStep) {
            long kc = min_long(kcStep, k - pc);
            bool accumulate = pc > 0;
            pack_b(b + pc * rsB + jc * csB, rsB, csB, kc, nc, scratch->b);
            for (long ic = 0; ic < m; ic += MC) {
                long mc = min_long(MC, m - ic);
                pack_a(a + ic * rsA + pc * csA, rsA, csA, mc, kc, scratch->a);
                for (long jr = 0; jr < nc; jr += NR) {
                    long cols = min_long(NR, nc - jr);
                    const float *panelB = scratch->b + jr * kc;
                    for (long ir = 0; ir < mc; ir += MR) {
                        long rows = min_long(MR, mc - ir);
                        const float *panelA = scratch->a + ir * kc;
                        float *target = c + (ic + ir) * ldc + jc + jr;
                        if (rows == MR && cols == NR) {
                            micro_kernel(kc, panelA, panelB, target, ldc, accumulate);
                            continue;
                        }
                        micro_kernel(kc, panelA, panelB, scratch->tile, NR, false);
                        for (long r = 0; r < rows; ++r) {
                            const float *tileRow = scratch->tile + r * NR;
                            float *row = target + r * ldc;
                            if (accumulate) {
                                for (long j = 0; j < cols; ++j) row[j] += tileRow[j];
                            } else {
                                memcpy(row, tileRow, sizeof(float) * cols);
                            }
                        }
                    }
                }
            }
        }
    }
    return true;
}

#else

bool adjoint_sgemm_available(void) { return false; }

bool adjoint_sgemm(bool transposeA, bool transposeB, long m, long n, long k,
                   const float *a, long lda, const float *b, long ldb, float *c, long ldc) {
    (void)transposeA; (void)transposeB; (void)m; (void)n; (void)k;
    (void)a; (void)lda; (void)b; (void)ldb; (void)c; (void)ldc;
    return false;
}

#endif
