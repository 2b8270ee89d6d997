/*
 * image_tar.c: a bounded tar reader (plain or gzip) and a safe layer extractor (see
 * image_tar.h).
 */
#include "image_tar.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "errors.h"

#define BLOCK 512
#define INBUF (64 * 1024)
#define PAX_MAX (64 * 1024)

struct cm_tar_src {
    int fd;
    off_t pos, end; /* end < 0: unbounded */
    bool gz, gz_done;
    z_stream z;
    unsigned char *in;
    EVP_MD_CTX *md;
    off_t upos;      /* uncompressed bytes yielded */
    off_t data_left; /* of the current entry, padding included */
    off_t data_size; /* of the current entry, without padding */
    bool ended;
};

static ssize_t raw_read(struct cm_tar_src *s, void *buf, size_t n)
{
    if (s->end >= 0) {
        if (s->pos >= s->end)
            return 0;
        if ((off_t)n > s->end - s->pos)
            n = (size_t)(s->end - s->pos);
    }
    ssize_t r;
    do {
        r = pread(s->fd, buf, n, s->pos);
    } while (r < 0 && errno == EINTR);
    if (r < 0)
        return -errno;
    s->pos += r;
    return r;
}

int cm_tar_src_open(int fd, off_t offset, off_t len, struct cm_tar_src **out)
{
    struct cm_tar_src *s = calloc(1, sizeof *s);
    if (!s)
        abort();
    s->fd = fd;
    s->pos = offset;
    s->end = len < 0 ? -1 : offset + len;
    s->md = EVP_MD_CTX_new();
    if (!s->md || EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) != 1)
        abort();
    unsigned char magic[2];
    ssize_t r = raw_read(s, magic, 2);
    s->pos = offset;
    if (r == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
        s->gz = true;
        s->in = malloc(INBUF);
        if (!s->in)
            abort();
        /* 16 + MAX_WBITS: gzip wrapper only. */
        if (inflateInit2(&s->z, 16 + MAX_WBITS) != Z_OK) {
            cm_tar_src_free(s);
            return -ENOMEM;
        }
    }
    *out = s;
    return 0;
}

void cm_tar_src_free(struct cm_tar_src *s)
{
    if (!s)
        return;
    if (s->gz)
        inflateEnd(&s->z);
    free(s->in);
    EVP_MD_CTX_free(s->md);
    free(s);
}

/* Up to n uncompressed bytes; 0 at the end of the stream, or an error with why. */
static ssize_t src_read(struct cm_tar_src *s, void *buf, size_t n, char *why, size_t whylen)
{
    ssize_t got;
    if (!s->gz) {
        got = raw_read(s, buf, n);
        if (got < 0)
            return cm_fail((int)got, why, whylen, "Failed to read the archive: %s",
                           strerror((int)-got));
    } else {
        if (s->gz_done)
            return 0;
        s->z.next_out = buf;
        s->z.avail_out = (uInt)n;
        while (s->z.avail_out == n) {
            if (s->z.avail_in == 0) {
                ssize_t r = raw_read(s, s->in, INBUF);
                if (r < 0)
                    return cm_fail((int)r, why, whylen, "Failed to read the archive: %s",
                                   strerror((int)-r));
                if (r == 0)
                    return cm_fail(CM_EPARSE, why, whylen, "Truncated gzip stream");
                s->z.next_in = s->in;
                s->z.avail_in = (uInt)r;
            }
            int zr = inflate(&s->z, Z_NO_FLUSH);
            if (zr == Z_STREAM_END) {
                s->gz_done = true;
                break;
            }
            if (zr != Z_OK && zr != Z_BUF_ERROR)
                return cm_fail(CM_EPARSE, why, whylen, "Corrupt gzip stream: %s",
                               s->z.msg ? s->z.msg : "inflate failed");
        }
        got = (ssize_t)(n - s->z.avail_out);
    }
    if (got > 0) {
        EVP_DigestUpdate(s->md, buf, (size_t)got);
        s->upos += got;
    }
    return got;
}

