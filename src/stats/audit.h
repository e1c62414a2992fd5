/* kvcert: the non-Gaussian audit of a KV stream (SPEC.md 7.4).
 *
 * For X [N, D] binary32 (D a power of two <= 4096), with the lane sum S of
 * metrics.h (binary64, fixed order) over vectors i, then over dims j:
 *   mu_j  = S_i(x_ij) / N;  d = x_ij - mu_j (binary64)
 *   v_j   = max(S_i(d * d) / N, 1e-12)                (population variance)
 *   m4_j  = S_i((d * d) * (d * d)) / N;  kurt_j = m4_j / (v_j * v_j)
 *   excess_kurtosis_abs          = S_j(|kurt_j - 3|) / D
 *   isotropy_variance_ratio      = max_j v_j / min_j v_j
 *   hadamard_post_variance_ratio = the same ratio for the columns of Y = X H,
 *     row i of Y being H x_i computed in binary32 by codec/hadamard.h (the
 *     codec's fixed butterflies and constant; H is symmetric)
 *   rms_wasserstein2_over_sigma_per_dim: sigma_j = max(sqrt(S_i(e * e) / N),
 *     1e-6), e = y_ij - mu^Y_j; a_ij = |y_ij / sigma_j| (binary64, not
 *     centred); p_j = the 0.99 quantile of column j of a by sorting and
 *     linear interpolation (kvc_stats_quantile_linear); metric =
 *     sqrt(S_j((p_j / 2.326 - 1)^2) / D).
 * Gates fire when a metric EXCEEDS its threshold (0.5, 1.5, 1.5, 0.05).
 *
 * The calibration row: the same metrics on i.i.d. standard Gaussian data of
 * the same N and D, drawn by kvc_stats_gaussian_fill (Marsaglia's polar
 * method on a splitmix64 stream, with kvcert's own binary64 logarithm built
 * from + - * / only; see audit.c). At N = 16 Gaussian data fires all four
 * gates; the W2/sigma proxy scores about 0.107 on Gaussian data at any N
 * (the 0.99 quantile of |z| is 2.5758, compared with 2.326; at N = 2048
 * the h convention and the quantile's spread give 0.106..0.108).
 */
#ifndef KVC_STATS_AUDIT_H
#define KVC_STATS_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

struct kvc_backend; /* core/backend.h */

#define KVC_AUDIT_GATE_KURT 0.5
#define KVC_AUDIT_GATE_ISO 1.5
#define KVC_AUDIT_GATE_HAD 1.5
#define KVC_AUDIT_GATE_W2 0.05
/* The default seed of the calibration row ("kvcert-G"). */
#define KVC_AUDIT_CALIBRATION_SEED 0x6B76636572742D47ull

typedef struct kvc_audit {
    double excess_kurtosis_abs;
    double isotropy_variance_ratio;
    double hadamard_post_variance_ratio;
    double rms_wasserstein2_over_sigma_per_dim;
    uint64_t num_vectors;
    int dim;
} kvc_audit;

typedef enum kvc_audit_gate {
    KVC_GATE_KURT = 0,
    KVC_GATE_ISO = 1,
    KVC_GATE_HAD = 2,
    KVC_GATE_W2 = 3,
    KVC_GATE_COUNT = 4
} kvc_audit_gate;

/* 1 when the gate's metric exceeds its threshold, else 0 (NaN: 0). */
int kvc_audit_gate_fires(const kvc_audit *a, kvc_audit_gate gate);
/* "excess_kurtosis_abs", ... (the published field names); NULL if invalid. */
const char *kvc_audit_gate_name(kvc_audit_gate gate);

/* The audit of x [n, d]. KVC_INVALID_ARGUMENT for n == 0 or d not a power
 * of two in 1..4096; KVC_NOMEM. */
kvc_status kvc_stats_audit(const float *x, size_t n, int d, kvc_audit *out, kvc_error *err);

/* The same audit composed from a backend's operations (core/backend.h:
 * column_moments, hadamard_rows, abs_scaled, column_quantile), only the
 * per-dim results (d values) coming back to the host: x is host or backend
 * memory of be. Every backend gives the bits of kvc_stats_audit, which is
 * this on kvc_backend_cpu(). Work space ([n, d] binary32 and binary64) is
 * taken with be->mem_alloc for the call. KVC_BACKEND_UNAVAILABLE when be
 * lacks one of the operations; the backend's own failures. */
kvc_status kvc_stats_audit_on(const struct kvc_backend *be, const float *x, size_t n, int d,
                              kvc_audit *out, kvc_error *err);

/* kvc_stats_audit_on with the caller's work space: y [n, d] binary32 and
 * a [n, d] binary64, host or backend memory of be (neither overlapping x). */
kvc_status kvc__stats_audit_work(const struct kvc_backend *be, const float *x, size_t n, int d,
                                 float *y, double *a, kvc_audit *out, kvc_error *err);

/* The calibration row: the audit of n x d Gaussian values from seed. */
kvc_status kvc_stats_audit_gaussian(size_t n, int d, uint64_t seed, kvc_audit *out,
                                    kvc_error *err);

/* Fills x[0..count) with standard Gaussian values rounded to binary32:
 * splitmix64(seed) -> U = (r >> 11) 2^-53; u = 2U1 - 1, v = 2U2 - 1,
 * s = u*u + v*v, rejected unless 0 < s < 1; f = sqrt(-2 log(s) / s);
 * emits (float)(u f), then (float)(v f). */
void kvc_stats_gaussian_fill(float *x, size_t count, uint64_t seed);

/* The linear-interpolation quantile of SPEC 7.4 over sorted[0..n):
 * h = q (n - 1); value = v[floor h] + (h - floor h)(v[ceil h] - v[floor h]). */
double kvc_stats_quantile_linear(const double *sorted, size_t n, double q);

/* The audit's per-dim moments of x [n, d] in the documented order:
 * mu_j = S_i(x)/N, var_j = S_i(d*d)/N (raw, before the 1e-12 floor),
 * m4_j = S_i((d*d)*(d*d))/N. KVC_INVALID_ARGUMENT for n == 0 or d < 1. */
kvc_status kvc_stats_column_moments(const float *x, size_t n, int d, double *mu, double *var,
                                    double *m4, kvc_error *err);

/* Per column j of a [n, d] (binary64, row-major): out[j] = the q quantile
 * of the column sorted ascending (-0 before +0, NaN last). */
kvc_status kvc_stats_column_quantile(const double *a, size_t n, int d, double q, double *out,
                                     kvc_error *err);

/* kvcert's natural logarithm for finite x > 0 (binary64, + - * / only;
 * within 2 ulp of the correctly rounded value, tested against libm). */
double kvc__stats_log(double x);

#ifdef __cplusplus
}
#endif

#endif /* KVC_STATS_AUDIT_H */
