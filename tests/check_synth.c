/* Tests for v4/synth: the generator's PRNG against published reference
 * vectors, its variates' moments, the block quantizer against a binary64
 * oracle, and independent checks of the generated host's properties
 * (v4/synth.h states them: per-token RMS, outlier channels, anisotropy,
 * heavy tails). */
#include <cjson/cJSON.h>
#include <math.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/formats.h"
#include "io/safetensors.h"
#include "v4/dequant.h"
#include "v4/synth.h"
#include "testutil.h"

/* ------------------------------------------------------------ PRNG */

/* splitmix64 seeded with 1477776061723855037: the first outputs of
 * Vigna's reference splitmix64.c, as recorded in the rand_xoshiro crate's
 * test suite (rust-random/rngs, rand_xoshiro/src/splitmix64.rs). */
START_TEST(splitmix64_reference)
{
    static const uint64_t want[] = {
        UINT64_C(1985237415132408290),  UINT64_C(2979275885539914483),
        UINT64_C(13511426838097143398), UINT64_C(8488337342461049707),
        UINT64_C(15141737807933549159), UINT64_C(17093170987380407015),
        UINT64_C(16389528042912955399), UINT64_C(13177319091862933652),
    };
    uint64_t x = UINT64_C(1477776061723855037);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_uint_eq(kvc_synth_splitmix64(&x), want[i]);
}
END_TEST

/* xoshiro256** from the state {1, 2, 3, 4}: outputs of the reference
 * xoshiro256starstar.c, as recorded in rand_xoshiro's
 * src/xoshiro256starstar.rs test. */
