/*
 * mesos-execute: run a shell command as one or more Mesos tasks and report what happens.
 *
 *   mesos-execute --master=127.0.0.1:5050 --name=hello --command='echo hi'
 *                 [--resources='cpus:0.1;mem:32'] [--count=N] [--framework_name=...]
 *
 * It subscribes through libcmscheduler, launches --count tasks (ids "<name>" for one task,
 * "<name>-<i>" otherwise) on offers that fit --resources, prints every status update as it
 * arrives in the shape Mesos's mesos-execute prints it, acknowledges updates that carry a uuid,
 * and tears the framework down once every task is terminal. With --tail it then prints each
 * task's stdout, read from its agent's sandbox as `mesos task log` does. Exit status: 0 only if
 * every task reached TASK_FINISHED; 1 otherwise, including when the master stays unreachable for
 * --connect_timeout.
 *
 * Containers (Mesos's flags): --docker_image with --containerizer=docker runs the command in a
 * Docker container (ContainerInfo type DOCKER); with --containerizer=mesos (the default) the
 * image becomes the MesosInfo image (type MESOS, image {type DOCKER, docker.name}). --volumes
 * (a JSON array of Volume) and --networks (names) go into the same ContainerInfo.
 */
#include <errno.h>
#include <event2/event.h>
#include <jansson.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmesos/scheduler.h"
#include "errors.h"
#include "flags.h"
#include "ids.h"
#include "mesos_cmds.h"
#include "pbjson.h"
#include "resources.h"
#include "util.h"

/* How long declined offers stay away once nothing is left to launch. */
#define DONE_REFUSE_SECONDS 3600.0

struct settings {
    char *master;
    char *name;
    char *command;
    char *resources;
    long count;
    char *framework_name;
    char *role;
    bool shell;
    char *env;
    double kill_after;
    bool tail; /* print each task's stdout once it has ended (mesos_cmds.h, task log) */
    char *content_type;
    bool checkpoint;
    double connect_timeout;
    bool verbose;
    char *principal; /* framework authentication (Mesos's mesos-execute flags) */
    char *secret;
    /* Containers (Mesos's flags): see build_container. */
    char *containerizer; /* "mesos" (default) or "docker" */
    char *docker_image;
    char *volumes;  /* JSON array of Volume, or a path / file:// URL of a file holding it */
    char *networks; /* comma-separated network names */
};

struct task_slot {
    char id[CM_ID_MAX + 1];
    char agent_id[CM_ID_MAX + 1];
    bool launched;
    bool terminal;
    bool running_seen;
    Mesos__V1__TaskState state;
    struct event *kill_timer;
    struct app *app;
};

struct app {
    struct settings flags;
    struct cm_scheduler *sched;
    struct event_base *base;
    struct cm_resources want; /* per task */
    char framework_id[CM_ID_MAX + 1];
    Mesos__V1__Environment *environment;
    Mesos__V1__ContainerInfo *container; /* NULL: no ContainerInfo */
    char **argv; /* --no-shell: the command split on blanks (pointers into argv_buf) */
    size_t argc;
    char *argv_buf;
    struct task_slot *tasks;
    size_t count, launched, terminal, finished;
    struct event *connect_timer;
    struct event *sigint, *sigterm;
    bool finishing;
    int exit_code;
};

static const char *enum_name(const ProtobufCEnumDescriptor *d, int value)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(d, value);
    return v ? v->name : "UNKNOWN";
}

/* Finds a slot by task id in O(1): the id is "<name>" or "<name>-<index>". */
static struct task_slot *find_task(struct app *a, const char *id)
{
    const char *name = a->flags.name;
    size_t nlen = strlen(name);
    if (a->count == 1)
        return strcmp(id, name) == 0 ? &a->tasks[0] : NULL;
    if (strncmp(id, name, nlen) != 0 || id[nlen] != '-')
        return NULL;
    char *end = NULL;
    errno = 0;
    unsigned long i = strtoul(id + nlen + 1, &end, 10);
    if (errno || !end || *end || end == id + nlen + 1 || i >= a->count)
        return NULL;
    return strcmp(a->tasks[i].id, id) == 0 ? &a->tasks[i] : NULL;
}

