/* Tests for core/detmath: the deterministic binary32 exp, log, sin, cos,
 * pow against a binary64 libm oracle.
 *
 * Oracle: the binary64 libm function (glibc), rounded once to binary32.
 * It agrees with the correctly rounded binary32 result except where the
 * exact value lies within about 2^-53 relative of a binary32 midpoint, so
 * "ulp distance to the oracle <= the header's bound" is the bound stated
 * there (the bounds are 1 ulp; a result 1 ulp off the oracle is still
 * within it in either case). Distances are counted between bit patterns
 * (ordered as integers), so they are exact at every binade boundary, in
 * the subnormal range and at infinity. NaN matches NaN.
 *
 * The sweeps here keep `make check` short; tests/exhaustive_detmath.c
 * (make check-exhaustive-math) runs all 2^32 inputs. */
#include <float.h>
#include <math.h>

#include "core/detmath.h"
#include "testutil.h"

/* The two binary32 values have the same bits. */
#define CHECK_BITS(got, want)                                                 \
    do {                                                                      \
        float g_ = (got), w_ = (want);                                        \
        CHECK_MSG(kvc_f32_bits(g_) == kvc_f32_bits(w_), "line %d: %s = %a, want %a", \
              __LINE__, #got, (double)g_, (double)w_);                        \
    } while (0)

/* ---------------------------------------------------------------- metric */

static int64_t ordered(float f)
{
    uint32_t u = kvc_f32_bits(f);
    return (u >> 31) ? -(int64_t)(u & 0x7FFFFFFFu) : (int64_t)u;
}

static int64_t ulp_dist(float got, float want)
{
    int got_nan = isnan(got) != 0, want_nan = isnan(want) != 0;
    if (got_nan || want_nan)
        return got_nan && want_nan ? 0 : INT64_MAX;
    int64_t d = ordered(got) - ordered(want);
    return d < 0 ? -d : d;
}

/* The metric itself, on hand-picked pairs. */
START_TEST(metric)
{
    ck_assert_int_eq(ulp_dist(1.0f, 1.0f), 0);
    ck_assert_int_eq(ulp_dist(1.0f, nextafterf(1.0f, 2.0f)), 1);
    ck_assert_int_eq(ulp_dist(1.0f, nextafterf(1.0f, 0.0f)), 1);
    ck_assert_int_eq(ulp_dist(0.0f, -0.0f), 0);
    ck_assert_int_eq(ulp_dist(FLT_TRUE_MIN, -FLT_TRUE_MIN), 2);
    ck_assert_int_eq(ulp_dist(FLT_MAX, INFINITY), 1);
    ck_assert_int_eq(ulp_dist(NAN, NAN), 0);
    ck_assert(ulp_dist(NAN, 1.0f) > 1000);
    ck_assert(ulp_dist(INFINITY, -INFINITY) > 1000);
}
END_TEST

/* ---------------------------------------------------------------- unary */

enum { F_EXP, F_LOG, F_SIN, F_COS };

struct unary {
    const char *name;
    float (*fn)(float);
    double (*oracle)(double);
    int64_t bound;
};

static const struct unary unaries[] = {
    {"exp", kvc_expf, exp, KVC_EXPF_MAX_ULP},
    {"log", kvc_logf, log, KVC_LOGF_MAX_ULP},
    {"sin", kvc_sinf, sin, KVC_SINF_MAX_ULP},
    {"cos", kvc_cosf, cos, KVC_COSF_MAX_ULP},
};

/* Every stride-th bit pattern in [lo, hi] (odd strides, so every low bit
 * pattern occurs). Strides keep the whole file near 50 M evaluations
 * (a few seconds; under ASan well under a minute). */
struct sweep {
    int fn;
    uint32_t lo, hi, stride;
    const char *what;
};

static const struct sweep sweeps[] = {
    {F_EXP, 0x00000000u, 0xFFFFFFFFu, 1021, "exp, whole domain"},
    {F_EXP, 0x00000000u, 0x42B20000u, 211, "exp on [0, 89]"},
    {F_EXP, 0x80000000u, 0xC2D00000u, 211, "exp on [-104, -0]"},
    {F_EXP, 0x42B17000u, 0x42B18000u, 1, "exp, every input near the overflow threshold"},
    {F_EXP, 0xC2AE0000u, 0xC2D00000u, 7, "exp, subnormal results [-104, -87]"},
    {F_LOG, 0x00000000u, 0xFFFFFFFFu, 1021, "log, whole domain"},
    {F_LOG, 0x00000001u, 0x7F7FFFFFu, 211, "log on all positive finite"},
    {F_LOG, 0x00000001u, 0x007FFFFFu, 13, "log on subnormals"},
    {F_LOG, 0x3F700000u, 0x3F880000u, 1, "log, every input in [0.9375, 1.0625]"},
    {F_SIN, 0x00000000u, 0xFFFFFFFFu, 1021, "sin, whole domain"},
    {F_SIN, 0x00000000u, 0x48800000u, 211, "sin on [0, 2^18]"},
    {F_SIN, 0x80000000u, 0xC8800000u, 1999, "sin on [-2^18, -0]"},
    {F_SIN, 0x48800000u, 0x7F7FFFFFu, 4099, "sin on [2^18, FLT_MAX]"},
    {F_SIN, 0x49700000u, 0x49900000u, 3, "sin around the Cody-Waite / Payne-Hanek switch (2^20)"},
    {F_COS, 0x00000000u, 0xFFFFFFFFu, 1021, "cos, whole domain"},
    {F_COS, 0x00000000u, 0x48800000u, 211, "cos on [0, 2^18]"},
    {F_COS, 0x80000000u, 0xC8800000u, 1999, "cos on [-2^18, -0]"},
    {F_COS, 0x48800000u, 0x7F7FFFFFu, 4099, "cos on [2^18, FLT_MAX]"},
    {F_COS, 0x49700000u, 0x49900000u, 3, "cos around the Cody-Waite / Payne-Hanek switch (2^20)"},
};

START_TEST(sweep_unary)
{
    const struct sweep *s = &sweeps[_i];
    const struct unary *f = &unaries[s->fn];
    int64_t worst = 0;
    uint32_t worst_at = s->lo;
    uint64_t n = 0;
    for (uint64_t i = s->lo; i <= s->hi; i += s->stride) {
        float x = kvc_f32_from_bits((uint32_t)i);
        float got = f->fn(x);
        float want = (float)f->oracle((double)x);
        int64_t d = ulp_dist(got, want);
        if (d > worst) {
            worst = d;
            worst_at = (uint32_t)i;
        }
        n++;
    }
    float x = kvc_f32_from_bits(worst_at);
    ck_assert_msg(worst <= f->bound,
                  "%s: %lld ulp > %lld at x = 0x%08X (%a): got %a, oracle %a", s->what,
                  (long long)worst, (long long)f->bound, worst_at, (double)x,
                  (double)f->fn(x), (double)(float)f->oracle((double)x));
    ck_assert_uint_gt(n, 0);
}
END_TEST

/* kvc_sincosf gives exactly the bits of kvc_sinf and kvc_cosf. */
START_TEST(sincos_matches)
{
    for (uint64_t i = 0; i <= 0xFFFFFFFFu; i += 40009) {
        float x = kvc_f32_from_bits((uint32_t)i), s, c;
        kvc_sincosf(x, &s, &c);
        float s1 = kvc_sinf(x), c1 = kvc_cosf(x);
        CHECK_MSG(memcmp(&s, &s1, 4) == 0 && memcmp(&c, &c1, 4) == 0, "x = 0x%08X",
                      (uint32_t)i);
    }
}
END_TEST

/* RoPE as SPEC 5.3 uses it: f_i = base^(-2i/64), angle fp32(p * f_i) for
 * positions p up to 65535, sin and cos of each. */
START_TEST(rope_angles)
{
    static const float bases[2] = {10000.0f, 160000.0f};
    int64_t worst = 0;
    for (int b = 0; b < 2; b++)
        for (int i = 0; i < 32; i++) {
            float f = kvc_powf(bases[b], (float)(-2 * i) / 64.0f);
            for (int p = 0; p < 65536; p += (p < 1024 ? 1 : 13)) {
                float phi = (float)p * f;
                float s, c;
                kvc_sincosf(phi, &s, &c);
                int64_t ds = ulp_dist(s, (float)sin((double)phi));
                int64_t dc = ulp_dist(c, (float)cos((double)phi));
                CHECK_MSG(ds <= KVC_SINF_MAX_ULP && dc <= KVC_COSF_MAX_ULP,
                              "phi = %a (base %g, i %d, p %d): sin %lld ulp, cos %lld ulp",
                              (double)phi, (double)bases[b], i, p, (long long)ds,
                              (long long)dc);
                if (ds > worst)
                    worst = ds;
                if (dc > worst)
                    worst = dc;
            }
        }
    ck_assert_int_le(worst, KVC_SINF_MAX_ULP);
}
END_TEST

/* ---------------------------------------------------------------- specials */

#define QNAN_BITS 0x7FC00000u /* the documented canonical NaN result */
#define PINF_BITS 0x7F800000u
#define NINF_BITS 0xFF800000u
#define PZERO_BITS 0x00000000u
#define NZERO_BITS 0x80000000u
#define ONE_BITS 0x3F800000u

struct special1 {
    int fn;
    uint32_t x, want;
};

/* C11 Annex F, hand-derived: F.10.3.1 exp, F.10.3.7 log, F.10.1.6 sin,
 * F.10.1.5 cos; NaN inputs of any sign and payload give the canonical
 * NaN. */
static const struct special1 specials1[] = {
    {F_EXP, PZERO_BITS, ONE_BITS},
    {F_EXP, NZERO_BITS, ONE_BITS},
    {F_EXP, PINF_BITS, PINF_BITS},
    {F_EXP, NINF_BITS, PZERO_BITS},
    {F_EXP, 0x7FC00000u, QNAN_BITS},
    {F_EXP, 0xFFC00001u, QNAN_BITS},
    {F_EXP, 0x7F800001u, QNAN_BITS},
    {F_EXP, 0x42B17218u, PINF_BITS}, /* 88.72283935546875: e^x > FLT_MAX + ulp/2 */
    {F_EXP, 0x42B17217u, 0x7F7FFF84u}, /* 88.72283172607422: finite */
    {F_EXP, 0x7F7FFFFFu, PINF_BITS},
    {F_EXP, 0xFF7FFFFFu, PZERO_BITS},
    {F_EXP, 0xC2CFF1B4u, 0x00000001u}, /* -103.972076: e^x = 1.0000007 * 2^-150 -> 2^-149 */
    {F_EXP, 0xC2CFF1B5u, PZERO_BITS}, /* -103.972084: e^x = 0.999993 * 2^-150 -> +0 */
    {F_EXP, 0xC2D00000u, PZERO_BITS}, /* -104: e^-104 < 2^-150 */
    {F_LOG, PZERO_BITS, NINF_BITS},
    {F_LOG, NZERO_BITS, NINF_BITS},
    {F_LOG, ONE_BITS, PZERO_BITS},
    {F_LOG, PINF_BITS, PINF_BITS},
    {F_LOG, NINF_BITS, QNAN_BITS},
    {F_LOG, 0xBF800000u, QNAN_BITS}, /* -1 */
    {F_LOG, 0x80000001u, QNAN_BITS}, /* -2^-149 */
    {F_LOG, 0x7FC00000u, QNAN_BITS},
    {F_LOG, 0xFFFFFFFFu, QNAN_BITS},
    {F_LOG, 0x7F800001u, QNAN_BITS},
    {F_SIN, PZERO_BITS, PZERO_BITS},
    {F_SIN, NZERO_BITS, NZERO_BITS},
    {F_SIN, 0x00000001u, 0x00000001u}, /* sin(2^-149) = 2^-149 */
    {F_SIN, 0x80000001u, 0x80000001u},
    {F_SIN, PINF_BITS, QNAN_BITS},
    {F_SIN, NINF_BITS, QNAN_BITS},
    {F_SIN, 0x7FC00000u, QNAN_BITS},
    {F_SIN, 0xFFC12345u, QNAN_BITS},
    {F_COS, PZERO_BITS, ONE_BITS},
    {F_COS, NZERO_BITS, ONE_BITS},
    {F_COS, 0x00000001u, ONE_BITS},
    {F_COS, PINF_BITS, QNAN_BITS},
    {F_COS, NINF_BITS, QNAN_BITS},
    {F_COS, 0x7FC00000u, QNAN_BITS},
    {F_COS, 0xFF800001u, QNAN_BITS},
};

START_TEST(special_unary)
{
    const struct special1 *c = &specials1[_i];
    const struct unary *f = &unaries[c->fn];
    float x = kvc_f32_from_bits(c->x);
    uint32_t got = kvc_f32_bits(f->fn(x));
    ck_assert_msg(got == c->want, "%s(0x%08X) = 0x%08X, want 0x%08X", f->name, c->x, got,
                  c->want);
    /* the hand-derived value agrees with the oracle too */
    ck_assert_int_eq(ulp_dist(kvc_f32_from_bits(c->want), (float)f->oracle((double)x)), 0);
    if (c->fn == F_SIN || c->fn == F_COS) {
        float s, co;
        kvc_sincosf(x, &s, &co);
        ck_assert_uint_eq(kvc_f32_bits(c->fn == F_SIN ? s : co), c->want);
    }
}
END_TEST

struct special2 {
    uint32_t x, y, want;
};

#define F_2 0x40000000u
#define F_3 0x40400000u
#define F_HALF 0x3F000000u
#define F_M1 0xBF800000u
#define F_M2 0xC0000000u
#define F_M3 0xC0400000u
#define F_M05 0xBF000000u
#define F_1_5 0x3FC00000u
#define F_M1_5 0xBFC00000u
#define F_2P24 0x4B800000u /* 16777216: an even integer */
#define F_ODD_BIG 0x4B7FFFFFu /* 16777215: the largest odd binary32 */
#define F_NAN 0x7FC00000u
#define F_NNAN 0xFFC00000u

/* C11 F.10.4.4, hand-derived, in the standard's order. */
static const struct special2 specials2[] = {
    /* pow(x, +-0) = 1 for any x, even NaN */
    {F_2, PZERO_BITS, ONE_BITS},
    {F_M3, NZERO_BITS, ONE_BITS},
    {F_NAN, PZERO_BITS, ONE_BITS},
    {F_NNAN, NZERO_BITS, ONE_BITS},
    {PINF_BITS, PZERO_BITS, ONE_BITS},
    {NINF_BITS, NZERO_BITS, ONE_BITS},
    {PZERO_BITS, PZERO_BITS, ONE_BITS},
    /* pow(+1, y) = 1 for any y, even NaN */
    {ONE_BITS, F_NAN, ONE_BITS},
    {ONE_BITS, F_NNAN, ONE_BITS},
    {ONE_BITS, PINF_BITS, ONE_BITS},
    {ONE_BITS, NINF_BITS, ONE_BITS},
    {ONE_BITS, 0x7F7FFFFFu, ONE_BITS},
    /* NaN otherwise when an argument is NaN */
    {F_NAN, F_2, QNAN_BITS},
    {F_2, F_NAN, QNAN_BITS},
    {F_M1, F_NAN, QNAN_BITS},
    {F_NNAN, ONE_BITS, QNAN_BITS},
    /* pow(+-0, y) */
    {PZERO_BITS, F_M3, PINF_BITS},
    {NZERO_BITS, F_M3, NINF_BITS},
    {NZERO_BITS, F_M1, NINF_BITS},
    {NZERO_BITS, 0xCB7FFFFFu, NINF_BITS}, /* y = -16777215, odd */
    {PZERO_BITS, F_M2, PINF_BITS},
    {NZERO_BITS, F_M2, PINF_BITS},
    {NZERO_BITS, F_M05, PINF_BITS},
    {NZERO_BITS, 0xCB800000u, PINF_BITS}, /* y = -2^24, even */
    {NZERO_BITS, NINF_BITS, PINF_BITS},
    {PZERO_BITS, NINF_BITS, PINF_BITS},
    {PZERO_BITS, F_3, PZERO_BITS},
    {NZERO_BITS, F_3, NZERO_BITS},
    {NZERO_BITS, F_ODD_BIG, NZERO_BITS},
    {NZERO_BITS, F_2, PZERO_BITS},
    {NZERO_BITS, F_HALF, PZERO_BITS},
    {NZERO_BITS, F_2P24, PZERO_BITS},
    {NZERO_BITS, PINF_BITS, PZERO_BITS},
    /* pow(-1, +-inf) = 1 */
    {F_M1, PINF_BITS, ONE_BITS},
    {F_M1, NINF_BITS, ONE_BITS},
    /* pow(x, -inf), pow(x, +inf) */
    {F_HALF, NINF_BITS, PINF_BITS},
    {F_M05, NINF_BITS, PINF_BITS},
    {0x3F7FFFFFu, NINF_BITS, PINF_BITS},
    {F_2, NINF_BITS, PZERO_BITS},
    {F_M2, NINF_BITS, PZERO_BITS},
    {0x3F800001u, NINF_BITS, PZERO_BITS},
    {F_HALF, PINF_BITS, PZERO_BITS},
    {F_M05, PINF_BITS, PZERO_BITS},
    {0x00000001u, PINF_BITS, PZERO_BITS},
    {F_2, PINF_BITS, PINF_BITS},
    {F_M2, PINF_BITS, PINF_BITS},
    {PINF_BITS, PINF_BITS, PINF_BITS},
    {NINF_BITS, PINF_BITS, PINF_BITS},
    {PINF_BITS, NINF_BITS, PZERO_BITS},
    {NINF_BITS, NINF_BITS, PZERO_BITS},
    /* pow(-inf, y) */
    {NINF_BITS, F_M3, NZERO_BITS},
    {NINF_BITS, F_M2, PZERO_BITS},
    {NINF_BITS, F_M05, PZERO_BITS},
    {NINF_BITS, F_3, NINF_BITS},
    {NINF_BITS, ONE_BITS, NINF_BITS},
    {NINF_BITS, F_2, PINF_BITS},
    {NINF_BITS, F_HALF, PINF_BITS},
    {NINF_BITS, F_2P24, PINF_BITS},
    /* pow(+inf, y) */
    {PINF_BITS, F_M05, PZERO_BITS},
    {PINF_BITS, 0x80000001u, PZERO_BITS},
    {PINF_BITS, 0x00000001u, PINF_BITS},
    {PINF_BITS, F_HALF, PINF_BITS},
    /* pow(x < 0 finite, y finite non-integer) = NaN */
    {F_M2, F_HALF, QNAN_BITS},
    {F_M2, F_1_5, QNAN_BITS},
    {F_M1, F_M1_5, QNAN_BITS},
    {0x80000001u, 0x00000001u, QNAN_BITS},
    {0xFF7FFFFFu, 0x4AFFFFFFu, QNAN_BITS}, /* y = 8388607.5 */
    /* negative base, integer exponent */
    {F_M2, F_3, 0xC1000000u}, /* -8 */
    {F_M2, F_2, 0x40800000u}, /* 4 */
    {F_M2, F_M3, 0xBE000000u}, /* -0.125 */
    {F_M1, F_ODD_BIG, F_M1},
    {F_M1, F_2P24, ONE_BITS},
    {F_M1, 0x7F7FFFFFu, ONE_BITS}, /* FLT_MAX is an even integer */
    {F_M2, 0x43000000u, PINF_BITS}, /* (-2)^128 overflows to +inf */
    {F_M2, 0x42FE0000u, 0xFF000000u}, /* (-2)^127 = -2^127 */
    {F_M2, 0xC3160000u, PZERO_BITS}, /* (-2)^-150 = 2^-150: a tie, to even +0 */
    {F_M2, 0xC3170000u, NZERO_BITS}, /* (-2)^-151 = -2^-151 rounds to -0 */
    {F_M2, 0xC3150000u, 0x80000001u}, /* (-2)^-149 = -2^-149 */
    /* pow(x, 0.5) = sqrt(x) for x > 0 */
    {0x40800000u, F_HALF, F_2},
    {PINF_BITS, F_HALF, PINF_BITS},
};

START_TEST(special_pow)
{
    const struct special2 *c = &specials2[_i];
    float x = kvc_f32_from_bits(c->x), y = kvc_f32_from_bits(c->y);
    uint32_t got = kvc_f32_bits(kvc_powf(x, y));
    ck_assert_msg(got == c->want, "pow(0x%08X, 0x%08X) = 0x%08X, want 0x%08X", c->x, c->y, got,
                  c->want);
    /* glibc's pow follows Annex F as well (NaN sign and payload aside) */
    ck_assert_int_eq(ulp_dist(kvc_f32_from_bits(c->want), (float)pow((double)x, (double)y)), 0);
}
END_TEST

/* ---------------------------------------------------------------- exact */

/* Results that must be exact, each derived by hand:
 *  exp(x) = 1 for |x| < 2^-25 (1 + x is within half an ulp of 1);
 *  sin(x) = x for 0 < |x| <= 2^-12 (x^3/6 < ulp(x)/4);
 *  cos(x) = 1 for |x| < 2^-12 (x^2/2 < 2^-25, half the ulp below 1);
 *  log(1) = +0; and the signed zeros in the special tables. */
START_TEST(exact_small)
{
    ck_assert_uint_eq(kvc_f32_bits(kvc_expf(0.0f)), ONE_BITS);
    ck_assert_uint_eq(kvc_f32_bits(kvc_expf(-0.0f)), ONE_BITS);
    ck_assert_uint_eq(kvc_f32_bits(kvc_logf(1.0f)), PZERO_BITS);
    ck_assert_uint_eq(kvc_f32_bits(kvc_sinf(0.0f)), PZERO_BITS);
    ck_assert_uint_eq(kvc_f32_bits(kvc_sinf(-0.0f)), NZERO_BITS);
    ck_assert_uint_eq(kvc_f32_bits(kvc_cosf(0.0f)), ONE_BITS);
    for (uint32_t u = 1; u < 0x33000000u; u += 997) { /* |x| < 2^-25 */
        float x = kvc_f32_from_bits(u);
        CHECK_BITS(kvc_expf(x), 1.0f);
        CHECK_BITS(kvc_expf(-x), 1.0f);
    }
    for (uint32_t u = 1; u <= 0x39800000u; u += 997) { /* |x| <= 2^-12 */
        float x = kvc_f32_from_bits(u);
        CHECK_BITS(kvc_sinf(x), kvc_f32_from_bits(u));
        CHECK_BITS(kvc_sinf(-x), kvc_f32_from_bits(u | 0x80000000u));
        if (u < 0x39800000u)
            CHECK_BITS(kvc_cosf(x), 1.0f);
    }
}
END_TEST

/* pow(2, k) = 2^k exactly for every integer k with 2^k in range
 * (subnormal included); 2^-150 is a tie and rounds to even (+0). */
START_TEST(exact_pow2)
{
    for (int k = -149; k <= 127; k++) {
        float want = ldexpf(1.0f, k);
        CHECK_BITS(kvc_powf(2.0f, (float)k), want);
        CHECK_BITS(kvc_powf(0.5f, (float)-k), want);
        CHECK_BITS(kvc_powf(-2.0f, (float)k), (k & 1) ? -want : want);
        if (k % 2 == 0)
            CHECK_BITS(kvc_powf(4.0f, (float)(k / 2)), want);
    }
    ck_assert_uint_eq(kvc_f32_bits(kvc_powf(2.0f, -150.0f)), PZERO_BITS);
    ck_assert_uint_eq(kvc_f32_bits(kvc_powf(2.0f, 128.0f)), PINF_BITS);
    /* 2^(k + 1/2) for the largest k keeps the half: sqrt(2) * 2^k */
    ck_assert_float_eq(kvc_powf(2.0f, 0.5f), sqrtf(2.0f));
}
END_TEST

/* Exact results that are binary32 values come out exact: n^k for small
 * integers whose powers stay below 2^24, and x^1 = x. */
START_TEST(exact_pow_int)
{
    static const int bases[] = {3, 5, 7, 10, 11, 13};
    for (size_t b = 0; b < sizeof bases / sizeof bases[0]; b++) {
        int64_t v = 1;
        for (int k = 0; v < (1 << 24); k++, v *= bases[b]) {
            CHECK_BITS(kvc_powf((float)bases[b], (float)k), (float)v);
            CHECK_BITS(kvc_powf((float)-bases[b], (float)k), (k & 1) ? -(float)v : (float)v);
        }
    }
    uint64_t st = 0x5EEDF00Dull;
    for (int i = 0; i < 100000; i++) {
        uint32_t u = (uint32_t)kvc_test_rand64(&st);
        float x = kvc_f32_from_bits(u);
        if (isnan(x))
            continue;
        CHECK_BITS(kvc_powf(x, 1.0f), kvc_f32_from_bits(u));
        /* x with at most 12 significant bits: x^2 is a binary32 value */
        float x12 = kvc_f32_from_bits(u & 0xFFFFF000u);
        float sq = x12 * x12;
        if (isfinite(sq) && fabsf(sq) >= FLT_MIN)
            CHECK_BITS(kvc_powf(x12, 2.0f), sq);
    }
}
END_TEST

/* Exact midpoints are rounded to even (the header's exact path). Every
 * family the header names: x = b^(2^k) * 2^(2^k j) with odd b, y = n/2^k,
 * x^y = b^n * 2^(n j) with b^n odd in [2^24, 2^25) -- a 25-bit odd
 * integer, so exactly halfway between two binary32 values. The expected
 * value is the integer b^n converted to binary32 (round to nearest even)
 * and scaled. Also x^2 for every x is correctly rounded (x*x is exact in
 * binary64). */
START_TEST(pow_midpoints)
{
    int cases = 0;
    for (int k = 0; k <= 3; k++)
        for (int64_t b = 3; b < 4096; b += 2) {
            int64_t a = b;
            for (int i = 0; i < k; i++)
                a *= a;
            if (a >= (1 << 24))
                break;
            int64_t v = b;
            for (int n = 2; n <= 15 && v < (1 << 25); n++) {
                v *= b;
                if ((n & 1) == 0 && k > 0)
                    continue; /* n/2^k not in lowest terms: another k covers it */
                if (v < (1 << 24) || v >= (1 << 25))
                    continue;
                for (int j = -3; j <= 3; j++) {
                    float x = ldexpf((float)a, (1 << k) * j);
                    float y = ldexpf((float)n, -k);
                    float want = ldexpf((float)v, n * j);
                    CHECK_MSG(kvc_powf(x, y) == want, "pow(%a, %a) = %a, want %a", (double)x,
                                  (double)y, (double)kvc_powf(x, y), (double)want);
                    cases++;
                }
            }
        }
    ck_assert_int_gt(cases, 500);
    uint64_t st = 0xA11CE5ull;
    for (int i = 0; i < 200000; i++) {
        float x = kvc_f32_from_bits((uint32_t)kvc_test_rand64(&st) & 0x7FFFFFFFu);
        if (isnan(x))
            continue;
        CHECK_BITS(kvc_powf(x, 2.0f), (float)((double)x * (double)x));
    }
}
END_TEST

/* pow(x, 0.5) is documented as sqrtf(x) for x > 0 (bit-exact). */
START_TEST(pow_half_is_sqrt)
{
    for (uint32_t u = 1; u < 0x7F800000u; u += 4093) {
        float x = kvc_f32_from_bits(u);
        CHECK_BITS(kvc_powf(x, 0.5f), sqrtf(x));
    }
}
END_TEST

/* ---------------------------------------------------------------- pow */

/* f_i = base^(-2i/64) of SPEC 5.3, i = 0..31: the correctly rounded
 * values, computed with mpmath at 300 bits and rounded to binary32
 * (round to nearest even) -- an oracle independent of libm. */
static const uint32_t rope_10000[32] = {
    0x3F800000u, 0x3F3FF911u, 0x3F0FF59Au, 0x3ED7E89Bu, 0x3EA1E89Bu, 0x3E72D424u, 0x3E361887u,
    0x3E088D77u, 0x3DCCCCCDu, 0x3D99940Eu, 0x3D6655C3u, 0x3D2CBA15u, 0x3D0186E2u, 0x3CC24350u,
    0x3C91AD39u, 0x3C5A7BF1u, 0x3C23D70Au, 0x3BF5B9B0u, 0x3BB8449Cu, 0x3B8A2E77u, 0x3B4F3E37u,
    0x3B1B690Du, 0x3AE91528u, 0x3AAEC98Eu, 0x3A83126Fu, 0x3A44948Cu, 0x3A136A16u, 0x39DD1726u,
    0x39A5CB5Fu, 0x3978A814u, 0x393A7753u, 0x390BD472u};
static const uint32_t rope_160000[32] = {
    0x3F800000u, 0x3F300A3Au, 0x3EF21C1Fu, 0x3EA67D01u, 0x3E64F92Eu, 0x3E1D7475u, 0x3DD88CB5u,
    0x3D94E963u, 0x3D4CCCCDu, 0x3D0CD4FBu, 0x3CC1B019u, 0x3C8530CEu, 0x3C372DBFu, 0x3BFBED88u,
    0x3BAD3D5Du, 0x3B6E4237u, 0x3B23D70Au, 0x3AE154C5u, 0x3A9AF347u, 0x3A551AE3u, 0x3A128AFFu,
    0x39C98AD3u, 0x398A977Eu, 0x393E9B5Fu, 0x3903126Fu, 0x38B443D1u, 0x3877EBA5u, 0x382A7BE9u,
    0x37EA77FEu, 0x37A13BDCu, 0x375DBF30u, 0x37187C4Cu};

/* The 32 + 32 RoPE frequencies are correctly rounded (0 ulp), and the
 * table agrees with the libm oracle. */
START_TEST(pow_rope_frequencies)
{
    for (int i = 0; i < 32; i++) {
        float y = (float)(-2 * i) / 64.0f;
        float f1 = kvc_powf(10000.0f, y), f2 = kvc_powf(160000.0f, y);
        ck_assert_msg(kvc_f32_bits(f1) == rope_10000[i], "10000^(-%d/32) = %a", i, (double)f1);
        ck_assert_msg(kvc_f32_bits(f2) == rope_160000[i], "160000^(-%d/32) = %a", i, (double)f2);
        ck_assert_uint_eq(kvc_f32_bits((float)pow(10000.0, (double)y)), rope_10000[i]);
        ck_assert_uint_eq(kvc_f32_bits((float)pow(160000.0, (double)y)), rope_160000[i]);
    }
}
END_TEST

/* Seeded random (x, y) regimes; each asserts the maximum ulp distance to
 * the oracle is within KVC_POWF_MAX_ULP. */
enum {
    P_WIDE,      /* x in (0, 2^126], y uniform in [-150, 150] */
    P_IN_RANGE,  /* x normal, y chosen so x^y spans 2^-152 .. 2^129 */
    P_NEAR_ONE,  /* x in [0.5, 2), same targeting: large |y| */
    P_INT_Y,     /* x in +-[1/4, 4], integer y in [-64, 64] */
    P_SUBNORMAL, /* subnormal x, y in [-1.2, 1.2] */
    P_ANY_BITS,  /* any bit patterns, specials included */
    P_COUNT
};

static const char *const pow_regime_names[P_COUNT] = {
    "wide", "in range", "near one", "integer y", "subnormal x", "any bits"};

static float uniform(uint64_t *st, double lo, double hi)
{
    double u = (double)(kvc_test_rand64(st) >> 11) * 0x1p-53;
    return (float)(lo + (hi - lo) * u);
}

static void pow_pair(int regime, uint64_t *st, float *x, float *y)
{
    uint64_t r = kvc_test_rand64(st);
    switch (regime) {
    case P_WIDE:
        *x = kvc_f32_from_bits(1u + (uint32_t)(r % 0x7E800000u));
        *y = uniform(st, -150.0, 150.0);
        break;
    case P_IN_RANGE:
    case P_NEAR_ONE: {
        if (regime == P_IN_RANGE)
            *x = kvc_f32_from_bits(0x00800000u + (uint32_t)(r % 0x7E800000u));
        else
            *x = kvc_f32_from_bits(0x3F000000u + (uint32_t)(r % 0x01000000u));
        double t = (double)uniform(st, -152.0, 129.0);
        double l2 = log2((double)*x);
        *y = l2 == 0.0 ? uniform(st, -1e6, 1e6) : (float)(t / l2);
        break;
    }
    case P_INT_Y:
        *x = kvc_f32_from_bits(0x3E800000u + (uint32_t)(r % 0x02000000u));
        if (r >> 63)
            *x = -*x;
        *y = (float)((int)((r >> 32) % 129u) - 64);
        break;
    case P_SUBNORMAL:
        *x = kvc_f32_from_bits(1u + (uint32_t)(r % 0x007FFFFFu));
        *y = uniform(st, -1.2, 1.2);
        break;
    default:
        *x = kvc_f32_from_bits((uint32_t)r);
        *y = kvc_f32_from_bits((uint32_t)(r >> 32));
        break;
    }
}

START_TEST(pow_random)
{
    uint64_t seed = 0xD37A7000ull + (uint64_t)_i;
    uint64_t st = seed;
    int64_t worst = 0;
    float wx = 0, wy = 0;
    for (int n = 0; n < 300000; n++) {
        float x, y;
        pow_pair(_i, &st, &x, &y);
        int64_t d = ulp_dist(kvc_powf(x, y), (float)pow((double)x, (double)y));
        if (d > worst) {
            worst = d;
            wx = x;
            wy = y;
        }
    }
    ck_assert_msg(worst <= KVC_POWF_MAX_ULP,
                  "pow regime %s (seed 0x%llx): %lld ulp at x = %a, y = %a: got %a, oracle %a",
                  pow_regime_names[_i], (unsigned long long)seed, (long long)worst, (double)wx,
                  (double)wy, (double)kvc_powf(wx, wy), (double)(float)pow(wx, wy));
}
END_TEST

/* ---------------------------------------------------------------- suite */

#define N_ROWS(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *detmath_suite(void)
{
    Suite *s = suite_create("detmath");
    TCase *tc = tcase_create("metric");
    tcase_add_test(tc, metric);
    suite_add_tcase(s, tc);

    tc = tcase_create("special");
    tcase_add_loop_test(tc, special_unary, 0, N_ROWS(specials1));
    tcase_add_loop_test(tc, special_pow, 0, N_ROWS(specials2));
    suite_add_tcase(s, tc);

    tc = tcase_create("exact");
    tcase_add_test(tc, exact_small);
    tcase_add_test(tc, exact_pow2);
    tcase_add_test(tc, exact_pow_int);
    tcase_add_test(tc, pow_half_is_sqrt);
    tcase_add_test(tc, pow_midpoints);
    tcase_add_test(tc, pow_rope_frequencies);
    suite_add_tcase(s, tc);

    tc = tcase_create("sweep");
    tcase_add_loop_test(tc, sweep_unary, 0, N_ROWS(sweeps));
    tcase_add_test(tc, sincos_matches);
    tcase_add_test(tc, rope_angles);
    tcase_add_loop_test(tc, pow_random, 0, P_COUNT);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return kvc_test_run(detmath_suite());
}
