/* mesos_cmds.c: see mesos_cmds.h. */
#include "mesos_cmds.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mesos_table.h"
#include "util.h"

/* /files/read answers at most 16 pages per call; read in pieces of that size. */
#define LOG_CHUNK 65536
/* `mesos task log --lines N` reads at most this much of the end of the file. */
#define LOG_TAIL_MAX (16u << 20)

/* ---- JSON helpers -------------------------------------------------------------------------- */

/* The value at a dotted path ("agent_info.id.value"), or NULL. */
static json_t *jget(json_t *o, const char *path)
{
    char key[128];
    while (o && *path) {
        size_t len = strcspn(path, ".");
        if (len >= sizeof key)
            return NULL;
        memcpy(key, path, len);
        key[len] = '\0';
        o = json_is_object(o) ? json_object_get(o, key) : NULL;
        path += len + (path[len] == '.');
    }
    return o;
}

static const char *jstr(json_t *o, const char *path)
{
    json_t *v = jget(o, path);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Sum of the scalar resources named name in a Resource array. */
static double scalar(json_t *resources, const char *name)
{
    double sum = 0;
    size_t i;
    json_t *r;
    json_array_foreach(resources, i, r)
    {
        const char *n = jstr(r, "name");
        json_t *v = jget(r, "scalar.value");
        if (n && strcmp(n, name) == 0 && json_is_number(v))
            sum += json_number_value(v);
    }
    return sum;
}

static void fmt_num(char *buf, size_t len, double v)
{
    snprintf(buf, len, "%.10g", (double)((long long)(v * 1000 + (v >= 0 ? 0.5 : -0.5))) / 1000);
}

/* "used/total" of a scalar resource. */
static void fmt_used(char *buf, size_t len, json_t *used, json_t *total, const char *name)
{
    char u[32], t[32];
    fmt_num(u, sizeof u, scalar(used, name));
    fmt_num(t, sizeof t, scalar(total, name));
    snprintf(buf, len, "%s/%s", u, t);
}

static void print_json(json_t *v)
{
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s) {
        puts(s);
        free(s);
    }
}

/* Runs a call with no body; prints its error. */
static int simple_call(struct cm_cli *cli, const char *type, json_t **resp)
{
    char why[1024] = "";
    json_t *call = json_pack("{s:s}", "type", type);
    int rc = cm_cli_call(cli, call, resp, why, sizeof why);
    json_decref(call);
    if (rc) {
        fprintf(stderr, "mesos: %s failed: %s\n", type, why);
        return rc;
    }
    if (!*resp) {
        fprintf(stderr, "mesos: %s: the master sent no response body\n", type);
        return CM_CLI_EXIT_FAILED;
    }
    return 0;
}

/* ---- agents ---------------------------------------------------------------------------- */

/* "ip:port" of an agent entry (from its pid "slave(1)@ip:port", else hostname:port). */
static void agent_address(json_t *agent, char *buf, size_t len)
{
    const char *pid = jstr(agent, "pid");
    const char *at = pid ? strchr(pid, '@') : NULL;
    if (at && at[1]) {
        snprintf(buf, len, "%s", at + 1);
        return;
    }
    json_t *port = jget(agent, "agent_info.port");
    const char *host = jstr(agent, "agent_info.hostname");
    snprintf(buf, len, "%s:%lld", host ? host : "?",
             json_is_integer(port) ? (long long)json_integer_value(port) : 5051LL);
}

