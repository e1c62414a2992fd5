/* kvcert: FP8 simulation of KV blocks (SPEC.md 6) and the FP8 baselines
 * (SPEC.md 7.1): ONE definition, shared by the V4 write path (KV
 * simulation on the nope dims), the baselines, and the CUDA kernels.
 *
 * Notation (SPEC 6): dt(.) rounds to the data's dtype -- bf16 inside the
 * published generator, binary32 for the baseline -- chosen by kvc_fp8_dt.
 * inv(c) = 1.0f / fp32(c) in binary32: a tensor divided by a scalar
 * constant was computed as a multiply by this reciprocal; a tensor
 * divided by a tensor (x / scale) is a true binary32 division.
 * Every product and quotient below is one binary32 operation (the C
 * compiler runs with -ffp-contract=off, nvcc with --fmad=false).
 *
 * Common: amax = max |x_i| over the block (NaN entries ignored), then
 * amax = max(amax, dt(1e-4)) with 1e-4 the binary32 0x38D1B717.
 *
 * 6.1 uniform-127 (profile stage075), dt = bf16 in the published run:
 *     scale = dt(amax * inv(448));  xs = clamp(dt(x / scale), -448, 448);
 *     q = dt(rne(dt(xs * inv(448/127))) * fp32(448/127));  out = dt(q * scale).
 * 6.2 E4M3, continuous scale (profile intended; the fp8_per64 baseline):
 *     scale = dt(amax * inv(448));  xs = clamp(dt(x / scale), -448, 448);
 *     out = dt(e4m3(xs) * scale).
 * 6.3 E4M3, power-of-two scale (profile v4; fp8_ds_mla):
 *     t = amax * inv(448) (binary32); the scale byte is E8M0 rounded UP
 *     (kvc_f32_to_e8m0(t, KVC_E8M0_RP) = 127 + exponent(t) + (mantissa(t) != 0),
 *     SPEC's ceil-log2 read off the bits); scale = 2^(byte - 127);
 *     out = bf16(e4m3(clamp(x / scale, -448, 448)) * scale).
 *     Going through the byte makes the simulation and the byte format the
 *     same computation. It differs from SPEC's "scale = 2^e" only where
 *     t >= 2^127, i.e. amax = +inf (E8M0 saturates at 2^127; SPEC's 2^128
 *     would be inf); no finite block reaches it.
 *
 * Constants (binary32 bit patterns, checked by tests/check_fp8block.c):
 *   inv(448)       = 1.0f / 448.0f              = 0x3B124925
 *   fp32(448/127)  = (float)(448.0 / 127.0)     = 0x4061C387 (3.52755904...)
 *   inv(448/127)   = 1.0f / fp32(448/127)       = 0x3E912492
 *   1e-4           = (float)1e-4                = 0x38D1B717;  bf16: 0x38D2
 * e4m3 encoding: round to nearest even, SATFINITE (inputs are clamped to
 * +-448 first, so the NaN overflow mode would give the same bytes).
 */
#ifndef KVC_CODEC_FP8BLOCK_H
#define KVC_CODEC_FP8BLOCK_H

#include "codec/lattice.h" /* kvc_rne_f32, kvc__absf */
#include "core/error.h"
#include "core/formats.h"
#include "core/hd.h"

#include <stddef.h>

#define KVC_FP8_INV_448_BITS 0x3B124925u
#define KVC_FP8_448_127_BITS 0x4061C387u
#define KVC_FP8_INV_448_127_BITS 0x3E912492u
#define KVC_FP8_1EM4_BITS 0x38D1B717u

/* The dtype that dt(.) rounds to. */
typedef enum kvc_fp8_dt {
    KVC_FP8_DT_BF16 = 0, /* dt = bf16 (the generator's KV tensors) */
    KVC_FP8_DT_F32 = 1   /* dt = binary32 (the fp8_per64 baseline) */
} kvc_fp8_dt;

