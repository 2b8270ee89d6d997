/* emu_tasks.c: the emulated agents' tasks: launch, run time, kill, status updates with retries
 * until acknowledged, and the re-registration report. See emulator.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "codec.h"
#include "emu_internal.h"
#include "ids.h"
#include "log.h"
#include "util.h"

#define MOD "emulator"

static struct timeval tv_of(double secs)
{
    struct timeval tv = {(time_t)secs, (suseconds_t)((secs - (double)(time_t)secs) * 1e6)};
    return tv;
}

/* The status updates of one agent and loop turn go in one STATUS_UPDATE call: each task's
 * head update (the one not yet acknowledged), each retried on its own timer. */
static void send_agent_updates(struct emu_agent *a)
{
    struct cm_emu *e = a->e;
    size_t n = 0;
    for (struct emu_task *t = a->send_head; t; t = t->send_next)
        n++;
    if (n > e->upd.cap) {
        size_t cap = e->upd.cap ? e->upd.cap : 16;
        while (cap < n)
            cap *= 2;
        e->upd.su = cm_xrealloc(e->upd.su, cap * sizeof *e->upd.su);
        e->upd.suv = cm_xrealloc(e->upd.suv, cap * sizeof *e->upd.suv);
        e->upd.st = cm_xrealloc(e->upd.st, cap * sizeof *e->upd.st);
        e->upd.fid = cm_xrealloc(e->upd.fid, cap * sizeof *e->upd.fid);
        e->upd.tid = cm_xrealloc(e->upd.tid, cap * sizeof *e->upd.tid);
        e->upd.eid = cm_xrealloc(e->upd.eid, cap * sizeof *e->upd.eid);
        e->upd.cap = cap;
    }
    /* Every entry used is initialised below before use. */
    Cmesos__Internal__AgentCall__StatusUpdate *su = e->upd.su, **suv = e->upd.suv;
    Mesos__V1__TaskStatus *st = e->upd.st;
    Mesos__V1__FrameworkID *fid = e->upd.fid;
    Mesos__V1__TaskID *tid = e->upd.tid;
    Mesos__V1__ExecutorID *eid = e->upd.eid;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    aid.value = a->id;
    size_t k = 0;
    struct emu_task *t = a->send_head, *next;
    a->send_head = NULL;
    for (; t; t = next) {
        next = t->send_next;
        t->send_next = NULL;
        t->send_queued = false;
        if (t->nq == 0)
            continue;
        mesos__v1__framework_id__init(&fid[k]);
        mesos__v1__task_id__init(&tid[k]);
        mesos__v1__executor_id__init(&eid[k]);
        mesos__v1__task_status__init(&st[k]);
        cmesos__internal__agent_call__status_update__init(&su[k]);
        fid[k].value = t->framework_id;
        tid[k].value = t->task_id;
        eid[k].value = t->executor_id;
        st[k].task_id = &tid[k];
        st[k].state = t->q[0].state;
        st[k].has_source = 1;
        st[k].source = MESOS__V1__TASK_STATUS__SOURCE__SOURCE_EXECUTOR;
        st[k].has_timestamp = 1;
        st[k].timestamp = t->q[0].timestamp;
        st[k].has_uuid = 1;
        st[k].uuid.data = t->q[0].uuid;
        st[k].uuid.len = 16;
        st[k].agent_id = a->id ? &aid : NULL;
        st[k].executor_id = &eid[k];
        if (t->q[0].state == MESOS__V1__TASK_STATE__TASK_KILLED)
            st[k].message = "Task killed (emulated)";
        su[k].framework_id = &fid[k];
        su[k].executor_id = &eid[k];
        su[k].status = &st[k];
        su[k].has_latest_state = 1;
        su[k].latest_state = t->state;
        suv[k] = &su[k];
        k++;
        /* Retried after update_retry, then twice as long each time up to 10 minutes, as the
         * agent's status update manager does: an overloaded scheduler is not sent more. */
        if (t->retry_wait <= 0)
            t->retry_wait = e->o.update_retry;
        emu_timer_add(e, &t->retry_timer, t->retry_wait);
        t->retry_wait = t->retry_wait * 2 > 600 ? 600 : t->retry_wait * 2;
    }
    if (k > 0) {
        Cmesos__Internal__AgentCall call = CMESOS__INTERNAL__AGENT_CALL__INIT;
        call.has_type = 1;
        call.type = CMESOS__INTERNAL__AGENT_CALL__TYPE__STATUS_UPDATE;
        if (k == 1) {
            call.status_update = suv[0];
        } else {
            call.status_updates = suv;
            call.n_status_updates = k;
        }
        e->st.updates_sent += k;
        emu_send_call(a, &call);
    }
}

