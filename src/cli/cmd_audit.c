/* kvcert audit (and the shared part of kvcert sweep): shards + hidden
 * states -> streams -> audit, codecs, baselines -> a kvcert-report/1
 * document (stats/audit_run.h) and a human table printed from it. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/audit_cli.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/progress.h"
#include "core/backend.h"
#include "io/atomic.h"
#include "kernels/cuda_backend.h"
#include "stats/audit.h"
#include "stats/audit_run.h"
#include "v4/profile.h"

static void help(FILE *out, int sweep)
{
    const char *cmd = sweep ? "sweep" : "audit";
    fprintf(out,
            "usage: kvcert %s --shards DIR --hidden FILE [--profile P] [--q LIST]\n"
            "                    [--passages LIST] [--backend cpu|cuda|both] [--out FILE] [--json]\n"
            "\n",
            cmd);
    if (!sweep)
        fprintf(out,
                "Runs the V4 KV write path on each selected passage and, per stream, the\n"
                "non-Gaussian audit (four metrics, N, D, the gates, and the same metrics on\n"
                "i.i.d. Gaussian data of the same N and D as a calibration row), D4 and E8\n"
                "KakeyaLattice at each Q (accounted bits, and the realized bits of kvcert's\n"
                "bitstream: every stream is encoded and decoded, and the run fails unless\n"
                "the decode equals the roundtrip bit for bit), the fp8_per64 baseline\n"
                "(4224 bits) and fp8_ds_mla (4672 bits, 584-byte records encoded and\n"
                "decoded), with rel-MSE, cosine and ratios vs fp8_per64 per passage. The\n"
                "aggregates across passages (mean, std, 95 %% CI with the published t\n"
                "table, exact sums) are made by the stats module, as `kvcert aggregate`\n"
                "makes them; the report can be checked with `kvcert aggregate --check`.\n");
    else
        fprintf(out,
                "Runs the V4 KV write path on each selected passage and the Q-sweep of E8\n"
                "against the fp8_per64 baseline per stream: E8 rel-MSE per Q (mean, 95 %%\n"
                "CI), the thresholds A (1.00x FP8), B (1.05x), C (1.20x), point and\n"
                "CI-safe, with bits, compression vs FP8 and bf16, savings and margins, and\n"
                "the max usable compression ratio (strategy 1: one Q for all layers;\n"
                "strategy 2: each stream its own Q, layer-weighted 3/20/20), all computed\n"
                "by the stats module. The report has the published Q-sweep file's shape\n"
                "and can be checked with `kvcert aggregate --check`.\n");
    fprintf(out,
            "\n"
            "Options:\n"
            "  --shards DIR      the shard files (as for `kvcert streams`)\n"
            "  --hidden FILE     safetensors with one BF16 tensor 'hidden' [S, 4096] or\n"
            "                    [P, S, 4096]\n"
            "  --profile P       stage075 (default), intended, or v4\n"
            "  --q LIST          Q values, e.g. 10,38 (1..126, each once; default %s)\n"
            "  --passages LIST   passages to run, e.g. 0,2,5-7 (default: all)\n"
            "  --backend B       cpu (default), cuda (CUDA device 0), or both. The whole\n"
            "                    run is on that backend: the KV streams, the audit, the\n"
            "                    codecs, their bitstreams and the metrics (the Gaussian\n"
            "                    calibration row is always computed on the CPU). both:\n"
            "                    the whole run on the CPU and on CUDA, failing unless the\n"
            "                    two reports are identical bit for bit (the first\n"
            "                    differing field is named, with both values in decimal\n"
            "                    and as hex binary64; nothing is written); the report\n"
            "                    written or printed is the CPU's\n"
            "  --out FILE        write the JSON report there (whole or not at all)\n"
            "  --json            print the JSON report on stdout instead of the table\n"
            "  -h, --help        this text\n"
            "\n"
            "A progress bar is drawn on stderr when it is a terminal.\n"
            "\n"
            "Exit status: 0 success, 1 the CPU and CUDA reports differ (--backend both),\n"
            "2 usage error (bad flag, Q or passage list, unknown profile, a build without\n"
            "CUDA asked for cuda or both), 3 bad input or I/O (missing shard or tensor,\n"
            "bad hidden states, unwritable output), no CUDA device, a CUDA failure, or an\n"
            "internal failure (a bitstream that does not decode to its roundtrip).\n",
            sweep ? "1,2,3,4,6,8,10,14,19,24,38,76" : "10,38");
}

/* ------------------------------------------------------------ table helpers */

