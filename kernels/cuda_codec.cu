/* kvcert: the CUDA backend's codec and statistics operations
 * (core/backend.h, SPEC 7), bit-identical to the CPU's host loops.
 *
 * Each kernel calls the same KVC_HD code as the CPU; only the mapping of
 * calls to threads is the GPU's:
 *   codec_roundtrip  one warp per vector for 32 <= D <= 1024 (k_roundtrip_warp,
 *                    the same operations distributed; see there), else one
 *                    vector per thread   kvc_kakeya_roundtrip_vec
 *   codec_encode     one vector per thread   kvc_kakeya_quantize + pack_vector
 *                    (records sharing a byte, vector_bits % 8 != 0, are
 *                    written in two launches, even then odd vectors, so no
 *                    two threads ever touch the same byte: no atomics)
 *   codec_decode     one vector per thread   kvc_kakeya_unpack_vector + dequantize
 *   fp8_per64/ds_mla one vector per thread   kvc_fp8_per64_vec / kvc_fp8_ds_mla_vec
 *   recon_metrics, column_moments: the lane sum S of stats/metrics.h, one
 *     WARP per sum: lane l adds the terms k = l, l+32, ... ascending in a
 *     binary64 register, then __shfl_down_sync with offsets 16, 8, 4, 2, 1
 *     (v = v + partner), which is exactly the CPU's tree p[l] += p[l+off]
 *     for l < off. The terms are kvc_moment_d2/d4, kvc_metric_e2 and
 *     kvc_metric_cos, shared with the CPU. No atomics.
 *   column_quantile  each column transposed into order-preserving 64-bit
 *     keys (-0 below +0, NaN above +inf), sorted per column by CUB's
 *     segmented radix sort, converted back, then kvc_quantile_linear_sorted.
 *     A total order has one sorted sequence, so any correct sort gives the
 *     CPU's bits (the CPU's comparator orders -0 before +0 for that reason).
 *
 * Operations take host arrays, copy in, run, copy out and wait; calls are
 * serialized by one lock. NaN: see kernels/cuda_backend.h (arithmetic NaN
 * bits are the hardware's).
 */
#include <cuda_runtime.h>
#include <cub/device/device_segmented_radix_sort.cuh>

#include <mutex>
#include <stdlib.h>
#include <string.h>

#include "codec/fp8block.h"
#include "codec/kakeya.h"
#include "core/backend.h"
#include "kernels/cuda_backend.h"
#include "kernels/cuda_codec.h"
#include "kernels/cuda_common.h"
#include "stats/metrics.h"

