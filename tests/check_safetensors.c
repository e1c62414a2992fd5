/* Tests for io/safetensors: every validation rule of SPEC 1.1 with its own
 * status, good files, lookups, and the writer (golden bytes, round trip).
 *
 * The bad-input files are crafted here byte by byte; the expected statuses,
 * tensors and offsets come from reading the rules, not from the reader. */
#include <dirent.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/safetensors.h"
#include "io/utf8.h"
#include "testutil.h"

/* ------------------------------------------------------------ helpers */

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    if (n > 0)
        ck_assert_uint_eq(fwrite(data, 1, n, fp), n);
    ck_assert_int_eq(fclose(fp), 0);
}

/* Writes an 8-byte little-endian length field, the header, then `data`
 * zero bytes (or the bytes of payload when it is not NULL). */
static void write_st(const char *path, const char *header, size_t hlen, uint64_t length_field,
                     const void *payload, size_t data)
{
    size_t n = 8 + hlen + data;
    unsigned char *buf = calloc(1, n);
    ck_assert_ptr_nonnull(buf);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)(length_field >> (8 * i));
    memcpy(buf + 8, header, hlen);
    if (payload != NULL)
        memcpy(buf + 8 + hlen, payload, data);
    write_bytes(path, buf, n);
    free(buf);
}

static unsigned char *read_all(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_int_eq(fseek(fp, 0, SEEK_END), 0);
    long size = ftell(fp);
    ck_assert_int_ge(size, 0);
    rewind(fp);
    unsigned char *buf = malloc((size_t)size + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t)size, fp), (size_t)size);
    fclose(fp);
    *n = (size_t)size;
    return buf;
}

/* Number of entries in dir other than . and .. */
static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    char path[4096];
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        ck_assert_int_eq(unlink(path), 0);
    }
    closedir(d);
    ck_assert_int_eq(rmdir(dir), 0);
}

/* ------------------------------------------------------------ UTF-8 */

/* Oracle, written from the definition rather than from table 3-7: a string
 * is valid when it splits into sequences, each of which decodes (by bit
 * masks) to a scalar value (not a surrogate, at most U+10FFFF) whose
 * shortest encoding has that very length. */
static int utf8_oracle(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2, cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i < len)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3Fu);
        }
        size_t shortest = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
        if (shortest != len || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
            return 0;
        i += len;
    }
    return 1;
}

/* Every string of 1, 2 and 3 bytes (16 843 008 of them), and 4-byte
 * strings with every lead byte and continuation bytes drawn from the
 * boundaries of the ranges that matter. */
START_TEST(utf8_exhaustive)
{
    unsigned char s[4];
    for (uint32_t v = 0; v < (1u << 24); v++) {
        s[0] = (unsigned char)(v >> 16), s[1] = (unsigned char)(v >> 8), s[2] = (unsigned char)v;
        for (size_t n = 1; n <= 3; n++) {
            if (n < 3 && (v & ((1u << (8 * (3 - n))) - 1)) != 0)
                continue; /* shorter strings: once each */
            int valid = kvc__utf8_invalid_at(s, n) == n;
            if (valid != utf8_oracle(s, n))
                ck_abort_msg("%zu bytes %02x %02x %02x: validator says %d", n, s[0], s[1], s[2],
                             valid);
        }
    }
    static const unsigned char edge[] = {0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f,
                                         0xa0, 0xbf, 0xc0, 0xc2, 0xf4, 0xff};
    const size_t ne = sizeof edge;
    for (unsigned lead = 0; lead < 256; lead++)
        for (size_t a = 0; a < ne; a++)
            for (size_t b = 0; b < ne; b++)
                for (size_t c = 0; c < ne; c++) {
                    s[0] = (unsigned char)lead, s[1] = edge[a], s[2] = edge[b], s[3] = edge[c];
                    int valid = kvc__utf8_invalid_at(s, 4) == 4;
                    if (valid != utf8_oracle(s, 4))
                        ck_abort_msg("%02x %02x %02x %02x: validator says %d", s[0], s[1], s[2],
                                     s[3], valid);
                }
    /* the reported index is the start of the bad sequence */
    ck_assert_uint_eq(kvc__utf8_invalid_at((const unsigned char *)"ab\xe2\x82", 4), 2);
    ck_assert_uint_eq(kvc__utf8_invalid_at((const unsigned char *)"\xc3\xa9\xed\xa0\x80", 5), 2);
    ck_assert_uint_eq(kvc__utf8_invalid_at((const unsigned char *)"", 0), 0);
}
END_TEST

/* ------------------------------------------------------------ bad inputs */

/* Header text building blocks: E(name, dtype, shape, offsets). */
#define Q(s) "\"" s "\""
#define E(name, dtype, shape, offs)                                                          \
    Q(name) ":{\"dtype\":" Q(dtype) ",\"shape\":" shape ",\"data_offsets\":" offs "}"
#define A4 E("a", "F32", "[1]", "[0,4]")

enum { OFF_ANY, OFF_ABS, OFF_DATA };

typedef struct bad_case {
    const char *id;
    const char *text;     /* the header, or the whole file when raw */
    size_t len;           /* bytes of text; 0 means strlen (not for raw) */
    int raw;              /* text is the whole file */
    int64_t length_field; /* 0: the header's own length */
    size_t data;          /* zero bytes after the header */
    kvc_status expect;
    const char *tensor;   /* expected err.tensor ("" for none) */
    int off_mode;         /* OFF_ANY, or offset absolute / from the data start */
    int64_t off;
} bad_case;

