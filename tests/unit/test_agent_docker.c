/*
 * The Docker containerizer's pure parts: the `docker run` argv of a DOCKER task
 * (docker_run.h) with its refusals, --containerizers parsing and the executor's command
 * (containerizer/docker.h).
 */
#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "containerizer/docker.h"
#include "docker_run.h"
#include "errors.h"
#include "pbjson.h"
#include "test.h"

/* A TaskInfo from JSON: a shell command in busybox with cpus 0.1, mem 32 and ports
 * 31000-31001, with the container's docker fields and other container fields merged in. */
static Mesos__V1__TaskInfo *task(const char *docker_extra, const char *container_extra,
                                 const char *command)
{
    char text[4096];
    snprintf(text, sizeof text,
             "{\"name\":\"t\",\"task_id\":{\"value\":\"t\"},\"agent_id\":{\"value\":\"a\"},"
             "\"command\":%s,"
             "\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":0.1}},"
             "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":32}},"
             "{\"name\":\"ports\",\"type\":\"RANGES\",\"ranges\":{\"range\":[{\"begin\":31000,"
             "\"end\":31001}]}}],"
             "\"container\":{\"type\":\"DOCKER\",\"docker\":{\"image\":\"busybox:1\"%s%s}%s%s}}",
             command ? command : "{\"value\":\"echo hi\"}", docker_extra ? "," : "",
             docker_extra ? docker_extra : "", container_extra ? "," : "",
             container_extra ? container_extra : "");
    ProtobufCMessage *m = NULL;
    char why[256];
    if (cm_pbjson_from_text(&mesos__v1__task_info__descriptor, text, strlen(text), &m, why,
                            sizeof why) != 0) {
        fprintf(stderr, "bad test JSON: %s\n%s\n", why, text);
        abort();
    }
    return (Mesos__V1__TaskInfo *)m;
}

static const struct cm_docker_run_params params = {.docker = "/usr/bin/docker",
                                                   .socket = "/run/d.sock",
                                                   .name = "mesos-c1",
                                                   .sandbox = "/work/sb"};

/* Index of the pair (a, b) in argv, or -1. b NULL: a alone. */
static int find(char **argv, const char *a, const char *b)
{
    for (int i = 0; argv && argv[i]; i++)
        if (strcmp(argv[i], a) == 0 && (!b || (argv[i + 1] && strcmp(argv[i + 1], b) == 0)))
            return i;
    return -1;
}

static char **build(Mesos__V1__TaskInfo *t, const struct cm_docker_run_params *p, char *why,
                    size_t len, int *rc)
{
    char **argv = NULL;
    *rc = cm_docker_run_argv(t, p, &argv, why, len);
    mesos__v1__task_info__free_unpacked(t, NULL);
    return argv;
}

static void test_shell_task(void)
{
    char why[512] = "";
    int rc;
    char **v = build(task(NULL, NULL, NULL), &params, why, sizeof why, &rc);
    CHECK_INT(rc, 0);
    REQUIRE(v);
    CHECK_STR(v[0], "/usr/bin/docker");
    CHECK_INT(find(v, "-H", "unix:///run/d.sock"), 1);
    CHECK_INT(find(v, "run", "-d"), 3);
    CHECK(find(v, "--cpu-shares=102", NULL) > 0);
    CHECK(find(v, "--memory=33554432", NULL) > 0);
    CHECK(find(v, "--memory-swap=33554432", NULL) > 0);
    CHECK(find(v, "--cpu-quota=10000", NULL) < 0); /* no CFS unless asked */
    CHECK(find(v, "-e", "MESOS_SANDBOX=/mnt/mesos/sandbox") > 0);
    CHECK(find(v, "-e", "MESOS_CONTAINER_NAME=mesos-c1") > 0);
    CHECK(find(v, "-v", "/work/sb:/mnt/mesos/sandbox") > 0);
    CHECK(find(v, "--net", "host") > 0); /* Mesos's default network */
    CHECK(find(v, "--entrypoint", "/bin/sh") > 0);
    CHECK(find(v, "--name", "mesos-c1") > 0);
    /* The image, then -c and the command, at the very end. */
    int img = find(v, "busybox:1", "-c");
    CHECK(img > 0);
    CHECK_STR(v[img + 2], "echo hi");
    CHECK(v[img + 3] == NULL);
    cm_docker_strv_free(v);
}

