/* Tests for io/manifest: reading (every rule), writing (exact bytes,
 * atomicity) and verification (each outcome, thread-count independence).
 *
 * Oracles: digests of test files come from OpenSSL's one-shot EVP_Digest
 * over the bytes the test wrote, or from the FIPS 180-2 examples; the
 * manifest text expected of the writer is written out by hand. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "io/manifest.h"
#include "testutil.h"

#define HEX_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define HEX_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

static char tmpdir[512];

static void setup(void)
{
    kvc_test_tmpdir(tmpdir, sizeof tmpdir);
}

static void teardown(void)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", tmpdir);
}

static const char *tmp_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", tmpdir, name);
    return buf;
}

static void write_bytes(const char *name, const void *data, size_t n)
{
    char path[700];
    FILE *f = fopen(tmp_path(path, sizeof path, name), "wb");
    ck_assert_ptr_nonnull(f);
    if (n > 0)
        ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

static char *read_text(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    char *buf = malloc(1 << 20);
    ck_assert_ptr_nonnull(buf);
    *len = fread(buf, 1, (1 << 20) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static void oracle(const void *data, size_t n, uint8_t out[KVC_SHA256_SIZE])
{
    unsigned int len = 0;
    ck_assert_int_eq(EVP_Digest(data, n, out, &len, EVP_sha256(), NULL), 1);
}

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* No "<name>.tmp.*" leftovers of an atomic write anywhere in tmpdir. */
static int temp_files_left(void)
{
    DIR *d = opendir(tmpdir);
    ck_assert_ptr_nonnull(d);
    int found = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".tmp.") != NULL)
            found++;
    closedir(d);
    return found;
}

static kvc_manifest *parse_ok(const char *text)
{
    kvc_manifest *m = NULL;
    kvc_error err;
    kvc_error_clear(&err);
    kvc_status st = kvc_manifest_parse(text, strlen(text), "test.json", &m, &err);
    if (st != KVC_OK) {
        char buf[2048];
        ck_abort_msg("parse failed: %s", kvc_error_format(&err, buf, sizeof buf));
    }
    return m;
}

/* ------------------------------------------------------------ round trip */

/* The writer's exact bytes, for files whose digests are FIPS examples. */
START_TEST(write_exact_bytes)
{
    write_bytes("abc.txt", "abc", 3);
    write_bytes("empty", "", 0);
    char sub[700];
    ck_assert_int_eq(mkdir(tmp_path(sub, sizeof sub, "d"), 0700), 0);
    write_bytes("d/q\"x.bin", "abc", 3);
    const char *names[] = {"empty", "abc.txt", "d/q\"x.bin"};
    char out[700];
    tmp_path(out, sizeof out, "m.json");
    kvc_error err;
    kvc_error_clear(&err);
    ck_assert_int_eq(kvc_manifest_write_for_files(tmpdir, names, 3, out, &err), KVC_OK);
    size_t len = 0;
    char *text = read_text(out, &len);
    ck_assert_str_eq(text, "{\n"
                           "  \"schema\": \"kvcert-manifest/1\",\n"
                           "  \"files\": [\n"
                           "    {\n"
                           "      \"name\": \"empty\",\n"
                           "      \"size\": 0,\n"
                           "      \"sha256\": \"" HEX_EMPTY "\"\n"
                           "    },\n"
                           "    {\n"
                           "      \"name\": \"abc.txt\",\n"
                           "      \"size\": 3,\n"
                           "      \"sha256\": \"" HEX_ABC "\"\n"
                           "    },\n"
                           "    {\n"
                           "      \"name\": \"d/q\\\"x.bin\",\n"
                           "      \"size\": 3,\n"
                           "      \"sha256\": \"" HEX_ABC "\"\n"
                           "    }\n"
                           "  ]\n"
                           "}\n");
    free(text);
    ck_assert_int_eq(temp_files_left(), 0);
}
END_TEST

START_TEST(write_empty_list)
{
    char out[700];
    tmp_path(out, sizeof out, "m.json");
    ck_assert_int_eq(kvc_manifest_write_for_files(tmpdir, NULL, 0, out, NULL), KVC_OK);
    size_t len = 0;
    char *text = read_text(out, &len);
    ck_assert_str_eq(text, "{\n  \"schema\": \"kvcert-manifest/1\",\n  \"files\": []\n}\n");
    free(text);
    kvc_manifest *m = NULL;
    ck_assert_int_eq(kvc_manifest_read(out, &m, NULL), KVC_OK);
    ck_assert_uint_eq(kvc_manifest_count(m), 0);
    ck_assert_int_eq(kvc_manifest_verify(m, tmpdir, 2, NULL, NULL, NULL), KVC_OK);
    kvc_manifest_destroy(m);
}
END_TEST

