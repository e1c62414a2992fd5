/* kvcert: the conformance runner behind `kvcert certify`.
 *
 * For one case (cert/case.h) the runner:
 *   1. skips it when its backend requirement excludes the selected
 *      backend (a "cpu" case under "both" runs on the CPU alone, a "cuda"
 *      one on CUDA alone);
 *   2. makes a scratch folder ($TMPDIR or /tmp) with an empty "out"
 *      folder for the case's outputs;
 *   3. resolves every input: a file relative to the case, a generated
 *      file (made into the scratch folder), or a searched file (a missing
 *      real-data input skips the case with its "obtain" text); then checks
 *      each pinned input, size first (INPUT_SIZE_MISMATCH, not hashed)
 *      and then SHA-256 (INPUT_HASH_MISMATCH), naming the file; an
 *      unpinned input is hashed and its digest noted. A failed check ends
 *      the run with that status: the executor never sees a bad input;
 *   4. runs the kind's executor, which computes a results tree (JSON);
 *   5. decides the outcome:
 *      - result "valid": PASS when the run ended OK and every assertion
 *        holds; FAIL otherwise (each failed assertion: expected vs got,
 *        in %.17g and hexadecimal where numeric);
 *      - result {"invalid": S}: PASS when the run ended with status S AND
 *        the out folder is still empty (no output file, not even a
 *        temporary one); FAIL otherwise;
 *      - SKIP when the executor or step 1/3 says why it cannot run here;
 *      - ERROR for internal failures (out of memory, no scratch space);
 *   6. removes the scratch folder.
 *
 * Parameters and results per kind (JSON paths for assertions):
 *
 * published   parameters: "report": role of a report file (kvcert-report/1
 *             or a published file; stats/published.h), "t_source"
 *             (optional: "published-table" | "exact-student-t"; default
 *             what the file records), "layers" (optional {"SWA", "CSA",
 *             "HCA"} layer counts), "check_stored" (optional bool, default
 *             true), "strategies_from_q" (optional {label: {stream: Q}}).
 *             results: $.report = the recomputed kvcert-report/1 document
 *             (kvc_report_write_json), $.check = {"fields", "matched"}:
 *             the stored values compared bit for bit (kvc_report_check),
 *             $.strategies_from_q.<label> = kvc_stats_strategy_from_q of
 *             the given per-stream Q ({"Q", "bits_per_vec", "cr_vs_fp8",
 *             "cr_vs_bf16", "bit_saving_vs_fp8_pct", "bit_saving_vs_bf16_pct"}).
 *
 * must-fail   parameters: "operation": "inspect" (open a safetensors file,
 *             write its tensor list), "require" (open, find "tensor" with
 *             "dtype" and "shape", write its description), "verify"
 *             (check the files a manifest names in the manifest's folder,
 *             write the verified list) or "aggregate" (read a report,
 *             write the recomputed report); "input" (role; "manifest" for
 *             verify); "output": the file name the operation writes into
 *             the out folder when it succeeds.
 *             results (when it succeeds): $.operation, $.output = {"name",
 *             "size", "sha256"}, and per operation $.tensors (count) or
 *             $.files (count).
 *
 * pipeline    parameters: "shards": [3 roles: layers 0, 2, 3], "hidden":
 *             role, "passages" (optional: the first N; default all), "q"
 *             (optional Q values of the codecs; default 10, 38).
 *             results: $.profile, $.streams.<stream> = {"rows", "sha256"}
 *             (rows over all passages; SHA-256 of the stream's bf16 bytes,
 *             little-endian, passages concatenated in order), and the
 *             measurements of measure.c: $.report (kvcert-report/1,
 *             aggregated), $.ratios_vs_fp8_ds_mla, $.bits, $.bitstream,
 *             $.bit_saving_e8_q38_vs_fp8_pct.
 *
 * real-data   parameters: as pipeline, and "compare_profiles" (optional
 *             list of profiles also run and reported).
 *             results: the pipeline's, per profile under $.profiles.<name>.
 */
#ifndef KVC_CERT_CERTIFY_H
#define KVC_CERT_CERTIFY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cert/case.h"
#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KVC_CERT_REPORT_SCHEMA "kvcert-certify-report/1"

