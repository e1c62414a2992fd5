/* kvcert: the conformance runner (cert/certify.h describes the steps). */
#include "cert/certify.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cert/internal.h"
#include "core/backend.h"
#include "kernels/cuda_backend.h"
#include "io/digest.h"

struct kvc__cert_run {
    const kvc_case *c;
    const kvc_cert_options *opt;
    kvc_cert_result *res;
    char scratch[KVC_CASE_MAX_PATH];
    char out[KVC_CASE_MAX_PATH + 8];
    char gen[KVC_CASE_MAX_PATH + 8];
    int skipped;
};

const char *kvc_cert_outcome_name(kvc_cert_outcome o)
{
    switch (o) {
    case KVC_CERT_PASS:
        return "PASS";
    case KVC_CERT_FAIL:
        return "FAIL";
    case KVC_CERT_SKIP:
        return "SKIP";
    default:
        return "ERROR";
    }
}

/* ------------------------------------------------------------ backends */

const char *kvc_cert_backend_name(kvc_cert_backend b)
{
    switch (b) {
    case KVC_CERT_BACKEND_CUDA:
        return "cuda";
    case KVC_CERT_BACKEND_BOTH:
        return "both";
    default:
        return "cpu";
    }
}

/* THE BACKEND HOOK (see certify.h): the only place that makes backends.
 * Another backend (a second GPU, another vendor) is added here and in
 * kvc__cert_backend_table below. */
kvc_status kvc_cert_backend_select(const char *name, kvc_cert_backend *out,
                                   struct kvc_backend **cuda, kvc_error *err)
{
    *cuda = NULL;
    *out = KVC_CERT_BACKEND_CPU;
    if (name != NULL && strcmp(name, "cpu") == 0)
        return KVC_OK;
    int is_auto = name != NULL && strcmp(name, "auto") == 0;
    kvc_cert_backend want = KVC_CERT_BACKEND_BOTH;
    if (name != NULL && strcmp(name, "cuda") == 0)
        want = KVC_CERT_BACKEND_CUDA;
    else if (!is_auto && (name == NULL || strcmp(name, "both") != 0))
        return kvc_error_set(err, KVC_USAGE, "unknown backend '%s' (cpu, cuda, both, auto)",
                             name != NULL ? name : "(null)");
    kvc_error e;
    kvc_error_clear(&e);
    kvc_status st = kvc_backend_cuda_create(0, cuda, &e);
    if (st != KVC_OK) {
        *cuda = NULL;
        if (is_auto)
            return KVC_OK; /* no CUDA here: the CPU alone */
        if (err != NULL)
            *err = e;
        if (st == KVC_BACKEND_UNAVAILABLE)
            kvc_error_set(err, st, "this kvcert was built without CUDA (only the CPU reference "
                                   "runs cases); run with --backend cpu");
        return st;
    }
    *out = want;
    return KVC_OK;
}

void kvc_cert_backend_release(struct kvc_backend *cuda)
{
    kvc_backend_cuda_destroy(cuda);
}

/* The table behind one side of the selected backend: "cpu" and the first
 * side of "both" are the CPU reference, "cuda" and the second side of
 * "both" the CUDA table. */
const struct kvc_backend *kvc__cert_backend_table(const kvc__cert_run *run, int second)
{
    kvc_cert_backend b = run->res->backend;
    if (b == KVC_CERT_BACKEND_CUDA || (b == KVC_CERT_BACKEND_BOTH && second))
        return run->opt->cuda;
    return kvc_backend_cpu();
}

kvc_cert_backend kvc__cert_backend(const kvc__cert_run *run)
{
    return run->res->backend;
}

/* ------------------------------------------------------------ executors */

const kvc__cert_executor *kvc__cert_executor_for(kvc_case_kind kind)
{
    switch (kind) {
    case KVC_CASE_PUBLISHED:
        return &kvc__cert_exec_published;
    case KVC_CASE_MUST_FAIL:
        return &kvc__cert_exec_must_fail;
    case KVC_CASE_PIPELINE:
        return &kvc__cert_exec_pipeline;
    case KVC_CASE_REAL_DATA:
        return &kvc__cert_exec_real_data;
    default:
        return NULL;
    }
}

