/* kvcert: report files — the published study's JSON and kvcert's own —
 * read, re-aggregated (SPEC.md §8), checked field by field, and written.
 *
 * ------------------------------------------------------------ inputs
 * Four shapes are recognized (the first key that decides wins):
 *
 * 1. kvcert's own report, "schema": "kvcert-report/1" (below).
 * 2. The published n-passage file (stage075_n8.json): "per_passage" is an
 *    array of {"passage_id", "results": [stream result...]}, and
 *    "aggregate_by_stream" holds the study's aggregates.
 * 3. The published single-run files (stage075_cpu.json,
 *    stage075_trained.json): "results_by_stream" is one passage's
 *    [stream result...]; read as one passage (n = 1), no stored aggregates.
 * 4. The published Q-sweep file (stage075_qsweep_n8.json): aggregates
 *    only — "aggregate_by_stream" entries with "fp8_rel_mse",
 *    "e8_rel_mse_by_q", "audit", "thresholds"; "bits_per_vec_by_q".
 *
 * A stream result is {"stream": name, "audit": {metric: number},
 * "codecs": {codec: {"bits_per_vector": int, "rel_mse": number,
 * "cos_sim": number}}}; other keys (shape, dtype, wall_time_sec) are
 * ignored. Reading is strict where the study's code was lenient: every
 * passage must hold the same streams, each once, with the same audit
 * metrics and codecs as passage 0 (passage 0 fixes the order), every value
 * a finite number, bits_per_vector the same in every passage, no
 * duplicate keys. Any violation is KVC_REPORT_FORMAT with the JSON path
 * ("$.per_passage[3].results[1].codecs.v15_e8_Q38.rel_mse: ...") at the
 * start of the error detail. Files over KVC_REPORT_MAX_BYTES, or with more
 * than the KVC_REPORT_MAX_* entries, are KVC_LIMIT. Not UTF-8, a NUL byte,
 * or not JSON: KVC_REPORT_FORMAT with the byte offset.
 *
 * ------------------------------------------------------------ kvcert-report/1
 * {
 *   "schema": "kvcert-report/1",                 required, exactly this
 *   "kind": "per-passage" | "q-sweep",           required
 *   "source": {"file": str, "sha256": hex64,     optional provenance: the file
 *              "citation": str, "note": str},    the data was taken from
 *   "generator": str,                            optional
 *   "config": {"head_dim": int,                  D for accounted bits (512 if absent)
 *              "n_passages": int, "q_values": [int], ...},   other keys informative
 *   "aggregate_options": {"t_source": "published-table" | "exact-student-t",
 *                         "summation": "correctly-rounded",
 *                         "layers": {"SWA": num, "CSA": num, "HCA": num}},
 *                                                optional; how the stored
 *                                                aggregates were made (used
 *                                                by --check unless overridden)
 *   per-passage kind:
 *   "per_passage": [{"passage_id": int,          required; same shape and names
 *                    "results": [stream result]}],   as the published n = 8 file
 *   "aggregate_by_stream": {stream: {            optional; when present, the
 *        "audit":   {metric: AGG},               expected aggregates (checked)
 *        "codecs":  {codec: {"bits_per_vector": int, "rel_mse": AGG, "cos_sim": AGG}},
 *        "ratios_vs_fp8": {codec: AGG},          per-passage ratio, mean of ratios
 *        "e8_ratio_of_means_vs_fp8": {"<Q>": num},   optional (from the E8 codecs)
 *        "thresholds": {variant: THR}}},         optional (from the E8 codecs)
 *   q-sweep kind:
 *   "bits_per_vec_by_q": {"<Q>": int},           optional, checked
 *   "aggregate_by_stream": {stream: {            required
 *        "fp8_rel_mse": AGG, "e8_rel_mse_by_q": {"<Q>": AGG},
 *        "audit": {metric: AGG}, "thresholds": {variant: THR},
 *        "e8_ratio_of_means_vs_fp8": {"<Q>": num}}},   optional: E8 mean / FP8 mean
 *   either kind, written by `kvcert aggregate --json`, checked when present:
 *   "layer_weighted": {"layers": {"SWA": num, "CSA": num, "HCA": num},
 *                      "ratios_vs_fp8": {codec: {"mean": num, "ci95_hw": num}}},
 *   "max_usable_cr": {variant: {"strategy1_unified_q": STRAT,
 *                               "strategy2_per_stream_q": STRAT}}
 * }
 * AGG  = {"mean": num|null, "std": num|null, "ci95_hw": num|null, "n": int,
 *         "t_source": str (optional)}; null stands for NaN (JSON has none).
 * THR  = the published threshold record: "admissible", "threshold_multiplier",
 *        "budget_rel_mse", and when admissible "use_ci_upper", "Q_min",
 *        "bits_per_vec", "cr_vs_fp8", "cr_vs_bf16", "bit_saving_vs_fp8_pct",
 *        "bit_saving_vs_bf16_pct", "e8_rel_mse_used", "fp8_rel_mse_ref_mean",
 *        "margin_pct".
 * STRAT = {"admissible": bool, and when admissible "Q": {stream: int},
 *          "bits_per_vec": num, "cr_vs_fp8", "cr_vs_bf16",
 *          "bit_saving_vs_fp8_pct", "bit_saving_vs_bf16_pct"}.
 * variant = "A_no_regression_point", "A_no_regression_ci95_conservative",
 *           "B_plus5pct_point", ..., "C_plus20pct_ci95_conservative".
 * Numbers are written with the fewest digits that read back to the same
 * binary64 (so a report round-trips bit for bit). golden/README.md has
 * the same description.
 */
