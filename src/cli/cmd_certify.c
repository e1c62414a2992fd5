/* kvcert certify: run conformance cases (the main job). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cert/case.h"
#include "cert/certify.h"
#include "cli/cli.h"
#include "cli/commands.h"

static void certify_help(FILE *out)
{
    fprintf(out,
            "usage: kvcert certify [CASE...] [--backend cpu|cuda|both|auto] [--report R.json]\n"
            "                      [--tap] [--verbose] [--root DIR]\n"
            "       kvcert certify --lint [CASE...] [--root DIR]\n"
            "       kvcert certify --pin [CASE...] [--root DIR]\n"
            "\n"
            "Runs conformance cases (schema \"" KVC_CASE_SCHEMA_ID "\", conformance/README.md):\n"
            "each checks its inputs by size and SHA-256, runs, and compares its results\n"
            "with the expected values (exact to the bit, absolute, relative, or inside a\n"
            "published 95 %% CI); a must-fail case passes when its input is refused with the\n"
            "expected status and nothing is written. With no CASE, every bundled case runs.\n"
            "A CASE is a case file, or the id of a bundled case.\n"
            "\n"
            "Output: one line per case, 'ID: PASS', 'ID: FAIL (why)' or 'ID: SKIP (why)',\n"
            "then 'N of M passed, K skipped'. On a terminal, stderr shows what a long case\n"
            "is doing.\n"
            "\n"
            "Options:\n"
            "  --backend B     where the V4 path of pipeline and real-data cases runs: cpu,\n"
            "                  cuda (device 0), both (each, and their streams must be\n"
            "                  identical; the CPU's results are asserted), or auto (the\n"
            "                  default: both when a CUDA device is there, else cpu)\n"
            "  --report R      also write a JSON report (\"" KVC_CERT_REPORT_SCHEMA "\"):\n"
            "                  every input, every asserted value expected vs got\n"
            "  --tap           print TAP version 13 instead of the lines\n"
            "  -v, --verbose   after each case line, its notes and reported values\n"
            "  --lint          check the case files only (schema, types, names, ids)\n"
            "  --pin           hash the real-data inputs and record their sizes and SHA-256\n"
            "                  in a copy of the case under the pin folder; later runs verify\n"
            "                  the inputs against it (pin folder: $KVCERT_PINNED, else\n"
            "                  $XDG_DATA_HOME/kvcert/pinned, else ~/.local/share/kvcert/pinned)\n"
            "  --root DIR      the folder of the bundled cases (default: $KVCERT_CASES, else\n"
            "                  the source tree's conformance/cases for a kvcert in its build\n"
            "                  tree, else the installed copy)\n"
            "  -h, --help      this text\n"
            "\n"
            "Real-data inputs are searched as each case says: $KVCERT_SHARDS, the Hugging Face\n"
            "cache ($HF_HOME/hub, ~/.cache/huggingface/hub), $KVCERT_HIDDEN.\n"
            "\n"
            "Exit status: 0 every case passed or skipped; 1 a case failed (--lint: a case\n"
            "file has a problem); 2 usage error (also --backend cuda|both in a build\n"
            "without CUDA); 3 a case file is unreadable or malformed, an internal error,\n"
            "no CUDA device for --backend cuda|both, or\n"
            "--pin could not find or read an input.\n");
}

typedef struct certify_args {
    const char *backend;
    const char *report;
    const char *root;
    int tap;
    int lint;
    int pin;
    int verbose;
} certify_args;

/* ------------------------------------------------------------ progress */

typedef struct status_line {
    int tty;
    int shown;
    double last;
} status_line;

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void status_clear(status_line *sl)
{
    if (sl->tty && sl->shown) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        sl->shown = 0;
    }
}

