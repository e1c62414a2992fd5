/* kvcert bench: the CUDA backend on the GPU.
 *
 *   bench_cuda [--quick] [matmul|dequant|codec|passage|ops|pipeline ...]
 *   (sections to run; default all)
 *
 * 1. matmul y = x W^T at the pipeline shapes (2048 x 4096 by 4096 x 512
 *    and x 1024): kvcert's fixed-order SGEMM (every tiling, and the one
 *    the backend picks) against cuBLAS FP32 measured in the same run with
 *    TF32 off -- cublasSgemm under CUBLAS_DEFAULT_MATH and cublasGemmEx
 *    with CUBLAS_COMPUTE_32F_PEDANTIC -- the faster cuBLAS is the
 *    reference. Also checked: every tiling gives the same bits, those
 *    bits are the CPU backend's, and cuBLAS differs from them only by
 *    FP32 rounding (normwise relative difference printed: another FP32
 *    order gives ~1e-7, TF32 inputs would give ~1e-3). cuBLAS is a bench-only dependency, never used for results
 *    (DESIGN rule 4).
 * 2. FP8 dequantization (8192 x 16384 E4M3 + scales -> binary32) against
 *    cudaMemcpy device-to-device, both as bytes read + written per second.
 * 3. one passage's three streams (S = 2048, `kvcert synth` seed-1 shards
 *    made in a temporary folder) on the CUDA backend and on the CPU
 *    backend, per profile; the model is loaded once, outside the timing.
 *    "host in/out": binary32 input from the host, streams back to the
 *    host (kvc_v4_streams_compute); "resident": input already in backend
 *    memory, streams left there (kvc_v4_streams_compute_resident).
 * 5. the whole 8-passage pipeline as `kvcert audit` runs it, shards loaded
 *    first: per passage the streams from the hidden file's bf16 bytes,
 *    then per stream kvc_measure_stream (the audit; D4 and E8 at Q = 10
 *    and 38: roundtrip, encode, decode, decode == roundtrip; fp8_per64;
 *    fp8_ds_mla: simulation, encode, decode; the metrics), then the
 *    aggregation over the 8 passages (mean, std, CI of every rel_mse and
 *    ratio to fp8_per64, the layer-weighted E8 Q38 ratio). CUDA and CPU
 *    backend in the same run; their results are compared bit for bit.
 * 4. the KakeyaLattice roundtrip (E8 and D4, Q = 38) of 1 M vectors x 512
 *    on device memory (kvc_cuda_codec_roundtrip_device) against
 *    cudaMemcpy device-to-device of the same 2 GiB, both as bytes read +
 *    written per second (the roofline: the roundtrip reads x once and
 *    writes x^ once); also vectors per second. The former warp kernel
 *    is timed in the same run and its output compared bit for bit.
 * 5. codec encode and decode through the backend table on backend
 *    memory (E8 and D4, Q = 38, 1 M x 512 and 2048 x 512, the size of a
 *    passage's largest stream): the warp kernels against the
 *    one-vector-per-thread kernels in the same run (wall time per call,
 *    median; the per-thread kernels at 1 M: 5 runs), streams and
 *    decoded vectors compared bit for bit.
 * Kernel timings use CUDA events around each run; every figure is the
 * median of 25 runs after 3 warm-up runs (--quick: 5 runs, 1 warm-up).
 */
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "codec/kakeya.h"
#include "core/backend.h"
#include "kernels/cuda_backend.h"
#include "stats/aggregate.h"
#include "stats/metrics.h"
#include "stats/audit_run.h"
#include "v4/pipeline.h"
#include "v4/profile.h"
#include "v4/synth.h"

static int g_runs = 25, g_warm = 3;

#define CK(call)                                                                          \
    do {                                                                                  \
        cudaError_t rc_ = (call);                                                         \
        if (rc_ != cudaSuccess) {                                                         \
            fprintf(stderr, "bench_cuda: %s: %s (line %d)\n", #call, cudaGetErrorString(rc_), \
                    __LINE__);                                                            \
            exit(1);                                                                      \
        }                                                                                 \
    } while (0)

#define CB(call)                                                                          \
    do {                                                                                  \
        cublasStatus_t s_ = (call);                                                       \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                \
            fprintf(stderr, "bench_cuda: %s: cuBLAS status %d (line %d)\n", #call, (int)s_, \
                    __LINE__);                                                            \
            exit(1);                                                                      \
        }                                                                                 \
    } while (0)

#define KV(call)                                                                          \
    do {                                                                                  \
        kvc_error e_;                                                                     \
        if ((call) != KVC_OK) {                                                           \
            char b_[1024];                                                                \
            fprintf(stderr, "bench_cuda: %s: %s\n", #call, kvc_error_format(&e_, b_, 1024)); \
            exit(1);                                                                      \
        }                                                                                 \
    } while (0)

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (p == NULL) {
        perror("malloc");
        exit(1);
    }
    return p;
}

static float *filled(size_t n, uint64_t seed)
{
    float *a = xmalloc(n * sizeof *a);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        a[i] = (float)((double)(seed >> 40) / (double)(1ull << 24)) - 0.5f;
    }
    return a;
}

/* ------------------------------------------------------------ timing */

typedef void (*run_fn)(void *arg);

/* Median seconds of fn on stream s, each run between two events. */
static double time_runs(run_fn fn, void *arg, cudaStream_t s)
{
    cudaEvent_t a, b;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    double t[64];
    for (int i = 0; i < g_warm; i++)
        fn(arg);
    CK(cudaStreamSynchronize(s));
    for (int i = 0; i < g_runs; i++) {
        CK(cudaEventRecord(a, s));
        fn(arg);
        CK(cudaEventRecord(b, s));
        CK(cudaEventSynchronize(b));
        float ms = 0;
        CK(cudaEventElapsedTime(&ms, a, b));
        t[i] = ms * 1e-3;
    }
    CK(cudaEventDestroy(a));
    CK(cudaEventDestroy(b));
    return median(t, g_runs);
}

