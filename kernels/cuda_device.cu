/* kvcert: CUDA device discovery; every CUDA call checked. */
#include <cuda_runtime.h>
#include <stdio.h>

#include "kernels/cuda.h"

extern "C" kvc_status kvc_cuda_device_count(int *count, kvc_error *err)
{
    *count = 0;
    cudaError_t rc = cudaGetDeviceCount(count);
    if (rc == cudaErrorNoDevice || rc == cudaErrorInsufficientDriver) {
        *count = 0;
        return kvc_error_set(err, KVC_CUDA_NO_DEVICE, "%s", cudaGetErrorString(rc));
    }
    if (rc != cudaSuccess)
        return kvc_error_set(err, KVC_CUDA, "cudaGetDeviceCount: %s", cudaGetErrorString(rc));
    if (*count == 0)
        return kvc_error_set(err, KVC_CUDA_NO_DEVICE, "the driver reports no device");
    return KVC_OK;
}

extern "C" kvc_status kvc_cuda_device_info(int i, char *name, int name_size, int *major,
                                           int *minor, kvc_error *err)
{
    cudaDeviceProp prop;
    cudaError_t rc = cudaGetDeviceProperties(&prop, i);
    if (rc != cudaSuccess)
        return kvc_error_set(err, KVC_CUDA, "cudaGetDeviceProperties(%d): %s", i,
                             cudaGetErrorString(rc));
    snprintf(name, (size_t)name_size, "%s", prop.name);
    *major = prop.major;
    *minor = prop.minor;
    return KVC_OK;
}
