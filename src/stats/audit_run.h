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
 * Everything runs on `be`: the streams stay in its memory
 * (kvc_v4_streams_compute_on) and each stream is widened, audited
 * (kvc_stats_audit_on), coded, decoded, compared and measured by the
 * table's operations on work buffers taken once per run with be->mem_alloc;
 * only the per-dim and per-codec figures come back to the host. The
 * Gaussian calibration row runs on the CPU (cached per N). The config's
 * "streams_backend" and "codec_backend" are both opt->backend_name.
 * Per-passage results carry the extra keys "shape", "audit_gates",
 * "audit_calibration" and "ratios_vs_fp8" (readers ignore them); the
 * aggregate carries "audit_gates" (of the mean), "audit_calibration" and
 * the codecs' "bits_realized".
 */
#ifndef KVC_STATS_AUDIT_RUN_H
#define KVC_STATS_AUDIT_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "core/backend.h"
#include "core/error.h"
#include "stats/audit.h"
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
    const char *backend_name; /* recorded in the report's config ("cpu", "cuda") */
    kvc_audit_progress_fn progress;
    void *progress_ctx;
} kvc_audit_run_options;

/* ------------------------------------------------------------ one stream */
/* The per-stream measurement both `kvcert audit`/`sweep` and `kvcert
 * certify` (src/cert) make: widen the bf16 stream, audit it, then each
 * codec: for each Q (in the order given) v14_d4_Q<Q> (if with_d4) and
 * v15_e8_Q<Q>, then fp8_per64_baseline, then fp8_ds_mla (if with_ds_mla).
 * A codec with a byte format is encoded and decoded on the backend and the
 * decode compared with the roundtrip (first_difference). */

#define KVC_MEASURE_MAX_CODECS (2 * KVC_AUDIT_RUN_MAX_Q + 2)
#define KVC_MEASURE_NAME_MAX 32

typedef struct kvc_measure_spec {
    const uint32_t *q; /* nq values, 1..126 (KVC_CODEC_PARAM otherwise) */
    size_t nq;         /* 1..KVC_AUDIT_RUN_MAX_Q */
    int with_d4;       /* the D4 codec at each Q */
    int with_ds_mla;   /* fp8_ds_mla */
    /* 1: a decode that differs from its roundtrip fails KVC_INTERNAL
     * (naming passage, stream and codec); 0: it is recorded in
     * matches_roundtrip and the measurement goes on. */
    int strict;
} kvc_measure_spec;

typedef struct kvc_measured_codec {
    char name[KVC_MEASURE_NAME_MAX]; /* "v15_e8_Q38", "fp8_per64_baseline", ... */
    int64_t accounted_bits;          /* SPEC 7.2 */
    int64_t realized_bits;           /* per vector of its byte format; -1: none */
    uint64_t stream_bytes;           /* bytes of its format for this stream; 0: none */
    int matches_roundtrip;           /* decode == roundtrip bit for bit (1 when no format) */
    double rel_mse, cos_sim;         /* stats/metrics.h, against the widened stream */
} kvc_measured_codec;

typedef struct kvc_stream_measure {
    kvc_audit audit;
    size_t ncodec;
    kvc_measured_codec codec[KVC_MEASURE_MAX_CODECS];
} kvc_stream_measure;

/* Work buffers in a backend's memory, grown as streams grow. */
typedef struct kvc_measure_work kvc_measure_work;
kvc_status kvc_measure_work_create(const kvc_backend *be, kvc_measure_work **out,
                                   kvc_error *err);
void kvc_measure_work_destroy(kvc_measure_work *w);

/* Measures one stream kv [n, 512] bf16 bits (host memory or backend memory
 * of the work's backend); passage and stream only name it in messages.
 * Errors: KVC_CODEC_PARAM, KVC_INTERNAL (strict), the backend's own,
 * KVC_BACKEND_UNAVAILABLE for a missing operation, KVC_NOMEM. */
kvc_status kvc_measure_stream(kvc_measure_work *w, const kvc_measure_spec *spec,
                              int64_t passage, const char *stream, const uint16_t *kv, size_t n,
                              kvc_stream_measure *out, kvc_error *err);
/* The codec of that name in m, or NULL. */
const kvc_measured_codec *kvc_measure_find(const kvc_stream_measure *m, const char *name);

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

/* Compares two reports of kvc_audit_run (e.g. of two backends) field by
 * field, numbers by their binary64 bits, ignoring only config's
 * "streams_backend" and "codec_backend". KVC_BACKEND_MISMATCH naming the
 * first differing field (its JSON path, array elements labelled by
 * passage or stream: "per_passage[passage 0].results[csa_pool_kv_ratio4]
 * .codecs.v15_e8_Q38.rel_mse") with both values in decimal and as hex
 * binary64; KVC_INTERNAL when one does not parse. */
kvc_status kvc_audit_compare_reports(const char *a, const char *name_a, const char *b,
                                     const char *name_b, kvc_error *err);

#ifdef __cplusplus
}
#endif

#endif /* KVC_STATS_AUDIT_RUN_H */