/* Seeded files of assorted sizes; contents kept for the oracle. */
#define N_FILES 7
static const size_t file_sizes[N_FILES] = {300001, 0, 1, 65536, 262144, 262145, 1000};
static unsigned char *contents[N_FILES];
static const char *const file_names[N_FILES] = {"f0.bin", "sub/f1.bin", "f2", "f3.bin",
                                                "sub/deeper/f4", "f5", "f6.txt"};

static void make_files(void)
{
    char p[700];
    mkdir(tmp_path(p, sizeof p, "sub"), 0700);
    mkdir(tmp_path(p, sizeof p, "sub/deeper"), 0700);
    uint64_t seed = 42;
    for (int i = 0; i < N_FILES; i++) {
        contents[i] = malloc(file_sizes[i] + 1);
        ck_assert_ptr_nonnull(contents[i]);
        for (size_t k = 0; k < file_sizes[i]; k++)
            contents[i][k] = (unsigned char)kvc_test_rand64(&seed);
        write_bytes(file_names[i], contents[i], file_sizes[i]);
    }
}

static void free_files(void)
{
    for (int i = 0; i < N_FILES; i++) {
        free(contents[i]);
        contents[i] = NULL;
    }
}

static kvc_manifest *write_and_read(void)
{
    char out[700];
    tmp_path(out, sizeof out, "manifest.json");
    kvc_error err;
    kvc_error_clear(&err);
    ck_assert_int_eq(kvc_manifest_write_for_files(tmpdir, file_names, N_FILES, out, &err), KVC_OK);
    kvc_manifest *m = NULL;
    ck_assert_int_eq(kvc_manifest_read(out, &m, &err), KVC_OK);
    return m;
}

START_TEST(round_trip)
{
    make_files();
    kvc_manifest *m = write_and_read();
    ck_assert_uint_eq(kvc_manifest_count(m), N_FILES);
    uint64_t total = 0;
    for (int i = 0; i < N_FILES; i++) {
        const kvc_manifest_entry *e = kvc_manifest_entry_at(m, (size_t)i);
        uint8_t want[KVC_SHA256_SIZE];
        oracle(contents[i], file_sizes[i], want);
        ck_assert_str_eq(e->name, file_names[i]);
        ck_assert_uint_eq(e->size, file_sizes[i]);
        ck_assert_mem_eq(e->sha256, want, KVC_SHA256_SIZE);
        ck_assert_ptr_eq(kvc_manifest_find(m, file_names[i]), e);
        total += file_sizes[i];
    }
    ck_assert_ptr_null(kvc_manifest_entry_at(m, N_FILES));
    ck_assert_ptr_null(kvc_manifest_find(m, "nope"));
    ck_assert_uint_eq(kvc_manifest_total_size(m), total);

    kvc_verify_result res[N_FILES];
    kvc_error err;
    kvc_error_clear(&err);
    ck_assert_int_eq(kvc_manifest_verify(m, tmpdir, 2, NULL, res, &err), KVC_OK);
    for (int i = 0; i < N_FILES; i++) {
        ck_assert_int_eq(res[i].status, KVC_OK);
        ck_assert_int_eq(res[i].hashed, 1);
        ck_assert_uint_eq(res[i].size, file_sizes[i]);
    }
    kvc_manifest_destroy(m);
    free_files();
}
END_TEST

/* One byte flipped, one file removed, one truncated: each reported as
 * such; the rest stay OK; the return is the first bad one's status. */
