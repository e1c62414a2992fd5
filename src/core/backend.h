/* kvcert: compute backends as tables of operations (DESIGN.md).
 *
 * A backend is a table of function pointers. The V4 pipeline calls every
 * operation through it and never knows which backend runs. The CPU table
 * (kvc_backend_cpu) always exists; the CUDA table implements the same
 * entries with kernels that call the same KVC_HD scalar code, so both give
 * the same bits.
 *
 * Every operation takes plain host arrays (binary32 floats, or uint16_t
 * bf16 bit patterns) with explicit shapes, row-major, and returns a
 * kvc_status (KVC_OK, KVC_INVALID_ARGUMENT for a bad shape, KVC_NOMEM, or
 * a backend failure such as KVC_CUDA). No operation does file I/O.
 *
 * Extending the table: add new members at the END of struct kvc_backend
 * (later issues add the codec and statistics operations); a backend that
 * lacks an operation leaves it NULL and callers report
 * KVC_BACKEND_UNAVAILABLE.
 *
 * What each operation computes is SPEC.md section 5 and 6, with the
 * reduction orders documented next to the scalar code in the headers in src/v4/.
 */
#ifndef KVC_CORE_BACKEND_H
#define KVC_CORE_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The KV FP8 simulations of SPEC 6 (per 64-dim block, dt = bf16). */
typedef enum kvc_kvsim_kind {
    KVC_KVSIM_UNIFORM127 = 0, /* 6.1: 127-level uniform grid in bf16 (stage075) */
    KVC_KVSIM_E4M3 = 1,       /* 6.2: E4M3, continuous scale amax/448 (intended) */
    KVC_KVSIM_E4M3_POW2 = 2   /* 6.3: E4M3, power-of-two scale (v4) */
} kvc_kvsim_kind;

/* A weight matrix W [n, k] prepared by a backend for y = x W^T (packed
 * into the CPU kernels' panel layout, or uploaded to a device). Created
 * and destroyed through the backend that uses it; impl is that backend's
 * own data, tag says which backend made it (the name of its table). */
typedef struct kvc_matrix {
    int64_t n, k;
    const char *tag;
    void *impl;
} kvc_matrix;

typedef struct kvc_backend kvc_backend;
struct kvc_kakeya_params;  /* codec/kakeya.h */
struct kvc_recon_metrics;  /* stats/metrics.h */

struct kvc_backend {
    const char *name; /* "cpu-avx2", "cpu-avx512", "cpu-scalar", "cuda:0" ... */
    void *ctx;        /* the backend's own state; NULL for the default CPU */

    /* ------------------------------------------------ matrix products */
    /* Prepares W [n, k] (row-major binary32); w may be freed afterwards. */
    kvc_status (*matrix_create)(const kvc_backend *be, const float *w, int64_t n, int64_t k,
                                kvc_matrix **out, kvc_error *err);
    void (*matrix_destroy)(const kvc_backend *be, kvc_matrix *m);
    /* y[t, o] = sum_k x[t, k] W[o, k] for t < rows (SPEC 5.1): binary32,
     * k ascending from 0, each step one fmaf, the chain starting at +0.
     * x is [rows, k], y is [rows, n] (k, n those of the matrix). */
    kvc_status (*matmul)(const kvc_backend *be, const float *x, int64_t rows,
                         const kvc_matrix *w, float *y, kvc_error *err);

    /* ------------------------------------------------ element-wise */
    /* x <- bf16(x), in place (a bf16 tensor held in binary32). */
    kvc_status (*round_bf16)(const kvc_backend *be, float *x, int64_t n, kvc_error *err);
    /* The v4 profile's input activation quantization, in place: each run
     * of 128 features of each row becomes E4M3 with a power-of-two scale,
     * widened back to binary32 (SPEC 4 and 6.3; src/v4/kvsim.h).
     * cols must be a multiple of 128. */
    kvc_status (*act_quant)(const kvc_backend *be, float *x, int64_t rows, int64_t cols,
                            kvc_error *err);

