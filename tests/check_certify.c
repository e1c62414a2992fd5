/* Tests for cert/: the case schema (every malformed file its own clear
 * error), the tolerance kinds, the runner's input checks (size, SHA-256,
 * missing), must-fail semantics (expected status AND nothing written),
 * search templates and pinning, the JSON report and TAP output.
 *
 * Oracles: digests from OpenSSL's one-shot EVP_Digest over the bytes the
 * test wrote; boundaries of the tolerance kinds from nextafter() around
 * values computed here with the same single binary64 operation the
 * definition names (cert/case.h); statuses from the schema's text. */
#include <dirent.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "cert/case.h"
#include "cert/certify.h"
#include "cert/internal.h"
#include "io/safetensors.h"
#include "testutil.h"

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

static const char *tpath(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", tmpdir, name);
    return buf;
}

static void write_file(const char *name, const void *data, size_t n)
{
    char path[700];
    FILE *f = fopen(tpath(path, sizeof path, name), "wb");
    ck_assert_ptr_nonnull(f);
    if (n > 0)
        ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

static void write_text(const char *name, const char *text)
{
    write_file(name, text, strlen(text));
}

static void sha_hex(const void *data, size_t n, char hex[65])
{
    unsigned char md[32];
    unsigned int len = 0;
    ck_assert_int_eq(EVP_Digest(data, n, md, &len, EVP_sha256(), NULL), 1);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    char *buf = malloc(1 << 22);
    ck_assert_ptr_nonnull(buf);
    *len = fread(buf, 1, (1 << 22) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

/* A tiny valid safetensors file (kvcert's writer), its size and digest. */
static void make_shard(const char *name, char hex[65], size_t *size)
{
    uint16_t v[8] = {0x3f80, 0x4000, 0x4040, 0x4080, 0x3f80, 0x4000, 0x4040, 0x4080};
    int64_t shape[1] = {8};
    kvc_st_writer *w = kvc_st_writer_create();
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(kvc_st_writer_add(w, "g", KVC_DT_BF16, 1, shape, v, NULL), KVC_OK);
    char path[700];
    ck_assert_int_eq(kvc_st_writer_write(w, tpath(path, sizeof path, name), NULL), KVC_OK);
    kvc_st_writer_destroy(w);
    char *bytes = read_all(path, size);
    sha_hex(bytes, *size, hex);
    free(bytes);
}

/* ------------------------------------------------------------ schema */

/* A valid case; the table below breaks it one way per row. */
static const char base_case[] =
    "{\"schema\": \"kvcert-case/1\", \"id\": \"t1\", \"comment\": \"c\", \"flags\": [],\n"
    " \"kind\": \"must-fail\",\n"
    " \"inputs\": [{\"role\": \"shard\", \"path\": \"x.safetensors\", \"size\": 3,\n"
    "   \"sha256\": \"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"}],\n"
    " \"profile\": null, \"backend\": \"any\",\n"
    " \"parameters\": {\"operation\": \"inspect\", \"input\": \"shard\", \"output\": \"o.json\"},\n"
    " \"expected\": [{\"path\": \"$.tensors\", \"value\": 1, \"tolerance\": \"exact\"}],\n"
    " \"result\": \"valid\"}\n";

typedef struct bad_row {
    const char *what;
    const char *find;    /* replaced once in base_case */
    const char *replace;
    kvc_status status;
    const char *detail;  /* must appear in the formatted error */
} bad_row;

static const bad_row bad_rows[] = {
    {"unknown schema version", "kvcert-case/1", "kvcert-case/2", KVC_CASE_SCHEMA, "kvcert-case/2"},
    {"schema missing", "\"schema\": \"kvcert-case/1\", ", "", KVC_CASE_SCHEMA, "$.schema"},
    {"schema not a string", "\"kvcert-case/1\"", "1", KVC_CASE_SCHEMA, "$.schema"},
    {"unknown top-level key", "\"flags\": []", "\"flags\": [], \"colour\": 1",
     KVC_CASE_UNKNOWN_KEY, "$.colour"},
    {"unknown input key", "\"size\": 3", "\"size\": 3, \"colour\": 1", KVC_CASE_UNKNOWN_KEY,
     "$.inputs[0].colour"},
    {"unknown assertion key", "\"tolerance\": \"exact\"}",
     "\"tolerance\": \"exact\", \"ulps\": 1}", KVC_CASE_UNKNOWN_KEY, "$.expected[0].ulps"},
    {"unknown parameter", "\"output\": \"o.json\"", "\"output\": \"o.json\", \"x\": 1",
     KVC_CASE_UNKNOWN_KEY, "$.parameters.x"},
    {"not JSON", "\"result\": \"valid\"}", "\"result\": \"valid\",}", KVC_CASE_JSON, "syntax"},
    {"text after the value", "\"result\": \"valid\"}", "\"result\": \"valid\"} {}",
     KVC_CASE_JSON, "text after"},
    {"NUL byte", "\"comment\": \"c\"", "\"comment\": \"c\0\"", KVC_CASE_JSON, "NUL"},
    {"invalid UTF-8", "\"comment\": \"c\"", "\"comment\": \"\xc3\x28\"", KVC_CASE_JSON, "UTF-8"},
    {"key twice", "\"flags\": []", "\"flags\": [], \"flags\": []", KVC_CASE_FIELD, "twice"},
    {"id with capitals", "\"id\": \"t1\"", "\"id\": \"T1\"", KVC_CASE_FIELD, "$.id"},
    {"comment missing", "\"comment\": \"c\", ", "", KVC_CASE_FIELD, "$.comment: missing"},
    {"unknown kind", "\"must-fail\"", "\"must_fail\"", KVC_CASE_FIELD, "unknown kind"},
    {"sha256 of 63 digits", "20015ad\"", "20015a\"", KVC_CASE_FIELD, "$.inputs[0].sha256"},
    {"sha256 with a non-hex digit", "ba7816bf", "za7816bf", KVC_CASE_FIELD, "$.inputs[0].sha256"},
    {"negative size", "\"size\": 3", "\"size\": -3", KVC_CASE_FIELD, "$.inputs[0].size"},
    {"fractional size", "\"size\": 3", "\"size\": 3.5", KVC_CASE_FIELD, "$.inputs[0].size"},
    {"size 2^53", "\"size\": 3", "\"size\": 9007199254740992", KVC_CASE_FIELD,
     "$.inputs[0].size"},
    {"size missing", "\"size\": 3,", "", KVC_CASE_FIELD, "$.inputs[0].size: missing"},
    {"input of no form", "\"path\": \"x.safetensors\", ", "", KVC_CASE_FIELD, "\"name\""},
    {"role twice", "\"inputs\": [{", "\"inputs\": [{\"role\": \"shard\", \"path\": \"y\", "
     "\"size\": 1, \"sha256\": \"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"}, {",
     KVC_CASE_FIELD, "role \"shard\""},
    {"unknown tolerance", "\"exact\"", "\"ulp\"", KVC_CASE_FIELD, "unknown tolerance"},
    {"absolute without bound", "\"tolerance\": \"exact\"", "\"tolerance\": \"absolute\"",
     KVC_CASE_FIELD, "\"bound\""},
    {"exact with a bound", "\"tolerance\": \"exact\"", "\"tolerance\": \"exact\", \"bound\": 1",
     KVC_CASE_FIELD, "neither"},
    {"published_ci95 of a string", "\"value\": 1, \"tolerance\": \"exact\"",
     "\"value\": \"a\", \"tolerance\": \"published_ci95\", \"ci95_hw\": 1", KVC_CASE_FIELD,
     "finite number"},
    {"negative bound", "\"tolerance\": \"exact\"", "\"tolerance\": \"absolute\", \"bound\": -1",
     KVC_CASE_FIELD, "$.expected[0].bound"},
    {"bad JSON path", "\"$.tensors\"", "\"tensors\"", KVC_CASE_FIELD, "not a JSON path"},
    {"bad JSON path index", "\"$.tensors\"", "\"$.tensors[01]\"", KVC_CASE_FIELD,
     "not a JSON path"},
    {"unknown status name", "\"result\": \"valid\"", "\"result\": {\"invalid\": \"NO_SUCH\"}",
     KVC_CASE_FIELD, "NO_SUCH"},
    {"invalid OK", "\"result\": \"valid\"", "\"result\": {\"invalid\": \"OK\"}", KVC_CASE_FIELD,
     "$.result.invalid"},
    {"result neither", "\"result\": \"valid\"", "\"result\": \"passes\"", KVC_CASE_FIELD,
     "$.result"},
    {"must fail with assertions", "\"result\": \"valid\"",
     "\"result\": {\"invalid\": \"ST_TRUNCATED\"}", KVC_CASE_FIELD, "asserts no values"},
    {"valid with no assertion", "{\"path\": \"$.tensors\", \"value\": 1, \"tolerance\": \"exact\"}",
     "", KVC_CASE_FIELD, "at least one"},
    {"unknown profile", "\"profile\": null", "\"profile\": \"fast\"", KVC_CASE_FIELD,
     "$.profile"},
    {"unknown backend", "\"backend\": \"any\"", "\"backend\": \"tpu\"", KVC_CASE_FIELD,
     "unknown backend"},
    {"unknown operation", "\"inspect\"", "\"open\"", KVC_CASE_FIELD, "unknown operation"},
    {"parameter naming no input", "\"input\": \"shard\"", "\"input\": \"other\"",
     KVC_CASE_FIELD, "no input has the role"},
    {"flag not a string", "\"flags\": []", "\"flags\": [1]", KVC_CASE_FIELD, "$.flags[0]"},
    {"not an object", "{\"schema\"", "[{\"schema\"", KVC_CASE_JSON, "syntax"},
};

static char *replace_once(const char *text, size_t tlen, const char *find, const char *rep,
                          size_t replen, size_t *outlen)
{
    const char *at = strstr(text, find);
    ck_assert_msg(at != NULL, "'%s' not in the base case", find);
    size_t flen = strlen(find), pre = (size_t)(at - text);
    char *out = malloc(tlen - flen + replen + 1);
    ck_assert_ptr_nonnull(out);
    memcpy(out, text, pre);
    memcpy(out + pre, rep, replen);
    memcpy(out + pre + replen, at + flen, tlen - pre - flen);
    *outlen = tlen - flen + replen;
    out[*outlen] = '\0';
    return out;
}

START_TEST(base_case_is_valid)
{
    kvc_case *c = NULL;
    kvc_error err;
    kvc_error_clear(&err);
    ck_assert_int_eq(kvc_case_parse(base_case, strlen(base_case), "/d/t1.json", &c, &err), KVC_OK);
    ck_assert_str_eq(c->id, "t1");
    ck_assert_int_eq(c->kind, KVC_CASE_MUST_FAIL);
    ck_assert_str_eq(c->dir, "/d");
    ck_assert_uint_eq(c->n_inputs, 1);
    ck_assert_int_eq(c->inputs[0].pinned, 1);
    ck_assert_uint_eq(c->inputs[0].size, 3);
    ck_assert_uint_eq(c->n_expected, 1);
    ck_assert_int_eq(c->expect_valid, 1);
    kvc_case_destroy(c);
}
END_TEST

START_TEST(malformed_case)
{
    const bad_row *row = &bad_rows[_i];
    /* The replacement may hold a NUL: its length comes from sizeof where
     * the row is the NUL one. */
    size_t replen = strcmp(row->what, "NUL byte") == 0 ? sizeof "\"comment\": \"c\0\"" - 1
                                                       : strlen(row->replace);
    size_t len = 0;
    char *text = replace_once(base_case, strlen(base_case), row->find, row->replace, replen, &len);
    kvc_case *c = NULL;
    kvc_error err;
    kvc_error_clear(&err);
    kvc_status st = kvc_case_parse(text, len, "/d/t1.json", &c, &err);
    char buf[1500];
    kvc_error_format(&err, buf, sizeof buf);
    ck_assert_msg(st == row->status, "%s: got %s (%s), want %s", row->what, kvc_status_name(st),
                  buf, kvc_status_name(row->status));
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(buf, row->detail) != NULL, "%s: '%s' lacks '%s'", row->what, buf,
                  row->detail);
    ck_assert_str_eq(err.file, "/d/t1.json");
    free(text);
}
END_TEST

