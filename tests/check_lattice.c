/* Tests for codec/lattice.h: round-half-even against rintf, and the D4,
 * D8 and E8 closest-point searches against brute-force enumeration in
 * exact integer arithmetic. */
#include <fenv.h>
#include <math.h>

#include "codec/lattice.h"
#include "testutil.h"

/* ck_assert records every passing check (a write per call); hot loops use
 * this, which only reports failures. */
#define REQUIRE_EQ(a, b) REQUIRE((a) == (b))
#define REQUIRE(c)                                                             \
    do {                                                                       \
        if (!(c))                                                              \
            ck_abort_msg("%s:%d: failed: %s", __FILE__, __LINE__, #c);         \
    } while (0)

/* rne against libm's rintf under the default rounding mode (round to
 * nearest even): a strided sweep over all 2^32 patterns, every tie k + 1/2
 * and its neighbours, and the special values. Bits must match, the sign
 * of zero included; NaN stays NaN. */
START_TEST(rne_matches_rintf)
{
    REQUIRE_EQ(fegetround(), FE_TONEAREST);
    for (uint64_t u = 0; u < (1ull << 32); u += 251) {
        float v = kvc_f32_from_bits((uint32_t)u);
        float r = kvc_rne_f32(v);
        if (v != v)
            REQUIRE(r != r);
        else
            REQUIRE_EQ(kvc_f32_bits(r), kvc_f32_bits(rintf(v)));
    }
    for (int32_t k = -(1 << 23); k < (1 << 23); k += 3) {
        float t = (float)k + 0.5f; /* exact for |k| < 2^23 */
        float around[3] = {nextafterf(t, -INFINITY), t, nextafterf(t, INFINITY)};
        for (int j = 0; j < 3; j++)
            REQUIRE_EQ(kvc_f32_bits(kvc_rne_f32(around[j])),
                              kvc_f32_bits(rintf(around[j])));
    }
    float special[] = {0.0f, -0.0f, 0.5f, -0.5f, 1.5f, -1.5f, 2.5f, 8388607.5f, 8388608.0f,
                       -8388607.5f, 16777215.0f, 1e30f, INFINITY, -INFINITY, 1e-45f, -1e-45f};
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++)
        REQUIRE_EQ(kvc_f32_bits(kvc_rne_f32(special[i])), kvc_f32_bits(rintf(special[i])));
    REQUIRE(kvc_rne_f32(NAN) != kvc_rne_f32(NAN));
}
END_TEST

/* The search's two-operation rne: equal in value to rintf over its domain
 * |v| <= 2^21 (a zero may come out +0 where rintf gives -0). */
START_TEST(rne_lattice_matches_rintf)
{
    for (uint64_t u = 0; u < (1ull << 32); u += 97) {
        float v = kvc_f32_from_bits((uint32_t)u);
        if (!(fabsf(v) <= 2097152.0f))
            continue;
        REQUIRE(kvc__rne_lattice(v) == rintf(v));
    }
    for (int32_t k = -(1 << 21); k < (1 << 21); k++) {
        float t = (float)k + 0.5f;
        float around[3] = {nextafterf(t, -INFINITY), t, nextafterf(t, INFINITY)};
        for (int j = 0; j < 3; j++)
            REQUIRE(kvc__rne_lattice(around[j]) == rintf(around[j]));
    }
    REQUIRE(kvc__rne_lattice(2097152.0f) == 2097152.0f);
    REQUIRE(kvc__rne_lattice(-2097151.5f) == -2097152.0f);
}
END_TEST

/* ------------------------------------------------------------ brute force */

/* Inputs on the grid 2^-20: y = m * 2^-20 exactly, so every distance below
 * is an exact integer in units of 2^-40 (held in __int128). Points are
 * integers or half-integers, in units of 2^-20 as well. */
#define GRID 20
typedef __int128 i128;

static float grid_value(uint64_t *st, int range)
{
    /* |y| <= range, random low bits, sometimes coarse (ties and integers) */
    uint64_t r = kvc_test_rand64(st);
    int64_t m = (int64_t)(r % (uint64_t)(2 * range * (1 << GRID) + 1)) - range * (1 << GRID);
    switch ((r >> 60) & 3u) {
    case 0:
        m &= ~(int64_t)((1 << (GRID - 1)) - 1); /* multiple of 1/2 */
        break;
    case 1:
        m &= ~(int64_t)((1 << (GRID - 2)) - 1); /* multiple of 1/4 */
        break;
    default:
        break;
    }
    return (float)ldexp((double)m, -GRID);
}

static int64_t to_units(float v)
{
    return (int64_t)ldexp((double)v, GRID); /* exact on the grid */
}

/* Exact squared distance (units 2^-40) from y to a point p (units 2^-20). */
static i128 dist_units(const float *y, const int64_t *p, int n)
{
    i128 s = 0;
    for (int i = 0; i < n; i++) {
        i128 d = (i128)to_units(y[i]) - p[i];
        s += d * d;
    }
    return s;
}