const kvc_case *kvc__cert_case(const kvc__cert_run *run)
{
    return run->c;
}

const kvc_cert_options *kvc__cert_options(const kvc__cert_run *run)
{
    return run->opt;
}

const char *kvc__cert_out_dir(const kvc__cert_run *run)
{
    return run->out;
}

const char *kvc__cert_scratch_dir(const kvc__cert_run *run)
{
    return run->scratch;
}

const char *kvc__cert_input_path(const kvc__cert_run *run, const char *role)
{
    for (size_t i = 0; role != NULL && i < run->res->n_inputs; i++)
        if (strcmp(run->res->inputs[i].input->role, role) == 0)
            return run->res->inputs[i].path[0] != '\0' ? run->res->inputs[i].path : NULL;
    return NULL;
}

void kvc__cert_skip(kvc__cert_run *run, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(run->res->reason, sizeof run->res->reason, fmt, ap);
    va_end(ap);
    run->skipped = 1;
}

void kvc__cert_note(kvc__cert_run *run, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    kvc_cert_result *r = run->res;
    char **nv = realloc(r->notes, (r->n_notes + 1) * sizeof *nv);
    if (nv == NULL)
        return; /* a note is informative; dropping it under memory pressure is fine */
    r->notes = nv;
    r->notes[r->n_notes] = strdup(buf);
    if (r->notes[r->n_notes] != NULL)
        r->n_notes++;
}

void kvc__cert_progress(kvc__cert_run *run, const char *stage, uint64_t done, uint64_t total)
{
    if (run->opt != NULL && run->opt->progress != NULL)
        run->opt->progress(run->opt->progress_arg, run->c->id, stage, done, total);
}

/* ------------------------------------------------------------ scratch */

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void remove_tree(const char *dir)
{
    if (dir[0] != '\0')
        nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static kvc_status make_scratch(kvc__cert_run *run, kvc_error *err)
{
    const char *t = run->opt != NULL ? run->opt->tmpdir : NULL;
    if (t == NULL || t[0] == '\0')
        t = getenv("TMPDIR");
    if (t == NULL || t[0] == '\0')
        t = "/tmp";
    int n = kvc__cert_fmt(run->scratch, sizeof run->scratch, "%s/kvcert-certify-XXXXXX", t);
    if (n < 0 || (size_t)n >= sizeof run->scratch || mkdtemp(run->scratch) == NULL) {
        kvc_error_set(err, KVC_IO, "cannot make a scratch folder under %s: %s", t,
                      strerror(errno));
        run->scratch[0] = '\0';
        return KVC_IO;
    }
    kvc__cert_fmt(run->out, sizeof run->out, "%s/out", run->scratch);
    kvc__cert_fmt(run->gen, sizeof run->gen, "%s/gen", run->scratch);
    if (mkdir(run->out, 0700) != 0 || mkdir(run->gen, 0700) != 0)
        return kvc_error_set(err, KVC_IO, "cannot make folders in %s: %s", run->scratch,
                             strerror(errno));
    return KVC_OK;
}

/* The first entry of the out folder, if any. */
static int out_dir_entry(const char *dir, char *name, size_t size)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        kvc__cert_fmt(name, size, "(the out folder itself is gone)");
        return 1;
    }
    struct dirent *e;
    int found = 0;
    while (!found && (e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            kvc__cert_fmt(name, size, "%s", e->d_name);
            found = 1;
        }
    closedir(d);
    return found;
}

/* ------------------------------------------------------------ search */

static const char *home_dir(void)
{
    const char *h = getenv("HOME");
    if (h != NULL && h[0] != '\0')
        return h;
    struct passwd *pw = getpwuid(getuid());
    return pw != NULL ? pw->pw_dir : NULL;
}

/* Expands $NAME and ${NAME}; returns -1 when a variable is unset/empty
 * or the result does not fit. */