typedef enum kvc_cert_outcome {
    KVC_CERT_PASS = 0,
    KVC_CERT_FAIL = 1,
    KVC_CERT_SKIP = 2,
    KVC_CERT_ERROR = 3
} kvc_cert_outcome;

const char *kvc_cert_outcome_name(kvc_cert_outcome o); /* "PASS", ... */

/* Where the V4 path of a case runs. */
typedef enum kvc_cert_backend {
    KVC_CERT_BACKEND_CPU = 0,
    KVC_CERT_BACKEND_CUDA = 1,
    KVC_CERT_BACKEND_BOTH = 2 /* both, outputs compared byte for byte */
} kvc_cert_backend;

struct kvc_backend; /* core/backend.h */

/* Progress of a long step: stage is a short text ("hashing
 * model-00002-of-00046.safetensors"), done of total units. */
typedef void (*kvc_cert_progress_fn)(void *arg, const char *case_id, const char *stage,
                                     uint64_t done, uint64_t total);

typedef struct kvc_cert_options {
    kvc_cert_backend backend;
    const struct kvc_backend *cuda; /* the CUDA table, for CUDA and BOTH */
    kvc_cert_progress_fn progress;  /* may be NULL */
    void *progress_arg;
    const char *tmpdir;             /* scratch parent; NULL: $TMPDIR or /tmp */
} kvc_cert_options;

/* THE BACKEND HOOK: the one place a backend name becomes backends.
 *   "cpu"   the CPU reference (always there);
 *   "cuda"  the CUDA table on device 0 (kernels/cuda_backend.h);
 *   "both"  both: a case's V4 path runs on each and the streams must be
 *           identical (KVC_BACKEND_MISMATCH naming the first element that
 *           differs); its assertions are evaluated on the CPU's results;
 *   "auto"  "both" when a CUDA device is there, else "cpu" (never fails).
 * "cuda" and "both" fail with KVC_BACKEND_UNAVAILABLE in a build without
 * CUDA and KVC_CUDA_NO_DEVICE without a device. *cuda receives the CUDA
 * table (NULL for "cpu"); release it with kvc_cert_backend_release. */
kvc_status kvc_cert_backend_select(const char *name, kvc_cert_backend *out,
                                   struct kvc_backend **cuda, kvc_error *err);
void kvc_cert_backend_release(struct kvc_backend *cuda);
const char *kvc_cert_backend_name(kvc_cert_backend b); /* "cpu", "cuda", "both" */

/* One input as checked. */
typedef struct kvc_cert_input_result {
    const kvc_case_input *input;
    char path[KVC_CASE_MAX_PATH]; /* where it was found; "" when not */
    kvc_status status;            /* OK, INPUT_*_MISMATCH, OPEN ... */
    int checked;                  /* reached the size/hash check */
    uint64_t size;
    int hashed;
    uint8_t sha256[KVC_SHA256_SIZE];
} kvc_cert_input_result;

/* One assertion as evaluated. */
typedef struct kvc_cert_assert_result {
    const kvc_case_assertion *assertion;
    kvc_value got;   /* got.str points into the result's tree */
    int pass;
    char detail[512]; /* "expected ... got ..." when it failed */
} kvc_cert_assert_result;

/* What one case produced. */
typedef struct kvc_cert_result {
    const kvc_case *c;
    kvc_cert_outcome outcome;
    char reason[1024];  /* SKIP, FAIL, ERROR: one line */
    kvc_status status;  /* how the run ended (OK when it completed) */
    kvc_error error;    /* its detail */
    int ran;            /* the executor ran */
    int output_written; /* the out folder was not empty afterwards */
    char output_name[256]; /* the first entry found there */
    size_t n_inputs;
    kvc_cert_input_result *inputs;
    size_t n_asserts;
    kvc_cert_assert_result *asserts;
    size_t n_failed;
    size_t n_notes;
    char **notes;
    void *results; /* the results tree (cJSON *); NULL when none */
    double wall_s;
    kvc_cert_backend backend;
} kvc_cert_result;

