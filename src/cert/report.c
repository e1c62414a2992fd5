/* kvcert: what `kvcert certify` prints and writes — the per-case line,
 * TAP 13 test points, and the JSON report. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cert/certify.h"
#include "cert/internal.h"
#include "io/atomic.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

/* ------------------------------------------------------------ text */

static const char *pass_note(const kvc_cert_result *r, char *buf, size_t size)
{
    if (r->outcome == KVC_CERT_PASS && !r->c->expect_valid) {
        kvc__cert_fmt(buf, size, " (%s as expected, nothing written)",
                 kvc_status_name(r->c->expect_status));
        return buf;
    }
    return "";
}

void kvc_cert_line(FILE *out, const kvc_cert_result *r)
{
    char note[128];
    if (r->outcome == KVC_CERT_PASS)
        fprintf(out, "%s: PASS%s\n", r->c->id, pass_note(r, note, sizeof note));
    else
        fprintf(out, "%s: %s (%s)\n", r->c->id, kvc_cert_outcome_name(r->outcome), r->reason);
}

char *kvc_cert_reported_text(const kvc_cert_result *r, size_t i)
{
    if (i >= r->c->n_reported)
        return NULL;
    const cJSON *n = kvc__cert_lookup_node((const cJSON *)r->results, r->c->reported[i]);
    cJSON *wrap = n != NULL ? cJSON_CreateArray() : NULL;
    cJSON *copy = n != NULL ? cJSON_Duplicate(n, 1) : NULL;
    char *text = NULL;
    if (wrap != NULL && copy != NULL && cJSON_AddItemToArray(wrap, copy)) {
        copy = NULL;
        if (kvc__cert_exact_numbers(wrap) == 0)
            text = cJSON_PrintUnformatted(wrap->child);
    }
    cJSON_Delete(copy);
    cJSON_Delete(wrap);
    return text;
}

