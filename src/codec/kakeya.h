/* kvcert: the KakeyaLattice codecs, D4 (blocks of 4) and E8 (blocks of 8),
 * with a real bitstream (SPEC.md 7.2).
 *
 * ROUNDTRIP of one vector x in fp32^D (D a power of two, 4 or 8 .. 4096):
 *  1. n = ||x||_2: x_i^2 formed exactly in binary64 and summed in binary64
 *     in the fixed order of kvc_kakeya_norm (32 strided lanes, lane l takes
 *     i = l, l+32, ... ascending; then lanes combined by the tree
 *     p[l] += p[l+16] (l < 16), p[l] += p[l+8] (l < 8), ... 4, 2, 1);
 *     sqrt in binary64, rounded once to binary32; then n = max(n, 2^-23)
 *     (a NaN norm stays NaN). n^ = fp32(fp16(n)) (core/formats.h).
 *     (The published code took torch's fp32 norm, whose reduction order is
 *     not recoverable; in binary64 n is the correctly rounded norm except in
 *     rare double-rounding cases, so the order chosen here barely matters.)
 *     u_i = x_i / n (binary32 true division by the UNROUNDED norm).
 *  2. y = H u (hadamard.h: fixed butterflies, one multiply by c_D).
 *  3. m = max_i |y_i| (NaN ignored), at least 2^-23; m^ = fp32(fp16(m));
 *     s = m^ * fp32(1/Q) with fp32(1/Q) = 1.0f / (float)Q (correctly
 *     rounded; equal to SPEC 6's inv(Q)); yt_i = y_i / s (true division).
 *     Sanitizing, reached only from non-finite inputs: a NaN yt_i is
 *     searched as 0 and yt_i is clamped to [-2^20, 2^20] (for every finite
 *     input |yt_i| <= 1.25 Q (1 + 2^-20) < 2^20, so this changes nothing there).
 *  4. Per block: closest point (lattice.h).
 *  5. Clamp each coordinate to [-Q, Q]. The result z is held as z2 = 2z
 *     (int32); a zero coordinate is +0 on decode (the lattice point has no
 *     signed zero; the published code could carry a -0 here).
 *  6. x^ = n^ * H(z * s): w_i = (z_i * s) in binary32, then H (same fixed
 *     order), then x^_i = n^ * v_i in binary32.
 *
 * BITSTREAM (kvcert's own; the published work only simulated it): per vector
 * the 16 bits of fp16 n^, the 16 bits of fp16 m^, then one fixed-width
 * index of block_bits bits per block (block 0 = dims 0..b-1 first), packed
 * LSB-first (bitpack.h); vector i starts at bit i * vector_bits, no padding
 * between vectors, zero bits after the last one up to a byte boundary.
 * decode(encode(x)) equals the roundtrip bit for bit for every input.
 *
 * THE OUTPUT SET. Step 5 can leave the lattice, so a block's output is one
 * of (per coordinate: v integer in [-Q,Q] or half-integer in (-Q,Q)):
 *   integer family I: z in {-Q..Q}^b with sum(z) even, or with some |z_i| = Q
 *     (an odd sum needs a clamped coordinate, and a clamped one sits at +-Q);
 *   half family H (E8 only): each coordinate a half-integer in (-Q, Q) or an
 *     integer +-Q, at least one half-integer, and either some coordinate is
 *     +-Q or sum(z_i - 1/2) is even (the unclamped D8 + 1/2 parity).
 * Every roundtrip output is in I u H (proof in the comment above the set
 * test in tests/check_kakeya.c); the index of a block is its rank in
 * lexicographic order (I first, then H; coordinates left to right; symbols
 * ascending in value), computed from a table of completion counts over the
 * states (coset family, "some +-Q seen", parity so far, "half seen").
 * block_bits = ceil(log2 |I u H|). For D = 512 this is 3296 bits for E8
 * Q = 38 (as accounted); where |I u H| > 2^(accounted block bits), e.g. E8
 * Q = 10 (37 vs 36 bits per block, 2400 vs 2336 bits per vector), the test
 * suite proves that every point of I u H is reached by some input, so the
 * accounted size cannot hold the roundtrip's outputs; kvcert reports the
 * realized size beside the accounted one.
 */
