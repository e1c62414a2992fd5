/* kvcert: the profiles of SPEC 4, as data.
 *
 * A profile fixes every choice of the V4 write path that the published
 * run, its intent and DeepSeek's own inference code make differently:
 *
 *   choice                      stage075        intended        v4
 *   input to the main wkv       fp32(hidden)    fp32(hidden)    E4M3 pow2 per 128, widened
 *   main wkv output             fp32            fp32            bf16
 *   KV simulation (nope dims)   uniform-127     E4M3 amax/448   E4M3 pow2 scale
 *   compressor RoPE             160000, YaRN if S > 65536       160000, YaRN always
 *   main RoPE                   10000, no YaRN (all three)
 *
 * Each report records its profile by name.
 */
#ifndef KVC_V4_PROFILE_H
#define KVC_V4_PROFILE_H

#include <stdint.h>

#include "core/backend.h"
#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* When a RoPE applies the YaRN correction. */
typedef enum kvc_yarn_rule {
    KVC_YARN_NEVER = 0,
    KVC_YARN_IF_LONG = 1, /* only when S > 65536 (the original length) */
    KVC_YARN_ALWAYS = 2
} kvc_yarn_rule;

typedef struct kvc_profile {
    const char *name;
    int main_act_quant;      /* quantize the main wkv input (E4M3, pow2, per 128) */
    int main_out_bf16;       /* round the main wkv output to bf16 */
    kvc_kvsim_kind kvsim;    /* KV simulation on the nope dims of all streams */
    float main_rope_base;    /* 10000 */
    kvc_yarn_rule main_yarn; /* never */
    float comp_rope_base;    /* 160000 */
    kvc_yarn_rule comp_yarn;
    const char *summary;     /* one line for --help and reports */
} kvc_profile;

/* The profile named name; NULL and KVC_PROFILE_UNKNOWN (listing the known
 * names) when there is none. */
const kvc_profile *kvc_profile_find(const char *name, kvc_error *err);
/* The known profiles, in SPEC order (stage075, intended, v4). */
int kvc_profile_count(void);
const kvc_profile *kvc_profile_at(int i);
/* Whether a RoPE under rule applies YaRN for a sequence of S tokens. */
int kvc_yarn_applies(kvc_yarn_rule rule, int64_t seq_len);

#ifdef __cplusplus
}
#endif

#endif /* KVC_V4_PROFILE_H */