#ifndef KVC_STATS_PUBLISHED_H
#define KVC_STATS_PUBLISHED_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/error.h"
#include "stats/aggregate.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KVC_REPORT_SCHEMA "kvcert-report/1"
#define KVC_REPORT_NAME_MAX 64            /* names: 1..63 bytes */
#define KVC_REPORT_MAX_BYTES (64u << 20)  /* 64 MiB */
#define KVC_REPORT_MAX_PASSAGES 100000u
#define KVC_REPORT_MAX_STREAMS 16u
#define KVC_REPORT_MAX_METRICS 64u
#define KVC_REPORT_MAX_CODECS 256u
#define KVC_REPORT_MAX_Q 1024u
#define KVC_REPORT_DEFAULT_HEAD_DIM 512u

typedef enum kvc_report_kind {
    KVC_REPORT_PER_PASSAGE = 0,
    KVC_REPORT_QSWEEP = 1
} kvc_report_kind;

typedef enum kvc_report_origin {
    KVC_ORIGIN_KVCERT = 0,               /* schema kvcert-report/1 */
    KVC_ORIGIN_PUBLISHED_PASSAGES = 1,   /* per_passage + aggregate_by_stream */
    KVC_ORIGIN_PUBLISHED_SINGLE = 2,     /* results_by_stream */
    KVC_ORIGIN_PUBLISHED_QSWEEP = 3      /* aggregates only */
} kvc_report_origin;

/* Per-passage values of one metric: v[0..n_passages-1]. */
typedef struct kvc_report_series {
    char name[KVC_REPORT_NAME_MAX];
    double *v;
} kvc_report_series;

typedef struct kvc_report_codec {
    char name[KVC_REPORT_NAME_MAX];
    int64_t bits_per_vector; /* as stored; -1 when absent */
    double *rel_mse;         /* [n_passages] */
    double *cos_sim;         /* [n_passages] */
} kvc_report_codec;

typedef struct kvc_report_stream {
    char name[KVC_REPORT_NAME_MAX];
    /* per-passage kind */
    size_t n_audit;
    kvc_report_series *audit;
    size_t n_codecs;
    kvc_report_codec *codecs;
    /* q-sweep kind: the stored aggregates (file order) */
    kvc_stats_agg fp8;
    size_t n_q;
    uint32_t *q;
    kvc_stats_agg *e8;
    size_t n_audit_agg;
    char (*audit_agg_names)[KVC_REPORT_NAME_MAX];
    kvc_stats_agg *audit_agg;
} kvc_report_stream;

/* A loaded report. Read-only after kvc_report_load. */
typedef struct kvc_report {
    kvc_report_kind kind;
    kvc_report_origin origin;
    char path[512];
    uint32_t head_dim;
    size_t n_passages;
    int64_t *passage_id; /* [n_passages]; -1 when absent */
    size_t n_streams;
    kvc_report_stream *streams;
    /* What the file records about how its aggregates were made. */
    int has_t_source;
    kvc_t_source t_source;
    int has_layers;
    double layers[KVC_ROLE_COUNT];
    void *json; /* the parsed document (cJSON *), kept for checking */
} kvc_report;

/* Human name of the shape: "kvcert-report/1 per-passage", "published
 * per-passage", "published single run", "published Q-sweep", ... */
const char *kvc_report_origin_name(const kvc_report *r);

kvc_status kvc_report_load(const char *path, kvc_report **out, kvc_error *err);
/* Parses len bytes of text; name labels errors (a path, or "<memory>"). */
kvc_status kvc_report_parse(const char *text, size_t len, const char *name, kvc_report **out,
                            kvc_error *err);
void kvc_report_destroy(kvc_report *r);

