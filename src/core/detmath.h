/* kvcert: deterministic binary32 transcendental functions (DESIGN.md rule 3).
 *
 * kvc_expf, kvc_logf, kvc_sinf, kvc_cosf, kvc_sincosf and kvc_powf give
 * the same bits on every platform because they are built only from
 * operations IEEE 754 defines to the bit:
 *   - binary64 + - * / sqrt and fma (and sqrtf for pow(x, 0.5)),
 *   - exact conversions binary32 -> binary64, and integer -> binary64 of
 *     integers below 2^53 (exact), binary64 integers -> int (exact),
 *   - ONE correctly rounded conversion binary64 -> binary32 at the end
 *     (kvc__round_f32: round to nearest even; subnormal results come out
 *     of this conversion as IEEE 754 defines it, with nvcc -ftz=false;
 *     overflow to inf is decided on the binary64 value first),
 *   - integer operations on bit patterns and comparisons.
 * No libm transcendental, no lookup table in memory (the 2/pi bits of the
 * large-argument reduction come from a switch of constants, valid in
 * device code), every fused operation written as fma() explicitly and
 * no a*b+c left for a compiler to contract.
 *
 * Every function evaluates the result in binary64 with a relative error
 * far below the binary32 rounding granularity (bounds per function below)
 * and rounds once to binary32. The result is therefore faithful (one of
 * the two binary32 neighbours of the exact value) everywhere, and it is
 * the correctly rounded one unless the exact value lies within that tiny
 * error of a rounding boundary (a midpoint between two floats, or the
 * overflow threshold). Error bounds are stated against the correctly
 * rounded result, in ulps counted as the distance between binary32 bit
 * patterns (tests/check_detmath.c asserts them against a binary64 libm
 * oracle; tests/exhaustive_detmath.c sweeps all 2^32 inputs).
 *
 *   function      stated bound   measured max distance to the oracle
 *   kvc_expf      1 ulp          0 ulp, all 2^32 inputs
 *   kvc_logf      1 ulp          0 ulp, all 2^32 inputs
 *   kvc_sinf      1 ulp          0 ulp, all 2^32 inputs
 *   kvc_cosf      1 ulp          0 ulp, all 2^32 inputs
 *   kvc_powf      1 ulp          0 ulp, 12 M seeded pairs in 6 regimes
 *
 * Measured (x86-64, gcc 12.2, glibc 2.36; tests/exhaustive_detmath.c for
 * the unary functions): the oracle is glibc's binary64 function rounded
 * once to binary32, and every one of the 2^32 inputs of exp, log, sin and
 * cos gives exactly the oracle's bits (NaN for NaN), as did 2,000,000
 * random pairs in each of the pow regimes of tests/check_detmath.c. The
 * stated bound stays 1 ulp: that is what the error analysis guarantees
 * (faithful rounding); the oracle itself is only certain to be correctly
 * rounded where the exact value is not within 2^-53 of a midpoint, so
 * this is agreement with it, not a proof of correct rounding. Nothing
 * degrades over the domain: pow is faithful for every (x, y), including
 * subnormal x, subnormal results and |y| up to FLT_MAX.
 * CPU = GPU: on an H100 (sm_90, nvcc 13.0, the project's nvcc flags) all
 * 2^32 inputs of exp, log, sin, cos and 2^32 pseudo-random pow pairs gave
 * the same bits in a kernel as on the host (measured on the revision
 * before kvc__round_f32 replaced a plain cast; the arithmetic is the same).
 *
 * NaN results: every NaN result is the canonical quiet NaN 0x7FC00000
 * (positive, empty payload). Hardware NaN propagation differs between a
 * CPU (payload kept) and a GPU (canonical NaN), so a NaN input is never
 * passed through arithmetic; it is replaced by this constant.
 *
 * Special values follow C11 Annex F (F.10.3.1 exp, F.10.3.7 log,
 * F.10.1.6 sin, F.10.1.5 cos, F.10.4.4 pow); see each function.
 */
#ifndef KVC_CORE_DETMATH_H
#define KVC_CORE_DETMATH_H

/* The stated error bounds, in binary32 ulps against the correctly rounded
 * result (tests assert them). */
