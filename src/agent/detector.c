/*
 * detector.c: the static master detector.
 */
#include "detector.h"

#include <stdlib.h>
#include <string.h>

#include "errors.h"

struct cm_detector {
    char *leader;
    cm_detector_cb cb;
    void *arg;
};

int cm_detector_new(const char *master, struct cm_detector **out, char *why, size_t whylen)
{
    *out = NULL;
    if (!master || !*master)
        return cm_fail(CM_EINVAL, why, whylen, "Flag 'master' is required");
    if (strncmp(master, "zk://", 5) == 0)
        return cm_fail(CM_EINVAL, why, whylen,
                       "Flag 'master': zk:// master detection is not supported yet");
    if (strncmp(master, "file://", 7) == 0)
        return cm_fail(CM_EINVAL, why, whylen, "Flag 'master': file:// is not supported yet");
    const char *hp = master;
    if (strncmp(hp, "http://", 7) == 0)
        hp += 7;
    size_t len = strcspn(hp, "/");
    const char *colon = memchr(hp, ':', len);
    if (!colon || colon == hp || colon + 1 == hp + len)
        return cm_fail(CM_EINVAL, why, whylen, "Flag 'master': expected host:port, got '%s'",
                       master);
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (end != hp + len || port <= 0 || port > 65535)
        return cm_fail(CM_EINVAL, why, whylen, "Flag 'master': bad port in '%s'", master);
    struct cm_detector *d = calloc(1, sizeof *d);
    if (!d)
        abort();
    d->leader = strndup(hp, len);
    if (!d->leader)
        abort();
    *out = d;
    return 0;
}

void cm_detector_free(struct cm_detector *d)
{
    if (!d)
        return;
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
