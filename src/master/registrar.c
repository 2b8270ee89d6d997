/* registrar.c: see registrar.h. */
#include "registrar.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "clock.h"
#include "codec.h"
#include "cmesos/registry.pb-c.h"
#include "errors.h"
#include "log.h"
#include "pbjson.h"
#include "util.h"
#include "zk.h"

#define MOD "registrar"

/* ------------------------------------------------------------------------------------------ */
/* the framed file format: "CMREGSTR" | u32 format | u64 length | u32 crc32 | payload (LE) */

#define REG_MAGIC "CMREGSTR"
#define REG_FORMAT 1u
#define REG_HDR 24
#define REG_MAX_BYTES (512u * 1024u * 1024u) /* refuse absurd lengths instead of allocating */

static uint32_t crc32_of(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int cm_registry_file_write(const char *path, const uint8_t *data, size_t len, char *why,
                           size_t whylen)
{
    char *tmp = cm_xasprintf("%s.tmp", path);
    char *dircopy = cm_xstrdup(path);
    uint8_t hdr[REG_HDR];
    memcpy(hdr, REG_MAGIC, 8);
    put_le(hdr + 8, REG_FORMAT, 4);
    put_le(hdr + 12, len, 8);
    put_le(hdr + 20, crc32_of(data, len), 4);
    int rc = 0, dfd = -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = -errno;
        cm_fail(rc, why, whylen, "Failed to create '%s': %s", tmp, strerror(errno));
        goto out;
    }
    if ((rc = write_all(fd, hdr, sizeof hdr)) != 0 || (rc = write_all(fd, data, len)) != 0 ||
        (fsync(fd) != 0 && (rc = -errno) != 0)) {
        cm_fail(rc, why, whylen, "Failed to write '%s': %s", tmp, strerror(-rc));
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = -errno;
        cm_fail(rc, why, whylen, "Failed to close '%s': %s", tmp, strerror(errno));
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        rc = -errno;
        cm_fail(rc, why, whylen, "Failed to rename '%s' to '%s': %s", tmp, path, strerror(errno));
        goto out;
    }
    /* The rename is durable only once the directory entry is. */
    dfd = open(dirname(dircopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0 && fsync(dfd) != 0) {
        rc = -errno;
        cm_fail(rc, why, whylen, "Failed to sync the directory of '%s': %s", path, strerror(errno));
    }
out:
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    if (dfd >= 0)
        close(dfd);
    free(tmp);
    free(dircopy);
    return rc;
}

int cm_registry_file_read(const char *path, uint8_t **data, size_t *len, char *why, size_t whylen)
{
    *data = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        return cm_fail(-errno, why, whylen, "Failed to open registry file '%s': %s", path,
                       strerror(errno));
    }
    int rc = 0;
    uint8_t *buf = NULL;
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        rc = cm_fail(-errno, why, whylen, "Failed to stat registry file '%s': %s", path,
                     strerror(errno));
        goto out;
    }
    size_t size = (size_t)sb.st_size;
    if (size < REG_HDR || size > REG_MAX_BYTES + REG_HDR) {
        rc = cm_fail(CM_EPARSE, why, whylen,
                     "Registry file '%s' is corrupt or truncated (%zu bytes, no valid header)",
                     path, size);
        goto out;
    }
    buf = cm_xmalloc(size);
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = cm_fail(r < 0 ? -errno : CM_EPARSE, why, whylen,
                         "Failed to read registry file '%s'", path);
            goto out;
        }
        got += (size_t)r;
    }
    if (memcmp(buf, REG_MAGIC, 8) != 0) {
        rc = cm_fail(CM_EPARSE, why, whylen, "Registry file '%s' is corrupt (bad magic)", path);
        goto out;
    }
    uint32_t format = (uint32_t)get_le(buf + 8, 4);
    if (format != REG_FORMAT) {
        rc = cm_fail(CM_EPARSE, why, whylen,
                     "Registry file '%s' has format %u; this master reads format %u", path, format,
                     REG_FORMAT);
        goto out;
    }
    uint64_t plen = get_le(buf + 12, 8);
    if (plen != size - REG_HDR) {
        rc = cm_fail(CM_EPARSE, why, whylen,
                     "Registry file '%s' is truncated or corrupt (header says %llu bytes, file "
                     "holds %zu)",
                     path, (unsigned long long)plen, size - REG_HDR);
        goto out;
    }
    if ((uint32_t)get_le(buf + 20, 4) != crc32_of(buf + REG_HDR, (size_t)plen)) {
        rc = cm_fail(CM_EPARSE, why, whylen, "Registry file '%s' is corrupt (checksum mismatch)",
                     path);
        goto out;
    }
    *len = (size_t)plen;
    *data = cm_xmalloc(*len);
    memcpy(*data, buf + REG_HDR, *len);
out:
    free(buf);
    close(fd);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* storages */

static void mem_fetch(struct cm_registry_storage *s, cm_registry_fetch_cb cb, void *arg)
{
    cb(arg, 0, s->mem, s->mem_len, NULL);
}

static void mem_store(struct cm_registry_storage *s, const uint8_t *data, size_t len,
                      cm_registrar_done_cb cb, void *arg)
{
    free(s->mem);
    s->mem = cm_xmalloc(len);
    memcpy(s->mem, data, len);
    s->mem_len = len;
    cb(arg, 0);
}

static void file_fetch(struct cm_registry_storage *s, cm_registry_fetch_cb cb, void *arg)
{
    uint8_t *data = NULL;
    size_t len = 0;
    char why[1024] = "";
    int rc = cm_registry_file_read(s->path, &data, &len, why, sizeof why);
    cb(arg, rc, data, len, rc ? why : NULL);
    free(data);
}

static int mkdirs(const char *dir);

