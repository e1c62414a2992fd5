/* kvcert: the equivalence check of two backends (v4/equiv.h).
 *
 * Each case: inputs from a splitmix64 generator seeded by (seed, op, case
 * number), so a case's inputs do not depend on which other cases run; the
 * operation on each backend into its own output buffer, GUARD bytes of
 * GUARD_BYTE before and after it; then guards, bytes and SHA-256 compared.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/fp8block.h"
#include "codec/hadamard.h"
#include "codec/kakeya.h"
#include "core/formats.h"
#include "stats/metrics.h"
#include "io/digest.h"
#include "v4/equiv.h"
#include "v4/pipeline.h"
#include "v4/profile.h"
#include "v4/rope.h"

#define GUARD 64
#define GUARD_BYTE 0xCD

static const char *const op_names[KVC_EQUIV_OP_COUNT] = {
    "matmul",     "round_bf16",    "act_quant",      "rmsnorm",        "rope",
    "pool",       "kvsim",         "dequant",        "codec_roundtrip", "codec_encode",
    "codec_decode", "fp8_per64",   "fp8_ds_mla",     "recon_metrics",  "column_moments",
    "column_quantile", "widen_bf16", "hadamard_rows", "abs_scaled", "first_difference",
    "fp8_ds_mla_encode", "fp8_ds_mla_decode", "matmul_group"};

const char *kvc_equiv_op_name(kvc_equiv_op op)
{
    return (int)op >= 0 && (int)op < KVC_EQUIV_OP_COUNT ? op_names[op] : NULL;
}

kvc_status kvc_equiv_parse_ops(const char *list, unsigned *mask, kvc_error *err)
{
    *mask = 0;
    const char *p = list;
    while (p != NULL && *p != '\0') {
        size_t len = strcspn(p, ",");
        int found = -1;
        for (int i = 0; i < KVC_EQUIV_OP_COUNT; i++)
            if (strlen(op_names[i]) == len && strncmp(p, op_names[i], len) == 0)
                found = i;
        if (found < 0)
            return kvc_error_set(err, KVC_INVALID_ARGUMENT,
                                 "unknown operation '%.*s' (known: matmul, round_bf16, "
                                 "act_quant, rmsnorm, rope, pool, kvsim, dequant, "
                                 "codec_roundtrip, codec_encode, codec_decode, fp8_per64, "
                                 "fp8_ds_mla, recon_metrics, column_moments, "
                                 "column_quantile, widen_bf16, hadamard_rows, abs_scaled, "
                                 "first_difference, fp8_ds_mla_encode, fp8_ds_mla_decode, "
                                 "matmul_group)",
                                 (int)len, p);
        *mask |= 1u << found;
        p += len;
        if (*p == ',')
            p++;
    }
    if (*mask == 0)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "empty operation list");
    return KVC_OK;
}

/* ------------------------------------------------------------ inputs */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rnext(rng *g)
{
    uint64_t z = (g->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static rng rng_for(uint64_t seed, int op, int index)
{
    rng g = {seed};
    rnext(&g);
    g.s ^= ((uint64_t)(op + 1) << 32) ^ (uint64_t)(index + 1) * 0xD1B54A32D192ED03ull;
    rnext(&g);
    return g;
}

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* sign * [1, 2) * 2^e, e uniform in [emin, emax]. */
static float f_normal(rng *g, int emin, int emax)
{
    uint64_t r = rnext(g);
    int e = emin + (int)((r >> 32) % (uint64_t)(emax - emin + 1));
    uint32_t bits = ((uint32_t)(e + 127) << 23) | (uint32_t)(r & 0x7FFFFFu);
    if ((r >> 63) & 1)
        bits |= 0x80000000u;
    return from_bits(bits);
}

/* Adversarial values, magnitudes below 2^(emax+1): +-0, subnormals, the
 * smallest normals, huge values, bf16 ties (low 16 bits exactly 0x8000),
 * values exact in bf16, powers of two, and ordinary ones. */
static float f_adv(rng *g, int emax)
{
    uint64_t r = rnext(g);
    uint32_t sign = (uint32_t)(r >> 63) << 31;
    uint32_t mant = (uint32_t)(r & 0x7FFFFFu);
    int e;
    switch ((r >> 40) % 12) {
    case 0:
        return 0.0f;
    case 1:
        return from_bits(0x80000000u);
    case 2: /* subnormal */
        return from_bits(sign | (mant == 0 ? 1u : mant));
    case 3: /* the smallest normals */
        e = -126 + (int)((r >> 24) % 8);
        return from_bits(sign | ((uint32_t)(e + 127) << 23) | mant);
    case 4: /* huge */
        e = emax - (int)((r >> 24) % 4);
        return from_bits(sign | ((uint32_t)(e + 127) << 23) | mant);
    case 5: /* a bf16 tie */
        e = -20 + (int)((r >> 24) % 41);
        if (e > emax)
            e = emax;
        return from_bits(sign | ((uint32_t)(e + 127) << 23) | (mant & 0x7F0000u) | 0x8000u);
    case 6: /* exact in bf16 */
        e = -20 + (int)((r >> 24) % 41);
        if (e > emax)
            e = emax;
        return from_bits(sign | ((uint32_t)(e + 127) << 23) | (mant & 0x7F0000u));
    case 7: /* a power of two */
        e = -30 + (int)((r >> 24) % 61);
        if (e > emax)
            e = emax;
        return from_bits(sign | ((uint32_t)(e + 127) << 23));
    default:
        return f_normal(g, -8, 8 < emax ? 8 : emax);
    }
}

static void fill_f32(rng *g, float *x, int64_t n, int adv, int emax)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = adv ? f_adv(g, emax) : f_normal(g, -6, 6);
}

/* Adversarial rows: row % 7 == 2 all +0, row % 7 == 4 all -0. */
static void zero_rows_f32(float *x, int64_t rows, int64_t cols)
{
    for (int64_t r = 0; r < rows; r++)
        if (r % 7 == 2 || r % 7 == 4)
            for (int64_t c = 0; c < cols; c++)
                x[r * cols + c] = r % 7 == 2 ? 0.0f : from_bits(0x80000000u);
}

static void fill_bf16(rng *g, uint16_t *x, int64_t rows, int64_t cols, int adv)
{
    for (int64_t i = 0; i < rows * cols; i++)
        x[i] = kvc_f32_to_bf16(adv ? f_adv(g, 126) : f_normal(g, -8, 8));
    if (adv)
        for (int64_t r = 0; r < rows; r++)
            if (r % 7 == 2 || r % 7 == 4)
                for (int64_t c = 0; c < cols; c++)
                    x[r * cols + c] = r % 7 == 2 ? 0 : 0x8000u;
}

/* ------------------------------------------------------------ buffers */

typedef struct gbuf {
    unsigned char *raw;
    size_t bytes;
} gbuf;

static void *gbuf_alloc(gbuf *b, size_t bytes)
{
    b->bytes = bytes;
    b->raw = (unsigned char *)malloc(bytes + 2 * GUARD);
    if (b->raw == NULL)
        return NULL;
    memset(b->raw, GUARD_BYTE, GUARD);
    memset(b->raw + GUARD + bytes, GUARD_BYTE, GUARD);
    return b->raw + GUARD;
}

static int gbuf_intact(const gbuf *b)
{
    for (size_t i = 0; i < GUARD; i++)
        if (b->raw[i] != GUARD_BYTE || b->raw[GUARD + b->bytes + i] != GUARD_BYTE)
            return 0;
    return 1;
}

static void gbuf_free(gbuf *b)
{
    free(b->raw);
    b->raw = NULL;
}

/* ------------------------------------------------------------ the runner */

typedef struct runner {
    const kvc_backend *be[2]; /* ref, test */
    const kvc_equiv_options *opt;
    kvc_equiv_report_fn fn;
    void *arg;
    int identical, total;
    kvc_status fatal;
    kvc_error *err;
    int mem; /* the test side is a backend-memory proxy: ids get "[mem]" */
} runner;

static void case_init(kvc_equiv_case *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void case_init(kvc_equiv_case *c, const char *fmt, ...)
{
    memset(c, 0, sizeof *c);
    c->first_diff = -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->id, sizeof c->id, fmt, ap);
    va_end(ap);
}

static void add_problem(kvc_equiv_case *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add_problem(kvc_equiv_case *c, const char *fmt, ...)
{
    size_t l = strlen(c->problem);
    if (l + 4 >= sizeof c->problem)
        return;
    if (l > 0) {
        memcpy(c->problem + l, "; ", 3);
        l += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->problem + l, sizeof c->problem - l, fmt, ap);
    va_end(ap);
}

/* Records a failed call of side s. */
static void call_failed(kvc_equiv_case *c, const runner *r, int s, const kvc_error *e)
{
    char buf[512];
    add_problem(c, "%s failed: %s", r->be[s]->name, kvc_error_format(e, buf, sizeof buf));
}

static void guard_check(kvc_equiv_case *c, const runner *r, int s, const gbuf *b,
                        const char *what)
{
    if (!gbuf_intact(b))
        add_problem(c, "%s wrote outside %s (guard bytes changed)", r->be[s]->name, what);
}

kvc_status kvc_equiv_compare(const void *ref, const void *test, int64_t n, int elem_bytes,
                             kvc_equiv_case *c, kvc_error *err)
{
    size_t bytes = (size_t)n * (size_t)elem_bytes;
    c->elem_bytes = elem_bytes;
    c->first_diff = -1;
    kvc_status st = kvc_sha256_buffer(ref, bytes, c->sha_ref);
    if (st == KVC_OK)
        st = kvc_sha256_buffer(test, bytes, c->sha_test);
    if (st != KVC_OK)
        return kvc_error_set(err, st, "SHA-256 of an output");
    if (memcmp(ref, test, bytes) != 0) {
        const unsigned char *a = (const unsigned char *)ref, *b = (const unsigned char *)test;
        for (int64_t i = 0; i < n; i++) {
            if (memcmp(a + i * elem_bytes, b + i * elem_bytes, (size_t)elem_bytes) != 0) {
                c->first_diff = i;
                if (elem_bytes == 1) {
                    c->ref_bits = a[i];
                    c->test_bits = b[i];
                } else if (elem_bytes == 2) {
                    uint16_t u, v;
                    memcpy(&u, a + i * 2, 2);
                    memcpy(&v, b + i * 2, 2);
                    c->ref_bits = u;
                    c->test_bits = v;
                } else {
                    memcpy(&c->ref_bits, a + i * 4, 4);
                    memcpy(&c->test_bits, b + i * 4, 4);
                }
                break;
            }
        }
    }
    c->identical = c->first_diff < 0 && c->problem[0] == '\0';
    return KVC_OK;
}

/* "op/rest" -> "op[mem]/rest" (truncated to the id's size). */
static void mem_id(kvc_equiv_case *c)
{
    char buf[sizeof c->id];
    size_t op = strcspn(c->id, "/");
    snprintf(buf, sizeof buf, "%.*s[mem]%s", (int)op, c->id, c->id + op);
    memcpy(c->id, buf, sizeof buf);
}

/* Compares the two sides' outputs and reports the case. */
static void finish(runner *r, kvc_equiv_case *c, void *out[2], int64_t n, int elem_bytes)
{
    if (r->fatal != KVC_OK)
        return;
    if (r->mem)
        mem_id(c);
    if (out[0] != NULL && out[1] != NULL && c->problem[0] == '\0') {
        kvc_status st = kvc_equiv_compare(out[0], out[1], n, elem_bytes, c, r->err);
        if (st != KVC_OK) {
            r->fatal = st;
            return;
        }
    } else {
        c->identical = 0;
        c->elem_bytes = elem_bytes;
    }
    r->total++;
    r->identical += c->identical;
    if (r->fn != NULL)
        r->fn(r->arg, c);
}

static int nomem(runner *r, const char *what)
{
    r->fatal = kvc_error_set(r->err, KVC_NOMEM, "equiv inputs for %s", what);
    return 0;
}

static int wanted(const runner *r, kvc_equiv_op op)
{
    unsigned m = r->opt->ops == 0 ? KVC_EQUIV_ALL_OPS : r->opt->ops;
    return (m >> op) & 1u;
}

static const char *variant(int adv)
{
    return adv ? "adversarial" : "random";
}

/* ------------------------------------------------------------ matmul */

static void case_matmul(runner *r, int index, int64_t m, int64_t k, int64_t n, int adv)
{
    kvc_equiv_case c;
    case_init(&c, "matmul/%lldx%lldx%lld/%s", (long long)m, (long long)k, (long long)n,
              variant(adv));
    rng g = rng_for(r->opt->seed, KVC_EQUIV_MATMUL, index);
    float *x = (float *)malloc(sizeof(float) * (size_t)(m * k));
    float *w = (float *)malloc(sizeof(float) * (size_t)(n * k));
    gbuf yb[2] = {{NULL, 0}, {NULL, 0}};
    void *y[2] = {NULL, NULL};
    if (x == NULL || w == NULL) {
        nomem(r, c.id);
        goto done;
    }
    /* adversarial magnitudes stay below 2^63, so every product is finite
     * and no chain can meet inf - inf */
    fill_f32(&g, x, m * k, adv, 62);
    fill_f32(&g, w, n * k, adv, 62);
    if (adv)
        zero_rows_f32(x, m, k);
    for (int s = 0; s < 2; s++) {
        const kvc_backend *be = r->be[s];
        kvc_error e;
        kvc_error_clear(&e);
        y[s] = gbuf_alloc(&yb[s], sizeof(float) * (size_t)(m * n));
        if (y[s] == NULL) {
            nomem(r, c.id);
            goto done;
        }
        if (kvc_backend_matmul_once(be, x, m, w, n, k, (float *)y[s], &e) != KVC_OK)
            call_failed(&c, r, s, &e);
        guard_check(&c, r, s, &yb[s], "y");
    }
    finish(r, &c, y, m * n, 4);
done:
    free(x);
    free(w);
    gbuf_free(&yb[0]);
    gbuf_free(&yb[1]);
}

/* ------------------------------------------------------------ matmul_group */

/* count products of one x, outputs back to back in one guarded buffer. */
static void case_matmul_group(runner *r, int index, int64_t m, int64_t k, int count,
                              const int64_t *ns, int adv)
{
    kvc_equiv_case c;
    int64_t total = 0;
    for (int p = 0; p < count; p++)
        total += ns[p];
    case_init(&c, "matmul_group/%lldx%lldx%d(%lld)/%s", (long long)m, (long long)k, count,
              (long long)total, variant(adv));
    rng g = rng_for(r->opt->seed, KVC_EQUIV_MATMUL_GROUP, index);
    float *x = (float *)malloc(sizeof(float) * (size_t)(m * k));
    float *w = (float *)malloc(sizeof(float) * (size_t)(total * k));
    gbuf yb[2] = {{NULL, 0}, {NULL, 0}};
    void *y[2] = {NULL, NULL};
    if (x == NULL || w == NULL) {
        nomem(r, c.id);
        goto done;
    }
    fill_f32(&g, x, m * k, adv, 62);
    fill_f32(&g, w, total * k, adv, 62);
    if (adv)
        zero_rows_f32(x, m, k);
    for (int s = 0; s < 2; s++) {
        const kvc_backend *be = r->be[s];
        kvc_error e;
        kvc_error_clear(&e);
        y[s] = gbuf_alloc(&yb[s], sizeof(float) * (size_t)(m * total));
        if (y[s] == NULL) {
            nomem(r, c.id);
            goto done;
        }
        kvc_matrix *mats[8] = {NULL};
        float *outs[8];
        kvc_status st = be->matmul_group == NULL ? KVC_BACKEND_UNAVAILABLE : KVC_OK;
        if (st != KVC_OK)
            kvc_error_set(&e, st, "%s has no matmul_group", be->name);
        int64_t off = 0;
        for (int p = 0; p < count && st == KVC_OK; p++) {
            st = be->matrix_create(be, w + off * k, ns[p], k, &mats[p], &e);
            outs[p] = (float *)y[s] + m * off;
            off += ns[p];
        }
        if (st == KVC_OK)
            st = be->matmul_group(be, x, m, count, (const kvc_matrix *const *)mats, outs, &e);
        for (int p = 0; p < count; p++)
            if (mats[p] != NULL)
                be->matrix_destroy(be, mats[p]);
        if (st != KVC_OK)
            call_failed(&c, r, s, &e);
        guard_check(&c, r, s, &yb[s], "y");
    }
    finish(r, &c, y, m * total, 4);
done:
    free(x);
    free(w);
    gbuf_free(&yb[0]);
    gbuf_free(&yb[1]);
}

static void run_matmul_group(runner *r)
{
    static const int64_t pipe[5] = {512, 1024, 1024, 512, 512};
    static const int64_t odd1[5] = {1, 65, 128, 300, 7};
    static const int64_t odd2[2] = {260, 3};
    int idx = 0;
    if (r->opt->large && r->fatal == KVC_OK)
        case_matmul_group(r, idx++, 2048, 4096, 5, pipe, 0);
    for (int adv = 0; adv < 2 && r->fatal == KVC_OK; adv++) {
        case_matmul_group(r, idx++, 257, 100, 5, odd1, adv);
        if (r->fatal == KVC_OK)
            case_matmul_group(r, idx++, 130, 8, 2, odd2, adv);
    }
}

/* ------------------------------------------------------------ round_bf16 */

static void case_round(runner *r, int index, int64_t n, int adv)
{
    kvc_equiv_case c;
    case_init(&c, "round_bf16/%lld/%s", (long long)n, variant(adv));
    rng g = rng_for(r->opt->seed, KVC_EQUIV_ROUND_BF16, index);
    float *x = (float *)malloc(sizeof(float) * (size_t)n);
    gbuf b[2] = {{NULL, 0}, {NULL, 0}};
    void *y[2] = {NULL, NULL};
    if (x == NULL) {
        nomem(r, c.id);
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        if (!adv) {
            x[i] = f_normal(&g, -40, 40);
            continue;
        }
        uint64_t q = rnext(&g);
        uint32_t bits = (uint32_t)q;
        switch ((q >> 40) % 8) {
        case 0: /* any NaN (integer code keeps its bits) or infinity */
            bits = (bits & 0x807FFFFFu) | 0x7F800000u;
            break;
        case 1: /* a tie */
            bits = (bits & 0xFFFF0000u) | 0x8000u;
            break;
        case 2: /* just below the largest finite bf16 tie: rounds to inf */
            bits = (bits & 0x80000000u) | 0x7F7F8000u | (uint32_t)((q >> 20) & 1u);
            break;
        case 3: /* subnormal */
            bits &= 0x807FFFFFu;
            break;
        default: /* any bit pattern */
            break;
        }
        x[i] = from_bits(bits);
    }
    for (int s = 0; s < 2; s++) {
        kvc_error e;
        kvc_error_clear(&e);
        y[s] = gbuf_alloc(&b[s], sizeof(float) * (size_t)n);
        if (y[s] == NULL) {
            nomem(r, c.id);
            goto done;
        }
        memcpy(y[s], x, sizeof(float) * (size_t)n);
        if (r->be[s]->round_bf16(r->be[s], (float *)y[s], n, &e) != KVC_OK)
            call_failed(&c, r, s, &e);
        guard_check(&c, r, s, &b[s], "x");
    }
    finish(r, &c, y, n, 4);
done:
    free(x);
    gbuf_free(&b[0]);
    gbuf_free(&b[1]);
}

/* ------------------------------------------------------------ act_quant */

static void case_act_quant(runner *r, int index, int64_t rows, int64_t cols, int adv)
{
    kvc_equiv_case c;
    case_init(&c, "act_quant/%lldx%lld/%s", (long long)rows, (long long)cols, variant(adv));
    rng g = rng_for(r->opt->seed, KVC_EQUIV_ACT_QUANT, index);
    int64_t n = rows * cols;
    float *x = (float *)malloc(sizeof(float) * (size_t)n);
    gbuf b[2] = {{NULL, 0}, {NULL, 0}};
    void *y[2] = {NULL, NULL};
    if (x == NULL) {
        nomem(r, c.id);
        goto done;
    }
    fill_f32(&g, x, n, adv, 126);
    if (adv)
        zero_rows_f32(x, rows, cols);
    for (int s = 0; s < 2; s++) {
        kvc_error e;
        kvc_error_clear(&e);
        y[s] = gbuf_alloc(&b[s], sizeof(float) * (size_t)n);
        if (y[s] == NULL) {
            nomem(r, c.id);
            goto done;
        }
        memcpy(y[s], x, sizeof(float) * (size_t)n);
        if (r->be[s]->act_quant(r->be[s], (float *)y[s], rows, cols, &e) != KVC_OK)
            call_failed(&c, r, s, &e);
        guard_check(&c, r, s, &b[s], "x");
    }
    finish(r, &c, y, n, 4);
done:
    free(x);
    gbuf_free(&b[0]);
    gbuf_free(&b[1]);
}

/* ------------------------------------------------------------ rmsnorm */

static void case_rmsnorm(runner *r, int index, int64_t rows, int64_t d, int adv)
{
    kvc_equiv_case c;
    case_init(&c, "rmsnorm/%lldx%lld/%s", (long long)rows, (long long)d, variant(adv));
    rng g = rng_for(r->opt->seed, KVC_EQUIV_RMSNORM, index);
    int64_t n = rows * d;
    float *x = (float *)malloc(sizeof(float) * (size_t)n);
    float *gw = (float *)malloc(sizeof(float) * (size_t)d);
    gbuf b[2] = {{NULL, 0}, {NULL, 0}};
    void *y[2] = {NULL, NULL};
    if (x == NULL || gw == NULL) {
        nomem(r, c.id);
        goto done;
    }
    /* huge rows overflow the sum of squares to inf: r = 0, y = +-0 */
    fill_f32(&g, x, n, adv, 126);
    if (adv)
        zero_rows_f32(x, rows, d);
    for (int64_t i = 0; i < d; i++) /* the norm weight is a widened bf16 */
        gw[i] = kvc_round_bf16(adv ? f_adv(&g, 20) : f_normal(&g, -2, 2));
    for (int s = 0; s < 2; s++) {
        kvc_error e;
        kvc_error_clear(&e);
        y[s] = gbuf_alloc(&b[s], sizeof(uint16_t) * (size_t)n);
        if (y[s] == NULL) {
            nomem(r, c.id);
            goto done;
        }
        if (r->be[s]->rmsnorm(r->be[s], x, rows, d, gw, KVC_V4_NORM_EPS, (uint16_t *)y[s], &e) !=
            KVC_OK)
            call_failed(&c, r, s, &e);
        guard_check(&c, r, s, &b[s], "y");
    }
    finish(r, &c, y, n, 2);
done:
    free(x);
    free(gw);
    gbuf_free(&b[0]);
    gbuf_free(&b[1]);
}

/* ------------------------------------------------------------ rope */

typedef struct rope_shape {
    int64_t rows, stride, offset;
    int nfreq;
    int64_t pos_step;
    int freqs; /* 0 main (10000), 1 compressor with YaRN (160000), 2 random */
} rope_shape;

static void case_rope(runner *r, int index, const rope_shape *sh, int adv)
{
    kvc_equiv_case c;
    static const char *const fnames[3] = {"base10000", "base160000-yarn", "randfreq"};
    case_init(&c, "rope/%lldx%lld+%lld:%d@%lld/%s/%s", (long long)sh->rows,
              (long long)sh->stride, (long long)sh->offset, sh->nfreq, (long long)sh->pos_step,
              fnames[sh->freqs], variant(adv));
    rng g = rng_for(r->opt->seed, KVC_EQUIV_ROPE, index);
    int64_t n = sh->rows * sh->stride;
    uint16_t *x = (uint16_t *)malloc(sizeof(uint16_t) * (size_t)n);
    float *freqs = (float *)malloc(sizeof(float) * (size_t)sh->nfreq);
    gbuf b[2] = {{NULL, 0}, {NULL, 0}};
    void *y[2] = {NULL, NULL};
    if (x == NULL || freqs == NULL) {
        nomem(r, c.id);
        goto done;
    }
    fill_bf16(&g, x, sh->rows, sh->stride, adv);
    if (sh->freqs < 2 && sh->nfreq == KVC_ROPE_NFREQ) {
        kvc_rope_freqs(sh->freqs == 0 ? 10000.0f : 160000.0f, sh->freqs == 1, freqs);
    } else {
        /* large frequencies make angles up to 2^34: the large-argument
         * reduction of sin and cos */
        for (int i = 0; i < sh->nfreq; i++)
            freqs[i] = f_normal(&g, -24, 10);
    }
    for (int s = 0; s < 2; s++) {
        kvc_error e;
        kvc_error_clear(&e);
        y[s] = gbuf_alloc(&b[s], sizeof(uint16_t) * (size_t)n);
        if (y[s] == NULL) {
            nomem(r, c.id);
            goto done;
        }
        memcpy(y[s], x, sizeof(uint16_t) * (size_t)n);
        if (r->be[s]->rope(r->be[s], (uint16_t *)y[s], sh->rows, sh->stride, sh->offset, freqs,
                           sh->nfreq, sh->pos_step, &e) != KVC_OK)
            call_failed(&c, r, s, &e);
        guard_check(&c, r, s, &b[s], "x");
    }
    finish(r, &c, y, n, 2);
done:
    free(x);
    free(freqs);
    gbuf_free(&b[0]);
    gbuf_free(&b[1]);
}

/* ------------------------------------------------------------ pool */

static void case_pool(runner *r, int index, int64_t tokens, int64_t ratio, int overlap,
                      int64_t d, int adv)
{
    kvc_equiv_case c;
    case_init(&c, "pool/t%lld-r%lld-%s-d%lld/%s", (long long)tokens, (long long)ratio,
              overlap ? "overlap" : "plain", (long long)d, variant(adv));
    rng g = rng_for(r->opt->seed, KVC_EQUIV_POOL, index);
    int64_t width = overlap ? 2 * d : d, windows = tokens / ratio;
    int64_t n = tokens * width;
    float *kv = (float *)malloc(sizeof(float) * (size_t)n);
    float *score = (float *)malloc(sizeof(float) * (size_t)n);
    float *ape = (float *)malloc(sizeof(float) * (size_t)(ratio * width));
    gbuf b[2] = {{NULL, 0}, {NULL, 0}};
    void *y[2] = {NULL, NULL};
    if (kv == NULL || score == NULL || ape == NULL) {
        nomem(r, c.id);
        goto done;
    }
    /* |score|, |ape| < 2^101: score + ape and v - max stay finite, so no
     * softmax step meets inf - inf */
    fill_f32(&g, kv, n, adv, 100);
    fill_f32(&g, score, n, adv, 100);
    fill_f32(&g, ape, ratio * width, adv, 100);
    if (adv) /* equal scores across a window: ties in the max, equal weights */
        for (int64_t t = 0; t < tokens; t++)
            if ((t / ratio) % 3 == 1)
                for (int64_t ch = 0; ch < width; ch++)
                    score[t * width + ch] = score[(t / ratio) * ratio * width + ch];
    for (int s = 0; s < 2; s++) {
        kvc_error e;
        kvc_error_clear(&e);
        y[s] = gbuf_alloc(&b[s], sizeof(float) * (size_t)(windows * d));
        if (y[s] == NULL) {
            nomem(r, c.id);
            goto done;
        }
        if (r->be[s]->pool(r->be[s], kv, score, ape, tokens, ratio, overlap, d, (float *)y[s],
                           &e) != KVC_OK)
            call_failed(&c, r, s, &e);
        guard_check(&c, r, s, &b[s], "out");
    }
    finish(r, &c, y, windows * d, 4);
done:
    free(kv);
    free(score);
    free(ape);
    gbuf_free(&b[0]);
    gbuf_free(&b[1]);
}

/* ------------------------------------------------------------ kvsim */

static void case_kvsim(runner *r, int index, int64_t rows, int64_t stride, int64_t dims,
                       kvc_kvsim_kind kind, int adv)
{
    static const char *const kinds[3] = {"uniform127", "e4m3", "e4m3_pow2"};
    kvc_equiv_case c;
    case_init(&c, "kvsim/%s/%lldx%lld:%lld/%s", kinds[kind], (long long)rows,
              (long long)stride, (long long)dims, variant(adv));
    rng g = rng_for(r->opt->seed, KVC_EQUIV_KVSIM, index);
    int64_t n = rows * stride;
    uint16_t *x = (uint16_t *)malloc(sizeof(uint16_t) * (size_t)n);
    gbuf b[2] = {{NULL, 0}, {NULL, 0}};
    void *y[2] = {NULL, NULL};
    if (x == NULL) {
        nomem(r, c.id);
        goto done;
    }
    fill_bf16(&g, x, rows, stride, adv);
    if (adv) /* a block of subnormals only, a block with one huge value */
        for (int64_t row = 0; row < rows; row++) {
            if (row % 7 == 5 && dims >= 64)
                for (int64_t i = 0; i < 64; i++)
                    x[row * stride + i] = (uint16_t)((rnext(&g) & 0x807Fu) | 1u);
            if (row % 7 == 6 && dims >= 64)
                x[row * stride + (int64_t)(rnext(&g) % 64)] = 0x7F7Fu; /* bf16 max */
        }
    for (int s = 0; s < 2; s++) {
        kvc_error e;
        kvc_error_clear(&e);
        y[s] = gbuf_alloc(&b[s], sizeof(uint16_t) * (size_t)n);
        if (y[s] == NULL) {
            nomem(r, c.id);
            goto done;
        }
        memcpy(y[s], x, sizeof(uint16_t) * (size_t)n);
        if (r->be[s]->kvsim(r->be[s], (uint16_t *)y[s], rows, stride, dims, kind, &e) != KVC_OK)
            call_failed(&c, r, s, &e);
        guard_check(&c, r, s, &b[s], "x");
    }
    finish(r, &c, y, n, 2);
done:
    free(x);
    gbuf_free(&b[0]);
    gbuf_free(&b[1]);
}

/* ------------------------------------------------------------ dequant */

static void case_dequant(runner *r, int index, int64_t rows, int64_t cols, int adv)
{
    kvc_equiv_case c;
    case_init(&c, "dequant/%lldx%lld/%s", (long long)rows, (long long)cols, variant(adv));
    rng g = rng_for(r->opt->seed, KVC_EQUIV_DEQUANT, index);
    int64_t n = rows * cols, sr = (rows + 127) / 128, sc = (cols + 127) / 128;
    uint8_t *w = (uint8_t *)malloc((size_t)n);
    uint8_t *scale = (uint8_t *)malloc((size_t)(sr * sc));
    gbuf b[2] = {{NULL, 0}, {NULL, 0}};
    void *y[2] = {NULL, NULL};
    if (w == NULL || scale == NULL) {
        nomem(r, c.id);
        goto done;
    }
    /* no NaN codes (E4M3 0x7F / 0xFF, E8M0 0xFF): a NaN product's bits
     * are the hardware's (see v4/equiv.h) */
    for (int64_t i = 0; i < n; i++) {
        uint8_t v = (uint8_t)rnext(&g);
        if ((v & 0x7Fu) == 0x7Fu)
            v ^= 1u; /* 0x7E: +-448 */
        w[i] = v;
    }
    for (int64_t i = 0; i < sr * sc; i++) {
        uint64_t q = rnext(&g);
        if (!adv) {
            scale[i] = (uint8_t)(110 + q % 30);
        } else {
            /* the extremes: 2^-127 (subnormal), 2^-126, 2^0, 2^127 (overflow to inf) */
            static const uint8_t ends[5] = {0x00, 0x01, 0x7F, 0xFE, 0xFD};
            scale[i] = (q >> 32) % 2 ? ends[q % 5] : (uint8_t)(q % 0xFF);
        }
    }
    if (r->opt->ref_dequant == NULL || r->opt->test_dequant == NULL) {
        add_problem(&c, "no dequantization function given");
        finish(r, &c, y, 0, 4);
        goto done;
    }
    for (int s = 0; s < 2; s++) {
        kvc_error e;
        kvc_error_clear(&e);
        y[s] = gbuf_alloc(&b[s], sizeof(float) * (size_t)n);
        if (y[s] == NULL) {
            nomem(r, c.id);
            goto done;
        }
        kvc_equiv_dequant_fn fn = s == 0 ? r->opt->ref_dequant : r->opt->test_dequant;
        void *arg = s == 0 ? r->opt->ref_dequant_arg : r->opt->test_dequant_arg;
        if (fn(arg, w, rows, cols, scale, sr, sc, (float *)y[s], &e) != KVC_OK)
            call_failed(&c, r, s, &e);
        guard_check(&c, r, s, &b[s], "out");
    }
    finish(r, &c, y, n, 4);
done:
    free(w);
    free(scale);
    gbuf_free(&b[0]);
    gbuf_free(&b[1]);
}

/* ------------------------------------------------------------ the cases */

static void run_matmul(runner *r)
{
    static const int64_t big[][3] = {{2048, 4096, 512}, {2048, 4096, 1024}};
    static const int64_t odd[][3] = {{1, 1, 1},     {3, 5, 7},     {127, 129, 131},
                                     {1, 4096, 512}, {130, 8, 260}, {64, 64, 64},
                                     {200, 12, 33}, {129, 4096, 65}, {257, 7, 129}};
    int idx = 0;
    if (r->opt->large)
        for (size_t i = 0; i < sizeof big / sizeof big[0] && r->fatal == KVC_OK; i++)
            case_matmul(r, idx++, big[i][0], big[i][1], big[i][2], 0);
    for (size_t i = 0; i < sizeof odd / sizeof odd[0] && r->fatal == KVC_OK; i++)
        for (int adv = 0; adv < 2 && r->fatal == KVC_OK; adv++)
            case_matmul(r, idx++, odd[i][0], odd[i][1], odd[i][2], adv);
}

static void run_round(runner *r)
{
    static const int64_t ns[] = {1, 7, 1000003};
    int idx = 0;
    if (r->opt->large)
        case_round(r, idx++, 2048 * 512, 0);
    for (size_t i = 0; i < sizeof ns / sizeof ns[0] && r->fatal == KVC_OK; i++)
        for (int adv = 0; adv < 2 && r->fatal == KVC_OK; adv++)
            case_round(r, idx++, ns[i], adv);
}

static void run_act_quant(runner *r)
{
    static const int64_t odd[][2] = {{1, 128}, {3, 128}, {5, 384}, {64, 4096}};
    int idx = 0;
    if (r->opt->large)
        case_act_quant(r, idx++, 2048, 4096, 0);
    for (size_t i = 0; i < sizeof odd / sizeof odd[0] && r->fatal == KVC_OK; i++)
        for (int adv = 0; adv < 2 && r->fatal == KVC_OK; adv++)
            case_act_quant(r, idx++, odd[i][0], odd[i][1], adv);
}

static void run_rmsnorm(runner *r)
{
    static const int64_t big[][2] = {{2048, 512}, {512, 512}, {16, 512}};
    static const int64_t odd[][2] = {{1, 1}, {3, 7}, {127, 129}, {33, 512}, {5, 4096}};
    int idx = 0;
    if (r->opt->large)
        for (size_t i = 0; i < sizeof big / sizeof big[0] && r->fatal == KVC_OK; i++)
            case_rmsnorm(r, idx++, big[i][0], big[i][1], 0);
    for (size_t i = 0; i < sizeof odd / sizeof odd[0] && r->fatal == KVC_OK; i++)
        for (int adv = 0; adv < 2 && r->fatal == KVC_OK; adv++)
            case_rmsnorm(r, idx++, odd[i][0], odd[i][1], adv);
}

static void run_rope(runner *r)
{
    static const rope_shape big[] = {{2048, 512, 448, 32, 1, 0},
                                      {512, 512, 448, 32, 4, 1},
                                      {16, 512, 448, 32, 128, 1}};
    static const rope_shape odd[] = {{1, 2, 0, 1, 0, 2},      {3, 7, 1, 3, 5, 2},
                                      {127, 129, 0, 64, 2, 2}, {33, 512, 448, 32, 1, 0},
                                      {40, 512, 448, 32, 4096, 1}};
    int idx = 0;
    if (r->opt->large)
        for (size_t i = 0; i < sizeof big / sizeof big[0] && r->fatal == KVC_OK; i++)
            case_rope(r, idx++, &big[i], 0);
    for (size_t i = 0; i < sizeof odd / sizeof odd[0] && r->fatal == KVC_OK; i++)
        for (int adv = 0; adv < 2 && r->fatal == KVC_OK; adv++)
            case_rope(r, idx++, &odd[i], adv);
}

static void run_pool(runner *r)
{
    static const int64_t big[][4] = {{2048, 4, 1, 512}, {2048, 128, 0, 512}};
    static const int64_t odd[][4] = {{4, 4, 1, 1},   {8, 4, 1, 3},     {5, 1, 0, 7},
                                     {12, 3, 0, 129}, {256, 128, 1, 5}, {256, 256, 0, 2},
                                     {64, 4, 1, 512}};
    int idx = 0;
    if (r->opt->large)
        for (size_t i = 0; i < sizeof big / sizeof big[0] && r->fatal == KVC_OK; i++)
            case_pool(r, idx++, big[i][0], big[i][1], (int)big[i][2], big[i][3], 0);
    for (size_t i = 0; i < sizeof odd / sizeof odd[0] && r->fatal == KVC_OK; i++)
        for (int adv = 0; adv < 2 && r->fatal == KVC_OK; adv++)
            case_pool(r, idx++, odd[i][0], odd[i][1], (int)odd[i][2], odd[i][3], adv);
}

static void run_kvsim(runner *r)
{
    static const int64_t odd[][3] = {{1, 64, 64}, {3, 70, 64}, {127, 129, 128}, {50, 512, 448}};
    int idx = 0;
    for (int kind = 0; kind < 3 && r->fatal == KVC_OK; kind++) {
        if (r->opt->large)
            case_kvsim(r, idx++, 2048, 512, 448, (kvc_kvsim_kind)kind, 0);
        for (size_t i = 0; i < sizeof odd / sizeof odd[0] && r->fatal == KVC_OK; i++)
            for (int adv = 0; adv < 2 && r->fatal == KVC_OK; adv++)
                case_kvsim(r, idx++, odd[i][0], odd[i][1], odd[i][2], (kvc_kvsim_kind)kind, adv);
    }
}

static void run_dequant(runner *r)
{
    static const int64_t odd[][2] = {{1, 1}, {130, 257}, {129, 128}, {3, 4099}};
    int idx = 0;
    if (r->opt->large) {
        case_dequant(r, idx++, 512, 4096, 0);
        case_dequant(r, idx++, 1024, 4096, 0);
    }
    for (size_t i = 0; i < sizeof odd / sizeof odd[0] && r->fatal == KVC_OK; i++)
        for (int adv = 0; adv < 2 && r->fatal == KVC_OK; adv++)
            case_dequant(r, idx++, odd[i][0], odd[i][1], adv);
}

/* ------------------------------------------------------------ codecs */

/* A Gaussian-like value: the sum of four uniforms in [-1, 1) (no libm). */
static float f_gauss(rng *g)
{
    double s = 0.0;
    for (int k = 0; k < 4; k++)
        s += (double)(rnext(g) >> 11) * 0x1p-52 - 1.0;
    return (float)s;
}

/* Every norm stays below 32768 (D <= 1024): a norm past fp16's 65504 makes
 * n^ = inf and x^ = inf * 0 = NaN, whose bits are the hardware's (x86
 * 0xFFC00000, NVIDIA 0x7FFFFFFF), outside the contract (v4/equiv.h).
 * Vector v of [n, d] (kinds by v % 8 when adv, else Gaussian-like with
 * a few heavy-tailed rows):
 *   0 Gaussian-like, 1 heavy-tailed (2^e, e in -24..9), 2 zero,
 *   3 tiny norm (2^-120 scale, below the 2^-23 floor), 4 large norm (2^10),
 *   5 H of chosen lattice targets in [-Q, Q] (integers and halves, with
 *     +-Q present) so the scaled image sits on and between the points,
 *   6 one-hot, 7 all equal. */
static void fill_vectors(rng *g, float *x, int64_t n, int d, int q, int adv)
{
    for (int64_t v = 0; v < n; v++) {
        float *r = x + v * d;
        int kind = adv ? (int)(v % 8) : ((v % 5 == 4) ? 1 : 0);
        switch (kind) {
        case 0:
            for (int i = 0; i < d; i++)
                r[i] = f_gauss(g);
            break;
        case 1:
            for (int i = 0; i < d; i++)
                r[i] = f_normal(g, -24, 9);
            break;
        case 2:
            for (int i = 0; i < d; i++)
                r[i] = (i & 1) ? -0.0f : 0.0f;
            break;
        case 3:
            for (int i = 0; i < d; i++)
                r[i] = f_gauss(g) * 0x1p-120f;
            break;
        case 4:
            for (int i = 0; i < d; i++)
                r[i] = f_gauss(g) * 0x1p10f;
            break;
        case 5: {
            for (int i = 0; i < d; i++) {
                uint64_t u = rnext(g);
                float t = (float)((int64_t)(u % (uint64_t)(2 * q + 1)) - q);
                if ((u >> 40) & 1 && t < (float)q)
                    t += 0.5f;
                r[i] = t;
            }
            r[(int)(rnext(g) % (uint64_t)d)] = (rnext(g) & 1) ? (float)q : -(float)q;
            kvc_hadamard_f32(r, d, kvc_hadamard_scale(d));
            break;
        }
        case 6:
            for (int i = 0; i < d; i++)
                r[i] = 0.0f;
            r[(int)(rnext(g) % (uint64_t)d)] = f_normal(g, -30, 14);
            break;
        default: {
            float c = f_normal(g, -10, 9);
            for (int i = 0; i < d; i++)
                r[i] = c;
            break;
        }
        }
    }
}

typedef enum codec_what { CW_ROUNDTRIP, CW_ENCODE, CW_DECODE } codec_what;

static void case_codec(runner *r, kvc_equiv_op op, int index, kvc_codec_kind kind, int d, int q,
                       int64_t n, int adv)
{
    kvc_equiv_case c;
    case_init(&c, "%s/%s/D%d/Q%d/n%lld/%s", op_names[op], kind == KVC_CODEC_E8 ? "e8" : "d4",
              d, q, (long long)n, variant(adv));
    rng g = rng_for(r->opt->seed, (int)op, index);
    kvc_kakeya_params p;
    size_t ssize = 0, cnt = (size_t)n * (size_t)d;
    float *x = NULL;
    uint8_t *stream = NULL;
    gbuf b[2] = {{NULL, 0}, {NULL, 0}};
    void *y[2] = {NULL, NULL};
    if (kvc_kakeya_params_init(&p, kind, d, q, NULL) != KVC_OK) {
        add_problem(&c, "bad codec parameters");
        finish(r, &c, y, 0, 4);
        return;
    }
    if (op != KVC_EQUIV_CODEC_ROUNDTRIP)
        (void)kvc_kakeya_stream_size(&p, (size_t)n, &ssize, NULL);
    x = (float *)malloc(cnt * sizeof *x + 1);
    stream = (uint8_t *)malloc(ssize + 1);
    if (x == NULL || stream == NULL) {
        nomem(r, c.id);
        goto done;
    }
    fill_vectors(&g, x, n, d, q, adv);
    if (op == KVC_EQUIV_CODEC_DECODE) { /* the decoder's input: the reference's stream */
        kvc_error e;
        kvc_error_clear(&e);
        if (r->be[0]->codec_encode(r->be[0], &p, x, n, stream, ssize, &e) != KVC_OK)
            call_failed(&c, r, 0, &e);
    }
    for (int s = 0; s < 2; s++) {
        kvc_error e;
        kvc_error_clear(&e);
        size_t bytes = op == KVC_EQUIV_CODEC_ENCODE ? ssize : cnt * sizeof(float);
        y[s] = gbuf_alloc(&b[s], bytes);
        if (y[s] == NULL) {
            nomem(r, c.id);
            goto done;
        }
        kvc_status st;
        if (r->be[s]->codec_roundtrip == NULL)
            st = kvc_error_set(&e, KVC_BACKEND_UNAVAILABLE, "no codec operations");
        else if (op == KVC_EQUIV_CODEC_ROUNDTRIP)
            st = r->be[s]->codec_roundtrip(r->be[s], &p, x, n, (float *)y[s], &e);
        else if (op == KVC_EQUIV_CODEC_ENCODE)
            st = r->be[s]->codec_encode(r->be[s], &p, x, n, (uint8_t *)y[s], ssize, &e);
        else
            st = r->be[s]->codec_decode(r->be[s], &p, stream, ssize, n, (float *)y[s], &e);
        if (st != KVC_OK)
            call_failed(&c, r, s, &e);
        guard_check(&c, r, s, &b[s], op == KVC_EQUIV_CODEC_ENCODE ? "stream" : "out");
    }
    if (op == KVC_EQUIV_CODEC_ENCODE)
        finish(r, &c, y, (int64_t)ssize, 1);
    else
        finish(r, &c, y, (int64_t)cnt, 4);
done:
    free(x);
    free(stream);
    gbuf_free(&b[0]);
    gbuf_free(&b[1]);
}

/* A corrupted stream: both backends must refuse it with the same status
 * and message (the first impossible record). */
static void case_codec_corrupt(runner *r, int index, kvc_codec_kind kind, int q)
{
    kvc_equiv_case c;
    case_init(&c, "codec_decode/%s/D512/Q%d/corrupt", kind == KVC_CODEC_E8 ? "e8" : "d4", q);
    rng g = rng_for(r->opt->seed, KVC_EQUIV_CODEC_DECODE, 1000 + index);
    kvc_kakeya_params p;
    const int64_t n = 64;
    size_t ssize = 0;
    void *y[2] = {NULL, NULL};
    float *out = NULL;
    uint8_t *stream = NULL;
    if (kvc_kakeya_params_init(&p, kind, 512, q, NULL) != KVC_OK ||
        kvc_kakeya_stream_size(&p, (size_t)n, &ssize, NULL) != KVC_OK) {
        add_problem(&c, "bad codec parameters");
        finish(r, &c, y, 0, 4);
        return;
    }
    stream = (uint8_t *)malloc(ssize);
    out = (float *)malloc(sizeof(float) * 512 * (size_t)n);
    if (stream == NULL || out == NULL) {
        nomem(r, c.id);
        goto done;
    }
    for (size_t i = 0; i < ssize; i++)
        stream[i] = (uint8_t)rnext(&g);
    static char msg[2][512];
    kvc_status st[2];
    memset(msg, 0, sizeof msg);
    for (int s = 0; s < 2; s++) {
        kvc_error e;
        kvc_error_clear(&e);
        st[s] = r->be[s]->codec_decode(r->be[s], &p, stream, ssize, n, out, &e);
        kvc_error_format(&e, msg[s], sizeof msg[s]);
    }
    if (st[0] != st[1] || strcmp(msg[0], msg[1]) != 0)
        add_problem(&c, "statuses differ: %s: [%s] vs %s: [%s]", r->be[0]->name, msg[0],
                    r->be[1]->name, msg[1]);
    /* compare the two messages as the outputs */
    y[0] = msg[0];
    y[1] = msg[1];
    finish(r, &c, y, (int64_t)sizeof msg[0], 1);
done:
    free(stream);
    free(out);
}

/* A valid stream (the reference's encoder) of 64 vectors of D, then
 * vector `late` made impossible: its n^ set to 0 (scalars) when field is
 * 0, else its block index `field - 2` set to all ones (at least |I u H|
 * unless that is a power of two, then the stream stays valid and both
 * backends must decode it alike). Also vector late + 9 (a later bad
 * record must not win: the smallest index is reported). The GPU decodes
 * records in parallel, so this checks its first-bad reduction. */
static void case_codec_bad_late(runner *r, int index, kvc_codec_kind kind, int d, int q,
                                int late, int field)
{
    kvc_equiv_case c;
    case_init(&c, "codec_decode/%s/D%d/Q%d/bad%d.f%d", kind == KVC_CODEC_E8 ? "e8" : "d4", d, q,
              late, field);
    rng g = rng_for(r->opt->seed, KVC_EQUIV_CODEC_DECODE, 2000 + index);
    kvc_kakeya_params p;
    const int64_t n = 64;
    size_t ssize = 0;
    void *y[2] = {NULL, NULL};
    float *x = NULL, *out = NULL;
    uint8_t *stream = NULL;
    if (kvc_kakeya_params_init(&p, kind, d, q, NULL) != KVC_OK ||
        kvc_kakeya_stream_size(&p, (size_t)n, &ssize, NULL) != KVC_OK) {
        add_problem(&c, "bad codec parameters");
        finish(r, &c, y, 0, 4);
        return;
    }
    stream = (uint8_t *)malloc(ssize);
    x = (float *)malloc(sizeof(float) * (size_t)d * (size_t)n);
    out = (float *)malloc(sizeof(float) * (size_t)d * (size_t)n);
    if (stream == NULL || x == NULL || out == NULL) {
        nomem(r, c.id);
        goto done;
    }
    fill_vectors(&g, x, n, d, q, 0);
    {
        kvc_error e;
        kvc_error_clear(&e);
        if (r->be[0]->codec_encode(r->be[0], &p, x, n, stream, ssize, &e) != KVC_OK)
            call_failed(&c, r, 0, &e);
    }
    for (int v = late; v < n; v += 9) {
        uint64_t pos = (uint64_t)v * (uint64_t)p.vector_bits + kvc_kakeya_field_off(&p, field);
        int w = kvc_kakeya_field_bits(&p, field);
        for (int t = 0; t < w; t++) { /* n^ = 0, or an index of all ones */
            uint64_t bit = pos + (uint64_t)t;
            if (field == 0)
                stream[bit / 8] = (uint8_t)(stream[bit / 8] & ~(1u << (bit % 8)));
            else
                stream[bit / 8] = (uint8_t)(stream[bit / 8] | (1u << (bit % 8)));
        }
        if (v >= late + 9)
            break;
    }
    static char msg[2][512];
    kvc_status st[2];
    memset(msg, 0, sizeof msg);
    for (int s = 0; s < 2; s++) {
        kvc_error e;
        kvc_error_clear(&e);
        st[s] = r->be[s]->codec_decode(r->be[s], &p, stream, ssize, n, out, &e);
        kvc_error_format(&e, msg[s], sizeof msg[s]);
    }
    if (st[0] != st[1] || strcmp(msg[0], msg[1]) != 0)
        add_problem(&c, "statuses differ: %s: [%s] vs %s: [%s]", r->be[0]->name, msg[0],
                    r->be[1]->name, msg[1]);
    y[0] = msg[0];
    y[1] = msg[1];
    finish(r, &c, y, (int64_t)sizeof msg[0], 1);
done:
    free(stream);
    free(x);
    free(out);
}

/* The GPU's warp path's edges (D = 32, 64, 256; n = 1, 2, 3; small Q,
 * where vector_bits % 8 != 0 and a byte holds parts of several fields)
 * and late bad records; indexes 500.. so that the cases above keep
 * their inputs. */
static void run_codec_edges(runner *r, kvc_equiv_op op)
{
    static const int qs[] = {1, 2, 38};
    static const int dims[] = {32, 64, 256};
    int idx = 500;
    for (int k = 0; k < 2 && r->fatal == KVC_OK; k++) {
        kvc_codec_kind kind = k ? KVC_CODEC_E8 : KVC_CODEC_D4;
        for (size_t qi = 0; qi < sizeof qs / sizeof qs[0]; qi++)
            for (size_t di = 0; di < sizeof dims / sizeof dims[0] && r->fatal == KVC_OK; di++)
                for (int64_t n = 1; n <= 3 && r->fatal == KVC_OK; n++)
                    case_codec(r, op, idx++, kind, dims[di], qs[qi], n, (int)(n == 2));
        if (op != KVC_EQUIV_CODEC_DECODE)
            continue;
        for (int f = 0; f < 3 && r->fatal == KVC_OK; f += 2) {
            case_codec_bad_late(r, 2 * k + f, kind, 512, 38, 37, f);
            case_codec_bad_late(r, 8 + 2 * k + f, kind, 32, 1, 5, f);
        }
    }
}

static void run_codec(runner *r, kvc_equiv_op op)
{
    static const int qs[] = {1, 10, 38, 126, 200};
    static const int dims[] = {8, 128, 512, 1024};
    int idx = 0;
    for (int k = 0; k < 2 && r->fatal == KVC_OK; k++) {
        kvc_codec_kind kind = k ? KVC_CODEC_E8 : KVC_CODEC_D4;
        for (size_t qi = 0; qi < sizeof qs / sizeof qs[0]; qi++) {
            if (op != KVC_EQUIV_CODEC_ROUNDTRIP && qs[qi] > KVC_KAKEYA_BITSTREAM_Q_MAX)
                continue;
            for (size_t di = 0; di < sizeof dims / sizeof dims[0] && r->fatal == KVC_OK; di++) {
                int64_t n = dims[di] > 512 ? 24 : (dims[di] == 8 ? 301 : 67);
                for (int adv = 0; adv < 2 && r->fatal == KVC_OK; adv++)
                    case_codec(r, op, idx++, kind, dims[di], qs[qi], n, adv);
            }
        }
        if (op == KVC_EQUIV_CODEC_DECODE && r->fatal == KVC_OK)
            case_codec_corrupt(r, k, kind, 38);
    }
    if (r->fatal == KVC_OK)
        run_codec_edges(r, op);
    if (r->opt->large && r->fatal == KVC_OK)
        case_codec(r, op, idx++, KVC_CODEC_E8, 512, 38, 65536, 0);
}

static void run_codec_roundtrip(runner *r)
{
    run_codec(r, KVC_EQUIV_CODEC_ROUNDTRIP);
}

static void run_codec_encode(runner *r)
{
    run_codec(r, KVC_EQUIV_CODEC_ENCODE);
}

static void run_codec_decode(runner *r)
{
    run_codec(r, KVC_EQUIV_CODEC_DECODE);
}

static void case_fp8(runner *r, kvc_equiv_op op, int index, int64_t n, int adv)
{
    kvc_equiv_case c;
    case_init(&c, "%s/n%lld/%s", op_names[op], (long long)n, variant(adv));
    rng g = rng_for(r->opt->seed, (int)op, index);
    size_t cnt = (size_t)n * KVC_FP8_DIM;
    float *x = (float *)malloc(cnt * sizeof *x);
    gbuf b[2] = {{NULL, 0}, {NULL, 0}};
    void *y[2] = {NULL, NULL};
    if (x == NULL) {
        nomem(r, c.id);
        goto done;
    }
    fill_vectors(&g, x, n, KVC_FP8_DIM, 448, adv);
    if (adv) /* add the adversarial scalars of the V4 ops (finite, |x| < 2^100) */
        for (size_t i = 0; i < cnt; i += 7)
            x[i] = f_adv(&g, 100);
    for (int s = 0; s < 2; s++) {
        kvc_error e;
        kvc_error_clear(&e);
        y[s] = gbuf_alloc(&b[s], cnt * sizeof(float));
        if (y[s] == NULL) {
            nomem(r, c.id);
            goto done;
        }
        kvc_status st;
        if (r->be[s]->fp8_per64 == NULL)
            st = kvc_error_set(&e, KVC_BACKEND_UNAVAILABLE, "no fp8 operations");
        else if (op == KVC_EQUIV_FP8_PER64)
            st = r->be[s]->fp8_per64(r->be[s], x, n, (float *)y[s], &e);
        else
            st = r->be[s]->fp8_ds_mla(r->be[s], x, n, (float *)y[s], &e);
        if (st != KVC_OK)
            call_failed(&c, r, s, &e);
        guard_check(&c, r, s, &b[s], "out");
    }
    finish(r, &c, y, (int64_t)cnt, 4);
done:
    free(x);
    gbuf_free(&b[0]);
    gbuf_free(&b[1]);
}

static void run_fp8_per64(runner *r)
{
    for (int adv = 0; adv < 2 && r->fatal == KVC_OK; adv++) {
        case_fp8(r, KVC_EQUIV_FP8_PER64, 2 * adv, 1, adv);
        case_fp8(r, KVC_EQUIV_FP8_PER64, 2 * adv + 1, 333, adv);
    }
}

static void run_fp8_ds_mla(runner *r)
{
    for (int adv = 0; adv < 2 && r->fatal == KVC_OK; adv++) {
        case_fp8(r, KVC_EQUIV_FP8_DS_MLA, 2 * adv, 1, adv);
        case_fp8(r, KVC_EQUIV_FP8_DS_MLA, 2 * adv + 1, 333, adv);
    }
}

/* ------------------------------------------------------------ statistics */

/* x [n, d]; xhat = x perturbed (a different value in every element but
 * some rows equal, a zero row pair when adv). */
static void case_stats(runner *r, kvc_equiv_op op, int index, int64_t n, int d, int adv)
{
    kvc_equiv_case c;
    case_init(&c, "%s/%lldx%d/%s", op_names[op], (long long)n, d, variant(adv));
    rng g = rng_for(r->opt->seed, (int)op, index);
    size_t cnt = (size_t)n * (size_t)d;
    size_t outn = op == KVC_EQUIV_RECON_METRICS ? 4 : (op == KVC_EQUIV_COLUMN_MOMENTS ? 3 * (size_t)d : (size_t)d);
    float *x = (float *)malloc(cnt * sizeof *x);
    float *xh = (float *)malloc(cnt * sizeof *xh);
    double *a = (double *)malloc(cnt * sizeof *a);
    gbuf b[2] = {{NULL, 0}, {NULL, 0}};
    void *y[2] = {NULL, NULL};
    if (x == NULL || xh == NULL || a == NULL) {
        nomem(r, c.id);
        goto done;
    }
    for (int64_t v = 0; v < n; v++) {
        for (int j = 0; j < d; j++) {
            float t = adv && (v % 3 == 1) ? f_normal(&g, -20, 20) : f_gauss(&g);
            x[v * d + j] = t * (float)(1 + j % 5); /* anisotropic columns */
            xh[v * d + j] = (adv && v % 4 == 2) ? x[v * d + j] : x[v * d + j] + 0.01f * f_gauss(&g);
        }
        if (adv && v % 9 == 3)
            for (int j = 0; j < d; j++)
                x[v * d + j] = xh[v * d + j] = 0.0f;
    }
    for (size_t i = 0; i < cnt; i++) {
        double t = (double)x[i];
        if (adv && (i % 11 == 0))
            t = (i % 22 == 0) ? -0.0 : 0.0; /* signed zeros: -0 sorts first */
        if (adv && (i % 13 == 0))
            t = 1.5; /* ties */
        a[i] = t;
    }
    for (int s = 0; s < 2; s++) {
        kvc_error e;
        kvc_error_clear(&e);
        y[s] = gbuf_alloc(&b[s], outn * sizeof(double));
        if (y[s] == NULL) {
            nomem(r, c.id);
            goto done;
        }
        double *o = (double *)y[s];
        const kvc_backend *be = r->be[s];
        kvc_status st;
        if (be->recon_metrics == NULL) {
            st = kvc_error_set(&e, KVC_BACKEND_UNAVAILABLE, "no statistics operations");
        } else if (op == KVC_EQUIV_RECON_METRICS) {
            kvc_recon_metrics m;
            st = be->recon_metrics(be, x, xh, n, d, &m, &e);
            o[0] = m.sse;
            o[1] = m.sst;
            o[2] = m.rel_mse;
            o[3] = m.cos_sim;
        } else if (op == KVC_EQUIV_COLUMN_MOMENTS) {
            st = be->column_moments(be, x, n, d, o, o + d, o + 2 * d, &e);
        } else {
            st = be->column_quantile(be, a, n, d, 0.99, o, &e);
        }
        if (st != KVC_OK)
            call_failed(&c, r, s, &e);
        guard_check(&c, r, s, &b[s], "out");
    }
    finish(r, &c, y, (int64_t)outn * 2, 4);
done:
    free(x);
    free(xh);
    free(a);
    gbuf_free(&b[0]);
    gbuf_free(&b[1]);
}

static void run_stats(runner *r, kvc_equiv_op op)
{
    /* up to 2048 rows the GPU quantile sorts a column in one block; 2049
     * and 5000 take its segmented sort */
    static const int64_t shapes[][2] = {{1, 1},      {31, 7},  {33, 64},  {1000, 33},
                                        {2048, 512}, {2049, 3}, {5000, 17}};
    int idx = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0] && r->fatal == KVC_OK; i++)
        for (int adv = 0; adv < 2 && r->fatal == KVC_OK; adv++)
            case_stats(r, op, idx++, shapes[i][0], (int)shapes[i][1], adv);
}

