/* kvcert: SHA-256 digests (OpenSSL EVP), of buffers and of whole files.
 *
 * A file is mapped read-only (mmap + MADV_SEQUENTIAL) and hashed in place
 * through one EVP_MD_CTX, in 16 MiB slices; that costs no copy and
 * measured as fast as hashing memory, where read(2) into a buffer cost
 * 13-17 % more CPU (bench/NOTES.md, "SHA-256 verification"). Files that cannot
 * be mapped (size 0 as procfs reports, file systems without mmap) are
 * read with read(2) instead. As with every mapped-file reader (the
 * safetensors reader too), a file truncated by another process while it
 * is being hashed raises SIGBUS; kvcert's inputs are finished downloads.
 *
 * Hex digests are lower case on output; input accepts either case but
 * exactly 64 hex digits and nothing else.
 */
#ifndef KVC_IO_DIGEST_H
#define KVC_IO_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KVC_SHA256_SIZE 32
#define KVC_SHA256_HEX_SIZE 64 /* digits; a buffer needs one more for NUL */

/* Progress of a long job: done of total bytes. Called from the thread
 * doing the work; total is what was known when the job started. */
typedef void (*kvc_progress_fn)(void *arg, uint64_t done, uint64_t total);

/* SHA-256 of size bytes (data may be NULL when size is 0).
 * Returns KVC_OK, or KVC_CRYPTO when OpenSSL fails. */
kvc_status kvc_sha256_buffer(const void *data, size_t size, uint8_t out[KVC_SHA256_SIZE]);

/* SHA-256 of a regular file's contents. size_out (may be NULL) receives
 * the number of bytes hashed; cb (may be NULL) is called after each block.
 * KVC_OPEN: cannot open, or not a regular file (path and errno text in
 * err); KVC_IO: a read failed; KVC_CRYPTO: OpenSSL failed;
 * KVC_NOMEM. out is written only on success. */
kvc_status kvc_sha256_file(const char *path, uint8_t out[KVC_SHA256_SIZE], uint64_t *size_out,
                           kvc_progress_fn cb, void *cb_arg, kvc_error *err);

/* 64 lower-case hex digits and a NUL. */
void kvc_sha256_hex(const uint8_t digest[KVC_SHA256_SIZE], char out[KVC_SHA256_HEX_SIZE + 1]);

/* Strict decode: exactly 64 hex digits (either case) then the string's
 * end. KVC_OK, or KVC_MANIFEST_HEX (also for NULL); out is written only on
 * success. */
kvc_status kvc_sha256_from_hex(const char *hex, uint8_t out[KVC_SHA256_SIZE]);

/* ------------------------------------------------------------ internal */

/* How kvc_sha256_file reads; exposed for the tests and bench only. */
typedef enum kvc__sha256_method {
    KVC__SHA256_READ = 0, /* read(2) into a block buffer of `block` bytes */
    KVC__SHA256_MMAP = 1  /* mmap + MADV_SEQUENTIAL, hashed in place (the
                             default); falls back to READ when unmappable */
} kvc__sha256_method;

/* read(2) block of the fallback: fits the L2 cache of current CPUs. */
#define KVC__SHA256_DEFAULT_BLOCK ((size_t)256 * 1024)
/* Bytes per EVP update (and progress call) when mapped. */
#define KVC__SHA256_MMAP_SLICE ((size_t)16 * 1024 * 1024)

kvc_status kvc__sha256_file_with(const char *path, kvc__sha256_method method, size_t block,
                                 uint8_t out[KVC_SHA256_SIZE], uint64_t *size_out,
                                 kvc_progress_fn cb, void *cb_arg, kvc_error *err);

#ifdef __cplusplus
}
#endif

#endif /* KVC_IO_DIGEST_H */
