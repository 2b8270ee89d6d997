/*
 * agent_xapi.h: the v1 executor API (docs/wire-protocol.md §4) in the agent core: SUBSCRIBE (the
 * executor's event stream), UPDATE, MESSAGE, HEARTBEAT, and the events the agent sends an
 * executor (SUBSCRIBED, LAUNCH, KILL, ACKNOWLEDGED, MESSAGE, SHUTDOWN).
 *
 * Every call body is decoded through codec.h (required fields, declared enums), checked for
 * form (executor_api.h) and then for what an executor could lie about: an UPDATE must be for
 * one of its own tasks, name this agent, and not move a task out of a terminal state. A bad
 * call is answered 400 with the reason naming the field.
 *
 * An executor's connection is either an HTTP stream or, in unit tests, a callback receiving
 * each event (struct agent_exec_conn), so the core is tested without sockets. Events go out
 * through the shared stream layer (stream.h: one RecordIO record per chunk); an executor that
 * stops reading is cut off past the HTTP server's cap on unsent bytes and counted in
 * slave/event_streams_dropped_slow, and its events are dropped until it subscribes again.
 *
 * Ownership: calls are borrowed. Threading: the agent's loop only.
 */
#ifndef CM_AGENT_AGENT_XAPI_H
#define CM_AGENT_AGENT_XAPI_H

#include <stdbool.h>

#include "agent_internal.h"
#include "codec.h"

/* Who is calling: the HTTP request (answered with the event stream on SUBSCRIBE), or in unit
 * tests a callback that receives every event the agent sends this executor. */
struct cm_agent_exec_client {
    struct cm_http_request *req;
    cm_agent_exec_event_cb cb;
    void *arg;
    /* The verified claims of the caller's executor token (agent_auth.h), or NULL. With
     * --authenticate_http_executors a call whose claims do not name the call's framework,
     * executor and the executor's container is refused with 403. */
    const json_t *claims;
};

/* Handles one executor call body of the given media (accept: what a SUBSCRIBE may be
 * answered in, CM_MEDIA_NONE if the caller said nothing acceptable). Returns the HTTP code:
 * 200 (SUBSCRIBE accepted: the stream is open), 202 (accepted), or 400 / 403 / 406 / 501 with
 * why holding the reason for the body (a 400 names the bad field). */
int cm_agent_executor_call(struct cm_agent *a, enum cm_media media, const void *body, size_t len,
                           enum cm_media accept, const struct cm_agent_exec_client *client,
                           char *why, size_t whylen);

/* Whether the executor has a subscription open. */
bool agent_xapi_connected(const struct agent_executor *e);
/* Ends the executor's subscription, if any (its HTTP stream is closed). */
void agent_xapi_disconnect(struct agent_executor *e);

void agent_xapi_send(struct agent_executor *e, Mesos__V1__Executor__Event *ev);

void agent_xapi_send_type(struct agent_executor *e, Mesos__V1__Executor__Event__Type type);

/* Sends the executor its queued tasks: LAUNCH for a single task, one LAUNCH_GROUP per task
 * group (agent_task.group; a DEFAULT executor gets only LAUNCH_GROUPs); they leave the queue.
 * For a subscribed executor. */
void agent_xapi_send_launches(struct agent_executor *e);

void cm_agent_executor_api(struct cm_http_request *req, void *arg);

#endif
