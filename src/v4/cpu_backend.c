/* kvcert: the CPU backend's table of operations.
 *
 * Each operation is a loop driver around the shared scalar code of
 * the headers of src/v4/ (the CUDA backend calls the same functions from its kernels)
 * split into row ranges over the backend's threads. A split never changes
 * a result: every output is computed whole, in its specified order, by
 * one call of the scalar code.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/fp8block.h"
#include "codec/hadamard.h"
#include "codec/kakeya.h"
#include "core/backend.h"
#include "stats/audit.h"
#include "stats/metrics.h"
#include "v4/cpu.h"
#include "v4/kvsim.h"
#include "v4/norm.h"
#include "v4/pool.h"
#include "v4/rope.h"

typedef struct cpu_ctx {
    kvc_cpu_isa isa;
    int threads;
    char name[32];
} cpu_ctx;

static const cpu_ctx *ctx_of(const kvc_backend *be)
{
    return (const cpu_ctx *)be->ctx;
}

/* Row ranges: part p of n gets rows [rows*p/n, rows*(p+1)/n). */
static int parts_for(const kvc_backend *be, int64_t rows, int64_t work_per_row)
{
    int t = ctx_of(be)->threads;
    if (rows * work_per_row < 65536)
        return 1;
    if (rows < t)
        return (int)rows;
    return t;
}

static void part_rows(int64_t rows, int part, int nparts, int64_t *r0, int64_t *r1)
{
    *r0 = rows * part / nparts;
    *r1 = rows * (part + 1) / nparts;
}

/* Each row-range driver exists twice: plain C, and compiled for AVX2 + FMA
 * with every call inlined into it (flatten), so that fma() and fmaf() in
 * the shared scalar code (detmath's functions, the RMSNorm sum) become
 * single instructions instead of library calls (about 4x faster expf and
 * sinf here). fma is one correctly rounded IEEE operation either way, and
 * -ffp-contract=off still forbids contracting anything else, so both
 * variants give the same bits. The scalar backend uses the plain one. */
#if defined(__x86_64__) && defined(__GNUC__)
#define KVC_PART_VARIANTS(op)                                                  \
    static void op##_part_plain(void *arg, int part, int nparts)               \
    {                                                                          \
        op##_rows(arg, part, nparts);                                          \
    }                                                                          \
    __attribute__((target("avx2,fma"), flatten)) static void op##_part_fma(    \
        void *arg, int part, int nparts)                                       \
    {                                                                          \
        op##_rows(arg, part, nparts);                                          \
    }
#define PART(op) (ctx_of(be)->isa == KVC_CPU_ISA_SCALAR ? op##_part_plain : op##_part_fma)
#else
#define KVC_PART_VARIANTS(op)                                                  \
    static void op##_part_plain(void *arg, int part, int nparts)               \
    {                                                                          \
        op##_rows(arg, part, nparts);                                          \
    }
#define PART(op) op##_part_plain
#endif

static kvc_status bad_shape(kvc_error *err, const char *op)
{
    return kvc_error_set(err, KVC_INVALID_ARGUMENT, "%s: bad shape or NULL array", op);
}

/* ------------------------------------------------------------ matmul */

static kvc_status cpu_matrix_create(const kvc_backend *be, const float *w, int64_t n,
                                    int64_t k, kvc_matrix **out, kvc_error *err)
{
    return kvc__cpu_matrix_create(ctx_of(be)->isa, w, n, k, out, err);
}

static void cpu_matrix_destroy(const kvc_backend *be, kvc_matrix *m)
{
    (void)be;
    kvc__cpu_matrix_destroy(m);
}

static kvc_status cpu_matmul(const kvc_backend *be, const float *x, int64_t rows,
                             const kvc_matrix *w, float *y, kvc_error *err)
{
    return kvc__cpu_matmul(ctx_of(be)->threads, x, rows, w, y, err);
}

/* ------------------------------------------------------------ element-wise */

typedef struct flat_job {
    float *x;
    int64_t rows, cols;
} flat_job;

