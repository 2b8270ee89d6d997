/* master.c: the master's state and its transitions. See master.h. */
#include "master.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "allocator/allocator.h"
#include "codec.h"
#include "contender.h"
#include "errors.h"
#include "ids.h"
#include "log.h"
#include "pbjson.h"
#include "recordio.h"
#include "registrar.h"
#include "util.h"

#define MOD "master"
#define MAX_STATUSES 32

/* ------------------------------------------------------------------------------------------ */
/* small helpers */

const char *cm_task_state_name(int state)
{
    return cm_enum_name_or(&mesos__v1__task_state__descriptor, state, "TASK_UNKNOWN");
}

int cm_master_task_state_for(const struct cm_framework *fw, int state)
{
    if (fw && fw->partition_aware)
        return state;
    switch (state) {
    case MESOS__V1__TASK_STATE__TASK_DROPPED:
    case MESOS__V1__TASK_STATE__TASK_UNREACHABLE:
    case MESOS__V1__TASK_STATE__TASK_GONE:
    case MESOS__V1__TASK_STATE__TASK_GONE_BY_OPERATOR:
    case MESOS__V1__TASK_STATE__TASK_UNKNOWN: return MESOS__V1__TASK_STATE__TASK_LOST;
    default: return state;
    }
}

static void lower_copy(char *dst, size_t len, const char *src)
{
    size_t i = 0;
    for (; src[i] && i + 1 < len; i++)
        dst[i] = (char)((src[i] >= 'A' && src[i] <= 'Z') ? src[i] + 32 : src[i]);
    dst[i] = 0;
}

void cm_master_count_status(struct cm_master *m, int state, int source, bool has_source, int reason,
                            bool has_reason)
{
    if (state >= 0 && state < 16 && cm_task_state_terminal(state))
        m->metrics.tasks_terminal[state]++;
    if (!has_source || !has_reason)
        return;
    /* Values from the wire were checked at decode; a name still missing (a value only our own
     * code could produce) is not counted rather than printed as NULL. */
    const char *sv = cm_enum_name(&mesos__v1__task_status__source__descriptor, source);
    const char *rv = cm_enum_name(&mesos__v1__task_status__reason__descriptor, reason);
    if (!sv || !rv)
        return;
    char st[64], so[64], re[96], key[256];
    lower_copy(st, sizeof st, cm_task_state_name(state));
    lower_copy(so, sizeof so, sv);
    lower_copy(re, sizeof re, rv);
    snprintf(key, sizeof key, "master/%s/%s/%s", st, so, re);
    uint64_t *c = cm_strmap_get(&m->metrics.task_reasons, key);
    if (!c) {
        c = cm_xcalloc(1, sizeof *c);
        cm_strmap_put(&m->metrics.task_reasons, key, c);
    }
    (*c)++;
}

/* The deprecated FrameworkInfo.role is still how non-MULTI_ROLE frameworks name their role. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static const char *info_role(const Mesos__V1__FrameworkInfo *info)
{
    return info->role && info->role[0] ? info->role : "*";
}
#pragma GCC diagnostic pop

static bool has_capability(const Mesos__V1__FrameworkInfo *info, int type)
{
    for (size_t i = 0; i < info->n_capabilities; i++)
        if (info->capabilities[i]->has_type && (int)info->capabilities[i]->type == type)
            return true;
    return false;
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static char **dup_strv(char *const *v, size_t n)
{
    char **out = cm_xcalloc(n + 1, sizeof *out);
    for (size_t i = 0; i < n; i++)
        out[i] = cm_xstrdup(v[i]);
    return out;
}

/* ------------------------------------------------------------------------------------------ */
/* sinks */

int cm_sink_send(const struct cm_sink *sink, const ProtobufCMessage *msg)
{
    if (sink->cb) {
        sink->cb(sink->arg, msg);
        return 0;
    }
    if (!sink->stream)
        return CM_ECLOSED;
    uint8_t *data;
    size_t len;
    if (sink->media == CM_MEDIA_JSON) {
        char *text = cm_pbjson_to_text(msg);
        data = (uint8_t *)text;
        len = strlen(text);
    } else {
        len = protobuf_c_message_get_packed_size(msg);
        data = cm_xcalloc(1, len + 1);
        protobuf_c_message_pack(msg, data);
    }
    /* One record per chunk, header and payload together (protocol doc §1.4). */
    char hdr[24];
    size_t hlen = cm_recordio_header(len, hdr);
    uint8_t *frame = cm_xcalloc(1, hlen + len);
    memcpy(frame, hdr, hlen);
    memcpy(frame + hlen, data, len);
    int rc = cm_http_stream_send(sink->stream, frame, hlen + len);
    free(frame);
    free(data);
    return rc;
}

void cm_sink_end(struct cm_sink *sink)
{
    free(sink->ref);
    sink->ref = NULL;
    if (sink->stream) {
        cm_http_stream_end(sink->stream);
        sink->stream = NULL;
    } else if (sink->cb && sink->end_cb) {
        sink->end_cb(sink->arg);
    }
    sink->cb = NULL;
    sink->end_cb = NULL;
}

static bool sink_open(const struct cm_sink *s)
{
    return s->stream || s->cb;
}

void cm_master_send_event(struct cm_master *m, struct cm_framework *fw,
                          const Mesos__V1__Scheduler__Event *ev)
{
    (void)m;
    if (!fw->connected || !sink_open(&fw->sink))
        return;
    fw->metrics.events++;
    if (ev->type < CM_MASTER_NEVENT_TYPES)
        fw->metrics.event_types[ev->type]++;
    cm_sink_send(&fw->sink, &ev->base);
}

void cm_master_send_agent(struct cm_master *m, struct cm_agent *agent,
                          const Cmesos__Internal__AgentEvent *ev)
{
    if (!agent->connected || !sink_open(&agent->sink)) {
        m->metrics.dropped_messages++;
        return;
    }
    cm_sink_send(&agent->sink, &ev->base);
}

static void send_error_event(const struct cm_sink *sink, const char *message)
{
    Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
    Mesos__V1__Scheduler__Event__Error err = MESOS__V1__SCHEDULER__EVENT__ERROR__INIT;
    err.message = (char *)message;
    ev.has_type = 1;
    ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__ERROR;
    ev.error = &err;
    cm_sink_send(sink, &ev.base);
}

static void send_simple_event(struct cm_master *m, struct cm_framework *fw, int type)
{
    Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
    ev.has_type = 1;
    ev.type = type;
    cm_master_send_event(m, fw, &ev);
}

/* ------------------------------------------------------------------------------------------ */
/* lookups */

struct cm_framework *cm_master_framework(struct cm_master *m, const char *id)
{
    return id ? cm_strmap_get(&m->frameworks, id) : NULL;
}

struct cm_agent *cm_master_agent(struct cm_master *m, const char *id)
{
    return id ? cm_strmap_get(&m->agents, id) : NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* offers */

static void offer_unlink(struct cm_master *m, struct cm_offer *o)
{
    if (o->prev)
        o->prev->next = o->next;
    else
        m->offers_head = o->next;
    if (o->next)
        o->next->prev = o->prev;
    else
        m->offers_tail = o->prev;
    o->prev = o->next = NULL;
}

static void offer_free(struct cm_offer *o)
{
    if (!o)
        return;
    free(o->id);
    free(o->role);
    cm_resources_cleanup(&o->resources);
    free(o);
}

static void batch_drop(struct cm_framework *fw, struct cm_offer *o)
{
    for (size_t i = 0; i < fw->nbatch; i++) {
        if (fw->batch[i] == o) {
            fw->batch[i] = fw->batch[--fw->nbatch];
            return;
        }
    }
}

void cm_master_remove_offer(struct cm_master *m, struct cm_offer *o, bool recover, bool rescind,
                            double refuse)
{
    struct cm_framework *fw = o->fw;
    struct cm_agent *agent = o->agent;
    if (rescind && !o->batched) {
        Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
        Mesos__V1__Scheduler__Event__Rescind r = MESOS__V1__SCHEDULER__EVENT__RESCIND__INIT;
        Mesos__V1__OfferID oid = MESOS__V1__OFFER_ID__INIT;
        oid.value = o->id;
        r.offer_id = &oid;
        ev.has_type = 1;
        ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__RESCIND;
        ev.rescind = &r;
        cm_master_send_event(m, fw, &ev);
        fw->metrics.offers_rescinded++;
    }
    if (o->batched)
        batch_drop(fw, o);
    if (recover)
        cm_allocator_recover(m->allocator, fw->id, o->role, agent->id, &o->resources, refuse);
    cm_resources_subtract(&fw->offered, &o->resources);
    cm_resources_subtract(&agent->offered, &o->resources);
    cm_strmap_remove(&fw->offers, o->id);
    cm_strmap_remove(&agent->offers, o->id);
    cm_strmap_remove(&m->offers, o->id);
    offer_unlink(m, o);
    offer_free(o);
}

static void remove_offers_of(struct cm_master *m, struct cm_strmap *offers, bool rescind)
{
    /* Collect first: removing mutates the map being walked. */
    size_t n = cm_strmap_count(offers), i = 0;
    if (n == 0)
        return;
    struct cm_offer **v = cm_xcalloc(n, sizeof *v);
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, offers); cm_strmap_iter_next(&it);)
        v[i++] = it.cur->value;
    for (i = 0; i < n; i++)
        cm_master_remove_offer(m, v[i], true, rescind, 0);
    free(v);
}

