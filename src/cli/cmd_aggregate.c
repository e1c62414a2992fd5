/* kvcert aggregate: recompute a report's aggregates across passages
 * (SPEC.md §8) and, with --check, compare them with what the file stores. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "stats/bits.h"
#include "stats/published.h"

static void aggregate_help(FILE *out)
{
    fprintf(out,
            "usage: kvcert aggregate FILE... [--check] [--json] [--t-table published|exact]\n"
            "                        [--layers SWA,CSA,HCA]\n"
            "\n"
            "Reads per-passage results and recomputes their aggregates as SPEC.md section 8\n"
            "defines them: per field mean, std and 95 %% CI half-width with every sum\n"
            "correctly rounded; E8/D4 rel-MSE ratios vs the FP8 baseline (per-passage ratio,\n"
            "then aggregated); the layer-weighted ratio; Q-sweep thresholds A/B/C (point and\n"
            "CI-safe) and the max usable compression ratio (strategy 1: one Q everywhere;\n"
            "strategy 2: a Q per stream, bits layer-weighted).\n"
            "\n"
            "FILE is kvcert's own report (\"schema\": \"kvcert-report/1\") or one of the\n"
            "published study's files: per-passage results (stage075_n8.json), a single run\n"
            "(stage075_cpu.json, stage075_trained.json) or the Q-sweep aggregates\n"
            "(stage075_qsweep_n8.json, from which ci95_hw, bits, thresholds and strategies\n"
            "are recomputed).\n"
            "\n"
            "Options:\n"
            "  --check            compare every value the file stores with the recomputed one,\n"
            "                     bit for bit; print each mismatch (JSON path, stored and\n"
            "                     recomputed value in %%.17g and hex) and 'N of M fields match'\n"
            "  --json             print kvcert-report/1 JSON instead of tables (an array when\n"
            "                     several files are given); --check lines then go to stderr\n"
            "  --t-table SRC      'published': the study's t table and its fallback (default,\n"
            "                     unless the file records another); 'exact': the true\n"
            "                     Student-t 0.975 quantile\n"
            "  --layers S,C,H     layer counts of the SWA, CSA and HCA streams for the\n"
            "                     layer-weighted figures (default 3,20,20 as published)\n"
            "  -h, --help         this text\n"
            "\n"
            "Exit status: 0 all fields match (or no --check), 1 a field does not match,\n"
            "2 usage error, 3 a file is missing or malformed.\n");
}

typedef struct agg_args {
    int check;
    int json;
    int have_t;
    kvc_t_source t_source;
    int have_layers;
    double layers[KVC_ROLE_COUNT];
} agg_args;

static int parse_layers(const char *s, double out[KVC_ROLE_COUNT])
{
    char buf[96];
    if (strlen(s) >= sizeof buf)
        return -1;
    memcpy(buf, s, strlen(s) + 1);
    char *save = NULL, *tok = strtok_r(buf, ",", &save);
    int n = 0;
    double total = 0.0;
    for (; tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        unsigned long long v;
        if (n == KVC_ROLE_COUNT || kvc_cli_parse_u64(tok, 1000000, &v) != 0)
            return -1;
        out[n++] = (double)v;
        total += (double)v;
    }
    /* strtok_r skips empty fields: count the commas to refuse "3,,20,20". */
    int commas = 0;
    for (const char *p = s; *p; p++)
        commas += *p == ',';
    return n == KVC_ROLE_COUNT && commas == KVC_ROLE_COUNT - 1 && total > 0.0 ? 0 : -1;
}

/* ------------------------------------------------------------ tables */

static void print_agg_pair(const kvc_stats_agg *a)
{
    printf("%.6e ± %.3e", a->mean, a->ci95_hw);
}

