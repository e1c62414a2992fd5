/* kvcert: the end-to-end audit and Q-sweep drivers (see audit_run.h).
 *
 * Aggregation is never done here: the per-passage values go into a
 * minimal kvcert-report/1 document, which kvc_report_parse reads and
 * kvc_report_aggregate aggregates; kvc_report_write_json writes the result,
 * and only informative extras (realized bits, gates, calibration rows,
 * provenance) are added to that output afterwards. */
#include "stats/audit_run.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/bits.h"
#include "codec/fp8block.h"
#include "codec/kakeya.h"
#include "stats/audit.h"
#include "stats/bits.h"
#include "stats/metrics.h"
#include "stats/published.h"
#include "v4/pipeline.h"

#define FP8_NAME "fp8_per64_baseline"
#define DSMLA_NAME "fp8_ds_mla"

int kvc_audit_parse_q_list(const char *s, uint32_t *q, size_t max)
{
    size_t n = 0;
    const char *p = s;
    if (p == NULL || *p == '\0')
        return -1;
    while (*p != '\0') {
        if (*p < '0' || *p > '9')
            return -1;
        char *end = NULL;
        unsigned long v = strtoul(p, &end, 10);
        p = end;
        if (v < 1 || v > KVC_KAKEYA_BITSTREAM_Q_MAX || n == max)
            return -1;
        for (size_t i = 0; i < n; i++)
            if (q[i] == (uint32_t)v)
                return -1;
        q[n++] = (uint32_t)v;
        if (*p == ',') {
            p++;
            if (*p == '\0')
                return -1;
        } else if (*p != '\0') {
            return -1;
        }
    }
    for (size_t i = 1; i < n; i++) /* insertion sort, ascending */
        for (size_t j = i; j > 0 && q[j - 1] > q[j]; j--) {
            uint32_t t = q[j];
            q[j] = q[j - 1];
            q[j - 1] = t;
        }
    return (int)n;
}

