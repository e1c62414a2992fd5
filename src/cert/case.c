/* kvcert: reading and validating conformance case files (kvcert-case/1). */
#include "cert/case.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cert/internal.h"
#include "io/readfile.h"
#include "io/utf8.h"
#include "v4/profile.h"

int kvc__cert_profile_known(const char *name)
{
    return name != NULL && kvc_profile_find(name, NULL) != NULL;
}

static const char *const kind_names[KVC_CASE_KINDS] = {"published", "pipeline", "must-fail",
                                                       "real-data"};
static const char *const tolerance_names[KVC_TOLERANCES] = {"exact", "absolute", "relative",
                                                            "published_ci95"};

const char *kvc_case_kind_name(kvc_case_kind k)
{
    return (int)k >= 0 && k < KVC_CASE_KINDS ? kind_names[k] : "unknown";
}

const char *kvc_tolerance_name(kvc_tolerance t)
{
    return (int)t >= 0 && t < KVC_TOLERANCES ? tolerance_names[t] : "unknown";
}

const char *kvc_case_backend_name(kvc_case_backend b)
{
    switch (b) {
    case KVC_CASE_BACKEND_CPU:
        return "cpu";
    case KVC_CASE_BACKEND_CUDA:
        return "cuda";
    default:
        return "any";
    }
}

/* ------------------------------------------------------------ strict JSON */

kvc_status kvc__case_fail(kvc_error *err, kvc_status st, const char *origin, const char *jpath,
                          const char *fmt, ...)
{
    if (err == NULL)
        return st;
    char detail[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    if (jpath != NULL && jpath[0] != '\0')
        kvc_error_set(err, st, "%s: %s", jpath, detail);
    else
        kvc_error_set(err, st, "%s", detail);
    kvc_error_where(err, origin, jpath, -1);
    return st;
}

int kvc__cert_fmt(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= size ? -1 : n;
}

int kvc__case_jpath(char *buf, size_t size, const char *parent, const char *key)
{
    return kvc__cert_fmt(buf, size, "%s.%s", parent, key); /* truncation only shortens a message */
}

static int jpath_index(char *buf, size_t size, const char *parent, size_t i)
{
    return kvc__cert_fmt(buf, size, "%s[%zu]", parent, i);
}

static const char *type_name(const cJSON *j)
{
    if (j == NULL)
        return "nothing";
    if (cJSON_IsString(j))
        return "a string";
    if (cJSON_IsNumber(j))
        return "a number";
    if (cJSON_IsBool(j))
        return "a boolean";
    if (cJSON_IsNull(j))
        return "null";
    if (cJSON_IsArray(j))
        return "an array";
    if (cJSON_IsObject(j))
        return "an object";
    return "an invalid value";
}

kvc_status kvc__case_keys(const cJSON *obj, const char *const *allowed, const char *origin,
                          const char *jpath, kvc_error *err)
{
    if (!cJSON_IsObject(obj))
        return kvc__case_fail(err, KVC_CASE_FIELD, origin, jpath, "expected an object, got %s",
                              type_name(obj));
    for (const cJSON *c = obj->child; c != NULL; c = c->next) {
        int known = 0;
        for (size_t i = 0; allowed[i] != NULL; i++)
            known |= strcmp(c->string, allowed[i]) == 0;
        char p[512];
        kvc__case_jpath(p, sizeof p, jpath, c->string);
        if (!known)
            return kvc__case_fail(err, KVC_CASE_UNKNOWN_KEY, origin, p, "unknown key \"%.64s\"",
                                  c->string);
        for (const cJSON *d = obj->child; d != c; d = d->next)
            if (strcmp(d->string, c->string) == 0)
                return kvc__case_fail(err, KVC_CASE_FIELD, origin, p, "key given twice");
    }
    return KVC_OK;
}

kvc_status kvc__case_string(const cJSON *obj, const char *key, int optional, const char *origin,
                            const char *jpath, const char **out, kvc_error *err)
{
    char p[512];
    kvc__case_jpath(p, sizeof p, jpath, key);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = NULL;
    if (v == NULL)
        return optional ? KVC_OK : kvc__case_fail(err, KVC_CASE_FIELD, origin, p, "missing");
    if (!cJSON_IsString(v))
        return kvc__case_fail(err, KVC_CASE_FIELD, origin, p, "expected a string, got %s",
                              type_name(v));
    *out = v->valuestring;
    return KVC_OK;
}

kvc_status kvc__case_uint(const cJSON *obj, const char *key, int optional, uint64_t lo,
                          uint64_t hi, const char *origin, const char *jpath, int *present,
                          uint64_t *out, kvc_error *err)
{
    char p[512];
    kvc__case_jpath(p, sizeof p, jpath, key);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (present != NULL)
        *present = v != NULL;
    if (v == NULL)
        return optional ? KVC_OK : kvc__case_fail(err, KVC_CASE_FIELD, origin, p, "missing");
    if (!cJSON_IsNumber(v))
        return kvc__case_fail(err, KVC_CASE_FIELD, origin, p, "expected an integer, got %s",
                              type_name(v));
    double d = v->valuedouble;
    /* Integers below 2^53 only: above that a binary64 reading cannot
     * tell neighbours apart. */
    if (!(d >= 0.0) || d >= 9007199254740992.0 || d != floor(d))
        return kvc__case_fail(err, KVC_CASE_FIELD, origin, p,
                              "expected an integer in [0, 2^53), got %.17g", d);
    uint64_t u = (uint64_t)d;
    if (u < lo || u > hi)
        return kvc__case_fail(err, KVC_CASE_FIELD, origin, p, "%llu is outside [%llu, %llu]",
                              (unsigned long long)u, (unsigned long long)lo,
                              (unsigned long long)hi);
    *out = u;
    return KVC_OK;
}

/* [a-z0-9] then [a-z0-9._-], 1..64 bytes (ids and flags). */
static int id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > KVC_CASE_MAX_ID)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        int alnum = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
        if (!alnum && (i == 0 || (ch != '.' && ch != '_' && ch != '-')))
            return 0;
    }
    return 1;
}