static void batch_list_add(struct cm_master *m, struct cm_framework *fw)
{
    if (fw->in_batch_list)
        return;
    if (m->nbatch_list == m->batch_list_cap) {
        m->batch_list_cap = m->batch_list_cap ? m->batch_list_cap * 2 : 16;
        m->batch_list = cm_xrealloc(m->batch_list, m->batch_list_cap * sizeof *m->batch_list);
    }
    m->batch_list[m->nbatch_list++] = fw;
    fw->in_batch_list = true;
}

/* Allocations the master cannot turn into offers (the framework or agent went away in the
 * meantime) are recovered after the cycle: the allocator is not re-entered from its callback. */
static void park_recovery(struct cm_master *m, const char *fw, const char *role, const char *agent,
                          const struct cm_resources *res)
{
    if (m->npending == m->pending_cap) {
        m->pending_cap = m->pending_cap ? m->pending_cap * 2 : 8;
        m->pending = cm_xrealloc(m->pending, m->pending_cap * sizeof *m->pending);
    }
    struct cm_pending_recover *p = &m->pending[m->npending++];
    p->fw = cm_xstrdup(fw);
    p->role = cm_xstrdup(role);
    p->agent = cm_xstrdup(agent);
    cm_resources_init(&p->res);
    cm_resources_copy(&p->res, res);
}

static void run_parked_recoveries(struct cm_master *m)
{
    for (size_t i = 0; i < m->npending; i++) {
        struct cm_pending_recover *p = &m->pending[i];
        cm_allocator_recover(m->allocator, p->fw, p->role, p->agent, &p->res, 0);
        free(p->fw);
        free(p->role);
        free(p->agent);
        cm_resources_cleanup(&p->res);
    }
    m->npending = 0;
}

static void allocator_offer_cb(void *arg, const char *framework_id, const char *role,
                               const char *agent_id, const struct cm_resources *resources)
{
    struct cm_master *m = arg;
    struct cm_framework *fw = cm_master_framework(m, framework_id);
    struct cm_agent *agent = cm_master_agent(m, agent_id);
    if (!fw || !agent || !fw->connected || !agent->connected) {
        CM_WARN(MOD, "Allocation to framework %s on agent %s cannot be offered; recovering",
                framework_id, agent_id);
        park_recovery(m, framework_id, role, agent_id, resources);
        return;
    }
    struct cm_offer *o = cm_xcalloc(1, sizeof *o);
    char id[64];
    snprintf(id, sizeof id, "%s-O%llu", m->id, (unsigned long long)m->next_offer++);
    o->id = cm_xstrdup(id);
    o->fw = fw;
    o->agent = agent;
    o->role = cm_xstrdup(role);
    cm_resources_init(&o->resources);
    cm_resources_copy(&o->resources, resources);
    o->created = cm_clock_now(m->clock);
    o->prev = m->offers_tail;
    if (m->offers_tail)
        m->offers_tail->next = o;
    else
        m->offers_head = o;
    m->offers_tail = o;
    cm_strmap_put(&m->offers, o->id, o);
    cm_strmap_put(&fw->offers, o->id, o);
    cm_strmap_put(&agent->offers, o->id, o);
    cm_resources_add(&fw->offered, resources);
    cm_resources_add(&agent->offered, resources);
    if (fw->nbatch == fw->batch_cap) {
        fw->batch_cap = fw->batch_cap ? fw->batch_cap * 2 : 8;
        fw->batch = cm_xrealloc(fw->batch, fw->batch_cap * sizeof *fw->batch);
    }
    fw->batch[fw->nbatch++] = o;
    o->batched = true;
    batch_list_add(m, fw);
}

/* Builds the wire Offer for o. Strings are borrowed; free with free_offer_msg. */
static Mesos__V1__Offer *build_offer_msg(struct cm_offer *o)
{
    struct cm_agent *a = o->agent;
    struct cm_framework *fw = o->fw;
    Mesos__V1__Offer *msg = cm_xcalloc(1, sizeof *msg);
    mesos__v1__offer__init(msg);
    msg->id = cm_xcalloc(1, sizeof *msg->id);
    mesos__v1__offer_id__init(msg->id);
    msg->id->value = o->id;
    msg->framework_id = cm_xcalloc(1, sizeof *msg->framework_id);
    mesos__v1__framework_id__init(msg->framework_id);
    msg->framework_id->value = fw->id;
    msg->agent_id = cm_xcalloc(1, sizeof *msg->agent_id);
    mesos__v1__agent_id__init(msg->agent_id);
    msg->agent_id->value = a->id;
    msg->hostname = a->hostname;
    msg->url = cm_xcalloc(1, sizeof *msg->url);
    mesos__v1__url__init(msg->url);
    msg->url->scheme = "http";
    msg->url->path = "/slave(1)";
    msg->url->address = cm_xcalloc(1, sizeof *msg->url->address);
    mesos__v1__address__init(msg->url->address);
    msg->url->address->hostname = a->hostname;
    msg->url->address->ip = a->ip;
    msg->url->address->port = a->port;
    msg->domain = a->info->domain;
    cm_resources_to_proto(&o->resources, fw->multi_role ? o->role : NULL, &msg->resources,
                          &msg->n_resources);
    msg->n_attributes = a->info->n_attributes;
    msg->attributes = a->info->attributes;
    if (fw->multi_role) {
        msg->allocation_info = cm_xcalloc(1, sizeof *msg->allocation_info);
        mesos__v1__resource__allocation_info__init(msg->allocation_info);
        msg->allocation_info->role = o->role;
    }
    return msg;
}

static void free_offer_msg(Mesos__V1__Offer *msg)
{
    free(msg->id);
    free(msg->framework_id);
    free(msg->agent_id);
    free(msg->url->address);
    free(msg->url);
    cm_resources_proto_free(msg->resources, msg->n_resources);
    free(msg->allocation_info);
    free(msg);
}

static void flush_batches(struct cm_master *m)
{
    for (size_t i = 0; i < m->nbatch_list; i++) {
        struct cm_framework *fw = m->batch_list[i];
        fw->in_batch_list = false;
        if (fw->nbatch == 0)
            continue;
        Mesos__V1__Offer **msgs = cm_xcalloc(fw->nbatch, sizeof *msgs);
        for (size_t j = 0; j < fw->nbatch; j++) {
            fw->batch[j]->batched = false;
            msgs[j] = build_offer_msg(fw->batch[j]);
        }
        Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
        Mesos__V1__Scheduler__Event__Offers offers = MESOS__V1__SCHEDULER__EVENT__OFFERS__INIT;
        offers.n_offers = fw->nbatch;
        offers.offers = msgs;
        ev.has_type = 1;
        ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS;
        ev.offers = &offers;
        cm_master_send_event(m, fw, &ev);
        fw->metrics.offers_sent += fw->nbatch;
        for (size_t j = 0; j < fw->nbatch; j++)
            free_offer_msg(msgs[j]);
        free(msgs);
        fw->nbatch = 0;
    }
    m->nbatch_list = 0;
}

