/*
 * prometheus.c: /metrics/snapshot -> Prometheus text exposition format 0.0.4 (contract in
 * prometheus.h).
 */
#include "prometheus.h"

#include <fnmatch.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "http_server.h"
#include "strmap.h"
#include "util.h"

enum prom_type { PROM_GAUGE, PROM_COUNTER, PROM_SUMMARY };

/* Mesos metric names (labels taken out, see prometheus.h) that Mesos declares as counters
 * (process::metrics::Counter in src/master/metrics.hpp, src/slave/metrics.hpp, the GC, fetcher
 * and containerizer), matched with fnmatch(3) where '*' also spans '/'. */
static const char *const COUNTERS[] = {
    /* master */
    "master/tasks_finished",
    "master/tasks_failed",
    "master/tasks_killed",
    "master/tasks_lost",
    "master/tasks_error",
    "master/tasks_dropped",
    "master/tasks_gone",
    "master/tasks_gone_by_operator",
    "master/task_*/source_*",
    "master/dropped_messages",
    "master/http_cache_hits",
    "master/messages_*",
    "master/valid_*",
    "master/invalid_*",
    "master/recovery_slave_removals",
    "master/slave_registrations",
    "master/slave_reregistrations",
    "master/slave_removals",
    "master/slave_removals/*",
    "master/slave_shutdowns_*",
    "master/slave_unreachable_*",
    "master/operations*total",
    "master/operations*finished",
    "master/operations*failed",
    "master/operations*error",
    "master/operations*dropped",
    "master/operations*gone_by_operator",
    "master/frameworks/calls",
    "master/frameworks/calls/*",
    "master/frameworks/events",
    "master/frameworks/events/*",
    "master/frameworks/offers/*",
    "master/frameworks/tasks/terminal/*",
    "master/frameworks/operations",
    "master/frameworks/operations/*",
    "allocator/mesos/allocation_runs",
    /* agent */
    "slave/recovery_errors",
    "slave/tasks_finished",
    "slave/tasks_failed",
    "slave/tasks_killed",
    "slave/tasks_lost",
    "slave/tasks_gone",
    "slave/executors_terminated",
    "slave/executors_preempted",
    "slave/valid_*",
    "slave/invalid_*",
    "slave/container_launch_errors",
    "gc/path_removals_succeeded",
    "gc/path_removals_failed",
    "containerizer/fetcher/task_fetches_succeeded",
    "containerizer/fetcher/task_fetches_failed",
    "containerizer/mesos/container_destroy_errors",
    /* both: streams cut off for not reading (http_server.h) */
    "*/event_streams_dropped_slow",
};

/* Role-bearing names whose role may contain '/': the known endings after the role. */
static const char *const ROLE_ENDINGS[] = {"/shares/dominant", "/active", "/suppressed"};

#define MAX_LABELS 4

struct label {
    const char *name;
    char *value;
};

/* One Mesos metric, parsed. */
struct metric {
    char *key;  /* the Mesos name with labels taken out (for the counter table) */
    char *help; /* the Mesos name with <placeholders> for labels */
    struct label labels[MAX_LABELS];
    int nlabels;
};

struct sample {
    char *labels; /* rendered "{a=\"b\"}" or "" */
    const char *suffix;
    double value;
};

struct family {
    char *name;
    char *help;
    enum prom_type type;
    struct sample *samples;
    size_t n, cap;
};

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decoding of a framework name (Mesos url-encodes it in metric names). A NUL or a
 * broken escape is kept as written. */
static char *url_decode(const char *s, size_t n)
{
    char *out = cm_xmalloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0 &&
            (hexval(s[i + 1]) | hexval(s[i + 2])) != 0) {
            out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

/* Whether s is valid UTF-8 (the format requires it of label values). */
static bool utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned char c = *p;
        int n = c < 0x80                   ? 0
                : (c >= 0xC2 && c <= 0xDF) ? 1
                : (c >= 0xE0 && c <= 0xEF) ? 2
                : (c >= 0xF0 && c <= 0xF4) ? 3
                                           : -1;
        if (n < 0)
            return false;
        p++;
        for (int i = 0; i < n; i++, p++)
            if ((*p & 0xC0) != 0x80)
                return false;
    }
    return true;
}

