/* kvcert: the shared format encoders against the GPU's own conversions,
 * for every binary32 input (2^32), on the GPU.
 *
 * DESIGN.md rule 5 has kvcert convert with integer operations
 * (core/formats.h) rather than hardware casts. This program shows where
 * the two agree, bit for bit, on the device itself:
 *   e4m3-satfinite  kvc_f32_to_e4m3(x, KVC_E4M3_SATFINITE)
 *                   vs  cvt.rn.satfinite.e4m3x2.f32 (inline PTX, sm_89+)
 *   bf16            kvc_f32_to_bf16(x)  vs  __float2bfloat16_rn(x)
 *   fp16            kvc_f32_to_fp16(x)  vs  __float2half_rn(x)
 * and, over every code, the decoders against the hardware widenings:
 *   bf16-decode     kvc_bf16_to_f32     vs  __bfloat162float (cvt.f32.bf16)
 *   fp16-decode     kvc_fp16_to_f32     vs  __half2float     (cvt.f32.f16)
 *   e4m3-decode     kvc_e4m3_to_f32     vs  cvt.rn.f16x2.e4m3x2, then __half2float
 *
 * Each result pair is one of: identical; "NaN only" (both are NaNs of
 * the format and differ only in sign or payload); or a real mismatch.
 * NaN-only differences are allowed: kvcert documents its NaN results
 * (formats.h: the sign and the top payload bits are kept, the quiet bit
 * forced on), while the hardware returns a canonical NaN; no certified
 * result ever contains a NaN, and both sides do produce a NaN. Any real
 * mismatch fails (exit 1) and is shown with the smallest such input and
 * a few examples. Exit 77: no device, or one older than sm_89 (no FP8
 * conversion instruction); 99: a CUDA error.
 *
 * Built by `make gpu-exhaustive` (a CUDA build): nvcc with the project's
 * flags, header-only, no libkvcert. E8M0 has no hardware conversion
 * before sm_100 (cvt.rp.satfinite.ue8m0x2.f32), so it is not compared
 * here; `make check-exhaustive` sweeps it on the CPU against an oracle.
 */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/formats.h"

enum cmp_id {
    CMP_E4M3_SATFINITE = 0,
    CMP_BF16 = 1,
    CMP_FP16 = 2,
    CMP_BF16_DECODE = 3,
    CMP_FP16_DECODE = 4,
    CMP_E4M3_DECODE = 5,
    N_CMP = 6
};

static const char *const cmp_name[N_CMP] = {"e4m3-satfinite", "bf16",        "fp16",
                                            "bf16-decode",    "fp16-decode", "e4m3-decode"};
static const char *const cmp_what[N_CMP] = {
    "kvc_f32_to_e4m3(x, KVC_E4M3_SATFINITE) vs cvt.rn.satfinite.e4m3x2.f32",
    "kvc_f32_to_bf16(x) vs __float2bfloat16_rn(x)",
    "kvc_f32_to_fp16(x) vs __float2half_rn(x)",
    "kvc_bf16_to_f32(h) vs __bfloat162float(h)",
    "kvc_fp16_to_f32(h) vs __half2float(h)",
    "kvc_e4m3_to_f32(b) vs cvt.rn.f16x2.e4m3x2 then __half2float"};
static const uint64_t cmp_domain[N_CMP] = {UINT64_C(1) << 32, UINT64_C(1) << 32,
                                           UINT64_C(1) << 32, 65536, 65536, 256};

#define N_EXAMPLES 8

typedef struct cmp_report {
    unsigned long long identical, nan_only, mismatch;
    unsigned long long first_mismatch; /* smallest input, or ~0 */
    unsigned long long first_nan_only;
    unsigned int n_examples;
    uint32_t ex_in[N_EXAMPLES], ex_kvc[N_EXAMPLES], ex_hw[N_EXAMPLES];
} cmp_report;

/* ------------------------------------------------------------ device */

__device__ uint32_t hw_e4m3_satfinite(float x)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
    unsigned short r;
    /* d = {cvt(a), cvt(b)}: x goes into both bytes, so which byte is read
     * cannot matter; if the two ever differed, 0x100 would show it */
    asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(r) : "f"(x), "f"(x));
    return (r >> 8) == (r & 0xFFu) ? (uint32_t)(r & 0xFFu) : 0x100u;
#else
    (void)x;
    __trap();
    return 0;
#endif
}

__device__ uint32_t hw_e4m3_decode(uint32_t b)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
    unsigned int r;
    /* the code in both bytes, so that both halves hold its conversion */
    unsigned short in = (unsigned short)((b & 0xFFu) * 0x101u);
    asm("cvt.rn.f16x2.e4m3x2 %0, %1;" : "=r"(r) : "h"(in));
    if ((r >> 16) != (r & 0xFFFFu))
        return 0xDEADBEEFu; /* cannot be a decoded E4M3 value: a mismatch */
    __half h = __ushort_as_half((unsigned short)(r & 0xFFFFu));
    return kvc_f32_bits(__half2float(h));
