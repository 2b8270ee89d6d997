/*
 * example-executor: a custom executor written against the public libcmexecutor API only
 * (cmesos/executor.h), for frameworks to copy and for the tests of custom executors.
 *
 * The agent starts it with the environment Mesos gives an executor. It runs every task it is
 * given (LAUNCH, or each task of a LAUNCH_GROUP) with /bin/sh -c in its own process group: the
 * task's data (TaskInfo.data, the shell command as text: Mesos does not allow a command on a
 * task that names an executor), else its command, reporting TASK_RUNNING then TASK_FINISHED (exit
 * 0) or TASK_FAILED; KILL sends SIGTERM to the task's group (TASK_KILLED). A task without a command
 * finishes at once. Every framework message is echoed back to the scheduler unchanged (NUL bytes
 * included). On SHUTDOWN it kills what runs and exits once every terminal update is acknowledged
 * (or after the shutdown grace period); if the agent is gone it kills its tasks and exits 1.
 */
#include <cmesos/executor.h>
#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_TASKS 256

extern char **environ;

struct task {
    char *id;
    pid_t pid; /* 0 once reaped (or never started) */
    int killed;
    int terminal_sent;
    uint8_t terminal_uuid[16];
    int terminal_acked;
};

struct app {
    struct event_base *base;
    struct cm_exec *ex;
    struct task tasks[MAX_TASKS];
    size_t n_tasks;
    int shutting_down;
    int code;
};

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "example-executor: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

static void on_lib_log(void *arg, enum cm_exec_log_level level, const char *message)
{
    (void)arg;
    if (level >= CM_EXEC_LOG_INFO)
        logf_("%s", message);
}

static void send_status(struct app *a, struct task *t, Mesos__V1__TaskState state,
                        const char *message)
{
    Mesos__V1__TaskStatus st = MESOS__V1__TASK_STATUS__INIT;
    Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
    char why[256];
    uint8_t uuid[16];
    tid.value = t->id;
    st.task_id = &tid;
    st.state = state;
    st.message = (char *)message;
    if (cm_exec_update(a->ex, &st, uuid, why, sizeof why) != 0) {
        logf_("cannot send an update of task '%s': %s", t->id, why);
        return;
    }
    if (state != MESOS__V1__TASK_STATE__TASK_RUNNING &&
        state != MESOS__V1__TASK_STATE__TASK_STARTING) {
        t->terminal_sent = 1;
        memcpy(t->terminal_uuid, uuid, 16);
    }
}

static int all_done(const struct app *a)
{
    for (size_t i = 0; i < a->n_tasks; i++)
        if (a->tasks[i].pid || !a->tasks[i].terminal_acked)
            return 0;
    return 1;
}

static void finish(struct app *a, int code)
{
    a->code = code;
    cm_exec_stop(a->ex);
    event_base_loopexit(a->base, NULL);
}

