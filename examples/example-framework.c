/*
 * example-framework: the smallest useful libcmscheduler framework.
 *
 *   example-framework [master host:port] [number of tasks]
 *
 * It runs N tasks ("echo hello from task <i>", 0.1 cpus and 32 MB each), acknowledges every
 * status update that asks for it, and exits (0 if all tasks finished) once every task is done.
 * Build: cc example-framework.c $(pkg-config --cflags --libs cmscheduler)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmesos/scheduler.h"

#define TASK_CPUS 0.1
#define TASK_MEM 32.0

struct example {
    int total, launched, done, finished;
};

static double scalar(const Mesos__V1__Offer *offer, const char *name)
{
    double sum = 0;
    for (size_t i = 0; i < offer->n_resources; i++) {
        const Mesos__V1__Resource *r = offer->resources[i];
        if (strcmp(r->name, name) == 0 && r->scalar)
            sum += r->scalar->value;
    }
    return sum;
}

static void offers(struct cm_scheduler *s, void *arg, Mesos__V1__Offer *const *offers, size_t n)
{
    struct example *ex = arg;
    for (size_t o = 0; o < n; o++) {
        const Mesos__V1__Offer *offer = offers[o];
        double cpus = scalar(offer, "cpus"), mem = scalar(offer, "mem");
        Mesos__V1__TaskInfo infos[16], *tasks[16];
        Mesos__V1__TaskID ids[16];
        char names[16][32];
        Mesos__V1__Value__Scalar cpu_v = MESOS__V1__VALUE__SCALAR__INIT;
        Mesos__V1__Value__Scalar mem_v = MESOS__V1__VALUE__SCALAR__INIT;
        Mesos__V1__Resource cpu_r = MESOS__V1__RESOURCE__INIT, mem_r = MESOS__V1__RESOURCE__INIT;
        Mesos__V1__Resource *res[] = {&cpu_r, &mem_r};
        Mesos__V1__CommandInfo cmds[16];
        char lines[16][64];
        cpu_v.value = TASK_CPUS;
        mem_v.value = TASK_MEM;
        cpu_r.name = "cpus";
        cpu_r.type = MESOS__V1__VALUE__TYPE__SCALAR;
        cpu_r.scalar = &cpu_v;
        mem_r.name = "mem";
        mem_r.type = MESOS__V1__VALUE__TYPE__SCALAR;
        mem_r.scalar = &mem_v;

        size_t k = 0;
        while (ex->launched < ex->total && k < 16 && cpus >= TASK_CPUS && mem >= TASK_MEM) {
            Mesos__V1__TaskInfo ti = MESOS__V1__TASK_INFO__INIT;
            Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
            Mesos__V1__CommandInfo cmd = MESOS__V1__COMMAND_INFO__INIT;
            snprintf(names[k], sizeof names[k], "example-%d", ex->launched);
            snprintf(lines[k], sizeof lines[k], "echo hello from task %d", ex->launched);
            infos[k] = ti;
            ids[k] = tid;
            cmds[k] = cmd;
            ids[k].value = names[k];
            cmds[k].value = lines[k];
            infos[k].name = names[k];
            infos[k].task_id = &ids[k];
            infos[k].agent_id = offer->agent_id;
            infos[k].command = &cmds[k];
            infos[k].n_resources = 2;
            infos[k].resources = res;
            tasks[k] = &infos[k];
            cpus -= TASK_CPUS;
            mem -= TASK_MEM;
            ex->launched++;
            k++;
        }
        Mesos__V1__OfferID *offer_ids[] = {offer->id};
        if (k > 0) {
            printf("Launching %zu task(s) on agent %s\n", k, offer->agent_id->value);
            cm_scheduler_accept_launch(s, offer_ids, 1, tasks, k, NULL);
        } else {
            cm_scheduler_decline(s, offer_ids, 1, NULL);
        }
    }
}

static void update(struct cm_scheduler *s, void *arg, const Mesos__V1__TaskStatus *status)
{
    struct example *ex = arg;
    const ProtobufCEnumValue *state =
        protobuf_c_enum_descriptor_get_value(&mesos__v1__task_state__descriptor, status->state);
    printf("Task %s is %s\n", status->task_id->value, state ? state->name : "?");
    /* Acknowledge after acting on the update; updates without a uuid need none. */
    cm_scheduler_acknowledge_status(s, status);
    switch (status->state) {
    case MESOS__V1__TASK_STATE__TASK_FINISHED: ex->finished++; /* fall through */
    case MESOS__V1__TASK_STATE__TASK_FAILED:
    case MESOS__V1__TASK_STATE__TASK_KILLED:
    case MESOS__V1__TASK_STATE__TASK_ERROR:
    case MESOS__V1__TASK_STATE__TASK_LOST: ex->done++; break;
    default: break;
    }
    if (ex->done == ex->total)
        cm_scheduler_teardown(s, NULL, NULL); /* the master then closes the stream: we stop */
}

static void error(struct cm_scheduler *s, void *arg, const char *message)
{
    (void)s;
    (void)arg;
    fprintf(stderr, "Error: %s\n", message);
}

static void disconnected(struct cm_scheduler *s, void *arg, const char *reason, double delay)
{
    (void)s;
    (void)arg;
    fprintf(stderr, "Disconnected (%s); retrying in %.1f s\n", reason, delay);
}

int main(int argc, char **argv)
{
    struct example ex = {.total = argc > 2 ? atoi(argv[2]) : 3};
    if (ex.total < 1)
        ex.total = 1;
    Mesos__V1__FrameworkInfo info = MESOS__V1__FRAMEWORK_INFO__INIT;
    info.user = getenv("USER") ? getenv("USER") : "root";
    info.name = "example-framework";
    /* Like Mesos's example frameworks: a credential from DEFAULT_PRINCIPAL / DEFAULT_SECRET when
     * the master authenticates frameworks; the principal is also the framework's. */
    const char *principal = getenv("DEFAULT_PRINCIPAL");
    const char *secret = getenv("DEFAULT_SECRET");
    if (principal && *principal)
        info.principal = (char *)principal;

    struct cm_scheduler_config config = {
        .master = argc > 1 ? argv[1] : "127.0.0.1:5050",
        .framework_info = &info,
        .content_type = CM_SCHEDULER_JSON,
        .callbacks = {.offers = offers,
                      .update = update,
                      .error = error,
                      .disconnected = disconnected},
        .callback_arg = &ex,
    };
    char why[256];
    struct cm_scheduler *sched = cm_scheduler_new(&config, why, sizeof why);
    if (!sched) {
        fprintf(stderr, "cm_scheduler_new: %s\n", why);
        return 1;
    }
    if (principal && *principal &&
        cm_scheduler_set_credential(sched, principal, secret ? secret : "") != 0) {
        fprintf(stderr,
                "cm_scheduler_set_credential: invalid DEFAULT_PRINCIPAL or DEFAULT_SECRET\n");
        cm_scheduler_free(sched);
        return 1;
    }
    cm_scheduler_start(sched);
    cm_scheduler_run(sched); /* returns after teardown, or after an ERROR event */
    cm_scheduler_free(sched);
    printf("%d of %d task(s) finished\n", ex.finished, ex.total);
    return ex.finished == ex.total ? 0 : 1;
}
