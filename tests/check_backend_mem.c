/* kvcert: the CPU table's backend memory and chaining helpers
 * (core/backend.h: mem_alloc ... mem_sync, widen_bf16, hadamard_rows,
 * abs_scaled, first_difference, fp8_ds_mla_encode/decode) against
 * independent oracles:
 *   widen_bf16       every one of the 65536 bf16 patterns: the bits h << 16
 *                    (the definition of bf16) and kvc_bf16_to_f32
 *   hadamard_rows    a loop of kvc_hadamard_f32 (bit for bit) and a binary64
 *                    matrix product with the Sylvester signs (tolerance below)
 *   abs_scaled       fabs((double)y / sigma), signed zeros included
 *   first_difference a plain scan (-1, index 0, the last index, a middle one)
 *   fp8_ds_mla       kvc_fp8_ds_mla_encode/decode byte for byte; corrupted
 *                    records and a wrong size give KVC_BITSTREAM naming the
 *                    first bad record
 *   backend memory   upload/download roundtrip, and a chain of operations on
 *                    backend memory equal to the same calls on host arrays
 *   bad arguments    KVC_INVALID_ARGUMENT
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/fp8block.h"
#include "codec/hadamard.h"
#include "core/backend.h"
#include "core/formats.h"
#include "stats/metrics.h"
#include "testutil.h"

static const kvc_backend *cpu(void)
{
    return kvc_backend_cpu();
}

static uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static uint64_t bits64(double f)
{
    uint64_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* Values spread over many magnitudes and both signs, with some +-0. */
static void fill(float *x, size_t n, uint64_t seed)
{
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = kvc_test_rand64(&s);
        double v = ((double)(r >> 11) * 0x1p-53 - 0.5) * 8.0;
        if ((r & 15) == 3)
            v *= 1e-30;
        x[i] = (r & 31) == 7 ? ((r >> 5) & 1 ? -0.0f : 0.0f) : (float)v;
    }
}

/* ------------------------------------------------------------ widen_bf16 */

START_TEST(widen_every_bf16_pattern)
{
    uint16_t *h = malloc(65536 * sizeof *h);
    float *y = malloc(65536 * sizeof *y);
    ck_assert(h != NULL && y != NULL);
    for (uint32_t i = 0; i < 65536; i++)
        h[i] = (uint16_t)i;
    kvc_error err;
    ck_assert_int_eq(cpu()->widen_bf16(cpu(), h, 65536, y, &err), KVC_OK);
    for (uint32_t i = 0; i < 65536; i++) {
        ck_assert_uint_eq(bits_of(y[i]), i << 16);               /* bf16 is the top half */
        ck_assert_uint_eq(bits_of(y[i]), bits_of(kvc_bf16_to_f32((uint16_t)i)));
    }
    free(h);
    free(y);
}
END_TEST

/* ------------------------------------------------------------ hadamard_rows */

static const int k_dims[] = {1, 2, 4, 8, 64, 512, 4096};

/* Sylvester sign of H[i][j]: (-1)^popcount(i & j). */
static int sylvester_sign(unsigned i, unsigned j)
{
    unsigned v = i & j, p = 0;
    while (v) {
        p ^= v & 1u;
        v >>= 1;
    }
    return p ? -1 : 1;
}

/* Tolerance of output i against the exact binary64 product: the k =
 * log2(d) butterfly stages round each partial sum once (relative 2^-24),
 * so the error of the unnormalized sum is at most k * 2^-24 * S, S =
 * sum_j |x_j| (the standard bound for a summation tree of depth k, to first
 * order); the multiply by c and c itself (correctly rounded 1/sqrt(d)) add
 * two more 2^-24 relative. Bound: (k + 2) * 2^-24 * S / sqrt(d), with 1%
 * slack for the second-order terms. */
