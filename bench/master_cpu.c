/*
 * bench-master_cpu: the master's CPU per launched task, over the whole life of a task in the
 * master: offer -> ACCEPT (one task per offer) -> RUN_TASK -> STATUS_UPDATE TASK_RUNNING ->
 * UPDATE to the scheduler -> ACKNOWLEDGE -> ACKNOWLEDGE to the agent -> the same for
 * TASK_FINISHED -> resources recovered and offered again.
 *
 * The master runs in-process on the core seam (no sockets): calls enter as the HTTP edges hand
 * them over (bytes: the scheduler's and the agent's calls are packed protobuf, decoded by the
 * master's own decoders), and events leave through callback sinks that pack each one as the
 * HTTP stream would (its protobuf encoding, counted as the master's work). The driver's own
 * work (building the calls' bytes, reading the events) is kept out of the timed sections: the
 * thread CPU time is summed over the master's calls only. Run it under `perf record` to see
 * where the time goes.
 *
 * Usage: bench-master_cpu [agents] [rounds]  (defaults 1000 20: 20,000 tasks). Prints the
 * master's CPU per task (the target is 0.1 ms).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent_link.h"
#include "clock.h"
#include "log.h"
#include "master.h"
#include "registrar.h"
#include "scheduler_calls.h"

#define MAX_Q 200000

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "bench-master_cpu: %s\n", what);
    exit(1);
}

struct offer_ref {
    char id[96], agent[96];
};
struct update_ref {
    char task[64], agent[96];
    uint8_t uuid[16];
    int state;
};
struct launch_ref {
    char task[64], agent[96], fw[96];
};

struct bench {
    struct cm_master *m;
    char fw_id[96], fw_sid[64];
    struct offer_ref *offers;
    size_t noffers;
    struct update_ref *updates;
    size_t nupdates;
    struct launch_ref *launches;
    size_t nlaunches;
    char **agent_sid; /* by agent index */
    struct cm_strmap agent_index;
    size_t packed;
    double master_cpu;
    uint64_t timed; /* timed sections (each costs two clock reads) */
    uint8_t *buf;
    size_t bufcap;
};

/* What an HTTP stream would do with each event: pack it. */
static void pack_like_stream(struct bench *b, const ProtobufCMessage *msg)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    if (n > b->bufcap) {
        b->bufcap = n * 2;
        b->buf = realloc(b->buf, b->bufcap);
    }
    protobuf_c_message_pack(msg, b->buf);
    b->packed += n;
}

static void fw_sink(void *arg, const ProtobufCMessage *msg)
{
    struct bench *b = arg;
    pack_like_stream(b, msg);
    const Mesos__V1__Scheduler__Event *e = (const Mesos__V1__Scheduler__Event *)msg;
    if (e->type == MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS && e->offers) {
        for (size_t i = 0; i < e->offers->n_offers && b->noffers < MAX_Q; i++) {
            struct offer_ref *o = &b->offers[b->noffers++];
            snprintf(o->id, sizeof o->id, "%s", e->offers->offers[i]->id->value);
            snprintf(o->agent, sizeof o->agent, "%s", e->offers->offers[i]->agent_id->value);
        }
    } else if (e->type == MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE && e->update &&
               e->update->status->has_uuid && b->nupdates < MAX_Q) {
        struct update_ref *u = &b->updates[b->nupdates++];
        snprintf(u->task, sizeof u->task, "%s", e->update->status->task_id->value);
        snprintf(u->agent, sizeof u->agent, "%s", e->update->status->agent_id->value);
        memcpy(u->uuid, e->update->status->uuid.data, 16);
        u->state = e->update->status->state;
    }
}

static void agent_sink(void *arg, const ProtobufCMessage *msg)
{
    struct bench *b = arg;
    pack_like_stream(b, msg);
    if (msg->descriptor != &cmesos__internal__agent_event__descriptor)
        return;
    const Cmesos__Internal__AgentEvent *e = (const Cmesos__Internal__AgentEvent *)msg;
    if (e->type == CMESOS__INTERNAL__AGENT_EVENT__TYPE__RUN_TASK && e->run_task &&
        b->nlaunches < MAX_Q) {
        struct launch_ref *l = &b->launches[b->nlaunches++];
        snprintf(l->task, sizeof l->task, "%s", e->run_task->task->task_id->value);
        snprintf(l->agent, sizeof l->agent, "%s", e->run_task->task->agent_id->value);
        snprintf(l->fw, sizeof l->fw, "%s", e->run_task->framework_info->id->value);
    }
}

