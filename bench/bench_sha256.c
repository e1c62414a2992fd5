/* kvcert bench: SHA-256 throughput of the digest module and the verifier.
 *
 *   (a) OpenSSL's own in-memory EVP SHA-256 on a 256 MiB buffer: the ceiling;
 *   (b) kvc_sha256_file on a 1 GiB file with the page cache warm (the file
 *       is read once first), for each read method and block size, and the
 *       default: the ratio to (a) is the goal (>= 0.9);
 *   (c) two 512 MiB files through kvc_manifest_verify on 1 and 2 threads:
 *       aggregate rate and its ratio to threads x (a).
 * Each figure is the best of --repeat rounds (default 3); every round runs
 * every measurement once, so all see the same spells of outside load.
 * Wall-clock rates are what a user gets on an idle machine; rates per
 * CPU-second of the process (user + system, all threads) are printed
 * beside them because on a shared machine they barely move with other
 * load, and they include read(2)'s copy and mmap's page faults.
 *
 * usage: bench_sha256 [--repeat N] [--tmpdir DIR] [--small]
 *   --small  64 MiB buffer / 128 MiB file / 2 x 64 MiB (a quick check)
 * The scratch directory defaults to $KVC_BENCH_TMPDIR, else /tmp; its
 * files (about 2 GiB) are deleted before the program exits. */
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

/* CPU seconds of the whole process (all threads, user + system): on a
 * shared machine this, unlike wall time, barely moves with other load. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Best (smallest) wall and CPU seconds of one measured thing. */
typedef struct best {
    double wall, cpu;
} best;

static void best_init(best *b)
{
    b->wall = 1e30;
    b->cpu = 1e30;
}

static void best_note(best *b, double wall, double cpu)
{
    if (wall < b->wall)
        b->wall = wall;
    if (cpu < b->cpu)
        b->cpu = cpu;
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

static void time_evp(const unsigned char *buf, size_t n, best *b)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    double w0 = now_s(), c0 = cpu_s();
    if (EVP_Digest(buf, n, md, &len, EVP_sha256(), NULL) != 1) {
        fprintf(stderr, "bench_sha256: EVP_Digest failed\n");
        exit(1);
    }
    best_note(b, now_s() - w0, cpu_s() - c0);
}

/* method < 0: the public kvc_sha256_file. */
static void time_file(const char *path, int method, size_t block, best *b)
{
    uint8_t d[KVC_SHA256_SIZE];
    kvc_error err;
    kvc_error_clear(&err);
    double w0 = now_s(), c0 = cpu_s();
    kvc_status st = method < 0 ? kvc_sha256_file(path, d, NULL, NULL, NULL, &err)
                               : kvc__sha256_file_with(path, (kvc__sha256_method)method, block, d,
                                                       NULL, NULL, NULL, &err);
    double w = now_s() - w0, c = cpu_s() - c0;
    if (st != KVC_OK) {
        char buf[1024];
        fprintf(stderr, "bench_sha256: %s\n", kvc_error_format(&err, buf, sizeof buf));
        exit(1);
    }
    best_note(b, w, c);
}

static void time_verify(const kvc_manifest *m, const char *dir, int threads, best *b)
{
    kvc_error err;
    kvc_error_clear(&err);
    double w0 = now_s(), c0 = cpu_s();
    kvc_status st = kvc_manifest_verify(m, dir, threads, NULL, NULL, &err);
    double w = now_s() - w0, c = cpu_s() - c0;
    if (st != KVC_OK) {
        char buf[1024];
        fprintf(stderr, "bench_sha256: verify: %s\n", kvc_error_format(&err, buf, sizeof buf));
        exit(1);
    }
    best_note(b, w, c);
}

static double gbps(uint64_t bytes, double s)
{
    return (double)bytes / s / 1e9;
}

static void print_loadavg(const char *when)
{
    FILE *f = fopen("/proc/loadavg", "r");
    char line[128] = "?";
    if (f != NULL) {
        if (fgets(line, sizeof line, f) == NULL)
            snprintf(line, sizeof line, "?\n");
        fclose(f);
    }
    printf("load average %s: %s", when, line);
}

/* "wall GB/s (ratio)  cpu GB/s (ratio)" for bytes hashed in b, against the
 * reference rates ref_wall / ref_cpu (0: no ratio). */
