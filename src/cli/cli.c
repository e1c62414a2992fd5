/* kvcert CLI: error printing and small parsers shared by the commands. */
#include "cli/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int kvc_cli_fail(const char *what, const kvc_error *err)
{
    char buf[2048];
    fprintf(stderr, "kvcert: error: %s: %s\n", what, kvc_error_format(err, buf, sizeof buf));
    int code = kvc_status_exit_code(err != NULL ? err->status : KVC_INTERNAL);
    return code == 0 ? KVC_EXIT_BAD_INPUT : code;
}

int kvc_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "kvcert: error: %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'kvcert %s --help'.\n", cmd);
    return KVC_EXIT_USAGE;
}

int kvc_cli_parse_u64(const char *s, unsigned long long max, unsigned long long *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v > max)
        return -1;
    *out = v;
    return 0;
}

int kvc_cli_stderr_is_tty(void)
{
    return isatty(STDERR_FILENO);
}
