/* kvcert: re-aggregating a loaded report, checking it field by field, and
 * writing kvcert-report/1 (published.h). */
#include "stats/published.h"
#include "stats/jsonpath.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/hd.h"
#include "stats/bits.h"

#define PATH_MAX_LEN 512
#define FP8_CODEC "fp8_per64_baseline"

static int is_nan(double x)
{
    return x != x;
}

/* ============================================================ recompute */

static kvc_status nomem(kvc_error *err, const char *what)
{
    return kvc_error_set(err, KVC_NOMEM, "%s", what);
}

static long find_codec(const kvc_report_stream *s, const char *name)
{
    for (size_t i = 0; i < s->n_codecs; i++)
        if (strcmp(s->codecs[i].name, name) == 0)
            return (long)i;
    return -1;
}

/* Per-passage ratios codec/fp8 (passages whose fp8 rel_mse is 0 are left
 * out, as the study's code did), aggregated: a mean of ratios. */
static kvc_status aggregate_ratio(const kvc_report *r, const kvc_report_codec *cd,
                                  const kvc_report_codec *fp8, const kvc_agg_options *opt,
                                  kvc_stats_agg *out, kvc_error *err)
{
    double *v = malloc(r->n_passages * sizeof *v);
    if (v == NULL)
        return nomem(err, "ratios");
    size_t n = 0;
    for (size_t p = 0; p < r->n_passages; p++)
        if (fp8->rel_mse[p] != 0.0)
            v[n++] = cd->rel_mse[p] / fp8->rel_mse[p];
    kvc_stats_aggregate(v, n, opt, out);
    free(v);
    return KVC_OK;
}

static kvc_status thresholds_for(kvc_result_stream *rs, uint32_t head_dim, kvc_error *err)
{
    double *mean = malloc(rs->n_q * sizeof *mean), *hw = malloc(rs->n_q * sizeof *hw);
    kvc_status st = KVC_OK;
    if (mean == NULL || hw == NULL)
        st = nomem(err, "Q-sweep");
    for (size_t i = 0; st == KVC_OK && i < rs->n_q; i++) {
        mean[i] = rs->e8[i].mean;
        hw[i] = rs->e8[i].ci95_hw;
        rs->ratio_of_means[i] = rs->e8[i].mean / rs->fp8.mean;
    }
    for (int v = 0; st == KVC_OK && v < KVC_THRESHOLD_VARIANTS; v++)
        st = kvc_stats_threshold(rs->q, mean, hw, rs->n_q, rs->fp8.mean, v / 2, v % 2, head_dim,
                                 &rs->thr[v], err);
    free(mean);
    free(hw);
    return st;
}

/* Sorts the sweep view by Q (insertion sort: at most KVC_REPORT_MAX_Q). */
static void sort_sweep(kvc_result_stream *rs)
{
    for (size_t i = 1; i < rs->n_q; i++) {
        uint32_t q = rs->q[i];
        kvc_stats_agg a = rs->e8[i];
        size_t j = i;
        while (j > 0 && rs->q[j - 1] > q) {
            rs->q[j] = rs->q[j - 1];
            rs->e8[j] = rs->e8[j - 1];
            j--;
        }
        rs->q[j] = q;
        rs->e8[j] = a;
    }
}

static kvc_status alloc_sweep(kvc_result_stream *rs, size_t n, kvc_error *err)
{
    rs->q = calloc(n, sizeof *rs->q);
    rs->e8 = calloc(n, sizeof *rs->e8);
    rs->ratio_of_means = calloc(n, sizeof *rs->ratio_of_means);
    if (rs->q == NULL || rs->e8 == NULL || rs->ratio_of_means == NULL)
        return nomem(err, "Q-sweep");
    rs->n_q = n;
    return KVC_OK;
}

static kvc_status recompute_passage_stream(const kvc_report *r, const kvc_report_stream *s,
                                           const kvc_agg_options *opt, kvc_result_stream *rs,
                                           kvc_error *err)
{
    rs->n_audit = s->n_audit;
    rs->n_codecs = s->n_codecs;
    rs->audit = calloc(s->n_audit + 1, sizeof *rs->audit);
    rs->codecs = calloc(s->n_codecs, sizeof *rs->codecs);
    if (rs->audit == NULL || rs->codecs == NULL)
        return nomem(err, "aggregates");
    for (size_t k = 0; k < s->n_audit; k++)
        kvc_stats_aggregate(s->audit[k].v, r->n_passages, opt, &rs->audit[k]);
    long fp8 = find_codec(s, FP8_CODEC);
    size_t n_e8 = 0;
    for (size_t k = 0; k < s->n_codecs; k++) {
        const kvc_report_codec *cd = &s->codecs[k];
        kvc_result_codec *rc = &rs->codecs[k];
        rc->name = cd->name;
        rc->has_bits = kvc_stats_codec_bits(cd->name, r->head_dim, &rc->bits);
        kvc_stats_aggregate(cd->rel_mse, r->n_passages, opt, &rc->rel_mse);
        kvc_stats_aggregate(cd->cos_sim, r->n_passages, opt, &rc->cos_sim);
        if (fp8 >= 0 && (long)k != fp8) {
            rc->has_ratio = 1;
            kvc_status st = aggregate_ratio(r, cd, &s->codecs[fp8], opt, &rc->ratio, err);
            if (st != KVC_OK)
                return st;
        }
        uint32_t q;
        n_e8 += kvc_stats_parse_e8_name(cd->name, &q);
    }
    if (fp8 < 0 || n_e8 == 0)
        return KVC_OK;
    kvc_status st = alloc_sweep(rs, n_e8, err);
    if (st != KVC_OK)
        return st;
    rs->has_sweep = 1;
    rs->fp8 = rs->codecs[fp8].rel_mse;
    size_t i = 0;
    for (size_t k = 0; k < s->n_codecs; k++)
        if (kvc_stats_parse_e8_name(s->codecs[k].name, &rs->q[i]))
            rs->e8[i++] = rs->codecs[k].rel_mse;
    sort_sweep(rs);
    return thresholds_for(rs, r->head_dim, err);
}

