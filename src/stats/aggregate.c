/* kvcert: aggregation across passages, layer weighting, Q-sweep
 * thresholds and max-usable-CR strategies (aggregate.h, SPEC.md §8). */
#include "stats/aggregate.h"

#include <math.h> /* sqrt only */
#include <stdlib.h>
#include <string.h>

#include "core/hd.h"
#include "stats/bits.h"
#include "stats/exactsum.h"

static double quiet_nan(void)
{
    return kvc_f64_from_bits(UINT64_C(0x7FF8000000000000));
}

static int is_finite(double x)
{
    return (kvc_f64_bits(x) & UINT64_C(0x7FF0000000000000)) != UINT64_C(0x7FF0000000000000);
}

kvc_agg_options kvc_agg_options_default(void)
{
    kvc_agg_options o;
    o.t_source = KVC_T_PUBLISHED;
    o.sum_mode = KVC_SUM_EXACT;
    return o;
}

/* The sum of v[0..n-1] by the chosen mode. */
static double sum_by(const double *v, size_t n, kvc_sum_mode mode)
{
    if (mode == KVC_SUM_NAIVE) {
        double s = 0.0;
        for (size_t i = 0; i < n; i++)
            s += v[i];
        return s;
    }
    return kvc_exactsum_array(v, n);
}

double kvc_stats_ci95_hw(double std, uint64_t n, kvc_t_source src, double *t_used)
{
    if (t_used != NULL)
        *t_used = quiet_nan();
    if (n == 0)
        return quiet_nan();
    if (n == 1)
        return 0.0;
    double t = kvc_stats_t975(n - 1, src);
    if (t_used != NULL)
        *t_used = t;
    /* Converting n to binary64 is exact for every n below 2^53. */
    return t * (std / sqrt((double)n));
}

void kvc_stats_aggregate(const double *v, size_t n, const kvc_agg_options *opt,
                         kvc_stats_agg *out)
{
    kvc_agg_options o = opt != NULL ? *opt : kvc_agg_options_default();
    memset(out, 0, sizeof *out);
    out->n = (uint64_t)n;
    out->t_source = o.t_source;
    out->t = quiet_nan();
    if (n == 0) {
        out->mean = out->std = out->ci95_hw = quiet_nan();
        return;
    }
    out->mean = sum_by(v, n, o.sum_mode) / (double)n;
    if (n == 1) {
        out->std = 0.0;
        out->ci95_hw = 0.0;
        return;
    }
    /* The squared deviations, each rounded once, in a scratch buffer (on
     * the stack for the common small n). */
    double small[64];
    double *sq = n <= 64 ? small : malloc(n * sizeof *sq);
    double ss;
    if (sq != NULL) {
        for (size_t i = 0; i < n; i++) {
            double d = v[i] - out->mean;
            sq[i] = d * d;
        }
        ss = sum_by(sq, n, o.sum_mode);
        if (sq != small)
            free(sq);
    } else { /* no memory for scratch: stream the squares (exact mode only) */
        kvc_exactsum acc;
        kvc_exactsum_init(&acc);
        double naive = 0.0;
        for (size_t i = 0; i < n; i++) {
            double d = v[i] - out->mean;
            kvc_exactsum_add(&acc, d * d);
            naive += d * d;
        }
        ss = o.sum_mode == KVC_SUM_NAIVE ? naive : kvc_exactsum_value(&acc);
    }
    out->std = sqrt(ss / (double)(n - 1));
    out->ci95_hw = kvc_stats_ci95_hw(out->std, out->n, o.t_source, &out->t);
}

/* ---------------------------------------------------------------- layers */

int kvc_stats_stream_role(const char *stream_name)
{
    if (stream_name == NULL)
        return -1;
    if (strcmp(stream_name, "sliding_window_kv") == 0)
        return KVC_ROLE_SWA;
    if (strcmp(stream_name, "csa_pool_kv_ratio4") == 0)
        return KVC_ROLE_CSA;
    if (strcmp(stream_name, "hca_pool_kv_ratio128") == 0)
        return KVC_ROLE_HCA;
    return -1;
}

const char *kvc_stats_role_name(int role)
{
    static const char *const names[KVC_ROLE_COUNT] = {"SWA", "CSA", "HCA"};
    return role >= 0 && role < KVC_ROLE_COUNT ? names[role] : "?";
}

void kvc_stats_default_layers(double w[KVC_ROLE_COUNT])
{
    w[KVC_ROLE_SWA] = 3.0;
    w[KVC_ROLE_CSA] = 20.0;
    w[KVC_ROLE_HCA] = 20.0;
}

static kvc_status check_weights(const double w[KVC_ROLE_COUNT], double *total, kvc_error *err)
{
    for (int i = 0; i < KVC_ROLE_COUNT; i++)
        if (!is_finite(w[i]) || w[i] < 0.0)
            return kvc_error_set(err, KVC_INVALID_ARGUMENT,
                                 "layer weight %s is negative or not finite",
                                 kvc_stats_role_name(i));
    *total = kvc_exactsum_array(w, KVC_ROLE_COUNT);
    if (!(*total > 0.0))
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "layer weights are all zero");
    return KVC_OK;
}

