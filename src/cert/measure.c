/* kvcert: what the pipeline and real-data cases measure on each passage's
 * KV streams (SPEC 7), assembled as the published n-passage file is laid
 * out and aggregated by the stats module:
 *
 *   per stream: the non-Gaussian audit (stats/audit.h); the KakeyaLattice
 *   codecs D4 and E8 at each Q ("v14_d4_Q<Q>", "v15_e8_Q<Q>", the published
 *   names; codec/kakeya.h), the FP8 per-64 baseline ("fp8_per64_baseline",
 *   SPEC 7.1) and V4's own cache layout ("fp8_ds_mla"; codec/fp8block.h),
 *   each with rel-MSE and cosine (stats/metrics.h) against the stream
 *   widened to binary32. Each codec's real bitstream is written and read
 *   back (the KakeyaLattice stream, the 584-byte fp8_ds_mla records) and
 *   must give the roundtrip's bytes exactly.
 *
 * The measurement itself is kvc_measure_stream (stats/audit_run.h), the
 * one `kvcert audit` makes, run on the CPU table (not strict: a decode
 * that differs is tallied into bitstream.matches_roundtrip); this file only
 * lays its results out as certify reports them and tallies the bitstreams.
 *
 * Results (into the object given to kvc__cert_measure_finish):
 *   report                 kvcert-report/1 per-passage, aggregated
 *                          (stats/published.h; t table as published)
 *   ratios_vs_fp8_ds_mla   {stream: {codec: AGG}}: per-passage codec /
 *                          fp8_ds_mla rel-MSE, aggregated (kvc_stats_aggregate)
 *   bits                   {codec: {accounted, realized}} per vector
 *   bitstream              {codec: {vectors, bytes, matches_roundtrip}}
 *   bit_saving_e8_q38_vs_fp8_pct   100 (1 - 3296/4224) when Q 38 is swept
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cert/internal.h"
#include "codec/bits.h"
#include "codec/fp8block.h"
#include "codec/kakeya.h"
#include "core/backend.h"
#include "stats/aggregate.h"
#include "stats/audit_run.h"
#include "stats/audit.h"
#include "stats/bits.h"
#include "stats/published.h"
#include "v4/pipeline.h"

#define MAX_Q 16
#define MAX_CODECS (2 * MAX_Q + 2)

typedef struct codec_tally {
    char name[KVC_REPORT_NAME_MAX];
    uint64_t vectors;
    uint64_t bytes;
    int matches; /* every decode equalled the roundtrip so far */
} codec_tally;

struct kvc__cert_measure {
    size_t nq;
    int q[MAX_Q];
    uint32_t uq[MAX_Q];
    kvc_kakeya_params *kp; /* [2 * nq]: D4 at each Q, then E8 */
    size_t ncodec;         /* 2 nq + 2 */
    codec_tally tally[MAX_CODECS];
    cJSON *doc;            /* the kvcert-report/1 being built */
    cJSON *passages;       /* its per_passage array */
    kvc_measure_work *work; /* the shared per-stream measurement (stats/audit_run.h) */
    kvc_stream_measure sm;
};

static const char *const audit_names[] = {"excess_kurtosis_abs", "isotropy_variance_ratio",
                                          "hadamard_post_variance_ratio",
                                          "rms_wasserstein2_over_sigma_per_dim"};

void kvc__cert_measure_destroy(kvc__cert_measure *m)
{
    if (m == NULL)
        return;
    cJSON_Delete(m->doc);
    free(m->kp);
    kvc_measure_work_destroy(m->work);
    free(m);
}

