/* Tests for core/formats.h (SPEC.md 2) against the independent binary64
 * oracle of tests/formats_oracle.h.
 *
 * - every decode pattern (all 65 536 bf16 / fp16, all 256 E4M3 / E8M0)
 *   compared bit for bit with the oracle's value (NaN: class, sign and the
 *   documented payload);
 * - every encoder against the search oracle on: every representable value,
 *   every midpoint between neighbours (overflow thresholds included) and
 *   the binary32 neighbours of each, +-0, +-inf, NaNs of many payloads and
 *   both signs, binary32 subnormals, the binary32 extremes, every power of
 *   two, and a dense sweep (every 4099th binary32 pattern, from two
 *   starting points);
 * - the fast oracle (used by the 2^32 sweep, `make check-exhaustive`)
 *   against the search oracle on the same inputs;
 * - round trips decode(encode(decode(b))) == b for every non-NaN pattern;
 * - hand-derived values, including the 464 reading of E4M3's nan mode.
 *
 * Loops count mismatches and report the first one (an assertion per
 * element would cost a pipe write each in Check's fork mode). No
 * tolerances: every comparison is exact.
 */
#include <math.h>

#include "core/formats.h"
#include "formats_oracle.h"
#include "testutil.h"

/* Built once in main, before Check forks. */
static kvo_grid grid_bf16, grid_fp16, grid_e4m3;
static kvo_inputs inputs;

/* ------------------------------------------------------------ decoding */

typedef struct decode_case {
    const kvo_format *fmt;
    kvc_format_op op;
    uint32_t ncodes;
} decode_case;

static const decode_case decode_cases[] = {
    {&kvo_bf16, KVC_FORMAT_BF16_DECODE, 65536},
    {&kvo_fp16, KVC_FORMAT_FP16_DECODE, 65536},
    {&kvo_e4m3, KVC_FORMAT_E4M3_DECODE, 256},
};

/* The binary32 bits a code must decode to, NaN policy included. */
static uint32_t expected_decode_bits(const kvo_format *f, uint32_t code)
{
    double v = kvo_decode(f, code);
    if (isnan(v))
        return kvo_decode_nan_bits(f, code);
    /* every value of these formats is a binary32 value: the cast is exact
     * (inf included); a value that is not would be an oracle bug */
    if ((double)(float)v != v) {
        fprintf(stderr, "%s 0x%x: value %a is not a binary32\n", f->name, code, v);
        exit(KVC_TEST_HARD_ERROR);
    }
    return kvo_f32_bits((float)v);
}

START_TEST(decode_all_patterns)
{
    const decode_case *c = &decode_cases[_i];
    uint32_t bad = 0, first = 0, want_first = 0, got_first = 0;
    for (uint32_t code = 0; code < c->ncodes; code++) {
        uint32_t want = expected_decode_bits(c->fmt, code);
        uint32_t got = kvc_format_apply(c->op, code);
        /* the direct functions and the dispatcher must agree too */
        uint32_t direct = c->ncodes == 256 ? kvc_f32_bits(kvc_e4m3_to_f32((uint8_t)code))
                          : c->fmt == &kvo_bf16 ? kvc_f32_bits(kvc_bf16_to_f32((uint16_t)code))
                                                : kvc_f32_bits(kvc_fp16_to_f32((uint16_t)code));
        if (got != want || direct != want) {
            if (bad++ == 0) {
                first = code;
                want_first = want;
                got_first = got != want ? got : direct;
            }
        }
    }
    ck_assert_msg(bad == 0, "%s: %u of %u codes decode wrong; first 0x%x: got 0x%08x, want 0x%08x",
                  c->fmt->name, bad, c->ncodes, first, got_first, want_first);
}
END_TEST