kvc_status kvc_stats_layer_weighted(const double mean[KVC_ROLE_COUNT],
                                    const double hw[KVC_ROLE_COUNT],
                                    const double w[KVC_ROLE_COUNT], double *mean_out,
                                    double *hw_out, kvc_error *err)
{
    double total;
    kvc_status st = check_weights(w, &total, err);
    if (st != KVC_OK)
        return st;
    double wm[KVC_ROLE_COUNT], wh2[KVC_ROLE_COUNT];
    for (int i = 0; i < KVC_ROLE_COUNT; i++) {
        wm[i] = w[i] * mean[i];
        double wh = w[i] * hw[i];
        wh2[i] = wh * wh;
    }
    *mean_out = kvc_exactsum_array(wm, KVC_ROLE_COUNT) / total;
    *hw_out = sqrt(kvc_exactsum_array(wh2, KVC_ROLE_COUNT)) / total;
    return KVC_OK;
}

/* ---------------------------------------------------------------- thresholds */

double kvc_stats_threshold_multiplier(int level)
{
    static const double m[KVC_THRESHOLD_LEVELS] = {1.00, 1.05, 1.20};
    return level >= 0 && level < KVC_THRESHOLD_LEVELS ? m[level] : quiet_nan();
}

const char *kvc_stats_threshold_level_name(int level)
{
    static const char *const names[KVC_THRESHOLD_LEVELS] = {"A_no_regression", "B_plus5pct",
                                                            "C_plus20pct"};
    return level >= 0 && level < KVC_THRESHOLD_LEVELS ? names[level] : "?";
}

const char *kvc_stats_threshold_variant_name(int variant)
{
    static const char *const names[KVC_THRESHOLD_VARIANTS] = {
        "A_no_regression_point", "A_no_regression_ci95_conservative",
        "B_plus5pct_point",      "B_plus5pct_ci95_conservative",
        "C_plus20pct_point",     "C_plus20pct_ci95_conservative",
    };
    return variant >= 0 && variant < KVC_THRESHOLD_VARIANTS ? names[variant] : "?";
}

static double threshold_used(double e8_mean, double e8_hw, int use_ci_upper)
{
    return use_ci_upper ? e8_mean + e8_hw : e8_mean;
}

int kvc_stats_threshold_met(double e8_mean, double e8_hw, double fp8_mean, int level,
                            int use_ci_upper)
{
    double budget = kvc_stats_threshold_multiplier(level) * fp8_mean;
    return threshold_used(e8_mean, e8_hw, use_ci_upper) <= budget;
}

/* Indices of q[] in ascending numeric order; KVC_INVALID_ARGUMENT on a
 * duplicate. order must hold nq entries. */
