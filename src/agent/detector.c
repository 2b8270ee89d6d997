/*
 * detector.c: the agent's master detector (fixed host:port, or ZooKeeper through leader.h).
 */
#include "detector.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "leader.h"
#include "log.h"
#include "util.h"
#include "zk_url.h"

#define MOD "agent"

struct cm_detector {
    char *leader;
    struct cm_leader_detector *zk; /* NULL for a fixed master */
    cm_detector_cb cb;
    void *arg;
};

/* "host:port" from the start of text (up to '/' or the end); NULL when malformed. */
static char *parse_hostport(const char *text)
{
    size_t len = strcspn(text, "/?");
    const char *colon = len ? memrchr(text, ':', len) : NULL;
    if (!colon || colon == text || colon + 1 == text + len)
        return NULL;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (end != text + len || port <= 0 || port > 65535)
        return NULL;
    return cm_xstrndup(text, len);
}

/* The address agents connect to: the MasterInfo's IP (as Mesos's pid), else its hostname. */
static char *leader_address(const Mesos__V1__MasterInfo *mi)
{
    if (!mi || !mi->port)
        return NULL;
    if (mi->address && mi->address->ip && *mi->address->ip)
        return cm_xasprintf("%s:%u", mi->address->ip, (unsigned)mi->port);
    if (mi->ip) {
        struct in_addr in = {.s_addr = mi->ip};
        char buf[INET_ADDRSTRLEN];
        if (inet_ntop(AF_INET, &in, buf, sizeof buf))
            return cm_xasprintf("%s:%u", buf, (unsigned)mi->port);
    }
    if (mi->hostname && *mi->hostname)
        return cm_xasprintf("%s:%u", mi->hostname, (unsigned)mi->port);
    return NULL;
}

static void on_zk_leader(void *arg, const Mesos__V1__MasterInfo *mi)
{
    struct cm_detector *d = arg;
    char *next = leader_address(mi);
    if (mi && !next)
        CM_WARN(MOD, "The leading master's znode has no usable address; waiting for another");
    if ((!next && !d->leader) || (next && d->leader && strcmp(next, d->leader) == 0)) {
        free(next);
        return;
    }
    free(d->leader);
    d->leader = next;
    CM_INFO(MOD, "%s%s", next ? "New leading master detected at " : "No leading master",
            next ? next : "");
    if (d->cb)
        d->cb(d->arg, d->leader);
}

int cm_detector_new(struct event_base *base, const char *master, struct cm_detector **out,
                    char *why, size_t whylen)
{
    *out = NULL;
    if (!master || !*master)
        return cm_fail(CM_EINVAL, why, whylen, "Flag 'master' is required");
    if (cm_zk_url_is_zk(master)) {
        struct cm_zk_url url;
        char uwhy[512];
        if (cm_zk_url_parse_flag(master, &url, uwhy, sizeof uwhy) != 0)
            return cm_fail(CM_EINVAL, why, whylen, "Flag 'master': %s", uwhy);
        struct cm_detector *d = cm_xcalloc(1, sizeof *d);
        d->zk =
            cm_leader_detector_zk_new(base, &url, CM_DETECTOR_ZK_SESSION_TIMEOUT, on_zk_leader, d);
        cm_zk_url_cleanup(&url);
        if (!d->zk || cm_leader_detector_start(d->zk) != 0) {
            cm_detector_free(d);
            return cm_fail(CM_EINVAL, why, whylen,
                           "Flag 'master': cannot create a ZooKeeper client for '%s'", master);
        }
        *out = d;
        return 0;
    }
    const char *hp = master;
    if (strncmp(hp, "http://", 7) == 0)
        hp += 7;
    else if (strncmp(hp, "https://", 8) == 0)
        hp += 8;
    char *leader = parse_hostport(hp);
    if (!leader) {
        size_t len = strcspn(hp, "/");
        return cm_fail(CM_EINVAL, why, whylen,
                       memchr(hp, ':', len) ? "Flag 'master': bad port in '%s'"
                                            : "Flag 'master': expected host:port, got '%s'",
                       master);
    }
    struct cm_detector *d = cm_xcalloc(1, sizeof *d);
    d->leader = leader;
    *out = d;
    return 0;
}

void cm_detector_free(struct cm_detector *d)
{
    if (!d)
        return;
    cm_leader_detector_free(d->zk);
    free(d->leader);
    free(d);
}

const char *cm_detector_leader(const struct cm_detector *d)
{
    return d->leader;
}

void cm_detector_watch(struct cm_detector *d, cm_detector_cb cb, void *arg)
{
    d->cb = cb;
    d->arg = arg;
}

int cm_detector_redirect(struct cm_detector *d, const char *location)
{
    if (d->zk || !location)
        return 0;
    const char *hp = location;
    if (strncmp(hp, "//", 2) == 0)
        hp += 2;
    else if (strncmp(hp, "http://", 7) == 0)
        hp += 7;
    else if (strncmp(hp, "https://", 8) == 0)
        hp += 8;
    else
        return 0;
    char *next = parse_hostport(hp);
    if (!next) {
        CM_WARN(MOD, "Ignoring a redirect to a malformed Location '%.200s'", location);
        return 0;
    }
    CM_INFO(MOD, "Master %s redirected us to the leading master at %s", d->leader, next);
    free(d->leader);
    d->leader = next;
    return 1;
}