int kvc__case_role_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > KVC_CASE_MAX_ID)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
            return 0;
    }
    return 1;
}

/* A plain file name: no '/', not "." or "..", no control characters. */
static int file_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 255 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '/' || (unsigned char)s[i] < 32 || s[i] == 127)
            return 0;
    return 1;
}

int kvc_case_path_check(const char *path)
{
    if (path == NULL || path[0] != '$' || strlen(path) > KVC_CASE_MAX_PATH)
        return -1;
    const char *p = path + 1;
    while (*p != '\0') {
        if (*p == '.') {
            size_t n = strcspn(p + 1, ".[]");
            if (n == 0)
                return -1;
            p += 1 + n;
        } else if (*p == '[') {
            p++;
            size_t n = strspn(p, "0123456789");
            if (n == 0 || n > 9 || p[n] != ']' || (n > 1 && p[0] == '0'))
                return -1;
            p += n + 1;
        } else {
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------ destroy */

static void free_strings(char **v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++)
        free(v[i]);
    free(v);
}

void kvc_case_destroy(kvc_case *c)
{
    if (c == NULL)
        return;
    free(c->file);
    free(c->dir);
    free(c->id);
    free(c->comment);
    free_strings(c->flags, c->n_flags);
    for (size_t i = 0; c->inputs != NULL && i < c->n_inputs; i++) {
        kvc_case_input *in = &c->inputs[i];
        free(in->role);
        free(in->path);
        free(in->name);
        free(in->gen_by);
        free_strings(in->search, in->n_search);
        free(in->obtain);
    }
    free(c->inputs);
    free(c->profile);
    cJSON_Delete((cJSON *)c->parameters);
    for (size_t i = 0; c->expected != NULL && i < c->n_expected; i++) {
        kvc_case_assertion *a = &c->expected[i];
        free(a->name);
        free(a->comment);
        free(a->path);
        free((char *)a->value.str);
    }
    free(c->expected);
    free_strings(c->reported, c->n_reported);
    free(c->text);
    free(c);
}

const kvc_case_input *kvc_case_input_find(const kvc_case *c, const char *role)
{
    for (size_t i = 0; c != NULL && role != NULL && i < c->n_inputs; i++)
        if (strcmp(c->inputs[i].role, role) == 0)
            return &c->inputs[i];
    return NULL;
}

/* ------------------------------------------------------------ parsing */

typedef struct parser {
    const char *origin;
    kvc_error *err;
} parser;

static kvc_status nomem(parser *ps)
{
    return kvc_error_set(ps->err, KVC_NOMEM, "cannot allocate while reading %s", ps->origin);
}

static kvc_status dup_string(parser *ps, const char *s, char **out)
{
    *out = strdup(s != NULL ? s : "");
    return *out != NULL ? KVC_OK : nomem(ps);
}

static size_t array_len(const cJSON *a)
{
    size_t n = 0;
    for (const cJSON *c = a->child; c != NULL; c = c->next)
        n++;
    return n;
}

static kvc_status get_array(parser *ps, const cJSON *obj, const char *key, size_t max,
                            const cJSON **out, size_t *n)
{
    char p[64];
    kvc__case_jpath(p, sizeof p, "$", key);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (a == NULL)
        return kvc__case_fail(ps->err, KVC_CASE_FIELD, ps->origin, p, "missing");
    if (!cJSON_IsArray(a))
        return kvc__case_fail(ps->err, KVC_CASE_FIELD, ps->origin, p,
                              "expected an array, got %s", type_name(a));
    *n = array_len(a);
    if (*n > max)
        return kvc__case_fail(ps->err, KVC_LIMIT, ps->origin, p, "%zu entries, at most %zu", *n,
                              max);
    *out = a;
    return KVC_OK;
}

static kvc_status parse_pin(parser *ps, const cJSON *o, const char *jp, int nullable,
                            kvc_case_input *in)
{
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(o, "size");
    const cJSON *sha = cJSON_GetObjectItemCaseSensitive(o, "sha256");
    char p[512];
    if (nullable && cJSON_IsNull(size) && cJSON_IsNull(sha)) {
        in->pinned = 0;
        return KVC_OK;
    }
    if (nullable && (cJSON_IsNull(size) || cJSON_IsNull(sha))) {
        kvc__case_jpath(p, sizeof p, jp, cJSON_IsNull(size) ? "size" : "sha256");
        return kvc__case_fail(ps->err, KVC_CASE_FIELD, ps->origin, p,
                              "size and sha256 are pinned together: both null or neither");
    }
    kvc_status st = kvc__case_uint(o, "size", 0, 0, KVC_CASE_SIZE_LIMIT - 1, ps->origin, jp, NULL,
                                   &in->size, ps->err);
    if (st != KVC_OK)
        return st;
    const char *hex = NULL;
    st = kvc__case_string(o, "sha256", 0, ps->origin, jp, &hex, ps->err);
    if (st != KVC_OK)
        return st;
    if (kvc_sha256_from_hex(hex, in->sha256) != KVC_OK) {
        kvc__case_jpath(p, sizeof p, jp, "sha256");
        return kvc__case_fail(ps->err, KVC_CASE_FIELD, ps->origin, p,
                              "\"%.80s\" is not 64 hex digits", hex);
    }
    in->pinned = 1;
    return KVC_OK;
}

static kvc_status parse_generated(parser *ps, const cJSON *g, const char *jp, kvc_case_input *in)
{
    static const char *const keys[] = {"by", "seed", "layer", "passages", NULL};
    kvc_status st = kvc__case_keys(g, keys, ps->origin, jp, ps->err);
    if (st != KVC_OK)
        return st;
    const char *by = NULL;
    if ((st = kvc__case_string(g, "by", 0, ps->origin, jp, &by, ps->err)) != KVC_OK)
        return st;
    char p[512];
    kvc__case_jpath(p, sizeof p, jp, "by");
    if (strcmp(by, "synth") != 0)
        return kvc__case_fail(ps->err, KVC_CASE_FIELD, ps->origin, p,
                              "unknown generator \"%.64s\" (known: synth)", by);
    if ((st = dup_string(ps, by, &in->gen_by)) != KVC_OK)
        return st;
    if ((st = kvc__case_uint(g, "seed", 0, 0, KVC_CASE_SIZE_LIMIT - 1, ps->origin, jp, NULL,
                             &in->gen_seed, ps->err)) != KVC_OK)
        return st;
    int has_layer = 0, has_passages = 0;
    uint64_t layer = 0, passages = 0;
    if ((st = kvc__case_uint(g, "layer", 1, 0, 3, ps->origin, jp, &has_layer, &layer,
                             ps->err)) != KVC_OK)
        return st;
    if ((st = kvc__case_uint(g, "passages", 1, 1, 64, ps->origin, jp, &has_passages, &passages,
                             ps->err)) != KVC_OK)
        return st;
    if (has_layer == has_passages)
        return kvc__case_fail(ps->err, KVC_CASE_FIELD, ps->origin, jp,
                              "exactly one of \"layer\" (a shard) and \"passages\" (hidden "
                              "states) is needed");
    if (has_layer && layer == 1) {
        kvc__case_jpath(p, sizeof p, jp, "layer");
        return kvc__case_fail(ps->err, KVC_CASE_FIELD, ps->origin, p,
                              "synth makes layers 0, 2 and 3 only");
    }
    in->gen_layer = has_layer ? (int)layer : -1;
    in->gen_passages = (uint32_t)passages;
    return KVC_OK;
}

static kvc_status parse_input(parser *ps, const cJSON *o, size_t idx, kvc_case_input *in)
{
    char jp[64], p[512];
    jpath_index(jp, sizeof jp, "$.inputs", idx);
    if (!cJSON_IsObject(o))
        return kvc__case_fail(ps->err, KVC_CASE_FIELD, ps->origin, jp,
                              "expected an object, got %s", type_name(o));
    const char *role = NULL;
    kvc_status st = kvc__case_string(o, "role", 0, ps->origin, jp, &role, ps->err);
    if (st != KVC_OK)
        return st;
    kvc__case_jpath(p, sizeof p, jp, "role");
    if (!kvc__case_role_ok(role))
        return kvc__case_fail(ps->err, KVC_CASE_FIELD, ps->origin, p,
                              "\"%.80s\" is not 1..64 bytes of [a-z0-9_-]", role);
    if ((st = dup_string(ps, role, &in->role)) != KVC_OK)
        return st;
    in->gen_layer = -1;
    if (cJSON_HasObjectItem(o, "path")) {
        static const char *const keys[] = {"role", "path", "size", "sha256", NULL};
        if ((st = kvc__case_keys(o, keys, ps->origin, jp, ps->err)) != KVC_OK)
            return st;
        in->source = KVC_INPUT_FILE;
        const char *path = NULL;
        if ((st = kvc__case_string(o, "path", 0, ps->origin, jp, &path, ps->err)) != KVC_OK)
            return st;
        kvc__case_jpath(p, sizeof p, jp, "path");
        if (path[0] == '\0' || strlen(path) >= KVC_CASE_MAX_PATH)
            return kvc__case_fail(ps->err, KVC_CASE_FIELD, ps->origin, p,
                                  "a path of 1..%d bytes is needed", KVC_CASE_MAX_PATH - 1);
        if ((st = dup_string(ps, path, &in->path)) != KVC_OK)
            return st;
        return parse_pin(ps, o, jp, 0, in);
    }
    const char *name = NULL;
    if ((st = kvc__case_string(o, "name", 0, ps->origin, jp, &name, ps->err)) != KVC_OK) {
        /* Neither form: say what is expected rather than "name missing". */
        if (!cJSON_HasObjectItem(o, "name"))
            return kvc__case_fail(ps->err, KVC_CASE_FIELD, ps->origin, jp,
                                  "an input needs \"path\" (a file), or \"name\" with "
                                  "\"generated\" or \"search\"");
        return st;
    }
    kvc__case_jpath(p, sizeof p, jp, "name");
    if (!file_name_ok(name))
        return kvc__case_fail(ps->err, KVC_CASE_FIELD, ps->origin, p,
                              "\"%.80s\" is not a plain file name", name);
    if ((st = dup_string(ps, name, &in->name)) != KVC_OK)
        return st;
    const cJSON *gen = cJSON_GetObjectItemCaseSensitive(o, "generated");
    const cJSON *search = cJSON_GetObjectItemCaseSensitive(o, "search");
    if ((gen != NULL) == (search != NULL))
        return kvc__case_fail(ps->err, KVC_CASE_FIELD, ps->origin, jp,
                              "a named input has either \"generated\" or \"search\"");
    if (gen != NULL) {
        static const char *const keys[] = {"role", "name", "generated", "size", "sha256", NULL};
        if ((st = kvc__case_keys(o, keys, ps->origin, jp, ps->err)) != KVC_OK)
            return st;
        in->source = KVC_INPUT_GENERATED;
        kvc__case_jpath(p, sizeof p, jp, "generated");
        if ((st = parse_generated(ps, gen, p, in)) != KVC_OK)
            return st;
        return parse_pin(ps, o, jp, 0, in);
    }
    static const char *const keys[] = {"role", "name", "search", "obtain", "size", "sha256", NULL};
    if ((st = kvc__case_keys(o, keys, ps->origin, jp, ps->err)) != KVC_OK)
        return st;
    in->source = KVC_INPUT_SEARCH;
    kvc__case_jpath(p, sizeof p, jp, "search");
    if (!cJSON_IsArray(search) || array_len(search) == 0 ||
        array_len(search) > KVC_CASE_MAX_SEARCH)
        return kvc__case_fail(ps->err, KVC_CASE_FIELD, ps->origin, p,
                              "expected an array of 1..%d path templates", KVC_CASE_MAX_SEARCH);
    in->n_search = 0;
    in->search = calloc(array_len(search), sizeof *in->search);
    if (in->search == NULL)
        return nomem(ps);
    for (const cJSON *t = search->child; t != NULL; t = t->next) {
        char tp[512];
        jpath_index(tp, sizeof tp, p, in->n_search);
        if (!cJSON_IsString(t) || t->valuestring[0] == '\0' ||
            strlen(t->valuestring) >= KVC_CASE_MAX_PATH)
            return kvc__case_fail(ps->err, KVC_CASE_FIELD, ps->origin, tp,
                                  "expected a non-empty path template");
        if ((st = dup_string(ps, t->valuestring, &in->search[in->n_search])) != KVC_OK)
            return st;
        in->n_search++;
    }
    const char *obtain = NULL;
    if ((st = kvc__case_string(o, "obtain", 0, ps->origin, jp, &obtain, ps->err)) != KVC_OK)
        return st;
    if ((st = dup_string(ps, obtain, &in->obtain)) != KVC_OK)
        return st;
    return parse_pin(ps, o, jp, 1, in);
}

static kvc_status parse_inputs(parser *ps, const cJSON *root, kvc_case *c)
{
    const cJSON *a = NULL;
    size_t n = 0;
    kvc_status st = get_array(ps, root, "inputs", KVC_CASE_MAX_INPUTS, &a, &n);
    if (st != KVC_OK)
        return st;
    c->inputs = calloc(n > 0 ? n : 1, sizeof *c->inputs);
    if (c->inputs == NULL)
        return nomem(ps);
    for (const cJSON *o = a->child; o != NULL; o = o->next) {
        kvc_case_input *in = &c->inputs[c->n_inputs++];
        if ((st = parse_input(ps, o, c->n_inputs - 1, in)) != KVC_OK)
            return st;
        for (size_t j = 0; j + 1 < c->n_inputs; j++)
            if (strcmp(c->inputs[j].role, in->role) == 0) {
                char jp[64];
                jpath_index(jp, sizeof jp, "$.inputs", c->n_inputs - 1);
                return kvc__case_fail(ps->err, KVC_CASE_FIELD, ps->origin, jp,
                                      "role \"%s\" is also $.inputs[%zu]'s", in->role, j);
            }
    }
    return KVC_OK;
}

static kvc_status parse_value(parser *ps, const cJSON *v, const char *jp, kvc_value *out)
{
    if (cJSON_IsNumber(v)) {
        if (!isfinite(v->valuedouble))
            return kvc__case_fail(ps->err, KVC_CASE_FIELD, ps->origin, jp,
                                  "the number is out of binary64 range");
        out->type = KVC_VAL_NUMBER;
        out->num = v->valuedouble;
        return KVC_OK;
    }
    if (cJSON_IsNull(v)) {
        out->type = KVC_VAL_NAN;
        out->num = NAN;
        return KVC_OK;
    }
    if (cJSON_IsBool(v)) {
        out->type = KVC_VAL_BOOL;
        out->boolean = cJSON_IsTrue(v);
        return KVC_OK;
    }
    if (cJSON_IsString(v)) {
        out->type = KVC_VAL_STRING;
        char *s = strdup(v->valuestring);
        if (s == NULL)
            return nomem(ps);
        out->str = s;
        return KVC_OK;
    }
    return kvc__case_fail(ps->err, KVC_CASE_FIELD, ps->origin, jp,
                          "expected a number, string, boolean or null, got %s", type_name(v));
}

static kvc_status parse_nonneg(parser *ps, const cJSON *o, const char *key, const char *jp,
                               double *out)
{
    char p[512];
    kvc__case_jpath(p, sizeof p, jp, key);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (v == NULL)
        return kvc__case_fail(ps->err, KVC_CASE_FIELD, ps->origin, p, "missing");
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || !(v->valuedouble >= 0.0))
        return kvc__case_fail(ps->err, KVC_CASE_FIELD, ps->origin, p,
                              "expected a finite number >= 0");
    *out = v->valuedouble;
    return KVC_OK;
}

static kvc_status parse_assertion(parser *ps, const cJSON *o, size_t idx, kvc_case_assertion *a)
{
    static const char *const keys[] = {"name",  "comment", "path",   "value",
                                       "tolerance", "bound", "ci95_hw", NULL};
    char jp[64], p[512];
    jpath_index(jp, sizeof jp, "$.expected", idx);
    kvc_status st = kvc__case_keys(o, keys, ps->origin, jp, ps->err);
    if (st != KVC_OK)
        return st;
    const char *s = NULL;
    if ((st = kvc__case_string(o, "name", 1, ps->origin, jp, &s, ps->err)) != KVC_OK)
        return st;
    if (s != NULL && (st = dup_string(ps, s, &a->name)) != KVC_OK)
        return st;
    if ((st = kvc__case_string(o, "comment", 1, ps->origin, jp, &s, ps->err)) != KVC_OK)
        return st;
    if (s != NULL && (st = dup_string(ps, s, &a->comment)) != KVC_OK)
        return st;
    if ((st = kvc__case_string(o, "path", 0, ps->origin, jp, &s, ps->err)) != KVC_OK)
        return st;
    kvc__case_jpath(p, sizeof p, jp, "path");
    if (kvc_case_path_check(s) != 0)
        return kvc__case_fail(ps->err, KVC_CASE_FIELD, ps->origin, p,
                              "\"%.100s\" is not a JSON path ($, .key, [index])", s);
    if ((st = dup_string(ps, s, &a->path)) != KVC_OK)
        return st;
    kvc__case_jpath(p, sizeof p, jp, "value");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "value");
    if (v == NULL)
        return kvc__case_fail(ps->err, KVC_CASE_FIELD, ps->origin, p, "missing");
    if ((st = parse_value(ps, v, p, &a->value)) != KVC_OK)
        return st;
    if ((st = kvc__case_string(o, "tolerance", 0, ps->origin, jp, &s, ps->err)) != KVC_OK)
        return st;
    kvc__case_jpath(p, sizeof p, jp, "tolerance");
    int tol = -1;
    for (int i = 0; i < KVC_TOLERANCES; i++)
        if (strcmp(s, tolerance_names[i]) == 0)
            tol = i;
    if (tol < 0)
        return kvc__case_fail(ps->err, KVC_CASE_FIELD, ps->origin, p,
                              "unknown tolerance \"%.64s\" (exact, absolute, relative, "
                              "published_ci95)",
                              s);
    a->tolerance = (kvc_tolerance)tol;
    int has_bound = cJSON_HasObjectItem(o, "bound");
    int has_hw = cJSON_HasObjectItem(o, "ci95_hw");
    int want_bound = tol == KVC_TOL_ABSOLUTE || tol == KVC_TOL_RELATIVE;
    int want_hw = tol == KVC_TOL_PUBLISHED_CI95;
    if (has_bound != want_bound || has_hw != want_hw)
        return kvc__case_fail(ps->err, KVC_CASE_FIELD, ps->origin, jp,
                              "tolerance \"%s\" takes %s", s,
                              want_bound ? "\"bound\" (and no \"ci95_hw\")"
                              : want_hw  ? "\"ci95_hw\" (and no \"bound\")"
                                         : "neither \"bound\" nor \"ci95_hw\"");
    if (tol != KVC_TOL_EXACT && a->value.type != KVC_VAL_NUMBER)
        return kvc__case_fail(ps->err, KVC_CASE_FIELD, ps->origin, p,
                              "tolerance \"%s\" needs a finite number as the value", s);
    if (want_bound && (st = parse_nonneg(ps, o, "bound", jp, &a->bound)) != KVC_OK)
        return st;
    if (want_hw && (st = parse_nonneg(ps, o, "ci95_hw", jp, &a->ci95_hw)) != KVC_OK)
        return st;
    return KVC_OK;
}