static void run_recon(runner *r)
{
    run_stats(r, KVC_EQUIV_RECON_METRICS);
}

static void run_moments(runner *r)
{
    run_stats(r, KVC_EQUIV_COLUMN_MOMENTS);
}

static void run_quantile(runner *r)
{
    run_stats(r, KVC_EQUIV_COLUMN_QUANTILE);
}

/* ------------------------------------------------------------ chaining helpers */

static kvc_status missing(kvc_error *e, const char *what)
{
    return kvc_error_set(e, KVC_BACKEND_UNAVAILABLE, "no %s operation", what);
}

/* all = 1: the 65536 bf16 patterns in order (NaN included: the widening
 * is a bit shift, so NaN bits are part of the contract); else n random ones. */
static void case_widen(runner *r, int index, int64_t n, int all)
{
    kvc_equiv_case c;
    case_init(&c, "widen_bf16/%lld/%s", (long long)n, all ? "every-pattern" : "random");
    rng g = rng_for(r->opt->seed, KVC_EQUIV_WIDEN_BF16, index);
    uint16_t *x = (uint16_t *)malloc(sizeof(uint16_t) * (size_t)n + 1);
    gbuf b[2] = {{NULL, 0}, {NULL, 0}};
    void *y[2] = {NULL, NULL};
    if (x == NULL) {
        nomem(r, c.id);
        goto done;
    }
    for (int64_t i = 0; i < n; i++)
        x[i] = all ? (uint16_t)i : (uint16_t)rnext(&g);
    for (int s = 0; s < 2; s++) {
        kvc_error e;
        kvc_error_clear(&e);
        y[s] = gbuf_alloc(&b[s], sizeof(float) * (size_t)n);
        if (y[s] == NULL) {
            nomem(r, c.id);
            goto done;
        }
        const kvc_backend *be = r->be[s];
        kvc_status st = be->widen_bf16 == NULL ? missing(&e, "widen_bf16")
                                               : be->widen_bf16(be, x, n, (float *)y[s], &e);
        if (st != KVC_OK)
            call_failed(&c, r, s, &e);
        guard_check(&c, r, s, &b[s], "out");
    }
    finish(r, &c, y, n, 4);
done:
    free(x);
    gbuf_free(&b[0]);
    gbuf_free(&b[1]);
}

