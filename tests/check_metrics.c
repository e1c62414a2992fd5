/* Tests for stats/metrics.h: the lane-sum order, rel_mse and cos_sim by
 * hand and against a long double oracle. */
#include <math.h>
#include <stdlib.h>

#include "stats/metrics.h"
#include "testutil.h"

static double gauss(uint64_t *st)
{
    double u1 = ((double)(kvc_test_rand64(st) >> 11) + 0.5) * 0x1p-53;
    double u2 = (double)(kvc_test_rand64(st) >> 11) * 0x1p-53;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* The documented order, derived by hand: terms t_0 = 2^53, t_16 = t_32 =
 * t_48 = 1, others 0. Lane 0 = 2^53 + 1 (t_32) = 2^53 (a tie, to even);
 * lane 16 = 1 + 1 = 2; the tree adds lane 16 into lane 0: 2^53 + 2.
 * Left-to-right summation would give 2^53. */
START_TEST(lane_sum_order)
{
    double t[64];
    memset(t, 0, sizeof t);
    t[0] = 0x1p53;
    t[16] = t[32] = t[48] = 1.0;
    ck_assert(kvc_stats_lane_sum(t, 64) == 0x1p53 + 2.0);
    double seq = 0.0;
    for (int i = 0; i < 64; i++)
        seq += t[i];
    ck_assert(seq == 0x1p53);
    /* fewer terms than lanes, and none */
    ck_assert(kvc_stats_lane_sum(t + 1, 5) == 0.0);
    ck_assert(kvc_stats_lane_sum(t, 0) == 0.0);
    /* 33 terms: lane 0 holds t_0 + t_32 */
    double u[33];
    for (int i = 0; i < 33; i++)
        u[i] = (double)i;
    ck_assert(kvc_stats_lane_sum(u, 33) == 528.0);
}
END_TEST

/* N = 2, D = 2 by hand: x = [[1,2],[3,4]], x^ = [[1,2],[3,5]].
 * mu = (2, 3); SST = 1 + 1 + 1 + 1 = 4; SSE = 1; rel_mse = 0.25.
 * c_0 = 5 / (sqrt5 sqrt5); c_1 = 29 / (5 sqrt34). */
START_TEST(hand_example)
{
    const float x[] = {1, 2, 3, 4}, xh[] = {1, 2, 3, 5};
    kvc_recon_metrics m;
    ck_assert_int_eq(kvc_stats_recon(x, xh, 2, 2, &m, NULL), KVC_OK);
    ck_assert(m.sst == 4.0);
    ck_assert(m.sse == 1.0);
    ck_assert(m.rel_mse == 0.25);
    double want = (1.0 + 29.0 / (5.0 * sqrt(34.0))) / 2.0;
    ck_assert(fabs(m.cos_sim - want) <= 4e-16);
    ck_assert_uint_eq(m.num_vectors, 2);
    ck_assert_int_eq(m.dim, 2);
    /* x^ = x: rel_mse 0, cos 1 (up to sqrt(a)^2 vs a: 2 ulp) */
    ck_assert_int_eq(kvc_stats_recon(x, x, 2, 2, &m, NULL), KVC_OK);
    ck_assert(m.rel_mse == 0.0);
    ck_assert(fabs(m.cos_sim - 1.0) <= 4.5e-16);
    /* x^ = 0: cos 0 (0 / max(0, 1e-12)); rel_mse = SSE / SST = 30 / 4 */
    const float z[] = {0, 0, 0, 0};
    ck_assert_int_eq(kvc_stats_recon(x, z, 2, 2, &m, NULL), KVC_OK);
    ck_assert(m.cos_sim == 0.0);
    ck_assert(m.rel_mse == 7.5);
    /* constant stream: SST = 0 -> the 1e-12 floor */
    const float c[] = {1, 1, 1, 1}, c2[] = {1, 1, 1, 2};
    ck_assert_int_eq(kvc_stats_recon(c, c2, 2, 2, &m, NULL), KVC_OK);
    ck_assert(m.sst == 0.0);
    ck_assert(m.rel_mse == 1.0 / 1e-12);
}
END_TEST

/* Against a long double oracle (naive order) on Gaussian data with per-dim
 * offsets and scales. The lane sums err by at most about (m/32 + 5) u sum|t|
 * (u = 2^-53) per level: ~1e-13 relative here; tolerance 1e-11. */
START_TEST(matches_long_double_oracle)
{
    enum { N = 700, D = 96 };
    static float x[N * D], xh[N * D];
    uint64_t st = 0x3E7ull;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) {
            x[i * D + j] = (float)(gauss(&st) * (1 + j % 5) + (j % 3) * 10.0);
            xh[i * D + j] = x[i * D + j] + (float)(gauss(&st) * 0.05);
        }
    kvc_recon_metrics m;
    ck_assert_int_eq(kvc_stats_recon(x, xh, N, D, &m, NULL), KVC_OK);
    long double sst = 0, sse = 0, cs = 0;
    for (int j = 0; j < D; j++) {
        long double mu = 0;
        for (int i = 0; i < N; i++)
            mu += x[i * D + j];
        mu /= N;
        for (int i = 0; i < N; i++) {
            long double d = x[i * D + j] - mu, e = (long double)x[i * D + j] - xh[i * D + j];
            sst += d * d;
            sse += e * e;
        }
    }
    for (int i = 0; i < N; i++) {
        long double dot = 0, a = 0, b = 0;
        for (int j = 0; j < D; j++) {
            dot += (long double)x[i * D + j] * xh[i * D + j];
            a += (long double)x[i * D + j] * x[i * D + j];
            b += (long double)xh[i * D + j] * xh[i * D + j];
        }
        cs += dot / (sqrtl(a) * sqrtl(b));
    }
    ck_assert(fabsl(m.sst - sst) <= 1e-11L * sst);
    ck_assert(fabsl(m.sse - sse) <= 1e-11L * sse);
    ck_assert(fabsl(m.rel_mse - sse / sst) <= 1e-11L * (sse / sst));
    ck_assert(fabsl(m.cos_sim - cs / N) <= 1e-14L);
}
END_TEST

START_TEST(bad_arguments)
{
    const float x[] = {1, 2};
    kvc_recon_metrics m;
    kvc_error e;
    kvc_error_clear(&e);
    ck_assert_int_eq(kvc_stats_recon(x, x, 0, 2, &m, &e), KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(kvc_stats_recon(x, x, 1, 0, &m, &e), KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(kvc_stats_recon(NULL, x, 1, 2, &m, &e), KVC_INVALID_ARGUMENT);
}
END_TEST

static Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, lane_sum_order);
    tcase_add_test(tc, hand_example);
    tcase_add_test(tc, matches_long_double_oracle);
    tcase_add_test(tc, bad_arguments);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return kvc_test_run(metrics_suite());
}
