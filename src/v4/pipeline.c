/* kvcert: the V4 KV write path (SPEC 5.4, 5.5): loading and the order of
 * the steps. Every computation goes through the backend table. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/safetensors.h"
#include "v4/dequant.h"
#include "v4/pipeline.h"
#include "v4/rope.h"

#define HF_REPO "models--deepseek-ai--DeepSeek-V4-Flash"

static const char *const stream_names[KVC_V4_NSTREAMS] = {
    "sliding_window_kv", "csa_pool_kv_ratio4", "hca_pool_kv_ratio128"};
static const int64_t stream_ratios[KVC_V4_NSTREAMS] = {1, 4, 128};

const char *kvc_v4_stream_name(kvc_v4_stream s)
{
    return (int)s >= 0 && (int)s < KVC_V4_NSTREAMS ? stream_names[s] : "unknown";
}

int64_t kvc_v4_stream_ratio(kvc_v4_stream s)
{
    return (int)s >= 0 && (int)s < KVC_V4_NSTREAMS ? stream_ratios[s] : 0;
}

/* ------------------------------------------------------------ shards */

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* repo/snapshots/REV/file: refs/main's REV first, then the others in
 * byte order. Returns 1 when found (path filled). */
static int find_in_repo(const char *repo, const char *file, char *path, size_t size)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s/refs/main", repo);
    FILE *f = fopen(buf, "r");
    if (f != NULL) {
        char rev[256] = "";
        if (fgets(rev, sizeof rev, f) != NULL) {
            rev[strcspn(rev, "\r\n")] = '\0';
            if (rev[0] != '\0' && strchr(rev, '/') == NULL) {
                snprintf(buf, sizeof buf, "%s/snapshots/%s/%s", repo, rev, file);
                if (is_file(buf) && strlen(buf) < size) {
                    fclose(f);
                    snprintf(path, size, "%s", buf);
                    return 1;
                }
            }
        }
        fclose(f);
    }
    snprintf(buf, sizeof buf, "%s/snapshots", repo);
    DIR *d = opendir(buf);
    if (d == NULL)
        return 0;
    char *names[1024];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < sizeof names / sizeof names[0]) {
        if (e->d_name[0] == '.')
            continue;
        names[n] = strdup(e->d_name);
        if (names[n] != NULL)
            n++;
    }
    closedir(d);
    qsort(names, n, sizeof names[0], cmp_str);
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        if (!found) {
            snprintf(buf, sizeof buf, "%s/snapshots/%s/%s", repo, names[i], file);
            if (is_file(buf) && strlen(buf) < size) {
                snprintf(path, size, "%s", buf);
                found = 1;
            }
        }
        free(names[i]);
    }
    return found;
}

kvc_status kvc_v4_shard_locate(const char *dir, int shard, char *path, size_t size,
                               kvc_error *err)
{
    char file[64], buf[4096];
    if (dir == NULL || shard < 1 || shard > KVC_V4_SHARD_COUNT)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "shard %d", shard);
    snprintf(file, sizeof file, "model-%05d-of-%05d.safetensors", shard, KVC_V4_SHARD_COUNT);
    snprintf(buf, sizeof buf, "%s/%s", dir, file);
    if (is_file(buf) && strlen(buf) < size) {
        snprintf(path, size, "%s", buf);
        return KVC_OK;
    }
    if (is_dir(dir) && find_in_repo(dir, file, path, size))
        return KVC_OK;
    snprintf(buf, sizeof buf, "%s/%s", dir, HF_REPO);
    if (is_dir(buf) && find_in_repo(buf, file, path, size))
        return KVC_OK;
    snprintf(buf, sizeof buf, "%s/hub/%s", dir, HF_REPO);
    if (is_dir(buf) && find_in_repo(buf, file, path, size))
        return KVC_OK;
    kvc_error_set(err, KVC_SHARD_MISSING,
                  "%s not found in %s (looked in the folder itself, and in the Hugging Face "
                  "cache layouts [hub/]" HF_REPO "/snapshots/*/ and snapshots/*/ under it)",
                  file, dir);
    kvc_error_where(err, dir, NULL, -1);
    return KVC_SHARD_MISSING;
}