typedef struct search {
    const float *y;
    int n;
    int64_t lo[8];   /* floor(y_i) in whole units */
    int64_t cur[8];  /* candidate in units 2^-20 */
    i128 best;
    int half;        /* 0: integer points, 1: half-integer points */
} search;

/* Every point with each coordinate within +-2 of floor(y_i) (shifted by
 * 1/2 for the half coset), parity-filtered (sum of integer parts even). */
static void enumerate(search *s, int i, int64_t parity, i128 partial)
{
    if (partial > s->best)
        return;
    if (i == s->n) {
        if ((parity & 1) == 0 && partial < s->best)
            s->best = partial;
        return;
    }
    for (int64_t c = s->lo[i] - 2; c <= s->lo[i] + 2; c++) {
        int64_t pt = c * ((int64_t)1 << GRID) + (s->half ? (1 << (GRID - 1)) : 0);
        i128 d = (i128)to_units(s->y[i]) - pt;
        enumerate(s, i + 1, parity + c, partial + d * d);
    }
}

static i128 brute_min(const float *y, int n, int half)
{
    search s;
    s.y = y;
    s.n = n;
    s.half = half;
    s.best = ((i128)1) << 120;
    for (int i = 0; i < n; i++)
        s.lo[i] = (int64_t)floor((double)y[i] - (half ? 0.5 : 0.0));
    enumerate(&s, 0, 0, 0);
    return s.best;
}

static void point_units(const float *p, int64_t *u, int n)
{
    for (int i = 0; i < n; i++)
        u[i] = to_units(p[i]);
}

static int is_dn(const float *p, int n)
{
    long long sum = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] != floorf(p[i]))
            return 0;
        sum += (long long)p[i];
    }
    return (sum % 2) == 0;
}

static int is_e8(const float *p)
{
    float q[8];
    int half = (p[0] != floorf(p[0]));
    for (int i = 0; i < 8; i++)
        q[i] = half ? p[i] - 0.5f : p[i];
    return is_dn(q, 8);
}

/* D4 and D8: the search returns a nearest D_n point, exactly. */
START_TEST(dn_is_nearest)
{
    uint64_t st = 0xD4D8ull + (uint64_t)_i;
    int n = (_i == 0) ? 4 : 8;
    float y[8], f[8];
    int64_t fu[8];
    int trials = (n == 4) ? 20000 : 1500;
    for (int t = 0; t < trials; t++) {
        int range = (t % 3 == 0) ? 2 : 70;
        for (int i = 0; i < n; i++)
            y[i] = grid_value(&st, range);
        kvc_lattice_dn_closest(y, f, n);
        REQUIRE(is_dn(f, n));
        point_units(f, fu, n);
        REQUIRE(dist_units(y, fu, n) == brute_min(y, n, 0));
    }
}
END_TEST

/* Hand-derived cases of the tie rules: rne ties to even, first index of
 * the largest |y - f|, +1 when y_k - f_k >= 0. */
START_TEST(dn_tie_rules)
{
    static const float cases[][2][4] = {
        {{0.5f, 0.0f, 0.0f, 0.0f}, {0.0f, 0.0f, 0.0f, 0.0f}},     /* 0.5 -> 0, even */
        {{0.5f, 1.0f, 0.0f, 0.0f}, {1.0f, 1.0f, 0.0f, 0.0f}},     /* odd: fix k=0 up */
        {{1.5f, 0.5f, 0.0f, 0.0f}, {2.0f, 0.0f, 0.0f, 0.0f}},     /* 1.5 -> 2, 0.5 -> 0 */
        {{-0.5f, 1.0f, 0.0f, 0.0f}, {-1.0f, 1.0f, 0.0f, 0.0f}},   /* diff -0.5: down */
        {{1.0f, 0.0f, 0.0f, 0.0f}, {2.0f, 0.0f, 0.0f, 0.0f}},     /* diff 0 >= 0: up */
        {{0.25f, -0.25f, 0.0f, 1.0f}, {1.0f, 0.0f, 0.0f, 1.0f}},  /* first of equal */
        {{0.0f, -0.25f, 0.25f, 1.0f}, {0.0f, -1.0f, 0.0f, 1.0f}}, /* first is index 1 */
        {{2.5f, 3.5f, 0.0f, 0.0f}, {2.0f, 4.0f, 0.0f, 0.0f}},     /* both to even */
        {{2.5f, 2.5f, 1.0f, 0.0f}, {3.0f, 2.0f, 1.0f, 0.0f}},     /* 2+2+1 odd: k=0 up */
    };
    float f[4];
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        kvc_lattice_dn_closest(cases[c][0], f, 4);
        for (int i = 0; i < 4; i++)
            ck_assert_msg(f[i] == cases[c][1][i], "case %zu coord %d: %g", c, i, (double)f[i]);
    }
}
END_TEST

