/* kvcert: reading, validating and writing file manifests (cJSON). */
#include "io/manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "io/atomic.h"
#include "io/readfile.h"
#include "io/hash_jobs.h"

struct kvc_manifest {
    kvc_manifest_entry *entries;
    size_t n;
};

/* ------------------------------------------------------------ accessors */

void kvc_manifest_destroy(kvc_manifest *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n; i++)
        free((char *)m->entries[i].name);
    free(m->entries);
    free(m);
}

size_t kvc_manifest_count(const kvc_manifest *m)
{
    return m != NULL ? m->n : 0;
}

const kvc_manifest_entry *kvc_manifest_entry_at(const kvc_manifest *m, size_t i)
{
    return m != NULL && i < m->n ? &m->entries[i] : NULL;
}

const kvc_manifest_entry *kvc_manifest_find(const kvc_manifest *m, const char *name)
{
    for (size_t i = 0; m != NULL && name != NULL && i < m->n; i++)
        if (strcmp(m->entries[i].name, name) == 0)
            return &m->entries[i];
    return NULL;
}

uint64_t kvc_manifest_total_size(const kvc_manifest *m)
{
    uint64_t sum = 0;
    for (size_t i = 0; m != NULL && i < m->n; i++) {
        uint64_t s = m->entries[i].size;
        sum = s > UINT64_MAX - sum ? UINT64_MAX : sum + s; /* saturates */
    }
    return sum;
}

/* ------------------------------------------------------------ names */

kvc_status kvc_manifest_check_name(const char *name, kvc_error *err)
{
    if (name == NULL || name[0] == '\0')
        return kvc_error_set(err, KVC_MANIFEST_FIELD, "empty file name");
    size_t len = strlen(name);
    if (len > KVC_MANIFEST_MAX_NAME)
        return kvc_error_set(err, KVC_MANIFEST_FIELD, "file name longer than %d bytes",
                             KVC_MANIFEST_MAX_NAME);
    if (name[0] == '/')
        return kvc_error_set(err, KVC_MANIFEST_FIELD, "'%s' is an absolute path", name);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (ch < 32 || ch == 127)
            return kvc_error_set(err, KVC_MANIFEST_FIELD,
                                 "file name holds control character 0x%02x at byte %zu", ch, i);
    }
    /* Components: between slashes. */
    const char *c = name;
    for (;;) {
        const char *slash = strchr(c, '/');
        size_t clen = slash != NULL ? (size_t)(slash - c) : strlen(c);
        if (clen == 0)
            return kvc_error_set(err, KVC_MANIFEST_FIELD, "'%s' has an empty path component",
                                 name);
        if (clen == 1 && c[0] == '.')
            return kvc_error_set(err, KVC_MANIFEST_FIELD, "'%s' has a '.' path component", name);
        if (clen == 2 && c[0] == '.' && c[1] == '.')
            return kvc_error_set(err, KVC_MANIFEST_FIELD,
                                 "'%s' has a '..' path component (names stay inside the directory)",
                                 name);
        if (slash == NULL)
            break;
        c = slash + 1;
    }
    return KVC_OK;
}

/* ------------------------------------------------------------ parsing */

/* Field-level error: "files[3].sha256: <detail>", the field also recorded
 * in the error's tensor slot. */
