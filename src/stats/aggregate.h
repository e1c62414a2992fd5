/* kvcert: aggregation across passages (SPEC.md §8).
 *
 * Per field over n passages, every sum correctly rounded (exactsum.h):
 *   mean    = Σv / n
 *   std     = sqrt(Σ(v − mean)² / (n − 1))   each square rounded once,
 *                                             then the squares summed exactly
 *   ci95_hw = t(n − 1) · (std / √n)           in that order
 * n = 1: std = ci95_hw = 0. n = 0: mean = std = ci95_hw = NaN.
 * These are the operations, in this order, that reproduce all 240
 * aggregate fields of the published n = 8 file bit for bit (the
 * alternative (t·std)/√n misses 18 of them; see tests/check_aggregate.c).
 *
 * ratios_vs_fp8 (per-passage files): the per-passage ratio codec rel_mse /
 * fp8 rel_mse (one rounded division), aggregated as above: a mean of
 * ratios. The Q-sweep reports a ratio of means instead (mean_e8 / mean_fp8).
 *
 * Layer-weighted ratio (weights w = SWA, CSA, HCA layer counts; 3, 20, 20
 * as published, 43 layers):
 *   r  = Σ w_i·r_i / Σ w_i
 *   hw = sqrt(Σ (w_i·h_i)²) / Σ w_i          (independence assumed)
 * every product rounded once, every sum correctly rounded.
 *
 * Q-sweep thresholds (per stream, m = 1.00 A, 1.05 B, 1.20 C):
 *   budget = m · mean(fp8 rel_mse); Q scanned numerically ascending; the
 *   first Q whose E8 mean (point) or mean + ci95_hw (CI-safe) is <= budget
 *   wins. Then bits = E8 accounted bits (bits.h), cr_vs_fp8 = fp8 bits /
 *   bits, cr_vs_bf16 = bf16 bits / bits, saving = 100·(1 − bits/base),
 *   margin = 100·(budget − used) / budget (left to right).
 *
 * Max usable compression ratio (per threshold):
 *   strategy 1: one Q for every layer — the smallest Q (among those every
 *               stream has) at which every stream meets the threshold;
 *   strategy 2: each stream its own Q_min; bits = Σ w_i·bits_i / Σ w_i.
 */
#ifndef KVC_STATS_AGGREGATE_H
#define KVC_STATS_AGGREGATE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "stats/ci.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How sums are formed. KVC_SUM_EXACT is the specification; KVC_SUM_NAIVE
 * (left to right, one rounding per addition, as Python's sum() before
 * 3.12) exists only as a contrast for tests and never for results. */
typedef enum kvc_sum_mode {
    KVC_SUM_EXACT = 0,
    KVC_SUM_NAIVE = 1
} kvc_sum_mode;

typedef struct kvc_agg_options {
    kvc_t_source t_source;
    kvc_sum_mode sum_mode;
} kvc_agg_options;

/* One aggregated field. t is the quantile used (NaN when n < 2), and
 * t_source says where it came from. */
typedef struct kvc_stats_agg {
    double mean;
    double std;
    double ci95_hw;
    uint64_t n;
    double t;
    kvc_t_source t_source;
} kvc_stats_agg;

/* The default options: published t table, exact sums. */
kvc_agg_options kvc_agg_options_default(void);

/* Aggregates v[0..n-1] (opt NULL = defaults). */
void kvc_stats_aggregate(const double *v, size_t n, const kvc_agg_options *opt,
                         kvc_stats_agg *out);
/* ci95_hw from a std and n: t(n−1)·(std/√n); 0 for n = 1, NaN for n = 0. */
double kvc_stats_ci95_hw(double std, uint64_t n, kvc_t_source src, double *t_used);

/* ---------------------------------------------------------------- layers */

/* Stream roles of the layer mix. */
enum { KVC_ROLE_SWA = 0, KVC_ROLE_CSA = 1, KVC_ROLE_HCA = 2, KVC_ROLE_COUNT = 3 };

/* "sliding_window_kv" → SWA, "csa_pool_kv_ratio4" → CSA,
 * "hca_pool_kv_ratio128" → HCA; -1 for any other name. */
int kvc_stats_stream_role(const char *stream_name);
const char *kvc_stats_role_name(int role); /* "SWA", "CSA", "HCA" */

