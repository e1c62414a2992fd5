/* kvcert: KakeyaLattice codec parameters and the CPU loops over vectors
 * (the per-vector arithmetic lives in kakeya.h, shared with CUDA). */
#include "codec/kakeya.h"

#include <stdlib.h>
#include <string.h>

typedef unsigned __int128 kvc__u128;

/* Number of symbols of each class in a family's alphabet. */
static void class_sizes(int q, int fam, kvc__u128 sizes[3])
{
    int ni = kvc__kk_interior(q, fam);
    sizes[KVC__KK_B] = 2;
    sizes[KVC__KK_E] = 0;
    sizes[KVC__KK_O] = 0;
    for (int sigma = 1; sigma <= ni; sigma++)
        sizes[kvc__kk_class(q, fam, sigma)]++;
}

/* Fills cnt[fam][r][s] in 128-bit arithmetic; returns -1 when a count
 * would not fit in 64 bits. */
static int fill_counts(kvc_kakeya_params *p)
{
    for (int fam = 0; fam < 2; fam++) {
        kvc__u128 sizes[3];
        class_sizes(p->q, fam, sizes);
        kvc__u128 cur[6], next[6];
        for (int s = 0; s < 6; s++)
            cur[s] = (kvc__u128)kvc__kk_valid(s, fam);
        for (int r = 0; r <= p->block; r++) {
            for (int s = 0; s < 6; s++) {
                if (cur[s] > (kvc__u128)UINT64_MAX)
                    return -1;
                p->cnt[fam][r][s] = (uint64_t)cur[s];
            }
            if (r == p->block)
                break;
            for (int s = 0; s < 6; s++) {
                next[s] = 0;
                for (int cls = 0; cls < 3; cls++)
                    next[s] += sizes[cls] * cur[kvc__kk_next(s, cls, fam)];
            }
            memcpy(cur, next, sizeof cur);
        }
    }
    kvc__u128 ci = p->cnt[0][p->block][0];
    kvc__u128 ch = (p->block == 8) ? p->cnt[1][p->block][0] : 0;
    if (ci + ch > (kvc__u128)UINT64_MAX)
        return -1;
    p->count_int = (uint64_t)ci;
    p->count_total = (uint64_t)(ci + ch);
    int b = 0;
    while (b < 64 && ((kvc__u128)1 << b) < (kvc__u128)p->count_total)
        b++;
    p->block_bits = b;
    p->vector_bits = 32 + (int64_t)(p->dim / p->block) * b;
    return 0;
}

kvc_status kvc_kakeya_params_init(kvc_kakeya_params *p, kvc_codec_kind kind, int d, int q,
                                  kvc_error *err)
{
    int k = kvc_codec_block_dim(kind);
    if (p == NULL)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "no parameter record");
    memset(p, 0, sizeof *p);
    if (k == 0)
        return kvc_error_set(err, KVC_CODEC_PARAM, "unknown codec kind %d", (int)kind);
    if (kvc_hadamard_log2(d) < 0 || d < k)
        return kvc_error_set(err, KVC_CODEC_PARAM,
                             "dimension %d is not a power of two in %d..%d", d, k,
                             KVC_HADAMARD_MAX_DIM);
    if (q < 1 || q > KVC_KAKEYA_Q_MAX)
        return kvc_error_set(err, KVC_CODEC_PARAM, "Q = %d is outside 1..%d", q,
                             KVC_KAKEYA_Q_MAX);
    p->kind = (int)kind;
    p->block = k;
    p->dim = d;
    p->q = q;
    p->inv_q = 1.0f / (float)q;
    p->hscale = kvc_hadamard_scale(d);
    p->accounted_bits = kvc_codec_accounted_bits(kind, d, q);
    if (q <= KVC_KAKEYA_BITSTREAM_Q_MAX) {
        if (fill_counts(p) != 0)
            return kvc_error_set(err, KVC_INTERNAL, "block counts overflow 64 bits at Q = %d", q);
        p->has_stream = 1;
    }
    return KVC_OK;
}

int64_t kvc_codec_realized_bits(kvc_codec_kind kind, int d, int q)
{
    kvc_kakeya_params p;
    if (kvc_kakeya_params_init(&p, kind, d, q, NULL) != KVC_OK || !p.has_stream)
        return -1;
    return p.vector_bits;
}

/* Scratch for one vector: D floats and D int32. */
typedef struct scratch {
    float *work;
    int32_t *z2;
} scratch;

static kvc_status scratch_alloc(scratch *s, int d, kvc_error *err)
{
    s->work = malloc((size_t)d * sizeof *s->work);
    s->z2 = malloc((size_t)d * sizeof *s->z2);
    if (s->work == NULL || s->z2 == NULL) {
        free(s->work);
        free(s->z2);
        return kvc_error_set(err, KVC_NOMEM, "codec scratch of %d dims", d);
    }
    return KVC_OK;
}

