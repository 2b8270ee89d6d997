/*
 * harness.h: support for the integration tier (real mesos-master / mesos-agent /
 * mesos-executor processes on 127.0.0.1, driven over the v1 scheduler HTTP API).
 *
 * What it provides:
 * - processes: spawn a binary from CM_BIN_DIR in its own process group with stdout+stderr in a
 *   log file; every spawned process and temp dir is registered so that the end of each test
 *   case (ITEST_MAIN) kills what is left (SIGTERM, then SIGKILL of the process group, then any
 *   process whose cwd is under the case's temp dirs, e.g. executors), prints the log tails if
 *   the case failed, and removes the temp dirs. A watchdog (alarm) does the same if a binary
 *   hangs, and atexit covers exits from TEST_SKIP or crashes in the test itself.
 * - a cluster: one master and (optionally) one agent with --port=0 and port files, waiting
 *   until the agent shows up in /master/state.
 * - a tiny blocking HTTP/1.1 client on plain sockets (Content-Length, chunked and
 *   close-delimited bodies) and a stream reader for SUBSCRIBE (chunked + RecordIO).
 * - a scheduler "framework" with the same operations in JSON and protobuf, whose events are
 *   decoded into one plain struct, so one scenario runs in both encodings. The JSON side is
 *   written by hand against docs/wire-protocol.md (it does not use the product's converter) so it
 *   checks the wire shape independently.
 *
 * Environment: ITEST_DEBUG=1 logs every event read and every JSON call sent; ITEST_KEEP=1
 * keeps the temp dirs (daemon logs, work dirs, sandboxes) instead of removing them.
 *
 * Everything is single-threaded and blocking with explicit timeouts (milliseconds). Functions
 * print a line to stderr saying what went wrong before failing, so a test only has to CHECK.
 * Frameworks from itest_fw_open/itest_fw_start are freed with itest_fw_free; whatever a
 * failing test leaves behind is freed at the end of its case.
 */
#ifndef CM_ITEST_HARNESS_H
#define CM_ITEST_HARNESS_H

/* harness.c itself has no test cases (test.h defines per-file counters). */
#ifndef ITEST_HARNESS_IMPL
#include "test.h"
#endif

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mesos/v1/mesos.pb-c.h"
#include "mesos/v1/scheduler/scheduler.pb-c.h"

#ifndef CM_BIN_DIR
#define CM_BIN_DIR "build/bin"
#endif

/* Default guard for anything that waits on the daemons (generous: ASan builds are slow). */
#define ITEST_WAIT_MS 20000

/* ---- test-case driver ------------------------------------------------------------------ */

/* Called once before the cases run: watchdog, SIGPIPE ignored, atexit cleanup. */
void itest_init(void);
/* Called after each case: cleans up everything the case started; dumps logs if failed.
 * Returns non-zero if a daemon's log holds a sanitizer report (the case then fails). */
int itest_case_end(const char *name, int failed);

/* Like TEST_MAIN, but runs itest_case_end after each case. */
#define ITEST_MAIN(...)                                                                            \
    int main(void)                                                                                 \
    {                                                                                              \
        static const struct cm_test_case cases[] = {__VA_ARGS__};                                  \
        itest_init();                                                                              \
        return cm_test_run_with(cases, sizeof cases / sizeof cases[0], itest_case_end);            \
    }

/* ---- processes and files ---------------------------------------------------------------- */

struct itest_proc {
    pid_t pid;
    char name[32];
    char log[512];
    int exited; /* reaped */
    int status; /* wait status once exited */
};

/* Creates a registered temp dir /tmp/itest-XXXXXX into out[outlen]. Returns 0 or -errno. */
int itest_tmpdir(char *out, size_t outlen);
/* Returns CM_BIN_DIR/<name> in a static buffer (one per call site is enough for tests). */
const char *itest_bin(const char *name, char *buf, size_t len);
/* Spawns argv[0] (a path) with stdout+stderr into log_path, in a new process group.
 * Returns 0 or -errno (also if the binary does not exist). */
