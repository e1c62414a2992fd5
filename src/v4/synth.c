/* kvcert: the synthetic host's generators. v4/synth.h is the specification;
 * this file follows it step by step (file writing: v4/synth_write.c). */
#include "v4/synth.h"

#include <math.h> /* sqrt only: correctly rounded by IEEE 754 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/formats.h"
#include "v4/dequant_scalar.h"

/* ------------------------------------------------------------ PRNG */

uint64_t kvc_synth_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

uint64_t kvc_synth_splitmix64(uint64_t *x)
{
    *x += UINT64_C(0x9E3779B97F4A7C15);
    return kvc_synth_mix64(*x);
}

void kvc_synth_rng_seed(kvc_synth_rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ kvc_synth_mix64(stream);
    for (int i = 0; i < 4; i++)
        r->s[i] = kvc_synth_splitmix64(&x);
}

static inline uint64_t rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t rng_next(kvc_synth_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

uint64_t kvc_synth_next(kvc_synth_rng *r)
{
    return rng_next(r);
}

static inline double rng_uniform(kvc_synth_rng *r)
{
    return (double)(rng_next(r) >> 11) * 0x1p-53;
}

double kvc_synth_uniform(kvc_synth_rng *r)
{
    return rng_uniform(r);
}

static inline uint32_t rng_below(kvc_synth_rng *r, uint32_t n)
{
    return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

uint32_t kvc_synth_below(kvc_synth_rng *r, uint32_t n)
{
    return rng_below(r, n);
}

static inline double rng_gauss(kvc_synth_rng *r)
{
    static const double sqrt3 = 1.7320508075688772; /* sqrt(3.0), correctly rounded */
    uint64_t x = rng_next(r);
    uint64_t lanes = (x & 0xFFFFu) + ((x >> 16) & 0xFFFFu) + ((x >> 32) & 0xFFFFu) + (x >> 48);
    double s = (double)(lanes + 2) * 0x1p-16; /* sum of (l + 0.5) / 65536: exact */
    return (s - 2.0) * sqrt3;
}

double kvc_synth_gauss(kvc_synth_rng *r)
{
    return rng_gauss(r);
}

/* sqrt(v / nu), v = the sum of nu squared gauss() draws (at least 2^-20):
 * the denominator of a Student-t-like scale mixture. */
static inline double rng_mix_denominator(kvc_synth_rng *r, int nu)
{
    double v = 0.0;
    for (int i = 0; i < nu; i++) {
        double h = rng_gauss(r);
        v = v + h * h;
    }
    if (v < 0x1p-20)
        v = 0x1p-20;
    return sqrt(v / (double)nu);
}

static inline double rng_student(kvc_synth_rng *r, int nu)
{
    double g = rng_gauss(r);
    return g / rng_mix_denominator(r, nu);
}

double kvc_synth_student(kvc_synth_rng *r, int nu)
{
    return rng_student(r, nu);
}

/* ------------------------------------------------------------ weights */

void kvc_synth_fp8_quantize(const float *x, int64_t rows, int64_t cols, uint8_t *w,
                            uint8_t *scale)
{
    int64_t sr = kvc_dequant_tiles(rows), sc = kvc_dequant_tiles(cols);
    for (int64_t tr = 0; tr < sr; tr++)
        for (int64_t tc = 0; tc < sc; tc++) {
            int64_t r0 = tr * KVC_DEQUANT_TILE, c0 = tc * KVC_DEQUANT_TILE;
            int64_t r1 = r0 + KVC_DEQUANT_TILE < rows ? r0 + KVC_DEQUANT_TILE : rows;
            int64_t c1 = c0 + KVC_DEQUANT_TILE < cols ? c0 + KVC_DEQUANT_TILE : cols;
            float amax = 1e-4f;
            for (int64_t r = r0; r < r1; r++)
                for (int64_t c = c0; c < c1; c++) {
                    float a = fabsf(x[r * cols + c]);
                    if (a > amax)
                        amax = a;
                }
            uint8_t sb = kvc_f32_to_e8m0(amax / 448.0f, KVC_E8M0_RP);
            float sv = kvc_e8m0_to_f32(sb);
            scale[tr * sc + tc] = sb;
            for (int64_t r = r0; r < r1; r++)
                for (int64_t c = c0; c < c1; c++)
                    w[r * cols + c] = kvc_f32_to_e4m3(x[r * cols + c] / sv, KVC_E4M3_SATFINITE);
        }
}

const char *kvc_synth_shard_name(int layer)
{
    switch (layer) {
    case 0:
        return "model-00002-of-00046.safetensors";
    case 2:
        return "model-00004-of-00046.safetensors";
    case 3:
        return "model-00005-of-00046.safetensors";
    default:
        return NULL;
    }
}

void kvc_synth_compressor_shape(int layer, int *coff, int *ratio)
{
    *coff = layer == 2 ? 2 : layer == 3 ? 1 : 0;
    *ratio = layer == 2 ? 4 : layer == 3 ? 128 : 0;
}

/* ------------------------------------------------------------ host */

void kvc_synth_host_profile(uint64_t seed, kvc_synth_profile *prof)
{
    kvc_synth_rng r;
    kvc_synth_rng_seed(&r, seed, KVC_SYNTH_STREAM_PROFILE);
    const double q1 = sqrt(sqrt(2.0)), q2 = sqrt(2.0);
    const double q[4] = {1.0, q1, q2, q1 * q2};
    /* 2^floor(k/4) for k = -6..6: floor(k/4) is -2, -1, 0 or 1 */
    for (int c = 0; c < KVC_SYNTH_DIM; c++) {
        int k = (int)rng_below(&r, 13) - 6;
        int fl = k >= 0 ? k / 4 : -((-k + 3) / 4);
        int md = k - 4 * fl; /* 0..3 */
        double p2 = fl == -2 ? 0.25 : fl == -1 ? 0.5 : fl == 0 ? 1.0 : 2.0;
        double tri = (double)(c % 512) / 256.0 - 1.0;
        double smooth = 0.75 + 0.5 * (tri < 0 ? -tri : tri);
        prof->sigma[c] = (q[md] * p2) * smooth;
    }
    for (int i = 0; i < KVC_SYNTH_OUTLIERS; i++) {
        int c, dup;
        do {
            c = (int)rng_below(&r, KVC_SYNTH_DIM);
            dup = 0;
            for (int j = 0; j < i; j++)
                dup |= prof->outlier[j] == c;
        } while (dup);
        prof->outlier[i] = c;
        prof->sigma[c] = 10.0 + 40.0 * rng_uniform(&r);
    }
}

void kvc_synth_hidden_token(uint64_t seed, const kvc_synth_profile *prof, uint32_t passage,
                            uint32_t token, uint16_t *out)
{
    double y[KVC_SYNTH_DIM];
    kvc_synth_rng r;
    kvc_synth_rng_seed(&r, seed, KVC_SYNTH_STREAM_TOKEN(passage, token));
    double lambda = 0.8 + 0.45 * rng_uniform(&r);
    double ss = 0.0;
    for (int c0 = 0; c0 < KVC_SYNTH_DIM; c0 += KVC_SYNTH_MIX_GROUP) {
        double den = rng_mix_denominator(&r, KVC_SYNTH_STUDENT_NU);
        for (int c = c0; c < c0 + KVC_SYNTH_MIX_GROUP; c++) {
            y[c] = prof->sigma[c] * (rng_gauss(&r) / den);
            ss = ss + y[c] * y[c];
        }
    }
    double f = lambda / sqrt(ss / (double)KVC_SYNTH_DIM);
    for (int c = 0; c < KVC_SYNTH_DIM; c++)
        out[c] = kvc_f32_to_bf16((float)(y[c] * f));
}

typedef struct hidden_job {
    uint64_t seed;
    const kvc_synth_profile *prof;
    uint32_t passage, t0, t1;
    uint16_t *out;
} hidden_job;

static void *hidden_tokens(void *arg)
{
    const hidden_job *j = (const hidden_job *)arg;
    for (uint32_t t = j->t0; t < j->t1; t++)
        kvc_synth_hidden_token(j->seed, j->prof, j->passage, t,
                               j->out + (size_t)t * KVC_SYNTH_DIM);
    return NULL;
}

void kvc_synth_hidden_passage(uint64_t seed, const kvc_synth_profile *prof, uint32_t passage,
                              uint16_t *out)
{
    hidden_job a = {seed, prof, passage, 0, KVC_SYNTH_TOKENS / 2, out};
    hidden_job b = {seed, prof, passage, KVC_SYNTH_TOKENS / 2, KVC_SYNTH_TOKENS, out};
    pthread_t th;
    if (pthread_create(&th, NULL, hidden_tokens, &b) != 0) {
        a.t1 = KVC_SYNTH_TOKENS; /* no thread: all here */
        hidden_tokens(&a);
        return;
    }
    hidden_tokens(&a);
    pthread_join(th, NULL);
}