#else
    (void)b;
    __trap();
    return 0;
#endif
}

/* kvcert's result and the hardware's for one input of one comparison. */
__device__ void both(int which, uint32_t in, uint32_t *kvc, uint32_t *hw)
{
    float x = kvc_f32_from_bits(in);
    switch (which) {
    case CMP_E4M3_SATFINITE:
        *kvc = kvc_f32_to_e4m3(x, KVC_E4M3_SATFINITE);
        *hw = hw_e4m3_satfinite(x);
        break;
    case CMP_BF16:
        *kvc = kvc_f32_to_bf16(x);
        *hw = __bfloat16_as_ushort(__float2bfloat16_rn(x));
        break;
    case CMP_FP16:
        *kvc = kvc_f32_to_fp16(x);
        *hw = __half_as_ushort(__float2half_rn(x));
        break;
    case CMP_BF16_DECODE:
        *kvc = kvc_f32_bits(kvc_bf16_to_f32((uint16_t)in));
        *hw = kvc_f32_bits(__bfloat162float(__ushort_as_bfloat16((unsigned short)in)));
        break;
    case CMP_FP16_DECODE:
        *kvc = kvc_f32_bits(kvc_fp16_to_f32((uint16_t)in));
        *hw = kvc_f32_bits(__half2float(__ushort_as_half((unsigned short)in)));
        break;
    default:
        *kvc = kvc_f32_bits(kvc_e4m3_to_f32((uint8_t)in));
        *hw = hw_e4m3_decode(in);
        break;
    }
}

/* Is a result a NaN? Encoders give format codes, decoders binary32. */
__device__ bool is_nan(int which, uint32_t r)
{
    switch (which) {
    case CMP_E4M3_SATFINITE: return (r & 0x7Fu) == 0x7Fu;
    case CMP_BF16: return (r & 0x7FFFu) > 0x7F80u;
    case CMP_FP16: return (r & 0x7FFFu) > 0x7C00u;
    default: return (r & 0x7FFFFFFFu) > 0x7F800000u;
    }
}

__global__ void sweep(int which, unsigned long long domain, cmp_report *rep)
{
    /* per-thread tallies, published once: no contention in the loop */
    unsigned long long identical = 0, nan_only = 0, mismatch = 0;
    unsigned long long first_nan_only = ~0ull, first_mismatch = ~0ull;
    unsigned long long stride = (unsigned long long)gridDim.x * blockDim.x;
    for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
         i < domain; i += stride) {
        uint32_t in = (uint32_t)i, kvc, hw;
        both(which, in, &kvc, &hw);
        if (kvc == hw) {
            identical++;
        } else if (is_nan(which, kvc) && is_nan(which, hw)) {
            if (nan_only++ == 0)
                first_nan_only = i; /* i grows: the thread's smallest */
        } else if (mismatch++ == 0) {
            first_mismatch = i;
            unsigned int k = atomicAdd(&rep->n_examples, 1u);
            if (k < N_EXAMPLES) {
                rep->ex_in[k] = in;
                rep->ex_kvc[k] = kvc;
                rep->ex_hw[k] = hw;
            }
        }
    }
    atomicAdd(&rep->identical, identical);
    if (nan_only) {
        atomicAdd(&rep->nan_only, nan_only);
        atomicMin(&rep->first_nan_only, first_nan_only);
    }
    if (mismatch) {
        atomicAdd(&rep->mismatch, mismatch);
        atomicMin(&rep->first_mismatch, first_mismatch);
    }
}

__global__ void probe(int which, uint32_t in, uint32_t *out)
{
    both(which, in, &out[0], &out[1]);
}

/* -------------------------------------------------------------- host */

static int cuda_ok(cudaError_t rc, const char *what)
{
    if (rc == cudaSuccess)
        return 1;
    fprintf(stderr, "gpu_exhaustive_formats: %s: %s (%s)\n", what, cudaGetErrorString(rc),
            cudaGetErrorName(rc));
    return 0;
}

