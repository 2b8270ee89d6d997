/* file_read.c: see file_read.h. */
#include "file_read.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "util.h"

int cm_file_read(const char *path, size_t max, char **data, size_t *len, mode_t *mode, char *why,
                 size_t whylen)
{
    *data = NULL;
    *len = 0;
    if (strncmp(path, "file://", 7) == 0)
        path += 7;
    if (!*path)
        return cm_fail(CM_EINVAL, why, whylen, "empty path");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return cm_fail(-e, why, whylen, "cannot open '%s': %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return cm_fail(CM_EINVAL, why, whylen, "'%s' is not a regular file", path);
    }
    if ((size_t)st.st_size > max) {
        close(fd);
        return cm_fail(CM_ETOOBIG, why, whylen, "'%s' is larger than %zu bytes", path, max);
    }
    if (mode)
        *mode = st.st_mode;
    /* Read up to max + 1 bytes: a file that grew after fstat is still caught. */
    char *buf = cm_xmalloc(max + 2);
    size_t n = 0;
    int rc = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, max + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            rc = cm_fail(-e, why, whylen, "cannot read '%s': %s", path, strerror(e));
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > max) {
            rc = cm_fail(CM_ETOOBIG, why, whylen, "'%s' is larger than %zu bytes", path, max);
            break;
        }
    }
    close(fd);
    if (rc) {
        explicit_bzero(buf, n);
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}
