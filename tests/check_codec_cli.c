/* Tests for the .kvcl container (codec/kvcl.h) and `kvcert codec`:
 * encode and decode through the CLI equal the library roundtrip bit for
 * bit; every header field and damaged payload is rejected with
 * KVC_BITSTREAM (exit 3) at its offset; bad flags exit 2; bad inputs exit
 * 3; no failed run leaves an output (or temporary) file behind. */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "codec/kvcl.h"
#include "io/safetensors.h"
#include "testutil.h"

static char tmpdir[1024];

static const char *tpath(char *buf, const char *name)
{
    snprintf(buf, 4096, "%s/%s", tmpdir, name);
    return buf;
}

static double gauss(uint64_t *st)
{
    double u1 = ((double)(kvc_test_rand64(st) >> 11) + 0.5) * 0x1p-53;
    double u2 = (double)(kvc_test_rand64(st) >> 11) * 0x1p-53;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Runs `kvcert ARGS` (stdout/stderr to files in tmpdir); returns the exit
 * status. */
static int run_kvcert(const char *args)
{
    const char *bd = getenv("KVC_BUILDDIR");
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "'%s/kvcert' %s >'%s/stdout' 2>'%s/stderr'", bd ? bd : ".", args,
             tmpdir, tmpdir);
    int rc = system(cmd);
    ck_assert(rc != -1 && WIFEXITED(rc));
    return WEXITSTATUS(rc);
}