static const bad_case bad_cases[] = {
    /* the 8-byte length field */
    {"empty_file", "", 0, 1, 0, 0, KVC_ST_TOO_SHORT, "", OFF_ANY, 0},
    {"seven_bytes", "\x02\0\0\0\0\0\0", 7, 1, 0, 0, KVC_ST_TOO_SHORT, "", OFF_ANY, 0},
    {"length_zero", "\0\0\0\0\0\0\0\0", 8, 1, 0, 0, KVC_ST_HEADER_TOO_SMALL, "", OFF_ABS, 0},
    {"length_one", "{", 0, 0, 1, 0, KVC_ST_HEADER_TOO_SMALL, "", OFF_ABS, 0},
    /* 100 000 001 = 0x05F5E101: only the length field, no header at all */
    {"length_over_limit", "\x01\xe1\xf5\x05\0\0\0\0", 8, 1, 0, 0, KVC_ST_HEADER_TOO_LARGE, "",
     OFF_ABS, 0},
    {"length_max_u64", "\xff\xff\xff\xff\xff\xff\xff\xff", 8, 1, 0, 0, KVC_ST_HEADER_TOO_LARGE,
     "", OFF_ABS, 0},
    /* 100 000 000 = 0x05F5E100 is allowed, but the file does not hold it */
    {"length_at_limit_beyond_file", "\x00\xe1\xf5\x05\0\0\0\0", 8, 1, 0, 0,
     KVC_ST_HEADER_BEYOND_FILE, "", OFF_ABS, 0},
    {"length_beyond_file_by_one", "{}", 0, 0, 3, 0, KVC_ST_HEADER_BEYOND_FILE, "", OFF_ABS, 0},
    {"length_beyond_file_far", "{}", 0, 0, 1000, 0, KVC_ST_HEADER_BEYOND_FILE, "", OFF_ABS, 0},
    /* UTF-8: the offset names the first byte of the bad sequence */
    {"utf8_lone_continuation", "{\"\x80\":1}", 0, 0, 0, 0, KVC_ST_HEADER_UTF8, "", OFF_ABS, 10},
    {"utf8_overlong_2byte", "{\"\xc0\xaf\":1}", 0, 0, 0, 0, KVC_ST_HEADER_UTF8, "", OFF_ABS, 10},
    {"utf8_overlong_c1", "{\"\xc1\xbf\":1}", 0, 0, 0, 0, KVC_ST_HEADER_UTF8, "", OFF_ABS, 10},
    {"utf8_overlong_3byte", "{\"\xe0\x80\xaf\":1}", 0, 0, 0, 0, KVC_ST_HEADER_UTF8, "", OFF_ABS,
     10},
    {"utf8_overlong_4byte", "{\"\xf0\x80\x80\xaf\":1}", 0, 0, 0, 0, KVC_ST_HEADER_UTF8, "",
     OFF_ABS, 10},
    {"utf8_surrogate_high", "{\"\xed\xa0\x80\":1}", 0, 0, 0, 0, KVC_ST_HEADER_UTF8, "", OFF_ABS,
     10},
    {"utf8_surrogate_low", "{\"\xed\xbf\xbf\":1}", 0, 0, 0, 0, KVC_ST_HEADER_UTF8, "", OFF_ABS,
     10},
    {"utf8_above_10ffff", "{\"\xf4\x90\x80\x80\":1}", 0, 0, 0, 0, KVC_ST_HEADER_UTF8, "",
     OFF_ABS, 10},
    {"utf8_byte_f5", "{\"\xf5\x80\x80\x80\":1}", 0, 0, 0, 0, KVC_ST_HEADER_UTF8, "", OFF_ABS, 10},
    {"utf8_byte_ff", "{\"a\xff\":1}", 0, 0, 0, 0, KVC_ST_HEADER_UTF8, "", OFF_ABS, 11},
    {"utf8_bad_continuation", "{\"\xe2\x28\xa1\":1}", 0, 0, 0, 0, KVC_ST_HEADER_UTF8, "", OFF_ABS,
     10},
    {"utf8_cut_at_end", "{}\xe2\x82", 0, 0, 0, 0, KVC_ST_HEADER_UTF8, "", OFF_ABS, 10},
    /* JSON syntax, and what cJSON lets through but JSON does not */
    {"json_truncated", "{\"a\":", 0, 0, 0, 0, KVC_ST_HEADER_JSON, "", OFF_ANY, 0},
    {"json_open_brace", "{ ", 0, 0, 0, 0, KVC_ST_HEADER_JSON, "", OFF_ANY, 0},
    {"json_unquoted_key", "{a:1}", 0, 0, 0, 0, KVC_ST_HEADER_JSON, "", OFF_ANY, 0},
    {"json_trailing_comma", "{\"a\":1,}", 0, 0, 0, 0, KVC_ST_HEADER_JSON, "", OFF_ANY, 0},
    {"json_trailing_garbage", "{}x", 0, 0, 0, 0, KVC_ST_HEADER_JSON, "", OFF_ABS, 10},
    {"json_trailing_garbage_after_space", "{}  x", 0, 0, 0, 0, KVC_ST_HEADER_JSON, "", OFF_ABS,
     12},
    {"json_two_values", "{}{}", 0, 0, 0, 0, KVC_ST_HEADER_JSON, "", OFF_ABS, 10},
    {"json_trailing_nul", "{}\0", 3, 0, 0, 0, KVC_ST_HEADER_JSON, "", OFF_ABS, 10},
    {"json_control_outside_string", "{\x01}", 0, 0, 0, 0, KVC_ST_HEADER_JSON, "", OFF_ABS, 9},
    {"json_tab_inside_string", "{\"a\tb\":1}", 0, 0, 0, 0, KVC_ST_HEADER_JSON, "", OFF_ABS, 11},
    {"json_nul_inside_key", "{\"a\0b\":1}", 9, 0, 0, 0, KVC_ST_HEADER_JSON, "", OFF_ABS, 11},
    {"json_escaped_nul", "{\"a\\u0000b\":1}", 0, 0, 0, 0, KVC_ST_HEADER_JSON, "", OFF_ABS, 11},
    {"json_bad_unicode_escape", "{\"\\uzzzz\":1}", 0, 0, 0, 0, KVC_ST_HEADER_JSON, "", OFF_ABS,
     10},
    {"json_lone_surrogate_escape", "{\"\\udc00\":1}", 0, 0, 0, 0, KVC_ST_HEADER_JSON, "",
     OFF_ANY, 0},
    {"json_bad_escape", "{\"\\x41\":1}", 0, 0, 0, 0, KVC_ST_HEADER_JSON, "", OFF_ANY, 0},
    {"json_leading_zero", "{\"a\":01}", 0, 0, 0, 0, KVC_ST_HEADER_JSON, "", OFF_ABS, 13},
    {"json_bare_point", "{\"a\":1.}", 0, 0, 0, 0, KVC_ST_HEADER_JSON, "", OFF_ABS, 13},
    {"json_byte_order_mark", "\xef\xbb\xbf{}", 0, 0, 0, 0, KVC_ST_HEADER_JSON, "", OFF_ABS, 8},
    /* the header is not an object */
    {"not_object_array", "[]", 0, 0, 0, 0, KVC_ST_HEADER_NOT_OBJECT, "", OFF_ANY, 0},
    {"not_object_number", "42", 0, 0, 0, 0, KVC_ST_HEADER_NOT_OBJECT, "", OFF_ANY, 0},
    {"not_object_string", "\"{}\"", 0, 0, 0, 0, KVC_ST_HEADER_NOT_OBJECT, "", OFF_ANY, 0},
    {"not_object_null", "null", 0, 0, 0, 0, KVC_ST_HEADER_NOT_OBJECT, "", OFF_ANY, 0},
    /* duplicate keys */
    {"duplicate_tensor", "{" A4 "," E("a", "F32", "[1]", "[4,8]") "}", 0, 0, 0, 8,
     KVC_ST_DUPLICATE_KEY, "a", OFF_ANY, 0},
    {"duplicate_tensor_far_apart",
     "{" A4 "," E("b", "F32", "[1]", "[4,8]") "," E("c", "F32", "[1]", "[8,12]") "," E(
         "a", "F32", "[0]", "[12,12]") "}",
     0, 0, 0, 12, KVC_ST_DUPLICATE_KEY, "a", OFF_ANY, 0},
    {"duplicate_metadata", "{\"__metadata__\":{},\"__metadata__\":{}}", 0, 0, 0, 0,
     KVC_ST_DUPLICATE_KEY, "__metadata__", OFF_ANY, 0},
    {"duplicate_metadata_key", "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, 0, 0, 0,
     KVC_ST_DUPLICATE_KEY, "__metadata__", OFF_ANY, 0},
    /* malformed entries */
    {"entry_not_object", "{\"a\":[1]}", 0, 0, 0, 0, KVC_ST_BAD_ENTRY, "a", OFF_ANY, 0},
    {"entry_number", "{\"a\":1}", 0, 0, 0, 0, KVC_ST_BAD_ENTRY, "a", OFF_ANY, 0},
    {"entry_missing_offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 0, 0, 0, 0,
     KVC_ST_BAD_ENTRY, "a", OFF_ANY, 0},
    {"entry_extra_key", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}",
     0, 0, 0, 4, KVC_ST_BAD_ENTRY, "a", OFF_ANY, 0},
    {"entry_dtype_twice", "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1]}}", 0, 0, 0,
     0, KVC_ST_BAD_ENTRY, "a", OFF_ANY, 0},
    {"entry_dtype_not_string", "{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 0, 0,
     0, 4, KVC_ST_BAD_ENTRY, "a", OFF_ANY, 0},
    {"entry_shape_not_array", "{" E("a", "F32", "1", "[0,4]") "}", 0, 0, 0, 4, KVC_ST_BAD_ENTRY, "a",
     OFF_ANY, 0},
    {"entry_offsets_not_array", "{" E("a", "F32", "[1]", "{}") "}", 0, 0, 0, 4, KVC_ST_BAD_ENTRY, "a",
     OFF_ANY, 0},
    /* __metadata__ */
    {"metadata_array", "{\"__metadata__\":[]}", 0, 0, 0, 0, KVC_ST_BAD_METADATA, "__metadata__",
     OFF_ANY, 0},
    {"metadata_string", "{\"__metadata__\":\"x\"}", 0, 0, 0, 0, KVC_ST_BAD_METADATA,
     "__metadata__", OFF_ANY, 0},
    {"metadata_number_value", "{\"__metadata__\":{\"k\":1}}", 0, 0, 0, 0, KVC_ST_BAD_METADATA,
     "__metadata__", OFF_ANY, 0},
    {"metadata_null_value", "{\"__metadata__\":{\"k\":null}}", 0, 0, 0, 0, KVC_ST_BAD_METADATA,
     "__metadata__", OFF_ANY, 0},
    {"metadata_nested", "{\"__metadata__\":{\"k\":{\"a\":\"b\"}}}", 0, 0, 0, 0,
     KVC_ST_BAD_METADATA, "__metadata__", OFF_ANY, 0},
    /* dtypes */
    {"dtype_unknown", "{" E("a", "F33", "[1]", "[0,4]") "}", 0, 0, 0, 4, KVC_ST_UNKNOWN_DTYPE,
     "a", OFF_ANY, 0},
    {"dtype_lowercase", "{" E("a", "f32", "[1]", "[0,4]") "}", 0, 0, 0, 4, KVC_ST_UNKNOWN_DTYPE,
     "a", OFF_ANY, 0},
    {"dtype_empty", "{" E("a", "", "[1]", "[0,4]") "}", 0, 0, 0, 4, KVC_ST_UNKNOWN_DTYPE, "a",
     OFF_ANY, 0},
    /* shapes */
    {"shape_negative", "{" E("a", "F32", "[-1]", "[0,4]") "}", 0, 0, 0, 4, KVC_ST_BAD_SHAPE, "a",
     OFF_ANY, 0},
    {"shape_fraction", "{" E("a", "F32", "[1.5]", "[0,4]") "}", 0, 0, 0, 4, KVC_ST_BAD_SHAPE,
     "a", OFF_ANY, 0},
    {"shape_string", "{" E("a", "F32", "[\"1\"]", "[0,4]") "}", 0, 0, 0, 4, KVC_ST_BAD_SHAPE,
     "a", OFF_ANY, 0},
    {"shape_nested", "{" E("a", "F32", "[[1]]", "[0,4]") "}", 0, 0, 0, 4, KVC_ST_BAD_SHAPE, "a",
     OFF_ANY, 0},
    {"shape_2_pow_53", "{" E("a", "U8", "[9007199254740992]", "[0,4]") "}", 0, 0, 0, 4,
     KVC_ST_BAD_SHAPE, "a", OFF_ANY, 0},
    {"shape_1e300", "{" E("a", "U8", "[1e300]", "[0,4]") "}", 0, 0, 0, 4, KVC_ST_BAD_SHAPE, "a",
     OFF_ANY, 0},
    {"shape_nine_dims", "{" E("a", "U8", "[1,1,1,1,1,1,1,1,1]", "[0,1]") "}", 0, 0, 0, 1,
     KVC_ST_BAD_SHAPE, "a", OFF_ANY, 0},
    /* 2^40 cubed = 2^120 elements */
    {"shape_overflow_numel", "{" E("a", "U8", "[1099511627776,1099511627776,1099511627776]",
                                   "[0,4]") "}",
     0, 0, 0, 4, KVC_ST_SHAPE_OVERFLOW, "a", OFF_ANY, 0},
    /* 2^31 * 2^31 = 2^62 elements fit, times 8 bytes does not */
    {"shape_overflow_bytes", "{" E("a", "F64", "[2147483648,2147483648]", "[0,4]") "}", 0, 0, 0,
     4, KVC_ST_SHAPE_OVERFLOW, "a", OFF_ANY, 0},
    /* data_offsets */
    {"offsets_one_value", "{" E("a", "F32", "[1]", "[0]") "}", 0, 0, 0, 4, KVC_ST_BAD_OFFSETS,
     "a", OFF_ANY, 0},
    {"offsets_three_values", "{" E("a", "F32", "[1]", "[0,4,8]") "}", 0, 0, 0, 4,
     KVC_ST_BAD_OFFSETS, "a", OFF_ANY, 0},
    {"offsets_empty", "{" E("a", "F32", "[1]", "[]") "}", 0, 0, 0, 4, KVC_ST_BAD_OFFSETS, "a",
     OFF_ANY, 0},
    {"offsets_negative", "{" E("a", "F32", "[1]", "[-4,0]") "}", 0, 0, 0, 4, KVC_ST_BAD_OFFSETS,
     "a", OFF_ANY, 0},
    {"offsets_reversed", "{" E("a", "F32", "[1]", "[4,0]") "}", 0, 0, 0, 4, KVC_ST_BAD_OFFSETS,
     "a", OFF_ANY, 0},
    {"offsets_fraction", "{" E("a", "F32", "[1]", "[0,4.5]") "}", 0, 0, 0, 4, KVC_ST_BAD_OFFSETS,
     "a", OFF_ANY, 0},
    {"offsets_string", "{" E("a", "F32", "[1]", "[\"0\",4]") "}", 0, 0, 0, 4, KVC_ST_BAD_OFFSETS,
     "a", OFF_ANY, 0},
    {"offsets_2_pow_53", "{" E("a", "F32", "[1]", "[0,9007199254740992]") "}", 0, 0, 0, 4,
     KVC_ST_BAD_OFFSETS, "a", OFF_ANY, 0},
    /* sizes and layout; offsets of the data buffer, from its start */
    {"size_mismatch", "{" E("a", "F32", "[2]", "[0,4]") "}", 0, 0, 0, 4, KVC_ST_SIZE_MISMATCH,
     "a", OFF_DATA, 0},
    {"size_mismatch_later", "{" A4 "," E("b", "BF16", "[3]", "[4,12]") "}", 0, 0, 0, 12,
     KVC_ST_SIZE_MISMATCH, "b", OFF_DATA, 4},
    {"gap_at_start", "{" E("a", "F32", "[1]", "[4,8]") "}", 0, 0, 0, 8, KVC_ST_GAP, "a",
     OFF_DATA, 0},
    {"gap_between", "{" A4 "," E("b", "F32", "[1]", "[8,12]") "}", 0, 0, 0, 12, KVC_ST_GAP, "b",
     OFF_DATA, 4},
    {"gap_one_byte", "{" E("a", "U8", "[1]", "[0,1]") "," E("b", "U8", "[1]", "[2,3]") "}", 0, 0,
     0, 3, KVC_ST_GAP, "b", OFF_DATA, 1},
    {"overlap_one_byte", "{" E("a", "U8", "[2]", "[0,2]") "," E("b", "U8", "[2]", "[1,3]") "}", 0,
     0, 0, 3, KVC_ST_OVERLAP, "b", OFF_DATA, 1},
    {"overlap", "{" E("a", "F32", "[2]", "[0,8]") "," E("b", "F32", "[1]", "[4,8]") "}", 0, 0, 0,
     8, KVC_ST_OVERLAP, "b", OFF_DATA, 4},
    {"overlap_same_range", "{" E("b", "F32", "[1]", "[0,4]") "," A4 "}", 0, 0, 0, 4,
     KVC_ST_OVERLAP, "b", OFF_DATA, 0},
    {"overlap_zero_size_inside",
     "{" E("a", "F32", "[2]", "[0,8]") "," E("z", "F32", "[0]", "[4,4]") "}", 0, 0, 0, 8,
     KVC_ST_OVERLAP, "z", OFF_DATA, 4},
    {"trailing_bytes", "{" A4 "}", 0, 0, 0, 5, KVC_ST_TRAILING_BYTES, "", OFF_DATA, 4},
    {"trailing_bytes_no_tensors", "{}", 0, 0, 0, 1, KVC_ST_TRAILING_BYTES, "", OFF_DATA, 0},
    {"truncated", "{" E("a", "F32", "[2]", "[0,8]") "}", 0, 0, 0, 4, KVC_ST_TRUNCATED, "",
     OFF_DATA, 4},
    {"truncated_no_data", "{" A4 "}", 0, 0, 0, 0, KVC_ST_TRUNCATED, "", OFF_DATA, 0},
};

