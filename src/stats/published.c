/* kvcert: reading report files — the published study's and kvcert's own
 * (published.h describes the shapes and the rules). */
#include "stats/published.h"
#include "stats/jsonpath.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/hd.h"
#include "stats/bits.h"

/* Total per-passage values one report may hold (a bound on memory that
 * the file-size limit already implies: each value costs a file several
 * bytes of key and number text). */
#define MAX_TOTAL_VALUES (16u << 20)
#define PATH_MAX_LEN 512

typedef struct rd {
    kvc_error *err;
    const char *file;
} rd;

static double quiet_nan(void)
{
    return kvc_f64_from_bits(UINT64_C(0x7FF8000000000000));
}

static int is_finite(double x)
{
    return (kvc_f64_bits(x) & UINT64_C(0x7FF0000000000000)) != UINT64_C(0x7FF0000000000000);
}

/* Records "PATH: detail" and the file. */
static kvc_status fail(rd *c, kvc_status st, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static kvc_status fail(rd *c, kvc_status st, const char *path, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    kvc_error_set(c->err, st, "%s: %s", path, msg);
    kvc_error_where(c->err, c->file, NULL, -1);
    return st;
}

/* ------------------------------------------------------------ JSON paths */

static int is_identifier(const char *k)
{
    if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') || *k == '_'))
        return 0;
    for (; *k; k++)
        if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') ||
              *k == '_'))
            return 0;
    return 1;
}

/* parent + ".key" or parent + "[\"key\"]" (quotes, backslashes and
 * control bytes escaped), truncated safely. Shared with report.c. */
const char *kvc__json_path_key(char *out, size_t size, const char *parent, const char *key)
{
    if (is_identifier(key)) {
        snprintf(out, size, "%s.%s", parent, key);
        return out;
    }
    size_t n = (size_t)snprintf(out, size, "%s[\"", parent);
    for (const unsigned char *p = (const unsigned char *)key; *p && n + 8 < size; p++) {
        if (*p == '"' || *p == '\\')
            n += (size_t)snprintf(out + n, size - n, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7F)
            n += (size_t)snprintf(out + n, size - n, "\\x%02X", *p);
        else
            out[n++] = (char)*p;
    }
    if (n + 3 <= size)
        memcpy(out + n, "\"]", 3);
    else
        out[size - 1] = '\0';
    return out;
}

static const char *path_index(char *out, size_t size, const char *parent, size_t i)
{
    snprintf(out, size, "%s[%zu]", parent, i);
    return out;
}

/* ------------------------------------------------------------ primitives */

