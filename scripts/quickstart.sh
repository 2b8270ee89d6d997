#!/usr/bin/env bash
# Installs what is missing, builds cmesos, starts a local cluster (standalone mesos-master on
# 127.0.0.1:5050 and one mesos-agent on :5051, work dirs under build/cluster), runs demo tasks
# through mesos-execute and the example framework, then keeps the cluster up until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

bash scripts/deps.sh || {
  echo "cmesos: installing the dependencies failed (scripts/deps.sh, output above)" >&2
  exit 1
}

echo "== building cmesos"
if ! cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null ||
  ! cmake --build "$root/build" -j"$(nproc 2>/dev/null || echo 2)"; then
  echo "cmesos: the build failed (compiler output above); nothing was started" >&2
  exit 1
fi

bin=$root/build/bin
run=$root/build/cluster
rm -rf "$run"
mkdir -p "$run/master" "$run/agent"

# What was started, so that the exit path stops exactly what still runs and says so; when
# nothing runs (nothing started, or it already died) nothing is claimed.
pids=()
names=()
cleanup() {
  local alive=() what=()
  for i in "${!pids[@]}"; do
    if kill -0 "${pids[$i]}" 2>/dev/null; then
      alive+=("${pids[$i]}")
      what+=("${names[$i]}")
    fi
  done
  [ ${#alive[@]} -eq 0 ] && return 0
  echo
  echo "== stopping ${what[*]}"
  for pid in "${alive[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 0' INT TERM

# Says which daemon failed to start and where its log is, shows the end of the log, and exits.
start_failed() { # what, why, log
  echo "cmesos: $1 failed to start: $2" >&2
  echo "cmesos: its log is $3; the last lines:" >&2
  tail -n 20 "$3" >&2 || true
  exit 1
}

wait_for() { # url, what, pid, log
  for _ in $(seq 1 100); do
    # shellcheck disable=SC2086
    if curl -fsS $cacert "$1" >/dev/null 2>&1; then return 0; fi
    kill -0 "$3" 2>/dev/null || start_failed "$2" "it exited during start-up" "$4"
    sleep 0.1
  done
  start_failed "$2" "it did not answer $1 within 10 s" "$4"
}

# Secure by default: credentials, the executors' token key and the operator's password are
# generated for this cluster only (build/cluster/secrets, readable by root alone), and every
# door is locked: frameworks, agents and executors authenticate, and so does every HTTP
# endpoint except /health and /version (docs/security.md).
secrets=$run/secrets
mkdir -p "$secrets"
chmod 700 "$secrets"
umask 077
random_secret() { head -c 24 /dev/urandom | base64 | tr -d '/+=\n'; }
framework_secret=$(random_secret)
agent_secret=$(random_secret)
operator_secret=$(random_secret)
cat >"$secrets/credentials.json" <<JSON
{"credentials": [
  {"principal": "demo-framework", "secret": "$framework_secret"},
  {"principal": "agent", "secret": "$agent_secret"}
]}
JSON
cat >"$secrets/http_credentials.json" <<JSON
{"credentials": [{"principal": "operator", "secret": "$operator_secret"}]}
JSON
printf '{"principal": "agent", "secret": "%s"}\n' "$agent_secret" >"$secrets/agent_credential.json"
head -c 32 /dev/urandom >"$secrets/executor_jwt.key"
# TLS for every hop (LIBPROCESS_SSL_*, as Mesos): a CA made for this cluster signs one
# certificate for 127.0.0.1 that the master, the agent, the executors and the clients share.
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=cmesos quick start CA" \
  -keyout "$secrets/ca.key" -out "$secrets/ca.pem" >/dev/null 2>&1
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$secrets/san.ext"
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
  -keyout "$secrets/node.key" -out "$secrets/node.csr" >/dev/null 2>&1
openssl x509 -req -in "$secrets/node.csr" -CA "$secrets/ca.pem" -CAkey "$secrets/ca.key" \
  -CAcreateserial -days 30 -extfile "$secrets/san.ext" -out "$secrets/node.pem" >/dev/null 2>&1
umask 022
export LIBPROCESS_SSL_ENABLED=true
export LIBPROCESS_SSL_CERT_FILE=$secrets/node.pem
export LIBPROCESS_SSL_KEY_FILE=$secrets/node.key
export LIBPROCESS_SSL_CA_FILE=$secrets/ca.pem
export LIBPROCESS_SSL_VERIFY_CERT=true
operator="operator:$operator_secret"
cacert="--cacert $secrets/ca.pem"

for port in 5050 5051; do
  if curl -s -o /dev/null "http://127.0.0.1:$port/health" ||
    curl -sk -o /dev/null "https://127.0.0.1:$port/health"; then
    echo "cmesos: something already listens on 127.0.0.1:$port; stop it first (nothing was started)" >&2
    exit 1
  fi
done

echo "== web UI: https://127.0.0.1:5050/ (sign in as 'operator' with the password printed at the end;"
echo "   the certificate is signed by this run's own CA, $secrets/ca.pem, so the browser warns)"
echo "== starting mesos-master on 127.0.0.1:5050 (log: $run/master.log)"
"$bin/mesos-master" --ip=127.0.0.1 --port=5050 --work_dir="$run/master" \
  --authenticate_frameworks --authenticate_agents \
  --authenticate_http_readonly --authenticate_http_readwrite \
  --credentials="$secrets/credentials.json" --http_credentials="$secrets/http_credentials.json" \
  >"$run/master.log" 2>&1 &
pids+=($!)
names+=(mesos-master)
wait_for https://127.0.0.1:5050/health "mesos-master" "$!" "$run/master.log"

echo "== starting mesos-agent on 127.0.0.1:5051 (log: $run/agent.log)"
"$bin/mesos-agent" --master=127.0.0.1:5050 --ip=127.0.0.1 --port=5051 \
  --work_dir="$run/agent" --credential="$secrets/agent_credential.json" \
  --authenticate_http_readonly --authenticate_http_readwrite \
  --http_credentials="$secrets/http_credentials.json" \
  --authenticate_http_executors --jwt_secret_key="$secrets/executor_jwt.key" \
  >"$run/agent.log" 2>&1 &
pids+=($!)
names+=(mesos-agent)
wait_for https://127.0.0.1:5051/health "mesos-agent" "$!" "$run/agent.log"
registered=0
for _ in $(seq 1 100); do
  # shellcheck disable=SC2086
  if curl -fsS $cacert -u "$operator" https://127.0.0.1:5050/master/slaves | grep -q '"hostname"'; then
    registered=1
    break
  fi
  sleep 0.1
done
[ "$registered" = 1 ] ||
  start_failed "mesos-agent" "it runs but did not register with the master within 10 s" \
    "$run/agent.log"

# A demo that fails leaves the cluster's logs and sandboxes to look at before it is stopped.
demo_failed() { # what
  echo "cmesos: the $1 demo failed (its output is above)" >&2
  echo "cmesos: logs: $run/master.log $run/agent.log; sandboxes under $run/agent/slaves/" >&2
  exit 1
}

echo "== demo: three tasks through mesos-execute"
"$bin/mesos-execute" --master=127.0.0.1:5050 --name=demo --count=3 \
  --principal=demo-framework --secret="$framework_secret" \
  --command='echo "hello from cmesos task $MESOS_EXECUTOR_ID"; sleep 1' ||
  demo_failed mesos-execute

echo "== demo: the example framework (examples/example-framework.c)"
DEFAULT_PRINCIPAL=demo-framework DEFAULT_SECRET="$framework_secret" \
  "$bin/example-framework" 127.0.0.1:5050 3 || demo_failed example-framework

cat <<MSG

== the cluster is up (TLS and authentication on; secrets in $secrets)
  web UI:         https://127.0.0.1:5050/   (user: operator, password: $operator_secret)
  master state:   curl $cacert -u '$operator' https://127.0.0.1:5050/master/state
  agent state:    curl $cacert -u '$operator' https://127.0.0.1:5051/state
  metrics:        curl $cacert -u '$operator' https://127.0.0.1:5050/metrics
  clients:        export LIBPROCESS_SSL_ENABLED=true LIBPROCESS_SSL_CA_FILE=$secrets/ca.pem
  run a task:     $bin/mesos-execute --master=127.0.0.1:5050 --name=hi --command='echo hi' \\
                    --principal=demo-framework --secret='$framework_secret'
  sandboxes:      $run/agent/slaves/
  logs:           $run/master.log  $run/agent.log
Press Ctrl-C to stop the cluster.
MSG
wait
