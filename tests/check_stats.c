/* Tests for stats/: correctly rounded sums, Student-t quantiles, accounted
 * bits, per-field aggregation, layer weighting, thresholds, strategies.
 *
 * Oracles (never the code under test):
 * - sums: CPython's published math.fsum test vectors; sums known by
 *   construction; and, for random hard inputs, an independent
 *   implementation of Shewchuk's partials algorithm as CPython's
 *   math_fsum writes it (oracle_fsum below; a different algorithm from
 *   kvcert's fixed-point superaccumulator).
 * - t quantiles: the published table (3 decimals), closed forms for df 1
 *   and 2, and a libm oracle (regularized incomplete beta via lgamma/exp/
 *   log continued fraction, solved by bisection) for df up to 1000.
 * - bits: the SPEC's values and a binary64 log2 oracle.
 */
#include <float.h>
#include <math.h>

#include "stats/aggregate.h"
#include "core/intlog.h"
#include "stats/bits.h"
#include "stats/ci.h"
#include "stats/exactsum.h"
#include "testutil.h"

static uint64_t bits_of(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

#define ck_assert_same_double(got, want)                                                     \
    do {                                                                                     \
        double g_ = (got), w_ = (want);                                                      \
        ck_assert_msg(bits_of(g_) == bits_of(w_) || (isnan(g_) && isnan(w_)),               \
                      "got %.17g (%a), want %.17g (%a)", g_, g_, w_, w_);                    \
    } while (0)

/* ------------------------------------------------------------ oracle */

/* Shewchuk / CPython math_fsum (mathmodule.c): nonoverlapping partials,
 * then the half-way correction. Finite inputs whose partial sums stay
 * finite only. */
static double oracle_fsum(const double *v, size_t n)
{
    double *p = malloc((n + 1) * sizeof *p);
    size_t np = 0;
    ck_assert_ptr_nonnull(p);
    for (size_t k = 0; k < n; k++) {
        double x = v[k];
        size_t i = 0;
        for (size_t j = 0; j < np; j++) {
            double y = p[j];
            if (fabs(x) < fabs(y)) {
                double t = x;
                x = y;
                y = t;
            }
            double hi = x + y;
            double lo = y - (hi - x);
            if (lo != 0.0)
                p[i++] = lo;
            x = hi;
        }
        np = i;
        p[np++] = x;
    }
    double hi = 0.0, lo = 0.0;
    if (np > 0) {
        hi = p[--np];
        while (np > 0) {
            double x = hi, y = p[--np];
            hi = x + y;
            double yr = hi - x;
            lo = y - yr;
            if (lo != 0.0)
                break;
        }
        if (np > 0 && ((lo < 0.0 && p[np - 1] < 0.0) || (lo > 0.0 && p[np - 1] > 0.0))) {
            double y = lo * 2.0;
            double x = hi + y;
            double yr = x - hi;
            if (y == yr)
                hi = x;
        }
    }
    free(p);
    return hi;
}

/* ------------------------------------------------------------ exactsum */

/* CPython Lib/test/test_math.py testFsum, the fixed vectors. */
START_TEST(fsum_cpython_vectors)
{
    double v[1100];
    size_t n;
    /* [] -> 0.0 ; [0.0] -> 0.0 */
    ck_assert_same_double(kvc_exactsum_array(NULL, 0), 0.0);
    v[0] = 0.0;
    ck_assert_same_double(kvc_exactsum_array(v, 1), 0.0);
    {
        double a[] = {1e100, 1.0, -1e100, 1e-100, 1e50, -1.0, -1e50};
        ck_assert_same_double(kvc_exactsum_array(a, 7), 1e-100);
    }
    {
        double a[] = {0x1p53, -0.5, -0x1p-54};
        ck_assert_same_double(kvc_exactsum_array(a, 3), 0x1p53 - 1.0);
    }
    {
        double a[] = {0x1p53, 1.0, 0x1p-100};
        ck_assert_same_double(kvc_exactsum_array(a, 3), 0x1p53 + 2.0);
    }
    {
        double a[] = {0x1p53 + 10.0, 1.0, 0x1p-100};
        ck_assert_same_double(kvc_exactsum_array(a, 3), 0x1p53 + 12.0);
    }
    {
        double a[] = {0x1p53 - 4.0, 0.5, 0x1p-54};
        ck_assert_same_double(kvc_exactsum_array(a, 3), 0x1p53 - 3.0);
    }
    for (n = 0; n < 1000; n++)
        v[n] = 1.0 / (double)(n + 1);
    ck_assert_same_double(kvc_exactsum_array(v, 1000), 0x1.df11f45f4e61ap+2);
    for (n = 0; n < 1000; n++)
        v[n] = ((n + 1) % 2 ? -1.0 : 1.0) / (double)(n + 1);
    ck_assert_same_double(kvc_exactsum_array(v, 1000), -0x1.62a2af1bd3624p-1);
    {
        double a[] = {1e16, 1.0, 1e-16};
        ck_assert_same_double(kvc_exactsum_array(a, 3), 10000000000000002.0);
    }
    {
        double a[] = {1e16 - 2.0, 1.0 - 0x1p-53, -(1e16 - 2.0), -(1.0 - 0x1p-53)};
        ck_assert_same_double(kvc_exactsum_array(a, 4), 0.0);
    }
    /* [2.**n - 2.**(n+50) + 2.**(n+52) for n in range(-1074, 972, 2)] + [-2.**1022] */
    n = 0;
    for (int e = -1074; e < 972; e += 2)
        v[n++] = ldexp(1.0, e) - ldexp(1.0, e + 50) + ldexp(1.0, e + 52);
    v[n++] = -ldexp(1.0, 1022);
    ck_assert_same_double(kvc_exactsum_array(v, n), 0x1.5555555555555p+970);
    /* Telescoping sum with exact differences (Sterbenz): terms t_i = 1.7^i
     * however rounded, t_{i+1} - t_i exact, total -t_0 = -1. */
    double t[1001];
    t[0] = 1.0;
    for (int i = 1; i <= 1000; i++)
        t[i] = t[i - 1] * 1.7;
    for (int i = 0; i < 1000; i++)
        v[i] = t[i + 1] - t[i];
    v[1000] = -t[1000];
    ck_assert_same_double(kvc_exactsum_array(v, 1001), -1.0);
}
END_TEST

/* Sums whose exact value is known by construction. */
START_TEST(fsum_by_construction)
{
    {
        double a[] = {1e100, 1.0, -1e100};
        ck_assert_same_double(kvc_exactsum_array(a, 3), 1.0);
    }
    {
        /* [1, 2^-53]: exactly half an ulp above 1 -> ties to even -> 1;
         * a sticky bit below breaks the tie upward. */
        double a[] = {1.0, 0x1p-53};
        ck_assert_same_double(kvc_exactsum_array(a, 2), 1.0);
        double b[] = {1.0, 0x1p-53, 0x1p-1074};
        ck_assert_same_double(kvc_exactsum_array(b, 3), 1.0 + 0x1p-52);
        double c[] = {1.0 + 0x1p-52, 0x1p-53}; /* odd mantissa: tie goes up */
        ck_assert_same_double(kvc_exactsum_array(c, 2), 1.0 + 0x1p-51);
        double d[] = {-1.0, -0x1p-53, -0x1p-1074};
        ck_assert_same_double(kvc_exactsum_array(d, 3), -(1.0 + 0x1p-52));
    }
    {
        /* ulp(10) = 2^-49. [1, 2^-60] * 10 = 10 + 10·2^-60, far below half
         * an ulp -> 10. [1, 2^-52] * 10 = 10 + 10·2^-52 = 10 + 1.25 ulp
         * -> 10 + 1 ulp. (Naive left-to-right gives 10 in both cases.) */
        double a[20], b[20];
        for (int i = 0; i < 10; i++) {
            a[2 * i] = 1.0;
            a[2 * i + 1] = 0x1p-60;
            b[2 * i] = 1.0;
            b[2 * i + 1] = 0x1p-52;
        }
        ck_assert_same_double(kvc_exactsum_array(a, 20), 10.0);
        ck_assert_same_double(kvc_exactsum_array(b, 20), 10.0 + 0x1p-49);
    }
    {
        /* subnormals add exactly */
        double a[] = {0x1p-1074, 0x1p-1074, 0x1p-1074};
        ck_assert_same_double(kvc_exactsum_array(a, 3), 3 * 0x1p-1074);
        double b[] = {DBL_MIN, -0x1p-1074};
        ck_assert_same_double(kvc_exactsum_array(b, 2), DBL_MIN - 0x1p-1074);
        double c[] = {0x1p-1022 - 0x1p-1074, 0x1p-1074}; /* largest subnormal + min */
        ck_assert_same_double(kvc_exactsum_array(c, 2), DBL_MIN);
    }
    {
        /* intermediate values beyond the binary64 range stay exact */
        double a[] = {1e308, 1e308, -1e308};
        ck_assert_same_double(kvc_exactsum_array(a, 3), 1e308);
        double b[] = {DBL_MAX, DBL_MAX, DBL_MAX, -DBL_MAX, -DBL_MAX};
        ck_assert_same_double(kvc_exactsum_array(b, 5), DBL_MAX);
    }
    {
        /* overflow of the final rounding: DBL_MAX + half its ulp is a tie
         * between DBL_MAX (odd mantissa) and 2^1024 -> +inf; a quarter ulp
         * rounds back to DBL_MAX. */
        double a[] = {DBL_MAX, 0x1p970};
        ck_assert_same_double(kvc_exactsum_array(a, 2), INFINITY);
        double b[] = {DBL_MAX, 0x1p969};
        ck_assert_same_double(kvc_exactsum_array(b, 2), DBL_MAX);
        double c[] = {-DBL_MAX, -DBL_MAX};
        ck_assert_same_double(kvc_exactsum_array(c, 2), -INFINITY);
    }
    {
        /* a million copies of fl(0.1) (long carry chains), against the
         * Shewchuk oracle. The exact sum exceeds 10^5 by 10^6 times
         * fl(0.1)'s excess over 0.1, 5.55e-12, less than half an ulp of
         * 10^5 (7.28e-12): it rounds to exactly 10^5 (naive summation
         * drifts to 100000.00000133288). */
        double *a = malloc(1000000 * sizeof *a);
        ck_assert_ptr_nonnull(a);
        for (int i = 0; i < 1000000; i++)
            a[i] = 0.1;
        ck_assert_same_double(kvc_exactsum_array(a, 1000000), oracle_fsum(a, 1000000));
        ck_assert_same_double(kvc_exactsum_array(a, 1000000), 100000.0);
        free(a);
    }
}
END_TEST

START_TEST(fsum_specials_and_zeros)
{
    double nan = NAN, inf = INFINITY;
    {
        double a[] = {1.0, inf, 5.0};
        ck_assert_same_double(kvc_exactsum_array(a, 3), inf);
        double b[] = {-inf, 1.0};
        ck_assert_same_double(kvc_exactsum_array(b, 2), -inf);
        double c[] = {inf, -inf};
        ck_assert(isnan(kvc_exactsum_array(c, 2)));
        double d[] = {1.0, nan};
        ck_assert(isnan(kvc_exactsum_array(d, 2)));
        double e[] = {inf, inf, DBL_MAX};
        ck_assert_same_double(kvc_exactsum_array(e, 3), inf);
    }
    {
        /* zeros as IEEE addition gives them */
        double a[] = {-0.0};
        ck_assert_same_double(kvc_exactsum_array(a, 1), -0.0);
        double b[] = {-0.0, -0.0};
        ck_assert_same_double(kvc_exactsum_array(b, 2), -0.0);
        double c[] = {-0.0, 0.0};
        ck_assert_same_double(kvc_exactsum_array(c, 2), 0.0);
        double d[] = {1.0, -1.0};
        ck_assert_same_double(kvc_exactsum_array(d, 2), 0.0);
        double e[] = {-1.0, 1.0, -0.0};
        ck_assert_same_double(kvc_exactsum_array(e, 3), 0.0);
    }
    /* the accumulator can be read repeatedly and extended */
    kvc_exactsum s;
    kvc_exactsum_init(&s);
    ck_assert_same_double(kvc_exactsum_value(&s), 0.0);
    kvc_exactsum_add(&s, 0.5);
    ck_assert_same_double(kvc_exactsum_value(&s), 0.5);
    kvc_exactsum_add(&s, 0.25);
    ck_assert_same_double(kvc_exactsum_value(&s), 0.75);
    ck_assert_uint_eq(s.count, 2);
}
END_TEST

/* A random binary64 with exponent in [lo, hi] and a random sign. */
static double random_double(uint64_t *st, int lo, int hi)
{
    uint64_t r = kvc_test_rand64(st);
    int e = lo + (int)(kvc_test_rand64(st) % (uint64_t)(hi - lo + 1));
    double m = 1.0 + (double)(r >> 12) * 0x1p-52; /* [1, 2) exactly */
    double x = ldexp(m, e);
    return (r & 1) ? -x : x;
}

/* Random hard sums against the Shewchuk oracle, and order independence. */
START_TEST(fsum_random_against_oracle)
{
    uint64_t st = 0x5EEDF00Dull + (uint64_t)_i;
    double v[96], w[96];
    for (int trial = 0; trial < 4000; trial++) {
        size_t n = 1 + kvc_test_rand64(&st) % 64;
        int kind = trial % 4;
        for (size_t i = 0; i < n; i++) {
            if (kind == 0) /* wide exponent range, below overflow */
                v[i] = random_double(&st, -1074 + 60, 1000);
            else if (kind == 1) /* narrow range: long carries and ties */
                v[i] = random_double(&st, -3, 3);
            else if (kind == 2) /* subnormal and tiny values */
                v[i] = random_double(&st, -1074, -1000);
            else /* massive cancellation: x, -x and small perturbations */
                v[i] = (i % 3 == 2) ? random_double(&st, -80, -40)
                                    : (i % 3 == 1 ? -v[i - 1] : random_double(&st, 40, 80));
        }
        double got = kvc_exactsum_array(v, n);
        ck_assert_msg(bits_of(got) == bits_of(oracle_fsum(v, n)) ||
                          (got == 0.0 && oracle_fsum(v, n) == 0.0),
                      "trial %d kind %d n %zu: got %a want %a (seed %d)", trial, kind, n, got,
                      oracle_fsum(v, n), _i);
        /* a seeded shuffle gives the same bits (integer accumulation) */
        memcpy(w, v, n * sizeof *v);
        for (size_t i = n; i > 1; i--) {
            size_t j = kvc_test_rand64(&st) % i;
            double t = w[i - 1];
            w[i - 1] = w[j];
            w[j] = t;
        }
        ck_assert_uint_eq(bits_of(kvc_exactsum_array(w, n)), bits_of(got));
    }
}
END_TEST

/* ------------------------------------------------------------ aggregate */

START_TEST(aggregate_edge_cases)
{
    kvc_stats_agg a;
    kvc_stats_aggregate(NULL, 0, NULL, &a);
    ck_assert(isnan(a.mean) && isnan(a.std) && isnan(a.ci95_hw));
    ck_assert_uint_eq(a.n, 0);
    ck_assert_int_eq(a.t_source, KVC_T_PUBLISHED);

    double one[] = {0.1};
    kvc_stats_aggregate(one, 1, NULL, &a);
    ck_assert_same_double(a.mean, 0.1);
    ck_assert_same_double(a.std, 0.0);
    ck_assert_same_double(a.ci95_hw, 0.0);
    ck_assert_uint_eq(a.n, 1);

    /* [1, 3]: mean 2, std sqrt(2), hw = 12.706·(sqrt2/sqrt2) = 12.706 */
    double two[] = {1.0, 3.0};
    kvc_stats_aggregate(two, 2, NULL, &a);
    ck_assert_same_double(a.mean, 2.0);
    ck_assert_same_double(a.std, sqrt(2.0));
    ck_assert_same_double(a.ci95_hw, 12.706);
    ck_assert_same_double(a.t, 12.706);

    /* the exact source records itself and uses the true quantile */
    kvc_agg_options o = kvc_agg_options_default();
    o.t_source = KVC_T_EXACT;
    kvc_stats_aggregate(two, 2, &o, &a);
    ck_assert_int_eq(a.t_source, KVC_T_EXACT);
    ck_assert(fabs(a.ci95_hw - 12.706204736174707) < 1e-12);

    /* constant data: std 0, hw 0 */
    double c[] = {512.0, 512.0, 512.0, 512.0};
    kvc_stats_aggregate(c, 4, NULL, &a);
    ck_assert_same_double(a.mean, 512.0);
    ck_assert_same_double(a.std, 0.0);
    ck_assert_same_double(a.ci95_hw, 0.0);

    /* large n goes through the heap scratch path: n = 1000 copies of
     * {0, 2}: mean 1, every square 1, std sqrt(1000/999), t = 1.980 at
     * df 999 > 120 -> 1.960 */
    double *big = malloc(1000 * sizeof *big);
    ck_assert_ptr_nonnull(big);
    for (int i = 0; i < 1000; i++)
        big[i] = (i % 2) ? 2.0 : 0.0;
    kvc_stats_aggregate(big, 1000, NULL, &a);
    ck_assert_same_double(a.mean, 1.0);
    ck_assert_same_double(a.std, sqrt(1000.0 / 999.0));
    ck_assert_same_double(a.ci95_hw, 1.960 * (sqrt(1000.0 / 999.0) / sqrt(1000.0)));
    free(big);

    /* ci95_hw from a stored std */
    double t;
    ck_assert_same_double(kvc_stats_ci95_hw(1.0, 8, KVC_T_PUBLISHED, &t), 2.365 * (1.0 / sqrt(8.0)));
    ck_assert_same_double(t, 2.365);
    ck_assert_same_double(kvc_stats_ci95_hw(1.0, 1, KVC_T_PUBLISHED, &t), 0.0);
    ck_assert(isnan(t));
    ck_assert(isnan(kvc_stats_ci95_hw(1.0, 0, KVC_T_PUBLISHED, NULL)));
}
END_TEST

/* Exact sums where naive summation loses everything. */
START_TEST(aggregate_exact_vs_naive)
{
    double v[] = {1e16, 1.0, -1e16, 1.0};
    kvc_stats_agg a;
    kvc_stats_aggregate(v, 4, NULL, &a);
    ck_assert_same_double(a.mean, 0.5); /* exact sum 2 */
    kvc_agg_options o = kvc_agg_options_default();
    o.sum_mode = KVC_SUM_NAIVE;
    kvc_stats_aggregate(v, 4, &o, &a);
    ck_assert_same_double(a.mean, 0.25); /* ((1e16 + 1) - 1e16) + 1 = 1 */
}
END_TEST

/* ------------------------------------------------------------ t */

START_TEST(t_table_published)
{
    static const double table[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447,
                                   2.365,  2.306, 2.262, 2.228, 2.201, 2.179};
    for (int df = 1; df <= 12; df++)
        ck_assert_same_double(kvc_stats_t975_table((uint64_t)df), table[df - 1]);
    /* tabulated beyond 12, and the fallback: the next larger tabulated df */
    static const struct {
        uint64_t df;
        double t;
    } rows[] = {{13, 2.131},  {14, 2.131},  {15, 2.131},  {16, 2.086},  {20, 2.086},
                {21, 2.042},  {29, 2.042},  {30, 2.042},  {31, 2.000},  {60, 2.000},
                {61, 1.980},  {119, 1.980}, {120, 1.980}, {121, 1.960}, {1000000000ull, 1.960},
                {UINT64_MAX, 1.960}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        ck_assert_same_double(kvc_stats_t975_table(rows[i].df), rows[i].t);
    ck_assert(isnan(kvc_stats_t975_table(0)));
    ck_assert(isnan(kvc_stats_t975_exact(0)));
    ck_assert_same_double(kvc_stats_t975(7, KVC_T_PUBLISHED), 2.365);

    kvc_t_source s;
    ck_assert_int_eq(kvc_t_source_parse("published", &s), 0);
    ck_assert_int_eq(s, KVC_T_PUBLISHED);
    ck_assert_int_eq(kvc_t_source_parse("exact-student-t", &s), 0);
    ck_assert_int_eq(s, KVC_T_EXACT);
    ck_assert_int_eq(kvc_t_source_parse("normal", &s), -1);
    ck_assert_int_eq(kvc_t_source_parse(NULL, &s), -1);
    ck_assert_str_eq(kvc_t_source_name(KVC_T_PUBLISHED), "published-table");
    ck_assert_str_eq(kvc_t_source_name(KVC_T_EXACT), "exact-student-t");
}
END_TEST

/* libm oracle: P(T <= t) = 1 - I_x(df/2, 1/2)/2, x = df/(df + t²), with
 * the Numerical Recipes continued fraction (betacf), solved by bisection. */
static double betacf(double a, double b, double x)
{
    const double fpmin = 1e-300;
    double qab = a + b, qap = a + 1.0, qam = a - 1.0, c = 1.0, d = 1.0 - qab * x / qap;
    if (fabs(d) < fpmin)
        d = fpmin;
    d = 1.0 / d;
    double h = d;
    for (int m = 1; m <= 100000; m++) {
        int m2 = 2 * m;
        double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if (fabs(d) < fpmin)
            d = fpmin;
        c = 1.0 + aa / c;
        if (fabs(c) < fpmin)
            c = fpmin;
        d = 1.0 / d;
        h *= d * c;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if (fabs(d) < fpmin)
            d = fpmin;
        c = 1.0 + aa / c;
        if (fabs(c) < fpmin)
            c = fpmin;
        d = 1.0 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1.0) < 1e-16)
            break;
    }
    return h;
}

