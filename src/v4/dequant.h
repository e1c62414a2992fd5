/* kvcert: weights to binary32 (SPEC.md section 3).
 *
 * FP8 block dequantization: an F8_E4M3 matrix [rows, cols] carries an
 * F8_E8M0 scale matrix [ceil(rows/128), ceil(cols/128)], one power of two
 * per 128x128 tile; element (o, i) is
 *     W[o,i] = float(e4m3 w[o,i]) * 2^(s[o/128, i/128] - 127),
 * computed by kvc_dequant_e4m3_e8m0 (v4/dequant_scalar.h), exact unless it
 * overflows to infinity. Tiles at ragged edges (rows or cols not a
 * multiple of 128) use the scale of the tile they fall in.
 *
 * Widening: BF16 and F16 widen exactly to binary32 (core/formats.h);
 * F32 is copied. Inputs may be unaligned (they often point into a
 * mapped safetensors file) and are read as little-endian.
 *
 * The results do not depend on how the work is split: large tensors are
 * dequantized by 2 threads, each element by the same scalar code.
 */
#ifndef KVC_V4_DEQUANT_H
#define KVC_V4_DEQUANT_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "io/safetensors.h"
#include "v4/dequant_scalar.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Dequantizes w [rows, cols] (row-major E4M3 bytes) with scale
 * [srows, scols] (row-major E8M0 bytes) into out [rows, cols].
 * srows must equal ceil(rows/128) and scols ceil(cols/128), else
 * KVC_TENSOR_SHAPE; negative sizes, a size product that overflows, or a
 * NULL pointer with a non-empty size give KVC_INVALID_ARGUMENT.
 * out must not overlap the inputs. */
kvc_status kvc_dequant_fp8_block(const uint8_t *w, int64_t rows, int64_t cols,
                                 const uint8_t *scale, int64_t srows, int64_t scols,
                                 float *out, kvc_error *err);

/* Widen n little-endian elements at src (any alignment) to binary32. */
void kvc_widen_bf16(const void *src, size_t n, float *out);
void kvc_widen_f16(const void *src, size_t n, float *out);
/* F32 "widening": a copy (the bytes are already binary32). */
void kvc_widen_f32(const void *src, size_t n, float *out);

/* The sibling scale of an FP8 weight: "X.weight" -> "X.scale"; a name
 * without the ".weight" suffix gets ".scale" appended. Returns buf, or
 * NULL when it does not fit in size bytes. */
const char *kvc_dequant_scale_name(const char *weight, char *buf, size_t size);

/* Reads tensor `name` of f as binary32 into a new buffer *out (free() it),
 * and its shape as a matrix into shape[2]:
 *  - F8_E4M3 [r, c]: dequantized with its sibling scale (see
 *    kvc_dequant_scale_name), which must exist (KVC_TENSOR_MISSING, naming
 *    the scale), be F8_E8M0 (KVC_TENSOR_DTYPE) and have shape
 *    [ceil(r/128), ceil(c/128)] (KVC_TENSOR_SHAPE); an E4M3 tensor that is
 *    not 2-D is KVC_TENSOR_SHAPE;
 *  - BF16, F16, F32 of any rank: widened; shape = {product of the leading
 *    dimensions, last dimension} ({1, 1} for a scalar, {1, n} for [n]);
 *  - any other dtype: KVC_TENSOR_DTYPE naming it.
 * An absent tensor is KVC_TENSOR_MISSING. The error record names the file
 * and the tensor. On failure *out is NULL. */
kvc_status kvc_dequant_tensor(const kvc_st_file *f, const char *name, float **out,
                              int64_t shape[2], kvc_error *err);

#ifdef __cplusplus
}
#endif

#endif /* KVC_V4_DEQUANT_H */