/* The published layer counts: 3 SWA, 20 CSA, 20 HCA. */
void kvc_stats_default_layers(double w[KVC_ROLE_COUNT]);

/* Layer-weighted mean and half-width (see above). KVC_INVALID_ARGUMENT
 * when a weight is negative or not finite, or all are zero. */
kvc_status kvc_stats_layer_weighted(const double mean[KVC_ROLE_COUNT],
                                    const double hw[KVC_ROLE_COUNT],
                                    const double w[KVC_ROLE_COUNT], double *mean_out,
                                    double *hw_out, kvc_error *err);

/* ---------------------------------------------------------------- thresholds */

enum { KVC_THRESHOLD_LEVELS = 3, KVC_THRESHOLD_VARIANTS = 6 };

/* m for A, B, C: 1.00, 1.05, 1.20. */
double kvc_stats_threshold_multiplier(int level);
/* "A_no_regression", "B_plus5pct", "C_plus20pct". */
const char *kvc_stats_threshold_level_name(int level);
/* Variant v = 2·level + use_ci: "A_no_regression_point",
 * "A_no_regression_ci95_conservative", ... (the published keys). */
const char *kvc_stats_threshold_variant_name(int variant);

typedef struct kvc_threshold {
    int admissible;
    double multiplier;
    double budget;
    int use_ci_upper;
    /* The fields below are set only when admissible. */
    uint32_t q_min;
    uint64_t bits;
    double cr_vs_fp8;
    double cr_vs_bf16;
    double saving_vs_fp8_pct;
    double saving_vs_bf16_pct;
    double used;         /* E8 mean, or mean + ci95_hw */
    double fp8_ref_mean;
    double margin_pct;
} kvc_threshold;

/* One stream's Q-sweep: fp8 mean and, per Q (any order, no duplicates),
 * the E8 mean and ci95_hw. head_dim gives the accounted bits.
 * KVC_INVALID_ARGUMENT on duplicate Q; KVC_CODEC_PARAM on a bad Q or D. */
kvc_status kvc_stats_threshold(const uint32_t *q, const double *e8_mean, const double *e8_hw,
                               size_t nq, double fp8_mean, int level, int use_ci_upper,
                               uint32_t head_dim, kvc_threshold *out, kvc_error *err);

/* Did the E8 value at one Q meet the threshold? (used <= budget) */
int kvc_stats_threshold_met(double e8_mean, double e8_hw, double fp8_mean, int level,
                            int use_ci_upper);

/* ---------------------------------------------------------------- strategies */

typedef struct kvc_strategy {
    int admissible;
    uint32_t q[KVC_ROLE_COUNT];
    uint64_t bits[KVC_ROLE_COUNT];
    double weighted_bits;
    double cr_vs_fp8;
    double cr_vs_bf16;
    double saving_vs_fp8_pct;
    double saving_vs_bf16_pct;
} kvc_strategy;

/* Strategy 2 (and the arithmetic of strategy 1): layer-weighted bits of
 * the per-stream Q values q[] (E8 accounted bits at head_dim). */
kvc_status kvc_stats_strategy_from_q(const uint32_t q[KVC_ROLE_COUNT],
                                     const double w[KVC_ROLE_COUNT], uint32_t head_dim,
                                     kvc_strategy *out, kvc_error *err);

/* Strategy 1: the smallest Q present in every stream at which every
 * stream meets the threshold. Per stream r: nq[r] Q values q[r][i] with
 * E8 mean/hw, fp8_mean[r]. out->admissible = 0 when no Q works. */
kvc_status kvc_stats_strategy_unified(const uint32_t *const q[KVC_ROLE_COUNT],
                                      const double *const e8_mean[KVC_ROLE_COUNT],
                                      const double *const e8_hw[KVC_ROLE_COUNT],
                                      const size_t nq[KVC_ROLE_COUNT],
                                      const double fp8_mean[KVC_ROLE_COUNT], int level,
                                      int use_ci_upper, const double w[KVC_ROLE_COUNT],
                                      uint32_t head_dim, kvc_strategy *out, kvc_error *err);

#ifdef __cplusplus
}
#endif

#endif /* KVC_STATS_AGGREGATE_H */
