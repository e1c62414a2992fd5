/* kvcert: the V4 KV write path (SPEC 5): shard files and host hidden
 * states in, the three bf16 KV streams of each passage out.
 *
 *   layer 0, main KV projection  -> sliding_window_kv     [S, 512]
 *   layer 2, compressor r = 4    -> csa_pool_kv_ratio4    [S/4, 512]
 *   layer 3, compressor r = 128  -> hca_pool_kv_ratio128  [S/128, 512]
 *
 * Every operation runs through a backend table (core/backend.h); this
 * file knows the order of the steps and nothing about how they run.
 */
#ifndef KVC_V4_PIPELINE_H
#define KVC_V4_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "core/backend.h"
#include "core/error.h"
#include "v4/profile.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KVC_V4_HIDDEN_DIM 4096
#define KVC_V4_HEAD_DIM 512
#define KVC_V4_NOPE_DIM 448    /* dims 0..447; 448..511 are the RoPE dims */
#define KVC_V4_SEQ_MULTIPLE 128 /* S must be a positive multiple of this */
#define KVC_V4_MAX_SEQ 262144   /* a bound on S (memory: 4 KiB of fp32 per token) */
#define KVC_V4_NORM_EPS 1e-6f
#define KVC_V4_NSTREAMS 3

/* The streams, in this order everywhere (files, reports, hashes). */
typedef enum kvc_v4_stream {
    KVC_V4_SWA = 0, /* sliding_window_kv */
    KVC_V4_CSA = 1, /* csa_pool_kv_ratio4 */
    KVC_V4_HCA = 2  /* hca_pool_kv_ratio128 */
} kvc_v4_stream;

const char *kvc_v4_stream_name(kvc_v4_stream s);
/* Tokens per stream row: 1, 4, 128. */
int64_t kvc_v4_stream_ratio(kvc_v4_stream s);

/* ------------------------------------------------------------ shards */

/* The shard holding each layer: 2 (layer 0), 4 (layer 2), 5 (layer 3);
 * files are named model-000NN-of-00046.safetensors. */
#define KVC_V4_SHARD_COUNT 46

/* Finds shard number `shard` (1..46) under dir. dir may be:
 *   1. a plain folder holding the file, or a snapshot folder:  dir/FILE
 *   2. the repository folder of a Hugging Face cache:
 *        dir/snapshots/REV/FILE
 *   3. the hub folder:  dir/models--deepseek-ai--DeepSeek-V4-Flash/snapshots/REV/FILE
 *   4. HF_HOME:         dir/hub/models--deepseek-ai--DeepSeek-V4-Flash/snapshots/REV/FILE
 * tried in this order. REV: the revision named by the repository's
 * refs/main first, then the other snapshot folders in byte order of their
 * names; the first that holds the file wins. Not found: KVC_SHARD_MISSING
 * naming the file and dir. */
kvc_status kvc_v4_shard_locate(const char *dir, int shard, char *path, size_t size,
                               kvc_error *err);

/* ------------------------------------------------------------ the model */

typedef struct kvc_v4_model kvc_v4_model;

/* Loads layers 0, 2 and 3 by tensor name (SPEC 1.1) from the shards under
 * dir, dequantizing FP8 tensors with their .scale and widening BF16 ones,
 * and prepares the matrices on backend be (which must outlive the model).
 * Errors: KVC_SHARD_MISSING; KVC_TENSOR_MISSING / KVC_TENSOR_DTYPE /
 * KVC_TENSOR_SHAPE naming the tensor and file; safetensors errors.
 * A model keeps its work buffers between passages: compute one passage at
 * a time per model (two threads need two models). */
kvc_status kvc_v4_model_load(const kvc_backend *be, const char *dir, kvc_v4_model **out,
                             kvc_error *err);
void kvc_v4_model_destroy(kvc_v4_model *m);

/* ------------------------------------------------------------ hidden states */

typedef struct kvc_v4_hidden kvc_v4_hidden;