static void add_label(struct metric *m, const char *name, char *value)
{
    if (m->nlabels < MAX_LABELS) {
        m->labels[m->nlabels].name = name;
        m->labels[m->nlabels].value = value;
        m->nlabels++;
    } else {
        free(value);
    }
}

static void metric_cleanup(struct metric *m)
{
    free(m->key);
    free(m->help);
    for (int i = 0; i < m->nlabels; i++)
        free(m->labels[i].value);
}

/* master/frameworks/<name>/<id>/<rest>. */
static void take_framework(struct metric *m)
{
    static const char pre[] = "master/frameworks/";
    if (strncmp(m->key, pre, sizeof pre - 1) != 0)
        return;
    const char *name = m->key + sizeof pre - 1;
    const char *slash1 = strchr(name, '/');
    if (!slash1)
        return;
    const char *id = slash1 + 1;
    const char *slash2 = strchr(id, '/');
    if (!slash2 || slash2[1] == '\0')
        return;
    add_label(m, "framework_id", cm_xstrndup(id, (size_t)(slash2 - id)));
    /* The name as the framework gave it; its url-encoded form if that is not UTF-8. */
    char *decoded = url_decode(name, (size_t)(slash1 - name));
    if (!utf8_valid(decoded)) {
        free(decoded);
        decoded = cm_xstrndup(name, (size_t)(slash1 - name));
    }
    add_label(m, "framework_name", decoded);
    char *help = cm_xasprintf("%s<framework name>/<framework id>%s", pre, slash2);
    char *key = cm_xasprintf("%s%s", pre, slash2 + 1);
    free(m->help);
    free(m->key);
    m->help = help;
    m->key = key;
}

/* .../roles/<role>/<rest> or .../role/<role>/<rest> (also at the start of the name). */
static void take_role(struct metric *m)
{
    const char *k = m->key;
    const char *at = NULL;
    size_t seglen = 0;
    for (const char *p = k; *p; p++) {
        if (p != k && p[-1] != '/')
            continue;
        if (strncmp(p, "roles/", 6) == 0) {
            at = p;
            seglen = 6;
            break;
        }
        if (strncmp(p, "role/", 5) == 0) {
            at = p;
            seglen = 5;
            break;
        }
    }
    if (!at)
        return;
    const char *role = at + seglen;
    size_t rlen = 0;
    const char *rest = NULL; /* starts with '/' */
    for (size_t i = 0; i < sizeof ROLE_ENDINGS / sizeof ROLE_ENDINGS[0] && !rest; i++) {
        if (ends_with(role, ROLE_ENDINGS[i]) && strlen(role) > strlen(ROLE_ENDINGS[i])) {
            rest = role + strlen(role) - strlen(ROLE_ENDINGS[i]);
        }
    }
    char *resource = NULL;
    const char *res_at = NULL;
    if (!rest) {
        /* <role>/resources/<r>/<kind>: the last "/resources/" with two segments after it. */
        const char *r = NULL;
        for (const char *p = strstr(role, "/resources/"); p; p = strstr(p + 1, "/resources/"))
            r = p;
        if (r && r > role) {
            const char *res = r + strlen("/resources/");
            const char *s = strchr(res, '/');
            if (s && s > res && s[1] && !strchr(s + 1, '/')) {
                rest = r;
                res_at = res;
                resource = cm_xstrndup(res, (size_t)(s - res));
            }
        }
    }
    if (!rest) {
        rest = strchr(role, '/');
        if (!rest || rest == role)
            return; /* "roles/x" with nothing after: not a per-role value */
    }
    rlen = (size_t)(rest - role);
    if (rlen == 0) {
        free(resource);
        return;
    }
    add_label(m, "role", cm_xstrndup(role, rlen));
    /* The help text ends with the same tail as the key (only the framework part differs). */
    size_t head = (size_t)(at - k);
    size_t hhead = strlen(m->help) - strlen(at);
    char *key, *help;
    if (resource) {
        const char *kind = strchr(res_at, '/');
        key = cm_xasprintf("%.*sroles/resources%s", (int)head, k, kind);
        help = cm_xasprintf("%.*s%.*s<role>/resources/<resource>%s", (int)hhead, m->help,
                            (int)seglen, at, kind);
        add_label(m, "resource", resource);
    } else {
        key = cm_xasprintf("%.*sroles%s", (int)head, k, rest);
        help = cm_xasprintf("%.*s%.*s<role>%s", (int)hhead, m->help, (int)seglen, at, rest);
    }
    free(m->key);
    free(m->help);
    m->key = key;
    m->help = help;
}