KVC_HD float kvc_fp8_dt_round(float v, kvc_fp8_dt dt)
{
    return (dt == KVC_FP8_DT_BF16) ? kvc_round_bf16(v) : v;
}

KVC_HD float kvc__fp8_clamp448(float v)
{
    if (v > 448.0f)
        return 448.0f;
    if (v < -448.0f)
        return -448.0f;
    return v; /* NaN passes through */
}

/* amax of a block, at least dt(1e-4). */
KVC_HD float kvc_fp8_amax(const float *x, int n, kvc_fp8_dt dt)
{
    float m = 0.0f;
    for (int i = 0; i < n; i++) {
        float a = kvc__absf(x[i]);
        if (a > m)
            m = a;
    }
    float fl = kvc_fp8_dt_round(kvc_f32_from_bits(KVC_FP8_1EM4_BITS), dt);
    return (m < fl) ? fl : m;
}

/* 6.1 uniform-127; out may equal x. */
KVC_HD void kvc_fp8_sim_uniform127(const float *x, float *out, int n, kvc_fp8_dt dt)
{
    float inv448 = kvc_f32_from_bits(KVC_FP8_INV_448_BITS);
    float step = kvc_f32_from_bits(KVC_FP8_448_127_BITS);
    float inv_step = kvc_f32_from_bits(KVC_FP8_INV_448_127_BITS);
    float scale = kvc_fp8_dt_round(kvc_fp8_amax(x, n, dt) * inv448, dt);
    for (int i = 0; i < n; i++) {
        float xs = kvc__fp8_clamp448(kvc_fp8_dt_round(x[i] / scale, dt));
        float lv = kvc_rne_f32(kvc_fp8_dt_round(xs * inv_step, dt));
        float q = kvc_fp8_dt_round(lv * step, dt);
        out[i] = kvc_fp8_dt_round(q * scale, dt);
    }
}

/* 6.2 E4M3 with a continuous scale; out may equal x. */
KVC_HD void kvc_fp8_sim_e4m3(const float *x, float *out, int n, kvc_fp8_dt dt)
{
    float inv448 = kvc_f32_from_bits(KVC_FP8_INV_448_BITS);
    float scale = kvc_fp8_dt_round(kvc_fp8_amax(x, n, dt) * inv448, dt);
    for (int i = 0; i < n; i++) {
        float xs = kvc__fp8_clamp448(kvc_fp8_dt_round(x[i] / scale, dt));
        float e = kvc_e4m3_to_f32(kvc_f32_to_e4m3(xs, KVC_E4M3_SATFINITE));
        out[i] = kvc_fp8_dt_round(e * scale, dt);
    }
}

/* 6.3: the E8M0 scale byte of a block. */
KVC_HD uint8_t kvc_fp8_pow2_scale_byte(const float *x, int n, kvc_fp8_dt dt)
{
    float t = kvc_fp8_amax(x, n, dt) * kvc_f32_from_bits(KVC_FP8_INV_448_BITS);
    return kvc_f32_to_e8m0(t, KVC_E8M0_RP);
}

/* 6.3 encode: E4M3 codes of a block; returns the E8M0 scale byte. */
KVC_HD uint8_t kvc_fp8_pow2_encode(const float *x, uint8_t *codes, int n, kvc_fp8_dt dt)
{
    uint8_t sb = kvc_fp8_pow2_scale_byte(x, n, dt);
    float scale = kvc_e8m0_to_f32(sb);
    for (int i = 0; i < n; i++)
        codes[i] = kvc_f32_to_e4m3(kvc__fp8_clamp448(x[i] / scale), KVC_E4M3_SATFINITE);
    return sb;
}

/* 6.3 decode: bf16(e4m3 * scale). */
KVC_HD void kvc_fp8_pow2_decode(const uint8_t *codes, uint8_t scale_byte, float *out, int n)
{
    float scale = kvc_e8m0_to_f32(scale_byte);
    for (int i = 0; i < n; i++)
        out[i] = kvc_round_bf16(kvc_e4m3_to_f32(codes[i]) * scale);
}

