/* operator.c: the operator API's call layer — request checks in the scheduler API's order,
 * validation, and one handler per call (docs/operator-api.md). See operator.h. */
#include <event2/event.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fcntl.h>

#include "acls.h"
#include "allocator/allocator.h"
#include "codec.h"
#include "contender.h"
#include "errors.h"
#include "files.h"
#include "ids.h"
#include "log.h"
#include "master_http.h"
#include "acls.h"
#include "operator.h"
#include "pbjson.h"
#include "registrar.h"

#define MOD "operator"

typedef Mesos__V1__Master__Call Call;
typedef Mesos__V1__Master__Response Response;

#define RESULT(c, ...)                                                                             \
    do {                                                                                           \
        res->code = (c);                                                                           \
        snprintf(res->text, sizeof res->text, __VA_ARGS__);                                        \
        goto out;                                                                                  \
    } while (0)

/* ------------------------------------------------------------------------------------------ */
/* lifecycle, weights, logging */

static void parse_weights(struct cm_operator *op, const char *text)
{
    /* The master validated --weights at start (cm_master_new fails otherwise). */
    char *copy = cm_xstrdup(text), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq)
            continue;
        *eq = 0;
        double *w = cm_xmalloc(sizeof *w);
        *w = strtod(eq + 1, NULL);
        free(cm_strmap_put(&op->weights, tok, w));
    }
    free(copy);
}

static void on_log_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    cm_operator_tick(arg);
}

static void on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    cm_operator_heartbeat(arg);
}

static void op_destroy(void *arg)
{
    struct cm_operator *op = arg;
    cm_operator_end_subscribers(op);
    if (op->log_ev)
        event_free(op->log_ev);
    if (op->hb_ev)
        event_free(op->hb_ev);
    cm_strmap_cleanup_values(&op->weights, free);
    free(op);
}

struct cm_operator *cm_operator_new(struct cm_master *m)
{
    struct cm_operator *op = cm_xcalloc(1, sizeof *op);
    op->m = m;
    cm_strmap_init(&op->weights);
    if (m->flags->weights)
        parse_weights(op, m->flags->weights);
    enum cm_log_level lvl = CM_LOG_INFO;
    if (m->flags->logging_level)
        cm_log_parse_level(m->flags->logging_level, &lvl);
    op->base_log_level = (int)lvl;
    if (m->base) {
        op->log_ev = evtimer_new(m->base, on_log_timer, op);
        op->hb_ev = event_new(m->base, -1, EV_PERSIST, on_heartbeat, op);
        struct timeval tv = {(long)CM_OPERATOR_HEARTBEAT_SECS, 0};
        evtimer_add(op->hb_ev, &tv);
    }
    struct cm_master_observer obs;
    memset(&obs, 0, sizeof obs);
    cm_operator_observe(op, &obs);
    obs.arg = op;
    obs.destroy = op_destroy;
    cm_master_set_observer(m, &obs);
    return op;
}

struct cm_operator *cm_operator_of(struct cm_master *m)
{
    return m->observer.destroy == op_destroy ? m->observer.arg : NULL;
}

struct weights_ctx {
    struct cm_operator *op;
    char **roles;
    double *weights;
    size_t n;
    bool done, answered;
    int err;
};

static void weights_ctx_free(struct weights_ctx *ctx)
{
    for (size_t i = 0; i < ctx->n; i++)
        free(ctx->roles[i]);
    free(ctx->roles);
    free(ctx->weights);
    free(ctx);
}

static void set_weight(struct cm_operator *op, const char *role, double weight)
{
    cm_allocator_set_weight(op->m->allocator, role, weight);
    double *v = cm_xmalloc(sizeof *v);
    *v = weight;
    free(cm_strmap_put(&op->weights, role, v));
}

/* The registry holds the weights: the master acts on them now. */
static void weights_stored(void *arg, int err)
{
    struct weights_ctx *ctx = arg;
    struct cm_operator *op = ctx->op;
    if (err) {
        CM_ERROR(MOD, "Failed to store the weights in the registry: %s; not applied",
                 cm_strerror(err));
        cm_master_registrar_failed(op->m); /* as for any failed registry write */
    } else {
        for (size_t i = 0; i < ctx->n; i++) {
            set_weight(op, ctx->roles[i], ctx->weights[i]);
            CM_INFO(MOD, "Weight of role '%s' set to %g", ctx->roles[i], ctx->weights[i]);
        }
        cm_master_allocate_soon(op->m);
    }
    if (ctx->answered) {
        weights_ctx_free(ctx);
        return;
    }
    ctx->done = true;
    ctx->err = err;
}

