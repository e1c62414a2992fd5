/* Tests for the CPU matmul (SPEC 5.1): every ISA variant and thread count
 * gives the bits of the plain k-ascending fmaf chain, and the chain is
 * within its error bound of a binary64 oracle.
 *
 * Reference (written here, independent of src/v4/matmul_cpu.c):
 *   y[t,o] = fmaf(x[t,K-1], w[o,K-1], ... fmaf(x[t,0], w[o,0], 0.0f)).
 * Error bound of that chain: each step s_k = (s_{k-1} + x_k w_k)(1 + d_k)
 * with |d_k| <= u = 2^-24, so (Higham, Accuracy and Stability, 3.1)
 *   |y - sum_k x_k w_k| <= gamma_K * sum_k |x_k w_k|,
 *   gamma_K = K u / (1 - K u),
 * as long as nothing underflows (the inputs here keep every product above
 * 2^-40). The binary64 oracle's own error (K * 2^-53 relative to the same
 * sum) is added to the tolerance.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "testutil.h"

static float rand_float(uint64_t *s)
{
    /* sign * [1, 2) * 2^e, e in [-6, 5]: varied exponents exercise rounding */
    uint64_t r = kvc_test_rand64(s);
    float m = 1.0f + (float)(r & 0xFFFFFF) / 16777216.0f;
    int e = (int)((r >> 24) % 12) - 6;
    float v = ldexpf(m, e);
    return (r >> 40) & 1 ? -v : v;
}

static float *rand_array(int64_t n, uint64_t seed)
{
    float *a = malloc((size_t)(n > 0 ? n : 1) * sizeof *a);
    ck_assert_ptr_nonnull(a);
    for (int64_t i = 0; i < n; i++)
        a[i] = rand_float(&seed);
    return a;
}

static void ref_matmul(const float *x, const float *w, float *y, int64_t t, int64_t n,
                       int64_t k)
{
    for (int64_t i = 0; i < t; i++)
        for (int64_t o = 0; o < n; o++) {
            float acc = 0.0f;
            for (int64_t j = 0; j < k; j++)
                acc = fmaf(x[i * k + j], w[o * k + j], acc);
            y[i * n + o] = acc;
        }
}

#define GUARD 16
static const uint32_t guard_bits = 0x7FC0DEADu;

/* y with GUARD guard floats on each side. */
static float *guarded_alloc(int64_t n)
{
    float *b = malloc((size_t)(n + 2 * GUARD) * sizeof *b);
    ck_assert_ptr_nonnull(b);
    for (int64_t i = 0; i < n + 2 * GUARD; i++)
        memcpy(&b[i], &guard_bits, 4);
    return b;
}

static void guard_check(const float *b, int64_t n)
{
    for (int64_t i = 0; i < GUARD; i++) {
        ck_assert_msg(memcmp(&b[i], &guard_bits, 4) == 0, "guard before y overwritten");
        ck_assert_msg(memcmp(&b[GUARD + n + i], &guard_bits, 4) == 0,
                      "guard after y overwritten");
    }
}

static void assert_same_bits(const float *want, const float *got, int64_t n, const char *what,
                             int64_t ncols)
{
    if (memcmp(want, got, (size_t)n * sizeof *want) == 0)
        return;
    for (int64_t i = 0; i < n; i++) {
        uint32_t a, b;
        memcpy(&a, &want[i], 4);
        memcpy(&b, &got[i], 4);
        if (a != b)
            ck_abort_msg("%s: first difference at [%lld, %lld]: want %08x (%.9g) got %08x (%.9g)",
                         what, (long long)(i / ncols), (long long)(i % ncols), a,
                         (double)want[i], b, (double)got[i]);
    }
}

typedef struct shape {
    int64_t t, n, k;
} shape;

/* Odd shapes: single elements, ragged tiles of every ISA (MR 4/6/12,
 * NR 16/32), k crossing the k-blocks (128/256), few rows with many
 * columns (the column split). */
static const shape shapes[] = {
    {1, 1, 1},    {3, 5, 7},      {1, 40, 3},    {6, 16, 256},  {12, 32, 128},
    {7, 17, 300}, {13, 33, 513},  {25, 100, 257}, {2, 600, 129}, {100, 70, 1000},
    {97, 129, 64}, {200, 48, 1},
};
#define NSHAPES ((int)(sizeof shapes / sizeof shapes[0]))