int kvc_audit_parse_passages(const char *s, int64_t np, unsigned char *sel)
{
    memset(sel, 0, (size_t)np);
    const char *p = s;
    if (*p == '\0')
        return -1;
    while (*p != '\0') {
        char *end = NULL;
        if (*p < '0' || *p > '9')
            return -1;
        unsigned long long a = strtoull(p, &end, 10), b;
        p = end;
        if (*p == '-') {
            p++;
            if (*p < '0' || *p > '9')
                return -1;
            b = strtoull(p, &end, 10);
            p = end;
        } else {
            b = a;
        }
        if (a > b || b >= (unsigned long long)np)
            return -1;
        for (unsigned long long i = a; i <= b; i++) {
            if (sel[i])
                return -1;
            sel[i] = 1;
        }
        if (*p == ',') {
            p++;
            if (*p == '\0')
                return -1;
        } else if (*p != '\0') {
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------ JSON helpers */

/* Adds a number; returns 0 on failure (callers collect failures in *ok). */
static void jnum(cJSON *o, const char *key, double v, int *ok)
{
    if (o == NULL || cJSON_AddNumberToObject(o, key, v) == NULL)
        *ok = 0;
}

static cJSON *jobj(cJSON *parent, const char *key, int *ok)
{
    cJSON *o = parent != NULL ? cJSON_AddObjectToObject(parent, key) : NULL;
    if (o == NULL)
        *ok = 0;
    return o;
}

static void audit_json(cJSON *o, const kvc_audit *a, int *ok)
{
    jnum(o, "excess_kurtosis_abs", a->excess_kurtosis_abs, ok);
    jnum(o, "isotropy_variance_ratio", a->isotropy_variance_ratio, ok);
    jnum(o, "hadamard_post_variance_ratio", a->hadamard_post_variance_ratio, ok);
    jnum(o, "rms_wasserstein2_over_sigma_per_dim", a->rms_wasserstein2_over_sigma_per_dim, ok);
    jnum(o, "num_vectors", (double)a->num_vectors, ok);
    jnum(o, "D", (double)a->dim, ok);
}

static void gates_json(cJSON *o, const kvc_audit *a, int *ok)
{
    for (int g = 0; g < KVC_GATE_COUNT; g++)
        if (o == NULL ||
            cJSON_AddBoolToObject(o, kvc_audit_gate_name((kvc_audit_gate)g),
                                  kvc_audit_gate_fires(a, (kvc_audit_gate)g)) == NULL)
            *ok = 0;
}

/* ------------------------------------------------------------ one stream */

struct kvc_measure_work {
    const kvc_backend *be;
    float *x, *y, *z; /* [cap_vec, 512] binary32: the stream, a roundtrip, a decode */
    double *a;        /* [cap_vec, 512] binary64: the audit's W2 input */
    uint8_t *bytes;   /* a bitstream */
    size_t cap_vec, cap_bytes;
    /* Backend memory for one stream's small results, read back once at
     * its end (so the backend need not stop after every codec): */
    kvc_recon_metrics *metrics; /* [KVC_MEASURE_MAX_CODECS] */
    int64_t *first;             /* [KVC_MEASURE_MAX_CODECS] decode vs roundtrip */
};

static void work_release(kvc_measure_work *w)
{
    const kvc_backend *be = w->be;
    be->mem_free(be, w->x);
    be->mem_free(be, w->y);
    be->mem_free(be, w->z);
    be->mem_free(be, w->a);
    w->x = w->y = w->z = NULL;
    w->a = NULL;
    w->cap_vec = 0;
}

static kvc_status work_reserve(kvc_measure_work *w, size_t n, size_t bytes, kvc_error *err)
{
    const kvc_backend *be = w->be;
    kvc_status st = KVC_OK;
    if (n > w->cap_vec) {
        work_release(w);
        if (n > SIZE_MAX / KVC_V4_HEAD_DIM / sizeof(double))
            return kvc_error_set(err, KVC_LIMIT, "%zu vectors of codec work space", n);
        size_t fb = n * KVC_V4_HEAD_DIM * sizeof(float);
        void *x = NULL, *y = NULL, *z = NULL, *a = NULL;
        if ((st = be->mem_alloc(be, fb, &x, err)) == KVC_OK &&
            (st = be->mem_alloc(be, fb, &y, err)) == KVC_OK &&
            (st = be->mem_alloc(be, fb, &z, err)) == KVC_OK)
            st = be->mem_alloc(be, 2 * fb, &a, err);
        w->x = (float *)x;
        w->y = (float *)y;
        w->z = (float *)z;
        w->a = (double *)a;
        if (st != KVC_OK) {
            work_release(w);
            return st;
        }
        w->cap_vec = n;
    }
    if (bytes > w->cap_bytes) {
        be->mem_free(be, w->bytes);
        w->bytes = NULL;
        w->cap_bytes = 0;
        void *b = NULL;
        if ((st = be->mem_alloc(be, bytes, &b, err)) != KVC_OK)
            return st;
        w->bytes = (uint8_t *)b;
        w->cap_bytes = bytes;
    }
    return KVC_OK;
}

kvc_status kvc_measure_work_create(const kvc_backend *be, kvc_measure_work **out,
                                   kvc_error *err)
{
    *out = NULL;
    if (be == NULL)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "no backend");
    if (be->mem_alloc == NULL || be->mem_free == NULL || be->widen_bf16 == NULL ||
        be->codec_roundtrip == NULL || be->codec_encode == NULL || be->codec_decode == NULL ||
        be->fp8_per64 == NULL || be->fp8_ds_mla == NULL || be->fp8_ds_mla_encode == NULL ||
        be->fp8_ds_mla_decode == NULL || be->first_difference == NULL ||
        be->recon_metrics == NULL)
        return kvc_error_set(err, KVC_BACKEND_UNAVAILABLE,
                             "backend %s lacks the codec or memory operations",
                             be->name != NULL ? be->name : "?");
    kvc_measure_work *w = calloc(1, sizeof *w);
    if (w == NULL)
        return kvc_error_set(err, KVC_NOMEM, "codec work space");
    w->be = be;
    void *m = NULL, *f = NULL;
    kvc_status st = be->mem_alloc(be, KVC_MEASURE_MAX_CODECS * sizeof(kvc_recon_metrics), &m, err);
    if (st == KVC_OK)
        st = be->mem_alloc(be, KVC_MEASURE_MAX_CODECS * sizeof(int64_t), &f, err);
    w->metrics = (kvc_recon_metrics *)m;
    w->first = (int64_t *)f;
    if (st != KVC_OK) {
        kvc_measure_work_destroy(w);
        return st;
    }
    *out = w;
    return KVC_OK;
}

void kvc_measure_work_destroy(kvc_measure_work *w)
{
    if (w == NULL)
        return;
    work_release(w);
    w->be->mem_free(w->be, w->bytes);
    w->be->mem_free(w->be, w->metrics);
    w->be->mem_free(w->be, w->first);
    free(w);
}

const kvc_measured_codec *kvc_measure_find(const kvc_stream_measure *m, const char *name)
{
    for (size_t k = 0; k < m->ncodec; k++)
        if (strcmp(m->codec[k].name, name) == 0)
            return &m->codec[k];
    return NULL;
}

/* Codec slot k's rel_mse and cos_sim of w->y against the stream w->x,
 * into backend memory (read back by results_back). */
static kvc_status metrics_of(kvc_measure_work *w, size_t n, size_t k, kvc_error *err)
{
    return w->be->recon_metrics(w->be, w->x, w->y, (int64_t)n, KVC_V4_HEAD_DIM, &w->metrics[k],
                                err);
}

/* Codec slot k: where the decode w->z first differs from the roundtrip
 * w->y (-1: nowhere), into backend memory. */
static kvc_status same_as_roundtrip(kvc_measure_work *w, size_t n, size_t k, kvc_error *err)
{
    return w->be->first_difference(w->be, w->y, w->z, (int64_t)n * KVC_V4_HEAD_DIM,
                                   &w->first[k], err);
}

/* The KakeyaLattice codec kind at Q: roundtrip, then encode + decode,
 * which must reproduce the roundtrip bit for bit. */
static kvc_status lattice_codec(kvc_measure_work *w, kvc_codec_kind kind, uint32_t q, size_t n,
                                size_t k, kvc_measured_codec *c, kvc_error *err)
{
    const kvc_backend *be = w->be;
    kvc_kakeya_params p;
    snprintf(c->name, sizeof c->name, kind == KVC_CODEC_E8 ? "v15_e8_Q%u" : "v14_d4_Q%u",
             (unsigned)q);
    kvc_status st = kvc_kakeya_params_init(&p, kind, KVC_V4_HEAD_DIM, (int)q, err);
    if (st == KVC_OK)
        st = be->codec_roundtrip(be, &p, w->x, (int64_t)n, w->y, err);
    if (st != KVC_OK)
        return st;
    c->accounted_bits = p.accounted_bits;
    c->realized_bits = -1;
    c->stream_bytes = 0;
    c->matches_roundtrip = 1;
    if (p.has_stream) {
        size_t size = 0;
        if ((st = kvc_kakeya_stream_size(&p, n, &size, err)) != KVC_OK ||
            (st = work_reserve(w, n, size, err)) != KVC_OK ||
            (st = be->codec_encode(be, &p, w->x, (int64_t)n, w->bytes, size, err)) != KVC_OK ||
            (st = be->codec_decode(be, &p, w->bytes, size, (int64_t)n, w->z, err)) != KVC_OK ||
            (st = same_as_roundtrip(w, n, k, err)) != KVC_OK)
            return st;
        c->realized_bits = p.vector_bits;
        c->stream_bytes = size;
    }
    return metrics_of(w, n, k, err);
}

/* fp8_per64_baseline: simulated (no byte format). */
static kvc_status per64_codec(kvc_measure_work *w, size_t n, size_t k, kvc_measured_codec *c,
                              kvc_error *err)
{
    snprintf(c->name, sizeof c->name, "%s", FP8_NAME);
    c->accounted_bits = KVC_FP8_PER64_BITS;
    c->realized_bits = -1;
    c->stream_bytes = 0;
    c->matches_roundtrip = 1;
    kvc_status st = w->be->fp8_per64(w->be, w->x, (int64_t)n, w->y, err);
    return st == KVC_OK ? metrics_of(w, n, k, err) : st;
}

/* fp8_ds_mla: 584-byte records encoded and decoded; the decode must equal
 * the simulation. */
static kvc_status dsmla_codec(kvc_measure_work *w, size_t n, size_t k, kvc_measured_codec *c,
                              kvc_error *err)
{
    const kvc_backend *be = w->be;
    size_t size = n * KVC_FP8_DS_MLA_BYTES;
    snprintf(c->name, sizeof c->name, "%s", DSMLA_NAME);
    c->accounted_bits = c->realized_bits = KVC_FP8_DS_MLA_BITS;
    c->stream_bytes = size;
    kvc_status st = work_reserve(w, n, size, err);
    if (st == KVC_OK)
        st = be->fp8_ds_mla(be, w->x, (int64_t)n, w->y, err);
    if (st == KVC_OK)
        st = be->fp8_ds_mla_encode(be, w->x, (int64_t)n, w->bytes, err);
    if (st == KVC_OK)
        st = be->fp8_ds_mla_decode(be, w->bytes, size, (int64_t)n, w->z, err);
    if (st == KVC_OK)
        st = same_as_roundtrip(w, n, k, err);
    return st == KVC_OK ? metrics_of(w, n, k, err) : st;
}

/* The stream's small results back from backend memory (one wait), then
 * the strict check, in codec order: the first codec whose decode differs
 * from its roundtrip (or simulation) fails the measurement. has_format[k]
 * says whether slot k was compared. */
static kvc_status results_back(kvc_measure_work *w, const kvc_measure_spec *spec,
                               const unsigned char *has_format, const char *stream,
                               int64_t passage, kvc_stream_measure *out, kvc_error *err)
{
    const kvc_backend *be = w->be;
    kvc_recon_metrics m[KVC_MEASURE_MAX_CODECS];
    int64_t first[KVC_MEASURE_MAX_CODECS];
    kvc_status st = be->mem_download(be, m, w->metrics, out->ncodec * sizeof m[0], err);
    if (st == KVC_OK)
        st = be->mem_download(be, first, w->first, out->ncodec * sizeof first[0], err);
    if (st != KVC_OK)
        return st;
    for (size_t k = 0; k < out->ncodec; k++) {
        kvc_measured_codec *c = &out->codec[k];
        c->rel_mse = m[k].rel_mse;
        c->cos_sim = m[k].cos_sim;
        c->matches_roundtrip = has_format[k] ? first[k] == -1 : 1;
    }
    for (size_t k = 0; spec->strict && k < out->ncodec; k++) {
        const kvc_measured_codec *c = &out->codec[k];
        if (c->matches_roundtrip)
            continue;
        if (strcmp(c->name, DSMLA_NAME) == 0)
            return kvc_error_set(err, KVC_INTERNAL,
                                 "passage %lld, %s, fp8_ds_mla: the decoded records differ "
                                 "from the simulation",
                                 (long long)passage, stream);
        return kvc_error_set(err, KVC_INTERNAL,
                             "passage %lld, %s, %s: decode(encode(x)) differs from the "
                             "roundtrip",
                             (long long)passage, stream, c->name);
    }
    return KVC_OK;
}

kvc_status kvc_measure_stream(kvc_measure_work *w, const kvc_measure_spec *spec,
                              int64_t passage, const char *stream, const uint16_t *kv, size_t n,
                              kvc_stream_measure *out, kvc_error *err)
{
    if (spec == NULL || spec->nq == 0 || spec->nq > KVC_AUDIT_RUN_MAX_Q || kv == NULL ||
        n == 0 || out == NULL)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "measurement of %zu vectors", n);
    for (size_t k = 0; k < spec->nq; k++)
        if (spec->q[k] < 1 || spec->q[k] > KVC_KAKEYA_BITSTREAM_Q_MAX)
            return kvc_error_set(err, KVC_CODEC_PARAM, "Q = %u (1..%d)", (unsigned)spec->q[k],
                                 KVC_KAKEYA_BITSTREAM_Q_MAX);
    const kvc_backend *be = w->be;
    memset(out, 0, sizeof *out);
    /* the largest bitstream of the spec, so that the buffers grow at most
     * once per stream size (the first stream of a run is the largest) */
    size_t bytes = spec->with_ds_mla ? n * KVC_FP8_DS_MLA_BYTES : 0;
    kvc_status st = KVC_OK;
    for (size_t k = 0; st == KVC_OK && k < 2 * spec->nq; k++) {
        kvc_kakeya_params p;
        size_t size = 0;
        if (k < spec->nq && !spec->with_d4)
            continue;
        st = kvc_kakeya_params_init(&p, k < spec->nq ? KVC_CODEC_D4 : KVC_CODEC_E8,
                                    KVC_V4_HEAD_DIM, (int)spec->q[k % spec->nq], err);
        if (st == KVC_OK && p.has_stream)
            st = kvc_kakeya_stream_size(&p, n, &size, err);
        if (size > bytes)
            bytes = size;
    }
    if (st == KVC_OK)
        st = work_reserve(w, n, bytes, err);
    if (st == KVC_OK)
        st = be->widen_bf16(be, kv, (int64_t)(n * KVC_V4_HEAD_DIM), w->x, err);
    if (st == KVC_OK)
        st = kvc__stats_audit_work(be, w->x, n, KVC_V4_HEAD_DIM, w->y, w->a, &out->audit, err);
    unsigned char has_format[KVC_MEASURE_MAX_CODECS] = {0};
    for (size_t k = 0; st == KVC_OK && k < spec->nq; k++) {
        for (int e8 = !spec->with_d4; e8 < 2 && st == KVC_OK; e8++) {
            size_t slot = out->ncodec++;
            st = lattice_codec(w, e8 ? KVC_CODEC_E8 : KVC_CODEC_D4, spec->q[k], n, slot,
                               &out->codec[slot], err);
            has_format[slot] = out->codec[slot].realized_bits >= 0;
        }
    }
    if (st == KVC_OK) {
        size_t slot = out->ncodec++;
        st = per64_codec(w, n, slot, &out->codec[slot], err);
    }
    if (st == KVC_OK && spec->with_ds_mla) {
        size_t slot = out->ncodec++;
        has_format[slot] = 1;
        st = dsmla_codec(w, n, slot, &out->codec[slot], err);
    }
    if (st == KVC_OK)
        st = results_back(w, spec, has_format, stream, passage, out, err);
    return st;
}

/* One codec's entry in the report. */
static void codec_json(cJSON *codecs, const kvc_measured_codec *c, int *ok)
{
    cJSON *o = jobj(codecs, c->name, ok);
    jnum(o, "bits_per_vector", (double)c->accounted_bits, ok);
    if (c->realized_bits >= 0)
        jnum(o, "bits_realized", (double)c->realized_bits, ok);
    jnum(o, "rel_mse", c->rel_mse, ok);
    jnum(o, "cos_sim", c->cos_sim, ok);
}

typedef struct calib_cache {
    size_t n[KVC_V4_NSTREAMS];
    kvc_audit a[KVC_V4_NSTREAMS];
    int have[KVC_V4_NSTREAMS];
} calib_cache;

/* One stream of one passage: its result object, appended to results. */
static kvc_status stream_result(const kvc_audit_run_options *opt, const uint16_t *kv, size_t n,
                                int si, int64_t passage, calib_cache *cal, kvc_measure_work *w,
                                cJSON *results, kvc_error *err)
{
    const char *sname = kvc_v4_stream_name((kvc_v4_stream)si);
    kvc_measure_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.q = opt->q;
    spec.nq = opt->nq;
    spec.with_d4 = spec.with_ds_mla = opt->mode == KVC_AUDIT_MODE_AUDIT;
    spec.strict = 1;
    kvc_stream_measure *m = malloc(sizeof *m);
    if (m == NULL)
        return kvc_error_set(err, KVC_NOMEM, "a stream's measurements");
    kvc_status st = kvc_measure_stream(w, &spec, passage, sname, kv, n, m, err);
    if (st == KVC_OK && (!cal->have[si] || cal->n[si] != n)) {
        st = kvc_stats_audit_gaussian(n, KVC_V4_HEAD_DIM, KVC_AUDIT_CALIBRATION_SEED,
                                      &cal->a[si], err);
        cal->have[si] = st == KVC_OK;
        cal->n[si] = n;
    }
    if (st != KVC_OK) {
        free(m);
        return st;
    }
    int ok = 1;
    cJSON *so = cJSON_CreateObject();
    if (so == NULL || !cJSON_AddItemToArray(results, so)) {
        cJSON_Delete(so);
        free(m);
        return kvc_error_set(err, KVC_NOMEM, "building the report");
    }
    if (cJSON_AddStringToObject(so, "stream", sname) == NULL)
        ok = 0;
    cJSON *shape = cJSON_AddArrayToObject(so, "shape");
    if (shape == NULL ||
        !cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)n)) ||
        !cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)KVC_V4_HEAD_DIM)))
        ok = 0;
    audit_json(jobj(so, "audit", &ok), &m->audit, &ok);
    gates_json(jobj(so, "audit_gates", &ok), &m->audit, &ok);
    audit_json(jobj(so, "audit_calibration", &ok), &cal->a[si], &ok);
    cJSON *codecs = jobj(so, "codecs", &ok);
    for (size_t k = 0; ok && k < m->ncodec; k++)
        codec_json(codecs, &m->codec[k], &ok);
    /* per-passage ratios vs fp8_per64: one rounded division, as aggregate.h */
    const kvc_measured_codec *fp8 = kvc_measure_find(m, FP8_NAME);
    cJSON *ratios = ok ? jobj(so, "ratios_vs_fp8", &ok) : NULL;
    for (size_t k = 0; ok && k < m->ncodec; k++)
        if (&m->codec[k] != fp8)
            jnum(ratios, m->codec[k].name, m->codec[k].rel_mse / fp8->rel_mse, &ok);
    free(m);
    return ok ? KVC_OK : kvc_error_set(err, KVC_NOMEM, "building the report");
}