START_TEST(decode_e8m0_all_patterns)
{
    for (uint32_t c = 0; c < 256; c++) {
        double v = kvo_e8m0_decode(c);
        uint32_t got = kvc_f32_bits(kvc_e8m0_to_f32((uint8_t)c));
        ck_assert_uint_eq(kvc_format_apply(KVC_FORMAT_E8M0_DECODE, c), got);
        if (isnan(v))
            ck_assert_msg(got == 0x7FC00000u, "e8m0 0xFF decodes to 0x%08x", got);
        else
            ck_assert_msg(got == kvo_f32_bits((float)v), "e8m0 0x%02x: got 0x%08x, want %a", c,
                          got, v);
    }
}
END_TEST

/* Known values by hand, so the oracle itself is pinned to the definitions. */
START_TEST(oracle_known_values)
{
    ck_assert(kvo_decode(&kvo_e4m3, 0x7E) == 448.0);
    ck_assert(kvo_decode(&kvo_e4m3, 0x08) == 0x1p-6);
    ck_assert(kvo_decode(&kvo_e4m3, 0x01) == 0x1p-9);
    ck_assert(kvo_decode(&kvo_e4m3, 0x38) == 1.0);
    ck_assert(kvo_decode(&kvo_e4m3, 0xC4) == -3.0); /* 1.100 * 2^1 */
    ck_assert(isnan(kvo_decode(&kvo_e4m3, 0x7F)) && isnan(kvo_decode(&kvo_e4m3, 0xFF)));
    ck_assert(kvo_decode(&kvo_e4m3, 0x78) == 256.0); /* exponent 15 is finite in "fn" */
    ck_assert(kvo_decode(&kvo_fp16, 0x7BFF) == 65504.0);
    ck_assert(kvo_decode(&kvo_fp16, 0x0001) == 0x1p-24);
    ck_assert(kvo_decode(&kvo_fp16, 0x0400) == 0x1p-14);
    ck_assert(kvo_decode(&kvo_fp16, 0x3C00) == 1.0);
    ck_assert(isinf(kvo_decode(&kvo_fp16, 0xFC00)) && kvo_decode(&kvo_fp16, 0xFC00) < 0);
    ck_assert(kvo_decode(&kvo_bf16, 0x7F7F) == 0x1.FEp127);
    ck_assert(kvo_decode(&kvo_bf16, 0x0001) == 0x1p-133);
    ck_assert(kvo_decode(&kvo_bf16, 0x3F80) == 1.0);
    ck_assert(kvo_e8m0_decode(0) == 0x1p-127 && kvo_e8m0_decode(0xFE) == 0x1p127);
    ck_assert(kvo_max_finite(&kvo_bf16) == 0x1.FEp127);
    ck_assert(kvo_max_finite(&kvo_fp16) == 65504.0);
    ck_assert(kvo_max_finite(&kvo_e4m3) == 448.0);
    /* grids: finite non-negative values plus the sentinel */
    ck_assert_uint_eq(grid_e4m3.n, 127 + 1);
    ck_assert_uint_eq(grid_fp16.n, 31744 + 1);
    ck_assert_uint_eq(grid_bf16.n, 32640 + 1);
    ck_assert(grid_e4m3.value[grid_e4m3.n - 1] == 480.0);
    ck_assert(grid_fp16.value[grid_fp16.n - 1] == 65536.0);
    ck_assert(grid_bf16.value[grid_bf16.n - 1] == 0x1p128);
}
END_TEST

/* ------------------------------------------------------------ encoding */

typedef struct encode_case {
    kvc_format_op op;
    const kvo_grid *grid; /* NULL: E8M0 */
    kvo_overflow mode;    /* or round_up for E8M0 */
} encode_case;

static const encode_case encode_cases[] = {
    {KVC_FORMAT_BF16_ENCODE, &grid_bf16, KVO_OVERFLOW_INF},
    {KVC_FORMAT_FP16_ENCODE, &grid_fp16, KVO_OVERFLOW_INF},
    {KVC_FORMAT_E4M3_SATFINITE_ENCODE, &grid_e4m3, KVO_OVERFLOW_SAT},
    {KVC_FORMAT_E4M3_NAN_ENCODE, &grid_e4m3, KVO_OVERFLOW_NAN},
    {KVC_FORMAT_E8M0_RZ_ENCODE, NULL, 0},
    {KVC_FORMAT_E8M0_RP_ENCODE, NULL, 1},
};
#define N_ENCODE_CASES (int)(sizeof encode_cases / sizeof encode_cases[0])

