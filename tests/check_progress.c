/* Tests for the CLI's progress bar: when it draws, what a line looks like,
 * that concurrent updates never interleave inside a line, and that it is
 * erased at the end. */
#include <pthread.h>
#include <unistd.h>

#include "cli/progress.h"
#include "testutil.h"

static char *slurp(FILE *f, size_t *len)
{
    fflush(f);
    long n = ftell(f);
    ck_assert_int_ge(n, 0);
    char *buf = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    rewind(f);
    *len = fread(buf, 1, (size_t)n, f);
    buf[*len] = '\0';
    return buf;
}

START_TEST(no_bar_when_small_or_not_a_tty)
{
    /* small jobs never get a bar */
    ck_assert_ptr_null(kvc_cli_progress_create("x", KVC_CLI_PROGRESS_MIN_BYTES - 1));
    /* the test harness sends stderr to a log file: no bar either */
    if (!isatty(STDERR_FILENO))
        ck_assert_ptr_null(kvc_cli_progress_create("x", KVC_CLI_PROGRESS_MIN_BYTES));
    /* a NULL bar is a no-op everywhere */
    kvc_cli_progress_update(NULL, 1, 2);
    kvc_cli_progress_finish(NULL);
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    kvc_cli_progress_puts(NULL, f, "line\n");
    size_t len = 0;
    char *text = slurp(f, &len);
    ck_assert_str_eq(text, "line\n");
    free(text);
    fclose(f);
}
END_TEST

START_TEST(draw_and_erase)
{
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    kvc_cli_progress *bar = kvc_cli_progress_create_on(f, "verify", 200000000, 0.0);
    ck_assert_ptr_nonnull(bar);
    kvc_cli_progress_update(bar, 100000000, 200000000);
    size_t len = 0;
    char *text = slurp(f, &len);
    fseek(f, 0, SEEK_END);
    /* half way: 15 of 30 cells, sizes in MB of 10^6 bytes */
    ck_assert_msg(strncmp(text, "\rverify [###############...............] 100.0 / 200.0 MB  ",
                          59) == 0,
                  "got '%s'", text + 1);
    ck_assert_ptr_nonnull(strstr(text, " MB/s"));
    ck_assert_ptr_null(strchr(text, '\n'));
    size_t drawn = len - 1;
    free(text);

    kvc_cli_progress_puts(bar, f, "a.bin: OK\n");
    text = slurp(f, &len);
    fseek(f, 0, SEEK_END);
    /* the bar is erased (overwritten with spaces) before the line */
    char *erase = strstr(text + drawn, "\r");
    ck_assert_ptr_nonnull(erase);
    ck_assert_ptr_nonnull(strstr(text, "\ra.bin: OK\n"));
    free(text);

    kvc_cli_progress_update(bar, 200000000, 200000000);
    kvc_cli_progress_finish(bar);
    text = slurp(f, &len);
    /* full bar drawn, then erased: the output ends in "\r<spaces>\r" */
    ck_assert_ptr_nonnull(strstr(text, "[##############################] 200.0 / 200.0 MB"));
    ck_assert_int_eq(text[len - 1], '\r');
    size_t k = len - 2;
    while (k > 0 && text[k] == ' ')
        k--;
    ck_assert_int_eq(text[k], '\r');
    ck_assert_uint_ge(len - 2 - k, 50); /* as wide as the bar was */
    free(text);
    fclose(f);
}
END_TEST

/* Two threads update as fast as they can: every redraw is one whole line
 * starting with "\r", so the stream splits into well-formed records. */
typedef struct hammer {
    kvc_cli_progress *bar;
    uint64_t base;
} hammer;

static void *hammer_run(void *arg)
{
    hammer *h = arg;
    for (uint64_t i = 0; i < 2000; i++)
        kvc_cli_progress_update(h->bar, h->base + i, 100000);
    return NULL;
}

START_TEST(concurrent_updates)
{
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    kvc_cli_progress *bar = kvc_cli_progress_create_on(f, "t", 100000, 0.0);
    ck_assert_ptr_nonnull(bar);
    hammer a = {bar, 0}, b = {bar, 50000};
    pthread_t ta, tb;
    ck_assert_int_eq(pthread_create(&ta, NULL, hammer_run, &a), 0);
    ck_assert_int_eq(pthread_create(&tb, NULL, hammer_run, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    kvc_cli_progress_finish(bar);
    size_t len = 0;
    char *text = slurp(f, &len);
    ck_assert_int_eq(text[0], '\r');
    size_t records = 0;
    for (char *r = strtok(text, "\r"); r != NULL; r = strtok(NULL, "\r")) {
        /* a bar line, or the blank erase at the end */
        int blank = strspn(r, " ") == strlen(r);
        if (!blank) {
            ck_assert_msg(strncmp(r, "t [", 3) == 0, "torn record '%s'", r);
            ck_assert_ptr_nonnull(strstr(r, " MB/s"));
            ck_assert_ptr_null(strstr(r + 3, "t ["));
        }
        records++;
    }
    ck_assert_uint_ge(records, 4000); /* no minimum interval: every update drew */
    free(text);
    fclose(f);
}
END_TEST

static Suite *progress_suite(void)
{
    Suite *s = suite_create("progress");
    TCase *tc = tcase_create("bar");
    tcase_add_test(tc, no_bar_when_small_or_not_a_tty);
    tcase_add_test(tc, draw_and_erase);
    tcase_add_test(tc, concurrent_updates);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return kvc_test_run(progress_suite());
}