#ifndef KVC_CODEC_KAKEYA_H
#define KVC_CODEC_KAKEYA_H

#include "codec/bitpack.h"
#include "codec/bits.h"
#include "codec/hadamard.h"
#include "codec/lattice.h"
#include "core/error.h"
#include "core/formats.h"
#include "core/hd.h"

#include <math.h> /* sqrt: IEEE correctly rounded, allowed by DESIGN rule 2 */
#include <stddef.h>

/* Roundtrip Q range: 1..KVC_KAKEYA_Q_MAX. */
#define KVC_KAKEYA_Q_MAX KVC_CODEC_ACCOUNT_Q_MAX
/* Bitstream Q range: every completion count fits in 64 bits up to here. */
#define KVC_KAKEYA_BITSTREAM_Q_MAX 126
/* 2^-23, the floor of n and m (PyTorch's finfo(float32).eps). */
#define KVC_KAKEYA_FLOOR_BITS 0x34000000u
/* Sanitizing bound of yt (see step 3). */
#define KVC_KAKEYA_YT_BOUND 1048576.0f

/* Plain data (copyable to a device): what a codec instance needs. */
typedef struct kvc_kakeya_params {
    int kind;               /* kvc_codec_kind */
    int block;              /* 4 (D4) or 8 (E8) */
    int dim;                /* D */
    int q;                  /* Q */
    float inv_q;            /* fp32(1/Q) */
    float hscale;           /* kvc_hadamard_scale(D) */
    int has_stream;         /* 1 when Q <= KVC_KAKEYA_BITSTREAM_Q_MAX */
    int block_bits;         /* bits per block index (0 without a stream) */
    int64_t vector_bits;    /* realized: 32 + (D / block) * block_bits */
    int64_t accounted_bits; /* SPEC 7.2's accounted bits per vector */
    uint64_t count_int;     /* |I| */
    uint64_t count_total;   /* |I u H| */
    /* cnt[f][r][s]: completions of r remaining coordinates from state s
     * that end in family f's set; s = st + 3 h, st 0/1 = no +-Q yet and
     * even/odd parity so far, st 2 = some +-Q seen; h = half seen. */
    uint64_t cnt[2][9][6];
} kvc_kakeya_params;

/* ------------------------------------------------------ per-vector steps */

KVC_HD float kvc_kakeya_floor(void)
{
    return kvc_f32_from_bits(KVC_KAKEYA_FLOOR_BITS);
}

/* n from the finished binary64 sum of squares (shared with the CUDA
 * warp kernel, which forms the same 32 lane sums and tree by shuffles). */
KVC_HD float kvc_kakeya_norm_finish(double sum)
{
    float n = (float)sqrt(sum); /* IEEE sqrt, one rounding to binary32 */
    float fl = kvc_kakeya_floor();
    return (n < fl) ? fl : n;
}

/* n = max(fp32(sqrt(sum x_i^2)), 2^-23), in the documented binary64 order. */
KVC_HD float kvc_kakeya_norm(const float *x, int d)
{
    double lane[32];
    for (int l = 0; l < 32; l++)
        lane[l] = 0.0;
    int i0 = 0;
    for (; i0 + 32 <= d; i0 += 32) { /* element i0 + l goes to lane l */
        for (int l = 0; l < 32; l++) {
            double v = (double)x[i0 + l];
            lane[l] = lane[l] + v * v; /* the square is exact */
        }
    }
    for (int l = 0; i0 + l < d; l++) { /* D < 32 */
        double v = (double)x[i0 + l];
        lane[l] = lane[l] + v * v;
    }
    for (int off = 16; off >= 1; off >>= 1)
        for (int l = 0; l < off; l++)
            lane[l] = lane[l] + lane[l + off];
    return kvc_kakeya_norm_finish(lane[0]);
}

