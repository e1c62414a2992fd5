/* kvcert: rotary position embedding with the YaRN correction (SPEC 5.3),
 * shared by the CPU and CUDA backends.
 *
 * Frequencies (binary32, kvc_powf / kvc_logf from core/detmath.h):
 *   f_i = base^(-2i/64), i = 0..31 (the exponent -2i/64 is exact).
 * YaRN (original length 65536, factor 16, beta_fast 32, beta_slow 1):
 *   corr(n) = 64 * ln(65536 / (n * 2pi)) / (2 * ln base), in binary32
 *     (fp32(2pi); n * 2pi, 65536 / that, 64 * ln, 2 * ln base, quotient);
 *   lo = max(floor(corr(32)), 0), hi = min(ceil(corr(1)), 63), as binary32
 *     integers; hi += 0.001f when they are equal;
 *   ramp_i = clamp((i - lo) / (hi - lo), 0, 1);
 *   f_i <- (f_i / 16) * ramp_i + f_i * (1 - ramp_i), each operation
 *     rounded on its own (no fma).
 * Rotation of a pair (a, b) = dims (2i, 2i+1) at position p:
 *   phi = fp32(p * f_i) (p converted exactly: p < 2^24);
 *   a' = a*cos(phi) - b*sin(phi), b' = a*sin(phi) + b*cos(phi), each
 *   product rounded, then the sum (no fma; -ffp-contract=off and nvcc
 *   --fmad=false keep it so); a' and b' rounded to bf16.
 */
#ifndef KVC_V4_ROPE_H
#define KVC_V4_ROPE_H

#include "core/detmath.h"
#include "core/formats.h"
#include "core/hd.h"

#define KVC_ROPE_DIM 64
#define KVC_ROPE_NFREQ (KVC_ROPE_DIM / 2)
#define KVC_YARN_ORIGINAL_LEN 65536.0f
#define KVC_YARN_FACTOR 16.0f
#define KVC_YARN_BETA_FAST 32.0f
#define KVC_YARN_BETA_SLOW 1.0f

/* floor and ceil of a binary32 value in int range, exactly. */
KVC_HD float kvc__floorf_small(float v)
{
    float t = (float)(int32_t)v; /* truncation toward zero, exact */
    return t > v ? t - 1.0f : t;
}

KVC_HD float kvc__ceilf_small(float v)
{
    float t = (float)(int32_t)v;
    return t < v ? t + 1.0f : t;
}

/* YaRN's correction dimension for n rotations over the original length. */
KVC_HD float kvc_yarn_corr(float n, float base)
{
    const float two_pi = 6.28318530717958647692f;
    float turns = KVC_YARN_ORIGINAL_LEN / (n * two_pi);
    float num = (float)KVC_ROPE_DIM * kvc_logf(turns);
    float den = 2.0f * kvc_logf(base);
    return num / den;
}

/* lo and hi of the ramp (hi already moved by 0.001 when equal). */
KVC_HD void kvc_yarn_bounds(float base, float *lo, float *hi)
{
    float l = kvc__floorf_small(kvc_yarn_corr(KVC_YARN_BETA_FAST, base));
    float h = kvc__ceilf_small(kvc_yarn_corr(KVC_YARN_BETA_SLOW, base));
    if (l < 0.0f)
        l = 0.0f;
    if (h > (float)(KVC_ROPE_DIM - 1))
        h = (float)(KVC_ROPE_DIM - 1);
    if (l == h)
        h = h + 0.001f;
    *lo = l;
    *hi = h;
}

KVC_HD float kvc_yarn_ramp(int i, float lo, float hi)
{
    float r = ((float)i - lo) / (hi - lo);
    if (r < 0.0f)
        r = 0.0f;
    if (r > 1.0f)
        r = 1.0f;
    return r;
}

/* The 32 frequencies for base, YaRN-corrected when yarn != 0. */
KVC_HD void kvc_rope_freqs(float base, int yarn, float *freqs)
{
    float lo = 0.0f, hi = 1.0f;
    if (yarn)
        kvc_yarn_bounds(base, &lo, &hi);
    for (int i = 0; i < KVC_ROPE_NFREQ; i++) {
        float f = kvc_powf(base, -(float)(2 * i) / (float)KVC_ROPE_DIM);
        if (yarn) {
            float ramp = kvc_yarn_ramp(i, lo, hi);
            float slow = (f / KVC_YARN_FACTOR) * ramp;
            float keep = f * (1.0f - ramp);
            f = slow + keep;
        }
        freqs[i] = f;
    }
}

/* Rotates one pair of bf16 values by the angle p * f. */
KVC_HD void kvc_rope_pair(uint16_t *a, uint16_t *b, float pos, float f)
{
    float phi = pos * f;
    float c = kvc_cosf(phi);
    float s = kvc_sinf(phi);
    float x = kvc_bf16_to_f32(*a);
    float y = kvc_bf16_to_f32(*b);
    float xc = x * c, ys = y * s, xs = x * s, yc = y * c;
    *a = kvc_f32_to_bf16(xc - ys);
    *b = kvc_f32_to_bf16(xs + yc);
}

/* Rotates the nfreq pairs of one row segment x[0 .. 2*nfreq) at pos. */
KVC_HD void kvc_rope_row(uint16_t *x, const float *freqs, int nfreq, int64_t pos)
{
    float p = (float)pos;
    for (int i = 0; i < nfreq; i++)
        kvc_rope_pair(&x[2 * i], &x[2 * i + 1], p, freqs[i]);
}

#endif /* KVC_V4_ROPE_H */
