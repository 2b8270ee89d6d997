/* agent_flags_mesos.c: see agent_flags_mesos.h. Notes are one sentence, no final period. */
#include "agent_flags_mesos.h"

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
#define NO_IMAGES "cmesos's image support does not use it (docs/containers-images.md)"
#define NO_ISOLATOR(what) "it configures the " what " isolator, which --isolation refuses"

const struct cm_flag_known cm_agent_flags_mesos[] = {
    /* Containerizers, images and isolators. */
    NO_EFFECT("image_provisioner_backend", false, NO_IMAGES),
    NO_EFFECT("appc_simple_discovery_uri_prefix", false, NO_IMAGES),
    NO_EFFECT("appc_store_dir", false, NO_IMAGES),
    NO_EFFECT("docker_config", false, NO_IMAGES),
    NO_EFFECT("sandbox_directory", false,
              "a container image always sees its sandbox at /mnt/mesos/sandbox (Mesos's default)"),
    NO_EFFECT("docker_volume_checkpoint_dir", false, NO_ISOLATOR("docker/volume")),
    NO_EFFECT("docker_volume_chown", true, NO_ISOLATOR("docker/volume")),
    NO_EFFECT("docker_ignore_runtime", true, NO_IMAGES),
    REFUSED("docker_mesos_image", false, NULL,
            "cmesos runs the Docker executor on the host, not in a container; drop the flag"),
    REFUSED("default_container_info", false, NULL,
            "cmesos applies no default ContainerInfo; give each task its own ContainerInfo"),
    NO_EFFECT("default_container_dns", false, NO_ISOLATOR("network/cni")),
    REFUSED("default_container_shm_size", false, NULL,
            "cmesos cannot size a container's /dev/shm; drop the flag"),
    NO_EFFECT("cgroups_destroy_timeout", false,
              "cmesos kills a container's processes and removes its cgroups without a timeout"),
    NO_EFFECT("cgroups_cpu_enable_pids_and_tids_count", true,
              "cmesos does not report process and thread counts in container statistics"),
    NO_EFFECT("cgroups_net_cls_primary_handle", false, NO_ISOLATOR("cgroups/net_cls")),
    NO_EFFECT("cgroups_net_cls_secondary_handles", false, NO_ISOLATOR("cgroups/net_cls")),
    NO_EFFECT("allowed_devices", false, NO_ISOLATOR("cgroups/devices")),
    {"agent_subsystems", "slave_subsystems", CM_FLAG_NO_EFFECT, false, NULL,
     "the agent does not place itself in cgroups; its own usage is not accounted"},
    NO_EFFECT("host_path_volume_force_creation", false, NO_ISOLATOR("volume/host_path")),
    REFUSED("nvidia_gpu_devices", false, NULL, "cmesos has no GPU support; drop the flag"),
    NO_EFFECT("perf_events", false, NO_ISOLATOR("cgroups/perf_event")),
    NO_EFFECT("perf_interval", false, NO_ISOLATOR("cgroups/perf_event")),
    NO_EFFECT("perf_duration", false, NO_ISOLATOR("cgroups/perf_event")),
    NO_EFFECT("revocable_cpu_low_priority", true,
              "cmesos offers no revocable resources (no oversubscription)"),
    {"effective_capabilities", "allowed_capabilities", CM_FLAG_REFUSED, false, NULL,
     "cmesos cannot set a task's Linux capabilities (no linux/capabilities isolator); drop the "
     "flag"},
    REFUSED("bounding_capabilities", false, NULL,
            "cmesos cannot set a task's Linux capabilities (no linux/capabilities isolator); drop "
            "the flag"),
    REFUSED("disallow_sharing_agent_ipc_namespace", true, "false",
            "cmesos cannot refuse tasks that share the agent's IPC namespace; leave it false"),
    REFUSED("disallow_sharing_agent_pid_namespace", true, "false",
            "cmesos cannot refuse tasks that share the agent's PID namespace; leave it false"),
    REFUSED("seccomp_config_dir", false, NULL,
            "cmesos has no seccomp isolator; tasks would run unfiltered, so drop the flag"),
    REFUSED("seccomp_profile_name", false, NULL,
            "cmesos has no seccomp isolator; tasks would run unfiltered, so drop the flag"),
    NO_EFFECT("xfs_project_range", false, NO_ISOLATOR("disk/xfs")),
    NO_EFFECT("xfs_kill_containers", true, NO_ISOLATOR("disk/xfs")),
    REFUSED("volume_gid_range", false, NULL, "cmesos does not own volumes by gid; drop the flag"),
    NO_EFFECT("systemd_enable_support", true,
              "cmesos's mesos-agent.service keeps executors alive across agent restarts with "
              "KillMode=process"),
    NO_EFFECT("systemd_runtime_directory", false,
              "cmesos does not move executors into systemd scopes"),

    /* Networking isolators (network/port_mapping, network/ports, network/cni). */
    NO_EFFECT("ephemeral_ports_per_container", false, NO_ISOLATOR("network/port_mapping")),
    NO_EFFECT("eth0_name", false, NO_ISOLATOR("network/port_mapping")),
    NO_EFFECT("lo_name", false, NO_ISOLATOR("network/port_mapping")),
    NO_EFFECT("egress_rate_limit_per_container", false, NO_ISOLATOR("network/port_mapping")),
    NO_EFFECT("egress_unique_flow_per_container", true, NO_ISOLATOR("network/port_mapping")),
    NO_EFFECT("egress_flow_classifier_parent", false, NO_ISOLATOR("network/port_mapping")),
    NO_EFFECT("network_enable_socket_statistics_summary", true,
              NO_ISOLATOR("network/port_mapping")),
    NO_EFFECT("network_enable_socket_statistics_details", true,
              NO_ISOLATOR("network/port_mapping")),
    NO_EFFECT("network_enable_snmp_statistics", true, NO_ISOLATOR("network/port_mapping")),
    NO_EFFECT("container_ports_watch_interval", false, NO_ISOLATOR("network/ports")),
    NO_EFFECT("check_agent_port_range_only", true, NO_ISOLATOR("network/ports")),
    NO_EFFECT("enforce_container_ports", true, NO_ISOLATOR("network/ports")),
    NO_EFFECT("container_ports_isolated_range", false, NO_ISOLATOR("network/ports")),
    NO_EFFECT("network_cni_plugins_dir", false, NO_ISOLATOR("network/cni")),
    NO_EFFECT("network_cni_config_dir", false, NO_ISOLATOR("network/cni")),
    NO_EFFECT("network_cni_root_dir_persist", true, NO_ISOLATOR("network/cni")),
    NO_EFFECT("network_cni_metrics", true, NO_ISOLATOR("network/cni")),

    /* Disk quota and sandboxes: implemented by the sandbox module. */
    ELSEWHERE("switch_user", NULL, true, "the sandbox module (tasks run as their user)"),
    ELSEWHERE("enforce_container_disk_quota", NULL, true, "the sandbox module (disk quota)"),
    ELSEWHERE("container_disk_watch_interval", NULL, false, "the sandbox module (disk quota)"),
    NO_EFFECT("gc_non_executor_container_sandboxes", true,
              "cmesos has no nested or standalone containers"),
    REFUSED("container_logger", false, NULL,
            "cmesos writes a task's stdout and stderr into its sandbox; container logger "
            "modules cannot be loaded"),

    /* Authentication and authorization: implemented by the authentication module. */
    ELSEWHERE("credential", NULL, false, AUTHN),
    ELSEWHERE("http_credentials", NULL, false, AUTHN),
    ELSEWHERE("authenticate_http_readwrite", NULL, true, AUTHN),
    ELSEWHERE("authenticate_http_readonly", NULL, true, AUTHN),
    ELSEWHERE("authenticate_http_executors", NULL, true, AUTHN),
    ELSEWHERE("jwt_secret_key", "executor_secret_key", false, AUTHN),
    REFUSED("authenticatee", false, "crammd5",
            "only the built-in authenticatee exists; authenticatee modules cannot be loaded"),
    REFUSED("http_authenticators", false, "basic",
            "only the built-in HTTP basic authenticator exists; authenticator modules cannot be "
            "loaded"),
    NO_EFFECT("authentication_backoff_factor", false,
              "it paces the v0 (SASL) authentication that cmesos does not speak"),
    NO_EFFECT("authentication_timeout_min", false,
              "it bounds the v0 (SASL) authentication that cmesos does not speak"),
    NO_EFFECT("authentication_timeout_max", false,
              "it bounds the v0 (SASL) authentication that cmesos does not speak"),
    REFUSED("secret_resolver", false, NULL,
            "cmesos cannot resolve secrets; tasks would start without them, so drop the flag"),

    /* Modules, resource providers and oversubscription. */
    REFUSED("modules", false, NULL,
            "cmesos cannot load Mesos modules; its features are built in (see docs/flags.md)"),
    REFUSED("hooks", false, NULL, "cmesos cannot load hook modules"),
    REFUSED("master_detector", false, NULL,
            "cmesos cannot load detector modules; give --master=zk://... instead"),
    REFUSED("resource_estimator", false, NULL,
            "cmesos has no oversubscription (resource estimator modules cannot be loaded)"),
    REFUSED("qos_controller", false, NULL,
            "cmesos has no oversubscription (QoS controller modules cannot be loaded)"),
    NO_EFFECT("qos_correction_interval_min", false, "cmesos has no oversubscription"),
    NO_EFFECT("oversubscribed_resources_interval", false, "cmesos has no oversubscription"),
    REFUSED("resource_provider_config_dir", false, NULL,
            "cmesos has no resource providers; give the agent's resources with --resources"),
    REFUSED("csi_plugin_config_dir", false, NULL,
            "cmesos has no CSI volumes; give the agent's resources with --resources"),
    REFUSED("disk_profile_adaptor", false, NULL,
            "cmesos has no CSI volumes or disk profiles; drop the flag"),
    REFUSED("agent_features", false, NULL,
            "cmesos advertises a fixed set of agent capabilities; drop the flag"),
    REFUSED("reconfiguration_policy", false, "equal",
            "only 'equal' (Mesos's default) is accepted; cmesos has no 'additive' "
            "reconfiguration"),

    /* Executors. */
    NO_EFFECT("executor_reregistration_retry_interval", false,
              "it applies to v0 executors, and cmesos runs only v1 HTTP executors"),
    NO_EFFECT("http_command_executor", true,
              "cmesos's command executor always speaks the v1 HTTP executor API"),
    NO_EFFECT("http_executor_domain_sockets", true,
              "cmesos executors reach the agent over TCP on --ip and --port"),
    NO_EFFECT("domain_socket_location", false,
              "cmesos executors reach the agent over TCP on --ip and --port"),
    NO_EFFECT("http_heartbeat_interval", false,
              "it paces streaming nested-container calls, which cmesos does not have"),
    NO_EFFECT("max_completed_executors_per_framework", false,
              "the agent keeps the 150 most recent completed executors per framework (Mesos's "
              "default)"),
    NO_EFFECT("runtime_dir", false, "cmesos keeps the agent's runtime state under --work_dir"),
    NO_EFFECT("hadoop_home", false, "cmesos's fetcher does not fetch hdfs:// URIs"),

    /* Addresses and the rest. */
    REFUSED("advertise_port", false, NULL,
            "the agent advertises the port it listens on; give that port with --port"),
    NO_EFFECT("ip6", false, "cmesos agents listen and advertise on IPv4 only"),
    REFUSED("ip_discovery_command", false, NULL, "give the address with --ip or --advertise_ip"),
    REFUSED("ip6_discovery_command", false, NULL, "cmesos agents use IPv4 only"),
    NO_EFFECT("zk_session_timeout", false,
              "the agent's ZooKeeper session timeout is fixed at Mesos's default, 10secs"),
    REFUSED("firewall_rules", false, NULL,
            "cmesos has no endpoint firewall; protect endpoints with HTTP authentication or a "
            "host firewall"),
    REFUSED("domain", false, NULL, "cmesos has no fault domains; drop the flag"),
    NO_EFFECT("memory_profiling", true, "cmesos has no memory profiler endpoints"),
    NO_EFFECT("quiet", true,
              "cmesos logs to the --log_dir file alone when it is given, else to stderr"),
    NO_EFFECT("logbufsecs", false, "cmesos writes every log line at once (no buffering)"),
    NO_EFFECT("initialize_driver_logging", true, "cmesos has no scheduler driver to log"),
    NO_EFFECT("external_log_file", false,
              "it only tells Mesos's web UI where an outside log is, and cmesos has no web UI"),
};

const size_t cm_agent_flags_mesos_count =
    sizeof cm_agent_flags_mesos / sizeof cm_agent_flags_mesos[0];