static const char *agent_state(json_t *agent, char *buf, size_t len)
{
    const char *drain = jstr(agent, "drain_info.state");
    if (drain) {
        snprintf(buf, len, "%s", drain);
        for (char *p = buf; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        return buf;
    }
    if (json_is_true(jget(agent, "deactivated")))
        return "deactivated";
    return json_is_true(jget(agent, "active")) ? "active" : "inactive";
}

int cm_cli_cmd_agent_list(struct cm_cli *cli)
{
    json_t *resp = NULL;
    int rc = simple_call(cli, "GET_AGENTS", &resp);
    if (rc)
        return rc;
    if (cli->json) {
        print_json(jget(resp, "get_agents"));
        json_decref(resp);
        return 0;
    }
    static const char *const hdr[] = {"ID", "HOSTNAME", "ADDRESS", "STATE", "CPUS", "MEM", "DISK"};
    struct cm_cli_table *t = cm_cli_table_new(7, hdr);
    size_t i;
    json_t *a;
    json_array_foreach(jget(resp, "get_agents.agents"), i, a)
    {
        char addr[300], st[32], cpus[64], mem[64], disk[64];
        agent_address(a, addr, sizeof addr);
        json_t *used = jget(a, "allocated_resources"), *total = jget(a, "total_resources");
        fmt_used(cpus, sizeof cpus, used, total, "cpus");
        fmt_used(mem, sizeof mem, used, total, "mem");
        fmt_used(disk, sizeof disk, used, total, "disk");
        const char *cells[] = {jstr(a, "agent_info.id.value"),
                               jstr(a, "agent_info.hostname"),
                               addr,
                               agent_state(a, st, sizeof st),
                               cpus,
                               mem,
                               disk};
        cm_cli_table_add(t, cells);
    }
    cm_cli_table_print(t, stdout);
    cm_cli_table_free(t);
    json_decref(resp);
    return 0;
}

/* The agent entry for an ID or a unique hostname; *resp owns it. */
static int find_agent(struct cm_cli *cli, const char *which, json_t **resp, json_t **agent)
{
    *agent = NULL;
    int rc = simple_call(cli, "GET_AGENTS", resp);
    if (rc)
        return rc;
    json_t *by_host = NULL;
    int hosts = 0;
    size_t i;
    json_t *a;
    json_array_foreach(jget(*resp, "get_agents.agents"), i, a)
    {
        const char *id = jstr(a, "agent_info.id.value"), *host = jstr(a, "agent_info.hostname");
        if (id && strcmp(id, which) == 0) {
            *agent = a;
            return 0;
        }
        if (host && strcmp(host, which) == 0) {
            by_host = a;
            hosts++;
        }
    }
    if (hosts == 1) {
        *agent = by_host;
        return 0;
    }
    fprintf(stderr, "mesos: %s\n",
            hosts > 1 ? "several agents run on that host; give the agent ID"
                      : "no registered agent has that ID or hostname");
    fprintf(stderr, "       (agent '%s'; `mesos agent list` shows them)\n", which);
    return CM_CLI_EXIT_FAILED;
}

int cm_cli_cmd_agent_action(struct cm_cli *cli, const char *verb, const char *agent,
                            const struct cm_cli_opts *o)
{
    static const struct {
        const char *verb, *type, *field, *done;
    } actions[] = {
        {"drain", "DRAIN_AGENT", "drain_agent", "is draining"},
        {"deactivate", "DEACTIVATE_AGENT", "deactivate_agent", "is deactivated"},
        {"reactivate", "REACTIVATE_AGENT", "reactivate_agent", "is reactivated"},
        {"gone", "MARK_AGENT_GONE", "mark_agent_gone", "is marked gone"},
    };
    size_t k = 0;
    while (k < sizeof actions / sizeof actions[0] && strcmp(actions[k].verb, verb) != 0)
        k++;
    if (k == sizeof actions / sizeof actions[0]) {
        fprintf(stderr, "mesos: unknown agent command '%s'\n", verb);
        return CM_CLI_EXIT_USAGE;
    }
    json_t *agents = NULL, *a = NULL;
    /* An agent already gone is no longer listed: its ID is used as given. */
    const char *id = agent;
    int rc = find_agent(cli, agent, &agents, &a);
    if (rc && !(strcmp(verb, "gone") == 0 && rc == CM_CLI_EXIT_FAILED)) {
        json_decref(agents);
        return rc;
    }
    if (a)
        id = jstr(a, "agent_info.id.value");
    json_t *body = json_pack("{s:{s:s}}", "agent_id", "value", id);
    if (strcmp(verb, "drain") == 0) {
        if (o->max_grace >= 0) {
            long long secs = (long long)o->max_grace;
            json_object_set_new(body, "max_grace_period",
                                json_pack("{s:I,s:i}", "seconds", secs, "nanos",
                                          (int)((o->max_grace - (double)secs) * 1e9)));
        }
        if (o->mark_gone)
            json_object_set_new(body, "mark_gone", json_true());
    }
    json_t *call = json_pack("{s:s,s:o}", "type", actions[k].type, actions[k].field, body);
    json_t *resp = NULL;
    char why[1024] = "";
    rc = cm_cli_call(cli, call, &resp, why, sizeof why);
    if (rc)
        fprintf(stderr, "mesos: %s %s failed: %s\n", actions[k].type, id, why);
    else if (cli->json)
        printf("{\"agent_id\": \"%s\", \"result\": \"%s\"}\n", id, actions[k].verb);
    else
        printf("Agent %s %s\n", id, actions[k].done);
    json_decref(resp);
    json_decref(call);
    json_decref(agents);
    return rc;
}

/* ---- frameworks --------------------------------------------------------------------------- */

static void roles_of(json_t *fi, char *buf, size_t len)
{
    buf[0] = '\0';
    json_t *roles = jget(fi, "roles");
    size_t i, used = 0;
    json_t *r;
    json_array_foreach(roles, i, r)
    {
        if (!json_is_string(r) || used + 1 >= len)
            continue;
        int w = snprintf(buf + used, len - used, "%s%s", used ? "," : "", json_string_value(r));
        used = w < 0 ? used : used + (size_t)w < len ? used + (size_t)w : len - 1;
    }
    if (!used)
        snprintf(buf, len, "%s", jstr(fi, "role") ? jstr(fi, "role") : "*");
}

static void add_framework_rows(struct cm_cli_table *t, json_t *list, bool completed)
{
    size_t i;
    json_t *f;
    json_array_foreach(list, i, f)
    {
        char roles[256], cpus[32], mem[32];
        json_t *fi = jget(f, "framework_info");
        roles_of(fi, roles, sizeof roles);
        fmt_num(cpus, sizeof cpus, scalar(jget(f, "allocated_resources"), "cpus"));
        fmt_num(mem, sizeof mem, scalar(jget(f, "allocated_resources"), "mem"));
        const char *state = completed                             ? "completed"
                            : !json_is_true(jget(f, "connected")) ? "disconnected"
                            : json_is_true(jget(f, "active"))     ? "active"
                                                                  : "inactive";
        const char *cells[] = {
            jstr(fi, "id.value"), jstr(fi, "name"), jstr(fi, "user"), roles, state, cpus, mem};
        cm_cli_table_add(t, cells);
    }
}

int cm_cli_cmd_framework_list(struct cm_cli *cli, const struct cm_cli_opts *o)
{
    json_t *resp = NULL;
    int rc = simple_call(cli, "GET_FRAMEWORKS", &resp);
    if (rc)
        return rc;
    if (cli->json) {
        print_json(jget(resp, "get_frameworks"));
        json_decref(resp);
        return 0;
    }
    static const char *const hdr[] = {"ID", "NAME", "USER", "ROLES", "STATE", "CPUS", "MEM"};
    struct cm_cli_table *t = cm_cli_table_new(7, hdr);
    add_framework_rows(t, jget(resp, "get_frameworks.frameworks"), false);
    if (o->all)
        add_framework_rows(t, jget(resp, "get_frameworks.completed_frameworks"), true);
    cm_cli_table_print(t, stdout);
    cm_cli_table_free(t);
    json_decref(resp);
    return 0;
}

int cm_cli_cmd_framework_teardown(struct cm_cli *cli, const char *id)
{
    json_t *call =
        json_pack("{s:s,s:{s:{s:s}}}", "type", "TEARDOWN", "teardown", "framework_id", "value", id);
    json_t *resp = NULL;
    char why[1024] = "";
    int rc = cm_cli_call(cli, call, &resp, why, sizeof why);
    if (rc)
        fprintf(stderr, "mesos: TEARDOWN %s failed: %s\n", id, why);
    else if (cli->json)
        printf("{\"framework_id\": \"%s\", \"result\": \"teardown\"}\n", id);
    else
        printf("Framework %s is torn down\n", id);
    json_decref(resp);
    json_decref(call);
    return rc;
}

/* ---- tasks -------------------------------------------------------------------------------- */

static void add_task_rows(struct cm_cli_table *t, json_t *list)
{
    size_t i;
    json_t *task;
    json_array_foreach(list, i, task)
    {
        const char *cells[] = {jstr(task, "task_id.value"), jstr(task, "name"),
                               jstr(task, "framework_id.value"), jstr(task, "agent_id.value"),
                               jstr(task, "state")};
        cm_cli_table_add(t, cells);
    }
}

int cm_cli_cmd_task_list(struct cm_cli *cli, const struct cm_cli_opts *o)
{
    json_t *resp = NULL;
    int rc = simple_call(cli, "GET_TASKS", &resp);
    if (rc)
        return rc;
    if (cli->json) {
        json_t *gt = jget(resp, "get_tasks");
        if (!o->all && json_is_object(gt)) {
            json_object_del(gt, "completed_tasks");
            json_object_del(gt, "unreachable_tasks");
        }
        print_json(gt);
        json_decref(resp);
        return 0;
    }
    static const char *const hdr[] = {"ID", "NAME", "FRAMEWORK", "AGENT", "STATE"};
    struct cm_cli_table *t = cm_cli_table_new(5, hdr);
    add_task_rows(t, jget(resp, "get_tasks.tasks"));
    if (o->all) {
        add_task_rows(t, jget(resp, "get_tasks.unreachable_tasks"));
        add_task_rows(t, jget(resp, "get_tasks.completed_tasks"));
    }
    cm_cli_table_print(t, stdout);
    cm_cli_table_free(t);
    json_decref(resp);
    return 0;
}

static bool terminal_state(const char *s)
{
    static const char *const t[] = {"TASK_FINISHED", "TASK_FAILED",          "TASK_KILLED",
                                    "TASK_LOST",     "TASK_ERROR",           "TASK_DROPPED",
                                    "TASK_GONE",     "TASK_GONE_BY_OPERATOR"};
    for (size_t i = 0; s && i < sizeof t / sizeof t[0]; i++)
        if (strcmp(s, t[i]) == 0)
            return true;
    return false;
}

/* Finds the task (a copy, caller frees) in GET_TASKS. */
static int find_task(struct cm_cli *cli, const char *id, const char *framework, json_t **task)
{
    *task = NULL;
    json_t *resp = NULL;
    int rc = simple_call(cli, "GET_TASKS", &resp);
    if (rc)
        return rc;
    static const char *const lists[] = {"get_tasks.tasks", "get_tasks.unreachable_tasks",
                                        "get_tasks.completed_tasks"};
    int found = 0;
    for (size_t l = 0; l < 3; l++) {
        size_t i;
        json_t *t;
        json_array_foreach(jget(resp, lists[l]), i, t)
        {
            const char *tid = jstr(t, "task_id.value"), *fid = jstr(t, "framework_id.value");
            if (!tid || strcmp(tid, id) != 0 || (framework && (!fid || strcmp(fid, framework))))
                continue;
            /* A framework's live entry wins over its completed ones. */
            const char *have = *task ? jstr(*task, "framework_id.value") : NULL;
            if (*task && strcmp(have ? have : "", fid ? fid : "") == 0)
                continue;
            found++;
            if (!*task)
                *task = json_deep_copy(t);
        }
    }
    json_decref(resp);
    if (found == 1)
        return 0;
    json_decref(*task);
    *task = NULL;
    if (found == 0)
        fprintf(stderr, "mesos: no task '%s'%s%s (`mesos task list --all` shows them)\n", id,
                framework ? " in framework " : "", framework ? framework : "");
    else
        fprintf(stderr, "mesos: several frameworks have a task '%s'; choose one with --framework\n",
                id);
    return CM_CLI_EXIT_FAILED;
}

/* The sandbox directory of the task's executor, from the agent's /state. */
static int sandbox_of(struct cm_cli *cli, const char *agent_addr, json_t *task, char **dir)
{
    char *body = NULL;
    size_t len = 0;
    char why[1024] = "";
    int rc = cm_cli_get(cli, agent_addr, "/state", &body, &len, why, sizeof why);
    if (rc) {
        fprintf(stderr, "mesos: cannot read the agent's state: %s\n", why);
        return rc;
    }
    json_error_t jerr;
    json_t *st = json_loadb(body, len, 0, &jerr);
    free(body);
    if (!st) {
        fprintf(stderr, "mesos: the agent's /state is not JSON: %s\n", jerr.text);
        return CM_CLI_EXIT_FAILED;
    }
    const char *tid = jstr(task, "task_id.value"), *fid = jstr(task, "framework_id.value");
    *dir = NULL;
    static const char *const fws[] = {"frameworks", "completed_frameworks"};
    static const char *const exs[] = {"executors", "completed_executors"};
    static const char *const tks[] = {"tasks", "completed_tasks", "queued_tasks"};
    for (size_t a = 0; a < 2 && !*dir; a++) {
        size_t i;
        json_t *f;
        json_array_foreach(jget(st, fws[a]), i, f)
        {
            if (!jstr(f, "id") || !fid || strcmp(jstr(f, "id"), fid) != 0)
                continue;
            for (size_t b = 0; b < 2 && !*dir; b++) {
                size_t j;
                json_t *e;
                json_array_foreach(jget(f, exs[b]), j, e)
                {
                    for (size_t c = 0; c < 3 && !*dir; c++) {
                        size_t k;
                        json_t *t;
                        json_array_foreach(jget(e, tks[c]), k, t)
                        {
                            if (jstr(t, "id") && strcmp(jstr(t, "id"), tid) == 0 &&
                                jstr(e, "directory") && *jstr(e, "directory")) {
                                *dir = cm_xstrdup(jstr(e, "directory"));
                                break;
                            }
                        }
                    }
                    if (*dir)
                        break;
                }
            }
        }
    }
    json_decref(st);
    if (!*dir) {
        fprintf(stderr,
                "mesos: the agent no longer has a sandbox for task '%s' (it may have been "
                "garbage collected)\n",
                tid);
        return CM_CLI_EXIT_FAILED;
    }
    return 0;
}

static char *url_encode(const char *s)
{
    size_t n = strlen(s);
    char *out = cm_xmalloc(n * 3 + 1), *p = out;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || strchr("-_.~/", c))
            *p++ = (char)c;
        else
            p += sprintf(p, "%%%02X", c);
    }
    *p = '\0';
    return out;
}

