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
            ck_assert_msg(f32_is(got, want), "w=0x%02X s=0x%02X: got %a, want %a", w, s,
                          (double)got, want);
        }
}
END_TEST

START_TEST(scalar_known_values)
{
    ck_assert(kvc_dequant_e4m3_e8m0(0x7E, 127) == 448.0f);   /* 448 * 1 */
    ck_assert(kvc_dequant_e4m3_e8m0(0x38, 127 - 10) == ldexpf(1.0f, -10));
    ck_assert(kvc_dequant_e4m3_e8m0(0x01, 0) == ldexpf(1.0f, -136)); /* deepest subnormal */
    ck_assert(isinf(kvc_dequant_e4m3_e8m0(0x7E, 254)));      /* 448 * 2^127 overflows */
    ck_assert(kvc_dequant_e4m3_e8m0(0x38, 254) == ldexpf(1.0f, 127)); /* 1 * 2^127 */
    ck_assert(isnan(kvc_dequant_e4m3_e8m0(0x00, 255)));      /* 0 * NaN scale */
    ck_assert(isnan(kvc_dequant_e4m3_e8m0(0x7F, 127)));
    ck_assert(isnan(kvc_dequant_e4m3_e8m0(0xFF, 127)));
    ck_assert(signbit(kvc_dequant_e4m3_e8m0(0x80, 127)));   /* -0 */
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
    ck_assert(w && s && out);
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
            ck_assert_msg(f32_is(got, oracle_dequant(wb, sb)),
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
    const int64_t rows = 1024, cols = 2048, sr = 8, sc = 16;
    uint64_t seed = 77;
    uint8_t *w = malloc((size_t)(rows * cols));
    uint8_t s[8 * 16];
    float *out = malloc((size_t)(rows * cols) * sizeof(float));
    ck_assert(w && out);
    for (int64_t i = 0; i < rows * cols; i++)
        w[i] = (uint8_t)kvc_test_rand64(&seed);
    for (int i = 0; i < sr * sc; i++)
        s[i] = (uint8_t)(110 + i % 20);
    ck_assert_int_eq(kvc_dequant_fp8_block(w, rows, cols, s, sr, sc, out, NULL), KVC_OK);
    for (int64_t o = 0; o < rows; o++)
        for (int64_t i = 0; i < cols; i++) {
            float want = kvc_dequant_e4m3_e8m0(w[o * cols + i], s[(o / 128) * sc + i / 128]);
            ck_assert(memcmp(&want, &out[o * cols + i], sizeof want) == 0 ||
                      (isnan(want) && isnan(out[o * cols + i])));
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
    ck_assert(raw && out);
    for (int h = 0; h < 65536; h++) {
        raw[1 + 2 * h] = (unsigned char)(h & 0xFF);
        raw[2 + 2 * h] = (unsigned char)(h >> 8);
    }
    kvc_widen_bf16(raw + 1, 65536, out);
    for (int h = 0; h < 65536; h++)
        ck_assert_msg(f32_is(out[h], oracle_bf16((uint16_t)h)), "bf16 0x%04X", h);
    kvc_widen_f16(raw + 1, 65536, out);
    for (int h = 0; h < 65536; h++)
        ck_assert_msg(f32_is(out[h], oracle_fp16((uint16_t)h)), "fp16 0x%04X", h);
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
    ck_assert(memcmp(raw + 1, out, sizeof out) == 0);
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
    return s;
}

int main(void)
{
    return kvc_test_run(dequant_suite());
}
