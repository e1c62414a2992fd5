/* kvcert streams: the V4 KV write path from shards and hidden states to
 * the three bf16 KV streams of each passage. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/progress.h"
#include "core/backend.h"
#include "io/digest.h"
#include "io/safetensors.h"
#include "kernels/cuda_backend.h"
#include "v4/pipeline.h"
#include "v4/profile.h"

static void streams_help(FILE *out)
{
    fprintf(out,
            "usage: kvcert streams --shards DIR --hidden FILE [--profile P]\n"
            "                      [--passages LIST] [--backend B] --out FILE\n"
            "\n"
            "Runs the DeepSeek-V4-Flash KV write path (SPEC.md section 5) on the CPU or\n"
            "the GPU (--backend): layer 0's main KV projection, layer 2's compressor\n"
            "(ratio 4) and layer 3's (ratio 128), and writes, for each passage k, the\n"
            "bf16 tensors\n"
            "  p<k>.sliding_window_kv [S, 512], p<k>.csa_pool_kv_ratio4 [S/4, 512],\n"
            "  p<k>.hca_pool_kv_ratio128 [S/128, 512]\n"
            "to a safetensors file (written whole or not at all), and prints each\n"
            "stream's SHA-256 (of its little-endian bf16 bytes) and shape, one line\n"
            "each: '<sha256>  p<k>.<stream> [rows, 512]'. A progress bar is drawn on\n"
            "stderr when it is a terminal.\n"
            "\n"
            "Options:\n"
            "  --shards DIR      the shard files model-00002/00004/00005-of-00046.safetensors:\n"
            "                    DIR itself, or a Hugging Face cache under it (DIR may be\n"
            "                    HF_HOME, its hub/ folder, the models--deepseek-ai--\n"
            "                    DeepSeek-V4-Flash folder, or a snapshot folder; the\n"
            "                    revision of refs/main first, then the other snapshots)\n"
            "  --hidden FILE     safetensors with one BF16 tensor 'hidden' [S, 4096] or\n"
            "                    [P, S, 4096]; S a positive multiple of 128\n"
            "  --profile P       stage075 (default; as published), intended, or v4\n"
            "  --passages LIST   passages to run, e.g. 0,2,5-7 (default: all)\n"
            "  --backend B       cpu (default), cuda (CUDA device 0), or both: run each\n"
            "                    passage on the two and fail unless every stream is\n"
            "                    byte-identical (the first differing element is named,\n"
            "                    with both values in hex; no file is written)\n"
            "  --out FILE        the streams file to write\n"
            "  -h, --help        this text\n"
            "\n"
            "The CPU backend uses one thread per CPU (environment KVC_THREADS=N to\n"
            "change) and the widest of AVX-512, AVX2 and scalar code the CPU runs\n"
            "(KVC_CPU_ISA=scalar|avx2|avx512 to choose); every choice gives the same bits.\n"
            "\n"
            "Exit status: 0 success, 1 the backends differ (--backend both), 2 usage\n"
            "error (bad flag, unknown profile, bad passage list, a build without CUDA\n"
            "asked for cuda), 3 bad input or I/O (missing shard or tensor, wrong dtype\n"
            "or shape, hidden states not [.., S, 4096]), no CUDA device, or a CUDA\n"
            "failure.\n");
}

/* Parses "0,2,5-7" into sel[] (flags per passage, at most np). */
static int parse_passages(const char *s, int64_t np, unsigned char *sel)
{
    memset(sel, 0, (size_t)np);
    const char *p = s;
    if (*p == '\0')
        return -1;
    while (*p != '\0') {
        char *end = NULL;
        if (*p < '0' || *p > '9')
            return -1;
        unsigned long long a = strtoull(p, &end, 10), b;
        p = end;
        if (*p == '-') {
            p++;
            if (*p < '0' || *p > '9')
                return -1;
            b = strtoull(p, &end, 10);
            p = end;
        } else {
            b = a;
        }
        if (a > b || b >= (unsigned long long)np)
            return -1;
        for (unsigned long long i = a; i <= b; i++) {
            if (sel[i])
                return -1; /* listed twice */
            sel[i] = 1;
        }
        if (*p == ',')
            p++;
        else if (*p != '\0')
            return -1;
        if (*p == '\0' && p[-1] == ',')
            return -1;
    }
    return 0;
}