static kvc_status sort_q(const uint32_t *q, size_t nq, size_t *order, kvc_error *err)
{
    for (size_t i = 0; i < nq; i++) {
        size_t j = i;
        while (j > 0 && q[order[j - 1]] > q[i]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    for (size_t i = 1; i < nq; i++)
        if (q[order[i]] == q[order[i - 1]])
            return kvc_error_set(err, KVC_INVALID_ARGUMENT, "Q = %u appears twice",
                                 (unsigned)q[order[i]]);
    return KVC_OK;
}

static kvc_status baseline_bits(uint32_t head_dim, uint64_t *fp8, uint64_t *bf16,
                                kvc_error *err)
{
    kvc_status st = kvc_stats_fp8_bits(head_dim, fp8, err);
    if (st == KVC_OK)
        st = kvc_stats_bf16_bits(head_dim, bf16, err);
    return st;
}

kvc_status kvc_stats_threshold(const uint32_t *q, const double *e8_mean, const double *e8_hw,
                               size_t nq, double fp8_mean, int level, int use_ci_upper,
                               uint32_t head_dim, kvc_threshold *out, kvc_error *err)
{
    memset(out, 0, sizeof *out);
    if (level < 0 || level >= KVC_THRESHOLD_LEVELS)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "threshold level %d", level);
    out->multiplier = kvc_stats_threshold_multiplier(level);
    out->budget = out->multiplier * fp8_mean;
    out->use_ci_upper = use_ci_upper != 0;
    uint64_t fp8_bits, bf16_bits;
    kvc_status st = baseline_bits(head_dim, &fp8_bits, &bf16_bits, err);
    if (st != KVC_OK)
        return st;
    size_t small[64];
    size_t *order = nq <= 64 ? small : malloc(nq * sizeof *order);
    if (order == NULL)
        return kvc_error_set(err, KVC_NOMEM, "Q-sweep of %zu points", nq);
    st = sort_q(q, nq, order, err);
    for (size_t i = 0; st == KVC_OK && i < nq; i++) {
        size_t k = order[i];
        double used = threshold_used(e8_mean[k], e8_hw[k], use_ci_upper);
        if (!(used <= out->budget))
            continue;
        uint64_t bits;
        st = kvc_stats_lattice_bits(KVC_LATTICE_E8, head_dim, q[k], &bits, err);
        if (st != KVC_OK)
            break;
        double b = (double)bits, bfp8 = (double)fp8_bits, bbf16 = (double)bf16_bits;
        out->admissible = 1;
        out->q_min = q[k];
        out->bits = bits;
        out->cr_vs_fp8 = bfp8 / b;
        out->cr_vs_bf16 = bbf16 / b;
        out->saving_vs_fp8_pct = 100.0 * (1.0 - b / bfp8);
        out->saving_vs_bf16_pct = 100.0 * (1.0 - b / bbf16);
        out->used = used;
        out->fp8_ref_mean = fp8_mean;
        out->margin_pct = 100.0 * (out->budget - used) / out->budget;
        break;
    }
    if (order != small)
        free(order);
    return st;
}

/* ---------------------------------------------------------------- strategies */

kvc_status kvc_stats_strategy_from_q(const uint32_t q[KVC_ROLE_COUNT],
                                     const double w[KVC_ROLE_COUNT], uint32_t head_dim,
                                     kvc_strategy *out, kvc_error *err)
{
    memset(out, 0, sizeof *out);
    double total;
    uint64_t fp8_bits, bf16_bits;
    kvc_status st = check_weights(w, &total, err);
    if (st == KVC_OK)
        st = baseline_bits(head_dim, &fp8_bits, &bf16_bits, err);
    if (st != KVC_OK)
        return st;
    double wb[KVC_ROLE_COUNT];
    for (int r = 0; r < KVC_ROLE_COUNT; r++) {
        st = kvc_stats_lattice_bits(KVC_LATTICE_E8, head_dim, q[r], &out->bits[r], err);
        if (st != KVC_OK)
            return st;
        out->q[r] = q[r];
        wb[r] = w[r] * (double)out->bits[r];
    }
    double bfp8 = (double)fp8_bits, bbf16 = (double)bf16_bits;
    out->admissible = 1;
    out->weighted_bits = kvc_exactsum_array(wb, KVC_ROLE_COUNT) / total;
    out->cr_vs_fp8 = bfp8 / out->weighted_bits;
    out->cr_vs_bf16 = bbf16 / out->weighted_bits;
    out->saving_vs_fp8_pct = 100.0 * (1.0 - out->weighted_bits / bfp8);
    out->saving_vs_bf16_pct = 100.0 * (1.0 - out->weighted_bits / bbf16);
    return KVC_OK;
}

/* Index of value x in q[0..n-1], or -1. */
static long find_q(const uint32_t *q, size_t n, uint32_t x)
{
    for (size_t i = 0; i < n; i++)
        if (q[i] == x)
            return (long)i;
    return -1;
}

kvc_status kvc_stats_strategy_unified(const uint32_t *const q[KVC_ROLE_COUNT],
                                      const double *const e8_mean[KVC_ROLE_COUNT],
                                      const double *const e8_hw[KVC_ROLE_COUNT],
                                      const size_t nq[KVC_ROLE_COUNT],
                                      const double fp8_mean[KVC_ROLE_COUNT], int level,
                                      int use_ci_upper, const double w[KVC_ROLE_COUNT],
                                      uint32_t head_dim, kvc_strategy *out, kvc_error *err)
{
    memset(out, 0, sizeof *out);
    if (level < 0 || level >= KVC_THRESHOLD_LEVELS)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "threshold level %d", level);
    /* Candidates: the Q values of the first stream, in ascending order. */
    size_t n0 = nq[0];
    size_t small[64];
    size_t *order = n0 <= 64 ? small : malloc(n0 * sizeof *order);
    if (order == NULL)
        return kvc_error_set(err, KVC_NOMEM, "Q-sweep of %zu points", n0);
    kvc_status st = sort_q(q[0], n0, order, err);
    long chosen = -1;
    for (size_t i = 0; st == KVC_OK && i < n0 && chosen < 0; i++) {
        uint32_t cand = q[0][order[i]];
        int all = 1;
        for (int r = 0; r < KVC_ROLE_COUNT && all; r++) {
            long k = find_q(q[r], nq[r], cand);
            all = k >= 0 && kvc_stats_threshold_met(e8_mean[r][k], e8_hw[r][k], fp8_mean[r],
                                                    level, use_ci_upper);
        }
        if (all)
            chosen = (long)cand;
    }
    if (order != small)
        free(order);
    if (st != KVC_OK || chosen < 0)
        return st;
    uint32_t qs[KVC_ROLE_COUNT] = {(uint32_t)chosen, (uint32_t)chosen, (uint32_t)chosen};
    return kvc_stats_strategy_from_q(qs, w, head_dim, out, err);
}