START_TEST(verify_outcomes)
{
    make_files();
    kvc_manifest *m = write_and_read();

    /* f3: flip one byte in the middle */
    contents[3][40000] ^= 0x01;
    write_bytes(file_names[3], contents[3], file_sizes[3]);
    uint8_t flipped[KVC_SHA256_SIZE];
    oracle(contents[3], file_sizes[3], flipped);
    /* f5: removed */
    char p[700];
    ck_assert_int_eq(unlink(tmp_path(p, sizeof p, file_names[5])), 0);
    /* f0: truncated by one byte */
    write_bytes(file_names[0], contents[0], file_sizes[0] - 1);

    kvc_verify_result res[N_FILES];
    kvc_error err;
    kvc_error_clear(&err);
    ck_assert_int_eq(kvc_manifest_verify(m, tmpdir, 2, NULL, res, &err), KVC_INPUT_SIZE_MISMATCH);
    ck_assert_int_eq(err.status, KVC_INPUT_SIZE_MISMATCH); /* f0 comes first */

    ck_assert_int_eq(res[0].status, KVC_INPUT_SIZE_MISMATCH);
    ck_assert_uint_eq(res[0].size, file_sizes[0] - 1);
    ck_assert_int_eq(res[0].hashed, 0); /* a size mismatch is not hashed */

    ck_assert_int_eq(res[3].status, KVC_INPUT_HASH_MISMATCH);
    ck_assert_int_eq(res[3].hashed, 1);
    ck_assert_mem_eq(res[3].sha256, flipped, KVC_SHA256_SIZE);
    char got_hex[KVC_SHA256_HEX_SIZE + 1];
    kvc_sha256_hex(flipped, got_hex);
    ck_assert_ptr_nonnull(strstr(res[3].error.detail, got_hex));

    ck_assert_int_eq(res[5].status, KVC_MANIFEST_UNKNOWN_FILE);
    ck_assert_int_eq(res[5].hashed, 0);

    for (int i = 0; i < N_FILES; i++)
        if (i != 0 && i != 3 && i != 5)
            ck_assert_int_eq(res[i].status, KVC_OK);
    kvc_manifest_destroy(m);
    free_files();
}
END_TEST

START_TEST(verify_not_regular_is_error)
{
    make_files();
    kvc_manifest *m = write_and_read();
    char p[700];
    tmp_path(p, sizeof p, file_names[2]);
    ck_assert_int_eq(unlink(p), 0);
    ck_assert_int_eq(mkdir(p, 0700), 0);
    kvc_verify_result res[N_FILES];
    ck_assert_int_eq(kvc_manifest_verify(m, tmpdir, 1, NULL, res, NULL), KVC_OPEN);
    ck_assert_int_eq(res[2].status, KVC_OPEN);
    kvc_manifest_destroy(m);
    free_files();
}
END_TEST

/* Results, and the order the callbacks see, do not depend on the number
 * of threads; progress ends at the manifest's total. */
typedef struct call_log {
    size_t order[N_FILES + 1];
    size_t n;
    uint64_t last_done, total;
    int progress_monotonic;
} call_log;

static void log_result(void *arg, size_t index, const kvc_manifest_entry *e,
                       const kvc_verify_result *r)
{
    (void)e;
    (void)r;
    call_log *l = arg;
    if (l->n <= N_FILES)
        l->order[l->n] = index;
    l->n++;
}

static void log_progress(void *arg, uint64_t done, uint64_t total)
{
    call_log *l = arg;
    if (done < l->last_done)
        l->progress_monotonic = 0;
    l->last_done = done;
    l->total = total;
}

static const int thread_counts[] = {1, 2, 3, 16};

START_TEST(threads_agree)
{
    make_files();
    kvc_manifest *m = write_and_read();
    /* a mixture of outcomes */
    contents[6][0] ^= 0x80;
    write_bytes(file_names[6], contents[6], file_sizes[6]);
    char p[700];
    unlink(tmp_path(p, sizeof p, file_names[1]));
    write_bytes(file_names[4], contents[4], 10);

    kvc_verify_result ref[N_FILES];
    ck_assert_int_eq(kvc_manifest_verify(m, tmpdir, 1, NULL, ref, NULL),
                     KVC_MANIFEST_UNKNOWN_FILE);
    int threads = thread_counts[_i];
    kvc_verify_result res[N_FILES];
    call_log log;
    memset(&log, 0, sizeof log);
    log.progress_monotonic = 1;
    kvc_verify_callbacks cb = {log_result, &log, log_progress, &log};
    ck_assert_int_eq(kvc_manifest_verify(m, tmpdir, threads, &cb, res, NULL),
                     KVC_MANIFEST_UNKNOWN_FILE);
    ck_assert_uint_eq(log.n, N_FILES);
    for (size_t i = 0; i < N_FILES; i++) {
        ck_assert_uint_eq(log.order[i], i);
        ck_assert_int_eq(res[i].status, ref[i].status);
        ck_assert_int_eq(res[i].hashed, ref[i].hashed);
        ck_assert_uint_eq(res[i].size, ref[i].size);
        if (ref[i].hashed)
            ck_assert_mem_eq(res[i].sha256, ref[i].sha256, KVC_SHA256_SIZE);
    }
    ck_assert_int_eq(log.progress_monotonic, 1);
    ck_assert_uint_eq(log.total, kvc_manifest_total_size(m));
    ck_assert_uint_eq(log.last_done, kvc_manifest_total_size(m));
    kvc_manifest_destroy(m);
    free_files();
}
END_TEST

