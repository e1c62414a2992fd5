/* Tests of the equivalence check itself (v4/equiv.h), on CPU backends so
 * they run everywhere: two CPU backends (scalar and the widest ISA) agree
 * on every case; a backend that flips one bit, writes one element past
 * its output, or fails, is caught and named; the comparison reports the
 * first differing element and SHA-256s of the bytes (checked against the
 * FIPS 180-2 "abc" vector); inputs depend only on the seed.
 */
#include <stdio.h>
#include <string.h>

#include "core/backend.h"
#include "testutil.h"
#include "v4/dequant.h"
#include "v4/equiv.h"

/* ------------------------------------------------------------ recording */

typedef struct recorder {
    int n;
    kvc_equiv_case cases[1000]; /* every op of the table: about 370 cases now */
} recorder;

static void record(void *arg, const kvc_equiv_case *c)
{
    recorder *r = (recorder *)arg;
    ck_assert_int_lt(r->n, 1000);
    r->cases[r->n++] = *c;
}

static kvc_status cpu_dequant(void *arg, const uint8_t *w, int64_t rows, int64_t cols,
                              const uint8_t *scale, int64_t srows, int64_t scols, float *out,
                              kvc_error *err)
{
    (void)arg;
    return kvc_dequant_fp8_block(w, rows, cols, scale, srows, scols, out, err);
}

static kvc_equiv_options quick(uint64_t seed, unsigned ops)
{
    kvc_equiv_options o;
    memset(&o, 0, sizeof o);
    o.seed = seed;
    o.ops = ops;
    o.large = 0;
    o.ref_dequant = cpu_dequant;
    o.test_dequant = cpu_dequant;
    return o;
}

/* ------------------------------------------------------------ broken backends */

static kvc_backend g_broken;

/* Correct except element n/2, whose lowest bit is flipped. */
static kvc_status flip_round(const kvc_backend *be, float *x, int64_t n, kvc_error *err)
{
    (void)be;
    const kvc_backend *cpu = kvc_backend_cpu();
    kvc_status st = cpu->round_bf16(cpu, x, n, err);
    uint32_t u;
    memcpy(&u, &x[n / 2], 4);
    u ^= 1u;
    memcpy(&x[n / 2], &u, 4);
    return st;
}

/* Correct, then one bf16 element written just past the array. */
static kvc_status overrun_kvsim(const kvc_backend *be, uint16_t *x, int64_t rows, int64_t stride,
                                int64_t dims, kvc_kvsim_kind kind, kvc_error *err)
{
    (void)be;
    const kvc_backend *cpu = kvc_backend_cpu();
    kvc_status st = cpu->kvsim(cpu, x, rows, stride, dims, kind, err);
    x[rows * stride] = 0x1234;
    return st;
}

static kvc_status failing_rope(const kvc_backend *be, uint16_t *x, int64_t rows, int64_t stride,
                               int64_t offset, const float *freqs, int nfreq, int64_t pos_step,
                               kvc_error *err)
{
    (void)be, (void)x, (void)rows, (void)stride, (void)offset, (void)freqs, (void)nfreq;
    (void)pos_step;
    return kvc_error_set(err, KVC_CUDA, "simulated device failure");
}

static const kvc_backend *broken(void)
{
    g_broken = *kvc_backend_cpu();
    g_broken.name = "broken";
    g_broken.round_bf16 = flip_round;
    g_broken.kvsim = overrun_kvsim;
    g_broken.rope = failing_rope;
    return &g_broken;
}

/* ------------------------------------------------------------ tests */