void cm_master_allocate(struct cm_master *m)
{
    /* A master that does not lead (or was paused past its session) never offers. */
    if (!cm_contender_acting(m->contender))
        return;
    double t0 = cm_monotonic_secs();
    cm_allocator_run(m->allocator);
    double ms = (cm_monotonic_secs() - t0) * 1000.0;
    m->metrics.allocation_runs++;
    cm_master_record_allocation_ms(m, ms);
    flush_batches(m);
    run_parked_recoveries(m);
}

void cm_master_allocate_soon(struct cm_master *m)
{
    if (m->cron)
        cm_cron_allocate_soon(m->cron);
}

/* ------------------------------------------------------------------------------------------ */
/* tasks */

static void gauge(struct cm_master *m, int state, int delta);

struct cm_task *cm_master_add_task(struct cm_master *m, struct cm_framework *fw,
                                   struct cm_agent *agent, const Mesos__V1__TaskInfo *info,
                                   const struct cm_resources *res, const char *role)
{
    struct cm_task *t = cm_xcalloc(1, sizeof *t);
    t->id = cm_xstrdup(info->task_id->value);
    t->fw = fw;
    t->agent = agent;
    t->agent_id = cm_xstrdup(agent->id);
    t->role = cm_xstrdup(role);
    t->info = (Mesos__V1__TaskInfo *)cm_pb_dup(&info->base);
    t->state = MESOS__V1__TASK_STATE__TASK_STAGING;
    t->status_update_state = -1;
    cm_resources_init(&t->resources);
    cm_resources_copy(&t->resources, res);
    t->updated = cm_clock_now(m->clock);
    cm_strmap_put(&fw->tasks, t->id, t);
    char key[600];
    snprintf(key, sizeof key, "%s %s", fw->id, t->id);
    cm_strmap_put(&agent->tasks, key, t);
    cm_resources_add(&fw->used, res);
    cm_resources_add(&agent->used, res);
    gauge(m, t->state, 1);
    return t;
}

/* Active tasks by state, for the master/tasks_<state> gauges. */
static void gauge(struct cm_master *m, int state, int delta)
{
    if (state >= 0 && state < 16)
        m->metrics.task_gauge[state] += delta;
}

static void task_release(struct cm_master *m, struct cm_task *t)
{
    if (t->released)
        return;
    t->released = true;
    cm_allocator_recover(m->allocator, t->fw->id, t->role, t->agent_id, &t->resources, 0);
    cm_resources_subtract(&t->fw->used, &t->resources);
    if (t->agent)
        cm_resources_subtract(&t->agent->used, &t->resources);
}

/* Takes void * so that it can free the values of maps and rings of tasks. */
static void task_free(void *p)
{
    struct cm_task *t = p;
    if (!t)
        return;
    free(t->id);
    free(t->agent_id);
    free(t->role);
    if (t->info)
        protobuf_c_message_free_unpacked(&t->info->base, NULL);
    for (size_t i = 0; i < t->nstatuses; i++)
        protobuf_c_message_free_unpacked(&t->statuses[i]->base, NULL);
    free(t->statuses);
    cm_resources_cleanup(&t->resources);
    free(t);
}

static void task_add_status(struct cm_task *t, const Mesos__V1__TaskStatus *st)
{
    if (t->nstatuses == MAX_STATUSES) {
        protobuf_c_message_free_unpacked(&t->statuses[0]->base, NULL);
        memmove(t->statuses, t->statuses + 1, (MAX_STATUSES - 1) * sizeof *t->statuses);
        t->nstatuses--;
    }
    t->statuses = cm_xrealloc(t->statuses, (t->nstatuses + 1) * sizeof *t->statuses);
    t->statuses[t->nstatuses++] = (Mesos__V1__TaskStatus *)cm_pb_dup(&st->base);
}

void cm_master_update_task(struct cm_master *m, struct cm_task *t, const Mesos__V1__TaskStatus *st,
                           int latest_state)
{
    int old = t->state;
    int now_state = latest_state >= 0 ? latest_state : (int)st->state;
    if (cm_strmap_get(&t->fw->tasks, t->id) == t) {
        gauge(m, old, -1);
        gauge(m, now_state, 1);
    }
    t->state = now_state;
    t->status_update_state = (int)st->state;
    t->has_uuid = st->has_uuid && st->uuid.len == 16;
    if (t->has_uuid)
        memcpy(t->uuid, st->uuid.data, 16);
    task_add_status(t, st);
    t->updated = st->has_timestamp ? st->timestamp : cm_clock_now(m->clock);
    if (now_state != old)
        cm_master_count_status(m, now_state, st->source, st->has_source, st->reason,
                               st->has_reason);
    if (cm_task_state_terminal(now_state))
        task_release(m, t);
}

void cm_master_restore_task(struct cm_master *m, struct cm_task *t, const Mesos__V1__Task *rep)
{
    gauge(m, t->state, -1);
    t->state = rep->state;
    gauge(m, t->state, 1);
    for (size_t i = 0; i < rep->n_statuses; i++)
        task_add_status(t, rep->statuses[i]);
    if (rep->n_statuses > 0 && rep->statuses[rep->n_statuses - 1]->has_timestamp)
        t->updated = rep->statuses[rep->n_statuses - 1]->timestamp;
    t->status_update_state = rep->has_status_update_state ? (int)rep->status_update_state : -1;
    t->has_uuid = rep->has_status_update_uuid && rep->status_update_uuid.len == 16;
    if (t->has_uuid)
        memcpy(t->uuid, rep->status_update_uuid.data, 16);
    if (cm_task_state_terminal(t->state)) {
        /* Never allocated: the caller only tells the allocator about live tasks. */
        t->released = true;
        cm_resources_subtract(&t->fw->used, &t->resources);
        if (t->agent)
            cm_resources_subtract(&t->agent->used, &t->resources);
    }
}

/* Takes a task out of the live state: its resources go back to the allocator and it leaves its
 * framework's active tasks and its agent's index. The caller then keeps it as completed or
 * unreachable (or frees it). */
static void task_detach(struct cm_master *m, struct cm_task *t)
{
    struct cm_framework *fw = t->fw;
    task_release(m, t);
    if (cm_strmap_get(&fw->tasks, t->id) == t) {
        gauge(m, t->state, -1);
        cm_strmap_remove(&fw->tasks, t->id);
    }
    if (t->agent) {
        char key[600];
        snprintf(key, sizeof key, "%s %s", fw->id, t->id);
        cm_strmap_remove(&t->agent->tasks, key);
        t->agent = NULL;
    }
}

void cm_master_complete_task(struct cm_master *m, struct cm_task *t)
{
    task_detach(m, t);
    cm_ring_push(&t->fw->completed_tasks, t);
}

void cm_master_task_unreachable(struct cm_master *m, struct cm_task *t, double when)
{
    struct cm_framework *fw = t->fw;
    task_detach(m, t);
    t->unreachable_time = when;
    size_t cap = (size_t)m->flags->max_unreachable_tasks_per_framework;
    if (cap == 0) {
        task_free(t);
        return;
    }
    struct cm_task *old = cm_strmap_put(&fw->unreachable_tasks, t->id, t);
    if (old)
        cm_master_forget_unreachable_task(fw, old, true);
    t->uprev = fw->utail;
    t->unext = NULL;
    if (fw->utail)
        fw->utail->unext = t;
    else
        fw->uhead = t;
    fw->utail = t;
    while (cm_strmap_count(&fw->unreachable_tasks) > cap)
        cm_master_forget_unreachable_task(fw, fw->uhead, false);
}

