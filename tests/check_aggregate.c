/* Tests for stats/published + report: the published aggregates recomputed
 * bit for bit from golden/published/ (transcribed from the study's files,
 * never read from ../shared here), the headline figures, the JSON round
 * trip, and every malformed input ending in its specific status. */
#include <cjson/cJSON.h>
#include <math.h>
#include <unistd.h>

#include "stats/bits.h"
#include "stats/exactsum.h"
#include "stats/published.h"
#include "testutil.h"

#define N8_GOLDEN "golden/published/stage075_n8.kvcert.json"
#define QSWEEP_GOLDEN "golden/published/stage075_qsweep_n8.kvcert.json"
#define FIGURES_GOLDEN "golden/published/figures.json"

static uint64_t bits_of(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static kvc_report *load_golden(const char *rel)
{
    char path[1024];
    kvc_report *r = NULL;
    kvc_error e;
    kvc_error_clear(&e);
    kvc_status st = kvc_report_load(kvc_test_srcpath(path, sizeof path, rel), &r, &e);
    if (st != KVC_OK) {
        char buf[1200];
        ck_abort_msg("loading %s: %s", rel, kvc_error_format(&e, buf, sizeof buf));
    }
    return r;
}

static kvc_result *aggregate(const kvc_report *r, kvc_t_source t, kvc_sum_mode m)
{
    kvc_agg_options o = kvc_agg_options_default();
    o.t_source = t;
    o.sum_mode = m;
    kvc_result *res = NULL;
    ck_assert_int_eq(kvc_report_aggregate(r, &o, NULL, &res, NULL), KVC_OK);
    return res;
}

/* Runs the check, logging mismatches to a memory stream; returns counts. */
static kvc_check_counts run_check(const kvc_report *r, const kvc_result *res, char **log)
{
    kvc_check_counts c;
    size_t len = 0;
    char *buf = NULL;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(kvc_report_check(r, res, f, &c, NULL), KVC_OK);
    fclose(f);
    if (log != NULL)
        *log = buf;
    else
        free(buf);
    return c;
}

static size_t count_lines(const char *s, const char *prefix)
{
    size_t n = 0;
    for (const char *p = s; p != NULL && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        n += strncmp(p, prefix, strlen(prefix)) == 0;
    return n;
}

/* ------------------------------------------------------------ n = 8 */

START_TEST(n8_all_240_fields_bit_exact)
{
    kvc_report *r = load_golden(N8_GOLDEN);
    ck_assert_int_eq(r->kind, KVC_REPORT_PER_PASSAGE);
    ck_assert_int_eq(r->origin, KVC_ORIGIN_KVCERT);
    ck_assert_uint_eq(r->n_passages, 8);
    ck_assert_uint_eq(r->n_streams, 3);
    ck_assert_uint_eq(r->head_dim, 512);
    kvc_result *res = aggregate(r, KVC_T_PUBLISHED, KVC_SUM_EXACT);
    char *log = NULL;
    kvc_check_counts c = run_check(r, res, &log);
    /* 3 streams × (6 audit + 5 codecs × 2 + 4 ratios) aggregates × 4 fields */
    ck_assert_msg(c.cat_fields[KVC_CHECK_AGGREGATE] == 240 &&
                      c.cat_matched[KVC_CHECK_AGGREGATE] == 240,
                  "%zu of %zu aggregate fields match:\n%s", c.cat_matched[KVC_CHECK_AGGREGATE],
                  c.cat_fields[KVC_CHECK_AGGREGATE], log);
    ck_assert_uint_eq(c.cat_fields[KVC_CHECK_BITS], 15);
    ck_assert_uint_eq(c.cat_matched[KVC_CHECK_BITS], 15);
    ck_assert_uint_eq(c.fields, 255);
    ck_assert_uint_eq(c.matched, 255);
    ck_assert_uint_eq(count_lines(log, "MISMATCH"), 0);
    free(log);
    /* every aggregate records its t source */
    for (size_t i = 0; i < res->n_streams; i++)
        for (size_t k = 0; k < res->streams[i].n_codecs; k++) {
            ck_assert_int_eq(res->streams[i].codecs[k].rel_mse.t_source, KVC_T_PUBLISHED);
            ck_assert(res->streams[i].codecs[k].rel_mse.t == 2.365);
        }
    kvc_result_destroy(res);
    kvc_report_destroy(r);
}
END_TEST

/* The contrast SPEC §8 states: naive left-to-right sums miss 13 fields by
 * 1–2 ulp. (Which 13 is data, not code: the golden aggregates.) */
START_TEST(n8_naive_summation_misses_13)
{
    kvc_report *r = load_golden(N8_GOLDEN);
    kvc_result *res = aggregate(r, KVC_T_PUBLISHED, KVC_SUM_NAIVE);
    char *log = NULL;
    kvc_check_counts c = run_check(r, res, &log);
    ck_assert_uint_eq(c.cat_fields[KVC_CHECK_AGGREGATE], 240);
    ck_assert_msg(c.cat_matched[KVC_CHECK_AGGREGATE] == 227, "naive: %zu of 240 match:\n%s",
                  c.cat_matched[KVC_CHECK_AGGREGATE], log);
    ck_assert_uint_eq(count_lines(log, "MISMATCH"), 13);
    /* e.g. the HCA headline mean, 1.0430402372519307 stored, ...305 naive */
    ck_assert_ptr_nonnull(
        strstr(log, "MISMATCH $.aggregate_by_stream.hca_pool_kv_ratio128.ratios_vs_fp8.v15_e8_Q38.mean: "
                    "stored 1.0430402372519307 (0x1.0b04af5b68bc5p+0), recomputed 1.0430402372519305 (0x1.0b04af5b68bc4p+0)"));
    free(log);
    kvc_result_destroy(res);
    kvc_report_destroy(r);
}
END_TEST

/* --t-table exact: the half-widths move (t(7) = 2.3646... not 2.365) for
 * every aggregate with std ≠ 0, i.e. all but num_vectors and D. */
START_TEST(n8_exact_t_changes_every_nonzero_hw)
{
    kvc_report *r = load_golden(N8_GOLDEN);
    kvc_result *res = aggregate(r, KVC_T_EXACT, KVC_SUM_EXACT);
    char *log = NULL;
    kvc_check_counts c = run_check(r, res, &log);
    ck_assert_uint_eq(c.cat_fields[KVC_CHECK_AGGREGATE] - c.cat_matched[KVC_CHECK_AGGREGATE], 54);
    ck_assert_uint_eq(count_lines(log, "MISMATCH"), 54);
    ck_assert_ptr_null(strstr(log, ".mean:"));
    ck_assert_ptr_null(strstr(log, ".std:"));
    free(log);
    ck_assert_int_eq(res->streams[0].codecs[0].rel_mse.t_source, KVC_T_EXACT);
    ck_assert(fabs(res->streams[0].codecs[0].rel_mse.t - 2.364624251592785) < 1e-12);
    kvc_result_destroy(res);
    kvc_report_destroy(r);
}
END_TEST

/* Which reading of SPEC §8 the data supports. Visits the 60 aggregates
 * of the n = 8 file with their per-passage values and stored record. */
typedef struct reading {
    size_t visited, std_exact_squares_match, hw_t_std_first_mismatch;
} reading;

static void visit(reading *rd, const double *v, size_t n, const cJSON *stored)
{
    ck_assert_ptr_nonnull(stored);
    double std_stored = cJSON_GetObjectItem(stored, "std")->valuedouble;
    double hw_stored = cJSON_GetObjectItem(stored, "ci95_hw")->valuedouble;
    /* reading 2: the squares not rounded either — each (v − mean)² split
     * exactly into hi + lo (fma), all of it summed exactly, one rounding */
    kvc_exactsum acc;
    kvc_exactsum_init(&acc);
    double mean = kvc_exactsum_array(v, n) / (double)n;
    for (size_t i = 0; i < n; i++) {
        double d = v[i] - mean, hi = d * d;
        kvc_exactsum_add(&acc, hi);
        kvc_exactsum_add(&acc, fma(d, d, -hi));
    }
    double std2 = sqrt(kvc_exactsum_value(&acc) / (double)(n - 1));
    rd->std_exact_squares_match += bits_of(std2) == bits_of(std_stored);
    /* the other order of the half-width: (t·std)/√n */
    kvc_stats_agg a;
    kvc_stats_aggregate(v, n, NULL, &a);
    double hw2 = (2.365 * a.std) / sqrt((double)n);
    rd->hw_t_std_first_mismatch += bits_of(hw2) != bits_of(hw_stored);
    rd->visited++;
}

START_TEST(n8_which_reading)
{
    kvc_report *r = load_golden(N8_GOLDEN);
    const cJSON *abs = cJSON_GetObjectItem((const cJSON *)r->json, "aggregate_by_stream");
    reading rd = {0, 0, 0};
    double ratio[8];
    for (size_t i = 0; i < r->n_streams; i++) {
        const kvc_report_stream *s = &r->streams[i];
        const cJSON *so = cJSON_GetObjectItem(abs, s->name);
        for (size_t k = 0; k < s->n_audit; k++)
            visit(&rd, s->audit[k].v, 8, cJSON_GetObjectItem(cJSON_GetObjectItem(so, "audit"), s->audit[k].name));
        const kvc_report_codec *fp8 = NULL;
        for (size_t k = 0; k < s->n_codecs; k++) {
            const cJSON *co = cJSON_GetObjectItem(cJSON_GetObjectItem(so, "codecs"), s->codecs[k].name);
            visit(&rd, s->codecs[k].rel_mse, 8, cJSON_GetObjectItem(co, "rel_mse"));
            visit(&rd, s->codecs[k].cos_sim, 8, cJSON_GetObjectItem(co, "cos_sim"));
            if (strcmp(s->codecs[k].name, "fp8_per64_baseline") == 0)
                fp8 = &s->codecs[k];
        }
        ck_assert_ptr_nonnull(fp8);
        for (size_t k = 0; k < s->n_codecs; k++) {
            if (&s->codecs[k] == fp8)
                continue;
            for (int p = 0; p < 8; p++)
                ratio[p] = s->codecs[k].rel_mse[p] / fp8->rel_mse[p];
            visit(&rd, ratio, 8, cJSON_GetObjectItem(cJSON_GetObjectItem(so, "ratios_vs_fp8"), s->codecs[k].name));
        }
    }
    ck_assert_uint_eq(rd.visited, 60);
    /* Both readings of "every sum correctly rounded" reproduce every std:
     * the data cannot tell them apart (kvcert rounds each square once). */
    ck_assert_uint_eq(rd.std_exact_squares_match, 60);
    /* but the half-width must be t·(std/√n): (t·std)/√n misses 18 */
    ck_assert_uint_eq(rd.hw_t_std_first_mismatch, 18);
    kvc_report_destroy(r);
}
END_TEST

/* ------------------------------------------------------------ Q-sweep */

START_TEST(qsweep_every_threshold_field)
{
    kvc_report *r = load_golden(QSWEEP_GOLDEN);
    ck_assert_int_eq(r->kind, KVC_REPORT_QSWEEP);
    kvc_result *res = aggregate(r, KVC_T_PUBLISHED, KVC_SUM_EXACT);
    char *log = NULL;
    kvc_check_counts c = run_check(r, res, &log);
    /* 3 streams × 6 variants × 13 fields (all admissible) */
    ck_assert_msg(c.cat_fields[KVC_CHECK_THRESHOLD] == 234 &&
                      c.cat_matched[KVC_CHECK_THRESHOLD] == 234,
                  "%s", log);
    /* ci95_hw from std and n: 3 × (fp8 + 12 Q + 6 audit) */
    ck_assert_uint_eq(c.cat_fields[KVC_CHECK_HW], 57);
    ck_assert_uint_eq(c.cat_matched[KVC_CHECK_HW], 57);
    /* 12 bits_per_vec_by_q + the two baseline bit counts in config */
    ck_assert_uint_eq(c.cat_fields[KVC_CHECK_BITS], 14);
    ck_assert_uint_eq(c.cat_matched[KVC_CHECK_BITS], 14);
    ck_assert_uint_eq(c.matched, c.fields);
    ck_assert_uint_eq(c.fields, 305);
    free(log);
    /* HCA: A point at Q 76; B point at Q 38 with margin 0.56 % */
    const kvc_result_stream *hca = &res->streams[res->role_stream[KVC_ROLE_HCA]];
    ck_assert_uint_eq(hca->thr[0].q_min, 76);
    ck_assert_uint_eq(hca->thr[2].q_min, 38);
    ck_assert(bits_of(hca->thr[2].margin_pct) == bits_of(0.5609934027036924));
    kvc_result_destroy(res);
    kvc_report_destroy(r);
}
END_TEST

/* The Q-sweep ran the same 8 passages: its Q 10 / Q 38 E8, FP8 and audit
 * aggregates equal the n = 8 file's, which kvcert recomputes from the
 * per-passage values. */
START_TEST(qsweep_agrees_with_n8)
{
    kvc_report *n8 = load_golden(N8_GOLDEN), *qs = load_golden(QSWEEP_GOLDEN);
    kvc_result *a = aggregate(n8, KVC_T_PUBLISHED, KVC_SUM_EXACT);
    kvc_result *b = aggregate(qs, KVC_T_PUBLISHED, KVC_SUM_EXACT);
    size_t compared = 0;
    for (size_t i = 0; i < a->n_streams; i++) {
        const kvc_result_stream *sa = &a->streams[i];
        const kvc_result_stream *sb = NULL;
        for (size_t j = 0; j < b->n_streams; j++)
            if (strcmp(b->streams[j].name, sa->name) == 0)
                sb = &b->streams[j];
        ck_assert_ptr_nonnull(sb);
        ck_assert(sa->has_sweep);
        ck_assert(bits_of(sa->fp8.mean) == bits_of(sb->fp8.mean));
        ck_assert(bits_of(sa->fp8.ci95_hw) == bits_of(sb->fp8.ci95_hw));
        for (size_t k = 0; k < sa->n_q; k++)
            for (size_t m = 0; m < sb->n_q; m++)
                if (sa->q[k] == sb->q[m]) {
                    ck_assert(bits_of(sa->e8[k].mean) == bits_of(sb->e8[m].mean));
                    ck_assert(bits_of(sa->e8[k].std) == bits_of(sb->e8[m].std));
                    ck_assert(bits_of(sa->e8[k].ci95_hw) == bits_of(sb->e8[m].ci95_hw));
                    compared++;
                }
    }
    ck_assert_uint_eq(compared, 6);
    kvc_result_destroy(a);
    kvc_result_destroy(b);
    kvc_report_destroy(n8);
    kvc_report_destroy(qs);
}
END_TEST

/* ------------------------------------------------------------ figures */

static cJSON *load_figures(void)
{
    char path[1024];
    FILE *f = fopen(kvc_test_srcpath(path, sizeof path, FIGURES_GOLDEN), "rb");
    ck_assert_ptr_nonnull(f);
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    cJSON *doc = cJSON_Parse(text);
    ck_assert_ptr_nonnull(doc);
    ck_assert_str_eq(cJSON_GetObjectItem(doc, "schema")->valuestring, "kvcert-figures/1");
    return doc;
}

static const cJSON *figure(const cJSON *doc, const char *id)
{
    const cJSON *f;
    cJSON_ArrayForEach(f, cJSON_GetObjectItem(doc, "figures"))
        if (strcmp(cJSON_GetObjectItem(f, "id")->valuestring, id) == 0)
            return f;
    ck_abort_msg("figure %s missing from %s", id, FIGURES_GOLDEN);
    return NULL;
}

static double expected(const cJSON *fig, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(fig, "expected"), key);
    ck_assert_ptr_nonnull(v);
    return v->valuedouble;
}

/* x printed with d decimals is the expected figure: |x − e| <= 0.5·10^−d
 * (+ a relative hair for the decimal constant itself). */
static void assert_decimals(double x, double e, int d, const char *what)
{
    ck_assert_msg(fabs(x - e) <= 0.5 * pow(10.0, -d) * (1.0 + 1e-9), "%s: %.17g is not %.*f", what,
                  x, d, e);
}

START_TEST(headline_figures)
{
    cJSON *doc = load_figures();
    kvc_report *r = load_golden(N8_GOLDEN);
    kvc_result *res = aggregate(r, KVC_T_PUBLISHED, KVC_SUM_EXACT);

    static const char *const ids[] = {"ratio_e8q38_swa", "ratio_e8q38_csa", "ratio_e8q38_hca"};
    for (size_t i = 0; i < 3; i++) {
        const cJSON *fig = figure(doc, ids[i]);
        const char *stream = cJSON_GetObjectItem(fig, "stream")->valuestring;
        const char *codec = cJSON_GetObjectItem(fig, "codec")->valuestring;
        const kvc_result_codec *found = NULL;
        for (size_t s = 0; s < res->n_streams; s++)
            for (size_t k = 0; k < res->streams[s].n_codecs; k++)
                if (strcmp(res->streams[s].name, stream) == 0 &&
                    strcmp(res->streams[s].codecs[k].name, codec) == 0)
                    found = &res->streams[s].codecs[k];
        ck_assert_ptr_nonnull(found);
        ck_assert_msg(bits_of(found->ratio.mean) == bits_of(expected(fig, "mean")), "%s mean %.17g",
                      ids[i], found->ratio.mean);
        ck_assert_msg(bits_of(found->ratio.ci95_hw) == bits_of(expected(fig, "ci95_hw")),
                      "%s hw %.17g", ids[i], found->ratio.ci95_hw);
    }

    const cJSON *lw = figure(doc, "layer_weighted_e8q38");
    int seen = 0;
    for (size_t i = 0; i < res->n_lw; i++)
        if (strcmp(res->lw[i].codec, "v15_e8_Q38") == 0) {
            assert_decimals(res->lw[i].mean, expected(lw, "mean"), 6, "layer-weighted mean");
            assert_decimals(res->lw[i].hw, expected(lw, "ci95_hw"), 6, "layer-weighted hw");
            seen = 1;
        }
    ck_assert(seen);

    const cJSON *bits = cJSON_GetObjectItem(figure(doc, "bits_accounted"), "expected");
    const cJSON *b;
    cJSON_ArrayForEach(b, bits)
    {
        uint64_t got;
        ck_assert(kvc_stats_codec_bits(b->string, 512, &got));
        ck_assert_uint_eq(got, (uint64_t)b->valuedouble);
        /* and what the aggregate reports for each codec */
        for (size_t s = 0; s < res->n_streams; s++)
            for (size_t k = 0; k < res->streams[s].n_codecs; k++)
                if (strcmp(res->streams[s].codecs[k].name, b->string) == 0)
                    ck_assert_uint_eq(res->streams[s].codecs[k].bits, got);
    }
    uint64_t e8, fp8;
    kvc_stats_lattice_bits(KVC_LATTICE_E8, 512, 38, &e8, NULL);
    kvc_stats_fp8_bits(512, &fp8, NULL);
    assert_decimals(100.0 * ((double)e8 / (double)fp8 - 1.0),
                    expected(figure(doc, "bits_saving_e8q38_vs_fp8"), "pct"), 2, "saving");

    /* strategy 2 from the per-stream Q of MAX_USABLE_CR.md */
    const cJSON *s2 = figure(doc, "strategy2_no_regression");
    uint32_t q[KVC_ROLE_COUNT];
    double w[KVC_ROLE_COUNT];
    const cJSON *qo = cJSON_GetObjectItem(s2, "Q"), *lo = cJSON_GetObjectItem(s2, "layers");
    for (int role = 0; role < KVC_ROLE_COUNT; role++) {
        const char *name = res->streams[res->role_stream[role]].name;
        q[role] = (uint32_t)cJSON_GetObjectItem(qo, name)->valuedouble;
        w[role] = cJSON_GetObjectItem(lo, kvc_stats_role_name(role))->valuedouble;
    }
    kvc_strategy st;
    ck_assert_int_eq(kvc_stats_strategy_from_q(q, w, 512, &st, NULL), KVC_OK);
    assert_decimals(st.weighted_bits, expected(s2, "bits_per_vec"), 3, "strategy 2 bits");
    assert_decimals(st.cr_vs_fp8, expected(s2, "cr_vs_fp8"), 4, "strategy 2 CR vs FP8");
    assert_decimals(st.cr_vs_bf16, expected(s2, "cr_vs_bf16"), 4, "strategy 2 CR vs bf16");

    kvc_result_destroy(res);
    kvc_report_destroy(r);
    cJSON_Delete(doc);
}
END_TEST

/* Strategies from the coarse Q-sweep alone (no Q = 44 there): HCA needs
 * Q = 76 for "no regression", so strategy 2 is (3·3296 + 20·3296 +
 * 20·3808)/43 and strategy 1 is Q = 76 everywhere. */
START_TEST(qsweep_strategies)
{
    kvc_report *r = load_golden(QSWEEP_GOLDEN);
    kvc_result *res = aggregate(r, KVC_T_PUBLISHED, KVC_SUM_EXACT);
    ck_assert(res->has_strategies);
    for (int v = 0; v < 2; v++) {
        ck_assert(res->strategy2[v].admissible);
        ck_assert(bits_of(res->strategy2[v].weighted_bits) == bits_of(151968.0 / 43.0));
        ck_assert_uint_eq(res->strategy1[v].q[0], 76);
        ck_assert(res->strategy1[v].weighted_bits == 3808.0);
    }
    ck_assert(res->strategy1[2].q[0] == 38 && res->strategy2[2].weighted_bits == 3296.0);
    kvc_result_destroy(res);
    kvc_report_destroy(r);
}
END_TEST

/* ------------------------------------------------------------ round trip */

static void round_trip(const char *rel, size_t min_fields)
{
    char dir[512], path[700];
    kvc_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/out.json", dir);
    kvc_report *r = load_golden(rel);
    kvc_result *res = aggregate(r, KVC_T_PUBLISHED, KVC_SUM_EXACT);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(kvc_report_write_json(r, res, f, NULL), KVC_OK);
    fclose(f);
    kvc_report *back = NULL;
    kvc_error e;
    ck_assert_int_eq(kvc_report_load(path, &back, &e), KVC_OK);
    ck_assert_int_eq(back->origin, KVC_ORIGIN_KVCERT);
    ck_assert_int_eq(back->kind, r->kind);
    kvc_result *res2 = aggregate(back, KVC_T_PUBLISHED, KVC_SUM_EXACT);
    char *log = NULL;
    kvc_check_counts c = run_check(back, res2, &log);
    ck_assert_msg(c.matched == c.fields && c.fields >= min_fields, "%zu of %zu:\n%s", c.matched,
                  c.fields, log);
    ck_assert_uint_gt(c.cat_fields[KVC_CHECK_THRESHOLD], 0);
    ck_assert_uint_gt(c.cat_fields[KVC_CHECK_DERIVED], 0);
    free(log);
    kvc_result_destroy(res2);
    kvc_report_destroy(back);
    kvc_result_destroy(res);
    kvc_report_destroy(r);
    unlink(path);
    rmdir(dir);
}

START_TEST(json_round_trip_n8)
{
    round_trip(N8_GOLDEN, 255);
}
END_TEST

START_TEST(json_round_trip_qsweep)
{
    round_trip(QSWEEP_GOLDEN, 305);
}
END_TEST

START_TEST(format_double_shortest)
{
    char buf[40];
    ck_assert_str_eq(kvc_report_format_double(0.1, buf, sizeof buf), "0.1");
    ck_assert_str_eq(kvc_report_format_double(2048.0, buf, sizeof buf), "2048");
    ck_assert_str_eq(kvc_report_format_double(1.0430402372519307, buf, sizeof buf),
                     "1.0430402372519307");
    ck_assert_str_eq(kvc_report_format_double(NAN, buf, sizeof buf), "null");
    ck_assert_str_eq(kvc_report_format_double(-INFINITY, buf, sizeof buf), "null");
    uint64_t st = 99;
    for (int i = 0; i < 20000; i++) {
        uint64_t u = kvc_test_rand64(&st);
        double x;
        memcpy(&x, &u, sizeof x);
        if (isnan(x) || isinf(x))
            continue;
        kvc_report_format_double(x, buf, sizeof buf);
        ck_assert(bits_of(strtod(buf, NULL)) == bits_of(x) || (x == 0.0 && strtod(buf, NULL) == 0.0));
    }
}
END_TEST

/* ------------------------------------------------------------ small reports */

static kvc_status parse(const char *text, kvc_report **r, kvc_error *e)
{
    kvc_error_clear(e);
    return kvc_report_parse(text, strlen(text), "t.json", r, e);
}

/* One passage (results_by_stream): n = 1, std = hw = 0. A passage whose
 * FP8 rel_mse is 0 is left out of the ratios. */
START_TEST(single_run_and_zero_baseline)
{
    kvc_report *r = NULL;
    kvc_error e;
    ck_assert_int_eq(parse("{\"results_by_stream\":[{\"stream\":\"s\",\"audit\":{\"D\":512},"
                           "\"codecs\":{\"v15_e8_Q38\":{\"bits_per_vector\":3296,\"rel_mse\":0.5,"
                           "\"cos_sim\":0.9},\"fp8_per64_baseline\":{\"rel_mse\":0.25,\"cos_sim\":1}}}]}",
                           &r, &e),
                     KVC_OK);
    ck_assert_int_eq(r->origin, KVC_ORIGIN_PUBLISHED_SINGLE);
    ck_assert_uint_eq(r->n_passages, 1);
    kvc_result *res = aggregate(r, KVC_T_PUBLISHED, KVC_SUM_EXACT);
    const kvc_result_codec *c = &res->streams[0].codecs[0];
    ck_assert(c->rel_mse.mean == 0.5 && c->rel_mse.std == 0.0 && c->rel_mse.ci95_hw == 0.0);
    ck_assert(c->has_ratio && c->ratio.mean == 2.0 && c->ratio.n == 1);
    ck_assert(!res->has_roles);
    kvc_check_counts cnt = run_check(r, res, NULL);
    ck_assert_uint_eq(cnt.fields, 0);
    kvc_result_destroy(res);
    kvc_report_destroy(r);

    const char *two = "{\"schema\":\"kvcert-report/1\",\"kind\":\"per-passage\",\"per_passage\":["
                      "{\"results\":[{\"stream\":\"s\",\"audit\":{},\"codecs\":{"
                      "\"a\":{\"rel_mse\":1,\"cos_sim\":1},\"fp8_per64_baseline\":{\"rel_mse\":0,\"cos_sim\":1}}}]},"
                      "{\"results\":[{\"stream\":\"s\",\"audit\":{},\"codecs\":{"
                      "\"fp8_per64_baseline\":{\"rel_mse\":0.5,\"cos_sim\":1},\"a\":{\"rel_mse\":1,\"cos_sim\":1}}}]}]}";
    ck_assert_int_eq(parse(two, &r, &e), KVC_OK);
    res = aggregate(r, KVC_T_PUBLISHED, KVC_SUM_EXACT);
    c = &res->streams[0].codecs[0];
    ck_assert_str_eq(c->name, "a");
    ck_assert(c->rel_mse.n == 2 && c->ratio.n == 1 && c->ratio.mean == 2.0);
    ck_assert(!c->has_bits);
    kvc_result_destroy(res);
    kvc_report_destroy(r);
}
END_TEST

/* Tampering with one stored digit is found, named and counted. */
START_TEST(check_reports_a_tampered_field)
{
    char path[1024];
    FILE *f = fopen(kvc_test_srcpath(path, sizeof path, N8_GOLDEN), "rb");
    ck_assert_ptr_nonnull(f);
    static char text[1 << 17];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    char *p = strstr(text, "0.7899826095204807");
    ck_assert_ptr_nonnull(p);
    p[17] = '8'; /* 0.7899826095204808: one decimal digit, a different binary64 */
    kvc_report *r = NULL;
    kvc_error e;
    ck_assert_int_eq(kvc_report_parse(text, n, "tampered.json", &r, &e), KVC_OK);
    kvc_result *res = aggregate(r, KVC_T_PUBLISHED, KVC_SUM_EXACT);
    char *log = NULL;
    kvc_check_counts c = run_check(r, res, &log);
    ck_assert_uint_eq(c.fields, 255);
    ck_assert_uint_eq(c.matched, 254);
    ck_assert_ptr_nonnull(strstr(
        log, "MISMATCH $.aggregate_by_stream.sliding_window_kv.ratios_vs_fp8.v15_e8_Q38.mean: stored "
             "0.78998260952048083"));
    free(log);
    kvc_result_destroy(res);
    kvc_report_destroy(r);
}
END_TEST

/* ------------------------------------------------------------ malformed */

#define PP(results) "{\"per_passage\":[{\"passage_id\":0,\"results\":" results "}]}"
#define ONE_STREAM "[{\"stream\":\"s\",\"audit\":{\"D\":512},\"codecs\":{\"c\":{\"rel_mse\":1,\"cos_sim\":1}}}]"
#define QS(body) "{\"schema\":\"kvcert-report/1\",\"kind\":\"q-sweep\",\"aggregate_by_stream\":{\"s\":" body "}}"
#define AGG "{\"mean\":1,\"std\":0,\"ci95_hw\":0,\"n\":8}"

static const struct bad_case {
    const char *id;
    const char *text;
    kvc_status status;
    const char *detail; /* substring of the error detail (the JSON path) */
} bad_cases[] = {
    {"empty", "", KVC_REPORT_FORMAT, "not valid JSON"},
    {"not_json", "{\"a\":", KVC_REPORT_FORMAT, "not valid JSON"},
    {"trailing", "{} x", KVC_REPORT_FORMAT, "not valid JSON"},
    {"nan_literal", PP("[{\"stream\":\"s\",\"audit\":{\"D\":NaN}}]"), KVC_REPORT_FORMAT, "not valid JSON"},
    {"array_root", "[]", KVC_REPORT_FORMAT, "$: expected an object"},
    {"unknown_shape", "{\"x\":1}", KVC_REPORT_FORMAT, "$: not a report"},
    {"schema_version", "{\"schema\":\"kvcert-report/2\"}", KVC_REPORT_FORMAT, "$.schema: unsupported"},
    {"schema_type", "{\"schema\":1}", KVC_REPORT_FORMAT, "$.schema: expected a string"},
    {"kind_missing", "{\"schema\":\"kvcert-report/1\"}", KVC_REPORT_FORMAT, "$.kind: expected a string"},
    {"kind_bad", "{\"schema\":\"kvcert-report/1\",\"kind\":\"x\"}", KVC_REPORT_FORMAT, "$.kind"},
    {"pp_missing", "{\"schema\":\"kvcert-report/1\",\"kind\":\"per-passage\"}", KVC_REPORT_FORMAT,
     "$.per_passage: expected an array, found absent"},
    {"pp_empty", "{\"per_passage\":[]}", KVC_REPORT_FORMAT, "$.per_passage: no passages"},
    {"results_type", PP("{}"), KVC_REPORT_FORMAT, "$.per_passage[0].results: expected an array"},
    {"no_streams", PP("[]"), KVC_REPORT_FORMAT, "$.per_passage[0].results: no stream results"},
    {"stream_name_type", PP("[{\"stream\":5}]"), KVC_REPORT_FORMAT,
     "$.per_passage[0].results[0].stream: expected a string"},
    {"stream_name_empty", PP("[{\"stream\":\"\",\"audit\":{},\"codecs\":{}}]"), KVC_REPORT_FORMAT,
     "$.per_passage[0].results[0].stream: name must have"},
    {"audit_missing", PP("[{\"stream\":\"s\"}]"), KVC_REPORT_FORMAT,
     "$.per_passage[0].results[0].audit: expected an object, found absent"},
    {"no_codecs", PP("[{\"stream\":\"s\",\"audit\":{},\"codecs\":{}}]"), KVC_REPORT_FORMAT,
     "$.per_passage[0].results[0].codecs: no codecs"},
    {"value_string", PP("[{\"stream\":\"s\",\"audit\":{},\"codecs\":{\"c\":{\"rel_mse\":\"x\",\"cos_sim\":1}}}]"),
     KVC_REPORT_FORMAT, "$.per_passage[0].results[0].codecs.c.rel_mse: expected a number, found a string"},
    {"value_missing", PP("[{\"stream\":\"s\",\"audit\":{},\"codecs\":{\"c\":{\"rel_mse\":1}}}]"),
     KVC_REPORT_FORMAT, "$.per_passage[0].results[0].codecs.c.cos_sim: expected a number, found absent"},
    {"value_overflow", PP("[{\"stream\":\"s\",\"audit\":{\"x\":1e999},\"codecs\":{\"c\":{\"rel_mse\":1,\"cos_sim\":1}}}]"),
     KVC_REPORT_FORMAT, "$.per_passage[0].results[0].audit.x: number out of the binary64 range"},
    {"bits_fraction", PP("[{\"stream\":\"s\",\"audit\":{},\"codecs\":{\"c\":{\"bits_per_vector\":3.5,\"rel_mse\":1,\"cos_sim\":1}}}]"),
     KVC_REPORT_FORMAT, "$.per_passage[0].results[0].codecs.c.bits_per_vector: expected an integer"},
    {"duplicate_key", PP("[{\"stream\":\"s\",\"audit\":{\"D\":1,\"D\":2},\"codecs\":{\"c\":{\"rel_mse\":1,\"cos_sim\":1}}}]"),
     KVC_REPORT_FORMAT, "$.per_passage[0].results[0].audit.D: duplicate key"},
    {"odd_key_path", PP("[{\"stream\":\"s\",\"audit\":{\"a b\":true},\"codecs\":{\"c\":{\"rel_mse\":1,\"cos_sim\":1}}}]"),
     KVC_REPORT_FORMAT, "$.per_passage[0].results[0].audit[\"a b\"]: expected a number, found a boolean"},
    {"stream_twice", PP("[{\"stream\":\"s\",\"audit\":{},\"codecs\":{\"c\":{\"rel_mse\":1,\"cos_sim\":1}}},"
                        "{\"stream\":\"s\",\"audit\":{},\"codecs\":{\"c\":{\"rel_mse\":1,\"cos_sim\":1}}}]"),
     KVC_REPORT_FORMAT, "$.per_passage[0].results[1].stream: stream \"s\" appears twice"},
    {"passage_id_negative", "{\"per_passage\":[{\"passage_id\":-1,\"results\":" ONE_STREAM "}]}",
     KVC_REPORT_FORMAT, "$.per_passage[0].passage_id: expected an integer"},
    {"second_passage_other_stream",
     "{\"per_passage\":[{\"results\":" ONE_STREAM "},{\"results\":[{\"stream\":\"t\",\"audit\":{},\"codecs\":{}}]}]}",
     KVC_REPORT_FORMAT, "$.per_passage[1].results[0].stream: stream \"t\" is not in passage 0"},
    {"second_passage_fewer_metrics",
     "{\"per_passage\":[{\"results\":" ONE_STREAM "},{\"results\":[{\"stream\":\"s\",\"audit\":{},\"codecs\":{}}]}]}",
     KVC_REPORT_FORMAT, "$.per_passage[1].results[0].audit: 0 metrics, passage 0 has 1"},
    {"second_passage_other_codec",
     "{\"per_passage\":[{\"results\":" ONE_STREAM "},{\"results\":[{\"stream\":\"s\",\"audit\":{\"D\":512},"
     "\"codecs\":{\"d\":{\"rel_mse\":1,\"cos_sim\":1}}}]}]}",
     KVC_REPORT_FORMAT, "$.per_passage[1].results[0].codecs.d: codec is not in passage 0"},
    {"second_passage_other_bits",
     "{\"per_passage\":[{\"results\":[{\"stream\":\"s\",\"audit\":{},\"codecs\":{\"c\":{\"bits_per_vector\":1,\"rel_mse\":1,\"cos_sim\":1}}}]},"
     "{\"results\":[{\"stream\":\"s\",\"audit\":{},\"codecs\":{\"c\":{\"bits_per_vector\":2,\"rel_mse\":1,\"cos_sim\":1}}}]}]}",
     KVC_REPORT_FORMAT, "$.per_passage[1].results[0].codecs.c.bits_per_vector: 2 differs from passage 0's 1"},
    {"head_dim", "{\"config\":{\"head_dim\":32},\"per_passage\":[{\"results\":" ONE_STREAM "}]}",
     KVC_REPORT_FORMAT, "$.config.head_dim: expected an integer in 64..16777216"},
    {"head_dim_not_64", "{\"config\":{\"dsv4_config\":{\"head_dim\":96}},\"per_passage\":[{\"results\":" ONE_STREAM "}]}",
     KVC_REPORT_FORMAT, "$.config.dsv4_config.head_dim: head dimension 96 is not a multiple of 64"},
    {"options_t", "{\"aggregate_options\":{\"t_source\":\"normal\"},\"per_passage\":[]}", KVC_REPORT_FORMAT,
     "$.aggregate_options.t_source"},
    {"options_layers", "{\"aggregate_options\":{\"layers\":{\"SWA\":3,\"CSA\":20}},\"per_passage\":[]}",
     KVC_REPORT_FORMAT, "$.aggregate_options.layers.HCA: missing"},
    {"options_summation", "{\"aggregate_options\":{\"summation\":\"naive\"},\"per_passage\":[]}",
     KVC_REPORT_FORMAT, "$.aggregate_options.summation"},
    {"qs_no_streams", "{\"schema\":\"kvcert-report/1\",\"kind\":\"q-sweep\",\"aggregate_by_stream\":{}}",
     KVC_REPORT_FORMAT, "$.aggregate_by_stream: no streams"},
    {"qs_fp8_missing", QS("{}"), KVC_REPORT_FORMAT, "$.aggregate_by_stream.s.fp8_rel_mse: missing"},
    {"qs_agg_std_missing", QS("{\"fp8_rel_mse\":{\"mean\":1,\"ci95_hw\":0,\"n\":8}}"), KVC_REPORT_FORMAT,
     "$.aggregate_by_stream.s.fp8_rel_mse.std: missing"},
    {"qs_agg_n_negative", QS("{\"fp8_rel_mse\":{\"mean\":1,\"std\":0,\"ci95_hw\":0,\"n\":-8}}"),
     KVC_REPORT_FORMAT, "$.aggregate_by_stream.s.fp8_rel_mse.n: expected an integer"},
    {"qs_agg_t_source", QS("{\"fp8_rel_mse\":{\"mean\":1,\"std\":0,\"ci95_hw\":0,\"n\":8,\"t_source\":1}}"),
     KVC_REPORT_FORMAT, "$.aggregate_by_stream.s.fp8_rel_mse.t_source"},
    {"qs_byq_missing", QS("{\"fp8_rel_mse\":" AGG "}"), KVC_REPORT_FORMAT,
     "$.aggregate_by_stream.s.e8_rel_mse_by_q: expected an object, found absent"},
    {"qs_byq_empty", QS("{\"fp8_rel_mse\":" AGG ",\"e8_rel_mse_by_q\":{}}"), KVC_REPORT_FORMAT,
     "$.aggregate_by_stream.s.e8_rel_mse_by_q: no Q values"},
    {"qs_q_leading_zero", QS("{\"fp8_rel_mse\":" AGG ",\"e8_rel_mse_by_q\":{\"038\":" AGG "}}"),
     KVC_REPORT_FORMAT, "$.aggregate_by_stream.s.e8_rel_mse_by_q[\"038\"]: Q key must be"},
    {"qs_q_zero", QS("{\"fp8_rel_mse\":" AGG ",\"e8_rel_mse_by_q\":{\"0\":" AGG "}}"),
     KVC_REPORT_FORMAT, "e8_rel_mse_by_q[\"0\"]: Q key must be"},
    {"qs_q_huge", QS("{\"fp8_rel_mse\":" AGG ",\"e8_rel_mse_by_q\":{\"99999999999\":" AGG "}}"),
     KVC_REPORT_FORMAT, "Q above"},
    {"qs_thresholds_type", QS("{\"fp8_rel_mse\":" AGG ",\"e8_rel_mse_by_q\":{\"38\":" AGG "},\"thresholds\":[]}"),
     KVC_REPORT_FORMAT, "$.aggregate_by_stream.s.thresholds: expected an object"},
    {"qs_audit_agg_bad", QS("{\"fp8_rel_mse\":" AGG ",\"e8_rel_mse_by_q\":{\"38\":" AGG "},\"audit\":{\"D\":5}}"),
     KVC_REPORT_FORMAT, "$.aggregate_by_stream.s.audit.D: expected an object"},
};

START_TEST(malformed_reports)
{
    const struct bad_case *bc = &bad_cases[_i];
    kvc_report *r = (kvc_report *)1;
    kvc_error e;
    kvc_status st = parse(bc->text, &r, &e);
    char buf[1400];
    ck_assert_msg(st == bc->status, "%s: got %s (%s)", bc->id, kvc_status_name(st),
                  kvc_error_format(&e, buf, sizeof buf));
    ck_assert_ptr_null(r);
    ck_assert_int_eq(e.status, bc->status);
    ck_assert_msg(strstr(e.detail, bc->detail) != NULL, "%s: detail '%s' lacks '%s'", bc->id,
                  e.detail, bc->detail);
    ck_assert_str_eq(e.file, "t.json");
}
END_TEST

/* Bytes that are not JSON text at all, with the offset of the bad byte. */
START_TEST(malformed_bytes)
{
    kvc_report *r = NULL;
    kvc_error e;
    const char nul[] = "{\"per_passage\":[]}\0garbage";
    kvc_error_clear(&e);
    ck_assert_int_eq(kvc_report_parse(nul, sizeof nul - 1, "t.json", &r, &e), KVC_REPORT_FORMAT);
    ck_assert_int_eq(e.offset, 18);
    ck_assert_ptr_nonnull(strstr(e.detail, "NUL"));
    const char bad_utf8[] = "{\"per_passage\":[], \"x\":\"\xC3\x28\"}";
    ck_assert_int_eq(kvc_report_parse(bad_utf8, strlen(bad_utf8), "t.json", &r, &e), KVC_REPORT_FORMAT);
    ck_assert_int_eq(e.offset, 24);
    ck_assert_ptr_nonnull(strstr(e.detail, "UTF-8"));
    const char overlong[] = "{\"x\":\"\xC0\xAF\"}";
    ck_assert_int_eq(kvc_report_parse(overlong, strlen(overlong), "t.json", &r, &e), KVC_REPORT_FORMAT);
    const char surrogate[] = "{\"x\":\"\xED\xA0\x80\"}";
    ck_assert_int_eq(kvc_report_parse(surrogate, strlen(surrogate), "t.json", &r, &e), KVC_REPORT_FORMAT);
    const char truncated[] = "{\"x\":\"\xE2\x82";
    ck_assert_int_eq(kvc_report_parse(truncated, strlen(truncated), "t.json", &r, &e), KVC_REPORT_FORMAT);
    ck_assert_ptr_null(r);
    /* valid multi-byte UTF-8 in an ignored string is fine */
    const char ok[] = "{\"note\":\"\xE2\x89\xA4 \xC3\x97\",\"results_by_stream\":" ONE_STREAM "}";
    ck_assert_int_eq(kvc_report_parse(ok, strlen(ok), "t.json", &r, &e), KVC_OK);
    kvc_report_destroy(r);
}
END_TEST

/* Limits: too many streams; a file over 64 MiB; a missing file. */
START_TEST(limits_and_files)
{
    kvc_report *r = NULL;
    kvc_error e;
    char text[8192];
    size_t n = (size_t)snprintf(text, sizeof text, "{\"per_passage\":[{\"results\":[");
    for (int i = 0; i < 17; i++)
        n += (size_t)snprintf(text + n, sizeof text - n,
                              "%s{\"stream\":\"s%d\",\"audit\":{},\"codecs\":{\"c\":{\"rel_mse\":1,\"cos_sim\":1}}}",
                              i ? "," : "", i);
    snprintf(text + n, sizeof text - n, "]}]}");
    ck_assert_int_eq(parse(text, &r, &e), KVC_LIMIT);
    ck_assert_ptr_nonnull(strstr(e.detail, "17 streams"));

    char dir[512], path[700];
    kvc_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/big.json", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(ftruncate(fileno(f), (off_t)KVC_REPORT_MAX_BYTES + 1), 0); /* sparse */
    fclose(f);
    kvc_error_clear(&e);
    ck_assert_int_eq(kvc_report_load(path, &r, &e), KVC_LIMIT);
    ck_assert_str_eq(e.file, path);
    ck_assert_ptr_null(r);
    unlink(path);
    ck_assert_int_eq(kvc_report_load(path, &r, &e), KVC_OPEN);
    ck_assert_int_eq(kvc_report_load(dir, &r, &e), KVC_IO); /* a directory */
    rmdir(dir);
}
END_TEST

static Suite *aggregate_suite(void)
{
    Suite *s = suite_create("aggregate");
    TCase *t = tcase_create("published");
    tcase_add_test(t, n8_all_240_fields_bit_exact);
    tcase_add_test(t, n8_naive_summation_misses_13);
    tcase_add_test(t, n8_exact_t_changes_every_nonzero_hw);
    tcase_add_test(t, n8_which_reading);
    tcase_add_test(t, qsweep_every_threshold_field);
    tcase_add_test(t, qsweep_agrees_with_n8);
    tcase_add_test(t, headline_figures);
    tcase_add_test(t, qsweep_strategies);
    suite_add_tcase(s, t);
    t = tcase_create("format");
    tcase_add_test(t, json_round_trip_n8);
    tcase_add_test(t, json_round_trip_qsweep);
    tcase_add_test(t, format_double_shortest);
    tcase_add_test(t, single_run_and_zero_baseline);
    tcase_add_test(t, check_reports_a_tampered_field);
    tcase_add_loop_test(t, malformed_reports, 0, (int)(sizeof bad_cases / sizeof bad_cases[0]));
    tcase_add_test(t, malformed_bytes);
    tcase_add_test(t, limits_and_files);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return kvc_test_run(aggregate_suite());
}
