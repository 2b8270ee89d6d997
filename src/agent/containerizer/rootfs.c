/*
 * rootfs.c: the container's root filesystem, mounted in the launch child (see rootfs.h).
 *
 * Everything after cm_rootfs_spec_new runs in a freshly cloned child: no allocation, no stdio,
 * directory listing with getdents64 on a stack buffer.
 */
#include "rootfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "errors.h"
#include "image_tar.h"
#include "util.h"

/* What the kernel takes as one mount's option string (a page). */
#define MOUNT_OPTS_MAX 4000
#define COPY_DEPTH_MAX 128

/* ---- the spec (agent side) ---- */

struct cm_rootfs_spec *cm_rootfs_spec_new(const char *base, char *const *layers, size_t n,
                                          const char *sandbox, uint64_t tmpfs_bytes)
{
    struct cm_rootfs_spec *s = cm_xcalloc(1, sizeof *s);
    s->base = cm_xstrdup(base);
    s->rootfs = cm_xasprintf("%s/rootfs", base);
    s->upper = cm_xasprintf("%s/upper", base);
    s->work = cm_xasprintf("%s/work", base);
    s->sandbox = cm_xstrdup(sandbox);
    s->layers = cm_xcalloc(n + 1, sizeof *s->layers);
    size_t len = strlen("lowerdir=,upperdir=,workdir=") + strlen(s->upper) + strlen(s->work) + 1;
    for (size_t i = 0; i < n; i++) {
        s->layers[i] = cm_xstrdup(layers[i]);
        len += strlen(layers[i]) + 1;
    }
    s->tmpfs_bytes = tmpfs_bytes;
    if (tmpfs_bytes)
        snprintf(s->tmpfs_opts, sizeof s->tmpfs_opts, "mode=0755,size=%llu",
                 (unsigned long long)tmpfs_bytes);
    else
        snprintf(s->tmpfs_opts, sizeof s->tmpfs_opts, "mode=0755");
    /* overlayfs: the top layer first. A single layer still needs an upper to be writable. */
    if (n > 0 && len <= MOUNT_OPTS_MAX) {
        char *o = cm_xmalloc(len);
        size_t at = (size_t)snprintf(o, len, "lowerdir=");
        for (size_t i = n; i-- > 0;)
            at += (size_t)snprintf(o + at, len - at, "%s%s", layers[i], i ? ":" : "");
        snprintf(o + at, len - at, ",upperdir=%s,workdir=%s", s->upper, s->work);
        s->overlay_opts = o;
    }
    return s;
}

int cm_rootfs_spec_add_volume(struct cm_rootfs_spec *s, size_t index, const char *host_path,
                              const char *container_path, bool readonly, char *why, size_t whylen)
{
    if (s->n_volumes == CM_ROOTFS_MAX_VOLUMES)
        return cm_fail(CM_ETOOBIG, why, whylen, "More than %d volumes", CM_ROOTFS_MAX_VOLUMES);
    char hrel[4096], crel[4096];
    if (!container_path || !*container_path)
        return cm_fail(CM_EINVAL, why, whylen, "'volumes[%zu].container_path' is empty", index);
    if (!host_path || !*host_path)
        return cm_fail(CM_EINVAL, why, whylen,
                       "'volumes[%zu].host_path' is empty (only host path volumes are "
                       "supported, no 'source' volumes)",
                       index);
    if (cm_tar_clean_path(container_path, crel, sizeof crel) != 0 || !*crel)
        return cm_fail(CM_EINVAL, why, whylen,
                       "'volumes[%zu].container_path' '%s' is empty, too long or has '..'", index,
                       container_path);
    bool host_abs = host_path[0] == '/';
    /* An absolute host path is the operator's (the agent's ACLs are the gate, as in Mesos);
     * a relative one must stay inside the sandbox. */
    if (!host_abs && (cm_tar_clean_path(host_path, hrel, sizeof hrel) != 0 || !*hrel))
        return cm_fail(CM_EINVAL, why, whylen,
                       "'volumes[%zu].host_path' '%s' is relative but leaves the sandbox "
                       "('..') or is empty",
                       index, host_path);
    struct cm_rootfs_volume *v = &s->volumes[s->n_volumes++];
    v->host = host_abs ? cm_xstrdup(host_path) : cm_xasprintf("%s/%s", s->sandbox, hrel);
    v->container = container_path[0] == '/' ? cm_xasprintf("/%s", crel)
                                            : cm_xasprintf("%s/%s", CM_ROOTFS_SANDBOX, crel);
    v->readonly = readonly;
    v->create_host = !host_abs;
    return 0;
}