static kvc_status field_error(kvc_error *err, kvc_status st, const char *origin, const char *field,
                              const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static kvc_status field_error(kvc_error *err, kvc_status st, const char *origin, const char *field,
                              const char *fmt, ...)
{
    if (err == NULL)
        return st;
    char detail[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    kvc_error_set(err, st, "%s: %s", field, detail);
    kvc_error_where(err, origin, field, -1);
    return st;
}

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlongs, no
 * surrogates, at most U+10FFFF), or 0 if there is none. */
static size_t utf8_seq(const unsigned char *s, size_t avail)
{
    unsigned char b0 = s[0];
    if (b0 < 0x80)
        return 1;
    size_t len;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (b0 >= 0xC2 && b0 <= 0xDF)
        len = 2;
    else if (b0 >= 0xE0 && b0 <= 0xEF) {
        len = 3;
        if (b0 == 0xE0)
            lo = 0xA0;
        if (b0 == 0xED)
            hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        len = 4;
        if (b0 == 0xF0)
            lo = 0x90;
        if (b0 == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (avail < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t k = 2; k < len; k++)
        if (s[k] < 0x80 || s[k] > 0xBF)
            return 0;
    return len;
}

/* Byte-level checks cJSON does not make: UTF-8, no NUL byte, and no
 * "\u0000" escape (cJSON would cut the string there, silently). Returns
 * the offending offset, or -1. */
static int64_t raw_text_problem(const char *text, size_t len, const char **why)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        if (s[i] == 0) {
            *why = "a NUL byte";
            return (int64_t)i;
        }
        if (s[i] == '\\') {
            /* an escape: \u0000 is refused, any other escape skipped whole */
            if (i + 6 <= len && memcmp(s + i + 1, "u0000", 5) == 0) {
                *why = "a \\u0000 escape";
                return (int64_t)i;
            }
            i += i + 1 < len ? 2 : 1;
            continue;
        }
        size_t k = utf8_seq(s + i, len - i);
        if (k == 0) {
            *why = "invalid UTF-8";
            return (int64_t)i;
        }
        i += k;
    }
    return -1;
}

/* Each key of obj is one of allowed[] and appears once. */
static kvc_status check_keys(const cJSON *obj, const char *const *allowed, size_t n_allowed,
                             const char *origin, const char *where, kvc_error *err)
{
    for (const cJSON *a = obj->child; a != NULL; a = a->next) {
        int known = 0;
        for (size_t k = 0; k < n_allowed; k++)
            known |= strcmp(a->string, allowed[k]) == 0;
        if (!known)
            return field_error(err, KVC_MANIFEST_FIELD, origin, where, "unknown key \"%s\"",
                               a->string);
        for (const cJSON *b = a->next; b != NULL; b = b->next)
            if (strcmp(a->string, b->string) == 0)
                return field_error(err, KVC_MANIFEST_FIELD, origin, where,
                                   "key \"%s\" appears twice", a->string);
    }
    return KVC_OK;
}

static const char *json_type_name(const cJSON *v)
{
    if (cJSON_IsString(v))
        return "a string";
    if (cJSON_IsNumber(v))
        return "a number";
    if (cJSON_IsArray(v))
        return "an array";
    if (cJSON_IsObject(v))
        return "an object";
    if (cJSON_IsBool(v))
        return "a boolean";
    if (cJSON_IsNull(v))
        return "null";
    return "an invalid value";
}

static kvc_status parse_size(const cJSON *v, const char *origin, const char *field,
                             uint64_t *out, kvc_error *err)
{
    if (!cJSON_IsNumber(v))
        return field_error(err, KVC_MANIFEST_FIELD, origin, field, "expected an integer, got %s",
                           json_type_name(v));
    double d = v->valuedouble;
    /* signbit catches -0 as well: a size is written without a sign. */
    if (signbit(d))
        return field_error(err, KVC_MANIFEST_FIELD, origin, field, "negative size %.17g", d);
    if (!(d < (double)KVC_MANIFEST_SIZE_LIMIT))
        return field_error(err, KVC_MANIFEST_FIELD, origin, field,
                           "size %.17g is not below 2^53", d);
    uint64_t u = (uint64_t)d;
    if ((double)u != d)
        return field_error(err, KVC_MANIFEST_FIELD, origin, field, "size %.17g is not an integer",
                           d);
    *out = u;
    return KVC_OK;
}

static kvc_status parse_entry(const cJSON *obj, size_t index, const char *origin,
                              kvc_manifest_entry *e, kvc_error *err)
{
    static const char *const keys[] = {"name", "size", "sha256"};
    char where[64];
    snprintf(where, sizeof where, "files[%zu]", index);
    if (!cJSON_IsObject(obj))
        return field_error(err, KVC_MANIFEST_FIELD, origin, where, "expected an object, got %s",
                           json_type_name(obj));
    kvc_status st = check_keys(obj, keys, 3, origin, where, err);
    if (st != KVC_OK)
        return st;
    char field[96];
    for (size_t k = 0; k < 3; k++) {
        if (cJSON_GetObjectItemCaseSensitive(obj, keys[k]) == NULL) {
            snprintf(field, sizeof field, "%s.%s", where, keys[k]);
            return field_error(err, KVC_MANIFEST_FIELD, origin, field, "missing");
        }
    }

    const cJSON *name = cJSON_GetObjectItemCaseSensitive(obj, "name");
    snprintf(field, sizeof field, "%s.name", where);
    if (!cJSON_IsString(name))
        return field_error(err, KVC_MANIFEST_FIELD, origin, field, "expected a string, got %s",
                           json_type_name(name));
    kvc_error name_err;
    kvc_error_clear(&name_err);
    if (kvc_manifest_check_name(name->valuestring, &name_err) != KVC_OK)
        return field_error(err, KVC_MANIFEST_FIELD, origin, field, "%s", name_err.detail);

    snprintf(field, sizeof field, "%s.size", where);
    st = parse_size(cJSON_GetObjectItemCaseSensitive(obj, "size"), origin, field, &e->size, err);
    if (st != KVC_OK)
        return st;

    const cJSON *hex = cJSON_GetObjectItemCaseSensitive(obj, "sha256");
    snprintf(field, sizeof field, "%s.sha256", where);
    if (!cJSON_IsString(hex))
        return field_error(err, KVC_MANIFEST_FIELD, origin, field, "expected a string, got %s",
                           json_type_name(hex));
    if (kvc_sha256_from_hex(hex->valuestring, e->sha256) != KVC_OK)
        return field_error(err, KVC_MANIFEST_HEX, origin, field,
                           "expected 64 hex digits, got \"%.80s\"%s", hex->valuestring,
                           strlen(hex->valuestring) > 80 ? "..." : "");

    e->name = strdup(name->valuestring);
    if (e->name == NULL)
        return kvc_error_set(err, KVC_NOMEM, "cannot copy a file name");
    return KVC_OK;
}

/* Sorts entry pointers by name to find a duplicate in n log n. */
static int by_name(const void *a, const void *b)
{
    const kvc_manifest_entry *x = *(const kvc_manifest_entry *const *)a;
    const kvc_manifest_entry *y = *(const kvc_manifest_entry *const *)b;
    int c = strcmp(x->name, y->name);
    if (c != 0)
        return c;
    return x < y ? -1 : (x > y);
}

static kvc_status check_unique(const kvc_manifest *m, const char *origin, kvc_error *err)
{
    if (m->n < 2)
        return KVC_OK;
    const kvc_manifest_entry **v = malloc(m->n * sizeof *v);
    if (v == NULL)
        return kvc_error_set(err, KVC_NOMEM, "cannot allocate %zu pointers", m->n);
    for (size_t i = 0; i < m->n; i++)
        v[i] = &m->entries[i];
    qsort(v, m->n, sizeof *v, by_name);
    kvc_status st = KVC_OK;
    for (size_t i = 1; i < m->n; i++) {
        if (strcmp(v[i - 1]->name, v[i]->name) == 0) {
            char where[64];
            size_t first = (size_t)(v[i - 1] - m->entries), again = (size_t)(v[i] - m->entries);
            snprintf(where, sizeof where, "files[%zu].name", again);
            st = field_error(err, KVC_MANIFEST_FIELD, origin, where,
                             "duplicate name '%s' (also files[%zu])", v[i]->name, first);
            break;
        }
    }
    free(v);
    return st;
}

static kvc_status parse_root(const cJSON *root, const char *origin, kvc_manifest *m,
                             kvc_error *err)
{
    static const char *const keys[] = {"schema", "files"};
    if (!cJSON_IsObject(root))
        return field_error(err, KVC_MANIFEST_FIELD, origin, "(root)",
                           "expected an object, got %s", json_type_name(root));
    kvc_status st = check_keys(root, keys, 2, origin, "(root)", err);
    if (st != KVC_OK)
        return st;
    const cJSON *schema = cJSON_GetObjectItemCaseSensitive(root, "schema");
    if (schema == NULL)
        return field_error(err, KVC_MANIFEST_FIELD, origin, "schema", "missing");
    if (!cJSON_IsString(schema))
        return field_error(err, KVC_MANIFEST_FIELD, origin, "schema", "expected a string, got %s",
                           json_type_name(schema));
    if (strcmp(schema->valuestring, KVC_MANIFEST_SCHEMA) != 0)
        return field_error(err, KVC_MANIFEST_FIELD, origin, "schema",
                           "\"%.100s\" is not \"" KVC_MANIFEST_SCHEMA "\"", schema->valuestring);
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(root, "files");
    if (files == NULL)
        return field_error(err, KVC_MANIFEST_FIELD, origin, "files", "missing");
    if (!cJSON_IsArray(files))
        return field_error(err, KVC_MANIFEST_FIELD, origin, "files", "expected an array, got %s",
                           json_type_name(files));
    size_t n = 0;
    for (const cJSON *c = files->child; c != NULL; c = c->next)
        n++;
    m->entries = calloc(n > 0 ? n : 1, sizeof *m->entries);
    if (m->entries == NULL)
        return kvc_error_set(err, KVC_NOMEM, "cannot allocate %zu entries", n);
    for (const cJSON *c = files->child; c != NULL; c = c->next) {
        st = parse_entry(c, m->n, origin, &m->entries[m->n], err);
        if (st != KVC_OK)
            return st;
        m->n++;
    }
    return check_unique(m, origin, err);
}

kvc_status kvc_manifest_parse(const char *text, size_t len, const char *origin,
                              kvc_manifest **out, kvc_error *err)
{
    if (out == NULL || (text == NULL && len > 0))
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "kvc_manifest_parse: NULL argument");
    *out = NULL;
    if (origin == NULL)
        origin = "(manifest)";
    if (len > KVC_MANIFEST_MAX_BYTES) {
        kvc_error_set(err, KVC_LIMIT, "manifest of %zu bytes exceeds %llu", len,
                      (unsigned long long)KVC_MANIFEST_MAX_BYTES);
        kvc_error_where(err, origin, NULL, -1);
        return KVC_LIMIT;
    }
    const char *why = NULL;
    int64_t bad = raw_text_problem(text, len, &why);
    if (bad >= 0) {
        kvc_error_set(err, KVC_MANIFEST_JSON, "%s at byte %lld", why, (long long)bad);
        kvc_error_where(err, origin, NULL, bad);
        return KVC_MANIFEST_JSON;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text != NULL ? text : "", len, &end, 0);
    if (root == NULL) {
        int64_t at = end != NULL && text != NULL ? (int64_t)(end - text) : 0;
        kvc_error_set(err, KVC_MANIFEST_JSON, "JSON syntax error at byte %lld", (long long)at);
        kvc_error_where(err, origin, NULL, at);
        return KVC_MANIFEST_JSON;
    }
    /* Only white space may follow the value (ParseWithLengthOpts with
     * require_null_terminated = 0 stops after it). */
    for (const char *p = end; p < text + len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            cJSON_Delete(root);
            kvc_error_set(err, KVC_MANIFEST_JSON, "text after the JSON value at byte %lld",
                          (long long)(p - text));
            kvc_error_where(err, origin, NULL, (int64_t)(p - text));
            return KVC_MANIFEST_JSON;
        }
    }
    kvc_manifest *m = calloc(1, sizeof *m);
    kvc_status st = KVC_OK;
    if (m == NULL)
        st = kvc_error_set(err, KVC_NOMEM, "cannot allocate a manifest");
    else
        st = parse_root(root, origin, m, err);
    cJSON_Delete(root);
    if (st != KVC_OK) {
        kvc_manifest_destroy(m);
        return st;
    }
    *out = m;
    return KVC_OK;
}

