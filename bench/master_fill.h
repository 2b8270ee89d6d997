/*
 * master_fill.h: fills an in-process master with agents, frameworks and tasks for the state
 * benchmarks (bench-state_stall, bench-operator_stall), through the same calls the agent link
 * and the scheduler API make, so that the state they serve has the shapes real clusters give.
 *
 * Header-only: every .c under bench/ is a benchmark program of its own. The including file
 * has the master's headers (master.h, scheduler_calls.h, agent_link.h) included first.
 * Failures print a line and exit: a benchmark with half a cluster measures nothing.
 */
#ifndef CM_BENCH_MASTER_FILL_H
#define CM_BENCH_MASTER_FILL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fill_sink_noop(void *arg, const ProtobufCMessage *msg)
{
    (void)arg, (void)msg;
}

static void fill_die(const char *what)
{
    fprintf(stderr, "bench: filling the master: %s\n", what);
    exit(1);
}

/* Registers agent i (admitted when the registrar's hold is released). */
static void fill_add_agent(struct cm_master *m, int i)
{
    char json[1024], why[512];
    snprintf(
        json, sizeof json,
        "{\"type\":\"REGISTER\",\"register\":{\"agent_info\":{\"hostname\":\"host-%d\","
        "\"port\":5051,\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{"
        "\"value\":16}},{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":65536}},"
        "{\"name\":\"disk\",\"type\":\"SCALAR\",\"scalar\":{\"value\":100000}},{\"name\":"
        "\"ports\",\"type\":\"RANGES\",\"ranges\":{\"range\":[{\"begin\":31000,\"end\":"
        "32000}]}}],\"attributes\":[{\"name\":\"rack\",\"type\":\"TEXT\",\"text\":{"
        "\"value\":\"r%d\"}}]},\"pid\":\"slave(1)@10.%d.%d.%d:5051\",\"address_ip\":\"10.%d.%d."
        "%d\"}}",
        i, i % 100, (i >> 16) & 255, (i >> 8) & 255, i & 255, (i >> 16) & 255, (i >> 8) & 255,
        i & 255);
    Cmesos__Internal__AgentCall *call = NULL;
    if (cm_master_agent_decode(CM_MEDIA_JSON, (const uint8_t *)json, strlen(json), &call, why,
                               sizeof why))
        fill_die(why);
    struct cm_sink s = {.media = CM_MEDIA_PROTOBUF, .cb = fill_sink_noop};
    struct cm_agent *a = NULL;
    char sid[64];
    snprintf(sid, sizeof sid, "agent-stream-%d", i);
    int code = cm_master_agent_call(m, call, &s, sid, &a, why, sizeof why);
    protobuf_c_message_free_unpacked(&call->base, NULL);
    if (code != 200)
        fill_die(why[0] ? why : "agent not admitted");
}

static struct cm_framework *fill_add_framework(struct cm_master *m, int i)
{
    char json[512], sid[64];
    snprintf(json, sizeof json,
             "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":{\"user\":\"bench\","
             "\"name\":\"fw-%d\",\"roles\":[\"role-%d\"],\"capabilities\":[{\"type\":"
             "\"MULTI_ROLE\"}],\"failover_timeout\":3600}}}",
             i, i);
    struct cm_sched_request req = {.method = "POST",
                                   .content_type = "application/json",
                                   .body = (const uint8_t *)json,
                                   .body_len = strlen(json)};
    struct cm_sched_result res;
    cm_master_scheduler_request(m, &req, &res);
    if (res.code != 200 || !res.call)
        fill_die(res.text);
    struct cm_sink s = {.media = CM_MEDIA_PROTOBUF, .cb = fill_sink_noop};
    snprintf(sid, sizeof sid, "fw-stream-%d", i);
    struct cm_framework *fw = cm_master_subscribe(m, res.call, &s, sid);
    protobuf_c_message_free_unpacked(&res.call->base, NULL);
    if (!fw)
        fill_die("subscribe failed");
    return fw;
}

static void fill_add_task(struct cm_master *m, struct cm_framework *fw, struct cm_agent *a, int i)
{
    char tid[64], why[256];
    snprintf(tid, sizeof tid, "task-%d", i);
    Mesos__V1__TaskInfo info = MESOS__V1__TASK_INFO__INIT;
    Mesos__V1__TaskID id = MESOS__V1__TASK_ID__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    Mesos__V1__CommandInfo cmd = MESOS__V1__COMMAND_INFO__INIT;
    id.value = tid;
    aid.value = a->id;
    cmd.value = "sleep 1000";
    info.name = tid;
    info.task_id = &id;
    info.agent_id = &aid;
    info.command = &cmd;
    struct cm_resources r;
    cm_resources_init(&r);
    if (cm_resources_parse(&r, "cpus:0.1;mem:32", NULL, why, sizeof why))
        fill_die(why);
    struct cm_task *t = cm_master_add_task(m, fw, a, &info, &r, fw->roles[0]);
    cm_resources_cleanup(&r);
    /* /master/tasks sorts by the first status's time: every 50th task has none, and times
     * come in groups of four (ties), so the streamed selection meets both cases. */
    if (i % 50 == 49)
        return;
    Mesos__V1__TaskStatus st = MESOS__V1__TASK_STATUS__INIT;
    st.task_id = &id;
    st.agent_id = &aid;
    st.state = MESOS__V1__TASK_STATE__TASK_RUNNING;
    st.has_source = 1;
    st.source = MESOS__V1__TASK_STATUS__SOURCE__SOURCE_EXECUTOR;
    st.has_timestamp = 1;
    st.timestamp = 1.7e9 + i / 4;
    cm_master_update_task(m, t, &st, -1);
}

/* Fills m with nagents agents (in bursts of 500, one registry store each, as agents arrive at a
 * real master), nfw frameworks and ntasks tasks spread round-robin over both, then lets the
 * loop run for a second so what the fill left pending (the first allocation cycle) is not
 * counted against the first measurement. Prints a line naming the benchmark and the time the
 * fill took. */
static void fill_cluster(struct cm_master *m, struct event_base *base, const char *bench,
                         int nagents, int nfw, int ntasks)
{
    double t0 = cm_monotonic_secs();
    struct cm_agent **agents = calloc((size_t)nagents, sizeof *agents);
    struct cm_framework **fws = calloc((size_t)nfw, sizeof *fws);
    if (!agents || !fws)
        fill_die("out of memory");
    for (int i = 0; i < nagents; i += 500) {
        cm_registrar_hold(m->registrar);
        for (int j = i; j < nagents && j < i + 500; j++)
            fill_add_agent(m, j);
        cm_registrar_release(m->registrar);
    }
    size_t na = 0;
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &m->agents); cm_strmap_iter_next(&it) && na < (size_t)nagents;)
        agents[na++] = it.cur->value;
    if (na != (size_t)nagents)
        fill_die("not every agent was admitted");
    for (int i = 0; i < nfw; i++)
        fws[i] = fill_add_framework(m, i);
    for (int i = 0; i < ntasks; i++)
        fill_add_task(m, fws[i % nfw], agents[i % nagents], i);
    free(agents);
    free(fws);
    printf("%s: %d agents, %d frameworks, %d tasks (filled in %.1f s)\n", bench, nagents, nfw,
           ntasks, cm_monotonic_secs() - t0);
    fflush(stdout);
    struct timeval settle = {1, 0};
    event_base_loopexit(base, &settle);
    event_base_dispatch(base);
}

#endif
