/* Tests for v4/synth: the generator's PRNG against published reference
 * vectors, its variates' moments, the block quantizer against a binary64
 * oracle, and independent checks of the generated host's properties
 * (v4/synth.h states them: per-token RMS, outlier channels, anisotropy,
 * heavy tails). */
#include <math.h>

#include "core/formats.h"
#include "v4/dequant.h"
#include "v4/synth.h"
#include "testutil.h"

/* ------------------------------------------------------------ PRNG */

/* splitmix64 seeded with 1477776061723855037: the first outputs of
 * Vigna's reference splitmix64.c, as recorded in the rand_xoshiro crate's
 * test suite (rust-random/rngs, rand_xoshiro/src/splitmix64.rs). */
START_TEST(splitmix64_reference)
{
    static const uint64_t want[] = {
        UINT64_C(1985237415132408290),  UINT64_C(2979275885539914483),
        UINT64_C(13511426838097143398), UINT64_C(8488337342461049707),
        UINT64_C(15141737807933549159), UINT64_C(17093170987380407015),
        UINT64_C(16389528042912955399), UINT64_C(13177319091862933652),
    };
    uint64_t x = UINT64_C(1477776061723855037);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_uint_eq(kvc_synth_splitmix64(&x), want[i]);
}
END_TEST

/* xoshiro256** from the state {1, 2, 3, 4}: outputs of the reference
 * xoshiro256starstar.c, as recorded in rand_xoshiro's
 * src/xoshiro256starstar.rs test. */