/* One /files/read call: data from offset (at most length bytes; length < 0: only the size). */
static int files_read(struct cm_cli *cli, const char *agent, const char *path_enc, long long offset,
                      long long length, char **data, size_t *dlen, long long *size)
{
    char q[8192];
    if (length >= 0)
        snprintf(q, sizeof q, "/files/read?path=%s&offset=%lld&length=%lld", path_enc, offset,
                 length);
    else
        snprintf(q, sizeof q, "/files/read?path=%s&offset=%lld", path_enc, offset);
    char *body = NULL;
    size_t len = 0;
    char why[1024] = "";
    int rc = cm_cli_get(cli, agent, q, &body, &len, why, sizeof why);
    if (rc) {
        fprintf(stderr, "mesos: %s\n", why);
        return rc;
    }
    json_error_t jerr;
    json_t *o = json_loadb(body, len, 0, &jerr);
    free(body);
    json_t *d = jget(o, "data"), *off = jget(o, "offset");
    if (!json_is_string(d) || !json_is_integer(off)) {
        fprintf(stderr, "mesos: unexpected /files/read answer from the agent\n");
        json_decref(o);
        return CM_CLI_EXIT_FAILED;
    }
    if (size)
        *size = json_integer_value(off);
    if (data) {
        *dlen = json_string_length(d);
        *data = cm_xmalloc(*dlen + 1);
        memcpy(*data, json_string_value(d), *dlen);
        (*data)[*dlen] = '\0';
    }
    json_decref(o);
    return 0;
}

