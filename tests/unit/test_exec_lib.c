/* Unit tests of libcmexecutor without sockets: the environment, the update rules (fields filled,
 * kept until ACKNOWLEDGED, in order), unacknowledged tasks and updates in a re-SUBSCRIBE, the
 * serialized-bytes entry points, and calls from another thread on a library-owned loop. Calls
 * are captured by the send hook; events are injected with cm_exec_handle_event. */
#include <event2/event.h>
#include <pthread.h>
#include <unistd.h>

#include "clock.h"
#include "errors.h"
#include "exec_internal.h"
#include "test.h"

static char *good_env[] = {"MESOS_FRAMEWORK_ID=fw-0001",
                           "MESOS_EXECUTOR_ID=ex-1",
                           "MESOS_SLAVE_ID=a-S0",
                           "MESOS_AGENT_ENDPOINT=127.0.0.1:5051",
                           "MESOS_SANDBOX=/sb",
                           "MESOS_CHECKPOINT=1",
                           "MESOS_RECOVERY_TIMEOUT=30secs",
                           "MESOS_SUBSCRIPTION_BACKOFF_MAX=500ms",
                           "MESOS_EXECUTOR_AUTHENTICATION_TOKEN=tok.en",
                           "LIBPROCESS_SSL_ENABLED=true",
                           NULL};

#define MAXC 64

struct rig {
    struct cm_exec_env env;
    struct cm_exec *ex;
    struct event_base *base;
    struct cm_fake_clock clock;
    pthread_mutex_t mu;
    Mesos__V1__Executor__Call *calls[MAXC];
    size_t ncalls;
    int fail_sends; /* the next n sends fail */
    /* callbacks seen */
    int subscribed, launches, groups, kills, acks, shutdowns, errors;
    enum cm_exec_shutdown_reason shutdown_reason;
    char last_message[64];
    size_t last_message_len;
    size_t event_bytes;
    char last_error[128];
    pthread_t loop_thread;
    int off_thread_sends;
};

static int hook(void *arg, const Mesos__V1__Executor__Call *call)
{
    struct rig *r = arg;
    if (r->fail_sends > 0) {
        r->fail_sends--;
        return CM_EHTTP;
    }
    size_t len = mesos__v1__executor__call__get_packed_size(call);
    uint8_t *buf = malloc(len ? len : 1);
    mesos__v1__executor__call__pack(call, buf);
    Mesos__V1__Executor__Call *copy = mesos__v1__executor__call__unpack(NULL, len, buf);
    free(buf);
    pthread_mutex_lock(&r->mu);
    if (r->loop_thread && !pthread_equal(r->loop_thread, pthread_self()))
        r->off_thread_sends++;
    if (copy && r->ncalls < MAXC)
        r->calls[r->ncalls++] = copy;
    else if (copy)
        mesos__v1__executor__call__free_unpacked(copy, NULL);
    pthread_mutex_unlock(&r->mu);
    return 0;
}

static void cb_subscribed(struct cm_exec *ex, void *arg,
                          const Mesos__V1__Executor__Event__Subscribed *s)
{
    (void)ex;
    (void)s;
    ((struct rig *)arg)->subscribed++;
}
static void cb_launch(struct cm_exec *ex, void *arg, const Mesos__V1__TaskInfo *t)
{
    (void)ex;
    (void)t;
    ((struct rig *)arg)->launches++;
}
static void cb_group(struct cm_exec *ex, void *arg, const Mesos__V1__TaskGroupInfo *g)
{
    (void)ex;
    ((struct rig *)arg)->groups += (int)g->n_tasks;
}
static void cb_kill(struct cm_exec *ex, void *arg, const Mesos__V1__TaskID *id,
                    const Mesos__V1__KillPolicy *kp)
{
    (void)ex;
    (void)id;
    (void)kp;
    ((struct rig *)arg)->kills++;
}
static void cb_ack(struct cm_exec *ex, void *arg, const Mesos__V1__TaskID *id, const uint8_t *u,
                   size_t n)
{
    (void)ex;
    (void)id;
    (void)u;
    (void)n;
    ((struct rig *)arg)->acks++;
}
static void cb_message(struct cm_exec *ex, void *arg, const uint8_t *data, size_t len)
{
    (void)ex;
    struct rig *r = arg;
    r->last_message_len = len < sizeof r->last_message ? len : sizeof r->last_message;
    memcpy(r->last_message, data, r->last_message_len);
}
static void cb_shutdown(struct cm_exec *ex, void *arg, enum cm_exec_shutdown_reason why)
{
    (void)ex;
    struct rig *r = arg;
    r->shutdowns++;
    r->shutdown_reason = why;
}
static void cb_error(struct cm_exec *ex, void *arg, const char *msg)
{
    (void)ex;
    struct rig *r = arg;
    r->errors++;
    snprintf(r->last_error, sizeof r->last_error, "%s", msg);
}
static void cb_bytes(struct cm_exec *ex, void *arg, const uint8_t *ev, size_t len)
{
    (void)ex;
    (void)ev;
    ((struct rig *)arg)->event_bytes += len ? 1 : 0;
}

