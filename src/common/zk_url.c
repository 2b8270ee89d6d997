/* zk_url.c: see zk_url.h. Error texts never repeat the URL: it may hold a password. */
#include "zk_url.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "util.h"

#define ZK_PREFIX "zk://"
#define FILE_PREFIX "file://"

bool cm_zk_url_is_zk(const char *text)
{
    return text && (strncmp(text, ZK_PREFIX, strlen(ZK_PREFIX)) == 0 ||
                    strncmp(text, FILE_PREFIX, strlen(FILE_PREFIX)) == 0);
}

void cm_zk_url_cleanup(struct cm_zk_url *u)
{
    if (!u)
        return;
    free(u->servers);
    free(u->path);
    free(u->auth);
    u->servers = u->path = u->auth = NULL;
}

void cm_zk_url_copy(struct cm_zk_url *dst, const struct cm_zk_url *src)
{
    dst->servers = src->servers ? cm_xstrdup(src->servers) : NULL;
    dst->path = src->path ? cm_xstrdup(src->path) : NULL;
    dst->auth = src->auth ? cm_xstrdup(src->auth) : NULL;
}

/* Host names, IPv4 and bracketed IPv6 literals; anything else would only fail later inside
 * the client with a less helpful message. */
static bool host_char(char c)
{
    return isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_' || c == ':' || c == '[' ||
           c == ']';
}

static int check_server(const char *s, size_t len, char *why, size_t whylen)
{
    if (len == 0)
        return cm_fail(CM_EINVAL, why, whylen, "Invalid ZooKeeper URL: empty server in the list");
    /* The port follows the last ':' (IPv6 literals are bracketed, so theirs come first). */
    const char *colon = NULL;
    for (size_t i = 0; i < len; i++) {
        if (!host_char(s[i]))
            return cm_fail(CM_EINVAL, why, whylen,
                           "Invalid ZooKeeper URL: server '%.*s' has an invalid character",
                           (int)len, s);
        if (s[i] == ':')
            colon = s + i;
    }
    if (!colon || colon == s || (s[0] == '[' && colon[-1] != ']'))
        return cm_fail(CM_EINVAL, why, whylen,
                       "Invalid ZooKeeper URL: server '%.*s' needs a port (host:port)", (int)len,
                       s);
    size_t plen = len - (size_t)(colon + 1 - s);
    long port = 0;
    for (size_t i = 0; i < plen; i++) {
        char c = colon[1 + i];
        if (!isdigit((unsigned char)c) || port > 65535) {
            port = -1;
            break;
        }
        port = port * 10 + (c - '0');
    }
    if (plen == 0 || port < 1 || port > 65535)
        return cm_fail(CM_EINVAL, why, whylen,
                       "Invalid ZooKeeper URL: server '%.*s' has an invalid port", (int)len, s);
    return 0;
}

static int check_path(char *path, char *why, size_t whylen)
{
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/')
        path[--len] = '\0';
    if (strcmp(path, "/") == 0)
        return cm_fail(CM_EINVAL, why, whylen,
                       "Invalid ZooKeeper URL: the path must not be '/' (use e.g. '/mesos')");
    /* Walk the segments: each must be non-empty and not "." or "..", as ZooKeeper demands. */
    const char *seg = path + 1;
    for (;;) {
        const char *end = strchr(seg, '/');
        size_t n = end ? (size_t)(end - seg) : strlen(seg);
        if (n == 0)
            return cm_fail(CM_EINVAL, why, whylen,
                           "Invalid ZooKeeper URL: path '%s' has an empty segment", path);
        if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
            return cm_fail(CM_EINVAL, why, whylen,
                           "Invalid ZooKeeper URL: path '%s' has a '.' or '..' segment", path);
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)seg[i] < 0x21 || seg[i] == 0x7f)
                return cm_fail(CM_EINVAL, why, whylen,
                               "Invalid ZooKeeper URL: path has a space or control character");
        if (!end)
            break;
        seg = end + 1;
    }
    return 0;
}