/* ------------------------------------------------------------ matmul */

typedef struct mm_job {
    const float *x, *w;
    float *y;
    int64_t m, n, k;
    kvc_cuda_tile tile;
    cudaStream_t s;
    cublasHandle_t h;
    int pedantic;
} mm_job;

static void run_kvcert(void *arg)
{
    mm_job *j = arg;
    KV(kvc_cuda_matmul_device(j->x, j->m, j->w, j->n, j->k, j->y, j->tile, j->s, &e_));
}

/* Row-major y [m, n] = x [m, k] W^T with W [n, k] is, column-major,
 * y^T [n, m] = W (as k x n, transposed) times x^T (k x m). */
static void run_cublas(void *arg)
{
    mm_job *j = arg;
    const float one = 1.0f, zero = 0.0f;
    if (!j->pedantic)
        CB(cublasSgemm(j->h, CUBLAS_OP_T, CUBLAS_OP_N, (int)j->n, (int)j->m, (int)j->k, &one,
                       j->w, (int)j->k, j->x, (int)j->k, &zero, j->y, (int)j->n));
    else
        CB(cublasGemmEx(j->h, CUBLAS_OP_T, CUBLAS_OP_N, (int)j->n, (int)j->m, (int)j->k, &one,
                        j->w, CUDA_R_32F, (int)j->k, j->x, CUDA_R_32F, (int)j->k, &zero, j->y,
                        CUDA_R_32F, (int)j->n, CUBLAS_COMPUTE_32F_PEDANTIC, CUBLAS_GEMM_DEFAULT));
}

static void bench_matmul(cublasHandle_t h, cudaStream_t s, int64_t n)
{
    const int64_t m = 2048, k = 4096;
    const double flop = 2.0 * (double)m * (double)n * (double)k;
    float *x = filled((size_t)(m * k), 1), *w = filled((size_t)(n * k), 2);
    size_t yn = (size_t)(m * n);
    float *ycpu = xmalloc(yn * 4), *yk = xmalloc(yn * 4), *yt = xmalloc(yn * 4),
          *yb = xmalloc(yn * 4);
    float *dx, *dw, *dy;
    CK(cudaMalloc((void **)&dx, (size_t)(m * k) * 4));
    CK(cudaMalloc((void **)&dw, (size_t)(n * k) * 4));
    CK(cudaMalloc((void **)&dy, yn * 4));
    CK(cudaMemcpy(dx, x, (size_t)(m * k) * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dw, w, (size_t)(n * k) * 4, cudaMemcpyHostToDevice));
    KV(kvc_backend_matmul_once(kvc_backend_cpu(), x, m, w, n, k, ycpu, &e_));

    mm_job j = {dx, dw, dy, m, n, k, KVC_CUDA_TILE_AUTO, s, h, 0};
    printf("matmul 2048x4096 by 4096x%lld (%.2f GFLOP):\n", (long long)n, flop * 1e-9);
    double t_auto = 0;
    int same_tilings = 1;
    for (int t = 0; t < KVC_CUDA_TILE_COUNT; t++) {
        j.tile = (kvc_cuda_tile)t;
        CK(cudaMemset(dy, 0xFF, yn * 4));
        double sec = time_runs(run_kvcert, &j, s);
        CK(cudaMemcpy(t == 0 ? yk : yt, dy, yn * 4, cudaMemcpyDeviceToHost));
        if (t > 0 && memcmp(yk, yt, yn * 4) != 0)
            same_tilings = 0;
        if (t == 0)
            t_auto = sec;
        printf("  kvcert %-8s %7.2f TFLOP/s  (%.3f ms)\n", kvc_cuda_tile_name(j.tile),
               flop / sec * 1e-12, sec * 1e3);
    }
    double t_blas[2];
    for (int p = 0; p < 2; p++) {
        j.pedantic = p;
        t_blas[p] = time_runs(run_cublas, &j, s);
        printf("  cuBLAS %-28s %7.2f TFLOP/s  (%.3f ms)\n",
               p ? "GemmEx COMPUTE_32F_PEDANTIC" : "Sgemm DEFAULT_MATH", flop / t_blas[p] * 1e-12,
               t_blas[p] * 1e3);
    }
    CK(cudaMemcpy(yb, dy, yn * 4, cudaMemcpyDeviceToHost));
    /* normwise: FP32 in another order ~1e-7, TF32 inputs ~1e-3 */
    double best = t_blas[0] < t_blas[1] ? t_blas[0] : t_blas[1], num = 0, den = 0;
    for (size_t i = 0; i < yn; i++) {
        double d = (double)yb[i] - (double)ycpu[i];
        num += d * d;
        den += (double)ycpu[i] * (double)ycpu[i];
    }
    double maxrel = sqrt(num / den);
    printf("  ratio kvcert (auto) / best cuBLAS: %.2f\n", best / t_auto);
    printf("  every tiling bit-identical: %s; identical to the CPU backend (%s): %s; "
           "cuBLAS normwise relative difference %.1e\n",
           same_tilings ? "yes" : "NO", kvc_backend_cpu()->name,
           memcmp(yk, ycpu, yn * 4) == 0 ? "yes" : "NO", maxrel);
    CK(cudaFree(dx));
    CK(cudaFree(dw));
    CK(cudaFree(dy));
    free(x);
    free(w);
    free(ycpu);
    free(yk);
    free(yt);
    free(yb);
}

/* ------------------------------------------------------------ dequant */

typedef struct dq_job {
    const uint8_t *w, *scale;
    float *out;
    void *copy_src;
    int64_t rows, cols, scols;
    size_t copy_bytes;
    cudaStream_t s;
} dq_job;

