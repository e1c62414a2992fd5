/* kvcert: the CUDA entry points of a build without CUDA. */
#include "kernels/cuda.h"

kvc_status kvc_cuda_device_count(int *count, kvc_error *err)
{
    *count = 0;
    return kvc_error_set(err, KVC_BACKEND_UNAVAILABLE,
                         "kvcert was built without CUDA (configure --with-cuda)");
}

kvc_status kvc_cuda_device_info(int i, char *name, int name_size, int *major, int *minor,
                                kvc_error *err)
{
    (void)i;
    if (name_size > 0)
        name[0] = '\0';
    *major = *minor = 0;
    return kvc_error_set(err, KVC_BACKEND_UNAVAILABLE, "kvcert was built without CUDA");
}

kvc_status kvc_cuda_convert(kvc_format_op op, const uint32_t *in_bits, size_t n, uint32_t *out,
                            kvc_error *err)
{
    (void)op;
    (void)in_bits;
    (void)n;
    (void)out;
    return kvc_error_set(err, KVC_BACKEND_UNAVAILABLE, "kvcert was built without CUDA");
}