static void status_show(status_line *sl, const char *id, const char *stage, uint64_t done,
                        uint64_t total)
{
    if (!sl->tty)
        return;
    double t = mono_s();
    if (sl->shown && done < total && t - sl->last < 0.1)
        return;
    sl->last = t;
    if (total > 0)
        fprintf(stderr, "\r\033[K%s: %s %3.0f%%", id, stage, 100.0 * (double)done / (double)total);
    else
        fprintf(stderr, "\r\033[K%s: %s", id, stage);
    fflush(stderr);
    sl->shown = 1;
}

static void on_progress(void *arg, const char *case_id, const char *stage, uint64_t done,
                        uint64_t total)
{
    status_show(arg, case_id, stage, done, total);
}

/* ------------------------------------------------------------ cases */

/* A CASE argument: a path when it names a file or holds a '/', else the
 * id of a bundled case. */
static int case_path(const char *arg, const char *root, char *buf, size_t size)
{
    struct stat sb;
    if (strchr(arg, '/') != NULL || (stat(arg, &sb) == 0 && S_ISREG(sb.st_mode)))
        return snprintf(buf, size, "%s", arg) < (int)size ? 0 : -1;
    return snprintf(buf, size, "%s/%s.json", root, arg) < (int)size ? 0 : -1;
}

typedef struct case_set {
    char **paths;
    size_t n;
    kvc_case **cases;
    char root[KVC_CASE_MAX_PATH];
    const char *root_how;
} case_set;

static void case_set_free(case_set *cs)
{
    for (size_t i = 0; cs->cases != NULL && i < cs->n; i++)
        kvc_case_destroy(cs->cases[i]);
    free(cs->cases);
    kvc_case_list_free(cs->paths, cs->n);
}

/* The case files named on the command line, or all bundled ones. */
static int collect(const certify_args *a, int argc, char **argv, case_set *cs)
{
    kvc_error err;
    kvc_error_clear(&err);
    int need_root = argc == 0;
    for (int i = 0; i < argc && !need_root; i++) {
        struct stat sb;
        need_root = strchr(argv[i], '/') == NULL && !(stat(argv[i], &sb) == 0);
    }
    if (need_root || a->root != NULL) {
        kvc_status st = kvc_cert_cases_root(a->root, cs->root, sizeof cs->root, &cs->root_how, &err);
        if (st != KVC_OK)
            return kvc_cli_fail("certify", &err);
    }
    if (argc == 0) {
        kvc_status st = kvc_case_list_dir(cs->root, &cs->paths, &cs->n, &err);
        if (st != KVC_OK)
            return kvc_cli_fail("certify", &err);
        if (cs->n == 0) {
            fprintf(stderr, "kvcert: error: certify: no case files (*.json) in %s\n", cs->root);
            return KVC_EXIT_BAD_INPUT;
        }
        return KVC_EXIT_OK;
    }
    cs->paths = calloc((size_t)argc, sizeof *cs->paths);
    if (cs->paths == NULL) {
        kvc_error_set(&err, KVC_NOMEM, "cannot allocate");
        return kvc_cli_fail("certify", &err);
    }
    for (int i = 0; i < argc; i++) {
        char buf[KVC_CASE_MAX_PATH];
        if (case_path(argv[i], cs->root, buf, sizeof buf) != 0)
            return kvc_cli_usage_error("certify", "case path too long: %s", argv[i]);
        cs->paths[i] = strdup(buf);
        cs->n++;
        if (cs->paths[i] == NULL) {
            kvc_error_set(&err, KVC_NOMEM, "cannot allocate");
            return kvc_cli_fail("certify", &err);
        }
    }
    return KVC_EXIT_OK;
}

