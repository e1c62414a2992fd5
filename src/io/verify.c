/* kvcert: hashing files on worker threads, and the manifest verifier.
 *
 * A fixed pool of pthreads takes jobs from one queue ordered largest file
 * first (so the longest hash starts at once and the pool drains evenly);
 * the calling thread waits for the jobs in index order and reports each as
 * soon as it and all before it are done, so output order never depends on
 * timing. */
#include "io/hash_jobs.h"
#include "io/manifest.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_THREADS 64

typedef struct pool {
    kvc__hash_job *jobs;
    size_t n;
    size_t *queue; /* job indices, largest first */
    size_t next;   /* next queue slot to take */
    unsigned char *finished;
    pthread_mutex_t mu; /* guards next and finished */
    pthread_cond_t cv;  /* signalled when a job finishes */

    pthread_mutex_t progress_mu; /* serializes progress and guards done_bytes */
    uint64_t done_bytes;
    uint64_t total_bytes;
    kvc_progress_fn progress;
    void *progress_arg;
} pool;

/* A worker's view of one job's progress: what it has already counted. */
typedef struct job_progress {
    pool *p;
    uint64_t counted;
    uint64_t cap; /* a job never counts more than its expected size */
} job_progress;

static void pool_add_progress(pool *p, uint64_t delta)
{
    if (p->progress == NULL || delta == 0)
        return;
    pthread_mutex_lock(&p->progress_mu);
    p->done_bytes = delta > UINT64_MAX - p->done_bytes ? UINT64_MAX : p->done_bytes + delta;
    p->progress(p->progress_arg, p->done_bytes, p->total_bytes);
    pthread_mutex_unlock(&p->progress_mu);
}

static void on_file_progress(void *arg, uint64_t done, uint64_t total)
{
    (void)total;
    job_progress *jp = arg;
    uint64_t now = done < jp->cap ? done : jp->cap;
    if (now > jp->counted) {
        pool_add_progress(jp->p, now - jp->counted);
        jp->counted = now;
    }
}

/* stat-based checks done before hashing; returns 1 when the job is settled
 * without hashing. */
static int precheck(kvc__hash_job *job)
{
    kvc_verify_result *r = job->result;
    struct stat sb;
    if (stat(job->path, &sb) != 0) {
        int e = errno;
        if (e == ENOENT || e == ENOTDIR) {
            r->status = kvc_error_set(&r->error, KVC_MANIFEST_UNKNOWN_FILE, "'%s' does not exist",
                                      job->path);
        } else {
            r->status = kvc_error_set(&r->error, KVC_OPEN, "cannot stat '%s': %s", job->path,
                                      strerror(e));
        }
        kvc_error_where(&r->error, job->path, NULL, -1);
        return 1;
    }
    if (!S_ISREG(sb.st_mode)) {
        r->status = kvc_error_set(&r->error, KVC_OPEN, "'%s' is not a regular file", job->path);
        kvc_error_where(&r->error, job->path, NULL, -1);
        return 1;
    }
    r->size = (uint64_t)sb.st_size;
    if (r->size != job->expected_size) {
        r->status = kvc_error_set(&r->error, KVC_INPUT_SIZE_MISMATCH,
                                  "expected %llu bytes, got %llu",
                                  (unsigned long long)job->expected_size,
                                  (unsigned long long)r->size);
        kvc_error_where(&r->error, job->path, NULL, -1);
        return 1;
    }
    return 0;
}