static int expand_vars(const char *tpl, const char *case_dir, char *out, size_t size)
{
    size_t o = 0;
    for (const char *p = tpl; *p != '\0';) {
        if (*p != '$') {
            if (o + 1 >= size)
                return -1;
            out[o++] = *p++;
            continue;
        }
        char name[128];
        size_t n = 0;
        p++;
        if (*p == '{') {
            const char *close = strchr(p, '}');
            if (close == NULL || (size_t)(close - p - 1) >= sizeof name)
                return -1;
            n = (size_t)(close - p - 1);
            memcpy(name, p + 1, n);
            p = close + 1;
        } else {
            while ((p[n] == '_' || (p[n] >= 'A' && p[n] <= 'Z') || (p[n] >= 'a' && p[n] <= 'z') ||
                    (p[n] >= '0' && p[n] <= '9')) &&
                   n + 1 < sizeof name)
                n++;
            memcpy(name, p, n);
            p += n;
        }
        name[n] = '\0';
        if (n == 0)
            return -1;
        const char *v = strcmp(name, "CASE_DIR") == 0 ? case_dir
                        : strcmp(name, "HOME") == 0   ? home_dir()
                                                      : getenv(name);
        if (v == NULL || v[0] == '\0')
            return -1;
        size_t vl = strlen(v);
        if (o + vl >= size)
            return -1;
        memcpy(out + o, v, vl);
        o += vl;
    }
    out[o] = '\0';
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Tries base + rest, where rest may hold "*" components; on a hit writes
 * the file's path to hit and returns 1. */
static int search_from(const char *base, const char *rest, const char *name, char *hit,
                       size_t size, int depth)
{
    if (depth > 64)
        return 0;
    while (*rest == '/')
        rest++;
    if (*rest == '\0') {
        struct stat sb;
        if (stat(base, &sb) != 0)
            return 0;
        if (S_ISREG(sb.st_mode)) {
            kvc__cert_fmt(hit, size, "%s", base);
            return 1;
        }
        if (!S_ISDIR(sb.st_mode))
            return 0;
        char path[KVC_CASE_MAX_PATH * 2];
        kvc__cert_fmt(path, sizeof path, "%s/%s", base, name);
        if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && strlen(path) < size) {
            kvc__cert_fmt(hit, size, "%s", path);
            return 1;
        }
        return 0;
    }
    size_t n = strcspn(rest, "/");
    char comp[256];
    if (n >= sizeof comp)
        return 0;
    memcpy(comp, rest, n);
    comp[n] = '\0';
    const char *next = rest + n;
    char path[KVC_CASE_MAX_PATH * 2];
    if (strcmp(comp, "*") != 0) {
        kvc__cert_fmt(path, sizeof path, "%s%s%s", base,
                 base[0] != '\0' && base[strlen(base) - 1] != '/' ? "/" : "", comp);
        return search_from(path, next, name, hit, size, depth + 1);
    }
    DIR *d = opendir(base[0] != '\0' ? base : ".");
    if (d == NULL)
        return 0;
    char **names = NULL;
    size_t cnt = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (cnt == cap) {
            cap = cap ? cap * 2 : 16;
            char **nv = realloc(names, cap * sizeof *nv);
            if (nv == NULL)
                break;
            names = nv;
        }
        names[cnt] = strdup(e->d_name);
        if (names[cnt] != NULL)
            cnt++;
    }
    closedir(d);
    if (cnt > 1)
        qsort(names, cnt, sizeof *names, cmp_names);
    int found = 0;
    for (size_t i = 0; i < cnt; i++) {
        if (!found) {
            kvc__cert_fmt(path, sizeof path, "%s%s%s", base,
                     base[0] != '\0' && base[strlen(base) - 1] != '/' ? "/" : "", names[i]);
            found = search_from(path, next, name, hit, size, depth + 1);
        }
        free(names[i]);
    }
    free(names);
    return found;
}

int kvc__cert_search(const kvc_case *c, const kvc_case_input *in, char *hit, size_t size)
{
    for (size_t i = 0; i < in->n_search; i++) {
        char exp[KVC_CASE_MAX_PATH];
        if (expand_vars(in->search[i], c->dir, exp, sizeof exp) != 0)
            continue;
        char base[KVC_CASE_MAX_PATH * 2];
        if (exp[0] == '/')
            kvc__cert_fmt(base, sizeof base, "/");
        else
            kvc__cert_fmt(base, sizeof base, "%s", c->dir);
        if (search_from(base, exp, in->name, hit, size, 0))
            return 1;
    }
    return 0;
}

