/*
 * emulator-loadgen: a load-generating framework (N frameworks on one loop) for scale tests and
 * benchmarks with mesos-agent-emulator (docs/emulator.md). Each framework is a real client of the
 * v1 scheduler API (lg_client.h: protobuf, one call per POST, pipelined on a keep-alive
 * connection), cheap enough that a throughput run measures the master, not the generator.
 *
 * Each framework subscribes, fills every offer with as many tasks of --task_cpus/--task_mem as
 * fit (until --tasks have been launched in total, 0: no limit), accepts with
 * --refuse_seconds for what is left, acknowledges every update, and counts. With
 * --max_outstanding, a framework that gets an offer while the tasks launched and not yet RUNNING
 * are at that cap keeps up to --hold_offers of them (default 4) and declines the rest, and
 * SUPPRESSes offers (--suppress, default true). When half the cap is free again the held offers
 * are launched into first (round robin over the frameworks), and the suppressed frameworks that
 * hold none REVIVE, as a well-behaved framework does (without this, each allocation cycle offers
 * every agent to frameworks that decline them all). A held offer's tasks measure their
 * offer -> TASK_RUNNING latency from the moment the offer was taken up, not from its arrival. Tasks
 * carry the label emulator_run_time when --task_run_time is given, so emulated agents run them that
 * long. It measures the time from an offer's arrival to each of its tasks' TASK_RUNNING (p50, p90,
 * p99, max) and the launch rate, prints a line every --report_interval and, at the end (all
 * --tasks terminal, --duration over, or SIGTERM), one JSON line prefixed "RESULT ". Exit status
 * 0 when every launched task ended TASK_FINISHED (or is still running at --duration's end), 1
 * otherwise. On the way out the offers it holds are declined (one DECLINE per framework) and the
 * last calls are given up to 2 s to be answered.
 */
#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errors.h"
#include "lg_client.h"
#include "util.h"

#define MAX_SAMPLES (4u << 20)
#define SEEN_RUNNING 1
#define SEEN_TERMINAL 2

struct lg;

/* An offer kept for later (the framework was at its cap when it came). */
struct held {
    struct held *next;
    char *offer_id, *agent_id, *role;
    double cpus, mem;
};

struct fw {
    struct held *held; /* newest first */
    int nheld;
    struct lg *lg;
    int idx;
    int suppressed; /* SUPPRESS sent (at the cap), no REVIVE since */
    int fatal;      /* the subscription ended for good */
    struct cm_lg_client *s;
    double *t_offer; /* by task sequence number */
    uint8_t *seen;   /* by task sequence number: SEEN_* bits (retried updates come twice) */
    size_t cap;
    unsigned long long seq;
};

