/* Tests of the CUDA backend (kernels/cuda_backend.h): every operation on
 * the GPU gives the CPU backend's bytes, bit for bit, on seeded inputs
 * (random and adversarial), with guard bytes around every host output and
 * guard zones around every device buffer; argument errors match the CPU's;
 * the whole V4 write path matches for the three profiles.
 *
 * The reference is the CPU backend, itself tested against binary64
 * oracles (check_matmul, check_v4ops, check_pipeline); the determinism
 * contract (DESIGN.md) makes any difference a failure, so there is no
 * tolerance. One expectation is derived by hand: a chain whose every
 * product is a negative number too small for binary32 ends at -0.
 *
 * Without a CUDA device, or in a build without CUDA, the program exits
 * 77 (skip) and says why. CUDA does not survive fork(): Check runs in
 * no-fork mode. KVC_TEST_SEED=N changes the inputs (the seed is printed).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/backend.h"
#include "core/formats.h"
#include "kernels/cuda_backend.h"
#include "testutil.h"
#include "v4/dequant.h"
#include "v4/pipeline.h"
#include "v4/profile.h"
#include "v4/rope.h"
#include "v4/synth.h"

static kvc_backend *g_gpu;
static const kvc_backend *g_cpu;
static uint64_t g_seed = 20261126;

#define GUARD 64
#define GUARD_BYTE 0x5A

/* ------------------------------------------------------------ helpers */

/* A buffer of bytes with GUARD guard bytes on each side. */
static void *galloc(size_t bytes)
{
    unsigned char *b = malloc(bytes + 2 * GUARD);
    ck_assert_ptr_nonnull(b);
    memset(b, GUARD_BYTE, bytes + 2 * GUARD);
    return b + GUARD;
}

static void gcheck(const void *p, size_t bytes, const char *what)
{
    const unsigned char *b = (const unsigned char *)p - GUARD;
    for (size_t i = 0; i < GUARD; i++) {
        ck_assert_msg(b[i] == GUARD_BYTE, "%s: guard byte before the output changed", what);
        ck_assert_msg(b[GUARD + bytes + i] == GUARD_BYTE, "%s: guard byte after the output changed",
                      what);
    }
}

static void gfree(void *p)
{
    if (p != NULL)
        free((unsigned char *)p - GUARD);
}

/* Bit-for-bit equality; on failure the first differing element in hex
 * and as a value. */
static void same_bits(const void *cpu, const void *gpu, int64_t n, int elem, const char *what)
{
    if (memcmp(cpu, gpu, (size_t)n * (size_t)elem) == 0)
        return;
    for (int64_t i = 0; i < n; i++) {
        uint32_t a = 0, b = 0;
        memcpy(&a, (const char *)cpu + i * elem, (size_t)elem);
        memcpy(&b, (const char *)gpu + i * elem, (size_t)elem);
        if (a != b) {
            float fa, fb;
            if (elem == 2) {
                fa = kvc_bf16_to_f32((uint16_t)a);
                fb = kvc_bf16_to_f32((uint16_t)b);
            } else {
                memcpy(&fa, &a, 4);
                memcpy(&fb, &b, 4);
            }
            ck_abort_msg("%s (seed %llu): element %lld differs: cpu 0x%0*x (%.9g) gpu 0x%0*x "
                         "(%.9g)",
                         what, (unsigned long long)g_seed, (long long)i, 2 * elem, a, (double)fa,
                         2 * elem, b, (double)fb);
        }
    }
}

