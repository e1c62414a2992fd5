/* kvcert: the Student-t 97.5 % quantile behind every 95 % CI half-width
 * (SPEC.md §8).
 *
 * Two sources, and every aggregate records which one it used:
 *
 * - KVC_T_PUBLISHED: the study's table, verbatim. df 1..12 → 12.706,
 *   4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201,
 *   2.179; 15 → 2.131; 20 → 2.086; 30 → 2.042; 60 → 2.000; 120 → 1.980.
 *   A df that is not tabulated takes the next larger tabulated df (13 →
 *   the value of 15); df > 120 → 1.960. That fallback is
 *   anti-conservative (it returns a smaller t than the true one); it is
 *   kept because the published half-widths were computed with it.
 *
 * - KVC_T_EXACT: the true quantile t with P(T <= t) = 0.975 for T with df
 *   degrees of freedom, computed without libm (DESIGN.md rule 3). For
 *   integer df the two-sided probability A(t) = P(|T| <= t) is a finite
 *   series (Abramowitz & Stegun 26.7.3-4) in c² = df/(df+t²) and
 *   s = t/√(df+t²):
 *       df even: A = s · Σ_{k=0}^{df/2-1} b_k c^{2k},  b_0 = 1, b_k = b_{k-1}(2k-1)/(2k)
 *       df odd:  A = (2/π)(θ + s·c · Σ_{k=0}^{(df-3)/2} a_k c^{2k}),
 *                θ = atan(t/√df), a_0 = 1, a_k = a_{k-1}(2k)/(2k+1)
 *   (df = 1: A = 2θ/π). The quantile solves A(t) = 0.95 by bisection on
 *   [1.959, 12.71] down to adjacent binary64 values — a fixed number of
 *   steps and a deterministic result. atan is kvcert's own (argument
 *   halving with sqrt, then an odd Taylor polynomial), built from + − × ÷
 *   sqrt only. For df > 1000 the series grows long (df/2 terms) and the
 *   Cornish-Fisher expansion (A&S 26.7.5, four correction terms around the
 *   normal quantile 1.959963984540054; truncation error ~0.7/df^5 < 1e-15)
 *   is used instead. Accuracy (tests/check_stats.c): within 1e-11 relative
 *   of a libm incomplete-beta oracle for df <= 1000 (the oracle's own
 *   limit), and the two methods agree to 1e-13 where both apply.
 *
 * df = 0 (n = 1) has no quantile: both sources return NaN; callers give
 * n = 1 a half-width of 0 without asking (SPEC.md §8).
 */
#ifndef KVC_STATS_CI_H
#define KVC_STATS_CI_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum kvc_t_source {
    KVC_T_PUBLISHED = 0, /* the study's table and fallback */
    KVC_T_EXACT = 1      /* the true Student-t quantile */
} kvc_t_source;

/* "published-table" / "exact-student-t"; NULL for an unknown value. */
const char *kvc_t_source_name(kvc_t_source src);
/* Parses "published" / "published-table" / "exact" / "exact-student-t";
 * returns 0 on success, -1 when unknown. */
int kvc_t_source_parse(const char *s, kvc_t_source *out);

/* t(df) from the published table with its fallback; NaN for df = 0. */
double kvc_stats_t975_table(uint64_t df);
/* The exact 0.975 quantile of Student's t with df degrees of freedom;
 * NaN for df = 0. */
double kvc_stats_t975_exact(uint64_t df);
/* Either of the above. */
double kvc_stats_t975(uint64_t df, kvc_t_source src);

/* kvcert's own arctangent (binary64, + − × ÷ sqrt only; a few ulp).
 * Exposed for its test. */
double kvc__stats_atan(double x);
/* The two methods behind kvc_stats_t975_exact, each for any df >= 1
 * (exposed for the test that checks they agree). */
double kvc__stats_t975_series(uint64_t df);
double kvc__stats_t975_cornish_fisher(uint64_t df);

#ifdef __cplusplus
}
#endif

#endif /* KVC_STATS_CI_H */