START_TEST(verify_dir_with_slash_and_null)
{
    write_bytes("abc.txt", "abc", 3);
    kvc_manifest *m = parse_ok("{\"schema\": \"kvcert-manifest/1\", \"files\": [{\"name\": "
                               "\"abc.txt\", \"size\": 3, \"sha256\": \"" HEX_ABC "\"}]}");
    char d[700];
    snprintf(d, sizeof d, "%s/", tmpdir);
    ck_assert_int_eq(kvc_manifest_verify(m, d, 1, NULL, NULL, NULL), KVC_OK);
    ck_assert_int_eq(kvc_manifest_verify(NULL, d, 1, NULL, NULL, NULL), KVC_INVALID_ARGUMENT);
    /* NULL dir: relative to the current directory */
    char cwd[1024];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(chdir(tmpdir), 0);
    kvc_status st = kvc_manifest_verify(m, NULL, 1, NULL, NULL, NULL);
    ck_assert_int_eq(chdir(cwd), 0);
    ck_assert_int_eq(st, KVC_OK);
    kvc_manifest_destroy(m);
}
END_TEST

/* ------------------------------------------------------------ writer errors */

START_TEST(write_missing_input_leaves_nothing)
{
    write_bytes("abc.txt", "abc", 3);
    const char *names[] = {"abc.txt", "gone.bin"};
    char out[700];
    tmp_path(out, sizeof out, "m.json");
    kvc_error err;
    kvc_error_clear(&err);
    ck_assert_int_eq(kvc_manifest_write_for_files(tmpdir, names, 2, out, &err), KVC_OPEN);
    ck_assert_ptr_nonnull(strstr(err.file, "gone.bin"));
    ck_assert_int_eq(exists(out), 0);
    ck_assert_int_eq(temp_files_left(), 0);
}
END_TEST

static const char *const bad_writer_names[] = {"", "/abs", "../up", "a/../b", "./a", "a//b",
                                               "a/", "tab\there", ".."};

START_TEST(write_bad_name_leaves_nothing)
{
    write_bytes("abc.txt", "abc", 3);
    const char *names[] = {"abc.txt", bad_writer_names[_i]};
    char out[700];
    tmp_path(out, sizeof out, "m.json");
    kvc_error err;
    kvc_error_clear(&err);
    ck_assert_int_eq(kvc_manifest_write_for_files(tmpdir, names, 2, out, &err),
                     KVC_MANIFEST_FIELD);
    ck_assert_int_eq(exists(out), 0);
    ck_assert_int_eq(temp_files_left(), 0);
}
END_TEST

START_TEST(write_duplicate_names_leaves_nothing)
{
    write_bytes("abc.txt", "abc", 3);
    const char *names[] = {"abc.txt", "abc.txt"};
    char out[700];
    tmp_path(out, sizeof out, "m.json");
    kvc_error err;
    kvc_error_clear(&err);
    ck_assert_int_eq(kvc_manifest_write_for_files(tmpdir, names, 2, out, &err),
                     KVC_MANIFEST_FIELD);
    ck_assert_ptr_nonnull(strstr(err.detail, "duplicate"));
    ck_assert_int_eq(exists(out), 0);
}
END_TEST

START_TEST(write_into_missing_dir)
{
    write_bytes("abc.txt", "abc", 3);
    const char *names[] = {"abc.txt"};
    char out[700];
    tmp_path(out, sizeof out, "no/such/dir/m.json");
    ck_assert_int_eq(kvc_manifest_write_for_files(tmpdir, names, 1, out, NULL), KVC_OPEN);
    ck_assert_int_eq(exists(out), 0);
}
END_TEST

/* ------------------------------------------------------------ reading */

START_TEST(read_missing_file)
{
    char p[700];
    kvc_manifest *m = (kvc_manifest *)&m; /* must be reset to NULL */
    kvc_error err;
    kvc_error_clear(&err);
    ck_assert_int_eq(kvc_manifest_read(tmp_path(p, sizeof p, "none.json"), &m, &err), KVC_OPEN);
    ck_assert_ptr_null(m);
    ck_assert_str_eq(err.file, p);
    ck_assert_ptr_nonnull(strstr(err.detail, strerror(ENOENT)));
    ck_assert_int_eq(kvc_manifest_read(tmpdir, &m, &err), KVC_OPEN);
}
END_TEST

