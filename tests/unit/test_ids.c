/* Unit tests for ID and role validation and UUID generation. */
#include <string.h>

#include "errors.h"
#include "ids.h"
#include "test.h"

static void test_id_validate(void)
{
    const char *why = NULL;
    CHECK_INT(cm_id_validate("task-1", &why), 0);
    CHECK_INT(cm_id_validate("my.task_2:x", NULL), 0);
    CHECK_INT(cm_id_validate("..a", NULL), 0);
    CHECK_INT(cm_id_validate("", &why), CM_EINVAL);
    CHECK(why && strstr(why, "empty"));
    CHECK_INT(cm_id_validate(NULL, &why), CM_EINVAL);
    CHECK_INT(cm_id_validate(".", &why), CM_EINVAL);
    CHECK_INT(cm_id_validate("..", &why), CM_EINVAL);
    CHECK_INT(cm_id_validate("a/b", &why), CM_EINVAL);
    CHECK(why && strchr(why, '/'));
    CHECK_INT(cm_id_validate("a\\b", &why), CM_EINVAL);
    CHECK(why && strchr(why, '\\'));
    CHECK_INT(cm_id_validate("a\nb", &why), CM_EINVAL);
    CHECK_INT(cm_id_validate("a\tb", &why), CM_EINVAL);
    CHECK_INT(cm_id_validate("a\x7f", &why), CM_EINVAL);
    CHECK_INT(cm_id_validate("\x01", &why), CM_EINVAL);

    char buf[300];
    memset(buf, 'a', sizeof buf);
    buf[255] = '\0';
    CHECK_INT(cm_id_validate(buf, &why), 0);
    buf[255] = 'a';
    buf[256] = '\0';
    CHECK_INT(cm_id_validate(buf, &why), CM_EINVAL);
    CHECK(why && strstr(why, "255"));

    /* Embedded NUL in a protobuf string. */
    CHECK_INT(cm_id_validate_n("ab\0c", 4, &why), CM_EINVAL);
    CHECK_INT(cm_id_validate_n("abc", 3, &why), 0);
    CHECK_INT(cm_id_validate_n("abc", 0, &why), CM_EINVAL);
}

static void test_role_validate(void)
{
    const char *why = NULL;
    static const char *good[] = {"*", "eng", "eng/web", "a-b", "a.b", "x/y/z", "a*b", "..x"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int rc = cm_role_validate(good[i], &why);
        if (rc)
            fprintf(stderr, "role '%s' refused: %s\n", good[i], why);
        CHECK_INT(rc, 0);
    }
    static const char *bad[] = {"",    "/eng",  "eng/",   "eng//x", "-x",   ".",
                                "..",  "a/./b", "a/../b", "a b",    "a\tb", "a\bb",
                                "a/*", "*/a",   "a/-b",   "/",      "**x/*"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why = NULL;
        int rc = cm_role_validate(bad[i], &why);
        if (rc == 0)
            fprintf(stderr, "role '%s' accepted\n", bad[i]);
        CHECK_INT(rc, CM_EINVAL);
        CHECK(why != NULL);
    }
    CHECK_INT(cm_role_validate(NULL, NULL), CM_EINVAL);
}

static void test_uuid(void)
{
    uint8_t u[16];
    cm_uuid_random(u);
    CHECK_INT(u[6] >> 4, 4);
    CHECK_INT(u[8] & 0xc0, 0x80);

    const uint8_t fixed[16] = {0x62, 0x89, 0x84, 0xd0, 0x42, 0x13, 0x41, 0x40,
                               0xbc, 0xb0, 0x99, 0xd7, 0xef, 0x46, 0xb1, 0xdf};
    char s[37];
    cm_uuid_format(fixed, s);
    CHECK_STR(s, "628984d0-4213-4140-bcb0-99d7ef46b1df");

    char a[37], b[37];
    cm_uuid_string(a);
    cm_uuid_string(b);
    CHECK_INT(strlen(a), 36);
    CHECK(strcmp(a, b) != 0);
    CHECK(a[8] == '-' && a[13] == '-' && a[14] == '4' && a[18] == '-' && a[23] == '-');
}

TEST_MAIN(TEST(test_id_validate), TEST(test_role_validate), TEST(test_uuid))