START_TEST(xoshiro256ss_reference)
{
    static const uint64_t want[] = {
        UINT64_C(11520),
        UINT64_C(0),
        UINT64_C(1509978240),
        UINT64_C(1215971899390074240),
        UINT64_C(1216172134540287360),
        UINT64_C(607988272756665600),
        UINT64_C(16172922978634559625),
        UINT64_C(8476171486693032832),
        UINT64_C(10595114339597558777),
        UINT64_C(2904607092377533576),
    };
    kvc_synth_rng r = {{1, 2, 3, 4}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_uint_eq(kvc_synth_next(&r), want[i]);
}
END_TEST

/* Stream seeding as synth.h states it, derived by hand from splitmix64. */
START_TEST(stream_seeding)
{
    ck_assert_uint_eq(kvc_synth_mix64(0), 0);
    uint64_t seed = 42, stream = KVC_SYNTH_STREAM_TOKEN(3, 7);
    ck_assert_uint_eq(stream, (UINT64_C(3) << 56) | (UINT64_C(3) << 24) | 7);
    uint64_t x = seed ^ kvc_synth_mix64(stream);
    kvc_synth_rng want;
    for (int i = 0; i < 4; i++)
        want.s[i] = kvc_synth_splitmix64(&x);
    kvc_synth_rng got;
    kvc_synth_rng_seed(&got, seed, stream);
    ck_assert(memcmp(&got, &want, sizeof got) == 0);
    /* mix64 is the splitmix64 finalizer: splitmix64(x) = mix64(x + golden) */
    uint64_t y = 5;
    ck_assert_uint_eq(kvc_synth_splitmix64(&y), kvc_synth_mix64(5 + UINT64_C(0x9E3779B97F4A7C15)));
    /* different streams and seeds give different states */
    kvc_synth_rng a, b;
    kvc_synth_rng_seed(&a, 1, 0);
    kvc_synth_rng_seed(&b, 1, 1);
    ck_assert(memcmp(&a, &b, sizeof a) != 0);
    kvc_synth_rng_seed(&b, 2, 0);
    ck_assert(memcmp(&a, &b, sizeof a) != 0);
}
END_TEST

/* Moments over 2^20 draws. Tolerances: the standard error of a mean of
 * 2^20 unit-variance draws is 2^-10 ~ 0.001, so 0.01 is 10 sigma; of the
 * variance (kurtosis 2.7) ~ 0.0013, so 0.01 is ~8 sigma. */
START_TEST(variates_moments)
{
    kvc_synth_rng r;
    kvc_synth_rng_seed(&r, 9, 0);
    const int n = 1 << 20;
    double s1 = 0, s2 = 0, mx = 0, us = 0, umin = 1, umax = 0;
    for (int i = 0; i < n; i++) {
        double g = kvc_synth_gauss(&r);
        s1 += g;
        s2 += g * g;
        if (fabs(g) > mx)
            mx = fabs(g);
        double u = kvc_synth_uniform(&r);
        us += u;
        umin = u < umin ? u : umin;
        umax = u > umax ? u : umax;
        ck_assert_uint_lt(kvc_synth_below(&r, 13), 13);
    }
    ck_assert(fabs(s1 / n) < 0.01);
    ck_assert(fabs(s2 / n - 1.0) < 0.01);
    ck_assert(mx <= 2.0 * sqrt(3.0));
    ck_assert(fabs(us / n - 0.5) < 0.01);
    ck_assert(umin >= 0.0 && umax < 1.0);
    /* below(n) hits every value */
    int seen[5] = {0};
    for (int i = 0; i < 1000; i++)
        seen[kvc_synth_below(&r, 5)] = 1;
    for (int k = 0; k < 5; k++)
        ck_assert(seen[k]);
}
END_TEST

/* student(6) is heavy-tailed: kurtosis well above the Gaussian 3
 * (Student-t with 6 degrees of freedom: 6). */
START_TEST(student_heavy_tailed)
{
    kvc_synth_rng r;
    kvc_synth_rng_seed(&r, 10, 0);
    const int n = 1 << 19;
    double s2 = 0, s4 = 0;
    for (int i = 0; i < n; i++) {
        double t = kvc_synth_student(&r, 6);
        ck_assert(isfinite(t));
        s2 += t * t;
        s4 += t * t * t * t;
    }
    double var = s2 / n, kurt = (s4 / n) / (var * var);
    ck_assert_msg(var > 1.3 && var < 1.7, "variance %g (t6: 1.5)", var);
    ck_assert_msg(kurt > 4.0, "kurtosis %g", kurt);
}
END_TEST

/* ------------------------------------------------------------ quantizer */

/* Oracle: scale = the smallest power of two >= max(amax, 1e-4f)/448 (in
 * binary64, as 2^k), and every dequantized value within half an E4M3 step
 * of x: |deq - x| <= max(|x| 2^-4, 2^-10 scale) (3 mantissa bits; the
 * subnormal step is 2^-9 scale). */
START_TEST(quantizer_matches_oracle)
{
    static const int64_t shapes[][2] = {{512, 4096}, {130, 300}, {1, 1}};
    uint64_t seed = 11;
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        int64_t rows = shapes[k][0], cols = shapes[k][1];
        int64_t sr = (rows + 127) / 128, sc = (cols + 127) / 128;
        float *x = malloc((size_t)(rows * cols) * sizeof(float));
        float *d = malloc((size_t)(rows * cols) * sizeof(float));
        uint8_t *w = malloc((size_t)(rows * cols)), *s = malloc((size_t)(sr * sc));
        ck_assert(x && d && w && s);
        for (int64_t i = 0; i < rows * cols; i++) {
            uint64_t u = kvc_test_rand64(&seed);
            double mag = ldexp((double)(u >> 40) / (double)(1 << 24), (int)((u >> 8) & 31) - 24);
            x[i] = (float)((u & 1) ? -mag : mag);
        }
        kvc_synth_fp8_quantize(x, rows, cols, w, s);
        ck_assert_int_eq(kvc_dequant_fp8_block(w, rows, cols, s, sr, sc, d, NULL), KVC_OK);
        for (int64_t tr = 0; tr < sr; tr++)
            for (int64_t tc = 0; tc < sc; tc++) {
                double amax = 1e-4f;
                for (int64_t r = tr * 128; r < rows && r < tr * 128 + 128; r++)
                    for (int64_t c = tc * 128; c < cols && c < tc * 128 + 128; c++)
                        amax = fmax(amax, fabs((double)x[r * cols + c]));
                double sv = ldexp(1.0, s[tr * sc + tc] - 127);
                /* amax/448 computed in binary32 by the quantizer: allow its rounding */
                double t = (double)((float)amax / 448.0f);
                ck_assert(sv >= t && sv / 2 < t);
                for (int64_t r = tr * 128; r < rows && r < tr * 128 + 128; r++)
                    for (int64_t c = tc * 128; c < cols && c < tc * 128 + 128; c++) {
                        double xv = x[r * cols + c], dv = d[r * cols + c];
                        ck_assert_msg(fabs(dv - xv) <= fmax(fabs(xv) * 0x1p-4, sv * 0x1p-10),
                                      "x %a deq %a scale %a", xv, dv, sv);
                    }
            }
        free(x);
        free(d);
        free(w);
        free(s);
    }
}
END_TEST

