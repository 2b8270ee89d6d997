# Internal to the mesos package: the drivers (scheduler_driver, executor_driver), the C
# extension over libcmscheduler/libcmexecutor (_cmesos) and the v1 Call/Event messages with v0
# names (scheduler_pb2, executor_pb2, generated). Nothing here is a stable API.