/* ------------------------------------------------------------ the model */

/* Vectors the operations read on every passage (norm weights, ape) live
 * in backend memory, uploaded once at load, so a passage queues its whole
 * chain without a host copy (core/backend.h). */
typedef struct comp_layer {
    int64_t ratio;
    int overlap;
    int64_t width;        /* coff * 512 */
    kvc_matrix *wkv, *wgate;
    float *ape;           /* [ratio, width], backend memory */
    float *norm;          /* [512], backend memory */
} comp_layer;

/* Work buffers of one passage, backend memory, sized for seq_len tokens
 * (grown on demand, kept between passages). */
typedef struct chain_ws {
    int64_t seq_len;
    float *x;      /* [S, 4096] the input, when it arrives as host memory */
    uint16_t *xb;  /* [S, 4096] bf16 bits of the input, when it arrives so */
    float *xq;     /* [S, 4096] the activation-quantized input (profile v4) */
    float *y;      /* [S, 512] the main projection */
    float *kv[2], *score[2]; /* [S, coff * 512] each compressor's projections */
    float *pooled; /* [S / 4, 512] */
    float *freqs;  /* [2][KVC_ROPE_NFREQ]: main, compressor */
} chain_ws;

static void ws_release(const kvc_v4_model *m);

struct kvc_v4_model {
    const kvc_backend *be;
    kvc_matrix *wkv; /* layer 0 */
    float *kv_norm;  /* [512], backend memory */
    comp_layer comp[2]; /* layer 2 (r = 4), layer 3 (r = 128) */
    chain_ws *ws;    /* mutable through a const model: one passage at a time */
};

#define DT_BIT(d) (1u << (d))

static void dtype_list(unsigned mask, char *buf, size_t size)
{
    buf[0] = '\0';
    for (int d = 0; d < KVC_DT_COUNT; d++)
        if (mask & DT_BIT(d)) {
            size_t l = strlen(buf);
            snprintf(buf + l, size - l, "%s%s", l ? " or " : "", kvc_dtype_name((kvc_dtype)d));
        }
}