/* Exactly n bytes, else an error ("truncated"). */
static int src_read_full(struct cm_tar_src *s, void *buf, size_t n, char *why, size_t whylen)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = src_read(s, (char *)buf + done, n - done, why, whylen);
        if (r < 0)
            return (int)r;
        if (r == 0)
            return cm_fail(CM_EPARSE, why, whylen, "Truncated tar archive");
        done += (size_t)r;
    }
    return 0;
}

static int src_skip(struct cm_tar_src *s, off_t n, char *why, size_t whylen)
{
    char buf[8192];
    while (n > 0) {
        size_t chunk = n > (off_t)sizeof buf ? sizeof buf : (size_t)n;
        int rc = src_read_full(s, buf, chunk, why, whylen);
        if (rc)
            return rc;
        n -= (off_t)chunk;
    }
    return 0;
}

int cm_tar_src_drain(struct cm_tar_src *s, char *why, size_t whylen)
{
    char buf[8192];
    for (;;) {
        ssize_t r = src_read(s, buf, sizeof buf, why, whylen);
        if (r <= 0)
            return (int)r;
    }
}

void cm_tar_src_digest(struct cm_tar_src *s, char hex[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_MD_CTX *copy = EVP_MD_CTX_new();
    if (!copy || EVP_MD_CTX_copy_ex(copy, s->md) != 1 || EVP_DigestFinal_ex(copy, md, &len) != 1)
        abort();
    EVP_MD_CTX_free(copy);
    for (unsigned i = 0; i < len && i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    hex[64] = '\0';
}

/* ---- headers ---- */

/* An octal (or base-256) numeric field. Returns -1 when malformed. */
static int64_t num_field(const unsigned char *f, size_t n)
{
    if (f[0] & 0x80) {
        /* base-256: big-endian, the first byte's high bit is the marker */
        uint64_t v = f[0] & 0x3f;
        if (f[0] & 0x40)
            return -1; /* negative */
        for (size_t i = 1; i < n; i++) {
            if (v >> 55)
                return -1;
            v = (v << 8) | f[i];
        }
        return (int64_t)v;
    }
    size_t i = 0;
    while (i < n && (f[i] == ' ' || f[i] == '\0'))
        i++;
    uint64_t v = 0;
    bool any = false;
    for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
        if (v >> 60)
            return -1;
        v = v * 8 + (uint64_t)(f[i] - '0');
        any = true;
    }
    for (; i < n; i++)
        if (f[i] != ' ' && f[i] != '\0')
            return -1;
    return any ? (int64_t)v : 0;
}

static void copy_field(char *dst, size_t cap, const unsigned char *f, size_t n)
{
    size_t len = strnlen((const char *)f, n);
    if (len >= cap)
        len = cap - 1;
    memcpy(dst, f, len);
    dst[len] = '\0';
}

static bool all_zero(const unsigned char *b)
{
    for (int i = 0; i < BLOCK; i++)
        if (b[i])
            return false;
    return true;
}

/* Reads a long name / pax body of size bytes (bounded) into a NUL-terminated buffer. */
static int read_meta(struct cm_tar_src *s, int64_t size, size_t cap, char **out, char *why,
                     size_t whylen)
{
    if (size < 0 || (uint64_t)size > cap)
        return cm_fail(CM_ETOOBIG, why, whylen, "Tar metadata entry of %lld bytes is too large",
                       (long long)size);
    char *buf = malloc((size_t)size + 1);
    if (!buf)
        abort();
    int rc = src_read_full(s, buf, (size_t)size, why, whylen);
    if (!rc)
        rc = src_skip(s, (BLOCK - size % BLOCK) % BLOCK, why, whylen);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[size] = '\0';
    *out = buf;
    return 0;
}

/* Applies pax records ("LEN key=value\n") to the entry. */
static int apply_pax(const char *buf, size_t len, struct cm_tar_entry *e, int64_t *size,
                     bool *have_path, bool *have_link, char *why, size_t whylen)
{
    size_t i = 0;
    while (i < len) {
        char *endp;
        unsigned long rl = strtoul(buf + i, &endp, 10);
        if (endp == buf + i || *endp != ' ' || rl == 0 || rl > len - i || buf[i + rl - 1] != '\n')
            return cm_fail(CM_EPARSE, why, whylen, "Malformed pax header record");
        const char *kv = endp + 1, *rec_end = buf + i + rl - 1;
        const char *eq = memchr(kv, '=', (size_t)(rec_end - kv));
        if (!eq)
            return cm_fail(CM_EPARSE, why, whylen, "Malformed pax header record");
        size_t klen = (size_t)(eq - kv), vlen = (size_t)(rec_end - eq - 1);
        const char *v = eq + 1;
        if (klen == 4 && memcmp(kv, "path", 4) == 0) {
            if (vlen >= CM_TAR_PATH_MAX)
                return cm_fail(CM_ETOOBIG, why, whylen, "pax path too long");
            memcpy(e->path, v, vlen);
            e->path[vlen] = '\0';
            *have_path = true;
        } else if (klen == 8 && memcmp(kv, "linkpath", 8) == 0) {
            if (vlen >= CM_TAR_PATH_MAX)
                return cm_fail(CM_ETOOBIG, why, whylen, "pax linkpath too long");
            memcpy(e->link, v, vlen);
            e->link[vlen] = '\0';
            *have_link = true;
        } else if (klen == 4 && memcmp(kv, "size", 4) == 0) {
            char num[32];
            if (vlen == 0 || vlen >= sizeof num)
                return cm_fail(CM_EPARSE, why, whylen, "Malformed pax size");
            memcpy(num, v, vlen);
            num[vlen] = '\0';
            char *ne;
            errno = 0;
            unsigned long long sz = strtoull(num, &ne, 10);
            if (*ne || errno || sz > INT64_MAX / 2)
                return cm_fail(CM_EPARSE, why, whylen, "Malformed pax size");
            *size = (int64_t)sz;
        }
        i += rl;
    }
    return 0;
}

int cm_tar_next(struct cm_tar_src *s, struct cm_tar_entry *e, char *why, size_t whylen)
{
    int rc;
    if (s->ended)
        return 0;
    if (s->data_left > 0 && (rc = src_skip(s, s->data_left, why, whylen)) != 0)
        return rc;
    s->data_left = 0;
    bool have_path = false, have_link = false;
    int64_t pax_size = -1;
    memset(e, 0, sizeof *e);
    for (int meta = 0; meta < 64; meta++) {
        unsigned char h[BLOCK];
        ssize_t r = src_read(s, h, BLOCK, why, whylen);
        if (r < 0)
            return (int)r;
        if (r == 0) {
            s->ended = true; /* no end blocks: tolerated, as GNU tar does */
            return 0;
        }
        if (r != BLOCK && (rc = src_read_full(s, h + r, (size_t)(BLOCK - r), why, whylen)) != 0)
            return rc;
        if (all_zero(h)) {
            s->ended = true;
            return 0;
        }
        int64_t want = num_field(h + 148, 8);
        int64_t sum = 0;
        for (int i = 0; i < BLOCK; i++)
            sum += (i >= 148 && i < 156) ? ' ' : h[i];
        if (want < 0 || want != sum)
            return cm_fail(CM_EPARSE, why, whylen, "Bad tar header checksum");
        int64_t size = num_field(h + 124, 12);
        if (size < 0)
            return cm_fail(CM_EPARSE, why, whylen, "Bad tar size field");
        char type = (char)h[156];
        if (type == 'L' || type == 'K') {
            char *name = NULL;
            if ((rc = read_meta(s, size, CM_TAR_PATH_MAX - 1, &name, why, whylen)) != 0)
                return rc;
            snprintf(type == 'L' ? e->path : e->link, CM_TAR_PATH_MAX, "%s", name);
            if (type == 'L')
                have_path = true;
            else
                have_link = true;
            free(name);
            continue;
        }
        if (type == 'x' || type == 'g') {
            char *pax = NULL;
            if ((rc = read_meta(s, size, PAX_MAX, &pax, why, whylen)) != 0)
                return rc;
            if (type == 'x')
                rc =
                    apply_pax(pax, (size_t)size, e, &pax_size, &have_path, &have_link, why, whylen);
            free(pax);
            if (rc)
                return rc;
            continue;
        }
        if (!have_path) {
            char name[101], prefix[156];
            copy_field(name, sizeof name, h, 100);
            copy_field(prefix, sizeof prefix, h + 345, 155);
            bool ustar = memcmp(h + 257, "ustar", 5) == 0;
            if (ustar && *prefix)
                snprintf(e->path, sizeof e->path, "%s/%s", prefix, name);
            else
                snprintf(e->path, sizeof e->path, "%s", name);
        }
        if (!have_link)
            copy_field(e->link, sizeof e->link, h + 157, 100);
        e->type = type ? type : '0';
        int64_t mode = num_field(h + 100, 8), uid = num_field(h + 108, 8),
                gid = num_field(h + 116, 8);
        if (mode < 0 || uid < 0 || gid < 0 || uid > 0x7fffffff || gid > 0x7fffffff)
            return cm_fail(CM_EPARSE, why, whylen, "Bad tar mode/uid/gid field of '%s'", e->path);
        e->mode = (unsigned)mode & 07777;
        e->uid = (unsigned)uid;
        e->gid = (unsigned)gid;
        if (pax_size >= 0)
            size = pax_size;
        /* Links, directories and devices carry no data whatever the size field says. */
        if (e->type == '1' || e->type == '2' || e->type == '3' || e->type == '4' ||
            e->type == '5' || e->type == '6')
            size = 0;
        e->size = (uint64_t)size;
        e->data_offset = s->upos;
        s->data_size = size;
        s->data_left = size + (BLOCK - size % BLOCK) % BLOCK;
        return 1;
    }
    return cm_fail(CM_EPARSE, why, whylen, "Too many tar metadata entries in a row");
}

int cm_tar_read_data(struct cm_tar_src *s, const struct cm_tar_entry *e, size_t cap, char **out,
                     size_t *outlen, char *why, size_t whylen)
{
    *out = NULL;
    if (e->size > cap)
        return cm_fail(CM_ETOOBIG, why, whylen, "'%s' is %llu bytes, over the limit of %zu",
                       e->path, (unsigned long long)e->size, cap);
    if (s->data_left != (off_t)(e->size + (BLOCK - e->size % BLOCK) % BLOCK))
        return cm_fail(CM_ESTATE, why, whylen, "The data of '%s' was read already", e->path);
    char *buf = malloc(e->size + 1);
    if (!buf)
        abort();
    int rc = src_read_full(s, buf, e->size, why, whylen);
    if (rc) {
        free(buf);
        return rc;
    }
    s->data_left -= (off_t)e->size;
    buf[e->size] = '\0';
    *out = buf;
    if (outlen)
        *outlen = e->size;
    return 0;
}

/* ---- extraction ---- */

int cm_tar_clean_path(const char *in, char *out, size_t outlen)
{
    size_t o = 0;
    const char *p = in;
    while (*p) {
        while (*p == '/')
            p++;
        const char *c = p;
        while (*p && *p != '/')
            p++;
        size_t n = (size_t)(p - c);
        if (n == 0 || (n == 1 && c[0] == '.'))
            continue;
        if (n == 2 && c[0] == '.' && c[1] == '.')
            return CM_EINVAL;
        if (o + n + 2 > outlen)
            return CM_ETOOBIG;
        if (o)
            out[o++] = '/';
        memcpy(out + o, c, n);
        o += n;
    }
    if (outlen == 0)
        return CM_ETOOBIG;
    out[o] = '\0';
    return 0;
}

/* Opens the directory that holds path (relative, clean) beneath root, creating missing
 * levels, never following a link. *base points at the last component. Returns an fd or a
 * negative errno. */
static int open_parent(int root, char *path, const char **base)
{
    int fd = dup(root);
    if (fd < 0)
        return -errno;
    char *c = path;
    for (;;) {
        char *slash = strchr(c, '/');
        if (!slash) {
            *base = c;
            return fd;
        }
        *slash = '\0';
        int next = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0 && errno == ENOENT) {
            if (mkdirat(fd, c, 0755) != 0 && errno != EEXIST) {
                int e = errno;
                *slash = '/';
                close(fd);
                return -e;
            }
            next = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        int e = errno;
        *slash = '/';
        close(fd);
        if (next < 0)
            return e == ELOOP || e == ENOTDIR ? -ENOTDIR : -e;
        fd = next;
        c = slash + 1;
    }
}

/* Removes what is at name (not a directory) so the entry can take its place. */
static void remove_existing(int dir, const char *name, bool keep_dir)
{
    struct stat st;
    if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        if (!keep_dir)
            unlinkat(dir, name, AT_REMOVEDIR); /* only if empty; else the create fails */
        return;
    }
    unlinkat(dir, name, 0);
}

