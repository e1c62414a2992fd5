/* Tests for v4/dequant: FP8 block dequantization and widening.
 *
 * Oracle: every format decoded from its definition in binary64 (libm's
 * ldexp is allowed here, as a test oracle), the FP8 product formed in
 * binary64 -- exact, since both factors are short powers-of-two-scaled
 * integers -- and the binary32 result required to be that exact value, or
 * +-infinity where it exceeds the binary32 range (SPEC 3: exact in
 * binary32 unless it overflows). No tolerance: results must be exact.
 */
#include <float.h>
#include <math.h>

#include "core/formats.h"
#include "v4/dequant.h"
#include "testutil.h"

/* ------------------------------------------------------------ oracles */

static double oracle_e4m3(uint8_t b)
{
    int sign = b >> 7, e = (b >> 3) & 15, m = b & 7;
    if (e == 15 && m == 7)
        return NAN;
    double mag = e == 0 ? ldexp((double)m / 8.0, -6) : ldexp(1.0 + (double)m / 8.0, e - 7);
    return sign ? -mag : mag;
}

static double oracle_e8m0(uint8_t s)
{
    return s == 255 ? NAN : ldexp(1.0, (int)s - 127);
}

static double oracle_dequant(uint8_t w, uint8_t s)
{
    return oracle_e4m3(w) * oracle_e8m0(s);
}

/* bf16: sign, 8 exponent bits (bias 127), 7 mantissa bits. */
static double oracle_bf16(uint16_t h)
{
    int sign = h >> 15, e = (h >> 7) & 0xFF, m = h & 0x7F;
    double mag;
    if (e == 0xFF)
        mag = m ? NAN : INFINITY;
    else if (e == 0)
        mag = ldexp((double)m / 128.0, -126);
    else
        mag = ldexp(1.0 + (double)m / 128.0, e - 127);
    return sign ? -mag : mag;
}

/* fp16: sign, 5 exponent bits (bias 15), 10 mantissa bits. */
static double oracle_fp16(uint16_t h)
{
    int sign = h >> 15, e = (h >> 10) & 0x1F, m = h & 0x3FF;
    double mag;
    if (e == 0x1F)
        mag = m ? NAN : INFINITY;
    else if (e == 0)
        mag = ldexp((double)m / 1024.0, -14);
    else
        mag = ldexp(1.0 + (double)m / 1024.0, e - 15);
    return sign ? -mag : mag;
}

/* Does binary32 f hold exactly the value v (inf past the range, NaN for NaN)? */
static int f32_is(float f, double v)
{
    if (isnan(v))
        return isnan(f);
    if (fabs(v) > FLT_MAX)
        return isinf(f) && (signbit(f) != 0) == (signbit(v) != 0);
    if ((double)f != v)
        return 0;
    return (signbit(f) != 0) == (signbit(v) != 0); /* -0 stays -0 */
}

/* ------------------------------------------------------------ scalar */

START_TEST(scalar_every_byte_pair)
{
    /* all 65 536 (w, s) combinations */
    for (int w = 0; w < 256; w++)
        for (int s = 0; s < 256; s++) {
            float got = kvc_dequant_e4m3_e8m0((uint8_t)w, (uint8_t)s);
            double want = oracle_dequant((uint8_t)w, (uint8_t)s);
            CHECK_MSG(f32_is(got, want), "w=0x%02X s=0x%02X: got %a, want %a", w, s,
                          (double)got, want);
        }
}
END_TEST

