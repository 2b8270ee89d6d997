/* framework_info.c: see framework_info.h. */
#include "framework_info.h"

#include <stddef.h>

bool cm_framework_has_capability(const Mesos__V1__FrameworkInfo *info, int type)
{
    for (size_t i = 0; info && i < info->n_capabilities; i++)
        if (info->capabilities[i] && info->capabilities[i]->has_type &&
            (int)info->capabilities[i]->type == type)
            return true;
    return false;
}
