/* test_master_registry.c: the master's registry and the "nothing lost" rules that depend on it —
 * file registry round trip and corruption, registry GC, agent ping timeouts (UNREACHABLE for
 * partition-aware frameworks, LOST for the others) and the agent's return, recovery after a
 * master restart (no reconciliation answers while agents are expected back, unreachable after
 * --agent_reregister_timeout), framework failover timeout, bounded completed lists and
 * non-checkpointing tasks on a disconnected agent. Fake clock, test sinks, no sockets. */
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "agent_link.h"
#include "master.h"
#include "scheduler_calls.h"
#include "pbjson.h"
#include "registrar.h"
#include "test.h"

/* ---- capture sinks ---- */

struct capture {
    ProtobufCMessage *msgs[512];
    size_t n;
    int ended;
};

static void cap_cb(void *arg, const ProtobufCMessage *msg)
{
    struct capture *c = arg;
    if (c->n < 512)
        c->msgs[c->n++] = cm_pb_dup(msg);
}

static void cap_end(void *arg)
{
    ((struct capture *)arg)->ended++;
}

static void cap_clear(struct capture *c)
{
    for (size_t i = 0; i < c->n; i++)
        protobuf_c_message_free_unpacked(c->msgs[i], NULL);
    c->n = 0;
}

static struct cm_sink cap_sink(struct capture *c)
{
    struct cm_sink s = {.cb = cap_cb, .end_cb = cap_end, .arg = c};
    return s;
}

static Mesos__V1__Scheduler__Event *ev_at(struct capture *c, size_t i)
{
    return (Mesos__V1__Scheduler__Event *)c->msgs[i];
}

static size_t count_of(struct capture *c, int type)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n; i++)
        n += (int)ev_at(c, i)->type == type;
    return n;
}

/* The last UPDATE for task_id, or NULL. */
static Mesos__V1__TaskStatus *update_for(struct capture *c, const char *task_id)
{
    for (size_t i = c->n; i-- > 0;) {
        Mesos__V1__Scheduler__Event *e = ev_at(c, i);
        if (e->type == MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE &&
            strcmp(e->update->status->task_id->value, task_id) == 0)
            return e->update->status;
    }
    return NULL;
}

static size_t agent_events_of(struct capture *c, int type)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n; i++)
        n += (int)((Cmesos__Internal__AgentEvent *)c->msgs[i])->type == type;
    return n;
}

/* ---- fixture ---- */

struct fixture {
    struct cm_master_flags flags;
    struct cm_fake_clock clock;
    struct cm_master *m;
    struct capture agent_ev[3];
};

static struct fixture *fixture_new(const char *work_dir)
{
    struct fixture *f = calloc(1, sizeof *f);
    cm_master_flags_init(&f->flags);
    f->flags.agent_ping_timeout = 1;
    f->flags.max_agent_ping_timeouts = 2;
    f->flags.agent_reregister_timeout = 5;
    if (work_dir) {
        f->flags.work_dir = (char *)work_dir;
        f->flags.registry_storage = "file";
    }
    cm_fake_clock_init(&f->clock, 1000.0);
    f->m = cm_master_new_clock(NULL, &f->flags, &f->clock.clock);
    return f;
}

static void fixture_free(struct fixture *f)
{
    cm_master_free(f->m);
    for (int i = 0; i < 3; i++)
        cap_clear(&f->agent_ev[i]);
    free(f);
}

static int json_call(const char *json, Cmesos__Internal__AgentCall **out)
{
    char why[256];
    int rc = cm_pbjson_from_text(&cmesos__internal__agent_call__descriptor, json, strlen(json),
                                 (ProtobufCMessage **)out, why, sizeof why);
    if (rc)
        fprintf(stderr, "agent call JSON: %s\n%s\n", why, json);
    return rc;
}

/* Registers agent number i (hostname a<i>); id NULL for a new agent. tasks_json is a JSON array
 * body of Task objects reported on re-registration, frameworks_json of FrameworkInfos. */
static struct cm_agent *register_agent(struct fixture *f, int i, const char *id,
                                       const char *tasks_json, const char *frameworks_json)
{
    char json[4096], idpart[300] = "", infoid[300] = "";
    if (id) {
        snprintf(idpart, sizeof idpart, "\"agent_id\":{\"value\":\"%s\"},", id);
        snprintf(infoid, sizeof infoid, "\"id\":{\"value\":\"%s\"},", id);
    }
    snprintf(json, sizeof json,
             "{\"type\":\"REGISTER\",%s\"register\":{\"agent_info\":{%s\"hostname\":\"a%d\","
             "\"port\":5051,\"resources\":["
             "{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":4}},"
             "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":4096}}]},"
             "\"tasks\":[%s],\"frameworks\":[%s],"
             "\"pid\":\"slave(1)@10.0.0.2:5051\",\"address_ip\":\"10.0.0.2\"}}",
             idpart, infoid, i, tasks_json ? tasks_json : "",
             frameworks_json ? frameworks_json : "");
    Cmesos__Internal__AgentCall *call = NULL;
    if (json_call(json, &call))
        return NULL;
    char why[256], sid[32];
    snprintf(sid, sizeof sid, "agent-stream-%d", i);
    cap_clear(&f->agent_ev[i]);
    struct cm_sink s = cap_sink(&f->agent_ev[i]);
    s.media = CM_MEDIA_PROTOBUF;
    struct cm_agent *a = NULL;
    int code = cm_master_agent_call(f->m, call, &s, sid, &a, why, sizeof why);
    protobuf_c_message_free_unpacked(&call->base, NULL);
    if (code != 200)
        fprintf(stderr, "register failed %d: %s\n", code, why);
    return code == 200 ? a : NULL;
}