/* Prints [from, to) of the file; returns the offset reached. */
static int print_range(struct cm_cli *cli, const char *agent, const char *path_enc, long long from,
                       long long to, long long *reached)
{
    *reached = from;
    while (*reached < to) {
        char *data = NULL;
        size_t dlen = 0;
        long long want = to - *reached < LOG_CHUNK ? to - *reached : LOG_CHUNK;
        int rc = files_read(cli, agent, path_enc, *reached, want, &data, &dlen, NULL);
        if (rc)
            return rc;
        fwrite(data, 1, dlen, stdout);
        free(data);
        if (dlen == 0)
            break;
        *reached += (long long)dlen;
    }
    fflush(stdout);
    return 0;
}

/* Where the last `lines` lines of the file begin. */
static int tail_start(struct cm_cli *cli, const char *agent, const char *path_enc, long long size,
                      long lines, long long *start)
{
    long long window = LOG_CHUNK;
    for (;;) {
        long long from = size > window ? size - window : 0;
        char *buf = cm_xmalloc((size_t)(size - from) + 1);
        size_t got = 0;
        for (long long off = from; off < size;) {
            char *data = NULL;
            size_t dlen = 0;
            long long want = size - off < LOG_CHUNK ? size - off : LOG_CHUNK;
            int rc = files_read(cli, agent, path_enc, off, want, &data, &dlen, NULL);
            if (rc) {
                free(buf);
                return rc;
            }
            size_t room = (size_t)(size - from) - got;
            if (dlen > room)
                dlen = room; /* never more than asked for */
            memcpy(buf + got, data, dlen);
            got += dlen;
            free(data);
            if (!dlen)
                break;
            off += (long long)dlen;
        }
        /* Count newlines from the end, ignoring one that ends the file. */
        long n = 0;
        long long pos = (long long)got;
        if (pos > 0 && buf[pos - 1] == '\n')
            pos--;
        while (pos > 0) {
            if (buf[pos - 1] == '\n' && ++n == lines)
                break;
            pos--;
        }
        free(buf);
        if (n == lines || from == 0 || window >= LOG_TAIL_MAX) {
            *start = from + pos;
            return 0;
        }
        window *= 4;
    }
}