START_TEST(hadamard_rows_matches_the_loop_and_a_binary64_product)
{
    const int d = k_dims[_i];
    const int64_t n = d >= 4096 ? 2 : 5;
    const size_t cnt = (size_t)n * (size_t)d;
    float *x = malloc(cnt * sizeof *x), *y = malloc(cnt * sizeof *y);
    float *loop = malloc(cnt * sizeof *loop), *inplace = malloc(cnt * sizeof *inplace);
    ck_assert(x != NULL && y != NULL && loop != NULL && inplace != NULL);
    fill(x, cnt, 1000 + (uint64_t)d);
    kvc_error err;
    ck_assert_int_eq(cpu()->hadamard_rows(cpu(), x, n, d, y, &err), KVC_OK);
    memcpy(loop, x, cnt * sizeof *x);
    memcpy(inplace, x, cnt * sizeof *x);
    ck_assert_int_eq(cpu()->hadamard_rows(cpu(), inplace, n, d, inplace, &err), KVC_OK);
    float c = kvc_hadamard_scale(d);
    int k = kvc_hadamard_log2(d);
    for (int64_t r = 0; r < n; r++)
        kvc_hadamard_f32(loop + r * d, d, c);
    ck_assert(memcmp(y, loop, cnt * sizeof *y) == 0);
    ck_assert(memcmp(y, inplace, cnt * sizeof *y) == 0);
    for (int64_t r = 0; r < n; r++) {
        const float *xr = x + r * d;
        double s = 0.0;
        for (int j = 0; j < d; j++)
            s += fabs((double)xr[j]);
        double tol = 1.01 * (k + 2) * 0x1p-24 * s / sqrt((double)d);
        for (int i = 0; i < d; i++) {
            double exact = 0.0;
            for (int j = 0; j < d; j++)
                exact += sylvester_sign((unsigned)i, (unsigned)j) * (double)xr[j];
            exact /= sqrt((double)d);
            ck_assert_msg(fabs((double)y[r * d + i] - exact) <= tol,
                          "d %d row %lld out %d: %.9g vs %.17g (tol %.3g)", d, (long long)r, i,
                          (double)y[r * d + i], exact, tol);
        }
    }
    free(x);
    free(y);
    free(loop);
    free(inplace);
}
END_TEST

/* ------------------------------------------------------------ abs_scaled */

START_TEST(abs_scaled_is_fabs_of_the_quotient)
{
    const int64_t n = 37;
    const int d = 13;
    float y[37 * 13];
    double sigma[13], out[37 * 13];
    fill(y, (size_t)(n * d), 77);
    y[0] = -0.0f;
    y[1] = 0.0f;
    for (int j = 0; j < d; j++)
        sigma[j] = 0.25 + 0.375 * j;
    kvc_error err;
    ck_assert_int_eq(cpu()->abs_scaled(cpu(), y, n, d, sigma, out, &err), KVC_OK);
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < d; j++) {
            double want = fabs((double)y[i * d + j] / sigma[j]);
            ck_assert_uint_eq(bits64(out[i * d + j]), bits64(want));
        }
    ck_assert_uint_eq(bits64(out[0]), 0u); /* -0 becomes +0 */
}
END_TEST

/* ------------------------------------------------------------ first_difference */

static int64_t scan(const uint32_t *a, const uint32_t *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return i;
    return -1;
}

START_TEST(first_difference_matches_a_scan)
{
    enum { N = 4099 };
    static uint32_t a[N], b[N];
    uint64_t s = 5;
    for (int i = 0; i < N; i++)
        a[i] = b[i] = (uint32_t)kvc_test_rand64(&s);
    static const int64_t where[] = {-1, 0, N - 1, 2048, 1};
    kvc_error err;
    for (size_t w = 0; w < sizeof where / sizeof where[0]; w++) {
        memcpy(b, a, sizeof a);
        if (where[w] >= 0) {
            b[where[w]] ^= 0x00010000u;
            if (where[w] + 7 < N)
                b[where[w] + 7] ^= 1u; /* a later difference does not matter */
        }
        int64_t got = 12345;
        ck_assert_int_eq(cpu()->first_difference(cpu(), a, b, N, &got, &err), KVC_OK);
        ck_assert_int_eq(got, scan(a, b, N));
        ck_assert_int_eq(got, where[w]);
    }
    int64_t got = 12345;
    ck_assert_int_eq(cpu()->first_difference(cpu(), a, b, 0, &got, &err), KVC_OK);
    ck_assert_int_eq(got, -1);
    /* -0 and +0 differ as words */
    float z[2] = {0.0f, -0.0f};
    ck_assert_int_eq(cpu()->first_difference(cpu(), &z[0], &z[1], 1, &got, &err), KVC_OK);
    ck_assert_int_eq(got, 0);
}
END_TEST