/* ------------------------------------------------------------ inputs */

typedef struct hash_progress {
    kvc__cert_run *run;
    char stage[300];
} hash_progress;

static void on_hash_progress(void *arg, uint64_t done, uint64_t total)
{
    hash_progress *hp = arg;
    kvc__cert_progress(hp->run, hp->stage, done, total);
}

static const char *input_label(const kvc_case_input *in)
{
    return in->source == KVC_INPUT_FILE ? in->path : in->name;
}

/* Size first, then the digest; an unpinned input is hashed and noted. */
static kvc_status check_input(kvc__cert_run *run, kvc_cert_input_result *ir, kvc_error *err)
{
    const kvc_case_input *in = ir->input;
    struct stat sb;
    int bad = stat(ir->path, &sb) != 0 ? errno : 0;
    if (bad != 0 || !S_ISREG(sb.st_mode)) {
        kvc_error_set(err, KVC_OPEN, "input '%s' (%s): %s", ir->path, in->role,
                      bad != 0 ? strerror(bad) : "not a regular file");
        kvc_error_where(err, ir->path, NULL, -1);
        return ir->status = KVC_OPEN;
    }
    ir->checked = 1;
    ir->size = (uint64_t)sb.st_size;
    if (in->pinned && ir->size != in->size) {
        kvc_error_set(err, KVC_INPUT_SIZE_MISMATCH,
                      "input '%s' (%s): expected %llu bytes, got %llu", ir->path, in->role,
                      (unsigned long long)in->size, (unsigned long long)ir->size);
        kvc_error_where(err, ir->path, NULL, -1);
        return ir->status = KVC_INPUT_SIZE_MISMATCH;
    }
    hash_progress hp;
    hp.run = run;
    kvc__cert_fmt(hp.stage, sizeof hp.stage, "hashing %s", input_label(in));
    kvc_status st = kvc_sha256_file(ir->path, ir->sha256, &ir->size, on_hash_progress, &hp, err);
    if (st != KVC_OK)
        return ir->status = st;
    ir->hashed = 1;
    char got[KVC_SHA256_HEX_SIZE + 1], want[KVC_SHA256_HEX_SIZE + 1];
    kvc_sha256_hex(ir->sha256, got);
    if (!in->pinned) {
        kvc__cert_note(run, "input %s (%s) is not pinned: %llu bytes, sha256 %s "
                            "(kvcert certify --pin records it)",
                       ir->path, in->role, (unsigned long long)ir->size, got);
        return ir->status = KVC_OK;
    }
    if (memcmp(ir->sha256, in->sha256, KVC_SHA256_SIZE) != 0) {
        kvc_sha256_hex(in->sha256, want);
        kvc_error_set(err, KVC_INPUT_HASH_MISMATCH, "input '%s' (%s): expected sha256 %s, got %s",
                      ir->path, in->role, want, got);
        kvc_error_where(err, ir->path, NULL, -1);
        return ir->status = KVC_INPUT_HASH_MISMATCH;
    }
    return ir->status = KVC_OK;
}

/* Resolves and checks every input. Returns the first failure's status;
 * a missing searched input or an unavailable generator skips the case
 * (run->skipped) and returns KVC_OK. */