START_TEST(two_cpu_backends_agree_everywhere)
{
    kvc_backend *scalar = NULL;
    kvc_error err;
    ck_assert_int_eq(kvc_backend_cpu_create(KVC_CPU_ISA_SCALAR, 1, &scalar, &err), KVC_OK);
    kvc_equiv_options o = quick(7, 0);
    static recorder rec;
    rec.n = 0;
    int same = -1, total = -1;
    ck_assert_int_eq(kvc_equiv_ops(scalar, kvc_backend_cpu(), &o, record, &rec, &same, &total,
                                   &err),
                     KVC_OK);
    ck_assert_int_eq(total, rec.n);
    ck_assert_int_gt(total, 80); /* every op, odd shapes, both variants */
    for (int i = 0; i < rec.n; i++)
        ck_assert_msg(rec.cases[i].identical, "%s: %s (first diff %lld)", rec.cases[i].id,
                      rec.cases[i].problem, (long long)rec.cases[i].first_diff);
    ck_assert_int_eq(same, total);
    /* every operation contributed cases */
    for (int op = 0; op < KVC_EQUIV_OP_COUNT; op++) {
        const char *name = kvc_equiv_op_name((kvc_equiv_op)op);
        int found = 0;
        for (int i = 0; i < rec.n; i++)
            found += strncmp(rec.cases[i].id, name, strlen(name)) == 0 &&
                     rec.cases[i].id[strlen(name)] == '/';
        ck_assert_msg(found >= 2, "%s: %d cases", name, found);
    }
    kvc_backend_cpu_destroy(scalar);
}
END_TEST

/* The backend-memory run (kvc_equiv_options.test_mem): the CPU through
 * the proxy of v4/equiv_mem.c agrees with the plain CPU on every case of
 * every table operation, each id is "<op>[mem]/...", and dequant (not a
 * table operation) is left out. */
START_TEST(backend_memory_run_agrees_and_is_named)
{
    kvc_equiv_options o = quick(11, 0);
    o.test_mem = 1;
    static recorder rec;
    rec.n = 0;
    int same = -1, total = -1;
    kvc_error err;
    ck_assert_int_eq(kvc_equiv_ops(kvc_backend_cpu(), kvc_backend_cpu(), &o, record, &rec, &same,
                                   &total, &err),
                     KVC_OK);
    ck_assert_int_eq(total, rec.n);
    for (int i = 0; i < rec.n; i++)
        ck_assert_msg(rec.cases[i].identical, "%s: %s", rec.cases[i].id, rec.cases[i].problem);
    for (int op = 0; op < KVC_EQUIV_OP_COUNT; op++) {
        char want[64];
        snprintf(want, sizeof want, "%s[mem]/", kvc_equiv_op_name((kvc_equiv_op)op));
        int found = 0;
        for (int i = 0; i < rec.n; i++)
            found += strncmp(rec.cases[i].id, want, strlen(want)) == 0;
        if (op == KVC_EQUIV_DEQUANT)
            ck_assert_int_eq(found, 0);
        else
            ck_assert_msg(found >= 2, "%s: %d cases", want, found);
    }
    /* a broken backend behind the proxy is still caught */
    o = quick(11, 1u << KVC_EQUIV_ROUND_BF16);
    o.test_mem = 1;
    rec.n = 0;
    ck_assert_int_eq(kvc_equiv_ops(kvc_backend_cpu(), broken(), &o, record, &rec, &same, &total,
                                   &err),
                     KVC_OK);
    ck_assert_int_gt(total, 0);
    ck_assert_int_lt(same, total);
}
END_TEST

START_TEST(a_flipped_bit_is_named)
{
    kvc_equiv_options o = quick(3, 1u << KVC_EQUIV_ROUND_BF16);
    static recorder rec;
    rec.n = 0;
    int same = -1, total = -1;
    kvc_error err;
    ck_assert_int_eq(kvc_equiv_ops(kvc_backend_cpu(), broken(), &o, record, &rec, &same, &total,
                                   &err),
                     KVC_OK);
    ck_assert_int_gt(total, 0);
    ck_assert_int_eq(same, 0);
    for (int i = 0; i < rec.n; i++) {
        const kvc_equiv_case *c = &rec.cases[i];
        long long n = 0;
        ck_assert_msg(sscanf(c->id, "round_bf16/%lld/", &n) == 1, "%s", c->id);
        ck_assert(!c->identical);
        ck_assert_str_eq(c->problem, "");
        ck_assert_int_eq(c->first_diff, n / 2);
        ck_assert_int_eq(c->elem_bytes, 4);
        ck_assert_uint_eq(c->ref_bits ^ c->test_bits, 1u);
        ck_assert(memcmp(c->sha_ref, c->sha_test, 32) != 0);
    }
}
END_TEST

