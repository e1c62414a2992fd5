/* kvcert: safetensors reader and writer (SPEC.md section 1.1).
 *
 * Reader: the file is mapped read-only; the header is checked in the
 * order of SPEC 1.1 (length field, UTF-8, JSON, object, duplicate keys,
 * each entry, then the layout of the data buffer) and every rule that
 * fails has its own status. The parsed entries are copied into one
 * allocation (views + one string arena); the cJSON tree is freed before
 * kvc_st_open returns.
 *
 * Writer: tensors sorted by name, the header written by hand (integers
 * with %llu, never through a double), padded with spaces to a multiple
 * of 8, written through src/io/atomic.h.
 */
#include "io/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/atomic.h"
#include "io/utf8.h"

/* Largest integer a JSON number may carry in a header. cJSON reads numbers
 * as binary64; every integer literal below 2^53 is exact, and any literal
 * at or above 2^53 rounds to at least 2^53, so the bound is exact too. */
#define KVC__ST_MAX_INT 9007199254740991.0 /* 2^53 - 1 */

/* The shortest valid tensor entry, `"":{"dtype":"U8","shape":[],
 * "data_offsets":[0,0]}`, is 49 bytes, and entries are separated by a comma
 * inside the two braces: k valid tensors need a header of at least
 * 50 k + 1 bytes, so a header of N bytes holds at most N / 50 of them.
 * The tensor table is allocated with that bound, never more. */
#define KVC__ST_MIN_ENTRY_BYTES 50

/* ------------------------------------------------------------ dtypes */

static const struct {
    const char *name;
    size_t size;
} dtype_table[KVC_DT_COUNT] = {
    [KVC_DT_F8_E4M3] = {"F8_E4M3", 1}, [KVC_DT_F8_E8M0] = {"F8_E8M0", 1},
    [KVC_DT_BF16] = {"BF16", 2},       [KVC_DT_F16] = {"F16", 2},
    [KVC_DT_F32] = {"F32", 4},         [KVC_DT_F64] = {"F64", 8},
    [KVC_DT_F8_E5M2] = {"F8_E5M2", 1}, [KVC_DT_BOOL] = {"BOOL", 1},
    [KVC_DT_U8] = {"U8", 1},           [KVC_DT_I8] = {"I8", 1},
    [KVC_DT_I16] = {"I16", 2},         [KVC_DT_U16] = {"U16", 2},
    [KVC_DT_I32] = {"I32", 4},         [KVC_DT_U32] = {"U32", 4},
    [KVC_DT_I64] = {"I64", 8},         [KVC_DT_U64] = {"U64", 8},
};

const char *kvc_dtype_name(kvc_dtype dt)
{
    return (int)dt >= 0 && dt < KVC_DT_COUNT ? dtype_table[dt].name : NULL;
}

size_t kvc_dtype_size(kvc_dtype dt)
{
    return (int)dt >= 0 && dt < KVC_DT_COUNT ? dtype_table[dt].size : 0;
}

int kvc_dtype_from_name(const char *name)
{
    if (name == NULL)
        return -1;
    for (int i = 0; i < (int)KVC_DT_COUNT; i++)
        if (strcmp(dtype_table[i].name, name) == 0)
            return i;
    return -1;
}

/* ------------------------------------------------------------ helpers */

/* Clears err and records one complete error: status, where, detail. */
__attribute__((format(printf, 6, 7))) static kvc_status
st_fail(kvc_error *err, kvc_status st, const char *file, const char *tensor, int64_t offset,
        const char *fmt, ...)
{
    char detail[sizeof err->detail];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    kvc_error_clear(err);
    kvc_error_set(err, st, "%s", detail);
    kvc_error_where(err, file, tensor, offset);
    return st;
}

/* Table 3-7 of the Unicode standard: the lead byte fixes the length and
 * the range of the second byte; later bytes are plain continuations. */
size_t kvc__utf8_invalid_at(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len;
        unsigned lo = 0x80, hi = 0xBF; /* range of the second byte */
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            if (c == 0xE0)
                lo = 0xA0; /* overlong below U+0800 */
            else if (c == 0xED)
                hi = 0x9F; /* surrogates U+D800..U+DFFF */
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            if (c == 0xF0)
                lo = 0x90; /* overlong below U+10000 */
            else if (c == 0xF4)
                hi = 0x8F; /* above U+10FFFF */
        } else {
            return i; /* continuation byte, C0/C1 (overlong) or F5..FF */
        }
        if (n - i < len || s[i + 1] < lo || s[i + 1] > hi)
            return i;
        for (size_t k = 2; k < len; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xBF)
                return i;
        i += len;
    }
    return n;
}

static int is_json_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Length of the JSON number at s (RFC 8259 grammar), 0 when malformed. */
static size_t json_number_len(const unsigned char *s, size_t n)
{
    size_t i = 0;
    if (i < n && s[i] == '-')
        i++;
    if (i < n && s[i] == '0')
        i++;
    else if (i < n && is_digit(s[i]))
        while (i < n && is_digit(s[i]))
            i++;
    else
        return 0;
    if (i < n && s[i] == '.') {
        if (++i >= n || !is_digit(s[i]))
            return 0;
        while (i < n && is_digit(s[i]))
            i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        if (++i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= n || !is_digit(s[i]))
            return 0;
        while (i < n && is_digit(s[i]))
            i++;
    }
    return i;
}

