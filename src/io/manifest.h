/* kvcert: file manifests (SPEC.md 1.3) and their verifier.
 *
 * A manifest pins input files by size and SHA-256:
 *
 *   {
 *     "schema": "kvcert-manifest/1",
 *     "files": [
 *       {
 *         "name": "model-00002-of-00046.safetensors",
 *         "size": 123,
 *         "sha256": "<64 hex digits>"
 *       }
 *     ]
 *   }
 *
 * Reading is strict (each failure its own status, the error record naming
 * the manifest file and the field, e.g. "files[3].sha256"):
 *   - the file must be at most KVC_MANIFEST_MAX_BYTES (KVC_LIMIT), UTF-8
 *     JSON with no NUL (raw or \u0000) and nothing after the value
 *     (KVC_MANIFEST_JSON);
 *   - the value is an object with exactly the keys "schema" (the string
 *     KVC_MANIFEST_SCHEMA) and "files" (an array); each entry an object
 *     with exactly "name", "size", "sha256"; no key twice
 *     (KVC_MANIFEST_FIELD);
 *   - name: see kvc_manifest_check_name; names unique (KVC_MANIFEST_FIELD);
 *   - size: an integer 0 <= size < 2^53 (KVC_MANIFEST_FIELD). 2^53 itself
 *     is refused because a binary64 parser cannot tell it from 2^53 + 1;
 *   - sha256: exactly 64 hex digits, either case (KVC_MANIFEST_HEX).
 *
 * The writer's output is byte-identical on every machine: keys in the
 * order above, entries in the order given, 2-space indent, "\n" line ends
 * and a final newline, lower-case hex, names escaped only where JSON
 * requires (" and \) — the bytes Python's json.dumps(m, indent=2) gives
 * for ASCII names, plus the newline.
 */
#ifndef KVC_IO_MANIFEST_H
#define KVC_IO_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "io/digest.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KVC_MANIFEST_SCHEMA "kvcert-manifest/1"
#define KVC_MANIFEST_MAX_BYTES ((uint64_t)64 * 1024 * 1024)
#define KVC_MANIFEST_SIZE_LIMIT ((uint64_t)1 << 53) /* sizes are below this */
#define KVC_MANIFEST_MAX_NAME 4096                  /* bytes, NUL excluded */

typedef struct kvc_manifest kvc_manifest;

typedef struct kvc_manifest_entry {
    const char *name; /* relative path, owned by the manifest */
    uint64_t size;
    uint8_t sha256[KVC_SHA256_SIZE];
} kvc_manifest_entry;

/* Reads and validates a manifest file (rules above). */
kvc_status kvc_manifest_read(const char *path, kvc_manifest **out, kvc_error *err);
/* The same from memory; origin names the source in error records. */
kvc_status kvc_manifest_parse(const char *text, size_t len, const char *origin,
                              kvc_manifest **out, kvc_error *err);
void kvc_manifest_destroy(kvc_manifest *m);

size_t kvc_manifest_count(const kvc_manifest *m);
/* Entries in file order; NULL when i is out of range. */
const kvc_manifest_entry *kvc_manifest_entry_at(const kvc_manifest *m, size_t i);
/* NULL when absent. */
const kvc_manifest_entry *kvc_manifest_find(const kvc_manifest *m, const char *name);
/* Sum of the entries' sizes (saturating at UINT64_MAX). */
uint64_t kvc_manifest_total_size(const kvc_manifest *m);

/* A manifest name is a relative path: non-empty, at most
 * KVC_MANIFEST_MAX_NAME bytes, not starting with '/', with no empty, "."
 * or ".." component (so every file has one spelling and stays inside the
 * directory), and no control characters (bytes 1..31 and 127).
 * KVC_OK or KVC_MANIFEST_FIELD. */
kvc_status kvc_manifest_check_name(const char *name, kvc_error *err);

/* Hashes dir/names[i] (dir NULL means the current directory) on the
 * default number of threads and writes a manifest of them to out_path
 * atomically (src/io/atomic.h): on any failure no file is left at
 * out_path. Names are checked as above (KVC_MANIFEST_FIELD); file errors
 * are those of kvc_sha256_file. */
kvc_status kvc_manifest_write_for_files(const char *dir, const char *const *names, size_t n,
                                        const char *out_path, kvc_error *err);
/* The same for entries already hashed: the manifest's bytes in a malloc'd
 * NUL-terminated buffer (*len_out excludes the NUL). */
kvc_status kvc_manifest_format(const kvc_manifest_entry *entries, size_t n, char **text_out,
                               size_t *len_out, kvc_error *err);

/* ------------------------------------------------------------ verifier */

/* One file's outcome. status is
 *   KVC_OK                     size and digest match;
 *   KVC_INPUT_HASH_MISMATCH    sizes agree, digest differs (sha256 = got);
 *   KVC_INPUT_SIZE_MISMATCH    size differs (size = got; not hashed);
 *   KVC_MANIFEST_UNKNOWN_FILE  the file does not exist ("MISSING");
 *   anything else              the file could not be read (error says why).
 */
typedef struct kvc_verify_result {
    kvc_status status;
    uint64_t size;                   /* the file's size, when it exists */
    int hashed;                      /* sha256 holds the file's digest */
    uint8_t sha256[KVC_SHA256_SIZE];
    kvc_error error;                 /* detail for every status but KVC_OK */
} kvc_verify_result;

/* Called on the thread that called kvc_manifest_verify, once per entry,
 * in manifest order, as soon as that entry and all before it are done. */
typedef void (*kvc_verify_result_fn)(void *arg, size_t index, const kvc_manifest_entry *entry,
                                     const kvc_verify_result *result);

typedef struct kvc_verify_callbacks {
    kvc_verify_result_fn on_result; /* may be NULL */
    void *result_arg;
    /* Bytes done of the manifest's total size. Called from worker
     * threads, but never two at once (the verifier serializes them). */
    kvc_progress_fn on_progress; /* may be NULL */
    void *progress_arg;
} kvc_verify_callbacks;

/* Default worker count: the online CPUs, at most 8. */
int kvc_manifest_default_threads(void);

/* Checks every entry against dir (NULL: the current directory): files
 * are hashed on `threads` worker threads (<= 0: the default), largest
 * first; a size mismatch is reported without hashing. results (may be
 * NULL) has kvc_manifest_count(m) slots, filled in manifest order.
 * Returns KVC_OK when every file is OK; otherwise the status of the first
 * entry, in manifest order, that is not, with err copied from its result;
 * or KVC_INVALID_ARGUMENT / KVC_NOMEM when verification could not run. */
kvc_status kvc_manifest_verify(const kvc_manifest *m, const char *dir, int threads,
                               const kvc_verify_callbacks *cb, kvc_verify_result *results,
                               kvc_error *err);

#ifdef __cplusplus
}
#endif

#endif /* KVC_IO_MANIFEST_H */
