/* kvcert: the synthetic shards and hidden states as safetensors files.
 * v4/synth.h specifies every value; this file draws them in the stated
 * order and hands them to the safetensors writer (sorted, byte-stable). */
#include <inttypes.h>
#include <math.h> /* sqrt only */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/formats.h"
#include "io/safetensors.h"
#include "v4/synth.h"

#define ROWS KVC_SYNTH_HEAD /* 512 */
#define COLS KVC_SYNTH_DIM  /* 4096 */

/* attn.wkv: tile factors, row factors, elements, then the block quantizer. */
static void gen_wkv(uint64_t seed, int layer, float *x, uint8_t *w, uint8_t *scale)
{
    enum { TR = ROWS / 128, TC = COLS / 128 };
    const double s2 = sqrt(2.0);
    const double factors[5] = {0.5, s2 / 2.0, 1.0, s2, 2.0};
    double a[TR * TC], b[ROWS];
    kvc_synth_rng r;
    kvc_synth_rng_seed(&r, seed, KVC_SYNTH_STREAM_WEIGHT(layer, 0));
    for (int i = 0; i < TR * TC; i++)
        a[i] = factors[kvc_synth_below(&r, 5)];
    for (int o = 0; o < ROWS; o++)
        b[o] = 0.85 + 0.3 * kvc_synth_uniform(&r);
    for (int o = 0; o < ROWS; o++)
        for (int i = 0; i < COLS; i++) {
            double ab = a[(o / 128) * TC + i / 128] * b[o];
            x[(size_t)o * COLS + i] = (float)((ab * kvc_synth_gauss(&r)) * 0.0125);
        }
    kvc_synth_fp8_quantize(x, ROWS, COLS, w, scale);
}

/* kv_norm / compressor.norm: bf16(fp32(1 + 0.15 g)). */
static void gen_norm(uint64_t seed, int layer, int j, uint16_t *out)
{
    kvc_synth_rng r;
    kvc_synth_rng_seed(&r, seed, KVC_SYNTH_STREAM_WEIGHT(layer, j));
    for (int c = 0; c < KVC_SYNTH_HEAD; c++)
        out[c] = kvc_f32_to_bf16((float)(1.0 + 0.15 * kvc_synth_gauss(&r)));
}

/* compressor.wkv / wgate: row factors first, then bf16(fp32((b g) 2^-6)). */
static void gen_bf16_matrix(uint64_t seed, int layer, int j, int rows, uint16_t *out,
                            double *b)
{
    kvc_synth_rng r;
    kvc_synth_rng_seed(&r, seed, KVC_SYNTH_STREAM_WEIGHT(layer, j));
    for (int o = 0; o < rows; o++)
        b[o] = 0.85 + 0.3 * kvc_synth_uniform(&r);
    for (int o = 0; o < rows; o++)
        for (int i = 0; i < COLS; i++)
            out[(size_t)o * COLS + i] =
                kvc_f32_to_bf16((float)((b[o] * kvc_synth_gauss(&r)) * 0.015625));
}

/* compressor.ape: fp32(0.05 g). */
static void gen_ape(uint64_t seed, int layer, size_t n, float *out)
{
    kvc_synth_rng r;
    kvc_synth_rng_seed(&r, seed, KVC_SYNTH_STREAM_WEIGHT(layer, 4));
    for (size_t i = 0; i < n; i++)
        out[i] = (float)(0.05 * kvc_synth_gauss(&r));
}

static kvc_status set_common_metadata(kvc_st_writer *wr, uint64_t seed, const char *content,
                                      kvc_error *err)
{
    char buf[32];
    kvc_status st;
    if ((st = kvc_st_writer_set_metadata(wr, "format", "pt", err)) != KVC_OK)
        return st;
    if ((st = kvc_st_writer_set_metadata(wr, "generator", KVC_SYNTH_GENERATOR, err)) != KVC_OK)
        return st;
    snprintf(buf, sizeof buf, "%d", KVC_SYNTH_VERSION);
    if ((st = kvc_st_writer_set_metadata(wr, "generator_version", buf, err)) != KVC_OK)
        return st;
    snprintf(buf, sizeof buf, "%" PRIu64, seed);
    if ((st = kvc_st_writer_set_metadata(wr, "seed", buf, err)) != KVC_OK)
        return st;
    return kvc_st_writer_set_metadata(wr, "content", content, err);
}

typedef struct shard_buffers {
    float *x;          /* wkv before quantization */
    uint8_t *w;        /* wkv E4M3 */
    uint8_t scale[4 * 32];
    uint16_t kv_norm[KVC_SYNTH_HEAD];
    uint16_t *cwkv, *cwgate;
    double *rowf;
    float *ape;
    uint16_t cnorm[KVC_SYNTH_HEAD];
} shard_buffers;

static void shard_buffers_free(shard_buffers *sb)
{
    free(sb->x);
    free(sb->w);
    free(sb->cwkv);
    free(sb->cwgate);
    free(sb->rowf);
    free(sb->ape);
}

static kvc_status add(kvc_st_writer *wr, int layer, const char *what, kvc_dtype dt, int ndim,
                      int64_t d0, int64_t d1, const void *data, kvc_error *err)
{
    char name[128];
    int64_t shape[2] = {d0, d1};
    snprintf(name, sizeof name, "layers.%d.%s", layer, what);
    return kvc_st_writer_add(wr, name, dt, ndim, shape, data, err);
}

