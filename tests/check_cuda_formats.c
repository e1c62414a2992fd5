/* GPU against CPU for the number-format conversions (kernels/formats.cu
 * against core/formats.h), bit for bit, in the manner of dav1d's checkasm:
 * the same inputs to both, memcmp of the outputs, guard words around the
 * GPU's output buffer that must stay intact, and on failure the first
 * differing index with the input and both outputs in hex (and as floats).
 *
 * Inputs: every decode pattern (65 536 bf16 / fp16, 256 E4M3 / E8M0);
 * for each encoder every 257th binary32 pattern (16.7 million, in chunks),
 * the boundary set of tests/formats_oracle.h (representable values,
 * midpoints, their neighbours, specials, NaNs, subnormals), and seeded
 * random patterns (seed printed; KVC_TEST_SEED=<n> replays one).
 *
 * CUDA does not survive fork(): the suite runs in Check's no-fork mode.
 * No device, or a build without CUDA: prints why and exits 77 (skip),
 * after checking that kvc_cuda_convert reports the same status.
 */
#include <inttypes.h>
#include <math.h>

#include "core/formats.h"
#include "formats_oracle.h"
#include "kernels/cuda.h"
#include "testutil.h"

#define GUARD_WORDS 64
/* No conversion can produce this: decoders leave the low 13 bits zero,
 * encoders leave the high 16 bits zero. */
#define POISON 0xDEADBEEFu
#define SWEEP_STEP 257u
#define SWEEP_CHUNK ((size_t)1 << 22)

static const kvc_format_op decode_ops[] = {KVC_FORMAT_BF16_DECODE, KVC_FORMAT_FP16_DECODE,
                                           KVC_FORMAT_E4M3_DECODE, KVC_FORMAT_E8M0_DECODE};
static const uint32_t decode_sizes[] = {65536, 65536, 256, 256};
static const kvc_format_op encode_ops[] = {
    KVC_FORMAT_BF16_ENCODE,           KVC_FORMAT_FP16_ENCODE,
    KVC_FORMAT_E4M3_SATFINITE_ENCODE, KVC_FORMAT_E4M3_NAN_ENCODE,
    KVC_FORMAT_E8M0_RZ_ENCODE,        KVC_FORMAT_E8M0_RP_ENCODE};
#define N_DECODE (int)(sizeof decode_ops / sizeof decode_ops[0])
#define N_ENCODE (int)(sizeof encode_ops / sizeof encode_ops[0])

static kvo_inputs boundaries; /* built in main */
static uint64_t seed = 0x6B7663657274ull;

static uint32_t guard_word(size_t i)
{
    return 0xA5C3E1F7u ^ (uint32_t)(i * 0x9E3779B9u);
}

/* Runs op on the CPU and on the GPU over in[0..n) and compares, failing
 * the test with the first difference. */
static void compare_cpu_gpu(kvc_format_op op, const uint32_t *in, size_t n)
{
    uint32_t *cpu = (uint32_t *)malloc(n * sizeof *cpu);
    uint32_t *buf = (uint32_t *)malloc((n + 2 * GUARD_WORDS) * sizeof *buf);
    ck_assert_ptr_nonnull(cpu);
    ck_assert_ptr_nonnull(buf);
    for (size_t i = 0; i < n; i++)
        cpu[i] = kvc_format_apply(op, in[i]);
    for (size_t i = 0; i < GUARD_WORDS; i++) {
        buf[i] = guard_word(i);
        buf[GUARD_WORDS + n + i] = guard_word(GUARD_WORDS + n + i);
    }
    for (size_t i = 0; i < n; i++)
        buf[GUARD_WORDS + i] = POISON;
    uint32_t *gpu = buf + GUARD_WORDS;

    kvc_error err;
    kvc_error_clear(&err);
    kvc_status st = kvc_cuda_convert(op, in, n, gpu, &err);
    char msg[1024];
    ck_assert_msg(st == KVC_OK, "%s: kvc_cuda_convert: %s", kvc_format_op_name(op),
                  kvc_error_format(&err, msg, sizeof msg));
    for (size_t i = 0; i < GUARD_WORDS; i++) {
        ck_assert_msg(buf[i] == guard_word(i),
                      "%s: guard word %zu before the output overwritten: 0x%08" PRIx32,
                      kvc_format_op_name(op), GUARD_WORDS - i, buf[i]);
        size_t j = GUARD_WORDS + n + i;
        ck_assert_msg(buf[j] == guard_word(j),
                      "%s: guard word %zu after the output overwritten: 0x%08" PRIx32,
                      kvc_format_op_name(op), i, buf[j]);
    }
    if (memcmp(cpu, gpu, n * sizeof *cpu) != 0) {
        size_t i = 0, ndiff = 0;
        while (cpu[i] == gpu[i])
            i++;
        for (size_t j = i; j < n; j++)
            ndiff += cpu[j] != gpu[j];
        int decode = op == KVC_FORMAT_BF16_DECODE || op == KVC_FORMAT_FP16_DECODE ||
                     op == KVC_FORMAT_E4M3_DECODE || op == KVC_FORMAT_E8M0_DECODE;
        char detail[256];
        if (decode) /* outputs are binary32 values */
            snprintf(detail, sizeof detail, "CPU %a, GPU %a", (double)kvo_f32(cpu[i]),
                     (double)kvo_f32(gpu[i]));
        else /* the input is a binary32 value */
            snprintf(detail, sizeof detail, "input %a", (double)kvo_f32(in[i]));
        ck_abort_msg("%s: GPU differs from CPU at %zu of %zu elements; first at index %zu: "
                     "input 0x%08" PRIx32 ", CPU 0x%08" PRIx32 ", GPU 0x%08" PRIx32 " (%s)%s",
                     kvc_format_op_name(op), ndiff, n, i, in[i], cpu[i], gpu[i], detail,
                     gpu[i] == POISON ? " [never written by the GPU]" : "");
    }
    free(cpu);
    free(buf);
}

