/* Tests for the end-to-end audit and Q-sweep drivers (stats/audit_run.h)
 * on the synthetic host of `kvcert synth` (seed 1, two passages of
 * S = 2048), for all three profiles:
 *   - the report's structure: streams, codecs in order, N per stream;
 *   - bits: accounted bits from SPEC 7.2 hand-derived (2208, 2336, 3232,
 *     3296; fp8_per64 4224 = 512 * 8 + 8 * 16; fp8_ds_mla 4672 = 584 * 8),
 *     realized bits of the bitstream: 32 + (D/b) * ceil(log2 |I u H|),
 *     E8 Q38 = 3296, E8 Q10 = 32 + 64 * 37 = 2400 (> 2336, kakeya.h's
 *     counterexample), D4 <= accounted;
 *   - per-passage ratios vs FP8 equal codec rel_mse / fp8 rel_mse;
 *   - gates equal "metric > threshold" with the thresholds of SPEC 7.4
 *     written here as literals; the calibration row present, same N and D,
 *     W2/sigma of Gaussian data 0.105..0.109 at N = 2048 (audit.h);
 *   - the aggregate of two passages against a hand computation (mean of
 *     two, t(1) = 12.706);
 *   - the report round trip: parse -> aggregate -> check, every field;
 *   - the Q-sweep: each threshold's Q_min by an independent scan;
 *   - the regression pin golden/audit-seed1.json (headline numbers). */
#include <check.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/fp8block.h"
#include "codec/kakeya.h"
#include "core/backend.h"
#include "core/formats.h"
#include "stats/audit.h"
#include "stats/metrics.h"
#include "stats/audit_run.h"
#include "stats/published.h"
#include "testutil.h"
#include "v4/pipeline.h"
#include "v4/synth.h"

static const char *const g_profiles[3] = {"stage075", "intended", "v4"};
static const char *const g_streams[3] = {"sliding_window_kv", "csa_pool_kv_ratio4",
                                         "hca_pool_kv_ratio128"};
static const double g_rows[3] = {2048, 512, 16};
static char g_dir[512], g_hidden[1024];
static char *g_audit[3];     /* per profile, passages 0,1, Q 10,38 */
static char *g_sweep[3];     /* stage075: passages 0,1; others passage 0 */

static void die(const char *what, const kvc_error *err)
{
    char buf[1024];
    fprintf(stderr, "fixture: %s: %s\n", what, err ? kvc_error_format(err, buf, sizeof buf) : "");
    exit(KVC_TEST_HARD_ERROR);
}

static void fixture(void)
{
    kvc_error err;
    char path[1024];
    static const int layers[3] = {0, 2, 3};
    kvc_test_tmpdir(g_dir, sizeof g_dir);
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", g_dir, kvc_synth_shard_name(layers[i]));
        if (kvc_synth_write_shard(1, layers[i], path, &err) != KVC_OK)
            die("synth shard", &err);
    }
    snprintf(g_hidden, sizeof g_hidden, "%s/%s", g_dir, KVC_SYNTH_HIDDEN_FILE);
    if (kvc_synth_write_hidden(1, 2, g_hidden, &err) != KVC_OK)
        die("synth hidden", &err);
    static const uint32_t q[2] = {10, 38};
    for (int p = 0; p < 3; p++) {
        kvc_audit_run_options o;
        memset(&o, 0, sizeof o);
        o.profile = kvc_profile_find(g_profiles[p], NULL);
        o.q = q;
        o.nq = 2;
        o.mode = KVC_AUDIT_MODE_AUDIT;
        if (kvc_audit_run(kvc_backend_cpu(), g_dir, g_hidden, &o, &g_audit[p], &err) != KVC_OK)
            die("audit", &err);
        o.mode = KVC_AUDIT_MODE_SWEEP;
        o.passages = p == 0 ? NULL : "0";
        if (kvc_audit_run(kvc_backend_cpu(), g_dir, g_hidden, &o, &g_sweep[p], &err) != KVC_OK)
            die("sweep", &err);
    }
    snprintf(path, sizeof path, "rm -rf '%s'", g_dir);
    if (system(path) != 0)
        fprintf(stderr, "could not remove %s\n", g_dir);
}

static const cJSON *at(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *n = at(o, k);
    ck_assert_msg(cJSON_IsNumber(n), "missing number %s", k);
    return n->valuedouble;
}

/* ------------------------------------------------------------ audit */

static const char *const g_codecs[6] = {"v14_d4_Q10", "v15_e8_Q10", "v14_d4_Q38",
                                        "v15_e8_Q38", "fp8_per64_baseline", "fp8_ds_mla"};
static const double g_acc[6] = {2208, 2336, 3232, 3296, 4224, 4672};

