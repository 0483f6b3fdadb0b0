// Counter-based random numbers: word w(n) = philox((n/4 lo, n/4 hi, offset lo, offset hi),
// (seed lo, seed hi))[n % 4]. One work-item per Philox block of 4 words (4 elements).

#define TWO_M24F 5.9604644775390625e-8f

inline void adj_block(int q, uint o0, uint o1, uint k0, uint k1, uint* w) {
    uint4 r = adj_philox((uint4)((uint)q, 0u, o0, o1), (uint2)(k0, k1));
    w[0] = r.x; w[1] = r.y; w[2] = r.z; w[3] = r.w;
}

__kernel void random_bits_int32(__global int* out, int oo, int n, uint k0, uint k1, uint o0, uint o1) {
    int q = get_global_id(0); if (q * 4 >= n) return;
    uint w[4]; adj_block(q, o0, o1, k0, k1, w);
    for (int l = 0; l < 4 && q * 4 + l < n; ++l) out[oo + q * 4 + l] = (int)w[l];
}

__kernel void random_uniform_float32(__global float* out, int oo, int n, uint k0, uint k1, uint o0, uint o1) {
    int q = get_global_id(0); if (q * 4 >= n) return;
    uint w[4]; adj_block(q, o0, o1, k0, k1, w);
    for (int l = 0; l < 4 && q * 4 + l < n; ++l) out[oo + q * 4 + l] = (float)(w[l] >> 8) * TWO_M24F;
}

__kernel void random_normal_float32(__global float* out, int oo, int n, uint k0, uint k1, uint o0, uint o1) {
    int q = get_global_id(0); if (q * 4 >= n) return;
    uint w[4]; adj_block(q, o0, o1, k0, k1, w);
    for (int l = 0; l < 4 && q * 4 + l < n; ++l) {
        int p = l & ~1;
        float u1 = ((float)(w[p] >> 8) + 1.0f) * TWO_M24F, u2 = (float)(w[p + 1] >> 8) * TWO_M24F;
        float r = sqrt(-2.0f * log(u1)), theta = 2.0f * M_PI_F * u2;
        out[oo + q * 4 + l] = (l & 1) ? r * sin(theta) : r * cos(theta);
    }
}

#ifdef ADJOINT_FP64
#define TWO_M24 5.9604644775390625e-8

__kernel void random_uniform_float64(__global double* out, int oo, int n, uint k0, uint k1, uint o0, uint o1) {
    int q = get_global_id(0); if (q * 4 >= n) return;
    uint w[4]; adj_block(q, o0, o1, k0, k1, w);
    for (int l = 0; l < 4 && q * 4 + l < n; ++l) out[oo + q * 4 + l] = (double)(w[l] >> 8) * TWO_M24;
}

__kernel void random_normal_float64(__global double* out, int oo, int n, uint k0, uint k1, uint o0, uint o1) {
    int q = get_global_id(0); if (q * 4 >= n) return;
    uint w[4]; adj_block(q, o0, o1, k0, k1, w);
    for (int l = 0; l < 4 && q * 4 + l < n; ++l) {
        int p = l & ~1;
        double u1 = ((double)(w[p] >> 8) + 1.0) * TWO_M24, u2 = (double)(w[p + 1] >> 8) * TWO_M24;
        double r = sqrt(-2.0 * log(u1)), theta = 2.0 * M_PI * u2;
        out[oo + q * 4 + l] = (l & 1) ? r * sin(theta) : r * cos(theta);
    }
}
#endif
