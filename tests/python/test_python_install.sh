#!/usr/bin/env bash
# test_python_install: the installed mesos Python package works on its own.
#
#   test_python_install.sh <build dir> <source dir> <python dir (relative to the prefix)> <python3>
#
# Installs the build into a temp prefix (`cmake --install --prefix`), checks the package's
# files are there, that its C extension loads the installed libcmscheduler/libcmexecutor (not
# the build tree's), and runs the driver's main fake-master case from the installed package.
# Exit status: 0 passed, 1 failed, 77 skipped.
set -uo pipefail
build=${1:?build dir}
src=${2:?source dir}
pydir=${3:?python dir}
python=${4:?python3}

tmp=$(mktemp -d /tmp/cm-pyinstall-XXXXXX) || { echo "SKIPPED: no temp dir"; exit 77; }
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAILED: $*"; exit 1; }

cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log"; fail "cmake --install"; }
site=$tmp/prefix/$pydir
for f in mesos/__init__.py mesos/interface/__init__.py mesos/interface/mesos_pb2.py \
         mesos/native/__init__.py mesos/scheduler/__init__.py mesos/executor/__init__.py \
         mesos/_internal/scheduler_driver.py mesos/_internal/executor_driver.py; do
  [ -f "$site/$f" ] || fail "$site/$f is missing"
done
ext=$(ls "$site"/mesos/_internal/_cmesos*.so 2>/dev/null | head -1)
[ -n "$ext" ] || fail "the C extension is not installed under $site"
for lib in libcmscheduler libcmexecutor; do
  where=$(ldd "$ext" | awk -v l="$lib" '$1 ~ l {print $3}')
  case "$where" in
    "$tmp"/prefix/*) ;;
    *) fail "$ext loads $lib from '$where', not from the installed prefix" ;;
  esac
done
cd "$src/tests/python" || fail "no $src/tests/python"
export PYTHONPATH=$site:$src/tests/python PYTHONDONTWRITEBYTECODE=1
"$python" -c "
import sys, mesos.native, mesos.interface.mesos_pb2 as pb
assert mesos.native.__file__.startswith(sys.argv[1]), mesos.native.__file__
assert pb.Status.Name(pb.DRIVER_STOPPED) == 'DRIVER_STOPPED'
" "$site" || fail "importing the installed package"
"$python" -m unittest test_sched_driver.DriverTest.test_tasks_messages_implicit_acks_and_teardown ||
  fail "the installed driver against the fake master"
echo "installed package OK under $site"