static const char *json_type_name(const cJSON *n)
{
    if (n == NULL)
        return "absent";
    if (cJSON_IsObject(n))
        return "an object";
    if (cJSON_IsArray(n))
        return "an array";
    if (cJSON_IsString(n))
        return "a string";
    if (cJSON_IsNumber(n))
        return "a number";
    if (cJSON_IsBool(n))
        return "a boolean";
    if (cJSON_IsNull(n))
        return "null";
    return "an unknown value";
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* An object without duplicate keys (cJSON keeps duplicates, and the first
 * would silently win). Sorting the names keeps this O(n log n). */
static kvc_status expect_object(rd *c, const cJSON *n, const char *path)
{
    if (!cJSON_IsObject(n))
        return fail(c, KVC_REPORT_FORMAT, path, "expected an object, found %s",
                    json_type_name(n));
    size_t k = 0;
    for (const cJSON *ch = n->child; ch != NULL; ch = ch->next)
        k++;
    if (k < 2)
        return KVC_OK;
    const char **names = malloc(k * sizeof *names);
    if (names == NULL)
        return fail(c, KVC_NOMEM, path, "%zu keys", k);
    k = 0;
    for (const cJSON *ch = n->child; ch != NULL; ch = ch->next)
        names[k++] = ch->string;
    qsort(names, k, sizeof *names, compare_names);
    for (size_t i = 1; i < k; i++)
        if (strcmp(names[i - 1], names[i]) == 0) {
            char p[PATH_MAX_LEN];
            kvc__json_path_key(p, sizeof p, path, names[i]);
            free(names);
            return fail(c, KVC_REPORT_FORMAT, p, "duplicate key");
        }
    free(names);
    return KVC_OK;
}

static kvc_status expect_array(rd *c, const cJSON *n, const char *path)
{
    if (!cJSON_IsArray(n))
        return fail(c, KVC_REPORT_FORMAT, path, "expected an array, found %s",
                    json_type_name(n));
    return KVC_OK;
}

/* The member key of obj (case-sensitive); NULL when absent. */
static const cJSON *member(const cJSON *obj, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

static size_t count_children(const cJSON *n)
{
    size_t k = 0;
    for (const cJSON *ch = n != NULL ? n->child : NULL; ch != NULL; ch = ch->next)
        k++;
    return k;
}

/* A finite number. */
static kvc_status read_number(rd *c, const cJSON *n, const char *path, double *out)
{
    if (!cJSON_IsNumber(n))
        return fail(c, KVC_REPORT_FORMAT, path, "expected a number, found %s",
                    json_type_name(n));
    if (!is_finite(n->valuedouble))
        return fail(c, KVC_REPORT_FORMAT, path, "number out of the binary64 range");
    *out = n->valuedouble;
    return KVC_OK;
}

/* A number or null (NaN), as aggregate fields are. */
static kvc_status read_number_or_null(rd *c, const cJSON *n, const char *path, double *out)
{
    if (cJSON_IsNull(n)) {
        *out = quiet_nan();
        return KVC_OK;
    }
    return read_number(c, n, path, out);
}

/* An integer in [lo, hi] (hi <= 2^53 so every value is exact). */
static kvc_status read_int(rd *c, const cJSON *n, const char *path, int64_t lo, int64_t hi,
                           int64_t *out)
{
    double d;
    kvc_status st = read_number(c, n, path, &d);
    if (st != KVC_OK)
        return st;
    if (!(d >= (double)lo && d <= (double)hi) || (double)(int64_t)d != d)
        return fail(c, KVC_REPORT_FORMAT, path, "expected an integer in %lld..%lld, found %.17g",
                    (long long)lo, (long long)hi, d);
    *out = (int64_t)d;
    return KVC_OK;
}

/* A name: 1..KVC_REPORT_NAME_MAX-1 bytes, no control characters. */
static kvc_status read_name(rd *c, const char *s, const char *path, char out[KVC_REPORT_NAME_MAX])
{
    size_t n = strlen(s);
    if (n == 0 || n >= KVC_REPORT_NAME_MAX)
        return fail(c, KVC_REPORT_FORMAT, path, "name must have 1 to %d bytes, has %zu",
                    KVC_REPORT_NAME_MAX - 1, n);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7F)
            return fail(c, KVC_REPORT_FORMAT, path, "name contains a control character");
    memcpy(out, s, n + 1);
    return KVC_OK;
}

static kvc_status read_string_member(rd *c, const cJSON *obj, const char *path, const char *key,
                                     const char **out)
{
    char p[PATH_MAX_LEN];
    const cJSON *n = member(obj, key);
    if (!cJSON_IsString(n))
        return fail(c, KVC_REPORT_FORMAT, kvc__json_path_key(p, sizeof p, path, key),
                    "expected a string, found %s", json_type_name(n));
    *out = n->valuestring;
    return KVC_OK;
}

/* {"mean", "std", "ci95_hw", "n"} (+ optional "t_source"). */
static kvc_status read_agg(rd *c, const cJSON *n, const char *path, kvc_stats_agg *out)
{
    char p[PATH_MAX_LEN];
    kvc_status st = expect_object(c, n, path);
    if (st != KVC_OK)
        return st;
    memset(out, 0, sizeof *out);
    out->t = quiet_nan();
    static const char *const keys[3] = {"mean", "std", "ci95_hw"};
    double *dst[3] = {&out->mean, &out->std, &out->ci95_hw};
    for (int i = 0; i < 3; i++) {
        kvc__json_path_key(p, sizeof p, path, keys[i]);
        const cJSON *v = member(n, keys[i]);
        if (v == NULL)
            return fail(c, KVC_REPORT_FORMAT, p, "missing");
        st = read_number_or_null(c, v, p, dst[i]);
        if (st != KVC_OK)
            return st;
    }
    int64_t cnt;
    kvc__json_path_key(p, sizeof p, path, "n");
    if (member(n, "n") == NULL)
        return fail(c, KVC_REPORT_FORMAT, p, "missing");
    st = read_int(c, member(n, "n"), p, 0, INT64_C(1) << 53, &cnt);
    if (st != KVC_OK)
        return st;
    out->n = (uint64_t)cnt;
    const cJSON *ts = member(n, "t_source");
    out->t_source = KVC_T_PUBLISHED;
    if (ts != NULL && (!cJSON_IsString(ts) || kvc_t_source_parse(ts->valuestring, &out->t_source) != 0))
        return fail(c, KVC_REPORT_FORMAT, kvc__json_path_key(p, sizeof p, path, "t_source"),
                    "expected \"published-table\" or \"exact-student-t\"");
    return KVC_OK;
}

/* A Q key: decimal digits, no sign, no leading zero, 1..KVC_BITS_Q_MAX. */
static kvc_status read_q_key(rd *c, const char *k, const char *path, uint32_t *q)
{
    uint64_t v = 0;
    const char *s = k;
    if (*s < '1' || *s > '9')
        return fail(c, KVC_REPORT_FORMAT, path, "Q key must be a positive decimal integer");
    for (; *s >= '0' && *s <= '9'; s++) {
        v = v * 10u + (uint64_t)(*s - '0');
        if (v > KVC_BITS_Q_MAX)
            return fail(c, KVC_REPORT_FORMAT, path, "Q above %u", KVC_BITS_Q_MAX);
    }
    if (*s != '\0')
        return fail(c, KVC_REPORT_FORMAT, path, "Q key must be a positive decimal integer");
    *q = (uint32_t)v;
    return KVC_OK;
}

/* ------------------------------------------------------------ the file */

/* Well-formed UTF-8 (no overlongs, no surrogates, at most U+10FFFF).
 * Returns the offset of the first bad byte, or len. */
static size_t utf8_valid_prefix(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char b = s[i];
        size_t n;
        uint32_t cp, min;
        if (b < 0x80) {
            i++;
            continue;
        } else if ((b & 0xE0) == 0xC0) {
            n = 1, cp = b & 0x1Fu, min = 0x80;
        } else if ((b & 0xF0) == 0xE0) {
            n = 2, cp = b & 0x0Fu, min = 0x800;
        } else if ((b & 0xF8) == 0xF0) {
            n = 3, cp = b & 0x07u, min = 0x10000;
        } else {
            return i;
        }
        for (size_t k = 1; k <= n; k++) {
            if (i + k >= len || (s[i + k] & 0xC0) != 0x80)
                return i;
            cp = (cp << 6) | (s[i + k] & 0x3Fu);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += n + 1;
    }
    return len;
}

static kvc_status read_whole_file(rd *c, const char *path, char **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        kvc_error_set(c->err, KVC_OPEN, "%s", strerror(errno));
        kvc_error_where(c->err, path, NULL, -1);
        return KVC_OPEN;
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        kvc_error_set(c->err, KVC_IO, "not a regular file");
        kvc_error_where(c->err, path, NULL, -1);
        return KVC_IO;
    }
    if ((uint64_t)sb.st_size > KVC_REPORT_MAX_BYTES) {
        fclose(f);
        kvc_error_set(c->err, KVC_LIMIT, "report is %lld bytes, the limit is %u",
                      (long long)sb.st_size, KVC_REPORT_MAX_BYTES);
        kvc_error_where(c->err, path, NULL, -1);
        return KVC_LIMIT;
    }
    size_t size = (size_t)sb.st_size;
    char *b = malloc(size + 1);
    if (b == NULL) {
        fclose(f);
        return kvc_error_set(c->err, KVC_NOMEM, "%zu bytes for %s", size, path);
    }
    size_t got = fread(b, 1, size, f);
    int extra = fgetc(f); /* the file grew: refuse rather than truncate */
    int bad = ferror(f);
    fclose(f);
    if (bad || got != size || extra != EOF) {
        free(b);
        kvc_error_set(c->err, KVC_IO, "short or changing read");
        kvc_error_where(c->err, path, NULL, -1);
        return KVC_IO;
    }
    b[size] = '\0';
    *buf = b;
    *len = size;
    return KVC_OK;
}