static void shape_str(int ndim, const int64_t *shape, char *buf, size_t size)
{
    size_t l = 0;
    buf[0] = '\0';
    l += (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && l < size; i++)
        l += (size_t)snprintf(buf + l, size - l, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (l < size)
        snprintf(buf + l, size - l, "]");
}

/* Reads tensor name as binary32 after checking its dtype and shape. */
static kvc_status load_tensor(const kvc_st_file *f, const char *name, unsigned dtypes, int ndim,
                              const int64_t *shape, float **out, kvc_error *err)
{
    *out = NULL;
    const kvc_tensor_view *v = kvc_st_find(f, name);
    if (v == NULL) {
        kvc_error_set(err, KVC_TENSOR_MISSING, "%s is not in the shard", name);
        kvc_error_where(err, kvc_st_path(f), name, -1);
        return KVC_TENSOR_MISSING;
    }
    if (!(dtypes & DT_BIT(v->dtype))) {
        char want[128];
        dtype_list(dtypes, want, sizeof want);
        kvc_error_set(err, KVC_TENSOR_DTYPE, "%s: expected %s, got %s", name, want,
                      kvc_dtype_name(v->dtype));
        kvc_error_where(err, kvc_st_path(f), name, (int64_t)v->file_offset);
        return KVC_TENSOR_DTYPE;
    }
    int ok = v->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        ok = v->shape[i] == shape[i];
    if (!ok) {
        char want[96], got[96];
        shape_str(ndim, shape, want, sizeof want);
        shape_str(v->ndim, v->shape, got, sizeof got);
        kvc_error_set(err, KVC_TENSOR_SHAPE, "%s: expected %s, got %s", name, want, got);
        kvc_error_where(err, kvc_st_path(f), name, (int64_t)v->file_offset);
        return KVC_TENSOR_SHAPE;
    }
    int64_t got_shape[2];
    return kvc_dequant_tensor(f, name, out, got_shape, err);
}

static kvc_status load_matrix(const kvc_backend *be, const kvc_st_file *f, const char *name,
                              unsigned dtypes, int64_t rows, int64_t cols, kvc_matrix **out,
                              kvc_error *err)
{
    int64_t shape[2] = {rows, cols};
    float *w = NULL;
    kvc_status st = load_tensor(f, name, dtypes, 2, shape, &w, err);
    if (st == KVC_OK)
        st = be->matrix_create(be, w, rows, cols, out, err);
    free(w);
    return st;
}

/* A host array of n floats into a new block of backend memory. */
static kvc_status to_backend(const kvc_backend *be, const float *v, int64_t n, float **out,
                             kvc_error *err)
{
    size_t bytes = (size_t)n * sizeof(float);
    kvc_status st = be->mem_alloc(be, bytes, (void **)out, err);
    if (st == KVC_OK && (st = be->mem_upload(be, *out, v, bytes, err)) != KVC_OK) {
        be->mem_free(be, *out);
        *out = NULL;
    }
    return st;
}

/* Tensor name [n] (or [rows, cols] when ndim is 2) into backend memory. */
static kvc_status load_resident(const kvc_backend *be, const kvc_st_file *f, const char *name,
                                unsigned dtypes, int ndim, const int64_t *shape, float **dst,
                                kvc_error *err)
{
    float *v = NULL;
    kvc_status st = load_tensor(f, name, dtypes, ndim, shape, &v, err);
    if (st == KVC_OK)
        st = to_backend(be, v, ndim == 2 ? shape[0] * shape[1] : shape[0], dst, err);
    free(v);
    return st;
}

static kvc_status load_vector(const kvc_backend *be, const kvc_st_file *f, const char *name,
                              unsigned dtypes, float **dst, int64_t n, kvc_error *err)
{
    return load_resident(be, f, name, dtypes, 1, &n, dst, err);
}

static kvc_status open_shard(const char *dir, int shard, kvc_st_file **f, kvc_error *err)
{
    char path[4096];
    kvc_status st = kvc_v4_shard_locate(dir, shard, path, sizeof path, err);
    if (st != KVC_OK)
        return st;
    return kvc_st_open(path, f, err);
}

static kvc_status load_main(kvc_v4_model *m, const kvc_st_file *f, kvc_error *err)
{
    kvc_status st = load_matrix(m->be, f, "layers.0.attn.wkv.weight", DT_BIT(KVC_DT_F8_E4M3),
                                KVC_V4_HEAD_DIM, KVC_V4_HIDDEN_DIM, &m->wkv, err);
    if (st != KVC_OK)
        return st;
    return load_vector(m->be, f, "layers.0.attn.kv_norm.weight", DT_BIT(KVC_DT_BF16),
                       &m->kv_norm, KVC_V4_HEAD_DIM, err);
}

static kvc_status load_comp(kvc_v4_model *m, comp_layer *c, int layer, int64_t ratio,
                            const kvc_st_file *f, kvc_error *err)
{
    char name[128];
    const unsigned wdt = DT_BIT(KVC_DT_BF16) | DT_BIT(KVC_DT_F8_E4M3);
    c->ratio = ratio;
    c->overlap = ratio == 4;
    c->width = (c->overlap ? 2 : 1) * KVC_V4_HEAD_DIM;
    snprintf(name, sizeof name, "layers.%d.attn.compressor.wkv.weight", layer);
    kvc_status st = load_matrix(m->be, f, name, wdt, c->width, KVC_V4_HIDDEN_DIM, &c->wkv, err);
    if (st != KVC_OK)
        return st;
    snprintf(name, sizeof name, "layers.%d.attn.compressor.wgate.weight", layer);
    st = load_matrix(m->be, f, name, wdt, c->width, KVC_V4_HIDDEN_DIM, &c->wgate, err);
    if (st != KVC_OK)
        return st;
    snprintf(name, sizeof name, "layers.%d.attn.compressor.ape", layer);
    int64_t ape_shape[2] = {ratio, c->width};
    st = load_resident(m->be, f, name, DT_BIT(KVC_DT_F32), 2, ape_shape, &c->ape, err);
    if (st != KVC_OK)
        return st;
    snprintf(name, sizeof name, "layers.%d.attn.compressor.norm.weight", layer);
    return load_vector(m->be, f, name, DT_BIT(KVC_DT_BF16), &c->norm, KVC_V4_HEAD_DIM, err);
}

kvc_status kvc_v4_model_load(const kvc_backend *be, const char *dir, kvc_v4_model **out,
                             kvc_error *err)
{
    *out = NULL;
    if (be == NULL || be->matrix_create == NULL || be->matmul == NULL || be->rmsnorm == NULL ||
        be->rope == NULL || be->pool == NULL || be->kvsim == NULL || be->round_bf16 == NULL ||
        be->act_quant == NULL || be->mem_alloc == NULL || be->mem_free == NULL ||
        be->mem_upload == NULL || be->mem_download == NULL || be->mem_copy == NULL)
        return kvc_error_set(err, KVC_BACKEND_UNAVAILABLE,
                             "backend %s lacks an operation of the V4 write path",
                             be != NULL ? be->name : "(null)");
    kvc_v4_model *m = (kvc_v4_model *)calloc(1, sizeof *m);
    if (m == NULL)
        return kvc_error_set(err, KVC_NOMEM, "model");
    m->be = be;
    m->ws = (chain_ws *)calloc(1, sizeof *m->ws);
    if (m->ws == NULL) {
        free(m);
        return kvc_error_set(err, KVC_NOMEM, "model");
    }
    static const int shards[3] = {2, 4, 5};
    kvc_status st = KVC_OK;
    for (int i = 0; i < 3 && st == KVC_OK; i++) {
        kvc_st_file *f = NULL;
        st = open_shard(dir, shards[i], &f, err);
        if (st != KVC_OK)
            break;
        if (i == 0)
            st = load_main(m, f, err);
        else
            st = load_comp(m, &m->comp[i - 1], i == 1 ? 2 : 3, i == 1 ? 4 : 128, f, err);
        kvc_st_close(f);
    }
    if (st != KVC_OK) {
        kvc_v4_model_destroy(m);
        return st;
    }
    *out = m;
    return KVC_OK;
}

void kvc_v4_model_destroy(kvc_v4_model *m)
{
    if (m == NULL)
        return;
    const kvc_backend *be = m->be;
    if (m->wkv != NULL)
        be->matrix_destroy(be, m->wkv);
    be->mem_free(be, m->kv_norm);
    for (int i = 0; i < 2; i++) {
        if (m->comp[i].wkv != NULL)
            be->matrix_destroy(be, m->comp[i].wkv);
        if (m->comp[i].wgate != NULL)
            be->matrix_destroy(be, m->comp[i].wgate);
        be->mem_free(be, m->comp[i].ape);
        be->mem_free(be, m->comp[i].norm);
    }
    ws_release(m);
    free(m->ws);
    free(m);
}

/* ------------------------------------------------------------ hidden states */

struct kvc_v4_hidden {
    kvc_st_file *f;
    const kvc_tensor_view *v;
    int64_t passages, seq_len;
};

kvc_status kvc_v4_hidden_open(const char *path, kvc_v4_hidden **out, kvc_error *err)
{
    *out = NULL;
    kvc_st_file *f = NULL;
    kvc_status st = kvc_st_open(path, &f, err);
    if (st != KVC_OK)
        return st;
    const kvc_tensor_view *v = kvc_st_find(f, "hidden");
    int64_t p = 0, s = 0, w = 0;
    if (v == NULL) {
        st = kvc_error_set(err, KVC_TENSOR_MISSING, "no tensor 'hidden' in the file");
    } else if (v->dtype != KVC_DT_BF16) {
        st = kvc_error_set(err, KVC_TENSOR_DTYPE, "hidden: expected BF16, got %s",
                           kvc_dtype_name(v->dtype));
    } else if (v->ndim != 2 && v->ndim != 3) {
        st = kvc_error_set(err, KVC_HIDDEN_SHAPE,
                           "hidden has %d dimensions; expected [S, 4096] or [P, S, 4096]",
                           v->ndim);
    } else {
        p = v->ndim == 3 ? v->shape[0] : 1;
        s = v->shape[v->ndim - 2];
        w = v->shape[v->ndim - 1];
        if (w != KVC_V4_HIDDEN_DIM)
            st = kvc_error_set(err, KVC_HIDDEN_SHAPE, "hidden width is %lld; expected 4096",
                               (long long)w);
        else if (s < KVC_V4_SEQ_MULTIPLE || s % KVC_V4_SEQ_MULTIPLE != 0)
            st = kvc_error_set(err, KVC_HIDDEN_SHAPE,
                               "hidden length S = %lld is not a positive multiple of 128",
                               (long long)s);
        else if (p < 1)
            st = kvc_error_set(err, KVC_HIDDEN_SHAPE, "hidden holds no passage (P = 0)");
        else if (s > KVC_V4_MAX_SEQ)
            st = kvc_error_set(err, KVC_LIMIT, "hidden length S = %lld exceeds %d",
                               (long long)s, KVC_V4_MAX_SEQ);
    }
    if (st != KVC_OK) {
        kvc_error_where(err, path, "hidden", v != NULL ? (int64_t)v->file_offset : -1);
        kvc_st_close(f);
        return st;
    }
    kvc_v4_hidden *h = (kvc_v4_hidden *)calloc(1, sizeof *h);
    if (h == NULL) {
        kvc_st_close(f);
        return kvc_error_set(err, KVC_NOMEM, "hidden");
    }
    h->f = f;
    h->v = v;
    h->passages = p;
    h->seq_len = s;
    *out = h;
    return KVC_OK;
}

void kvc_v4_hidden_close(kvc_v4_hidden *h)
{
    if (h == NULL)
        return;
    kvc_st_close(h->f);
    free(h);
}

int64_t kvc_v4_hidden_passages(const kvc_v4_hidden *h)
{
    return h->passages;
}

int64_t kvc_v4_hidden_seq_len(const kvc_v4_hidden *h)
{
    return h->seq_len;
}

const void *kvc_v4_hidden_bf16(const kvc_v4_hidden *h, int64_t p)
{
    if (p < 0 || p >= h->passages)
        return NULL;
    size_t n = (size_t)h->seq_len * KVC_V4_HIDDEN_DIM;
    return (const unsigned char *)h->v->data + (size_t)p * n * 2;
}

kvc_status kvc_v4_hidden_read(const kvc_v4_hidden *h, int64_t p, float *x, kvc_error *err)
{
    if (p < 0 || p >= h->passages)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "passage %lld of %lld", (long long)p,
                             (long long)h->passages);
    size_t n = (size_t)h->seq_len * KVC_V4_HIDDEN_DIM;
    kvc_widen_bf16((const unsigned char *)h->v->data + (size_t)p * n * 2, n, x);
    return KVC_OK;
}