KVC_HD float kvc_kakeya_sanitize(float v)
{
    if (v != v)
        return 0.0f;
    if (v > KVC_KAKEYA_YT_BOUND)
        return KVC_KAKEYA_YT_BOUND;
    if (v < -KVC_KAKEYA_YT_BOUND)
        return -KVC_KAKEYA_YT_BOUND;
    return v;
}

/* Step 5 for one block of n = 4 or 8 (a constant once inlined):
 * z2_i = 2 * clamp(z_i, -Q, Q). */
KVC__LATTICE_INLINE void kvc__kakeya_clamp2(const float *z, int32_t *z2, int n, float qf)
{
    KVC__UNROLL
    for (int i = 0; i < n; i++) {
        float v = z[i];
        if (v > qf)
            v = qf;
        if (v < -qf)
            v = -qf;
        z2[i] = (int32_t)(v * 2.0f);
    }
}

/* Steps 4-5 for one block: yt (sanitized) -> z2 = 2 * clamp(point).
 * Each block size has its own constant-count path and the search is
 * inlined (lattice.h: KVC__LATTICE_INLINE), so that a GPU keeps the block
 * in registers; the operations are those of lattice.h, in its order. */
KVC__LATTICE_INLINE void kvc_kakeya_block_search(const kvc_kakeya_params *p, const float *yt,
                                                 int32_t *z2)
{
    float z[8];
    float qf = (float)p->q;
    if (p->block == 8) {
        (void)kvc__e8_closest_inl(yt, z);
        kvc__kakeya_clamp2(z, z2, 8, qf);
    } else {
        kvc__dn_closest_fixed(yt, z, 4);
        kvc__kakeya_clamp2(z, z2, 4, qf);
    }
}

/* Steps 1-5 for one vector: the two fp16 scalars and z2[D].
 * work: D floats of scratch. Element-wise loops run four elements at a
 * time (D is a multiple of 4): the same operation on every element, in
 * straight-line groups a compiler maps to SIMD; no result changes. The
 * maximum is taken over four interleaved partial maxima: max is exact and
 * |y| >= +0, so the order cannot matter. */
KVC_HD void kvc_kakeya_quantize(const kvc_kakeya_params *p, const float *x, float *work,
                                uint16_t *nhat_bits, uint16_t *mhat_bits, int32_t *z2)
{
    int d = p->dim;
    float n = kvc_kakeya_norm(x, d);
    *nhat_bits = kvc_f32_to_fp16(n);
    for (int i = 0; i < d; i += 4) {
        float u0 = x[i] / n, u1 = x[i + 1] / n, u2 = x[i + 2] / n, u3 = x[i + 3] / n;
        work[i] = u0;
        work[i + 1] = u1;
        work[i + 2] = u2;
        work[i + 3] = u3;
    }
    kvc_hadamard_f32(work, d, p->hscale);
    float m0 = 0.0f, m1 = 0.0f, m2 = 0.0f, m3 = 0.0f;
    for (int i = 0; i < d; i += 4) {
        float a0 = kvc__absf(work[i]), a1 = kvc__absf(work[i + 1]);
        float a2 = kvc__absf(work[i + 2]), a3 = kvc__absf(work[i + 3]);
        m0 = (a0 > m0) ? a0 : m0; /* NaN never wins */
        m1 = (a1 > m1) ? a1 : m1;
        m2 = (a2 > m2) ? a2 : m2;
        m3 = (a3 > m3) ? a3 : m3;
    }
    m0 = (m1 > m0) ? m1 : m0;
    m2 = (m3 > m2) ? m3 : m2;
    float m = (m2 > m0) ? m2 : m0;
    if (m < kvc_kakeya_floor())
        m = kvc_kakeya_floor();
    *mhat_bits = kvc_f32_to_fp16(m);
    float s = kvc_fp16_to_f32(*mhat_bits) * p->inv_q;
    for (int i = 0; i < d; i += 4) {
        float y0 = work[i] / s, y1 = work[i + 1] / s, y2 = work[i + 2] / s, y3 = work[i + 3] / s;
        work[i] = kvc_kakeya_sanitize(y0);
        work[i + 1] = kvc_kakeya_sanitize(y1);
        work[i + 2] = kvc_kakeya_sanitize(y2);
        work[i + 3] = kvc_kakeya_sanitize(y3);
    }
    for (int b = 0; b < d; b += p->block)
        kvc_kakeya_block_search(p, work + b, z2 + b);
}

