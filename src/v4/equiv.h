/* kvcert: the equivalence check of two backends (DESIGN.md rule 6).
 *
 * Every operation of the backend table runs on both backends with the
 * same seeded inputs (random ones and adversarial ones: +-0, subnormals,
 * huge values, bf16 ties, rows of zeros, NaN where the operation keeps
 * NaN bits), each output buffer with guard bytes before and after it
 * (a write outside the output is a failure), and the outputs are compared
 * byte for byte and by SHA-256. Then the whole V4 write path runs on both
 * backends for every profile and the streams are compared the same way.
 *
 * The chaining helpers (widen_bf16 over every bf16 pattern, hadamard_rows
 * at d = 2..4096 and in place, abs_scaled, first_difference with the
 * difference nowhere / first / last / inside, fp8_ds_mla_encode/decode
 * with corrupted records that must fail alike) are cases too. With
 * test_mem every table operation runs again on the test side with all its
 * arrays in that backend's memory.
 *
 * The check is symmetric in the backends; `ref` is the one whose outputs
 * are reported first ("cpu" in `kvcert equiv`).
 *
 * The codec and statistics operations get seeded vectors of several
 * kinds (Gaussian-like, heavy-tailed, zero, tiny and huge norms, vectors
 * whose Hadamard image lands on chosen points at and inside +-Q after
 * scaling, one-hot, constant); outputs in binary64 are compared as pairs
 * of 4-byte elements (low word first).
 *
 * NaN: only round_bf16 and widen_bf16 (bit operations: every bf16
 * pattern) get NaN inputs. Every other operation passes
 * values through IEEE arithmetic, whose NaN results carry hardware-chosen
 * bits (see kernels/cuda_backend.h), so NaN there is outside the contract;
 * the inputs keep every intermediate away from NaN (bounded magnitudes,
 * no infinities).
 */
#ifndef KVC_V4_EQUIV_H
#define KVC_V4_EQUIV_H

#include <stdint.h>

#include "core/backend.h"
#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The operations checked, as bits of a mask. */
typedef enum kvc_equiv_op {
    KVC_EQUIV_MATMUL = 0,
    KVC_EQUIV_ROUND_BF16,
    KVC_EQUIV_ACT_QUANT,
    KVC_EQUIV_RMSNORM,
    KVC_EQUIV_ROPE,
    KVC_EQUIV_POOL,
    KVC_EQUIV_KVSIM,
    KVC_EQUIV_DEQUANT, /* not a table operation: the dequant functions below */
    KVC_EQUIV_CODEC_ROUNDTRIP, /* codecs and statistics (SPEC 7) */
    KVC_EQUIV_CODEC_ENCODE,
    KVC_EQUIV_CODEC_DECODE,
    KVC_EQUIV_FP8_PER64,
    KVC_EQUIV_FP8_DS_MLA,
    KVC_EQUIV_RECON_METRICS,
    KVC_EQUIV_COLUMN_MOMENTS,
    KVC_EQUIV_COLUMN_QUANTILE,
    KVC_EQUIV_WIDEN_BF16, /* chaining helpers (core/backend.h) */
    KVC_EQUIV_HADAMARD_ROWS,
    KVC_EQUIV_ABS_SCALED,
    KVC_EQUIV_FIRST_DIFFERENCE,
    KVC_EQUIV_FP8_DS_MLA_ENCODE,
    KVC_EQUIV_FP8_DS_MLA_DECODE,
    KVC_EQUIV_MATMUL_GROUP, /* several products of one x (the pipeline's) */
    KVC_EQUIV_OP_COUNT
} kvc_equiv_op;

#define KVC_EQUIV_ALL_OPS ((1u << KVC_EQUIV_OP_COUNT) - 1u)

/* "matmul", "round_bf16", ...; NULL out of range. */
const char *kvc_equiv_op_name(kvc_equiv_op op);
/* Parses a comma-separated list of names ("matmul,rope") into a mask;
 * KVC_INVALID_ARGUMENT naming the first unknown name. */
kvc_status kvc_equiv_parse_ops(const char *list, unsigned *mask, kvc_error *err);

