/*
 * files.c: the /files endpoints of master and agent: confinement, browse, read, download, debug.
 */
#include "files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "errors.h"
#include "http_server.h"
#include "safe_open.h"
#include "strmap.h"

/* /files/read returns at most 16 pages per call (Mesos). */
#define READ_PAGES 16
/* A browse of a huge directory is cut here, so one request cannot build an unbounded reply. */
#define BROWSE_MAX_ENTRIES 100000

struct cm_files {
    struct cm_strmap map; /* normalized virtual path -> malloc'd real path */
    cm_files_authorize_fn authorize;
    void *authorize_arg;
};

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

struct cm_files *cm_files_new(void)
{
    struct cm_files *f = calloc(1, sizeof *f);
    if (!f)
        abort();
    cm_strmap_init(&f->map);
    return f;
}

void cm_files_free(struct cm_files *files)
{
    if (!files)
        return;
    cm_strmap_cleanup_values(&files->map, free);
    free(files);
}

/* Canonical form of an absolute path: no empty or "." components, no trailing slash ("/" for
 * the root). Returns NULL with *err = CM_EINVAL (not absolute) or -EACCES (a ".." component:
 * the only way to climb out of an attached root textually). */
static char *normalize(const char *path, int *err)
{
    if (!path || path[0] != '/') {
        *err = CM_EINVAL;
        return NULL;
    }
    size_t n = strlen(path);
    char *out = malloc(n + 2);
    if (!out)
        abort();
    size_t o = 0;
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *s = p;
        while (*p && *p != '/')
            p++;
        size_t len = (size_t)(p - s);
        if (len == 1 && s[0] == '.')
            continue;
        if (len == 2 && s[0] == '.' && s[1] == '.') {
            free(out);
            *err = -EACCES;
            return NULL;
        }
        out[o++] = '/';
        memcpy(out + o, s, len);
        o += len;
    }
    if (o == 0)
        out[o++] = '/';
    out[o] = '\0';
    return out;
}

int cm_files_attach(struct cm_files *files, const char *real_path, const char *virtual_path)
{
    int err = 0;
    char *v = normalize(virtual_path, &err);
    if (!v)
        return CM_EINVAL;
    char *r = normalize(real_path, &err);
    if (!r) {
        free(v);
        return CM_EINVAL;
    }
    free(cm_strmap_put(&files->map, v, r));
    free(v);
    return 0;
}

void cm_files_detach(struct cm_files *files, const char *virtual_path, const char *real_path)
{
    int err = 0;
    char *v = normalize(virtual_path, &err);
    if (!v)
        return;
    const char *cur = cm_strmap_get(&files->map, v);
    if (cur) {
        char *r = real_path ? normalize(real_path, &err) : NULL;
        if (!real_path || (r && strcmp(r, cur) == 0))
            free(cm_strmap_remove(&files->map, v));
        free(r);
    }
    free(v);
}

void cm_files_set_authorizer(struct cm_files *files, cm_files_authorize_fn fn, void *arg)
{
    files->authorize = fn;
    files->authorize_arg = arg;
}

/* Asks the hook about the root path resolves to; true when there is no hook or the path does
 * not resolve (the open answers that). */
static bool authorized(struct cm_files *files, struct cm_http_request *req, const char *path)
{
    if (!files->authorize)
        return true;
    char *root = NULL, *rel = NULL;
    bool ok = true;
    if (cm_files_resolve(files, path, &root, &rel) == 0)
        ok = files->authorize(req, root, files->authorize_arg);
    free(root);
    free(rel);
    return ok;
}

size_t cm_files_count(const struct cm_files *files)
{
    return cm_strmap_count(&files->map);
}

int cm_files_resolve(const struct cm_files *files, const char *path, char **root_out,
                     char **rel_out)
{
    *root_out = *rel_out = NULL;
    if (!path || !*path)
        return CM_EINVAL;
    int err = 0;
    char *norm = normalize(path, &err);
    if (!norm)
        return err;
    /* Longest attached prefix: try the whole path, then drop one component at a time. */
    char *probe = xstrdup(norm);
    const char *root = NULL;
    size_t plen = strlen(probe);
    for (;;) {
        root = cm_strmap_get(&files->map, probe);
        if (root)
            break;
        char *slash = strrchr(probe, '/');
        if (!slash || plen <= 1)
            break;
        if (slash == probe)
            probe[1] = '\0';
        else
            *slash = '\0';
        plen = strlen(probe);
    }
    if (!root) {
        free(probe);
        free(norm);
        return CM_ENOTFOUND;
    }
    const char *rest = norm + (strcmp(probe, "/") == 0 ? 0 : plen);
    while (*rest == '/')
        rest++;
    *root_out = xstrdup(root);
    *rel_out = xstrdup(rest);
    free(probe);
    free(norm);
    return 0;
}