struct lg {
    struct event_base *base;
    struct fw *fws;
    int nfw;
    const char *master;
    double cpus, mem, run_time, refuse, duration, report;
    long long tasks; /* 0: unlimited */
    const char *role;
    unsigned long long ack_failures, call_failures;
    int nfatal; /* frameworks whose subscription ended for good */
    /* launch(): per-offer scratch arrays, grown to the largest offer */
    Mesos__V1__TaskInfo *tv;
    Mesos__V1__TaskInfo **tp;
    Mesos__V1__TaskID *ids;
    char (*names)[48];
    size_t scratch_cap;
    unsigned long long launched, running, finished, failed, offers, declined, subscribed;
    unsigned long long last_launched, last_running, last_finished;
    double t0, t_first_launch, t_last_running, t_last_report;
    double *lat; /* offer -> RUNNING, seconds */
    size_t nlat;
    struct event *report_ev, *stop_ev, *sigterm;
    int quiet;
    int has_run_time;
    int stopping; /* --duration is over: no more launches, the last acks drain */
    int max_inflight;
    int call_connections; /* shared by the frameworks */
    struct cm_lg_pool *pool;
    long batch_us; /* --batch_us: sleep between loop passes (0: none) */
    long max_outstanding;
    const char *latency_file; /* every offer -> RUNNING sample (ms), sorted, one per line */
    unsigned long long running_or_done; /* tasks that reached RUNNING or ended */
    int suppress;                       /* --suppress: SUPPRESS at the cap, REVIVE at half */
    int nsuppressed;                    /* frameworks suppressed now */
    unsigned long long suppress_calls, revive_calls;
    int hold;    /* --hold_offers: offers kept per framework at the cap */
    int next_fw; /* where the next use of held offers starts (round robin) */
    unsigned long long held_offers, held_used, rescinded, declined_at_exit;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void check_done(struct lg *lg)
{
    if (lg->tasks > 0 && lg->launched >= (unsigned long long)lg->tasks &&
        lg->finished + lg->failed >= lg->launched)
        event_base_loopbreak(lg->base);
}

/* Sends a call of the given type with no body of its own (SUPPRESS, REVIVE: all roles). */
static int simple_call(struct fw *f, Mesos__V1__Scheduler__Call__Type type)
{
    Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
    call.has_type = 1;
    call.type = type;
    return cm_lg_client_call(f->s, &call);
}

static void decline(struct fw *f, Mesos__V1__OfferID **ids, size_t n,
                    const Mesos__V1__Filters *filters)
{
    Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
    Mesos__V1__Scheduler__Call__Decline d = MESOS__V1__SCHEDULER__CALL__DECLINE__INIT;
    d.offer_ids = ids;
    d.n_offer_ids = n;
    d.filters = (Mesos__V1__Filters *)filters;
    call.has_type = 1;
    call.type = MESOS__V1__SCHEDULER__CALL__TYPE__DECLINE;
    call.decline = &d;
    if (cm_lg_client_call(f->s, &call) != 0)
        f->lg->call_failures++;
}

static Mesos__V1__Resource *scalar(Mesos__V1__Resource *r, Mesos__V1__Value__Scalar *v,
                                   const char *name, double value)
{
    mesos__v1__resource__init(r);
    mesos__v1__value__scalar__init(v);
    r->name = (char *)name;
    r->type = MESOS__V1__VALUE__TYPE__SCALAR;
    v->value = value;
    r->scalar = v;
    return r;
}

/* Launches fit tasks into one offer (its id, agent and allocation role) with one ACCEPT. t is
 * when the offer was taken up: the start of the offer -> TASK_RUNNING latency. */
static void launch(struct fw *f, Mesos__V1__OfferID *oid, Mesos__V1__AgentID *agent,
                   const char *role, long fit, double t)
{
    struct lg *lg = f->lg;
    Mesos__V1__Filters filters = MESOS__V1__FILTERS__INIT;
    filters.has_refuse_seconds = 1;
    filters.refuse_seconds = lg->refuse;
    if (f->seq + (unsigned long long)fit > f->cap) {
        size_t cap = f->cap ? f->cap : 1024;
        while (cap < f->seq + (unsigned long long)fit)
            cap *= 2;
        f->t_offer = realloc(f->t_offer, cap * sizeof *f->t_offer);
        f->seen = realloc(f->seen, cap);
        if (!f->t_offer || !f->seen)
            abort();
        memset(f->seen + f->cap, 0, cap - f->cap);
        f->cap = cap;
    }
    if ((size_t)fit > lg->scratch_cap) {
        size_t cap = (size_t)fit;
        lg->tv = cm_xrealloc(lg->tv, cap * sizeof *lg->tv);
        lg->tp = cm_xrealloc(lg->tp, cap * sizeof *lg->tp);
        lg->ids = cm_xrealloc(lg->ids, cap * sizeof *lg->ids);
        lg->names = cm_xrealloc(lg->names, cap * sizeof *lg->names);
        lg->scratch_cap = cap;
    }
    Mesos__V1__TaskInfo *tv = lg->tv, **tp = lg->tp;
    Mesos__V1__TaskID *ids = lg->ids;
    char(*names)[48] = lg->names;
    Mesos__V1__Resource res[2];
    Mesos__V1__Value__Scalar sv[2];
    Mesos__V1__Resource *rp[2] = {scalar(&res[0], &sv[0], "cpus", lg->cpus),
                                  scalar(&res[1], &sv[1], "mem", lg->mem)};
    Mesos__V1__Resource__AllocationInfo ai = MESOS__V1__RESOURCE__ALLOCATION_INFO__INIT;
    if (role) {
        ai.role = (char *)role;
        res[0].allocation_info = &ai;
        res[1].allocation_info = &ai;
    }
    Mesos__V1__CommandInfo cmd = MESOS__V1__COMMAND_INFO__INIT;
    cmd.value = "true";
    cmd.has_shell = 1;
    cmd.shell = 1;
    char rt[32];
    snprintf(rt, sizeof rt, "%g", lg->run_time);
    Mesos__V1__Label lab = MESOS__V1__LABEL__INIT;
    Mesos__V1__Label *labp = &lab;
    Mesos__V1__Labels labels = MESOS__V1__LABELS__INIT;
    lab.key = "emulator_run_time";
    lab.value = rt;
    labels.labels = &labp;
    labels.n_labels = 1;
    for (long k = 0; k < fit; k++) {
        Mesos__V1__TaskInfo *ti = &tv[k];
        mesos__v1__task_info__init(ti);
        mesos__v1__task_id__init(&ids[k]);
        snprintf(names[k], sizeof names[k], "%d-%llu", f->idx, f->seq);
        f->t_offer[f->seq++] = t;
        ids[k].value = names[k];
        ti->task_id = &ids[k];
        ti->name = names[k];
        ti->agent_id = agent;
        ti->resources = rp;
        ti->n_resources = 2;
        ti->command = &cmd;
        if (lg->has_run_time)
            ti->labels = &labels;
        tp[k] = ti;
    }
    if (lg->t_first_launch == 0)
        lg->t_first_launch = t;
    lg->launched += (unsigned long long)fit;
    /* One ACCEPT with one LAUNCH of every task that fits. */
    Mesos__V1__Offer__Operation__Launch ln = MESOS__V1__OFFER__OPERATION__LAUNCH__INIT;
    ln.task_infos = tp;
    ln.n_task_infos = (size_t)fit;
    Mesos__V1__Offer__Operation op = MESOS__V1__OFFER__OPERATION__INIT;
    Mesos__V1__Offer__Operation *opp = &op;
    op.has_type = 1;
    op.type = MESOS__V1__OFFER__OPERATION__TYPE__LAUNCH;
    op.launch = &ln;
    Mesos__V1__Scheduler__Call__Accept acc = MESOS__V1__SCHEDULER__CALL__ACCEPT__INIT;
    acc.offer_ids = &oid;
    acc.n_offer_ids = 1;
    acc.operations = &opp;
    acc.n_operations = 1;
    acc.filters = &filters;
    Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
    call.has_type = 1;
    call.type = MESOS__V1__SCHEDULER__CALL__TYPE__ACCEPT;
    call.accept = &acc;
    if (cm_lg_client_call(f->s, &call) != 0)
        lg->call_failures++;
}

/* Tasks of --task_cpus/--task_mem that fit in cpus/mem, within --tasks and the cap. */
static long fit_tasks(const struct lg *lg, double cpus, double mem)
{
    long fit = (long)floor(cpus / lg->cpus + 1e-9);
    long fit_mem = (long)floor(mem / lg->mem + 1e-9);
    if (fit_mem < fit)
        fit = fit_mem;
    if (lg->tasks > 0 && (long long)lg->launched + fit > lg->tasks)
        fit = (long)(lg->tasks - (long long)lg->launched);
    if (lg->max_outstanding > 0) {
        /* Launched and not yet RUNNING: past the cap, offers are not used now (a pipeline, not
         * a flood of 80,000 launches in one second). */
        long room = lg->max_outstanding - (long)(lg->launched - lg->running_or_done);
        if (fit > room)
            fit = room;
    }
    return lg->stopping ? 0 : fit;
}

static void held_free(struct held *h)
{
    free(h->offer_id), free(h->agent_id), free(h->role), free(h);
}

static void on_offers(struct fw *f, Mesos__V1__Offer *const *offers, size_t n)
{
    struct lg *lg = f->lg;
    double t = now();
    Mesos__V1__Filters filters = MESOS__V1__FILTERS__INIT;
    filters.has_refuse_seconds = 1;
    filters.refuse_seconds = lg->refuse;
    /* Offers not used are declined together, in one call (one call per offer would be a
     * thousand concurrent POSTs per allocation cycle at 1,000 agents). */
    Mesos__V1__OfferID **ids = cm_xcalloc(n ? n : 1, sizeof *ids);
    size_t ndecline = 0;
    for (size_t i = 0; i < n; i++) {
        const Mesos__V1__Offer *o = offers[i];
        lg->offers++;
        double cpus = 0, mem = 0;
        for (size_t k = 0; k < o->n_resources; k++) {
            const Mesos__V1__Resource *r = o->resources[k];
            if (!r->scalar)
                continue;
            if (strcmp(r->name, "cpus") == 0)
                cpus += r->scalar->value;
            else if (strcmp(r->name, "mem") == 0)
                mem += r->scalar->value;
        }
        long fit = fit_tasks(lg, cpus, mem);
        const char *role = o->allocation_info ? o->allocation_info->role : NULL;
        if (fit > 0) {
            launch(f, o->id, o->agent_id, role, fit, t);
            continue;
        }
        bool capped = !lg->stopping && lg->max_outstanding > 0 &&
                      (long)(lg->launched - lg->running_or_done) >= lg->max_outstanding;
        /* At the cap, an offer that could take tasks is kept for when room comes back (one
         * ACCEPT then, instead of a REVIVE and a cycle of offers), up to --hold_offers. */
        if (capped && f->nheld < lg->hold && floor(cpus / lg->cpus + 1e-9) >= 1 &&
            floor(mem / lg->mem + 1e-9) >= 1 && o->id && o->agent_id) {
            struct held *h = calloc(1, sizeof *h);
            if (!h)
                abort();
            h->offer_id = strdup(o->id->value);
            h->agent_id = strdup(o->agent_id->value);
            h->role = role ? strdup(role) : NULL;
            if (!h->offer_id || !h->agent_id || (role && !h->role))
                abort();
            h->cpus = cpus;
            h->mem = mem;
            h->next = f->held;
            f->held = h;
            f->nheld++;
            lg->held_offers++;
        } else {
            lg->declined++;
            ids[ndecline++] = o->id;
        }
        if (capped && lg->suppress && !f->suppressed) {
            if (simple_call(f, MESOS__V1__SCHEDULER__CALL__TYPE__SUPPRESS) == 0) {
                f->suppressed = 1;
                lg->nsuppressed++;
                lg->suppress_calls++;
            }
        }
    }
    if (ndecline)
        decline(f, ids, ndecline, &filters);
    free(ids);
}

static void on_rescind(struct fw *f, const Mesos__V1__OfferID *oid)
{
    for (struct held **p = &f->held; *p; p = &(*p)->next) {
        if (oid && oid->value && strcmp((*p)->offer_id, oid->value) == 0) {
            struct held *h = *p;
            *p = h->next;
            held_free(h);
            f->nheld--;
            f->lg->rescinded++;
            return;
        }
    }
}

static void on_call_done(void *arg, int type, int err, int status, const char *body)
{
    struct fw *f = arg;
    struct lg *lg = f->lg;
    if (err == 0 && status == 202)
        return;
    if (type == MESOS__V1__SCHEDULER__CALL__TYPE__ACKNOWLEDGE)
        lg->ack_failures++;
    else
        lg->call_failures++;
    if (!lg->quiet && lg->ack_failures + lg->call_failures <= 5)
        fprintf(stderr, "loadgen: framework %d: call %d: %s%d %s\n", f->idx, type,
                err ? "lost: " : "answered ", err ? err : status, body);
}

/* Every update is acknowledged at once: one ACKNOWLEDGE call (one POST, Mesos's API) each,
 * written with the others of the loop turn on the framework's pipelined connection. */
static void acknowledge(struct fw *f, const Mesos__V1__TaskStatus *st)
{
    if (!st->has_uuid || st->uuid.len != 16 || !st->agent_id || !st->task_id)
        return;
    Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
    Mesos__V1__Scheduler__Call__Acknowledge ack = MESOS__V1__SCHEDULER__CALL__ACKNOWLEDGE__INIT;
    ack.agent_id = st->agent_id;
    ack.task_id = st->task_id;
    ack.uuid = st->uuid;
    call.has_type = 1;
    call.type = MESOS__V1__SCHEDULER__CALL__TYPE__ACKNOWLEDGE;
    call.acknowledge = &ack;
    if (cm_lg_client_call(f->s, &call) != 0)
        f->lg->ack_failures++;
}

/* Half the cap is free again: every suppressed framework asks for offers again. */
static void maybe_revive(struct lg *lg)
{
    if (lg->stopping || lg->max_outstanding <= 0 ||
        (long)(lg->launched - lg->running_or_done) > lg->max_outstanding / 2)
        return;
    /* Held offers first, round robin over the frameworks, until the cap is reached again. */
    double t = now();
    for (int k = 0; k < lg->nfw; k++) {
        struct fw *f = &lg->fws[(lg->next_fw + k) % lg->nfw];
        while (f->held) {
            struct held *h = f->held;
            long fit = fit_tasks(lg, h->cpus, h->mem);
            if (fit <= 0)
                break;
            f->held = h->next;
            f->nheld--;
            Mesos__V1__OfferID oid = MESOS__V1__OFFER_ID__INIT;
            Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
            oid.value = h->offer_id;
            aid.value = h->agent_id;
            launch(f, &oid, &aid, h->role, fit, t);
            lg->held_used++;
            held_free(h);
        }
        if ((long)(lg->launched - lg->running_or_done) >= lg->max_outstanding) {
            lg->next_fw = (lg->next_fw + k + 1) % lg->nfw;
            return;
        }
    }
    /* Then REVIVE the suppressed frameworks that hold nothing. */
    if (lg->nsuppressed == 0)
        return;
    for (int i = 0; i < lg->nfw; i++) {
        struct fw *f = &lg->fws[i];
        if (!f->suppressed || f->held)
            continue;
        if (simple_call(f, MESOS__V1__SCHEDULER__CALL__TYPE__REVIVE) == 0)
            lg->revive_calls++;
        f->suppressed = 0; /* a failed REVIVE leaves it to the next offer it gets */
        lg->nsuppressed--;
    }
}

static void on_update(struct fw *f, const Mesos__V1__TaskStatus *st)
{
    struct lg *lg = f->lg;
    acknowledge(f, st);
    const char *dash = st->task_id && st->task_id->value ? strchr(st->task_id->value, '-') : NULL;
    unsigned long long seq = dash ? strtoull(dash + 1, NULL, 10) : ~0ULL;
    if (seq >= f->seq)
        return; /* not one of ours */
    int bit = st->state == MESOS__V1__TASK_STATE__TASK_RUNNING ? SEEN_RUNNING
              : st->state == MESOS__V1__TASK_STATE__TASK_STARTING ||
                      st->state == MESOS__V1__TASK_STATE__TASK_STAGING ||
                      st->state == MESOS__V1__TASK_STATE__TASK_KILLING
                  ? 0
                  : SEEN_TERMINAL;
    if (bit && (f->seen[seq] & bit))
        return; /* a retried update: counted already */
    if (bit && !(f->seen[seq] & (SEEN_RUNNING | SEEN_TERMINAL))) {
        lg->running_or_done++;
        maybe_revive(lg);
    }
    f->seen[seq] |= (uint8_t)bit;
    switch (st->state) {
    case MESOS__V1__TASK_STATE__TASK_RUNNING:
        lg->running++;
        lg->t_last_running = now();
        if (lg->nlat < MAX_SAMPLES) {
            if (!lg->lat)
                lg->lat = malloc(MAX_SAMPLES * sizeof *lg->lat);
            lg->lat[lg->nlat++] = lg->t_last_running - f->t_offer[seq];
        }
        break;
    case MESOS__V1__TASK_STATE__TASK_FINISHED: lg->finished++; break;
    case MESOS__V1__TASK_STATE__TASK_STARTING:
    case MESOS__V1__TASK_STATE__TASK_STAGING: break;
    default:
        if (st->state == MESOS__V1__TASK_STATE__TASK_KILLING)
            break;
        lg->failed++;
        if (!lg->quiet && lg->failed <= 5)
            fprintf(stderr, "loadgen: task %s ended in state %d: %s\n", st->task_id->value,
                    (int)st->state, st->message ? st->message : "");
        break;
    }
    check_done(lg);
}

static void on_event(void *arg, const Mesos__V1__Scheduler__Event *ev)
{
    struct fw *f = arg;
    switch (ev->type) {
    case MESOS__V1__SCHEDULER__EVENT__TYPE__SUBSCRIBED: f->lg->subscribed++; break;
    case MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS:
        if (ev->offers)
            on_offers(f, ev->offers->offers, ev->offers->n_offers);
        break;
    case MESOS__V1__SCHEDULER__EVENT__TYPE__RESCIND:
        if (ev->rescind)
            on_rescind(f, ev->rescind->offer_id);
        break;
    case MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE:
        if (ev->update && ev->update->status)
            on_update(f, ev->update->status);
        break;
    case MESOS__V1__SCHEDULER__EVENT__TYPE__ERROR:
        fprintf(stderr, "loadgen: framework %d: ERROR %s\n", f->idx,
                ev->error && ev->error->message ? ev->error->message : "");
        break;
    default: break; /* HEARTBEAT, FAILURE, MESSAGE, inverse offers...: nothing to do */
    }
}

static void on_lost(void *arg, bool fatal, const char *why)
{
    struct fw *f = arg;
    struct lg *lg = f->lg;
    if (!lg->quiet || fatal)
        fprintf(stderr, "loadgen: framework %d: %s%s\n", f->idx, why,
                fatal ? " (giving up)" : "; subscribing again");
    if (fatal && !f->fatal) {
        f->fatal = 1;
        if (++lg->nfatal == lg->nfw)
            event_base_loopbreak(lg->base);
    }
}

/* On the way out: every framework declines the offers it holds, in one call, so that the master
 * need not wait for the framework's removal to get them back. */
static void decline_held(struct lg *lg)
{
    Mesos__V1__Filters filters = MESOS__V1__FILTERS__INIT;
    for (int i = 0; i < lg->nfw; i++) {
        struct fw *f = &lg->fws[i];
        if (!f->held || f->fatal)
            continue;
        Mesos__V1__OfferID *oids = cm_xcalloc((size_t)f->nheld, sizeof *oids);
        Mesos__V1__OfferID **ids = cm_xcalloc((size_t)f->nheld, sizeof *ids);
        size_t n = 0;
        for (struct held *h = f->held; h && n < (size_t)f->nheld; h = h->next, n++) {
            mesos__v1__offer_id__init(&oids[n]);
            oids[n].value = h->offer_id;
            ids[n] = &oids[n];
        }
        decline(f, ids, n, &filters);
        lg->declined_at_exit += n;
        free(oids), free(ids);
        while (f->held) {
            struct held *h = f->held;
            f->held = h->next;
            held_free(h);
        }
        f->nheld = 0;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)ceil(p / 100.0 * (double)n);
    if (i > 0)
        i--;
    if (i >= n)
        i = n - 1;
    return v[i];
}

static void report_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct lg *lg = arg;
    double t = now(), dt = t - lg->t_last_report;
    if (dt <= 0)
        return;
    printf("t=%.1f subscribed=%llu launched=%llu (%.0f/s) running=%llu (%.0f/s) finished=%llu "
           "(%.0f/s) failed=%llu offers=%llu\n",
           t - lg->t0, lg->subscribed, lg->launched,
           (double)(lg->launched - lg->last_launched) / dt, lg->running,
           (double)(lg->running - lg->last_running) / dt, lg->finished,
           (double)(lg->finished - lg->last_finished) / dt, lg->failed, lg->offers);
    fflush(stdout);
    lg->last_launched = lg->launched;
    lg->last_running = lg->running;
    lg->last_finished = lg->finished;
    lg->t_last_report = t;
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    ((struct lg *)arg)->stopping = 1;
    event_base_loopbreak(((struct lg *)arg)->base);
}