void cm_operator_sync_weights(struct cm_operator *op)
{
    const struct cm_registrar *r = op->m->registrar;
    /* A failed registrar's content may hold what it could not store: not taken. */
    if (!r || !cm_registrar_recovered(r) || cm_registrar_failed(r))
        return;
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, cm_registrar_weights(r)); cm_strmap_iter_next(&it);) {
        double w = *(const double *)it.cur->value;
        const double *cur = cm_strmap_get(&op->weights, it.cur->key);
        if (!cur || *cur != w)
            set_weight(op, it.cur->key, w);
    }
}

int cm_operator_update_weights(struct cm_operator *op, Mesos__V1__WeightInfo *const *w, size_t n,
                               char *why, size_t whylen)
{
    for (size_t i = 0; i < n; i++) {
        const char *r = NULL;
        if (!w[i]->role)
            return cm_fail(400, why, whylen, "Weight role must be set");
        if (cm_role_validate(w[i]->role, &r) != 0)
            return cm_fail(400, why, whylen, "Invalid role '%s': %s", w[i]->role, r);
        if (!(w[i]->weight > 0) || !isfinite(w[i]->weight))
            return cm_fail(400, why, whylen,
                           "Invalid weight '%g' for role '%s': weights must be positive",
                           w[i]->weight, w[i]->role);
        for (size_t j = 0; j < i; j++)
            if (strcmp(w[j]->role, w[i]->role) == 0)
                return cm_fail(400, why, whylen, "Duplicate weight for role '%s'", w[i]->role);
    }
    if (n == 0)
        return 200;
    /* Written to the registry before the master acts (as Mesos): the allocator and GET_WEIGHTS
     * see the new weights only once they are stored. */
    struct weights_ctx *ctx = cm_xcalloc(1, sizeof *ctx);
    ctx->op = op;
    ctx->n = n;
    ctx->roles = cm_xcalloc(n, sizeof *ctx->roles);
    ctx->weights = cm_xcalloc(n, sizeof *ctx->weights);
    for (size_t i = 0; i < n; i++) {
        ctx->roles[i] = cm_xstrdup(w[i]->role);
        ctx->weights[i] = w[i]->weight;
    }
    cm_registrar_update_weights(op->m->registrar, (const char *const *)ctx->roles, ctx->weights, n,
                                weights_stored, ctx);
    if (!ctx->done) {
        /* An asynchronous storage (zk): answered now, applied when the store completes. */
        ctx->answered = true;
        return 200;
    }
    int err = ctx->err;
    weights_ctx_free(ctx);
    if (err)
        return cm_fail(503, why, whylen, "Failed to store the weights in the registry: %s",
                       cm_strerror(err));
    return 200;
}

void cm_operator_set_logging(struct cm_operator *op, uint32_t level, double secs)
{
    op->log_level = level;
    cm_log_set_level(level > 0 ? CM_LOG_DEBUG : (enum cm_log_level)op->base_log_level);
    op->log_revert_at = level > 0 ? cm_clock_now(op->m->clock) + secs : 0;
    CM_INFO(MOD, "Logging level set to %u for %g seconds", level, secs);
    if (op->log_ev) {
        evtimer_del(op->log_ev);
        if (level > 0) {
            double whole = floor(secs);
            struct timeval tv = {(long)whole, (long)((secs - whole) * 1e6)};
            evtimer_add(op->log_ev, &tv);
        }
    }
}

uint32_t cm_operator_logging_level(const struct cm_operator *op)
{
    return op->log_level;
}

void cm_operator_tick(struct cm_operator *op)
{
    if (op->log_level == 0 || op->log_revert_at <= 0)
        return;
    double left = op->log_revert_at - cm_clock_now(op->m->clock);
    /* The timer runs on the loop's monotonic time and may wake a little before the clock says
     * the duration is over: a few milliseconds early counts as due. */
    if (left > 0.01) {
        if (op->log_ev) {
            double whole = floor(left);
            struct timeval tv = {(long)whole, (long)((left - whole) * 1e6)};
            evtimer_add(op->log_ev, &tv);
        }
        return;
    }
    {
        op->log_level = 0;
        op->log_revert_at = 0;
        cm_log_set_level((enum cm_log_level)op->base_log_level);
        CM_INFO(MOD, "Logging level reverted to the original level");
    }
}

/* One --acls check: 0, or 403 with why naming the action. */
static int acl_check(struct cm_operator *op, enum cm_acl_action action, const char *principal,
                     const char *object, char *why, size_t whylen)
{
    if (cm_acls_allowed(op->m->acls, action, principal, object))
        return 0;
    snprintf(why, whylen, "Forbidden: principal '%s' is not authorized to %s%s%s",
             principal ? principal : "(anonymous)", cm_acls_action_name(action),
             object ? " on " : "", object ? object : "");
    return 403;
}

