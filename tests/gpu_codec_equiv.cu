/* kvcert: the shared codec code (the codec headers, KVC_HD) on the GPU against the
 * same code on the CPU, bit for bit (DESIGN.md rules 1 and 6).
 *
 * One GPU thread per 512-dim vector runs kvc_kakeya_quantize, dequantize,
 * pack_vector and unpack_vector + dequantize; the host runs the same
 * functions. Compared: roundtrip outputs, the packed stream, the decode.
 * Also the FP8 block simulations (SPEC 6.1-6.3 in bf16 and binary32), the
 * fp8_per64 and fp8_ds_mla baselines (outputs and bytes), and kvc_rne_f32
 * and the search's rne against the device rintf over all 2^32 inputs.
 *
 * Inputs: Gaussian vectors with outlier channels, heavy-tailed vectors,
 * all-equal / one-hot / zero / subnormal / huge vectors, vectors built so
 * that the roundtrip sees chosen targets at and beyond +-Q (tiny-norm
 * regime), for E8 and D4 at Q = 1, 10, 38, 64, 126. Vectors holding inf
 * or NaN are compared allowing NaN-only differences (the hardware returns
 * a canonical NaN where x86 keeps a payload); every other bit must match.
 * The pinned input of golden/codec_roundtrip_sha256.json is included and
 * its CPU and GPU outputs are also checked against the FNV-1a hash of the
 * pinned bytes.
 *
 * Build (standalone, header-only codec; the generator from stats/gaussian.c):
 *   nvcc $(NVCC_FLAGS) -o gpu_codec_equiv tests/gpu_codec_equiv.cu \
 *        src/codec/kakeya.c src/codec/bits.c src/stats/gaussian.c \
 *        src/stats/metrics.c src/core/error.c -lm
 * Exit 0 all equal, 1 a mismatch, 77 no device, 99 a CUDA error. */
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/fp8block.h"
#include "codec/kakeya.h"
#include "stats/audit.h"

