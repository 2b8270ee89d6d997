/*
 * fetch_cache.c: the fetcher's size-bounded LRU cache of downloaded files (contract in
 * fetcher.h, cm_fetch_cache_*).
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "fetcher.h"
#include "log.h"
#include "paths.h"
#include "strmap.h"

#define MOD "fetcher"

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *out = NULL;
    int n = vasprintf(&out, fmt, ap);
    va_end(ap);
    if (n < 0)
        abort();
    return out;
}

/* ---- cache --------------------------------------------------------------------------------- */

struct cache_entry {
    char *key;
    char *path;
    uint64_t size;
    int refs;
    struct cache_entry *prev, *next; /* LRU: head is the most recently used */
};

struct cm_fetch_cache {
    char *dir;
    uint64_t capacity, used, seq;
    struct cm_strmap map; /* key -> struct cache_entry */
    struct cache_entry *head, *tail;
};

static void lru_unlink(struct cm_fetch_cache *c, struct cache_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push_front(struct cm_fetch_cache *c, struct cache_entry *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
}

int cm_fetch_cache_new(const char *dir, uint64_t capacity, struct cm_fetch_cache **out)
{
    *out = NULL;
    int rc = cm_paths_mkdirs(dir, 0755);
    if (rc != 0)
        return rc;
    /* Entries of an earlier run are not indexed any more: remove them (Mesos clears its cache
     * on start too). Only our own file names, in case the directory is shared. */
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, "c-", 2) != 0 && strncmp(de->d_name, "tmp-", 4) != 0)
            continue;
        char *p = xasprintf("%s/%s", dir, de->d_name);
        unlink(p);
        free(p);
    }
    closedir(d);
    struct cm_fetch_cache *c = calloc(1, sizeof *c);
    if (!c)
        abort();
    c->dir = xstrdup(dir);
    c->capacity = capacity;
    cm_strmap_init(&c->map);
    *out = c;
    return 0;
}

void cm_fetch_cache_free(struct cm_fetch_cache *c)
{
    if (!c)
        return;
    struct cache_entry *e = c->head;
    while (e) {
        struct cache_entry *n = e->next;
        free(e->key);
        free(e->path);
        free(e);
        e = n;
    }
    cm_strmap_cleanup(&c->map);
    free(c->dir);
    free(c);
}

char *cm_fetch_cache_acquire(struct cm_fetch_cache *c, const char *key)
{
    struct cache_entry *e = cm_strmap_get(&c->map, key);
    if (!e)
        return NULL;
    struct stat st;
    if (stat(e->path, &st) != 0) {
        /* Someone removed the file behind our back: forget the entry, treat as a miss. */
        if (e->refs == 0) {
            cm_strmap_remove(&c->map, key);
            lru_unlink(c, e);
            c->used -= e->size;
            free(e->key);
            free(e->path);
            free(e);
        }
        return NULL;
    }
    e->refs++;
    lru_unlink(c, e);
    lru_push_front(c, e);
    return xstrdup(e->path);
}

void cm_fetch_cache_release(struct cm_fetch_cache *c, const char *key)
{
    struct cache_entry *e = cm_strmap_get(&c->map, key);
    if (e && e->refs > 0)
        e->refs--;
}

char *cm_fetch_cache_temp_path(struct cm_fetch_cache *c)
{
    return xasprintf("%s/tmp-%d-%llu", c->dir, (int)getpid(), (unsigned long long)++c->seq);
}

int cm_fetch_cache_insert(struct cm_fetch_cache *c, const char *key, const char *temp,
                          uint64_t size, char **path)
{
    *path = NULL;
    if (cm_strmap_get(&c->map, key))
        return CM_EEXIST;
    if (size > c->capacity)
        return CM_ETOOBIG;
    /* Is there enough evictable space? Check before evicting anything. */
    uint64_t freeable = c->capacity - c->used;
    for (struct cache_entry *e = c->tail; e && freeable < size; e = e->prev)
        if (e->refs == 0)
            freeable += e->size;
    if (freeable < size)
        return CM_ETOOBIG;
    struct cache_entry *e = c->tail;
    while (e && c->capacity - c->used < size) {
        struct cache_entry *prev = e->prev;
        if (e->refs == 0) {
            CM_INFO(MOD, "Evicting cache entry '%s' (%llu bytes)", e->path,
                    (unsigned long long)e->size);
            unlink(e->path);
            cm_strmap_remove(&c->map, e->key);
            lru_unlink(c, e);
            c->used -= e->size;
            free(e->key);
            free(e->path);
            free(e);
        }
        e = prev;
    }
    char *final = xasprintf("%s/c-%llu", c->dir, (unsigned long long)++c->seq);
    if (rename(temp, final) != 0) {
        int err = -errno;
        free(final);
        return err;
    }
    e = calloc(1, sizeof *e);
    if (!e)
        abort();
    e->key = xstrdup(key);
    e->path = final;
    e->size = size;
    e->refs = 1;
    lru_push_front(c, e);
    cm_strmap_put(&c->map, key, e);
    c->used += size;
    *path = xstrdup(final);
    return 0;
}

uint64_t cm_fetch_cache_used(const struct cm_fetch_cache *c)
{
    return c->used;
}

uint64_t cm_fetch_cache_capacity(const struct cm_fetch_cache *c)
{
    return c->capacity;
}

size_t cm_fetch_cache_count(const struct cm_fetch_cache *c)
{
    return cm_strmap_count(&c->map);
}

bool cm_fetch_cache_contains(const struct cm_fetch_cache *c, const char *key)
{
    return cm_strmap_get(&c->map, key) != NULL;
}