#define KVC_EXPF_MAX_ULP 1
#define KVC_LOGF_MAX_ULP 1
#define KVC_SINF_MAX_ULP 1
#define KVC_COSF_MAX_ULP 1
#define KVC_POWF_MAX_ULP 1

#include <math.h> /* fma, sqrt, sqrtf only: correctly rounded, one instruction on a GPU */

#include "core/hd.h"

/* ------------------------------------------------------------ constants */

/* All binary64 constants are written as hex literals, each the correctly
 * rounded value, generated with mpmath at 400 bits (the 2/pi words match
 * fdlibm's two_over_pi table, PIO2_1 and PIO2_2 fdlibm's pio2_1, pio2_2;
 * polynomial coefficients are 1/n! and 2/(2n+1) rounded to binary64). */
#define KVC__SHIFT 0x1.8p52 /* x + 1.5*2^52 - 1.5*2^52 rounds x to an integer */
#define KVC__LN2_HI 0x1.62e42fefa39efp-1
#define KVC__LN2_LO 0x1.abc9e3b39803fp-56 /* ln 2 - LN2_HI */
#define KVC__INV_LN2 0x1.71547652b82fep+0
#define KVC__INV_LN2_LO 0x1.777d0ffda0d24p-56 /* 1/ln 2 - INV_LN2 */
#define KVC__SQRT2 0x1.6a09e667f3bcdp+0
#define KVC__PIO4 0x1.921fb54442d18p-1
#define KVC__INV_PIO2 0x1.45f306dc9c883p-1
/* pi/2 in three parts (Cody-Waite): PIO2_1 and PIO2_2 have 33 significant
 * bits, so k*PIO2_1 and k*PIO2_2 are exact for integers k < 2^20;
 * PIO2_1 + PIO2_2 + PIO2_3 differs from pi/2 by 1.0e-37. */
#define KVC__PIO2_1 0x1.921fb544p+0
#define KVC__PIO2_2 0x1.0b4611a6p-34
#define KVC__PIO2_3 0x1.3198a2e037073p-69
/* pi/2 as a double-double (for the Payne-Hanek path). */
#define KVC__PIO2_HI 0x1.921fb54442d18p+0
#define KVC__PIO2_LO 0x1.1a62633145c07p-54

/* ------------------------------------------------------------ bit helpers */

/* The canonical quiet NaN of every NaN result (see the header comment). */
KVC_HD float kvc__nanf(void)
{
    return kvc_f32_from_bits(0x7FC00000u);
}

/* 2^k as a binary64, for -1022 <= k <= 1023 (exact, from the bits). */
KVC_HD double kvc__pow2i(int k)
{
    return kvc_f64_from_bits((uint64_t)(int64_t)(k + 1023) << 52);
}

/* Rounds |d| < 2^51 to the nearest integer (ties to even), as a double. */
KVC_HD double kvc__rint(double d)
{
    return (d + KVC__SHIFT) - KVC__SHIFT;
}

/* Rounds the exact product a*b (|a*b| < 2^51) to the nearest integer.
 * One fma, so no compiler can split or contract it differently. */
KVC_HD double kvc__rint_mul(double a, double b)
{
    return fma(a, b, KVC__SHIFT) - KVC__SHIFT;
}

/* Rounds a binary64 to binary32 (to nearest, ties to even), the one
 * rounding of every result. Finite values beyond the binary32 range are
 * handled here so the cast never sees them (C++ leaves such a cast
 * undefined): from FLT_MAX + ulp/2 = 0x1.ffffffp+127 up (the tie goes to
 * even, which is the infinity) the result is inf, below it FLT_MAX. */
KVC_HD float kvc__round_f32(double d)
{
    double a = d < 0.0 ? -d : d;
    if (a >= 0x1.ffffffp+127)
        return kvc_f32_from_bits((d < 0.0 ? 0x80000000u : 0u) | 0x7F800000u);
    if (a > 0x1.fffffep+127)
        return d < 0.0 ? -0x1.fffffep+127f : 0x1.fffffep+127f;
    return (float)d;
}

/* Number of leading zero bits of a nonzero 64-bit word (integer ops only). */
KVC_HD int kvc__clz64(uint64_t v)
{
    int n = 0;
    if ((v >> 32) == 0) { n += 32; v <<= 32; }
    if ((v >> 48) == 0) { n += 16; v <<= 16; }
    if ((v >> 56) == 0) { n += 8; v <<= 8; }
    if ((v >> 60) == 0) { n += 4; v <<= 4; }
    if ((v >> 62) == 0) { n += 2; v <<= 2; }
    if ((v >> 63) == 0) { n += 1; }
    return n;
}