/* A stored aggregate with its half-width recomputed from std and n. */
static kvc_stats_agg with_recomputed_hw(kvc_stats_agg a, kvc_t_source src)
{
    a.t_source = src;
    a.ci95_hw = kvc_stats_ci95_hw(a.std, a.n, src, &a.t);
    return a;
}

static kvc_status recompute_qsweep_stream(const kvc_report *r, const kvc_report_stream *s,
                                          const kvc_agg_options *opt, kvc_result_stream *rs,
                                          kvc_error *err)
{
    kvc_status st = alloc_sweep(rs, s->n_q, err);
    if (st != KVC_OK)
        return st;
    rs->e8_hw = calloc(s->n_q, sizeof *rs->e8_hw);
    rs->audit_hw = calloc(s->n_audit_agg + 1, sizeof *rs->audit_hw);
    if (rs->e8_hw == NULL || rs->audit_hw == NULL)
        return nomem(err, "Q-sweep");
    rs->has_sweep = 1;
    rs->fp8 = with_recomputed_hw(s->fp8, opt->t_source);
    rs->fp8_hw = rs->fp8.ci95_hw;
    for (size_t i = 0; i < s->n_q; i++) {
        rs->q[i] = s->q[i];
        rs->e8[i] = with_recomputed_hw(s->e8[i], opt->t_source);
        rs->e8_hw[i] = rs->e8[i].ci95_hw;
    }
    for (size_t k = 0; k < s->n_audit_agg; k++)
        rs->audit_hw[k] = kvc_stats_ci95_hw(s->audit_agg[k].std, s->audit_agg[k].n,
                                            opt->t_source, NULL);
    sort_sweep(rs);
    for (size_t i = 1; i < rs->n_q; i++)
        if (rs->q[i] == rs->q[i - 1])
            return kvc_error_set(err, KVC_REPORT_FORMAT, "stream %s: Q = %u appears twice",
                                 rs->name, (unsigned)rs->q[i]);
    return thresholds_for(rs, r->head_dim, err);
}

static kvc_status recompute_layer_weighted(kvc_result *res, kvc_error *err)
{
    const kvc_result_stream *swa = &res->streams[res->role_stream[KVC_ROLE_SWA]];
    res->lw = calloc(swa->n_codecs + 1, sizeof *res->lw);
    if (res->lw == NULL)
        return nomem(err, "layer-weighted");
    for (size_t k = 0; k < swa->n_codecs; k++) {
        if (!swa->codecs[k].has_ratio)
            continue;
        double mean[KVC_ROLE_COUNT], hw[KVC_ROLE_COUNT];
        int all = 1;
        for (int role = 0; role < KVC_ROLE_COUNT && all; role++) {
            const kvc_result_stream *s = &res->streams[res->role_stream[role]];
            all = 0;
            for (size_t j = 0; j < s->n_codecs; j++)
                if (s->codecs[j].has_ratio && strcmp(s->codecs[j].name, swa->codecs[k].name) == 0) {
                    mean[role] = s->codecs[j].ratio.mean;
                    hw[role] = s->codecs[j].ratio.ci95_hw;
                    all = 1;
                }
        }
        if (!all)
            continue;
        kvc_result_lw *lw = &res->lw[res->n_lw++];
        lw->codec = swa->codecs[k].name;
        kvc_status st = kvc_stats_layer_weighted(mean, hw, res->layers, &lw->mean, &lw->hw, err);
        if (st != KVC_OK)
            return st;
    }
    return KVC_OK;
}

static kvc_status recompute_strategies(const kvc_report *r, kvc_result *res, kvc_error *err)
{
    const uint32_t *q[KVC_ROLE_COUNT];
    const double *mean[KVC_ROLE_COUNT], *hw[KVC_ROLE_COUNT];
    double *buf = NULL;
    size_t nq[KVC_ROLE_COUNT], total = 0;
    double fp8[KVC_ROLE_COUNT];
    for (int role = 0; role < KVC_ROLE_COUNT; role++) {
        const kvc_result_stream *s = &res->streams[res->role_stream[role]];
        if (!s->has_sweep)
            return KVC_OK;
        total += s->n_q;
    }
    buf = malloc(2 * total * sizeof *buf);
    if (buf == NULL)
        return nomem(err, "strategies");
    double *cur = buf;
    for (int role = 0; role < KVC_ROLE_COUNT; role++) {
        const kvc_result_stream *s = &res->streams[res->role_stream[role]];
        q[role] = s->q;
        nq[role] = s->n_q;
        fp8[role] = s->fp8.mean;
        for (size_t i = 0; i < s->n_q; i++) {
            cur[i] = s->e8[i].mean;
            cur[s->n_q + i] = s->e8[i].ci95_hw;
        }
        mean[role] = cur;
        hw[role] = cur + s->n_q;
        cur += 2 * s->n_q;
    }
    kvc_status st = KVC_OK;
    for (int v = 0; st == KVC_OK && v < KVC_THRESHOLD_VARIANTS; v++) {
        st = kvc_stats_strategy_unified(q, mean, hw, nq, fp8, v / 2, v % 2, res->layers,
                                        r->head_dim, &res->strategy1[v], err);
        uint32_t per[KVC_ROLE_COUNT];
        int all = 1;
        for (int role = 0; role < KVC_ROLE_COUNT; role++) {
            const kvc_threshold *t = &res->streams[res->role_stream[role]].thr[v];
            all = all && t->admissible;
            per[role] = t->q_min;
        }
        memset(&res->strategy2[v], 0, sizeof res->strategy2[v]);
        if (st == KVC_OK && all)
            st = kvc_stats_strategy_from_q(per, res->layers, r->head_dim, &res->strategy2[v], err);
    }
    free(buf);
    res->has_strategies = st == KVC_OK;
    return st;
}

