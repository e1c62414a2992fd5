/* kvcert: pinning real-data inputs (`kvcert certify --pin`).
 *
 * A real-data case ships with its searched inputs unpinned (size and
 * sha256 null): nobody can know the digest of a user's hidden states in
 * advance. --pin locates and hashes them and writes a copy of the case
 * with the observed sizes and digests to the pin folder; later runs of
 * the bundled case take the pins from that copy (matched by id and role)
 * and refuse inputs that changed since. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "cert/certify.h"
#include "cert/internal.h"
#include "io/atomic.h"
#include "io/digest.h"

kvc_status kvc_cert_pin_dir(char *buf, size_t size, kvc_error *err)
{
    const char *p = getenv("KVCERT_PINNED");
    int n;
    if (p != NULL && p[0] != '\0') {
        n = kvc__cert_fmt(buf, size, "%s", p);
    } else if ((p = getenv("XDG_DATA_HOME")) != NULL && p[0] == '/') {
        n = kvc__cert_fmt(buf, size, "%s/kvcert/pinned", p);
    } else if ((p = getenv("HOME")) != NULL && p[0] != '\0') {
        n = kvc__cert_fmt(buf, size, "%s/.local/share/kvcert/pinned", p);
    } else {
        return kvc_error_set(err, KVC_INVALID_ARGUMENT,
                             "no folder for pinned cases: set KVCERT_PINNED, XDG_DATA_HOME or "
                             "HOME");
    }
    if (n < 0 || (size_t)n >= size)
        return kvc_error_set(err, KVC_LIMIT, "the pin folder's path is too long");
    return KVC_OK;
}

/* mkdir -p */
static kvc_status make_dirs(const char *dir, kvc_error *err)
{
    char path[KVC_CASE_MAX_PATH];
    if (kvc__cert_fmt(path, sizeof path, "%s", dir) < 0)
        return kvc_error_set(err, KVC_LIMIT, "path too long: %s", dir);
    for (char *p = path + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(path, 0755) != 0 && errno != EEXIST) {
                kvc_error_set(err, KVC_IO, "cannot make the folder %s: %s", path,
                              strerror(errno));
                return KVC_IO;
            }
            *p = saved;
            if (saved == '\0')
                break;
        }
    }
    return KVC_OK;
}

typedef struct pin_progress {
    const kvc_cert_options *opt;
    const char *id;
    char stage[300];
} pin_progress;

static void on_progress(void *arg, uint64_t done, uint64_t total)
{
    pin_progress *pp = arg;
    if (pp->opt != NULL && pp->opt->progress != NULL)
        pp->opt->progress(pp->opt->progress_arg, pp->id, pp->stage, done, total);
}

static kvc_status set_pin(cJSON *obj, uint64_t size, const char *hex)
{
    cJSON *s = cJSON_CreateNumber((double)size);
    cJSON *h = cJSON_CreateString(hex);
    if (s == NULL || h == NULL || !cJSON_ReplaceItemInObjectCaseSensitive(obj, "size", s)) {
        cJSON_Delete(s);
        cJSON_Delete(h);
        return KVC_NOMEM;
    }
    if (!cJSON_ReplaceItemInObjectCaseSensitive(obj, "sha256", h)) {
        cJSON_Delete(h);
        return KVC_NOMEM;
    }
    return KVC_OK;
}

static int has_flag(const cJSON *flags, const char *flag)
{
    for (const cJSON *f = flags != NULL ? flags->child : NULL; f != NULL; f = f->next)
        if (cJSON_IsString(f) && strcmp(f->valuestring, flag) == 0)
            return 1;
    return 0;
}