static void teardown_done(struct cm_scheduler *s, void *arg, Mesos__V1__Scheduler__Call__Type type,
                          int err, long status, const char *body)
{
    (void)arg;
    (void)type;
    if (err || status != 202)
        fprintf(stderr, "Teardown failed: %s%ld %s\n", err ? "no answer " : "", status, body);
    cm_scheduler_stop(s);
}

/* Ends the run: tear the framework down (so its tasks go away) and stop. */
static void finish(struct app *a, int code)
{
    if (a->finishing)
        return;
    a->finishing = true;
    a->exit_code = code;
    if (a->connect_timer)
        evtimer_del(a->connect_timer);
    if (cm_scheduler_subscribed(a->sched) && cm_scheduler_teardown(a->sched, teardown_done, a) == 0)
        return;
    cm_scheduler_stop(a->sched);
}

static void connect_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct app *a = arg;
    char dur[64];
    cm_duration_format(a->flags.connect_timeout, dur, sizeof dur);
    fprintf(stderr, "Failed to subscribe with the master at %s within %s; giving up\n",
            a->flags.master, dur);
    finish(a, 1);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct app *a = arg;
    fprintf(stderr, "Received signal %d; tearing down the framework\n", (int)sig);
    finish(a, 1);
}

static void kill_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct task_slot *t = arg;
    if (t->terminal)
        return;
    printf("Killing task '%s'\n", t->id);
    fflush(stdout);
    int rc = cm_scheduler_kill(t->app->sched, t->id, t->agent_id[0] ? t->agent_id : NULL);
    if (rc)
        fprintf(stderr, "Failed to kill task '%s': %s\n", t->id, cm_scheduler_strerror(rc));
}

/* --tail: each launched task's stdout through the operator API and its agent's /files. */
static void print_tails(struct app *a)
{
    /* The framework's credential also reads its tasks' sandboxes where endpoints authenticate. */
    struct cm_cli cli = {.spec = a->flags.master,
                         .timeout = 10,
                         .principal = a->flags.principal,
                         .secret = a->flags.secret};
    struct cm_cli_opts o = {.lines = -1, .max_grace = -1, .framework = a->framework_id};
    for (size_t i = 0; i < a->count; i++) {
        if (!a->tasks[i].launched)
            continue;
        printf("---- stdout of task '%s' ----\n", a->tasks[i].id);
        fflush(stdout);
        cm_cli_cmd_task_log(&cli, a->tasks[i].id, &o);
        fflush(stdout);
    }
    cm_cli_cleanup(&cli);
}

/* ---- scheduler callbacks ------------------------------------------------------------------ */

static void on_subscribed(struct cm_scheduler *s, void *arg,
                          const Mesos__V1__Scheduler__Event__Subscribed *sub)
{
    (void)s;
    struct app *a = arg;
    evtimer_del(a->connect_timer);
    printf("Subscribed with ID %s\n", sub->framework_id->value);
    snprintf(a->framework_id, sizeof a->framework_id, "%s", sub->framework_id->value);
    fflush(stdout);
    /* After a re-subscription, ask where the tasks we launched are. */
    if (a->launched)
        cm_scheduler_reconcile(a->sched, NULL, NULL, 0);
}

static void on_disconnected(struct cm_scheduler *s, void *arg, const char *reason, double delay)
{
    (void)s;
    struct app *a = arg;
    fprintf(stderr, "Disconnected from the master: %s (retrying in %.1f secs)\n", reason, delay);
    if (!evtimer_pending(a->connect_timer, NULL)) {
        struct timeval tv = {
            (time_t)a->flags.connect_timeout,
            (suseconds_t)((a->flags.connect_timeout - (double)(time_t)a->flags.connect_timeout) *
                          1e6)};
        evtimer_add(a->connect_timer, &tv);
    }
}

static void on_error(struct cm_scheduler *s, void *arg, const char *message)
{
    (void)s;
    struct app *a = arg;
    fprintf(stderr, "Received an ERROR event: %s\n", message);
    a->finishing = true;
    a->exit_code = 1;
}

static void on_call_failed(struct cm_scheduler *s, void *arg, Mesos__V1__Scheduler__Call__Type type,
                           int err, long status, const char *body)
{
    (void)s;
    struct app *a = arg;
    /* Once the framework is being torn down, late calls (acknowledgements, declines) are
     * refused with "Framework cannot be found"; that is expected. */
    if (a->finishing)
        return;
    fprintf(stderr, "%s call failed: %s%ld %s\n",
            enum_name(&mesos__v1__scheduler__call__type__descriptor, (int)type),
            err ? "no answer " : "", status, body);
}

