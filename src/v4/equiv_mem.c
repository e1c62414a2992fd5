/* kvcert: a backend table that runs another backend's operations with
 * every array in that backend's memory (v4/equiv.h,
 * kvc_equiv_mem_proxy_create).
 *
 * Each entry allocates one block of the inner backend's memory per array
 * argument (mem_alloc), uploads the inputs (and the arrays read and
 * written in place), calls the inner operation with the block pointers,
 * downloads the outputs (mem_download waits for the queued work and
 * reports its failures) and frees the blocks. An array passed twice (an
 * in-place call such as hadamard_rows with out == x) gets one block. When
 * a shape is invalid (negative counts, sizes that overflow) or an array
 * is NULL the call goes to the inner operation unchanged, so argument
 * errors are the inner backend's own.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/fp8block.h"
#include "codec/kakeya.h"
#include "core/backend.h"
#include "stats/metrics.h"
#include "v4/equiv.h"

#define MAX_ARRAYS 12

typedef struct proxy {
    kvc_backend table; /* first: the kvc_backend pointer is the proxy's */
    const kvc_backend *inner;
    char name[64];
} proxy;

static const kvc_backend *inner_of(const kvc_backend *be)
{
    return ((const proxy *)be)->inner;
}

/* ------------------------------------------------------------ staging */

typedef struct staged {
    void *host;
    void *dev;
    size_t bytes;
    int write;
} staged;

typedef struct stage_set {
    const kvc_backend *in;
    staged a[MAX_ARRAYS];
    int n;
} stage_set;

static void stage_init(stage_set *s, const kvc_backend *in)
{
    memset(s, 0, sizeof *s);
    s->in = in;
}

/* Puts the host array p of `bytes` bytes into backend memory (*dev);
 * read: upload it; write: download it in stage_end. */
static kvc_status stage(stage_set *s, const void *p, size_t bytes, int read, int write,
                        void **dev, kvc_error *err)
{
    for (int i = 0; i < s->n; i++)
        if (s->a[i].host == p && s->a[i].bytes == bytes) { /* the same array again */
            s->a[i].write |= write;
            *dev = s->a[i].dev;
            return KVC_OK;
        }
    if (s->n == MAX_ARRAYS)
        return kvc_error_set(err, KVC_INTERNAL, "mem proxy: more than %d arrays", MAX_ARRAYS);
    staged *a = &s->a[s->n];
    kvc_status st = s->in->mem_alloc(s->in, bytes, &a->dev, err);
    if (st != KVC_OK)
        return st;
    a->host = (void *)(uintptr_t)p;
    a->bytes = bytes;
    a->write = write;
    s->n++;
    if (read && bytes > 0) {
        st = s->in->mem_upload(s->in, a->dev, p, bytes, err);
        if (st != KVC_OK)
            return st;
    }
    *dev = a->dev;
    return KVC_OK;
}

/* After the call (status st): the outputs back to the host when st is
 * KVC_OK, then every block freed. Returns st or the first copy failure. */
static kvc_status stage_end(stage_set *s, kvc_status st, kvc_error *err)
{
    for (int i = 0; i < s->n && st == KVC_OK; i++)
        if (s->a[i].write && s->a[i].bytes > 0)
            st = s->in->mem_download(s->in, s->a[i].host, s->a[i].dev, s->a[i].bytes, err);
    for (int i = 0; i < s->n; i++)
        s->in->mem_free(s->in, s->a[i].dev);
    s->n = 0;
    return st;
}

/* a * b * size, or 0 with *ok = 0 when negative or overflowing. */
static size_t nbytes(int64_t a, int64_t b, size_t size, int *ok)
{
    if (a < 0 || b < 0 || (b != 0 && (uint64_t)a > SIZE_MAX / (uint64_t)b)) {
        *ok = 0;
        return 0;
    }
    size_t ab = (size_t)a * (size_t)b;
    if (size != 0 && ab > SIZE_MAX / size) {
        *ok = 0;
        return 0;
    }
    return ab * size;
}

