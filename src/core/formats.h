/* kvcert: bit-level number formats (SPEC.md section 2).
 *
 * Every conversion here works on integer bit patterns (DESIGN.md rule 5):
 * round to nearest, ties to even, with NaN and overflow behaviour spelled
 * out below, never through a compiler or hardware cast whose behaviour
 * varies by version. The CPU and the CUDA kernels call these same
 * functions (KVC_HD).
 *
 * Decoding is exact for every format (each value is a binary32 value).
 * bf16 and fp16 decode by widening the bit pattern, NaN payloads included
 * (a signalling NaN stays signalling: no arithmetic touches it); an E4M3
 * NaN decodes to the quiet binary32 NaN with its sign (sign | 0x7FC00000),
 * the E8M0 NaN (0xFF) to 0x7FC00000.
 *
 * NaN policy of the encoders: a NaN input keeps its sign bit.
 *   bf16 / fp16: quiet NaN; the top mantissa bits of the payload are kept
 *                (binary32 mantissa >> 16, resp. >> 13) and the quiet bit
 *                is forced on.
 *   E4M3:        sign | 0x7F (the format's only NaN encodings).
 *   E8M0:        0xFF (the format is unsigned).
 * GPU hardware casts may return a canonical NaN instead (without sign
 * or payload); `make gpu-exhaustive` counts such NaN-only differences
 * apart. kvcert relies on neither, because no certified result carries
 * a NaN.
 *
 * Overflow: bf16 and fp16 round to infinity at and beyond the largest
 * finite value plus half an ulp (the tie goes to infinity, whose encoding
 * is even), as IEEE 754 rounding does. E4M3 has no infinity: see
 * kvc_f32_to_e4m3 for its two overflow modes.
 *
 * Tested by tests/check_formats.c (every decode pattern, encoders against
 * an independent binary64 oracle on all boundaries, midpoints and a dense
 * sweep) and `make check-exhaustive` (all 2^32 binary32 inputs of every
 * encoder); the CUDA build runs the same code on the GPU
 * (kernels/formats.cu, tests/check_cuda_formats.c, `make gpu-exhaustive`).
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
 * and the infinities become +-448 under SATFINITE and NaN (sign | 0x7F)
 * under NAN.
 *
 * Where overflow starts, deliberately: rounding is done as if the exponent
 * were unbounded, then checked against 448. Exactly 464 lies halfway
 * between 448 (mantissa 110, even) and 480 (mantissa 111, odd), so round
 * to nearest even gives 448, not an overflow: 464 -> 0x7E in both modes,
 * and only |x| > 464 is NaN under NAN. SPEC.md 2 words the NAN mode as
 * "|x| >= 464"; this is the reading of that line, and it is also what
 * PyTorch's c10 Float8_e4m3fn software cast does (464 -> 448). Tested in
 * tests/check_formats.c (e4m3_464_reading). */
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

/* ------------------------------------------------- one element, by op */

/* Every conversion above as one operation on a 32-bit word, so that one
 * loop (CPU) or one kernel (CUDA, kernels/formats.cu) drives them all.
 * Encoders read the binary32 bit pattern and return the code in the low
 * bits; decoders read the code from the low 16 (bf16, fp16) or 8 (E4M3,
 * E8M0) bits, ignore the rest, and return a binary32 bit pattern. Append
 * new ops at the end: the numbers are part of the CUDA entry points. */
typedef enum kvc_format_op {
    KVC_FORMAT_BF16_ENCODE = 0,
    KVC_FORMAT_BF16_DECODE = 1,
    KVC_FORMAT_FP16_ENCODE = 2,
    KVC_FORMAT_FP16_DECODE = 3,
    KVC_FORMAT_E4M3_SATFINITE_ENCODE = 4,
    KVC_FORMAT_E4M3_NAN_ENCODE = 5,
    KVC_FORMAT_E4M3_DECODE = 6,
    KVC_FORMAT_E8M0_RZ_ENCODE = 7,
    KVC_FORMAT_E8M0_RP_ENCODE = 8,
    KVC_FORMAT_E8M0_DECODE = 9,
    KVC_FORMAT_OP_COUNT = 10
} kvc_format_op;

/* A short name of an op ("bf16-encode"), or "?" for an unknown one. */
KVC_HD const char *kvc_format_op_name(kvc_format_op op)
{
    switch (op) {
    case KVC_FORMAT_BF16_ENCODE: return "bf16-encode";
    case KVC_FORMAT_BF16_DECODE: return "bf16-decode";
    case KVC_FORMAT_FP16_ENCODE: return "fp16-encode";
    case KVC_FORMAT_FP16_DECODE: return "fp16-decode";
    case KVC_FORMAT_E4M3_SATFINITE_ENCODE: return "e4m3-satfinite-encode";
    case KVC_FORMAT_E4M3_NAN_ENCODE: return "e4m3-nan-encode";
    case KVC_FORMAT_E4M3_DECODE: return "e4m3-decode";
    case KVC_FORMAT_E8M0_RZ_ENCODE: return "e8m0-rz-encode";
    case KVC_FORMAT_E8M0_RP_ENCODE: return "e8m0-rp-encode";
    case KVC_FORMAT_E8M0_DECODE: return "e8m0-decode";
    default: return "?";
    }
}

/* Applies op to one word (see kvc_format_op). An unknown op returns 0:
 * callers validate op before their loop (op < KVC_FORMAT_OP_COUNT). */
KVC_HD uint32_t kvc_format_apply(kvc_format_op op, uint32_t in)
{
    switch (op) {
    case KVC_FORMAT_BF16_ENCODE:
        return kvc_f32_to_bf16(kvc_f32_from_bits(in));
    case KVC_FORMAT_BF16_DECODE:
        return kvc_f32_bits(kvc_bf16_to_f32((uint16_t)in));
    case KVC_FORMAT_FP16_ENCODE:
        return kvc_f32_to_fp16(kvc_f32_from_bits(in));
    case KVC_FORMAT_FP16_DECODE:
        return kvc_f32_bits(kvc_fp16_to_f32((uint16_t)in));
    case KVC_FORMAT_E4M3_SATFINITE_ENCODE:
        return kvc_f32_to_e4m3(kvc_f32_from_bits(in), KVC_E4M3_SATFINITE);
    case KVC_FORMAT_E4M3_NAN_ENCODE:
        return kvc_f32_to_e4m3(kvc_f32_from_bits(in), KVC_E4M3_NAN);
    case KVC_FORMAT_E4M3_DECODE:
        return kvc_f32_bits(kvc_e4m3_to_f32((uint8_t)in));
    case KVC_FORMAT_E8M0_RZ_ENCODE:
        return kvc_f32_to_e8m0(kvc_f32_from_bits(in), KVC_E8M0_RZ);
    case KVC_FORMAT_E8M0_RP_ENCODE:
        return kvc_f32_to_e8m0(kvc_f32_from_bits(in), KVC_E8M0_RP);
    case KVC_FORMAT_E8M0_DECODE:
        return kvc_f32_bits(kvc_e8m0_to_f32((uint8_t)in));
    default:
        return 0;
    }
}

#endif /* KVC_CORE_FORMATS_H */