static inline void round_rows(void *arg, int part, int nparts)
{
    const flat_job *j = (const flat_job *)arg;
    int64_t a, b;
    part_rows(j->rows, part, nparts, &a, &b);
    for (int64_t i = a; i < b; i++)
        j->x[i] = kvc_round_bf16(j->x[i]);
}
KVC_PART_VARIANTS(round)

static kvc_status cpu_round_bf16(const kvc_backend *be, float *x, int64_t n, kvc_error *err)
{
    if (n < 0 || (n > 0 && x == NULL))
        return bad_shape(err, "round_bf16");
    flat_job j = {x, n, 1};
    kvc__parallel_run(parts_for(be, n, 1), PART(round), &j);
    return KVC_OK;
}

static inline void act_quant_rows(void *arg, int part, int nparts)
{
    const flat_job *j = (const flat_job *)arg;
    int64_t a, b;
    part_rows(j->rows, part, nparts, &a, &b);
    for (int64_t r = a; r < b; r++)
        for (int64_t c = 0; c < j->cols; c += KVC_ACT_QUANT_BLOCK)
            kvc_act_quant_block(j->x + r * j->cols + c, KVC_ACT_QUANT_BLOCK);
}
KVC_PART_VARIANTS(act_quant)

static kvc_status cpu_act_quant(const kvc_backend *be, float *x, int64_t rows, int64_t cols,
                                kvc_error *err)
{
    if (rows < 0 || cols < 1 || cols % KVC_ACT_QUANT_BLOCK != 0 || (rows > 0 && x == NULL))
        return bad_shape(err, "act_quant");
    flat_job j = {x, rows, cols};
    kvc__parallel_run(parts_for(be, rows, cols), PART(act_quant), &j);
    return KVC_OK;
}

/* ------------------------------------------------------------ RMSNorm */

typedef struct norm_job {
    const float *x, *g;
    int64_t rows, d;
    float eps;
    uint16_t *y;
} norm_job;

static inline void norm_rows(void *arg, int part, int nparts)
{
    const norm_job *j = (const norm_job *)arg;
    int64_t a, b;
    part_rows(j->rows, part, nparts, &a, &b);
    for (int64_t r = a; r < b; r++)
        kvc_rmsnorm_row(j->x + r * j->d, j->d, j->g, j->eps, j->y + r * j->d);
}
KVC_PART_VARIANTS(norm)

static kvc_status cpu_rmsnorm(const kvc_backend *be, const float *x, int64_t rows, int64_t d,
                              const float *g, float eps, uint16_t *y, kvc_error *err)
{
    if (rows < 0 || d < 1 || (rows > 0 && (x == NULL || g == NULL || y == NULL)))
        return bad_shape(err, "rmsnorm");
    norm_job j = {x, g, rows, d, eps, y};
    kvc__parallel_run(parts_for(be, rows, d), PART(norm), &j);
    return KVC_OK;
}

/* ------------------------------------------------------------ RoPE */

typedef struct rope_job {
    uint16_t *x;
    int64_t rows, stride, offset, pos_step;
    const float *freqs;
    int nfreq;
} rope_job;

static inline void rope_rows(void *arg, int part, int nparts)
{
    const rope_job *j = (const rope_job *)arg;
    int64_t a, b;
    part_rows(j->rows, part, nparts, &a, &b);
    for (int64_t r = a; r < b; r++)
        kvc_rope_row(j->x + r * j->stride + j->offset, j->freqs, j->nfreq, r * j->pos_step);
}
KVC_PART_VARIANTS(rope)

static kvc_status cpu_rope(const kvc_backend *be, uint16_t *x, int64_t rows, int64_t stride,
                           int64_t offset, const float *freqs, int nfreq, int64_t pos_step,
                           kvc_error *err)
{
    if (rows < 0 || nfreq < 1 || offset < 0 || offset + 2 * (int64_t)nfreq > stride ||
        pos_step < 0 || (rows > 0 && (x == NULL || freqs == NULL)) ||
        (rows > 0 && (rows - 1) * pos_step >= (INT64_C(1) << 24)))
        return bad_shape(err, "rope");
    rope_job j = {x, rows, stride, offset, pos_step, freqs, nfreq};
    kvc__parallel_run(parts_for(be, rows, 64 * nfreq), PART(rope), &j);
    return KVC_OK;
}