static const kvc_cpu_isa isas[] = {KVC_CPU_ISA_SCALAR, KVC_CPU_ISA_AVX2, KVC_CPU_ISA_AVX512};
static const int thread_counts[] = {1, 2, 3};

/* Runs every supported ISA x thread count and compares with want. */
static void check_all_variants(const float *x, const float *w, const float *want, int64_t t,
                               int64_t n, int64_t k)
{
    for (size_t a = 0; a < sizeof isas / sizeof isas[0]; a++) {
        if (!kvc_cpu_isa_supported(isas[a])) {
            fprintf(stderr, "note: %s not supported here, not tested\n",
                    kvc_cpu_isa_name(isas[a]));
            continue;
        }
        for (size_t c = 0; c < sizeof thread_counts / sizeof thread_counts[0]; c++) {
            kvc_backend *be = NULL;
            kvc_error err;
            ck_assert_int_eq(kvc_backend_cpu_create(isas[a], thread_counts[c], &be, &err),
                             KVC_OK);
            float *buf = guarded_alloc(t * n);
            ck_assert_int_eq(kvc_backend_matmul_once(be, x, t, w, n, k, buf + GUARD, &err),
                             KVC_OK);
            guard_check(buf, t * n);
            char what[128];
            snprintf(what, sizeof what, "%s x %d threads, %lldx%lldx%lld", be->name,
                     thread_counts[c], (long long)t, (long long)n, (long long)k);
            assert_same_bits(want, buf + GUARD, t * n, what, n);
            free(buf);
            kvc_backend_cpu_destroy(be);
        }
    }
}

START_TEST(variants_match_reference)
{
    const shape *s = &shapes[_i];
    float *x = rand_array(s->t * s->k, 1000 + (uint64_t)_i);
    float *w = rand_array(s->n * s->k, 2000 + (uint64_t)_i);
    float *want = malloc((size_t)(s->t * s->n) * sizeof *want);
    ref_matmul(x, w, want, s->t, s->n, s->k);
    check_all_variants(x, w, want, s->t, s->n, s->k);
    free(x);
    free(w);
    free(want);
}
END_TEST

/* The pipeline shape 2048 x 4096 by 4096 x 512: the scalar reference on
 * 16 rows spread over the matrix (the full product is 4.3e9 fmaf), every
 * variant on those rows, and the default backend on all 2048 rows (row
 * splitting and blocking at full size) compared on the same rows. */
START_TEST(pipeline_shape_subset)
{
    const int64_t T = 2048, K = 4096, N = 512, R = 16;
    float *x = rand_array(T * K, 31);
    float *w = rand_array(N * K, 32);
    float *xs = malloc((size_t)(R * K) * sizeof *xs);
    int64_t rows[16];
    for (int64_t i = 0; i < R; i++) {
        rows[i] = i * 131 + (i == R - 1 ? T - 1 - 15 * 131 : 0);
        memcpy(xs + i * K, x + rows[i] * K, (size_t)K * sizeof *x);
    }
    float *want = malloc((size_t)(R * N) * sizeof *want);
    ref_matmul(xs, w, want, R, N, K);
    check_all_variants(xs, w, want, R, N, K);
    float *y = malloc((size_t)(T * N) * sizeof *y);
    kvc_error err;
    ck_assert_int_eq(kvc_backend_matmul_once(kvc_backend_cpu(), x, T, w, N, K, y, &err), KVC_OK);
    for (int64_t i = 0; i < R; i++)
        assert_same_bits(want + i * N, y + rows[i] * N, N, "full 2048-row product", N);
    free(x);
    free(w);
    free(xs);
    free(want);
    free(y);
}
END_TEST

/* |y - exact| <= gamma_K * sum |x w| + K 2^-53 sum |x w| (see the top). */
START_TEST(within_error_bound_of_binary64)
{
    const shape *s = &shapes[_i];
    float *x = rand_array(s->t * s->k, 3000 + (uint64_t)_i);
    float *w = rand_array(s->n * s->k, 4000 + (uint64_t)_i);
    float *y = malloc((size_t)(s->t * s->n) * sizeof *y);
    kvc_error err;
    ck_assert_int_eq(kvc_backend_matmul_once(kvc_backend_cpu(), x, s->t, w, s->n, s->k, y, &err),
                     KVC_OK);
    const double u = ldexp(1.0, -24);
    const double K = (double)s->k;
    const double gamma = K * u / (1.0 - K * u) + K * ldexp(1.0, -53);
    for (int64_t i = 0; i < s->t; i++)
        for (int64_t o = 0; o < s->n; o++) {
            double exact = 0.0, absum = 0.0;
            for (int64_t j = 0; j < s->k; j++) {
                double p = (double)x[i * s->k + j] * (double)w[o * s->k + j]; /* exact */
                exact += p;
                absum += fabs(p);
            }
            double e = fabs((double)y[i * s->n + o] - exact);
            ck_assert_msg(e <= gamma * absum, "y[%lld,%lld] off by %g > bound %g",
                          (long long)i, (long long)o, e, gamma * absum);
        }
    free(x);
    free(w);
    free(y);
}
END_TEST

