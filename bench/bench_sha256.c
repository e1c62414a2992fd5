/* kvcert bench: SHA-256 throughput of the digest module and the verifier.
 *
 *   (a) OpenSSL's own in-memory EVP SHA-256 on a 256 MiB buffer: the ceiling;
 *   (b) kvc_sha256_file on a 1 GiB file with the page cache warm (the file
 *       is read once first), for each read method and block size, and the
 *       default: the ratio to (a) is the goal (>= 0.9);
 *   (c) two 512 MiB files through kvc_manifest_verify on 2 threads (and on
 *       1 for reference): aggregate rate and its ratio to 2 x (a).
 * Every figure is the best of --repeat runs (default 3): on a shared
 * machine the best run is the one least disturbed by other work.
 *
 * usage: bench_sha256 [--repeat N] [--tmpdir DIR] [--small]
 *   --small  64 MiB buffer / 128 MiB file / 2 x 64 MiB (a quick check)
 * The scratch directory defaults to $KVC_BENCH_TMPDIR, else /tmp; its
 * files are deleted before the program exits. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "io/digest.h"
#include "io/manifest.h"

#define MIB ((uint64_t)1024 * 1024)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void fill(unsigned char *p, size_t n, uint64_t seed)
{
    for (size_t i = 0; i + 8 <= n; i += 8) {
        uint64_t v = splitmix(&seed);
        memcpy(p + i, &v, 8);
    }
    for (size_t i = n & ~(size_t)7; i < n; i++)
        p[i] = (unsigned char)splitmix(&seed);
}

static int write_file(const char *path, uint64_t size, uint64_t seed)
{
    size_t chunk = (size_t)(16 * MIB);
    unsigned char *buf = malloc(chunk);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (buf == NULL || fd < 0) {
        fprintf(stderr, "bench_sha256: cannot create %s: %s\n", path, strerror(errno));
        free(buf);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    for (uint64_t done = 0; done < size;) {
        size_t n = size - done < chunk ? (size_t)(size - done) : chunk;
        fill(buf, n, seed + done);
        if (write(fd, buf, n) != (ssize_t)n) {
            fprintf(stderr, "bench_sha256: write %s: %s\n", path, strerror(errno));
            free(buf);
            close(fd);
            return -1;
        }
        done += n;
    }
    free(buf);
    return close(fd);
}

/* Reads the whole file once so later runs find it in the page cache. */
static void warm(const char *path)
{
    uint8_t d[KVC_SHA256_SIZE];
    (void)kvc__sha256_file_with(path, KVC__SHA256_READ, (size_t)(4 * MIB), d, NULL, NULL, NULL,
                                NULL);
}

static double best_evp(const unsigned char *buf, size_t n, int repeat)
{
    double best = 1e30;
    for (int r = 0; r < repeat; r++) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        double t0 = now_s();
        if (EVP_Digest(buf, n, md, &len, EVP_sha256(), NULL) != 1) {
            fprintf(stderr, "bench_sha256: EVP_Digest failed\n");
            exit(1);
        }
        double t = now_s() - t0;
        if (t < best)
            best = t;
    }
    return best;
}

static double best_file(const char *path, kvc__sha256_method method, size_t block, int repeat)
{
    double best = 1e30;
    for (int r = 0; r < repeat; r++) {
        uint8_t d[KVC_SHA256_SIZE];
        kvc_error err;
        kvc_error_clear(&err);
        double t0 = now_s();
        kvc_status st = kvc__sha256_file_with(path, method, block, d, NULL, NULL, NULL, &err);
        double t = now_s() - t0;
        if (st != KVC_OK) {
            char b[1024];
            fprintf(stderr, "bench_sha256: %s\n", kvc_error_format(&err, b, sizeof b));
            exit(1);
        }
        if (t < best)
            best = t;
    }
    return best;
}

static double best_default_file(const char *path, int repeat)
{
    double best = 1e30;
    for (int r = 0; r < repeat; r++) {
        uint8_t d[KVC_SHA256_SIZE];
        double t0 = now_s();
        if (kvc_sha256_file(path, d, NULL, NULL, NULL, NULL) != KVC_OK)
            exit(1);
        double t = now_s() - t0;
        if (t < best)
            best = t;
    }
    return best;
}

static double best_verify(const kvc_manifest *m, const char *dir, int threads, int repeat)
{
    double best = 1e30;
    for (int r = 0; r < repeat; r++) {
        kvc_error err;
        kvc_error_clear(&err);
        double t0 = now_s();
        kvc_status st = kvc_manifest_verify(m, dir, threads, NULL, NULL, &err);
        double t = now_s() - t0;
        if (st != KVC_OK) {
            char b[1024];
            fprintf(stderr, "bench_sha256: verify: %s\n", kvc_error_format(&err, b, sizeof b));
            exit(1);
        }
        if (t < best)
            best = t;
    }
    return best;
}

static double gbps(uint64_t bytes, double s)
{
    return (double)bytes / s / 1e9;
}