namespace {

std::mutex g_lock;
constexpr int LOCAL_D = 512;     /* vectors up to this many dims keep scratch in registers/local */
constexpr unsigned VT = 128;     /* threads per block of the per-vector kernels */
constexpr unsigned BIG_BLOCKS = 256; /* grid of the D > LOCAL_D kernels (global scratch) */

#define TRY(expr)                                                              \
    do {                                                                       \
        kvc_status kvc__st = (expr);                                           \
        if (kvc__st != KVC_OK)                                                 \
            return kvc__st;                                                    \
    } while (0)

kvc_status bad_shape(kvc_error *err, const char *op)
{
    return kvc_error_set(err, KVC_INVALID_ARGUMENT, "%s: bad shape or NULL array", op);
}

kvc_status bad_params(const kvc_kakeya_params *p, int need_stream, kvc_error *err)
{
    if (p == nullptr || p->block == 0)
        return kvc_error_set(err, KVC_CODEC_PARAM, "codec parameters not initialized");
    if (need_stream && !p->has_stream)
        return kvc_error_set(err, KVC_CODEC_PARAM, "no bitstream for Q = %d (at most %d)", p->q,
                             KVC_KAKEYA_BITSTREAM_Q_MAX);
    return KVC_OK;
}

/* Runs fn with the lock held and the backend's device current. */
template <typename F> kvc_status locked(const kvc_backend *be, kvc_error *err, F fn)
{
    std::lock_guard<std::mutex> hold(g_lock);
    KVC_CUDA_TRY(cudaSetDevice(kvc__cuda_backend_device(be)), err);
    return fn();
}

/* ------------------------------------------------------------ codec kernels */

/* Per-thread scratch: local arrays for D <= LOCAL_D, else the thread's
 * slice of a global buffer (gridDim * blockDim slices of D). */
template <bool LOCAL> struct vec_scratch;
template <> struct vec_scratch<true> {
    float work[LOCAL_D];
    int32_t z2[LOCAL_D];
    __device__ vec_scratch(float *, int32_t *, int) {}
    __device__ float *w() { return work; }
    __device__ int32_t *z() { return z2; }
};
template <> struct vec_scratch<false> {
    float *work;
    int32_t *z2;
    __device__ vec_scratch(float *gw, int32_t *gz, int d)
    {
        size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
        work = gw + t * (size_t)d;
        z2 = gz + t * (size_t)d;
    }
    __device__ float *w() { return work; }
    __device__ int32_t *z() { return z2; }
};

template <bool LOCAL>
__global__ void k_roundtrip(const kvc_kakeya_params p, const float *x, int64_t n, float *out,
                            float *gw, int32_t *gz)
{
    vec_scratch<LOCAL> s(gw, gz, p.dim);
    for (int64_t v = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; v < n;
         v += (int64_t)gridDim.x * blockDim.x)
        kvc_kakeya_roundtrip_vec(&p, x + v * p.dim, s.w(), s.z(), out + v * p.dim);
}

/* Vectors first, first + step, ... (step 1 or 2, see the file comment). */
template <bool LOCAL>
__global__ void k_encode(const kvc_kakeya_params p, const float *x, int64_t n, int64_t first,
                         int64_t step, uint8_t *stream, float *gw, int32_t *gz)
{
    vec_scratch<LOCAL> s(gw, gz, p.dim);
    for (int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;; t += (int64_t)gridDim.x * blockDim.x) {
        int64_t v = first + t * step;
        if (v >= n)
            break;
        uint16_t nb, mb;
        kvc_kakeya_quantize(&p, x + v * p.dim, s.w(), &nb, &mb, s.z());
        kvc_kakeya_pack_vector(&p, stream, (uint64_t)v * (uint64_t)p.vector_bits, nb, mb, s.z());
    }
}

template <bool LOCAL>
__global__ void k_decode(const kvc_kakeya_params p, const uint8_t *stream, int64_t n, float *out,
                         uint8_t *bad, float *gw, int32_t *gz)
{
    vec_scratch<LOCAL> s(gw, gz, p.dim);
    for (int64_t v = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; v < n;
         v += (int64_t)gridDim.x * blockDim.x) {
        uint16_t nb, mb;
        if (kvc_kakeya_unpack_vector(&p, stream, (uint64_t)v * (uint64_t)p.vector_bits, &nb, &mb,
                                     s.z()) != 0) {
            bad[v] = 1;
            continue;
        }
        bad[v] = 0;
        kvc_kakeya_dequantize(&p, nb, mb, s.z(), out + v * p.dim);
    }
}

__global__ void k_fp8(const float *x, int64_t n, float *out, int ds_mla)
{
    for (int64_t v = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; v < n;
         v += (int64_t)gridDim.x * blockDim.x) {
        if (ds_mla)
            kvc_fp8_ds_mla_vec(x + v * KVC_FP8_DIM, out + v * KVC_FP8_DIM);
        else
            kvc_fp8_per64_vec(x + v * KVC_FP8_DIM, out + v * KVC_FP8_DIM);
    }
}


#include "kernels/codec_warp.cuh"


/* Global scratch for D > LOCAL_D (null pointers otherwise). */
struct big_scratch {
    kvc_dev_buf<float> w;
    kvc_dev_buf<int32_t> z;
    unsigned blocks = 0;
    kvc_status init(const kvc_kakeya_params *p, int64_t n, kvc_error *err)
    {
        if (p->dim <= LOCAL_D) {
            blocks = kvc__grid_for((size_t)n, VT);
            return KVC_OK;
        }
        blocks = BIG_BLOCKS;
        size_t slots = (size_t)BIG_BLOCKS * VT * (size_t)p->dim;
        TRY(w.alloc(slots, err));
        return z.alloc(slots, err);
    }
};

kvc_status launch_roundtrip(const kvc_kakeya_params *p, const float *x, int64_t n, float *out,
                            cudaStream_t st, big_scratch &bs, kvc_error *err)
{
    if (n == 0)
        return KVC_OK;
    if (warp_path(p))
        launch_roundtrip_warp(p, x, n, out, st);
    else if (p->dim <= LOCAL_D)
        k_roundtrip<true><<<bs.blocks, VT, 0, st>>>(*p, x, n, out, nullptr, nullptr);
    else
        k_roundtrip<false><<<bs.blocks, VT, 0, st>>>(*p, x, n, out, bs.w.ptr, bs.z.ptr);
    KVC_CUDA_TRY(cudaGetLastError(), err);
    return KVC_OK;
}

/* ------------------------------------------------------------ codec entries */

kvc_status cu_codec_roundtrip(const kvc_backend *be, const struct kvc_kakeya_params *p,
                              const float *x, int64_t n, float *out, kvc_error *err)
{
    TRY(bad_params(p, 0, err));
    if (n < 0 || (n > 0 && (x == nullptr || out == nullptr)))
        return bad_shape(err, "codec_roundtrip");
    if (n == 0)
        return KVC_OK;
    return locked(be, err, [&]() -> kvc_status {
        size_t cnt = (size_t)n * (size_t)p->dim;
        kvc_dev_buf<float> dx, dy;
        big_scratch bs;
        TRY(dx.upload(x, cnt, err));
        TRY(dy.alloc(cnt, err));
        TRY(bs.init(p, n, err));
        TRY(launch_roundtrip(p, dx.ptr, n, dy.ptr, 0, bs, err));
        KVC_CUDA_TRY(cudaDeviceSynchronize(), err);
        return dy.download(out, cnt, err);
    });
}

kvc_status cu_codec_encode(const kvc_backend *be, const struct kvc_kakeya_params *p,
                           const float *x, int64_t n, uint8_t *stream, size_t size,
                           kvc_error *err)
{
    if (n < 0 || (n > 0 && (x == nullptr || stream == nullptr)))
        return bad_shape(err, "codec_encode");
    size_t want = 0;
    TRY(kvc_kakeya_stream_size(p, (size_t)n, &want, err));
    if (size != want)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "stream buffer of %zu bytes, need %zu",
                             size, want);
    if (n == 0)
        return KVC_OK;
    return locked(be, err, [&]() -> kvc_status {
        kvc_dev_buf<float> dx;
        kvc_dev_buf<uint8_t> ds;
        big_scratch bs;
        TRY(dx.upload(x, (size_t)n * (size_t)p->dim, err));
        TRY(ds.alloc(size, err));
        KVC_CUDA_TRY(cudaMemset(ds.ptr, 0, size), err);
        TRY(bs.init(p, n, err));
        /* records that share a byte never run at once */
        int64_t step = (p->vector_bits % 8 == 0) ? 1 : 2;
        for (int64_t first = 0; first < step; first++) {
            if (p->dim <= LOCAL_D)
                k_encode<true><<<bs.blocks, VT>>>(*p, dx.ptr, n, first, step, ds.ptr, nullptr,
                                                  nullptr);
            else
                k_encode<false><<<bs.blocks, VT>>>(*p, dx.ptr, n, first, step, ds.ptr, bs.w.ptr,
                                                   bs.z.ptr);
            KVC_CUDA_TRY_LAUNCH("k_encode", err);
        }
        return ds.download(stream, size, err);
    });
}