/* own: a library-owned loop (base NULL). */
static int rig_start(struct rig *r, bool own)
{
    char why[256];
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    if (cm_exec_env_from_env(&r->env, good_env, why, sizeof why) != 0)
        return -1;
    r->base = own ? NULL : event_base_new();
    cm_fake_clock_init(&r->clock, 5000.0);
    struct cm_exec_config c = {.env = &r->env,
                               .base = r->base,
                               .callbacks = {.subscribed = cb_subscribed,
                                             .launch = cb_launch,
                                             .launch_group = cb_group,
                                             .kill = cb_kill,
                                             .acknowledged = cb_ack,
                                             .message = cb_message,
                                             .shutdown = cb_shutdown,
                                             .error = cb_error,
                                             .event_bytes = cb_bytes},
                               .callback_arg = r};
    r->ex = cm_exec_new(&c, why, sizeof why);
    if (!r->ex)
        return -1;
    cm_exec_set_send_hook(r->ex, hook, r);
    cm_exec_set_clock(r->ex, &r->clock.clock);
    return 0;
}

static void rig_cleanup(struct rig *r)
{
    cm_exec_free(r->ex);
    for (size_t i = 0; i < r->ncalls; i++)
        mesos__v1__executor__call__free_unpacked(r->calls[i], NULL);
    cm_exec_env_cleanup(&r->env);
    if (r->base)
        event_base_free(r->base);
    pthread_mutex_destroy(&r->mu);
}

static void inject(struct rig *r, Mesos__V1__Executor__Event *ev)
{
    cm_exec_handle_event(r->ex, ev);
}

static void inject_subscribed(struct rig *r)
{
    Mesos__V1__Executor__Event ev = MESOS__V1__EXECUTOR__EVENT__INIT;
    Mesos__V1__Executor__Event__Subscribed s = MESOS__V1__EXECUTOR__EVENT__SUBSCRIBED__INIT;
    ev.type = MESOS__V1__EXECUTOR__EVENT__TYPE__SUBSCRIBED;
    ev.has_type = 1;
    ev.subscribed = &s;
    inject(r, &ev);
}

static void inject_ack(struct rig *r, const char *task, const uint8_t *uuid)
{
    Mesos__V1__Executor__Event ev = MESOS__V1__EXECUTOR__EVENT__INIT;
    Mesos__V1__Executor__Event__Acknowledged a = MESOS__V1__EXECUTOR__EVENT__ACKNOWLEDGED__INIT;
    Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
    tid.value = (char *)task;
    a.task_id = &tid;
    a.uuid.data = (uint8_t *)uuid;
    a.uuid.len = 16;
    ev.type = MESOS__V1__EXECUTOR__EVENT__TYPE__ACKNOWLEDGED;
    ev.has_type = 1;
    ev.acknowledged = &a;
    inject(r, &ev);
}