static void sha256_hex(const void *data, size_t n, char hex[KVC_SHA256_HEX_SIZE + 1])
{
    uint8_t md[KVC_SHA256_SIZE];
    if (kvc_sha256_buffer(data, n, md) != KVC_OK) {
        snprintf(hex, KVC_SHA256_HEX_SIZE + 1, "(digest failed)");
        return;
    }
    kvc_sha256_hex(md, hex);
}

typedef struct streams_run {
    kvc_v4_hidden *hidden;
    kvc_v4_model *model;
    kvc_v4_model *check_model; /* --backend both: the CUDA side */
    kvc_backend *cuda;
    kvc_st_writer *writer;
    kvc_v4_streams *out; /* one per selected passage */
    int64_t nout;
    float *x;
    unsigned char *sel;
    kvc_cli_progress *bar;
} streams_run;

static void run_free(streams_run *r)
{
    kvc_cli_progress_finish(r->bar);
    for (int64_t i = 0; i < r->nout; i++)
        kvc_v4_streams_free(&r->out[i]);
    free(r->out);
    free(r->x);
    free(r->sel);
    kvc_st_writer_destroy(r->writer);
    kvc_v4_model_destroy(r->model);
    kvc_v4_model_destroy(r->check_model);
    kvc_backend_cuda_destroy(r->cuda);
    kvc_v4_hidden_close(r->hidden);
}

typedef enum backend_choice { BACKEND_CPU, BACKEND_CUDA, BACKEND_BOTH } backend_choice;

/* The CUDA backend on device 0. No device is a bad environment, not a
 * skipped test: exit 3 with "no CUDA device". */
static int open_cuda(streams_run *r, kvc_error *err)
{
    kvc_status st = kvc_backend_cuda_create(0, &r->cuda, err);
    if (st == KVC_OK)
        return KVC_EXIT_OK;
    int rc = kvc_cli_fail("streams", err);
    return st == KVC_CUDA_NO_DEVICE ? KVC_EXIT_BAD_INPUT : rc;
}

/* --backend both: the CPU streams a against the CUDA streams b. */
static kvc_status compare_streams(const kvc_v4_streams *a, const kvc_v4_streams *b, int64_t p,
                                  const char *name_a, const char *name_b, kvc_error *err)
{
    for (int i = 0; i < KVC_V4_NSTREAMS; i++) {
        int64_t n = a->seq_len / kvc_v4_stream_ratio((kvc_v4_stream)i) * KVC_V4_HEAD_DIM;
        if (memcmp(a->kv[i], b->kv[i], (size_t)n * sizeof(uint16_t)) == 0)
            continue;
        int64_t j = 0;
        while (a->kv[i][j] == b->kv[i][j])
            j++;
        return kvc_error_set(err, KVC_BACKEND_MISMATCH,
                             "passage %lld, stream %s: element %lld (row %lld, dim %lld) "
                             "differs: %s 0x%04x, %s 0x%04x",
                             (long long)p, kvc_v4_stream_name((kvc_v4_stream)i), (long long)j,
                             (long long)(j / KVC_V4_HEAD_DIM), (long long)(j % KVC_V4_HEAD_DIM),
                             name_a, a->kv[i][j], name_b, b->kv[i][j]);
    }
    return KVC_OK;
}