static void send_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct cm_emu *e = arg;
    while (e->send_head) {
        struct emu_agent *a = e->send_head;
        e->send_head = a->send_next;
        a->send_next = NULL;
        a->send_dirty = false;
        send_agent_updates(a);
    }
}

/* Queues t's head update for this turn's call of its agent. */
static void task_send_head(struct emu_task *t)
{
    struct cm_emu *e = t->e;
    struct emu_agent *a = t->agent;
    if (t->nq == 0 || t->send_queued)
        return;
    evtimer_del(&t->retry_timer);
    t->send_queued = true;
    t->send_next = a->send_head;
    a->send_head = t;
    if (a->send_dirty)
        return;
    a->send_dirty = true;
    a->send_next = e->send_head;
    e->send_head = a;
    if (!e->send_flush) {
        e->send_flush = event_new(e->base, -1, 0, send_flush_cb, e);
        if (!e->send_flush)
            abort();
    }
    if (!event_pending(e->send_flush, EV_TIMEOUT, NULL))
        event_active(e->send_flush, EV_TIMEOUT, 0);
}

void emu_task_free_flush(struct cm_emu *e)
{
    if (e->send_flush)
        event_free(e->send_flush);
    e->send_flush = NULL;
    e->send_head = NULL;
    free(e->upd.su), free(e->upd.suv), free(e->upd.st);
    free(e->upd.fid), free(e->upd.tid), free(e->upd.eid);
    memset(&e->upd, 0, sizeof e->upd);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct emu_task *t = arg;
    if (t->nq == 0)
        return;
    t->e->st.update_retries++;
    task_send_head(t);
}

void emu_timer_add(struct cm_emu *e, struct event *ev, double secs)
{
    struct timeval tv = tv_of(secs);
    for (int i = 0; i < e->ncommon; i++) {
        if (e->common[i].secs == secs) {
            evtimer_add(ev, e->common[i].tv);
            return;
        }
    }
    if (e->ncommon < EMU_COMMON_TIMEOUTS) {
        const struct timeval *ct = event_base_init_common_timeout(e->base, &tv);
        if (ct) {
            e->common[e->ncommon].secs = secs;
            e->common[e->ncommon++].tv = ct;
            evtimer_add(ev, ct);
            return;
        }
    }
    evtimer_add(ev, &tv);
}

void emu_uuid(struct cm_emu *e, uint8_t out[16])
{
    for (int k = 0; k < 2; k++) {
        /* splitmix64 */
        uint64_t z = (e->rng += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        z ^= z >> 31;
        memcpy(out + 8 * k, &z, 8);
    }
    out[6] = (uint8_t)((out[6] & 0x0f) | 0x40);
    out[8] = (uint8_t)((out[8] & 0x3f) | 0x80);
}

static void task_push(struct emu_task *t, int state)
{
    if (cm_task_state_terminal(t->state) || t->nq == EMU_MAX_QUEUED)
        return;
    t->q[t->nq].state = state;
    emu_uuid(t->e, t->q[t->nq].uuid);
    t->q[t->nq].timestamp = (double)time(NULL);
    {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        t->q[t->nq].timestamp = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    }
    t->state = state;
    if (t->nq++ == 0)
        task_send_head(t);
}

static void task_free(struct emu_task *t)
{
    struct emu_agent *a = t->agent;
    if (t->send_queued) {
        struct emu_task **pp = &a->send_head;
        while (*pp != t)
            pp = &(*pp)->send_next;
        *pp = t->send_next;
    }
    evtimer_del(&t->run_timer);
    evtimer_del(&t->retry_timer);
    if (t->prev)
        t->prev->next = t->next;
    else
        a->tasks = t->next;
    if (t->next)
        t->next->prev = t->prev;
    a->ntasks--;
    cm_strmap_remove(&t->e->tasks, t->key);
    free(t->key);
    free(t->framework_id);
    free(t->task_id);
    free(t->executor_id);
    free(t->info);
    free(t);
}

static void run_done_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct emu_task *t = arg;
    task_push(t, t->final_state);
}

