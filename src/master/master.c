/* master.c: the core's frame — creating and freeing the master (registry recovery,
 * leadership, MasterInfo), the sinks every event leaves through, lookups, and the time-based
 * rules (offer and failover timeouts, recovery deadlines, heartbeats). The state's own
 * transitions live in frameworks.c, agents.c, offers.c and tasks.c. See master.h. */
#include "master.h"

#include <arpa/inet.h>
#include <errno.h>
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
#include "files.h"
#include "http_client.h"
#include "ids.h"
#include "log.h"
#include "pbjson.h"
#include "stream.h"
#include "registrar.h"
#include "util.h"

#define MOD "master"

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
    /* One encoder and framer for every stream (stream.h); a stream that is not JSON is
     * protobuf. A subscriber that stopped reading is cut off there, past the server's cap. */
    return cm_stream_send(sink->stream,
                          sink->media == CM_MEDIA_JSON ? CM_MEDIA_JSON : CM_MEDIA_PROTOBUF, msg);
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

bool cm_sink_open(const struct cm_sink *s)
{
    return s->stream || s->cb;
}

void cm_master_send_event(struct cm_master *m, struct cm_framework *fw,
                          const Mesos__V1__Scheduler__Event *ev)
{
    (void)m;
    if (!fw->connected || !cm_sink_open(&fw->sink))
        return;
    fw->metrics.events++;
    if (ev->type < CM_MASTER_NEVENT_TYPES)
        fw->metrics.event_types[ev->type]++;
    cm_sink_send(&fw->sink, &ev->base);
}

void cm_master_send_agent(struct cm_master *m, struct cm_agent *agent,
                          const Cmesos__Internal__AgentEvent *ev)
{
    if (!agent->connected || !cm_sink_open(&agent->sink)) {
        m->metrics.dropped_messages++;
        return;
    }
    cm_sink_send(&agent->sink, &ev->base);
}

void cm_sink_send_error(const struct cm_sink *sink, const char *message)
{
    Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
    Mesos__V1__Scheduler__Event__Error err = MESOS__V1__SCHEDULER__EVENT__ERROR__INIT;
    err.message = (char *)message;
    ev.has_type = 1;
    ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__ERROR;
    ev.error = &err;
    cm_sink_send(sink, &ev.base);
}

void cm_master_send_simple_event(struct cm_master *m, struct cm_framework *fw, int type)
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
            cm_master_send_simple_event(m, fw, MESOS__V1__SCHEDULER__EVENT__TYPE__HEARTBEAT);
    }
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
     * unreachable) reconciliation of its tasks gets no answer (docs/wire-protocol.md §2.10). */
    cm_master_apply_stored_weights(m);
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
    cm_registrar_set_loop(m->registrar, m->base); /* one store per loop turn (a NULL base: none) */
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
    cm_ring_init(&m->completed_list, (size_t)flags->max_completed_frameworks, cm_framework_free);
    cm_ring_init(&m->removed_ring, CM_MASTER_REMOVED_IDS_MAX, free);
    m->allocator = cm_allocator_new(clock, cm_master_allocator_offer_cb, m);
    if (!m->allocator)
        goto fail;
    char awhy[768];
    if (cm_master_auth_init(m, awhy, sizeof awhy) != 0) {
        CM_ERROR(MOD, "%s", awhy);
        goto fail;
    }
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

int cm_master_run(struct cm_master *m, uint16_t port)
{
    if (!m->flags->advertise_port)
        m->port = port;
    build_master_info(m);
    int rc = cm_contender_start(m->contender, m->info);
    if (rc != 0) {
        CM_ERROR(MOD, "Failed to start contending for leadership: %s", cm_strerror(rc));
        return rc;
    }
    m->cron = cm_cron_new(m);
    if (!m->cron)
        return -ENOMEM;
    CM_INFO(MOD, "Master %s (%s) started on %s:%u", m->id, m->hostname, m->ip, (unsigned)port);
    return 0;
}

/* cm_agent_free for maps of agents (their values are void *). */
static void agent_free_value(void *a)
{
    cm_agent_free(a);
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
        if (cm_sink_open(&fw->sink))
            cm_sink_end(&fw->sink);
    }
    for (cm_strmap_iter_init(&it, &m->agents); cm_strmap_iter_next(&it);) {
        struct cm_agent *a = it.cur->value;
        if (cm_sink_open(&a->sink)) {
            /* No SHUTDOWN: agents keep their tasks and re-register with the next master. */
            cm_sink_end(&a->sink);
        }
    }
    cm_master_agent_streams_free(m); /* shared link streams, their agents' sinks ended above */
    /* The observer (operator API) ends its own streams before the server closes the rest. */
    cm_master_observer_destroy(m);
    cm_master_admin_free(m);
    cm_master_acks_free(m);
    cm_http_server_free(m->http);
    m->http = NULL;
    cm_files_free(m->files);
    cm_http_client_free(m->webui_client);
    cm_master_free_offers(m);
    cm_strmap_cleanup_values(&m->frameworks, cm_framework_free);
    cm_ring_cleanup(&m->completed_list);
    cm_strmap_cleanup_values(&m->agents, agent_free_value);
    cm_strmap_cleanup_values(&m->metrics.task_reasons, free);
    cm_strmap_cleanup(&m->completed);
    cm_strmap_cleanup(&m->offers);
    cm_strmap_cleanup(&m->recovering_agents);
    cm_strmap_cleanup(&m->removed_ids);
    cm_ring_cleanup(&m->removed_ring);
    free(m->batch_list);
    cm_master_run_parked_recoveries(m);
    free(m->pending);
    cm_allocator_free(m->allocator);
    cm_registrar_free(m->registrar);
    cm_contender_free(m->contender);
    free_master_info(m->info);
    cm_master_auth_cleanup(m);
    free(m);
}