void cm_master_forget_unreachable_task(struct cm_framework *fw, struct cm_task *t, bool unlinked)
{
    if (!unlinked && cm_strmap_get(&fw->unreachable_tasks, t->id) == t)
        cm_strmap_remove(&fw->unreachable_tasks, t->id);
    if (t->uprev)
        t->uprev->unext = t->unext;
    else if (fw->uhead == t)
        fw->uhead = t->unext;
    if (t->unext)
        t->unext->uprev = t->uprev;
    else if (fw->utail == t)
        fw->utail = t->uprev;
    task_free(t);
}

void cm_master_send_master_update(struct cm_master *m, struct cm_framework *fw, const char *task_id,
                                  const char *agent_id, int state, int reason, const char *message)
{
    cm_master_send_master_update_ex(m, fw, task_id, agent_id, state, reason, message, -1);
}

void cm_master_send_master_update_ex(struct cm_master *m, struct cm_framework *fw,
                                     const char *task_id, const char *agent_id, int state,
                                     int reason, const char *message, double unreachable_time)
{
    Mesos__V1__TimeInfo ut = MESOS__V1__TIME_INFO__INIT;
    Mesos__V1__TaskStatus st = MESOS__V1__TASK_STATUS__INIT;
    Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    tid.value = (char *)task_id;
    st.task_id = &tid;
    st.state = state;
    if (agent_id) {
        aid.value = (char *)agent_id;
        st.agent_id = &aid;
    }
    st.has_source = 1;
    st.source = MESOS__V1__TASK_STATUS__SOURCE__SOURCE_MASTER;
    st.has_reason = 1;
    st.reason = reason;
    st.message = (char *)message;
    st.has_timestamp = 1;
    st.timestamp = cm_clock_now(m->clock);
    if (unreachable_time >= 0) {
        ut.nanoseconds = (int64_t)(unreachable_time * 1e9);
        st.unreachable_time = &ut;
    }
    Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
    Mesos__V1__Scheduler__Event__Update up = MESOS__V1__SCHEDULER__EVENT__UPDATE__INIT;
    up.status = &st;
    ev.has_type = 1;
    ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE;
    ev.update = &up;
    cm_master_send_event(m, fw, &ev);
}

void cm_master_transition_task(struct cm_master *m, struct cm_framework *fw, struct cm_task *t,
                               const char *agent_id, int state, int reason, const char *message,
                               double unreachable_time)
{
    Mesos__V1__TaskStatus st = MESOS__V1__TASK_STATUS__INIT;
    Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
    Mesos__V1__TimeInfo ut = MESOS__V1__TIME_INFO__INIT;
    tid.value = t->id;
    st.task_id = &tid;
    st.state = state;
    st.has_source = 1;
    st.source = MESOS__V1__TASK_STATUS__SOURCE__SOURCE_MASTER;
    st.has_reason = 1;
    st.reason = reason;
    st.has_timestamp = 1;
    st.timestamp = cm_clock_now(m->clock);
    if (unreachable_time >= 0) {
        ut.nanoseconds = (int64_t)(unreachable_time * 1e9);
        st.unreachable_time = &ut;
    }
    cm_master_update_task(m, t, &st, -1);
    cm_master_send_master_update_ex(m, fw, t->id, agent_id, state, reason, message,
                                    unreachable_time);
}

/* ------------------------------------------------------------------------------------------ */
/* frameworks */

static void fw_set_info(struct cm_framework *fw, const Mesos__V1__FrameworkInfo *info,
                        const char *id, char *const *suppressed, size_t nsuppressed)
{
    Mesos__V1__FrameworkInfo *copy = (Mesos__V1__FrameworkInfo *)cm_pb_dup(&info->base);
    if (!copy->id) {
        copy->id = cm_xcalloc(1, sizeof *copy->id);
        mesos__v1__framework_id__init(copy->id);
    } else {
        free(copy->id->value);
    }
    copy->id->value = cm_xstrdup(id);
    if (fw->info) {
        /* user and checkpoint are immutable: a re-subscription silently keeps the old ones. */
        free(copy->user);
        copy->user = cm_xstrdup(fw->info->user);
        copy->has_checkpoint = fw->info->has_checkpoint;
        copy->checkpoint = fw->info->checkpoint;
        protobuf_c_message_free_unpacked(&fw->info->base, NULL);
    }
    fw->info = copy;
    free_strv(fw->roles, fw->nroles);
    free_strv(fw->suppressed, fw->nsuppressed);
    fw->multi_role = has_capability(copy, MESOS__V1__FRAMEWORK_INFO__CAPABILITY__TYPE__MULTI_ROLE);
    fw->partition_aware =
        has_capability(copy, MESOS__V1__FRAMEWORK_INFO__CAPABILITY__TYPE__PARTITION_AWARE);
    if (fw->multi_role) {
        fw->roles = dup_strv(copy->roles, copy->n_roles);
        fw->nroles = copy->n_roles;
    } else {
        const char *r = info_role(copy);
        fw->roles = dup_strv((char *const *)&r, 1);
        fw->nroles = 1;
    }
    fw->suppressed = dup_strv(suppressed, nsuppressed);
    fw->nsuppressed = nsuppressed;
}

static struct cm_framework *fw_new(struct cm_master *m, const char *id)
{
    struct cm_framework *fw = cm_xcalloc(1, sizeof *fw);
    fw->id = cm_xstrdup(id);
    cm_strmap_init(&fw->tasks);
    cm_strmap_init(&fw->offers);
    cm_strmap_init(&fw->unreachable_tasks);
    cm_ring_init(&fw->completed_tasks, (size_t)m->flags->max_completed_tasks_per_framework,
                 task_free);
    cm_resources_init(&fw->used);
    cm_resources_init(&fw->offered);
    fw->registered_time = cm_clock_now(m->clock);
    cm_strmap_put(&m->frameworks, fw->id, fw);
    return fw;
}

/* Takes void * so that it can free the values of maps and rings of frameworks. */
static void fw_free(void *p)
{
    struct cm_framework *fw = p;
    if (!fw)
        return;
    cm_strmap_cleanup_values(&fw->tasks, task_free);
    cm_ring_cleanup(&fw->completed_tasks);
    cm_strmap_cleanup_values(&fw->unreachable_tasks, task_free); /* = the uhead list */
    cm_strmap_cleanup(&fw->offers);
    free(fw->batch);
    cm_resources_cleanup(&fw->used);
    cm_resources_cleanup(&fw->offered);
    free_strv(fw->roles, fw->nroles);
    free_strv(fw->suppressed, fw->nsuppressed);
    if (fw->info)
        protobuf_c_message_free_unpacked(&fw->info->base, NULL);
    free(fw->id);
    free(fw);
}

static void send_subscribed(struct cm_master *m, struct cm_framework *fw)
{
    Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
    Mesos__V1__Scheduler__Event__Subscribed sub = MESOS__V1__SCHEDULER__EVENT__SUBSCRIBED__INIT;
    sub.framework_id = fw->info->id;
    sub.has_heartbeat_interval_seconds = 1;
    sub.heartbeat_interval_seconds = 15.0;
    sub.master_info = m->info;
    ev.has_type = 1;
    ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__SUBSCRIBED;
    ev.subscribed = &sub;
    cm_master_send_event(m, fw, &ev);
    send_simple_event(m, fw, MESOS__V1__SCHEDULER__EVENT__TYPE__HEARTBEAT);
}

static void refuse(const struct cm_sink *sink, const char *message)
{
    struct cm_sink s = *sink;
    CM_WARN(MOD, "Refusing subscription: %s", message);
    send_error_event(&s, message);
    cm_sink_end(&s);
}