/* The direct call of each encoder (the dispatcher is tested against it). */
static uint32_t encode_direct(kvc_format_op op, float x)
{
    switch (op) {
    case KVC_FORMAT_BF16_ENCODE: return kvc_f32_to_bf16(x);
    case KVC_FORMAT_FP16_ENCODE: return kvc_f32_to_fp16(x);
    case KVC_FORMAT_E4M3_SATFINITE_ENCODE: return kvc_f32_to_e4m3(x, KVC_E4M3_SATFINITE);
    case KVC_FORMAT_E4M3_NAN_ENCODE: return kvc_f32_to_e4m3(x, KVC_E4M3_NAN);
    case KVC_FORMAT_E8M0_RZ_ENCODE: return kvc_f32_to_e8m0(x, KVC_E8M0_RZ);
    case KVC_FORMAT_E8M0_RP_ENCODE: return kvc_f32_to_e8m0(x, KVC_E8M0_RP);
    default: ck_abort_msg("not an encoder: %d", (int)op);
    }
    return 0;
}

static uint32_t oracle_search(const encode_case *c, float x)
{
    if (c->grid == NULL)
        return kvo_e8m0_encode(x, (int)c->mode);
    return kvo_encode_search(c->grid, x, c->mode);
}

/* The implementation against the search oracle on every test input. */
START_TEST(encode_against_search_oracle)
{
    const encode_case *c = &encode_cases[_i];
    size_t bad = 0;
    uint32_t first = 0, got_first = 0, want_first = 0;
    for (size_t i = 0; i < inputs.n; i++) {
        float x = kvo_f32(inputs.bits[i]);
        uint32_t want = oracle_search(c, x);
        uint32_t got = kvc_format_apply(c->op, inputs.bits[i]);
        uint32_t direct = encode_direct(c->op, x);
        if (got != want || direct != want) {
            if (bad++ == 0) {
                first = inputs.bits[i];
                got_first = got != want ? got : direct;
                want_first = want;
            }
        }
    }
    ck_assert_msg(bad == 0, "%s: %zu of %zu inputs wrong; first 0x%08x (%a): got 0x%x, want 0x%x",
                  kvc_format_op_name(c->op), bad, inputs.n, first, (double)kvo_f32(first),
                  got_first, want_first);
}
END_TEST

/* The fast oracle of the exhaustive sweep against the search oracle. */
START_TEST(fast_oracle_against_search_oracle)
{
    const encode_case *c = &encode_cases[_i];
    ck_assert_ptr_nonnull(c->grid);
    ck_assert_int_eq(fegetround(), FE_TONEAREST);
    size_t bad = 0;
    uint32_t first = 0, fast_first = 0, want_first = 0;
    for (size_t i = 0; i < inputs.n; i++) {
        float x = kvo_f32(inputs.bits[i]);
        uint32_t want = kvo_encode_search(c->grid, x, c->mode);
        uint32_t fast = kvo_encode_fast(c->grid->f, x, c->mode);
        if (fast != want && bad++ == 0) {
            first = inputs.bits[i];
            fast_first = fast;
            want_first = want;
        }
    }
    ck_assert_msg(bad == 0, "%s: fast oracle differs on %zu inputs; first 0x%08x: 0x%x vs 0x%x",
                  kvc_format_op_name(c->op), bad, first, fast_first, want_first);
}
END_TEST

/* E8M0 by a second, independent oracle: a binary search over the table
 * of all 2^k, k = -127..127, against the frexp oracle. */