kvc_status cu_codec_decode(const kvc_backend *be, const struct kvc_kakeya_params *p,
                           const uint8_t *stream, size_t size, int64_t n, float *out,
                           kvc_error *err)
{
    if (n < 0 || (n > 0 && (stream == nullptr || out == nullptr)))
        return bad_shape(err, "codec_decode");
    /* the CPU's checks and messages (codec/kakeya.c), in its order */
    size_t want = 0;
    TRY(kvc_kakeya_stream_size(p, (size_t)n, &want, err));
    if (size != want) {
        kvc_status st = kvc_error_set(err, KVC_BITSTREAM,
                                      "%zu bytes for %zu vectors of %lld bits, need %zu", size,
                                      (size_t)n, (long long)p->vector_bits, want);
        kvc_error_where(err, NULL, NULL, (int64_t)(size < want ? size : want));
        return st;
    }
    uint64_t used = (uint64_t)n * (uint64_t)p->vector_bits;
    if ((used & 7u) != 0 && (stream[size - 1] >> (used & 7u)) != 0) {
        kvc_status st = kvc_error_set(err, KVC_BITSTREAM, "nonzero padding bits after the last vector");
        kvc_error_where(err, NULL, NULL, (int64_t)size - 1);
        return st;
    }
    if (n == 0)
        return KVC_OK;
    return locked(be, err, [&]() -> kvc_status {
        size_t cnt = (size_t)n * (size_t)p->dim;
        kvc_dev_buf<uint8_t> ds, dbad;
        kvc_dev_buf<float> dy;
        big_scratch bs;
        TRY(ds.upload(stream, size, err));
        TRY(dy.alloc(cnt, err));
        TRY(dbad.alloc((size_t)n, err));
        TRY(bs.init(p, n, err));
        if (p->dim <= LOCAL_D)
            k_decode<true><<<bs.blocks, VT>>>(*p, ds.ptr, n, dy.ptr, dbad.ptr, nullptr, nullptr);
        else
            k_decode<false><<<bs.blocks, VT>>>(*p, ds.ptr, n, dy.ptr, dbad.ptr, bs.w.ptr,
                                               bs.z.ptr);
        KVC_CUDA_TRY_LAUNCH("k_decode", err);
        uint8_t *bad = (uint8_t *)malloc((size_t)n);
        if (bad == nullptr)
            return kvc_error_set(err, KVC_NOMEM, "decode flags of %lld vectors", (long long)n);
        kvc_status st = dbad.download(bad, (size_t)n, err);
        for (int64_t v = 0; st == KVC_OK && v < n; v++)
            if (bad[v]) {
                uint64_t pos = (uint64_t)v * (uint64_t)p->vector_bits;
                st = kvc_error_set(err, KVC_BITSTREAM, "vector %zu: impossible record", (size_t)v);
                kvc_error_where(err, NULL, NULL, (int64_t)(pos / 8));
            }
        free(bad);
        TRY(st);
        return dy.download(out, cnt, err);
    });
}

