/* kvcert: internals shared by the conformance runner's files (not
 * installed). */
#ifndef KVC_CERT_INTERNAL_H
#define KVC_CERT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "cert/case.h"
#include "cert/certify.h"
#include "core/error.h"

/* snprintf that reports truncation (returns -1) instead of warning about
 * it at compile time: paths and messages are bounded on purpose. */
int kvc__cert_fmt(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------ strict JSON */

/* A field error: status, the JSON path in err->tensor, the case file in
 * err->file. Returns status. */
kvc_status kvc__case_fail(kvc_error *err, kvc_status st, const char *origin, const char *jpath,
                          const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Checks that obj (an object) has only keys from allowed[] (NULL-ended)
 * and no key twice. */
kvc_status kvc__case_keys(const cJSON *obj, const char *const *allowed, const char *origin,
                          const char *jpath, kvc_error *err);
/* Reads obj[key] as a string (required unless optional; *out NULL when
 * absent). */
kvc_status kvc__case_string(const cJSON *obj, const char *key, int optional, const char *origin,
                            const char *jpath, const char **out, kvc_error *err);
/* An integer-valued number in [lo, hi] (hi <= 2^53). */
kvc_status kvc__case_uint(const cJSON *obj, const char *key, int optional, uint64_t lo,
                          uint64_t hi, const char *origin, const char *jpath, int *present,
                          uint64_t *out, kvc_error *err);
/* A role: 1..64 bytes of [a-z0-9_-]. */
int kvc__case_role_ok(const char *s);
/* "$.parameters.x" style child paths. */
int kvc__case_jpath(char *buf, size_t size, const char *parent, const char *key);

/* ------------------------------------------------------------ executors */

typedef struct kvc__cert_run kvc__cert_run;

/* One kind's executor. check validates c->parameters at load (unknown
 * keys refused, roles must name inputs). run computes the results tree
 * into `results` (an object); it returns the status the run ended with
 * (KVC_OK when it completed), or calls kvc__cert_skip and returns KVC_OK. */
typedef struct kvc__cert_executor {
    kvc_case_kind kind;
    kvc_status (*check)(const kvc_case *c, const cJSON *params, kvc_error *err);
    kvc_status (*run)(kvc__cert_run *run, cJSON *results, kvc_error *err);
} kvc__cert_executor;

extern const kvc__cert_executor kvc__cert_exec_published;
extern const kvc__cert_executor kvc__cert_exec_must_fail;
extern const kvc__cert_executor kvc__cert_exec_pipeline;
extern const kvc__cert_executor kvc__cert_exec_real_data;

const kvc__cert_executor *kvc__cert_executor_for(kvc_case_kind kind);

/* What an executor sees of the run. */
const kvc_case *kvc__cert_case(const kvc__cert_run *run);
const kvc_cert_options *kvc__cert_options(const kvc__cert_run *run);
/* The checked path of the input with this role (NULL when absent). */
const char *kvc__cert_input_path(const kvc__cert_run *run, const char *role);
/* The folder outputs go to (must stay empty when a case must fail). */
const char *kvc__cert_out_dir(const kvc__cert_run *run);
/* A scratch folder of the run for anything else (removed afterwards). */
const char *kvc__cert_scratch_dir(const kvc__cert_run *run);
/* Marks the case skipped with a reason (printf style). */
void kvc__cert_skip(kvc__cert_run *run, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Adds a line to the case's notes (shown in the report). */
void kvc__cert_note(kvc__cert_run *run, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Progress of a long step (done of total units; stage is a short text). */
void kvc__cert_progress(kvc__cert_run *run, const char *stage, uint64_t done, uint64_t total);

/* Finds a search input (cert/case.h's templates); 1 and its path in hit
 * when found. */
int kvc__cert_search(const kvc_case *c, const kvc_case_input *in, char *hit, size_t size);
/* Makes a generated input at path (the runner checks it afterwards). */
kvc_status kvc__cert_generate(kvc__cert_run *run, const kvc_case_input *in, const char *path,
                              kvc_error *err);

/* Whether name is a profile of v4/profile.h (SPEC 4). */
int kvc__cert_profile_known(const char *name);
/* Where this run's V4 path runs, and the table of each side: second = 0
 * the primary (CPU for "cpu" and "both", CUDA for "cuda"), second = 1 the
 * CUDA side of "both" (the backend hook's second half, certify.c). */
kvc_cert_backend kvc__cert_backend(const kvc__cert_run *run);
const struct kvc_backend *kvc__cert_backend_table(const kvc__cert_run *run, int second);

/* ------------------------------------------------------------ measurements */

/* The audit, codecs, baselines and bitstreams of each passage's streams,
 * aggregated by the stats module (measure.c describes the results). */
typedef struct kvc__cert_measure kvc__cert_measure;
struct kvc_v4_streams;
kvc_status kvc__cert_measure_create(const int *q, size_t nq, const char *profile,
                                    kvc__cert_measure **out, kvc_error *err);
/* A passage's streams (arg: the kvc__cert_measure). */
kvc_status kvc__cert_measure_passage(void *arg, int64_t passage, const struct kvc_v4_streams *s,
                                     kvc_error *err);
kvc_status kvc__cert_measure_finish(kvc__cert_measure *m, cJSON *out, kvc_error *err);
void kvc__cert_measure_destroy(kvc__cert_measure *m);

/* ------------------------------------------------------------ values */

/* Turns every number under node into raw text that reads back exactly
 * (cJSON's own printing can lose the last bit). 0, or -1 out of memory. */
int kvc__cert_exact_numbers(cJSON *node);
/* Resolves a JSON path in root; the value's str points into root. */
kvc_value kvc__cert_lookup(const cJSON *root, const char *path);
/* The node a JSON path leads to in root, or NULL. */
const cJSON *kvc__cert_lookup_node(const cJSON *root, const char *path);
/* Reads a cJSON scalar as a value. */
kvc_value kvc__cert_value_of(const cJSON *item);

#endif /* KVC_CERT_INTERNAL_H */
