/*
 * fetcher.c: CommandInfo.uris into the sandbox — resolution, download, copy, cache, extract.
 *
 * Each fetch is a small state machine driven by one "kick" event: every step (start a URI,
 * copy one chunk, finish a URI) runs from it, so no step recurses into the next and a done
 * callback never runs inside the call that started the fetch.
 */
#include "fetcher.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <dirent.h>
#include <event2/event.h>

#include "clock.h"
#include "containerizer/user.h"
#include "errors.h"
#include "flags.h"
#include "http_client.h"
#include "log.h"
#include "paths.h"
#include "safe_open.h"
#include "strmap.h"

#define MOD "fetcher"
#define MAX_URI 4096
#define MAX_REDIRECTS 5
/* Bytes copied per loop turn: big enough to be fast, small enough to keep the loop live. */
#define COPY_CHUNK (4u * 1024u * 1024u)
#define PROGRESS_EVERY (64ull * 1024ull * 1024ull)

/* ---- small helpers ------------------------------------------------------------------------ */

static char *xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d)
        abort();
    return d;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        abort();
    va_end(ap);
    return s;
}

static bool has_prefix_ci(const char *s, const char *p)
{
    return strncasecmp(s, p, strlen(p)) == 0;
}

static bool ends_with_ci(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n > m && strcasecmp(s + n - m, suffix) == 0;
}

/* ---- URI rules ----------------------------------------------------------------------------- */

int cm_fetcher_resolve_uri(const char *value, const char *frameworks_home,
                           enum cm_fetch_source *source, char **out, char *why, size_t whylen)
{
    *out = NULL;
    if (!value || !*value)
        return cm_fail(CM_EINVAL, why, whylen, "URI is empty");
    if (strlen(value) > MAX_URI)
        return cm_fail(CM_EINVAL, why, whylen, "URI is longer than %d bytes", MAX_URI);
    for (const char *p = value; *p; p++)
        if ((unsigned char)*p < 0x20)
            return cm_fail(CM_EINVAL, why, whylen, "URI contains a control character");
    if (has_prefix_ci(value, "http://") || has_prefix_ci(value, "https://")) {
        const char *host = strstr(value, "://") + 3;
        if (!*host || *host == '/')
            return cm_fail(CM_EINVAL, why, whylen, "URL has no host");
        *source = CM_FETCH_HTTP;
        *out = xstrdup(value);
        return 0;
    }
    if (has_prefix_ci(value, "file://")) {
        const char *path = value + 7;
        if (path[0] != '/')
            return cm_fail(CM_EINVAL, why, whylen,
                           "file:// URIs must name an absolute local path (file:///path)");
        *source = CM_FETCH_LOCAL;
        *out = xstrdup(path);
        return 0;
    }
    const char *colon = strstr(value, "://");
    if (colon) {
        int n = (int)(colon - value);
        return cm_fail(CM_EINVAL, why, whylen, "Unsupported URI scheme '%.*s'", n > 32 ? 32 : n,
                       value);
    }
    *source = CM_FETCH_LOCAL;
    if (value[0] == '/') {
        *out = xstrdup(value);
        return 0;
    }
    if (!frameworks_home || !*frameworks_home)
        return cm_fail(CM_EINVAL, why, whylen,
                       "A relative path was passed for the resource but the Mesos framework "
                       "home was not specified (--frameworks_home)");
    *out = xasprintf("%s/%s", frameworks_home, value);
    return 0;
}

int cm_fetcher_basename(const char *value, char **out, char *why, size_t whylen)
{
    *out = NULL;
    const char *start = value;
    const char *scheme = strstr(value, "://");
    if (scheme) {
        start = strchr(scheme + 3, '/');
        if (!start)
            start = "";
    }
    size_t len = strcspn(start, "?#");
    const char *end = start + len;
    while (end > start && end[-1] == '/')
        end--; /* "dir/" names the directory "dir" */
    const char *b = end;
    while (b > start && b[-1] != '/')
        b--;
    size_t n = (size_t)(end - b);
    if (n == 0 || (n == 1 && b[0] == '.') || (n == 2 && b[0] == '.' && b[1] == '.') || n > NAME_MAX)
        return cm_fail(CM_EINVAL, why, whylen,
                       "Cannot derive a file name from the URI; set 'output_file'");
    char *s = malloc(n + 1);
    if (!s)
        abort();
    memcpy(s, b, n);
    s[n] = '\0';
    *out = s;
    return 0;
}