/* ------------------------------------------------------------ per-passage */

static kvc_status alloc_values(rd *c, const char *path, size_t n, double **out)
{
    *out = calloc(n, sizeof **out);
    if (*out == NULL)
        return fail(c, KVC_NOMEM, path, "%zu values", n);
    return KVC_OK;
}

/* Passage 0 fixes the streams, their metrics and codecs. */
static kvc_status setup_streams(rd *c, kvc_report *r, const cJSON *results, const char *path)
{
    char p[PATH_MAX_LEN], q[PATH_MAX_LEN];
    kvc_status st = expect_array(c, results, path);
    if (st != KVC_OK)
        return st;
    size_t n = count_children(results);
    if (n == 0)
        return fail(c, KVC_REPORT_FORMAT, path, "no stream results");
    if (n > KVC_REPORT_MAX_STREAMS)
        return fail(c, KVC_LIMIT, path, "%zu streams, the limit is %u", n, KVC_REPORT_MAX_STREAMS);
    r->streams = calloc(n, sizeof *r->streams);
    if (r->streams == NULL)
        return fail(c, KVC_NOMEM, path, "streams");
    r->n_streams = n;
    size_t total = 0, i = 0;
    for (const cJSON *it = results->child; it != NULL; it = it->next, i++) {
        kvc_report_stream *s = &r->streams[i];
        path_index(p, sizeof p, path, i);
        if ((st = expect_object(c, it, p)) != KVC_OK)
            return st;
        const char *name;
        if ((st = read_string_member(c, it, p, "stream", &name)) != KVC_OK)
            return st;
        if ((st = read_name(c, name, kvc__json_path_key(q, sizeof q, p, "stream"), s->name)) != KVC_OK)
            return st;
        for (size_t k = 0; k < i; k++)
            if (strcmp(r->streams[k].name, s->name) == 0)
                return fail(c, KVC_REPORT_FORMAT, q, "stream \"%s\" appears twice", s->name);
        const cJSON *audit = member(it, "audit"), *codecs = member(it, "codecs");
        if ((st = expect_object(c, audit, kvc__json_path_key(q, sizeof q, p, "audit"))) != KVC_OK)
            return st;
        s->n_audit = count_children(audit);
        if (s->n_audit > KVC_REPORT_MAX_METRICS)
            return fail(c, KVC_LIMIT, q, "%zu metrics, the limit is %u", s->n_audit,
                        KVC_REPORT_MAX_METRICS);
        if ((st = expect_object(c, codecs, kvc__json_path_key(q, sizeof q, p, "codecs"))) != KVC_OK)
            return st;
        s->n_codecs = count_children(codecs);
        if (s->n_codecs == 0)
            return fail(c, KVC_REPORT_FORMAT, q, "no codecs");
        if (s->n_codecs > KVC_REPORT_MAX_CODECS)
            return fail(c, KVC_LIMIT, q, "%zu codecs, the limit is %u", s->n_codecs,
                        KVC_REPORT_MAX_CODECS);
        total += s->n_audit + 2 * s->n_codecs;
    }
    if (total > MAX_TOTAL_VALUES / r->n_passages)
        return fail(c, KVC_LIMIT, path, "%zu passages of %zu values exceed %u values",
                    r->n_passages, total, MAX_TOTAL_VALUES);
    i = 0;
    for (const cJSON *it = results->child; it != NULL; it = it->next, i++) {
        kvc_report_stream *s = &r->streams[i];
        path_index(p, sizeof p, path, i);
        s->audit = calloc(s->n_audit > 0 ? s->n_audit : 1, sizeof *s->audit);
        s->codecs = calloc(s->n_codecs, sizeof *s->codecs);
        if (s->audit == NULL || s->codecs == NULL)
            return fail(c, KVC_NOMEM, p, "stream tables");
        size_t k = 0;
        for (const cJSON *m = member(it, "audit")->child; m != NULL; m = m->next, k++) {
            kvc__json_path_key(q, sizeof q, p, "audit");
            char mp[PATH_MAX_LEN];
            if ((st = read_name(c, m->string, kvc__json_path_key(mp, sizeof mp, q, m->string),
                                s->audit[k].name)) != KVC_OK ||
                (st = alloc_values(c, mp, r->n_passages, &s->audit[k].v)) != KVC_OK)
                return st;
        }
        k = 0;
        for (const cJSON *m = member(it, "codecs")->child; m != NULL; m = m->next, k++) {
            kvc_report_codec *cd = &s->codecs[k];
            kvc__json_path_key(q, sizeof q, p, "codecs");
            char mp[PATH_MAX_LEN];
            kvc__json_path_key(mp, sizeof mp, q, m->string);
            if ((st = read_name(c, m->string, mp, cd->name)) != KVC_OK ||
                (st = alloc_values(c, mp, r->n_passages, &cd->rel_mse)) != KVC_OK ||
                (st = alloc_values(c, mp, r->n_passages, &cd->cos_sim)) != KVC_OK)
                return st;
            cd->bits_per_vector = -1;
        }
    }
    return KVC_OK;
}