/* ------------------------------------------------------------ host */

START_TEST(profile_as_specified)
{
    kvc_synth_profile *p = malloc(sizeof *p);
    ck_assert_ptr_nonnull(p);
    kvc_synth_host_profile(1, p);
    int is_out[KVC_SYNTH_DIM] = {0};
    for (int i = 0; i < KVC_SYNTH_OUTLIERS; i++) {
        int c = p->outlier[i];
        ck_assert(c >= 0 && c < KVC_SYNTH_DIM);
        ck_assert_int_eq(is_out[c], 0); /* distinct */
        is_out[c] = 1;
        ck_assert(p->sigma[c] >= 10.0 && p->sigma[c] < 50.0);
    }
    double lo = 1e9, hi = 0;
    for (int c = 0; c < KVC_SYNTH_DIM; c++) {
        if (is_out[c])
            continue;
        lo = fmin(lo, p->sigma[c]);
        hi = fmax(hi, p->sigma[c]);
    }
    /* 2^-1.5 * 0.75 .. 2^1.5 * 1.25, and the spread is actually used */
    ck_assert(lo >= pow(2, -1.5) * 0.75 - 1e-12 && hi <= pow(2, 1.5) * 1.25 + 1e-12);
    ck_assert(hi / lo > 8.0);
    free(p);
}
END_TEST

typedef struct passage_fixture {
    kvc_synth_profile prof;
    uint16_t h[KVC_SYNTH_TOKENS * KVC_SYNTH_DIM];
} passage_fixture;

static passage_fixture *make_passage(uint64_t seed, uint32_t p)
{
    passage_fixture *f = malloc(sizeof *f);
    ck_assert_ptr_nonnull(f);
    kvc_synth_host_profile(seed, &f->prof);
    kvc_synth_hidden_passage(seed, &f->prof, p, f->h);
    return f;
}

/* The 2-thread passage equals token-by-token generation, and passages,
 * seeds differ. */
START_TEST(passage_split_and_streams)
{
    passage_fixture *f = make_passage(1, 0);
    uint16_t tok[KVC_SYNTH_DIM];
    static const uint32_t ts[] = {0, 1, 1023, 1024, 2047};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
        kvc_synth_hidden_token(1, &f->prof, 0, ts[i], tok);
        ck_assert(memcmp(tok, f->h + (size_t)ts[i] * KVC_SYNTH_DIM, sizeof tok) == 0);
    }
    kvc_synth_hidden_token(1, &f->prof, 1, 0, tok);
    ck_assert(memcmp(tok, f->h, sizeof tok) != 0);
    kvc_synth_profile *p2 = malloc(sizeof *p2);
    kvc_synth_host_profile(2, p2);
    ck_assert(memcmp(p2->outlier, f->prof.outlier, sizeof p2->outlier) != 0);
    kvc_synth_hidden_token(2, p2, 0, 0, tok);
    ck_assert(memcmp(tok, f->h, sizeof tok) != 0);
    free(p2);
    free(f);
}
END_TEST

