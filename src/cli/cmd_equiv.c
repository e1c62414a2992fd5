/* kvcert equiv: the CPU and CUDA backends, operation by operation and
 * then the whole V4 write path, compared byte for byte (DESIGN.md rule 6). */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "core/backend.h"
#include "core/formats.h"
#include "kernels/cuda.h"
#include "kernels/cuda_backend.h"
#include "v4/dequant.h"
#include "v4/equiv.h"
#include "v4/synth.h"

#define EQUIV_SKIP 77
#define SYNTH_SEED 1

static void equiv_help(FILE *out)
{
    fprintf(out,
            "usage: kvcert equiv [--seed N] [--ops LIST] [--pipeline | --no-pipeline]\n"
            "                    [--quick] [--device N] [--shards DIR --hidden FILE]\n"
            "\n"
            "Checks that the CUDA backend computes the CPU backend's bytes. Every\n"
            "operation (matmul, matmul_group, round_bf16, act_quant, rmsnorm, rope,\n"
            "pool, kvsim, and\n"
            "the FP8 dequantization; the codecs codec_roundtrip, codec_encode and\n"
            "codec_decode for D4/E8 at Q = 1..200, the fp8_per64 and fp8_ds_mla\n"
            "baselines, the statistics recon_metrics, column_moments and\n"
            "column_quantile, and the chaining helpers widen_bf16, hadamard_rows,\n"
            "abs_scaled, first_difference, fp8_ds_mla_encode and fp8_ds_mla_decode)\n"
            "runs on both with the same seeded inputs -- random\n"
            "ones, and adversarial ones (+-0, subnormals, huge values, bf16 ties, rows\n"
            "of zeros, zero vectors, tiny and huge norms, vectors landing at +-Q after\n"
            "scaling, heavy tails; NaN for round_bf16 and widen_bf16, the operations\n"
            "that keep NaN bits) --\n"
            "at the pipeline's shapes and at odd ones (1x1, 3x5 by 7, 127x129 ...),\n"
            "each output between guard bytes (a write outside it fails the case). The\n"
            "outputs are compared by SHA-256 and byte for byte. Every table operation\n"
            "then runs a second time with all its arrays in the CUDA backend's own\n"
            "memory (mem_alloc blocks with device guard zones, so a kernel writing\n"
            "outside its arrays fails the case), reported as 'OP[mem]/...'. Then (unless\n"
            "--no-pipeline) the whole V4 write path runs on both backends for the\n"
            "three profiles on `kvcert synth` seed-1 shards (S = 2048, made in a\n"
            "temporary folder and removed), and the streams are compared.\n"
            "\n"
            "Output: one line per case, 'ID: IDENTICAL (sha256 <16 hex>)' or\n"
            "'ID: DIFFERENT at I (cpu 0x... gpu 0x...)' (the first differing element)\n"
            "or 'ID: FAILED (why)', then 'N of M identical'.\n"
            "\n"
            "Options:\n"
            "  --seed N          seed of the inputs (default 1; printed, so a run can be\n"
            "                    repeated)\n"
            "  --ops LIST        only these operations, comma-separated\n"
            "  --pipeline        also the whole pipeline (the default)\n"
            "  --no-pipeline     only the operations\n"
            "  --quick           skip the operations' full pipeline shapes (S = 2048)\n"
            "  --device N        the CUDA device (default 0)\n"
            "  --shards DIR      run the pipeline on these shards instead of synthetic\n"
            "  --hidden FILE       ones (both options together; passage 0 is used)\n"
            "  -h, --help        this text\n"
            "\n"
            "equiv is a test: exit 0 when every case is identical, 1 on any difference\n"
            "or failed case, 77 (skip) when there is no CUDA device or kvcert was built\n"
            "without CUDA, 2 on a usage error, 3 when the check cannot run (I/O, memory).\n");
}

typedef struct report_state {
    int shown;
} report_state;

static void bits_value(uint32_t bits, int elem_bytes, char *buf, size_t size)
{
    if (elem_bytes == 1) { /* a stream byte: no value */
        snprintf(buf, size, "byte %u", (unsigned)bits);
        return;
    }
    float v = elem_bytes == 2 ? kvc_bf16_to_f32((uint16_t)bits) : 0.0f;
    if (elem_bytes == 4)
        memcpy(&v, &bits, sizeof v);
    snprintf(buf, size, "%.9g", (double)v);
}