static void run_widen(runner *r)
{
    case_widen(r, 0, 1, 0);
    if (r->fatal == KVC_OK)
        case_widen(r, 1, 1001, 0);
    if (r->fatal == KVC_OK)
        case_widen(r, 2, 65536, 1);
}

/* Rows of x [n, d]; inplace: out == x. Adversarial magnitudes stay below
 * 2^101, so the 12 doublings of d = 4096 stay finite. */
static void case_hadamard(runner *r, int index, int64_t n, int d, int adv, int inplace)
{
    kvc_equiv_case c;
    case_init(&c, "hadamard_rows/%lldx%d/%s%s", (long long)n, d, variant(adv),
              inplace ? "/in-place" : "");
    rng g = rng_for(r->opt->seed, KVC_EQUIV_HADAMARD_ROWS, index);
    size_t cnt = (size_t)n * (size_t)d;
    float *x = (float *)malloc(cnt * sizeof *x + 1);
    gbuf b[2] = {{NULL, 0}, {NULL, 0}};
    void *y[2] = {NULL, NULL};
    if (x == NULL) {
        nomem(r, c.id);
        goto done;
    }
    fill_f32(&g, x, (int64_t)cnt, adv, 100);
    if (adv)
        zero_rows_f32(x, n, d);
    for (int s = 0; s < 2; s++) {
        kvc_error e;
        kvc_error_clear(&e);
        y[s] = gbuf_alloc(&b[s], cnt * sizeof(float));
        if (y[s] == NULL) {
            nomem(r, c.id);
            goto done;
        }
        const kvc_backend *be = r->be[s];
        const float *in = x;
        if (inplace) {
            memcpy(y[s], x, cnt * sizeof(float));
            in = (const float *)y[s];
        }
        kvc_status st = be->hadamard_rows == NULL
                            ? missing(&e, "hadamard_rows")
                            : be->hadamard_rows(be, in, n, d, (float *)y[s], &e);
        if (st != KVC_OK)
            call_failed(&c, r, s, &e);
        guard_check(&c, r, s, &b[s], "out");
    }
    finish(r, &c, y, (int64_t)cnt, 4);
done:
    free(x);
    gbuf_free(&b[0]);
    gbuf_free(&b[1]);
}

