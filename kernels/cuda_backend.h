/* kvcert: the CUDA backend of the V4 KV write path (C linkage).
 *
 * kvc_backend_cuda_create returns a backend table (core/backend.h) whose
 * every operation runs on one GPU: matmul (a tiled SGEMM on the FP32
 * cores), round_bf16, act_quant, rmsnorm, rope, pool and kvsim. Each
 * kernel calls the SAME KVC_HD scalar functions as the CPU backend (the
 * headers of src/v4/ and src/core/), so both give the same bits on every
 * input whose result is not a NaN produced by arithmetic (see below).
 *
 * Arrays (core/backend.h): an operation given host arrays copies its
 * inputs to the device, runs its kernel, copies the outputs back and
 * waits; it returns only when the host output is written. Given backend
 * memory (mem_alloc: device memory with guard zones, tracked by the
 * backend) it uses the arrays in place and only queues the kernel on the
 * backend's stream, so a chain of operations runs without copies or
 * waits; mem_download and mem_sync wait and report failures of queued
 * work. Weight matrices live on the device: matrix_create uploads W once
 * (kvc_matrix.impl holds the device copy). Calls on one backend are
 * serialized (a mutex), so it may be shared between threads.
 *
 * Errors: every CUDA call is checked. KVC_CUDA_NO_DEVICE when there is no
 * device or driver; KVC_CUDA (with the CUDA error string and the source
 * line) for any other CUDA failure; never a silent CPU fallback. In a
 * build without CUDA every entry point returns KVC_BACKEND_UNAVAILABLE
 * (kernels/cuda_backend_stub.c).
 *
 * NaN: a NaN that an IEEE operation produces has a payload the hardware
 * chooses (x86 keeps an operand's payload and makes 0 * inf negative;
 * NVIDIA GPUs return 0x7FFFFFFF). Operations whose scalar code passes NaN
 * through arithmetic therefore agree on NaN-ness, not on NaN bits; only
 * round_bf16 (integer code) keeps every NaN bit for bit. `kvcert equiv`
 * feeds NaN to round_bf16 only.
 *
 * Environment: KVC_BENCH_CODEC_WARP_REF=1 makes the codec operations use
 * their former kernels (one vector per thread for encode/decode, the
 * shared-memory warp roundtrip), for bench_cuda's same-run comparison
 * only; the bits are the same either way (checked there and by the GPU
 * tests).
 *
 * The matmul kernel (kernels/cuda_matmul.cu) keeps SPEC 5.1's order for
 * every output: one accumulator, fmaf over k ascending from 0, starting
 * at +0; shared-memory tiles walk k in ascending order and a ragged last
 * tile runs only its real k (no padded fmaf, which could turn a -0 chain
 * into +0). No split-k, no tensor cores, no atomics, no library GEMM.
 */
#ifndef KVC_KERNELS_CUDA_BACKEND_H
#define KVC_KERNELS_CUDA_BACKEND_H

#include <stdint.h>

#include "core/backend.h"
#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A backend on CUDA device `device` (0-based), named "cuda:<device>".
 * KVC_CUDA_NO_DEVICE: no device or driver; KVC_INVALID_ARGUMENT: device
 * out of range; KVC_BACKEND_UNAVAILABLE: built without CUDA. *out is NULL
 * on failure. */
kvc_status kvc_backend_cuda_create(int device, kvc_backend **out, kvc_error *err);
/* Frees the backend's device memory and stream; NULL is allowed. Every
 * matrix made by it must be destroyed first. */
void kvc_backend_cuda_destroy(kvc_backend *be);

/* Guard zones for testing (off by default): when on, every device buffer
 * an operation writes gets 256 bytes before and after it filled with a
 * pattern, checked after the kernel; a kernel that wrote outside its
 * output makes the operation fail with KVC_INTERNAL naming the buffer.
 * Returns KVC_INVALID_ARGUMENT when be is not a CUDA backend. */
kvc_status kvc_backend_cuda_set_guard(kvc_backend *be, int on, kvc_error *err);

/* Whether a table is a CUDA backend made by kvc_backend_cuda_create. */
int kvc_backend_is_cuda(const kvc_backend *be);