/* ------------------------------------------------------------ the run */

typedef struct run {
    kvc_v4_hidden *hidden;
    kvc_v4_model *model;
    unsigned char *sel;
    kvc_measure_work *w;
    cJSON *pp; /* the per_passage array */
    calib_cache cal;
} run;

static void run_free(run *r)
{
    kvc_v4_hidden_close(r->hidden);
    kvc_v4_model_destroy(r->model);
    free(r->sel);
    kvc_measure_work_destroy(r->w);
    cJSON_Delete(r->pp);
}

static kvc_status run_passages(const kvc_backend *be, const char *shards, const char *hidden,
                               const kvc_audit_run_options *opt, run *r, int64_t *seq_len,
                               kvc_error *err)
{
    kvc_status st = kvc_v4_hidden_open(hidden, &r->hidden, err);
    if (st != KVC_OK)
        return st;
    int64_t np = kvc_v4_hidden_passages(r->hidden), S = kvc_v4_hidden_seq_len(r->hidden);
    *seq_len = S;
    r->sel = malloc((size_t)np);
    r->pp = cJSON_CreateArray();
    if (r->sel == NULL || r->pp == NULL)
        return kvc_error_set(err, KVC_NOMEM, "the passage list");
    if (opt->passages == NULL)
        memset(r->sel, 1, (size_t)np);
    else if (kvc_audit_parse_passages(opt->passages, np, r->sel) != 0)
        return kvc_error_set(err, KVC_USAGE,
                             "bad passage list '%s' (indices or ranges below %lld, each once)",
                             opt->passages, (long long)np);
    if ((st = kvc_v4_model_load(be, shards, &r->model, err)) != KVC_OK ||
        (st = kvc_measure_work_create(be, &r->w, err)) != KVC_OK)
        return st;
    uint64_t total = 0, done = 0;
    for (int64_t p = 0; p < np; p++)
        total += r->sel[p];
    for (int64_t p = 0; p < np; p++) {
        if (!r->sel[p])
            continue;
        uint16_t *kv[KVC_V4_NSTREAMS] = {NULL, NULL, NULL};
        /* the file's bf16 bytes go up as they are and widen on the backend */
        st = kvc_v4_streams_compute_bf16_on(r->model, opt->profile,
                                            kvc_v4_hidden_bf16(r->hidden, p), S, kv, err);
        if (st != KVC_OK)
            return st;
        cJSON *po = cJSON_CreateObject();
        cJSON *results = po != NULL ? cJSON_AddArrayToObject(po, "results") : NULL;
        if (po == NULL || !cJSON_AddItemToArray(r->pp, po) || results == NULL ||
            cJSON_AddNumberToObject(po, "passage_id", (double)p) == NULL) {
            kvc_v4_streams_free_on(r->model, kv);
            return kvc_error_set(err, KVC_NOMEM, "building the report");
        }
        for (int i = 0; i < KVC_V4_NSTREAMS && st == KVC_OK; i++)
            st = stream_result(opt, kv[i], (size_t)(S / kvc_v4_stream_ratio((kvc_v4_stream)i)), i,
                               p, &r->cal, r->w, results, err);
        kvc_v4_streams_free_on(r->model, kv);
        if (st != KVC_OK)
            return st;
        if (opt->progress != NULL)
            opt->progress(opt->progress_ctx, ++done, total);
    }
    return KVC_OK;
}

