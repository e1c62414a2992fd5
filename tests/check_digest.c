/* Tests for io/digest: SHA-256 of buffers and files, hex encode/decode.
 *
 * Oracles: the digests below are the published FIPS 180-2 examples (and
 * NIST CAVP short messages); file digests of other contents are compared
 * with OpenSSL's one-shot EVP_Digest over the same bytes in memory, which
 * shares none of kvc_sha256_file's streaming code. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "io/digest.h"
#include "testutil.h"

typedef struct vector {
    const char *msg;
    const char *hex;
} vector;

/* FIPS 180-2 appendix B (one-block, two-block) and the 896-bit message of
 * the later FIPS 180 examples; "" from NIST CAVP SHA256ShortMsg (Len = 0). */
static const vector vectors[] = {
    {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlm"
     "nopqrsmnopqrstnopqrstu",
     "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
};
#define N_VECTORS ((int)(sizeof vectors / sizeof vectors[0]))

/* FIPS 180-2 B.3: one million repetitions of 'a'. */
static const char *const million_a_hex =
    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";

static char tmpdir[512];

static void setup(void)
{
    kvc_test_tmpdir(tmpdir, sizeof tmpdir);
}

static void teardown(void)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", tmpdir);
}

static const char *tmp_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", tmpdir, name);
    return buf;
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

static void hex_of(const uint8_t d[KVC_SHA256_SIZE], char out[KVC_SHA256_HEX_SIZE + 1])
{
    kvc_sha256_hex(d, out);
}

static void oracle(const void *data, size_t n, uint8_t out[KVC_SHA256_SIZE])
{
    unsigned int len = 0;
    ck_assert_int_eq(EVP_Digest(data, n, out, &len, EVP_sha256(), NULL), 1);
    ck_assert_uint_eq(len, KVC_SHA256_SIZE);
}

/* ------------------------------------------------------------ buffers */

START_TEST(buffer_vectors)
{
    const vector *v = &vectors[_i];
    uint8_t d[KVC_SHA256_SIZE];
    char hex[KVC_SHA256_HEX_SIZE + 1];
    ck_assert_int_eq(kvc_sha256_buffer(v->msg, strlen(v->msg), d), KVC_OK);
    hex_of(d, hex);
    ck_assert_str_eq(hex, v->hex);
}
END_TEST

START_TEST(buffer_null_empty)
{
    uint8_t d[KVC_SHA256_SIZE];
    char hex[KVC_SHA256_HEX_SIZE + 1];
    ck_assert_int_eq(kvc_sha256_buffer(NULL, 0, d), KVC_OK);
    hex_of(d, hex);
    ck_assert_str_eq(hex, vectors[0].hex);
}
END_TEST

START_TEST(buffer_million_a)
{
    size_t n = 1000000;
    char *a = malloc(n);
    ck_assert_ptr_nonnull(a);
    memset(a, 'a', n);
    uint8_t d[KVC_SHA256_SIZE];
    char hex[KVC_SHA256_HEX_SIZE + 1];
    ck_assert_int_eq(kvc_sha256_buffer(a, n, d), KVC_OK);
    hex_of(d, hex);
    ck_assert_str_eq(hex, million_a_hex);
    free(a);
}
END_TEST

/* ------------------------------------------------------------ files */

START_TEST(file_vectors)
{
    const vector *v = &vectors[_i];
    char path[600];
    tmp_path(path, sizeof path, "v.bin");
    write_bytes(path, v->msg, strlen(v->msg));
    uint8_t d[KVC_SHA256_SIZE];
    char hex[KVC_SHA256_HEX_SIZE + 1];
    uint64_t size = 12345;
    ck_assert_int_eq(kvc_sha256_file(path, d, &size, NULL, NULL, NULL), KVC_OK);
    ck_assert_uint_eq(size, strlen(v->msg));
    hex_of(d, hex);
    ck_assert_str_eq(hex, v->hex);
}
END_TEST

typedef struct progress_log {
    uint64_t calls, last_done, total;
    int monotonic;
} progress_log;

static void log_progress(void *arg, uint64_t done, uint64_t total)
{
    progress_log *p = arg;
    if (p->calls > 0 && done <= p->last_done)
        p->monotonic = 0;
    p->calls++;
    p->last_done = done;
    p->total = total;
}