static struct cm_framework *subscribe(struct fixture *f, struct capture *cap, const char *id,
                                      const char *extra)
{
    char json[1024], idpart[300] = "", infoid[300] = "";
    if (id) {
        snprintf(idpart, sizeof idpart, "\"framework_id\":{\"value\":\"%s\"},", id);
        snprintf(infoid, sizeof infoid, "\"id\":{\"value\":\"%s\"},", id);
    }
    snprintf(json, sizeof json,
             "{\"type\":\"SUBSCRIBE\",%s\"subscribe\":{\"framework_info\":{%s\"user\":\"u\","
             "\"name\":\"fw\"%s}}}",
             idpart, infoid, extra ? extra : "");
    struct cm_sched_request req = {.method = "POST",
                                   .content_type = "application/json",
                                   .body = (const uint8_t *)json,
                                   .body_len = strlen(json)};
    struct cm_sched_result res;
    cm_master_scheduler_request(f->m, &req, &res);
    if (res.code != 200 || !res.call) {
        fprintf(stderr, "subscribe: %d %s\n", res.code, res.text);
        return NULL;
    }
    struct cm_sink s = cap_sink(cap);
    struct cm_framework *fw = cm_master_subscribe(f->m, res.call, &s, "fw-stream");
    protobuf_c_message_free_unpacked(&res.call->base, NULL);
    return fw;
}