static void inject_launch(struct rig *r, const char *task)
{
    Mesos__V1__Executor__Event ev = MESOS__V1__EXECUTOR__EVENT__INIT;
    Mesos__V1__Executor__Event__Launch l = MESOS__V1__EXECUTOR__EVENT__LAUNCH__INIT;
    Mesos__V1__TaskInfo t = MESOS__V1__TASK_INFO__INIT;
    Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    tid.value = (char *)task;
    aid.value = "a-S0";
    t.name = "t";
    t.task_id = &tid;
    t.agent_id = &aid;
    l.task = &t;
    ev.type = MESOS__V1__EXECUTOR__EVENT__TYPE__LAUNCH;
    ev.has_type = 1;
    ev.launch = &l;
    inject(r, &ev);
}

static int update(struct rig *r, const char *task, Mesos__V1__TaskState state, uint8_t *uuid)
{
    Mesos__V1__TaskStatus st = MESOS__V1__TASK_STATUS__INIT;
    Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
    char why[256];
    tid.value = (char *)task;
    st.task_id = &tid;
    st.state = state;
    return cm_exec_update(r->ex, &st, uuid, why, sizeof why);
}

static void test_env(void)
{
    struct cm_exec_env env;
    char why[256];
    REQUIRE(cm_exec_env_from_env(&env, good_env, why, sizeof why) == 0);
    CHECK_STR(env.framework_id, "fw-0001");
    CHECK_STR(env.executor_id, "ex-1");
    CHECK_STR(env.agent_id, "a-S0");
    CHECK_STR(env.agent_endpoint, "127.0.0.1:5051");
    CHECK_STR(env.sandbox, "/sb");
    CHECK(env.checkpoint);
    CHECK(env.recovery_timeout == 30.0);
    CHECK(env.backoff_max == 0.5);
    CHECK(env.shutdown_grace == 5.0);
    CHECK_STR(env.authentication_token, "tok.en");
    CHECK(env.https);
    cm_exec_env_cleanup(&env);
    CHECK(env.framework_id == NULL);

    char *bad[] = {"MESOS_FRAMEWORK_ID=f", "MESOS_EXECUTOR_ID=e", "MESOS_SLAVE_ID=a",
                   "MESOS_AGENT_ENDPOINT=h/x:1", NULL};
    CHECK_INT(cm_exec_env_from_env(&env, bad, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "MESOS_AGENT_ENDPOINT") != NULL);
    char *nodur[] = {"MESOS_FRAMEWORK_ID=f",     "MESOS_EXECUTOR_ID=e",         "MESOS_SLAVE_ID=a",
                     "MESOS_AGENT_ENDPOINT=h:1", "MESOS_RECOVERY_TIMEOUT=soon", NULL};
    CHECK_INT(cm_exec_env_from_env(&env, nodur, why, sizeof why), CM_EINVAL);
    CHECK_STR(why, "MESOS_RECOVERY_TIMEOUT: invalid duration 'soon'");
    char *noexec[] = {"MESOS_FRAMEWORK_ID=f", "MESOS_SLAVE_ID=a", "MESOS_AGENT_ENDPOINT=h:1", NULL};
    CHECK_INT(cm_exec_env_from_env(&env, noexec, why, sizeof why), CM_EINVAL);
    CHECK_STR(why, "MESOS_EXECUTOR_ID is not set");

    struct cm_exec_config c = {0};
    CHECK(cm_exec_new(&c, why, sizeof why) == NULL);
    CHECK(strstr(why, "config.env") != NULL);
}

/* Updates get their fields filled, go out one by one in order once subscribed, and are
 * forgotten on ACKNOWLEDGED. */