kvc_status kvc__cert_measure_create(const int *q, size_t nq, const char *profile,
                                    kvc__cert_measure **out, kvc_error *err)
{
    *out = NULL;
    if (nq == 0 || nq > MAX_Q)
        return kvc_error_set(err, KVC_CODEC_PARAM, "1..%d Q values, not %zu", MAX_Q, nq);
    kvc__cert_measure *m = calloc(1, sizeof *m);
    if (m == NULL)
        return kvc_error_set(err, KVC_NOMEM, "cannot allocate the measurements");
    m->nq = nq;
    memcpy(m->q, q, nq * sizeof *q);
    for (size_t i = 0; i < nq; i++)
        m->uq[i] = (uint32_t)q[i];
    m->kp = calloc(2 * nq, sizeof *m->kp);
    m->doc = cJSON_CreateObject();
    /* the measurements run on the CPU table, whatever backend made the
     * streams (certify compares the streams themselves across backends) */
    kvc_status wst = kvc_measure_work_create(kvc_backend_cpu(), &m->work, err);
    if (wst != KVC_OK) {
        kvc__cert_measure_destroy(m);
        return wst;
    }
    if (m->kp == NULL || m->doc == NULL) {
        kvc__cert_measure_destroy(m);
        return kvc_error_set(err, KVC_NOMEM, "cannot allocate the measurements");
    }
    kvc_status st = KVC_OK;
    for (size_t k = 0; st == KVC_OK && k < 2 * nq; k++) {
        kvc_codec_kind kind = k < nq ? KVC_CODEC_D4 : KVC_CODEC_E8;
        int qq = q[k % nq];
        st = kvc_kakeya_params_init(&m->kp[k], kind, KVC_V4_HEAD_DIM, qq, err);
        if (st == KVC_OK && !m->kp[k].has_stream)
            st = kvc_error_set(err, KVC_CODEC_PARAM,
                               "Q = %d has no bitstream (at most %d)", qq,
                               KVC_KAKEYA_BITSTREAM_Q_MAX);
        kvc__cert_fmt(m->tally[k].name, sizeof m->tally[k].name,
                      kind == KVC_CODEC_D4 ? "v14_d4_Q%d" : "v15_e8_Q%d", qq);
    }
    m->ncodec = 2 * nq + 2;
    snprintf(m->tally[2 * nq].name, KVC_REPORT_NAME_MAX, "fp8_per64_baseline");
    snprintf(m->tally[2 * nq + 1].name, KVC_REPORT_NAME_MAX, "fp8_ds_mla");
    for (size_t k = 0; k < m->ncodec; k++)
        m->tally[k].matches = 1;
    if (st != KVC_OK) {
        kvc__cert_measure_destroy(m);
        return st;
    }
    cJSON_AddStringToObject(m->doc, "schema", KVC_REPORT_SCHEMA);
    cJSON_AddStringToObject(m->doc, "kind", "per-passage");
    cJSON_AddStringToObject(m->doc, "generator", "kvcert certify");
    cJSON *cfg = cJSON_AddObjectToObject(m->doc, "config");
    cJSON_AddNumberToObject(cfg, "head_dim", KVC_V4_HEAD_DIM);
    cJSON_AddStringToObject(cfg, "profile", profile);
    cJSON *qv = cJSON_AddArrayToObject(cfg, "q_values");
    for (size_t i = 0; qv != NULL && i < nq; i++)
        cJSON_AddItemToArray(qv, cJSON_CreateNumber(q[i]));
    m->passages = cJSON_AddArrayToObject(m->doc, "per_passage");
    if (m->passages == NULL || qv == NULL) {
        kvc__cert_measure_destroy(m);
        return kvc_error_set(err, KVC_NOMEM, "cannot allocate the measurements");
    }
    *out = m;
    return KVC_OK;
}

/* One codec's per-passage entry. */
static kvc_status add_metrics(cJSON *codecs, const char *name, int64_t bits,
                              const kvc_measured_codec *c, kvc_error *err)
{
    cJSON *o = cJSON_AddObjectToObject(codecs, name);
    if (o == NULL || cJSON_AddNumberToObject(o, "bits_per_vector", (double)bits) == NULL ||
        cJSON_AddNumberToObject(o, "rel_mse", c->rel_mse) == NULL ||
        cJSON_AddNumberToObject(o, "cos_sim", c->cos_sim) == NULL)
        return kvc_error_set(err, KVC_NOMEM, "cannot build the per-passage results");
    return KVC_OK;
}

/* One stream of one passage: audit, every codec, its bitstream
 * (kvc_measure_stream, not strict: a decode that differs from its
 * roundtrip is tallied and reported as matches_roundtrip = false). */
