/* kvcert: the CUDA backend's codec and statistics operations against the
 * CPU's, bit for bit (kernels/cuda_codec.cu, core/backend.h).
 *
 * Each new table operation runs through kvc_equiv_ops (seeded random and
 * adversarial inputs, guard bytes, SHA-256) on the CPU and on the GPU and
 * every case must be IDENTICAL. Beside that: decode(encode(x)) on the GPU
 * equals the GPU roundtrip (kakeya.h's stream contract), the metrics
 * agree with a naive binary64 oracle, and bad arguments give the CPU's
 * status codes. Without a device (or without CUDA) the program prints
 * why and exits 77. CUDA does not survive fork(): Check runs in no-fork
 * mode.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/kakeya.h"
#include "core/backend.h"
#include "kernels/cuda_backend.h"
#include "stats/metrics.h"
#include "testutil.h"
#include "v4/equiv.h"

static kvc_backend *g_gpu;
static const kvc_backend *g_cpu;
static uint64_t g_seed = 20261126;

static const kvc_equiv_op k_ops[] = {
    KVC_EQUIV_CODEC_ROUNDTRIP, KVC_EQUIV_CODEC_ENCODE,   KVC_EQUIV_CODEC_DECODE,
    KVC_EQUIV_FP8_PER64,       KVC_EQUIV_FP8_DS_MLA,     KVC_EQUIV_RECON_METRICS,
    KVC_EQUIV_COLUMN_MOMENTS,  KVC_EQUIV_COLUMN_QUANTILE};

typedef struct tally {
    int cases, bad;
} tally;

static void on_case(void *arg, const kvc_equiv_case *c)
{
    tally *t = (tally *)arg;
    t->cases++;
    if (!c->identical) {
        t->bad++;
        printf("  %s: DIFFERENT at %lld (cpu 0x%x gpu 0x%x) %s\n", c->id,
               (long long)c->first_diff, (unsigned)c->ref_bits, (unsigned)c->test_bits,
               c->problem);
    }
}

START_TEST(op_is_bit_identical)
{
    kvc_equiv_op op = k_ops[_i];
    kvc_equiv_options o;
    memset(&o, 0, sizeof o);
    o.seed = g_seed;
    o.ops = 1u << op;
    tally t = {0, 0};
    int same = 0, total = 0;
    kvc_error err;
    kvc_error_clear(&err);
    ck_assert_int_eq(kvc_equiv_ops(g_cpu, g_gpu, &o, on_case, &t, &same, &total, &err), KVC_OK);
    printf("check_cuda_codec: %s: %d of %d identical\n", kvc_equiv_op_name(op), same, total);
    ck_assert_int_ge(total, 2);
    ck_assert_int_eq(t.bad, 0);
    ck_assert_int_eq(same, total);
}
END_TEST

static float *gauss_like(size_t n, uint64_t seed)
{
    float *x = malloc(n * sizeof *x);
    ck_assert_ptr_nonnull(x);
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) {
        double v = 0.0;
        for (int k = 0; k < 4; k++)
            v += (double)(kvc_test_rand64(&s) >> 11) * 0x1p-52 - 1.0;
        x[i] = (float)v;
    }
    return x;
}

/* kakeya.h: decode(encode(x)) equals the roundtrip bit for bit; on the GPU too. */
START_TEST(gpu_stream_roundtrip_matches_gpu_roundtrip)
{
    const int d = 512;
    const int64_t n = 1000;
    kvc_kakeya_params p;
    kvc_error err;
    ck_assert_int_eq(kvc_kakeya_params_init(&p, _i ? KVC_CODEC_E8 : KVC_CODEC_D4, d, 38, &err),
                     KVC_OK);
    float *x = gauss_like((size_t)n * d, g_seed + 5);
    float *rt = malloc(sizeof(float) * (size_t)n * d), *dec = malloc(sizeof(float) * (size_t)n * d);
    size_t size = 0;
    ck_assert_int_eq(kvc_kakeya_stream_size(&p, (size_t)n, &size, &err), KVC_OK);
    uint8_t *s = malloc(size);
    ck_assert(rt != NULL && dec != NULL && s != NULL);
    ck_assert_int_eq(g_gpu->codec_roundtrip(g_gpu, &p, x, n, rt, &err), KVC_OK);
    ck_assert_int_eq(g_gpu->codec_encode(g_gpu, &p, x, n, s, size, &err), KVC_OK);
    ck_assert_int_eq(g_gpu->codec_decode(g_gpu, &p, s, size, n, dec, &err), KVC_OK);
    ck_assert(memcmp(rt, dec, sizeof(float) * (size_t)n * d) == 0);
    free(x);
    free(rt);
    free(dec);
    free(s);
}
END_TEST

/* The GPU metrics against a naive binary64 oracle (sums in index order).
 * Tolerance 1e-10 relative: both are binary64 sums of <= 2^17 terms of one
 * sign (or centred terms of size ~1), whose order changes the result by far
 * less than 2^17 * 2^-53 ~ 1.5e-11 relative. */