static void test_updates_kept_until_acked(void)
{
    struct rig r;
    REQUIRE(rig_start(&r, false) == 0);
    uint8_t u1[16], u2[16];
    CHECK_INT(update(&r, "t1", MESOS__V1__TASK_STATE__TASK_RUNNING, u1), 0);
    CHECK_INT(update(&r, "t1", MESOS__V1__TASK_STATE__TASK_FINISHED, u2), 0);
    CHECK_INT(r.ncalls, 0); /* not subscribed yet */
    CHECK_INT(cm_exec_unacknowledged_updates(r.ex), 2);
    inject_subscribed(&r);
    CHECK_INT(r.subscribed, 1);
    CHECK(cm_exec_subscribed(r.ex));
    REQUIRE(r.ncalls == 2);
    const Mesos__V1__TaskStatus *s = r.calls[0]->update->status;
    CHECK(r.calls[0]->type == MESOS__V1__EXECUTOR__CALL__TYPE__UPDATE);
    CHECK_STR(r.calls[0]->framework_id->value, "fw-0001");
    CHECK_STR(r.calls[0]->executor_id->value, "ex-1");
    CHECK(s->state == MESOS__V1__TASK_STATE__TASK_RUNNING);
    CHECK(s->has_uuid && s->uuid.len == 16 && memcmp(s->uuid.data, u1, 16) == 0);
    CHECK(s->timestamp == 5000.0);
    CHECK(s->source == MESOS__V1__TASK_STATUS__SOURCE__SOURCE_EXECUTOR);
    CHECK_STR(s->executor_id->value, "ex-1");
    CHECK_STR(s->agent_id->value, "a-S0");
    CHECK(r.calls[1]->update->status->state == MESOS__V1__TASK_STATE__TASK_FINISHED);
    CHECK(memcmp(u1, u2, 16) != 0);

    inject_ack(&r, "t1", u1);
    CHECK_INT(r.acks, 1);
    CHECK_INT(cm_exec_unacknowledged_updates(r.ex), 1);
    inject_ack(&r, "t1", u1); /* a repeat names nothing held any more */
    CHECK_INT(r.acks, 1);
    inject_ack(&r, "t1", u2);
    CHECK_INT(r.acks, 2);
    CHECK_INT(cm_exec_unacknowledged_updates(r.ex), 0);
    CHECK(r.event_bytes == 4); /* SUBSCRIBED and three ACKNOWLEDGED, serialized */
    rig_cleanup(&r);
}

static void test_update_validation(void)
{
    struct rig r;
    char why[256];
    REQUIRE(rig_start(&r, false) == 0);
    CHECK_INT(update(&r, "t1", MESOS__V1__TASK_STATE__TASK_STAGING, NULL), CM_EINVAL);
    CHECK_INT(update(&r, "", MESOS__V1__TASK_STATE__TASK_RUNNING, NULL), CM_EINVAL);
    CHECK_INT(update(&r, "t1", (Mesos__V1__TaskState)77, NULL), CM_EINVAL);
    Mesos__V1__TaskStatus st = MESOS__V1__TASK_STATUS__INIT;
    Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
    tid.value = "t1";
    st.task_id = &tid;
    st.state = MESOS__V1__TASK_STATE__TASK_RUNNING;
    st.has_uuid = 1;
    st.uuid.data = (uint8_t *)"short";
    st.uuid.len = 5;
    CHECK_INT(cm_exec_update(r.ex, &st, NULL, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "status.uuid") != NULL);
    CHECK_INT(cm_exec_update(r.ex, NULL, NULL, why, sizeof why), CM_EINVAL);
    CHECK_INT(cm_exec_update_bytes(r.ex, (const uint8_t *)"\xff\xff\xff", 3, NULL, why, sizeof why),
              CM_EPARSE);
    CHECK(strstr(why, "mesos.v1.TaskStatus") != NULL);
    CHECK_INT(cm_exec_unacknowledged_updates(r.ex), 0);
    rig_cleanup(&r);
}

/* A re-subscription carries the unacknowledged updates and the launched tasks none of whose
 * updates was acknowledged. */