static kvc_status measure_stream(kvc__cert_measure *m, int64_t passage, const char *name,
                                 const uint16_t *kv, size_t rows, cJSON *results, kvc_error *err)
{
    kvc_measure_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.q = m->uq;
    spec.nq = m->nq;
    spec.with_d4 = spec.with_ds_mla = 1;
    spec.strict = 0;
    kvc_status st = kvc_measure_stream(m->work, &spec, passage, name, kv, rows, &m->sm, err);
    if (st != KVC_OK)
        return st;
    cJSON *so = cJSON_CreateObject();
    if (so == NULL || !cJSON_AddItemToArray(results, so))
        return kvc_error_set(err, KVC_NOMEM, "cannot build the per-passage results");
    cJSON_AddStringToObject(so, "stream", name);
    cJSON *audit = cJSON_AddObjectToObject(so, "audit");
    cJSON *codecs = cJSON_AddObjectToObject(so, "codecs");
    if (audit == NULL || codecs == NULL)
        return kvc_error_set(err, KVC_NOMEM, "cannot build the per-passage results");
    const kvc_audit *a = &m->sm.audit;
    const double av[] = {a->excess_kurtosis_abs, a->isotropy_variance_ratio,
                         a->hadamard_post_variance_ratio, a->rms_wasserstein2_over_sigma_per_dim};
    for (int i = 0; i < 4; i++)
        cJSON_AddNumberToObject(audit, audit_names[i], av[i]);
    cJSON_AddNumberToObject(audit, "num_vectors", (double)a->num_vectors);
    cJSON_AddNumberToObject(audit, "D", (double)a->dim);
    /* D4 at each Q, then E8, then the two FP8 formats: the tally's order */
    for (size_t k = 0; k < m->ncodec; k++) {
        const kvc_measured_codec *c = kvc_measure_find(&m->sm, m->tally[k].name);
        if (c == NULL)
            return kvc_error_set(err, KVC_INTERNAL, "codec %s was not measured",
                                 m->tally[k].name);
        m->tally[k].vectors += rows;
        m->tally[k].bytes += c->stream_bytes;
        m->tally[k].matches &= c->matches_roundtrip;
        if ((st = add_metrics(codecs, m->tally[k].name, c->accounted_bits, c, err)) != KVC_OK)
            return st;
    }
    return KVC_OK;
}

kvc_status kvc__cert_measure_passage(void *arg, int64_t passage, const kvc_v4_streams *s,
                                     kvc_error *err)
{
    kvc__cert_measure *m = arg;
    cJSON *po = cJSON_CreateObject();
    cJSON *results = po != NULL ? cJSON_AddArrayToObject(po, "results") : NULL;
    if (results == NULL || !cJSON_AddItemToArray(m->passages, po)) {
        cJSON_Delete(po);
        return kvc_error_set(err, KVC_NOMEM, "cannot build the per-passage results");
    }
    cJSON_AddNumberToObject(po, "passage_id", (double)passage);
    for (int i = 0; i < KVC_V4_NSTREAMS; i++) {
        size_t rows = (size_t)(s->seq_len / kvc_v4_stream_ratio((kvc_v4_stream)i));
        kvc_status st = measure_stream(m, passage, kvc_v4_stream_name((kvc_v4_stream)i),
                                       s->kv[i], rows, results, err);
        if (st != KVC_OK)
            return st;
    }
    return KVC_OK;
}

/* kvc_report_write_json into a tree. */
static kvc_status report_tree(const kvc_report *r, const kvc_result *res, cJSON **out,
                              kvc_error *err)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL)
        return kvc_error_set(err, KVC_NOMEM, "cannot open a memory stream");
    kvc_status st = kvc_report_write_json(r, res, f, err);
    fclose(f);
    if (st == KVC_OK && (*out = cJSON_ParseWithLength(buf, len)) == NULL)
        st = kvc_error_set(err, KVC_INTERNAL, "the stats module's JSON does not read back");
    free(buf);
    return st;
}

static cJSON *agg_json(const kvc_stats_agg *a)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return NULL;
    cJSON_AddNumberToObject(o, "mean", a->mean);
    cJSON_AddNumberToObject(o, "std", a->std);
    cJSON_AddNumberToObject(o, "ci95_hw", a->ci95_hw);
    cJSON_AddNumberToObject(o, "n", (double)a->n);
    return o;
}

/* Per-passage codec / fp8_ds_mla rel-MSE, aggregated as SPEC 8 does. */
static kvc_status ratios_vs_ds_mla(const kvc_report *r, cJSON *out, kvc_error *err)
{
    double *v = malloc((r->n_passages > 0 ? r->n_passages : 1) * sizeof *v);
    if (v == NULL)
        return kvc_error_set(err, KVC_NOMEM, "cannot allocate");
    for (size_t i = 0; i < r->n_streams; i++) {
        const kvc_report_stream *s = &r->streams[i];
        const kvc_report_codec *base = NULL;
        for (size_t k = 0; k < s->n_codecs; k++)
            if (strcmp(s->codecs[k].name, "fp8_ds_mla") == 0)
                base = &s->codecs[k];
        cJSON *so = cJSON_AddObjectToObject(out, s->name);
        if (base == NULL || so == NULL)
            continue;
        for (size_t k = 0; k < s->n_codecs; k++) {
            if (&s->codecs[k] == base)
                continue;
            for (size_t p = 0; p < r->n_passages; p++)
                v[p] = s->codecs[k].rel_mse[p] / base->rel_mse[p];
            kvc_stats_agg a;
            kvc_stats_aggregate(v, r->n_passages, NULL, &a);
            cJSON_AddItemToObject(so, s->codecs[k].name, agg_json(&a));
        }
    }
    free(v);
    return KVC_OK;
}