#define IN(p, bytes, dev) stage(&s, (p), (bytes), 1, 0, (void **)(dev), err)
#define OUT(p, bytes, dev) stage(&s, (p), (bytes), 0, 1, (void **)(dev), err)
#define INOUT(p, bytes, dev) stage(&s, (p), (bytes), 1, 1, (void **)(dev), err)
#define STAGE(expr)                                                            \
    do {                                                                       \
        st = (expr);                                                           \
        if (st != KVC_OK)                                                      \
            return stage_end(&s, st, err);                                     \
    } while (0)

/* ------------------------------------------------------------ matrix products */

static kvc_status px_matrix_create(const kvc_backend *be, const float *w, int64_t n, int64_t k,
                                   kvc_matrix **out, kvc_error *err)
{
    const kvc_backend *in = inner_of(be);
    return in->matrix_create(in, w, n, k, out, err);
}

static void px_matrix_destroy(const kvc_backend *be, kvc_matrix *m)
{
    const kvc_backend *in = inner_of(be);
    in->matrix_destroy(in, m);
}

static kvc_status px_matmul(const kvc_backend *be, const float *x, int64_t rows,
                            const kvc_matrix *w, float *y, kvc_error *err)
{
    const kvc_backend *in = inner_of(be);
    int ok = w != NULL && x != NULL && y != NULL && rows > 0;
    size_t xb = ok ? nbytes(rows, w->k, sizeof(float), &ok) : 0;
    size_t yb = ok ? nbytes(rows, w->n, sizeof(float), &ok) : 0;
    if (!ok)
        return in->matmul(in, x, rows, w, y, err);
    stage_set s;
    stage_init(&s, in);
    kvc_status st;
    const float *dx;
    float *dy;
    STAGE(IN(x, xb, &dx));
    STAGE(OUT(y, yb, &dy));
    return stage_end(&s, in->matmul(in, dx, rows, w, dy, err), err);
}

static kvc_status px_matmul_group(const kvc_backend *be, const float *x, int64_t rows, int count,
                                  const kvc_matrix *const *w, float *const *y, kvc_error *err)
{
    const kvc_backend *in = inner_of(be);
    int ok = x != NULL && w != NULL && y != NULL && rows > 0 && count >= 1 && count <= 8;
    for (int p = 0; ok && p < count; p++)
        ok = w[p] != NULL && y[p] != NULL && w[p]->k == w[0]->k;
    size_t xb = ok ? nbytes(rows, w[0]->k, sizeof(float), &ok) : 0;
    if (!ok)
        return in->matmul_group(in, x, rows, count, w, y, err);
    stage_set s;
    stage_init(&s, in);
    kvc_status st;
    const float *dx;
    float *dy[8];
    STAGE(IN(x, xb, &dx));
    for (int p = 0; p < count; p++) {
        size_t yb = nbytes(rows, w[p]->n, sizeof(float), &ok);
        if (!ok)
            return stage_end(&s, in->matmul_group(in, x, rows, count, w, y, err), err);
        STAGE(OUT(y[p], yb, &dy[p]));
    }
    return stage_end(&s, in->matmul_group(in, dx, rows, count, w, dy, err), err);
}

/* ------------------------------------------------------------ element-wise, per row */

static kvc_status px_round_bf16(const kvc_backend *be, float *x, int64_t n, kvc_error *err)
{
    const kvc_backend *in = inner_of(be);
    int ok = x != NULL && n > 0;
    size_t b = ok ? nbytes(n, 1, sizeof(float), &ok) : 0;
    if (!ok)
        return in->round_bf16(in, x, n, err);
    stage_set s;
    stage_init(&s, in);
    kvc_status st;
    float *dx;
    STAGE(INOUT(x, b, &dx));
    return stage_end(&s, in->round_bf16(in, dx, n, err), err);
}

static kvc_status px_act_quant(const kvc_backend *be, float *x, int64_t rows, int64_t cols,
                               kvc_error *err)
{
    const kvc_backend *in = inner_of(be);
    int ok = x != NULL && rows > 0 && cols > 0;
    size_t b = ok ? nbytes(rows, cols, sizeof(float), &ok) : 0;
    if (!ok)
        return in->act_quant(in, x, rows, cols, err);
    stage_set s;
    stage_init(&s, in);
    kvc_status st;
    float *dx;
    STAGE(INOUT(x, b, &dx));
    return stage_end(&s, in->act_quant(in, dx, rows, cols, err), err);
}