/* One million 'a' from a file, read in blocks of several sizes (the
 * read(2) default, small odd ones that split the 64-byte SHA-256 block,
 * and larger ones), then mapped, then through kvc_sha256_file. */
static const size_t million_blocks[] = {KVC__SHA256_DEFAULT_BLOCK, 4093, 65536, 1000000, 1 << 20};

START_TEST(file_million_a)
{
    size_t n = 1000000;
    char *a = malloc(n);
    ck_assert_ptr_nonnull(a);
    memset(a, 'a', n);
    char path[600];
    tmp_path(path, sizeof path, "million.bin");
    write_bytes(path, a, n);
    free(a);

    size_t block = million_blocks[_i];
    uint8_t d[KVC_SHA256_SIZE];
    char hex[KVC_SHA256_HEX_SIZE + 1];
    uint64_t size = 0;
    progress_log log = {0, 0, 0, 1};
    kvc_error err;
    kvc_error_clear(&err);
    ck_assert_int_eq(kvc__sha256_file_with(path, KVC__SHA256_READ, block, d, &size, log_progress,
                                           &log, &err),
                     KVC_OK);
    hex_of(d, hex);
    ck_assert_str_eq(hex, million_a_hex);
    ck_assert_uint_eq(size, n);
    /* one progress call per block read, each further than the last */
    ck_assert_uint_ge(log.calls, (n + block - 1) / block);
    ck_assert_int_eq(log.monotonic, 1);
    ck_assert_uint_eq(log.last_done, n);
    ck_assert_uint_eq(log.total, n);

    memset(d, 0, sizeof d);
    ck_assert_int_eq(kvc__sha256_file_with(path, KVC__SHA256_MMAP, 1, d, &size, NULL, NULL, &err),
                     KVC_OK);
    hex_of(d, hex);
    ck_assert_str_eq(hex, million_a_hex);

    /* and the public entry point, with its default block */
    memset(d, 0, sizeof d);
    ck_assert_int_eq(kvc_sha256_file(path, d, NULL, NULL, NULL, &err), KVC_OK);
    hex_of(d, hex);
    ck_assert_str_eq(hex, million_a_hex);
}
END_TEST

/* Sizes at the edges of the read(2) block and of the mmap slice: empty,
 * one byte, a block less one, exactly one and two blocks, two blocks plus
 * one byte, and the same around two slices (32 MiB: kvc_sha256_file
 * itself then crosses slice boundaries). */
static const size_t edge_sizes[] = {0,
                                    1,
                                    KVC__SHA256_DEFAULT_BLOCK - 1,
                                    KVC__SHA256_DEFAULT_BLOCK,
                                    2 * KVC__SHA256_DEFAULT_BLOCK,
                                    2 * KVC__SHA256_DEFAULT_BLOCK + 1,
                                    2 * KVC__SHA256_MMAP_SLICE,
                                    2 * KVC__SHA256_MMAP_SLICE + 1};

static uint64_t ceil_div(uint64_t a, uint64_t b)
{
    return (a + b - 1) / b;
}

