/* kvcert tests: an independent oracle for the number formats (SPEC.md 2).
 *
 * Shares no code with src/core/formats.h and uses no bit tricks of it:
 * each format is described by its definition (width, exponent bits,
 * fraction bits, bias, which codes are special) and every value is
 * computed in binary64 as sign * 2^(e - bias) * (1 + m / 2^p) (normal) or
 * sign * 2^(1 - bias) * (m / 2^p) (subnormal) with libm's ldexp, which a
 * test may use (CONVENTIONS: libm only as an oracle).
 *
 * Two encoders, checked against each other in tests/check_formats.c:
 *  - the SEARCH oracle: nearest representable value by binary search over
 *    the sorted finite values of the decode table; a value exactly halfway
 *    takes the even encoding. One extra grid point past the largest finite
 *    value (the "overflow sentinel", largest + top spacing, the next code)
 *    makes IEEE overflow fall out of the same rule: a value that rounds to
 *    the sentinel overflows (bf16/fp16: to infinity; E4M3: to 448 or NaN).
 *  - the FAST oracle (for the 2^32 sweep): scale |x| onto the format's
 *    integer grid with frexp/ldexp and round with nearbyint in binary64
 *    under FE_TONEAREST; every step is exact for these widths (a binary32
 *    value scaled by a power of two is a binary64 value, and the integer
 *    it rounds to has at most 12 bits), so the result is the round-to-
 *    nearest-even of the format with an unbounded exponent; then overflow.
 *
 * NaN results follow the policy documented in formats.h: bf16/fp16 keep
 * the sign and the top fraction bits of the payload with the quiet bit
 * forced on; E4M3 gives sign | 0x7F; E8M0 gives 0xFF.
 */
#ifndef KVC_TESTS_FORMATS_ORACLE_H
#define KVC_TESTS_FORMATS_ORACLE_H

#include <fenv.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ formats */

typedef struct kvo_format {
    const char *name;
    int bits;  /* total width: sign + exponent + fraction */
    int ebits; /* exponent field */
    int p;     /* fraction field */
    int bias;
    int ieee;  /* 1: exponent all ones is inf (m = 0) or NaN (IEEE 754);
                  0: the E4M3 "fn" rule: only exponent and fraction all
                  ones is NaN, no infinity */
} kvo_format;

static const kvo_format kvo_bf16 = {"bf16", 16, 8, 7, 127, 1};
static const kvo_format kvo_fp16 = {"fp16", 16, 5, 10, 15, 1};
static const kvo_format kvo_e4m3 = {"e4m3", 8, 4, 3, 7, 0};

/* What an encoder does past the largest finite value. */
typedef enum kvo_overflow {
    KVO_OVERFLOW_INF = 0, /* IEEE: infinity (bf16, fp16) */
    KVO_OVERFLOW_SAT = 1, /* the largest finite value (E4M3 satfinite) */
    KVO_OVERFLOW_NAN = 2  /* NaN (E4M3 nan mode) */
} kvo_overflow;

static inline uint32_t kvo_f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float kvo_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline uint32_t kvo_field_max(int width)
{
    return (1u << width) - 1u;
}

/* Is code a NaN of the format, by the definition? */
static inline int kvo_is_nan(const kvo_format *f, uint32_t code)
{
    uint32_t e = (code >> f->p) & kvo_field_max(f->ebits);
    uint32_t m = code & kvo_field_max(f->p);
    if (f->ieee)
        return e == kvo_field_max(f->ebits) && m != 0;
    return e == kvo_field_max(f->ebits) && m == kvo_field_max(f->p);
}

/* The value of a code in binary64 (NaN with the code's sign for NaNs). */
static inline double kvo_decode(const kvo_format *f, uint32_t code)
{
    int negative = (int)((code >> (f->bits - 1)) & 1u);
    uint32_t e = (code >> f->p) & kvo_field_max(f->ebits);
    uint32_t m = code & kvo_field_max(f->p);
    double mag;
    if (kvo_is_nan(f, code))
        mag = NAN;
    else if (f->ieee && e == kvo_field_max(f->ebits))
        mag = INFINITY;
    else if (e == 0)
        mag = ldexp((double)m, 1 - f->bias - f->p);
    else
        mag = ldexp((double)m + ldexp(1.0, f->p), (int)e - f->bias - f->p);
    return negative ? -mag : mag;
}

/* The binary32 pattern a NaN code must decode to, as formats.h documents
 * it: IEEE formats widen the payload bit for bit; E4M3 gives the quiet
 * binary32 NaN with the code's sign. */