static void run_hadamard(runner *r)
{
    static const int64_t shapes[][2] = {{1, 2}, {3, 4}, {5, 8}, {7, 64}, {9, 512},
                                        {3, 4096}, {2048, 512}};
    int idx = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0] && r->fatal == KVC_OK; i++)
        for (int adv = 0; adv < 2 && r->fatal == KVC_OK; adv++)
            case_hadamard(r, idx++, shapes[i][0], (int)shapes[i][1], adv, 0);
    if (r->fatal == KVC_OK)
        case_hadamard(r, idx++, 33, 512, 1, 1);
}

/* y [n, d] binary32 and sigma [d] > 0 (binary64, magnitudes 2^-60..2^61). */
static void case_abs_scaled(runner *r, int index, int64_t n, int d, int adv)
{
    kvc_equiv_case c;
    case_init(&c, "abs_scaled/%lldx%d/%s", (long long)n, d, variant(adv));
    rng g = rng_for(r->opt->seed, KVC_EQUIV_ABS_SCALED, index);
    size_t cnt = (size_t)n * (size_t)d;
    float *y = (float *)malloc(cnt * sizeof *y + 1);
    double *sigma = (double *)malloc((size_t)d * sizeof *sigma);
    gbuf b[2] = {{NULL, 0}, {NULL, 0}};
    void *o[2] = {NULL, NULL};
    if (y == NULL || sigma == NULL) {
        nomem(r, c.id);
        goto done;
    }
    fill_f32(&g, y, (int64_t)cnt, adv, 120);
    for (int j = 0; j < d; j++) {
        double t = (double)f_normal(&g, adv ? -60 : -3, adv ? 60 : 3);
        sigma[j] = t < 0 ? -t : t;
    }
    for (int s = 0; s < 2; s++) {
        kvc_error e;
        kvc_error_clear(&e);
        o[s] = gbuf_alloc(&b[s], cnt * sizeof(double));
        if (o[s] == NULL) {
            nomem(r, c.id);
            goto done;
        }
        const kvc_backend *be = r->be[s];
        kvc_status st = be->abs_scaled == NULL
                            ? missing(&e, "abs_scaled")
                            : be->abs_scaled(be, y, n, d, sigma, (double *)o[s], &e);
        if (st != KVC_OK)
            call_failed(&c, r, s, &e);
        guard_check(&c, r, s, &b[s], "out");
    }
    finish(r, &c, o, (int64_t)cnt * 2, 4);
done:
    free(y);
    free(sigma);
    gbuf_free(&b[0]);
    gbuf_free(&b[1]);
}

