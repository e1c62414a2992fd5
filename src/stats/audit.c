/* kvcert: the non-Gaussian audit (see audit.h). */
#include "stats/audit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codec/hadamard.h"
#include "core/backend.h"
#include "stats/metrics.h"

int kvc_audit_gate_fires(const kvc_audit *a, kvc_audit_gate gate)
{
    switch (gate) {
    case KVC_GATE_KURT:
        return a->excess_kurtosis_abs > KVC_AUDIT_GATE_KURT;
    case KVC_GATE_ISO:
        return a->isotropy_variance_ratio > KVC_AUDIT_GATE_ISO;
    case KVC_GATE_HAD:
        return a->hadamard_post_variance_ratio > KVC_AUDIT_GATE_HAD;
    case KVC_GATE_W2:
        return a->rms_wasserstein2_over_sigma_per_dim > KVC_AUDIT_GATE_W2;
    case KVC_GATE_COUNT:
        break;
    }
    return 0;
}

const char *kvc_audit_gate_name(kvc_audit_gate gate)
{
    static const char *const names[] = {"excess_kurtosis_abs", "isotropy_variance_ratio",
                                        "hadamard_post_variance_ratio",
                                        "rms_wasserstein2_over_sigma_per_dim"};
    if ((int)gate < 0 || gate >= KVC_GATE_COUNT)
        return NULL;
    return names[gate];
}

/* ------------------------------------------------------------ quantile */

double kvc_stats_quantile_linear(const double *sorted, size_t n, double q)
{
    if (n == 0)
        return NAN;
    return kvc_quantile_linear_sorted(sorted, (uint64_t)n, q);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    int xn = (x != x), yn = (y != y);
    if (xn || yn)
        return xn - yn; /* NaN sorts last */
    if (x == y) /* -0 before +0: a total order, so every sort gives the same bits */
        return (int)signbit(y) - (int)signbit(x);
    return (x > y) - (x < y);
}

/* ------------------------------------------------------------ the audit */

typedef struct col_moments {
    double *mu, *var_raw, *var, *kurt; /* per dim */
} col_moments;

/* Column moments of a [n, d] binary32 matrix in the documented order.
 * lanes: d * 32 doubles of scratch. */
static void column_moments(const float *x, size_t n, size_t d, double *lanes, col_moments *m)
{
    double nn = (double)n;
    memset(lanes, 0, d * KVC_LANES * sizeof *lanes);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            kvc_lanes_add(lanes + j * KVC_LANES, i, (double)x[i * d + j]);
    for (size_t j = 0; j < d; j++)
        m->mu[j] = kvc_lanes_finish(lanes + j * KVC_LANES) / nn;

    memset(lanes, 0, d * KVC_LANES * sizeof *lanes);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) {
            kvc_lanes_add(lanes + j * KVC_LANES, i, kvc_moment_d2(x[i * d + j], m->mu[j]));
        }
    for (size_t j = 0; j < d; j++) {
        m->var_raw[j] = kvc_lanes_finish(lanes + j * KVC_LANES) / nn;
        m->var[j] = (m->var_raw[j] < 1e-12) ? 1e-12 : m->var_raw[j];
    }

    memset(lanes, 0, d * KVC_LANES * sizeof *lanes);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) {
            kvc_lanes_add(lanes + j * KVC_LANES, i, kvc_moment_d4(x[i * d + j], m->mu[j]));
        }
    for (size_t j = 0; j < d; j++)
        m->kurt[j] = (kvc_lanes_finish(lanes + j * KVC_LANES) / nn) / (m->var[j] * m->var[j]);
}

