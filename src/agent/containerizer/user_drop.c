/*
 * user_drop.c: becoming the user a container runs as (contract in user.h). Apart from the
 * lookup (user.c) so that the static launch helper, which only drops, links no NSS code.
 */
#include <errno.h>
#include <grp.h>
#include <unistd.h>

#include "user.h"

int cm_user_drop(const struct cm_user *u)
{
    /* Only root changes its groups; an agent running as the user itself keeps its own. */
    if (geteuid() == 0 && setgroups(u->ngroups, u->groups) != 0)
        return errno;
    if (setgid(u->gid) != 0)
        return errno;
    if (setuid(u->uid) != 0)
        return errno;
    if (u->uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
        return EPERM; /* root could be regained: refuse to run */
    return 0;
}
