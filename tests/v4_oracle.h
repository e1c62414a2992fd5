/* kvcert tests: binary64 oracles of the V4 write path's roundings.
 *
 * Written from SPEC.md, independently of src/core/formats.h and src/v4/:
 * bf16 and E4M3 round a binary64 value with frexp / rint / ldexp (round to
 * nearest, ties to even, in the default rounding mode). f32(v) emulates a
 * binary32 operation whose exact result is v when v is the binary64 result
 * of one +, -, *, / of binary32 operands (binary64 has more than 2p + 2
 * bits, so rounding twice gives the correctly rounded binary32 result).
 */
#ifndef KVC_TESTS_V4_ORACLE_H
#define KVC_TESTS_V4_ORACLE_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Round to p significant bits (normal range). */
static inline double o_round_sig(double v, int p)
{
    if (v == 0.0 || !isfinite(v))
        return v;
    int e;
    double m = frexp(v, &e);
    return ldexp(rint(ldexp(m, p)), e - p);
}

static inline double o_bf16(double v)
{
    return o_round_sig(v, 8);
}

static inline double o_f32(double v)
{
    return (double)(float)v;
}

/* E4M3: 4 significant bits from 2^-6 up, steps of 2^-9 below; callers
 * clamp to +-448 first. */
static inline double o_e4m3(double v)
{
    if (fabs(v) < 0x1p-6)
        return ldexp(rint(ldexp(v, 9)), -9);
    return o_round_sig(v, 4);
}

static inline double o_clamp448(double v)
{
    return fmin(fmax(v, -448.0), 448.0);
}

/* Decoders of the stored formats (from SPEC 2, not formats.h). */
static inline double o_from_bf16(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline double o_from_e4m3(uint8_t b)
{
    int s = b >> 7, e = (b >> 3) & 15, m = b & 7;
    double v = e == 0 ? ldexp(m, -9) : ldexp(8 + m, e - 10);
    return s ? -v : v;
}

/* 2^ceil(log2 t) for t > 0. */
static inline double o_pow2_ceil(double t)
{
    int e;
    double m = frexp(t, &e); /* t = m 2^e, m in [0.5, 1) */
    return m == 0.5 ? t : ldexp(1.0, e);
}

/* The SPEC 6 KV simulations of one block (dt = bf16), on binary64 copies
 * of bf16 values, following every rounding point SPEC 6 names. */
static inline void o_kvsim_block(double *x, int n, int kind)
{
    const double inv448 = (double)(1.0f / 448.0f);
    double amax = o_bf16(1e-4);
    for (int i = 0; i < n; i++)
        amax = fmax(amax, fabs(x[i]));
    if (kind == 2) { /* 6.3: power-of-two scale */
        double s = o_pow2_ceil(o_f32(amax * inv448));
        for (int i = 0; i < n; i++)
            x[i] = o_bf16(o_e4m3(o_clamp448(x[i] / s)) * s);
        return;
    }
    double scale = o_bf16(o_f32(amax * inv448));
    const double c = (double)(float)(448.0 / 127.0);
    const double inv_c = (double)(1.0f / (float)(448.0 / 127.0));
    for (int i = 0; i < n; i++) {
        double xs = o_clamp448(o_bf16(o_f32(x[i] / scale)));
        if (kind == 0) { /* 6.1 uniform-127 */
            double lv = rint(o_bf16(o_f32(xs * inv_c)));
            double q = o_bf16(o_f32(lv * c));
            x[i] = o_bf16(o_f32(q * scale));
        } else { /* 6.2 E4M3, continuous scale */
            x[i] = o_bf16(o_f32(o_e4m3(xs) * scale));
        }
    }
}

/* The v4 activation quantization of one block of binary32 values. */
static inline void o_act_quant_block(double *x, int n)
{
    double amax = (double)1e-4f;
    for (int i = 0; i < n; i++)
        amax = fmax(amax, fabs(x[i]));
    double s = o_pow2_ceil(o_f32(amax * (double)(1.0f / 448.0f)));
    for (int i = 0; i < n; i++)
        x[i] = o_e4m3(o_clamp448(x[i] / s)) * s;
}

#endif /* KVC_TESTS_V4_ORACLE_H */
