/* Tests for io/atomic: an output file appears whole at commit, and a
 * failed or aborted run leaves nothing behind. */
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/atomic.h"
#include "testutil.h"

/* Names in dir other than . and .., joined with ' ' into buf. */
static int list_dir(const char *dir, char *buf, size_t size)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    buf[0] = '\0';
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        size_t len = strlen(buf);
        snprintf(buf + len, size - len, "%s%s", n ? " " : "", e->d_name);
        n++;
    }
    closedir(d);
    return n;
}

static void read_text(const char *path, char *buf, size_t size)
{
    FILE *fp = fopen(path, "rb");
    ck_assert_ptr_nonnull(fp);
    size_t n = fread(buf, 1, size - 1, fp);
    buf[n] = '\0';
    fclose(fp);
}

START_TEST(commit_makes_file_appear)
{
    char dir[4096], path[4200], names[8192], text[64];
    kvc_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/out.txt", dir);
    kvc_atomic_file *af = NULL;
    kvc_error err;
    ck_assert_int_eq(kvc_atomic_open(path, &af, &err), KVC_OK);
    ck_assert_ptr_nonnull(kvc_atomic_stream(af));
    ck_assert_int_gt(fputs("hello", kvc_atomic_stream(af)), -1);
    /* before the commit only the temporary exists, beside the destination */
    ck_assert_int_eq(list_dir(dir, names, sizeof names), 1);
    ck_assert_msg(strncmp(names, "out.txt.tmp.", 12) == 0, "temporary named %s", names);
    ck_assert_int_ne(access(path, F_OK), 0);
    ck_assert_int_eq(kvc_atomic_commit(af, &err), KVC_OK);
    ck_assert_int_eq(list_dir(dir, names, sizeof names), 1);
    ck_assert_str_eq(names, "out.txt");
    read_text(path, text, sizeof text);
    ck_assert_str_eq(text, "hello");

    /* a second commit replaces the file whole */
    ck_assert_int_eq(kvc_atomic_write_file(path, "bye", 3, &err), KVC_OK);
    read_text(path, text, sizeof text);
    ck_assert_str_eq(text, "bye");
    ck_assert_int_eq(kvc_atomic_write_file(path, NULL, 0, &err), KVC_OK);
    read_text(path, text, sizeof text);
    ck_assert_str_eq(text, "");
    ck_assert_int_eq(list_dir(dir, names, sizeof names), 1);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

START_TEST(abort_leaves_nothing)
{
    char dir[4096], path[4200], names[8192], text[64];
    kvc_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/out.txt", dir);
    kvc_atomic_file *af = NULL;
    kvc_error err;
    ck_assert_int_eq(kvc_atomic_open(path, &af, &err), KVC_OK);
    fputs("partial", kvc_atomic_stream(af));
    kvc_atomic_abort(af);
    ck_assert_int_eq(list_dir(dir, names, sizeof names), 0);
    kvc_atomic_abort(NULL);

    /* an abort does not touch an existing destination */
    ck_assert_int_eq(kvc_atomic_write_file(path, "kept", 4, &err), KVC_OK);
    ck_assert_int_eq(kvc_atomic_open(path, &af, &err), KVC_OK);
    fputs("partial", kvc_atomic_stream(af));
    kvc_atomic_abort(af);
    read_text(path, text, sizeof text);
    ck_assert_str_eq(text, "kept");
    ck_assert_int_eq(list_dir(dir, names, sizeof names), 1);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

START_TEST(two_open_at_once)
{
    char dir[4096], path[4200], names[8192], text[64];
    kvc_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/out.txt", dir);
    kvc_atomic_file *a = NULL, *b = NULL;
    kvc_error err;
    ck_assert_int_eq(kvc_atomic_open(path, &a, &err), KVC_OK);
    ck_assert_int_eq(kvc_atomic_open(path, &b, &err), KVC_OK); /* takes the next name */
    ck_assert_int_eq(list_dir(dir, names, sizeof names), 2);
    fputs("a", kvc_atomic_stream(a));
    fputs("b", kvc_atomic_stream(b));
    ck_assert_int_eq(kvc_atomic_commit(a, &err), KVC_OK);
    ck_assert_int_eq(kvc_atomic_commit(b, &err), KVC_OK);
    read_text(path, text, sizeof text);
    ck_assert_str_eq(text, "b"); /* the last commit wins, whole */
    ck_assert_int_eq(list_dir(dir, names, sizeof names), 1);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

START_TEST(open_in_missing_directory)
{
    char dir[4096], path[4200], names[8192];
    kvc_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/missing/out.txt", dir);
    kvc_atomic_file *af = (kvc_atomic_file *)&af;
    kvc_error err;
    kvc_status st = kvc_atomic_open(path, &af, &err);
    ck_assert_msg(st == KVC_OPEN || st == KVC_IO, "got %s", kvc_status_name(st));
    ck_assert_int_eq(err.status, st);
    ck_assert_ptr_null(af);
    ck_assert_str_eq(err.file, path);
    ck_assert_ptr_nonnull(strstr(err.detail, "No such file or directory"));
    st = kvc_atomic_write_file(path, "x", 1, &err);
    ck_assert_msg(st == KVC_OPEN || st == KVC_IO, "got %s", kvc_status_name(st));
    ck_assert_int_eq(list_dir(dir, names, sizeof names), 0);
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

START_TEST(commit_failure_removes_temporary)
{
    char dir[4096], path[4200], names[8192];
    kvc_test_tmpdir(dir, sizeof dir);
    /* the destination is a directory: the rename fails at commit */
    snprintf(path, sizeof path, "%s/taken", dir);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    kvc_atomic_file *af = NULL;
    kvc_error err;
    ck_assert_int_eq(kvc_atomic_open(path, &af, &err), KVC_OK);
    fputs("data", kvc_atomic_stream(af));
    ck_assert_int_eq(kvc_atomic_commit(af, &err), KVC_IO);
    ck_assert_str_eq(err.file, path);
    ck_assert_int_eq(list_dir(dir, names, sizeof names), 1);
    ck_assert_str_eq(names, "taken");
    ck_assert_int_eq(kvc_atomic_commit(NULL, &err), KVC_INVALID_ARGUMENT);
    ck_assert_ptr_null(kvc_atomic_stream(NULL));
    ck_assert_int_eq(rmdir(path), 0);
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

static Suite *atomic_suite(void)
{
    Suite *s = suite_create("atomic");
    TCase *tc = tcase_create("atomic");
    tcase_add_test(tc, commit_makes_file_appear);
    tcase_add_test(tc, abort_leaves_nothing);
    tcase_add_test(tc, two_open_at_once);
    tcase_add_test(tc, open_in_missing_directory);
    tcase_add_test(tc, commit_failure_removes_temporary);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return kvc_test_run(atomic_suite());
}
