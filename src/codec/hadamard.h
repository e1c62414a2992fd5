/* kvcert: the fast Walsh-Hadamard transform (SPEC.md 7.2 step 2 and 7.4).
 *
 * H_n is the Sylvester Hadamard matrix of order n = 2^k divided by sqrt(n):
 * symmetric and, mathematically, its own inverse. kvcert computes H v in
 * binary32 in a FIXED order, so every backend produces the same bits:
 *
 *   butterflies (unnormalized): for h = 1, 2, 4, ..., n/2 (one stage each);
 *     within a stage, for i = 0, 2h, 4h, ... and j = i .. i+h-1 ascending:
 *       a = v[j], b = v[j+h];  v[j] = a + b;  v[j+h] = a - b   (binary32, RNE)
 *   normalization: every v[i] is multiplied ONCE, at the end, by the binary32
 *     constant c_n = kvc_hadamard_scale(n).
 *
 * Within a stage the pairs are independent, so the visiting order inside a
 * stage cannot change a result; the stage order (h ascending) and the
 * single final multiply are what fix the rounding. A GPU kernel may run the
 * butterflies of one stage in parallel and stay bit-identical.
 *
 * c_n: for k even, 2^(-k/2) exactly. For k odd, 2^(-k/2) = sqrt(2) * 2^(-(k+1)/2)
 * is not a binary32 number; c_n = fp32(sqrt 2) * 2^(-(k+1)/2), with
 * fp32(sqrt 2) = 0x3FB504F3 = 1.41421353816986083984375 (the correctly rounded
 * sqrt(2); a test checks it against sqrtf(2) and a binary64 oracle). Scaling
 * by a power of two is exact, so c_n is the correctly rounded 2^(-k/2).
 * For n = 512: c = 0x3D3504F3 = 0.0441941730678081512451171875
 * (exact 1/sqrt(512) = 0.04419417382415922...). This is also the value of
 * the published code's normalization 1.0f / fp32(sqrt(512)) (SPEC 6's
 * inv(c) convention); a test checks both identities for n = 1..4096.
 *
 * No libm: the constant is built from its bit pattern.
 *
 * Floating point: H(H(v)) != v in general (each application rounds: about
 * log2(n) + 1 roundings per output element); the codec never relies on
 * exact self-inversion, it applies H once on encode and once on decode.
 */
#ifndef KVC_CODEC_HADAMARD_H
#define KVC_CODEC_HADAMARD_H

#include "core/hd.h"

#define KVC_HADAMARD_MAX_DIM 4096
/* fp32(sqrt(2)): the correctly rounded binary32 square root of 2. */
#define KVC_F32_SQRT2_BITS 0x3FB504F3u

/* log2(n) for a power of two 1 <= n <= 4096; -1 otherwise. */
KVC_HD int kvc_hadamard_log2(int n)
{
    if (n < 1 || n > KVC_HADAMARD_MAX_DIM || (n & (n - 1)) != 0)
        return -1;
    int k = 0;
    while ((1 << k) < n)
        k++;
    return k;
}

/* c_n = correctly rounded binary32 1/sqrt(n) for n = 2^k (see above);
 * 0 when n is not a power of two in range. */
KVC_HD float kvc_hadamard_scale(int n)
{
    int k = kvc_hadamard_log2(n);
    if (k < 0)
        return 0.0f;
    if ((k & 1) == 0) /* 2^(-k/2): biased exponent 127 - k/2 */
        return kvc_f32_from_bits((uint32_t)(127 - k / 2) << 23);
    /* fp32(sqrt 2) * 2^(-(k+1)/2): adjust the exponent field (exact) */
    uint32_t e = (KVC_F32_SQRT2_BITS >> 23) - (uint32_t)((k + 1) / 2);
    return kvc_f32_from_bits((e << 23) | (KVC_F32_SQRT2_BITS & 0x7FFFFFu));
}

/* The unnormalized butterflies in the documented order, in place.
 * Stages with h >= 4 are written four pairs at a time (the same additions
 * and subtractions, in the same order within the stage, which cannot change
 * a result): straight-line groups that a compiler turns into SIMD at -O2. */
KVC_HD void kvc_fwht_butterflies(float *v, int n)
{
    for (int h = 1; h < n; h <<= 1) {
        for (int i = 0; i < n; i += 2 * h) {
            if (h >= 4) {
                for (int j = i; j < i + h; j += 4) {
                    float a0 = v[j], a1 = v[j + 1], a2 = v[j + 2], a3 = v[j + 3];
                    float b0 = v[j + h], b1 = v[j + h + 1], b2 = v[j + h + 2], b3 = v[j + h + 3];
                    v[j] = a0 + b0;
                    v[j + 1] = a1 + b1;
                    v[j + 2] = a2 + b2;
                    v[j + 3] = a3 + b3;
                    v[j + h] = a0 - b0;
                    v[j + h + 1] = a1 - b1;
                    v[j + h + 2] = a2 - b2;
                    v[j + h + 3] = a3 - b3;
                }
            } else {
                for (int j = i; j < i + h; j++) {
                    float a = v[j];
                    float b = v[j + h];
                    v[j] = a + b;
                    v[j + h] = a - b;
                }
            }
        }
    }
}

/* v <- H_n v in place: butterflies, then one multiply by c (pass
 * kvc_hadamard_scale(n); callers cache it). n a power of two <= 4096. */
KVC_HD void kvc_hadamard_f32(float *v, int n, float c)
{
    kvc_fwht_butterflies(v, n);
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        float r0 = v[i] * c, r1 = v[i + 1] * c, r2 = v[i + 2] * c, r3 = v[i + 3] * c;
        v[i] = r0;
        v[i + 1] = r1;
        v[i + 2] = r2;
        v[i + 3] = r3;
    }
    for (; i < n; i++)
        v[i] = v[i] * c;
}

#endif /* KVC_CODEC_HADAMARD_H */