static kvc_status px_rmsnorm(const kvc_backend *be, const float *x, int64_t rows, int64_t d,
                             const float *g, float eps, uint16_t *y, kvc_error *err)
{
    const kvc_backend *in = inner_of(be);
    int ok = x != NULL && g != NULL && y != NULL && rows > 0 && d > 0;
    size_t xb = ok ? nbytes(rows, d, sizeof(float), &ok) : 0;
    size_t gb = ok ? nbytes(d, 1, sizeof(float), &ok) : 0;
    size_t yb = ok ? nbytes(rows, d, sizeof(uint16_t), &ok) : 0;
    if (!ok)
        return in->rmsnorm(in, x, rows, d, g, eps, y, err);
    stage_set s;
    stage_init(&s, in);
    kvc_status st;
    const float *dx, *dg;
    uint16_t *dy;
    STAGE(IN(x, xb, &dx));
    STAGE(IN(g, gb, &dg));
    STAGE(OUT(y, yb, &dy));
    return stage_end(&s, in->rmsnorm(in, dx, rows, d, dg, eps, dy, err), err);
}

static kvc_status px_rope(const kvc_backend *be, uint16_t *x, int64_t rows, int64_t stride,
                          int64_t offset, const float *freqs, int nfreq, int64_t pos_step,
                          kvc_error *err)
{
    const kvc_backend *in = inner_of(be);
    int ok = x != NULL && freqs != NULL && rows > 0 && stride > 0 && nfreq > 0;
    size_t xb = ok ? nbytes(rows, stride, sizeof(uint16_t), &ok) : 0;
    size_t fb = ok ? nbytes(nfreq, 1, sizeof(float), &ok) : 0;
    if (!ok)
        return in->rope(in, x, rows, stride, offset, freqs, nfreq, pos_step, err);
    stage_set s;
    stage_init(&s, in);
    kvc_status st;
    uint16_t *dx;
    const float *df;
    STAGE(INOUT(x, xb, &dx));
    STAGE(IN(freqs, fb, &df));
    return stage_end(&s, in->rope(in, dx, rows, stride, offset, df, nfreq, pos_step, err), err);
}

static kvc_status px_pool(const kvc_backend *be, const float *kv, const float *score,
                          const float *ape, int64_t tokens, int64_t ratio, int overlap,
                          int64_t d, float *out, kvc_error *err)
{
    const kvc_backend *in = inner_of(be);
    int ok = kv != NULL && score != NULL && ape != NULL && out != NULL && tokens > 0 &&
             ratio > 0 && tokens % ratio == 0 && d > 0 && (overlap == 0 || overlap == 1);
    int64_t coff = overlap ? 2 : 1;
    size_t ib = ok ? nbytes(tokens, coff * d, sizeof(float), &ok) : 0;
    size_t ab = ok ? nbytes(ratio, coff * d, sizeof(float), &ok) : 0;
    size_t ob = ok ? nbytes(tokens / ratio, d, sizeof(float), &ok) : 0;
    if (!ok)
        return in->pool(in, kv, score, ape, tokens, ratio, overlap, d, out, err);
    stage_set s;
    stage_init(&s, in);
    kvc_status st;
    const float *dkv, *dsc, *dape;
    float *dout;
    STAGE(IN(kv, ib, &dkv));
    STAGE(IN(score, ib, &dsc));
    STAGE(IN(ape, ab, &dape));
    STAGE(OUT(out, ob, &dout));
    return stage_end(&s, in->pool(in, dkv, dsc, dape, tokens, ratio, overlap, d, dout, err), err);
}

static kvc_status px_kvsim(const kvc_backend *be, uint16_t *x, int64_t rows, int64_t stride,
                           int64_t dims, kvc_kvsim_kind kind, kvc_error *err)
{
    const kvc_backend *in = inner_of(be);
    int ok = x != NULL && rows > 0 && stride > 0;
    size_t b = ok ? nbytes(rows, stride, sizeof(uint16_t), &ok) : 0;
    if (!ok)
        return in->kvsim(in, x, rows, stride, dims, kind, err);
    stage_set s;
    stage_init(&s, in);
    kvc_status st;
    uint16_t *dx;
    STAGE(INOUT(x, b, &dx));
    return stage_end(&s, in->kvsim(in, dx, rows, stride, dims, kind, err), err);
}