static void report(void *arg, const kvc_equiv_case *c)
{
    report_state *st = (report_state *)arg;
    st->shown++;
    if (c->identical) {
        printf("%s: IDENTICAL (sha256 ", c->id);
        for (int i = 0; i < 8; i++)
            printf("%02x", c->sha_ref[i]);
        printf(")\n");
    } else if (c->problem[0] != '\0') {
        printf("%s: FAILED (%s)\n", c->id, c->problem);
    } else {
        char a[48], b[48];
        int w = c->elem_bytes * 2;
        bits_value(c->ref_bits, c->elem_bytes, a, sizeof a);
        bits_value(c->test_bits, c->elem_bytes, b, sizeof b);
        printf("%s: DIFFERENT at %" PRId64 " (cpu 0x%0*" PRIx32 " gpu 0x%0*" PRIx32
               "; %s vs %s)\n",
               c->id, c->first_diff, w, c->ref_bits, w, c->test_bits, a, b);
    }
    fflush(stdout);
}

static kvc_status cpu_dequant(void *arg, const uint8_t *w, int64_t rows, int64_t cols,
                              const uint8_t *scale, int64_t srows, int64_t scols, float *out,
                              kvc_error *err)
{
    (void)arg;
    return kvc_dequant_fp8_block(w, rows, cols, scale, srows, scols, out, err);
}

static kvc_status gpu_dequant(void *arg, const uint8_t *w, int64_t rows, int64_t cols,
                              const uint8_t *scale, int64_t srows, int64_t scols, float *out,
                              kvc_error *err)
{
    return kvc_cuda_dequant_fp8_block(*(const int *)arg, w, rows, cols, scale, srows, scols,
                                      out, err);
}

/* Synthetic shards (layers 0, 2, 3) and one passage of hidden states
 * under dir; the file names go to the caller's arrays. */
static const int synth_layers[3] = {0, 2, 3};

static kvc_status make_synth(const char *dir, char paths[4][1100], kvc_error *err)
{
    for (int i = 0; i < 3; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/%s", dir, kvc_synth_shard_name(synth_layers[i]));
        kvc_status st = kvc_synth_write_shard(SYNTH_SEED, synth_layers[i], paths[i], err);
        if (st != KVC_OK)
            return st;
    }
    snprintf(paths[3], sizeof paths[3], "%s/hidden.safetensors", dir);
    return kvc_synth_write_hidden(SYNTH_SEED, 1, paths[3], err);
}

static int run_pipeline(const kvc_backend *cpu, const kvc_backend *gpu, const char *shards,
                        const char *hidden, report_state *rs, int *identical, int *total)
{
    kvc_error err;
    kvc_error_clear(&err);
    char dir[1024] = "", paths[4][1100];
    memset(paths, 0, sizeof paths);
    int rc = KVC_EXIT_OK;
    if (shards == NULL) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/kvcert-equiv-XXXXXX", t != NULL && *t ? t : "/tmp");
        if (mkdtemp(dir) == NULL) {
            kvc_error_set(&err, KVC_IO, "cannot make a temporary folder %s", dir);
            return kvc_cli_fail("equiv", &err);
        }
        printf("pipeline: kvcert synth seed %d shards and hidden states (1 passage) in %s\n",
               SYNTH_SEED, dir);
        fflush(stdout);
        if (make_synth(dir, paths, &err) != KVC_OK) {
            rc = kvc_cli_fail("equiv: synthetic shards", &err);
            goto cleanup;
        }
        shards = dir;
        hidden = paths[3];
    } else {
        printf("pipeline: shards %s, hidden states %s (passage 0)\n", shards, hidden);
    }
    if (kvc_equiv_pipeline(cpu, gpu, shards, hidden, report, rs, identical, total, &err) !=
        KVC_OK)
        rc = kvc_cli_fail("equiv: pipeline", &err);
cleanup:
    if (dir[0] != '\0') {
        for (int i = 0; i < 4; i++)
            if (paths[i][0] != '\0')
                unlink(paths[i]);
        rmdir(dir);
    }
    return rc;
}

