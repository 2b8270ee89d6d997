#!/bin/bash
# bench/scale_agents.sh [N...]: N emulated agents on one mesos-master. For each N prints the
# time until all are registered (from the emulators' start), the master's RSS, and the master's
# CPU while idle (pings every --agent_ping_timeout, default 15 s; measured over IDLE_SECS, 30 by
# default, i.e. two ping rounds). Registry in_memory unless REGISTRY is set (e.g. REGISTRY=file).
# APS=N puts N emulated agents on each link stream (--agents_per_stream; default 1, a stream and
# so a connection each, as real agents); the master then holds N/APS agent connections.
# Not a test: prints figures. Usage: BIN=build/bin bench/scale_agents.sh 1000 10000 19000
#                                    APS=1000 PER=25000 BIN=build/bin bench/scale_agents.sh 50000
set -u
BIN=${BIN:-$(dirname "$0")/../build/bin}
BIN=$(cd "$BIN" && pwd)
IDLE_SECS=${IDLE_SECS:-30}
REGISTRY=${REGISTRY:-in_memory}
PER=${PER:-10000}
APS=${APS:-1}
REG_TIMEOUT=${REG_TIMEOUT:-120}
# Extra emulator flags, e.g. EMU_FLAGS="--call_connections=64 --pipeline=8"
EMU_FLAGS=${EMU_FLAGS:-}
WORK=$(mktemp -d /tmp/bench-scale-agents-XXXXXX)
. "$(dirname "$0")/scale_lib.sh"
trap 'scale_cleanup; rm -rf "$WORK"' EXIT
hz=$(getconf CLK_TCK)
echo "# $(uname -n) $(nproc) cpus, load: $(cut -d' ' -f1-3 /proc/loadavg), RLIMIT_NOFILE $(ulimit -Hn), registry=$REGISTRY, agents_per_stream=$APS"
for n in "${@:-1000 5000 10000}"; do
    start_master m "--registry=$REGISTRY" --max_connections=$((n / APS + 2000))
    mpid=$MASTER_PID; mport=$MASTER_PORT
    [ -n "${mport:-}" ] || { echo "master did not start"; exit 1; }
    t0=$(now)
    start_emulators "127.0.0.1:$mport" "$n" "$PER" --resources="cpus:8;mem:16384;disk:100000" \
        --agents_per_stream="$APS" $EMU_FLAGS
    reg=0; t_all=""
    deadline=$(awk -v t="$t0" 'BEGIN{printf "%.3f", t+'"$REG_TIMEOUT"'}')
    while awk -v a="$(now)" -v b="$deadline" 'BEGIN{exit !(a<b)}'; do
        reg=$(emu_sum registered)
        if [ "${reg%.*}" -ge "$n" ]; then t_all=$(now); break; fi
        sleep 0.2
    done
    if [ -z "$t_all" ]; then
        echo "agents=$n registered=$reg of $n within $REG_TIMEOUT s (see $WORK)"; trap - EXIT; scale_cleanup; exit 1
    fi
    reg_s=$(awk -v a="$t_all" -v b="$t0" 'BEGIN{printf "%.2f", a-b}')
    rss=$(rss_mib "$mpid"); fds=$(ls "/proc/$mpid/fd" | wc -l)
    c0=$(cpu_ticks "$mpid"); sleep "$IDLE_SECS"; c1=$(cpu_ticks "$mpid")
    idle=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" -v s="$IDLE_SECS" 'BEGIN{printf "%.2f", 100*(b-a)/hz/s}')
    emu_rss=0; for p in "${EMU_PIDS[@]}"; do emu_rss=$(awk -v a="$emu_rss" -v b="$(rss_mib "$p")" 'BEGIN{print a+b}'); done
    pongs=$(emu_sum pongs)
    echo "agents=$n registered_in=${reg_s}s master_rss=${rss}MiB master_fds=$fds master_idle_cpu=${idle}% (of one core, over ${IDLE_SECS}s; pongs so far $pongs) emulator_rss=${emu_rss}MiB load=$(cut -d' ' -f1 /proc/loadavg)"
    scale_cleanup; PIDS=()
done