START_TEST(e8m0_against_power_search)
{
    double pow2[255];
    for (int k = -127; k <= 127; k++)
        pow2[k + 127] = ldexp(1.0, k);
    size_t bad = 0;
    uint32_t first = 0;
    for (size_t i = 0; i < inputs.n; i++) {
        float x = kvo_f32(inputs.bits[i]);
        if (isnan(x))
            continue;
        double a = fabs((double)x);
        /* rz: the largest 2^k <= a (2^-127 below the range) */
        int lo = 0, hi = 254;
        while (lo < hi) {
            int mid = (lo + hi + 1) / 2;
            if (pow2[mid] <= a)
                lo = mid;
            else
                hi = mid - 1;
        }
        uint32_t want_rz = (uint32_t)lo;
        /* rp: the smallest 2^k >= a (2^127 above the range) */
        lo = 0;
        hi = 254;
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (pow2[mid] >= a)
                hi = mid;
            else
                lo = mid + 1;
        }
        uint32_t want_rp = (uint32_t)lo;
        if ((kvo_e8m0_encode(x, 0) != want_rz || kvo_e8m0_encode(x, 1) != want_rp) && bad++ == 0)
            first = inputs.bits[i];
    }
    ck_assert_msg(bad == 0, "e8m0 oracles disagree on %zu inputs; first 0x%08x", bad, first);
}
END_TEST

/* decode(encode(decode(b))) == b for every non-NaN pattern. */
START_TEST(round_trips)
{
    for (uint32_t b = 0; b < 65536; b++) {
        uint16_t h = (uint16_t)b;
        if (!kvo_is_nan(&kvo_bf16, b)) {
            ck_assert_msg(kvc_f32_to_bf16(kvc_bf16_to_f32(h)) == h, "bf16 0x%04x", b);
            ck_assert(kvc_f32_bits(kvc_round_bf16(kvc_bf16_to_f32(h))) ==
                      kvc_f32_bits(kvc_bf16_to_f32(h)));
        }
        if (!kvo_is_nan(&kvo_fp16, b)) {
            ck_assert_msg(kvc_f32_to_fp16(kvc_fp16_to_f32(h)) == h, "fp16 0x%04x", b);
            ck_assert(kvc_f32_bits(kvc_round_fp16(kvc_fp16_to_f32(h))) ==
                      kvc_f32_bits(kvc_fp16_to_f32(h)));
        }
    }
    for (uint32_t b = 0; b < 256; b++) {
        uint8_t q = (uint8_t)b;
        if (!kvo_is_nan(&kvo_e4m3, b)) {
            float v = kvc_e4m3_to_f32(q);
            ck_assert_msg(kvc_f32_to_e4m3(v, KVC_E4M3_SATFINITE) == q, "e4m3 sat 0x%02x", b);
            ck_assert_msg(kvc_f32_to_e4m3(v, KVC_E4M3_NAN) == q, "e4m3 nan 0x%02x", b);
            ck_assert(kvc_f32_bits(kvc_round_e4m3(v, KVC_E4M3_NAN)) == kvc_f32_bits(v));
        }
        if (b != 0xFF) {
            float v = kvc_e8m0_to_f32(q);
            ck_assert_msg(kvc_f32_to_e8m0(v, KVC_E8M0_RZ) == q, "e8m0 rz 0x%02x", b);
            ck_assert_msg(kvc_f32_to_e8m0(v, KVC_E8M0_RP) == q, "e8m0 rp 0x%02x", b);
        }
    }
}
END_TEST

/* ------------------------------------------------- hand-derived values */

typedef struct known_case {
    kvc_format_op op;
    uint32_t in;   /* binary32 bits */
    uint32_t want; /* code */
    const char *why;
} known_case;