static void decline(struct app *a, Mesos__V1__OfferID *id, double refuse)
{
    Mesos__V1__Filters f = MESOS__V1__FILTERS__INIT;
    f.has_refuse_seconds = 1;
    f.refuse_seconds = refuse;
    Mesos__V1__OfferID *ids[] = {id};
    cm_scheduler_decline(a->sched, ids, 1, &f);
}

/* Launches as many pending tasks as fit into one offer; declines it if none does. */
static void use_offer(struct app *a, const Mesos__V1__Offer *offer)
{
    if (a->finishing || a->launched == a->count) {
        decline(a, offer->id, DONE_REFUSE_SECONDS);
        return;
    }
    struct cm_resources left;
    cm_resources_init(&left);
    char why[256];
    if (cm_resources_from_proto(&left, offer->resources, offer->n_resources, why, sizeof why)) {
        fprintf(stderr, "Ignoring offer %s with bad resources: %s\n", offer->id->value, why);
        cm_resources_cleanup(&left);
        decline(a, offer->id, 5.0);
        return;
    }

    size_t room = a->count - a->launched;
    Mesos__V1__TaskInfo *infos = calloc(room, sizeof *infos);
    Mesos__V1__TaskInfo **ptrs = calloc(room, sizeof *ptrs);
    Mesos__V1__TaskID *tids = calloc(room, sizeof *tids);
    Mesos__V1__Resource ***res = calloc(room, sizeof *res);
    size_t *nres = calloc(room, sizeof *nres);
    if (!infos || !ptrs || !tids || !res || !nres)
        abort();
    Mesos__V1__AgentID agent = MESOS__V1__AGENT_ID__INIT;
    agent.value = offer->agent_id->value;
    Mesos__V1__CommandInfo cmd = MESOS__V1__COMMAND_INFO__INIT;
    cmd.value = a->flags.command;
    cmd.has_shell = 1;
    cmd.shell = a->flags.shell;
    cmd.environment = a->environment;
    if (!a->flags.shell) {
        /* Without a shell: value is the program, arguments its whole argv (argv[0] too). */
        cmd.value = a->argv[0];
        cmd.n_arguments = a->argc;
        cmd.arguments = a->argv;
    }

    size_t n = 0;
    while (a->launched + n < a->count && cm_resources_contains(&left, &a->want)) {
        /* Take the first slot not yet launched (slots are launched in order). */
        struct task_slot *t = &a->tasks[a->launched + n];
        Mesos__V1__TaskInfo ti = MESOS__V1__TASK_INFO__INIT;
        Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
        infos[n] = ti;
        tids[n] = tid;
        tids[n].value = t->id;
        infos[n].name = t->id;
        infos[n].task_id = &tids[n];
        infos[n].agent_id = &agent;
        infos[n].command = &cmd;
        infos[n].container = a->container;
        cm_resources_to_proto(&a->want, NULL, &res[n], &nres[n]);
        infos[n].resources = res[n];
        infos[n].n_resources = nres[n];
        ptrs[n] = &infos[n];
        cm_resources_subtract(&left, &a->want);
        n++;
    }

    if (n == 0) {
        decline(a, offer->id, 5.0);
    } else {
        bool all = a->launched + n == a->count;
        Mesos__V1__Filters f = MESOS__V1__FILTERS__INIT;
        f.has_refuse_seconds = 1;
        f.refuse_seconds = all ? DONE_REFUSE_SECONDS : 1.0;
        Mesos__V1__OfferID *ids[] = {offer->id};
        int rc = cm_scheduler_accept_launch(a->sched, ids, 1, ptrs, n, &f);
        if (rc) {
            fprintf(stderr, "Failed to launch on offer %s: %s\n", offer->id->value,
                    cm_scheduler_strerror(rc));
        } else {
            for (size_t i = 0; i < n; i++) {
                struct task_slot *t = &a->tasks[a->launched + i];
                t->launched = true;
                snprintf(t->agent_id, sizeof t->agent_id, "%s", offer->agent_id->value);
                printf("Submitted task '%s' to agent '%s'\n", t->id, t->agent_id);
            }
            a->launched += n;
            fflush(stdout);
        }
    }
    for (size_t i = 0; i < n; i++)
        cm_resources_proto_free(res[i], nres[i]);
    free(infos);
    free(ptrs);
    free(tids);
    free(res);
    free(nres);
    cm_resources_cleanup(&left);
}

