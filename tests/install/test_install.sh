#!/usr/bin/env bash
# test_install: an installed cmesos tree works on its own.
#
#   test_install.sh <build dir> <source dir> <C compiler> <sanitize ON|OFF>
#
# It runs `cmake --install <build dir> --prefix <temp dir>`, checks that the programs land where
# the README says, starts the installed mesos-master and mesos-agent on 127.0.0.1 with --port=0,
# runs one task with the installed mesos-execute and requires TASK_FINISHED, then compiles and
# links examples/example-framework.c against the installed cmscheduler.pc with pkg-config (it
# runs nothing else). The installed directories come from the environment (CMESOS_*DIR, set by
# tests/CMakeLists.txt from GNUInstallDirs) so the test follows the real layout.
#
# Exit status: 0 passed, 1 failed, 77 skipped (with a line saying why). ITEST_KEEP=1 keeps the
# temp dir; on failure the daemon logs are printed and the temp dir is kept for a look.
set -uo pipefail

build=${1:?build dir}
src=${2:?source dir}
cc=${3:-cc}
sanitize=${4:-OFF}
sbindir=${CMESOS_SBINDIR:-sbin}
bindir=${CMESOS_BINDIR:-bin}
libdir=${CMESOS_LIBDIR:-lib}
libexecdir=${CMESOS_LIBEXECDIR:-libexec/mesos}

skip() {
  echo "SKIPPED: $*"
  exit 77
}
for tool in cmake pkg-config timeout; do
  command -v "$tool" >/dev/null 2>&1 || skip "test_install needs $tool in PATH"
done
command -v "$cc" >/dev/null 2>&1 || skip "test_install needs the C compiler $cc"

tmp=$(mktemp -d /tmp/cm-install-XXXXXX) || skip "cannot create a temp dir under /tmp"
prefix=$tmp/prefix
pids=()
failed=0

# Whatever happens, the daemons this script started are stopped; the temp dir goes unless the
# test failed (then the logs are worth keeping) or ITEST_KEEP is set.
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
  for log in "$tmp"/*.log; do
    [ -f "$log" ] || continue
    echo "---- $log (last 40 lines) ----"
    tail -n 40 "$log"
  done
  exit 1
}

# Waits up to 15 s for a daemon's --port_file and prints the port.
wait_port() { # port file, pid, name
  for _ in $(seq 1 150); do
    if [ -s "$1" ]; then
      cat "$1"
      return 0
    fi
    kill -0 "$2" 2>/dev/null || fail "$3 exited before writing $1"
    sleep 0.1
  done
  fail "$3 did not write $1 within 15 s"
}

echo "== cmake --install $build --prefix $prefix"
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 ||
  fail "cmake --install failed"

for f in "$sbindir/mesos-master" "$sbindir/mesos-agent" "$bindir/mesos-execute" \
  "$libexecdir/mesos-executor" "$libexecdir/mesos-docker-executor"; do
  [ -x "$prefix/$f" ] || fail "$prefix/$f is not installed"
done
pcdir=$prefix/$libdir/pkgconfig
[ -f "$pcdir/cmscheduler.pc" ] || fail "$pcdir/cmscheduler.pc is not installed"

echo "== cmscheduler.pc names the prefix it was installed to"
export PKG_CONFIG_PATH=$pcdir
pc_prefix=$(pkg-config --variable=prefix cmscheduler) || fail "pkg-config cannot read the .pc"
[ "$(realpath "$pc_prefix")" = "$(realpath "$prefix")" ] ||
  fail "cmscheduler.pc says prefix=$pc_prefix, installed to $prefix"
pc_libdir=$(pkg-config --variable=libdir cmscheduler)
[ -f "$pc_libdir/libcmscheduler.a" ] || fail "cmscheduler.pc libdir=$pc_libdir has no library"

echo "== installed mesos-master and mesos-agent on 127.0.0.1, --port=0"
mkdir -p "$tmp/master" "$tmp/agent"
"$prefix/$sbindir/mesos-master" --ip=127.0.0.1 --port=0 --port_file="$tmp/master.port" \
  --work_dir="$tmp/master" >"$tmp/master.log" 2>&1 &
pids+=($!)
master_port=$(wait_port "$tmp/master.port" "${pids[0]}" mesos-master) || { failed=1; exit 1; }

# The posix isolation and launcher need no root and no cgroups. No --launcher_dir: the
# installed agent must find the installed mesos-executor by itself (libexec relative to sbin),
# although this tree was configured for another CMAKE_INSTALL_PREFIX.
"$prefix/$sbindir/mesos-agent" --master="127.0.0.1:$master_port" --ip=127.0.0.1 --port=0 \
  --port_file="$tmp/agent.port" --work_dir="$tmp/agent" --resources='cpus:1;mem:256;disk:256' \
  --isolation=posix/cpu,posix/mem --launcher=posix \
  >"$tmp/agent.log" 2>&1 &
pids+=($!)
wait_port "$tmp/agent.port" "${pids[1]}" mesos-agent >/dev/null || { failed=1; exit 1; }

echo "== one task through the installed mesos-execute"
# mesos-execute waits for an offer, so it also covers the agent's registration.
timeout 60 "$prefix/$bindir/mesos-execute" --master="127.0.0.1:$master_port" \
  --name=install-test --command='echo hello from the installed tree' \
  --resources='cpus:0.1;mem:32' >"$tmp/execute.log" 2>&1
rc=$?
[ "$rc" = 0 ] || fail "mesos-execute exited with $rc"
grep -q TASK_FINISHED "$tmp/execute.log" || fail "mesos-execute did not report TASK_FINISHED"
# The agent clones containers through the small static launch helper, found beside it or in
# libexec; falling back to a fork of the agent would work but cost every launch its page tables.
grep -q "Launch helper started (pid [0-9]*, .*/mesos-launch-helper)" "$tmp/agent.log" ||
  fail "the installed agent did not start the installed mesos-launch-helper"