START_TEST(scalar_known_values)
{
    CHECK(kvc_dequant_e4m3_e8m0(0x7E, 127) == 448.0f);   /* 448 * 1 */
    CHECK(kvc_dequant_e4m3_e8m0(0x38, 127 - 10) == ldexpf(1.0f, -10));
    CHECK(kvc_dequant_e4m3_e8m0(0x01, 0) == ldexpf(1.0f, -136)); /* deepest subnormal */
    CHECK(isinf(kvc_dequant_e4m3_e8m0(0x7E, 254)));      /* 448 * 2^127 overflows */
    CHECK(kvc_dequant_e4m3_e8m0(0x38, 254) == ldexpf(1.0f, 127)); /* 1 * 2^127 */
    CHECK(isnan(kvc_dequant_e4m3_e8m0(0x00, 255)));      /* 0 * NaN scale */
    CHECK(isnan(kvc_dequant_e4m3_e8m0(0x7F, 127)));
    CHECK(isnan(kvc_dequant_e4m3_e8m0(0xFF, 127)));
    /* every NaN is the canonical 0x7FC00000 (the GPU's NaN bits differ) */
    CHECK(kvc_f32_bits(kvc_dequant_e4m3_e8m0(0xFF, 127)) == 0x7FC00000u);
    CHECK(kvc_f32_bits(kvc_dequant_e4m3_e8m0(0x7F, 3)) == 0x7FC00000u);
    CHECK(kvc_f32_bits(kvc_dequant_e4m3_e8m0(0xB8, 255)) == 0x7FC00000u);
    CHECK(signbit(kvc_dequant_e4m3_e8m0(0x80, 127)));   /* -0 */
    ck_assert_int_eq(kvc_dequant_tiles(0), 0);
    ck_assert_int_eq(kvc_dequant_tiles(1), 1);
    ck_assert_int_eq(kvc_dequant_tiles(128), 1);
    ck_assert_int_eq(kvc_dequant_tiles(129), 2);
}
END_TEST

/* ------------------------------------------------------------ blocks */

static const int64_t block_shapes[][2] = {
    {1, 1}, {1, 129}, {127, 129}, {128, 128}, {129, 1}, {300, 257}, {512, 4096}, {256, 4100},
};

#define GUARD 16
#define GUARD_BITS 0x7FA5A5A5u /* a NaN pattern no dequantized value has */

START_TEST(block_matches_oracle)
{
    int64_t rows = block_shapes[_i][0], cols = block_shapes[_i][1];
    int64_t sr = (rows + 127) / 128, sc = (cols + 127) / 128;
    uint64_t seed = 0xD0E4u + (uint64_t)_i;
    uint8_t *w = malloc((size_t)(rows * cols));
    uint8_t *s = malloc((size_t)(sr * sc));
    float *out = malloc((size_t)(rows * cols + 2 * GUARD) * sizeof(float));
    CHECK(w && s && out);
    for (int64_t i = 0; i < rows * cols; i++)
        w[i] = (uint8_t)kvc_test_rand64(&seed);
    for (int64_t i = 0; i < sr * sc; i++) {
        uint64_t r = kvc_test_rand64(&seed);
        /* mostly realistic scales, sometimes any byte (extremes, NaN) */
        s[i] = (r & 7) == 0 ? (uint8_t)(r >> 8) : (uint8_t)(100 + (r >> 8) % 40);
    }
    for (int64_t i = 0; i < rows * cols + 2 * GUARD; i++)
        out[i] = kvc_f32_from_bits(GUARD_BITS);
    kvc_error err;
    kvc_error_clear(&err);
    ck_assert_int_eq(kvc_dequant_fp8_block(w, rows, cols, s, sr, sc, out + GUARD, &err), KVC_OK);
    for (int64_t o = 0; o < rows; o++)
        for (int64_t i = 0; i < cols; i++) {
            uint8_t wb = w[o * cols + i], sb = s[(o / 128) * sc + i / 128];
            float got = out[GUARD + o * cols + i];
            CHECK_MSG(f32_is(got, oracle_dequant(wb, sb)),
                          "[%lldx%lld] (%lld,%lld) w=0x%02X s=0x%02X got %a seed 0x%llx",
                          (long long)rows, (long long)cols, (long long)o, (long long)i, wb, sb,
                          (double)got, (unsigned long long)(0xD0E4u + (uint64_t)_i));
        }
    for (int64_t g = 0; g < GUARD; g++) {
        ck_assert_uint_eq(kvc_f32_bits(out[g]), GUARD_BITS);
        ck_assert_uint_eq(kvc_f32_bits(out[GUARD + rows * cols + g]), GUARD_BITS);
    }
    free(w);
    free(s);
    free(out);
}
END_TEST