static const known_case known_cases[] = {
    /* E4M3: 464 = halfway between 448 (110, even) and 480 (111): RNE -> 448 */
    {KVC_FORMAT_E4M3_SATFINITE_ENCODE, 0x43E80000u, 0x7E, "464 -> 448 (satfinite)"},
    {KVC_FORMAT_E4M3_NAN_ENCODE, 0x43E80000u, 0x7E, "464 -> 448 (nan mode: the RNE reading)"},
    {KVC_FORMAT_E4M3_NAN_ENCODE, 0xC3E80000u, 0xFE, "-464 -> -448 (nan mode)"},
    {KVC_FORMAT_E4M3_NAN_ENCODE, 0x43E80001u, 0x7F, "next float above 464 -> NaN"},
    {KVC_FORMAT_E4M3_SATFINITE_ENCODE, 0x43E80001u, 0x7E, "next float above 464 -> 448"},
    {KVC_FORMAT_E4M3_NAN_ENCODE, 0xC3E80001u, 0xFF, "below -464 -> -NaN"},
    {KVC_FORMAT_E4M3_NAN_ENCODE, 0x43E7FFFFu, 0x7E, "just under 464 -> 448"},
    {KVC_FORMAT_E4M3_NAN_ENCODE, 0x43F00000u, 0x7F, "480 -> NaN"},
    {KVC_FORMAT_E4M3_SATFINITE_ENCODE, 0x7F800000u, 0x7E, "+inf -> 448"},
    {KVC_FORMAT_E4M3_SATFINITE_ENCODE, 0xFF800000u, 0xFE, "-inf -> -448"},
    {KVC_FORMAT_E4M3_NAN_ENCODE, 0x7F800000u, 0x7F, "+inf -> NaN"},
    {KVC_FORMAT_E4M3_SATFINITE_ENCODE, 0x7FC00000u, 0x7F, "NaN stays NaN under satfinite"},
    {KVC_FORMAT_E4M3_SATFINITE_ENCODE, 0xFFC00000u, 0xFF, "-NaN keeps its sign"},
    {KVC_FORMAT_E4M3_SATFINITE_ENCODE, 0x3A800000u, 0x00, "2^-10, half the step: tie to 0"},
    {KVC_FORMAT_E4M3_SATFINITE_ENCODE, 0x3A800001u, 0x01, "just over 2^-10 -> 2^-9"},
    {KVC_FORMAT_E4M3_SATFINITE_ENCODE, 0x3B400000u, 0x02, "1.5 * 2^-9: tie to even 2 * 2^-9"},
    {KVC_FORMAT_E4M3_SATFINITE_ENCODE, 0x3C7C0000u, 0x08, "0.015380859: rounds up to 2^-6"},
    {KVC_FORMAT_E4M3_SATFINITE_ENCODE, 0x3F880000u, 0x38, "1.0625: tie to even 1.0"},
    {KVC_FORMAT_E4M3_SATFINITE_ENCODE, 0x3F980000u, 0x3A, "1.1875: tie to even 1.25"},
    {KVC_FORMAT_E4M3_SATFINITE_ENCODE, 0x80000001u, 0x80, "-tiny -> -0"},
    /* fp16: 65520 = 65504 + half an ulp: the tie goes to inf (even) */
    {KVC_FORMAT_FP16_ENCODE, 0x477FF000u, 0x7C00, "65520 -> inf"},
    {KVC_FORMAT_FP16_ENCODE, 0x477FEFFFu, 0x7BFF, "just under 65520 -> 65504"},
    {KVC_FORMAT_FP16_ENCODE, 0xC77FF000u, 0xFC00, "-65520 -> -inf"},
    {KVC_FORMAT_FP16_ENCODE, 0x33000000u, 0x0000, "2^-25: tie to 0"},
    {KVC_FORMAT_FP16_ENCODE, 0x33000001u, 0x0001, "just over 2^-25 -> 2^-24"},
    {KVC_FORMAT_FP16_ENCODE, 0x33C00000u, 0x0002, "1.5 * 2^-24: tie to even 2"},
    {KVC_FORMAT_FP16_ENCODE, 0x387FE000u, 0x0400, "last subnormal + half: to 2^-14"},
    {KVC_FORMAT_FP16_ENCODE, 0x7F800001u, 0x7E00, "sNaN -> quiet NaN"},
    {KVC_FORMAT_FP16_ENCODE, 0xFFFFFFFFu, 0xFFFF, "-NaN, full payload"},
    {KVC_FORMAT_FP16_ENCODE, 0x3DCCCCCDu, 0x2E66, "0.1f"},
    /* bf16 */
    {KVC_FORMAT_BF16_ENCODE, 0x7F7FFFFFu, 0x7F80, "FLT_MAX -> inf"},
    {KVC_FORMAT_BF16_ENCODE, 0x7F7F7FFFu, 0x7F7F, "just under the inf threshold"},
    {KVC_FORMAT_BF16_ENCODE, 0x7F7F8000u, 0x7F80, "max + half ulp: tie to inf"},
    {KVC_FORMAT_BF16_ENCODE, 0x3F808000u, 0x3F80, "1 + 2^-8: tie to even 1"},
    {KVC_FORMAT_BF16_ENCODE, 0x3F818000u, 0x3F82, "1 + 3 * 2^-8: tie to even"},
    {KVC_FORMAT_BF16_ENCODE, 0x00008000u, 0x0000, "binary32 subnormal tie to 0"},
    {KVC_FORMAT_BF16_ENCODE, 0x7F800001u, 0x7FC0, "sNaN -> quiet NaN"},
    {KVC_FORMAT_BF16_ENCODE, 0xFFA00000u, 0xFFE0, "-NaN payload kept"},
    {KVC_FORMAT_BF16_ENCODE, 0x3DCCCCCDu, 0x3DCD, "0.1f"},
    /* E8M0 */
    {KVC_FORMAT_E8M0_RZ_ENCODE, 0x3FC00000u, 0x7F, "1.5: floor 2^0"},
    {KVC_FORMAT_E8M0_RP_ENCODE, 0x3FC00000u, 0x80, "1.5: ceil 2^1"},
    {KVC_FORMAT_E8M0_RP_ENCODE, 0x40000000u, 0x80, "2 exactly"},
    {KVC_FORMAT_E8M0_RP_ENCODE, 0xC0000001u, 0x81, "sign ignored"},
    {KVC_FORMAT_E8M0_RZ_ENCODE, 0x00000000u, 0x00, "0 -> 2^-127"},
    {KVC_FORMAT_E8M0_RP_ENCODE, 0x00400000u, 0x00, "2^-127 exactly"},
    {KVC_FORMAT_E8M0_RP_ENCODE, 0x00400001u, 0x01, "above 2^-127 -> 2^-126"},
    {KVC_FORMAT_E8M0_RP_ENCODE, 0x7F000001u, 0xFE, "above 2^127 saturates"},
    {KVC_FORMAT_E8M0_RZ_ENCODE, 0x7F800000u, 0xFE, "inf saturates"},
    {KVC_FORMAT_E8M0_RZ_ENCODE, 0xFFC00000u, 0xFF, "NaN"},
};