int itest_proc_spawn(struct itest_proc *p, const char *name, char *const argv[],
                     const char *log_path);
/* True while the process runs (reaps it if it exited). */
int itest_proc_alive(struct itest_proc *p);
/* Waits up to timeout_ms for the process to exit; returns 0 and the wait status, or
 * -ETIMEDOUT. */
int itest_proc_wait(struct itest_proc *p, int timeout_ms, int *status);
/* SIGTERM, up to 5 s, then SIGKILL of the whole process group. Idempotent. */
void itest_proc_stop(struct itest_proc *p);
/* Prints the last tail bytes of a file to stderr with a header. */
void itest_dump_file(const char *title, const char *path, size_t tail);
/* Reads a whole file (NUL-terminated, malloc'd) or NULL. */
char *itest_read_file(const char *path, size_t *len);

/* Runs a program to completion (argv[0] is a path) with output captured; returns 0 and the
 * wait status and output (malloc'd) or -ETIMEDOUT (the process is killed). */
int itest_run(char *const argv[], int timeout_ms, int *status, char **output);

/* ---- HTTP client -------------------------------------------------------------------------- */

struct itest_http_resp {
    int status;
    char *headers; /* raw header block (lines after the status line) */
    uint8_t *body; /* NUL-terminated for convenience */
    size_t body_len;
};

/* Sends one request on a new connection (Connection: close) to 127.0.0.1:port. headers is a
 * NULL-terminated list of "Name: value" lines (without CRLF); body may be NULL (then no
 * Content-Length unless method is POST). Returns 0 (resp filled) or a negative error. */
int itest_http(int port, const char *method, const char *path, const char *const *headers,
               const void *body, size_t body_len, struct itest_http_resp *resp, int timeout_ms);
void itest_http_resp_cleanup(struct itest_http_resp *resp);
/* Header value lookup (case-insensitive name) into out; returns 1 if found. */
int itest_header(const char *headers, const char *name, char *out, size_t outlen);
/* GET path and parse a JSON body; returns NULL (after printing why) on failure. */
json_t *itest_get_json(int port, const char *path);
/* The sandbox directory of the executor executor_id, found in the agent's /state among the
 * live and the completed executors of the live and the completed frameworks. Returns 0, or -1
 * (out "") if /state failed or has no such executor. */
int itest_agent_executor_dir(int agent_port, const char *executor_id, char *out, size_t len);

/* A keep-alive client connection to 127.0.0.1:port (HTTP/1.1 without Connection: close), for
 * callers that send many requests, e.g. a benchmark that should measure the server and not
 * its own connects and closes. One request at a time: itest_conn_request sends the request and
 * reads exactly one response (Content-Length, chunked, or close-delimited, which ends the
 * connection), then keeps the socket for the next request. The connection is opened on the
 * first request and opened again when the server closed it (a "Connection: close" answer, a
 * close-delimited body, an idle close seen before sending, or a reused connection that ends
 * before any byte of the answer: then the request is sent once more on a new connection).
 * Timeouts, error codes and the stderr line on failure are those of itest_http. Not for
 * SUBSCRIBE (use itest_stream_open). */
struct itest_conn;
/* Returns a closed connection (nothing is opened yet) or NULL if out of memory. */
struct itest_conn *itest_conn_new(int port);
void itest_conn_free(struct itest_conn *c); /* closes the socket; NULL is a no-op */
int itest_conn_request(struct itest_conn *c, const char *method, const char *path,
                       const char *const *headers, const void *body, size_t body_len,
                       struct itest_http_resp *resp, int timeout_ms);
/* Counters since itest_conn_new: requests answered and TCP connections opened. */
void itest_conn_stats(const struct itest_conn *c, unsigned long *requests, unsigned long *connects);

/* A streaming response (SUBSCRIBE). */
struct itest_stream;
/* Sends the request and reads the status line and headers. On 200 the stream is ready for
 * itest_stream_next; on any other status the (non-chunked) body has been read into
 * itest_stream_body. Returns NULL only if the connection failed. */