/* ---- calls, as bytes ---- */

static uint8_t *pack(const ProtobufCMessage *msg, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(msg);
    uint8_t *p = malloc(*len ? *len : 1);
    protobuf_c_message_pack(msg, p);
    return p;
}

static void sched_call(struct bench *b, const uint8_t *body, size_t len)
{
    struct cm_sched_request req = {.method = "POST",
                                   .content_type = "application/x-protobuf",
                                   .accept = "application/x-protobuf",
                                   .stream_id = b->fw_sid,
                                   .body = body,
                                   .body_len = len};
    struct cm_sched_result res;
    double t0 = cpu_now();
    cm_master_scheduler_request(b->m, &req, &res);
    b->master_cpu += cpu_now() - t0;
    b->timed++;
    if (res.code != 202)
        die(res.text);
}

static void agent_call(struct bench *b, const char *sid, const uint8_t *body, size_t len)
{
    char why[512];
    double t0 = cpu_now();
    Cmesos__Internal__AgentCall *call = NULL;
    if (cm_master_agent_decode(CM_MEDIA_PROTOBUF, body, len, &call, why, sizeof why))
        die(why);
    struct cm_agent *a = NULL;
    int code = cm_master_agent_call(b->m, call, NULL, sid, &a, why, sizeof why);
    protobuf_c_message_free_unpacked(&call->base, NULL);
    b->master_cpu += cpu_now() - t0;
    b->timed++;
    if (code != 200 && code != 202)
        die(why);
}

static void accept_offer(struct bench *b, const struct offer_ref *o, uint64_t n)
{
    char tid[64];
    snprintf(tid, sizeof tid, "t%llu", (unsigned long long)n);
    Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
    Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
    Mesos__V1__Scheduler__Call__Accept acc = MESOS__V1__SCHEDULER__CALL__ACCEPT__INIT;
    Mesos__V1__OfferID oid = MESOS__V1__OFFER_ID__INIT;
    Mesos__V1__OfferID *oids[1] = {&oid};
    Mesos__V1__Offer__Operation op = MESOS__V1__OFFER__OPERATION__INIT;
    Mesos__V1__Offer__Operation *ops[1] = {&op};
    Mesos__V1__Offer__Operation__Launch launch = MESOS__V1__OFFER__OPERATION__LAUNCH__INIT;
    Mesos__V1__TaskInfo ti = MESOS__V1__TASK_INFO__INIT;
    Mesos__V1__TaskInfo *tis[1] = {&ti};
    Mesos__V1__TaskID taskid = MESOS__V1__TASK_ID__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    Mesos__V1__CommandInfo cmd = MESOS__V1__COMMAND_INFO__INIT;
    Mesos__V1__Resource cpus = MESOS__V1__RESOURCE__INIT, mem = MESOS__V1__RESOURCE__INIT;
    Mesos__V1__Value__Scalar cs = MESOS__V1__VALUE__SCALAR__INIT,
                             ms = MESOS__V1__VALUE__SCALAR__INIT;
    Mesos__V1__Resource *rs[2] = {&cpus, &mem};
    Mesos__V1__Filters filters = MESOS__V1__FILTERS__INIT;
    fid.value = b->fw_id;
    oid.value = (char *)o->id;
    taskid.value = tid;
    aid.value = (char *)o->agent;
    cmd.value = "true";
    cpus.name = "cpus";
    cpus.type = MESOS__V1__VALUE__TYPE__SCALAR;
    cs.value = 0.1;
    cpus.scalar = &cs;
    mem.name = "mem";
    mem.type = MESOS__V1__VALUE__TYPE__SCALAR;
    ms.value = 32;
    mem.scalar = &ms;
    ti.name = tid;
    ti.task_id = &taskid;
    ti.agent_id = &aid;
    ti.command = &cmd;
    ti.n_resources = 2;
    ti.resources = rs;
    launch.n_task_infos = 1;
    launch.task_infos = tis;
    op.has_type = 1;
    op.type = MESOS__V1__OFFER__OPERATION__TYPE__LAUNCH;
    op.launch = &launch;
    acc.n_offer_ids = 1;
    acc.offer_ids = oids;
    acc.n_operations = 1;
    acc.operations = ops;
    filters.has_refuse_seconds = 1;
    filters.refuse_seconds = 0;
    acc.filters = &filters;
    call.framework_id = &fid;
    call.has_type = 1;
    call.type = MESOS__V1__SCHEDULER__CALL__TYPE__ACCEPT;
    call.accept = &acc;
    size_t len;
    uint8_t *p = pack(&call.base, &len);
    sched_call(b, p, len);
    free(p);
}

