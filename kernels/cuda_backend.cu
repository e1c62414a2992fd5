/* kvcert: the CUDA backend's table of operations (core/backend.h).
 *
 * Each operation is a loop driver around the same KVC_HD scalar code the
 * CPU backend calls (the headers of src/v4/ and core/formats.h); the kernels only
 * decide which thread runs which call:
 *   round_bf16  one element per thread          kvc_round_bf16
 *   act_quant   one 128-feature block per thread kvc_act_quant_block
 *   rmsnorm     one row per thread               kvc_rmsnorm_row
 *   rope        one (row, pair) per thread       kvc_rope_row on that pair
 *   pool        one (window, channel) per thread kvc_pool_channel
 *   kvsim       one 64-dim block per thread      kvc_kvsim_block_bf16
 *   matmul      kernels/cuda_matmul.cu (SPEC 5.1's order per output)
 * The CPU splits the same calls over rows; no output depends on the split.
 *
 * The table takes host arrays: an operation copies its inputs into device
 * scratch buffers (kept and grown between calls), runs, copies the
 * outputs back and waits for its stream. The argument checks are those of
 * the CPU backend (src/v4/cpu_backend.c), status and message alike.
 */
#include <cuda_runtime.h>

#include <mutex>
#include <new>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "kernels/cuda_backend.h"
#include "kernels/cuda_codec.h"
#include "kernels/cuda_common.h"
#include "v4/dequant_scalar.h"
#include "v4/kvsim.h"
#include "v4/norm.h"
#include "v4/pool.h"
#include "v4/rope.h"

namespace {

constexpr size_t GUARD = 256;           /* bytes before and after a guarded buffer */
constexpr unsigned char GUARD_BYTE = 0xA5;
constexpr int NSLOTS = 4;

/* A device scratch buffer: [GUARD][cap bytes][GUARD]. */
struct scratch {
    unsigned char *base = nullptr;
    size_t cap = 0;
    size_t used = 0; /* bytes of the current operation (guard check) */
};

struct cuda_ctx {
    int device = 0;
    cudaStream_t stream = nullptr;
    int guard = 0;
    kvc_cuda_tile tile = KVC_CUDA_TILE_AUTO; /* matmul tiling (speed only) */
    char name[32] = {0};
    std::mutex lock;
    scratch slot[NSLOTS];
};

/* The table and its context in one allocation; the table comes first so
 * the kvc_backend pointer is the box's. */
struct cuda_box {
    kvc_backend table;
    cuda_ctx ctx;
};

const char cuda_matrix_tag[] = "cuda";

struct cuda_matrix_impl {
    float *w = nullptr; /* [n, k] on the device */
    int device = 0;
};

cuda_ctx *ctx_of(const kvc_backend *be)
{
    return static_cast<cuda_ctx *>(be->ctx);
}

kvc_status bad_shape(kvc_error *err, const char *op)
{
    return kvc_error_set(err, KVC_INVALID_ARGUMENT, "%s: bad shape or NULL array", op);
}

/* ------------------------------------------------------------ scratch */

kvc_status scratch_get(cuda_ctx *c, int i, size_t bytes, void **out, kvc_error *err)
{
    scratch &s = c->slot[i];
    if (s.cap < bytes || s.base == nullptr) {
        if (s.base != nullptr) {
            cudaFree(s.base);
            s.base = nullptr;
            s.cap = 0;
        }
        size_t cap = bytes < 4096 ? 4096 : bytes;
        KVC_CUDA_TRY(cudaMalloc((void **)&s.base, cap + 2 * GUARD), err);
        s.cap = cap;
    }
    s.used = bytes;
    if (c->guard) {
        KVC_CUDA_TRY(cudaMemsetAsync(s.base, GUARD_BYTE, GUARD, c->stream), err);
        KVC_CUDA_TRY(cudaMemsetAsync(s.base + GUARD + bytes, GUARD_BYTE, GUARD, c->stream), err);
    }
    *out = s.base + GUARD;
    return KVC_OK;
}

/* After the stream is idle: every guard zone of the slots in use intact. */
kvc_status guards_check(cuda_ctx *c, int nslots, const char *op, kvc_error *err)
{
    if (!c->guard)
        return KVC_OK;
    unsigned char buf[2 * GUARD];
    for (int i = 0; i < nslots; i++) {
        scratch &s = c->slot[i];
        KVC_CUDA_TRY(cudaMemcpy(buf, s.base, GUARD, cudaMemcpyDeviceToHost), err);
        KVC_CUDA_TRY(cudaMemcpy(buf + GUARD, s.base + GUARD + s.used, GUARD,
                                cudaMemcpyDeviceToHost),
                     err);
        for (size_t j = 0; j < 2 * GUARD; j++)
            if (buf[j] != GUARD_BYTE)
                return kvc_error_set(err, KVC_INTERNAL,
                                     "%s: device buffer %d written %s its %zu bytes (guard "
                                     "byte %zu is 0x%02x)",
                                     op, i, j < GUARD ? "before" : "past", s.used,
                                     j < GUARD ? GUARD - j : j - GUARD, buf[j]);
    }
    return KVC_OK;
}

kvc_status h2d(cuda_ctx *c, void *dst, const void *src, size_t bytes, kvc_error *err)
{
    if (bytes > 0)
        KVC_CUDA_TRY(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, c->stream), err);
    return KVC_OK;
}