static kvc_status parse_expected(parser *ps, const cJSON *root, kvc_case *c)
{
    const cJSON *a = NULL;
    size_t n = 0;
    kvc_status st = get_array(ps, root, "expected", KVC_CASE_MAX_ASSERTIONS, &a, &n);
    if (st != KVC_OK)
        return st;
    c->expected = calloc(n > 0 ? n : 1, sizeof *c->expected);
    if (c->expected == NULL)
        return nomem(ps);
    for (const cJSON *o = a->child; o != NULL; o = o->next) {
        kvc_case_assertion *as = &c->expected[c->n_expected++];
        if ((st = parse_assertion(ps, o, c->n_expected - 1, as)) != KVC_OK)
            return st;
    }
    return KVC_OK;
}

static kvc_status parse_string_list(parser *ps, const cJSON *root, const char *key, size_t max,
                                    int optional, int (*valid)(const char *), const char *what,
                                    char ***out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    if (optional && !cJSON_HasObjectItem(root, key))
        return KVC_OK;
    const cJSON *a = NULL;
    size_t n = 0;
    kvc_status st = get_array(ps, root, key, max, &a, &n);
    if (st != KVC_OK)
        return st;
    *out = calloc(n > 0 ? n : 1, sizeof **out);
    if (*out == NULL)
        return nomem(ps);
    char jp[64];
    kvc__case_jpath(jp, sizeof jp, "$", key);
    for (const cJSON *v = a->child; v != NULL; v = v->next) {
        char p[96];
        jpath_index(p, sizeof p, jp, *n_out);
        if (!cJSON_IsString(v) || !valid(v->valuestring))
            return kvc__case_fail(ps->err, KVC_CASE_FIELD, ps->origin, p, "expected %s", what);
        if ((st = dup_string(ps, v->valuestring, &(*out)[*n_out])) != KVC_OK)
            return st;
        (*n_out)++;
    }
    return KVC_OK;
}