START_TEST(case_load_errors)
{
    kvc_case *c = NULL;
    kvc_error err;
    kvc_error_clear(&err);
    char path[700];
    ck_assert_int_eq(kvc_case_load(tpath(path, sizeof path, "absent.json"), &c, &err), KVC_OPEN);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(kvc_case_load(tmpdir, &c, &err), KVC_OPEN); /* a folder */
    write_text("t1.json", base_case);
    ck_assert_int_eq(kvc_case_load(tpath(path, sizeof path, "t1.json"), &c, &err), KVC_OK);
    ck_assert_str_eq(c->dir, tmpdir);
    kvc_case_destroy(c);
}
END_TEST

START_TEST(json_paths)
{
    static const char *const good[] = {"$", "$.a", "$.a.b", "$[0]", "$.a[12].b", "$.38",
                                       "$.a b (c)"};
    static const char *const bad[] = {"", "a", "$.", "$..a", "$[", "$[]", "$[x]", "$[01]",
                                      "$a", "$.a]", "$[1"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        ck_assert_msg(kvc_case_path_check(good[i]) == 0, "%s", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_msg(kvc_case_path_check(bad[i]) != 0, "%s", bad[i]);
}
END_TEST

/* ------------------------------------------------------------ tolerances */

static kvc_case_assertion num_assert(double v, kvc_tolerance t, double bound, double hw)
{
    kvc_case_assertion a;
    memset(&a, 0, sizeof a);
    a.path = (char *)"$.x";
    a.value.type = isnan(v) ? KVC_VAL_NAN : KVC_VAL_NUMBER;
    a.value.num = v;
    a.tolerance = t;
    a.bound = bound;
    a.ci95_hw = hw;
    return a;
}

static int holds(const kvc_case_assertion *a, double got)
{
    kvc_value g;
    memset(&g, 0, sizeof g);
    g.type = isnan(got) ? KVC_VAL_NAN : KVC_VAL_NUMBER;
    g.num = got;
    char detail[512];
    int ok = kvc_cert_compare(a, &g, detail, sizeof detail);
    /* A failure always explains itself, numbers in hex too. */
    ck_assert(ok || strstr(detail, "expected") != NULL);
    ck_assert(ok || strstr(detail, "0x") != NULL);
    return ok;
}

START_TEST(exact_numbers)
{
    kvc_case_assertion a = num_assert(0.0, KVC_TOL_EXACT, 0, 0);
    ck_assert(holds(&a, 0.0));
    ck_assert(!holds(&a, -0.0)); /* bit patterns differ */
    a = num_assert(-0.0, KVC_TOL_EXACT, 0, 0);
    ck_assert(holds(&a, -0.0));
    ck_assert(!holds(&a, 0.0));
    a = num_assert(1.0, KVC_TOL_EXACT, 0, 0);
    ck_assert(holds(&a, 1.0));
    ck_assert(!holds(&a, nextafter(1.0, 2.0)));
    ck_assert(!holds(&a, nextafter(1.0, 0.0)));
    ck_assert(!holds(&a, NAN));
    a = num_assert(0.7899826095204807, KVC_TOL_EXACT, 0, 0);
    ck_assert(holds(&a, 0.7899826095204807));
    ck_assert(!holds(&a, nextafter(0.7899826095204807, 1.0)));
    a = num_assert(NAN, KVC_TOL_EXACT, 0, 0); /* null in a case file */
    ck_assert(holds(&a, NAN));
    ck_assert(holds(&a, -NAN));
    ck_assert(!holds(&a, 0.0));
    ck_assert(!holds(&a, INFINITY));
    a = num_assert(INFINITY, KVC_TOL_EXACT, 0, 0);
    ck_assert(holds(&a, INFINITY));
    ck_assert(!holds(&a, -INFINITY));
    ck_assert(!holds(&a, DBL_MAX));
    /* a smallest subnormal is not zero */
    a = num_assert(4.9406564584124654e-324, KVC_TOL_EXACT, 0, 0);
    ck_assert(!holds(&a, 0.0));
    ck_assert(holds(&a, nextafter(0.0, 1.0)));
}
END_TEST

START_TEST(exact_other_types)
{
    kvc_case_assertion a;
    memset(&a, 0, sizeof a);
    a.path = (char *)"$.x";
    a.tolerance = KVC_TOL_EXACT;
    a.value.type = KVC_VAL_STRING;
    a.value.str = "abc";
    kvc_value g;
    memset(&g, 0, sizeof g);
    char d[512];
    g.type = KVC_VAL_STRING;
    g.str = "abc";
    ck_assert(kvc_cert_compare(&a, &g, d, sizeof d));
    g.str = "ABC"; /* not a digest: case matters */
    ck_assert(!kvc_cert_compare(&a, &g, d, sizeof d));
    g.type = KVC_VAL_NUMBER;
    ck_assert(!kvc_cert_compare(&a, &g, d, sizeof d));
    g.type = KVC_VAL_MISSING;
    ck_assert(!kvc_cert_compare(&a, &g, d, sizeof d));
    ck_assert(strstr(d, "leads nowhere") != NULL);
    /* digests: 64 hex digits compare ignoring case */
    a.value.str = "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD";
    g.type = KVC_VAL_STRING;
    g.str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    ck_assert(kvc_cert_compare(&a, &g, d, sizeof d));
    g.str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ae";
    ck_assert(!kvc_cert_compare(&a, &g, d, sizeof d));
    g.str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015";
    ck_assert(!kvc_cert_compare(&a, &g, d, sizeof d));
    a.value.type = KVC_VAL_BOOL;
    a.value.boolean = 1;
    g.type = KVC_VAL_BOOL;
    g.boolean = 1;
    ck_assert(kvc_cert_compare(&a, &g, d, sizeof d));
    g.boolean = 0;
    ck_assert(!kvc_cert_compare(&a, &g, d, sizeof d));
    g.type = KVC_VAL_NUMBER;
    g.num = 1.0;
    ck_assert(!kvc_cert_compare(&a, &g, d, sizeof d));
}
END_TEST

START_TEST(absolute_and_relative)
{
    /* |got - 1| <= 0.5, the difference rounded once in binary64: the
     * ends 0.5 and 1.5 hold; 1.5 + 1 ulp differs by 0.5 + 2^-52 (exact)
     * and fails. Below 0.5, one ulp (2^-54) makes 1 - got = 0.5 + 2^-54,
     * a tie that rounds to 0.5, so it still holds; two ulps do not. */
    kvc_case_assertion a = num_assert(1.0, KVC_TOL_ABSOLUTE, 0.5, 0);
    ck_assert(holds(&a, 1.5));
    ck_assert(holds(&a, 0.5));
    ck_assert(!holds(&a, nextafter(1.5, 2.0)));
    ck_assert(holds(&a, nextafter(0.5, 0.0)));
    ck_assert(!holds(&a, nextafter(nextafter(0.5, 0.0), 0.0)));
    ck_assert(!holds(&a, NAN));
    ck_assert(!holds(&a, INFINITY));
    a = num_assert(1.0, KVC_TOL_ABSOLUTE, 0.0, 0); /* bound 0: equal values only */
    ck_assert(holds(&a, 1.0));
    ck_assert(!holds(&a, nextafter(1.0, 2.0)));
    /* relative: bound * |value| = 0.25 * 2 = 0.5 */
    a = num_assert(-2.0, KVC_TOL_RELATIVE, 0.25, 0);
    ck_assert(holds(&a, -2.5));
    ck_assert(holds(&a, -1.5));
    ck_assert(!holds(&a, nextafter(-2.5, -3.0)));
    ck_assert(!holds(&a, 2.0));
    ck_assert(!holds(&a, NAN));
    a = num_assert(0.0, KVC_TOL_RELATIVE, 0.25, 0); /* relative to 0: only 0 */
    ck_assert(holds(&a, 0.0));
    ck_assert(holds(&a, -0.0));
    ck_assert(!holds(&a, 4.9406564584124654e-324));
}
END_TEST

START_TEST(published_ci95_boundaries)
{
    /* The published SWA ratio and half-width; the ends are one binary64
     * subtraction and one addition, both included. */
    const double mean = 0.7899826095204807, hw = 0.004668667181434451;
    const double lo = mean - hw, hi = mean + hw;
    kvc_case_assertion a = num_assert(mean, KVC_TOL_PUBLISHED_CI95, 0, hw);
    ck_assert(holds(&a, mean));
    ck_assert(holds(&a, lo));
    ck_assert(holds(&a, hi));
    ck_assert(!holds(&a, nextafter(lo, 0.0)));
    ck_assert(!holds(&a, nextafter(hi, 1.0)));
    ck_assert(!holds(&a, NAN));
    ck_assert(!holds(&a, INFINITY));
    ck_assert(kvc_cert_within_ci95(hi, mean, hw));
    ck_assert(!kvc_cert_within_ci95(nextafter(hi, 1.0), mean, hw));
    /* hw = 0: the mean itself only */
    a = num_assert(1.0430402372519307, KVC_TOL_PUBLISHED_CI95, 0, 0.0);
    ck_assert(holds(&a, 1.0430402372519307));
    ck_assert(!holds(&a, nextafter(1.0430402372519307, 2.0)));
}
END_TEST

/* cJSON prints 12.352978776819999 (0x4028b4b9a25d3f7a) as
 * 12.35297877682, which reads back one ulp away; kvcert's printing must
 * not lose it. */
START_TEST(exact_number_printing)
{
    const double v = 12.352978776819999;
    cJSON *o = cJSON_CreateObject();
    cJSON *inner = cJSON_AddObjectToObject(o, "a");
    cJSON_AddNumberToObject(inner, "v", v);
    cJSON_AddNumberToObject(o, "nan", NAN);
    cJSON_AddNumberToObject(o, "one", 1.0);
    ck_assert_int_eq(kvc__cert_exact_numbers(o), 0);
    char *text = cJSON_PrintUnformatted(o);
    ck_assert_ptr_nonnull(text);
    cJSON *back = cJSON_Parse(text);
    ck_assert_ptr_nonnull(back);
    double got = cJSON_GetObjectItem(cJSON_GetObjectItem(back, "a"), "v")->valuedouble;
    ck_assert_msg(memcmp(&got, &v, sizeof v) == 0, "%s", text);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(back, "nan")));
    ck_assert(cJSON_GetObjectItem(back, "one")->valuedouble == 1.0);
    cJSON_Delete(back);
    free(text);
    cJSON_Delete(o);
}
END_TEST