static void run_job(pool *p, kvc__hash_job *job)
{
    kvc_verify_result *r = job->result;
    memset(r, 0, sizeof *r);
    kvc_error_clear(&r->error);
    job_progress jp = {p, 0, job->expected_size};
    if (job->check_size && precheck(job)) {
        pool_add_progress(p, job->expected_size);
        return;
    }
    uint64_t size = 0;
    kvc_status st = kvc_sha256_file(job->path, r->sha256, &size, on_file_progress, &jp, &r->error);
    if (st == KVC_OPEN && job->check_size && access(job->path, F_OK) != 0 && errno == ENOENT) {
        /* removed between the stat and the open */
        st = kvc_error_set(&r->error, KVC_MANIFEST_UNKNOWN_FILE, "'%s' does not exist", job->path);
    } else if (st == KVC_OK) {
        r->hashed = 1;
        r->size = size;
        if (job->check_size && size != job->expected_size) {
            /* the file changed size while it was read */
            r->hashed = 0;
            st = kvc_error_set(&r->error, KVC_INPUT_SIZE_MISMATCH,
                               "expected %llu bytes, got %llu",
                               (unsigned long long)job->expected_size, (unsigned long long)size);
            kvc_error_where(&r->error, job->path, NULL, -1);
        }
    }
    r->status = st;
    pool_add_progress(p, job->expected_size - jp.counted);
}

static void *worker(void *arg)
{
    pool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        if (p->next >= p->n) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        size_t i = p->queue[p->next++];
        pthread_mutex_unlock(&p->mu);

        run_job(p, &p->jobs[i]);

        pthread_mutex_lock(&p->mu);
        p->finished[i] = 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
}

/* Queue order: larger files first, ties in index order (a total order,
 * so the queue is the same on every run). */
typedef struct queue_key {
    uint64_t size;
    size_t index;
} queue_key;

static int by_size_desc(const void *a, const void *b)
{
    const queue_key *x = a, *y = b;
    if (x->size != y->size)
        return x->size > y->size ? -1 : 1;
    return x->index < y->index ? -1 : (x->index > y->index);
}

int kvc_manifest_default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        return 1;
    return n > 8 ? 8 : (int)n;
}

kvc_status kvc__hash_jobs(kvc__hash_job *jobs, size_t n, int threads, kvc__job_done_fn done,
                          void *done_arg, kvc_progress_fn progress, void *progress_arg,
                          kvc_error *err)
{
    if (n == 0)
        return KVC_OK;
    if (threads <= 0)
        threads = kvc_manifest_default_threads();
    if (threads > MAX_THREADS)
        threads = MAX_THREADS;
    if ((size_t)threads > n)
        threads = (int)n;

    pool p;
    memset(&p, 0, sizeof p);
    p.jobs = jobs;
    p.n = n;
    p.queue = malloc(n * sizeof *p.queue);
    p.finished = calloc(n, 1);
    pthread_t *tids = malloc((size_t)threads * sizeof *tids);
    if (p.queue == NULL || p.finished == NULL || tids == NULL) {
        free(p.queue);
        free(p.finished);
        free(tids);
        return kvc_error_set(err, KVC_NOMEM, "cannot allocate the hashing queue");
    }
    p.progress = progress;
    p.progress_arg = progress_arg;
    queue_key *keys = malloc(n * sizeof *keys);
    if (keys == NULL) {
        free(p.queue);
        free(p.finished);
        free(tids);
        return kvc_error_set(err, KVC_NOMEM, "cannot allocate the hashing queue");
    }
    for (size_t i = 0; i < n; i++) {
        keys[i].size = jobs[i].expected_size;
        keys[i].index = i;
        uint64_t s = jobs[i].expected_size;
        p.total_bytes = s > UINT64_MAX - p.total_bytes ? UINT64_MAX : p.total_bytes + s;
    }
    qsort(keys, n, sizeof *keys, by_size_desc);
    for (size_t i = 0; i < n; i++)
        p.queue[i] = keys[i].index;
    free(keys);
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    pthread_mutex_init(&p.progress_mu, NULL);

    int started = 0;
    while (started < threads && pthread_create(&tids[started], NULL, worker, &p) == 0)
        started++;
    if (started == 0)
        worker(&p); /* no thread could start: do the work here */

    for (size_t i = 0; i < n; i++) {
        pthread_mutex_lock(&p.mu);
        while (!p.finished[i])
            pthread_cond_wait(&p.cv, &p.mu);
        pthread_mutex_unlock(&p.mu);
        if (done != NULL)
            done(done_arg, i);
    }
    for (int t = 0; t < started; t++)
        pthread_join(tids[t], NULL);

    pthread_mutex_destroy(&p.progress_mu);
    pthread_cond_destroy(&p.cv);
    pthread_mutex_destroy(&p.mu);
    free(tids);
    free(p.finished);
    free(p.queue);
    return KVC_OK;
}