/* ------------------------------------------------------------ recomputed */

typedef struct kvc_result_codec {
    const char *name;      /* points into the report */
    int has_bits;          /* accounted bits known from the name (bits.h) */
    uint64_t bits;
    kvc_stats_agg rel_mse;
    kvc_stats_agg cos_sim;
    int has_ratio;         /* not for the baseline itself */
    kvc_stats_agg ratio;   /* per-passage codec/fp8, aggregated */
} kvc_result_codec;

typedef struct kvc_result_stream {
    const char *name;
    int role; /* KVC_ROLE_*, or -1 */
    /* per-passage kind */
    size_t n_audit;
    kvc_stats_agg *audit; /* names: the report's stream audit[] */
    size_t n_codecs;
    kvc_result_codec *codecs;
    /* The Q-sweep view (per-passage kind: from fp8_per64_baseline and the
     * v15_e8_Q<Q> codecs; q-sweep kind: the stored aggregates). */
    int has_sweep;
    kvc_stats_agg fp8;
    size_t n_q;
    uint32_t *q;              /* ascending */
    kvc_stats_agg *e8;        /* per q */
    double *ratio_of_means;   /* e8 mean / fp8 mean, per q */
    kvc_threshold thr[KVC_THRESHOLD_VARIANTS];
    /* q-sweep kind: ci95_hw recomputed from each stored std and n */
    double fp8_hw;
    double *e8_hw;            /* file order, as stream->e8 */
    double *audit_hw;         /* as stream->audit_agg */
} kvc_result_stream;

typedef struct kvc_result_lw {
    const char *codec;
    double mean;
    double hw;
} kvc_result_lw;

typedef struct kvc_result {
    kvc_agg_options opt;
    double layers[KVC_ROLE_COUNT];
    size_t n_streams;
    kvc_result_stream *streams;
    int has_roles;                     /* all three roles present */
    size_t role_stream[KVC_ROLE_COUNT];
    size_t n_lw;                       /* layer-weighted ratios (per-passage kind) */
    kvc_result_lw *lw;
    int has_strategies;                /* every role stream has a sweep view */
    kvc_strategy strategy1[KVC_THRESHOLD_VARIANTS];
    kvc_strategy strategy2[KVC_THRESHOLD_VARIANTS];
} kvc_result;

/* Recomputes everything derivable from r. opt and layers may be NULL
 * (defaults: published t table, exact sums, layers 3/20/20). */
kvc_status kvc_report_aggregate(const kvc_report *r, const kvc_agg_options *opt,
                                const double *layers, kvc_result **out, kvc_error *err);
void kvc_result_destroy(kvc_result *res);

/* ------------------------------------------------------------ checking */

typedef enum kvc_check_category {
    KVC_CHECK_AGGREGATE = 0, /* mean/std/ci95_hw/n from per-passage values */
    KVC_CHECK_HW = 1,        /* ci95_hw from a stored std and n */
    KVC_CHECK_BITS = 2,      /* accounted bits */
    KVC_CHECK_THRESHOLD = 3, /* Q-sweep threshold records */
    KVC_CHECK_DERIVED = 4,   /* layer_weighted, max_usable_cr, ratio of means */
    KVC_CHECK_CATEGORIES = 5
} kvc_check_category;

const char *kvc_check_category_name(kvc_check_category c);

typedef struct kvc_check_counts {
    size_t fields;
    size_t matched;
    size_t cat_fields[KVC_CHECK_CATEGORIES];
    size_t cat_matched[KVC_CHECK_CATEGORIES];
} kvc_check_counts;

/* Compares every value the file stores that res recomputes, bit for bit
 * (NaN equals NaN; null stands for NaN). Each mismatch is one line on log
 * (may be NULL): the JSON path, the stored and the recomputed value in
 * %.17g and hexadecimal. A stored value that is missing, of the wrong
 * type, or has no recomputed counterpart is a mismatch too. Fills
 * counts; returns KVC_OK (mismatches are counts, not errors). */
kvc_status kvc_report_check(const kvc_report *r, const kvc_result *res, FILE *log,
                            kvc_check_counts *counts, kvc_error *err);

/* ------------------------------------------------------------ writing */

/* Writes res as a kvcert-report/1 document (with r's per-passage values,
 * so the output can be read and checked again). */
kvc_status kvc_report_write_json(const kvc_report *r, const kvc_result *res, FILE *out,
                                 kvc_error *err);
/* Formats x with the fewest significant digits that read back to x
 * ("%.Ng", N = 1..17; "null" for NaN and infinities). */
const char *kvc_report_format_double(double x, char *buf, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* KVC_STATS_PUBLISHED_H */
