/* Resource detection arithmetic, --resources override, --attributes parsing. */
#include <math.h>

#include "detect.h"
#include "errors.h"
#include "test.h"

#define MB (1024ULL * 1024ULL)
#define GB (1024ULL * MB)

static void test_mem_disk_math(void)
{
    CHECK_INT(cm_detect_mem_mb(0), 1024);
    CHECK_INT(cm_detect_mem_mb(16 * GB), 15 * 1024);
    CHECK_INT(cm_detect_mem_mb(2 * GB), 1024);
    CHECK_INT(cm_detect_mem_mb(1 * GB), 512);
    CHECK_INT(cm_detect_mem_mb(2 * GB - MB), (2 * GB - MB) / 2 / MB);
    CHECK_INT(cm_detect_disk_mb(0), 10 * 1024);
    CHECK_INT(cm_detect_disk_mb(100 * GB), 95 * 1024);
    CHECK_INT(cm_detect_disk_mb(10 * GB), 5 * 1024);
    CHECK_INT(cm_detect_disk_mb(8 * GB), 4 * 1024);
}

static int64_t ports_count(const struct cm_resources *r)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->v[i].name, "ports") == 0) {
            int64_t n = 0;
            for (size_t j = 0; j < r->v[i].nranges; j++)
                n += (int64_t)(r->v[i].ranges[j].end - r->v[i].ranges[j].begin + 1);
            return n;
        }
    return -1;
}

static void test_detected_defaults(void)
{
    struct cm_sysinfo si = {.ncpus = 8, .mem_bytes = 16 * GB, .disk_bytes = 100 * GB};
    struct cm_resources r;
    cm_resources_init(&r);
    char why[256];
    REQUIRE(cm_detect_resources(&si, NULL, "*", &r, why, sizeof why) == 0);
    CHECK_INT(cm_resources_scalar(&r, "cpus"), 8000);
    CHECK_INT(cm_resources_scalar(&r, "mem"), 15 * 1024 * 1000LL);
    CHECK_INT(cm_resources_scalar(&r, "disk"), 95 * 1024 * 1000LL);
    CHECK_INT(ports_count(&r), 1001);
    cm_resources_cleanup(&r);

    struct cm_sysinfo unknown = {0};
    cm_resources_init(&r);
    REQUIRE(cm_detect_resources(&unknown, "", "*", &r, why, sizeof why) == 0);
    CHECK_INT(cm_resources_scalar(&r, "cpus"), 1000);
    CHECK_INT(cm_resources_scalar(&r, "mem"), 1024 * 1000LL);
    CHECK_INT(cm_resources_scalar(&r, "disk"), 10240 * 1000LL);
    cm_resources_cleanup(&r);
}

static void test_override(void)
{
    struct cm_sysinfo si = {.ncpus = 8, .mem_bytes = 16 * GB, .disk_bytes = 100 * GB};
    struct cm_resources r;
    cm_resources_init(&r);
    char why[256];
    REQUIRE(cm_detect_resources(&si, "cpus:2;mem:512;gpus:1;ports:[5000-5009]", "*", &r, why,
                                sizeof why) == 0);
    CHECK_INT(cm_resources_scalar(&r, "cpus"), 2000);
    CHECK_INT(cm_resources_scalar(&r, "mem"), 512000);
    CHECK_INT(cm_resources_scalar(&r, "gpus"), 1000);
    CHECK_INT(cm_resources_scalar(&r, "disk"), 95 * 1024 * 1000LL); /* still detected */
    CHECK_INT(ports_count(&r), 10);
    cm_resources_cleanup(&r);

    /* JSON form. */
    cm_resources_init(&r);
    REQUIRE(cm_detect_resources(
                &si, "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":3}}]", "*", &r,
                why, sizeof why) == 0);
    CHECK_INT(cm_resources_scalar(&r, "cpus"), 3000);
    CHECK_INT(cm_resources_scalar(&r, "mem"), 15 * 1024 * 1000LL);
    cm_resources_cleanup(&r);

    /* Bad text fails with a reason. */
    cm_resources_init(&r);
    why[0] = '\0';
    CHECK(cm_detect_resources(&si, "cpus:abc", "*", &r, why, sizeof why) == CM_EINVAL);
    CHECK(why[0] != '\0');
    cm_resources_cleanup(&r);
}

static void test_attributes(void)
{
    struct cm_attributes a = {0};
    char why[256];
    REQUIRE(cm_attributes_parse(&a, "rack:r1;zone:z2;cores:8;ids:[1-5,7-9]", why, sizeof why) == 0);
    REQUIRE(a.n == 4);
    CHECK_STR(a.v[0]->name, "rack");
    CHECK(a.v[0]->type == MESOS__V1__VALUE__TYPE__TEXT);
    CHECK_STR(a.v[0]->text->value, "r1");
    CHECK(a.v[2]->type == MESOS__V1__VALUE__TYPE__SCALAR);
    CHECK(fabs(a.v[2]->scalar->value - 8.0) < 1e-9);
    CHECK(a.v[3]->type == MESOS__V1__VALUE__TYPE__RANGES);
    REQUIRE(a.v[3]->ranges->n_range == 2);
    CHECK_INT(a.v[3]->ranges->range[1]->begin, 7);
    CHECK_INT(a.v[3]->ranges->range[1]->end, 9);
    json_t *j = cm_attributes_json(&a);
    CHECK_STR(json_string_value(json_object_get(j, "zone")), "z2");
    CHECK(json_number_value(json_object_get(j, "cores")) == 8.0);
    CHECK_STR(json_string_value(json_object_get(j, "ids")), "[1-5, 7-9]");
    json_decref(j);
    cm_attributes_cleanup(&a);

    struct cm_attributes b = {0};
    CHECK(cm_attributes_parse(&b, "", why, sizeof why) == 0 && b.n == 0);
    CHECK(cm_attributes_parse(&b, "noval", why, sizeof why) == CM_EINVAL);
    CHECK(b.n == 0);
    CHECK(cm_attributes_parse(&b, "s:{a,b}", why, sizeof why) == CM_EINVAL);
    CHECK(cm_attributes_parse(&b, "r:[5-1]", why, sizeof why) == CM_EINVAL);
    CHECK(strstr(why, "'r'") != NULL);
    CHECK(cm_attributes_parse(&b, "k:", why, sizeof why) == CM_EINVAL);
    cm_attributes_cleanup(&b);
}

TEST_MAIN(TEST(test_mem_disk_math), TEST(test_detected_defaults), TEST(test_override),
          TEST(test_attributes))
