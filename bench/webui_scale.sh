#!/usr/bin/env bash
# webui_scale.sh [AGENTS] [TASKS]: the web UI against a real master holding AGENTS emulated
# agents (default 10000) and TASKS running tasks (default 100000, launched by emulator-loadgen
# and running forever), measured in headless Chromium by bench/webui_scale.py: the overview's
# first paint and the state's load after navigation (best of three), then the task and agent
# lists. Prints one line of figures. Needs chromium, chromedriver and python3-selenium.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/bin}
AGENTS=${1:-10000}
TASKS=${2:-100000}
WORK=$(mktemp -d /tmp/webui-scale.XXXXXX)
source bench/scale_lib.sh
trap 'scale_cleanup; rm -rf "$WORK"' EXIT

start_master m --registry=in_memory --max_connections=$((AGENTS + 2000))
[ -n "$MASTER_PORT" ] || { echo "the master did not start: $(tail -3 "$WORK/m.log")" >&2; exit 1; }
master=127.0.0.1:$MASTER_PORT
# Room for the tasks: 0.1 cpu / 32 MB each, spread over the agents with headroom. The frameworks
# decline what they cannot use for 5 s: with refuse_seconds 0 the master re-offers a declined
# agent within milliseconds (event-driven allocation), and ten frameworks declining 10,000
# agents back and forth is an offer storm, not a UI measurement.
per=$(( (TASKS + AGENTS - 1) / AGENTS + 2 ))
start_emulators "$master" "$AGENTS" 10000 --resources="cpus:$((per / 10 + 1));mem:$((per * 32 + 64));disk:1000" \
    --task_run_time=forever
t0=$(date +%s.%N)
"$BIN/emulator-loadgen" --master="$master" --frameworks=10 --tasks="$TASKS" --task_run_time=-1 \
    --refuse_seconds=5 --duration=900 \
    --max_inflight=64 --quiet >"$WORK/loadgen.out" 2>"$WORK/loadgen.err" &
PIDS+=("$!")
running=0
for _ in $(seq 1200); do
    running=$(curl -fsS "http://$master/metrics/snapshot" | sed -n 's/.*"master\/tasks_running":\([0-9]*\).*/\1/p')
    [ "${running:-0}" -ge "$TASKS" ] && break
    sleep 1
done
t1=$(date +%s.%N)
agents=$(curl -fsS "http://$master/metrics/snapshot" | sed -n 's/.*"master\/slaves_active":\([0-9]*\).*/\1/p')
echo "cluster: agents_active=$agents tasks_running=$running filled_in=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')s"
state_ms=$(curl -fsS -o /dev/null -w '%{time_total}' "http://$master/master/state")
echo "curl /master/state: ${state_ms}s"
/usr/bin/python3 bench/webui_scale.py "http://$master/" "$agents" "$running"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