START_TEST(bad_input)
{
    const bad_case *c = &bad_cases[_i];
    char dir[4096], path[4200];
    kvc_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/bad.safetensors", dir);
    size_t hlen = c->raw || c->len != 0 ? c->len : strlen(c->text);
    if (c->raw)
        write_bytes(path, c->text, hlen);
    else
        write_st(path, c->text, hlen, c->length_field ? (uint64_t)c->length_field : hlen, NULL,
                 c->data);

    kvc_error err;
    kvc_error_clear(&err);
    kvc_st_file *dummy = (kvc_st_file *)&err, *f = dummy; /* open must reset it to NULL */
    kvc_status st = kvc_st_open(path, &f, &err);
    char msg[2048];
    kvc_error_format(&err, msg, sizeof msg);
    ck_assert_msg(st == c->expect, "%s: expected %s, got %s (%s)", c->id,
                  kvc_status_name(c->expect), kvc_status_name(st), msg);
    ck_assert_int_eq(err.status, c->expect);
    ck_assert_ptr_null(f);
    ck_assert_str_eq(err.file, path);
    ck_assert_msg(strcmp(err.tensor, c->tensor) == 0, "%s: tensor '%s', expected '%s'", c->id,
                  err.tensor, c->tensor);
    if (c->off_mode != OFF_ANY) {
        int64_t want = c->off + (c->off_mode == OFF_DATA ? (int64_t)(8 + hlen) : 0);
        ck_assert_msg(err.offset == want, "%s: offset %lld, expected %lld (%s)", c->id,
                      (long long)err.offset, (long long)want, msg);
    }
    ck_assert_msg(err.detail[0] != '\0', "%s: no detail", c->id);
    remove_dir(dir);
}
END_TEST