int cm_fetcher_validate_output_file(const char *output_file, char *why, size_t whylen)
{
    if (!output_file || !*output_file)
        return cm_fail(CM_EINVAL, why, whylen, "'output_file' is empty");
    if (output_file[0] == '/')
        return cm_fail(CM_EINVAL, why, whylen,
                       "'output_file' must be a path relative to the sandbox");
    if (strlen(output_file) > PATH_MAX / 2)
        return cm_fail(CM_EINVAL, why, whylen, "'output_file' is too long");
    const char *p = output_file;
    while (*p) {
        const char *s = p;
        while (*p && *p != '/')
            p++;
        size_t len = (size_t)(p - s);
        if (len == 2 && s[0] == '.' && s[1] == '.')
            return cm_fail(CM_EINVAL, why, whylen, "'output_file' must not contain '..'");
        for (const char *q = s; q < p; q++)
            if ((unsigned char)*q < 0x20)
                return cm_fail(CM_EINVAL, why, whylen,
                               "'output_file' contains a control character");
        while (*p == '/')
            p++;
    }
    size_t n = strlen(output_file);
    if (output_file[n - 1] == '/' ||
        (n >= 2 && output_file[n - 1] == '.' && output_file[n - 2] == '/') ||
        strcmp(output_file, ".") == 0)
        return cm_fail(CM_EINVAL, why, whylen, "'output_file' must name a file");
    return 0;
}

enum cm_archive cm_fetcher_archive_type(const char *name)
{
    static const char *const tars[] = {".tar",  ".tar.gz", ".tgz", ".tar.bz2",
                                       ".tbz2", ".tar.xz", ".txz"};
    for (size_t i = 0; i < sizeof tars / sizeof tars[0]; i++)
        if (ends_with_ci(name, tars[i]))
            return CM_ARCHIVE_TAR;
    if (ends_with_ci(name, ".zip"))
        return CM_ARCHIVE_ZIP;
    if (ends_with_ci(name, ".gz"))
        return CM_ARCHIVE_GZ;
    return CM_ARCHIVE_NONE;
}

/* ---- fetches ------------------------------------------------------------------------------- */

struct fetch_uri {
    char *value;
    char *output_file; /* NULL if unset */
    bool executable, extract, cache;
};

struct cm_fetcher {
    struct event_base *base;
    struct cm_http_client *client;
    struct cm_fetcher_config cfg;
    char *frameworks_home;
    struct cm_fetch_cache *cache;
    struct cm_strmap children; /* "<pid>" -> struct cm_fetch */
    struct cm_fetch *fetches;  /* in flight */
    struct cm_fetcher_metrics metrics;
};

typedef void (*step_fn)(struct cm_fetch *fe);

struct cm_fetch {
    struct cm_fetcher *f;
    struct cm_fetch *prev, *next;
    struct fetch_uri *uris;
    size_t n, idx;
    char *sandbox;
    char *user;
    int err_fd; /* the sandbox's stderr, -1 if it could not be opened */
    cm_fetch_done_cb done;
    void *arg;
    struct event *kick;
    step_fn step;
    struct event *stall_timer;
    struct event *total_timer;
    double started;

    /* The URI being fetched. */
    enum cm_fetch_source source;
    char *src;        /* URL or local path */
    char *dest;       /* its place in the sandbox */
    char *rel;        /* dest relative to the sandbox (opened beneath it, safe_open.h) */
    char *key;        /* cache key, NULL when not cached */
    char *target;     /* where the download/copy writes: dest, or a temp file in the cache */
    char *cache_path; /* a cache entry this fetch holds a reference on */
    char *url;        /* current URL (after redirects) */
    struct cm_http_call *call;
    long status;
    char *redirect;
    int hops;
    int write_errno;
    uint64_t bytes, next_progress;
    int in_fd, out_fd;
    step_fn after_copy;
    pid_t child;
    const char *child_what;
    /* --switch_user: the sandbox is written as this user (fsids on the loop, a full drop in
     * the extractor child). */
    bool as_user;
    struct cm_user owner;
};

/* Switches the loop thread's file-system ids to the fetch's user (no-op without one). */
static void as_user(const struct cm_fetch *fe, struct cm_safe_fsids *saved)
{
    saved->switched = false;
    if (fe->as_user)
        cm_safe_fsids_switch(fe->owner.uid, fe->owner.gid, saved);
}

static void as_agent(const struct cm_safe_fsids *saved)
{
    cm_safe_fsids_restore(saved);
}

/* Opens the URI's place in the sandbox beneath the sandbox's descriptor, as the task's user,
 * following no symlink (an earlier archive may have planted one). Returns the descriptor, or
 * -1 with errno set. */
static int open_dest(const struct cm_fetch *fe, int flags, mode_t mode)
{
    struct cm_safe_fsids ids;
    as_user(fe, &ids);
    int fd = -1;
    int rc = cm_safe_open(fe->sandbox, fe->rel, flags, mode, &fd);
    as_agent(&ids);
    if (rc != 0) {
        errno = rc < 0 && rc > -4096 ? -rc : EINVAL;
        return -1;
    }
    return fd;
}

