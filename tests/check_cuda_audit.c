/* The backend-composed audit and per-stream measurement on CUDA against
 * the CPU table, bit for bit (stats/audit.h kvc_stats_audit_on,
 * stats/audit_run.h kvc_measure_stream and kvc_audit_run): the CPU side is
 * the reference (its own tests pin it to the host algorithm), the GPU must
 * give the same bits, with the stream on the host or in device memory.
 * Without a CUDA device (or build) the program prints why and exits 77.
 * CUDA does not survive fork(): Check runs in no-fork mode. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/formats.h"
#include "kernels/cuda_backend.h"
#include "stats/audit.h"
#include "stats/audit_run.h"
#include "testutil.h"
#include "v4/profile.h"
#include "v4/synth.h"

static kvc_backend *g_gpu;
static const kvc_backend *g_cpu;

static uint64_t dbits(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

static void same_audit(const kvc_audit *a, const kvc_audit *b)
{
    ck_assert_uint_eq(dbits(a->excess_kurtosis_abs), dbits(b->excess_kurtosis_abs));
    ck_assert_uint_eq(dbits(a->isotropy_variance_ratio), dbits(b->isotropy_variance_ratio));
    ck_assert_uint_eq(dbits(a->hadamard_post_variance_ratio),
                      dbits(b->hadamard_post_variance_ratio));
    ck_assert_uint_eq(dbits(a->rms_wasserstein2_over_sigma_per_dim),
                      dbits(b->rms_wasserstein2_over_sigma_per_dim));
    ck_assert_uint_eq(a->num_vectors, b->num_vectors);
    ck_assert_int_eq(a->dim, b->dim);
}

/* Gaussian values scaled per dim (anisotropic), rounded to bf16. */
static uint16_t *random_stream(size_t n, int d, uint64_t seed)
{
    float *g = malloc(n * (size_t)d * sizeof *g);
    uint16_t *kv = malloc(n * (size_t)d * sizeof *kv);
    ck_assert(g != NULL && kv != NULL);
    kvc_stats_gaussian_fill(g, n * (size_t)d, seed);
    for (size_t i = 0; i < n * (size_t)d; i++)
        kv[i] = kvc_f32_to_bf16(g[i] * (float)(1 + (i % (size_t)d) / 64));
    free(g);
    return kv;
}

static void *to_device(const void *host, size_t bytes)
{
    void *p = NULL;
    ck_assert_int_eq(g_gpu->mem_alloc(g_gpu, bytes, &p, NULL), KVC_OK);
    ck_assert_int_eq(g_gpu->mem_upload(g_gpu, p, host, bytes, NULL), KVC_OK);
    return p;
}

static const struct {
    size_t n;
    int d;
} g_shapes[] = {{2048, 512}, {512, 512}, {16, 512}, {300, 64}, {7, 1}, {1, 8}};

START_TEST(audit_on_gpu_equals_cpu)
{
    size_t n = g_shapes[_i].n;
    int d = g_shapes[_i].d;
    uint16_t *kv = random_stream(n, d, 100 + (uint64_t)_i);
    float *x = malloc(n * (size_t)d * sizeof *x);
    ck_assert_ptr_nonnull(x);
    for (size_t i = 0; i < n * (size_t)d; i++)
        x[i] = kvc_bf16_to_f32(kv[i]);
    kvc_audit want, got;
    kvc_error err;
    char buf[1024];
    ck_assert_int_eq(kvc_stats_audit(x, n, d, &want, NULL), KVC_OK);
    kvc_error_clear(&err);
    ck_assert_msg(kvc_stats_audit_on(g_gpu, x, n, d, &got, &err) == KVC_OK, "%s",
                  kvc_error_format(&err, buf, sizeof buf));
    same_audit(&got, &want);
    void *dx = to_device(x, n * (size_t)d * sizeof *x);
    ck_assert_int_eq(kvc_stats_audit_on(g_gpu, (const float *)dx, n, d, &got, &err), KVC_OK);
    same_audit(&got, &want);
    g_gpu->mem_free(g_gpu, dx);
    free(x);
    free(kv);
}
END_TEST

static void same_measure(const kvc_stream_measure *a, const kvc_stream_measure *b)
{
    same_audit(&a->audit, &b->audit);
    ck_assert_uint_eq(a->ncodec, b->ncodec);
    for (size_t k = 0; k < a->ncodec; k++) {
        const kvc_measured_codec *x = &a->codec[k], *y = &b->codec[k];
        ck_assert_str_eq(x->name, y->name);
        ck_assert_int_eq(x->accounted_bits, y->accounted_bits);
        ck_assert_int_eq(x->realized_bits, y->realized_bits);
        ck_assert_uint_eq(x->stream_bytes, y->stream_bytes);
        ck_assert_msg(x->matches_roundtrip == 1 && y->matches_roundtrip == 1,
                      "%s: decode differs from roundtrip", x->name);
        ck_assert_msg(dbits(x->rel_mse) == dbits(y->rel_mse), "%s rel_mse %.17g vs %.17g",
                      x->name, x->rel_mse, y->rel_mse);
        ck_assert_msg(dbits(x->cos_sim) == dbits(y->cos_sim), "%s cos_sim %.17g vs %.17g",
                      x->name, x->cos_sim, y->cos_sim);
    }
}

