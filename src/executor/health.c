/* health.c: check validation, the prober and the health policy (see health.h). */
#include "health.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checks.h"
#include "command.h"
#include "errors.h"
#include "http_client.h"
#include "pbjson.h"
#include "util.h"

/* ---- validation ------------------------------------------------------------------------ */

/* The rules are in src/common/checks.c (the master applies them at launch too); here a valid
 * message is turned into a spec with Mesos's defaults. */

int cm_health_spec_from_health_check(const Mesos__V1__HealthCheck *hc, struct cm_check_spec *spec,
                                     char *why, size_t whylen)
{
    memset(spec, 0, sizeof *spec);
    int rc = cm_check_validate_health(hc, why, whylen);
    if (rc)
        return rc;
    spec->delay = hc->has_delay_seconds ? hc->delay_seconds : 15.0;
    spec->interval = hc->has_interval_seconds ? hc->interval_seconds : 10.0;
    spec->timeout = hc->has_timeout_seconds ? hc->timeout_seconds : 20.0;
    spec->grace = hc->has_grace_period_seconds ? hc->grace_period_seconds : 10.0;
    spec->consecutive_failures = hc->has_consecutive_failures ? hc->consecutive_failures : 3;
    switch (hc->type) {
    case MESOS__V1__HEALTH_CHECK__TYPE__COMMAND:
        spec->type = CM_CHECK_COMMAND;
        spec->command = hc->command;
        break;
    case MESOS__V1__HEALTH_CHECK__TYPE__HTTP:
        spec->type = CM_CHECK_HTTP;
        spec->port = hc->http->port;
        spec->ipv6 =
            hc->http->has_protocol && hc->http->protocol == MESOS__V1__NETWORK_INFO__PROTOCOL__IPv6;
        spec->path = hc->http->path && hc->http->path[0] ? hc->http->path : "/";
        spec->statuses = hc->http->statuses;
        spec->n_statuses = hc->http->n_statuses;
        break;
    default: /* TCP: the only other type validation lets through */
        spec->type = CM_CHECK_TCP;
        spec->port = hc->tcp->port;
        spec->ipv6 =
            hc->tcp->has_protocol && hc->tcp->protocol == MESOS__V1__NETWORK_INFO__PROTOCOL__IPv6;
        break;
    }
    return 0;
}

int cm_health_spec_from_check(const Mesos__V1__CheckInfo *ci, struct cm_check_spec *spec, char *why,
                              size_t whylen)
{
    memset(spec, 0, sizeof *spec);
    int rc = cm_check_validate_check(ci, why, whylen);
    if (rc)
        return rc;
    spec->delay = ci->has_delay_seconds ? ci->delay_seconds : 15.0;
    spec->interval = ci->has_interval_seconds ? ci->interval_seconds : 10.0;
    spec->timeout = ci->has_timeout_seconds ? ci->timeout_seconds : 20.0;
    switch (ci->type) {
    case MESOS__V1__CHECK_INFO__TYPE__COMMAND:
        spec->type = CM_CHECK_COMMAND;
        spec->command = ci->command->command;
        break;
    case MESOS__V1__CHECK_INFO__TYPE__HTTP:
        spec->type = CM_CHECK_HTTP;
        spec->port = ci->http->port;
        spec->path = ci->http->path && ci->http->path[0] ? ci->http->path : "/";
        break;
    default: /* TCP */
        spec->type = CM_CHECK_TCP;
        spec->port = ci->tcp->port;
        break;
    }
    return 0;
}

/* ---- the prober ------------------------------------------------------------------------ */

struct cm_checker {
    struct event_base *base;
    struct cm_check_spec spec;
    char *path; /* owned copy of spec.path */
    uint32_t *statuses;
    char **envp;
    char *cwd;
    cm_checker_cb cb;
    void *arg;
    struct event *next_timer;
    struct event *deadline;
    bool in_probe;
    /* COMMAND */
    struct cm_command *cmd;
    bool timed_out;
    /* HTTP */
    struct cm_http_client *http;
    struct cm_http_call *call;
    long http_status;
    /* TCP */
    int fd;
    struct event *tcp_ev;
};

static struct timeval to_tv(double secs)
{
    if (secs < 0)
        secs = 0;
    struct timeval tv = {(time_t)secs, (suseconds_t)((secs - floor(secs)) * 1e6)};
    return tv;
}