void cm_rootfs_spec_free(struct cm_rootfs_spec *s)
{
    if (!s)
        return;
    free(s->base);
    free(s->rootfs);
    free(s->upper);
    free(s->work);
    free(s->overlay_opts);
    free(s->sandbox);
    for (char **l = s->layers; l && *l; l++)
        free(*l);
    free(s->layers);
    for (size_t i = 0; i < s->n_volumes; i++) {
        free(s->volumes[i].host);
        free(s->volumes[i].container);
    }
    free(s);
}

/* ---- the child side: no allocation from here on ---- */

/* why = a + b + c + ": " + strerror(err), truncated. */
static int fail(int err, char *why, size_t whylen, const char *a, const char *b, const char *c)
{
    if (why && whylen) {
        const char *parts[] = {a, b ? b : "", c ? c : "", ": ", strerror(err)};
        size_t o = 0;
        for (size_t i = 0; i < 5; i++)
            for (const char *p = parts[i]; *p && o + 1 < whylen; p++)
                why[o++] = *p;
        why[o] = '\0';
    }
    return err ? err : EIO;
}

static void fd_path(int fd, char *out)
{
    /* "/proc/self/fd/" + number */
    char num[16];
    int n = 0;
    unsigned v = (unsigned)fd;
    do {
        num[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    memcpy(out, "/proc/self/fd/", 14);
    for (int i = 0; i < n; i++)
        out[14 + i] = num[n - 1 - i];
    out[14 + n] = '\0';
}

static int open_in_root(int root, const char *path, int flags)
{
    struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC), .resolve = RESOLVE_IN_ROOT};
    int fd = (int)syscall(SYS_openat2, root, path, &how, sizeof how);
    return fd < 0 ? -errno : fd;
}

/* Opens (O_PATH) path inside root, creating missing directories (or, with file, a missing
 * last component as an empty file). Returns an fd or -errno. */
static int make_in_root(int root, const char *path, bool file)
{
    char p[4096];
    size_t n = strlen(path);
    if (n >= sizeof p)
        return -ENAMETOOLONG;
    memcpy(p, path, n + 1);
    int parent = open_in_root(root, "/", O_PATH | O_DIRECTORY);
    if (parent < 0)
        return parent;
    char *c = p;
    for (;;) {
        while (*c == '/')
            c++;
        char *slash = strchr(c, '/');
        bool last = !slash;
        if (slash)
            *slash = '\0';
        if (!*c) { /* "/" itself */
            return parent;
        }
        int fd = open_in_root(root, p, O_PATH | (last && file ? 0 : O_DIRECTORY));
        if (fd == -ENOENT) {
            int mk;
            if (last && file) {
                int f =
                    openat(parent, c, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
                mk = f < 0 ? -errno : (close(f), 0);
            } else {
                mk = mkdirat(parent, c, 0755) == 0 ? 0 : -errno;
            }
            if (mk && mk != -EEXIST) {
                close(parent);
                return mk;
            }
            fd = open_in_root(root, p, O_PATH | (last && file ? 0 : O_DIRECTORY));
        }
        close(parent);
        if (fd < 0)
            return fd;
        if (last)
            return fd;
        *slash = '/';
        parent = fd;
        c = slash + 1;
    }
}

/* Mounts (bind, or type) onto path inside root. */
static int mount_in_root(int root, const char *path, bool file, const char *source,
                         const char *type, unsigned long flags, const char *data, char *why,
                         size_t whylen)
{
    int fd = make_in_root(root, path, file);
    if (fd < 0)
        return fail(-fd, why, whylen, "Failed to create the mount point ", path, " in the rootfs");
    char target[32];
    fd_path(fd, target);
    int rc = mount(source, target, type, flags, data);
    int err = errno;
    close(fd);
    if (rc != 0)
        return fail(err, why, whylen, "Failed to mount ", source, path);
    return 0;
}

static int remount_ro(int root, const char *path, char *why, size_t whylen)
{
    int fd = open_in_root(root, path, O_PATH);
    if (fd < 0)
        return fail(-fd, why, whylen, "Failed to reopen ", path, "");
    char target[32];
    fd_path(fd, target);
    int rc = mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC, NULL);
    int err = errno;
    close(fd);
    return rc == 0 ? 0 : fail(err, why, whylen, "Failed to make ", path, " read-only");
}

/* -- the copy fallback -- */

static int rm_tree_at(int dir, const char *name, int depth);

/* Removes everything in the directory fd: passes over its listing until one finds nothing
 * (removing entries while listing may make a pass skip some). */
