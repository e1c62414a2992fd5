/* kvcert tests: small helpers shared by the Check suites. */
#ifndef KVC_TESTS_TESTUTIL_H
#define KVC_TESTS_TESTUTIL_H

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ck_assert records every PASSING check too (a write() each): inside loops
 * over millions of elements, test with these and call Check only on
 * failure. */
#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            ck_abort_msg("check failed: %s", #cond);                           \
    } while (0)
#define CHECK_MSG(cond, ...)                                                   \
    do {                                                                       \
        if (!(cond))                                                           \
            ck_abort_msg(__VA_ARGS__);                                         \
    } while (0)

/* Exit statuses of the Automake harness. */
#define KVC_TEST_SKIP 77
#define KVC_TEST_HARD_ERROR 99

/* Runs a suite; returns the process exit status (0 pass, 1 fail). */
static inline int kvc_test_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* splitmix64: the seeded generator of every randomized test. */
static inline uint64_t kvc_test_rand64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A path under the source tree ($KVC_SRCDIR, "." when unset). */
static inline const char *kvc_test_srcpath(char *buf, size_t size, const char *rel)
{
    const char *root = getenv("KVC_SRCDIR");
    snprintf(buf, size, "%s/%s", root != NULL ? root : ".", rel);
    return buf;
}

/* A fresh scratch directory under $TMPDIR (or /tmp); aborts on failure. */
static inline const char *kvc_test_tmpdir(char *buf, size_t size)
{
    const char *t = getenv("TMPDIR");
    snprintf(buf, size, "%s/kvcert-test-XXXXXX", t != NULL ? t : "/tmp");
    if (mkdtemp(buf) == NULL) {
        perror("mkdtemp");
        exit(KVC_TEST_HARD_ERROR);
    }
    return buf;
}

#endif /* KVC_TESTS_TESTUTIL_H */
