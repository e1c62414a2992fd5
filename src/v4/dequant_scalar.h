/* kvcert: the per-element FP8 dequantization of SPEC.md section 3, shared by
 * the CPU loops and the CUDA kernels (DESIGN.md rule 1).
 *
 *   W = float(e4m3 w) * 2^(s - 127)
 *
 * The product is formed as kvc_e4m3_to_f32(w) * kvc_e8m0_to_f32(s): one
 * binary32 multiplication whose second factor is a power of two. It is
 * therefore EXACT whenever the result is finite:
 *  - an E4M3 value has at most 4 significant bits and its lowest set bit
 *    is at least 2^-9, so even with the smallest scale (byte 0 = 2^-127,
 *    itself a binary32 subnormal) the lowest bit lands at >= 2^-136, well
 *    above binary32's 2^-149 subnormal step: there is no underflow loss;
 *  - it overflows to +-infinity when |e4m3| * 2^(s-127) >= 2^128 (e.g.
 *    448 * 2^120 and up); IEEE multiplication gives the infinity, and the
 *    binary64 oracle of tests/check_dequant.c expects exactly that.
 * NaN: an E4M3 NaN (0x7F, 0xFF) or the E8M0 NaN scale (0xFF) gives the
 * canonical quiet NaN 0x7FC00000 (0 * NaN-scale included). It is returned
 * explicitly, never produced by the multiplication: a CPU propagates a NaN
 * operand's sign and payload while a GPU returns its own canonical NaN, and
 * the two backends must give the same bits (as core/detmath.h does).
 *
 * With -ffp-contract=off (C) and --fmad=false (nvcc) nothing can fuse
 * this multiplication, and it is a single correctly rounded IEEE
 * operation, so CPU and GPU agree bit for bit.
 */
#ifndef KVC_V4_DEQUANT_SCALAR_H
#define KVC_V4_DEQUANT_SCALAR_H

#include "core/formats.h"

/* Side of the square quantization tile (DeepSeek's block size). */
#define KVC_DEQUANT_TILE 128

KVC_HD float kvc_dequant_e4m3_e8m0(uint8_t w, uint8_t s)
{
    if ((w & 0x7Fu) == 0x7Fu || s == 0xFFu)
        return kvc_f32_from_bits(0x7FC00000u);
    return kvc_e4m3_to_f32(w) * kvc_e8m0_to_f32(s);
}

/* Number of tiles covering n elements: ceil(n / 128) (n >= 0). */
KVC_HD int64_t kvc_dequant_tiles(int64_t n)
{
    return (n + (KVC_DEQUANT_TILE - 1)) / KVC_DEQUANT_TILE;
}

#endif /* KVC_V4_DEQUANT_SCALAR_H */