/* Uses the pins of a pinned copy of a case, when there is one. */
static int apply_pinned(kvc_case *c, int verbose)
{
    int has_search = 0;
    for (size_t i = 0; i < c->n_inputs; i++)
        has_search |= c->inputs[i].source == KVC_INPUT_SEARCH;
    if (!has_search)
        return KVC_EXIT_OK;
    char dir[KVC_CASE_MAX_PATH], path[KVC_CASE_MAX_PATH + 80];
    kvc_error err;
    kvc_error_clear(&err);
    if (kvc_cert_pin_dir(dir, sizeof dir, &err) != KVC_OK)
        return KVC_EXIT_OK; /* no pin folder: nothing pinned */
    snprintf(path, sizeof path, "%s/%s.json", dir, c->id);
    struct stat sb;
    if (stat(path, &sb) != 0 || strcmp(path, c->file) == 0)
        return KVC_EXIT_OK;
    kvc_case *p = NULL;
    kvc_status st = kvc_case_load(path, &p, &err);
    if (st == KVC_OK)
        st = kvc_cert_apply_pins(c, p, &err);
    kvc_case_destroy(p);
    if (st != KVC_OK)
        return kvc_cli_fail("certify: pinned copy", &err);
    if (verbose)
        fprintf(stderr, "kvcert: certify: %s: inputs pinned by %s\n", c->id, path);
    return KVC_EXIT_OK;
}

static int load_all(case_set *cs, int verbose)
{
    cs->cases = calloc(cs->n > 0 ? cs->n : 1, sizeof *cs->cases);
    if (cs->cases == NULL)
        return KVC_EXIT_BAD_INPUT;
    for (size_t i = 0; i < cs->n; i++) {
        kvc_error err;
        kvc_error_clear(&err);
        if (kvc_case_load(cs->paths[i], &cs->cases[i], &err) != KVC_OK)
            return kvc_cli_fail("certify", &err);
        for (size_t j = 0; j < i; j++)
            if (strcmp(cs->cases[j]->id, cs->cases[i]->id) == 0) {
                kvc_error_set(&err, KVC_CASE_DUPLICATE_ID, "case id \"%s\" is also %s's",
                              cs->cases[i]->id, cs->paths[j]);
                kvc_error_where(&err, cs->paths[i], "$.id", -1);
                return kvc_cli_fail("certify", &err);
            }
        int rc = apply_pinned(cs->cases[i], verbose);
        if (rc != KVC_EXIT_OK)
            return rc;
    }
    return KVC_EXIT_OK;
}

/* ------------------------------------------------------------ modes */

static int do_lint(const case_set *cs)
{
    size_t bad = 0;
    kvc_error err;
    kvc_error_clear(&err);
    if (kvc_case_lint((const char *const *)cs->paths, cs->n, stdout, &bad, &err) != KVC_OK)
        return kvc_cli_fail("certify --lint", &err);
    if (bad == 0)
        printf("lint: %zu case file%s, no problems\n", cs->n, cs->n == 1 ? "" : "s");
    else
        printf("lint: %zu of %zu case files have problems\n", bad, cs->n);
    return bad == 0 ? KVC_EXIT_OK : KVC_EXIT_CHECK_FAILED;
}

static int do_pin(const case_set *cs, int explicit_cases)
{
    char dir[KVC_CASE_MAX_PATH];
    kvc_error err;
    kvc_error_clear(&err);
    if (kvc_cert_pin_dir(dir, sizeof dir, &err) != KVC_OK)
        return kvc_cli_fail("certify --pin", &err);
    status_line sl = {kvc_cli_stderr_is_tty(), 0, 0.0};
    kvc_cert_options opt;
    memset(&opt, 0, sizeof opt);
    opt.progress = on_progress;
    opt.progress_arg = &sl;
    int rc = KVC_EXIT_OK, any = 0;
    for (size_t i = 0; i < cs->n; i++) {
        const kvc_case *c = cs->cases[i];
        int has_search = 0;
        for (size_t k = 0; k < c->n_inputs; k++)
            has_search |= c->inputs[k].source == KVC_INPUT_SEARCH;
        if (!has_search) {
            if (explicit_cases) {
                status_clear(&sl);
                printf("%s: nothing to pin (no searched inputs)\n", c->id);
            }
            continue;
        }
        any = 1;
        char written[KVC_CASE_MAX_PATH + 80];
        kvc_error_clear(&err);
        kvc_status st = kvc_cert_pin(c, dir, &opt, written, sizeof written, &err);
        status_clear(&sl);
        if (st == KVC_OK) {
            printf("%s: pinned -> %s\n", c->id, written);
        } else {
            char buf[2048];
            printf("%s: not pinned (%s)\n", c->id, kvc_error_format(&err, buf, sizeof buf));
            rc = KVC_EXIT_BAD_INPUT;
        }
    }
    if (!any)
        printf("no case with searched (real-data) inputs among the %zu selected\n", cs->n);
    return rc;
}

