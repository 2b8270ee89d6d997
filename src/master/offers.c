/* offers.c: offers and allocation — the allocator's decisions become offers, batched per
 * framework and sent after the cycle; offers are removed (used, declined, rescinded, expired)
 * here. Part of the master's core: it calls only the core and src/common. See master.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocator/allocator.h"
#include "codec.h"
#include "contender.h"
#include "errors.h"
#include "log.h"
#include "master.h"
#include "util.h"

#define MOD "master"

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

static void remove_offer(struct cm_master *m, struct cm_offer *o, bool recover, bool rescind,
                         double refuse, bool decline)
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
    if (decline)
        cm_allocator_decline(m->allocator, fw->id, o->role, agent->id, &o->resources, refuse);
    else if (recover)
        cm_allocator_recover(m->allocator, fw->id, o->role, agent->id, &o->resources, refuse);
    cm_resources_subtract(&fw->offered, &o->resources);
    cm_resources_subtract(&agent->offered, &o->resources);
    cm_strmap_remove(&fw->offers, o->id);
    cm_strmap_remove(&agent->offers, o->id);
    cm_strmap_remove(&m->offers, o->id);
    offer_unlink(m, o);
    offer_free(o);
}

void cm_master_remove_offer(struct cm_master *m, struct cm_offer *o, bool recover, bool rescind,
                            double refuse)
{
    remove_offer(m, o, recover, rescind, refuse, false);
}

void cm_master_decline_offer(struct cm_master *m, struct cm_offer *o, double refuse)
{
    remove_offer(m, o, true, false, refuse, true);
}

void cm_master_remove_offers_of(struct cm_master *m, struct cm_strmap *offers, bool rescind)
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

void cm_master_run_parked_recoveries(struct cm_master *m)
{
    if (m->npending == 0)
        return;
    /* These allocations could not become offers (the framework or agent is gone or
     * disconnected): giving them back must not wake an event-driven cycle, which would only
     * allocate them to the same party again, every few milliseconds. The periodic cycle
     * offers them. */
    bool was_dirty = cm_allocator_dirty(m->allocator);
    cm_allocator_set_wake(m->allocator, NULL, NULL);
    for (size_t i = 0; i < m->npending; i++) {
        struct cm_pending_recover *p = &m->pending[i];
        cm_allocator_recover(m->allocator, p->fw, p->role, p->agent, &p->res, 0);
        free(p->fw);
        free(p->role);
        free(p->agent);
        cm_resources_cleanup(&p->res);
    }
    m->npending = 0;
    /* Nor may they keep the set non-empty: the next event would then wake nobody. */
    if (!was_dirty)
        cm_allocator_forget_dirty(m->allocator);
    if (m->cron)
        cm_cron_attach_wake(m->cron);
}

void cm_master_allocator_offer_cb(void *arg, const char *framework_id, const char *role,
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

/* Offer.executor_ids: the framework's custom executors running on the agent (ids borrowed;
 * the array and ExecutorID shells are freed by free_offer_msg). */
static void offer_executor_ids(Mesos__V1__Offer *msg, struct cm_agent *a, struct cm_framework *fw)
{
    size_t n = cm_strmap_count(&a->executors), k = 0;
    if (n == 0)
        return;
    msg->executor_ids = cm_xcalloc(n, sizeof *msg->executor_ids);
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, &a->executors); cm_strmap_iter_next(&it);) {
        const struct cm_executor *e = it.cur->value;
        if (e->fw != fw)
            continue;
        Mesos__V1__ExecutorID *id = cm_xcalloc(1, sizeof *id);
        mesos__v1__executor_id__init(id);
        id->value = e->id;
        msg->executor_ids[k++] = id;
    }
    msg->n_executor_ids = k;
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
    offer_executor_ids(msg, a, fw);
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
    for (size_t i = 0; i < msg->n_executor_ids; i++)
        free(msg->executor_ids[i]);
    free(msg->executor_ids);
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
    cm_master_run_parked_recoveries(m);
}

void cm_master_allocate_dirty(struct cm_master *m)
{
    if (!cm_contender_acting(m->contender))
        return;
    double t0 = cm_monotonic_secs();
    size_t n = cm_allocator_run_dirty(m->allocator);
    if (n) {
        /* Only cycles that made offers are counted: a dirty cycle after every decline that
         * gives nothing would bury the periodic cycles' times in /metrics. */
        m->metrics.allocation_runs++;
        cm_master_record_allocation_ms(m, (cm_monotonic_secs() - t0) * 1000.0);
    }
    flush_batches(m);
    cm_master_run_parked_recoveries(m);
}

void cm_master_allocate_soon(struct cm_master *m)
{
    if (m->cron)
        cm_cron_allocate_soon(m->cron);
}

/* ------------------------------------------------------------------------------------------ */
/* metrics */

void cm_master_record_allocation_ms(struct cm_master *m, double ms)
{
    struct cm_master_metrics *mm = &m->metrics;
    size_t cap = sizeof mm->alloc_ms / sizeof mm->alloc_ms[0];
    mm->alloc_ms[(mm->alloc_head + mm->alloc_n) % cap] = ms;
    if (mm->alloc_n < cap)
        mm->alloc_n++;
    else
        mm->alloc_head = (mm->alloc_head + 1) % cap;
}

void cm_master_free_offers(struct cm_master *m)
{
    while (m->offers_head) {
        struct cm_offer *o = m->offers_head;
        offer_unlink(m, o);
        offer_free(o);
    }
}
