/* kvcert: the .kvcl container (format in kvcl.h). */
#include "codec/kvcl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/atomic.h"

static const uint8_t kvcl_magic[8] = {0x4B, 0x56, 0x43, 0x4C, 0x0D, 0x0A, 0x1A, 0x0A};

static void put_u32(uint8_t *b, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *b)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)b[i] << (8 * i);
    return v;
}

static uint64_t get_u64(const uint8_t *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

kvc_status kvc_kvcl_size(const kvc_kakeya_params *p, size_t n, size_t *size, kvc_error *err)
{
    size_t payload = 0;
    kvc_status st = kvc_kakeya_stream_size(p, n, &payload, err);
    if (st != KVC_OK)
        return st;
    if (payload > SIZE_MAX - KVC_KVCL_HEADER_BYTES)
        return kvc_error_set(err, KVC_LIMIT, "container of %zu vectors", n);
    *size = payload + KVC_KVCL_HEADER_BYTES;
    return KVC_OK;
}

kvc_status kvc_kvcl_encode(const kvc_kakeya_params *p, const float *x, size_t n, uint8_t *buf,
                           size_t size, kvc_error *err)
{
    size_t want = 0;
    kvc_status st = kvc_kvcl_size(p, n, &want, err);
    if (st != KVC_OK)
        return st;
    if (size != want)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "container buffer of %zu bytes, need %zu",
                             size, want);
    memset(buf, 0, KVC_KVCL_HEADER_BYTES);
    memcpy(buf, kvcl_magic, sizeof kvcl_magic);
    put_u32(buf + 8, KVC_KVCL_VERSION);
    buf[12] = (uint8_t)p->kind;
    put_u32(buf + 16, (uint32_t)p->q);
    put_u32(buf + 20, (uint32_t)p->dim);
    put_u64(buf + 24, (uint64_t)n);
    put_u32(buf + 32, (uint32_t)p->block_bits);
    put_u32(buf + 36, (uint32_t)p->vector_bits);
    put_u64(buf + 40, (uint64_t)(size - KVC_KVCL_HEADER_BYTES));
    return kvc_kakeya_encode(p, x, n, buf + KVC_KVCL_HEADER_BYTES, size - KVC_KVCL_HEADER_BYTES,
                             err);
}

/* KVC_BITSTREAM at a byte offset of the container. */
#define KVCL_BAD(offset, ...)                                                  \
    (kvc_error_set(err, KVC_BITSTREAM, __VA_ARGS__),                           \
     kvc_error_where(err, NULL, NULL, (int64_t)(offset)), KVC_BITSTREAM)

kvc_status kvc_kvcl_parse_header(const uint8_t *buf, size_t size, kvc_kakeya_params *p,
                                 uint64_t *n, kvc_error *err)
{
    if (size < KVC_KVCL_HEADER_BYTES)
        return KVCL_BAD(size, "truncated: %zu bytes, the header alone has 48", size);
    if (memcmp(buf, kvcl_magic, sizeof kvcl_magic) != 0)
        return KVCL_BAD(0, "not a .kvcl file (bad magic)");
    uint32_t version = get_u32(buf + 8);
    if (version != KVC_KVCL_VERSION)
        return KVCL_BAD(8, "unsupported version %u (this kvcert reads version 1)",
                        (unsigned)version);
    if (buf[12] > 1)
        return KVCL_BAD(12, "unknown codec %u", (unsigned)buf[12]);
    if (buf[13] != 0 || buf[14] != 0 || buf[15] != 0)
        return KVCL_BAD(13, "reserved bytes are not zero");
    uint32_t q = get_u32(buf + 16), d = get_u32(buf + 20);
    if (q < 1 || q > KVC_KAKEYA_BITSTREAM_Q_MAX)
        return KVCL_BAD(16, "Q = %u is outside the bitstream range 1..%d", (unsigned)q,
                        KVC_KAKEYA_BITSTREAM_Q_MAX);
    if (d > KVC_HADAMARD_MAX_DIM || kvc_hadamard_log2((int)d) < 0 ||
        (int)d < kvc_codec_block_dim((kvc_codec_kind)buf[12]))
        return KVCL_BAD(20, "D = %u is not a power of two the codec accepts", (unsigned)d);
    if (kvc_kakeya_params_init(p, (kvc_codec_kind)buf[12], (int)d, (int)q, err) != KVC_OK)
        return KVCL_BAD(12, "codec parameters rejected");
    if (get_u32(buf + 32) != (uint32_t)p->block_bits)
        return KVCL_BAD(32, "bits per block %u disagree with codec, Q and D (%d)",
                        (unsigned)get_u32(buf + 32), p->block_bits);
    if (get_u32(buf + 36) != (uint32_t)p->vector_bits)
        return KVCL_BAD(36, "bits per vector %u disagree with codec, Q and D (%lld)",
                        (unsigned)get_u32(buf + 36), (long long)p->vector_bits);
    uint64_t count = get_u64(buf + 24), payload = get_u64(buf + 40);
    uint64_t vb = (uint64_t)p->vector_bits;
    if (count > (UINT64_MAX - 7) / vb || (count * vb + 7) / 8 != payload)
        return KVCL_BAD(40, "payload of %llu bytes disagrees with N = %llu",
                        (unsigned long long)payload, (unsigned long long)count);
    if (payload > (uint64_t)(size - KVC_KVCL_HEADER_BYTES))
        return KVCL_BAD(size, "truncated: the header announces %llu payload bytes, %zu follow",
                        (unsigned long long)payload, size - KVC_KVCL_HEADER_BYTES);
    if (payload < (uint64_t)(size - KVC_KVCL_HEADER_BYTES))
        return KVCL_BAD(KVC_KVCL_HEADER_BYTES + payload,
                        "trailing bytes after the %llu payload bytes",
                        (unsigned long long)payload);
    *n = count;
    return KVC_OK;
}