/* ------------------------------------------------------------ fp8_ds_mla */

START_TEST(ds_mla_encode_decode_match_the_codec)
{
    const int64_t n = 9;
    const size_t cnt = (size_t)n * KVC_FP8_DIM, rb = (size_t)n * KVC_FP8_DS_MLA_BYTES;
    float *x = malloc(cnt * sizeof *x), *y = malloc(cnt * sizeof *y), *y2 = malloc(cnt * sizeof *y2);
    uint8_t *rec = malloc(rb), *rec2 = malloc(rb);
    ck_assert(x != NULL && y != NULL && y2 != NULL && rec != NULL && rec2 != NULL);
    fill(x, cnt, 31);
    kvc_error err, err2;
    ck_assert_int_eq(cpu()->fp8_ds_mla_encode(cpu(), x, n, rec, &err), KVC_OK);
    kvc_fp8_ds_mla_encode(x, (size_t)n, rec2);
    ck_assert(memcmp(rec, rec2, rb) == 0);
    ck_assert_int_eq(cpu()->fp8_ds_mla_decode(cpu(), rec, rb, n, y, &err), KVC_OK);
    ck_assert_int_eq(kvc_fp8_ds_mla_decode(rec, rb, (size_t)n, y2, &err), KVC_OK);
    ck_assert(memcmp(y, y2, cnt * sizeof *y) == 0);
    /* decode(encode(x)) is the fp8_ds_mla simulation */
    kvc_fp8_ds_mla(x, (size_t)n, y2);
    ck_assert(memcmp(y, y2, cnt * sizeof *y) == 0);

    /* record 4's pad byte and record 6's first scale: the first bad one is named */
    rec[4 * KVC_FP8_DS_MLA_BYTES + KVC_FP8_NOPE + 7] = 1;
    rec[6 * KVC_FP8_DS_MLA_BYTES + KVC_FP8_NOPE] = 0xFF;
    ck_assert_int_eq(cpu()->fp8_ds_mla_decode(cpu(), rec, rb, n, y, &err), KVC_BITSTREAM);
    ck_assert_int_eq(kvc_fp8_ds_mla_decode(rec, rb, (size_t)n, y2, &err2), KVC_BITSTREAM);
    ck_assert_str_eq(err.detail, err2.detail);
    ck_assert_ptr_nonnull(strstr(err.detail, "record 4:"));
    ck_assert_int_eq(err.offset, 4 * KVC_FP8_DS_MLA_BYTES);
    rec[4 * KVC_FP8_DS_MLA_BYTES + KVC_FP8_NOPE + 7] = 0;
    ck_assert_int_eq(cpu()->fp8_ds_mla_decode(cpu(), rec, rb, n, y, &err), KVC_BITSTREAM);
    ck_assert_ptr_nonnull(strstr(err.detail, "record 6:"));
    ck_assert_int_eq(err.offset, 6 * KVC_FP8_DS_MLA_BYTES);
    /* a size that is not n records */
    ck_assert_int_eq(cpu()->fp8_ds_mla_decode(cpu(), rec, rb - 1, n, y, &err), KVC_BITSTREAM);
    ck_assert_int_eq(err.offset, (int64_t)(rb - 1));
    free(x);
    free(y);
    free(y2);
    free(rec);
    free(rec2);
}
END_TEST

/* ------------------------------------------------------------ backend memory */