START_TEST(not_a_file)
{
    char dir[4096], path[4200];
    kvc_test_tmpdir(dir, sizeof dir);
    kvc_error err;
    kvc_st_file *f = NULL;
    snprintf(path, sizeof path, "%s/missing.safetensors", dir);
    ck_assert_int_eq(kvc_st_open(path, &f, &err), KVC_OPEN);
    ck_assert_str_eq(err.file, path);
    ck_assert_int_eq(kvc_st_open(dir, &f, &err), KVC_OPEN); /* a directory */
    ck_assert_ptr_null(f);
    remove_dir(dir);
}
END_TEST

/* ------------------------------------------------------------ good files */

static kvc_st_file *open_text(const char *dir, const char *header, const void *data, size_t n)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/good.safetensors", dir);
    write_st(path, header, strlen(header), strlen(header), data, n);
    kvc_error err;
    kvc_st_file *f = NULL;
    kvc_status st = kvc_st_open(path, &f, &err);
    char msg[2048];
    ck_assert_msg(st == KVC_OK, "%s: %s", header, kvc_error_format(&err, msg, sizeof msg));
    ck_assert_ptr_nonnull(f);
    return f;
}

START_TEST(good_empty)
{
    char dir[4096];
    kvc_test_tmpdir(dir, sizeof dir);
    static const char *const headers[] = {"{}", "{}      ", " \t\r\n{ }\n", "{\"__metadata__\":{}}"};
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        kvc_st_file *f = open_text(dir, headers[i], NULL, 0);
        ck_assert_uint_eq(kvc_st_count(f), 0);
        ck_assert_uint_eq(kvc_st_metadata_count(f), 0);
        ck_assert_uint_eq(kvc_st_header_size(f), strlen(headers[i]));
        ck_assert_uint_eq(kvc_st_file_size(f), 8 + strlen(headers[i]));
        ck_assert_ptr_null(kvc_st_tensor(f, 0));
        ck_assert_ptr_null(kvc_st_find(f, "a"));
        kvc_st_close(f);
    }
    remove_dir(dir);
}
END_TEST

