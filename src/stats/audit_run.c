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
#include "core/formats.h"
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

typedef struct work {
    float *x, *y, *z;
    uint8_t *bytes;
    size_t cap_vec, cap_bytes;
} work;

static kvc_status work_reserve(work *w, size_t n, size_t bytes, kvc_error *err)
{
    if (n > w->cap_vec) {
        float *a = realloc(w->x, n * KVC_V4_HEAD_DIM * sizeof(float));
        if (a != NULL)
            w->x = a;
        float *b = a != NULL ? realloc(w->y, n * KVC_V4_HEAD_DIM * sizeof(float)) : NULL;
        if (b != NULL)
            w->y = b;
        float *c = b != NULL ? realloc(w->z, n * KVC_V4_HEAD_DIM * sizeof(float)) : NULL;
        if (c == NULL)
            return kvc_error_set(err, KVC_NOMEM, "%zu vectors of codec work space", n);
        w->z = c;
        w->cap_vec = n;
    }
    if (bytes > w->cap_bytes) {
        uint8_t *d = realloc(w->bytes, bytes);
        if (d == NULL)
            return kvc_error_set(err, KVC_NOMEM, "%zu bytes of bitstream", bytes);
        w->bytes = d;
        w->cap_bytes = bytes;
    }
    return KVC_OK;
}

static void work_free(work *w)
{
    free(w->x);
    free(w->y);
    free(w->z);
    free(w->bytes);
}

/* One codec's entry: accounted (and realized) bits, rel_mse, cos_sim. */
static kvc_status codec_entry(cJSON *codecs, const char *name, int64_t accounted,
                              int64_t realized, const float *x, const float *xhat, size_t n,
                              double *rel_mse, kvc_error *err)
{
    kvc_recon_metrics m;
    kvc_status st = kvc_stats_recon(x, xhat, n, KVC_V4_HEAD_DIM, &m, err);
    if (st != KVC_OK)
        return st;
    int ok = 1;
    cJSON *o = jobj(codecs, name, &ok);
    jnum(o, "bits_per_vector", (double)accounted, &ok);
    if (realized >= 0)
        jnum(o, "bits_realized", (double)realized, &ok);
    jnum(o, "rel_mse", m.rel_mse, &ok);
    jnum(o, "cos_sim", m.cos_sim, &ok);
    *rel_mse = m.rel_mse;
    return ok ? KVC_OK : kvc_error_set(err, KVC_NOMEM, "building the report");
}

/* The KakeyaLattice codec kind at Q: roundtrip, then encode + decode,
 * which must reproduce the roundtrip bit for bit. */
static kvc_status lattice_codec(cJSON *codecs, kvc_codec_kind kind, uint32_t q, const char *stream,
                                int64_t passage, size_t n, work *w, double *rel_mse,
                                kvc_error *err)
{
    kvc_kakeya_params p;
    char name[32];
    snprintf(name, sizeof name, kind == KVC_CODEC_E8 ? "v15_e8_Q%u" : "v14_d4_Q%u", (unsigned)q);
    kvc_status st = kvc_kakeya_params_init(&p, kind, KVC_V4_HEAD_DIM, (int)q, err);
    if (st == KVC_OK)
        st = kvc_kakeya_roundtrip(&p, w->x, n, w->y, err);
    if (st != KVC_OK)
        return st;
    int64_t realized = -1;
    if (p.has_stream) {
        size_t size = 0;
        if ((st = kvc_kakeya_stream_size(&p, n, &size, err)) != KVC_OK ||
            (st = work_reserve(w, n, size, err)) != KVC_OK ||
            (st = kvc_kakeya_encode(&p, w->x, n, w->bytes, size, err)) != KVC_OK ||
            (st = kvc_kakeya_decode(&p, w->bytes, size, n, w->z, err)) != KVC_OK)
            return st;
        if (memcmp(w->y, w->z, n * KVC_V4_HEAD_DIM * sizeof(float)) != 0)
            return kvc_error_set(err, KVC_INTERNAL,
                                 "passage %lld, %s, %s: decode(encode(x)) differs from the "
                                 "roundtrip",
                                 (long long)passage, stream, name);
        realized = p.vector_bits;
    }
    return codec_entry(codecs, name, p.accounted_bits, realized, w->x, w->y, n, rel_mse, err);
}