static void on_offers(struct cm_scheduler *s, void *arg, Mesos__V1__Offer *const *offers, size_t n)
{
    (void)s;
    struct app *a = arg;
    for (size_t i = 0; i < n; i++)
        use_offer(a, offers[i]);
}

static void on_update(struct cm_scheduler *s, void *arg, const Mesos__V1__TaskStatus *st)
{
    struct app *a = arg;
    const char *id = st->task_id && st->task_id->value ? st->task_id->value : "";
    printf("Received status update %s for task '%s'\n",
           enum_name(&mesos__v1__task_state__descriptor, (int)st->state), id);
    if (st->message && *st->message)
        printf("  message: '%s'\n", st->message);
    if (st->has_source)
        printf("  source: %s\n",
               enum_name(&mesos__v1__task_status__source__descriptor, (int)st->source));
    if (st->has_reason)
        printf("  reason: %s\n",
               enum_name(&mesos__v1__task_status__reason__descriptor, (int)st->reason));
    if (st->has_healthy)
        printf("  healthy?: %s\n", st->healthy ? "true" : "false");
    fflush(stdout);

    int rc = cm_scheduler_acknowledge_status(s, st);
    if (rc)
        fprintf(stderr, "Failed to acknowledge the update for task '%s': %s\n", id,
                cm_scheduler_strerror(rc));

    struct task_slot *t = find_task(a, id);
    if (!t || t->terminal)
        return;
    t->state = st->state;
    if (st->state == MESOS__V1__TASK_STATE__TASK_RUNNING && !t->running_seen) {
        t->running_seen = true;
        if (a->flags.kill_after > 0) {
            t->kill_timer = evtimer_new(a->base, kill_timer_cb, t);
            double k = a->flags.kill_after;
            struct timeval tv = {(time_t)k, (suseconds_t)((k - (double)(time_t)k) * 1e6)};
            if (t->kill_timer)
                evtimer_add(t->kill_timer, &tv);
        }
    }
    if ((st->state == MESOS__V1__TASK_STATE__TASK_UNKNOWN || cm_task_state_terminal(st->state))) {
        t->terminal = true;
        a->terminal++;
        if (st->state == MESOS__V1__TASK_STATE__TASK_FINISHED)
            a->finished++;
        if (t->kill_timer)
            evtimer_del(t->kill_timer);
        if (a->terminal == a->count)
            finish(a, a->finished == a->count ? 0 : 1);
    }
}

static void on_failure(struct cm_scheduler *s, void *arg,
                       const Mesos__V1__Scheduler__Event__Failure *f)
{
    (void)s;
    struct app *a = arg;
    /* Every command task's executor exits after its task, so that is only news in verbose
     * mode; a lost agent always is. */
    if (f->executor_id && a->flags.verbose)
        printf("Executor '%s' on agent '%s' terminated%s%d\n", f->executor_id->value,
               f->agent_id ? f->agent_id->value : "?", f->has_status ? " with status " : "",
               f->has_status ? f->status : 0);
    else if (!f->executor_id && f->agent_id)
        printf("Agent '%s' lost\n", f->agent_id->value);
    fflush(stdout);
}

static void on_log(void *arg, enum cm_scheduler_log_level level, const char *message)
{
    struct app *a = arg;
    if (level >= CM_SCHEDULER_LOG_WARNING || a->flags.verbose)
        fprintf(stderr, "scheduler: %s\n", message);
}

/* ---- setup ---------------------------------------------------------------------------------- */