START_TEST(an_out_of_bounds_write_is_caught)
{
    kvc_equiv_options o = quick(3, 1u << KVC_EQUIV_KVSIM);
    static recorder rec;
    rec.n = 0;
    int same = -1, total = -1;
    kvc_error err;
    ck_assert_int_eq(kvc_equiv_ops(kvc_backend_cpu(), broken(), &o, record, &rec, &same, &total,
                                   &err),
                     KVC_OK);
    ck_assert_int_gt(total, 0);
    ck_assert_int_eq(same, 0);
    for (int i = 0; i < rec.n; i++) {
        ck_assert(!rec.cases[i].identical);
        ck_assert_msg(strstr(rec.cases[i].problem, "broken wrote outside") != NULL, "%s: '%s'",
                      rec.cases[i].id, rec.cases[i].problem);
    }
}
END_TEST

START_TEST(a_failing_call_is_reported)
{
    kvc_equiv_options o = quick(3, 1u << KVC_EQUIV_ROPE);
    static recorder rec;
    rec.n = 0;
    int same = -1, total = -1;
    kvc_error err;
    ck_assert_int_eq(kvc_equiv_ops(kvc_backend_cpu(), broken(), &o, record, &rec, &same, &total,
                                   &err),
                     KVC_OK);
    ck_assert_int_gt(total, 0);
    ck_assert_int_eq(same, 0);
    ck_assert_msg(strstr(rec.cases[0].problem, "broken failed") != NULL &&
                      strstr(rec.cases[0].problem, "simulated device failure") != NULL,
                  "'%s'", rec.cases[0].problem);
}
END_TEST

START_TEST(inputs_follow_the_seed)
{
    static recorder a, b, c;
    a.n = b.n = c.n = 0;
    int same, total;
    kvc_error err;
    kvc_equiv_options o = quick(11, 1u << KVC_EQUIV_ACT_QUANT);
    ck_assert_int_eq(kvc_equiv_ops(kvc_backend_cpu(), kvc_backend_cpu(), &o, record, &a, &same,
                                   &total, &err),
                     KVC_OK);
    ck_assert_int_eq(kvc_equiv_ops(kvc_backend_cpu(), kvc_backend_cpu(), &o, record, &b, &same,
                                   &total, &err),
                     KVC_OK);
    o.seed = 12;
    ck_assert_int_eq(kvc_equiv_ops(kvc_backend_cpu(), kvc_backend_cpu(), &o, record, &c, &same,
                                   &total, &err),
                     KVC_OK);
    ck_assert_int_eq(a.n, b.n);
    ck_assert_int_eq(a.n, c.n);
    for (int i = 0; i < a.n; i++) {
        ck_assert_str_eq(a.cases[i].id, c.cases[i].id);
        ck_assert(memcmp(a.cases[i].sha_ref, b.cases[i].sha_ref, 32) == 0);
        ck_assert(memcmp(a.cases[i].sha_ref, c.cases[i].sha_ref, 32) != 0);
    }
    /* a case's inputs do not depend on which other operations run */
    static recorder d;
    d.n = 0;
    o = quick(11, (1u << KVC_EQUIV_ACT_QUANT) | (1u << KVC_EQUIV_RMSNORM));
    ck_assert_int_eq(kvc_equiv_ops(kvc_backend_cpu(), kvc_backend_cpu(), &o, record, &d, &same,
                                   &total, &err),
                     KVC_OK);
    ck_assert_int_gt(d.n, a.n);
    for (int i = 0; i < a.n; i++)
        ck_assert(memcmp(a.cases[i].sha_ref, d.cases[i].sha_ref, 32) == 0);
}
END_TEST