/* Parses text as a report, aggregates it (published t table, exact sums,
 * layers 3/20/20) and writes the result as JSON into a cJSON tree. */
static kvc_status aggregate_text(const char *text, kvc_report **rep, kvc_result **res,
                                 cJSON **out, kvc_error *err)
{
    kvc_status st = kvc_report_parse(text, strlen(text), "<audit>", rep, err);
    if (st == KVC_OK)
        st = kvc_report_aggregate(*rep, NULL, NULL, res, err);
    if (st != KVC_OK)
        return st;
    char *buf = NULL;
    size_t len = 0;
    FILE *mf = open_memstream(&buf, &len);
    if (mf == NULL)
        return kvc_error_set(err, KVC_NOMEM, "a memory stream");
    st = kvc_report_write_json(*rep, *res, mf, err);
    if (fclose(mf) != 0 && st == KVC_OK)
        st = kvc_error_set(err, KVC_NOMEM, "a memory stream");
    if (st == KVC_OK && (*out = cJSON_Parse(buf)) == NULL)
        st = kvc_error_set(err, KVC_INTERNAL, "the aggregated report does not parse");
    free(buf);
    return st;
}

/* cJSON prints numbers with 15 significant digits when they read back
 * within its tolerance, which loses bits; every number becomes a raw node
 * holding the fewest digits that read back EXACTLY (published.h). */