kvc_status kvc_cert_pin(const kvc_case *c, const char *dir, const kvc_cert_options *opt,
                        char *written, size_t size, kvc_error *err)
{
    if (written != NULL && size > 0)
        written[0] = '\0';
    cJSON *doc = cJSON_Parse(c->text);
    if (doc == NULL)
        return kvc_error_set(err, KVC_INTERNAL, "cannot re-read %s", c->file);
    cJSON *inputs = cJSON_GetObjectItemCaseSensitive(doc, "inputs");
    kvc_status st = KVC_OK;
    size_t pinned = 0;
    size_t i = 0;
    for (cJSON *o = inputs != NULL ? inputs->child : NULL; o != NULL && st == KVC_OK;
         o = o->next, i++) {
        const kvc_case_input *in = &c->inputs[i];
        if (in->source != KVC_INPUT_SEARCH)
            continue;
        char path[KVC_CASE_MAX_PATH];
        if (!kvc__cert_search(c, in, path, sizeof path)) {
            st = kvc_error_set(err, KVC_OPEN, "input %s (%s) not found: %s", in->name, in->role,
                               in->obtain);
            break;
        }
        pin_progress pp;
        pp.opt = opt;
        pp.id = c->id;
        kvc__cert_fmt(pp.stage, sizeof pp.stage, "hashing %s", in->name);
        uint8_t md[KVC_SHA256_SIZE];
        uint64_t fsize = 0;
        st = kvc_sha256_file(path, md, &fsize, on_progress, &pp, err);
        if (st != KVC_OK)
            break;
        char hex[KVC_SHA256_HEX_SIZE + 1];
        kvc_sha256_hex(md, hex);
        if (set_pin(o, fsize, hex) != KVC_OK)
            st = kvc_error_set(err, KVC_NOMEM, "cannot build the pinned case");
        pinned++;
    }
    if (st == KVC_OK && pinned == 0)
        st = kvc_error_set(err, KVC_INVALID_ARGUMENT,
                           "case %s has no searched inputs to pin (only real-data cases do)",
                           c->id);
    cJSON *flags = cJSON_GetObjectItemCaseSensitive(doc, "flags");
    if (st == KVC_OK && !has_flag(flags, "pinned"))
        cJSON_AddItemToArray(flags, cJSON_CreateString("pinned"));
    char *text = st == KVC_OK && kvc__cert_exact_numbers(doc) == 0 ? cJSON_Print(doc) : NULL;
    cJSON_Delete(doc);
    if (st == KVC_OK && text == NULL)
        st = kvc_error_set(err, KVC_NOMEM, "cannot format the pinned case");
    if (st == KVC_OK)
        st = make_dirs(dir, err);
    char path[KVC_CASE_MAX_PATH + 80];
    if (st == KVC_OK) {
        kvc__cert_fmt(path, sizeof path, "%s/%s.json", dir, c->id);
        size_t len = strlen(text);
        text[len] = '\n';
        st = kvc_atomic_write_file(path, text, len + 1, err);
        if (st == KVC_OK && written != NULL)
            kvc__cert_fmt(written, size, "%s", path);
    }
    free(text);
    return st;
}

kvc_status kvc_cert_apply_pins(kvc_case *c, const kvc_case *pinned, kvc_error *err)
{
    if (strcmp(c->id, pinned->id) != 0)
        return kvc__case_fail(err, KVC_CASE_FIELD, pinned->file, "$.id",
                              "the pinned copy is of case \"%s\", not \"%s\"", pinned->id, c->id);
    for (size_t i = 0; i < c->n_inputs; i++) {
        kvc_case_input *in = &c->inputs[i];
        if (in->source != KVC_INPUT_SEARCH || in->pinned)
            continue;
        const kvc_case_input *p = kvc_case_input_find(pinned, in->role);
        if (p == NULL || !p->pinned || p->source != KVC_INPUT_SEARCH ||
            strcmp(p->name, in->name) != 0)
            continue;
        in->pinned = 1;
        in->size = p->size;
        memcpy(in->sha256, p->sha256, KVC_SHA256_SIZE);
    }
    return KVC_OK;
}
