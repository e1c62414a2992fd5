/* kvcert: the KV FP8 simulations of SPEC 6 and the v4 profile's input
 * activation quantization, per block, shared by the CPU and CUDA backends.
 *
 * All three KV simulations work on one block of 64 bf16 values (dt = bf16,
 * "inside the generator"): every intermediate SPEC 6 marks dt(.) is
 * rounded to bf16 here, every other operation is one binary32 operation.
 * inv(c) = 1.0f / fp32(c) is a binary32 reciprocal (a tensor divided by a
 * scalar constant was computed as a multiply by it); x / scale, a tensor
 * divided by a tensor, is a true division.
 *
 * amax is max |x| over the block, at least dt(1e-4) (for bf16:
 * bf16(1e-4f)). NaN inputs are not given a meaning: the block's results
 * are then unspecified but deterministic (the same scalar code runs on both
 * backends).
 */
#ifndef KVC_V4_KVSIM_H
#define KVC_V4_KVSIM_H

#include "core/backend.h"
#include "core/formats.h"
#include "core/hd.h"

#define KVC_KVSIM_BLOCK 64
#define KVC_ACT_QUANT_BLOCK 128

/* |x| by clearing the sign bit. */
KVC_HD float kvc__kvsim_absf(float x)
{
    return kvc_f32_from_bits(kvc_f32_bits(x) & 0x7FFFFFFFu);
}

/* Round to the nearest integer, ties to even, keeping the sign (so
 * -0.3 -> -0, as torch.round does). Exact: for |v| < 2^23 adding and
 * subtracting 2^23 leaves the rounded magnitude; larger values are
 * integers already. */
KVC_HD float kvc_rint_even(float v)
{
    uint32_t u = kvc_f32_bits(v);
    float a = kvc_f32_from_bits(u & 0x7FFFFFFFu);
    if (a < 8388608.0f) /* never folded: no -ffast-math, -ffp-contract=off */
        a = (a + 8388608.0f) - 8388608.0f;
    return kvc_f32_from_bits(kvc_f32_bits(a) | (u & 0x80000000u));
}

KVC_HD float kvc__clamp448(float v)
{
    if (v > 448.0f)
        return 448.0f;
    if (v < -448.0f)
        return -448.0f;
    return v;
}

/* max |x[i]|, i < n (order irrelevant: max is exact), at least lo. */
KVC_HD float kvc__block_amax(const float *x, int n, float lo)
{
    float m = lo;
    for (int i = 0; i < n; i++) {
        float a = kvc__kvsim_absf(x[i]);
        if (a > m)
            m = a;
    }
    return m;
}

/* The SPEC 6.3 scale: t = amax * inv(448) in binary32; 2^e with
 * e = exponent(t) + (mantissa(t) != 0), read off the bit pattern (the
 * smallest power of two >= t). amax is at least 1e-4, so t is a normal
 * number and 2^e one too. */
KVC_HD float kvc_pow2_scale(float amax)
{
    const float inv448 = 1.0f / 448.0f;
    uint32_t t = kvc_f32_bits(amax * inv448);
    int32_t e = (int32_t)((t >> 23) & 0xFFu) - 127;
    if ((t & 0x7FFFFFu) != 0)
        e++;
    return kvc_f32_from_bits((uint32_t)(e + 127) << 23);
}

/* 6.1 uniform-127 in bf16 (profile stage075), in place on n values. */
KVC_HD void kvc_kvsim_uniform127(float *x, int n)
{
    const float inv448 = 1.0f / 448.0f;
    const float c = (float)(448.0 / 127.0); /* fp32(448/127) */
    const float inv_c = 1.0f / c;           /* inv(448/127) */
    float amax = kvc__block_amax(x, n, kvc_round_bf16(1e-4f));
    float scale = kvc_round_bf16(amax * inv448);
    for (int i = 0; i < n; i++) {
        float xs = kvc__clamp448(kvc_round_bf16(x[i] / scale));
        float level = kvc_rint_even(kvc_round_bf16(xs * inv_c)); /* an integer, |.| <= 127 */
        float q = kvc_round_bf16(level * c);
        x[i] = kvc_round_bf16(q * scale);
    }
}

/* 6.2 E4M3 with the continuous scale amax/448 (profile intended). */
KVC_HD void kvc_kvsim_e4m3(float *x, int n)
{
    const float inv448 = 1.0f / 448.0f;
    float amax = kvc__block_amax(x, n, kvc_round_bf16(1e-4f));
    float scale = kvc_round_bf16(amax * inv448);
    for (int i = 0; i < n; i++) {
        float xs = kvc__clamp448(kvc_round_bf16(x[i] / scale));
        x[i] = kvc_round_bf16(kvc_round_e4m3(xs, KVC_E4M3_SATFINITE) * scale);
    }
}

/* E4M3 with a power-of-two scale on n values: out = e4m3(clamp(x /
 * 2^e)) * 2^e (division and product by 2^e exact), rounded to bf16 when
 * out_bf16. amax_floor: bf16(1e-4) for the KV blocks, 1e-4f for
 * activations. */
KVC_HD void kvc__e4m3_pow2(float *x, int n, float amax_floor, int out_bf16)
{
    float scale = kvc_pow2_scale(kvc__block_amax(x, n, amax_floor));
    for (int i = 0; i < n; i++) {
        float v = kvc_round_e4m3(kvc__clamp448(x[i] / scale), KVC_E4M3_SATFINITE) * scale;
        x[i] = out_bf16 ? kvc_round_bf16(v) : v;
    }
}

/* 6.3 E4M3 with a power-of-two scale, bf16 out (profile v4). */
KVC_HD void kvc_kvsim_e4m3_pow2(float *x, int n)
{
    kvc__e4m3_pow2(x, n, kvc_round_bf16(1e-4f), 1);
}

/* The v4 profile's activation quantization of one 128-feature block:
 * binary32 data (fp32 of the bf16 hidden state), amax at least 1e-4f, the
 * 6.3 scale, and the E4M3 value times its scale kept in binary32 (the
 * widened FP8 activation, exact). */
KVC_HD void kvc_act_quant_block(float *x, int n)
{
    kvc__e4m3_pow2(x, n, 1e-4f, 0);
}

/* One KV block of bf16 bit patterns (n <= 64), in place. */
KVC_HD void kvc_kvsim_block_bf16(uint16_t *b, int n, kvc_kvsim_kind kind)
{
    float x[KVC_KVSIM_BLOCK];
    if (n > KVC_KVSIM_BLOCK)
        n = KVC_KVSIM_BLOCK;
    for (int i = 0; i < n; i++)
        x[i] = kvc_bf16_to_f32(b[i]);
    if (kind == KVC_KVSIM_UNIFORM127)
        kvc_kvsim_uniform127(x, n);
    else if (kind == KVC_KVSIM_E4M3)
        kvc_kvsim_e4m3(x, n);
    else
        kvc_kvsim_e4m3_pow2(x, n);
    for (int i = 0; i < n; i++)
        b[i] = kvc_f32_to_bf16(x[i]);
}

#endif /* KVC_V4_KVSIM_H */
