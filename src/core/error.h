/* kvcert: status codes and the error record.
 *
 * One X-macro list generates the enum, the symbolic names and the
 * messages (libuv's UV_ERRNO_MAP). Each row: symbol, exit class, message.
 * Exit classes are the CLI's exit statuses: 1 a check failed, 2 usage,
 * 3 bad input or I/O. Symbols are stable: tests and conformance cases
 * name them (e.g. "INPUT_HASH_MISMATCH").
 *
 * Add new codes at the end of your module's section; never renumber.
 */
#ifndef KVC_CORE_ERROR_H
#define KVC_CORE_ERROR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KVC_STATUS_MAP(X)                                                     \
    X(OK,                      0, "success")                                  \
    /* general */                                                             \
    X(NOMEM,                   3, "out of memory")                            \
    X(IO,                      3, "I/O error")                                \
    X(OPEN,                    3, "cannot open file")                         \
    X(USAGE,                   2, "usage error")                              \
    X(INVALID_ARGUMENT,        2, "invalid argument")                         \
    X(INTERNAL,                3, "internal error")                           \
    X(LIMIT,                   3, "input exceeds a size limit")               \
    X(UNSUPPORTED,             3, "unsupported input")                        \
    /* safetensors (SPEC 1.1): one code per validation rule */                \
    X(ST_TOO_SHORT,            3, "file shorter than the 8-byte header length") \
    X(ST_HEADER_TOO_SMALL,     3, "header length below 2 bytes")              \
    X(ST_HEADER_TOO_LARGE,     3, "header length over 100000000 bytes")       \
    X(ST_HEADER_BEYOND_FILE,   3, "header extends beyond the end of the file") \
    X(ST_HEADER_UTF8,          3, "header is not valid UTF-8")                \
    X(ST_HEADER_JSON,          3, "header is not valid JSON")                 \
    X(ST_HEADER_NOT_OBJECT,    3, "header is not a JSON object")              \
    X(ST_DUPLICATE_KEY,        3, "duplicate key in header")                  \
    X(ST_BAD_ENTRY,            3, "malformed tensor entry")                   \
    X(ST_BAD_METADATA,         3, "__metadata__ is not a map of strings")     \
    X(ST_UNKNOWN_DTYPE,        3, "unknown dtype")                            \
    X(ST_BAD_SHAPE,            3, "shape entry negative or not an integer")   \
    X(ST_SHAPE_OVERFLOW,       3, "shape size overflows")                     \
    X(ST_BAD_OFFSETS,          3, "data_offsets malformed")                   \
    X(ST_SIZE_MISMATCH,        3, "tensor byte size disagrees with its shape") \
    X(ST_GAP,                  3, "gap between tensors in the data buffer")   \
    X(ST_OVERLAP,              3, "tensors overlap in the data buffer")       \
    X(ST_TRAILING_BYTES,       3, "file size disagrees with the data buffer") \
    X(ST_TRUNCATED,            3, "data buffer shorter than its tensors")     \
    /* tensors as used by the pipeline */                                     \
    X(TENSOR_MISSING,          3, "tensor not found")                         \
    X(TENSOR_DTYPE,            3, "tensor has the wrong dtype")               \
    X(TENSOR_SHAPE,            3, "tensor has the wrong shape")               \
    X(SHARD_MISSING,           3, "shard file not found")                     \
    /* digests and manifests */                                               \
    X(MANIFEST_JSON,           3, "manifest is not valid JSON")               \
    X(MANIFEST_FIELD,          3, "manifest field missing or malformed")      \
    X(MANIFEST_HEX,            3, "malformed SHA-256 hex digest")             \
    X(MANIFEST_UNKNOWN_FILE,   3, "manifest names a file that is not there")  \
    X(INPUT_HASH_MISMATCH,     1, "SHA-256 does not match")                   \
    X(INPUT_SIZE_MISMATCH,     1, "file size does not match")                 \
    X(CRYPTO,                  3, "OpenSSL digest failure")                   \
    /* the V4 write path */                                                   \
    X(HIDDEN_SHAPE,            3, "hidden states have the wrong shape")       \
    X(PROFILE_UNKNOWN,         2, "unknown profile")                          \
    /* codecs and statistics */                                               \
    X(CODEC_PARAM,             2, "invalid codec parameter")                  \
    X(BITSTREAM,               3, "malformed bitstream")                      \
    X(REPORT_FORMAT,           3, "malformed report file")                    \
    X(CHECK_FAILED,            1, "recomputed values do not match")           \
    /* backends */                                                            \
    X(CUDA_NO_DEVICE,          77, "no CUDA device")                          \
    X(CUDA,                    3, "CUDA call failed")                         \
    X(BACKEND_MISMATCH,        1, "CPU and GPU outputs differ")               \
    X(BACKEND_UNAVAILABLE,     2, "backend not built in")                  \
    /* conformance cases (src/cert) */                                        \
    X(CASE_JSON,               3, "case file is not valid JSON")              \
    X(CASE_SCHEMA,             3, "unknown case schema version")              \
    X(CASE_FIELD,              3, "case field missing or malformed")          \
    X(CASE_UNKNOWN_KEY,        3, "unknown key in a case file")               \
    X(CASE_DUPLICATE_ID,       3, "two cases have the same id")

typedef enum kvc_status {
#define KVC__STATUS_ENUM(sym, exit_class, msg) KVC_##sym,
    KVC_STATUS_MAP(KVC__STATUS_ENUM)
#undef KVC__STATUS_ENUM
    KVC_STATUS_COUNT
} kvc_status;

/* What failed and where. Fields that do not apply stay empty / -1. */
typedef struct kvc_error {
    kvc_status status;
    char file[512];    /* path of the file involved, if any */
    char tensor[256];  /* tensor or JSON field involved, if any */
    int64_t offset;    /* byte offset in the file, or -1 */
    char detail[512];  /* human explanation ("expected ..., got ...") */
} kvc_error;

/* "ST_GAP", "OK", ...; "UNKNOWN" for out-of-range values. */
const char *kvc_status_name(kvc_status s);
/* The fixed one-line message of a status. */
const char *kvc_status_message(kvc_status s);
/* CLI exit status for a status: 0, 1, 2, 3 (77 for no CUDA device). */
int kvc_status_exit_code(kvc_status s);
/* Look a status up by its symbolic name; returns -1 when unknown. */
int kvc_status_from_name(const char *name);

/* Resets the record to "no error". err may be NULL everywhere below. */
void kvc_error_clear(kvc_error *err);
/* Records status and a printf-style detail; returns status. */
kvc_status kvc_error_set(kvc_error *err, kvc_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Records the file / tensor / offset context (NULL or -1 leave a field). */
void kvc_error_where(kvc_error *err, const char *file, const char *tensor, int64_t offset);
/* Formats "<message>: <detail> (file F, tensor T, offset O)" into buf. */
const char *kvc_error_format(const kvc_error *err, char *buf, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* KVC_CORE_ERROR_H */
