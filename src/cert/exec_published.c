/* kvcert: the "published" executor — aggregates recomputed from a report
 * file by the stats module (stats/published.h), nothing re-implemented:
 * load, kvc_report_aggregate, kvc_report_check against the stored values,
 * kvc_report_write_json for the results tree, and
 * kvc_stats_strategy_from_q for strategies at given per-stream Q. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cert/internal.h"
#include "stats/aggregate.h"
#include "stats/bits.h"
#include "stats/published.h"

static const char *const stream_names[KVC_ROLE_COUNT] = {
    "sliding_window_kv", "csa_pool_kv_ratio4", "hca_pool_kv_ratio128"};

static kvc_status check_layers(const cJSON *l, const char *origin, kvc_error *err)
{
    static const char *const keys[] = {"SWA", "CSA", "HCA", NULL};
    kvc_status st = kvc__case_keys(l, keys, origin, "$.parameters.layers", err);
    if (st != KVC_OK)
        return st;
    for (int i = 0; i < KVC_ROLE_COUNT; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(l, keys[i]);
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0.0)
            return kvc__case_fail(err, KVC_CASE_FIELD, origin, "$.parameters.layers",
                                  "\"%s\" must be a finite number >= 0", keys[i]);
    }
    return KVC_OK;
}

static kvc_status check_strategies(const cJSON *s, const char *origin, kvc_error *err)
{
    const char *jp = "$.parameters.strategies_from_q";
    if (!cJSON_IsObject(s))
        return kvc__case_fail(err, KVC_CASE_FIELD, origin, jp, "expected an object");
    for (const cJSON *e = s->child; e != NULL; e = e->next) {
        char p[256];
        kvc__case_jpath(p, sizeof p, jp, e->string);
        if (!kvc__case_role_ok(e->string))
            return kvc__case_fail(err, KVC_CASE_FIELD, origin, p,
                                  "a label is 1..64 bytes of [a-z0-9_-]");
        for (const cJSON *d = s->child; d != e; d = d->next)
            if (strcmp(d->string, e->string) == 0)
                return kvc__case_fail(err, KVC_CASE_FIELD, origin, p, "key given twice");
        static const char *const keys[] = {"sliding_window_kv", "csa_pool_kv_ratio4",
                                           "hca_pool_kv_ratio128", NULL};
        kvc_status st = kvc__case_keys(e, keys, origin, p, err);
        if (st != KVC_OK)
            return st;
        for (int i = 0; i < KVC_ROLE_COUNT; i++) {
            uint64_t q;
            st = kvc__case_uint(e, keys[i], 0, 1, KVC_BITS_Q_MAX, origin, p, NULL, &q, err);
            if (st != KVC_OK)
                return st;
        }
    }
    return KVC_OK;
}

static kvc_status published_check(const kvc_case *c, const cJSON *params, kvc_error *err)
{
    static const char *const keys[] = {"report", "t_source", "layers", "check_stored",
                                       "strategies_from_q", NULL};
    const char *origin = c->file;
    kvc_status st = kvc__case_keys(params, keys, origin, "$.parameters", err);
    if (st != KVC_OK)
        return st;
    const char *role = NULL;
    if ((st = kvc__case_string(params, "report", 0, origin, "$.parameters", &role, err)) != KVC_OK)
        return st;
    if (kvc_case_input_find(c, role) == NULL)
        return kvc__case_fail(err, KVC_CASE_FIELD, origin, "$.parameters.report",
                              "no input has the role \"%.64s\"", role);
    const char *t = NULL;
    if ((st = kvc__case_string(params, "t_source", 1, origin, "$.parameters", &t, err)) != KVC_OK)
        return st;
    kvc_t_source src;
    if (t != NULL && kvc_t_source_parse(t, &src) != 0)
        return kvc__case_fail(err, KVC_CASE_FIELD, origin, "$.parameters.t_source",
                              "\"%.64s\" is not published-table or exact-student-t", t);
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(params, "layers");
    if (l != NULL && (st = check_layers(l, origin, err)) != KVC_OK)
        return st;
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(params, "check_stored");
    if (b != NULL && !cJSON_IsBool(b))
        return kvc__case_fail(err, KVC_CASE_FIELD, origin, "$.parameters.check_stored",
                              "expected a boolean");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(params, "strategies_from_q");
    if (s != NULL && (st = check_strategies(s, origin, err)) != KVC_OK)
        return st;
    if (c->profile != NULL)
        return kvc__case_fail(err, KVC_CASE_FIELD, origin, "$.profile",
                              "a published case runs no V4 path: profile is null");
    return KVC_OK;
}

/* kvc_report_write_json into memory, parsed back. */
static kvc_status report_tree(const kvc_report *r, const kvc_result *res, cJSON **out,
                              kvc_error *err)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL)
        return kvc_error_set(err, KVC_NOMEM, "cannot open a memory stream");
    kvc_status st = kvc_report_write_json(r, res, f, err);
    if (fclose(f) != 0 && st == KVC_OK)
        st = kvc_error_set(err, KVC_NOMEM, "cannot finish a memory stream");
    if (st == KVC_OK) {
        *out = cJSON_ParseWithLength(buf, len);
        if (*out == NULL)
            st = kvc_error_set(err, KVC_INTERNAL, "the stats module wrote JSON that cJSON "
                                                  "cannot read back");
    }
    free(buf);
    return st;
}

