/* kvcert: the CUDA backend's table of operations (core/backend.h).
 *
 * Each operation is a loop driver around the same KVC_HD scalar code the
 * CPU backend calls (the headers of src/v4/ and core/formats.h); the kernels only
 * decide which thread runs which call:
 *   round_bf16  one element per thread          kvc_round_bf16
 *   act_quant   one 128-feature block per thread kvc_act_quant_block
 *   rmsnorm     one WARP per row (see k_rmsnorm)  kvc_sumsq_lane, kvc_rmsnorm_elem
 *   rope        one (row, pair) per thread       kvc_rope_row on that pair
 *   pool        one (window, channel) per thread kvc_pool_channel
 *   kvsim       one 64-dim block per thread      kvc_kvsim_block_bf16
 *   matmul      kernels/cuda_matmul.cu (SPEC 5.1's order per output)
 * The CPU splits the same calls over rows; no output depends on the split.
 *
 * Arrays: host memory or backend memory (mem_alloc), staged by
 * kernels/cuda_op.h: host inputs are copied into scratch slots and host
 * outputs copied back (the operation then waits); backend memory is used
 * in place and the operation is only queued. The argument checks are
 * those of the CPU backend (src/v4/cpu_backend.c), status and message
 * alike.
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
#include "kernels/cuda_op.h"
#include "v4/dequant_scalar.h"
#include "v4/kvsim.h"
#include "v4/norm.h"
#include "v4/pool.h"
#include "v4/rope.h"

/* ------------------------------------------------------------ context, staging */

namespace {

/* The table and its context in one allocation; the table comes first so
 * the kvc_backend pointer is the box's. */
struct cuda_box {
    kvc_backend table;
    kvc__cu_ctx ctx;
};

const char cuda_matrix_tag[] = "cuda";

struct cuda_matrix_impl {
    float *w = nullptr; /* [n, k] on the device */
    int device = 0;
};

kvc__cu_ctx *ctx_of(const kvc_backend *be)
{
    return static_cast<kvc__cu_ctx *>(be->ctx);
}

kvc_status bad_shape(kvc_error *err, const char *op)
{
    return kvc_error_set(err, KVC_INVALID_ARGUMENT, "%s: bad shape or NULL array", op);
}

kvc_status fill_guards(kvc__cu_ctx *c, unsigned char *base, size_t bytes, kvc_error *err)
{
    KVC_CUDA_TRY(cudaMemsetAsync(base, KVC_CU_GUARD_BYTE, KVC_CU_GUARD, c->stream), err);
    KVC_CUDA_TRY(cudaMemsetAsync(base + KVC_CU_GUARD + bytes, KVC_CU_GUARD_BYTE, KVC_CU_GUARD,
                                 c->stream),
                 err);
    return KVC_OK;
}

/* After the stream is idle: both guard zones of [base+GUARD, +bytes) intact. */
kvc_status check_guards(const unsigned char *base, size_t bytes, const char *op,
                        const char *what, int index, kvc_error *err)
{
    unsigned char buf[2 * KVC_CU_GUARD];
    KVC_CUDA_TRY(cudaMemcpy(buf, base, KVC_CU_GUARD, cudaMemcpyDeviceToHost), err);
    KVC_CUDA_TRY(cudaMemcpy(buf + KVC_CU_GUARD, base + KVC_CU_GUARD + bytes, KVC_CU_GUARD,
                            cudaMemcpyDeviceToHost),
                 err);
    for (size_t j = 0; j < 2 * KVC_CU_GUARD; j++)
        if (buf[j] != KVC_CU_GUARD_BYTE)
            return kvc_error_set(err, KVC_INTERNAL,
                                 "%s: %s %d written %s its %zu bytes (guard byte %zu is 0x%02x)",
                                 op, what, index, j < KVC_CU_GUARD ? "before" : "past", bytes,
                                 j < KVC_CU_GUARD ? KVC_CU_GUARD - j : j - KVC_CU_GUARD, buf[j]);
    return KVC_OK;
}

/* The backend-memory block holding [p, p + bytes): 1 (user pointer in
 * *user), 0 when p is in no block, -1 when p is in a block but the range
 * runs past its end. */
int find_block(const kvc__cu_ctx *c, const void *p, size_t bytes, uintptr_t *user)
{
    uintptr_t a = (uintptr_t)p;
    auto it = c->blocks.upper_bound(a);
    if (it == c->blocks.begin())
        return 0;
    --it;
    if (a >= it->first + (it->second > 0 ? it->second : 1))
        return 0;
    *user = it->first;
    return bytes <= it->first + it->second - a ? 1 : -1;
}

#define TRY(expr)                                                              \
    do {                                                                       \
        kvc_status kvc__st = (expr);                                           \
        if (kvc__st != KVC_OK)                                                 \
            return kvc__st;                                                    \
    } while (0)

} // namespace