/* A sparse file one byte over the limit: refused before it is read. */
START_TEST(read_too_large)
{
    char p[700];
    tmp_path(p, sizeof p, "huge.json");
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, (off_t)KVC_MANIFEST_MAX_BYTES + 1), 0);
    close(fd);
    kvc_manifest *m = NULL;
    kvc_error err;
    kvc_error_clear(&err);
    ck_assert_int_eq(kvc_manifest_read(p, &m, &err), KVC_LIMIT);
    ck_assert_ptr_null(m);
    /* and from memory */
    ck_assert_int_eq(kvc_manifest_parse("{}", (size_t)KVC_MANIFEST_MAX_BYTES + 1, "x", &m, &err),
                     KVC_LIMIT);
}
END_TEST

START_TEST(read_upper_case_hex_and_limits)
{
    /* 2^53 - 1 is the largest size; upper-case hex is accepted; the
     * writer's formatting is not required of a reader. */
    kvc_manifest *m =
        parse_ok("{\"files\":[{\"sha256\":\"BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB41"
                 "0FF61F20015AD\",\"size\":9007199254740991,\"name\":\"a\"},{\"name\":\"b/c\","
                 "\"size\":0,\"sha256\":\"" HEX_EMPTY "\"}, {\"name\":\"x\",\"size\":1e3,"
                 "\"sha256\":\"" HEX_EMPTY "\"}], \"schema\":\"kvcert-manifest/1\"}\n\t ");
    ck_assert_uint_eq(kvc_manifest_count(m), 3);
    const kvc_manifest_entry *e = kvc_manifest_entry_at(m, 0);
    ck_assert_uint_eq(e->size, 9007199254740991ull);
    uint8_t abc[KVC_SHA256_SIZE];
    ck_assert_int_eq(kvc_sha256_from_hex(HEX_ABC, abc), KVC_OK);
    ck_assert_mem_eq(e->sha256, abc, KVC_SHA256_SIZE);
    ck_assert_uint_eq(kvc_manifest_entry_at(m, 2)->size, 1000);
    kvc_manifest_destroy(m);
}
END_TEST

/* UTF-8 names are accepted (and written back unescaped). */
START_TEST(read_utf8_name)
{
    kvc_manifest *m = parse_ok("{\"schema\":\"kvcert-manifest/1\",\"files\":[{\"name\":"
                               "\"caf\xc3\xa9/\\u00e9\",\"size\":0,\"sha256\":\"" HEX_EMPTY "\"}]}");
    ck_assert_str_eq(kvc_manifest_entry_at(m, 0)->name, "caf\xc3\xa9/\xc3\xa9");
    char *text = NULL;
    size_t len = 0;
    ck_assert_int_eq(kvc_manifest_format(kvc_manifest_entry_at(m, 0), 1, &text, &len, NULL),
                     KVC_OK);
    ck_assert_ptr_nonnull(strstr(text, "\"name\": \"caf\xc3\xa9/\xc3\xa9\""));
    ck_assert_uint_eq(strlen(text), len);
    free(text);
    kvc_manifest_destroy(m);
}
END_TEST

typedef struct bad_case {
    const char *id;
    const char *text;
    kvc_status status;
    const char *field; /* expected err.tensor, or NULL */
} bad_case;

#define HDR "{\"schema\": \"kvcert-manifest/1\", \"files\": ["
#define OK_ENTRY "{\"name\": \"a\", \"size\": 3, \"sha256\": \"" HEX_ABC "\"}"
#define ENTRY(name, size, hex) "{\"name\": " name ", \"size\": " size ", \"sha256\": " hex "}"
#define Q(s) "\"" s "\""

