/* kvcert: the "pipeline" (synthetic inputs) and "real-data" executors:
 * shards and hidden states through the V4 KV write path (v4/pipeline.h).
 *
 * pipeline: the three streams of every passage under the case's profile,
 * each stream's SHA-256 taken over its bf16 bytes (little-endian, row-major),
 * passages concatenated in order. On --backend both the streams are
 * computed on the CPU and on CUDA and must be the same bytes, passage by
 * passage (KVC_BACKEND_MISMATCH names the first element that differs); the
 * digests are the CPU's.
 *
 * Both then measure every passage's streams (measure.c: audit, codecs,
 * baselines, bitstreams; aggregated by the stats module).
 *
 * real-data: the case's profile, then each of compare_profiles, each a
 * full run under $.profiles.<name>. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "cert/internal.h"
#include "core/backend.h"
#include "io/digest.h"
#include "v4/pipeline.h"
#include "v4/profile.h"
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
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(params, "q");
    if (q != NULL) {
        int n = cJSON_IsArray(q) ? cJSON_GetArraySize(q) : -1;
        if (n < 1 || n > 16)
            return kvc__case_fail(err, KVC_CASE_FIELD, c->file, "$.parameters.q",
                                  "expected a list of 1..16 Q values");
        for (const cJSON *v = q->child; v != NULL; v = v->next)
            if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 126 ||
                v->valuedouble != (double)(int)v->valuedouble)
                return kvc__case_fail(err, KVC_CASE_FIELD, c->file, "$.parameters.q",
                                      "a Q is an integer in 1..126 (the bitstream's range)");
    }
    if (c->profile == NULL)
        return kvc__case_fail(err, KVC_CASE_FIELD, c->file, "$.profile",
                              "a case that runs the V4 path names its profile");
    return KVC_OK;
}

static kvc_status pipeline_check(const kvc_case *c, const cJSON *params, kvc_error *err)
{
    static const char *const keys[] = {"shards", "hidden", "passages", "q", NULL};
    kvc_status st = kvc__case_keys(params, keys, c->file, "$.parameters", err);
    return st != KVC_OK ? st : check_v4_inputs(c, params, err);
}

static kvc_status real_data_check(const kvc_case *c, const cJSON *params, kvc_error *err)
{
    static const char *const keys[] = {"shards", "hidden", "passages", "q", "compare_profiles",
                                       NULL};
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

/* ------------------------------------------------------------ the V4 path */

/* A folder of links named as the shards, wherever the runner found them,
 * for the model loader (which looks the files up by name in one folder). */
static kvc_status link_shards(kvc__cert_run *run, const cJSON *params, char *dir, size_t size,
                              kvc_error *err)
{
    const kvc_case *c = kvc__cert_case(run);
    if (kvc__cert_fmt(dir, size, "%s/shards", kvc__cert_scratch_dir(run)) < 0 ||
        (mkdir(dir, 0700) != 0 && errno != EEXIST))
        return kvc_error_set(err, KVC_IO, "cannot make the shard folder in %s",
                             kvc__cert_scratch_dir(run));
    const cJSON *shards = cJSON_GetObjectItemCaseSensitive(params, "shards");
    for (const cJSON *r = shards->child; r != NULL; r = r->next) {
        const kvc_case_input *in = kvc_case_input_find(c, r->valuestring);
        const char *path = kvc__cert_input_path(run, r->valuestring);
        const char *name = in->name;
        if (name == NULL) {
            const char *slash = strrchr(in->path, '/');
            name = slash != NULL ? slash + 1 : in->path;
        }
        char target[PATH_MAX], link[KVC_CASE_MAX_PATH + 300];
        if (path == NULL || realpath(path, target) == NULL)
            return kvc_error_set(err, KVC_IO, "cannot resolve input %s: %s", r->valuestring,
                                 strerror(errno));
        if (kvc__cert_fmt(link, sizeof link, "%s/%s", dir, name) < 0 || symlink(target, link) != 0)
            return kvc_error_set(err, KVC_IO, "cannot link %s into %s: %s", name, dir,
                                 strerror(errno));
    }
    return KVC_OK;
}

