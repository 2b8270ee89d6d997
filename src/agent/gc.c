/*
 * gc.c: scheduled removal of finished sandboxes, with disk-pressure pruning.
 */
#include "gc.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "offload.h"
#include "strmap.h"

#define MOD "gc"

struct gc_entry {
    char *path;
    double when;
    size_t heap_index;
};

struct cm_gc {
    struct event_base *base;
    const struct cm_clock *clock;
    struct cm_gc_config cfg;
    char *work_dir;
    struct gc_entry **heap; /* min-heap by when */
    size_t n, cap;
    struct cm_strmap by_path; /* path -> struct gc_entry */
    struct event *timer;
    struct event *disk_timer;
    struct cm_gc_metrics metrics;
    struct removal *removing; /* removals running in children */
};

/* The paths that came due together, removed by one child: one fork per prune, not per path
 * (a disk-pressure prune may free hundreds at once). The child writes each path's result into
 * a shared page; the entries stay allocated until it exits. */
struct removal {
    struct cm_gc *gc;
    struct gc_entry **entries;
    size_t n;
    int *results; /* MAP_SHARED, n ints */
    size_t map_len;
    struct cm_offload *job;
    struct removal *next, **pprev;
};

static void removal_free(struct removal *r);

/* ---- heap ---------------------------------------------------------------------------------- */

static void heap_swap(struct cm_gc *gc, size_t i, size_t j)
{
    struct gc_entry *t = gc->heap[i];
    gc->heap[i] = gc->heap[j];
    gc->heap[j] = t;
    gc->heap[i]->heap_index = i;
    gc->heap[j]->heap_index = j;
}

static void heap_up(struct cm_gc *gc, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (gc->heap[p]->when <= gc->heap[i]->when)
            break;
        heap_swap(gc, i, p);
        i = p;
    }
}

static void heap_down(struct cm_gc *gc, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < gc->n && gc->heap[l]->when < gc->heap[m]->when)
            m = l;
        if (r < gc->n && gc->heap[r]->when < gc->heap[m]->when)
            m = r;
        if (m == i)
            break;
        heap_swap(gc, i, m);
        i = m;
    }
}

static void heap_remove(struct cm_gc *gc, struct gc_entry *e)
{
    size_t i = e->heap_index;
    gc->n--;
    if (i != gc->n) {
        gc->heap[i] = gc->heap[gc->n];
        gc->heap[i]->heap_index = i;
        heap_down(gc, i);
        heap_up(gc, i);
    }
}

static void entry_free(struct gc_entry *e)
{
    if (!e)
        return;
    free(e->path);
    free(e);
}

/* ---- timers -------------------------------------------------------------------------------- */

static void arm(struct cm_gc *gc)
{
    if (!gc->timer)
        return;
    evtimer_del(gc->timer);
    if (gc->n == 0)
        return;
    double d = gc->heap[0]->when - cm_clock_now(gc->clock);
    if (d < 0)
        d = 0;
    /* Cap the wait so a clock step (or a week-long delay) is re-checked now and then. */
    if (d > 3600)
        d = 3600;
    struct timeval tv = {(time_t)d, (suseconds_t)((d - (time_t)d) * 1e6)};
    evtimer_add(gc->timer, &tv);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cm_gc *gc = arg;
    cm_gc_run(gc);
    arm(gc);
}

static void disk_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    cm_gc_check_disk(arg);
}

/* ---- API ----------------------------------------------------------------------------------- */

struct cm_gc *cm_gc_new(struct event_base *base, const struct cm_clock *clock,
                        const struct cm_gc_config *cfg)
{
    struct cm_gc *gc = calloc(1, sizeof *gc);
    if (!gc)
        abort();
    gc->base = base;
    gc->clock = clock;
    gc->cfg = *cfg;
    gc->work_dir = strdup(cfg->work_dir ? cfg->work_dir : "/");
    if (!gc->work_dir)
        abort();
    gc->cfg.work_dir = gc->work_dir;
    if (!gc->cfg.usage)
        gc->cfg.usage = cm_gc_statvfs_usage;
    cm_strmap_init(&gc->by_path);
    if (base) {
        gc->timer = evtimer_new(base, timer_cb, gc);
        if (cfg->disk_watch_interval > 0) {
            gc->disk_timer = event_new(base, -1, EV_PERSIST, disk_cb, gc);
            double d = cfg->disk_watch_interval;
            struct timeval tv = {(time_t)d, (suseconds_t)((d - (time_t)d) * 1e6)};
            event_add(gc->disk_timer, &tv);
        }
    }
    return gc;
}

