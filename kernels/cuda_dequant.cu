/* kvcert: FP8 block dequantization on the GPU (SPEC 3).
 *
 * Every element is kvc_dequant_e4m3_e8m0(w, s) (v4/dequant_scalar.h), the
 * function the CPU's table is built from: one exact binary32 product.
 * The kernel is a stream: each thread reads 4 weight bytes (one 32-bit
 * load; a warp reads 128 contiguous bytes) and writes their 4 floats (one
 * 16-byte store; a warp writes 512 contiguous bytes), rows on the grid's
 * y axis so the tile's scale needs no division. Shapes whose rows are not
 * 4-byte multiples take the per-element kernel.
 */
#include <cuda_runtime.h>

#include "kernels/cuda_backend.h"
#include "kernels/cuda_common.h"
#include "v4/dequant_scalar.h"

namespace {

constexpr int DQ_THREADS = 256;

/* cols % 4 == 0, w 4-byte and out 16-byte aligned. */
__global__ void __launch_bounds__(DQ_THREADS)
    dequant_vec4(const uint8_t *__restrict__ w, int64_t rows, int64_t cols,
                 const uint8_t *__restrict__ scale, int64_t scols, float *__restrict__ out)
{
    const int64_t quads = cols / 4;
    for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
        const uint8_t *srow = scale + (r / KVC_DEQUANT_TILE) * scols;
        const uint32_t *wr = reinterpret_cast<const uint32_t *>(w + r * cols);
        float4 *orow = reinterpret_cast<float4 *>(out + r * cols);
        for (int64_t q = (int64_t)blockIdx.x * DQ_THREADS + threadIdx.x; q < quads;
             q += (int64_t)gridDim.x * DQ_THREADS) {
            const uint32_t b = __ldg(wr + q);
            /* the 4 columns 4q..4q+3 share a 128-column tile */
            const uint8_t s = __ldg(srow + (4 * q) / KVC_DEQUANT_TILE);
            float4 v;
            v.x = kvc_dequant_e4m3_e8m0((uint8_t)(b & 0xFFu), s);
            v.y = kvc_dequant_e4m3_e8m0((uint8_t)((b >> 8) & 0xFFu), s);
            v.z = kvc_dequant_e4m3_e8m0((uint8_t)((b >> 16) & 0xFFu), s);
            v.w = kvc_dequant_e4m3_e8m0((uint8_t)(b >> 24), s);
            orow[q] = v;
        }
    }
}

__global__ void __launch_bounds__(DQ_THREADS)
    dequant_any(const uint8_t *__restrict__ w, int64_t rows, int64_t cols,
                const uint8_t *__restrict__ scale, int64_t scols, float *__restrict__ out)
{
    for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
        const uint8_t *srow = scale + (r / KVC_DEQUANT_TILE) * scols;
        for (int64_t c = (int64_t)blockIdx.x * DQ_THREADS + threadIdx.x; c < cols;
             c += (int64_t)gridDim.x * DQ_THREADS)
            out[r * cols + c] = kvc_dequant_e4m3_e8m0(w[r * cols + c], srow[c / KVC_DEQUANT_TILE]);
    }
}

} // namespace

extern "C" kvc_status kvc_cuda_dequant_device(const uint8_t *w, int64_t rows, int64_t cols,
                                              const uint8_t *scale, int64_t scols, float *out,
                                              void *stream, kvc_error *err)
{
    if (rows < 0 || cols < 0 || scols < kvc_dequant_tiles(cols))
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "dequant [%lld, %lld]", (long long)rows,
                             (long long)cols);
    if (rows == 0 || cols == 0)
        return KVC_OK;
    const bool vec = cols % 4 == 0 && (reinterpret_cast<uintptr_t>(w) & 3) == 0 &&
                     (reinterpret_cast<uintptr_t>(out) & 15) == 0;
    const int64_t per_row = vec ? cols / 4 : cols;
    int64_t bx = (per_row + DQ_THREADS - 1) / DQ_THREADS;
    if (bx > 65535)
        bx = 65535;
    const int64_t by = rows < 65535 ? rows : 65535;
    dim3 grid((unsigned)bx, (unsigned)by);
    cudaStream_t s = (cudaStream_t)stream;
    if (vec)
        dequant_vec4<<<grid, DQ_THREADS, 0, s>>>(w, rows, cols, scale, scols, out);
    else
        dequant_any<<<grid, DQ_THREADS, 0, s>>>(w, rows, cols, scale, scols, out);
    KVC_CUDA_TRY(cudaGetLastError(), err);
    return KVC_OK;
}