static int path_valid(const char *s)
{
    return kvc_case_path_check(s) == 0;
}

static kvc_status parse_result(parser *ps, const cJSON *root, kvc_case *c)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(root, "result");
    if (r == NULL)
        return kvc__case_fail(ps->err, KVC_CASE_FIELD, ps->origin, "$.result", "missing");
    if (cJSON_IsString(r)) {
        if (strcmp(r->valuestring, "valid") != 0)
            return kvc__case_fail(ps->err, KVC_CASE_FIELD, ps->origin, "$.result",
                                  "expected \"valid\" or {\"invalid\": \"STATUS\"}, got "
                                  "\"%.64s\"",
                                  r->valuestring);
        c->expect_valid = 1;
        return KVC_OK;
    }
    static const char *const keys[] = {"invalid", NULL};
    kvc_status st = kvc__case_keys(r, keys, ps->origin, "$.result", ps->err);
    if (st != KVC_OK)
        return st;
    const char *name = NULL;
    if ((st = kvc__case_string(r, "invalid", 0, ps->origin, "$.result", &name, ps->err)) != KVC_OK)
        return st;
    int s = kvc_status_from_name(name);
    if (s < 0 || s == KVC_OK)
        return kvc__case_fail(ps->err, KVC_CASE_FIELD, ps->origin, "$.result.invalid",
                              "\"%.64s\" is not a status name of core/error.h (other than OK)",
                              name);
    c->expect_valid = 0;
    c->expect_status = (kvc_status)s;
    return KVC_OK;
}