static kvc_status resolve_inputs(kvc__cert_run *run, kvc_error *err)
{
    const kvc_case *c = run->c;
    kvc_cert_result *r = run->res;
    char missing[700] = "";
    char obtain[1400] = "";
    for (size_t i = 0; i < c->n_inputs; i++) {
        const kvc_case_input *in = &c->inputs[i];
        kvc_cert_input_result *ir = &r->inputs[i];
        ir->input = in;
        ir->status = KVC_OK;
        int n = 0;
        if (in->source == KVC_INPUT_FILE) {
            if (in->path[0] == '/')
                n = kvc__cert_fmt(ir->path, sizeof ir->path, "%s", in->path);
            else
                n = kvc__cert_fmt(ir->path, sizeof ir->path, "%s/%s", c->dir, in->path);
        } else if (in->source == KVC_INPUT_SEARCH) {
            if (!kvc__cert_search(c, in, ir->path, sizeof ir->path)) {
                ir->path[0] = '\0';
                ir->status = KVC_OPEN;
                size_t ml = strlen(missing);
                kvc__cert_fmt(missing + ml, sizeof missing - ml, "%s%s", ml ? ", " : "", in->name);
                if (strstr(obtain, in->obtain) == NULL) {
                    size_t ol = strlen(obtain);
                    kvc__cert_fmt(obtain + ol, sizeof obtain - ol, "%s%s", ol ? " " : "", in->obtain);
                }
            }
        } else {
            n = kvc__cert_fmt(ir->path, sizeof ir->path, "%s/%s", run->gen, in->name);
        }
        if (n < 0) {
            kvc_error_set(err, KVC_LIMIT, "the path of input %s is too long", in->role);
            return ir->status = KVC_LIMIT;
        }
    }
    if (missing[0] != '\0') {
        kvc__cert_skip(run, "not found: %s. %s", missing, obtain);
        return KVC_OK;
    }
    for (size_t i = 0; i < c->n_inputs; i++) {
        kvc_cert_input_result *ir = &r->inputs[i];
        if (ir->input->source == KVC_INPUT_GENERATED) {
            kvc_status st = kvc__cert_generate(run, ir->input, ir->path, err);
            if (run->skipped)
                return KVC_OK;
            if (st != KVC_OK)
                return ir->status = st;
        }
        kvc_status st = check_input(run, ir, err);
        if (st != KVC_OK)
            return st;
    }
    return KVC_OK;
}

/* ------------------------------------------------------------ the run */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void kvc_cert_result_destroy(kvc_cert_result *r)
{
    if (r == NULL)
        return;
    free(r->inputs);
    free(r->asserts);
    for (size_t i = 0; i < r->n_notes; i++)
        free(r->notes[i]);
    free(r->notes);
    cJSON_Delete((cJSON *)r->results);
    free(r);
}

static void evaluate(kvc__cert_run *run)
{
    kvc_cert_result *r = run->res;
    const kvc_case *c = run->c;
    if (!c->expect_valid) {
        const char *want = kvc_status_name(c->expect_status);
        char buf[900];
        if (r->status != c->expect_status) {
            r->outcome = KVC_CERT_FAIL;
            if (r->status == KVC_OK)
                kvc__cert_fmt(r->reason, sizeof r->reason, "expected %s, but the run succeeded", want);
            else
                kvc__cert_fmt(r->reason, sizeof r->reason, "expected %s, got %s: %s", want,
                         kvc_status_name(r->status), kvc_error_format(&r->error, buf, sizeof buf));
        } else if (r->output_written) {
            r->outcome = KVC_CERT_FAIL;
            kvc__cert_fmt(r->reason, sizeof r->reason, "%s occurred, but an output was written: %s",
                     want, r->output_name);
        } else {
            r->outcome = KVC_CERT_PASS;
            kvc__cert_fmt(r->reason, sizeof r->reason, "%s: %s", want,
                     kvc_error_format(&r->error, buf, sizeof buf));
        }
        return;
    }
    if (r->status != KVC_OK) {
        char buf[900];
        r->outcome = KVC_CERT_FAIL;
        kvc__cert_fmt(r->reason, sizeof r->reason, "%s: %s", kvc_status_name(r->status),
                 kvc_error_format(&r->error, buf, sizeof buf));
        return;
    }
    for (size_t i = 0; i < c->n_expected; i++) {
        kvc_cert_assert_result *ar = &r->asserts[i];
        ar->assertion = &c->expected[i];
        ar->got = kvc__cert_lookup((const cJSON *)r->results, ar->assertion->path);
        ar->pass = kvc_cert_compare(ar->assertion, &ar->got, ar->detail, sizeof ar->detail);
        if (!ar->pass) {
            if (r->n_failed == 0)
                kvc__cert_fmt(r->reason, sizeof r->reason, "%s: %s",
                         ar->assertion->name != NULL ? ar->assertion->name : ar->assertion->path,
                         ar->detail);
            r->n_failed++;
        }
    }
    r->n_asserts = c->n_expected;
    if (r->n_failed > 1) {
        size_t l = strlen(r->reason);
        kvc__cert_fmt(r->reason + l, sizeof r->reason - l, " (and %zu more failed assertions)",
                 r->n_failed - 1);
    }
    r->outcome = r->n_failed == 0 ? KVC_CERT_PASS : KVC_CERT_FAIL;
    if (r->outcome == KVC_CERT_PASS)
        r->reason[0] = '\0';
}

