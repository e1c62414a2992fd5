/* kvcert: RMSNorm (SPEC 5.2), shared by the CPU and CUDA backends.
 *
 * y = bf16(g * (x * r)), r = 1.0f / sqrtf(mean + eps), all binary32:
 *  - the sum of squares has a fixed order that one CUDA warp follows:
 *    32 lane partials, lane l accumulating x[l], x[l+32], x[l+64], ... in
 *    ascending index with one fmaf per step (s = fmaf(x, x, s), from +0);
 *    the partials are then combined by the pairwise tree of a warp
 *    reduction: for w = 16, 8, 4, 2, 1: s[l] = s[l] + s[l+w] (l < w).
 *    The result is s[0].
 *  - mean = sum / fp32(d) (a true division; exact scaling for d = 512);
 *  - sqrtf and the division 1.0f / sqrt are correctly rounded (IEEE);
 *  - then x * r, times g, each one rounding; the product to bf16.
 * g is the bf16 norm weight widened to binary32.
 */
#ifndef KVC_V4_NORM_H
#define KVC_V4_NORM_H

#include <math.h>

#include "core/formats.h"
#include "core/hd.h"

#define KVC_NORM_LANES 32

/* Lane l's partial of the sum of squares: x[l], x[l+32], ... ascending. */
KVC_HD float kvc_sumsq_lane(const float *x, int64_t d, int l)
{
    float acc = 0.0f;
    for (int64_t i = l; i < d; i += KVC_NORM_LANES)
        acc = fmaf(x[i], x[i], acc);
    return acc;
}

/* The fixed-order sum of squares of x[0..d). (A CUDA warp computes the
 * same: lane l's kvc_sumsq_lane, then s = s + shfl_down(s, w) for
 * w = 16 .. 1, which is this tree.) */
KVC_HD float kvc_sumsq_lanes(const float *x, int64_t d)
{
    float s[KVC_NORM_LANES];
    for (int l = 0; l < KVC_NORM_LANES; l++)
        s[l] = kvc_sumsq_lane(x, d, l);
    for (int w = KVC_NORM_LANES / 2; w >= 1; w /= 2)
        for (int l = 0; l < w; l++)
            s[l] = s[l] + s[l + w];
    return s[0];
}

/* r = 1 / sqrt(sum / d + eps) from the fixed-order sum of squares. */
KVC_HD float kvc_rms_inv_of_sum(float sumsq, int64_t d, float eps)
{
    float mean = sumsq / (float)d;
    return 1.0f / sqrtf(mean + eps);
}

/* r = 1 / sqrt(mean(x^2) + eps). */
KVC_HD float kvc_rms_inv(const float *x, int64_t d, float eps)
{
    return kvc_rms_inv_of_sum(kvc_sumsq_lanes(x, d), d, eps);
}

/* One output element: bf16(g * (x * r)). */
KVC_HD uint16_t kvc_rmsnorm_elem(float x, float g, float r)
{
    float xr = x * r;
    return kvc_f32_to_bf16(g * xr);
}

/* One row: y[i] = bf16(g[i] * (x[i] * r)). */
KVC_HD void kvc_rmsnorm_row(const float *x, int64_t d, const float *g, float eps, uint16_t *y)
{
    float r = kvc_rms_inv(x, d, eps);
    for (int64_t i = 0; i < d; i++)
        y[i] = kvc_rmsnorm_elem(x[i], g[i], r);
}

#endif /* KVC_V4_NORM_H */