/* ------------------------------------------------------------ exp core */

/* e^r for |r| <= 0.35 (ln2/2 plus slack): the Taylor polynomial of degree
 * 13, Horner with fma. Truncation error < r^14/14! < 2^-57 relative;
 * rounding error about 2^-53 (the last fma dominates). */
KVC_HD double kvc__exp_poly(double r)
{
    double p = 0x1.6124613a86d09p-33; /* 1/13! */
    p = fma(p, r, 0x1.1eed8eff8d898p-29); /* 1/12! */
    p = fma(p, r, 0x1.ae64567f544e4p-26); /* 1/11! */
    p = fma(p, r, 0x1.27e4fb7789f5cp-22); /* 1/10! */
    p = fma(p, r, 0x1.71de3a556c734p-19); /* 1/9! */
    p = fma(p, r, 0x1.a01a01a01a01ap-16); /* 1/8! */
    p = fma(p, r, 0x1.a01a01a01a01ap-13); /* 1/7! */
    p = fma(p, r, 0x1.6c16c16c16c17p-10); /* 1/6! */
    p = fma(p, r, 0x1.1111111111111p-7); /* 1/5! */
    p = fma(p, r, 0x1.5555555555555p-5); /* 1/4! */
    p = fma(p, r, 0x1.5555555555555p-3); /* 1/3! */
    p = fma(p, r, 0x1.0p-1); /* 1/2! */
    p = fma(p, r, 1.0);
    return fma(p, r, 1.0);
}

/* e^x in binary64 for |x| <= 110 (relative error about 2^-52).
 * x = k ln2 + r, |r| <= ln2/2; k ln2 is subtracted in two fma steps with
 * ln2 as a double-double, then e^x = 2^k e^r (|k| <= 159, no overflow or
 * underflow in binary64). */
KVC_HD double kvc__exp(double x)
{
    double kd = kvc__rint_mul(x, KVC__INV_LN2);
    double r = fma(-kd, KVC__LN2_HI, x);
    r = fma(-kd, KVC__LN2_LO, r);
    return kvc__exp_poly(r) * kvc__pow2i((int)kd);
}

/* 2^t in binary64 for |t| <= 200, t = t_hi + t_lo with |t_lo| tiny:
 * t = k + f, |f| <= 1/2 (t_hi - k is exact), 2^f = e^(f ln2). */
KVC_HD double kvc__exp2(double t_hi, double t_lo)
{
    double kd = kvc__rint(t_hi);
    double f = (t_hi - kd) + t_lo;
    double g = fma(f, KVC__LN2_HI, f * KVC__LN2_LO);
    return kvc__exp_poly(g) * kvc__pow2i((int)kd);
}

/* ------------------------------------------------------------ log core */

/* For a positive normal binary64 x whose significand has at most 24 bits
 * (any binary32 value, subnormals included, widened exactly): writes e and
 * returns ln m, where x = 2^e m and sqrt(1/2) <= m < sqrt(2).
 * ln m = 2 atanh(s), s = (m-1)/(m+1), |s| <= 0.1716: m-1 and m+1 are exact
 * (24-bit m), the division rounds once; the odd series to s^21 truncates
 * at s^23 * 2/23 < 2^-60 relative. Relative error about 2^-52. */
KVC_HD double kvc__log_m(double x, int *e)
{
    uint64_t u = kvc_f64_bits(x);
    int ex = (int)(u >> 52) - 1023;
    double m = kvc_f64_from_bits((u & 0x000FFFFFFFFFFFFFull) | 0x3FF0000000000000ull);
    if (m > KVC__SQRT2) {
        m = m * 0.5;
        ex += 1;
    }
    *e = ex;
    double s = (m - 1.0) / (m + 1.0);
    double z = s * s;
    double p = 0x1.8618618618618p-4; /* 2/21 */
    p = fma(p, z, 0x1.af286bca1af28p-4); /* 2/19 */
    p = fma(p, z, 0x1.e1e1e1e1e1e1ep-4); /* 2/17 */
    p = fma(p, z, 0x1.1111111111111p-3); /* 2/15 */
    p = fma(p, z, 0x1.3b13b13b13b14p-3); /* 2/13 */
    p = fma(p, z, 0x1.745d1745d1746p-3); /* 2/11 */
    p = fma(p, z, 0x1.c71c71c71c71cp-3); /* 2/9 */
    p = fma(p, z, 0x1.2492492492492p-2); /* 2/7 */
    p = fma(p, z, 0x1.999999999999ap-2); /* 2/5 */
    p = fma(p, z, 0x1.5555555555555p-1); /* 2/3 */
    /* 2s + s*z*p: the leading term 2s is exact, so the rounding error
     * of the tail stays small relative to the result. */
    return fma(s * z, p, 2.0 * s);
}

