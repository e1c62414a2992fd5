/* kvcert: the "must-fail" executor — one input-handling operation of the
 * library, run on a (usually deliberately broken) input. On success the
 * operation writes its output file atomically into the out folder; on
 * failure it must leave that folder empty, which the runner checks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cert/internal.h"
#include "io/atomic.h"
#include "io/digest.h"
#include "io/manifest.h"
#include "io/safetensors.h"
#include "stats/published.h"

typedef enum op_kind { OP_INSPECT, OP_REQUIRE, OP_VERIFY, OP_AGGREGATE, OP_COUNT } op_kind;
static const char *const op_names[OP_COUNT] = {"inspect", "require", "verify", "aggregate"};

static int op_of(const cJSON *params)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(params, "operation");
    for (int i = 0; cJSON_IsString(o) && i < OP_COUNT; i++)
        if (strcmp(o->valuestring, op_names[i]) == 0)
            return i;
    return -1;
}

static kvc_status check_role(const kvc_case *c, const cJSON *params, const char *key,
                             kvc_error *err)
{
    const char *role = NULL;
    kvc_status st = kvc__case_string(params, key, 0, c->file, "$.parameters", &role, err);
    if (st != KVC_OK)
        return st;
    if (kvc_case_input_find(c, role) == NULL) {
        char p[128];
        kvc__case_jpath(p, sizeof p, "$.parameters", key);
        return kvc__case_fail(err, KVC_CASE_FIELD, c->file, p, "no input has the role \"%.64s\"",
                              role);
    }
    return KVC_OK;
}

static kvc_status check_shape(const kvc_case *c, const cJSON *shape, kvc_error *err)
{
    const char *jp = "$.parameters.shape";
    if (!cJSON_IsArray(shape) || cJSON_GetArraySize(shape) > KVC_ST_MAX_DIMS)
        return kvc__case_fail(err, KVC_CASE_FIELD, c->file, jp,
                              "expected an array of at most %d integers", KVC_ST_MAX_DIMS);
    for (const cJSON *d = shape->child; d != NULL; d = d->next)
        if (!cJSON_IsNumber(d) || d->valuedouble < 0 || d->valuedouble > 9007199254740991.0 ||
            d->valuedouble != (double)(int64_t)d->valuedouble)
            return kvc__case_fail(err, KVC_CASE_FIELD, c->file, jp,
                                  "a dimension is an integer in [0, 2^53)");
    return KVC_OK;
}

static kvc_status mustfail_check(const kvc_case *c, const cJSON *params, kvc_error *err)
{
    static const char *const keys[] = {"operation", "input", "manifest", "tensor",
                                       "dtype",     "shape", "output",   NULL};
    kvc_status st = kvc__case_keys(params, keys, c->file, "$.parameters", err);
    if (st != KVC_OK)
        return st;
    const char *s = NULL;
    if ((st = kvc__case_string(params, "operation", 0, c->file, "$.parameters", &s, err)) !=
        KVC_OK)
        return st;
    int op = op_of(params);
    if (op < 0)
        return kvc__case_fail(err, KVC_CASE_FIELD, c->file, "$.parameters.operation",
                              "unknown operation \"%.64s\" (inspect, require, verify, "
                              "aggregate)",
                              s);
    int want_input = op != OP_VERIFY, want_manifest = op == OP_VERIFY,
        want_tensor = op == OP_REQUIRE;
    static const char *const optional[] = {"input", "manifest", "tensor", "dtype", "shape"};
    const int wanted[] = {want_input, want_manifest, want_tensor, want_tensor, want_tensor};
    for (int i = 0; i < 5; i++)
        if (cJSON_HasObjectItem(params, optional[i]) != wanted[i]) {
            char p[128];
            kvc__case_jpath(p, sizeof p, "$.parameters", optional[i]);
            return kvc__case_fail(err, KVC_CASE_FIELD, c->file, p, "operation %s %s \"%s\"",
                                  op_names[op], wanted[i] ? "needs" : "takes no", optional[i]);
        }
    if (want_input && (st = check_role(c, params, "input", err)) != KVC_OK)
        return st;
    if (want_manifest && (st = check_role(c, params, "manifest", err)) != KVC_OK)
        return st;
    if (want_tensor) {
        if ((st = kvc__case_string(params, "tensor", 0, c->file, "$.parameters", &s, err)) !=
            KVC_OK)
            return st;
        if ((st = kvc__case_string(params, "dtype", 0, c->file, "$.parameters", &s, err)) !=
            KVC_OK)
            return st;
        if (kvc_dtype_from_name(s) < 0)
            return kvc__case_fail(err, KVC_CASE_FIELD, c->file, "$.parameters.dtype",
                                  "unknown dtype \"%.32s\"", s);
        if ((st = check_shape(c, cJSON_GetObjectItemCaseSensitive(params, "shape"), err)) !=
            KVC_OK)
            return st;
    }
    if ((st = kvc__case_string(params, "output", 0, c->file, "$.parameters", &s, err)) != KVC_OK)
        return st;
    if (s[0] == '\0' || strchr(s, '/') != NULL || strcmp(s, ".") == 0 || strcmp(s, "..") == 0 ||
        strlen(s) > 200)
        return kvc__case_fail(err, KVC_CASE_FIELD, c->file, "$.parameters.output",
                              "expected a plain file name");
    if (c->profile != NULL)
        return kvc__case_fail(err, KVC_CASE_FIELD, c->file, "$.profile",
                              "a must-fail case runs no V4 path: profile is null");
    return KVC_OK;
}

/* ------------------------------------------------------------ operations */

