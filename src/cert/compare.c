/* kvcert: assertions of conformance cases — JSON paths into results and
 * the four tolerance kinds (cert/case.h defines them). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert/certify.h"
#include "cert/internal.h"
#include "stats/published.h"

static uint64_t bits_of(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

const char *kvc_cert_format_number(double x, char *buf, size_t size)
{
    kvc__cert_fmt(buf, size, "%.17g (0x%016llx)", x, (unsigned long long)bits_of(x));
    return buf;
}

int kvc_cert_exact_equal(double expected, double got)
{
    if (isnan(expected) || isnan(got))
        return isnan(expected) && isnan(got);
    return bits_of(expected) == bits_of(got);
}

int kvc_cert_within_ci95(double got, double mean, double hw)
{
    double lo = mean - hw, hi = mean + hw;
    return got >= lo && got <= hi; /* false for NaN */
}

/* cJSON prints a number with 15 digits whenever those read back to
 * within a relative DBL_EPSILON of it, which can lose the last bit. Every
 * tree kvcert prints goes through this first: each number becomes raw text
 * with the fewest digits that read back to the same binary64 exactly
 * (kvc_report_format_double; "null" for NaN and infinities). */
int kvc__cert_exact_numbers(cJSON *node)
{
    for (cJSON *c = node != NULL ? node->child : NULL; c != NULL;) {
        cJSON *next = c->next;
        if (cJSON_IsNumber(c)) {
            char buf[40];
            cJSON *raw = cJSON_CreateRaw(kvc_report_format_double(c->valuedouble, buf, sizeof buf));
            /* the replacement takes the member's key (ReplaceItemViaPointer
             * does not copy it) */
            if (raw != NULL && c->string != NULL && (raw->string = strdup(c->string)) == NULL) {
                cJSON_Delete(raw);
                return -1;
            }
            if (raw == NULL || !cJSON_ReplaceItemViaPointer(node, c, raw)) {
                cJSON_Delete(raw);
                return -1;
            }
        } else if (kvc__cert_exact_numbers(c) != 0) {
            return -1;
        }
        c = next;
    }
    return 0;
}

/* ------------------------------------------------------------ lookup */

kvc_value kvc__cert_value_of(const cJSON *item)
{
    kvc_value v;
    memset(&v, 0, sizeof v);
    if (item == NULL) {
        v.type = KVC_VAL_MISSING;
    } else if (cJSON_IsNumber(item)) {
        v.type = KVC_VAL_NUMBER;
        v.num = item->valuedouble;
    } else if (cJSON_IsNull(item)) {
        v.type = KVC_VAL_NAN;
        v.num = NAN;
    } else if (cJSON_IsBool(item)) {
        v.type = KVC_VAL_BOOL;
        v.boolean = cJSON_IsTrue(item);
    } else if (cJSON_IsString(item)) {
        v.type = KVC_VAL_STRING;
        v.str = item->valuestring;
    } else {
        v.type = KVC_VAL_COMPOUND;
    }
    return v;
}

kvc_value kvc__cert_lookup(const cJSON *root, const char *path)
{
    return kvc__cert_value_of(kvc__cert_lookup_node(root, path));
}

const cJSON *kvc__cert_lookup_node(const cJSON *root, const char *path)
{
    const cJSON *cur = root;
    if (path == NULL || path[0] != '$' || kvc_case_path_check(path) != 0)
        cur = NULL;
    const char *p = path != NULL ? path + 1 : "";
    char key[512];
    while (cur != NULL && *p != '\0') {
        if (*p == '.') {
            size_t n = strcspn(p + 1, ".[]");
            if (n >= sizeof key) {
                cur = NULL;
                break;
            }
            memcpy(key, p + 1, n);
            key[n] = '\0';
            cur = cJSON_IsObject(cur) ? cJSON_GetObjectItemCaseSensitive(cur, key) : NULL;
            p += 1 + n;
        } else {
            long idx = strtol(p + 1, NULL, 10);
            cur = cJSON_IsArray(cur) ? cJSON_GetArrayItem(cur, (int)idx) : NULL;
            p = strchr(p, ']') + 1;
        }
    }
    return cur;
}