static void test_args_cfs_privileged_params(void)
{
    char why[512] = "";
    int rc;
    struct cm_docker_run_params p = params;
    p.cfs = true;
    p.socket = NULL;
    char **v = build(task("\"privileged\":true,\"parameters\":[{\"key\":\"label\",\"value\":"
                          "\"a=b\"},{\"key\":\"network\",\"value\":\"none\"}]",
                          NULL,
                          "{\"shell\":false,\"value\":\"/bin/echo\",\"arguments\":[\"x\",\"y z\"],"
                          "\"user\":\"nobody\",\"environment\":{\"variables\":[{\"name\":\"K\","
                          "\"value\":\"v w\"}]}}"),
                     &p, why, sizeof why, &rc);
    CHECK_INT(rc, 0);
    REQUIRE(v);
    CHECK(find(v, "-H", NULL) < 0);
    CHECK(find(v, "--privileged", NULL) > 0);
    CHECK(find(v, "--cpu-period=100000", NULL) > 0);
    CHECK(find(v, "--cpu-quota=10000", NULL) > 0);
    CHECK(find(v, "--label=a=b", NULL) > 0);
    CHECK(find(v, "--net", "none") > 0); /* a "network" parameter replaces the mode */
    CHECK(find(v, "--network=none", NULL) < 0);
    CHECK(find(v, "-u", "nobody") > 0);
    CHECK(find(v, "-e", "K=v w") > 0);
    CHECK(find(v, "--entrypoint", NULL) < 0);
    int img = find(v, "busybox:1", "/bin/echo");
    CHECK(img > 0);
    CHECK_STR(v[img + 2], "x");
    CHECK_STR(v[img + 3], "y z");
    cm_docker_strv_free(v);
}

static void test_volumes(void)
{
    char why[512] = "";
    int rc;
    char **v = build(task(NULL,
                          "\"volumes\":[{\"container_path\":\"/data\",\"host_path\":\"d\","
                          "\"mode\":\"RW\"},{\"container_path\":\"in\",\"host_path\":\"/etc/x\","
                          "\"mode\":\"RO\"}]",
                          NULL),
                     &params, why, sizeof why, &rc);
    CHECK_INT(rc, 0);
    CHECK(find(v, "-v", "/work/sb/d:/data:rw") > 0);
    CHECK(find(v, "-v", "/etc/x:/mnt/mesos/sandbox/in:ro") > 0);
    cm_docker_strv_free(v);

    v = build(task(NULL,
                   "\"volumes\":[{\"container_path\":\"a\",\"host_path\":\"b\",\"mode\":\"RW\"}]",
                   NULL),
              &params, why, sizeof why, &rc);
    CHECK_INT(rc, CM_EINVAL);
    CHECK(v == NULL);
    CHECK(strstr(why, "container.volumes[0]: both host_path 'b' and container_path 'a' are "
                      "relative") != NULL);
    v = build(task(NULL,
                   "\"volumes\":[{\"container_path\":\"/a\",\"mode\":\"RW\",\"source\":{\"type\":"
                   "\"DOCKER_VOLUME\",\"docker_volume\":{\"name\":\"n\"}}}]",
                   NULL),
              &params, why, sizeof why, &rc);
    CHECK_INT(rc, CM_EINVAL);
    CHECK(strstr(why, "only volumes with host_path") != NULL);
    v = build(
        task(
            NULL,
            "\"volumes\":[{\"container_path\":\"x/../../y\",\"host_path\":\"/h\",\"mode\":\"RW\"}]",
            NULL),
        &params, why, sizeof why, &rc);
    CHECK_INT(rc, CM_EINVAL);
    CHECK(strstr(why, "'..'") != NULL);
}

static void test_networks_and_ports(void)
{
    char why[512] = "";
    int rc;
    char **v = build(task("\"network\":\"BRIDGE\",\"port_mappings\":[{\"host_port\":31001,"
                          "\"container_port\":80,\"protocol\":\"TCP\"}]",
                          "\"hostname\":\"web\"", NULL),
                     &params, why, sizeof why, &rc);
    CHECK_INT(rc, 0);
    CHECK(find(v, "--net", "bridge") > 0);
    CHECK(find(v, "-p", "31001:80/tcp") > 0);
    CHECK(find(v, "--hostname", "web") > 0);
    cm_docker_strv_free(v);

    v = build(task("\"network\":\"BRIDGE\",\"port_mappings\":[{\"host_port\":32000,"
                   "\"container_port\":80}]",
                   NULL, NULL),
              &params, why, sizeof why, &rc);
    CHECK_INT(rc, CM_EINVAL);
    CHECK(strstr(why, "host port 32000 is not in the task's 'ports' resources") != NULL);
    v = build(task("\"network\":\"HOST\",\"port_mappings\":[{\"host_port\":31000,"
                   "\"container_port\":80}]",
                   NULL, NULL),
              &params, why, sizeof why, &rc);
    CHECK_INT(rc, CM_EINVAL);
    CHECK(strstr(why, "port_mappings are only supported for bridge") != NULL);
    v = build(task("\"network\":\"USER\"", NULL, NULL), &params, why, sizeof why, &rc);
    CHECK_INT(rc, CM_EINVAL);
    CHECK(strstr(why, "network USER needs exactly one container.network_infos") != NULL);
    v = build(task("\"network\":\"USER\"", "\"network_infos\":[{\"name\":\"n1\"}]", NULL), &params,
              why, sizeof why, &rc);
    CHECK_INT(rc, 0);
    CHECK(find(v, "--net", "n1") > 0);
    cm_docker_strv_free(v);
    v = build(task(NULL, "\"hostname\":\"h\"", NULL), &params, why, sizeof why, &rc);
    CHECK_INT(rc, CM_EINVAL);
    CHECK(strstr(why, "hostname cannot be set with the host network") != NULL);
}