/* ------------------------------------------------------------ sin/cos core */

/* sin r and cos r for |r| <= pi/4 (+ slack), Taylor polynomials of degree
 * 17 and 16, Horner in r^2 with fma. Truncation below 2^-62 (sin) and
 * 2^-58 (cos) relative; rounding about 2^-53 (the last fma). */
KVC_HD double kvc__sin_poly(double r)
{
    double z = r * r;
    double p = 0x1.952c77030ad4ap-49; /* 1/17! */
    p = fma(p, z, -0x1.ae7f3e733b81fp-41); /* -1/15! */
    p = fma(p, z, 0x1.6124613a86d09p-33); /* 1/13! */
    p = fma(p, z, -0x1.ae64567f544e4p-26); /* -1/11! */
    p = fma(p, z, 0x1.71de3a556c734p-19); /* 1/9! */
    p = fma(p, z, -0x1.a01a01a01a01ap-13); /* -1/7! */
    p = fma(p, z, 0x1.1111111111111p-7); /* 1/5! */
    p = fma(p, z, -0x1.5555555555555p-3); /* -1/3! */
    return fma(r * z, p, r);
}

KVC_HD double kvc__cos_poly(double r)
{
    double z = r * r;
    double p = 0x1.ae7f3e733b81fp-45; /* 1/16! */
    p = fma(p, z, -0x1.93974a8c07c9dp-37); /* -1/14! */
    p = fma(p, z, 0x1.1eed8eff8d898p-29); /* 1/12! */
    p = fma(p, z, -0x1.27e4fb7789f5cp-22); /* -1/10! */
    p = fma(p, z, 0x1.a01a01a01a01ap-16); /* 1/8! */
    p = fma(p, z, -0x1.6c16c16c16c17p-10); /* -1/6! */
    p = fma(p, z, 0x1.5555555555555p-5); /* 1/4! */
    p = fma(p, z, -0x1.0p-1); /* -1/2! */
    return fma(z, p, 1.0);
}

/* ------------------------------------------------------------ reduction */

/* Word i (i = 0..8) of the binary expansion of 2/pi: word 0 holds the
 * fraction bits of weight 2^-1 .. 2^-32 (2/pi = 0.A2F9836E 4E441529 ...
 * in hex). A switch of constants rather than an array, so the same code
 * is valid in device code (a static array would live in host memory). */
KVC_HD uint32_t kvc__two_over_pi_word(int i)
{
    switch (i) {
    case 0: return 0xA2F9836Eu;
    case 1: return 0x4E441529u;
    case 2: return 0xFC2757D1u;
    case 3: return 0xF534DDC0u;
    case 4: return 0xDB629599u;
    case 5: return 0x3C439041u;
    case 6: return 0xFE5163ABu;
    case 7: return 0xDEBBC561u;
    case 8: return 0xB7246E3Au;
    default: return 0u;
    }
}

/* 32 fraction bits of 2/pi starting at bit pos (pos 0 has weight 2^-1);
 * -31 <= pos <= 256. Bits at negative positions (the integer part) are 0. */
KVC_HD uint32_t kvc__two_over_pi_bits(int pos)
{
    if (pos < 0)
        return kvc__two_over_pi_word(0) >> (-pos);
    int w = pos >> 5, sh = pos & 31;
    uint32_t hi = kvc__two_over_pi_word(w);
    if (sh == 0)
        return hi;
    return (hi << sh) | (kvc__two_over_pi_word(w + 1) >> (32 - sh));
}