/* ------------------------------------------------------------ codecs */

static int params_ok(const struct kvc_kakeya_params *p)
{
    return p != NULL && p->block != 0 && p->dim > 0;
}

static kvc_status px_codec_roundtrip(const kvc_backend *be, const struct kvc_kakeya_params *p,
                                     const float *x, int64_t n, float *out, kvc_error *err)
{
    const kvc_backend *in = inner_of(be);
    int ok = params_ok(p) && x != NULL && out != NULL && n > 0;
    size_t b = ok ? nbytes(n, p->dim, sizeof(float), &ok) : 0;
    if (!ok)
        return in->codec_roundtrip(in, p, x, n, out, err);
    stage_set s;
    stage_init(&s, in);
    kvc_status st;
    const float *dx;
    float *dy;
    STAGE(IN(x, b, &dx));
    STAGE(OUT(out, b, &dy));
    return stage_end(&s, in->codec_roundtrip(in, p, dx, n, dy, err), err);
}

static kvc_status px_codec_encode(const kvc_backend *be, const struct kvc_kakeya_params *p,
                                  const float *x, int64_t n, uint8_t *stream, size_t size,
                                  kvc_error *err)
{
    const kvc_backend *in = inner_of(be);
    int ok = params_ok(p) && x != NULL && stream != NULL && n > 0;
    size_t b = ok ? nbytes(n, p->dim, sizeof(float), &ok) : 0;
    if (!ok)
        return in->codec_encode(in, p, x, n, stream, size, err);
    stage_set s;
    stage_init(&s, in);
    kvc_status st;
    const float *dx;
    uint8_t *ds;
    STAGE(IN(x, b, &dx));
    STAGE(OUT(stream, size, &ds));
    return stage_end(&s, in->codec_encode(in, p, dx, n, ds, size, err), err);
}

static kvc_status px_codec_decode(const kvc_backend *be, const struct kvc_kakeya_params *p,
                                  const uint8_t *stream, size_t size, int64_t n, float *out,
                                  kvc_error *err)
{
    const kvc_backend *in = inner_of(be);
    int ok = params_ok(p) && stream != NULL && out != NULL && n > 0;
    size_t b = ok ? nbytes(n, p->dim, sizeof(float), &ok) : 0;
    if (!ok)
        return in->codec_decode(in, p, stream, size, n, out, err);
    stage_set s;
    stage_init(&s, in);
    kvc_status st;
    const uint8_t *ds;
    float *dy;
    STAGE(IN(stream, size, &ds));
    STAGE(OUT(out, b, &dy));
    return stage_end(&s, in->codec_decode(in, p, ds, size, n, dy, err), err);
}

static kvc_status px_fp8(const kvc_backend *be, const float *x, int64_t n, float *out,
                         int ds_mla, kvc_error *err)
{
    const kvc_backend *in = inner_of(be);
    int ok = x != NULL && out != NULL && n > 0;
    size_t b = ok ? nbytes(n, KVC_FP8_DIM, sizeof(float), &ok) : 0;
    if (!ok)
        return ds_mla ? in->fp8_ds_mla(in, x, n, out, err) : in->fp8_per64(in, x, n, out, err);
    stage_set s;
    stage_init(&s, in);
    kvc_status st;
    const float *dx;
    float *dy;
    STAGE(IN(x, b, &dx));
    STAGE(OUT(out, b, &dy));
    st = ds_mla ? in->fp8_ds_mla(in, dx, n, dy, err) : in->fp8_per64(in, dx, n, dy, err);
    return stage_end(&s, st, err);
}

static kvc_status px_fp8_per64(const kvc_backend *be, const float *x, int64_t n, float *out,
                               kvc_error *err)
{
    return px_fp8(be, x, n, out, 0, err);
}