kvc_status kvc_synth_write_shard(uint64_t seed, int layer, const char *path, kvc_error *err)
{
    if (kvc_synth_shard_name(layer) == NULL)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT,
                             "the synthetic checkpoint has layers 0, 2 and 3, not %d", layer);
    int coff, ratio;
    kvc_synth_compressor_shape(layer, &coff, &ratio);
    size_t crows = (size_t)coff * KVC_SYNTH_HEAD;
    shard_buffers sb;
    memset(&sb, 0, sizeof sb);
    sb.x = malloc((size_t)ROWS * COLS * sizeof(float));
    sb.w = malloc((size_t)ROWS * COLS);
    if (coff > 0) {
        sb.cwkv = malloc(crows * COLS * sizeof(uint16_t));
        sb.cwgate = malloc(crows * COLS * sizeof(uint16_t));
        sb.rowf = malloc(crows * sizeof(double));
        sb.ape = malloc((size_t)ratio * crows * sizeof(float));
    }
    kvc_st_writer *wr = kvc_st_writer_create();
    kvc_status st = KVC_OK;
    if (sb.x == NULL || sb.w == NULL || wr == NULL ||
        (coff > 0 && (sb.cwkv == NULL || sb.cwgate == NULL || sb.rowf == NULL || sb.ape == NULL))) {
        st = kvc_error_set(err, KVC_NOMEM, "buffers for the layer %d shard", layer);
        goto out;
    }
    gen_wkv(seed, layer, sb.x, sb.w, sb.scale);
    gen_norm(seed, layer, 1, sb.kv_norm);
    if ((st = add(wr, layer, "attn.wkv.weight", KVC_DT_F8_E4M3, 2, ROWS, COLS, sb.w, err)) ||
        (st = add(wr, layer, "attn.wkv.scale", KVC_DT_F8_E8M0, 2, ROWS / 128, COLS / 128,
                  sb.scale, err)) ||
        (st = add(wr, layer, "attn.kv_norm.weight", KVC_DT_BF16, 1, KVC_SYNTH_HEAD, 0,
                  sb.kv_norm, err)))
        goto out;
    if (coff > 0) {
        gen_bf16_matrix(seed, layer, 2, (int)crows, sb.cwkv, sb.rowf);
        gen_bf16_matrix(seed, layer, 3, (int)crows, sb.cwgate, sb.rowf);
        gen_ape(seed, layer, (size_t)ratio * crows, sb.ape);
        gen_norm(seed, layer, 5, sb.cnorm);
        if ((st = add(wr, layer, "attn.compressor.wkv.weight", KVC_DT_BF16, 2, (int64_t)crows,
                      COLS, sb.cwkv, err)) ||
            (st = add(wr, layer, "attn.compressor.wgate.weight", KVC_DT_BF16, 2,
                      (int64_t)crows, COLS, sb.cwgate, err)) ||
            (st = add(wr, layer, "attn.compressor.ape", KVC_DT_F32, 2, ratio, (int64_t)crows,
                      sb.ape, err)) ||
            (st = add(wr, layer, "attn.compressor.norm.weight", KVC_DT_BF16, 1,
                      KVC_SYNTH_HEAD, 0, sb.cnorm, err)))
            goto out;
    }
    char content[96];
    snprintf(content, sizeof content, "synthetic DeepSeek-V4-Flash layer %d attention weights",
             layer);
    if ((st = set_common_metadata(wr, seed, content, err)) != KVC_OK)
        goto out;
    st = kvc_st_writer_write(wr, path, err);
out:
    if (wr != NULL)
        kvc_st_writer_destroy(wr);
    shard_buffers_free(&sb);
    return st;
}

kvc_status kvc_synth_write_hidden(uint64_t seed, uint32_t passages, const char *path,
                                  kvc_error *err)
{
    if (passages < 1 || passages > KVC_SYNTH_MAX_PASSAGES)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "passages must be 1..%d, not %" PRIu32,
                             KVC_SYNTH_MAX_PASSAGES, passages);
    size_t per = (size_t)KVC_SYNTH_TOKENS * KVC_SYNTH_DIM;
    uint16_t *h = malloc((size_t)passages * per * sizeof(uint16_t));
    kvc_synth_profile *prof = malloc(sizeof *prof);
    kvc_st_writer *wr = kvc_st_writer_create();
    kvc_status st = KVC_OK;
    if (h == NULL || prof == NULL || wr == NULL) {
        st = kvc_error_set(err, KVC_NOMEM, "buffers for %" PRIu32 " passages", passages);
        goto out;
    }
    kvc_synth_host_profile(seed, prof);
    for (uint32_t p = 0; p < passages; p++)
        kvc_synth_hidden_passage(seed, prof, p, h + (size_t)p * per);
    int64_t shape[3] = {(int64_t)passages, KVC_SYNTH_TOKENS, KVC_SYNTH_DIM};
    char buf[32];
    if ((st = kvc_st_writer_add(wr, "hidden", KVC_DT_BF16, 3, shape, h, err)) != KVC_OK ||
        (st = set_common_metadata(wr, seed, "synthetic host hidden states [passage, token, "
                                             "channel]", err)) != KVC_OK)
        goto out;
    snprintf(buf, sizeof buf, "%" PRIu32, passages);
    if ((st = kvc_st_writer_set_metadata(wr, "passages", buf, err)) != KVC_OK)
        goto out;
    st = kvc_st_writer_write(wr, path, err);
out:
    if (wr != NULL)
        kvc_st_writer_destroy(wr);
    free(prof);
    free(h);
    return st;
}
