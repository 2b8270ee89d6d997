/*
 * checkpoint.h: durable files for agent recovery (layout in paths.h).
 *
 * Every checkpoint is made of records: a 12-byte header (magic "CMCK", payload length as a
 * little-endian u32, CRC-32C of the payload as a little-endian u32) followed by the payload.
 * A single-record file (agent info, framework info, executor info, task info, forked pid) is
 * written to "<path>.tmp", fsync'd, renamed over path and its directory fsync'd, so a crash
 * leaves either the old or the new file. A task's status update stream is append-only: each
 * append is one write of one record followed by fsync; a crash during an append leaves a
 * truncated tail, which the decoder reports (valid_len) and recovery cuts off before
 * appending again. A record whose magic or CRC does not match, or whose length exceeds
 * CM_CKPT_MAX_RECORD, is corruption (CM_EPARSE with a why text naming the offset).
 *
 * Stream records (cm_ckpt_update_*): payload byte 0 is the type (1 = UPDATE: a packed
 * mesos.v1.TaskStatus follows; 2 = ACK: the 16-byte uuid acknowledged by the framework).
 *
 * Functions return 0, -errno or CM_EPARSE/CM_ETOOBIG; nothing here keeps state. Blocking
 * (fsync) by design: an update is acknowledged to its executor only once it is on disk.
 */
#ifndef CM_AGENT_CHECKPOINT_H
#define CM_AGENT_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mesos/v1/mesos.pb-c.h"

#define CM_CKPT_HEADER 12
#define CM_CKPT_MAX_RECORD (16u * 1024u * 1024u)

enum cm_ckpt_update_type {
    CM_CKPT_UPDATE = 1,
    CM_CKPT_ACK = 2,
};

/* CRC-32C (Castagnoli) of data. */
uint32_t cm_ckpt_crc32c(const void *data, size_t len);

/* Encodes one record into a malloc'd buffer (*out, *outlen). */
void cm_ckpt_record_encode(const void *payload, size_t len, uint8_t **out, size_t *outlen);

/* Called for each valid record; payload is borrowed. Non-zero stops the walk (returned). */
typedef int (*cm_ckpt_record_cb)(void *arg, const uint8_t *payload, size_t len);

/* Walks the records of buf. Returns 0 with *valid_len the length of the complete records
 * (less than len when the tail is truncated), CM_EPARSE on corruption (why says where), or
 * the callback's non-zero value. */
int cm_ckpt_records_decode(const uint8_t *buf, size_t len, cm_ckpt_record_cb cb, void *arg,
                           size_t *valid_len, char *why, size_t whylen);

/* Reads a whole file (malloc'd, at most max bytes). Returns 0, -errno or CM_ETOOBIG. */
int cm_ckpt_read_file(const char *path, size_t max, uint8_t **data, size_t *len);

/* Atomically replaces path with one record holding payload (mkdir -p of its directory). */
int cm_ckpt_write_record(const char *path, const void *payload, size_t len);
/* Packs m and writes it with cm_ckpt_write_record. */
int cm_ckpt_write_message(const char *path, const ProtobufCMessage *m);
/* Reads a single-record file and unpacks it as desc. A missing file is -ENOENT; a truncated,
 * corrupt or unparsable one is CM_EPARSE with why naming the file. */
int cm_ckpt_read_message(const char *path, const ProtobufCMessageDescriptor *desc,
                         ProtobufCMessage **out, char *why, size_t whylen);

/* Appends one record to path (created if missing, directory fsync'd then) and fsyncs. */
int cm_ckpt_append(const char *path, const void *payload, size_t len);
/* Appends an UPDATE record holding status. */
int cm_ckpt_append_update(const char *path, const Mesos__V1__TaskStatus *status);
/* Appends an ACK record for uuid (16 bytes). */
int cm_ckpt_append_ack(const char *path, const uint8_t *uuid);

/* One replayed task stream: updates in order; acked = how many of them (from the front) the
 * framework acknowledged. */
struct cm_ckpt_stream {
    Mesos__V1__TaskStatus **updates; /* owned */
    size_t n, cap;
    size_t acked;
    size_t valid_len; /* bytes of complete records (recovery truncates the file to it) */
    bool truncated;   /* the file had a partial record at its end */
};

/* Replays a task.updates file. A missing file is an empty stream. An ACK that does not match
 * the next unacknowledged update, or an unparsable update, is corruption (CM_EPARSE). */
int cm_ckpt_stream_read(const char *path, struct cm_ckpt_stream *out, char *why, size_t whylen);
/* The same from a buffer (unit tests). */
int cm_ckpt_stream_decode(const uint8_t *buf, size_t len, struct cm_ckpt_stream *out, char *why,
                          size_t whylen);
void cm_ckpt_stream_cleanup(struct cm_ckpt_stream *s);

/* Writes "<pid> <start time>" as the forked.pid record. */
int cm_ckpt_write_pid(const char *path, pid_t pid, unsigned long long start_time);
int cm_ckpt_read_pid(const char *path, pid_t *pid, unsigned long long *start_time, char *why,
                     size_t whylen);
/* Start time (field 22 of /proc/<pid>/stat, clock ticks since boot) of a live process, so a
 * recovered pid is known to be the same process and not a reuse. Returns 0 or -errno. */
int cm_ckpt_proc_start_time(pid_t pid, unsigned long long *start_time);

#endif
