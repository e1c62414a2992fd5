/* Tests for codec/hadamard.h: the normalization constant, the butterfly
 * order, and the transform against binary64 oracles. */
#include <math.h>

#include "codec/hadamard.h"
#include "testutil.h"

/* ck_assert records every passing check (a write per call); hot loops use
 * this, which only reports failures. */
#define REQUIRE_EQ(a, b) REQUIRE((a) == (b))
#define REQUIRE(c)                                                             \
    do {                                                                       \
        if (!(c))                                                              \
            ck_abort_msg("%s:%d: failed: %s", __FILE__, __LINE__, #c);         \
    } while (0)

static float rand_gauss(uint64_t *st)
{
    /* Box-Muller with libm: test data only */
    double u1 = ((double)(kvc_test_rand64(st) >> 11) + 0.5) * 0x1p-53;
    double u2 = (double)(kvc_test_rand64(st) >> 11) * 0x1p-53;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

/* The constant is the binary32 value nearest to 2^(-k/2) (libm oracle in
 * long double), sqrt(2)'s pattern is sqrtf(2), and it equals the published
 * normalization 1.0f / fp32(sqrt(n)). */
START_TEST(scale_is_correctly_rounded)
{
    REQUIRE_EQ(kvc_f32_bits(sqrtf(2.0f)), KVC_F32_SQRT2_BITS);
    for (int k = 0; k <= 12; k++) {
        int n = 1 << k;
        REQUIRE_EQ(kvc_hadamard_log2(n), k);
        float c = kvc_hadamard_scale(n);
        long double exact = 1.0L / sqrtl((long double)n);
        long double err = fabsl((long double)c - exact);
        REQUIRE(err <= fabsl((long double)nextafterf(c, 1.0f) - exact));
        REQUIRE(err <= fabsl((long double)nextafterf(c, 0.0f) - exact));
        float published = 1.0f / (float)sqrt((double)n);
        REQUIRE_EQ(kvc_f32_bits(c), kvc_f32_bits(published));
    }
    REQUIRE_EQ(kvc_f32_bits(kvc_hadamard_scale(512)), 0x3D3504F3u);
    REQUIRE_EQ(kvc_hadamard_log2(0), -1);
    REQUIRE_EQ(kvc_hadamard_log2(3), -1);
    REQUIRE_EQ(kvc_hadamard_log2(8192), -1);
    REQUIRE(kvc_hadamard_scale(6) == 0.0f);
}
END_TEST

/* H e_i = c * (-1)^popcount(i & j), exactly. */
START_TEST(one_hot_rows)
{
    int n = 512;
    float c = kvc_hadamard_scale(n);
    float v[512];
    for (int i = 0; i < n; i += 37) {
        memset(v, 0, sizeof v);
        v[i] = 1.0f;
        kvc_hadamard_f32(v, n, c);
        for (int j = 0; j < n; j++) {
            float want = (__builtin_popcount((unsigned)(i & j)) & 1) ? -c : c;
            REQUIRE_EQ(kvc_f32_bits(v[j]), kvc_f32_bits(want));
        }
    }
}
END_TEST

/* The Sylvester recursion H_2m [a; b] = [H_m a + H_m b; H_m a - H_m b]
 * written recursively: the documented stage order (h ascending) computes
 * exactly these sums, so the bits must agree for every n. */
static void sylvester(float *v, int n)
{
    if (n == 1)
        return;
    int m = n / 2;
    sylvester(v, m);
    sylvester(v + m, m);
    for (int i = 0; i < m; i++) {
        float a = v[i], b = v[i + m];
        v[i] = a + b;
        v[i + m] = a - b;
    }
}

START_TEST(order_matches_recursion)
{
    uint64_t st = 0x4841444Dull;
    static float a[4096], b[4096];
    for (int k = 0; k <= 12; k++) {
        int n = 1 << k;
        for (int rep = 0; rep < 4; rep++) {
            for (int i = 0; i < n; i++)
                a[i] = b[i] = rand_gauss(&st) * (float)(1 << (rep * 3));
            kvc_fwht_butterflies(a, n);
            sylvester(b, n);
            REQUIRE_EQ(memcmp(a, b, (size_t)n * sizeof(float)), 0);
        }
    }
}
END_TEST

/* Against the O(n^2) binary64 product. Each output is a sum of n terms
 * +-x_j taken through k = log2(n) rounded stages and one rounded multiply,
 * so |error| <= (k + 1) * 2^-24 * c * sum|x_j| (a standard bound for
 * recursive summation, with the constant rounding folded in). */
START_TEST(matches_binary64_matrix)
{
    uint64_t st = 77;
    static float v[512];
    static double x[512];
    int n = 512, k = 9;
    float c = kvc_hadamard_scale(n);
    for (int rep = 0; rep < 8; rep++) {
        double l1 = 0.0;
        for (int i = 0; i < n; i++) {
            v[i] = rand_gauss(&st);
            x[i] = v[i];
            l1 += fabs(x[i]);
        }
        kvc_hadamard_f32(v, n, c);
        for (int j = 0; j < n; j++) {
            double s = 0.0;
            for (int i = 0; i < n; i++)
                s += (__builtin_popcount((unsigned)(i & j)) & 1) ? -x[i] : x[i];
            s /= sqrt((double)n);
            REQUIRE(fabs((double)v[j] - s) <= (k + 1) * 0x1p-24 * (double)c * l1);
        }
    }
}
END_TEST

/* H(H(x)) is close to x but not bit-exact in general. Bound: the first
 * pass errs by at most (k+1) 2^-24 c |x|_1 per element (above), which the
 * second pass (an orthogonal map times the rounding) carries as at most
 * sqrt(n) times that in any element, plus its own (k+1) 2^-24 c |y|_1. */
START_TEST(twice_is_close_not_exact)
{
    uint64_t st = 99;
    static float v[512], x[512];
    int n = 512, k = 9, differ = 0;
    float c = kvc_hadamard_scale(n);
    for (int rep = 0; rep < 20; rep++) {
        double l1x = 0.0, l1y = 0.0;
        for (int i = 0; i < n; i++) {
            x[i] = v[i] = rand_gauss(&st);
            l1x += fabs((double)x[i]);
        }
        kvc_hadamard_f32(v, n, c);
        for (int i = 0; i < n; i++)
            l1y += fabs((double)v[i]);
        kvc_hadamard_f32(v, n, c);
        double e1 = (k + 1) * 0x1p-24 * (double)c * l1x;
        double bound = sqrt((double)n) * e1 + (k + 1) * 0x1p-24 * (double)c * (l1y + n * e1);
        for (int i = 0; i < n; i++) {
            REQUIRE(fabs((double)v[i] - (double)x[i]) <= bound);
            differ += (v[i] != x[i]);
        }
    }
    ck_assert_int_gt(differ, 0);
}
END_TEST

static Suite *hadamard_suite(void)
{
    Suite *s = suite_create("hadamard");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, scale_is_correctly_rounded);
    tcase_add_test(tc, one_hot_rows);
    tcase_add_test(tc, order_matches_recursion);
    tcase_add_test(tc, matches_binary64_matrix);
    tcase_add_test(tc, twice_is_close_not_exact);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return kvc_test_run(hadamard_suite());
}
