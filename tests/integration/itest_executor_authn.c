/*
 * itest_executor_authn: executor authentication (--authenticate_http_executors with
 * --jwt_secret_key). The command executor gets its token from the agent and runs a task to
 * TASK_FINISHED, and the task itself does not see the token. Meanwhile the test plays a task
 * that knows the real executor's ids (they are in every task's environment) and POSTs a
 * TASK_FAILED UPDATE for the real task: without a token, with a malformed one, with one
 * signed by another key (401 with a Bearer challenge), with a valid token of another executor
 * and with a token for the right ids but another container (403). None gets through: the real
 * task still ends TASK_FINISHED. An agent asked to authenticate executors without a key
 * refuses to start. With --authenticate_http_readonly as well, the executor's token opens /state
 * (Mesos's JWT authenticator serves that realm too) and a forged one does not.
 */
#include "harness_agent.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jwt.h"
#include "mesos/v1/executor/executor.pb-c.h"

#define XAPI "/api/v1/executor"
#define KEY "an executor signing key for the test\n"

static size_t pack_failed_update(const char *fid, const char *eid, const char *tid, uint8_t *buf,
                                 size_t cap)
{
    Mesos__V1__FrameworkID f = MESOS__V1__FRAMEWORK_ID__INIT;
    f.value = (char *)fid;
    Mesos__V1__ExecutorID e = MESOS__V1__EXECUTOR_ID__INIT;
    e.value = (char *)eid;
    Mesos__V1__TaskID t = MESOS__V1__TASK_ID__INIT;
    t.value = (char *)tid;
    uint8_t uuid[16] = {9, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    Mesos__V1__TaskStatus st = MESOS__V1__TASK_STATUS__INIT;
    st.task_id = &t;
    st.state = MESOS__V1__TASK_STATE__TASK_FAILED;
    st.has_uuid = 1;
    st.uuid.data = uuid;
    st.uuid.len = sizeof uuid;
    st.has_source = 1;
    st.source = MESOS__V1__TASK_STATUS__SOURCE__SOURCE_EXECUTOR;
    st.message = "forged";
    Mesos__V1__Executor__Call__Update up = MESOS__V1__EXECUTOR__CALL__UPDATE__INIT;
    up.status = &st;
    Mesos__V1__Executor__Call call = MESOS__V1__EXECUTOR__CALL__INIT;
    call.framework_id = &f;
    call.executor_id = &e;
    call.has_type = 1;
    call.type = MESOS__V1__EXECUTOR__CALL__TYPE__UPDATE;
    call.update = &up;
    size_t len = mesos__v1__executor__call__get_packed_size(&call);
    if (len > cap)
        return 0;
    mesos__v1__executor__call__pack(&call, buf);
    return len;
}

/* POSTs body with an optional Authorization value; returns the status (or -1) and copies the
 * WWW-Authenticate header and the body's start. */
static int post(int port, const char *authz, const uint8_t *body, size_t len, char *challenge,
                size_t clen, char *text, size_t tlen)
{
    char hdr[CM_JWT_MAX_TOKEN + 64];
    const char *headers[4] = {"Content-Type: application/x-protobuf",
                              "Accept: application/x-protobuf", NULL, NULL};
    if (authz) {
        snprintf(hdr, sizeof hdr, "Authorization: %s", authz);
        headers[2] = hdr;
    }
    struct itest_http_resp r;
    if (itest_http(port, "POST", XAPI, headers, body, len, &r, ITEST_WAIT_MS) != 0)
        return -1;
    if (challenge && !itest_header(r.headers, "WWW-Authenticate", challenge, clen))
        challenge[0] = '\0';
    if (text)
        snprintf(text, tlen, "%s", r.body ? (const char *)r.body : "");
    int status = r.status;
    itest_http_resp_cleanup(&r);
    return status;
}

static int write_key(const char *dir, char *path, size_t len)
{
    snprintf(path, len, "%s/jwt.key", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(KEY, f);
    fclose(f);
    return chmod(path, 0600);
}

static void test_task_finishes_and_forged_calls_are_refused(void)
{
    char dir[256], keypath[300], flag[400];
    REQUIRE(itest_tmpdir(dir, sizeof dir) == 0);
    REQUIRE(write_key(dir, keypath, sizeof keypath) == 0);
    snprintf(flag, sizeof flag, "--jwt_secret_key=%s", keypath);
    char creds[300], f_creds[400];
    snprintf(creds, sizeof creds, "%s/http.creds", dir);
    FILE *cf = fopen(creds, "w");
    REQUIRE(cf != NULL);
    fputs("ops s3cret\n", cf);
    fclose(cf);
    snprintf(f_creds, sizeof f_creds, "--http_credentials=%s", creds);
    const char *agent_flags[] = {"--authenticate_http_executors", flag,
                                 "--authenticate_http_readonly", f_creds, NULL};
    struct itest_cluster_opts co = {.agent_flags = agent_flags};
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, &co) == 0);
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_PROTOBUF, NULL);
    REQUIRE(fw != NULL);
    struct itest_offers off;
    REQUIRE(itest_fw_wait_offer(fw, 0.2, 64, ITEST_WAIT_MS, &off) == 0);
    /* The task fails if it can see the executor's token; it runs long enough to be attacked. */
    struct itest_task tasks[] = {
        {"real", "test -z \"$MESOS_EXECUTOR_AUTHENTICATION_TOKEN\" && sleep 3", 0.1, 32},
        {"other", "sleep 30", 0.1, 32},
    };
    CHECK_INT(itest_fw_accept(fw, off.idv, off.n, c.agent_id, tasks, 2, 0), 202);
    struct itest_status running, other;
    REQUIRE(itest_fw_wait_state(fw, "real", MESOS__V1__TASK_STATE__TASK_RUNNING, ITEST_WAIT_MS,
                                &running) == 0);
    REQUIRE(itest_fw_wait_state(fw, "other", MESOS__V1__TASK_STATE__TASK_RUNNING, ITEST_WAIT_MS,
                                &other) == 0);
    const char *eid = running.executor_id[0] ? running.executor_id : "real";
    const char *other_eid = other.executor_id[0] ? other.executor_id : "other";

    uint8_t body[1024];
    size_t len = pack_failed_update(fw->framework_id, eid, "real", body, sizeof body);
    REQUIRE(len > 0);
    char challenge[512], text[512];

    /* No token: 401 with a bare Bearer challenge of the executor realm. */
    CHECK_INT(post(c.agent_port, NULL, body, len, challenge, sizeof challenge, text, sizeof text),
              401);
    CHECK_STR(challenge, "Bearer realm=\"mesos-agent-executor\"");
    /* Other schemes and garbage. */
    CHECK_INT(
        post(c.agent_port, "Basic dXNlcjpwYXNz", body, len, challenge, sizeof challenge, NULL, 0),
        401);
    CHECK(strstr(challenge, "invalid_token") != NULL);
    CHECK_INT(
        post(c.agent_port, "Bearer not.a.token", body, len, challenge, sizeof challenge, NULL, 0),
        401);
    CHECK_INT(post(c.agent_port, "Bearer", body, len, NULL, 0, NULL, 0), 401);

    char why[256];
    char *tok = NULL;
    /* A token for the right ids, signed with another key. */
    REQUIRE(cm_jwt_executor_token("guessed", 7, fw->framework_id, eid, "c", &tok, why,
                                  sizeof why) == 0);
    char authz[CM_JWT_MAX_TOKEN + 16];
    snprintf(authz, sizeof authz, "Bearer %s", tok);
    free(tok);
    CHECK_INT(post(c.agent_port, authz, body, len, challenge, sizeof challenge, NULL, 0), 401);
    CHECK(strstr(challenge, "signature") != NULL);

    /* A valid token of the other executor (what that executor could present): 403. */
    REQUIRE(cm_jwt_executor_token(KEY, strlen(KEY), fw->framework_id, other_eid, "any", &tok, why,
                                  sizeof why) == 0);
    snprintf(authz, sizeof authz, "Bearer %s", tok);
    free(tok);
    CHECK_INT(post(c.agent_port, authz, body, len, NULL, 0, text, sizeof text), 403);
    CHECK(strstr(text, "'eid'") != NULL);
    /* The right framework and executor, but not the executor's container: 403. */
    REQUIRE(cm_jwt_executor_token(KEY, strlen(KEY), fw->framework_id, eid, "stale-container", &tok,
                                  why, sizeof why) == 0);
    snprintf(authz, sizeof authz, "Bearer %s", tok);
    free(tok);
    CHECK_INT(post(c.agent_port, authz, body, len, NULL, 0, text, sizeof text), 403);
    CHECK(strstr(text, "'cid'") != NULL);

    /* As in Mesos, an executor's token also opens the read-only endpoints; a forged one
     * does not. */
    REQUIRE(cm_jwt_executor_token(KEY, strlen(KEY), fw->framework_id, eid, "c", &tok, why,
                                  sizeof why) == 0);
    snprintf(authz, sizeof authz, "Authorization: Bearer %s", tok);
    free(tok);
    const char *state_headers[] = {authz, NULL};
    struct itest_http_resp r;
    REQUIRE(itest_http(c.agent_port, "GET", "/state", state_headers, NULL, 0, &r, ITEST_WAIT_MS) ==
            0);
    CHECK_INT(r.status, 200);
    itest_http_resp_cleanup(&r);
    REQUIRE(cm_jwt_executor_token("guessed", 7, fw->framework_id, eid, "c", &tok, why,
                                  sizeof why) == 0);
    snprintf(authz, sizeof authz, "Authorization: Bearer %s", tok);
    free(tok);
    REQUIRE(itest_http(c.agent_port, "GET", "/state", state_headers, NULL, 0, &r, ITEST_WAIT_MS) ==
            0);
    CHECK_INT(r.status, 401);
    itest_http_resp_cleanup(&r);
    REQUIRE(itest_http(c.agent_port, "GET", "/state", NULL, NULL, 0, &r, ITEST_WAIT_MS) == 0);
    CHECK_INT(r.status, 401);
    itest_http_resp_cleanup(&r);

    /* The real task is unaffected and finishes (so its executor's own token worked, and the
     * task could not see it). */
    struct itest_status done;
    CHECK_INT(
        itest_fw_wait_state(fw, "real", MESOS__V1__TASK_STATE__TASK_FINISHED, ITEST_WAIT_MS, &done),
        0);
    CHECK(itest_proc_alive(&c.agent));
    CHECK_INT(itest_fw_kill(fw, "other", c.agent_id), 202);
    CHECK_INT(
        itest_fw_wait_state(fw, "other", MESOS__V1__TASK_STATE__TASK_KILLED, ITEST_WAIT_MS, NULL),
        0);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

