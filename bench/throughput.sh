#!/bin/bash
# bench/throughput.sh: task launches through one mesos-master with emulated agents, for each
# cluster size given ("AGENTS:FRAMEWORKS", default "100:10 1000:10 10000:100"). The load
# generator (emulator-loadgen, N frameworks on libcmscheduler) keeps every offer full of tasks
# of 0.1 cpu / 32 MB that run RUN_TIME seconds (default 2) on the emulated agents
# (8 cpus / 16 GB each, so 80 tasks per agent), for DURATION seconds (default 20).
# Prints per size: launch rate (tasks reaching TASK_RUNNING per second), offer -> TASK_RUNNING
# p50/p90/p99, master CPU per launched task, the CPU of the load generator and of the emulators
# (to see that they are not the bottleneck), and appends a row to $OUT/throughput.dat
# (agents frameworks launches_per_s p50_ms p90_ms p99_ms cpu_ms_per_task) for bench/plot.sh.
# APS=N runs the emulated agents N to a shared link stream (--agents_per_stream); SUPPRESS=false
# makes the frameworks decline offers at their cap instead of suppressing them (the old way);
# HOLD=N sets the offers each framework keeps at its cap (--hold_offers, default 4); MASTER_BIN
# runs another mesos-master binary (a before/after comparison) with this build's other programs.
# Also prints offers per launched task and the frameworks' SUPPRESS/REVIVE calls.
# With SYSCALLS=1 (needs perf and tracepoints) it also prints the master's syscalls per task
# (writev, epoll_ctl, readv... over the load generator's run), which do not depend on the load.
# Also prints a steady-state figure, ss_cpu_per_task_ms: the master's CPU between 30 % and 90 % of
# DURATION divided by the tasks that reached TASK_RUNNING in that window (from the master's
# /metrics/snapshot), which leaves out subscription and the first offer round; likewise
# ss_launches_per_s and ss_offers_per_launch (offers sent by the master in the window per task
# that reached TASK_RUNNING in it). PERF=FILE records
# the master with `perf record -g` (or $PERF_CG, e.g. "--call-graph=dwarf") over the load generator's run into FILE.
# Not a test: prints figures. Usage: BIN=build/bin OUT=/tmp/perf bench/throughput.sh 1000:10
set -u
BIN=${BIN:-$(dirname "$0")/../build/bin}
BIN=$(cd "$BIN" && pwd)
DURATION=${DURATION:-20}
RUN_TIME=${RUN_TIME:-2}
OUT=${OUT:-.}
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/bench-throughput-XXXXXX)
. "$(dirname "$0")/scale_lib.sh"
trap 'scale_cleanup; rm -rf "$WORK"' EXIT
if [ -n "${MASTER_BIN:-}" ]; then
    mkdir -p "$WORK/bin"
    for b in "$BIN"/*; do ln -s "$b" "$WORK/bin/"; done
    ln -sf "$(cd "$(dirname "$MASTER_BIN")" && pwd)/$(basename "$MASTER_BIN")" "$WORK/bin/mesos-master"
    BIN=$WORK/bin
fi
hz=$(getconf CLK_TCK)
# reached_running PORT: tasks that reached TASK_RUNNING so far (running + finished) and offers
# sent to the frameworks so far, from the master's metrics
reached_running() {
    curl -fsS -m 10 "http://127.0.0.1:$1/metrics/snapshot" | tr ',' '\n' |
        awk -F: '/"master\/tasks_(running|finished)"/ { n += $2 } /\/offers\/sent"/ { o += $2 }
                 END { printf "%d %d", n, o }'
}
echo "# $(uname -n) $(nproc) cpus, load: $(cut -d' ' -f1-3 /proc/loadavg); task run time ${RUN_TIME}s, ${DURATION}s per size"
for spec in "${@:-100:10 1000:10 10000:100}"; do
    n=${spec%%:*}; f=${spec##*:}
    # room for every agent, every framework's stream and calls in flight (--max_inflight) and the
    # emulators' call connections: at the limit the master closes idle connections, which the
    # load generator then opens again (connection churn, and a scan of all connections each)
    start_master m --registry=in_memory --max_connections=$((n + f * 80 + 2000))
    mpid=$MASTER_PID; mport=$MASTER_PORT
    start_emulators "127.0.0.1:$mport" "$n" 10000 --resources="cpus:8;mem:16384;disk:100000" \
        --call_connections=64 --pipeline=4 ${APS:+--agents_per_stream=$APS}
    for _ in $(seq 600); do
        r=$(emu_sum registered); [ "${r%.*}" -ge "$n" ] && break; sleep 0.2
    done
    c0=$(cpu_ticks "$mpid")
    e0=0; for p in "${EMU_PIDS[@]}"; do e0=$((e0 + $(cpu_ticks "$p"))); done
    if [ "${SYSCALLS:-0}" = 1 ]; then
        perf stat -x, -o "$WORK/sys.txt" -p "$mpid" -e 'syscalls:sys_enter_writev,syscalls:sys_enter_write,syscalls:sys_enter_readv,syscalls:sys_enter_read,syscalls:sys_enter_epoll_ctl,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_ioctl,syscalls:sys_enter_sendmsg,syscalls:sys_enter_recvfrom' &
        perf_pid=$!
    fi
    if [ -n "${PERF:-}" ]; then
        perf record ${PERF_CG:--g} -o "$PERF" -p "$mpid" >/dev/null 2>"$WORK/perf.err" &
        prec_pid=$!
    fi
    "$BIN/emulator-loadgen" --master="127.0.0.1:$mport" --frameworks="$f" --task_cpus=0.1 \
        --task_mem=32 --task_run_time="$RUN_TIME" --duration="$DURATION" --report_interval=5 \
        --max_outstanding="${MAX_OUTSTANDING:-2000}" --refuse_seconds=0.2 --max_inflight=64 \
        --suppress="${SUPPRESS:-true}" --hold_offers="${HOLD:-4}" \
        --latency_file="$OUT/latency-$n-$f.txt" \
        >"$WORK/lg.out" 2>"$WORK/lg.err" &
    lpid=$!
    lg_ticks=0; t_start=$(date +%s.%N); ss0=""; ss1=""
    while kill -0 "$lpid" 2>/dev/null; do
        t=$(cpu_ticks "$lpid" 2>/dev/null) && lg_ticks=$t
        el=$(awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN{print b-a}')
        if [ -z "$ss0" ] && awk -v e="$el" -v d="$DURATION" 'BEGIN{exit !(e >= 0.3*d)}'; then
            ss0="$(reached_running "$mport") $(cpu_ticks "$mpid") $el"
        elif [ -z "$ss1" ] && awk -v e="$el" -v d="$DURATION" 'BEGIN{exit !(e >= 0.9*d)}'; then
            ss1="$(cpu_ticks "$mpid") $(reached_running "$mport") $el"
        fi
        sleep 0.2
    done
    wait "$lpid"
    if [ -n "${PERF:-}" ]; then kill -INT "$prec_pid"; wait "$prec_pid" 2>/dev/null; fi
    # n0 offers0 ticks0 t0, ticks1 n1 offers1 t1: the ticks are read inside the two metrics
    # requests, so the window's CPU leaves out what the master spends answering them
    read -r ss_ms ss_rate ss_opl < <(echo "$ss0 $ss1" | awk -v hz="$hz" 'NF==8 && $6>$1 && $8>$4 {
        printf "%.3f %.1f %.2f\n", 1000*($5-$3)/hz/($6-$1), ($6-$1)/($8-$4), ($7-$2)/($6-$1); exit }
        { print "nan nan nan" }')
    if [ "${SYSCALLS:-0}" = 1 ]; then kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null; fi
    c1=$(cpu_ticks "$mpid")
    # the master's connections: open, accepted and evicted (idle ones closed at the limit)
    conns=$(curl -fsS -m 30 "http://127.0.0.1:$mport/metrics/snapshot" | tr ',' '\n' |
        awk -F: '/"master\/http_connections"/ { o = $2 } /"master\/http_connections_accepted"/ { a = $2 }
                 /"master\/http_evicted_idle_connections"/ { e = $2 }
                 END { printf "open=%d accepted=%d evicted=%d", o, a, e }')
    e1=0; for p in "${EMU_PIDS[@]}"; do e1=$((e1 + $(cpu_ticks "$p"))); done
    res=$(sed -n 's/^RESULT //p' "$WORK/lg.out")
    get() { echo "$res" | sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" | head -1; }
    running=$(get running); rate=$(get running_per_s)
    launched=$(get launched); offers=$(get offers)
    opl=$(awk -v o="${offers:-0}" -v l="${launched:-0}" 'BEGIN{ if (l>0) printf "%.2f", o/l; else print "nan"}')
    p50=$(get p50); p90=$(get p90); p99=$(get p99)
    cpu_ms=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" -v n="${running:-0}" \
        'BEGIN{ if (n>0) printf "%.3f", 1000*(b-a)/hz/n; else print "nan"}')
    master_cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" -v s="$DURATION" 'BEGIN{printf "%.0f", 100*(b-a)/hz/s}')
    lg_cpu=$(awk -v t="$lg_ticks" -v hz="$hz" -v s="$DURATION" 'BEGIN{printf "%.0f", 100*t/hz/s}')
    emu_cpu=$(awk -v a="$e0" -v b="$e1" -v hz="$hz" -v s="$DURATION" 'BEGIN{printf "%.0f", 100*(b-a)/hz/s}')
    echo "agents=$n frameworks=$f launches_per_s=$rate running=$running offer_to_running_ms p50=$p50 p90=$p90 p99=$p99 master_cpu_per_task_ms=$cpu_ms ss_cpu_per_task_ms=$ss_ms ss_launches_per_s=$ss_rate ss_offers_per_launch=$ss_opl offers_per_launch=$opl suppress=$(get suppress_calls) revive=$(get revive_calls) held_used=$(get held_used) master_cpu=${master_cpu}% loadgen_cpu=${lg_cpu}% emulator_cpu=${emu_cpu}% load=$(cut -d' ' -f1 /proc/loadavg)"
    echo "  master connections: $conns"
    if [ "${SYSCALLS:-0}" = 1 ]; then
        awk -F, -v n="${running:-0}" '$3 ~ /sys_enter_/ && $1 ~ /^[0-9]+$/ {
            sub(/.*sys_enter_/, "", $3); t += $1; s = s sprintf(" %s=%.2f", $3, n ? $1 / n : 0) }
            END { printf "  master syscalls_per_task=%.1f%s\n", n ? t / n : 0, s }' "$WORK/sys.txt"
    fi
    echo "$n $f $rate $p50 $p90 $p99 $cpu_ms" >>"$OUT/throughput.dat"
    cp "$WORK/lg.out" "$OUT/loadgen-$n.out" 2>/dev/null
    scale_cleanup; PIDS=()
done