static bool is_counter(const char *key)
{
    for (size_t i = 0; i < sizeof COUNTERS / sizeof COUNTERS[0]; i++)
        if (fnmatch(COUNTERS[i], key, 0) == 0)
            return true;
    return false;
}

/* "mesos_" + key with [^A-Za-z0-9_] -> '_', runs collapsed, no trailing '_'. */
static char *sanitize(const char *key, size_t len)
{
    char *out = cm_xmalloc(len + 8);
    size_t o = 0;
    memcpy(out, "mesos_", 6);
    o = 6;
    for (size_t i = 0; i < len; i++) {
        char c = key[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!ok)
            c = '_';
        if (c == '_' && out[o - 1] == '_')
            continue;
        out[o++] = c;
    }
    while (o > 6 && out[o - 1] == '_')
        o--;
    out[o] = '\0';
    return out;
}

static void escape_into(char **buf, size_t *len, size_t *cap, const char *s, bool quote)
{
    for (; *s; s++) {
        const char *rep = NULL;
        char one[2] = {*s, 0};
        if (*s == '\\')
            rep = "\\\\";
        else if (*s == '\n')
            rep = "\\n";
        else if (*s == '"' && quote)
            rep = "\\\"";
        else
            rep = one;
        size_t n = strlen(rep);
        if (*len + n + 1 > *cap) {
            *cap = (*cap + n + 1) * 2;
            *buf = cm_xrealloc(*buf, *cap);
        }
        memcpy(*buf + *len, rep, n);
        *len += n;
        (*buf)[*len] = '\0';
    }
}

static void append(char **buf, size_t *len, size_t *cap, const char *s)
{
    size_t n = strlen(s);
    if (*len + n + 1 > *cap) {
        *cap = (*cap + n + 1) * 2;
        *buf = cm_xrealloc(*buf, *cap);
    }
    memcpy(*buf + *len, s, n + 1);
    *len += n;
}

static int cmp_label(const void *a, const void *b)
{
    return strcmp(((const struct label *)a)->name, ((const struct label *)b)->name);
}

/* {a="x",b="y"} with extra (quantile) appended, or "" without labels. */
static char *render_labels(struct metric *m, const char *quantile)
{
    struct label all[MAX_LABELS + 1];
    int n = 0;
    for (int i = 0; i < m->nlabels; i++)
        all[n++] = m->labels[i];
    if (quantile)
        all[n++] = (struct label){"quantile", (char *)quantile};
    if (n == 0)
        return cm_xstrdup("");
    qsort(all, (size_t)n, sizeof all[0], cmp_label);
    size_t len = 0, cap = 64;
    char *buf = cm_xmalloc(cap);
    buf[0] = '\0';
    append(&buf, &len, &cap, "{");
    for (int i = 0; i < n; i++) {
        if (i)
            append(&buf, &len, &cap, ",");
        append(&buf, &len, &cap, all[i].name);
        append(&buf, &len, &cap, "=\"");
        escape_into(&buf, &len, &cap, all[i].value, true);
        append(&buf, &len, &cap, "\"");
    }
    append(&buf, &len, &cap, "}");
    return buf;
}

static void family_free(void *p)
{
    struct family *f = p;
    for (size_t i = 0; i < f->n; i++)
        free(f->samples[i].labels);
    free(f->samples);
    free(f->name);
    free(f->help);
    free(f);
}

