/*
 * agent_flags_mesos.h: the Mesos 1.11 agent flags that mesos-agent's table (agent_flags.c)
 * does not implement, each with what cmesos does with it (flags.h, docs/flags.md).
 *
 * The list is consulted only for names the table lacks, so implementing one of these flags
 * means adding it to the table; the entry here can stay (it is then shadowed).
 */
#ifndef CM_AGENT_FLAGS_MESOS_H
#define CM_AGENT_FLAGS_MESOS_H

#include <stddef.h>

#include "flags.h"

extern const struct cm_flag_known cm_agent_flags_mesos[];
extern const size_t cm_agent_flags_mesos_count;

#endif
