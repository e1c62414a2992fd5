/* kvcert: status names, messages and the error record. */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const status_names[] = {
#define KVC__STATUS_NAME(sym, exit_class, msg) #sym,
    KVC_STATUS_MAP(KVC__STATUS_NAME)
#undef KVC__STATUS_NAME
};

static const char *const status_messages[] = {
#define KVC__STATUS_MSG(sym, exit_class, msg) msg,
    KVC_STATUS_MAP(KVC__STATUS_MSG)
#undef KVC__STATUS_MSG
};

static const int status_exit_codes[] = {
#define KVC__STATUS_EXIT(sym, exit_class, msg) exit_class,
    KVC_STATUS_MAP(KVC__STATUS_EXIT)
#undef KVC__STATUS_EXIT
};

static int status_in_range(kvc_status s)
{
    return (int)s >= 0 && (int)s < (int)KVC_STATUS_COUNT;
}

const char *kvc_status_name(kvc_status s)
{
    return status_in_range(s) ? status_names[s] : "UNKNOWN";
}

const char *kvc_status_message(kvc_status s)
{
    return status_in_range(s) ? status_messages[s] : "unknown status";
}

int kvc_status_exit_code(kvc_status s)
{
    return status_in_range(s) ? status_exit_codes[s] : 3;
}

int kvc_status_from_name(const char *name)
{
    if (name == NULL)
        return -1;
    for (int i = 0; i < (int)KVC_STATUS_COUNT; i++)
        if (strcmp(status_names[i], name) == 0)
            return i;
    return -1;
}

void kvc_error_clear(kvc_error *err)
{
    if (err == NULL)
        return;
    memset(err, 0, sizeof *err);
    err->status = KVC_OK;
    err->offset = -1;
}

kvc_status kvc_error_set(kvc_error *err, kvc_status status, const char *fmt, ...)
{
    if (err == NULL)
        return status;
    err->status = status;
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->detail, sizeof err->detail, fmt, ap);
        va_end(ap);
    } else {
        err->detail[0] = '\0';
    }
    return status;
}

void kvc_error_where(kvc_error *err, const char *file, const char *tensor, int64_t offset)
{
    if (err == NULL)
        return;
    if (file != NULL)
        snprintf(err->file, sizeof err->file, "%s", file);
    if (tensor != NULL)
        snprintf(err->tensor, sizeof err->tensor, "%s", tensor);
    if (offset >= 0)
        err->offset = offset;
}

const char *kvc_error_format(const kvc_error *err, char *buf, size_t size)
{
    if (buf == NULL || size == 0)
        return "";
    if (err == NULL) {
        snprintf(buf, size, "%s", kvc_status_message(KVC_INTERNAL));
        return buf;
    }
    size_t n = (size_t)snprintf(buf, size, "%s", kvc_status_message(err->status));
    if (n < size && err->detail[0] != '\0')
        n += (size_t)snprintf(buf + n, size - n, ": %s", err->detail);
    if (n < size && err->file[0] != '\0')
        n += (size_t)snprintf(buf + n, size - n, " (file %s", err->file);
    else if (n < size && (err->tensor[0] != '\0' || err->offset >= 0))
        n += (size_t)snprintf(buf + n, size - n, " (");
    else
        return buf;
    if (n < size && err->tensor[0] != '\0')
        n += (size_t)snprintf(buf + n, size - n, "%stensor %s",
                              err->file[0] != '\0' ? ", " : "", err->tensor);
    if (n < size && err->offset >= 0)
        n += (size_t)snprintf(buf + n, size - n, "%soffset %lld",
                              (err->file[0] != '\0' || err->tensor[0] != '\0') ? ", " : "",
                              (long long)err->offset);
    if (n < size)
        snprintf(buf + n, size - n, ")");
    return buf;
}