static void file_store(struct cm_registry_storage *s, const uint8_t *data, size_t len,
                       cm_registrar_done_cb cb, void *arg)
{
    char why[1024];
    /* --work_dir is created at the first write, not at start (nothing on disk before the
     * master has bound its port). */
    char *dir = cm_xstrdup(s->path);
    int rc = mkdirs(dirname(dir));
    if (rc)
        CM_ERROR(MOD, "Failed to create --work_dir '%s': %s", dir, strerror(-rc));
    free(dir);
    if (rc) {
        cb(arg, rc);
        return;
    }
    rc = cm_registry_file_write(s->path, data, len, why, sizeof why);
    if (rc)
        CM_ERROR(MOD, "%s", why);
    cb(arg, rc);
}

static void storage_destroy(struct cm_registry_storage *s)
{
    free(s->path);
    free(s->mem);
    free(s);
}

static const struct cm_registry_storage_ops mem_ops = {
    .name = "in_memory", .fetch = mem_fetch, .store = mem_store, .destroy = storage_destroy};
static const struct cm_registry_storage_ops file_ops = {
    .name = "file", .fetch = file_fetch, .store = file_store, .destroy = storage_destroy};

/* ------------------------------------------------------------------------------------------ */
/* the zk storage */

enum zk_pending { ZP_NONE, ZP_FETCH, ZP_STORE };

struct cm_registry_zk {
    struct cm_registry_storage *s;
    struct cm_zk *zk;
    char *parent; /* the group's path */
    int version;  /* of the node as we last read or wrote it */
    enum zk_pending pending;
    uint8_t *data; /* store: the bytes being written; fetch: the bytes read */
    size_t len;
    bool uncertain; /* a write's outcome is unknown: read back before anything else */
    bool inflight;  /* a request of the pending operation awaits its callback */
    cm_registry_fetch_cb fetch_cb;
    cm_registrar_done_cb store_cb;
    void *arg;
    struct event *retry;
};

static void zs_issue(struct cm_registry_zk *z);

static void zs_retry_later(struct cm_registry_zk *z, double secs)
{
    z->inflight = false;
    struct timeval tv = {(time_t)secs, (suseconds_t)((secs - (double)(time_t)secs) * 1e6)};
    evtimer_add(z->retry, &tv);
}

static void zs_on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct cm_registry_zk *z = arg;
    if (z->pending != ZP_NONE && !z->inflight && cm_zk_connected(z->zk))
        zs_issue(z);
}

static void zs_finish_store(struct cm_registry_zk *z, int err)
{
    cm_registrar_done_cb cb = z->store_cb;
    void *arg = z->arg;
    z->pending = ZP_NONE;
    z->inflight = false;
    z->uncertain = false;
    free(z->data);
    z->data = NULL;
    z->len = 0;
    cb(arg, err);
}

static void zs_finish_fetch(struct cm_registry_zk *z, int err, const char *why)
{
    cm_registry_fetch_cb cb = z->fetch_cb;
    void *arg = z->arg;
    uint8_t *data = z->data;
    size_t len = z->len;
    z->pending = ZP_NONE;
    z->inflight = false;
    z->data = NULL;
    z->len = 0;
    cb(arg, err, data, len, why);
    free(data);
}

static bool zs_transient(int rc)
{
    return rc == ZCONNECTIONLOSS || rc == ZOPERATIONTIMEOUT || rc == ZSESSIONEXPIRED ||
           rc == ZSESSIONMOVED || rc == ZINVALIDSTATE;
}

static void zs_lost_race(struct cm_registry_zk *z, int found)
{
    CM_ERROR(MOD,
             "The registry znode %s is at version %d, not %d: another master has written it, so "
             "this master lost a race for leadership and must not overwrite it",
             z->s->path, found, z->version);
    zs_finish_store(z, CM_ESTATE);
}

/* fetch: the fencing write of what was read. */
static void zs_fenced(struct cm_zk *zk, const struct cm_zk_result *res, void *arg)
{
    (void)zk;
    struct cm_registry_zk *z = arg;
    z->inflight = false;
    if (res->rc == ZOK && res->stat) {
        z->version = res->stat->version;
        zs_finish_fetch(z, 0, NULL);
        return;
    }
    /* Another master wrote meanwhile (or the connection dropped): read again. */
    CM_WARN(MOD, "Fencing write of the registry %s: %s; reading it again", z->s->path,
            cm_zk_strerror(res->rc));
    free(z->data);
    z->data = NULL;
    z->len = 0;
    zs_retry_later(z, res->rc == ZBADVERSION ? 0 : 0.5);
}

static void zs_got(struct cm_zk *zk, const struct cm_zk_result *res, void *arg);

static void zs_created(struct cm_zk *zk, const struct cm_zk_result *res, void *arg)
{
    struct cm_registry_zk *z = arg;
    if (res->rc != ZOK && res->rc != ZNODEEXISTS) {
        CM_WARN(MOD, "Failed to create the registry znode %s: %s; retrying", z->s->path,
                cm_zk_strerror(res->rc));
        zs_retry_later(z, 0.5);
        return;
    }
    cm_zk_get(zk, z->s->path, NULL, NULL, zs_got, z);
}

static void zs_ensured(struct cm_zk *zk, const struct cm_zk_result *res, void *arg)
{
    struct cm_registry_zk *z = arg;
    if (res->rc != ZOK) {
        CM_WARN(MOD, "Failed to create %s: %s; retrying", z->parent, cm_zk_strerror(res->rc));
        zs_retry_later(z, 0.5);
        return;
    }
    cm_zk_get(zk, z->s->path, NULL, NULL, zs_got, z);
}

static void zs_set_done(struct cm_zk *zk, const struct cm_zk_result *res, void *arg)
{
    (void)zk;
    struct cm_registry_zk *z = arg;
    z->inflight = false;
    if (res->rc == ZOK && res->stat) {
        z->version = res->stat->version;
        zs_finish_store(z, 0);
    } else if (res->rc == ZBADVERSION) {
        zs_lost_race(z, -1);
    } else if (zs_transient(res->rc)) {
        CM_WARN(MOD, "Writing the registry %s: %s; its outcome is checked on reconnection",
                z->s->path, cm_zk_strerror(res->rc));
        z->uncertain = true;
        zs_retry_later(z, 0.5);
    } else {
        CM_ERROR(MOD, "Failed to write the registry %s: %s", z->s->path, cm_zk_strerror(res->rc));
        zs_finish_store(z, -EIO);
    }
}

