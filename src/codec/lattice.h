/* kvcert: closest-point search in the D_n and E8 lattices (SPEC.md 7.2 step 4).
 *
 * Conway & Sloane (1982), exactly as the published PyTorch code ran it in
 * binary32:
 *
 *   D_n (n = 4 or 8):  f = rne(y) coordinate-wise (round half to even);
 *     if sum(f) is odd: k = the FIRST index of the largest |y_k - f_k|, and
 *     f_k moves one step toward y_k (+1 when y_k - f_k >= 0, else -1).
 *     y_k - f_k is exact in binary32 (x - rne(x) always is), so the search
 *     returns a nearest D_n point; equally near candidates are resolved by
 *     the first-index rule and the ">= 0 means +1" rule above.
 *
 *   E8 = D8 u (D8 + 1/2):  a = D8(y);  b = D8(fl(y - 0.5)) + 0.5;
 *     da = sum_i (y_i - a_i)^2, db = sum_i (y_i - b_i)^2, each computed in
 *     binary32: d = y_i - a_i (rounded), d*d (rounded, never fused), then
 *     added SEQUENTIALLY for i = 0..7 starting from +0.0f (PyTorch's
 *     ((y - a) ** 2).sum(-1) in fp32, with the order pinned down);
 *     take a when da <= db (ties go to the integer coset), else b.
 *     fl(y - 0.5) is the published code's rounded shift; the D8 search then
 *     works on that rounded value. Because da and db are rounded, a point
 *     whose exact distance exceeds the other coset's by less than the
 *     rounding error (~1e-6 relative) can be chosen; the tests bound this.
 *
 * Domain: finite inputs with |y_i| <= 2^20 (kakeya.h sanitizes before the
 * search; the roundtrip's reachable values are below 1.25 * Q). Outputs are
 * integers (D_n, integer coset) or half-integers (other coset) held exactly.
 */
#ifndef KVC_CODEC_LATTICE_H
#define KVC_CODEC_LATTICE_H

#include "core/hd.h"

/* Round half to even, for every binary32 value, without libm.
 * |v| >= 2^23 (and inf, NaN) is returned unchanged: already an integer (or
 * not a number). Otherwise t = (|v| + 2^23) - 2^23: in [2^23, 2^24) the
 * binary32 spacing is 1, so the addition rounds |v| to an integer with the
 * hardware's round-to-nearest-even, and the subtraction is exact (2^23 is
 * even, so "even" of the sum is "even" of the integer). The sign of v is
 * put back, so rne(-0.3f) = -0.0f, like rintf. Identical under nvcc with
 * --fmad=false (no fusing or reassociation is possible here). */
KVC_HD float kvc_rne_f32(float v)
{
    uint32_t u = kvc_f32_bits(v);
    uint32_t a = u & 0x7FFFFFFFu;
    if (a >= 0x4B000000u) /* |v| >= 2^23, inf, NaN */
        return v;
    float t = kvc_f32_from_bits(a);
    t = (t + 8388608.0f) - 8388608.0f;
    return kvc_f32_from_bits(kvc_f32_bits(t) | (u & 0x80000000u));
}

KVC_HD float kvc__absf(float v)
{
    return kvc_f32_from_bits(kvc_f32_bits(v) & 0x7FFFFFFFu);
}

/* rne(v) for |v| <= 2^21, the search's domain, in two operations:
 * v + 1.5 * 2^23 lies in [2^23, 2^24), where the binary32 spacing is 1, so
 * the addition rounds v to an integer, ties to even (1.5 * 2^23 is even);
 * the subtraction is exact. Equal to kvc_rne_f32(v) in value; a zero
 * result is always +0 (rintf would keep -0). The search never observes
 * the sign of a zero: it only subtracts, compares |y - f|, sums the f as
 * integers and outputs the integer 2z. */
KVC_HD float kvc__rne_lattice(float v)
{
    return (v + 12582912.0f) - 12582912.0f;
}

/* The search below is written for registers: on a GPU an array indexed
 * by a run-time value lives in local memory (the stack), so the search
 * never indexes by a data-dependent value and its loops have trip counts
 * the compiler knows (4 or 8) once inlined: the chosen index k is applied
 * by a select over every coordinate. KVC__LATTICE_INLINE forces the
 * inlining (nvcc's __forceinline__, GCC's always_inline) that turns the
 * pointer arguments into the caller's own registers; KVC__UNROLL asks
 * nvcc's device pass to unroll the constant-count loops, and tells GCC to
 * keep them rolled (unrolled, GCC 12 turned the selects of pass 1 into
 * branches that mispredict on random data; rolled, pass 2 vectorizes).
 * None of this changes an operation, its operands or their order. */