kvc__cu_ctx *kvc__cu_ctx_of(const kvc_backend *be)
{
    return ctx_of(be);
}

kvc__cu_op::kvc__cu_op(const kvc_backend *be, const char *name, kvc_error *err)
    : c_(ctx_of(be)), hold_(c_->lock), name_(name), err_(err)
{
}

kvc_status kvc__cu_op::begin()
{
    KVC_CUDA_TRY(cudaSetDevice(c_->device), err_);
    return KVC_OK;
}

kvc_status kvc__cu_op::take_slot(size_t bytes, void **dev)
{
    if (nslots_ == KVC_CU_NSLOTS)
        return kvc_error_set(err_, KVC_INTERNAL, "%s: more than %d scratch buffers", name_,
                             KVC_CU_NSLOTS);
    kvc__cu_scratch &s = c_->slot[nslots_];
    if (s.base == nullptr || s.cap < bytes) {
        if (s.base != nullptr) {
            /* queued work of earlier operations may still use it */
            KVC_CUDA_TRY(cudaStreamSynchronize(c_->stream), err_);
            cudaFree(s.base);
            s.base = nullptr;
            s.cap = 0;
        }
        size_t cap = bytes < 4096 ? 4096 : bytes + bytes / 4; /* headroom: fewer regrowths */
        KVC_CUDA_TRY(cudaMalloc((void **)&s.base, cap + 2 * KVC_CU_GUARD), err_);
        s.cap = cap;
    }
    if (c_->guard)
        TRY(fill_guards(c_, s.base, bytes, err_));
    slot_used_[nslots_++] = bytes;
    *dev = s.base + KVC_CU_GUARD;
    return KVC_OK;
}

kvc_status kvc__cu_op::stage(void *p, size_t bytes, bool read, bool write, void **dev)
{
    if (nouts_ == KVC_CU_MAX_ARGS || nwritten_ == KVC_CU_MAX_ARGS)
        return kvc_error_set(err_, KVC_INTERNAL, "%s: too many arrays", name_);
    uintptr_t user = 0;
    int b = find_block(c_, p, bytes, &user);
    if (b < 0)
        return kvc_error_set(err_, KVC_INVALID_ARGUMENT,
                             "%s: an array of %zu bytes runs past the end of its backend-memory "
                             "block (%zu bytes from %p)",
                             name_, bytes, c_->blocks.at(user), (void *)user);
    if (b > 0) { /* backend memory: in place */
        if (write)
            written_[nwritten_++] = {user, c_->blocks.at(user)};
        *dev = p;
        return KVC_OK;
    }
    TRY(take_slot(bytes, dev));
    if (read && bytes > 0)
        KVC_CUDA_TRY(cudaMemcpyAsync(*dev, p, bytes, cudaMemcpyHostToDevice, c_->stream), err_);
    if (write)
        outs_[nouts_++] = {p, *dev, bytes};
    return KVC_OK;
}

