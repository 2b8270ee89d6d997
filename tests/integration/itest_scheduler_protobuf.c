/*
 * itest_scheduler_protobuf: the scenario of itest_scheduler_json.c in protobuf, posted to the
 * /master/api/v1/scheduler alias (what libmesos uses), as a PARTITION_AWARE framework (so an
 * unknown task reconciles to TASK_UNKNOWN instead of TASK_LOST).
 */
#define ITEST_SCHED_ENC ITEST_PROTOBUF
#define ITEST_SCHED_PATH "/master/api/v1/scheduler"
#define ITEST_SCHED_PARTITION_AWARE 1
#include "itest_scheduler_json.c"
