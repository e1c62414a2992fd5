/* Tests for stats/audit.h: quantiles by hand, known-answer kurtosis and
 * isotropy, the metrics against a straightforward binary64 oracle, the
 * Gaussian generator and its logarithm, and W2/sigma on Gaussian data. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/hadamard.h"
#include "core/backend.h"
#include "stats/audit.h"
#include "stats/metrics.h"
#include "testutil.h"

#define REQUIRE(c)                                                             \
    do {                                                                       \
        if (!(c))                                                              \
            ck_abort_msg("%s:%d: failed: %s", __FILE__, __LINE__, #c);         \
    } while (0)

START_TEST(quantile_by_hand)
{
    double v[2048];
    for (int i = 0; i < 2048; i++)
        v[i] = (double)i * i;
    /* n = 1: the value */
    ck_assert(kvc_stats_quantile_linear(v + 3, 1, 0.99) == 9.0);
    /* n = 2: h = 0.99: 0 + 0.99 * (1 - 0) */
    ck_assert(kvc_stats_quantile_linear(v, 2, 0.99) == 0.99);
    /* n = 11 (squares): h = 9.9: 81 + 0.9 * 19 = 98.1 */
    ck_assert(fabs(kvc_stats_quantile_linear(v, 11, 0.99) - 98.1) < 1e-12);
    /* n = 101: h = 99 exactly: v[99], no interpolation */
    ck_assert(kvc_stats_quantile_linear(v, 101, 0.99) == 9801.0);
    /* n = 2048: h = 2026.53: 2026^2 + 0.53 * (2027^2 - 2026^2) = 4104676 + 0.53 * 4053 */
    ck_assert(fabs(kvc_stats_quantile_linear(v, 2048, 0.99) - (4104676.0 + 0.53 * 4053.0)) <
              1e-6);
    ck_assert(kvc_stats_quantile_linear(v, 5, 1.0) == 16.0);
    ck_assert(kvc_stats_quantile_linear(v, 5, 0.0) == 0.0);
    ck_assert(isnan(kvc_stats_quantile_linear(v, 0, 0.5)));
}
END_TEST

/* Every column alternating +-1 (N even): mu = 0, v = 1, m4 = 1, kurt = 1,
 * |kurt - 3| = 2 exactly; all variances equal: ratio 1. Columns scaled by
 * 1, 2, 4 (exact): variances 1, 4, 16: ratio 16 exactly. A {0,0,0,1}
 * column: kurt = (3 (1/4)^4 + (3/4)^4)/4 / (3/16)^2 = 7/3. */
START_TEST(known_answers)
{
    enum { N = 64, D = 8 };
    static float x[N * D];
    kvc_audit a;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++)
            x[i * D + j] = (i % 2) ? -1.0f : 1.0f;
    ck_assert_int_eq(kvc_stats_audit(x, N, D, &a, NULL), KVC_OK);
    ck_assert(a.excess_kurtosis_abs == 2.0);
    ck_assert(a.isotropy_variance_ratio == 1.0);
    ck_assert_uint_eq(a.num_vectors, N);
    ck_assert_int_eq(a.dim, D);
    /* every row is +-(1,...,1): H maps it to +-(sqrt 8, 0, ...): column 0
     * has variance 8 c^2 sqrt(8)^2 ~ 8, the rest 0 -> the 1e-12 floor */
    ck_assert(a.hadamard_post_variance_ratio > 1e12);

    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++)
            x[i * D + j] = ((i % 2) ? -1.0f : 1.0f) * (float)(1 << (j % 3));
    ck_assert_int_eq(kvc_stats_audit(x, N, D, &a, NULL), KVC_OK);
    ck_assert(a.isotropy_variance_ratio == 16.0);
    ck_assert(a.excess_kurtosis_abs == 2.0);

    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++)
            x[i * D + j] = (i % 4 == 3) ? 1.0f : 0.0f;
    ck_assert_int_eq(kvc_stats_audit(x, N, D, &a, NULL), KVC_OK);
    ck_assert(fabs(a.excess_kurtosis_abs - (3.0 - 7.0 / 3.0)) < 1e-15);

    /* gates: strictly greater than the threshold */
    kvc_audit g = {0.5, 1.5000001, 1.4, 0.05, 0, 0};
    ck_assert_int_eq(kvc_audit_gate_fires(&g, KVC_GATE_KURT), 0);
    ck_assert_int_eq(kvc_audit_gate_fires(&g, KVC_GATE_ISO), 1);
    ck_assert_int_eq(kvc_audit_gate_fires(&g, KVC_GATE_HAD), 0);
    ck_assert_int_eq(kvc_audit_gate_fires(&g, KVC_GATE_W2), 0);
    ck_assert_str_eq(kvc_audit_gate_name(KVC_GATE_W2), "rms_wasserstein2_over_sigma_per_dim");
    ck_assert_ptr_null(kvc_audit_gate_name(KVC_GATE_COUNT));
}
END_TEST