int cm_cli_cmd_task_log(struct cm_cli *cli, const char *task_id, const struct cm_cli_opts *o)
{
    const char *file = o->file ? o->file : "stdout";
    if (file[0] == '/' || strstr(file, "..")) {
        fprintf(stderr, "mesos: --file names a file in the task's sandbox, like stdout or "
                        "stderr (no '/' at the start, no '..')\n");
        return CM_CLI_EXIT_USAGE;
    }
    json_t *task = NULL;
    int rc = find_task(cli, task_id, o->framework, &task);
    if (rc)
        return rc;
    json_t *agents = NULL, *agent = NULL;
    const char *aid = jstr(task, "agent_id.value");
    if (!aid) {
        fprintf(stderr, "mesos: task '%s' has not been given an agent yet\n", task_id);
        json_decref(task);
        return CM_CLI_EXIT_FAILED;
    }
    if ((rc = find_agent(cli, aid, &agents, &agent)) != 0) {
        json_decref(task);
        json_decref(agents);
        return rc;
    }
    char addr[300];
    agent_address(agent, addr, sizeof addr);
    char *dir = NULL;
    if ((rc = sandbox_of(cli, addr, task, &dir)) != 0)
        goto out;
    char *path = cm_xasprintf("%s/%s", dir, file);
    char *enc = url_encode(path);
    long long size = 0, start = 0, reached = 0;
    rc = files_read(cli, addr, enc, -1, -1, NULL, NULL, &size);
    if (rc == 0 && o->lines >= 0)
        rc = tail_start(cli, addr, enc, size, o->lines, &start);
    if (rc == 0)
        rc = print_range(cli, addr, enc, start, size, &reached);
    /* --follow: print what is appended until the task has ended and the file stopped growing. */
    for (int quiet_reads = 0; rc == 0 && o->follow;) {
        struct timespec ts = {(time_t)o->follow_interval,
                              (long)((o->follow_interval - (time_t)o->follow_interval) * 1e9)};
        nanosleep(&ts, NULL);
        rc = files_read(cli, addr, enc, -1, -1, NULL, NULL, &size);
        if (rc == 0 && size > reached)
            rc = print_range(cli, addr, enc, reached, size, &reached);
        else if (rc == 0 && size == reached) {
            json_t *now = NULL;
            if (++quiet_reads % 2 == 0 &&
                find_task(cli, task_id, jstr(task, "framework_id.value"), &now) == 0) {
                bool ended = terminal_state(jstr(now, "state"));
                json_decref(now);
                if (ended)
                    break;
            }
        }
    }
    free(enc);
    free(path);
out:
    free(dir);
    json_decref(agents);
    json_decref(task);
    return rc;
}