static void check_passage_stream(const cJSON *so, int si, int profile)
{
    ck_assert_str_eq(at(so, "stream")->valuestring, g_streams[si]);
    const cJSON *au = at(so, "audit"), *g = at(so, "audit_gates"), *cal = at(so, "audit_calibration");
    ck_assert_double_eq(num(au, "num_vectors"), g_rows[si]);
    ck_assert_double_eq(num(au, "D"), 512);
    ck_assert_double_eq(num(cal, "num_vectors"), g_rows[si]);
    ck_assert_double_eq(num(cal, "D"), 512);
    static const char *const m[4] = {"excess_kurtosis_abs", "isotropy_variance_ratio",
                                     "hadamard_post_variance_ratio",
                                     "rms_wasserstein2_over_sigma_per_dim"};
    static const double thr[4] = {0.5, 1.5, 1.5, 0.05};
    for (int k = 0; k < 4; k++) {
        ck_assert_int_eq(cJSON_IsTrue(at(g, m[k])), num(au, m[k]) > thr[k]);
        (void)num(cal, m[k]);
    }
    if (si == 0) {
        double w2 = num(cal, m[3]);
        ck_assert_msg(w2 > 0.105 && w2 < 0.109, "Gaussian W2/sigma %g", w2);
    }
    const cJSON *codecs = at(so, "codecs"), *ratios = at(so, "ratios_vs_fp8");
    ck_assert_int_eq(cJSON_GetArraySize(codecs), 6);
    int i = 0;
    for (const cJSON *c = codecs->child; c != NULL; c = c->next, i++) {
        ck_assert_str_eq(c->string, g_codecs[i]);
        ck_assert_double_eq(num(c, "bits_per_vector"), g_acc[i]);
        double rm = num(c, "rel_mse"), cs = num(c, "cos_sim");
        ck_assert(rm >= 0 && rm < 0.1 && cs > 0.99 && cs <= 1.0);
    }
    ck_assert_double_eq(num(at(codecs, "v15_e8_Q38"), "bits_realized"), 3296);
    ck_assert_double_eq(num(at(codecs, "v15_e8_Q10"), "bits_realized"), 2400);
    ck_assert(num(at(codecs, "v14_d4_Q10"), "bits_realized") <= 2208);
    ck_assert(num(at(codecs, "v14_d4_Q38"), "bits_realized") <= 3232);
    ck_assert_double_eq(num(at(codecs, "fp8_ds_mla"), "bits_realized"), 4672);
    ck_assert_ptr_null(at(at(codecs, "fp8_per64_baseline"), "bits_realized"));
    /* the v4 profile's KV simulation IS the fp8_ds_mla format (E4M3 with
     * power-of-two scales per 64 on the nope dims, bf16 RoPE dims), so
     * re-encoding is lossless there and lossy under the other profiles */
    double ds = num(at(codecs, "fp8_ds_mla"), "rel_mse");
    if (profile == 2)
        ck_assert(ds == 0.0 && num(at(codecs, "fp8_ds_mla"), "cos_sim") == 1.0);
    else
        ck_assert(ds > 0.0);
    double fp8 = num(at(codecs, "fp8_per64_baseline"), "rel_mse");
    ck_assert_int_eq(cJSON_GetArraySize(ratios), 5);
    for (int k = 0; k < 6; k++)
        if (k != 4)
            ck_assert_double_eq(num(ratios, g_codecs[k]), num(at(codecs, g_codecs[k]), "rel_mse") / fp8);
    /* more bits, less error: Q38 beats Q10 for both lattices */
    ck_assert(num(at(codecs, "v15_e8_Q38"), "rel_mse") < num(at(codecs, "v15_e8_Q10"), "rel_mse"));
    ck_assert(num(at(codecs, "v14_d4_Q38"), "rel_mse") < num(at(codecs, "v14_d4_Q10"), "rel_mse"));
}

START_TEST(audit_structure)
{
    cJSON *doc = cJSON_Parse(g_audit[_i]);
    ck_assert_ptr_nonnull(doc);
    ck_assert_str_eq(at(doc, "schema")->valuestring, "kvcert-report/1");
    ck_assert_str_eq(at(doc, "kind")->valuestring, "per-passage");
    ck_assert_str_eq(at(at(doc, "config"), "profile")->valuestring, g_profiles[_i]);
    const cJSON *pp = at(doc, "per_passage");
    ck_assert_int_eq(cJSON_GetArraySize(pp), 2);
    int p = 0;
    for (const cJSON *po = pp->child; po != NULL; po = po->next, p++) {
        ck_assert_double_eq(num(po, "passage_id"), p);
        const cJSON *res = at(po, "results");
        ck_assert_int_eq(cJSON_GetArraySize(res), 3);
        int si = 0;
        for (const cJSON *so = res->child; so != NULL; so = so->next, si++)
            check_passage_stream(so, si, _i);
    }
    cJSON_Delete(doc);
}
END_TEST