START_TEST(mem_upload_download_roundtrip)
{
    const kvc_backend *be = cpu();
    uint8_t src[1000], back[1000];
    uint64_t s = 9;
    for (int i = 0; i < 1000; i++)
        src[i] = (uint8_t)kvc_test_rand64(&s);
    void *m = NULL;
    kvc_error err;
    ck_assert_int_eq(be->mem_alloc(be, sizeof src, &m, &err), KVC_OK);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(be->mem_upload(be, m, src, sizeof src, &err), KVC_OK);
    memset(back, 0, sizeof back);
    ck_assert_int_eq(be->mem_download(be, back, m, sizeof back, &err), KVC_OK);
    ck_assert(memcmp(src, back, sizeof src) == 0);
    /* part of a block */
    memset(back, 0, sizeof back);
    ck_assert_int_eq(be->mem_download(be, back, (uint8_t *)m + 100, 200, &err), KVC_OK);
    ck_assert(memcmp(src + 100, back, 200) == 0);
    ck_assert_int_eq(be->mem_sync(be, &err), KVC_OK);
    be->mem_free(be, m);
    be->mem_free(be, NULL); /* a no-op */
    ck_assert_int_eq(be->mem_alloc(be, 0, &m, &err), KVC_OK);
    be->mem_free(be, m);
}
END_TEST

/* x [n, d] bf16 -> widen -> hadamard_rows (in place) -> abs_scaled ->
 * column_quantile, on arrays of `mem` (backend memory when mem != NULL,
 * else host), compared with the same calls on host arrays. */
START_TEST(a_chain_on_backend_memory_equals_host_calls)
{
    const kvc_backend *be = cpu();
    const int64_t n = 300;
    const int d = 64;
    const size_t cnt = (size_t)n * d;
    uint16_t *h = malloc(cnt * sizeof *h);
    float *f = malloc(cnt * sizeof *f);
    double *a = malloc(cnt * sizeof *a), sigma[64], q_host[64], q_mem[64];
    ck_assert(h != NULL && f != NULL && a != NULL);
    fill(f, cnt, 55);
    for (size_t i = 0; i < cnt; i++)
        h[i] = kvc_f32_to_bf16(f[i]);
    for (int j = 0; j < d; j++)
        sigma[j] = 0.5 + j * 0.125;
    kvc_error err;
    ck_assert_int_eq(be->widen_bf16(be, h, (int64_t)cnt, f, &err), KVC_OK);
    ck_assert_int_eq(be->hadamard_rows(be, f, n, d, f, &err), KVC_OK);
    ck_assert_int_eq(be->abs_scaled(be, f, n, d, sigma, a, &err), KVC_OK);
    ck_assert_int_eq(be->column_quantile(be, a, n, d, 0.99, q_host, &err), KVC_OK);

    void *mh, *mf, *ma, *ms, *mq;
    ck_assert_int_eq(be->mem_alloc(be, cnt * sizeof *h, &mh, &err), KVC_OK);
    ck_assert_int_eq(be->mem_alloc(be, cnt * sizeof *f, &mf, &err), KVC_OK);
    ck_assert_int_eq(be->mem_alloc(be, cnt * sizeof *a, &ma, &err), KVC_OK);
    ck_assert_int_eq(be->mem_alloc(be, sizeof sigma, &ms, &err), KVC_OK);
    ck_assert_int_eq(be->mem_alloc(be, sizeof q_mem, &mq, &err), KVC_OK);
    ck_assert_int_eq(be->mem_upload(be, mh, h, cnt * sizeof *h, &err), KVC_OK);
    ck_assert_int_eq(be->mem_upload(be, ms, sigma, sizeof sigma, &err), KVC_OK);
    ck_assert_int_eq(be->widen_bf16(be, mh, (int64_t)cnt, mf, &err), KVC_OK);
    ck_assert_int_eq(be->hadamard_rows(be, mf, n, d, mf, &err), KVC_OK);
    ck_assert_int_eq(be->abs_scaled(be, mf, n, d, ms, ma, &err), KVC_OK);
    ck_assert_int_eq(be->column_quantile(be, ma, n, d, 0.99, mq, &err), KVC_OK);
    ck_assert_int_eq(be->mem_download(be, q_mem, mq, sizeof q_mem, &err), KVC_OK);
    ck_assert(memcmp(q_host, q_mem, sizeof q_mem) == 0);
    be->mem_free(be, mh);
    be->mem_free(be, mf);
    be->mem_free(be, ma);
    be->mem_free(be, ms);
    be->mem_free(be, mq);
    free(h);
    free(f);
    free(a);
}
END_TEST