static double first_t(const kvc_result *res)
{
    for (size_t i = 0; i < res->n_streams; i++) {
        const kvc_result_stream *s = &res->streams[i];
        for (size_t k = 0; k < s->n_codecs; k++)
            if (s->codecs[k].rel_mse.n >= 2)
                return s->codecs[k].rel_mse.t;
        if (s->has_sweep && s->fp8.n >= 2)
            return s->fp8.t;
    }
    return 0.0 / 0.0;
}

static uint64_t first_n(const kvc_result *res)
{
    for (size_t i = 0; i < res->n_streams; i++) {
        if (res->streams[i].n_codecs > 0)
            return res->streams[i].codecs[0].rel_mse.n;
        if (res->streams[i].has_sweep)
            return res->streams[i].fp8.n;
    }
    return 0;
}

static void print_header(const kvc_report *r, const kvc_result *res)
{
    printf("== %s: %s, %zu stream%s, head_dim %u", r->path, kvc_report_origin_name(r),
           r->n_streams, r->n_streams == 1 ? "" : "s", (unsigned)r->head_dim);
    if (r->kind == KVC_REPORT_PER_PASSAGE)
        printf(", %zu passage%s", r->n_passages, r->n_passages == 1 ? "" : "s");
    printf("\n   t: %s", kvc_t_source_name(res->opt.t_source));
    uint64_t n = first_n(res);
    if (n >= 2)
        printf(" (df %llu -> %.6g)", (unsigned long long)(n - 1), first_t(res));
    printf("; every sum correctly rounded\n");
}

static void print_passage_table(const kvc_result *res)
{
    printf("%-22s %-20s %5s  %-28s %s\n", "stream", "codec", "bits", "rel-MSE mean ± ci95_hw",
           "ratio vs FP8 ± ci95_hw");
    for (size_t i = 0; i < res->n_streams; i++) {
        const kvc_result_stream *s = &res->streams[i];
        for (size_t k = 0; k < s->n_codecs; k++) {
            const kvc_result_codec *c = &s->codecs[k];
            printf("%-22s %-20s ", s->name, c->name);
            if (c->has_bits)
                printf("%5llu  ", (unsigned long long)c->bits);
            else
                printf("%5s  ", "?");
            print_agg_pair(&c->rel_mse);
            if (c->has_ratio)
                printf("   %.6f ± %.6f", c->ratio.mean, c->ratio.ci95_hw);
            else
                printf("   (baseline)");
            printf("\n");
        }
    }
    if (res->n_lw > 0) {
        printf("\nlayer-weighted ratio vs FP8 (layers SWA %g + CSA %g + HCA %g; half-widths\n"
               "combined as independent):\n",
               res->layers[0], res->layers[1], res->layers[2]);
        for (size_t i = 0; i < res->n_lw; i++)
            printf("  %-20s %.6f ± %.6f\n", res->lw[i].codec, res->lw[i].mean, res->lw[i].hw);
    }
}

static void print_sweep_table(const kvc_report *r, const kvc_result *res)
{
    for (size_t i = 0; i < res->n_streams; i++) {
        const kvc_result_stream *s = &res->streams[i];
        if (!s->has_sweep)
            continue;
        printf("\n[%s] FP8 rel-MSE %.6e ± %.3e\n", s->name, s->fp8.mean, s->fp8.ci95_hw);
        printf("  %5s %5s  %-28s %s\n", "Q", "bits", "E8 rel-MSE mean ± ci95_hw",
               "E8/FP8 (ratio of means)");
        for (size_t k = 0; k < s->n_q; k++) {
            uint64_t bits = 0;
            kvc_stats_lattice_bits(KVC_LATTICE_E8, r->head_dim, s->q[k], &bits,
                                   NULL);
            printf("  %5u %5llu  ", (unsigned)s->q[k], (unsigned long long)bits);
            print_agg_pair(&s->e8[k]);
            printf("   %.4f\n", s->ratio_of_means[k]);
        }
    }
}