static void print_verbose(const kvc_cert_result *r, const char *prefix)
{
    char buf[1200];
    if (!r->c->expect_valid && r->outcome == KVC_CERT_PASS)
        printf("%s  refused: %s: %s\n", prefix, kvc_status_name(r->status),
               kvc_error_format(&r->error, buf, sizeof buf));
    for (size_t i = 0; i < r->n_notes; i++)
        printf("%s  note: %s\n", prefix, r->notes[i]);
    for (size_t i = 0; i < r->c->n_reported; i++) {
        char *text = kvc_cert_reported_text(r, i);
        printf("%s  reported: %s = %s\n", prefix, r->c->reported[i],
               text != NULL ? text : "(not computed)");
        free(text);
    }
}

static int do_run(const certify_args *a, const case_set *cs, kvc_cert_backend backend,
                  const struct kvc_backend *cuda)
{
    status_line sl = {kvc_cli_stderr_is_tty(), 0, 0.0};
    kvc_cert_options opt;
    memset(&opt, 0, sizeof opt);
    opt.backend = backend;
    opt.cuda = cuda;
    opt.progress = on_progress;
    opt.progress_arg = &sl;
    kvc_cert_result **results = calloc(cs->n, sizeof *results);
    if (results == NULL) {
        fprintf(stderr, "kvcert: error: certify: out of memory\n");
        return KVC_EXIT_BAD_INPUT;
    }
    if (a->tap)
        printf("TAP version 13\n1..%zu\n", cs->n);
    fflush(stdout);
    size_t counts[4] = {0, 0, 0, 0};
    for (size_t i = 0; i < cs->n; i++) {
        kvc_error err;
        kvc_error_clear(&err);
        status_show(&sl, cs->cases[i]->id, "running", 0, 0);
        if (kvc_cert_run(cs->cases[i], &opt, &results[i], &err) != KVC_OK) {
            status_clear(&sl);
            for (size_t j = 0; j < i; j++)
                kvc_cert_result_destroy(results[j]);
            free(results);
            return kvc_cli_fail("certify", &err);
        }
        status_clear(&sl);
        counts[results[i]->outcome]++;
        if (a->tap)
            kvc_cert_tap_point(stdout, i + 1, results[i]);
        else
            kvc_cert_line(stdout, results[i]);
        if (a->verbose)
            print_verbose(results[i], a->tap ? "#" : "");
        fflush(stdout);
    }
    printf("%s%zu of %zu passed, %zu skipped", a->tap ? "# " : "", counts[KVC_CERT_PASS], cs->n,
           counts[KVC_CERT_SKIP]);
    if (counts[KVC_CERT_ERROR] > 0)
        printf(", %zu errors", counts[KVC_CERT_ERROR]);
    printf("\n");
    int rc = counts[KVC_CERT_ERROR] > 0  ? KVC_EXIT_BAD_INPUT
             : counts[KVC_CERT_FAIL] > 0 ? KVC_EXIT_CHECK_FAILED
                                         : KVC_EXIT_OK;
    if (a->report != NULL) {
        kvc_error err;
        kvc_error_clear(&err);
        if (kvc_cert_report_write(a->report, (const kvc_cert_result *const *)results, cs->n,
                                  cs->root[0] != '\0' ? cs->root : NULL, &err) != KVC_OK)
            rc = kvc_cli_fail("certify --report", &err);
    }
    for (size_t i = 0; i < cs->n; i++)
        kvc_cert_result_destroy(results[i]);
    free(results);
    return rc;
}

