/*
 * disk.c: sandbox disk usage, measured in a child, enforced on the loop (contract in disk.h).
 */
#include "disk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "offload.h"
#include "strmap.h"

struct watched {
    char *sandbox;
    uint64_t limit;
    uint64_t used;
    bool exceeded;
};

/* One measurement: a snapshot of what is watched, and the shared results. */
struct job {
    struct cm_disk_watch *w;
    size_t n;
    char **ids;
    char **paths;
    struct result *results; /* MAP_SHARED: written by the child, read on done */
    size_t map_len;
    struct cm_offload *offload;
};

struct result {
    uint64_t bytes;
    int err;
    int done;
};

struct cm_disk_watch {
    struct event_base *base;
    double interval;
    bool enforce;
    cm_disk_exceeded_fn exceeded;
    void *arg;
    struct cm_strmap map; /* container id -> struct watched */
    struct event *timer;
    struct job *job; /* in flight */
    uint64_t rounds;
};

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

/* ---- the walk (runs in the child) ----------------------------------------------------------- */

/* (dev, ino) of files with several links already counted: open addressing, grows. */
struct seen {
    struct {
        dev_t dev;
        ino_t ino;
        bool used;
    } * slots;
    size_t cap, n;
};

static bool seen_add(struct seen *s, dev_t dev, ino_t ino)
{
    if ((s->n + 1) * 2 > s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 256;
        struct seen ns = {calloc(ncap, sizeof *s->slots), ncap, 0};
        if (!ns.slots)
            abort();
        for (size_t i = 0; i < s->cap; i++)
            if (s->slots[i].used)
                seen_add(&ns, s->slots[i].dev, s->slots[i].ino);
        free(s->slots);
        *s = ns;
    }
    size_t h = (size_t)((ino * 0x9E3779B97F4A7C15ull) ^ (uint64_t)dev) & (s->cap - 1);
    while (s->slots[h].used) {
        if (s->slots[h].dev == dev && s->slots[h].ino == ino)
            return false;
        h = (h + 1) & (s->cap - 1);
    }
    s->slots[h].used = true;
    s->slots[h].dev = dev;
    s->slots[h].ino = ino;
    s->n++;
    return true;
}

/* Adds the usage of directory fd (owned: closed here) to *bytes. */
static int walk_dir(int fd, dev_t dev, struct seen *seen, uint64_t *bytes)
{
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = -errno;
        close(fd);
        return e;
    }
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno != ENOENT && !rc)
                rc = -errno;
            continue;
        }
        if (st.st_dev != dev)
            continue; /* a mount inside the sandbox is not the sandbox's disk */
        if (!S_ISDIR(st.st_mode) && st.st_nlink > 1 && !seen_add(seen, st.st_dev, st.st_ino))
            continue;
        *bytes += (uint64_t)st.st_blocks * 512;
        if (S_ISDIR(st.st_mode)) {
            int sub = openat(dirfd(d), de->d_name,
                             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
            if (sub < 0) {
                if (errno != ENOENT && !rc)
                    rc = -errno;
                continue;
            }
            int r = walk_dir(sub, dev, seen, bytes);
            if (r && !rc)
                rc = r;
        }
    }
    closedir(d);
    return rc;
}

int cm_disk_usage(const char *path, uint64_t *bytes)
{
    *bytes = 0;
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    *bytes = (uint64_t)st.st_blocks * 512;
    struct seen seen = {NULL, 0, 0};
    int rc = walk_dir(fd, st.st_dev, &seen, bytes);
    free(seen.slots);
    return rc;
}

static int measure_child(void *arg)
{
    struct job *j = arg;
    for (size_t i = 0; i < j->n; i++) {
        uint64_t b = 0;
        j->results[i].err = cm_disk_usage(j->paths[i], &b);
        j->results[i].bytes = b;
        j->results[i].done = 1;
    }
    return 0;
}

/* ---- the watch (on the loop) ---------------------------------------------------------------- */

static void job_free(struct job *j)
{
    if (!j)
        return;
    for (size_t i = 0; i < j->n; i++) {
        free(j->ids[i]);
        free(j->paths[i]);
    }
    free(j->ids);
    free(j->paths);
    if (j->results)
        munmap(j->results, j->map_len);
    free(j);
}

static void format_bytes(uint64_t b, char *out, size_t len)
{
    double mb = (double)b / (1024.0 * 1024.0);
    if (b % (1024 * 1024) == 0)
        snprintf(out, len, "%lluMB", (unsigned long long)(b / (1024 * 1024)));
    else
        snprintf(out, len, "%.1fMB", mb);
}