/* The 2-thread split must not change a single bit: a tensor large enough
 * to be split equals, element by element, the scalar function. */
START_TEST(block_split_equals_scalar)
{
    /* 2^22 elements: at KVC_DEQUANT_THREAD_MIN (src/v4/dequant.c), so split */
    const int64_t rows = 2048, cols = 2048, sr = 16, sc = 16;
    uint64_t seed = 77;
    uint8_t *w = malloc((size_t)(rows * cols));
    uint8_t s[16 * 16];
    float *out = malloc((size_t)(rows * cols) * sizeof(float));
    CHECK(w && out);
    for (int64_t i = 0; i < rows * cols; i++)
        w[i] = (uint8_t)kvc_test_rand64(&seed);
    for (int i = 0; i < sr * sc; i++)
        s[i] = (uint8_t)(110 + i % 20);
    ck_assert_int_eq(kvc_dequant_fp8_block(w, rows, cols, s, sr, sc, out, NULL), KVC_OK);
    for (int64_t o = 0; o < rows; o++)
        for (int64_t i = 0; i < cols; i++) {
            float want = kvc_dequant_e4m3_e8m0(w[o * cols + i], s[(o / 128) * sc + i / 128]);
            /* bit for bit, NaNs included (all canonical) */
            CHECK(memcmp(&want, &out[o * cols + i], sizeof want) == 0);
        }
    free(w);
    free(out);
}
END_TEST