/* The aggregate of two passages by hand: mean (a + b) / 2 (a + b is
 * correctly rounded, so this is exact), std |a - b| / sqrt 2 and
 * ci95_hw = 12.706 std / sqrt 2 to 1e-12 relative (two orders of
 * rounding); gates of the aggregate from the mean. */
START_TEST(audit_aggregate_by_hand)
{
    cJSON *doc = cJSON_Parse(g_audit[_i]);
    const cJSON *pp = at(doc, "per_passage");
    const cJSON *r0 = at(cJSON_GetArrayItem(pp, 0), "results"), *r1 = at(cJSON_GetArrayItem(pp, 1), "results");
    for (int si = 0; si < 3; si++) {
        const cJSON *s0 = cJSON_GetArrayItem(r0, si), *s1 = cJSON_GetArrayItem(r1, si);
        const cJSON *ag = at(at(doc, "aggregate_by_stream"), g_streams[si]);
        for (int k = 0; k < 6; k++) {
            double a = num(at(at(s0, "codecs"), g_codecs[k]), "rel_mse");
            double b = num(at(at(s1, "codecs"), g_codecs[k]), "rel_mse");
            const cJSON *x = at(at(at(ag, "codecs"), g_codecs[k]), "rel_mse");
            ck_assert_double_eq(num(x, "mean"), (a + b) / 2);
            double sd = fabs(a - b) / sqrt(2.0), hw = 12.706 * sd / sqrt(2.0);
            ck_assert_double_eq_tol(num(x, "std"), sd, 1e-12 * sd + 1e-300);
            ck_assert_double_eq_tol(num(x, "ci95_hw"), hw, 1e-12 * hw + 1e-300);
            ck_assert_double_eq(num(x, "n"), 2);
            if (k == 4)
                continue;
            double ra = num(at(s0, "ratios_vs_fp8"), g_codecs[k]);
            double rb = num(at(s1, "ratios_vs_fp8"), g_codecs[k]);
            ck_assert_double_eq(num(at(at(ag, "ratios_vs_fp8"), g_codecs[k]), "mean"), (ra + rb) / 2);
        }
        const cJSON *au = at(ag, "audit"), *g = at(ag, "audit_gates");
        ck_assert_int_eq(cJSON_IsTrue(at(g, "rms_wasserstein2_over_sigma_per_dim")),
                         num(at(au, "rms_wasserstein2_over_sigma_per_dim"), "mean") > 0.05);
        ck_assert_ptr_nonnull(at(ag, "audit_calibration"));
        ck_assert_double_eq(num(at(at(ag, "codecs"), "v15_e8_Q38"), "bits_realized"), 3296);
    }
    cJSON_Delete(doc);
}
END_TEST

/* parse -> aggregate -> check: what `kvcert aggregate --check` does. */
static void round_trip(const char *text, size_t min_fields)
{
    kvc_report *r = NULL;
    kvc_result *res = NULL;
    kvc_check_counts c;
    kvc_error err;
    ck_assert_int_eq(kvc_report_parse(text, strlen(text), "<test>", &r, &err), KVC_OK);
    ck_assert_int_eq(kvc_report_aggregate(r, NULL, NULL, &res, &err), KVC_OK);
    ck_assert_int_eq(kvc_report_check(r, res, stderr, &c, &err), KVC_OK);
    ck_assert_uint_ge(c.fields, min_fields);
    ck_assert_uint_eq(c.matched, c.fields);
    kvc_result_destroy(res);
    kvc_report_destroy(r);
}

START_TEST(audit_round_trip)
{
    /* 3 streams x (6 codecs x 2 x 4 + 5 ratios x 4 + 6 audit x 4) at least */
    round_trip(g_audit[_i], 3 * (48 + 20 + 24));
}
END_TEST

START_TEST(sweep_round_trip)
{
    round_trip(g_sweep[_i], 3 * 6);
}
END_TEST

/* Each threshold's Q_min by an independent scan: the first Q (ascending)
 * whose E8 mean (or mean + ci95_hw) is <= m * fp8 mean. */