START_TEST(good_zero_size_and_scalar)
{
    char dir[4096];
    kvc_test_tmpdir(dir, sizeof dir);
    const unsigned char data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    /* listed out of offset order; z is empty at 0, a zero-size tensor at
     * the very end is legal too */
    const char *h = "{" E("s", "I32", "[]", "[4,8]") "," E("end", "BF16", "[5,0]", "[8,8]") "," E(
        "z", "F32", "[0,3]", "[0,0]") "," E("a", "U8", "[2,2]", "[0,4]") "}";
    kvc_st_file *f = open_text(dir, h, data, sizeof data);
    ck_assert_uint_eq(kvc_st_count(f), 4);
    /* data-offset order, ties (z and a at 0) broken by size */
    const char *order[] = {"z", "a", "s", "end"};
    for (size_t i = 0; i < 4; i++)
        ck_assert_str_eq(kvc_st_tensor(f, i)->name, order[i]);
    const kvc_tensor_view *z = kvc_st_find(f, "z");
    ck_assert_int_eq(z->ndim, 2);
    ck_assert_int_eq(z->shape[0], 0);
    ck_assert_int_eq(z->shape[1], 3);
    ck_assert_uint_eq(z->numel, 0);
    ck_assert_uint_eq(z->nbytes, 0);
    const kvc_tensor_view *s = kvc_st_find(f, "s");
    ck_assert_int_eq(s->ndim, 0);
    ck_assert_uint_eq(s->numel, 1);
    ck_assert_uint_eq(s->nbytes, 4);
    ck_assert_uint_eq(s->file_offset, 8 + strlen(h) + 4);
    ck_assert_int_eq(memcmp(s->data, data + 4, 4), 0);
    const kvc_tensor_view *a = kvc_st_find(f, "a");
    ck_assert_uint_eq(a->numel, 4);
    ck_assert_int_eq(memcmp(a->data, data, 4), 0);
    ck_assert_uint_eq(kvc_st_find(f, "end")->numel, 0);
    kvc_st_close(f);
    remove_dir(dir);
}
END_TEST

START_TEST(good_metadata_and_names)
{
    char dir[4096];
    kvc_test_tmpdir(dir, sizeof dir);
    const unsigned char data[3] = {7, 8, 9};
    /* escaped and raw UTF-8 names; metadata keys come back in file order */
    const char *h = "{\"__metadata__\":{\"format\":\"pt\",\"b\":\"x \\\"y\\\"\",\"\":\"\"},"
                    "\"\\u00e9\\n\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                    "\"\xf0\x9f\x98\x80\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[1,3]}"
                    "}   ";
    kvc_st_file *f = open_text(dir, h, data, sizeof data);
    ck_assert_uint_eq(kvc_st_metadata_count(f), 3);
    const char *k, *v;
    kvc_st_metadata(f, 0, &k, &v);
    ck_assert_str_eq(k, "format");
    ck_assert_str_eq(v, "pt");
    kvc_st_metadata(f, 1, &k, &v);
    ck_assert_str_eq(k, "b");
    ck_assert_str_eq(v, "x \"y\"");
    kvc_st_metadata(f, 2, &k, &v);
    ck_assert_str_eq(k, "");
    ck_assert_str_eq(v, "");
    kvc_st_metadata(f, 3, &k, &v);
    ck_assert_ptr_null(k);
    ck_assert_ptr_null(v);
    ck_assert_uint_eq(kvc_st_count(f), 2);
    const kvc_tensor_view *e = kvc_st_find(f, "\xc3\xa9\n");
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(*(const unsigned char *)e->data, 7);
    const kvc_tensor_view *g = kvc_st_find(f, "\xf0\x9f\x98\x80");
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(g->dtype, KVC_DT_BOOL);
    ck_assert_int_eq(((const unsigned char *)g->data)[1], 9);
    ck_assert_str_eq(kvc_st_path(f), kvc_st_path(f)); /* stable pointer */
    kvc_st_close(f);
    remove_dir(dir);
}
END_TEST

/* The format's dtype names and element sizes, written out from the
 * safetensors specification (not read from the code under test). */
static const struct {
    const char *name;
    kvc_dtype dt;
    size_t size;
} dtype_spec[] = {
    {"F8_E4M3", KVC_DT_F8_E4M3, 1}, {"F8_E8M0", KVC_DT_F8_E8M0, 1}, {"BF16", KVC_DT_BF16, 2},
    {"F16", KVC_DT_F16, 2},         {"F32", KVC_DT_F32, 4},         {"F64", KVC_DT_F64, 8},
    {"F8_E5M2", KVC_DT_F8_E5M2, 1}, {"BOOL", KVC_DT_BOOL, 1},       {"U8", KVC_DT_U8, 1},
    {"I8", KVC_DT_I8, 1},           {"I16", KVC_DT_I16, 2},         {"U16", KVC_DT_U16, 2},
    {"I32", KVC_DT_I32, 4},         {"U32", KVC_DT_U32, 4},         {"I64", KVC_DT_I64, 8},
    {"U64", KVC_DT_U64, 8},
};
#define N_DTYPES (sizeof dtype_spec / sizeof dtype_spec[0])

