/* kvcert synth: writes the synthetic V4 shards, host hidden states and
 * their SHA-256 manifest (the generator is specified in src/v4/synth.h). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "io/atomic.h"
#include "io/manifest.h"
#include "v4/synth.h"

static void synth_help(FILE *out)
{
    fprintf(out,
            "usage: kvcert synth --out DIR --seed N [--passages P] [--hf-layout] [--force]\n"
            "\n"
            "Writes a synthetic, V4-shaped checkpoint and host into DIR (created if\n"
            "missing), deterministically: the same N gives byte-identical files on\n"
            "every machine. The generator is specified in src/v4/synth.h.\n"
            "\n"
            "  model-00002-of-00046.safetensors  layer 0: attn.wkv (F8_E4M3 + F8_E8M0\n"
            "                                    scales per 128x128 tile), attn.kv_norm\n"
            "  model-00004-of-00046.safetensors  layer 2: the same, plus the ratio-4\n"
            "                                    compressor (wkv, wgate, ape, norm)\n"
            "  model-00005-of-00046.safetensors  layer 3: the same, ratio-128 compressor\n"
            "  hidden.safetensors                BF16 \"hidden\" [P, 2048, 4096]:\n"
            "                                    heavy-tailed, anisotropic, 8 outlier\n"
            "                                    channels, per-token RMS 0.8..1.25\n"
            "  manifest.json                     SHA-256 and size of the four files\n"
            "                                    (names relative to DIR)\n"
            "\n"
            "Options:\n"
            "  --out DIR       output folder (required)\n"
            "  --seed N        generator seed, 0..18446744073709551615 (required)\n"
            "  --passages P    passages in hidden.safetensors, 1..%d (default 1)\n"
            "  --hf-layout     put the shards where a Hugging Face cache keeps them:\n"
            "                  DIR/hub/%s/snapshots/%s/\n"
            "                  (with refs/main naming that revision), so HF_HOME=DIR\n"
            "                  finds them; hidden.safetensors and manifest.json stay in DIR\n"
            "  --force         replace files that already exist (without it, an existing\n"
            "                  output file is an error and nothing is written)\n"
            "  -h, --help      show this help\n"
            "\n"
            "Each file is written to a temporary name and renamed. If any step fails,\n"
            "every file this run wrote (replaced ones included) and every folder it\n"
            "created is removed. On a terminal, one line per file written is printed\n"
            "on stderr.\n"
            "\n"
            "Exit status: 0 written, 2 usage error, 3 output exists, or an I/O error.\n",
            KVC_SYNTH_MAX_PASSAGES, KVC_SYNTH_HF_REPO, KVC_SYNTH_HF_REVISION);
}

enum { N_SHARDS = 3, MAX_OUT = 6 };
static const int shard_layers[N_SHARDS] = {0, 2, 3};

/* What this run created, so a failure can take it all back: files (each
 * recorded once written) and folders (parents first). */
typedef struct undo_log {
    char **paths;
    int *is_dir;
    int n, cap;
} undo_log;

static kvc_status undo_push(undo_log *u, const char *path, int is_dir, kvc_error *err)
{
    if (u->n == u->cap) {
        int cap = u->cap ? 2 * u->cap : 16;
        char **p = realloc(u->paths, (size_t)cap * sizeof *p);
        if (p != NULL)
            u->paths = p;
        int *d = realloc(u->is_dir, (size_t)cap * sizeof *d);
        if (d != NULL)
            u->is_dir = d;
        if (p == NULL || d == NULL)
            return kvc_error_set(err, KVC_NOMEM, "undo log");
        u->cap = cap;
    }
    if ((u->paths[u->n] = strdup(path)) == NULL)
        return kvc_error_set(err, KVC_NOMEM, "undo log");
    u->is_dir[u->n++] = is_dir;
    return KVC_OK;
}

/* Newest first: files before the folders that hold them. */
static void undo_all(undo_log *u)
{
    for (int i = u->n - 1; i >= 0; i--) {
        if (u->is_dir[i])
            rmdir(u->paths[i]);
        else
            unlink(u->paths[i]);
    }
}

static void undo_free(undo_log *u)
{
    for (int i = 0; i < u->n; i++)
        free(u->paths[i]);
    free(u->paths);
    free(u->is_dir);
    memset(u, 0, sizeof *u);
}

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *s = malloc(n);
    if (s != NULL)
        snprintf(s, n, "%s/%s", a, b);
    return s;
}