static const char *label(const Mesos__V1__TaskInfo *ti, const char *key)
{
    if (!ti->labels)
        return NULL;
    for (size_t i = 0; i < ti->labels->n_labels; i++) {
        const Mesos__V1__Label *l = ti->labels->labels[i];
        if (l->key && l->value && strcmp(l->key, key) == 0)
            return l->value;
    }
    return NULL;
}

void emu_task_run(struct emu_agent *a, const Cmesos__Internal__AgentEvent__RunTask *rt)
{
    struct cm_emu *e = a->e;
    const Mesos__V1__TaskInfo *ti = rt->task;
    const Mesos__V1__FrameworkInfo *fi = rt->framework_info;
    if (!fi->id || !fi->id->value || !ti->task_id || !ti->task_id->value)
        return;
    char *key = cm_xasprintf("%s\n%s", fi->id->value, ti->task_id->value);
    if (cm_strmap_get(&e->tasks, key)) {
        /* A launch re-sent after a re-registration: we have it; say so again. */
        e->st.run_task_duplicates++;
        emu_queue_launch_ack(a, key);
        free(key);
        return;
    }
    if (!cm_strmap_get(&e->frameworks, fi->id->value))
        emu_task_update_framework(e, fi);
    struct emu_task *t = cm_xcalloc(1, sizeof *t);
    t->e = e;
    t->agent = a;
    t->key = key;
    t->framework_id = cm_xstrdup(fi->id->value);
    t->task_id = cm_xstrdup(ti->task_id->value);
    t->custom_executor = ti->executor && ti->executor->executor_id;
    t->executor_id =
        cm_xstrdup(t->custom_executor ? ti->executor->executor_id->value : ti->task_id->value);
    t->info_len = mesos__v1__task_info__get_packed_size(ti);
    t->info = cm_xmalloc(t->info_len ? t->info_len : 1);
    mesos__v1__task_info__pack(ti, t->info);
    t->state = MESOS__V1__TASK_STATE__TASK_STAGING;
    t->final_state = MESOS__V1__TASK_STATE__TASK_FINISHED;
    const char *fs = label(ti, "emulator_final_state");
    if (fs) {
        const ProtobufCEnumValue *v =
            protobuf_c_enum_descriptor_get_value_by_name(&mesos__v1__task_state__descriptor, fs);
        if (v && cm_task_state_terminal(v->value))
            t->final_state = v->value;
    }
    double secs = cm_emu_dist_sample(&e->o.run_time);
    const char *rs = label(ti, "emulator_run_time");
    if (rs) {
        char *end;
        double v = strtod(rs, &end);
        if (end != rs && !*end)
            secs = v;
    }
    evtimer_assign(&t->run_timer, e->base, run_done_cb, t);
    evtimer_assign(&t->retry_timer, e->base, retry_cb, t);
    t->next = a->tasks;
    if (a->tasks)
        a->tasks->prev = t;
    a->tasks = t;
    a->ntasks++;
    cm_strmap_put(&e->tasks, t->key, t);
    e->st.tasks_launched++;
    emu_queue_launch_ack(a, key);
    task_push(t, MESOS__V1__TASK_STATE__TASK_STARTING);
    task_push(t, MESOS__V1__TASK_STATE__TASK_RUNNING);
    if (secs >= 0)
        emu_timer_add(e, &t->run_timer, secs);
}

static struct emu_task *find(struct emu_agent *a, const char *framework_id, const char *task_id)
{
    /* The key is built on the stack (the usual ids are short): no allocation per lookup. */
    char buf[256];
    size_t fl = strlen(framework_id), tl = strlen(task_id);
    char *key = fl + tl + 2 <= sizeof buf ? buf : cm_xmalloc(fl + tl + 2);
    memcpy(key, framework_id, fl);
    key[fl] = '\n';
    memcpy(key + fl + 1, task_id, tl + 1);
    struct emu_task *t = cm_strmap_get(&a->e->tasks, key);
    if (key != buf)
        free(key);
    return t && t->agent == a ? t : NULL;
}

