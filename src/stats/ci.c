/* kvcert: Student-t 0.975 quantiles, published table and exact (ci.h). */
#include "stats/ci.h"

#include <math.h> /* sqrt only: correctly rounded by IEEE 754 */
#include <string.h>

#include "core/hd.h"

/* π/2 as a sum of two binary64 values (hi + lo agrees with π/2 to ~1e-33). */
#define PIO2_HI 1.5707963267948966
#define PIO2_LO 6.123233995736766e-17

/* Above this df the Cornish-Fisher expansion replaces the finite series:
 * its truncation error (~0.7/df^5) is below 1e-15 there, while the series
 * (df/2 terms) slowly accumulates rounding (a few 1e-13 at df = 1e5). */
#define T_SERIES_MAX_DF 1000u

static double quiet_nan(void)
{
    return kvc_f64_from_bits(UINT64_C(0x7FF8000000000000));
}

const char *kvc_t_source_name(kvc_t_source src)
{
    switch (src) {
    case KVC_T_PUBLISHED:
        return "published-table";
    case KVC_T_EXACT:
        return "exact-student-t";
    }
    return NULL;
}

int kvc_t_source_parse(const char *s, kvc_t_source *out)
{
    if (s == NULL)
        return -1;
    if (strcmp(s, "published") == 0 || strcmp(s, "published-table") == 0) {
        *out = KVC_T_PUBLISHED;
        return 0;
    }
    if (strcmp(s, "exact") == 0 || strcmp(s, "exact-student-t") == 0) {
        *out = KVC_T_EXACT;
        return 0;
    }
    return -1;
}

/* ------------------------------------------------------------ the table */

static const struct {
    uint64_t df;
    double t;
} t_table[] = {
    {1, 12.706}, {2, 4.303},  {3, 3.182},   {4, 2.776},   {5, 2.571},   {6, 2.447},
    {7, 2.365},  {8, 2.306},  {9, 2.262},   {10, 2.228},  {11, 2.201},  {12, 2.179},
    {15, 2.131}, {20, 2.086}, {30, 2.042},  {60, 2.000},  {120, 1.980},
};

double kvc_stats_t975_table(uint64_t df)
{
    if (df == 0)
        return quiet_nan();
    /* Rows ascend: the first row with row.df >= df is the exact entry or
     * the next larger tabulated df (the published fallback). */
    for (size_t i = 0; i < sizeof t_table / sizeof t_table[0]; i++)
        if (t_table[i].df >= df)
            return t_table[i].t;
    return 1.960;
}

/* ------------------------------------------------------------ arctangent */

double kvc__stats_atan(double x)
{
    if (x != x)
        return x;
    int negative = x < 0.0;
    double a = negative ? -x : x;
    double r;
    if (a > 1.7976931348623157e308) {
        r = PIO2_HI;
    } else {
        int inverted = a > 1.0;
        if (inverted)
            a = 1.0 / a;
        /* atan(a) = 2·atan(a / (1 + sqrt(1 + a²))), twice: a <= tan(π/16). */
        double h = a / (1.0 + sqrt(1.0 + a * a));
        h = h / (1.0 + sqrt(1.0 + h * h));
        /* atan(h) = h·Σ (-1)^k h^(2k)/(2k+1); h² < 0.0396, so the terms
         * beyond k = 13 are below 2^-70 relative. Horner, highest first. */
        double h2 = h * h;
        double p = 0.0;
        for (int k = 13; k >= 0; k--) {
            double c = 1.0 / (double)(2 * k + 1);
            p = p * h2 + ((k & 1) ? -c : c);
        }
        r = 4.0 * (h * p);
        if (inverted)
            r = (PIO2_HI - r) + PIO2_LO;
    }
    return negative ? -r : r;
}

/* ------------------------------------------------------------ exact quantile */

/* P(|T| <= t) for T ~ Student t with df degrees of freedom, t > 0. */
static double t_two_sided(double t, uint64_t df)
{
    double nu = (double)df;
    double denom = nu + t * t;
    double c2 = nu / denom;
    double s = t / sqrt(denom);
    if (df % 2 == 0) {
        double term = 1.0, sum = 1.0;
        for (uint64_t k = 1; k < df / 2; k++) {
            term = term * c2 * ((double)(2 * k - 1) / (double)(2 * k));
            sum += term;
        }
        return s * sum;
    }
    double theta = kvc__stats_atan(t / sqrt(nu));
    if (df == 1)
        return theta / PIO2_HI;
    double term = 1.0, sum = 1.0;
    for (uint64_t k = 1; k <= (df - 3) / 2; k++) {
        term = term * c2 * ((double)(2 * k) / (double)(2 * k + 1));
        sum += term;
    }
    return (theta + s * sqrt(c2) * sum) / PIO2_HI;
}

/* Cornish-Fisher (A&S 26.7.5) around z = Φ^-1(0.975). */
double kvc__stats_t975_cornish_fisher(uint64_t df)
{
    const double z = 1.959963984540054;
    double z2 = z * z;
    double z3 = z2 * z, z5 = z3 * z2, z7 = z5 * z2, z9 = z7 * z2;
    double g1 = (z3 + z) / 4.0;
    double g2 = (5.0 * z5 + 16.0 * z3 + 3.0 * z) / 96.0;
    double g3 = (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / 384.0;
    double g4 = (79.0 * z9 + 776.0 * z7 + 1482.0 * z5 - 1920.0 * z3 - 945.0 * z) / 92160.0;
    double u = 1.0 / (double)df;
    /* Smallest terms first. */
    return z + u * (g1 + u * (g2 + u * (g3 + u * g4)));
}

double kvc_stats_t975_exact(uint64_t df)
{
    if (df == 0)
        return quiet_nan();
    if (df > T_SERIES_MAX_DF)
        return kvc__stats_t975_cornish_fisher(df);
    return kvc__stats_t975_series(df);
}

double kvc__stats_t975_series(uint64_t df)
{
    if (df == 0)
        return quiet_nan();
    /* A(1.959) < 0.95 for every df (the normal quantile is 1.95996...)
     * and A(12.71) > 0.95 for every df (t(1) = 12.7062...). Bisection
     * until the bracket holds adjacent binary64 values. */
    double lo = 1.959, hi = 12.71;
    for (;;) {
        double mid = lo + (hi - lo) / 2.0;
        if (mid <= lo || mid >= hi)
            break;
        if (t_two_sided(mid, df) < 0.95)
            lo = mid;
        else
            hi = mid;
    }
    return hi;
}

double kvc_stats_t975(uint64_t df, kvc_t_source src)
{
    return src == KVC_T_EXACT ? kvc_stats_t975_exact(df) : kvc_stats_t975_table(df);
}