/* Called after each passage's streams are computed (real-data: codecs). */
typedef kvc_status (*passage_fn)(void *arg, int64_t passage, const kvc_v4_streams *s,
                                 kvc_error *err);

typedef struct v4_run {
    kvc_v4_model *model;
    kvc_v4_model *check; /* --backend both: the CUDA side */
    kvc_v4_hidden *hidden;
    float *x;
    EVP_MD_CTX *md[KVC_V4_NSTREAMS];
} v4_run;

static void v4_run_free(v4_run *v)
{
    for (int i = 0; i < KVC_V4_NSTREAMS; i++)
        EVP_MD_CTX_free(v->md[i]);
    free(v->x);
    kvc_v4_hidden_close(v->hidden);
    kvc_v4_model_destroy(v->check);
    kvc_v4_model_destroy(v->model);
}

/* Both backends' streams of one passage must be the same bytes. */
static kvc_status same_streams(const kvc_v4_streams *a, const kvc_v4_streams *b, int64_t p,
                               const char *name_a, const char *name_b, kvc_error *err)
{
    for (int i = 0; i < KVC_V4_NSTREAMS; i++) {
        int64_t n = a->seq_len / kvc_v4_stream_ratio((kvc_v4_stream)i) * KVC_V4_HEAD_DIM;
        for (int64_t j = 0; j < n; j++)
            if (a->kv[i][j] != b->kv[i][j])
                return kvc_error_set(err, KVC_BACKEND_MISMATCH,
                                     "passage %lld, stream %s, row %lld, dim %lld: %s 0x%04x, "
                                     "%s 0x%04x",
                                     (long long)p, kvc_v4_stream_name((kvc_v4_stream)i),
                                     (long long)(j / KVC_V4_HEAD_DIM),
                                     (long long)(j % KVC_V4_HEAD_DIM), name_a, a->kv[i][j],
                                     name_b, b->kv[i][j]);
    }
    return KVC_OK;
}

/* Runs profile prof over the first `passages` passages (0: all) and puts
 * {"sliding_window_kv": {"rows", "sha256"}, ...} into out. */
