/* kvcert: bit-level number formats (SPEC.md section 2).
 *
 * Every conversion here works on integer bit patterns (DESIGN.md rule 5):
 * round to nearest, ties to even, with NaN and overflow behaviour spelled
 * out below, never through a compiler or hardware cast whose behaviour
 * varies by version. The CPU and the CUDA kernels call these same
 * functions (KVC_HD).
 *
 * Decoding is exact for every format (each value is a binary32 value).
 *
 * NaN policy: a NaN input keeps its sign bit.
 *   bf16 / fp16: quiet NaN; the top mantissa bits of the payload are kept
 *                and the quiet bit is forced on.
 *   E4M3:        sign | 0x7F (the format's only NaN encodings).
 *   E8M0:        0xFF.
 */
#ifndef KVC_CORE_FORMATS_H
#define KVC_CORE_FORMATS_H

#include "core/hd.h"

/* ---------------------------------------------------------------- bf16 */

KVC_HD float kvc_bf16_to_f32(uint16_t h)
{
    return kvc_f32_from_bits((uint32_t)h << 16);
}

KVC_HD uint16_t kvc_f32_to_bf16(float f)
{
    uint32_t u = kvc_f32_bits(f);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u)
        return (uint16_t)((u >> 16) | 0x0040u);
    /* Adding 0x7FFF plus the lowest kept bit rounds half to even; a carry
     * out of the mantissa moves to the exponent, and past the largest
     * finite value it lands exactly on infinity. */
    u += 0x7FFFu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* bf16(x) as a binary32 value: the "dt = bf16" rounding of SPEC 6. */
KVC_HD float kvc_round_bf16(float f)
{
    return kvc_bf16_to_f32(kvc_f32_to_bf16(f));
}

/* ---------------------------------------------------------------- fp16 */

KVC_HD float kvc_fp16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu;
    uint32_t man = h & 0x3FFu;
    if (exp == 0x1Fu) /* inf or NaN: payload moves to the top bits */
        return kvc_f32_from_bits(sign | 0x7F800000u | (man << 13));
    if (exp != 0) /* normal: rebias 15 -> 127 */
        return kvc_f32_from_bits(sign | ((exp + 112u) << 23) | (man << 13));
    if (man == 0)
        return kvc_f32_from_bits(sign);
    /* subnormal: man * 2^-24; normalize so the leading 1 is bit 10 */
    exp = 113u; /* 2^-14 as a binary32 biased exponent */
    while ((man & 0x400u) == 0) {
        man <<= 1;
        exp--;
    }
    return kvc_f32_from_bits(sign | (exp << 23) | ((man & 0x3FFu) << 13));
}

/* Rounds the integer m * 2^-shift to nearest, ties to even (shift 1..31). */
KVC_HD uint32_t kvc__shift_rne(uint32_t m, uint32_t shift)
{
    uint32_t kept = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1u);
    uint32_t half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (kept & 1u)))
        kept++;
    return kept;
}

KVC_HD uint16_t kvc_f32_to_fp16(float f)
{
    uint32_t u = kvc_f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7FFFFFFFu;
    if (a > 0x7F800000u) /* NaN: keep the payload's top bits, force quiet */
        return (uint16_t)(sign | 0x7E00u | ((a >> 13) & 0x3FFu));
    if (a >= 0x477FF000u) /* >= 65520 rounds past 65504: infinity */
        return (uint16_t)(sign | 0x7C00u);
    if (a >= 0x38800000u) { /* >= 2^-14: normal */
        uint32_t exp = (a >> 23) - 112u;
        uint32_t h = (exp << 10) | ((a >> 13) & 0x3FFu);
        uint32_t rem = a & 0x1FFFu;
        if (rem > 0x1000u || (rem == 0x1000u && (h & 1u)))
            h++; /* a carry into the exponent is the right answer */
        return (uint16_t)(sign | h);
    }
    if (a <= 0x33000000u) /* <= 2^-25, half the smallest step: zero */
        return sign;
    /* subnormal result: value = m * 2^(e-150), in steps of 2^-24 */
    uint32_t e = a >> 23;
    uint32_t m = (a & 0x7FFFFFu) | 0x800000u;
    return (uint16_t)(sign | kvc__shift_rne(m, 126u - e));
}

KVC_HD float kvc_round_fp16(float f)
{
    return kvc_fp16_to_f32(kvc_f32_to_fp16(f));
}

/* ---------------------------------------------------------------- E4M3 */

/* E4M3 (the "fn" variant): bias 7, no infinities, 0x7F/0xFF NaN, largest
 * finite 448 (0x7E), smallest normal 2^-6, subnormal step 2^-9. */
#define KVC_E4M3_MAX 448.0f

/* What an encoder does with a finite value beyond 448 after rounding. */
typedef enum kvc_e4m3_overflow {
    KVC_E4M3_SATFINITE = 0, /* clamp to +-448, like cvt.rn.satfinite.e4m3x2.f32 */
    KVC_E4M3_NAN = 1        /* NaN, like PyTorch's software cast */
} kvc_e4m3_overflow;