/* Independent checks on the bf16 data alone (decoded by definition). */
START_TEST(passage_properties)
{
    passage_fixture *f = make_passage(1, 0);
    const int T = KVC_SYNTH_TOKENS, D = KVC_SYNTH_DIM;
    double *m2 = calloc(D, sizeof(double)), *m1 = calloc(D, sizeof(double));
    ck_assert(m2 && m1);
    for (int t = 0; t < T; t++) {
        double ss = 0;
        for (int c = 0; c < D; c++) {
            uint16_t b = f->h[(size_t)t * D + c];
            ck_assert_msg(((b >> 7) & 0xFF) != 0xFF, "non-finite at token %d channel %d", t, c);
            double v = (double)kvc_bf16_to_f32(b);
            ss += v * v;
            m1[c] += v;
            m2[c] += v * v;
        }
        /* per-token RMS is lambda in [0.8, 1.25]; bf16 rounding moves it
         * by < 2^-8 relative */
        double rms = sqrt(ss / D);
        ck_assert_msg(rms > 0.79 && rms < 1.26, "token %d RMS %g", t, rms);
    }
    /* per-channel RMS; the outliers stand 8x above the median channel */
    double *rms = malloc(D * sizeof(double)), *sorted = malloc(D * sizeof(double));
    for (int c = 0; c < D; c++)
        sorted[c] = rms[c] = sqrt(m2[c] / T);
    for (int i = 1; i < D; i++) /* insertion sort: 4096 values */
        for (int j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
            double tmp = sorted[j];
            sorted[j] = sorted[j - 1];
            sorted[j - 1] = tmp;
        }
    double median = sorted[D / 2];
    int n_out = 0;
    for (int c = 0; c < D; c++)
        if (rms[c] > 8.0 * median) {
            n_out++;
            int listed = 0;
            for (int i = 0; i < KVC_SYNTH_OUTLIERS; i++)
                listed |= f->prof.outlier[i] == c;
            ck_assert_msg(listed, "channel %d is an outlier the profile does not list", c);
        }
    ck_assert_int_eq(n_out, KVC_SYNTH_OUTLIERS);
    /* anisotropy among ordinary channels: variance ratio well above 1 */
    ck_assert(sorted[D - KVC_SYNTH_OUTLIERS - 1] / sorted[0] > 4.0);
    /* heavy tails: mean per-channel kurtosis over ordinary channels > 3 */
    double ksum = 0;
    int kn = 0;
    for (int c = 0; c < D; c++) {
        if (rms[c] > 8.0 * median)
            continue;
        double mu = m1[c] / T, m4 = 0, v2 = 0;
        for (int t = 0; t < T; t++) {
            double d = (double)kvc_bf16_to_f32(f->h[(size_t)t * D + c]) - mu;
            v2 += d * d;
            m4 += d * d * d * d;
        }
        v2 /= T;
        ksum += (m4 / T) / (v2 * v2);
        kn++;
    }
    ck_assert_msg(ksum / kn > 3.5, "mean kurtosis %g", ksum / kn);
    free(rms);
    free(sorted);
    free(m1);
    free(m2);
    free(f);
}
END_TEST

static Suite *synth_suite(void)
{
    Suite *s = suite_create("synth");
    TCase *tc = tcase_create("prng");
    tcase_add_test(tc, splitmix64_reference);
    tcase_add_test(tc, xoshiro256ss_reference);
    tcase_add_test(tc, stream_seeding);
    tcase_add_test(tc, variates_moments);
    tcase_add_test(tc, student_heavy_tailed);
    suite_add_tcase(s, tc);
    tc = tcase_create("weights");
    tcase_add_test(tc, quantizer_matches_oracle);
    suite_add_tcase(s, tc);
    tc = tcase_create("host");
    tcase_add_test(tc, profile_as_specified);
    tcase_add_test(tc, passage_split_and_streams);
    tcase_add_test(tc, passage_properties);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return kvc_test_run(synth_suite());
}