static void zs_got(struct cm_zk *zk, const struct cm_zk_result *res, void *arg)
{
    struct cm_registry_zk *z = arg;
    if (res->rc == ZNONODE && z->pending == ZP_FETCH) {
        cm_zk_create(zk, z->s->path, NULL, 0, 0, zs_created, z);
        return;
    }
    if (res->rc != ZOK || !res->stat) {
        if (res->rc == ZNONODE)
            CM_ERROR(MOD, "The registry znode %s disappeared", z->s->path);
        else
            CM_WARN(MOD, "Reading the registry %s: %s; retrying", z->s->path,
                    cm_zk_strerror(res->rc));
        zs_retry_later(z, 0.5);
        return;
    }
    int found = res->stat->version;
    if (z->pending == ZP_FETCH) {
        free(z->data);
        z->len = res->data ? res->len : 0;
        z->data = cm_xmalloc(z->len ? z->len : 1);
        if (z->len)
            memcpy(z->data, res->data, z->len);
        z->version = found;
        cm_zk_set(zk, z->s->path, z->data, z->len, found, zs_fenced, z);
        return;
    }
    /* A write of unknown outcome: did ours land? */
    bool ours = found == z->version + 1 && res->len == z->len &&
                (z->len == 0 || (res->data && memcmp(res->data, z->data, z->len) == 0));
    if (ours) {
        z->version = found;
        zs_finish_store(z, 0);
    } else if (found == z->version) {
        z->uncertain = false;
        cm_zk_set(zk, z->s->path, z->data, z->len, z->version, zs_set_done, z);
    } else {
        zs_lost_race(z, found);
    }
}

static void zs_issue(struct cm_registry_zk *z)
{
    z->inflight = true;
    if (z->pending == ZP_FETCH)
        cm_zk_ensure_path(z->zk, z->parent, zs_ensured, z);
    else if (z->uncertain)
        cm_zk_get(z->zk, z->s->path, NULL, NULL, zs_got, z);
    else
        cm_zk_set(z->zk, z->s->path, z->data, z->len, z->version, zs_set_done, z);
}

static void zs_session(struct cm_zk *zk, enum cm_zk_session_event ev, void *arg)
{
    (void)zk;
    struct cm_registry_zk *z = arg;
    switch (ev) {
    case CM_ZK_EXPIRED:
        /* Callbacks of requests of that session never come: settle the write later. */
        if (z->pending == ZP_STORE && z->inflight)
            z->uncertain = true;
        z->inflight = false;
        break;
    case CM_ZK_CONNECTED:
    case CM_ZK_RECONNECTED:
        if (z->pending != ZP_NONE && !z->inflight)
            zs_issue(z);
        break;
    case CM_ZK_DISCONNECTED: break;
    }
}

static void zk_fetch(struct cm_registry_storage *s, cm_registry_fetch_cb cb, void *arg)
{
    struct cm_registry_zk *z = s->zk;
    if (z->pending != ZP_NONE) {
        cb(arg, CM_ESTATE, NULL, 0, "A registry operation is already in progress");
        return;
    }
    z->pending = ZP_FETCH;
    z->fetch_cb = cb;
    z->arg = arg;
    if (cm_zk_connected(z->zk))
        zs_issue(z);
}

static void zk_store(struct cm_registry_storage *s, const uint8_t *data, size_t len,
                     cm_registrar_done_cb cb, void *arg)
{
    struct cm_registry_zk *z = s->zk;
    if (z->pending != ZP_NONE) {
        cb(arg, CM_ESTATE);
        return;
    }
    z->pending = ZP_STORE;
    z->store_cb = cb;
    z->arg = arg;
    z->data = cm_xmalloc(len ? len : 1);
    memcpy(z->data, data, len);
    z->len = len;
    z->uncertain = false;
    if (cm_zk_connected(z->zk))
        zs_issue(z);
}

static void zk_destroy(struct cm_registry_storage *s)
{
    struct cm_registry_zk *z = s->zk;
    if (z) {
        cm_zk_free(z->zk);
        if (z->retry)
            event_free(z->retry);
        free(z->parent);
        free(z->data);
        free(z);
    }
    storage_destroy(s);
}

static const struct cm_registry_storage_ops zk_ops = {
    .name = "zk", .fetch = zk_fetch, .store = zk_store, .destroy = zk_destroy};

int cm_registry_storage_zk_new(struct event_base *base, const struct cm_zk_url *url,
                               double session_timeout, struct cm_registry_storage **out, char *why,
                               size_t whylen)
{
    *out = NULL;
    struct cm_registry_storage *s = cm_xcalloc(1, sizeof *s);
    struct cm_registry_zk *z = cm_xcalloc(1, sizeof *z);
    s->ops = &zk_ops;
    s->zk = z;
    s->path = cm_xasprintf("%s/registry", url->path);
    z->s = s;
    z->parent = cm_xstrdup(url->path);
    z->retry = evtimer_new(base, zs_on_retry, z);
    if (!z->retry)
        abort();
    z->zk = cm_zk_new(base, url, session_timeout, zs_session, z);
    if (!z->zk) {
        zk_destroy(s);
        return cm_fail(CM_EINVAL, why, whylen,
                       "Failed to create a ZooKeeper client for the registry at %s", url->servers);
    }
    *out = s;
    return 0;
}

static int mkdirs(const char *dir)
{
    char *p = cm_xstrdup(dir);
    int rc = 0;
    for (char *q = p + 1;; q++) {
        if (*q == '/' || *q == 0) {
            char c = *q;
            *q = 0;
            if (mkdir(p, 0755) != 0 && errno != EEXIST) {
                rc = -errno;
                break;
            }
            *q = c;
            if (!c)
                break;
        }
    }
    free(p);
    return rc;
}