static void result_init(struct cm_checker *c, struct cm_check_result *r)
{
    memset(r, 0, sizeof *r);
    r->type = c->spec.type;
}

/* Ends the probe in flight: schedules the next one, then reports. The report comes last
 * because the callback may free the checker. */
static void probe_done(struct cm_checker *c, const struct cm_check_result *r)
{
    c->in_probe = false;
    evtimer_del(c->deadline);
    double interval =
        c->spec.interval > CM_CHECK_MIN_INTERVAL ? c->spec.interval : CM_CHECK_MIN_INTERVAL;
    struct timeval tv = to_tv(interval);
    evtimer_add(c->next_timer, &tv);
    c->cb(c->arg, r);
}

static void on_command_exit(void *arg, int wait_status)
{
    struct cm_checker *c = arg;
    struct cm_check_result r;
    result_init(c, &r);
    cm_command_free(c->cmd);
    c->cmd = NULL;
    if (c->timed_out) {
        snprintf(r.message, sizeof r.message, "Command timed out after %gs", c->spec.timeout);
    } else {
        if (WIFEXITED(wait_status)) {
            r.has_exit_code = true;
            r.exit_code = WEXITSTATUS(wait_status);
            r.ok = r.exit_code == 0;
        }
        cm_command_describe_exit(wait_status, r.message, sizeof r.message);
    }
    probe_done(c, &r);
}

static void start_command(struct cm_checker *c)
{
    struct cm_check_result r;
    char why[200];
    char **envp = NULL;
    int rc = cm_command_envp(c->envp, c->spec.command->environment, &envp, why, sizeof why);
    if (!rc)
        rc = cm_command_start(c->base, c->spec.command, envp, c->cwd, on_command_exit, c, &c->cmd,
                              why, sizeof why);
    cm_command_strv_free(envp);
    if (rc) {
        result_init(c, &r);
        snprintf(r.message, sizeof r.message, "%s", why);
        probe_done(c, &r);
    }
}

static bool http_status_ok(const struct cm_checker *c, long status)
{
    if (c->spec.n_statuses == 0)
        return status >= 200 && status < 400;
    for (size_t i = 0; i < c->spec.n_statuses; i++)
        if ((long)c->spec.statuses[i] == status)
            return true;
    return false;
}

/* Only the status line matters; the body is never read. */
static int on_http_headers(void *arg, const struct cm_http_response *resp)
{
    struct cm_checker *c = arg;
    c->http_status = resp->status;
    return 1;
}

static int on_http_data(void *arg, const void *data, size_t len)
{
    (void)arg;
    (void)data;
    (void)len;
    return 1;
}

static void on_http_done(void *arg, int err, const char *errmsg,
                         const struct cm_http_response *resp)
{
    struct cm_checker *c = arg;
    struct cm_check_result r;
    result_init(c, &r);
    c->call = NULL;
    long status = c->http_status > 0 ? c->http_status : (resp ? resp->status : 0);
    if (status > 0) {
        r.status_code = (uint32_t)status;
        r.ok = http_status_ok(c, status);
        snprintf(r.message, sizeof r.message, "HTTP GET %s returned status %ld", c->spec.path,
                 status);
    } else {
        snprintf(r.message, sizeof r.message, "HTTP GET %s on port %u failed: %s%s%s", c->spec.path,
                 c->spec.port, cm_strerror(err), errmsg && errmsg[0] ? ": " : "",
                 errmsg ? errmsg : "");
    }
    probe_done(c, &r);
}

static void start_http(struct cm_checker *c)
{
    struct cm_check_result r;
    char url[CM_CHECK_MAX_PATH_LEN + 64];
    if (!c->http)
        c->http = cm_http_client_new(c->base);
    snprintf(url, sizeof url, "http://%s:%u%s", c->spec.ipv6 ? "[::1]" : "127.0.0.1", c->spec.port,
             c->spec.path);
    c->http_status = 0;
    double t = c->spec.timeout > 0.001 ? c->spec.timeout : 0.001;
    struct cm_http_request_opts o = {.method = "GET",
                                     .url = url,
                                     .timeout_secs = t,
                                     .connect_timeout_secs = t,
                                     .on_headers = on_http_headers,
                                     .on_data = on_http_data,
                                     .on_done = on_http_done,
                                     .arg = c,
                                     .external = true};
    int rc = c->http ? cm_http_client_start(c->http, &o, &c->call) : -ENOMEM;
    if (rc) {
        c->call = NULL;
        result_init(c, &r);
        snprintf(r.message, sizeof r.message, "Failed to start HTTP GET %.180s: %s", url,
                 cm_strerror(rc));
        probe_done(c, &r);
    }
}