/* Adds a sample; refuses (frees labels) a type clash or a duplicate label set. */
static void add_sample(struct cm_strmap *fams, const char *name, enum prom_type type,
                       const char *help, char *labels, const char *suffix, double value)
{
    struct family *f = cm_strmap_get(fams, name);
    if (!f) {
        f = cm_xcalloc(1, sizeof *f);
        f->name = cm_xstrdup(name);
        f->help = cm_xstrdup(help);
        f->type = type;
        cm_strmap_put(fams, name, f);
    } else if (f->type != type) {
        free(labels);
        return;
    }
    for (size_t i = 0; i < f->n; i++) {
        if (strcmp(f->samples[i].labels, labels) == 0 && f->samples[i].suffix == suffix) {
            free(labels);
            return;
        }
    }
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 4;
        f->samples = cm_xrealloc(f->samples, f->cap * sizeof *f->samples);
    }
    f->samples[f->n++] = (struct sample){labels, suffix, value};
}

static const struct {
    const char *stat;
    const char *quantile; /* NULL: the count */
} TIMER_STATS[] = {
    {"min", "0"},      {"p50", "0.5"},      {"p90", "0.9"}, {"p95", "0.95"}, {"p99", "0.99"},
    {"p999", "0.999"}, {"p9999", "0.9999"}, {"max", "1"},   {"count", NULL},
};

/* Timer shapes: "<x>_ms" and "<x>_ms/<stat>". Returns true when key is one and adds it. */
static bool add_timer(struct cm_strmap *fams, struct metric *m, double v)
{
    const char *k = m->key;
    const char *slash = strrchr(k, '/');
    if (ends_with(k, "_ms")) {
        char *base = sanitize(k, strlen(k) - 3);
        char *name = cm_xasprintf("%s_last_seconds", base);
        char *help = cm_xasprintf("Mesos timer %s: the last value, in seconds.", m->help);
        add_sample(fams, name, PROM_GAUGE, help, render_labels(m, NULL), "", v / 1000.0);
        free(base);
        free(name);
        free(help);
        return true;
    }
    if (!slash || slash - k < 3 || strncmp(slash - 3, "_ms", 3) != 0)
        return false;
    for (size_t i = 0; i < sizeof TIMER_STATS / sizeof TIMER_STATS[0]; i++) {
        if (strcmp(slash + 1, TIMER_STATS[i].stat) != 0)
            continue;
        char *base = sanitize(k, (size_t)(slash - k) - 3);
        char *name = cm_xasprintf("%s_seconds", base);
        const char *hs = strrchr(m->help, '/');
        int hlen = hs ? (int)(hs - m->help) : (int)strlen(m->help);
        char *help = cm_xasprintf("Mesos timer %.*s (its min, percentiles, max and count), "
                                  "in seconds.",
                                  hlen, m->help);
        if (TIMER_STATS[i].quantile)
            add_sample(fams, name, PROM_SUMMARY, help, render_labels(m, TIMER_STATS[i].quantile),
                       "", v / 1000.0);
        else
            add_sample(fams, name, PROM_SUMMARY, help, render_labels(m, NULL), "_count", v);
        free(base);
        free(name);
        free(help);
        return true;
    }
    return false;
}

static void add_metric(struct cm_strmap *fams, const char *mesos_name, double v)
{
    struct metric m = {0};
    m.key = cm_xstrdup(mesos_name);
    m.help = cm_xstrdup(mesos_name);
    take_framework(&m);
    take_role(&m);
    if (add_timer(fams, &m, v)) {
        metric_cleanup(&m);
        return;
    }
    bool counter = is_counter(m.key);
    char *base = sanitize(m.key, strlen(m.key));
    char *name;
    if (counter) {
        name = ends_with(base, "_total") ? cm_xstrdup(base) : cm_xasprintf("%s_total", base);
    } else if (ends_with(base, "_total") && strlen(base) > strlen("mesos__total")) {
        name = cm_xstrndup(base, strlen(base) - strlen("_total"));
    } else if (ends_with(base, "_count") || ends_with(base, "_sum") || ends_with(base, "_bucket")) {
        name = cm_xasprintf("%s_value", base); /* suffixes reserved for histograms/summaries */
    } else {
        name = cm_xstrdup(base);
    }
    char *help = cm_xasprintf("Mesos %s %s.", counter ? "counter" : "gauge", m.help);
    add_sample(fams, name, counter ? PROM_COUNTER : PROM_GAUGE, help, render_labels(&m, NULL), "",
               v);
    free(help);
    free(name);
    free(base);
    metric_cleanup(&m);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_sample(const void *a, const void *b)
{
    const struct sample *x = a, *y = b;
    int c = strcmp(x->suffix, y->suffix);
    return c ? c : strcmp(x->labels, y->labels);
}

static void format_value(char *buf, size_t len, double v)
{
    if (isnan(v))
        snprintf(buf, len, "NaN");
    else if (isinf(v))
        snprintf(buf, len, v > 0 ? "+Inf" : "-Inf");
    else {
        /* The shortest form that reads back as the same double. */
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(buf, len, "%.*g", prec, v);
            if (strtod(buf, NULL) == v)
                break;
        }
    }
}