static int exact_numbers(cJSON *n)
{
    for (; n != NULL; n = n->next) {
        if (cJSON_IsNumber(n)) {
            char buf[40];
            const char *t = kvc_report_format_double(n->valuedouble, buf, sizeof buf);
            char *copy = malloc(strlen(t) + 1);
            if (copy == NULL)
                return 0;
            memcpy(copy, t, strlen(t) + 1);
            n->type = cJSON_Raw;
            n->valuestring = copy;
        } else if (n->child != NULL && !exact_numbers(n->child)) {
            return 0;
        }
    }
    return 1;
}

/* Text of a minimal document: schema, kind, head_dim and body members. */
static char *minimal_doc(const char *kind, cJSON *body_key_owner, const char *key)
{
    cJSON *doc = cJSON_CreateObject();
    if (doc == NULL)
        return NULL;
    cJSON_AddStringToObject(doc, "schema", KVC_REPORT_SCHEMA);
    cJSON_AddStringToObject(doc, "kind", kind);
    cJSON *cfg = cJSON_AddObjectToObject(doc, "config");
    if (cfg != NULL)
        cJSON_AddNumberToObject(cfg, "head_dim", KVC_V4_HEAD_DIM);
    cJSON *dup = cJSON_Duplicate(body_key_owner, 1);
    char *text = NULL;
    if (dup != NULL && cJSON_AddItemToObject(doc, key, dup)) {
        if (exact_numbers(doc->child))
            text = cJSON_PrintUnformatted(doc);
    }
    else
        cJSON_Delete(dup);
    cJSON_Delete(doc);
    return text;
}

