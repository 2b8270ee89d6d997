/*
 * framework_info.h: questions every process asks of a FrameworkInfo. Masters, agents and
 * executors all decide behaviour from a framework's capabilities (PARTITION_AWARE chooses
 * TASK_UNREACHABLE over TASK_LOST, TASK_KILLING_STATE whether a kill reports TASK_KILLING first),
 * so the test lives here once.
 *
 * Nothing is kept; safe from any thread.
 */
#ifndef CM_FRAMEWORK_INFO_H
#define CM_FRAMEWORK_INFO_H

#include <stdbool.h>

#include "mesos/v1/mesos.pb-c.h"

/* True if info (may be NULL: false) declares the capability of this type
 * (Mesos__V1__FrameworkInfo__Capability__Type). */
bool cm_framework_has_capability(const Mesos__V1__FrameworkInfo *info, int type);

#endif