static const cJSON *at(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *n = at(o, key);
    return cJSON_IsNumber(n) ? n->valuedouble : 0.0 / 0.0;
}

static void print_audit_block(const cJSON *so)
{
    const cJSON *au = at(so, "audit"), *gates = at(so, "audit_gates"),
                *cal = at(so, "audit_calibration");
    static const double thr[KVC_GATE_COUNT] = {KVC_AUDIT_GATE_KURT, KVC_AUDIT_GATE_ISO,
                                               KVC_AUDIT_GATE_HAD, KVC_AUDIT_GATE_W2};
    printf("  audit (N = %.0f, D = %.0f)          mean +- CI95              gate    "
           "   Gaussian (same N, D)\n",
           num(at(au, "num_vectors"), "mean"), num(at(au, "D"), "mean"));
    for (int g = 0; g < KVC_GATE_COUNT; g++) {
        const char *name = kvc_audit_gate_name((kvc_audit_gate)g);
        const cJSON *a = at(au, name);
        printf("    %-36s %11.6g +- %-10.3g > %-4g %-5s %10.6g\n", name, num(a, "mean"),
               num(a, "ci95_hw"), thr[g], cJSON_IsTrue(at(gates, name)) ? "FIRES" : "ok",
               num(cal, name));
    }
}

static void print_audit_table(const cJSON *doc)
{
    const cJSON *abs = at(doc, "aggregate_by_stream");
    const cJSON *pp = at(doc, "per_passage");
    printf("kvcert audit: %d passage(s), profile %s\n", cJSON_GetArraySize(pp),
           cJSON_GetStringValue(at(at(doc, "config"), "profile")));
    for (const cJSON *so = abs != NULL ? abs->child : NULL; so != NULL; so = so->next) {
        printf("\n%s\n", so->string);
        printf("  %-20s %9s %9s  %-26s %s\n", "codec", "bits acc", "realized",
               "rel-MSE mean +- CI95", "ratio vs FP8 +- CI95");
        const cJSON *ratios = at(so, "ratios_vs_fp8");
        for (const cJSON *c = at(so, "codecs")->child; c != NULL; c = c->next) {
            char real[24] = "-", ratio[48] = "(baseline)";
            if (at(c, "bits_realized") != NULL)
                snprintf(real, sizeof real, "%.0f", num(c, "bits_realized"));
            const cJSON *r = at(ratios, c->string);
            if (r != NULL)
                snprintf(ratio, sizeof ratio, "%.6f +- %.6f", num(r, "mean"), num(r, "ci95_hw"));
            printf("  %-20s %9.0f %9s  %.6e +- %-11.3e %s\n", c->string,
                   num(c, "bits_per_vector"), real, num(at(c, "rel_mse"), "mean"),
                   num(at(c, "rel_mse"), "ci95_hw"), ratio);
        }
        print_audit_block(so);
    }
}

static void print_strategy(const char *label, const cJSON *s)
{
    if (!cJSON_IsTrue(at(s, "admissible"))) {
        printf("    %-10s not admissible\n", label);
        return;
    }
    printf("    %-10s Q", label);
    for (const cJSON *q = at(s, "Q")->child; q != NULL; q = q->next)
        printf(" %s=%d", q->string, q->valueint);
    printf("  %.3f bits  CR %.4fx vs FP8  %.4fx vs bf16\n", num(s, "bits_per_vec"),
           num(s, "cr_vs_fp8"), num(s, "cr_vs_bf16"));
}