int cm_operator_authorize(struct cm_operator *op, const char *principal, const Call *call,
                          char *why, size_t whylen)
{
    /* Every operator call passes here with its principal: the actions Mesos's master
     * authorizes for operator calls, with the object Mesos passes (ANY where it passes none). */
    const char *object = NULL;
    switch (call->type) {
    case MESOS__V1__MASTER__CALL__TYPE__TEARDOWN: {
        const struct cm_framework *fw =
            call->teardown && call->teardown->framework_id
                ? cm_master_framework(op->m, call->teardown->framework_id->value)
                : NULL;
        if (fw && fw->info->principal)
            object = fw->info->principal;
        return acl_check(op, CM_ACL_TEARDOWN_FRAMEWORK, principal, object, why, whylen);
    }
    case MESOS__V1__MASTER__CALL__TYPE__MARK_AGENT_GONE:
        return acl_check(op, CM_ACL_MARK_AGENT_GONE, principal, NULL, why, whylen);
    case MESOS__V1__MASTER__CALL__TYPE__DRAIN_AGENT:
        return acl_check(op, CM_ACL_DRAIN_AGENT, principal, NULL, why, whylen);
    case MESOS__V1__MASTER__CALL__TYPE__DEACTIVATE_AGENT:
        return acl_check(op, CM_ACL_DEACTIVATE_AGENT, principal, NULL, why, whylen);
    case MESOS__V1__MASTER__CALL__TYPE__REACTIVATE_AGENT:
        return acl_check(op, CM_ACL_REACTIVATE_AGENT, principal, NULL, why, whylen);
    case MESOS__V1__MASTER__CALL__TYPE__SET_LOGGING_LEVEL:
        return acl_check(op, CM_ACL_SET_LOG_LEVEL, principal, NULL, why, whylen);
    case MESOS__V1__MASTER__CALL__TYPE__GET_FLAGS:
        return acl_check(op, CM_ACL_VIEW_FLAGS, principal, NULL, why, whylen);
    case MESOS__V1__MASTER__CALL__TYPE__LIST_FILES:
    case MESOS__V1__MASTER__CALL__TYPE__READ_FILE:
        return acl_check(op, CM_ACL_ACCESS_MESOS_LOG, principal, NULL, why, whylen);
    case MESOS__V1__MASTER__CALL__TYPE__GET_ROLES:
    case MESOS__V1__MASTER__CALL__TYPE__GET_WEIGHTS:
        return acl_check(op, CM_ACL_VIEW_ROLE, principal, NULL, why, whylen);
    case MESOS__V1__MASTER__CALL__TYPE__UPDATE_WEIGHTS:
        if (!call->update_weights)
            return 0; /* validation answers 400 */
        for (size_t i = 0; i < call->update_weights->n_weight_infos; i++) {
            const char *role = call->update_weights->weight_infos[i]->role;
            int rc = acl_check(op, CM_ACL_UPDATE_WEIGHT, principal, role, why, whylen);
            if (rc)
                return rc;
        }
        return 0;
    case MESOS__V1__MASTER__CALL__TYPE__GET_STATE:
    case MESOS__V1__MASTER__CALL__TYPE__GET_FRAMEWORKS:
    case MESOS__V1__MASTER__CALL__TYPE__GET_TASKS:
    case MESOS__V1__MASTER__CALL__TYPE__GET_EXECUTORS:
    case MESOS__V1__MASTER__CALL__TYPE__SUBSCRIBE:
        /* Mesos filters these per object; cmesos answers them only to a principal allowed to
         * view every framework and task (a coarser rule: never shows more than Mesos). */
        {
            int rc = acl_check(op, CM_ACL_VIEW_FRAMEWORK, principal, NULL, why, whylen);
            return rc ? rc : acl_check(op, CM_ACL_VIEW_TASK, principal, NULL, why, whylen);
        }
    default: return 0;
    }
}

void cm_operator_result_cleanup(struct cm_operator_result *res)
{
    free(res->body);
    res->body = NULL;
    res->body_len = 0;
}

/* ------------------------------------------------------------------------------------------ */
/* validation */

static const char *call_name(int type)
{
    return cm_enum_name_or(&mesos__v1__master__call__type__descriptor, type, "UNKNOWN");
}