static void run_dequant(void *arg)
{
    dq_job *j = arg;
    KV(kvc_cuda_dequant_device(j->w, j->rows, j->cols, j->scale, j->scols, j->out, j->s, &e_));
}

static void run_copy(void *arg)
{
    dq_job *j = arg;
    CK(cudaMemcpyAsync(j->out, j->copy_src, j->copy_bytes, cudaMemcpyDeviceToDevice, j->s));
}

static void bench_dequant(cudaStream_t s)
{
    const int64_t rows = 8192, cols = 16384, sr = rows / 128, sc = cols / 128;
    const size_t n = (size_t)(rows * cols);
    uint8_t *hw = xmalloc(n), *hs = xmalloc((size_t)(sr * sc));
    for (size_t i = 0; i < n; i++)
        hw[i] = (uint8_t)((i * 2654435761u) >> 13) & 0x7Eu;
    for (int64_t i = 0; i < sr * sc; i++)
        hs[i] = (uint8_t)(115 + i % 10);
    uint8_t *dw, *ds;
    float *dout, *dsrc;
    CK(cudaMalloc((void **)&dw, n));
    CK(cudaMalloc((void **)&ds, (size_t)(sr * sc)));
    CK(cudaMalloc((void **)&dout, n * 4));
    CK(cudaMalloc((void **)&dsrc, n * 4));
    CK(cudaMemcpy(dw, hw, n, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(ds, hs, (size_t)(sr * sc), cudaMemcpyHostToDevice));
    CK(cudaMemset(dsrc, 0x3C, n * 4));
    dq_job j = {dw, ds, dout, dsrc, rows, cols, sc, n * 4, s};
    double td = time_runs(run_dequant, &j, s);
    double tc = time_runs(run_copy, &j, s);
    double bd = ((double)n + (double)(sr * sc) + 4.0 * (double)n) / td;
    double bc = 2.0 * (double)(n * 4) / tc;
    printf("dequant %lldx%lld E4M3 -> binary32: %7.1f GB/s (read + written, %.3f ms); "
           "cudaMemcpy D2D of %zu MiB: %7.1f GB/s (%.3f ms); ratio %.2f\n",
           (long long)rows, (long long)cols, bd * 1e-9, td * 1e3, n * 4 >> 20, bc * 1e-9, tc * 1e3,
           bd / bc);
    CK(cudaFree(dw));
    CK(cudaFree(ds));
    CK(cudaFree(dout));
    CK(cudaFree(dsrc));
    free(hw);
    free(hs);
}

/* ------------------------------------------------------------ codec roundtrip */

typedef struct rt_job {
    const kvc_kakeya_params *p;
    const float *x;
    float *out;
    int64_t n;
    cudaStream_t s;
} rt_job;

static void run_roundtrip(void *arg)
{
    rt_job *j = arg;
    KV(kvc_cuda_codec_roundtrip_device(j->p, j->x, j->n, j->out, j->s, &e_));
}

static void run_rt_copy(void *arg)
{
    rt_job *j = arg;
    CK(cudaMemcpyAsync(j->out, j->x, (size_t)j->n * 512 * sizeof(float),
                       cudaMemcpyDeviceToDevice, j->s));
}

/* The former warp kernel (kernels/codec_warp.cuh: selected while
 * KVC_BENCH_CODEC_WARP_REF=1) timed in the same run, and both kernels'
 * outputs compared bit for bit over all n x 512 elements (the input is
 * finite, so there is no NaN whose bits could differ); dout is
 * overwritten with the current kernel's output. */
static void bench_codec_ref(rt_job *j, float *dout, double tr)
{
    const size_t cnt = (size_t)j->n * 512;
    float *dref;
    CK(cudaMalloc((void **)&dref, cnt * 4));
    rt_job jr = *j;
    jr.out = dref;
    if (setenv("KVC_BENCH_CODEC_WARP_REF", "1", 1) != 0) {
        perror("setenv");
        exit(1);
    }
    double to = time_runs(run_roundtrip, &jr, j->s);
    unsetenv("KVC_BENCH_CODEC_WARP_REF");
    run_roundtrip(j); /* the current kernel, into dout */
    CK(cudaStreamSynchronize(j->s));
    float *hn = xmalloc(cnt * 4), *ho = xmalloc(cnt * 4);
    CK(cudaMemcpy(hn, dout, cnt * 4, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(ho, dref, cnt * 4, cudaMemcpyDeviceToHost));
    size_t first = cnt;
    for (size_t i = 0; i < cnt && first == cnt; i++)
        if (memcmp(&hn[i], &ho[i], 4) != 0)
            first = i;
    printf("  former warp kernel (same run): %.3f ms; speedup former/current %.2fx; outputs %s",
           to * 1e3, to / tr, first == cnt ? "bit-identical\n" : "DIFFER");
    if (first != cnt)
        printf(" from element %zu (vector %zu)\n", first, first / 512);
    free(hn);
    free(ho);
    CK(cudaFree(dref));
}

static void bench_codec(cudaStream_t s)
{
    const int64_t n = 1 << 20, d = 512;
    const size_t cnt = (size_t)(n * d);
    float *hx = filled(cnt, 77);
    float *dx, *dout;
    CK(cudaMalloc((void **)&dx, cnt * 4));
    CK(cudaMalloc((void **)&dout, cnt * 4));
    CK(cudaMemcpy(dx, hx, cnt * 4, cudaMemcpyHostToDevice));
    free(hx);
    kvc_kakeya_params p;
    kvc_error e;
    for (int k = 0; k < 2; k++) {
        if (kvc_kakeya_params_init(&p, k ? KVC_CODEC_D4 : KVC_CODEC_E8, (int)d, 38, &e) != KVC_OK) {
            fprintf(stderr, "bench_cuda: codec parameters: %s\n", e.detail);
            exit(1);
        }
        rt_job j = {&p, dx, dout, n, s};
        double tr = time_runs(run_roundtrip, &j, s);
        double tc = time_runs(run_rt_copy, &j, s);
        double br = 2.0 * (double)(cnt * 4) / tr, bc = 2.0 * (double)(cnt * 4) / tc;
        printf("codec roundtrip %s Q=38 %lld x %lld: %.3f ms, %.2f M vectors/s, %7.1f GB/s "
               "(read + written); cudaMemcpy D2D of %zu MiB: %7.1f GB/s (%.3f ms); ratio %.3f\n",
               k ? "D4" : "E8", (long long)n, (long long)d, tr * 1e3, (double)n / tr * 1e-6,
               br * 1e-9, cnt * 4 >> 20, bc * 1e-9, tc * 1e3, br / bc);
        bench_codec_ref(&j, dout, tr);
    }
    CK(cudaFree(dx));
    CK(cudaFree(dout));
}


/* ------------------------------------------------------------ codec encode, decode */

typedef struct io_job {
    const kvc_backend *be;
    const kvc_kakeya_params *p;
    const float *x;   /* backend memory */
    uint8_t *stream;  /* backend memory, size bytes */
    size_t size;
    float *out;       /* backend memory */
    int64_t n;
} io_job;

static void run_encode(void *arg)
{
    io_job *j = arg;
    KV(j->be->codec_encode(j->be, j->p, j->x, j->n, j->stream, j->size, &e_));
}

static void run_decode(void *arg)
{
    io_job *j = arg;
    KV(j->be->codec_decode(j->be, j->p, j->stream, j->size, j->n, j->out, &e_));
}

/* Median wall-clock seconds of one host call of fn, each followed by
 * cudaDeviceSynchronize (the backend runs on its own stream; decode
 * waits for its status anyway): what a caller of the backend table sees
 * per call, launch latency included. */
static double time_calls(run_fn fn, void *arg, int runs)
{
    double t[64];
    for (int i = 0; i < g_warm; i++)
        fn(arg);
    CK(cudaDeviceSynchronize());
    for (int i = 0; i < runs; i++) {
        double t0 = now();
        fn(arg);
        CK(cudaDeviceSynchronize());
        t[i] = now() - t0;
    }
    return median(t, runs);
}

/* Index of the first differing byte of two device buffers, or bytes. */
static size_t first_diff_dev(const void *a, const void *b, size_t bytes)
{
    unsigned char *ha = xmalloc(bytes), *hb = xmalloc(bytes);
    CK(cudaMemcpy(ha, a, bytes, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(hb, b, bytes, cudaMemcpyDeviceToHost));
    size_t i = 0;
    while (i < bytes && ha[i] == hb[i])
        i++;
    free(ha);
    free(hb);
    return i;
}

static void set_ref(int on)
{
    if (on ? setenv("KVC_BENCH_CODEC_WARP_REF", "1", 1) : unsetenv("KVC_BENCH_CODEC_WARP_REF")) {
        perror("setenv");
        exit(1);
    }
}

/* codec_encode and codec_decode through the backend table on backend
 * memory (E8 and D4, Q = 38, n vectors of 512), the warp kernels
 * (k_encode_warp / k_decode_warp) and the one-vector-per-thread kernels
 * (k_encode / k_decode, selected while KVC_BENCH_CODEC_WARP_REF=1) in
 * the same run: median wall time per call, and both kernels' streams
 * and decoded vectors compared bit for bit (finite input: no NaN). */
static void bench_codec_io(const kvc_backend *gpu, int64_t n, int ref_runs)
{
    const int d = 512;
    const size_t cnt = (size_t)n * (size_t)d;
    float *hx = filled(cnt, 91);
    void *dx, *dout, *dref;
    KV(gpu->mem_alloc(gpu, cnt * 4, &dx, &e_));
    KV(gpu->mem_alloc(gpu, cnt * 4, &dout, &e_));
    KV(gpu->mem_alloc(gpu, cnt * 4, &dref, &e_));
    CK(cudaMemcpy(dx, hx, cnt * 4, cudaMemcpyHostToDevice));
    free(hx);
    for (int k = 0; k < 2; k++) {
        kvc_kakeya_params p;
        KV(kvc_kakeya_params_init(&p, k ? KVC_CODEC_D4 : KVC_CODEC_E8, d, 38, &e_));
        size_t size = 0;
        KV(kvc_kakeya_stream_size(&p, (size_t)n, &size, &e_));
        void *ds, *dsr;
        KV(gpu->mem_alloc(gpu, size, &ds, &e_));
        KV(gpu->mem_alloc(gpu, size, &dsr, &e_));
        io_job j = {gpu, &p, dx, ds, size, dout, n};
        io_job jr = {gpu, &p, dx, dsr, size, dref, n};
        double te = time_calls(run_encode, &j, g_runs);
        double td = time_calls(run_decode, &j, g_runs);
        set_ref(1);
        double tre = time_calls(run_encode, &jr, ref_runs);
        double trd = time_calls(run_decode, &jr, ref_runs);
        set_ref(0);
        size_t fs = first_diff_dev(ds, dsr, size), fo = first_diff_dev(dout, dref, cnt * 4);
        printf("codec encode %s Q=38 %lld x %d: %.3f ms/call (%.2f M vectors/s); per-thread kernel "
               "%.3f ms; speedup %.2fx; streams %s",
               k ? "D4" : "E8", (long long)n, d, te * 1e3, (double)n / te * 1e-6, tre * 1e3,
               tre / te, fs == size ? "bit-identical\n" : "DIFFER");
        if (fs != size)
            printf(" from byte %zu\n", fs);
        printf("codec decode %s Q=38 %lld x %d: %.3f ms/call (%.2f M vectors/s); per-thread kernel "
               "%.3f ms; speedup %.2fx; outputs %s",
               k ? "D4" : "E8", (long long)n, d, td * 1e3, (double)n / td * 1e-6, trd * 1e3,
               trd / td, fo == cnt * 4 ? "bit-identical\n" : "DIFFER");
        if (fo != cnt * 4)
            printf(" from byte %zu (vector %zu)\n", fo, fo / (4 * (size_t)d));
        gpu->mem_free(gpu, ds);
        gpu->mem_free(gpu, dsr);
    }
    gpu->mem_free(gpu, dx);
    gpu->mem_free(gpu, dout);
    gpu->mem_free(gpu, dref);
}

/* ------------------------------------------------------------ one passage */

static double time_passage(const kvc_v4_model *m, const kvc_profile *p, const float *x,
                           int64_t S, int runs)
{
    double t[64];
    for (int i = 0; i < (g_warm < 1 ? 1 : g_warm) + runs; i++) {
        kvc_v4_streams out;
        double t0 = now();
        KV(kvc_v4_streams_compute(m, p, x, S, &out, &e_));
        double dt = now() - t0;
        kvc_v4_streams_free(&out);
        if (i >= (g_warm < 1 ? 1 : g_warm))
            t[i - (g_warm < 1 ? 1 : g_warm)] = dt;
    }
    return median(t, runs);
}

/* The chain with x already in backend memory and the streams left there
 * (mem_sync waits for the queued work). */
static double time_passage_resident(const kvc_v4_model *m, const kvc_profile *p, const float *x,
                                    int64_t S, int runs)
{
    const kvc_backend *be = kvc_v4_model_backend(m);
    size_t xb = sizeof(float) * (size_t)S * KVC_V4_HIDDEN_DIM;
    float *dx = NULL;
    KV(be->mem_alloc(be, xb, (void **)&dx, &e_));
    KV(be->mem_upload(be, dx, x, xb, &e_));
    double t[64];
    int warm = g_warm < 1 ? 1 : g_warm;
    for (int i = 0; i < warm + runs; i++) {
        uint16_t *kv[KVC_V4_NSTREAMS];
        double t0 = now();
        KV(kvc_v4_streams_compute_resident(m, p, dx, S, kv, &e_));
        KV(be->mem_sync(be, &e_));
        double dt = now() - t0;
        kvc_v4_streams_free_on(m, kv);
        if (i >= warm)
            t[i - warm] = dt;
    }
    be->mem_free(be, dx);
    return median(t, runs);
}

/* `kvcert synth` seed-1 shards and `passages` passages of hidden states
 * in a new temporary folder (KVC_BENCH_TMPDIR or /tmp). */
static void synth_make(char *dir, size_t size, char *hidden, size_t hsize, uint32_t passages)
{
    char path[1024];
    const char *tmp = getenv("KVC_BENCH_TMPDIR");
    snprintf(dir, size, "%s/kvcert-bench-cuda-XXXXXX", tmp != NULL ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        exit(1);
    }
    static const int layers[3] = {0, 2, 3};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, kvc_synth_shard_name(layers[i]));
        KV(kvc_synth_write_shard(1, layers[i], path, &e_));
    }
    snprintf(hidden, hsize, "%s/hidden.safetensors", dir);
    KV(kvc_synth_write_hidden(1, passages, hidden, &e_));
}

static void synth_remove(const char *dir, const char *hidden)
{
    char path[1024];
    static const int layers[3] = {0, 2, 3};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, kvc_synth_shard_name(layers[i]));
        unlink(path);
    }
    unlink(hidden);
    rmdir(dir);
}