/* The loop. With --batch_us, after each pass over the ready events the process sleeps that
 * long before looking again, so that what arrives meanwhile (updates, answers) is read and
 * answered in bulk: fewer system calls per task at the price of up to that much delay per
 * step. */
static void run_loop(struct lg *lg)
{
    if (lg->batch_us <= 0) {
        event_base_dispatch(lg->base);
        return;
    }
    struct timespec ts = {lg->batch_us / 1000000, (long)(lg->batch_us % 1000000) * 1000};
    for (;;) {
        if (event_base_loop(lg->base, EVLOOP_ONCE) != 0 || event_base_got_break(lg->base) ||
            event_base_got_exit(lg->base))
            return;
        nanosleep(&ts, NULL);
    }
}

static const char *arg_value(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return strncmp(arg, name, n) == 0 && arg[n] == '=' ? arg + n + 1 : NULL;
}

static void usage(void)
{
    fprintf(stderr,
            "Usage: emulator-loadgen --master=HOST:PORT [--frameworks=N] [--tasks=N (0: no "
            "limit)] [--task_cpus=0.1] [--task_mem=32] [--task_run_time=SECS (label; -1: "
            "forever; unset: the emulator's)] [--refuse_seconds=0] [--duration=SECS] "
            "[--report_interval=SECS] [--role=ROLE] [--call_connections=16 (shared by the "
            "frameworks)] [--max_inflight=8 (calls outstanding per connection)] [--batch_us=1000 "
            "(sleep between loop passes; 0: none)] "
            "[--max_outstanding=N (launched, not yet RUNNING; 0: no cap)] [--suppress=true|false] "
            "[--hold_offers=4 (offers kept per framework at the cap)] "
            "[--latency_file=PATH] [--quiet]\n");
}