/* ------------------------------------------------------------ work buffers */

static void ws_release(const kvc_v4_model *m)
{
    const kvc_backend *be = m->be;
    chain_ws *w = m->ws;
    float **bufs[] = {&w->x,        &w->xq,       &w->y,      &w->kv[0], &w->score[0],
                      &w->kv[1],    &w->score[1], &w->pooled, &w->freqs};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        be->mem_free(be, *bufs[i]);
        *bufs[i] = NULL;
    }
    be->mem_free(be, w->xb);
    w->xb = NULL;
    w->seq_len = 0;
}

/* Buffers for S tokens. */
static kvc_status ws_reserve(const kvc_v4_model *m, int64_t S, kvc_error *err)
{
    const kvc_backend *be = m->be;
    chain_ws *w = m->ws;
    if (w->seq_len >= S)
        return KVC_OK;
    ws_release(m);
    const size_t s = (size_t)S, f = sizeof(float);
    struct {
        float **p;
        size_t bytes;
    } want[] = {
        {&w->x, s * KVC_V4_HIDDEN_DIM * f},   {&w->xq, s * KVC_V4_HIDDEN_DIM * f},
        {&w->y, s * KVC_V4_HEAD_DIM * f},
        {&w->kv[0], s * (size_t)m->comp[0].width * f},
        {&w->score[0], s * (size_t)m->comp[0].width * f},
        {&w->kv[1], s * (size_t)m->comp[1].width * f},
        {&w->score[1], s * (size_t)m->comp[1].width * f},
        {&w->pooled, s / 4 * KVC_V4_HEAD_DIM * f},
        {&w->freqs, 2 * KVC_ROPE_NFREQ * f},
        {(float **)&w->xb, s * KVC_V4_HIDDEN_DIM * sizeof(uint16_t)},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        kvc_status st = be->mem_alloc(be, want[i].bytes, (void **)want[i].p, err);
        if (st != KVC_OK) {
            ws_release(m);
            return st;
        }
    }
    w->seq_len = S;
    return KVC_OK;
}