/* Copies back and waits: when this returns KVC_OK the host array holds
 * the result. */
kvc_status d2h_wait(cuda_ctx *c, void *dst, const void *src, size_t bytes, kvc_error *err)
{
    if (bytes > 0)
        KVC_CUDA_TRY(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, c->stream), err);
    KVC_CUDA_TRY(cudaStreamSynchronize(c->stream), err);
    return KVC_OK;
}

#define TRY(expr)                                                              \
    do {                                                                       \
        kvc_status kvc__st = (expr);                                           \
        if (kvc__st != KVC_OK)                                                 \
            return kvc__st;                                                    \
    } while (0)

/* Runs fn with the backend's lock held and its device current. */
template <typename F> kvc_status locked(const kvc_backend *be, kvc_error *err, F fn)
{
    cuda_ctx *c = ctx_of(be);
    std::lock_guard<std::mutex> hold(c->lock);
    KVC_CUDA_TRY(cudaSetDevice(c->device), err);
    return fn(c);
}

constexpr unsigned THREADS = 256;

/* Blocks for a grid-stride loop over n items. */
unsigned blocks_for(int64_t n, unsigned threads = THREADS)
{
    return kvc__grid_for((size_t)n, threads);
}

/* ------------------------------------------------------------ kernels */

__global__ void k_round_bf16(float *x, int64_t n)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        x[i] = kvc_round_bf16(x[i]);
}

/* x is [rows, cols] with cols % 128 == 0: block b starts at b * 128. */
__global__ void k_act_quant(float *x, int64_t nblocks)
{
    for (int64_t b = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; b < nblocks;
         b += (int64_t)gridDim.x * blockDim.x)
        kvc_act_quant_block(x + b * KVC_ACT_QUANT_BLOCK, KVC_ACT_QUANT_BLOCK);
}

__global__ void k_rmsnorm(const float *x, int64_t rows, int64_t d, const float *g, float eps,
                          uint16_t *y)
{
    for (int64_t r = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; r < rows;
         r += (int64_t)gridDim.x * blockDim.x)
        kvc_rmsnorm_row(x + r * d, d, g, eps, y + r * d);
}

/* Pair i of row r: kvc_rope_row over that one pair (its own frequency,
 * the row's position) is exactly the CPU's step i of kvc_rope_row. */
__global__ void k_rope(uint16_t *x, int64_t rows, int64_t stride, int64_t offset,
                       const float *freqs, int nfreq, int64_t pos_step)
{
    const int64_t n = rows * nfreq;
    for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < n;
         idx += (int64_t)gridDim.x * blockDim.x) {
        const int64_t r = idx / nfreq;
        const int i = (int)(idx % nfreq);
        kvc_rope_row(x + r * stride + offset + 2 * i, freqs + i, 1, r * pos_step);
    }
}

__global__ void k_pool(const float *kv, const float *score, const float *ape, int64_t windows,
                       int64_t ratio, int overlap, int64_t d, float *out)
{
    const int64_t n = windows * d;
    for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < n;
         idx += (int64_t)gridDim.x * blockDim.x)
        out[idx] = kvc_pool_channel(kv, score, ape, idx / d, idx % d, ratio, overlap, d);
}