START_TEST(format_number)
{
    char buf[64];
    ck_assert_str_eq(kvc_cert_format_number(0.5, buf, sizeof buf), "0.5 (0x3fe0000000000000)");
    ck_assert_str_eq(kvc_cert_format_number(-0.0, buf, sizeof buf), "-0 (0x8000000000000000)");
    ck_assert(kvc_cert_exact_equal(NAN, -NAN));
    ck_assert(!kvc_cert_exact_equal(0.0, -0.0));
}
END_TEST

/* ------------------------------------------------------------ the runner */

/* A must-fail-kind case with one file input. */
static kvc_case *inspect_case(const char *id, const char *path, size_t size, const char *hex,
                              const char *result, int with_assertion)
{
    char text[4096];
    snprintf(text, sizeof text,
             "{\"schema\": \"kvcert-case/1\", \"id\": \"%s\", \"comment\": \"c\", \"flags\": [],"
             " \"kind\": \"must-fail\","
             " \"inputs\": [{\"role\": \"shard\", \"path\": \"%s\", \"size\": %zu, \"sha256\": \"%s\"}],"
             " \"profile\": null, \"backend\": \"any\","
             " \"parameters\": {\"operation\": \"inspect\", \"input\": \"shard\", \"output\": \"o.json\"},"
             " \"expected\": [%s], \"result\": %s}",
             id, path, size, hex,
             with_assertion ? "{\"path\": \"$.tensors\", \"value\": 1, \"tolerance\": \"exact\"}" : "",
             result);
    char file[700];
    snprintf(file, sizeof file, "%s/%s.json", tmpdir, id);
    kvc_case *c = NULL;
    kvc_error err;
    kvc_error_clear(&err);
    kvc_status st = kvc_case_parse(text, strlen(text), file, &c, &err);
    char buf[1200];
    ck_assert_msg(st == KVC_OK, "%s", kvc_error_format(&err, buf, sizeof buf));
    return c;
}