static void tcp_close(struct cm_checker *c)
{
    if (c->tcp_ev) {
        event_free(c->tcp_ev);
        c->tcp_ev = NULL;
    }
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
}

static void tcp_finish(struct cm_checker *c, int err)
{
    struct cm_check_result r;
    result_init(c, &r);
    tcp_close(c);
    r.ok = r.tcp_succeeded = err == 0;
    if (err)
        snprintf(r.message, sizeof r.message, "TCP connection to port %u failed: %s", c->spec.port,
                 strerror(err));
    else
        snprintf(r.message, sizeof r.message, "TCP connection to port %u succeeded", c->spec.port);
    probe_done(c, &r);
}

static void on_tcp_writable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    tcp_finish(arg, err);
}

static void start_tcp(struct cm_checker *c)
{
    struct sockaddr_storage ss;
    socklen_t slen;
    memset(&ss, 0, sizeof ss);
    if (c->spec.ipv6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)c->spec.port);
        a->sin6_addr = in6addr_loopback;
        slen = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)c->spec.port);
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        slen = sizeof *a;
    }
    c->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        tcp_finish(c, errno);
        return;
    }
    if (connect(c->fd, (struct sockaddr *)&ss, slen) == 0) {
        tcp_finish(c, 0);
        return;
    }
    if (errno != EINPROGRESS) {
        tcp_finish(c, errno);
        return;
    }
    c->tcp_ev = event_new(c->base, c->fd, EV_WRITE, on_tcp_writable, c);
    if (!c->tcp_ev || event_add(c->tcp_ev, NULL) != 0)
        tcp_finish(c, ENOMEM);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cm_checker *c = arg;
    struct cm_check_result r;
    if (!c->in_probe)
        return;
    switch (c->spec.type) {
    case CM_CHECK_COMMAND:
        /* The result comes with the reaped exit. */
        if (c->cmd) {
            c->timed_out = true;
            cm_command_kill(c->cmd, 0);
        }
        return;
    case CM_CHECK_HTTP:
        cm_http_call_cancel(c->call);
        c->call = NULL;
        result_init(c, &r);
        snprintf(r.message, sizeof r.message, "HTTP GET %s on port %u timed out after %gs",
                 c->spec.path, c->spec.port, c->spec.timeout);
        probe_done(c, &r);
        return;
    default:
        tcp_close(c);
        result_init(c, &r);
        snprintf(r.message, sizeof r.message, "TCP connection to port %u timed out after %gs",
                 c->spec.port, c->spec.timeout);
        probe_done(c, &r);
        return;
    }
}

static void on_next_probe(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cm_checker *c = arg;
    c->in_probe = true;
    c->timed_out = false;
    struct timeval tv = to_tv(c->spec.timeout);
    evtimer_add(c->deadline, &tv);
    switch (c->spec.type) {
    case CM_CHECK_COMMAND: start_command(c); break;
    case CM_CHECK_HTTP: start_http(c); break;
    default: start_tcp(c); break;
    }
}

struct cm_checker *cm_checker_new(struct event_base *base, const struct cm_check_spec *spec,
                                  char *const *envp, const char *cwd, cm_checker_cb cb, void *arg)
{
    struct cm_checker *c = cm_xcalloc(1, sizeof *c);
    c->base = base;
    c->spec = *spec;
    c->cb = cb;
    c->arg = arg;
    c->fd = -1;
    if (spec->path) {
        c->path = cm_xstrdup(spec->path);
        c->spec.path = c->path;
    }
    if (spec->n_statuses) {
        c->statuses = cm_xcalloc(spec->n_statuses, sizeof *c->statuses);
        memcpy(c->statuses, spec->statuses, spec->n_statuses * sizeof *c->statuses);
        c->spec.statuses = c->statuses;
    }
    size_t n = 0;
    while (envp && envp[n])
        n++;
    c->envp = cm_xcalloc(n + 1, sizeof *c->envp);
    for (size_t i = 0; i < n; i++)
        c->envp[i] = cm_xstrdup(envp[i]);
    c->cwd = cwd ? cm_xstrdup(cwd) : NULL;
    c->next_timer = evtimer_new(base, on_next_probe, c);
    c->deadline = evtimer_new(base, on_deadline, c);
    struct timeval tv = to_tv(spec->delay);
    if (!c->next_timer || !c->deadline || evtimer_add(c->next_timer, &tv) != 0) {
        cm_checker_free(c);
        return NULL;
    }
    return c;
}