__global__ void k_kvsim(uint16_t *x, int64_t rows, int64_t stride, int64_t nblk,
                        kvc_kvsim_kind kind)
{
    const int64_t n = rows * nblk;
    for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < n;
         idx += (int64_t)gridDim.x * blockDim.x) {
        const int64_t r = idx / nblk, b = idx % nblk;
        kvc_kvsim_block_bf16(x + r * stride + b * KVC_KVSIM_BLOCK, KVC_KVSIM_BLOCK, kind);
    }
}

/* Launch error now; run errors surface at the stream wait that follows. */
#define LAUNCHED(err) KVC_CUDA_TRY(cudaGetLastError(), err)

/* n * size in bytes, or 0 with *ok = false when it overflows size_t. */
size_t bytes_of(int64_t n, size_t size, bool *ok)
{
    if (n < 0 || (uint64_t)n > SIZE_MAX / size) {
        *ok = false;
        return 0;
    }
    return (size_t)n * size;
}

/* ------------------------------------------------------------ matmul */

kvc_status cu_matrix_create(const kvc_backend *be, const float *w, int64_t n, int64_t k,
                            kvc_matrix **out, kvc_error *err)
{
    *out = nullptr;
    if (w == nullptr || n < 1 || k < 1 || n > (INT64_C(1) << 31) || k > (INT64_C(1) << 31))
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "matrix shape [%lld, %lld]",
                             (long long)n, (long long)k);
    kvc_matrix *m = static_cast<kvc_matrix *>(calloc(1, sizeof *m));
    cuda_matrix_impl *impl = new (std::nothrow) cuda_matrix_impl;
    if (m == nullptr || impl == nullptr) {
        free(m);
        delete impl;
        return kvc_error_set(err, KVC_NOMEM, "matrix [%lld, %lld]", (long long)n, (long long)k);
    }
    kvc_status st = locked(be, err, [&](cuda_ctx *c) -> kvc_status {
        impl->device = c->device;
        size_t bytes = (size_t)n * (size_t)k * sizeof(float);
        KVC_CUDA_TRY(cudaMalloc((void **)&impl->w, bytes), err);
        KVC_CUDA_TRY(cudaMemcpy(impl->w, w, bytes, cudaMemcpyHostToDevice), err);
        return KVC_OK;
    });
    if (st != KVC_OK) {
        if (impl->w != nullptr)
            cudaFree(impl->w);
        delete impl;
        free(m);
        return st;
    }
    m->n = n;
    m->k = k;
    m->tag = cuda_matrix_tag;
    m->impl = impl;
    *out = m;
    return KVC_OK;
}

void cu_matrix_destroy(const kvc_backend *be, kvc_matrix *m)
{
    if (m == nullptr)
        return;
    cuda_matrix_impl *impl = static_cast<cuda_matrix_impl *>(m->impl);
    if (impl != nullptr) {
        cuda_ctx *c = ctx_of(be);
        std::lock_guard<std::mutex> hold(c->lock);
        if (cudaSetDevice(impl->device) == cudaSuccess && impl->w != nullptr)
            cudaFree(impl->w);
        delete impl;
    }
    free(m);
}

kvc_status cu_matmul(const kvc_backend *be, const float *x, int64_t rows, const kvc_matrix *w,
                     float *y, kvc_error *err)
{
    if (w == nullptr || w->tag != cuda_matrix_tag || w->impl == nullptr ||
        static_cast<const cuda_matrix_impl *>(w->impl)->device != ctx_of(be)->device)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT,
                             "matrix not prepared by this CUDA backend (%s)", be->name);
    if (rows < 0 || (rows > 0 && (x == nullptr || y == nullptr)))
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "matmul with %lld rows",
                             (long long)rows);
    if (rows == 0)
        return KVC_OK;
    const cuda_matrix_impl *impl = static_cast<const cuda_matrix_impl *>(w->impl);
    bool ok = true;
    size_t xb = bytes_of(rows * w->k, sizeof(float), &ok), yb = bytes_of(rows * w->n, sizeof(float), &ok);
    if (!ok)
        return bad_shape(err, "matmul");
    return locked(be, err, [&](cuda_ctx *c) -> kvc_status {
        void *dx, *dy;
        TRY(scratch_get(c, 0, xb, &dx, err));
        TRY(scratch_get(c, 1, yb, &dy, err));
        TRY(h2d(c, dx, x, xb, err));
        TRY(kvc_cuda_matmul_device(static_cast<const float *>(dx), rows, impl->w, w->n, w->k,
                                   static_cast<float *>(dy), c->tile, c->stream, err));
        TRY(d2h_wait(c, y, dy, yb, err));
        return guards_check(c, 2, "matmul", err);
    });
}