kvc_status kvc__cu_op::wait()
{
    KVC_CUDA_TRY(cudaStreamSynchronize(c_->stream), err_);
    return KVC_OK;
}

kvc_status kvc__cu_op::finish()
{
    KVC_CUDA_TRY(cudaGetLastError(), err_);
    for (int i = 0; i < nouts_; i++)
        if (outs_[i].bytes > 0)
            KVC_CUDA_TRY(cudaMemcpyAsync(outs_[i].host, outs_[i].dev, outs_[i].bytes,
                                         cudaMemcpyDeviceToHost, c_->stream),
                         err_);
    if (nouts_ > 0 || c_->guard)
        TRY(wait());
    if (!c_->guard)
        return KVC_OK;
    for (int i = 0; i < nslots_; i++)
        TRY(check_guards(c_->slot[i].base, slot_used_[i], name_, "device buffer", i, err_));
    for (int i = 0; i < nwritten_; i++)
        TRY(check_guards((const unsigned char *)written_[i].user - KVC_CU_GUARD,
                         written_[i].bytes, name_, "backend-memory block", i, err_));
    return KVC_OK;
}

/* ------------------------------------------------------------ backend memory */

namespace {

kvc_status cu_mem_alloc(const kvc_backend *be, size_t bytes, void **out, kvc_error *err)
{
    *out = nullptr;
    kvc__cu_ctx *c = ctx_of(be);
    if (bytes > SIZE_MAX - 2 * KVC_CU_GUARD)
        return kvc_error_set(err, KVC_NOMEM, "%zu bytes of device memory", bytes);
    std::lock_guard<std::mutex> hold(c->lock);
    KVC_CUDA_TRY(cudaSetDevice(c->device), err);
    unsigned char *base = nullptr;
    cudaError_t rc = cudaMalloc((void **)&base, bytes + 2 * KVC_CU_GUARD);
    if (rc == cudaErrorMemoryAllocation) {
        cudaGetLastError(); /* not sticky: clear it */
        return kvc_error_set(err, KVC_NOMEM, "%zu bytes of device memory on %s", bytes, c->name);
    }
    KVC_CUDA_TRY(rc, err);
    kvc_status st = fill_guards(c, base, bytes, err);
    if (st == KVC_OK) {
        try {
            c->blocks[(uintptr_t)(base + KVC_CU_GUARD)] = bytes;
        } catch (...) {
            st = kvc_error_set(err, KVC_NOMEM, "backend-memory bookkeeping");
        }
    }
    if (st != KVC_OK) {
        cudaFree(base);
        return st;
    }
    *out = base + KVC_CU_GUARD;
    return KVC_OK;
}

void cu_mem_free(const kvc_backend *be, void *p)
{
    if (p == nullptr)
        return;
    kvc__cu_ctx *c = ctx_of(be);
    std::lock_guard<std::mutex> hold(c->lock);
    auto it = c->blocks.find((uintptr_t)p);
    if (it == c->blocks.end())
        return; /* not ours: nothing to free */
    c->blocks.erase(it);
    if (cudaSetDevice(c->device) == cudaSuccess) {
        cudaStreamSynchronize(c->stream);
        cudaFree((unsigned char *)p - KVC_CU_GUARD);
    }
}

/* dst or src must be backend memory; the other is host memory. */
kvc_status host_copy(const kvc_backend *be, void *dst, const void *src, size_t bytes, bool up,
                    kvc_error *err)
{
    if (bytes == 0)
        return KVC_OK;
    if (dst == nullptr || src == nullptr)
        return bad_shape(err, up ? "mem_upload" : "mem_download");
    kvc__cu_ctx *c = ctx_of(be);
    std::lock_guard<std::mutex> hold(c->lock);
    uintptr_t user = 0;
    if (find_block(c, up ? dst : src, bytes, &user) != 1)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT,
                             "%s: %zu bytes are not inside one backend-memory block",
                             up ? "mem_upload" : "mem_download", bytes);
    KVC_CUDA_TRY(cudaSetDevice(c->device), err);
    KVC_CUDA_TRY(cudaMemcpyAsync(dst, src, bytes,
                                 up ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost, c->stream),
                 err);
    KVC_CUDA_TRY(cudaStreamSynchronize(c->stream), err);
    return KVC_OK;
}