int main(int argc, char **argv)
{
    struct lg lg = {.nfw = 1,
                    .cpus = 0.1,
                    .mem = 32,
                    .report = 1,
                    .max_inflight = 8,
                    .call_connections = 16,
                    /* 1 ms between passes: a pass then reads and answers ~3 times as many
                     * updates, for a third of the system calls per task (docs/emulator.md) */
                    .batch_us = 1000,
                    .suppress = 1,
                    .hold = 4};
    for (int i = 1; i < argc; i++) {
        const char *v;
        char *end = NULL;
        if ((v = arg_value(argv[i], "--master")))
            lg.master = v;
        else if ((v = arg_value(argv[i], "--frameworks")))
            lg.nfw = (int)strtol(v, &end, 10);
        else if ((v = arg_value(argv[i], "--tasks")))
            lg.tasks = strtoll(v, &end, 10);
        else if ((v = arg_value(argv[i], "--task_cpus")))
            lg.cpus = strtod(v, &end);
        else if ((v = arg_value(argv[i], "--task_mem")))
            lg.mem = strtod(v, &end);
        else if ((v = arg_value(argv[i], "--task_run_time"))) {
            lg.run_time = strtod(v, &end);
            lg.has_run_time = 1;
        } else if ((v = arg_value(argv[i], "--refuse_seconds")))
            lg.refuse = strtod(v, &end);
        else if ((v = arg_value(argv[i], "--duration")))
            lg.duration = strtod(v, &end);
        else if ((v = arg_value(argv[i], "--report_interval")))
            lg.report = strtod(v, &end);
        else if ((v = arg_value(argv[i], "--latency_file")))
            lg.latency_file = v;
        else if ((v = arg_value(argv[i], "--max_outstanding")))
            lg.max_outstanding = strtol(v, &end, 10);
        else if ((v = arg_value(argv[i], "--max_inflight")))
            lg.max_inflight = (int)strtol(v, &end, 10);
        else if ((v = arg_value(argv[i], "--batch_us")))
            lg.batch_us = strtol(v, &end, 10);
        else if ((v = arg_value(argv[i], "--call_connections")))
            lg.call_connections = (int)strtol(v, &end, 10);
        else if ((v = arg_value(argv[i], "--suppress"))) {
            if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0) {
                fprintf(stderr, "loadgen: --suppress must be true or false, not '%s'\n", v);
                return 2;
            }
            lg.suppress = strcmp(v, "true") == 0;
        } else if ((v = arg_value(argv[i], "--hold_offers")))
            lg.hold = (int)strtol(v, &end, 10);
        else if ((v = arg_value(argv[i], "--role")))
            lg.role = v;
        else if (strcmp(argv[i], "--quiet") == 0)
            lg.quiet = 1;
        else {
            usage();
            return 2;
        }
        if (end && *end) {
            fprintf(stderr, "loadgen: bad value in '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!lg.master || lg.nfw < 1 || lg.nfw > 10000 || lg.cpus <= 0 || lg.mem <= 0 || lg.tasks < 0 ||
        lg.refuse < 0 || lg.max_inflight < 1 || lg.max_inflight > 65536 ||
        lg.call_connections < 1 || lg.call_connections > 1024 || lg.batch_us < 0 ||
        lg.batch_us > 100000 || lg.max_outstanding < 0 || lg.hold < 0 || lg.hold > 1000) {
        usage();
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    lg.base = event_base_new();
    lg.fws = calloc((size_t)lg.nfw, sizeof *lg.fws);
    lg.t0 = lg.t_last_report = now();
    char why[512];
    lg.pool =
        cm_lg_pool_new(lg.base, lg.master, lg.call_connections, lg.max_inflight, why, sizeof why);
    if (!lg.pool) {
        fprintf(stderr, "loadgen: %s\n", why);
        return 2;
    }
    for (int i = 0; i < lg.nfw; i++) {
        struct fw *f = &lg.fws[i];
        f->lg = &lg;
        f->idx = i;
        char name[64];
        snprintf(name, sizeof name, "loadgen-%d", i);
        Mesos__V1__FrameworkInfo fi = MESOS__V1__FRAMEWORK_INFO__INIT;
        fi.user = "root";
        fi.name = name;
        char *roles[1] = {(char *)lg.role};
        Mesos__V1__FrameworkInfo__Capability cap = MESOS__V1__FRAMEWORK_INFO__CAPABILITY__INIT;
        Mesos__V1__FrameworkInfo__Capability *capp = &cap;
        if (lg.role) {
            /* A MULTI_ROLE framework with one role: offers carry allocation_info. */
            fi.roles = roles;
            fi.n_roles = 1;
            cap.has_type = 1;
            cap.type = MESOS__V1__FRAMEWORK_INFO__CAPABILITY__TYPE__MULTI_ROLE;
            fi.capabilities = &capp;
            fi.n_capabilities = 1;
        }
        struct cm_lg_client_config cfg = {
            .pool = lg.pool,
            .framework_info = &fi,
            .cbs = {.event = on_event, .call_done = on_call_done, .lost = on_lost},
            .arg = f,
        };
        f->s = cm_lg_client_new(&cfg, why, sizeof why);
        int rc = f->s ? cm_lg_client_subscribe(f->s) : 0;
        if (!f->s || rc != 0) {
            fprintf(stderr, "loadgen: framework %d: %s\n", i, f->s ? cm_strerror(rc) : why);
            return 1;
        }
    }
    if (lg.report > 0) {
        lg.report_ev = event_new(lg.base, -1, EV_PERSIST, report_cb, &lg);
        struct timeval tv = {(time_t)lg.report,
                             (suseconds_t)((lg.report - (time_t)lg.report) * 1e6)};
        event_add(lg.report_ev, &tv);
    }
    if (lg.duration > 0) {
        lg.stop_ev = evtimer_new(lg.base, stop_cb, &lg);
        struct timeval tv = {(time_t)lg.duration,
                             (suseconds_t)((lg.duration - (time_t)lg.duration) * 1e6)};
        evtimer_add(lg.stop_ev, &tv);
    }
    lg.sigterm = evsignal_new(lg.base, SIGTERM, stop_cb, &lg);
    event_add(lg.sigterm, NULL);
    run_loop(&lg);
    lg.stopping = 1;
    decline_held(&lg);
    /* Let the last acknowledgements and the declines reach the master (up to 2 s). */
    for (int k = 0; k < 200; k++) {
        size_t pending = 0;
        for (int i = 0; i < lg.nfw; i++)
            if (!lg.fws[i].fatal && cm_lg_client_subscribed(lg.fws[i].s))
                pending += cm_lg_client_pending(lg.fws[i].s);
        if (pending == 0)
            break;
        struct timeval tv = {0, 10000};
        event_base_loopexit(lg.base, &tv);
        event_base_dispatch(lg.base);
    }

    if (lg.lat)
        qsort(lg.lat, lg.nlat, sizeof *lg.lat, cmp_double);
    if (lg.latency_file) {
        FILE *lf = fopen(lg.latency_file, "w");
        if (lf)
            setvbuf(lf, NULL, _IOFBF, 1 << 20);
        for (size_t i = 0; lf && i < lg.nlat; i++)
            fprintf(lf, "%.3f\n", lg.lat[i] * 1e3);
        if (!lf || fclose(lf) != 0)
            fprintf(stderr, "loadgen: cannot write %s\n", lg.latency_file);
    }
    double window = lg.t_last_running - lg.t_first_launch;
    printf("RESULT {\"frameworks\":%d,\"launched\":%llu,\"running\":%llu,\"finished\":%llu,"
           "\"failed\":%llu,\"ack_failures\":%llu,\"call_failures\":%llu,\"offers\":%llu,"
           "\"declined\":%llu,\"elapsed_s\":%"
           ".3f,"
           "\"launch_window_s\":%.3f,\"running_per_s\":%.1f,\"suppress_calls\":%llu,"
           "\"revive_calls\":%llu,\"held_offers\":%llu,\"held_used\":%llu,\"rescinded\":%llu,"
           "\"declined_at_exit\":%llu,"
           "\"offer_to_running_ms\":{\"n\":%zu,\"p50\":%.2f,\"p90\":%.2f,\"p99\":%.2f,"
           "\"max\":%.2f}}\n",
           lg.nfw, lg.launched, lg.running, lg.finished, lg.failed, lg.ack_failures,
           lg.call_failures, lg.offers, lg.declined, now() - lg.t0, window,
           window > 0 ? (double)lg.running / window : 0.0, lg.suppress_calls, lg.revive_calls,
           lg.held_offers, lg.held_used, lg.rescinded, lg.declined_at_exit, lg.nlat,
           pct(lg.lat, lg.nlat, 50) * 1e3, pct(lg.lat, lg.nlat, 90) * 1e3,
           pct(lg.lat, lg.nlat, 99) * 1e3, lg.nlat ? lg.lat[lg.nlat - 1] * 1e3 : 0.0);
    fflush(stdout);
    cm_lg_pool_free(lg.pool); /* before the clients its queue refers to */
    for (int i = 0; i < lg.nfw; i++) {
        while (lg.fws[i].held) {
            struct held *h = lg.fws[i].held;
            lg.fws[i].held = h->next;
            held_free(h);
        }
        cm_lg_client_free(lg.fws[i].s);
        free(lg.fws[i].t_offer);
        free(lg.fws[i].seen);
    }
    free(lg.fws);
    free(lg.lat);
    free(lg.tv), free(lg.tp), free(lg.ids), free(lg.names);
    if (lg.report_ev)
        event_free(lg.report_ev);
    if (lg.stop_ev)
        event_free(lg.stop_ev);
    event_free(lg.sigterm);
    event_base_free(lg.base);
    return lg.failed ? 1 : 0;
}