/* fp8_ds_mla: 584-byte records encoded and decoded; the decode must equal
 * the simulation. */
static kvc_status dsmla_codec(cJSON *codecs, const char *stream, int64_t passage, size_t n,
                              work *w, double *rel_mse, kvc_error *err)
{
    size_t size = n * KVC_FP8_DS_MLA_BYTES;
    kvc_status st = work_reserve(w, n, size, err);
    if (st != KVC_OK)
        return st;
    kvc_fp8_ds_mla(w->x, n, w->y);
    kvc_fp8_ds_mla_encode(w->x, n, w->bytes);
    if ((st = kvc_fp8_ds_mla_decode(w->bytes, size, n, w->z, err)) != KVC_OK)
        return st;
    if (memcmp(w->y, w->z, n * KVC_V4_HEAD_DIM * sizeof(float)) != 0)
        return kvc_error_set(err, KVC_INTERNAL,
                             "passage %lld, %s, fp8_ds_mla: the decoded records differ from "
                             "the simulation",
                             (long long)passage, stream);
    return codec_entry(codecs, DSMLA_NAME, KVC_FP8_DS_MLA_BITS, KVC_FP8_DS_MLA_BITS, w->x, w->y,
                       n, rel_mse, err);
}

typedef struct calib_cache {
    size_t n[KVC_V4_NSTREAMS];
    kvc_audit a[KVC_V4_NSTREAMS];
    int have[KVC_V4_NSTREAMS];
} calib_cache;

/* One stream of one passage: its result object, appended to results. */
static kvc_status stream_result(const kvc_audit_run_options *opt, const uint16_t *kv, size_t n,
                                int si, int64_t passage, calib_cache *cal, work *w,
                                cJSON *results, kvc_error *err)
{
    const char *sname = kvc_v4_stream_name((kvc_v4_stream)si);
    kvc_status st = work_reserve(w, n, 0, err);
    if (st != KVC_OK)
        return st;
    for (size_t i = 0; i < n * KVC_V4_HEAD_DIM; i++)
        w->x[i] = kvc_bf16_to_f32(kv[i]);
    kvc_audit a;
    if ((st = kvc_stats_audit(w->x, n, KVC_V4_HEAD_DIM, &a, err)) != KVC_OK)
        return st;
    if (!cal->have[si] || cal->n[si] != n) {
        if ((st = kvc_stats_audit_gaussian(n, KVC_V4_HEAD_DIM, KVC_AUDIT_CALIBRATION_SEED,
                                           &cal->a[si], err)) != KVC_OK)
            return st;
        cal->have[si] = 1;
        cal->n[si] = n;
    }
    int ok = 1;
    cJSON *so = cJSON_CreateObject();
    if (so == NULL || !cJSON_AddItemToArray(results, so)) {
        cJSON_Delete(so);
        return kvc_error_set(err, KVC_NOMEM, "building the report");
    }
    if (cJSON_AddStringToObject(so, "stream", sname) == NULL)
        ok = 0;
    cJSON *shape = cJSON_AddArrayToObject(so, "shape");
    if (shape == NULL ||
        !cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)n)) ||
        !cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)KVC_V4_HEAD_DIM)))
        ok = 0;
    audit_json(jobj(so, "audit", &ok), &a, &ok);
    gates_json(jobj(so, "audit_gates", &ok), &a, &ok);
    audit_json(jobj(so, "audit_calibration", &ok), &cal->a[si], &ok);
    cJSON *codecs = jobj(so, "codecs", &ok);
    if (!ok)
        return kvc_error_set(err, KVC_NOMEM, "building the report");
    /* codec rel_mse values, for the per-passage ratios */
    double rm[2 * KVC_AUDIT_RUN_MAX_Q + 2];
    char names[2 * KVC_AUDIT_RUN_MAX_Q + 2][32];
    size_t nc = 0;
    for (size_t k = 0; k < opt->nq; k++) {
        if (opt->mode == KVC_AUDIT_MODE_AUDIT) {
            if ((st = lattice_codec(codecs, KVC_CODEC_D4, opt->q[k], sname, passage, n, w,
                                    &rm[nc], err)) != KVC_OK)
                return st;
            snprintf(names[nc++], sizeof names[0], "v14_d4_Q%u", (unsigned)opt->q[k]);
        }
        if ((st = lattice_codec(codecs, KVC_CODEC_E8, opt->q[k], sname, passage, n, w, &rm[nc],
                                err)) != KVC_OK)
            return st;
        snprintf(names[nc++], sizeof names[0], "v15_e8_Q%u", (unsigned)opt->q[k]);
    }
    double fp8;
    kvc_fp8_per64(w->x, n, w->y);
    if ((st = codec_entry(codecs, FP8_NAME, KVC_FP8_PER64_BITS, -1, w->x, w->y, n, &fp8, err)) !=
        KVC_OK)
        return st;
    if (opt->mode == KVC_AUDIT_MODE_AUDIT) {
        if ((st = dsmla_codec(codecs, sname, passage, n, w, &rm[nc], err)) != KVC_OK)
            return st;
        snprintf(names[nc++], sizeof names[0], "%s", DSMLA_NAME);
    }
    cJSON *ratios = jobj(so, "ratios_vs_fp8", &ok);
    for (size_t k = 0; k < nc; k++)
        jnum(ratios, names[k], rm[k] / fp8, &ok); /* one rounded division, as aggregate.h */
    return ok ? KVC_OK : kvc_error_set(err, KVC_NOMEM, "building the report");
}

