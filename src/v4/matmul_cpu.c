/* kvcert: the CPU matrix product y = x W^T (SPEC 5.1).
 *
 * The specified order: y[t,o] = fmaf(x[t,K-1], W[o,K-1], ... fmaf(x[t,1],
 * W[o,1], fmaf(x[t,0], W[o,0], +0.0f))), one rounding per step. The first
 * step is x0*w0 rounded once; the one case where starting from +0 shows is
 * an exactly -0 product, which gives +0 (the CUDA kernels start from +0
 * too, so the bits agree).
 *
 * How the kernels keep that order while running fast:
 *  - Vectorized across OUTPUT COLUMNS: a vector lane j holds y[t, o+j] and
 *    runs its own k-ascending fmaf chain; x[t,k] is broadcast. No lane ever
 *    adds partial sums of another, so no reassociation happens. The vector
 *    FMAs (_mm256_fmadd_ps, _mm512_fmadd_ps) are exactly fmaf per lane.
 *  - Register blocking: a kernel keeps an MR x NR tile of accumulators
 *    (AVX2 6 x 16, AVX-512 12 x 32, scalar 4 x 16) in registers.
 *  - Cache blocking over k in blocks of KC: the accumulator of each output
 *    is stored to y at the end of a block and loaded back as the starting
 *    value of the next block, so the chain continues unchanged (a stored
 *    binary32 is the accumulator exactly). Only the first block starts
 *    from +0. W is packed once (kvc_matrix) into [k block][panel of NR
 *    columns][kk][NR], zero-padded past n; x is packed per (rows, k) block
 *    into MR-row micro-panels, zero-padded past the last row. Padded lanes
 *    are computed and discarded.
 *  - Threads split the rows (or, for few rows, the column panels); every
 *    output is still computed by one chain, so the bits never depend on
 *    the thread count or the ISA.
 * Each ISA's kernel is a function compiled for that ISA with
 * __attribute__((target)) and chosen at run time (__builtin_cpu_supports).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "v4/cpu.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define KVC_X86_KERNELS 1
#else
#define KVC_X86_KERNELS 0
#endif

typedef void (*kern_fn)(int64_t kc, const float *a, const float *b, float *c, int64_t ldc,
                        int first);

typedef struct isa_params {
    kvc_cpu_isa isa;
    int mr, nr;     /* register tile */
    int64_t kc, mc; /* cache blocks: k per block, rows per packed block */
    kern_fn kern;
} isa_params;

#define MR_MAX 12
#define NR_MAX 32

/* ------------------------------------------------------------ kernels */

/* Portable: the same tile walk with scalar fmaf. */
static void kern_scalar(int64_t kc, const float *a, const float *b, float *c, int64_t ldc,
                        int first)
{
    float acc[4][16];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 16; j++)
            acc[i][j] = first ? 0.0f : c[i * ldc + j];
    for (int64_t k = 0; k < kc; k++) {
        for (int i = 0; i < 4; i++) {
            const float av = a[i];
            for (int j = 0; j < 16; j++)
                acc[i][j] = fmaf(av, b[j], acc[i][j]);
        }
        a += 4;
        b += 16;
    }
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 16; j++)
            c[i * ldc + j] = acc[i][j];
}

#if KVC_X86_KERNELS

/* AVX2 + FMA: 6 rows x 2 vectors of 8 columns = 12 accumulators. */
#define A2_LOAD(i)                                                             \
    __m256 c##i##a = first ? _mm256_setzero_ps() : _mm256_loadu_ps(c + (i) * ldc); \
    __m256 c##i##b = first ? _mm256_setzero_ps() : _mm256_loadu_ps(c + (i) * ldc + 8)
#define A2_STEP(i)                                                             \
    do {                                                                       \
        const __m256 av = _mm256_broadcast_ss(a + (i));                        \
        c##i##a = _mm256_fmadd_ps(av, b0, c##i##a);                            \
        c##i##b = _mm256_fmadd_ps(av, b1, c##i##b);                            \
    } while (0)
