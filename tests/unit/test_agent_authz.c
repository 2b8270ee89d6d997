/* test_agent_authz.c: the agent's authorization decisions (agent_auth.h) on hand-built agent
 * records, no loop, no sockets: the users Mesos's local authorizer takes as objects (an
 * executor's CommandInfo.user, else its framework's; a task's likewise); /files roots mapped to
 * access_sandboxes with the sandbox's executor user (live and completed executors, paths equal
 * up to repeated and trailing slashes), to access_mesos_logs for the agent log, to
 * access_sandboxes with ANY for an unknown root and to get_endpoints for /files/debug; the
 * refusal text naming the action, principal and object; no --acls allowing everything; and
 * view_containers / kill_standalone_containers now evaluated by the ACL module. */
#include <stdlib.h>
#include <string.h>

#include "acls.h"
#include "agent_auth.h"
#include "agent_internal.h"
#include "test.h"

struct fx {
    struct cm_agent_flags flags;
    struct cm_agent a;
    struct agent_framework fw;
    struct agent_executor live, done;
    Mesos__V1__FrameworkInfo fi;
    Mesos__V1__ExecutorInfo live_info, done_info;
    Mesos__V1__CommandInfo live_cmd;
};

static void noop_free(void *p)
{
    (void)p;
}

static void fx_init(struct fx *f, const char *acls_json)
{
    memset(f, 0, sizeof *f);
    cm_agent_flags_init(&f->flags);
    f->flags.log_dir = "/var/log//cm";
    f->a.flags = &f->flags;
    cm_strmap_init(&f->a.frameworks);
    cm_ring_init(&f->a.completed_frameworks, 4, noop_free);

    mesos__v1__framework_info__init(&f->fi);
    f->fi.user = "alice";
    f->fw.id = "fw-1";
    f->fw.info = &f->fi;
    cm_strmap_init(&f->fw.executors);
    cm_ring_init(&f->fw.completed_executors, 4, noop_free);

    mesos__v1__executor_info__init(&f->live_info);
    mesos__v1__command_info__init(&f->live_cmd);
    f->live_cmd.user = "bob";
    f->live_info.command = &f->live_cmd;
    f->live.id = "e-live";
    f->live.framework = &f->fw;
    f->live.info = &f->live_info;
    f->live.directory = "/w/slaves/s/frameworks/fw-1/executors/e-live/runs/c1";
    cm_strmap_put(&f->fw.executors, "e-live", &f->live);

    mesos__v1__executor_info__init(&f->done_info);
    f->done.id = "e-done";
    f->done.framework = &f->fw;
    f->done.info = &f->done_info;
    f->done.directory = "/w/slaves/s/frameworks/fw-1/executors/e-done/runs/c2";
    cm_ring_push(&f->fw.completed_executors, &f->done);
    cm_strmap_put(&f->a.frameworks, "fw-1", &f->fw);

    if (acls_json) {
        char why[256];
        int rc = cm_acls_parse(acls_json, strlen(acls_json), &f->a.acls, NULL, why, sizeof why);
        if (rc)
            fprintf(stderr, "acls: %s\n", why);
        REQUIRE(rc == 0);
    }
}

static void fx_cleanup(struct fx *f)
{
    cm_acls_free(f->a.acls);
    cm_strmap_cleanup(&f->fw.executors);
    cm_ring_cleanup(&f->fw.completed_executors);
    cm_strmap_cleanup(&f->a.frameworks);
    cm_ring_cleanup(&f->a.completed_frameworks);
    cm_agent_flags_cleanup(&f->flags);
}

static const char *ACLS =
    "{\"permissive\": false,"
    " \"access_sandboxes\": ["
    "  {\"principals\": {\"values\": [\"p1\"]}, \"users\": {\"values\": [\"bob\"]}},"
    "  {\"principals\": {\"values\": [\"p2\"]}, \"users\": {\"values\": [\"alice\"]}},"
    "  {\"principals\": {\"values\": [\"root\"]}, \"users\": {\"type\": \"ANY\"}}],"
    " \"access_mesos_logs\": ["
    "  {\"principals\": {\"values\": [\"p1\"]}, \"logs\": {\"type\": \"ANY\"}}],"
    " \"view_containers\": ["
    "  {\"principals\": {\"values\": [\"p1\"]}, \"users\": {\"values\": [\"bob\"]}}],"
    " \"kill_standalone_containers\": ["
    "  {\"principals\": {\"values\": [\"p2\"]}, \"users\": {\"type\": \"ANY\"}}]}";

static void test_object_users(void)
{
    struct fx f;
    fx_init(&f, NULL);
    CHECK_STR(agent_auth_framework_user(&f.fw), "alice");
    CHECK_STR(agent_auth_executor_user(&f.live), "bob");
    CHECK_STR(agent_auth_executor_user(&f.done), "alice");
    Mesos__V1__TaskInfo ti;
    Mesos__V1__CommandInfo tc;
    mesos__v1__task_info__init(&ti);
    mesos__v1__command_info__init(&tc);
    struct agent_task t = {.info = &ti};
    CHECK_STR(agent_auth_task_user(&t, &f.fw), "alice");
    tc.user = "carol";
    ti.command = &tc;
    CHECK_STR(agent_auth_task_user(&t, &f.fw), "carol");
    /* An empty user is no user: ANY. */
    f.fi.user = "";
    CHECK(agent_auth_framework_user(&f.fw) == NULL);
    CHECK(agent_auth_executor_user(&f.done) == NULL);
    fx_cleanup(&f);
}