/* ---- leader and state ------------------------------------------------------------------ */

int cm_cli_cmd_leader(struct cm_cli *cli)
{
    json_t *resp = NULL;
    int rc = simple_call(cli, "GET_MASTER", &resp);
    if (rc)
        return rc;
    json_t *gm = jget(resp, "get_master");
    if (cli->json) {
        print_json(gm);
    } else {
        json_t *mi = jget(gm, "master_info");
        json_t *port = jget(mi, "address.port");
        printf("id:       %s\n", jstr(mi, "id") ? jstr(mi, "id") : "-");
        printf("address:  %s:%lld\n",
               jstr(mi, "address.ip") ? jstr(mi, "address.ip") : jstr(mi, "hostname"),
               json_is_integer(port) ? (long long)json_integer_value(port)
                                     : (long long)json_integer_value(jget(mi, "port")));
        printf("hostname: %s\n", jstr(mi, "hostname") ? jstr(mi, "hostname") : "-");
        printf("version:  %s\n", jstr(mi, "version") ? jstr(mi, "version") : "-");
        json_t *et = jget(gm, "elected_time");
        if (json_is_number(et)) {
            time_t t = (time_t)json_number_value(et);
            char when[64];
            strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", gmtime(&t));
            printf("elected:  %s\n", when);
        }
    }
    json_decref(resp);
    return 0;
}