static void test_resubscribe_carries_state(void)
{
    struct rig r;
    REQUIRE(rig_start(&r, false) == 0);
    inject_subscribed(&r);
    inject_launch(&r, "t1");
    inject_launch(&r, "t2");
    CHECK_INT(r.launches, 2);
    CHECK_INT(cm_exec_unacknowledged_tasks(r.ex), 2);
    uint8_t u1[16], u2[16];
    CHECK_INT(update(&r, "t1", MESOS__V1__TASK_STATE__TASK_RUNNING, u1), 0);
    CHECK_INT(update(&r, "t2", MESOS__V1__TASK_STATE__TASK_RUNNING, u2), 0);
    inject_ack(&r, "t1", u1);
    CHECK_INT(cm_exec_unacknowledged_tasks(r.ex), 1);
    uint8_t *buf;
    size_t len;
    REQUIRE(cm_exec_pack_subscribe(r.ex, &buf, &len) == 0);
    Mesos__V1__Executor__Call *c = mesos__v1__executor__call__unpack(NULL, len, buf);
    free(buf);
    REQUIRE(c && c->subscribe);
    CHECK(c->type == MESOS__V1__EXECUTOR__CALL__TYPE__SUBSCRIBE);
    CHECK_INT(c->subscribe->n_unacknowledged_tasks, 1);
    CHECK_STR(c->subscribe->unacknowledged_tasks[0]->task_id->value, "t2");
    CHECK_INT(c->subscribe->n_unacknowledged_updates, 1);
    CHECK(memcmp(c->subscribe->unacknowledged_updates[0]->status->uuid.data, u2, 16) == 0);
    mesos__v1__executor__call__free_unpacked(c, NULL);
    rig_cleanup(&r);
}

/* A failed send is retried after the resend delay, still in order. */
static void test_update_retry(void)
{
    struct rig r;
    REQUIRE(rig_start(&r, false) == 0);
    cm_exec_set_resend_delay(r.ex, 0.01);
    inject_subscribed(&r);
    r.fail_sends = 1;
    CHECK_INT(update(&r, "t1", MESOS__V1__TASK_STATE__TASK_RUNNING, NULL), 0);
    CHECK_INT(r.ncalls, 0);
    for (int i = 0; i < 50 && r.ncalls == 0; i++) {
        struct timeval tick = {0, 10 * 1000};
        event_base_loopexit(r.base, &tick);
        event_base_dispatch(r.base);
    }
    CHECK_INT(r.ncalls, 1);
    rig_cleanup(&r);
}

/* Messages wait for the subscription; bytes survive (NUL included); the events reach their
 * callbacks; SHUTDOWN is reported once; ERROR stops the executor. */