/* cJSON accepts a little more than JSON: raw control bytes (as whitespace
 * and inside strings), a byte-order mark, numbers such as "01", "1." or
 * "+1" in places, and "\u0000" or malformed \u escapes (which it turns into
 * a NUL that would silently cut a tensor name). This pass, run over a
 * header cJSON has already accepted, rejects all of that and anything
 * but whitespace after the value. Returns n when clean, else the index of
 * the offending byte and a reason. */
static size_t json_strict_check(const unsigned char *s, size_t n, size_t value_end,
                                const char **why)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (i >= value_end) {
            if (!is_json_space(c)) {
                *why = "content after the JSON value";
                return i;
            }
            i++;
        } else if (c == '"') {
            for (i++; i < value_end && s[i] != '"'; i++) {
                if (s[i] < 0x20) {
                    *why = "unescaped control character in a string";
                    return i;
                }
                if (s[i] != '\\')
                    continue;
                unsigned char e = s[i + 1]; /* cJSON checked a closing quote follows */
                if (e == 'u') {
                    if (value_end - i < 6 || !is_hex(s[i + 2]) || !is_hex(s[i + 3]) ||
                        !is_hex(s[i + 4]) || !is_hex(s[i + 5])) {
                        *why = "malformed \\u escape";
                        return i;
                    }
                    if (memcmp(s + i + 2, "0000", 4) == 0) {
                        *why = "\\u0000 (NUL) in a string";
                        return i;
                    }
                    i += 5;
                } else if (strchr("\"\\/bfnrt", e) != NULL && e != '\0') {
                    i++;
                } else {
                    *why = "invalid escape in a string";
                    return i;
                }
            }
            i++; /* the closing quote */
        } else if (c == '-' || is_digit(c)) {
            size_t len = json_number_len(s + i, value_end - i);
            if (len == 0 || (i + len < value_end && (s[i + len] == '.' || s[i + len] == '+' ||
                                                     s[i + len] == '-' || s[i + len] == 'e' ||
                                                     s[i + len] == 'E' || is_digit(s[i + len])))) {
                *why = "malformed number";
                return i;
            }
            i += len;
        } else if (c < 0x20 && !is_json_space(c)) {
            *why = "control character outside a string";
            return i;
        } else if (c >= 0x80) {
            *why = "non-ASCII byte outside a string";
            return i;
        } else {
            i++;
        }
    }
    return n;
}