struct itest_stream *itest_stream_open(int port, const char *path, const char *const *headers,
                                       const void *body, size_t body_len, int timeout_ms);
void itest_stream_free(struct itest_stream *s);
int itest_stream_status(const struct itest_stream *s);
const char *itest_stream_headers(const struct itest_stream *s);
const char *itest_stream_body(const struct itest_stream *s);
int itest_stream_chunked(const struct itest_stream *s);
/* Next RecordIO record (malloc'd into *data, caller frees). Returns 0, -ETIMEDOUT, CM_ECLOSED
 * (clean end or peer closed) or another negative error. */
int itest_stream_next(struct itest_stream *s, int timeout_ms, uint8_t **data, size_t *len);

/* ---- base64 (the harness's own, to check the product independently) -------------------- */
char *itest_b64_encode(const uint8_t *data, size_t len);
int itest_b64_decode(const char *text, uint8_t *out, size_t cap, size_t *outlen);

/* ---- driving a libevent loop in a test ---------------------------------------------------- */

struct event_base;
/* Runs base until *flag is set or 5 s pass; returns *flag. */
bool itest_loop_until(struct event_base *base, const bool *flag);
/* Runs base for secs seconds. */
void itest_loop_for(struct event_base *base, double secs);

/* ---- cluster -------------------------------------------------------------------------------- */

struct itest_cluster_opts {
    const char *const *master_flags; /* extra flags, NULL-terminated, or NULL */
    const char *agent_resources;     /* default "cpus:2;mem:1024;disk:1024" */
    int no_agent;
    const char *const *agent_flags; /* extra agent flags, NULL-terminated, or NULL */
};

struct itest_cluster {
    char dir[256];
    char master_work[300];
    char agent_work[300];
    struct itest_proc master, agent;
    int master_port;
    int agent_port;
    char master_addr[64]; /* "127.0.0.1:<port>" */
    char agent_id[256];
};

/* Starts master (+ agent) and waits until the agent is registered. Returns 0 or a negative
 * error after printing why (logs are dumped at the end of the failed case). */
int itest_cluster_start(struct itest_cluster *c, const struct itest_cluster_opts *opts);
/* Stops the agent, then the master (SIGTERM first). Files stay until the case ends. */
void itest_cluster_stop(struct itest_cluster *c);

/* Sends sig to the process itself (not its group: an agent's executors are left alone), e.g.
 * SIGKILL, SIGSTOP, SIGCONT. Returns 0 or -errno. */
int itest_proc_signal(struct itest_proc *p, int sig);
/* Starts the cluster's master again (after it was stopped or killed) on the same port and
 * --work_dir, with the cluster's original extra flags replaced by extra_flags (NULL-terminated
 * or NULL). Its log goes to <dir>/master-<n>.log. Returns 0 once it serves, or a negative
 * error after printing why. */
int itest_cluster_restart_master(struct itest_cluster *c, const char *const *extra_flags);

/* ---- scheduler framework (JSON or protobuf) ----------------------------------------------- */

enum itest_enc { ITEST_JSON, ITEST_PROTOBUF };

#define ITEST_MAX_OFFERS 16
#define ITEST_ID 256

struct itest_offer {
    char id[ITEST_ID];
    char agent_id[ITEST_ID];
    char framework_id[ITEST_ID];
    char hostname[ITEST_ID];
    double cpus, mem, disk;
    /* executor_ids: how many, and the first one */
    size_t n_executor_ids;
    char executor_id[ITEST_ID];
};

struct itest_status {
    char task_id[ITEST_ID];
    char agent_id[ITEST_ID];
    char executor_id[ITEST_ID];
    int state; /* Mesos__V1__TaskState */
    int has_source, source;
    int has_reason, reason;
    int has_uuid;
    uint8_t uuid[64];
    size_t uuid_len;
    char message[512];
    double timestamp;
};