static void kill_task(struct emu_task *t)
{
    if (cm_task_state_terminal(t->state))
        return;
    evtimer_del(&t->run_timer);
    t->e->st.tasks_killed++;
    task_push(t, MESOS__V1__TASK_STATE__TASK_KILLED);
}

void emu_task_kill(struct emu_agent *a, const char *framework_id, const char *task_id)
{
    struct emu_task *t = find(a, framework_id, task_id);
    if (!t) {
        a->e->st.kill_unknown++;
        return;
    }
    kill_task(t);
}

static void executor_exited(struct emu_agent *a, const char *framework_id, const char *executor_id)
{
    for (struct emu_task *o = a->tasks; o; o = o->next)
        if (o->custom_executor && strcmp(o->framework_id, framework_id) == 0 &&
            strcmp(o->executor_id, executor_id) == 0)
            return; /* the executor still has tasks */
    Cmesos__Internal__AgentCall call = CMESOS__INTERNAL__AGENT_CALL__INIT;
    Cmesos__Internal__AgentCall__ExitedExecutor x =
        CMESOS__INTERNAL__AGENT_CALL__EXITED_EXECUTOR__INIT;
    Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
    Mesos__V1__ExecutorID eid = MESOS__V1__EXECUTOR_ID__INIT;
    fid.value = (char *)framework_id;
    eid.value = (char *)executor_id;
    x.framework_id = &fid;
    x.executor_id = &eid;
    x.has_status = 1;
    x.status = 0;
    call.has_type = 1;
    call.type = CMESOS__INTERNAL__AGENT_CALL__TYPE__EXITED_EXECUTOR;
    call.exited_executor = &x;
    emu_send_call(a, &call);
}

void emu_task_acknowledge(struct emu_agent *a, const Cmesos__Internal__AgentEvent__Acknowledge *k)
{
    struct emu_task *t = find(a, k->framework_id->value, k->task_id->value);
    if (!t || t->nq == 0 || k->uuid.len != 16 || memcmp(k->uuid.data, t->q[0].uuid, 16) != 0)
        return;
    a->e->st.acks++;
    memmove(&t->q[0], &t->q[1], (size_t)(t->nq - 1) * sizeof t->q[0]);
    t->nq--;
    t->retry_wait = 0; /* the next update starts from update_retry again */
    evtimer_del(&t->retry_timer);
    if (t->nq > 0) {
        task_send_head(t);
        return;
    }
    if (!cm_task_state_terminal(t->state))
        return;
    a->e->st.tasks_terminal++;
    bool custom = t->custom_executor;
    char *fid = custom ? cm_xstrdup(t->framework_id) : NULL;
    char *eid = custom ? cm_xstrdup(t->executor_id) : NULL;
    task_free(t);
    if (custom)
        executor_exited(a, fid, eid);
    free(fid);
    free(eid);
}

void emu_task_shutdown_framework(struct emu_agent *a, const char *framework_id)
{
    struct emu_task *t = a->tasks, *next;
    for (; t; t = next) {
        next = t->next;
        if (strcmp(t->framework_id, framework_id) == 0)
            task_free(t);
    }
}

void emu_task_shutdown_executor(struct emu_agent *a, const char *framework_id,
                                const char *executor_id)
{
    for (struct emu_task *t = a->tasks; t; t = t->next)
        if (strcmp(t->framework_id, framework_id) == 0 && strcmp(t->executor_id, executor_id) == 0)
            kill_task(t);
}

void emu_task_update_framework(struct cm_emu *e, const Mesos__V1__FrameworkInfo *fi)
{
    if (!fi->id || !fi->id->value)
        return;
    struct emu_fw *f = cm_strmap_get(&e->frameworks, fi->id->value);
    if (!f) {
        f = cm_xcalloc(1, sizeof *f);
        cm_strmap_put(&e->frameworks, fi->id->value, f);
    }
    free(f->info);
    f->len = mesos__v1__framework_info__get_packed_size(fi);
    f->info = cm_xmalloc(f->len ? f->len : 1);
    mesos__v1__framework_info__pack(fi, f->info);
}