    /* ------------------------------------------------ per row */
    /* RMSNorm (SPEC 5.2, src/v4/norm.h): y = bf16(g * (x * r)),
     * r = 1 / sqrt(mean(x^2) + eps), mean in the documented fixed order.
     * x [rows, d] binary32, g [d], y [rows, d] bf16 bits. */
    kvc_status (*rmsnorm)(const kvc_backend *be, const float *x, int64_t rows, int64_t d,
                          const float *g, float eps, uint16_t *y, kvc_error *err);
    /* RoPE (SPEC 5.3, src/v4/rope.h) in place on the bf16 rows x [rows,
     * stride]: the 2*nfreq dims starting at column offset, row i at
     * position i * pos_step, with the frequencies freqs[nfreq] (from
     * kvc_rope_freqs). */
    kvc_status (*rope)(const kvc_backend *be, uint16_t *x, int64_t rows, int64_t stride,
                       int64_t offset, const float *freqs, int nfreq, int64_t pos_step,
                       kvc_error *err);
    /* The compressor's gated pooling (SPEC 5.5 steps 2-4, src/v4/pool.h):
     * kv and score [tokens, coff*d] binary32, ape [ratio, coff*d]; tokens a
     * multiple of ratio; overlap = 1 needs coff = 2 (the r = 4 transform),
     * overlap = 0 needs coff = 1. out [tokens/ratio, d] binary32. */
    kvc_status (*pool)(const kvc_backend *be, const float *kv, const float *score,
                       const float *ape, int64_t tokens, int64_t ratio, int overlap,
                       int64_t d, float *out, kvc_error *err);
    /* KV FP8 simulation (SPEC 6, src/v4/kvsim.h) in place on the bf16 rows
     * x [rows, stride]: dims 0..dims-1 in blocks of 64 (dims a multiple
     * of 64, at most stride). */
    kvc_status (*kvsim)(const kvc_backend *be, uint16_t *x, int64_t rows, int64_t stride,
                        int64_t dims, kvc_kvsim_kind kind, kvc_error *err);

    /* ------------------------------------------------ codecs (SPEC 7) */
    /* The KakeyaLattice roundtrip (codec/kakeya.h) of n vectors x [n, D]
     * -> out [n, D], D and Q those of p (kvc_kakeya_params_init). */
    kvc_status (*codec_roundtrip)(const kvc_backend *be, const struct kvc_kakeya_params *p,
                                  const float *x, int64_t n, float *out, kvc_error *err);
    /* kvcert's bitstream: encode n vectors into stream[size] (size must be
     * kvc_kakeya_stream_size), decode it back (KVC_BITSTREAM as the CPU's
     * kvc_kakeya_decode: the first impossible record or nonzero padding). */
    kvc_status (*codec_encode)(const kvc_backend *be, const struct kvc_kakeya_params *p,
                               const float *x, int64_t n, uint8_t *stream, size_t size,
                               kvc_error *err);
    kvc_status (*codec_decode)(const kvc_backend *be, const struct kvc_kakeya_params *p,
                               const uint8_t *stream, size_t size, int64_t n, float *out,
                               kvc_error *err);
    /* The FP8 baselines (codec/fp8block.h) of n 512-dim vectors. */
    kvc_status (*fp8_per64)(const kvc_backend *be, const float *x, int64_t n, float *out,
                            kvc_error *err);
    kvc_status (*fp8_ds_mla)(const kvc_backend *be, const float *x, int64_t n, float *out,
                             kvc_error *err);

    /* ------------------------------------------------ statistics (SPEC 7.3-7.4) */
    /* rel_mse and cos_sim (stats/metrics.h's lane order) of xhat vs x [n, d]. */
    kvc_status (*recon_metrics)(const kvc_backend *be, const float *x, const float *xhat,
                                int64_t n, int d, struct kvc_recon_metrics *out,
                                kvc_error *err);
    /* The audit's per-dim moments of x [n, d] (stats/audit.h):
     * mu_j = S_i(x)/N, var_j = S_i(d*d)/N, m4_j = S_i((d*d)*(d*d))/N. */
    kvc_status (*column_moments)(const kvc_backend *be, const float *x, int64_t n, int d,
                                 double *mu, double *var, double *m4, kvc_error *err);
    /* Per column j of a [n, d] (binary64): the q quantile by sorting
     * (-0 before +0, NaN last) and kvc_quantile_linear_sorted. */
    kvc_status (*column_quantile)(const kvc_backend *be, const double *a, int64_t n, int d,
                                  double q, double *out, kvc_error *err);

    /* ------------------------------------------------ backend memory */
    /* Arrays that stay on the backend between operations (CUDA: device
     * memory), so a chain of operations copies nothing between its steps.
     * Every operation above and below accepts, for any array argument,
     * either host memory (copied in and out, as always) or backend memory:
     * a range lying wholly inside one block from mem_alloc (a range that
     * starts inside a block and runs past its end is KVC_INVALID_ARGUMENT,
     * never an out-of-bounds access). Operations whose outputs are all
     * backend memory may return before they have run (CUDA queues them on
     * the backend's stream in call order); mem_download and mem_sync wait
     * for everything queued and report the first failure of it. Results
     * are the same bits either way. The CPU's backend memory is malloc'd
     * host memory and every operation is synchronous there. */
    kvc_status (*mem_alloc)(const kvc_backend *be, size_t bytes, void **out, kvc_error *err);
    /* Frees a block from mem_alloc (NULL is a no-op); waits for queued work. */
    void (*mem_free)(const kvc_backend *be, void *p);
    /* Host -> backend memory (dst inside one block). */
    kvc_status (*mem_upload)(const kvc_backend *be, void *dst, const void *src, size_t bytes,
                             kvc_error *err);
    /* Backend memory -> host, after all queued work (src inside one block). */
    kvc_status (*mem_download)(const kvc_backend *be, void *dst, const void *src, size_t bytes,
                               kvc_error *err);
    /* Waits for all queued work; its first failure, if any. */
    kvc_status (*mem_sync)(const kvc_backend *be, kvc_error *err);
    /* Backend memory -> backend memory (each range inside one block; the
     * ranges must not overlap). Queued like an operation. */
    kvc_status (*mem_copy)(const kvc_backend *be, void *dst, const void *src, size_t bytes,
                           kvc_error *err);

