/* kvcert: helpers shared by the CUDA sources (C++ only, never installed).
 *
 * Every CUDA call is checked: KVC_CUDA_TRY records the failing call, its
 * error string and the source line in the kvc_error and returns KVC_CUDA
 * (KVC_CUDA_NO_DEVICE when the runtime says there is no usable device),
 * so a failure is a clear message, never a hang or a silent CPU fallback.
 */
#ifndef KVC_KERNELS_CUDA_COMMON_H
#define KVC_KERNELS_CUDA_COMMON_H

#include <cuda_runtime.h>

#include "core/error.h"

static inline kvc_status kvc__cuda_fail(cudaError_t rc, const char *call, const char *file,
                                        int line, kvc_error *err)
{
    kvc_status st = (rc == cudaErrorNoDevice || rc == cudaErrorInsufficientDriver)
                        ? KVC_CUDA_NO_DEVICE
                        : KVC_CUDA;
    return kvc_error_set(err, st, "%s: %s (%s:%d)", call, cudaGetErrorString(rc), file, line);
}

/* Evaluates a CUDA runtime call; on failure records it and returns. */
#define KVC_CUDA_TRY(call, err)                                                   \
    do {                                                                          \
        cudaError_t kvc__rc = (call);                                             \
        if (kvc__rc != cudaSuccess)                                               \
            return kvc__cuda_fail(kvc__rc, #call, __FILE__, __LINE__, (err));     \
    } while (0)

/* After a kernel launch: the launch error, then (synchronously) the run. */
#define KVC_CUDA_TRY_LAUNCH(name, err)                                            \
    do {                                                                          \
        KVC_CUDA_TRY(cudaGetLastError(), err);                                    \
        KVC_CUDA_TRY(cudaDeviceSynchronize(), err);                               \
    } while (0)

/* A device buffer freed on scope exit (RAII keeps error paths leak-free). */
template <typename T> struct kvc_dev_buf {
    T *ptr = nullptr;
    size_t count = 0;
    kvc_dev_buf() = default;
    kvc_dev_buf(const kvc_dev_buf &) = delete;
    kvc_dev_buf &operator=(const kvc_dev_buf &) = delete;
    ~kvc_dev_buf() { if (ptr != nullptr) cudaFree(ptr); }
    kvc_status alloc(size_t n, kvc_error *err)
    {
        if (ptr != nullptr) { cudaFree(ptr); ptr = nullptr; }
        count = n;
        KVC_CUDA_TRY(cudaMalloc((void **)&ptr, (n > 0 ? n : 1) * sizeof(T)), err);
        return KVC_OK;
    }
    kvc_status upload(const T *host, size_t n, kvc_error *err)
    {
        kvc_status st = alloc(n, err);
        if (st != KVC_OK) return st;
        KVC_CUDA_TRY(cudaMemcpy(ptr, host, n * sizeof(T), cudaMemcpyHostToDevice), err);
        return KVC_OK;
    }
    kvc_status download(T *host, size_t n, kvc_error *err) const
    {
        KVC_CUDA_TRY(cudaMemcpy(host, ptr, n * sizeof(T), cudaMemcpyDeviceToHost), err);
        return KVC_OK;
    }
};

/* Blocks for n items with t threads each, capped for grid-stride loops. */
static inline unsigned kvc__grid_for(size_t n, unsigned t)
{
    size_t b = (n + t - 1) / t;
    if (b > 65535u * 8u) b = 65535u * 8u;
    return b == 0 ? 1u : (unsigned)b;
}

#endif
