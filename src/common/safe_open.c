/*
 * safe_open.c: race-free opens beneath a directory descriptor (contract in safe_open.h).
 */
#include "safe_open.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "errors.h"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

/* Checks rel: relative, no ".." component. */
static int check_rel(const char *rel)
{
    if (!rel)
        return 0;
    if (rel[0] == '/')
        return CM_EINVAL;
    const char *p = rel;
    while (*p) {
        while (*p == '/')
            p++;
        const char *s = p;
        while (*p && *p != '/')
            p++;
        if (p - s == 2 && s[0] == '.' && s[1] == '.')
            return CM_EINVAL;
    }
    return 0;
}

/* Whether rel names the root itself ("", ".", "./", "//"). */
static bool names_root(const char *rel)
{
    if (!rel)
        return true;
    for (const char *p = rel; *p; p++)
        if (*p != '/' && *p != '.')
            return false;
    return true;
}

int cm_safe_open_root(const char *root, int *out)
{
    *out = -1;
    int fd = open(root, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        struct stat st;
        if ((e == ENOTDIR || e == ELOOP) && lstat(root, &st) == 0 && S_ISLNK(st.st_mode))
            return -ELOOP;
        return -e;
    }
    *out = fd;
    return 0;
}

/* The error of a failed openat on name in dir: a symlink is -ELOOP, whatever open said. */
static int open_error(int dir, const char *name, int e)
{
    if (e == ELOOP || e == ENOTDIR || e == EMLINK) {
        struct stat st;
        if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
            return -ELOOP;
    }
    return -e;
}

int cm_safe_openat_walk(int dirfd, const char *rel, int flags, mode_t mode, int *out)
{
    *out = -1;
    int rc = check_rel(rel);
    if (rc)
        return rc;
    if (names_root(rel)) {
        int fd = openat(dirfd, ".", (flags & ~(O_CREAT | O_EXCL | O_TRUNC)) | O_CLOEXEC);
        if (fd < 0)
            return -errno;
        *out = fd;
        return 0;
    }
    size_t n = strlen(rel);
    char *buf = malloc(n + 1);
    if (!buf)
        abort();
    memcpy(buf, rel, n + 1);
    /* The components, "" and "." dropped; the separators become NULs. */
    size_t nc = 0, cap = 8;
    char **comps = malloc(cap * sizeof *comps);
    if (!comps)
        abort();
    char *save = NULL;
    for (char *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (strcmp(c, ".") == 0)
            continue;
        if (nc == cap) {
            cap *= 2;
            comps = realloc(comps, cap * sizeof *comps);
            if (!comps)
                abort();
        }
        comps[nc++] = c;
    }
    int cur = dirfd;
    rc = 0;
    for (size_t i = 0; i + 1 < nc; i++) {
        int next = openat(cur, comps[i], O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0) {
            rc = open_error(cur, comps[i], errno);
            break;
        }
        if (cur != dirfd)
            close(cur);
        cur = next;
    }
    if (rc == 0) {
        const char *last = comps[nc - 1];
        int fd = openat(cur, last, flags | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd < 0) {
            rc = open_error(cur, last, errno);
        } else {
            /* O_PATH | O_NOFOLLOW opens a symlink itself: refuse it the same way. */
            struct stat st;
            if (fstat(fd, &st) != 0 || S_ISLNK(st.st_mode)) {
                close(fd);
                rc = -ELOOP;
            } else {
                *out = fd;
            }
        }
    }
    if (cur != dirfd)
        close(cur);
    free(comps);
    free(buf);
    return rc;
}

int cm_safe_openat(int dirfd, const char *rel, int flags, mode_t mode, int *out)
{
    *out = -1;
    int rc = check_rel(rel);
    if (rc)
        return rc;
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (unsigned long long)(flags | O_CLOEXEC);
    if (flags & (O_CREAT | O_TMPFILE))
        how.mode = mode;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    const char *path = names_root(rel) ? "." : rel;
    if (names_root(rel))
        how.flags &= ~(unsigned long long)(O_CREAT | O_EXCL | O_TRUNC);
    long fd;
    do {
        fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
    } while (fd < 0 && (errno == EINTR || errno == EAGAIN));
    if (fd >= 0) {
        *out = (int)fd;
        return 0;
    }
    int e = errno;
    if (e == ENOSYS || e == EPERM || e == E2BIG)
        return cm_safe_openat_walk(dirfd, rel, flags, mode, out);
    if (e == EXDEV)
        return -ELOOP; /* only a symlink can lead out: ".." was refused above */
    return -e;
}

int cm_safe_open(const char *root, const char *rel, int flags, mode_t mode, int *out)
{
    *out = -1;
    int dfd;
    int rc = cm_safe_open_root(root, &dfd);
    if (rc)
        return rc;
    rc = cm_safe_openat(dfd, rel, flags, mode, out);
    close(dfd);
    return rc;
}

int cm_safe_mkdirs_at(int dirfd, const char *rel, mode_t mode, int *out)
{
    if (out)
        *out = -1;
    int rc = check_rel(rel);
    if (rc)
        return rc;
    size_t n = rel ? strlen(rel) : 0;
    char *buf = malloc(n + 1);
    if (!buf)
        abort();
    if (n)
        memcpy(buf, rel, n);
    buf[n] = '\0';
    int cur = openat(dirfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (cur < 0) {
        rc = -errno;
        free(buf);
        return rc;
    }
    char *save = NULL;
    for (char *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (strcmp(c, ".") == 0)
            continue;
        if (mkdirat(cur, c, mode) != 0 && errno != EEXIST) {
            rc = -errno;
            break;
        }
        int next = openat(cur, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0) {
            rc = open_error(cur, c, errno);
            break;
        }
        close(cur);
        cur = next;
    }
    free(buf);
    if (rc == 0 && out)
        *out = cur;
    else
        close(cur);
    return rc;
}

int cm_safe_split(const char *rel, char **dir, char **base)
{
    *dir = *base = NULL;
    if (!rel || !*rel || check_rel(rel) != 0)
        return CM_EINVAL;
    size_t n = strlen(rel);
    while (n > 0 && rel[n - 1] == '/')
        n--;
    size_t b = n;
    while (b > 0 && rel[b - 1] != '/')
        b--;
    if (b == n || (n - b == 1 && rel[b] == '.'))
        return CM_EINVAL;
    *base = strndup(rel + b, n - b);
    *dir = strndup(rel, b);
    if (!*base || !*dir)
        abort();
    return 0;
}

int cm_safe_fsids_switch(uid_t uid, gid_t gid, struct cm_safe_fsids *saved)
{
    saved->switched = false;
    saved->uid = (uid_t)setfsuid((uid_t)-1);
    saved->gid = (gid_t)setfsgid((gid_t)-1);
    if (saved->uid == uid && saved->gid == gid)
        return 0;
    /* Group first: once the uid is not root the gid can no longer change. */
    setfsgid(gid);
    if ((gid_t)setfsgid((gid_t)-1) != gid)
        return -EPERM;
    setfsuid(uid);
    if ((uid_t)setfsuid((uid_t)-1) != uid) {
        setfsgid(saved->gid);
        return -EPERM;
    }
    saved->switched = true;
    return 0;
}

void cm_safe_fsids_restore(const struct cm_safe_fsids *saved)
{
    if (!saved->switched)
        return;
    setfsuid(saved->uid);
    setfsgid(saved->gid);
}
