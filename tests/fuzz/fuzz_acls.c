/* fuzz_acls.c: the --acls JSON parser and the local authorizer's evaluation (acls.h).
 *
 * Input: the ACLs text, then after a NUL byte a subject and an object separated by '\n'.
 * Properties: a refusal says why and returns nothing; on what parses, every action can be
 * asked about for the subject/object, for an unauthenticated subject and for no particular
 * object, with the same answer each time; an action without rules answers "permissive". */
#include <stdbool.h>

#include "acls.h"
#include "errors.h"
#include "fuzz.h"

static void quiet(void *arg, enum cm_log_level level, const char *module, const char *message)
{
    (void)arg;
    (void)level;
    (void)module;
    (void)message;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_strndup(data, size);
    size_t tlen = strlen(text);
    const char *subject = "principal", *object = "role/x";
    char *rest = tlen < size ? text + tlen + 1 : NULL;
    if (rest) {
        char *nl = strchr(rest, '\n');
        subject = rest;
        if (nl) {
            *nl = '\0';
            object = nl + 1;
        }
    }
    struct cm_log_sink sink = {.fn = quiet};
    char why[512];
    why[0] = '\0';
    struct cm_acls *acls = NULL;
    int rc = cm_acls_parse(text, tlen, &acls, &sink, why, sizeof why);
    if (rc != 0) {
        FUZZ_ASSERT(rc == CM_EPARSE || rc == CM_EINVAL || rc == CM_ETOOBIG);
        FUZZ_ASSERT(acls == NULL && why[0] != '\0');
        free(text);
        return 0;
    }
    FUZZ_ASSERT(acls != NULL);
    bool permissive = cm_acls_permissive(acls);
    for (int a = 0; a < CM_ACL_NACTIONS; a++) {
        enum cm_acl_action act = (enum cm_acl_action)a;
        FUZZ_ASSERT(cm_acls_action_name(act) != NULL);
        const char *subjects[] = {subject, NULL, "*"};
        const char *objects[] = {object, NULL, "*"};
        for (int i = 0; i < 3; i++)
            for (int k = 0; k < 3; k++) {
                bool r1 = cm_acls_allowed(acls, act, subjects[i], objects[k]);
                bool r2 = cm_acls_allowed(acls, act, subjects[i], objects[k]);
                FUZZ_ASSERT(r1 == r2);
                if (cm_acls_rule_count(acls, act) == 0)
                    FUZZ_ASSERT(r1 == permissive);
            }
    }
    cm_acls_free(acls);
    free(text);
    return 0;
}
