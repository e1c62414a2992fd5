/* kvcert: the audit's Gaussian generator (stats/audit.h:
 * kvc_stats_gaussian_fill) and the binary64 logarithm it uses, on their
 * own so standalone GPU test programs can link them without the rest of
 * the audit (which needs the backend tables). */
#include "stats/audit.h"

#include <math.h>
#include <string.h>

#include "core/hd.h"

/* ------------------------------------------------------------ logarithm */

/* log x = k ln 2 + log f, f in [sqrt(2)/2, sqrt(2)]; log f = 2 atanh(t),
 * t = (f - 1)/(f + 1), |t| <= 0.1716, by the series 2 t sum_{j=0..11}
 * t^(2j) / (2j + 1) in Horner form (the next term is below 2^-60
 * relative). ln 2 is split so that k * ln2_hi is exact. */
double kvc__stats_log(double x)
{
    uint64_t b = kvc_f64_bits(x);
    int k = 0;
    if (((b >> 52) & 0x7FFu) == 0) { /* subnormal: scale into the normal range */
        x = x * 0x1p54;
        b = kvc_f64_bits(x);
        k = -54;
    }
    k += (int)((b >> 52) & 0x7FFu) - 1023;
    double f = kvc_f64_from_bits((b & 0x000FFFFFFFFFFFFFull) | 0x3FF0000000000000ull);
    if (f > 1.4142135623730951) {
        f = f * 0.5;
        k += 1;
    }
    double t = (f - 1.0) / (f + 1.0); /* f - 1 is exact */
    double t2 = t * t;
    double acc = 1.0 / 23.0;
    for (int j = 21; j >= 1; j -= 2)
        acc = acc * t2 + 1.0 / (double)j;
    double lf = 2.0 * t * acc;
    const double ln2_hi = 6.93147180369123816490e-01; /* 0x3FE62E42FEE00000 */
    const double ln2_lo = 1.90821492927058770002e-10; /* 0x3DEA39EF35793C76 */
    return (double)k * ln2_hi + ((double)k * ln2_lo + lf);
}

/* ------------------------------------------------------------ Gaussian */

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void kvc_stats_gaussian_fill(float *x, size_t count, uint64_t seed)
{
    uint64_t st = seed;
    size_t i = 0;
    while (i < count) {
        double u = 2.0 * ((double)(splitmix64(&st) >> 11) * 0x1p-53) - 1.0;
        double v = 2.0 * ((double)(splitmix64(&st) >> 11) * 0x1p-53) - 1.0;
        double s = u * u + v * v;
        if (s >= 1.0 || s == 0.0)
            continue;
        double f = sqrt(-2.0 * kvc__stats_log(s) / s);
        x[i++] = (float)(u * f);
        if (i < count)
            x[i++] = (float)(v * f);
    }
}