static void test_agent_needs_a_key(void)
{
    char dir[256], bin[512], work[300];
    REQUIRE(itest_tmpdir(dir, sizeof dir) == 0);
    snprintf(work, sizeof work, "--work_dir=%s", dir);
    char *argv[] = {(char *)itest_bin("mesos-agent", bin, sizeof bin),
                    "--master=127.0.0.1:1",
                    "--ip=127.0.0.1",
                    "--port=0",
                    work,
                    "--authenticate_http_executors",
                    NULL};
    int status = 0;
    char *out = NULL;
    REQUIRE(itest_run(argv, ITEST_WAIT_MS, &status, &out) == 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) != 0);
    CHECK(out && strstr(out, "--jwt_secret_key") != NULL);
    free(out);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The agent checkpoints its id after it logs its registration (itest_agent_recovery). */
static int wait_agent_checkpointed(const struct itest_cluster *c)
{
    for (int waited = 0; waited < ITEST_WAIT_MS; waited += 20) {
        char *text = itest_read_file(itest_agent_log(c), NULL);
        int done = text && strstr(text, "with master") && strstr(text, "as agent '");
        free(text);
        if (done)
            return 0;
        sleep_ms(20);
    }
    return -1;
}

/* After kill -9 and a restart with the same key, the running executor re-subscribes with the
 * token it was started with (its claims still name its container) and the task finishes: an
 * executor that could not re-subscribe would be killed after
 * --executor_reregistration_timeout and its task would not end TASK_FINISHED. */