/* ------------------------------------------------------------ compare */

static int is_digest(const char *s)
{
    if (s == NULL || strlen(s) != 64)
        return 0;
    for (int i = 0; i < 64; i++)
        if (!isxdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

static const char *value_text(const kvc_value *v, char *buf, size_t size)
{
    switch (v->type) {
    case KVC_VAL_MISSING:
        return "nothing (the path leads nowhere in the results)";
    case KVC_VAL_NUMBER:
    case KVC_VAL_NAN:
        return kvc_cert_format_number(v->num, buf, size);
    case KVC_VAL_STRING:
        kvc__cert_fmt(buf, size, "\"%.200s\"", v->str != NULL ? v->str : "");
        return buf;
    case KVC_VAL_BOOL:
        return v->boolean ? "true" : "false";
    default:
        return "an object or array";
    }
}

static int fail(char *detail, size_t size, const kvc_case_assertion *a, const kvc_value *got,
                const char *why)
{
    char e[128], g[256];
    if (detail != NULL && size > 0)
        kvc__cert_fmt(detail, size, "expected %s, got %s%s%s", value_text(&a->value, e, sizeof e),
                 value_text(got, g, sizeof g), why != NULL ? ": " : "", why != NULL ? why : "");
    return 0;
}

static int numeric(const kvc_value *v)
{
    return v->type == KVC_VAL_NUMBER || v->type == KVC_VAL_NAN;
}

int kvc_cert_compare(const kvc_case_assertion *a, const kvc_value *got, char *detail,
                     size_t size)
{
    if (detail != NULL && size > 0)
        detail[0] = '\0';
    const kvc_value *exp = &a->value;
    char why[256];
    if (a->tolerance == KVC_TOL_EXACT) {
        if (numeric(exp)) {
            if (!numeric(got))
                return fail(detail, size, a, got, "not a number");
            return kvc_cert_exact_equal(exp->num, got->num)
                       ? 1
                       : fail(detail, size, a, got, "bit patterns differ");
        }
        if (exp->type == KVC_VAL_BOOL)
            return got->type == KVC_VAL_BOOL && got->boolean == exp->boolean
                       ? 1
                       : fail(detail, size, a, got, NULL);
        if (got->type != KVC_VAL_STRING)
            return fail(detail, size, a, got, "not a string");
        if (is_digest(exp->str))
            return strlen(got->str) == 64 && strncasecmp(exp->str, got->str, 64) == 0
                       ? 1
                       : fail(detail, size, a, got, "digests differ");
        return strcmp(exp->str, got->str) == 0 ? 1 : fail(detail, size, a, got, NULL);
    }
    if (got->type != KVC_VAL_NUMBER || !isfinite(got->num))
        return fail(detail, size, a, got, "not a finite number");
    double d = fabs(got->num - exp->num);
    switch (a->tolerance) {
    case KVC_TOL_ABSOLUTE:
        if (d <= a->bound)
            return 1;
        kvc__cert_fmt(why, sizeof why, "|difference| %.6g > bound %.6g", d, a->bound);
        return fail(detail, size, a, got, why);
    case KVC_TOL_RELATIVE: {
        double lim = a->bound * fabs(exp->num);
        if (d <= lim)
            return 1;
        kvc__cert_fmt(why, sizeof why, "|difference| %.6g > %.6g x |expected| = %.6g", d, a->bound,
                 lim);
        return fail(detail, size, a, got, why);
    }
    case KVC_TOL_PUBLISHED_CI95:
        if (kvc_cert_within_ci95(got->num, exp->num, a->ci95_hw))
            return 1;
        kvc__cert_fmt(why, sizeof why, "outside the published 95 %% CI [%.17g, %.17g]",
                 exp->num - a->ci95_hw, exp->num + a->ci95_hw);
        return fail(detail, size, a, got, why);
    default:
        return fail(detail, size, a, got, "unknown tolerance");
    }
}