static double betai(double a, double b, double x)
{
    double bt = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x));
    if (x < (a + 1.0) / (a + b + 2.0))
        return bt * betacf(a, b, x) / a;
    return 1.0 - bt * betacf(b, a, 1.0 - x) / b;
}

static double oracle_t975(double df)
{
    double lo = 1.9, hi = 13.0;
    for (int i = 0; i < 200; i++) {
        double mid = 0.5 * (lo + hi);
        double upper_tail = 0.5 * betai(df / 2.0, 0.5, df / (df + mid * mid));
        if (upper_tail > 0.025)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

START_TEST(t_exact_against_oracles)
{
    /* closed forms: df 1: tan(0.475π); df 2: t² = 2·0.95²/(1 − 0.95²) */
    ck_assert(fabs(kvc_stats_t975_exact(1) / tan(0.475 * M_PI) - 1.0) < 1e-14);
    ck_assert(fabs(kvc_stats_t975_exact(2) / sqrt(2.0 * 0.9025 / 0.0975) - 1.0) < 1e-14);
    /* the published table, to its 3 decimals (+ a hair for its rounding) */
    static const uint64_t tab_df[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 15, 20, 30, 60, 120};
    for (size_t i = 0; i < sizeof tab_df / sizeof tab_df[0]; i++) {
        double d = kvc_stats_t975_exact(tab_df[i]) - kvc_stats_t975_table(tab_df[i]);
        ck_assert_msg(fabs(d) <= 0.0005 + 1e-12, "df %llu: exact %.10f table %.3f",
                      (unsigned long long)tab_df[i], kvc_stats_t975_exact(tab_df[i]),
                      kvc_stats_t975_table(tab_df[i]));
    }
    /* the libm oracle; its own accuracy (lgamma cancellation) bounds the
     * tolerance: 1e-11 relative up to df 1000 */
    static const uint64_t dfs[] = {1,  2,  3,  4,  5,  6,  7,   8,   9,   10,  11,  13,
                                   17, 25, 33, 47, 64, 99, 120, 121, 255, 500, 999, 1000};
    for (size_t i = 0; i < sizeof dfs / sizeof dfs[0]; i++) {
        double got = kvc_stats_t975_exact(dfs[i]), want = oracle_t975((double)dfs[i]);
        ck_assert_msg(fabs(got / want - 1.0) < 1e-11, "df %llu: got %.17g want %.17g",
                      (unsigned long long)dfs[i], got, want);
    }
}
END_TEST

START_TEST(t_exact_large_df)
{
    /* decreasing in df, above the normal quantile */
    const double z = 1.959963984540054;
    double prev = kvc_stats_t975_exact(1);
    static const uint64_t dfs[] = {2, 10, 100, 1000, 1001, 10000, 100000, 1000000,
                                   1000000000ull, 1000000000000ull};
    for (size_t i = 0; i < sizeof dfs / sizeof dfs[0]; i++) {
        double t = kvc_stats_t975_exact(dfs[i]);
        ck_assert_msg(t < prev && t > z, "df %llu: %.17g", (unsigned long long)dfs[i], t);
        prev = t;
    }
    /* the finite series (checked against the libm oracle up to df 1000)
     * and Cornish-Fisher (used above 1000) agree just above the switch
     * (the series drifts by a few 1e-13 near df 1e4, CF by 7e-11 at 100) */
    static const uint64_t both[] = {1000, 1001, 1500, 2000, 3000};
    for (size_t i = 0; i < sizeof both / sizeof both[0]; i++) {
        double a = kvc__stats_t975_series(both[i]), b = kvc__stats_t975_cornish_fisher(both[i]);
        ck_assert_msg(fabs(a - b) < 1e-13, "df %llu: series %.17g, Cornish-Fisher %.17g",
                      (unsigned long long)both[i], a, b);
    }
    ck_assert(kvc_stats_t975_exact(1001) == kvc__stats_t975_cornish_fisher(1001));
    ck_assert(kvc_stats_t975_exact(1000) == kvc__stats_t975_series(1000));
    ck_assert(fabs(kvc_stats_t975_exact(1000000000000ull) - z) < 1e-11);
    ck_assert(isnan(kvc__stats_t975_series(0)));
}
END_TEST

START_TEST(atan_against_libm)
{
    uint64_t st = 12345;
    double worst = 0.0;
    for (int i = 0; i < 200000; i++) {
        double x = random_double(&st, -30, 30);
        double got = kvc__stats_atan(x), want = atan(x);
        double ulps = fabs(got - want) / (nextafter(fabs(want), INFINITY) - fabs(want));
        if (ulps > worst)
            worst = ulps;
    }
    /* a few ulp: 4 is the documented bound */
    ck_assert_msg(worst <= 4.0, "atan: worst error %.2f ulp", worst);
    ck_assert_same_double(kvc__stats_atan(0.0), 0.0);
    ck_assert(fabs(kvc__stats_atan(1.0) - M_PI / 4) <= 2e-16);
    ck_assert_same_double(kvc__stats_atan(INFINITY), 1.5707963267948966);
    ck_assert_same_double(kvc__stats_atan(-INFINITY), -1.5707963267948966);
    ck_assert(isnan(kvc__stats_atan(NAN)));
}
END_TEST

/* ------------------------------------------------------------ bits */

START_TEST(bits_spec_values)
{
    uint64_t b;
    kvc_error e;
    ck_assert_int_eq(kvc_stats_lattice_bits(KVC_LATTICE_D4, 512, 10, &b, &e), KVC_OK);
    ck_assert_uint_eq(b, 2208);
    ck_assert_int_eq(kvc_stats_lattice_bits(KVC_LATTICE_D4, 512, 38, &b, &e), KVC_OK);
    ck_assert_uint_eq(b, 3232);
    ck_assert_int_eq(kvc_stats_lattice_bits(KVC_LATTICE_E8, 512, 10, &b, &e), KVC_OK);
    ck_assert_uint_eq(b, 2336);
    ck_assert_int_eq(kvc_stats_lattice_bits(KVC_LATTICE_E8, 512, 38, &b, &e), KVC_OK);
    ck_assert_uint_eq(b, 3296);
    ck_assert_int_eq(kvc_stats_fp8_bits(512, &b, &e), KVC_OK);
    ck_assert_uint_eq(b, 4224);
    ck_assert_int_eq(kvc_stats_bf16_bits(512, &b, &e), KVC_OK);
    ck_assert_uint_eq(b, 8192);
    /* SPEC 9: Q = 38, 39, 40 all cost 3296; 41 does not */
    for (uint32_t q = 38; q <= 40; q++) {
        kvc_stats_lattice_bits(KVC_LATTICE_E8, 512, q, &b, NULL);
        ck_assert_uint_eq(b, 3296);
    }
    kvc_stats_lattice_bits(KVC_LATTICE_E8, 512, 41, &b, NULL);
    ck_assert_uint_eq(b, 3360);
    /* the published Q-sweep's bits per Q (stage075_qsweep_n8.json) */
    static const uint32_t qs[] = {1, 2, 3, 4, 6, 8, 10, 14, 19, 24, 38, 76};
    static const uint64_t want[] = {864, 1248, 1504, 1696, 1952, 2144,
                                    2336, 2528, 2784, 2912, 3296, 3808};
    for (size_t i = 0; i < 12; i++) {
        kvc_stats_lattice_bits(KVC_LATTICE_E8, 512, qs[i], &b, NULL);
        ck_assert_uint_eq(b, want[i]);
    }
    /* -21.97 %: 100·(1 − 3296/4224) rounds to -21.97 at 2 decimals */
    double saving = 100.0 * (3296.0 / 4224.0 - 1.0);
    ck_assert(fabs(saving - -21.97) <= 0.005);
}
END_TEST

/* Q = 1..200 against a binary64 log2 oracle, wherever k·log2(2Q+1) is not
 * within 1e-9 of an integer (there the oracle cannot decide). */
START_TEST(bits_bruteforce_against_log2)
{
    int decided = 0;
    for (uint32_t q = 1; q <= 200; q++) {
        for (unsigned k = 4; k <= 8; k += 4) {
            double x = k * log2(2.0 * q + 1.0);
            if (fabs(x - nearbyint(x)) < 1e-9)
                continue;
            ck_assert_uint_eq(kvc_ceil_klog2_odd(k, q), (unsigned)ceil(x));
            decided++;
        }
        uint64_t b4, b8;
        ck_assert_int_eq(kvc_stats_lattice_bits(KVC_LATTICE_D4, 512, q, &b4, NULL), KVC_OK);
        ck_assert_int_eq(kvc_stats_lattice_bits(KVC_LATTICE_E8, 512, q, &b8, NULL), KVC_OK);
        double l = log2(2.0 * q + 1.0);
        ck_assert_uint_eq(b4, 128u * (unsigned)ceil(4.0 * l - 1.0) + 32u);
        ck_assert_uint_eq(b8, 64u * (unsigned)ceil(8.0 * l) + 32u);
    }
    ck_assert_int_eq(decided, 400);
    /* extremes of the integer method: 3^8 = 6561 (13 bits); (2^32 − 1)^8
     * has 256 bits */
    ck_assert_uint_eq(kvc_ceil_klog2_odd(8, 1), 13);
    ck_assert_uint_eq(kvc_ceil_klog2_odd(8, KVC_BITS_Q_MAX), 256);
    ck_assert_uint_eq(kvc_ceil_klog2_odd(1, KVC_BITS_Q_MAX), 32);
    ck_assert_uint_eq(kvc_ceil_klog2_odd(0, 5), 0);
    ck_assert_uint_eq(kvc_ceil_klog2_odd(9, 5), 0);
    ck_assert_uint_eq(kvc_ceil_klog2_odd(8, 0), 0);
}
END_TEST

START_TEST(bits_bad_parameters)
{
    uint64_t b = 7;
    kvc_error e;
    kvc_error_clear(&e);
    ck_assert_int_eq(kvc_stats_lattice_bits(KVC_LATTICE_E8, 512, 0, &b, &e), KVC_CODEC_PARAM);
    ck_assert_int_eq(e.status, KVC_CODEC_PARAM);
    ck_assert_int_eq(kvc_stats_lattice_bits(KVC_LATTICE_E8, 512, KVC_BITS_Q_MAX + 1u, &b, &e),
                     KVC_CODEC_PARAM);
    ck_assert_int_eq(kvc_stats_lattice_bits(KVC_LATTICE_E8, 0, 10, &b, &e), KVC_CODEC_PARAM);
    ck_assert_int_eq(kvc_stats_lattice_bits(KVC_LATTICE_E8, 500, 10, &b, &e), KVC_CODEC_PARAM);
    ck_assert_int_eq(kvc_stats_lattice_bits(KVC_LATTICE_D4, 502, 10, &b, &e), KVC_CODEC_PARAM);
    ck_assert_int_eq(kvc_stats_lattice_bits((kvc_lattice)5, 512, 10, &b, &e), KVC_CODEC_PARAM);
    ck_assert_int_eq(kvc_stats_fp8_bits(500, &b, &e), KVC_CODEC_PARAM);
    ck_assert_int_eq(kvc_stats_bf16_bits(0, &b, &e), KVC_CODEC_PARAM);
    ck_assert_uint_eq(b, 7); /* untouched on error */
    /* codec names */
    ck_assert_int_eq(kvc_stats_codec_bits("v15_e8_Q38", 512, &b), 1);
    ck_assert_uint_eq(b, 3296);
    ck_assert_int_eq(kvc_stats_codec_bits("v14_d4_Q10", 512, &b), 1);
    ck_assert_uint_eq(b, 2208);
    ck_assert_int_eq(kvc_stats_codec_bits("fp8_per64_baseline", 512, &b), 1);
    ck_assert_uint_eq(b, 4224);
    static const char *const bad[] = {"v15_e8_Q038", "v15_e8_Q", "v15_e8_Q38x", "v15_e8_Q0",
                                      "v15_e8_Q-1", "v15_e8_Q99999999999", "v16_e8_Q38", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(kvc_stats_codec_bits(bad[i], 512, &b) == 0, "%s", bad[i]);
    uint32_t q;
    ck_assert_int_eq(kvc_stats_parse_e8_name("v15_e8_Q76", &q), 1);
    ck_assert_uint_eq(q, 76);
    ck_assert_int_eq(kvc_stats_parse_e8_name("v14_d4_Q76", &q), 0);
}
END_TEST

/* ------------------------------------------------------------ layers */

START_TEST(layer_weighting)
{
    double w[3], m, h;
    kvc_stats_default_layers(w);
    ck_assert_same_double(w[0], 3.0);
    ck_assert_same_double(w[1], 20.0);
    ck_assert_same_double(w[2], 20.0);
    double mean[] = {1.0, 1.0, 1.0}, hw[] = {0.0, 0.0, 0.0};
    ck_assert_int_eq(kvc_stats_layer_weighted(mean, hw, w, &m, &h, NULL), KVC_OK);
    ck_assert_same_double(m, 1.0);
    ck_assert_same_double(h, 0.0);
    /* hand-derived: (3·0.5 + 20·1 + 20·2)/43 = 61.5/43;
     * hw = sqrt((3·1)² + (20·0)² + (20·0)²)/43 = 3/43 */
    double mean2[] = {0.5, 1.0, 2.0}, hw2[] = {1.0, 0.0, 0.0};
    kvc_stats_layer_weighted(mean2, hw2, w, &m, &h, NULL);
    ck_assert_same_double(m, 61.5 / 43.0);
    ck_assert_same_double(h, 3.0 / 43.0);
    /* bad weights */
    kvc_error e;
    double neg[] = {-1.0, 20.0, 20.0}, zero[] = {0.0, 0.0, 0.0}, inf[] = {INFINITY, 1.0, 1.0};
    ck_assert_int_eq(kvc_stats_layer_weighted(mean, hw, neg, &m, &h, &e), KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(kvc_stats_layer_weighted(mean, hw, zero, &m, &h, &e), KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(kvc_stats_layer_weighted(mean, hw, inf, &m, &h, &e), KVC_INVALID_ARGUMENT);
    /* roles */
    ck_assert_int_eq(kvc_stats_stream_role("sliding_window_kv"), KVC_ROLE_SWA);
    ck_assert_int_eq(kvc_stats_stream_role("csa_pool_kv_ratio4"), KVC_ROLE_CSA);
    ck_assert_int_eq(kvc_stats_stream_role("hca_pool_kv_ratio128"), KVC_ROLE_HCA);
    ck_assert_int_eq(kvc_stats_stream_role("other"), -1);
    ck_assert_int_eq(kvc_stats_stream_role(NULL), -1);
}
END_TEST

/* ------------------------------------------------------------ thresholds */

START_TEST(threshold_scan)
{
    /* Q given out of order; mean falls with Q except a bump at 24.
     * fp8 mean 1.0: budgets 1.0, 1.05, 1.2. */
    uint32_t q[] = {76, 10, 24, 38, 19};
    double mean[] = {0.1, 1.5, 1.1, 0.9, 1.04};
    double hw[] = {0.01, 0.1, 0.2, 0.2, 0.5};
    kvc_threshold t;
    kvc_error e;
    /* A point: ascending 10 (1.5) 19 (1.04) 24 (1.1) 38 (0.9) -> 38 */
    ck_assert_int_eq(kvc_stats_threshold(q, mean, hw, 5, 1.0, 0, 0, 512, &t, &e), KVC_OK);
    ck_assert(t.admissible);
    ck_assert_uint_eq(t.q_min, 38);
    ck_assert_uint_eq(t.bits, 3296);
    ck_assert_same_double(t.used, 0.9);
    ck_assert_same_double(t.budget, 1.0);
    ck_assert_same_double(t.cr_vs_fp8, 4224.0 / 3296.0);
    ck_assert_same_double(t.cr_vs_bf16, 8192.0 / 3296.0);
    ck_assert_same_double(t.saving_vs_fp8_pct, 100.0 * (1.0 - 3296.0 / 4224.0));
    ck_assert_same_double(t.saving_vs_bf16_pct, 100.0 * (1.0 - 3296.0 / 8192.0));
    ck_assert_same_double(t.margin_pct, 100.0 * (1.0 - 0.9) / 1.0);
    ck_assert_same_double(t.fp8_ref_mean, 1.0);
    /* B point: 19 (1.04 <= 1.05) comes first */
    kvc_stats_threshold(q, mean, hw, 5, 1.0, 1, 0, 512, &t, &e);
    ck_assert_uint_eq(t.q_min, 19);
    ck_assert_same_double(t.budget, 1.05);
    /* A CI-safe: 38 is 1.1 > 1.0; 76 is 0.11 -> 76 */
    kvc_stats_threshold(q, mean, hw, 5, 1.0, 0, 1, 512, &t, &e);
    ck_assert_uint_eq(t.q_min, 76);
    ck_assert_same_double(t.used, 0.1 + 0.01);
    ck_assert(t.use_ci_upper);
    /* nothing passes: not admissible, budget still reported */
    ck_assert_int_eq(kvc_stats_threshold(q, mean, hw, 5, 0.01, 2, 0, 512, &t, &e), KVC_OK);
    ck_assert(!t.admissible);
    ck_assert_same_double(t.multiplier, 1.2);
    ck_assert_same_double(t.budget, 1.2 * 0.01);
    /* duplicate Q */
    uint32_t dup[] = {10, 38, 10};
    ck_assert_int_eq(kvc_stats_threshold(dup, mean, hw, 3, 1.0, 0, 0, 512, &t, &e),
                     KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(kvc_stats_threshold(q, mean, hw, 5, 1.0, 3, 0, 512, &t, &e),
                     KVC_INVALID_ARGUMENT);
    ck_assert_str_eq(kvc_stats_threshold_variant_name(3), "B_plus5pct_ci95_conservative");
    ck_assert_str_eq(kvc_stats_threshold_level_name(2), "C_plus20pct");
}
END_TEST

START_TEST(strategies)
{
    double w[3];
    kvc_stats_default_layers(w);
    kvc_strategy s;
    kvc_error e;
    /* strategy 2 arithmetic: (3·3296 + 20·3296 + 20·3808)/43 = 151968/43 */
    uint32_t per[] = {38, 38, 76};
    ck_assert_int_eq(kvc_stats_strategy_from_q(per, w, 512, &s, &e), KVC_OK);
    ck_assert(s.admissible);
    ck_assert_same_double(s.weighted_bits, 151968.0 / 43.0);
    ck_assert_same_double(s.cr_vs_fp8, 4224.0 / (151968.0 / 43.0));
    ck_assert_uint_eq(s.bits[2], 3808);
    /* strategy 1: a Q every stream meets; streams sweep different Q sets */
    uint32_t q0[] = {10, 38, 76}, q1[] = {76, 38, 10}, q2[] = {38, 76};
    double m0[] = {2.0, 0.5, 0.1}, m1[] = {0.1, 0.9, 2.0}, m2[] = {1.1, 0.2};
    double h0[] = {0, 0, 0}, h1[] = {0, 0.2, 0}, h2[] = {0, 0};
    const uint32_t *q[] = {q0, q1, q2};
    const double *m[] = {m0, m1, m2}, *h[] = {h0, h1, h2};
    size_t nq[] = {3, 3, 2};
    double fp8[] = {1.0, 1.0, 1.0};
    /* point A: 10 fails SWA; 38 fails HCA (1.1); 76 passes all */
    ck_assert_int_eq(kvc_stats_strategy_unified(q, m, h, nq, fp8, 0, 0, w, 512, &s, &e), KVC_OK);
    ck_assert(s.admissible);
    ck_assert_uint_eq(s.q[0], 76);
    ck_assert_same_double(s.weighted_bits, 3808.0);
    /* point C (1.2): 38 passes all */
    kvc_stats_strategy_unified(q, m, h, nq, fp8, 2, 0, w, 512, &s, &e);
    ck_assert_uint_eq(s.q[1], 38);
    /* none */
    double tiny[] = {1e-9, 1e-9, 1e-9};
    kvc_stats_strategy_unified(q, m, h, nq, tiny, 0, 0, w, 512, &s, &e);
    ck_assert(!s.admissible);
}
END_TEST

static Suite *stats_suite(void)
{
    Suite *s = suite_create("stats");
    TCase *t = tcase_create("exactsum");
    tcase_add_test(t, fsum_cpython_vectors);
    tcase_add_test(t, fsum_by_construction);
    tcase_add_test(t, fsum_specials_and_zeros);
    tcase_add_loop_test(t, fsum_random_against_oracle, 0, 4);
    suite_add_tcase(s, t);
    t = tcase_create("aggregate");
    tcase_add_test(t, aggregate_edge_cases);
    tcase_add_test(t, aggregate_exact_vs_naive);
    tcase_add_test(t, layer_weighting);
    tcase_add_test(t, threshold_scan);
    tcase_add_test(t, strategies);
    suite_add_tcase(s, t);
    t = tcase_create("t");
    tcase_add_test(t, t_table_published);
    tcase_add_test(t, t_exact_against_oracles);
    tcase_add_test(t, t_exact_large_df);
    tcase_add_test(t, atan_against_libm);
    suite_add_tcase(s, t);
    t = tcase_create("bits");
    tcase_add_test(t, bits_spec_values);
    tcase_add_test(t, bits_bruteforce_against_log2);
    tcase_add_test(t, bits_bad_parameters);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return kvc_test_run(stats_suite());
}