START_TEST(xoshiro256ss_reference)
{
    static const uint64_t want[] = {
        UINT64_C(11520),
        UINT64_C(0),
        UINT64_C(1509978240),
        UINT64_C(1215971899390074240),
        UINT64_C(1216172134540287360),
        UINT64_C(607988272756665600),
        UINT64_C(16172922978634559625),
        UINT64_C(8476171486693032832),
        UINT64_C(10595114339597558777),
        UINT64_C(2904607092377533576),
    };
    kvc_synth_rng r = {{1, 2, 3, 4}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_uint_eq(kvc_synth_next(&r), want[i]);
}
END_TEST

/* Stream seeding as synth.h states it, derived by hand from splitmix64. */
START_TEST(stream_seeding)
{
    ck_assert_uint_eq(kvc_synth_mix64(0), 0);
    uint64_t seed = 42, stream = KVC_SYNTH_STREAM_TOKEN(3, 7);
    ck_assert_uint_eq(stream, (UINT64_C(3) << 56) | (UINT64_C(3) << 24) | 7);
    uint64_t x = seed ^ kvc_synth_mix64(stream);
    kvc_synth_rng want;
    for (int i = 0; i < 4; i++)
        want.s[i] = kvc_synth_splitmix64(&x);
    kvc_synth_rng got;
    kvc_synth_rng_seed(&got, seed, stream);
    CHECK(memcmp(&got, &want, sizeof got) == 0);
    /* mix64 is the splitmix64 finalizer: splitmix64(x) = mix64(x + golden) */
    uint64_t y = 5;
    ck_assert_uint_eq(kvc_synth_splitmix64(&y), kvc_synth_mix64(5 + UINT64_C(0x9E3779B97F4A7C15)));
    /* different streams and seeds give different states */
    kvc_synth_rng a, b;
    kvc_synth_rng_seed(&a, 1, 0);
    kvc_synth_rng_seed(&b, 1, 1);
    CHECK(memcmp(&a, &b, sizeof a) != 0);
    kvc_synth_rng_seed(&b, 2, 0);
    CHECK(memcmp(&a, &b, sizeof a) != 0);
}
END_TEST

/* Moments over 2^20 draws. Tolerances: the standard error of a mean of
 * 2^20 unit-variance draws is 2^-10 ~ 0.001, so 0.01 is 10 sigma; of the
 * variance (kurtosis 2.7) ~ 0.0013, so 0.01 is ~8 sigma. */
START_TEST(variates_moments)
{
    kvc_synth_rng r;
    kvc_synth_rng_seed(&r, 9, 0);
    const int n = 1 << 20;
    double s1 = 0, s2 = 0, mx = 0, us = 0, umin = 1, umax = 0;
    for (int i = 0; i < n; i++) {
        double g = kvc_synth_gauss(&r);
        s1 += g;
        s2 += g * g;
        if (fabs(g) > mx)
            mx = fabs(g);
        double u = kvc_synth_uniform(&r);
        us += u;
        umin = u < umin ? u : umin;
        umax = u > umax ? u : umax;
        CHECK(kvc_synth_below(&r, 13) < 13);
    }
    CHECK(fabs(s1 / n) < 0.01);
    CHECK(fabs(s2 / n - 1.0) < 0.01);
    CHECK(mx <= 2.0 * sqrt(3.0));
    CHECK(fabs(us / n - 0.5) < 0.01);
    CHECK(umin >= 0.0 && umax < 1.0);
    /* below(n) hits every value */
    int seen[5] = {0};
    for (int i = 0; i < 1000; i++)
        seen[kvc_synth_below(&r, 5)] = 1;
    for (int k = 0; k < 5; k++)
        CHECK(seen[k]);
}
END_TEST

/* student(6) is heavy-tailed: kurtosis well above the Gaussian 3
 * (Student-t with 6 degrees of freedom: 6). */
START_TEST(student_heavy_tailed)
{
    kvc_synth_rng r;
    kvc_synth_rng_seed(&r, 10, 0);
    const int n = 1 << 19;
    double s2 = 0, s4 = 0;
    for (int i = 0; i < n; i++) {
        double t = kvc_synth_student(&r, 6);
        CHECK(isfinite(t));
        s2 += t * t;
        s4 += t * t * t * t;
    }
    double var = s2 / n, kurt = (s4 / n) / (var * var);
    CHECK_MSG(var > 1.3 && var < 1.7, "variance %g (t6: 1.5)", var);
    CHECK_MSG(kurt > 4.0, "kurtosis %g", kurt);
}
END_TEST

/* ------------------------------------------------------------ quantizer */

/* Oracle: scale = the smallest power of two >= max(amax, 1e-4f)/448 (in
 * binary64, as 2^k), and every dequantized value within half an E4M3 step
 * of x: |deq - x| <= max(|x| 2^-4, 2^-10 scale) (3 mantissa bits; the
 * subnormal step is 2^-9 scale). */
START_TEST(quantizer_matches_oracle)
{
    static const int64_t shapes[][2] = {{512, 4096}, {130, 300}, {1, 1}};
    uint64_t seed = 11;
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        int64_t rows = shapes[k][0], cols = shapes[k][1];
        int64_t sr = (rows + 127) / 128, sc = (cols + 127) / 128;
        float *x = malloc((size_t)(rows * cols) * sizeof(float));
        float *d = malloc((size_t)(rows * cols) * sizeof(float));
        uint8_t *w = malloc((size_t)(rows * cols)), *s = malloc((size_t)(sr * sc));
        CHECK(x && d && w && s);
        for (int64_t i = 0; i < rows * cols; i++) {
            uint64_t u = kvc_test_rand64(&seed);
            double mag = ldexp((double)(u >> 40) / (double)(1 << 24), (int)((u >> 8) & 31) - 24);
            x[i] = (float)((u & 1) ? -mag : mag);
        }
        kvc_synth_fp8_quantize(x, rows, cols, w, s);
        ck_assert_int_eq(kvc_dequant_fp8_block(w, rows, cols, s, sr, sc, d, NULL), KVC_OK);
        for (int64_t tr = 0; tr < sr; tr++)
            for (int64_t tc = 0; tc < sc; tc++) {
                double amax = 1e-4f;
                for (int64_t r = tr * 128; r < rows && r < tr * 128 + 128; r++)
                    for (int64_t c = tc * 128; c < cols && c < tc * 128 + 128; c++)
                        amax = fmax(amax, fabs((double)x[r * cols + c]));
                double sv = ldexp(1.0, s[tr * sc + tc] - 127);
                /* amax/448 computed in binary32 by the quantizer: allow its rounding */
                double t = (double)((float)amax / 448.0f);
                CHECK(sv >= t && sv / 2 < t);
                for (int64_t r = tr * 128; r < rows && r < tr * 128 + 128; r++)
                    for (int64_t c = tc * 128; c < cols && c < tc * 128 + 128; c++) {
                        double xv = x[r * cols + c], dv = d[r * cols + c];
                        CHECK_MSG(fabs(dv - xv) <= fmax(fabs(xv) * 0x1p-4, sv * 0x1p-10),
                                      "x %a deq %a scale %a", xv, dv, sv);
                    }
            }
        free(x);
        free(d);
        free(w);
        free(s);
    }
}
END_TEST