#define A2_STORE(i)                                                            \
    do {                                                                       \
        _mm256_storeu_ps(c + (i) * ldc, c##i##a);                              \
        _mm256_storeu_ps(c + (i) * ldc + 8, c##i##b);                          \
    } while (0)

__attribute__((target("avx2,fma"))) static void kern_avx2(int64_t kc, const float *a,
                                                          const float *b, float *c,
                                                          int64_t ldc, int first)
{
    A2_LOAD(0);
    A2_LOAD(1);
    A2_LOAD(2);
    A2_LOAD(3);
    A2_LOAD(4);
    A2_LOAD(5);
#pragma GCC unroll 4
    for (int64_t k = 0; k < kc; k++) {
        const __m256 b0 = _mm256_load_ps(b);
        const __m256 b1 = _mm256_load_ps(b + 8);
        A2_STEP(0);
        A2_STEP(1);
        A2_STEP(2);
        A2_STEP(3);
        A2_STEP(4);
        A2_STEP(5);
        a += 6;
        b += 16;
    }
    A2_STORE(0);
    A2_STORE(1);
    A2_STORE(2);
    A2_STORE(3);
    A2_STORE(4);
    A2_STORE(5);
}

/* AVX-512F: 12 rows x 2 vectors of 16 columns = 24 accumulators. */
#define A5_LOAD(i)                                                             \
    __m512 c##i##a = first ? _mm512_setzero_ps() : _mm512_loadu_ps(c + (i) * ldc); \
    __m512 c##i##b = first ? _mm512_setzero_ps() : _mm512_loadu_ps(c + (i) * ldc + 16)
#define A5_STEP(i)                                                             \
    do {                                                                       \
        const __m512 av = _mm512_set1_ps(a[i]);                                \
        c##i##a = _mm512_fmadd_ps(av, b0, c##i##a);                            \
        c##i##b = _mm512_fmadd_ps(av, b1, c##i##b);                            \
    } while (0)
#define A5_STORE(i)                                                            \
    do {                                                                       \
        _mm512_storeu_ps(c + (i) * ldc, c##i##a);                              \
        _mm512_storeu_ps(c + (i) * ldc + 16, c##i##b);                         \
    } while (0)

__attribute__((target("avx512f"))) static void kern_avx512(int64_t kc, const float *a,
                                                          const float *b, float *c,
                                                          int64_t ldc, int first)
{
    A5_LOAD(0);
    A5_LOAD(1);
    A5_LOAD(2);
    A5_LOAD(3);
    A5_LOAD(4);
    A5_LOAD(5);
    A5_LOAD(6);
    A5_LOAD(7);
    A5_LOAD(8);
    A5_LOAD(9);
    A5_LOAD(10);
    A5_LOAD(11);
#pragma GCC unroll 2
    for (int64_t k = 0; k < kc; k++) {
        const __m512 b0 = _mm512_load_ps(b);
        const __m512 b1 = _mm512_load_ps(b + 16);
        A5_STEP(0);
        A5_STEP(1);
        A5_STEP(2);
        A5_STEP(3);
        A5_STEP(4);
        A5_STEP(5);
        A5_STEP(6);
        A5_STEP(7);
        A5_STEP(8);
        A5_STEP(9);
        A5_STEP(10);
        A5_STEP(11);
        a += 12;
        b += 32;
    }
    A5_STORE(0);
    A5_STORE(1);
    A5_STORE(2);
    A5_STORE(3);
    A5_STORE(4);
    A5_STORE(5);
    A5_STORE(6);
    A5_STORE(7);
    A5_STORE(8);
    A5_STORE(9);
    A5_STORE(10);
    A5_STORE(11);
}

#endif /* KVC_X86_KERNELS */

/* KC keeps one B micro-panel (KC x NR) in L1 beside an A micro-panel;
 * MC keeps the packed A block (MC x KC) in L2. */
static const isa_params scalar_params = {KVC_CPU_ISA_SCALAR, 4, 16, 256, 64, kern_scalar};
#if KVC_X86_KERNELS
static const isa_params avx2_params = {KVC_CPU_ISA_AVX2, 6, 16, 256, 96, kern_avx2};
static const isa_params avx512_params = {KVC_CPU_ISA_AVX512, 12, 32, 128, 96, kern_avx512};
#endif

static const isa_params *params_for(kvc_cpu_isa isa)
{
    switch (isa) {
#if KVC_X86_KERNELS
    case KVC_CPU_ISA_AVX2:
        return &avx2_params;
    case KVC_CPU_ISA_AVX512:
        return &avx512_params;
#endif
    case KVC_CPU_ISA_SCALAR:
        return &scalar_params;
    default:
        return NULL;
    }
}

/* ------------------------------------------------------------ ISA choice */

int kvc_cpu_isa_supported(kvc_cpu_isa isa)
{
    switch (isa) {
    case KVC_CPU_ISA_AUTO:
    case KVC_CPU_ISA_SCALAR:
        return 1;
#if KVC_X86_KERNELS
    case KVC_CPU_ISA_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case KVC_CPU_ISA_AVX512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f");
#endif
    default:
        return 0;
    }
}

const char *kvc_cpu_isa_name(kvc_cpu_isa isa)
{
    switch (isa) {
    case KVC_CPU_ISA_AUTO:
        return "auto";
    case KVC_CPU_ISA_SCALAR:
        return "scalar";
    case KVC_CPU_ISA_AVX2:
        return "avx2";
    case KVC_CPU_ISA_AVX512:
        return "avx512";
    default:
        return "unknown";
    }
}

kvc_cpu_isa kvc__cpu_isa_resolve(kvc_cpu_isa isa)
{
    if (isa != KVC_CPU_ISA_AUTO)
        return isa;
    const char *env = getenv("KVC_CPU_ISA");
    if (env != NULL) {
        for (int i = KVC_CPU_ISA_SCALAR; i <= KVC_CPU_ISA_AVX512; i++)
            if (strcmp(env, kvc_cpu_isa_name((kvc_cpu_isa)i)) == 0 &&
                kvc_cpu_isa_supported((kvc_cpu_isa)i))
                return (kvc_cpu_isa)i;
    }
    if (kvc_cpu_isa_supported(KVC_CPU_ISA_AVX512))
        return KVC_CPU_ISA_AVX512;
    if (kvc_cpu_isa_supported(KVC_CPU_ISA_AVX2))
        return KVC_CPU_ISA_AVX2;
    return KVC_CPU_ISA_SCALAR;
}

/* ------------------------------------------------------------ packed W */

typedef struct packed_w {
    const isa_params *p;
    int64_t npanels; /* ceil(n / nr) */
    float *data;     /* [k block][panel][kk][nr] */
} packed_w;

static int64_t ceil_div(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

/* Offset of (k block starting at pc, panel q): every block before the
 * last is full (kc deep), so blocks start at pc * npanels * nr. */
static const float *panel_at(const packed_w *pw, int64_t pc, int64_t kcb, int64_t q)
{
    return pw->data + pc * pw->npanels * pw->p->nr + q * kcb * pw->p->nr;
}

typedef struct pack_job {
    const float *w;
    int64_t n, k;
    packed_w *pw;
} pack_job;

static void pack_part(void *argp, int part, int nparts)
{
    const pack_job *j = (const pack_job *)argp;
    const packed_w *pw = j->pw;
    const int nr = pw->p->nr;
    int64_t q0 = pw->npanels * part / nparts, q1 = pw->npanels * (part + 1) / nparts;
    for (int64_t pc = 0; pc < j->k; pc += pw->p->kc) {
        int64_t kcb = j->k - pc < pw->p->kc ? j->k - pc : pw->p->kc;
        for (int64_t q = q0; q < q1; q++) {
            float *dst = (float *)panel_at(pw, pc, kcb, q);
            for (int c = 0; c < nr; c++) {
                int64_t o = q * nr + c;
                if (o < j->n) {
                    const float *src = j->w + o * j->k + pc;
                    for (int64_t kk = 0; kk < kcb; kk++)
                        dst[kk * nr + c] = src[kk];
                } else {
                    for (int64_t kk = 0; kk < kcb; kk++)
                        dst[kk * nr + c] = 0.0f;
                }
            }
        }
    }
}

static const char matrix_tag[] = "cpu";

kvc_status kvc__cpu_matrix_create(kvc_cpu_isa isa, const float *w, int64_t n, int64_t k,
                                  kvc_matrix **out, kvc_error *err)
{
    *out = NULL;
    isa = kvc__cpu_isa_resolve(isa);
    const isa_params *p = params_for(isa);
    if (p == NULL || !kvc_cpu_isa_supported(isa))
        return kvc_error_set(err, KVC_UNSUPPORTED, "CPU ISA %s not available",
                             kvc_cpu_isa_name(isa));
    if (w == NULL || n < 1 || k < 1 || n > (INT64_C(1) << 31) || k > (INT64_C(1) << 31))
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "matrix shape [%lld, %lld]",
                             (long long)n, (long long)k);
    kvc_matrix *m = (kvc_matrix *)calloc(1, sizeof *m);
    packed_w *pw = (packed_w *)calloc(1, sizeof *pw);
    if (m == NULL || pw == NULL) {
        free(m);
        free(pw);
        return kvc_error_set(err, KVC_NOMEM, "matrix [%lld, %lld]", (long long)n,
                             (long long)k);
    }
    pw->p = p;
    pw->npanels = ceil_div(n, p->nr);
    size_t bytes = (size_t)(pw->npanels * p->nr) * (size_t)k * sizeof(float);
    bytes = (bytes + 63) / 64 * 64;
    pw->data = (float *)aligned_alloc(64, bytes);
    if (pw->data == NULL) {
        free(m);
        free(pw);
        return kvc_error_set(err, KVC_NOMEM, "matrix [%lld, %lld]", (long long)n,
                             (long long)k);
    }
    pack_job job = {w, n, k, pw};
    int parts = kvc__cpu_default_threads();
    if (parts > pw->npanels)
        parts = (int)pw->npanels;
    kvc__parallel_run(parts, pack_part, &job);
    m->n = n;
    m->k = k;
    m->tag = matrix_tag;
    m->impl = pw;
    *out = m;
    return KVC_OK;
}

void kvc__cpu_matrix_destroy(kvc_matrix *m)
{
    if (m == NULL)
        return;
    packed_w *pw = (packed_w *)m->impl;
    if (pw != NULL)
        free(pw->data);
    free(pw);
    free(m);
}

/* ------------------------------------------------------------ the product */

typedef struct mm_job {
    const float *x;
    int64_t rows, n, k;
    const packed_w *pw;
    float *y;
    float *abuf;   /* nparts packed-A blocks of mc * kc floats */
    int split_rows; /* 1: parts split row tiles; 0: parts split panels */
} mm_job;

/* Copies rows [r0, r0+mc) x cols [pc, pc+kcb) of x into MR-row micro-panels
 * (k-major inside each), zero rows past the end. */
static void pack_a(const mm_job *j, int64_t r0, int64_t mc, int64_t pc, int64_t kcb,
                   float *ap)
{
    const int mr = j->pw->p->mr;
    for (int64_t t = 0; t < mc; t += mr) {
        float *dst = ap + t * kcb;
        for (int i = 0; i < mr; i++) {
            int64_t r = r0 + t + i;
            if (t + i < mc) {
                const float *src = j->x + r * j->k + pc;
                for (int64_t kk = 0; kk < kcb; kk++)
                    dst[kk * mr + i] = src[kk];
            } else {
                for (int64_t kk = 0; kk < kcb; kk++)
                    dst[kk * mr + i] = 0.0f;
            }
        }
    }
}

/* One register tile; ragged tiles run on a scratch tile of full size. */
static void run_tile(const isa_params *p, int64_t kcb, const float *ap, const float *bp,
                     float *c, int64_t ldc, int first, int rows, int cols)
{
    if (rows == p->mr && cols == p->nr) {
        p->kern(kcb, ap, bp, c, ldc, first);
        return;
    }
    _Alignas(64) float tile[MR_MAX * NR_MAX];
    if (!first)
        for (int i = 0; i < rows; i++)
            memcpy(tile + i * p->nr, c + i * ldc, (size_t)cols * sizeof(float));
    p->kern(kcb, ap, bp, tile, p->nr, first);
    for (int i = 0; i < rows; i++)
        memcpy(c + i * ldc, tile + i * p->nr, (size_t)cols * sizeof(float));
}

static void mm_part(void *argp, int part, int nparts)
{
    const mm_job *j = (const mm_job *)argp;
    const packed_w *pw = j->pw;
    const isa_params *p = pw->p;
    int64_t rtiles = ceil_div(j->rows, p->mr);
    int64_t r0 = 0, r1 = j->rows, q0 = 0, q1 = pw->npanels;
    if (j->split_rows) {
        r0 = rtiles * part / nparts * p->mr;
        r1 = rtiles * (part + 1) / nparts * p->mr;
        if (r1 > j->rows)
            r1 = j->rows;
    } else {
        q0 = pw->npanels * part / nparts;
        q1 = pw->npanels * (part + 1) / nparts;
    }
    if (r0 >= r1 || q0 >= q1)
        return;
    float *ap = j->abuf + (size_t)part * (size_t)(p->mc * p->kc);
    for (int64_t pc = 0; pc < j->k; pc += p->kc) {
        int64_t kcb = j->k - pc < p->kc ? j->k - pc : p->kc;
        int first = pc == 0;
        for (int64_t ic = r0; ic < r1; ic += p->mc) {
            int64_t mc = r1 - ic < p->mc ? r1 - ic : p->mc;
            pack_a(j, ic, mc, pc, kcb, ap);
            for (int64_t q = q0; q < q1; q++) {
                const float *bp = panel_at(pw, pc, kcb, q);
                int64_t col = q * p->nr;
                int cols = (int)(j->n - col < p->nr ? j->n - col : p->nr);
                for (int64_t t = 0; t < mc; t += p->mr) {
                    int rows = (int)(mc - t < p->mr ? mc - t : p->mr);
                    run_tile(p, kcb, ap + t * kcb, bp, j->y + (ic + t) * j->n + col, j->n,
                             first, rows, cols);
                }
            }
        }
    }
}

kvc_status kvc__cpu_matmul(int threads, const float *x, int64_t rows, const kvc_matrix *m,
                           float *y, kvc_error *err)
{
    if (m == NULL || m->tag != matrix_tag || m->impl == NULL)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "matrix not prepared by the CPU backend");
    if (rows < 0 || (rows > 0 && (x == NULL || y == NULL)))
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "matmul with %lld rows",
                             (long long)rows);
    if (rows == 0)
        return KVC_OK;
    const packed_w *pw = (const packed_w *)m->impl;
    const isa_params *p = pw->p;
    int64_t rtiles = ceil_div(rows, p->mr);
    int nparts = threads < 1 ? 1 : threads;
    /* below about a million FMAs a thread costs more than it saves */
    if ((double)rows * (double)m->n * (double)m->k < 1e6)
        nparts = 1;
    int split_rows = 1;
    if (rtiles < nparts) {
        if (pw->npanels > rtiles) {
            split_rows = 0;
            if (pw->npanels < nparts)
                nparts = (int)pw->npanels;
        } else {
            nparts = (int)rtiles;
        }
    }
    size_t per = (size_t)(p->mc * p->kc);
    float *abuf = (float *)aligned_alloc(64, (size_t)nparts * per * sizeof(float));
    if (abuf == NULL)
        return kvc_error_set(err, KVC_NOMEM, "matmul scratch");
    mm_job job = {x, rows, m->n, m->k, pw, y, abuf, split_rows};
    kvc__parallel_run(nparts, mm_part, &job);
    free(abuf);
    return KVC_OK;
}
