/* kvcert CLI: a thread-safe one-line progress bar. */
#include "cli/progress.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BAR_WIDTH 30

struct kvc_cli_progress {
    pthread_mutex_t mu;
    FILE *out;
    char label[64];
    uint64_t total;
    double start_s;
    double last_draw_s;
    double min_interval_s;
    int drawn_width; /* characters on the line now; 0 when erased */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

kvc_cli_progress *kvc_cli_progress_create_on(FILE *out, const char *label, uint64_t total,
                                             double min_interval_s)
{
    kvc_cli_progress *bar = calloc(1, sizeof *bar);
    if (bar == NULL)
        return NULL;
    pthread_mutex_init(&bar->mu, NULL);
    bar->out = out;
    snprintf(bar->label, sizeof bar->label, "%s", label != NULL ? label : "");
    bar->total = total;
    bar->start_s = now_s();
    bar->last_draw_s = -1e30;
    bar->min_interval_s = min_interval_s;
    return bar;
}

kvc_cli_progress *kvc_cli_progress_create(const char *label, uint64_t total)
{
    if (total < KVC_CLI_PROGRESS_MIN_BYTES || !isatty(STDERR_FILENO))
        return NULL;
    return kvc_cli_progress_create_on(stderr, label, total, 0.1);
}

/* Called with the mutex held. */
static void erase_locked(kvc_cli_progress *bar)
{
    if (bar->drawn_width > 0) {
        fprintf(bar->out, "\r%*s\r", bar->drawn_width, "");
        fflush(bar->out);
        bar->drawn_width = 0;
    }
}

void kvc_cli_progress_update(void *arg, uint64_t done, uint64_t total)
{
    kvc_cli_progress *bar = arg;
    if (bar == NULL)
        return;
    pthread_mutex_lock(&bar->mu);
    if (total > 0)
        bar->total = total;
    double t = now_s();
    int final = done >= bar->total;
    if (final || t - bar->last_draw_s >= bar->min_interval_s) {
        bar->last_draw_s = t;
        double frac = bar->total > 0 ? (double)done / (double)bar->total : 1.0;
        if (frac > 1.0)
            frac = 1.0;
        char cells[BAR_WIDTH + 1];
        int filled = (int)(frac * BAR_WIDTH);
        for (int i = 0; i < BAR_WIDTH; i++)
            cells[i] = i < filled ? '#' : '.';
        cells[BAR_WIDTH] = '\0';
        double elapsed = t - bar->start_s;
        double rate = elapsed > 0 ? (double)done / 1e6 / elapsed : 0.0;
        char line[256];
        int w = snprintf(line, sizeof line, "%s [%s] %.1f / %.1f MB  %.1f MB/s", bar->label,
                         cells, (double)done / 1e6, (double)bar->total / 1e6, rate);
        if (w < 0)
            w = 0;
        if (w >= (int)sizeof line)
            w = (int)sizeof line - 1;
        /* pad over a longer previous line */
        int pad = bar->drawn_width > w ? bar->drawn_width - w : 0;
        fprintf(bar->out, "\r%s%*s", line, pad, "");
        fflush(bar->out);
        bar->drawn_width = w + pad;
    }
    pthread_mutex_unlock(&bar->mu);
}

void kvc_cli_progress_puts(kvc_cli_progress *bar, FILE *stream, const char *text)
{
    if (bar == NULL) {
        fputs(text, stream);
        fflush(stream);
        return;
    }
    pthread_mutex_lock(&bar->mu);
    erase_locked(bar);
    fputs(text, stream);
    fflush(stream);
    bar->last_draw_s = -1e30; /* redraw on the next update */
    pthread_mutex_unlock(&bar->mu);
}

void kvc_cli_progress_finish(kvc_cli_progress *bar)
{
    if (bar == NULL)
        return;
    pthread_mutex_lock(&bar->mu);
    erase_locked(bar);
    pthread_mutex_unlock(&bar->mu);
    pthread_mutex_destroy(&bar->mu);
    free(bar);
}
