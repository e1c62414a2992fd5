/* kvcert: the CUDA backend's codec, statistics and chaining operations
 * (core/backend.h, SPEC 7), bit-identical to the CPU's host loops.
 *
 * Each kernel calls the same KVC_HD code as the CPU; only the mapping of
 * calls to threads is the GPU's:
 *   codec_roundtrip  one warp per vector for 32 <= D <= 1024 (k_roundtrip_warp,
 *                    the same operations distributed; see there), else one
 *                    vector per thread   kvc_kakeya_roundtrip_vec
 *   codec_encode     one warp per vector for 32 <= D <= 1024 (k_encode_warp,
 *                    lanes own disjoint bytes of the record), else one
 *                    vector per thread   kvc_kakeya_quantize + pack_vector
 *                    (records sharing a byte, vector_bits % 8 != 0, are
 *                    written in two launches, even then odd vectors, so no
 *                    two threads ever touch the same byte: no atomics)
 *   codec_decode     one warp per vector for 32 <= D <= 1024 (k_decode_warp),
 *                    else one vector per thread
 *                    kvc_kakeya_unpack_vector + dequantize;
 *                    the padding check runs on the device (one thread) and
 *                    the first impossible record is an atomicMin of the
 *                    vector index (min is exact and order-free: the CPU's
 *                    first bad vector whatever the schedule); only those two
 *                    words are read back
 *   fp8_per64/ds_mla one (vector, 64-dim part) per thread
 *                    kvc_fp8_per64_part / kvc_fp8_ds_mla_part
 *   fp8_ds_mla_encode/decode  one (vector, part) per thread
 *                    kvc_fp8_ds_mla_encode_part / kvc_fp8_ds_mla_decode_part
 *                    (decode: kvc_fp8_ds_mla_record_valid, the first bad
 *                    record by atomicMin, as above)
 *   recon_metrics, column_moments: the lane sum S of stats/metrics.h, one
 *     WARP per sum: lane l adds the terms k = l, l+32, ... ascending in a
 *     binary64 register, then __shfl_down_sync with offsets 16, 8, 4, 2, 1
 *     (v = v + partner), which is exactly the CPU's tree p[l] += p[l+off]
 *     for l < off. The terms are kvc_moment_d2/d4, kvc_metric_e2 and
 *     kvc_metric_cos, shared with the CPU. No atomics. recon_metrics' closing
 *     arithmetic (stats/metrics.c) runs on the device (one thread), so the
 *     result may stay in backend memory.
 *   column_quantile  each column transposed into order-preserving 64-bit
 *     keys (-0 below +0, NaN above +inf), sorted per column (up to 2048
 *     values: one block per column, CUB's block radix sort in shared
 *     memory; longer columns: CUB's segmented radix sort), converted back,
 *     then kvc_quantile_linear_sorted.
 *     A total order has one sorted sequence, so any correct sort gives the
 *     CPU's bits (the CPU's comparator orders -0 before +0 for that reason).
 *   widen_bf16       one element per thread   kvc_bf16_to_f32
 *   hadamard_rows    one block per row, the row in shared memory: the stages
 *                    h = 1, 2, 4, ... of kvc_fwht_butterflies in order (a
 *                    barrier between stages), each pair (j, j+h) one thread,
 *                    a + b and a - b as there; then the one multiply by
 *                    kvc_hadamard_scale(d). Within a stage the pairs are
 *                    independent (codec/hadamard.h), so this is its bits.
 *   abs_scaled       one element per thread   kvc_abs_scaled
 *   first_difference one word per thread, atomicMin of the differing index
 *                    (exact and order-free, so deterministic)
 *
 * Arrays may be host memory or backend memory (blocks from mem_alloc), in
 * any mix: kernels/cuda_op.h stages them. Every kernel, copy and CUB call
 * runs on the backend's stream (op.stream(), non-blocking: never the
 * default stream); work space comes from the op's scratch slots
 * (op.temp). An operation whose outputs are all backend memory is only
 * queued; one with a host output (or one that must read a result back to
 * decide its status: the decoders) waits. The argument checks are the CPU
 * table's (src/v4/cpu_backend.c and the functions it calls), status,
 * message and order alike. NaN: see kernels/cuda_backend.h (arithmetic NaN
 * bits are the hardware's).
 */
#include <cuda_runtime.h>
#include <cub/block/block_radix_sort.cuh>
#include <cub/device/device_segmented_radix_sort.cuh>

#include <stdlib.h>
#include <string.h>

#include <type_traits>