kvc_status fp8_common(const kvc_backend *be, const float *x, int64_t n, float *out, int ds_mla,
                      kvc_error *err)
{
    if (n < 0 || (n > 0 && (x == nullptr || out == nullptr)))
        return bad_shape(err, ds_mla ? "fp8_ds_mla" : "fp8_per64");
    if (n == 0)
        return KVC_OK;
    return locked(be, err, [&]() -> kvc_status {
        size_t cnt = (size_t)n * KVC_FP8_DIM;
        kvc_dev_buf<float> dx, dy;
        TRY(dx.upload(x, cnt, err));
        TRY(dy.alloc(cnt, err));
        k_fp8<<<kvc__grid_for((size_t)n, VT), VT>>>(dx.ptr, n, dy.ptr, ds_mla);
        KVC_CUDA_TRY_LAUNCH("k_fp8", err);
        return dy.download(out, cnt, err);
    });
}

kvc_status cu_fp8_per64(const kvc_backend *be, const float *x, int64_t n, float *out,
                        kvc_error *err)
{
    return fp8_common(be, x, n, out, 0, err);
}

kvc_status cu_fp8_ds_mla(const kvc_backend *be, const float *x, int64_t n, float *out,
                         kvc_error *err)
{
    return fp8_common(be, x, n, out, 1, err);
}