static kvc_cert_result *run_case(const kvc_case *c)
{
    char scratch[700];
    tpath(scratch, sizeof scratch, "scratch");
    mkdir(scratch, 0700);
    kvc_cert_options opt;
    memset(&opt, 0, sizeof opt);
    opt.tmpdir = scratch;
    kvc_cert_result *r = NULL;
    ck_assert_int_eq(kvc_cert_run(c, &opt, &r, NULL), KVC_OK);
    ck_assert_ptr_nonnull(r);
    /* the run's scratch folder is gone, whatever the outcome */
    DIR *d = opendir(scratch);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    int entries = 0;
    while ((e = readdir(d)) != NULL)
        entries += e->d_name[0] != '.';
    closedir(d);
    ck_assert_int_eq(entries, 0);
    return r;
}

START_TEST(run_valid_and_output_detected)
{
    char hex[65];
    size_t size;
    make_shard("good.safetensors", hex, &size);
    kvc_case *c = inspect_case("ok", "good.safetensors", size, hex, "\"valid\"", 1);
    kvc_cert_result *r = run_case(c);
    ck_assert_int_eq(r->outcome, KVC_CERT_PASS);
    ck_assert_int_eq(r->status, KVC_OK);
    ck_assert_int_eq(r->ran, 1);
    /* the operation wrote its output: the detector sees it */
    ck_assert_int_eq(r->output_written, 1);
    ck_assert_str_eq(r->output_name, "o.json");
    ck_assert_int_eq(r->inputs[0].hashed, 1);
    ck_assert_int_eq(r->inputs[0].status, KVC_OK);
    ck_assert_uint_eq(r->n_asserts, 1);
    ck_assert_int_eq(r->asserts[0].pass, 1);
    kvc_cert_result_destroy(r);
    kvc_case_destroy(c);
}
END_TEST

