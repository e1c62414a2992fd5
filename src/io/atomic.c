/* kvcert: output files that appear whole or not at all.
 *
 * The temporary file sits beside the destination (rename is atomic only
 * within one file system) and is created with O_EXCL, trying the next
 * number while a name is taken, so no counter or other state is shared
 * between calls or threads.
 */
#include "io/atomic.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Names "<path>.tmp.<pid>.<n>" tried before giving up. */
#define KVC__ATOMIC_TRIES 1000

struct kvc_atomic_file {
    FILE *fp;
    char *path;
    char *tmp;
};

static void atomic_free(kvc_atomic_file *af)
{
    free(af->path);
    free(af->tmp);
    free(af);
}

static kvc_status atomic_fail(kvc_error *err, kvc_status st, const char *path, const char *what,
                              const char *tmp, int errnum)
{
    kvc_error_clear(err);
    kvc_error_set(err, st, "%s %s: %s", what, tmp, strerror(errnum));
    kvc_error_where(err, path, NULL, -1);
    return st;
}

kvc_status kvc_atomic_open(const char *path, kvc_atomic_file **out, kvc_error *err)
{
    if (out == NULL || path == NULL) {
        kvc_error_clear(err);
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "kvc_atomic_open: NULL argument");
    }
    *out = NULL;
    size_t tmp_size = strlen(path) + 48;
    kvc_atomic_file *af = calloc(1, sizeof *af);
    if (af == NULL || (af->path = strdup(path)) == NULL || (af->tmp = malloc(tmp_size)) == NULL) {
        if (af != NULL)
            atomic_free(af);
        kvc_error_clear(err);
        kvc_error_set(err, KVC_NOMEM, "creating an output file");
        kvc_error_where(err, path, NULL, -1);
        return KVC_NOMEM;
    }
    int fd = -1;
    for (unsigned n = 0; fd < 0 && n < KVC__ATOMIC_TRIES; n++) {
        snprintf(af->tmp, tmp_size, "%s.tmp.%ld.%u", path, (long)getpid(), n);
        fd = open(af->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        int e = errno;
        kvc_status st = atomic_fail(err, KVC_OPEN, path, "cannot create", af->tmp, e);
        atomic_free(af);
        return st;
    }
    af->fp = fdopen(fd, "wb");
    if (af->fp == NULL) {
        int e = errno;
        close(fd);
        unlink(af->tmp);
        kvc_status st = atomic_fail(err, KVC_IO, path, "cannot open", af->tmp, e);
        atomic_free(af);
        return st;
    }
    *out = af;
    return KVC_OK;
}

FILE *kvc_atomic_stream(kvc_atomic_file *af)
{
    return af != NULL ? af->fp : NULL;
}

/* Makes the rename itself durable. Best effort: the file is complete and
 * in place whether or not the directory can be synced. */
static void sync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash == NULL ? strdup(".") : strndup(path, slash == path ? 1 : (size_t)(slash - path));
    if (dir == NULL)
        return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

kvc_status kvc_atomic_commit(kvc_atomic_file *af, kvc_error *err)
{
    if (af == NULL) {
        kvc_error_clear(err);
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "kvc_atomic_commit: NULL file");
    }
    const char *what = NULL;
    int e = 0;
    if (fflush(af->fp) != 0 || ferror(af->fp))
        what = "cannot write", e = errno;
    else if (fsync(fileno(af->fp)) != 0)
        what = "cannot fsync", e = errno;
    if (fclose(af->fp) != 0 && what == NULL)
        what = "cannot close", e = errno;
    if (what == NULL && rename(af->tmp, af->path) != 0)
        what = "cannot rename", e = errno;
    kvc_status st = KVC_OK;
    if (what != NULL) {
        unlink(af->tmp);
        st = atomic_fail(err, KVC_IO, af->path, what, af->tmp, e != 0 ? e : EIO);
    } else {
        sync_parent_dir(af->path);
    }
    atomic_free(af);
    return st;
}

void kvc_atomic_abort(kvc_atomic_file *af)
{
    if (af == NULL)
        return;
    fclose(af->fp);
    unlink(af->tmp);
    atomic_free(af);
}

kvc_status kvc_atomic_write_file(const char *path, const void *data, size_t size, kvc_error *err)
{
    kvc_atomic_file *af = NULL;
    kvc_status st = kvc_atomic_open(path, &af, err);
    if (st != KVC_OK)
        return st;
    if (size > 0 && fwrite(data, 1, size, af->fp) != size) {
        int e = errno;
        st = atomic_fail(err, KVC_IO, path, "cannot write", af->tmp, e);
        kvc_atomic_abort(af);
        return st;
    }
    return kvc_atomic_commit(af, err);
}
