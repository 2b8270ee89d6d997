#!/usr/bin/env bash
# test_package: the Debian package installs a working, configurable service.
#
#   test_package.sh <build dir>
#
# 1. Builds the .deb with cpack (CPackConfig.cmake of the build dir) into a temp dir.
# 2. Installs it with `dpkg-deb -x` into a fresh directory (not a chroot: the programs run from
#    that tree with the machine's shared libraries; maintainer scripts are not run) and checks
#    the package's files: daemons, executor, CLI programs, library, headers, .pc, man pages,
#    systemd units, the /etc layout and its conffiles, and Provides/Conflicts: mesos.
# 3. Writes etc/mesos/zk, etc/mesos-master/quorum and other flag files (plain, ?flag and
#    ?no-flag, /etc/mesos-slave overridden by /etc/mesos-agent) and checks the command line the
#    installed mesos-init-wrapper prints with --dry-run (MESOS_INIT_ROOT points it at the tree).
# 4. Runs the wrappers: the installed master and agent start with those flags (checked in
#    /master/state), and a task started by the installed mesos-execute finishes on the agent.
#    With java and the Debian ZooKeeper jar installed, a ZooKeeper server is started and the
#    master runs with --zk from etc/mesos/zk; without them that step uses a standalone master
#    (the agent gets --master from etc/mesos-agent/master) and says so.
#
# Exit status: 0 passed, 1 failed, 77 skipped (with a line saying why). ITEST_KEEP=1 keeps the
# temp dir; on failure the logs are printed and the temp dir is kept.
set -uo pipefail
build=${1:?build dir}
build=$(cd "$build" && pwd)

skip() {
  echo "SKIPPED: $*"
  exit 77
}
for tool in cpack dpkg-deb timeout curl; do
  command -v "$tool" >/dev/null 2>&1 || skip "test_package needs $tool in PATH"
done
[ -f "$build/CPackConfig.cmake" ] || skip "no CPackConfig.cmake in $build"

