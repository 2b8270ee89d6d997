/*
 * user.c: resolving and becoming the user a container runs as (contract in user.h).
 */
#include "user.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"

int cm_user_lookup(const char *name, struct cm_user *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    if (!name || !*name)
        return cm_fail(CM_EINVAL, why, whylen, "No user to run as");
    long sz = sysconf(_SC_GETPW_R_SIZE_MAX);
    size_t bufsz = sz > 0 ? (size_t)sz : 16384;
    char *buf = NULL;
    struct passwd pw, *res = NULL;
    int rc;
    for (;;) {
        char *nb = realloc(buf, bufsz);
        if (!nb)
            abort();
        buf = nb;
        rc = getpwnam_r(name, &pw, buf, bufsz, &res);
        if (rc != ERANGE || bufsz >= (1u << 20))
            break;
        bufsz *= 2;
    }
    if (rc != 0 || !res) {
        free(buf);
        if (rc != 0 && rc != ENOENT && rc != ESRCH)
            return cm_fail(-rc, why, whylen, "Failed to look up user '%s': %s", name, strerror(rc));
        return cm_fail(CM_ENOTFOUND, why, whylen, "User '%s' does not exist on this agent", name);
    }
    uid_t euid = geteuid();
    if (euid != 0 && res->pw_uid != euid) {
        unsigned long want = (unsigned long)res->pw_uid;
        free(buf);
        return cm_fail(CM_ESTATE, why, whylen,
                       "Cannot run as user '%s' (uid %lu): the agent runs as uid %lu, not as "
                       "root; run the agent as root or with --switch_user=false",
                       name, want, (unsigned long)euid);
    }
    out->uid = res->pw_uid;
    out->gid = res->pw_gid;
    int n = 32;
    gid_t *groups = NULL;
    for (;;) {
        gid_t *ng = realloc(groups, (size_t)n * sizeof *groups);
        if (!ng)
            abort();
        groups = ng;
        int want = n;
        if (getgrouplist(name, res->pw_gid, groups, &want) >= 0) {
            n = want;
            break;
        }
        if (want <= n || want > 65536) {
            /* Cannot list them: the primary group alone. */
            groups[0] = res->pw_gid;
            n = 1;
            break;
        }
        n = want;
    }
    out->groups = groups;
    out->ngroups = (size_t)n;
    out->name = strdup(name);
    free(buf);
    if (!out->name)
        abort();
    return 0;
}

void cm_user_cleanup(struct cm_user *u)
{
    if (!u)
        return;
    free(u->name);
    free(u->groups);
    memset(u, 0, sizeof *u);
}
