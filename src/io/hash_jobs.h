/* kvcert (internal): hashing many files on worker threads.
 *
 * Used by the manifest verifier and writer. Not installed. */
#ifndef KVC_IO_HASH_JOBS_H
#define KVC_IO_HASH_JOBS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "io/digest.h"
#include "io/manifest.h"

typedef struct kvc__hash_job {
    const char *path;
    /* 1: a missing file is KVC_MANIFEST_UNKNOWN_FILE and a size other than
     * expected_size is KVC_INPUT_SIZE_MISMATCH (not hashed); 0: just hash
     * (errors are kvc_sha256_file's). */
    int check_size;
    /* Orders the queue (largest first) and counts for progress. */
    uint64_t expected_size;
    kvc_verify_result *result; /* filled by the job (digest compare is the caller's) */
} kvc__hash_job;

/* Called on the calling thread for each job, in index order. */
typedef void (*kvc__job_done_fn)(void *arg, size_t index);

/* Runs every job on up to `threads` threads (<= 0: the default). The sum
 * of expected sizes is the progress total; calls to progress are
 * serialized. Returns KVC_OK once every job has run (each job's own
 * outcome is in its result), or KVC_NOMEM before any ran. */
kvc_status kvc__hash_jobs(kvc__hash_job *jobs, size_t n, int threads, kvc__job_done_fn done,
                          void *done_arg, kvc_progress_fn progress, void *progress_arg,
                          kvc_error *err);

/* dir "/" name (no doubled slash; just name when dir is NULL or empty),
 * malloc'd; NULL when out of memory. */
char *kvc__join_path(const char *dir, const char *name);

#endif