/* ------------------------------------------------------------ host */

START_TEST(profile_as_specified)
{
    kvc_synth_profile *p = malloc(sizeof *p);
    ck_assert_ptr_nonnull(p);
    kvc_synth_host_profile(1, p);
    int is_out[KVC_SYNTH_DIM] = {0};
    for (int i = 0; i < KVC_SYNTH_OUTLIERS; i++) {
        int c = p->outlier[i];
        CHECK(c >= 0 && c < KVC_SYNTH_DIM);
        ck_assert_int_eq(is_out[c], 0); /* distinct */
        is_out[c] = 1;
        CHECK(p->sigma[c] >= 10.0 && p->sigma[c] < 50.0);
    }
    double lo = 1e9, hi = 0;
    for (int c = 0; c < KVC_SYNTH_DIM; c++) {
        if (is_out[c])
            continue;
        lo = fmin(lo, p->sigma[c]);
        hi = fmax(hi, p->sigma[c]);
    }
    /* 2^-1.5 * 0.75 .. 2^1.5 * 1.25, and the spread is actually used */
    CHECK(lo >= pow(2, -1.5) * 0.75 - 1e-12 && hi <= pow(2, 1.5) * 1.25 + 1e-12);
    CHECK(hi / lo > 8.0);
    free(p);
}
END_TEST

typedef struct passage_fixture {
    kvc_synth_profile prof;
    uint16_t h[KVC_SYNTH_TOKENS * KVC_SYNTH_DIM];
} passage_fixture;

static passage_fixture *make_passage(uint64_t seed, uint32_t p)
{
    passage_fixture *f = malloc(sizeof *f);
    ck_assert_ptr_nonnull(f);
    kvc_synth_host_profile(seed, &f->prof);
    kvc_synth_hidden_passage(seed, &f->prof, p, f->h);
    return f;
}

/* The 2-thread passage equals token-by-token generation, and passages,
 * seeds differ. */
START_TEST(passage_split_and_streams)
{
    passage_fixture *f = make_passage(1, 0);
    uint16_t tok[KVC_SYNTH_DIM];
    static const uint32_t ts[] = {0, 1, 1023, 1024, 2047};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
        kvc_synth_hidden_token(1, &f->prof, 0, ts[i], tok);
        CHECK(memcmp(tok, f->h + (size_t)ts[i] * KVC_SYNTH_DIM, sizeof tok) == 0);
    }
    kvc_synth_hidden_token(1, &f->prof, 1, 0, tok);
    CHECK(memcmp(tok, f->h, sizeof tok) != 0);
    kvc_synth_profile *p2 = malloc(sizeof *p2);
    kvc_synth_host_profile(2, p2);
    CHECK(memcmp(p2->outlier, f->prof.outlier, sizeof p2->outlier) != 0);
    kvc_synth_hidden_token(2, p2, 0, 0, tok);
    CHECK(memcmp(tok, f->h, sizeof tok) != 0);
    free(p2);
    free(f);
}
END_TEST

