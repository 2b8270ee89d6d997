/*
 * test_master_endpoints_out: the resource summaries the state endpoints write directly
 * (endpoints_out.c) are the text jansson dumps for cm_resources_summary_json, byte for byte,
 * for every shape of resources: scalars summed across roles, ranges and sets (merged across
 * roles, which goes through jansson), names that are not UTF-8, empty entries, many entries.
 * An agent's "unreserved_resources" is checked against the summary of the unreserved copy
 * (cm_resources_unreserved), which the writer no longer makes.
 */
#include "test.h"

#include <jansson.h>
#include <string.h>

#include "endpoints_json.h"
#include "json_out.h"
#include "master.h"
#include "resources.h"

static const char *const shapes[] = {
    "cpus:0.1;mem:32",
    "cpus:2;mem:1024;disk:10;ports:[31000-32000,33000-33010]",
    "cpus(r1):1;cpus:2;mem(r1):5;mem:0.5",
    "ports(r1):[1-2];ports:[5-9]",
    "x:{a,b};y:{c}",
    "x(r1):{a};x:{b}",
    "gpus:1;foo:3;foo(r2):4;bar:[1-1];cpus:0.001",
    "a:1;a(r):[1-2]",
    "disk(r9):100",
    "q:{a\"b,c\\d}",
    "big:[0-18446744073709551615]",
    "",
};

static char *dump(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(j);
    return s;
}

/* Whether text has key, then exactly want, then after (the next member or the end). */
static bool has_member(const char *text, const char *key, const char *want, const char *after)
{
    char *needle = NULL;
    if (asprintf(&needle, "\"%s\":%s%s", key, want, after) < 0)
        return false;
    bool ok = strstr(text, needle) != NULL;
    if (!ok)
        fprintf(stderr, "missing %s\nin %s\n", needle, text);
    free(needle);
    return ok;
}

/* One shape, as a task's and as an agent's resources. */
static void check_shape(struct cm_resources *r, const char *what)
{
    struct cm_framework fw;
    memset(&fw, 0, sizeof fw);
    fw.id = "fw-1";
    struct cm_task t;
    memset(&t, 0, sizeof t);
    t.id = "task-1";
    t.fw = &fw;
    t.agent_id = "agent-1";
    t.role = "*";
    t.resources = *r;
    char *want = dump(cm_resources_summary_json(r));
    REQUIRE(want != NULL);

    struct cm_json_out w = CM_JSON_OUT_INIT;
    cm_epw_task(&w, &t);
    CHECK(has_member(w.data, "resources", want, ",\"role\""));

    struct cm_agent a;
    memset(&a, 0, sizeof a);
    a.id = "agent-1";
    a.hostname = "host";
    a.pid = "slave(1)@127.0.0.1:5051";
    a.total = *r;
    cm_resources_init(&a.used);
    cm_resources_init(&a.offered);
    struct cm_resources unres;
    cm_resources_init(&unres);
    cm_resources_unreserved(r, &unres);
    char *want_unres = dump(cm_resources_summary_json(&unres));
    REQUIRE(want_unres != NULL);
    cm_json_out_reset(&w);
    w.last = 0;
    cm_epw_agent(&w, &a, false);
    CHECK(has_member(w.data, "resources", want, ",\"used_resources\""));
    CHECK(has_member(w.data, "unreserved_resources", want_unres, ",\"active\""));
    json_error_t err;
    json_t *j = json_loads(w.data, 0, &err);
    CHECK(j != NULL);
    if (!j)
        fprintf(stderr, "%s: not JSON: %s\n", what, err.text);
    json_decref(j);
    cm_resources_cleanup(&unres);
    cm_json_out_cleanup(&w);
    free(want);
    free(want_unres);
}

static void test_summaries(void)
{
    char why[256];
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        struct cm_resources r;
        cm_resources_init(&r);
        REQUIRE(cm_resources_parse(&r, shapes[i], NULL, why, sizeof why) == 0);
        check_shape(&r, shapes[i]);
        cm_resources_cleanup(&r);
    }
}

/* Shapes the text form cannot give: a name that is not UTF-8, an empty entry, more entries
 * than the writer classifies at once, a set item that is not UTF-8. */
static void test_odd_shapes(void)
{
    char why[256];
    struct cm_resources r;
    cm_resources_init(&r);
    REQUIRE(cm_resources_parse(&r, "cpus:1;abc:2;mem:3", NULL, why, sizeof why) == 0);
    r.v[1].name[0] = (char)0xff;
    check_shape(&r, "non-UTF-8 name");
    r.v[1].name[0] = (char)0xc3; /* "\xc3" "bc": an invalid sequence too */
    check_shape(&r, "cut sequence");
    memcpy(r.v[1].name, "\xc3\xa9", 3); /* "é": valid, written as it is */
    check_shape(&r, "UTF-8 name");
    r.v[2].scalar = 0;
    check_shape(&r, "empty entry");
    cm_resources_cleanup(&r);

    cm_resources_init(&r);
    REQUIRE(cm_resources_parse(&r, "s:{a,b};cpus(r):1", NULL, why, sizeof why) == 0);
    r.v[0].items[0][0] = (char)0xfe;
    check_shape(&r, "set item not UTF-8");
    cm_resources_cleanup(&r);

    char text[4096];
    size_t n = 0;
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "%sr%d%s:%d", i ? ";" : "", i % 37,
                              i % 3 ? "" : "(role)", i + 1);
    cm_resources_init(&r);
    REQUIRE(cm_resources_parse(&r, text, NULL, why, sizeof why) == 0);
    check_shape(&r, "many entries");
    cm_resources_cleanup(&r);
}

TEST_MAIN(TEST(test_summaries), TEST(test_odd_shapes))