static void run_abs_scaled(runner *r)
{
    static const int64_t shapes[][2] = {{1, 1}, {31, 7}, {2048, 512}};
    int idx = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0] && r->fatal == KVC_OK; i++)
        for (int adv = 0; adv < 2 && r->fatal == KVC_OK; adv++)
            case_abs_scaled(r, idx++, shapes[i][0], (int)shapes[i][1], adv);
}

/* a, b of nwords random words, b differing from a at `at` (-1: nowhere)
 * and, when more, also at a few later words. */
static void case_first_diff(runner *r, int index, int64_t nwords, int64_t at, int more)
{
    kvc_equiv_case c;
    case_init(&c, "first_difference/%lld/at%lld%s", (long long)nwords, (long long)at,
              more ? "+more" : "");
    rng g = rng_for(r->opt->seed, KVC_EQUIV_FIRST_DIFFERENCE, index);
    uint32_t *a = (uint32_t *)malloc(sizeof(uint32_t) * (size_t)nwords + 1);
    uint32_t *bw = (uint32_t *)malloc(sizeof(uint32_t) * (size_t)nwords + 1);
    gbuf b[2] = {{NULL, 0}, {NULL, 0}};
    void *o[2] = {NULL, NULL};
    if (a == NULL || bw == NULL) {
        nomem(r, c.id);
        goto done;
    }
    for (int64_t i = 0; i < nwords; i++)
        a[i] = bw[i] = (uint32_t)rnext(&g);
    if (at >= 0) {
        bw[at] ^= 1u << (rnext(&g) % 32);
        for (int k = 0; more && k < 5; k++) {
            int64_t j = at + 1 + (int64_t)(rnext(&g) % (uint64_t)(nwords - at));
            if (j < nwords)
                bw[j] ^= 0x80000000u;
        }
    }
    for (int s = 0; s < 2; s++) {
        kvc_error e;
        kvc_error_clear(&e);
        o[s] = gbuf_alloc(&b[s], sizeof(int64_t));
        if (o[s] == NULL) {
            nomem(r, c.id);
            goto done;
        }
        const kvc_backend *be = r->be[s];
        kvc_status st = be->first_difference == NULL
                            ? missing(&e, "first_difference")
                            : be->first_difference(be, a, bw, nwords, (int64_t *)o[s], &e);
        if (st != KVC_OK)
            call_failed(&c, r, s, &e);
        guard_check(&c, r, s, &b[s], "index");
    }
    finish(r, &c, o, 2, 4);
done:
    free(a);
    free(bw);
    gbuf_free(&b[0]);
    gbuf_free(&b[1]);
}