START_TEST(run_hash_mismatch_refused)
{
    char hex[65];
    size_t size;
    make_shard("good.safetensors", hex, &size);
    char wrong[65];
    memcpy(wrong, hex, 65);
    wrong[10] = wrong[10] == '0' ? '1' : '0';
    kvc_case *c = inspect_case("bad-hash", "good.safetensors", size, wrong, "\"valid\"", 1);
    kvc_cert_result *r = run_case(c);
    ck_assert_int_eq(r->outcome, KVC_CERT_FAIL);
    ck_assert_int_eq(r->status, KVC_INPUT_HASH_MISMATCH);
    ck_assert_int_eq(r->ran, 0); /* refused before the operation */
    ck_assert_int_eq(r->inputs[0].status, KVC_INPUT_HASH_MISMATCH);
    ck_assert_msg(strstr(r->reason, "good.safetensors") != NULL, "%s", r->reason);
    ck_assert_msg(strstr(r->reason, "INPUT_HASH_MISMATCH") != NULL, "%s", r->reason);
    ck_assert_msg(strstr(r->reason, hex) != NULL, "%s", r->reason); /* the digest got */
    ck_assert_msg(strstr(r->reason, wrong) != NULL, "%s", r->reason);
    ck_assert_int_eq(r->output_written, 0);
    kvc_cert_result_destroy(r);
    kvc_case_destroy(c);
    /* the same refusal is what a must-fail case can expect */
    c = inspect_case("bad-hash-expected", "good.safetensors", size, wrong,
                     "{\"invalid\": \"INPUT_HASH_MISMATCH\"}", 0);
    r = run_case(c);
    ck_assert_int_eq(r->outcome, KVC_CERT_PASS);
    kvc_cert_result_destroy(r);
    kvc_case_destroy(c);
}
END_TEST

START_TEST(run_size_mismatch_not_hashed)
{
    char hex[65];
    size_t size;
    make_shard("good.safetensors", hex, &size);
    kvc_case *c = inspect_case("bad-size", "good.safetensors", size + 1, hex, "\"valid\"", 1);
    kvc_cert_result *r = run_case(c);
    ck_assert_int_eq(r->outcome, KVC_CERT_FAIL);
    ck_assert_int_eq(r->status, KVC_INPUT_SIZE_MISMATCH);
    ck_assert_int_eq(r->inputs[0].hashed, 0);
    ck_assert_int_eq(r->inputs[0].checked, 1);
    ck_assert_uint_eq(r->inputs[0].size, size);
    ck_assert_msg(strstr(r->reason, "good.safetensors") != NULL, "%s", r->reason);
    kvc_cert_result_destroy(r);
    kvc_case_destroy(c);
}
END_TEST

START_TEST(run_missing_input)
{
    kvc_case *c = inspect_case("absent", "absent.safetensors", 3,
                               "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                               "\"valid\"", 1);
    kvc_cert_result *r = run_case(c);
    ck_assert_int_eq(r->outcome, KVC_CERT_FAIL);
    ck_assert_int_eq(r->status, KVC_OPEN);
    ck_assert_msg(strstr(r->reason, "absent.safetensors") != NULL, "%s", r->reason);
    kvc_cert_result_destroy(r);
    kvc_case_destroy(c);
}
END_TEST

START_TEST(run_must_fail_semantics)
{
    /* "abc" is no safetensors file: ST_TOO_SHORT, and nothing written */
    write_text("abc.safetensors", "abc");
    const char *hex_abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    kvc_case *c = inspect_case("short", "abc.safetensors", 3, hex_abc,
                               "{\"invalid\": \"ST_TOO_SHORT\"}", 0);
    kvc_cert_result *r = run_case(c);
    ck_assert_int_eq(r->outcome, KVC_CERT_PASS);
    ck_assert_int_eq(r->status, KVC_ST_TOO_SHORT);
    ck_assert_int_eq(r->output_written, 0);
    kvc_cert_result_destroy(r);
    kvc_case_destroy(c);
    /* another status than the expected one: FAIL naming both */
    c = inspect_case("short-wrong", "abc.safetensors", 3, hex_abc,
                     "{\"invalid\": \"ST_HEADER_JSON\"}", 0);
    r = run_case(c);
    ck_assert_int_eq(r->outcome, KVC_CERT_FAIL);
    ck_assert_msg(strstr(r->reason, "expected ST_HEADER_JSON, got ST_TOO_SHORT") != NULL, "%s",
                  r->reason);
    kvc_cert_result_destroy(r);
    kvc_case_destroy(c);
    /* the operation succeeds where it must fail: FAIL */
    char hex[65];
    size_t size;
    make_shard("good.safetensors", hex, &size);
    c = inspect_case("no-failure", "good.safetensors", size, hex,
                     "{\"invalid\": \"ST_TRUNCATED\"}", 0);
    r = run_case(c);
    ck_assert_int_eq(r->outcome, KVC_CERT_FAIL);
    ck_assert_msg(strstr(r->reason, "but the run succeeded") != NULL, "%s", r->reason);
    ck_assert_int_eq(r->output_written, 1);
    kvc_cert_result_destroy(r);
    kvc_case_destroy(c);
}
END_TEST