static long find_stream(const kvc_report *r, const char *name)
{
    for (size_t i = 0; i < r->n_streams; i++)
        if (strcmp(r->streams[i].name, name) == 0)
            return (long)i;
    return -1;
}

static kvc_status fill_codec(rd *c, kvc_report_codec *cd, size_t p, const cJSON *obj,
                             const char *path)
{
    char q[PATH_MAX_LEN];
    kvc_status st = expect_object(c, obj, path);
    if (st != KVC_OK)
        return st;
    const cJSON *rm = member(obj, "rel_mse"), *cs = member(obj, "cos_sim");
    if ((st = read_number(c, rm, kvc__json_path_key(q, sizeof q, path, "rel_mse"), &cd->rel_mse[p])) != KVC_OK ||
        (st = read_number(c, cs, kvc__json_path_key(q, sizeof q, path, "cos_sim"), &cd->cos_sim[p])) != KVC_OK)
        return st;
    const cJSON *b = member(obj, "bits_per_vector");
    int64_t bits = -1;
    kvc__json_path_key(q, sizeof q, path, "bits_per_vector");
    if (b != NULL && (st = read_int(c, b, q, 0, INT64_C(1) << 53, &bits)) != KVC_OK)
        return st;
    if (p == 0)
        cd->bits_per_vector = bits;
    else if (bits != cd->bits_per_vector)
        return fail(c, KVC_REPORT_FORMAT, q, "%lld differs from passage 0's %lld",
                    (long long)bits, (long long)cd->bits_per_vector);
    return KVC_OK;
}