int cm_prom_render(const json_t *snapshot, char **out, size_t *len)
{
    *out = NULL;
    if (len)
        *len = 0;
    if (!json_is_object(snapshot))
        return CM_EINVAL;
    size_t nkeys = json_object_size(snapshot), k = 0;
    const char **keys = cm_xcalloc(nkeys ? nkeys : 1, sizeof *keys);
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)snapshot, key, val) keys[k++] = key;
    qsort(keys, k, sizeof *keys, cmp_str);

    struct cm_strmap fams;
    cm_strmap_init(&fams);
    for (size_t i = 0; i < k; i++) {
        json_t *v = json_object_get(snapshot, keys[i]);
        if (json_is_number(v))
            add_metric(&fams, keys[i], json_number_value(v));
    }
    free(keys);

    size_t nf = cm_strmap_count(&fams), fi = 0;
    const char **names = cm_xcalloc(nf ? nf : 1, sizeof *names);
    struct cm_strmap_iter it;
    cm_strmap_iter_init(&it, &fams);
    const char *fname;
    while (cm_strmap_iter_value(&it, &fname))
        names[fi++] = fname;
    qsort(names, fi, sizeof *names, cmp_str);

    size_t blen = 0, cap = 4096;
    char *buf = cm_xmalloc(cap);
    buf[0] = '\0';
    static const char *const TYPES[] = {"gauge", "counter", "summary"};
    for (size_t i = 0; i < fi; i++) {
        struct family *f = cm_strmap_get(&fams, names[i]);
        append(&buf, &blen, &cap, "# HELP ");
        append(&buf, &blen, &cap, f->name);
        append(&buf, &blen, &cap, " ");
        escape_into(&buf, &blen, &cap, f->help, false);
        append(&buf, &blen, &cap, "\n# TYPE ");
        append(&buf, &blen, &cap, f->name);
        append(&buf, &blen, &cap, " ");
        append(&buf, &blen, &cap, TYPES[f->type]);
        append(&buf, &blen, &cap, "\n");
        qsort(f->samples, f->n, sizeof *f->samples, cmp_sample);
        for (size_t j = 0; j < f->n; j++) {
            char num[64];
            format_value(num, sizeof num, f->samples[j].value);
            append(&buf, &blen, &cap, f->name);
            append(&buf, &blen, &cap, f->samples[j].suffix);
            append(&buf, &blen, &cap, f->samples[j].labels);
            append(&buf, &blen, &cap, " ");
            append(&buf, &blen, &cap, num);
            append(&buf, &blen, &cap, "\n");
        }
    }
    free(names);
    cm_strmap_cleanup_values(&fams, family_free);
    *out = buf;
    if (len)
        *len = blen;
    return 0;
}

void cm_prom_respond(struct cm_http_request *req, json_t *snapshot)
{
    char *text = NULL;
    size_t len = 0;
    int rc = cm_prom_render(snapshot, &text, &len);
    json_decref(snapshot);
    if (rc != 0) {
        cm_http_respond_text(req, 500, "Failed to collect the metrics\n");
        return;
    }
    cm_http_respond(req, 200, CM_PROM_CONTENT_TYPE, text, len);
    free(text);
}