static void say(struct cm_fetch *fe, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct cm_fetch *fe, const char *fmt, ...)
{
    if (fe->err_fd < 0)
        return;
    char line[2048];
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    int k = (int)strftime(line, sizeof line, "I%m%d %H:%M:%S fetcher] ", &tm);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + k, sizeof line - (size_t)k - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)k + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = write(fe->err_fd, line, len);
    (void)w;
}

static void kick(struct cm_fetch *fe, step_fn step)
{
    fe->step = step;
    event_active(fe->kick, EV_TIMEOUT, 0);
}

static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cm_fetch *fe = arg;
    step_fn s = fe->step;
    fe->step = NULL;
    if (s)
        s(fe);
}

/* Releases everything the current URI holds; with discard, also deletes a half-written temp. */
static void uri_cleanup(struct cm_fetch *fe, bool discard)
{
    if (fe->call) {
        cm_http_call_cancel(fe->call);
        fe->call = NULL;
    }
    if (fe->stall_timer)
        evtimer_del(fe->stall_timer);
    if (fe->in_fd >= 0)
        close(fe->in_fd);
    if (fe->out_fd >= 0)
        close(fe->out_fd);
    fe->in_fd = fe->out_fd = -1;
    if (fe->child > 0) {
        /* The extractor runs in its own group (tar starts gzip/xz): kill all of it. */
        kill(-fe->child, SIGKILL);
        char k[24];
        snprintf(k, sizeof k, "%d", (int)fe->child);
        cm_strmap_remove(&fe->f->children, k);
        fe->child = 0;
    }
    if (discard && fe->target && fe->key && strcmp(fe->target, fe->dest) != 0)
        unlink(fe->target);
    if (fe->cache_path) {
        cm_fetch_cache_release(fe->f->cache, fe->key);
        free(fe->cache_path);
        fe->cache_path = NULL;
    }
    free(fe->src);
    free(fe->dest);
    free(fe->rel);
    fe->rel = NULL;
    free(fe->key);
    free(fe->target);
    free(fe->url);
    free(fe->redirect);
    fe->src = fe->dest = fe->key = fe->target = fe->url = fe->redirect = NULL;
    fe->status = 0;
    fe->hops = 0;
    fe->write_errno = 0;
    fe->bytes = 0;
    fe->next_progress = PROGRESS_EVERY;
}

static void fetch_free(struct cm_fetch *fe)
{
    uri_cleanup(fe, true);
    struct cm_fetcher *f = fe->f;
    if (fe->prev)
        fe->prev->next = fe->next;
    else if (f->fetches == fe)
        f->fetches = fe->next;
    if (fe->next)
        fe->next->prev = fe->prev;
    if (fe->kick)
        event_free(fe->kick);
    if (fe->stall_timer)
        event_free(fe->stall_timer);
    if (fe->total_timer)
        event_free(fe->total_timer);
    if (fe->err_fd >= 0)
        close(fe->err_fd);
    for (size_t i = 0; i < fe->n; i++) {
        free(fe->uris[i].value);
        free(fe->uris[i].output_file);
    }
    free(fe->uris);
    free(fe->sandbox);
    free(fe->user);
    cm_user_cleanup(&fe->owner);
    free(fe);
}

static void finish(struct cm_fetch *fe, int err, const char *message)
{
    if (err)
        fe->f->metrics.task_fetches_failed++;
    else
        fe->f->metrics.task_fetches_succeeded++;
    uri_cleanup(fe, true);
    cm_fetch_done_cb done = fe->done;
    void *arg = fe->arg;
    fetch_free(fe);
    done(arg, err, message);
}