static int write_file(struct cm_tar_src *s, const struct cm_tar_entry *e, int dir, const char *name,
                      char *why, size_t whylen)
{
    remove_existing(dir, name, false);
    int fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return cm_fail(-errno, why, whylen, "Failed to create '%s': %s", e->path, strerror(errno));
    char buf[65536];
    uint64_t left = e->size;
    int rc = 0;
    while (left > 0) {
        size_t chunk = left > sizeof buf ? sizeof buf : (size_t)left;
        if ((rc = src_read_full(s, buf, chunk, why, whylen)) != 0)
            break;
        size_t off = 0;
        while (off < chunk) {
            ssize_t w = write(fd, buf + off, chunk - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                rc = cm_fail(-errno, why, whylen, "Failed to write '%s': %s", e->path,
                             strerror(errno));
                break;
            }
            off += (size_t)w;
        }
        if (rc)
            break;
        left -= chunk;
    }
    s->data_left -= (off_t)(e->size - left);
    if (!rc && (fchown(fd, e->uid, e->gid) != 0 || fchmod(fd, e->mode) != 0))
        rc = cm_fail(-errno, why, whylen, "Failed to set the owner/mode of '%s': %s", e->path,
                     strerror(errno));
    close(fd);
    return rc;
}

static int extract_entry(struct cm_tar_src *s, int root, const struct cm_tar_entry *e, char *why,
                         size_t whylen)
{
    char path[CM_TAR_PATH_MAX];
    int rc = cm_tar_clean_path(e->path, path, sizeof path);
    if (rc == CM_EINVAL)
        return cm_fail(CM_EINVAL, why, whylen,
                       "Refusing layer entry '%s': a '..' component leaves the layer", e->path);
    if (rc)
        return cm_fail(rc, why, whylen, "Refusing layer entry '%.200s': name too long", e->path);
    if (!*path)
        return 0; /* the layer's root directory itself */
    if (e->type == '3' || e->type == '4')
        return cm_fail(CM_EINVAL, why, whylen,
                       "Refusing layer entry '%s': device nodes (%s) are "
                       "not allowed in image layers",
                       e->path, e->type == '3' ? "character" : "block");
    const char *base;
    int dir = open_parent(root, path, &base);
    if (dir < 0)
        return cm_fail(dir, why, whylen, "Refusing layer entry '%s': its parent %s", e->path,
                       dir == -ENOTDIR ? "is not a directory (or is a symlink)" : strerror(-dir));
    rc = 0;
    if (strcmp(base, ".wh..wh..opq") == 0) {
        if (fsetxattr(dir, "trusted.overlay.opaque", "y", 1, 0) != 0)
            rc = cm_fail(-errno, why, whylen, "Failed to mark '%s' opaque: %s", e->path,
                         strerror(errno));
    } else if (strncmp(base, ".wh.", 4) == 0) {
        const char *victim = base + 4;
        if (!*victim || strcmp(victim, ".") == 0 || strcmp(victim, "..") == 0) {
            rc =
                cm_fail(CM_EINVAL, why, whylen, "Refusing layer entry '%s': bad whiteout", e->path);
        } else {
            remove_existing(dir, victim, false);
            if (mknodat(dir, victim, S_IFCHR | 0000, makedev(0, 0)) != 0)
                rc = cm_fail(-errno, why, whylen, "Failed to create the whiteout of '%s': %s",
                             e->path, strerror(errno));
        }
    } else if (e->type == '5') {
        remove_existing(dir, base, true);
        if (mkdirat(dir, base, 0700) != 0 && errno != EEXIST) {
            rc =
                cm_fail(-errno, why, whylen, "Failed to create '%s': %s", e->path, strerror(errno));
        } else {
            int d = openat(dir, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (d < 0 || fchown(d, e->uid, e->gid) != 0 || fchmod(d, e->mode) != 0)
                rc = cm_fail(-errno, why, whylen, "Failed to set up directory '%s': %s", e->path,
                             strerror(errno));
            if (d >= 0)
                close(d);
        }
    } else if (e->type == '2') {
        remove_existing(dir, base, false);
        if (symlinkat(e->link, dir, base) != 0 ||
            fchownat(dir, base, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) != 0)
            rc = cm_fail(-errno, why, whylen, "Failed to create symlink '%s': %s", e->path,
                         strerror(errno));
    } else if (e->type == '1') {
        char target[CM_TAR_PATH_MAX];
        if (e->link[0] == '/' || cm_tar_clean_path(e->link, target, sizeof target) != 0 ||
            !*target) {
            rc = cm_fail(CM_EINVAL, why, whylen,
                         "Refusing layer entry '%s': hard link target '%s' is outside the layer",
                         e->path, e->link);
        } else {
            const char *tbase;
            int tdir = open_parent(root, target, &tbase);
            if (tdir < 0) {
                rc = cm_fail(CM_EINVAL, why, whylen,
                             "Refusing layer entry '%s': hard link target '%s' is not in the "
                             "layer",
                             e->path, e->link);
            } else {
                remove_existing(dir, base, false);
                if (linkat(tdir, tbase, dir, base, 0) != 0)
                    rc = cm_fail(-errno, why, whylen, "Failed to link '%s' to '%s': %s", e->path,
                                 e->link, strerror(errno));
                close(tdir);
            }
        }
    } else if (e->type == '6') {
        remove_existing(dir, base, false);
        if (mknodat(dir, base, S_IFIFO | (e->mode & 0777), 0) != 0 ||
            fchownat(dir, base, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) != 0)
            rc = cm_fail(-errno, why, whylen, "Failed to create fifo '%s': %s", e->path,
                         strerror(errno));
    } else if (e->type == '0' || e->type == '7') {
        rc = write_file(s, e, dir, base, why, whylen);
    } else if (e->type == 'S') {
        rc = cm_fail(CM_EINVAL, why, whylen, "Layer entry '%s': sparse files are not supported",
                     e->path);
    }
    /* Other types (GNU volume labels, multi-volume parts...) carry nothing for a rootfs. */
    close(dir);
    return rc;
}

int cm_tar_extract(struct cm_tar_src *s, const char *dest, char *why, size_t whylen)
{
    int root = open(dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (root < 0)
        return cm_fail(-errno, why, whylen, "Failed to open %s: %s", dest, strerror(errno));
    struct cm_tar_entry *e = malloc(sizeof *e);
    if (!e)
        abort();
    int rc;
    while ((rc = cm_tar_next(s, e, why, whylen)) == 1)
        if ((rc = extract_entry(s, root, e, why, whylen)) != 0)
            break;
    free(e);
    close(root);
    return rc;
}