/* Payne-Hanek reduction of a finite binary32 |x| >= 2^20 (ax: its bits).
 * |x| = m 2^s with a 24-bit integer m and s >= -3. The bits of 2/pi of
 * weight 2^-j, j <= s-2, contribute multiples of 4 to x*2/pi and are
 * skipped; the next 128 bits W give (m*W mod 2^128) = (x*2/pi mod 4)*2^126
 * exactly up to the truncated tail, which is below 2^-102 (absolute, in
 * units of pi/2) -- against |r| >= 2^-29.2 for every binary32 x >= pi/4
 * (the closest case is x = 0x1.f37c8ap+95, r = 0x1.bbdd52a58eafbp-30,
 * which this code reproduces to the last bit of an mpmath check;
 * tests/exhaustive_detmath.c measures the minimum over all inputs).
 * Returns r = (x*2/pi - k)*pi/2 with k the nearest integer, q = k mod 4;
 * r is rounded to binary64 (relative error about 2^-52). */
KVC_HD double kvc__rem_pio2f_large(uint32_t ax, int *q)
{
    int s = (int)(ax >> 23) - 150;
    uint64_t m = (ax & 0x007FFFFFu) | 0x00800000u;
    int b0 = s - 2;
    uint64_t w0 = kvc__two_over_pi_bits(b0);
    uint64_t w1 = kvc__two_over_pi_bits(b0 + 32);
    uint64_t w2 = kvc__two_over_pi_bits(b0 + 64);
    uint64_t w3 = kvc__two_over_pi_bits(b0 + 96);
    /* 24 x 128-bit product mod 2^128, 32-bit limbs (no limb overflows:
     * m*w < 2^56, plus a carry < 2^32). */
    uint64_t p3 = m * w3;
    uint64_t p2 = m * w2 + (p3 >> 32);
    uint64_t p1 = m * w1 + (p2 >> 32);
    uint64_t p0 = m * w0 + (p1 >> 32);
    uint64_t hi = (p0 << 32) | (p1 & 0xFFFFFFFFu);
    uint64_t lo = (p2 << 32) | (p3 & 0xFFFFFFFFu);
    int quad = (int)(hi >> 62);
    /* The fraction of x*2/pi, scaled by 2^128, as fh:fl. */
    uint64_t fh = (hi << 2) | (lo >> 62);
    uint64_t fl = lo << 2;
    int neg = 0;
    if (fh >> 63) { /* fraction >= 1/2: k = quad + 1, fraction - 1 < 0 */
        quad += 1;
        neg = 1;
        fl = ~fl + 1u; /* two's complement of the 128-bit value */
        fh = ~fh + (fl == 0 ? 1u : 0u);
    }
    *q = quad & 3;
    int scale = 0;
    if (fh == 0) { /* never for binary32 inputs; kept so the code is total */
        fh = fl;
        fl = 0;
        scale = 64;
        if (fh == 0)
            return 0.0;
    }
    int n = kvc__clz64(fh);
    if (n != 0)
        fh = (fh << n) | (fl >> (64 - n));
    /* |fraction| = fh * 2^-(64+n+scale); its top 53 bits convert exactly,
     * the next 11 are added with one rounding. */
    double d = (double)(int64_t)(fh >> 11) + (double)(int64_t)(fh & 0x7FFu) * 0x1p-11;
    d = d * kvc__pow2i(-53 - n - scale);
    double r = fma(d, KVC__PIO2_HI, d * KVC__PIO2_LO);
    return neg ? -r : r;
}

/* Reduces a finite binary32 |x| (ax: its bits, sign clear) modulo pi/2:
 * x = k pi/2 + r with |r| <= pi/4 (+ 2^-30), q = k mod 4.
 *   |x| < pi/4: r = x.
 *   |x| < 2^20: Cody-Waite with pi/2 in three parts: k < 2^20, so k*PIO2_1
 *     is exact and x - k*PIO2_1 is exact (it fits 33 bits); the next two
 *     fma steps round once each, relative to r. Error about 2^-52 of r
 *     plus k * 1e-37 absolute.
 *   larger: Payne-Hanek (kvc__rem_pio2f_large). */