/* Maps a safe-open error to the contract's codes: a symlink anywhere is an escape attempt. */
static int open_status(int rc)
{
    if (rc == -ELOOP || rc == -EXDEV || rc == -EACCES || rc == -EPERM)
        return -EACCES;
    return CM_ENOTFOUND;
}

int cm_files_open(const struct cm_files *files, const char *path, int flags, int *fd, char **name)
{
    *fd = -1;
    if (name)
        *name = NULL;
    char *root = NULL, *rel = NULL;
    int rc = cm_files_resolve(files, path, &root, &rel);
    if (rc != 0)
        return rc;
    if (!*rel) {
        /* The attached root itself: a directory (a sandbox) or one file (the agent's log).
         * Its path is the agent's own; only its last component could be swapped. */
        int f = open(root, flags | O_NOFOLLOW | O_CLOEXEC);
        if (f < 0) {
            int e = errno;
            struct stat st;
            rc = open_status((e == ELOOP || (lstat(root, &st) == 0 && S_ISLNK(st.st_mode))) ? -ELOOP
                                                                                            : -e);
        } else {
            *fd = f;
        }
    } else {
        int dfd = -1;
        rc = cm_safe_open_root(root, &dfd);
        if (rc == 0) {
            rc = cm_safe_openat(dfd, rel, flags, 0, fd);
            close(dfd);
        }
        if (rc != 0)
            rc = open_status(rc);
    }
    if (rc == 0 && name) {
        const char *full = *rel ? rel : root;
        const char *base = strrchr(full, '/');
        *name = xstrdup(base ? base + 1 : full);
    }
    free(root);
    free(rel);
    return rc;
}

void cm_files_mode_string(unsigned mode, char out[11])
{
    char t = '-';
    switch (mode & S_IFMT) {
    case S_IFDIR: t = 'd'; break;
    case S_IFLNK: t = 'l'; break;
    case S_IFCHR: t = 'c'; break;
    case S_IFBLK: t = 'b'; break;
    case S_IFIFO: t = 'p'; break;
    case S_IFSOCK: t = 's'; break;
    default: break;
    }
    out[0] = t;
    const char *rwx = "rwxrwxrwx";
    for (int i = 0; i < 9; i++)
        out[1 + i] = (mode & (1u << (8 - i))) ? rwx[i] : '-';
    if (mode & S_ISUID)
        out[3] = (mode & S_IXUSR) ? 's' : 'S';
    if (mode & S_ISGID)
        out[6] = (mode & S_IXGRP) ? 's' : 'S';
    if (mode & S_ISVTX)
        out[9] = (mode & S_IXOTH) ? 't' : 'T';
    out[10] = '\0';
}

/* Length of the valid UTF-8 sequence starting at s (at most n bytes available), 0 if the
 * bytes are invalid, or -1 if they are a valid but truncated start. */
static int utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    int need;
    unsigned min;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
        min = 0x80;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        min = 0x800;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        min = 0x10000;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (int i = 1; i < need; i++) {
        if ((size_t)i >= n)
            return -1;
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return need;
}

size_t cm_files_utf8_sanitize(char *buf, size_t len)
{
    unsigned char *s = (unsigned char *)buf;
    size_t i = 0;
    while (i < len) {
        int k = utf8_seq(s + i, len - i);
        if (k > 0) {
            i += (size_t)k;
        } else if (k < 0) {
            return i; /* the rest of this character comes with the next read */
        } else {
            s[i++] = '?';
        }
    }
    return len;
}

/* ---- handlers ------------------------------------------------------------------------------ */

static bool method_ok(struct cm_http_request *req)
{
    if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0)
        return true;
    cm_http_add_header(req, "Allow", "GET");
    cm_http_respond_text(req, 405, "Expecting a 'GET' request, received '%s'\n", req->method);
    return false;
}

/* Opens ?path= (confined: see cm_files_open) and answers the error itself; returns the
 * descriptor or -1. *shown is the requested path (malloc'd) for building entry paths, *name
 * the last component (for a download's file name); both may be NULL. */