/* ------------------------------------------------------------ lane sums */

/* The tree of stats/metrics.h over the 32 lane partials of a warp; the
 * result is lane 0's. */
__device__ double warp_tree(double v)
{
    for (int off = 16; off >= 1; off >>= 1)
        v = v + __shfl_down_sync(0xFFFFFFFFu, v, off);
    return v;
}

enum term_kind { T_X = 0, T_D2 = 1, T_D4 = 2, T_E2 = 3 };

/* One warp per column j of x [n, d]: out[j] = S_i(term(x_ij)) / n. */
__global__ void k_column_sums(const float *x, const float *xh, const double *mu, int64_t n,
                              int d, int kind, int divide, double *out)
{
    int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32;
    int lane = threadIdx.x & 31;
    if (warp >= d) /* whole warps leave together */
        return;
    int j = (int)warp;
    double p = 0.0;
    for (int64_t i = lane; i < n; i += 32) {
        float v = x[i * d + j];
        double t;
        if (kind == T_X)
            t = (double)v;
        else if (kind == T_D2)
            t = kvc_moment_d2(v, mu[j]);
        else if (kind == T_D4)
            t = kvc_moment_d4(v, mu[j]);
        else
            t = kvc_metric_e2(v, xh[i * d + j]);
        p = p + t;
    }
    p = warp_tree(p);
    if (lane == 0)
        out[j] = divide ? p / (double)n : p;
}

/* One warp: out[0] = S(t_0 .. t_{m-1}). */
__global__ void k_lane_sum(const double *t, int64_t m, double *out)
{
    int lane = threadIdx.x & 31;
    double p = 0.0;
    for (int64_t k = lane; k < m; k += 32)
        p = p + t[k];
    p = warp_tree(p);
    if (lane == 0)
        out[0] = p;
}

/* One warp per vector i: c[i] = cos of x_i and xh_i (metrics.h). */
__global__ void k_cos(const float *x, const float *xh, int64_t n, int d, double *c)
{
    int64_t i = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32;
    int lane = threadIdx.x & 31;
    if (i >= n)
        return;
    double pd = 0.0, px = 0.0, ph = 0.0;
    for (int j = lane; j < d; j += 32) {
        double a = (double)x[i * d + j], b = (double)xh[i * d + j];
        pd = pd + a * b;
        px = px + a * a;
        ph = ph + b * b;
    }
    pd = warp_tree(pd);
    px = warp_tree(px);
    ph = warp_tree(ph);
    if (lane == 0)
        c[i] = kvc_metric_cos(pd, px, ph);
}

unsigned warp_blocks(int64_t warps)
{
    return (unsigned)((warps * 32 + 255) / 256);
}

kvc_status column_sums(const float *x, const float *xh, const double *mu, int64_t n, int d,
                       int kind, int divide, double *out, kvc_error *err)
{
    k_column_sums<<<warp_blocks(d), 256>>>(x, xh, mu, n, d, kind, divide, out);
    KVC_CUDA_TRY(cudaGetLastError(), err);
    return KVC_OK;
}

