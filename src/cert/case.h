/* kvcert: conformance case files, schema "kvcert-case/1" (the runner of
 * `kvcert certify` reads them; conformance/README.md is the user-facing
 * description of the same schema).
 *
 * A case is one JSON object, strictly read: every key below is required
 * unless marked optional, no other key is accepted (KVC_CASE_UNKNOWN_KEY),
 * no object repeats a key, and a file naming another schema version is
 * refused (KVC_CASE_SCHEMA) before anything else is looked at.
 *
 *   "schema":     "kvcert-case/1"
 *   "id":         1..64 bytes of [a-z0-9._-], starting with [a-z0-9];
 *                 unique among the cases run together
 *   "comment":    what the case checks and where its expected values
 *                 come from (a string)
 *   "flags":      [string...], each 1..64 bytes of [a-z0-9._-]; labels
 *                 for people and for selection, never changing behaviour
 *   "kind":       "published" | "pipeline" | "must-fail" | "real-data"
 *   "inputs":     [INPUT...] (may be empty), roles unique
 *   "profile":    "stage075" | "intended" | "v4" | null
 *   "backend":    "cpu" | "cuda" | "any"   (which backend may run it)
 *   "parameters": {...} kind-specific (certify.h lists each kind's keys)
 *   "expected":   [ASSERTION...]  (must be empty when result is invalid)
 *   "reported":   ["$.path"...]   optional: values copied into the
 *                 report without being asserted
 *   "result":     "valid" | {"invalid": "<STATUS_NAME>"}, a symbolic name
 *                 of core/error.h other than "OK"
 *
 * INPUT, one of three forms, each with "role" (1..64 bytes of
 * [a-z0-9_-], what the parameters call it):
 *   file:      {"role", "path", "size", "sha256"}
 *              path: relative to the directory of the case file (or
 *              absolute); size and sha256 required.
 *   generated: {"role", "name", "generated": GEN, "size", "sha256"}
 *              made by the runner into a scratch folder, then checked
 *              like a file; GEN = {"by": "synth", "seed": int,
 *              "layer": 0|2|3} for a shard or {"by": "synth", "seed":
 *              int, "passages": 1..64} for hidden states.
 *   search:    {"role", "name", "search": [TEMPLATE...], "obtain": str,
 *               "size": int|null, "sha256": hex|null}
 *              looked for under each template in turn (below); size and
 *              sha256 are null until pinned (both or neither).
 *   name: a file name (no '/'); size: an integer 0 <= size < 2^53;
 *   sha256: exactly 64 hex digits.
 *
 * A search TEMPLATE is a path in which "$NAME" / "${NAME}" is replaced by
 * the environment variable NAME (the template is skipped when NAME is
 * unset or empty; "$CASE_DIR" is the case file's directory, "$HOME"
 * falls back to the password database) and a component that is exactly
 * "*" matches every entry of that folder, in byte order of the names.
 * Each expansion that is a folder is searched for NAME; one that is a
 * regular file is the input itself. The first hit wins.
 *
 * ASSERTION:
 *   {"name": str (optional), "comment": str (optional),
 *    "path": "$" followed by ".key" or "[index]" segments (a key: 1 or
 *            more bytes other than '.', '[', ']'), into the results the
 *            kind's executor computes,
 *    "value": number | string | true | false | null (null: NaN),
 *    "tolerance": "exact" | "absolute" | "relative" | "published_ci95",
 *    "bound": number >= 0       (absolute and relative only),
 *    "ci95_hw": number >= 0     (published_ci95 only)}
 *   exact:          numbers by binary64 bit pattern (so -0 != +0; NaN,
 *                   written null, equals any NaN), strings byte for byte
 *                   except 64-hex-digit strings (digests), compared
 *                   ignoring case; booleans by value.
 *   absolute:       |got - value| <= bound.
 *   relative:       |got - value| <= bound * |value|.
 *                   (got - value and bound * |value| each rounded once in
 *                   binary64, as the C expressions compute them.)
 *   published_ci95: value - ci95_hw <= got <= value + ci95_hw, each end
 *                   rounded once in binary64, both ends included.
 *   Non-exact kinds need finite numbers; a NaN or infinite result fails.
 *   Numbers are read with strtod, which glibc rounds correctly; case
 *   files write binary64 values with 17 significant digits, so each reads
 *   back to the value written.
 */
#ifndef KVC_CERT_CASE_H
#define KVC_CERT_CASE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/error.h"
#include "io/digest.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KVC_CASE_SCHEMA_ID "kvcert-case/1"
#define KVC_CASE_MAX_BYTES ((uint64_t)16 * 1024 * 1024)
#define KVC_CASE_MAX_ID 64
#define KVC_CASE_MAX_INPUTS 64
#define KVC_CASE_MAX_FLAGS 64
#define KVC_CASE_MAX_SEARCH 32
#define KVC_CASE_MAX_ASSERTIONS 100000
#define KVC_CASE_MAX_PATH 4096 /* bytes of a path or template */
#define KVC_CASE_SIZE_LIMIT ((uint64_t)1 << 53)

typedef enum kvc_case_kind {
    KVC_CASE_PUBLISHED = 0, /* aggregates recomputed from published data */
    KVC_CASE_PIPELINE = 1,  /* synthetic inputs through the V4 path */
    KVC_CASE_MUST_FAIL = 2, /* one input-handling operation on a bad input */
    KVC_CASE_REAL_DATA = 3, /* the real shards and hidden states */
    KVC_CASE_KINDS = 4
} kvc_case_kind;