/* E8 on grid inputs (all arithmetic exact for |y| < 128 on the 2^-20
 * grid: y - 0.5, y - p and their squares and sums of 8 such are exact in
 * binary32 only when few bits are set, so the rounded da, db can misorder
 * near-equal candidates). Required: the result is an E8 point; its exact
 * distance is the brute-force minimum up to 2^-18 (1 + min) -- the
 * rounding allowance of two binary32 sums of 8 squares; and whenever the
 * two cosets' exact minima differ by more than that, it is exactly nearest. */
START_TEST(e8_is_nearest)
{
    uint64_t st = 0xE8E8ull;
    float y[8], p[8];
    int64_t pu[8];
    int inexact = 0;
    for (int t = 0; t < 400; t++) {
        int range = (t % 2 == 0) ? 2 : 40;
        for (int i = 0; i < 8; i++)
            y[i] = grid_value(&st, range);
        kvc_lattice_e8_closest(y, p);
        REQUIRE(is_e8(p));
        point_units(p, pu, 8);
        i128 got = dist_units(y, pu, 8);
        i128 ma = brute_min(y, 8, 0), mb = brute_min(y, 8, 1);
        i128 best = ma < mb ? ma : mb;
        double allow = ldexp(1.0, -18) * (1.0 + ldexp((double)best, -40));
        double gap = ldexp((double)(ma > mb ? ma - mb : mb - ma), -40);
        if (got != best) {
            inexact++;
            REQUIRE(ldexp((double)(got - best), -40) <= allow);
            REQUIRE(gap <= allow);
        }
    }
    ck_assert_int_le(inexact, 4);
}
END_TEST

/* Exact coset ties: quarter-integer inputs make every operation exact, so
 * da == db exactly when the cosets' minima tie, and the integer coset must
 * be taken (da <= db). */
START_TEST(e8_coset_ties_go_to_integers)
{
    uint64_t st = 0x71E5ull;
    float y[8], p[8];
    int64_t pu[8];
    int ties = 0;
    for (int t = 0; t < 3000; t++) {
        for (int i = 0; i < 8; i++) {
            int64_t m = (int64_t)(kvc_test_rand64(&st) % 41u) - 20; /* quarters in [-5, 5] */
            y[i] = (float)m * 0.25f;
        }
        int half = kvc_lattice_e8_closest(y, p);
        point_units(p, pu, 8);
        i128 got = dist_units(y, pu, 8);
        i128 ma = brute_min(y, 8, 0), mb = brute_min(y, 8, 1);
        REQUIRE(got == (ma < mb ? ma : mb)); /* exact arithmetic: exactly nearest */
        if (ma == mb) {
            ties++;
            REQUIRE_EQ(half, 0);
        } else {
            REQUIRE_EQ(half, mb < ma);
        }
    }
    ck_assert_int_gt(ties, 100);
    /* the all-0.25 vector: both cosets at 8 * 1/16 = 0.5 */
    for (int i = 0; i < 8; i++)
        y[i] = 0.25f;
    REQUIRE_EQ(kvc_lattice_e8_closest(y, p), 0);
    for (int i = 0; i < 8; i++)
        REQUIRE(p[i] == 0.0f);
}
END_TEST

/* Full-precision inputs (tiny and mid-size values whose y - 0.5 rounds):
 * a valid E8 point within the allowance of the nearest (binary64 check on
 * a rounded oracle: the brute force runs on y rounded to the 2^-20 grid,
 * so compare distances with a 2^-17 slack). */
START_TEST(e8_full_precision_inputs)
{
    uint64_t st = 0xF00Dull;
    float y[8], p[8];
    for (int t = 0; t < 200; t++) {
        for (int i = 0; i < 8; i++) {
            double u = (double)(kvc_test_rand64(&st) >> 11) * 0x1p-53;
            int sh = (int)(kvc_test_rand64(&st) % 40u);
            y[i] = (float)((u - 0.5) * 8.0 * ldexp(1.0, -sh));
        }
        kvc_lattice_e8_closest(y, p);
        REQUIRE(is_e8(p));
        double got = 0.0;
        for (int i = 0; i < 8; i++)
            got += ((double)y[i] - p[i]) * ((double)y[i] - p[i]);
        float yg[8];
        for (int i = 0; i < 8; i++)
            yg[i] = (float)ldexp(nearbyint(ldexp((double)y[i], GRID)), -GRID);
        i128 ma = brute_min(yg, 8, 0), mb = brute_min(yg, 8, 1);
        double best = ldexp((double)(ma < mb ? ma : mb), -40);
        REQUIRE(sqrt(got) <= sqrt(best) + 8 * 0x1p-20 + 0x1p-17);
    }
}
END_TEST

static Suite *lattice_suite(void)
{
    Suite *s = suite_create("lattice");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, rne_matches_rintf);
    tcase_add_test(tc, rne_lattice_matches_rintf);
    tcase_add_loop_test(tc, dn_is_nearest, 0, 2);
    tcase_add_test(tc, dn_tie_rules);
    tcase_add_test(tc, e8_is_nearest);
    tcase_add_test(tc, e8_coset_ties_go_to_integers);
    tcase_add_test(tc, e8_full_precision_inputs);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return kvc_test_run(lattice_suite());
}