KVC_HD double kvc__rem_pio2f(uint32_t ax, int *q)
{
    double x = (double)kvc_f32_from_bits(ax);
    if (x < KVC__PIO4) {
        *q = 0;
        return x;
    }
    if (ax < 0x49800000u) { /* 2^20 */
        double kd = kvc__rint_mul(x, KVC__INV_PIO2);
        double r = fma(-kd, KVC__PIO2_1, x);
        r = fma(-kd, KVC__PIO2_2, r);
        r = fma(-kd, KVC__PIO2_3, r);
        *q = (int)kd & 3;
        return r;
    }
    return kvc__rem_pio2f_large(ax, q);
}

/* sin(q pi/2 + r) from the reduced argument. */
KVC_HD double kvc__sin_quadrant(int q, double r)
{
    switch (q & 3) {
    case 0: return kvc__sin_poly(r);
    case 1: return kvc__cos_poly(r);
    case 2: return -kvc__sin_poly(r);
    default: return -kvc__cos_poly(r);
    }
}

KVC_HD int kvc__isnanf(float x)
{
    return (kvc_f32_bits(x) & 0x7FFFFFFFu) > 0x7F800000u;
}

/* ------------------------------------------------------------ public */

/* e^x. Method: binary64 e^x (kvc__exp: x = k ln2 + r, Taylor degree 13,
 * relative error about 2^-52), rounded once to binary32; that rounding
 * makes the overflow to +inf (x > 88.72...) and the subnormal and zero
 * results (x < -87.3) exactly as IEEE 754 rounds them.
 * Special values: exp(NaN) = NaN, exp(+-0) = 1, exp(+inf) = +inf,
 * exp(-inf) = +0. Bound 1 ulp (faithful). */
KVC_HD float kvc_expf(float x)
{
    if (kvc__isnanf(x))
        return kvc__nanf();
    double xd = (double)x;
    if (xd > 100.0) /* e^100 > 2^144: rounds to +inf */
        xd = 100.0;
    if (xd < -110.0) /* e^-110 < 2^-158: rounds to +0 */
        xd = -110.0;
    return kvc__round_f32(kvc__exp(xd));
}

/* ln x. Method: x widened exactly (subnormals become normal binary64),
 * x = 2^e m, ln x = e ln2 + ln m with ln m = 2 atanh((m-1)/(m+1))
 * (kvc__log_m), e ln2 added with ln2 as a double-double; relative error
 * about 2^-52 (when e != 0, |e ln2| >= 2|ln m|, so no cancellation),
 * rounded once to binary32.
 * Special values: log(NaN) = NaN, log(x < 0) = NaN, log(-inf) = NaN,
 * log(+-0) = -inf, log(1) = +0, log(+inf) = +inf. Bound 1 ulp. */
KVC_HD float kvc_logf(float x)
{
    uint32_t u = kvc_f32_bits(x);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u)
        return kvc__nanf();
    if ((u & 0x7FFFFFFFu) == 0)
        return kvc_f32_from_bits(0xFF800000u); /* -inf */
    if (u >> 31)
        return kvc__nanf();
    if (u == 0x7F800000u)
        return x;
    int e;
    double lm = kvc__log_m((double)x, &e);
    double ed = (double)e;
    return kvc__round_f32(fma(ed, KVC__LN2_HI, fma(ed, KVC__LN2_LO, lm)));
}

/* sin x and cos x. Method: reduction modulo pi/2 (kvc__rem_pio2f:
 * Cody-Waite below 2^20, Payne-Hanek with 128 bits of 2/pi above, exact
 * up to 2^-102 absolute, valid for every finite binary32), then Taylor
 * polynomials of degree 17 (sin) and 16 (cos) on |r| <= pi/4 in binary64,
 * relative error about 2^-51, rounded once to binary32.
 * Special values: sin(+-0) = +-0, cos(+-0) = 1, sin/cos(+-inf) = NaN,
 * sin/cos(NaN) = NaN. Bound 1 ulp over the whole binary32 domain.
 * kvc_sincosf gives the same bits as kvc_sinf and kvc_cosf, with one
 * reduction. */
KVC_HD void kvc_sincosf(float x, float *s, float *c)
{
    uint32_t u = kvc_f32_bits(x);
    uint32_t ax = u & 0x7FFFFFFFu;
    if (ax >= 0x7F800000u) {
        *s = kvc__nanf();
        *c = kvc__nanf();
        return;
    }
    int q;
    double r = kvc__rem_pio2f(ax, &q);
    double sv = kvc__sin_quadrant(q, r);
    double cv = kvc__sin_quadrant(q + 1, r);
    *s = kvc__round_f32((u >> 31) ? -sv : sv);
    *c = kvc__round_f32(cv);
}