static void measured(void *arg, int result)
{
    (void)result;
    struct job *j = arg;
    struct cm_disk_watch *w = j->w;
    w->job = NULL;
    w->rounds++;
    for (size_t i = 0; i < j->n; i++) {
        struct watched *x = cm_strmap_get(&w->map, j->ids[i]);
        /* Gone, or re-added for another sandbox, while measuring. */
        if (!x || strcmp(x->sandbox, j->paths[i]) != 0 || !j->results[i].done)
            continue;
        x->used = j->results[i].bytes;
        if (w->enforce && x->limit > 0 && x->used > x->limit && !x->exceeded) {
            x->exceeded = true;
            if (w->exceeded)
                w->exceeded(w->arg, j->ids[i], x->used, x->limit);
        }
    }
    job_free(j);
}

int cm_disk_watch_measure_now(struct cm_disk_watch *w)
{
    if (w->job)
        return -EBUSY;
    size_t n = cm_strmap_count(&w->map);
    if (n == 0)
        return 0;
    struct job *j = calloc(1, sizeof *j);
    if (!j)
        abort();
    j->w = w;
    j->ids = calloc(n, sizeof *j->ids);
    j->paths = calloc(n, sizeof *j->paths);
    if (!j->ids || !j->paths)
        abort();
    struct cm_strmap_iter it;
    cm_strmap_iter_init(&it, &w->map);
    const char *key;
    struct watched *x;
    while ((x = cm_strmap_iter_value(&it, &key)) && j->n < n) {
        j->ids[j->n] = xstrdup(key);
        j->paths[j->n] = xstrdup(x->sandbox);
        j->n++;
    }
    j->map_len = n * sizeof *j->results;
    void *m = mmap(NULL, j->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        int e = -errno;
        j->results = NULL;
        job_free(j);
        return e;
    }
    j->results = m;
    int rc = cm_offload_start(w->base, measure_child, j, measured, j, &j->offload);
    if (rc != 0) {
        job_free(j);
        return rc;
    }
    w->job = j;
    return 0;
}

static void arm(struct cm_disk_watch *w)
{
    double t = w->interval;
    struct timeval tv = {(time_t)t, (suseconds_t)((t - (time_t)t) * 1e6)};
    evtimer_add(w->timer, &tv);
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cm_disk_watch *w = arg;
    if (!w->job)
        cm_disk_watch_measure_now(w);
    arm(w);
}

struct cm_disk_watch *cm_disk_watch_new(struct event_base *base, double interval, bool enforce,
                                        cm_disk_exceeded_fn exceeded, void *arg)
{
    struct cm_disk_watch *w = calloc(1, sizeof *w);
    if (!w)
        abort();
    w->base = base;
    w->interval = interval > 0 ? interval : 5;
    w->enforce = enforce;
    w->exceeded = exceeded;
    w->arg = arg;
    cm_strmap_init(&w->map);
    if (base) {
        w->timer = evtimer_new(base, tick, w);
        if (!w->timer)
            abort();
        arm(w);
    }
    return w;
}

static void watched_free(void *p)
{
    struct watched *x = p;
    if (!x)
        return;
    free(x->sandbox);
    free(x);
}

void cm_disk_watch_free(struct cm_disk_watch *w)
{
    if (!w)
        return;
    if (w->timer)
        event_free(w->timer);
    if (w->job) {
        cm_offload_cancel(w->job->offload);
        job_free(w->job);
    }
    cm_strmap_cleanup_values(&w->map, watched_free);
    free(w);
}

void cm_disk_watch_add(struct cm_disk_watch *w, const char *container_id, const char *sandbox,
                       uint64_t limit_bytes)
{
    struct watched *x = calloc(1, sizeof *x);
    if (!x)
        abort();
    x->sandbox = xstrdup(sandbox);
    x->limit = limit_bytes;
    watched_free(cm_strmap_put(&w->map, container_id, x));
}

void cm_disk_watch_remove(struct cm_disk_watch *w, const char *container_id)
{
    watched_free(cm_strmap_remove(&w->map, container_id));
}

int cm_disk_watch_usage(const struct cm_disk_watch *w, const char *container_id, uint64_t *used,
                        uint64_t *limit)
{
    const struct watched *x = cm_strmap_get(&w->map, container_id);
    if (!x)
        return -1;
    *used = x->used;
    *limit = x->limit;
    return 0;
}

bool cm_disk_watch_exceeded(const struct cm_disk_watch *w, const char *container_id, char *message,
                            size_t len)
{
    const struct watched *x = cm_strmap_get(&w->map, container_id);
    if (!x || !x->exceeded)
        return false;
    char u[32], l[32];
    format_bytes(x->used, u, sizeof u);
    format_bytes(x->limit, l, sizeof l);
    snprintf(message, len, "Disk usage (%s) exceeds quota (%s)", u, l);
    return true;
}

uint64_t cm_disk_watch_rounds(const struct cm_disk_watch *w)
{
    return w->rounds;
}