START_TEST(file_block_edges)
{
    size_t n = edge_sizes[_i];
    unsigned char *data = malloc(n > 0 ? n : 1);
    ck_assert_ptr_nonnull(data);
    uint64_t seed = 0x5eed0000u + (uint64_t)_i;
    for (size_t i = 0; i < n; i++)
        data[i] = (unsigned char)kvc_test_rand64(&seed);
    char path[600];
    tmp_path(path, sizeof path, "edge.bin");
    write_bytes(path, data, n);
    uint8_t want[KVC_SHA256_SIZE], got[KVC_SHA256_SIZE];
    oracle(data, n, want);
    free(data);

    /* read(2) in default-size blocks: one progress call per block */
    uint64_t size = 999;
    progress_log log = {0, 0, 0, 1};
    ck_assert_int_eq(kvc__sha256_file_with(path, KVC__SHA256_READ, KVC__SHA256_DEFAULT_BLOCK, got,
                                           &size, log_progress, &log, NULL),
                     KVC_OK);
    ck_assert_mem_eq(got, want, KVC_SHA256_SIZE);
    ck_assert_uint_eq(size, n);
    ck_assert_uint_eq(log.calls, ceil_div(n, KVC__SHA256_DEFAULT_BLOCK));
    ck_assert_uint_eq(log.last_done, n);
    ck_assert_int_eq(log.monotonic, 1);

    /* mapped: one call per slice (an empty file is read, not mapped) */
    memset(got, 0, sizeof got);
    memset(&log, 0, sizeof log);
    log.monotonic = 1;
    size = 999;
    ck_assert_int_eq(kvc__sha256_file_with(path, KVC__SHA256_MMAP, 1, got, &size, log_progress,
                                           &log, NULL),
                     KVC_OK);
    ck_assert_mem_eq(got, want, KVC_SHA256_SIZE);
    ck_assert_uint_eq(size, n);
    ck_assert_uint_eq(log.calls, ceil_div(n, KVC__SHA256_MMAP_SLICE));
    ck_assert_uint_eq(log.last_done, n);
    ck_assert_int_eq(log.monotonic, 1);

    /* the public entry point */
    memset(got, 0, sizeof got);
    memset(&log, 0, sizeof log);
    size = 999;
    ck_assert_int_eq(kvc_sha256_file(path, got, &size, log_progress, &log, NULL), KVC_OK);
    ck_assert_mem_eq(got, want, KVC_SHA256_SIZE);
    ck_assert_uint_eq(size, n);
    ck_assert_uint_eq(log.last_done, n);
    ck_assert_uint_eq(log.total, n);
}
END_TEST

/* ------------------------------------------------------------ file errors */

static void assert_untouched(const uint8_t d[KVC_SHA256_SIZE])
{
    for (int i = 0; i < KVC_SHA256_SIZE; i++)
        ck_assert_uint_eq(d[i], 0xAA);
}

START_TEST(file_missing)
{
    char path[600];
    tmp_path(path, sizeof path, "no-such-file");
    uint8_t d[KVC_SHA256_SIZE];
    memset(d, 0xAA, sizeof d);
    kvc_error err;
    kvc_error_clear(&err);
    ck_assert_int_eq(kvc_sha256_file(path, d, NULL, NULL, NULL, &err), KVC_OPEN);
    ck_assert_int_eq(err.status, KVC_OPEN);
    ck_assert_str_eq(err.file, path);
    ck_assert_ptr_nonnull(strstr(err.detail, path));
    ck_assert_ptr_nonnull(strstr(err.detail, strerror(ENOENT)));
    assert_untouched(d);
    /* err may be NULL */
    ck_assert_int_eq(kvc_sha256_file(path, d, NULL, NULL, NULL, NULL), KVC_OPEN);
}
END_TEST

START_TEST(file_not_a_directory)
{
    char file[600], path[700];
    tmp_path(file, sizeof file, "plain");
    write_bytes(file, "x", 1);
    snprintf(path, sizeof path, "%s/below", file);
    uint8_t d[KVC_SHA256_SIZE];
    memset(d, 0xAA, sizeof d);
    kvc_error err;
    kvc_error_clear(&err);
    ck_assert_int_eq(kvc_sha256_file(path, d, NULL, NULL, NULL, &err), KVC_OPEN);
    ck_assert_ptr_nonnull(strstr(err.detail, strerror(ENOTDIR)));
    assert_untouched(d);
}
END_TEST

START_TEST(file_is_directory)
{
    uint8_t d[KVC_SHA256_SIZE];
    memset(d, 0xAA, sizeof d);
    kvc_error err;
    kvc_error_clear(&err);
    ck_assert_int_eq(kvc_sha256_file(tmpdir, d, NULL, NULL, NULL, &err), KVC_OPEN);
    ck_assert_str_eq(err.file, tmpdir);
    ck_assert_ptr_nonnull(strstr(err.detail, "not a regular file"));
    assert_untouched(d);
}
END_TEST

/* Permission bits do not stop root: this case runs only for other users. */
START_TEST(file_unreadable)
{
    if (geteuid() == 0)
        return;
    char path[600];
    tmp_path(path, sizeof path, "secret");
    write_bytes(path, "x", 1);
    ck_assert_int_eq(chmod(path, 0), 0);
    uint8_t d[KVC_SHA256_SIZE];
    kvc_error err;
    kvc_error_clear(&err);
    ck_assert_int_eq(kvc_sha256_file(path, d, NULL, NULL, NULL, &err), KVC_OPEN);
    ck_assert_ptr_nonnull(strstr(err.detail, strerror(EACCES)));
}
END_TEST

