/* kvcert: the synthetic DeepSeek-V4-Flash host (SPEC.md sections 1.1, 1.2).
 *
 * THIS HEADER IS THE SPECIFICATION of the synthetic shards and hidden
 * states: everything below is normative, and a change to any number or
 * order here changes the files (bump KVC_SYNTH_VERSION and the pins in
 * golden/synth-seed1.json).
 *
 * Purpose: V4-shaped inputs for demos, tests and golden cases without the
 * real 46-shard checkpoint or the published hidden states: weights laid out
 * and quantized as DeepSeek's are, and host activations that are
 * heavy-tailed, anisotropic and carry a few outlier channels, as LLM
 * activations are.
 *
 * Determinism: the files are byte-identical on every machine. Only integer
 * operations and IEEE binary64/binary32 + - * / sqrt are used (no libm
 * transcendentals, no fused multiply-add: -ffp-contract=off); binary64 to
 * binary32 conversion is IEEE convertFormat (round to nearest even);
 * binary32 to bf16/E4M3/E8M0 goes through core/formats.h. Every sum runs
 * sequentially in the order stated.
 *
 * ------------------------------------------------------------------ PRNG
 * splitmix64 (Vigna, https://prng.di.unimi.it/splitmix64.c):
 *     x += 0x9E3779B97F4A7C15; z = x;
 *     z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
 *     z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
 *     return z ^ (z >> 31);
 * mix64(z) is the same finalizer applied to z without the increment.
 * xoshiro256** (Blackman & Vigna, https://prng.di.unimi.it/xoshiro256starstar.c):
 *     result = rotl(s1 * 5, 7) * 9; t = s1 << 17;
 *     s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = rotl(s3, 45).
 * Streams: the generator of stream k under seed N starts from
 *     x = N ^ mix64(k);  s0, s1, s2, s3 = four successive splitmix64(x).
 * (mix64 is a bijection, so distinct streams start from distinct
 * splitmix64 states; four splitmix64 outputs are never all zero.)
 * Stream numbers:
 *     weights of layer L, tensor j   (1 << 56) | (L << 8) | j
 *         j: 0 attn.wkv, 1 attn.kv_norm, 2 compressor.wkv,
 *            3 compressor.wgate, 4 compressor.ape, 5 compressor.norm
 *     host channel profile           (2 << 56)
 *     host passage p, token t        (3 << 56) | (p << 24) | t
 *
 * ------------------------------------------------------------- variates
 * All in binary64 unless stated.
 * uniform():   (next() >> 11) * 2^-53, in [0, 1).
 * below(n):    ((next() >> 32) * n) >> 32 (integer), in [0, n), n < 2^32.
 * gauss():     one next() split into four 16-bit lanes l0..l3 (bits 0-15,
 *              16-31, 32-47, 48-63); s = (l0 + l1 + l2 + l3 + 2) * 2^-16
 *              (exact); gauss = (s - 2) * sqrt(3).
 *              An Irwin-Hall sum of 4 uniforms: mean 0, variance 1 - 2^-32,
 *              support +-2 sqrt(3), kurtosis 2.7 (light-tailed on its own).
 * den(nu):    v = sum over i = 0..nu-1 of gauss()^2 (in that order, from 0);
 *              v = max(v, 2^-20); den = sqrt(v / nu).
 * student(nu): g = gauss(), then g / den(nu).
 *              A scale mixture (a Gaussian-like variate divided by the root
 *              of a chi-square-like one): Student-t-like with nu degrees of
 *              freedom, heavy-tailed (nu = 6: variance ~1.5, kurtosis ~6).
 *
 * --------------------------------------------------------------- shards
 * Three files, as DeepSeek-V4-Flash names them: layer 0 in
 * model-00002-of-00046.safetensors, layer 2 in model-00004-of-00046,
 * layer 3 in model-00005-of-00046. Each holds, for its layer L:
 *
 *  layers.L.attn.wkv.weight   F8_E4M3 [512, 4096]   (stream j = 0)
 *  layers.L.attn.wkv.scale    F8_E8M0 [4, 32]
 *      1. tile factors: for the 4 x 32 tiles in row-major order,
 *         a = {0.5, 1/sqrt(2), 1, sqrt(2), 2}[below(5)]
 *         (1/sqrt(2) = sqrt(2)/2, sqrt(2) = sqrt(2.0));
 *      2. row factors: for o = 0..511, b_o = 0.85 + 0.3 * uniform();
 *      3. elements, row-major: x = fp32(((a * b_o) * gauss()) * 0.0125),
 *         a the factor of the element's tile. Rows have norm ~ b_o
 *         (E[a^2] = 1.55, 4096 * 1.55 * 0.0125^2 = 0.99), so a unit-RMS
 *         hidden state projects to O(1) entries.
 *      4. quantized as DeepSeek's block quantizer does (kvc_synth_fp8_quantize):
 *         per 128x128 tile, amax = max(max |x|, 1e-4f) (binary32);
 *         scale byte = kvc_f32_to_e8m0(amax / 448.0f, KVC_E8M0_RP), i.e.
 *         2^ceil(log2(amax/448)); w = kvc_f32_to_e4m3(x / 2^(byte-127),
 *         KVC_E4M3_SATFINITE) (the division by a power of two is exact).
 *      Resulting scales: 2^-14 .. 2^-12 (bytes 113..115; seeds 1, 2, 3,
 *      17, 12345 all give all three), three distinct exponents per
 *      matrix; KVC_SYNTH_SCALE_MIN..MAX bound them with margin.
 *  layers.L.attn.kv_norm.weight BF16 [512]     (stream j = 1)
 *      bf16(fp32(1 + 0.15 * gauss())): in [0.48, 1.52], mean 1.
 * and for L = 2 (coff = 2, r = 4) and L = 3 (coff = 1, r = 128):
 *  layers.L.attn.compressor.wkv.weight   BF16 [coff*512, 4096] (j = 2)
 *  layers.L.attn.compressor.wgate.weight BF16 [coff*512, 4096] (j = 3)
 *      row factors b_o = 0.85 + 0.3 * uniform() for every row first, then
 *      elements row-major: bf16(fp32((b_o * gauss()) * 0.015625)) (norm ~ b_o).
 *  layers.L.attn.compressor.ape          F32  [r, coff*512]    (j = 4)
 *      fp32(0.05 * gauss()), row-major.
 *  layers.L.attn.compressor.norm.weight  BF16 [512]            (j = 5)
 *      as kv_norm.
 * __metadata__: format "pt", generator "kvcert synth", generator_version
 * KVC_SYNTH_VERSION, seed (decimal), content (one line in words).
 *
 * ---------------------------------------------------------- hidden states
 * hidden.safetensors: one BF16 tensor "hidden" [P, 2048, 4096], P passages
 * (1..KVC_SYNTH_MAX_PASSAGES); __metadata__ as above plus "passages".
 * Channel profile (stream 2 << 56), shared by all passages:
 *   1. for c = 0..4095: k_c = below(13) - 6 (quarter octaves, -6..6);
 *      sigma_c = Q[k_c mod 4] * 2^floor(k_c / 4) * smooth(c) (mod and
 *      floor rounding toward minus infinity: k_c mod 4 is in 0..3), where
 *      Q = {1, sqrt(sqrt(2)), sqrt(2), sqrt(sqrt(2)) * sqrt(2)} and
 *      smooth(c) = 0.75 + 0.5 * |(c mod 512) / 256 - 1| (a triangle wave,
 *      0.75..1.25): a log-spread of 2^-1.5..2^1.5 times a smooth factor
 *      (products left to right: (Q * 2^f) * smooth);
 *   2. KVC_SYNTH_OUTLIERS = 8 outlier channels: repeat c = below(4096),
 *      drawn again while c was already chosen; then m = 10 + 40 * uniform();
 *      sigma_c = m (10..50 times a typical channel).
 * Token t of passage p (stream (3 << 56) | (p << 24) | t):
 *   lambda = 0.8 + 0.45 * uniform()  (the token's RMS, 0.8..1.25);
 *   for each group of KVC_SYNTH_MIX_GROUP = 16 channels c0..c0+15 (c0 =
 *   0, 16, ..., 4080): d = den(6), then for c = c0..c0+15:
 *       y_c = sigma_c * (gauss() / d)
 *   (each y_c / sigma_c is marginally student(6); the 16 channels of a
 *   group share the mixture variate, so magnitudes come in bursts, and a
 *   token costs 1.4 draws per channel instead of 7);
 *   ms = (sum over c = 0..4095 of y_c^2) / 4096; f = lambda / sqrt(ms);
 *   hidden[p, t, c] = bf16(fp32(y_c * f)).
 * So every token has RMS lambda (to bf16 rounding), ordinary channels
 * differ in scale by up to 2^3 * 1.25 / 0.75 ~ 13x (outliers 10..50x a
 * typical one), and each channel is heavy-tailed over tokens (kurtosis
 * > 3; about 5.7 on average for seed 1).
 */