kvc_status kvc_report_aggregate(const kvc_report *r, const kvc_agg_options *opt,
                                const double *layers, kvc_result **out, kvc_error *err)
{
    *out = NULL;
    kvc_result *res = calloc(1, sizeof *res);
    if (res == NULL)
        return nomem(err, "result");
    res->opt = opt != NULL ? *opt : kvc_agg_options_default();
    if (layers != NULL)
        memcpy(res->layers, layers, sizeof res->layers);
    else
        kvc_stats_default_layers(res->layers);
    res->streams = calloc(r->n_streams, sizeof *res->streams);
    kvc_status st = res->streams == NULL ? nomem(err, "result") : KVC_OK;
    if (st == KVC_OK)
        res->n_streams = r->n_streams;
    int found[KVC_ROLE_COUNT] = {0};
    for (size_t i = 0; st == KVC_OK && i < r->n_streams; i++) {
        kvc_result_stream *rs = &res->streams[i];
        rs->name = r->streams[i].name;
        rs->role = kvc_stats_stream_role(rs->name);
        if (rs->role >= 0 && !found[rs->role]) {
            found[rs->role] = 1;
            res->role_stream[rs->role] = i;
        }
        st = r->kind == KVC_REPORT_QSWEEP
                 ? recompute_qsweep_stream(r, &r->streams[i], &res->opt, rs, err)
                 : recompute_passage_stream(r, &r->streams[i], &res->opt, rs, err);
    }
    res->has_roles = found[0] && found[1] && found[2];
    if (st == KVC_OK && res->has_roles && r->kind == KVC_REPORT_PER_PASSAGE)
        st = recompute_layer_weighted(res, err);
    if (st == KVC_OK && res->has_roles)
        st = recompute_strategies(r, res, err);
    if (st != KVC_OK) {
        if (err != NULL && err->file[0] == '\0')
            kvc_error_where(err, r->path, NULL, -1);
        kvc_result_destroy(res);
        return st;
    }
    *out = res;
    return KVC_OK;
}

void kvc_result_destroy(kvc_result *res)
{
    if (res == NULL)
        return;
    for (size_t i = 0; i < res->n_streams; i++) {
        kvc_result_stream *rs = &res->streams[i];
        free(rs->audit);
        free(rs->codecs);
        free(rs->q);
        free(rs->e8);
        free(rs->ratio_of_means);
        free(rs->e8_hw);
        free(rs->audit_hw);
    }
    free(res->streams);
    free(res->lw);
    free(res);
}

/* ============================================================ numbers */

const char *kvc_report_format_double(double x, char *buf, size_t size)
{
    if (x != x || x - x != 0.0) { /* NaN or infinite: JSON has no spelling */
        snprintf(buf, size, "null");
        return buf;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, x);
        if (strtod(buf, NULL) == x)
            break;
    }
    return buf;
}

/* ============================================================ checking */

const char *kvc_check_category_name(kvc_check_category c)
{
    static const char *const names[KVC_CHECK_CATEGORIES] = {
        "aggregates (mean/std/ci95_hw/n from per-passage values)",
        "ci95_hw from the stored std and n",
        "accounted bits (SPEC 7.1-7.2)",
        "Q-sweep thresholds",
        "layer-weighted ratios, max usable CR, ratios of means",
    };
    return (int)c >= 0 && c < KVC_CHECK_CATEGORIES ? names[c] : "?";
}

typedef struct ck {
    FILE *log;
    kvc_check_counts *cnt;
    kvc_check_category cat;
} ck;

static const cJSON *get(const cJSON *parent, const char *key)
{
    return parent != NULL && cJSON_IsObject(parent) ? cJSON_GetObjectItemCaseSensitive(parent, key)
                                                    : NULL;
}

static void tally(ck *k, int ok)
{
    k->cnt->fields++;
    k->cnt->cat_fields[k->cat]++;
    if (ok) {
        k->cnt->matched++;
        k->cnt->cat_matched[k->cat]++;
    }
}