static void bench_passage(kvc_backend *gpu)
{
    char dir[512], hidden[1024];
    synth_make(dir, sizeof dir, hidden, sizeof hidden, 1);
    kvc_v4_hidden *h = NULL;
    KV(kvc_v4_hidden_open(hidden, &h, &e_));
    int64_t S = kvc_v4_hidden_seq_len(h);
    float *x = xmalloc(sizeof(float) * (size_t)S * KVC_V4_HIDDEN_DIM);
    KV(kvc_v4_hidden_read(h, 0, x, &e_));
    kvc_v4_model *mg = NULL, *mc = NULL;
    KV(kvc_v4_model_load(gpu, dir, &mg, &e_));
    KV(kvc_v4_model_load(kvc_backend_cpu(), dir, &mc, &e_));
    int cpu_runs = g_runs < 20 ? g_runs : 20;
    for (int p = 0; p < kvc_profile_count(); p++) {
        const kvc_profile *prof = kvc_profile_at(p);
        double tg = time_passage(mg, prof, x, S, g_runs);
        double tr = time_passage_resident(mg, prof, x, S, g_runs);
        double tc = time_passage(mc, prof, x, S, cpu_runs);
        printf("passage S = %lld, profile %-8s: %s %8.2f ms (host in/out), %8.2f ms (resident); "
               "%s %8.2f ms; CPU / GPU %.1f (host in/out), %.1f (resident)\n",
               (long long)S, prof->name, gpu->name, tg * 1e3, tr * 1e3, kvc_backend_cpu()->name,
               tc * 1e3, tc / tg, tc / tr);
    }
    kvc_v4_model_destroy(mg);
    kvc_v4_model_destroy(mc);
    kvc_v4_hidden_close(h);
    free(x);
    synth_remove(dir, hidden);
}

