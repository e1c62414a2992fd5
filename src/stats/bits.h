/* kvcert: accounted bits per vector (SPEC.md §7.1, §7.2), exactly.
 *
 *   D4 (block 4):  (D/4)·⌈4·log2(2Q+1) − 1⌉ + 32
 *   E8 (block 8):  (D/8)·⌈8·log2(2Q+1)⌉ + 32
 *   FP8 per-64:    D·8 + (D/64)·16          (4224 at D = 512)
 *   bf16:          D·16                      (8192 at D = 512)
 *
 * The ceilings are decided with integer arithmetic, never with a log2
 * (core/intlog.h). ⌈x − 1⌉ = ⌈x⌉ − 1, so D4 uses ⌈4·log2(2Q+1)⌉ − 1.
 *
 * D = 512: D4 Q10 2208, D4 Q38 3232, E8 Q10 2336, E8 Q38 3296; Q = 38,
 * 39 and 40 all cost 3296 (the ceiling is per block).
 */
#ifndef KVC_STATS_BITS_H
#define KVC_STATS_BITS_H

#include <stdint.h>

#include "core/error.h"
#include "core/intlog.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest Q accepted (2Q+1 must fit in 32 bits). */
#define KVC_BITS_Q_MAX KVC_CEIL_KLOG2_Q_MAX
/* Largest head dimension accepted. */
#define KVC_BITS_D_MAX (1u << 24)

typedef enum kvc_lattice {
    KVC_LATTICE_D4 = 4,
    KVC_LATTICE_E8 = 8
} kvc_lattice;

/* Accounted bits per vector of a KakeyaLattice codec. KVC_CODEC_PARAM
 * when Q is 0 or above KVC_BITS_Q_MAX, or D is 0, above KVC_BITS_D_MAX or
 * not a multiple of the block. */
kvc_status kvc_stats_lattice_bits(kvc_lattice lat, uint32_t d, uint32_t q, uint64_t *bits,
                                  kvc_error *err);
/* FP8 per-64-block baseline bits (D a multiple of 64). */
kvc_status kvc_stats_fp8_bits(uint32_t d, uint64_t *bits, kvc_error *err);
/* bf16 reference bits. */
kvc_status kvc_stats_bf16_bits(uint32_t d, uint64_t *bits, kvc_error *err);

/* Bits of a codec named as the published files name them:
 * "v14_d4_Q<Q>" (D4), "v15_e8_Q<Q>" (E8), "fp8_per64_baseline".
 * Returns 1 and sets *bits when the name is known and valid, else 0. */
int kvc_stats_codec_bits(const char *name, uint32_t d, uint64_t *bits);
/* Parses "v15_e8_Q<Q>" (E8 codec names); returns 1 and sets *q, else 0. */
int kvc_stats_parse_e8_name(const char *name, uint32_t *q);

#ifdef __cplusplus
}
#endif

#endif /* KVC_STATS_BITS_H */