void emu_task_resend_all(struct emu_agent *a)
{
    for (struct emu_task *t = a->tasks; t; t = t->next)
        if (t->nq > 0)
            task_send_head(t);
}

void emu_task_report(struct emu_agent *a, struct emu_report *r)
{
    memset(r, 0, sizeof *r);
    size_t n = a->ntasks;
    r->tasks = cm_xcalloc(n + 1, sizeof *r->tasks);
    r->tv = cm_xcalloc(n + 1, sizeof *r->tv);
    r->infos = cm_xcalloc(n + 1, sizeof *r->infos);
    r->execs = cm_xcalloc(n + 1, sizeof *r->execs);
    r->fws = cm_xcalloc(n + 1, sizeof *r->fws);
    r->fids = cm_xcalloc(n + 1, sizeof *r->fids);
    r->eids = cm_xcalloc(n + 1, sizeof *r->eids);
    mesos__v1__agent_id__init(&r->aid);
    r->aid.value = a->id;
    for (struct emu_task *t = a->tasks; t; t = t->next) {
        Mesos__V1__TaskInfo *ti = mesos__v1__task_info__unpack(NULL, t->info_len, t->info);
        if (!ti)
            continue;
        r->infos[r->ninfos++] = ti;
        Mesos__V1__Task *pt = &r->tv[r->ntasks];
        mesos__v1__task__init(pt);
        pt->name = ti->name ? ti->name : "";
        pt->task_id = ti->task_id;
        mesos__v1__framework_id__init(&r->fids[r->ntasks]);
        r->fids[r->ntasks].value = t->framework_id;
        pt->framework_id = &r->fids[r->ntasks];
        mesos__v1__executor_id__init(&r->eids[r->ntasks]);
        r->eids[r->ntasks].value = t->executor_id;
        pt->executor_id = &r->eids[r->ntasks];
        pt->agent_id = &r->aid;
        pt->state = t->state;
        pt->resources = ti->resources;
        pt->n_resources = ti->n_resources;
        if (t->nq > 0) {
            pt->has_status_update_state = 1;
            pt->status_update_state = t->q[0].state;
        }
        r->tasks[r->ntasks++] = pt;
        if (t->custom_executor) {
            bool seen = false;
            for (size_t i = 0; i < r->nexecs && !seen; i++)
                seen = strcmp(r->execs[i]->executor_id->value, t->executor_id) == 0 &&
                       r->execs[i]->framework_id &&
                       strcmp(r->execs[i]->framework_id->value, t->framework_id) == 0;
            if (!seen)
                r->execs[r->nexecs++] = ti->executor;
        }
        bool fseen = false;
        for (size_t i = 0; i < r->nfws && !fseen; i++)
            fseen = strcmp(r->fws[i]->id->value, t->framework_id) == 0;
        if (!fseen) {
            struct emu_fw *f = cm_strmap_get(&a->e->frameworks, t->framework_id);
            Mesos__V1__FrameworkInfo *fi =
                f ? mesos__v1__framework_info__unpack(NULL, f->len, f->info) : NULL;
            if (fi && fi->id)
                r->fws[r->nfws++] = fi;
            else if (fi)
                protobuf_c_message_free_unpacked(&fi->base, NULL);
        }
    }
}

void emu_task_report_free(struct emu_report *r)
{
    for (size_t i = 0; i < r->ninfos; i++)
        protobuf_c_message_free_unpacked(&r->infos[i]->base, NULL);
    for (size_t i = 0; i < r->nfws; i++)
        protobuf_c_message_free_unpacked(&r->fws[i]->base, NULL);
    free(r->tasks);
    free(r->tv);
    free(r->infos);
    free(r->execs);
    free(r->fws);
    free(r->fids);
    free(r->eids);
    memset(r, 0, sizeof *r);
}

void emu_task_drop_all(struct emu_agent *a)
{
    while (a->tasks)
        task_free(a->tasks);
}

static void fw_free(void *v)
{
    struct emu_fw *f = v;
    free(f->info);
    free(f);
}

void emu_task_free_frameworks(struct cm_emu *e)
{
    cm_strmap_cleanup_values(&e->frameworks, fw_free);
}
