/* Tests for core/error: the X-macro tables and the error record. */
#include "core/error.h"
#include "testutil.h"

START_TEST(names_round_trip)
{
    for (int i = 0; i < (int)KVC_STATUS_COUNT; i++) {
        const char *name = kvc_status_name((kvc_status)i);
        ck_assert_int_eq(kvc_status_from_name(name), i);
        ck_assert_ptr_nonnull(kvc_status_message((kvc_status)i));
    }
    ck_assert_str_eq(kvc_status_name(KVC_INPUT_HASH_MISMATCH), "INPUT_HASH_MISMATCH");
    ck_assert_int_eq(kvc_status_from_name("NO_SUCH_STATUS"), -1);
    ck_assert_str_eq(kvc_status_name((kvc_status)-1), "UNKNOWN");
    ck_assert_str_eq(kvc_status_name(KVC_STATUS_COUNT), "UNKNOWN");
}
END_TEST

START_TEST(exit_codes)
{
    ck_assert_int_eq(kvc_status_exit_code(KVC_OK), 0);
    ck_assert_int_eq(kvc_status_exit_code(KVC_INPUT_HASH_MISMATCH), 1);
    ck_assert_int_eq(kvc_status_exit_code(KVC_USAGE), 2);
    ck_assert_int_eq(kvc_status_exit_code(KVC_ST_GAP), 3);
    ck_assert_int_eq(kvc_status_exit_code(KVC_CUDA_NO_DEVICE), 77);
    for (int i = 1; i < (int)KVC_STATUS_COUNT; i++)
        ck_assert_int_ne(kvc_status_exit_code((kvc_status)i), 0);
}
END_TEST

START_TEST(format_with_context)
{
    kvc_error e;
    char buf[1024];
    kvc_error_clear(&e);
    ck_assert_int_eq(e.status, KVC_OK);
    ck_assert_int_eq(e.offset, -1);
    ck_assert_int_eq(kvc_error_set(&e, KVC_ST_GAP, "%d bytes", 16), KVC_ST_GAP);
    kvc_error_where(&e, "a.safetensors", "w", 128);
    ck_assert_str_eq(kvc_error_format(&e, buf, sizeof buf),
                     "gap between tensors in the data buffer: 16 bytes "
                     "(file a.safetensors, tensor w, offset 128)");
    kvc_error_clear(&e);
    kvc_error_set(&e, KVC_TENSOR_MISSING, "x");
    kvc_error_where(&e, NULL, "t", -1);
    ck_assert_str_eq(kvc_error_format(&e, buf, sizeof buf), "tensor not found: x (tensor t)");
    /* a tiny buffer truncates without overflowing */
    char small[8];
    kvc_error_format(&e, small, sizeof small);
    ck_assert_uint_eq(strlen(small), 7);
    /* NULL records are accepted everywhere */
    ck_assert_int_eq(kvc_error_set(NULL, KVC_IO, "x"), KVC_IO);
    kvc_error_where(NULL, "f", "t", 0);
    kvc_error_clear(NULL);
}
END_TEST

static Suite *error_suite(void)
{
    Suite *s = suite_create("error");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, names_round_trip);
    tcase_add_test(tc, exit_codes);
    tcase_add_test(tc, format_with_context);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return kvc_test_run(error_suite());
}