static cJSON *agg_to_json(const kvc_stats_agg *a)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return NULL;
    cJSON_AddNumberToObject(o, "mean", a->mean);
    cJSON_AddNumberToObject(o, "std", a->std);
    cJSON_AddNumberToObject(o, "ci95_hw", a->ci95_hw);
    cJSON_AddNumberToObject(o, "n", (double)a->n);
    cJSON_AddStringToObject(o, "t_source", kvc_t_source_name(a->t_source));
    return o;
}

/* The q-sweep body from a per-passage result: the stored aggregates the
 * Q-sweep file holds (fp8, E8 per Q, audit). */
static cJSON *qsweep_body(const kvc_report *rep, const kvc_result *res)
{
    cJSON *abs = cJSON_CreateObject();
    for (size_t i = 0; abs != NULL && i < res->n_streams; i++) {
        const kvc_result_stream *rs = &res->streams[i];
        cJSON *so = cJSON_AddObjectToObject(abs, rs->name);
        if (so == NULL || !rs->has_sweep)
            goto fail;
        cJSON_AddItemToObject(so, "fp8_rel_mse", agg_to_json(&rs->fp8));
        cJSON *byq = cJSON_AddObjectToObject(so, "e8_rel_mse_by_q");
        for (size_t k = 0; byq != NULL && k < rs->n_q; k++) {
            char key[16];
            snprintf(key, sizeof key, "%u", (unsigned)rs->q[k]);
            cJSON_AddItemToObject(byq, key, agg_to_json(&rs->e8[k]));
        }
        cJSON *au = cJSON_AddObjectToObject(so, "audit");
        for (size_t k = 0; au != NULL && k < rs->n_audit; k++)
            cJSON_AddItemToObject(au, rep->streams[i].audit[k].name, agg_to_json(&rs->audit[k]));
    }
    return abs;
fail:
    cJSON_Delete(abs);
    return NULL;
}

/* Mean of an aggregate's audit metric (from the written report). */
static double agg_mean(const cJSON *audit, const char *name)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(audit, name), "mean");
    return cJSON_IsNumber(m) ? m->valuedouble : 0.0;
}