/* /proc/self/mem is a regular file whose read at offset 0 fails (EIO: the
 * first page is never mapped): the read-error path. */
START_TEST(file_read_error)
{
    uint8_t d[KVC_SHA256_SIZE];
    memset(d, 0xAA, sizeof d);
    kvc_error err;
    kvc_error_clear(&err);
    int fd = open("/proc/self/mem", O_RDONLY);
    if (fd < 0)
        return; /* no procfs here: nothing to test */
    close(fd);
    ck_assert_int_eq(kvc_sha256_file("/proc/self/mem", d, NULL, NULL, NULL, &err), KVC_IO);
    ck_assert_str_eq(err.file, "/proc/self/mem");
    ck_assert_int_eq(err.offset, 0);
    assert_untouched(d);
}
END_TEST

/* sysfs attributes claim a size (4096) but cannot be mapped: the default
 * path must fall back to reading them to their real end. */
START_TEST(file_unmappable_falls_back)
{
    const char *path = "/sys/devices/system/cpu/online";
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return; /* no sysfs here: nothing to test */
    char content[4096];
    size_t n = fread(content, 1, sizeof content, f);
    fclose(f);
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    uint8_t want[KVC_SHA256_SIZE], got[KVC_SHA256_SIZE];
    oracle(content, n, want);
    uint64_t size = 0;
    ck_assert_int_eq(kvc_sha256_file(path, got, &size, NULL, NULL, NULL), KVC_OK);
    ck_assert_mem_eq(got, want, KVC_SHA256_SIZE);
    ck_assert_uint_eq(size, n);
}
END_TEST

