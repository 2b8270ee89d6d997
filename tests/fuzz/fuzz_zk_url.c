/* fuzz_zk_url.c: ZooKeeper URLs (--zk, --master). Properties: an accepted URL has servers that
 * each carry a port, an absolute path without empty, '.' or '..' segments (and not '/'
 * alone), credentials as user:password; printed back as a zk:// URL it parses to the same
 * parts; a refusal says why and never repeats the password. */
#include <stdbool.h>

#include "errors.h"
#include "fuzz.h"
#include "zk_url.h"

static void check_parts(const struct cm_zk_url *u)
{
    FUZZ_ASSERT(u->servers && u->servers[0]);
    FUZZ_ASSERT(u->path && u->path[0] == '/' && strcmp(u->path, "/") != 0);
    size_t plen = strlen(u->path);
    FUZZ_ASSERT(u->path[plen - 1] != '/');
    FUZZ_ASSERT(strstr(u->path, "//") == NULL);
    FUZZ_ASSERT(strstr(u->path, "/./") == NULL && strstr(u->path, "/../") == NULL);
    FUZZ_ASSERT(strcmp(u->path + plen - 2, "/.") != 0);
    FUZZ_ASSERT(plen < 3 || strcmp(u->path + plen - 3, "/..") != 0);
    for (const char *s = u->servers; *s;) {
        size_t n = strcspn(s, ",");
        const char *colon = NULL;
        for (size_t i = 0; i < n; i++)
            if (s[i] == ':')
                colon = s + i;
        FUZZ_ASSERT(colon && colon > s && colon < s + n - 1);
        s += n;
        if (*s == ',')
            s++;
    }
    if (u->auth) {
        const char *colon = strchr(u->auth, ':');
        FUZZ_ASSERT(colon && colon > u->auth && colon[1]);
    }
}

/* The password of text, when it has one that is long and occurs nowhere else (so finding it in
 * an error cannot be a coincidence): between the first ':' and the last '@' of the part before
 * the path. */
static bool password_of(const char *text, char *out, size_t outlen)
{
    if (strncmp(text, "zk://", 5) != 0)
        return false;
    const char *rest = text + 5, *slash = strchr(rest, '/');
    if (!slash)
        return false;
    const char *at = NULL;
    for (const char *p = rest; p < slash; p++)
        if (*p == '@')
            at = p;
    const char *colon = at ? memchr(rest, ':', (size_t)(at - rest)) : NULL;
    if (!colon || at - colon - 1 < 6 || (size_t)(at - colon) >= outlen)
        return false;
    snprintf(out, outlen, "%.*s", (int)(at - colon - 1), colon + 1);
    const char *first = strstr(text, out);
    return first == colon + 1 && strstr(colon + 2, out) == NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_strndup(data, size);
    char why[512];
    why[0] = '\0';
    struct cm_zk_url u;
    int rc = cm_zk_url_parse(text, &u, why, sizeof why);
    (void)cm_zk_url_is_zk(text);
    if (rc != 0) {
        FUZZ_ASSERT(rc == CM_EINVAL && why[0] != '\0');
        FUZZ_ASSERT(!u.servers && !u.path && !u.auth);
        char pw[CM_ZK_URL_MAX + 1];
        if (password_of(text, pw, sizeof pw)) {
            if (strstr(why, pw))
                fprintf(stderr, "error repeats the password: %s\n", why);
            FUZZ_ASSERT(strstr(why, pw) == NULL);
        }
        free(text);
        return 0;
    }
    check_parts(&u);

    struct cm_zk_url c;
    cm_zk_url_copy(&c, &u);
    size_t n = strlen(u.servers) + strlen(u.path) + (u.auth ? strlen(u.auth) : 0) + 16;
    char *again = malloc(n);
    FUZZ_ASSERT(again != NULL);
    snprintf(again, n, "zk://%s%s%s%s", u.auth ? u.auth : "", u.auth ? "@" : "", u.servers, u.path);
    struct cm_zk_url v;
    rc = cm_zk_url_parse(again, &v, why, sizeof why);
    FUZZ_ASSERT(rc == 0);
    FUZZ_ASSERT(strcmp(v.servers, c.servers) == 0 && strcmp(v.path, c.path) == 0);
    FUZZ_ASSERT((!v.auth && !c.auth) || (v.auth && c.auth && strcmp(v.auth, c.auth) == 0));
    cm_zk_url_cleanup(&v);
    cm_zk_url_cleanup(&c);
    cm_zk_url_cleanup(&u);
    free(again);
    free(text);
    return 0;
}
