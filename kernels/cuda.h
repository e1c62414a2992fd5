/* kvcert: the CUDA backend's host-side entry points (C linkage).
 * Built only when configure found nvcc (KVC_HAVE_CUDA); otherwise these
 * report KVC_BACKEND_UNAVAILABLE. */
#ifndef KVC_KERNELS_CUDA_H
#define KVC_KERNELS_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/formats.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Number of usable CUDA devices: KVC_CUDA_NO_DEVICE when there are none
 * (or no driver), KVC_BACKEND_UNAVAILABLE in a build without CUDA. */
kvc_status kvc_cuda_device_count(int *count, kvc_error *err);
/* Name and compute capability of device i. */
kvc_status kvc_cuda_device_info(int i, char *name, int name_size, int *major, int *minor,
                                kvc_error *err);

/* Runs one number-format conversion (core/formats.h, kvc_format_apply)
 * on the GPU over n words: out[i] = kvc_format_apply(op, in_bits[i]).
 * in_bits and out are host arrays (copied to and from the device in
 * chunks of at most 2^24 words); out is written only for i < n, and only
 * when the call succeeds. n == 0 does nothing. Errors: KVC_INVALID_ARGUMENT
 * (unknown op, NULL array with n > 0), KVC_CUDA_NO_DEVICE (no device or
 * driver), KVC_CUDA (any other CUDA failure, with the CUDA error string),
 * KVC_BACKEND_UNAVAILABLE in a build without CUDA. */
kvc_status kvc_cuda_convert(kvc_format_op op, const uint32_t *in_bits, size_t n, uint32_t *out,
                            kvc_error *err);

#ifdef __cplusplus
}
#endif

#endif