#if defined(__CUDACC__)
#define KVC__LATTICE_INLINE static __forceinline__ __host__ __device__
#elif defined(__GNUC__)
#define KVC__LATTICE_INLINE static inline __attribute__((always_inline))
#else
#define KVC__LATTICE_INLINE static inline
#endif
#if defined(__CUDA_ARCH__) /* nvcc's device pass */
#define KVC__UNROLL _Pragma("unroll")
#elif defined(__GNUC__) && !defined(__CUDACC__) /* GCC and Clang, C only */
#define KVC__UNROLL _Pragma("GCC unroll 1")
#else
#define KVC__UNROLL
#endif

/* c ? a : b as a move of bits (an integer select: a conditional move on
 * a CPU, a SEL on a GPU, never a branch; no arithmetic on a or b). */
KVC__LATTICE_INLINE float kvc__select_f32(int c, float a, float b)
{
    uint32_t m = 0u - (uint32_t)(c != 0); /* all ones when c */
    uint32_t ua = kvc_f32_bits(a), ub = kvc_f32_bits(b);
    return kvc_f32_from_bits((ua & m) | (ub & ~m));
}

/* The D_n search (n <= 8); the codec passes the constant n = 4 or 8
 * (see above). Pass 1, as before: f_i = rne(y_i), the integer sum, and
 * k = the first index of the largest |y_i - f_i| (strict >; maxss and a
 * conditional move on a CPU). Pass 2 applies the parity move without
 * indexing by k: for every i it forms the former expression for index k,
 * g_i = f_i + (odd ? (y_i - f_i >= 0 ? +1 : -1) : +0.0f) -- the same
 * operations on the same operands -- and keeps g_i only where i == k (a
 * select of bits); every other f_i is left as it was. Pass 2 is
 * straight-line vector code for GCC and a few selects per coordinate on a
 * GPU; the g_i for i != k are thrown away, so no result changes. */
KVC__LATTICE_INLINE void kvc__dn_closest_fixed(const float *y, float *f, int n)
{
    int sum = 0;
    int k = 0;
    float worst = -1.0f;
    KVC__UNROLL
    for (int i = 0; i < n; i++) {
        float fi = kvc__rne_lattice(y[i]);
        f[i] = fi;
        sum += (int)fi; /* |f| <= 2^21: exact */
        float ad = kvc__absf(y[i] - fi);
        int bigger = ad > worst; /* strict: the first index of the maximum */
        worst = bigger ? ad : worst;
        k = bigger ? i : k;
    }
    int odd = sum & 1;
    KVC__UNROLL
    for (int i = 0; i < n; i++) {
        float step = (y[i] - f[i] >= 0.0f) ? 1.0f : -1.0f;
        float g = f[i] + (odd ? step : 0.0f);
        f[i] = kvc__select_f32(i == k, g, f[i]);
    }
}

/* Nearest point of D_n (n <= 8) to y; f may not alias y. Written without
 * data-dependent branches or indices (selects), which changes no result.
 * n = 4 and n = 8 go through the constant-count search; any other n runs
 * the same body with a run-time bound. */
KVC_HD void kvc_lattice_dn_closest(const float *y, float *f, int n)
{
    if (n == 8)
        kvc__dn_closest_fixed(y, f, 8);
    else if (n == 4)
        kvc__dn_closest_fixed(y, f, 4);
    else
        kvc__dn_closest_fixed(y, f, n);
}

/* Squared distance in binary32, sequential from i = 0 (see above); called
 * with a constant n. */
KVC__LATTICE_INLINE float kvc__dist2_f32(const float *y, const float *p, int n)
{
    float s = 0.0f;
    KVC__UNROLL
    for (int i = 0; i < n; i++) {
        float d = y[i] - p[i];
        float d2 = d * d;
        s = s + d2;
    }
    return s;
}

/* Nearest point of E8 to y (8 coordinates); out may not alias y.
 * Returns 0 when the integer coset was taken, 1 for the half-integer one. */
KVC__LATTICE_INLINE int kvc__e8_closest_inl(const float *y, float *out)
{
    float a[8], b[8], ys[8];
    kvc__dn_closest_fixed(y, a, 8);
    KVC__UNROLL
    for (int i = 0; i < 8; i++)
        ys[i] = y[i] - 0.5f;
    kvc__dn_closest_fixed(ys, b, 8);
    KVC__UNROLL
    for (int i = 0; i < 8; i++)
        b[i] = b[i] + 0.5f;
    float da = kvc__dist2_f32(y, a, 8);
    float db = kvc__dist2_f32(y, b, 8);
    int half = !(da <= db);
    KVC__UNROLL
    for (int i = 0; i < 8; i++)
        out[i] = half ? b[i] : a[i];
    return half;
}

KVC_HD int kvc_lattice_e8_closest(const float *y, float *out)
{
    return kvc__e8_closest_inl(y, out);
}

#endif /* KVC_CODEC_LATTICE_H */