/* --env='{"NAME":"value",...}' becomes a CommandInfo.Environment. */
static int parse_env(struct app *a, char *why, size_t whylen)
{
    if (!a->flags.env || !*a->flags.env)
        return 0;
    json_error_t jerr;
    json_t *j = json_loads(a->flags.env, 0, &jerr);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        return cm_fail(CM_EINVAL, why, whylen, "Failed to load flag 'env': not a JSON object");
    }
    size_t n = json_object_size(j);
    Mesos__V1__Environment *env = calloc(1, sizeof *env);
    Mesos__V1__Environment__Variable **vars = calloc(n ? n : 1, sizeof *vars);
    if (!env || !vars)
        abort();
    mesos__v1__environment__init(env);
    env->variables = vars;
    const char *key;
    json_t *val;
    json_object_foreach(j, key, val)
    {
        if (!json_is_string(val)) {
            json_decref(j);
            a->environment = env;
            return cm_fail(CM_EINVAL, why, whylen,
                           "Failed to load flag 'env': value of '%s' is not a string", key);
        }
        Mesos__V1__Environment__Variable *v = calloc(1, sizeof *v);
        if (!v)
            abort();
        mesos__v1__environment__variable__init(v);
        v->name = strdup(key);
        v->value = strdup(json_string_value(val));
        if (!v->name || !v->value)
            abort();
        vars[env->n_variables++] = v;
    }
    json_decref(j);
    a->environment = env;
    return 0;
}

static void free_env(Mesos__V1__Environment *env)
{
    if (!env)
        return;
    for (size_t i = 0; i < env->n_variables; i++) {
        free(env->variables[i]->name);
        free(env->variables[i]->value);
        free(env->variables[i]);
    }
    free(env->variables);
    free(env);
}

/* The --volumes value: inline JSON, or a file named by an absolute path or a file:// URL. */
static json_t *load_volumes(const char *text, char *why, size_t whylen)
{
    json_error_t jerr;
    json_t *v;
    const char *path = strncmp(text, "file://", 7) == 0 ? text + 7 : text[0] == '/' ? text : NULL;
    if (path)
        v = json_load_file(path, 0, &jerr);
    else
        v = json_loads(text, 0, &jerr);
    if (!v) {
        cm_fail(CM_EINVAL, why, whylen, "Failed to load flag 'volumes': %s", jerr.text);
        return NULL;
    }
    if (!json_is_array(v)) {
        json_decref(v);
        cm_fail(CM_EINVAL, why, whylen, "Failed to load flag 'volumes': not a JSON array");
        return NULL;
    }
    return v;
}

/* The tasks' ContainerInfo from --containerizer, --docker_image, --volumes and --networks,
 * as Mesos's mesos-execute builds it: mesos without any of them means no ContainerInfo;
 * mesos with an image is type MESOS with mesos.image {type DOCKER, docker.name}; docker
 * needs an image and takes at most one network (docker.network USER). */
static int build_container(struct app *a, char *why, size_t whylen)
{
    const char *kind = a->flags.containerizer ? a->flags.containerizer : "mesos";
    bool image = a->flags.docker_image && *a->flags.docker_image;
    bool nets = a->flags.networks && *a->flags.networks;
    bool vols = a->flags.volumes && *a->flags.volumes;
    if (strcmp(kind, "mesos") != 0 && strcmp(kind, "docker") != 0)
        return cm_fail(CM_EINVAL, why, whylen, "Unsupported containerizer: %s", kind);
    if (strcmp(kind, "mesos") == 0 && !image && !nets && !vols)
        return 0;
    if (strcmp(kind, "docker") == 0 && !image)
        return cm_fail(CM_EINVAL, why, whylen,
                       "'Docker' containerizer requires docker image name (--docker_image)");
    json_t *ci = json_object();
    if (vols) {
        json_t *v = load_volumes(a->flags.volumes, why, whylen);
        if (!v) {
            json_decref(ci);
            return CM_EINVAL;
        }
        json_object_set_new(ci, "volumes", v);
    }
    json_t *netinfos = json_array();
    size_t nnets = 0;
    if (nets) {
        char *copy = strdup(a->flags.networks), *save = NULL;
        if (!copy)
            abort();
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save), nnets++)
            json_array_append_new(netinfos, json_pack("{s:s}", "name", tok));
        free(copy);
    }
    if (nnets)
        json_object_set(ci, "network_infos", netinfos);
    json_decref(netinfos);
    if (strcmp(kind, "docker") == 0) {
        if (nnets > 1) {
            json_decref(ci);
            return cm_fail(CM_EINVAL, why, whylen,
                           "'Docker' containerizer can only support a single network");
        }
        json_object_set_new(ci, "type", json_string("DOCKER"));
        json_object_set_new(ci, "docker", json_pack("{s:s}", "image", a->flags.docker_image));
        if (nnets)
            json_object_set_new(json_object_get(ci, "docker"), "network", json_string("USER"));
    } else {
        json_object_set_new(ci, "type", json_string("MESOS"));
        if (image)
            json_object_set_new(ci, "mesos",
                                json_pack("{s:{s:s, s:{s:s}}}", "image", "type", "DOCKER", "docker",
                                          "name", a->flags.docker_image));
    }
    char pwhy[256];
    ProtobufCMessage *msg = NULL;
    int rc =
        cm_pbjson_from_json(&mesos__v1__container_info__descriptor, ci, &msg, pwhy, sizeof pwhy);
    json_decref(ci);
    if (rc)
        return cm_fail(CM_EINVAL, why, whylen, "Invalid container (--volumes?): %s", pwhy);
    a->container = (Mesos__V1__ContainerInfo *)msg;
    return 0;
}