/* The outcome of one compared case. */
typedef struct kvc_equiv_case {
    char id[96];          /* "matmul/127x129x131/adversarial", "pipeline/v4/csa_pool_kv_ratio4" */
    int identical;        /* same bytes, every guard intact, both calls succeeded */
    int64_t first_diff;   /* first differing element, -1 when none */
    int elem_bytes;       /* 1 (stream bytes), 2 (bf16 bits) or 4 (binary32; binary64 as two) */
    uint32_t ref_bits, test_bits; /* that element on each side */
    uint8_t sha_ref[32], sha_test[32];
    char problem[640];    /* non-empty when a call failed or a guard was hit */
} kvc_equiv_case;

typedef void (*kvc_equiv_report_fn)(void *arg, const kvc_equiv_case *c);

/* kvc_dequant_fp8_block's signature (v4/dequant.h); the CUDA one binds
 * its device. */
typedef kvc_status (*kvc_equiv_dequant_fn)(void *arg, const uint8_t *w, int64_t rows,
                                           int64_t cols, const uint8_t *scale, int64_t srows,
                                           int64_t scols, float *out, kvc_error *err);

typedef struct kvc_equiv_options {
    uint64_t seed;         /* inputs of case i come from a generator seeded by (seed, op, i) */
    unsigned ops;          /* mask of 1u << kvc_equiv_op; 0 means all */
    int large;             /* also the pipeline's full shapes (S = 2048) */
    kvc_equiv_dequant_fn ref_dequant, test_dequant; /* NULL: dequant is skipped */
    void *ref_dequant_arg, *test_dequant_arg;
    /* 1: the test backend runs every table operation with all its arrays
     * in its own backend memory (kvc_equiv_mem_proxy_create); case ids get
     * "[mem]" after the operation's name ("hadamard_rows[mem]/7x512/random");
     * dequant, not a table operation, is skipped. */
    int test_mem;
} kvc_equiv_options;

/* Runs the per-operation cases; fn is called once per case, in order.
 * *identical and *total count the cases. Returns KVC_OK when the check
 * could run (differences are reported, not errors), KVC_NOMEM or a digest
 * failure otherwise. */
kvc_status kvc_equiv_ops(const kvc_backend *ref, const kvc_backend *test,
                         const kvc_equiv_options *opt, kvc_equiv_report_fn fn, void *arg,
                         int *identical, int *total, kvc_error *err);

/* Runs the V4 write path for every profile (SPEC 4) on the shards under
 * shard_dir and passage 0 of the hidden states file, on both backends,
 * and reports one case per (profile, stream). Loading errors are
 * returned (as kvc_v4_model_load reports them); a failing computation is
 * a case with its problem filled. */
kvc_status kvc_equiv_pipeline(const kvc_backend *ref, const kvc_backend *test,
                              const char *shard_dir, const char *hidden_path,
                              kvc_equiv_report_fn fn, void *arg, int *identical, int *total,
                              kvc_error *err);

/* A table that runs each operation of `inner` with every array argument
 * in inner's backend memory: one mem_alloc block per array, inputs
 * uploaded, the inner operation called on the blocks, outputs downloaded
 * (src/v4/equiv_mem.c). Invalid shapes and NULL arrays go to the inner
 * operation unchanged (its own argument errors). KVC_BACKEND_UNAVAILABLE
 * when inner has no backend memory. Destroy before inner. */
kvc_status kvc_equiv_mem_proxy_create(const kvc_backend *inner, kvc_backend **out,
                                      kvc_error *err);
void kvc_equiv_mem_proxy_destroy(kvc_backend *be);

/* Compares two outputs of n elements of elem_bytes each (1, 2 or 4) into c
 * (identical, first_diff, the two elements' bits, both SHA-256). */
kvc_status kvc_equiv_compare(const void *ref, const void *test, int64_t n, int elem_bytes,
                             kvc_equiv_case *c, kvc_error *err);

#ifdef __cplusplus
}
#endif

#endif /* KVC_V4_EQUIV_H */
