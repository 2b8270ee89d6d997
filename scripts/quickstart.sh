#!/usr/bin/env bash
# Installs what is missing, builds cmesos, starts a local cluster (standalone mesos-master on
# 127.0.0.1:5050 and one mesos-agent on :5051, work dirs under build/cluster), runs demo tasks
# through mesos-execute and the example framework, then keeps the cluster up until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

bash scripts/deps.sh

echo "== building cmesos"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$root/build" -j"$(nproc 2>/dev/null || echo 2)"

bin=$root/build/bin
run=$root/build/cluster
rm -rf "$run"
mkdir -p "$run/master" "$run/agent"

pids=()
cleanup() {
  echo
  echo "== stopping the cluster"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 0' INT TERM

wait_for() { # url, what
  for _ in $(seq 1 100); do
    if curl -fsS "$1" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "cmesos: $2 did not come up; see the logs in $run" >&2
  exit 1
}

for port in 5050 5051; do
  if curl -s -o /dev/null "http://127.0.0.1:$port/health"; then
    echo "cmesos: something already listens on 127.0.0.1:$port; stop it first" >&2
    exit 1
  fi
done

echo "== starting mesos-master on 127.0.0.1:5050 (log: $run/master.log)"
"$bin/mesos-master" --ip=127.0.0.1 --port=5050 --work_dir="$run/master" >"$run/master.log" 2>&1 &
pids+=($!)
wait_for http://127.0.0.1:5050/health "mesos-master"

echo "== starting mesos-agent on 127.0.0.1:5051 (log: $run/agent.log)"
"$bin/mesos-agent" --master=127.0.0.1:5050 --ip=127.0.0.1 --port=5051 \
  --work_dir="$run/agent" >"$run/agent.log" 2>&1 &
pids+=($!)
wait_for http://127.0.0.1:5051/health "mesos-agent"
for _ in $(seq 1 100); do
  if curl -fsS http://127.0.0.1:5050/master/slaves | grep -q '"hostname"'; then break; fi
  sleep 0.1
done

echo "== demo: three tasks through mesos-execute"
"$bin/mesos-execute" --master=127.0.0.1:5050 --name=demo --count=3 \
  --command='echo "hello from cmesos task $MESOS_EXECUTOR_ID"; sleep 1'

echo "== demo: the example framework (examples/example-framework.c)"
"$bin/example-framework" 127.0.0.1:5050 3

cat <<MSG

== the cluster is up
  master state:   curl http://127.0.0.1:5050/master/state
  agent state:    curl http://127.0.0.1:5051/state
  metrics:        curl http://127.0.0.1:5050/metrics/snapshot
  run a task:     $bin/mesos-execute --master=127.0.0.1:5050 --name=hi --command='echo hi'
  sandboxes:      $run/agent/slaves/
  logs:           $run/master.log  $run/agent.log
Press Ctrl-C to stop the cluster.
MSG
wait