static inline uint32_t kvo_decode_nan_bits(const kvo_format *f, uint32_t code)
{
    uint32_t sign = ((code >> (f->bits - 1)) & 1u) << 31;
    if (!f->ieee)
        return sign | 0x7FC00000u;
    return sign | 0x7F800000u | ((code & kvo_field_max(f->p)) << (23 - f->p));
}

/* The code a NaN input must give (formats.h's NaN policy, see above). */
static inline uint32_t kvo_encode_nan(const kvo_format *f, uint32_t x_bits)
{
    uint32_t sign = (x_bits >> 31) << (f->bits - 1);
    uint32_t exp_all = kvo_field_max(f->ebits) << f->p;
    if (!f->ieee)
        return sign | exp_all | kvo_field_max(f->p);
    uint32_t payload = (x_bits & 0x7FFFFFu) >> (23 - f->p);
    return sign | exp_all | (1u << (f->p - 1)) | payload;
}

/* The largest finite value, by the definition. */
static inline double kvo_max_finite(const kvo_format *f)
{
    int emax = (int)kvo_field_max(f->ebits) - f->bias - (f->ieee ? 1 : 0);
    /* IEEE: fraction all ones; E4M3fn: all ones is NaN, one less */
    double frac_top = ldexp(1.0, f->p + 1) - (f->ieee ? 1.0 : 2.0);
    return ldexp(frac_top, emax - f->p);
}

/* The code of the largest finite value and of the format's infinity. */
static inline uint32_t kvo_max_code(const kvo_format *f)
{
    if (f->ieee)
        return ((kvo_field_max(f->ebits) - 1u) << f->p) | kvo_field_max(f->p);
    return (kvo_field_max(f->ebits) << f->p) | (kvo_field_max(f->p) - 1u);
}

static inline uint32_t kvo_inf_code(const kvo_format *f)
{
    return kvo_field_max(f->ebits) << f->p;
}

/* Applies the sign and the overflow rule to a magnitude result. */
static inline uint32_t kvo_finish(const kvo_format *f, uint32_t x_bits, int overflowed,
                                  uint32_t mag_code, kvo_overflow mode)
{
    uint32_t sign = (x_bits >> 31) << (f->bits - 1);
    if (overflowed) {
        switch (mode) {
        case KVO_OVERFLOW_INF: return sign | kvo_inf_code(f);
        case KVO_OVERFLOW_SAT: return sign | kvo_max_code(f);
        case KVO_OVERFLOW_NAN: return sign | kvo_encode_nan(f, 0x7FC00000u);
        }
    }
    return sign | mag_code;
}

/* ------------------------------------------------------- search oracle */

typedef struct kvo_grid {
    const kvo_format *f;
    size_t n;        /* finite non-negative values, then the sentinel */
    double *value;   /* strictly increasing */
    uint32_t *code;
} kvo_grid;

typedef struct kvo_pair {
    double value;
    uint32_t code;
} kvo_pair;

static inline int kvo_pair_cmp(const void *a, const void *b)
{
    double x = ((const kvo_pair *)a)->value, y = ((const kvo_pair *)b)->value;
    return (x > y) - (x < y);
}

/* Builds the sorted grid of f from its decode table. Returns 0 on success,
 * -1 when memory runs out or the table is not strictly increasing. */
static inline int kvo_grid_init(kvo_grid *g, const kvo_format *f)
{
    size_t ncodes = (size_t)1 << (f->bits - 1); /* sign bit clear */
    kvo_pair *pairs = (kvo_pair *)malloc((ncodes + 1) * sizeof *pairs);
    g->f = f;
    g->n = 0;
    g->value = (double *)malloc((ncodes + 1) * sizeof *g->value);
    g->code = (uint32_t *)malloc((ncodes + 1) * sizeof *g->code);
    if (pairs == NULL || g->value == NULL || g->code == NULL) {
        free(pairs);
        return -1;
    }
    size_t n = 0;
    for (uint32_t c = 0; c < ncodes; c++) {
        double v = kvo_decode(f, c);
        if (isfinite(v))
            pairs[n++] = (kvo_pair){v, c};
    }
    qsort(pairs, n, sizeof *pairs, kvo_pair_cmp);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && !(pairs[i].value > pairs[i - 1].value)) {
            free(pairs);
            return -1;
        }
        g->value[i] = pairs[i].value;
        g->code[i] = pairs[i].code;
    }
    /* the sentinel: one more step of the top spacing, the next code */
    g->value[n] = 2.0 * pairs[n - 1].value - pairs[n - 2].value;
    g->code[n] = pairs[n - 1].code + 1u;
    g->n = n + 1;
    free(pairs);
    return 0;
}

