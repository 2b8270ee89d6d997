/*
 * itest_agent_authz: authorization on the agent (--acls with the local authorizer).
 * An agent with --authenticate_http_readonly, --authenticate_http_readwrite, --http_credentials
 * (principals "ops" and "guest") and ACLs where "ops" may do everything and "guest" may not
 * access sandboxes, view tasks or flags, or set the log level:
 *  - a task's stdout through /files/read (virtual path) is 200 for ops and 403 for guest, the
 *    body naming access_sandboxes; /files/browse of the sandbox likewise; /files/debug is
 *    get_endpoints, allowed to both;
 *  - /state as guest lists the framework and the executor but no task, and no flags; as ops
 *    it lists the task;
 *  - /containers lists the container to ops, none to guest (view_containers);
 *  - /flags is 403 for guest (view_flags); /logging/toggle is 403 for guest (set_log_level)
 *    and 200 for ops;
 *  - the operator API: READ_FILE of the stdout is 403 for guest (access_sandboxes) and 200 for
 *    ops; GET_TASKS and GET_STATE list no task to guest (view_tasks) but the task to ops, and
 *    the executor and framework to both; SET_LOGGING_LEVEL is 403 for
 *    guest; GET_CONTAINERS as guest (view_containers NONE) lists no container, as ops one.
 *  - a bad --acls (unknown action, bad JSON) and --authorizer other than local stop the agent
 *    with a message naming the problem.
 */
#include "harness.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    fclose(f);
    return chmod(path, 0600);
}

static char *basic(const char *principal, const char *secret)
{
    char raw[256], *out = NULL;
    snprintf(raw, sizeof raw, "%s:%s", principal, secret);
    char *b = itest_b64_encode((const uint8_t *)raw, strlen(raw));
    if (asprintf(&out, "Basic %s", b) < 0)
        out = NULL;
    free(b);
    return out;
}

/* One request with an Authorization header; the body (malloc'd) in *body when body is not
 * NULL. Returns the status or -1. */
