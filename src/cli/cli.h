/* kvcert CLI: shared helpers for the commands. */
#ifndef KVC_CLI_CLI_H
#define KVC_CLI_CLI_H

#include "core/error.h"

/* Exit statuses (README and --help document them). */
enum {
    KVC_EXIT_OK = 0,
    KVC_EXIT_CHECK_FAILED = 1,
    KVC_EXIT_USAGE = 2,
    KVC_EXIT_BAD_INPUT = 3
};

/* Prints "kvcert: error: <what>: <why>" for an error record; returns the
 * exit status its class maps to. */
int kvc_cli_fail(const char *what, const kvc_error *err);
/* Prints a usage error and a hint to --help; returns KVC_EXIT_USAGE. */
int kvc_cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Parses a non-negative decimal integer with no trailing characters. */
int kvc_cli_parse_u64(const char *s, unsigned long long max, unsigned long long *out);
/* True when stderr is a terminal (progress bars are drawn only then). */
int kvc_cli_stderr_is_tty(void);

#endif
