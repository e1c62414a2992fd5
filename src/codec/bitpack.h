/* kvcert: LSB-first bit packing of kvcert's codec streams.
 *
 * Bit j of a stream is bit (j mod 8) of byte j / 8; a field of w bits
 * (1 <= w <= 64) holding v is written at bit offset pos so that bit t of v
 * lands on stream bit pos + t. With byte-aligned fields this is plain
 * little-endian. Writers OR into a zeroed buffer.
 */
#ifndef KVC_CODEC_BITPACK_H
#define KVC_CODEC_BITPACK_H

#include "core/hd.h"

/* Writes the low w bits of v at bit pos of buf (whose bits there are 0). */
KVC_HD void kvc_bits_put(uint8_t *buf, uint64_t pos, uint64_t v, int w)
{
    while (w > 0) {
        int off = (int)(pos & 7u);
        int take = 8 - off;
        if (take > w)
            take = w;
        uint32_t part = (uint32_t)(v & ((1u << take) - 1u));
        buf[pos >> 3] = (uint8_t)(buf[pos >> 3] | (uint8_t)(part << off));
        v >>= take;
        pos += (uint64_t)take;
        w -= take;
    }
}

/* The bits kvc_bits_put(buf, pos, v, w) ORs into byte a of buf, in place
 * (0 when the field does not touch byte a): bit t of v (t < w) is stream
 * bit pos + t, so byte a gets bits t = max(8a, pos) - pos ..
 * min(8a + 8, pos + w) - 1 - pos, at bit (pos + t) - 8a. */
KVC_HD uint8_t kvc_bits_put_byte(uint64_t pos, uint64_t v, int w, uint64_t a)
{
    uint64_t lo = 8 * a, hi = 8 * a + 8, end = pos + (uint64_t)w;
    if (lo < pos)
        lo = pos;
    if (hi > end)
        hi = end;
    if (lo >= hi)
        return 0;
    uint64_t part = (v >> (lo - pos)) & ((1u << (hi - lo)) - 1u);
    return (uint8_t)(part << (lo - 8 * a));
}

/* Reads a w-bit field (1 <= w <= 64) at bit pos of buf. */
KVC_HD uint64_t kvc_bits_get(const uint8_t *buf, uint64_t pos, int w)
{
    uint64_t v = 0;
    int done = 0;
    while (done < w) {
        int off = (int)(pos & 7u);
        int take = 8 - off;
        if (take > w - done)
            take = w - done;
        uint64_t part = (uint64_t)((buf[pos >> 3] >> off) & ((1u << take) - 1u));
        v |= part << done;
        pos += (uint64_t)take;
        done += take;
    }
    return v;
}

#endif /* KVC_CODEC_BITPACK_H */