START_TEST(known_values)
{
    const known_case *c = &known_cases[_i];
    uint32_t got = kvc_format_apply(c->op, c->in);
    ck_assert_msg(got == c->want, "%s: %s: 0x%08x -> 0x%x, want 0x%x", kvc_format_op_name(c->op),
                  c->why, c->in, got, c->want);
    ck_assert_uint_eq(encode_direct(c->op, kvo_f32(c->in)), c->want);
}
END_TEST

/* The deliberate 464 reading (formats.h, kvc_f32_to_e4m3), in words. */
START_TEST(e4m3_464_reading)
{
    float t = 464.0f;
    ck_assert_uint_eq(kvc_f32_to_e4m3(t, KVC_E4M3_NAN), 0x7E);
    ck_assert(kvc_round_e4m3(t, KVC_E4M3_NAN) == 448.0f);
    ck_assert(kvc_round_e4m3(-t, KVC_E4M3_NAN) == -448.0f);
    ck_assert(isnan(kvc_round_e4m3(nextafterf(t, INFINITY), KVC_E4M3_NAN)));
    ck_assert(kvc_round_e4m3(nextafterf(t, INFINITY), KVC_E4M3_SATFINITE) == 448.0f);
    /* the oracle reaches the same by its own route */
    ck_assert_uint_eq(kvo_encode_search(&grid_e4m3, t, KVO_OVERFLOW_NAN), 0x7E);
    ck_assert_uint_eq(kvo_encode_fast(&kvo_e4m3, t, KVO_OVERFLOW_NAN), 0x7E);
}
END_TEST