static void status_update(struct bench *b, const struct launch_ref *l, int state, uint64_t n)
{
    Cmesos__Internal__AgentCall call = CMESOS__INTERNAL__AGENT_CALL__INIT;
    Cmesos__Internal__AgentCall__StatusUpdate su =
        CMESOS__INTERNAL__AGENT_CALL__STATUS_UPDATE__INIT;
    Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
    Mesos__V1__ExecutorID eid = MESOS__V1__EXECUTOR_ID__INIT;
    Mesos__V1__TaskStatus st = MESOS__V1__TASK_STATUS__INIT;
    uint8_t uuid[16] = {0};
    memcpy(uuid, &n, sizeof n);
    uuid[15] = (uint8_t)state;
    fid.value = (char *)l->fw;
    aid.value = (char *)l->agent;
    tid.value = (char *)l->task;
    eid.value = (char *)l->task;
    st.task_id = &tid;
    st.agent_id = &aid;
    st.executor_id = &eid;
    st.state = state;
    st.has_source = 1;
    st.source = MESOS__V1__TASK_STATUS__SOURCE__SOURCE_EXECUTOR;
    st.has_uuid = 1;
    st.uuid.data = uuid;
    st.uuid.len = 16;
    st.has_timestamp = 1;
    st.timestamp = 1.7e9;
    su.framework_id = &fid;
    su.status = &st;
    su.executor_id = &eid;
    call.has_type = 1;
    call.type = CMESOS__INTERNAL__AGENT_CALL__TYPE__STATUS_UPDATE;
    call.agent_id = &aid;
    call.status_update = &su;
    size_t len;
    uint8_t *p = pack(&call.base, &len);
    size_t *idx = cm_strmap_get(&b->agent_index, l->agent);
    if (!idx)
        die("unknown agent");
    agent_call(b, b->agent_sid[*idx], p, len);
    free(p);
}

static void acknowledge(struct bench *b, const struct update_ref *u)
{
    Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
    Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
    Mesos__V1__Scheduler__Call__Acknowledge ack = MESOS__V1__SCHEDULER__CALL__ACKNOWLEDGE__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
    fid.value = b->fw_id;
    aid.value = (char *)u->agent;
    tid.value = (char *)u->task;
    ack.agent_id = &aid;
    ack.task_id = &tid;
    ack.uuid.data = (uint8_t *)u->uuid;
    ack.uuid.len = 16;
    call.framework_id = &fid;
    call.has_type = 1;
    call.type = MESOS__V1__SCHEDULER__CALL__TYPE__ACKNOWLEDGE;
    call.acknowledge = &ack;
    size_t len;
    uint8_t *p = pack(&call.base, &len);
    sched_call(b, p, len);
    free(p);
}

static void register_agent(struct bench *b, size_t i)
{
    char json[1024], why[512], sid[64];
    snprintf(json, sizeof json,
             "{\"type\":\"REGISTER\",\"register\":{\"agent_info\":{\"hostname\":\"h%zu\",\"port\":"
             "5051,\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":8}},"
             "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":16384}}]},\"pid\":"
             "\"slave(1)@10.0.%zu.%zu:5051\",\"address_ip\":\"10.0.%zu.%zu\"}}",
             i, i >> 8, i & 255, i >> 8, i & 255);
    Cmesos__Internal__AgentCall *call = NULL;
    if (cm_master_agent_decode(CM_MEDIA_JSON, (const uint8_t *)json, strlen(json), &call, why,
                               sizeof why))
        die(why);
    struct cm_sink s = {.media = CM_MEDIA_PROTOBUF, .cb = agent_sink, .arg = b};
    snprintf(sid, sizeof sid, "agent-%zu", i);
    struct cm_agent *a = NULL;
    if (cm_master_agent_call(b->m, call, &s, sid, &a, why, sizeof why) != 200 || !a)
        die(why);
    protobuf_c_message_free_unpacked(&call->base, NULL);
    b->agent_sid[i] = strdup(sid);
    size_t *idx = malloc(sizeof *idx);
    *idx = i;
    cm_strmap_put(&b->agent_index, a->id, idx);
}

