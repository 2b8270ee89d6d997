#!/bin/bash
# bench/scale_agents.sh [N...]: N emulated agents on one mesos-master. For each N prints the
# time until all are registered (from the emulators' start), the master's RSS, and the master's
# CPU while idle (pings every --agent_ping_timeout, default 15 s; measured over IDLE_SECS, 30 by
# default, i.e. two ping rounds). Registry in_memory unless REGISTRY is set (e.g. REGISTRY=file).
# Not a test: prints figures. Usage: BIN=build/bin bench/scale_agents.sh 1000 10000 19000
set -u
BIN=${BIN:-$(dirname "$0")/../build/bin}
BIN=$(cd "$BIN" && pwd)
IDLE_SECS=${IDLE_SECS:-30}
REGISTRY=${REGISTRY:-in_memory}
PER=${PER:-10000}
WORK=$(mktemp -d /tmp/bench-scale-agents-XXXXXX)
. "$(dirname "$0")/scale_lib.sh"
trap 'scale_cleanup; rm -rf "$WORK"' EXIT
hz=$(getconf CLK_TCK)
echo "# $(uname -n) $(nproc) cpus, load: $(cut -d' ' -f1-3 /proc/loadavg), RLIMIT_NOFILE $(ulimit -Hn), registry=$REGISTRY"
for n in "${@:-1000 5000 10000}"; do
    start_master m "--registry=$REGISTRY" --max_connections=$((n + 2000))
    mpid=$MASTER_PID; mport=$MASTER_PORT
    [ -n "${mport:-}" ] || { echo "master did not start"; exit 1; }
    t0=$(now)
    start_emulators "127.0.0.1:$mport" "$n" "$PER" --resources="cpus:8;mem:16384;disk:100000"
    reg=0; t_all=""
    deadline=$(awk -v t="$t0" 'BEGIN{printf "%.3f", t+120}')
    while awk -v a="$(now)" -v b="$deadline" 'BEGIN{exit !(a<b)}'; do
        reg=$(emu_sum registered)
        if [ "${reg%.*}" -ge "$n" ]; then t_all=$(now); break; fi
        sleep 0.2
    done
    if [ -z "$t_all" ]; then
        echo "agents=$n registered=$reg of $n within 120 s (see $WORK)"; trap - EXIT; scale_cleanup; exit 1
    fi
    reg_s=$(awk -v a="$t_all" -v b="$t0" 'BEGIN{printf "%.2f", a-b}')
    rss=$(rss_mib "$mpid")
    c0=$(cpu_ticks "$mpid"); sleep "$IDLE_SECS"; c1=$(cpu_ticks "$mpid")
    idle=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" -v s="$IDLE_SECS" 'BEGIN{printf "%.2f", 100*(b-a)/hz/s}')
    emu_rss=0; for p in "${EMU_PIDS[@]}"; do emu_rss=$(awk -v a="$emu_rss" -v b="$(rss_mib "$p")" 'BEGIN{print a+b}'); done
    pongs=$(emu_sum pongs)
    echo "agents=$n registered_in=${reg_s}s master_rss=${rss}MiB master_idle_cpu=${idle}% (of one core, over ${IDLE_SECS}s; pongs so far $pongs) emulator_rss=${emu_rss}MiB load=$(cut -d' ' -f1 /proc/loadavg)"
    scale_cleanup; PIDS=()
done