static kvc_status run_streams(kvc__cert_run *run, const char *shard_dir, const char *hidden,
                              const kvc_profile *prof, int64_t passages, cJSON *out,
                              passage_fn fn, void *arg, kvc_error *err)
{
    v4_run v;
    memset(&v, 0, sizeof v);
    char stage[200];
    kvc__cert_fmt(stage, sizeof stage, "%s: loading the model", prof->name);
    kvc__cert_progress(run, stage, 0, 0);
    const struct kvc_backend *be = kvc__cert_backend_table(run, 0);
    const struct kvc_backend *be2 =
        kvc__cert_backend(run) == KVC_CERT_BACKEND_BOTH ? kvc__cert_backend_table(run, 1) : NULL;
    kvc_status st = kvc_v4_model_load(be, shard_dir, &v.model, err);
    if (st == KVC_OK && be2 != NULL)
        st = kvc_v4_model_load(be2, shard_dir, &v.check, err);
    if (st == KVC_OK)
        st = kvc_v4_hidden_open(hidden, &v.hidden, err);
    int64_t np = 0, S = 0;
    if (st == KVC_OK) {
        np = kvc_v4_hidden_passages(v.hidden);
        S = kvc_v4_hidden_seq_len(v.hidden);
        if (passages > np)
            st = kvc_error_set(err, KVC_HIDDEN_SHAPE, "the case uses %lld passages, %s has %lld",
                               (long long)passages, hidden, (long long)np);
        else if (passages > 0)
            np = passages;
    }
    if (st == KVC_OK) {
        v.x = malloc(sizeof(float) * (size_t)S * KVC_V4_HIDDEN_DIM);
        if (v.x == NULL)
            st = kvc_error_set(err, KVC_NOMEM, "a passage of %lld tokens", (long long)S);
    }
    for (int i = 0; st == KVC_OK && i < KVC_V4_NSTREAMS; i++) {
        v.md[i] = EVP_MD_CTX_new();
        if (v.md[i] == NULL || EVP_DigestInit_ex(v.md[i], EVP_sha256(), NULL) != 1)
            st = kvc_error_set(err, KVC_CRYPTO, "SHA-256 context");
    }
    for (int64_t p = 0; st == KVC_OK && p < np; p++) {
        kvc__cert_fmt(stage, sizeof stage, "%s: passage %lld of %lld", prof->name,
                      (long long)p + 1, (long long)np);
        kvc__cert_progress(run, stage, (uint64_t)p, (uint64_t)np);
        kvc_v4_streams s;
        memset(&s, 0, sizeof s);
        st = kvc_v4_hidden_read(v.hidden, p, v.x, err);
        if (st == KVC_OK)
            st = kvc_v4_streams_compute(v.model, prof, v.x, S, &s, err);
        if (st == KVC_OK && v.check != NULL) {
            kvc_v4_streams s2;
            memset(&s2, 0, sizeof s2);
            st = kvc_v4_streams_compute(v.check, prof, v.x, S, &s2, err);
            if (st == KVC_OK)
                st = same_streams(&s, &s2, p, be->name, be2->name, err);
            kvc_v4_streams_free(&s2);
        }
        for (int i = 0; st == KVC_OK && i < KVC_V4_NSTREAMS; i++) {
            int64_t rows = S / kvc_v4_stream_ratio((kvc_v4_stream)i);
            if (EVP_DigestUpdate(v.md[i], s.kv[i], (size_t)rows * KVC_V4_HEAD_DIM * 2) != 1)
                st = kvc_error_set(err, KVC_CRYPTO, "SHA-256 update");
        }
        if (st == KVC_OK && fn != NULL)
            st = fn(arg, p, &s, err);
        kvc_v4_streams_free(&s);
    }
    for (int i = 0; st == KVC_OK && i < KVC_V4_NSTREAMS; i++) {
        uint8_t md[KVC_SHA256_SIZE];
        unsigned int len = 0;
        char hex[KVC_SHA256_HEX_SIZE + 1];
        if (EVP_DigestFinal_ex(v.md[i], md, &len) != 1 || len != KVC_SHA256_SIZE) {
            st = kvc_error_set(err, KVC_CRYPTO, "SHA-256 final");
            break;
        }
        kvc_sha256_hex(md, hex);
        cJSON *o = cJSON_AddObjectToObject(out, kvc_v4_stream_name((kvc_v4_stream)i));
        if (o == NULL ||
            cJSON_AddNumberToObject(o, "rows",
                                    (double)(np * (S / kvc_v4_stream_ratio((kvc_v4_stream)i)))) ==
                NULL ||
            cJSON_AddStringToObject(o, "sha256", hex) == NULL)
            st = kvc_error_set(err, KVC_NOMEM, "cannot build the results");
    }
    v4_run_free(&v);
    return st;
}

/* ------------------------------------------------------------ runs */

static int64_t passages_param(const cJSON *params)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(params, "passages");
    return p != NULL ? (int64_t)p->valuedouble : 0;
}

/* The Q values of the codecs: the case's "q", else 10 and 38 (published). */
static size_t q_values(const cJSON *params, int *q)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(params, "q");
    if (a == NULL) {
        q[0] = 10;
        q[1] = 38;
        return 2;
    }
    size_t n = 0;
    for (const cJSON *v = a->child; v != NULL && n < 16; v = v->next)
        q[n++] = (int)v->valuedouble;
    return n;
}

/* One profile end to end: streams (and their digests) into
 * out.streams, measurements into out. */
