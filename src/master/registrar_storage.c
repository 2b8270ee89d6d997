/* registrar_storage.c: the registry's storages (in_memory, file, zk) and the framed file
 * format; see registrar.h. Split from registrar.c, which keeps the registrar itself. */
#include "registrar.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <event2/event.h>

#include "clock.h"
#include "codec.h"
#include "cmesos/registry.pb-c.h"
#include "errors.h"
#include "log.h"
#include "pbjson.h"
#include "registrar_chunks.h"
#include "registrar_writer.h"
#include "strmap.h"
#include "util.h"
#include "zk.h"

#define MOD "registrar"

/* ------------------------------------------------------------------------------------------ */
/* the framed file format: "CMREGSTR" | u32 format | u64 length | u32 crc32 | payload (LE) */

#define REG_MAGIC "CMREGSTR"
#define REG_FORMAT 1u
#define REG_HDR 24
#define REG_MAX_BYTES (512u * 1024u * 1024u) /* refuse absurd lengths instead of allocating */

/* CRC-32 (IEEE 802.3, as zlib's crc32, which computes it several bytes at a time). */
static uint32_t crc32_of(const uint8_t *p, size_t n)
{
    uLong c = crc32(0L, Z_NULL, 0);
    while (n > 0) {
        uInt k = n > (1u << 30) ? 1u << 30 : (uInt)n;
        c = crc32(c, p, k);
        p += k;
        n -= k;
    }
    return (uint32_t)c;
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
    /* fdatasync: the data and the size of a new file, not its times (the durable minimum for a
     * file about to be renamed over the old one; the directory's fsync follows the rename). */
    if ((rc = write_all(fd, hdr, sizeof hdr)) != 0 || (rc = write_all(fd, data, len)) != 0 ||
        (fdatasync(fd) != 0 && (rc = -errno) != 0)) {
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
    /* realloc: the same size again (the usual case) keeps the pages instead of faulting in new
     * ones. */
    s->mem = cm_xrealloc(s->mem, len ? len : 1);
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

int cm_registry_file_store(const char *path, const uint8_t *data, size_t len, char *why,
                           size_t whylen)
{
    /* --work_dir is created at the first write, not at start (nothing on disk before the
     * master has bound its port). */
    char *dir = cm_xstrdup(path);
    int rc = mkdirs(dirname(dir));
    if (rc)
        cm_fail(rc, why, whylen, "Failed to create --work_dir '%s': %s", dir, strerror(-rc));
    free(dir);
    if (rc)
        return rc;
    return cm_registry_file_write(path, data, len, why, whylen);
}

/* The writer's answer (registrar_writer.h), logged as a synchronous store logs its failure. */
static void file_written(void *arg, int err, const char *why)
{
    struct cm_registry_storage *s = arg;
    cm_registrar_done_cb cb = s->wcb;
    void *cbarg = s->warg;
    s->wcb = NULL;
    s->warg = NULL;
    if (err)
        CM_ERROR(MOD, "%s", why ? why : cm_strerror(err));
    cb(cbarg, err);
}

static void file_store(struct cm_registry_storage *s, const uint8_t *data, size_t len,
                       cm_registrar_done_cb cb, void *arg)
{
    if (s->writer) {
        if (s->wcb) {
            cb(arg, CM_ESTATE); /* the registrar issues one store at a time */
            return;
        }
        s->wcb = cb;
        s->warg = arg;
        cm_reg_writer_submit(s->writer, data, len, file_written, s);
        return;
    }
    char why[1024];
    int rc = cm_registry_file_store(s->path, data, len, why, sizeof why);
    if (rc)
        CM_ERROR(MOD, "%s", why);
    cb(arg, rc);
}

/* With a writer: the registrar assembles the registry straight into the writer's memfd. */
static uint8_t *file_buffer(struct cm_registry_storage *s, size_t len)
{
    return s->writer && !s->wcb ? cm_reg_writer_buffer(s->writer, len) : NULL;
}

/* Given the loop, the file storage writes through a writer child (registrar_writer.h). */
static void file_attach(struct cm_registry_storage *s, struct event_base *base)
{
    if (s->writer || !base)
        return;
    char why[512];
    int rc = cm_reg_writer_new(base, s->path, &s->writer, why, sizeof why);
    if (rc)
        CM_ERROR(MOD,
                 "%s; the registry file is written on the event loop instead (correct, but every "
                 "store blocks the master for its two syncs)",
                 why);
}

static void storage_destroy(struct cm_registry_storage *s)
{
    cm_reg_writer_free(s->writer);
    free(s->path);
    free(s->mem);
    free(s);
}

static const struct cm_registry_storage_ops mem_ops = {
    .name = "in_memory", .fetch = mem_fetch, .store = mem_store, .destroy = storage_destroy};
static const struct cm_registry_storage_ops file_ops = {
    .name = "file",
    .fetch = file_fetch,
    .store = file_store,
    .destroy = storage_destroy,
    .attach = file_attach,
    .buffer = file_buffer,
};

/* ------------------------------------------------------------------------------------------ */
/* the zk storage */

enum zk_pending { ZP_NONE, ZP_FETCH, ZP_STORE };

/* A chunk request's context (registrar_chunks.h): a chunk of the pending operation. */
struct zs_chunk_req {
    struct cm_registry_zk *z;
    size_t index;
};

struct cm_registry_zk {
    struct cm_registry_storage *s;
    struct cm_zk *zk;
    char *parent;    /* the group's path */
    char *chunk_dir; /* <parent>/registry_chunks: a large registry's chunks */
    /* Chunks the stored manifest references (name -> (void *)1): a store creates the others,
     * and deletes those its new manifest drops once it is written. */
    struct cm_strmap known;
    /* The registry of the pending operation when it is chunked: store, the bytes being
     * written (z->data is then the manifest); fetch, the bytes being read back. */
    uint8_t *blob;
    size_t blob_len;
    struct cm_reg_chunk *chunks;
    size_t nchunks;
    struct zs_chunk_req *creqs;
    bool *chunk_ok;     /* created (store) or read (fetch) */
    size_t outstanding; /* chunk requests awaiting their callback */
    int chunk_err;      /* fatal: the operation fails with it */
    bool chunk_retry;   /* transient: the phase is run again later */
    bool chunks_done;   /* store: every chunk exists; the manifest may be written */
    /* The registry last stored or read as chunks, and its chunks: the next store's split reuses
     * what it shares with it (cm_reg_chunks_resplit) instead of hashing everything again. */
    uint8_t *prev_blob;
    size_t prev_len;
    struct cm_reg_chunk *prev_chunks;
    size_t prev_n;
    int version; /* of the node as we last read or wrote it */
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

static void zs_chunks_clear(struct cm_registry_zk *z)
{
    free(z->blob);
    free(z->chunks);
    free(z->creqs);
    free(z->chunk_ok);
    z->blob = NULL;
    z->chunks = NULL;
    z->creqs = NULL;
    z->chunk_ok = NULL;
    z->blob_len = z->nchunks = z->outstanding = 0;
    z->chunk_err = 0;
    z->chunk_retry = z->chunks_done = false;
}

static void zs_ignore(struct cm_zk *zk, const struct cm_zk_result *res, void *arg)
{
    (void)zk, (void)res, (void)arg;
}

/* The manifest now in the node references exactly chunks[0..n): the chunks it no longer
 * references are deleted (best effort: a leftover is deleted by the next leader's fetch). */
static void zs_set_known(struct cm_registry_zk *z, const struct cm_reg_chunk *chunks, size_t n)
{
    struct cm_strmap next;
    cm_strmap_init(&next);
    for (size_t i = 0; i < n; i++)
        cm_strmap_put(&next, chunks[i].name, (void *)1);
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &z->known); cm_strmap_iter_next(&it);) {
        if (cm_strmap_get(&next, it.cur->key))
            continue;
        char *path = cm_xasprintf("%s/%s", z->chunk_dir, it.cur->key);
        cm_zk_delete(z->zk, path, -1, zs_ignore, NULL);
        free(path);
    }
    cm_strmap_cleanup(&z->known);
    z->known = next;
}

/* Keeps blob (taken over) and chunks (copied) as the previous registry. */
static void zs_keep_prev(struct cm_registry_zk *z, uint8_t *blob, size_t len,
                         const struct cm_reg_chunk *chunks, size_t n)
{
    free(z->prev_blob);
    free(z->prev_chunks);
    z->prev_blob = blob;
    z->prev_len = len;
    z->prev_chunks = cm_xmalloc((n ? n : 1) * sizeof *chunks);
    memcpy(z->prev_chunks, chunks, n * sizeof *chunks);
    z->prev_n = n;
}

static void zs_finish_store(struct cm_registry_zk *z, int err)
{
    if (err == 0)
        zs_set_known(z, z->chunks, z->nchunks);
    if (err == 0 && z->nchunks) {
        zs_keep_prev(z, z->blob, z->blob_len, z->chunks, z->nchunks);
        z->blob = NULL;
    }
    zs_chunks_clear(z);
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
    zs_chunks_clear(z);
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

static void zs_read_chunks(struct cm_registry_zk *z);
static void zs_fetched(struct cm_registry_zk *z);

/* fetch: the fencing write of what was read. */
static void zs_fenced(struct cm_zk *zk, const struct cm_zk_result *res, void *arg)
{
    (void)zk;
    struct cm_registry_zk *z = arg;
    z->inflight = false;
    if (res->rc == ZOK && res->stat) {
        z->version = res->stat->version;
        if (cm_reg_is_manifest(z->data, z->len)) {
            zs_read_chunks(z);
        } else {
            zs_set_known(z, NULL, 0);
            zs_fetched(z);
        }
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
        zs_issue(z);
    } else {
        zs_lost_race(z, found);
    }
}

/* ---- chunks (registrar_chunks.h) ---- */

/* store: every chunk request has answered. */
static void zs_chunks_written(struct cm_registry_zk *z)
{
    if (z->chunk_err) {
        zs_finish_store(z, z->chunk_err);
    } else if (z->chunk_retry) {
        CM_WARN(MOD, "Writing the registry's chunks under %s did not complete; retrying",
                z->chunk_dir);
        zs_retry_later(z, 0.5);
    } else {
        /* Every chunk exists: the manifest goes in with the compare-and-set. */
        z->chunks_done = true;
        cm_zk_set(z->zk, z->s->path, z->data, z->len, z->version, zs_set_done, z);
    }
}

static void zs_chunk_created(struct cm_zk *zk, const struct cm_zk_result *res, void *arg)
{
    (void)zk;
    struct zs_chunk_req *q = arg;
    struct cm_registry_zk *z = q->z;
    if (res->rc == ZOK || res->rc == ZNODEEXISTS) { /* named by content: the same bytes */
        z->chunk_ok[q->index] = true;
    } else if (zs_transient(res->rc) || res->rc == ZNONODE) {
        z->chunk_retry = true;
    } else if (!z->chunk_err) {
        CM_ERROR(MOD, "Failed to create the registry chunk %s/%s: %s", z->chunk_dir,
                 z->chunks[q->index].name, cm_zk_strerror(res->rc));
        z->chunk_err = -EIO;
    }
    if (--z->outstanding == 0)
        zs_chunks_written(z);
}

static void zs_chunk_dir_ready(struct cm_zk *zk, const struct cm_zk_result *res, void *arg)
{
    struct cm_registry_zk *z = arg;
    if (res->rc != ZOK) {
        CM_WARN(MOD, "Failed to create %s: %s; retrying", z->chunk_dir, cm_zk_strerror(res->rc));
        zs_retry_later(z, 0.5);
        return;
    }
    z->chunk_retry = false;
    size_t missing = 0;
    for (size_t i = 0; i < z->nchunks; i++)
        missing += !z->chunk_ok[i];
    if (missing == 0) {
        zs_chunks_written(z);
        return;
    }
    /* Counted before any is issued: a callback may run from inside cm_zk_create. */
    z->outstanding = missing;
    for (size_t i = 0; i < z->nchunks; i++) {
        if (z->chunk_ok[i])
            continue;
        char *path = cm_xasprintf("%s/%s", z->chunk_dir, z->chunks[i].name);
        cm_zk_create(zk, path, z->blob + z->chunks[i].off, z->chunks[i].len, 0, zs_chunk_created,
                     &z->creqs[i]);
        free(path);
    }
}

static void zs_chunk_got(struct cm_zk *zk, const struct cm_zk_result *res, void *arg)
{
    (void)zk;
    struct zs_chunk_req *q = arg;
    struct cm_registry_zk *z = q->z;
    const struct cm_reg_chunk *c = &z->chunks[q->index];
    if (res->rc == ZOK) {
        char name[CM_REG_CHUNK_NAME];
        cm_reg_chunk_name((const uint8_t *)res->data, res->data ? res->len : 0, name);
        if (strcmp(name, c->name) != 0) {
            if (!z->chunk_err)
                CM_ERROR(MOD, "The registry chunk %s/%s does not hold what its name says",
                         z->chunk_dir, c->name);
            z->chunk_err = CM_EINVAL;
        } else {
            memcpy(z->blob + c->off, res->data, c->len);
            z->chunk_ok[q->index] = true;
        }
    } else if (res->rc == ZNONODE) {
        if (!z->chunk_err)
            CM_ERROR(MOD, "The registry chunk %s/%s that the manifest %s lists is missing",
                     z->chunk_dir, c->name, z->s->path);
        z->chunk_err = CM_EINVAL;
    } else {
        z->chunk_retry = true;
    }
    if (--z->outstanding)
        return;
    if (z->chunk_err) {
        zs_finish_fetch(z, z->chunk_err,
                        "The registry in ZooKeeper is corrupt: a chunk its manifest lists is "
                        "missing or does not match its name");
    } else if (z->chunk_retry) {
        free(z->data);
        z->data = NULL;
        z->len = 0;
        zs_retry_later(z, 0.5); /* the whole fetch again: the manifest may have moved on */
    } else {
        zs_set_known(z, z->chunks, z->nchunks);
        uint8_t *copy = cm_xmalloc(z->blob_len ? z->blob_len : 1);
        memcpy(copy, z->blob, z->blob_len);
        zs_keep_prev(z, copy, z->blob_len, z->chunks, z->nchunks);
        free(z->data);
        z->data = z->blob;
        z->len = z->blob_len;
        z->blob = NULL;
        z->blob_len = 0;
        zs_fetched(z);
    }
}

/* Deletes the chunks no manifest references (left by a write that lost its race). */
static void zs_orphans(struct cm_zk *zk, const struct cm_zk_result *res, void *arg)
{
    struct cm_registry_zk *z = arg;
    if (res->rc != ZOK || z->pending != ZP_NONE)
        return;
    for (size_t i = 0; i < res->n_children; i++) {
        if (cm_strmap_get(&z->known, res->children[i]))
            continue;
        char *path = cm_xasprintf("%s/%s", z->chunk_dir, res->children[i]);
        cm_zk_delete(zk, path, -1, zs_ignore, NULL);
        free(path);
    }
}

/* fetch: the registry is read (z->data) and z->known set. */
static void zs_fetched(struct cm_registry_zk *z)
{
    cm_zk_children(z->zk, z->chunk_dir, NULL, NULL, zs_orphans, z);
    zs_finish_fetch(z, 0, NULL);
}

/* fetch, after the fencing write of a manifest: reads every chunk it lists. */
static void zs_read_chunks(struct cm_registry_zk *z)
{
    char why[256];
    size_t total = 0;
    zs_chunks_clear(z);
    if (cm_reg_manifest_parse(z->data, z->len, REG_MAX_BYTES, &z->chunks, &z->nchunks, &total, why,
                              sizeof why) != 0) {
        char msg[400];
        snprintf(msg, sizeof msg, "The registry manifest in ZooKeeper (%s) is corrupt: %s",
                 z->s->path, why);
        zs_finish_fetch(z, CM_EINVAL, msg);
        return;
    }
    z->blob = cm_xmalloc(total ? total : 1);
    z->blob_len = total;
    z->creqs = cm_xcalloc(z->nchunks ? z->nchunks : 1, sizeof *z->creqs);
    z->chunk_ok = cm_xcalloc(z->nchunks ? z->nchunks : 1, sizeof *z->chunk_ok);
    z->inflight = true;
    if (z->nchunks == 0) { /* an empty registry */
        free(z->data);
        z->data = z->blob;
        z->len = 0;
        z->blob = NULL;
        zs_fetched(z);
        return;
    }
    z->outstanding = z->nchunks;
    for (size_t i = 0; i < z->nchunks; i++) {
        z->creqs[i] = (struct zs_chunk_req){z, i};
        char *path = cm_xasprintf("%s/%s", z->chunk_dir, z->chunks[i].name);
        cm_zk_get(z->zk, path, NULL, NULL, zs_chunk_got, &z->creqs[i]);
        free(path);
    }
}

static void zs_issue(struct cm_registry_zk *z)
{
    z->inflight = true;
    if (z->pending == ZP_FETCH)
        cm_zk_ensure_path(z->zk, z->chunk_dir, zs_ensured, z);
    else if (z->uncertain)
        cm_zk_get(z->zk, z->s->path, NULL, NULL, zs_got, z);
    else if (z->nchunks && !z->chunks_done)
        cm_zk_ensure_path(z->zk, z->chunk_dir, zs_chunk_dir_ready, z);
    else
        cm_zk_set(z->zk, z->s->path, z->data, z->len, z->version, zs_set_done, z);
}

static void zs_session(struct cm_zk *zk, enum cm_zk_session_event ev, void *arg)
{
    (void)zk;
    struct cm_registry_zk *z = arg;
    switch (ev) {
    case CM_ZK_EXPIRED:
        /* Callbacks of requests of that session never come: settle the write later (only the
         * manifest's write can have landed unseen; chunk creates are simply redone). */
        if (z->pending == ZP_STORE && z->inflight && (!z->nchunks || z->chunks_done))
            z->uncertain = true;
        z->inflight = false;
        z->outstanding = 0;
        if (z->pending == ZP_FETCH && z->chunks) {
            zs_chunks_clear(z);
            free(z->data);
            z->data = NULL;
            z->len = 0;
        }
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
    z->uncertain = false;
    zs_chunks_clear(z);
    if (len <= CM_REG_INLINE_MAX) {
        /* Inline, as a single-znode registry always was. */
        z->data = cm_xmalloc(len ? len : 1);
        memcpy(z->data, data, len);
        z->len = len;
    } else {
        z->blob = cm_xmalloc(len);
        memcpy(z->blob, data, len);
        z->blob_len = len;
        cm_reg_chunks_resplit(z->prev_blob, z->prev_len, z->prev_chunks, z->prev_n, z->blob, len,
                              &z->chunks, &z->nchunks);
        z->creqs = cm_xcalloc(z->nchunks, sizeof *z->creqs);
        z->chunk_ok = cm_xcalloc(z->nchunks, sizeof *z->chunk_ok);
        for (size_t i = 0; i < z->nchunks; i++) {
            z->creqs[i] = (struct zs_chunk_req){z, i};
            z->chunk_ok[i] = cm_strmap_get(&z->known, z->chunks[i].name) != NULL;
        }
        z->data = (uint8_t *)cm_reg_manifest_format(z->chunks, z->nchunks, len, &z->len);
    }
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
        zs_chunks_clear(z);
        free(z->prev_blob);
        free(z->prev_chunks);
        cm_strmap_cleanup(&z->known);
        free(z->chunk_dir);
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
    z->chunk_dir = cm_xasprintf("%s/registry_chunks", url->path);
    cm_strmap_init(&z->known);
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