/* The chain starts at +0: an exactly -0 product gives +0; a lone product
 * is rounded once (fmaf(x, w, 0) = x*w rounded). */
START_TEST(chain_start)
{
    float x[2] = {-1.0f, 1.0f + 0x1p-23f};
    float w0 = 0.0f, w1 = 1.0f + 0x1p-23f;
    float y[2];
    kvc_error err;
    ck_assert_int_eq(kvc_backend_matmul_once(kvc_backend_cpu(), x, 2, &w0, 1, 1, y, &err),
                     KVC_OK);
    uint32_t b;
    memcpy(&b, &y[0], 4);
    ck_assert_uint_eq(b, 0x00000000u); /* -1 * 0 = -0, plus the +0 start: +0 */
    ck_assert_int_eq(kvc_backend_matmul_once(kvc_backend_cpu(), x, 2, &w1, 1, 1, y, &err),
                     KVC_OK);
    /* (1 + 2^-23)^2 = 1 + 2^-22 + 2^-46 rounds to 1 + 2^-22 */
    ck_assert(y[1] == 1.0f + 0x1p-22f);
}
END_TEST

START_TEST(bad_arguments)
{
    kvc_error err;
    kvc_matrix *m = NULL;
    const kvc_backend *be = kvc_backend_cpu();
    float w[4] = {1, 2, 3, 4}, x[2] = {1, 1}, y[2];
    ck_assert_int_eq(be->matrix_create(be, w, 0, 4, &m, &err), KVC_INVALID_ARGUMENT);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(be->matrix_create(be, NULL, 2, 2, &m, &err), KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(be->matrix_create(be, w, 2, 2, &m, &err), KVC_OK);
    ck_assert_int_eq(be->matmul(be, x, -1, m, y, &err), KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(be->matmul(be, x, 0, m, y, &err), KVC_OK);
    ck_assert_int_eq(be->matmul(be, x, 1, m, y, &err), KVC_OK);
    ck_assert(y[0] == 3.0f && y[1] == 7.0f);
    kvc_matrix fake = {2, 2, "other", NULL};
    ck_assert_int_eq(be->matmul(be, x, 1, &fake, y, &err), KVC_INVALID_ARGUMENT);
    be->matrix_destroy(be, m);
    kvc_backend *b2 = NULL;
    ck_assert_int_eq(kvc_backend_cpu_create(KVC_CPU_ISA_SCALAR, 300, &b2, &err),
                     KVC_INVALID_ARGUMENT);
    if (!kvc_cpu_isa_supported(KVC_CPU_ISA_AVX512)) {
        ck_assert_int_eq(kvc_backend_cpu_create(KVC_CPU_ISA_AVX512, 1, &b2, &err),
                         KVC_UNSUPPORTED);
        ck_assert_ptr_null(b2);
    }
}
END_TEST

static Suite *matmul_suite(void)
{
    Suite *s = suite_create("matmul");
    TCase *tc = tcase_create("bits");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, variants_match_reference, 0, NSHAPES);
    tcase_add_test(tc, pipeline_shape_subset);
    tcase_add_test(tc, chain_start);
    tcase_add_test(tc, bad_arguments);
    suite_add_tcase(s, tc);
    TCase *tb = tcase_create("bound");
    tcase_add_loop_test(tb, within_error_bound_of_binary64, 0, NSHAPES);
    suite_add_tcase(s, tb);
    return s;
}

int main(void)
{
    for (size_t a = 0; a < sizeof isas / sizeof isas[0]; a++)
        printf("ISA %s: %s\n", kvc_cpu_isa_name(isas[a]),
               kvc_cpu_isa_supported(isas[a]) ? "tested" : "not supported here");
    return kvc_test_run(matmul_suite());
}