static cJSON *describe_tensor(const kvc_tensor_view *t)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return NULL;
    cJSON_AddStringToObject(o, "name", t->name);
    cJSON_AddStringToObject(o, "dtype", kvc_dtype_name(t->dtype));
    cJSON *shape = cJSON_AddArrayToObject(o, "shape");
    for (int d = 0; shape != NULL && d < t->ndim; d++)
        cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[d]));
    cJSON_AddNumberToObject(o, "file_offset", (double)t->file_offset);
    cJSON_AddNumberToObject(o, "nbytes", (double)t->nbytes);
    return o;
}

/* Writes doc to out/name atomically and records it in the results. */
static kvc_status write_output(kvc__cert_run *run, const char *name, cJSON *doc, cJSON *results,
                               kvc_error *err)
{
    char *text = kvc__cert_exact_numbers(doc) == 0 ? cJSON_Print(doc) : NULL;
    if (text == NULL)
        return kvc_error_set(err, KVC_NOMEM, "cannot format the output");
    size_t len = strlen(text);
    char path[KVC_CASE_MAX_PATH + 256];
    kvc__cert_fmt(path, sizeof path, "%s/%s", kvc__cert_out_dir(run), name);
    kvc_status st = kvc_atomic_write_file(path, text, len, err);
    uint8_t md[KVC_SHA256_SIZE];
    if (st == KVC_OK)
        st = kvc_sha256_buffer(text, len, md);
    free(text);
    if (st != KVC_OK)
        return st;
    char hex[KVC_SHA256_HEX_SIZE + 1];
    kvc_sha256_hex(md, hex);
    cJSON *o = cJSON_AddObjectToObject(results, "output");
    if (o == NULL || cJSON_AddStringToObject(o, "name", name) == NULL ||
        cJSON_AddNumberToObject(o, "size", (double)len) == NULL ||
        cJSON_AddStringToObject(o, "sha256", hex) == NULL)
        return kvc_error_set(err, KVC_NOMEM, "cannot build the results");
    return KVC_OK;
}

static kvc_status op_safetensors(kvc__cert_run *run, const cJSON *params, int op, cJSON *doc,
                                 cJSON *results, kvc_error *err)
{
    const char *role = cJSON_GetObjectItemCaseSensitive(params, "input")->valuestring;
    const char *path = kvc__cert_input_path(run, role);
    kvc_st_file *f = NULL;
    kvc_status st = kvc_st_open(path, &f, err);
    if (st != KVC_OK)
        return st;
    cJSON *list = cJSON_AddArrayToObject(doc, "tensors");
    if (op == OP_INSPECT) {
        for (size_t i = 0; list != NULL && i < kvc_st_count(f); i++)
            cJSON_AddItemToArray(list, describe_tensor(kvc_st_tensor(f, i)));
        cJSON_AddNumberToObject(results, "tensors", (double)kvc_st_count(f));
    } else {
        const char *name = cJSON_GetObjectItemCaseSensitive(params, "tensor")->valuestring;
        const char *dt = cJSON_GetObjectItemCaseSensitive(params, "dtype")->valuestring;
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(params, "shape");
        int64_t dims[KVC_ST_MAX_DIMS];
        int nd = 0;
        for (const cJSON *d = shape->child; d != NULL; d = d->next)
            dims[nd++] = (int64_t)d->valuedouble;
        const kvc_tensor_view *t = NULL;
        st = kvc_st_require(f, name, (kvc_dtype)kvc_dtype_from_name(dt), nd, dims, &t, err);
        if (st == KVC_OK) {
            cJSON_AddItemToArray(list, describe_tensor(t));
            cJSON_AddNumberToObject(results, "tensors", 1);
        }
    }
    kvc_st_close(f);
    return st;
}