static const bad_case bad_cases[] = {
    {"empty text", "", KVC_MANIFEST_JSON, NULL},
    {"not JSON", "this is not json", KVC_MANIFEST_JSON, NULL},
    {"truncated", HDR OK_ENTRY, KVC_MANIFEST_JSON, NULL},
    {"trailing text", HDR OK_ENTRY "]} x", KVC_MANIFEST_JSON, NULL},
    {"two values", HDR OK_ENTRY "]} {}", KVC_MANIFEST_JSON, NULL},
    {"u0000 in a name", HDR ENTRY(Q("a\\u0000b"), "3", Q(HEX_ABC)) "]}", KVC_MANIFEST_JSON,
     NULL},
    {"invalid UTF-8", HDR ENTRY(Q("a\xff"), "3", Q(HEX_ABC)) "]}", KVC_MANIFEST_JSON, NULL},
    {"overlong UTF-8", HDR ENTRY(Q("a\xc0\xaf"), "3", Q(HEX_ABC)) "]}", KVC_MANIFEST_JSON, NULL},
    {"surrogate in UTF-8", HDR ENTRY(Q("a\xed\xa0\x80"), "3", Q(HEX_ABC)) "]}",
     KVC_MANIFEST_JSON, NULL},
    {"array at the root", "[]", KVC_MANIFEST_FIELD, "(root)"},
    {"string at the root", "\"kvcert-manifest/1\"", KVC_MANIFEST_FIELD, "(root)"},
    {"empty object", "{}", KVC_MANIFEST_FIELD, "schema"},
    {"missing files", "{\"schema\": \"kvcert-manifest/1\"}", KVC_MANIFEST_FIELD, "files"},
    {"files not an array", "{\"schema\": \"kvcert-manifest/1\", \"files\": {}}",
     KVC_MANIFEST_FIELD, "files"},
    {"files null", "{\"schema\": \"kvcert-manifest/1\", \"files\": null}", KVC_MANIFEST_FIELD,
     "files"},
    {"wrong schema", "{\"schema\": \"kvcert-manifest/2\", \"files\": []}", KVC_MANIFEST_FIELD,
     "schema"},
    {"schema a number", "{\"schema\": 1, \"files\": []}", KVC_MANIFEST_FIELD, "schema"},
    {"unknown top-level key", HDR "], \"extra\": 1}", KVC_MANIFEST_FIELD, "(root)"},
    {"duplicate top-level key", HDR "], \"files\": []}", KVC_MANIFEST_FIELD, "(root)"},
    {"entry not an object", HDR "\"a\"]}", KVC_MANIFEST_FIELD, "files[0]"},
    {"entry missing name", HDR "{\"size\": 3, \"sha256\": \"" HEX_ABC "\"}]}",
     KVC_MANIFEST_FIELD, "files[0].name"},
    {"entry missing size", HDR "{\"name\": \"a\", \"sha256\": \"" HEX_ABC "\"}]}",
     KVC_MANIFEST_FIELD, "files[0].size"},
    {"entry missing sha256", HDR "{\"name\": \"a\", \"size\": 3}]}", KVC_MANIFEST_FIELD,
     "files[0].sha256"},
    {"second entry missing sha256", HDR OK_ENTRY ", {\"name\": \"b\", \"size\": 3}]}",
     KVC_MANIFEST_FIELD, "files[1].sha256"},
    {"unknown entry key", HDR "{\"name\": \"a\", \"size\": 3, \"sha256\": \"" HEX_ABC
                          "\", \"mode\": 1}]}",
     KVC_MANIFEST_FIELD, "files[0]"},
    {"duplicate entry key", HDR "{\"name\": \"a\", \"name\": \"b\", \"size\": 3, \"sha256\": \""
                            HEX_ABC "\"}]}",
     KVC_MANIFEST_FIELD, "files[0]"},
    {"name a number", HDR ENTRY("7", "3", Q(HEX_ABC)) "]}", KVC_MANIFEST_FIELD, "files[0].name"},
    {"name null", HDR ENTRY("null", "3", Q(HEX_ABC)) "]}", KVC_MANIFEST_FIELD, "files[0].name"},
    {"size a string", HDR ENTRY(Q("a"), Q("3"), Q(HEX_ABC)) "]}", KVC_MANIFEST_FIELD,
     "files[0].size"},
    {"size a boolean", HDR ENTRY(Q("a"), "true", Q(HEX_ABC)) "]}", KVC_MANIFEST_FIELD,
     "files[0].size"},
    {"size an array", HDR ENTRY(Q("a"), "[3]", Q(HEX_ABC)) "]}", KVC_MANIFEST_FIELD,
     "files[0].size"},
    {"negative size", HDR ENTRY(Q("a"), "-1", Q(HEX_ABC)) "]}", KVC_MANIFEST_FIELD,
     "files[0].size"},
    {"negative zero size", HDR ENTRY(Q("a"), "-0", Q(HEX_ABC)) "]}", KVC_MANIFEST_FIELD,
     "files[0].size"},
    {"fractional size", HDR ENTRY(Q("a"), "1.5", Q(HEX_ABC)) "]}", KVC_MANIFEST_FIELD,
     "files[0].size"},
    {"size 2^53", HDR ENTRY(Q("a"), "9007199254740992", Q(HEX_ABC)) "]}", KVC_MANIFEST_FIELD,
     "files[0].size"},
    {"size 2^53+1", HDR ENTRY(Q("a"), "9007199254740993", Q(HEX_ABC)) "]}", KVC_MANIFEST_FIELD,
     "files[0].size"},
    {"size 1e400", HDR ENTRY(Q("a"), "1e400", Q(HEX_ABC)) "]}", KVC_MANIFEST_FIELD,
     "files[0].size"},
    {"sha256 a number", HDR ENTRY(Q("a"), "3", "12") "]}", KVC_MANIFEST_FIELD,
     "files[0].sha256"},
    {"sha256 63 digits", HDR ENTRY(Q("a"), "3",
                                   Q("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a"))
                             "]}",
     KVC_MANIFEST_HEX, "files[0].sha256"},
    {"sha256 65 digits",
     HDR ENTRY(Q("a"), "3", Q("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad0"))
         "]}",
     KVC_MANIFEST_HEX, "files[0].sha256"},
    {"sha256 non-hex", HDR ENTRY(Q("a"), "3",
                                 Q("ga7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"))
                           "]}",
     KVC_MANIFEST_HEX, "files[0].sha256"},
    {"sha256 empty", HDR ENTRY(Q("a"), "3", Q("")) "]}", KVC_MANIFEST_HEX, "files[0].sha256"},
    {"absolute path", HDR ENTRY(Q("/etc/passwd"), "3", Q(HEX_ABC)) "]}", KVC_MANIFEST_FIELD,
     "files[0].name"},
    {"dot-dot", HDR ENTRY(Q(".."), "3", Q(HEX_ABC)) "]}", KVC_MANIFEST_FIELD, "files[0].name"},
    {"leading dot-dot", HDR ENTRY(Q("../x"), "3", Q(HEX_ABC)) "]}", KVC_MANIFEST_FIELD,
     "files[0].name"},
    {"inner dot-dot", HDR ENTRY(Q("a/../../x"), "3", Q(HEX_ABC)) "]}", KVC_MANIFEST_FIELD,
     "files[0].name"},
    {"trailing dot-dot", HDR ENTRY(Q("a/.."), "3", Q(HEX_ABC)) "]}", KVC_MANIFEST_FIELD,
     "files[0].name"},
    {"dot component", HDR ENTRY(Q("./a"), "3", Q(HEX_ABC)) "]}", KVC_MANIFEST_FIELD,
     "files[0].name"},
    {"empty component", HDR ENTRY(Q("a//b"), "3", Q(HEX_ABC)) "]}", KVC_MANIFEST_FIELD,
     "files[0].name"},
    {"trailing slash", HDR ENTRY(Q("a/"), "3", Q(HEX_ABC)) "]}", KVC_MANIFEST_FIELD,
     "files[0].name"},
    {"empty name", HDR ENTRY(Q(""), "3", Q(HEX_ABC)) "]}", KVC_MANIFEST_FIELD, "files[0].name"},
    {"control character", HDR ENTRY(Q("a\\nb"), "3", Q(HEX_ABC)) "]}", KVC_MANIFEST_FIELD,
     "files[0].name"},
    {"duplicate names", HDR OK_ENTRY ", " ENTRY(Q("b"), "0", Q(HEX_EMPTY)) ", " OK_ENTRY "]}",
     KVC_MANIFEST_FIELD, "files[2].name"},
};
#define N_BAD ((int)(sizeof bad_cases / sizeof bad_cases[0]))