static inline void kvo_grid_free(kvo_grid *g)
{
    free(g->value);
    free(g->code);
    g->value = NULL;
    g->code = NULL;
    g->n = 0;
}

/* Encodes a binary32 by search: nearest grid value, ties to the even code;
 * the sentinel (or anything at or beyond it) is an overflow. */
static inline uint32_t kvo_encode_search(const kvo_grid *g, float x, kvo_overflow mode)
{
    uint32_t xb = kvo_f32_bits(x);
    if (isnan(x))
        return kvo_encode_nan(g->f, xb);
    double a = fabs((double)x);
    size_t last = g->n - 1; /* the sentinel */
    if (a >= g->value[last])
        return kvo_finish(g->f, xb, 1, 0, mode);
    /* largest i with value[i] <= a; value[0] = 0 <= a */
    size_t lo = 0, hi = last; /* value[lo] <= a < value[hi] */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (g->value[mid] <= a)
            lo = mid;
        else
            hi = mid;
    }
    size_t pick;
    if (g->value[lo] == a) {
        pick = lo;
    } else {
        /* exact: neighbours share an exponent range of a few bits */
        double halfway = (g->value[lo] + g->value[hi]) / 2.0;
        if (a < halfway)
            pick = lo;
        else if (a > halfway)
            pick = hi;
        else
            pick = (g->code[lo] & 1u) == 0 ? lo : hi;
    }
    if (pick == last)
        return kvo_finish(g->f, xb, 1, 0, mode);
    return kvo_finish(g->f, xb, 0, g->code[pick], mode);
}

/* --------------------------------------------------------- fast oracle */

/* Encodes a binary32 by binary64 arithmetic rounding (see the top). Needs
 * the rounding mode FE_TONEAREST (the default; callers check). */
static inline uint32_t kvo_encode_fast(const kvo_format *f, float x, kvo_overflow mode)
{
    uint32_t xb = kvo_f32_bits(x);
    if (isnan(x))
        return kvo_encode_nan(f, xb);
    double a = fabs((double)x);
    if (isinf(a))
        return kvo_finish(f, xb, 1, 0, mode);
    if (a == 0.0)
        return kvo_finish(f, xb, 0, 0, mode);
    int k;
    (void)frexp(a, &k); /* a = r * 2^k, r in [0.5, 1): floor(log2 a) = k - 1 */
    int emin = 1 - f->bias;
    int e = k - 1 < emin ? emin : k - 1;
    /* a / 2^(e - p) lies in [0, 2^(p+1)): round on an integer grid of step 1 */
    double n = nearbyint(ldexp(a, f->p - e));
    double one = (double)(1u << f->p);
    if (n >= 2.0 * one) { /* rounded up to the next power of two */
        n = one;
        e++;
    }
    /* overflow: beyond the largest finite value, (emax, nmax) */
    int emax = (int)kvo_field_max(f->ebits) - f->bias - (f->ieee ? 1 : 0);
    double nmax = 2.0 * one - (f->ieee ? 1.0 : 2.0);
    if (e > emax || (e == emax && n > nmax))
        return kvo_finish(f, xb, 1, 0, mode);
    uint32_t code;
    if (n < one) /* subnormal (or zero): exponent field 0, e == emin */
        code = (uint32_t)n;
    else
        code = ((uint32_t)(e + f->bias) << f->p) | (uint32_t)(n - one);
    return kvo_finish(f, xb, 0, code, mode);
}

/* ---------------------------------------------------------------- E8M0 */

/* E8M0 by definition: 2^(c - 127), 0xFF NaN. */
static inline double kvo_e8m0_decode(uint32_t c)
{
    return c == 0xFFu ? NAN : ldexp(1.0, (int)c - 127);
}

/* E8M0 encoders from floor / ceil of log2 |x| read off frexp, clamped to
 * the range [2^-127, 2^127]: zero and tiny values give 0x00, huge values
 * and infinity 0xFE, NaN 0xFF. round_up: ceil (RP), else floor (RZ). */
static inline uint32_t kvo_e8m0_encode(float x, int round_up)
{
    if (isnan(x))
        return 0xFFu;
    double a = fabs((double)x);
    if (a == 0.0)
        return 0x00u;
    if (isinf(a))
        return 0xFEu;
    int k;
    double r = frexp(a, &k); /* a = r * 2^k, r in [0.5, 1) */
    int fl = k - 1;
    int e = (round_up && r != 0.5) ? fl + 1 : fl;
    if (e < -127)
        e = -127;
    if (e > 127)
        e = 127;
    return (uint32_t)(e + 127);
}