static void print_thresholds(const kvc_result *res)
{
    int any = 0;
    for (size_t i = 0; i < res->n_streams; i++)
        any |= res->streams[i].has_sweep;
    if (!any)
        return;
    printf("\nthresholds (E8 rel-MSE, or mean + ci95_hw, <= m x FP8 mean; Q scanned ascending):\n");
    printf("%-22s %-34s %5s %5s %7s %7s %7s  %-12s %-12s %s\n", "stream", "threshold", "Q_min",
           "bits", "CR/FP8", "CR/bf16", "saving", "used", "budget", "margin");
    for (size_t i = 0; i < res->n_streams; i++) {
        const kvc_result_stream *s = &res->streams[i];
        if (!s->has_sweep)
            continue;
        for (int v = 0; v < KVC_THRESHOLD_VARIANTS; v++) {
            const kvc_threshold *t = &s->thr[v];
            printf("%-22s %-34s ", s->name, kvc_stats_threshold_variant_name(v));
            if (t->admissible)
                printf("%5u %5llu %7.4f %7.4f %6.2f%%  %.6e %.6e %6.2f%%\n", (unsigned)t->q_min,
                       (unsigned long long)t->bits, t->cr_vs_fp8, t->cr_vs_bf16,
                       t->saving_vs_fp8_pct, t->used, t->budget, t->margin_pct);
            else
                printf("not admissible at any swept Q (budget %.6e)\n", t->budget);
        }
    }
}

static void print_strategy(const kvc_strategy *s, int unified)
{
    if (!s->admissible) {
        printf("%-50s", "not admissible");
        return;
    }
    char q[48];
    if (unified)
        snprintf(q, sizeof q, "Q %u", (unsigned)s->q[0]);
    else
        snprintf(q, sizeof q, "Q %u/%u/%u", (unsigned)s->q[0], (unsigned)s->q[1],
                 (unsigned)s->q[2]);
    char line[96];
    snprintf(line, sizeof line, "%s: %.3f bits, %.4fx FP8, %.4fx bf16", q, s->weighted_bits,
             s->cr_vs_fp8, s->cr_vs_bf16);
    printf("%-50s", line);
}

static void print_strategies(const kvc_result *res)
{
    if (!res->has_strategies)
        return;
    printf("\nmax usable CR (layers SWA %g, CSA %g, HCA %g; Q per stream as SWA/CSA/HCA):\n",
           res->layers[0], res->layers[1], res->layers[2]);
    printf("%-34s %-50s %s\n", "threshold", "strategy 1 (one Q everywhere)",
           "strategy 2 (per-stream Q)");
    for (int v = 0; v < KVC_THRESHOLD_VARIANTS; v++) {
        printf("%-34s ", kvc_stats_threshold_variant_name(v));
        print_strategy(&res->strategy1[v], 1);
        printf(" ");
        print_strategy(&res->strategy2[v], 0);
        printf("\n");
    }
}

static void print_tables(const kvc_report *r, const kvc_result *res)
{
    print_header(r, res);
    if (r->kind == KVC_REPORT_PER_PASSAGE)
        print_passage_table(res);
    else
        print_sweep_table(r, res);
    print_thresholds(res);
    print_strategies(res);
}

/* ------------------------------------------------------------ one file */

static int run_check(const kvc_report *r, const kvc_result *res, FILE *log)
{
    kvc_check_counts cnt;
    kvc_error err;
    kvc_error_clear(&err);
    kvc_report_check(r, res, log, &cnt, &err);
    fprintf(log, "-- check %s (%s)\n", r->path, kvc_report_origin_name(r));
    for (int c = 0; c < KVC_CHECK_CATEGORIES; c++)
        if (cnt.cat_fields[c] > 0)
            fprintf(log, "   %zu of %zu fields match: %s\n", cnt.cat_matched[c], cnt.cat_fields[c],
                    kvc_check_category_name((kvc_check_category)c));
    if (cnt.fields == 0)
        fprintf(log, "   the file stores no values kvcert recomputes\n");
    fprintf(log, "%zu of %zu fields match\n", cnt.matched, cnt.fields);
    return cnt.matched == cnt.fields ? KVC_EXIT_OK : KVC_EXIT_CHECK_FAILED;
}

