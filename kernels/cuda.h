/* kvcert: the CUDA backend's host-side entry points (C linkage).
 * Built only when configure found nvcc (KVC_HAVE_CUDA); otherwise these
 * report KVC_BACKEND_UNAVAILABLE. */
#ifndef KVC_KERNELS_CUDA_H
#define KVC_KERNELS_CUDA_H

#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Number of usable CUDA devices: KVC_CUDA_NO_DEVICE when there are none
 * (or no driver), KVC_BACKEND_UNAVAILABLE in a build without CUDA. */
kvc_status kvc_cuda_device_count(int *count, kvc_error *err);
/* Name and compute capability of device i. */
kvc_status kvc_cuda_device_info(int i, char *name, int name_size, int *major, int *minor,
                                kvc_error *err);

#ifdef __cplusplus
}
#endif

#endif