/* mkdir -p, recording each folder it creates. */
static kvc_status make_dirs(const char *path, undo_log *u, kvc_error *err)
{
    char *p = strdup(path);
    if (p == NULL)
        return kvc_error_set(err, KVC_NOMEM, "path");
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';
    for (char *q = p + 1;; q++) {
        int end = *q == '\0';
        if (*q != '/' && !end)
            continue;
        *q = '\0';
        struct stat sb;
        if (stat(p, &sb) == 0) {
            if (!S_ISDIR(sb.st_mode)) {
                kvc_error_set(err, KVC_IO, "%s exists and is not a folder", p);
                free(p);
                return KVC_IO;
            }
        } else if (mkdir(p, 0777) == 0) {
            kvc_status st = undo_push(u, p, 1, err);
            if (st != KVC_OK) {
                rmdir(p);
                free(p);
                return st;
            }
        } else {
            kvc_error_set(err, KVC_IO, "cannot create folder %s: %s", p, strerror(errno));
            free(p);
            return KVC_IO;
        }
        if (end)
            break;
        *q = '/';
    }
    free(p);
    return KVC_OK;
}

static void progress(const char *rel, const char *path)
{
    if (!kvc_cli_stderr_is_tty())
        return;
    struct stat sb;
    long long size = stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
    fprintf(stderr, "kvcert synth: wrote %s (%lld bytes)\n", rel, size);
}

typedef struct synth_plan {
    const char *dir;
    int hf;
    char *rel[MAX_OUT];        /* every output, relative to dir */
    char *abs[MAX_OUT];
    int nout;
    int refs_index; /* index of refs/main in rel[], or -1 */
} synth_plan;

static void plan_free(synth_plan *pl)
{
    for (int i = 0; i < pl->nout; i++) {
        free(pl->rel[i]);
        free(pl->abs[i]);
    }
}

static kvc_status plan_make(synth_plan *pl, const char *dir, int hf, kvc_error *err)
{
    memset(pl, 0, sizeof *pl);
    pl->dir = dir;
    pl->hf = hf;
    pl->refs_index = -1;
    const char *snap = "hub/" KVC_SYNTH_HF_REPO "/snapshots/" KVC_SYNTH_HF_REVISION;
    for (int i = 0; i < N_SHARDS; i++)
        pl->rel[pl->nout++] = hf ? join(snap, kvc_synth_shard_name(shard_layers[i]))
                                 : strdup(kvc_synth_shard_name(shard_layers[i]));
    pl->rel[pl->nout++] = strdup(KVC_SYNTH_HIDDEN_FILE);
    if (hf) {
        pl->refs_index = pl->nout;
        pl->rel[pl->nout++] = strdup("hub/" KVC_SYNTH_HF_REPO "/refs/main");
    }
    pl->rel[pl->nout++] = strdup(KVC_SYNTH_MANIFEST_FILE);
    for (int i = 0; i < pl->nout; i++) {
        if (pl->rel[i] == NULL || (pl->abs[i] = join(dir, pl->rel[i])) == NULL)
            return kvc_error_set(err, KVC_NOMEM, "paths");
    }
    return KVC_OK;
}

static kvc_status refuse_existing(const synth_plan *pl, kvc_error *err)
{
    for (int i = 0; i < pl->nout; i++) {
        struct stat sb;
        if (lstat(pl->abs[i], &sb) == 0) {
            kvc_error_set(err, KVC_IO, "%s already exists (use --force to replace it)",
                          pl->abs[i]);
            return KVC_IO;
        }
    }
    return KVC_OK;
}

/* A file is recorded once it is written: a failed write leaves nothing
 * (atomic), and with --force the file it would have replaced stays. */
static kvc_status record(undo_log *u, const char *path, kvc_error *err)
{
    kvc_status st = undo_push(u, path, 0, err);
    if (st != KVC_OK)
        unlink(path);
    return st;
}