/* Path-friendly names of the check categories (stats/published.h). */
static const char *const category_keys[KVC_CHECK_CATEGORIES] = {
    "aggregate", "hw_from_std", "bits", "thresholds", "derived"};

static kvc_status add_check(kvc__cert_run *run, const kvc_report *r, const kvc_result *res,
                            cJSON *results, kvc_error *err)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *log = open_memstream(&buf, &len);
    if (log == NULL)
        return kvc_error_set(err, KVC_NOMEM, "cannot open a memory stream");
    kvc_check_counts cnt;
    kvc_status st = kvc_report_check(r, res, log, &cnt, err);
    fclose(log);
    if (st == KVC_OK) {
        /* Each mismatch as a note (the first few): the report says why. */
        int shown = 0;
        for (char *line = buf, *next; line != NULL && *line != '\0' && shown < 20; line = next) {
            next = strchr(line, '\n');
            if (next != NULL)
                *next++ = '\0';
            kvc__cert_note(run, "stored value differs: %s", line);
            shown++;
        }
        cJSON *chk = cJSON_AddObjectToObject(results, "check");
        cJSON *cat = chk != NULL ? cJSON_AddObjectToObject(chk, "by_category") : NULL;
        if (cat == NULL || cJSON_AddNumberToObject(chk, "fields", (double)cnt.fields) == NULL ||
            cJSON_AddNumberToObject(chk, "matched", (double)cnt.matched) == NULL)
            st = kvc_error_set(err, KVC_NOMEM, "cannot build the results");
        for (int i = 0; st == KVC_OK && i < KVC_CHECK_CATEGORIES; i++) {
            if (cnt.cat_fields[i] == 0)
                continue;
            cJSON *o = cJSON_CreateObject();
            if (o == NULL || !cJSON_AddItemToObject(cat, category_keys[i], o)) {
                cJSON_Delete(o);
                st = kvc_error_set(err, KVC_NOMEM, "cannot build the results");
                break;
            }
            cJSON_AddNumberToObject(o, "fields", (double)cnt.cat_fields[i]);
            cJSON_AddNumberToObject(o, "matched", (double)cnt.cat_matched[i]);
        }
    }
    free(buf);
    return st;
}

