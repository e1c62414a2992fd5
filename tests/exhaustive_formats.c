/* The full sweep: every binary32 input (2^32 of them) through every
 * encoder of core/formats.h (bf16, fp16, E4M3 satfinite and nan, E8M0 RZ
 * and RP), compared with the fast binary64 oracle of
 * tests/formats_oracle.h (itself checked against the search oracle by
 * tests/check_formats.c). Two threads (pthreads), each half the range.
 *
 * `make check-exhaustive` runs it (minutes). Output, per encoder:
 *   bf16: 4294967296 of 4294967296 match
 * and on a mismatch the first bad input in hex with both codes; the exit
 * status is then 1 (99 for a setup failure).
 *
 * Usage: exhaustive_formats [FIRST COUNT]  (hex; a partial sweep, for
 * timing or to re-run around a reported input)
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <time.h>

#include "core/formats.h"
#include "formats_oracle.h"

#define N_ENC 6
#define N_THREADS 2

static const char *const enc_names[N_ENC] = {"bf16",    "fp16",    "e4m3-satfinite",
                                             "e4m3-nan", "e8m0-rz", "e8m0-rp"};

typedef struct sweep_job {
    uint64_t begin, end; /* [begin, end) of binary32 patterns */
    uint64_t match[N_ENC];
    uint64_t bad[N_ENC];
    uint32_t first_bad[N_ENC], got[N_ENC], want[N_ENC];
    int setup_failed;
} sweep_job;

static void implementation(float x, uint32_t out[N_ENC])
{
    out[0] = kvc_f32_to_bf16(x);
    out[1] = kvc_f32_to_fp16(x);
    out[2] = kvc_f32_to_e4m3(x, KVC_E4M3_SATFINITE);
    out[3] = kvc_f32_to_e4m3(x, KVC_E4M3_NAN);
    out[4] = kvc_f32_to_e8m0(x, KVC_E8M0_RZ);
    out[5] = kvc_f32_to_e8m0(x, KVC_E8M0_RP);
}

static void oracle(float x, uint32_t out[N_ENC])
{
    out[0] = kvo_encode_fast(&kvo_bf16, x, KVO_OVERFLOW_INF);
    out[1] = kvo_encode_fast(&kvo_fp16, x, KVO_OVERFLOW_INF);
    out[2] = kvo_encode_fast(&kvo_e4m3, x, KVO_OVERFLOW_SAT);
    out[3] = kvo_encode_fast(&kvo_e4m3, x, KVO_OVERFLOW_NAN);
    out[4] = kvo_e8m0_encode(x, 0);
    out[5] = kvo_e8m0_encode(x, 1);
}

static void *sweep(void *arg)
{
    sweep_job *job = (sweep_job *)arg;
    /* the rounding mode is per thread; the oracle needs round-to-nearest */
    if (fesetround(FE_TONEAREST) != 0 || fegetround() != FE_TONEAREST) {
        job->setup_failed = 1;
        return NULL;
    }
    for (uint64_t b = job->begin; b < job->end; b++) {
        float x = kvo_f32((uint32_t)b);
        uint32_t got[N_ENC], want[N_ENC];
        implementation(x, got);
        oracle(x, want);
        for (int k = 0; k < N_ENC; k++) {
            if (got[k] == want[k]) {
                job->match[k]++;
            } else if (job->bad[k]++ == 0) {
                job->first_bad[k] = (uint32_t)b;
                job->got[k] = got[k];
                job->want[k] = want[k];
            }
        }
    }
    return NULL;
}

static int parse_hex(const char *s, uint64_t *v)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 16);
    if (errno != 0 || end == s || *end != '\0')
        return -1;
    *v = x;
    return 0;
}

int main(int argc, char **argv)
{
    uint64_t first = 0, count = UINT64_C(1) << 32;
    if (argc == 3) {
        if (parse_hex(argv[1], &first) != 0 || parse_hex(argv[2], &count) != 0 ||
            first > 0xFFFFFFFFu || count > (UINT64_C(1) << 32) - first) {
            fprintf(stderr, "usage: %s [FIRST COUNT] (hex, within 2^32)\n", argv[0]);
            return 2;
        }
    } else if (argc != 1) {
        fprintf(stderr, "usage: %s [FIRST COUNT] (hex, within 2^32)\n", argv[0]);
        return 2;
    }

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    sweep_job jobs[N_THREADS];
    pthread_t threads[N_THREADS];
    memset(jobs, 0, sizeof jobs);
    for (int t = 0; t < N_THREADS; t++) {
        jobs[t].begin = first + count * (uint64_t)t / N_THREADS;
        jobs[t].end = first + count * (uint64_t)(t + 1) / N_THREADS;
        if (pthread_create(&threads[t], NULL, sweep, &jobs[t]) != 0) {
            fprintf(stderr, "exhaustive_formats: pthread_create failed\n");
            return 99;
        }
    }
    for (int t = 0; t < N_THREADS; t++)
        pthread_join(threads[t], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    for (int t = 0; t < N_THREADS; t++) {
        if (jobs[t].setup_failed) {
            fprintf(stderr, "exhaustive_formats: cannot set FE_TONEAREST\n");
            return 99;
        }
    }

    printf("exhaustive_formats: binary32 inputs 0x%08" PRIx64 " .. 0x%08" PRIx64
           ", every encoder of core/formats.h against the binary64 oracle "
           "(tests/formats_oracle.h), %d threads\n",
           first, first + count - 1, N_THREADS);
    int failed = 0;
    for (int k = 0; k < N_ENC; k++) {
        uint64_t match = 0;
        for (int t = 0; t < N_THREADS; t++)
            match += jobs[t].match[k];
        printf("%s: %" PRIu64 " of %" PRIu64 " match\n", enc_names[k], match, count);
        /* threads cover increasing ranges: the first with a bad input has
         * the smallest one */
        for (int t = 0; t < N_THREADS; t++) {
            if (jobs[t].bad[k] == 0)
                continue;
            float x = kvo_f32(jobs[t].first_bad[k]);
            printf("%s: FAIL: first bad input 0x%08" PRIx32 " (%a): formats.h 0x%" PRIx32
                   ", oracle 0x%" PRIx32 "\n",
                   enc_names[k], jobs[t].first_bad[k], (double)x, jobs[t].got[k],
                   jobs[t].want[k]);
            failed = 1;
            break;
        }
    }
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("exhaustive_formats: %s in %.1f s\n", failed ? "FAILED" : "all match", secs);
    return failed ? 1 : 0;
}