/* Against a straightforward oracle: long double two-pass moments, the
 * O(D^2) binary64 Hadamard product, qsort and the SPEC quantile. The
 * kurtosis and isotropy use the same binary32 inputs: 1e-12 relative.
 * Y differs (binary32 butterflies vs binary64 product) by ~1e-7
 * relative: 1e-5 relative for the Hadamard ratio and W2/sigma. */
static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

START_TEST(matches_binary64_oracle)
{
    enum { N = 300, D = 64 };
    static float x[N * D];
    static double y[N * D];
    uint64_t st = 0xA0D17ull;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) {
            double u = (double)(kvc_test_rand64(&st) >> 11) * 0x1p-53;
            double g = (u - 0.5) * (1 + (j % 4)) + (j == 5 ? 3 * u * u * u : 0.0);
            x[i * D + j] = (float)g;
        }
    kvc_audit a;
    ck_assert_int_eq(kvc_stats_audit(x, N, D, &a, NULL), KVC_OK);
    long double ek = 0, vmin = INFINITY, vmax = 0;
    for (int j = 0; j < D; j++) {
        long double mu = 0, v = 0, m4 = 0;
        for (int i = 0; i < N; i++)
            mu += x[i * D + j];
        mu /= N;
        for (int i = 0; i < N; i++) {
            long double d = x[i * D + j] - mu;
            v += d * d;
            m4 += d * d * d * d;
        }
        v /= N;
        m4 /= N;
        ek += fabsl(m4 / (v * v) - 3);
        vmin = fminl(vmin, v);
        vmax = fmaxl(vmax, v);
    }
    ek /= D;
    ck_assert(fabsl(a.excess_kurtosis_abs - ek) <= 1e-12L * ek);
    ck_assert(fabsl(a.isotropy_variance_ratio - vmax / vmin) <= 1e-12L * (vmax / vmin));
    for (int i = 0; i < N; i++)
        for (int k = 0; k < D; k++) {
            double s = 0;
            for (int j = 0; j < D; j++)
                s += ((__builtin_popcount((unsigned)(j & k)) & 1) ? -1.0 : 1.0) * x[i * D + j];
            y[i * D + k] = s / sqrt((double)D);
        }
    double hmin = INFINITY, hmax = 0, w2 = 0, col[N];
    for (int k = 0; k < D; k++) {
        double mu = 0, v = 0;
        for (int i = 0; i < N; i++)
            mu += y[i * D + k];
        mu /= N;
        for (int i = 0; i < N; i++)
            v += (y[i * D + k] - mu) * (y[i * D + k] - mu);
        v /= N;
        hmin = fmin(hmin, v);
        hmax = fmax(hmax, v);
        for (int i = 0; i < N; i++)
            col[i] = fabs(y[i * D + k] / sqrt(v));
        qsort(col, N, sizeof col[0], cmp);
        double h = 0.99 * (N - 1);
        int lo = (int)floor(h), hi = (int)ceil(h);
        double p = col[lo] + (h - lo) * (col[hi] - col[lo]);
        w2 += (p / 2.326 - 1) * (p / 2.326 - 1);
    }
    w2 = sqrt(w2 / D);
    ck_assert(fabs(a.hadamard_post_variance_ratio - hmax / hmin) <= 1e-5 * (hmax / hmin));
    ck_assert(fabs(a.rms_wasserstein2_over_sigma_per_dim - w2) <= 1e-5 * w2);
}
END_TEST