/* Passage p's results: the same streams, metrics and codecs as passage 0. */
static kvc_status fill_passage(rd *c, kvc_report *r, size_t p, const cJSON *results,
                               const char *path)
{
    char ip[PATH_MAX_LEN], q[PATH_MAX_LEN], mp[PATH_MAX_LEN];
    kvc_status st = expect_array(c, results, path);
    if (st != KVC_OK)
        return st;
    size_t n = count_children(results);
    if (n != r->n_streams)
        return fail(c, KVC_REPORT_FORMAT, path, "%zu stream results, passage 0 has %zu", n,
                    r->n_streams);
    unsigned char seen[KVC_REPORT_MAX_STREAMS] = {0};
    size_t i = 0;
    for (const cJSON *it = results->child; it != NULL; it = it->next, i++) {
        path_index(ip, sizeof ip, path, i);
        if ((st = expect_object(c, it, ip)) != KVC_OK)
            return st;
        const char *name;
        if ((st = read_string_member(c, it, ip, "stream", &name)) != KVC_OK)
            return st;
        long si = find_stream(r, name);
        kvc__json_path_key(q, sizeof q, ip, "stream");
        if (si < 0)
            return fail(c, KVC_REPORT_FORMAT, q, "stream \"%.63s\" is not in passage 0", name);
        if (seen[si]++)
            return fail(c, KVC_REPORT_FORMAT, q, "stream \"%s\" appears twice", name);
        kvc_report_stream *s = &r->streams[si];

        const cJSON *audit = member(it, "audit");
        if ((st = expect_object(c, audit, kvc__json_path_key(q, sizeof q, ip, "audit"))) != KVC_OK)
            return st;
        if (count_children(audit) != s->n_audit)
            return fail(c, KVC_REPORT_FORMAT, q, "%zu metrics, passage 0 has %zu",
                        count_children(audit), s->n_audit);
        for (const cJSON *m = audit->child; m != NULL; m = m->next) {
            kvc__json_path_key(mp, sizeof mp, q, m->string);
            size_t k = 0;
            while (k < s->n_audit && strcmp(s->audit[k].name, m->string) != 0)
                k++;
            if (k == s->n_audit)
                return fail(c, KVC_REPORT_FORMAT, mp, "metric is not in passage 0");
            if ((st = read_number(c, m, mp, &s->audit[k].v[p])) != KVC_OK)
                return st;
        }

        const cJSON *codecs = member(it, "codecs");
        if ((st = expect_object(c, codecs, kvc__json_path_key(q, sizeof q, ip, "codecs"))) != KVC_OK)
            return st;
        if (count_children(codecs) != s->n_codecs)
            return fail(c, KVC_REPORT_FORMAT, q, "%zu codecs, passage 0 has %zu",
                        count_children(codecs), s->n_codecs);
        for (const cJSON *m = codecs->child; m != NULL; m = m->next) {
            kvc__json_path_key(mp, sizeof mp, q, m->string);
            size_t k = 0;
            while (k < s->n_codecs && strcmp(s->codecs[k].name, m->string) != 0)
                k++;
            if (k == s->n_codecs)
                return fail(c, KVC_REPORT_FORMAT, mp, "codec is not in passage 0");
            if ((st = fill_codec(c, &s->codecs[k], p, m, mp)) != KVC_OK)
                return st;
        }
    }
    return KVC_OK;
}

static kvc_status load_passages(rd *c, kvc_report *r, const cJSON *pp, const char *path)
{
    char p[PATH_MAX_LEN], q[PATH_MAX_LEN];
    kvc_status st = expect_array(c, pp, path);
    if (st != KVC_OK)
        return st;
    size_t n = count_children(pp);
    if (n == 0)
        return fail(c, KVC_REPORT_FORMAT, path, "no passages");
    if (n > KVC_REPORT_MAX_PASSAGES)
        return fail(c, KVC_LIMIT, path, "%zu passages, the limit is %u", n,
                    KVC_REPORT_MAX_PASSAGES);
    r->n_passages = n;
    r->passage_id = calloc(n, sizeof *r->passage_id);
    if (r->passage_id == NULL)
        return fail(c, KVC_NOMEM, path, "passages");
    size_t i = 0;
    for (const cJSON *it = pp->child; it != NULL; it = it->next, i++) {
        path_index(p, sizeof p, path, i);
        if ((st = expect_object(c, it, p)) != KVC_OK)
            return st;
        const cJSON *id = member(it, "passage_id");
        r->passage_id[i] = -1;
        if (id != NULL && (st = read_int(c, id, kvc__json_path_key(q, sizeof q, p, "passage_id"), 0,
                                         INT64_C(1) << 53, &r->passage_id[i])) != KVC_OK)
            return st;
        const cJSON *results = member(it, "results");
        kvc__json_path_key(q, sizeof q, p, "results");
        if (i == 0 && (st = setup_streams(c, r, results, q)) != KVC_OK)
            return st;
        if ((st = fill_passage(c, r, i, results, q)) != KVC_OK)
            return st;
    }
    return KVC_OK;
}

static kvc_status load_single(rd *c, kvc_report *r, const cJSON *results, const char *path)
{
    r->n_passages = 1;
    r->passage_id = calloc(1, sizeof *r->passage_id);
    if (r->passage_id == NULL)
        return fail(c, KVC_NOMEM, path, "passages");
    r->passage_id[0] = -1;
    kvc_status st = setup_streams(c, r, results, path);
    if (st == KVC_OK)
        st = fill_passage(c, r, 0, results, path);
    return st;
}

/* ------------------------------------------------------------ Q-sweep */