static void test_refusals(void)
{
    char why[512] = "";
    int rc;
    Mesos__V1__TaskInfo *t = task(NULL, NULL, NULL);
    free(t->container->docker->image);
    t->container->docker->image = strdup("");
    char **v = build(t, &params, why, sizeof why, &rc);
    CHECK_INT(rc, CM_EINVAL);
    CHECK(strstr(why, "container.docker.image is not set") != NULL);
    t = task(NULL, NULL, NULL);
    free(t->container->docker->image);
    t->container->docker->image = strdup("--privileged");
    v = build(t, &params, why, sizeof why, &rc);
    CHECK_INT(rc, CM_EINVAL);
    CHECK(strstr(why, "is not an image name") != NULL);
    v = build(task("\"parameters\":[{\"key\":\"-x\",\"value\":\"1\"}]", NULL, NULL), &params, why,
              sizeof why, &rc);
    CHECK_INT(rc, CM_EINVAL);
    CHECK(strstr(why, "parameters[0]") != NULL);
    v = build(task(NULL, NULL, "{\"shell\":true}"), &params, why, sizeof why, &rc);
    CHECK_INT(rc, CM_EINVAL);
    CHECK(strstr(why, "command.shell is true but command.value is empty") != NULL);
    v = build(task(NULL, "\"tty_info\":{}", NULL), &params, why, sizeof why, &rc);
    CHECK_INT(rc, CM_EINVAL);
    CHECK(strstr(why, "container.tty_info is not supported") != NULL);
    CHECK(v == NULL);
    /* The agent's check: the same rules, and no custom executor. */
    t = task(NULL, NULL, NULL);
    CHECK_INT(cm_docker_check_task(t, why, sizeof why), 0);
    mesos__v1__task_info__free_unpacked(t, NULL);
}

/* The API body says what the argv says; parameters need the CLI. */
static void test_api_body(void)
{
    char why[512] = "";
    int rc;
    char **v = build(task("\"network\":\"BRIDGE\",\"privileged\":true,\"port_mappings\":[{"
                          "\"host_port\":31001,\"container_port\":80}]",
                          "\"volumes\":[{\"container_path\":\"/data\",\"host_path\":\"d\","
                          "\"mode\":\"RO\"}]",
                          NULL),
                     &params, why, sizeof why, &rc);
    REQUIRE(rc == 0);
    char *body = NULL, *name = NULL;
    CHECK_INT(cm_docker_api_create(v, &body, &name), 0);
    cm_docker_strv_free(v);
    REQUIRE(body && name);
    CHECK_STR(name, "mesos-c1");
    json_error_t jerr;
    json_t *j = json_loads(body, 0, &jerr);
    REQUIRE(j);
    json_t *hc = json_object_get(j, "HostConfig");
    CHECK_STR(json_string_value(json_object_get(j, "Image")), "busybox:1");
    CHECK_STR(json_string_value(json_array_get(json_object_get(j, "Entrypoint"), 0)), "/bin/sh");
    CHECK_STR(json_string_value(json_array_get(json_object_get(j, "Cmd"), 0)), "-c");
    CHECK_STR(json_string_value(json_array_get(json_object_get(j, "Cmd"), 1)), "echo hi");
    CHECK(json_is_true(json_object_get(hc, "Privileged")));
    CHECK_INT((int)json_integer_value(json_object_get(hc, "CpuShares")), 102);
    CHECK(json_integer_value(json_object_get(hc, "Memory")) == 33554432);
    CHECK(json_integer_value(json_object_get(hc, "MemorySwap")) == 33554432);
    CHECK_STR(json_string_value(json_object_get(hc, "NetworkMode")), "bridge");
    CHECK_STR(json_string_value(json_array_get(json_object_get(hc, "Binds"), 0)),
              "/work/sb/d:/data:ro");
    CHECK_STR(json_string_value(json_array_get(json_object_get(hc, "Binds"), 1)),
              "/work/sb:/mnt/mesos/sandbox");
    CHECK_STR(json_string_value(json_object_get(
                  json_array_get(json_object_get(json_object_get(hc, "PortBindings"), "80/tcp"), 0),
                  "HostPort")),
              "31001");
    CHECK(json_object_get(json_object_get(j, "ExposedPorts"), "80/tcp") != NULL);
    size_t k;
    json_t *e;
    int sandbox_env = 0;
    json_array_foreach(json_object_get(j, "Env"), k, e) sandbox_env |=
        strcmp(json_string_value(e), "MESOS_SANDBOX=/mnt/mesos/sandbox") == 0;
    CHECK(sandbox_env);
    json_decref(j);
    free(body);
    free(name);

    v = build(task("\"parameters\":[{\"key\":\"label\",\"value\":\"x=y\"}]", NULL, NULL), &params,
              why, sizeof why, &rc);
    REQUIRE(rc == 0);
    CHECK_INT(cm_docker_api_create(v, &body, &name), CM_ESTATE);
    CHECK(body == NULL && name == NULL);
    cm_docker_strv_free(v);
}