kvc_status kvc__cert_measure_finish(kvc__cert_measure *m, cJSON *out, kvc_error *err)
{
    cJSON_AddNumberToObject(cJSON_GetObjectItemCaseSensitive(m->doc, "config"), "n_passages",
                            (double)cJSON_GetArraySize(m->passages));
    char *text = kvc__cert_exact_numbers(m->doc) == 0 ? cJSON_PrintUnformatted(m->doc) : NULL;
    if (text == NULL)
        return kvc_error_set(err, KVC_NOMEM, "cannot format the per-passage results");
    kvc_report *r = NULL;
    kvc_result *res = NULL;
    cJSON *tree = NULL;
    kvc_status st = kvc_report_parse(text, strlen(text), "(certify measurements)", &r, err);
    free(text);
    if (st == KVC_OK)
        st = kvc_report_aggregate(r, NULL, NULL, &res, err);
    if (st == KVC_OK)
        st = report_tree(r, res, &tree, err);
    if (st == KVC_OK && !cJSON_AddItemToObject(out, "report", tree)) {
        cJSON_Delete(tree);
        st = kvc_error_set(err, KVC_NOMEM, "cannot build the results");
    }
    cJSON *ratios = st == KVC_OK ? cJSON_AddObjectToObject(out, "ratios_vs_fp8_ds_mla") : NULL;
    if (st == KVC_OK)
        st = ratios == NULL ? kvc_error_set(err, KVC_NOMEM, "cannot build the results")
                            : ratios_vs_ds_mla(r, ratios, err);
    kvc_result_destroy(res);
    kvc_report_destroy(r);
    if (st != KVC_OK)
        return st;
    cJSON *bits = cJSON_AddObjectToObject(out, "bits");
    cJSON *bs = cJSON_AddObjectToObject(out, "bitstream");
    if (bits == NULL || bs == NULL)
        return kvc_error_set(err, KVC_NOMEM, "cannot build the results");
    for (size_t k = 0; k < m->ncodec; k++) {
        int64_t accounted, realized;
        if (k < 2 * m->nq) {
            accounted = m->kp[k].accounted_bits;
            realized = m->kp[k].vector_bits;
        } else if (k == 2 * m->nq) {
            accounted = realized = KVC_FP8_PER64_BITS;
        } else {
            accounted = realized = KVC_FP8_DS_MLA_BITS;
        }
        cJSON *b = cJSON_AddObjectToObject(bits, m->tally[k].name);
        if (b == NULL)
            return kvc_error_set(err, KVC_NOMEM, "cannot build the results");
        cJSON_AddNumberToObject(b, "accounted", (double)accounted);
        cJSON_AddNumberToObject(b, "realized", (double)realized);
        if (k == 2 * m->nq)
            continue; /* the per-64 baseline has no byte format of its own */
        cJSON *t = cJSON_AddObjectToObject(bs, m->tally[k].name);
        if (t == NULL)
            return kvc_error_set(err, KVC_NOMEM, "cannot build the results");
        cJSON_AddNumberToObject(t, "vectors", (double)m->tally[k].vectors);
        cJSON_AddNumberToObject(t, "bytes", (double)m->tally[k].bytes);
        cJSON_AddBoolToObject(t, "matches_roundtrip", m->tally[k].matches);
    }
    for (size_t i = 0; i < m->nq; i++)
        if (m->q[i] == 38) {
            const uint32_t q38[KVC_ROLE_COUNT] = {38, 38, 38};
            double w[KVC_ROLE_COUNT];
            kvc_stats_default_layers(w);
            kvc_strategy s;
            st = kvc_stats_strategy_from_q(q38, w, KVC_V4_HEAD_DIM, &s, err);
            if (st != KVC_OK)
                return st;
            cJSON_AddNumberToObject(out, "bit_saving_e8_q38_vs_fp8_pct", s.saving_vs_fp8_pct);
        }
    return KVC_OK;
}