START_TEST(decode_all_patterns)
{
    uint32_t n = decode_sizes[_i];
    uint32_t *in = (uint32_t *)malloc(n * sizeof *in);
    ck_assert_ptr_nonnull(in);
    for (uint32_t c = 0; c < n; c++)
        in[c] = c;
    compare_cpu_gpu(decode_ops[_i], in, n);
    /* decoders ignore the high bits: the same codes with garbage above */
    for (uint32_t c = 0; c < n; c++)
        in[c] = c | (0xFFFFFFFFu - c) << (n == 256 ? 8 : 16);
    compare_cpu_gpu(decode_ops[_i], in, n);
    free(in);
}
END_TEST

START_TEST(encode_dense_sweep)
{
    uint32_t *in = (uint32_t *)malloc(SWEEP_CHUNK * sizeof *in);
    ck_assert_ptr_nonnull(in);
    uint64_t b = 0;
    while (b <= 0xFFFFFFFFu) {
        size_t n = 0;
        for (; n < SWEEP_CHUNK && b <= 0xFFFFFFFFu; b += SWEEP_STEP)
            in[n++] = (uint32_t)b;
        compare_cpu_gpu(encode_ops[_i], in, n);
    }
    free(in);
}
END_TEST

START_TEST(encode_boundaries)
{
    compare_cpu_gpu(encode_ops[_i], boundaries.bits, boundaries.n);
}
END_TEST

START_TEST(encode_random)
{
    const size_t n = (size_t)1 << 22;
    uint32_t *in = (uint32_t *)malloc(n * sizeof *in);
    ck_assert_ptr_nonnull(in);
    uint64_t state = seed + (uint64_t)_i;
    for (size_t i = 0; i < n; i++)
        in[i] = (uint32_t)(kvc_test_rand64(&state) >> 32);
    compare_cpu_gpu(encode_ops[_i], in, n);
    free(in);
}
END_TEST

/* Lengths around the block size and across the 2^24-word chunk of
 * kvc_cuda_convert: the tail must be written and nothing past it. */
START_TEST(ragged_lengths)
{
    static const size_t lengths[] = {1, 2, 255, 256, 257, 1000003, ((size_t)1 << 24) + 3};
    size_t max = lengths[sizeof lengths / sizeof lengths[0] - 1];
    uint32_t *in = (uint32_t *)malloc(max * sizeof *in);
    ck_assert_ptr_nonnull(in);
    uint64_t state = seed ^ 0x5A5A5A5Aull;
    for (size_t i = 0; i < max; i++)
        in[i] = (uint32_t)kvc_test_rand64(&state);
    for (size_t k = 0; k < sizeof lengths / sizeof lengths[0]; k++)
        compare_cpu_gpu(KVC_FORMAT_E4M3_SATFINITE_ENCODE, in, lengths[k]);
    free(in);
}
END_TEST