struct cm_framework *cm_master_subscribe(struct cm_master *m,
                                         const Mesos__V1__Scheduler__Call *call,
                                         const struct cm_sink *sink, const char *stream_id)
{
    const Mesos__V1__Scheduler__Call__Subscribe *sub = call->subscribe;
    const Mesos__V1__FrameworkInfo *info = sub->framework_info;
    char why[512];
    if (cm_master_validate_framework_info(m, info, sub->suppressed_roles, sub->n_suppressed_roles,
                                          why, sizeof why)) {
        refuse(sink, why);
        return NULL;
    }
    const char *id = info->id && info->id->value && info->id->value[0] ? info->id->value : NULL;
    struct cm_framework *fw = NULL;
    bool fresh = false;
    double now = cm_clock_now(m->clock);
    if (id) {
        m->metrics.messages_reregister_framework++;
        if (cm_strmap_get(&m->completed, id) || cm_strmap_get(&m->removed_ids, id)) {
            refuse(sink, "Framework has been removed");
            return NULL;
        }
        fw = cm_master_framework(m, id);
        if (fw) {
            const char *oldp = fw->info->principal, *newp = info->principal;
            if ((oldp || newp) && (!oldp || !newp || strcmp(oldp, newp) != 0)) {
                refuse(sink, "Changing framework's principal is not allowed.");
                return NULL;
            }
            if (fw->connected) {
                CM_INFO(MOD, "Framework %s failed over", fw->id);
                send_error_event(&fw->sink, "Framework failed over");
                cm_sink_end(&fw->sink);
            }
            /* The new scheduler instance never saw the old offers: take them back quietly. */
            remove_offers_of(m, &fw->offers, false);
            fw->reregistered_time = now;
        } else {
            fw = fw_new(m, id);
            fresh = true;
        }
    } else {
        m->metrics.messages_register_framework++;
        char nid[64];
        snprintf(nid, sizeof nid, "%s-%04llu", m->id, (unsigned long long)m->next_framework++);
        fw = fw_new(m, nid);
        fresh = true;
    }
    fw_set_info(fw, info, fw->id, sub->suppressed_roles, sub->n_suppressed_roles);
    fw->sink = *sink;
    snprintf(fw->stream_id, sizeof fw->stream_id, "%s", stream_id ? stream_id : "");
    fw->connected = fw->active = true;
    fw->recovered = false;
    fw->failover_deadline = 0;
    fw->unregistered_time = 0;
    const char *const *roles = (const char *const *)fw->roles;
    const char *const *supp = (const char *const *)fw->suppressed;
    if (fresh)
        cm_allocator_add_framework(m->allocator, fw->id, roles, fw->nroles, supp, fw->nsuppressed);
    else
        cm_allocator_update_framework(m->allocator, fw->id, roles, fw->nroles, supp,
                                      fw->nsuppressed);
    cm_allocator_activate_framework(m->allocator, fw->id, true);
    CM_INFO(MOD, "Framework %s (%s) subscribed", fw->id, fw->info->name);
    send_subscribed(m, fw);
    /* A re-subscription may change the FrameworkInfo: the agents refresh their copies. */
    if (!fresh)
        cm_master_send_framework_update(m, fw);
    cm_master_allocate_soon(m);
    return fw;
}

void cm_master_send_framework_update(struct cm_master *m, struct cm_framework *fw)
{
    Cmesos__Internal__AgentEvent ev = CMESOS__INTERNAL__AGENT_EVENT__INIT;
    Cmesos__Internal__AgentEvent__UpdateFramework uf =
        CMESOS__INTERNAL__AGENT_EVENT__UPDATE_FRAMEWORK__INIT;
    uf.framework_info = fw->info;
    ev.has_type = 1;
    ev.type = CMESOS__INTERNAL__AGENT_EVENT__TYPE__UPDATE_FRAMEWORK;
    ev.update_framework = &uf;
    /* The agents that run its executors are those holding its tasks (the command executor
     * lives exactly as long as its task); each gets the event once. */
    struct cm_strmap sent;
    cm_strmap_init(&sent);
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &fw->tasks); cm_strmap_iter_next(&it);) {
        struct cm_task *t = it.cur->value;
        if (!t->agent || !t->agent->connected || cm_strmap_get(&sent, t->agent->id))
            continue;
        cm_strmap_put(&sent, t->agent->id, t->agent);
        cm_master_send_agent(m, t->agent, &ev);
    }
    cm_strmap_cleanup(&sent);
}

struct cm_framework *cm_master_recover_framework(struct cm_master *m,
                                                 const Mesos__V1__FrameworkInfo *info)
{
    struct cm_framework *fw = fw_new(m, info->id->value);
    fw_set_info(fw, info, fw->id, NULL, 0);
    fw->recovered = true;
    cm_allocator_add_framework(m->allocator, fw->id, (const char *const *)fw->roles, fw->nroles,
                               NULL, 0);
    cm_allocator_activate_framework(m->allocator, fw->id, false);
    CM_INFO(MOD, "Recovered framework %s (%s) from an agent's re-registration", fw->id,
            fw->info->name);
    return fw;
}

void cm_master_apply_framework_info(struct cm_master *m, struct cm_framework *fw,
                                    const Mesos__V1__FrameworkInfo *info, char *const *suppressed,
                                    size_t nsuppressed)
{
    fw_set_info(fw, info, fw->id, suppressed, nsuppressed);
    size_t n = cm_strmap_count(&fw->offers), i = 0;
    struct cm_offer **v = cm_xcalloc(n, sizeof *v);
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &fw->offers); cm_strmap_iter_next(&it);)
        v[i++] = it.cur->value;
    for (i = 0; i < n; i++) {
        bool kept = false;
        for (size_t j = 0; j < fw->nroles; j++)
            kept = kept || strcmp(fw->roles[j], v[i]->role) == 0;
        if (!kept)
            cm_master_remove_offer(m, v[i], true, true, 0);
    }
    free(v);
    cm_allocator_update_framework(m->allocator, fw->id, (const char *const *)fw->roles, fw->nroles,
                                  (const char *const *)fw->suppressed, fw->nsuppressed);
    cm_master_send_framework_update(m, fw);
    cm_master_allocate_soon(m);
}

void cm_master_framework_disconnected(struct cm_master *m, struct cm_framework *fw)
{
    fw->sink.stream = NULL; /* freed by the HTTP layer right after this */
    fw->sink.cb = NULL;
    fw->sink.ref = NULL; /* freed by the close callback */
    if (m->shutting_down || !fw->connected)
        return;
    CM_INFO(MOD, "Framework %s disconnected", fw->id);
    fw->connected = fw->active = false;
    double now = cm_clock_now(m->clock);
    fw->unregistered_time = now;
    cm_allocator_activate_framework(m->allocator, fw->id, false);
    remove_offers_of(m, &fw->offers, false);
    double timeout = fw->info->has_failover_timeout ? fw->info->failover_timeout : 0;
    if (!(timeout > 0)) {
        cm_master_remove_framework(m, fw);
        return;
    }
    fw->failover_deadline = now + timeout;
}

/* Removed framework ids outlive the bounded completed list (a torn-down id never subscribes
 * again); only the ids are kept, at most REMOVED_IDS_MAX of them. */
#define REMOVED_IDS_MAX 65536

static void remember_removed(struct cm_master *m, const char *id)
{
    if (cm_strmap_get(&m->removed_ids, id))
        return;
    if (cm_ring_full(&m->removed_ring))
        cm_strmap_remove(&m->removed_ids, cm_ring_at(&m->removed_ring, 0));
    char *copy = cm_xstrdup(id);
    cm_ring_push(&m->removed_ring, copy);
    cm_strmap_put(&m->removed_ids, copy, copy);
}

