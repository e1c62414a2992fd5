/* kvcert: correctly rounded summation with a fixed-point superaccumulator.
 * See exactsum.h for the algorithm and the special-value rules. */
#include "stats/exactsum.h"

#include <string.h>

#include "core/hd.h"

#define LIMBS KVC_EXACTSUM_LIMBS
#define SIGN_BIT (UINT64_C(1) << 63)
#define FRAC_MASK ((UINT64_C(1) << 52) - 1)
#define HIDDEN_BIT (UINT64_C(1) << 52)

void kvc_exactsum_init(kvc_exactsum *s)
{
    memset(s, 0, sizeof *s);
    s->all_neg_zero = 1;
}

/* Adds (or subtracts) the 64-bit word w at limb i, carrying (borrowing)
 * into the limbs above. Carries out of the top limb are dropped: the
 * accumulator is a two's complement integer modulo 2^(64·LIMBS), and the
 * headroom (exactsum.h) keeps every reachable sum inside its range. */
static void limb_add(uint64_t *l, int i, uint64_t w)
{
    for (; i < LIMBS && w != 0; i++) {
        uint64_t before = l[i];
        l[i] = before + w;
        w = l[i] < before; /* carry */
    }
}

static void limb_sub(uint64_t *l, int i, uint64_t w)
{
    for (; i < LIMBS && w != 0; i++) {
        uint64_t before = l[i];
        l[i] = before - w;
        w = before < w; /* borrow */
    }
}

void kvc_exactsum_add(kvc_exactsum *s, double x)
{
    uint64_t bits = kvc_f64_bits(x);
    int negative = (bits & SIGN_BIT) != 0;
    unsigned biased = (unsigned)((bits >> 52) & 0x7FF);
    uint64_t frac = bits & FRAC_MASK;

    s->count++;
    if (bits != SIGN_BIT) /* anything but -0 */
        s->all_neg_zero = 0;
    if (biased == 0x7FF) {
        if (frac != 0)
            s->has_nan = 1;
        else if (negative)
            s->has_neg_inf = 1;
        else
            s->has_pos_inf = 1;
        return;
    }
    /* |x| = m · 2^pos · 2^-1074 with m < 2^53 and 0 <= pos <= 2045. */
    uint64_t m = biased == 0 ? frac : (frac | HIDDEN_BIT);
    if (m == 0)
        return;
    int pos = biased == 0 ? 0 : (int)biased - 1;
    int idx = pos / 64, off = pos % 64;
    uint64_t lo = m << off;
    uint64_t hi = off == 0 ? 0 : m >> (64 - off);
    if (negative) {
        limb_sub(s->limb, idx, lo);
        limb_sub(s->limb, idx + 1, hi);
    } else {
        limb_add(s->limb, idx, lo);
        limb_add(s->limb, idx + 1, hi);
    }
}

/* Bit k of the magnitude (0 beyond the top). */
static unsigned bit_at(const uint64_t *l, int k)
{
    if (k < 0 || k >= 64 * LIMBS)
        return 0;
    return (unsigned)((l[k / 64] >> (k % 64)) & 1u);
}

/* The 53 bits at positions low .. low+52 (low >= 0). */
static uint64_t bits53_at(const uint64_t *l, int low)
{
    int idx = low / 64, off = low % 64;
    uint64_t w = l[idx] >> off;
    if (off != 0 && idx + 1 < LIMBS)
        w |= l[idx + 1] << (64 - off);
    return w & ((UINT64_C(1) << 53) - 1);
}

/* True when any bit below position k (exclusive) is set. */
static int any_below(const uint64_t *l, int k)
{
    if (k <= 0)
        return 0;
    int idx = k / 64, off = k % 64;
    for (int i = 0; i < idx; i++)
        if (l[i] != 0)
            return 1;
    return off != 0 && (l[idx] & ((UINT64_C(1) << off) - 1)) != 0;
}

static int highest_bit(const uint64_t *l)
{
    for (int i = LIMBS - 1; i >= 0; i--)
        if (l[i] != 0) {
            int b = 63;
            while (((l[i] >> b) & 1u) == 0)
                b--;
            return 64 * i + b;
        }
    return -1;
}

double kvc_exactsum_value(const kvc_exactsum *s)
{
    if (s->has_nan || (s->has_pos_inf && s->has_neg_inf))
        return kvc_f64_from_bits(UINT64_C(0x7FF8000000000000));
    if (s->has_pos_inf)
        return kvc_f64_from_bits(UINT64_C(0x7FF0000000000000));
    if (s->has_neg_inf)
        return kvc_f64_from_bits(UINT64_C(0xFFF0000000000000));

    uint64_t mag[LIMBS];
    memcpy(mag, s->limb, sizeof mag);
    uint64_t sign = (mag[LIMBS - 1] & SIGN_BIT) ? SIGN_BIT : 0;
    if (sign) { /* magnitude = two's complement negation */
        uint64_t carry = 1;
        for (int i = 0; i < LIMBS; i++) {
            mag[i] = ~mag[i] + carry;
            carry = carry && mag[i] == 0;
        }
    }
    int p = highest_bit(mag);
    if (p < 0)
        return kvc_f64_from_bits(s->count > 0 && s->all_neg_zero ? SIGN_BIT : 0);
    if (p <= 52) /* exact: a subnormal, or a normal with biased exponent 1 */
        return kvc_f64_from_bits(sign | mag[0]);

    uint64_t mant = bits53_at(mag, p - 52);
    unsigned round = bit_at(mag, p - 53);
    int sticky = any_below(mag, p - 53);
    if (round && (sticky || (mant & 1u))) {
        mant++;
        if (mant == (UINT64_C(1) << 53)) {
            mant >>= 1;
            p++;
        }
    }
    /* value = mant · 2^(p-52) · 2^-1074 = 1.f · 2^(p-1074): biased p - 51 */
    int biased = p - 51;
    if (biased >= 0x7FF)
        return kvc_f64_from_bits(sign | UINT64_C(0x7FF0000000000000));
    return kvc_f64_from_bits(sign | ((uint64_t)biased << 52) | (mant & FRAC_MASK));
}

double kvc_exactsum_array(const double *v, size_t n)
{
    kvc_exactsum s;
    kvc_exactsum_init(&s);
    for (size_t i = 0; i < n; i++)
        kvc_exactsum_add(&s, v[i]);
    return kvc_exactsum_value(&s);
}