tmp=$(mktemp -d /tmp/cm-package-XXXXXX) || skip "cannot create a temp dir under /tmp"
root=$tmp/root
pids=()
failed=0
finish() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  if [ "$failed" != 0 ] || [ "${ITEST_KEEP:-0}" = 1 ]; then
    echo "temp dir kept: $tmp"
  else
    rm -rf "$tmp"
  fi
}
trap finish EXIT
fail() {
  failed=1
  echo "FAIL: $*"
  for log in "$tmp"/*.log "$root"/var/log/mesos/*.INFO; do
    [ -f "$log" ] || continue
    echo "---- $log (last 30 lines) ----"
    tail -n 30 "$log"
  done
  exit 1
}
wait_port() { # port file, pid, name
  for _ in $(seq 1 300); do
    if [ -s "$1" ]; then
      cat "$1"
      return 0
    fi
    kill -0 "$2" 2>/dev/null || fail "$3 exited before writing $1"
    sleep 0.1
  done
  fail "$3 did not write $1 within 30 s"
}

echo "== cpack -G DEB"
start=$(date +%s)
(cd "$tmp" && cpack -G DEB -B "$tmp/pkg" --config "$build/CPackConfig.cmake") >"$tmp/cpack.log" 2>&1 ||
  fail "cpack failed"
deb=$(find "$tmp/pkg" -maxdepth 1 -name "*.deb" | head -n 1)
[ -n "$deb" ] || fail "cpack made no .deb"
echo "   $(basename "$deb") in $(($(date +%s) - start)) s"

echo "== the package's metadata and files"
info=$(dpkg-deb -f "$deb" Package Provides Conflicts Replaces Depends)
echo "$info" | grep -q '^Package: cmesos$' || fail "package name: $info"
for field in Provides Conflicts Replaces; do
  echo "$info" | grep -q "^$field: mesos$" || fail "$field is not mesos: $info"
done
echo "$info" | grep -q '^Depends: .*libevent' || fail "Depends lacks libevent: $info"
dpkg-deb -x "$deb" "$root" || fail "dpkg-deb -x failed"
dpkg-deb -e "$deb" "$tmp/control" || fail "dpkg-deb -e failed"
for f in usr/sbin/mesos-master usr/sbin/mesos-agent usr/sbin/mesos-init-wrapper \
  usr/bin/mesos-execute usr/libexec/mesos/mesos-executor usr/libexec/mesos/mesos-launch-helper; do
  [ -x "$root/$f" ] || fail "$f is missing or not executable"
done
for f in usr/lib/libcmscheduler.so usr/lib/pkgconfig/cmscheduler.pc \
  usr/include/cmesos/scheduler.h usr/share/man/man8/mesos-master.8 \
  usr/share/man/man8/mesos-agent.8 usr/share/man/man1/mesos-execute.1 \
  usr/lib/systemd/system/mesos-master.service usr/lib/systemd/system/mesos-agent.service \
  etc/mesos/zk etc/default/mesos etc/default/mesos-master etc/default/mesos-agent \
  etc/mesos-master/quorum; do
  [ -f "$root/$f" ] || fail "$f is missing"
done
if [ -x "$build/bin/mesos" ]; then
  [ -x "$root/usr/bin/mesos" ] || fail "the mesos CLI is not in the package"
  [ -f "$root/usr/share/man/man1/mesos.1" ] || fail "mesos(1) is not in the package"
fi
grep -q '^/etc/mesos/zk$' "$tmp/control/conffiles" || fail "etc/mesos/zk is not a conffile"
grep -q '^ExecStart=/usr/sbin/mesos-init-wrapper master$' \
  "$root/usr/lib/systemd/system/mesos-master.service" || fail "mesos-master.service ExecStart"
grep -q '^ExecStart=/usr/sbin/mesos-init-wrapper agent$' \
  "$root/usr/lib/systemd/system/mesos-agent.service" || fail "mesos-agent.service ExecStart"
grep -q '^Alias=mesos-slave.service$' "$root/usr/lib/systemd/system/mesos-agent.service" ||
  fail "mesos-agent.service has no mesos-slave alias"
grep -q '^KillMode=process$' "$root/usr/lib/systemd/system/mesos-agent.service" ||
  fail "mesos-agent.service would kill the executors on restart"
grep -q '^\.SH OPTIONS' "$root/usr/share/man/man8/mesos-master.8" || fail "mesos-master.8 has no OPTIONS"
grep -q 'quorum' "$root/usr/share/man/man8/mesos-master.8" || fail "mesos-master.8 lacks --quorum"
"$root/usr/sbin/mesos-master" --version | grep -q '^cmesos .*(Mesos API 1\.11\.0)$' ||
  fail "installed mesos-master --version"

echo "== configuration files -> command line (mesos-init-wrapper --dry-run)"
zk_url=zk://127.0.0.1:2181/mesos
zk_pids=()
if command -v java >/dev/null 2>&1 && [ -f /usr/share/java/zookeeper.jar ]; then
  zk_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null) ||
    zk_port=$((20000 + RANDOM % 20000))
  mkdir -p "$tmp/zk/data"
  printf 'tickTime=500\ndataDir=%s\nclientPort=%s\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n4lw.commands.whitelist=ruok\n' \
    "$tmp/zk/data" "$zk_port" >"$tmp/zk/zoo.cfg"
  java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp /usr/share/java/zookeeper.jar \
    org.apache.zookeeper.server.ZooKeeperServerMain "$tmp/zk/zoo.cfg" >"$tmp/zookeeper.log" 2>&1 &
  pids+=($!)
  zk_pids+=($!)
  zk_url=zk://127.0.0.1:$zk_port/mesos
fi
echo "$zk_url" >"$root/etc/mesos/zk"
echo 1 >"$root/etc/mesos-master/quorum"
echo 127.0.0.1 >"$root/etc/mesos-master/ip"
echo 0 >"$root/etc/mesos-master/port"
echo "$tmp/master.port" >"$root/etc/mesos-master/port_file"
echo packaged >"$root/etc/mesos-master/cluster"
touch "$root/etc/mesos-master/?no-hostname_lookup"
echo '2secs' >"$root/etc/mesos-master/zk_session_timeout"
mkdir -p "$root/etc/mesos-slave" "$root/etc/mesos-agent"
echo 'cpus:1;mem:512' >"$root/etc/mesos-slave/resources"
echo 'cpus:1;mem:256;disk:256' >"$root/etc/mesos-agent/resources" # wins over mesos-slave
echo 127.0.0.1 >"$root/etc/mesos-agent/ip"
echo 0 >"$root/etc/mesos-agent/port"
echo "$tmp/agent.port" >"$root/etc/mesos-agent/port_file"
echo posix/cpu,posix/mem >"$root/etc/mesos-slave/isolation"
echo posix >"$root/etc/mesos-agent/launcher"
echo mesos >"$root/etc/mesos-agent/containerizers"
echo 1mins >"$root/etc/mesos-agent/cgroups_destroy_timeout"
touch "$root/etc/mesos-agent/?no-strict" "$root/etc/mesos-agent/README~"
echo 'MESOS_LOGGING_LEVEL=INFO' >>"$root/etc/default/mesos"

export MESOS_INIT_ROOT=$root
got=$("$root/usr/sbin/mesos-init-wrapper" --dry-run master) || fail "wrapper --dry-run master failed"
want="$root/usr/sbin/mesos-master
--zk=$zk_url
--?no-hostname_lookup
--cluster=packaged
--ip=127.0.0.1
--port=0
--port_file=$tmp/master.port
--quorum=1
--zk_session_timeout=2secs
--work_dir=$root/var/lib/mesos/master
--log_dir=$root/var/log/mesos"
want=${want/--\?no-hostname_lookup/--no-hostname_lookup}
[ "$got" = "$want" ] || fail "master command line:
$got
expected:
$want"
got=$("$root/usr/sbin/mesos-init-wrapper" --dry-run agent) || fail "wrapper --dry-run agent failed"
want="$root/usr/sbin/mesos-agent
--master=$zk_url
--isolation=posix/cpu,posix/mem
--resources=cpus:1;mem:256;disk:256
--no-strict
--cgroups_destroy_timeout=1mins
--containerizers=mesos
--ip=127.0.0.1
--launcher=posix
--port=0
--port_file=$tmp/agent.port
--work_dir=$root/var/lib/mesos/agent
--log_dir=$root/var/log/mesos"
[ "$got" = "$want" ] || fail "agent command line:
$got
expected:
$want"
# mesos-slave is the agent's old name.
# The whole output is taken first: with pipefail, `| head -n 1` could end the wrapper with
# SIGPIPE and fail the check although the wrapper was right.
slave_dry=$("$root/usr/sbin/mesos-init-wrapper" --dry-run slave) ||
  fail "wrapper --dry-run slave failed"
case "${slave_dry%%$'\n'*}" in
*mesos-agent) ;;
*) fail "wrapper slave does not run mesos-agent: ${slave_dry%%$'\n'*}" ;;
esac

echo "== the wrapper starts the installed master and agent; a task runs"
if [ ${#zk_pids[@]} = 0 ]; then
  echo "   (no java/ZooKeeper: standalone master, etc/mesos/zk removed)"
  rm -f "$root/etc/mesos/zk"
else
  zk_ok=0
  for _ in $(seq 1 300); do
    if [ "$(timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$zk_port && printf ruok >&3 && cat <&3" 2>/dev/null)" = imok ]; then
      zk_ok=1
      break
    fi
    kill -0 "${zk_pids[0]}" 2>/dev/null || fail "ZooKeeper exited during start"
    sleep 0.1
  done
  [ "$zk_ok" = 1 ] || fail "ZooKeeper did not answer ruok within 30 s"
  echo "   ZooKeeper serves on 127.0.0.1:$zk_port"
fi
"$root/usr/sbin/mesos-init-wrapper" master >"$tmp/master.log" 2>&1 &
pids+=($!)
master_port=$(wait_port "$tmp/master.port" "${pids[-1]}" mesos-master) || { failed=1; exit 1; }
[ ${#zk_pids[@]} = 0 ] && echo "127.0.0.1:$master_port" >"$root/etc/mesos-agent/master"
"$root/usr/sbin/mesos-init-wrapper" agent >"$tmp/agent.log" 2>&1 &
pids+=($!)
wait_port "$tmp/agent.port" "${pids[-1]}" mesos-agent >/dev/null || { failed=1; exit 1; }

# With ZooKeeper the master serves its state once elected.
state=
for _ in $(seq 1 300); do
  state=$(curl -sf "http://127.0.0.1:$master_port/master/state") && break
  sleep 0.1
done
[ -n "$state" ] || fail "GET /master/state did not succeed within 30 s"
for kv in '"cluster":"packaged"' '"quorum":"1"' '"zk_session_timeout":"2secs"' \
  '"hostname_lookup":"false"'; do
  echo "$state" | tr -d ' \n' | grep -q "$kv" || fail "/master/state flags lack $kv"
done
if [ ${#zk_pids[@]} != 0 ]; then
  echo "$state" | tr -d ' \n' | grep -q "\"zk\":\"$zk_url\"" || fail "/master/state lacks zk"
fi
[ -f "$root/var/log/mesos/mesos-master.INFO" ] || fail "no var/log/mesos/mesos-master.INFO"
# --containerizers is implemented (docs/containers.md); a flag cmesos does not implement is warned.
grep -q "Flag '--cgroups_destroy_timeout' has no effect" "$root/var/log/mesos/mesos-agent.INFO" ||
  fail "the agent did not warn about --cgroups_destroy_timeout"

timeout 60 "$root/usr/bin/mesos-execute" --master="127.0.0.1:$master_port" \
  --name=package-test --command='echo hello from the package' \
  --resources='cpus:0.1;mem:32' >"$tmp/execute.log" 2>&1
rc=$?
[ "$rc" = 0 ] || fail "mesos-execute exited with $rc"
grep -q TASK_FINISHED "$tmp/execute.log" || fail "mesos-execute did not report TASK_FINISHED"
echo "test_package passed in $(($(date +%s) - start)) s"