/* Independent checks on the bf16 data alone (decoded by definition). */
START_TEST(passage_properties)
{
    passage_fixture *f = make_passage(1, 0);
    const int T = KVC_SYNTH_TOKENS, D = KVC_SYNTH_DIM;
    double *m2 = calloc(D, sizeof(double)), *m1 = calloc(D, sizeof(double));
    CHECK(m2 && m1);
    for (int t = 0; t < T; t++) {
        double ss = 0;
        for (int c = 0; c < D; c++) {
            uint16_t b = f->h[(size_t)t * D + c];
            CHECK_MSG(((b >> 7) & 0xFF) != 0xFF, "non-finite at token %d channel %d", t, c);
            double v = (double)kvc_bf16_to_f32(b);
            ss += v * v;
            m1[c] += v;
            m2[c] += v * v;
        }
        /* per-token RMS is lambda in [0.8, 1.25]; bf16 rounding moves it
         * by < 2^-8 relative */
        double rms = sqrt(ss / D);
        CHECK_MSG(rms > 0.79 && rms < 1.26, "token %d RMS %g", t, rms);
    }
    /* per-channel RMS; the outliers stand 8x above the median channel */
    double *rms = malloc(D * sizeof(double)), *sorted = malloc(D * sizeof(double));
    for (int c = 0; c < D; c++)
        sorted[c] = rms[c] = sqrt(m2[c] / T);
    for (int i = 1; i < D; i++) /* insertion sort: 4096 values */
        for (int j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
            double tmp = sorted[j];
            sorted[j] = sorted[j - 1];
            sorted[j - 1] = tmp;
        }
    double median = sorted[D / 2];
    int n_out = 0;
    for (int c = 0; c < D; c++)
        if (rms[c] > 8.0 * median) {
            n_out++;
            int listed = 0;
            for (int i = 0; i < KVC_SYNTH_OUTLIERS; i++)
                listed |= f->prof.outlier[i] == c;
            CHECK_MSG(listed, "channel %d is an outlier the profile does not list", c);
        }
    ck_assert_int_eq(n_out, KVC_SYNTH_OUTLIERS);
    /* anisotropy among ordinary channels: variance ratio well above 1 */
    CHECK(sorted[D - KVC_SYNTH_OUTLIERS - 1] / sorted[0] > 4.0);
    /* heavy tails: mean per-channel kurtosis over ordinary channels > 3 */
    double ksum = 0;
    int kn = 0;
    for (int c = 0; c < D; c++) {
        if (rms[c] > 8.0 * median)
            continue;
        double mu = m1[c] / T, m4 = 0, v2 = 0;
        for (int t = 0; t < T; t++) {
            double d = (double)kvc_bf16_to_f32(f->h[(size_t)t * D + c]) - mu;
            v2 += d * d;
            m4 += d * d * d * d;
        }
        v2 /= T;
        ksum += (m4 / T) / (v2 * v2);
        kn++;
    }
    CHECK_MSG(ksum / kn > 3.5, "mean kurtosis %g", ksum / kn);
    free(rms);
    free(sorted);
    free(m1);
    free(m2);
    free(f);
}
END_TEST

/* ------------------------------------------------------------ files */

/* Seed 1 (P = 1) written once for the whole TCase (an unchecked fixture,
 * so about a second of generation is not repeated per test). */
static char files_dir[256];
static const int file_layers[3] = {0, 2, 3};

static const char *file_path(char *buf, size_t size, const char *dir, const char *name)
{
    snprintf(buf, size, "%s/%s", dir, name);
    return buf;
}

static void write_all(const char *dir, uint64_t seed)
{
    char path[512];
    kvc_error err;
    kvc_error_clear(&err);
    for (int i = 0; i < 3; i++)
        if (kvc_synth_write_shard(seed, file_layers[i],
                                  file_path(path, sizeof path, dir,
                                            kvc_synth_shard_name(file_layers[i])),
                                  &err) != KVC_OK)
            goto fail;
    if (kvc_synth_write_hidden(seed, 1, file_path(path, sizeof path, dir, KVC_SYNTH_HIDDEN_FILE),
                               &err) != KVC_OK)
        goto fail;
    return;
fail:
    fprintf(stderr, "synth fixture: %s: %s\n", kvc_status_name(err.status), err.detail);
    exit(KVC_TEST_HARD_ERROR);
}

static void remove_all(const char *dir)
{
    char path[512];
    for (int i = 0; i < 3; i++)
        remove(file_path(path, sizeof path, dir, kvc_synth_shard_name(file_layers[i])));
    remove(file_path(path, sizeof path, dir, KVC_SYNTH_HIDDEN_FILE));
    remove(dir);
}