START_TEST(op_names_and_unknown_op)
{
    for (int op = 0; op < (int)KVC_FORMAT_OP_COUNT; op++)
        ck_assert_str_ne(kvc_format_op_name((kvc_format_op)op), "?");
    ck_assert_str_eq(kvc_format_op_name(KVC_FORMAT_OP_COUNT), "?");
    ck_assert_uint_eq(kvc_format_apply(KVC_FORMAT_OP_COUNT, 0x3F800000u), 0);
    /* decoders ignore the bits above their code */
    ck_assert_uint_eq(kvc_format_apply(KVC_FORMAT_E4M3_DECODE, 0xABCD0038u), 0x3F800000u);
    ck_assert_uint_eq(kvc_format_apply(KVC_FORMAT_BF16_DECODE, 0xFFFF3F80u), 0x3F800000u);
}
END_TEST

static Suite *formats_suite(void)
{
    Suite *s = suite_create("formats");
    TCase *tc = tcase_create("decode");
    tcase_add_loop_test(tc, decode_all_patterns, 0,
                        (int)(sizeof decode_cases / sizeof decode_cases[0]));
    tcase_add_test(tc, decode_e8m0_all_patterns);
    tcase_add_test(tc, oracle_known_values);
    suite_add_tcase(s, tc);

    tc = tcase_create("encode");
    tcase_add_loop_test(tc, encode_against_search_oracle, 0, N_ENCODE_CASES);
    tcase_add_loop_test(tc, fast_oracle_against_search_oracle, 0, 4); /* the grid formats */
    tcase_add_test(tc, e8m0_against_power_search);
    tcase_add_test(tc, round_trips);
    tcase_add_loop_test(tc, known_values, 0,
                        (int)(sizeof known_cases / sizeof known_cases[0]));
    tcase_add_test(tc, e4m3_464_reading);
    tcase_add_test(tc, op_names_and_unknown_op);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (kvo_grid_init(&grid_bf16, &kvo_bf16) != 0 || kvo_grid_init(&grid_fp16, &kvo_fp16) != 0 ||
        kvo_grid_init(&grid_e4m3, &kvo_e4m3) != 0) {
        fprintf(stderr, "check_formats: cannot build the oracle grids\n");
        return KVC_TEST_HARD_ERROR;
    }
    if (kvo_inputs_add_grid(&inputs, &grid_bf16) != 0 ||
        kvo_inputs_add_grid(&inputs, &grid_fp16) != 0 ||
        kvo_inputs_add_grid(&inputs, &grid_e4m3) != 0) {
        fprintf(stderr, "check_formats: a midpoint is not a binary32 value\n");
        return KVC_TEST_HARD_ERROR;
    }
    kvo_inputs_add_specials(&inputs);
    kvo_inputs_add_sweep(&inputs, 0, 4099);
    kvo_inputs_add_sweep(&inputs, 2048, 4099);
    printf("check_formats: %zu encoder inputs\n", inputs.n);
    int rc = kvc_test_run(formats_suite());
    kvo_inputs_free(&inputs);
    kvo_grid_free(&grid_bf16);
    kvo_grid_free(&grid_fp16);
    kvo_grid_free(&grid_e4m3);
    return rc;
}