static int process_file(const char *path, const agg_args *a, int *json_count)
{
    kvc_error err;
    kvc_error_clear(&err);
    kvc_report *r = NULL;
    kvc_status st = kvc_report_load(path, &r, &err);
    if (st != KVC_OK)
        return kvc_cli_fail("aggregate", &err);
    kvc_agg_options opt = kvc_agg_options_default();
    opt.t_source = a->have_t ? a->t_source : (r->has_t_source ? r->t_source : KVC_T_PUBLISHED);
    double layers[KVC_ROLE_COUNT];
    if (a->have_layers)
        memcpy(layers, a->layers, sizeof layers);
    else if (r->has_layers)
        memcpy(layers, r->layers, sizeof layers);
    else
        kvc_stats_default_layers(layers);
    kvc_result *res = NULL;
    st = kvc_report_aggregate(r, &opt, layers, &res, &err);
    if (st != KVC_OK) {
        kvc_report_destroy(r);
        return kvc_cli_fail("aggregate", &err);
    }
    int rc = KVC_EXIT_OK;
    if (a->json) {
        if ((*json_count)++ > 0)
            fputs(",\n", stdout);
        st = kvc_report_write_json(r, res, stdout, &err);
        if (st != KVC_OK)
            rc = kvc_cli_fail("aggregate", &err);
    } else {
        print_tables(r, res);
    }
    if (rc == KVC_EXIT_OK && a->check) {
        if (!a->json)
            printf("\n");
        rc = run_check(r, res, a->json ? stderr : stdout);
    }
    if (!a->json)
        printf("\n");
    kvc_result_destroy(res);
    kvc_report_destroy(r);
    return rc;
}

int kvc_cmd_aggregate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"check", no_argument, NULL, 'c'},     {"json", no_argument, NULL, 'j'},
        {"t-table", required_argument, NULL, 't'}, {"layers", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},      {NULL, 0, NULL, 0}};
    agg_args a;
    memset(&a, 0, sizeof a);
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            aggregate_help(stdout);
            return KVC_EXIT_OK;
        case 'c':
            a.check = 1;
            break;
        case 'j':
            a.json = 1;
            break;
        case 't':
            if (kvc_t_source_parse(optarg, &a.t_source) != 0)
                return kvc_cli_usage_error("aggregate",
                                           "--t-table takes 'published' or 'exact', not '%s'",
                                           optarg);
            a.have_t = 1;
            break;
        case 'l':
            if (parse_layers(optarg, a.layers) != 0)
                return kvc_cli_usage_error("aggregate",
                                           "--layers takes three non-negative integers "
                                           "SWA,CSA,HCA (not all zero), not '%s'",
                                           optarg);
            a.have_layers = 1;
            break;
        default:
            return kvc_cli_usage_error("aggregate", "unknown option or missing value: '%s'",
                                       argv[optind - 1]);
        }
    }
    if (optind == argc)
        return kvc_cli_usage_error("aggregate", "no FILE given");
    /* getopt_long permutes argv: options may come before or after files. */
    char **files = argv + optind;
    int nfiles = argc - optind;
    int worst = KVC_EXIT_OK, json_count = 0;
    if (a.json && nfiles > 1)
        fputs("[\n", stdout);
    for (int i = 0; i < nfiles; i++) {
        int rc = process_file(files[i], &a, &json_count);
        if (rc == KVC_EXIT_BAD_INPUT || (rc == KVC_EXIT_CHECK_FAILED && worst == KVC_EXIT_OK))
            worst = rc;
        else if (rc != KVC_EXIT_OK && worst == KVC_EXIT_OK)
            worst = rc;
    }
    if (a.json && nfiles > 1)
        fputs("]\n", stdout);
    return worst;
}