static kvc_status px_fp8_ds_mla(const kvc_backend *be, const float *x, int64_t n, float *out,
                                kvc_error *err)
{
    return px_fp8(be, x, n, out, 1, err);
}

/* ------------------------------------------------------------ statistics */

static kvc_status px_recon_metrics(const kvc_backend *be, const float *x, const float *xhat,
                                   int64_t n, int d, struct kvc_recon_metrics *out,
                                   kvc_error *err)
{
    const kvc_backend *in = inner_of(be);
    int ok = x != NULL && xhat != NULL && out != NULL && n > 0 && d > 0;
    size_t b = ok ? nbytes(n, d, sizeof(float), &ok) : 0;
    if (!ok)
        return in->recon_metrics(in, x, xhat, n, d, out, err);
    stage_set s;
    stage_init(&s, in);
    kvc_status st;
    const float *dx, *dh;
    struct kvc_recon_metrics *dm;
    STAGE(IN(x, b, &dx));
    STAGE(IN(xhat, b, &dh));
    STAGE(INOUT(out, sizeof *out, &dm));
    return stage_end(&s, in->recon_metrics(in, dx, dh, n, d, dm, err), err);
}

static kvc_status px_column_moments(const kvc_backend *be, const float *x, int64_t n, int d,
                                    double *mu, double *var, double *m4, kvc_error *err)
{
    const kvc_backend *in = inner_of(be);
    int ok = x != NULL && mu != NULL && var != NULL && m4 != NULL && n > 0 && d > 0;
    size_t b = ok ? nbytes(n, d, sizeof(float), &ok) : 0;
    size_t db = (size_t)(d > 0 ? d : 0) * sizeof(double);
    if (!ok)
        return in->column_moments(in, x, n, d, mu, var, m4, err);
    stage_set s;
    stage_init(&s, in);
    kvc_status st;
    const float *dx;
    double *dm, *dv, *d4;
    STAGE(IN(x, b, &dx));
    STAGE(OUT(mu, db, &dm));
    STAGE(OUT(var, db, &dv));
    STAGE(OUT(m4, db, &d4));
    return stage_end(&s, in->column_moments(in, dx, n, d, dm, dv, d4, err), err);
}

static kvc_status px_column_quantile(const kvc_backend *be, const double *a, int64_t n, int d,
                                     double q, double *out, kvc_error *err)
{
    const kvc_backend *in = inner_of(be);
    int ok = a != NULL && out != NULL && n > 0 && d > 0;
    size_t b = ok ? nbytes(n, d, sizeof(double), &ok) : 0;
    size_t ob = (size_t)(d > 0 ? d : 0) * sizeof(double);
    if (!ok)
        return in->column_quantile(in, a, n, d, q, out, err);
    stage_set s;
    stage_init(&s, in);
    kvc_status st;
    const double *da;
    double *dout;
    STAGE(IN(a, b, &da));
    STAGE(OUT(out, ob, &dout));
    return stage_end(&s, in->column_quantile(in, da, n, d, q, dout, err), err);
}

/* ------------------------------------------------------------ backend memory */

static kvc_status px_mem_alloc(const kvc_backend *be, size_t bytes, void **out, kvc_error *err)
{
    const kvc_backend *in = inner_of(be);
    return in->mem_alloc(in, bytes, out, err);
}

static void px_mem_free(const kvc_backend *be, void *p)
{
    const kvc_backend *in = inner_of(be);
    in->mem_free(in, p);
}

static kvc_status px_mem_upload(const kvc_backend *be, void *dst, const void *src, size_t bytes,
                                kvc_error *err)
{
    const kvc_backend *in = inner_of(be);
    return in->mem_upload(in, dst, src, bytes, err);
}

static kvc_status px_mem_download(const kvc_backend *be, void *dst, const void *src,
                                  size_t bytes, kvc_error *err)
{
    const kvc_backend *in = inner_of(be);
    return in->mem_download(in, dst, src, bytes, err);
}

static kvc_status px_mem_sync(const kvc_backend *be, kvc_error *err)
{
    const kvc_backend *in = inner_of(be);
    return in->mem_sync(in, err);
}