void cm_checker_free(struct cm_checker *c)
{
    if (!c)
        return;
    cm_command_free(c->cmd); /* SIGKILLs a probe still running */
    cm_http_client_free(c->http);
    tcp_close(c);
    if (c->next_timer)
        event_free(c->next_timer);
    if (c->deadline)
        event_free(c->deadline);
    cm_command_strv_free(c->envp);
    free(c->cwd);
    free(c->path);
    free(c->statuses);
    free(c);
}

/* ---- the health policy ----------------------------------------------------------------- */

void cm_health_policy_init(struct cm_health_policy *p, const struct cm_check_spec *spec,
                           double start)
{
    memset(p, 0, sizeof *p);
    p->start = start;
    p->grace = spec->grace;
    /* Zero would kill on the first counted failure anyway; say so explicitly. */
    p->max_failures = spec->consecutive_failures ? spec->consecutive_failures : 1;
    p->initializing = true;
    p->reported = -1;
}

int cm_health_policy_result(struct cm_health_policy *p, bool ok, double now, bool *healthy)
{
    int actions = 0;
    if (ok) {
        p->initializing = false;
        p->failures = 0;
        *healthy = true;
        if (p->reported != 1) {
            p->reported = 1;
            actions |= CM_HEALTH_REPORT;
        }
        return actions;
    }
    /* Mesos's rule: a task that has not passed yet may take its grace period to come up. */
    if (p->initializing && p->grace > 0 && now - p->start <= p->grace)
        return 0;
    p->failures++;
    *healthy = false;
    if (p->reported != 0) {
        p->reported = 0;
        actions |= CM_HEALTH_REPORT;
    }
    if (p->failures >= p->max_failures)
        actions |= CM_HEALTH_KILL;
    return actions;
}

/* ---- CheckStatusInfo ---------------------------------------------------------------------- */

Mesos__V1__CheckStatusInfo *cm_check_status_new(int type, const struct cm_check_result *r)
{
    Mesos__V1__CheckStatusInfo cs = MESOS__V1__CHECK_STATUS_INFO__INIT;
    Mesos__V1__CheckStatusInfo__Command cmd = MESOS__V1__CHECK_STATUS_INFO__COMMAND__INIT;
    Mesos__V1__CheckStatusInfo__Http http = MESOS__V1__CHECK_STATUS_INFO__HTTP__INIT;
    Mesos__V1__CheckStatusInfo__Tcp tcp = MESOS__V1__CHECK_STATUS_INFO__TCP__INIT;
    cs.has_type = 1;
    cs.type = (Mesos__V1__CheckInfo__Type)type;
    if (type == CM_CHECK_COMMAND) {
        cs.command = &cmd;
        if (r && r->has_exit_code) {
            cmd.has_exit_code = 1;
            cmd.exit_code = r->exit_code;
        }
    } else if (type == CM_CHECK_HTTP) {
        cs.http = &http;
        if (r && r->status_code) {
            http.has_status_code = 1;
            http.status_code = r->status_code;
        }
    } else {
        cs.tcp = &tcp;
        if (r) {
            tcp.has_succeeded = 1;
            tcp.succeeded = r->tcp_succeeded;
        }
    }
    return cm_pb_dup(&cs.base);
}

bool cm_check_status_same(const Mesos__V1__CheckStatusInfo *a, const Mesos__V1__CheckStatusInfo *b)
{
    size_t la = mesos__v1__check_status_info__get_packed_size(a);
    size_t lb = mesos__v1__check_status_info__get_packed_size(b);
    if (la != lb)
        return false;
    uint8_t *ba = cm_xmalloc(la ? la : 1), *bb = cm_xmalloc(lb ? lb : 1);
    mesos__v1__check_status_info__pack(a, ba);
    mesos__v1__check_status_info__pack(b, bb);
    bool same = memcmp(ba, bb, la) == 0;
    free(ba);
    free(bb);
    return same;
}