static kvc_status op_verify(kvc__cert_run *run, const cJSON *params, cJSON *doc, cJSON *results,
                            kvc_error *err)
{
    const char *role = cJSON_GetObjectItemCaseSensitive(params, "manifest")->valuestring;
    const char *path = kvc__cert_input_path(run, role);
    kvc_manifest *m = NULL;
    kvc_status st = kvc_manifest_read(path, &m, err);
    if (st != KVC_OK)
        return st;
    char dir[KVC_CASE_MAX_PATH];
    kvc__cert_fmt(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash != NULL)
        *slash = '\0';
    else
        kvc__cert_fmt(dir, sizeof dir, ".");
    st = kvc_manifest_verify(m, dir, 1, NULL, NULL, err);
    if (st == KVC_OK) {
        cJSON *list = cJSON_AddArrayToObject(doc, "verified");
        for (size_t i = 0; list != NULL && i < kvc_manifest_count(m); i++)
            cJSON_AddItemToArray(list, cJSON_CreateString(kvc_manifest_entry_at(m, i)->name));
        cJSON_AddNumberToObject(results, "files", (double)kvc_manifest_count(m));
    }
    kvc_manifest_destroy(m);
    return st;
}

static kvc_status op_aggregate(kvc__cert_run *run, const cJSON *params, kvc_error *err)
{
    const char *role = cJSON_GetObjectItemCaseSensitive(params, "input")->valuestring;
    const char *out_name = cJSON_GetObjectItemCaseSensitive(params, "output")->valuestring;
    kvc_report *r = NULL;
    kvc_status st = kvc_report_load(kvc__cert_input_path(run, role), &r, err);
    if (st != KVC_OK)
        return st;
    kvc_result *res = NULL;
    kvc_agg_options opt = kvc_agg_options_default();
    if (r->has_t_source)
        opt.t_source = r->t_source;
    st = kvc_report_aggregate(r, &opt, r->has_layers ? r->layers : NULL, &res, err);
    if (st == KVC_OK) {
        char path[KVC_CASE_MAX_PATH + 256];
        kvc__cert_fmt(path, sizeof path, "%s/%s", kvc__cert_out_dir(run), out_name);
        kvc_atomic_file *af = NULL;
        st = kvc_atomic_open(path, &af, err);
        if (st == KVC_OK) {
            st = kvc_report_write_json(r, res, kvc_atomic_stream(af), err);
            if (st == KVC_OK)
                st = kvc_atomic_commit(af, err);
            else
                kvc_atomic_abort(af);
        }
    }
    kvc_result_destroy(res);
    kvc_report_destroy(r);
    return st;
}

static kvc_status mustfail_run(kvc__cert_run *run, cJSON *results, kvc_error *err)
{
    const cJSON *params = (const cJSON *)kvc__cert_case(run)->parameters;
    int op = op_of(params);
    const char *out_name = cJSON_GetObjectItemCaseSensitive(params, "output")->valuestring;
    if (cJSON_AddStringToObject(results, "operation", op_names[op]) == NULL)
        return kvc_error_set(err, KVC_NOMEM, "cannot build the results");
    if (op == OP_AGGREGATE) {
        kvc_status st = op_aggregate(run, params, err);
        if (st == KVC_OK)
            cJSON_AddStringToObject(results, "output_name", out_name);
        return st;
    }
    cJSON *doc = cJSON_CreateObject();
    if (doc == NULL)
        return kvc_error_set(err, KVC_NOMEM, "cannot build the output");
    cJSON_AddStringToObject(doc, "operation", op_names[op]);
    kvc_status st = op == OP_VERIFY ? op_verify(run, params, doc, results, err)
                                    : op_safetensors(run, params, op, doc, results, err);
    if (st == KVC_OK)
        st = write_output(run, out_name, doc, results, err);
    cJSON_Delete(doc);
    return st;
}

const kvc__cert_executor kvc__cert_exec_must_fail = {KVC_CASE_MUST_FAIL, mustfail_check,
                                                     mustfail_run};