void cm_master_remove_framework(struct cm_master *m, struct cm_framework *fw)
{
    CM_INFO(MOD, "Removing framework %s (%s)", fw->id, fw->info ? fw->info->name : "");
    if (sink_open(&fw->sink))
        cm_sink_end(&fw->sink);
    fw->connected = fw->active = false;
    remove_offers_of(m, &fw->offers, false);

    /* Kill what it has on every connected agent, then account its tasks as killed. */
    Cmesos__Internal__AgentEvent ev = CMESOS__INTERNAL__AGENT_EVENT__INIT;
    Cmesos__Internal__AgentEvent__ShutdownFramework sf =
        CMESOS__INTERNAL__AGENT_EVENT__SHUTDOWN_FRAMEWORK__INIT;
    sf.framework_id = fw->info->id;
    ev.has_type = 1;
    ev.type = CMESOS__INTERNAL__AGENT_EVENT__TYPE__SHUTDOWN_FRAMEWORK;
    ev.shutdown_framework = &sf;
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &m->agents); cm_strmap_iter_next(&it);) {
        struct cm_agent *a = it.cur->value;
        if (a->connected)
            cm_master_send_agent(m, a, &ev);
    }
    size_t n = cm_strmap_count(&fw->tasks), i = 0;
    struct cm_task **tasks = cm_xcalloc(n, sizeof *tasks);
    for (cm_strmap_iter_init(&it, &fw->tasks); cm_strmap_iter_next(&it);)
        tasks[i++] = it.cur->value;
    for (i = 0; i < n; i++) {
        struct cm_task *t = tasks[i];
        if (!cm_task_state_terminal(t->state)) {
            gauge(m, t->state, -1);
            gauge(m, MESOS__V1__TASK_STATE__TASK_KILLED, 1);
            t->state = MESOS__V1__TASK_STATE__TASK_KILLED;
            m->metrics.tasks_terminal[MESOS__V1__TASK_STATE__TASK_KILLED]++;
        }
        cm_master_complete_task(m, t);
    }
    free(tasks);
    cm_allocator_remove_framework(m->allocator, fw->id);
    cm_strmap_remove(&m->frameworks, fw->id);
    remember_removed(m, fw->id);
    fw->completed = true;
    fw->unregistered_time = cm_clock_now(m->clock);
    size_t cap = (size_t)m->flags->max_completed_frameworks;
    if (cap == 0) {
        fw_free(fw);
        return;
    }
    /* The flag is read when first needed (the ring never shrinks, so empty = unused). */
    if (cm_ring_count(&m->completed_list) == 0)
        cm_ring_init(&m->completed_list, cap, fw_free);
    if (cm_ring_full(&m->completed_list)) {
        const struct cm_framework *old = cm_ring_at(&m->completed_list, 0);
        cm_strmap_remove(&m->completed, old->id);
    }
    cm_ring_push(&m->completed_list, fw);
    cm_strmap_put(&m->completed, fw->id, fw);
}

/* ------------------------------------------------------------------------------------------ */
/* agents (shared part; the link itself is agent_api.c) */

static bool fw_checkpoints(const struct cm_framework *fw)
{
    return fw->info && fw->info->has_checkpoint && fw->info->checkpoint;
}

/* Protocol doc §11.2: when an agent's connection breaks, tasks of frameworks that do not
 * checkpoint cannot survive an agent restart, so they are lost at once; checkpointing ones wait
 * for the agent to come back or for it to be marked unreachable. */
static void lose_uncheckpointed_tasks(struct cm_master *m, struct cm_agent *agent)
{
    size_t n = cm_strmap_count(&agent->tasks), k = 0;
    if (n == 0)
        return;
    struct cm_task **v = cm_xcalloc(n, sizeof *v);
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &agent->tasks); cm_strmap_iter_next(&it);) {
        struct cm_task *t = it.cur->value;
        if (!fw_checkpoints(t->fw))
            v[k++] = t;
    }
    for (size_t i = 0; i < k; i++) {
        struct cm_task *t = v[i];
        char key[600];
        snprintf(key, sizeof key, "%s %s", t->fw->id, t->id);
        if (!cm_task_state_terminal(t->state)) {
            cm_master_transition_task(m, t->fw, t, agent->id, MESOS__V1__TASK_STATE__TASK_LOST,
                                      MESOS__V1__TASK_STATUS__REASON__REASON_AGENT_DISCONNECTED,
                                      "Agent disconnected", -1);
            cm_strmap_put(&agent->lost_tasks, key, agent);
        }
        cm_master_complete_task(m, t);
    }
    free(v);
}

void cm_master_agent_disconnected(struct cm_master *m, struct cm_agent *agent)
{
    agent->sink.stream = NULL;
    agent->sink.cb = NULL;
    agent->sink.ref = NULL;
    if (m->shutting_down || !agent->connected)
        return;
    CM_INFO(MOD, "Agent %s (%s) disconnected", agent->id, agent->hostname);
    agent->connected = agent->active = false;
    agent->disconnected_time = cm_clock_now(m->clock);
    cm_allocator_activate_agent(m->allocator, agent->id, false);
    remove_offers_of(m, &agent->offers, true);
    lose_uncheckpointed_tasks(m, agent);
}

/* ------------------------------------------------------------------------------------------ */
/* time */

void cm_master_registrar_failed(struct cm_master *m)
{
    if (m->registrar_failed)
        return;
    m->registrar_failed = true;
    CM_ERROR(MOD, "The registry can no longer be written; the master stops (as Mesos does) so "
                  "that it never acts on state it could not record");
    if (m->base)
        event_base_loopbreak(m->base);
}

static void unreachable_recorded(void *arg, int err)
{
    if (err) {
        CM_ERROR(MOD, "Failed to mark an agent unreachable in the registry: %s", cm_strerror(err));
        cm_master_registrar_failed(arg);
    }
}

/* Agents admitted before a master restart that did not re-register within
 * --agent_reregister_timeout are marked unreachable (their tasks are unknown to this master, so
 * there is nothing else to update; frameworks learn through reconciliation). */
static void expire_recovering_agents(struct cm_master *m)
{
    double now = cm_clock_now(m->clock);
    struct cm_strmap_iter it;
    cm_registrar_hold(m->registrar); /* one registry store for all of them */
    for (cm_strmap_iter_init(&it, &m->recovering_agents); cm_strmap_iter_next(&it);) {
        CM_WARN(MOD,
                "Agent %s did not re-register within %gs after the master's recovery; "
                "marking it unreachable",
                it.cur->key, m->flags->agent_reregister_timeout);
        m->metrics.recovery_slave_removals++;
        m->metrics.slave_unreachable_scheduled++;
        m->metrics.slave_unreachable_completed++;
        cm_registrar_mark_unreachable(m->registrar, it.cur->key, now, unreachable_recorded, m);
        cm_strmap_iter_remove(&it);
    }
    cm_registrar_release(m->registrar);
}

static void gc_done(void *arg, int err)
{
    size_t *pruned = arg;
    if (!err && *pruned)
        CM_INFO(MOD, "Pruned %zu unreachable agents from the registry", *pruned);
    free(pruned);
}

void cm_master_registry_gc(struct cm_master *m)
{
    size_t *pruned = cm_xcalloc(1, sizeof *pruned);
    cm_registrar_gc(m->registrar, cm_clock_now(m->clock), m->flags->registry_max_agent_age,
                    (size_t)m->flags->registry_max_agent_count, pruned, gc_done, pruned);
}

bool cm_master_agent_recovering(const struct cm_master *m, const char *id)
{
    return id && cm_strmap_get(&m->recovering_agents, id) != NULL;
}

void cm_master_check_timeouts(struct cm_master *m)
{
    double now = cm_clock_now(m->clock);
    double to = m->flags->offer_timeout;
    if (to > 0) {
        /* Offers are listed in creation order and share one timeout: the head expires first. */
        while (m->offers_head && m->offers_head->created + to <= now) {
            struct cm_offer *o = m->offers_head;
            CM_INFO(MOD, "Offer %s timed out", o->id);
            cm_master_remove_offer(m, o, true, true, 0);
        }
    }
    size_t n = 0, cap = 0;
    struct cm_framework **due = NULL;
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &m->frameworks); cm_strmap_iter_next(&it);) {
        struct cm_framework *fw = it.cur->value;
        if (!fw->connected && !fw->recovered && fw->failover_deadline > 0 &&
            fw->failover_deadline <= now) {
            if (n == cap) {
                cap = cap ? cap * 2 : 8;
                due = cm_xrealloc(due, cap * sizeof *due);
            }
            due[n++] = fw;
        }
    }
    for (size_t i = 0; i < n; i++) {
        CM_INFO(MOD, "Framework %s failover timeout elapsed", due[i]->id);
        cm_master_remove_framework(m, due[i]);
    }
    free(due);
    if (cm_strmap_count(&m->recovering_agents) > 0 && now >= m->recovery_deadline)
        expire_recovering_agents(m);
    if (m->next_registry_gc > 0 && now >= m->next_registry_gc) {
        m->next_registry_gc = now + m->flags->registry_gc_interval;
        cm_master_registry_gc(m);
    }
}