int cm_registry_storage_new(const char *name, const char *work_dir,
                            struct cm_registry_storage **out, char *why, size_t whylen)
{
    *out = NULL;
    struct cm_registry_storage *s = cm_xcalloc(1, sizeof *s);
    if (strcmp(name, "in_memory") == 0) {
        s->ops = &mem_ops;
    } else if (strcmp(name, "file") == 0) {
        if (!work_dir || !work_dir[0]) {
            free(s);
            return cm_fail(CM_EINVAL, why, whylen, "The 'file' registry needs --work_dir");
        }
        /* Created at the first write (file_store); a path that cannot be a directory fails
         * now. */
        struct stat st;
        if (stat(work_dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
            free(s);
            return cm_fail(CM_EINVAL, why, whylen, "--work_dir '%s' is not a directory", work_dir);
        }
        s->ops = &file_ops;
        s->path = cm_xasprintf("%s/registry", work_dir);
    } else {
        free(s);
        return cm_fail(CM_EINVAL, why, whylen,
                       "Unknown registry '%s' (expected in_memory, file or replicated_log)", name);
    }
    *out = s;
    return 0;
}

void cm_registry_storage_free(struct cm_registry_storage *s)
{
    if (s)
        s->ops->destroy(s);
}

/* ------------------------------------------------------------------------------------------ */
/* the registrar */

enum op_kind { OP_ADMIT, OP_UNREACHABLE, OP_REMOVE, OP_GC, OP_GONE, OP_WEIGHTS, OP_STATE };

struct op {
    enum op_kind kind;
    Mesos__V1__AgentInfo *info; /* OP_ADMIT (owned) */
    char *id;
    double time, max_age;
    size_t max_count, *pruned;
    char **roles;                 /* OP_WEIGHTS (owned) */
    double *weights;              /* OP_WEIGHTS (owned) */
    size_t n;                     /* OP_WEIGHTS */
    struct cm_reg_agent_state st; /* OP_STATE */
    cm_registrar_done_cb cb;
    void *arg;
    struct op *next;
};

struct cm_registrar {
    struct cm_registry_storage *storage;
    struct cm_strmap admitted;    /* id -> Mesos__V1__AgentInfo* (owned) */
    struct cm_strmap unreachable; /* id -> struct cm_reg_unreachable* */
    struct cm_reg_unreachable *uhead, *utail;
    struct cm_strmap gone;    /* id -> double* */
    struct cm_strmap weights; /* role -> double* */
    struct cm_strmap astate;  /* id -> struct cm_reg_agent_state* (admitted or unreachable) */
    uint64_t version;
    bool recovered, failed, busy, draining;
    unsigned held;    /* cm_registrar_hold depth: nothing is stored while > 0 */
    size_t batch;     /* operations covered by the store in flight (the first ones queued) */
    void *recovering; /* the recover context while a fetch is in flight (async storages) */
    int fail_err;
    struct op *qhead, *qtail;
    size_t queued;
    struct cm_registrar_stats stats;
    double store_started;
};

struct cm_registrar *cm_registrar_new(struct cm_registry_storage *storage)
{
    struct cm_registrar *r = cm_xcalloc(1, sizeof *r);
    r->storage = storage;
    cm_strmap_init(&r->admitted);
    cm_strmap_init(&r->unreachable);
    cm_strmap_init(&r->gone);
    cm_strmap_init(&r->weights);
    cm_strmap_init(&r->astate);
    return r;
}

static void unreach_unlink(struct cm_registrar *r, struct cm_reg_unreachable *u)
{
    if (u->prev)
        u->prev->next = u->next;
    else
        r->uhead = u->next;
    if (u->next)
        u->next->prev = u->prev;
    else
        r->utail = u->prev;
    free(u->id);
    free(u);
}

static void unreach_add(struct cm_registrar *r, const char *id, double time)
{
    struct cm_reg_unreachable *old = cm_strmap_remove(&r->unreachable, id);
    if (old)
        unreach_unlink(r, old);
    struct cm_reg_unreachable *u = cm_xcalloc(1, sizeof *u);
    u->id = cm_xstrdup(id);
    u->time = time;
    u->prev = r->utail;
    if (r->utail)
        r->utail->next = u;
    else
        r->uhead = u;
    r->utail = u;
    cm_strmap_put(&r->unreachable, u->id, u);
}

static void unreach_remove(struct cm_registrar *r, const char *id)
{
    struct cm_reg_unreachable *u = cm_strmap_remove(&r->unreachable, id);
    if (u)
        unreach_unlink(r, u);
}

static void astate_remove(struct cm_registrar *r, const char *id)
{
    free(cm_strmap_remove(&r->astate, id));
}

static const struct cm_reg_agent_state state_none;

static bool state_eq(const struct cm_reg_agent_state *a, const struct cm_reg_agent_state *b)
{
    return a->deactivated == b->deactivated && a->drain_state == b->drain_state &&
           a->has_grace == b->has_grace && (!a->has_grace || a->grace_ns == b->grace_ns) &&
           a->mark_gone == b->mark_gone;
}

static void astate_put(struct cm_registrar *r, const char *id, const struct cm_reg_agent_state *st)
{
    if (state_eq(st, &state_none)) {
        astate_remove(r, id);
        return;
    }
    struct cm_reg_agent_state *c = cm_xcalloc(1, sizeof *c);
    *c = *st;
    free(cm_strmap_put(&r->astate, id, c));
}

static void admitted_remove(struct cm_registrar *r, const char *id)
{
    Mesos__V1__AgentInfo *info = cm_strmap_remove(&r->admitted, id);
    if (info)
        protobuf_c_message_free_unpacked(&info->base, NULL);
}

/* A free function for maps of messages (protobuf_c_message_free_unpacked takes two arguments). */
static void pb_free_message(void *msg)
{
    protobuf_c_message_free_unpacked(msg, NULL);
}

static void clear_registry(struct cm_registrar *r)
{
    cm_strmap_cleanup_values(&r->admitted, pb_free_message);
    while (r->uhead) {
        cm_strmap_remove(&r->unreachable, r->uhead->id);
        unreach_unlink(r, r->uhead);
    }
    cm_strmap_cleanup(&r->unreachable);
    cm_strmap_cleanup_values(&r->gone, free);
    cm_strmap_cleanup_values(&r->weights, free);
    cm_strmap_cleanup_values(&r->astate, free);
}

static void op_free(struct op *o)
{
    if (!o)
        return;
    if (o->info)
        protobuf_c_message_free_unpacked(&o->info->base, NULL);
    for (size_t i = 0; o->roles && i < o->n; i++)
        free(o->roles[i]);
    free(o->roles);
    free(o->weights);
    free(o->id);
    free(o);
}

void cm_registrar_free(struct cm_registrar *r)
{
    if (!r)
        return;
    while (r->qhead) {
        struct op *o = r->qhead;
        r->qhead = o->next;
        op_free(o);
    }
    free(r->recovering);
    clear_registry(r);
    cm_registry_storage_free(r->storage);
    free(r);
}

/* A deep copy of a message that was already checked (decoded through codec.h, or our own). */
static Mesos__V1__AgentInfo *info_dup(const Mesos__V1__AgentInfo *info)
{
    return cm_pb_dup(&info->base);
}

static void time_of(double secs, Mesos__V1__TimeInfo *t)
{
    mesos__v1__time_info__init(t);
    t->nanoseconds = (int64_t)(secs * 1e9);
}

/* The protobuf form of an agent's drain state, in storage the caller provides. */
struct packed_drain {
    Mesos__V1__DrainInfo info;
    Mesos__V1__DrainConfig config;
    Mesos__V1__DurationInfo grace;
};

static Mesos__V1__DrainInfo *pack_drain(const struct cm_reg_agent_state *st,
                                        struct packed_drain *pd,
                                        protobuf_c_boolean *has_deactivated,
                                        protobuf_c_boolean *deactivated)
{
    if (!st)
        return NULL;
    *has_deactivated = st->deactivated;
    *deactivated = st->deactivated;
    if (st->drain_state == 0)
        return NULL;
    mesos__v1__drain_info__init(&pd->info);
    mesos__v1__drain_config__init(&pd->config);
    mesos__v1__duration_info__init(&pd->grace);
    pd->info.state = (Mesos__V1__DrainState)st->drain_state;
    pd->info.config = &pd->config;
    if (st->has_grace) {
        pd->grace.nanoseconds = st->grace_ns;
        pd->config.max_grace_period = &pd->grace;
    }
    pd->config.has_mark_gone = st->mark_gone;
    pd->config.mark_gone = st->mark_gone;
    return &pd->info;
}

/* Reads an agent's drain state back (checked: the registry is outside input). */
static int load_state(struct cm_registrar *r, const char *id, const Mesos__V1__DrainInfo *di,
                      protobuf_c_boolean deactivated, char *why, size_t whylen)
{
    struct cm_reg_agent_state st = {.deactivated = deactivated};
    if (di) {
        if (di->state != MESOS__V1__DRAIN_STATE__DRAINING &&
            di->state != MESOS__V1__DRAIN_STATE__DRAINED)
            return cm_fail(CM_EPARSE, why, whylen, "agent %s has drain_info.state %d", id,
                           (int)di->state);
        st.drain_state = (int)di->state;
        if (di->config->max_grace_period) {
            if (di->config->max_grace_period->nanoseconds < 0)
                return cm_fail(CM_EPARSE, why, whylen,
                               "agent %s has a negative drain max_grace_period", id);
            st.has_grace = true;
            st.grace_ns = di->config->max_grace_period->nanoseconds;
        }
        st.mark_gone = di->config->has_mark_gone && di->config->mark_gone;
    }
    astate_put(r, id, &st);
    return 0;
}

/* Packs the current registry. Caller frees *out. */
static void pack_registry(struct cm_registrar *r, uint8_t **out, size_t *outlen)
{
    Cmesos__Internal__Registry reg = CMESOS__INTERNAL__REGISTRY__INIT;
    reg.has_version = 1;
    reg.version = r->version + 1;
    size_t na = cm_strmap_count(&r->admitted), nu = cm_strmap_count(&r->unreachable),
           ng = cm_strmap_count(&r->gone), i = 0;
    Cmesos__Internal__Registry__Agent *agents = cm_xcalloc(na, sizeof *agents);
    struct packed_drain *pds = cm_xcalloc(na + nu, sizeof *pds);
    reg.agents = cm_xcalloc(na, sizeof *reg.agents);
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &r->admitted); cm_strmap_iter_next(&it); i++) {
        cmesos__internal__registry__agent__init(&agents[i]);
        agents[i].info = it.cur->value;
        agents[i].drain_info = pack_drain(cm_strmap_get(&r->astate, it.cur->key), &pds[i],
                                          &agents[i].has_deactivated, &agents[i].deactivated);
        reg.agents[i] = &agents[i];
    }
    reg.n_agents = na;
    Cmesos__Internal__Registry__UnreachableAgent *un = cm_xcalloc(nu, sizeof *un);
    Mesos__V1__AgentID *uids = cm_xcalloc(nu, sizeof *uids);
    Mesos__V1__TimeInfo *utimes = cm_xcalloc(nu, sizeof *utimes);
    reg.unreachable = cm_xcalloc(nu, sizeof *reg.unreachable);
    i = 0;
    for (struct cm_reg_unreachable *u = r->uhead; u; u = u->next, i++) {
        cmesos__internal__registry__unreachable_agent__init(&un[i]);
        mesos__v1__agent_id__init(&uids[i]);
        uids[i].value = u->id;
        time_of(u->time, &utimes[i]);
        un[i].id = &uids[i];
        un[i].timestamp = &utimes[i];
        un[i].drain_info = pack_drain(cm_strmap_get(&r->astate, u->id), &pds[na + i],
                                      &un[i].has_deactivated, &un[i].deactivated);
        reg.unreachable[i] = &un[i];
    }
    reg.n_unreachable = nu;
    Cmesos__Internal__Registry__GoneAgent *gone = cm_xcalloc(ng, sizeof *gone);
    Mesos__V1__AgentID *gids = cm_xcalloc(ng, sizeof *gids);
    Mesos__V1__TimeInfo *gtimes = cm_xcalloc(ng, sizeof *gtimes);
    reg.gone = cm_xcalloc(ng, sizeof *reg.gone);
    i = 0;
    for (cm_strmap_iter_init(&it, &r->gone); cm_strmap_iter_next(&it); i++) {
        cmesos__internal__registry__gone_agent__init(&gone[i]);
        mesos__v1__agent_id__init(&gids[i]);
        gids[i].value = (char *)it.cur->key;
        time_of(*(double *)it.cur->value, &gtimes[i]);
        gone[i].id = &gids[i];
        gone[i].timestamp = &gtimes[i];
        reg.gone[i] = &gone[i];
    }
    reg.n_gone = ng;
    size_t nw = cm_strmap_count(&r->weights);
    Cmesos__Internal__Registry__Weight *ws = cm_xcalloc(nw, sizeof *ws);
    Mesos__V1__WeightInfo *wis = cm_xcalloc(nw, sizeof *wis);
    reg.weights = cm_xcalloc(nw, sizeof *reg.weights);
    i = 0;
    for (cm_strmap_iter_init(&it, &r->weights); cm_strmap_iter_next(&it); i++) {
        cmesos__internal__registry__weight__init(&ws[i]);
        mesos__v1__weight_info__init(&wis[i]);
        wis[i].role = (char *)it.cur->key;
        wis[i].weight = *(double *)it.cur->value;
        ws[i].info = &wis[i];
        reg.weights[i] = &ws[i];
    }
    reg.n_weights = nw;
    *outlen = protobuf_c_message_get_packed_size(&reg.base);
    *out = cm_xmalloc(*outlen);
    protobuf_c_message_pack(&reg.base, *out);
    free(agents);
    free(pds);
    free(ws);
    free(wis);
    free(reg.weights);
    free(reg.agents);
    free(un);
    free(uids);
    free(utimes);
    free(reg.unreachable);
    free(gone);
    free(gids);
    free(gtimes);
    free(reg.gone);
}

