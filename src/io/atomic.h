/* kvcert: output files that appear whole or not at all.
 *
 * kvc_atomic_open creates "<path>.tmp.<pid>.<n>" beside the destination;
 * kvc_atomic_commit flushes, fsyncs and renames it into place;
 * kvc_atomic_abort removes it. A failed run leaves no output file.
 */
#ifndef KVC_IO_ATOMIC_H
#define KVC_IO_ATOMIC_H

#include <stdio.h>

#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kvc_atomic_file kvc_atomic_file;

kvc_status kvc_atomic_open(const char *path, kvc_atomic_file **out, kvc_error *err);
FILE *kvc_atomic_stream(kvc_atomic_file *af);
kvc_status kvc_atomic_commit(kvc_atomic_file *af, kvc_error *err); /* frees af */
void kvc_atomic_abort(kvc_atomic_file *af);                      /* frees af */
/* Writes a whole buffer to path atomically. */
kvc_status kvc_atomic_write_file(const char *path, const void *data, size_t size,
                                 kvc_error *err);

#ifdef __cplusplus
}
#endif

#endif