/* Step 6 for one vector: out[D] = n^ * H(z * s) (four elements at a time). */
KVC_HD void kvc_kakeya_dequantize(const kvc_kakeya_params *p, uint16_t nhat_bits,
                                  uint16_t mhat_bits, const int32_t *z2, float *out)
{
    int d = p->dim;
    float nhat = kvc_fp16_to_f32(nhat_bits);
    float s = kvc_fp16_to_f32(mhat_bits) * p->inv_q;
    for (int i = 0; i < d; i += 4) {
        float w0 = ((float)z2[i] * 0.5f) * s, w1 = ((float)z2[i + 1] * 0.5f) * s;
        float w2 = ((float)z2[i + 2] * 0.5f) * s, w3 = ((float)z2[i + 3] * 0.5f) * s;
        out[i] = w0;
        out[i + 1] = w1;
        out[i + 2] = w2;
        out[i + 3] = w3;
    }
    kvc_hadamard_f32(out, d, p->hscale);
    for (int i = 0; i < d; i += 4) {
        float r0 = nhat * out[i], r1 = nhat * out[i + 1], r2 = nhat * out[i + 2];
        float r3 = nhat * out[i + 3];
        out[i] = r0;
        out[i + 1] = r1;
        out[i + 2] = r2;
        out[i + 3] = r3;
    }
}

/* The whole roundtrip of one vector (out may alias x). */
KVC_HD void kvc_kakeya_roundtrip_vec(const kvc_kakeya_params *p, const float *x, float *work,
                                     int32_t *z2, float *out)
{
    uint16_t nb, mb;
    kvc_kakeya_quantize(p, x, work, &nb, &mb, z2);
    kvc_kakeya_dequantize(p, nb, mb, z2, out);
}

/* ------------------------------------------------------ block ranking */

enum { KVC__KK_B = 0, KVC__KK_E = 1, KVC__KK_O = 2 };

KVC_HD int kvc__kk_next(int s, int cls, int fam)
{
    int st = s % 3;
    int h = s / 3;
    if (cls == KVC__KK_B) {
        st = 2;
    } else {
        if (cls == KVC__KK_O && st < 2)
            st ^= 1;
        if (fam)
            h = 1;
    }
    return st + 3 * h;
}

/* Symbols: family 0: sigma = z + Q in 0..2Q (0 and 2Q are +-Q);
 * family 1: sigma 0 = -Q, 1..2Q = the half-integers -Q+1/2 .. Q-1/2,
 * 2Q+1 = +Q. Interior symbols alternate E/O classes. */
KVC_HD int kvc__kk_interior(int q, int fam)
{
    return fam ? 2 * q : 2 * q - 1;
}

KVC_HD int kvc__kk_class(int q, int fam, int sigma)
{
    int last = kvc__kk_interior(q, fam) + 1;
    if (sigma == 0 || sigma == last)
        return KVC__KK_B;
    /* family 0: value sigma - Q; family 1: (h - 1/2) = sigma - Q - 1 */
    int v = fam ? sigma - q - 1 : sigma - q;
    return ((v % 2) == 0) ? KVC__KK_E : KVC__KK_O;
}

KVC_HD int kvc__kk_valid(int s, int fam)
{
    int st = s % 3;
    int h = s / 3;
    return (st != 1) && (fam == 0 || h == 1);
}

KVC_HD int kvc__kk_symbol(int q, int fam, int32_t z2)
{
    if (!fam)
        return z2 / 2 + q;
    if (z2 == -2 * q)
        return 0;
    if (z2 == 2 * q)
        return 2 * q + 1;
    return (z2 + 2 * q + 1) / 2;
}