/* The body field each call type needs (NULL: none), as Mesos's validation names it. */
static const char *required_body(const Call *c, bool *present)
{
    *present = true;
#define NEED(t, f)                                                                                 \
    case MESOS__V1__MASTER__CALL__TYPE__##t: *present = c->f != NULL; return #f
    switch (c->type) {
        NEED(GET_METRICS, get_metrics);
        NEED(SET_LOGGING_LEVEL, set_logging_level);
        NEED(LIST_FILES, list_files);
        NEED(READ_FILE, read_file);
        NEED(UPDATE_WEIGHTS, update_weights);
        NEED(RESERVE_RESOURCES, reserve_resources);
        NEED(UNRESERVE_RESOURCES, unreserve_resources);
        NEED(CREATE_VOLUMES, create_volumes);
        NEED(DESTROY_VOLUMES, destroy_volumes);
        NEED(GROW_VOLUME, grow_volume);
        NEED(SHRINK_VOLUME, shrink_volume);
        NEED(UPDATE_MAINTENANCE_SCHEDULE, update_maintenance_schedule);
        NEED(START_MAINTENANCE, start_maintenance);
        NEED(STOP_MAINTENANCE, stop_maintenance);
        NEED(DRAIN_AGENT, drain_agent);
        NEED(DEACTIVATE_AGENT, deactivate_agent);
        NEED(REACTIVATE_AGENT, reactivate_agent);
        NEED(UPDATE_QUOTA, update_quota);
/* Deprecated in Mesos, and still validated like the others. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
        NEED(SET_QUOTA, set_quota);
        NEED(REMOVE_QUOTA, remove_quota);
#pragma GCC diagnostic pop
        NEED(TEARDOWN, teardown);
        NEED(MARK_AGENT_GONE, mark_agent_gone);
    default: return NULL;
    }
#undef NEED
}

/* The type value a client sent when the decode left Call.type unset (an undeclared value is
 * dropped there like Mesos's unknown fields): for the 400 that names it. */
static bool raw_type(enum cm_media ct, const uint8_t *body, size_t len, char *out, size_t outlen)
{
    if (ct == CM_MEDIA_JSON) {
        json_t *j = json_loadb((const char *)body, len, 0, NULL);
        json_t *t = j ? json_object_get(j, "type") : NULL;
        bool ok = t != NULL;
        if (json_is_string(t))
            snprintf(out, outlen, "'%.200s'", json_string_value(t));
        else if (json_is_integer(t))
            snprintf(out, outlen, "%lld", (long long)json_integer_value(t));
        else
            ok = false;
        json_decref(j);
        return ok;
    }
    ProtobufCMessage *raw =
        protobuf_c_message_unpack(&mesos__v1__master__call__descriptor, NULL, len, body);
    bool ok = false;
    if (raw) {
        const Call *c = (const Call *)raw;
        if (c->has_type && c->type != 0) {
            snprintf(out, outlen, "%d", (int)c->type);
            ok = true;
        }
        protobuf_c_message_free_unpacked(raw, NULL);
    }
    return ok;
}

/* ------------------------------------------------------------------------------------------ */
/* handlers */

static int encode(struct cm_operator_result *res, Response *r)
{
    cm_pb_encode(&r->base, res->media, &res->body, &res->body_len);
    return 200;
}

static Mesos__V1__Master__Response__GetFlags *get_flags(struct cm_master *m)
{
    Mesos__V1__Master__Response__GetFlags *o =
        cm_operator_msg_new(&mesos__v1__master__response__get_flags__descriptor);
    json_t *j = cm_flags_to_json(m->flags->table, m->flags->nflags);
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v)
    {
        Mesos__V1__Flag *f = cm_operator_msg_new(&mesos__v1__flag__descriptor);
        f->name = cm_xstrdup(k);
        if (json_is_string(v))
            f->value = cm_xstrdup(json_string_value(v));
        else
            f->value = json_dumps(v, JSON_ENCODE_ANY);
        o->flags = cm_xrealloc(o->flags, (o->n_flags + 1) * sizeof *o->flags);
        o->flags[o->n_flags++] = f;
    }
    json_decref(j);
    return o;
}

static Mesos__V1__Master__Response__GetMetrics *get_metrics(struct cm_master *m)
{
    Mesos__V1__Master__Response__GetMetrics *o =
        cm_operator_msg_new(&mesos__v1__master__response__get_metrics__descriptor);
    json_t *j = cm_master_metrics_json(m);
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v)
    {
        Mesos__V1__Metric *x = cm_operator_msg_new(&mesos__v1__metric__descriptor);
        x->name = cm_xstrdup(k);
        x->has_value = 1;
        x->value = json_number_value(v);
        o->metrics = cm_xrealloc(o->metrics, (o->n_metrics + 1) * sizeof *o->metrics);
        o->metrics[o->n_metrics++] = x;
    }
    json_decref(j);
    return o;
}

/* The master's files are those of its /files table (master_files.c: the log as /master/log),
 * through the same module and confinement as the /files endpoints. Returns the HTTP code. */
static int files_status(int rc, const char *path, char *why, size_t whylen)
{
    if (rc == CM_EINVAL)
        return cm_fail(400, why, whylen, "Expecting an absolute 'path', got '%s'", path);
    if (rc == -EACCES)
        return cm_fail(403, why, whylen,
                       "Path '%s' is outside of the attached files or crosses a symlink", path);
    return cm_fail(404, why, whylen, "Path '%s' not found", path);
}