typedef enum kvc_case_backend {
    KVC_CASE_BACKEND_ANY = 0,
    KVC_CASE_BACKEND_CPU = 1,
    KVC_CASE_BACKEND_CUDA = 2
} kvc_case_backend;

typedef enum kvc_input_source {
    KVC_INPUT_FILE = 0,
    KVC_INPUT_GENERATED = 1,
    KVC_INPUT_SEARCH = 2
} kvc_input_source;

typedef enum kvc_tolerance {
    KVC_TOL_EXACT = 0,
    KVC_TOL_ABSOLUTE = 1,
    KVC_TOL_RELATIVE = 2,
    KVC_TOL_PUBLISHED_CI95 = 3,
    KVC_TOLERANCES = 4
} kvc_tolerance;

/* A JSON scalar: an expected value, or one read from results. */
typedef enum kvc_value_type {
    KVC_VAL_MISSING = 0, /* the path led nowhere */
    KVC_VAL_NUMBER = 1,
    KVC_VAL_NAN = 2,     /* JSON null (kvcert's reports write NaN so) */
    KVC_VAL_STRING = 3,
    KVC_VAL_BOOL = 4,
    KVC_VAL_COMPOUND = 5 /* an object or an array */
} kvc_value_type;

typedef struct kvc_value {
    kvc_value_type type;
    double num;      /* NUMBER; NaN for NAN */
    int boolean;     /* BOOL */
    const char *str; /* STRING (owned by whatever holds the value) */
} kvc_value;

typedef struct kvc_case_input {
    char *role;
    kvc_input_source source;
    char *path;        /* FILE: as written in the case */
    char *name;        /* GENERATED, SEARCH: the file name */
    /* GENERATED */
    char *gen_by;      /* "synth" */
    uint64_t gen_seed;
    int gen_layer;     /* 0, 2, 3; -1 for hidden states */
    uint32_t gen_passages;
    /* SEARCH */
    char **search;
    size_t n_search;
    char *obtain;
    /* the pin */
    int pinned;        /* size and sha256 known */
    uint64_t size;
    uint8_t sha256[KVC_SHA256_SIZE];
} kvc_case_input;

typedef struct kvc_case_assertion {
    char *name;    /* may be NULL */
    char *comment; /* may be NULL */
    char *path;
    kvc_value value; /* value.str owned by the case */
    kvc_tolerance tolerance;
    double bound;    /* absolute, relative */
    double ci95_hw;  /* published_ci95 */
} kvc_case_assertion;

/* A loaded case. Read-only after loading. */
typedef struct kvc_case {
    char *file; /* the case file's path */
    char *dir;  /* its directory */
    char *id;
    char *comment;
    char **flags;
    size_t n_flags;
    kvc_case_kind kind;
    kvc_case_input *inputs;
    size_t n_inputs;
    char *profile; /* NULL for JSON null */
    kvc_case_backend backend;
    void *parameters; /* cJSON object, checked against the kind */
    kvc_case_assertion *expected;
    size_t n_expected;
    char **reported;
    size_t n_reported;
    int expect_valid;
    kvc_status expect_status; /* when !expect_valid */
    char *text; /* the file's bytes, NUL-terminated (pinning rewrites them) */
} kvc_case;

const char *kvc_case_kind_name(kvc_case_kind k);
const char *kvc_tolerance_name(kvc_tolerance t);
const char *kvc_case_backend_name(kvc_case_backend b);

/* Reads and validates one case file (the rules above, and the kind's
 * parameters). Errors: KVC_OPEN / KVC_IO / KVC_LIMIT for the file;
 * KVC_CASE_JSON (not UTF-8 JSON, a NUL, text after the value);
 * KVC_CASE_SCHEMA (no or another "schema"); KVC_CASE_UNKNOWN_KEY;
 * KVC_CASE_FIELD (anything else: a missing, mistyped or out-of-range
 * field). err->tensor names the JSON path of the field ("$.inputs[2].sha256"). */
kvc_status kvc_case_load(const char *path, kvc_case **out, kvc_error *err);
/* The same from memory; origin stands for the file (its directory is the
 * base of relative input paths). */
kvc_status kvc_case_parse(const char *text, size_t len, const char *origin, kvc_case **out,
                          kvc_error *err);
void kvc_case_destroy(kvc_case *c);

/* The input with this role, or NULL. */
const kvc_case_input *kvc_case_input_find(const kvc_case *c, const char *role);

/* Checks a JSON path's syntax ("$", ".key", "[index]"). 0 when valid. */
int kvc_case_path_check(const char *path);

/* ------------------------------------------------------------ lint */

/* Lints case files: each is loaded (every rule above) and, across the
 * set, ids must be unique (KVC_CASE_DUPLICATE_ID); a file's name must be
 * "<id>.json". One line per problem on log (may be NULL): "FILE: STATUS:
 * detail". *n_bad receives the number of files with a problem. Returns
 * KVC_OK when it could look at every file (problems are counted, not
 * returned), KVC_NOMEM otherwise. */
kvc_status kvc_case_lint(const char *const *paths, size_t n, FILE *log, size_t *n_bad,
                         kvc_error *err);

/* ------------------------------------------------------------ files */

/* The case files (*.json) directly under dir, sorted by name, as
 * malloc'd paths in *paths (free each and the array). KVC_OPEN when dir
 * cannot be read. */
kvc_status kvc_case_list_dir(const char *dir, char ***paths, size_t *n, kvc_error *err);
void kvc_case_list_free(char **paths, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* KVC_CERT_CASE_H */