KVC_HD int32_t kvc__kk_value(int q, int fam, int sigma)
{
    if (!fam)
        return (int32_t)(2 * (sigma - q));
    if (sigma == 0)
        return (int32_t)(-2 * q);
    if (sigma == 2 * q + 1)
        return (int32_t)(2 * q);
    return (int32_t)(2 * sigma - 2 * q - 1);
}

/* 1 when z2 (one block, values 2z) is in the output set I u H. */
KVC_HD int kvc_kakeya_block_in_set(const kvc_kakeya_params *p, const int32_t *z2)
{
    int q = p->q;
    int fam = 0;
    for (int i = 0; i < p->block; i++)
        if ((z2[i] & 1) != 0)
            fam = 1;
    if (fam && p->block != 8)
        return 0;
    int s = 0;
    for (int i = 0; i < p->block; i++) {
        int32_t v = z2[i];
        if (v < -2 * q || v > 2 * q)
            return 0;
        if (fam && (v & 1) == 0 && v != -2 * q && v != 2 * q)
            return 0; /* an integer inside the half family must be +-Q */
        s = kvc__kk_next(s, kvc__kk_class(q, fam, kvc__kk_symbol(q, fam, v)), fam);
    }
    return kvc__kk_valid(s, fam);
}

/* Index of a block output (precondition: kvc_kakeya_block_in_set). */
KVC_HD uint64_t kvc_kakeya_rank_block(const kvc_kakeya_params *p, const int32_t *z2)
{
    int q = p->q;
    int k = p->block;
    int fam = 0;
    for (int i = 0; i < k; i++)
        if ((z2[i] & 1) != 0)
            fam = 1;
    int c1 = kvc__kk_class(q, fam, 1); /* class of the first interior symbol */
    int c2 = (c1 == KVC__KK_E) ? KVC__KK_O : KVC__KK_E;
    uint64_t r = fam ? p->count_int : 0;
    int s = 0;
    for (int i = 0; i < k; i++) {
        int rem = k - 1 - i;
        int sigma = kvc__kk_symbol(q, fam, z2[i]);
        const uint64_t *c = p->cnt[fam][rem];
        if (sigma > 0) {
            uint64_t m = (uint64_t)(sigma - 1); /* interior symbols below sigma */
            r += c[kvc__kk_next(s, KVC__KK_B, fam)];
            r += ((m + 1) / 2) * c[kvc__kk_next(s, c1, fam)];
            r += (m / 2) * c[kvc__kk_next(s, c2, fam)];
        }
        s = kvc__kk_next(s, kvc__kk_class(q, fam, sigma), fam);
    }
    return r;
}

/* Inverse of kvc_kakeya_rank_block; returns 0, or -1 when r is no index. */
KVC_HD int kvc_kakeya_unrank_block(const kvc_kakeya_params *p, uint64_t r, int32_t *z2)
{
    int q = p->q;
    int k = p->block;
    if (r >= p->count_total)
        return -1;
    int fam = 0;
    if (r >= p->count_int) {
        fam = 1;
        r -= p->count_int;
    }
    int ni = kvc__kk_interior(q, fam);
    int c1 = kvc__kk_class(q, fam, 1);
    int c2 = (c1 == KVC__KK_E) ? KVC__KK_O : KVC__KK_E;
    int s = 0;
    for (int i = 0; i < k; i++) {
        int rem = k - 1 - i;
        const uint64_t *c = p->cnt[fam][rem];
        uint64_t wb = c[kvc__kk_next(s, KVC__KK_B, fam)];
        uint64_t w1 = c[kvc__kk_next(s, c1, fam)];
        uint64_t w2 = c[kvc__kk_next(s, c2, fam)];
        int sigma;
        if (r < wb) {
            sigma = 0;
        } else {
            r -= wb;
            uint64_t t = (uint64_t)(ni / 2) * (w1 + w2) + ((ni & 1) ? w1 : 0);
            if (r < t) {
                uint64_t w = w1 + w2; /* > 0 because t > 0 */
                uint64_t j = r / w;
                r -= j * w;
                sigma = 1 + 2 * (int)j;
                if (r >= w1) {
                    r -= w1;
                    sigma++;
                }
            } else {
                r -= t;
                if (r >= wb)
                    return -1;
                sigma = ni + 1;
            }
        }
        z2[i] = kvc__kk_value(q, fam, sigma);
        s = kvc__kk_next(s, kvc__kk_class(q, fam, sigma), fam);
    }
    return kvc__kk_valid(s, fam) ? 0 : -1;
}