KVC_HD float kvc_e4m3_to_f32(uint8_t b)
{
    uint32_t sign = (uint32_t)(b & 0x80u) << 24;
    uint32_t exp = (b >> 3) & 0xFu;
    uint32_t man = b & 0x7u;
    if (exp == 0xFu && man == 0x7u)
        return kvc_f32_from_bits(sign | 0x7FC00000u);
    if (exp != 0) /* normal: rebias 7 -> 127 */
        return kvc_f32_from_bits(sign | ((exp + 120u) << 23) | (man << 20));
    /* subnormal: man * 2^-9; the product is exact */
    float mag = (float)man * 0.001953125f;
    return kvc_f32_from_bits(sign | kvc_f32_bits(mag));
}

/* Round to nearest even. Overflow: a finite result that rounds above 448
 * (|x| > 464; 464 itself ties to the even 448) and infinities become
 * +-448 under SATFINITE and NaN under NAN. */
KVC_HD uint8_t kvc_f32_to_e4m3(float f, kvc_e4m3_overflow mode)
{
    uint32_t u = kvc_f32_bits(f);
    uint8_t sign = (uint8_t)((u >> 24) & 0x80u);
    uint32_t a = u & 0x7FFFFFFFu;
    if (a > 0x7F800000u)
        return (uint8_t)(sign | 0x7Fu);
    uint32_t e = a >> 23;
    uint32_t h;
    if (e >= 121u) { /* >= 2^-6: normal range (or beyond) */
        if (e > 135u) /* >= 2^9, certainly past 448 (inf included) */
            h = 0x7Fu;
        else {
            h = ((e - 120u) << 3) | ((a >> 20) & 0x7u);
            uint32_t rem = a & 0xFFFFFu;
            if (rem > 0x80000u || (rem == 0x80000u && (h & 1u)))
                h++;
        }
    } else if (e < 117u) { /* < 2^-10, under half the smallest step */
        h = 0;
    } else { /* subnormal result: m * 2^(e-150) in steps of 2^-9 */
        uint32_t m = (a & 0x7FFFFFu) | 0x800000u;
        h = kvc__shift_rne(m, 141u - e);
    }
    if (h > 0x7Eu)
        h = (mode == KVC_E4M3_SATFINITE) ? 0x7Eu : 0x7Fu;
    return (uint8_t)(sign | h);
}

KVC_HD float kvc_round_e4m3(float f, kvc_e4m3_overflow mode)
{
    return kvc_e4m3_to_f32(kvc_f32_to_e4m3(f, mode));
}

/* ---------------------------------------------------------------- E8M0 */

/* E8M0: an unsigned power of two, 2^(e-127); 0xFF is NaN; 0x00 is 2^-127
 * (a binary32 subnormal). */
KVC_HD float kvc_e8m0_to_f32(uint8_t e)
{
    if (e == 0xFFu)
        return kvc_f32_from_bits(0x7FC00000u);
    if (e == 0)
        return kvc_f32_from_bits(0x00400000u);
    return kvc_f32_from_bits((uint32_t)e << 23);
}

/* How an encoder picks a power of two for a value that is not one. */
typedef enum kvc_e8m0_rounding {
    KVC_E8M0_RZ = 0, /* toward zero: the largest 2^k <= |x| (cvt.rz...ue8m0x2) */
    KVC_E8M0_RP = 1  /* toward +inf: the smallest 2^k >= |x| (cvt.rp...ue8m0x2),
                        the ceil(log2) scale of DeepSeek's UE8M0 */
} kvc_e8m0_rounding;

/* Encodes |x| (the sign is ignored: the format is unsigned). NaN gives
 * 0xFF; results saturate to [2^-127, 2^127] (0x00..0xFE), so zero, tiny
 * values and infinity map to the ends of the range. */
KVC_HD uint8_t kvc_f32_to_e8m0(float f, kvc_e8m0_rounding mode)
{
    uint32_t a = kvc_f32_bits(f) & 0x7FFFFFFFu;
    if (a > 0x7F800000u)
        return 0xFFu;
    if (a >= 0x7F000000u) /* >= 2^127, infinity included: saturate */
        return 0xFEu;
    uint32_t e = a >> 23;
    uint32_t man = a & 0x7FFFFFu;
    if (e == 0) { /* zero or a binary32 subnormal: below 2^-126 */
        if (mode == KVC_E8M0_RZ || man <= 0x400000u)
            return 0x00u; /* <= 2^-127 rounds up to 2^-127; RZ floors to the range */
        return 0x01u;     /* in (2^-127, 2^-126): ceil is 2^-126 */
    }
    if (mode == KVC_E8M0_RP && man != 0)
        e++;
    return (uint8_t)e;
}

#endif /* KVC_CORE_FORMATS_H */