static uint64_t load_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorts the names (n log n) and returns the first one that repeats. */
static const char *first_duplicate(const char **names, size_t n)
{
    qsort(names, n, sizeof *names, cmp_str_ptr);
    for (size_t i = 1; i < n; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            return names[i];
    return NULL;
}

/* A JSON number that is an integer in [0, 2^53 - 1]. */
static int json_uint(const cJSON *x, uint64_t *out)
{
    if (!cJSON_IsNumber(x))
        return 0;
    double d = x->valuedouble;
    if (!(d >= 0.0 && d <= KVC__ST_MAX_INT) || d != (double)(uint64_t)d)
        return 0;
    *out = (uint64_t)d;
    return 1;
}

/* Describes a JSON value that failed json_uint, for messages. */
static const char *json_describe(const cJSON *x, char *buf, size_t size)
{
    if (cJSON_IsNumber(x))
        snprintf(buf, size, "%.17g", x->valuedouble);
    else
        snprintf(buf, size, "a %s", cJSON_IsString(x)   ? "string"
                                    : cJSON_IsArray(x)  ? "array"
                                    : cJSON_IsObject(x) ? "object"
                                    : cJSON_IsBool(x)   ? "boolean"
                                                        : "null");
    return buf;
}

static void format_shape(char *buf, size_t size, int ndim, const int64_t *shape)
{
    size_t n = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (n < size)
        snprintf(buf + n, size - n, "]");
}

/* ------------------------------------------------------------ reader */

struct kvc_st_file {
    char *path;
    const unsigned char *map; /* NULL when nothing was mapped */
    size_t map_size;
    uint64_t file_size;
    uint64_t header_size;
    size_t count;
    kvc_tensor_view *tensors;        /* data-offset order */
    const kvc_tensor_view **by_name; /* strcmp order, for kvc_st_find */
    size_t nmeta;
    const char **meta; /* key, value, key, value ... in file order */
    char *strings;     /* arena holding every name, key and value */
};

/* The entries of a header while it is parsed: views whose strings still
 * point into the cJSON tree. */
typedef struct st_parse {
    kvc_st_file *f;
    const char *path;
    uint64_t data_start; /* 8 + N */
    size_t strings_size; /* bytes the arena will need */
} st_parse;

static kvc_status parse_metadata(st_parse *p, const cJSON *m, kvc_error *err)
{
    const char *path = p->path;
    if (!cJSON_IsObject(m))
        return st_fail(err, KVC_ST_BAD_METADATA, path, "__metadata__", -1,
                       "__metadata__ is not an object");
    size_t n = 0;
    for (const cJSON *c = m->child; c != NULL; c = c->next) {
        if (!cJSON_IsString(c))
            return st_fail(err, KVC_ST_BAD_METADATA, path, "__metadata__", -1,
                           "value of key '%s' is not a string", c->string);
        n++;
    }
    /* Each pair takes at least 6 header bytes ("":"",), so n is bounded. */
    p->f->meta = calloc(2 * n + 1, sizeof *p->f->meta);
    if (p->f->meta == NULL)
        return st_fail(err, KVC_NOMEM, path, NULL, -1, "metadata of %zu entries", n);
    const char **keys = p->f->meta + n; /* scratch: the upper half, n slots */
    size_t i = 0;
    for (const cJSON *c = m->child; c != NULL; c = c->next, i++)
        keys[i] = c->string;
    const char *dup = first_duplicate(keys, n);
    if (dup != NULL)
        return st_fail(err, KVC_ST_DUPLICATE_KEY, path, "__metadata__", -1,
                       "metadata key '%s' appears more than once", dup);
    i = 0;
    for (const cJSON *c = m->child; c != NULL; c = c->next, i++) {
        p->f->meta[2 * i] = c->string;
        p->f->meta[2 * i + 1] = c->valuestring;
        p->strings_size += strlen(c->string) + strlen(c->valuestring) + 2;
    }
    p->f->nmeta = n;
    return KVC_OK;
}

static kvc_status parse_shape(st_parse *p, const char *name, const cJSON *shape,
                              kvc_tensor_view *v, kvc_error *err)
{
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > KVC_ST_MAX_DIMS)
        return st_fail(err, KVC_ST_BAD_SHAPE, p->path, name, -1,
                       "%d dimensions; at most %d are supported", ndim, KVC_ST_MAX_DIMS);
    uint64_t numel = 1;
    int overflow = 0;
    v->ndim = 0;
    for (const cJSON *d = shape->child; d != NULL; d = d->next) {
        uint64_t dim;
        char buf[64];
        if (!json_uint(d, &dim))
            return st_fail(err, KVC_ST_BAD_SHAPE, p->path, name, -1,
                           "dimension %d is %s, not an integer in [0, 2^53 - 1]", v->ndim,
                           json_describe(d, buf, sizeof buf));
        v->shape[v->ndim++] = (int64_t)dim;
        overflow |= __builtin_mul_overflow(numel, dim, &numel);
    }
    overflow |= __builtin_mul_overflow(numel, (uint64_t)kvc_dtype_size(v->dtype), &v->nbytes);
    if (overflow) {
        char sbuf[256];
        format_shape(sbuf, sizeof sbuf, v->ndim, v->shape);
        return st_fail(err, KVC_ST_SHAPE_OVERFLOW, p->path, name, -1,
                       "%s elements x %zu bytes overflows 64 bits", sbuf,
                       kvc_dtype_size(v->dtype));
    }
    v->numel = numel;
    return KVC_OK;
}

static kvc_status parse_offsets(st_parse *p, const char *name, const cJSON *offs,
                                kvc_tensor_view *v, kvc_error *err)
{
    uint64_t b = 0, e = 0;
    if (cJSON_GetArraySize(offs) != 2)
        return st_fail(err, KVC_ST_BAD_OFFSETS, p->path, name, -1,
                       "data_offsets has %d elements, expected 2", cJSON_GetArraySize(offs));
    char buf[64];
    if (!json_uint(offs->child, &b))
        return st_fail(err, KVC_ST_BAD_OFFSETS, p->path, name, -1,
                       "begin is %s, not an integer in [0, 2^53 - 1]",
                       json_describe(offs->child, buf, sizeof buf));
    if (!json_uint(offs->child->next, &e))
        return st_fail(err, KVC_ST_BAD_OFFSETS, p->path, name, -1,
                       "end is %s, not an integer in [0, 2^53 - 1]",
                       json_describe(offs->child->next, buf, sizeof buf));
    if (b > e)
        return st_fail(err, KVC_ST_BAD_OFFSETS, p->path, name, -1,
                       "begin %llu is after end %llu", (unsigned long long)b,
                       (unsigned long long)e);
    v->file_offset = p->data_start + b;
    if (e - b != v->nbytes) {
        char sbuf[256];
        format_shape(sbuf, sizeof sbuf, v->ndim, v->shape);
        return st_fail(err, KVC_ST_SIZE_MISMATCH, p->path, name, (int64_t)v->file_offset,
                       "data_offsets [%llu, %llu) span %llu bytes; %s %s needs %llu",
                       (unsigned long long)b, (unsigned long long)e,
                       (unsigned long long)(e - b), kvc_dtype_name(v->dtype), sbuf,
                       (unsigned long long)v->nbytes);
    }
    return KVC_OK;
}