static kvc_status add_strategies(const cJSON *spec, const double layers[KVC_ROLE_COUNT],
                                 uint32_t head_dim, cJSON *results, kvc_error *err)
{
    cJSON *all = cJSON_AddObjectToObject(results, "strategies_from_q");
    if (all == NULL)
        return kvc_error_set(err, KVC_NOMEM, "cannot build the results");
    for (const cJSON *e = spec->child; e != NULL; e = e->next) {
        uint32_t q[KVC_ROLE_COUNT];
        for (int i = 0; i < KVC_ROLE_COUNT; i++)
            q[i] = (uint32_t)cJSON_GetObjectItemCaseSensitive(e, stream_names[i])->valuedouble;
        kvc_strategy s;
        kvc_status st = kvc_stats_strategy_from_q(q, layers, head_dim, &s, err);
        if (st != KVC_OK)
            return st;
        cJSON *o = cJSON_AddObjectToObject(all, e->string);
        cJSON *qo = o != NULL ? cJSON_AddObjectToObject(o, "Q") : NULL;
        if (qo == NULL)
            return kvc_error_set(err, KVC_NOMEM, "cannot build the results");
        for (int i = 0; i < KVC_ROLE_COUNT; i++)
            cJSON_AddNumberToObject(qo, stream_names[i], (double)q[i]);
        cJSON_AddNumberToObject(o, "bits_per_vec", s.weighted_bits);
        cJSON_AddNumberToObject(o, "cr_vs_fp8", s.cr_vs_fp8);
        cJSON_AddNumberToObject(o, "cr_vs_bf16", s.cr_vs_bf16);
        cJSON_AddNumberToObject(o, "bit_saving_vs_fp8_pct", s.saving_vs_fp8_pct);
        if (cJSON_AddNumberToObject(o, "bit_saving_vs_bf16_pct", s.saving_vs_bf16_pct) == NULL)
            return kvc_error_set(err, KVC_NOMEM, "cannot build the results");
    }
    return KVC_OK;
}

static kvc_status published_run(kvc__cert_run *run, cJSON *results, kvc_error *err)
{
    const kvc_case *c = kvc__cert_case(run);
    const cJSON *params = (const cJSON *)c->parameters;
    const char *role = cJSON_GetObjectItemCaseSensitive(params, "report")->valuestring;
    const char *path = kvc__cert_input_path(run, role);
    kvc_report *r = NULL;
    kvc_status st = kvc_report_load(path, &r, err);
    if (st != KVC_OK)
        return st;
    kvc_agg_options opt = kvc_agg_options_default();
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(params, "t_source");
    if (t != NULL)
        kvc_t_source_parse(t->valuestring, &opt.t_source);
    else if (r->has_t_source)
        opt.t_source = r->t_source;
    double layers[KVC_ROLE_COUNT];
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(params, "layers");
    if (l != NULL) {
        layers[KVC_ROLE_SWA] = cJSON_GetObjectItemCaseSensitive(l, "SWA")->valuedouble;
        layers[KVC_ROLE_CSA] = cJSON_GetObjectItemCaseSensitive(l, "CSA")->valuedouble;
        layers[KVC_ROLE_HCA] = cJSON_GetObjectItemCaseSensitive(l, "HCA")->valuedouble;
    } else if (r->has_layers) {
        memcpy(layers, r->layers, sizeof layers);
    } else {
        kvc_stats_default_layers(layers);
    }
    kvc_result *res = NULL;
    st = kvc_report_aggregate(r, &opt, layers, &res, err);
    cJSON *tree = NULL;
    if (st == KVC_OK)
        st = report_tree(r, res, &tree, err);
    if (st == KVC_OK && !cJSON_AddItemToObject(results, "report", tree)) {
        cJSON_Delete(tree);
        st = kvc_error_set(err, KVC_NOMEM, "cannot build the results");
    }
    const cJSON *chk = cJSON_GetObjectItemCaseSensitive(params, "check_stored");
    if (st == KVC_OK && (chk == NULL || cJSON_IsTrue(chk)))
        st = add_check(run, r, res, results, err);
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(params, "strategies_from_q");
    if (st == KVC_OK && spec != NULL)
        st = add_strategies(spec, layers, r->head_dim, results, err);
    kvc_result_destroy(res);
    kvc_report_destroy(r);
    return st;
}

const kvc__cert_executor kvc__cert_exec_published = {KVC_CASE_PUBLISHED, published_check,
                                                     published_run};