static kvc_status load_qsweep_stream(rd *c, kvc_report_stream *s, const cJSON *obj,
                                     const char *path)
{
    char p[PATH_MAX_LEN], q[PATH_MAX_LEN];
    kvc_status st = expect_object(c, obj, path);
    if (st != KVC_OK)
        return st;
    kvc__json_path_key(p, sizeof p, path, "fp8_rel_mse");
    if (member(obj, "fp8_rel_mse") == NULL)
        return fail(c, KVC_REPORT_FORMAT, p, "missing");
    if ((st = read_agg(c, member(obj, "fp8_rel_mse"), p, &s->fp8)) != KVC_OK)
        return st;

    const cJSON *byq = member(obj, "e8_rel_mse_by_q");
    kvc__json_path_key(p, sizeof p, path, "e8_rel_mse_by_q");
    if ((st = expect_object(c, byq, p)) != KVC_OK)
        return st;
    s->n_q = count_children(byq);
    if (s->n_q == 0)
        return fail(c, KVC_REPORT_FORMAT, p, "no Q values");
    if (s->n_q > KVC_REPORT_MAX_Q)
        return fail(c, KVC_LIMIT, p, "%zu Q values, the limit is %u", s->n_q, KVC_REPORT_MAX_Q);
    s->q = calloc(s->n_q, sizeof *s->q);
    s->e8 = calloc(s->n_q, sizeof *s->e8);
    if (s->q == NULL || s->e8 == NULL)
        return fail(c, KVC_NOMEM, p, "Q table");
    size_t i = 0;
    for (const cJSON *it = byq->child; it != NULL; it = it->next, i++) {
        kvc__json_path_key(q, sizeof q, p, it->string);
        if ((st = read_q_key(c, it->string, q, &s->q[i])) != KVC_OK ||
            (st = read_agg(c, it, q, &s->e8[i])) != KVC_OK)
            return st;
    }

    const cJSON *audit = member(obj, "audit");
    if (audit != NULL) {
        kvc__json_path_key(p, sizeof p, path, "audit");
        if ((st = expect_object(c, audit, p)) != KVC_OK)
            return st;
        s->n_audit_agg = count_children(audit);
        if (s->n_audit_agg > KVC_REPORT_MAX_METRICS)
            return fail(c, KVC_LIMIT, p, "%zu metrics, the limit is %u", s->n_audit_agg,
                        KVC_REPORT_MAX_METRICS);
        s->audit_agg_names = calloc(s->n_audit_agg + 1, sizeof *s->audit_agg_names);
        s->audit_agg = calloc(s->n_audit_agg + 1, sizeof *s->audit_agg);
        if (s->audit_agg_names == NULL || s->audit_agg == NULL)
            return fail(c, KVC_NOMEM, p, "audit table");
        i = 0;
        for (const cJSON *it = audit->child; it != NULL; it = it->next, i++) {
            kvc__json_path_key(q, sizeof q, p, it->string);
            if ((st = read_name(c, it->string, q, s->audit_agg_names[i])) != KVC_OK ||
                (st = read_agg(c, it, q, &s->audit_agg[i])) != KVC_OK)
                return st;
        }
    }
    const cJSON *thr = member(obj, "thresholds");
    if (thr != NULL && (st = expect_object(c, thr, kvc__json_path_key(p, sizeof p, path, "thresholds"))) != KVC_OK)
        return st;
    return KVC_OK;
}

static kvc_status load_qsweep(rd *c, kvc_report *r, const cJSON *abs, const char *path)
{
    char p[PATH_MAX_LEN];
    kvc_status st = expect_object(c, abs, path);
    if (st != KVC_OK)
        return st;
    size_t n = count_children(abs);
    if (n == 0)
        return fail(c, KVC_REPORT_FORMAT, path, "no streams");
    if (n > KVC_REPORT_MAX_STREAMS)
        return fail(c, KVC_LIMIT, path, "%zu streams, the limit is %u", n, KVC_REPORT_MAX_STREAMS);
    r->streams = calloc(n, sizeof *r->streams);
    if (r->streams == NULL)
        return fail(c, KVC_NOMEM, path, "streams");
    r->n_streams = n;
    size_t i = 0;
    for (const cJSON *it = abs->child; it != NULL; it = it->next, i++) {
        kvc__json_path_key(p, sizeof p, path, it->string);
        if ((st = read_name(c, it->string, p, r->streams[i].name)) != KVC_OK ||
            (st = load_qsweep_stream(c, &r->streams[i], it, p)) != KVC_OK)
            return st;
    }
    return KVC_OK;
}

/* ------------------------------------------------------------ top level */

static kvc_status read_head_dim(rd *c, const cJSON *node, const char *path, uint32_t *d)
{
    int64_t v = 0;
    kvc_status st = read_int(c, node, path, 64, KVC_BITS_D_MAX, &v);
    if (st != KVC_OK)
        return st;
    if (v % 64 != 0)
        return fail(c, KVC_REPORT_FORMAT, path, "head dimension %lld is not a multiple of 64",
                    (long long)v);
    *d = (uint32_t)v;
    return KVC_OK;
}