/* Runs one case. Returns KVC_OK with *out set (its outcome says how it
 * went), or KVC_NOMEM when not even a result could be made. */
kvc_status kvc_cert_run(const kvc_case *c, const kvc_cert_options *opt, kvc_cert_result **out,
                        kvc_error *err);
void kvc_cert_result_destroy(kvc_cert_result *r);

/* ------------------------------------------------------------ comparison */

/* Evaluates one assertion against a value read from the results.
 * Returns 1 when it holds; otherwise 0 and a one-line explanation in
 * detail ("expected 0.5 (0x3fe0000000000000), got ..."). */
int kvc_cert_compare(const kvc_case_assertion *a, const kvc_value *got, char *detail,
                     size_t size);
/* Binary64 equality by bit pattern, except that any NaN equals any NaN. */
int kvc_cert_exact_equal(double expected, double got);
/* mean - hw <= got <= mean + hw (ends rounded once, both included). */
int kvc_cert_within_ci95(double got, double mean, double hw);
/* "%.17g (0x%016llx)" of x into buf. */
const char *kvc_cert_format_number(double x, char *buf, size_t size);

/* ------------------------------------------------------------ reports */

/* Writes the JSON report of n results (schema KVC_CERT_REPORT_SCHEMA)
 * atomically to path: per case its outcome, reason, status, inputs
 * (expected and observed size and digest), every assertion (expected and
 * got, numbers also in hexadecimal, pass), the reported values and the
 * notes; then a summary. */
kvc_status kvc_cert_report_write(const char *path, const kvc_cert_result *const *results,
                                 size_t n, const char *cases_root, kvc_error *err);

/* One TAP 13 test point for result number `number` (1-based), with a
 * YAML block for failures. */
void kvc_cert_tap_point(FILE *out, size_t number, const kvc_cert_result *r);
/* The plain line "id: PASS", "id: FAIL (why)", "id: SKIP (why)". */
void kvc_cert_line(FILE *out, const kvc_cert_result *r);
/* The value of the case's reported path i in r's results, as compact
 * JSON (malloc'd), or NULL when the results do not hold it. */
char *kvc_cert_reported_text(const kvc_cert_result *r, size_t i);

/* ------------------------------------------------------------ bundled cases */

/* The folder of the bundled cases, first that applies:
 *   1. override (--root), when not NULL;
 *   2. $KVCERT_CASES;
 *   3. $(abs_top_srcdir)/conformance/cases when this program runs from
 *      its build tree (the executable lies under $(abs_top_builddir));
 *   4. $(pkgdatadir)/conformance/cases, where `make install` puts them;
 *   5. $(abs_top_srcdir)/conformance/cases, when it still exists.
 * *how (may be NULL) says which ("--root", "KVCERT_CASES", "build tree",
 * "installed", "source tree"). KVC_OPEN when none exists. */
kvc_status kvc_cert_cases_root(const char *override, char *buf, size_t size, const char **how,
                               kvc_error *err);

/* ------------------------------------------------------------ pinning */

/* Where pinned copies of cases live: $KVCERT_PINNED, else
 * $XDG_DATA_HOME/kvcert/pinned, else $HOME/.local/share/kvcert/pinned.
 * KVC_INVALID_ARGUMENT when none can be formed. */
kvc_status kvc_cert_pin_dir(char *buf, size_t size, kvc_error *err);

/* Locates and hashes every search input of c and writes a copy of the
 * case with their sizes and digests filled in to dir/<id>.json
 * (atomically; dir is created). *written receives the path. A missing
 * input: KVC_OPEN naming it and what to obtain; nothing is written. */
kvc_status kvc_cert_pin(const kvc_case *c, const char *dir, const kvc_cert_options *opt,
                        char *written, size_t size, kvc_error *err);

/* Copies the pins of a pinned copy (same id; inputs matched by role) into
 * c's search inputs that are unpinned. KVC_CASE_FIELD when the copy is
 * not of the same case. */
kvc_status kvc_cert_apply_pins(kvc_case *c, const kvc_case *pinned, kvc_error *err);

#ifdef __cplusplus
}
#endif

#endif /* KVC_CERT_CERTIFY_H */
