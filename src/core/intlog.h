/* kvcert: ⌈k·log2(2Q+1)⌉ exactly, with integer arithmetic (never libm).
 *
 * For an odd base b = 2Q+1 > 1, b^k is odd and greater than 1, so it is not
 * a power of two and ⌈k·log2 b⌉ = bitlength(b^k), the number of binary
 * digits of b^k, computed exactly as a multi-word integer. The one
 * definition behind the codecs' accounted bits (codec/bits.h) and the
 * statistics' bit figures (stats/bits.h).
 */
#ifndef KVC_CORE_INTLOG_H
#define KVC_CORE_INTLOG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Largest Q accepted (2Q+1 must fit in 32 bits). */
#define KVC_CEIL_KLOG2_Q_MAX 2147483647u

/* ⌈k·log2(2Q+1)⌉ for k in 1..8 and 1 <= Q <= KVC_CEIL_KLOG2_Q_MAX;
 * 0 for arguments out of range. */
unsigned kvc_ceil_klog2_odd(unsigned k, uint32_t q);

#ifdef __cplusplus
}
#endif

#endif