static void make_files(void)
{
    kvc_test_tmpdir(files_dir, sizeof files_dir);
    write_all(files_dir, 1);
}

static void remove_files(void)
{
    remove_all(files_dir);
}

/* SHA-256 of a file with OpenSSL's EVP (independent of kvcert's digests). */
static void sha256_hex(const char *path, char hex[65])
{
    FILE *f = fopen(path, "rb");
    CHECK_MSG(f != NULL, "cannot open %s", path);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    CHECK(ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1);
    unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        CHECK(EVP_DigestUpdate(ctx, buf, n) == 1);
    fclose(f);
    unsigned char md[32];
    unsigned int len = 0;
    CHECK(EVP_DigestFinal_ex(ctx, md, &len) == 1 && len == 32);
    EVP_MD_CTX_free(ctx);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static cJSON *read_json(const char *rel)
{
    char path[1024];
    kvc_test_srcpath(path, sizeof path, rel);
    FILE *f = fopen(path, "rb");
    CHECK_MSG(f != NULL, "cannot open %s", path);
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    cJSON *j = cJSON_Parse(text);
    CHECK_MSG(j != NULL, "%s is not JSON", path);
    return j;
}

/* The regression pin: SHA-256 and size of every file for seed 1. */
START_TEST(files_match_golden_pin)
{
    cJSON *g = read_json("golden/synth-seed1.json");
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(g, "schema")),
                     "kvcert-golden-files/1");
    ck_assert_int_eq((int)cJSON_GetNumberValue(cJSON_GetObjectItem(g, "generator_version")),
                     KVC_SYNTH_VERSION);
    ck_assert_int_eq((int)cJSON_GetNumberValue(cJSON_GetObjectItem(g, "seed")), 1);
    ck_assert_int_eq((int)cJSON_GetNumberValue(cJSON_GetObjectItem(g, "passages")), 1);
    const cJSON *files = cJSON_GetObjectItem(g, "files");
    ck_assert_int_eq(cJSON_GetArraySize(files), 4);
    const cJSON *e;
    cJSON_ArrayForEach(e, files)
    {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(e, "name"));
        const char *want = cJSON_GetStringValue(cJSON_GetObjectItem(e, "sha256"));
        CHECK(name != NULL && want != NULL);
        char path[512], hex[65];
        file_path(path, sizeof path, files_dir, name);
        struct stat sb;
        ck_assert_int_eq(stat(path, &sb), 0);
        ck_assert_int_eq((long long)sb.st_size,
                         (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(e, "size")));
        sha256_hex(path, hex);
        CHECK_MSG(strcmp(hex, want) == 0, "%s: sha256 %s, pinned %s", name, hex, want);
    }
    cJSON_Delete(g);
}
END_TEST

static int same_file(const char *a, const char *b)
{
    char ha[65], hb[65];
    sha256_hex(a, ha);
    sha256_hex(b, hb);
    return strcmp(ha, hb) == 0;
}

/* Same seed, same bytes (again, in this process); another seed differs. */
START_TEST(files_deterministic)
{
    char d1[256], d2[256], a[512], b[512];
    kvc_test_tmpdir(d1, sizeof d1);
    kvc_test_tmpdir(d2, sizeof d2);
    write_all(d1, 1);
    write_all(d2, 2);
    for (int i = 0; i < 4; i++) {
        const char *name = i < 3 ? kvc_synth_shard_name(file_layers[i]) : KVC_SYNTH_HIDDEN_FILE;
        file_path(a, sizeof a, files_dir, name);
        CHECK_MSG(same_file(a, file_path(b, sizeof b, d1, name)), "seed 1 twice: %s", name);
        CHECK_MSG(!same_file(a, file_path(b, sizeof b, d2, name)), "seeds 1, 2: %s", name);
    }
    remove_all(d1);
    remove_all(d2);
}
END_TEST

static kvc_st_file *open_shard(int layer)
{
    char path[512];
    kvc_st_file *f = NULL;
    kvc_error err;
    kvc_error_clear(&err);
    ck_assert_int_eq(kvc_st_open(file_path(path, sizeof path, files_dir,
                                           kvc_synth_shard_name(layer)),
                                 &f, &err),
                     KVC_OK);
    return f;
}