static int open_param(struct cm_files *files, struct cm_http_request *req, char **shown,
                      char **name)
{
    char *path = cm_http_request_query_param(req, "path");
    if (!path || !*path) {
        free(path);
        cm_http_respond_text(req, 400, "Expecting 'path=value' in query.\n");
        return -1;
    }
    if (!authorized(files, req, path)) {
        free(path);
        return -1;
    }
    int fd = -1;
    /* O_NONBLOCK: a FIFO a task left in its sandbox must not hang the loop on open. */
    int rc = cm_files_open(files, path, O_RDONLY | O_NONBLOCK, &fd, name);
    if (rc == CM_EINVAL) {
        cm_http_respond_text(req, 400, "Expecting an absolute 'path'.\n");
    } else if (rc == -EACCES) {
        cm_http_respond_text(req, 403,
                             "Path '%s' is outside of the attached directories or goes through "
                             "a symbolic link.\n",
                             path);
    } else if (rc != 0) {
        cm_http_respond_text(req, 404, "No such file or directory: '%s'.\n", path);
    }
    if (rc != 0) {
        free(path);
        return -1;
    }
    if (shown)
        *shown = path;
    else
        free(path);
    return fd;
}

static json_t *name_json(bool user, unsigned id)
{
    char buf[1024];
    if (user) {
        struct passwd pw, *res = NULL;
        if (getpwuid_r(id, &pw, buf, sizeof buf, &res) == 0 && res)
            return json_string(res->pw_name);
    } else {
        struct group gr, *res = NULL;
        if (getgrgid_r(id, &gr, buf, sizeof buf, &res) == 0 && res)
            return json_string(res->gr_name);
    }
    char num[24];
    snprintf(num, sizeof num, "%u", id);
    return json_string(num);
}

static json_t *entry_json(const char *path, const struct stat *st)
{
    json_t *o = json_object();
    char mode[11];
    cm_files_mode_string(st->st_mode, mode);
    json_object_set_new(o, "path", json_string(path));
    json_object_set_new(o, "nlink", json_integer((json_int_t)st->st_nlink));
    json_object_set_new(o, "size", json_integer((json_int_t)st->st_size));
    json_object_set_new(o, "mtime",
                        json_real((double)st->st_mtim.tv_sec + st->st_mtim.tv_nsec / 1e9));
    json_object_set_new(o, "mode", json_string(mode));
    json_object_set_new(o, "uid", name_json(true, st->st_uid));
    json_object_set_new(o, "gid", name_json(false, st->st_gid));
    return o;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists the descriptor opened beneath the root (owned: closed here), never the path again;
 * every entry is looked at relative to it without following links, so a symlink is shown as
 * itself. Returns 0 or CM_ENOTFOUND. */
static int list_fd(int fd, const char *shown, struct cm_files_entry **out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return CM_ENOTFOUND;
    }
    if (!S_ISDIR(st.st_mode)) {
        struct cm_files_entry *e = calloc(1, sizeof *e);
        if (!e)
            abort();
        e->path = xstrdup(shown);
        e->st = st;
        close(fd);
        *out = e;
        *nout = 1;
        return 0;
    }
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return CM_ENOTFOUND;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < BROWSE_MAX_ENTRIES) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            names = realloc(names, cap * sizeof *names);
            if (!names)
                abort();
        }
        names[n++] = xstrdup(de->d_name);
    }
    if (n)
        qsort(names, n, sizeof *names, cmp_names);
    struct cm_files_entry *ents = n ? calloc(n, sizeof *ents) : NULL;
    if (n && !ents)
        abort();
    size_t slen = strlen(shown);
    bool slash = slen > 0 && shown[slen - 1] == '/';
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (fstatat(dirfd(d), names[i], &ents[k].st, AT_SYMLINK_NOFOLLOW) == 0) {
            if (asprintf(&ents[k].path, "%s%s%s", shown, slash ? "" : "/", names[i]) < 0)
                abort();
            k++;
        }
        free(names[i]);
    }
    free(names);
    closedir(d);
    *out = ents;
    *nout = k;
    return 0;
}

void cm_files_entries_free(struct cm_files_entry *entries, size_t n)
{
    for (size_t i = 0; entries && i < n; i++)
        free(entries[i].path);
    free(entries);
}

