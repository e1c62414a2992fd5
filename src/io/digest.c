/* kvcert: SHA-256 through OpenSSL EVP, of buffers and streamed files. */
#include "io/digest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

/* mmap hashes in slices so progress is reported and a huge mapping is
 * never handed to one EVP call. */
#define MMAP_SLICE KVC__SHA256_MMAP_SLICE

typedef struct sha256_ctx {
    EVP_MD_CTX *md;
} sha256_ctx;

static kvc_status ctx_init(sha256_ctx *c, kvc_error *err)
{
    c->md = EVP_MD_CTX_new();
    if (c->md == NULL)
        return kvc_error_set(err, KVC_CRYPTO, "EVP_MD_CTX_new failed");
    if (EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(c->md);
        c->md = NULL;
        return kvc_error_set(err, KVC_CRYPTO, "EVP_DigestInit_ex(SHA-256) failed");
    }
    return KVC_OK;
}

static kvc_status ctx_update(sha256_ctx *c, const void *data, size_t size, kvc_error *err)
{
    if (size > 0 && EVP_DigestUpdate(c->md, data, size) != 1)
        return kvc_error_set(err, KVC_CRYPTO, "EVP_DigestUpdate failed");
    return KVC_OK;
}

static kvc_status ctx_final(sha256_ctx *c, uint8_t out[KVC_SHA256_SIZE], kvc_error *err)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(c->md, md, &len) != 1 || len != KVC_SHA256_SIZE)
        return kvc_error_set(err, KVC_CRYPTO, "EVP_DigestFinal_ex failed");
    memcpy(out, md, KVC_SHA256_SIZE);
    return KVC_OK;
}

static void ctx_free(sha256_ctx *c)
{
    EVP_MD_CTX_free(c->md);
    c->md = NULL;
}

kvc_status kvc_sha256_buffer(const void *data, size_t size, uint8_t out[KVC_SHA256_SIZE])
{
    sha256_ctx c;
    kvc_status st = ctx_init(&c, NULL);
    if (st != KVC_OK)
        return st;
    st = ctx_update(&c, data, size, NULL);
    if (st == KVC_OK)
        st = ctx_final(&c, out, NULL);
    ctx_free(&c);
    return st;
}

static kvc_status errno_error(kvc_error *err, kvc_status st, const char *what, const char *path,
                              int e, int64_t offset)
{
    kvc_error_set(err, st, "%s '%s': %s", what, path, strerror(e));
    kvc_error_where(err, path, NULL, offset);
    return st;
}

static kvc_status open_regular(const char *path, int *fd_out, uint64_t *size_out, kvc_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno_error(err, KVC_OPEN, "cannot open", path, errno, -1);
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return errno_error(err, KVC_IO, "cannot stat", path, e, -1);
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        kvc_error_set(err, KVC_OPEN, "'%s' is not a regular file", path);
        kvc_error_where(err, path, NULL, -1);
        return KVC_OPEN;
    }
    *fd_out = fd;
    *size_out = (uint64_t)sb.st_size;
    return KVC_OK;
}

/* read(2) into one block buffer, hashed from there; the buffer is reused,
 * so with a block no larger than L2 the hash reads hot cache lines. */
static kvc_status hash_by_read(int fd, const char *path, size_t block, uint64_t total,
                               sha256_ctx *c, uint64_t *done_out, kvc_progress_fn cb,
                               void *cb_arg, kvc_error *err)
{
    unsigned char *buf = malloc(block);
    if (buf == NULL)
        return kvc_error_set(err, KVC_NOMEM, "cannot allocate a %zu-byte read buffer", block);
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    uint64_t done = 0;
    kvc_status st = KVC_OK;
    for (;;) {
        ssize_t n = read(fd, buf, block);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            st = errno_error(err, KVC_IO, "read failed on", path, errno, (int64_t)done);
            break;
        }
        if (n == 0)
            break;
        st = ctx_update(c, buf, (size_t)n, err);
        if (st != KVC_OK)
            break;
        done += (uint64_t)n;
        if (cb != NULL)
            cb(cb_arg, done, total);
    }
    free(buf);
    *done_out = done;
    return st;
}

/* The whole file mapped read-only and hashed in place (no copy).
 * Returns KVC_UNSUPPORTED, having read nothing, when the file cannot be
 * mapped (size 0 as procfs reports, a file system without mmap): the
 * caller then reads it instead. */