static int load_registry(struct cm_registrar *r, const uint8_t *data, size_t len, char *why,
                         size_t whylen)
{
    if (len == 0)
        return 0; /* nothing stored yet: an empty registry */
    /* The stored registry is checked like any input from outside the process: a file or znode
     * edited (or written by a newer version) must not smuggle undeclared enums or missing
     * required fields into the master. */
    ProtobufCMessage *msg = NULL;
    char cwhy[256];
    if (cm_pb_unpack(&cmesos__internal__registry__descriptor, data, len, &msg, cwhy, sizeof cwhy) !=
        0)
        return cm_fail(CM_EPARSE, why, whylen, "the stored registry does not parse: %s", cwhy);
    Cmesos__Internal__Registry *reg = (Cmesos__Internal__Registry *)msg;
    int rc = 0;
    for (size_t i = 0; i < reg->n_agents; i++) {
        const Mesos__V1__AgentInfo *info = reg->agents[i]->info;
        if (!info->id || !info->id->value || !info->id->value[0]) {
            rc = cm_fail(CM_EPARSE, why, whylen, "registry agents[%zu] has no id", i);
            goto out;
        }
        admitted_remove(r, info->id->value);
        cm_strmap_put(&r->admitted, info->id->value, info_dup(info));
        if ((rc = load_state(r, info->id->value, reg->agents[i]->drain_info,
                             reg->agents[i]->deactivated, why, whylen)) != 0)
            goto out;
    }
    for (size_t i = 0; i < reg->n_unreachable; i++) {
        const Cmesos__Internal__Registry__UnreachableAgent *u = reg->unreachable[i];
        unreach_add(r, u->id->value, (double)u->timestamp->nanoseconds / 1e9);
        if ((rc = load_state(r, u->id->value, u->drain_info, u->deactivated, why, whylen)) != 0)
            goto out;
    }
    for (size_t i = 0; i < reg->n_weights; i++) {
        const Mesos__V1__WeightInfo *w = reg->weights[i]->info;
        if (!w->role || !w->role[0] || !(w->weight > 0) || !isfinite(w->weight)) {
            rc = cm_fail(CM_EPARSE, why, whylen, "registry weights[%zu] is invalid", i);
            goto out;
        }
        double *v = cm_xmalloc(sizeof *v);
        *v = w->weight;
        free(cm_strmap_put(&r->weights, w->role, v));
    }
    for (size_t i = 0; i < reg->n_gone; i++) {
        double *t = cm_xmalloc(sizeof *t);
        *t = (double)reg->gone[i]->timestamp->nanoseconds / 1e9;
        free(cm_strmap_put(&r->gone, reg->gone[i]->id->value, t));
    }
    r->version = reg->has_version ? reg->version : 0;
out:
    protobuf_c_message_free_unpacked(&reg->base, NULL);
    if (rc)
        clear_registry(r);
    return rc;
}

