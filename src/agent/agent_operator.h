/*
 * agent_operator.h: the agent's v1 operator API (docs/wire-protocol.md §5.4): POST /api/v1 and
 * /slave(1)/api/v1 with a mesos.v1.agent.Call (proto/mesos/v1/agent/agent.proto) in JSON or
 * protobuf, answered with a mesos.v1.agent.Response; plus /logging/toggle and the agent's
 * Prometheus /metrics (prometheus.h).
 *
 * Processing order and status codes (Mesos's agent: src/slave/http.cpp, Http::api):
 *   503                  the agent is still recovering (executors re-attaching)
 *   405 + Allow: POST    method is not POST
 *   400                  Content-Type missing ("Expecting 'Content-Type' to be present")
 *   501                  Content-Type application/recordio (the streaming calls)
 *   415                  any other Content-Type that is neither JSON nor protobuf
 *   406                  Accept allows neither JSON nor protobuf (checked before the body)
 *   400                  body does not decode (codec.h: the reason names the field), or the call
 *                        is invalid: "Failed to validate agent::Call: ..." — a missing 'type', an
 *                        undeclared type value (named: "Unknown call type 99" / "'FOO'"), the
 *                        call's sub-message missing
 *   then the call:
 *     GET_HEALTH, GET_FLAGS, GET_VERSION, GET_METRICS, GET_LOGGING_LEVEL, GET_STATE,
 *     GET_CONTAINERS, GET_FRAMEWORKS, GET_EXECUTORS, GET_TASKS, GET_AGENT -> 200 + Response
 *     SET_LOGGING_LEVEL -> 200 (empty); the verbosity reverts to 0 after the duration
 *     LIST_FILES, READ_FILE -> 200 + Response, through the agent's /files table (files.h:
 *       cm_files_resolve, so the same confinement applies): 400 bad path, 403 outside the
 *       attached directories, 404 unknown; READ_FILE reads at most 16 pages per call and
 *       answers 400 for a directory
 *     KILL_CONTAINER -> 200 (empty), signal (default SIGKILL) through cm_containerizer_kill;
 *       404 for a container the containerizer does not hold; 400 for a signal out of range
 *     WAIT_CONTAINER -> 200 + Response{wait_container{exit_status}} once the executor container
 *       has exited (long-poll: held until then, checked every 100 ms); 404 for an unknown
 *       container; 503 when more than CM_AGENT_OP_MAX_WAITERS are already waiting
 *     LAUNCH/WAIT/KILL/REMOVE_NESTED_CONTAINER -> agent_nested.h (containers under an
 *       executor's container; a call carrying an executor's Bearer token may only name that
 *       container's children)
 *     UNKNOWN -> 501
 *     LAUNCH_NESTED_CONTAINER_SESSION, ATTACH_CONTAINER_INPUT/OUTPUT, LAUNCH_CONTAINER,
 *     REMOVE_CONTAINER, resource providers, GET_OPERATIONS, PRUNE_IMAGES -> 501 with a message
 *     naming the call
 *
 * Logging verbosity: Mesos's level is glog's verbosity (0 = normal). cmesos has one debug level:
 * a verbosity of 1 or more logs DEBUG lines, 0 goes back to --logging_level. GET_LOGGING_LEVEL
 * answers the verbosity in effect. /logging/toggle?level=N&duration=D does the same as
 * SET_LOGGING_LEVEL (400 naming the missing or bad parameter).
 *
 * Layer: the HTTP edge of the agent. It reads the core's records (agent_internal.h) and calls
 * the containerizer and /files modules; the core never calls it. State (the revert timer and
 * the waiting WAIT_CONTAINER requests) lives in struct cm_agent_op, created by
 * cm_agent_op_routes and freed by cm_agent_op_free. Threading: the agent's loop only.
 */
#ifndef CM_AGENT_AGENT_OPERATOR_H
#define CM_AGENT_AGENT_OPERATOR_H

#include <stddef.h>

#include "agent_internal.h"
#include "mesos/v1/agent/agent.pb-c.h"

/* WAIT_CONTAINER requests held at once; more are answered 503. */
#define CM_AGENT_OP_MAX_WAITERS 1024
/* READ_FILE returns at most this many pages per call (Mesos). */
#define CM_AGENT_OP_READ_PAGES 16

struct cm_agent_op;

/* How a call is answered: once, with a status code, a content type (NULL for no body) and the
 * body. code 405 means the transport must add "Allow: POST". */
typedef void (*cm_agent_op_reply_fn)(void *arg, int code, const char *content_type,
                                     const void *body, size_t len);

/* Answers with code and a text/plain body: the printf-style message and a newline (cut to
 * fit 1 KiB). Shared by the operator API's modules. */