/* The logarithm: within 2 ulp of libm's (itself within 1 ulp) over a
 * geometric sweep of (0, 1] (the generator's domain), wider normals and
 * subnormals. */
START_TEST(log_accuracy)
{
    uint64_t st = 11;
    double worst = 0.0;
    for (int t = 0; t < 200000; t++) {
        double u = (double)(kvc_test_rand64(&st) >> 11) * 0x1p-53;
        int e = (int)(kvc_test_rand64(&st) % 2100u) - 1074;
        double x = ldexp(0.5 + 0.5 * u, e > 1000 ? 0 : e);
        if (x == 0.0 || !isfinite(x))
            continue;
        double got = kvc__stats_log(x), want = log(x);
        double ulp = fabs(nextafter(want, INFINITY) - want);
        double err = fabs(got - want) / ulp;
        if (err > worst)
            worst = err;
    }
    ck_assert_msg(worst <= 2.0, "worst %g ulp", worst);
    ck_assert(kvc__stats_log(1.0) == 0.0);
    ck_assert(fabs(kvc__stats_log(2.0) - 0.6931471805599453) <= 1.2e-16);
}
END_TEST

/* The generator is deterministic and Gaussian: on 2^20 draws the mean,
 * variance and kurtosis sit within 5 standard errors of 0, 1, 3
 * (se 1e-3, 1.4e-3, 4.8e-3), and the tail P(|z| > 2.5758) within 5 se of
 * 0.01 (se 1e-4). */
START_TEST(gaussian_generator)
{
    enum { M = 1 << 20 };
    float *a = malloc(M * sizeof *a), *b = malloc(M * sizeof *b);
    ck_assert(a != NULL && b != NULL);
    kvc_stats_gaussian_fill(a, M, 42);
    kvc_stats_gaussian_fill(b, M, 42);
    ck_assert_int_eq(memcmp(a, b, M * sizeof *a), 0);
    kvc_stats_gaussian_fill(b, M, 43);
    ck_assert_int_ne(memcmp(a, b, M * sizeof *a), 0);
    kvc_stats_gaussian_fill(b, 7, 42); /* a prefix is the same stream */
    ck_assert_int_eq(memcmp(a, b, 7 * sizeof *a), 0);
    long double s1 = 0, s2 = 0, s4 = 0;
    long tail = 0;
    for (int i = 0; i < M; i++) {
        s1 += a[i];
        s2 += (long double)a[i] * a[i];
        s4 += (long double)a[i] * a[i] * a[i] * a[i];
        tail += fabsf(a[i]) > 2.5758293f;
    }
    double mean = (double)(s1 / M), var = (double)(s2 / M), kurt = (double)(s4 / M) / (var * var);
    ck_assert(fabs(mean) < 5e-3);
    ck_assert(fabs(var - 1.0) < 7e-3);
    ck_assert(fabs(kurt - 3.0) < 0.025);
    ck_assert(fabs((double)tail / M - 0.01) < 5e-4);
    free(a);
    free(b);
}
END_TEST

/* W2/sigma on Gaussian data (SPEC 7.4: "about 0.107 at any N").
 * Asymptotically p_j -> q = 2.5758 (the 0.99 quantile of |z|) and the
 * metric -> q/2.326 - 1 = 0.1074. At N = 2048 two effects move it:
 * h = 0.99 (N - 1) makes p_j estimate the ~0.9895 quantile (2.565, bias
 * term 0.1028), and p_j's sampling spread (sd ~0.063 once z is scaled by
 * the sample sigma, measured by Monte Carlo) adds (0.063/2.326)^2 to the
 * mean square: sqrt(0.1028^2 + 0.027^2) = 0.1063 per column. Averaging
 * over D = 512 columns leaves an sd of ~0.0012. Tolerance: 0.107 +- 0.004
 * (covers both the SPEC figure and the finite-N value with 3 sd).
 * N = 32768, D = 64: bias 0.1071, spread negligible, sd ~0.001: same
 * tolerance. */