START_TEST(file_null_arguments)
{
    uint8_t d[KVC_SHA256_SIZE];
    kvc_error err;
    kvc_error_clear(&err);
    ck_assert_int_eq(kvc_sha256_file(NULL, d, NULL, NULL, NULL, &err), KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(kvc_sha256_file(tmpdir, NULL, NULL, NULL, NULL, &err), KVC_INVALID_ARGUMENT);
}
END_TEST

/* ------------------------------------------------------------ hex */

START_TEST(hex_round_trip)
{
    const vector *v = &vectors[_i];
    uint8_t d[KVC_SHA256_SIZE], back[KVC_SHA256_SIZE];
    char hex[KVC_SHA256_HEX_SIZE + 1];
    ck_assert_int_eq(kvc_sha256_from_hex(v->hex, d), KVC_OK);
    kvc_sha256_hex(d, hex);
    ck_assert_str_eq(hex, v->hex);
    /* upper case decodes to the same bytes */
    char upper[KVC_SHA256_HEX_SIZE + 1];
    for (int i = 0; i <= KVC_SHA256_HEX_SIZE; i++)
        upper[i] = (v->hex[i] >= 'a' && v->hex[i] <= 'f') ? (char)(v->hex[i] - 32) : v->hex[i];
    ck_assert_int_eq(kvc_sha256_from_hex(upper, back), KVC_OK);
    ck_assert_mem_eq(back, d, KVC_SHA256_SIZE);
}
END_TEST

START_TEST(hex_encode_known)
{
    uint8_t d[KVC_SHA256_SIZE];
    for (int i = 0; i < KVC_SHA256_SIZE; i++)
        d[i] = (uint8_t)(i * 8 + 7); /* 07 0f 17 ... ff */
    char hex[KVC_SHA256_HEX_SIZE + 1];
    memset(hex, 'Z', sizeof hex);
    kvc_sha256_hex(d, hex);
    ck_assert_str_eq(hex, "070f171f272f373f474f575f676f777f878f979fa7afb7bfc7cfd7dfe7eff7ff");
    ck_assert_int_eq(hex[KVC_SHA256_HEX_SIZE], '\0');
    /* mixed case, every digit value */
    ck_assert_int_eq(
        kvc_sha256_from_hex("0123456789abcdefABCDEF0123456789aBcDeF0123456789abcdef0123456789", d),
        KVC_OK);
    kvc_sha256_hex(d, hex);
    ck_assert_str_eq(hex, "0123456789abcdefabcdef0123456789abcdef0123456789abcdef0123456789");
}
END_TEST

static void assert_bad_hex(const char *s)
{
    uint8_t d[KVC_SHA256_SIZE];
    memset(d, 0xAA, sizeof d);
    ck_assert_int_eq(kvc_sha256_from_hex(s, d), KVC_MANIFEST_HEX);
    assert_untouched(d);
}

START_TEST(hex_malformed)
{
    const char *good = vectors[1].hex;
    char s[80];
    /* 63 and 65 digits, empty, NULL */
    memcpy(s, good, 63);
    s[63] = '\0';
    assert_bad_hex(s);
    memcpy(s, good, 64);
    s[64] = '0';
    s[65] = '\0';
    assert_bad_hex(s);
    assert_bad_hex("");
    assert_bad_hex(NULL);
    /* white space, a prefix, a trailing newline */
    snprintf(s, sizeof s, " %s", good);
    assert_bad_hex(s);
    snprintf(s, sizeof s, "%s ", good);
    assert_bad_hex(s);
    snprintf(s, sizeof s, "%s\n", good);
    assert_bad_hex(s);
    snprintf(s, sizeof s, "0x%.62s", good);
    assert_bad_hex(s);
}
END_TEST

/* Each of the 64 positions in turn holds a non-hex character, and an
 * embedded NUL (a 64-byte buffer whose string ends early). */
static const char non_hex[] = {'g', 'G', 'x', ' ', '-', ':', (char)0xC3, '\0'};

START_TEST(hex_bad_char_each_position)
{
    const char *good = vectors[2].hex;
    for (size_t k = 0; k < sizeof non_hex; k++) {
        char s[KVC_SHA256_HEX_SIZE + 1];
        memcpy(s, good, sizeof s);
        s[_i] = non_hex[k];
        assert_bad_hex(s);
    }
}
END_TEST

START_TEST(hex_embedded_nul_then_digits)
{
    /* "abcd...\0" followed by more digits: 64 bytes of digits in memory,
     * but the string is shorter. */
    char s[KVC_SHA256_HEX_SIZE + 2];
    memcpy(s, vectors[1].hex, KVC_SHA256_HEX_SIZE + 1);
    s[40] = '\0';
    assert_bad_hex(s);
    /* 64 digits, a NUL, then more: that is exactly 64 and valid */
    memcpy(s, vectors[1].hex, KVC_SHA256_HEX_SIZE);
    s[64] = '\0';
    s[65] = 'f';
    uint8_t d[KVC_SHA256_SIZE];
    ck_assert_int_eq(kvc_sha256_from_hex(s, d), KVC_OK);
}
END_TEST

static Suite *digest_suite(void)
{
    Suite *s = suite_create("digest");
    TCase *tc = tcase_create("buffer");
    tcase_add_loop_test(tc, buffer_vectors, 0, N_VECTORS);
    tcase_add_test(tc, buffer_null_empty);
    tcase_add_test(tc, buffer_million_a);
    suite_add_tcase(s, tc);

    tc = tcase_create("file");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, file_vectors, 0, N_VECTORS);
    tcase_add_loop_test(tc, file_million_a, 0,
                        (int)(sizeof million_blocks / sizeof million_blocks[0]));
    tcase_add_loop_test(tc, file_block_edges, 0, (int)(sizeof edge_sizes / sizeof edge_sizes[0]));
    tcase_add_test(tc, file_missing);
    tcase_add_test(tc, file_not_a_directory);
    tcase_add_test(tc, file_is_directory);
    tcase_add_test(tc, file_unreadable);
    tcase_add_test(tc, file_read_error);
    tcase_add_test(tc, file_unmappable_falls_back);
    tcase_add_test(tc, file_null_arguments);
    suite_add_tcase(s, tc);

    tc = tcase_create("hex");
    tcase_add_loop_test(tc, hex_round_trip, 0, N_VECTORS);
    tcase_add_test(tc, hex_encode_known);
    tcase_add_test(tc, hex_malformed);
    tcase_add_loop_test(tc, hex_bad_char_each_position, 0, KVC_SHA256_HEX_SIZE);
    tcase_add_test(tc, hex_embedded_nul_then_digits);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return kvc_test_run(digest_suite());
}
