/* kvcert CLI: a one-line progress bar on stderr.
 *
 * Drawn only when stderr is a terminal and the job is large enough to be
 * worth watching; otherwise create returns NULL and every call below is a
 * no-op, so callers need no conditions. Safe to update from several
 * threads at once (one mutex); redrawn at most every 100 ms with "\r";
 * erased (not left behind) by puts and finish. */
#ifndef KVC_CLI_PROGRESS_H
#define KVC_CLI_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

/* Jobs smaller than this get no bar. */
#define KVC_CLI_PROGRESS_MIN_BYTES ((uint64_t)64 * 1024 * 1024)

typedef struct kvc_cli_progress kvc_cli_progress;

/* A bar on stderr, or NULL when stderr is not a terminal or total is
 * below KVC_CLI_PROGRESS_MIN_BYTES (or memory is short). */
kvc_cli_progress *kvc_cli_progress_create(const char *label, uint64_t total);
/* A bar on any stream, always drawn, redrawn at most every min_interval_s
 * seconds (tests use this). */
kvc_cli_progress *kvc_cli_progress_create_on(FILE *out, const char *label, uint64_t total,
                                             double min_interval_s);
/* A kvc_progress_fn: arg is the bar (NULL is accepted). Draws
 * "label  [#####.....]  done / total MB  rate MB/s" (MB = 10^6 bytes). */
void kvc_cli_progress_update(void *arg, uint64_t done, uint64_t total);
/* Writes text to stream (and flushes it) with the bar erased, so output
 * lines never mix with it; the next update draws the bar again. bar may
 * be NULL (then this is fputs + fflush). */
void kvc_cli_progress_puts(kvc_cli_progress *bar, FILE *stream, const char *text);
/* Erases the line and frees the bar. */
void kvc_cli_progress_finish(kvc_cli_progress *bar);

#endif