int cm_zk_url_parse(const char *text, struct cm_zk_url *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    if (!text || strncmp(text, ZK_PREFIX, strlen(ZK_PREFIX)) != 0)
        return cm_fail(CM_EINVAL, why, whylen,
                       "Invalid ZooKeeper URL: expected 'zk://[user:password@]host:port/path'");
    if (strlen(text) > CM_ZK_URL_MAX)
        return cm_fail(CM_EINVAL, why, whylen, "Invalid ZooKeeper URL: longer than %d bytes",
                       CM_ZK_URL_MAX);
    const char *rest = text + strlen(ZK_PREFIX);
    const char *slash = strchr(rest, '/');
    if (!slash)
        return cm_fail(CM_EINVAL, why, whylen,
                       "Invalid ZooKeeper URL: missing the path after the servers (e.g. /mesos)");
    /* Credentials end at the last '@' before the path, so a password may contain '@'. */
    const char *at = NULL;
    for (const char *p = rest; p < slash; p++)
        if (*p == '@')
            at = p;
    const char *servers = at ? at + 1 : rest;
    int rc = 0;
    if (at) {
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        if (!colon || colon == rest || colon + 1 == at)
            return cm_fail(CM_EINVAL, why, whylen,
                           "Invalid ZooKeeper URL: credentials must be 'user:password@'");
        out->auth = cm_xstrndup(rest, (size_t)(at - rest));
    }
    size_t slen = (size_t)(slash - servers);
    if (slen == 0) {
        rc = cm_fail(CM_EINVAL, why, whylen, "Invalid ZooKeeper URL: no servers");
        goto fail;
    }
    for (const char *s = servers; s < slash;) {
        const char *comma = memchr(s, ',', (size_t)(slash - s));
        const char *end = comma ? comma : slash;
        rc = check_server(s, (size_t)(end - s), why, whylen);
        if (rc)
            goto fail;
        s = comma ? comma + 1 : slash;
        if (comma && s == slash) {
            rc = cm_fail(CM_EINVAL, why, whylen, "Invalid ZooKeeper URL: empty server in the list");
            goto fail;
        }
    }
    out->servers = cm_xstrndup(servers, slen);
    out->path = cm_xstrdup(slash);
    rc = check_path(out->path, why, whylen);
    if (rc)
        goto fail;
    return 0;
fail:
    cm_zk_url_cleanup(out);
    return rc;
}

int cm_zk_url_parse_flag(const char *text, struct cm_zk_url *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    if (!text || strncmp(text, FILE_PREFIX, strlen(FILE_PREFIX)) != 0)
        return cm_zk_url_parse(text, out, why, whylen);
    const char *path = text + strlen(FILE_PREFIX);
    if (path[0] != '/')
        return cm_fail(CM_EINVAL, why, whylen,
                       "Invalid file:// URL '%s': expected an absolute path (file:///path)", text);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = -errno;
        return cm_fail(err, why, whylen, "Failed to read '%s': %s", path, cm_strerror(err));
    }
    char buf[CM_ZK_URL_MAX + 2];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int err = -errno;
            close(fd);
            return cm_fail(err, why, whylen, "Failed to read '%s': %s", path, cm_strerror(err));
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len == sizeof buf - 1) {
            close(fd);
            return cm_fail(CM_EINVAL, why, whylen, "File '%s' is longer than %d bytes", path,
                           CM_ZK_URL_MAX);
        }
    }
    close(fd);
    buf[len] = '\0';
    char *start = buf;
    while (*start && isspace((unsigned char)*start))
        start++;
    while (len > 0 && isspace((unsigned char)buf[len - 1]) && buf + len > start)
        buf[--len] = '\0';
    if (strncmp(start, ZK_PREFIX, strlen(ZK_PREFIX)) != 0)
        return cm_fail(CM_EINVAL, why, whylen, "File '%s' does not hold a zk:// URL", path);
    return cm_zk_url_parse(start, out, why, whylen);
}
