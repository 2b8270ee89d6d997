/*
 * health.h: health checks (TaskInfo.health_check) and general checks (TaskInfo.check) of the
 * command executor, on its event loop.
 *
 * Three parts:
 * - validation: a HealthCheck or CheckInfo becomes a struct cm_check_spec (type, command or
 *   port/path, timings with Mesos's defaults), or CM_EINVAL with a why text naming the field;
 * - the prober (struct cm_checker): after delay_seconds it runs one probe, and every
 *   interval_seconds after the previous probe ended it runs the next. A COMMAND probe runs the
 *   command (command.h: own process group, the task's environment and sandbox) and succeeds on
 *   exit 0; an HTTP probe GETs http://127.0.0.1:<port><path> (::1 for IPv6) through the
 *   libcurl client on the loop and succeeds on a status in `statuses` (default 200-399) without
 *   reading the body; a TCP probe succeeds when a nonblocking connect to 127.0.0.1:<port>
 *   completes. Each probe is bounded by timeout_seconds (a command is SIGKILLed, a call
 *   cancelled, a socket closed). Nothing blocks and no thread is used.
 * - the health policy (struct cm_health_policy): pure bookkeeping over probe results that
 *   decides when the task's health is reported and when it is killed (Mesos's HealthChecker):
 *   failures are ignored while the check is still "initializing" (no success yet) and within
 *   grace_period_seconds of the start; each change of health (the first result and every flip)
 *   is reported; consecutive_failures counted failures kill the task, reported unhealthy first.
 *
 * Ownership: a spec borrows the strings and the CommandInfo of the message it was built from
 * (keep the message alive as long as the spec and its checker). A checker owns its copies of
 * envp and cwd. Threading: the loop's thread only.
 */
#ifndef CM_EXECUTOR_HEALTH_H
#define CM_EXECUTOR_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mesos/v1/mesos.pb-c.h"

struct event_base;
struct cm_checker;

/* Probe kinds; the numbers are those of HealthCheck.Type and CheckInfo.Type. */
enum { CM_CHECK_COMMAND = 1, CM_CHECK_HTTP = 2, CM_CHECK_TCP = 3 };

/* Probes are never scheduled closer than this, so interval 0 cannot spin the loop. */
#define CM_CHECK_MIN_INTERVAL 0.05

struct cm_check_spec {
    int type;                              /* CM_CHECK_* */
    const Mesos__V1__CommandInfo *command; /* COMMAND (borrowed) */
    uint32_t port;                         /* HTTP, TCP: 1..65535 */
    bool ipv6;                             /* HTTP, TCP: connect to ::1 */
    const char *path;                      /* HTTP: starts with '/'; default "/" */
    const uint32_t *statuses;              /* HTTP: accepted statuses; none = 200..399 */
    size_t n_statuses;
    double delay, interval, timeout; /* seconds */
    /* Health checks only (a CheckInfo gets 0 and 0). */
    double grace;
    uint32_t consecutive_failures;
};

/* Validates hc and fills spec (defaults: delay 15, interval 10, timeout 20, grace 10,
 * consecutive_failures 3). Returns 0, or CM_EINVAL with why, e.g. "health_check.tcp.port 0 is
 * not in 1..65535". */
int cm_health_spec_from_health_check(const Mesos__V1__HealthCheck *hc, struct cm_check_spec *spec,
                                     char *why, size_t whylen);
/* The same for a CheckInfo (defaults: delay 15, interval 10, timeout 20). */
int cm_health_spec_from_check(const Mesos__V1__CheckInfo *ci, struct cm_check_spec *spec, char *why,
                              size_t whylen);

/* The outcome of one probe. */
struct cm_check_result {
    int type; /* CM_CHECK_* */
    bool ok;  /* the probe passed */
    /* COMMAND: the exit code when the command exited on its own (has_exit_code). */
    bool has_exit_code;
    int exit_code;
    /* HTTP: the response status, 0 when none arrived. */
    uint32_t status_code;
    /* TCP: the connection was made (== ok). */
    bool tcp_succeeded;
    char message[256]; /* what happened, e.g. "Command exited with status 1" */
};

/* Called once per probe, from the loop. The callback may free the checker. */
typedef void (*cm_checker_cb)(void *arg, const struct cm_check_result *result);

/* Creates a checker for spec (copied; its borrowed pointers must stay valid), running COMMAND
 * probes with environment envp (copied; NULL-terminated) in directory cwd (copied; NULL = the
 * current one). The first probe runs spec->delay seconds from now. Returns NULL only if the
 * loop refused an event. */
struct cm_checker *cm_checker_new(struct event_base *base, const struct cm_check_spec *spec,
                                  char *const *envp, const char *cwd, cm_checker_cb cb, void *arg);
/* Stops probing: a probe in flight is abandoned (its command SIGKILLed). NULL is a no-op. */
void cm_checker_free(struct cm_checker *c);

/* ---- the health policy ----------------------------------------------------------------- */

struct cm_health_policy {
    double start; /* when the task started (clock seconds) */
    double grace;
    uint32_t max_failures;
    bool initializing; /* no success yet */
    uint32_t failures; /* consecutive counted failures */
    int reported;      /* -1 nothing yet, 0 unhealthy, 1 healthy */
};

/* What to do after a result (a bit set). */
enum { CM_HEALTH_REPORT = 1, CM_HEALTH_KILL = 2 };

void cm_health_policy_init(struct cm_health_policy *p, const struct cm_check_spec *spec,
                           double start);
/* Records one probe result at time now. Returns a set of CM_HEALTH_* bits: REPORT means send
 * a TASK_RUNNING update with healthy = *healthy; KILL means kill the task now (REPORT of
 * unhealthy comes with it whenever unhealthy was not reported yet). */
int cm_health_policy_result(struct cm_health_policy *p, bool ok, double now, bool *healthy);

/* The CheckStatusInfo of a check result of kind type (CM_CHECK_*): the type always, the
 * outcome when there is one (a command that timed out or an HTTP call without a response has
 * none, as in Mesos); r NULL gives the empty status a check starts with. Owned by the caller
 * (protobuf_c_message_free_unpacked). Aborts on out-of-memory. */
Mesos__V1__CheckStatusInfo *cm_check_status_new(int type, const struct cm_check_result *r);

/* Whether a and b are the same status (the same wire form): a general check reports only
 * when its status changes. */
bool cm_check_status_same(const Mesos__V1__CheckStatusInfo *a, const Mesos__V1__CheckStatusInfo *b);

#endif
