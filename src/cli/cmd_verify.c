/* kvcert verify: check files against a SHA-256 manifest. */
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/progress.h"
#include "io/manifest.h"

#define MAX_THREADS 64

static void verify_help(FILE *out)
{
    fprintf(out,
            "usage: kvcert verify --manifest M.json [--dir D] [--threads N] [--json]\n"
            "\n"
            "Checks every file a manifest names (schema \"" KVC_MANIFEST_SCHEMA "\") by\n"
            "size and SHA-256. A file whose size differs is reported without being\n"
            "hashed; the others are hashed on N threads, largest first. One line per\n"
            "file, in manifest order:\n"
            "  NAME: OK\n"
            "  NAME: MISMATCH (got <sha256>)\n"
            "  NAME: MISSING\n"
            "  NAME: SIZE MISMATCH (expected X, got Y)\n"
            "  NAME: ERROR (<why>)          the file exists but could not be read\n"
            "then 'N of M files OK'. On a terminal, stderr shows a progress bar\n"
            "when the manifest totals 64 MiB or more.\n"
            "\n"
            "Options:\n"
            "  -m, --manifest M   the manifest (required)\n"
            "  -d, --dir D        where the files are (default: the manifest's directory)\n"
            "  -t, --threads N    hashing threads, 1..%d (default: online CPUs, at most 8)\n"
            "      --json         print the results as one JSON object instead\n"
            "  -h, --help         this text\n"
            "\n"
            "Exit status: 0 every file OK; 1 a file is missing or differs in size or\n"
            "digest; 2 usage error; 3 bad manifest, missing directory or a read error.\n",
            MAX_THREADS);
}

typedef struct verify_cli {
    kvc_cli_progress *bar;
    int json;
} verify_cli;

static const char *outcome_word(kvc_status st)
{
    switch (st) {
    case KVC_OK:
        return "OK";
    case KVC_INPUT_HASH_MISMATCH:
        return "MISMATCH";
    case KVC_INPUT_SIZE_MISMATCH:
        return "SIZE_MISMATCH";
    case KVC_MANIFEST_UNKNOWN_FILE:
        return "MISSING";
    default:
        return "ERROR";
    }
}

/* The text line for one file, with its newline. */
static void format_line(const kvc_manifest_entry *e, const kvc_verify_result *r, char *line,
                        size_t size)
{
    char hex[KVC_SHA256_HEX_SIZE + 1];
    char why[1024];
    switch (r->status) {
    case KVC_OK:
        snprintf(line, size, "%s: OK\n", e->name);
        break;
    case KVC_INPUT_HASH_MISMATCH:
        kvc_sha256_hex(r->sha256, hex);
        snprintf(line, size, "%s: MISMATCH (got %s)\n", e->name, hex);
        break;
    case KVC_INPUT_SIZE_MISMATCH:
        snprintf(line, size, "%s: SIZE MISMATCH (expected %llu, got %llu)\n", e->name,
                 (unsigned long long)e->size, (unsigned long long)r->size);
        break;
    case KVC_MANIFEST_UNKNOWN_FILE:
        snprintf(line, size, "%s: MISSING\n", e->name);
        break;
    default:
        snprintf(line, size, "%s: ERROR (%s)\n", e->name,
                 kvc_error_format(&r->error, why, sizeof why));
        break;
    }
}

static void on_result(void *arg, size_t index, const kvc_manifest_entry *e,
                      const kvc_verify_result *r)
{
    (void)index;
    verify_cli *v = arg;
    if (v->json)
        return;
    char line[8192];
    format_line(e, r, line, sizeof line);
    kvc_cli_progress_puts(v->bar, stdout, line);
}

static cJSON *json_u64(unsigned long long v)
{
    char num[32];
    snprintf(num, sizeof num, "%llu", v);
    return cJSON_CreateRaw(num); /* exact integers, never an exponent form */
}

static cJSON *json_hex(const uint8_t digest[KVC_SHA256_SIZE])
{
    char hex[KVC_SHA256_HEX_SIZE + 1];
    kvc_sha256_hex(digest, hex);
    return cJSON_CreateString(hex);
}

/* Prints the whole run as one JSON object; returns 0, or -1 when out of
 * memory. */
static int print_json(const char *manifest_path, const char *dir, const kvc_manifest *m,
                      const kvc_verify_result *res, size_t ok)
{
    size_t n = kvc_manifest_count(m);
    cJSON *root = cJSON_CreateObject();
    cJSON *files = cJSON_CreateArray();
    if (root == NULL || files == NULL) {
        cJSON_Delete(root);
        cJSON_Delete(files);
        return -1;
    }
    cJSON_AddItemToObject(root, "schema", cJSON_CreateString("kvcert-verify/1"));
    cJSON_AddItemToObject(root, "manifest", cJSON_CreateString(manifest_path));
    cJSON_AddItemToObject(root, "dir", cJSON_CreateString(dir));
    cJSON_AddItemToObject(root, "files", files);
    for (size_t i = 0; i < n; i++) {
        const kvc_manifest_entry *e = kvc_manifest_entry_at(m, i);
        const kvc_verify_result *r = &res[i];
        cJSON *f = cJSON_CreateObject();
        if (f == NULL)
            break;
        cJSON_AddItemToArray(files, f);
        cJSON_AddItemToObject(f, "name", cJSON_CreateString(e->name));
        cJSON_AddItemToObject(f, "result", cJSON_CreateString(outcome_word(r->status)));
        cJSON_AddItemToObject(f, "status", cJSON_CreateString(kvc_status_name(r->status)));
        cJSON_AddItemToObject(f, "expected_size", json_u64(e->size));
        int exists = r->status == KVC_OK || r->status == KVC_INPUT_HASH_MISMATCH ||
                     r->status == KVC_INPUT_SIZE_MISMATCH;
        cJSON_AddItemToObject(f, "size", exists ? json_u64(r->size) : cJSON_CreateNull());
        cJSON_AddItemToObject(f, "expected_sha256", json_hex(e->sha256));
        cJSON_AddItemToObject(f, "sha256", r->hashed ? json_hex(r->sha256) : cJSON_CreateNull());
        if (r->status != KVC_OK) {
            char why[1024];
            cJSON_AddItemToObject(f, "error", cJSON_CreateString(
                                                  kvc_error_format(&r->error, why, sizeof why)));
        }
    }
    cJSON_AddItemToObject(root, "ok", json_u64(ok));
    cJSON_AddItemToObject(root, "total", json_u64(n));
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (text == NULL)
        return -1;
    printf("%s\n", text);
    fflush(stdout);
    cJSON_free(text);
    return 0;
}