/* ------------------------------------------------------------ the streams */

#define TRY(expr)                                                              \
    do {                                                                       \
        st = (expr);                                                           \
        if (st != KVC_OK)                                                      \
            return st;                                                         \
    } while (0)

/* The projections: every matmul of the passage, as few launches as the
 * backend allows (matmul_group: the same bits as one matmul each). The v4
 * profile quantizes the main projection's input (E4M3, pow2 scale per
 * 128), so that one runs on its own. */
static kvc_status projections(const kvc_v4_model *m, const kvc_profile *p, const float *x,
                              int64_t S, kvc_error *err)
{
    const kvc_backend *be = m->be;
    const chain_ws *w = m->ws;
    kvc_status st = KVC_OK;
    const kvc_matrix *mats[5];
    float *outs[5];
    int n = 0;
    if (p->main_act_quant) {
        TRY(be->mem_copy(be, w->xq, x, sizeof(float) * (size_t)S * KVC_V4_HIDDEN_DIM, err));
        TRY(be->act_quant(be, w->xq, S, KVC_V4_HIDDEN_DIM, err));
        TRY(be->matmul(be, w->xq, S, m->wkv, w->y, err));
    } else {
        mats[n] = m->wkv;
        outs[n++] = w->y;
    }
    for (int i = 0; i < 2; i++) {
        mats[n] = m->comp[i].wkv;
        outs[n++] = w->kv[i];
        mats[n] = m->comp[i].wgate;
        outs[n++] = w->score[i];
    }
    if (be->matmul_group != NULL)
        return be->matmul_group(be, x, S, n, mats, outs, err);
    for (int i = 0; i < n; i++)
        TRY(be->matmul(be, x, S, mats[i], outs[i], err));
    return KVC_OK;
}