/* 6.3 simulation (= decode(encode(x))); out may equal x. */
KVC_HD void kvc_fp8_sim_e4m3_pow2(const float *x, float *out, int n, kvc_fp8_dt dt)
{
    float scale = kvc_e8m0_to_f32(kvc_fp8_pow2_scale_byte(x, n, dt));
    for (int i = 0; i < n; i++) {
        uint8_t c = kvc_f32_to_e4m3(kvc__fp8_clamp448(x[i] / scale), KVC_E4M3_SATFINITE);
        out[i] = kvc_round_bf16(kvc_e4m3_to_f32(c) * scale);
    }
}

/* ------------------------------------------------------ baselines (SPEC 7.1) */

#define KVC_FP8_BLOCK 64
#define KVC_FP8_DIM 512
#define KVC_FP8_NOPE 448
#define KVC_FP8_ROPE 64
/* fp8_per64 as published: 512 E4M3 + 8 x 16-bit scales. */
#define KVC_FP8_PER64_BITS 4224
/* fp8_ds_mla: V4's cache layout, 584 bytes per token. */
#define KVC_FP8_DS_MLA_BYTES 584
#define KVC_FP8_DS_MLA_BITS (8 * KVC_FP8_DS_MLA_BYTES)

/* fp8_per64 of one 512-vector: 6.2 with dt = binary32 on each of the 8
 * blocks, the result rounded to bf16 (as a binary32 value). */
/* The vector functions below are loops over 8 independent parts of 64
 * dims (part j: dims 64j..64j+63; for fp8_ds_mla part 7 is the RoPE
 * dims): a GPU runs one thread per part, the CPU the loop. */
#define KVC_FP8_PARTS (KVC_FP8_DIM / KVC_FP8_BLOCK)

KVC_HD void kvc_fp8_per64_part(const float *x, float *out, int j)
{
    const int b = j * KVC_FP8_BLOCK;
    kvc_fp8_sim_e4m3(x + b, out + b, KVC_FP8_BLOCK, KVC_FP8_DT_F32);
    for (int i = b; i < b + KVC_FP8_BLOCK; i++)
        out[i] = kvc_round_bf16(out[i]);
}

KVC_HD void kvc_fp8_per64_vec(const float *x, float *out)
{
    for (int j = 0; j < KVC_FP8_PARTS; j++)
        kvc_fp8_per64_part(x, out, j);
}

/* fp8_ds_mla token layout (584 bytes), kvcert's byte order, following the
 * FlashMLA "fp8_ds_mla" pattern of DeepSeek V3.2 (quantized part, scales,
 * then the bf16 RoPE part):
 *   bytes   0..447  E4M3 codes of the nope dims 0..447 (block j = dims 64j..64j+63)
 *   bytes 448..454  E8M0 scale of nope block 0..6 (6.3, amax floor 1e-4 in binary32)
 *   byte  455       0 (pad)
 *   bytes 456..583  bf16 of the RoPE dims 448..511, little-endian, 2 bytes each
 * The simulation is the decode of this layout: nope dims bf16(e4m3 * 2^e),
 * RoPE dims bf16(x). */
/* Part j of a record: nope block j (its codes and scale byte), or for
 * j = 7 the pad byte and the bf16 RoPE dims. */
KVC_HD void kvc_fp8_ds_mla_encode_part(const float *x, uint8_t *rec, int j)
{
    if (j < KVC_FP8_NOPE / KVC_FP8_BLOCK) {
        rec[KVC_FP8_NOPE + j] = kvc_fp8_pow2_encode(x + KVC_FP8_BLOCK * j, rec + KVC_FP8_BLOCK * j,
                                                    KVC_FP8_BLOCK, KVC_FP8_DT_F32);
        return;
    }
    rec[KVC_FP8_NOPE + 7] = 0;
    for (int i = 0; i < KVC_FP8_ROPE; i++) {
        uint16_t h = kvc_f32_to_bf16(x[KVC_FP8_NOPE + i]);
        rec[456 + 2 * i] = (uint8_t)(h & 0xFFu);
        rec[456 + 2 * i + 1] = (uint8_t)(h >> 8);
    }
}

