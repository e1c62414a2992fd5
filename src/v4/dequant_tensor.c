/* kvcert: a named safetensors tensor as binary32 (SPEC.md section 3):
 * FP8 weights dequantized with their sibling scale, BF16/F16 widened,
 * F32 copied. The arithmetic is in v4/dequant.c. */
#include "v4/dequant.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static kvc_status fail_at(kvc_error *err, const kvc_st_file *f, const char *tensor)
{
    kvc_error_where(err, kvc_st_path(f), tensor, -1);
    return err != NULL ? err->status : KVC_INTERNAL;
}

static kvc_status dequant_fp8_view(const kvc_st_file *f, const kvc_tensor_view *v,
                                   float *out, kvc_error *err)
{
    if (v->ndim != 2) {
        kvc_error_set(err, KVC_TENSOR_SHAPE, "an F8_E4M3 weight must be 2-D, this one has %d dimensions",
                      v->ndim);
        return fail_at(err, f, v->name);
    }
    char sname[512];
    if (kvc_dequant_scale_name(v->name, sname, sizeof sname) == NULL) {
        kvc_error_set(err, KVC_LIMIT, "tensor name too long");
        return fail_at(err, f, v->name);
    }
    const kvc_tensor_view *s = kvc_st_find(f, sname);
    if (s == NULL) {
        kvc_error_set(err, KVC_TENSOR_MISSING, "F8_E4M3 weight %s has no scale tensor %s",
                      v->name, sname);
        return fail_at(err, f, sname);
    }
    if (s->dtype != KVC_DT_F8_E8M0) {
        const char *dn = kvc_dtype_name(s->dtype);
        kvc_error_set(err, KVC_TENSOR_DTYPE, "scale %s is %s, expected F8_E8M0", sname,
                      dn != NULL ? dn : "?");
        return fail_at(err, f, sname);
    }
    if (s->ndim != 2) {
        kvc_error_set(err, KVC_TENSOR_SHAPE, "scale %s must be 2-D, it has %d dimensions", sname,
                      s->ndim);
        return fail_at(err, f, sname);
    }
    kvc_status st = kvc_dequant_fp8_block((const uint8_t *)v->data, v->shape[0], v->shape[1],
                                          (const uint8_t *)s->data, s->shape[0], s->shape[1],
                                          out, err);
    if (st != KVC_OK)
        return fail_at(err, f, sname);
    return KVC_OK;
}

kvc_status kvc_dequant_tensor(const kvc_st_file *f, const char *name, float **out,
                              int64_t shape[2], kvc_error *err)
{
    if (out != NULL)
        *out = NULL;
    if (f == NULL || name == NULL || out == NULL || shape == NULL)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "NULL argument");
    const kvc_tensor_view *v = kvc_st_find(f, name);
    if (v == NULL) {
        kvc_error_set(err, KVC_TENSOR_MISSING, "no tensor named %s", name);
        return fail_at(err, f, name);
    }
    switch (v->dtype) {
    case KVC_DT_F8_E4M3:
    case KVC_DT_BF16:
    case KVC_DT_F16:
    case KVC_DT_F32:
        break;
    default: {
        const char *dn = kvc_dtype_name(v->dtype);
        kvc_error_set(err, KVC_TENSOR_DTYPE,
                      "dtype %s cannot be read as binary32 (F8_E4M3 with a scale, BF16, F16 "
                      "and F32 can)",
                      dn != NULL ? dn : "?");
        return fail_at(err, f, name);
    }
    }
    if (v->numel > SIZE_MAX / sizeof(float) - 1) {
        kvc_error_set(err, KVC_LIMIT, "%llu elements do not fit in memory",
                      (unsigned long long)v->numel);
        return fail_at(err, f, name);
    }
    size_t n = (size_t)v->numel;
    float *buf = malloc(n > 0 ? n * sizeof(float) : 1);
    if (buf == NULL) {
        kvc_error_set(err, KVC_NOMEM, "%zu bytes for the binary32 copy", n * sizeof(float));
        return fail_at(err, f, name);
    }
    kvc_status st = KVC_OK;
    switch (v->dtype) {
    case KVC_DT_F8_E4M3:
        st = dequant_fp8_view(f, v, buf, err);
        break;
    case KVC_DT_BF16:
        kvc_widen_bf16(v->data, n, buf);
        break;
    case KVC_DT_F16:
        kvc_widen_f16(v->data, n, buf);
        break;
    default:
        kvc_widen_f32(v->data, n, buf);
        break;
    }
    if (st != KVC_OK) {
        free(buf);
        return st;
    }
    if (v->ndim == 0) {
        shape[0] = 1;
        shape[1] = 1;
    } else {
        /* An empty tensor's leading dimensions may be anything: check. */
        int64_t lead = 1;
        for (int d = 0; d + 1 < v->ndim; d++) {
            if (v->shape[d] != 0 && lead > INT64_MAX / v->shape[d]) {
                free(buf);
                kvc_error_set(err, KVC_TENSOR_SHAPE, "leading dimensions overflow");
                return fail_at(err, f, name);
            }
            lead *= v->shape[d];
        }
        shape[0] = lead;
        shape[1] = v->shape[v->ndim - 1];
    }
    *out = buf;
    return KVC_OK;
}