static void fail(struct cm_fetch *fe, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct cm_fetch *fe, const char *fmt, ...)
{
    char why[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    const char *uri = fe->idx < fe->n ? fe->uris[fe->idx].value : "";
    char *msg = xasprintf("Failed to fetch '%s': %s", uri, why);
    say(fe, "%s", msg);
    CM_WARN(MOD, "%s (sandbox %s)", msg, fe->sandbox);
    finish(fe, CM_EINVAL, msg);
    free(msg);
}

static void next_uri(struct cm_fetch *fe);

static void advance(struct cm_fetch *fe)
{
    uri_cleanup(fe, false);
    fe->idx++;
    kick(fe, next_uri);
}

/* ---- post-processing: executable / extract ------------------------------------------------- */

static int spawn(struct cm_fetch *fe, char *const argv[], const char *cwd, const char *stdout_path)
{
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        setpgid(0, 0);
        signal(SIGPIPE, SIG_DFL);
        /* The archive is the framework's: it is unpacked with the user's rights only. */
        if (fe->as_user && cm_user_drop(&fe->owner) != 0) {
            dprintf(fe->err_fd, "Failed to switch to user '%s'\n", fe->owner.name);
            _exit(126);
        }
        if (chdir(cwd) != 0)
            _exit(126);
        int in = open("/dev/null", O_RDONLY);
        if (in >= 0)
            dup2(in, 0);
        int out = stdout_path ? open(stdout_path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0644)
                              : fe->err_fd;
        if (out >= 0)
            dup2(out, 1);
        if (fe->err_fd >= 0)
            dup2(fe->err_fd, 2);
        execvp(argv[0], argv);
        dprintf(2, "Failed to execute '%s': %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid); /* also from here, so a kill right away already reaches the group */
    fe->child = pid;
    char k[24];
    snprintf(k, sizeof k, "%d", (int)pid);
    cm_strmap_put(&fe->f->children, k, fe);
    return 0;
}

static void post_process(struct cm_fetch *fe)
{
    const struct fetch_uri *u = &fe->uris[fe->idx];
    if (fe->cache_path) {
        cm_fetch_cache_release(fe->f->cache, fe->key);
        free(fe->cache_path);
        fe->cache_path = NULL;
    }
    if (u->executable) {
        int xfd = open_dest(fe, O_RDONLY | O_NONBLOCK, 0);
        int crc = xfd >= 0 ? fchmod(xfd, 0755) : -1;
        if (xfd >= 0)
            close(xfd);
        if (crc != 0) {
            fail(fe, "Failed to make '%s' executable: %s", fe->dest, strerror(errno));
            return;
        }
        say(fe, "Made '%s' executable", fe->dest);
        advance(fe);
        return;
    }
    enum cm_archive type = u->extract ? cm_fetcher_archive_type(fe->dest) : CM_ARCHIVE_NONE;
    if (type == CM_ARCHIVE_NONE) {
        advance(fe);
        return;
    }
    char *dir = xstrdup(fe->dest);
    *strrchr(dir, '/') = '\0';
    char *out = NULL;
    int rc;
    if (type == CM_ARCHIVE_TAR) {
        /* GNU tar recognises gzip, bzip2 and xz compression by itself when reading a file. */
        char *argv[] = {"tar", "--no-same-owner", "-C", dir, "-xf", fe->dest, NULL};
        fe->child_what = "tar";
        say(fe, "Extracting with command: tar --no-same-owner -C '%s' -xf '%s'", dir, fe->dest);
        rc = spawn(fe, argv, dir, NULL);
    } else if (type == CM_ARCHIVE_ZIP) {
        char *argv[] = {"unzip", "-o", "-q", "-d", dir, fe->dest, NULL};
        fe->child_what = "unzip";
        say(fe, "Extracting with command: unzip -o -q -d '%s' '%s'", dir, fe->dest);
        rc = spawn(fe, argv, dir, NULL);
    } else {
        out = xstrdup(fe->dest);
        out[strlen(out) - 3] = '\0';
        char *argv[] = {"gzip", "-dc", fe->dest, NULL};
        fe->child_what = "gzip";
        say(fe, "Extracting with command: gzip -dc '%s' > '%s'", fe->dest, out);
        rc = spawn(fe, argv, dir, out);
    }
    free(dir);
    free(out);
    if (rc != 0)
        fail(fe, "Failed to start the extractor: %s", strerror(-rc));
}

bool cm_fetcher_reaped(struct cm_fetcher *f, pid_t pid, int status)
{
    char k[24];
    snprintf(k, sizeof k, "%d", (int)pid);
    struct cm_fetch *fe = cm_strmap_remove(&f->children, k);
    if (!fe)
        return false;
    fe->child = 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        say(fe, "Extracted '%s'", fe->dest);
        advance(fe);
    } else if (WIFEXITED(status)) {
        fail(fe, "Failed to extract '%s': %s exited with status %d", fe->dest, fe->child_what,
             WEXITSTATUS(status));
    } else {
        fail(fe, "Failed to extract '%s': %s terminated by signal %d", fe->dest, fe->child_what,
             WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    }
    return true;
}

/* ---- copying in bounded chunks ------------------------------------------------------------- */

static void copy_chunk(struct cm_fetch *fe)
{
    size_t moved = 0;
    while (moved < COPY_CHUNK) {
        ssize_t n = copy_file_range(fe->in_fd, NULL, fe->out_fd, NULL, COPY_CHUNK - moved, 0);
        if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP ||
                      errno == EPERM)) {
            char buf[65536];
            n = read(fe->in_fd, buf, sizeof buf);
            if (n > 0) {
                ssize_t off = 0;
                while (off < n) {
                    ssize_t w = write(fe->out_fd, buf + off, (size_t)(n - off));
                    if (w < 0 && errno == EINTR)
                        continue;
                    if (w < 0) {
                        fail(fe, "Failed to write '%s': %s", fe->target, strerror(errno));
                        return;
                    }
                    off += w;
                }
            }
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fail(fe, "Failed to copy into '%s': %s", fe->target, strerror(errno));
            return;
        }
        if (n == 0) {
            close(fe->in_fd);
            fe->in_fd = -1;
            int rc = close(fe->out_fd);
            fe->out_fd = -1;
            if (rc != 0) {
                fail(fe, "Failed to write '%s': %s", fe->target, strerror(errno));
                return;
            }
            step_fn after = fe->after_copy;
            after(fe);
            return;
        }
        moved += (size_t)n;
    }
    kick(fe, copy_chunk);
}