/* ------------------------------------------------------------ the audit's operations */

/* Each operation of kvc_measure_stream at the stream sizes of a passage
 * (2048, 512 and 16 vectors of 512), arrays in backend memory, wall clock
 * of the call + mem_sync (median): where the per-stream time goes. */
typedef struct op_args {
    const kvc_backend *be;
    int64_t n;
    float *x, *y, *z;
    uint8_t *bytes;
    uint16_t *kvb;
    double *dd, *col;
    kvc_kakeya_params pe8, pd4;
    size_t sz8, sz4;
} op_args;

static double time_op(int which, op_args *a)
{
    const kvc_backend *be = a->be;
    const int64_t n = a->n;
    double t[32];
    int runs = g_runs < 21 ? g_runs : 21;
    for (int i = 0; i < 1 + runs; i++) {
        double t0 = now();
        kvc_recon_metrics m;
        double mu[512], var[512], m4[512];
        int64_t idx;
        switch (which) {
        case 0: KV(be->widen_bf16(be, a->kvb, n * 512, a->x, &e_)); break;
        case 1: KV(be->column_moments(be, a->x, n, 512, mu, var, m4, &e_)); break;
        case 2: KV(be->hadamard_rows(be, a->x, n, 512, a->y, &e_)); break;
        case 3: KV(be->abs_scaled(be, a->y, n, 512, a->col, a->dd, &e_)); break;
        case 4: KV(be->column_quantile(be, a->dd, n, 512, 0.99, mu, &e_)); break;
        case 5: KV(be->codec_roundtrip(be, &a->pe8, a->x, n, a->y, &e_)); break;
        case 6: KV(be->codec_encode(be, &a->pe8, a->x, n, a->bytes, a->sz8, &e_)); break;
        case 7: KV(be->codec_decode(be, &a->pe8, a->bytes, a->sz8, n, a->z, &e_)); break;
        case 8: KV(be->codec_roundtrip(be, &a->pd4, a->x, n, a->y, &e_)); break;
        case 9: KV(be->codec_encode(be, &a->pd4, a->x, n, a->bytes, a->sz4, &e_)); break;
        case 10: KV(be->codec_decode(be, &a->pd4, a->bytes, a->sz4, n, a->z, &e_)); break;
        case 11: KV(be->first_difference(be, a->y, a->z, n * 512, &idx, &e_)); break;
        case 12: KV(be->recon_metrics(be, a->x, a->y, n, 512, &m, &e_)); break;
        case 13: KV(be->fp8_per64(be, a->x, n, a->y, &e_)); break;
        case 14: KV(be->fp8_ds_mla(be, a->x, n, a->y, &e_)); break;
        case 15: KV(be->fp8_ds_mla_encode(be, a->x, n, a->bytes, &e_)); break;
        case 16:
            KV(be->fp8_ds_mla_decode(be, a->bytes, (size_t)n * 584, n, a->z, &e_));
            break;
        }
        KV(be->mem_sync(be, &e_));
        if (i > 0)
            t[i - 1] = now() - t0;
    }
    return median(t, runs);
}