/* ------------------------------------------------------ one vector's record */

/* 1 when (n^, m^) could come from the encoder: m^ in [2^-23, 65504]
 * (fp16 0x0002..0x7BFF), n^ a NaN or in [2^-23, +inf] (0x0002..0x7C00). */
KVC_HD int kvc_kakeya_scalars_valid(uint16_t nhat_bits, uint16_t mhat_bits)
{
    int n_nan = ((nhat_bits & 0x7C00u) == 0x7C00u) && ((nhat_bits & 0x03FFu) != 0);
    if (!n_nan && (nhat_bits < 0x0002u || nhat_bits > 0x7C00u))
        return 0;
    return mhat_bits >= 0x0002u && mhat_bits <= 0x7BFFu;
}

/* The fields of one vector's record (SPEC 7.2): field 0 is n^ (16 bits
 * at record bit 0), field 1 is m^ (16 bits at bit 16), field 2 + b is the
 * index of block b (block_bits bits at bit 32 + b * block_bits). The one
 * place that says where a field lies: the packers and the GPU's
 * byte-parallel writer (kvc_kakeya_record_byte) all use these. */
KVC_HD uint64_t kvc_kakeya_field_off(const kvc_kakeya_params *p, int f)
{
    return f < 2 ? (uint64_t)(16 * f) : 32 + (uint64_t)(f - 2) * (uint64_t)p->block_bits;
}

KVC_HD int kvc_kakeya_field_bits(const kvc_kakeya_params *p, int f)
{
    return f < 2 ? 16 : p->block_bits;
}

/* The field holding record bit t (0 <= t < vector_bits < 2^31, so the
 * division is a 32-bit one: cheaper on the GPU, same quotient). */
KVC_HD int kvc_kakeya_field_at(const kvc_kakeya_params *p, uint64_t t)
{
    return t < 32 ? (int)(t / 16) : 2 + (int)((uint32_t)(t - 32) / (uint32_t)p->block_bits);
}

/* Writes field f (value v) of the record at bit pos of a zeroed stream. */
KVC_HD void kvc_kakeya_pack_field(const kvc_kakeya_params *p, uint8_t *stream, uint64_t pos,
                                  int f, uint64_t v)
{
    kvc_bits_put(stream, pos + kvc_kakeya_field_off(p, f), v, kvc_kakeya_field_bits(p, f));
}

/* Writes one vector's record at bit pos of a zeroed stream. */
KVC_HD void kvc_kakeya_pack_vector(const kvc_kakeya_params *p, uint8_t *stream, uint64_t pos,
                                   uint16_t nhat_bits, uint16_t mhat_bits, const int32_t *z2)
{
    kvc_kakeya_pack_field(p, stream, pos, 0, nhat_bits);
    kvc_kakeya_pack_field(p, stream, pos, 1, mhat_bits);
    for (int b = 0; b < p->dim / p->block; b++)
        kvc_kakeya_pack_field(p, stream, pos, 2 + b, kvc_kakeya_rank_block(p, z2 + b * p->block));
}

/* The bits that kvc_kakeya_pack_vector, given the block indices
 * ranks[D / block] (kvc_kakeya_rank_block of each block), ORs into stream
 * byte a: every field overlapping bits 8a .. 8a + 7 contributes
 * kvc_bits_put_byte, i.e. exactly what its kvc_bits_put ORs there. Bytes
 * outside the record give 0. A zeroed stream with every byte a of the
 * record ORed with this value equals pack_vector's, and distinct bytes
 * are independent: the GPU's lanes write disjoint bytes with it. */
