/*
 * status_update.h: the agent's status update manager (Mesos's TaskStatusUpdateManager).
 *
 * One ordered stream per (framework, task). A new update is appended to its task's stream;
 * only the head of a stream is ever sent to the master, and the next one only after the
 * framework's acknowledgement of the head's uuid comes back (cm_sum_acknowledge). An
 * unacknowledged head is re-sent 10 s after it was sent, then after 20 s, 40 s, ... up to
 * 10 min between tries; cm_sum_tick does that and is called by the agent from a periodic
 * timer, reading time from the injectable clock, so tests drive it with a fake clock.
 * Each send carries latest_state: the newest state queued for the task, which lets the master
 * release resources before the terminal update reaches the head.
 *
 * Ownership: the manager copies every status it is given. The send callback gets borrowed
 * pointers valid only during the call. Streams are indexed by id in a hash table, so nothing
 * scans all tasks per event. Single-threaded (the agent's loop).
 */
#ifndef CM_AGENT_STATUS_UPDATE_H
#define CM_AGENT_STATUS_UPDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "mesos/v1/mesos.pb-c.h"

#define CM_SUM_RETRY_MIN 10.0
#define CM_SUM_RETRY_MAX 600.0

struct cm_sum;

/* Sends one update to the master. executor_id may be NULL. */
typedef void (*cm_sum_send_cb)(void *arg, const char *framework_id, const char *executor_id,
                               const Mesos__V1__TaskStatus *status,
                               Mesos__V1__TaskState latest_state);

struct cm_sum *cm_sum_new(const struct cm_clock *clock, cm_sum_send_cb send, void *arg);
/* Drops every pending update. NULL is a no-op. */
void cm_sum_free(struct cm_sum *sum);

/* While not connected nothing is sent (cm_sum_update just queues); turning connected on
 * re-sends every head at once and restarts their back-off. Starts disconnected. */
void cm_sum_set_connected(struct cm_sum *sum, bool connected);

/* Queues a copy of status (which must carry a 16-byte uuid) for framework_id. If it is the
 * head of its stream and the manager is connected it is sent at once. An update whose uuid is
 * already queued or acknowledged for the task is a duplicate and is ignored (returns
 * CM_EEXIST); acknowledged uuids are kept until the terminal update is acknowledged.
 * Returns 0, CM_EEXIST or CM_EINVAL (no/bad uuid). */
int cm_sum_update(struct cm_sum *sum, const char *framework_id, const char *executor_id,
                  const Mesos__V1__TaskStatus *status);

/* The framework acknowledged uuid for the task. If it matches the head, the head is dropped
 * and the next update (if any) is sent. On success *acked_state is the state acknowledged
 * and *stream_done tells whether the stream is now empty (so a terminal task is complete).
 * Returns 0, or CM_ENOTFOUND (unknown task or uuid not the head: a stale/duplicate ack). */
int cm_sum_acknowledge(struct cm_sum *sum, const char *framework_id, const char *task_id,
                       const uint8_t *uuid, size_t uuid_len, Mesos__V1__TaskState *acked_state,
                       bool *stream_done);

/* Re-sends every head whose retry time has come. */
void cm_sum_tick(struct cm_sum *sum);

/* Number of updates queued for the task (0 if none); the state of its head in *head. */
size_t cm_sum_pending(const struct cm_sum *sum, const char *framework_id, const char *task_id,
                      Mesos__V1__TaskState *head);
/* Total number of streams (tasks with pending updates). */
size_t cm_sum_streams(const struct cm_sum *sum);
/* Forgets the task's stream (pending updates and acknowledged uuids): the task is complete. */
void cm_sum_remove_task(struct cm_sum *sum, const char *framework_id, const char *task_id);
/* Drops every stream of a framework (framework removed). */
void cm_sum_drop_framework(struct cm_sum *sum, const char *framework_id);

#endif