KVC_HD void kvc_fp8_ds_mla_encode_vec(const float *x, uint8_t *rec)
{
    for (int j = 0; j < KVC_FP8_PARTS; j++)
        kvc_fp8_ds_mla_encode_part(x, rec, j);
}

/* 1 when the record could come from the encoder: the pad byte is 0 and no
 * scale byte is the E8M0 NaN 0xFF (the encoder never writes either). */
KVC_HD int kvc_fp8_ds_mla_record_valid(const uint8_t *rec)
{
    if (rec[KVC_FP8_NOPE + 7] != 0)
        return 0;
    for (int j = 0; j < KVC_FP8_NOPE / KVC_FP8_BLOCK; j++)
        if (rec[KVC_FP8_NOPE + j] == 0xFFu)
            return 0;
    return 1;
}

/* Part j of a valid record's decode. */
KVC_HD void kvc_fp8_ds_mla_decode_part(const uint8_t *rec, float *out, int j)
{
    if (j < KVC_FP8_NOPE / KVC_FP8_BLOCK) {
        kvc_fp8_pow2_decode(rec + KVC_FP8_BLOCK * j, rec[KVC_FP8_NOPE + j],
                            out + KVC_FP8_BLOCK * j, KVC_FP8_BLOCK);
        return;
    }
    for (int i = 0; i < KVC_FP8_ROPE; i++) {
        uint16_t h = (uint16_t)(rec[456 + 2 * i] | (rec[456 + 2 * i + 1] << 8));
        out[KVC_FP8_NOPE + i] = kvc_bf16_to_f32(h);
    }
}

/* Decodes one record; returns 0, or -1 when it is not valid (then out is
 * not written). */
KVC_HD int kvc_fp8_ds_mla_decode_vec(const uint8_t *rec, float *out)
{
    if (!kvc_fp8_ds_mla_record_valid(rec))
        return -1;
    for (int j = 0; j < KVC_FP8_PARTS; j++)
        kvc_fp8_ds_mla_decode_part(rec, out, j);
    return 0;
}

/* Part j of the fp8_ds_mla simulation (out may equal x). */
KVC_HD void kvc_fp8_ds_mla_part(const float *x, float *out, int j)
{
    if (j < KVC_FP8_NOPE / KVC_FP8_BLOCK) {
        kvc_fp8_sim_e4m3_pow2(x + KVC_FP8_BLOCK * j, out + KVC_FP8_BLOCK * j, KVC_FP8_BLOCK,
                              KVC_FP8_DT_F32);
        return;
    }
    for (int i = KVC_FP8_NOPE; i < KVC_FP8_DIM; i++)
        out[i] = kvc_round_bf16(x[i]);
}

/* The fp8_ds_mla simulation of one vector (out may equal x). */
KVC_HD void kvc_fp8_ds_mla_vec(const float *x, float *out)
{
    for (int j = 0; j < KVC_FP8_PARTS; j++)
        kvc_fp8_ds_mla_part(x, out, j);
}

/* ------------------------------------------------------ host loops (fp8block.c) */

#ifdef __cplusplus
extern "C" {
#endif

/* Baselines over n vectors of 512 dims (out may equal x). */
void kvc_fp8_per64(const float *x, size_t n, float *out);
void kvc_fp8_ds_mla(const float *x, size_t n, float *out);
/* Byte format: n records of 584 bytes. */
void kvc_fp8_ds_mla_encode(const float *x, size_t n, uint8_t *bytes);
/* KVC_BITSTREAM (offset of the record) for a size that is not n * 584, a
 * nonzero pad byte or a NaN scale byte. */
kvc_status kvc_fp8_ds_mla_decode(const uint8_t *bytes, size_t size, size_t n, float *out,
                                 kvc_error *err);

#ifdef __cplusplus
}
#endif

#endif /* KVC_CODEC_FP8BLOCK_H */