START_TEST(dtype_table)
{
    ck_assert_uint_eq(N_DTYPES, KVC_DT_COUNT);
    for (size_t i = 0; i < N_DTYPES; i++) {
        ck_assert_int_eq(dtype_spec[i].dt, (int)i); /* the table is indexed by dtype below */
        ck_assert_str_eq(kvc_dtype_name(dtype_spec[i].dt), dtype_spec[i].name);
        ck_assert_uint_eq(kvc_dtype_size(dtype_spec[i].dt), dtype_spec[i].size);
        ck_assert_int_eq(kvc_dtype_from_name(dtype_spec[i].name), (int)dtype_spec[i].dt);
    }
    ck_assert_ptr_null(kvc_dtype_name(KVC_DT_COUNT));
    ck_assert_ptr_null(kvc_dtype_name((kvc_dtype)-1));
    ck_assert_uint_eq(kvc_dtype_size(KVC_DT_COUNT), 0);
    ck_assert_int_eq(kvc_dtype_from_name("F8_E4M3FN"), -1);
    ck_assert_int_eq(kvc_dtype_from_name("bf16"), -1);
    ck_assert_int_eq(kvc_dtype_from_name(NULL), -1);
}
END_TEST

START_TEST(good_every_dtype)
{
    char dir[4096];
    kvc_test_tmpdir(dir, sizeof dir);
    char header[4096];
    unsigned char data[16 * 3 * 8];
    size_t n = (size_t)snprintf(header, sizeof header, "{"), off = 0;
    for (size_t i = 0; i < N_DTYPES; i++) {
        size_t bytes = 3 * dtype_spec[i].size;
        n += (size_t)snprintf(header + n, sizeof header - n,
                              "%s\"t%s\":{\"dtype\":\"%s\",\"shape\":[3],\"data_offsets\":[%zu,%zu]}",
                              i ? "," : "", dtype_spec[i].name, dtype_spec[i].name, off,
                              off + bytes);
        off += bytes;
    }
    snprintf(header + n, sizeof header - n, "}");
    for (size_t i = 0; i < off; i++)
        data[i] = (unsigned char)(i * 37 + 1);
    kvc_st_file *f = open_text(dir, header, data, off);
    ck_assert_uint_eq(kvc_st_count(f), N_DTYPES);
    size_t pos = 0;
    for (size_t i = 0; i < N_DTYPES; i++) {
        const kvc_tensor_view *v = kvc_st_tensor(f, i);
        char name[32];
        snprintf(name, sizeof name, "t%s", dtype_spec[i].name);
        ck_assert_str_eq(v->name, name);
        ck_assert_int_eq(v->dtype, dtype_spec[i].dt);
        ck_assert_uint_eq(v->numel, 3);
        ck_assert_uint_eq(v->nbytes, 3 * dtype_spec[i].size);
        ck_assert_uint_eq(v->file_offset, 8 + strlen(header) + pos);
        ck_assert_int_eq(memcmp(v->data, data + pos, v->nbytes), 0);
        ck_assert_ptr_eq(kvc_st_find(f, name), v);
        pos += v->nbytes;
    }
    kvc_st_close(f);
    remove_dir(dir);
}
END_TEST

/* A header of many tensors: the duplicate check and the lookups stay
 * n log n, and every name is found. */
START_TEST(many_tensors)
{
    enum { N = 20000 };
    char dir[4096];
    kvc_test_tmpdir(dir, sizeof dir);
    size_t cap = (size_t)N * 96, n = 0;
    char *h = malloc(cap);
    ck_assert_ptr_nonnull(h);
    n += (size_t)snprintf(h, cap, "{");
    for (int i = 0; i < N; i++)
        n += (size_t)snprintf(h + n, cap - n,
                              "%s\"w.%d\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[%d,%d]}",
                              i ? "," : "", (i * 7919) % N, i, i + 1);
    snprintf(h + n, cap - n, "}");
    unsigned char *data = calloc(N, 1);
    ck_assert_ptr_nonnull(data);
    kvc_st_file *f = open_text(dir, h, data, N);
    ck_assert_uint_eq(kvc_st_count(f), N);
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "w.%d", i);
        const kvc_tensor_view *v = kvc_st_find(f, name);
        ck_assert_ptr_nonnull(v);
        ck_assert_str_eq(v->name, name);
    }
    kvc_st_close(f);
    free(data);
    free(h);
    remove_dir(dir);
}
END_TEST

/* ------------------------------------------------------------ lookups */

START_TEST(require_checks)
{
    char dir[4096];
    kvc_test_tmpdir(dir, sizeof dir);
    unsigned char data[24] = {0};
    const char *h = "{" E("w", "F32", "[2,3]", "[0,24]") "}";
    kvc_st_file *f = open_text(dir, h, data, sizeof data);
    const int64_t good[2] = {2, 3}, bad[2] = {2, 4};
    const kvc_tensor_view *v = NULL;
    kvc_error err;
    ck_assert_int_eq(kvc_st_require(f, "w", KVC_DT_F32, 2, good, &v, &err), KVC_OK);
    ck_assert_ptr_eq(v, kvc_st_find(f, "w"));
    ck_assert_int_eq(kvc_st_require(f, "w", KVC_DT_F32, -1, NULL, &v, &err), KVC_OK);
    ck_assert_int_eq(kvc_st_require(f, "w", KVC_DT_F32, 2, good, NULL, NULL), KVC_OK);

    ck_assert_int_eq(kvc_st_require(f, "x", KVC_DT_F32, 2, good, &v, &err), KVC_TENSOR_MISSING);
    ck_assert_ptr_null(v);
    ck_assert_int_eq(err.status, KVC_TENSOR_MISSING);
    ck_assert_str_eq(err.tensor, "x");
    ck_assert_str_eq(err.file, kvc_st_path(f));

    ck_assert_int_eq(kvc_st_require(f, "w", KVC_DT_BF16, 2, good, &v, &err), KVC_TENSOR_DTYPE);
    ck_assert_str_eq(err.tensor, "w");
    ck_assert_str_eq(err.detail, "expected BF16, got F32");
    ck_assert_int_eq(err.offset, (int64_t)(8 + strlen(h)));

    ck_assert_int_eq(kvc_st_require(f, "w", KVC_DT_F32, 2, bad, &v, &err), KVC_TENSOR_SHAPE);
    ck_assert_str_eq(err.tensor, "w");
    ck_assert_str_eq(err.detail, "expected [2, 4], got [2, 3]");
    ck_assert_int_eq(kvc_st_require(f, "w", KVC_DT_F32, 1, good, &v, &err), KVC_TENSOR_SHAPE);
    ck_assert_str_eq(err.detail, "expected [2], got [2, 3]");
    ck_assert_int_eq(kvc_st_require(f, "w", KVC_DT_F32, 0, NULL, &v, &err), KVC_TENSOR_SHAPE);
    ck_assert_str_eq(err.detail, "expected [], got [2, 3]");
    ck_assert_ptr_null(v);
    ck_assert_ptr_null(kvc_st_find(f, NULL));
    kvc_st_close(f);
    kvc_st_close(NULL);
    remove_dir(dir);
}
END_TEST