/* SPEC 5.4 after the matmul: RMSNorm (kv_norm) -> bf16 -> RoPE on dims
 * 448..511 (base 10000, position t) -> KV simulation on dims 0..447; the
 * v4 profile rounds the matmul output to bf16 first. out is backend
 * memory. */
static kvc_status main_stream(const kvc_v4_model *m, const kvc_profile *p, int64_t S,
                              uint16_t *out, kvc_error *err)
{
    const kvc_backend *be = m->be;
    const chain_ws *w = m->ws;
    kvc_status st = KVC_OK;
    if (p->main_out_bf16)
        TRY(be->round_bf16(be, w->y, S * KVC_V4_HEAD_DIM, err));
    TRY(be->rmsnorm(be, w->y, S, KVC_V4_HEAD_DIM, m->kv_norm, KVC_V4_NORM_EPS, out, err));
    TRY(be->rope(be, out, S, KVC_V4_HEAD_DIM, KVC_V4_NOPE_DIM, w->freqs, KVC_ROPE_NFREQ, 1, err));
    return be->kvsim(be, out, S, KVC_V4_HEAD_DIM, KVC_V4_NOPE_DIM, p->kvsim, err);
}

/* SPEC 5.5 after the kv and score matmuls: + ape, overlap, gated pooling
 * -> bf16 -> RMSNorm (compressor.norm) -> bf16 -> RoPE (base 160000) at
 * positions w * r -> KV simulation on dims 0..447. out is backend memory. */