static void mismatch(ck *k, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void mismatch(ck *k, const char *path, const char *fmt, ...)
{
    if (k->log == NULL)
        return;
    va_list ap;
    fprintf(k->log, "MISMATCH %s: ", path);
    va_start(ap, fmt);
    vfprintf(k->log, fmt, ap);
    va_end(ap);
    fputc('\n', k->log);
}

static void describe_stored(const cJSON *n, char *buf, size_t size)
{
    if (n == NULL)
        snprintf(buf, size, "absent");
    else if (cJSON_IsNumber(n))
        snprintf(buf, size, "%.17g (%a)", n->valuedouble, n->valuedouble);
    else if (cJSON_IsNull(n))
        snprintf(buf, size, "null");
    else if (cJSON_IsTrue(n))
        snprintf(buf, size, "true");
    else if (cJSON_IsFalse(n))
        snprintf(buf, size, "false");
    else
        snprintf(buf, size, "a non-number");
}

static void ck_double(ck *k, const cJSON *parent, const char *ppath, const char *key, double want)
{
    char path[PATH_MAX_LEN], got[128];
    const cJSON *n = get(parent, key);
    int ok;
    if (cJSON_IsNumber(n))
        ok = kvc_f64_bits(n->valuedouble) == kvc_f64_bits(want) ||
             (is_nan(want) && is_nan(n->valuedouble));
    else
        ok = cJSON_IsNull(n) && is_nan(want);
    tally(k, ok);
    if (!ok) {
        describe_stored(n, got, sizeof got);
        mismatch(k, kvc__json_path_key(path, sizeof path, ppath, key), "stored %s, recomputed %.17g (%a)",
                 got, want, want);
    }
}

static void ck_int(ck *k, const cJSON *parent, const char *ppath, const char *key, int64_t want)
{
    char path[PATH_MAX_LEN], got[128];
    const cJSON *n = get(parent, key);
    int ok = cJSON_IsNumber(n) && n->valuedouble == (double)want;
    tally(k, ok);
    if (!ok) {
        describe_stored(n, got, sizeof got);
        mismatch(k, kvc__json_path_key(path, sizeof path, ppath, key), "stored %s, recomputed %lld", got,
                 (long long)want);
    }
}

static void ck_bool(ck *k, const cJSON *parent, const char *ppath, const char *key, int want)
{
    char path[PATH_MAX_LEN], got[128];
    const cJSON *n = get(parent, key);
    int ok = cJSON_IsBool(n) && (cJSON_IsTrue(n) != 0) == (want != 0);
    tally(k, ok);
    if (!ok) {
        describe_stored(n, got, sizeof got);
        mismatch(k, kvc__json_path_key(path, sizeof path, ppath, key), "stored %s, recomputed %s", got,
                 want ? "true" : "false");
    }
}

/* A stored value kvcert cannot recompute: one mismatching field. */
static void ck_extra(ck *k, const char *ppath, const char *key)
{
    char path[PATH_MAX_LEN];
    tally(k, 0);
    mismatch(k, kvc__json_path_key(path, sizeof path, ppath, key), "stored, but not recomputable from this file");
}

static void ck_agg(ck *k, const cJSON *parent, const char *ppath, const char *key,
                   const kvc_stats_agg *a)
{
    char path[PATH_MAX_LEN];
    const cJSON *n = get(parent, key);
    kvc__json_path_key(path, sizeof path, ppath, key);
    ck_double(k, n, path, "mean", a->mean);
    ck_double(k, n, path, "std", a->std);
    ck_double(k, n, path, "ci95_hw", a->ci95_hw);
    ck_int(k, n, path, "n", (int64_t)a->n);
}

/* Stored members of obj that are not in names[0..n-1] (stride bytes apart). */
static void ck_extras(ck *k, const cJSON *obj, const char *path, const char *const *names,
                      size_t n)
{
    if (!cJSON_IsObject(obj))
        return;
    for (const cJSON *ch = obj->child; ch != NULL; ch = ch->next) {
        size_t i = 0;
        while (i < n && strcmp(names[i], ch->string) != 0)
            i++;
        if (i == n)
            ck_extra(k, path, ch->string);
    }
}

static void ck_threshold(ck *k, const cJSON *tobj, const char *tpath, int variant,
                         const kvc_threshold *t)
{
    char path[PATH_MAX_LEN];
    const char *name = kvc_stats_threshold_variant_name(variant);
    const cJSON *n = get(tobj, name);
    kvc__json_path_key(path, sizeof path, tpath, name);
    static const char *const keys[] = {"admissible",         "threshold_multiplier",
                                       "budget_rel_mse",     "use_ci_upper",
                                       "Q_min",              "bits_per_vec",
                                       "cr_vs_fp8",          "cr_vs_bf16",
                                       "bit_saving_vs_fp8_pct", "bit_saving_vs_bf16_pct",
                                       "e8_rel_mse_used",    "fp8_rel_mse_ref_mean",
                                       "margin_pct"};
    ck_bool(k, n, path, "admissible", t->admissible);
    ck_double(k, n, path, "threshold_multiplier", t->multiplier);
    ck_double(k, n, path, "budget_rel_mse", t->budget);
    if (t->admissible) {
        ck_bool(k, n, path, "use_ci_upper", t->use_ci_upper);
        ck_int(k, n, path, "Q_min", t->q_min);
        ck_int(k, n, path, "bits_per_vec", (int64_t)t->bits);
        ck_double(k, n, path, "cr_vs_fp8", t->cr_vs_fp8);
        ck_double(k, n, path, "cr_vs_bf16", t->cr_vs_bf16);
        ck_double(k, n, path, "bit_saving_vs_fp8_pct", t->saving_vs_fp8_pct);
        ck_double(k, n, path, "bit_saving_vs_bf16_pct", t->saving_vs_bf16_pct);
        ck_double(k, n, path, "e8_rel_mse_used", t->used);
        ck_double(k, n, path, "fp8_rel_mse_ref_mean", t->fp8_ref_mean);
        ck_double(k, n, path, "margin_pct", t->margin_pct);
    }
    ck_extras(k, n, path, keys, t->admissible ? 13 : 3);
}

/* "e8_ratio_of_means_vs_fp8", when the file has it (kvcert's output). */
static void ck_ratio_of_means(ck *k, const cJSON *sobj, const char *spath,
                              const kvc_result_stream *rs)
{
    char p[PATH_MAX_LEN];
    const cJSON *ro = get(sobj, "e8_ratio_of_means_vs_fp8");
    if (ro == NULL)
        return;
    kvc__json_path_key(p, sizeof p, spath, "e8_ratio_of_means_vs_fp8");
    k->cat = KVC_CHECK_DERIVED;
    for (const cJSON *ch = ro->child; ch != NULL; ch = ch->next) {
        size_t i = 0;
        while (i < rs->n_q && !(ch->string[0] != '0' && strtoul(ch->string, NULL, 10) == rs->q[i] &&
                                strspn(ch->string, "0123456789") == strlen(ch->string)))
            i++;
        if (i < rs->n_q)
            ck_double(k, ro, p, ch->string, rs->ratio_of_means[i]);
        else
            ck_extra(k, p, ch->string);
    }
}

static void ck_thresholds(ck *k, const cJSON *sobj, const char *spath,
                          const kvc_result_stream *rs)
{
    ck_ratio_of_means(k, sobj, spath, rs);
    char tpath[PATH_MAX_LEN];
    const cJSON *tobj = get(sobj, "thresholds");
    if (tobj == NULL)
        return; /* thresholds are optional: checked when the file has them */
    kvc__json_path_key(tpath, sizeof tpath, spath, "thresholds");
    k->cat = KVC_CHECK_THRESHOLD;
    if (!rs->has_sweep) {
        for (const cJSON *ch = tobj->child; ch != NULL; ch = ch->next)
            ck_extra(k, tpath, ch->string);
        return;
    }
    const char *names[KVC_THRESHOLD_VARIANTS];
    for (int v = 0; v < KVC_THRESHOLD_VARIANTS; v++) {
        names[v] = kvc_stats_threshold_variant_name(v);
        ck_threshold(k, tobj, tpath, v, &rs->thr[v]);
    }
    ck_extras(k, tobj, tpath, names, KVC_THRESHOLD_VARIANTS);
}

static void ck_passage_stream(ck *k, const kvc_report_stream *s, const kvc_result_stream *rs,
                              const cJSON *sobj, const char *spath)
{
    char p[PATH_MAX_LEN], q[PATH_MAX_LEN];
    const cJSON *audit = get(sobj, "audit"), *codecs = get(sobj, "codecs"),
                *ratios = get(sobj, "ratios_vs_fp8");
    const char **names = malloc((s->n_codecs + s->n_audit + 1) * sizeof *names);
    kvc__json_path_key(p, sizeof p, spath, "audit");
    k->cat = KVC_CHECK_AGGREGATE;
    for (size_t i = 0; i < s->n_audit; i++)
        ck_agg(k, audit, p, s->audit[i].name, &rs->audit[i]);
    if (names != NULL) {
        for (size_t i = 0; i < s->n_audit; i++)
            names[i] = s->audit[i].name;
        ck_extras(k, audit, p, names, s->n_audit);
    }
    kvc__json_path_key(p, sizeof p, spath, "codecs");
    for (size_t i = 0; i < s->n_codecs; i++) {
        const kvc_result_codec *rc = &rs->codecs[i];
        const cJSON *cobj = get(codecs, rc->name);
        kvc__json_path_key(q, sizeof q, p, rc->name);
        if (rc->has_bits && (cobj == NULL || get(cobj, "bits_per_vector") != NULL)) {
            k->cat = KVC_CHECK_BITS;
            ck_int(k, cobj, q, "bits_per_vector", (int64_t)rc->bits);
        }
        k->cat = KVC_CHECK_AGGREGATE;
        ck_agg(k, cobj, q, "rel_mse", &rc->rel_mse);
        ck_agg(k, cobj, q, "cos_sim", &rc->cos_sim);
    }
    if (names != NULL) {
        for (size_t i = 0; i < s->n_codecs; i++)
            names[i] = s->codecs[i].name;
        ck_extras(k, codecs, p, names, s->n_codecs);
    }
    kvc__json_path_key(p, sizeof p, spath, "ratios_vs_fp8");
    size_t nr = 0;
    for (size_t i = 0; i < s->n_codecs; i++)
        if (rs->codecs[i].has_ratio) {
            ck_agg(k, ratios, p, rs->codecs[i].name, &rs->codecs[i].ratio);
            if (names != NULL)
                names[nr++] = rs->codecs[i].name;
        }
    if (names != NULL)
        ck_extras(k, ratios, p, names, nr);
    free(names);
    ck_thresholds(k, sobj, spath, rs);
}

static void ck_qsweep_stream(ck *k, const kvc_report_stream *s, const kvc_result_stream *rs,
                             const cJSON *sobj, const char *spath)
{
    char p[PATH_MAX_LEN], q[PATH_MAX_LEN];
    k->cat = KVC_CHECK_HW;
    kvc__json_path_key(p, sizeof p, spath, "fp8_rel_mse");
    ck_double(k, get(sobj, "fp8_rel_mse"), p, "ci95_hw", rs->fp8_hw);
    kvc__json_path_key(p, sizeof p, spath, "e8_rel_mse_by_q");
    const cJSON *byq = get(sobj, "e8_rel_mse_by_q");
    size_t i = 0; /* file order: the order the reader stored s->q in */
    for (const cJSON *ch = byq != NULL ? byq->child : NULL; ch != NULL && i < s->n_q;
         ch = ch->next, i++) {
        kvc__json_path_key(q, sizeof q, p, ch->string);
        ck_double(k, ch, q, "ci95_hw", rs->e8_hw[i]);
    }
    kvc__json_path_key(p, sizeof p, spath, "audit");
    const cJSON *audit = get(sobj, "audit");
    for (i = 0; i < s->n_audit_agg; i++) {
        kvc__json_path_key(q, sizeof q, p, s->audit_agg_names[i]);
        ck_double(k, get(audit, s->audit_agg_names[i]), q, "ci95_hw", rs->audit_hw[i]);
    }
    ck_thresholds(k, sobj, spath, rs);
}

/* "bits_per_vec_by_q" and the baseline bits in "config". */
static void ck_bits_tables(ck *k, const kvc_report *r, const cJSON *root)
{
    char p[PATH_MAX_LEN];
    k->cat = KVC_CHECK_BITS;
    const cJSON *bq = get(root, "bits_per_vec_by_q");
    for (const cJSON *ch = bq != NULL ? bq->child : NULL; ch != NULL; ch = ch->next) {
        uint64_t bits;
        char name[80];
        snprintf(name, sizeof name, "v15_e8_Q%.60s", ch->string);
        if (kvc_stats_codec_bits(name, r->head_dim, &bits))
            ck_int(k, bq, "$.bits_per_vec_by_q", ch->string, (int64_t)bits);
        else
            ck_extra(k, "$.bits_per_vec_by_q", ch->string);
    }
    const cJSON *cfg = get(root, "config");
    uint64_t fp8, bf16;
    if (get(cfg, "bits_fp8_per64_baseline") != NULL &&
        kvc_stats_fp8_bits(r->head_dim, &fp8, NULL) == KVC_OK)
        ck_int(k, cfg, "$.config", "bits_fp8_per64_baseline", (int64_t)fp8);
    if (get(cfg, "bits_bf16_reference") != NULL &&
        kvc_stats_bf16_bits(r->head_dim, &bf16, NULL) == KVC_OK)
        ck_int(k, cfg, "$.config", "bits_bf16_reference", (int64_t)bf16);
    (void)p;
}

static void ck_strategy(ck *k, const kvc_result *res, const cJSON *obj, const char *ppath,
                        const char *key, const kvc_strategy *s)
{
    char path[PATH_MAX_LEN], qp[PATH_MAX_LEN];
    const cJSON *n = get(obj, key);
    kvc__json_path_key(path, sizeof path, ppath, key);
    ck_bool(k, n, path, "admissible", s->admissible);
    if (!s->admissible)
        return;
    const cJSON *qo = get(n, "Q");
    kvc__json_path_key(qp, sizeof qp, path, "Q");
    for (int role = 0; role < KVC_ROLE_COUNT; role++)
        ck_int(k, qo, qp, res->streams[res->role_stream[role]].name, s->q[role]);
    ck_double(k, n, path, "bits_per_vec", s->weighted_bits);
    ck_double(k, n, path, "cr_vs_fp8", s->cr_vs_fp8);
    ck_double(k, n, path, "cr_vs_bf16", s->cr_vs_bf16);
    ck_double(k, n, path, "bit_saving_vs_fp8_pct", s->saving_vs_fp8_pct);
    ck_double(k, n, path, "bit_saving_vs_bf16_pct", s->saving_vs_bf16_pct);
}

/* layer_weighted and max_usable_cr, when the file has them. */
static void ck_derived(ck *k, const kvc_result *res, const cJSON *root)
{
    char p[PATH_MAX_LEN];
    k->cat = KVC_CHECK_DERIVED;
    const cJSON *lw = get(root, "layer_weighted");
    if (lw != NULL) {
        const cJSON *ly = get(lw, "layers");
        for (int role = 0; role < KVC_ROLE_COUNT; role++)
            ck_double(k, ly, "$.layer_weighted.layers", kvc_stats_role_name(role),
                      res->layers[role]);
        const cJSON *ro = get(lw, "ratios_vs_fp8");
        const char **names = malloc((res->n_lw + 1) * sizeof *names);
        for (size_t i = 0; i < res->n_lw; i++) {
            kvc__json_path_key(p, sizeof p, "$.layer_weighted.ratios_vs_fp8", res->lw[i].codec);
            ck_double(k, get(ro, res->lw[i].codec), p, "mean", res->lw[i].mean);
            ck_double(k, get(ro, res->lw[i].codec), p, "ci95_hw", res->lw[i].hw);
            if (names != NULL)
                names[i] = res->lw[i].codec;
        }
        if (names != NULL)
            ck_extras(k, ro, "$.layer_weighted.ratios_vs_fp8", names, res->n_lw);
        free(names);
    }
    const cJSON *mu = get(root, "max_usable_cr");
    if (mu == NULL)
        return;
    if (!res->has_strategies) {
        for (const cJSON *ch = mu->child; ch != NULL; ch = ch->next)
            ck_extra(k, "$.max_usable_cr", ch->string);
        return;
    }
    const char *names[KVC_THRESHOLD_VARIANTS];
    for (int v = 0; v < KVC_THRESHOLD_VARIANTS; v++) {
        names[v] = kvc_stats_threshold_variant_name(v);
        kvc__json_path_key(p, sizeof p, "$.max_usable_cr", names[v]);
        const cJSON *vo = get(mu, names[v]);
        ck_strategy(k, res, vo, p, "strategy1_unified_q", &res->strategy1[v]);
        ck_strategy(k, res, vo, p, "strategy2_per_stream_q", &res->strategy2[v]);
    }
    ck_extras(k, mu, "$.max_usable_cr", names, KVC_THRESHOLD_VARIANTS);
}

kvc_status kvc_report_check(const kvc_report *r, const kvc_result *res, FILE *log,
                            kvc_check_counts *counts, kvc_error *err)
{
    (void)err;
    memset(counts, 0, sizeof *counts);
    ck k = {log, counts, KVC_CHECK_AGGREGATE};
    const cJSON *root = (const cJSON *)r->json;
    const cJSON *abs = get(root, "aggregate_by_stream");
    if (abs != NULL) {
        const char **names = malloc((res->n_streams + 1) * sizeof *names);
        for (size_t i = 0; i < res->n_streams; i++) {
            char sp[PATH_MAX_LEN];
            kvc__json_path_key(sp, sizeof sp, "$.aggregate_by_stream", res->streams[i].name);
            const cJSON *sobj = get(abs, res->streams[i].name);
            if (r->kind == KVC_REPORT_QSWEEP)
                ck_qsweep_stream(&k, &r->streams[i], &res->streams[i], sobj, sp);
            else
                ck_passage_stream(&k, &r->streams[i], &res->streams[i], sobj, sp);
            if (names != NULL)
                names[i] = res->streams[i].name;
        }
        k.cat = KVC_CHECK_AGGREGATE;
        if (names != NULL)
            ck_extras(&k, abs, "$.aggregate_by_stream", names, res->n_streams);
        free(names);
    }
    ck_bits_tables(&k, r, root);
    ck_derived(&k, res, root);
    return KVC_OK;
}

/* ============================================================ writing */

typedef struct wr {
    int failed;
} wr;

static cJSON *track(wr *w, cJSON *n)
{
    if (n == NULL)
        w->failed = 1;
    return n;
}

static void add(wr *w, cJSON *obj, const char *key, cJSON *val)
{
    if (val == NULL || obj == NULL || !cJSON_AddItemToObject(obj, key, val)) {
        w->failed = 1;
        cJSON_Delete(val);
    }
}

static void add_num(wr *w, cJSON *obj, const char *key, double x)
{
    char buf[40];
    add(w, obj, key, cJSON_CreateRaw(kvc_report_format_double(x, buf, sizeof buf)));
}

static void add_int(wr *w, cJSON *obj, const char *key, int64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    add(w, obj, key, cJSON_CreateRaw(buf));
}

static void add_str(wr *w, cJSON *obj, const char *key, const char *s)
{
    add(w, obj, key, cJSON_CreateString(s));
}

static void add_bool(wr *w, cJSON *obj, const char *key, int b)
{
    add(w, obj, key, cJSON_CreateBool(b));
}

static cJSON *obj_new(wr *w)
{
    return track(w, cJSON_CreateObject());
}

static cJSON *agg_json(wr *w, const kvc_stats_agg *a)
{
    cJSON *o = obj_new(w);
    add_num(w, o, "mean", a->mean);
    add_num(w, o, "std", a->std);
    add_num(w, o, "ci95_hw", a->ci95_hw);
    add_int(w, o, "n", (int64_t)a->n);
    add_str(w, o, "t_source", kvc_t_source_name(a->t_source));
    return o;
}

static cJSON *threshold_json(wr *w, const kvc_threshold *t)
{
    cJSON *o = obj_new(w);
    add_bool(w, o, "admissible", t->admissible);
    add_num(w, o, "threshold_multiplier", t->multiplier);
    add_num(w, o, "budget_rel_mse", t->budget);
    if (t->admissible) {
        add_bool(w, o, "use_ci_upper", t->use_ci_upper);
        add_int(w, o, "Q_min", t->q_min);
        add_int(w, o, "bits_per_vec", (int64_t)t->bits);
        add_num(w, o, "cr_vs_fp8", t->cr_vs_fp8);
        add_num(w, o, "cr_vs_bf16", t->cr_vs_bf16);
        add_num(w, o, "bit_saving_vs_fp8_pct", t->saving_vs_fp8_pct);
        add_num(w, o, "bit_saving_vs_bf16_pct", t->saving_vs_bf16_pct);
        add_num(w, o, "e8_rel_mse_used", t->used);
        add_num(w, o, "fp8_rel_mse_ref_mean", t->fp8_ref_mean);
        add_num(w, o, "margin_pct", t->margin_pct);
    }
    return o;
}

static cJSON *thresholds_json(wr *w, const kvc_result_stream *rs)
{
    cJSON *o = obj_new(w);
    for (int v = 0; v < KVC_THRESHOLD_VARIANTS; v++)
        add(w, o, kvc_stats_threshold_variant_name(v), threshold_json(w, &rs->thr[v]));
    return o;
}

/* {"<Q>": E8 mean / FP8 mean}: the Q-sweep's ratio of means. */
static cJSON *ratio_of_means_json(wr *w, const kvc_result_stream *rs)
{
    cJSON *o = obj_new(w);
    for (size_t i = 0; i < rs->n_q; i++) {
        char key[16];
        snprintf(key, sizeof key, "%u", (unsigned)rs->q[i]);
        add_num(w, o, key, rs->ratio_of_means[i]);
    }
    return o;
}

static cJSON *per_passage_json(wr *w, const kvc_report *r)
{
    cJSON *arr = track(w, cJSON_CreateArray());
    for (size_t p = 0; p < r->n_passages && arr != NULL; p++) {
        cJSON *po = obj_new(w), *results = track(w, cJSON_CreateArray());
        add_int(w, po, "passage_id", r->passage_id[p] >= 0 ? r->passage_id[p] : (int64_t)p);
        for (size_t i = 0; i < r->n_streams; i++) {
            const kvc_report_stream *s = &r->streams[i];
            cJSON *so = obj_new(w), *audit = obj_new(w), *codecs = obj_new(w);
            add_str(w, so, "stream", s->name);
            for (size_t k = 0; k < s->n_audit; k++)
                add_num(w, audit, s->audit[k].name, s->audit[k].v[p]);
            for (size_t k = 0; k < s->n_codecs; k++) {
                cJSON *co = obj_new(w);
                if (s->codecs[k].bits_per_vector >= 0)
                    add_int(w, co, "bits_per_vector", s->codecs[k].bits_per_vector);
                add_num(w, co, "rel_mse", s->codecs[k].rel_mse[p]);
                add_num(w, co, "cos_sim", s->codecs[k].cos_sim[p]);
                add(w, codecs, s->codecs[k].name, co);
            }
            add(w, so, "audit", audit);
            add(w, so, "codecs", codecs);
            if (results == NULL || so == NULL || !cJSON_AddItemToArray(results, so)) {
                w->failed = 1;
                cJSON_Delete(so);
            }
        }
        add(w, po, "results", results);
        if (po == NULL || !cJSON_AddItemToArray(arr, po)) {
            w->failed = 1;
            cJSON_Delete(po);
        }
    }
    return arr;
}

static cJSON *passage_stream_json(wr *w, const kvc_report_stream *s, const kvc_result_stream *rs)
{
    cJSON *o = obj_new(w), *audit = obj_new(w), *codecs = obj_new(w), *ratios = obj_new(w);
    for (size_t k = 0; k < rs->n_audit; k++)
        add(w, audit, s->audit[k].name, agg_json(w, &rs->audit[k]));
    for (size_t k = 0; k < rs->n_codecs; k++) {
        const kvc_result_codec *rc = &rs->codecs[k];
        cJSON *co = obj_new(w);
        if (rc->has_bits)
            add_int(w, co, "bits_per_vector", (int64_t)rc->bits);
        else if (s->codecs[k].bits_per_vector >= 0)
            add_int(w, co, "bits_per_vector", s->codecs[k].bits_per_vector);
        add(w, co, "rel_mse", agg_json(w, &rc->rel_mse));
        add(w, co, "cos_sim", agg_json(w, &rc->cos_sim));
        add(w, codecs, rc->name, co);
        if (rc->has_ratio)
            add(w, ratios, rc->name, agg_json(w, &rc->ratio));
    }
    add(w, o, "audit", audit);
    add(w, o, "codecs", codecs);
    add(w, o, "ratios_vs_fp8", ratios);
    if (rs->has_sweep) {
        add(w, o, "e8_ratio_of_means_vs_fp8", ratio_of_means_json(w, rs));
        add(w, o, "thresholds", thresholds_json(w, rs));
    }
    return o;
}

static cJSON *qsweep_stream_json(wr *w, const kvc_report_stream *s, const kvc_result_stream *rs)
{
    cJSON *o = obj_new(w), *byq = obj_new(w), *audit = obj_new(w);
    add(w, o, "fp8_rel_mse", agg_json(w, &rs->fp8));
    for (size_t i = 0; i < rs->n_q; i++) {
        char key[16];
        snprintf(key, sizeof key, "%u", (unsigned)rs->q[i]);
        add(w, byq, key, agg_json(w, &rs->e8[i]));
    }
    add(w, o, "e8_rel_mse_by_q", byq);
    for (size_t k = 0; k < s->n_audit_agg; k++) {
        kvc_stats_agg a = s->audit_agg[k];
        a.ci95_hw = rs->audit_hw[k];
        a.t_source = rs->fp8.t_source;
        add(w, audit, s->audit_agg_names[k], agg_json(w, &a));
    }
    add(w, o, "audit", audit);
    add(w, o, "e8_ratio_of_means_vs_fp8", ratio_of_means_json(w, rs));
    add(w, o, "thresholds", thresholds_json(w, rs));
    return o;
}

static cJSON *strategy_json(wr *w, const kvc_result *res, const kvc_strategy *s)
{
    cJSON *o = obj_new(w);
    add_bool(w, o, "admissible", s->admissible);
    if (!s->admissible)
        return o;
    cJSON *q = obj_new(w);
    for (int role = 0; role < KVC_ROLE_COUNT; role++)
        add_int(w, q, res->streams[res->role_stream[role]].name, s->q[role]);
    add(w, o, "Q", q);
    add_num(w, o, "bits_per_vec", s->weighted_bits);
    add_num(w, o, "cr_vs_fp8", s->cr_vs_fp8);
    add_num(w, o, "cr_vs_bf16", s->cr_vs_bf16);
    add_num(w, o, "bit_saving_vs_fp8_pct", s->saving_vs_fp8_pct);
    add_num(w, o, "bit_saving_vs_bf16_pct", s->saving_vs_bf16_pct);
    return o;
}

static cJSON *layers_json(wr *w, const kvc_result *res)
{
    cJSON *o = obj_new(w);
    for (int role = 0; role < KVC_ROLE_COUNT; role++)
        add_num(w, o, kvc_stats_role_name(role), res->layers[role]);
    return o;
}

static cJSON *document_json(wr *w, const kvc_report *r, const kvc_result *res)
{
    cJSON *doc = obj_new(w);
    add_str(w, doc, "schema", KVC_REPORT_SCHEMA);
    add_str(w, doc, "kind", r->kind == KVC_REPORT_QSWEEP ? "q-sweep" : "per-passage");
    add_str(w, doc, "generator", "kvcert " PACKAGE_VERSION " aggregate");
    cJSON *src = obj_new(w);
    add_str(w, src, "file", r->path);
    add_str(w, src, "format", kvc_report_origin_name(r));
    add(w, doc, "source", src);
    cJSON *cfg = obj_new(w);
    add_int(w, cfg, "head_dim", r->head_dim);
    if (r->kind == KVC_REPORT_PER_PASSAGE)
        add_int(w, cfg, "n_passages", (int64_t)r->n_passages);
    add(w, doc, "config", cfg);
    cJSON *opt = obj_new(w);
    add_str(w, opt, "t_source", kvc_t_source_name(res->opt.t_source));
    add_str(w, opt, "summation", "correctly-rounded");
    add(w, opt, "layers", layers_json(w, res));
    add(w, doc, "aggregate_options", opt);
    if (r->kind == KVC_REPORT_PER_PASSAGE)
        add(w, doc, "per_passage", per_passage_json(w, r));
    else if (r->n_streams > 0) {
        /* bits of every swept Q (the union over streams, ascending) */
        cJSON *bq = obj_new(w);
        const kvc_result_stream *s0 = &res->streams[0];
        for (size_t i = 0; i < s0->n_q; i++) {
            uint64_t bits;
            char key[16];
            snprintf(key, sizeof key, "%u", (unsigned)s0->q[i]);
            if (kvc_stats_lattice_bits(KVC_LATTICE_E8, r->head_dim, s0->q[i], &bits, NULL) == KVC_OK)
                add_int(w, bq, key, (int64_t)bits);
        }
        add(w, doc, "bits_per_vec_by_q", bq);
    }
    cJSON *abs = obj_new(w);
    for (size_t i = 0; i < res->n_streams; i++)
        add(w, abs, res->streams[i].name,
            r->kind == KVC_REPORT_QSWEEP ? qsweep_stream_json(w, &r->streams[i], &res->streams[i])
                                         : passage_stream_json(w, &r->streams[i], &res->streams[i]));
    add(w, doc, "aggregate_by_stream", abs);
    if (res->n_lw > 0) {
        cJSON *lw = obj_new(w), *ro = obj_new(w);
        add(w, lw, "layers", layers_json(w, res));
        for (size_t i = 0; i < res->n_lw; i++) {
            cJSON *e = obj_new(w);
            add_num(w, e, "mean", res->lw[i].mean);
            add_num(w, e, "ci95_hw", res->lw[i].hw);
            add(w, ro, res->lw[i].codec, e);
        }
        add(w, lw, "ratios_vs_fp8", ro);
        add(w, doc, "layer_weighted", lw);
    }
    if (res->has_strategies) {
        cJSON *mu = obj_new(w);
        for (int v = 0; v < KVC_THRESHOLD_VARIANTS; v++) {
            cJSON *vo = obj_new(w);
            add(w, vo, "strategy1_unified_q", strategy_json(w, res, &res->strategy1[v]));
            add(w, vo, "strategy2_per_stream_q", strategy_json(w, res, &res->strategy2[v]));
            add(w, mu, kvc_stats_threshold_variant_name(v), vo);
        }
        add(w, doc, "max_usable_cr", mu);
    }
    return doc;
}

kvc_status kvc_report_write_json(const kvc_report *r, const kvc_result *res, FILE *out,
                                 kvc_error *err)
{
    wr w = {0};
    cJSON *doc = document_json(&w, r, res);
    char *text = w.failed ? NULL : cJSON_Print(doc);
    cJSON_Delete(doc);
    if (text == NULL)
        return kvc_error_set(err, KVC_NOMEM, "building the JSON report");
    int bad = fputs(text, out) == EOF || fputc('\n', out) == EOF;
    cJSON_free(text);
    if (bad)
        return kvc_error_set(err, KVC_IO, "writing the JSON report");
    return KVC_OK;
}