static kvc_status parse_root(parser *ps, const cJSON *root, kvc_case *c)
{
    if (!cJSON_IsObject(root))
        return kvc__case_fail(ps->err, KVC_CASE_FIELD, ps->origin, "$",
                              "expected an object, got %s", type_name(root));
    /* The version decides how everything else reads: check it first. */
    const cJSON *schema = cJSON_GetObjectItemCaseSensitive(root, "schema");
    if (!cJSON_IsString(schema))
        return kvc__case_fail(ps->err, KVC_CASE_SCHEMA, ps->origin, "$.schema",
                              "%s (expected \"" KVC_CASE_SCHEMA_ID "\")",
                              schema == NULL ? "missing" : "not a string");
    if (strcmp(schema->valuestring, KVC_CASE_SCHEMA_ID) != 0)
        return kvc__case_fail(ps->err, KVC_CASE_SCHEMA, ps->origin, "$.schema",
                              "\"%.64s\" is not a schema this kvcert reads (\"" KVC_CASE_SCHEMA_ID
                              "\")",
                              schema->valuestring);
    static const char *const keys[] = {"schema",     "id",       "comment", "flags",
                                       "kind",       "inputs",   "profile", "backend",
                                       "parameters", "expected", "reported", "result",
                                       NULL};
    kvc_status st = kvc__case_keys(root, keys, ps->origin, "$", ps->err);
    if (st != KVC_OK)
        return st;
    const char *s = NULL;
    if ((st = kvc__case_string(root, "id", 0, ps->origin, "$", &s, ps->err)) != KVC_OK)
        return st;
    if (!id_ok(s))
        return kvc__case_fail(ps->err, KVC_CASE_FIELD, ps->origin, "$.id",
                              "\"%.80s\" is not 1..64 bytes of [a-z0-9._-] starting with "
                              "[a-z0-9]",
                              s);
    if ((st = dup_string(ps, s, &c->id)) != KVC_OK)
        return st;
    if ((st = kvc__case_string(root, "comment", 0, ps->origin, "$", &s, ps->err)) != KVC_OK)
        return st;
    if ((st = dup_string(ps, s, &c->comment)) != KVC_OK)
        return st;
    if ((st = parse_string_list(ps, root, "flags", KVC_CASE_MAX_FLAGS, 0, id_ok,
                                "a flag: 1..64 bytes of [a-z0-9._-]", &c->flags, &c->n_flags)) !=
        KVC_OK)
        return st;
    if ((st = kvc__case_string(root, "kind", 0, ps->origin, "$", &s, ps->err)) != KVC_OK)
        return st;
    int kind = -1;
    for (int i = 0; i < KVC_CASE_KINDS; i++)
        if (strcmp(s, kind_names[i]) == 0)
            kind = i;
    if (kind < 0)
        return kvc__case_fail(ps->err, KVC_CASE_FIELD, ps->origin, "$.kind",
                              "unknown kind \"%.64s\" (published, pipeline, must-fail, "
                              "real-data)",
                              s);
    c->kind = (kvc_case_kind)kind;
    if ((st = parse_inputs(ps, root, c)) != KVC_OK)
        return st;
    const cJSON *prof = cJSON_GetObjectItemCaseSensitive(root, "profile");
    if (prof == NULL)
        return kvc__case_fail(ps->err, KVC_CASE_FIELD, ps->origin, "$.profile",
                              "missing (null when no V4 path runs)");
    if (!cJSON_IsNull(prof)) {
        if (!cJSON_IsString(prof) || !kvc__cert_profile_known(prof->valuestring))
            return kvc__case_fail(ps->err, KVC_CASE_FIELD, ps->origin, "$.profile",
                                  "expected null or a profile name (stage075, intended, v4)");
        if ((st = dup_string(ps, prof->valuestring, &c->profile)) != KVC_OK)
            return st;
    }
    if ((st = kvc__case_string(root, "backend", 0, ps->origin, "$", &s, ps->err)) != KVC_OK)
        return st;
    if (strcmp(s, "any") == 0)
        c->backend = KVC_CASE_BACKEND_ANY;
    else if (strcmp(s, "cpu") == 0)
        c->backend = KVC_CASE_BACKEND_CPU;
    else if (strcmp(s, "cuda") == 0)
        c->backend = KVC_CASE_BACKEND_CUDA;
    else
        return kvc__case_fail(ps->err, KVC_CASE_FIELD, ps->origin, "$.backend",
                              "unknown backend \"%.64s\" (cpu, cuda, any)", s);
    if ((st = parse_expected(ps, root, c)) != KVC_OK)
        return st;
    if ((st = parse_string_list(ps, root, "reported", KVC_CASE_MAX_ASSERTIONS, 1, path_valid,
                                "a JSON path ($, .key, [index])", &c->reported,
                                &c->n_reported)) != KVC_OK)
        return st;
    if ((st = parse_result(ps, root, c)) != KVC_OK)
        return st;
    if (!c->expect_valid && c->n_expected > 0)
        return kvc__case_fail(ps->err, KVC_CASE_FIELD, ps->origin, "$.expected",
                              "a case that must fail asserts no values");
    if (c->expect_valid && c->n_expected == 0)
        return kvc__case_fail(ps->err, KVC_CASE_FIELD, ps->origin, "$.expected",
                              "a valid case asserts at least one value");
    if (c->kind != KVC_CASE_MUST_FAIL && !c->expect_valid &&
        c->expect_status != KVC_INPUT_HASH_MISMATCH && c->expect_status != KVC_INPUT_SIZE_MISMATCH)
        return kvc__case_fail(ps->err, KVC_CASE_FIELD, ps->origin, "$.result",
                              "only must-fail cases expect a failure other than an input "
                              "check's");
    /* The parameters last: their check may look up input roles. */
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(root, "parameters");
    if (params == NULL)
        return kvc__case_fail(ps->err, KVC_CASE_FIELD, ps->origin, "$.parameters", "missing");
    if (!cJSON_IsObject(params))
        return kvc__case_fail(ps->err, KVC_CASE_FIELD, ps->origin, "$.parameters",
                              "expected an object, got %s", type_name(params));
    c->parameters = cJSON_Duplicate(params, 1);
    if (c->parameters == NULL)
        return nomem(ps);
    const kvc__cert_executor *ex = kvc__cert_executor_for(c->kind);
    if (ex != NULL && ex->check != NULL) {
        kvc_error e;
        kvc_error_clear(&e);
        st = ex->check(c, (const cJSON *)c->parameters, &e);
        if (st != KVC_OK) {
            if (ps->err != NULL) {
                *ps->err = e;
                kvc_error_where(ps->err, ps->origin, NULL, -1);
            }
            return st;
        }
    }
    return KVC_OK;
}

