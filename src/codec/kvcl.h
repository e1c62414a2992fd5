/* kvcert: the .kvcl container of a KakeyaLattice bitstream.
 *
 * A small self-describing file; every integer little-endian:
 *
 *   offset size  field
 *        0    8  magic "KVCL\r\n\x1a\n" (4B 56 43 4C 0D 0A 1A 0A)
 *        8    4  version = 1
 *       12    1  codec: 0 = d4, 1 = e8 (kvc_codec_kind)
 *       13    3  reserved, 0
 *       16    4  Q (1..KVC_KAKEYA_BITSTREAM_Q_MAX)
 *       20    4  D (a power of two, block..4096)
 *       24    8  N, the number of vectors
 *       32    4  bits per block index (must equal what codec, Q, D imply)
 *       36    4  bits per vector (32 + (D / block) * bits per block)
 *       40    8  payload bytes = ceil(N * bits per vector / 8)
 *       48       payload: the stream of codec/kakeya.h (per vector fp16 n^,
 *                fp16 m^, then the block indices, LSB-first; zero padding
 *                bits at the end)
 *
 * The file size is exactly 48 + payload bytes. The reader checks every
 * field (magic, version, codec, reserved bytes, Q, D, the two bit counts,
 * the payload size against N and against the file size) and then the
 * payload itself (impossible records, padding); any failure is
 * KVC_BITSTREAM with the byte offset of the offending field or record.
 */
#ifndef KVC_CODEC_KVCL_H
#define KVC_CODEC_KVCL_H

#include <stddef.h>
#include <stdint.h>

#include "codec/kakeya.h"
#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KVC_KVCL_HEADER_BYTES 48
#define KVC_KVCL_VERSION 1

/* Bytes of the container of n vectors (header + payload); KVC_LIMIT on
 * overflow. */
kvc_status kvc_kvcl_size(const kvc_kakeya_params *p, size_t n, size_t *size, kvc_error *err);

/* Encodes x[n][D] into buf[size] (size = kvc_kvcl_size). */
kvc_status kvc_kvcl_encode(const kvc_kakeya_params *p, const float *x, size_t n, uint8_t *buf,
                           size_t size, kvc_error *err);

/* Reads the header of buf[size] and checks it against the size: fills p
 * and n. */
kvc_status kvc_kvcl_parse_header(const uint8_t *buf, size_t size, kvc_kakeya_params *p,
                                 uint64_t *n, kvc_error *err);

/* Decodes a whole container: *out (malloc'd, caller frees) receives n x D
 * floats; p and n are filled. */
kvc_status kvc_kvcl_decode(const uint8_t *buf, size_t size, kvc_kakeya_params *p, uint64_t *n,
                           float **out, kvc_error *err);

/* Encodes and writes path atomically (temporary name, fsync, rename). */
kvc_status kvc_kvcl_write_file(const char *path, const kvc_kakeya_params *p, const float *x,
                               size_t n, size_t *bytes_written, kvc_error *err);

/* Reads and decodes path (error records name the file). */
kvc_status kvc_kvcl_read_file(const char *path, kvc_kakeya_params *p, uint64_t *n, float **out,
                              kvc_error *err);

#ifdef __cplusplus
}
#endif

#endif /* KVC_CODEC_KVCL_H */