static kvc_status comp_stream(const kvc_v4_model *m, int i, const kvc_profile *p, int64_t S,
                              uint16_t *out, kvc_error *err)
{
    const kvc_backend *be = m->be;
    const comp_layer *c = &m->comp[i];
    const chain_ws *w = m->ws;
    kvc_status st = KVC_OK;
    int64_t windows = S / c->ratio;
    TRY(be->pool(be, w->kv[i], w->score[i], c->ape, S, c->ratio, c->overlap, KVC_V4_HEAD_DIM,
                 w->pooled, err));
    TRY(be->round_bf16(be, w->pooled, windows * KVC_V4_HEAD_DIM, err));
    TRY(be->rmsnorm(be, w->pooled, windows, KVC_V4_HEAD_DIM, c->norm, KVC_V4_NORM_EPS, out, err));
    TRY(be->rope(be, out, windows, KVC_V4_HEAD_DIM, KVC_V4_NOPE_DIM, w->freqs + KVC_ROPE_NFREQ,
                 KVC_ROPE_NFREQ, c->ratio, err));
    return be->kvsim(be, out, windows, KVC_V4_HEAD_DIM, KVC_V4_NOPE_DIM, p->kvsim, err);
}

static kvc_status check_seq_len(int64_t seq_len, kvc_error *err)
{
    if (seq_len < KVC_V4_SEQ_MULTIPLE || seq_len % KVC_V4_SEQ_MULTIPLE != 0 ||
        seq_len > KVC_V4_MAX_SEQ)
        return kvc_error_set(err, KVC_HIDDEN_SHAPE,
                             "S = %lld is not a positive multiple of 128 (at most %d)",
                             (long long)seq_len, KVC_V4_MAX_SEQ);
    return KVC_OK;
}

static size_t stream_bytes(int i, int64_t seq_len)
{
    return (size_t)(seq_len / stream_ratios[i]) * KVC_V4_HEAD_DIM * sizeof(uint16_t);
}

const kvc_backend *kvc_v4_model_backend(const kvc_v4_model *m)
{
    return m->be;
}

void kvc_v4_streams_free_on(const kvc_v4_model *m, uint16_t *kv[KVC_V4_NSTREAMS])
{
    for (int i = 0; i < KVC_V4_NSTREAMS; i++) {
        m->be->mem_free(m->be, kv[i]);
        kv[i] = NULL;
    }
}

/* The chain on an input already in backend memory (x may be the
 * workspace's own copy). */
static kvc_status chain(const kvc_v4_model *m, const kvc_profile *p, const float *x,
                        int64_t seq_len, uint16_t *kv[KVC_V4_NSTREAMS], kvc_error *err)
{
    const kvc_backend *be = m->be;
    float freqs[2 * KVC_ROPE_NFREQ];
    kvc_rope_freqs(p->main_rope_base, kvc_yarn_applies(p->main_yarn, seq_len), freqs);
    kvc_rope_freqs(p->comp_rope_base, kvc_yarn_applies(p->comp_yarn, seq_len),
                   freqs + KVC_ROPE_NFREQ);
    kvc_status st = be->mem_upload(be, m->ws->freqs, freqs, sizeof freqs, err);
    for (int i = 0; i < KVC_V4_NSTREAMS && st == KVC_OK; i++)
        st = be->mem_alloc(be, stream_bytes(i, seq_len), (void **)&kv[i], err);
    if (st == KVC_OK)
        st = projections(m, p, x, seq_len, err);
    if (st == KVC_OK)
        st = main_stream(m, p, seq_len, kv[KVC_V4_SWA], err);
    if (st == KVC_OK)
        st = comp_stream(m, 0, p, seq_len, kv[KVC_V4_CSA], err);
    if (st == KVC_OK)
        st = comp_stream(m, 1, p, seq_len, kv[KVC_V4_HCA], err);
    return st;
}

/* How the input arrives. */
typedef enum input_kind {
    IN_HOST_F32,  /* binary32, host memory: uploaded into the work buffers */
    IN_HOST_BF16, /* bf16 bytes, host memory: uploaded, widened on the backend */
    IN_RESIDENT   /* binary32, backend memory: used in place */
} input_kind;