START_TEST(block_bad_shapes)
{
    uint8_t w[4] = {0}, s[4] = {127, 127, 127, 127};
    float out[4];
    kvc_error err;
    /* scale shape must be [ceil(r/128), ceil(c/128)] exactly */
    static const int64_t bad[][4] = {
        {1, 1, 2, 1}, {1, 1, 1, 2}, {1, 1, 0, 1}, {129, 1, 1, 1}, {1, 129, 1, 1}, {128, 128, 2, 2},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        kvc_error_clear(&err);
        ck_assert_int_eq(kvc_dequant_fp8_block(w, bad[k][0], bad[k][1], s, bad[k][2], bad[k][3],
                                               out, &err),
                         KVC_TENSOR_SHAPE);
        ck_assert_int_eq(err.status, KVC_TENSOR_SHAPE);
        ck_assert_ptr_nonnull(strstr(err.detail, "expected"));
    }
    ck_assert_int_eq(kvc_dequant_fp8_block(w, -1, 1, s, 1, 1, out, &err), KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(kvc_dequant_fp8_block(w, 1, 1, s, -1, 1, out, &err), KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(kvc_dequant_fp8_block(w, INT64_MAX / 2, 4, s, 1, 1, out, &err),
                     KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(kvc_dequant_fp8_block(NULL, 1, 1, s, 1, 1, out, &err), KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(kvc_dequant_fp8_block(w, 1, 1, s, 1, 1, NULL, &err), KVC_INVALID_ARGUMENT);
    /* empty matrices are fine (and need no buffers) */
    ck_assert_int_eq(kvc_dequant_fp8_block(NULL, 0, 5, NULL, 0, 1, NULL, &err), KVC_OK);
}
END_TEST

/* ------------------------------------------------------------ widening */

START_TEST(widen_bf16_f16_every_pattern)
{
    /* all 65 536 patterns, from an odd address (unaligned input) */
    unsigned char *raw = malloc(2 * 65536 + 1);
    float *out = malloc(65536 * sizeof(float));
    CHECK(raw && out);
    for (int h = 0; h < 65536; h++) {
        raw[1 + 2 * h] = (unsigned char)(h & 0xFF);
        raw[2 + 2 * h] = (unsigned char)(h >> 8);
    }
    kvc_widen_bf16(raw + 1, 65536, out);
    for (int h = 0; h < 65536; h++)
        CHECK_MSG(f32_is(out[h], oracle_bf16((uint16_t)h)), "bf16 0x%04X", h);
    kvc_widen_f16(raw + 1, 65536, out);
    for (int h = 0; h < 65536; h++)
        CHECK_MSG(f32_is(out[h], oracle_fp16((uint16_t)h)), "fp16 0x%04X", h);
    free(raw);
    free(out);
}
END_TEST

START_TEST(widen_f32_copies_bits)
{
    unsigned char raw[4 * 64 + 1];
    float out[64];
    uint64_t seed = 3;
    for (size_t i = 0; i < sizeof raw; i++)
        raw[i] = (unsigned char)kvc_test_rand64(&seed);
    kvc_widen_f32(raw + 1, 64, out);
    CHECK(memcmp(raw + 1, out, sizeof out) == 0);
    kvc_widen_f32(NULL, 0, out); /* n = 0 reads nothing */
}
END_TEST

START_TEST(scale_names)
{
    char buf[64];
    ck_assert_str_eq(kvc_dequant_scale_name("layers.0.attn.wkv.weight", buf, sizeof buf),
                     "layers.0.attn.wkv.scale");
    ck_assert_str_eq(kvc_dequant_scale_name("w", buf, sizeof buf), "w.scale");
    ck_assert_str_eq(kvc_dequant_scale_name(".weight", buf, sizeof buf), ".scale");
    ck_assert_ptr_null(kvc_dequant_scale_name("abc.weight", buf, 9)); /* "abc.scale" needs 10 */
    ck_assert_ptr_nonnull(kvc_dequant_scale_name("abc.weight", buf, 10));
}
END_TEST

/* ------------------------------------------------------------ tensors */

/* A fixture file with good and bad FP8 weights, widenable tensors and a
 * dtype that cannot be read as binary32. */
static char fixture_dir[256];
static char fixture_path[300];
static uint8_t fx_w[300 * 257], fx_s[3 * 3];
static uint16_t fx_bf16[2 * 3 * 4], fx_f16[5];
static float fx_f32[3];

static void add_or_die(kvc_st_writer *w, const char *name, kvc_dtype dt, int ndim,
                       const int64_t *shape, const void *data)
{
    kvc_error err;
    kvc_error_clear(&err);
    if (kvc_st_writer_add(w, name, dt, ndim, shape, data, &err) != KVC_OK) {
        char buf[1024];
        fprintf(stderr, "fixture: %s\n", kvc_error_format(&err, buf, sizeof buf));
        exit(KVC_TEST_HARD_ERROR);
    }
}

static void make_fixture(void)
{
    uint64_t seed = 123;
    for (size_t i = 0; i < sizeof fx_w; i++)
        fx_w[i] = (uint8_t)kvc_test_rand64(&seed);
    for (size_t i = 0; i < sizeof fx_s; i++)
        fx_s[i] = (uint8_t)(115 + i);
    for (size_t i = 0; i < sizeof fx_bf16 / 2; i++)
        fx_bf16[i] = (uint16_t)kvc_test_rand64(&seed);
    for (size_t i = 0; i < sizeof fx_f16 / 2; i++)
        fx_f16[i] = (uint16_t)kvc_test_rand64(&seed);
    fx_f32[0] = 1.5f;
    fx_f32[1] = -0.0f;
    fx_f32[2] = 3e38f;
    static const uint8_t small[4] = {0x38, 0x40, 0xB8, 0x7F};
    static const uint16_t bf_scale[1] = {0x3F80};
    static const int32_t ints[2] = {1, 2};
    kvc_test_tmpdir(fixture_dir, sizeof fixture_dir);
    snprintf(fixture_path, sizeof fixture_path, "%s/fx.safetensors", fixture_dir);
    kvc_st_writer *w = kvc_st_writer_create();
    if (w == NULL)
        exit(KVC_TEST_HARD_ERROR);
    const int64_t s_w[2] = {300, 257}, s_s[2] = {3, 3}, s_22[2] = {2, 2}, s_11[2] = {1, 1},
                  s_12[2] = {1, 2}, s_4[1] = {4}, s_234[3] = {2, 3, 4}, s_5[1] = {5},
                  s_3[1] = {3}, s_2[1] = {2};
    add_or_die(w, "a.weight", KVC_DT_F8_E4M3, 2, s_w, fx_w);
    add_or_die(w, "a.scale", KVC_DT_F8_E8M0, 2, s_s, fx_s);
    add_or_die(w, "b.weight", KVC_DT_F8_E4M3, 2, s_22, small); /* no scale */
    add_or_die(w, "c.weight", KVC_DT_F8_E4M3, 2, s_22, small);
    add_or_die(w, "c.scale", KVC_DT_BF16, 2, s_11, bf_scale); /* scale of the wrong dtype */
    add_or_die(w, "d.weight", KVC_DT_F8_E4M3, 2, s_22, small);
    add_or_die(w, "d.scale", KVC_DT_F8_E8M0, 2, s_12, small); /* scale of the wrong shape */
    add_or_die(w, "e.weight", KVC_DT_F8_E4M3, 1, s_4, small); /* 1-D weight */
    add_or_die(w, "e.scale", KVC_DT_F8_E8M0, 2, s_11, small);
    add_or_die(w, "f", KVC_DT_BF16, 3, s_234, fx_bf16);
    add_or_die(w, "g", KVC_DT_F16, 1, s_5, fx_f16);
    add_or_die(w, "h", KVC_DT_F32, 1, s_3, fx_f32);
    add_or_die(w, "i", KVC_DT_I32, 1, s_2, ints);
    add_or_die(w, "j.scale", KVC_DT_F8_E8M0, 2, s_11, small);
    kvc_error err;
    kvc_error_clear(&err);
    if (kvc_st_writer_write(w, fixture_path, &err) != KVC_OK) {
        char buf[1024];
        fprintf(stderr, "fixture: %s\n", kvc_error_format(&err, buf, sizeof buf));
        exit(KVC_TEST_HARD_ERROR);
    }
    kvc_st_writer_destroy(w);
}

static void remove_fixture(void)
{
    remove(fixture_path);
    remove(fixture_dir);
}

static kvc_st_file *open_fixture(void)
{
    kvc_st_file *f = NULL;
    ck_assert_int_eq(kvc_st_open(fixture_path, &f, NULL), KVC_OK);
    return f;
}

START_TEST(tensor_fp8_with_scale)
{
    kvc_st_file *f = open_fixture();
    float *out = NULL;
    int64_t shape[2];
    kvc_error err;
    kvc_error_clear(&err);
    ck_assert_int_eq(kvc_dequant_tensor(f, "a.weight", &out, shape, &err), KVC_OK);
    ck_assert_int_eq(shape[0], 300);
    ck_assert_int_eq(shape[1], 257);
    for (int64_t o = 0; o < 300; o++)
        for (int64_t i = 0; i < 257; i++)
            CHECK(f32_is(out[o * 257 + i],
                             oracle_dequant(fx_w[o * 257 + i], fx_s[(o / 128) * 3 + i / 128])));
    free(out);
    kvc_st_close(f);
}
END_TEST

START_TEST(tensor_widen)
{
    kvc_st_file *f = open_fixture();
    float *out = NULL;
    int64_t shape[2];
    ck_assert_int_eq(kvc_dequant_tensor(f, "f", &out, shape, NULL), KVC_OK);
    ck_assert_int_eq(shape[0], 6); /* [2, 3, 4] as a matrix: 6 rows of 4 */
    ck_assert_int_eq(shape[1], 4);
    for (int i = 0; i < 24; i++)
        CHECK(f32_is(out[i], oracle_bf16(fx_bf16[i])));
    free(out);
    ck_assert_int_eq(kvc_dequant_tensor(f, "g", &out, shape, NULL), KVC_OK);
    ck_assert_int_eq(shape[0], 1);
    ck_assert_int_eq(shape[1], 5);
    for (int i = 0; i < 5; i++)
        CHECK(f32_is(out[i], oracle_fp16(fx_f16[i])));
    free(out);
    ck_assert_int_eq(kvc_dequant_tensor(f, "h", &out, shape, NULL), KVC_OK);
    CHECK(memcmp(out, fx_f32, sizeof fx_f32) == 0);
    free(out);
    kvc_st_close(f);
}
END_TEST

/* Each bad tensor: the specific status, the tensor named, no buffer. */
static const struct {
    const char *name;
    kvc_status status;
    const char *err_tensor; /* the tensor the error names */
    const char *detail;     /* a phrase the detail contains */
} bad_tensors[] = {
    {"nope", KVC_TENSOR_MISSING, "nope", "nope"},
    {"b.weight", KVC_TENSOR_MISSING, "b.scale", "b.scale"},
    {"c.weight", KVC_TENSOR_DTYPE, "c.scale", "BF16"},
    {"d.weight", KVC_TENSOR_SHAPE, "d.scale", "expected [1, 1]"},
    {"e.weight", KVC_TENSOR_SHAPE, "e.weight", "2-D"},
    {"i", KVC_TENSOR_DTYPE, "i", "I32"},
    {"j.scale", KVC_TENSOR_DTYPE, "j.scale", "F8_E8M0"},
};

START_TEST(tensor_bad)
{
    kvc_st_file *f = open_fixture();
    float *out = (float *)&out; /* must be reset to NULL */
    int64_t shape[2];
    kvc_error err;
    kvc_error_clear(&err);
    ck_assert_int_eq(kvc_dequant_tensor(f, bad_tensors[_i].name, &out, shape, &err),
                     bad_tensors[_i].status);
    ck_assert_int_eq(err.status, bad_tensors[_i].status);
    ck_assert_ptr_null(out);
    ck_assert_str_eq(err.tensor, bad_tensors[_i].err_tensor);
    ck_assert_str_eq(err.file, fixture_path);
    CHECK_MSG(strstr(err.detail, bad_tensors[_i].detail) != NULL, "detail '%s' lacks '%s'",
                  err.detail, bad_tensors[_i].detail);
    kvc_st_close(f);
}
END_TEST

static Suite *dequant_suite(void)
{
    Suite *s = suite_create("dequant");
    TCase *tc = tcase_create("scalar");
    tcase_add_test(tc, scalar_every_byte_pair);
    tcase_add_test(tc, scalar_known_values);
    suite_add_tcase(s, tc);
    tc = tcase_create("block");
    tcase_add_loop_test(tc, block_matches_oracle, 0,
                        (int)(sizeof block_shapes / sizeof block_shapes[0]));
    tcase_add_test(tc, block_split_equals_scalar);
    tcase_add_test(tc, block_bad_shapes);
    suite_add_tcase(s, tc);
    tc = tcase_create("widen");
    tcase_add_test(tc, widen_bf16_f16_every_pattern);
    tcase_add_test(tc, widen_f32_copies_bits);
    tcase_add_test(tc, scale_names);
    suite_add_tcase(s, tc);
    tc = tcase_create("tensor");
    tcase_add_unchecked_fixture(tc, make_fixture, remove_fixture);
    tcase_add_test(tc, tensor_fp8_with_scale);
    tcase_add_test(tc, tensor_widen);
    tcase_add_loop_test(tc, tensor_bad, 0, (int)(sizeof bad_tensors / sizeof bad_tensors[0]));
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return kvc_test_run(dequant_suite());
}