START_TEST(bad_manifest)
{
    const bad_case *c = &bad_cases[_i];
    kvc_manifest *m = (kvc_manifest *)&m;
    kvc_error err;
    kvc_error_clear(&err);
    kvc_status st = kvc_manifest_parse(c->text, strlen(c->text), "bad.json", &m, &err);
    ck_assert_msg(st == c->status, "%s: expected %s, got %s (%s)", c->id,
                  kvc_status_name(c->status), kvc_status_name(st), err.detail);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(err.status, c->status);
    ck_assert_str_eq(err.file, "bad.json");
    if (c->field != NULL)
        ck_assert_msg(strcmp(err.tensor, c->field) == 0, "%s: field '%s', expected '%s'", c->id,
                      err.tensor, c->field);
    ck_assert_msg(err.detail[0] != '\0', "%s: no detail", c->id);
}
END_TEST

/* The same cases through a file, as the CLI reads them. */
START_TEST(bad_manifest_file)
{
    const bad_case *c = &bad_cases[_i];
    write_bytes("bad.json", c->text, strlen(c->text));
    char p[700];
    kvc_manifest *m = NULL;
    kvc_error err;
    kvc_error_clear(&err);
    ck_assert_int_eq(kvc_manifest_read(tmp_path(p, sizeof p, "bad.json"), &m, &err), c->status);
    ck_assert_ptr_null(m);
    ck_assert_str_eq(err.file, p);
}
END_TEST

