/*
 * zk_url.h: ZooKeeper URLs as Mesos accepts them (docs/wire-protocol.md §8.1).
 *
 *   zk://[user:password@]host1:port1[,host2:port2...]/path
 *   file:///absolute/path/to/a/file/holding/such/a/url   (flags only; read once, trimmed)
 *
 * The path is the group's znode (e.g. "/mesos"); it must be absolute, have no empty, "." or
 * ".." segments and must not be "/" alone (Mesos's detectors refuse it, since the root would
 * hold the election nodes beside everything else). A trailing "/" is dropped. Every server
 * needs an explicit port (the C client refuses a server without one). Credentials become
 * ZooKeeper "digest" auth: the user may not contain ':', neither part may be empty.
 *
 * Parsing never touches the network; file:// reads the file (at most CM_ZK_URL_MAX bytes).
 * Errors: CM_EINVAL (or -errno for an unreadable file) with a reason in why naming what is
 * wrong, e.g. "zk:// URL 'zk://h/': the path must not be '/'". Thread-safe (no state).
 */
#ifndef CM_ZK_URL_H
#define CM_ZK_URL_H

#include <stdbool.h>
#include <stddef.h>

#define CM_ZK_URL_MAX 4096

struct cm_zk_url {
    char *servers; /* "host1:port1,host2:port2", as zookeeper_init takes it */
    char *path;    /* "/mesos": absolute, no trailing '/', never "/" alone */
    char *auth;    /* "user:password" for digest auth, or NULL */
};

/* True if text looks like a ZooKeeper master spec ("zk://" or "file://" prefix), as opposed
 * to a static "host:port". */
bool cm_zk_url_is_zk(const char *text);

/* Parses a zk:// URL into *out (fields malloc'd; release with cm_zk_url_cleanup). On failure
 * *out is left zeroed. */
int cm_zk_url_parse(const char *text, struct cm_zk_url *out, char *why, size_t whylen);

/* Like cm_zk_url_parse, but also accepts file:///path holding the zk:// URL (surrounding
 * whitespace ignored), as Mesos's --zk and --master flags do. */
int cm_zk_url_parse_flag(const char *text, struct cm_zk_url *out, char *why, size_t whylen);

/* Deep copy (aborts on out-of-memory). */
void cm_zk_url_copy(struct cm_zk_url *dst, const struct cm_zk_url *src);

/* Frees the fields; the struct may be reused. NULL-safe. */
void cm_zk_url_cleanup(struct cm_zk_url *u);

#endif