static void start_task(struct app *a, const Mesos__V1__TaskInfo *ti)
{
    if (a->n_tasks == MAX_TASKS) {
        logf_("too many tasks; ignoring '%s'", ti->task_id->value);
        return;
    }
    struct task *t = &a->tasks[a->n_tasks++];
    memset(t, 0, sizeof *t);
    t->id = strdup(ti->task_id->value);
    if (!t->id)
        abort();
    if (a->shutting_down) {
        send_status(a, t, MESOS__V1__TASK_STATE__TASK_KILLED, "The executor is shutting down");
        return;
    }
    /* Mesos refuses a task with both an executor and a command, so a custom executor's task
     * usually carries what to run in its data; a task of a group has a command. */
    char *data_cmd = NULL;
    const char *cmd = ti->command && ti->command->value ? ti->command->value : NULL;
    if (!cmd && ti->has_data && ti->data.len) {
        data_cmd = strndup((const char *)ti->data.data, ti->data.len);
        cmd = data_cmd;
    }
    if (!cmd) {
        send_status(a, t, MESOS__V1__TASK_STATE__TASK_RUNNING, NULL);
        send_status(a, t, MESOS__V1__TASK_STATE__TASK_FINISHED, "No command to run");
        return;
    }
    pid_t pid = fork();
    if (pid < 0) {
        free(data_cmd);
        send_status(a, t, MESOS__V1__TASK_STATE__TASK_FAILED, strerror(errno));
        return;
    }
    if (pid == 0) {
        setpgid(0, 0);
        signal(SIGPIPE, SIG_DFL);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    setpgid(pid, pid);
    t->pid = pid;
    logf_("task '%s' runs as pid %d: %s", t->id, (int)pid, cmd);
    free(data_cmd);
    send_status(a, t, MESOS__V1__TASK_STATE__TASK_RUNNING, NULL);
}

static void on_launch(struct cm_exec *ex, void *arg, const Mesos__V1__TaskInfo *task)
{
    (void)ex;
    start_task(arg, task);
}

static void on_launch_group(struct cm_exec *ex, void *arg, const Mesos__V1__TaskGroupInfo *g)
{
    (void)ex;
    for (size_t i = 0; i < g->n_tasks; i++)
        start_task(arg, g->tasks[i]);
}

static struct task *find(struct app *a, const char *id)
{
    for (size_t i = 0; i < a->n_tasks; i++)
        if (strcmp(a->tasks[i].id, id) == 0)
            return &a->tasks[i];
    return NULL;
}

static void kill_one(struct task *t)
{
    if (t->pid && !t->killed) {
        t->killed = 1;
        kill(-t->pid, SIGTERM);
    }
}

static void on_kill(struct cm_exec *ex, void *arg, const Mesos__V1__TaskID *task_id,
                    const Mesos__V1__KillPolicy *policy)
{
    (void)ex;
    (void)policy;
    struct app *a = arg;
    struct task *t = find(a, task_id->value);
    if (t)
        kill_one(t);
}

static void on_ack(struct cm_exec *ex, void *arg, const Mesos__V1__TaskID *task_id,
                   const uint8_t *uuid, size_t len)
{
    (void)ex;
    struct app *a = arg;
    struct task *t = find(a, task_id->value);
    if (t && t->terminal_sent && len == 16 && memcmp(uuid, t->terminal_uuid, 16) == 0)
        t->terminal_acked = 1;
    if (a->shutting_down && all_done(a))
        finish(a, 0);
}

static void on_message(struct cm_exec *ex, void *arg, const uint8_t *data, size_t len)
{
    (void)arg;
    char why[256];
    if (cm_exec_message(ex, data, len, why, sizeof why) != 0)
        logf_("cannot echo a message: %s", why);
}

static void on_grace_over(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct app *a = arg;
    for (size_t i = 0; i < a->n_tasks; i++)
        if (a->tasks[i].pid)
            kill(-a->tasks[i].pid, SIGKILL);
    finish(a, 0);
}

static void on_shutdown(struct cm_exec *ex, void *arg, enum cm_exec_shutdown_reason reason)
{
    struct app *a = arg;
    a->shutting_down = 1;
    if (reason == CM_EXEC_SHUTDOWN_AGENT_GONE) {
        for (size_t i = 0; i < a->n_tasks; i++)
            if (a->tasks[i].pid)
                kill(-a->tasks[i].pid, SIGKILL);
        finish(a, 1);
        return;
    }
    for (size_t i = 0; i < a->n_tasks; i++)
        kill_one(&a->tasks[i]);
    if (all_done(a)) {
        finish(a, 0);
        return;
    }
    double g = cm_exec_env(ex)->shutdown_grace;
    struct timeval tv = {(time_t)(g > 1 ? g - 0.5 : 0.5), 0};
    event_base_once(a->base, -1, EV_TIMEOUT, on_grace_over, a, &tv);
}

static void on_error(struct cm_exec *ex, void *arg, const char *message)
{
    (void)ex;
    logf_("agent error: %s", message);
    finish(arg, 1);
}

static void on_sigchld(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    struct app *a = arg;
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (size_t i = 0; i < a->n_tasks; i++) {
            struct task *t = &a->tasks[i];
            if (t->pid != pid)
                continue;
            t->pid = 0;
            char msg[128];
            if (t->killed) {
                send_status(a, t, MESOS__V1__TASK_STATE__TASK_KILLED, "Killed");
            } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
                send_status(a, t, MESOS__V1__TASK_STATE__TASK_FINISHED, "Command exited with 0");
            } else {
                if (WIFEXITED(status))
                    snprintf(msg, sizeof msg, "Command exited with status %d", WEXITSTATUS(status));
                else
                    snprintf(msg, sizeof msg, "Command terminated by signal %d",
                             WIFSIGNALED(status) ? WTERMSIG(status) : 0);
                send_status(a, t, MESOS__V1__TASK_STATE__TASK_FAILED, msg);
            }
        }
    }
}

static void on_sigterm(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    struct app *a = arg;
    on_shutdown(a->ex, a, CM_EXEC_SHUTDOWN_REQUESTED);
}

int main(void)
{
    struct cm_exec_env env;
    char why[512];
    signal(SIGPIPE, SIG_IGN);
    if (cm_exec_env_from_env(&env, NULL, why, sizeof why) != 0) {
        logf_("%s (this program is started by a cmesos or Mesos agent)", why);
        return 1;
    }
    /* The token is the executor's, not its tasks'. */
    unsetenv("MESOS_EXECUTOR_AUTHENTICATION_TOKEN");
    static struct app a;
    a.base = event_base_new();
    a.code = 1;
    struct cm_exec_config cfg = {.env = &env,
                                 .base = a.base,
                                 .callbacks = {.launch = on_launch,
                                               .launch_group = on_launch_group,
                                               .kill = on_kill,
                                               .acknowledged = on_ack,
                                               .message = on_message,
                                               .shutdown = on_shutdown,
                                               .error = on_error},
                                 .callback_arg = &a,
                                 .log = on_lib_log};
    a.ex = a.base ? cm_exec_new(&cfg, why, sizeof why) : NULL;
    cm_exec_env_cleanup(&env);
    if (!a.ex) {
        logf_("cannot start: %s", a.base ? why : "no event loop");
        return 1;
    }
    struct event *chld = evsignal_new(a.base, SIGCHLD, on_sigchld, &a);
    struct event *term = evsignal_new(a.base, SIGTERM, on_sigterm, &a);
    evsignal_add(chld, NULL);
    evsignal_add(term, NULL);
    if (cm_exec_start(a.ex) == 0)
        event_base_dispatch(a.base);
    event_free(chld);
    event_free(term);
    cm_exec_free(a.ex);
    event_base_free(a.base);
    for (size_t i = 0; i < a.n_tasks; i++)
        free(a.tasks[i].id);
    return a.code;
}