/* FP8 block dequantization on the GPU (SPEC 3, v4/dequant_scalar.h):
 * out[o, i] = kvc_dequant_e4m3_e8m0(w[o, i], scale[o / 128, i / 128]),
 * host arrays; the same argument checks and statuses as the CPU's
 * kvc_dequant_fp8_block (v4/dequant.h). Runs on device `device`. */
kvc_status kvc_cuda_dequant_fp8_block(int device, const uint8_t *w, int64_t rows, int64_t cols,
                                      const uint8_t *scale, int64_t srows, int64_t scols,
                                      float *out, kvc_error *err);

/* ------------------------------------------------ device-pointer entry points
 * For the benchmark (bench/bench_cuda.c): the kernels on device memory the
 * caller owns, on the caller's stream (a cudaStream_t passed as void *;
 * NULL is the default stream). They launch and return without waiting.
 * Pointers must be device pointers on the current device. */

/* Matmul tilings: every one gives the same bits (each output's order is
 * fixed); they differ only in speed. KVC_CUDA_TILE_AUTO picks by shape. */
typedef enum kvc_cuda_tile {
    KVC_CUDA_TILE_AUTO = 0,
    /* block rows x columns x k tile / outputs per thread */
    KVC_CUDA_TILE_128x128x8 = 1,  /* 256 threads, 8x8 each */
    KVC_CUDA_TILE_128x128x16 = 2, /* 256 threads */
    KVC_CUDA_TILE_128x64x8 = 3,   /* 128 threads, 8x8 each */
    KVC_CUDA_TILE_128x64x16 = 4,  /* 128 threads */
    KVC_CUDA_TILE_128x64x16_4 = 5, /* 256 threads, 4x8 each */
    KVC_CUDA_TILE_64x128x16 = 6,  /* 128 threads, 8x8 each */
    KVC_CUDA_TILE_64x128x16_4 = 7, /* 256 threads, 4x8 each */
    KVC_CUDA_TILE_64x64x16 = 8,   /* 128 threads, 4x8 each */
    KVC_CUDA_TILE_COUNT = 9
} kvc_cuda_tile;

const char *kvc_cuda_tile_name(kvc_cuda_tile t);

/* The tiling a backend's matmul uses (default AUTO); for tests, which run
 * every tiling against the CPU. KVC_INVALID_ARGUMENT for a table that is
 * not a CUDA backend or an unknown tiling. */
kvc_status kvc_backend_cuda_set_tile(kvc_backend *be, kvc_cuda_tile tile, kvc_error *err);

/* y [rows, n] = x [rows, k] W^T, W [n, k], all row-major binary32. */
kvc_status kvc_cuda_matmul_device(const float *x, int64_t rows, const float *w, int64_t n,
                                  int64_t k, float *y, kvc_cuda_tile tile, void *stream,
                                  kvc_error *err);
/* count products of the same x in one launch: y[p] [rows, n[p]] =
 * x W[p]^T, W[p] [n[p], k]; each output as kvc_cuda_matmul_device's (the
 * same tile code, the same order), so the same bits. count <= 8. */
#define KVC_CUDA_MATMUL_GROUP_MAX 8
kvc_status kvc_cuda_matmul_group_device(const float *x, int64_t rows, int count,
                                        const float *const *w, const int64_t *n, int64_t k,
                                        float *const *y, kvc_cuda_tile tile, void *stream,
                                        kvc_error *err);
/* The dequantization kernel on device arrays (shapes already valid). */
kvc_status kvc_cuda_dequant_device(const uint8_t *w, int64_t rows, int64_t cols,
                                   const uint8_t *scale, int64_t scols, float *out,
                                   void *stream, kvc_error *err);

/* The codec roundtrip kernel (kernels/cuda_codec.cu) on device arrays
 * x, out [n, D] of the caller, launched on its stream without waiting;
 * D at most 1024 here (KVC_UNSUPPORTED above; the table handles any D). */
kvc_status kvc_cuda_codec_roundtrip_device(const struct kvc_kakeya_params *p, const float *x,
                                           int64_t n, float *out, void *stream,
                                           kvc_error *err);

#ifdef __cplusplus
}
#endif

#endif /* KVC_KERNELS_CUDA_BACKEND_H */