kvc_status kvc_stats_column_moments(const float *x, size_t n, int d, double *mu, double *var,
                                    double *m4, kvc_error *err)
{
    if (n == 0 || d < 1 || x == NULL || mu == NULL || var == NULL || m4 == NULL)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "moments of %zu vectors of %d dims", n,
                             d);
    size_t dd = (size_t)d;
    double *lanes = malloc(dd * KVC_LANES * sizeof *lanes);
    double *buf = malloc(2 * dd * sizeof *buf);
    if (lanes == NULL || buf == NULL) {
        free(lanes);
        free(buf);
        return kvc_error_set(err, KVC_NOMEM, "moments of %d dims", d);
    }
    col_moments m = {mu, var, buf, buf + dd};
    column_moments(x, n, dd, lanes, &m);
    /* kurt_j = (S4 / N) / (v_j * v_j): undo the division to return S4 / N */
    memset(lanes, 0, dd * KVC_LANES * sizeof *lanes);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < dd; j++)
            kvc_lanes_add(lanes + j * KVC_LANES, i, kvc_moment_d4(x[i * dd + j], mu[j]));
    for (size_t j = 0; j < dd; j++)
        m4[j] = kvc_lanes_finish(lanes + j * KVC_LANES) / (double)n;
    free(lanes);
    free(buf);
    return KVC_OK;
}

kvc_status kvc_stats_column_quantile(const double *a, size_t n, int d, double q, double *out,
                                     kvc_error *err)
{
    if (n == 0 || d < 1 || a == NULL || out == NULL || !(q >= 0.0 && q <= 1.0))
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "quantile %g of %zu x %d", q, n, d);
    double *col = malloc(n * sizeof *col);
    if (col == NULL)
        return kvc_error_set(err, KVC_NOMEM, "quantile column of %zu", n);
    for (size_t j = 0; j < (size_t)d; j++) {
        for (size_t i = 0; i < n; i++)
            col[i] = a[i * (size_t)d + j];
        qsort(col, n, sizeof *col, cmp_double);
        out[j] = kvc_quantile_linear_sorted(col, (uint64_t)n, q);
    }
    free(col);
    return KVC_OK;
}

static double variance_ratio(const double *var, size_t d)
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

/* The metrics of the stream from its moments (host arithmetic on d values). */
static void stream_metrics(const double *var_raw, const double *m4, size_t dd, double *var,
                           double *per_dim, kvc_audit *out)
{
    for (size_t j = 0; j < dd; j++)
        var[j] = (var_raw[j] < 1e-12) ? 1e-12 : var_raw[j];
    for (size_t j = 0; j < dd; j++)
        per_dim[j] = fabs(m4[j] / (var[j] * var[j]) - 3.0);
    out->excess_kurtosis_abs = kvc_stats_lane_sum(per_dim, dd) / (double)dd;
    out->isotropy_variance_ratio = variance_ratio(var, dd);
}

static kvc_status need_op(const void *op, const kvc_backend *be, const char *name,
                          kvc_error *err)
{
    if (op != NULL)
        return KVC_OK;
    return kvc_error_set(err, KVC_BACKEND_UNAVAILABLE, "backend %s has no %s operation",
                         be->name != NULL ? be->name : "?", name);
}

static kvc_status audit_args(const kvc_backend *be, const float *x, size_t n, int d,
                             const kvc_audit *out, kvc_error *err)
{
    if (be == NULL || n == 0 || x == NULL || out == NULL || kvc_hadamard_log2(d) < 0)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT,
                             "audit of %zu vectors of %d dims (a power of two up to 4096)", n, d);
    if (n > SIZE_MAX / (size_t)d / sizeof(double) || n > (size_t)INT64_MAX / (size_t)d)
        return kvc_error_set(err, KVC_LIMIT, "audit of %zu vectors", n);
    kvc_status st = need_op((const void *)be->column_moments, be, "column_moments", err);
    if (st == KVC_OK)
        st = need_op((const void *)be->hadamard_rows, be, "hadamard_rows", err);
    if (st == KVC_OK)
        st = need_op((const void *)be->abs_scaled, be, "abs_scaled", err);
    if (st == KVC_OK)
        st = need_op((const void *)be->column_quantile, be, "column_quantile", err);
    return st;
}