static void print_row(const char *label, uint64_t bytes, const best *b, double ref_wall,
                      double ref_cpu, double cpu_scale)
{
    double w = gbps(bytes, b->wall), c = gbps(bytes, b->cpu) * cpu_scale;
    printf("%-44s %6.3f", label, w);
    if (ref_wall > 0)
        printf(" (%.3f)", w / ref_wall);
    else
        printf("        ");
    printf("   %6.3f", c);
    if (ref_cpu > 0)
        printf(" (%.3f)", c / ref_cpu);
    printf("\n");
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

    unsigned char *buf = malloc((size_t)buf_size);
    if (buf == NULL) {
        fprintf(stderr, "bench_sha256: out of memory\n");
        return 1;
    }
    fill(buf, (size_t)buf_size, 1);

    char dir[4096];
    snprintf(dir, sizeof dir, "%s/kvcert-bench-XXXXXX", tmp);
    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "bench_sha256: mkdtemp %s: %s\n", dir, strerror(errno));
        free(buf);
        return 1;
    }
    char big[4200], f1[4200], f2[4200], mpath[4200];
    snprintf(big, sizeof big, "%s/big.bin", dir);
    snprintf(f1, sizeof f1, "%s/one.bin", dir);
    snprintf(f2, sizeof f2, "%s/two.bin", dir);
    snprintf(mpath, sizeof mpath, "%s/manifest.json", dir);
    static const char *const names[] = {"one.bin", "two.bin"};
    static const size_t blocks[] = {64 * 1024, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024};
    enum { N_BLOCKS = sizeof blocks / sizeof blocks[0] };
    kvc_manifest *m = NULL;
    int rc = 1;
    kvc_error err;
    kvc_error_clear(&err);
    if (write_file(big, file_size, 2) != 0 || write_file(f1, pair_size, 3) != 0 ||
        write_file(f2, pair_size, 4) != 0)
        goto out;
    warm(big); /* the manifest writer below reads (warms) one.bin and two.bin */
    if (kvc_manifest_write_for_files(dir, names, 2, mpath, &err) != KVC_OK ||
        kvc_manifest_read(mpath, &m, &err) != KVC_OK) {
        char b[1024];
        fprintf(stderr, "bench_sha256: %s\n", kvc_error_format(&err, b, sizeof b));
        goto out;
    }

    /* Rounds: every measurement once per round, so each sees the same
     * spells of outside load; the best of the rounds is kept. */
    best mem, rd[N_BLOCKS], mm, dflt, v1, v2;
    best_init(&mem);
    best_init(&mm);
    best_init(&dflt);
    best_init(&v1);
    best_init(&v2);
    for (int k = 0; k < N_BLOCKS; k++)
        best_init(&rd[k]);
    print_loadavg("before");
    for (int r = 0; r < repeat; r++) {
        time_evp(buf, (size_t)buf_size, &mem);
        for (int k = 0; k < N_BLOCKS; k++)
            time_file(big, KVC__SHA256_READ, blocks[k], &rd[k]);
        time_file(big, KVC__SHA256_MMAP, 1, &mm);
        time_file(big, -1, 0, &dflt);
        time_evp(buf, (size_t)buf_size, &mem);
        time_verify(m, dir, 1, &v1);
        time_verify(m, dir, 2, &v2);
    }
    print_loadavg("after ");

    printf("SHA-256, best of %d rounds; GB = 10^9 bytes. Columns: wall-clock GB/s\n"
           "(ratio to (a)), then GB per CPU-second of the process (ratio to (a)).\n",
           repeat);
    char label[128];
    snprintf(label, sizeof label, "(a) EVP in memory, %llu MiB buffer",
             (unsigned long long)(buf_size / MIB));
    print_row(label, buf_size, &mem, 0, 0, 1.0);
    double ref_w = gbps(buf_size, mem.wall), ref_c = gbps(buf_size, mem.cpu);
    for (int k = 0; k < N_BLOCKS; k++) {
        snprintf(label, sizeof label, "(b) %llu MiB file, read(2) %zu KiB blocks",
                 (unsigned long long)(file_size / MIB), blocks[k] / 1024);
        print_row(label, file_size, &rd[k], ref_w, ref_c, 1.0);
    }
    snprintf(label, sizeof label, "(b) %llu MiB file, mmap + MADV_SEQUENTIAL",
             (unsigned long long)(file_size / MIB));
    print_row(label, file_size, &mm, ref_w, ref_c, 1.0);
    snprintf(label, sizeof label, "(b) kvc_sha256_file (the default: mmap)");
    print_row(label, file_size, &dflt, ref_w, ref_c, 1.0);
    /* (c): CPU column is threads x bytes per CPU-second, the aggregate
     * rate if each thread had a core to itself; ratios are to threads x (a). */
    snprintf(label, sizeof label, "(c) verify 2 x %llu MiB, 1 thread",
             (unsigned long long)(pair_size / MIB));
    print_row(label, 2 * pair_size, &v1, ref_w, ref_c, 1.0);
    snprintf(label, sizeof label, "(c) verify 2 x %llu MiB, 2 threads",
             (unsigned long long)(pair_size / MIB));
    print_row(label, 2 * pair_size, &v2, 2 * ref_w, 2 * ref_c, 2.0);
    rc = 0;
out:
    kvc_manifest_destroy(m);
    free(buf);
    unlink(big);
    unlink(f1);
    unlink(f2);
    unlink(mpath);
    rmdir(dir);
    return rc;
}
