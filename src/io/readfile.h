/* kvcert: reading a small input file (a manifest, a case file) whole, with
 * a bound: nothing from a file allocates without one. */
#ifndef KVC_IO_READFILE_H
#define KVC_IO_READFILE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Reads the regular file at path into a fresh buffer (*buf_out, to free;
 * NUL-terminated one past *len_out). Refuses, naming the file: a missing
 * or unopenable path (KVC_OPEN), something not a regular file (KVC_OPEN),
 * more than max_bytes (KVC_LIMIT; checked on the bytes read, not only on
 * st_size, since a file may change under us), read errors (KVC_IO). what
 * names the kind of file in messages ("manifest", "case file"). */
kvc_status kvc_read_file_bounded(const char *path, uint64_t max_bytes, const char *what,
                                 char **buf_out, size_t *len_out, kvc_error *err);

#ifdef __cplusplus
}
#endif

#endif
