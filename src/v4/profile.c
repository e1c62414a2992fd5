/* kvcert: the three profiles of SPEC 4. */
#include <string.h>

#include "v4/profile.h"

static const kvc_profile profiles[] = {
    {"stage075", 0, 0, KVC_KVSIM_UNIFORM127, 10000.0f, KVC_YARN_NEVER, 160000.0f,
     KVC_YARN_IF_LONG, "as published: uniform-127 grid in bf16 on the nope dims"},
    {"intended", 0, 0, KVC_KVSIM_E4M3, 10000.0f, KVC_YARN_NEVER, 160000.0f, KVC_YARN_IF_LONG,
     "what the published code meant: E4M3 with scale amax/448"},
    {"v4", 1, 1, KVC_KVSIM_E4M3_POW2, 10000.0f, KVC_YARN_NEVER, 160000.0f, KVC_YARN_ALWAYS,
     "DeepSeek's inference code: FP8 input, bf16 wkv output, E4M3 pow2 scales, YaRN"},
};

#define NPROFILES ((int)(sizeof profiles / sizeof profiles[0]))

int kvc_profile_count(void)
{
    return NPROFILES;
}

const kvc_profile *kvc_profile_at(int i)
{
    return i >= 0 && i < NPROFILES ? &profiles[i] : NULL;
}

const kvc_profile *kvc_profile_find(const char *name, kvc_error *err)
{
    for (int i = 0; name != NULL && i < NPROFILES; i++)
        if (strcmp(name, profiles[i].name) == 0)
            return &profiles[i];
    kvc_error_set(err, KVC_PROFILE_UNKNOWN, "'%s' (known: stage075, intended, v4)",
                  name != NULL ? name : "(null)");
    return NULL;
}

int kvc_yarn_applies(kvc_yarn_rule rule, int64_t seq_len)
{
    return rule == KVC_YARN_ALWAYS || (rule == KVC_YARN_IF_LONG && seq_len > 65536);
}