static kvc_status parse_entry(st_parse *p, const cJSON *e, kvc_tensor_view *v, kvc_error *err)
{
    const char *name = e->string;
    if (!cJSON_IsObject(e))
        return st_fail(err, KVC_ST_BAD_ENTRY, p->path, name, -1, "entry is not an object");
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (cJSON_GetArraySize(e) != 3 || dtype == NULL || shape == NULL || offs == NULL)
        return st_fail(err, KVC_ST_BAD_ENTRY, p->path, name, -1,
                       "entry must have exactly the keys dtype, shape and data_offsets");
    if (!cJSON_IsString(dtype) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs))
        return st_fail(err, KVC_ST_BAD_ENTRY, p->path, name, -1,
                       "dtype must be a string, shape and data_offsets arrays");
    int dt = kvc_dtype_from_name(dtype->valuestring);
    if (dt < 0)
        return st_fail(err, KVC_ST_UNKNOWN_DTYPE, p->path, name, -1, "dtype '%s'",
                       dtype->valuestring);
    memset(v, 0, sizeof *v);
    v->name = name;
    v->dtype = (kvc_dtype)dt;
    kvc_status st = parse_shape(p, name, shape, v, err);
    if (st == KVC_OK)
        st = parse_offsets(p, name, offs, v, err);
    p->strings_size += strlen(name) + 1;
    return st;
}

