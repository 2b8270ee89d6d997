/* master_flags_mesos.c: see master_flags_mesos.h. Notes are one sentence, no final period. */
#include "master_flags_mesos.h"

#define NO_EFFECT(name, boolean, note)                                                             \
    {                                                                                              \
        name, NULL, CM_FLAG_NO_EFFECT, boolean, NULL, note                                         \
    }
#define REFUSED(name, boolean, accept, note)                                                       \
    {                                                                                              \
        name, NULL, CM_FLAG_REFUSED, boolean, accept, note                                         \
    }
#define ELSEWHERE(name, alias, boolean, note)                                                      \
    {                                                                                              \
        name, alias, CM_FLAG_ELSEWHERE, boolean, NULL, note                                        \
    }

#define AUTHN "authentication"

const struct cm_flag_known cm_master_flags_mesos[] = {
    /* Authentication and authorization: implemented by the authentication module. */
    ELSEWHERE("authenticate_frameworks", "authenticate", true, AUTHN),
    ELSEWHERE("authenticate_agents", "authenticate_slaves", true, AUTHN),
    ELSEWHERE("authenticate_http_readwrite", "authenticate_http", true, AUTHN),
    ELSEWHERE("authenticate_http_readonly", NULL, true, AUTHN),
    ELSEWHERE("authenticate_http_frameworks", NULL, true, AUTHN),
    ELSEWHERE("credentials", NULL, false, AUTHN),
    ELSEWHERE("acls", NULL, false, "authorization"),
    ELSEWHERE("authorizers", NULL, false, AUTHN),
    ELSEWHERE("http_authenticators", NULL, false, AUTHN),
    ELSEWHERE("http_framework_authenticators", NULL, false, AUTHN),
    ELSEWHERE("authenticators", NULL, false, AUTHN),
    NO_EFFECT("authentication_v0_timeout", false,
              "it bounds the v0 (SASL) authentication that cmesos does not speak"),

    /* Registry and recovery. */
    REFUSED("registry_strict", true, "false",
            "Mesos 1.11 has removed support for it too; leave it false"),
    NO_EFFECT("log_auto_initialize", true,
              "cmesos has no replicated log to initialize (the registry lives in a file under "
              "--work_dir or in ZooKeeper)"),
    {"recovery_agent_removal_limit", "recovery_slave_removal_limit", CM_FLAG_REFUSED, false, "100%",
     "cmesos has no limit on the agents removed after a failover; only 100% (no limit, the "
     "default) is accepted"},
    {"agent_removal_rate_limit", "slave_removal_rate_limit", CM_FLAG_REFUSED, false, NULL,
     "cmesos removes unreachable agents without a rate limit; drop the flag"},

    /* Allocation. */
    NO_EFFECT("allocator_agent_recovery_factor", false,
              "cmesos offers an agent's resources as soon as it re-registers after a failover"),
    NO_EFFECT("allocator_recovery_timeout", false,
              "cmesos offers an agent's resources as soon as it re-registers after a failover"),
    REFUSED("fair_sharing_excluded_resource_names", false, NULL,
            "cmesos's DRF counts every scalar resource; drop the flag"),
    NO_EFFECT("filter_gpu_resources", true, "cmesos agents offer no GPUs"),
    REFUSED("whitelist", false, "*",
            "cmesos offers every registered agent; keep an agent out of offers with the "
            "operator API's DEACTIVATE_AGENT (mesos agent deactivate)"),
    REFUSED("rate_limits", false, NULL, "cmesos does not throttle framework calls; drop the flag"),
    {"max_executors_per_agent", "max_executors_per_slave", CM_FLAG_REFUSED, false, NULL,
     "cmesos does not cap executors per agent (Mesos does so only with network isolation); "
     "limit them with the agent's --resources"},
    NO_EFFECT("offer_constraints_re2_max_mem", false,
              "cmesos does not implement offer constraints (frameworks get every offer they "
              "would without constraints)"),
    NO_EFFECT("offer_constraints_re2_max_program_size", false,
              "cmesos does not implement offer constraints (frameworks get every offer they "
              "would without constraints)"),
    NO_EFFECT("max_operator_event_stream_subscribers", false,
              "cmesos does not cap the operator API's SUBSCRIBE streams"),

    /* Modules and networking. */
    REFUSED("modules", false, NULL,
            "cmesos cannot load Mesos modules; its features are built in (see docs/flags.md)"),
    REFUSED("hooks", false, NULL, "cmesos cannot load hook modules"),
    REFUSED("master_contender", false, NULL,
            "cmesos cannot load contender modules; use --zk for leader election"),
    REFUSED("master_detector", false, NULL,
            "cmesos cannot load detector modules; use --zk for leader election"),
    REFUSED("firewall_rules", false, NULL,
            "cmesos has no endpoint firewall; protect endpoints with HTTP authentication or a "
            "host firewall"),
    REFUSED("ip_discovery_command", false, NULL, "give the address with --ip or --advertise_ip"),
    REFUSED("domain", false, NULL, "cmesos has no fault domains; drop the flag"),
    REFUSED("require_agent_domain", true, "false", "cmesos has no fault domains; leave it false"),

    /* Web UI, profiling and logging. */
    NO_EFFECT("webui_dir", false, "the web UI is compiled into mesos-master and served at /"),
    NO_EFFECT("memory_profiling", true, "cmesos has no memory profiler endpoints"),
    NO_EFFECT("quiet", true,
              "cmesos logs to the --log_dir file alone when it is given, else to stderr"),
    NO_EFFECT("logbufsecs", false, "cmesos writes every log line at once (no buffering)"),
    NO_EFFECT("initialize_driver_logging", true, "cmesos has no scheduler driver to log"),
    NO_EFFECT("external_log_file", false,
              "it only tells Mesos's web UI where an outside log is, and cmesos has no web UI"),
};

const size_t cm_master_flags_mesos_count =
    sizeof cm_master_flags_mesos / sizeof cm_master_flags_mesos[0];