START_TEST(compare_reports_the_first_difference)
{
    kvc_equiv_case c;
    kvc_error err;
    /* SHA-256("abcd") (coreutils sha256sum) */
    static const uint8_t abcd[32] = {0x88, 0xd4, 0x26, 0x6f, 0xd4, 0xe6, 0x33, 0x8d,
                                     0x13, 0xb8, 0x45, 0xfc, 0xf2, 0x89, 0x57, 0x9d,
                                     0x20, 0x9c, 0x89, 0x78, 0x23, 0xb9, 0x21, 0x7d,
                                     0xa3, 0xe1, 0x61, 0x93, 0x6f, 0x03, 0x15, 0x89};
    const char a[4] = {'a', 'b', 'c', 'd'}, b[4] = {'a', 'b', 'c', 'e'};
    memset(&c, 0, sizeof c);
    ck_assert_int_eq(kvc_equiv_compare(a, a, 2, 2, &c, &err), KVC_OK);
    ck_assert(c.identical);
    ck_assert_int_eq(c.first_diff, -1);
    ck_assert(memcmp(c.sha_ref, abcd, 32) == 0);
    ck_assert(memcmp(c.sha_test, abcd, 32) == 0);
    memset(&c, 0, sizeof c);
    ck_assert_int_eq(kvc_equiv_compare(a, b, 2, 2, &c, &err), KVC_OK);
    ck_assert(!c.identical);
    ck_assert_int_eq(c.first_diff, 1);
    ck_assert_uint_eq(c.ref_bits, 0x6463u); /* "cd" little-endian */
    ck_assert_uint_eq(c.test_bits, 0x6563u);
    ck_assert(memcmp(c.sha_test, abcd, 32) != 0);
    memset(&c, 0, sizeof c);
    ck_assert_int_eq(kvc_equiv_compare(a, b, 1, 4, &c, &err), KVC_OK);
    ck_assert_int_eq(c.first_diff, 0);
    ck_assert_uint_eq(c.ref_bits, 0x64636261u);
    ck_assert_uint_eq(c.test_bits, 0x65636261u);
}
END_TEST

START_TEST(parse_ops_lists)
{
    unsigned m = 0;
    kvc_error err;
    ck_assert_int_eq(kvc_equiv_parse_ops("matmul,rope", &m, &err), KVC_OK);
    ck_assert_uint_eq(m, (1u << KVC_EQUIV_MATMUL) | (1u << KVC_EQUIV_ROPE));
    ck_assert_int_eq(kvc_equiv_parse_ops("dequant", &m, &err), KVC_OK);
    ck_assert_uint_eq(m, 1u << KVC_EQUIV_DEQUANT);
    ck_assert_int_eq(kvc_equiv_parse_ops("matmul,bogus", &m, &err), KVC_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(err.detail, "'bogus'"));
    ck_assert_int_eq(kvc_equiv_parse_ops("", &m, &err), KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(kvc_equiv_parse_ops("mat", &m, &err), KVC_INVALID_ARGUMENT);
    for (int op = 0; op < KVC_EQUIV_OP_COUNT; op++) {
        ck_assert_int_eq(kvc_equiv_parse_ops(kvc_equiv_op_name((kvc_equiv_op)op), &m, &err),
                         KVC_OK);
        ck_assert_uint_eq(m, 1u << op);
    }
    ck_assert_ptr_null(kvc_equiv_op_name(KVC_EQUIV_OP_COUNT));
}
END_TEST

START_TEST(pipeline_without_shards_fails_clearly)
{
    int same = -1, total = -1;
    kvc_error err;
    ck_assert_int_eq(kvc_equiv_pipeline(kvc_backend_cpu(), kvc_backend_cpu(), "/nonexistent",
                                        "/nonexistent/hidden.safetensors", NULL, NULL, &same,
                                        &total, &err),
                     KVC_OPEN);
    ck_assert_int_eq(total, 0);
}
END_TEST

static Suite *equiv_suite(void)
{
    Suite *s = suite_create("equiv");
    TCase *tc = tcase_create("equiv");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, two_cpu_backends_agree_everywhere);
    tcase_add_test(tc, backend_memory_run_agrees_and_is_named);
    tcase_add_test(tc, a_flipped_bit_is_named);
    tcase_add_test(tc, an_out_of_bounds_write_is_caught);
    tcase_add_test(tc, a_failing_call_is_reported);
    tcase_add_test(tc, inputs_follow_the_seed);
    tcase_add_test(tc, compare_reports_the_first_difference);
    tcase_add_test(tc, parse_ops_lists);
    tcase_add_test(tc, pipeline_without_shards_fails_clearly);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return kvc_test_run(equiv_suite());
}
