/* kvcert: bit accounting of the KakeyaLattice codecs (SPEC.md 7.2).
 *
 * Accounted bits per vector, as the published work counted them:
 *   D4: (D/4) * ceil(4 * log2(2Q+1) - 1) + 32
 *   E8: (D/8) * ceil(8 * log2(2Q+1))     + 32
 * (ceiling per block; 32 = the two fp16 scalars n^ and m^).
 *
 * The ceiling is decided EXACTLY, without libm: ceil(k*log2(2Q+1)) is the
 * bit length of (2Q+1)^k, an exact multi-word integer (core/intlog.h, the
 * one definition the statistics' bit figures use too); D4 subtracts 1.
 * Q is limited to KVC_CODEC_ACCOUNT_Q_MAX, the codec's own range.
 *
 * Realized bits are what kvcert's real bitstream spends (kakeya.h): 32 +
 * (D/block) * ceil(log2(count)), count = the number of distinct block
 * outputs the roundtrip can produce (a superset; see kakeya.h). They are
 * defined for Q <= KVC_KAKEYA_BITSTREAM_Q_MAX.
 *
 * D = 512: D4 Q10 2208, D4 Q38 3232, E8 Q10 2336, E8 Q38 3296 (accounted).
 */
#ifndef KVC_CODEC_BITS_H
#define KVC_CODEC_BITS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum kvc_codec_kind {
    KVC_CODEC_D4 = 0, /* D4 lattice, blocks of 4 */
    KVC_CODEC_E8 = 1  /* E8 lattice, blocks of 8 */
} kvc_codec_kind;

/* Largest Q the accounted-bits formula accepts ((2Q+1)^8 < 2^128). */
#define KVC_CODEC_ACCOUNT_Q_MAX 32767

/* Block size of a kind: 4 or 8; 0 for an unknown kind. */
int kvc_codec_block_dim(kvc_codec_kind kind);
/* "d4" / "e8"; NULL for an unknown kind. */
const char *kvc_codec_kind_name(kvc_codec_kind kind);
/* Parses "d4" / "e8" (lower case); -1 when unknown. */
int kvc_codec_kind_from_name(const char *name);

/* Accounted bits per block (without the 32-bit overhead): ceil(4 log2(2Q+1) - 1)
 * or ceil(8 log2(2Q+1)); -1 when kind or Q (1..KVC_CODEC_ACCOUNT_Q_MAX) is invalid. */
int kvc_codec_accounted_block_bits(kvc_codec_kind kind, int q);

/* Accounted bits per vector of dimension D (a power of two, 4..4096, a
 * multiple of the block size); -1 when a parameter is invalid. */
int64_t kvc_codec_accounted_bits(kvc_codec_kind kind, int d, int q);

#ifdef __cplusplus
}
#endif

#endif /* KVC_CODEC_BITS_H */