/* ------------------------------------------------------------ element-wise */

kvc_status cu_round_bf16(const kvc_backend *be, float *x, int64_t n, kvc_error *err)
{
    if (n < 0 || (n > 0 && x == nullptr))
        return bad_shape(err, "round_bf16");
    if (n == 0)
        return KVC_OK;
    bool ok = true;
    size_t xb = bytes_of(n, sizeof(float), &ok);
    if (!ok)
        return bad_shape(err, "round_bf16");
    return locked(be, err, [&](cuda_ctx *c) -> kvc_status {
        void *dx;
        TRY(scratch_get(c, 0, xb, &dx, err));
        TRY(h2d(c, dx, x, xb, err));
        k_round_bf16<<<blocks_for(n), THREADS, 0, c->stream>>>(static_cast<float *>(dx), n);
        LAUNCHED(err);
        TRY(d2h_wait(c, x, dx, xb, err));
        return guards_check(c, 1, "round_bf16", err);
    });
}

kvc_status cu_act_quant(const kvc_backend *be, float *x, int64_t rows, int64_t cols,
                        kvc_error *err)
{
    if (rows < 0 || cols < 1 || cols % KVC_ACT_QUANT_BLOCK != 0 || (rows > 0 && x == nullptr))
        return bad_shape(err, "act_quant");
    if (rows == 0)
        return KVC_OK;
    bool ok = cols <= INT64_MAX / rows;
    size_t xb = ok ? bytes_of(rows * cols, sizeof(float), &ok) : 0;
    if (!ok)
        return bad_shape(err, "act_quant");
    return locked(be, err, [&](cuda_ctx *c) -> kvc_status {
        void *dx;
        TRY(scratch_get(c, 0, xb, &dx, err));
        TRY(h2d(c, dx, x, xb, err));
        int64_t nblocks = rows * (cols / KVC_ACT_QUANT_BLOCK);
        k_act_quant<<<blocks_for(nblocks, 128), 128, 0, c->stream>>>(static_cast<float *>(dx),
                                                                     nblocks);
        LAUNCHED(err);
        TRY(d2h_wait(c, x, dx, xb, err));
        return guards_check(c, 1, "act_quant", err);
    });
}

/* ------------------------------------------------------------ RMSNorm */

kvc_status cu_rmsnorm(const kvc_backend *be, const float *x, int64_t rows, int64_t d,
                      const float *g, float eps, uint16_t *y, kvc_error *err)
{
    if (rows < 0 || d < 1 || (rows > 0 && (x == nullptr || g == nullptr || y == nullptr)))
        return bad_shape(err, "rmsnorm");
    if (rows == 0)
        return KVC_OK;
    bool ok = d <= INT64_MAX / rows;
    size_t xb = ok ? bytes_of(rows * d, sizeof(float), &ok) : 0;
    size_t yb = ok ? bytes_of(rows * d, sizeof(uint16_t), &ok) : 0;
    size_t gb = bytes_of(d, sizeof(float), &ok);
    if (!ok)
        return bad_shape(err, "rmsnorm");
    return locked(be, err, [&](cuda_ctx *c) -> kvc_status {
        void *dx, *dg, *dy;
        TRY(scratch_get(c, 0, xb, &dx, err));
        TRY(scratch_get(c, 1, gb, &dg, err));
        TRY(scratch_get(c, 2, yb, &dy, err));
        TRY(h2d(c, dx, x, xb, err));
        TRY(h2d(c, dg, g, gb, err));
        k_rmsnorm<<<blocks_for(rows, 128), 128, 0, c->stream>>>(
            static_cast<const float *>(dx), rows, d, static_cast<const float *>(dg), eps,
            static_cast<uint16_t *>(dy));
        LAUNCHED(err);
        TRY(d2h_wait(c, y, dy, yb, err));
        return guards_check(c, 3, "rmsnorm", err);
    });
}

