/* Unit tests for flag parsing: syntax, environment fallback, files, units, errors, JSON. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "flags.h"
#include "test.h"

struct settings {
    char *work_dir;
    char *acls;
    bool checkpoint;
    bool quiet;
    long port;
    double weight;
    double ping_timeout;
    uint64_t mem;
};

static void settings_defaults(struct settings *s)
{
    memset(s, 0, sizeof *s);
    s->work_dir = "/var/lib/mesos";
    s->checkpoint = true;
    s->port = 5050;
    s->weight = 1.0;
    s->ping_timeout = 15.0;
    s->mem = 512ull << 20;
}

#define NFLAGS 8
static void make_table(struct cm_flag *t, struct settings *s, bool require_acls)
{
    struct cm_flag tmp[NFLAGS] = {
        {"work_dir", NULL, CM_FLAG_STRING, &s->work_dir, "Where to keep state", false, false},
        {"acls", NULL, CM_FLAG_STRING, &s->acls, "ACLs JSON", require_acls, false},
        {"checkpoint", NULL, CM_FLAG_BOOL, &s->checkpoint, "Checkpoint", false, false},
        {"quiet", NULL, CM_FLAG_BOOL, &s->quiet, "Quiet", false, false},
        {"port", NULL, CM_FLAG_INT, &s->port, "Port", false, false},
        {"weight", NULL, CM_FLAG_DOUBLE, &s->weight, "Weight", false, false},
        {"agent_ping_timeout", "slave_ping_timeout", CM_FLAG_DURATION, &s->ping_timeout,
         "Ping timeout", false, false},
        {"mem", NULL, CM_FLAG_BYTES, &s->mem, "Memory", false, false},
    };
    memcpy(t, tmp, sizeof tmp);
}

static void clear_env(void)
{
    unsetenv("MESOS_WORK_DIR");
    unsetenv("MESOS_PORT");
    unsetenv("MESOS_QUIET");
    unsetenv("MESOS_ACLS");
    unsetenv("MESOS_SLAVE_PING_TIMEOUT");
    unsetenv("MESOS_AGENT_PING_TIMEOUT");
}

static void test_basic_parse(void)
{
    clear_env();
    struct settings s;
    struct cm_flag t[NFLAGS];
    settings_defaults(&s);
    make_table(t, &s, false);
    char *argv[] = {"prog",
                    "--work_dir=/tmp/w",
                    "--no-checkpoint",
                    "--quiet",
                    "--port=5051",
                    "--weight=2.5",
                    "--slave_ping_timeout=1.5mins",
                    "--mem=2GB"};
    char why[256] = "";
    int rc = cm_flags_parse(t, NFLAGS, 8, argv, "summary", why, sizeof why);
    CHECK_INT(rc, 0);
    if (rc)
        fprintf(stderr, "why: %s\n", why);
    CHECK_STR(s.work_dir, "/tmp/w");
    CHECK(!s.checkpoint);
    CHECK(s.quiet);
    CHECK_INT(s.port, 5051);
    CHECK(s.weight == 2.5);
    CHECK(s.ping_timeout == 90.0);
    CHECK(s.mem == (2ull << 30));
    CHECK(t[0].set && t[2].set && !t[1].set);

    json_t *j = cm_flags_to_json(t, NFLAGS);
    CHECK_STR(json_string_value(json_object_get(j, "work_dir")), "/tmp/w");
    CHECK(json_object_get(j, "acls") == NULL);
    CHECK_STR(json_string_value(json_object_get(j, "checkpoint")), "false");
    CHECK_STR(json_string_value(json_object_get(j, "quiet")), "true");
    CHECK_STR(json_string_value(json_object_get(j, "port")), "5051");
    CHECK_STR(json_string_value(json_object_get(j, "weight")), "2.5");
    CHECK_STR(json_string_value(json_object_get(j, "agent_ping_timeout")), "1.5mins");
    CHECK_STR(json_string_value(json_object_get(j, "mem")), "2GB");
    json_decref(j);
    cm_flags_cleanup(t, NFLAGS);
    CHECK(s.work_dir == NULL);
}

static void test_defaults_json(void)
{
    clear_env();
    struct settings s;
    struct cm_flag t[NFLAGS];
    settings_defaults(&s);
    make_table(t, &s, false);
    char *argv[] = {"prog"};
    CHECK_INT(cm_flags_parse(t, NFLAGS, 1, argv, NULL, NULL, 0), 0);
    json_t *j = cm_flags_to_json(t, NFLAGS);
    CHECK_STR(json_string_value(json_object_get(j, "work_dir")), "/var/lib/mesos");
    CHECK_STR(json_string_value(json_object_get(j, "checkpoint")), "true");
    CHECK_STR(json_string_value(json_object_get(j, "agent_ping_timeout")), "15secs");
    CHECK_STR(json_string_value(json_object_get(j, "mem")), "512MB");
    CHECK_STR(json_string_value(json_object_get(j, "port")), "5050");
    json_decref(j);
    cm_flags_cleanup(t, NFLAGS);
    /* Cleanup must not free the static default. */
    CHECK_STR(s.work_dir, "/var/lib/mesos");
}