static int req(int port, const char *method, const char *path, const char *authz, const char *json,
               char **body)
{
    char hdr[512];
    const char *headers[4] = {NULL, NULL, NULL, NULL};
    size_t n = 0;
    snprintf(hdr, sizeof hdr, "Authorization: %s", authz);
    headers[n++] = hdr;
    if (json) {
        headers[n++] = "Content-Type: application/json";
        headers[n++] = "Accept: application/json";
    }
    struct itest_http_resp r;
    if (itest_http(port, method, path, headers, json, json ? strlen(json) : 0, &r, ITEST_WAIT_MS) !=
        0)
        return -1;
    if (body)
        *body = strdup(r.body ? (const char *)r.body : "");
    int status = r.status;
    itest_http_resp_cleanup(&r);
    return status;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* How many tasks (live and completed) /state's frameworks list, and whether it has "flags". */
static int state_tasks(int port, const char *authz, int *has_flags, int *executors)
{
    char *body = NULL;
    if (req(port, "GET", "/state", authz, NULL, &body) != 200) {
        free(body);
        return -1;
    }
    json_error_t err;
    json_t *st = json_loads(body, 0, &err);
    free(body);
    if (!st)
        return -1;
    *has_flags = json_object_get(st, "flags") != NULL;
    *executors = 0;
    int n = 0;
    size_t i, k;
    json_t *f, *e;
    json_array_foreach(json_object_get(st, "frameworks"), i, f)
    {
        json_array_foreach(json_object_get(f, "executors"), k, e)
        {
            (*executors)++;
            n += (int)json_array_size(json_object_get(e, "tasks"));
            n += (int)json_array_size(json_object_get(e, "queued_tasks"));
            n += (int)json_array_size(json_object_get(e, "completed_tasks"));
        }
    }
    json_decref(st);
    return n;
}

static void test_agent_authorization(void)
{
    char dir[256], creds[300], f_creds[400];
    REQUIRE(itest_tmpdir(dir, sizeof dir) == 0);
    snprintf(creds, sizeof creds, "%s/http_credentials", dir);
    REQUIRE(write_file(creds, "ops ops-secret\nguest guest-secret\n") == 0);
    snprintf(f_creds, sizeof f_creds, "--http_credentials=%s", creds);
    const char *acls =
        "--acls={\"permissive\": true,"
        " \"access_sandboxes\": ["
        "  {\"principals\": {\"values\": [\"ops\"]}, \"users\": {\"type\": \"ANY\"}},"
        "  {\"principals\": {\"values\": [\"guest\"]}, \"users\": {\"type\": \"NONE\"}}],"
        " \"view_tasks\": ["
        "  {\"principals\": {\"values\": [\"guest\"]}, \"users\": {\"type\": \"NONE\"}}],"
        " \"view_flags\": ["
        "  {\"principals\": {\"values\": [\"guest\"]}, \"flags\": {\"type\": \"NONE\"}}],"
        " \"view_containers\": ["
        "  {\"principals\": {\"values\": [\"guest\"]}, \"users\": {\"type\": \"NONE\"}}],"
        " \"set_log_level\": ["
        "  {\"principals\": {\"values\": [\"guest\"]}, \"level\": {\"type\": \"NONE\"}}]}";
    const char *agent_flags[] = {"--authenticate_http_readonly", "--authenticate_http_readwrite",
                                 f_creds, acls, NULL};
    struct itest_cluster_opts co = {.agent_flags = agent_flags};
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, &co) == 0);
    char *ops = basic("ops", "ops-secret"), *guest = basic("guest", "guest-secret");
    REQUIRE(ops && guest);

    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_PROTOBUF, NULL);
    REQUIRE(fw != NULL);
    struct itest_offers off;
    REQUIRE(itest_fw_wait_offer(fw, 0.1, 32, ITEST_WAIT_MS, &off) == 0);
    struct itest_task t = {"authz", "echo hello-authz; sleep 60", 0.1, 32};
    CHECK_INT(itest_fw_accept(fw, off.idv, off.n, c.agent_id, &t, 1, 0), 202);
    REQUIRE(itest_fw_wait_state(fw, "authz", MESOS__V1__TASK_STATE__TASK_RUNNING, ITEST_WAIT_MS,
                                NULL) == 0);

    char sandbox[512], path[768];
    snprintf(sandbox, sizeof sandbox, "/frameworks/%s/executors/authz/runs/latest",
             fw->framework_id);
    snprintf(path, sizeof path, "/files/read?path=%s/stdout&offset=0", sandbox);
    /* ops reads the task's stdout (once the task has written it). */
    char *body = NULL;
    int st = -1, tries = 0;
    for (; tries < 100; tries++) {
        free(body);
        body = NULL;
        st = req(c.agent_port, "GET", path, ops, NULL, &body);
        if (st == 200 && body && strstr(body, "hello-authz"))
            break;
        sleep_ms(100);
    }
    CHECK_INT(st, 200);
    CHECK(body && strstr(body, "hello-authz") != NULL);
    free(body);
    body = NULL;

    /* guest may not. */
    CHECK_INT(req(c.agent_port, "GET", path, guest, NULL, &body), 403);
    if (body && !strstr(body, "access_sandboxes"))
        fprintf(stderr, "403 body: %s\n", body);
    CHECK(body && strstr(body, "access_sandboxes") != NULL);
    CHECK(body && strstr(body, "guest") != NULL);
    CHECK(body && !strstr(body, "hello-authz"));
    free(body);
    body = NULL;
    char browse[768];
    snprintf(browse, sizeof browse, "/files/browse?path=%s", sandbox);
    CHECK_INT(req(c.agent_port, "GET", browse, guest, NULL, NULL), 403);
    CHECK_INT(req(c.agent_port, "GET", browse, ops, NULL, NULL), 200);
    snprintf(browse, sizeof browse, "/files/download?path=%s/stdout", sandbox);
    CHECK_INT(req(c.agent_port, "GET", browse, guest, NULL, NULL), 403);
    CHECK_INT(req(c.agent_port, "GET", browse, ops, NULL, NULL), 200);
    /* A path under no attachment is still 404 (nothing to authorize). */
    CHECK_INT(req(c.agent_port, "GET", "/files/read?path=/nowhere/x&offset=0", guest, NULL, NULL),
              404);
    CHECK_INT(req(c.agent_port, "GET", "/files/debug", guest, NULL, NULL), 200);

    /* /state: guest sees the executor but no task, and no flags. */
    int flags = 0, execs = 0;
    CHECK_INT(state_tasks(c.agent_port, ops, &flags, &execs), 1);
    CHECK_INT(flags, 1);
    CHECK_INT(execs, 1);
    CHECK_INT(state_tasks(c.agent_port, guest, &flags, &execs), 0);
    CHECK_INT(flags, 0);
    CHECK_INT(execs, 1);

    /* /containers: filtered by view_containers. */
    CHECK_INT(req(c.agent_port, "GET", "/containers", guest, NULL, &body), 200);
    CHECK(body && strstr(body, "container_id") == NULL);
    free(body);
    body = NULL;
    CHECK_INT(req(c.agent_port, "GET", "/containers", ops, NULL, &body), 200);
    CHECK(body && strstr(body, "container_id") != NULL);
    free(body);
    body = NULL;

    /* /flags and /logging/toggle. */
    CHECK_INT(req(c.agent_port, "GET", "/flags", guest, NULL, &body), 403);
    CHECK(body && strstr(body, "view_flags") != NULL);
    free(body);
    body = NULL;
    CHECK_INT(req(c.agent_port, "GET", "/flags", ops, NULL, NULL), 200);
    CHECK_INT(
        req(c.agent_port, "POST", "/logging/toggle?level=1&duration=1secs", guest, NULL, &body),
        403);
    CHECK(body && strstr(body, "set_log_level") != NULL);
    free(body);
    body = NULL;
    CHECK_INT(req(c.agent_port, "POST", "/logging/toggle?level=1&duration=1secs", ops, NULL, NULL),
              200);

    /* The operator API. */
    char call[1024];
    snprintf(call, sizeof call,
             "{\"type\": \"READ_FILE\", \"read_file\": {\"path\": \"%s/stdout\", \"offset\": 0}}",
             sandbox);
    CHECK_INT(req(c.agent_port, "POST", "/api/v1", guest, call, &body), 403);
    CHECK(body && strstr(body, "access_sandboxes") != NULL);
    free(body);
    body = NULL;
    CHECK_INT(req(c.agent_port, "POST", "/api/v1", ops, call, &body), 200);
    CHECK(body && strstr(body, "READ_FILE") != NULL);
    free(body);
    body = NULL;
    snprintf(call, sizeof call, "{\"type\": \"LIST_FILES\", \"list_files\": {\"path\": \"%s\"}}",
             sandbox);
    CHECK_INT(req(c.agent_port, "POST", "/api/v1", guest, call, NULL), 403);
    CHECK_INT(req(c.agent_port, "POST", "/api/v1", ops, call, NULL), 200);
    /* GET_TASKS and GET_STATE are filtered per task (view_tasks): guest gets none. */
    const char *tasks = "{\"type\": \"GET_TASKS\"}";
    CHECK_INT(req(c.agent_port, "POST", "/api/v1", guest, tasks, &body), 200);
    CHECK(body && strstr(body, "GET_TASKS") && !strstr(body, "\"task_id\""));
    free(body);
    body = NULL;
    CHECK_INT(req(c.agent_port, "POST", "/api/v1", ops, tasks, &body), 200);
    CHECK(body && strstr(body, "\"authz\"") != NULL);
    free(body);
    body = NULL;
    const char *state = "{\"type\": \"GET_STATE\"}";
    CHECK_INT(req(c.agent_port, "POST", "/api/v1", guest, state, &body), 200);
    CHECK(body && !strstr(body, "\"task_id\""));
    CHECK(body && strstr(body, "\"executor_info\"") != NULL);
    CHECK(body && strstr(body, "\"framework_info\"") != NULL);
    free(body);
    body = NULL;
    CHECK_INT(req(c.agent_port, "POST", "/api/v1", ops, state, &body), 200);
    CHECK(body && strstr(body, "\"task_id\"") != NULL);
    free(body);
    body = NULL;
    const char *setlvl = "{\"type\": \"SET_LOGGING_LEVEL\", \"set_logging_level\": {\"level\": 1, "
                         "\"duration\": {\"nanoseconds\": 1000000000}}}";
    CHECK_INT(req(c.agent_port, "POST", "/api/v1", guest, setlvl, NULL), 403);
    CHECK_INT(req(c.agent_port, "POST", "/api/v1", ops, setlvl, NULL), 200);
    const char *conts = "{\"type\": \"GET_CONTAINERS\"}";
    CHECK_INT(req(c.agent_port, "POST", "/api/v1", guest, conts, &body), 200);
    CHECK(body && !strstr(body, "\"container_id\""));
    free(body);
    body = NULL;
    CHECK_INT(req(c.agent_port, "POST", "/api/v1", ops, conts, &body), 200);
    CHECK(body && strstr(body, "\"container_id\"") != NULL);
    free(body);

    itest_fw_free(fw);
    free(ops);
    free(guest);
    itest_cluster_stop(&c);
}

/* Bad --acls and an unknown --authorizer stop the agent with a message naming the flag. */
static void test_agent_refuses_bad_authorization_flags(void)
{
    char dir[256], bin[512], work[300];
    REQUIRE(itest_tmpdir(dir, sizeof dir) == 0);
    snprintf(work, sizeof work, "--work_dir=%s", dir);
    const char *bad[] = {"--acls={\"view_task\": []}", "--acls={not json", "--authorizer=custom"};
    const char *named[] = {"view_task", "acls", "custom"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *argv[] = {(char *)itest_bin("mesos-agent", bin, sizeof bin),
                        "--master=127.0.0.1:1",
                        "--ip=127.0.0.1",
                        "--port=0",
                        work,
                        (char *)bad[i],
                        NULL};
        int status = 0;
        char *out = NULL;
        REQUIRE(itest_run(argv, ITEST_WAIT_MS, &status, &out) == 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) != 0);
        if (!out || !strstr(out, named[i]))
            fprintf(stderr, "%s: %s\n", bad[i], out ? out : "(no output)");
        CHECK(out && strstr(out, named[i]) != NULL);
        free(out);
    }
}

ITEST_MAIN(TEST(test_agent_authorization), TEST(test_agent_refuses_bad_authorization_flags))
