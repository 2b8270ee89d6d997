#!/bin/bash
# bench/failover_scale.sh [N...]: kill -9 of the leading master with N emulated agents (default
# 2000 and 10000). Real ZooKeeper (the Debian package's jar, tickTime 500 ms) and two
# mesos-master processes (--zk, --registry=$REGISTRY, default zk; --zk_session_timeout=2secs),
# one mesos-agent-emulator following the leader through ZooKeeper (--master=zk://...). Prints,
# per N: the time from the kill until the emulator saw the new leader, and from that election
# until every agent was re-registered with it (the emulator's 0.1 s stats lines are the clock).
# Not a test: prints figures. Needs java. Usage: BIN=build/bin bench/failover_scale.sh 2000
# MASTER_FLAGS adds flags to both masters; PERF=1 records both masters
# with perf (call graphs) into the work directory, which is then kept and printed.
# APS=N puts N emulated agents on each link stream (--agents_per_stream; default 1: a connection
# per agent, as real agents); the masters then hold N/APS agent connections.
#   APS=1000 BIN=build/bin bench/failover_scale.sh 10000
set -u
BIN=${BIN:-$(dirname "$0")/../build/bin}
BIN=$(cd "$BIN" && pwd)
REGISTRY=${REGISTRY:-zk}
SESSION=${SESSION:-2secs}
APS=${APS:-1}
JAR=/usr/share/java/zookeeper.jar
[ -x /usr/bin/java ] && [ -r $JAR ] || { echo "needs java and $JAR (Debian package zookeeper)"; exit 77; }
WORK=$(mktemp -d /tmp/bench-failover-scale-XXXXXX)
. "$(dirname "$0")/scale_lib.sh"
trap 'scale_cleanup; rm -rf "$WORK"' EXIT
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
echo "# $(uname -n) $(nproc) cpus, load: $(cut -d' ' -f1-3 /proc/loadavg); registry=$REGISTRY, agents_per_stream=$APS"
for n in "${@:-2000 10000}"; do
    zport=$(free_port)
    mkdir -p "$WORK/zk"
    printf 'tickTime=500\ndataDir=%s/zk\nclientPort=%s\nclientPortAddress=127.0.0.1\nmaxClientCnxns=0\nminSessionTimeout=1000\nmaxSessionTimeout=30000\nadmin.enableServer=false\n4lw.commands.whitelist=ruok,srvr\n' "$WORK" "$zport" >"$WORK/zoo.cfg"
    java -Xmx512m -XX:+UseSerialGC -cp $JAR org.apache.zookeeper.server.ZooKeeperServerMain "$WORK/zoo.cfg" >"$WORK/zk.log" 2>&1 &
    PIDS+=("$!")
    for _ in $(seq 300); do
        python3 -c "import socket;s=socket.create_connection(('127.0.0.1',$zport),1);s.sendall(b'ruok');exit(0 if s.recv(4)==b'imok' else 1)" 2>/dev/null && break
        sleep 0.2
    done
    zk="zk://127.0.0.1:$zport/mesos"
    flags=(--zk="$zk" --quorum=1 --zk_session_timeout=$SESSION "--registry=$REGISTRY" --max_connections=$((n + 2000)) ${MASTER_FLAGS:-})
    start_master m0 "${flags[@]}"
    p0=$MASTER_PID; port0=$MASTER_PORT
    sleep 1
    start_master m1 "${flags[@]}"
    p1=$MASTER_PID
    if [ -n "${PERF:-}" ]; then
        perf record -F 499 -g -o "$WORK/perf-m0-$n.data" -p "$p0" >/dev/null 2>&1 &
        perf record -F 499 -g -o "$WORK/perf-m1-$n.data" -p "$p1" >/dev/null 2>&1 &
    fi
    STATS_INTERVAL=0.1 start_emulators "$zk" "$n" 20000 --resources="cpus:8;mem:16384" --zk_session_timeout=$SESSION \
        --agents_per_stream="$APS"
    out="$WORK/emu0.out"
    ok=""
    for _ in $(seq 900); do
        tail -n 1 "$out" 2>/dev/null | grep -q "\"registered\":$n," && { ok=1; break; }
        sleep 0.2
    done
    [ -n "$ok" ] || { echo "agents=$n: not all registered with the first leader (see $WORK)"; trap - EXIT; scale_cleanup; exit 1; }
    leader=$(tail -n 1 "$out" | sed -n 's/.*"master":"\([^"]*\)".*/\1/p')
    sleep 2
    if [ "$leader" = "127.0.0.1:$port0" ]; then victim=$p0; survivor=$p1; else victim=$p1; survivor=$p0; fi
    c_kill=$(cpu_ticks "$survivor")
    t_kill=$(date +%s.%N)
    kill -9 "$victim"
    res=""
    for _ in $(seq 600); do
        res=$(awk -v tk="$t_kill" -v old="$leader" -v n="$n" '
            $1 > tk { m=$0; sub(/.*"master":"/, "", m); sub(/".*/, "", m);
                      if (!te && m != "" && m != old) te=$1;
                      if (te && index($0, "\"registered\":" n ",")) { printf "%.3f %.3f", te-tk, $1-te; exit } }' "$out")
        [ -n "$res" ] && break
        sleep 0.1
    done
    if [ -z "$res" ]; then
        echo "agents=$n: no complete failover within 120 s (see $WORK)"
        grep -h "Stepping down" "$WORK"/m*.log | cut -c1-200
        trap - EXIT; scale_cleanup; exit 1
    fi
    read -r elect rereg <<<"$res"
    # CPU of the new leader from the kill until the check above saw every agent back (+<= 0.1 s)
    cpu=$(awk -v a="$c_kill" -v b="$(cpu_ticks "$survivor")" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.2f", (b-a)/hz}')
    # The new leader's registrar metrics: how long it took to read the registry, and whether it
    # stored anything while the agents re-registered (state_store_ms stays 0 until a store).
    nl=$(tail -n 1 "$out" | sed -n 's/.*"master":"\([^"]*\)".*/\1/p')
    reg=$(curl -s -m 5 "http://$nl/metrics/snapshot" | python3 -c 'import json,sys
m=json.load(sys.stdin)
print("registry_read=%.0fms last_store=%.0fms registry_bytes=%d" % (m["registrar/state_fetch_ms"], m["registrar/state_store_ms"], m["registrar/registry_size_bytes"]))' 2>/dev/null)
    # Shared streams the emulator had to re-open after a refusal (each waits a back-off)
    refused=$(cat "$WORK"/emu*.err 2>/dev/null | grep -c "OPEN_STREAM answered\|cannot connect")
    echo "agents=$n aps=$APS registry=$REGISTRY session=$SESSION elected_after=${elect}s all_reregistered_after_election=${rereg}s ${reg:-registry_read=?} new_leader_cpu=${cpu}s stream_refusals=$refused load=$(cut -d' ' -f1 /proc/loadavg)"
    scale_cleanup; PIDS=(); rm -rf "$WORK/zk" "$WORK"/m0 "$WORK"/m1
done
if [ -n "${PERF:-}" ]; then sleep 1; echo "perf data and logs kept in $WORK"; trap - EXIT; fi