/* ------------------------------------------------------------ writer */

/* The expected file, built by hand: header text (keys sorted, metadata
 * first and sorted, escapes for '"', '\\' and U+0001), 5 spaces of padding
 * to 328 = 0x148 bytes, then the data in name order. */
static const char golden_header[] =
    "{\"__metadata__\":{\"a\":\"1\",\"format\":\"kvcert\"},"
    "\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]},"
    "\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,6]},"
    "\"q\\\"\\\\\\u0001\":{\"dtype\":\"F16\",\"shape\":[1,1],\"data_offsets\":[6,8]},"
    "\"s\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[8,16]},"
    "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}}     ";
static const unsigned char golden_length[8] = {0x48, 0x01, 0, 0, 0, 0, 0, 0};
static const unsigned char golden_data[24] = {
    0x80, 0x3f, 0x00, 0xc0, 0x01, 0x00,             /* b: bf16 1, -2, 2^-133 */
    0x00, 0x3c,                                     /* q: f16 1 */
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* s: int64 -1 */
    0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc0, /* w: f32 1, -2.5 */
};
/* sha256 of the 360 bytes above, computed outside kvcert (Python hashlib
 * and coreutils sha256sum agree). */
static const char golden_sha256[] =
    "bd6f304e85a9541105479a9fd147f2d6187cdf157683c3eb035d23ba4cbe38b4";

static kvc_st_writer *golden_writer(void)
{
    static const uint16_t b[3] = {0x3f80, 0xc000, 0x0001};
    static const uint16_t q[1] = {0x3c00};
    static const int64_t s[1] = {-1};
    static const float w[2] = {1.0f, -2.5f};
    const int64_t shape3[1] = {3}, shape11[2] = {1, 1}, shape2[1] = {2}, shape0[1] = {0};
    kvc_st_writer *wr = kvc_st_writer_create();
    kvc_error err;
    ck_assert_ptr_nonnull(wr);
    /* added out of order on purpose; metadata "format" set twice */
    ck_assert_int_eq(kvc_st_writer_set_metadata(wr, "format", "old", &err), KVC_OK);
    ck_assert_int_eq(kvc_st_writer_add(wr, "w", KVC_DT_F32, 1, shape2, w, &err), KVC_OK);
    ck_assert_int_eq(kvc_st_writer_add(wr, "s", KVC_DT_I64, 0, NULL, s, &err), KVC_OK);
    ck_assert_int_eq(kvc_st_writer_add(wr, "b", KVC_DT_BF16, 1, shape3, b, &err), KVC_OK);
    ck_assert_int_eq(kvc_st_writer_add(wr, "q\"\\\x01", KVC_DT_F16, 2, shape11, q, &err), KVC_OK);
    ck_assert_int_eq(kvc_st_writer_add(wr, "a", KVC_DT_U8, 1, shape0, NULL, &err), KVC_OK);
    ck_assert_int_eq(kvc_st_writer_set_metadata(wr, "format", "kvcert", &err), KVC_OK);
    ck_assert_int_eq(kvc_st_writer_set_metadata(wr, "a", "1", &err), KVC_OK);
    return wr;
}

START_TEST(writer_golden_bytes)
{
    char dir[4096], path[4200];
    kvc_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/out.safetensors", dir);
    ck_assert_uint_eq(strlen(golden_header), 328);
    kvc_st_writer *wr = golden_writer();
    kvc_error err;
    ck_assert_int_eq(kvc_st_writer_write(wr, path, &err), KVC_OK);
    kvc_st_writer_destroy(wr);
    ck_assert_int_eq(dir_entries(dir), 1); /* no temporary left behind */

    size_t n = 0;
    unsigned char *got = read_all(path, &n);
    ck_assert_uint_eq(n, 8 + 328 + 24);
    ck_assert_int_eq(memcmp(got, golden_length, 8), 0);
    ck_assert_msg(memcmp(got + 8, golden_header, 328) == 0, "header: %.*s", 328,
                  (const char *)got + 8);
    ck_assert_int_eq(memcmp(got + 8 + 328, golden_data, 24), 0);

    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    ck_assert_int_eq(EVP_Digest(got, n, md, &mdlen, EVP_sha256(), NULL), 1);
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    ck_assert_str_eq(hex, golden_sha256);
    free(got);

    /* and the reader accepts it */
    kvc_st_file *f = NULL;
    ck_assert_int_eq(kvc_st_open(path, &f, &err), KVC_OK);
    ck_assert_uint_eq(kvc_st_count(f), 5);
    ck_assert_ptr_nonnull(kvc_st_find(f, "q\"\\\x01"));
    kvc_st_close(f);
    remove_dir(dir);
}
END_TEST