static int empty_dir(int fd, int depth)
{
    char buf[4096];
    for (;;) {
        bool removed = false;
        lseek(fd, 0, SEEK_SET);
        for (;;) {
            long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
            if (n < 0)
                return errno;
            if (n == 0)
                break;
            for (long off = 0; off < n;) {
                struct dirent64 *d = (struct dirent64 *)(buf + off);
                off += d->d_reclen;
                if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
                    continue;
                int rc = rm_tree_at(fd, d->d_name, depth + 1);
                if (rc)
                    return rc;
                removed = true;
            }
        }
        if (!removed)
            return 0;
    }
}

static int rm_tree_at(int dir, const char *name, int depth)
{
    if (unlinkat(dir, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR || depth > COPY_DEPTH_MAX)
        return errno;
    int fd = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno;
    int rc = empty_dir(fd, depth);
    close(fd);
    if (!rc && unlinkat(dir, name, AT_REMOVEDIR) != 0)
        rc = errno;
    return rc;
}

static int copy_file(int sdir, int ddir, const char *name, const struct stat *st)
{
    int in = openat(sdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (in < 0)
        return errno;
    int out = openat(ddir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (out < 0) {
        int e = errno;
        close(in);
        return e;
    }
    int rc = 0;
    for (;;) {
        ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
        if (n == 0)
            break;
        if (n < 0) {
            /* Not across these file systems: plain reads and writes. */
            char buf[8192];
            ssize_t r;
            while ((r = read(in, buf, sizeof buf)) > 0)
                if (write(out, buf, (size_t)r) != r) {
                    rc = errno ? errno : EIO;
                    break;
                }
            if (r < 0)
                rc = errno;
            break;
        }
    }
    if (!rc && (fchown(out, st->st_uid, st->st_gid) != 0 || fchmod(out, st->st_mode & 07777) != 0))
        rc = errno;
    close(in);
    close(out);
    return rc;
}

/* Copies the layer directory sfd over ddir, applying overlayfs whiteouts and opaque dirs. */
static int copy_layer(int sfd, int dfd, int depth)
{
    if (depth > COPY_DEPTH_MAX)
        return ELOOP;
    char buf[4096];
    for (;;) {
        long n = syscall(SYS_getdents64, sfd, buf, sizeof buf);
        if (n < 0)
            return errno;
        if (n == 0)
            return 0;
        for (long off = 0; off < n;) {
            struct dirent64 *d = (struct dirent64 *)(buf + off);
            off += d->d_reclen;
            const char *name = d->d_name;
            if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                continue;
            struct stat st;
            if (fstatat(sfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
                return errno;
            int rc = 0;
            if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
                rc = rm_tree_at(dfd, name, depth); /* a whiteout */
            } else if (S_ISDIR(st.st_mode)) {
                int s2 = openat(sfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (s2 < 0)
                    return errno;
                char opq = 0;
                bool opaque = fgetxattr(s2, "trusted.overlay.opaque", &opq, 1) == 1 && opq == 'y';
                struct stat dst;
                if (fstatat(dfd, name, &dst, AT_SYMLINK_NOFOLLOW) == 0 &&
                    (!S_ISDIR(dst.st_mode) || opaque))
                    rc = rm_tree_at(dfd, name, depth);
                if (!rc && mkdirat(dfd, name, 0700) != 0 && errno != EEXIST)
                    rc = errno;
                int d2 =
                    rc ? -1 : openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (!rc && d2 < 0)
                    rc = errno;
                if (!rc)
                    rc = copy_layer(s2, d2, depth + 1);
                if (!rc &&
                    (fchown(d2, st.st_uid, st.st_gid) != 0 || fchmod(d2, st.st_mode & 07777) != 0))
                    rc = errno;
                if (d2 >= 0)
                    close(d2);
                close(s2);
            } else {
                rc = rm_tree_at(dfd, name, depth);
                if (rc)
                    return rc;
                if (S_ISREG(st.st_mode)) {
                    rc = copy_file(sfd, dfd, name, &st);
                } else if (S_ISLNK(st.st_mode)) {
                    char target[4096];
                    ssize_t tl = readlinkat(sfd, name, target, sizeof target - 1);
                    if (tl < 0)
                        return errno;
                    target[tl] = '\0';
                    if (symlinkat(target, dfd, name) != 0 ||
                        fchownat(dfd, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) != 0)
                        rc = errno;
                } else if (S_ISFIFO(st.st_mode)) {
                    if (mknodat(dfd, name, S_IFIFO | (st.st_mode & 0777), 0) != 0)
                        rc = errno;
                }
                /* Sockets and devices are never in a store layer (image_tar.h). */
            }
            if (rc)
                return rc;
        }
    }
}

static int copy_layers(const struct cm_rootfs_spec *s, char *why, size_t whylen)
{
    int dfd = open(s->rootfs, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return fail(errno, why, whylen, "Failed to open ", s->rootfs, "");
    int rc = 0;
    for (char **l = s->layers; *l && !rc; l++) {
        int sfd = open(*l, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sfd < 0) {
            rc = fail(errno, why, whylen, "Failed to open layer ", *l, "");
            break;
        }
        rc = copy_layer(sfd, dfd, 0);
        close(sfd);
        if (rc)
            rc = fail(rc, why, whylen, "Failed to copy layer ", *l, " into the rootfs");
    }
    close(dfd);
    return rc;
}

/* -- /dev -- */

static int make_dev(int root, char *why, size_t whylen)
{
    int rc = mount_in_root(root, "/dev", false, "tmpfs", "tmpfs", MS_NOSUID | MS_NOEXEC,
                           "mode=0755,size=65536", why, whylen);
    if (rc)
        return rc;
    int dev = open_in_root(root, "/dev", O_RDONLY | O_DIRECTORY);
    if (dev < 0)
        return fail(-dev, why, whylen, "Failed to open /dev", " in the rootfs", "");
    static const struct {
        const char *name;
        unsigned major, minor;
    } nodes[] = {{"null", 1, 3},   {"zero", 1, 5},    {"full", 1, 7},
                 {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};
    for (size_t i = 0; i < sizeof nodes / sizeof nodes[0] && !rc; i++)
        if (mknodat(dev, nodes[i].name, S_IFCHR | 0666, makedev(nodes[i].major, nodes[i].minor)) !=
                0 ||
            fchmodat(dev, nodes[i].name, 0666, 0) != 0)
            rc = fail(errno, why, whylen, "Failed to create /dev/", nodes[i].name, "");
    static const char *const links[][2] = {{"fd", "/proc/self/fd"},
                                           {"stdin", "/proc/self/fd/0"},
                                           {"stdout", "/proc/self/fd/1"},
                                           {"stderr", "/proc/self/fd/2"}};
    for (size_t i = 0; i < 4 && !rc; i++)
        if (symlinkat(links[i][1], dev, links[i][0]) != 0)
            rc = fail(errno, why, whylen, "Failed to create /dev/", links[i][0], "");
    if (!rc && mkdirat(dev, "shm", 01777) != 0)
        rc = fail(errno, why, whylen, "Failed to create /dev/shm", "", "");
    close(dev);
    if (!rc)
        rc = mount_in_root(root, "/dev/shm", false, "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV,
                           "mode=1777", why, whylen);
    return rc;
}

int cm_rootfs_mount(const struct cm_rootfs_spec *s, char *why, size_t whylen)
{
    if (mount("tmpfs", s->base, "tmpfs", MS_NOSUID | MS_NODEV, s->tmpfs_opts) != 0)
        return fail(errno, why, whylen, "Failed to mount a tmpfs on ", s->base, "");
    if (mkdir(s->rootfs, 0755) != 0 || mkdir(s->upper, 0755) != 0 || mkdir(s->work, 0700) != 0)
        return fail(errno, why, whylen, "Failed to create the rootfs directories in ", s->base, "");
    int rc;
    if (!s->overlay_opts || mount("overlay", s->rootfs, "overlay", 0, s->overlay_opts) != 0) {
        /* The copy fallback: no overlayfs here, or too many layers for one mount. */
        if ((rc = copy_layers(s, why, whylen)) != 0)
            return rc;
    }
    int root = open(s->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0)
        return fail(errno, why, whylen, "Failed to open ", s->rootfs, "");
    rc =
        mount_in_root(root, CM_ROOTFS_SANDBOX, false, s->sandbox, NULL, MS_BIND, NULL, why, whylen);
    for (size_t i = 0; i < s->n_volumes && !rc; i++) {
        const struct cm_rootfs_volume *v = &s->volumes[i];
        struct stat st;
        if (stat(v->host, &st) != 0 && errno == ENOENT && v->create_host)
            mkdir(v->host, 0755);
        if (stat(v->host, &st) != 0) {
            rc = fail(errno, why, whylen, "Volume host path ", v->host, "");
            break;
        }
        rc = mount_in_root(root, v->container, !S_ISDIR(st.st_mode), v->host, NULL,
                           MS_BIND | MS_REC, NULL, why, whylen);
        if (!rc && v->readonly)
            rc = remount_ro(root, v->container, why, whylen);
    }
    if (!rc)
        rc = mount_in_root(root, "/proc", false, "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                           NULL, why, whylen);
    if (!rc)
        rc = make_dev(root, why, whylen);
    if (!rc) {
        /* sysfs is a convenience (some tools read it); a refusal is not fatal. */
        char ignore[8];
        mount_in_root(root, "/sys", false, "sysfs", "sysfs",
                      MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, ignore, sizeof ignore);
    }
    close(root);
    return rc;
}