kvc_status cu_mem_upload(const kvc_backend *be, void *dst, const void *src, size_t bytes,
                         kvc_error *err)
{
    return host_copy(be, dst, src, bytes, true, err);
}

kvc_status cu_mem_download(const kvc_backend *be, void *dst, const void *src, size_t bytes,
                           kvc_error *err)
{
    return host_copy(be, dst, src, bytes, false, err);
}

kvc_status cu_mem_copy(const kvc_backend *be, void *dst, const void *src, size_t bytes,
                       kvc_error *err)
{
    if (bytes == 0)
        return KVC_OK;
    kvc__cu_ctx *c = ctx_of(be);
    std::lock_guard<std::mutex> hold(c->lock);
    uintptr_t u1 = 0, u2 = 0;
    uintptr_t d = (uintptr_t)dst, s = (uintptr_t)src;
    if (dst == nullptr || src == nullptr || find_block(c, dst, bytes, &u1) != 1 ||
        find_block(c, src, bytes, &u2) != 1)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT,
                             "mem_copy: %zu bytes are not inside backend-memory blocks", bytes);
    if (d < s + bytes && s < d + bytes)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "mem_copy: the ranges overlap");
    KVC_CUDA_TRY(cudaSetDevice(c->device), err);
    KVC_CUDA_TRY(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, c->stream), err);
    return KVC_OK;
}

kvc_status cu_mem_sync(const kvc_backend *be, kvc_error *err)
{
    kvc__cu_ctx *c = ctx_of(be);
    std::lock_guard<std::mutex> hold(c->lock);
    KVC_CUDA_TRY(cudaSetDevice(c->device), err);
    KVC_CUDA_TRY(cudaStreamSynchronize(c->stream), err);
    return KVC_OK;
}

} // namespace

void kvc__cuda_mem_fill(kvc_backend *be)
{
    be->mem_alloc = cu_mem_alloc;
    be->mem_free = cu_mem_free;
    be->mem_upload = cu_mem_upload;
    be->mem_download = cu_mem_download;
    be->mem_sync = cu_mem_sync;
    be->mem_copy = cu_mem_copy;
}

void kvc__cuda_mem_release(kvc__cu_ctx *c)
{
    if (cudaSetDevice(c->device) != cudaSuccess)
        return;
    if (c->stream != nullptr)
        cudaStreamSynchronize(c->stream);
    for (int i = 0; i < KVC_CU_NSLOTS; i++)
        if (c->slot[i].base != nullptr) {
            cudaFree(c->slot[i].base);
            c->slot[i].base = nullptr;
        }
    for (auto &b : c->blocks)
        cudaFree((unsigned char *)b.first - KVC_CU_GUARD);
    c->blocks.clear();
}