/* One decoded scheduler event; type is a Mesos__V1__Scheduler__Event__Type. */
struct itest_event {
    int type;
    /* SUBSCRIBED */
    char framework_id[ITEST_ID];
    int has_heartbeat;
    double heartbeat_interval;
    int has_master_info;
    char master_id[ITEST_ID];
    unsigned master_port;
    /* OFFERS */
    size_t n_offers;
    struct itest_offer offers[ITEST_MAX_OFFERS];
    /* RESCIND (offer id) */
    char offer_id[ITEST_ID];
    /* UPDATE */
    struct itest_status status;
    /* ERROR */
    char message[512];
    /* FAILURE */
    char agent_id[ITEST_ID];
    char executor_id[ITEST_ID];
    int has_failure_status;
    int failure_status;
    /* MESSAGE (agent_id and executor_id above): the data bytes, truncated to the buffer */
    uint8_t data[1024];
    size_t data_len;
};

struct itest_fw_opts {
    const char *name;        /* default "itest" */
    const char *path;        /* default "/api/v1/scheduler" */
    double failover_timeout; /* 0 = unset */
    int partition_aware;
    const char *framework_id;  /* re-subscribe with this id */
    const char *accept;        /* override the Accept header */
    int checkpoint;            /* FrameworkInfo.checkpoint = true */
    const char *principal;     /* FrameworkInfo.principal, or NULL */
    const char *authorization; /* Authorization header value for every call, or NULL */
};

struct itest_fw {
    enum itest_enc enc;
    int port;
    char path[128];
    struct itest_stream *stream;
    int http_status;     /* of the SUBSCRIBE response */
    char stream_id[256]; /* Mesos-Stream-Id */
    char content_type[128];
    char framework_id[ITEST_ID];
    int heartbeats; /* HEARTBEAT events seen */
    int closed;     /* stream ended */
    /* Events read while waiting for something else, oldest first. */
    struct itest_event_node *queue_head, *queue_tail;
    size_t queued;
    char last_body[1024];    /* body of the last non-2xx call response */
    char authorization[512]; /* sent as the Authorization header on every call when set */
    struct itest_conn *conn; /* set by itest_fw_keepalive: calls go on this connection */
};

/* Offers held together for one agent (the master may split an agent's free resources over
 * several offers, e.g. when part of them comes back while the rest is offered;
 * docs/wire-protocol.md §10 allocates on such events too). They are used together: ACCEPT merges
 * offers from one agent (§2.7). */
#define ITEST_MAX_HELD 16
struct itest_offers {
    size_t n;
    char ids[ITEST_MAX_HELD][ITEST_ID];
    const char *idv[ITEST_MAX_HELD]; /* points into ids, for itest_fw_accept */
    char agent_id[ITEST_ID];
    char framework_id[ITEST_ID];
    double cpus, mem, disk; /* sums */
};

struct itest_task {
    const char *id;
    const char *command;
    double cpus, mem;
};

/* Opens the SUBSCRIBE stream (does not wait for SUBSCRIBED). NULL only on connect failure;
 * check fw->http_status. */
struct itest_fw *itest_fw_open(int port, enum itest_enc enc, const struct itest_fw_opts *opts);
/* itest_fw_open + wait for SUBSCRIBED (fills framework_id). NULL (after printing) on failure. */
struct itest_fw *itest_fw_start(int port, enum itest_enc enc, const struct itest_fw_opts *opts);
void itest_fw_free(struct itest_fw *fw);
/* From now on the framework's calls (itest_fw_post and every call built on it) go on one
 * keep-alive connection (struct itest_conn, freed with the framework) instead of a new
 * connection with Connection: close per call. Returns 0 or -ENOMEM. */
int itest_fw_keepalive(struct itest_fw *fw);
/* Closes the subscription connection only (the framework object stays usable for calls). */
void itest_fw_disconnect(struct itest_fw *fw);

/* Next event of any type (HEARTBEATs included, counted), from the queue first.
 * Returns 0, -ETIMEDOUT or CM_ECLOSED. */