START_TEST(sweep_thresholds)
{
    cJSON *doc = cJSON_Parse(g_sweep[_i]);
    ck_assert_str_eq(at(doc, "kind")->valuestring, "q-sweep");
    ck_assert_double_eq(num(at(doc, "bits_per_vec_by_q"), "10"), 2336);
    ck_assert_double_eq(num(at(doc, "bits_per_vec_by_q"), "38"), 3296);
    static const char *const lv[3] = {"A_no_regression", "B_plus5pct", "C_plus20pct"};
    static const double mult[3] = {1.00, 1.05, 1.20};
    for (int si = 0; si < 3; si++) {
        const cJSON *so = at(at(doc, "aggregate_by_stream"), g_streams[si]);
        double fp8 = num(at(so, "fp8_rel_mse"), "mean");
        for (int l = 0; l < 3; l++)
            for (int ci = 0; ci < 2; ci++) {
                char name[64];
                snprintf(name, sizeof name, "%s_%s", lv[l], ci ? "ci95_conservative" : "point");
                const cJSON *t = at(at(so, "thresholds"), name);
                ck_assert_ptr_nonnull(t);
                int want = 0;
                for (const cJSON *e = at(so, "e8_rel_mse_by_q")->child; e != NULL; e = e->next) {
                    double used = num(e, "mean") + (ci ? num(e, "ci95_hw") : 0.0);
                    if (used <= mult[l] * fp8) {
                        want = atoi(e->string);
                        break;
                    }
                }
                ck_assert_int_eq(cJSON_IsTrue(at(t, "admissible")), want != 0);
                if (want != 0)
                    ck_assert_double_eq(num(t, "Q_min"), want);
            }
    }
    ck_assert_ptr_nonnull(at(doc, "max_usable_cr"));
    cJSON_Delete(doc);
}
END_TEST

/* ------------------------------------------------------------ the pin */

START_TEST(golden_pin)
{
    char path[1024];
    kvc_test_srcpath(path, sizeof path, "golden/audit-seed1.json");
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    cJSON *gold = cJSON_Parse(buf), *doc = cJSON_Parse(g_audit[_i]);
    ck_assert_ptr_nonnull(gold);
    const cJSON *gp = at(at(gold, "profiles"), g_profiles[_i]);
    ck_assert_ptr_nonnull(gp);
    for (int si = 0; si < 3; si++) {
        const cJSON *g = at(at(gp, "streams"), g_streams[si]);
        const cJSON *a = at(at(doc, "aggregate_by_stream"), g_streams[si]);
        const cJSON *cd = at(a, "codecs");
        ck_assert_double_eq(num(g, "v15_e8_Q38_rel_mse_mean"), num(at(at(cd, "v15_e8_Q38"), "rel_mse"), "mean"));
        ck_assert_double_eq(num(g, "fp8_per64_baseline_rel_mse_mean"),
                            num(at(at(cd, "fp8_per64_baseline"), "rel_mse"), "mean"));
        ck_assert_double_eq(num(g, "fp8_ds_mla_rel_mse_mean"), num(at(at(cd, "fp8_ds_mla"), "rel_mse"), "mean"));
        ck_assert_double_eq(num(g, "v15_e8_Q38_ratio_vs_fp8_mean"),
                            num(at(at(a, "ratios_vs_fp8"), "v15_e8_Q38"), "mean"));
        ck_assert_double_eq(num(g, "v15_e8_Q38_ratio_vs_fp8_ci95_hw"),
                            num(at(at(a, "ratios_vs_fp8"), "v15_e8_Q38"), "ci95_hw"));
        ck_assert_double_eq(num(g, "rms_wasserstein2_over_sigma_per_dim_mean"),
                            num(at(at(a, "audit"), "rms_wasserstein2_over_sigma_per_dim"), "mean"));
    }
    const cJSON *lw = at(at(at(doc, "layer_weighted"), "ratios_vs_fp8"), "v15_e8_Q38");
    ck_assert_double_eq(num(at(gp, "layer_weighted_v15_e8_Q38"), "mean"), num(lw, "mean"));
    ck_assert_double_eq(num(at(gp, "layer_weighted_v15_e8_Q38"), "ci95_hw"), num(lw, "ci95_hw"));
    cJSON_Delete(gold);
    cJSON_Delete(doc);
}
END_TEST

/* ------------------------------------------------------------ parsers */


/* ------------------------------------------------------------ one stream */
/* kvc_measure_stream against independent host calls of the codec and
 * stats modules (each with its own tests): the composition on the backend
 * must give their bits, in the documented codec order. */

static uint16_t *random_stream(size_t n, uint64_t seed)
{
    uint16_t *kv = malloc(n * 512 * sizeof *kv);
    ck_assert_ptr_nonnull(kv);
    float *g = malloc(n * 512 * sizeof *g);
    ck_assert_ptr_nonnull(g);
    kvc_stats_gaussian_fill(g, n * 512, seed);
    for (size_t i = 0; i < n * 512; i++)
        kv[i] = kvc_f32_to_bf16(g[i] * (float)(1 + (i % 512) / 64)); /* anisotropic */
    free(g);
    return kv;
}