void cm_master_heartbeat(struct cm_master *m)
{
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &m->frameworks); cm_strmap_iter_next(&it);) {
        struct cm_framework *fw = it.cur->value;
        if (fw->connected)
            send_simple_event(m, fw, MESOS__V1__SCHEDULER__EVENT__TYPE__HEARTBEAT);
    }
}

void cm_master_ping_agents(struct cm_master *m)
{
    Cmesos__Internal__AgentEvent ev = CMESOS__INTERNAL__AGENT_EVENT__INIT;
    ev.has_type = 1;
    ev.type = CMESOS__INTERNAL__AGENT_EVENT__TYPE__PING;
    double now = cm_clock_now(m->clock);
    double limit = m->flags->agent_ping_timeout * (double)m->flags->max_agent_ping_timeouts;
    size_t n = 0;
    struct cm_agent **silent = cm_xcalloc(cm_strmap_count(&m->agents), sizeof *silent);
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &m->agents); cm_strmap_iter_next(&it);) {
        struct cm_agent *a = it.cur->value;
        if (!a->connected) {
            /* A closed stream gets the same budget as missed pings to come back. */
            if (a->disconnected_time > 0 && now - a->disconnected_time >= limit)
                silent[n++] = a;
            continue;
        }
        if (now - a->last_pong >= limit)
            silent[n++] = a;
        else
            cm_master_send_agent(m, a, &ev);
    }
    /* Collected first: marking an agent unreachable removes it from m->agents. All of them go
     * into the registry in one store (registrar.h, cm_registrar_hold). */
    cm_registrar_hold(m->registrar);
    for (size_t i = 0; i < n; i++) {
        struct cm_agent *a = silent[i];
        char why[128];
        if (a->connected)
            snprintf(why, sizeof why, "missed %ld pings", m->flags->max_agent_ping_timeouts);
        else
            snprintf(why, sizeof why, "did not reconnect within %gs", limit);
        cm_master_mark_agent_unreachable(m, a, why);
    }
    cm_registrar_release(m->registrar);
    free(silent);
}

/* ------------------------------------------------------------------------------------------ */
/* lifecycle */

static int parse_weights(struct cm_master *m, const char *text)
{
    char *copy = cm_xstrdup(text), *save = NULL;
    int rc = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        char *end = NULL;
        if (!eq) {
            rc = CM_EINVAL;
            break;
        }
        *eq = 0;
        double w = strtod(eq + 1, &end);
        const char *why = NULL;
        if (!end || *end || !(w > 0) || cm_role_validate(tok, &why) != 0 ||
            cm_allocator_set_weight(m->allocator, tok, w) != 0) {
            rc = CM_EINVAL;
            break;
        }
    }
    free(copy);
    return rc;
}

static void resolve_addresses(struct cm_master *m)
{
    const struct cm_master_flags *f = m->flags;
    const char *ip = f->advertise_ip ? f->advertise_ip : f->ip;
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0)
        snprintf(host, sizeof host, "localhost");
    if (strcmp(ip, "0.0.0.0") == 0) {
        /* Advertise an address peers can reach: what our hostname resolves to. */
        snprintf(m->ip, sizeof m->ip, "127.0.0.1");
        struct addrinfo hints = {.ai_family = AF_INET}, *res = NULL;
        if (getaddrinfo(host, NULL, &hints, &res) == 0 && res) {
            struct sockaddr_in *sin = (struct sockaddr_in *)res->ai_addr;
            inet_ntop(AF_INET, &sin->sin_addr, m->ip, sizeof m->ip);
        }
        if (res)
            freeaddrinfo(res);
    } else {
        snprintf(m->ip, sizeof m->ip, "%s", ip);
    }
    if (f->hostname)
        snprintf(m->hostname, sizeof m->hostname, "%s", f->hostname);
    else if (strcmp(ip, "0.0.0.0") == 0 && f->hostname_lookup)
        snprintf(m->hostname, sizeof m->hostname, "%s", host);
    else
        snprintf(m->hostname, sizeof m->hostname, "%s", m->ip);
}

static void free_master_info(Mesos__V1__MasterInfo *mi)
{
    if (!mi)
        return;
    free(mi->id);
    free(mi->pid);
    free(mi->hostname);
    free(mi->version);
    if (mi->address) {
        free(mi->address->hostname);
        free(mi->address->ip);
        free(mi->address);
    }
    for (size_t i = 0; i < mi->n_capabilities; i++)
        free(mi->capabilities[i]);
    free(mi->capabilities);
    free(mi);
}

static void build_master_info(struct cm_master *m)
{
    free_master_info(m->info);
    Mesos__V1__MasterInfo *mi = cm_xcalloc(1, sizeof *mi);
    mesos__v1__master_info__init(mi);
    mi->id = cm_xstrdup(m->id);
    struct in_addr addr = {0};
    inet_pton(AF_INET, m->ip, &addr);
    mi->ip = addr.s_addr; /* network byte order kept in a host integer, as Mesos does */
    mi->port = m->port;
    char pid[400];
    snprintf(pid, sizeof pid, "master@%s:%u", m->ip, (unsigned)m->port);
    mi->pid = cm_xstrdup(pid);
    mi->hostname = cm_xstrdup(m->hostname);
    mi->version = cm_xstrdup(CMESOS_VERSION);
    mi->address = cm_xcalloc(1, sizeof *mi->address);
    mesos__v1__address__init(mi->address);
    mi->address->hostname = cm_xstrdup(m->hostname);
    mi->address->ip = cm_xstrdup(m->ip);
    mi->address->port = m->port;
    static const int caps[] = {MESOS__V1__MASTER_INFO__CAPABILITY__TYPE__AGENT_UPDATE,
                               MESOS__V1__MASTER_INFO__CAPABILITY__TYPE__AGENT_DRAINING,
                               MESOS__V1__MASTER_INFO__CAPABILITY__TYPE__QUOTA_V2};
    mi->n_capabilities = 3;
    mi->capabilities = cm_xcalloc(3, sizeof *mi->capabilities);
    for (size_t i = 0; i < 3; i++) {
        mi->capabilities[i] = cm_xcalloc(1, sizeof *mi->capabilities[i]);
        mesos__v1__master_info__capability__init(mi->capabilities[i]);
        mi->capabilities[i]->has_type = 1;
        mi->capabilities[i]->type = caps[i];
    }
    m->info = mi;
    if (m->contender)
        snprintf(m->contender->self, sizeof m->contender->self, "%.250s:%u", m->hostname,
                 (unsigned)m->port);
}

static void registry_recovered(void *arg, int err, const char *why)
{
    struct cm_master *m = arg;
    if (err && cm_contender_is_zk(m->contender))
        cm_contender_step_down(why ? why : "Failed to recover the registry");
    if (err) {
        CM_ERROR(MOD,
                 "%s. Refusing to start: restore the registry from a backup, or move it "
                 "away to start with an empty registry (known agents then re-register as new "
                 "ones).",
                 why ? why : "Failed to recover the registry");
        return;
    }
    /* Every admitted agent is expected back: until it re-registers (or the timeout marks it
     * unreachable) reconciliation of its tasks gets no answer (protocol doc §2.10). */
    double now = cm_clock_now(m->clock);
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, cm_registrar_admitted_map(m->registrar));
         cm_strmap_iter_next(&it);)
        cm_strmap_put(&m->recovering_agents, it.cur->key, (void *)1);
    m->recovery_deadline = now + m->flags->agent_reregister_timeout;
    m->next_registry_gc = now + m->flags->registry_gc_interval;
    if (cm_strmap_count(&m->recovering_agents) > 0)
        CM_INFO(MOD, "Waiting up to %gs for %zu agents of the registry to re-register",
                m->flags->agent_reregister_timeout, cm_strmap_count(&m->recovering_agents));
}

/* ZooKeeper leadership: recover the registry before answering (503 until then); losing
 * leadership ends the process, as in Mesos (contender.h). */
static void on_leadership(void *arg, bool elected)
{
    struct cm_master *m = arg;
    if (!elected)
        cm_contender_step_down("lost leadership (ZooKeeper session expired or znode deleted)");
    m->elected_time = cm_clock_now(m->clock);
    CM_INFO(MOD, "Elected as the leading master; recovering the registry");
    cm_registrar_recover(m->registrar, registry_recovered, m);
}