static void scratch_free(scratch *s)
{
    free(s->work);
    free(s->z2);
}

static kvc_status check_params(const kvc_kakeya_params *p, int need_stream, kvc_error *err)
{
    if (p == NULL || p->block == 0)
        return kvc_error_set(err, KVC_CODEC_PARAM, "codec parameters not initialized");
    if (need_stream && !p->has_stream)
        return kvc_error_set(err, KVC_CODEC_PARAM, "no bitstream for Q = %d (at most %d)", p->q,
                             KVC_KAKEYA_BITSTREAM_Q_MAX);
    return KVC_OK;
}

kvc_status kvc_kakeya_roundtrip(const kvc_kakeya_params *p, const float *x, size_t n,
                                float *out, kvc_error *err)
{
    kvc_status st = check_params(p, 0, err);
    if (st != KVC_OK)
        return st;
    scratch s;
    if ((st = scratch_alloc(&s, p->dim, err)) != KVC_OK)
        return st;
    size_t d = (size_t)p->dim;
    for (size_t v = 0; v < n; v++)
        kvc_kakeya_roundtrip_vec(p, x + v * d, s.work, s.z2, out + v * d);
    scratch_free(&s);
    return KVC_OK;
}

kvc_status kvc_kakeya_stream_size(const kvc_kakeya_params *p, size_t n, size_t *size,
                                  kvc_error *err)
{
    kvc_status st = check_params(p, 1, err);
    if (st != KVC_OK)
        return st;
    uint64_t vb = (uint64_t)p->vector_bits;
    if (n > (SIZE_MAX - 7) / vb)
        return kvc_error_set(err, KVC_LIMIT, "%zu vectors overflow the stream size", n);
    *size = (size_t)((n * vb + 7) / 8);
    return KVC_OK;
}

kvc_status kvc_kakeya_encode(const kvc_kakeya_params *p, const float *x, size_t n,
                             uint8_t *stream, size_t size, kvc_error *err)
{
    size_t want = 0;
    kvc_status st = kvc_kakeya_stream_size(p, n, &want, err);
    if (st != KVC_OK)
        return st;
    if (size != want)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "stream buffer of %zu bytes, need %zu",
                             size, want);
    scratch s;
    if ((st = scratch_alloc(&s, p->dim, err)) != KVC_OK)
        return st;
    memset(stream, 0, size);
    size_t d = (size_t)p->dim;
    for (size_t v = 0; v < n; v++) {
        uint16_t nb, mb;
        kvc_kakeya_quantize(p, x + v * d, s.work, &nb, &mb, s.z2);
        kvc_kakeya_pack_vector(p, stream, (uint64_t)v * (uint64_t)p->vector_bits, nb, mb, s.z2);
    }
    scratch_free(&s);
    return KVC_OK;
}

kvc_status kvc_kakeya_decode(const kvc_kakeya_params *p, const uint8_t *stream, size_t size,
                             size_t n, float *out, kvc_error *err)
{
    size_t want = 0;
    kvc_status st = kvc_kakeya_stream_size(p, n, &want, err);
    if (st != KVC_OK)
        return st;
    if (size != want) {
        st = kvc_error_set(err, KVC_BITSTREAM, "%zu bytes for %zu vectors of %lld bits, need %zu",
                           size, n, (long long)p->vector_bits, want);
        kvc_error_where(err, NULL, NULL, (int64_t)(size < want ? size : want));
        return st;
    }
    uint64_t used = (uint64_t)n * (uint64_t)p->vector_bits;
    if ((used & 7u) != 0 && (stream[size - 1] >> (used & 7u)) != 0) {
        st = kvc_error_set(err, KVC_BITSTREAM, "nonzero padding bits after the last vector");
        kvc_error_where(err, NULL, NULL, (int64_t)size - 1);
        return st;
    }
    scratch s;
    if ((st = scratch_alloc(&s, p->dim, err)) != KVC_OK)
        return st;
    size_t d = (size_t)p->dim;
    for (size_t v = 0; v < n; v++) {
        uint64_t pos = (uint64_t)v * (uint64_t)p->vector_bits;
        uint16_t nb, mb;
        if (kvc_kakeya_unpack_vector(p, stream, pos, &nb, &mb, s.z2) != 0) {
            st = kvc_error_set(err, KVC_BITSTREAM, "vector %zu: impossible record", v);
            kvc_error_where(err, NULL, NULL, (int64_t)(pos / 8));
            scratch_free(&s);
            return st;
        }
        kvc_kakeya_dequantize(p, nb, mb, s.z2, out + v * d);
    }
    scratch_free(&s);
    return KVC_OK;
}