START_TEST(measure_on_gpu_equals_cpu)
{
    static const uint32_t q[4] = {1, 10, 38, 126};
    kvc_measure_spec sp;
    memset(&sp, 0, sizeof sp);
    sp.q = q;
    sp.nq = 4;
    sp.with_d4 = sp.with_ds_mla = 1;
    sp.strict = 0;
    kvc_measure_work *wc = NULL, *wg = NULL;
    kvc_error err;
    char buf[1024];
    ck_assert_int_eq(kvc_measure_work_create(g_cpu, &wc, NULL), KVC_OK);
    kvc_error_clear(&err);
    ck_assert_msg(kvc_measure_work_create(g_gpu, &wg, &err) == KVC_OK, "%s",
                  kvc_error_format(&err, buf, sizeof buf));
    kvc_stream_measure *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    ck_assert(a != NULL && b != NULL);
    static const size_t sizes[4] = {2048, 512, 16, 1};
    for (int t = 0; t < 4; t++) {
        size_t n = sizes[t];
        uint16_t *kv = random_stream(n, 512, 7 + (uint64_t)t);
        ck_assert_int_eq(kvc_measure_stream(wc, &sp, t, "s", kv, n, a, NULL), KVC_OK);
        kvc_error_clear(&err);
        ck_assert_msg(kvc_measure_stream(wg, &sp, t, "s", kv, n, b, &err) == KVC_OK, "%s",
                      kvc_error_format(&err, buf, sizeof buf));
        same_measure(a, b);
        void *dkv = to_device(kv, n * 512 * sizeof *kv);
        ck_assert_int_eq(kvc_measure_stream(wg, &sp, t, "s", (const uint16_t *)dkv, n, b, &err),
                         KVC_OK);
        same_measure(a, b);
        g_gpu->mem_free(g_gpu, dkv);
        free(kv);
    }
    free(a);
    free(b);
    kvc_measure_work_destroy(wc);
    kvc_measure_work_destroy(wg);
}
END_TEST

/* The whole run (streams in device memory, then everything above) on the
 * synthetic host, each profile: kvc_audit_compare_reports finds no
 * difference. */
START_TEST(audit_run_gpu_equals_cpu)
{
    static const char *const profiles[3] = {"stage075", "intended", "v4"};
    char dir[512], path[1024], hidden[1024];
    kvc_error err;
    char buf[1024];
    static const int layers[3] = {0, 2, 3};
    kvc_test_tmpdir(dir, sizeof dir);
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, kvc_synth_shard_name(layers[i]));
        ck_assert_int_eq(kvc_synth_write_shard(1, layers[i], path, NULL), KVC_OK);
    }
    snprintf(hidden, sizeof hidden, "%s/%s", dir, KVC_SYNTH_HIDDEN_FILE);
    ck_assert_int_eq(kvc_synth_write_hidden(1, 1, hidden, NULL), KVC_OK);
    static const uint32_t q[2] = {10, 38};
    for (int mode = 0; mode < 2; mode++)
        for (int p = 0; p < 3; p++) {
            kvc_audit_run_options o;
            memset(&o, 0, sizeof o);
            o.profile = kvc_profile_find(profiles[p], NULL);
            o.q = q;
            o.nq = 2;
            o.mode = mode ? KVC_AUDIT_MODE_SWEEP : KVC_AUDIT_MODE_AUDIT;
            char *jc = NULL, *jg = NULL;
            o.backend_name = "cpu";
            ck_assert_int_eq(kvc_audit_run(g_cpu, dir, hidden, &o, &jc, NULL), KVC_OK);
            o.backend_name = "cuda";
            kvc_error_clear(&err);
            ck_assert_msg(kvc_audit_run(g_gpu, dir, hidden, &o, &jg, &err) == KVC_OK, "%s",
                          kvc_error_format(&err, buf, sizeof buf));
            kvc_error_clear(&err);
            ck_assert_msg(kvc_audit_compare_reports(jc, g_cpu->name, jg, g_gpu->name, &err) ==
                              KVC_OK,
                          "%s %s: %s", mode ? "sweep" : "audit", profiles[p],
                          kvc_error_format(&err, buf, sizeof buf));
            free(jc);
            free(jg);
        }
    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    if (system(path) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("cuda_audit");
    TCase *tc = tcase_create("gpu_vs_cpu");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, audit_on_gpu_equals_cpu, 0,
                        (int)(sizeof g_shapes / sizeof g_shapes[0]));
    tcase_add_test(tc, measure_on_gpu_equals_cpu);
    tcase_add_test(tc, audit_run_gpu_equals_cpu);
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
    g_cpu = kvc_backend_cpu();
    printf("check_cuda_audit: %s vs %s\n", g_cpu->name, g_gpu->name);
    SRunner *sr = srunner_create(suite());
    srunner_set_fork_status(sr, CK_NOFORK); /* CUDA does not survive fork() */
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    kvc_backend_cuda_destroy(g_gpu);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