/* ------------------------------------------------------------ the run */

typedef struct run {
    kvc_v4_hidden *hidden;
    kvc_v4_model *model;
    float *xh;
    unsigned char *sel;
    work w;
    cJSON *pp; /* the per_passage array */
    calib_cache cal;
} run;

static void run_free(run *r)
{
    kvc_v4_hidden_close(r->hidden);
    kvc_v4_model_destroy(r->model);
    free(r->xh);
    free(r->sel);
    work_free(&r->w);
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
    r->xh = malloc(sizeof(float) * (size_t)S * KVC_V4_HIDDEN_DIM);
    r->pp = cJSON_CreateArray();
    if (r->sel == NULL || r->xh == NULL || r->pp == NULL)
        return kvc_error_set(err, KVC_NOMEM, "%lld tokens of hidden states", (long long)S);
    if (opt->passages == NULL)
        memset(r->sel, 1, (size_t)np);
    else if (kvc_audit_parse_passages(opt->passages, np, r->sel) != 0)
        return kvc_error_set(err, KVC_USAGE,
                             "bad passage list '%s' (indices or ranges below %lld, each once)",
                             opt->passages, (long long)np);
    if ((st = kvc_v4_model_load(be, shards, &r->model, err)) != KVC_OK)
        return st;
    uint64_t total = 0, done = 0;
    for (int64_t p = 0; p < np; p++)
        total += r->sel[p];
    for (int64_t p = 0; p < np; p++) {
        if (!r->sel[p])
            continue;
        kvc_v4_streams s;
        memset(&s, 0, sizeof s);
        if ((st = kvc_v4_hidden_read(r->hidden, p, r->xh, err)) != KVC_OK ||
            (st = kvc_v4_streams_compute(r->model, opt->profile, r->xh, S, &s, err)) != KVC_OK)
            return st;
        cJSON *po = cJSON_CreateObject();
        cJSON *results = po != NULL ? cJSON_AddArrayToObject(po, "results") : NULL;
        if (po == NULL || !cJSON_AddItemToArray(r->pp, po) || results == NULL ||
            cJSON_AddNumberToObject(po, "passage_id", (double)p) == NULL) {
            kvc_v4_streams_free(&s);
            return kvc_error_set(err, KVC_NOMEM, "building the report");
        }
        for (int i = 0; i < KVC_V4_NSTREAMS && st == KVC_OK; i++)
            st = stream_result(opt, s.kv[i], (size_t)(S / kvc_v4_stream_ratio((kvc_v4_stream)i)),
                               i, p, &r->cal, &r->w, results, err);
        kvc_v4_streams_free(&s);
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
    cJSON_AddStringToObject(cfg, "codec_backend", "cpu");
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