KVC_HD float kvc_sinf(float x)
{
    uint32_t u = kvc_f32_bits(x);
    uint32_t ax = u & 0x7FFFFFFFu;
    if (ax >= 0x7F800000u)
        return kvc__nanf();
    int q;
    double r = kvc__rem_pio2f(ax, &q);
    double sv = kvc__sin_quadrant(q, r);
    return kvc__round_f32((u >> 31) ? -sv : sv);
}

KVC_HD float kvc_cosf(float x)
{
    uint32_t ax = kvc_f32_bits(x) & 0x7FFFFFFFu;
    if (ax >= 0x7F800000u)
        return kvc__nanf();
    int q;
    double r = kvc__rem_pio2f(ax, &q);
    return kvc__round_f32(kvc__sin_quadrant(q + 1, r));
}

/* Classifies a finite nonzero binary32 |y| (ay: its bits): 0 not an
 * integer, 1 odd integer, 2 even integer (every |y| >= 2^24 is even). */
KVC_HD int kvc__f32_int_class(uint32_t ay)
{
    int e = (int)(ay >> 23) - 127;
    if (e < 0)
        return 0;
    if (e > 23)
        return 2;
    uint32_t m = (ay & 0x007FFFFFu) | 0x00800000u;
    uint32_t frac_mask = (1u << (23 - e)) - 1u;
    if (m & frac_mask)
        return 0;
    return ((m >> (23 - e)) & 1u) ? 1 : 2;
}

/* x^y exactly in binary64 for x > 0 and y = n/2^k, 0 <= k <= 3, n >= 1,
 * y <= 15: k exact square roots, then n-1 exact
 * products. Each step is checked exact with an fma residual; returns 1
 * and the exact value in *out when all steps are exact, 0 otherwise.
 * The intermediates lie between x (or its roots) and x^y, so they stay
 * in the normal binary64 range whenever x^y is near the binary32 range. */
KVC_HD int kvc__pow_exact(double x, float y, double *out)
{
    int n = (int)(y * 8.0f); /* exact: the caller checked 8y is an integer */
    int k = 3;
    while (k > 0 && (n & 1) == 0) {
        n >>= 1;
        k--;
    }
    double s = x;
    for (int i = 0; i < k; i++) {
        double r = sqrt(s);
        if (fma(r, r, -s) != 0.0)
            return 0;
        s = r;
    }
    double p = s;
    for (int i = 1; i < n; i++) {
        double q = p * s;
        if (fma(p, s, -q) != 0.0)
            return 0;
        p = q;
    }
    *out = p;
    return 1;
}

/* x^y. Method: |x|^y = 2^(y log2|x|) in binary64. log2|x| = e + ln(m)/ln2
 * (kvc__log_m; the fractional part carries the rounding error, about
 * 2^-52 of |ln m|, and e + l is kept as a double-double), the product
 * t = y log2|x| is kept as a double-double (fma), then 2^t = 2^k e^(f ln2)
 * (kvc__exp2). The relative error of the binary64 result is below about
 * |t| 2^-51 <= 2^-43 (|t| <= 150 wherever the result is neither 0 nor inf),
 * so the once-rounded binary32 result is faithful: bound 1 ulp.
 * Exact results: a binary32 value (pow(3, 2) = 9, pow(2, k) = 2^k) is
 * far from any rounding boundary and always comes out exact. A result
 * that is EXACTLY a binary32 midpoint (pow(1 + 2^-12, 2) = 1 + 2^-11 +
 * 2^-24, pow(257, 3) = 16974593) must be rounded to even, which no
 * approximation can do; so when the binary64 result lies within 2^-40
 * relative of a rounding boundary and y has the only form that allows an
 * exact midpoint (0 < y <= 15 and 8y an integer: x = 2^E a with a odd,
 * x^y dyadic with <= 25 significant bits forces y = n/2^k, a = b^(2^k),
 * b^n < 2^25, hence n <= 15 and k <= 3 for b >= 3; a = 1 gives exact
 * powers of two), x^y is recomputed exactly in binary64 if it can be
 * (kvc__pow_exact) and rounded once. Midpoints and every x^y that is
 * exact in binary64 (e.g. all x^2) are thus correctly rounded; the 1-ulp
 * cases left are inexact values within 2^-43 of a midpoint.
 * pow(x, 0.5) for x > 0 is sqrtf(x) (correctly rounded).
 * Special values (C11 F.10.4.4), in order:
 *   pow(x, +-0) = 1 for any x, even NaN;  pow(+1, y) = 1 for any y, even NaN;
 *   NaN if x or y is NaN;
 *   pow(-1, +-inf) = 1; pow(x, -inf) = +inf for |x| < 1, +0 for |x| > 1;
 *   pow(x, +inf) = +0 for |x| < 1, +inf for |x| > 1;
 *   pow(+-0, y < 0) = +-inf for odd integer y, else +inf;
 *   pow(+-0, y > 0) = +-0 for odd integer y, else +0;
 *   pow(-inf, y) = -0 (y < 0 odd integer), +0 (y < 0 otherwise),
 *                  -inf (y > 0 odd integer), +inf (y > 0 otherwise);
 *   pow(+inf, y) = +0 for y < 0, +inf for y > 0;
 *   pow(x < 0 finite, y finite non-integer) = NaN;
 *   pow(x < 0, y integer) = +-pow(|x|, y), negative for odd y. */
