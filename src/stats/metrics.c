/* kvcert: reconstruction metrics in the fixed order of metrics.h. */
#include "stats/metrics.h"

#include <math.h>
#include <stdlib.h>

double kvc_stats_lane_sum(const double *t, size_t m)
{
    double p[KVC_LANES];
    kvc_lanes_clear(p);
    for (size_t k = 0; k < m; k++)
        kvc_lanes_add(p, (uint64_t)k, t[k]);
    return kvc_lanes_finish(p);
}

/* Per-dim lane partials: lanes[j * 32 + l]. */
typedef struct dim_lanes {
    double *lanes;
    int d;
} dim_lanes;

static kvc_status dim_lanes_alloc(dim_lanes *dl, int d, kvc_error *err)
{
    dl->d = d;
    dl->lanes = calloc((size_t)d * KVC_LANES, sizeof *dl->lanes);
    if (dl->lanes == NULL)
        return kvc_error_set(err, KVC_NOMEM, "%d x %d lane partials", d, KVC_LANES);
    return KVC_OK;
}

/* Finishes every dim's lane sum into per_dim[d]. */
static void dim_lanes_finish(dim_lanes *dl, double *per_dim)
{
    for (int j = 0; j < dl->d; j++)
        per_dim[j] = kvc_lanes_finish(dl->lanes + (size_t)j * KVC_LANES);
}

kvc_status kvc_stats_recon(const float *x, const float *xhat, size_t n, int d,
                           kvc_recon_metrics *out, kvc_error *err)
{
    if (n == 0 || d <= 0 || x == NULL || xhat == NULL || out == NULL)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "metrics of %zu vectors of %d dims", n,
                             d);
    dim_lanes dl;
    kvc_status st = dim_lanes_alloc(&dl, d, err);
    if (st != KVC_OK)
        return st;
    double *mu = malloc((size_t)d * sizeof *mu);
    double *per_dim = malloc((size_t)d * sizeof *per_dim);
    if (mu == NULL || per_dim == NULL) {
        free(mu);
        free(per_dim);
        free(dl.lanes);
        return kvc_error_set(err, KVC_NOMEM, "metrics of %d dims", d);
    }
    size_t dd = (size_t)d;
    double nn = (double)n;

    /* mu_j */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < dd; j++)
            kvc_lanes_add(dl.lanes + j * KVC_LANES, i, (double)x[i * dd + j]);
    dim_lanes_finish(&dl, mu);
    for (size_t j = 0; j < dd; j++)
        mu[j] = mu[j] / nn;

    /* SST */
    for (size_t k = 0; k < dd * KVC_LANES; k++)
        dl.lanes[k] = 0.0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < dd; j++) {
            kvc_lanes_add(dl.lanes + j * KVC_LANES, i, kvc_moment_d2(x[i * dd + j], mu[j]));
        }
    dim_lanes_finish(&dl, per_dim);
    double sst = kvc_stats_lane_sum(per_dim, dd);

    /* SSE */
    for (size_t k = 0; k < dd * KVC_LANES; k++)
        dl.lanes[k] = 0.0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < dd; j++) {
            kvc_lanes_add(dl.lanes + j * KVC_LANES, i, kvc_metric_e2(x[i * dd + j], xhat[i * dd + j]));
        }
    dim_lanes_finish(&dl, per_dim);
    double sse = kvc_stats_lane_sum(per_dim, dd);

    /* cos_sim: per vector sums over j, then over i */
    double ci[KVC_LANES];
    kvc_lanes_clear(ci);
    for (size_t i = 0; i < n; i++) {
        double pd[KVC_LANES], px[KVC_LANES], ph[KVC_LANES];
        kvc_lanes_clear(pd);
        kvc_lanes_clear(px);
        kvc_lanes_clear(ph);
        for (size_t j = 0; j < dd; j++) {
            double a = (double)x[i * dd + j], b = (double)xhat[i * dd + j];
            kvc_lanes_add(pd, j, a * b);
            kvc_lanes_add(px, j, a * a);
            kvc_lanes_add(ph, j, b * b);
        }
        double dot = kvc_lanes_finish(pd);
        double sx = kvc_lanes_finish(px);
        kvc_lanes_add(ci, i, kvc_metric_cos(dot, sx, kvc_lanes_finish(ph)));
    }
    double cos_sum = kvc_lanes_finish(ci);

    out->sse = sse;
    out->sst = sst;
    out->rel_mse = sse / (sst < 1e-12 ? 1e-12 : sst);
    out->cos_sim = cos_sum / nn;
    out->num_vectors = (uint64_t)n;
    out->dim = d;
    free(mu);
    free(per_dim);
    free(dl.lanes);
    return KVC_OK;
}