static int streams_main(const char *shards, const char *hidden, const kvc_profile *prof,
                        const char *passages, backend_choice backend, const char *out_path)
{
    streams_run r;
    memset(&r, 0, sizeof r);
    kvc_error err;
    kvc_error_clear(&err);
    int rc = KVC_EXIT_OK;
    /* the device first: without one nothing else is worth reading */
    if (backend != BACKEND_CPU && (rc = open_cuda(&r, &err)) != KVC_EXIT_OK)
        goto done;
    if (kvc_v4_hidden_open(hidden, &r.hidden, &err) != KVC_OK) {
        rc = kvc_cli_fail("streams", &err);
        goto done;
    }
    int64_t np = kvc_v4_hidden_passages(r.hidden), S = kvc_v4_hidden_seq_len(r.hidden);
    r.sel = (unsigned char *)malloc((size_t)np);
    r.out = (kvc_v4_streams *)calloc((size_t)np, sizeof *r.out);
    r.x = (float *)malloc(sizeof(float) * (size_t)S * KVC_V4_HIDDEN_DIM);
    r.writer = kvc_st_writer_create();
    if (r.sel == NULL || r.out == NULL || r.x == NULL || r.writer == NULL) {
        kvc_error_set(&err, KVC_NOMEM, "%lld passages of %lld tokens", (long long)np,
                      (long long)S);
        rc = kvc_cli_fail("streams", &err);
        goto done;
    }
    if (passages == NULL)
        memset(r.sel, 1, (size_t)np);
    else if (parse_passages(passages, np, r.sel) != 0) {
        rc = kvc_cli_usage_error("streams",
                                 "bad --passages '%s' (indices or ranges below %lld, each once)",
                                 passages, (long long)np);
        goto done;
    }
    const kvc_backend *main_be = backend == BACKEND_CUDA ? r.cuda : kvc_backend_cpu();
    if (kvc_v4_model_load(main_be, shards, &r.model, &err) != KVC_OK ||
        (backend == BACKEND_BOTH &&
         kvc_v4_model_load(r.cuda, shards, &r.check_model, &err) != KVC_OK)) {
        rc = kvc_cli_fail("streams", &err);
        goto done;
    }
    int64_t total = 0, done_n = 0;
    for (int64_t p = 0; p < np; p++)
        total += r.sel[p];
    /* progress in hidden-state bytes consumed, drawn on a terminal only */
    const uint64_t per = (uint64_t)S * KVC_V4_HIDDEN_DIM * 2;
    r.bar = kvc_cli_stderr_is_tty()
                ? kvc_cli_progress_create_on(stderr, "streams", per * (uint64_t)total, 0.1)
                : NULL;
    for (int64_t p = 0; p < np; p++) {
        if (!r.sel[p])
            continue;
        kvc_v4_streams *s = &r.out[r.nout++];
        if (kvc_v4_hidden_read(r.hidden, p, r.x, &err) != KVC_OK ||
            kvc_v4_streams_compute(r.model, prof, r.x, S, s, &err) != KVC_OK) {
            rc = kvc_cli_fail("streams", &err);
            goto done;
        }
        if (backend == BACKEND_BOTH) {
            kvc_v4_streams g;
            kvc_status cst = kvc_v4_streams_compute(r.check_model, prof, r.x, S, &g, &err);
            if (cst == KVC_OK)
                cst = compare_streams(s, &g, p, kvc_backend_cpu()->name, r.cuda->name, &err);
            kvc_v4_streams_free(&g);
            if (cst != KVC_OK) {
                kvc_cli_progress_finish(r.bar); /* erase the bar before the message */
                r.bar = NULL;
                rc = kvc_cli_fail("streams", &err);
                goto done;
            }
        }
        for (int i = 0; i < KVC_V4_NSTREAMS; i++) {
            char name[96];
            int64_t shape[2] = {S / kvc_v4_stream_ratio((kvc_v4_stream)i), KVC_V4_HEAD_DIM};
            snprintf(name, sizeof name, "p%lld.%s", (long long)p,
                     kvc_v4_stream_name((kvc_v4_stream)i));
            if (kvc_st_writer_add(r.writer, name, KVC_DT_BF16, 2, shape, s->kv[i], &err) !=
                KVC_OK) {
                rc = kvc_cli_fail("streams", &err);
                goto done;
            }
        }
        done_n++;
        kvc_cli_progress_update(r.bar, per * (uint64_t)done_n, per * (uint64_t)total);
    }
    kvc_cli_progress_finish(r.bar);
    r.bar = NULL;
    char seq[32];
    snprintf(seq, sizeof seq, "%lld", (long long)S);
    if (kvc_st_writer_set_metadata(r.writer, "profile", prof->name, &err) != KVC_OK ||
        kvc_st_writer_set_metadata(r.writer, "seq_len", seq, &err) != KVC_OK ||
        kvc_st_writer_set_metadata(r.writer, "producer", "kvcert " PACKAGE_VERSION, &err) !=
            KVC_OK ||
        kvc_st_writer_write(r.writer, out_path, &err) != KVC_OK) {
        rc = kvc_cli_fail("streams", &err);
        goto done;
    }
    /* hashes after the file is in place: what is printed is what was written */
    int64_t k = 0;
    for (int64_t p = 0; p < np; p++) {
        if (!r.sel[p])
            continue;
        const kvc_v4_streams *s = &r.out[k++];
        for (int i = 0; i < KVC_V4_NSTREAMS; i++) {
            int64_t rows = S / kvc_v4_stream_ratio((kvc_v4_stream)i);
            char hex[KVC_SHA256_HEX_SIZE + 1];
            sha256_hex(s->kv[i], (size_t)rows * KVC_V4_HEAD_DIM * 2, hex);
            printf("%s  p%lld.%s [%lld, %d]\n", hex, (long long)p,
                   kvc_v4_stream_name((kvc_v4_stream)i), (long long)rows, KVC_V4_HEAD_DIM);
        }
    }
    if (backend == BACKEND_BOTH)
        printf("backends %s and %s: all %lld streams byte-identical\n", kvc_backend_cpu()->name,
               r.cuda->name, (long long)(done_n * KVC_V4_NSTREAMS));
done:
    run_free(&r);
    return rc;
}

