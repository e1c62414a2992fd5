/* kvcert bench: FP8 block dequantization throughput as a ratio of memcpy.
 *
 * Dequantizing n E4M3 bytes reads n bytes (plus n/16384 scales) and writes
 * 4n: 5n bytes moved. memcpy of 2.5n bytes also moves 5n (read + write).
 * The ratio is t(memcpy 2.5n) / t(dequant n): 1.0 means dequantization
 * runs at memcpy's speed. Best of 5 runs each, buffers touched first so
 * page faults are not timed. kvc_dequant_fp8_block uses 2 threads for
 * tensors of >= 2^22 elements (so 4096 x 4096, not 512 x 4096); memcpy runs
 * on one. Goal: ratio >= 0.5.
 *
 * On a shared machine wall time is noisy, so each line also gives the
 * rate per CPU-second of the process (user + system time of all its
 * threads, getrusage), which barely moves with other load: the CPU ratio
 * compares the work each needs, the wall ratio what one saw.
 *
 * usage: bench_dequant [REPEATS]   (default 5)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "v4/dequant.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int bench_shape(int64_t rows, int64_t cols, int reps)
{
    size_t n = (size_t)(rows * cols);
    int64_t sr = kvc_dequant_tiles(rows), sc = kvc_dequant_tiles(cols);
    size_t mc = n * 5 / 2;
    uint8_t *w = malloc(n), *s = malloc((size_t)(sr * sc));
    float *out = malloc(n * sizeof(float));
    unsigned char *src = malloc(mc), *dst = malloc(mc);
    if (w == NULL || s == NULL || out == NULL || src == NULL || dst == NULL) {
        fprintf(stderr, "bench_dequant: out of memory\n");
        return 1;
    }
    uint64_t seed = 1;
    for (size_t i = 0; i < n; i++)
        w[i] = (uint8_t)rnd(&seed);
    for (int64_t i = 0; i < sr * sc; i++)
        s[i] = (uint8_t)(110 + rnd(&seed) % 8);
    memset(out, 0, n * sizeof(float));
    memset(src, 1, mc);
    memset(dst, 0, mc);
    double best_dq = 1e30, best_mc = 1e30, cpu_dq = 1e30, cpu_mc = 1e30;
    for (int r = 0; r < reps; r++) {
        double c0 = cpu_s(), t0 = now_s();
        if (kvc_dequant_fp8_block(w, rows, cols, s, sr, sc, out, NULL) != KVC_OK) {
            fprintf(stderr, "bench_dequant: dequantization failed\n");
            return 1;
        }
        double t1 = now_s(), c1 = cpu_s();
        memcpy(dst, src, mc);
        double t2 = now_s(), c2 = cpu_s();
        src[r] ^= dst[mc - 1 - r] ^ (unsigned char)out[r]; /* keep both live */
        best_dq = t1 - t0 < best_dq ? t1 - t0 : best_dq;
        best_mc = t2 - t1 < best_mc ? t2 - t1 : best_mc;
        /* getrusage ticks are coarse (about 1 ms here): keep positive ones */
        if (c1 - c0 > 0 && c1 - c0 < cpu_dq)
            cpu_dq = c1 - c0;
        if (c2 - c1 > 0 && c2 - c1 < cpu_mc)
            cpu_mc = c2 - c1;
    }
    double bytes = 5.0 * (double)n;
    printf("| %lld x %lld | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n", (long long)rows,
           (long long)cols, bytes / best_dq * 1e-9, bytes / best_mc * 1e-9, best_mc / best_dq,
           bytes / cpu_dq * 1e-9, bytes / cpu_mc * 1e-9, cpu_mc / cpu_dq);
    free(w);
    free(s);
    free(out);
    free(src);
    free(dst);
    return 0;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 5;
    if (reps < 1)
        reps = 1;
    printf("FP8 dequantization vs memcpy, bytes read + written, best of %d\n\n", reps);
    printf("| shape | dequant GB/s | memcpy GB/s | wall ratio | dequant GB/CPU-s | memcpy "
           "GB/CPU-s | CPU ratio |\n|---|---|---|---|---|---|---|\n");
    if (bench_shape(512, 4096, reps) != 0 || bench_shape(4096, 4096, reps) != 0)
        return 1;
    return 0;
}
