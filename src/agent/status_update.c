/*
 * status_update.c: per-task ordered, retried, acknowledged status update streams.
 */
#include "status_update.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "errors.h"
#include "util.h"
#include "strmap.h"

struct pending {
    Mesos__V1__TaskStatus *status; /* owned copy */
    struct pending *next;
};

struct stream {
    char *framework_id;
    char *executor_id; /* may be NULL */
    char *task_id;
    struct pending *head, *tail;
    size_t count;
    bool sent;       /* head has been sent at least once */
    double next_try; /* when to re-send the head */
    double interval; /* current back-off */
    /* uuids the framework acknowledged (newest CM_SUM_MAX_ACKED), so an executor resending an
     * update that was already acknowledged (e.g. after an agent restart) is a duplicate too. */
    uint8_t (*acked)[16]; /* room for acked_cap: 4 at first, doubling to CM_SUM_MAX_ACKED */
    size_t nacked, acked_start, acked_cap;
    size_t heap_idx; /* position in cm_sum.due, or NOT_DUE */
};

#define NOT_DUE SIZE_MAX

#define CM_SUM_MAX_ACKED 256

struct cm_sum {
    const struct cm_clock *clock;
    cm_sum_send_cb send;
    void *arg;
    bool connected;
    struct cm_strmap streams; /* "<fid>\x01<tid>" -> struct stream */
    /* Streams with a head, as a min-heap on due(): a tick touches only the streams whose
     * retry time has come instead of walking every stream. */
    struct stream **due;
    size_t ndue, due_cap;
};

/* When the stream's head must (re)send: an unsent head at once, a sent one at next_try. */
static double due(const struct stream *st)
{
    return st->sent ? st->next_try : -HUGE_VAL;
}

static void heap_set(struct cm_sum *sum, size_t i, struct stream *st)
{
    sum->due[i] = st;
    st->heap_idx = i;
}