/* ------------------------------------------------------------ pooling */

typedef struct pool_job {
    const float *kv, *score, *ape;
    int64_t windows, ratio, d;
    int overlap;
    float *out;
} pool_job;

static inline void pool_rows(void *arg, int part, int nparts)
{
    const pool_job *j = (const pool_job *)arg;
    int64_t a, b;
    part_rows(j->windows, part, nparts, &a, &b);
    for (int64_t w = a; w < b; w++)
        for (int64_t c = 0; c < j->d; c++)
            j->out[w * j->d + c] =
                kvc_pool_channel(j->kv, j->score, j->ape, w, c, j->ratio, j->overlap, j->d);
}
KVC_PART_VARIANTS(pool)

static kvc_status cpu_pool(const kvc_backend *be, const float *kv, const float *score,
                           const float *ape, int64_t tokens, int64_t ratio, int overlap,
                           int64_t d, float *out, kvc_error *err)
{
    if (tokens < 0 || ratio < 1 || d < 1 || tokens % ratio != 0 ||
        (overlap ? 2 * ratio : ratio) > KVC_POOL_MAX_SLOTS ||
        (tokens > 0 && (kv == NULL || score == NULL || ape == NULL || out == NULL)))
        return bad_shape(err, "pool");
    pool_job j = {kv, score, ape, tokens / ratio, ratio, d, overlap != 0, out};
    kvc__parallel_run(parts_for(be, j.windows, d * ratio * 8), PART(pool), &j);
    return KVC_OK;
}

/* ------------------------------------------------------------ KV simulation */

typedef struct kvsim_job {
    uint16_t *x;
    int64_t rows, stride, dims;
    kvc_kvsim_kind kind;
} kvsim_job;

static inline void kvsim_rows(void *arg, int part, int nparts)
{
    const kvsim_job *j = (const kvsim_job *)arg;
    int64_t a, b;
    part_rows(j->rows, part, nparts, &a, &b);
    for (int64_t r = a; r < b; r++)
        for (int64_t c = 0; c < j->dims; c += KVC_KVSIM_BLOCK)
            kvc_kvsim_block_bf16(j->x + r * j->stride + c, KVC_KVSIM_BLOCK, j->kind);
}
KVC_PART_VARIANTS(kvsim)

static kvc_status cpu_kvsim(const kvc_backend *be, uint16_t *x, int64_t rows, int64_t stride,
                            int64_t dims, kvc_kvsim_kind kind, kvc_error *err)
{
    if (rows < 0 || dims < 0 || dims % KVC_KVSIM_BLOCK != 0 || dims > stride ||
        (kind != KVC_KVSIM_UNIFORM127 && kind != KVC_KVSIM_E4M3 &&
         kind != KVC_KVSIM_E4M3_POW2) ||
        (rows > 0 && x == NULL))
        return bad_shape(err, "kvsim");
    kvsim_job j = {x, rows, stride, dims, kind};
    kvc__parallel_run(parts_for(be, rows, dims * 4), PART(kvsim), &j);
    return KVC_OK;
}

/* ------------------------------------------------------------ codecs, statistics */
/* Thin wrappers over the host loops of src/codec and src/stats (one
 * thread; the per-vector and per-term code is the KVC_HD code the CUDA
 * kernels call). */

static kvc_status cpu_codec_roundtrip(const kvc_backend *be, const struct kvc_kakeya_params *p,
                                      const float *x, int64_t n, float *out, kvc_error *err)
{
    (void)be;
    if (n < 0 || (n > 0 && (x == NULL || out == NULL)))
        return bad_shape(err, "codec_roundtrip");
    return kvc_kakeya_roundtrip(p, x, (size_t)n, out, err);
}

