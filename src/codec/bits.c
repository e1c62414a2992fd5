/* kvcert: exact bit accounting of the KakeyaLattice codecs (see bits.h). */
#include "codec/bits.h"

#include "core/intlog.h"

#include <string.h>

int kvc_codec_block_dim(kvc_codec_kind kind)
{
    switch (kind) {
    case KVC_CODEC_D4:
        return 4;
    case KVC_CODEC_E8:
        return 8;
    }
    return 0;
}

const char *kvc_codec_kind_name(kvc_codec_kind kind)
{
    switch (kind) {
    case KVC_CODEC_D4:
        return "d4";
    case KVC_CODEC_E8:
        return "e8";
    }
    return NULL;
}

int kvc_codec_kind_from_name(const char *name)
{
    if (name == NULL)
        return -1;
    if (strcmp(name, "d4") == 0)
        return KVC_CODEC_D4;
    if (strcmp(name, "e8") == 0)
        return KVC_CODEC_E8;
    return -1;
}

int kvc_codec_accounted_block_bits(kvc_codec_kind kind, int q)
{
    int k = kvc_codec_block_dim(kind);
    if (k == 0 || q < 1 || q > KVC_CODEC_ACCOUNT_Q_MAX)
        return -1;
    /* c = 1 for D4 (the parity constraint halves Z^4), 0 for E8. */
    int c = (kind == KVC_CODEC_D4) ? 1 : 0;
    return (int)kvc_ceil_klog2_odd((unsigned)k, (uint32_t)q) - c;
}

int64_t kvc_codec_accounted_bits(kvc_codec_kind kind, int d, int q)
{
    int k = kvc_codec_block_dim(kind);
    if (k == 0 || d < k || d > 4096 || (d & (d - 1)) != 0)
        return -1;
    int b = kvc_codec_accounted_block_bits(kind, q);
    if (b < 0)
        return -1;
    return (int64_t)(d / k) * b + 32;
}
