/* kvcert inspect: validates a safetensors file and lists what it holds. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "io/safetensors.h"

static void inspect_help(FILE *out)
{
    fprintf(out,
            "usage: kvcert inspect FILE [--json]\n"
            "\n"
            "Opens FILE as a safetensors file and applies every validation rule of\n"
            "SPEC.md section 1.1 (header length, UTF-8, strict JSON, duplicate keys,\n"
            "dtypes, shapes, data offsets that tile the data buffer, file size).\n"
            "When the file is valid, prints its __metadata__ and its tensors in\n"
            "data-offset order: name, dtype, shape, size in bytes, data_offsets\n"
            "[begin, end) relative to the data buffer, and the absolute offset of\n"
            "the tensor's first byte in the file; then a summary line. In the table,\n"
            "control characters in names and metadata are shown as \\xNN and a\n"
            "backslash as \\\\.\n"
            "\n"
            "Options:\n"
            "  --json      print one JSON document instead of the table (keys in a\n"
            "              fixed order; sizes and offsets as integers)\n"
            "  -h, --help  print this help\n"
            "\n"
            "Exit status: 0 the file is valid, 2 usage error, 3 the file cannot be\n"
            "read or breaks a rule (the message names the rule, and where it\n"
            "applies the tensor and the byte offset).\n");
}

/* Width of s as printed by put_escaped. */
static size_t escaped_len(const char *s)
{
    size_t n = 0;
    for (; *s != '\0'; s++)
        n += ((unsigned char)*s < 0x20 || *s == 0x7f) ? 4 : *s == '\\' ? 2 : 1;
    return n;
}

/* Prints s with control characters as \xNN and '\' as \\ (names come
 * from untrusted files and must not drive the terminal), padded to width. */
static void put_escaped(const char *s, size_t width)
{
    size_t n = 0;
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f)
            n += (size_t)printf("\\x%02x", c);
        else if (c == '\\')
            n += (size_t)printf("\\\\");
        else
            n += (size_t)(putchar(c) != EOF);
    }
    for (; n < width; n++)
        putchar(' ');
}

typedef struct row {
    char shape[256];
    char bytes[24];
    char offsets[48];
    char file_offset[24];
} row;

static void make_row(const kvc_st_file *f, const kvc_tensor_view *v, row *r)
{
    size_t n = (size_t)snprintf(r->shape, sizeof r->shape, "[");
    for (int k = 0; k < v->ndim && n < sizeof r->shape; k++)
        n += (size_t)snprintf(r->shape + n, sizeof r->shape - n, "%s%lld", k ? ", " : "",
                              (long long)v->shape[k]);
    if (n < sizeof r->shape)
        snprintf(r->shape + n, sizeof r->shape - n, "]");
    uint64_t begin = v->file_offset - 8 - kvc_st_header_size(f);
    snprintf(r->bytes, sizeof r->bytes, "%llu", (unsigned long long)v->nbytes);
    snprintf(r->offsets, sizeof r->offsets, "[%llu, %llu)", (unsigned long long)begin,
             (unsigned long long)(begin + v->nbytes));
    snprintf(r->file_offset, sizeof r->file_offset, "%llu", (unsigned long long)v->file_offset);
}

static size_t max_size(size_t a, size_t b)
{
    return a > b ? a : b;
}

static void print_table(const kvc_st_file *f)
{
    size_t n = kvc_st_count(f), nmeta = kvc_st_metadata_count(f);
    uint64_t data = kvc_st_file_size(f) - 8 - kvc_st_header_size(f);
    printf("file:     %s\n", kvc_st_path(f));
    printf("size:     %llu bytes: 8-byte length, %llu-byte header, %llu-byte data buffer "
           "at offset %llu\n",
           (unsigned long long)kvc_st_file_size(f), (unsigned long long)kvc_st_header_size(f),
           (unsigned long long)data, (unsigned long long)(8 + kvc_st_header_size(f)));
    printf("metadata: %zu entr%s\n", nmeta, nmeta == 1 ? "y" : "ies");
    for (size_t i = 0; i < nmeta; i++) {
        const char *k, *v;
        kvc_st_metadata(f, i, &k, &v);
        printf("  ");
        put_escaped(k, 0);
        printf(" = ");
        put_escaped(v, 0);
        printf("\n");
    }
    size_t w[6] = {4, 5, 5, 5, 12, 11}; /* header widths */
    for (size_t i = 0; i < n; i++) {
        const kvc_tensor_view *v = kvc_st_tensor(f, i);
        row r;
        make_row(f, v, &r);
        w[0] = max_size(w[0], escaped_len(v->name));
        w[1] = max_size(w[1], strlen(kvc_dtype_name(v->dtype)));
        w[2] = max_size(w[2], strlen(r.shape));
        w[3] = max_size(w[3], strlen(r.bytes));
        w[4] = max_size(w[4], strlen(r.offsets));
    }
    if (n > 0) {
        printf("\n%-*s  %-*s  %-*s  %*s  %-*s  %*s\n", (int)w[0], "NAME", (int)w[1], "DTYPE",
               (int)w[2], "SHAPE", (int)w[3], "BYTES", (int)w[4], "DATA_OFFSETS", (int)w[5],
               "FILE_OFFSET");
        for (size_t i = 0; i < n; i++) {
            const kvc_tensor_view *v = kvc_st_tensor(f, i);
            row r;
            make_row(f, v, &r);
            put_escaped(v->name, w[0]);
            printf("  %-*s  %-*s  %*s  %-*s  %*s\n", (int)w[1], kvc_dtype_name(v->dtype),
                   (int)w[2], r.shape, (int)w[3], r.bytes, (int)w[4], r.offsets, (int)w[5],
                   r.file_offset);
        }
    }
    printf("\n%zu tensor%s, %llu data bytes, valid\n", n, n == 1 ? "" : "s",
           (unsigned long long)data);
}