static float bits_f(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* sign * [1, 2) * 2^e, e in [emin, emax] */
static float rnd(uint64_t *s, int emin, int emax)
{
    uint64_t r = kvc_test_rand64(s);
    int e = emin + (int)((r >> 32) % (uint64_t)(emax - emin + 1));
    return bits_f((uint32_t)((r >> 63) << 31) | ((uint32_t)(e + 127) << 23) |
                  (uint32_t)(r & 0x7FFFFF));
}

/* +-0, subnormals, tiny normals, huge (below 2^(emax+1)), bf16 ties */
static float adv(uint64_t *s, int emax)
{
    uint64_t r = kvc_test_rand64(s);
    uint32_t sign = (uint32_t)(r >> 63) << 31, m = (uint32_t)(r & 0x7FFFFF);
    switch ((r >> 40) % 8) {
    case 0:
        return bits_f(sign);
    case 1:
        return bits_f(sign | (m | 1u));
    case 2:
        return bits_f(sign | (1u << 23) | m);
    case 3:
        return bits_f(sign | ((uint32_t)(emax + 127) << 23) | m);
    case 4:
        return bits_f(sign | (127u << 23) | (m & 0x7F0000u) | 0x8000u);
    default:
        return rnd(s, -8, 8);
    }
}

static float *farray(int64_t n, uint64_t *s, int advers, int emax)
{
    float *a = malloc((size_t)(n > 0 ? n : 1) * sizeof *a);
    ck_assert_ptr_nonnull(a);
    for (int64_t i = 0; i < n; i++)
        a[i] = advers ? adv(s, emax) : rnd(s, -6, 6);
    return a;
}

static uint16_t *bf16array(int64_t n, uint64_t *s, int advers)
{
    uint16_t *a = malloc((size_t)(n > 0 ? n : 1) * sizeof *a);
    ck_assert_ptr_nonnull(a);
    for (int64_t i = 0; i < n; i++)
        a[i] = kvc_f32_to_bf16(advers ? adv(s, 126) : rnd(s, -8, 8));
    return a;
}

static uint64_t seed_for(int test, int i)
{
    return g_seed * 1000003u + (uint64_t)test * 1009u + (uint64_t)i;
}

/* ------------------------------------------------------------ matmul */

typedef struct mm_shape {
    int64_t m, k, n;
} mm_shape;

/* single elements, K below / not a multiple of / across the k tile (8),
 * K % 4 != 0 (scalar loads), rows and columns past the 64/128 tiles */
static const mm_shape mm_shapes[] = {
    {1, 1, 1},    {3, 5, 7},     {127, 129, 131}, {64, 256, 128}, {129, 4096, 65},
    {257, 7, 129}, {300, 64, 520}, {1, 4096, 512},  {2, 9, 1},      {513, 100, 3},
};
#define N_MM ((int)(sizeof mm_shapes / sizeof mm_shapes[0]))

START_TEST(matmul_matches_cpu)
{
    const mm_shape *s = &mm_shapes[_i / 2];
    int advers = _i % 2;
    uint64_t st = seed_for(1, _i);
    float *x = farray(s->m * s->k, &st, advers, 62);
    float *w = farray(s->n * s->k, &st, advers, 62);
    float *yc = galloc((size_t)(s->m * s->n) * 4), *yg = galloc((size_t)(s->m * s->n) * 4);
    kvc_error err;
    ck_assert_int_eq(kvc_backend_matmul_once(g_cpu, x, s->m, w, s->n, s->k, yc, &err), KVC_OK);
    ck_assert_msg(kvc_backend_matmul_once(g_gpu, x, s->m, w, s->n, s->k, yg, &err) == KVC_OK,
                  "gpu matmul: %s", err.detail);
    gcheck(yg, (size_t)(s->m * s->n) * 4, "gpu matmul");
    char what[96];
    snprintf(what, sizeof what, "matmul %lldx%lldx%lld %s", (long long)s->m, (long long)s->k,
             (long long)s->n, advers ? "adversarial" : "random");
    same_bits(yc, yg, s->m * s->n, 4, what);
    free(x);
    free(w);
    gfree(yc);
    gfree(yg);
}
END_TEST

/* Every product -(2^-80 * 2^-80) rounds to -0, so the chain is -0 from
 * its first step (fmaf(-a, b, +0) = -0) and stays -0 (-0 + -0 = -0).
 * A kernel that ran extra fmaf(0, 0, acc) steps on a padded k tile would
 * end at +0 (-0 + +0 = +0). K = 1..17 covers ragged tiles. */
/* Every tiling (they differ in block shape, k tile and outputs per
 * thread, so in where the ragged edges fall) gives the CPU's bits. */
START_TEST(every_tiling_matches_cpu)
{
    const mm_shape *s = &mm_shapes[_i];
    uint64_t st = seed_for(9, _i);
    float *x = farray(s->m * s->k, &st, _i % 2, 62);
    float *w = farray(s->n * s->k, &st, _i % 2, 62);
    size_t yb = (size_t)(s->m * s->n) * 4;
    float *yc = galloc(yb), *yg = galloc(yb);
    kvc_error err;
    ck_assert_int_eq(kvc_backend_matmul_once(g_cpu, x, s->m, w, s->n, s->k, yc, &err), KVC_OK);
    for (int t = 1; t < KVC_CUDA_TILE_COUNT; t++) {
        ck_assert_int_eq(kvc_backend_cuda_set_tile(g_gpu, (kvc_cuda_tile)t, &err), KVC_OK);
        memset(yg, 0xFF, yb);
        kvc_status ms = kvc_backend_matmul_once(g_gpu, x, s->m, w, s->n, s->k, yg, &err);
        ck_assert_int_eq(kvc_backend_cuda_set_tile(g_gpu, KVC_CUDA_TILE_AUTO, &err), KVC_OK);
        ck_assert_msg(ms == KVC_OK, "tiling %s: %s", kvc_cuda_tile_name((kvc_cuda_tile)t),
                      err.detail);
        gcheck(yg, yb, "gpu matmul");
        char what[128];
        snprintf(what, sizeof what, "matmul %lldx%lldx%lld, tiling %s", (long long)s->m,
                 (long long)s->k, (long long)s->n, kvc_cuda_tile_name((kvc_cuda_tile)t));
        same_bits(yc, yg, s->m * s->n, 4, what);
    }
    ck_assert_int_eq(kvc_backend_cuda_set_tile(g_gpu, KVC_CUDA_TILE_COUNT, &err),
                     KVC_INVALID_ARGUMENT);
    free(x);
    free(w);
    gfree(yc);
    gfree(yg);
}
END_TEST

/* matmul_group: five products of one x in one launch, columns that end
 * inside and on tile edges, every tiling; each y equals the CPU's matmul.
 * _i odd: x and the outputs in backend memory with guard zones on. */
START_TEST(matmul_group_matches_cpu)
{
    enum { G = 5 };
    static const int64_t ns[G] = {1, 65, 128, 300, 7};
    const int64_t m = 257, k = _i < 2 ? 100 : 4096;
    const int mem = _i % 2;
    uint64_t st = seed_for(10, _i);
    float *x = farray(m * k, &st, _i % 2, 62);
    kvc_matrix *wc[G], *wg[G];
    float *yc[G], *yg[G], *dy[G];
    kvc_error err;
    for (int p = 0; p < G; p++) {
        float *w = farray(ns[p] * k, &st, _i % 2, 62);
        ck_assert_int_eq(g_cpu->matrix_create(g_cpu, w, ns[p], k, &wc[p], &err), KVC_OK);
        ck_assert_int_eq(g_gpu->matrix_create(g_gpu, w, ns[p], k, &wg[p], &err), KVC_OK);
        free(w);
        yc[p] = galloc((size_t)(m * ns[p]) * 4);
        yg[p] = galloc((size_t)(m * ns[p]) * 4);
        ck_assert_int_eq(g_cpu->matmul(g_cpu, x, m, wc[p], yc[p], &err), KVC_OK);
        dy[p] = yg[p];
        if (mem)
            ck_assert_int_eq(g_gpu->mem_alloc(g_gpu, (size_t)(m * ns[p]) * 4, (void **)&dy[p],
                                              &err),
                             KVC_OK);
    }
    const float *dx = x;
    if (mem) {
        float *b = NULL;
        ck_assert_int_eq(g_gpu->mem_alloc(g_gpu, (size_t)(m * k) * 4, (void **)&b, &err), KVC_OK);
        ck_assert_int_eq(g_gpu->mem_upload(g_gpu, b, x, (size_t)(m * k) * 4, &err), KVC_OK);
        ck_assert_int_eq(kvc_backend_cuda_set_guard(g_gpu, 1, &err), KVC_OK);
        dx = b;
    }
    for (int t = 0; t < KVC_CUDA_TILE_COUNT; t++) {
        ck_assert_int_eq(kvc_backend_cuda_set_tile(g_gpu, (kvc_cuda_tile)t, &err), KVC_OK);
        kvc_status gs = g_gpu->matmul_group(g_gpu, dx, m, G, (const kvc_matrix *const *)wg, dy,
                                            &err);
        ck_assert_msg(gs == KVC_OK, "tiling %s: %s", kvc_cuda_tile_name((kvc_cuda_tile)t),
                      err.detail);
        for (int p = 0; p < G; p++) {
            size_t yb = (size_t)(m * ns[p]) * 4;
            if (mem)
                ck_assert_int_eq(g_gpu->mem_download(g_gpu, yg[p], dy[p], yb, &err), KVC_OK);
            gcheck(yg[p], yb, "matmul_group");
            char what[128];
            snprintf(what, sizeof what, "matmul_group %lldx%lld, product %d (N %lld), %s%s",
                     (long long)m, (long long)k, p, (long long)ns[p],
                     kvc_cuda_tile_name((kvc_cuda_tile)t), mem ? ", backend memory" : "");
            same_bits(yc[p], yg[p], m * ns[p], 4, what);
        }
    }
    ck_assert_int_eq(kvc_backend_cuda_set_tile(g_gpu, KVC_CUDA_TILE_AUTO, &err), KVC_OK);
    ck_assert_int_eq(kvc_backend_cuda_set_guard(g_gpu, 0, &err), KVC_OK);
    /* a matrix of another k is refused */
    if (_i == 0) {
        const kvc_matrix *bad[2] = {wg[0], wg[1]};
        float *y2[2] = {yg[0], yg[1]};
        kvc_matrix other = *wg[1];
        other.k = k + 1;
        bad[1] = &other;
        ck_assert_int_eq(g_gpu->matmul_group(g_gpu, x, m, 2, bad, y2, &err),
                         KVC_INVALID_ARGUMENT);
    }
    for (int p = 0; p < G; p++) {
        g_cpu->matrix_destroy(g_cpu, wc[p]);
        g_gpu->matrix_destroy(g_gpu, wg[p]);
        if (mem)
            g_gpu->mem_free(g_gpu, dy[p]);
        gfree(yc[p]);
        gfree(yg[p]);
    }
    if (mem)
        g_gpu->mem_free(g_gpu, (void *)dx);
    free(x);
}
END_TEST

START_TEST(matmul_keeps_negative_zero)
{
    const int64_t k = _i + 1, m = 3, n = 5;
    float *x = malloc(sizeof(float) * (size_t)(m * k));
    float *w = malloc(sizeof(float) * (size_t)(n * k));
    for (int64_t i = 0; i < m * k; i++)
        x[i] = -ldexpf(1.0f, -80);
    for (int64_t i = 0; i < n * k; i++)
        w[i] = ldexpf(1.0f, -80);
    float y[15];
    kvc_error err;
    for (int t = 0; t < KVC_CUDA_TILE_COUNT; t++) {
        ck_assert_int_eq(kvc_backend_cuda_set_tile(g_gpu, (kvc_cuda_tile)t, &err), KVC_OK);
        ck_assert_int_eq(kvc_backend_matmul_once(g_gpu, x, m, w, n, k, y, &err), KVC_OK);
        for (int i = 0; i < 15; i++) {
            uint32_t u;
            memcpy(&u, &y[i], 4);
            ck_assert_msg(u == 0x80000000u,
                          "K = %lld, tiling %s: y[%d] = 0x%08x, expected -0 (0x80000000)",
                          (long long)k, kvc_cuda_tile_name((kvc_cuda_tile)t), i, u);
        }
    }
    ck_assert_int_eq(kvc_backend_cuda_set_tile(g_gpu, KVC_CUDA_TILE_AUTO, &err), KVC_OK);
    ck_assert_int_eq(kvc_backend_matmul_once(g_cpu, x, m, w, n, k, y, &err), KVC_OK);
    for (int i = 0; i < 15; i++) { /* the CPU reference, against the same hand derivation */
        uint32_t u;
        memcpy(&u, &y[i], 4);
        ck_assert_msg(u == 0x80000000u, "cpu, K = %lld: y[%d] = 0x%08x", (long long)k, i, u);
    }
    free(x);
    free(w);
}
END_TEST

START_TEST(matmul_rejects_foreign_matrix)
{
    float w[4] = {1, 2, 3, 4}, x[2] = {1, 1}, y[2];
    kvc_matrix *m = NULL;
    kvc_error err;
    ck_assert_int_eq(g_cpu->matrix_create(g_cpu, w, 2, 2, &m, &err), KVC_OK);
    ck_assert_int_eq(g_gpu->matmul(g_gpu, x, 1, m, y, &err), KVC_INVALID_ARGUMENT);
    g_cpu->matrix_destroy(g_cpu, m);
    ck_assert_int_eq(g_gpu->matrix_create(g_gpu, w, 2, 2, &m, &err), KVC_OK);
    ck_assert_int_eq(g_cpu->matmul(g_cpu, x, 1, m, y, &err), KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(g_gpu->matmul(g_gpu, x, -1, m, y, &err), KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(g_gpu->matmul(g_gpu, x, 0, m, y, &err), KVC_OK);
    g_gpu->matrix_destroy(g_gpu, m);
    ck_assert_int_eq(g_gpu->matrix_create(g_gpu, w, 0, 2, &m, &err), KVC_INVALID_ARGUMENT);
    ck_assert_ptr_null(m);
}
END_TEST

/* ------------------------------------------------------------ element-wise */

START_TEST(round_bf16_matches_cpu)
{
    static const int64_t ns[] = {1, 7, 4096, 1000003};
    int64_t n = ns[_i];
    uint64_t st = seed_for(2, _i);
    float *x = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        uint64_t r = kvc_test_rand64(&st);
        uint32_t b = (uint32_t)r;
        if ((r >> 40) % 4 == 0) /* NaN of any payload, infinities */
            b = (b & 0x807FFFFFu) | 0x7F800000u;
        else if ((r >> 40) % 4 == 1) /* ties */
            b = (b & 0xFFFF0000u) | 0x8000u;
        x[i] = bits_f(b);
    }
    float *c = galloc((size_t)n * 4), *g = galloc((size_t)n * 4);
    memcpy(c, x, (size_t)n * 4);
    memcpy(g, x, (size_t)n * 4);
    kvc_error err;
    ck_assert_int_eq(g_cpu->round_bf16(g_cpu, c, n, &err), KVC_OK);
    ck_assert_int_eq(g_gpu->round_bf16(g_gpu, g, n, &err), KVC_OK);
    gcheck(g, (size_t)n * 4, "round_bf16");
    same_bits(c, g, n, 4, "round_bf16");
    free(x);
    gfree(c);
    gfree(g);
}
END_TEST

START_TEST(act_quant_matches_cpu)
{
    static const int64_t shp[][2] = {{1, 128}, {3, 384}, {64, 4096}, {17, 256}};
    int64_t rows = shp[_i / 2][0], cols = shp[_i / 2][1], n = rows * cols;
    uint64_t st = seed_for(3, _i);
    float *x = farray(n, &st, _i % 2, 126);
    if (_i % 2 && rows > 1) /* a row of zeros */
        memset(x + cols, 0, sizeof(float) * (size_t)cols);
    float *c = galloc((size_t)n * 4), *g = galloc((size_t)n * 4);
    memcpy(c, x, (size_t)n * 4);
    memcpy(g, x, (size_t)n * 4);
    kvc_error err;
    ck_assert_int_eq(g_cpu->act_quant(g_cpu, c, rows, cols, &err), KVC_OK);
    ck_assert_int_eq(g_gpu->act_quant(g_gpu, g, rows, cols, &err), KVC_OK);
    gcheck(g, (size_t)n * 4, "act_quant");
    same_bits(c, g, n, 4, "act_quant");
    free(x);
    gfree(c);
    gfree(g);
}
END_TEST

START_TEST(rmsnorm_matches_cpu)
{
    static const int64_t shp[][2] = {{1, 1}, {3, 7}, {127, 129}, {2048, 512}, {5, 4096}};
    int64_t rows = shp[_i / 2][0], d = shp[_i / 2][1], n = rows * d;
    uint64_t st = seed_for(4, _i);
    float *x = farray(n, &st, _i % 2, 126);
    float *gw = farray(d, &st, 0, 0);
    for (int64_t i = 0; i < d; i++)
        gw[i] = kvc_round_bf16(gw[i]);
    if (_i % 2 && rows > 2)
        memset(x + 2 * d, 0, sizeof(float) * (size_t)d);
    uint16_t *c = galloc((size_t)n * 2), *g = galloc((size_t)n * 2);
    kvc_error err;
    ck_assert_int_eq(g_cpu->rmsnorm(g_cpu, x, rows, d, gw, 1e-6f, c, &err), KVC_OK);
    ck_assert_int_eq(g_gpu->rmsnorm(g_gpu, x, rows, d, gw, 1e-6f, g, &err), KVC_OK);
    gcheck(g, (size_t)n * 2, "rmsnorm");
    same_bits(c, g, n, 2, "rmsnorm");
    free(x);
    free(gw);
    gfree(c);
    gfree(g);
}
END_TEST

typedef struct rope_case {
    int64_t rows, stride, offset;
    int nfreq;
    int64_t step;
    int kind; /* 0 base 10000, 1 base 160000 + YaRN, 2 random frequencies */
} rope_case;

static const rope_case rope_cases[] = {
    {2048, 512, 448, 32, 1, 0}, {512, 512, 448, 32, 4, 1}, {16, 512, 448, 32, 128, 1},
    {3, 7, 1, 3, 5, 2},         {127, 129, 0, 64, 2, 2},   {1, 2, 0, 1, 0, 2},
};
#define N_ROPE ((int)(sizeof rope_cases / sizeof rope_cases[0]))

START_TEST(rope_matches_cpu)
{
    const rope_case *rc = &rope_cases[_i / 2];
    uint64_t st = seed_for(5, _i);
    int64_t n = rc->rows * rc->stride;
    uint16_t *x = bf16array(n, &st, _i % 2);
    float freqs[64];
    if (rc->kind < 2)
        kvc_rope_freqs(rc->kind == 0 ? 10000.0f : 160000.0f, rc->kind == 1, freqs);
    else
        for (int i = 0; i < rc->nfreq; i++)
            freqs[i] = rnd(&st, -24, 10); /* angles up to 2^34 */
    uint16_t *c = galloc((size_t)n * 2), *g = galloc((size_t)n * 2);
    memcpy(c, x, (size_t)n * 2);
    memcpy(g, x, (size_t)n * 2);
    kvc_error err;
    ck_assert_int_eq(g_cpu->rope(g_cpu, c, rc->rows, rc->stride, rc->offset, freqs, rc->nfreq,
                                 rc->step, &err),
                     KVC_OK);
    ck_assert_int_eq(g_gpu->rope(g_gpu, g, rc->rows, rc->stride, rc->offset, freqs, rc->nfreq,
                                 rc->step, &err),
                     KVC_OK);
    gcheck(g, (size_t)n * 2, "rope");
    same_bits(c, g, n, 2, "rope");
    free(x);
    gfree(c);
    gfree(g);
}
END_TEST

typedef struct pool_case {
    int64_t tokens, ratio;
    int overlap;
    int64_t d;
} pool_case;

static const pool_case pool_cases[] = {
    {2048, 4, 1, 512}, {2048, 128, 0, 512}, {4, 4, 1, 1},  {8, 4, 1, 3},
    {5, 1, 0, 7},      {256, 128, 1, 5},    {256, 256, 0, 2},
};
#define N_POOL ((int)(sizeof pool_cases / sizeof pool_cases[0]))

START_TEST(pool_matches_cpu)
{
    const pool_case *pc = &pool_cases[_i / 2];
    uint64_t st = seed_for(6, _i);
    int64_t width = pc->overlap ? 2 * pc->d : pc->d, n = pc->tokens * width;
    int64_t out_n = pc->tokens / pc->ratio * pc->d;
    float *kv = farray(n, &st, _i % 2, 100), *score = farray(n, &st, _i % 2, 100);
    float *ape = farray(pc->ratio * width, &st, _i % 2, 100);
    float *c = galloc((size_t)out_n * 4), *g = galloc((size_t)out_n * 4);
    kvc_error err;
    ck_assert_int_eq(g_cpu->pool(g_cpu, kv, score, ape, pc->tokens, pc->ratio, pc->overlap, pc->d,
                                 c, &err),
                     KVC_OK);
    ck_assert_int_eq(g_gpu->pool(g_gpu, kv, score, ape, pc->tokens, pc->ratio, pc->overlap, pc->d,
                                 g, &err),
                     KVC_OK);
    gcheck(g, (size_t)out_n * 4, "pool");
    same_bits(c, g, out_n, 4, "pool");
    free(kv);
    free(score);
    free(ape);
    gfree(c);
    gfree(g);
}
END_TEST

START_TEST(kvsim_matches_cpu)
{
    static const int64_t shp[][3] = {{2048, 512, 448}, {1, 64, 64}, {3, 70, 64}, {127, 129, 128}};
    const int kind = _i % 3, advers = (_i / 3) % 2;
    const int64_t *s = shp[_i / 6];
    int64_t n = s[0] * s[1];
    uint64_t st = seed_for(7, _i);
    uint16_t *x = bf16array(n, &st, advers);
    if (advers && s[0] > 1)
        memset(x + s[1], 0, (size_t)s[1] * 2); /* a row of zeros: amax at its floor */
    uint16_t *c = galloc((size_t)n * 2), *g = galloc((size_t)n * 2);
    memcpy(c, x, (size_t)n * 2);
    memcpy(g, x, (size_t)n * 2);
    kvc_error err;
    ck_assert_int_eq(g_cpu->kvsim(g_cpu, c, s[0], s[1], s[2], (kvc_kvsim_kind)kind, &err), KVC_OK);
    ck_assert_int_eq(g_gpu->kvsim(g_gpu, g, s[0], s[1], s[2], (kvc_kvsim_kind)kind, &err), KVC_OK);
    gcheck(g, (size_t)n * 2, "kvsim");
    same_bits(c, g, n, 2, "kvsim");
    free(x);
    gfree(c);
    gfree(g);
}
END_TEST

START_TEST(dequant_matches_cpu)
{
    static const int64_t shp[][2] = {{1, 1}, {130, 257}, {512, 4096}, {3, 4099}};
    int64_t rows = shp[_i][0], cols = shp[_i][1], n = rows * cols;
    int64_t sr = (rows + 127) / 128, sc = (cols + 127) / 128;
    uint64_t st = seed_for(8, _i);
    uint8_t *w = malloc((size_t)n), *s = malloc((size_t)(sr * sc));
    for (int64_t i = 0; i < n; i++) {
        uint8_t v = (uint8_t)kvc_test_rand64(&st);
        w[i] = (v & 0x7F) == 0x7F ? (uint8_t)(v ^ 1) : v; /* no NaN codes */
    }
    for (int64_t i = 0; i < sr * sc; i++)
        s[i] = (uint8_t)(kvc_test_rand64(&st) % 0xFF); /* 2^-127 .. 2^127 */
    float *c = galloc((size_t)n * 4), *g = galloc((size_t)n * 4);
    kvc_error err;
    ck_assert_int_eq(kvc_dequant_fp8_block(w, rows, cols, s, sr, sc, c, &err), KVC_OK);
    ck_assert_int_eq(kvc_cuda_dequant_fp8_block(0, w, rows, cols, s, sr, sc, g, &err), KVC_OK);
    gcheck(g, (size_t)n * 4, "dequant");
    same_bits(c, g, n, 4, "dequant");
    /* the CPU's argument checks, status for status */
    ck_assert_int_eq(kvc_cuda_dequant_fp8_block(0, w, rows, cols, s, sr + 1, sc, g, &err),
                     KVC_TENSOR_SHAPE);
    ck_assert_int_eq(kvc_cuda_dequant_fp8_block(0, w, -1, cols, s, sr, sc, g, &err),
                     KVC_INVALID_ARGUMENT);
    free(w);
    free(s);
    gfree(c);
    gfree(g);
}
END_TEST

/* ------------------------------------------------------------ errors */

START_TEST(bad_arguments_match_cpu)
{
    float f[256] = {0};
    uint16_t h[256] = {0};
    const kvc_backend *be[2] = {g_cpu, g_gpu};
    kvc_status st[2][9];
    kvc_error err;
    for (int i = 0; i < 2; i++) {
        st[i][0] = be[i]->round_bf16(be[i], NULL, 3, &err);
        st[i][1] = be[i]->act_quant(be[i], f, 1, 100, &err);
        st[i][2] = be[i]->rmsnorm(be[i], f, 1, 0, f, 1e-6f, h, &err);
        st[i][3] = be[i]->rope(be[i], h, 2, 8, 4, f, 4, 1, &err);
        st[i][4] = be[i]->rope(be[i], h, 2, 8, 0, f, 4, INT64_C(1) << 24, &err);
        st[i][5] = be[i]->pool(be[i], f, f, f, 6, 4, 0, 1, f, &err);
        st[i][6] = be[i]->pool(be[i], f, f, f, 256, 256, 1, 1, f, &err);
        st[i][7] = be[i]->kvsim(be[i], h, 1, 64, 32, KVC_KVSIM_E4M3, &err);
        st[i][8] = be[i]->kvsim(be[i], h, 1, 64, 64, (kvc_kvsim_kind)7, &err);
    }
    for (int j = 0; j < 9; j++) {
        ck_assert_msg(st[0][j] == KVC_INVALID_ARGUMENT, "case %d: cpu %s", j,
                      kvc_status_name(st[0][j]));
        ck_assert_msg(st[1][j] == st[0][j], "case %d: gpu %s, cpu %s", j,
                      kvc_status_name(st[1][j]), kvc_status_name(st[0][j]));
    }
    /* zero rows: nothing to do, success on both */
    ck_assert_int_eq(g_gpu->rmsnorm(g_gpu, NULL, 0, 4, NULL, 1e-6f, NULL, &err), KVC_OK);
    ck_assert_int_eq(g_gpu->kvsim(g_gpu, NULL, 0, 64, 64, KVC_KVSIM_E4M3, &err), KVC_OK);
    /* devices that do not exist */
    kvc_backend *b = NULL;
    ck_assert_int_eq(kvc_backend_cuda_create(-1, &b, &err), KVC_INVALID_ARGUMENT);
    ck_assert_ptr_null(b);
    ck_assert_int_eq(kvc_backend_cuda_create(4096, &b, &err), KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(kvc_backend_cuda_set_guard((kvc_backend *)g_cpu, 1, &err),
                     KVC_INVALID_ARGUMENT);
    ck_assert(kvc_backend_is_cuda(g_gpu));
    ck_assert(!kvc_backend_is_cuda(g_cpu));
}
END_TEST

/* ------------------------------------------------------------ the pipeline */

START_TEST(pipeline_matches_cpu)
{
    char dir[512], path[1024], hidden[1024];
    kvc_test_tmpdir(dir, sizeof dir);
    static const int layers[3] = {0, 2, 3};
    kvc_error err;
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, kvc_synth_shard_name(layers[i]));
        ck_assert_int_eq(kvc_synth_write_shard(1, layers[i], path, &err), KVC_OK);
    }
    snprintf(hidden, sizeof hidden, "%s/hidden.safetensors", dir);
    ck_assert_int_eq(kvc_synth_write_hidden(1, 1, hidden, &err), KVC_OK);
    kvc_v4_hidden *h = NULL;
    ck_assert_int_eq(kvc_v4_hidden_open(hidden, &h, &err), KVC_OK);
    int64_t S = kvc_v4_hidden_seq_len(h);
    float *x = malloc(sizeof(float) * (size_t)S * KVC_V4_HIDDEN_DIM);
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(kvc_v4_hidden_read(h, 0, x, &err), KVC_OK);
    kvc_v4_model *mc = NULL, *mg = NULL;
    ck_assert_int_eq(kvc_v4_model_load(g_cpu, dir, &mc, &err), KVC_OK);
    ck_assert_msg(kvc_v4_model_load(g_gpu, dir, &mg, &err) == KVC_OK, "%s", err.detail);
    for (int p = 0; p < kvc_profile_count(); p++) {
        kvc_v4_streams a, b;
        ck_assert_int_eq(kvc_v4_streams_compute(mc, kvc_profile_at(p), x, S, &a, &err), KVC_OK);
        ck_assert_msg(kvc_v4_streams_compute(mg, kvc_profile_at(p), x, S, &b, &err) == KVC_OK,
                      "%s", err.detail);
        for (int s = 0; s < KVC_V4_NSTREAMS; s++) {
            char what[96];
            snprintf(what, sizeof what, "profile %s, stream %s", kvc_profile_at(p)->name,
                     kvc_v4_stream_name((kvc_v4_stream)s));
            same_bits(a.kv[s], b.kv[s], S / kvc_v4_stream_ratio((kvc_v4_stream)s) * 512, 2, what);
        }
        kvc_v4_streams_free(&a);
        kvc_v4_streams_free(&b);
    }
    kvc_v4_model_destroy(mc);
    kvc_v4_model_destroy(mg);
    kvc_v4_hidden_close(h);
    free(x);
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, kvc_synth_shard_name(layers[i]));
        unlink(path);
    }
    unlink(hidden);
    rmdir(dir);
}
END_TEST