/* ------------------------------------------------------------ RoPE */

kvc_status cu_rope(const kvc_backend *be, uint16_t *x, int64_t rows, int64_t stride,
                   int64_t offset, const float *freqs, int nfreq, int64_t pos_step,
                   kvc_error *err)
{
    if (rows < 0 || nfreq < 1 || offset < 0 || offset + 2 * (int64_t)nfreq > stride ||
        pos_step < 0 || (rows > 0 && (x == nullptr || freqs == nullptr)) ||
        (rows > 0 && (rows - 1) * pos_step >= (INT64_C(1) << 24)))
        return bad_shape(err, "rope");
    if (rows == 0)
        return KVC_OK;
    bool ok = stride <= INT64_MAX / rows;
    size_t xb = ok ? bytes_of(rows * stride, sizeof(uint16_t), &ok) : 0;
    size_t fb = bytes_of(nfreq, sizeof(float), &ok);
    if (!ok)
        return bad_shape(err, "rope");
    return locked(be, err, [&](cuda_ctx *c) -> kvc_status {
        void *dx, *df;
        TRY(scratch_get(c, 0, xb, &dx, err));
        TRY(scratch_get(c, 1, fb, &df, err));
        TRY(h2d(c, dx, x, xb, err));
        TRY(h2d(c, df, freqs, fb, err));
        k_rope<<<blocks_for(rows * nfreq, 128), 128, 0, c->stream>>>(
            static_cast<uint16_t *>(dx), rows, stride, offset, static_cast<const float *>(df),
            nfreq, pos_step);
        LAUNCHED(err);
        TRY(d2h_wait(c, x, dx, xb, err));
        return guards_check(c, 2, "rope", err);
    });
}

/* ------------------------------------------------------------ pooling */

kvc_status cu_pool(const kvc_backend *be, const float *kv, const float *score, const float *ape,
                   int64_t tokens, int64_t ratio, int overlap, int64_t d, float *out,
                   kvc_error *err)
{
    if (tokens < 0 || ratio < 1 || d < 1 || tokens % ratio != 0 ||
        (overlap ? 2 * ratio : ratio) > KVC_POOL_MAX_SLOTS ||
        (tokens > 0 && (kv == nullptr || score == nullptr || ape == nullptr || out == nullptr)))
        return bad_shape(err, "pool");
    if (tokens == 0)
        return KVC_OK;
    overlap = overlap != 0;
    const int64_t width = overlap ? 2 * d : d, windows = tokens / ratio;
    bool ok = width <= INT64_MAX / tokens;
    size_t inb = ok ? bytes_of(tokens * width, sizeof(float), &ok) : 0;
    size_t apeb = bytes_of(ratio * width, sizeof(float), &ok);
    size_t outb = bytes_of(windows * d, sizeof(float), &ok);
    if (!ok)
        return bad_shape(err, "pool");
    return locked(be, err, [&](cuda_ctx *c) -> kvc_status {
        void *dkv, *dsc, *dape, *dout;
        TRY(scratch_get(c, 0, inb, &dkv, err));
        TRY(scratch_get(c, 1, inb, &dsc, err));
        TRY(scratch_get(c, 2, apeb, &dape, err));
        TRY(scratch_get(c, 3, outb, &dout, err));
        TRY(h2d(c, dkv, kv, inb, err));
        TRY(h2d(c, dsc, score, inb, err));
        TRY(h2d(c, dape, ape, apeb, err));
        k_pool<<<blocks_for(windows * d, 128), 128, 0, c->stream>>>(
            static_cast<const float *>(dkv), static_cast<const float *>(dsc),
            static_cast<const float *>(dape), windows, ratio, overlap, d,
            static_cast<float *>(dout));
        LAUNCHED(err);
        TRY(d2h_wait(c, out, dout, outb, err));
        return guards_check(c, 4, "pool", err);
    });
}