static int cmp_view_offset(const void *a, const void *b)
{
    const kvc_tensor_view *x = a, *y = b;
    if (x->file_offset != y->file_offset)
        return x->file_offset < y->file_offset ? -1 : 1;
    if (x->nbytes != y->nbytes)
        return x->nbytes < y->nbytes ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int cmp_view_name(const void *a, const void *b)
{
    return strcmp((*(const kvc_tensor_view *const *)a)->name,
                  (*(const kvc_tensor_view *const *)b)->name);
}

/* Tensors sorted by offset must tile [0, end) exactly, and the file must
 * end where the last one does. */
static kvc_status check_layout(st_parse *p, kvc_error *err)
{
    kvc_st_file *f = p->f;
    qsort(f->tensors, f->count, sizeof *f->tensors, cmp_view_offset);
    uint64_t pos = p->data_start; /* absolute: where the next tensor must begin */
    const char *prev = NULL;
    for (size_t i = 0; i < f->count; i++) {
        const kvc_tensor_view *v = &f->tensors[i];
        if (v->file_offset > pos)
            return st_fail(err, KVC_ST_GAP, p->path, v->name, (int64_t)pos,
                           "%llu bytes before this tensor belong to no tensor "
                           "(data bytes [%llu, %llu)%s%s)",
                           (unsigned long long)(v->file_offset - pos),
                           (unsigned long long)(pos - p->data_start),
                           (unsigned long long)(v->file_offset - p->data_start),
                           prev ? ", after " : "", prev ? prev : "");
        if (v->file_offset < pos)
            return st_fail(err, KVC_ST_OVERLAP, p->path, v->name, (int64_t)v->file_offset,
                           "starts at data byte %llu, inside '%s' which ends at %llu",
                           (unsigned long long)(v->file_offset - p->data_start), prev,
                           (unsigned long long)(pos - p->data_start));
        pos += v->nbytes;
        prev = v->name;
    }
    if (pos < f->file_size)
        return st_fail(err, KVC_ST_TRAILING_BYTES, p->path, NULL, (int64_t)pos,
                       "file is %llu bytes but its tensors end at %llu (%llu bytes follow)",
                       (unsigned long long)f->file_size, (unsigned long long)pos,
                       (unsigned long long)(f->file_size - pos));
    if (pos > f->file_size)
        return st_fail(err, KVC_ST_TRUNCATED, p->path, NULL, (int64_t)f->file_size,
                       "file is %llu bytes but its tensors end at %llu (%llu bytes missing)",
                       (unsigned long long)f->file_size, (unsigned long long)pos,
                       (unsigned long long)(pos - f->file_size));
    return KVC_OK;
}

/* Copies names and metadata out of the cJSON tree into one arena, points
 * the views at the mapping, and builds the name index. */
static kvc_status finish(st_parse *p, kvc_error *err)
{
    kvc_st_file *f = p->f;
    f->strings = malloc(p->strings_size + 1);
    f->by_name = calloc(f->count + 1, sizeof *f->by_name);
    if (f->strings == NULL || f->by_name == NULL)
        return st_fail(err, KVC_NOMEM, p->path, NULL, -1, "%zu tensors", f->count);
    char *s = f->strings;
    for (size_t i = 0; i < f->count; i++) {
        size_t len = strlen(f->tensors[i].name) + 1;
        memcpy(s, f->tensors[i].name, len);
        f->tensors[i].name = s;
        f->tensors[i].data = f->map + f->tensors[i].file_offset;
        f->by_name[i] = &f->tensors[i];
        s += len;
    }
    for (size_t i = 0; i < 2 * f->nmeta; i++) {
        size_t len = strlen(f->meta[i]) + 1;
        memcpy(s, f->meta[i], len);
        f->meta[i] = s;
        s += len;
    }
    qsort(f->by_name, f->count, sizeof *f->by_name, cmp_view_name);
    return KVC_OK;
}

static kvc_status parse_object(st_parse *p, const cJSON *root, kvc_error *err)
{
    kvc_st_file *f = p->f;
    size_t members = 0;
    for (const cJSON *c = root->child; c != NULL; c = c->next)
        members++;
    /* Each member takes at least 4 bytes ("":0), so members < N and the
     * key list is bounded by the header size; the tensor table by N / 50. */
    size_t cap = (size_t)(f->header_size / KVC__ST_MIN_ENTRY_BYTES) + 1;
    if (cap > members)
        cap = members;
    const char **keys = calloc(members + 1, sizeof *keys);
    f->tensors = calloc(cap + 1, sizeof *f->tensors);
    if (keys == NULL || f->tensors == NULL) {
        free(keys);
        return st_fail(err, KVC_NOMEM, p->path, NULL, -1, "%zu entries", members);
    }
    size_t i = 0;
    for (const cJSON *c = root->child; c != NULL; c = c->next)
        keys[i++] = c->string;
    const char *dup = first_duplicate(keys, members);
    kvc_status st = KVC_OK;
    if (dup != NULL)
        st = st_fail(err, KVC_ST_DUPLICATE_KEY, p->path, dup, -1,
                     "key '%s' appears more than once", dup);
    free(keys);
    for (const cJSON *c = root->child; c != NULL && st == KVC_OK; c = c->next) {
        if (strcmp(c->string, "__metadata__") == 0)
            st = parse_metadata(p, c, err);
        else if (f->count == cap) /* cannot happen: see KVC__ST_MIN_ENTRY_BYTES */
            st = st_fail(err, KVC_LIMIT, p->path, c->string, -1,
                         "more than %zu tensors in a header of %llu bytes", cap,
                         (unsigned long long)f->header_size);
        else
            st = parse_entry(p, c, &f->tensors[f->count++], err);
    }
    if (st == KVC_OK)
        st = check_layout(p, err);
    if (st == KVC_OK)
        st = finish(p, err);
    return st;
}

static kvc_status parse_header(st_parse *p, kvc_error *err)
{
    kvc_st_file *f = p->f;
    const char *path = p->path;
    uint64_t n = load_le64(f->map);
    if (n < 2)
        return st_fail(err, KVC_ST_HEADER_TOO_SMALL, path, NULL, 0,
                       "header length field is %llu; the smallest header, {}, is 2",
                       (unsigned long long)n);
    if (n > KVC_ST_MAX_HEADER)
        return st_fail(err, KVC_ST_HEADER_TOO_LARGE, path, NULL, 0,
                       "header length field is %llu; the limit is %llu",
                       (unsigned long long)n, KVC_ST_MAX_HEADER);
    if (n > f->file_size - 8)
        return st_fail(err, KVC_ST_HEADER_BEYOND_FILE, path, NULL, 0,
                       "header of %llu bytes needs a file of at least %llu bytes; it has %llu",
                       (unsigned long long)n, (unsigned long long)(n + 8),
                       (unsigned long long)f->file_size);
    f->header_size = n;
    p->data_start = 8 + n;
    const unsigned char *h = f->map + 8;
    size_t bad = kvc__utf8_invalid_at(h, (size_t)n);
    if (bad != n)
        return st_fail(err, KVC_ST_HEADER_UTF8, path, NULL, (int64_t)(8 + bad),
                       "invalid UTF-8 sequence starting with byte 0x%02x", h[bad]);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts((const char *)h, (size_t)n, &end, 0);
    if (root == NULL)
        return st_fail(err, KVC_ST_HEADER_JSON, path, NULL,
                       (int64_t)(8 + (end != NULL ? (size_t)(end - (const char *)h) : 0)),
                       "JSON syntax error");
    const char *why = "";
    bad = json_strict_check(h, (size_t)n, (size_t)(end - (const char *)h), &why);
    kvc_status st;
    if (bad != n)
        st = st_fail(err, KVC_ST_HEADER_JSON, path, NULL, (int64_t)(8 + bad), "%s", why);
    else if (!cJSON_IsObject(root))
        st = st_fail(err, KVC_ST_HEADER_NOT_OBJECT, path, NULL, 8, "header is a JSON %s",
                     cJSON_IsArray(root)    ? "array"
                     : cJSON_IsString(root) ? "string"
                     : cJSON_IsNumber(root) ? "number"
                     : cJSON_IsBool(root)   ? "boolean"
                                            : "null");
    else
        st = parse_object(p, root, err);
    cJSON_Delete(root);
    return st;
}

kvc_status kvc_st_open(const char *path, kvc_st_file **out, kvc_error *err)
{
    if (out == NULL || path == NULL)
        return st_fail(err, KVC_INVALID_ARGUMENT, path, NULL, -1, "kvc_st_open: NULL argument");
    *out = NULL;
    kvc_st_file *f = calloc(1, sizeof *f);
    if (f == NULL || (f->path = strdup(path)) == NULL) {
        free(f);
        return st_fail(err, KVC_NOMEM, path, NULL, -1, "opening the file");
    }
    st_parse p = {f, f->path, 0, 0};
    kvc_status st = KVC_OK;
    struct stat sb;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        st = st_fail(err, KVC_OPEN, path, NULL, -1, "%s", strerror(errno));
    else if (fstat(fd, &sb) != 0)
        st = st_fail(err, KVC_IO, path, NULL, -1, "fstat: %s", strerror(errno));
    else if (!S_ISREG(sb.st_mode))
        st = st_fail(err, KVC_OPEN, path, NULL, -1, "not a regular file");
    else if ((uint64_t)sb.st_size < 8)
        st = st_fail(err, KVC_ST_TOO_SHORT, path, NULL, -1,
                     "file is %lld bytes; the header length field alone takes 8",
                     (long long)sb.st_size);
#if SIZE_MAX < UINT64_MAX
    else if ((uint64_t)sb.st_size > SIZE_MAX)
        st = st_fail(err, KVC_LIMIT, path, NULL, -1, "file too large to map");
#endif
    if (st == KVC_OK) {
        f->file_size = (uint64_t)sb.st_size;
        void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED)
            st = st_fail(err, KVC_IO, path, NULL, -1, "mmap: %s", strerror(errno));
        else
            f->map = m, f->map_size = (size_t)sb.st_size;
    }
    if (fd >= 0)
        close(fd); /* the mapping keeps the file */
    if (st == KVC_OK)
        st = parse_header(&p, err);
    if (st != KVC_OK) {
        kvc_st_close(f);
        return st;
    }
    *out = f;
    return KVC_OK;
}

