/* test_zk_url: ZooKeeper URL parsing (docs/wire-protocol.md §8.1) and the election-node helpers of
 * leader.h (names, sequence numbers, data parsing). No sockets. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "leader.h"
#include "pbjson.h"
#include "test.h"
#include "zk_url.h"

static void test_plain(void)
{
    struct cm_zk_url u;
    char why[256] = "";
    REQUIRE(cm_zk_url_parse("zk://127.0.0.1:2181/mesos", &u, why, sizeof why) == 0);
    CHECK_STR(u.servers, "127.0.0.1:2181");
    CHECK_STR(u.path, "/mesos");
    CHECK(u.auth == NULL);
    cm_zk_url_cleanup(&u);

    REQUIRE(cm_zk_url_parse("zk://h1:2181,h2.example:2182,[::1]:2183/a/b/", &u, why, sizeof why) ==
            0);
    CHECK_STR(u.servers, "h1:2181,h2.example:2182,[::1]:2183");
    CHECK_STR(u.path, "/a/b");
    cm_zk_url_cleanup(&u);
    cm_zk_url_cleanup(&u); /* idempotent */
}

static void test_credentials(void)
{
    struct cm_zk_url u;
    char why[256] = "";
    REQUIRE(cm_zk_url_parse("zk://alice:s3cr@t@h1:2181,h2:2181/mesos", &u, why, sizeof why) == 0);
    CHECK_STR(u.auth, "alice:s3cr@t");
    CHECK_STR(u.servers, "h1:2181,h2:2181");
    struct cm_zk_url copy;
    cm_zk_url_copy(&copy, &u);
    CHECK_STR(copy.auth, "alice:s3cr@t");
    CHECK_STR(copy.path, "/mesos");
    cm_zk_url_cleanup(&copy);
    cm_zk_url_cleanup(&u);

    static const char *bad[] = {"zk://alice@h:2181/m", "zk://:pw@h:2181/m", "zk://alice:@h:2181/m"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        CHECK_INT(cm_zk_url_parse(bad[i], &u, why, sizeof why), CM_EINVAL);
        CHECK(strstr(why, "credentials") != NULL);
        CHECK(u.servers == NULL && u.path == NULL && u.auth == NULL);
    }
    /* A password never shows up in an error text. */
    CHECK_INT(cm_zk_url_parse("zk://alice:topsecret@h:2181/", &u, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "topsecret") == NULL);
}