void cm_agent_op_reply_text(cm_agent_op_reply_fn reply, void *arg, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Creates a->op (once) and registers /api/v1 and /logging/toggle on a->http. */
void cm_agent_op_routes(struct cm_agent *a);

/* Answers every held WAIT_CONTAINER with 503, restores the start logging level and frees op.
 * Call before the HTTP server is freed. NULL is a no-op. */
void cm_agent_op_free(struct cm_agent_op *op);

/* Handles one operator call as the transport saw it: method, the Content-Type and Accept
 * headers (NULL when absent) and the body (borrowed for the call). reply is called exactly
 * once: before this returns, or later from the loop for WAIT_CONTAINER. */
void cm_agent_op_call(struct cm_agent_op *op, const char *method, const char *content_type,
                      const char *accept, const void *body, size_t len, cm_agent_op_reply_fn reply,
                      void *arg);
/* The same for an authenticated principal (NULL: anonymous, the ACLs' ANY; cm_agent_op_call
 * passes NULL). Under --acls each call is authorized as Mesos's agent does (agent_auth.h,
 * docs/authentication-agent.md): GET_FLAGS view_flags; SET_LOGGING_LEVEL set_log_level;
 * LIST_FILES/READ_FILE as /files (access_sandboxes with the executor's user, or
 * access_mesos_logs); KILL_CONTAINER kill_standalone_containers with the executor's user;
 * GET_CONTAINERS lists only the containers view_containers allows; GET_FRAMEWORKS,
 * GET_EXECUTORS, GET_TASKS and GET_STATE list only the frameworks, executors and tasks
 * view_frameworks, view_executors and view_tasks allow (per object, with the user each runs
 * as, as Mesos's agent filters them). A refusal is 403 naming the action. */
void cm_agent_op_call_as(struct cm_agent_op *op, const char *principal, const char *method,
                         const char *content_type, const char *accept, const void *body, size_t len,
                         cm_agent_op_reply_fn reply, void *arg);

/* The verbosity in effect (0 unless raised). */
unsigned cm_agent_op_logging_level(const struct cm_agent_op *op);

/* Sets the verbosity to level for duration seconds (then back to 0). Returns 0 or CM_EINVAL
 * (negative or non-finite duration) with why. */
int cm_agent_op_set_logging_level(struct cm_agent_op *op, unsigned level, double duration,
                                  char *why, size_t whylen);

/* The agent's /metrics route handler (arg: the agent): the /metrics/snapshot object
 * (cm_agent_metrics_json) in Prometheus's text format. */
void cm_agent_op_prometheus(struct cm_http_request *req, void *arg);

/* ---- response builders (agent_operator_state.c) ------------------------------------------- */

/* Frees what the builders allocated for one response; the agent's records they point into
 * are borrowed, never freed. */
struct cm_agent_op_arena {
    void **ptrs;
    size_t n, cap;
};
void *cm_agent_op_alloc(struct cm_agent_op_arena *ar, size_t size);
void cm_agent_op_arena_free(struct cm_agent_op_arena *ar);
/* The arena frees msg (an unpacked protobuf-c message) with the response. */
void cm_agent_op_keep_msg(struct cm_agent_op_arena *ar, ProtobufCMessage *msg);

/* Fill resp (type and body) from the agent's records. */
void cm_agent_op_get_state(struct cm_agent *a, struct cm_agent_op_arena *ar,
                           Mesos__V1__Agent__Response *resp);
void cm_agent_op_get_tasks(struct cm_agent *a, struct cm_agent_op_arena *ar,
                           Mesos__V1__Agent__Response *resp);
void cm_agent_op_get_executors(struct cm_agent *a, struct cm_agent_op_arena *ar,
                               Mesos__V1__Agent__Response *resp);
void cm_agent_op_get_frameworks(struct cm_agent *a, struct cm_agent_op_arena *ar,
                                Mesos__V1__Agent__Response *resp);
void cm_agent_op_get_containers(struct cm_agent *a, struct cm_agent_op_arena *ar,
                                Mesos__V1__Agent__Response *resp);
void cm_agent_op_get_agent(struct cm_agent *a, struct cm_agent_op_arena *ar,
                           Mesos__V1__Agent__Response *resp);

/* LIST_FILES / READ_FILE: 0 with resp filled, or an HTTP status (400, 403, 404) with why. */
int cm_agent_op_list_files(struct cm_agent *a, const char *path, struct cm_agent_op_arena *ar,
                           Mesos__V1__Agent__Response *resp, char *why, size_t whylen);
int cm_agent_op_read_file(struct cm_agent *a, const char *path, uint64_t offset, bool has_length,
                          uint64_t length, struct cm_agent_op_arena *ar,
                          Mesos__V1__Agent__Response *resp, char *why, size_t whylen);

/* The executor record (live or completed, of any framework) whose container is container_id,
 * or NULL. */
struct agent_executor *cm_agent_op_find_container(struct cm_agent *a, const char *container_id);

#endif