void kvc_st_close(kvc_st_file *f)
{
    if (f == NULL)
        return;
    if (f->map != NULL)
        munmap((void *)f->map, f->map_size);
    free(f->tensors);
    free(f->by_name);
    free(f->meta);
    free(f->strings);
    free(f->path);
    free(f);
}

const char *kvc_st_path(const kvc_st_file *f)
{
    return f->path;
}

uint64_t kvc_st_file_size(const kvc_st_file *f)
{
    return f->file_size;
}

uint64_t kvc_st_header_size(const kvc_st_file *f)
{
    return f->header_size;
}

size_t kvc_st_count(const kvc_st_file *f)
{
    return f->count;
}

const kvc_tensor_view *kvc_st_tensor(const kvc_st_file *f, size_t i)
{
    return i < f->count ? &f->tensors[i] : NULL;
}

const kvc_tensor_view *kvc_st_find(const kvc_st_file *f, const char *name)
{
    if (name == NULL)
        return NULL;
    size_t lo = 0, hi = f->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->by_name[mid]->name, name);
        if (c == 0)
            return f->by_name[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

kvc_status kvc_st_require(const kvc_st_file *f, const char *name, kvc_dtype dtype, int ndim,
                          const int64_t *shape, const kvc_tensor_view **out, kvc_error *err)
{
    if (out != NULL)
        *out = NULL;
    const kvc_tensor_view *v = kvc_st_find(f, name);
    if (v == NULL)
        return st_fail(err, KVC_TENSOR_MISSING, f->path, name, -1, "no tensor named '%s'", name);
    if (v->dtype != dtype)
        return st_fail(err, KVC_TENSOR_DTYPE, f->path, name, (int64_t)v->file_offset,
                       "expected %s, got %s", kvc_dtype_name(dtype) ? kvc_dtype_name(dtype) : "?",
                       kvc_dtype_name(v->dtype));
    if (ndim >= 0) {
        int same = ndim == v->ndim;
        for (int i = 0; same && i < ndim; i++)
            same = shape[i] == v->shape[i];
        if (!same) {
            char want[256], got[256];
            if (ndim > KVC_ST_MAX_DIMS)
                snprintf(want, sizeof want, "%d dimensions", ndim);
            else
                format_shape(want, sizeof want, ndim, shape);
            format_shape(got, sizeof got, v->ndim, v->shape);
            return st_fail(err, KVC_TENSOR_SHAPE, f->path, name, (int64_t)v->file_offset,
                           "expected %s, got %s", want, got);
        }
    }
    if (out != NULL)
        *out = v;
    return KVC_OK;
}

size_t kvc_st_metadata_count(const kvc_st_file *f)
{
    return f->nmeta;
}

void kvc_st_metadata(const kvc_st_file *f, size_t i, const char **key, const char **value)
{
    int ok = i < f->nmeta;
    if (key != NULL)
        *key = ok ? f->meta[2 * i] : NULL;
    if (value != NULL)
        *value = ok ? f->meta[2 * i + 1] : NULL;
}

/* ------------------------------------------------------------ writer */

typedef struct st_wtensor {
    char *name;
    kvc_dtype dtype;
    int ndim;
    int64_t shape[KVC_ST_MAX_DIMS];
    const void *data;
    uint64_t nbytes;
} st_wtensor;

typedef struct st_wmeta {
    char *key, *value;
} st_wmeta;

struct kvc_st_writer {
    st_wtensor *t;
    size_t n, cap;
    st_wmeta *meta;
    size_t nmeta, metacap;
};

kvc_st_writer *kvc_st_writer_create(void)
{
    return calloc(1, sizeof(kvc_st_writer));
}

void kvc_st_writer_destroy(kvc_st_writer *w)
{
    if (w == NULL)
        return;
    for (size_t i = 0; i < w->n; i++)
        free(w->t[i].name);
    for (size_t i = 0; i < w->nmeta; i++) {
        free(w->meta[i].key);
        free(w->meta[i].value);
    }
    free(w->t);
    free(w->meta);
    free(w);
}

static int valid_utf8_string(const char *s)
{
    size_t n = strlen(s);
    return kvc__utf8_invalid_at((const unsigned char *)s, n) == n;
}

kvc_status kvc_st_writer_add(kvc_st_writer *w, const char *name, kvc_dtype dtype, int ndim,
                             const int64_t *shape, const void *data, kvc_error *err)
{
    if (w == NULL || name == NULL || (ndim > 0 && shape == NULL))
        return st_fail(err, KVC_INVALID_ARGUMENT, NULL, name, -1, "NULL argument");
    if (!valid_utf8_string(name) || strcmp(name, "__metadata__") == 0)
        return st_fail(err, KVC_INVALID_ARGUMENT, NULL, name, -1,
                       "a tensor name must be UTF-8 and not __metadata__");
    if ((int)dtype < 0 || dtype >= KVC_DT_COUNT)
        return st_fail(err, KVC_INVALID_ARGUMENT, NULL, name, -1, "dtype %d", (int)dtype);
    if (ndim < 0 || ndim > KVC_ST_MAX_DIMS)
        return st_fail(err, KVC_INVALID_ARGUMENT, NULL, name, -1,
                       "%d dimensions; 0 to %d are supported", ndim, KVC_ST_MAX_DIMS);
    uint64_t nbytes = kvc_dtype_size(dtype);
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || shape[i] > (int64_t)KVC__ST_MAX_INT)
            return st_fail(err, KVC_INVALID_ARGUMENT, NULL, name, -1,
                           "dimension %d is %lld", i, (long long)shape[i]);
        if (__builtin_mul_overflow(nbytes, (uint64_t)shape[i], &nbytes))
            return st_fail(err, KVC_ST_SHAPE_OVERFLOW, NULL, name, -1,
                           "tensor size overflows 64 bits");
    }
    if (data == NULL && nbytes != 0)
        return st_fail(err, KVC_INVALID_ARGUMENT, NULL, name, -1, "no data for %llu bytes",
                       (unsigned long long)nbytes);
    /* A linear scan: writers hold a handful of tensors (reports, hidden
     * states); kvc_st_writer_write sorts them once. */
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return st_fail(err, KVC_INVALID_ARGUMENT, NULL, name, -1,
                           "tensor '%s' was already added", name);
    if (w->n == w->cap) {
        size_t ncap = w->cap ? 2 * w->cap : 8;
        st_wtensor *t = realloc(w->t, ncap * sizeof *t);
        if (t == NULL)
            return st_fail(err, KVC_NOMEM, NULL, name, -1, "adding a tensor");
        w->t = t;
        w->cap = ncap;
    }
    st_wtensor *t = &w->t[w->n];
    memset(t, 0, sizeof *t);
    if ((t->name = strdup(name)) == NULL)
        return st_fail(err, KVC_NOMEM, NULL, name, -1, "adding a tensor");
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
    t->data = data;
    t->nbytes = nbytes;
    w->n++;
    return KVC_OK;
}

