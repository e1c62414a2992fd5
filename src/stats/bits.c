/* kvcert: accounted bits per vector, with exact integer ceilings (bits.h). */
#include "stats/bits.h"

#include "core/intlog.h"

#include <string.h>

kvc_status kvc_stats_lattice_bits(kvc_lattice lat, uint32_t d, uint32_t q, uint64_t *bits,
                                  kvc_error *err)
{
    if (lat != KVC_LATTICE_D4 && lat != KVC_LATTICE_E8)
        return kvc_error_set(err, KVC_CODEC_PARAM, "unknown lattice %d", (int)lat);
    if (q < 1 || q > KVC_BITS_Q_MAX)
        return kvc_error_set(err, KVC_CODEC_PARAM, "Q = %u outside 1..%u", (unsigned)q,
                             KVC_BITS_Q_MAX);
    if (d == 0 || d > KVC_BITS_D_MAX || d % (uint32_t)lat != 0)
        return kvc_error_set(err, KVC_CODEC_PARAM,
                             "head dimension %u is not a positive multiple of %d up to %u",
                             (unsigned)d, (int)lat, KVC_BITS_D_MAX);
    unsigned per_block = kvc_ceil_klog2_odd((unsigned)lat, q);
    if (lat == KVC_LATTICE_D4)
        per_block -= 1u; /* ⌈4·log2(2Q+1) − 1⌉ */
    *bits = (uint64_t)(d / (uint32_t)lat) * per_block + 32u;
    return KVC_OK;
}

kvc_status kvc_stats_fp8_bits(uint32_t d, uint64_t *bits, kvc_error *err)
{
    if (d == 0 || d > KVC_BITS_D_MAX || d % 64u != 0)
        return kvc_error_set(err, KVC_CODEC_PARAM,
                             "head dimension %u is not a positive multiple of 64 up to %u",
                             (unsigned)d, KVC_BITS_D_MAX);
    *bits = (uint64_t)d * 8u + (uint64_t)(d / 64u) * 16u;
    return KVC_OK;
}

kvc_status kvc_stats_bf16_bits(uint32_t d, uint64_t *bits, kvc_error *err)
{
    if (d == 0 || d > KVC_BITS_D_MAX)
        return kvc_error_set(err, KVC_CODEC_PARAM, "head dimension %u outside 1..%u",
                             (unsigned)d, KVC_BITS_D_MAX);
    *bits = (uint64_t)d * 16u;
    return KVC_OK;
}

/* Parses "<prefix><decimal Q>" with 1 <= Q <= KVC_BITS_Q_MAX, no sign, no
 * leading zero, nothing after the digits. */
static int parse_q_suffix(const char *name, const char *prefix, uint32_t *q)
{
    size_t n = strlen(prefix);
    if (strncmp(name, prefix, n) != 0)
        return 0;
    const char *p = name + n;
    if (*p < '1' || *p > '9')
        return 0;
    uint64_t v = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        v = v * 10u + (uint64_t)(*p - '0');
        if (v > KVC_BITS_Q_MAX)
            return 0;
    }
    if (*p != '\0')
        return 0;
    *q = (uint32_t)v;
    return 1;
}

int kvc_stats_parse_e8_name(const char *name, uint32_t *q)
{
    return parse_q_suffix(name, "v15_e8_Q", q);
}

int kvc_stats_codec_bits(const char *name, uint32_t d, uint64_t *bits)
{
    uint32_t q;
    if (strcmp(name, "fp8_per64_baseline") == 0)
        return kvc_stats_fp8_bits(d, bits, NULL) == KVC_OK;
    if (parse_q_suffix(name, "v14_d4_Q", &q))
        return kvc_stats_lattice_bits(KVC_LATTICE_D4, d, q, bits, NULL) == KVC_OK;
    if (parse_q_suffix(name, "v15_e8_Q", &q))
        return kvc_stats_lattice_bits(KVC_LATTICE_E8, d, q, bits, NULL) == KVC_OK;
    return 0;
}