static void test_executor_resubscribes_after_agent_restart(void)
{
    char dir[256], keypath[300], flag[400];
    REQUIRE(itest_tmpdir(dir, sizeof dir) == 0);
    REQUIRE(write_key(dir, keypath, sizeof keypath) == 0);
    snprintf(flag, sizeof flag, "--jwt_secret_key=%s", keypath);
    const char *agent_flags[] = {"--registration_backoff_factor=100ms",
                                 "--authenticate_http_executors", flag, NULL};
    struct itest_cluster_opts co = {.no_agent = 1};
    struct itest_cluster c;
    REQUIRE(itest_cluster_start(&c, &co) == 0);
    REQUIRE(itest_agent_spawn(&c, NULL, agent_flags) == 0);
    REQUIRE(itest_agent_wait_registered(&c, ITEST_WAIT_MS) == 0);
    REQUIRE(wait_agent_checkpointed(&c) == 0);
    struct itest_fw_opts fo = {.checkpoint = 1, .failover_timeout = 60};
    struct itest_fw *fw = itest_fw_start(c.master_port, ITEST_PROTOBUF, &fo);
    REQUIRE(fw != NULL);
    struct itest_offers off;
    REQUIRE(itest_fw_wait_offer(fw, 0.1, 32, ITEST_WAIT_MS, &off) == 0);
    struct itest_task t = {"survivor", "sleep 3", 0.1, 32};
    CHECK_INT(itest_fw_accept(fw, off.idv, off.n, c.agent_id, &t, 1, 0), 202);
    struct itest_status running;
    REQUIRE(itest_fw_wait_state(fw, "survivor", MESOS__V1__TASK_STATE__TASK_RUNNING, ITEST_WAIT_MS,
                                &running) == 0);
    CHECK_INT(itest_fw_ack(fw, &running), 202);
    sleep_ms(300);
    itest_agent_kill9(&c);
    sleep_ms(300);
    REQUIRE(itest_agent_spawn(&c, NULL, agent_flags) == 0);
    struct itest_status done;
    CHECK_INT(itest_fw_wait_state(fw, "survivor", MESOS__V1__TASK_STATE__TASK_FINISHED,
                                  ITEST_WAIT_MS, &done),
              0);
    itest_fw_free(fw);
    itest_cluster_stop(&c);
}

ITEST_MAIN(TEST(test_task_finishes_and_forged_calls_are_refused), TEST(test_agent_needs_a_key),
           TEST(test_executor_resubscribes_after_agent_restart))