/* A double-quoted YAML/JSON string. */
static void put_quoted(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", out);
        else if (*p < 32 || *p == 127)
            fprintf(out, "\\x%02x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

/* TAP descriptions and directives must not hold '#' (it starts one). */
static void put_tap_text(FILE *out, const char *s)
{
    for (const char *p = s; *p != '\0'; p++)
        fputc(*p == '#' ? '_' : (*p == '\n' ? ' ' : *p), out);
}

void kvc_cert_tap_point(FILE *out, size_t number, const kvc_cert_result *r)
{
    if (r->outcome == KVC_CERT_SKIP) {
        fprintf(out, "ok %zu - %s # SKIP ", number, r->c->id);
        put_tap_text(out, r->reason);
        fputc('\n', out);
        return;
    }
    fprintf(out, "%s %zu - %s\n", r->outcome == KVC_CERT_PASS ? "ok" : "not ok", number, r->c->id);
    if (r->outcome == KVC_CERT_PASS)
        return;
    fprintf(out, "  ---\n  message: ");
    put_quoted(out, r->reason);
    fprintf(out, "\n  severity: %s\n", r->outcome == KVC_CERT_ERROR ? "error" : "fail");
    fprintf(out, "  status: %s\n", kvc_status_name(r->status));
    if (r->n_failed > 0) {
        fprintf(out, "  failed_assertions:\n");
        for (size_t i = 0; i < r->n_asserts; i++) {
            const kvc_cert_assert_result *a = &r->asserts[i];
            if (a->pass)
                continue;
            fprintf(out, "    - path: ");
            put_quoted(out, a->assertion->path);
            fprintf(out, "\n      detail: ");
            put_quoted(out, a->detail);
            fputc('\n', out);
        }
    }
    fprintf(out, "  ...\n");
}

/* ------------------------------------------------------------ JSON */

typedef struct builder {
    int failed;
} builder;

static cJSON *chk(builder *b, cJSON *item)
{
    if (item == NULL)
        b->failed = 1;
    return item;
}

static void add_number(builder *b, cJSON *o, const char *key, double x)
{
    /* cJSON writes NaN and infinities as null. */
    chk(b, cJSON_AddNumberToObject(o, key, x));
}

static void add_string(builder *b, cJSON *o, const char *key, const char *s)
{
    chk(b, s != NULL ? cJSON_AddStringToObject(o, key, s) : cJSON_AddNullToObject(o, key));
}

static void add_hex(builder *b, cJSON *o, const char *key, double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    char hex[24];
    kvc__cert_fmt(hex, sizeof hex, "0x%016llx", (unsigned long long)u);
    add_string(b, o, key, hex);
}

static void add_value(builder *b, cJSON *o, const char *prefix, const kvc_value *v)
{
    char key[64], text[64];
    switch (v->type) {
    case KVC_VAL_NUMBER:
    case KVC_VAL_NAN:
        add_number(b, o, prefix, v->num);
        kvc__cert_fmt(key, sizeof key, "%s_text", prefix);
        kvc__cert_fmt(text, sizeof text, "%.17g", v->num);
        add_string(b, o, key, text);
        kvc__cert_fmt(key, sizeof key, "%s_hex", prefix);
        add_hex(b, o, key, v->num);
        break;
    case KVC_VAL_STRING:
        add_string(b, o, prefix, v->str);
        break;
    case KVC_VAL_BOOL:
        chk(b, cJSON_AddBoolToObject(o, prefix, v->boolean));
        break;
    case KVC_VAL_MISSING:
        kvc__cert_fmt(key, sizeof key, "%s_missing", prefix);
        chk(b, cJSON_AddTrueToObject(o, key));
        break;
    default:
        add_string(b, o, prefix, "(an object or array)");
    }
}

static const char *source_name(kvc_input_source s)
{
    return s == KVC_INPUT_FILE ? "file" : s == KVC_INPUT_GENERATED ? "generated" : "search";
}

static void add_inputs(builder *b, cJSON *caseobj, const kvc_cert_result *r)
{
    cJSON *arr = chk(b, cJSON_AddArrayToObject(caseobj, "inputs"));
    for (size_t i = 0; arr != NULL && i < r->n_inputs; i++) {
        const kvc_cert_input_result *ir = &r->inputs[i];
        const kvc_case_input *in = ir->input;
        cJSON *o = chk(b, cJSON_CreateObject());
        if (o == NULL)
            return;
        cJSON_AddItemToArray(arr, o);
        add_string(b, o, "role", in->role);
        add_string(b, o, "source", source_name(in->source));
        add_string(b, o, "path", ir->path[0] != '\0' ? ir->path : NULL);
        chk(b, cJSON_AddBoolToObject(o, "pinned", in->pinned));
        char hex[KVC_SHA256_HEX_SIZE + 1];
        if (in->pinned) {
            add_number(b, o, "expected_size", (double)in->size);
            kvc_sha256_hex(in->sha256, hex);
            add_string(b, o, "expected_sha256", hex);
        }
        if (ir->checked)
            add_number(b, o, "size", (double)ir->size);
        if (ir->hashed) {
            kvc_sha256_hex(ir->sha256, hex);
            add_string(b, o, "sha256", hex);
        }
        add_string(b, o, "status", kvc_status_name(ir->status));
    }
}

static void add_assertions(builder *b, cJSON *caseobj, const kvc_cert_result *r)
{
    cJSON *arr = chk(b, cJSON_AddArrayToObject(caseobj, "assertions"));
    const kvc_case *c = r->c;
    for (size_t i = 0; arr != NULL && i < c->n_expected; i++) {
        const kvc_case_assertion *a = &c->expected[i];
        const kvc_cert_assert_result *ar = i < r->n_asserts ? &r->asserts[i] : NULL;
        cJSON *o = chk(b, cJSON_CreateObject());
        if (o == NULL)
            return;
        cJSON_AddItemToArray(arr, o);
        if (a->name != NULL)
            add_string(b, o, "name", a->name);
        add_string(b, o, "path", a->path);
        add_string(b, o, "tolerance", kvc_tolerance_name(a->tolerance));
        if (a->tolerance == KVC_TOL_ABSOLUTE || a->tolerance == KVC_TOL_RELATIVE)
            add_number(b, o, "bound", a->bound);
        if (a->tolerance == KVC_TOL_PUBLISHED_CI95)
            add_number(b, o, "ci95_hw", a->ci95_hw);
        add_value(b, o, "expected", &a->value);
        if (ar == NULL) {
            chk(b, cJSON_AddNullToObject(o, "pass")); /* not evaluated */
            continue;
        }
        add_value(b, o, "got", &ar->got);
        chk(b, cJSON_AddBoolToObject(o, "pass", ar->pass));
        if (!ar->pass)
            add_string(b, o, "detail", ar->detail);
    }
}

static void add_reported(builder *b, cJSON *caseobj, const kvc_cert_result *r)
{
    if (r->c->n_reported == 0)
        return;
    cJSON *arr = chk(b, cJSON_AddArrayToObject(caseobj, "reported"));
    for (size_t i = 0; arr != NULL && i < r->c->n_reported; i++) {
        cJSON *o = chk(b, cJSON_CreateObject());
        if (o == NULL)
            return;
        cJSON_AddItemToArray(arr, o);
        add_string(b, o, "path", r->c->reported[i]);
        const cJSON *n = kvc__cert_lookup_node((const cJSON *)r->results, r->c->reported[i]);
        cJSON *copy = n != NULL ? cJSON_Duplicate(n, 1) : cJSON_CreateNull();
        if (chk(b, copy) != NULL)
            cJSON_AddItemToObject(o, "value", copy);
    }
}

static cJSON *case_object(builder *b, const kvc_cert_result *r)
{
    const kvc_case *c = r->c;
    cJSON *o = chk(b, cJSON_CreateObject());
    if (o == NULL)
        return NULL;
    add_string(b, o, "id", c->id);
    add_string(b, o, "file", c->file);
    add_string(b, o, "kind", kvc_case_kind_name(c->kind));
    add_string(b, o, "profile", c->profile);
    add_string(b, o, "backend", kvc_cert_backend_name(r->backend));
    add_string(b, o, "outcome", kvc_cert_outcome_name(r->outcome));
    add_string(b, o, "reason", r->reason[0] != '\0' ? r->reason : NULL);
    if (c->expect_valid) {
        add_string(b, o, "expected_result", "valid");
    } else {
        cJSON *inv = chk(b, cJSON_AddObjectToObject(o, "expected_result"));
        if (inv != NULL)
            add_string(b, inv, "invalid", kvc_status_name(c->expect_status));
        chk(b, cJSON_AddBoolToObject(o, "output_written", r->output_written));
    }
    if (r->outcome != KVC_CERT_SKIP) {
        add_string(b, o, "status", kvc_status_name(r->status));
        if (r->status != KVC_OK) {
            char buf[1200];
            add_string(b, o, "error", kvc_error_format(&r->error, buf, sizeof buf));
        }
    }
    add_inputs(b, o, r);
    add_assertions(b, o, r);
    add_reported(b, o, r);
    cJSON *notes = chk(b, cJSON_AddArrayToObject(o, "notes"));
    for (size_t i = 0; notes != NULL && i < r->n_notes; i++)
        cJSON_AddItemToArray(notes, chk(b, cJSON_CreateString(r->notes[i])));
    add_number(b, o, "wall_s", r->wall_s);
    return o;
}

kvc_status kvc_cert_report_write(const char *path, const kvc_cert_result *const *results,
                                 size_t n, const char *cases_root, kvc_error *err)
{
    builder b = {0};
    cJSON *root = chk(&b, cJSON_CreateObject());
    if (root == NULL)
        return kvc_error_set(err, KVC_NOMEM, "cannot build the report");
    add_string(&b, root, "schema", KVC_CERT_REPORT_SCHEMA);
    add_string(&b, root, "generator", "kvcert " PACKAGE_VERSION);
    add_string(&b, root, "cases_root", cases_root);
    size_t counts[4] = {0, 0, 0, 0};
    cJSON *arr = chk(&b, cJSON_AddArrayToObject(root, "cases"));
    for (size_t i = 0; arr != NULL && i < n; i++) {
        counts[results[i]->outcome]++;
        cJSON *o = case_object(&b, results[i]);
        if (o != NULL)
            cJSON_AddItemToArray(arr, o);
    }
    cJSON *sum = chk(&b, cJSON_AddObjectToObject(root, "summary"));
    if (sum != NULL) {
        add_number(&b, sum, "cases", (double)n);
        add_number(&b, sum, "passed", (double)counts[KVC_CERT_PASS]);
        add_number(&b, sum, "failed", (double)counts[KVC_CERT_FAIL]);
        add_number(&b, sum, "skipped", (double)counts[KVC_CERT_SKIP]);
        add_number(&b, sum, "errors", (double)counts[KVC_CERT_ERROR]);
    }
    char *text = b.failed || kvc__cert_exact_numbers(root) != 0 ? NULL : cJSON_Print(root);
    cJSON_Delete(root);
    if (text == NULL)
        return kvc_error_set(err, KVC_NOMEM, "cannot format the report");
    size_t len = strlen(text);
    text[len] = '\n'; /* replace the NUL: the file ends in a newline */
    kvc_status st = kvc_atomic_write_file(path, text, len + 1, err);
    free(text);
    return st;
}