static void test_containerizers_flag(void)
{
    char why[256];
    bool mesos, docker;
    CHECK_INT(cm_docker_containerizers_parse("docker,mesos", &mesos, &docker, why, sizeof why), 0);
    CHECK(mesos && docker);
    CHECK_INT(cm_docker_containerizers_parse("mesos", &mesos, &docker, why, sizeof why), 0);
    CHECK(mesos && !docker);
    CHECK_INT(cm_docker_containerizers_parse("docker", &mesos, &docker, why, sizeof why), 0);
    CHECK(!mesos && docker);
    CHECK_INT(cm_docker_containerizers_parse("mesos,mesos", &mesos, &docker, why, sizeof why),
              CM_EINVAL);
    CHECK(strstr(why, "listed twice") != NULL);
    CHECK_INT(cm_docker_containerizers_parse("docker,", &mesos, &docker, why, sizeof why),
              CM_EINVAL);
    CHECK_INT(cm_docker_containerizers_parse("", &mesos, &docker, why, sizeof why), CM_EINVAL);
    CHECK_INT(cm_docker_containerizers_parse("rkt", &mesos, &docker, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "unknown containerizer 'rkt'") != NULL);
}

static void test_executor_command(void)
{
    char why[256];
    struct event_base *base = event_base_new();
    struct cm_docker_options o = {.base = base,
                                  .docker = "/usr/bin/docker",
                                  .socket = "/run/d.sock",
                                  .stop_timeout = 2,
                                  .launcher_dir = "/opt/le"};
    struct cm_docker *d = cm_docker_new(&o, why, sizeof why);
    REQUIRE(d);
    Mesos__V1__CommandInfo *cmd = calloc(1, sizeof *cmd);
    mesos__v1__command_info__init(cmd);
    cmd->value = strdup("/opt/le/mesos-executor");
    cmd->n_arguments = 1;
    cmd->arguments = calloc(1, sizeof *cmd->arguments);
    cmd->arguments[0] = strdup("mesos-executor");
    Mesos__V1__ExecutorInfo info = MESOS__V1__EXECUTOR_INFO__INIT;
    info.command = cmd;
    CHECK(!cm_docker_is_executor(&info));
    cm_docker_executor_command(d, "c-1", cmd);
    CHECK_STR(cmd->value, "/opt/le/mesos-docker-executor");
    CHECK(cm_docker_is_executor(&info));
    bool container = false, sock = false, stop = false;
    for (size_t i = 0; i < cmd->n_arguments; i++) {
        container |= strcmp(cmd->arguments[i], "--container=mesos-c-1") == 0;
        sock |= strcmp(cmd->arguments[i], "--docker_socket=/run/d.sock") == 0;
        stop |= strcmp(cmd->arguments[i], "--stop_timeout=2") == 0;
    }
    CHECK(container && sock && stop);
    mesos__v1__command_info__free_unpacked(cmd, NULL);
    CHECK_INT((int)cm_docker_pending(d), 0);
    cm_docker_free(d);
    cm_docker_free(NULL);
    o.socket = "/a/very/long/path/that/does/not/fit/in/a/unix/socket/address/because/it/is/way/"
               "longer/than/one/hundred/and/eight/bytes";
    CHECK(cm_docker_new(&o, why, sizeof why) == NULL);
    CHECK(strstr(why, "docker_socket") != NULL);
    CHECK(!cm_docker_id_valid("a/b"));
    CHECK(!cm_docker_id_valid(""));
    CHECK(cm_docker_id_valid("0f3c-aa_b.c"));
    event_base_free(base);
}

TEST_MAIN(TEST(test_shell_task), TEST(test_args_cfs_privileged_params), TEST(test_volumes),
          TEST(test_networks_and_ports), TEST(test_refusals), TEST(test_api_body),
          TEST(test_containerizers_flag), TEST(test_executor_command))