static const char *meta(const kvc_st_file *f, const char *key)
{
    for (size_t i = 0; i < kvc_st_metadata_count(f); i++) {
        const char *k, *v;
        kvc_st_metadata(f, i, &k, &v);
        if (strcmp(k, key) == 0)
            return v;
    }
    return NULL;
}

/* Read back through the reader and the dequantizer: names, dtypes, shapes
 * as SPEC 1.1 lists them; values finite; scales in the documented range
 * with several exponents; rows of wkv near unit norm; norms near 1. */
START_TEST(shards_as_specified)
{
    int layer = file_layers[_i];
    int coff, ratio;
    kvc_synth_compressor_shape(layer, &coff, &ratio);
    kvc_st_file *f = open_shard(layer);
    ck_assert_str_eq(meta(f, "generator"), KVC_SYNTH_GENERATOR);
    ck_assert_str_eq(meta(f, "seed"), "1");
    ck_assert_uint_eq(kvc_st_count(f), coff > 0 ? 7 : 3);
    char name[128];
    const kvc_tensor_view *v;
    const int64_t s_wkv[2] = {512, 4096}, s_sc[2] = {4, 32}, s_n[1] = {512};
#define NAME(what) (snprintf(name, sizeof name, "layers.%d.%s", layer, what), name)
    ck_assert_int_eq(kvc_st_require(f, NAME("attn.wkv.weight"), KVC_DT_F8_E4M3, 2, s_wkv, &v, NULL), KVC_OK);
    ck_assert_int_eq(kvc_st_require(f, NAME("attn.wkv.scale"), KVC_DT_F8_E8M0, 2, s_sc, &v, NULL), KVC_OK);
    const uint8_t *sc = (const uint8_t *)v->data;
    int seen[256] = {0}, distinct = 0;
    for (int i = 0; i < 128; i++) {
        CHECK_MSG(sc[i] >= KVC_SYNTH_SCALE_MIN && sc[i] <= KVC_SYNTH_SCALE_MAX,
                      "scale byte %d", sc[i]);
        distinct += !seen[sc[i]];
        seen[sc[i]] = 1;
    }
    ck_assert_int_ge(distinct, 3);
    float *x = NULL;
    int64_t shape[2];
    ck_assert_int_eq(kvc_dequant_tensor(f, NAME("attn.wkv.weight"), &x, shape, NULL), KVC_OK);
    for (int o = 0; o < 512; o++) {
        double ss = 0;
        for (int i = 0; i < 4096; i++) {
            CHECK(isfinite(x[o * 4096 + i]));
            ss += (double)x[o * 4096 + i] * x[o * 4096 + i];
        }
        /* b_o in [0.85, 1.15] times the row's mean tile factor^2 (32
         * tiles of {0.25 .. 4}): well inside [0.5, 2] */
        CHECK_MSG(sqrt(ss) > 0.5 && sqrt(ss) < 2.0, "row %d norm %g", o, sqrt(ss));
    }
    free(x);
    static const char *const norms[2] = {"attn.kv_norm.weight", "attn.compressor.norm.weight"};
    for (int k = 0; k < (coff > 0 ? 2 : 1); k++) {
        ck_assert_int_eq(kvc_st_require(f, NAME(norms[k]), KVC_DT_BF16, 1, s_n, &v, NULL), KVC_OK);
        ck_assert_int_eq(kvc_dequant_tensor(f, name, &x, shape, NULL), KVC_OK);
        for (int i = 0; i < 512; i++)
            CHECK(x[i] > 0.4f && x[i] < 1.6f); /* 1 + 0.15 * [-2 sqrt 3, 2 sqrt 3] */
        free(x);
    }
    if (coff > 0) {
        const int64_t s_c[2] = {coff * 512, 4096}, s_ape[2] = {ratio, coff * 512};
        static const char *const mats[2] = {"attn.compressor.wkv.weight",
                                            "attn.compressor.wgate.weight"};
        for (int k = 0; k < 2; k++) {
            ck_assert_int_eq(kvc_st_require(f, NAME(mats[k]), KVC_DT_BF16, 2, s_c, &v, NULL), KVC_OK);
            ck_assert_int_eq(kvc_dequant_tensor(f, name, &x, shape, NULL), KVC_OK);
            for (int64_t o = 0; o < s_c[0]; o++) {
                double ss = 0;
                for (int i = 0; i < 4096; i++) {
                    CHECK(isfinite(x[o * 4096 + i]));
                    ss += (double)x[o * 4096 + i] * x[o * 4096 + i];
                }
                CHECK(sqrt(ss) > 0.7 && sqrt(ss) < 1.3); /* b_o in [0.85, 1.15] */
            }
            free(x);
        }
        ck_assert_int_eq(kvc_st_require(f, NAME("attn.compressor.ape"), KVC_DT_F32, 2, s_ape, &v, NULL), KVC_OK);
        const float *ape = (const float *)v->data;
        for (int64_t i = 0; i < s_ape[0] * s_ape[1]; i++)
            CHECK(isfinite(ape[i]) && fabsf(ape[i]) <= 0.05f * 3.4642f);
    }
#undef NAME
    kvc_st_close(f);
}
END_TEST