    /* ------------------------------------------------ chaining helpers */
    /* out[i] = binary32 value of the bf16 bits x[i] (exact). */
    kvc_status (*widen_bf16)(const kvc_backend *be, const uint16_t *x, int64_t n, float *out,
                             kvc_error *err);
    /* Each row of x [n, d] times the normalized Hadamard matrix into out
     * (kvc_hadamard_f32 with kvc_hadamard_scale(d); codec/hadamard.h);
     * d a power of two, 1..4096 (d = 1: H = (1), a multiply by 1). out may equal x. */
    kvc_status (*hadamard_rows)(const kvc_backend *be, const float *x, int64_t n, int d,
                                float *out, kvc_error *err);
    /* The audit's W2 input (stats/audit.h): out[i*d + j] =
     * fabs((double)y[i*d + j] / sigma[j]), binary64. */
    kvc_status (*abs_scaled)(const kvc_backend *be, const float *y, int64_t n, int d,
                             const double *sigma, double *out, kvc_error *err);
    /* The first i < nwords where the 32-bit words a[i] and b[i] differ, in
     * *index, or -1 when they are identical. */
    kvc_status (*first_difference)(const kvc_backend *be, const void *a, const void *b,
                                   int64_t nwords, int64_t *index, kvc_error *err);
    /* fp8_ds_mla records (codec/fp8block.h): n 584-byte records of n
     * 512-dim vectors, and back (KVC_BITSTREAM as kvc_fp8_ds_mla_decode:
     * the first record with a NaN scale or a nonzero pad byte, or size != n * 584). */
    kvc_status (*fp8_ds_mla_encode)(const kvc_backend *be, const float *x, int64_t n,
                                    uint8_t *rec, kvc_error *err);
    kvc_status (*fp8_ds_mla_decode)(const kvc_backend *be, const uint8_t *rec, size_t size,
                                    int64_t n, float *out, kvc_error *err);

    /* ------------------------------------------------ grouped products */
    /* count products of the same x [rows, k] (1 <= count <= 8; every W
     * with the same k): y[p] = x W[p]^T, each exactly as matmul computes
     * it. A backend may run them in one launch; the bits are matmul's. */
    kvc_status (*matmul_group)(const kvc_backend *be, const float *x, int64_t rows, int count,
                               const kvc_matrix *const *w, float *const *y, kvc_error *err);

    /* New operations go here, at the end. */
};

/* ------------------------------------------------------------ the CPU */

/* Instruction sets the CPU matmul can use. Every one gives the same bits. */
typedef enum kvc_cpu_isa {
    KVC_CPU_ISA_AUTO = 0, /* the widest this machine supports */
    KVC_CPU_ISA_SCALAR,   /* portable C (fmaf) */
    KVC_CPU_ISA_AVX2,     /* AVX2 + FMA, 6 x 16 register tiles */
    KVC_CPU_ISA_AVX512    /* AVX-512F, 12 x 32 register tiles */
} kvc_cpu_isa;

/* The default CPU backend: the widest ISA this machine supports and one
 * thread per online CPU (the environment variable KVC_THREADS, 1..256,
 * overrides the count). Static; never destroyed. */
const kvc_backend *kvc_backend_cpu(void);

/* A CPU backend with a chosen ISA and thread count (threads 0 = default).
 * KVC_UNSUPPORTED when this machine or build lacks the ISA. */
kvc_status kvc_backend_cpu_create(kvc_cpu_isa isa, int threads, kvc_backend **out,
                                  kvc_error *err);
void kvc_backend_cpu_destroy(kvc_backend *be);

/* Whether this machine (and build) can run the ISA; "scalar", "avx2" ... */
int kvc_cpu_isa_supported(kvc_cpu_isa isa);
const char *kvc_cpu_isa_name(kvc_cpu_isa isa);

/* Convenience: y = x W^T through a backend, preparing W for one use. */
kvc_status kvc_backend_matmul_once(const kvc_backend *be, const float *x, int64_t rows,
                                   const float *w, int64_t n, int64_t k, float *y,
                                   kvc_error *err);

#ifdef __cplusplus
}
#endif

#endif /* KVC_CORE_BACKEND_H */