static kvc_status set_location(parser *ps, const char *origin, kvc_case *c)
{
    kvc_status st = dup_string(ps, origin, &c->file);
    if (st != KVC_OK)
        return st;
    const char *slash = strrchr(origin, '/');
    if (slash == NULL)
        return dup_string(ps, ".", &c->dir);
    if (slash == origin)
        return dup_string(ps, "/", &c->dir);
    c->dir = strndup(origin, (size_t)(slash - origin));
    return c->dir != NULL ? KVC_OK : nomem(ps);
}

kvc_status kvc_case_parse(const char *text, size_t len, const char *origin, kvc_case **out,
                          kvc_error *err)
{
    if (out == NULL || (text == NULL && len > 0))
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "kvc_case_parse: NULL argument");
    *out = NULL;
    if (origin == NULL)
        origin = "(case)";
    parser ps = {origin, err};
    if (len > KVC_CASE_MAX_BYTES)
        return kvc__case_fail(err, KVC_LIMIT, origin, NULL, "case file of %zu bytes exceeds %llu",
                              len, (unsigned long long)KVC_CASE_MAX_BYTES);
    const unsigned char *u = (const unsigned char *)(text != NULL ? text : "");
    const void *nul = memchr(u, 0, len);
    size_t bad = nul != NULL ? (size_t)((const unsigned char *)nul - u) : len;
    size_t bad8 = kvc__utf8_invalid_at(u, len);
    if (bad < len || bad8 < len) {
        size_t at = bad < bad8 ? bad : bad8;
        kvc_error_set(err, KVC_CASE_JSON, "%s at byte %zu",
                      at == bad ? "NUL byte" : "invalid UTF-8", at);
        kvc_error_where(err, origin, NULL, (int64_t)at);
        return KVC_CASE_JSON;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text != NULL ? text : "", len, &end, 0);
    if (root == NULL) {
        int64_t at = end != NULL && text != NULL ? (int64_t)(end - text) : 0;
        kvc_error_set(err, KVC_CASE_JSON, "JSON syntax error at byte %lld", (long long)at);
        kvc_error_where(err, origin, NULL, at);
        return KVC_CASE_JSON;
    }
    for (const char *p = end; p < text + len; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            cJSON_Delete(root);
            kvc_error_set(err, KVC_CASE_JSON, "text after the JSON value at byte %lld",
                          (long long)(p - text));
            kvc_error_where(err, origin, NULL, (int64_t)(p - text));
            return KVC_CASE_JSON;
        }
    kvc_case *c = calloc(1, sizeof *c);
    kvc_status st = c == NULL ? nomem(&ps) : set_location(&ps, origin, c);
    if (st == KVC_OK) {
        c->text = malloc(len + 1);
        if (c->text == NULL) {
            st = nomem(&ps);
        } else {
            memcpy(c->text, text != NULL ? text : "", len);
            c->text[len] = '\0';
        }
    }
    if (st == KVC_OK)
        st = parse_root(&ps, root, c);
    cJSON_Delete(root);
    if (st != KVC_OK) {
        kvc_case_destroy(c);
        return st;
    }
    *out = c;
    return KVC_OK;
}