static int setup_tasks(struct app *a, char *why, size_t whylen)
{
    if (a->flags.count < 1 || a->flags.count > 100000)
        return cm_fail(CM_EINVAL, why, whylen,
                       "Failed to load flag 'count': must be between 1 and 100000");
    a->count = (size_t)a->flags.count;
    const char *idwhy = NULL;
    if (cm_id_validate(a->flags.name, &idwhy))
        return cm_fail(CM_EINVAL, why, whylen, "Failed to load flag 'name': %s", idwhy);
    if (strlen(a->flags.name) > CM_ID_MAX - 8)
        return cm_fail(CM_EINVAL, why, whylen, "Failed to load flag 'name': too long");
    a->tasks = calloc(a->count, sizeof *a->tasks);
    if (!a->tasks)
        return -ENOMEM;
    for (size_t i = 0; i < a->count; i++) {
        if (a->count == 1)
            snprintf(a->tasks[i].id, sizeof a->tasks[i].id, "%s", a->flags.name);
        else
            snprintf(a->tasks[i].id, sizeof a->tasks[i].id, "%s-%zu", a->flags.name, i);
        a->tasks[i].app = a;
    }
    char rwhy[256];
    if (cm_resources_parse(&a->want, a->flags.resources, NULL, rwhy, sizeof rwhy))
        return cm_fail(CM_EINVAL, why, whylen, "Failed to load flag 'resources': %s", rwhy);
    if (cm_resources_empty(&a->want))
        return cm_fail(CM_EINVAL, why, whylen, "Failed to load flag 'resources': empty");
    if (cm_role_validate(a->flags.role, &idwhy))
        return cm_fail(CM_EINVAL, why, whylen, "Failed to load flag 'role': %s", idwhy);
    if (a->flags.connect_timeout <= 0)
        return cm_fail(CM_EINVAL, why, whylen,
                       "Failed to load flag 'connect_timeout': must be positive");
    if (!a->flags.shell) {
        /* Split on blanks (no quoting), as the command is exec'd without a shell. */
        char *copy = a->argv_buf = strdup(a->flags.command);
        a->argv = calloc(strlen(a->flags.command) / 2 + 2, sizeof *a->argv);
        if (!copy || !a->argv)
            abort();
        char *save = NULL;
        for (char *tok = strtok_r(copy, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save))
            a->argv[a->argc++] = tok;
        if (a->argc == 0)
            return cm_fail(CM_EINVAL, why, whylen, "Failed to load flag 'command': empty");
    }
    int rc = build_container(a, why, whylen);
    if (rc)
        return rc;
    return parse_env(a, why, whylen);
}

