// Shared by every Adjoint program: fp64 switch, strided-view index arithmetic, Philox.
#ifdef ADJOINT_FP64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif

#define ADJ_MAX_RANK 8

// The iteration space of a strided launch: row-major over shape[0..rank).
typedef struct { int rank; int count; int shape[ADJ_MAX_RANK]; } adj_shape;
// Where a view's elements sit: offset + sum(index[d] * strides[d]), in elements.
typedef struct { int offset; int strides[ADJ_MAX_RANK]; } adj_view;

// Splits flat index I over SH (last axis fastest); BODY sees the axis _d and coordinate _c.
#define ADJ_WALK(I, SH, BODY) { int _r = (I); \
    for (int _d = (SH).rank - 1; _d >= 0; --_d) { int _e = (SH).shape[_d]; int _c = _r % _e; _r /= _e; BODY } }

// Philox-4x32-10 (Salmon et al., Random123): 10 rounds, key bumped between rounds.
inline uint4 adj_philox(uint4 c, uint2 k) {
    for (int round = 0; round < 10; ++round) {
        if (round > 0) { k.x += 0x9E3779B9u; k.y += 0xBB67AE85u; }
        uint hi0 = mul_hi(0xD2511F53u, c.x), lo0 = 0xD2511F53u * c.x;
        uint hi1 = mul_hi(0xCD9E8D57u, c.z), lo1 = 0xCD9E8D57u * c.z;
        c = (uint4)(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
    }
    return c;
}