static kvc_status cpu_codec_encode(const kvc_backend *be, const struct kvc_kakeya_params *p,
                                   const float *x, int64_t n, uint8_t *stream, size_t size,
                                   kvc_error *err)
{
    (void)be;
    if (n < 0 || (n > 0 && (x == NULL || stream == NULL)))
        return bad_shape(err, "codec_encode");
    return kvc_kakeya_encode(p, x, (size_t)n, stream, size, err);
}

static kvc_status cpu_codec_decode(const kvc_backend *be, const struct kvc_kakeya_params *p,
                                   const uint8_t *stream, size_t size, int64_t n, float *out,
                                   kvc_error *err)
{
    (void)be;
    if (n < 0 || (n > 0 && (stream == NULL || out == NULL)))
        return bad_shape(err, "codec_decode");
    return kvc_kakeya_decode(p, stream, size, (size_t)n, out, err);
}

static kvc_status cpu_fp8_per64(const kvc_backend *be, const float *x, int64_t n, float *out,
                                kvc_error *err)
{
    (void)be;
    if (n < 0 || (n > 0 && (x == NULL || out == NULL)))
        return bad_shape(err, "fp8_per64");
    kvc_fp8_per64(x, (size_t)n, out);
    return KVC_OK;
}

static kvc_status cpu_fp8_ds_mla(const kvc_backend *be, const float *x, int64_t n, float *out,
                                 kvc_error *err)
{
    (void)be;
    if (n < 0 || (n > 0 && (x == NULL || out == NULL)))
        return bad_shape(err, "fp8_ds_mla");
    kvc_fp8_ds_mla(x, (size_t)n, out);
    return KVC_OK;
}

static kvc_status cpu_recon_metrics(const kvc_backend *be, const float *x, const float *xhat,
                                    int64_t n, int d, struct kvc_recon_metrics *out,
                                    kvc_error *err)
{
    (void)be;
    if (n < 1)
        return bad_shape(err, "recon_metrics");
    return kvc_stats_recon(x, xhat, (size_t)n, d, out, err);
}

static kvc_status cpu_column_moments(const kvc_backend *be, const float *x, int64_t n, int d,
                                     double *mu, double *var, double *m4, kvc_error *err)
{
    (void)be;
    if (n < 1)
        return bad_shape(err, "column_moments");
    return kvc_stats_column_moments(x, (size_t)n, d, mu, var, m4, err);
}

static kvc_status cpu_column_quantile(const kvc_backend *be, const double *a, int64_t n, int d,
                                      double q, double *out, kvc_error *err)
{
    (void)be;
    if (n < 1)
        return bad_shape(err, "column_quantile");
    return kvc_stats_column_quantile(a, (size_t)n, d, q, out, err);
}

/* ------------------------------------------------------------ backend memory */
/* The CPU's backend memory is host memory: every operation runs in place
 * on it, synchronously. */

static kvc_status cpu_mem_alloc(const kvc_backend *be, size_t bytes, void **out, kvc_error *err)
{
    (void)be;
    *out = malloc(bytes > 0 ? bytes : 1);
    if (*out == NULL)
        return kvc_error_set(err, KVC_NOMEM, "%zu bytes of backend memory", bytes);
    return KVC_OK;
}

static void cpu_mem_free(const kvc_backend *be, void *p)
{
    (void)be;
    free(p);
}

static kvc_status cpu_mem_copy(const kvc_backend *be, void *dst, const void *src, size_t bytes,
                               kvc_error *err)
{
    (void)be;
    if (bytes > 0 && (dst == NULL || src == NULL))
        return bad_shape(err, "mem copy");
    if (bytes > 0 && dst != src)
        memmove(dst, src, bytes);
    return KVC_OK;
}

static kvc_status cpu_mem_sync(const kvc_backend *be, kvc_error *err)
{
    (void)be;
    (void)err;
    return KVC_OK;
}

/* ------------------------------------------------------------ chaining helpers */