int main(int argc, char **argv)
{
    int repeat = 3, small = 0;
    const char *tmp = getenv("KVC_BENCH_TMPDIR");
    if (tmp == NULL)
        tmp = "/tmp";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else if (strcmp(argv[i], "--tmpdir") == 0 && i + 1 < argc)
            tmp = argv[++i];
        else if (strcmp(argv[i], "--small") == 0)
            small = 1;
        else {
            fprintf(stderr, "usage: bench_sha256 [--repeat N] [--tmpdir DIR] [--small]\n");
            return 2;
        }
    }
    if (repeat < 1)
        repeat = 1;
    uint64_t buf_size = (small ? 64 : 256) * MIB;
    uint64_t file_size = (small ? 128 : 1024) * MIB;
    uint64_t pair_size = (small ? 64 : 512) * MIB;

    printf("SHA-256 benchmark, best of %d runs (GB = 10^9 bytes)\n", repeat);

    /* (a) */
    unsigned char *buf = malloc((size_t)buf_size);
    if (buf == NULL) {
        fprintf(stderr, "bench_sha256: out of memory\n");
        return 1;
    }
    fill(buf, (size_t)buf_size, 1);
    double t_mem = best_evp(buf, (size_t)buf_size, repeat);
    free(buf);
    double mem_rate = gbps(buf_size, t_mem);
    printf("(a) EVP in memory, %llu MiB buffer:        %6.3f GB/s\n",
           (unsigned long long)(buf_size / MIB), mem_rate);

    /* (b) */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/kvcert-bench-XXXXXX", tmp);
    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "bench_sha256: mkdtemp %s: %s\n", dir, strerror(errno));
        return 1;
    }
    char big[4200], f1[4200], f2[4200];
    snprintf(big, sizeof big, "%s/big.bin", dir);
    snprintf(f1, sizeof f1, "%s/one.bin", dir);
    snprintf(f2, sizeof f2, "%s/two.bin", dir);
    int rc = 0;
    if (write_file(big, file_size, 2) != 0) {
        rc = 1;
        goto out;
    }
    warm(big);
    static const size_t blocks[] = {64 * 1024, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024};
    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++) {
        double t = best_file(big, KVC__SHA256_READ, blocks[i], repeat);
        printf("(b) file %llu MiB, read(2) %5zu KiB blocks: %6.3f GB/s  ratio %.3f\n",
               (unsigned long long)(file_size / MIB), blocks[i] / 1024, gbps(file_size, t),
               gbps(file_size, t) / mem_rate);
    }
    {
        double t = best_file(big, KVC__SHA256_MMAP, 1, repeat);
        printf("(b) file %llu MiB, mmap + MADV_SEQUENTIAL: %6.3f GB/s  ratio %.3f\n",
               (unsigned long long)(file_size / MIB), gbps(file_size, t),
               gbps(file_size, t) / mem_rate);
        t = best_default_file(big, repeat);
        printf("(b) kvc_sha256_file (default, %zu KiB):    %6.3f GB/s  ratio %.3f (goal >= 0.9)\n",
               KVC__SHA256_DEFAULT_BLOCK / 1024, gbps(file_size, t),
               gbps(file_size, t) / mem_rate);
    }
    unlink(big);

    /* (c) */
    if (write_file(f1, pair_size, 3) != 0 || write_file(f2, pair_size, 4) != 0) {
        rc = 1;
        goto out;
    }
    {
        static const char *const names[] = {"one.bin", "two.bin"};
        char mpath[4300];
        snprintf(mpath, sizeof mpath, "%s/manifest.json", dir);
        kvc_error err;
        kvc_error_clear(&err);
        kvc_manifest *m = NULL;
        /* writing the manifest hashes both files: it also warms the cache */
        if (kvc_manifest_write_for_files(dir, names, 2, mpath, &err) != KVC_OK ||
            kvc_manifest_read(mpath, &m, &err) != KVC_OK) {
            char b[1024];
            fprintf(stderr, "bench_sha256: %s\n", kvc_error_format(&err, b, sizeof b));
            unlink(mpath);
            rc = 1;
            goto out;
        }
        unlink(mpath);
        double t2 = best_verify(m, dir, 2, repeat);
        double t1 = best_verify(m, dir, 1, repeat);
        kvc_manifest_destroy(m);
        uint64_t total = 2 * pair_size;
        printf("(c) verify 2 x %llu MiB, 1 thread:          %6.3f GB/s\n",
               (unsigned long long)(pair_size / MIB), gbps(total, t1));
        printf("(c) verify 2 x %llu MiB, 2 threads:         %6.3f GB/s  ratio to 2 x (a) %.3f\n",
               (unsigned long long)(pair_size / MIB), gbps(total, t2),
               gbps(total, t2) / (2 * mem_rate));
    }
out:
    unlink(big);
    unlink(f1);
    unlink(f2);
    rmdir(dir);
    return rc;
}