static uint64_t dbits(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

static void expect_codec(const kvc_measured_codec *c, const char *name, int64_t acc,
                         int64_t realized, uint64_t bytes, const float *x, const float *xh,
                         size_t n)
{
    kvc_recon_metrics m;
    ck_assert_int_eq(kvc_stats_recon(x, xh, n, 512, &m, NULL), KVC_OK);
    ck_assert_str_eq(c->name, name);
    ck_assert_int_eq(c->accounted_bits, acc);
    ck_assert_int_eq(c->realized_bits, realized);
    ck_assert_uint_eq(c->stream_bytes, bytes);
    ck_assert_int_eq(c->matches_roundtrip, 1);
    ck_assert_uint_eq(dbits(c->rel_mse), dbits(m.rel_mse));
    ck_assert_uint_eq(dbits(c->cos_sim), dbits(m.cos_sim));
}

static void expect_measure(const kvc_stream_measure *m, const uint16_t *kv, size_t n)
{
    float *x = malloc(n * 512 * sizeof *x), *xh = malloc(n * 512 * sizeof *xh);
    ck_assert(x != NULL && xh != NULL);
    for (size_t i = 0; i < n * 512; i++)
        x[i] = kvc_bf16_to_f32(kv[i]);
    kvc_audit a;
    ck_assert_int_eq(kvc_stats_audit(x, n, 512, &a, NULL), KVC_OK);
    ck_assert_uint_eq(dbits(m->audit.excess_kurtosis_abs), dbits(a.excess_kurtosis_abs));
    ck_assert_uint_eq(dbits(m->audit.isotropy_variance_ratio), dbits(a.isotropy_variance_ratio));
    ck_assert_uint_eq(dbits(m->audit.hadamard_post_variance_ratio),
                      dbits(a.hadamard_post_variance_ratio));
    ck_assert_uint_eq(dbits(m->audit.rms_wasserstein2_over_sigma_per_dim),
                      dbits(a.rms_wasserstein2_over_sigma_per_dim));
    ck_assert_uint_eq(m->audit.num_vectors, n);
    ck_assert_int_eq(m->ncodec, 6);
    for (int k = 0; k < 4; k++) {
        kvc_kakeya_params p;
        ck_assert_int_eq(kvc_kakeya_params_init(&p, k % 2 ? KVC_CODEC_E8 : KVC_CODEC_D4, 512,
                                                k < 2 ? 10 : 38, NULL),
                         KVC_OK);
        size_t size = 0;
        ck_assert_int_eq(kvc_kakeya_stream_size(&p, n, &size, NULL), KVC_OK);
        ck_assert_int_eq(kvc_kakeya_roundtrip(&p, x, n, xh, NULL), KVC_OK);
        expect_codec(&m->codec[k], g_codecs[k], (int64_t)g_acc[k], p.vector_bits, size, x, xh, n);
    }
    kvc_fp8_per64(x, n, xh);
    expect_codec(&m->codec[4], "fp8_per64_baseline", 4224, -1, 0, x, xh, n);
    kvc_fp8_ds_mla(x, n, xh);
    expect_codec(&m->codec[5], "fp8_ds_mla", 4672, 4672, n * 584, x, xh, n);
    ck_assert_ptr_eq(kvc_measure_find(m, "fp8_ds_mla"), &m->codec[5]);
    ck_assert_ptr_null(kvc_measure_find(m, "v15_e8_Q11"));
    free(x);
    free(xh);
}

static const uint32_t g_q2[2] = {38, 10}; /* measured in the order given */

static kvc_measure_spec full_spec(int strict)
{
    kvc_measure_spec sp;
    memset(&sp, 0, sizeof sp);
    sp.q = g_q2 + 1; /* 10 first, then 38: the order of g_codecs */
    sp.nq = 1;
    sp.with_d4 = sp.with_ds_mla = 1;
    sp.strict = strict;
    return sp;
}

START_TEST(measure_stream_composes)
{
    static const uint32_t q[2] = {10, 38};
    kvc_measure_spec sp = full_spec(1);
    sp.q = q;
    sp.nq = 2;
    const kvc_backend *be = kvc_backend_cpu();
    kvc_measure_work *w = NULL;
    ck_assert_int_eq(kvc_measure_work_create(be, &w, NULL), KVC_OK);
    kvc_stream_measure *m = malloc(sizeof *m);
    ck_assert_ptr_nonnull(m);
    /* small, larger (the buffers grow), small again (they are reused) */
    static const size_t sizes[3] = {16, 100, 16};
    for (int t = 0; t < 3; t++) {
        uint16_t *kv = random_stream(sizes[t], 11 + (uint64_t)t);
        ck_assert_int_eq(kvc_measure_stream(w, &sp, 0, "s", kv, sizes[t], m, NULL), KVC_OK);
        expect_measure(m, kv, sizes[t]);
        /* the stream in backend memory: the same */
        void *bkv = NULL;
        size_t bytes = sizes[t] * 512 * sizeof *kv;
        ck_assert_int_eq(be->mem_alloc(be, bytes, &bkv, NULL), KVC_OK);
        ck_assert_int_eq(be->mem_upload(be, bkv, kv, bytes, NULL), KVC_OK);
        ck_assert_int_eq(kvc_measure_stream(w, &sp, 0, "s", (const uint16_t *)bkv, sizes[t], m,
                                            NULL),
                         KVC_OK);
        expect_measure(m, kv, sizes[t]);
        be->mem_free(be, bkv);
        free(kv);
    }
    /* sweep's selection: E8 per Q and the per-64 baseline only */
    sp.with_d4 = sp.with_ds_mla = 0;
    uint16_t *kv = random_stream(8, 5);
    ck_assert_int_eq(kvc_measure_stream(w, &sp, 0, "s", kv, 8, m, NULL), KVC_OK);
    ck_assert_int_eq(m->ncodec, 3);
    ck_assert_str_eq(m->codec[0].name, "v15_e8_Q10");
    ck_assert_str_eq(m->codec[1].name, "v15_e8_Q38");
    ck_assert_str_eq(m->codec[2].name, "fp8_per64_baseline");
    /* bad arguments */
    static const uint32_t q0 = 0, q127 = 127;
    sp.q = &q0;
    ck_assert_int_eq(kvc_measure_stream(w, &sp, 0, "s", kv, 8, m, NULL), KVC_CODEC_PARAM);
    sp.q = &q127;
    ck_assert_int_eq(kvc_measure_stream(w, &sp, 0, "s", kv, 8, m, NULL), KVC_CODEC_PARAM);
    sp.q = q;
    ck_assert_int_eq(kvc_measure_stream(w, &sp, 0, "s", kv, 0, m, NULL), KVC_INVALID_ARGUMENT);
    sp.nq = 0;
    ck_assert_int_eq(kvc_measure_stream(w, &sp, 0, "s", kv, 8, m, NULL), KVC_INVALID_ARGUMENT);
    free(kv);
    free(m);
    kvc_measure_work_destroy(w);
}
END_TEST

/* A CPU table whose decoders flip one bit of their last output word: the
 * comparison with the roundtrip (first_difference) must catch it. */
static int g_tamper_codec, g_tamper_dsmla;

static void flip_last(float *out, int64_t n)
{
    uint32_t u;
    memcpy(&u, &out[n * 512 - 1], sizeof u);
    u ^= 1u;
    memcpy(&out[n * 512 - 1], &u, sizeof u);
}

static kvc_status bad_codec_decode(const kvc_backend *be, const struct kvc_kakeya_params *p,
                                   const uint8_t *stream, size_t size, int64_t n, float *out,
                                   kvc_error *err)
{
    kvc_status st = kvc_backend_cpu()->codec_decode(be, p, stream, size, n, out, err);
    if (st == KVC_OK && g_tamper_codec)
        flip_last(out, n);
    return st;
}

static kvc_status bad_dsmla_decode(const kvc_backend *be, const uint8_t *rec, size_t size,
                                   int64_t n, float *out, kvc_error *err)
{
    kvc_status st = kvc_backend_cpu()->fp8_ds_mla_decode(be, rec, size, n, out, err);
    if (st == KVC_OK && g_tamper_dsmla)
        flip_last(out, n);
    return st;
}

START_TEST(measure_stream_catches_bad_decode)
{
    kvc_backend t = *kvc_backend_cpu();
    t.codec_decode = bad_codec_decode;
    t.fp8_ds_mla_decode = bad_dsmla_decode;
    kvc_measure_work *w = NULL;
    ck_assert_int_eq(kvc_measure_work_create(&t, &w, NULL), KVC_OK);
    kvc_stream_measure *m = malloc(sizeof *m);
    ck_assert_ptr_nonnull(m);
    uint16_t *kv = random_stream(24, 3);
    kvc_error err;
    char buf[1024];
    for (int which = 0; which < 2; which++) {
        g_tamper_codec = which == 0;
        g_tamper_dsmla = which == 1;
        kvc_measure_spec sp = full_spec(1);
        kvc_error_clear(&err);
        ck_assert_int_eq(kvc_measure_stream(w, &sp, 7, "csa_pool_kv_ratio4", kv, 24, m, &err),
                         KVC_INTERNAL);
        const char *msg = kvc_error_format(&err, buf, sizeof buf);
        ck_assert_msg(strstr(msg, "passage 7, csa_pool_kv_ratio4, ") != NULL, "%s", msg);
        ck_assert_msg(strstr(msg, which == 0 ? "v14_d4_Q10" : "fp8_ds_mla") != NULL, "%s", msg);
        /* not strict: recorded, and the measurement goes on */
        sp = full_spec(0);
        ck_assert_int_eq(kvc_measure_stream(w, &sp, 7, "csa_pool_kv_ratio4", kv, 24, m, NULL),
                         KVC_OK);
        ck_assert_int_eq(m->ncodec, 4);
        ck_assert_int_eq(m->codec[0].matches_roundtrip, which != 0);
        ck_assert_int_eq(m->codec[1].matches_roundtrip, which != 0);
        ck_assert_int_eq(m->codec[2].matches_roundtrip, 1); /* per-64: no format */
        ck_assert_int_eq(m->codec[3].matches_roundtrip, which != 1);
    }
    g_tamper_codec = g_tamper_dsmla = 0;
    free(kv);
    free(m);
    kvc_measure_work_destroy(w);
    /* a table without the comparison: refused before any work */
    t.first_difference = NULL;
    kvc_error_clear(&err);
    ck_assert_int_eq(kvc_measure_work_create(&t, &w, &err), KVC_BACKEND_UNAVAILABLE);
    ck_assert_ptr_null(w);
}
END_TEST

/* ------------------------------------------------------------ two reports */

/* doc (cJSON) with one number of the path replaced (scaled by 1.5), as text
 * that reads back exactly for that number. */
static char *with_number(const char *text, int passage, int stream, const char *codec,
                         const char *key, double *was, double *now)
{
    cJSON *d = cJSON_Parse(text);
    ck_assert_ptr_nonnull(d);
    cJSON *so = cJSON_GetArrayItem(at(cJSON_GetArrayItem(at(d, "per_passage"), passage),
                                      "results"),
                                   stream);
    cJSON *c = cJSON_GetObjectItemCaseSensitive(at(so, "codecs"), codec);
    ck_assert_ptr_nonnull(c);
    *was = num(c, key);
    *now = *was * 1.5;
    char buf[40];
    snprintf(buf, sizeof buf, "%.17g", *now);
    ck_assert(cJSON_ReplaceItemInObjectCaseSensitive(c, key, cJSON_CreateRaw(buf)));
    char *out = cJSON_Print(d);
    cJSON_Delete(d);
    return out;
}

START_TEST(compare_reports)
{
    kvc_error err;
    char buf[2048], want[256];
    const char *a = g_audit[0];
    ck_assert_int_eq(kvc_audit_compare_reports(a, "cpu-x", a, "cuda:0", NULL), KVC_OK);
    /* the backend's names may differ, nothing else */
    cJSON *d = cJSON_Parse(a);
    cJSON *cfg = cJSON_GetObjectItemCaseSensitive(d, "config");
    cJSON_ReplaceItemInObjectCaseSensitive(cfg, "streams_backend", cJSON_CreateString("cuda"));
    cJSON_ReplaceItemInObjectCaseSensitive(cfg, "codec_backend", cJSON_CreateString("cuda"));
    char *t1 = cJSON_Print(d);
    cJSON_ReplaceItemInObjectCaseSensitive(cfg, "profile", cJSON_CreateString("v4"));
    char *t2 = cJSON_Print(d);
    cJSON_Delete(d);
    /* the same printer on both sides (cJSON may round a number it prints) */
    d = cJSON_Parse(a);
    char *t0 = cJSON_Print(d);
    cJSON_Delete(d);
    ck_assert_int_eq(kvc_audit_compare_reports(t0, "cpu-x", t1, "cuda:0", NULL), KVC_OK);
    kvc_error_clear(&err);
    ck_assert_int_eq(kvc_audit_compare_reports(t0, "cpu-x", t2, "cuda:0", &err),
                     KVC_BACKEND_MISMATCH);
    ck_assert_ptr_nonnull(strstr(kvc_error_format(&err, buf, sizeof buf),
                                 "config.profile: cpu-x \"stage075\", cuda:0 \"v4\""));
    /* a number: its path, both values in decimal and hex */
    double was, now;
    char *t3 = with_number(a, 1, 1, "v15_e8_Q38", "rel_mse", &was, &now);
    cJSON *p0 = cJSON_Parse(t0);
    cJSON *so = cJSON_GetArrayItem(at(cJSON_GetArrayItem(at(p0, "per_passage"), 1), "results"), 1);
    double printed = num(at(at(so, "codecs"), "v15_e8_Q38"), "rel_mse");
    cJSON_Delete(p0);
    kvc_error_clear(&err);
    ck_assert_int_eq(kvc_audit_compare_reports(t0, "cpu-x", t3, "cuda:0", &err),
                     KVC_BACKEND_MISMATCH);
    const char *msg = kvc_error_format(&err, buf, sizeof buf);
    ck_assert_int_eq(err.status, KVC_BACKEND_MISMATCH);
    ck_assert_msg(strstr(msg, "per_passage[passage 1].results[csa_pool_kv_ratio4].codecs."
                              "v15_e8_Q38.rel_mse") != NULL,
                  "%s", msg);
    snprintf(want, sizeof want, "cpu-x %.17g (0x%016llx), cuda:0 %.17g (0x%016llx)", printed,
             (unsigned long long)dbits(printed), now, (unsigned long long)dbits(now));
    ck_assert_msg(strstr(msg, want) != NULL, "%s\nlacks %s", msg, want);
    /* a different run: refused; a key missing on one side: named */
    ck_assert_int_eq(kvc_audit_compare_reports(a, "a", g_audit[1], "b", NULL),
                     KVC_BACKEND_MISMATCH);
    d = cJSON_Parse(a);
    cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(d, "config"),
                                            "calibration_seed");
    char *t4 = cJSON_Print(d);
    cJSON_Delete(d);
    kvc_error_clear(&err);
    ck_assert_int_eq(kvc_audit_compare_reports(t0, "a", t4, "b", &err), KVC_BACKEND_MISMATCH);
    ck_assert_ptr_nonnull(strstr(kvc_error_format(&err, buf, sizeof buf), "config.calibration_seed"));
    ck_assert_int_eq(kvc_audit_compare_reports("{", "a", a, "b", NULL), KVC_INTERNAL);
    free(t0);
    free(t1);
    free(t2);
    free(t3);
    free(t4);
}
END_TEST