KVC_HD float kvc_powf(float x, float y)
{
    uint32_t ux = kvc_f32_bits(x), uy = kvc_f32_bits(y);
    uint32_t ax = ux & 0x7FFFFFFFu, ay = uy & 0x7FFFFFFFu;
    if (ay == 0 || ux == 0x3F800000u)
        return 1.0f;
    if (ax > 0x7F800000u || ay > 0x7F800000u)
        return kvc__nanf();
    if (ay == 0x7F800000u) { /* y = +-inf */
        if (ax == 0x3F800000u)
            return 1.0f;
        int big = ax > 0x3F800000u;
        int y_pos = (uy >> 31) == 0;
        return big == y_pos ? kvc_f32_from_bits(0x7F800000u) : 0.0f;
    }
    int yclass = kvc__f32_int_class(ay);
    uint32_t sign = ((ux >> 31) && yclass == 1) ? 0x80000000u : 0u;
    int y_neg = (int)(uy >> 31);
    if (ax == 0) /* +-0 */
        return kvc_f32_from_bits(sign | (y_neg ? 0x7F800000u : 0u));
    if (ax == 0x7F800000u) /* +-inf */
        return kvc_f32_from_bits(sign | (y_neg ? 0u : 0x7F800000u));
    if ((ux >> 31) && yclass == 0)
        return kvc__nanf();
    float fx = kvc_f32_from_bits(ax);
    if (uy == 0x3F000000u) /* y = 0.5, x > 0 finite */
        return sqrtf(fx);
    int e;
    double lm = kvc__log_m((double)fx, &e);
    double ed = (double)e;
    double l = fma(lm, KVC__INV_LN2, lm * KVC__INV_LN2_LO);
    /* L = e + l as a double-double (Fast2Sum: |e| >= 1 > |l| or e = 0). */
    double L = ed + l;
    double L_lo = (ed - L) + l;
    double yd = (double)y;
    double t = yd * L;
    double t_lo = fma(yd, L, -t);
    t_lo = fma(yd, L_lo, t_lo);
    if (t > 200.0) { /* 2^200 rounds to +inf */
        t = 200.0;
        t_lo = 0.0;
    }
    if (t < -200.0) { /* 2^-200 rounds to +0 */
        t = -200.0;
        t_lo = 0.0;
    }
    double res = kvc__exp2(t, t_lo);
    if (y > 0.0f && y <= 15.0f && (float)(int)(y * 8.0f) == y * 8.0f
        && kvc__round_f32(res * (1.0 + 0x1p-40)) != kvc__round_f32(res * (1.0 - 0x1p-40))) {
        double exact;
        if (kvc__pow_exact((double)fx, y, &exact))
            res = exact;
    }
    float mag = kvc__round_f32(res);
    return kvc_f32_from_bits(kvc_f32_bits(mag) | sign);
}

#endif /* KVC_CORE_DETMATH_H */