int cm_cli_cmd_state(struct cm_cli *cli)
{
    json_t *resp = NULL;
    int rc = simple_call(cli, "GET_STATE", &resp);
    if (rc)
        return rc;
    json_t *gs = jget(resp, "get_state");
    if (cli->json) {
        print_json(gs);
        json_decref(resp);
        return 0;
    }
    size_t active = 0, i;
    json_t *v;
    json_array_foreach(jget(gs, "get_agents.agents"), i, v) active +=
        json_is_true(jget(v, "active"));
    printf("master:     %s\n", cli->master);
    printf("agents:     %zu (%zu active)\n", json_array_size(jget(gs, "get_agents.agents")),
           active);
    printf("frameworks: %zu (%zu completed)\n",
           json_array_size(jget(gs, "get_frameworks.frameworks")),
           json_array_size(jget(gs, "get_frameworks.completed_frameworks")));
    /* Tasks by state, live ones first. */
    static const char *const lists[] = {"get_tasks.tasks", "get_tasks.unreachable_tasks",
                                        "get_tasks.completed_tasks"};
    json_t *counts = json_object();
    size_t total = 0;
    for (size_t l = 0; l < 3; l++) {
        json_array_foreach(jget(gs, lists[l]), i, v)
        {
            const char *s = jstr(v, "state") ? jstr(v, "state") : "UNKNOWN";
            json_t *c = json_object_get(counts, s);
            json_object_set_new(counts, s, json_integer(c ? json_integer_value(c) + 1 : 1));
            total++;
        }
    }
    printf("tasks:      %zu", total);
    const char *key;
    const char *sep = " (";
    json_object_foreach(counts, key, v)
    {
        printf("%s%s %lld", sep, key, (long long)json_integer_value(v));
        sep = ", ";
    }
    printf("%s\n", total ? ")" : "");
    json_decref(counts);
    json_decref(resp);
    return 0;
}
