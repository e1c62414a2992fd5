/* The register-friendly closest-point search (codec/lattice.h and
 * kvc_kakeya_block_search in codec/kakeya.h) against the FORMER search,
 * output bit for bit. The former code is copied below verbatim (only its
 * function names carry a ref_ prefix) as it stood on main before the
 * rewrite (commit 4b49204): an independent oracle for the claim "the
 * rewrite changes no result bit". Inputs: full-precision random values in
 * the domain |y| <= 2^20 at many scales (subnormals included), grid values
 * whose rne and fl(y - 0.5) hit exact ties, signed zeros, values at and
 * next to +-2^20, all-equal coordinates, quarter-integer vectors where the
 * coset distances da == db exactly, the same moved by a few ulps (da and db
 * within rounding of each other), coordinate-wise mixtures of all these,
 * and an exhaustive sweep over a small value set. Non-finite inputs are
 * outside the search's domain (kakeya.h sanitizes them first; the integer
 * conversion of a NaN would be undefined behaviour in C), so none is fed.
 *
 * KVC_EQUIV_SCALE=k (environment) multiplies the random counts by k for a
 * long sweep. make check runs k = 1: 6.75 million random vectors plus the
 * 1.68 million of the exhaustive sweep; each vector goes through E8, D8,
 * D4 on both halves and the block step at B = 4 and 8. */
#include <math.h> /* nextafterf, ldexp: input generation only */
#include <stdio.h>
#include <stdlib.h>

#include "codec/kakeya.h"
#include "codec/lattice.h"
#include "testutil.h"

