/* kvcert: the CUDA backend's codec and statistics operations against the
 * CPU's, bit for bit (kernels/cuda_codec.cu, core/backend.h).
 *
 * Each codec, statistics and chaining operation runs through
 * kvc_equiv_ops (seeded random and adversarial inputs, guard bytes,
 * SHA-256) on the CPU and on the GPU and every case must be IDENTICAL,
 * once with host arrays and once with every array in the GPU's backend
 * memory (device guard zones on). A range running past a mem_alloc block
 * is refused; a queued chain on backend memory (widen_bf16 ->
 * hadamard_rows -> abs_scaled -> column_quantile) equals the CPU's.
 * Beside that: decode(encode(x)) on the GPU equals the GPU roundtrip (kakeya.h's stream contract), the metrics
 * agree with a naive binary64 oracle, and bad arguments give the CPU's
 * status codes. Without a device (or without CUDA) the program prints
 * why and exits 77. CUDA does not survive fork(): Check runs in no-fork
 * mode.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/fp8block.h"
#include "codec/kakeya.h"
#include "core/backend.h"
#include "core/formats.h"
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
    KVC_EQUIV_COLUMN_MOMENTS,  KVC_EQUIV_COLUMN_QUANTILE, KVC_EQUIV_WIDEN_BF16,
    KVC_EQUIV_HADAMARD_ROWS,   KVC_EQUIV_ABS_SCALED,     KVC_EQUIV_FIRST_DIFFERENCE,
    KVC_EQUIV_FP8_DS_MLA_ENCODE, KVC_EQUIV_FP8_DS_MLA_DECODE};
#define NOPS ((int)(sizeof k_ops / sizeof k_ops[0]))

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

/* _i < NOPS: host arrays; _i >= NOPS: the same cases with every array in
 * the GPU's backend memory (v4/equiv.h test_mem), device guard zones on. */