kvc_status kvc__stats_audit_work(const kvc_backend *be, const float *x, size_t n, int d,
                                 float *y, double *a, kvc_audit *out, kvc_error *err)
{
    kvc_status st = audit_args(be, x, n, d, out, err);
    if (st != KVC_OK)
        return st;
    size_t dd = (size_t)d;
    int64_t nn = (int64_t)n;
    double *buf = malloc(6 * dd * sizeof *buf);
    if (buf == NULL)
        return kvc_error_set(err, KVC_NOMEM, "audit of %d dims", d);
    double *mu = buf, *var_raw = buf + dd, *m4 = buf + 2 * dd, *var = buf + 3 * dd,
           *per_dim = buf + 4 * dd, *sigma = buf + 5 * dd;

    /* the stream itself */
    st = be->column_moments(be, x, nn, d, mu, var_raw, m4, err);
    if (st == KVC_OK)
        stream_metrics(var_raw, m4, dd, var, per_dim, out);

    /* Y = X H */
    const float *yy = y;
    if (st == KVC_OK)
        st = be->hadamard_rows(be, x, nn, d, y, err);
    if (st == KVC_OK)
        st = be->column_moments(be, yy, nn, d, mu, var_raw, m4, err);
    if (st == KVC_OK) {
        for (size_t j = 0; j < dd; j++)
            var[j] = (var_raw[j] < 1e-12) ? 1e-12 : var_raw[j];
        out->hadamard_post_variance_ratio = variance_ratio(var, dd);
        /* W2 / sigma proxy */
        for (size_t j = 0; j < dd; j++) {
            sigma[j] = sqrt(var_raw[j]);
            if (sigma[j] < 1e-6)
                sigma[j] = 1e-6;
        }
        st = be->abs_scaled(be, yy, nn, d, sigma, a, err);
    }
    if (st == KVC_OK)
        st = be->column_quantile(be, a, nn, d, 0.99, per_dim, err);
    if (st == KVC_OK) {
        for (size_t j = 0; j < dd; j++) {
            double r = per_dim[j] / 2.326 - 1.0;
            per_dim[j] = r * r;
        }
        out->rms_wasserstein2_over_sigma_per_dim =
            sqrt(kvc_stats_lane_sum(per_dim, dd) / (double)dd);
        out->num_vectors = (uint64_t)n;
        out->dim = d;
    }
    free(buf);
    return st;
}

kvc_status kvc_stats_audit_on(const kvc_backend *be, const float *x, size_t n, int d,
                              kvc_audit *out, kvc_error *err)
{
    kvc_status st = audit_args(be, x, n, d, out, err);
    if (st != KVC_OK)
        return st;
    if (be->mem_alloc == NULL || be->mem_free == NULL)
        return kvc_error_set(err, KVC_BACKEND_UNAVAILABLE, "backend %s has no memory",
                             be->name != NULL ? be->name : "?");
    size_t count = n * (size_t)d;
    void *y = NULL, *a = NULL;
    st = be->mem_alloc(be, count * sizeof(float), &y, err);
    if (st == KVC_OK)
        st = be->mem_alloc(be, count * sizeof(double), &a, err);
    if (st == KVC_OK)
        st = kvc__stats_audit_work(be, x, n, d, (float *)y, (double *)a, out, err);
    be->mem_free(be, a);
    be->mem_free(be, y);
    return st;
}

kvc_status kvc_stats_audit(const float *x, size_t n, int d, kvc_audit *out, kvc_error *err)
{
    return kvc_stats_audit_on(kvc_backend_cpu(), x, n, d, out, err);
}

kvc_status kvc_stats_audit_gaussian(size_t n, int d, uint64_t seed, kvc_audit *out,
                                    kvc_error *err)
{
    if (n == 0 || d <= 0 || n > SIZE_MAX / (size_t)d / sizeof(float))
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "calibration of %zu x %d", n, d);
    float *x = malloc(n * (size_t)d * sizeof *x);
    if (x == NULL)
        return kvc_error_set(err, KVC_NOMEM, "calibration of %zu x %d", n, d);
    kvc_stats_gaussian_fill(x, n * (size_t)d, seed);
    kvc_status st = kvc_stats_audit(x, n, d, out, err);
    free(x);
    return st;
}