kvc_status kvc_st_writer_set_metadata(kvc_st_writer *w, const char *key, const char *value,
                                      kvc_error *err)
{
    if (w == NULL || key == NULL || value == NULL)
        return st_fail(err, KVC_INVALID_ARGUMENT, NULL, "__metadata__", -1, "NULL argument");
    if (!valid_utf8_string(key) || !valid_utf8_string(value))
        return st_fail(err, KVC_INVALID_ARGUMENT, NULL, "__metadata__", -1,
                       "metadata key and value must be UTF-8");
    size_t i = 0;
    while (i < w->nmeta && strcmp(w->meta[i].key, key) != 0)
        i++;
    if (i == w->nmeta && w->nmeta == w->metacap) {
        size_t ncap = w->metacap ? 2 * w->metacap : 8;
        st_wmeta *m = realloc(w->meta, ncap * sizeof *m);
        if (m == NULL)
            return st_fail(err, KVC_NOMEM, NULL, "__metadata__", -1, "setting metadata");
        w->meta = m;
        w->metacap = ncap;
    }
    char *v = strdup(value);
    char *k = i == w->nmeta ? strdup(key) : NULL;
    if (v == NULL || (i == w->nmeta && k == NULL)) {
        free(v);
        free(k);
        return st_fail(err, KVC_NOMEM, NULL, "__metadata__", -1, "setting metadata");
    }
    if (i == w->nmeta) { /* a new key */
        w->meta[i].key = k;
        w->nmeta++;
    } else { /* replaces the value */
        free(w->meta[i].value);
    }
    w->meta[i].value = v;
    return KVC_OK;
}