#ifndef KVC_V4_SYNTH_H
#define KVC_V4_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KVC_SYNTH_VERSION 1
#define KVC_SYNTH_GENERATOR "kvcert synth"
#define KVC_SYNTH_TOKENS 2048
#define KVC_SYNTH_DIM 4096
#define KVC_SYNTH_HEAD 512
#define KVC_SYNTH_OUTLIERS 8
#define KVC_SYNTH_STUDENT_NU 6
#define KVC_SYNTH_MIX_GROUP 16
/* P is bounded so a hidden file stays in memory (16 MiB per passage). */
#define KVC_SYNTH_MAX_PASSAGES 64
/* Every wkv scale byte lies in [MIN, MAX] (2^-19 .. 2^-7): a wide margin
 * around the 2^-14 .. 2^-12 the construction gives (amax / 448 with amax
 * between ~0.016 and ~0.1). */
#define KVC_SYNTH_SCALE_MIN 108
#define KVC_SYNTH_SCALE_MAX 120

/* --hf-layout of `kvcert synth`: the shards go to
 * hub/KVC_SYNTH_HF_REPO/snapshots/KVC_SYNTH_HF_REVISION/ under the output
 * folder, with hub/KVC_SYNTH_HF_REPO/refs/main holding the revision, as a
 * Hugging Face cache lays a snapshot out. The revision is 40 zeros: a
 * well-formed commit id that no real repository has. */