struct recover_ctx {
    struct cm_registrar *r;
    void (*cb)(void *arg, int err, const char *why);
    void *arg;
    double started;
};

static void drain(struct cm_registrar *r);

static void fetched(void *arg, int err, const uint8_t *data, size_t len, const char *fwhy)
{
    struct recover_ctx *ctx = arg;
    struct cm_registrar *r = ctx->r;
    char why[1200] = "";
    r->stats.fetch_ms = (cm_monotonic_secs() - ctx->started) * 1000.0;
    if (err) {
        snprintf(why, sizeof why, "%s", fwhy ? fwhy : "Failed to fetch the registry");
    } else {
        char detail[256];
        if ((err = load_registry(r, data, len, detail, sizeof detail)) != 0)
            snprintf(why, sizeof why, "Registry %s%.900s is corrupt: %s",
                     r->storage->zk     ? "znode "
                     : r->storage->path ? "file "
                                        : "(in memory)",
                     r->storage->path ? r->storage->path : "", detail);
    }
    if (err) {
        r->failed = true;
        r->fail_err = err;
    } else {
        r->recovered = true;
        r->stats.size_bytes = len;
        r->stats.version = r->version;
        CM_INFO(MOD, "Recovered registry (version %llu): %zu admitted, %zu unreachable agents",
                (unsigned long long)r->version, cm_strmap_count(&r->admitted),
                cm_strmap_count(&r->unreachable));
    }
    r->recovering = NULL;
    ctx->cb(ctx->arg, err, err ? why : NULL);
    free(ctx);
    drain(r);
}