/* Copies from -> to (into fe->target's role for messages), then runs after. */
static void start_copy(struct cm_fetch *fe, const char *from, const char *to, step_fn after)
{
    /* A local source is read with the user's rights (a framework must not fetch what its
     * user cannot read, e.g. /etc/shadow); a cache entry is the agent's own. The sandbox is
     * written as the user. */
    struct cm_safe_fsids ids;
    bool src_is_user = fe->src && strcmp(from, fe->src) == 0;
    if (src_is_user)
        as_user(fe, &ids);
    fe->in_fd = open(from, O_RDONLY | O_CLOEXEC);
    if (src_is_user)
        as_agent(&ids);
    struct stat st;
    if (fe->in_fd < 0 || fstat(fe->in_fd, &st) != 0) {
        fail(fe, "Failed to open '%s': %s", from, strerror(errno));
        return;
    }
    if (!S_ISREG(st.st_mode)) {
        fail(fe, "'%s' is not a regular file", from);
        return;
    }
    free(fe->target);
    fe->target = xstrdup(to);
    bool to_sandbox = fe->dest && strcmp(to, fe->dest) == 0;
    mode_t mode = (st.st_mode & 0777) | 0600;
    fe->out_fd = to_sandbox ? open_dest(fe, O_WRONLY | O_CREAT | O_TRUNC, mode)
                            : open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fe->out_fd < 0) {
        fail(fe, "Failed to create '%s': %s", to, strerror(errno));
        return;
    }
    fe->after_copy = after;
    kick(fe, copy_chunk);
}

/* ---- cache hand-off -------------------------------------------------------------------------- */

/* The resource is complete at fe->target. */
static void acquired(struct cm_fetch *fe)
{
    if (!fe->key || strcmp(fe->target, fe->dest) == 0) {
        say(fe, "Fetched '%s' to '%s'", fe->uris[fe->idx].value, fe->dest);
        post_process(fe);
        return;
    }
    struct stat st;
    if (stat(fe->target, &st) != 0) {
        fail(fe, "Downloaded file '%s' vanished: %s", fe->target, strerror(errno));
        return;
    }
    char *path = NULL;
    int rc = cm_fetch_cache_insert(fe->f->cache, fe->key, fe->target, (uint64_t)st.st_size, &path);
    if (rc == 0) {
        say(fe, "Stored '%s' in the cache as '%s' (%lld bytes)", fe->uris[fe->idx].value, path,
            (long long)st.st_size);
        fe->cache_path = path;
        free(fe->target);
        fe->target = NULL;
        start_copy(fe, path, fe->dest, post_process);
        return;
    }
    /* Not cacheable (too big, or another fetch cached it meanwhile): the temp file is ours. */
    say(fe, "Not caching '%s': %s", fe->uris[fe->idx].value,
        rc == CM_ETOOBIG ? "larger than the free cache space" : cm_strerror(rc));
    /* Renamed in only when the agent writes as itself: a file of the user's must be created
     * by the user, so with --switch_user it is copied. */
    if (!fe->as_user && rename(fe->target, fe->dest) == 0) {
        post_process(fe);
        return;
    }
    char *temp = fe->target;
    fe->target = NULL;
    start_copy(fe, temp, fe->dest, post_process);
    unlink(temp); /* the open descriptor keeps the data until the copy is done */
    free(temp);
}

/* ---- downloading --------------------------------------------------------------------------- */

static void stall_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cm_fetch *fe = arg;
    char d[32];
    cm_duration_format(fe->f->cfg.stall_timeout, d, sizeof d);
    fail(fe, "Download stalled: no data received for %s", d);
}

static void arm_stall(struct cm_fetch *fe)
{
    double s = fe->f->cfg.stall_timeout;
    if (s <= 0)
        return;
    struct timeval tv = {(time_t)s, (suseconds_t)((s - (time_t)s) * 1e6)};
    evtimer_add(fe->stall_timer, &tv);
}

