/* kvcert: FP8 block dequantization and widening (SPEC.md section 3).
 *
 * Speed without a second definition of the arithmetic: per tile, a
 * 256-entry table holds kvc_dequant_e4m3_e8m0(k, s) for every byte k (the
 * shared scalar function itself, canonical NaNs included), and the inner
 * loop is a table lookup per element.
 */
#include "v4/dequant.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Tensors with at least this many elements are split across 2 threads
 * (below it, starting a thread costs more than it saves on a busy host).
 * A compile-time knob for bench/bench_dequant comparisons only. */
#ifndef KVC_DEQUANT_THREAD_MIN
#define KVC_DEQUANT_THREAD_MIN (1LL << 22)
#endif
/* Tiles of one tile row whose tables are built at a time (32 KiB). */
#define DEQUANT_TILE_CHUNK 32

typedef struct dequant_job {
    const uint8_t *w;
    const uint8_t *scale;
    float *out;
    int64_t rows, cols, scols;
    int64_t tr_begin, tr_end; /* tile rows [begin, end) */
} dequant_job;

/* One output row segment: the loop the compiler keeps tight. Eight bytes
 * are read at once (x86 has no byte gather); the host is little-endian
 * (configure), so byte k of the word is element c + k. */
static void lookup_row(const uint8_t *w, const float *lut, float *out, int64_t n)
{
    int64_t c = 0;
    for (; c + 8 <= n; c += 8) {
        uint64_t q;
        memcpy(&q, w + c, sizeof q);
        out[c + 0] = lut[q & 0xFF];
        out[c + 1] = lut[(q >> 8) & 0xFF];
        out[c + 2] = lut[(q >> 16) & 0xFF];
        out[c + 3] = lut[(q >> 24) & 0xFF];
        out[c + 4] = lut[(q >> 32) & 0xFF];
        out[c + 5] = lut[(q >> 40) & 0xFF];
        out[c + 6] = lut[(q >> 48) & 0xFF];
        out[c + 7] = lut[q >> 56];
    }
    for (; c < n; c++)
        out[c] = lut[w[c]];
}

static void dequant_tile_rows(const dequant_job *job)
{
    float luts[DEQUANT_TILE_CHUNK][256]; /* 32 KiB: fits a thread's stack */
    for (int64_t tr = job->tr_begin; tr < job->tr_end; tr++) {
        int64_t r0 = tr * KVC_DEQUANT_TILE;
        int64_t r1 = r0 + KVC_DEQUANT_TILE < job->rows ? r0 + KVC_DEQUANT_TILE : job->rows;
        for (int64_t tc0 = 0; tc0 < job->scols; tc0 += DEQUANT_TILE_CHUNK) {
            int64_t tc1 = tc0 + DEQUANT_TILE_CHUNK < job->scols ? tc0 + DEQUANT_TILE_CHUNK
                                                                : job->scols;
            for (int64_t tc = tc0; tc < tc1; tc++) {
                uint8_t sbyte = job->scale[tr * job->scols + tc];
                float *lut = luts[tc - tc0];
                for (int k = 0; k < 256; k++)
                    lut[k] = kvc_dequant_e4m3_e8m0((uint8_t)k, sbyte);
            }
            /* Row by row across the chunk: output written sequentially. */
            for (int64_t r = r0; r < r1; r++) {
                const uint8_t *wr = job->w + r * job->cols;
                float *orow = job->out + r * job->cols;
                for (int64_t tc = tc0; tc < tc1; tc++) {
                    int64_t a = tc * KVC_DEQUANT_TILE;
                    int64_t b = a + KVC_DEQUANT_TILE < job->cols ? a + KVC_DEQUANT_TILE
                                                                 : job->cols;
                    lookup_row(wr + a, luts[tc - tc0], orow + a, b - a);
                }
            }
        }
    }
}

static void *dequant_thread(void *arg)
{
    dequant_tile_rows((const dequant_job *)arg);
    return NULL;
}