/* A growing byte buffer for the header; ok turns 0 on the first failure. */
typedef struct sbuf {
    char *p;
    size_t n, cap;
    int ok;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t len)
{
    if (!b->ok)
        return;
    if (b->cap - b->n < len + 1) {
        size_t ncap = b->cap ? b->cap : 256;
        while (ncap - b->n < len + 1)
            ncap *= 2;
        char *p = realloc(b->p, ncap);
        if (p == NULL) {
            b->ok = 0;
            return;
        }
        b->p = p;
        b->cap = ncap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = '\0';
}

static void sb_str(sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_u64(sbuf *b, uint64_t v)
{
    char buf[24];
    sb_put(b, buf, (size_t)snprintf(buf, sizeof buf, "%llu", (unsigned long long)v));
}

/* A JSON string: escapes '"', '\\' and control characters (short forms
 * where JSON has them, else \u00xx); UTF-8 passes through unchanged. */
static void sb_json_string(sbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        const char *esc = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\b' ? "\\b"
                        : c == '\f' ? "\\f" : c == '\n' ? "\\n" : c == '\r' ? "\\r"
                        : c == '\t' ? "\\t" : NULL;
        char buf[8];
        if (esc != NULL)
            sb_str(b, esc);
        else if (c < 0x20)
            sb_put(b, buf, (size_t)snprintf(buf, sizeof buf, "\\u%04x", c));
        else
            sb_put(b, (const char *)&c, 1);
    }
    sb_put(b, "\"", 1);
}

static int cmp_wtensor_ptr(const void *a, const void *b)
{
    return strcmp((*(const st_wtensor *const *)a)->name, (*(const st_wtensor *const *)b)->name);
}

static int cmp_wmeta(const void *a, const void *b)
{
    return strcmp(((const st_wmeta *)a)->key, ((const st_wmeta *)b)->key);
}

/* The header: {"__metadata__":{...},"name":{"dtype":..,"shape":[..],
 * "data_offsets":[b,e]},...} in name order, spaces up to a multiple of 8. */
static void build_header(sbuf *b, kvc_st_writer *w, const st_wtensor *const *order)
{
    sb_str(b, "{");
    if (w->nmeta > 0) {
        qsort(w->meta, w->nmeta, sizeof *w->meta, cmp_wmeta);
        sb_str(b, "\"__metadata__\":{");
        for (size_t i = 0; i < w->nmeta; i++) {
            sb_str(b, i ? "," : "");
            sb_json_string(b, w->meta[i].key);
            sb_str(b, ":");
            sb_json_string(b, w->meta[i].value);
        }
        sb_str(b, w->n > 0 ? "}," : "}");
    }
    uint64_t off = 0;
    for (size_t i = 0; i < w->n; i++) {
        const st_wtensor *t = order[i];
        sb_str(b, i ? "," : "");
        sb_json_string(b, t->name);
        sb_str(b, ":{\"dtype\":\"");
        sb_str(b, kvc_dtype_name(t->dtype));
        sb_str(b, "\",\"shape\":[");
        for (int k = 0; k < t->ndim; k++) {
            sb_str(b, k ? "," : "");
            sb_u64(b, (uint64_t)t->shape[k]);
        }
        sb_str(b, "],\"data_offsets\":[");
        sb_u64(b, off);
        sb_str(b, ",");
        off += t->nbytes;
        sb_u64(b, off);
        sb_str(b, "]}");
    }
    sb_str(b, "}");
    while (b->ok && b->n % 8 != 0)
        sb_str(b, " ");
}

static int write_all(FILE *fp, const void *data, uint64_t size)
{
    const size_t block = (size_t)1 << 24; /* large blocks, bounded calls */
    const unsigned char *p = data;
    while (size > 0) {
        size_t n = size < block ? (size_t)size : block;
        if (fwrite(p, 1, n, fp) != n)
            return 0;
        p += n;
        size -= n;
    }
    return 1;
}

kvc_status kvc_st_writer_write(kvc_st_writer *w, const char *path, kvc_error *err)
{
    if (w == NULL || path == NULL)
        return st_fail(err, KVC_INVALID_ARGUMENT, path, NULL, -1, "NULL argument");
    const st_wtensor **order = calloc(w->n + 1, sizeof *order);
    sbuf hdr = {NULL, 0, 0, 1};
    if (order == NULL)
        return st_fail(err, KVC_NOMEM, path, NULL, -1, "writing the header");
    for (size_t i = 0; i < w->n; i++)
        order[i] = &w->t[i];
    qsort(order, w->n, sizeof *order, cmp_wtensor_ptr);
    build_header(&hdr, w, order);
    kvc_status st = KVC_OK;
    kvc_atomic_file *af = NULL;
    if (!hdr.ok)
        st = st_fail(err, KVC_NOMEM, path, NULL, -1, "writing the header");
    else if (hdr.n > KVC_ST_MAX_HEADER)
        st = st_fail(err, KVC_LIMIT, path, NULL, -1, "header of %zu bytes exceeds %llu", hdr.n,
                     KVC_ST_MAX_HEADER);
    if (st == KVC_OK)
        st = kvc_atomic_open(path, &af, err);
    if (st == KVC_OK) {
        unsigned char len[8];
        for (int i = 0; i < 8; i++)
            len[i] = (unsigned char)((uint64_t)hdr.n >> (8 * i));
        FILE *fp = kvc_atomic_stream(af);
        int ok = write_all(fp, len, 8) && write_all(fp, hdr.p, hdr.n);
        for (size_t i = 0; ok && i < w->n; i++)
            ok = write_all(fp, order[i]->data, order[i]->nbytes);
        if (!ok) {
            st = st_fail(err, KVC_IO, path, NULL, -1, "write: %s", strerror(errno));
            kvc_atomic_abort(af);
        } else {
            st = kvc_atomic_commit(af, err);
        }
    }
    free(hdr.p);
    free(order);
    return st;
}