static kvc_status load_config(rd *c, kvc_report *r, const cJSON *root)
{
    r->head_dim = KVC_REPORT_DEFAULT_HEAD_DIM;
    const cJSON *cfg = member(root, "config");
    if (cfg == NULL)
        return KVC_OK;
    kvc_status st = expect_object(c, cfg, "$.config");
    if (st != KVC_OK)
        return st;
    const cJSON *hd = member(cfg, "head_dim");
    if (hd != NULL)
        return read_head_dim(c, hd, "$.config.head_dim", &r->head_dim);
    const cJSON *ds = member(cfg, "dsv4_config");
    if (ds != NULL) {
        if ((st = expect_object(c, ds, "$.config.dsv4_config")) != KVC_OK)
            return st;
        hd = member(ds, "head_dim");
        if (hd != NULL)
            return read_head_dim(c, hd, "$.config.dsv4_config.head_dim", &r->head_dim);
    }
    return KVC_OK;
}

static kvc_status load_aggregate_options(rd *c, kvc_report *r, const cJSON *root)
{
    const cJSON *o = member(root, "aggregate_options");
    if (o == NULL)
        return KVC_OK;
    kvc_status st = expect_object(c, o, "$.aggregate_options");
    if (st != KVC_OK)
        return st;
    const cJSON *ts = member(o, "t_source");
    if (ts != NULL) {
        if (!cJSON_IsString(ts) || kvc_t_source_parse(ts->valuestring, &r->t_source) != 0)
            return fail(c, KVC_REPORT_FORMAT, "$.aggregate_options.t_source",
                        "expected \"published-table\" or \"exact-student-t\"");
        r->has_t_source = 1;
    }
    const cJSON *sm = member(o, "summation");
    if (sm != NULL && (!cJSON_IsString(sm) || strcmp(sm->valuestring, "correctly-rounded") != 0))
        return fail(c, KVC_REPORT_FORMAT, "$.aggregate_options.summation",
                    "only \"correctly-rounded\" is defined");
    const cJSON *ly = member(o, "layers");
    if (ly != NULL) {
        if ((st = expect_object(c, ly, "$.aggregate_options.layers")) != KVC_OK)
            return st;
        for (int role = 0; role < KVC_ROLE_COUNT; role++) {
            char p[PATH_MAX_LEN];
            kvc__json_path_key(p, sizeof p, "$.aggregate_options.layers", kvc_stats_role_name(role));
            const cJSON *w = member(ly, kvc_stats_role_name(role));
            if (w == NULL)
                return fail(c, KVC_REPORT_FORMAT, p, "missing");
            if ((st = read_number(c, w, p, &r->layers[role])) != KVC_OK)
                return st;
            if (r->layers[role] < 0.0)
                return fail(c, KVC_REPORT_FORMAT, p, "negative layer count");
        }
        if (!(r->layers[0] + r->layers[1] + r->layers[2] > 0.0))
            return fail(c, KVC_REPORT_FORMAT, "$.aggregate_options.layers", "all zero");
        r->has_layers = 1;
    }
    return KVC_OK;
}

/* Is this published aggregate_by_stream a Q-sweep (aggregates only)? */
static int looks_like_qsweep(const cJSON *root)
{
    if (member(root, "bits_per_vec_by_q") != NULL)
        return 1;
    const cJSON *abs = member(root, "aggregate_by_stream");
    if (!cJSON_IsObject(abs) || abs->child == NULL)
        return 0;
    return member(abs->child, "e8_rel_mse_by_q") != NULL;
}

static kvc_status load_document(rd *c, kvc_report *r, const cJSON *root)
{
    kvc_status st = expect_object(c, root, "$");
    if (st != KVC_OK)
        return st;
    if ((st = load_config(c, r, root)) != KVC_OK ||
        (st = load_aggregate_options(c, r, root)) != KVC_OK)
        return st;
    const cJSON *schema = member(root, "schema");
    if (schema != NULL) {
        if (!cJSON_IsString(schema))
            return fail(c, KVC_REPORT_FORMAT, "$.schema", "expected a string");
        if (strcmp(schema->valuestring, KVC_REPORT_SCHEMA) != 0)
            return fail(c, KVC_REPORT_FORMAT, "$.schema",
                        "unsupported schema \"%.64s\" (this kvcert reads \"%s\")",
                        schema->valuestring, KVC_REPORT_SCHEMA);
        r->origin = KVC_ORIGIN_KVCERT;
        const char *kind;
        if ((st = read_string_member(c, root, "$", "kind", &kind)) != KVC_OK)
            return st;
        if (strcmp(kind, "per-passage") == 0) {
            r->kind = KVC_REPORT_PER_PASSAGE;
            return load_passages(c, r, member(root, "per_passage"), "$.per_passage");
        }
        if (strcmp(kind, "q-sweep") == 0) {
            r->kind = KVC_REPORT_QSWEEP;
            r->n_passages = 0;
            return load_qsweep(c, r, member(root, "aggregate_by_stream"), "$.aggregate_by_stream");
        }
        return fail(c, KVC_REPORT_FORMAT, "$.kind", "expected \"per-passage\" or \"q-sweep\"");
    }
    if (member(root, "per_passage") != NULL) {
        r->origin = KVC_ORIGIN_PUBLISHED_PASSAGES;
        r->kind = KVC_REPORT_PER_PASSAGE;
        return load_passages(c, r, member(root, "per_passage"), "$.per_passage");
    }
    if (member(root, "results_by_stream") != NULL) {
        r->origin = KVC_ORIGIN_PUBLISHED_SINGLE;
        r->kind = KVC_REPORT_PER_PASSAGE;
        return load_single(c, r, member(root, "results_by_stream"), "$.results_by_stream");
    }
    if (looks_like_qsweep(root)) {
        r->origin = KVC_ORIGIN_PUBLISHED_QSWEEP;
        r->kind = KVC_REPORT_QSWEEP;
        return load_qsweep(c, r, member(root, "aggregate_by_stream"), "$.aggregate_by_stream");
    }
    return fail(c, KVC_REPORT_FORMAT, "$",
                "not a report: expected \"schema\", \"per_passage\", \"results_by_stream\" "
                "or a Q-sweep \"aggregate_by_stream\"");
}