START_TEST(raw_nul_byte)
{
    static const char text[] = "{\"schema\": \"kvcert-manifest/1\",\0 \"files\": []}";
    kvc_manifest *m = NULL;
    kvc_error err;
    kvc_error_clear(&err);
    ck_assert_int_eq(kvc_manifest_parse(text, sizeof text - 1, "x", &m, &err), KVC_MANIFEST_JSON);
    ck_assert_int_eq(err.offset, 31);
    /* an escaped backslash followed by u0000 is just text, and valid */
    m = parse_ok(HDR ENTRY(Q("a\\\\u0000"), "3", Q(HEX_ABC)) "]}");
    ck_assert_str_eq(kvc_manifest_entry_at(m, 0)->name, "a\\u0000");
    kvc_manifest_destroy(m);
}
END_TEST

START_TEST(check_name_rules)
{
    static const char *const good[] = {"a", "a/b", "a.b", "...", ".hidden", "a/.b/c..",
                                       "model-00002-of-00046.safetensors"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        ck_assert_msg(kvc_manifest_check_name(good[i], NULL) == KVC_OK, "%s", good[i]);
    for (size_t i = 0; i < sizeof bad_writer_names / sizeof bad_writer_names[0]; i++)
        ck_assert_int_eq(kvc_manifest_check_name(bad_writer_names[i], NULL), KVC_MANIFEST_FIELD);
    ck_assert_int_eq(kvc_manifest_check_name(NULL, NULL), KVC_MANIFEST_FIELD);
    char *longname = malloc(KVC_MANIFEST_MAX_NAME + 2);
    ck_assert_ptr_nonnull(longname);
    memset(longname, 'x', KVC_MANIFEST_MAX_NAME + 1);
    longname[KVC_MANIFEST_MAX_NAME + 1] = '\0';
    ck_assert_int_eq(kvc_manifest_check_name(longname, NULL), KVC_MANIFEST_FIELD);
    longname[KVC_MANIFEST_MAX_NAME] = '\0';
    ck_assert_int_eq(kvc_manifest_check_name(longname, NULL), KVC_OK);
    free(longname);
}
END_TEST

static Suite *manifest_suite(void)
{
    Suite *s = suite_create("manifest");
    TCase *tc = tcase_create("write_verify");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, write_exact_bytes);
    tcase_add_test(tc, write_empty_list);
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, verify_outcomes);
    tcase_add_test(tc, verify_not_regular_is_error);
    tcase_add_loop_test(tc, threads_agree, 0,
                        (int)(sizeof thread_counts / sizeof thread_counts[0]));
    tcase_add_test(tc, verify_dir_with_slash_and_null);
    tcase_add_test(tc, write_missing_input_leaves_nothing);
    tcase_add_loop_test(tc, write_bad_name_leaves_nothing, 0,
                        (int)(sizeof bad_writer_names / sizeof bad_writer_names[0]));
    tcase_add_test(tc, write_duplicate_names_leaves_nothing);
    tcase_add_test(tc, write_into_missing_dir);
    suite_add_tcase(s, tc);

    tc = tcase_create("read");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, read_missing_file);
    tcase_add_test(tc, read_too_large);
    tcase_add_test(tc, read_upper_case_hex_and_limits);
    tcase_add_test(tc, read_utf8_name);
    tcase_add_loop_test(tc, bad_manifest, 0, N_BAD);
    tcase_add_loop_test(tc, bad_manifest_file, 0, N_BAD);
    tcase_add_test(tc, raw_nul_byte);
    tcase_add_test(tc, check_name_rules);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return kvc_test_run(manifest_suite());
}