void cm_gc_free(struct cm_gc *gc)
{
    if (!gc)
        return;
    for (size_t i = 0; i < gc->n; i++)
        entry_free(gc->heap[i]);
    /* Children still removing finish on their own; nobody hears their result. */
    while (gc->removing) {
        struct removal *r = gc->removing;
        gc->removing = r->next;
        cm_offload_cancel(r->job);
        removal_free(r);
    }
    free(gc->heap);
    cm_strmap_cleanup(&gc->by_path);
    if (gc->timer)
        event_free(gc->timer);
    if (gc->disk_timer)
        event_free(gc->disk_timer);
    free(gc->work_dir);
    free(gc);
}

void cm_gc_schedule(struct cm_gc *gc, double delay, const char *path)
{
    double when = cm_clock_now(gc->clock) + (delay > 0 ? delay : 0);
    struct gc_entry *e = cm_strmap_get(&gc->by_path, path);
    if (e) {
        e->when = when;
        heap_down(gc, e->heap_index);
        heap_up(gc, e->heap_index);
    } else {
        e = calloc(1, sizeof *e);
        if (!e)
            abort();
        e->path = strdup(path);
        if (!e->path)
            abort();
        e->when = when;
        if (gc->n == gc->cap) {
            gc->cap = gc->cap ? gc->cap * 2 : 16;
            gc->heap = realloc(gc->heap, gc->cap * sizeof *gc->heap);
            if (!gc->heap)
                abort();
        }
        e->heap_index = gc->n;
        gc->heap[gc->n++] = e;
        heap_up(gc, e->heap_index);
        cm_strmap_put(&gc->by_path, e->path, e);
    }
    CM_INFO(MOD, "Scheduling '%s' for removal in %.0f secs", path, delay);
    arm(gc);
}

bool cm_gc_unschedule(struct cm_gc *gc, const char *path)
{
    struct gc_entry *e = cm_strmap_remove(&gc->by_path, path);
    if (!e)
        return false;
    heap_remove(gc, e);
    CM_INFO(MOD, "Unscheduled the removal of '%s'", path);
    entry_free(e);
    arm(gc);
    return true;
}

/* ---- removal ------------------------------------------------------------------------------- */

/* Deep enough for any sandbox; each level holds one directory descriptor. */
#define MAX_DEPTH 256

/* Removes name beneath the directory dirfd. Nothing is ever resolved through a symlink: the
 * entry is examined with AT_SYMLINK_NOFOLLOW, directories are opened with O_NOFOLLOW beneath
 * their parent's descriptor, and a symlink is unlinked as itself. A directory on another
 * file system (a mount inside the sandbox) is left alone, so its rmdir fails with EBUSY. */
static int remove_at(int dirfd, const char *name, dev_t dev, int depth)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISDIR(st.st_mode))
        return unlinkat(dirfd, name, 0) == 0 || errno == ENOENT ? 0 : -errno;
    if (st.st_dev != dev)
        return -EXDEV;
    if (depth >= MAX_DEPTH)
        return -ELOOP;
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        int err = -errno;
        close(fd);
        return err;
    }
    int first = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        int rc = remove_at(fd, de->d_name, dev, depth + 1);
        if (rc && !first)
            first = rc;
    }
    closedir(d);
    if (unlinkat(dirfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT && !first)
        first = -errno;
    return first;
}

int cm_gc_remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -errno;
    /* The parent is the agent's own work directory: resolve it normally, then never again. */
    char *copy = strdup(path);
    if (!copy)
        abort();
    size_t len = strlen(copy);
    while (len > 1 && copy[len - 1] == '/')
        copy[--len] = '\0';
    char *slash = strrchr(copy, '/');
    const char *name = copy, *parent = ".";
    if (slash == copy) {
        parent = "/";
        name = copy + 1;
    } else if (slash) {
        *slash = '\0';
        parent = copy;
        name = slash + 1;
    }
    int rc;
    int dirfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        rc = -errno;
    } else {
        rc = remove_at(dirfd, name, st.st_dev, 0);
        close(dirfd);
    }
    free(copy);
    return rc;
}

static void removal_done(struct cm_gc *gc, const char *path, int rc)
{
    if (rc == 0) {
        gc->metrics.path_removals_succeeded++;
        CM_INFO(MOD, "Deleted '%s'", path);
    } else {
        gc->metrics.path_removals_failed++;
        CM_WARN(MOD, "Failed to delete '%s': %s", path, strerror(-rc));
    }
}