kvc_status kvc_report_parse(const char *text, size_t len, const char *name, kvc_report **out,
                            kvc_error *err)
{
    rd c = {err, name != NULL ? name : "<memory>"};
    *out = NULL;
    if (len > KVC_REPORT_MAX_BYTES)
        return fail(&c, KVC_LIMIT, "$", "report is %zu bytes, the limit is %u", len,
                    KVC_REPORT_MAX_BYTES);
    const void *nul = memchr(text, '\0', len);
    if (nul != NULL) {
        kvc_error_set(err, KVC_REPORT_FORMAT, "a NUL byte inside the text");
        kvc_error_where(err, c.file, NULL, (int64_t)((const char *)nul - text));
        return KVC_REPORT_FORMAT;
    }
    size_t good = utf8_valid_prefix((const unsigned char *)text, len);
    if (good != len) {
        kvc_error_set(err, KVC_REPORT_FORMAT, "not valid UTF-8");
        kvc_error_where(err, c.file, NULL, (int64_t)good);
        return KVC_REPORT_FORMAT;
    }
    /* cJSON wants a NUL-terminated buffer to reject trailing bytes. */
    char *copy = malloc(len + 1);
    if (copy == NULL)
        return kvc_error_set(err, KVC_NOMEM, "%zu bytes", len);
    memcpy(copy, text, len);
    copy[len] = '\0';
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(copy, len + 1, &end, 1);
    if (root == NULL) {
        int64_t off = end != NULL && end >= copy && end <= copy + len ? (int64_t)(end - copy) : -1;
        free(copy);
        kvc_error_set(err, KVC_REPORT_FORMAT, "not valid JSON");
        kvc_error_where(err, c.file, NULL, off);
        return KVC_REPORT_FORMAT;
    }
    free(copy);
    kvc_report *r = calloc(1, sizeof *r);
    if (r == NULL) {
        cJSON_Delete(root);
        return kvc_error_set(err, KVC_NOMEM, "report");
    }
    r->json = root;
    snprintf(r->path, sizeof r->path, "%s", c.file);
    kvc_status st = load_document(&c, r, root);
    if (st != KVC_OK) {
        kvc_report_destroy(r);
        return st;
    }
    *out = r;
    return KVC_OK;
}

kvc_status kvc_report_load(const char *path, kvc_report **out, kvc_error *err)
{
    rd c = {err, path};
    char *buf = NULL;
    size_t len = 0;
    *out = NULL;
    kvc_status st = read_whole_file(&c, path, &buf, &len);
    if (st != KVC_OK)
        return st;
    st = kvc_report_parse(buf, len, path, out, err);
    free(buf);
    return st;
}

void kvc_report_destroy(kvc_report *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n_streams; i++) {
        kvc_report_stream *s = &r->streams[i];
        if (s->audit != NULL)
            for (size_t k = 0; k < s->n_audit; k++)
                free(s->audit[k].v);
        if (s->codecs != NULL)
            for (size_t k = 0; k < s->n_codecs; k++) {
                free(s->codecs[k].rel_mse);
                free(s->codecs[k].cos_sim);
            }
        free(s->audit);
        free(s->codecs);
        free(s->q);
        free(s->e8);
        free(s->audit_agg_names);
        free(s->audit_agg);
    }
    free(r->streams);
    free(r->passage_id);
    cJSON_Delete((cJSON *)r->json);
    free(r);
}

const char *kvc_report_origin_name(const kvc_report *r)
{
    switch (r->origin) {
    case KVC_ORIGIN_KVCERT:
        return r->kind == KVC_REPORT_QSWEEP ? "kvcert-report/1 q-sweep"
                                            : "kvcert-report/1 per-passage";
    case KVC_ORIGIN_PUBLISHED_PASSAGES:
        return "published per-passage results";
    case KVC_ORIGIN_PUBLISHED_SINGLE:
        return "published single run";
    case KVC_ORIGIN_PUBLISHED_QSWEEP:
        return "published Q-sweep aggregates";
    }
    return "?";
}