kvc_status kvc_manifest_read(const char *path, kvc_manifest **out, kvc_error *err)
{
    if (path == NULL || out == NULL)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "kvc_manifest_read: NULL argument");
    *out = NULL;
    char *buf = NULL;
    size_t len = 0;
    kvc_status st = kvc_read_file_bounded(path, KVC_MANIFEST_MAX_BYTES, "manifest", &buf, &len, err);
    if (st != KVC_OK)
        return st;
    st = kvc_manifest_parse(buf, len, path, out, err);
    free(buf);
    return st;
}

/* ------------------------------------------------------------ writing */

typedef struct strbuf {
    char *p;
    size_t len, cap;
    int failed;
} strbuf;

static void sb_add(strbuf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap > 0 ? b->cap : 256;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (np == NULL) {
            b->failed = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(strbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

/* A JSON string; names hold no control characters (checked), so only "
 * and \ need escaping. */
static void sb_json_string(strbuf *b, const char *s)
{
    sb_add(b, "\"", 1);
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            sb_add(b, "\\", 1);
        sb_add(b, p, 1);
    }
    sb_add(b, "\"", 1);
}

kvc_status kvc_manifest_format(const kvc_manifest_entry *entries, size_t n, char **text_out,
                               size_t *len_out, kvc_error *err)
{
    if (text_out == NULL || (entries == NULL && n > 0))
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "kvc_manifest_format: NULL argument");
    *text_out = NULL;
    for (size_t i = 0; i < n; i++) {
        kvc_status st = kvc_manifest_check_name(entries[i].name, err);
        if (st != KVC_OK)
            return st;
        if (entries[i].size >= KVC_MANIFEST_SIZE_LIMIT)
            return kvc_error_set(err, KVC_MANIFEST_FIELD, "'%s': size %llu is not below 2^53",
                                 entries[i].name, (unsigned long long)entries[i].size);
    }
    strbuf b = {NULL, 0, 0, 0};
    sb_str(&b, "{\n  \"schema\": \"" KVC_MANIFEST_SCHEMA "\",\n  \"files\": [");
    for (size_t i = 0; i < n; i++) {
        char num[32], hex[KVC_SHA256_HEX_SIZE + 1];
        sb_str(&b, i == 0 ? "\n    {\n      \"name\": " : ",\n    {\n      \"name\": ");
        sb_json_string(&b, entries[i].name);
        snprintf(num, sizeof num, "%llu", (unsigned long long)entries[i].size);
        sb_str(&b, ",\n      \"size\": ");
        sb_str(&b, num);
        kvc_sha256_hex(entries[i].sha256, hex);
        sb_str(&b, ",\n      \"sha256\": \"");
        sb_str(&b, hex);
        sb_str(&b, "\"\n    }");
    }
    sb_str(&b, n > 0 ? "\n  ]\n}\n" : "]\n}\n");
    if (b.failed) {
        free(b.p);
        return kvc_error_set(err, KVC_NOMEM, "cannot format the manifest");
    }
    *text_out = b.p;
    if (len_out != NULL)
        *len_out = b.len;
    return KVC_OK;
}

kvc_status kvc_manifest_write_for_files(const char *dir, const char *const *names, size_t n,
                                        const char *out_path, kvc_error *err)
{
    if (out_path == NULL || (names == NULL && n > 0))
        return kvc_error_set(err, KVC_INVALID_ARGUMENT,
                             "kvc_manifest_write_for_files: NULL argument");
    kvc_manifest m = {NULL, 0};
    m.entries = calloc(n > 0 ? n : 1, sizeof *m.entries);
    kvc__hash_job *jobs = calloc(n > 0 ? n : 1, sizeof *jobs);
    kvc_verify_result *res = calloc(n > 0 ? n : 1, sizeof *res);
    kvc_status st = KVC_OK;
    if (m.entries == NULL || jobs == NULL || res == NULL)
        st = kvc_error_set(err, KVC_NOMEM, "cannot allocate %zu entries", n);
    for (size_t i = 0; st == KVC_OK && i < n; i++) {
        st = kvc_manifest_check_name(names[i], err);
        if (st != KVC_OK)
            break;
        m.entries[i].name = names[i];
        m.n = i + 1;
        char *path = kvc__join_path(dir, names[i]);
        if (path == NULL) {
            st = kvc_error_set(err, KVC_NOMEM, "cannot allocate a path");
            break;
        }
        jobs[i].path = path;
        jobs[i].result = &res[i];
        struct stat sb;
        jobs[i].expected_size = stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
    }
    if (st == KVC_OK) {
        kvc_manifest view = {m.entries, n};
        st = check_unique(&view, "(arguments)", err);
    }
    if (st == KVC_OK)
        st = kvc__hash_jobs(jobs, n, 0, NULL, NULL, NULL, NULL, err);
    for (size_t i = 0; st == KVC_OK && i < n; i++) {
        if (res[i].status != KVC_OK) {
            st = res[i].status;
            if (err != NULL)
                *err = res[i].error;
            break;
        }
        m.entries[i].size = res[i].size;
        memcpy(m.entries[i].sha256, res[i].sha256, KVC_SHA256_SIZE);
    }
    char *text = NULL;
    size_t len = 0;
    if (st == KVC_OK)
        st = kvc_manifest_format(m.entries, n, &text, &len, err);
    if (st == KVC_OK)
        st = kvc_atomic_write_file(out_path, text, len, err);
    free(text);
    for (size_t i = 0; jobs != NULL && i < n; i++)
        free((char *)jobs[i].path);
    free(jobs);
    free(res);
    free(m.entries); /* names are borrowed */
    return st;
}