#define KVC_SYNTH_HF_REPO "models--deepseek-ai--DeepSeek-V4-Flash"
#define KVC_SYNTH_HF_REVISION "0000000000000000000000000000000000000000"
/* File names of the host and the manifest in the output folder. */
#define KVC_SYNTH_HIDDEN_FILE "hidden.safetensors"
#define KVC_SYNTH_MANIFEST_FILE "manifest.json"

#define KVC_SYNTH_STREAM_WEIGHT(layer, j) ((UINT64_C(1) << 56) | ((uint64_t)(layer) << 8) | (uint64_t)(j))
#define KVC_SYNTH_STREAM_PROFILE (UINT64_C(2) << 56)
#define KVC_SYNTH_STREAM_TOKEN(p, t) \
    ((UINT64_C(3) << 56) | ((uint64_t)(p) << 24) | (uint64_t)(t))

/* ------------------------------------------------------------ PRNG */

typedef struct kvc_synth_rng {
    uint64_t s[4]; /* xoshiro256** state */
} kvc_synth_rng;

uint64_t kvc_synth_splitmix64(uint64_t *x);
uint64_t kvc_synth_mix64(uint64_t z);
void kvc_synth_rng_seed(kvc_synth_rng *r, uint64_t seed, uint64_t stream);
uint64_t kvc_synth_next(kvc_synth_rng *r);
double kvc_synth_uniform(kvc_synth_rng *r);
uint32_t kvc_synth_below(kvc_synth_rng *r, uint32_t n);
double kvc_synth_gauss(kvc_synth_rng *r);
double kvc_synth_student(kvc_synth_rng *r, int nu);

/* ------------------------------------------------------------ weights */

/* DeepSeek's 128x128 block quantizer (step 4 above): x [rows, cols] to
 * E4M3 w [rows, cols] and E8M0 scale [ceil(rows/128), ceil(cols/128)]. */
void kvc_synth_fp8_quantize(const float *x, int64_t rows, int64_t cols, uint8_t *w,
                            uint8_t *scale);

/* The shard of layer 0, 2 or 3: its file name, NULL for other layers. */
const char *kvc_synth_shard_name(int layer);
/* Compressor geometry of a layer: coff and r (0, 0 for layer 0). */
void kvc_synth_compressor_shape(int layer, int *coff, int *ratio);

/* Writes the shard of layer 0, 2 or 3 to path, atomically. */
kvc_status kvc_synth_write_shard(uint64_t seed, int layer, const char *path, kvc_error *err);

/* ------------------------------------------------------------ host */

typedef struct kvc_synth_profile {
    double sigma[KVC_SYNTH_DIM];
    int outlier[KVC_SYNTH_OUTLIERS]; /* in draw order */
} kvc_synth_profile;

void kvc_synth_host_profile(uint64_t seed, kvc_synth_profile *prof);
/* Token t of passage p as 4096 bf16 bit patterns. */
void kvc_synth_hidden_token(uint64_t seed, const kvc_synth_profile *prof, uint32_t passage,
                            uint32_t token, uint16_t *out);
/* Passage p: [2048, 4096] bf16 bit patterns (2 threads; the result does
 * not depend on the split, each token having its own stream). */
void kvc_synth_hidden_passage(uint64_t seed, const kvc_synth_profile *prof, uint32_t passage,
                              uint16_t *out);
/* Writes hidden.safetensors-style output to path, atomically.
 * passages outside 1..KVC_SYNTH_MAX_PASSAGES: KVC_INVALID_ARGUMENT. */
kvc_status kvc_synth_write_hidden(uint64_t seed, uint32_t passages, const char *path,
                                  kvc_error *err);

#ifdef __cplusplus
}
#endif

#endif /* KVC_V4_SYNTH_H */