START_TEST(writer_round_trip)
{
    char dir[4096], path[4200];
    kvc_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/rt.safetensors", dir);
    uint64_t seed = 0x5EED0001u;
    enum { NT = 24 };
    unsigned char *bufs[NT];
    int64_t shapes[NT][KVC_ST_MAX_DIMS];
    int ndims[NT];
    kvc_dtype dts[NT];
    kvc_st_writer *wr = kvc_st_writer_create();
    kvc_error err;
    for (int i = 0; i < NT; i++) {
        char name[32];
        snprintf(name, sizeof name, "t%02d", (i * 7) % NT);
        dts[i] = (kvc_dtype)(i % KVC_DT_COUNT);
        ndims[i] = (int)(kvc_test_rand64(&seed) % 4);
        size_t numel = 1;
        for (int k = 0; k < ndims[i]; k++) {
            shapes[i][k] = (int64_t)(kvc_test_rand64(&seed) % 5); /* zeros included */
            numel *= (size_t)shapes[i][k];
        }
        size_t nbytes = numel * dtype_spec[dts[i]].size;
        bufs[i] = malloc(nbytes + 1);
        for (size_t b = 0; b < nbytes; b++)
            bufs[i][b] = (unsigned char)kvc_test_rand64(&seed);
        ck_assert_int_eq(kvc_st_writer_add(wr, name, dts[i], ndims[i], shapes[i], bufs[i], &err),
                         KVC_OK);
    }
    ck_assert_int_eq(kvc_st_writer_set_metadata(wr, "z", "last", &err), KVC_OK);
    ck_assert_int_eq(kvc_st_writer_set_metadata(wr, "k\xc3\xa9", "v\n", &err), KVC_OK);
    ck_assert_int_eq(kvc_st_writer_write(wr, path, &err), KVC_OK);
    kvc_st_writer_destroy(wr);

    kvc_st_file *f = NULL;
    char msg[2048];
    ck_assert_msg(kvc_st_open(path, &f, &err) == KVC_OK, "%s",
                  kvc_error_format(&err, msg, sizeof msg));
    ck_assert_uint_eq(kvc_st_header_size(f) % 8, 0);
    ck_assert_uint_eq(kvc_st_count(f), NT);
    for (int i = 0; i < NT; i++) {
        char name[32];
        snprintf(name, sizeof name, "t%02d", (i * 7) % NT);
        const kvc_tensor_view *v = NULL;
        ck_assert_int_eq(kvc_st_require(f, name, dts[i], ndims[i], shapes[i], &v, &err), KVC_OK);
        ck_assert_int_eq(memcmp(v->data, bufs[i], v->nbytes), 0);
        free(bufs[i]);
    }
    /* data laid out in name order */
    for (size_t i = 1; i < kvc_st_count(f); i++)
        ck_assert_int_lt(strcmp(kvc_st_tensor(f, i - 1)->name, kvc_st_tensor(f, i)->name), 0);
    const char *k, *v;
    ck_assert_uint_eq(kvc_st_metadata_count(f), 2);
    kvc_st_metadata(f, 0, &k, &v);
    ck_assert_str_eq(k, "k\xc3\xa9");
    ck_assert_str_eq(v, "v\n");
    kvc_st_metadata(f, 1, &k, &v);
    ck_assert_str_eq(k, "z");
    kvc_st_close(f);
    remove_dir(dir);
}
END_TEST

START_TEST(writer_empty)
{
    char dir[4096], path[4200];
    kvc_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/empty.safetensors", dir);
    kvc_st_writer *wr = kvc_st_writer_create();
    kvc_error err;
    ck_assert_int_eq(kvc_st_writer_write(wr, path, &err), KVC_OK);
    kvc_st_writer_destroy(wr);
    size_t n = 0;
    unsigned char *got = read_all(path, &n);
    ck_assert_uint_eq(n, 16);
    ck_assert_int_eq(memcmp(got, "\x08\0\0\0\0\0\0\0{}      ", 16), 0);
    free(got);
    remove_dir(dir);
}
END_TEST

START_TEST(writer_errors)
{
    char dir[4096], path[4200];
    kvc_test_tmpdir(dir, sizeof dir);
    kvc_st_writer *wr = kvc_st_writer_create();
    kvc_error err;
    const float x[4] = {0};
    const int64_t s1[1] = {1}, neg[1] = {-1}, big[3] = {1ll << 40, 1ll << 40, 1ll << 40};
    const int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    ck_assert_int_eq(kvc_st_writer_add(wr, "a", KVC_DT_F32, 1, s1, x, &err), KVC_OK);
    ck_assert_int_eq(kvc_st_writer_add(wr, "a", KVC_DT_F32, 1, s1, x, &err),
                     KVC_INVALID_ARGUMENT);
    ck_assert_str_eq(err.tensor, "a");
    ck_assert_int_eq(kvc_st_writer_add(wr, "__metadata__", KVC_DT_F32, 1, s1, x, &err),
                     KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(kvc_st_writer_add(wr, "bad\xff", KVC_DT_F32, 1, s1, x, &err),
                     KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(kvc_st_writer_add(wr, "n", KVC_DT_F32, 1, neg, x, &err),
                     KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(kvc_st_writer_add(wr, "n", KVC_DT_F32, 9, nine, x, &err),
                     KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(kvc_st_writer_add(wr, "n", KVC_DT_F32, 3, big, x, &err),
                     KVC_ST_SHAPE_OVERFLOW);
    ck_assert_int_eq(kvc_st_writer_add(wr, "n", KVC_DT_COUNT, 1, s1, x, &err),
                     KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(kvc_st_writer_add(wr, "n", KVC_DT_F32, 1, s1, NULL, &err),
                     KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(kvc_st_writer_set_metadata(wr, "k", "\xc0\xaf", &err),
                     KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(kvc_st_writer_set_metadata(wr, NULL, "v", &err), KVC_INVALID_ARGUMENT);
    /* a destination in a missing directory: a clean failure, nothing left */
    snprintf(path, sizeof path, "%s/no/such/dir/out.safetensors", dir);
    kvc_status st = kvc_st_writer_write(wr, path, &err);
    ck_assert_msg(st == KVC_OPEN || st == KVC_IO, "got %s", kvc_status_name(st));
    ck_assert_str_eq(err.file, path);
    ck_assert_int_eq(dir_entries(dir), 0);
    /* a destination that is a directory: rename fails, the temp is removed */
    snprintf(path, sizeof path, "%s/sub", dir);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    ck_assert_int_eq(kvc_st_writer_write(wr, path, &err), KVC_IO);
    ck_assert_int_eq(dir_entries(dir), 1);
    ck_assert_int_eq(dir_entries(path), 0);
    ck_assert_int_eq(rmdir(path), 0);
    kvc_st_writer_destroy(wr);
    kvc_st_writer_destroy(NULL);
    remove_dir(dir);
}
END_TEST

static Suite *safetensors_suite(void)
{
    Suite *s = suite_create("safetensors");
    TCase *utf8 = tcase_create("utf8");
    tcase_add_test(utf8, utf8_exhaustive);
    suite_add_tcase(s, utf8);
    TCase *bad = tcase_create("bad_input");
    tcase_add_loop_test(bad, bad_input, 0, (int)(sizeof bad_cases / sizeof bad_cases[0]));
    tcase_add_test(bad, not_a_file);
    suite_add_tcase(s, bad);
    TCase *good = tcase_create("good");
    tcase_add_test(good, good_empty);
    tcase_add_test(good, good_zero_size_and_scalar);
    tcase_add_test(good, good_metadata_and_names);
    tcase_add_test(good, dtype_table);
    tcase_add_test(good, good_every_dtype);
    tcase_add_test(good, many_tensors);
    tcase_add_test(good, require_checks);
    suite_add_tcase(s, good);
    TCase *wr = tcase_create("writer");
    tcase_add_test(wr, writer_golden_bytes);
    tcase_add_test(wr, writer_round_trip);
    tcase_add_test(wr, writer_empty);
    tcase_add_test(wr, writer_errors);
    suite_add_tcase(s, wr);
    return s;
}

int main(void)
{
    return kvc_test_run(safetensors_suite());
}
