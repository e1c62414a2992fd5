/* Tests for codec/fp8block.h: the SPEC 6 block simulations and the SPEC 7.1
 * baselines against an independent oracle, and the fp8_ds_mla byte format.
 *
 * The oracle shares no code with the library: every binary32 operation is
 * done in binary64 and rounded once to binary32 with a C cast (innocuous
 * double rounding for + - * /: 53 >= 2*24 + 2); bf16 rounding uses
 * frexp/ldexp/nearbyint; E4M3 encoding is a nearest search over the 256
 * byte values decoded from their definition (ties to the even code);
 * ceil(log2) uses frexp. */
#include <math.h>
#include <stdlib.h>

#include "codec/fp8block.h"
#include "testutil.h"

#define REQUIRE(c)                                                             \
    do {                                                                       \
        if (!(c))                                                              \
            ck_abort_msg("%s:%d: failed: %s", __FILE__, __LINE__, #c);         \
    } while (0)

static uint32_t bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* ------------------------------------------------------------ oracle */

static float o_mul(float a, float b) { return (float)((double)a * (double)b); }
static float o_div(float a, float b) { return (float)((double)a / (double)b); }

static float o_bf16(float v)
{
    if (v != v || isinf(v) || v == 0.0f)
        return v;
    double d = v;
    double r;
    if (fabs(d) < 0x1p-126) {
        r = ldexp(nearbyint(ldexp(d, 133)), -133);
    } else {
        int e;
        double m = frexp(d, &e); /* |m| in [0.5, 1): 8 significant bits */
        r = ldexp(nearbyint(ldexp(m, 8)), e - 8);
    }
    return (float)r; /* beyond the bf16 range this is +-inf, as bf16 rounds */
}

static float o_dt(float v, kvc_fp8_dt dt)
{
    return dt == KVC_FP8_DT_BF16 ? o_bf16(v) : v;
}

static double e4m3_value(int b)
{
    int e = (b >> 3) & 15, m = b & 7;
    double v = (e == 0) ? m * ldexp(1.0, -9) : (1.0 + m / 8.0) * ldexp(1.0, e - 7);
    return (b & 0x80) ? -v : v;
}

/* Nearest E4M3 value to v (|v| <= 448), ties to the even code; the sign
 * is carried through (E4M3 rounding is symmetric; -0 stays -0). */
static float o_e4m3(float v)
{
    if (v != v)
        return v;
    double a = fabs((double)v);
    double best = 0.0, bd = INFINITY;
    int bcode = -1;
    for (int b = 0; b < 0x7F; b++) {
        double val = e4m3_value(b);
        double d = fabs(a - val);
        if (d < bd || (d == bd && (b & 1) == 0 && (bcode & 1) == 1)) {
            bd = d;
            best = val;
            bcode = b;
        }
    }
    return (float)copysign(best, (double)v);
}

static float o_clamp448(float v)
{
    return v > 448.0f ? 448.0f : (v < -448.0f ? -448.0f : v);
}

static float o_amax(const float *x, int n, kvc_fp8_dt dt)
{
    double m = 0.0;
    for (int i = 0; i < n; i++)
        if (fabs((double)x[i]) > m)
            m = fabs((double)x[i]);
    float fl = o_dt((float)1e-4, dt);
    return (float)m < fl ? fl : (float)m;
}

static void o_uniform127(const float *x, float *out, int n, kvc_fp8_dt dt)
{
    float inv448 = o_div(1.0f, 448.0f);
    float step = (float)(448.0 / 127.0);
    float inv_step = o_div(1.0f, step);
    float scale = o_dt(o_mul(o_amax(x, n, dt), inv448), dt);
    for (int i = 0; i < n; i++) {
        float xs = o_clamp448(o_dt(o_div(x[i], scale), dt));
        float lv = (float)nearbyint((double)o_dt(o_mul(xs, inv_step), dt)); /* keeps -0 */
        out[i] = o_dt(o_mul(o_dt(o_mul(lv, step), dt), scale), dt);
    }
}

static void o_e4m3_block(const float *x, float *out, int n, kvc_fp8_dt dt)
{
    float scale = o_dt(o_mul(o_amax(x, n, dt), o_div(1.0f, 448.0f)), dt);
    for (int i = 0; i < n; i++) {
        float xs = o_clamp448(o_dt(o_div(x[i], scale), dt));
        out[i] = o_dt(o_mul(o_e4m3(xs), scale), dt);
    }
}

static float o_pow2_scale(const float *x, int n, kvc_fp8_dt dt)
{
    float t = o_mul(o_amax(x, n, dt), o_div(1.0f, 448.0f));
    int e;
    double m = frexp((double)t, &e);
    return (float)ldexp(1.0, m == 0.5 ? e - 1 : e); /* the least 2^k >= t */
}

static void o_pow2_block(const float *x, float *out, int n, kvc_fp8_dt dt)
{
    float scale = o_pow2_scale(x, n, dt);
    for (int i = 0; i < n; i++)
        out[i] = o_bf16(o_mul(o_e4m3(o_clamp448(o_div(x[i], scale))), scale));
}

/* ------------------------------------------------------------ data */

static double gauss(uint64_t *st)
{
    double u1 = ((double)(kvc_test_rand64(st) >> 11) + 0.5) * 0x1p-53;
    double u2 = (double)(kvc_test_rand64(st) >> 11) * 0x1p-53;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Block kinds: Gaussian at a random scale, bf16-valued data, tiny blocks
 * under the 1e-4 floor, one huge outlier, exact E4M3 grid points times a
 * power of two (ties in the codes), all zero and -0, uniform-127 level
 * midpoints (where inv(448/127) and a true division round differently). */
static void fill_block(float *x, int n, uint64_t *st, int kind)
{
    double scale = exp(((double)(kvc_test_rand64(st) >> 11) * 0x1p-53) * 30.0 - 15.0);
    for (int i = 0; i < n; i++) {
        double g = gauss(st);
        switch (kind % 8) {
        case 0: x[i] = (float)(g * scale); break;
        case 1: x[i] = kvc_round_bf16((float)(g * scale)); break;
        case 2: x[i] = (float)(g * 1e-6); break;
        case 3: x[i] = (float)(g * scale * (i == 3 ? 1e4 : 1.0)); break;
        case 4: x[i] = (float)(e4m3_value((int)(kvc_test_rand64(st) & 0x7E)) *
                               ldexp(1.0, (int)(kvc_test_rand64(st) % 9u) - 4) *
                               ((kvc_test_rand64(st) & 1) ? -1.0 : 1.0));
            break;
        case 5: x[i] = (i % 2) ? 0.0f : -0.0f; break;
        case 7: /* uniform-127 level midpoints (k + 1/2) * 448/127, scale 1 */
            x[i] = (i == 0) ? 448.0f
                            : (float)(((double)(kvc_test_rand64(st) % 127u) + 0.5) *
                                      (double)(448.0f / 127.0f) * ((i & 1) ? -1.0 : 1.0));
            break;
        default: /* midpoints between E4M3 values after scaling by 1 */
            x[i] = (float)((e4m3_value((int)(kvc_test_rand64(st) % 0x7Eu)) +
                            e4m3_value((int)(kvc_test_rand64(st) % 0x7Eu))) * 0.5);
            if (i == 0)
                x[i] = 448.0f; /* amax 448: scale 1 */
            break;
        }
    }
}

/* ------------------------------------------------------------ tests */

START_TEST(constants)
{
    ck_assert_uint_eq(bits(1.0f / 448.0f), KVC_FP8_INV_448_BITS);
    ck_assert_uint_eq(bits((float)(448.0 / 127.0)), KVC_FP8_448_127_BITS);
    ck_assert_uint_eq(bits(1.0f / (float)(448.0 / 127.0)), KVC_FP8_INV_448_127_BITS);
    ck_assert_uint_eq(bits((float)1e-4), KVC_FP8_1EM4_BITS);
    ck_assert_uint_eq(kvc_f32_to_bf16(kvc_f32_from_bits(KVC_FP8_1EM4_BITS)), 0x38D2u);
}
END_TEST

/* Each simulation and each dt against the oracle, bit for bit, on 21 000
 * blocks of 64 (and odd sizes 1, 7, 100). */
START_TEST(simulations_match_oracle)
{
    int fn = _i / 2;
    kvc_fp8_dt dt = (_i % 2) ? KVC_FP8_DT_F32 : KVC_FP8_DT_BF16;
    uint64_t st = 0xF8B0ull + (uint64_t)_i;
    float x[100], got[100], want[100], inplace[100];
    static const int sizes[] = {64, 64, 64, 1, 7, 100};
    for (int t = 0; t < 7000; t++) {
        int n = sizes[t % 6];
        fill_block(x, n, &st, t);
        memcpy(inplace, x, sizeof x);
        switch (fn) {
        case 0:
            kvc_fp8_sim_uniform127(x, got, n, dt);
            kvc_fp8_sim_uniform127(inplace, inplace, n, dt);
            o_uniform127(x, want, n, dt);
            break;
        case 1:
            kvc_fp8_sim_e4m3(x, got, n, dt);
            kvc_fp8_sim_e4m3(inplace, inplace, n, dt);
            o_e4m3_block(x, want, n, dt);
            break;
        default:
            kvc_fp8_sim_e4m3_pow2(x, got, n, dt);
            kvc_fp8_sim_e4m3_pow2(inplace, inplace, n, dt);
            o_pow2_block(x, want, n, dt);
            break;
        }
        for (int i = 0; i < n; i++) {
            if (bits(got[i]) != bits(want[i]))
                ck_abort_msg("fn %d dt %d block %d [%d]: x %a got %a want %a", fn, (int)dt, t, i,
                             (double)x[i], (double)got[i], (double)want[i]);
            REQUIRE(bits(inplace[i]) == bits(got[i]));
        }
    }
}
END_TEST

/* Hand-derived values: uniform-127 of a block with amax 448 (scale 1 in
 * binary32): levels are multiples of 448/127; the E4M3 continuous scale
 * keeps exact E4M3 values; the power-of-two scale of amax 448 is 1. */
START_TEST(hand_values)
{
    float x[64], out[64];
    memset(x, 0, sizeof x);
    x[0] = 448.0f;
    x[1] = -100.0f;
    x[2] = 1.0f;
    kvc_fp8_sim_e4m3(x, out, 64, KVC_FP8_DT_F32);
    ck_assert(out[0] == 448.0f && out[1] == -96.0f && out[2] == 1.0f && out[3] == 0.0f);
    kvc_fp8_sim_e4m3_pow2(x, out, 64, KVC_FP8_DT_F32);
    ck_assert(out[0] == 448.0f && out[1] == -96.0f && out[2] == 1.0f);
    ck_assert_uint_eq(kvc_fp8_pow2_scale_byte(x, 64, KVC_FP8_DT_F32), 127);
    /* uniform-127: 100 / (448/127) = 28.35 -> 28 levels -> 28 * 3.5275590 = 98.77 */
    kvc_fp8_sim_uniform127(x, out, 64, KVC_FP8_DT_F32);
    ck_assert(out[0] == 448.0f);
    ck_assert(fabsf(out[1] + 98.7716535f) < 1e-4f);
    ck_assert(out[2] == 0.0f); /* 1 / 3.53 = 0.28 -> level 0 */
    /* the 1e-4 floor: an all-zero block stays zero, its pow2 byte is
     * ceil(log2(1e-4 / 448)) + 127 = -22 + 127 = 105 */
    memset(x, 0, sizeof x);
    kvc_fp8_sim_uniform127(x, out, 64, KVC_FP8_DT_BF16);
    ck_assert(out[5] == 0.0f);
    ck_assert_uint_eq(kvc_fp8_pow2_scale_byte(x, 64, KVC_FP8_DT_F32), 105);
}
END_TEST

START_TEST(per64_matches_oracle)
{
    uint64_t st = 0x6464ull;
    static float x[512], got[512], want[512];
    for (int t = 0; t < 2000; t++) {
        for (int b = 0; b < 8; b++)
            fill_block(x + 64 * b, 64, &st, t + b);
        kvc_fp8_per64(x, 1, got);
        for (int b = 0; b < 8; b++) {
            o_e4m3_block(x + 64 * b, want + 64 * b, 64, KVC_FP8_DT_F32);
            for (int i = 64 * b; i < 64 * b + 64; i++)
                want[i] = o_bf16(want[i]);
        }
        for (int i = 0; i < 512; i++)
            REQUIRE(bits(got[i]) == bits(want[i]));
    }
}
END_TEST

/* The byte layout on a hand-made token. */
START_TEST(ds_mla_layout)
{
    static float x[512];
    uint8_t rec[KVC_FP8_DS_MLA_BYTES];
    memset(x, 0, sizeof x);
    x[0] = 448.0f;
    x[1] = -224.0f;
    x[2] = 1.0f;
    x[64] = 3.0f;        /* block 1: amax 3, t = 3/448 -> 2^-7 -> byte 120 */
    x[448] = 1.0f;       /* RoPE dims: bf16 little-endian */
    x[511] = -2.5f;
    kvc_fp8_ds_mla_encode(x, 1, rec);
    ck_assert_uint_eq(rec[0], 0x7E);
    ck_assert_uint_eq(rec[1], 0xF6);
    ck_assert_uint_eq(rec[2], 0x38);
    ck_assert_uint_eq(rec[3], 0x00);
    ck_assert_uint_eq(rec[448], 127);
    ck_assert_uint_eq(rec[449], 120);
    ck_assert_uint_eq(rec[64], 0x7C); /* 3 / 2^-7 = 384 = 1.5 * 2^8: exp 8+7, man 4 */
    for (int j = 2; j < 7; j++)
        ck_assert_uint_eq(rec[448 + j], 105);
    ck_assert_uint_eq(rec[455], 0);
    ck_assert_uint_eq(rec[456], 0x80);
    ck_assert_uint_eq(rec[457], 0x3F);
    ck_assert_uint_eq(rec[582], 0x20); /* -2.5 = bf16 0xC020 */
    ck_assert_uint_eq(rec[583], 0xC0);
}
END_TEST

/* decode(encode(x)) == the simulation, bit for bit, and the simulation
 * matches the oracle: random, bf16-valued and special tokens. */
START_TEST(ds_mla_roundtrip)
{
    enum { N = 3000 };
    static float x[N * 512], sim[N * 512], dec[N * 512];
    static uint8_t bytes[N * KVC_FP8_DS_MLA_BYTES];
    uint64_t st = 0xD5Aull;
    static const float specials[] = {0.0f, -0.0f, 1e-45f, 1e-40f, 1e30f, 3.4e38f, INFINITY,
                                     -INFINITY, NAN};
    for (int v = 0; v < N; v++) {
        float *xv = x + v * 512;
        for (int b = 0; b < 8; b++)
            fill_block(xv + 64 * b, 64, &st, v + 3 * b);
        if (v % 50 == 0)
            xv[(v / 50) % 512] = specials[(v / 50) % 9];
    }
    kvc_fp8_ds_mla(x, N, sim);
    kvc_fp8_ds_mla_encode(x, N, bytes);
    kvc_error e;
    kvc_error_clear(&e);
    ck_assert_int_eq(kvc_fp8_ds_mla_decode(bytes, sizeof bytes, N, dec, &e), KVC_OK);
    ck_assert_int_eq(memcmp(sim, dec, sizeof sim), 0);
    float want[64];
    for (int v = 0; v < N; v++) {
        for (int b = 0; b < 7; b++) {
            const float *xb = x + v * 512 + 64 * b;
            int finite = 1;
            for (int i = 0; i < 64; i++)
                finite &= isfinite(xb[i]) ? 1 : 0;
            if (!finite)
                continue; /* the oracle's frexp path covers finite blocks */
            o_pow2_block(xb, want, 64, KVC_FP8_DT_F32);
            for (int i = 0; i < 64; i++)
                REQUIRE(bits(sim[v * 512 + 64 * b + i]) == bits(want[i]));
        }
        for (int i = 448; i < 512; i++)
            REQUIRE(bits(sim[v * 512 + i]) == bits(o_bf16(x[v * 512 + i])));
    }
}
END_TEST

START_TEST(ds_mla_malformed)
{
    static float x[2 * 512], out[2 * 512];
    uint8_t bytes[2 * KVC_FP8_DS_MLA_BYTES];
    uint64_t st = 3;
    for (int i = 0; i < 1024; i++)
        x[i] = (float)gauss(&st);
    kvc_fp8_ds_mla_encode(x, 2, bytes);
    kvc_error e;
    kvc_error_clear(&e);
    ck_assert_int_eq(kvc_fp8_ds_mla_decode(bytes, sizeof bytes - 1, 2, out, &e), KVC_BITSTREAM);
    ck_assert_int_eq(kvc_fp8_ds_mla_decode(bytes, sizeof bytes, 3, out, &e), KVC_BITSTREAM);
    bytes[KVC_FP8_DS_MLA_BYTES + 455] = 1; /* pad of record 1 */
    kvc_error_clear(&e);
    ck_assert_int_eq(kvc_fp8_ds_mla_decode(bytes, sizeof bytes, 2, out, &e), KVC_BITSTREAM);
    ck_assert_int_eq(e.offset, KVC_FP8_DS_MLA_BYTES);
    bytes[KVC_FP8_DS_MLA_BYTES + 455] = 0;
    bytes[450] = 0xFF; /* NaN scale of record 0, block 2 */
    kvc_error_clear(&e);
    ck_assert_int_eq(kvc_fp8_ds_mla_decode(bytes, sizeof bytes, 2, out, &e), KVC_BITSTREAM);
    ck_assert_int_eq(e.offset, 0);
}
END_TEST

static Suite *fp8block_suite(void)
{
    Suite *s = suite_create("fp8block");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, constants);
    tcase_add_loop_test(tc, simulations_match_oracle, 0, 6);
    tcase_add_test(tc, hand_values);
    tcase_add_test(tc, per64_matches_oracle);
    tcase_add_test(tc, ds_mla_layout);
    tcase_add_test(tc, ds_mla_roundtrip);
    tcase_add_test(tc, ds_mla_malformed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return kvc_test_run(fp8block_suite());
}