static kvc_status run_synth(const synth_plan *pl, uint64_t seed, uint32_t passages,
                            undo_log *u, kvc_error *err)
{
    kvc_status st;
    if ((st = make_dirs(pl->dir, u, err)) != KVC_OK)
        return st;
    if (pl->hf) {
        char *snapdir = join(pl->dir, "hub/" KVC_SYNTH_HF_REPO "/snapshots/" KVC_SYNTH_HF_REVISION);
        char *refsdir = join(pl->dir, "hub/" KVC_SYNTH_HF_REPO "/refs");
        if (snapdir == NULL || refsdir == NULL)
            st = kvc_error_set(err, KVC_NOMEM, "paths");
        if (st == KVC_OK)
            st = make_dirs(snapdir, u, err);
        if (st == KVC_OK)
            st = make_dirs(refsdir, u, err);
        free(snapdir);
        free(refsdir);
        if (st != KVC_OK)
            return st;
    }
    for (int i = 0; i < N_SHARDS; i++) {
        if ((st = kvc_synth_write_shard(seed, shard_layers[i], pl->abs[i], err)) != KVC_OK ||
            (st = record(u, pl->abs[i], err)) != KVC_OK)
            return st;
        progress(pl->rel[i], pl->abs[i]);
    }
    const char *hidden = pl->abs[N_SHARDS];
    if ((st = kvc_synth_write_hidden(seed, passages, hidden, err)) != KVC_OK ||
        (st = record(u, hidden, err)) != KVC_OK)
        return st;
    progress(pl->rel[N_SHARDS], hidden);
    if (pl->refs_index >= 0) {
        const char *refs = pl->abs[pl->refs_index];
        if ((st = kvc_atomic_write_file(refs, KVC_SYNTH_HF_REVISION,
                                        strlen(KVC_SYNTH_HF_REVISION), err)) != KVC_OK ||
            (st = record(u, refs, err)) != KVC_OK)
            return st;
        progress(pl->rel[pl->refs_index], refs);
    }
    /* The manifest lists the three shards and the host, relative to DIR. */
    const char *names[N_SHARDS + 1];
    for (int i = 0; i <= N_SHARDS; i++)
        names[i] = pl->rel[i];
    const char *man = pl->abs[pl->nout - 1];
    if ((st = kvc_manifest_write_for_files(pl->dir, names, N_SHARDS + 1, man, err)) != KVC_OK ||
        (st = record(u, man, err)) != KVC_OK)
        return st;
    progress(pl->rel[pl->nout - 1], man);
    return KVC_OK;
}

int kvc_cmd_synth(int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, NULL, 'o'},  {"seed", required_argument, NULL, 's'},
        {"passages", required_argument, NULL, 'p'}, {"hf-layout", no_argument, NULL, 'H'},
        {"force", no_argument, NULL, 'f'},      {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *dir = NULL;
    unsigned long long seed = 0, passages = 1;
    int have_seed = 0, hf = 0, force = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            dir = optarg;
            break;
        case 's':
            if (kvc_cli_parse_u64(optarg, UINT64_MAX, &seed) != 0)
                return kvc_cli_usage_error("synth", "--seed wants an integer 0..%" PRIu64
                                                    ", not '%s'", UINT64_MAX, optarg);
            have_seed = 1;
            break;
        case 'p':
            if (kvc_cli_parse_u64(optarg, KVC_SYNTH_MAX_PASSAGES, &passages) != 0 ||
                passages < 1)
                return kvc_cli_usage_error("synth", "--passages wants 1..%d, not '%s'",
                                           KVC_SYNTH_MAX_PASSAGES, optarg);
            break;
        case 'H':
            hf = 1;
            break;
        case 'f':
            force = 1;
            break;
        case 'h':
            synth_help(stdout);
            return KVC_EXIT_OK;
        case ':':
            return kvc_cli_usage_error("synth", "option '%s' needs a value", argv[optind - 1]);
        default:
            return kvc_cli_usage_error("synth", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return kvc_cli_usage_error("synth", "unexpected argument '%s'", argv[optind]);
    if (dir == NULL || *dir == '\0')
        return kvc_cli_usage_error("synth", "--out DIR is required");
    if (!have_seed)
        return kvc_cli_usage_error("synth", "--seed N is required");

    kvc_error err;
    kvc_error_clear(&err);
    synth_plan pl;
    undo_log u;
    memset(&u, 0, sizeof u);
    kvc_status st = plan_make(&pl, dir, hf, &err);
    if (st == KVC_OK && !force)
        st = refuse_existing(&pl, &err);
    if (st == KVC_OK)
        st = run_synth(&pl, (uint64_t)seed, (uint32_t)passages, &u, &err);
    if (st != KVC_OK)
        undo_all(&u);
    undo_free(&u);
    plan_free(&pl);
    return st == KVC_OK ? KVC_EXIT_OK : kvc_cli_fail("synth", &err);
}