static void run_first_diff(runner *r)
{
    static const int64_t cases[][3] = {
        {0, -1, 0},      {1, -1, 0},      {1, 0, 0},         {1000, -1, 0},
        {1000, 0, 1},    {1000, 999, 0},  {1000, 517, 1},    {1 << 20, -1, 0},
        {1 << 20, 0, 1}, {1 << 20, (1 << 20) - 1, 0},        {1 << 20, 654321, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0] && r->fatal == KVC_OK; i++)
        case_first_diff(r, (int)i, cases[i][0], cases[i][1], (int)cases[i][2]);
}

/* fp8_ds_mla records: encode x on both; decode the reference's records
 * on both; a corrupted record set must fail alike on both. */
static void case_ds_mla(runner *r, kvc_equiv_op op, int index, int64_t n, int adv)
{
    kvc_equiv_case c;
    case_init(&c, "%s/n%lld/%s", op_names[op], (long long)n, variant(adv));
    rng g = rng_for(r->opt->seed, (int)op, index);
    size_t cnt = (size_t)n * KVC_FP8_DIM, rb = (size_t)n * KVC_FP8_DS_MLA_BYTES;
    float *x = (float *)malloc(cnt * sizeof *x + 1);
    uint8_t *rec = (uint8_t *)malloc(rb + 1);
    gbuf b[2] = {{NULL, 0}, {NULL, 0}};
    void *y[2] = {NULL, NULL};
    int enc = op == KVC_EQUIV_FP8_DS_MLA_ENCODE;
    if (x == NULL || rec == NULL) {
        nomem(r, c.id);
        goto done;
    }
    fill_vectors(&g, x, n, KVC_FP8_DIM, 448, adv);
    if (adv) /* the adversarial scalars of the V4 ops (finite, |x| < 2^100) */
        for (size_t i = 0; i < cnt; i += 7)
            x[i] = f_adv(&g, 100);
    if (!enc) {
        kvc_error e;
        kvc_error_clear(&e);
        const kvc_backend *be = r->be[0];
        kvc_status st = be->fp8_ds_mla_encode == NULL
                            ? missing(&e, "fp8_ds_mla_encode")
                            : be->fp8_ds_mla_encode(be, x, n, rec, &e);
        if (st != KVC_OK)
            call_failed(&c, r, 0, &e);
    }
    for (int s = 0; s < 2; s++) {
        kvc_error e;
        kvc_error_clear(&e);
        y[s] = gbuf_alloc(&b[s], enc ? rb : cnt * sizeof(float));
        if (y[s] == NULL) {
            nomem(r, c.id);
            goto done;
        }
        const kvc_backend *be = r->be[s];
        kvc_status st;
        if (be->fp8_ds_mla_encode == NULL || be->fp8_ds_mla_decode == NULL)
            st = missing(&e, "fp8_ds_mla_encode/decode");
        else if (enc)
            st = be->fp8_ds_mla_encode(be, x, n, (uint8_t *)y[s], &e);
        else
            st = be->fp8_ds_mla_decode(be, rec, rb, n, (float *)y[s], &e);
        if (st != KVC_OK)
            call_failed(&c, r, s, &e);
        guard_check(&c, r, s, &b[s], enc ? "records" : "out");
    }
    if (enc)
        finish(r, &c, y, (int64_t)rb, 1);
    else
        finish(r, &c, y, (int64_t)cnt, 4);
done:
    free(x);
    free(rec);
    gbuf_free(&b[0]);
    gbuf_free(&b[1]);
}

