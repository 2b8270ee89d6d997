/* fuzz_ids.c: ID and role validation (IDs become path components on the agent). Property: a
 * valid ID is a safe single path component of at most CM_ID_MAX bytes; a refusal says why. */
#include <stdbool.h>

#include "errors.h"
#include "fuzz.h"
#include "ids.h"

static bool safe_component(const char *s, size_t len)
{
    if (len == 0 || len > CM_ID_MAX)
        return false;
    if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] == '/' || s[i] == '\\' || s[i] == '\0' || (unsigned char)s[i] < 0x20 ||
            s[i] == 0x7f)
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strndup(data, size);
    const char *why = NULL;

    int rc = cm_id_validate_n(s, size, &why);
    FUZZ_ASSERT(rc == 0 || (rc == CM_EINVAL && why && why[0]));
    if (rc == 0)
        FUZZ_ASSERT(safe_component(s, size));

    /* The C-string form sees the prefix up to the first NUL and must agree with the _n form. */
    size_t clen = strlen(s);
    why = NULL;
    int rc2 = cm_id_validate(s, &why);
    FUZZ_ASSERT(rc2 == 0 || (rc2 == CM_EINVAL && why && why[0]));
    FUZZ_ASSERT((rc2 == 0) == (cm_id_validate_n(s, clen, &why) == 0));

    why = NULL;
    rc = cm_role_validate(s, &why);
    FUZZ_ASSERT(rc == 0 || (rc == CM_EINVAL && why && why[0]));
    if (rc == 0 && strcmp(s, "*") != 0) {
        /* Every '/'-separated component of a valid role is a non-empty name without whitespace or
         * control characters, not '.', '..' or '*', not starting with '-'. */
        char *copy = strdup(s), *save = NULL;
        FUZZ_ASSERT(copy != NULL);
        FUZZ_ASSERT(copy[0] != '/' && copy[clen - 1] != '/');
        FUZZ_ASSERT(strstr(copy, "//") == NULL);
        for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
            FUZZ_ASSERT(strcmp(c, ".") != 0 && strcmp(c, "..") != 0 && strcmp(c, "*") != 0);
            FUZZ_ASSERT(c[0] != '-');
            for (const char *q = c; *q; q++)
                FUZZ_ASSERT((unsigned char)*q > 0x20 && *q != 0x7f);
        }
        free(copy);
    }
    free(s);
    return 0;
}
