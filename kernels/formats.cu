/* kvcert: the number-format conversions (core/formats.h) on the GPU.
 *
 * The kernel calls the same KVC_HD function as the CPU loop
 * (kvc_format_apply), so the GPU result is the CPU result bit for bit
 * (DESIGN.md rule 1; checked by tests/check_cuda_formats.c). Every CUDA
 * call is checked, and the launch too (cudaGetLastError, then the
 * synchronization that reports faults while the kernel ran).
 */
#include <cuda_runtime.h>

#include "kernels/cuda.h"

/* Words per chunk: bounds the device memory one call takes (2 x 64 MiB). */
static const size_t kvc__convert_chunk = (size_t)1 << 24;

__global__ void kvc__format_kernel(kvc_format_op op, const uint32_t *in, size_t n, uint32_t *out)
{
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
        out[i] = kvc_format_apply(op, in[i]);
}

/* The status of a failed CUDA call: no device (or no driver) is a status
 * of its own, so that tests and the CLI can skip; the rest is KVC_CUDA. */
static kvc_status kvc__cuda_fail(cudaError_t rc, const char *what, kvc_format_op op,
                                 kvc_error *err)
{
    kvc_status s = KVC_CUDA;
    if (rc == cudaErrorNoDevice || rc == cudaErrorInsufficientDriver)
        s = KVC_CUDA_NO_DEVICE;
    kvc_error_set(err, s, "%s, op %s: %s (%s)", what, kvc_format_op_name(op),
                  cudaGetErrorString(rc), cudaGetErrorName(rc));
    /* clear a non-sticky error so that it does not surface in a later call */
    (void)cudaGetLastError();
    return s;
}

extern "C" kvc_status kvc_cuda_convert(kvc_format_op op, const uint32_t *in_bits, size_t n,
                                       uint32_t *out, kvc_error *err)
{
    if ((int)op < 0 || (int)op >= (int)KVC_FORMAT_OP_COUNT)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "kvc_cuda_convert: unknown op %d",
                             (int)op);
    if (n == 0)
        return KVC_OK;
    if (in_bits == NULL || out == NULL)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "kvc_cuda_convert: NULL array, n = %zu",
                             n);

    size_t chunk = n < kvc__convert_chunk ? n : kvc__convert_chunk;
    size_t bytes = chunk * sizeof(uint32_t);
    uint32_t *d_in = NULL, *d_out = NULL;
    kvc_status st = KVC_OK;
    cudaError_t rc = cudaMalloc((void **)&d_in, bytes);
    if (rc != cudaSuccess) {
        st = kvc__cuda_fail(rc, "cudaMalloc (input)", op, err);
        goto done;
    }
    rc = cudaMalloc((void **)&d_out, bytes);
    if (rc != cudaSuccess) {
        st = kvc__cuda_fail(rc, "cudaMalloc (output)", op, err);
        goto done;
    }
    for (size_t begin = 0; begin < n; begin += chunk) {
        size_t m = n - begin < chunk ? n - begin : chunk;
        rc = cudaMemcpy(d_in, in_bits + begin, m * sizeof(uint32_t), cudaMemcpyHostToDevice);
        if (rc != cudaSuccess) {
            st = kvc__cuda_fail(rc, "cudaMemcpy (to device)", op, err);
            goto done;
        }
        const unsigned threads = 256;
        size_t want_blocks = (m + threads - 1) / threads;
        unsigned blocks = want_blocks < 4096 ? (unsigned)want_blocks : 4096u;
        kvc__format_kernel<<<blocks, threads>>>(op, d_in, m, d_out);
        rc = cudaGetLastError();
        if (rc != cudaSuccess) {
            st = kvc__cuda_fail(rc, "launching the format kernel", op, err);
            goto done;
        }
        rc = cudaDeviceSynchronize();
        if (rc != cudaSuccess) {
            st = kvc__cuda_fail(rc, "running the format kernel", op, err);
            goto done;
        }
        rc = cudaMemcpy(out + begin, d_out, m * sizeof(uint32_t), cudaMemcpyDeviceToHost);
        if (rc != cudaSuccess) {
            st = kvc__cuda_fail(rc, "cudaMemcpy (to host)", op, err);
            goto done;
        }
    }
done:
    /* free both even after a failure; the first error is the one reported */
    if (d_in != NULL) {
        rc = cudaFree(d_in);
        if (rc != cudaSuccess && st == KVC_OK)
            st = kvc__cuda_fail(rc, "cudaFree", op, err);
    }
    if (d_out != NULL) {
        rc = cudaFree(d_out);
        if (rc != cudaSuccess && st == KVC_OK)
            st = kvc__cuda_fail(rc, "cudaFree", op, err);
    }
    return st;
}