START_TEST(w2_on_gaussian_data)
{
    kvc_audit a;
    ck_assert_int_eq(kvc_stats_audit_gaussian(2048, 512, KVC_AUDIT_CALIBRATION_SEED, &a, NULL),
                     KVC_OK);
    printf("calibration N=2048 D=512: |kurt-3| %.4f iso %.4f had %.4f W2/sigma %.4f\n",
           a.excess_kurtosis_abs, a.isotropy_variance_ratio, a.hadamard_post_variance_ratio,
           a.rms_wasserstein2_over_sigma_per_dim);
    fflush(stdout);
    ck_assert(fabs(a.rms_wasserstein2_over_sigma_per_dim - 0.107) < 0.004);
    /* kurtosis of a Gaussian sample: kurt - 3 has sd sqrt(24/N) = 0.108, so
     * E|kurt - 3| ~ 0.108 sqrt(2/pi) = 0.086; the mean of 512 columns has
     * sd ~0.0029: tolerance 0.015 */
    ck_assert(fabs(a.excess_kurtosis_abs - 0.086) < 0.015);
    ck_assert_int_eq(kvc_audit_gate_fires(&a, KVC_GATE_KURT), 0);
    ck_assert_int_eq(kvc_audit_gate_fires(&a, KVC_GATE_W2), 1);
    ck_assert_int_eq(kvc_stats_audit_gaussian(32768, 64, 7, &a, NULL), KVC_OK);
    ck_assert(fabs(a.rms_wasserstein2_over_sigma_per_dim - 0.107) < 0.004);
    /* N = 16: all four gates fire */
    ck_assert_int_eq(kvc_stats_audit_gaussian(16, 512, KVC_AUDIT_CALIBRATION_SEED, &a, NULL),
                     KVC_OK);
    for (int g = 0; g < KVC_GATE_COUNT; g++)
        ck_assert_int_eq(kvc_audit_gate_fires(&a, (kvc_audit_gate)g), 1);
}
END_TEST