/* Where a case runs, given what it allows and what was selected; -1 when
 * it cannot run here. */
static int effective_backend(const kvc_case *c, kvc_cert_backend b)
{
    switch (c->backend) {
    case KVC_CASE_BACKEND_CPU:
        return b == KVC_CERT_BACKEND_CUDA ? -1 : KVC_CERT_BACKEND_CPU;
    case KVC_CASE_BACKEND_CUDA:
        return b == KVC_CERT_BACKEND_CPU ? -1 : KVC_CERT_BACKEND_CUDA;
    default:
        return (int)b;
    }
}

kvc_status kvc_cert_run(const kvc_case *c, const kvc_cert_options *opt, kvc_cert_result **out,
                        kvc_error *err)
{
    *out = NULL;
    kvc_cert_options defaults;
    memset(&defaults, 0, sizeof defaults);
    if (opt == NULL)
        opt = &defaults;
    kvc_cert_result *r = calloc(1, sizeof *r);
    if (r == NULL)
        return kvc_error_set(err, KVC_NOMEM, "cannot allocate a case result");
    r->c = c;
    r->backend = opt->backend;
    kvc_error_clear(&r->error);
    r->inputs = calloc(c->n_inputs > 0 ? c->n_inputs : 1, sizeof *r->inputs);
    r->asserts = calloc(c->n_expected > 0 ? c->n_expected : 1, sizeof *r->asserts);
    cJSON *results = cJSON_CreateObject();
    if (r->inputs == NULL || r->asserts == NULL || results == NULL) {
        cJSON_Delete(results);
        kvc_cert_result_destroy(r);
        return kvc_error_set(err, KVC_NOMEM, "cannot allocate a case result");
    }
    r->results = results;
    r->n_inputs = c->n_inputs;
    for (size_t i = 0; i < c->n_inputs; i++)
        r->inputs[i].input = &c->inputs[i];
    *out = r;
    double t0 = now_s();
    int eff = effective_backend(c, opt->backend);
    if (eff < 0 || (eff != KVC_CERT_BACKEND_CPU && opt->cuda == NULL)) {
        r->outcome = KVC_CERT_SKIP;
        kvc__cert_fmt(r->reason, sizeof r->reason, "needs the %s backend (running on %s)",
                      kvc_case_backend_name(c->backend), kvc_cert_backend_name(opt->backend));
        return KVC_OK;
    }
    r->backend = (kvc_cert_backend)eff;
    kvc__cert_run run;
    memset(&run, 0, sizeof run);
    run.c = c;
    run.opt = opt;
    run.res = r;
    kvc_status st = make_scratch(&run, &r->error);
    if (st != KVC_OK) {
        remove_tree(run.scratch);
        r->outcome = KVC_CERT_ERROR;
        r->status = st;
        char buf[900];
        kvc__cert_fmt(r->reason, sizeof r->reason, "%s", kvc_error_format(&r->error, buf, sizeof buf));
        return KVC_OK;
    }
    st = resolve_inputs(&run, &r->error);
    if (st == KVC_OK && !run.skipped) {
        const kvc__cert_executor *ex = kvc__cert_executor_for(c->kind);
        r->ran = 1;
        st = ex->run(&run, results, &r->error);
    }
    r->status = st;
    if (st == KVC_OK)
        kvc_error_clear(&r->error);
    r->output_written = out_dir_entry(run.out, r->output_name, sizeof r->output_name);
    remove_tree(run.scratch);
    if (run.skipped) {
        r->outcome = KVC_CERT_SKIP;
    } else if (st == KVC_NOMEM || st == KVC_INTERNAL) {
        char buf[900];
        r->outcome = KVC_CERT_ERROR;
        kvc__cert_fmt(r->reason, sizeof r->reason, "%s: %s", kvc_status_name(st),
                 kvc_error_format(&r->error, buf, sizeof buf));
    } else {
        evaluate(&run);
    }
    r->wall_s = now_s() - t0;
    return KVC_OK;
}