/* ------------------------------------------------------------ KV simulation */

kvc_status cu_kvsim(const kvc_backend *be, uint16_t *x, int64_t rows, int64_t stride,
                    int64_t dims, kvc_kvsim_kind kind, kvc_error *err)
{
    if (rows < 0 || dims < 0 || dims % KVC_KVSIM_BLOCK != 0 || dims > stride ||
        (kind != KVC_KVSIM_UNIFORM127 && kind != KVC_KVSIM_E4M3 &&
         kind != KVC_KVSIM_E4M3_POW2) ||
        (rows > 0 && x == nullptr))
        return bad_shape(err, "kvsim");
    if (rows == 0 || dims == 0)
        return KVC_OK;
    bool ok = stride <= INT64_MAX / rows;
    size_t xb = ok ? bytes_of(rows * stride, sizeof(uint16_t), &ok) : 0;
    if (!ok)
        return bad_shape(err, "kvsim");
    return locked(be, err, [&](cuda_ctx *c) -> kvc_status {
        void *dx;
        TRY(scratch_get(c, 0, xb, &dx, err));
        TRY(h2d(c, dx, x, xb, err));
        const int64_t nblk = dims / KVC_KVSIM_BLOCK;
        k_kvsim<<<blocks_for(rows * nblk, 128), 128, 0, c->stream>>>(
            static_cast<uint16_t *>(dx), rows, stride, nblk, kind);
        LAUNCHED(err);
        TRY(d2h_wait(c, x, dx, xb, err));
        return guards_check(c, 1, "kvsim", err);
    });
}

/* ------------------------------------------------------------ the table */

void fill_table(kvc_backend *be, cuda_ctx *c)
{
    memset(be, 0, sizeof *be);
    be->name = c->name;
    be->ctx = c;
    be->matrix_create = cu_matrix_create;
    be->matrix_destroy = cu_matrix_destroy;
    be->matmul = cu_matmul;
    be->round_bf16 = cu_round_bf16;
    be->act_quant = cu_act_quant;
    be->rmsnorm = cu_rmsnorm;
    be->rope = cu_rope;
    be->pool = cu_pool;
    be->kvsim = cu_kvsim;
}

void release(cuda_box *box)
{
    cuda_ctx &c = box->ctx;
    if (cudaSetDevice(c.device) == cudaSuccess) {
        for (int i = 0; i < NSLOTS; i++)
            if (c.slot[i].base != nullptr)
                cudaFree(c.slot[i].base);
        if (c.stream != nullptr)
            cudaStreamDestroy(c.stream);
    }
    delete box;
}

kvc_status open_device(cuda_box *box, int device, kvc_error *err)
{
    int count = 0;
    cudaError_t rc = cudaGetDeviceCount(&count);
    if (rc == cudaErrorNoDevice || rc == cudaErrorInsufficientDriver ||
        (rc == cudaSuccess && count == 0))
        return kvc_error_set(err, KVC_CUDA_NO_DEVICE, "cudaGetDeviceCount: %s",
                             rc == cudaSuccess ? "the driver reports none"
                                               : cudaGetErrorString(rc));
    KVC_CUDA_TRY(rc, err);
    if (device < 0 || device >= count)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT,
                             "CUDA device %d does not exist (this machine has %d)", device,
                             count);
    box->ctx.device = device;
    KVC_CUDA_TRY(cudaSetDevice(device), err);
    KVC_CUDA_TRY(cudaStreamCreateWithFlags(&box->ctx.stream, cudaStreamNonBlocking), err);
    snprintf(box->ctx.name, sizeof box->ctx.name, "cuda:%d", device);
    return KVC_OK;
}

bool is_cuda_table(const kvc_backend *be)
{
    return be != nullptr && be->matmul == cu_matmul;
}

} // namespace

extern "C" kvc_status kvc_backend_cuda_create(int device, kvc_backend **out, kvc_error *err)
{
    *out = nullptr;
    cuda_box *box = new (std::nothrow) cuda_box;
    if (box == nullptr)
        return kvc_error_set(err, KVC_NOMEM, "CUDA backend");
    kvc_status st = open_device(box, device, err);
    if (st != KVC_OK) {
        release(box);
        return st;
    }
    fill_table(&box->table, &box->ctx);
    kvc__cuda_codec_fill(&box->table);
    *out = &box->table;
    return KVC_OK;
}