static void bench_audit_ops(kvc_backend *gpu)
{
    static const char *const names[17] = {
        "widen_bf16",       "column_moments",  "hadamard_rows",     "abs_scaled",
        "column_quantile",  "E8 roundtrip",    "E8 encode",         "E8 decode",
        "D4 roundtrip",     "D4 encode",       "D4 decode",         "first_difference",
        "recon_metrics",    "fp8_per64",       "fp8_ds_mla",        "fp8_ds_mla_encode",
        "fp8_ds_mla_decode"};
    static const int64_t ns[3] = {2048, 512, 16};
    const kvc_backend *be = gpu;
    op_args a;
    memset(&a, 0, sizeof a);
    a.be = be;
    KV(kvc_kakeya_params_init(&a.pe8, KVC_CODEC_E8, 512, 38, &e_));
    KV(kvc_kakeya_params_init(&a.pd4, KVC_CODEC_D4, 512, 38, &e_));
    const int64_t nmax = 2048;
    float *hx = filled((size_t)nmax * 512, 7);
    uint16_t *hb = xmalloc((size_t)nmax * 512 * 2);
    double sig[512];
    for (int64_t i = 0; i < nmax * 512; i++) {
        uint32_t u;
        memcpy(&u, &hx[i], 4);
        hb[i] = (uint16_t)(u >> 16);
    }
    for (int j = 0; j < 512; j++)
        sig[j] = 0.25 + j * 1e-3;
    KV(be->mem_alloc(be, (size_t)nmax * 512 * 4, (void **)&a.x, &e_));
    KV(be->mem_alloc(be, (size_t)nmax * 512 * 4, (void **)&a.y, &e_));
    KV(be->mem_alloc(be, (size_t)nmax * 512 * 4, (void **)&a.z, &e_));
    KV(be->mem_alloc(be, (size_t)nmax * 584, (void **)&a.bytes, &e_));
    KV(be->mem_alloc(be, (size_t)nmax * 512 * 2, (void **)&a.kvb, &e_));
    KV(be->mem_alloc(be, (size_t)nmax * 512 * 8, (void **)&a.dd, &e_));
    KV(be->mem_alloc(be, 512 * 8, (void **)&a.col, &e_));
    KV(be->mem_upload(be, a.kvb, hb, (size_t)nmax * 512 * 2, &e_));
    KV(be->mem_upload(be, a.col, sig, sizeof sig, &e_));
    printf("audit operations on %s, arrays in backend memory, median wall time per call "
           "(call + mem_sync):\n", be->name);
    double total[3] = {0, 0, 0};
    for (int k = 0; k < 17; k++) {
        printf("  %-18s", names[k]);
        for (int j = 0; j < 3; j++) {
            a.n = ns[j];
            KV(kvc_kakeya_stream_size(&a.pe8, (size_t)a.n, &a.sz8, &e_));
            KV(kvc_kakeya_stream_size(&a.pd4, (size_t)a.n, &a.sz4, &e_));
            KV(be->widen_bf16(be, a.kvb, a.n * 512, a.x, &e_));
            if (k == 7)
                KV(be->codec_encode(be, &a.pe8, a.x, a.n, a.bytes, a.sz8, &e_));
            if (k == 10)
                KV(be->codec_encode(be, &a.pd4, a.x, a.n, a.bytes, a.sz4, &e_));
            if (k == 16)
                KV(be->fp8_ds_mla_encode(be, a.x, a.n, a.bytes, &e_));
            if (k == 3 || k == 4)
                KV(be->hadamard_rows(be, a.x, a.n, 512, a.y, &e_));
            if (k == 4)
                KV(be->abs_scaled(be, a.y, a.n, 512, a.col, a.dd, &e_));
            double t = time_op(k, &a);
            total[j] += t;
            printf("  n %4lld: %8.1f us", (long long)a.n, t * 1e6);
        }
        printf("\n");
    }
    printf("  %-18s  n 2048: %8.1f us  n  512: %8.1f us  n   16: %8.1f us\n", "sum", total[0] * 1e6,
           total[1] * 1e6, total[2] * 1e6);
    void *bufs[] = {a.x, a.y, a.z, a.bytes, a.kvb, a.dd, a.col};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        be->mem_free(be, bufs[i]);
    free(hx);
    free(hb);
}