#define CUDA_TRY(call)                                                                     \
    do {                                                                                   \
        if (!cuda_ok((call), #call))                                                       \
            exit(99);                                                                      \
    } while (0)

static void show(int which, const char *label, uint32_t in, uint32_t kvc, uint32_t hw)
{
    if (which <= CMP_FP16)
        printf("  %s: input 0x%08x (%a): kvcert 0x%0*x, hardware 0x%0*x\n", label, in,
               (double)kvc_f32_from_bits(in), which == CMP_E4M3_SATFINITE ? 2 : 4, kvc,
               which == CMP_E4M3_SATFINITE ? 2 : 4, hw);
    else
        printf("  %s: code 0x%0*x: kvcert 0x%08x (%a), hardware 0x%08x (%a)\n", label,
               which == CMP_E4M3_DECODE ? 2 : 4, in, kvc, (double)kvc_f32_from_bits(kvc), hw,
               (double)kvc_f32_from_bits(hw));
}

static void probe_show(int which, const char *label, uint32_t in, uint32_t *d_out)
{
    uint32_t out[2];
    probe<<<1, 1>>>(which, in, d_out);
    CUDA_TRY(cudaGetLastError());
    CUDA_TRY(cudaDeviceSynchronize());
    CUDA_TRY(cudaMemcpy(out, d_out, sizeof out, cudaMemcpyDeviceToHost));
    show(which, label, in, out[0], out[1]);
}

int main(void)
{
    int count = 0;
    cudaError_t rc = cudaGetDeviceCount(&count);
    if (rc == cudaErrorNoDevice || rc == cudaErrorInsufficientDriver ||
        (rc == cudaSuccess && count == 0)) {
        printf("gpu_exhaustive_formats: SKIP: no CUDA device (%s)\n",
               rc == cudaSuccess ? "the driver reports none" : cudaGetErrorString(rc));
        return 77;
    }
    CUDA_TRY(rc);
    cudaDeviceProp prop;
    CUDA_TRY(cudaGetDeviceProperties(&prop, 0));
    printf("gpu_exhaustive_formats: device 0: %s (sm_%d%d, %d SMs)\n", prop.name, prop.major,
           prop.minor, prop.multiProcessorCount);
    if (prop.major * 10 + prop.minor < 89) {
        printf("gpu_exhaustive_formats: SKIP: the FP8 conversion instructions need sm_89 or "
               "newer\n");
        return 77;
    }
    printf("gpu_exhaustive_formats: kvcert's shared conversions (core/formats.h, compiled for "
           "this GPU) against the GPU's own conversion instructions, for every input: all "
           "2^32 binary32 patterns (encoders), all codes (decoders).\n");

    cmp_report *d_rep;
    uint32_t *d_out;
    CUDA_TRY(cudaMalloc((void **)&d_rep, sizeof(cmp_report)));
    CUDA_TRY(cudaMalloc((void **)&d_out, 2 * sizeof(uint32_t)));
    int real_failures = 0;
    for (int which = 0; which < N_CMP; which++) {
        cmp_report rep;
        memset(&rep, 0, sizeof rep);
        rep.first_mismatch = rep.first_nan_only = ~0ull;
        CUDA_TRY(cudaMemcpy(d_rep, &rep, sizeof rep, cudaMemcpyHostToDevice));
        cudaEvent_t t0, t1;
        CUDA_TRY(cudaEventCreate(&t0));
        CUDA_TRY(cudaEventCreate(&t1));
        unsigned long long domain = cmp_domain[which];
        unsigned blocks = domain > 65536 ? (unsigned)prop.multiProcessorCount * 16u : 256u;
        CUDA_TRY(cudaEventRecord(t0));
        sweep<<<blocks, 256>>>(which, domain, d_rep);
        CUDA_TRY(cudaGetLastError());
        CUDA_TRY(cudaEventRecord(t1));
        CUDA_TRY(cudaDeviceSynchronize());
        float ms = 0;
        CUDA_TRY(cudaEventElapsedTime(&ms, t0, t1));
        CUDA_TRY(cudaEventDestroy(t0));
        CUDA_TRY(cudaEventDestroy(t1));
        CUDA_TRY(cudaMemcpy(&rep, d_rep, sizeof rep, cudaMemcpyDeviceToHost));

        printf("%s: %llu of %llu identical\n", cmp_name[which], rep.identical, domain);
        printf("  (%s; %.1f ms) %llu differ only in NaN sign/payload (allowed: both are NaN), "
               "%llu differ otherwise\n",
               cmp_what[which], ms, rep.nan_only, rep.mismatch);
        if (rep.identical + rep.nan_only + rep.mismatch != domain) {
            printf("  FAIL: the counts cover %llu inputs, not %llu\n",
                   rep.identical + rep.nan_only + rep.mismatch, domain);
            real_failures++;
        }
        if (rep.nan_only > 0)
            probe_show(which, "first NaN-only difference", (uint32_t)rep.first_nan_only, d_out);
        if (rep.mismatch > 0) {
            real_failures++;
            probe_show(which, "FAIL: first mismatch", (uint32_t)rep.first_mismatch, d_out);
            unsigned n = rep.n_examples < N_EXAMPLES ? rep.n_examples : N_EXAMPLES;
            for (unsigned k = 0; k < n; k++) /* one per thread that saw one */
                show(which, "another mismatch", rep.ex_in[k], rep.ex_kvc[k], rep.ex_hw[k]);
        }
    }
    CUDA_TRY(cudaFree(d_rep));
    CUDA_TRY(cudaFree(d_out));
    printf("gpu_exhaustive_formats: %s\n",
           real_failures ? "FAIL: kvcert and the hardware disagree on non-NaN results"
                         : "PASS: identical to the hardware on every input (NaN sign/payload "
                           "aside)");
    return real_failures ? 1 : 0;
}