START_TEST(backend_hook)
{
    kvc_cert_backend b = KVC_CERT_BACKEND_CUDA;
    struct kvc_backend *cuda = NULL;
    kvc_error err;
    kvc_error_clear(&err);
    ck_assert_int_eq(kvc_cert_backend_select("cpu", &b, &cuda, &err), KVC_OK);
    ck_assert_int_eq(b, KVC_CERT_BACKEND_CPU);
    ck_assert_ptr_null(cuda);
    ck_assert_int_eq(kvc_cert_backend_select("tpu", &b, &cuda, &err), KVC_USAGE);
    /* auto never fails: both with a device, the CPU alone without */
    ck_assert_int_eq(kvc_cert_backend_select("auto", &b, &cuda, &err), KVC_OK);
    ck_assert(b == (cuda != NULL ? KVC_CERT_BACKEND_BOTH : KVC_CERT_BACKEND_CPU));
    int have_cuda = cuda != NULL;
    kvc_cert_backend_release(cuda);
    kvc_status st = kvc_cert_backend_select("cuda", &b, &cuda, &err);
    if (have_cuda) {
        ck_assert_int_eq(st, KVC_OK);
        ck_assert_int_eq(b, KVC_CERT_BACKEND_CUDA);
        kvc_cert_backend_release(cuda);
    } else {
        /* no CUDA build, or no device */
        ck_assert(st == KVC_BACKEND_UNAVAILABLE || st == KVC_CUDA_NO_DEVICE);
        ck_assert_ptr_null(cuda);
    }
    /* a case that needs CUDA skips on the CPU */
    char hex[65];
    size_t size;
    make_shard("good.safetensors", hex, &size);
    kvc_case *c = inspect_case("cuda-only", "good.safetensors", size, hex, "\"valid\"", 1);
    c->backend = KVC_CASE_BACKEND_CUDA;
    kvc_cert_result *r = run_case(c);
    ck_assert_int_eq(r->outcome, KVC_CERT_SKIP);
    ck_assert_msg(strstr(r->reason, "cuda") != NULL, "%s", r->reason);
    kvc_cert_result_destroy(r);
    kvc_case_destroy(c);
}
END_TEST

/* ------------------------------------------------------------ search and pins */

static kvc_case *search_case(const char *id, const char *templates)
{
    char text[4096];
    snprintf(text, sizeof text,
             "{\"schema\": \"kvcert-case/1\", \"id\": \"%s\", \"comment\": \"c\", \"flags\": [],"
             " \"kind\": \"must-fail\","
             " \"inputs\": [{\"role\": \"shard\", \"name\": \"good.safetensors\", \"search\": [%s],"
             "   \"obtain\": \"make it with the test\", \"size\": null, \"sha256\": null}],"
             " \"profile\": null, \"backend\": \"any\","
             " \"parameters\": {\"operation\": \"inspect\", \"input\": \"shard\", \"output\": \"o.json\"},"
             " \"expected\": [{\"path\": \"$.tensors\", \"value\": 1, \"tolerance\": \"exact\"}],"
             " \"result\": \"valid\"}",
             id, templates);
    char file[700];
    snprintf(file, sizeof file, "%s/%s.json", tmpdir, id);
    write_text(strrchr(file, '/') + 1, text);
    kvc_case *c = NULL;
    kvc_error err;
    kvc_error_clear(&err);
    char buf[1200];
    ck_assert_msg(kvc_case_load(file, &c, &err) == KVC_OK, "%s",
                  kvc_error_format(&err, buf, sizeof buf));
    return c;
}

START_TEST(search_and_pin)
{
    char dir[700], hex[65];
    size_t size;
    tpath(dir, sizeof dir, "snapshots");
    mkdir(dir, 0755);
    tpath(dir, sizeof dir, "snapshots/rev-b");
    mkdir(dir, 0755);
    tpath(dir, sizeof dir, "snapshots/rev-a"); /* searched first ("*" in byte order) but empty */
    mkdir(dir, 0755);
    make_shard("snapshots/rev-b/good.safetensors", hex, &size);
    setenv("KVC_TEST_ROOT", tmpdir, 1);
    unsetenv("KVC_TEST_UNSET");
    kvc_case *c = search_case("found", "\"$KVC_TEST_UNSET/x\", \"${KVC_TEST_ROOT}/snapshots/*\"");
    /* unpinned: found, hashed, noted, run */
    kvc_cert_result *r = run_case(c);
    ck_assert_int_eq(r->outcome, KVC_CERT_PASS);
    ck_assert_msg(strstr(r->inputs[0].path, "rev-b/good.safetensors") != NULL, "%s",
                  r->inputs[0].path);
    ck_assert_uint_eq(r->n_notes, 1);
    ck_assert_msg(strstr(r->notes[0], hex) != NULL && strstr(r->notes[0], "not pinned") != NULL,
                  "%s", r->notes[0]);
    kvc_cert_result_destroy(r);
    /* pin: a copy of the case with the size and digest */
    char pins[700], written[800];
    tpath(pins, sizeof pins, "pins/deeper");
    kvc_error err;
    kvc_error_clear(&err);
    ck_assert_int_eq(kvc_cert_pin(c, pins, NULL, written, sizeof written, &err), KVC_OK);
    char want[800];
    snprintf(want, sizeof want, "%s/found.json", pins);
    ck_assert_str_eq(written, want);
    kvc_case *p = NULL;
    ck_assert_int_eq(kvc_case_load(written, &p, &err), KVC_OK);
    ck_assert_int_eq(p->inputs[0].pinned, 1);
    ck_assert_uint_eq(p->inputs[0].size, size);
    char got[65];
    for (int i = 0; i < 32; i++)
        snprintf(got + 2 * i, 3, "%02x", p->inputs[0].sha256[i]);
    ck_assert_str_eq(got, hex);
    ck_assert_str_eq(p->flags[p->n_flags - 1], "pinned");
    ck_assert_int_eq(kvc_cert_apply_pins(c, p, &err), KVC_OK);
    ck_assert_int_eq(c->inputs[0].pinned, 1);
    r = run_case(c);
    ck_assert_int_eq(r->outcome, KVC_CERT_PASS);
    ck_assert_uint_eq(r->n_notes, 0);
    kvc_cert_result_destroy(r);
    /* the input changes after pinning: refused */
    char path[800];
    snprintf(path, sizeof path, "%s/snapshots/rev-b/good.safetensors", tmpdir);
    FILE *f = fopen(path, "ab");
    ck_assert_ptr_nonnull(f);
    fputc(' ', f);
    fclose(f);
    r = run_case(c);
    ck_assert_int_eq(r->outcome, KVC_CERT_FAIL);
    ck_assert_int_eq(r->status, KVC_INPUT_SIZE_MISMATCH);
    kvc_cert_result_destroy(r);
    kvc_case_destroy(p);
    kvc_case_destroy(c);
}
END_TEST

