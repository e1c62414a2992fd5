/* kvcert: safetensors files (SPEC.md section 1.1).
 *
 * The reader maps the file (no copy) and enforces every validation rule of
 * SPEC 1.1, each failure its own status (KVC_ST_*), the error record naming
 * the file and, where it applies, the tensor and byte offset. Views point
 * into the mapping and live until kvc_st_close.
 *
 * The writer produces byte-identical files on every machine: tensors sorted
 * by name (header keys in the same order, "__metadata__" first), data laid
 * out in that order with no padding, header padded with spaces to a multiple
 * of 8 bytes. It writes to a temporary name and renames, so a failed write
 * leaves nothing at the destination.
 */
#ifndef KVC_IO_SAFETENSORS_H
#define KVC_IO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KVC_ST_MAX_HEADER 100000000ull
#define KVC_ST_MAX_DIMS 8

/* Every dtype name the format defines. kvcert computes with the first
 * five; the rest are recognized (so a file holding them still opens) and
 * rejected clearly where a tensor of that dtype is used. */
typedef enum kvc_dtype {
    KVC_DT_F8_E4M3 = 0,
    KVC_DT_F8_E8M0,
    KVC_DT_BF16,
    KVC_DT_F16,
    KVC_DT_F32,
    KVC_DT_F64,
    KVC_DT_F8_E5M2,
    KVC_DT_BOOL,
    KVC_DT_U8,
    KVC_DT_I8,
    KVC_DT_I16,
    KVC_DT_U16,
    KVC_DT_I32,
    KVC_DT_U32,
    KVC_DT_I64,
    KVC_DT_U64,
    KVC_DT_COUNT
} kvc_dtype;

/* "F8_E4M3", ...; NULL for out-of-range values. */
const char *kvc_dtype_name(kvc_dtype dt);
/* Bytes per element. */
size_t kvc_dtype_size(kvc_dtype dt);
/* Parses a dtype name; returns -1 when unknown. */
int kvc_dtype_from_name(const char *name);

typedef struct kvc_tensor_view {
    const char *name;
    kvc_dtype dtype;
    int ndim;
    int64_t shape[KVC_ST_MAX_DIMS];
    uint64_t numel;
    const void *data;     /* into the mapping; little-endian elements */
    uint64_t nbytes;
    uint64_t file_offset; /* absolute byte offset of data in the file */
} kvc_tensor_view;

typedef struct kvc_st_file kvc_st_file;

kvc_status kvc_st_open(const char *path, kvc_st_file **out, kvc_error *err);
void kvc_st_close(kvc_st_file *f);

const char *kvc_st_path(const kvc_st_file *f);
uint64_t kvc_st_file_size(const kvc_st_file *f);
uint64_t kvc_st_header_size(const kvc_st_file *f);
/* Tensors in data-offset order. */
size_t kvc_st_count(const kvc_st_file *f);
const kvc_tensor_view *kvc_st_tensor(const kvc_st_file *f, size_t i);
/* NULL when absent. */
const kvc_tensor_view *kvc_st_find(const kvc_st_file *f, const char *name);
/* Finds name and checks its dtype and shape (ndim < 0 skips the shape
 * check): KVC_TENSOR_MISSING / KVC_TENSOR_DTYPE / KVC_TENSOR_SHAPE. */
kvc_status kvc_st_require(const kvc_st_file *f, const char *name, kvc_dtype dtype,
                          int ndim, const int64_t *shape,
                          const kvc_tensor_view **out, kvc_error *err);
/* __metadata__ entries, in file order. */
size_t kvc_st_metadata_count(const kvc_st_file *f);
void kvc_st_metadata(const kvc_st_file *f, size_t i, const char **key, const char **value);

/* ------------------------------------------------------------ writer */

typedef struct kvc_st_writer kvc_st_writer;

kvc_st_writer *kvc_st_writer_create(void);
void kvc_st_writer_destroy(kvc_st_writer *w);
/* Adds a tensor; data is borrowed until kvc_st_writer_write returns and
 * must hold numel * dtype size bytes. Duplicate names are refused. */
kvc_status kvc_st_writer_add(kvc_st_writer *w, const char *name, kvc_dtype dtype,
                             int ndim, const int64_t *shape, const void *data,
                             kvc_error *err);
kvc_status kvc_st_writer_set_metadata(kvc_st_writer *w, const char *key,
                                      const char *value, kvc_error *err);
/* Writes the file atomically (temporary name, fsync, rename). */
kvc_status kvc_st_writer_write(kvc_st_writer *w, const char *path, kvc_error *err);

#ifdef __cplusplus
}
#endif

#endif /* KVC_IO_SAFETENSORS_H */