/* ------------------------------------------------------------ 8 passages */

#define P8 8

typedef struct pipe8 {
    kvc_stream_measure ms[P8][KVC_V4_NSTREAMS];
    kvc_stats_agg agg[KVC_V4_NSTREAMS][KVC_MEASURE_MAX_CODECS]; /* ratio to fp8_per64 */
    double lw_mean, lw_hw; /* layer-weighted E8 Q38 / fp8_per64 */
} pipe8;

/* Aggregation (stats/aggregate.h, published t table, exact sums): per
 * stream and codec the per-passage ratio rel_mse / fp8_per64's. */
static void aggregate8(pipe8 *r)
{
    double mean[KVC_ROLE_COUNT], hw[KVC_ROLE_COUNT], w[KVC_ROLE_COUNT];
    for (int i = 0; i < KVC_V4_NSTREAMS; i++) {
        const kvc_stream_measure *m0 = &r->ms[0][i];
        for (size_t c = 0; c < m0->ncodec; c++) {
            double v[P8];
            for (int p = 0; p < P8; p++)
                v[p] = r->ms[p][i].codec[c].rel_mse /
                       kvc_measure_find(&r->ms[p][i], "fp8_per64_baseline")->rel_mse;
            kvc_stats_aggregate(v, P8, NULL, &r->agg[i][c]);
            if (strcmp(m0->codec[c].name, "v15_e8_Q38") == 0) {
                mean[i] = r->agg[i][c].mean;
                hw[i] = r->agg[i][c].ci95_hw;
            }
        }
    }
    kvc_stats_default_layers(w);
    KV(kvc_stats_layer_weighted(mean, hw, w, &r->lw_mean, &r->lw_hw, &e_));
}

/* The 8 passages on m's backend; x8 non-NULL: binary32 inputs already in
 * backend memory (resident), else the hidden file's bf16 bytes. */
static double run8(const kvc_v4_model *m, kvc_measure_work *w, const kvc_v4_hidden *h,
                   float *const *x8, const kvc_profile *prof, int64_t S, pipe8 *r)
{
    static const uint32_t q[2] = {10, 38};
    const kvc_measure_spec spec = {q, 2, 1, 1, 1};
    double t0 = now();
    for (int p = 0; p < P8; p++) {
        uint16_t *kv[KVC_V4_NSTREAMS];
        if (x8 != NULL)
            KV(kvc_v4_streams_compute_resident(m, prof, x8[p], S, kv, &e_));
        else
            KV(kvc_v4_streams_compute_bf16_on(m, prof, kvc_v4_hidden_bf16(h, p), S, kv, &e_));
        for (int i = 0; i < KVC_V4_NSTREAMS; i++)
            KV(kvc_measure_stream(w, &spec, p, kvc_v4_stream_name((kvc_v4_stream)i), kv[i],
                                  (size_t)(S / kvc_v4_stream_ratio((kvc_v4_stream)i)),
                                  &r->ms[p][i], &e_));
        kvc_v4_streams_free_on(m, kv);
    }
    aggregate8(r);
    return now() - t0;
}

