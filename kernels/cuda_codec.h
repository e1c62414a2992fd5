/* kvcert: the CUDA backend's codec and statistics operations
 * (kernels/cuda_codec.cu), internal to the CUDA sources. */
#ifndef KVC_KERNELS_CUDA_CODEC_H
#define KVC_KERNELS_CUDA_CODEC_H

#include "core/backend.h"

/* The device a CUDA backend table runs on (kernels/cuda_backend.cu). */
int kvc__cuda_backend_device(const kvc_backend *be);
/* Sets the codec and statistics entries of a CUDA backend table. */
void kvc__cuda_codec_fill(kvc_backend *be);

#endif
