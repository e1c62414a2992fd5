/* kvcert: reconstruction metrics (SPEC.md 7.3) and the fixed-order
 * binary64 sum shared with the audit (audit.h).
 *
 * THE LANE SUM S(t_0 .. t_{m-1}), the only reduction of these modules:
 *   lanes l = 0..31 start at +0.0; term t_k is added to lane (k mod 32), in
 *   ascending k (P_l = P_l + t_k, binary64);
 *   then the tree: for off = 16, 8, 4, 2, 1: P_l = P_l + P_{l+off} for
 *   l < off; the result is P_0.
 * A CUDA warp reproduces it exactly: lane l strides k = l, l+32, ...; then
 * __shfl_down_sync with offsets 16, 8, 4, 2, 1 (adding the partner's value
 * to its own, in that order). Terms are formed in binary64 from binary32
 * inputs (widening is exact), each product and difference rounded once;
 * no fused multiply-add.
 *
 * For X, X^ of shape [N, D] (row-major; x_ij = vector i, dim j):
 *   mu_j  = S_i(x_ij) / N                                (S over i = 0..N-1)
 *   SST   = S_j( S_i( d * d ) ),  d = x_ij - mu_j         (outer S over j)
 *   SSE   = S_j( S_i( e * e ) ),  e = x_ij - x^_ij
 *   rel_mse = SSE / max(SST, 1e-12)
 *   c_i   = S_j(x_ij * x^_ij) / max(sqrt(S_j(x_ij^2)) * sqrt(S_j(x^_ij^2)), 1e-12)
 *   cos_sim = S_i(c_i) / N
 * sqrt is IEEE binary64 sqrt. A NaN input gives NaN metrics.
 */
#ifndef KVC_STATS_METRICS_H
#define KVC_STATS_METRICS_H

#include <math.h> /* sqrt: IEEE correctly rounded (DESIGN rule 2) */
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/hd.h"

#define KVC_LANES 32

KVC_HD void kvc_lanes_clear(double *p)
{
    for (int l = 0; l < KVC_LANES; l++)
        p[l] = 0.0;
}

/* Adds term number k. */
KVC_HD void kvc_lanes_add(double *p, uint64_t k, double t)
{
    p[k & (KVC_LANES - 1)] = p[k & (KVC_LANES - 1)] + t;
}

/* The tree; destroys p and returns the sum. */
KVC_HD double kvc_lanes_finish(double *p)
{
    for (int off = KVC_LANES / 2; off >= 1; off >>= 1)
        for (int l = 0; l < off; l++)
            p[l] = p[l] + p[l + off];
    return p[0];
}

/* The linear-interpolation quantile of SPEC 7.4 over sorted[0..n), n >= 1:
 * h = q (n - 1); value = v[floor h] + (h - floor h)(v[ceil h] - v[floor h]).
 * Shared by the CPU (kvc_stats_quantile_linear) and the CUDA backend. */
KVC_HD double kvc_quantile_linear_sorted(const double *sorted, uint64_t n, double q)
{
    double h = q * (double)(n - 1);
    uint64_t lo = (uint64_t)h; /* h >= 0: truncation is floor */
    if (lo >= n - 1)           /* q = 1, or n = 1: floor h = ceil h = n - 1 */
        return sorted[n - 1];
    double frac = h - (double)lo;
    uint64_t hi = (frac > 0.0) ? lo + 1 : lo;
    return sorted[lo] + frac * (sorted[hi] - sorted[lo]);
}

/* The audit's central-moment terms (one definition for CPU and GPU). */
KVC_HD double kvc_moment_d2(float x, double mu)
{
    double dv = (double)x - mu;
    return dv * dv;
}

KVC_HD double kvc_moment_d4(float x, double mu)
{
    double d2 = kvc_moment_d2(x, mu);
    return d2 * d2;
}

/* The audit's W2 term (SPEC 7.4): |y / sigma| in binary64, z not centred. */
KVC_HD double kvc_abs_scaled(float y, double sigma)
{
    return fabs((double)y / sigma); /* a sign-bit clear: exact, -0 becomes +0 */
}

/* The metric terms: e*e with e = x - x^, and the cosine of one vector. */
KVC_HD double kvc_metric_e2(float x, float xh)
{
    double e = (double)x - (double)xh;
    return e * e;
}

KVC_HD double kvc_metric_cos(double dot, double sx, double sh)
{
    double den = sqrt(sx) * sqrt(sh);
    if (den < 1e-12)
        den = 1e-12;
    return dot / den;
}

#ifdef __cplusplus
extern "C" {
#endif

/* S(t_0 .. t_{m-1}) of an array. */
double kvc_stats_lane_sum(const double *t, size_t m);

typedef struct kvc_recon_metrics {
    double rel_mse;
    double cos_sim;
    double sse;          /* sum of squared errors */
    double sst;          /* sum of squared deviations from the per-dim mean */
    uint64_t num_vectors;
    int dim;
} kvc_recon_metrics;

/* rel_mse and cos_sim of xhat against x, both [n, d] binary32.
 * KVC_INVALID_ARGUMENT for n == 0 or d <= 0; KVC_NOMEM. */
kvc_status kvc_stats_recon(const float *x, const float *xhat, size_t n, int d,
                           kvc_recon_metrics *out, kvc_error *err);

#ifdef __cplusplus
}
#endif

#endif /* KVC_STATS_METRICS_H */