START_TEST(op_is_bit_identical)
{
    kvc_equiv_op op = k_ops[_i % NOPS];
    kvc_equiv_options o;
    memset(&o, 0, sizeof o);
    o.seed = g_seed;
    o.ops = 1u << op;
    o.test_mem = _i >= NOPS;
    tally t = {0, 0};
    int same = 0, total = 0;
    kvc_error err;
    kvc_error_clear(&err);
    ck_assert_int_eq(kvc_equiv_ops(g_cpu, g_gpu, &o, on_case, &t, &same, &total, &err), KVC_OK);
    printf("check_cuda_codec: %s%s: %d of %d identical\n", kvc_equiv_op_name(op),
           o.test_mem ? "[mem]" : "", same, total);
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


/* Status and message of a call on both backends must be the same. */
#define SAME_ERROR(call_cpu, call_gpu, want)                                               \
    do {                                                                                   \
        kvc_error e1, e2;                                                                  \
        kvc_error_clear(&e1);                                                              \
        kvc_error_clear(&e2);                                                              \
        ck_assert_int_eq((call_cpu), (want));                                              \
        ck_assert_int_eq((call_gpu), (want));                                              \
        ck_assert_str_eq(e1.detail, e2.detail);                                            \
        ck_assert_int_eq(e1.offset, e2.offset);                                            \
    } while (0)

START_TEST(new_ops_bad_arguments_match_the_cpu)
{
    const kvc_backend *c = g_cpu, *g = g_gpu;
    float x[16] = {0}, y[16];
    uint16_t h[4] = {0};
    double sigma[4] = {1, 1, 1, 1}, out[16];
    int64_t idx = 0;
    static uint8_t rec[2 * KVC_FP8_DS_MLA_BYTES];
    static float big[2 * KVC_FP8_DIM];
    SAME_ERROR(c->widen_bf16(c, h, -1, y, &e1), g->widen_bf16(g, h, -1, y, &e2),
               KVC_INVALID_ARGUMENT);
    SAME_ERROR(c->hadamard_rows(c, x, 1, 6, y, &e1), g->hadamard_rows(g, x, 1, 6, y, &e2),
               KVC_INVALID_ARGUMENT);
    SAME_ERROR(c->hadamard_rows(c, x, 1, 8192, y, &e1), g->hadamard_rows(g, x, 1, 8192, y, &e2),
               KVC_INVALID_ARGUMENT);
    SAME_ERROR(c->abs_scaled(c, x, 4, 0, sigma, out, &e1),
               g->abs_scaled(g, x, 4, 0, sigma, out, &e2), KVC_INVALID_ARGUMENT);
    SAME_ERROR(c->first_difference(c, x, y, 4, NULL, &e1),
               g->first_difference(g, x, y, 4, NULL, &e2), KVC_INVALID_ARGUMENT);
    SAME_ERROR(c->fp8_ds_mla_encode(c, NULL, 1, rec, &e1),
               g->fp8_ds_mla_encode(g, NULL, 1, rec, &e2), KVC_INVALID_ARGUMENT);
    SAME_ERROR(c->fp8_ds_mla_decode(c, rec, sizeof rec - 1, 2, big, &e1),
               g->fp8_ds_mla_decode(g, rec, sizeof rec - 1, 2, big, &e2), KVC_BITSTREAM);
    /* record 1 has a nonzero pad byte */
    memset(rec, 0, sizeof rec);
    rec[KVC_FP8_DS_MLA_BYTES + KVC_FP8_NOPE + 7] = 3;
    SAME_ERROR(c->fp8_ds_mla_decode(c, rec, sizeof rec, 2, big, &e1),
               g->fp8_ds_mla_decode(g, rec, sizeof rec, 2, big, &e2), KVC_BITSTREAM);
    /* n = 0 and nwords = 0 */
    ck_assert_int_eq(g->first_difference(g, NULL, NULL, 0, &idx, NULL), KVC_OK);
    ck_assert_int_eq(idx, -1);
    ck_assert_int_eq(g->widen_bf16(g, NULL, 0, NULL, NULL), KVC_OK);
    /* the statistics' shape checks, status and message (n < 1 first) */
    kvc_recon_metrics m;
    SAME_ERROR(c->recon_metrics(c, x, x, 0, 4, &m, &e1), g->recon_metrics(g, x, x, 0, 4, &m, &e2),
               KVC_INVALID_ARGUMENT);
    SAME_ERROR(c->recon_metrics(c, x, x, 4, 0, &m, &e1), g->recon_metrics(g, x, x, 4, 0, &m, &e2),
               KVC_INVALID_ARGUMENT);
    SAME_ERROR(c->column_moments(c, x, 0, 4, out, out, out, &e1),
               g->column_moments(g, x, 0, 4, out, out, out, &e2), KVC_INVALID_ARGUMENT);
    SAME_ERROR(c->column_quantile(c, out, 4, 1, -1.0, out, &e1),
               g->column_quantile(g, out, 4, 1, -1.0, out, &e2), KVC_INVALID_ARGUMENT);
}
END_TEST

/* A range that starts inside a mem_alloc block and runs past its end is
 * refused (KVC_INVALID_ARGUMENT) before any kernel runs, for inputs and
 * outputs alike; the exact fit is accepted. */
START_TEST(a_range_past_a_block_is_refused)
{
    const kvc_backend *g = g_gpu;
    kvc_error err;
    void *m = NULL;
    ck_assert_int_eq(g->mem_alloc(g, 100 * sizeof(float), &m, &err), KVC_OK);
    float *f = (float *)m;
    static uint16_t h[200];
    static float host[200];
    ck_assert_int_eq(g->widen_bf16(g, h, 100, f, &err), KVC_OK); /* exact fit */
    ck_assert_int_eq(g->widen_bf16(g, h, 101, f, &err), KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(g->widen_bf16(g, h, 60, f + 50, &err), KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(g->hadamard_rows(g, f + 64, 1, 64, host, &err), KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(g->hadamard_rows(g, f, 2, 64, f, &err), KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(g->hadamard_rows(g, f + 36, 1, 64, f + 36, &err), KVC_OK);
    int64_t idx;
    ck_assert_int_eq(g->first_difference(g, f, f + 1, 100, &idx, &err), KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(g->first_difference(g, f, f + 1, 99, &idx, &err), KVC_OK);
    ck_assert_int_eq(g->mem_upload(g, f + 99, host, 8, &err), KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(g->mem_download(g, host, f + 99, 8, &err), KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(g->mem_sync(g, &err), KVC_OK);
    g->mem_free(g, m);
}
END_TEST

/* The audit's chain on backend memory, queued without waits:
 * bf16 [n, d] -> widen_bf16 -> hadamard_rows (in place) -> abs_scaled ->
 * column_quantile, then one mem_download; equal to the CPU's chain on
 * host arrays bit for bit. */
START_TEST(an_async_chain_equals_the_cpu_chain)
{
    const int64_t n = 2048;
    const int d = 512;
    const size_t cnt = (size_t)n * d;
    float *f = gauss_like(cnt, g_seed + 21);
    uint16_t *h = malloc(cnt * sizeof *h);
    double *a = malloc(cnt * sizeof *a), sigma[512], q_cpu[512], q_gpu[512];
    ck_assert(h != NULL && a != NULL);
    for (size_t i = 0; i < cnt; i++)
        h[i] = kvc_f32_to_bf16(f[i]);
    for (int j = 0; j < d; j++)
        sigma[j] = 0.5 + 0.01 * j;
    const kvc_backend *c = g_cpu, *g = g_gpu;
    kvc_error err;
    /* guards off: with them every operation waits; here the GPU steps are
     * only queued, and the download is the one wait */
    ck_assert_int_eq(kvc_backend_cuda_set_guard(g_gpu, 0, &err), KVC_OK);
    ck_assert_int_eq(c->widen_bf16(c, h, (int64_t)cnt, f, &err), KVC_OK);
    ck_assert_int_eq(c->hadamard_rows(c, f, n, d, f, &err), KVC_OK);
    ck_assert_int_eq(c->abs_scaled(c, f, n, d, sigma, a, &err), KVC_OK);
    ck_assert_int_eq(c->column_quantile(c, a, n, d, 0.999, q_cpu, &err), KVC_OK);

    void *mh, *mf, *ma, *ms, *mq;
    ck_assert_int_eq(g->mem_alloc(g, cnt * sizeof *h, &mh, &err), KVC_OK);
    ck_assert_int_eq(g->mem_alloc(g, cnt * sizeof *f, &mf, &err), KVC_OK);
    ck_assert_int_eq(g->mem_alloc(g, cnt * sizeof *a, &ma, &err), KVC_OK);
    ck_assert_int_eq(g->mem_alloc(g, sizeof sigma, &ms, &err), KVC_OK);
    ck_assert_int_eq(g->mem_alloc(g, sizeof q_gpu, &mq, &err), KVC_OK);
    ck_assert_int_eq(g->mem_upload(g, mh, h, cnt * sizeof *h, &err), KVC_OK);
    ck_assert_int_eq(g->mem_upload(g, ms, sigma, sizeof sigma, &err), KVC_OK);
    ck_assert_int_eq(g->widen_bf16(g, mh, (int64_t)cnt, mf, &err), KVC_OK);
    ck_assert_int_eq(g->hadamard_rows(g, mf, n, d, mf, &err), KVC_OK);
    ck_assert_int_eq(g->abs_scaled(g, mf, n, d, ms, ma, &err), KVC_OK);
    ck_assert_int_eq(g->column_quantile(g, ma, n, d, 0.999, mq, &err), KVC_OK);
    memset(q_gpu, 0, sizeof q_gpu);
    ck_assert_int_eq(g->mem_download(g, q_gpu, mq, sizeof q_gpu, &err), KVC_OK);
    ck_assert(memcmp(q_cpu, q_gpu, sizeof q_gpu) == 0);
    /* the intermediate too */
    float *back = malloc(cnt * sizeof *back);
    ck_assert_ptr_nonnull(back);
    ck_assert_int_eq(g->mem_download(g, back, mf, cnt * sizeof *back, &err), KVC_OK);
    ck_assert(memcmp(back, f, cnt * sizeof *back) == 0);
    g->mem_free(g, mh);
    g->mem_free(g, mf);
    g->mem_free(g, ma);
    g->mem_free(g, ms);
    g->mem_free(g, mq);
    ck_assert_int_eq(kvc_backend_cuda_set_guard(g_gpu, 1, &err), KVC_OK);
    free(back);
    free(f);
    free(h);
    free(a);
}
END_TEST

static Suite *codec_suite(void)
{
    Suite *s = suite_create("cuda_codec");
    TCase *tc = tcase_create("ops");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, op_is_bit_identical, 0, 2 * NOPS);
    tcase_add_loop_test(tc, gpu_stream_roundtrip_matches_gpu_roundtrip, 0, 2);
    tcase_add_test(tc, gpu_metrics_match_an_oracle);
    tcase_add_test(tc, bad_arguments_give_the_cpu_statuses);
    tcase_add_test(tc, new_ops_bad_arguments_match_the_cpu);
    tcase_add_test(tc, a_range_past_a_block_is_refused);
    tcase_add_test(tc, an_async_chain_equals_the_cpu_chain);
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
    /* device guard zones: a kernel writing outside its arrays fails its call */
    if (kvc_backend_cuda_set_guard(g_gpu, 1, &err) != KVC_OK)
        return KVC_TEST_HARD_ERROR;
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
