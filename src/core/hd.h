/* kvcert: the host/device marker of the shared scalar code.
 *
 * DESIGN.md rule 1: every per-element computation is written once, as a
 * static inline function in a header, and called by both the CPU loops
 * and the CUDA kernels. KVC_HD expands to __host__ __device__ under nvcc
 * and to nothing under the C compiler, so the same text compiles twice.
 *
 * Code under KVC_HD must be valid C11 and C++17 alike: no designated
 * initializers, no implicit void* conversions, memcpy for bit casts.
 */
#ifndef KVC_CORE_HD_H
#define KVC_CORE_HD_H

#include <stdint.h>
#include <string.h>

#if defined(__CUDACC__)
#define KVC_HD static inline __host__ __device__
#else
#define KVC_HD static inline
#endif

/* Bit casts. memcpy is the one form both C and CUDA C++ define. */
KVC_HD uint32_t kvc_f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

KVC_HD float kvc_f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

KVC_HD uint64_t kvc_f64_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

KVC_HD double kvc_f64_from_bits(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

#endif /* KVC_CORE_HD_H */
