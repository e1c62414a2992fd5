/* kvcert: where the bundled conformance cases are (cert/certify.h). The
 * build writes cert_paths.h with the source, build and install folders. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cert/certify.h"
#include "cert/internal.h"
#include "cert_paths.h"

static int is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* Whether the running executable lies under the build tree. */
static int running_from_build_tree(void)
{
    char exe[PATH_MAX], build[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0 || realpath(KVC_CERT_BUILDDIR, build) == NULL)
        return 0;
    exe[n] = '\0';
    size_t bl = strlen(build);
    return strncmp(exe, build, bl) == 0 && exe[bl] == '/';
}

static kvc_status take(const char *dir, const char *why, char *buf, size_t size,
                       const char **how, kvc_error *err)
{
    if (!is_dir(dir)) {
        kvc_error_set(err, KVC_OPEN, "the case folder %s (from %s) is not a folder", dir, why);
        kvc_error_where(err, dir, NULL, -1);
        return KVC_OPEN;
    }
    if (kvc__cert_fmt(buf, size, "%s", dir) < 0)
        return kvc_error_set(err, KVC_LIMIT, "path too long: %s", dir);
    if (how != NULL)
        *how = why;
    return KVC_OK;
}

kvc_status kvc_cert_cases_root(const char *override, char *buf, size_t size, const char **how,
                               kvc_error *err)
{
    if (override != NULL)
        return take(override, "--root", buf, size, how, err);
    const char *env = getenv("KVCERT_CASES");
    if (env != NULL && env[0] != '\0')
        return take(env, "KVCERT_CASES", buf, size, how, err);
    if (running_from_build_tree() && is_dir(KVC_CERT_SRC_CASES))
        return take(KVC_CERT_SRC_CASES, "build tree", buf, size, how, err);
    if (is_dir(KVC_CERT_INSTALLED_CASES))
        return take(KVC_CERT_INSTALLED_CASES, "installed", buf, size, how, err);
    if (is_dir(KVC_CERT_SRC_CASES))
        return take(KVC_CERT_SRC_CASES, "source tree", buf, size, how, err);
    kvc_error_set(err, KVC_OPEN,
                  "no bundled cases: neither %s nor %s exists; name a folder with --root or "
                  "KVCERT_CASES",
                  KVC_CERT_INSTALLED_CASES, KVC_CERT_SRC_CASES);
    return KVC_OPEN;
}
