/* kvcert: the KV FP8 simulations of SPEC 6 and the v4 profile's input
 * activation quantization, per block, shared by the CPU and CUDA backends.
 * The formulas themselves are written once, in codec/fp8block.h; this
 * header applies them to the V4 path's bf16 blocks.
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

#include "codec/fp8block.h"
#include "core/backend.h"
#include "core/formats.h"
#include "core/hd.h"

#define KVC_KVSIM_BLOCK 64
#define KVC_ACT_QUANT_BLOCK 128

/* The SPEC 6.3 scale: t = amax * inv(448) in binary32, rounded UP to a
 * power of two (E8M0, round toward +inf: exponent(t) + (mantissa(t) != 0)
 * read off the bit pattern). For any finite amax this is SPEC's 2^e. */
KVC_HD float kvc_pow2_scale(float amax)
{
    float t = amax * kvc_f32_from_bits(KVC_FP8_INV_448_BITS);
    return kvc_e8m0_to_f32(kvc_f32_to_e8m0(t, KVC_E8M0_RP));
}

/* The v4 profile's activation quantization of one 128-feature block:
 * binary32 data (fp32 of the bf16 hidden state), amax at least 1e-4f, the
 * 6.3 scale, and the E4M3 value times its scale kept in binary32 (the
 * widened FP8 activation, exact) -- 6.3 with dt = binary32 and no final
 * bf16 rounding; the scale byte is codec/fp8block.h's. */
KVC_HD void kvc_act_quant_block(float *x, int n)
{
    float scale = kvc_e8m0_to_f32(kvc_fp8_pow2_scale_byte(x, n, KVC_FP8_DT_F32));
    for (int i = 0; i < n; i++)
        x[i] = kvc_round_e4m3(kvc__fp8_clamp448(x[i] / scale), KVC_E4M3_SATFINITE) * scale;
}

/* One KV block of bf16 bit patterns (n <= 64), in place: SPEC 6.1-6.3 with
 * dt = bf16, through the one definition in codec/fp8block.h. */
KVC_HD void kvc_kvsim_block_bf16(uint16_t *b, int n, kvc_kvsim_kind kind)
{
    float x[KVC_KVSIM_BLOCK];
    if (n > KVC_KVSIM_BLOCK)
        n = KVC_KVSIM_BLOCK;
    for (int i = 0; i < n; i++)
        x[i] = kvc_bf16_to_f32(b[i]);
    if (kind == KVC_KVSIM_UNIFORM127)
        kvc_fp8_sim_uniform127(x, x, n, KVC_FP8_DT_BF16);
    else if (kind == KVC_KVSIM_E4M3)
        kvc_fp8_sim_e4m3(x, x, n, KVC_FP8_DT_BF16);
    else
        kvc_fp8_sim_e4m3_pow2(x, x, n, KVC_FP8_DT_BF16);
    for (int i = 0; i < n; i++)
        b[i] = kvc_f32_to_bf16(x[i]);
}

#endif /* KVC_V4_KVSIM_H */