void cm_registrar_recover(struct cm_registrar *r, void (*cb)(void *arg, int err, const char *why),
                          void *arg)
{
    struct recover_ctx *ctx = cm_xcalloc(1, sizeof *ctx);
    ctx->r = r;
    ctx->cb = cb;
    ctx->arg = arg;
    ctx->started = cm_monotonic_secs();
    r->stats.store_ms = 0;
    r->recovering = ctx;
    r->storage->ops->fetch(r->storage, fetched, ctx);
}

/* Applies o to the in-memory registry. Returns false when it changed nothing (no store). */
static bool apply(struct cm_registrar *r, struct op *o)
{
    switch (o->kind) {
    case OP_ADMIT:
        unreach_remove(r, o->id);
        admitted_remove(r, o->id);
        cm_strmap_put(&r->admitted, o->id, o->info);
        o->info = NULL; /* now owned by the registry */
        return true;
    case OP_UNREACHABLE:
        admitted_remove(r, o->id);
        unreach_add(r, o->id, o->time);
        return true;
    case OP_REMOVE: {
        bool had = cm_strmap_get(&r->admitted, o->id) || cm_strmap_get(&r->unreachable, o->id);
        admitted_remove(r, o->id);
        unreach_remove(r, o->id);
        astate_remove(r, o->id);
        return had;
    }
    case OP_GC: {
        size_t n = 0;
        while (r->uhead && (r->uhead->time < o->time - o->max_age ||
                            cm_strmap_count(&r->unreachable) > o->max_count)) {
            cm_strmap_remove(&r->unreachable, r->uhead->id);
            astate_remove(r, r->uhead->id);
            unreach_unlink(r, r->uhead);
            n++;
        }
        if (o->pruned)
            *o->pruned = n;
        return n > 0;
    }
    case OP_GONE: {
        if (cm_strmap_get(&r->gone, o->id))
            return false;
        admitted_remove(r, o->id);
        unreach_remove(r, o->id);
        astate_remove(r, o->id);
        double *t = cm_xcalloc(1, sizeof *t);
        *t = o->time;
        cm_strmap_put(&r->gone, o->id, t);
        return true;
    }
    case OP_WEIGHTS: {
        bool changed = false;
        for (size_t i = 0; i < o->n; i++) {
            double *v = cm_strmap_get(&r->weights, o->roles[i]);
            if (v && *v == o->weights[i])
                continue;
            if (!v) {
                v = cm_xmalloc(sizeof *v);
                cm_strmap_put(&r->weights, o->roles[i], v);
            }
            *v = o->weights[i];
            changed = true;
        }
        return changed;
    }
    case OP_STATE: {
        if (!cm_strmap_get(&r->admitted, o->id) && !cm_strmap_get(&r->unreachable, o->id))
            return false;
        const struct cm_reg_agent_state *cur = cm_strmap_get(&r->astate, o->id);
        if (state_eq(cur ? cur : &state_none, &o->st))
            return false;
        astate_put(r, o->id, &o->st);
        return true;
    }
    }
    return false;
}

static void stored(void *arg, int err)
{
    struct cm_registrar *r = arg;
    r->busy = false;
    r->stats.store_ms = (cm_monotonic_secs() - r->store_started) * 1000.0;
    if (err) {
        CM_ERROR(MOD, "Failed to store the registry: %s; the registrar has failed",
                 cm_strerror(err));
        r->failed = true;
        r->fail_err = err;
    } else {
        r->version++;
        r->stats.version = r->version;
    }
    /* One store covers every operation applied since the last one (Mesos batches too): with
     * a remote storage (zk) a burst of re-registrations costs a few writes, not one each. */
    size_t n = r->batch;
    r->batch = 0;
    for (size_t i = 0; i < n && r->qhead; i++) {
        struct op *o = r->qhead;
        r->qhead = o->next;
        if (!r->qhead)
            r->qtail = NULL;
        r->queued--;
        if (o->cb)
            o->cb(o->arg, err);
        op_free(o);
    }
    drain(r);
}

static void drain(struct cm_registrar *r)
{
    /* Storages may complete synchronously; the loop (not recursion) runs the next operation. */
    if (r->draining || r->held)
        return;
    r->draining = true;
    while (r->qhead && !r->busy && (r->recovered || r->failed)) {
        struct op *o = r->qhead;
        if (r->failed) {
            r->qhead = o->next;
            if (!r->qhead)
                r->qtail = NULL;
            r->queued--;
            if (o->cb)
                o->cb(o->arg, r->fail_err ? r->fail_err : CM_ESTATE);
            op_free(o);
            continue;
        }
        if (!apply(r, o)) {
            r->qhead = o->next;
            if (!r->qhead)
                r->qtail = NULL;
            r->queued--;
            if (o->cb)
                o->cb(o->arg, 0);
            op_free(o);
            continue;
        }
        /* Apply the operations queued behind it too; all of them complete with one store. */
        r->batch = 1;
        for (struct op *q = o->next; q; q = q->next) {
            apply(r, q);
            r->batch++;
        }
        uint8_t *data;
        size_t len;
        pack_registry(r, &data, &len);
        r->stats.size_bytes = len;
        r->busy = true;
        r->store_started = cm_monotonic_secs();
        r->storage->ops->store(r->storage, data, len, stored, r);
        free(data);
    }
    r->draining = false;
}