static kvc_status cpu_widen_bf16(const kvc_backend *be, const uint16_t *x, int64_t n, float *out,
                                 kvc_error *err)
{
    (void)be;
    if (n < 0 || (n > 0 && (x == NULL || out == NULL)))
        return bad_shape(err, "widen_bf16");
    for (int64_t i = 0; i < n; i++)
        out[i] = kvc_bf16_to_f32(x[i]);
    return KVC_OK;
}

static kvc_status cpu_hadamard_rows(const kvc_backend *be, const float *x, int64_t n, int d,
                                    float *out, kvc_error *err)
{
    (void)be;
    if (n < 0 || kvc_hadamard_log2(d) < 0 || (n > 0 && (x == NULL || out == NULL)))
        return bad_shape(err, "hadamard_rows");
    const float c = kvc_hadamard_scale(d);
    for (int64_t i = 0; i < n; i++) {
        float *row = out + i * d;
        if (row != x + i * d)
            memcpy(row, x + i * d, (size_t)d * sizeof *row);
        kvc_hadamard_f32(row, d, c);
    }
    return KVC_OK;
}

static kvc_status cpu_abs_scaled(const kvc_backend *be, const float *y, int64_t n, int d,
                                 const double *sigma, double *out, kvc_error *err)
{
    (void)be;
    if (n < 0 || d < 1 || (n > 0 && (y == NULL || sigma == NULL || out == NULL)))
        return bad_shape(err, "abs_scaled");
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < d; j++)
            out[i * d + j] = kvc_abs_scaled(y[i * d + j], sigma[j]);
    return KVC_OK;
}

static kvc_status cpu_first_difference(const kvc_backend *be, const void *a, const void *b,
                                       int64_t nwords, int64_t *index, kvc_error *err)
{
    (void)be;
    if (nwords < 0 || index == NULL || (nwords > 0 && (a == NULL || b == NULL)))
        return bad_shape(err, "first_difference");
    const uint32_t *u = (const uint32_t *)a, *v = (const uint32_t *)b;
    *index = -1;
    for (int64_t i = 0; i < nwords; i++)
        if (u[i] != v[i]) {
            *index = i;
            break;
        }
    return KVC_OK;
}

static kvc_status cpu_ds_mla_encode(const kvc_backend *be, const float *x, int64_t n,
                                    uint8_t *rec, kvc_error *err)
{
    (void)be;
    if (n < 0 || (n > 0 && (x == NULL || rec == NULL)))
        return bad_shape(err, "fp8_ds_mla_encode");
    kvc_fp8_ds_mla_encode(x, (size_t)n, rec);
    return KVC_OK;
}

static kvc_status cpu_ds_mla_decode(const kvc_backend *be, const uint8_t *rec, size_t size,
                                    int64_t n, float *out, kvc_error *err)
{
    (void)be;
    if (n < 0 || (n > 0 && (rec == NULL || out == NULL)))
        return bad_shape(err, "fp8_ds_mla_decode");
    return kvc_fp8_ds_mla_decode(rec, size, (size_t)n, out, err);
}

/* ------------------------------------------------------------ grouped products */

static kvc_status cpu_matmul_group(const kvc_backend *be, const float *x, int64_t rows, int count,
                                   const kvc_matrix *const *w, float *const *y, kvc_error *err)
{
    if (count < 1 || count > 8 || w == NULL || y == NULL)
        return bad_shape(err, "matmul_group");
    for (int p = 0; p < count; p++)
        if (w[p] == NULL || w[p]->k != w[0]->k)
            return bad_shape(err, "matmul_group");
    for (int p = 0; p < count; p++) {
        kvc_status st = cpu_matmul(be, x, rows, w[p], y[p], err);
        if (st != KVC_OK)
            return st;
    }
    return KVC_OK;
}

/* ------------------------------------------------------------ tables */