static kvc_status hash_by_mmap(int fd, uint64_t total, sha256_ctx *c,
                               uint64_t *done_out, kvc_progress_fn cb, void *cb_arg,
                               kvc_error *err)
{
    *done_out = 0;
    if (total == 0 || total > (uint64_t)SIZE_MAX)
        return KVC_UNSUPPORTED;
    void *map = mmap(NULL, (size_t)total, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED)
        return KVC_UNSUPPORTED;
    (void)madvise(map, (size_t)total, MADV_SEQUENTIAL);
    kvc_status st = KVC_OK;
    uint64_t done = 0;
    while (done < total) {
        size_t n = total - done < MMAP_SLICE ? (size_t)(total - done) : MMAP_SLICE;
        st = ctx_update(c, (const unsigned char *)map + done, n, err);
        if (st != KVC_OK)
            break;
        done += n;
        if (cb != NULL)
            cb(cb_arg, done, total);
    }
    munmap(map, (size_t)total);
    *done_out = done;
    return st;
}

kvc_status kvc__sha256_file_with(const char *path, kvc__sha256_method method, size_t block,
                                 uint8_t out[KVC_SHA256_SIZE], uint64_t *size_out,
                                 kvc_progress_fn cb, void *cb_arg, kvc_error *err)
{
    if (path == NULL || out == NULL || block == 0)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "kvc_sha256_file: NULL path or output");
    int fd = -1;
    uint64_t total = 0;
    kvc_status st = open_regular(path, &fd, &total, err);
    if (st != KVC_OK)
        return st;
    sha256_ctx c;
    st = ctx_init(&c, err);
    if (st != KVC_OK) {
        close(fd);
        kvc_error_where(err, path, NULL, -1);
        return st;
    }
    uint64_t done = 0;
    st = KVC_UNSUPPORTED;
    if (method == KVC__SHA256_MMAP)
        st = hash_by_mmap(fd, total, &c, &done, cb, cb_arg, err);
    if (st == KVC_UNSUPPORTED)
        st = hash_by_read(fd, path, block, total, &c, &done, cb, cb_arg, err);
    uint8_t digest[KVC_SHA256_SIZE];
    if (st == KVC_OK)
        st = ctx_final(&c, digest, err);
    ctx_free(&c);
    close(fd);
    if (st != KVC_OK) {
        kvc_error_where(err, path, NULL, -1);
        return st;
    }
    memcpy(out, digest, KVC_SHA256_SIZE);
    if (size_out != NULL)
        *size_out = done;
    return KVC_OK;
}

kvc_status kvc_sha256_file(const char *path, uint8_t out[KVC_SHA256_SIZE], uint64_t *size_out,
                           kvc_progress_fn cb, void *cb_arg, kvc_error *err)
{
    return kvc__sha256_file_with(path, KVC__SHA256_MMAP, KVC__SHA256_DEFAULT_BLOCK, out,
                                 size_out, cb, cb_arg, err);
}

void kvc_sha256_hex(const uint8_t digest[KVC_SHA256_SIZE], char out[KVC_SHA256_HEX_SIZE + 1])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < KVC_SHA256_SIZE; i++) {
        out[2 * i] = digits[digest[i] >> 4];
        out[2 * i + 1] = digits[digest[i] & 15];
    }
    out[KVC_SHA256_HEX_SIZE] = '\0';
}

/* 0..15, or -1 for anything that is not an ASCII hex digit. */
static int hex_value(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

kvc_status kvc_sha256_from_hex(const char *hex, uint8_t out[KVC_SHA256_SIZE])
{
    if (hex == NULL || out == NULL)
        return KVC_MANIFEST_HEX;
    uint8_t tmp[KVC_SHA256_SIZE];
    /* A NUL among the first 64 characters is not a hex digit, so this loop
     * never reads past a short string's end. */
    for (int i = 0; i < KVC_SHA256_SIZE; i++) {
        int hi = hex_value(hex[2 * i]);
        if (hi < 0)
            return KVC_MANIFEST_HEX;
        int lo = hex_value(hex[2 * i + 1]);
        if (lo < 0)
            return KVC_MANIFEST_HEX;
        tmp[i] = (uint8_t)(hi << 4 | lo);
    }
    if (hex[KVC_SHA256_HEX_SIZE] != '\0')
        return KVC_MANIFEST_HEX;
    memcpy(out, tmp, KVC_SHA256_SIZE);
    return KVC_OK;
}