/* Corrupted records (what: 0 a nonzero pad byte, 1 a NaN scale 0xFF,
 * 2 a wrong size): both backends must refuse them with the same status
 * and message (the first bad record, not the later ones). */
static void case_ds_mla_corrupt(runner *r, int index, int what)
{
    static const char *const names[3] = {"pad", "nan-scale", "size"};
    kvc_equiv_case c;
    case_init(&c, "fp8_ds_mla_decode/n64/corrupt-%s", names[what]);
    rng g = rng_for(r->opt->seed, KVC_EQUIV_FP8_DS_MLA_DECODE, 1000 + index);
    const int64_t n = 64;
    size_t rb = (size_t)n * KVC_FP8_DS_MLA_BYTES;
    float *x = (float *)malloc(sizeof(float) * KVC_FP8_DIM * (size_t)n);
    float *out = (float *)malloc(sizeof(float) * KVC_FP8_DIM * (size_t)n);
    uint8_t *rec = (uint8_t *)malloc(rb);
    void *y[2] = {NULL, NULL};
    if (x == NULL || out == NULL || rec == NULL) {
        nomem(r, c.id);
        goto done;
    }
    fill_vectors(&g, x, n, KVC_FP8_DIM, 448, 0);
    kvc_fp8_ds_mla_encode(x, (size_t)n, rec);
    for (int k = 0; k < 3; k++) { /* three bad records; the first is 13 + (0..7) */
        int64_t v = 13 + (int64_t)(rnext(&g) % 8) + 17 * k;
        if (what == 0)
            rec[v * KVC_FP8_DS_MLA_BYTES + KVC_FP8_NOPE + 7] = (uint8_t)(1 + rnext(&g) % 255);
        else
            rec[v * KVC_FP8_DS_MLA_BYTES + KVC_FP8_NOPE + (int)(rnext(&g) % 7)] = 0xFFu;
    }
    static char msg[2][512];
    memset(msg, 0, sizeof msg);
    kvc_status st[2];
    for (int s = 0; s < 2; s++) {
        kvc_error e;
        kvc_error_clear(&e);
        const kvc_backend *be = r->be[s];
        st[s] = be->fp8_ds_mla_decode == NULL
                    ? missing(&e, "fp8_ds_mla_decode")
                    : be->fp8_ds_mla_decode(be, rec, what == 2 ? rb - 1 : rb, n, out, &e);
        kvc_error_format(&e, msg[s], sizeof msg[s]);
    }
    if (st[0] != KVC_BITSTREAM || st[0] != st[1] || strcmp(msg[0], msg[1]) != 0)
        add_problem(&c, "statuses differ or not KVC_BITSTREAM: %s: [%s] vs %s: [%s]",
                    r->be[0]->name, msg[0], r->be[1]->name, msg[1]);
    y[0] = msg[0];
    y[1] = msg[1];
    finish(r, &c, y, (int64_t)sizeof msg[0], 1);
done:
    free(x);
    free(out);
    free(rec);
}