static void test_messages_and_events(void)
{
    struct rig r;
    char why[256];
    REQUIRE(rig_start(&r, false) == 0);
    CHECK_INT(cm_exec_message(r.ex, "a\0b", 3, why, sizeof why), 0);
    CHECK_INT(r.ncalls, 0);
    inject_subscribed(&r);
    REQUIRE(r.ncalls == 1);
    CHECK(r.calls[0]->type == MESOS__V1__EXECUTOR__CALL__TYPE__MESSAGE);
    CHECK(r.calls[0]->message->data.len == 3 &&
          memcmp(r.calls[0]->message->data.data, "a\0b", 3) == 0);

    Mesos__V1__Executor__Event ev = MESOS__V1__EXECUTOR__EVENT__INIT;
    Mesos__V1__Executor__Event__Message m = MESOS__V1__EXECUTOR__EVENT__MESSAGE__INIT;
    m.data.data = (uint8_t *)"x\0y";
    m.data.len = 3;
    ev.has_type = 1;
    ev.type = MESOS__V1__EXECUTOR__EVENT__TYPE__MESSAGE;
    ev.message = &m;
    inject(&r, &ev);
    CHECK(r.last_message_len == 3 && memcmp(r.last_message, "x\0y", 3) == 0);

    Mesos__V1__Executor__Event kev = MESOS__V1__EXECUTOR__EVENT__INIT;
    Mesos__V1__Executor__Event__Kill k = MESOS__V1__EXECUTOR__EVENT__KILL__INIT;
    Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
    tid.value = "t1";
    k.task_id = &tid;
    kev.has_type = 1;
    kev.type = MESOS__V1__EXECUTOR__EVENT__TYPE__KILL;
    kev.kill = &k;
    inject(&r, &kev);
    CHECK_INT(r.kills, 1);

    Mesos__V1__Executor__Event gev = MESOS__V1__EXECUTOR__EVENT__INIT;
    Mesos__V1__Executor__Event__LaunchGroup lg = MESOS__V1__EXECUTOR__EVENT__LAUNCH_GROUP__INIT;
    Mesos__V1__TaskGroupInfo g = MESOS__V1__TASK_GROUP_INFO__INIT;
    Mesos__V1__TaskInfo t1 = MESOS__V1__TASK_INFO__INIT, t2 = MESOS__V1__TASK_INFO__INIT;
    Mesos__V1__TaskInfo *ts[] = {&t1, &t2};
    Mesos__V1__TaskID id1 = MESOS__V1__TASK_ID__INIT, id2 = MESOS__V1__TASK_ID__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    aid.value = "a-S0";
    id1.value = "g1";
    id2.value = "g2";
    t1.name = t2.name = "g";
    t1.task_id = &id1;
    t2.task_id = &id2;
    t1.agent_id = t2.agent_id = &aid;
    g.n_tasks = 2;
    g.tasks = ts;
    lg.task_group = &g;
    gev.has_type = 1;
    gev.type = MESOS__V1__EXECUTOR__EVENT__TYPE__LAUNCH_GROUP;
    gev.launch_group = &lg;
    inject(&r, &gev);
    CHECK_INT(r.groups, 2);
    CHECK_INT(cm_exec_unacknowledged_tasks(r.ex), 2);

    Mesos__V1__Executor__Event sev = MESOS__V1__EXECUTOR__EVENT__INIT;
    sev.has_type = 1;
    sev.type = MESOS__V1__EXECUTOR__EVENT__TYPE__SHUTDOWN;
    inject(&r, &sev);
    inject(&r, &sev);
    CHECK_INT(r.shutdowns, 1);
    CHECK(r.shutdown_reason == CM_EXEC_SHUTDOWN_REQUESTED);

    Mesos__V1__Executor__Event eev = MESOS__V1__EXECUTOR__EVENT__INIT;
    Mesos__V1__Executor__Event__Error er = MESOS__V1__EXECUTOR__EVENT__ERROR__INIT;
    er.message = "go away";
    eev.has_type = 1;
    eev.type = MESOS__V1__EXECUTOR__EVENT__TYPE__ERROR;
    eev.error = &er;
    inject(&r, &eev);
    CHECK_INT(r.errors, 1);
    CHECK_STR(r.last_error, "go away");
    CHECK_INT(update(&r, "t1", MESOS__V1__TASK_STATE__TASK_RUNNING, NULL), CM_ESTATE);
    rig_cleanup(&r);
}

static void test_call_bytes(void)
{
    struct rig r;
    char why[256];
    REQUIRE(rig_start(&r, false) == 0);
    inject_subscribed(&r);
    Mesos__V1__Executor__Call c = MESOS__V1__EXECUTOR__CALL__INIT;
    Mesos__V1__Executor__Call__Update up = MESOS__V1__EXECUTOR__CALL__UPDATE__INIT;
    Mesos__V1__TaskStatus st = MESOS__V1__TASK_STATUS__INIT;
    Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
    Mesos__V1__ExecutorID eid = MESOS__V1__EXECUTOR_ID__INIT;
    Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
    eid.value = "ignored";
    fid.value = "ignored";
    tid.value = "t9";
    st.task_id = &tid;
    st.state = MESOS__V1__TASK_STATE__TASK_RUNNING;
    up.status = &st;
    c.executor_id = &eid;
    c.framework_id = &fid;
    c.has_type = 1;
    c.type = MESOS__V1__EXECUTOR__CALL__TYPE__UPDATE;
    c.update = &up;
    uint8_t buf[512];
    size_t len = mesos__v1__executor__call__pack(&c, buf);
    CHECK_INT(cm_exec_call_bytes(r.ex, buf, len, why, sizeof why), 0);
    REQUIRE(r.ncalls == 1);
    CHECK_STR(r.calls[0]->framework_id->value, "fw-0001"); /* the library's own ids */
    CHECK_STR(r.calls[0]->update->status->task_id->value, "t9");

    c.type = MESOS__V1__EXECUTOR__CALL__TYPE__SUBSCRIBE;
    c.update = NULL;
    len = mesos__v1__executor__call__pack(&c, buf);
    CHECK_INT(cm_exec_call_bytes(r.ex, buf, len, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "SUBSCRIBE") != NULL);
    CHECK_INT(cm_exec_call_bytes(r.ex, (const uint8_t *)"\x08", 1, why, sizeof why), CM_EPARSE);

    /* update_bytes with a serialized TaskStatus. */
    len = mesos__v1__task_status__pack(&st, buf);
    uint8_t u[16];
    CHECK_INT(cm_exec_update_bytes(r.ex, buf, len, u, why, sizeof why), 0);
    REQUIRE(r.ncalls == 2);
    CHECK(memcmp(r.calls[1]->update->status->uuid.data, u, 16) == 0);
    rig_cleanup(&r);
}