/* Adds the informative extras to the aggregated document. */
static kvc_status decorate(cJSON *doc, const run *r, const kvc_audit_run_options *opt,
                           const char *shards, const char *hidden, int64_t S, kvc_error *err)
{
    int ok = 1;
    const char *gen = opt->mode == KVC_AUDIT_MODE_SWEEP ? "kvcert " PACKAGE_VERSION " sweep"
                                                        : "kvcert " PACKAGE_VERSION " audit";
    cJSON_ReplaceItemInObjectCaseSensitive(doc, "generator", cJSON_CreateString(gen));
    cJSON *src = cJSON_CreateObject();
    if (src == NULL)
        return kvc_error_set(err, KVC_NOMEM, "building the report");
    cJSON_AddStringToObject(src, "shards", shards);
    cJSON_AddStringToObject(src, "hidden", hidden);
    cJSON_AddStringToObject(src, "format", "kvcert run");
    cJSON_ReplaceItemInObjectCaseSensitive(doc, "source", src);
    cJSON *cfg = cJSON_GetObjectItemCaseSensitive(doc, "config");
    if (cfg == NULL)
        return kvc_error_set(err, KVC_INTERNAL, "the aggregated report has no config");
    cJSON_AddStringToObject(cfg, "profile", opt->profile->name);
    jnum(cfg, "seqlen", (double)S, &ok);
    if (opt->mode == KVC_AUDIT_MODE_SWEEP)
        jnum(cfg, "n_passages", (double)cJSON_GetArraySize(r->pp), &ok);
    cJSON *qv = cJSON_AddArrayToObject(cfg, "q_values");
    for (size_t k = 0; qv != NULL && k < opt->nq; k++)
        cJSON_AddItemToArray(qv, cJSON_CreateNumber(opt->q[k]));
    cJSON *pv = cJSON_AddArrayToObject(cfg, "passages");
    for (cJSON *po = r->pp->child; pv != NULL && po != NULL; po = po->next)
        cJSON_AddItemToArray(pv, cJSON_CreateNumber(
                                     cJSON_GetObjectItemCaseSensitive(po, "passage_id")->valuedouble));
    cJSON_AddStringToObject(cfg, "streams_backend",
                            opt->backend_name != NULL ? opt->backend_name : "cpu");
    cJSON_AddStringToObject(cfg, "codec_backend",
                            opt->backend_name != NULL ? opt->backend_name : "cpu");
    char seed[24];
    snprintf(seed, sizeof seed, "0x%016llx", (unsigned long long)KVC_AUDIT_CALIBRATION_SEED);
    cJSON_AddStringToObject(cfg, "calibration_seed", seed);
    if (opt->mode == KVC_AUDIT_MODE_AUDIT) {
        cJSON *dup = cJSON_Duplicate(r->pp, 1);
        if (dup == NULL || !cJSON_ReplaceItemInObjectCaseSensitive(doc, "per_passage", dup)) {
            cJSON_Delete(dup);
            return kvc_error_set(err, KVC_NOMEM, "building the report");
        }
    }
    /* per stream: gates of the mean, calibration row, realized bits */
    cJSON *abs = cJSON_GetObjectItemCaseSensitive(doc, "aggregate_by_stream");
    const cJSON *p0 = cJSON_GetObjectItemCaseSensitive(r->pp->child, "results");
    for (const cJSON *s0 = p0 != NULL ? p0->child : NULL; s0 != NULL; s0 = s0->next) {
        const char *name = cJSON_GetObjectItemCaseSensitive(s0, "stream")->valuestring;
        cJSON *so = cJSON_GetObjectItemCaseSensitive(abs, name);
        if (so == NULL)
            return kvc_error_set(err, KVC_INTERNAL, "stream %s missing from the aggregate", name);
        const cJSON *au = cJSON_GetObjectItemCaseSensitive(so, "audit");
        kvc_audit m;
        m.excess_kurtosis_abs = agg_mean(au, "excess_kurtosis_abs");
        m.isotropy_variance_ratio = agg_mean(au, "isotropy_variance_ratio");
        m.hadamard_post_variance_ratio = agg_mean(au, "hadamard_post_variance_ratio");
        m.rms_wasserstein2_over_sigma_per_dim = agg_mean(au, "rms_wasserstein2_over_sigma_per_dim");
        gates_json(jobj(so, "audit_gates", &ok), &m, &ok);
        cJSON *cal = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(s0, "audit_calibration"), 1);
        if (cal == NULL || !cJSON_AddItemToObject(so, "audit_calibration", cal)) {
            cJSON_Delete(cal);
            ok = 0;
        }
        cJSON *codecs = cJSON_GetObjectItemCaseSensitive(so, "codecs");
        const cJSON *c0 = cJSON_GetObjectItemCaseSensitive(s0, "codecs");
        for (const cJSON *c = c0 != NULL ? c0->child : NULL; codecs != NULL && c != NULL;
             c = c->next) {
            const cJSON *rb = cJSON_GetObjectItemCaseSensitive(c, "bits_realized");
            cJSON *co = cJSON_GetObjectItemCaseSensitive(codecs, c->string);
            if (rb != NULL && co != NULL)
                jnum(co, "bits_realized", rb->valuedouble, &ok);
        }
    }
    return ok ? KVC_OK : kvc_error_set(err, KVC_NOMEM, "building the report");
}

kvc_status kvc_audit_run(const kvc_backend *be, const char *shards, const char *hidden,
                         const kvc_audit_run_options *opt, char **json, kvc_error *err)
{
    *json = NULL;
    if (opt == NULL || opt->profile == NULL || opt->nq == 0 || opt->nq > KVC_AUDIT_RUN_MAX_Q)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "audit run: no profile or no Q values");
    for (size_t k = 0; k < opt->nq; k++)
        if (opt->q[k] < 1 || opt->q[k] > KVC_KAKEYA_BITSTREAM_Q_MAX)
            return kvc_error_set(err, KVC_CODEC_PARAM, "Q = %u (1..%d)", (unsigned)opt->q[k],
                                 KVC_KAKEYA_BITSTREAM_Q_MAX);
    run r;
    memset(&r, 0, sizeof r);
    int64_t S = 0;
    kvc_report *rep = NULL, *rep2 = NULL;
    kvc_result *res = NULL, *res2 = NULL;
    cJSON *doc = NULL, *body = NULL;
    char *text = NULL;
    kvc_status st = run_passages(be, shards, hidden, opt, &r, &S, err);
    if (st != KVC_OK)
        goto done;
    if ((text = minimal_doc("per-passage", r.pp, "per_passage")) == NULL) {
        st = kvc_error_set(err, KVC_NOMEM, "building the report");
        goto done;
    }
    if ((st = aggregate_text(text, &rep, &res, &doc, err)) != KVC_OK)
        goto done;
    if (opt->mode == KVC_AUDIT_MODE_SWEEP) {
        cJSON_Delete(doc);
        doc = NULL;
        free(text);
        text = NULL;
        if ((body = qsweep_body(rep, res)) == NULL ||
            (text = minimal_doc("q-sweep", body, "aggregate_by_stream")) == NULL) {
            st = kvc_error_set(err, KVC_NOMEM, "building the Q-sweep report");
            goto done;
        }
        if ((st = aggregate_text(text, &rep2, &res2, &doc, err)) != KVC_OK)
            goto done;
    }
    if ((st = decorate(doc, &r, opt, shards, hidden, S, err)) != KVC_OK)
        goto done;
    char *out = exact_numbers(doc->child) ? cJSON_Print(doc) : NULL;
    size_t len = out != NULL ? strlen(out) : 0;
    if (out == NULL || (*json = malloc(len + 2)) == NULL) {
        cJSON_free(out);
        st = kvc_error_set(err, KVC_NOMEM, "printing the report");
        goto done;
    }
    memcpy(*json, out, len);
    (*json)[len] = '\n';
    (*json)[len + 1] = '\0';
    cJSON_free(out);