START_TEST(gpu_metrics_match_an_oracle)
{
    const int64_t n = 300;
    const int d = 64;
    float *x = gauss_like((size_t)n * d, g_seed + 9);
    float *h = gauss_like((size_t)n * d, g_seed + 10);
    for (size_t i = 0; i < (size_t)n * d; i++)
        h[i] = x[i] + 0.1f * h[i];
    kvc_recon_metrics m;
    kvc_error err;
    ck_assert_int_eq(g_gpu->recon_metrics(g_gpu, x, h, n, d, &m, &err), KVC_OK);
    double sse = 0, sst = 0, cs = 0;
    for (int j = 0; j < d; j++) {
        double mu = 0;
        for (int64_t i = 0; i < n; i++)
            mu += x[i * d + j];
        mu /= (double)n;
        for (int64_t i = 0; i < n; i++) {
            double dv = x[i * d + j] - mu, e = (double)x[i * d + j] - h[i * d + j];
            sst += dv * dv;
            sse += e * e;
        }
    }
    for (int64_t i = 0; i < n; i++) {
        double dot = 0, a = 0, b = 0;
        for (int j = 0; j < d; j++) {
            dot += (double)x[i * d + j] * h[i * d + j];
            a += (double)x[i * d + j] * x[i * d + j];
            b += (double)h[i * d + j] * h[i * d + j];
        }
        cs += dot / (sqrt(a) * sqrt(b));
    }
    ck_assert_double_eq_tol(m.sse, sse, 1e-10 * sse);
    ck_assert_double_eq_tol(m.sst, sst, 1e-10 * sst);
    ck_assert_double_eq_tol(m.cos_sim, cs / (double)n, 1e-10);
    free(x);
    free(h);
}
END_TEST

START_TEST(bad_arguments_give_the_cpu_statuses)
{
    kvc_kakeya_params p;
    kvc_error err;
    ck_assert_int_eq(kvc_kakeya_params_init(&p, KVC_CODEC_E8, 8, 10, &err), KVC_OK);
    float x[24] = {1.0f};
    float out[24];
    uint8_t s[64];
    memset(s, 0, sizeof s);
    size_t size = 0;
    ck_assert_int_eq(kvc_kakeya_stream_size(&p, 3, &size, &err), KVC_OK);
    const kvc_backend *be[2] = {g_cpu, g_gpu};
    for (int k = 0; k < 2; k++) {
        ck_assert_int_eq(be[k]->codec_encode(be[k], &p, x, 3, s, size + 1, &err),
                         KVC_INVALID_ARGUMENT);
        ck_assert_int_eq(be[k]->codec_decode(be[k], &p, s, size - 1, 3, out, &err),
                         KVC_BITSTREAM);
        memset(s, 0, sizeof s);
        s[size - 1] = 0x80; /* 3 * vector_bits is not a whole number of bytes here */
        ck_assert_int_eq(be[k]->codec_decode(be[k], &p, s, size, 3, out, &err), KVC_BITSTREAM);
        memset(s, 0, sizeof s);
        ck_assert_int_eq(be[k]->codec_decode(be[k], &p, s, size, 3, out, &err),
                         KVC_BITSTREAM); /* fp16 scalars 0: impossible records */
        kvc_recon_metrics m;
        ck_assert_int_eq(be[k]->recon_metrics(be[k], x, x, 0, 8, &m, &err),
                         KVC_INVALID_ARGUMENT);
        double a[4] = {1, 2, 3, 4}, q[1];
        ck_assert_int_eq(be[k]->column_quantile(be[k], a, 4, 1, 2.0, q, &err),
                         KVC_INVALID_ARGUMENT);
        ck_assert_int_eq(be[k]->codec_roundtrip(be[k], &p, x, 0, out, &err), KVC_OK);
    }
    ck_assert_int_eq((int)((3 * p.vector_bits) % 8) != 0, 1);
}
END_TEST

static Suite *codec_suite(void)
{
    Suite *s = suite_create("cuda_codec");
    TCase *tc = tcase_create("ops");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, op_is_bit_identical, 0, (int)(sizeof k_ops / sizeof k_ops[0]));
    tcase_add_loop_test(tc, gpu_stream_roundtrip_matches_gpu_roundtrip, 0, 2);
    tcase_add_test(tc, gpu_metrics_match_an_oracle);
    tcase_add_test(tc, bad_arguments_give_the_cpu_statuses);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    kvc_error err;
    kvc_error_clear(&err);
    kvc_status st = kvc_backend_cuda_create(0, &g_gpu, &err);
    if (st == KVC_CUDA_NO_DEVICE || st == KVC_BACKEND_UNAVAILABLE) {
        char buf[1024];
        printf("SKIP: %s\n", kvc_error_format(&err, buf, sizeof buf));
        return KVC_TEST_SKIP;
    }
    if (st != KVC_OK) {
        char buf[1024];
        fprintf(stderr, "cannot create the CUDA backend: %s\n",
                kvc_error_format(&err, buf, sizeof buf));
        return KVC_TEST_HARD_ERROR;
    }
    const char *env = getenv("KVC_TEST_SEED");
    if (env != NULL && *env != '\0')
        g_seed = strtoull(env, NULL, 10);
    g_cpu = kvc_backend_cpu();
    printf("check_cuda_codec: %s vs %s, seed %llu (KVC_TEST_SEED=N to change)\n", g_cpu->name,
           g_gpu->name, (unsigned long long)g_seed);
    SRunner *sr = srunner_create(codec_suite());
    srunner_set_fork_status(sr, CK_NOFORK); /* CUDA does not survive fork() */
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    kvc_backend_cuda_destroy(g_gpu);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
