/*
 * checkpoint.c: checkpoint records, atomic files and append-only update streams.
 */
#include "checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec.h"
#include "errors.h"
#include "paths.h"
#include "util.h"

static const uint8_t MAGIC[4] = {'C', 'M', 'C', 'K'};

uint32_t cm_ckpt_crc32c(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void cm_ckpt_record_encode(const void *payload, size_t len, uint8_t **out, size_t *outlen)
{
    uint8_t *b = malloc(CM_CKPT_HEADER + len);
    if (!b)
        abort();
    memcpy(b, MAGIC, 4);
    put_u32(b + 4, (uint32_t)len);
    put_u32(b + 8, cm_ckpt_crc32c(payload, len));
    if (len)
        memcpy(b + CM_CKPT_HEADER, payload, len);
    *out = b;
    *outlen = CM_CKPT_HEADER + len;
}

int cm_ckpt_records_decode(const uint8_t *buf, size_t len, cm_ckpt_record_cb cb, void *arg,
                           size_t *valid_len, char *why, size_t whylen)
{
    size_t off = 0;
    *valid_len = 0;
    while (off < len) {
        size_t left = len - off;
        /* Some file systems leave a zero-filled tail after a crash mid-append: a torn append. */
        size_t z = off;
        while (z < len && buf[z] == 0)
            z++;
        if (z == len)
            break;
        /* A partial header is a torn append only if what is there matches the magic. */
        if (memcmp(buf + off, MAGIC, left < 4 ? left : 4) != 0)
            return cm_fail(CM_EPARSE, why, whylen, "bad record magic at offset %zu", off);
        if (left < CM_CKPT_HEADER)
            break;
        uint32_t plen = get_u32(buf + off + 4);
        if (plen > CM_CKPT_MAX_RECORD)
            return cm_fail(CM_EPARSE, why, whylen, "record length %u at offset %zu is too large",
                           plen, off);
        if (left - CM_CKPT_HEADER < plen)
            break;
        const uint8_t *payload = buf + off + CM_CKPT_HEADER;
        if (cm_ckpt_crc32c(payload, plen) != get_u32(buf + off + 8))
            return cm_fail(CM_EPARSE, why, whylen, "checksum mismatch in the record at offset %zu",
                           off);
        if (cb) {
            int rc = cb(arg, payload, plen);
            if (rc)
                return rc;
        }
        off += CM_CKPT_HEADER + plen;
        *valid_len = off;
    }
    return 0;
}

int cm_ckpt_read_file(const char *path, size_t max, uint8_t **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    if ((size_t)st.st_size > max) {
        close(fd);
        return CM_ETOOBIG;
    }
    size_t cap = (size_t)st.st_size, n = 0;
    uint8_t *b = malloc(cap + 1);
    if (!b)
        abort();
    while (n < cap) {
        ssize_t r = read(fd, b + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = -errno;
            free(b);
            close(fd);
            return e;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    *data = b;
    *len = n;
    return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int fsync_dir_of(const char *path)
{
    char *copy = cm_xstrdup(path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

static int mkdir_parent(const char *path)
{
    char *copy = cm_xstrdup(path);
    int rc = cm_paths_mkdirs(dirname(copy), 0755);
    free(copy);
    return rc;
}

int cm_ckpt_write_record(const char *path, const void *payload, size_t len)
{
    int rc = mkdir_parent(path);
    if (rc)
        return rc;
    uint8_t *rec;
    size_t reclen;
    cm_ckpt_record_encode(payload, len, &rec, &reclen);
    char *tmp = cm_xasprintf("%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    rc = write_all(fd, rec, reclen);
    if (rc == 0 && fsync(fd) != 0)
        rc = -errno;
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc == 0)
        rc = fsync_dir_of(path);
    else
        unlink(tmp);
out:
    free(tmp);
    free(rec);
    return rc;
}

int cm_ckpt_write_message(const char *path, const ProtobufCMessage *m)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        abort();
    protobuf_c_message_pack(m, buf);
    int rc = cm_ckpt_write_record(path, buf, len);
    free(buf);
    return rc;
}

struct one {
    const uint8_t *payload;
    size_t len;
    size_t count;
};

static int one_cb(void *arg, const uint8_t *payload, size_t len)
{
    struct one *o = arg;
    o->payload = payload;
    o->len = len;
    o->count++;
    return 0;
}

/* Reads the single record of path into a malloc'd copy of its payload. */
static int read_single(const char *path, uint8_t **payload, size_t *plen, char *why, size_t whylen)
{
    uint8_t *data;
    size_t len;
    int rc = cm_ckpt_read_file(path, CM_CKPT_MAX_RECORD + CM_CKPT_HEADER, &data, &len);
    if (rc == -ENOENT)
        return cm_fail(rc, why, whylen, "'%s' does not exist", path);
    if (rc)
        return cm_fail(rc == CM_ETOOBIG ? CM_EPARSE : rc, why, whylen, "Failed to read '%s': %s",
                       path, cm_strerror(rc));
    struct one o = {0};
    size_t valid = 0;
    char w[160] = "";
    rc = cm_ckpt_records_decode(data, len, one_cb, &o, &valid, w, sizeof w);
    if (rc == 0 && (o.count != 1 || valid != len))
        rc = cm_fail(CM_EPARSE, w, sizeof w, "%s", o.count == 0 ? "truncated" : "trailing data");
    if (rc) {
        free(data);
        return cm_fail(CM_EPARSE, why, whylen, "Checkpoint '%s' is corrupt: %s", path, w);
    }
    *payload = malloc(o.len ? o.len : 1);
    if (!*payload)
        abort();
    memcpy(*payload, o.payload, o.len);
    *plen = o.len;
    free(data);
    return 0;
}

int cm_ckpt_read_message(const char *path, const ProtobufCMessageDescriptor *desc,
                         ProtobufCMessage **out, char *why, size_t whylen)
{
    *out = NULL;
    uint8_t *payload;
    size_t len;
    int rc = read_single(path, &payload, &len, why, whylen);
    if (rc)
        return rc;
    /* A checkpoint is as untrusted as the disk: codec.h checks its required fields and enums
     * so a flipped byte cannot put an undeclared state into the agent. */
    char inner[256];
    rc = cm_pb_unpack(desc, payload, len, out, inner, sizeof inner);
    free(payload);
    if (rc)
        return cm_fail(rc == CM_ETOOBIG ? CM_ETOOBIG : CM_EPARSE, why, whylen,
                       "Checkpoint '%s' is not a valid %s: %s", path, desc->name, inner);
    return 0;
}

int cm_ckpt_append(const char *path, const void *payload, size_t len)
{
    int rc = mkdir_parent(path);
    if (rc)
        return rc;
    bool created = false;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0)
        created = true;
    else if (errno == EEXIST)
        fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    uint8_t *rec;
    size_t reclen;
    cm_ckpt_record_encode(payload, len, &rec, &reclen);
    rc = write_all(fd, rec, reclen);
    if (rc == 0 && fsync(fd) != 0)
        rc = -errno;
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    free(rec);
    if (rc == 0 && created)
        rc = fsync_dir_of(path);
    return rc;
}

int cm_ckpt_append_update(const char *path, const Mesos__V1__TaskStatus *status)
{
    size_t len = protobuf_c_message_get_packed_size(&status->base);
    uint8_t *buf = malloc(len + 1);
    if (!buf)
        abort();
    buf[0] = CM_CKPT_UPDATE;
    protobuf_c_message_pack(&status->base, buf + 1);
    int rc = cm_ckpt_append(path, buf, len + 1);
    free(buf);
    return rc;
}

int cm_ckpt_append_ack(const char *path, const uint8_t *uuid)
{
    uint8_t buf[17];
    buf[0] = CM_CKPT_ACK;
    memcpy(buf + 1, uuid, 16);
    return cm_ckpt_append(path, buf, sizeof buf);
}

struct replay {
    struct cm_ckpt_stream *s;
    char *why;
    size_t whylen;
};

static int replay_cb(void *arg, const uint8_t *p, size_t len)
{
    struct replay *r = arg;
    struct cm_ckpt_stream *s = r->s;
    if (len < 1)
        return cm_fail(CM_EPARSE, r->why, r->whylen, "empty stream record");
    if (p[0] == CM_CKPT_UPDATE) {
        ProtobufCMessage *m = NULL;
        char inner[128];
        if (cm_pb_unpack(&mesos__v1__task_status__descriptor, p + 1, len - 1, &m, inner,
                         sizeof inner) != 0)
            m = NULL;
        Mesos__V1__TaskStatus *st = (Mesos__V1__TaskStatus *)m;
        if (!st || !st->task_id || !st->has_uuid || st->uuid.len != 16) {
            if (st)
                protobuf_c_message_free_unpacked(&st->base, NULL);
            return cm_fail(CM_EPARSE, r->why, r->whylen,
                           "update record %zu is not a TaskStatus with a uuid", s->n + 1);
        }
        if (s->n == s->cap) {
            s->cap = s->cap ? s->cap * 2 : 8;
            s->updates = realloc(s->updates, s->cap * sizeof *s->updates);
            if (!s->updates)
                abort();
        }
        s->updates[s->n++] = st;
        return 0;
    }
    if (p[0] == CM_CKPT_ACK) {
        if (len != 17)
            return cm_fail(CM_EPARSE, r->why, r->whylen, "acknowledgement record of %zu bytes",
                           len);
        if (s->acked >= s->n || memcmp(s->updates[s->acked]->uuid.data, p + 1, 16) != 0)
            return cm_fail(CM_EPARSE, r->why, r->whylen,
                           "acknowledgement %zu does not match the next pending update",
                           s->acked + 1);
        s->acked++;
        return 0;
    }
    return cm_fail(CM_EPARSE, r->why, r->whylen, "unknown stream record type %u", p[0]);
}

int cm_ckpt_stream_decode(const uint8_t *buf, size_t len, struct cm_ckpt_stream *out, char *why,
                          size_t whylen)
{
    memset(out, 0, sizeof *out);
    struct replay r = {out, why, whylen};
    size_t valid = 0;
    int rc = cm_ckpt_records_decode(buf, len, replay_cb, &r, &valid, why, whylen);
    if (rc) {
        cm_ckpt_stream_cleanup(out);
        return rc == CM_EPARSE ? rc : CM_EPARSE;
    }
    out->valid_len = valid;
    out->truncated = valid < len;
    return 0;
}

int cm_ckpt_stream_read(const char *path, struct cm_ckpt_stream *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    uint8_t *data;
    size_t len;
    int rc = cm_ckpt_read_file(path, (size_t)1 << 30, &data, &len);
    if (rc == -ENOENT)
        return 0;
    if (rc)
        return cm_fail(rc, why, whylen, "Failed to read '%s': %s", path, cm_strerror(rc));
    char w[200] = "";
    rc = cm_ckpt_stream_decode(data, len, out, w, sizeof w);
    free(data);
    if (rc)
        return cm_fail(rc, why, whylen, "Status update stream '%s' is corrupt: %s", path, w);
    return 0;
}

void cm_ckpt_stream_cleanup(struct cm_ckpt_stream *s)
{
    for (size_t i = 0; i < s->n; i++)
        protobuf_c_message_free_unpacked(&s->updates[i]->base, NULL);
    free(s->updates);
    memset(s, 0, sizeof *s);
}

int cm_ckpt_write_pid(const char *path, pid_t pid, unsigned long long start_time)
{
    char text[64];
    int n = snprintf(text, sizeof text, "%d %llu", (int)pid, start_time);
    return cm_ckpt_write_record(path, text, (size_t)n);
}

int cm_ckpt_read_pid(const char *path, pid_t *pid, unsigned long long *start_time, char *why,
                     size_t whylen)
{
    uint8_t *payload;
    size_t len;
    int rc = read_single(path, &payload, &len, why, whylen);
    if (rc)
        return rc;
    char text[64];
    if (len >= sizeof text) {
        free(payload);
        return cm_fail(CM_EPARSE, why, whylen, "Checkpoint '%s' is not a pid record", path);
    }
    memcpy(text, payload, len);
    text[len] = '\0';
    free(payload);
    int p = 0;
    if (sscanf(text, "%d %llu", &p, start_time) != 2 || p <= 1)
        return cm_fail(CM_EPARSE, why, whylen, "Checkpoint '%s' is not a pid record", path);
    *pid = p;
    return 0;
}

int cm_ckpt_proc_start_time(pid_t pid, unsigned long long *start_time)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -EIO;
    buf[n] = '\0';
    /* The command name may hold spaces and parentheses: fields restart after the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p)
        return -EIO;
    p++;
    /* After ')' come field 3 (state) ... field 22 (starttime): skip 19 fields. */
    for (int field = 3; field < 22; field++) {
        while (*p == ' ')
            p++;
        while (*p && *p != ' ')
            p++;
    }
    if (sscanf(p, " %llu", start_time) != 1)
        return -EIO;
    return 0;
}