kvc_status kvc_case_load(const char *path, kvc_case **out, kvc_error *err)
{
    if (path == NULL || out == NULL)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "kvc_case_load: NULL argument");
    *out = NULL;
    char *buf = NULL;
    size_t len = 0;
    kvc_status st = kvc_read_file_bounded(path, KVC_CASE_MAX_BYTES, "case file", &buf, &len, err);
    if (st != KVC_OK)
        return st;
    st = kvc_case_parse(buf, len, path, out, err);
    free(buf);
    return st;
}

/* ------------------------------------------------------------ files */

void kvc_case_list_free(char **paths, size_t n)
{
    free_strings(paths, n);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

kvc_status kvc_case_list_dir(const char *dir, char ***paths, size_t *n, kvc_error *err)
{
    *paths = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (d == NULL) {
        kvc_error_set(err, KVC_OPEN, "cannot read the case folder '%s': %s", dir,
                      strerror(errno));
        kvc_error_where(err, dir, NULL, -1);
        return KVC_OPEN;
    }
    size_t cap = 0;
    char **v = NULL;
    kvc_status st = KVC_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len < 6 || strcmp(e->d_name + len - 5, ".json") != 0)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nv = realloc(v, cap * sizeof *v);
            if (nv == NULL) {
                st = kvc_error_set(err, KVC_NOMEM, "cannot list %s", dir);
                break;
            }
            v = nv;
        }
        size_t plen = strlen(dir) + 1 + len + 1;
        v[*n] = malloc(plen);
        if (v[*n] == NULL) {
            st = kvc_error_set(err, KVC_NOMEM, "cannot list %s", dir);
            break;
        }
        snprintf(v[*n], plen, "%s/%s", dir, e->d_name);
        (*n)++;
    }
    closedir(d);
    if (st != KVC_OK) {
        free_strings(v, *n);
        *n = 0;
        return st;
    }
    if (*n > 1)
        qsort(v, *n, sizeof *v, cmp_str);
    *paths = v;
    return KVC_OK;
}