static void test_bool_forms(void)
{
    clear_env();
    struct settings s;
    struct cm_flag t[NFLAGS];
    settings_defaults(&s);
    make_table(t, &s, false);
    char *argv[] = {"prog", "--checkpoint=false", "--quiet=true"};
    CHECK_INT(cm_flags_parse(t, NFLAGS, 3, argv, NULL, NULL, 0), 0);
    CHECK(!s.checkpoint && s.quiet);
    cm_flags_cleanup(t, NFLAGS);

    settings_defaults(&s);
    make_table(t, &s, false);
    char why[256] = "";
    char *argv2[] = {"prog", "--quiet=maybe"};
    CHECK_INT(cm_flags_parse(t, NFLAGS, 2, argv2, NULL, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "'quiet'") != NULL);
    cm_flags_cleanup(t, NFLAGS);

    settings_defaults(&s);
    make_table(t, &s, false);
    char *argv3[] = {"prog", "--no-port"};
    CHECK_INT(cm_flags_parse(t, NFLAGS, 2, argv3, NULL, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "'port'") != NULL);
    cm_flags_cleanup(t, NFLAGS);
}

static void test_env_fallback(void)
{
    clear_env();
    struct settings s;
    struct cm_flag t[NFLAGS];
    settings_defaults(&s);
    make_table(t, &s, false);
    setenv("MESOS_WORK_DIR", "/from/env", 1);
    setenv("MESOS_PORT", "6000", 1);
    setenv("MESOS_QUIET", "true", 1);
    setenv("MESOS_SLAVE_PING_TIMEOUT", "100ms", 1);
    char *argv[] = {"prog", "--port=7000"};
    char why[256] = "";
    CHECK_INT(cm_flags_parse(t, NFLAGS, 2, argv, NULL, why, sizeof why), 0);
    CHECK_STR(s.work_dir, "/from/env");
    CHECK_INT(s.port, 7000); /* the command line wins */
    CHECK(s.quiet);
    CHECK(fabs(s.ping_timeout - 0.1) < 1e-12);
    CHECK(t[0].set);
    cm_flags_cleanup(t, NFLAGS);

    settings_defaults(&s);
    make_table(t, &s, false);
    setenv("MESOS_PORT", "notanumber", 1);
    char *argv2[] = {"prog"};
    CHECK_INT(cm_flags_parse(t, NFLAGS, 1, argv2, NULL, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "'port'") != NULL);
    cm_flags_cleanup(t, NFLAGS);
    clear_env();
}