int kvc_cmd_streams(int argc, char **argv)
{
    static const struct option opts[] = {
        {"shards", required_argument, NULL, 's'}, {"hidden", required_argument, NULL, 'H'},
        {"profile", required_argument, NULL, 'p'}, {"passages", required_argument, NULL, 'P'},
        {"out", required_argument, NULL, 'o'},    {"backend", required_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    const char *shards = NULL, *hidden = NULL, *profile = "stage075", *passages = NULL,
               *out = NULL;
    backend_choice backend = BACKEND_CPU;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            shards = optarg;
            break;
        case 'H':
            hidden = optarg;
            break;
        case 'p':
            profile = optarg;
            break;
        case 'P':
            passages = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'b':
            if (strcmp(optarg, "cpu") == 0)
                backend = BACKEND_CPU;
            else if (strcmp(optarg, "cuda") == 0)
                backend = BACKEND_CUDA;
            else if (strcmp(optarg, "both") == 0)
                backend = BACKEND_BOTH;
            else
                return kvc_cli_usage_error("streams", "unknown --backend '%s' (cpu, cuda, both)",
                                           optarg);
            break;
        case 'h':
            streams_help(stdout);
            return KVC_EXIT_OK;
        default:
            return kvc_cli_usage_error("streams", "unknown option or missing value '%s'",
                                       argv[optind - 1]);
        }
    }
    if (optind != argc)
        return kvc_cli_usage_error("streams", "unexpected argument '%s'", argv[optind]);
    if (shards == NULL || hidden == NULL || out == NULL)
        return kvc_cli_usage_error("streams", "--shards, --hidden and --out are required");
    kvc_error err;
    kvc_error_clear(&err);
    const kvc_profile *prof = kvc_profile_find(profile, &err);
    if (prof == NULL)
        return kvc_cli_fail("streams", &err);
    return streams_main(shards, hidden, prof, passages, backend, out);
}
