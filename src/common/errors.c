#include "errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *cm_strerror(int err)
{
    switch (err) {
    case 0: return "success";
    case CM_EINVAL: return "invalid input";
    case CM_EPARSE: return "unparseable input";
    case CM_ETOOBIG: return "input too large";
    case CM_ENOTFOUND: return "not found";
    case CM_EEXIST: return "already exists";
    case CM_ESTATE: return "not valid in the current state";
    case CM_EHTTP: return "HTTP exchange failed";
    case CM_EPROTO: return "protocol violation by peer";
    case CM_ECLOSED: return "connection closed";
    case CM_EHELP: return "help requested";
    default: break;
    }
    if (err < 0 && err > -CM_EBASE)
        return strerror(-err);
    return "unknown error";
}

int cm_fail(int err, char *why, size_t whylen, const char *fmt, ...)
{
    if (why && whylen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return err;
}
