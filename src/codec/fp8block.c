/* kvcert: CPU loops of the FP8 baselines (per-vector code in fp8block.h). */
#include "codec/fp8block.h"

void kvc_fp8_per64(const float *x, size_t n, float *out)
{
    for (size_t v = 0; v < n; v++)
        kvc_fp8_per64_vec(x + v * KVC_FP8_DIM, out + v * KVC_FP8_DIM);
}

void kvc_fp8_ds_mla(const float *x, size_t n, float *out)
{
    for (size_t v = 0; v < n; v++)
        kvc_fp8_ds_mla_vec(x + v * KVC_FP8_DIM, out + v * KVC_FP8_DIM);
}

void kvc_fp8_ds_mla_encode(const float *x, size_t n, uint8_t *bytes)
{
    for (size_t v = 0; v < n; v++)
        kvc_fp8_ds_mla_encode_vec(x + v * KVC_FP8_DIM, bytes + v * KVC_FP8_DS_MLA_BYTES);
}

kvc_status kvc_fp8_ds_mla_decode(const uint8_t *bytes, size_t size, size_t n, float *out,
                                 kvc_error *err)
{
    if (n > SIZE_MAX / KVC_FP8_DS_MLA_BYTES || size != n * KVC_FP8_DS_MLA_BYTES) {
        kvc_status st = kvc_error_set(err, KVC_BITSTREAM,
                                      "%zu bytes for %zu fp8_ds_mla records of %d bytes", size,
                                      n, KVC_FP8_DS_MLA_BYTES);
        kvc_error_where(err, NULL, NULL, (int64_t)size);
        return st;
    }
    for (size_t v = 0; v < n; v++) {
        if (kvc_fp8_ds_mla_decode_vec(bytes + v * KVC_FP8_DS_MLA_BYTES,
                                      out + v * KVC_FP8_DIM) != 0) {
            kvc_status st = kvc_error_set(err, KVC_BITSTREAM, "record %zu: nonzero pad byte or NaN scale", v);
            kvc_error_where(err, NULL, NULL,
                            (int64_t)(v * KVC_FP8_DS_MLA_BYTES));
            return st;
        }
    }
    return KVC_OK;
}