static Suite *cuda_suite(void)
{
    Suite *s = suite_create("cuda_backend");
    TCase *tc = tcase_create("ops");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, matmul_matches_cpu, 0, 2 * N_MM);
    tcase_add_loop_test(tc, every_tiling_matches_cpu, 0, N_MM);
    tcase_add_loop_test(tc, matmul_group_matches_cpu, 0, 4);
    tcase_add_loop_test(tc, matmul_keeps_negative_zero, 0, 17);
    tcase_add_test(tc, matmul_rejects_foreign_matrix);
    tcase_add_loop_test(tc, round_bf16_matches_cpu, 0, 4);
    tcase_add_loop_test(tc, act_quant_matches_cpu, 0, 8);
    tcase_add_loop_test(tc, rmsnorm_matches_cpu, 0, 10);
    tcase_add_loop_test(tc, rope_matches_cpu, 0, 2 * N_ROPE);
    tcase_add_loop_test(tc, pool_matches_cpu, 0, 2 * N_POOL);
    tcase_add_loop_test(tc, kvsim_matches_cpu, 0, 24);
    tcase_add_loop_test(tc, dequant_matches_cpu, 0, 4);
    tcase_add_test(tc, bad_arguments_match_cpu);
    suite_add_tcase(s, tc);
    TCase *tp = tcase_create("pipeline");
    tcase_set_timeout(tp, 600);
    tcase_add_test(tp, pipeline_matches_cpu);
    suite_add_tcase(s, tp);
    return s;
}