static void run_ds_mla(runner *r, kvc_equiv_op op)
{
    int idx = 0;
    for (int adv = 0; adv < 2 && r->fatal == KVC_OK; adv++) {
        case_ds_mla(r, op, idx++, 1, adv);
        if (r->fatal == KVC_OK)
            case_ds_mla(r, op, idx++, 333, adv);
    }
    if (op == KVC_EQUIV_FP8_DS_MLA_DECODE)
        for (int w = 0; w < 3 && r->fatal == KVC_OK; w++)
            case_ds_mla_corrupt(r, w, w);
}

static void run_ds_mla_encode(runner *r)
{
    run_ds_mla(r, KVC_EQUIV_FP8_DS_MLA_ENCODE);
}

static void run_ds_mla_decode(runner *r)
{
    run_ds_mla(r, KVC_EQUIV_FP8_DS_MLA_DECODE);
}

kvc_status kvc_equiv_ops(const kvc_backend *ref, const kvc_backend *test,
                         const kvc_equiv_options *opt, kvc_equiv_report_fn fn, void *arg,
                         int *identical, int *total, kvc_error *err)
{
    runner r;
    memset(&r, 0, sizeof r);
    kvc_backend *proxy = NULL;
    if (opt->test_mem) {
        kvc_status st = kvc_equiv_mem_proxy_create(test, &proxy, err);
        if (st != KVC_OK)
            return st;
        test = proxy;
        r.mem = 1;
    }
    r.be[0] = ref;
    r.be[1] = test;
    r.opt = opt;
    r.fn = fn;
    r.arg = arg;
    r.fatal = KVC_OK;
    r.err = err;
    typedef void (*run_fn)(runner *);
    static const run_fn runs[KVC_EQUIV_OP_COUNT] = {run_matmul, run_round, run_act_quant,
                                                    run_rmsnorm, run_rope,  run_pool,
                                                    run_kvsim,  run_dequant,
                                                    run_codec_roundtrip, run_codec_encode,
                                                    run_codec_decode, run_fp8_per64,
                                                    run_fp8_ds_mla, run_recon, run_moments,
                                                    run_quantile, run_widen, run_hadamard,
                                                    run_abs_scaled, run_first_diff,
                                                    run_ds_mla_encode, run_ds_mla_decode,
                                                    run_matmul_group};
    for (int op = 0; op < KVC_EQUIV_OP_COUNT && r.fatal == KVC_OK; op++)
        if (wanted(&r, (kvc_equiv_op)op) && !(r.mem && op == KVC_EQUIV_DEQUANT))
            runs[op](&r);
    kvc_equiv_mem_proxy_destroy(proxy);
    *identical = r.identical;
    *total = r.total;
    return r.fatal;
}

/* ------------------------------------------------------------ the pipeline */

kvc_status kvc_equiv_pipeline(const kvc_backend *ref, const kvc_backend *test,
                              const char *shard_dir, const char *hidden_path,
                              kvc_equiv_report_fn fn, void *arg, int *identical, int *total,
                              kvc_error *err)
{
    *identical = *total = 0;
    kvc_v4_hidden *h = NULL;
    kvc_v4_model *model[2] = {NULL, NULL};
    float *x = NULL;
    kvc_status st = kvc_v4_hidden_open(hidden_path, &h, err);
    if (st != KVC_OK)
        return st;
    int64_t S = kvc_v4_hidden_seq_len(h);
    x = (float *)malloc(sizeof(float) * (size_t)S * KVC_V4_HIDDEN_DIM);
    if (x == NULL) {
        st = kvc_error_set(err, KVC_NOMEM, "hidden states [%lld, 4096]", (long long)S);
        goto done;
    }
    if ((st = kvc_v4_hidden_read(h, 0, x, err)) != KVC_OK ||
        (st = kvc_v4_model_load(ref, shard_dir, &model[0], err)) != KVC_OK ||
        (st = kvc_v4_model_load(test, shard_dir, &model[1], err)) != KVC_OK)
        goto done;
    for (int p = 0; p < kvc_profile_count(); p++) {
        const kvc_profile *prof = kvc_profile_at(p);
        kvc_v4_streams out[2];
        memset(out, 0, sizeof out);
        kvc_error e[2];
        kvc_status cs[2];
        for (int s = 0; s < 2; s++) {
            kvc_error_clear(&e[s]);
            cs[s] = kvc_v4_streams_compute(model[s], prof, x, S, &out[s], &e[s]);
        }
        for (int k = 0; k < KVC_V4_NSTREAMS; k++) {
            kvc_equiv_case c;
            case_init(&c, "pipeline/%s/%s", prof->name, kvc_v4_stream_name((kvc_v4_stream)k));
            char buf[512];
            for (int s = 0; s < 2; s++)
                if (cs[s] != KVC_OK)
                    add_problem(&c, "%s failed: %s", s == 0 ? ref->name : test->name,
                                kvc_error_format(&e[s], buf, sizeof buf));
            int64_t n = S / kvc_v4_stream_ratio((kvc_v4_stream)k) * KVC_V4_HEAD_DIM;
            if (c.problem[0] == '\0') {
                st = kvc_equiv_compare(out[0].kv[k], out[1].kv[k], n, 2, &c, err);
                if (st != KVC_OK) {
                    kvc_v4_streams_free(&out[0]);
                    kvc_v4_streams_free(&out[1]);
                    goto done;
                }
            }
            (*total)++;
            *identical += c.identical;
            if (fn != NULL)
                fn(arg, &c);
        }
        kvc_v4_streams_free(&out[0]);
        kvc_v4_streams_free(&out[1]);
    }
done:
    kvc_v4_model_destroy(model[0]);
    kvc_v4_model_destroy(model[1]);
    kvc_v4_hidden_close(h);
    free(x);
    return st;
}
