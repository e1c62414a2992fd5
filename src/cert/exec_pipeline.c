/* kvcert: the "pipeline" (synthetic inputs) and "real-data" executors:
 * shards and hidden states through the V4 KV write path.
 *
 * THIS BUILD HAS NO V4 WRITE PATH YET (src/v4/pipeline.h, src/v4/synth.h
 * arrive with the v4path and synth branches): the parameters are checked
 * and the inputs located, generated or verified as far as this build can,
 * and the run ends in SKIP saying what is missing. Never PASS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cert/internal.h"

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

kvc_status kvc__cert_generate(kvc__cert_run *run, const kvc_case_input *in, const char *path,
                              kvc_error *err)
{
    (void)path;
    (void)err;
    kvc__cert_skip(run, "pipeline executor not built: the synth generator (src/v4/synth.h) that "
                        "makes %s and the V4 write path (src/v4/pipeline.h) are not in this build",
                   in->name);
    return KVC_OK;
}

/* ------------------------------------------------------------ runs */

static kvc_status pipeline_run(kvc__cert_run *run, cJSON *results, kvc_error *err)
{
    (void)results;
    (void)err;
    kvc__cert_skip(run, "pipeline executor not built: the V4 write path (src/v4/pipeline.h) is "
                        "not in this build");
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