/* An integer as a raw JSON number: cJSON would print it through a double. */
static cJSON *json_u64(uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    return cJSON_CreateRaw(buf);
}

/* Adds item to obj (or arr when name is NULL); records a failure in *ok. */
static void add(cJSON *parent, const char *name, cJSON *item, int *ok)
{
    if (item == NULL)
        *ok = 0;
    else if (name == NULL ? !cJSON_AddItemToArray(parent, item)
                          : !cJSON_AddItemToObject(parent, name, item)) {
        cJSON_Delete(item);
        *ok = 0;
    }
}

static cJSON *tensor_json(const kvc_st_file *f, const kvc_tensor_view *v, int *ok)
{
    cJSON *t = cJSON_CreateObject(), *shape = cJSON_CreateArray(), *offs = cJSON_CreateArray();
    uint64_t begin = v->file_offset - 8 - kvc_st_header_size(f);
    if (t == NULL || shape == NULL || offs == NULL) {
        cJSON_Delete(t);
        cJSON_Delete(shape);
        cJSON_Delete(offs);
        *ok = 0;
        return NULL;
    }
    add(t, "name", cJSON_CreateString(v->name), ok);
    add(t, "dtype", cJSON_CreateString(kvc_dtype_name(v->dtype)), ok);
    for (int k = 0; k < v->ndim; k++)
        add(shape, NULL, json_u64((uint64_t)v->shape[k]), ok);
    add(t, "shape", shape, ok);
    add(t, "numel", json_u64(v->numel), ok);
    add(t, "bytes", json_u64(v->nbytes), ok);
    add(offs, NULL, json_u64(begin), ok);
    add(offs, NULL, json_u64(begin + v->nbytes), ok);
    add(t, "data_offsets", offs, ok);
    add(t, "file_offset", json_u64(v->file_offset), ok);
    return t;
}

static int print_json(const kvc_st_file *f)
{
    int ok = 1;
    cJSON *root = cJSON_CreateObject(), *meta = cJSON_CreateObject(),
          *tensors = cJSON_CreateArray();
    if (root == NULL || meta == NULL || tensors == NULL) {
        cJSON_Delete(meta);
        cJSON_Delete(tensors);
        ok = 0;
    } else {
        uint64_t hs = kvc_st_header_size(f), fs = kvc_st_file_size(f);
        add(root, "file", cJSON_CreateString(kvc_st_path(f)), &ok);
        add(root, "file_size", json_u64(fs), &ok);
        add(root, "header_size", json_u64(hs), &ok);
        add(root, "data_offset", json_u64(8 + hs), &ok);
        add(root, "data_size", json_u64(fs - 8 - hs), &ok);
        for (size_t i = 0; i < kvc_st_metadata_count(f); i++) {
            const char *k, *v;
            kvc_st_metadata(f, i, &k, &v);
            add(meta, k, cJSON_CreateString(v), &ok);
        }
        add(root, "metadata", meta, &ok);
        add(root, "tensor_count", json_u64(kvc_st_count(f)), &ok);
        for (size_t i = 0; i < kvc_st_count(f); i++)
            add(tensors, NULL, tensor_json(f, kvc_st_tensor(f, i), &ok), &ok);
        add(root, "tensors", tensors, &ok);
    }
    char *text = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (text == NULL) {
        kvc_error err;
        kvc_error_clear(&err);
        kvc_error_set(&err, KVC_NOMEM, "building the JSON document");
        return kvc_cli_fail("inspect", &err);
    }
    printf("%s\n", text);
    cJSON_free(text);
    return KVC_EXIT_OK;
}

int kvc_cmd_inspect(int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c, json = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            inspect_help(stdout);
            return KVC_EXIT_OK;
        }
        if (c == 'j') {
            json = 1;
            continue;
        }
        return kvc_cli_usage_error("inspect", "unknown option");
    }
    if (optind == argc)
        return kvc_cli_usage_error("inspect", "missing FILE");
    if (argc - optind > 1)
        return kvc_cli_usage_error("inspect", "unexpected argument '%s'", argv[optind + 1]);
    kvc_error err;
    kvc_error_clear(&err);
    kvc_st_file *f = NULL;
    if (kvc_st_open(argv[optind], &f, &err) != KVC_OK)
        return kvc_cli_fail("inspect", &err);
    int rc = KVC_EXIT_OK;
    if (json)
        rc = print_json(f);
    else
        print_table(f);
    kvc_st_close(f);
    if (rc == KVC_EXIT_OK && (fflush(stdout) != 0 || ferror(stdout))) {
        kvc_error_set(&err, KVC_IO, "cannot write to standard output");
        return kvc_cli_fail("inspect", &err);
    }
    return rc;
}