#define REQUIRE(c)                                                             \
    do {                                                                       \
        if (!(c))                                                              \
            ck_abort_msg("%s:%d: failed: %s", __FILE__, __LINE__, #c);         \
    } while (0)

/* ==================== REFERENCE: the former implementation, verbatim ====
 * src/codec/lattice.h and kvc_kakeya_block_search (src/codec/kakeya.h) as
 * of commit 4b49204; only the names are prefixed with ref_. Do not "fix"
 * or restyle this block: it is the oracle. */

KVC_HD float ref_kvc__absf(float v)
{
    return kvc_f32_from_bits(kvc_f32_bits(v) & 0x7FFFFFFFu);
}

KVC_HD float ref_kvc__rne_lattice(float v)
{
    return (v + 12582912.0f) - 12582912.0f;
}

/* Nearest point of D_n (n <= 8) to y; f may not alias y. Written without
 * data-dependent branches (selects), which changes no result. */
KVC_HD void ref_kvc_lattice_dn_closest(const float *y, float *f, int n)
{
    int sum = 0;
    int k = 0;
    float worst = -1.0f;
    for (int i = 0; i < n; i++) {
        f[i] = ref_kvc__rne_lattice(y[i]);
        sum += (int)f[i]; /* |f| <= 2^21: exact */
        float ad = ref_kvc__absf(y[i] - f[i]);
        int bigger = ad > worst; /* strict: the first index of the maximum */
        worst = bigger ? ad : worst;
        k = bigger ? i : k;
    }
    float step = (y[k] - f[k] >= 0.0f) ? 1.0f : -1.0f;
    f[k] = f[k] + ((sum & 1) ? step : 0.0f);
}

/* Squared distance in binary32, sequential from i = 0 (see above). */
KVC_HD float ref_kvc__dist2_f32(const float *y, const float *p, int n)
{
    float s = 0.0f;
    for (int i = 0; i < n; i++) {
        float d = y[i] - p[i];
        float d2 = d * d;
        s = s + d2;
    }
    return s;
}

/* Nearest point of E8 to y (8 coordinates); out may not alias y.
 * Returns 0 when the integer coset was taken, 1 for the half-integer one. */
KVC_HD int ref_kvc_lattice_e8_closest(const float *y, float *out)
{
    float a[8], b[8], ys[8];
    ref_kvc_lattice_dn_closest(y, a, 8);
    for (int i = 0; i < 8; i++)
        ys[i] = y[i] - 0.5f;
    ref_kvc_lattice_dn_closest(ys, b, 8);
    for (int i = 0; i < 8; i++)
        b[i] = b[i] + 0.5f;
    float da = ref_kvc__dist2_f32(y, a, 8);
    float db = ref_kvc__dist2_f32(y, b, 8);
    int half = !(da <= db);
    for (int i = 0; i < 8; i++)
        out[i] = half ? b[i] : a[i];
    return half;
}

/* Steps 4-5 for one block: yt (sanitized) -> z2 = 2 * clamp(point). */
KVC_HD void ref_kvc_kakeya_block_search(const kvc_kakeya_params *p, const float *yt, int32_t *z2)
{
    float z[8];
    if (p->block == 8)
        (void)ref_kvc_lattice_e8_closest(yt, z);
    else
        ref_kvc_lattice_dn_closest(yt, z, 4);
    float qf = (float)p->q;
    for (int i = 0; i < p->block; i++) {
        float v = z[i];
        if (v > qf)
            v = qf;
        if (v < -qf)
            v = -qf;
        z2[i] = (int32_t)(v * 2.0f);
    }
}

/* ==================== end of the reference ============================ */

/* What the comparison saw, for the summary line. */
typedef struct tally {
    long long searches;   /* comparisons made (each one all entry points) */
    long long diffs;      /* outputs that differ in any bit */
    long long coset_tie;  /* E8 inputs with da == db (reference's values) */
    long long near_tie;   /* ... with da != db within 2^-20 of each other */
    long long half;       /* E8 inputs that took the half coset */
    long long odd_fix;    /* D8 searches of y that needed the parity move */
    long long max_tie;    /* ... where the largest |y - f| is not unique */
    long long neg_zero;   /* inputs holding a -0 coordinate */
} tally;

static tally g_tally; /* per test: Check runs each test in its own process */

static void tally_report(const char *what)
{
    printf("equiv %-10s %lld vectors compared, %lld differences; %lld coset ties (da == db), "
           "%lld near ties, "
           "%lld half-coset results, %lld D8 parity moves (%lld with a tied largest |y - f|), "
           "%lld starting with -0\n",
           what, g_tally.searches, g_tally.diffs, g_tally.coset_tie, g_tally.near_tie, g_tally.half,
           g_tally.odd_fix, g_tally.max_tie, g_tally.neg_zero);
    fflush(stdout);
}
static const int k_qs[] = {1, 2, 10, 38, 126, KVC_KAKEYA_Q_MAX};

static int bits_differ(const void *a, const void *b, size_t n)
{
    return memcmp(a, b, n) != 0;
}

/* The reference's own view of y, for the tallies (not compared). */
static void note_cases(const float *y)
{
    float a[8], b[8], ys[8], f[8];
    ref_kvc_lattice_dn_closest(y, a, 8);
    for (int i = 0; i < 8; i++)
        ys[i] = y[i] - 0.5f;
    ref_kvc_lattice_dn_closest(ys, b, 8);
    for (int i = 0; i < 8; i++)
        b[i] = b[i] + 0.5f;
    float da = ref_kvc__dist2_f32(y, a, 8), db = ref_kvc__dist2_f32(y, b, 8);
    if (da == db)
        g_tally.coset_tie++;
    else if (fabs((double)da - (double)db) <= 0x1p-20 * (double)da)
        g_tally.near_tie++;
    int sum = 0, nmax = 0;
    float worst = -1.0f;
    for (int i = 0; i < 8; i++) {
        f[i] = ref_kvc__rne_lattice(y[i]);
        sum += (int)f[i];
        float ad = ref_kvc__absf(y[i] - f[i]);
        if (ad > worst) {
            worst = ad;
            nmax = 1;
        } else if (ad == worst) {
            nmax++;
        }
        if (kvc_f32_bits(y[i]) == 0x80000000u && i == 0)
            g_tally.neg_zero++;
    }
    if (sum & 1) {
        g_tally.odd_fix++;
        if (nmax > 1)
            g_tally.max_tie++;
    }
}

/* Every entry point on y (8 coordinates; the D4 ones see y[0..3] and
 * y[4..7]), new against reference; returns the number of differences. */
static long long compare_one(const float *y)
{
    long long diffs = 0;
    float fr[8], fn[8];
    /* E8 */
    memset(fr, 0x5A, sizeof fr);
    memset(fn, 0x5A, sizeof fn);
    int hr = ref_kvc_lattice_e8_closest(y, fr);
    int hn = kvc_lattice_e8_closest(y, fn);
    diffs += (hr != hn) || bits_differ(fr, fn, sizeof fr);
    g_tally.half += hr;
    /* D8, D4 on both halves */
    ref_kvc_lattice_dn_closest(y, fr, 8);
    kvc_lattice_dn_closest(y, fn, 8);
    diffs += bits_differ(fr, fn, sizeof fr);
    for (int h = 0; h < 2; h++) {
        ref_kvc_lattice_dn_closest(y + 4 * h, fr, 4);
        kvc_lattice_dn_closest(y + 4 * h, fn, 4);
        diffs += bits_differ(fr, fn, 4 * sizeof(float));
    }
    /* the codec's block step, at a Q chosen from the input */
    kvc_kakeya_params p;
    memset(&p, 0, sizeof p);
    p.q = k_qs[(kvc_f32_bits(y[7]) >> 3) % (sizeof k_qs / sizeof k_qs[0])];
    int32_t zr[8], zn[8];
    for (int blk = 4; blk <= 8; blk += 4) {
        p.block = blk;
        memset(zr, 0x5A, sizeof zr);
        memset(zn, 0x5A, sizeof zn);
        ref_kvc_kakeya_block_search(&p, y, zr);
        kvc_kakeya_block_search(&p, y, zn);
        diffs += bits_differ(zr, zn, sizeof zr);
    }
    note_cases(y);
    g_tally.searches++;
    g_tally.diffs += diffs;
    return diffs;
}

/* ------------------------------------------------------------ generators */

static double unit(uint64_t *st)
{
    return (double)(kvc_test_rand64(st) >> 11) * 0x1p-53;
}

static float rand_sign(uint64_t *st, float v)
{
    return (kvc_test_rand64(st) & 1) ? -v : v;
}

/* Full precision, uniform in [-r, r] for a random r = 2^e, e in -8..20. */
static float gen_uniform(uint64_t *st)
{
    int e = (int)(kvc_test_rand64(st) % 29u) - 8;
    return (float)((2.0 * unit(st) - 1.0) * ldexp(1.0, e));
}

/* Any finite binary32 with |v| <= 2^20: random sign, exponent (biased
 * 0..147, subnormals included) and mantissa. */
static float gen_bits(uint64_t *st)
{
    uint64_t r = kvc_test_rand64(st);
    uint32_t ex = (uint32_t)(r % 148u);
    uint32_t u = (ex << 23) | (uint32_t)((r >> 8) & 0x7FFFFFu);
    u |= (uint32_t)((r >> 40) & 1u) << 31;
    return kvc_f32_from_bits(u);
}

/* Multiples of 2^-s (s = 1..4) in [-40, 40]: halves and quarters make
 * rne ties, y - 0.5 ties and equal |y - f| everywhere. */
static float gen_grid(uint64_t *st)
{
    int s = 1 + (int)(kvc_test_rand64(st) % 4u);
    int64_t m = (int64_t)(kvc_test_rand64(st) % (((uint64_t)80 << s) + 1u)) - ((int64_t)40 << s);
    return (float)ldexp((double)m, -s);
}

/* +-0 and tiny values around them. */
static float gen_zeroish(uint64_t *st)
{
    switch (kvc_test_rand64(st) % 5u) {
    case 0: return 0.0f;
    case 1: return -0.0f;
    case 2: return rand_sign(st, kvc_f32_from_bits(1u + (uint32_t)(kvc_test_rand64(st) % 64u)));
    case 3: return rand_sign(st, 0.5f);
    default: return rand_sign(st, (float)ldexp(unit(st), -(int)(kvc_test_rand64(st) % 140u)));
    }
}

/* At and next to +-2^20, and its half-integers (the ulp there is 2^-3). */
static float gen_big(uint64_t *st)
{
    float v;
    switch (kvc_test_rand64(st) % 4u) {
    case 0: v = 1048576.0f; break;
    case 1: v = 1048576.0f - 0.125f * (float)(kvc_test_rand64(st) % 64u); break;
    case 2: v = 1048576.0f - 0.5f - (float)(kvc_test_rand64(st) % 8u); break;
    default: v = (float)(1048576.0 * (1.0 - ldexp(unit(st), -6))); break;
    }
    return rand_sign(st, v);
}

static float gen_any(uint64_t *st)
{
    switch (kvc_test_rand64(st) % 5u) {
    case 0: return gen_uniform(st);
    case 1: return gen_bits(st);
    case 2: return gen_grid(st);
    case 3: return gen_zeroish(st);
    default: return gen_big(st);
    }
}

/* Quarter-integer vectors (coset ties, exactly) moved by a few ulps per
 * coordinate: da and db then differ by about as much as their rounding
 * errors, so the order, the rounding (d * d unfused) and the start of the
 * sums decide the coset; a change to any of them shows here. */
static void gen_near_tie(uint64_t *st, float *y)
{
    int span = (kvc_test_rand64(st) & 1) ? 5 : 20; /* quarters in [-1.25, 1.25] or [-5, 5] */
    for (int i = 0; i < 8; i++) {
        float v = (float)((int64_t)(kvc_test_rand64(st) % (uint64_t)(2 * span + 1)) - span) * 0.25f;
        int k = (int)(kvc_test_rand64(st) % 9u) - 4;
        for (; k > 0; k--)
            v = nextafterf(v, INFINITY);
        for (; k < 0; k++)
            v = nextafterf(v, -INFINITY);
        y[i] = v;
    }
}

typedef float (*gen_fn)(uint64_t *st);

typedef struct family {
    const char *name;
    gen_fn gen;  /* per coordinate; NULL = the special vector builders */
    int special; /* 1 all-equal, 2 quarter-integers (coset ties), 3 near ties */
    long count;  /* vectors at scale 1 */
} family;

static const family k_families[] = {
    {"uniform", gen_uniform, 0, 1000000},
    {"bits", gen_bits, 0, 1000000},
    {"grid", gen_grid, 0, 1000000},
    {"zeroish", gen_zeroish, 0, 250000},
    {"big", gen_big, 0, 250000},
    {"mixed", gen_any, 0, 1000000},
    {"all-equal", gen_any, 1, 250000},
    {"quarters", NULL, 2, 1000000},
    {"near-ties", NULL, 3, 1000000},
};

static long scale(void)
{
    const char *s = getenv("KVC_EQUIV_SCALE");
    long k = s ? strtol(s, NULL, 10) : 1;
    return k > 0 ? k : 1;
}

START_TEST(random_families_match_reference)
{
    const family *fam = &k_families[_i];
    uint64_t st = 0xE8FA57ull * 1000003ull + (uint64_t)_i;
    long n = fam->count * scale();
    memset(&g_tally, 0, sizeof g_tally);
    float y[8];
    for (long t = 0; t < n; t++) {
        if (fam->special == 1) {
            float c = fam->gen(&st);
            for (int i = 0; i < 8; i++)
                y[i] = c;
        } else if (fam->special == 3) {
            gen_near_tie(&st, y);
        } else if (fam->special == 2) {
            for (int i = 0; i < 8; i++) /* quarters in [-5, 5] */
                y[i] = (float)((int64_t)(kvc_test_rand64(&st) % 41u) - 20) * 0.25f;
        } else {
            for (int i = 0; i < 8; i++)
                y[i] = fam->gen(&st);
        }
        if (compare_one(y) != 0)
            ck_abort_msg("%s: input %ld differs: %a %a %a %a %a %a %a %a", fam->name, t,
                         (double)y[0], (double)y[1], (double)y[2], (double)y[3],
                         (double)y[4], (double)y[5], (double)y[6], (double)y[7]);
    }
    if (fam->special == 2) /* the coset-tie rule was really exercised */
        ck_assert_int_gt(g_tally.coset_tie, n / 100);
    if (fam->special == 3) /* and near ties, where rounding decides */
        ck_assert_int_gt(g_tally.near_tie, n / 100);
    tally_report(fam->name);
    ck_assert_int_eq(g_tally.diffs, 0);
    ck_assert_int_eq(g_tally.searches, n);
}
END_TEST

/* Every vector over a set of 6 values (6^8 = 1 679 616): both zeros,
 * rne ties (-0.5; 1.0 - 0.5 and 0.0 - 0.5 after the shift), odd and even
 * parities, equal |y - f| in every position. */
START_TEST(exhaustive_small_set_matches_reference)
{
    static const float vals[6] = {-0.5f, -0.0f, 0.0f, 0.25f, 1.0f, 1.5f};
    float y[8];
    memset(&g_tally, 0, sizeof g_tally);
    for (uint32_t code = 0; code < 1679616u; code++) {
        uint32_t c = code;
        for (int i = 0; i < 8; i++) {
            y[i] = vals[c % 6u];
            c /= 6u;
        }
        REQUIRE(compare_one(y) == 0);
    }
    tally_report("exhaustive");
    ck_assert_int_eq(g_tally.searches, 1679616);
    ck_assert_int_eq(g_tally.diffs, 0);
    ck_assert_int_gt(g_tally.coset_tie, 0);
    ck_assert_int_gt(g_tally.max_tie, 0);
    ck_assert_int_gt(g_tally.neg_zero, 0);
}
END_TEST

/* A check that the comparison can fail: a one-ulp change of the output
 * of the reference is seen. */
START_TEST(comparison_detects_a_difference)
{
    float y[8] = {0.3f, 1.7f, -2.2f, 0.5f, 0.0f, 4.0f, -0.6f, 1.1f};
    float fr[8], fn[8];
    ref_kvc_lattice_e8_closest(y, fr);
    kvc_lattice_e8_closest(y, fn);
    REQUIRE(!bits_differ(fr, fn, sizeof fr));
    fr[3] = kvc_f32_from_bits(kvc_f32_bits(fr[3]) + 1u);
    REQUIRE(bits_differ(fr, fn, sizeof fr));
    fr[3] = fn[3];
    REQUIRE(!bits_differ(fr, fn, sizeof fr));
    float z = 0.0f, nz = -0.0f;
    REQUIRE(bits_differ(&z, &nz, sizeof z)); /* signed zeros count as different */
}
END_TEST

static Suite *equiv_suite(void)
{
    Suite *s = suite_create("lattice_equiv");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 0);
    tcase_add_loop_test(tc, random_families_match_reference, 0,
                        (int)(sizeof k_families / sizeof k_families[0]));
    tcase_add_test(tc, exhaustive_small_set_matches_reference);
    tcase_add_test(tc, comparison_detects_a_difference);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return kvc_test_run(equiv_suite());
}