kvc_status cu_recon_metrics(const kvc_backend *be, const float *x, const float *xhat, int64_t n,
                            int d, struct kvc_recon_metrics *out, kvc_error *err)
{
    if (n < 1 || d <= 0 || x == nullptr || xhat == nullptr || out == nullptr)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "metrics of %zu vectors of %d dims",
                             (size_t)(n < 0 ? 0 : n), d);
    return locked(be, err, [&]() -> kvc_status {
        size_t cnt = (size_t)n * (size_t)d;
        kvc_dev_buf<float> dx, dh;
        kvc_dev_buf<double> mu, per_dim, c, sums;
        TRY(dx.upload(x, cnt, err));
        TRY(dh.upload(xhat, cnt, err));
        TRY(mu.alloc((size_t)d, err));
        TRY(per_dim.alloc((size_t)d, err));
        TRY(c.alloc((size_t)n, err));
        TRY(sums.alloc(3, err));
        TRY(column_sums(dx.ptr, nullptr, nullptr, n, d, T_X, 1, mu.ptr, err));
        TRY(column_sums(dx.ptr, nullptr, mu.ptr, n, d, T_D2, 0, per_dim.ptr, err));
        k_lane_sum<<<1, 32>>>(per_dim.ptr, d, sums.ptr + 0); /* SST */
        TRY(column_sums(dx.ptr, dh.ptr, nullptr, n, d, T_E2, 0, per_dim.ptr, err));
        k_lane_sum<<<1, 32>>>(per_dim.ptr, d, sums.ptr + 1); /* SSE */
        k_cos<<<warp_blocks(n), 256>>>(dx.ptr, dh.ptr, n, d, c.ptr);
        k_lane_sum<<<1, 32>>>(c.ptr, n, sums.ptr + 2);
        KVC_CUDA_TRY_LAUNCH("recon_metrics", err);
        double h[3];
        TRY(sums.download(h, 3, err));
        /* the CPU's closing arithmetic (stats/metrics.c) */
        out->sst = h[0];
        out->sse = h[1];
        out->rel_mse = h[1] / (h[0] < 1e-12 ? 1e-12 : h[0]);
        out->cos_sim = h[2] / (double)n;
        out->num_vectors = (uint64_t)n;
        out->dim = d;
        return KVC_OK;
    });
}

kvc_status cu_column_moments(const kvc_backend *be, const float *x, int64_t n, int d,
                             double *mu, double *var, double *m4, kvc_error *err)
{
    if (n < 1 || d < 1 || x == nullptr || mu == nullptr || var == nullptr || m4 == nullptr)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "moments of %zu vectors of %d dims",
                             (size_t)(n < 0 ? 0 : n), d);
    return locked(be, err, [&]() -> kvc_status {
        kvc_dev_buf<float> dx;
        kvc_dev_buf<double> dm, dv, d4;
        TRY(dx.upload(x, (size_t)n * (size_t)d, err));
        TRY(dm.alloc((size_t)d, err));
        TRY(dv.alloc((size_t)d, err));
        TRY(d4.alloc((size_t)d, err));
        TRY(column_sums(dx.ptr, nullptr, nullptr, n, d, T_X, 1, dm.ptr, err));
        TRY(column_sums(dx.ptr, nullptr, dm.ptr, n, d, T_D2, 1, dv.ptr, err));
        TRY(column_sums(dx.ptr, nullptr, dm.ptr, n, d, T_D4, 1, d4.ptr, err));
        KVC_CUDA_TRY_LAUNCH("column_moments", err);
        TRY(dm.download(mu, (size_t)d, err));
        TRY(dv.download(var, (size_t)d, err));
        return d4.download(m4, (size_t)d, err);
    });
}

/* ------------------------------------------------------------ quantile */

/* Order-preserving keys: -0 below +0; every NaN above +inf (NaN last). */
__device__ uint64_t key_of(double v)
{
    if (v != v)
        return ~0ull;
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return (u >> 63) ? ~u : (u | 0x8000000000000000ull);
}

__device__ double value_of(uint64_t k)
{
    uint64_t u = (k >> 63) ? (k & 0x7FFFFFFFFFFFFFFFull) : ~k;
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* keys[j * n + i] = key(a[i * d + j]) */
__global__ void k_transpose_keys(const double *a, int64_t n, int d, uint64_t *keys)
{
    int64_t total = n * d;
    for (int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; t < total;
         t += (int64_t)gridDim.x * blockDim.x) {
        int64_t j = t / n, i = t % n;
        keys[t] = key_of(a[i * d + j]);
    }
}

__global__ void k_offsets(int *off, int d, int n)
{
    for (int j = blockIdx.x * blockDim.x + threadIdx.x; j <= d; j += gridDim.x * blockDim.x)
        off[j] = j * n;
}

__global__ void k_keys_to_values(const uint64_t *keys, int64_t total, double *vals)
{
    for (int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; t < total;
         t += (int64_t)gridDim.x * blockDim.x)
        vals[t] = value_of(keys[t]);
}

__global__ void k_quantile(const double *sorted, int64_t n, int d, double q, double *out)
{
    for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < d; j += gridDim.x * blockDim.x)
        out[j] = kvc_quantile_linear_sorted(sorted + (int64_t)j * n, (uint64_t)n, q);
}