/* Library-owned loop: updates and messages from another thread are queued and sent on the loop
 * thread, in order; cm_exec_stop from that thread ends cm_exec_run. */
struct thread_arg {
    struct rig *r;
    int rc;
};

static void *caller_thread(void *p)
{
    struct thread_arg *a = p;
    char why[128];
    for (int i = 0; i < 20 && a->rc == 0; i++) {
        a->rc = update(a->r, "t1", MESOS__V1__TASK_STATE__TASK_RUNNING, NULL);
        if (a->rc == 0)
            a->rc = cm_exec_message(a->r->ex, "m", 1, why, sizeof why);
    }
    /* Wait until the loop has sent everything, then stop it from here. */
    for (int i = 0; i < 500; i++) {
        pthread_mutex_lock(&a->r->mu);
        size_t n = a->r->ncalls;
        pthread_mutex_unlock(&a->r->mu);
        if (n >= 40)
            break;
        usleep(2000);
    }
    cm_exec_stop(a->r->ex);
    return NULL;
}

static void on_sub_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    inject_subscribed(arg);
}

static void test_owned_loop_threads(void)
{
    struct rig r;
    REQUIRE(rig_start(&r, true) == 0);
    r.loop_thread = pthread_self();
    struct event_base *base = cm_exec_base(r.ex);
    struct event *sub = evtimer_new(base, on_sub_timer, &r);
    struct timeval tv = {0, 1000};
    evtimer_add(sub, &tv); /* subscribed once the loop runs */
    struct thread_arg a = {.r = &r, .rc = 0};
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, caller_thread, &a) == 0);
    CHECK_INT(cm_exec_run(r.ex), 0); /* returns after the other thread's stop */
    pthread_join(th, NULL);
    CHECK_INT(a.rc, 0);
    CHECK_INT(r.ncalls, 40);
    CHECK_INT(r.off_thread_sends, 0);
    size_t updates = 0, messages = 0;
    for (size_t i = 0; i < r.ncalls; i++) {
        if (r.calls[i]->type == MESOS__V1__EXECUTOR__CALL__TYPE__UPDATE)
            updates++;
        else if (r.calls[i]->type == MESOS__V1__EXECUTOR__CALL__TYPE__MESSAGE)
            messages++;
    }
    CHECK_INT(updates, 20);
    CHECK_INT(messages, 20);
    CHECK_INT(cm_exec_unacknowledged_updates(r.ex), 20);
    /* Stopped: calls are refused on the loop side, and the caller's-loop-only run refuses. */
    CHECK_INT(cm_exec_run(r.ex), 0);
    event_free(sub);
    rig_cleanup(&r);

    struct rig c;
    REQUIRE(rig_start(&c, false) == 0);
    CHECK_INT(cm_exec_run(c.ex), CM_ESTATE);
    rig_cleanup(&c);
}

TEST_MAIN(TEST(test_env), TEST(test_updates_kept_until_acked), TEST(test_update_validation),
          TEST(test_resubscribe_carries_state), TEST(test_update_retry),
          TEST(test_messages_and_events), TEST(test_call_bytes), TEST(test_owned_loop_threads))