static void test_errors(void)
{
    struct {
        const char *url;
        const char *why;
    } cases[] = {
        {"zk://h:2181/", "must not be '/'"},
        {"zk://h:2181//", "must not be '/'"},
        {"zk://h:2181", "missing the path"},
        {"http://h:2181/mesos", "expected 'zk://"},
        {"zk:///mesos", "no servers"},
        {"zk://h/mesos", "needs a port"},
        {"zk://h:/mesos", "invalid port"},
        {"zk://h:0/mesos", "invalid port"},
        {"zk://h:65536/mesos", "invalid port"},
        {"zk://h:21x/mesos", "invalid port"},
        {"zk://h:2181,/mesos", "empty server"},
        {"zk://h:2181,,g:1/mesos", "empty server"},
        {"zk://h h:2181/mesos", "invalid character"},
        {"zk://h:2181/a//b", "empty segment"},
        {"zk://h:2181/a/../b", "'..' segment"},
        {"zk://h:2181/a/./b", "'..' segment"},
        {"zk://h:2181/a b", "space or control"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct cm_zk_url u;
        char why[256] = "";
        int rc = cm_zk_url_parse(cases[i].url, &u, why, sizeof why);
        CHECK_INT(rc, CM_EINVAL);
        if (!strstr(why, cases[i].why)) {
            fprintf(stderr, "url %s: why '%s' lacks '%s'\n", cases[i].url, why, cases[i].why);
            CHECK(0);
        }
        CHECK(u.servers == NULL && u.path == NULL);
    }
    struct cm_zk_url u;
    CHECK_INT(cm_zk_url_parse(NULL, &u, NULL, 0), CM_EINVAL);
    char *huge = malloc(CM_ZK_URL_MAX + 100);
    memset(huge, 'a', CM_ZK_URL_MAX + 99);
    memcpy(huge, "zk://h:1/", 9);
    huge[CM_ZK_URL_MAX + 99] = '\0';
    CHECK_INT(cm_zk_url_parse(huge, &u, NULL, 0), CM_EINVAL);
    free(huge);
}

static void test_file(void)
{
    char path[] = "/tmp/test_zk_url-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    const char *text = "  zk://u:p@10.0.0.1:2181/mesos/prod \n";
    REQUIRE(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    char spec[300];
    snprintf(spec, sizeof spec, "file://%s", path);
    CHECK(cm_zk_url_is_zk(spec));
    CHECK(cm_zk_url_is_zk("zk://h:1/m"));
    CHECK(!cm_zk_url_is_zk("10.0.0.1:5050"));
    struct cm_zk_url u;
    char why[256] = "";
    REQUIRE(cm_zk_url_parse_flag(spec, &u, why, sizeof why) == 0);
    CHECK_STR(u.servers, "10.0.0.1:2181");
    CHECK_STR(u.path, "/mesos/prod");
    CHECK_STR(u.auth, "u:p");
    cm_zk_url_cleanup(&u);
    /* A zk:// URL goes straight through parse_flag too. */
    REQUIRE(cm_zk_url_parse_flag("zk://h:1/m", &u, why, sizeof why) == 0);
    CHECK_STR(u.path, "/m");
    cm_zk_url_cleanup(&u);

    /* The file must hold a zk:// URL (no file:// chains). */
    FILE *f = fopen(path, "w");
    REQUIRE(f);
    fprintf(f, "%s\n", spec);
    fclose(f);
    CHECK_INT(cm_zk_url_parse_flag(spec, &u, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "does not hold a zk:// URL") != NULL);
    unlink(path);
    CHECK(cm_zk_url_parse_flag(spec, &u, why, sizeof why) < 0);
    CHECK(strstr(why, "Failed to read") != NULL);
    CHECK_INT(cm_zk_url_parse_flag("file://relative/x", &u, why, sizeof why), CM_EINVAL);
}

static void test_znode_names(void)
{
    uint64_t seq = 0;
    bool legacy = true;
    CHECK(cm_leader_znode_sequence("json.info_0000000042", &seq, &legacy));
    CHECK_INT(seq, 42);
    CHECK(!legacy);
    CHECK(cm_leader_znode_sequence("info_0000000007", &seq, &legacy));
    CHECK_INT(seq, 7);
    CHECK(legacy);
    CHECK(!cm_leader_znode_sequence("log_replicas", NULL, NULL));
    CHECK(!cm_leader_znode_sequence("json.info_", NULL, NULL));
    CHECK(!cm_leader_znode_sequence("json.info_12a", NULL, NULL));
    CHECK(!cm_leader_znode_sequence("json.info_-1", NULL, NULL));
    CHECK(!cm_leader_znode_sequence("json.info_99999999999999999999", NULL, NULL));
    CHECK(!cm_leader_znode_sequence("xinfo_0000000001", NULL, NULL));
}

static void test_master_info(void)
{
    Mesos__V1__MasterInfo *mi =
        cm_leader_master_info_new("m-1", "10.0.0.1", 5050, "m1.example", "1.11.0");
    REQUIRE(mi);
    CHECK_INT(mi->ip, 16777226); /* docs/wire-protocol.md §3.10: 10.0.0.1 in network order */
    CHECK_STR(mi->pid, "master@10.0.0.1:5050");
    CHECK_STR(mi->address->ip, "10.0.0.1");
    CHECK_INT(mi->address->port, 5050);
    CHECK_INT(mi->n_capabilities, 3);
    char *text = cm_pbjson_to_text(&mi->base);
    json_error_t err;
    json_t *j = json_loads(text, 0, &err);
    REQUIRE(j);
    CHECK_INT(json_integer_value(json_object_get(j, "ip")), 16777226);
    CHECK_STR(json_string_value(json_object_get(json_object_get(j, "address"), "ip")), "10.0.0.1");
    CHECK_STR(json_string_value(
                  json_object_get(json_array_get(json_object_get(j, "capabilities"), 0), "type")),
              "AGENT_UPDATE");
    json_decref(j);

    /* JSON data parses back; binary data parses as legacy; garbage is refused with a reason. */
    Mesos__V1__MasterInfo *back = NULL;
    char why[256];
    REQUIRE(cm_leader_znode_parse(false, text, strlen(text), &back, why, sizeof why) == 0);
    CHECK_STR(back->id, "m-1");
    CHECK_INT(back->port, 5050);
    protobuf_c_message_free_unpacked(&back->base, NULL);
    uint8_t buf[512];
    size_t n = mesos__v1__master_info__pack(mi, buf);
    REQUIRE(cm_leader_znode_parse(true, (const char *)buf, n, &back, why, sizeof why) == 0);
    CHECK_STR(back->hostname, "m1.example");
    protobuf_c_message_free_unpacked(&back->base, NULL);

    CHECK(cm_leader_znode_parse(false, "not json{", 9, &back, why, sizeof why) != 0);
    CHECK(back == NULL);
    CHECK(cm_leader_znode_parse(false, "{\"foo\":1}", 9, &back, why, sizeof why) != 0);
    CHECK(strstr(why, "id") != NULL);
    CHECK(cm_leader_znode_parse(false, "[1,2]", 5, &back, why, sizeof why) != 0);
    CHECK(cm_leader_znode_parse(false, NULL, 0, &back, why, sizeof why) != 0);
    CHECK(cm_leader_znode_parse(true, "\xff\xff\xff", 3, &back, why, sizeof why) != 0);
    CHECK(cm_leader_znode_parse(true, "", 0, &back, why, sizeof why) != 0);
    /* A protobuf that lacks required fields (only hostname set). */
    uint8_t partial[] = {0x2a, 0x01, 'h'};
    CHECK(cm_leader_znode_parse(true, (const char *)partial, sizeof partial, &back, why,
                                sizeof why) != 0);
    free(text);
    protobuf_c_message_free_unpacked(&mi->base, NULL);
}

static void test_detector_spec(void)
{
    char why[256] = "";
    struct event_base *base = event_base_new();
    REQUIRE(base);
    static const char *bad[] = {"",           "host",  "host:",     "host:0",
                                "host:70000", ":5050", "zk://h:1/", "file:///nonexistent/zk-url"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        struct cm_leader_detector *d =
            cm_leader_detector_new(base, bad[i], 10, NULL, NULL, why, sizeof why);
        CHECK(d == NULL);
        CHECK(why[0] != '\0');
    }
    static const char *good[] = {"10.0.0.1:5050", "http://m1:5050", "master@10.0.0.1:5050"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct cm_leader_detector *d =
            cm_leader_detector_new(base, good[i], 10, NULL, NULL, why, sizeof why);
        CHECK(d != NULL);
        if (d) {
            const Mesos__V1__MasterInfo *mi = cm_leader_detector_leader(d);
            CHECK(mi && mi->port == 5050);
        }
        cm_leader_detector_free(d);
    }
    event_base_free(base);
}

TEST_MAIN(TEST(test_plain), TEST(test_credentials), TEST(test_errors), TEST(test_file),
          TEST(test_znode_names), TEST(test_master_info), TEST(test_detector_spec))