kvc_status cu_column_quantile(const kvc_backend *be, const double *a, int64_t n, int d, double q,
                              double *out, kvc_error *err)
{
    if (n < 1 || d < 1 || a == nullptr || out == nullptr || !(q >= 0.0 && q <= 1.0))
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "quantile %g of %zu x %d", q,
                             (size_t)(n < 0 ? 0 : n), d);
    if (n > INT32_MAX / d)
        return kvc_error_set(err, KVC_LIMIT, "quantile of %lld x %d: over 2^31 values on the GPU",
                             (long long)n, d);
    return locked(be, err, [&]() -> kvc_status {
        int64_t total = n * d;
        kvc_dev_buf<double> da, dvals, dout;
        kvc_dev_buf<uint64_t> kin, kout;
        kvc_dev_buf<int> off;
        kvc_dev_buf<unsigned char> tmp;
        TRY(da.upload(a, (size_t)total, err));
        TRY(kin.alloc((size_t)total, err));
        TRY(kout.alloc((size_t)total, err));
        TRY(off.alloc((size_t)d + 1, err));
        TRY(dvals.alloc((size_t)total, err));
        TRY(dout.alloc((size_t)d, err));
        k_transpose_keys<<<kvc__grid_for((size_t)total, 256), 256>>>(da.ptr, n, d, kin.ptr);
        k_offsets<<<kvc__grid_for((size_t)d + 1, 256), 256>>>(off.ptr, d, (int)n);
        KVC_CUDA_TRY(cudaGetLastError(), err);
        size_t tbytes = 0;
        KVC_CUDA_TRY(cub::DeviceSegmentedRadixSort::SortKeys(nullptr, tbytes, kin.ptr, kout.ptr,
                                                             (int)total, d, off.ptr, off.ptr + 1),
                     err);
        TRY(tmp.alloc(tbytes, err));
        KVC_CUDA_TRY(cub::DeviceSegmentedRadixSort::SortKeys(tmp.ptr, tbytes, kin.ptr, kout.ptr,
                                                             (int)total, d, off.ptr, off.ptr + 1),
                     err);
        k_keys_to_values<<<kvc__grid_for((size_t)total, 256), 256>>>(kout.ptr, total, dvals.ptr);
        k_quantile<<<kvc__grid_for((size_t)d, 128), 128>>>(dvals.ptr, n, d, q, dout.ptr);
        KVC_CUDA_TRY_LAUNCH("column_quantile", err);
        return dout.download(out, (size_t)d, err);
    });
}

} // namespace

void kvc__cuda_codec_fill(kvc_backend *be)
{
    be->codec_roundtrip = cu_codec_roundtrip;
    be->codec_encode = cu_codec_encode;
    be->codec_decode = cu_codec_decode;
    be->fp8_per64 = cu_fp8_per64;
    be->fp8_ds_mla = cu_fp8_ds_mla;
    be->recon_metrics = cu_recon_metrics;
    be->column_moments = cu_column_moments;
    be->column_quantile = cu_column_quantile;
}

extern "C" kvc_status kvc_cuda_codec_roundtrip_device(const struct kvc_kakeya_params *p,
                                                      const float *x, int64_t n, float *out,
                                                      void *stream, kvc_error *err)
{
    TRY(bad_params(p, 0, err));
    if (n < 0)
        return bad_shape(err, "codec_roundtrip");
    if (p->dim > LOCAL_D && !warp_path(p))
        return kvc_error_set(err, KVC_UNSUPPORTED,
                             "device roundtrip entry: D = %d over %d (use the table)", p->dim,
                             LOCAL_D);
    big_scratch bs;
    TRY(bs.init(p, n, err));
    return launch_roundtrip(p, x, n, out, (cudaStream_t)stream, bs, err);
}