static void removal_free(struct removal *r)
{
    for (size_t i = 0; i < r->n; i++)
        entry_free(r->entries[i]);
    free(r->entries);
    if (r->results)
        munmap(r->results, r->map_len);
    free(r);
}

static int remove_in_child(void *arg)
{
    struct removal *r = arg;
    for (size_t i = 0; i < r->n; i++)
        r->results[i] = cm_gc_remove_tree(r->entries[i]->path);
    return 0;
}

static void removal_finished(void *arg, int rc)
{
    struct removal *r = arg;
    for (size_t i = 0; i < r->n; i++)
        removal_done(r->gc, r->entries[i]->path, rc ? rc : r->results[i]);
    *r->pprev = r->next;
    if (r->next)
        r->next->pprev = r->pprev;
    removal_free(r);
}

/* Removes the entries (taken out of the schedule): in a child when there is a loop to hear
 * back on, so a large sandbox never stalls it; in place for loop-less unit tests, or if the
 * child cannot be started. Takes ownership of entries. */
static void remove_entries(struct cm_gc *gc, struct gc_entry **entries, size_t n)
{
    struct removal *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    r->gc = gc;
    r->entries = entries;
    r->n = n;
    if (gc->base) {
        r->map_len = n * sizeof *r->results;
        r->results =
            mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (r->results == MAP_FAILED) {
            r->results = NULL;
        } else {
            /* What a child that died half-way reports for the paths it did not get to. */
            for (size_t i = 0; i < n; i++)
                r->results[i] = -ECHILD;
            int rc = cm_offload_start(gc->base, remove_in_child, r, removal_finished, r, &r->job);
            if (rc == 0) {
                r->next = gc->removing;
                if (r->next)
                    r->next->pprev = &r->next;
                r->pprev = &gc->removing;
                gc->removing = r;
                return;
            }
            CM_WARN(MOD, "Failed to start a child to delete %zu path(s) (%s); deleting in place", n,
                    strerror(-rc));
        }
    }
    for (size_t i = 0; i < n; i++)
        removal_done(gc, entries[i]->path, cm_gc_remove_tree(entries[i]->path));
    removal_free(r);
}

size_t cm_gc_prune(struct cm_gc *gc, double d)
{
    double now = cm_clock_now(gc->clock);
    size_t removed = 0, cap = 0;
    struct gc_entry **due = NULL;
    while (gc->n > 0 && gc->heap[0]->when - now <= d) {
        struct gc_entry *e = gc->heap[0];
        heap_remove(gc, e);
        cm_strmap_remove(&gc->by_path, e->path);
        if (removed == cap) {
            cap = cap ? cap * 2 : 8;
            due = realloc(due, cap * sizeof *due);
            if (!due)
                abort();
        }
        due[removed++] = e;
    }
    if (removed) {
        remove_entries(gc, due, removed);
        arm(gc);
    }
    return removed;
}

size_t cm_gc_run(struct cm_gc *gc)
{
    return cm_gc_prune(gc, 0);
}

double cm_gc_max_age(double delay, double headroom, double usage)
{
    double f = 1.0 - headroom - usage;
    return delay * (f > 0 ? f : 0);
}

double cm_gc_statvfs_usage(void *arg, const char *path)
{
    (void)arg;
    struct statvfs sv;
    if (statvfs(path, &sv) != 0 || sv.f_blocks == 0)
        return -1;
    return 1.0 - (double)sv.f_bavail / (double)sv.f_blocks;
}

size_t cm_gc_check_disk(struct cm_gc *gc)
{
    double usage = gc->cfg.usage(gc->cfg.usage_arg, gc->work_dir);
    if (usage < 0) {
        CM_WARN(MOD, "Failed to measure the disk usage of '%s'", gc->work_dir);
        return 0;
    }
    double age = cm_gc_max_age(gc->cfg.delay, gc->cfg.headroom, usage);
    size_t n = cm_gc_prune(gc, gc->cfg.delay - age);
    if (n)
        CM_INFO(MOD,
                "Disk usage is %.2f%%: pruned %zu path(s) older than %.0f secs (max allowed age)",
                usage * 100, n, age);
    return n;
}

size_t cm_gc_pending(const struct cm_gc *gc)
{
    return gc->n;
}

double cm_gc_removal_time(const struct cm_gc *gc, const char *path)
{
    const struct gc_entry *e = cm_strmap_get(&gc->by_path, path);
    return e ? e->when : -1;
}

const struct cm_gc_metrics *cm_gc_metrics(const struct cm_gc *gc)
{
    return &gc->metrics;
}
