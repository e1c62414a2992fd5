/* kvcert: the CUDA backend's entry points in a build without CUDA: each
 * says so (KVC_BACKEND_UNAVAILABLE); nothing falls back to the CPU. */
#include "kernels/cuda_backend.h"

#include <stddef.h>

static kvc_status not_built(kvc_error *err)
{
    return kvc_error_set(err, KVC_BACKEND_UNAVAILABLE,
                         "kvcert was built without CUDA (configure --with-cuda)");
}

kvc_status kvc_backend_cuda_create(int device, kvc_backend **out, kvc_error *err)
{
    (void)device;
    *out = NULL;
    return not_built(err);
}

void kvc_backend_cuda_destroy(kvc_backend *be)
{
    (void)be;
}

kvc_status kvc_backend_cuda_set_guard(kvc_backend *be, int on, kvc_error *err)
{
    (void)be;
    (void)on;
    return not_built(err);
}

int kvc_backend_is_cuda(const kvc_backend *be)
{
    (void)be;
    return 0;
}

kvc_status kvc_cuda_dequant_fp8_block(int device, const uint8_t *w, int64_t rows, int64_t cols,
                                      const uint8_t *scale, int64_t srows, int64_t scols,
                                      float *out, kvc_error *err)
{
    (void)device, (void)w, (void)rows, (void)cols, (void)scale, (void)srows, (void)scols;
    (void)out;
    return not_built(err);
}

kvc_status kvc_backend_cuda_set_tile(kvc_backend *be, kvc_cuda_tile tile, kvc_error *err)
{
    (void)be;
    (void)tile;
    return not_built(err);
}

const char *kvc_cuda_tile_name(kvc_cuda_tile t)
{
    (void)t;
    return "unavailable";
}

kvc_status kvc_cuda_matmul_device(const float *x, int64_t rows, const float *w, int64_t n,
                                  int64_t k, float *y, kvc_cuda_tile tile, void *stream,
                                  kvc_error *err)
{
    (void)x, (void)rows, (void)w, (void)n, (void)k, (void)y, (void)tile, (void)stream;
    return not_built(err);
}

kvc_status kvc_cuda_dequant_device(const uint8_t *w, int64_t rows, int64_t cols,
                                   const uint8_t *scale, int64_t scols, float *out,
                                   void *stream, kvc_error *err)
{
    (void)w, (void)rows, (void)cols, (void)scale, (void)scols, (void)out, (void)stream;
    return not_built(err);
}

kvc_status kvc_cuda_codec_roundtrip_device(const struct kvc_kakeya_params *p, const float *x,
                                           int64_t n, float *out, void *stream,
                                           kvc_error *err)
{
    (void)p, (void)x, (void)n, (void)out, (void)stream;
    return not_built(err);
}
