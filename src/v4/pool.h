/* kvcert: the compressor's gated pooling (SPEC 5.5 steps 2-4), shared by
 * the CPU and CUDA backends.
 *
 * Inputs: kv and score [tokens, coff*d] (binary32 matmul outputs), ape
 * [ratio, coff*d]. Window w covers tokens w*ratio .. w*ratio+ratio-1.
 * Slots of window w for output channel c (0 <= c < d):
 *  - without overlap (coff = 1): slot s < ratio is token w*ratio+s,
 *    channel c, ape[s, c];
 *  - with overlap (ratio 4, coff = 2): 2*ratio slots; slot s < ratio is
 *    token (w-1)*ratio+s, channel c (the first half of the previous
 *    window), ape[s, c]; slot ratio+s is token w*ratio+s, channel d+c,
 *    ape[s, d+c]. For w = 0 the first ratio slots hold kv = 0 and
 *    score = -inf.
 * Per channel (binary32, slots in ascending order):
 *   v_s = score + ape (one addition);
 *   m = max_s v_s;
 *   e_s = kvc_expf(v_s - m), and exactly 0 when v_s = -inf;
 *   sum = e_0 + e_1 + ... (sequential from +0);
 *   pooled = sum over s of kv_s * (e_s / sum): each weight a true
 *     division, each product rounded, added sequentially from +0 (no fma).
 * Every output (w, c) is independent: a CUDA thread per output runs the
 * same loop.
 */
#ifndef KVC_V4_POOL_H
#define KVC_V4_POOL_H

#include "core/detmath.h"
#include "core/hd.h"

#define KVC_POOL_MAX_SLOTS 256

/* Slot s of window w, channel c: kv value and gate score (with ape). */
KVC_HD void kvc_pool_slot(const float *kv, const float *score, const float *ape, int64_t w,
                          int64_t c, int64_t ratio, int overlap, int64_t d, int64_t s,
                          float *kv_out, float *score_out)
{
    int64_t width = overlap ? 2 * d : d;
    int64_t token, ch, ape_row;
    if (overlap && s < ratio) {
        if (w == 0) {
            *kv_out = 0.0f;
            *score_out = -kvc_f32_from_bits(0x7F800000u); /* -inf */
            return;
        }
        token = (w - 1) * ratio + s;
        ch = c;
        ape_row = s;
    } else {
        int64_t j = overlap ? s - ratio : s;
        token = w * ratio + j;
        ch = overlap ? d + c : c;
        ape_row = j;
    }
    *kv_out = kv[token * width + ch];
    *score_out = score[token * width + ch] + ape[ape_row * width + ch];
}

/* The softmax weights of window w, channel c, in slot order; returns the
 * number of slots (2*ratio with overlap, else ratio; at most 256).
 * kvs receives the slots' kv values. */
KVC_HD int kvc_pool_weights(const float *kv, const float *score, const float *ape, int64_t w,
                            int64_t c, int64_t ratio, int overlap, int64_t d, float *weights,
                            float *kvs)
{
    int n = (int)(overlap ? 2 * ratio : ratio);
    if (n > KVC_POOL_MAX_SLOTS)
        n = KVC_POOL_MAX_SLOTS;
    const float neg_inf = -kvc_f32_from_bits(0x7F800000u);
    float m = neg_inf;
    for (int s = 0; s < n; s++) {
        kvc_pool_slot(kv, score, ape, w, c, ratio, overlap, d, s, &kvs[s], &weights[s]);
        if (weights[s] > m)
            m = weights[s];
    }
    float sum = 0.0f;
    for (int s = 0; s < n; s++) {
        float v = weights[s];
        weights[s] = v == neg_inf ? 0.0f : kvc_expf(v - m);
        sum = sum + weights[s];
    }
    for (int s = 0; s < n; s++)
        weights[s] = weights[s] / sum;
    return n;
}

/* pooled[w, c]. */
KVC_HD float kvc_pool_channel(const float *kv, const float *score, const float *ape,
                              int64_t w, int64_t c, int64_t ratio, int overlap, int64_t d)
{
    float weights[KVC_POOL_MAX_SLOTS];
    float kvs[KVC_POOL_MAX_SLOTS];
    int n = kvc_pool_weights(kv, score, ape, w, c, ratio, overlap, d, weights, kvs);
    float acc = 0.0f;
    for (int s = 0; s < n; s++) {
        float p = kvs[s] * weights[s];
        acc = acc + p;
    }
    return acc;
}

#endif /* KVC_V4_POOL_H */