/* The manifest's directory (dirname of a copy); malloc'd. */
static char *manifest_dir(const char *manifest_path)
{
    char *copy = strdup(manifest_path);
    if (copy == NULL)
        return NULL;
    char *d = strdup(dirname(copy));
    free(copy);
    return d;
}

int kvc_cmd_verify(int argc, char **argv)
{
    static const struct option opts[] = {
        {"manifest", required_argument, NULL, 'm'},
        {"dir", required_argument, NULL, 'd'},
        {"threads", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *manifest_path = NULL, *dir_arg = NULL;
    int threads = 0, json = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:d:t:h", opts, NULL)) != -1) {
        unsigned long long v = 0;
        switch (c) {
        case 'm':
            manifest_path = optarg;
            break;
        case 'd':
            dir_arg = optarg;
            break;
        case 't':
            if (kvc_cli_parse_u64(optarg, MAX_THREADS, &v) != 0 || v == 0)
                return kvc_cli_usage_error("verify", "--threads takes an integer 1..%d, not '%s'",
                                           MAX_THREADS, optarg);
            threads = (int)v;
            break;
        case 'j':
            json = 1;
            break;
        case 'h':
            verify_help(stdout);
            return KVC_EXIT_OK;
        case ':':
            return kvc_cli_usage_error("verify", "option '%s' needs a value", argv[optind - 1]);
        default:
            return kvc_cli_usage_error("verify", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return kvc_cli_usage_error("verify", "unexpected argument '%s'", argv[optind]);
    if (manifest_path == NULL)
        return kvc_cli_usage_error("verify", "--manifest is required");

    kvc_error err;
    kvc_error_clear(&err);
    kvc_manifest *m = NULL;
    if (kvc_manifest_read(manifest_path, &m, &err) != KVC_OK)
        return kvc_cli_fail("verify", &err);

    char *dir = dir_arg != NULL ? strdup(dir_arg) : manifest_dir(manifest_path);
    if (dir == NULL) {
        kvc_manifest_destroy(m);
        kvc_error_set(&err, KVC_NOMEM, "cannot copy a path");
        return kvc_cli_fail("verify", &err);
    }
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        kvc_error_set(&err, KVC_OPEN, "'%s' is not a directory", dir);
        kvc_error_where(&err, dir, NULL, -1);
        free(dir);
        kvc_manifest_destroy(m);
        return kvc_cli_fail("verify", &err);
    }

    size_t n = kvc_manifest_count(m);
    kvc_verify_result *res = calloc(n > 0 ? n : 1, sizeof *res);
    if (res == NULL) {
        free(dir);
        kvc_manifest_destroy(m);
        kvc_error_set(&err, KVC_NOMEM, "cannot allocate %zu results", n);
        return kvc_cli_fail("verify", &err);
    }
    verify_cli v = {kvc_cli_progress_create("verify", kvc_manifest_total_size(m)), json};
    kvc_verify_callbacks cb = {on_result, &v, kvc_cli_progress_update, v.bar};
    kvc_status st = kvc_manifest_verify(m, dir, threads, &cb, res, &err);
    kvc_cli_progress_finish(v.bar);

    int exit_code = KVC_EXIT_OK;
    if (st == KVC_NOMEM || st == KVC_INVALID_ARGUMENT) {
        /* verification itself could not run */
        exit_code = kvc_cli_fail("verify", &err);
    } else {
        size_t ok = 0;
        const kvc_verify_result *first_error = NULL;
        for (size_t i = 0; i < n; i++) {
            kvc_status s = res[i].status;
            if (s == KVC_OK)
                ok++;
            else if (s == KVC_INPUT_HASH_MISMATCH || s == KVC_INPUT_SIZE_MISMATCH ||
                     s == KVC_MANIFEST_UNKNOWN_FILE) {
                if (exit_code == KVC_EXIT_OK)
                    exit_code = KVC_EXIT_CHECK_FAILED;
            } else if (first_error == NULL) {
                first_error = &res[i];
            }
        }
        if (json) {
            if (print_json(manifest_path, dir, m, res, ok) != 0) {
                kvc_error_set(&err, KVC_NOMEM, "cannot format the JSON output");
                exit_code = kvc_cli_fail("verify", &err);
            }
        } else {
            printf("%zu of %zu files OK\n", ok, n);
            fflush(stdout);
        }
        /* A file that could not be read leaves the check undecided: that
         * outranks a mismatch (exit 3, with the reason on stderr). */
        if (first_error != NULL)
            exit_code = kvc_cli_fail("verify", &first_error->error);
    }
    free(res);
    free(dir);
    kvc_manifest_destroy(m);
    return exit_code;
}