static void heap_fix(struct cm_sum *sum, size_t i)
{
    struct stream *st = sum->due[i];
    while (i > 0 && due(sum->due[(i - 1) / 2]) > due(st)) {
        heap_set(sum, i, sum->due[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= sum->ndue)
            break;
        if (c + 1 < sum->ndue && due(sum->due[c + 1]) < due(sum->due[c]))
            c++;
        if (due(sum->due[c]) >= due(st))
            break;
        heap_set(sum, i, sum->due[c]);
        i = c;
    }
    heap_set(sum, i, st);
}

static void unschedule(struct cm_sum *sum, struct stream *st)
{
    size_t i = st->heap_idx;
    if (i == NOT_DUE)
        return;
    st->heap_idx = NOT_DUE;
    struct stream *last = sum->due[--sum->ndue];
    if (last != st) {
        heap_set(sum, i, last);
        heap_fix(sum, i);
    }
}

/* Puts the stream where its due time says (or out of the heap when it has no head); called
 * after every change to head, sent or next_try. */
static void schedule(struct cm_sum *sum, struct stream *st)
{
    if (!st->head) {
        unschedule(sum, st);
        return;
    }
    if (st->heap_idx == NOT_DUE) {
        if (sum->ndue == sum->due_cap) {
            sum->due_cap = sum->due_cap ? 2 * sum->due_cap : 16;
            sum->due = realloc(sum->due, sum->due_cap * sizeof *sum->due);
            if (!sum->due)
                abort();
        }
        heap_set(sum, sum->ndue++, st);
    }
    heap_fix(sum, st->heap_idx);
}

/* "<fid>\x01<tid>" in buf when it fits (ids are short), else malloc'd; free with key_free. */
static char *stream_key(const char *fid, const char *tid, char *buf, size_t buflen)
{
    size_t lf = strlen(fid), lt = strlen(tid);
    char *k = lf + lt + 2 <= buflen ? buf : malloc(lf + lt + 2);
    if (!k)
        abort();
    memcpy(k, fid, lf);
    k[lf] = '\x01';
    memcpy(k + lf + 1, tid, lt + 1);
    return k;
}

static void key_free(char *k, const char *buf)
{
    if (k != buf)
        free(k);
}

#define KEYBUF 256

static char *xstrdup(const char *s)
{
    if (!s)
        return NULL;
    char *p = strdup(s);
    if (!p)
        abort();
    return p;
}

static Mesos__V1__TaskStatus *status_dup(const Mesos__V1__TaskStatus *s)
{
    size_t len = protobuf_c_message_get_packed_size(&s->base);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        abort();
    protobuf_c_message_pack(&s->base, buf);
    /* Every status reaching the manager was decoded through codec.h or built by the agent, so
     * this decode of our own packing cannot fail short of memory corruption. */
    ProtobufCMessage *copy = NULL;
    char why[128];
    int rc = cm_pb_unpack(&mesos__v1__task_status__descriptor, buf, len, &copy, why, sizeof why);
    free(buf);
    if (rc != 0)
        abort();
    return (Mesos__V1__TaskStatus *)copy;
}

struct cm_sum *cm_sum_new(const struct cm_clock *clock, cm_sum_send_cb send, void *arg)
{
    struct cm_sum *sum = calloc(1, sizeof *sum);
    if (!sum)
        abort();
    sum->clock = clock;
    sum->send = send;
    sum->arg = arg;
    cm_strmap_init(&sum->streams);
    return sum;
}

/* Takes void * so that it can free the values of the streams map. */
static void stream_free(void *arg)
{
    struct stream *st = arg;
    struct pending *p = st->head;
    while (p) {
        struct pending *next = p->next;
        protobuf_c_message_free_unpacked(&p->status->base, NULL);
        free(p);
        p = next;
    }
    free(st->acked);
    free(st->framework_id);
    free(st->executor_id);
    free(st->task_id);
    free(st);
}

void cm_sum_free(struct cm_sum *sum)
{
    if (!sum)
        return;
    cm_strmap_cleanup_values(&sum->streams, stream_free);
    free(sum->due);
    free(sum);
}

static void send_head(struct cm_sum *sum, struct stream *st, bool first)
{
    double now = cm_clock_now(sum->clock);
    if (first || !st->sent) {
        st->interval = CM_SUM_RETRY_MIN;
    } else {
        st->interval *= 2;
        if (st->interval > CM_SUM_RETRY_MAX)
            st->interval = CM_SUM_RETRY_MAX;
    }
    st->sent = true;
    st->next_try = now + st->interval;
    schedule(sum, st);
    sum->send(sum->arg, st->framework_id, st->executor_id, st->head->status,
              st->tail->status->state);
}

void cm_sum_set_connected(struct cm_sum *sum, bool connected)
{
    sum->connected = connected;
    if (!connected)
        return;
    struct cm_strmap_iter it;
    cm_strmap_iter_init(&it, &sum->streams);
    struct stream *st;
    while ((st = cm_strmap_iter_value(&it, NULL)))
        if (st->head)
            send_head(sum, st, true);
}

int cm_sum_update(struct cm_sum *sum, const char *framework_id, const char *executor_id,
                  const Mesos__V1__TaskStatus *status)
{
    if (!status->has_uuid || status->uuid.len != 16 || !status->task_id || !status->task_id->value)
        return CM_EINVAL;
    char kbuf[KEYBUF];
    char *key = stream_key(framework_id, status->task_id->value, kbuf, sizeof kbuf);
    struct stream *st = cm_strmap_get(&sum->streams, key);
    if (!st) {
        st = calloc(1, sizeof *st);
        if (!st)
            abort();
        st->framework_id = xstrdup(framework_id);
        st->executor_id = xstrdup(executor_id);
        st->task_id = xstrdup(status->task_id->value);
        st->heap_idx = NOT_DUE;
        cm_strmap_put(&sum->streams, key, st);
    } else {
        for (size_t i = 0; i < st->nacked; i++) {
            if (memcmp(st->acked[i], status->uuid.data, 16) == 0) {
                key_free(key, kbuf);
                return CM_EEXIST;
            }
        }
        for (struct pending *p = st->head; p; p = p->next) {
            if (p->status->uuid.len == 16 &&
                memcmp(p->status->uuid.data, status->uuid.data, 16) == 0) {
                key_free(key, kbuf);
                return CM_EEXIST;
            }
        }
    }
    key_free(key, kbuf);
    struct pending *p = calloc(1, sizeof *p);
    if (!p)
        abort();
    p->status = status_dup(status);
    if (st->tail)
        st->tail->next = p;
    else
        st->head = p;
    st->tail = p;
    st->count++;
    if (st->count == 1 && sum->connected)
        send_head(sum, st, true);
    else
        schedule(sum, st);
    return 0;
}

int cm_sum_acknowledge(struct cm_sum *sum, const char *framework_id, const char *task_id,
                       const uint8_t *uuid, size_t uuid_len, Mesos__V1__TaskState *acked_state,
                       bool *stream_done)
{
    char kbuf[KEYBUF];
    char *key = stream_key(framework_id, task_id, kbuf, sizeof kbuf);
    struct stream *st = cm_strmap_get(&sum->streams, key);
    int rc = CM_ENOTFOUND;
    if (!st || !st->head || uuid_len != 16 || st->head->status->uuid.len != 16 ||
        memcmp(st->head->status->uuid.data, uuid, 16) != 0)
        goto out;
    struct pending *p = st->head;
    st->head = p->next;
    if (!st->head)
        st->tail = NULL;
    st->count--;
    if (acked_state)
        *acked_state = p->status->state;
    bool terminal = cm_task_state_terminal(p->status->state);
    if (st->nacked == st->acked_cap && st->acked_cap < CM_SUM_MAX_ACKED) {
        /* A task usually has three updates: a small array, grown when one has more. */
        st->acked_cap = st->acked_cap ? 2 * st->acked_cap : 4;
        st->acked = realloc(st->acked, st->acked_cap * sizeof *st->acked);
        if (!st->acked)
            abort();
    }
    if (st->nacked < CM_SUM_MAX_ACKED) {
        memcpy(st->acked[st->nacked++], uuid, 16);
    } else {
        memcpy(st->acked[st->acked_start], uuid, 16);
        st->acked_start = (st->acked_start + 1) % CM_SUM_MAX_ACKED;
    }
    protobuf_c_message_free_unpacked(&p->status->base, NULL);
    free(p);
    st->sent = false;
    schedule(sum, st);
    if (stream_done)
        *stream_done = st->count == 0;
    /* The stream (and its acknowledged uuids) lives until its terminal update is acknowledged
     * or the task is removed. */
    if (st->count == 0 && terminal) {
        cm_strmap_remove(&sum->streams, key);
        unschedule(sum, st);
        stream_free(st);
    } else if (st->count > 0 && sum->connected) {
        send_head(sum, st, true);
    }
    rc = 0;
out:
    key_free(key, kbuf);
    return rc;
}

void cm_sum_tick(struct cm_sum *sum)
{
    if (!sum->connected)
        return;
    double now = cm_clock_now(sum->clock);
    /* send_head moves the head's due time past now, so each due stream is sent once. */
    while (sum->ndue > 0 && due(sum->due[0]) <= now) {
        struct stream *st = sum->due[0];
        send_head(sum, st, !st->sent);
    }
}

size_t cm_sum_pending(const struct cm_sum *sum, const char *framework_id, const char *task_id,
                      Mesos__V1__TaskState *head)
{
    char kbuf[KEYBUF];
    char *key = stream_key(framework_id, task_id, kbuf, sizeof kbuf);
    struct stream *st = cm_strmap_get(&sum->streams, key);
    key_free(key, kbuf);
    if (!st)
        return 0;
    if (head && st->head)
        *head = st->head->status->state;
    return st->count;
}

size_t cm_sum_streams(const struct cm_sum *sum)
{
    size_t n = 0;
    struct cm_strmap_iter it;
    cm_strmap_iter_init(&it, &sum->streams);
    struct stream *st;
    while ((st = cm_strmap_iter_value(&it, NULL)))
        n += st->count > 0;
    return n;
}

void cm_sum_remove_task(struct cm_sum *sum, const char *framework_id, const char *task_id)
{
    char kbuf[KEYBUF];
    char *key = stream_key(framework_id, task_id, kbuf, sizeof kbuf);
    struct stream *st = cm_strmap_remove(&sum->streams, key);
    key_free(key, kbuf);
    if (st) {
        unschedule(sum, st);
        stream_free(st);
    }
}

void cm_sum_drop_framework(struct cm_sum *sum, const char *framework_id)
{
    struct cm_strmap_iter it;
    cm_strmap_iter_init(&it, &sum->streams);
    struct stream *st;
    const char *key;
    while ((st = cm_strmap_iter_value(&it, &key))) {
        if (strcmp(st->framework_id, framework_id) == 0) {
            cm_strmap_remove(&sum->streams, key);
            unschedule(sum, st);
            stream_free(st);
        }
    }
}
