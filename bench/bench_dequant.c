/* kvcert bench: FP8 block dequantization throughput as a ratio of memcpy.
 *
 * Dequantizing n E4M3 bytes reads n bytes (plus n/16384 scales) and writes
 * 4n: 5n bytes moved. memcpy of 2.5n bytes also moves 5n (read + write).
 * The ratio is t(memcpy 2.5n) / t(dequant n): 1.0 means dequantization
 * runs at memcpy's speed. Best of 5 runs each, buffers touched first so
 * page faults are not timed. kvc_dequant_fp8_block uses 2 threads for
 * tensors of >= 2^20 elements; memcpy runs on one. Goal: ratio >= 0.5.
 *
 * usage: bench_dequant [REPEATS]   (default 5)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "v4/dequant.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
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
    double best_dq = 1e30, best_mc = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        if (kvc_dequant_fp8_block(w, rows, cols, s, sr, sc, out, NULL) != KVC_OK) {
            fprintf(stderr, "bench_dequant: dequantization failed\n");
            return 1;
        }
        double t1 = now_s();
        memcpy(dst, src, mc);
        double t2 = now_s();
        src[r] ^= dst[mc - 1 - r] ^ (unsigned char)out[r]; /* keep both live */
        if (t1 - t0 < best_dq)
            best_dq = t1 - t0;
        if (t2 - t1 < best_mc)
            best_mc = t2 - t1;
    }
    double bytes = 5.0 * (double)n;
    printf("| %lld x %lld | %.2f | %.2f | %.2f |\n", (long long)rows, (long long)cols,
           bytes / best_dq * 1e-9, bytes / best_mc * 1e-9, best_mc / best_dq);
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
    printf("| shape | dequant GB/s | memcpy GB/s | ratio |\n|---|---|---|---|\n");
    if (bench_shape(512, 4096, reps) != 0 || bench_shape(4096, 4096, reps) != 0)
        return 1;
    return 0;
}