int main(void)
{
    kvc_error err;
    kvc_error_clear(&err);
    kvc_status st = kvc_backend_cuda_create(0, &g_gpu, &err);
    if (st == KVC_CUDA_NO_DEVICE || st == KVC_BACKEND_UNAVAILABLE) {
        char buf[1024];
        printf("SKIP: %s\n", kvc_error_format(&err, buf, sizeof buf));
        return KVC_TEST_SKIP;
    }
    if (st != KVC_OK) {
        char buf[1024];
        fprintf(stderr, "cannot create the CUDA backend: %s\n",
                kvc_error_format(&err, buf, sizeof buf));
        return KVC_TEST_HARD_ERROR;
    }
    if (kvc_backend_cuda_set_guard(g_gpu, 1, &err) != KVC_OK)
        return KVC_TEST_HARD_ERROR;
    const char *env = getenv("KVC_TEST_SEED");
    if (env != NULL && *env != '\0')
        g_seed = strtoull(env, NULL, 10);
    g_cpu = kvc_backend_cpu();
    printf("check_cuda_backend: %s vs %s, seed %llu (KVC_TEST_SEED=N to change)\n", g_cpu->name,
           g_gpu->name, (unsigned long long)g_seed);
    SRunner *sr = srunner_create(cuda_suite());
    srunner_set_fork_status(sr, CK_NOFORK); /* CUDA does not survive fork() */
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    kvc_backend_cuda_destroy(g_gpu);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