static void test_files_roots(void)
{
    struct fx f;
    fx_init(&f, ACLS);
    char why[512];
    const char *live = f.live.directory, *done = f.done.directory;
    /* p1 may see bob's sandboxes (the live executor's CommandInfo.user). */
    CHECK_INT(agent_auth_files(&f.a, "p1", live, why, sizeof why), 0);
    CHECK_INT(agent_auth_files(&f.a, "p1", "/w//slaves/s/frameworks/fw-1/executors/e-live/runs/c1/",
                               why, sizeof why),
              0);
    /* ... not alice's (the completed executor runs as its framework's user). */
    CHECK_INT(agent_auth_files(&f.a, "p1", done, why, sizeof why), 403);
    CHECK(strstr(why, "access_sandboxes") != NULL);
    CHECK(strstr(why, "'p1'") != NULL);
    CHECK(strstr(why, "'alice'") != NULL);
    CHECK_INT(agent_auth_files(&f.a, "p2", done, why, sizeof why), 0);
    CHECK_INT(agent_auth_files(&f.a, "p2", live, why, sizeof why), 403);
    /* A prefix of a sandbox path is not that sandbox. */
    CHECK_INT(agent_auth_files(&f.a, "p1", "/w/slaves/s/frameworks/fw-1/executors/e-live/runs/c",
                               why, sizeof why),
              403);
    /* The agent log: access_mesos_logs. */
    CHECK_INT(agent_auth_files(&f.a, "p1", "/var/log/cm/mesos-agent.INFO", why, sizeof why), 0);
    CHECK_INT(agent_auth_files(&f.a, "p2", "/var/log/cm/mesos-agent.INFO", why, sizeof why), 403);
    CHECK(strstr(why, "access_mesos_logs") != NULL);
    /* A root no executor names: only a principal allowed every user's sandbox. */
    CHECK_INT(agent_auth_files(&f.a, "p1", "/elsewhere", why, sizeof why), 403);
    CHECK_INT(agent_auth_files(&f.a, "root", "/elsewhere", why, sizeof why), 0);
    /* /files/debug: get_endpoints, no rule and not permissive. */
    CHECK_INT(agent_auth_files(&f.a, "root", NULL, why, sizeof why), 403);
    CHECK(strstr(why, "get_endpoints") != NULL);
    CHECK(strstr(why, "/files/debug") != NULL);
    /* Anonymous (no authentication): ANY, matched by no SOME rule. */
    CHECK_INT(agent_auth_files(&f.a, NULL, live, why, sizeof why), 403);
    CHECK(strstr(why, "(anonymous)") != NULL);
    fx_cleanup(&f);
}

static void test_no_acls_allows_everything(void)
{
    struct fx f;
    fx_init(&f, NULL);
    char why[256];
    CHECK_INT(agent_auth_files(&f.a, NULL, f.live.directory, why, sizeof why), 0);
    CHECK_INT(agent_auth_files(&f.a, "x", "/elsewhere", why, sizeof why), 0);
    CHECK_INT(agent_auth_files(&f.a, "x", NULL, why, sizeof why), 0);
    CHECK(agent_authorized(&f.a, CM_ACL_SET_LOG_LEVEL, NULL, NULL));
    fx_cleanup(&f);
}

static void test_container_actions_are_enforced(void)
{
    struct fx f;
    fx_init(&f, ACLS);
    char why[256];
    CHECK(agent_authorized(&f.a, CM_ACL_VIEW_CONTAINER, "p1", "bob"));
    CHECK(!agent_authorized(&f.a, CM_ACL_VIEW_CONTAINER, "p1", "alice"));
    CHECK(!agent_authorized(&f.a, CM_ACL_VIEW_CONTAINER, "p2", "bob"));
    CHECK_INT(agent_authorize(&f.a, CM_ACL_KILL_STANDALONE_CONTAINER, "p2", "bob", why, sizeof why),
              0);
    CHECK_INT(agent_authorize(&f.a, CM_ACL_KILL_STANDALONE_CONTAINER, "p1", "bob", why, sizeof why),
              403);
    CHECK(strstr(why, "kill_standalone_containers") != NULL);
    CHECK_STR(cm_acls_action_name(CM_ACL_VIEW_CONTAINER), "view_containers");
    CHECK_INT((int)cm_acls_rule_count(f.a.acls, CM_ACL_VIEW_CONTAINER), 1);
    fx_cleanup(&f);
}

TEST_MAIN(TEST(test_object_users), TEST(test_files_roots), TEST(test_no_acls_allows_everything),
          TEST(test_container_actions_are_enforced))
