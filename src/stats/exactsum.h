/* kvcert: correctly rounded summation of binary64 values (SPEC.md §8).
 *
 * "Every sum is correctly rounded": the exact mathematical sum of the
 * inputs, rounded once to the nearest binary64 (ties to even). kvcert's
 * statistics use it for every mean and every sum of squares, which is
 * what makes all 240 aggregate fields of the published n = 8 file
 * reproduce bit for bit (naive left-to-right summation misses 13).
 *
 * Algorithm: a fixed-point superaccumulator. Every finite binary64 value
 * is an integer multiple of 2^-1074 below 2^1024, so it fits exactly in a
 * two's complement integer of 2098 bits counted in units of 2^-1074.
 * The accumulator has KVC_EXACTSUM_LIMBS 64-bit limbs (2240 bits), so it
 * holds the exact sum of up to 2^141 values of any magnitude: there is no
 * intermediate overflow and no count limit in practice (the count is a
 * uint64). Adding a value is an integer add (or subtract) of its 53-bit
 * significand shifted into place, with carry propagation. The value is
 * read by rounding the integer to 53 significant bits, to nearest, ties
 * to even, and building the binary64 bit pattern with integer operations
 * (no floating-point operation touches the result, DESIGN.md rule 5).
 *
 * Compared with Shewchuk's partials (Python's math.fsum): the result is
 * the same correctly rounded value, but the state is a fixed size, the
 * result does not depend on the order of the inputs (integer addition is
 * associative), and sums whose partial results exceed the binary64 range
 * are still exact (fsum raises OverflowError on [1e308, 1e308, -1e308];
 * this returns 1e308).
 *
 * Special values follow IEEE 754 addition: any NaN, or both +inf and
 * -inf, gives NaN; otherwise an infinity gives that infinity; an exact
 * sum whose rounding exceeds the largest finite value gives +-inf (as a
 * correctly rounded IEEE addition would). A zero result is +0, except
 * that a sum of only -0 terms is -0 (as x + y gives for x = y = -0).
 * The empty sum is +0.
 *
 * The state is a plain value (no resources): declare it, init, add, read.
 */
#ifndef KVC_STATS_EXACTSUM_H
#define KVC_STATS_EXACTSUM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KVC_EXACTSUM_LIMBS 35

typedef struct kvc_exactsum {
    uint64_t limb[KVC_EXACTSUM_LIMBS]; /* two's complement, unit 2^-1074, limb 0 lowest */
    uint64_t count;                    /* values added, specials included */
    unsigned char has_nan;
    unsigned char has_pos_inf;
    unsigned char has_neg_inf;
    unsigned char all_neg_zero; /* every value so far was -0 */
} kvc_exactsum;

void kvc_exactsum_init(kvc_exactsum *s);
void kvc_exactsum_add(kvc_exactsum *s, double x);
/* The correctly rounded sum of everything added so far. */
double kvc_exactsum_value(const kvc_exactsum *s);

/* Convenience: the correctly rounded sum of v[0..n-1]. */
double kvc_exactsum_array(const double *v, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* KVC_STATS_EXACTSUM_H */