static int list_files(struct cm_master *m, const Call *c, Response *r, char *why, size_t whylen)
{
    const char *path = c->list_files->path;
    struct cm_files_entry *e = NULL;
    size_t n = 0;
    int rc = cm_files_list(cm_master_files(m), path, &e, &n);
    if (rc)
        return files_status(rc, path, why, whylen);
    Mesos__V1__Master__Response__ListFiles *o =
        cm_operator_msg_new(&mesos__v1__master__response__list_files__descriptor);
    o->file_infos = cm_xcalloc(n ? n : 1, sizeof *o->file_infos);
    for (size_t i = 0; i < n; i++) {
        const struct stat *st = &e[i].st;
        Mesos__V1__FileInfo *fi = cm_operator_msg_new(&mesos__v1__file_info__descriptor);
        fi->path = cm_xstrdup(e[i].path);
        fi->has_nlink = fi->has_size = fi->has_mode = 1;
        fi->nlink = (int32_t)st->st_nlink;
        fi->size = (uint64_t)st->st_size;
        fi->mode = st->st_mode;
        fi->mtime = cm_operator_msg_new(&mesos__v1__time_info__descriptor);
        fi->mtime->nanoseconds = (int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
        char num[32];
        snprintf(num, sizeof num, "%u", (unsigned)st->st_uid);
        fi->uid = cm_xstrdup(num);
        snprintf(num, sizeof num, "%u", (unsigned)st->st_gid);
        fi->gid = cm_xstrdup(num);
        o->file_infos[o->n_file_infos++] = fi;
    }
    cm_files_entries_free(e, n);
    r->list_files = o;
    return 200;
}

static int read_file(struct cm_master *m, const Call *c, Response *r, char *why, size_t whylen)
{
    const Mesos__V1__Master__Call__ReadFile *rf = c->read_file;
    void *data = NULL;
    size_t len = 0;
    uint64_t size = 0;
    int rc = cm_files_read(cm_master_files(m), rf->path, rf->offset,
                           rf->has_length ? rf->length : CM_OPERATOR_READ_MAX, CM_OPERATOR_READ_MAX,
                           &data, &len, &size);
    if (rc == CM_EINVAL && rf->path[0] == '/')
        return cm_fail(400, why, whylen, "Path '%s' is not a regular file", rf->path);
    if (rc)
        return files_status(rc, rf->path, why, whylen);
    Mesos__V1__Master__Response__ReadFile *o =
        cm_operator_msg_new(&mesos__v1__master__response__read_file__descriptor);
    o->size = size;
    o->data.data = data;
    o->data.len = len;
    r->read_file = o;
    return 200;
}

static bool agent_id_ok(const Mesos__V1__AgentID *id, char *why, size_t whylen)
{
    const char *r = NULL;
    if (cm_id_validate_n(id->value, strlen(id->value), &r) != 0) {
        snprintf(why, whylen, "Invalid agent ID '%.255s': %s", id->value, r);
        return false;
    }
    return true;
}

/* Runs a validated call; returns the HTTP code (why for errors, r filled for GET_*). */
static int dispatch(struct cm_operator *op, const Call *c, Response *r, char *why, size_t whylen)
{
    struct cm_master *m = op->m;
    r->has_type = 1;
    switch (c->type) {
    case MESOS__V1__MASTER__CALL__TYPE__GET_HEALTH:
        r->type = MESOS__V1__MASTER__RESPONSE__TYPE__GET_HEALTH;
        r->get_health = cm_operator_msg_new(&mesos__v1__master__response__get_health__descriptor);
        r->get_health->healthy = 1;
        return 200;
    case MESOS__V1__MASTER__CALL__TYPE__GET_FLAGS:
        r->type = MESOS__V1__MASTER__RESPONSE__TYPE__GET_FLAGS;
        r->get_flags = get_flags(m);
        return 200;
    case MESOS__V1__MASTER__CALL__TYPE__GET_VERSION: {
        r->type = MESOS__V1__MASTER__RESPONSE__TYPE__GET_VERSION;
        r->get_version = cm_operator_msg_new(&mesos__v1__master__response__get_version__descriptor);
        Mesos__V1__VersionInfo *v = cm_operator_msg_new(&mesos__v1__version_info__descriptor);
        v->version = cm_xstrdup(CMESOS_VERSION);
        v->build_date = cm_xstrdup(__DATE__ " " __TIME__);
        v->has_build_time = 1;
        v->build_user = cm_xstrdup("cmesos");
        r->get_version->version_info = v;
        return 200;
    }
    case MESOS__V1__MASTER__CALL__TYPE__GET_METRICS:
        if (c->get_metrics->timeout && c->get_metrics->timeout->nanoseconds < 0)
            return cm_fail(400, why, whylen, "'get_metrics.timeout' must not be negative");
        /* Every metric is local and answers at once, so the timeout never cuts any off. */
        r->type = MESOS__V1__MASTER__RESPONSE__TYPE__GET_METRICS;
        r->get_metrics = get_metrics(m);
        return 200;
    case MESOS__V1__MASTER__CALL__TYPE__GET_LOGGING_LEVEL:
        r->type = MESOS__V1__MASTER__RESPONSE__TYPE__GET_LOGGING_LEVEL;
        r->get_logging_level =
            cm_operator_msg_new(&mesos__v1__master__response__get_logging_level__descriptor);
        r->get_logging_level->level = op->log_level;
        return 200;
    case MESOS__V1__MASTER__CALL__TYPE__SET_LOGGING_LEVEL: {
        int64_t ns = c->set_logging_level->duration->nanoseconds;
        if (ns <= 0)
            return cm_fail(400, why, whylen, "'set_logging_level.duration' must be positive");
        cm_operator_set_logging(op, c->set_logging_level->level, (double)ns / 1e9);
        r->has_type = 0;
        return 200;
    }
    case MESOS__V1__MASTER__CALL__TYPE__LIST_FILES:
        r->type = MESOS__V1__MASTER__RESPONSE__TYPE__LIST_FILES;
        return list_files(m, c, r, why, whylen);
    case MESOS__V1__MASTER__CALL__TYPE__READ_FILE:
        r->type = MESOS__V1__MASTER__RESPONSE__TYPE__READ_FILE;
        return read_file(m, c, r, why, whylen);
    case MESOS__V1__MASTER__CALL__TYPE__GET_STATE:
        r->type = MESOS__V1__MASTER__RESPONSE__TYPE__GET_STATE;
        r->get_state = cm_operator_get_state(m);
        return 200;
    case MESOS__V1__MASTER__CALL__TYPE__GET_AGENTS:
        r->type = MESOS__V1__MASTER__RESPONSE__TYPE__GET_AGENTS;
        r->get_agents = cm_operator_get_agents(m);
        return 200;
    case MESOS__V1__MASTER__CALL__TYPE__GET_FRAMEWORKS:
        r->type = MESOS__V1__MASTER__RESPONSE__TYPE__GET_FRAMEWORKS;
        r->get_frameworks = cm_operator_get_frameworks(m);
        return 200;
    case MESOS__V1__MASTER__CALL__TYPE__GET_EXECUTORS:
        r->type = MESOS__V1__MASTER__RESPONSE__TYPE__GET_EXECUTORS;
        r->get_executors = cm_operator_get_executors(m);
        return 200;
    case MESOS__V1__MASTER__CALL__TYPE__GET_OPERATIONS:
        /* No offer operation other than LAUNCH exists in cmesos, and LAUNCHes are not tracked
         * as operations (Mesos neither): the list is empty, truthfully. */
        r->type = MESOS__V1__MASTER__RESPONSE__TYPE__GET_OPERATIONS;
        r->get_operations =
            cm_operator_msg_new(&mesos__v1__master__response__get_operations__descriptor);
        return 200;
    case MESOS__V1__MASTER__CALL__TYPE__GET_TASKS:
        r->type = MESOS__V1__MASTER__RESPONSE__TYPE__GET_TASKS;
        r->get_tasks = cm_operator_get_tasks(m);
        return 200;
    case MESOS__V1__MASTER__CALL__TYPE__GET_ROLES:
        r->type = MESOS__V1__MASTER__RESPONSE__TYPE__GET_ROLES;
        r->get_roles = cm_operator_get_roles(op);
        return 200;
    case MESOS__V1__MASTER__CALL__TYPE__GET_WEIGHTS:
        r->type = MESOS__V1__MASTER__RESPONSE__TYPE__GET_WEIGHTS;
        r->get_weights = cm_operator_get_weights(op);
        return 200;
    case MESOS__V1__MASTER__CALL__TYPE__UPDATE_WEIGHTS:
        r->has_type = 0;
        return cm_operator_update_weights(op, c->update_weights->weight_infos,
                                          c->update_weights->n_weight_infos, why, whylen);
    case MESOS__V1__MASTER__CALL__TYPE__GET_MASTER:
        r->type = MESOS__V1__MASTER__RESPONSE__TYPE__GET_MASTER;
        r->get_master = cm_operator_msg_new(&mesos__v1__master__response__get_master__descriptor);
        if (m->info)
            r->get_master->master_info = cm_pb_dup(&m->info->base);
        r->get_master->has_start_time = 1;
        r->get_master->start_time = m->start_time;
        if (m->elected_time > 0) {
            r->get_master->has_elected_time = 1;
            r->get_master->elected_time = m->elected_time;
        }
        return 200;
    case MESOS__V1__MASTER__CALL__TYPE__TEARDOWN: {
        r->has_type = 0;
        struct cm_framework *fw = cm_master_framework(m, c->teardown->framework_id->value);
        if (!fw)
            return cm_fail(400, why, whylen, "No framework found with specified ID");
        CM_INFO(MOD, "Tearing down framework %s on the operator's request", fw->id);
        m->metrics.messages_unregister_framework++;
        cm_master_remove_framework(m, fw);
        return 200;
    }
    case MESOS__V1__MASTER__CALL__TYPE__MARK_AGENT_GONE:
        r->has_type = 0;
        if (!agent_id_ok(c->mark_agent_gone->agent_id, why, whylen))
            return 400;
        return cm_master_mark_agent_gone(m, c->mark_agent_gone->agent_id->value, why, whylen);
    case MESOS__V1__MASTER__CALL__TYPE__DRAIN_AGENT: {
        r->has_type = 0;
        const Mesos__V1__Master__Call__DrainAgent *d = c->drain_agent;
        if (!agent_id_ok(d->agent_id, why, whylen))
            return 400;
        bool has_grace = d->max_grace_period != NULL;
        int64_t ns = 0;
        if (has_grace) {
            const Google__Protobuf__Duration *g = d->max_grace_period;
            if (g->seconds < 0 || g->nanos < 0 || g->nanos >= 1000000000 ||
                g->seconds > INT64_MAX / 1000000000 - 1)
                return cm_fail(400, why, whylen, "Invalid 'drain_agent.max_grace_period'");
            ns = g->seconds * 1000000000 + g->nanos;
        }
        return cm_master_drain_agent(m, d->agent_id->value, has_grace, ns,
                                     d->has_mark_gone && d->mark_gone, why, whylen);
    }
    case MESOS__V1__MASTER__CALL__TYPE__DEACTIVATE_AGENT:
        r->has_type = 0;
        if (!agent_id_ok(c->deactivate_agent->agent_id, why, whylen))
            return 400;
        return cm_master_deactivate_agent(m, c->deactivate_agent->agent_id->value, why, whylen);
    case MESOS__V1__MASTER__CALL__TYPE__REACTIVATE_AGENT:
        r->has_type = 0;
        if (!agent_id_ok(c->reactivate_agent->agent_id, why, whylen))
            return 400;
        return cm_master_reactivate_agent(m, c->reactivate_agent->agent_id->value, why, whylen);
    case MESOS__V1__MASTER__CALL__TYPE__RESERVE_RESOURCES:
    case MESOS__V1__MASTER__CALL__TYPE__UNRESERVE_RESOURCES:
        r->has_type = 0;
        return cm_fail(501, why, whylen,
                       "%s is not implemented: cmesos has no dynamic reservations",
                       call_name(c->type));
    case MESOS__V1__MASTER__CALL__TYPE__CREATE_VOLUMES:
    case MESOS__V1__MASTER__CALL__TYPE__DESTROY_VOLUMES:
    case MESOS__V1__MASTER__CALL__TYPE__GROW_VOLUME:
    case MESOS__V1__MASTER__CALL__TYPE__SHRINK_VOLUME:
        r->has_type = 0;
        return cm_fail(501, why, whylen, "%s is not implemented: cmesos has no persistent volumes",
                       call_name(c->type));
    case MESOS__V1__MASTER__CALL__TYPE__GET_MAINTENANCE_STATUS:
    case MESOS__V1__MASTER__CALL__TYPE__GET_MAINTENANCE_SCHEDULE:
    case MESOS__V1__MASTER__CALL__TYPE__UPDATE_MAINTENANCE_SCHEDULE:
    case MESOS__V1__MASTER__CALL__TYPE__START_MAINTENANCE:
    case MESOS__V1__MASTER__CALL__TYPE__STOP_MAINTENANCE:
        r->has_type = 0;
        return cm_fail(501, why, whylen,
                       "%s is not implemented: cmesos has no maintenance schedules (use "
                       "DRAIN_AGENT)",
                       call_name(c->type));
    case MESOS__V1__MASTER__CALL__TYPE__GET_QUOTA:
    case MESOS__V1__MASTER__CALL__TYPE__UPDATE_QUOTA:
    case MESOS__V1__MASTER__CALL__TYPE__SET_QUOTA:
    case MESOS__V1__MASTER__CALL__TYPE__REMOVE_QUOTA:
        r->has_type = 0;
        return cm_fail(501, why, whylen, "%s is not implemented: cmesos has no quota",
                       call_name(c->type));
    default:
        r->has_type = 0;
        return cm_fail(400, why, whylen, "Unknown call type %d", (int)c->type);
    }
}

/* The large replies that may be written in slices. */
static int snap_kind(int type)
{
    switch (type) {
    case MESOS__V1__MASTER__CALL__TYPE__GET_STATE: return CM_OPERATOR_SNAP_STATE;
    case MESOS__V1__MASTER__CALL__TYPE__GET_TASKS: return CM_OPERATOR_SNAP_TASKS;
    case MESOS__V1__MASTER__CALL__TYPE__GET_AGENTS: return CM_OPERATOR_SNAP_AGENTS;
    case MESOS__V1__MASTER__CALL__TYPE__GET_FRAMEWORKS: return CM_OPERATOR_SNAP_FRAMEWORKS;
    case MESOS__V1__MASTER__CALL__TYPE__GET_EXECUTORS: return CM_OPERATOR_SNAP_EXECUTORS;
    default: return CM_OPERATOR_SNAP_NONE;
    }
}

void cm_operator_request(struct cm_operator *op, const struct cm_operator_request *req,
                         struct cm_operator_result *res)
{
    Call *call = NULL;
    Response *r = NULL;
    char why[768];
    memset(res, 0, sizeof *res);
    cm_operator_sync_weights(op);
    const struct cm_contender *cont = op->m->contender;
    if (cont && (cont->ops->recovering(cont) || !cm_registrar_recovered(op->m->registrar)))
        RESULT(503, "Master has not finished recovery");
    if (strcmp(req->method, "POST") != 0)
        RESULT(405, "Expecting a 'POST' request, received '%s'", req->method);
    if (!req->content_type)
        RESULT(400, "Expecting 'Content-Type' to be present");
    enum cm_media ct = cm_http_content_type(req->content_type);
    if (ct != CM_MEDIA_JSON && ct != CM_MEDIA_PROTOBUF)
        RESULT(415, "Expecting 'Content-Type' of application/json or application/x-protobuf");
    ProtobufCMessage *msg = NULL;
    int rc = cm_pb_decode(&mesos__v1__master__call__descriptor, ct, req->body, req->body_len, &msg,
                          why, sizeof why);
    if (rc == CM_EPARSE && ct == CM_MEDIA_JSON)
        RESULT(400, "Failed to parse body into JSON: %s", why);
    if (rc == CM_EPARSE)
        RESULT(400, "Failed to parse body into Call protobuf");
    if (rc && ct == CM_MEDIA_JSON)
        RESULT(400, "Failed to convert JSON into Call protobuf: %s", why);
    if (rc)
        RESULT(400, "Failed to parse body into Call protobuf: %s", why);
    call = (Call *)msg;
    if (!call->has_type || call->type == MESOS__V1__MASTER__CALL__TYPE__UNKNOWN) {
        char raw[256];
        if (raw_type(ct, req->body, req->body_len, raw, sizeof raw))
            RESULT(400, "Failed to validate master::Call: Unknown call type %s", raw);
        RESULT(400, "Failed to validate master::Call: Expecting 'type' to be present");
    }
    bool present;
    const char *field = required_body(call, &present);
    if (field && !present)
        RESULT(400, "Failed to validate master::Call: Expecting '%s' to be present", field);
    res->media = cm_http_negotiate(req->accept);
    if (res->media == CM_MEDIA_NONE || res->media == CM_MEDIA_UNSUPPORTED)
        RESULT(406, "Expecting 'Accept' to allow application/json or application/x-protobuf");
    if ((rc = cm_operator_authorize(op, req->principal, call, why, sizeof why)) != 0)
        RESULT(rc, "%s", why);
    CM_DEBUG(MOD, "Processing call %s", call_name(call->type));
    if (call->type == MESOS__V1__MASTER__CALL__TYPE__SUBSCRIBE) {
        if (op->nsubs >= CM_OPERATOR_MAX_SUBSCRIBERS)
            RESULT(503, "Too many operator event stream subscribers (%d)",
                   CM_OPERATOR_MAX_SUBSCRIBERS);
        res->code = 200;
        res->subscribe = true;
        goto out;
    }
    if (req->sliced && !op->one_piece &&
        (res->snap = snap_kind(call->type)) != CM_OPERATOR_SNAP_NONE) {
        res->code = 200; /* the caller writes it in slices (operator_stream.c) */
        goto out;
    }
    r = cm_operator_msg_new(&mesos__v1__master__response__descriptor);
    why[0] = 0;
    res->code = dispatch(op, call, r, why, sizeof why);
    if (res->code == 200 && r->has_type)
        encode(res, r);
    else if (res->code != 200)
        snprintf(res->text, sizeof res->text, "%s", why);
out:
    if (r)
        protobuf_c_message_free_unpacked(&r->base, NULL);
    if (call)
        protobuf_c_message_free_unpacked(&call->base, NULL);
}
