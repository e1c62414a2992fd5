/* kvcert bench: the V4 write path on the CPU.
 *
 *   bench_v4 [SHARDS_DIR HIDDEN_FILE]
 *
 * 1. matmul y = x W^T at the pipeline shapes (2048 x 4096 by 4096 x 512
 *    and x 1024): kvcert's fixed-order kernel (default CPU backend) and
 *    OpenBLAS sgemm measured in the same run, best of 3 each, and the
 *    ratio kvcert / OpenBLAS in GFLOP/s. OpenBLAS is a bench-only
 *    dependency; it is not, and may not be, used for certified results
 *    (DESIGN rule 4: no library GEMM).
 * 2. with shards and hidden states (e.g. from `kvcert synth`): the time
 *    of the three streams of passage 0 under each profile, best of 3
 *    (the model is loaded once, outside the timing).
 * The machine may be shared: best-of-3 only removes some of the noise, so
 * the pipeline lines also give the CPU seconds the process used (all
 * threads): on idle cores the wall time is about that divided by the
 * thread count.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "core/backend.h"
#include "v4/pipeline.h"
#include "v4/profile.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* CPU seconds of this process (user + system, all threads). */
static double cpu_now(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static float *filled(size_t n, uint64_t seed)
{
    float *a = malloc(n * sizeof *a);
    if (a == NULL) {
        perror("malloc");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        a[i] = (float)((double)(seed >> 40) / (double)(1ull << 24)) - 0.5f;
    }
    return a;
}

static int bench_matmul(int64_t n)
{
    const int64_t T = 2048, K = 4096;
    const double flops = 2.0 * (double)T * (double)n * (double)K;
    float *x = filled((size_t)(T * K), 1), *w = filled((size_t)(n * K), 2);
    float *y = malloc(sizeof(float) * (size_t)(T * n));
    const kvc_backend *be = kvc_backend_cpu();
    kvc_matrix *m = NULL;
    kvc_error err;
    if (y == NULL || be->matrix_create(be, w, n, K, &m, &err) != KVC_OK) {
        fprintf(stderr, "bench: matrix_create failed\n");
        return 1;
    }
    double best_k = 1e30, best_b = 1e30;
    for (int r = 0; r < 3; r++) {
        double t0 = now();
        be->matmul(be, x, T, m, y, &err);
        double t = now() - t0;
        best_k = t < best_k ? t : best_k;
    }
    for (int r = 0; r < 3; r++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)n, (int)K, 1.0f, x,
                    (int)K, w, (int)K, 0.0f, y, (int)n);
        double t = now() - t0;
        best_b = t < best_b ? t : best_b;
    }
    printf("matmul 2048x4096 by 4096x%-4lld  kvcert %s: %6.1f GFLOP/s (%.3f s)   "
           "OpenBLAS sgemm: %6.1f GFLOP/s (%.3f s)   ratio %.2f\n",
           (long long)n, be->name, flops / best_k * 1e-9, best_k, flops / best_b * 1e-9, best_b,
           best_b / best_k);
    be->matrix_destroy(be, m);
    free(x);
    free(w);
    free(y);
    return 0;
}

static int bench_pipeline(const char *shards, const char *hidden)
{
    kvc_error err;
    kvc_v4_hidden *h = NULL;
    kvc_v4_model *m = NULL;
    char buf[1024];
    if (kvc_v4_hidden_open(hidden, &h, &err) != KVC_OK ||
        kvc_v4_model_load(kvc_backend_cpu(), shards, &m, &err) != KVC_OK) {
        fprintf(stderr, "bench: %s\n", kvc_error_format(&err, buf, sizeof buf));
        kvc_v4_hidden_close(h);
        return 1;
    }
    int64_t S = kvc_v4_hidden_seq_len(h);
    float *x = malloc(sizeof(float) * (size_t)S * KVC_V4_HIDDEN_DIM);
    if (x == NULL || kvc_v4_hidden_read(h, 0, x, &err) != KVC_OK)
        return 1;
    for (int i = 0; i < kvc_profile_count(); i++) {
        const kvc_profile *p = kvc_profile_at(i);
        double best = 1e30, best_cpu = 1e30;
        for (int r = 0; r < 3; r++) {
            kvc_v4_streams s;
            double c0 = cpu_now();
            double t0 = now();
            if (kvc_v4_streams_compute(m, p, x, S, &s, &err) != KVC_OK) {
                fprintf(stderr, "bench: %s\n", kvc_error_format(&err, buf, sizeof buf));
                return 1;
            }
            double t = now() - t0, c = cpu_now() - c0;
            kvc_v4_streams_free(&s);
            best = t < best ? t : best;
            best_cpu = c < best_cpu ? c : best_cpu;
        }
        printf("three streams, one passage, S = %lld, profile %-8s: %.3f s wall, %.3f CPU-s "
               "(best of 3, %s)\n",
               (long long)S, p->name, best, best_cpu, kvc_backend_cpu()->name);
    }
    free(x);
    kvc_v4_model_destroy(m);
    kvc_v4_hidden_close(h);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 1 && argc != 3) {
        fprintf(stderr, "usage: bench_v4 [SHARDS_DIR HIDDEN_FILE]\n");
        return 2;
    }
    const char *threads = getenv("KVC_THREADS");
    printf("threads: kvcert %s, OpenBLAS %d\n", threads != NULL ? threads : "(one per CPU)",
           openblas_get_num_threads());
    if (bench_matmul(512) != 0 || bench_matmul(1024) != 0)
        return 1;
    if (argc == 3)
        return bench_pipeline(argv[1], argv[2]);
    return 0;
}