int kvc_cmd_certify(int argc, char **argv)
{
    enum { OPT_BACKEND = 256, OPT_REPORT, OPT_TAP, OPT_LINT, OPT_PIN, OPT_ROOT };
    static const struct option opts[] = {
        {"backend", required_argument, NULL, OPT_BACKEND},
        {"report", required_argument, NULL, OPT_REPORT},
        {"tap", no_argument, NULL, OPT_TAP},
        {"lint", no_argument, NULL, OPT_LINT},
        {"pin", no_argument, NULL, OPT_PIN},
        {"root", required_argument, NULL, OPT_ROOT},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    certify_args a;
    memset(&a, 0, sizeof a);
    a.backend = "auto";
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
        switch (c) {
        case OPT_BACKEND:
            a.backend = optarg;
            break;
        case OPT_REPORT:
            a.report = optarg;
            break;
        case OPT_TAP:
            a.tap = 1;
            break;
        case OPT_LINT:
            a.lint = 1;
            break;
        case OPT_PIN:
            a.pin = 1;
            break;
        case OPT_ROOT:
            a.root = optarg;
            break;
        case 'v':
            a.verbose = 1;
            break;
        case 'h':
            certify_help(stdout);
            return KVC_EXIT_OK;
        default:
            return kvc_cli_usage_error("certify", "unknown option");
        }
    }
    if (a.lint + a.pin > 1)
        return kvc_cli_usage_error("certify", "--lint and --pin exclude each other");
    if ((a.lint || a.pin) && (a.tap || a.report != NULL))
        return kvc_cli_usage_error("certify", "--tap and --report apply to runs, not to %s",
                                   a.lint ? "--lint" : "--pin");
    if (a.report != NULL && a.report[0] == '\0')
        return kvc_cli_usage_error("certify", "--report needs a file name");
    /* The backend is settled before any case is read: a build without
     * CUDA refuses --backend cuda|both at once (exit 2), a machine
     * without a device too (exit 3); auto never fails. */
    if (strcmp(a.backend, "cpu") != 0 && strcmp(a.backend, "cuda") != 0 &&
        strcmp(a.backend, "both") != 0 && strcmp(a.backend, "auto") != 0)
        return kvc_cli_usage_error("certify", "--backend is cpu, cuda, both or auto, not '%s'",
                                   a.backend);
    kvc_cert_backend backend = KVC_CERT_BACKEND_CPU;
    struct kvc_backend *cuda = NULL;
    if (!a.lint && !a.pin) {
        kvc_error err;
        kvc_error_clear(&err);
        kvc_status st = kvc_cert_backend_select(a.backend, &backend, &cuda, &err);
        if (st != KVC_OK) {
            char what[64];
            snprintf(what, sizeof what, "certify --backend %s", a.backend);
            int rc = kvc_cli_fail(what, &err);
            return st == KVC_CUDA_NO_DEVICE ? KVC_EXIT_BAD_INPUT : rc;
        }
        if (a.verbose)
            fprintf(stderr, "kvcert: certify: backend %s\n", kvc_cert_backend_name(backend));
    }
    case_set cs;
    memset(&cs, 0, sizeof cs);
    int rc = collect(&a, argc - optind, argv + optind, &cs);
    if (rc == KVC_EXIT_OK) {
        if (a.lint) {
            rc = do_lint(&cs);
        } else {
            rc = load_all(&cs, a.verbose);
            if (rc == KVC_EXIT_OK)
                rc = a.pin ? do_pin(&cs, argc - optind > 0) : do_run(&a, &cs, backend, cuda);
        }
    }
    case_set_free(&cs);
    kvc_cert_backend_release(cuda);
    return rc;
}