int main(int argc, char **argv)
{
    struct app a;
    memset(&a, 0, sizeof a);
    cm_resources_init(&a.want);
    a.exit_code = 1;
    a.flags.resources = "cpus:0.1;mem:32";
    a.flags.count = 1;
    a.flags.framework_name = "mesos-execute instance";
    a.flags.role = "*";
    a.flags.shell = true;
    a.flags.content_type = "json";
    a.flags.connect_timeout = 30.0;
    a.flags.containerizer = "mesos";

    struct cm_flag flags[] = {
        {"master", NULL, CM_FLAG_STRING, &a.flags.master,
         "Mesos master to subscribe with: host:port, http://host:port, zk://host:port,.../path "
         "or file:///path",
         true, false},
        {"name", NULL, CM_FLAG_STRING, &a.flags.name, "Name (and task ID) of the task", true,
         false},
        {"command", NULL, CM_FLAG_STRING, &a.flags.command, "Shell command to run", true, false},
        {"resources", NULL, CM_FLAG_STRING, &a.flags.resources,
         "Resources of each task (default cpus:0.1;mem:32)", false, false},
        {"count", NULL, CM_FLAG_INT, &a.flags.count,
         "Number of tasks; ids are <name>-<i> when more than 1 (default 1)", false, false},
        {"framework_name", NULL, CM_FLAG_STRING, &a.flags.framework_name,
         "Name of the framework (default 'mesos-execute instance')", false, false},
        {"role", NULL, CM_FLAG_STRING, &a.flags.role, "Role to subscribe with (default *)", false,
         false},
        {"shell", NULL, CM_FLAG_BOOL, &a.flags.shell,
         "Run the command through /bin/sh -c (default true)", false, false},
        {"env", NULL, CM_FLAG_STRING, &a.flags.env,
         "Environment of the command as a JSON object, e.g. {\"K\":\"V\"}", false, false},
        {"kill_after", NULL, CM_FLAG_DURATION, &a.flags.kill_after,
         "Kill each task this long after it is RUNNING (e.g. 10secs); 0 never kills", false, false},
        {"tail", NULL, CM_FLAG_BOOL, &a.flags.tail,
         "When the tasks have ended, print each one's stdout, read from its agent's sandbox", false,
         false},
        {"content_type", NULL, CM_FLAG_STRING, &a.flags.content_type,
         "Scheduler API encoding: json or protobuf (default json)", false, false},
        {"checkpoint", NULL, CM_FLAG_BOOL, &a.flags.checkpoint,
         "Enable checkpointing for the framework (default false)", false, false},
        {"connect_timeout", NULL, CM_FLAG_DURATION, &a.flags.connect_timeout,
         "Give up when not subscribed with the master for this long (default 30secs)", false,
         false},
        {"verbose", NULL, CM_FLAG_BOOL, &a.flags.verbose, "Print the library's log lines", false,
         false},
        {"principal", NULL, CM_FLAG_STRING, &a.flags.principal,
         "The principal to use for framework authentication (also FrameworkInfo.principal)", false,
         false},
        {"secret", NULL, CM_FLAG_STRING, &a.flags.secret,
         "The secret to use for framework authentication (HTTP Basic with --principal)", false,
         false},
        {"containerizer", NULL, CM_FLAG_STRING, &a.flags.containerizer,
         "Containerizer to be used (i.e., docker, mesos)", false, false},
        {"docker_image", NULL, CM_FLAG_STRING, &a.flags.docker_image,
         "Docker image that follows the Docker CLI naming <image>:<tag> (e.g. busybox:latest). "
         "With --containerizer=mesos it becomes the task's MesosInfo image",
         false, false},
        {"volumes", NULL, CM_FLAG_STRING, &a.flags.volumes,
         "JSON array of Volume (see mesos.proto), or a file holding it (/path or file:///path), "
         "e.g. [{\"container_path\":\"/data\",\"host_path\":\"/tmp/d\",\"mode\":\"RW\"}]",
         false, false},
        {"networks", NULL, CM_FLAG_STRING, &a.flags.networks,
         "Comma-separated list of networks that the container will join, e.g. net1,net2 "
         "(the docker containerizer takes one)",
         false, false},
    };
    size_t nflags = sizeof flags / sizeof flags[0];
    const char *summary = "Runs a command as Mesos task(s) and prints their status updates.";
    char why[512] = "";
    int rc = cm_flags_parse(flags, nflags, argc, argv, summary, why, sizeof why);
    if (rc == CM_EHELP) {
        cm_flags_cleanup(flags, nflags);
        return 0;
    }
    if (rc) {
        fprintf(stderr, "%s\n\n", why);
        cm_flags_usage(flags, nflags, argv[0], summary, stderr);
        cm_flags_cleanup(flags, nflags);
        return 1;
    }

    enum cm_scheduler_content_type ct;
    if (strcmp(a.flags.content_type, "json") == 0) {
        ct = CM_SCHEDULER_JSON;
    } else if (strcmp(a.flags.content_type, "protobuf") == 0) {
        ct = CM_SCHEDULER_PROTOBUF;
    } else {
        fprintf(stderr, "Failed to load flag 'content_type': expected json or protobuf\n");
        cm_flags_cleanup(flags, nflags);
        return 1;
    }
    if (setup_tasks(&a, why, sizeof why)) {
        fprintf(stderr, "%s\n", why);
        goto out;
    }

    struct passwd *pw = getpwuid(getuid());
    Mesos__V1__FrameworkInfo fi = MESOS__V1__FRAMEWORK_INFO__INIT;
    fi.user = pw && pw->pw_name ? pw->pw_name : "root";
    fi.name = a.flags.framework_name;
    fi.has_checkpoint = 1;
    fi.checkpoint = a.flags.checkpoint;
    /* A plain (non MULTI_ROLE) framework: the role only needs saying when it is not "*". */
    if (strcmp(a.flags.role, "*") != 0) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
        fi.role = a.flags.role;
#pragma GCC diagnostic pop
    }
    if (a.flags.secret && !a.flags.principal) {
        fprintf(stderr, "Flag 'secret' needs 'principal'\n");
        goto out;
    }
    if (a.flags.principal)
        fi.principal = a.flags.principal;
    char host[256];
    if (gethostname(host, sizeof host) == 0) {
        host[sizeof host - 1] = '\0';
        fi.hostname = host;
    }

    struct cm_scheduler_config cfg = {
        .master = a.flags.master,
        .framework_info = &fi,
        .content_type = ct,
        .callbacks =
            {
                .subscribed = on_subscribed,
                .offers = on_offers,
                .update = on_update,
                .failure = on_failure,
                .error = on_error,
                .disconnected = on_disconnected,
                .call_failed = on_call_failed,
            },
        .callback_arg = &a,
        .log = on_log,
        .log_arg = &a,
    };
    a.sched = cm_scheduler_new(&cfg, why, sizeof why);
    if (!a.sched) {
        fprintf(stderr, "Failed to create the scheduler: %s\n", why);
        goto out;
    }
    if (a.flags.principal && a.flags.secret &&
        cm_scheduler_set_credential(a.sched, a.flags.principal, a.flags.secret) != 0) {
        fprintf(stderr, "Invalid --principal or --secret: a principal must be non-empty without "
                        "':' or control characters, a secret without control characters\n");
        goto out;
    }
    a.base = cm_scheduler_base(a.sched);
    a.connect_timer = evtimer_new(a.base, connect_timeout_cb, &a);
    a.sigint = evsignal_new(a.base, SIGINT, signal_cb, &a);
    a.sigterm = evsignal_new(a.base, SIGTERM, signal_cb, &a);
    if (!a.connect_timer || !a.sigint || !a.sigterm) {
        fprintf(stderr, "Failed to create timers\n");
        goto out;
    }
    evsignal_add(a.sigint, NULL);
    evsignal_add(a.sigterm, NULL);
    struct timeval tv = {
        (time_t)a.flags.connect_timeout,
        (suseconds_t)((a.flags.connect_timeout - (double)(time_t)a.flags.connect_timeout) * 1e6)};
    evtimer_add(a.connect_timer, &tv);

    cm_scheduler_start(a.sched);
    cm_scheduler_run(a.sched);
    if (!a.finishing)
        a.exit_code = 1;
    if (a.flags.tail && a.framework_id[0])
        print_tails(&a);

out:
    for (size_t i = 0; a.tasks && i < a.count; i++)
        if (a.tasks[i].kill_timer)
            event_free(a.tasks[i].kill_timer);
    if (a.connect_timer)
        event_free(a.connect_timer);
    if (a.sigint)
        event_free(a.sigint);
    if (a.sigterm)
        event_free(a.sigterm);
    cm_scheduler_free(a.sched);
    free(a.tasks);
    free(a.argv);
    free(a.argv_buf);
    free_env(a.environment);
    if (a.container)
        mesos__v1__container_info__free_unpacked(a.container, NULL);
    cm_resources_cleanup(&a.want);
    cm_flags_cleanup(flags, nflags);
    return a.exit_code;
}
