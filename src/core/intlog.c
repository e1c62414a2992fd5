/* kvcert: exact integer ceilings of k·log2(2Q+1) (intlog.h). */
#include "core/intlog.h"

/* b^k with b < 2^32, k <= 8 fits in 256 bits: 8 limbs of 32 bits (+1 spare). */
#define POW_LIMBS 9

unsigned kvc_ceil_klog2_odd(unsigned k, uint32_t q)
{
    if (k < 1 || k > 8 || q < 1 || q > KVC_CEIL_KLOG2_Q_MAX)
        return 0;
    uint64_t base = 2u * (uint64_t)q + 1u; /* odd, 3 .. 2^32 - 1 */
    uint32_t limb[POW_LIMBS] = {1};
    for (unsigned i = 0; i < k; i++) {
        uint64_t carry = 0;
        for (int j = 0; j < POW_LIMBS; j++) {
            uint64_t t = (uint64_t)limb[j] * base + carry; /* < 2^64 */
            limb[j] = (uint32_t)t;
            carry = t >> 32;
        }
    }
    /* bitlength of the product = ⌈k·log2 b⌉ (b^k is odd and > 1). */
    for (int j = POW_LIMBS - 1; j >= 0; j--)
        if (limb[j] != 0) {
            unsigned b = 31;
            while (((limb[j] >> b) & 1u) == 0)
                b--;
            return 32u * (unsigned)j + b + 1u;
        }
    return 0; /* unreachable: the product is at least 3 */
}