/* Location may be absolute, scheme-relative or host-relative. */
static char *resolve_location(const char *base, const char *loc)
{
    if (has_prefix_ci(loc, "http://") || has_prefix_ci(loc, "https://"))
        return xstrdup(loc);
    const char *sep = strstr(base, "://");
    if (!sep)
        return NULL;
    if (loc[0] == '/' && loc[1] == '/')
        return xasprintf("%.*s:%s", (int)(sep - base), base, loc);
    const char *host_end = strchr(sep + 3, '/');
    int hlen = host_end ? (int)(host_end - base) : (int)strlen(base);
    if (loc[0] == '/')
        return xasprintf("%.*s%s", hlen, base, loc);
    /* Relative to the base's directory. */
    size_t plen = strcspn(base, "?#");
    const char *slash = NULL;
    for (const char *p = base + hlen; p < base + plen; p++)
        if (*p == '/')
            slash = p;
    if (!slash)
        return xasprintf("%.*s/%s", hlen, base, loc);
    return xasprintf("%.*s%s", (int)(slash - base + 1), base, loc);
}

static int on_headers(void *arg, const struct cm_http_response *resp)
{
    struct cm_fetch *fe = arg;
    fe->status = resp->status;
    if (resp->status >= 300 && resp->status < 400) {
        const char *loc = cm_http_response_header(resp, "Location");
        if (loc && *loc && fe->hops < MAX_REDIRECTS) {
            free(fe->redirect);
            fe->redirect = resolve_location(fe->url, loc);
        }
        return 1;
    }
    return resp->status < 200 || resp->status >= 300;
}

static int on_data(void *arg, const void *data, size_t len)
{
    struct cm_fetch *fe = arg;
    const char *p = data;
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fe->out_fd, p + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            fe->write_errno = errno;
            return 1;
        }
        off += (size_t)w;
    }
    fe->bytes += len;
    arm_stall(fe);
    if (fe->bytes >= fe->next_progress) {
        say(fe, "Downloaded %llu MB of '%s'", (unsigned long long)(fe->bytes >> 20), fe->url);
        fe->next_progress += PROGRESS_EVERY;
    }
    return 0;
}

static void start_call(struct cm_fetch *fe);

static void on_done(void *arg, int err, const char *errmsg, const struct cm_http_response *resp)
{
    (void)resp;
    struct cm_fetch *fe = arg;
    fe->call = NULL;
    evtimer_del(fe->stall_timer);
    if (fe->redirect) {
        fe->hops++;
        free(fe->url);
        fe->url = fe->redirect;
        fe->redirect = NULL;
        say(fe, "Following a redirect to '%s'", fe->url);
        if (ftruncate(fe->out_fd, 0) != 0 || lseek(fe->out_fd, 0, SEEK_SET) != 0) {
            fail(fe, "Failed to truncate '%s': %s", fe->target, strerror(errno));
            return;
        }
        fe->bytes = 0;
        start_call(fe);
        return;
    }
    if (fe->write_errno) {
        fail(fe, "Failed to write '%s': %s", fe->target, strerror(fe->write_errno));
        return;
    }
    if (fe->status >= 300 && fe->status < 400) {
        fail(fe, "Too many redirects or a redirect without Location (HTTP %ld)", fe->status);
        return;
    }
    if (fe->status && (fe->status < 200 || fe->status >= 300)) {
        fail(fe, "HTTP response code %ld from '%s'", fe->status, fe->url);
        return;
    }
    if (err) {
        fail(fe, "%s", errmsg && *errmsg ? errmsg : cm_strerror(err));
        return;
    }
    int rc = close(fe->out_fd);
    fe->out_fd = -1;
    if (rc != 0) {
        fail(fe, "Failed to write '%s': %s", fe->target, strerror(errno));
        return;
    }
    say(fe, "Downloaded %llu bytes from '%s'", (unsigned long long)fe->bytes, fe->url);
    kick(fe, acquired);
}

static void start_call(struct cm_fetch *fe)
{
    fe->status = 0;
    struct cm_http_request_opts o = {
        .method = "GET",
        .url = fe->url,
        .connect_timeout_secs = fe->f->cfg.stall_timeout > 0 ? fe->f->cfg.stall_timeout : 0,
        .on_headers = on_headers,
        .on_data = on_data,
        .on_done = on_done,
        .arg = fe,
        .external = true,
    };
    int rc = cm_http_client_start(fe->f->client, &o, &fe->call);
    if (rc != 0) {
        fe->call = NULL;
        fail(fe, "Failed to start the download: %s", cm_strerror(rc));
        return;
    }
    arm_stall(fe);
}

