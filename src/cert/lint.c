/* kvcert: the lint of conformance case files (`kvcert certify --lint`).
 *
 * Every rule of the schema is enforced by the loader (cert/case.c): the
 * lint loads each file and adds the checks that need the whole set or the
 * file's name: ids unique, and each file named "<id>.json" so a case is
 * found by its id. */
#include <stdlib.h>
#include <string.h>

#include "cert/case.h"
#include "cert/internal.h"

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s != NULL ? s + 1 : path;
}

static void report(FILE *log, const char *path, const kvc_error *e)
{
    if (log == NULL)
        return;
    char buf[1200];
    fprintf(log, "%s: %s: %s\n", path, kvc_status_name(e->status),
            kvc_error_format(e, buf, sizeof buf));
}

kvc_status kvc_case_lint(const char *const *paths, size_t n, FILE *log, size_t *n_bad,
                         kvc_error *err)
{
    *n_bad = 0;
    char **ids = calloc(n > 0 ? n : 1, sizeof *ids);
    if (ids == NULL)
        return kvc_error_set(err, KVC_NOMEM, "cannot allocate the lint's id table");
    for (size_t i = 0; i < n; i++) {
        kvc_case *c = NULL;
        kvc_error e;
        kvc_error_clear(&e);
        kvc_status st = kvc_case_load(paths[i], &c, &e);
        if (st == KVC_NOMEM) {
            for (size_t j = 0; j < i; j++)
                free(ids[j]);
            free(ids);
            if (err != NULL)
                *err = e;
            return st;
        }
        if (st != KVC_OK) {
            report(log, paths[i], &e);
            (*n_bad)++;
            continue;
        }
        int bad = 0;
        size_t idlen = strlen(c->id);
        const char *base = base_name(paths[i]);
        if (strncmp(base, c->id, idlen) != 0 || strcmp(base + idlen, ".json") != 0) {
            kvc__case_fail(&e, KVC_CASE_FIELD, paths[i], "$.id",
                           "the file of case \"%s\" must be named \"%s.json\"", c->id, c->id);
            report(log, paths[i], &e);
            bad = 1;
        }
        for (size_t j = 0; j < i; j++)
            if (ids[j] != NULL && strcmp(ids[j], c->id) == 0) {
                kvc__case_fail(&e, KVC_CASE_DUPLICATE_ID, paths[i], "$.id",
                               "id \"%s\" is also the id of %s", c->id, paths[j]);
                report(log, paths[i], &e);
                bad = 1;
            }
        ids[i] = strdup(c->id);
        kvc_case_destroy(c);
        *n_bad += (size_t)bad;
    }
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    return KVC_OK;
}