START_TEST(parse_lists)
{
    uint32_t q[8];
    ck_assert_int_eq(kvc_audit_parse_q_list("38,10", q, 8), 2);
    ck_assert_uint_eq(q[0], 10);
    ck_assert_uint_eq(q[1], 38);
    ck_assert_int_eq(kvc_audit_parse_q_list("126", q, 8), 1);
    static const char *const bad[] = {"", "0", "127", "10,10", "10,", ",10", "1 0", "x", "-1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_int_eq(kvc_audit_parse_q_list(bad[i], q, 8), -1);
    ck_assert_int_eq(kvc_audit_parse_q_list("1,2,3", q, 2), -1);
    unsigned char sel[4];
    ck_assert_int_eq(kvc_audit_parse_passages("0,2-3", 4, sel), 0);
    ck_assert(sel[0] && !sel[1] && sel[2] && sel[3]);
    static const char *const badp[] = {"", "4", "0,0", "3-2", "0,", "a", "1-"};
    for (size_t i = 0; i < sizeof badp / sizeof *badp; i++)
        ck_assert_int_eq(kvc_audit_parse_passages(badp[i], 4, sel), -1);
}
END_TEST

START_TEST(bad_inputs)
{
    kvc_audit_run_options o;
    uint32_t q = 38;
    char *json = (char *)1;
    kvc_error err;
    memset(&o, 0, sizeof o);
    o.profile = kvc_profile_find("stage075", NULL);
    o.q = &q;
    o.nq = 1;
    ck_assert_int_eq(kvc_audit_run(kvc_backend_cpu(), "/nonexistent", "/nonexistent/h.safetensors",
                                   &o, &json, &err),
                     KVC_OPEN);
    ck_assert_ptr_null(json);
    q = 127;
    ck_assert_int_eq(kvc_audit_run(kvc_backend_cpu(), "/x", "/y", &o, &json, &err), KVC_CODEC_PARAM);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("audit_run");
    TCase *tc = tcase_create("end_to_end");
    tcase_add_loop_test(tc, audit_structure, 0, 3);
    tcase_add_loop_test(tc, audit_aggregate_by_hand, 0, 3);
    tcase_add_loop_test(tc, audit_round_trip, 0, 3);
    tcase_add_loop_test(tc, sweep_round_trip, 0, 3);
    tcase_add_loop_test(tc, sweep_thresholds, 0, 3);
    tcase_add_loop_test(tc, golden_pin, 0, 3);
    tcase_add_test(tc, parse_lists);
    tcase_add_test(tc, bad_inputs);
    tcase_add_test(tc, measure_stream_composes);
    tcase_add_test(tc, measure_stream_catches_bad_decode);
    tcase_add_test(tc, compare_reports);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    fixture();
    int rc = kvc_test_run(suite());
    for (int p = 0; p < 3; p++) {
        free(g_audit[p]);
        free(g_sweep[p]);
    }
    return rc;
}