static void print_sweep_table(const cJSON *doc)
{
    const cJSON *abs = at(doc, "aggregate_by_stream");
    printf("kvcert sweep: %.0f passage(s), profile %s\n", num(at(doc, "config"), "n_passages"),
           cJSON_GetStringValue(at(at(doc, "config"), "profile")));
    for (const cJSON *so = abs != NULL ? abs->child : NULL; so != NULL; so = so->next) {
        const cJSON *fp8 = at(so, "fp8_rel_mse"), *rom = at(so, "e8_ratio_of_means_vs_fp8");
        printf("\n%s: fp8_per64 rel-MSE %.6e +- %.3e (4224 bits)\n", so->string,
               num(fp8, "mean"), num(fp8, "ci95_hw"));
        printf("  %4s %6s  %-26s %s\n", "Q", "bits", "E8 rel-MSE mean +- CI95",
               "E8/FP8 (ratio of means)");
        for (const cJSON *e = at(so, "e8_rel_mse_by_q")->child; e != NULL; e = e->next)
            printf("  %4s %6.0f  %.6e +- %-11.3e %.6f\n", e->string,
                   num(at(doc, "bits_per_vec_by_q"), e->string), num(e, "mean"),
                   num(e, "ci95_hw"), num(rom, e->string));
        printf("  %-34s %4s %6s %9s %9s %9s %9s\n", "threshold", "Q", "bits", "CR/FP8",
               "CR/bf16", "save/FP8", "margin");
        for (const cJSON *t = at(so, "thresholds")->child; t != NULL; t = t->next) {
            if (!cJSON_IsTrue(at(t, "admissible"))) {
                printf("  %-34s not admissible (budget %.6e)\n", t->string,
                       num(t, "budget_rel_mse"));
                continue;
            }
            printf("  %-34s %4.0f %6.0f %8.4fx %8.4fx %8.2f%% %8.2f%%\n", t->string,
                   num(t, "Q_min"), num(t, "bits_per_vec"), num(t, "cr_vs_fp8"),
                   num(t, "cr_vs_bf16"), num(t, "bit_saving_vs_fp8_pct"), num(t, "margin_pct"));
        }
    }
    const cJSON *mu = at(doc, "max_usable_cr");
    if (mu != NULL) {
        printf("\nmax usable compression (layers SWA 3, CSA 20, HCA 20):\n");
        for (const cJSON *v = mu->child; v != NULL; v = v->next) {
            printf("  %s\n", v->string);
            print_strategy("strategy 1", at(v, "strategy1_unified_q"));
            print_strategy("strategy 2", at(v, "strategy2_per_stream_q"));
        }
    }
}

/* ------------------------------------------------------------ the command */

typedef enum backend_choice { BACKEND_CPU, BACKEND_CUDA, BACKEND_BOTH } backend_choice;

typedef struct audit_args {
    const char *shards, *hidden, *profile, *passages, *out, *q;
    backend_choice backend;
    int json;
} audit_args;

/* One whole run on be into *json. */
static kvc_status run_on(int sweep, const audit_args *a, const kvc_profile *prof,
                         const uint32_t *q, size_t nq, const kvc_backend *be, const char *name,
                         char **json, kvc_error *err)
{
    const char *cmd = sweep ? "sweep" : "audit";
    kvc_cli_progress *bar = NULL;
    kvc_audit_run_options o;
    memset(&o, 0, sizeof o);
    o.mode = sweep ? KVC_AUDIT_MODE_SWEEP : KVC_AUDIT_MODE_AUDIT;
    o.profile = prof;
    o.q = q;
    o.nq = nq;
    o.passages = a->passages;
    o.backend_name = name;
    if (kvc_cli_stderr_is_tty()) {
        bar = kvc_cli_progress_create_on(stderr, cmd, 1, 0.1);
        o.progress = kvc_cli_progress_update;
        o.progress_ctx = bar;
    }
    kvc_status st = kvc_audit_run(be, a->shards, a->hidden, &o, json, err);
    kvc_cli_progress_finish(bar);
    return st;
}

