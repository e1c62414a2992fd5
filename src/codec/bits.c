/* kvcert: exact bit accounting of the KakeyaLattice codecs (see bits.h). */
#include "codec/bits.h"

#include <string.h>

typedef unsigned __int128 kvc__u128;

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
    kvc__u128 n = (kvc__u128)(2 * q + 1);
    kvc__u128 p = 1;
    for (int i = 0; i < k; i++)
        p *= n; /* (2Q+1)^k < 2^128 for Q <= 32767 */
    /* smallest b >= 0 with 2^(b+c) >= p; p >= 3^4 so b >= 6 - c > 0 */
    int b = 0;
    while (b + c < 128 && ((kvc__u128)1 << (b + c)) < p)
        b++;
    return b;
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