int itest_fw_next(struct itest_fw *fw, int timeout_ms, struct itest_event *ev);
/* Waits for an event of type (HEARTBEAT skipped); for UPDATE, task_id (if non-NULL) must match
 * too. Other events are queued for later waits. Returns 0, -ETIMEDOUT or CM_ECLOSED. */
int itest_fw_wait(struct itest_fw *fw, int type, const char *task_id, int timeout_ms,
                  struct itest_event *ev);
/* Drops queued events of type; dropped offers are declined without a filter (an offer left
 * unanswered would keep its resources away from everyone). */
void itest_fw_drop_queued(struct itest_fw *fw, int type);

/* Calls: each returns the HTTP status (202 expected) or a negative error. refuse < 0 leaves the
 * filters unset. */
int itest_fw_accept(struct itest_fw *fw, const char *const *offer_ids, size_t n_offers,
                    const char *agent_id, const struct itest_task *tasks, size_t n_tasks,
                    double refuse);
int itest_fw_decline(struct itest_fw *fw, const char *offer_id, double refuse);
/* ACCEPTs every offer of set with one LAUNCH of task_infos (a JSON array of TaskInfo objects,
 * stolen) and refuse_seconds 0, for JSON frameworks whose tasks need more than struct
 * itest_task holds (containers, checks, executors). Logs the answer unless it is 202. */
int itest_fw_launch_json(struct itest_fw *fw, const struct itest_offers *set, json_t *task_infos);
/* The same with one LAUNCH_GROUP of executor (an ExecutorInfo object) and tasks (an array of
 * TaskInfo objects), both stolen. */
int itest_fw_launch_group_json(struct itest_fw *fw, const struct itest_offers *set,
                               json_t *executor, json_t *tasks);
/* POSTs call (a JSON scheduler Call, stolen) on the framework's stream; returns the status. */
int itest_fw_post_call(struct itest_fw *fw, json_t *call);
/* JSON builders for task and executor messages: a SCALAR Resource; cpus and mem; an
 * ExecutorInfo of type (e.g. "DEFAULT") with cpus 0.1, mem 32 and disk 32. */
json_t *itest_json_scalar(const char *name, double v);
json_t *itest_json_resources(double cpus, double mem);
json_t *itest_json_executor(const char *executor_id, const char *type);
int itest_fw_revive(struct itest_fw *fw);
int itest_fw_suppress(struct itest_fw *fw);
int itest_fw_kill(struct itest_fw *fw, const char *task_id, const char *agent_id);
int itest_fw_ack(struct itest_fw *fw, const struct itest_status *st);
/* Explicit reconciliation of one task (agent_id may be NULL); task_id NULL = implicit. */
int itest_fw_reconcile(struct itest_fw *fw, const char *task_id, const char *agent_id);
int itest_fw_teardown(struct itest_fw *fw);
/* Posts a raw body with the framework's content type and stream id (if with_stream_id). */
int itest_fw_post(struct itest_fw *fw, const void *body, size_t len, int with_stream_id);

/* Waits for the UPDATE of task with state; acknowledges every UPDATE with a uuid on the way.
 * Returns 0 or a negative error (also if the task reached another terminal state, printing
 * it). */
int itest_fw_wait_state(struct itest_fw *fw, const char *task_id, int state, int timeout_ms,
                        struct itest_status *out);
/* Collects offers of one agent until together they hold at least cpus/mem; returns 0 and
 * the set (to accept or decline as a whole), or -ETIMEDOUT (held offers are then declined).
 * Rescinded offers drop out of the set. */
int itest_fw_wait_offer(struct itest_fw *fw, double cpus, double mem, int timeout_ms,
                        struct itest_offers *out);
/* Declines every offer of the set. Returns the first non-202 status, or 202. */
int itest_fw_decline_set(struct itest_fw *fw, const struct itest_offers *set, double refuse);

/* Enum names for messages. */
const char *itest_state_name(int state);
const char *itest_reason_name(int reason);
const char *itest_event_name(int type);

#endif