static kvc_status compute(const kvc_v4_model *m, const kvc_profile *p, const void *x,
                          input_kind kind, int64_t seq_len, uint16_t *kv[KVC_V4_NSTREAMS],
                          kvc_error *err)
{
    for (int i = 0; i < KVC_V4_NSTREAMS; i++)
        kv[i] = NULL;
    if (m == NULL || p == NULL || x == NULL)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "streams: NULL argument");
    const kvc_backend *be = m->be;
    if (kind == IN_HOST_BF16 && be->widen_bf16 == NULL)
        return kvc_error_set(err, KVC_BACKEND_UNAVAILABLE, "backend %s cannot widen bf16",
                             be->name);
    kvc_status st = check_seq_len(seq_len, err);
    if (st == KVC_OK)
        st = ws_reserve(m, seq_len, err);
    const int64_t n = seq_len * KVC_V4_HIDDEN_DIM;
    const float *xin = kind == IN_RESIDENT ? (const float *)x : m->ws->x;
    if (st == KVC_OK && kind == IN_HOST_F32)
        st = be->mem_upload(be, m->ws->x, x, sizeof(float) * (size_t)n, err);
    if (st == KVC_OK && kind == IN_HOST_BF16) {
        st = be->mem_upload(be, m->ws->xb, x, sizeof(uint16_t) * (size_t)n, err);
        if (st == KVC_OK)
            st = be->widen_bf16(be, m->ws->xb, n, m->ws->x, err);
    }
    if (st == KVC_OK)
        st = chain(m, p, xin, seq_len, kv, err);
    if (st != KVC_OK)
        kvc_v4_streams_free_on(m, kv);
    return st;
}

kvc_status kvc_v4_streams_compute_on(const kvc_v4_model *m, const kvc_profile *p, const float *x,
                                     int64_t seq_len, uint16_t *kv[KVC_V4_NSTREAMS],
                                     kvc_error *err)
{
    return compute(m, p, x, IN_HOST_F32, seq_len, kv, err);
}

kvc_status kvc_v4_streams_compute_resident(const kvc_v4_model *m, const kvc_profile *p,
                                           const float *x, int64_t seq_len,
                                           uint16_t *kv[KVC_V4_NSTREAMS], kvc_error *err)
{
    return compute(m, p, x, IN_RESIDENT, seq_len, kv, err);
}

kvc_status kvc_v4_streams_compute_bf16_on(const kvc_v4_model *m, const kvc_profile *p,
                                          const void *x, int64_t seq_len,
                                          uint16_t *kv[KVC_V4_NSTREAMS], kvc_error *err)
{
    return compute(m, p, x, IN_HOST_BF16, seq_len, kv, err);
}

void kvc_v4_streams_free(kvc_v4_streams *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < KVC_V4_NSTREAMS; i++) {
        free(s->kv[i]);
        s->kv[i] = NULL;
    }
}

kvc_status kvc_v4_streams_compute(const kvc_v4_model *m, const kvc_profile *p, const float *x,
                                  int64_t seq_len, kvc_v4_streams *out, kvc_error *err)
{
    memset(out, 0, sizeof *out);
    uint16_t *kv[KVC_V4_NSTREAMS];
    kvc_status st = kvc_v4_streams_compute_on(m, p, x, seq_len, kv, err);
    if (st != KVC_OK)
        return st;
    out->seq_len = seq_len;
    for (int i = 0; i < KVC_V4_NSTREAMS && st == KVC_OK; i++) {
        out->kv[i] = (uint16_t *)malloc(stream_bytes(i, seq_len));
        st = out->kv[i] == NULL ? kvc_error_set(err, KVC_NOMEM, "streams")
                                : m->be->mem_download(m->be, out->kv[i], kv[i],
                                                      stream_bytes(i, seq_len), err);
    }
    kvc_v4_streams_free_on(m, kv);
    if (st != KVC_OK)
        kvc_v4_streams_free(out);
    return st;
}