static void test_file_value(void)
{
    clear_env();
    char path[] = "/tmp/cm_test_flags_XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    const char content[] = "  {\"permissive\": true}\n\n";
    REQUIRE(write(fd, content, strlen(content)) == (ssize_t)strlen(content));
    close(fd);

    struct settings s;
    struct cm_flag t[NFLAGS];
    settings_defaults(&s);
    make_table(t, &s, false);
    char arg[128];
    snprintf(arg, sizeof arg, "--acls=file://%s", path);
    char *argv[] = {"prog", arg};
    char why[256] = "";
    CHECK_INT(cm_flags_parse(t, NFLAGS, 2, argv, NULL, why, sizeof why), 0);
    CHECK_STR(s.acls, "{\"permissive\": true}");
    cm_flags_cleanup(t, NFLAGS);
    unlink(path);

    settings_defaults(&s);
    make_table(t, &s, false);
    CHECK_INT(cm_flags_parse(t, NFLAGS, 2, argv, NULL, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "'acls'") != NULL);
    cm_flags_cleanup(t, NFLAGS);
}

static void test_errors(void)
{
    clear_env();
    struct settings s;
    struct cm_flag t[NFLAGS];
    char why[256] = "";

    settings_defaults(&s);
    make_table(t, &s, false);
    char *a1[] = {"prog", "--bogus=1"};
    CHECK_INT(cm_flags_parse(t, NFLAGS, 2, a1, NULL, why, sizeof why), CM_EINVAL);
    CHECK_STR(why, "Failed to load unknown flag 'bogus'");
    cm_flags_cleanup(t, NFLAGS);

    settings_defaults(&s);
    make_table(t, &s, false);
    char *a2[] = {"prog", "--port=12x"};
    CHECK_INT(cm_flags_parse(t, NFLAGS, 2, a2, NULL, why, sizeof why), CM_EINVAL);
    CHECK(strncmp(why, "Failed to load flag 'port'", 26) == 0);
    cm_flags_cleanup(t, NFLAGS);

    settings_defaults(&s);
    make_table(t, &s, true);
    char *a3[] = {"prog"};
    CHECK_INT(cm_flags_parse(t, NFLAGS, 1, a3, NULL, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "'acls'") && strstr(why, "required"));
    cm_flags_cleanup(t, NFLAGS);

    settings_defaults(&s);
    make_table(t, &s, false);
    char *a4[] = {"prog", "--port"};
    CHECK_INT(cm_flags_parse(t, NFLAGS, 2, a4, NULL, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "'port'") != NULL);
    cm_flags_cleanup(t, NFLAGS);

    settings_defaults(&s);
    make_table(t, &s, false);
    char *a5[] = {"prog", "--agent_ping_timeout=5 secs"};
    CHECK_INT(cm_flags_parse(t, NFLAGS, 2, a5, NULL, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "'agent_ping_timeout'") != NULL);
    cm_flags_cleanup(t, NFLAGS);

    settings_defaults(&s);
    make_table(t, &s, false);
    char *a6[] = {"prog", "positional"};
    CHECK_INT(cm_flags_parse(t, NFLAGS, 2, a6, NULL, why, sizeof why), CM_EINVAL);
    cm_flags_cleanup(t, NFLAGS);

    settings_defaults(&s);
    make_table(t, &s, false);
    char *a7[] = {"prog", "--work_dir=/a", "--work_dir=/b"};
    CHECK_INT(cm_flags_parse(t, NFLAGS, 3, a7, NULL, why, sizeof why), CM_EINVAL);
    cm_flags_cleanup(t, NFLAGS);
}

static void test_help(void)
{
    clear_env();
    struct settings s;
    struct cm_flag t[NFLAGS];
    settings_defaults(&s);
    make_table(t, &s, true);
    char *argv[] = {"prog", "--bogus", "--help"};
    fflush(stdout);
    CHECK_INT(cm_flags_parse(t, NFLAGS, 3, argv, "Test program.", NULL, 0), CM_EHELP);
    fflush(stdout);
    cm_flags_cleanup(t, NFLAGS);

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    REQUIRE(f);
    cm_flags_usage(t, NFLAGS, "prog", "Test program.", f);
    fclose(f);
    CHECK(strstr(buf, "Usage: prog") != NULL);
    CHECK(strstr(buf, "--[no-]checkpoint") != NULL);
    CHECK(strstr(buf, "--work_dir=VALUE") != NULL);
    CHECK(strstr(buf, "Test program.") != NULL);
    free(buf);
}

static void test_durations(void)
{
    double d;
    CHECK_INT(cm_duration_parse("5secs", &d), 0);
    CHECK(d == 5.0);
    CHECK_INT(cm_duration_parse("1.5mins", &d), 0);
    CHECK(d == 90.0);
    CHECK_INT(cm_duration_parse("2weeks", &d), 0);
    CHECK(d == 1209600.0);
    CHECK_INT(cm_duration_parse("100ms", &d), 0);
    CHECK(fabs(d - 0.1) < 1e-12);
    CHECK_INT(cm_duration_parse("3hrs", &d), 0);
    CHECK(d == 10800.0);
    CHECK_INT(cm_duration_parse("1days", &d), 0);
    CHECK(d == 86400.0);
    CHECK_INT(cm_duration_parse("10us", &d), 0);
    CHECK_INT(cm_duration_parse("10ns", &d), 0);
    CHECK_INT(cm_duration_parse("7", &d), 0);
    CHECK(d == 7.0);
    CHECK_INT(cm_duration_parse("", &d), CM_EINVAL);
    CHECK_INT(cm_duration_parse("secs", &d), CM_EINVAL);
    CHECK_INT(cm_duration_parse("5sec", &d), CM_EINVAL);
    CHECK_INT(cm_duration_parse("-5secs", &d), CM_EINVAL);
    CHECK_INT(cm_duration_parse("inf", &d), CM_EINVAL);
    CHECK_INT(cm_duration_parse("nan", &d), CM_EINVAL);
    CHECK_INT(cm_duration_parse("1.2.3secs", &d), CM_EINVAL);

    char buf[32];
    cm_duration_format(5.0, buf, sizeof buf);
    CHECK_STR(buf, "5secs");
    cm_duration_format(900.0, buf, sizeof buf);
    CHECK_STR(buf, "15mins");
    cm_duration_format(0.1, buf, sizeof buf);
    CHECK_STR(buf, "100ms");
    cm_duration_format(0.0, buf, sizeof buf);
    CHECK_STR(buf, "0secs");
    cm_duration_format(7200.0, buf, sizeof buf);
    CHECK_STR(buf, "2hrs");
    cm_duration_format(1209600.0, buf, sizeof buf);
    CHECK_STR(buf, "2weeks");
    cm_duration_format(86400.0 * 3, buf, sizeof buf);
    CHECK_STR(buf, "3days");
}

static void test_bytes(void)
{
    uint64_t b;
    CHECK_INT(cm_bytes_parse("512MB", &b), 0);
    CHECK(b == 512ull << 20);
    CHECK_INT(cm_bytes_parse("2GB", &b), 0);
    CHECK(b == 2ull << 30);
    CHECK_INT(cm_bytes_parse("1024", &b), 0);
    CHECK(b == 1024);
    CHECK_INT(cm_bytes_parse("10B", &b), 0);
    CHECK(b == 10);
    CHECK_INT(cm_bytes_parse("4KB", &b), 0);
    CHECK(b == 4096);
    CHECK_INT(cm_bytes_parse("1TB", &b), 0);
    CHECK(b == 1ull << 40);
    CHECK_INT(cm_bytes_parse("1.5GB", &b), 0);
    CHECK(b == 3ull << 29);
    CHECK_INT(cm_bytes_parse("12XB", &b), CM_EINVAL);
    CHECK_INT(cm_bytes_parse("MB", &b), CM_EINVAL);
    CHECK_INT(cm_bytes_parse("-1MB", &b), CM_EINVAL);
    CHECK_INT(cm_bytes_parse("", &b), CM_EINVAL);
}

/* Mesos flags outside the table: no effect, refused (with accepted values), elsewhere. */
static const struct cm_flag_known known_list[] = {
    {"logbufsecs", NULL, CM_FLAG_NO_EFFECT, false, NULL, "lines are written at once"},
    {"memory_profiling", NULL, CM_FLAG_NO_EFFECT, true, NULL, "no profiler"},
    {"containerizers", NULL, CM_FLAG_REFUSED, false, "mesos", "only the Mesos containerizer"},
    {"registry_strict", NULL, CM_FLAG_REFUSED, true, "false", "leave it false"},
    {"modules", NULL, CM_FLAG_REFUSED, false, NULL, "modules cannot be loaded"},
    {"credentials", NULL, CM_FLAG_ELSEWHERE, false, NULL, "authentication"},
    {"agent_subsystems", "slave_subsystems", CM_FLAG_NO_EFFECT, false, NULL, "no cgroups"},
    /* Also in the table: the table wins. */
    {"port", NULL, CM_FLAG_REFUSED, false, NULL, "never seen"},
};

static int parse_known(struct cm_flags_known *k, struct settings *s, int argc, char **argv,
                       char *why, size_t whylen)
{
    static struct cm_flag t[NFLAGS];
    settings_defaults(s);
    make_table(t, s, false);
    memset(k, 0, sizeof *k);
    k->list = known_list;
    k->n = sizeof known_list / sizeof known_list[0];
    int rc = cm_flags_parse_with(t, NFLAGS, k, argc, argv, "Test.", why, whylen);
    cm_flags_cleanup(t, NFLAGS);
    return rc;
}

static void test_known_no_effect(void)
{
    clear_env();
    struct settings s;
    struct cm_flags_known k;
    char why[256] = "";
    char *argv[] = {"prog", "--logbufsecs=5", "--memory_profiling", "--slave_subsystems=cpu",
                    "--port=7"};
    CHECK_INT(parse_known(&k, &s, 5, argv, why, sizeof why), 0);
    CHECK(s.port == 7);
    REQUIRE(k.nignored == 3);
    CHECK_STR(k.ignored[0]->name, "logbufsecs");
    CHECK_STR(k.ignored[1]->name, "memory_profiling");
    CHECK_STR(k.ignored[2]->name, "agent_subsystems");
    char msg[256];
    cm_flags_ignored_message(k.ignored[0], msg, sizeof msg);
    CHECK_STR(msg, "Flag '--logbufsecs' has no effect in cmesos: lines are written at once");

    /* --no-<bool>, and an accepted value of a refused flag. */
    char *argv2[] = {"prog", "--no-memory_profiling", "--containerizers=mesos",
                     "--no-registry_strict"};
    CHECK_INT(parse_known(&k, &s, 4, argv2, why, sizeof why), 0);
    CHECK(k.nignored == 3);
    cm_flags_ignored_message(k.ignored[1], msg, sizeof msg);
    CHECK(strstr(msg, "--containerizers") && strstr(msg, "mesos"));

    /* The environment counts like the command line, and is warned about too. */
    setenv("MESOS_LOGBUFSECS", "0", 1);
    char *argv3[] = {"prog"};
    CHECK_INT(parse_known(&k, &s, 1, argv3, why, sizeof why), 0);
    CHECK(k.nignored == 1 && strcmp(k.ignored[0]->name, "logbufsecs") == 0);
    unsetenv("MESOS_LOGBUFSECS");
}

static void test_known_refused(void)
{
    clear_env();
    struct settings s;
    struct cm_flags_known k;
    char why[256] = "";
    char *a1[] = {"prog", "--containerizers=docker,mesos"};
    CHECK_INT(parse_known(&k, &s, 2, a1, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "--containerizers=docker,mesos") && strstr(why, "only the Mesos"));
    char *a2[] = {"prog", "--registry_strict"};
    CHECK_INT(parse_known(&k, &s, 2, a2, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "leave it false") != NULL);
    char *a3[] = {"prog", "--registry_strict=maybe"};
    CHECK_INT(parse_known(&k, &s, 2, a3, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "expected 'true' or 'false'") != NULL);
    char *a4[] = {"prog", "--credentials=file:///x"};
    CHECK_INT(parse_known(&k, &s, 2, a4, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "'--credentials'") && strstr(why, "authentication"));
    char *a5[] = {"prog", "--modules"};
    CHECK_INT(parse_known(&k, &s, 2, a5, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "missing value") != NULL);
    char *a6[] = {"prog", "--no-logbufsecs"};
    CHECK_INT(parse_known(&k, &s, 2, a6, why, sizeof why), CM_EINVAL);
    char *a7[] = {"prog", "--logbufsecs=1", "--logbufsecs=2"};
    CHECK_INT(parse_known(&k, &s, 3, a7, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "more than once") != NULL);
    /* Unknown to Mesos and cmesos alike: fatal, as before. */
    char *a8[] = {"prog", "--no_such_flag=1"};
    CHECK_INT(parse_known(&k, &s, 2, a8, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "unknown flag 'no_such_flag'") != NULL);
    /* A refused flag in the environment refuses too. */
    setenv("MESOS_MODULES", "x", 1);
    char *a9[] = {"prog"};
    CHECK_INT(parse_known(&k, &s, 1, a9, why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "modules cannot be loaded") != NULL);
    unsetenv("MESOS_MODULES");
}

static void test_known_help(void)
{
    struct settings s;
    struct cm_flag t[NFLAGS];
    settings_defaults(&s);
    s.acls = NULL;
    make_table(t, &s, false);
    struct cm_flags_known k = {.list = known_list, .n = sizeof known_list / sizeof known_list[0]};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    REQUIRE(f);
    cm_flags_usage_with(t, NFLAGS, &k, "prog", "Test.", f);
    fclose(f);
    /* Defaults of every type; none for a string without a value. */
    CHECK(strstr(buf, "(default: /var/lib/mesos)") != NULL);
    CHECK(strstr(buf, "(default: true)") != NULL);
    CHECK(strstr(buf, "(default: 5050)") != NULL);
    CHECK(strstr(buf, "(default: 15secs)") != NULL);
    CHECK(strstr(buf, "(default: 512MB)") != NULL);
    char *acls = strstr(buf, "--acls=VALUE");
    CHECK(acls && !strncmp(strchr(acls, '\n') - 9, "ACLs JSON", 9));
    /* The sections, in order, each under its title; a name the table has is not repeated. */
    char *ne = strstr(buf, CM_FLAGS_HELP_NO_EFFECT), *rf = strstr(buf, CM_FLAGS_HELP_REFUSED),
         *el = strstr(buf, CM_FLAGS_HELP_ELSEWHERE);
    REQUIRE(ne && rf && el && ne < rf && rf < el);
    char *lb = strstr(buf, "--logbufsecs=VALUE"), *co = strstr(buf, "--containerizers=VALUE"),
         *cr = strstr(buf, "--credentials=VALUE");
    CHECK(lb && lb > ne && lb < rf);
    CHECK(co && co > rf && co < el && strstr(co, "(accepted with no effect:"));
    CHECK(cr && cr > el);
    CHECK(strstr(buf, "never seen") == NULL);
    CHECK(strstr(buf, "(also --slave_subsystems)") != NULL);
    free(buf);
}

TEST_MAIN(TEST(test_basic_parse), TEST(test_defaults_json), TEST(test_bool_forms),
          TEST(test_env_fallback), TEST(test_file_value), TEST(test_errors), TEST(test_help),
          TEST(test_durations), TEST(test_bytes), TEST(test_known_no_effect),
          TEST(test_known_refused), TEST(test_known_help))
