/* kvcert: bounded whole-file reads (readfile.h). */
#include "io/readfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Reads fd to its end into a buffer grown up to max_bytes + 1 bytes. */
static kvc_status read_all(int fd, size_t first, uint64_t max_bytes, const char *path,
                           const char *what, char **buf_out, size_t *len_out, kvc_error *err)
{
    size_t cap = (size_t)max_bytes + 1; /* one byte more tells "too long" */
    size_t want = first < cap ? first : cap;
    char *buf = malloc(want + 1);
    size_t len = 0;
    kvc_status st = KVC_OK;
    if (buf == NULL)
        st = kvc_error_set(err, KVC_NOMEM, "cannot allocate %zu bytes", want + 1);
    while (st == KVC_OK) {
        if (len == want) {
            if (want == cap) {
                st = kvc_error_set(err, KVC_LIMIT, "%s exceeds %llu bytes", what,
                                   (unsigned long long)max_bytes);
                break;
            }
            size_t grow = want * 2 < cap ? want * 2 : cap;
            char *nb = realloc(buf, grow + 1);
            if (nb == NULL) {
                st = kvc_error_set(err, KVC_NOMEM, "cannot allocate %zu bytes", grow + 1);
                break;
            }
            buf = nb;
            want = grow;
        }
        ssize_t r = read(fd, buf + len, want - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            st = kvc_error_set(err, KVC_IO, "read failed on '%s': %s", path, strerror(errno));
            break;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    if (st != KVC_OK) {
        free(buf);
        return st;
    }
    buf[len] = '\0';
    *buf_out = buf;
    *len_out = len;
    return KVC_OK;
}

kvc_status kvc_read_file_bounded(const char *path, uint64_t max_bytes, const char *what,
                                 char **buf_out, size_t *len_out, kvc_error *err)
{
    if (path == NULL || buf_out == NULL || len_out == NULL || what == NULL)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "kvc_read_file_bounded: NULL argument");
    *buf_out = NULL;
    *len_out = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        kvc_error_set(err, KVC_OPEN, "cannot open '%s': %s", path, strerror(errno));
        kvc_error_where(err, path, NULL, -1);
        return KVC_OPEN;
    }
    struct stat sb;
    kvc_status st = KVC_OK;
    if (fstat(fd, &sb) != 0)
        st = kvc_error_set(err, KVC_IO, "cannot stat '%s': %s", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode))
        st = kvc_error_set(err, KVC_OPEN, "'%s' is not a regular file", path);
    else if ((uint64_t)sb.st_size > max_bytes)
        st = kvc_error_set(err, KVC_LIMIT, "%s of %lld bytes exceeds %llu", what,
                           (long long)sb.st_size, (unsigned long long)max_bytes);
    if (st == KVC_OK)
        st = read_all(fd, (size_t)sb.st_size + 1, max_bytes, path, what, buf_out, len_out, err);
    close(fd);
    if (st != KVC_OK)
        kvc_error_where(err, path, NULL, -1);
    return st;
}