#define CK(call)                                                                         \
    do {                                                                                 \
        cudaError_t e_ = (call);                                                         \
        if (e_ != cudaSuccess) {                                                         \
            fprintf(stderr, "gpu_codec_equiv: %s: %s\n", #call, cudaGetErrorString(e_)); \
            exit(99);                                                                    \
        }                                                                                \
    } while (0)

enum { D = 512 };

__global__ void k_codec(const kvc_kakeya_params p, const float *x, int n, float *rt,
                        uint8_t *stream, float *dec, int *bad)
{
    int v = blockIdx.x * blockDim.x + threadIdx.x;
    if (v >= n)
        return;
    float work[D];
    int32_t z2[D], z3[D];
    uint16_t nb, mb, nb2, mb2;
    kvc_kakeya_quantize(&p, x + (size_t)v * D, work, &nb, &mb, z2);
    kvc_kakeya_dequantize(&p, nb, mb, z2, rt + (size_t)v * D);
    uint64_t pos = (uint64_t)v * (uint64_t)p.vector_bits; /* whole bytes at D = 512 */
    kvc_kakeya_pack_vector(&p, stream, pos, nb, mb, z2);
    if (kvc_kakeya_unpack_vector(&p, stream, pos, &nb2, &mb2, z3) != 0) {
        bad[v] = 1;
        return;
    }
    kvc_kakeya_dequantize(&p, nb2, mb2, z3, dec + (size_t)v * D);
}

/* out: 7 x D floats per vector (6.1 bf16, 6.1 f32, 6.2 bf16, 6.2 f32, 6.3 f32,
 * per64, ds_mla) and 584 bytes (ds_mla record). */
__global__ void k_fp8(const float *x, int n, float *out, uint8_t *rec)
{
    int v = blockIdx.x * blockDim.x + threadIdx.x;
    if (v >= n)
        return;
    const float *xv = x + (size_t)v * D;
    float *o = out + (size_t)v * 7 * D;
    for (int b = 0; b < D; b += 64) {
        kvc_fp8_sim_uniform127(xv + b, o + b, 64, KVC_FP8_DT_BF16);
        kvc_fp8_sim_uniform127(xv + b, o + D + b, 64, KVC_FP8_DT_F32);
        kvc_fp8_sim_e4m3(xv + b, o + 2 * D + b, 64, KVC_FP8_DT_BF16);
        kvc_fp8_sim_e4m3(xv + b, o + 3 * D + b, 64, KVC_FP8_DT_F32);
        kvc_fp8_sim_e4m3_pow2(xv + b, o + 4 * D + b, 64, KVC_FP8_DT_F32);
    }
    kvc_fp8_per64_vec(xv, o + 5 * D);
    kvc_fp8_ds_mla_vec(xv, o + 6 * D);
    kvc_fp8_ds_mla_encode_vec(xv, rec + (size_t)v * KVC_FP8_DS_MLA_BYTES);
}

__global__ void k_rne(uint64_t base, unsigned long long *mism)
{
    uint64_t u = base + (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    float v = kvc_f32_from_bits((uint32_t)u);
    float r = kvc_rne_f32(v), want = rintf(v);
    int bad = (v == v) ? (kvc_f32_bits(r) != kvc_f32_bits(want)) : (r == r);
    if (fabsf(v) <= 2097152.0f && kvc__rne_lattice(v) != want)
        bad = 1;
    if (bad)
        atomicAdd(mism, 1ull); /* a count of failures, not a certified result */
}

static uint64_t fnv(const void *p, size_t n)
{
    const uint8_t *b = (const uint8_t *)p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t rng(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double unif(uint64_t *s)
{
    return (double)(rng(s) >> 11) * 0x1p-53;
}

/* Both NaN, or the same bits. */
static int same_or_nans(float a, float b, int allow_nan)
{
    if (kvc_f32_bits(a) == kvc_f32_bits(b))
        return 1;
    return allow_nan && a != a && b != b;
}

static int failures = 0;

static void report(const char *what, size_t at, float cpu, float gpu)
{
    if (failures++ < 20)
        fprintf(stderr, "MISMATCH %s at %zu: cpu %08x (%g) gpu %08x (%g)\n", what, at,
                kvc_f32_bits(cpu), (double)cpu, kvc_f32_bits(gpu), (double)gpu);
}

/* Builds the input set: n vectors; nonfinite[v] marks inf/NaN inputs. */
static size_t build_inputs(float *x, int *nonfinite, size_t cap, const kvc_kakeya_params *p)
{
    uint64_t st = 0x6A7ull + (uint64_t)p->q * 131 + (uint64_t)p->kind;
    size_t n = 0;
    /* the pinned input (n = 256) */
    kvc_stats_gaussian_fill(x, 256 * D, 2026);
    for (size_t i = 0; i < 256 * D; i++)
        if (i % 64 == 5)
            x[i] *= 6.0f;
    for (; n < 256; n++)
        nonfinite[n] = 0;
    while (n < cap) {
        float *xv = x + n * D;
        int kind = (int)(n % 8);
        nonfinite[n] = 0;
        double scale = exp(unif(&st) * 20.0 - 10.0);
        for (int i = 0; i < D; i++) {
            double u1 = unif(&st) + 1e-300, u2 = unif(&st);
            double g = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
            if (kind == 1)
                g = g / (fabs(sqrt(-2.0 * log(unif(&st) + 1e-300))) + 0.05); /* heavy tail */
            xv[i] = (float)(g * scale * ((i % 64 == 5) ? 20.0 : 1.0));
        }
        if (kind == 2) { /* tiny-norm targets at and beyond +-Q */
            float t[D];
            for (int i = 0; i < D; i++) {
                uint64_t r = rng(&st);
                float q = (float)p->q;
                float choices[6] = {q, -q, q + 0.5f, -(q + 0.25f), 0.5f * (float)(r % 7u),
                                    0.25f * (float)((int)(r % 9u) - 4)};
                t[i] = choices[(r >> 8) % 6u];
                if (fabsf(t[i]) > 1.2f * q)
                    t[i] = (t[i] > 0) ? q : -q;
            }
            t[D - 1] = 1.2f * (float)p->q;
            float s = 0x1p-23f * p->inv_q;
            for (int i = 0; i < D; i++)
                xv[i] = t[i] * s;
            kvc_hadamard_f32(xv, D, p->hscale);
            for (int i = 0; i < D; i++)
                xv[i] = xv[i] * 0x1p-23f;
        } else if (kind == 3) { /* all equal / one-hot */
            float a = (float)ldexp(1.0 + unif(&st), (int)(rng(&st) % 160u) - 80);
            int one = (int)(rng(&st) % 2u);
            for (int i = 0; i < D; i++)
                xv[i] = one ? 0.0f : a;
            if (one)
                xv[rng(&st) % D] = -a;
        } else if (kind == 4) { /* zero, subnormal, huge */
            static const float sp[] = {0.0f, -0.0f, 1e-45f, 1e-40f, 1e-20f, 1e20f, 1e30f, 3e38f};
            float a = sp[rng(&st) % 8u];
            for (int i = 0; i < D; i++)
                xv[i] = (i % 3 == 0) ? a : -a * 0.5f;
        } else if (kind == 5 && (n / 8) % 16 == 0) { /* non-finite */
            xv[rng(&st) % D] = (rng(&st) & 1) ? INFINITY : NAN;
            nonfinite[n] = 1;
        }
        n++;
    }
    return n;
}

int main(void)
{
    int ndev = 0;
    if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) {
        printf("gpu_codec_equiv: no CUDA device (skip)\n");
        return 77;
    }
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    printf("device: %s (sm_%d%d)\n", prop.name, prop.major, prop.minor);

    /* rne over all 2^32 patterns */
    unsigned long long *d_mism, mism = 0;
    CK(cudaMalloc(&d_mism, sizeof *d_mism));
    CK(cudaMemset(d_mism, 0, sizeof *d_mism));
    for (uint64_t base = 0; base < (1ull << 32); base += (1ull << 30))
        k_rne<<<(1u << 30) / 256, 256>>>(base, d_mism);
    CK(cudaGetLastError());
    CK(cudaMemcpy(&mism, d_mism, sizeof mism, cudaMemcpyDeviceToHost));
    printf("rne: %llu mismatches against rintf over 2^32 inputs\n", mism);
    if (mism != 0)
        failures++;

    const size_t cap = 20000;
    float *x = (float *)malloc(cap * D * sizeof(float));
    int *nonfinite = (int *)malloc(cap * sizeof(int));
    float *rt = (float *)malloc(cap * D * sizeof(float));
    float *dec = (float *)malloc(cap * D * sizeof(float));
    float *hrt = (float *)malloc(cap * D * sizeof(float));
    uint8_t *hs = (uint8_t *)calloc(cap * (D + 8), 1); /* E8 Q126: 516 bytes a vector */
    uint8_t *gs = (uint8_t *)malloc(cap * (D + 8));
    int *gbad = (int *)malloc(cap * sizeof(int));
    float *d_x, *d_rt, *d_dec;
    uint8_t *d_s;
    int *d_bad;
    CK(cudaMalloc(&d_x, cap * D * sizeof(float)));
    CK(cudaMalloc(&d_rt, cap * D * sizeof(float)));
    CK(cudaMalloc(&d_dec, cap * D * sizeof(float)));
    CK(cudaMalloc(&d_s, cap * (D + 8)));
    CK(cudaMalloc(&d_bad, cap * sizeof(int)));
    CK(cudaDeviceSetLimit(cudaLimitStackSize, 16384));

    static const int qs[] = {1, 10, 38, 64, 126};
    /* FNV-1a of the pinned roundtrip outputs (CPU build, this repository) */
    const uint64_t pin_e8_38 = 0x662a6ab56c8d1f17ull, pin_d4_38 = 0x2b35b8677e94da9eull;
    size_t vectors = 0;
    for (int kind = 0; kind < 2; kind++) {
        for (int qi = 0; qi < 5; qi++) {
            kvc_kakeya_params p;
            if (kvc_kakeya_params_init(&p, (kvc_codec_kind)kind, D, qs[qi], NULL) != KVC_OK)
                return 99;
            size_t n = build_inputs(x, nonfinite, cap, &p);
            size_t sbytes = n * (size_t)p.vector_bits / 8;
            /* CPU */
            float work[D];
            int32_t z2[D];
            memset(hs, 0, sbytes);
            for (size_t v = 0; v < n; v++) {
                uint16_t nb, mb;
                kvc_kakeya_quantize(&p, x + v * D, work, &nb, &mb, z2);
                kvc_kakeya_dequantize(&p, nb, mb, z2, hrt + v * D);
                kvc_kakeya_pack_vector(&p, hs, (uint64_t)v * (uint64_t)p.vector_bits, nb, mb, z2);
            }
            /* GPU */
            CK(cudaMemcpy(d_x, x, n * D * sizeof(float), cudaMemcpyHostToDevice));
            CK(cudaMemset(d_s, 0, sbytes));
            CK(cudaMemset(d_bad, 0, n * sizeof(int)));
            k_codec<<<(unsigned)((n + 63) / 64), 64>>>(p, d_x, (int)n, d_rt, d_s, d_dec, d_bad);
            CK(cudaGetLastError());
            CK(cudaDeviceSynchronize());
            CK(cudaMemcpy(rt, d_rt, n * D * sizeof(float), cudaMemcpyDeviceToHost));
            CK(cudaMemcpy(dec, d_dec, n * D * sizeof(float), cudaMemcpyDeviceToHost));
            CK(cudaMemcpy(gs, d_s, sbytes, cudaMemcpyDeviceToHost));
            CK(cudaMemcpy(gbad, d_bad, n * sizeof(int), cudaMemcpyDeviceToHost));
            int before = failures;
            for (size_t v = 0; v < n; v++) {
                if (gbad[v]) {
                    report("gpu unpack", v, 0, 0);
                    continue;
                }
                /* A finite vector whose norm passes fp16's 65504 has n^ = inf
                 * and x^ = inf * 0 = NaN where H(z s) is 0: a NaN made by
                 * arithmetic, whose bits are the hardware's (x86 0xFFC00000,
                 * NVIDIA 0x7FFFFFFF). Allow NaN-only differences there too. */
                int allow = nonfinite[v];
                for (size_t i = v * D; i < (v + 1) * D; i++)
                    if (hrt[i] != hrt[i])
                        allow = 1;
                for (size_t i = v * D; i < (v + 1) * D; i++) {
                    if (!same_or_nans(hrt[i], rt[i], allow))
                        report("roundtrip", i, hrt[i], rt[i]);
                    if (!same_or_nans(hrt[i], dec[i], allow))
                        report("decode", i, hrt[i], dec[i]);
                }
                size_t rb = (size_t)p.vector_bits / 8;
                /* the records of non-finite inputs hold NaN scalars whose
                 * payload may differ; compare the block indices there */
                size_t from = nonfinite[v] ? 4 : 0;
                if (memcmp(hs + v * rb + from, gs + v * rb + from, rb - from) != 0)
                    report("stream record", v, 0, 0);
            }
            uint64_t hp = fnv(hrt, 256 * D * sizeof(float)), gp = fnv(rt, 256 * D * sizeof(float));
            if (qs[qi] == 38 && hp != (kind ? pin_e8_38 : pin_d4_38)) {
                fprintf(stderr, "pin mismatch (%s Q38): %016llx\n", kind ? "e8" : "d4",
                        (unsigned long long)hp);
                failures++;
            }
            if (hp != gp)
                failures++;
            printf("%s Q%-3d %zu vectors: %s\n", kind ? "e8" : "d4", qs[qi], n,
                   failures == before ? "CPU == GPU (roundtrip, stream, decode)" : "MISMATCH");
            vectors += n;
        }
    }

    /* FP8 simulations and baselines */
    {
        kvc_kakeya_params p;
        kvc_kakeya_params_init(&p, KVC_CODEC_E8, D, 38, NULL);
        size_t n = build_inputs(x, nonfinite, 4096, &p);
        float *h7 = (float *)malloc(n * 7 * D * sizeof(float));
        float *g7 = (float *)malloc(n * 7 * D * sizeof(float));
        uint8_t *hr = (uint8_t *)malloc(n * KVC_FP8_DS_MLA_BYTES);
        uint8_t *gr = (uint8_t *)malloc(n * KVC_FP8_DS_MLA_BYTES);
        float *d7;
        uint8_t *dr;
        CK(cudaMalloc(&d7, n * 7 * D * sizeof(float)));
        CK(cudaMalloc(&dr, n * KVC_FP8_DS_MLA_BYTES));
        for (size_t v = 0; v < n; v++) {
            const float *xv = x + v * D;
            float *o = h7 + v * 7 * D;
            for (int b = 0; b < D; b += 64) {
                kvc_fp8_sim_uniform127(xv + b, o + b, 64, KVC_FP8_DT_BF16);
                kvc_fp8_sim_uniform127(xv + b, o + D + b, 64, KVC_FP8_DT_F32);
                kvc_fp8_sim_e4m3(xv + b, o + 2 * D + b, 64, KVC_FP8_DT_BF16);
                kvc_fp8_sim_e4m3(xv + b, o + 3 * D + b, 64, KVC_FP8_DT_F32);
                kvc_fp8_sim_e4m3_pow2(xv + b, o + 4 * D + b, 64, KVC_FP8_DT_F32);
            }
            kvc_fp8_per64_vec(xv, o + 5 * D);
            kvc_fp8_ds_mla_vec(xv, o + 6 * D);
            kvc_fp8_ds_mla_encode_vec(xv, hr + v * KVC_FP8_DS_MLA_BYTES);
        }
        CK(cudaMemcpy(d_x, x, n * D * sizeof(float), cudaMemcpyHostToDevice));
        k_fp8<<<(unsigned)((n + 63) / 64), 64>>>(d_x, (int)n, d7, dr);
        CK(cudaGetLastError());
        CK(cudaDeviceSynchronize());
        CK(cudaMemcpy(g7, d7, n * 7 * D * sizeof(float), cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(gr, dr, n * KVC_FP8_DS_MLA_BYTES, cudaMemcpyDeviceToHost));
        int before = failures;
        for (size_t v = 0; v < n; v++) {
            for (size_t i = v * 7 * D; i < (v + 1) * 7 * D; i++)
                if (!same_or_nans(h7[i], g7[i], nonfinite[v]))
                    report("fp8 sim", i, h7[i], g7[i]);
            if (!nonfinite[v] &&
                memcmp(hr + v * KVC_FP8_DS_MLA_BYTES, gr + v * KVC_FP8_DS_MLA_BYTES,
                       KVC_FP8_DS_MLA_BYTES) != 0)
                report("ds_mla bytes", v, 0, 0);
        }
        printf("fp8 sims (6.1/6.2 bf16+f32, 6.3, per64, ds_mla) %zu vectors: %s\n", n,
               failures == before ? "CPU == GPU" : "MISMATCH");
        vectors += n;
    }
    printf("%zu vectors compared; %s\n", vectors, failures ? "FAIL" : "all equal");
    return failures ? 1 : 0;
}