namespace {

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

/* One WARP per row: lane l computes kvc_sumsq_lane(row, d, l), the
 * shuffle tree s = s + shfl_down(s, w), w = 16 .. 1, is kvc_sumsq_lanes'
 * pairwise tree (lane l < w adds lane l + w), lane 0's sum is broadcast,
 * and every lane writes its elements with kvc_rmsnorm_elem: exactly
 * kvc_rmsnorm_row's operations, coalesced. */
__global__ void k_rmsnorm(const float *x, int64_t rows, int64_t d, const float *g, float eps,
                          uint16_t *y)
{
    const int lane = threadIdx.x & 31;
    const int64_t warps = (int64_t)gridDim.x * (blockDim.x >> 5);
    for (int64_t r = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5; r < rows;
         r += warps) {
        const float *xr = x + r * d;
        float s = kvc_sumsq_lane(xr, d, lane);
        for (int w = KVC_NORM_LANES / 2; w >= 1; w /= 2)
            s = s + __shfl_down_sync(0xFFFFFFFFu, s, w);
        s = __shfl_sync(0xFFFFFFFFu, s, 0);
        const float inv = kvc_rms_inv_of_sum(s, d, eps);
        for (int64_t i = lane; i < d; i += 32)
            y[r * d + i] = kvc_rmsnorm_elem(xr[i], g[i], inv);
    }
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
    kvc_status st = [&]() -> kvc_status {
        kvc__cu_ctx *c = ctx_of(be);
        std::lock_guard<std::mutex> hold(c->lock);
        KVC_CUDA_TRY(cudaSetDevice(c->device), err);
        impl->device = c->device;
        size_t bytes = (size_t)n * (size_t)k * sizeof(float);
        KVC_CUDA_TRY(cudaMalloc((void **)&impl->w, bytes), err);
        KVC_CUDA_TRY(cudaMemcpy(impl->w, w, bytes, cudaMemcpyHostToDevice), err);
        return KVC_OK;
    }();
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
        kvc__cu_ctx *c = ctx_of(be);
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
    kvc__cu_op op(be, "matmul", err);
    const float *dx;
    float *dy;
    TRY(op.begin());
    TRY(op.in(x, xb, &dx));
    TRY(op.out(y, yb, &dy));
    TRY(kvc_cuda_matmul_device(dx, rows, impl->w, w->n, w->k, dy, op.ctx()->tile, op.stream(),
                               err));
    return op.finish();
}

kvc_status cu_matmul_group(const kvc_backend *be, const float *x, int64_t rows, int count,
                           const kvc_matrix *const *w, float *const *y, kvc_error *err)
{
    if (count < 1 || count > KVC_CUDA_MATMUL_GROUP_MAX || w == nullptr || y == nullptr)
        return bad_shape(err, "matmul_group");
    for (int p = 0; p < count; p++)
        if (w[p] == nullptr || w[p]->tag != cuda_matrix_tag || w[p]->impl == nullptr ||
            static_cast<const cuda_matrix_impl *>(w[p]->impl)->device != ctx_of(be)->device ||
            w[p]->k != w[0]->k)
            return kvc_error_set(err, KVC_INVALID_ARGUMENT,
                                 "matmul_group: matrix %d not prepared by this CUDA backend (%s) "
                                 "or of another k",
                                 p, be->name);
    if (rows < 0 || (rows > 0 && x == nullptr))
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "matmul with %lld rows",
                             (long long)rows);
    for (int p = 0; p < count; p++)
        if (rows > 0 && y[p] == nullptr)
            return bad_shape(err, "matmul_group");
    if (rows == 0)
        return KVC_OK;
    const int64_t k = w[0]->k;
    bool ok = true;
    size_t xb = bytes_of(rows * k, sizeof(float), &ok);
    if (!ok)
        return bad_shape(err, "matmul_group");
    kvc__cu_op op(be, "matmul_group", err);
    const float *dx;
    const float *dw[KVC_CUDA_MATMUL_GROUP_MAX];
    float *dy[KVC_CUDA_MATMUL_GROUP_MAX];
    int64_t n[KVC_CUDA_MATMUL_GROUP_MAX];
    TRY(op.begin());
    TRY(op.in(x, xb, &dx));
    for (int p = 0; p < count; p++) {
        size_t yb = bytes_of(rows * w[p]->n, sizeof(float), &ok);
        if (!ok)
            return bad_shape(err, "matmul_group");
        TRY(op.out(y[p], yb, &dy[p]));
        dw[p] = static_cast<const cuda_matrix_impl *>(w[p]->impl)->w;
        n[p] = w[p]->n;
    }
    TRY(kvc_cuda_matmul_group_device(dx, rows, count, dw, n, k, dy, op.ctx()->tile, op.stream(),
                                     err));
    return op.finish();
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
    kvc__cu_op op(be, "round_bf16", err);
    float *dx;
    TRY(op.begin());
    TRY(op.inout(x, xb, &dx));
    k_round_bf16<<<blocks_for(n), THREADS, 0, op.stream()>>>(dx, n);
    return op.finish();
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
    kvc__cu_op op(be, "act_quant", err);
    float *dx;
    TRY(op.begin());
    TRY(op.inout(x, xb, &dx));
    int64_t nblocks = rows * (cols / KVC_ACT_QUANT_BLOCK);
    k_act_quant<<<blocks_for(nblocks, 128), 128, 0, op.stream()>>>(dx, nblocks);
    return op.finish();
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
    kvc__cu_op op(be, "rmsnorm", err);
    const float *dx, *dg;
    uint16_t *dy;
    TRY(op.begin());
    TRY(op.in(x, xb, &dx));
    TRY(op.in(g, gb, &dg));
    TRY(op.out(y, yb, &dy));
    k_rmsnorm<<<blocks_for(rows, 128 / 32), 128, 0, op.stream()>>>(dx, rows, d, dg, eps, dy);
    return op.finish();
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
    kvc__cu_op op(be, "rope", err);
    uint16_t *dx;
    const float *df;
    TRY(op.begin());
    TRY(op.inout(x, xb, &dx));
    TRY(op.in(freqs, fb, &df));
    k_rope<<<blocks_for(rows * nfreq, 128), 128, 0, op.stream()>>>(dx, rows, stride, offset, df,
                                                                   nfreq, pos_step);
    return op.finish();
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
    kvc__cu_op op(be, "pool", err);
    const float *dkv, *dsc, *dape;
    float *dout;
    TRY(op.begin());
    TRY(op.in(kv, inb, &dkv));
    TRY(op.in(score, inb, &dsc));
    TRY(op.in(ape, apeb, &dape));
    TRY(op.out(out, outb, &dout));
    k_pool<<<blocks_for(windows * d, 128), 128, 0, op.stream()>>>(dkv, dsc, dape, windows, ratio,
                                                                  overlap, d, dout);
    return op.finish();
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
    kvc__cu_op op(be, "kvsim", err);
    uint16_t *dx;
    TRY(op.begin());
    TRY(op.inout(x, xb, &dx));
    const int64_t nblk = dims / KVC_KVSIM_BLOCK;
    k_kvsim<<<blocks_for(rows * nblk, 128), 128, 0, op.stream()>>>(dx, rows, stride, nblk, kind);
    return op.finish();
}

/* ------------------------------------------------------------ the table */

void fill_table(kvc_backend *be, kvc__cu_ctx *c)
{
    memset(be, 0, sizeof *be);
    be->name = c->name;
    be->ctx = c;
    be->matrix_create = cu_matrix_create;
    be->matrix_destroy = cu_matrix_destroy;
    be->matmul = cu_matmul;
    be->matmul_group = cu_matmul_group;
    be->round_bf16 = cu_round_bf16;
    be->act_quant = cu_act_quant;
    be->rmsnorm = cu_rmsnorm;
    be->rope = cu_rope;
    be->pool = cu_pool;
    be->kvsim = cu_kvsim;
    kvc__cuda_mem_fill(be);
}

void release(cuda_box *box)
{
    kvc__cu_ctx &c = box->ctx;
    kvc__cuda_mem_release(&c);
    if (c.stream != nullptr && cudaSetDevice(c.device) == cudaSuccess)
        cudaStreamDestroy(c.stream);
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
    kvc__cu_ctx *c = ctx_of(be);
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
    kvc__cu_ctx *c = ctx_of(be);
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