static kvc_status px_mem_copy(const kvc_backend *be, void *dst, const void *src, size_t bytes,
                              kvc_error *err)
{
    const kvc_backend *in = inner_of(be);
    return in->mem_copy(in, dst, src, bytes, err);
}

/* ------------------------------------------------------------ chaining helpers */

static kvc_status px_widen_bf16(const kvc_backend *be, const uint16_t *x, int64_t n, float *out,
                                kvc_error *err)
{
    const kvc_backend *in = inner_of(be);
    int ok = x != NULL && out != NULL && n > 0;
    size_t xb = ok ? nbytes(n, 1, sizeof(uint16_t), &ok) : 0;
    size_t ob = ok ? nbytes(n, 1, sizeof(float), &ok) : 0;
    if (!ok)
        return in->widen_bf16(in, x, n, out, err);
    stage_set s;
    stage_init(&s, in);
    kvc_status st;
    const uint16_t *dx;
    float *dy;
    STAGE(IN(x, xb, &dx));
    STAGE(OUT(out, ob, &dy));
    return stage_end(&s, in->widen_bf16(in, dx, n, dy, err), err);
}

static kvc_status px_hadamard_rows(const kvc_backend *be, const float *x, int64_t n, int d,
                                   float *out, kvc_error *err)
{
    const kvc_backend *in = inner_of(be);
    int ok = x != NULL && out != NULL && n > 0 && d > 0;
    size_t b = ok ? nbytes(n, d, sizeof(float), &ok) : 0;
    if (!ok)
        return in->hadamard_rows(in, x, n, d, out, err);
    stage_set s;
    stage_init(&s, in);
    kvc_status st;
    const float *dx;
    float *dy;
    STAGE(IN(x, b, &dx));
    STAGE(OUT(out, b, &dy)); /* out == x: the same block, read and written */
    return stage_end(&s, in->hadamard_rows(in, dx, n, d, dy, err), err);
}

static kvc_status px_abs_scaled(const kvc_backend *be, const float *y, int64_t n, int d,
                                const double *sigma, double *out, kvc_error *err)
{
    const kvc_backend *in = inner_of(be);
    int ok = y != NULL && sigma != NULL && out != NULL && n > 0 && d > 0;
    size_t yb = ok ? nbytes(n, d, sizeof(float), &ok) : 0;
    size_t ob = ok ? nbytes(n, d, sizeof(double), &ok) : 0;
    size_t sb = (size_t)(d > 0 ? d : 0) * sizeof(double);
    if (!ok)
        return in->abs_scaled(in, y, n, d, sigma, out, err);
    stage_set s;
    stage_init(&s, in);
    kvc_status st;
    const float *dy;
    const double *ds;
    double *dout;
    STAGE(IN(y, yb, &dy));
    STAGE(IN(sigma, sb, &ds));
    STAGE(OUT(out, ob, &dout));
    return stage_end(&s, in->abs_scaled(in, dy, n, d, ds, dout, err), err);
}

static kvc_status px_first_difference(const kvc_backend *be, const void *a, const void *b,
                                      int64_t nwords, int64_t *index, kvc_error *err)
{
    const kvc_backend *in = inner_of(be);
    int ok = a != NULL && b != NULL && index != NULL && nwords > 0;
    size_t wb = ok ? nbytes(nwords, 1, sizeof(uint32_t), &ok) : 0;
    if (!ok)
        return in->first_difference(in, a, b, nwords, index, err);
    stage_set s;
    stage_init(&s, in);
    kvc_status st;
    const void *da, *db;
    int64_t *di;
    STAGE(IN(a, wb, &da));
    STAGE(IN(b, wb, &db));
    STAGE(OUT(index, sizeof *index, &di));
    return stage_end(&s, in->first_difference(in, da, db, nwords, di, err), err);
}

static kvc_status px_ds_mla_encode(const kvc_backend *be, const float *x, int64_t n,
                                   uint8_t *rec, kvc_error *err)
{
    const kvc_backend *in = inner_of(be);
    int ok = x != NULL && rec != NULL && n > 0;
    size_t xb = ok ? nbytes(n, KVC_FP8_DIM, sizeof(float), &ok) : 0;
    size_t rb = ok ? nbytes(n, KVC_FP8_DS_MLA_BYTES, 1, &ok) : 0;
    if (!ok)
        return in->fp8_ds_mla_encode(in, x, n, rec, err);
    stage_set s;
    stage_init(&s, in);
    kvc_status st;
    const float *dx;
    uint8_t *dr;
    STAGE(IN(x, xb, &dx));
    STAGE(OUT(rec, rb, &dr));
    return stage_end(&s, in->fp8_ds_mla_encode(in, dx, n, dr, err), err);
}