int cm_files_list(const struct cm_files *files, const char *path, struct cm_files_entry **entries,
                  size_t *n)
{
    *entries = NULL;
    *n = 0;
    int fd = -1;
    /* O_NONBLOCK: a FIFO a task left in its sandbox must not hang the loop on open. */
    int rc = cm_files_open(files, path, O_RDONLY | O_NONBLOCK, &fd, NULL);
    if (rc != 0)
        return rc;
    return list_fd(fd, path, entries, n);
}

static void browse_handler(struct cm_http_request *req, void *arg)
{
    struct cm_files *files = arg;
    if (!method_ok(req))
        return;
    char *shown = NULL;
    int fd = open_param(files, req, &shown, NULL);
    if (fd < 0)
        return;
    struct cm_files_entry *ents = NULL;
    size_t n = 0;
    if (list_fd(fd, shown, &ents, &n) != 0) {
        cm_http_respond_text(req, 404, "No such file or directory: '%s'.\n", shown);
    } else {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, entry_json(ents[i].path, &ents[i].st));
        cm_http_respond_json(req, 200, arr);
    }
    cm_files_entries_free(ents, n);
    free(shown);
}

/* Parses a signed decimal integer; false on junk or overflow. */
static bool parse_ll(const char *s, long long *out)
{
    if (!s || !*s)
        return false;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

static void read_handler(struct cm_http_request *req, void *arg)
{
    struct cm_files *files = arg;
    if (!method_ok(req))
        return;
    char *soff = cm_http_request_query_param(req, "offset");
    char *slen = cm_http_request_query_param(req, "length");
    long long offset = -1, length = -1;
    int fd = -1;
    char *buf = NULL;
    if (soff && !parse_ll(soff, &offset)) {
        cm_http_respond_text(req, 400, "Failed to parse offset: '%s'.\n", soff);
        goto out;
    }
    if (offset < -1) {
        cm_http_respond_text(req, 400, "Negative offset provided: %lld.\n", offset);
        goto out;
    }
    if (slen && !parse_ll(slen, &length)) {
        cm_http_respond_text(req, 400, "Failed to parse length: '%s'.\n", slen);
        goto out;
    }
    if (length < -1) {
        cm_http_respond_text(req, 400, "Negative length provided: %lld.\n", length);
        goto out;
    }
    fd = open_param(files, req, NULL, NULL);
    if (fd < 0)
        goto out;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        cm_http_respond_text(req, 404, "Failed to open file: %s.\n", strerror(errno));
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        cm_http_respond_text(req, 400, "Cannot read a directory.\n");
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        cm_http_respond_text(req, 400, "Cannot read a special file.\n");
        goto out;
    }
    long page = sysconf(_SC_PAGESIZE);
    long long cap = (page > 0 ? page : 4096) * READ_PAGES;
    long long size = (long long)st.st_size;
    json_t *o = json_object();
    if (offset == -1) {
        json_object_set_new(o, "offset", json_integer(size));
        json_object_set_new(o, "data", json_string(""));
        cm_http_respond_json(req, 200, o);
        goto out;
    }
    if (length == -1 || length > cap)
        length = cap;
    buf = malloc((size_t)length + 1);
    if (!buf)
        abort();
    size_t got = 0;
    while (got < (size_t)length) {
        ssize_t r = pread(fd, buf + got, (size_t)length - got, (off_t)offset + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    size_t keep = cm_files_utf8_sanitize(buf, got);
    json_object_set_new(o, "offset", json_integer(offset));
    json_object_set_new(o, "data", json_stringn(buf, keep));
    cm_http_respond_json(req, 200, o);
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    free(soff);
    free(slen);
}

static const char *content_type_of(const char *name)
{
    static const char *const table[][2] = {
        {".txt", "text/plain"},
        {".log", "text/plain"},
        {".html", "text/html"},
        {".htm", "text/html"},
        {".css", "text/css"},
        {".js", "application/javascript"},
        {".json", "application/json"},
        {".xml", "application/xml"},
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"},
        {".gif", "image/gif"},
        {".svg", "image/svg+xml"},
        {".pdf", "application/pdf"},
        {".tar", "application/x-tar"},
        {".gz", "application/x-gzip"},
        {".tgz", "application/x-gzip"},
        {".zip", "application/zip"},
        {".bz2", "application/x-bzip2"},
        {".xz", "application/x-xz"},
    };
    const char *dot = strrchr(name, '.');
    if (dot)
        for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
            if (strcasecmp(dot, table[i][0]) == 0)
                return table[i][1];
    return "application/octet-stream";
}

static void download_handler(struct cm_http_request *req, void *arg)
{
    struct cm_files *files = arg;
    if (!method_ok(req))
        return;
    char *base = NULL;
    int fd = open_param(files, req, NULL, &base);
    if (fd < 0)
        return;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        cm_http_respond_text(req, 404, "Failed to open file: %s.\n", strerror(errno));
        close(fd);
        free(base);
        return;
    }
    if (!S_ISREG(st.st_mode)) {
        cm_http_respond_text(req, 400, "Cannot download a directory or special file.\n");
        close(fd);
        free(base);
        return;
    }
    char disp[PATH_MAX + 64];
    /* Quotes and control characters would break the header; they become '_'. */
    char name[NAME_MAX + 1];
    size_t k = 0;
    for (const char *p = base; *p && k < NAME_MAX; p++)
        name[k++] = (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) ? '_' : *p;
    name[k] = '\0';
    snprintf(disp, sizeof disp, "attachment; filename=%s", name);
    cm_http_add_header(req, "Content-Disposition", disp);
    /* The file is sent from the descriptor (sendfile/mmap), never copied into memory. The
     * buffer owns fd from here on. */
    if (st.st_size > 0) {
        if (evbuffer_add_file(evhttp_request_get_output_buffer(req->ev), fd, 0, st.st_size) != 0) {
            cm_http_respond_text(req, 500, "Failed to send the file.\n");
            free(base);
            return;
        }
    } else {
        close(fd);
    }
    cm_http_respond(req, 200, content_type_of(base), NULL, 0);
    free(base);
}

static void debug_handler(struct cm_http_request *req, void *arg)
{
    struct cm_files *files = arg;
    if (!method_ok(req))
        return;
    if (files->authorize && !files->authorize(req, NULL, files->authorize_arg))
        return;
    json_t *o = json_object();
    struct cm_strmap_iter it;
    cm_strmap_iter_init(&it, &files->map);
    const char *key;
    const char *real;
    while ((real = cm_strmap_iter_value(&it, &key)))
        json_object_set_new(o, key, json_string(real));
    cm_http_respond_json(req, 200, o);
}

void cm_files_routes(struct cm_files *files, struct cm_http_server *srv)
{
    cm_http_server_route(srv, "/files/browse", browse_handler, files);
    cm_http_server_route(srv, "/files/browse.json", browse_handler, files);
    cm_http_server_route(srv, "/files/read", read_handler, files);
    cm_http_server_route(srv, "/files/read.json", read_handler, files);
    cm_http_server_route(srv, "/files/download", download_handler, files);
    cm_http_server_route(srv, "/files/download.json", download_handler, files);
    cm_http_server_route(srv, "/files/debug", debug_handler, files);
    cm_http_server_route(srv, "/files/debug.json", debug_handler, files);
}

int cm_files_read(const struct cm_files *files, const char *path, uint64_t offset, uint64_t length,
                  uint64_t max, void **data, size_t *len, uint64_t *size)
{
    *data = NULL;
    *len = 0;
    *size = 0;
    int fd = -1;
    int rc = cm_files_open(files, path, O_RDONLY | O_NONBLOCK, &fd, NULL);
    if (rc != 0)
        return rc;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return CM_ENOTFOUND;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return CM_EINVAL;
    }
    uint64_t sz = (uint64_t)st.st_size;
    uint64_t off = offset > sz ? sz : offset;
    uint64_t want = length < max ? length : max;
    if (want > sz - off)
        want = sz - off;
    char *buf = malloc(want ? (size_t)want : 1);
    if (!buf)
        abort();
    size_t got = 0;
    while (got < want) {
        ssize_t r = pread(fd, buf + got, (size_t)(want - got), (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = -errno;
            close(fd);
            free(buf);
            return rc;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    *data = buf;
    *len = got;
    *size = sz;
    return 0;
}

void cm_files_serve(struct cm_files *files, enum cm_files_endpoint endpoint,
                    struct cm_http_request *req)
{
    switch (endpoint) {
    case CM_FILES_BROWSE: browse_handler(req, files); return;
    case CM_FILES_READ: read_handler(req, files); return;
    case CM_FILES_DOWNLOAD: download_handler(req, files); return;
    case CM_FILES_DEBUG: debug_handler(req, files); return;
    }
    cm_http_respond_text(req, 404, "No such endpoint.\n");
}
