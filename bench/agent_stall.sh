#!/usr/bin/env bash
# bench/agent_stall.sh: the real mesos-agent's longest event-loop stall while it launches and
# tears down N command tasks ("true"), back to back (one mesos-execute --count=N) and spaced
# (N single-task launches SPACING_MS apart). The agent runs with CMESOS_LOOP_PROBE=1, which
# logs its loop probe (src/common/loop_probe.h) every second; this script prints the worst of
# those lines. Usage: bench/agent_stall.sh [BUILD_DIR] [N] [SPACING_MS]. Prints figures; it is
# not a test and asserts nothing. The machine's load is printed with them.
set -euo pipefail
build=${1:-build}
n=${2:-500}
spacing_ms=${3:-20}
bin=$(cd "$build/bin" && pwd)
tmp=$(mktemp -d /tmp/cm-agent-stall-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${CM_KEEP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"
}
trap cleanup EXIT

wait_file() {
  for _ in $(seq 100); do [ -s "$1" ] && return 0; sleep 0.05; done
  echo "agent_stall: $1 never appeared" >&2
  exit 1
}

start_cluster() {
  local dir=$1
  mkdir -p "$dir"
  "$bin/mesos-master" --ip=127.0.0.1 --port=0 --port_file="$dir/mport" --work_dir="$dir/m" \
    >"$dir/master.log" 2>&1 &
  pids+=($!)
  wait_file "$dir/mport"
  CMESOS_LOOP_PROBE=1 "$bin/mesos-agent" --master="127.0.0.1:$(cat "$dir/mport")" \
    --ip=127.0.0.1 --port=0 --port_file="$dir/aport" --work_dir="$dir/a" \
    --resources='cpus:64;mem:65536;disk:10000' >"$dir/agent.log" 2>&1 &
  pids+=($!)
  wait_file "$dir/aport"
  sleep 1 # registration, and one quiet probe line for the baseline
}

report() {
  local what=$1 log=$2 seconds=$3 finished=$4
  # "longest stall X ms (Y ms not counting waits for a CPU), p99 Z ms, ..."
  awk -v what="$what" -v secs="$seconds" -v fin="$finished" '
    /Event loop over the last/ {
      for (i = 1; i <= NF; i++) {
        if ($i == "stall") { s = $(i + 1) + 0; if (s > max) max = s }
        if ($i == "(" || $i ~ /^\(/) { c = substr($i, 2) + 0; if (c > cmax) cmax = c }
        if ($i == "p99") { p = $(i + 1) + 0; if (p > pmax) pmax = p }
      }
      lines++
    }
    END {
      printf "%-28s %5d tasks finished in %6.2f s: longest stall %7.2f ms (%7.2f ms not counting CPU waits), worst p99 %6.2f ms over %d probe seconds\n",
        what, fin, secs, max, cmax, pmax, lines
    }' "$log"
}

echo "load: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"

start_cluster "$tmp/b2b"
t0=$(date +%s.%N)
"$bin/mesos-execute" --master="127.0.0.1:$(cat "$tmp/b2b/mport")" --name=b --command=true \
  --resources='cpus:0.1;mem:32' --count="$n" >"$tmp/b2b/exec.log" 2>&1 || true
t1=$(date +%s.%N)
sleep 2
report "back to back" "$tmp/b2b/agent.log" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
  "$(grep -c 'TASK_FINISHED' "$tmp/b2b/exec.log" || true)"
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
pids=()

start_cluster "$tmp/spaced"
t0=$(date +%s.%N)
execs=()
for i in $(seq "$n"); do
  "$bin/mesos-execute" --master="127.0.0.1:$(cat "$tmp/spaced/mport")" --name="s$i" \
    --command=true --resources='cpus:0.1;mem:32' >"$tmp/spaced/exec-$i.log" 2>&1 &
  execs+=($!)
  sleep "$(awk -v ms="$spacing_ms" 'BEGIN { printf "%.3f", ms / 1000 }')"
done
for p in "${execs[@]}"; do wait "$p" || true; done
t1=$(date +%s.%N)
sleep 2
report "spaced ${spacing_ms} ms" "$tmp/spaced/agent.log" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
  "$(cat "$tmp"/spaced/exec-*.log | grep -c 'TASK_FINISHED' || true)"