int main(int argc, char **argv)
{
    size_t nagents = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000;
    int rounds = argc > 2 ? atoi(argv[2]) : 20;
    if (nagents == 0 || rounds <= 0 || nagents * (size_t)rounds > MAX_Q) {
        fprintf(stderr, "usage: %s [agents] [rounds] (agents x rounds <= %d)\n", argv[0], MAX_Q);
        return 2;
    }
    cm_log_set_level(CM_LOG_WARNING);
    struct cm_master_flags flags;
    char why[512];
    char *fargv[] = {"mesos-master", "--registry=in_memory", "--work_dir=/tmp", NULL};
    cm_master_flags_init(&flags);
    if (cm_master_flags_parse(&flags, 3, fargv, why, sizeof why))
        die(why);
    struct cm_fake_clock clock;
    cm_fake_clock_init(&clock, 1.7e9);
    struct bench b = {0};
    b.m = cm_master_new_clock(NULL, &flags, &clock.clock);
    if (!b.m)
        die("master");
    b.offers = calloc(MAX_Q, sizeof *b.offers);
    b.updates = calloc(MAX_Q, sizeof *b.updates);
    b.launches = calloc(MAX_Q, sizeof *b.launches);
    b.agent_sid = calloc(nagents, sizeof *b.agent_sid);
    cm_strmap_init(&b.agent_index);
    for (size_t i = 0; i < nagents; i++)
        register_agent(&b, i);
    /* The framework. */
    const char *sub = "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":{\"user\":\"b\","
                      "\"name\":\"cpu\",\"failover_timeout\":3600}}}";
    struct cm_sched_request req = {.method = "POST",
                                   .content_type = "application/json",
                                   .accept = "application/x-protobuf",
                                   .body = (const uint8_t *)sub,
                                   .body_len = strlen(sub)};
    struct cm_sched_result res;
    cm_master_scheduler_request(b.m, &req, &res);
    if (res.code != 200 || !res.call)
        die(res.text);
    struct cm_sink s = {.media = CM_MEDIA_PROTOBUF, .cb = fw_sink, .arg = &b};
    struct cm_framework *fw = cm_master_subscribe(b.m, res.call, &s, "fw-stream");
    protobuf_c_message_free_unpacked(&res.call->base, NULL);
    if (!fw)
        die("subscribe");
    snprintf(b.fw_id, sizeof b.fw_id, "%s", fw->id);
    snprintf(b.fw_sid, sizeof b.fw_sid, "%s", fw->stream_id);

    uint64_t n = 0, tasks = 0;
    b.master_cpu = 0;
    double wall0 = cm_monotonic_secs();
    for (int r = 0; r < rounds; r++) {
        b.noffers = b.nlaunches = b.nupdates = 0;
        double t0 = cpu_now();
        cm_master_allocate(b.m);
        b.master_cpu += cpu_now() - t0;
        b.timed++;
        size_t noffers = b.noffers;
        for (size_t i = 0; i < noffers; i++)
            accept_offer(&b, &b.offers[i], n++);
        size_t nl = b.nlaunches;
        tasks += nl;
        for (int state = MESOS__V1__TASK_STATE__TASK_RUNNING;;
             state = MESOS__V1__TASK_STATE__TASK_FINISHED) {
            b.nupdates = 0;
            for (size_t i = 0; i < nl; i++)
                status_update(&b, &b.launches[i], state, n++);
            size_t nu = b.nupdates;
            for (size_t i = 0; i < nu; i++)
                acknowledge(&b, &b.updates[i]);
            if (state == MESOS__V1__TASK_STATE__TASK_FINISHED)
                break;
        }
    }
    double wall = cm_monotonic_secs() - wall0;
    /* What a timed section's two clock reads cost, to take it out of the figure. */
    double c0 = cpu_now();
    for (int i = 0; i < 100000; i++)
        (void)cpu_now();
    double per_read = (cpu_now() - c0) / 100000;
    double overhead = per_read * 2 * (double)b.timed;
    printf("bench-master_cpu: %zu agents, %d rounds: %llu tasks launched and finished\n", nagents,
           rounds, (unsigned long long)tasks);
    double cpu = b.master_cpu - overhead;
    printf("master CPU per task (offer, ACCEPT, RUN_TASK, 2 updates, 2 acks, re-offer): %.1f us "
           "(target 100 us; %.1f us of clock reads taken out); %.0f tasks/s of master CPU; "
           "driver+master wall %.2f s; %.1f MB of events packed\n",
           tasks ? cpu / (double)tasks * 1e6 : 0, tasks ? overhead / (double)tasks * 1e6 : 0,
           cpu > 0 ? (double)tasks / cpu : 0, wall, (double)b.packed / 1e6);
    return tasks ? 0 : 1;
}