/* ------------------------------------------------------ test inputs */

/* A growable list of binary32 bit patterns. */
typedef struct kvo_inputs {
    uint32_t *bits;
    size_t n, cap;
} kvo_inputs;

static inline void kvo_inputs_add(kvo_inputs *in, uint32_t b)
{
    if (in->n == in->cap) {
        size_t cap = in->cap ? 2 * in->cap : 4096;
        uint32_t *p = (uint32_t *)realloc(in->bits, cap * sizeof *p);
        if (p == NULL) {
            fprintf(stderr, "kvo_inputs_add: out of memory\n");
            exit(99);
        }
        in->bits = p;
        in->cap = cap;
    }
    in->bits[in->n++] = b;
}

/* Adds x, -x and both binary32 neighbours of each. */
static inline void kvo_inputs_add_around(kvo_inputs *in, float x)
{
    float v[3] = {x, nextafterf(x, INFINITY), nextafterf(x, -INFINITY)};
    for (int i = 0; i < 3; i++) {
        kvo_inputs_add(in, kvo_f32_bits(v[i]));
        kvo_inputs_add(in, kvo_f32_bits(-v[i]));
    }
}

/* Every representable value of a grid, every midpoint between neighbours
 * (the sentinel included: the overflow thresholds), and their binary32
 * neighbours, with both signs. Midpoints of these formats are binary32
 * values; returns -1 if one is not (the oracle would be wrong). */
static inline int kvo_inputs_add_grid(kvo_inputs *in, const kvo_grid *g)
{
    for (size_t i = 0; i < g->n; i++) {
        if (g->value[i] < 0x1p128)
            kvo_inputs_add_around(in, (float)g->value[i]);
        if (i + 1 < g->n) {
            double mid = (g->value[i] + g->value[i + 1]) / 2.0;
            if ((double)(float)mid != mid)
                return -1;
            kvo_inputs_add_around(in, (float)mid);
        }
    }
    return 0;
}

/* The special and edge values of binary32 and the E8M0 boundaries. */
static inline void kvo_inputs_add_specials(kvo_inputs *in)
{
    static const uint32_t nans[] = {0x7F800001u, 0x7F800002u, 0x7F801FFFu, 0x7F802000u,
                                    0x7F80FFFFu, 0x7F810000u, 0x7FA00000u, 0x7FBFFFFFu,
                                    0x7FC00000u, 0x7FC00001u, 0x7FD55555u, 0x7FE00000u,
                                    0x7FFFFFFFu};
    for (size_t i = 0; i < sizeof nans / sizeof nans[0]; i++) {
        kvo_inputs_add(in, nans[i]);
        kvo_inputs_add(in, nans[i] | 0x80000000u);
    }
    kvo_inputs_add_around(in, 0.0f);
    kvo_inputs_add_around(in, INFINITY);
    kvo_inputs_add_around(in, FLT_MAX);
    kvo_inputs_add_around(in, FLT_MIN);
    kvo_inputs_add_around(in, FLT_TRUE_MIN);
    kvo_inputs_add_around(in, 1.0f);
    /* binary32 subnormals: every 257th, and the ends */
    for (uint32_t m = 1; m <= 0x7FFFFFu; m += 257)
        kvo_inputs_add_around(in, kvo_f32(m));
    kvo_inputs_add_around(in, kvo_f32(0x7FFFFFu));
    kvo_inputs_add_around(in, kvo_f32(0x400000u));
    /* every power of two (E8M0 boundaries) and 1.5 times it */
    for (int k = -149; k <= 127; k++) {
        kvo_inputs_add_around(in, ldexpf(1.0f, k));
        if (k < 127)
            kvo_inputs_add_around(in, ldexpf(1.5f, k));
    }
}

/* Every step-th binary32 pattern from start (a dense sweep). */
static inline void kvo_inputs_add_sweep(kvo_inputs *in, uint32_t start, uint32_t step)
{
    for (uint64_t b = start; b <= 0xFFFFFFFFu; b += step)
        kvo_inputs_add(in, (uint32_t)b);
}

static inline void kvo_inputs_free(kvo_inputs *in)
{
    free(in->bits);
    in->bits = NULL;
    in->n = in->cap = 0;
}

#endif /* KVC_TESTS_FORMATS_ORACLE_H */
