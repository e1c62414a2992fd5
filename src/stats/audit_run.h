/* kvcert: the end-to-end audit and Q-sweep drivers (`kvcert audit`,
 * `kvcert sweep`): shards + hidden states -> the three V4 KV streams of
 * each selected passage (through a backend table) -> per stream the audit
 * (audit.h, with its gates and the Gaussian calibration row of the same
 * N and D), the codecs and their metrics -> a kvcert-report/1 document
 * (published.h) whose aggregates are made by kvc_report_aggregate, never
 * here.
 *
 * Audit mode, per passage and stream, codecs in this order:
 *   v14_d4_Q<Q> and v15_e8_Q<Q> for each Q (ascending): roundtrip
 *     (kakeya.h), and, where kvcert's bitstream exists (Q <= 126), encode
 *     + decode, failing with KVC_INTERNAL unless decode(encode(x)) equals
 *     the roundtrip bit for bit; "bits_per_vector" is the accounted size
 *     (SPEC 7.2), "bits_realized" the bitstream's size per vector;
 *   fp8_per64_baseline (4224 bits, simulated: no byte format);
 *   fp8_ds_mla (4672 bits, 584-byte records encoded and decoded; the
 *     decode must equal the simulation bit for bit).
 * Sweep mode: fp8_per64_baseline and v15_e8_Q<Q> for each Q; the result is
 * a q-sweep document (the published Q-sweep file's shape) whose thresholds
 * and max usable compression ratios come from kvc_report_aggregate on the
 * aggregates of the per-passage run.
 *
 * The codecs and metrics run on the CPU whatever the backend; only the
 * streams run on `be`. Per-passage results carry the extra keys "shape",
 * "audit_gates", "audit_calibration" and "ratios_vs_fp8" (readers ignore
 * them); the aggregate carries "audit_gates" (of the mean),
 * "audit_calibration" and the codecs' "bits_realized".
 */
#ifndef KVC_STATS_AUDIT_RUN_H
#define KVC_STATS_AUDIT_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "core/backend.h"
#include "core/error.h"
#include "v4/profile.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KVC_AUDIT_RUN_MAX_Q 64

typedef enum kvc_audit_mode {
    KVC_AUDIT_MODE_AUDIT = 0,
    KVC_AUDIT_MODE_SWEEP = 1
} kvc_audit_mode;

/* Progress: called after each passage with (done, total) passages. */
typedef void (*kvc_audit_progress_fn)(void *ctx, uint64_t done, uint64_t total);

typedef struct kvc_audit_run_options {
    kvc_audit_mode mode;
    const kvc_profile *profile;
    const uint32_t *q; /* nq values, 1..126, no duplicates (any order) */
    size_t nq;
    const char *passages;     /* "0,2,5-7"; NULL = all */
    const char *backend_name; /* recorded in the report's config */
    kvc_audit_progress_fn progress;
    void *progress_ctx;
} kvc_audit_run_options;

/* Parses a Q list "10,38" (each 1..126, no duplicates, at most
 * KVC_AUDIT_RUN_MAX_Q) into q[], ascending. Returns the count, or -1. */
int kvc_audit_parse_q_list(const char *s, uint32_t *q, size_t max);

/* Parses a passage list "0,2,5-7" into sel[0..np) flags (each index below
 * np, each once). Returns 0, or -1 when malformed. */
int kvc_audit_parse_passages(const char *s, int64_t np, unsigned char *sel);

/* Runs the audit or the sweep. *json receives the report text (malloc'd,
 * NUL-terminated, a newline at the end). Errors: those of the V4 path
 * (missing shard, bad hidden states), KVC_USAGE for a bad passage list,
 * KVC_CODEC_PARAM for a bad Q, KVC_INTERNAL when a bitstream does not
 * decode to the roundtrip, KVC_NOMEM. */
kvc_status kvc_audit_run(const kvc_backend *be, const char *shards, const char *hidden,
                         const kvc_audit_run_options *opt, char **json, kvc_error *err);

#ifdef __cplusplus
}
#endif

#endif /* KVC_STATS_AUDIT_RUN_H */