START_TEST(bad_arguments)
{
    uint32_t in[4] = {0x3F800000u, 0, 0, 0}, out[4] = {POISON, POISON, POISON, POISON};
    kvc_error err;
    ck_assert_int_eq(kvc_cuda_convert(KVC_FORMAT_OP_COUNT, in, 4, out, &err),
                     KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(err.status, KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(kvc_cuda_convert((kvc_format_op)-1, in, 4, out, NULL), KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(kvc_cuda_convert(KVC_FORMAT_BF16_ENCODE, NULL, 4, out, &err),
                     KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(kvc_cuda_convert(KVC_FORMAT_BF16_ENCODE, in, 4, NULL, &err),
                     KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(kvc_cuda_convert(KVC_FORMAT_BF16_ENCODE, in, 0, out, &err), KVC_OK);
    for (int i = 0; i < 4; i++)
        ck_assert_uint_eq(out[i], POISON);
}
END_TEST

static Suite *cuda_formats_suite(void)
{
    Suite *s = suite_create("cuda_formats");
    TCase *tc = tcase_create("gpu_vs_cpu");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, decode_all_patterns, 0, N_DECODE);
    tcase_add_loop_test(tc, encode_boundaries, 0, N_ENCODE);
    tcase_add_loop_test(tc, encode_dense_sweep, 0, N_ENCODE);
    tcase_add_loop_test(tc, encode_random, 0, N_ENCODE);
    tcase_add_test(tc, ragged_lengths);
    tcase_add_test(tc, bad_arguments);
    suite_add_tcase(s, tc);
    return s;
}

/* No device or no CUDA build: kvc_cuda_convert must say the same. */
static int skip(kvc_status count_status, const kvc_error *count_err)
{
    char msg[1024];
    uint32_t in = 0x3F800000u, out = POISON;
    kvc_error err;
    kvc_error_clear(&err);
    kvc_status st = kvc_cuda_convert(KVC_FORMAT_BF16_ENCODE, &in, 1, &out, &err);
    if (st != count_status || out != POISON) {
        fprintf(stderr,
                "check_cuda_formats: FAIL: kvc_cuda_device_count said %s but "
                "kvc_cuda_convert returned %s (%s), out 0x%08" PRIx32 "\n",
                kvc_status_name(count_status), kvc_status_name(st),
                kvc_error_format(&err, msg, sizeof msg), out);
        return EXIT_FAILURE;
    }
    printf("check_cuda_formats: SKIP: %s: %s\n", kvc_status_name(count_status),
           kvc_error_format(count_err, msg, sizeof msg));
    return KVC_TEST_SKIP;
}

int main(void)
{
    int count = 0;
    kvc_error err;
    kvc_error_clear(&err);
    kvc_status st = kvc_cuda_device_count(&count, &err);
    if (st == KVC_CUDA_NO_DEVICE || st == KVC_BACKEND_UNAVAILABLE)
        return skip(st, &err);
    if (st != KVC_OK) {
        char msg[1024];
        fprintf(stderr, "check_cuda_formats: kvc_cuda_device_count: %s\n",
                kvc_error_format(&err, msg, sizeof msg));
        return KVC_TEST_HARD_ERROR;
    }
    char name[256];
    int major = 0, minor = 0;
    if (kvc_cuda_device_info(0, name, (int)sizeof name, &major, &minor, &err) == KVC_OK)
        printf("check_cuda_formats: device 0: %s (sm_%d%d)\n", name, major, minor);

    const char *s = getenv("KVC_TEST_SEED");
    if (s != NULL && *s != '\0')
        seed = strtoull(s, NULL, 0);
    printf("check_cuda_formats: seed %" PRIu64 " (KVC_TEST_SEED=%" PRIu64 " replays it)\n", seed,
           seed);

    kvo_grid g[3];
    const kvo_format *fmts[3] = {&kvo_bf16, &kvo_fp16, &kvo_e4m3};
    for (int k = 0; k < 3; k++) {
        if (kvo_grid_init(&g[k], fmts[k]) != 0 || kvo_inputs_add_grid(&boundaries, &g[k]) != 0) {
            fprintf(stderr, "check_cuda_formats: cannot build the boundary inputs\n");
            return KVC_TEST_HARD_ERROR;
        }
        kvo_grid_free(&g[k]);
    }
    kvo_inputs_add_specials(&boundaries);

    SRunner *sr = srunner_create(cuda_formats_suite());
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    kvo_inputs_free(&boundaries);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