#include "codec/fp8block.h"
#include "codec/hadamard.h"
#include "codec/kakeya.h"
#include "core/backend.h"
#include "core/formats.h"
#include "kernels/cuda_backend.h"
#include "kernels/cuda_codec.h"
#include "kernels/cuda_common.h"
#include "kernels/cuda_op.h"
#include "stats/metrics.h"

namespace {

constexpr int LOCAL_D = 512;     /* vectors up to this many dims keep scratch in registers/local */
constexpr unsigned VT = 128;     /* threads per block of the per-vector kernels */
constexpr unsigned BIG_BLOCKS = 256; /* grid of the D > LOCAL_D kernels (global scratch) */
constexpr unsigned ET = 256;     /* threads per block of the element-wise kernels */
constexpr unsigned long long NONE = ~0ull; /* "no bad index" of the atomicMin searches */

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

/* a * b * size in bytes; false when it overflows size_t (or a, b < 0). */
bool bytes_of(int64_t a, int64_t b, size_t size, size_t *out)
{
    if (a < 0 || b < 0)
        return false;
    if (b != 0 && (uint64_t)a > SIZE_MAX / (uint64_t)b)
        return false;
    size_t ab = (size_t)a * (size_t)b;
    if (size != 0 && ab > SIZE_MAX / size)
        return false;
    *out = ab * size;
    return true;
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

/* bad[0]: the smallest impossible vector index (atomicMin: exact and
 * order-free), left at NONE when every record is possible. */
template <bool LOCAL>
__global__ void k_decode(const kvc_kakeya_params p, const uint8_t *stream, int64_t n, float *out,
                         unsigned long long *bad, float *gw, int32_t *gz)
{
    vec_scratch<LOCAL> s(gw, gz, p.dim);
    for (int64_t v = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; v < n;
         v += (int64_t)gridDim.x * blockDim.x) {
        uint16_t nb, mb;
        if (kvc_kakeya_unpack_vector(&p, stream, (uint64_t)v * (uint64_t)p.vector_bits, &nb, &mb,
                                     s.z()) != 0) {
            atomicMin(bad, (unsigned long long)v);
            continue;
        }
        kvc_kakeya_dequantize(&p, nb, mb, s.z(), out + v * p.dim);
    }
}

/* res[0] = 1 when the bits of the last byte after the last vector are not
 * all zero (kakeya.c's padding check), else 0; res[1] = NONE. */
__global__ void k_decode_start(const uint8_t *last, unsigned shift, unsigned long long *res)
{
    res[0] = (shift != 0 && (*last >> shift) != 0) ? 1ull : 0ull;
    res[1] = NONE;
}

/* The baselines at one thread per (vector, part of 64 dims): the parts
 * are independent (codec/fp8block.h), 8 times the threads of one per
 * vector. */
__global__ void k_fp8(const float *x, int64_t n, float *out, int ds_mla)
{
    const int64_t parts = n * KVC_FP8_PARTS;
    for (int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; t < parts;
         t += (int64_t)gridDim.x * blockDim.x) {
        const int64_t v = t / KVC_FP8_PARTS;
        const int j = (int)(t % KVC_FP8_PARTS);
        if (ds_mla)
            kvc_fp8_ds_mla_part(x + v * KVC_FP8_DIM, out + v * KVC_FP8_DIM, j);
        else
            kvc_fp8_per64_part(x + v * KVC_FP8_DIM, out + v * KVC_FP8_DIM, j);
    }
}

__global__ void k_ds_mla_encode(const float *x, int64_t n, uint8_t *rec)
{
    const int64_t parts = n * KVC_FP8_PARTS;
    for (int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; t < parts;
         t += (int64_t)gridDim.x * blockDim.x) {
        const int64_t v = t / KVC_FP8_PARTS;
        kvc_fp8_ds_mla_encode_part(x + v * KVC_FP8_DIM, rec + v * KVC_FP8_DS_MLA_BYTES,
                                   (int)(t % KVC_FP8_PARTS));
    }
}

/* bad[0]: the smallest bad record index (atomicMin, as k_decode). A bad
 * record's parts write nothing (the CPU writes nothing for it either). */
__global__ void k_ds_mla_decode(const uint8_t *rec, int64_t n, float *out,
                                unsigned long long *bad)
{
    const int64_t parts = n * KVC_FP8_PARTS;
    for (int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; t < parts;
         t += (int64_t)gridDim.x * blockDim.x) {
        const int64_t v = t / KVC_FP8_PARTS;
        const int j = (int)(t % KVC_FP8_PARTS);
        const uint8_t *r = rec + v * KVC_FP8_DS_MLA_BYTES;
        if (!kvc_fp8_ds_mla_record_valid(r)) {
            if (j == 0)
                atomicMin(bad, (unsigned long long)v);
            continue;
        }
        kvc_fp8_ds_mla_decode_part(r, out + v * KVC_FP8_DIM, j);
    }
}


#include "kernels/codec_warp.cuh"


/* Blocks of the per-vector kernels, and global scratch for D > LOCAL_D
 * (two op.temp slots; null pointers otherwise). */
struct big_scratch {
    float *w = nullptr;
    int32_t *z = nullptr;
    unsigned blocks = 0;
    kvc_status init(kvc__cu_op &op, const kvc_kakeya_params *p, int64_t n)
    {
        if (p->dim <= LOCAL_D) {
            blocks = kvc__grid_for((size_t)n, VT);
            return KVC_OK;
        }
        blocks = BIG_BLOCKS;
        size_t slots = (size_t)BIG_BLOCKS * VT * (size_t)p->dim;
        TRY(op.temp(slots * sizeof(float), &w));
        return op.temp(slots * sizeof(int32_t), &z);
    }
};

/* Queues the roundtrip; bs.w/bs.z are needed only when D > LOCAL_D and
 * the warp kernel does not apply. */
kvc_status launch_roundtrip(const kvc_kakeya_params *p, const float *x, int64_t n, float *out,
                            cudaStream_t st, const big_scratch &bs, kvc_error *err)
{
    if (n == 0)
        return KVC_OK;
    if (warp_path(p))
        launch_roundtrip_warp(p, x, n, out, st);
    else if (p->dim <= LOCAL_D)
        k_roundtrip<true><<<bs.blocks, VT, 0, st>>>(*p, x, n, out, nullptr, nullptr);
    else
        k_roundtrip<false><<<bs.blocks, VT, 0, st>>>(*p, x, n, out, bs.w, bs.z);
    KVC_CUDA_TRY(cudaGetLastError(), err);
    return KVC_OK;
}

/* ------------------------------------------------------------ codec entries */

kvc_status cu_codec_roundtrip(const kvc_backend *be, const struct kvc_kakeya_params *p,
                              const float *x, int64_t n, float *out, kvc_error *err)
{
    /* the CPU's order: shape (cpu_backend.c), then parameters (kakeya.c) */
    if (n < 0 || (n > 0 && (x == nullptr || out == nullptr)))
        return bad_shape(err, "codec_roundtrip");
    TRY(bad_params(p, 0, err));
    if (n == 0)
        return KVC_OK;
    size_t bytes = 0;
    if (!bytes_of(n, p->dim, sizeof(float), &bytes))
        return bad_shape(err, "codec_roundtrip");
    kvc__cu_op op(be, "codec_roundtrip", err);
    const float *dx;
    float *dy;
    big_scratch bs;
    TRY(op.begin());
    TRY(op.in(x, bytes, &dx));
    TRY(op.out(out, bytes, &dy));
    if (!warp_path(p))
        TRY(bs.init(op, p, n));
    TRY(launch_roundtrip(p, dx, n, dy, op.stream(), bs, err));
    return op.finish();
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
    size_t xbytes = 0;
    if (!bytes_of(n, p->dim, sizeof(float), &xbytes))
        return bad_shape(err, "codec_encode");
    kvc__cu_op op(be, "codec_encode", err);
    const float *dx;
    uint8_t *ds;
    big_scratch bs;
    TRY(op.begin());
    TRY(op.in(x, xbytes, &dx));
    TRY(op.out(stream, size, &ds));
    const bool warp = warp_path(p) && !warp_ref_requested();
    if (!warp)
        TRY(bs.init(op, p, n));
    KVC_CUDA_TRY(cudaMemsetAsync(ds, 0, size, op.stream()), err);
    /* records that share a byte never run at once */
    int64_t step = (p->vector_bits % 8 == 0) ? 1 : 2;
    for (int64_t first = 0; first < step; first++) {
        if (warp)
            launch_encode_warp(p, dx, n, first, step, ds, op.stream());
        else if (p->dim <= LOCAL_D)
            k_encode<true><<<bs.blocks, VT, 0, op.stream()>>>(*p, dx, n, first, step, ds,
                                                              nullptr, nullptr);
        else
            k_encode<false><<<bs.blocks, VT, 0, op.stream()>>>(*p, dx, n, first, step, ds, bs.w,
                                                               bs.z);
        KVC_CUDA_TRY(cudaGetLastError(), err);
    }
    return op.finish();
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
    if (n == 0)
        return KVC_OK;
    size_t obytes = 0;
    if (!bytes_of(n, p->dim, sizeof(float), &obytes))
        return bad_shape(err, "codec_decode");
    uint64_t used = (uint64_t)n * (uint64_t)p->vector_bits;
    kvc__cu_op op(be, "codec_decode", err);
    const uint8_t *ds;
    float *dy;
    unsigned long long *res; /* [0] padding bad, [1] first impossible vector */
    big_scratch bs;
    TRY(op.begin());
    TRY(op.in(stream, size, &ds));
    TRY(op.out(out, obytes, &dy));
    TRY(op.temp(2 * sizeof(unsigned long long), &res));
    const bool warp = warp_path(p) && !warp_ref_requested();
    if (!warp)
        TRY(bs.init(op, p, n));
    k_decode_start<<<1, 1, 0, op.stream()>>>(ds + size - 1, (unsigned)(used & 7u), res);
    if (warp)
        launch_decode_warp(p, ds, n, dy, res + 1, op.stream());
    else if (p->dim <= LOCAL_D)
        k_decode<true><<<bs.blocks, VT, 0, op.stream()>>>(*p, ds, n, dy, res + 1, nullptr,
                                                          nullptr);
    else
        k_decode<false><<<bs.blocks, VT, 0, op.stream()>>>(*p, ds, n, dy, res + 1, bs.w, bs.z);
    KVC_CUDA_TRY(cudaGetLastError(), err);
    /* read back the two words only, then decide the status */
    unsigned long long h[2];
    KVC_CUDA_TRY(cudaMemcpyAsync(h, res, sizeof h, cudaMemcpyDeviceToHost, op.stream()), err);
    TRY(op.wait());
    if (h[0] != 0) {
        kvc_status st = kvc_error_set(err, KVC_BITSTREAM, "nonzero padding bits after the last vector");
        kvc_error_where(err, NULL, NULL, (int64_t)size - 1);
        return st;
    }
    if (h[1] != NONE) {
        size_t v = (size_t)h[1];
        uint64_t pos = (uint64_t)v * (uint64_t)p->vector_bits;
        kvc_status st = kvc_error_set(err, KVC_BITSTREAM, "vector %zu: impossible record", v);
        kvc_error_where(err, NULL, NULL, (int64_t)(pos / 8));
        return st;
    }
    return op.finish();
}

kvc_status fp8_common(const kvc_backend *be, const float *x, int64_t n, float *out, int ds_mla,
                      kvc_error *err)
{
    const char *name = ds_mla ? "fp8_ds_mla" : "fp8_per64";
    if (n < 0 || (n > 0 && (x == nullptr || out == nullptr)))
        return bad_shape(err, name);
    if (n == 0)
        return KVC_OK;
    size_t bytes = 0;
    if (!bytes_of(n, KVC_FP8_DIM, sizeof(float), &bytes))
        return bad_shape(err, name);
    kvc__cu_op op(be, name, err);
    const float *dx;
    float *dy;
    TRY(op.begin());
    TRY(op.in(x, bytes, &dx));
    TRY(op.out(out, bytes, &dy));
    k_fp8<<<kvc__grid_for((size_t)n * KVC_FP8_PARTS, VT), VT, 0, op.stream()>>>(dx, n, dy,
                                                                               ds_mla);
    return op.finish();
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

kvc_status cu_ds_mla_encode(const kvc_backend *be, const float *x, int64_t n, uint8_t *rec,
                            kvc_error *err)
{
    if (n < 0 || (n > 0 && (x == nullptr || rec == nullptr)))
        return bad_shape(err, "fp8_ds_mla_encode");
    if (n == 0)
        return KVC_OK;
    size_t xb = 0, rb = 0;
    if (!bytes_of(n, KVC_FP8_DIM, sizeof(float), &xb) ||
        !bytes_of(n, KVC_FP8_DS_MLA_BYTES, 1, &rb))
        return bad_shape(err, "fp8_ds_mla_encode");
    kvc__cu_op op(be, "fp8_ds_mla_encode", err);
    const float *dx;
    uint8_t *dr;
    TRY(op.begin());
    TRY(op.in(x, xb, &dx));
    TRY(op.out(rec, rb, &dr));
    k_ds_mla_encode<<<kvc__grid_for((size_t)n * KVC_FP8_PARTS, VT), VT, 0, op.stream()>>>(dx, n,
                                                                                         dr);
    return op.finish();
}

kvc_status cu_ds_mla_decode(const kvc_backend *be, const uint8_t *rec, size_t size, int64_t n,
                            float *out, kvc_error *err)
{
    if (n < 0 || (n > 0 && (rec == nullptr || out == nullptr)))
        return bad_shape(err, "fp8_ds_mla_decode");
    /* kvc_fp8_ds_mla_decode's checks and messages (codec/fp8block.c) */
    if ((size_t)n > SIZE_MAX / KVC_FP8_DS_MLA_BYTES || size != (size_t)n * KVC_FP8_DS_MLA_BYTES) {
        kvc_status st = kvc_error_set(err, KVC_BITSTREAM,
                                      "%zu bytes for %zu fp8_ds_mla records of %d bytes", size,
                                      (size_t)n, KVC_FP8_DS_MLA_BYTES);
        kvc_error_where(err, NULL, NULL, (int64_t)size);
        return st;
    }
    if (n == 0)
        return KVC_OK;
    size_t ob = 0;
    if (!bytes_of(n, KVC_FP8_DIM, sizeof(float), &ob))
        return bad_shape(err, "fp8_ds_mla_decode");
    kvc__cu_op op(be, "fp8_ds_mla_decode", err);
    const uint8_t *dr;
    float *dy;
    unsigned long long *bad;
    TRY(op.begin());
    TRY(op.in(rec, size, &dr));
    TRY(op.out(out, ob, &dy));
    TRY(op.temp(sizeof(unsigned long long), &bad));
    KVC_CUDA_TRY(cudaMemsetAsync(bad, 0xFF, sizeof *bad, op.stream()), err); /* NONE */
    k_ds_mla_decode<<<kvc__grid_for((size_t)n * KVC_FP8_PARTS, VT), VT, 0, op.stream()>>>(
        dr, n, dy, bad);
    KVC_CUDA_TRY(cudaGetLastError(), err);
    unsigned long long h = 0;
    KVC_CUDA_TRY(cudaMemcpyAsync(&h, bad, sizeof h, cudaMemcpyDeviceToHost, op.stream()), err);
    TRY(op.wait());
    if (h != NONE) {
        size_t v = (size_t)h;
        kvc_status st = kvc_error_set(err, KVC_BITSTREAM,
                                      "record %zu: nonzero pad byte or NaN scale", v);
        kvc_error_where(err, NULL, NULL, (int64_t)(v * KVC_FP8_DS_MLA_BYTES));
        return st;
    }
    return op.finish();
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

/* The CPU's closing arithmetic (stats/metrics.c) on sums = {SST, SSE, S cos}. */
__global__ void k_metrics_close(const double *sums, int64_t n, int d, kvc_recon_metrics *out)
{
    double sst = sums[0], sse = sums[1];
    out->sse = sse;
    out->sst = sst;
    out->rel_mse = sse / (sst < 1e-12 ? 1e-12 : sst);
    out->cos_sim = sums[2] / (double)n;
    out->num_vectors = (uint64_t)n;
    out->dim = d;
}

unsigned warp_blocks(int64_t warps)
{
    return (unsigned)((warps * 32 + 255) / 256);
}

void column_sums(cudaStream_t st, const float *x, const float *xh, const double *mu, int64_t n,
                 int d, int kind, int divide, double *out)
{
    k_column_sums<<<warp_blocks(d), 256, 0, st>>>(x, xh, mu, n, d, kind, divide, out);
}

kvc_status cu_recon_metrics(const kvc_backend *be, const float *x, const float *xhat, int64_t n,
                            int d, struct kvc_recon_metrics *out, kvc_error *err)
{
    /* cpu_backend.c's check, then kvc_stats_recon's */
    if (n < 1)
        return bad_shape(err, "recon_metrics");
    if (d <= 0 || x == nullptr || xhat == nullptr || out == nullptr)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "metrics of %zu vectors of %d dims",
                             (size_t)n, d);
    size_t bytes = 0;
    if (!bytes_of(n, d, sizeof(float), &bytes))
        return bad_shape(err, "recon_metrics");
    kvc__cu_op op(be, "recon_metrics", err);
    const float *dx, *dh;
    double *mu, *per_dim, *c, *sums;
    kvc_recon_metrics *dout;
    TRY(op.begin());
    TRY(op.in(x, bytes, &dx));
    TRY(op.in(xhat, bytes, &dh));
    /* in and out: the struct's padding keeps the caller's bytes, as on the CPU */
    TRY(op.inout(out, sizeof *out, &dout));
    TRY(op.temp((size_t)d * sizeof(double), &mu));
    TRY(op.temp((size_t)d * sizeof(double), &per_dim));
    TRY(op.temp((size_t)n * sizeof(double), &c));
    TRY(op.temp(3 * sizeof(double), &sums));
    cudaStream_t st = op.stream();
    column_sums(st, dx, nullptr, nullptr, n, d, T_X, 1, mu);
    column_sums(st, dx, nullptr, mu, n, d, T_D2, 0, per_dim);
    k_lane_sum<<<1, 32, 0, st>>>(per_dim, d, sums + 0); /* SST */
    column_sums(st, dx, dh, nullptr, n, d, T_E2, 0, per_dim);
    k_lane_sum<<<1, 32, 0, st>>>(per_dim, d, sums + 1); /* SSE */
    k_cos<<<warp_blocks(n), 256, 0, st>>>(dx, dh, n, d, c);
    k_lane_sum<<<1, 32, 0, st>>>(c, n, sums + 2);
    k_metrics_close<<<1, 1, 0, st>>>(sums, n, d, dout);
    return op.finish();
}

kvc_status cu_column_moments(const kvc_backend *be, const float *x, int64_t n, int d,
                             double *mu, double *var, double *m4, kvc_error *err)
{
    if (n < 1)
        return bad_shape(err, "column_moments");
    if (d < 1 || x == nullptr || mu == nullptr || var == nullptr || m4 == nullptr)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "moments of %zu vectors of %d dims",
                             (size_t)n, d);
    size_t bytes = 0;
    if (!bytes_of(n, d, sizeof(float), &bytes))
        return bad_shape(err, "column_moments");
    size_t db = (size_t)d * sizeof(double);
    kvc__cu_op op(be, "column_moments", err);
    const float *dx;
    double *dm, *dv, *d4;
    TRY(op.begin());
    TRY(op.in(x, bytes, &dx));
    TRY(op.out(mu, db, &dm));
    TRY(op.out(var, db, &dv));
    TRY(op.out(m4, db, &d4));
    cudaStream_t st = op.stream();
    column_sums(st, dx, nullptr, nullptr, n, d, T_X, 1, dm);
    column_sums(st, dx, nullptr, dm, n, d, T_D2, 1, dv);
    column_sums(st, dx, nullptr, dm, n, d, T_D4, 1, d4);
    return op.finish();
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

/* Columns of at most QB_THREADS * QB_ITEMS values: one block per column
 * sorts its keys in shared memory (CUB's block radix sort over all 64 key
 * bits; slots past n hold the largest key, so they sort after every real
 * value and the quantile, which reads indices below n, never sees them).
 * The sorted sequence is the one of the segmented path: a total order has
 * one. */
constexpr int QB_THREADS = 256, QB_ITEMS = 8;

__global__ void __launch_bounds__(QB_THREADS)
    k_quantile_block(const double *a, int64_t n, int d, double q, double *out)
{
    typedef cub::BlockRadixSort<unsigned long long, QB_THREADS, QB_ITEMS> sort_t;
    __shared__ typename sort_t::TempStorage tmp;
    __shared__ double sorted[QB_THREADS * QB_ITEMS];
    const int j = (int)blockIdx.x;
    unsigned long long keys[QB_ITEMS];
    for (int k = 0; k < QB_ITEMS; k++) {
        const int64_t i = (int64_t)threadIdx.x * QB_ITEMS + k;
        keys[k] = i < n ? (unsigned long long)key_of(a[i * d + j]) : ~0ull;
    }
    sort_t(tmp).Sort(keys); /* blocked arrangement: thread t holds ranks t*ITEMS.. */
    for (int k = 0; k < QB_ITEMS; k++)
        sorted[threadIdx.x * QB_ITEMS + k] = value_of(keys[k]);
    __syncthreads();
    if (threadIdx.x == 0)
        out[j] = kvc_quantile_linear_sorted(sorted, (uint64_t)n, q);
}

kvc_status cu_column_quantile(const kvc_backend *be, const double *a, int64_t n, int d, double q,
                              double *out, kvc_error *err)
{
    if (n < 1)
        return bad_shape(err, "column_quantile");
    if (d < 1 || a == nullptr || out == nullptr || !(q >= 0.0 && q <= 1.0))
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "quantile %g of %zu x %d", q,
                             (size_t)n, d);
    /* the GPU's own limit: CUB's segmented sort counts items in int */
    if (n > INT32_MAX / d)
        return kvc_error_set(err, KVC_LIMIT, "quantile of %lld x %d: over 2^31 values on the GPU",
                             (long long)n, d);
    int64_t total = n * d;
    size_t tb = (size_t)total * sizeof(double);
    kvc__cu_op op(be, "column_quantile", err);
    if (n <= QB_THREADS * QB_ITEMS) {
        const double *da;
        double *dout;
        TRY(op.begin());
        TRY(op.in(a, tb, &da));
        TRY(op.out(out, (size_t)d * sizeof(double), &dout));
        k_quantile_block<<<(unsigned)d, QB_THREADS, 0, op.stream()>>>(da, n, d, q, dout);
        return op.finish();
    }
    const double *da;
    double *dvals, *dout;
    uint64_t *kin, *kout;
    int *off;
    unsigned char *tmp;
    TRY(op.begin());
    TRY(op.in(a, tb, &da));
    TRY(op.out(out, (size_t)d * sizeof(double), &dout));
    TRY(op.temp((size_t)total * sizeof(uint64_t), &kin));
    TRY(op.temp((size_t)total * sizeof(uint64_t), &kout));
    TRY(op.temp(((size_t)d + 1) * sizeof(int), &off));
    TRY(op.temp(tb, &dvals));
    cudaStream_t st = op.stream();
    k_transpose_keys<<<kvc__grid_for((size_t)total, 256), 256, 0, st>>>(da, n, d, kin);
    k_offsets<<<kvc__grid_for((size_t)d + 1, 256), 256, 0, st>>>(off, d, (int)n);
    KVC_CUDA_TRY(cudaGetLastError(), err);
    size_t tbytes = 0;
    KVC_CUDA_TRY(cub::DeviceSegmentedRadixSort::SortKeys(nullptr, tbytes, kin, kout, (int)total, d,
                                                         off, off + 1, 0, 64, st),
                 err);
    TRY(op.temp(tbytes, &tmp));
    KVC_CUDA_TRY(cub::DeviceSegmentedRadixSort::SortKeys(tmp, tbytes, kin, kout, (int)total, d,
                                                         off, off + 1, 0, 64, st),
                 err);
    k_keys_to_values<<<kvc__grid_for((size_t)total, 256), 256, 0, st>>>(kout, total, dvals);
    k_quantile<<<kvc__grid_for((size_t)d, 128), 128, 0, st>>>(dvals, n, d, q, dout);
    return op.finish();
}

/* ------------------------------------------------------------ chaining helpers */

__global__ void k_widen_bf16(const uint16_t *x, int64_t n, float *out)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        out[i] = kvc_bf16_to_f32(x[i]);
}

kvc_status cu_widen_bf16(const kvc_backend *be, const uint16_t *x, int64_t n, float *out,
                         kvc_error *err)
{
    if (n < 0 || (n > 0 && (x == nullptr || out == nullptr)))
        return bad_shape(err, "widen_bf16");
    if (n == 0)
        return KVC_OK;
    size_t xb = 0, ob = 0;
    if (!bytes_of(n, 1, sizeof(uint16_t), &xb) || !bytes_of(n, 1, sizeof(float), &ob))
        return bad_shape(err, "widen_bf16");
    kvc__cu_op op(be, "widen_bf16", err);
    const uint16_t *dx;
    float *dy;
    TRY(op.begin());
    TRY(op.in(x, xb, &dx));
    TRY(op.out(out, ob, &dy));
    k_widen_bf16<<<kvc__grid_for((size_t)n, ET), ET, 0, op.stream()>>>(dx, n, dy);
    return op.finish();
}

/* One block per row (grid-stride over rows), the row in shared memory
 * (d floats): kvc_fwht_butterflies' stages h = 1, 2, 4, ... in order with
 * a barrier between them; pair p of a stage is (j, j + h) with
 * j = (p / h) * 2h + p % h, and v[j] = a + b, v[j + h] = a - b as there.
 * Then out = v * c, kvc_hadamard_f32's one multiply. x may equal out: a
 * block reads its whole row before it writes any of it. */
__global__ void k_hadamard_rows(const float *x, int64_t n, int d, float c, float *out)
{
    extern __shared__ float v[];
    const int half = d / 2;
    for (int64_t r = blockIdx.x; r < n; r += gridDim.x) {
        const float *xr = x + r * d;
        for (int i = threadIdx.x; i < d; i += blockDim.x)
            v[i] = xr[i];
        __syncthreads();
        for (int h = 1; h < d; h <<= 1) {
            for (int p = threadIdx.x; p < half; p += blockDim.x) {
                int j = (p / h) * 2 * h + p % h;
                float a = v[j];
                float b = v[j + h];
                v[j] = a + b;
                v[j + h] = a - b;
            }
            __syncthreads();
        }
        float *yr = out + r * d;
        for (int i = threadIdx.x; i < d; i += blockDim.x)
            yr[i] = v[i] * c;
        __syncthreads(); /* the next row's loads wait for every read of this one */
    }
}

kvc_status cu_hadamard_rows(const kvc_backend *be, const float *x, int64_t n, int d, float *out,
                            kvc_error *err)
{
    if (n < 0 || kvc_hadamard_log2(d) < 0 || (n > 0 && (x == nullptr || out == nullptr)))
        return bad_shape(err, "hadamard_rows");
    if (n == 0)
        return KVC_OK;
    size_t bytes = 0;
    if (!bytes_of(n, d, sizeof(float), &bytes))
        return bad_shape(err, "hadamard_rows");
    kvc__cu_op op(be, "hadamard_rows", err);
    const float *dx;
    float *dy;
    TRY(op.begin());
    TRY(op.in(x, bytes, &dx));
    TRY(op.out(out, bytes, &dy));
    unsigned threads = (unsigned)(d / 2 < 256 ? (d / 2 < 32 ? 32 : d / 2) : 256);
    unsigned blocks = (unsigned)(n < 65535 * 8 ? n : 65535 * 8);
    k_hadamard_rows<<<blocks, threads, (size_t)d * sizeof(float), op.stream()>>>(
        dx, n, d, kvc_hadamard_scale(d), dy);
    return op.finish();
}

__global__ void k_abs_scaled(const float *y, int64_t n, int d, const double *sigma, double *out)
{
    int64_t total = n * d;
    for (int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; t < total;
         t += (int64_t)gridDim.x * blockDim.x)
        out[t] = kvc_abs_scaled(y[t], sigma[t % d]);
}

kvc_status cu_abs_scaled(const kvc_backend *be, const float *y, int64_t n, int d,
                         const double *sigma, double *out, kvc_error *err)
{
    if (n < 0 || d < 1 || (n > 0 && (y == nullptr || sigma == nullptr || out == nullptr)))
        return bad_shape(err, "abs_scaled");
    if (n == 0)
        return KVC_OK;
    size_t yb = 0, ob = 0;
    if (!bytes_of(n, d, sizeof(float), &yb) || !bytes_of(n, d, sizeof(double), &ob))
        return bad_shape(err, "abs_scaled");
    kvc__cu_op op(be, "abs_scaled", err);
    const float *dy;
    const double *ds;
    double *dout;
    TRY(op.begin());
    TRY(op.in(y, yb, &dy));
    TRY(op.in(sigma, (size_t)d * sizeof(double), &ds));
    TRY(op.out(out, ob, &dout));
    k_abs_scaled<<<kvc__grid_for((size_t)n * (size_t)d, ET), ET, 0, op.stream()>>>(dy, n, d, ds,
                                                                                 dout);
    return op.finish();
}

/* first[0] = the smallest i with a[i] != b[i]. atomicMin on an integer
 * index: min is exact, associative and commutative, so the result does
 * not depend on which thread gets there first (deterministic). */
__global__ void k_first_difference(const uint32_t *a, const uint32_t *b, int64_t n,
                                   unsigned long long *first)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        if (a[i] != b[i])
            atomicMin(first, (unsigned long long)i);
}