static int file_contains(const char *name, const char *needle)
{
    char p[4096], buf[8192];
    FILE *f = fopen(tpath(p, name), "rb");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

static int exists(const char *name)
{
    char p[4096];
    return access(tpath(p, name), F_OK) == 0;
}

/* No "*.tmp.*" leftovers of atomic writes. */
static int temp_files(void)
{
    DIR *d = opendir(tmpdir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

static uint8_t *read_all(const char *name, size_t *size)
{
    char p[4096];
    FILE *f = fopen(tpath(p, name), "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)len + 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *size = (size_t)len;
    return b;
}

static void write_all(const char *name, const uint8_t *b, size_t size)
{
    char p[4096];
    FILE *f = fopen(tpath(p, name), "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(b, 1, size, f), size);
    fclose(f);
}

enum { N = 96, D = 512 };
static float xs[N * D];          /* the F32 tensor "kv" */
static uint16_t xb[N * D];       /* the BF16 tensor "kvb", [2, N/2, D] */
static float xb_wide[N * D];

static void setup(void)
{
    kvc_test_tmpdir(tmpdir, sizeof tmpdir);
    ck_assert_int_eq(setenv("KVCT", tmpdir, 1), 0); /* the shell commands' "$KVCT" */
    uint64_t st = 0xC11ull;
    for (int i = 0; i < N * D; i++) {
        xs[i] = (float)(gauss(&st) * (i % 64 == 7 ? 20.0 : 1.0));
        xb[i] = kvc_f32_to_bf16((float)gauss(&st));
        xb_wide[i] = kvc_bf16_to_f32(xb[i]);
    }
    static int32_t bad[4 * 8];
    memset(bad, 0, sizeof bad);
    kvc_st_writer *w = kvc_st_writer_create();
    int64_t s2[2] = {N, D}, s3[3] = {2, N / 2, D}, sb[2] = {4, 8}, s500[2] = {2, 256};
    char p[4096];
    ck_assert_int_eq(kvc_st_writer_add(w, "kv", KVC_DT_F32, 2, s2, xs, NULL), KVC_OK);
    ck_assert_int_eq(kvc_st_writer_add(w, "kvb", KVC_DT_BF16, 3, s3, xb, NULL), KVC_OK);
    ck_assert_int_eq(kvc_st_writer_add(w, "ints", KVC_DT_I32, 2, sb, bad, NULL), KVC_OK);
    ck_assert_int_eq(kvc_st_writer_add(w, "flat", KVC_DT_F32, 1, s500 + 1, xs, NULL), KVC_OK);
    ck_assert_int_eq(kvc_st_writer_write(w, tpath(p, "in.safetensors"), NULL), KVC_OK);
    kvc_st_writer_destroy(w);
    w = kvc_st_writer_create();
    int64_t s24[2] = {3, 24};
    ck_assert_int_eq(kvc_st_writer_add(w, "odd", KVC_DT_F32, 2, s24, xs, NULL), KVC_OK);
    ck_assert_int_eq(kvc_st_writer_write(w, tpath(p, "odd.safetensors"), NULL), KVC_OK);
    kvc_st_writer_destroy(w);
    w = kvc_st_writer_create();
    ck_assert_int_eq(kvc_st_writer_add(w, "only", KVC_DT_F32, 2, s2, xs, NULL), KVC_OK);
    ck_assert_int_eq(kvc_st_writer_write(w, tpath(p, "one.safetensors"), NULL), KVC_OK);
    kvc_st_writer_destroy(w);
}

static void teardown(void)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

static void roundtrip_lib(int kind, int q, const float *x, size_t n, float *out)
{
    kvc_kakeya_params p;
    ck_assert_int_eq(kvc_kakeya_params_init(&p, (kvc_codec_kind)kind, D, q, NULL), KVC_OK);
    ck_assert_int_eq(kvc_kakeya_roundtrip(&p, x, n, out, NULL), KVC_OK);
}

/* The decoded safetensors equals the library roundtrip, bit for bit. */
static void check_decoded_file(const char *name, const char *tensor, const float *want,
                               size_t n)
{
    char p[4096];
    kvc_st_file *f = NULL;
    ck_assert_int_eq(kvc_st_open(tpath(p, name), &f, NULL), KVC_OK);
    int64_t shape[2] = {(int64_t)n, D};
    const kvc_tensor_view *v = NULL;
    ck_assert_int_eq(kvc_st_require(f, tensor, KVC_DT_F32, 2, shape, &v, NULL), KVC_OK);
    ck_assert_int_eq(memcmp(v->data, want, n * D * sizeof(float)), 0);
    kvc_st_close(f);
}

START_TEST(encode_decode_e8_q38)
{
    static float rt[N * D];
    ck_assert_int_eq(run_kvcert("codec encode --codec e8 --q 38 --in \"$KVCT/in.safetensors\" "
                                "--tensor kv --out \"$KVCT/x.kvcl\""),
                     0);
    ck_assert(file_contains("stdout", "accounted 3296, realized 3296 (51 bits per block of 8)"));
    ck_assert(file_contains("stdout", "wrote 39600 bytes")); /* 48 + 96 * 412 */
    size_t size;
    uint8_t *b = read_all("x.kvcl", &size);
    ck_assert_uint_eq(size, 48 + N * 412);
    ck_assert_int_eq(memcmp(b, "KVCL\r\n\x1a\n", 8), 0);
    ck_assert_uint_eq(b[8], 1);
    ck_assert_uint_eq(b[12], 1);
    ck_assert_uint_eq(b[16], 38);
    ck_assert_uint_eq(b[20] | (b[21] << 8), 512);
    ck_assert_uint_eq(b[24], N);
    ck_assert_uint_eq(b[32], 51);
    ck_assert_uint_eq(b[36] | (b[37] << 8), 3296);
    /* the library decode of the container equals the roundtrip */
    roundtrip_lib(KVC_CODEC_E8, 38, xs, N, rt);
    kvc_kakeya_params p;
    uint64_t n = 0;
    float *out = NULL;
    ck_assert_int_eq(kvc_kvcl_decode(b, size, &p, &n, &out, NULL), KVC_OK);
    ck_assert_uint_eq(n, N);
    ck_assert_int_eq(memcmp(out, rt, sizeof rt), 0);
    free(out);
    free(b);
    ck_assert_int_eq(run_kvcert("codec decode --in \"$KVCT/x.kvcl\" --out \"$KVCT/y.safetensors\""),
                     0);
    ck_assert(file_contains("stdout", "decoded 96 vectors"));
    check_decoded_file("y.safetensors", "x_hat", rt, N);
    ck_assert_int_eq(temp_files(), 0);
}
END_TEST

/* BF16 [2, N/2, D] flattened to N vectors; d4 Q10; E8 Q10 reports that
 * the accounted size is too small; the single tensor needs no --tensor. */
START_TEST(bf16_and_other_codecs)
{
    static float rt[N * D];
    ck_assert_int_eq(run_kvcert("codec encode --codec d4 --q 10 --in \"$KVCT/in.safetensors\" "
                                "--tensor kvb --out \"$KVCT/b.kvcl\""),
                     0);
    ck_assert(file_contains("stdout", "accounted 2208, realized 2208"));
    ck_assert_int_eq(run_kvcert("codec decode --in \"$KVCT/b.kvcl\" --out \"$KVCT/b.safetensors\" "
                                "--name rec"),
                     0);
    roundtrip_lib(KVC_CODEC_D4, 10, xb_wide, N, rt);
    check_decoded_file("b.safetensors", "rec", rt, N);

    ck_assert_int_eq(run_kvcert("codec encode --codec e8 --q 10 --in \"$KVCT/one.safetensors\" "
                                "--out \"$KVCT/c.kvcl\""),
                     0);
    ck_assert(file_contains("stdout", "accounted 2336, realized 2400 (37 bits per block of 8)"));
    ck_assert(file_contains("stdout", "cannot hold every output"));
    ck_assert_int_eq(run_kvcert("codec decode --in \"$KVCT/c.kvcl\" --out \"$KVCT/c.safetensors\""),
                     0);
    roundtrip_lib(KVC_CODEC_E8, 10, xs, N, rt);
    check_decoded_file("c.safetensors", "x_hat", rt, N);
}
END_TEST

START_TEST(usage_errors)
{
    static const char *const cases[] = {
        "codec",
        "codec frob",
        "codec encode --codec e8 --in \"$KVCT/in.safetensors\" --out \"$KVCT/u.kvcl\"",
        "codec encode --codec e8 --q 0 --in \"$KVCT/in.safetensors\" --out \"$KVCT/u.kvcl\"",
        "codec encode --codec e8 --q 127 --in \"$KVCT/in.safetensors\" --out \"$KVCT/u.kvcl\"",
        "codec encode --codec e8 --q 3x --in \"$KVCT/in.safetensors\" --out \"$KVCT/u.kvcl\"",
        "codec encode --codec e9 --q 3 --in \"$KVCT/in.safetensors\" --out \"$KVCT/u.kvcl\"",
        "codec encode --codec e8 --q 3 --in \"$KVCT/in.safetensors\"",
        "codec encode --codec e8 --q 3 --in \"$KVCT/in.safetensors\" --out \"$KVCT/u.kvcl\" --bogus",
        "codec encode --codec e8 --q 3 --in \"$KVCT/in.safetensors\" --out \"$KVCT/u.kvcl\" extra",
        "codec encode --codec",
        "codec decode --in \"$KVCT/x.kvcl\"",
        "codec decode --in \"$KVCT/x.kvcl\" --out \"$KVCT/u.kvcl\" --name \"\"",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert_msg(run_kvcert(cases[i]) == 2, "'%s' did not exit 2", cases[i]);
        ck_assert(file_contains("stderr", "kvcert: error: codec"));
        ck_assert(!exists("u.kvcl"));
    }
    ck_assert_int_eq(run_kvcert("codec --help"), 0);
    ck_assert(file_contains("stdout", "usage: kvcert codec encode"));
    ck_assert_int_eq(run_kvcert("codec encode --help"), 0);
}
END_TEST

START_TEST(bad_inputs)
{
    static const struct {
        const char *args, *message;
    } cases[] = {
        {"--in \"$KVCT/missing.safetensors\"", "cannot open file"},
        {"--in \"$KVCT/in.safetensors\"", "name one with --tensor"},
        {"--in \"$KVCT/in.safetensors\" --tensor nope", "no tensor 'nope'"},
        {"--in \"$KVCT/in.safetensors\" --tensor ints", "wrong dtype"},
        {"--in \"$KVCT/in.safetensors\" --tensor flat", "wrong shape"},
        {"--in \"$KVCT/odd.safetensors\"", "wrong shape"},
        {"--in \"$KVCT/odd.safetensors\" --tensor odd", "D a power of two"},
        {"--in \"$KVCT/stderr\"", ""},
    };
    char args[4096];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(args, sizeof args, "codec encode --codec e8 --q 5 %s --out \"$KVCT/u.kvcl\"",
                 cases[i].args);
        ck_assert_msg(run_kvcert(args) == 3, "'%s' did not exit 3", args);
        ck_assert_msg(file_contains("stderr", cases[i].message), "'%s': no '%s'", args,
                      cases[i].message);
        ck_assert(!exists("u.kvcl"));
    }
    ck_assert_int_eq(run_kvcert("codec decode --in \"$KVCT/missing.kvcl\" --out \"$KVCT/u.st\""), 3);
    ck_assert(!exists("u.st"));
    ck_assert_int_eq(temp_files(), 0);
}
END_TEST

/* Every header field, truncation and payload damage: KVC_BITSTREAM at the
 * field's offset from the library, exit 3 and no output from the CLI. */
START_TEST(damaged_containers)
{
    kvc_kakeya_params p;
    ck_assert_int_eq(kvc_kakeya_params_init(&p, KVC_CODEC_E8, D, 10, NULL), KVC_OK);
    size_t size;
    ck_assert_int_eq(kvc_kvcl_size(&p, 4, &size, NULL), KVC_OK);
    ck_assert_uint_eq(size, 48 + 4 * 300);
    uint8_t *good = malloc(size + 1), *b = malloc(size + 1);
    ck_assert_int_eq(kvc_kvcl_encode(&p, xs, 4, good, size, NULL), KVC_OK);
    typedef struct damage {
        size_t at;      /* byte to change (or the new size when resize) */
        uint8_t value;  /* new byte */
        int resize;     /* 1: truncate/extend to `at` bytes */
        int64_t offset; /* expected error offset */
    } damage;
    static const damage cases[] = {
        {0, 'X', 0, 0},          /* magic */
        {7, 0x0B, 0, 0},         /* magic, last byte */
        {8, 2, 0, 8},            /* version 2 */
        {11, 1, 0, 8},           /* version 2^24 + 1 */
        {12, 2, 0, 12},          /* unknown codec */
        {14, 1, 0, 13},          /* reserved */
        {16, 0, 0, 16},          /* Q = 0 */
        {16, 200, 0, 16},        /* Q = 200 */
        {20, 0xF4, 0, 20},       /* D = 756 */
        {22, 0x01, 0, 20},       /* D = 66048 */
        {32, 36, 0, 32},         /* bits per block 36 (the accounted value) */
        {36, 0x21, 0, 36},       /* bits per vector */
        {24, 5, 0, 40},          /* N = 5 with a 4-vector payload */
        {40, 0xB1, 0, 40},       /* payload size */
        {47, 1, 0, 40},          /* payload size, high byte */
        {47, 0, 1, 47},          /* truncated inside the header */
        {0, 0, 1, 0},            /* empty file */
        {48 + 1199, 0, 1, 1247}, /* truncated payload */
        {48 + 1201, 0, 1, 1248}, /* trailing byte */
        {48 + 303, 0x7C, 0, 348}, /* m^ of vector 1 inf or NaN */
        {48 + 301, 0xBC, 0, 348}, /* n^ of vector 1 negative */
    };
    char p1[4096];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(b, good, size);
        size_t bs = size;
        if (cases[i].resize) {
            bs = cases[i].at;
            b[size] = 0;
        } else {
            b[cases[i].at] = cases[i].value;
        }
        kvc_error e;
        kvc_error_clear(&e);
        kvc_kakeya_params q;
        uint64_t n = 0;
        float *out = NULL;
        ck_assert_msg(kvc_kvcl_decode(b, bs, &q, &n, &out, &e) == KVC_BITSTREAM, "case %zu", i);
        ck_assert_msg(e.offset == cases[i].offset, "case %zu: offset %lld", i,
                      (long long)e.offset);
        ck_assert_ptr_null(out);
        write_all("bad.kvcl", b, bs);
        ck_assert_int_eq(run_kvcert("codec decode --in \"$KVCT/bad.kvcl\" --out \"$KVCT/o.st\""),
                         3);
        ck_assert(file_contains("stderr", "malformed bitstream"));
        ck_assert(!exists("o.st"));
    }
    /* an index beyond the number of outputs: all ones in block 3 of vector 2
     * (37 bits: 2^37 - 1 >= 71 406 951 121) */
    memcpy(b, good, size);
    uint64_t pos = 8 * 48 + 2 * 2400 + 32 + 3 * 37;
    for (int k = 0; k < 37; k++)
        b[(pos + k) / 8] = (uint8_t)(b[(pos + k) / 8] | (1u << ((pos + k) % 8)));
    kvc_error e;
    kvc_error_clear(&e);
    kvc_kakeya_params q;
    uint64_t n = 0;
    float *out = NULL;
    ck_assert_int_eq(kvc_kvcl_decode(b, size, &q, &n, &out, &e), KVC_BITSTREAM);
    ck_assert_int_eq(e.offset, 48 + 600);
    write_all("bad.kvcl", b, size);
    ck_assert_int_eq(run_kvcert("codec decode --in \"$KVCT/bad.kvcl\" --out \"$KVCT/o.st\""), 3);
    ck_assert(!exists("o.st"));
    ck_assert_int_eq(temp_files(), 0);
    (void)p1;
    free(good);
    free(b);
}
END_TEST

static Suite *codec_cli_suite(void)
{
    Suite *s = suite_create("codec_cli");
    TCase *tc = tcase_create("cli");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, encode_decode_e8_q38);
    tcase_add_test(tc, bf16_and_other_codecs);
    tcase_add_test(tc, usage_errors);
    tcase_add_test(tc, bad_inputs);
    tcase_add_test(tc, damaged_containers);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return kvc_test_run(codec_cli_suite());
}
