/* kvcert: the "pipeline" (synthetic inputs) and "real-data" executors:
 * shards and hidden states through the V4 KV write path.
 *
 * THIS BUILD HAS NO V4 WRITE PATH YET (src/v4/pipeline.h arrives with
 * the v4path branch): the parameters are checked and the inputs located,
 * generated (v4/synth.h) and verified, and the run ends in SKIP saying
 * what is missing. Never PASS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cert/internal.h"
#include "v4/synth.h"

static kvc_status check_role_value(const kvc_case *c, const cJSON *v, const char *jp,
                                   kvc_error *err)
{
    if (!cJSON_IsString(v))
        return kvc__case_fail(err, KVC_CASE_FIELD, c->file, jp, "expected an input role");
    if (kvc_case_input_find(c, v->valuestring) == NULL)
        return kvc__case_fail(err, KVC_CASE_FIELD, c->file, jp, "no input has the role \"%.64s\"",
                              v->valuestring);
    return KVC_OK;
}

/* "shards": [3 roles], "hidden": role, "passages": optional count. */
static kvc_status check_v4_inputs(const kvc_case *c, const cJSON *params, kvc_error *err)
{
    const cJSON *shards = cJSON_GetObjectItemCaseSensitive(params, "shards");
    if (!cJSON_IsArray(shards) || cJSON_GetArraySize(shards) != 3)
        return kvc__case_fail(err, KVC_CASE_FIELD, c->file, "$.parameters.shards",
                              "expected the roles of the three shards (layers 0, 2, 3)");
    int i = 0;
    for (const cJSON *s = shards->child; s != NULL; s = s->next, i++) {
        char jp[64];
        kvc__cert_fmt(jp, sizeof jp, "$.parameters.shards[%d]", i);
        kvc_status st = check_role_value(c, s, jp, err);
        if (st != KVC_OK)
            return st;
    }
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(params, "hidden");
    if (h == NULL)
        return kvc__case_fail(err, KVC_CASE_FIELD, c->file, "$.parameters.hidden", "missing");
    kvc_status st = check_role_value(c, h, "$.parameters.hidden", err);
    if (st != KVC_OK)
        return st;
    uint64_t p;
    st = kvc__case_uint(params, "passages", 1, 1, 100000, c->file, "$.parameters", NULL, &p, err);
    if (st != KVC_OK)
        return st;
    if (c->profile == NULL)
        return kvc__case_fail(err, KVC_CASE_FIELD, c->file, "$.profile",
                              "a case that runs the V4 path names its profile");
    return KVC_OK;
}

static kvc_status pipeline_check(const kvc_case *c, const cJSON *params, kvc_error *err)
{
    static const char *const keys[] = {"shards", "hidden", "passages", NULL};
    kvc_status st = kvc__case_keys(params, keys, c->file, "$.parameters", err);
    return st != KVC_OK ? st : check_v4_inputs(c, params, err);
}

static kvc_status real_data_check(const kvc_case *c, const cJSON *params, kvc_error *err)
{
    static const char *const keys[] = {"shards", "hidden", "passages", "compare_profiles", NULL};
    kvc_status st = kvc__case_keys(params, keys, c->file, "$.parameters", err);
    if (st != KVC_OK)
        return st;
    const cJSON *cp = cJSON_GetObjectItemCaseSensitive(params, "compare_profiles");
    if (cp != NULL) {
        if (!cJSON_IsArray(cp))
            return kvc__case_fail(err, KVC_CASE_FIELD, c->file, "$.parameters.compare_profiles",
                                  "expected a list of profile names");
        for (const cJSON *p = cp->child; p != NULL; p = p->next)
            if (!cJSON_IsString(p) || !kvc__cert_profile_known(p->valuestring))
                return kvc__case_fail(err, KVC_CASE_FIELD, c->file,
                                      "$.parameters.compare_profiles",
                                      "expected profile names (stage075, intended, v4)");
    }
    return check_v4_inputs(c, params, err);
}

/* ------------------------------------------------------------ generation */

/* Generated inputs: kvcert's synthetic host (v4/synth.h), written into
 * the run's scratch folder; the runner checks size and SHA-256 after. */
kvc_status kvc__cert_generate(kvc__cert_run *run, const kvc_case_input *in, const char *path,
                              kvc_error *err)
{
    char stage[300];
    kvc__cert_fmt(stage, sizeof stage, "generating %s", in->name);
    kvc__cert_progress(run, stage, 0, 0);
    if (strcmp(in->gen_by, "synth") != 0)
        return kvc_error_set(err, KVC_INTERNAL, "unknown generator %s", in->gen_by);
    if (in->gen_layer >= 0)
        return kvc_synth_write_shard(in->gen_seed, in->gen_layer, path, err);
    return kvc_synth_write_hidden(in->gen_seed, in->gen_passages, path, err);
}

/* ------------------------------------------------------------ runs */

static kvc_status pipeline_run(kvc__cert_run *run, cJSON *results, kvc_error *err)
{
    (void)results;
    (void)err;
    kvc__cert_skip(run, "pipeline executor not built: the V4 write path (src/v4/pipeline.h) is "
                        "not in this build (the synthetic inputs were regenerated and match "
                        "their pins)");
    return KVC_OK;
}

static kvc_status real_data_run(kvc__cert_run *run, cJSON *results, kvc_error *err)
{
    (void)results;
    (void)err;
    kvc__cert_skip(run, "inputs found and verified, but the pipeline executor is not built: the "
                        "V4 write path, codecs and metrics are not in this build");
    return KVC_OK;
}

const kvc__cert_executor kvc__cert_exec_pipeline = {KVC_CASE_PIPELINE, pipeline_check,
                                                    pipeline_run};
const kvc__cert_executor kvc__cert_exec_real_data = {KVC_CASE_REAL_DATA, real_data_check,
                                                     real_data_run};