static int fw_call(struct fixture *f, struct cm_framework *fw, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fw_call(struct fixture *f, struct cm_framework *fw, const char *fmt, ...)
{
    char body[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    struct cm_sched_request req = {.method = "POST",
                                   .content_type = "application/json",
                                   .stream_id = fw->stream_id,
                                   .body = (const uint8_t *)body,
                                   .body_len = strlen(body)};
    struct cm_sched_result res;
    cm_master_scheduler_request(f->m, &req, &res);
    if (res.code >= 400)
        fprintf(stderr, "call failed %d: %s\n", res.code, res.text);
    return res.code;
}

/* Launches task_id (1 cpu) on the framework's latest offer. */
static int launch(struct fixture *f, struct cm_framework *fw, struct capture *cap,
                  const char *task_id)
{
    cm_master_allocate(f->m);
    const char *oid = NULL, *aid = NULL;
    for (size_t i = cap->n; i-- > 0 && !oid;) {
        Mesos__V1__Scheduler__Event *e = ev_at(cap, i);
        if (e->type == MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS && e->offers->n_offers) {
            oid = e->offers->offers[0]->id->value;
            aid = e->offers->offers[0]->agent_id->value;
        }
    }
    if (!oid)
        return -1;
    return fw_call(f, fw,
                   "{\"type\":\"ACCEPT\",\"framework_id\":{\"value\":\"%s\"},\"accept\":{"
                   "\"offer_ids\":[{\"value\":\"%s\"}],\"operations\":[{\"type\":\"LAUNCH\","
                   "\"launch\":{\"task_infos\":[{\"name\":\"t\",\"task_id\":{\"value\":\"%s\"},"
                   "\"agent_id\":{\"value\":\"%s\"},\"command\":{\"value\":\"true\"},"
                   "\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":"
                   "1}}]}]}}],\"filters\":{\"refuse_seconds\":0}}}",
                   fw->id, oid, task_id, aid);
}

static void agent_update(struct fixture *f, struct cm_agent *a, int i, const char *fid,
                         const char *task_id, const char *state, const char *uuid_b64)
{
    char json[1024], why[256], sid[32];
    snprintf(json, sizeof json,
             "{\"type\":\"STATUS_UPDATE\",\"agent_id\":{\"value\":\"%s\"},\"status_update\":{"
             "\"framework_id\":{\"value\":\"%s\"},\"status\":{\"task_id\":{\"value\":\"%s\"},"
             "\"state\":\"%s\",\"source\":\"SOURCE_EXECUTOR\",\"uuid\":\"%s\"}}}",
             a->id, fid, task_id, state, uuid_b64);
    snprintf(sid, sizeof sid, "agent-stream-%d", i);
    Cmesos__Internal__AgentCall *call = NULL;
    if (json_call(json, &call))
        return;
    int code = cm_master_agent_call(f->m, call, NULL, sid, NULL, why, sizeof why);
    if (code != 202)
        fprintf(stderr, "status update: %d %s\n", code, why);
    protobuf_c_message_free_unpacked(&call->base, NULL);
}

static void reconcile(struct fixture *f, struct cm_framework *fw, const char *task_id,
                      const char *agent_id)
{
    char agent[300] = "";
    if (agent_id)
        snprintf(agent, sizeof agent, ",\"agent_id\":{\"value\":\"%s\"}", agent_id);
    fw_call(f, fw,
            "{\"type\":\"RECONCILE\",\"framework_id\":{\"value\":\"%s\"},\"reconcile\":{"
            "\"tasks\":[{\"task_id\":{\"value\":\"%s\"}%s}]}}",
            fw->id, task_id, agent);
}

static char *temp_dir(void)
{
    char tmpl[] = "/tmp/cm_test_registry_XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

static void rm_dir(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/registry", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/registry.tmp", dir);
    unlink(path);
    rmdir(dir);
}

#define PA_CAPS ",\"capabilities\":[{\"type\":\"PARTITION_AWARE\"}]"
#define RUNNING_TASK(fid, tid, aid)                                                                \
    "{\"name\":\"t\",\"task_id\":{\"value\":\"" tid "\"},\"framework_id\":{\"value\":\"" fid       \
    "\"},\"agent_id\":{\"value\":\"" aid "\"},\"state\":\"TASK_RUNNING\",\"resources\":[{"         \
    "\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1}}]}"

/* ---- tests ---- */

static void recovered_cb(void *arg, int err, const char *why)
{
    char *out = arg;
    snprintf(out, 600, "%d %s", err, why ? why : "");
}

static void done_cb(void *arg, int err)
{
    *(int *)arg = err;
}

static void test_registry_file_round_trip_and_corruption(void)
{
    char *dir = temp_dir();
    REQUIRE(dir != NULL);
    char why[600];
    struct cm_registry_storage *s = NULL;
    REQUIRE(cm_registry_storage_new("file", dir, &s, why, sizeof why) == 0);
    struct cm_registrar *r = cm_registrar_new(s);
    cm_registrar_recover(r, recovered_cb, why);
    CHECK_STR(why, "0 ");
    Mesos__V1__AgentInfo info = MESOS__V1__AGENT_INFO__INIT;
    Mesos__V1__AgentID id = MESOS__V1__AGENT_ID__INIT;
    info.hostname = "h1";
    info.id = &id;
    id.value = "A1";
    cm_registrar_admit(r, &info, NULL, NULL);
    id.value = "A2";
    info.hostname = "h2";
    cm_registrar_admit(r, &info, NULL, NULL);
    cm_registrar_mark_unreachable(r, "A2", 1234.5, NULL, NULL);
    struct cm_registrar_stats st;
    cm_registrar_stats(r, &st);
    CHECK_INT(st.version, 3);
    CHECK(st.size_bytes > 0);
    cm_registrar_free(r);

    /* A new registrar (restarted master) reads the same registry back. */
    REQUIRE(cm_registry_storage_new("file", dir, &s, why, sizeof why) == 0);
    r = cm_registrar_new(s);
    cm_registrar_recover(r, recovered_cb, why);
    CHECK_STR(why, "0 ");
    CHECK(cm_registrar_recovered(r));
    CHECK_INT(cm_registrar_count_admitted(r), 1);
    REQUIRE(cm_registrar_admitted(r, "A1") != NULL);
    CHECK_STR(cm_registrar_admitted(r, "A1")->hostname, "h1");
    double t = 0;
    CHECK(cm_registrar_unreachable(r, "A2", &t));
    CHECK(t > 1234.4 && t < 1234.6);
    cm_registrar_stats(r, &st);
    CHECK_INT(st.version, 3);
    cm_registrar_free(r);

    /* Corruption: one flipped payload byte, then a truncated file, then garbage. */
    char path[512];
    snprintf(path, sizeof path, "%s/registry", dir);
    FILE *fp = fopen(path, "r+b");
    REQUIRE(fp != NULL);
    fseek(fp, 30, SEEK_SET);
    int c = fgetc(fp);
    fseek(fp, 30, SEEK_SET);
    fputc(c ^ 0x55, fp);
    fclose(fp);
    uint8_t *data = NULL;
    size_t len = 0;
    CHECK(cm_registry_file_read(path, &data, &len, why, sizeof why) == CM_EPARSE);
    CHECK(strstr(why, path) != NULL);
    CHECK(strstr(why, "checksum") != NULL);
    REQUIRE(truncate(path, 40) == 0);
    CHECK(cm_registry_file_read(path, &data, &len, why, sizeof why) == CM_EPARSE);
    CHECK(strstr(why, "truncated") != NULL);
    REQUIRE(cm_registry_storage_new("file", dir, &s, why, sizeof why) == 0);
    r = cm_registrar_new(s);
    cm_registrar_recover(r, recovered_cb, why);
    CHECK(strncmp(why, "0 ", 2) != 0);
    CHECK(strstr(why, path) != NULL);
    CHECK(cm_registrar_failed(r));
    /* Operations after a failed recovery fail too (nothing is silently reset). */
    int err = 1;
    cm_registrar_admit(r, &info, done_cb, &err);
    CHECK(err < 0);
    cm_registrar_free(r);
    fp = fopen(path, "wb");
    REQUIRE(fp != NULL);
    fputs("not a registry at all, really not", fp);
    fclose(fp);
    CHECK(cm_registry_file_read(path, &data, &len, why, sizeof why) == CM_EPARSE);
    CHECK(strstr(why, "magic") != NULL);

    /* The master refuses to start on a corrupt registry. */
    struct fixture *f = fixture_new(dir);
    CHECK(f->m == NULL);
    fixture_free(f);
    rm_dir(dir);
    free(dir);
}

static void test_registry_gc(void)
{
    char why[256];
    struct cm_registry_storage *s = NULL;
    REQUIRE(cm_registry_storage_new("in_memory", NULL, &s, why, sizeof why) == 0);
    struct cm_registrar *r = cm_registrar_new(s);
    cm_registrar_recover(r, recovered_cb, why);
    for (int i = 0; i < 6; i++) {
        char id[16];
        snprintf(id, sizeof id, "A%d", i);
        cm_registrar_mark_unreachable(r, id, 100.0 + i, NULL, NULL);
    }
    CHECK_INT(cm_registrar_count_unreachable(r), 6);
    size_t pruned = 0;
    /* Age: entries older than 110 - 7 = 103 go (A0..A2). */
    cm_registrar_gc(r, 110.0, 7.0, 100, &pruned, NULL, NULL);
    CHECK_INT(pruned, 3);
    CHECK(!cm_registrar_unreachable(r, "A2", NULL));
    CHECK(cm_registrar_unreachable(r, "A3", NULL));
    /* Count: only the newest one stays. */
    cm_registrar_gc(r, 110.0, 1000.0, 1, &pruned, NULL, NULL);
    CHECK_INT(pruned, 2);
    CHECK_INT(cm_registrar_count_unreachable(r), 1);
    CHECK(cm_registrar_unreachable(r, "A5", NULL));
    CHECK_INT(cm_registrar_unreachable_list(r)->next == NULL, 1);
    cm_registrar_free(r);

    /* Through the master: the GC timer bounds the list by --registry_max_agent_count. */
    struct fixture *f = fixture_new(NULL);
    f->flags.registry_max_agent_count = 0;
    f->flags.registry_gc_interval = 10;
    REQUIRE(f->m != NULL);
    struct cm_agent *a = register_agent(f, 0, NULL, NULL, NULL);
    REQUIRE(a != NULL);
    cm_master_mark_agent_unreachable(f->m, a, "test");
    CHECK_INT(cm_registrar_count_unreachable(f->m->registrar), 1);
    cm_fake_clock_advance(&f->clock, 15 * 60 + 1);
    cm_master_check_timeouts(f->m);
    CHECK_INT(cm_registrar_count_unreachable(f->m->registrar), 0);
    fixture_free(f);
}

static void test_ping_timeout_partition_and_return(void)
{
    struct fixture *f = fixture_new(NULL);
    REQUIRE(f->m != NULL);
    struct cm_agent *a = register_agent(f, 0, NULL, NULL, NULL);
    REQUIRE(a != NULL);
    char aid[256];
    snprintf(aid, sizeof aid, "%s", a->id);
    struct capture pa = {0}, np = {0};
    struct cm_framework *fpa = subscribe(f, &pa, NULL, PA_CAPS ",\"checkpoint\":true");
    REQUIRE(fpa != NULL);
    CHECK_INT(launch(f, fpa, &pa, "tp"), 202);
    struct cm_framework *fnp = subscribe(f, &np, NULL, ",\"checkpoint\":true");
    REQUIRE(fnp != NULL);
    CHECK_INT(launch(f, fnp, &np, "tn"), 202);
    char fpa_id[128], fnp_id[128];
    snprintf(fpa_id, sizeof fpa_id, "%s", fpa->id);
    snprintf(fnp_id, sizeof fnp_id, "%s", fnp->id);
    agent_update(f, a, 0, fpa_id, "tp", "TASK_RUNNING", "AAECAwQFBgcICQoLDA0ODw==");
    agent_update(f, a, 0, fnp_id, "tn", "TASK_RUNNING", "AQECAwQFBgcICQoLDA0ODw==");

    /* One missed ping is tolerated; two (2 x 1s) make the agent unreachable. */
    cm_fake_clock_advance(&f->clock, 1);
    cm_master_ping_agents(f->m);
    CHECK(cm_master_agent(f->m, aid) != NULL);
    CHECK(agent_events_of(&f->agent_ev[0], CMESOS__INTERNAL__AGENT_EVENT__TYPE__PING) >= 1);
    cm_fake_clock_advance(&f->clock, 1);
    cm_master_ping_agents(f->m);
    CHECK(cm_master_agent(f->m, aid) == NULL);
    CHECK(f->agent_ev[0].ended >= 1);
    double when = 0;
    CHECK(cm_registrar_unreachable(f->m->registrar, aid, &when));
    CHECK_INT(f->m->metrics.slave_unreachable_scheduled, 1);
    CHECK_INT(f->m->metrics.slave_unreachable_completed, 1);
    CHECK_INT(f->m->metrics.slave_removals_unhealthy, 1);

    Mesos__V1__TaskStatus *st = update_for(&pa, "tp");
    REQUIRE(st != NULL);
    CHECK_INT(st->state, MESOS__V1__TASK_STATE__TASK_UNREACHABLE);
    CHECK_INT(st->reason, MESOS__V1__TASK_STATUS__REASON__REASON_AGENT_REMOVED);
    CHECK_INT(st->source, MESOS__V1__TASK_STATUS__SOURCE__SOURCE_MASTER);
    CHECK(!st->has_uuid);
    REQUIRE(st->unreachable_time != NULL);
    CHECK(st->unreachable_time->nanoseconds == (int64_t)(when * 1e9));
    st = update_for(&np, "tn");
    REQUIRE(st != NULL);
    CHECK_INT(st->state, MESOS__V1__TASK_STATE__TASK_LOST);
    CHECK(!st->has_uuid);
    CHECK_INT(count_of(&pa, MESOS__V1__SCHEDULER__EVENT__TYPE__FAILURE), 1);
    CHECK_INT(count_of(&np, MESOS__V1__SCHEDULER__EVENT__TYPE__FAILURE), 1);
    CHECK_INT(cm_strmap_count(&fpa->tasks), 0);
    CHECK_INT(cm_strmap_count(&fpa->unreachable_tasks), 1);

    /* Reconciliation while unreachable. */
    cap_clear(&pa);
    cap_clear(&np);
    reconcile(f, fpa, "tp", aid);
    reconcile(f, fnp, "tn", NULL);
    reconcile(f, fpa, "other", aid);
    st = update_for(&pa, "tp");
    REQUIRE(st != NULL);
    CHECK_INT(st->state, MESOS__V1__TASK_STATE__TASK_UNREACHABLE);
    CHECK(st->unreachable_time != NULL);
    CHECK_INT(st->reason, MESOS__V1__TASK_STATUS__REASON__REASON_RECONCILIATION);
    st = update_for(&pa, "other");
    REQUIRE(st != NULL);
    CHECK_INT(st->state, MESOS__V1__TASK_STATE__TASK_UNREACHABLE);
    st = update_for(&np, "tn");
    REQUIRE(st != NULL);
    CHECK_INT(st->state, MESOS__V1__TASK_STATE__TASK_LOST);

    /* The agent comes back with both tasks still running. */
    cap_clear(&pa);
    cap_clear(&np);
    char tasks[2048];
    snprintf(tasks, sizeof tasks,
             "{\"name\":\"t\",\"task_id\":{\"value\":\"tp\"},\"framework_id\":{\"value\":\"%s\"},"
             "\"agent_id\":{\"value\":\"%s\"},\"state\":\"TASK_RUNNING\",\"resources\":[{"
             "\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1}}]},"
             "{\"name\":\"t\",\"task_id\":{\"value\":\"tn\"},\"framework_id\":{\"value\":\"%s\"},"
             "\"agent_id\":{\"value\":\"%s\"},\"state\":\"TASK_RUNNING\",\"resources\":[{"
             "\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1}}]}",
             fpa_id, aid, fnp_id, aid);
    a = register_agent(f, 0, aid, tasks, NULL);
    REQUIRE(a != NULL);
    CHECK(!cm_registrar_unreachable(f->m->registrar, aid, NULL));
    CHECK(cm_registrar_admitted(f->m->registrar, aid) != NULL);
    st = update_for(&pa, "tp");
    REQUIRE(st != NULL);
    CHECK_INT(st->state, MESOS__V1__TASK_STATE__TASK_RUNNING);
    CHECK_INT(st->reason, MESOS__V1__TASK_STATUS__REASON__REASON_AGENT_REREGISTERED);
    CHECK(!st->has_uuid);
    CHECK(update_for(&np, "tn") == NULL); /* not partition-aware: no such update */
    CHECK_INT(cm_strmap_count(&fpa->unreachable_tasks), 0);
    CHECK_INT(cm_strmap_count(&fpa->tasks), 1);
    reconcile(f, fnp, "tn", aid);
    st = update_for(&np, "tn");
    REQUIRE(st != NULL);
    CHECK_INT(st->state, MESOS__V1__TASK_STATE__TASK_RUNNING);
    cap_clear(&pa);
    cap_clear(&np);
    fixture_free(f);
}

static void test_disconnected_agent(void)
{
    struct fixture *f = fixture_new(NULL);
    REQUIRE(f->m != NULL);
    struct cm_agent *a = register_agent(f, 0, NULL, NULL, NULL);
    REQUIRE(a != NULL);
    char aid[256];
    snprintf(aid, sizeof aid, "%s", a->id);
    struct capture cp = {0}, nc = {0};
    struct cm_framework *fcp = subscribe(f, &cp, NULL, ",\"checkpoint\":true");
    REQUIRE(fcp != NULL);
    CHECK_INT(launch(f, fcp, &cp, "kept"), 202);
    struct cm_framework *fnc = subscribe(f, &nc, NULL, NULL);
    REQUIRE(fnc != NULL);
    CHECK_INT(launch(f, fnc, &nc, "gone"), 202);
    char fnc_id[128];
    snprintf(fnc_id, sizeof fnc_id, "%s", fnc->id);
    /* The agent confirms it has "kept" (otherwise its launch would be sent again below). */
    char ack[512];
    snprintf(ack, sizeof ack,
             "{\"type\":\"TASK_LAUNCH_ACK\",\"agent_id\":{\"value\":\"%s\"},\"task_launch_acks\":[{"
             "\"framework_id\":{\"value\":\"%s\"},\"task_id\":{\"value\":\"kept\"}}]}",
             aid, fcp->id);
    Cmesos__Internal__AgentCall *ackcall = NULL;
    REQUIRE(json_call(ack, &ackcall) == 0);
    char why[256];
    CHECK_INT(cm_master_agent_call(f->m, ackcall, NULL, "agent-stream-0", NULL, why, sizeof why),
              202);
    protobuf_c_message_free_unpacked(&ackcall->base, NULL);

    /* The stream closes: the non-checkpointing task is lost at once. */
    cm_master_agent_disconnected(f->m, a);
    Mesos__V1__TaskStatus *st = update_for(&nc, "gone");
    REQUIRE(st != NULL);
    CHECK_INT(st->state, MESOS__V1__TASK_STATE__TASK_LOST);
    CHECK_INT(st->reason, MESOS__V1__TASK_STATUS__REASON__REASON_AGENT_DISCONNECTED);
    CHECK(update_for(&cp, "kept") == NULL);
    CHECK(cm_strmap_get(&fcp->tasks, "kept") != NULL);

    /* Back within the budget, still running the lost task: the master kills it. */
    cm_fake_clock_advance(&f->clock, 1);
    cm_master_ping_agents(f->m);
    char tasks[1024];
    snprintf(tasks, sizeof tasks,
             "{\"name\":\"t\",\"task_id\":{\"value\":\"gone\"},\"framework_id\":{\"value\":"
             "\"%s\"},\"agent_id\":{\"value\":\"%s\"},\"state\":\"TASK_RUNNING\",\"resources\":[{"
             "\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1}}]}",
             fnc_id, aid);
    a = register_agent(f, 0, aid, tasks, NULL);
    REQUIRE(a != NULL);
    CHECK_INT(agent_events_of(&f->agent_ev[0], CMESOS__INTERNAL__AGENT_EVENT__TYPE__KILL_TASK), 1);
    CHECK(cm_strmap_get(&fnc->tasks, "gone") == NULL);
    /* "kept" was acknowledged and is not reported: the master tells the framework it is gone. */
    st = update_for(&cp, "kept");
    REQUIRE(st != NULL);
    CHECK_INT(st->state, MESOS__V1__TASK_STATE__TASK_LOST);

    /* Closed and not back within the ping budget: unreachable. */
    cm_master_agent_disconnected(f->m, a);
    cm_fake_clock_advance(&f->clock, 1);
    cm_master_ping_agents(f->m);
    CHECK(cm_master_agent(f->m, aid) != NULL);
    cm_fake_clock_advance(&f->clock, 1.5);
    cm_master_ping_agents(f->m);
    CHECK(cm_master_agent(f->m, aid) == NULL);
    CHECK(cm_registrar_unreachable(f->m->registrar, aid, NULL));
    cap_clear(&cp);
    cap_clear(&nc);
    fixture_free(f);
}

static void test_master_restart_recovery(void)
{
    char *dir = temp_dir();
    REQUIRE(dir != NULL);
    struct fixture *f = fixture_new(dir);
    REQUIRE(f->m != NULL);
    struct cm_agent *a0 = register_agent(f, 0, NULL, NULL, NULL);
    struct cm_agent *a1 = register_agent(f, 1, NULL, NULL, NULL);
    REQUIRE(a0 && a1);
    char id0[256], id1[256];
    snprintf(id0, sizeof id0, "%s", a0->id);
    snprintf(id1, sizeof id1, "%s", a1->id);
    fixture_free(f);

    /* The restarted master knows both agents from the registry and waits for them. */
    f = fixture_new(dir);
    REQUIRE(f->m != NULL);
    CHECK(cm_master_agent_recovering(f->m, id0));
    CHECK(cm_master_agent_recovering(f->m, id1));
    struct capture cap = {0};
    struct cm_framework *fw = subscribe(f, &cap, "FW-1", PA_CAPS ",\"failover_timeout\":60");
    REQUIRE(fw != NULL);
    /* No answer while the agents are expected back. */
    cap_clear(&cap);
    reconcile(f, fw, "t0", id0);
    reconcile(f, fw, "t9", NULL);
    CHECK_INT(count_of(&cap, MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE), 0);

    /* Agent 0 re-registers with its running task: the framework finds it. */
    struct cm_agent *a = register_agent(f, 0, id0, RUNNING_TASK("FW-1", "t0", "X"), NULL);
    REQUIRE(a != NULL);
    CHECK(!cm_master_agent_recovering(f->m, id0));
    reconcile(f, fw, "t0", id0);
    Mesos__V1__TaskStatus *st = update_for(&cap, "t0");
    REQUIRE(st != NULL);
    CHECK_INT(st->state, MESOS__V1__TASK_STATE__TASK_RUNNING);
    CHECK(!st->has_uuid);
    /* Agent 1 still counts as recovering: tasks on it get no answer yet. */
    reconcile(f, fw, "t1", id1);
    CHECK(update_for(&cap, "t1") == NULL);

    /* After --agent_reregister_timeout agent 1 is unreachable. */
    cm_fake_clock_advance(&f->clock, 6);
    cm_master_check_timeouts(f->m);
    CHECK(!cm_master_agent_recovering(f->m, id1));
    CHECK(cm_registrar_unreachable(f->m->registrar, id1, NULL));
    CHECK_INT(f->m->metrics.recovery_slave_removals, 1);
    reconcile(f, fw, "t1", id1);
    st = update_for(&cap, "t1");
    REQUIRE(st != NULL);
    CHECK_INT(st->state, MESOS__V1__TASK_STATE__TASK_UNREACHABLE);
    reconcile(f, fw, "t9", NULL);
    st = update_for(&cap, "t9");
    REQUIRE(st != NULL);
    CHECK_INT(st->state, MESOS__V1__TASK_STATE__TASK_UNKNOWN);
    cap_clear(&cap);
    fixture_free(f);

    /* A third start still sees agent 1 unreachable and agent 0 admitted. */
    f = fixture_new(dir);
    REQUIRE(f->m != NULL);
    CHECK(cm_master_agent_recovering(f->m, id0));
    CHECK(!cm_master_agent_recovering(f->m, id1));
    CHECK(cm_registrar_unreachable(f->m->registrar, id1, NULL));
    fixture_free(f);
    rm_dir(dir);
    free(dir);
}

static void test_failover_timeout_and_bounds(void)
{
    struct fixture *f = fixture_new(NULL);
    f->flags.max_completed_frameworks = 1;
    f->flags.max_completed_tasks_per_framework = 2;
    REQUIRE(f->m != NULL);
    struct cm_agent *a = register_agent(f, 0, NULL, NULL, NULL);
    REQUIRE(a != NULL);
    struct capture c1 = {0}, c2 = {0}, c3 = {0};
    struct cm_framework *fw = subscribe(f, &c1, NULL, ",\"failover_timeout\":30");
    REQUIRE(fw != NULL);
    char fid[128];
    snprintf(fid, sizeof fid, "%s", fw->id);
    CHECK_INT(launch(f, fw, &c1, "t1"), 202);
    CHECK_INT(launch(f, fw, &c1, "t2"), 202);
    CHECK_INT(launch(f, fw, &c1, "t3"), 202);
    CHECK_INT(cm_strmap_count(&fw->tasks), 3);

    /* Disconnected within the timeout: the tasks stay; a new scheduler takes them over. */
    cm_master_framework_disconnected(f->m, fw);
    cm_fake_clock_advance(&f->clock, 20);
    cm_master_check_timeouts(f->m);
    REQUIRE(cm_master_framework(f->m, fid) == fw);
    CHECK_INT(cm_strmap_count(&fw->tasks), 3);
    fw = subscribe(f, &c2, fid, ",\"failover_timeout\":30");
    REQUIRE(fw != NULL);
    fw_call(f, fw, "{\"type\":\"RECONCILE\",\"framework_id\":{\"value\":\"%s\"},\"reconcile\":{}}",
            fid);
    CHECK_INT(count_of(&c2, MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE), 3);

    /* Gone past the timeout: tasks killed, framework completed, never subscribes again. */
    size_t before =
        agent_events_of(&f->agent_ev[0], CMESOS__INTERNAL__AGENT_EVENT__TYPE__SHUTDOWN_FRAMEWORK);
    cm_master_framework_disconnected(f->m, fw);
    cm_fake_clock_advance(&f->clock, 31);
    cm_master_check_timeouts(f->m);
    CHECK(cm_master_framework(f->m, fid) == NULL);
    CHECK_INT(
        agent_events_of(&f->agent_ev[0], CMESOS__INTERNAL__AGENT_EVENT__TYPE__SHUTDOWN_FRAMEWORK),
        before + 1);
    struct cm_framework *done = cm_strmap_get(&f->m->completed, fid);
    REQUIRE(done != NULL);
    CHECK_INT(cm_ring_count(&done->completed_tasks), 2); /* --max_completed_tasks_per_framework */
    CHECK_INT(((struct cm_task *)cm_ring_at(&done->completed_tasks, 0))->state,
              MESOS__V1__TASK_STATE__TASK_KILLED);

    /* Another removed framework pushes it out of the bounded completed list... */
    struct cm_framework *other = subscribe(f, &c3, NULL, NULL);
    REQUIRE(other != NULL);
    cm_master_framework_disconnected(f->m, other);
    CHECK_INT(cm_ring_count(&f->m->completed_list), 1);
    CHECK(cm_strmap_get(&f->m->completed, fid) == NULL);
    /* ...but its id still may not subscribe again. */
    cap_clear(&c3);
    CHECK(subscribe(f, &c3, fid, NULL) == NULL);
    CHECK_INT(count_of(&c3, MESOS__V1__SCHEDULER__EVENT__TYPE__ERROR), 1);
    CHECK_STR(ev_at(&c3, 0)->error->message, "Framework has been removed");
    cap_clear(&c1);
    cap_clear(&c2);
    cap_clear(&c3);
    fixture_free(f);
}

/* 500 agents gone silent at once are marked unreachable with one registry store, not one each:
 * with the file storage each store rewrites the registry and fsyncs, and 500 of them kept the
 * loop (and SIGTERM) waiting for tens of seconds. */
static void test_mass_unreachable_one_store(void)
{
    char *dir = temp_dir();
    REQUIRE(dir != NULL);
    struct fixture *f = fixture_new(dir);
    REQUIRE(f->m != NULL);
    enum { N = 500 };
    struct capture bulk = {0};
    for (int i = 0; i < N; i++) {
        char json[1024];
        snprintf(json, sizeof json,
                 "{\"type\":\"REGISTER\",\"register\":{\"agent_info\":{\"hostname\":\"h%d\","
                 "\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":"
                 "1}}]}}}",
                 i);
        Cmesos__Internal__AgentCall *call = NULL;
        REQUIRE(json_call(json, &call) == 0);
        char why[256], sid[32];
        snprintf(sid, sizeof sid, "bulk-%d", i);
        struct cm_sink s = cap_sink(&bulk);
        struct cm_agent *a = NULL;
        CHECK_INT(cm_master_agent_call(f->m, call, &s, sid, &a, why, sizeof why), 200);
        protobuf_c_message_free_unpacked(&call->base, NULL);
        REQUIRE(a != NULL);
        cm_master_agent_disconnected(f->m, a);
    }
    struct cm_registrar_stats before, after;
    cm_registrar_stats(f->m->registrar, &before);
    cm_fake_clock_advance(&f->clock, 10);
    double t0 = cm_monotonic_secs();
    cm_master_ping_agents(f->m);
    double ms = (cm_monotonic_secs() - t0) * 1000.0;
    cm_registrar_stats(f->m->registrar, &after);
    CHECK_INT(cm_registrar_count_unreachable(f->m->registrar), N);
    CHECK_INT(cm_strmap_count(&f->m->agents), 0);
    CHECK_INT(after.version - before.version, 1);
    fprintf(stderr, "marking %d silent agents unreachable (file registry): %.1f ms\n", N, ms);
    fixture_free(f);
    cap_clear(&bulk);
    rm_dir(dir);
    free(dir);
}

static void count_done(void *arg, int err)
{
    if (err == 0)
        (*(int *)arg)++;
}

/* With the master's loop, the operations queued in one loop turn are stored together when
 * it ends: their callbacks wait for that one store. (No sockets: only a zero timer.) */
static void test_registry_one_store_per_turn(void)
{
    char why[600];
    struct event_base *base = event_base_new();
    REQUIRE(base != NULL);
    struct cm_registry_storage *s = NULL;
    REQUIRE(cm_registry_storage_new("in_memory", NULL, &s, why, sizeof why) == 0);
    struct cm_registrar *r = cm_registrar_new(s);
    cm_registrar_set_loop(r, base);
    cm_registrar_recover(r, recovered_cb, why);
    CHECK_STR(why, "0 ");
    Mesos__V1__AgentInfo info = MESOS__V1__AGENT_INFO__INIT;
    Mesos__V1__AgentID id = MESOS__V1__AGENT_ID__INIT;
    info.id = &id;
    info.hostname = "h";
    char ids[3][8] = {"A1", "A2", "A3"};
    int done = 0;
    for (int i = 0; i < 3; i++) {
        id.value = ids[i];
        cm_registrar_admit(r, &info, count_done, &done);
    }
    struct cm_registrar_stats st;
    cm_registrar_stats(r, &st);
    CHECK_INT(done, 0); /* not stored yet */
    CHECK_INT(st.version, 0);
    event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    cm_registrar_stats(r, &st);
    CHECK_INT(done, 3);
    CHECK_INT(st.version, 1); /* one store for the three */
    CHECK(cm_registrar_count_admitted(r) == 3);
    /* The next turn's operation gets its own store. */
    cm_registrar_mark_unreachable(r, "A2", 1.0, count_done, &done);
    event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    cm_registrar_stats(r, &st);
    CHECK_INT(done, 4);
    CHECK_INT(st.version, 2);
    /* Freed with an operation still queued: nothing runs afterwards. */
    cm_registrar_mark_unreachable(r, "A3", 2.0, count_done, &done);
    cm_registrar_free(r);
    event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    CHECK_INT(done, 4);
    event_base_free(base);
}

TEST_MAIN(TEST(test_registry_one_store_per_turn),
          TEST(test_registry_file_round_trip_and_corruption), TEST(test_registry_gc),
          TEST(test_ping_timeout_partition_and_return), TEST(test_disconnected_agent),
          TEST(test_master_restart_recovery), TEST(test_failover_timeout_and_bounds),
          TEST(test_mass_unreachable_one_store))