START_TEST(search_missing_skips)
{
    setenv("KVC_TEST_ROOT", tmpdir, 1);
    kvc_case *c = search_case("absent", "\"$KVC_TEST_ROOT/nowhere\", \"$KVC_TEST_UNSET\"");
    kvc_cert_result *r = run_case(c);
    ck_assert_int_eq(r->outcome, KVC_CERT_SKIP);
    ck_assert_msg(strstr(r->reason, "good.safetensors") != NULL, "%s", r->reason);
    ck_assert_msg(strstr(r->reason, "make it with the test") != NULL, "%s", r->reason);
    kvc_cert_result_destroy(r);
    char pins[700];
    kvc_error err;
    kvc_error_clear(&err);
    ck_assert_int_eq(kvc_cert_pin(c, tpath(pins, sizeof pins, "pins"), NULL, NULL, 0, &err),
                     KVC_OPEN);
    struct stat sb;
    ck_assert_int_ne(stat(pins, &sb), 0); /* nothing written, not even the folder */
    kvc_case_destroy(c);
}
END_TEST

START_TEST(pin_dir_order)
{
    char buf[600];
    setenv("KVCERT_PINNED", "/a/pins", 1);
    setenv("XDG_DATA_HOME", "/x", 1);
    setenv("HOME", "/h", 1);
    ck_assert_int_eq(kvc_cert_pin_dir(buf, sizeof buf, NULL), KVC_OK);
    ck_assert_str_eq(buf, "/a/pins");
    unsetenv("KVCERT_PINNED");
    ck_assert_int_eq(kvc_cert_pin_dir(buf, sizeof buf, NULL), KVC_OK);
    ck_assert_str_eq(buf, "/x/kvcert/pinned");
    unsetenv("XDG_DATA_HOME");
    ck_assert_int_eq(kvc_cert_pin_dir(buf, sizeof buf, NULL), KVC_OK);
    ck_assert_str_eq(buf, "/h/.local/share/kvcert/pinned");
}
END_TEST

/* ------------------------------------------------------------ lint */

START_TEST(lint_set)
{
    write_text("t1.json", base_case);
    write_text("copy.json", base_case); /* same id, wrong file name */
    write_text("broken.json", "{");
    char a[700], b[700], d[700];
    const char *paths[] = {tpath(a, sizeof a, "t1.json"), tpath(b, sizeof b, "copy.json"),
                           tpath(d, sizeof d, "broken.json")};
    char *log = NULL;
    size_t loglen = 0;
    FILE *f = open_memstream(&log, &loglen);
    size_t bad = 0;
    ck_assert_int_eq(kvc_case_lint(paths, 3, f, &bad, NULL), KVC_OK);
    fclose(f);
    ck_assert_uint_eq(bad, 2);
    ck_assert_msg(strstr(log, "CASE_DUPLICATE_ID") != NULL, "%s", log);
    ck_assert_msg(strstr(log, "must be named \"t1.json\"") != NULL, "%s", log);
    ck_assert_msg(strstr(log, "CASE_JSON") != NULL, "%s", log);
    free(log);
    bad = 9;
    ck_assert_int_eq(kvc_case_lint(paths, 1, NULL, &bad, NULL), KVC_OK);
    ck_assert_uint_eq(bad, 0);
}
END_TEST

/* ------------------------------------------------------------ outputs */

START_TEST(tap_points)
{
    char hex[65];
    size_t size;
    make_shard("good.safetensors", hex, &size);
    kvc_case *ok = inspect_case("ok", "good.safetensors", size, hex, "\"valid\"", 1);
    kvc_case *bad = inspect_case("bad", "good.safetensors", size + 1, hex, "\"valid\"", 1);
    kvc_cert_result *r1 = run_case(ok), *r2 = run_case(bad);
    kvc_cert_result skip;
    memset(&skip, 0, sizeof skip);
    skip.c = ok;
    skip.outcome = KVC_CERT_SKIP;
    snprintf(skip.reason, sizeof skip.reason, "no data # here");
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    kvc_cert_tap_point(f, 1, r1);
    kvc_cert_tap_point(f, 2, r2);
    kvc_cert_tap_point(f, 3, &skip);
    fclose(f);
    const char *want_1 = "ok 1 - ok\n";
    ck_assert_msg(strncmp(out, want_1, strlen(want_1)) == 0, "%s", out);
    const char *p2 = out + strlen(want_1);
    ck_assert_msg(strncmp(p2, "not ok 2 - bad\n  ---\n  message: \"", 33) == 0, "%s", p2);
    ck_assert_msg(strstr(p2, "  status: INPUT_SIZE_MISMATCH\n") != NULL, "%s", p2);
    const char *p3 = strstr(p2, "  ...\n");
    ck_assert_ptr_nonnull(p3);
    /* '#' in a directive's text would start another one */
    ck_assert_str_eq(p3 + 6, "ok 3 - ok # SKIP no data _ here\n");
    free(out);
    kvc_cert_result_destroy(r1);
    kvc_cert_result_destroy(r2);
    kvc_case_destroy(ok);
    kvc_case_destroy(bad);
}
END_TEST