static int run_audit(int sweep, const audit_args *a, const kvc_profile *prof, const uint32_t *q,
                     size_t nq)
{
    const char *cmd = sweep ? "sweep" : "audit";
    kvc_error err;
    kvc_error_clear(&err);
    kvc_backend *cuda = NULL;
    kvc_atomic_file *af = NULL;
    char *json = NULL, *json2 = NULL;
    int rc = KVC_EXIT_OK;
    if (a->backend != BACKEND_CPU) {
        kvc_status st = kvc_backend_cuda_create(0, &cuda, &err);
        if (st != KVC_OK) {
            rc = kvc_cli_fail(cmd, &err);
            return st == KVC_CUDA_NO_DEVICE ? KVC_EXIT_BAD_INPUT : rc;
        }
    }
    /* the output first: an unwritable place fails before the long run */
    if (a->out != NULL && kvc_atomic_open(a->out, &af, &err) != KVC_OK) {
        rc = kvc_cli_fail(cmd, &err);
        goto done;
    }
    kvc_status st;
    if (a->backend == BACKEND_CUDA)
        st = run_on(sweep, a, prof, q, nq, cuda, "cuda", &json, &err);
    else
        st = run_on(sweep, a, prof, q, nq, kvc_backend_cpu(), "cpu", &json, &err);
    if (st == KVC_OK && a->backend == BACKEND_BOTH) {
        st = run_on(sweep, a, prof, q, nq, cuda, "cuda", &json2, &err);
        if (st == KVC_OK)
            st = kvc_audit_compare_reports(json, kvc_backend_cpu()->name, json2, cuda->name,
                                           &err);
    }
    if (st != KVC_OK) {
        rc = kvc_cli_fail(cmd, &err);
        goto done;
    }
    if (af != NULL) {
        FILE *f = kvc_atomic_stream(af);
        if (fputs(json, f) == EOF) {
            kvc_error_set(&err, KVC_IO, "writing %s", a->out);
            rc = kvc_cli_fail(cmd, &err);
            goto done;
        }
        kvc_atomic_file *c = af;
        af = NULL;
        if (kvc_atomic_commit(c, &err) != KVC_OK) {
            rc = kvc_cli_fail(cmd, &err);
            goto done;
        }
    }
    if (a->json) {
        fputs(json, stdout);
    } else {
        cJSON *doc = cJSON_Parse(json);
        if (doc == NULL) {
            kvc_error_set(&err, KVC_NOMEM, "reading the report back");
            rc = kvc_cli_fail(cmd, &err);
            goto done;
        }
        if (sweep)
            print_sweep_table(doc);
        else
            print_audit_table(doc);
        cJSON_Delete(doc);
    }
    if (a->backend == BACKEND_BOTH) /* stderr under --json: stdout holds the report */
        fprintf(a->json ? stderr : stdout, "backends %s and %s: the reports are identical\n",
                kvc_backend_cpu()->name, cuda->name);
done:
    if (af != NULL)
        kvc_atomic_abort(af);
    free(json);
    free(json2);
    kvc_backend_cuda_destroy(cuda);
    return rc;
}

int kvc__cli_audit_main(int sweep, int argc, char **argv)
{
    static const struct option opts[] = {
        {"shards", required_argument, NULL, 's'},  {"hidden", required_argument, NULL, 'H'},
        {"profile", required_argument, NULL, 'p'}, {"passages", required_argument, NULL, 'P'},
        {"q", required_argument, NULL, 'q'},       {"out", required_argument, NULL, 'o'},
        {"backend", required_argument, NULL, 'b'}, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    const char *cmd = sweep ? "sweep" : "audit";
    audit_args a;
    memset(&a, 0, sizeof a);
    a.profile = "stage075";
    a.q = sweep ? "1,2,3,4,6,8,10,14,19,24,38,76" : "10,38";
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            a.shards = optarg;
            break;
        case 'H':
            a.hidden = optarg;
            break;
        case 'p':
            a.profile = optarg;
            break;
        case 'P':
            a.passages = optarg;
            break;
        case 'q':
            a.q = optarg;
            break;
        case 'o':
            a.out = optarg;
            break;
        case 'j':
            a.json = 1;
            break;
        case 'b':
            if (strcmp(optarg, "cpu") == 0)
                a.backend = BACKEND_CPU;
            else if (strcmp(optarg, "cuda") == 0)
                a.backend = BACKEND_CUDA;
            else if (strcmp(optarg, "both") == 0)
                a.backend = BACKEND_BOTH;
            else
                return kvc_cli_usage_error(cmd, "unknown --backend '%s' (cpu, cuda, both)",
                                           optarg);
            break;
        case 'h':
            help(stdout, sweep);
            return KVC_EXIT_OK;
        default:
            return kvc_cli_usage_error(cmd, "unknown option or missing value '%s'",
                                       argv[optind - 1]);
        }
    }
    if (optind != argc)
        return kvc_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (a.shards == NULL || a.hidden == NULL)
        return kvc_cli_usage_error(cmd, "--shards and --hidden are required");
    uint32_t q[KVC_AUDIT_RUN_MAX_Q];
    int nq = kvc_audit_parse_q_list(a.q, q, KVC_AUDIT_RUN_MAX_Q);
    if (nq <= 0)
        return kvc_cli_usage_error(cmd, "bad --q '%s' (values 1..126, each once)", a.q);
    kvc_error err;
    kvc_error_clear(&err);
    const kvc_profile *prof = kvc_profile_find(a.profile, &err);
    if (prof == NULL)
        return kvc_cli_fail(cmd, &err);
    return run_audit(sweep, &a, prof, q, (size_t)nq);
}

int kvc_cmd_audit(int argc, char **argv)
{
    return kvc__cli_audit_main(0, argc, argv);
}