/* hidden.safetensors holds passage 0 exactly as the in-memory generator
 * makes it, with its shape and metadata. */
START_TEST(hidden_file_as_specified)
{
    char path[512];
    kvc_st_file *f = NULL;
    ck_assert_int_eq(kvc_st_open(file_path(path, sizeof path, files_dir, KVC_SYNTH_HIDDEN_FILE),
                                 &f, NULL),
                     KVC_OK);
    const int64_t shape[3] = {1, KVC_SYNTH_TOKENS, KVC_SYNTH_DIM};
    const kvc_tensor_view *v;
    ck_assert_int_eq(kvc_st_require(f, "hidden", KVC_DT_BF16, 3, shape, &v, NULL), KVC_OK);
    ck_assert_uint_eq(kvc_st_count(f), 1);
    ck_assert_str_eq(meta(f, "passages"), "1");
    ck_assert_str_eq(meta(f, "seed"), "1");
    passage_fixture *p = make_passage(1, 0);
    CHECK(memcmp(v->data, p->h, sizeof p->h) == 0);
    free(p);
    kvc_st_close(f);
}
END_TEST

START_TEST(write_bad_arguments)
{
    kvc_error err;
    char path[512];
    kvc_error_clear(&err);
    file_path(path, sizeof path, files_dir, "never.safetensors");
    ck_assert_int_eq(kvc_synth_write_shard(1, 1, path, &err), KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(kvc_synth_write_hidden(1, 0, path, &err), KVC_INVALID_ARGUMENT);
    ck_assert_int_eq(kvc_synth_write_hidden(1, KVC_SYNTH_MAX_PASSAGES + 1, path, &err),
                     KVC_INVALID_ARGUMENT);
    ck_assert_int_ne(access(path, F_OK), 0);
    ck_assert_ptr_null(kvc_synth_shard_name(1));
}
END_TEST

static Suite *synth_suite(void)
{
    Suite *s = suite_create("synth");
    TCase *tc = tcase_create("prng");
    tcase_add_test(tc, splitmix64_reference);
    tcase_add_test(tc, xoshiro256ss_reference);
    tcase_add_test(tc, stream_seeding);
    tcase_add_test(tc, variates_moments);
    tcase_add_test(tc, student_heavy_tailed);
    suite_add_tcase(s, tc);
    tc = tcase_create("weights");
    tcase_add_test(tc, quantizer_matches_oracle);
    suite_add_tcase(s, tc);
    tc = tcase_create("host");
    tcase_add_test(tc, profile_as_specified);
    tcase_add_test(tc, passage_split_and_streams);
    tcase_add_test(tc, passage_properties);
    suite_add_tcase(s, tc);
    tc = tcase_create("files");
    tcase_add_unchecked_fixture(tc, make_files, remove_files);
    tcase_add_test(tc, files_match_golden_pin);
    tcase_add_test(tc, files_deterministic);
    tcase_add_loop_test(tc, shards_as_specified, 0, 3);
    tcase_add_test(tc, hidden_file_as_specified);
    tcase_add_test(tc, write_bad_arguments);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return kvc_test_run(synth_suite());
}