static int recover_registry(struct cm_master *m)
{
    const struct cm_master_flags *f = m->flags;
    const char *name = f->registry_storage ? f->registry_storage : "in_memory";
    if (f->registry && strcmp(f->registry, "replicated_log") == 0 && !f->zk)
        CM_INFO(MOD,
                "--registry=replicated_log: cmesos keeps the registry in a file under "
                "--work_dir (%s/registry) instead of a replicated log; a replicated registry "
                "comes with ZooKeeper support",
                f->work_dir);
    if (f->agent_reregister_timeout < 600)
        CM_WARN(MOD,
                "--agent_reregister_timeout=%gs is below the 10mins Mesos requires; "
                "accepted (meant for tests)",
                f->agent_reregister_timeout);
    char why[512];
    struct cm_registry_storage *storage = NULL;
    int rc = strcmp(name, "zk") == 0
                 ? cm_registry_storage_zk_new(m->base, &f->zk_url, f->zk_session_timeout, &storage,
                                              why, sizeof why)
                 : cm_registry_storage_new(name, f->work_dir, &storage, why, sizeof why);
    if (rc != 0) {
        CM_ERROR(MOD, "%s", why);
        return CM_EINVAL;
    }
    m->registrar = cm_registrar_new(storage);
    /* With ZooKeeper the registry is recovered once this master is elected (on_leadership). */
    if (cm_contender_is_zk(m->contender))
        return 0;
    cm_registrar_recover(m->registrar, registry_recovered, m);
    /* Today's storages answer at once; a failed recovery is fatal (never a silent reset). */
    if (cm_registrar_failed(m->registrar))
        return CM_EPARSE;
    return 0;
}

struct cm_master *cm_master_new(struct event_base *base, const struct cm_master_flags *flags)
{
    return cm_master_new_clock(base, flags, &cm_clock_real);
}

struct cm_master *cm_master_new_clock(struct event_base *base, const struct cm_master_flags *flags,
                                      const struct cm_clock *clock)
{
    struct cm_master *m = cm_xcalloc(1, sizeof *m);
    m->base = base;
    m->flags = flags;
    m->clock = clock;
    cm_uuid_string(m->id);
    cm_strmap_init(&m->frameworks);
    cm_strmap_init(&m->completed);
    cm_strmap_init(&m->agents);
    cm_strmap_init(&m->offers);
    cm_strmap_init(&m->metrics.task_reasons);
    m->start_time = m->elected_time = cm_clock_now(clock);
    cm_strmap_init(&m->recovering_agents);
    cm_strmap_init(&m->removed_ids);
    cm_ring_init(&m->completed_list, (size_t)flags->max_completed_frameworks, fw_free);
    cm_ring_init(&m->removed_ring, REMOVED_IDS_MAX, free);
    m->allocator = cm_allocator_new(clock, allocator_offer_cb, m);
    if (!m->allocator)
        goto fail;
    m->contender = flags->zk ? cm_contender_zk_new(base, &flags->zk_url, flags->zk_session_timeout,
                                                   on_leadership, m)
                             : cm_contender_standalone_new("");
    if (recover_registry(m) != 0)
        goto fail;
    if (flags->weights && parse_weights(m, flags->weights) != 0) {
        CM_ERROR(MOD, "Invalid --weights '%s' (expected role=weight,...)", flags->weights);
        goto fail;
    }
    resolve_addresses(m);
    m->port = (uint16_t)(flags->advertise_port ? flags->advertise_port : flags->port);
    build_master_info(m);
    return m;
fail:
    cm_master_free(m);
    return NULL;
}

int cm_master_start(struct cm_master *m)
{
    m->http = cm_http_server_new(m->base, "master", 16 * 1024 * 1024);
    if (!m->http)
        return -ENOMEM;
    cm_master_routes(m);
    uint16_t bound = 0;
    int rc = cm_http_server_bind(m->http, m->flags->ip, (uint16_t)m->flags->port, &bound);
    if (rc) {
        CM_ERROR(MOD, "Failed to bind %s:%ld: %s", m->flags->ip, m->flags->port, cm_strerror(rc));
        return rc;
    }
    if (!m->flags->advertise_port)
        m->port = bound;
    build_master_info(m);
    if ((rc = cm_contender_start(m->contender, m->info)) != 0) {
        CM_ERROR(MOD, "Failed to start contending for leadership: %s", cm_strerror(rc));
        return rc;
    }
    if (m->flags->port_file) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", m->flags->port_file);
        FILE *f = fopen(tmp, "w");
        if (!f || fprintf(f, "%u\n", (unsigned)bound) < 0 || fclose(f) != 0 ||
            rename(tmp, m->flags->port_file) != 0) {
            rc = -errno;
            CM_ERROR(MOD, "Failed to write --port_file %s: %s", m->flags->port_file,
                     strerror(errno));
            return rc ? rc : -EIO;
        }
    }
    m->cron = cm_cron_new(m);
    if (!m->cron)
        return -ENOMEM;
    CM_INFO(MOD, "Master %s (%s) started on %s:%u", m->id, m->hostname, m->ip, (unsigned)bound);
    return 0;
}

/* cm_agent_free for maps of agents (their values are void *). */
static void agent_free_value(void *a)
{
    cm_agent_free(a);
}

void cm_agent_free(struct cm_agent *a)
{
    if (!a)
        return;
    cm_strmap_cleanup(&a->tasks);
    cm_strmap_cleanup(&a->offers);
    cm_strmap_cleanup(&a->lost_tasks);
    cm_resources_cleanup(&a->total);
    cm_resources_cleanup(&a->used);
    cm_resources_cleanup(&a->offered);
    if (a->info)
        protobuf_c_message_free_unpacked(&a->info->base, NULL);
    free(a->capabilities);
    free(a->id);
    free(a->pid);
    free(a->ip);
    free(a->hostname);
    free(a->version);
    free(a);
}

void cm_master_free(struct cm_master *m)
{
    if (!m)
        return;
    m->shutting_down = true;
    /* Registrations still waiting for a (ZooKeeper) registry write end now, while their
     * streams exist; registrar_failed is set first only to keep that quiet (main has already
     * taken the exit status). */
    if (m->registrar && cm_registrar_queued(m->registrar) > 0) {
        m->registrar_failed = true;
        cm_registrar_abort(m->registrar, CM_ECLOSED);
    }
    cm_cron_free(m->cron);
    /* Streams end first (their close callbacks only detach while shutting down). */
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &m->frameworks); cm_strmap_iter_next(&it);) {
        struct cm_framework *fw = it.cur->value;
        if (sink_open(&fw->sink))
            cm_sink_end(&fw->sink);
    }
    for (cm_strmap_iter_init(&it, &m->agents); cm_strmap_iter_next(&it);) {
        struct cm_agent *a = it.cur->value;
        if (sink_open(&a->sink)) {
            /* No SHUTDOWN: agents keep their tasks and re-register with the next master. */
            cm_sink_end(&a->sink);
        }
    }
    cm_http_server_free(m->http);
    m->http = NULL;
    while (m->offers_head) {
        struct cm_offer *o = m->offers_head;
        offer_unlink(m, o);
        offer_free(o);
    }
    cm_strmap_cleanup_values(&m->frameworks, fw_free);
    cm_ring_cleanup(&m->completed_list);
    cm_strmap_cleanup_values(&m->agents, agent_free_value);
    cm_strmap_cleanup_values(&m->metrics.task_reasons, free);
    cm_strmap_cleanup(&m->completed);
    cm_strmap_cleanup(&m->offers);
    cm_strmap_cleanup(&m->recovering_agents);
    cm_strmap_cleanup(&m->removed_ids);
    cm_ring_cleanup(&m->removed_ring);
    free(m->batch_list);
    run_parked_recoveries(m);
    free(m->pending);
    cm_allocator_free(m->allocator);
    cm_registrar_free(m->registrar);
    cm_contender_free(m->contender);
    free_master_info(m->info);
    free(m);
}