KVC_HD uint8_t kvc_kakeya_record_byte(const kvc_kakeya_params *p, uint64_t pos,
                                      uint16_t nhat_bits, uint16_t mhat_bits,
                                      const uint64_t *ranks, uint64_t a)
{
    uint64_t lo = 8 * a, hi = 8 * a + 8, end = pos + (uint64_t)p->vector_bits;
    if (lo < pos)
        lo = pos;
    if (hi > end)
        hi = end;
    if (lo >= hi)
        return 0;
    int f0 = kvc_kakeya_field_at(p, lo - pos), f1 = kvc_kakeya_field_at(p, hi - 1 - pos);
    uint8_t acc = 0;
    for (int f = f0; f <= f1; f++) {
        uint64_t v = f == 0 ? nhat_bits : f == 1 ? mhat_bits : ranks[f - 2];
        acc = (uint8_t)(acc | kvc_bits_put_byte(pos + kvc_kakeya_field_off(p, f), v,
                                                kvc_kakeya_field_bits(p, f), a));
    }
    return acc;
}

/* Reads field f of the record at bit pos. */
KVC_HD uint64_t kvc_kakeya_unpack_field(const kvc_kakeya_params *p, const uint8_t *stream,
                                        uint64_t pos, int f)
{
    return kvc_bits_get(stream, pos + kvc_kakeya_field_off(p, f), kvc_kakeya_field_bits(p, f));
}

/* Reads one vector's record; returns 0, or -1 for an invalid record
 * (impossible scalars or an index >= the number of outputs). */
KVC_HD int kvc_kakeya_unpack_vector(const kvc_kakeya_params *p, const uint8_t *stream,
                                    uint64_t pos, uint16_t *nhat_bits, uint16_t *mhat_bits,
                                    int32_t *z2)
{
    *nhat_bits = (uint16_t)kvc_kakeya_unpack_field(p, stream, pos, 0);
    *mhat_bits = (uint16_t)kvc_kakeya_unpack_field(p, stream, pos, 1);
    if (!kvc_kakeya_scalars_valid(*nhat_bits, *mhat_bits))
        return -1;
    for (int b = 0; b < p->dim / p->block; b++) {
        uint64_t r = kvc_kakeya_unpack_field(p, stream, pos, 2 + b);
        if (kvc_kakeya_unrank_block(p, r, z2 + b * p->block) != 0)
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------ host API (kakeya.c) */

#ifdef __cplusplus
extern "C" {
#endif

/* Fills p for kind, D (power of two, block..4096) and Q (1..KVC_KAKEYA_Q_MAX);
 * the bitstream fields only for Q <= KVC_KAKEYA_BITSTREAM_Q_MAX (has_stream).
 * KVC_CODEC_PARAM on an invalid parameter. */
kvc_status kvc_kakeya_params_init(kvc_kakeya_params *p, kvc_codec_kind kind, int d, int q,
                                  kvc_error *err);

/* Realized bits per vector of kvcert's stream; -1 when invalid or when Q
 * exceeds KVC_KAKEYA_BITSTREAM_Q_MAX. */
int64_t kvc_codec_realized_bits(kvc_codec_kind kind, int d, int q);

/* Roundtrip of n vectors x[n][D] -> out[n][D] (out may equal x). */
kvc_status kvc_kakeya_roundtrip(const kvc_kakeya_params *p, const float *x, size_t n,
                                float *out, kvc_error *err);

/* Bytes of the stream of n vectors: ceil(n * vector_bits / 8). */
kvc_status kvc_kakeya_stream_size(const kvc_kakeya_params *p, size_t n, size_t *size,
                                  kvc_error *err);

/* Encodes n vectors into stream[size] (size must equal the stream size). */
kvc_status kvc_kakeya_encode(const kvc_kakeya_params *p, const float *x, size_t n,
                             uint8_t *stream, size_t size, kvc_error *err);

/* Decodes n vectors; KVC_BITSTREAM (offset = the vector's first byte) for
 * a wrong size, an impossible record or nonzero padding bits. */
kvc_status kvc_kakeya_decode(const kvc_kakeya_params *p, const uint8_t *stream, size_t size,
                             size_t n, float *out, kvc_error *err);

#ifdef __cplusplus
}
#endif

#endif /* KVC_CODEC_KAKEYA_H */
