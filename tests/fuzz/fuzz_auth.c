/* fuzz_auth.c: the credentials parsers (--credentials, --credential, --http_credentials: JSON
 * and text forms) and the HTTP Basic Authorization header parser (auth.h).
 *
 * Input: byte 0 picks the parser (bit 0: a credentials file's text, or an Authorization
 * header value); the rest is the text. Properties: a refusal says why and returns nothing;
 * an accepted set holds valid, distinct principals (1..255 bytes, no ':', blank or control
 * byte) and valid secrets (1..1024 bytes, no control byte), each principal authenticates with
 * its own secret and not with another, and the set written back as JSON reads back the same;
 * a parsed Basic header rebuilt by cm_auth_basic_header parses back to the same pair. */
#include <jansson.h>
#include <stdbool.h>

#include "auth.h"
#include "errors.h"
#include "fuzz.h"

static bool valid_principal(const char *p)
{
    size_t n = strlen(p);
    if (n == 0 || n > CM_AUTH_MAX_PRINCIPAL)
        return false;
    for (const char *q = p; *q; q++)
        if (*q == ':' || (unsigned char)*q <= ' ' || *q == 0x7f)
            return false;
    return true;
}

static bool valid_secret(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CM_AUTH_MAX_SECRET)
        return false;
    for (const char *q = s; *q; q++)
        if ((unsigned char)*q < ' ' || *q == 0x7f)
            return false;
    return true;
}

static void credentials(const char *text, size_t len)
{
    char why[512];
    why[0] = '\0';
    struct cm_credentials *c = NULL;
    int rc = cm_auth_credentials_parse(text, len, &c, why, sizeof why);
    if (rc != 0) {
        FUZZ_ASSERT(rc == CM_EPARSE || rc == CM_EINVAL || rc == CM_ETOOBIG);
        FUZZ_ASSERT(c == NULL && why[0] != '\0');
        return;
    }
    FUZZ_ASSERT(c != NULL && c->n > 0 && c->n <= CM_AUTH_MAX_CREDENTIALS);
    json_t *arr = json_array();
    for (size_t i = 0; i < c->n; i++) {
        const struct cm_credential *e = &c->items[i];
        FUZZ_ASSERT(valid_principal(e->principal));
        FUZZ_ASSERT(valid_secret(e->secret));
        for (size_t k = 0; k < i; k++)
            FUZZ_ASSERT(strcmp(c->items[k].principal, e->principal) != 0);
        FUZZ_ASSERT(cm_auth_credentials_check(c, e->principal, e->secret));
        size_t sl = strlen(e->secret);
        char *wrong = malloc(sl + 2);
        FUZZ_ASSERT(wrong != NULL);
        memcpy(wrong, e->secret, sl);
        wrong[sl] = 'x';
        wrong[sl + 1] = '\0';
        FUZZ_ASSERT(!cm_auth_credentials_check(c, e->principal, wrong));
        wrong[sl - 1] ^= 1; /* same length, last byte differs */
        wrong[sl] = '\0';
        FUZZ_ASSERT(!cm_auth_credentials_check(c, e->principal, wrong));
        free(wrong);
        json_t *o = json_pack("{s:s, s:s}", "principal", e->principal, "secret", e->secret);
        if (!o) /* not UTF-8: JSON cannot carry it, so no round trip for this set */
            goto done;
        json_array_append_new(arr, o);
    }
    {
        json_t *doc = json_pack("{s:O}", "credentials", arr);
        char *again = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
        struct cm_credentials *d = NULL;
        rc = cm_auth_credentials_parse(again, strlen(again), &d, why, sizeof why);
        if (rc != 0)
            fprintf(stderr, "written back, the set does not read back: %s\n%s\n", why, again);
        FUZZ_ASSERT(rc == 0 && d->n == c->n);
        for (size_t i = 0; i < c->n; i++)
            FUZZ_ASSERT(cm_auth_credentials_check(d, c->items[i].principal, c->items[i].secret));
        cm_auth_credentials_free(d);
        free(again);
    }
done:
    json_decref(arr);
    cm_auth_credentials_free(c);
}

static void basic(const char *header)
{
    char why[512];
    why[0] = '\0';
    char *p = NULL, *s = NULL;
    int rc = cm_auth_basic_parse(header, &p, &s, why, sizeof why);
    if (rc != 0) {
        FUZZ_ASSERT(rc == CM_EPARSE || rc == CM_ETOOBIG);
        FUZZ_ASSERT(why[0] != '\0');
        FUZZ_ASSERT(p == NULL && s == NULL);
        return;
    }
    FUZZ_ASSERT(p != NULL && s != NULL);
    FUZZ_ASSERT(strchr(p, ':') == NULL);
    char *h = cm_auth_basic_header(p, s);
    FUZZ_ASSERT(h != NULL);
    char *p2 = NULL, *s2 = NULL;
    rc = cm_auth_basic_parse(h, &p2, &s2, why, sizeof why);
    FUZZ_ASSERT(rc == 0);
    FUZZ_ASSERT(strcmp(p, p2) == 0 && strcmp(s, s2) == 0);
    free(p2);
    free(s2);
    free(h);
    free(p);
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char *text = fuzz_strndup(data + 1, size - 1);
    if (data[0] & 1)
        basic(text);
    else
        credentials(text, size - 1);
    free(text);
    return 0;
}
