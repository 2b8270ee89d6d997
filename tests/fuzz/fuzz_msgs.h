/*
 * fuzz_msgs.h: the message types the wire-format harnesses pick from with one input byte:
 * what the master, the agent and the scheduler library decode from outside.
 */
#ifndef CM_FUZZ_MSGS_H
#define CM_FUZZ_MSGS_H

#include <protobuf-c/protobuf-c.h>

#include "cmesos/internal.pb-c.h"
#include "mesos/v1/executor/executor.pb-c.h"
#include "mesos/v1/scheduler/scheduler.pb-c.h"

static const ProtobufCMessageDescriptor *const fuzz_msgs[] = {
    &mesos__v1__scheduler__call__descriptor,    /* 0: scheduler API, master side */
    &mesos__v1__executor__call__descriptor,     /* 1: executor API, agent side */
    &cmesos__internal__agent_call__descriptor,  /* 2: agent link, master side */
    &cmesos__internal__agent_event__descriptor, /* 3: agent link, agent side */
    &mesos__v1__scheduler__event__descriptor,   /* 4: scheduler library */
    &mesos__v1__executor__event__descriptor,    /* 5: executor library */
};
#define FUZZ_NMSGS (sizeof fuzz_msgs / sizeof fuzz_msgs[0])

#endif