static void fill_table(kvc_backend *be, cpu_ctx *ctx)
{
    memset(be, 0, sizeof *be);
    snprintf(ctx->name, sizeof ctx->name, "cpu-%s", kvc_cpu_isa_name(ctx->isa));
    be->name = ctx->name;
    be->ctx = ctx;
    be->matrix_create = cpu_matrix_create;
    be->matrix_destroy = cpu_matrix_destroy;
    be->matmul = cpu_matmul;
    be->round_bf16 = cpu_round_bf16;
    be->act_quant = cpu_act_quant;
    be->rmsnorm = cpu_rmsnorm;
    be->rope = cpu_rope;
    be->pool = cpu_pool;
    be->kvsim = cpu_kvsim;
    be->codec_roundtrip = cpu_codec_roundtrip;
    be->codec_encode = cpu_codec_encode;
    be->codec_decode = cpu_codec_decode;
    be->fp8_per64 = cpu_fp8_per64;
    be->fp8_ds_mla = cpu_fp8_ds_mla;
    be->recon_metrics = cpu_recon_metrics;
    be->column_moments = cpu_column_moments;
    be->column_quantile = cpu_column_quantile;
    be->mem_alloc = cpu_mem_alloc;
    be->mem_free = cpu_mem_free;
    be->mem_upload = cpu_mem_copy;
    be->mem_download = cpu_mem_copy;
    be->mem_sync = cpu_mem_sync;
    be->mem_copy = cpu_mem_copy;
    be->matmul_group = cpu_matmul_group;
    be->widen_bf16 = cpu_widen_bf16;
    be->hadamard_rows = cpu_hadamard_rows;
    be->abs_scaled = cpu_abs_scaled;
    be->first_difference = cpu_first_difference;
    be->fp8_ds_mla_encode = cpu_ds_mla_encode;
    be->fp8_ds_mla_decode = cpu_ds_mla_decode;
}

static kvc_backend default_table;
static cpu_ctx default_ctx;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static void default_init(void)
{
    default_ctx.isa = kvc__cpu_isa_resolve(KVC_CPU_ISA_AUTO);
    default_ctx.threads = kvc__cpu_default_threads();
    fill_table(&default_table, &default_ctx);
}

const kvc_backend *kvc_backend_cpu(void)
{
    pthread_once(&default_once, default_init);
    return &default_table;
}

typedef struct cpu_backend_box {
    kvc_backend table;
    cpu_ctx ctx;
} cpu_backend_box;

kvc_status kvc_backend_cpu_create(kvc_cpu_isa isa, int threads, kvc_backend **out,
                                  kvc_error *err)
{
    *out = NULL;
    isa = kvc__cpu_isa_resolve(isa);
    if (!kvc_cpu_isa_supported(isa))
        return kvc_error_set(err, KVC_UNSUPPORTED, "this CPU or build lacks %s",
                             kvc_cpu_isa_name(isa));
    if (threads < 0 || threads > 256)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "thread count %d", threads);
    cpu_backend_box *box = (cpu_backend_box *)calloc(1, sizeof *box);
    if (box == NULL)
        return kvc_error_set(err, KVC_NOMEM, "CPU backend");
    box->ctx.isa = isa;
    box->ctx.threads = threads == 0 ? kvc__cpu_default_threads() : threads;
    fill_table(&box->table, &box->ctx);
    *out = &box->table;
    return KVC_OK;
}

void kvc_backend_cpu_destroy(kvc_backend *be)
{
    if (be == NULL || be == &default_table)
        return;
    free((cpu_backend_box *)(void *)be); /* table is the box's first member */
}

kvc_status kvc_backend_matmul_once(const kvc_backend *be, const float *x, int64_t rows,
                                   const float *w, int64_t n, int64_t k, float *y,
                                   kvc_error *err)
{
    if (be->matrix_create == NULL || be->matmul == NULL)
        return kvc_error_set(err, KVC_BACKEND_UNAVAILABLE, "%s has no matmul", be->name);
    kvc_matrix *m = NULL;
    kvc_status st = be->matrix_create(be, w, n, k, &m, err);
    if (st != KVC_OK)
        return st;
    st = be->matmul(be, x, rows, m, y, err);
    be->matrix_destroy(be, m);
    return st;
}