kvc_status kvc_dequant_fp8_block(const uint8_t *w, int64_t rows, int64_t cols,
                                 const uint8_t *scale, int64_t srows, int64_t scols,
                                 float *out, kvc_error *err)
{
    if (rows < 0 || cols < 0 || srows < 0 || scols < 0)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "negative size [%lld, %lld] / [%lld, %lld]",
                             (long long)rows, (long long)cols, (long long)srows,
                             (long long)scols);
    if (cols != 0 && rows > INT64_MAX / cols)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "size [%lld, %lld] overflows",
                             (long long)rows, (long long)cols);
    int64_t want_r = kvc_dequant_tiles(rows), want_c = kvc_dequant_tiles(cols);
    if (srows != want_r || scols != want_c)
        return kvc_error_set(err, KVC_TENSOR_SHAPE,
                             "scale shape [%lld, %lld] for weight [%lld, %lld]; expected "
                             "[%lld, %lld] (one per 128x128 tile)",
                             (long long)srows, (long long)scols, (long long)rows,
                             (long long)cols, (long long)want_r, (long long)want_c);
    int64_t n = rows * cols;
    if (n == 0)
        return KVC_OK;
    if (w == NULL || scale == NULL || out == NULL)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "NULL buffer");

    dequant_job jobs[2];
    for (int i = 0; i < 2; i++) {
        jobs[i].w = w;
        jobs[i].scale = scale;
        jobs[i].out = out;
        jobs[i].rows = rows;
        jobs[i].cols = cols;
        jobs[i].scols = scols;
    }
    if (n < KVC_DEQUANT_THREAD_MIN || srows < 2) {
        jobs[0].tr_begin = 0;
        jobs[0].tr_end = srows;
        dequant_tile_rows(&jobs[0]);
        return KVC_OK;
    }
    /* Two halves of the tile rows; each element is computed the same way
     * whichever thread does it, so the split cannot change the result. */
    jobs[0].tr_begin = 0;
    jobs[0].tr_end = srows / 2;
    jobs[1].tr_begin = srows / 2;
    jobs[1].tr_end = srows;
    pthread_t th;
    if (pthread_create(&th, NULL, dequant_thread, &jobs[1]) != 0) {
        jobs[0].tr_end = srows; /* no thread: do it all here */
        dequant_tile_rows(&jobs[0]);
        return KVC_OK;
    }
    dequant_tile_rows(&jobs[0]);
    pthread_join(th, NULL);
    return KVC_OK;
}

/* ------------------------------------------------------------ widening */

void kvc_widen_bf16(const void *src, size_t n, float *out)
{
    const unsigned char *p = (const unsigned char *)src;
    for (size_t i = 0; i < n; i++) {
        uint16_t h = (uint16_t)(p[2 * i] | (p[2 * i + 1] << 8));
        out[i] = kvc_bf16_to_f32(h);
    }
}

void kvc_widen_f16(const void *src, size_t n, float *out)
{
    const unsigned char *p = (const unsigned char *)src;
    for (size_t i = 0; i < n; i++) {
        uint16_t h = (uint16_t)(p[2 * i] | (p[2 * i + 1] << 8));
        out[i] = kvc_fp16_to_f32(h);
    }
}

void kvc_widen_f32(const void *src, size_t n, float *out)
{
    if (n > 0)
        memcpy(out, src, n * sizeof(float)); /* the host is little-endian (configure) */
}

/* ------------------------------------------------------------ tensors */

const char *kvc_dequant_scale_name(const char *weight, char *buf, size_t size)
{
    static const char suffix[] = ".weight";
    size_t n = strlen(weight);
    size_t slen = sizeof suffix - 1;
    if (n >= slen && strcmp(weight + n - slen, suffix) == 0)
        n -= slen;
    if (n + sizeof ".scale" > size)
        return NULL;
    memcpy(buf, weight, n);
    memcpy(buf + n, ".scale", sizeof ".scale");
    return buf;
}