static void start_download(struct cm_fetch *fe)
{
    bool to_sandbox = strcmp(fe->target, fe->dest) == 0;
    fe->out_fd =
        to_sandbox ? open_dest(fe, O_WRONLY | O_CREAT | O_TRUNC, 0644)
                   : open(fe->target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fe->out_fd < 0) {
        fail(fe, "Failed to create '%s': %s", fe->target, strerror(errno));
        return;
    }
    fe->url = xstrdup(fe->src);
    say(fe, "Downloading '%s' to '%s'", fe->url, fe->target);
    start_call(fe);
}

/* ---- one URI ------------------------------------------------------------------------------- */

static void next_uri(struct cm_fetch *fe)
{
    if (fe->idx >= fe->n) {
        say(fe, "Fetched %zu URI(s) in %.3f secs", fe->n, cm_monotonic_secs() - fe->started);
        finish(fe, 0, NULL);
        return;
    }
    const struct fetch_uri *u = &fe->uris[fe->idx];
    char why[512];
    say(fe, "Fetching URI '%s'", u->value);
    if (cm_fetcher_resolve_uri(u->value, fe->f->frameworks_home, &fe->source, &fe->src, why,
                               sizeof why) != 0) {
        fail(fe, "%s", why);
        return;
    }
    char *name = NULL;
    if (u->output_file) {
        if (cm_fetcher_validate_output_file(u->output_file, why, sizeof why) != 0) {
            fail(fe, "%s", why);
            return;
        }
        name = xstrdup(u->output_file);
    } else if (cm_fetcher_basename(u->value, &name, why, sizeof why) != 0) {
        fail(fe, "%s", why);
        return;
    }
    fe->dest = xasprintf("%s/%s", fe->sandbox, name);
    fe->rel = name;
    /* output_file may name subdirectories: they are made beneath the sandbox's descriptor,
     * as the task's user, entering none that is a symlink, so an earlier URI (an archive)
     * cannot plant a link that leads the file out of the sandbox. */
    char *dir_rel = NULL, *base = NULL;
    int rc = cm_safe_split(fe->rel, &dir_rel, &base);
    if (rc == 0) {
        struct cm_safe_fsids ids;
        as_user(fe, &ids);
        int rfd = -1;
        rc = cm_safe_open_root(fe->sandbox, &rfd);
        if (rc == 0) {
            rc = cm_safe_mkdirs_at(rfd, dir_rel, 0755, NULL);
            close(rfd);
        }
        as_agent(&ids);
    }
    free(dir_rel);
    free(base);
    if (rc == -ELOOP) {
        fail(fe, "'%s' leads outside of the sandbox (through a symbolic link)", fe->dest);
        return;
    }
    if (rc != 0) {
        fail(fe, "Failed to create the directory of '%s': %s", fe->dest, cm_strerror(rc));
        return;
    }

    if (u->cache) {
        fe->key = xasprintf("%s\n%s", fe->user ? fe->user : "", u->value);
        char *hit = cm_fetch_cache_acquire(fe->f->cache, fe->key);
        if (hit) {
            say(fe, "Using the cached copy '%s' of '%s'", hit, u->value);
            fe->cache_path = hit;
            start_copy(fe, hit, fe->dest, post_process);
            return;
        }
        fe->target = cm_fetch_cache_temp_path(fe->f->cache);
    } else {
        fe->target = xstrdup(fe->dest);
    }
    if (fe->source == CM_FETCH_HTTP) {
        start_download(fe);
        return;
    }
    say(fe, "Copying '%s' to '%s'", fe->src, fe->target);
    char *src = xstrdup(fe->src);
    char *to = xstrdup(fe->target);
    start_copy(fe, src, to, acquired);
    free(src);
    free(to);
}

static void total_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cm_fetch *fe = arg;
    char d[32];
    cm_duration_format(fe->f->cfg.total_timeout, d, sizeof d);
    fail(fe, "Timed out after %s", d);
}

struct cm_fetch *cm_fetcher_fetch(struct cm_fetcher *f, Mesos__V1__CommandInfo__URI *const *uris,
                                  size_t n, const char *sandbox, const char *user,
                                  cm_fetch_done_cb done, void *arg)
{
    return cm_fetcher_fetch_as(f, uris, n, sandbox, user, NULL, done, arg);
}

