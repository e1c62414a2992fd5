/* kvcert: fork-join over a fixed number of parts (CPU backend).
 *
 * Each call creates its threads and joins them before returning: the
 * operations it serves take milliseconds, thread creation microseconds,
 * and nothing is left running between calls. How work is split never
 * changes a result: every part computes whole outputs in their specified
 * order.
 */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "v4/cpu.h"

#define KVC_MAX_PARTS 256

typedef struct part_job {
    kvc__part_fn fn;
    void *arg;
    int part, nparts;
} part_job;

static void *part_main(void *p)
{
    part_job *j = (part_job *)p;
    j->fn(j->arg, j->part, j->nparts);
    return NULL;
}

void kvc__parallel_run(int nparts, kvc__part_fn fn, void *arg)
{
    if (nparts < 1)
        nparts = 1;
    if (nparts > KVC_MAX_PARTS)
        nparts = KVC_MAX_PARTS;
    if (nparts == 1) {
        fn(arg, 0, 1);
        return;
    }
    pthread_t tid[KVC_MAX_PARTS];
    part_job job[KVC_MAX_PARTS];
    int started[KVC_MAX_PARTS];
    for (int i = 1; i < nparts; i++) {
        job[i].fn = fn;
        job[i].arg = arg;
        job[i].part = i;
        job[i].nparts = nparts;
        started[i] = pthread_create(&tid[i], NULL, part_main, &job[i]) == 0;
    }
    fn(arg, 0, nparts);
    for (int i = 1; i < nparts; i++) {
        if (started[i])
            pthread_join(tid[i], NULL);
        else
            fn(arg, i, nparts);
    }
}

int kvc__cpu_default_threads(void)
{
    const char *env = getenv("KVC_THREADS");
    if (env != NULL && *env != '\0') {
        char *end = NULL;
        long v = strtol(env, &end, 10);
        if (end != env && *end == '\0' && v >= 1 && v <= KVC_MAX_PARTS)
            return (int)v;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    if (n > KVC_MAX_PARTS)
        n = KVC_MAX_PARTS;
    return (int)n;
}