static void enqueue(struct cm_registrar *r, struct op *o)
{
    if (r->qtail)
        r->qtail->next = o;
    else
        r->qhead = o;
    r->qtail = o;
    r->queued++;
    drain(r);
}

static struct op *op_new(enum op_kind kind, const char *id, cm_registrar_done_cb cb, void *arg)
{
    struct op *o = cm_xcalloc(1, sizeof *o);
    o->kind = kind;
    o->id = cm_xstrdup(id);
    o->cb = cb;
    o->arg = arg;
    return o;
}

void cm_registrar_admit(struct cm_registrar *r, const Mesos__V1__AgentInfo *info,
                        cm_registrar_done_cb cb, void *arg)
{
    if (!info->id || !info->id->value || !info->id->value[0]) {
        if (cb)
            cb(arg, CM_EINVAL);
        return;
    }
    struct op *o = op_new(OP_ADMIT, info->id->value, cb, arg);
    o->info = info_dup(info);
    enqueue(r, o);
}

void cm_registrar_mark_unreachable(struct cm_registrar *r, const char *agent_id, double time,
                                   cm_registrar_done_cb cb, void *arg)
{
    struct op *o = op_new(OP_UNREACHABLE, agent_id, cb, arg);
    o->time = time;
    enqueue(r, o);
}

void cm_registrar_remove(struct cm_registrar *r, const char *agent_id, cm_registrar_done_cb cb,
                         void *arg)
{
    enqueue(r, op_new(OP_REMOVE, agent_id, cb, arg));
}

void cm_registrar_gc(struct cm_registrar *r, double now, double max_age, size_t max_count,
                     size_t *pruned, cm_registrar_done_cb cb, void *arg)
{
    struct op *o = op_new(OP_GC, "", cb, arg);
    o->time = now;
    o->max_age = max_age;
    o->max_count = max_count;
    o->pruned = pruned;
    if (pruned)
        *pruned = 0;
    enqueue(r, o);
}

void cm_registrar_hold(struct cm_registrar *r)
{
    r->held++;
}

void cm_registrar_release(struct cm_registrar *r)
{
    if (r->held > 0 && --r->held == 0)
        drain(r);
}

void cm_registrar_abort(struct cm_registrar *r, int err)
{
    if (!r)
        return;
    r->held = 0; /* aborting completes everything now, held or not */
    r->failed = true;
    r->fail_err = err;
    r->batch = 0;
    r->busy = false; /* a store in flight never completes once the storage is freed */
    drain(r);
}

bool cm_registrar_recovered(const struct cm_registrar *r)
{
    return r->recovered;
}

bool cm_registrar_failed(const struct cm_registrar *r)
{
    return r->failed;
}

const Mesos__V1__AgentInfo *cm_registrar_admitted(const struct cm_registrar *r, const char *id)
{
    return cm_strmap_get(&r->admitted, id);
}

bool cm_registrar_unreachable(const struct cm_registrar *r, const char *id, double *time)
{
    const struct cm_reg_unreachable *u = cm_strmap_get(&r->unreachable, id);
    if (u && time)
        *time = u->time;
    return u != NULL;
}

bool cm_registrar_gone(const struct cm_registrar *r, const char *id, double *time)
{
    const double *t = cm_strmap_get(&r->gone, id);
    if (t && time)
        *time = *t;
    return t != NULL;
}

size_t cm_registrar_count_admitted(const struct cm_registrar *r)
{
    return cm_strmap_count(&r->admitted);
}

size_t cm_registrar_count_unreachable(const struct cm_registrar *r)
{
    return cm_strmap_count(&r->unreachable);
}

size_t cm_registrar_queued(const struct cm_registrar *r)
{
    return r->queued;
}

const struct cm_strmap *cm_registrar_admitted_map(const struct cm_registrar *r)
{
    return &r->admitted;
}

const struct cm_reg_unreachable *cm_registrar_unreachable_list(const struct cm_registrar *r)
{
    return r->uhead;
}

void cm_registrar_stats(const struct cm_registrar *r, struct cm_registrar_stats *out)
{
    *out = r->stats;
}

void cm_registrar_mark_gone(struct cm_registrar *r, const char *agent_id, double time,
                            cm_registrar_done_cb cb, void *arg)
{
    struct op *o = op_new(OP_GONE, agent_id, cb, arg);
    o->time = time;
    enqueue(r, o);
}

void cm_registrar_update_weights(struct cm_registrar *r, const char *const *roles,
                                 const double *weights, size_t n, cm_registrar_done_cb cb,
                                 void *arg)
{
    struct op *o = op_new(OP_WEIGHTS, "", cb, arg);
    o->n = n;
    o->roles = cm_xcalloc(n ? n : 1, sizeof *o->roles);
    o->weights = cm_xcalloc(n ? n : 1, sizeof *o->weights);
    for (size_t i = 0; i < n; i++) {
        o->roles[i] = cm_xstrdup(roles[i]);
        o->weights[i] = weights[i];
    }
    enqueue(r, o);
}

void cm_registrar_set_agent_state(struct cm_registrar *r, const char *agent_id,
                                  const struct cm_reg_agent_state *st, cm_registrar_done_cb cb,
                                  void *arg)
{
    struct op *o = op_new(OP_STATE, agent_id, cb, arg);
    o->st = *st;
    if (!o->st.has_grace)
        o->st.grace_ns = 0;
    enqueue(r, o);
}

const struct cm_strmap *cm_registrar_weights(const struct cm_registrar *r)
{
    return &r->weights;
}

const struct cm_reg_agent_state *cm_registrar_agent_state(const struct cm_registrar *r,
                                                          const char *agent_id)
{
    return cm_strmap_get(&r->astate, agent_id);
}