kvc_status kvc_kvcl_decode(const uint8_t *buf, size_t size, kvc_kakeya_params *p, uint64_t *n,
                           float **out, kvc_error *err)
{
    *out = NULL;
    kvc_status st = kvc_kvcl_parse_header(buf, size, p, n, err);
    if (st != KVC_OK)
        return st;
    /* n * D * 4 is bounded: the payload (which fits in memory) holds at
     * least 4 bytes per vector and D <= 4096 */
    size_t count = (size_t)*n, d = (size_t)p->dim;
    float *x = malloc(count * d * sizeof *x + 1);
    if (x == NULL)
        return kvc_error_set(err, KVC_NOMEM, "%zu decoded vectors", count);
    st = kvc_kakeya_decode(p, buf + KVC_KVCL_HEADER_BYTES, size - KVC_KVCL_HEADER_BYTES, count,
                           x, err);
    if (st != KVC_OK) {
        if (err != NULL && err->offset >= 0)
            err->offset += KVC_KVCL_HEADER_BYTES;
        free(x);
        return st;
    }
    *out = x;
    return KVC_OK;
}

kvc_status kvc_kvcl_write_file(const char *path, const kvc_kakeya_params *p, const float *x,
                               size_t n, size_t *bytes_written, kvc_error *err)
{
    size_t size = 0;
    kvc_status st = kvc_kvcl_size(p, n, &size, err);
    if (st != KVC_OK)
        return st;
    uint8_t *buf = malloc(size);
    if (buf == NULL)
        return kvc_error_set(err, KVC_NOMEM, "container of %zu bytes", size);
    st = kvc_kvcl_encode(p, x, n, buf, size, err);
    if (st == KVC_OK)
        st = kvc_atomic_write_file(path, buf, size, err);
    free(buf);
    if (st == KVC_OK && bytes_written != NULL)
        *bytes_written = size;
    return st;
}

kvc_status kvc_kvcl_read_file(const char *path, kvc_kakeya_params *p, uint64_t *n, float **out,
                              kvc_error *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        kvc_status st = kvc_error_set(err, KVC_OPEN, "%s", strerror(errno));
        kvc_error_where(err, path, NULL, -1);
        return st;
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size < 0 ||
        (uint64_t)sb.st_size > (uint64_t)SIZE_MAX) {
        fclose(f);
        kvc_status st = kvc_error_set(err, KVC_IO, "not a readable regular file");
        kvc_error_where(err, path, NULL, -1);
        return st;
    }
    size_t size = (size_t)sb.st_size;
    uint8_t *buf = malloc(size ? size : 1);
    if (buf == NULL) {
        fclose(f);
        return kvc_error_set(err, KVC_NOMEM, "reading %zu bytes", size);
    }
    size_t got = fread(buf, 1, size, f);
    int rd_err = ferror(f);
    fclose(f);
    if (got != size || rd_err) {
        free(buf);
        kvc_status st = kvc_error_set(err, KVC_IO, "short read (%zu of %zu bytes)", got, size);
        kvc_error_where(err, path, NULL, (int64_t)got);
        return st;
    }
    kvc_status st = kvc_kvcl_decode(buf, size, p, n, out, err);
    free(buf);
    if (st != KVC_OK && err != NULL)
        kvc_error_where(err, path, NULL, -1);
    return st;
}