START_TEST(json_report)
{
    char hex[65];
    size_t size;
    make_shard("good.safetensors", hex, &size);
    kvc_case *ok = inspect_case("ok", "good.safetensors", size, hex, "\"valid\"", 1);
    char wrong[65];
    memcpy(wrong, hex, 65);
    wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
    kvc_case *bad = inspect_case("bad", "good.safetensors", size, wrong, "\"valid\"", 1);
    kvc_cert_result *rs[2] = {run_case(ok), run_case(bad)};
    char path[700];
    tpath(path, sizeof path, "report.json");
    ck_assert_int_eq(kvc_cert_report_write(path, (const kvc_cert_result *const *)rs, 2, tmpdir,
                                           NULL),
                     KVC_OK);
    size_t len;
    char *text = read_all(path, &len);
    ck_assert(len > 0 && text[len - 1] == '\n');
    cJSON *doc = cJSON_Parse(text);
    ck_assert_ptr_nonnull(doc);
    ck_assert_str_eq(cJSON_GetObjectItem(doc, "schema")->valuestring, KVC_CERT_REPORT_SCHEMA);
    cJSON *cases = cJSON_GetObjectItem(doc, "cases");
    ck_assert_int_eq(cJSON_GetArraySize(cases), 2);
    cJSON *c0 = cJSON_GetArrayItem(cases, 0), *c1 = cJSON_GetArrayItem(cases, 1);
    ck_assert_str_eq(cJSON_GetObjectItem(c0, "outcome")->valuestring, "PASS");
    cJSON *as = cJSON_GetObjectItem(c0, "assertions");
    ck_assert_int_eq(cJSON_GetArraySize(as), (int)ok->n_expected);
    cJSON *a0 = cJSON_GetArrayItem(as, 0);
    ck_assert_str_eq(cJSON_GetObjectItem(a0, "path")->valuestring, "$.tensors");
    ck_assert(cJSON_GetObjectItem(a0, "expected")->valuedouble == 1.0);
    ck_assert(cJSON_GetObjectItem(a0, "got")->valuedouble == 1.0);
    ck_assert_str_eq(cJSON_GetObjectItem(a0, "got_hex")->valuestring, "0x3ff0000000000000");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(a0, "pass")));
    cJSON *in0 = cJSON_GetArrayItem(cJSON_GetObjectItem(c0, "inputs"), 0);
    ck_assert_str_eq(cJSON_GetObjectItem(in0, "sha256")->valuestring, hex);
    ck_assert_str_eq(cJSON_GetObjectItem(c1, "outcome")->valuestring, "FAIL");
    ck_assert_str_eq(cJSON_GetObjectItem(c1, "status")->valuestring, "INPUT_HASH_MISMATCH");
    cJSON *in1 = cJSON_GetArrayItem(cJSON_GetObjectItem(c1, "inputs"), 0);
    ck_assert_str_eq(cJSON_GetObjectItem(in1, "expected_sha256")->valuestring, wrong);
    ck_assert_str_eq(cJSON_GetObjectItem(in1, "sha256")->valuestring, hex);
    /* the refused case's assertions are listed, not evaluated */
    cJSON *b0 = cJSON_GetArrayItem(cJSON_GetObjectItem(c1, "assertions"), 0);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(b0, "pass")));
    cJSON *sum = cJSON_GetObjectItem(doc, "summary");
    ck_assert_int_eq(cJSON_GetObjectItem(sum, "passed")->valueint, 1);
    ck_assert_int_eq(cJSON_GetObjectItem(sum, "failed")->valueint, 1);
    cJSON_Delete(doc);
    free(text);
    /* a report that cannot be written leaves nothing behind */
    tpath(path, sizeof path, "no/such/dir/report.json");
    ck_assert_int_ne(kvc_cert_report_write(path, (const kvc_cert_result *const *)rs, 2, NULL, NULL),
                     KVC_OK);
    kvc_cert_result_destroy(rs[0]);
    kvc_cert_result_destroy(rs[1]);
    kvc_case_destroy(ok);
    kvc_case_destroy(bad);
}
END_TEST

/* ------------------------------------------------------------ bundled */

/* Every bundled case loads, and the published ones pass in-process. */
START_TEST(bundled_published)
{
    char root[700];
    kvc_test_srcpath(root, sizeof root, "conformance/cases");
    char **paths = NULL;
    size_t n = 0;
    ck_assert_int_eq(kvc_case_list_dir(root, &paths, &n, NULL), KVC_OK);
    ck_assert_uint_ge(n, 4);
    size_t published = 0;
    for (size_t i = 0; i < n; i++) {
        kvc_case *c = NULL;
        kvc_error err;
        kvc_error_clear(&err);
        char buf[1200];
        ck_assert_msg(kvc_case_load(paths[i], &c, &err) == KVC_OK, "%s",
                      kvc_error_format(&err, buf, sizeof buf));
        if (c->kind == KVC_CASE_PUBLISHED) {
            kvc_cert_result *r = run_case(c);
            ck_assert_msg(r->outcome == KVC_CERT_PASS, "%s: %s", c->id, r->reason);
            ck_assert_uint_eq(r->n_failed, 0);
            ck_assert_uint_eq(r->n_asserts, c->n_expected);
            kvc_cert_result_destroy(r);
            published++;
        }
        kvc_case_destroy(c);
    }
    ck_assert_uint_eq(published, 4);
    kvc_case_list_free(paths, n);
}
END_TEST

static Suite *certify_suite(void)
{
    Suite *s = suite_create("certify");
    TCase *tc = tcase_create("schema");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, base_case_is_valid);
    tcase_add_loop_test(tc, malformed_case, 0, (int)(sizeof bad_rows / sizeof bad_rows[0]));
    tcase_add_test(tc, case_load_errors);
    tcase_add_test(tc, json_paths);
    tcase_add_test(tc, lint_set);
    suite_add_tcase(s, tc);
    tc = tcase_create("tolerances");
    tcase_add_test(tc, exact_numbers);
    tcase_add_test(tc, exact_other_types);
    tcase_add_test(tc, absolute_and_relative);
    tcase_add_test(tc, published_ci95_boundaries);
    tcase_add_test(tc, format_number);
    tcase_add_test(tc, exact_number_printing);
    suite_add_tcase(s, tc);
    tc = tcase_create("runner");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, run_valid_and_output_detected);
    tcase_add_test(tc, run_hash_mismatch_refused);
    tcase_add_test(tc, run_size_mismatch_not_hashed);
    tcase_add_test(tc, run_missing_input);
    tcase_add_test(tc, run_must_fail_semantics);
    tcase_add_test(tc, backend_hook);
    tcase_add_test(tc, search_and_pin);
    tcase_add_test(tc, search_missing_skips);
    tcase_add_test(tc, pin_dir_order);
    tcase_add_test(tc, tap_points);
    tcase_add_test(tc, json_report);
    tcase_add_test(tc, bundled_published);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return kvc_test_run(certify_suite());
}