/* Opens a safetensors file with one BF16 tensor `hidden` [S, 4096] or
 * [P, S, 4096]. KVC_TENSOR_MISSING, KVC_TENSOR_DTYPE (not BF16),
 * KVC_HIDDEN_SHAPE (rank not 2 or 3, width not 4096, S not a positive
 * multiple of 128, P = 0), KVC_LIMIT (S > KVC_V4_MAX_SEQ). */
kvc_status kvc_v4_hidden_open(const char *path, kvc_v4_hidden **out, kvc_error *err);
void kvc_v4_hidden_close(kvc_v4_hidden *h);
int64_t kvc_v4_hidden_passages(const kvc_v4_hidden *h);
int64_t kvc_v4_hidden_seq_len(const kvc_v4_hidden *h);
/* Passage p's bf16 values [S, 4096] in place in the mapped file (bytes,
 * little-endian as the file; not necessarily 2-byte aligned), or NULL for
 * a bad p. Valid until the file is closed. */
const void *kvc_v4_hidden_bf16(const kvc_v4_hidden *h, int64_t p);
/* Passage p widened to binary32 (exact) into x [S, 4096]. */
kvc_status kvc_v4_hidden_read(const kvc_v4_hidden *h, int64_t p, float *x, kvc_error *err);

/* ------------------------------------------------------------ the streams */

typedef struct kvc_v4_streams {
    int64_t seq_len;
    uint16_t *kv[KVC_V4_NSTREAMS]; /* bf16 bits, [S / ratio, 512] each */
} kvc_v4_streams;

/* Computes the three streams of one passage x [seq_len, 4096] (binary32
 * values of bf16 hidden states) under profile p, on the model's backend.
 * out's arrays are allocated here; free them with kvc_v4_streams_free.
 * KVC_HIDDEN_SHAPE when seq_len is not a positive multiple of 128. */
kvc_status kvc_v4_streams_compute(const kvc_v4_model *m, const kvc_profile *p, const float *x,
                                  int64_t seq_len, kvc_v4_streams *out, kvc_error *err);
void kvc_v4_streams_free(kvc_v4_streams *s);

/* The streams left in backend memory, for a chain of operations that
 * copies nothing (core/backend.h): x [seq_len, 4096] binary32 is host
 * memory, uploaded once into the model's work buffers; kv[i] receive blocks allocated
 * here with the backend's mem_alloc ([S / ratio, 512] bf16 bits each);
 * free them with kvc_v4_streams_free_on. The work may still be queued
 * when this returns (mem_download waits). Same statuses as
 * kvc_v4_streams_compute. */
kvc_status kvc_v4_streams_compute_on(const kvc_v4_model *m, const kvc_profile *p, const float *x,
                                     int64_t seq_len, uint16_t *kv[KVC_V4_NSTREAMS],
                                     kvc_error *err);
/* The same from the bf16 hidden states as bytes (host memory, e.g.
 * kvc_v4_hidden_bf16; little-endian, the byte order of every machine
 * kvcert builds on): half the bytes of an upload, widened on the backend
 * (widen_bf16; exact). */
kvc_status kvc_v4_streams_compute_bf16_on(const kvc_v4_model *m, const kvc_profile *p,
                                          const void *x, int64_t seq_len,
                                          uint16_t *kv[KVC_V4_NSTREAMS], kvc_error *err);
/* The same with x [seq_len, 4096] binary32 already in backend memory (no
 * upload). */
kvc_status kvc_v4_streams_compute_resident(const kvc_v4_model *m, const kvc_profile *p,
                                           const float *x, int64_t seq_len,
                                           uint16_t *kv[KVC_V4_NSTREAMS], kvc_error *err);
void kvc_v4_streams_free_on(const kvc_v4_model *m, uint16_t *kv[KVC_V4_NSTREAMS]);
/* The backend a model runs on. */
const kvc_backend *kvc_v4_model_backend(const kvc_v4_model *m);

#ifdef __cplusplus
}
#endif

#endif /* KVC_V4_PIPELINE_H */