static kvc_status px_ds_mla_decode(const kvc_backend *be, const uint8_t *rec, size_t size,
                                   int64_t n, float *out, kvc_error *err)
{
    const kvc_backend *in = inner_of(be);
    int ok = rec != NULL && out != NULL && n > 0;
    size_t ob = ok ? nbytes(n, KVC_FP8_DIM, sizeof(float), &ok) : 0;
    if (!ok)
        return in->fp8_ds_mla_decode(in, rec, size, n, out, err);
    stage_set s;
    stage_init(&s, in);
    kvc_status st;
    const uint8_t *dr;
    float *dy;
    STAGE(IN(rec, size, &dr));
    STAGE(OUT(out, ob, &dy));
    return stage_end(&s, in->fp8_ds_mla_decode(in, dr, size, n, dy, err), err);
}

/* ------------------------------------------------------------ the table */

kvc_status kvc_equiv_mem_proxy_create(const kvc_backend *inner, kvc_backend **out,
                                      kvc_error *err)
{
    *out = NULL;
    if (inner == NULL || inner->mem_alloc == NULL || inner->mem_free == NULL ||
        inner->mem_upload == NULL || inner->mem_download == NULL || inner->mem_sync == NULL)
        return kvc_error_set(err, KVC_BACKEND_UNAVAILABLE, "%s has no backend memory",
                             inner != NULL ? inner->name : "(null)");
    proxy *px = (proxy *)calloc(1, sizeof *px);
    if (px == NULL)
        return kvc_error_set(err, KVC_NOMEM, "backend-memory proxy");
    px->inner = inner;
    snprintf(px->name, sizeof px->name, "%s[mem]", inner->name);
    kvc_backend *t = &px->table;
    t->name = px->name;
    t->ctx = px;
#define WRAP(member, fn) t->member = inner->member != NULL ? fn : NULL
    WRAP(matrix_create, px_matrix_create);
    WRAP(matrix_destroy, px_matrix_destroy);
    WRAP(matmul, px_matmul);
    WRAP(round_bf16, px_round_bf16);
    WRAP(act_quant, px_act_quant);
    WRAP(rmsnorm, px_rmsnorm);
    WRAP(rope, px_rope);
    WRAP(pool, px_pool);
    WRAP(kvsim, px_kvsim);
    WRAP(codec_roundtrip, px_codec_roundtrip);
    WRAP(codec_encode, px_codec_encode);
    WRAP(codec_decode, px_codec_decode);
    WRAP(fp8_per64, px_fp8_per64);
    WRAP(fp8_ds_mla, px_fp8_ds_mla);
    WRAP(recon_metrics, px_recon_metrics);
    WRAP(column_moments, px_column_moments);
    WRAP(column_quantile, px_column_quantile);
    WRAP(mem_alloc, px_mem_alloc);
    WRAP(mem_free, px_mem_free);
    WRAP(mem_upload, px_mem_upload);
    WRAP(mem_download, px_mem_download);
    WRAP(mem_sync, px_mem_sync);
    WRAP(mem_copy, px_mem_copy);
    WRAP(matmul_group, px_matmul_group);
    WRAP(widen_bf16, px_widen_bf16);
    WRAP(hadamard_rows, px_hadamard_rows);
    WRAP(abs_scaled, px_abs_scaled);
    WRAP(first_difference, px_first_difference);
    WRAP(fp8_ds_mla_encode, px_ds_mla_encode);
    WRAP(fp8_ds_mla_decode, px_ds_mla_decode);
#undef WRAP
    *out = t;
    return KVC_OK;
}

void kvc_equiv_mem_proxy_destroy(kvc_backend *be)
{
    free(be); /* the table is the proxy's first member */
}