done:
    free(text);
    cJSON_Delete(doc);
    cJSON_Delete(body);
    kvc_result_destroy(res);
    kvc_result_destroy(res2);
    kvc_report_destroy(rep);
    kvc_report_destroy(rep2);
    run_free(&r);
    return st;
}

/* ------------------------------------------------------------ two reports */

typedef struct diff_ctx {
    char path[512];
    const char *name_a, *name_b;
    kvc_error *err;
} diff_ctx;

static uint64_t bits_of(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

/* Appends ".key", "[label]" or "[index]" to the path; the path is cut
 * (never overrun) when long. Returns the length before. */
static size_t path_key(diff_ctx *c, const char *key)
{
    size_t len = strlen(c->path);
    snprintf(c->path + len, sizeof c->path - len, "%s%s", len > 0 ? "." : "", key);
    return len;
}

static void path_label(diff_ctx *c, const char *label)
{
    size_t len = strlen(c->path);
    snprintf(c->path + len, sizeof c->path - len, "[%s]", label);
}

static void path_index(diff_ctx *c, const char *what, long long i)
{
    size_t len = strlen(c->path);
    snprintf(c->path + len, sizeof c->path - len, "[%s%lld]", what, i);
}

/* A config key that names the backend (and so differs by design). */
static int backend_key(const char *path)
{
    return strcmp(path, "config.streams_backend") == 0 ||
           strcmp(path, "config.codec_backend") == 0;
}

static kvc_status diff_mismatch(diff_ctx *c, const cJSON *a, const cJSON *b)
{
    if (cJSON_IsNumber(a) && cJSON_IsNumber(b))
        return kvc_error_set(c->err, KVC_BACKEND_MISMATCH,
                             "the reports differ at %s: %s %.17g (0x%016llx), %s %.17g "
                             "(0x%016llx)",
                             c->path, c->name_a, a->valuedouble,
                             (unsigned long long)bits_of(a->valuedouble), c->name_b,
                             b->valuedouble, (unsigned long long)bits_of(b->valuedouble));
    char *ta = a != NULL ? cJSON_PrintUnformatted(a) : NULL;
    char *tb = b != NULL ? cJSON_PrintUnformatted(b) : NULL;
    kvc_status st = kvc_error_set(c->err, KVC_BACKEND_MISMATCH,
                                  "the reports differ at %s: %s %.80s, %s %.80s", c->path,
                                  c->name_a, ta != NULL ? ta : "(absent)", c->name_b,
                                  tb != NULL ? tb : "(absent)");
    cJSON_free(ta);
    cJSON_free(tb);
    return st;
}

/* The label of an array element: its passage or stream when it has one. */
static void element_label(diff_ctx *c, const cJSON *e, int i)
{
    const cJSON *pid = cJSON_GetObjectItemCaseSensitive(e, "passage_id");
    const cJSON *sn = cJSON_GetObjectItemCaseSensitive(e, "stream");
    if (cJSON_IsNumber(pid))
        path_index(c, "passage ", (long long)pid->valuedouble);
    else if (cJSON_IsString(sn))
        path_label(c, sn->valuestring);
    else
        path_index(c, "", (long long)i);
}

static kvc_status diff_node(diff_ctx *c, const cJSON *a, const cJSON *b)
{
    if ((a->type & 0xFF) != (b->type & 0xFF))
        return diff_mismatch(c, a, b);
    if (cJSON_IsNumber(a))
        return bits_of(a->valuedouble) == bits_of(b->valuedouble) ? KVC_OK
                                                                   : diff_mismatch(c, a, b);
    if (cJSON_IsString(a))
        return strcmp(a->valuestring, b->valuestring) == 0 || backend_key(c->path)
                   ? KVC_OK
                   : diff_mismatch(c, a, b);
    if (cJSON_IsArray(a) || cJSON_IsObject(a)) {
        const cJSON *x = a->child, *y = b->child;
        int i = 0;
        for (; x != NULL && y != NULL; x = x->next, y = y->next, i++) {
            size_t len;
            if (cJSON_IsObject(a)) {
                if (strcmp(x->string, y->string) != 0) {
                    len = path_key(c, x->string);
                    kvc_status st = diff_mismatch(c, x, NULL);
                    c->path[len] = '\0';
                    return st;
                }
                len = path_key(c, x->string);
            } else {
                len = strlen(c->path);
                element_label(c, x, i);
            }
            kvc_status st = diff_node(c, x, y);
            if (st != KVC_OK)
                return st;
            c->path[len] = '\0';
        }
        if (x != NULL || y != NULL) {
            const cJSON *e = x != NULL ? x : y;
            if (cJSON_IsObject(a))
                path_key(c, e->string);
            else
                element_label(c, e, i);
            return diff_mismatch(c, x, y);
        }
        return KVC_OK;
    }
    return KVC_OK; /* true, false, null of the same type */
}

kvc_status kvc_audit_compare_reports(const char *a, const char *name_a, const char *b,
                                     const char *name_b, kvc_error *err)
{
    cJSON *ja = cJSON_Parse(a), *jb = cJSON_Parse(b);
    kvc_status st;
    if (ja == NULL || jb == NULL) {
        st = kvc_error_set(err, KVC_INTERNAL, "a report does not parse");
    } else {
        diff_ctx c;
        memset(&c, 0, sizeof c);
        c.name_a = name_a;
        c.name_b = name_b;
        c.err = err;
        st = diff_node(&c, ja, jb);
    }
    cJSON_Delete(ja);
    cJSON_Delete(jb);
    return st;
}