static int same_f64(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

/* Every measured and aggregated number, bit for bit (field by field:
 * the structs have padding). */
static int same8(const pipe8 *a, const pipe8 *b)
{
    int ok = same_f64(a->lw_mean, b->lw_mean) && same_f64(a->lw_hw, b->lw_hw);
    for (int p = 0; p < P8; p++)
        for (int i = 0; i < KVC_V4_NSTREAMS; i++) {
            const kvc_stream_measure *x = &a->ms[p][i], *y = &b->ms[p][i];
            ok = ok && x->ncodec == y->ncodec &&
                 same_f64(x->audit.excess_kurtosis_abs, y->audit.excess_kurtosis_abs) &&
                 same_f64(x->audit.isotropy_variance_ratio, y->audit.isotropy_variance_ratio) &&
                 same_f64(x->audit.hadamard_post_variance_ratio,
                          y->audit.hadamard_post_variance_ratio) &&
                 same_f64(x->audit.rms_wasserstein2_over_sigma_per_dim,
                          y->audit.rms_wasserstein2_over_sigma_per_dim);
            for (size_t c = 0; ok && c < x->ncodec; c++)
                ok = same_f64(x->codec[c].rel_mse, y->codec[c].rel_mse) &&
                     same_f64(x->codec[c].cos_sim, y->codec[c].cos_sim) &&
                     x->codec[c].matches_roundtrip == y->codec[c].matches_roundtrip &&
                     same_f64(a->agg[i][c].mean, b->agg[i][c].mean) &&
                     same_f64(a->agg[i][c].std, b->agg[i][c].std) &&
                     same_f64(a->agg[i][c].ci95_hw, b->agg[i][c].ci95_hw);
        }
    return ok;
}

static void bench_pipeline8(kvc_backend *gpu)
{
    char dir[512], hidden[1024];
    synth_make(dir, sizeof dir, hidden, sizeof hidden, P8);
    kvc_v4_hidden *h = NULL;
    KV(kvc_v4_hidden_open(hidden, &h, &e_));
    const int64_t S = kvc_v4_hidden_seq_len(h);
    const kvc_backend *cpu = kvc_backend_cpu();
    kvc_v4_model *mg = NULL, *mc = NULL;
    kvc_measure_work *wg = NULL, *wc = NULL;
    KV(kvc_v4_model_load(gpu, dir, &mg, &e_));
    KV(kvc_v4_model_load(cpu, dir, &mc, &e_));
    KV(kvc_measure_work_create(gpu, &wg, &e_));
    KV(kvc_measure_work_create(cpu, &wc, &e_));
    /* the resident inputs: 8 passages of binary32 in device memory */
    const size_t xb = sizeof(float) * (size_t)S * KVC_V4_HIDDEN_DIM;
    float *xh = xmalloc(xb), *x8[P8];
    for (int p = 0; p < P8; p++) {
        KV(kvc_v4_hidden_read(h, p, xh, &e_));
        KV(gpu->mem_alloc(gpu, xb, (void **)&x8[p], &e_));
        KV(gpu->mem_upload(gpu, x8[p], xh, xb, &e_));
    }
    free(xh);
    pipe8 *rg = xmalloc(sizeof *rg), *rr = xmalloc(sizeof *rr), *rc = xmalloc(sizeof *rc);
    const int runs = g_runs < 9 ? g_runs : 9;
    for (int pi = 0; pi < kvc_profile_count(); pi++) {
        const kvc_profile *prof = kvc_profile_at(pi);
        double tg[16], tr[16];
        for (int i = 0; i < 1 + runs; i++) { /* one warm-up */
            double a = run8(mg, wg, h, NULL, prof, S, rg);
            double b = run8(mg, wg, h, x8, prof, S, rr);
            if (i > 0) {
                tg[i - 1] = a;
                tr[i - 1] = b;
            }
        }
        double tc = run8(mc, wc, h, NULL, prof, S, rc);
        int same = same8(rg, rc) && same8(rr, rc);
        double g = median(tg, runs), rs = median(tr, runs);
        printf("pipeline 8 passages x S = %lld, profile %-8s: %s %8.2f ms (%.2f ms/passage; "
               "resident inputs %.2f ms/passage), %s %9.1f ms (%.1f ms/passage, 1 run); "
               "CPU / GPU %.1f; measurements and aggregates %s (E8 Q38/FP8 layer-weighted "
               "%.6f +- %.6f)\n",
               (long long)S, prof->name, gpu->name, g * 1e3, g * 1e3 / P8, rs * 1e3 / P8,
               cpu->name, tc * 1e3, tc * 1e3 / P8, tc / g,
               same ? "bit-identical CPU vs GPU" : "DIFFER CPU vs GPU", rc->lw_mean, rc->lw_hw);
    }
    free(rg);
    free(rr);
    free(rc);
    for (int p = 0; p < P8; p++)
        gpu->mem_free(gpu, x8[p]);
    kvc_measure_work_destroy(wg);
    kvc_measure_work_destroy(wc);
    kvc_v4_model_destroy(mg);
    kvc_v4_model_destroy(mc);
    kvc_v4_hidden_close(h);
    synth_remove(dir, hidden);
}

int main(int argc, char **argv)
{
    static const char *const sections[] = {"matmul", "dequant", "codec", "passage", "ops",
                                           "pipeline"};
    enum { NSEC = sizeof sections / sizeof sections[0] };
    int want[NSEC] = {0}, any = 0;
    for (int i = 1; i < argc; i++) {
        int k = -1;
        for (int j = 0; j < NSEC; j++)
            if (strcmp(argv[i], sections[j]) == 0)
                k = j;
        if (strcmp(argv[i], "--quick") == 0) {
            g_runs = 5;
            g_warm = 1;
        } else if (k >= 0) {
            want[k] = any = 1;
        } else {
            fprintf(stderr, "usage: bench_cuda [--quick] [matmul|dequant|codec|passage|ops|"
                            "pipeline ...] (default: all)\n");
            return 2;
        }
    }
    for (int j = 0; j < NSEC; j++)
        want[j] = want[j] || !any;
    kvc_backend *gpu = NULL;
    kvc_error err;
    kvc_status st = kvc_backend_cuda_create(0, &gpu, &err);
    if (st != KVC_OK) {
        char b[1024];
        fprintf(stderr, "bench_cuda: %s\n", kvc_error_format(&err, b, sizeof b));
        return st == KVC_CUDA_NO_DEVICE ? 77 : 1;
    }
    struct cudaDeviceProp prop;
    int rt = 0, drv = 0;
    CK(cudaGetDeviceProperties(&prop, 0));
    CK(cudaRuntimeGetVersion(&rt));
    CK(cudaDriverGetVersion(&drv));
    time_t now_t = time(NULL);
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%d", gmtime(&now_t));
    printf("device: %s, %d SMs, runtime %d, driver %d, %s; medians of %d runs after %d warm-up\n",
           prop.name, prop.multiProcessorCount, rt, drv, date, g_runs, g_warm);
    cudaStream_t s;
    CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    cublasHandle_t h;
    CB(cublasCreate(&h));
    CB(cublasSetStream(h, s));
    CB(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH)); /* no TF32 */
    if (want[0]) {
        bench_matmul(h, s, 512);
        bench_matmul(h, s, 1024);
    }
    if (want[1])
        bench_dequant(s);
    if (want[2]) {
        bench_codec(s);
        bench_codec_io(gpu, 1 << 20, g_runs < 5 ? g_runs : 5);
        bench_codec_io(gpu, 2048, g_runs); /* one passage stream's size */
    }
    if (want[3])
        bench_passage(gpu);
    if (want[4])
        bench_audit_ops(gpu);
    if (want[5])
        bench_pipeline8(gpu);
    CB(cublasDestroy(h));
    CK(cudaStreamDestroy(s));
    kvc_backend_cuda_destroy(gpu);
    return 0;
}