echo "== examples/example-framework.c against the installed cmscheduler.pc"
flags=()
# A sanitizer build installs an instrumented library, which links only with the runtime.
[ "$sanitize" = ON ] && flags=("-fsanitize=address,undefined")
# shellcheck disable=SC2046
"$cc" "${flags[@]}" -Wall -Wextra -Werror -o "$tmp/example-framework" \
  "$src/examples/example-framework.c" $(pkg-config --cflags --libs cmscheduler) \
  >"$tmp/compile.log" 2>&1 || fail "the example does not build against cmscheduler.pc"
[ -x "$tmp/example-framework" ] || fail "no example-framework binary"

echo "== examples/example-executor.c against the installed cmexecutor.pc"
for f in "$libexecdir/mesos-executor-full" "$libexecdir/mesos-default-executor"; do
  [ -x "$prefix/$f" ] || fail "$prefix/$f is not installed"
done
[ -f "$pcdir/cmexecutor.pc" ] || fail "$pcdir/cmexecutor.pc is not installed"
# shellcheck disable=SC2046
"$cc" "${flags[@]}" -Wall -Wextra -Werror -o "$tmp/example-executor" \
  "$src/examples/example-executor.c" $(pkg-config --cflags --libs cmexecutor) \
  >"$tmp/compile-executor.log" 2>&1 || fail "the example executor does not build against cmexecutor.pc"
# Outside an agent it must say which variable is missing and exit 1 (it loads and runs).
LD_LIBRARY_PATH="$(pkg-config --variable=libdir cmexecutor)" "$tmp/example-executor" \
  >"$tmp/example-executor.log" 2>&1 && fail "example-executor ran without an agent"
grep -q MESOS_FRAMEWORK_ID "$tmp/example-executor.log" ||
  fail "example-executor did not name the missing MESOS_FRAMEWORK_ID"

echo "test_install passed"