struct cm_fetch *cm_fetcher_fetch_as(struct cm_fetcher *f, Mesos__V1__CommandInfo__URI *const *uris,
                                     size_t n, const char *sandbox, const char *user,
                                     const struct cm_user *owner, cm_fetch_done_cb done, void *arg)
{
    struct cm_fetch *fe = calloc(1, sizeof *fe);
    if (!fe)
        abort();
    fe->f = f;
    fe->in_fd = fe->out_fd = -1;
    fe->uris = calloc(n ? n : 1, sizeof *fe->uris);
    if (!fe->uris)
        abort();
    fe->n = n;
    for (size_t i = 0; i < n; i++) {
        const Mesos__V1__CommandInfo__URI *u = uris[i];
        fe->uris[i].value = xstrdup(u->value);
        fe->uris[i].output_file = u->output_file ? xstrdup(u->output_file) : NULL;
        fe->uris[i].executable = u->has_executable && u->executable;
        fe->uris[i].extract = !u->has_extract || u->extract; /* default true */
        fe->uris[i].cache = u->has_cache && u->cache;
    }
    fe->sandbox = xstrdup(sandbox);
    fe->user = user ? xstrdup(user) : NULL;
    fe->done = done;
    fe->arg = arg;
    fe->next_progress = PROGRESS_EVERY;
    fe->started = cm_monotonic_secs();
    if (owner) {
        fe->as_user = true;
        fe->owner.name = xstrdup(owner->name);
        fe->owner.uid = owner->uid;
        fe->owner.gid = owner->gid;
        fe->owner.ngroups = owner->ngroups;
        fe->owner.groups = calloc(owner->ngroups ? owner->ngroups : 1, sizeof(gid_t));
        if (!fe->owner.groups)
            abort();
        if (owner->ngroups)
            memcpy(fe->owner.groups, owner->groups, owner->ngroups * sizeof(gid_t));
    }
    char *err_path = xasprintf("%s/stderr", sandbox);
    struct cm_safe_fsids ids;
    as_user(fe, &ids);
    fe->err_fd = open(err_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644);
    as_agent(&ids);
    free(err_path);
    fe->kick = event_new(f->base, -1, 0, kick_cb, fe);
    fe->stall_timer = evtimer_new(f->base, stall_cb, fe);
    fe->total_timer = evtimer_new(f->base, total_cb, fe);
    if (!fe->kick || !fe->stall_timer || !fe->total_timer)
        abort();
    if (f->cfg.total_timeout > 0) {
        double t = f->cfg.total_timeout;
        struct timeval tv = {(time_t)t, (suseconds_t)((t - (time_t)t) * 1e6)};
        evtimer_add(fe->total_timer, &tv);
    }
    fe->next = f->fetches;
    if (fe->next)
        fe->next->prev = fe;
    f->fetches = fe;
    kick(fe, next_uri);
    return fe;
}

void cm_fetch_cancel(struct cm_fetch *fe)
{
    if (!fe)
        return;
    say(fe, "Fetch cancelled");
    fetch_free(fe);
}

/* ---- fetcher ------------------------------------------------------------------------------- */

int cm_fetcher_new(struct event_base *base, struct cm_http_client *client,
                   const struct cm_fetcher_config *cfg, struct cm_fetcher **out, char *why,
                   size_t whylen)
{
    *out = NULL;
    if (!cfg->cache_dir || !*cfg->cache_dir)
        return cm_fail(CM_EINVAL, why, whylen, "Flag 'fetcher_cache_dir' is empty");
    if (cfg->frameworks_home && *cfg->frameworks_home && cfg->frameworks_home[0] != '/')
        return cm_fail(CM_EINVAL, why, whylen, "Flag 'frameworks_home' must be an absolute path");
    struct cm_fetcher *f = calloc(1, sizeof *f);
    if (!f)
        abort();
    f->base = base;
    f->client = client;
    f->cfg = *cfg;
    f->frameworks_home =
        cfg->frameworks_home && *cfg->frameworks_home ? xstrdup(cfg->frameworks_home) : NULL;
    f->cfg.frameworks_home = f->frameworks_home;
    f->cfg.cache_dir = NULL;
    cm_strmap_init(&f->children);
    int rc = cm_fetch_cache_new(cfg->cache_dir, cfg->cache_size, &f->cache);
    if (rc != 0) {
        cm_fetcher_free(f);
        return cm_fail(rc, why, whylen, "Failed to prepare the fetcher cache '%s': %s",
                       cfg->cache_dir, cm_strerror(rc));
    }
    *out = f;
    return 0;
}

void cm_fetcher_free(struct cm_fetcher *f)
{
    if (!f)
        return;
    while (f->fetches) {
        struct cm_fetch *fe = f->fetches;
        pid_t child = fe->child;
        fetch_free(fe); /* kills the child's group */
        if (child > 0)
            waitpid(child, NULL, 0);
    }
    cm_strmap_cleanup(&f->children);
    cm_fetch_cache_free(f->cache);
    free(f->frameworks_home);
    free(f);
}

const struct cm_fetcher_metrics *cm_fetcher_metrics(const struct cm_fetcher *f)
{
    return &f->metrics;
}

uint64_t cm_fetcher_cache_total_bytes(const struct cm_fetcher *f)
{
    return cm_fetch_cache_capacity(f->cache);
}

uint64_t cm_fetcher_cache_used_bytes(const struct cm_fetcher *f)
{
    return cm_fetch_cache_used(f->cache);
}