/* ------------------------------------------------------------ verifier */

typedef struct verify_ctx {
    const kvc_manifest *m;
    kvc_verify_result *results;
    const kvc__hash_job *jobs;
    const kvc_verify_callbacks *cb;
    size_t first_bad; /* index of the first entry that is not OK, or n */
} verify_ctx;

/* In index order on the calling thread: compare the digest, report. */
static void verify_done(void *arg, size_t i)
{
    verify_ctx *v = arg;
    const kvc_manifest_entry *e = kvc_manifest_entry_at(v->m, i);
    kvc_verify_result *r = &v->results[i];
    if (r->status == KVC_OK && memcmp(r->sha256, e->sha256, KVC_SHA256_SIZE) != 0) {
        char want[KVC_SHA256_HEX_SIZE + 1], got[KVC_SHA256_HEX_SIZE + 1];
        kvc_sha256_hex(e->sha256, want);
        kvc_sha256_hex(r->sha256, got);
        r->status = kvc_error_set(&r->error, KVC_INPUT_HASH_MISMATCH, "expected %s, got %s",
                                  want, got);
        kvc_error_where(&r->error, v->jobs[i].path, NULL, -1);
    }
    if (r->status != KVC_OK && v->first_bad == kvc_manifest_count(v->m))
        v->first_bad = i;
    if (v->cb != NULL && v->cb->on_result != NULL)
        v->cb->on_result(v->cb->result_arg, i, e, r);
}

char *kvc__join_path(const char *dir, const char *name)
{
    if (dir == NULL || dir[0] == '\0')
        return strdup(name);
    size_t dl = strlen(dir), nl = strlen(name);
    int slash = dir[dl - 1] != '/';
    char *p = malloc(dl + (size_t)slash + nl + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, dir, dl);
    if (slash)
        p[dl] = '/';
    memcpy(p + dl + (size_t)slash, name, nl + 1);
    return p;
}

kvc_status kvc_manifest_verify(const kvc_manifest *m, const char *dir, int threads,
                               const kvc_verify_callbacks *cb, kvc_verify_result *results,
                               kvc_error *err)
{
    if (m == NULL)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "kvc_manifest_verify: NULL manifest");
    size_t n = kvc_manifest_count(m);
    if (n == 0)
        return KVC_OK;
    kvc_verify_result *own = NULL;
    if (results == NULL) {
        own = calloc(n, sizeof *own);
        if (own == NULL)
            return kvc_error_set(err, KVC_NOMEM, "cannot allocate %zu results", n);
        results = own;
    }
    kvc__hash_job *jobs = calloc(n, sizeof *jobs);
    kvc_status st = KVC_OK;
    if (jobs == NULL)
        st = kvc_error_set(err, KVC_NOMEM, "cannot allocate %zu jobs", n);
    for (size_t i = 0; st == KVC_OK && i < n; i++) {
        const kvc_manifest_entry *e = kvc_manifest_entry_at(m, i);
        char *path = kvc__join_path(dir, e->name);
        if (path == NULL) {
            st = kvc_error_set(err, KVC_NOMEM, "cannot allocate a path");
            break;
        }
        jobs[i].path = path;
        jobs[i].check_size = 1;
        jobs[i].expected_size = e->size;
        jobs[i].result = &results[i];
    }
    verify_ctx v = {m, results, jobs, cb, n};
    if (st == KVC_OK)
        st = kvc__hash_jobs(jobs, n, threads, verify_done, &v, cb != NULL ? cb->on_progress : NULL,
                            cb != NULL ? cb->progress_arg : NULL, err);
    if (st == KVC_OK && v.first_bad < n) {
        st = results[v.first_bad].status;
        if (err != NULL)
            *err = results[v.first_bad].error;
    }
    for (size_t i = 0; jobs != NULL && i < n; i++)
        free((char *)jobs[i].path);
    free(jobs);
    free(own);
    return st;
}