__global__ void k_first_difference_out(const unsigned long long *first, int64_t *index)
{
    *index = *first == NONE ? -1 : (int64_t)*first;
}

kvc_status cu_first_difference(const kvc_backend *be, const void *a, const void *b,
                               int64_t nwords, int64_t *index, kvc_error *err)
{
    if (nwords < 0 || index == nullptr || (nwords > 0 && (a == nullptr || b == nullptr)))
        return bad_shape(err, "first_difference");
    size_t bytes = 0;
    if (!bytes_of(nwords, 1, sizeof(uint32_t), &bytes))
        return bad_shape(err, "first_difference");
    kvc__cu_op op(be, "first_difference", err);
    const uint32_t *da = nullptr, *db = nullptr;
    int64_t *di;
    unsigned long long *first;
    TRY(op.begin());
    if (nwords > 0) {
        TRY(op.in(static_cast<const uint32_t *>(a), bytes, &da));
        TRY(op.in(static_cast<const uint32_t *>(b), bytes, &db));
    }
    TRY(op.out(index, sizeof *index, &di));
    TRY(op.temp(sizeof *first, &first));
    KVC_CUDA_TRY(cudaMemsetAsync(first, 0xFF, sizeof *first, op.stream()), err); /* NONE */
    if (nwords > 0)
        k_first_difference<<<kvc__grid_for((size_t)nwords, ET), ET, 0, op.stream()>>>(da, db,
                                                                                    nwords, first);
    k_first_difference_out<<<1, 1, 0, op.stream()>>>(first, di);
    return op.finish();
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
    be->widen_bf16 = cu_widen_bf16;
    be->hadamard_rows = cu_hadamard_rows;
    be->abs_scaled = cu_abs_scaled;
    be->first_difference = cu_first_difference;
    be->fp8_ds_mla_encode = cu_ds_mla_encode;
    be->fp8_ds_mla_decode = cu_ds_mla_decode;
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
    big_scratch bs; /* D <= LOCAL_D or the warp kernel: no global scratch */
    bs.blocks = kvc__grid_for((size_t)n, VT);
    return launch_roundtrip(p, x, n, out, (cudaStream_t)stream, bs, err);
}