int kvc__cuda_backend_device(const kvc_backend *be)
{
    return ctx_of(be)->device;
}

extern "C" void kvc_backend_cuda_destroy(kvc_backend *be)
{
    if (!is_cuda_table(be))
        return;
    release(reinterpret_cast<cuda_box *>(be));
}

extern "C" int kvc_backend_is_cuda(const kvc_backend *be)
{
    return is_cuda_table(be) ? 1 : 0;
}

extern "C" kvc_status kvc_backend_cuda_set_guard(kvc_backend *be, int on, kvc_error *err)
{
    if (!is_cuda_table(be))
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "not a CUDA backend");
    cuda_ctx *c = ctx_of(be);
    std::lock_guard<std::mutex> hold(c->lock);
    c->guard = on != 0;
    return KVC_OK;
}

extern "C" kvc_status kvc_backend_cuda_set_tile(kvc_backend *be, kvc_cuda_tile tile,
                                                kvc_error *err)
{
    if (!is_cuda_table(be))
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "not a CUDA backend");
    if ((int)tile < 0 || (int)tile >= KVC_CUDA_TILE_COUNT)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "matmul tiling %d", (int)tile);
    cuda_ctx *c = ctx_of(be);
    std::lock_guard<std::mutex> hold(c->lock);
    c->tile = tile;
    return KVC_OK;
}

/* ------------------------------------------------------------ dequantization */

extern "C" kvc_status kvc_cuda_dequant_fp8_block(int device, const uint8_t *w, int64_t rows,
                                                 int64_t cols, const uint8_t *scale,
                                                 int64_t srows, int64_t scols, float *out,
                                                 kvc_error *err)
{
    /* the checks of kvc_dequant_fp8_block (v4/dequant.c), in its order */
    if (rows < 0 || cols < 0 || srows < 0 || scols < 0)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT,
                             "negative size [%lld, %lld] / [%lld, %lld]", (long long)rows,
                             (long long)cols, (long long)srows, (long long)scols);
    if (cols != 0 && rows > INT64_MAX / cols)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "size [%lld, %lld] overflows",
                             (long long)rows, (long long)cols);
    int64_t want_r = kvc_dequant_tiles(rows), want_c = kvc_dequant_tiles(cols);
    if (srows != want_r || scols != want_c)
        return kvc_error_set(err, KVC_TENSOR_SHAPE,
                             "scale shape [%lld, %lld] for weight [%lld, %lld]; expected "
                             "[%lld, %lld] (one per 128x128 tile)",
                             (long long)srows, (long long)scols, (long long)rows,
                             (long long)cols, (long long)want_r, (long long)want_c);
    int64_t n = rows * cols;
    if (n == 0)
        return KVC_OK;
    if (w == nullptr || scale == nullptr || out == nullptr)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "NULL buffer");
    int count = 0;
    cudaError_t rc = cudaGetDeviceCount(&count);
    if (rc == cudaErrorNoDevice || rc == cudaErrorInsufficientDriver ||
        (rc == cudaSuccess && count == 0))
        return kvc_error_set(err, KVC_CUDA_NO_DEVICE, "cudaGetDeviceCount: %s",
                             rc == cudaSuccess ? "the driver reports none"
                                               : cudaGetErrorString(rc));
    KVC_CUDA_TRY(rc, err);
    if (device < 0 || device >= count)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "CUDA device %d does not exist",
                             device);
    KVC_CUDA_TRY(cudaSetDevice(device), err);
    kvc_dev_buf<uint8_t> dw, ds;
    kvc_dev_buf<float> dout;
    TRY(dw.upload(w, (size_t)n, err));
    TRY(ds.upload(scale, (size_t)(srows * scols), err));
    TRY(dout.alloc((size_t)n, err));
    TRY(kvc_cuda_dequant_device(dw.ptr, rows, cols, ds.ptr, scols, dout.ptr, nullptr, err));
    KVC_CUDA_TRY(cudaDeviceSynchronize(), err);
    return dout.download(out, (size_t)n, err);
}