/* ------------------------------------------------------------ bad arguments */

START_TEST(bad_arguments_are_invalid)
{
    const kvc_backend *be = cpu();
    float x[16] = {0}, y[16];
    uint16_t h[4] = {0};
    double sigma[4] = {1, 1, 1, 1}, out[16];
    int64_t idx = 0;
    uint8_t rec[KVC_FP8_DS_MLA_BYTES] = {0};
    kvc_error err;
    ck_assert_int_eq(be->widen_bf16(be, h, -1, y, &err), KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(be->widen_bf16(be, NULL, 4, y, &err), KVC_INVALID_ARGUMENT);
    static const int bad_d[] = {0, 3, 6, 8192, -4};
    for (size_t i = 0; i < sizeof bad_d / sizeof bad_d[0]; i++)
        ck_assert_int_eq(be->hadamard_rows(be, x, 1, bad_d[i], y, &err), KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(be->hadamard_rows(be, x, -1, 4, y, &err), KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(be->hadamard_rows(be, x, 1, 4, NULL, &err), KVC_INVALID_ARGUMENT);
    ck_assert_str_eq(err.detail, "hadamard_rows: bad shape or NULL array");
    ck_assert_int_eq(be->abs_scaled(be, x, 4, 0, sigma, out, &err), KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(be->abs_scaled(be, x, 4, 4, NULL, out, &err), KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(be->first_difference(be, x, y, 4, NULL, &err), KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(be->first_difference(be, x, NULL, 4, &idx, &err), KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(be->first_difference(be, x, y, -1, &idx, &err), KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(be->fp8_ds_mla_encode(be, NULL, 1, rec, &err), KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(be->fp8_ds_mla_decode(be, rec, sizeof rec, -1, y, &err),
                     KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(be->fp8_ds_mla_decode(be, rec, sizeof rec, 1, NULL, &err),
                     KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(be->mem_upload(be, NULL, x, 4, &err), KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(be->mem_download(be, y, NULL, 4, &err), KVC_INVALID_ARGUMENT);
    /* zero-length calls are fine */
    ck_assert_int_eq(be->widen_bf16(be, NULL, 0, NULL, &err), KVC_OK);
    ck_assert_int_eq(be->hadamard_rows(be, NULL, 0, 4, NULL, &err), KVC_OK);
    ck_assert_int_eq(be->fp8_ds_mla_decode(be, NULL, 0, 0, NULL, &err), KVC_OK);
}
END_TEST

static Suite *mem_suite(void)
{
    Suite *s = suite_create("backend_mem");
    TCase *tc = tcase_create("cpu");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, widen_every_bf16_pattern);
    tcase_add_loop_test(tc, hadamard_rows_matches_the_loop_and_a_binary64_product, 0,
                        (int)(sizeof k_dims / sizeof k_dims[0]));
    tcase_add_test(tc, abs_scaled_is_fabs_of_the_quotient);
    tcase_add_test(tc, first_difference_matches_a_scan);
    tcase_add_test(tc, ds_mla_encode_decode_match_the_codec);
    tcase_add_test(tc, mem_upload_download_roundtrip);
    tcase_add_test(tc, a_chain_on_backend_memory_equals_host_calls);
    tcase_add_test(tc, bad_arguments_are_invalid);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return kvc_test_run(mem_suite());
}