static kvc_status run_profile(kvc__cert_run *run, const char *dir, const char *hidden,
                              const kvc_profile *prof, const cJSON *params, cJSON *out,
                              kvc_error *err)
{
    int q[16];
    size_t nq = q_values(params, q);
    kvc__cert_measure *m = NULL;
    kvc_status st = kvc__cert_measure_create(q, nq, prof->name, &m, err);
    cJSON *streams = NULL;
    if (st == KVC_OK && (cJSON_AddStringToObject(out, "profile", prof->name) == NULL ||
                         (streams = cJSON_AddObjectToObject(out, "streams")) == NULL))
        st = kvc_error_set(err, KVC_NOMEM, "cannot build the results");
    if (st == KVC_OK)
        st = run_streams(run, dir, hidden, prof, passages_param(params), streams,
                         kvc__cert_measure_passage, m, err);
    if (st == KVC_OK) {
        char stage[100];
        kvc__cert_fmt(stage, sizeof stage, "%s: aggregating", prof->name);
        kvc__cert_progress(run, stage, 0, 0);
        st = kvc__cert_measure_finish(m, out, err);
    }
    kvc__cert_measure_destroy(m);
    return st;
}

static kvc_status pipeline_run(kvc__cert_run *run, cJSON *results, kvc_error *err)
{
    const kvc_case *c = kvc__cert_case(run);
    const cJSON *params = (const cJSON *)c->parameters;
    const kvc_profile *prof = kvc_profile_find(c->profile, err);
    if (prof == NULL)
        return KVC_PROFILE_UNKNOWN;
    char dir[KVC_CASE_MAX_PATH + 16];
    kvc_status st = link_shards(run, params, dir, sizeof dir, err);
    if (st != KVC_OK)
        return st;
    const char *hidden =
        kvc__cert_input_path(run, cJSON_GetObjectItemCaseSensitive(params, "hidden")->valuestring);
    return run_profile(run, dir, hidden, prof, params, results, err);
}

/* The case's profile, then each of compare_profiles, under
 * $.profiles.<name>. */
static kvc_status real_data_run(kvc__cert_run *run, cJSON *results, kvc_error *err)
{
    const kvc_case *c = kvc__cert_case(run);
    const cJSON *params = (const cJSON *)c->parameters;
    char dir[KVC_CASE_MAX_PATH + 16];
    kvc_status st = link_shards(run, params, dir, sizeof dir, err);
    if (st != KVC_OK)
        return st;
    const char *hidden =
        kvc__cert_input_path(run, cJSON_GetObjectItemCaseSensitive(params, "hidden")->valuestring);
    cJSON *profiles = cJSON_AddObjectToObject(results, "profiles");
    if (profiles == NULL)
        return kvc_error_set(err, KVC_NOMEM, "cannot build the results");
    const cJSON *more = cJSON_GetObjectItemCaseSensitive(params, "compare_profiles");
    const cJSON *next = more != NULL ? more->child : NULL;
    for (const char *name = c->profile; st == KVC_OK && name != NULL;
         name = next != NULL ? next->valuestring : NULL, next = next != NULL ? next->next : NULL) {
        if (cJSON_HasObjectItem(profiles, name))
            continue;
        const kvc_profile *prof = kvc_profile_find(name, err);
        if (prof == NULL)
            return KVC_PROFILE_UNKNOWN;
        cJSON *out = cJSON_AddObjectToObject(profiles, name);
        if (out == NULL)
            return kvc_error_set(err, KVC_NOMEM, "cannot build the results");
        st = run_profile(run, dir, hidden, prof, params, out, err);
    }
    return st;
}

const kvc__cert_executor kvc__cert_exec_pipeline = {KVC_CASE_PIPELINE, pipeline_check,
                                                    pipeline_run};
const kvc__cert_executor kvc__cert_exec_real_data = {KVC_CASE_REAL_DATA, real_data_check,
                                                     real_data_run};