static int equiv_main(uint64_t seed, unsigned ops, int pipeline, int large, int device,
                      const char *shards, const char *hidden)
{
    kvc_error err;
    kvc_error_clear(&err);
    kvc_backend *gpu = NULL;
    kvc_status st = kvc_backend_cuda_create(device, &gpu, &err);
    if (st == KVC_CUDA_NO_DEVICE || st == KVC_BACKEND_UNAVAILABLE) {
        char buf[1024];
        fprintf(stderr, "kvcert: equiv: SKIP: %s\n", kvc_error_format(&err, buf, sizeof buf));
        return EQUIV_SKIP;
    }
    if (st != KVC_OK)
        return kvc_cli_fail("equiv", &err);
    const kvc_backend *cpu = kvc_backend_cpu();
    char name[256] = "";
    int major = 0, minor = 0;
    kvc_error ierr;
    if (kvc_cuda_device_info(device, name, (int)sizeof name, &major, &minor, &ierr) != KVC_OK)
        snprintf(name, sizeof name, "unknown device");
    printf("equiv: %s vs %s (%s, compute capability %d.%d), seed %" PRIu64 "\n", cpu->name,
           gpu->name, name, major, minor, seed);
    fflush(stdout);

    int deq_device = device;
    kvc_equiv_options opt;
    memset(&opt, 0, sizeof opt);
    opt.seed = seed;
    opt.ops = ops;
    opt.large = large;
    opt.ref_dequant = cpu_dequant;
    opt.test_dequant = gpu_dequant;
    opt.test_dequant_arg = &deq_device;
    /* guard zones on the device too: a kernel writing outside its output
     * fails its case even where the copy back would hide it */
    int rc = KVC_EXIT_OK;
    report_state rs = {0};
    int identical = 0, total = 0;
    if (kvc_backend_cuda_set_guard(gpu, 1, &err) != KVC_OK ||
        kvc_equiv_ops(cpu, gpu, &opt, report, &rs, &identical, &total, &err) != KVC_OK) {
        rc = kvc_cli_fail("equiv", &err);
        goto done;
    }
    /* the same cases with every array in backend memory (guards still on) */
    {
        int mi = 0, mt = 0;
        opt.test_mem = 1;
        if (kvc_equiv_ops(cpu, gpu, &opt, report, &rs, &mi, &mt, &err) != KVC_OK) {
            rc = kvc_cli_fail("equiv: backend memory", &err);
            goto done;
        }
        identical += mi;
        total += mt;
    }
    if (pipeline) {
        int pi = 0, pt = 0;
        kvc_backend_cuda_set_guard(gpu, 0, NULL); /* speed: the ops above had guards */
        rc = run_pipeline(cpu, gpu, shards, hidden, &rs, &pi, &pt);
        identical += pi;
        total += pt;
        if (rc != KVC_EXIT_OK)
            goto done;
    }
    printf("%d of %d identical\n", identical, total);
    rc = identical == total ? KVC_EXIT_OK : KVC_EXIT_CHECK_FAILED;
done:
    kvc_backend_cuda_destroy(gpu);
    return rc;
}

int kvc_cmd_equiv(int argc, char **argv)
{
    static const struct option opts[] = {
        {"seed", required_argument, NULL, 's'},   {"ops", required_argument, NULL, 'o'},
        {"pipeline", no_argument, NULL, 'p'},     {"no-pipeline", no_argument, NULL, 'n'},
        {"quick", no_argument, NULL, 'q'},        {"device", required_argument, NULL, 'd'},
        {"shards", required_argument, NULL, 'S'}, {"hidden", required_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    unsigned long long seed = 1, device = 0;
    unsigned ops = 0;
    int pipeline = 1, large = 1, c;
    const char *shards = NULL, *hidden = NULL;
    kvc_error err;
    kvc_error_clear(&err);
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (kvc_cli_parse_u64(optarg, UINT64_MAX, &seed) != 0)
                return kvc_cli_usage_error("equiv", "bad --seed '%s' (a decimal integer)",
                                           optarg);
            break;
        case 'o':
            if (kvc_equiv_parse_ops(optarg, &ops, &err) != KVC_OK)
                return kvc_cli_usage_error("equiv", "--ops: %s", err.detail);
            break;
        case 'p':
            pipeline = 1;
            break;
        case 'n':
            pipeline = 0;
            break;
        case 'q':
            large = 0;
            break;
        case 'd':
            if (kvc_cli_parse_u64(optarg, 1023, &device) != 0)
                return kvc_cli_usage_error("equiv", "bad --device '%s'", optarg);
            break;
        case 'S':
            shards = optarg;
            break;
        case 'H':
            hidden = optarg;
            break;
        case 'h':
            equiv_help(stdout);
            return KVC_EXIT_OK;
        default:
            return kvc_cli_usage_error("equiv", "unknown option or missing value '%s'",
                                       argv[optind - 1]);
        }
    }
    if (optind != argc)
        return kvc_cli_usage_error("equiv", "unexpected argument '%s'", argv[optind]);
    if ((shards == NULL) != (hidden == NULL))
        return kvc_cli_usage_error("equiv", "--shards and --hidden go together");
    return equiv_main((uint64_t)seed, ops, pipeline, large, (int)device, shards, hidden);
}