START_TEST(bad_arguments)
{
    float x[12] = {0};
    kvc_audit a;
    kvc_error e;
    kvc_error_clear(&e);
    ck_assert_int_eq(kvc_stats_audit(x, 0, 4, &a, &e), KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(kvc_stats_audit(x, 2, 6, &a, &e), KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(kvc_stats_audit(x, 1, 8192, &a, &e), KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(kvc_stats_audit_gaussian(0, 4, 1, &a, &e), KVC_INVALID_ARGUMENT);
    /* a single vector: variances 0 -> 1e-12, ratios 1 */
    ck_assert_int_eq(kvc_stats_audit(x, 1, 4, &a, &e), KVC_OK);
    ck_assert(a.isotropy_variance_ratio == 1.0);
}
END_TEST


/* ------------------------------------------------------------ the old algorithm */
/* A literal transcription of kvc_stats_audit as it was before it was
 * composed from backend operations (host loops over the shared scalar
 * code); kvc_stats_audit_on on the CPU table must give its bits. */

static int old_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    int xn = (x != x), yn = (y != y);
    if (xn || yn)
        return xn - yn;
    if (x == y)
        return (int)signbit(y) - (int)signbit(x);
    return (x > y) - (x < y);
}

static void old_moments(const float *x, size_t n, size_t d, double *lanes, double *mu,
                        double *var_raw, double *var, double *kurt)
{
    double nn = (double)n;
    memset(lanes, 0, d * KVC_LANES * sizeof *lanes);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            kvc_lanes_add(lanes + j * KVC_LANES, i, (double)x[i * d + j]);
    for (size_t j = 0; j < d; j++)
        mu[j] = kvc_lanes_finish(lanes + j * KVC_LANES) / nn;
    memset(lanes, 0, d * KVC_LANES * sizeof *lanes);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            kvc_lanes_add(lanes + j * KVC_LANES, i, kvc_moment_d2(x[i * d + j], mu[j]));
    for (size_t j = 0; j < d; j++) {
        var_raw[j] = kvc_lanes_finish(lanes + j * KVC_LANES) / nn;
        var[j] = (var_raw[j] < 1e-12) ? 1e-12 : var_raw[j];
    }
    memset(lanes, 0, d * KVC_LANES * sizeof *lanes);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            kvc_lanes_add(lanes + j * KVC_LANES, i, kvc_moment_d4(x[i * d + j], mu[j]));
    for (size_t j = 0; j < d; j++)
        kurt[j] = (kvc_lanes_finish(lanes + j * KVC_LANES) / nn) / (var[j] * var[j]);
}

static double old_ratio(const double *var, size_t d)
{
    double lo = var[0], hi = var[0];
    for (size_t j = 1; j < d; j++) {
        if (var[j] < lo)
            lo = var[j];
        if (var[j] > hi)
            hi = var[j];
    }
    return hi / lo;
}

static void old_audit(const float *x, size_t n, int d, kvc_audit *out)
{
    size_t dd = (size_t)d;
    double *lanes = malloc(dd * KVC_LANES * sizeof *lanes);
    double *buf = malloc(5 * dd * sizeof *buf);
    double *col = malloc(n * sizeof *col);
    float *y = malloc(n * dd * sizeof *y);
    REQUIRE(lanes != NULL && buf != NULL && col != NULL && y != NULL);
    double *mu = buf, *var_raw = buf + dd, *var = buf + 2 * dd, *kurt = buf + 3 * dd,
           *per_dim = buf + 4 * dd;
    old_moments(x, n, dd, lanes, mu, var_raw, var, kurt);
    for (size_t j = 0; j < dd; j++)
        per_dim[j] = fabs(kurt[j] - 3.0);
    out->excess_kurtosis_abs = kvc_stats_lane_sum(per_dim, dd) / (double)dd;
    out->isotropy_variance_ratio = old_ratio(var, dd);
    float c = kvc_hadamard_scale(d);
    memcpy(y, x, n * dd * sizeof *y);
    for (size_t i = 0; i < n; i++)
        kvc_hadamard_f32(y + i * dd, d, c);
    old_moments(y, n, dd, lanes, mu, var_raw, var, kurt);
    out->hadamard_post_variance_ratio = old_ratio(var, dd);
    for (size_t j = 0; j < dd; j++) {
        double sigma = sqrt(var_raw[j]);
        if (sigma < 1e-6)
            sigma = 1e-6;
        for (size_t i = 0; i < n; i++)
            col[i] = kvc_abs_scaled(y[i * dd + j], sigma);
        qsort(col, n, sizeof *col, old_cmp);
        double p = kvc_stats_quantile_linear(col, n, 0.99);
        double r = p / 2.326 - 1.0;
        per_dim[j] = r * r;
    }
    out->rms_wasserstein2_over_sigma_per_dim = sqrt(kvc_stats_lane_sum(per_dim, dd) / (double)dd);
    out->num_vectors = (uint64_t)n;
    out->dim = d;
    free(lanes);
    free(buf);
    free(col);
    free(y);
}

static uint64_t dbits(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

static void same_audit(const kvc_audit *a, const kvc_audit *b)
{
    ck_assert_uint_eq(dbits(a->excess_kurtosis_abs), dbits(b->excess_kurtosis_abs));
    ck_assert_uint_eq(dbits(a->isotropy_variance_ratio), dbits(b->isotropy_variance_ratio));
    ck_assert_uint_eq(dbits(a->hadamard_post_variance_ratio),
                      dbits(b->hadamard_post_variance_ratio));
    ck_assert_uint_eq(dbits(a->rms_wasserstein2_over_sigma_per_dim),
                      dbits(b->rms_wasserstein2_over_sigma_per_dim));
    ck_assert_uint_eq(a->num_vectors, b->num_vectors);
    ck_assert_int_eq(a->dim, b->dim);
}

/* Shapes (n, d) and data kinds: 0 wide-range values with signed zeros and
 * repeats (ties in the quantile sort), 1 bf16-like values on a few scales,
 * 2 a constant column per dim (variance floors). */
static const struct {
    size_t n;
    int d;
    int kind;
} g_shapes[] = {{1, 1, 0}, {7, 1, 0}, {3, 2, 0}, {37, 8, 0}, {300, 64, 1}, {129, 512, 1},
                {16, 512, 0}, {50, 4, 2},  {200, 16, 0}};

static void fill_kind(float *x, size_t n, int d, int kind, uint64_t seed)
{
    uint64_t st = seed;
    for (size_t i = 0; i < n * (size_t)d; i++) {
        uint64_t r = kvc_test_rand64(&st);
        double u = (double)(r >> 11) * 0x1p-53 * 2.0 - 1.0;
        if (kind == 0) {
            int e = (int)((r >> 3) % 40) - 20;
            x[i] = (r & 7) == 0 ? ((r & 8) ? -0.0f : 0.0f)
                   : (r & 7) == 1 ? 1.5f
                                  : (float)ldexp(u, e);
        } else if (kind == 1) {
            float f = (float)(u * (double)(1u << ((r >> 5) % 4)));
            uint32_t b;
            memcpy(&b, &f, sizeof b);
            b &= 0xFFFF0000u; /* a bf16 value */
            memcpy(&x[i], &b, sizeof b);
        } else {
            x[i] = (float)((i % (size_t)d) + 1) * 0.25f;
        }
    }
}

START_TEST(on_cpu_equals_old_algorithm)
{
    size_t n = g_shapes[_i].n;
    int d = g_shapes[_i].d;
    float *x = malloc(n * (size_t)d * sizeof *x);
    REQUIRE(x != NULL);
    fill_kind(x, n, d, g_shapes[_i].kind, 0x5eed0000u + (uint64_t)_i);
    kvc_audit want, got, got2, got3;
    old_audit(x, n, d, &want);
    const kvc_backend *be = kvc_backend_cpu();
    ck_assert_int_eq(kvc_stats_audit_on(be, x, n, d, &got, NULL), KVC_OK);
    same_audit(&got, &want);
    ck_assert_int_eq(kvc_stats_audit(x, n, d, &got2, NULL), KVC_OK);
    same_audit(&got2, &want);
    /* x in backend memory */
    void *bx = NULL;
    size_t bytes = n * (size_t)d * sizeof *x;
    ck_assert_int_eq(be->mem_alloc(be, bytes, &bx, NULL), KVC_OK);
    ck_assert_int_eq(be->mem_upload(be, bx, x, bytes, NULL), KVC_OK);
    ck_assert_int_eq(kvc_stats_audit_on(be, (const float *)bx, n, d, &got3, NULL), KVC_OK);
    same_audit(&got3, &want);
    be->mem_free(be, bx);
    /* a scalar-ISA CPU table: the same bits */
    kvc_backend *sc = NULL;
    ck_assert_int_eq(kvc_backend_cpu_create(KVC_CPU_ISA_SCALAR, 1, &sc, NULL), KVC_OK);
    ck_assert_int_eq(kvc_stats_audit_on(sc, x, n, d, &got3, NULL), KVC_OK);
    same_audit(&got3, &want);
    kvc_backend_cpu_destroy(sc);
    free(x);
}
END_TEST

/* A table that lacks an operation: KVC_BACKEND_UNAVAILABLE, nothing run. */
START_TEST(on_missing_operation)
{
    float x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    kvc_audit a;
    kvc_error e;
    kvc_backend t = *kvc_backend_cpu();
    t.column_quantile = NULL;
    kvc_error_clear(&e);
    ck_assert_int_eq(kvc_stats_audit_on(&t, x, 2, 4, &a, &e), KVC_BACKEND_UNAVAILABLE);
    t = *kvc_backend_cpu();
    t.hadamard_rows = NULL;
    ck_assert_int_eq(kvc_stats_audit_on(&t, x, 2, 4, &a, &e), KVC_BACKEND_UNAVAILABLE);
    ck_assert_int_eq(kvc_stats_audit_on(NULL, x, 2, 4, &a, &e), KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(kvc_stats_audit_on(kvc_backend_cpu(), x, 2, 3, &a, &e),
                     KVC_INVALID_ARGUMENT);
}
END_TEST

static Suite *audit_suite(void)
{
    Suite *s = suite_create("audit");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, quantile_by_hand);
    tcase_add_test(tc, known_answers);
    tcase_add_test(tc, matches_binary64_oracle);
    tcase_add_test(tc, log_accuracy);
    tcase_add_test(tc, gaussian_generator);
    tcase_add_test(tc, w2_on_gaussian_data);
    tcase_add_test(tc, bad_arguments);
    tcase_add_loop_test(tc, on_cpu_equals_old_algorithm, 0,
                        (int)(sizeof g_shapes / sizeof g_shapes[0]));
    tcase_add_test(tc, on_missing_operation);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return kvc_test_run(audit_suite());
}
