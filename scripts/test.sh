#!/usr/bin/env bash
# Installs what is missing, builds cmesos twice (normal, and with ASan+UBSan) and runs the whole
# ctest suite in both builds, plus the clang-format check. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

bash scripts/deps.sh

jobs=$(nproc 2>/dev/null || echo 2)

# promtool (Prometheus's exposition-format checker) for the /metrics tests: taken out of Debian's
# prometheus package without installing it, because installing it starts a Prometheus server.
if ! command -v promtool >/dev/null 2>&1; then
  tools=$root/build-tools
  if [ ! -x "$tools/usr/bin/promtool" ]; then
    rm -rf "$tools" && mkdir -p "$tools/deb"
    if ! (cd "$tools/deb" && apt-get download -qq prometheus >/dev/null 2>&1) ||
      ! dpkg-deb -x "$tools"/deb/prometheus_*.deb "$tools"; then
      (cd "$tools/deb" && apt-get update -qq && apt-get download -qq prometheus) &&
        dpkg-deb -x "$tools"/deb/prometheus_*.deb "$tools" ||
        echo "== WARNING: promtool unavailable; the promtool cases will skip" >&2
    fi
    rm -rf "$tools/deb"
  fi
  export PATH="$tools/usr/bin:$PATH"
fi

echo "== clang-format check"
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find src include tests bench examples -name '*.[ch]')
if [ -n "$files" ]; then
  # shellcheck disable=SC2086
  clang-format --dry-run --Werror $files
fi

run_suite() {
  local dir=$1; shift
  echo "== build $dir ($*)"
  cmake -S "$root" -B "$root/$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$root/$dir" -j"$jobs"
  echo "== test $dir"
  if ! (cd "$root/$dir" && ctest --output-on-failure -j"$jobs" --timeout 300); then
    # The integration tier runs real daemons, ZooKeeper and kill -9 against wall-clock
    # deadlines; on an overloaded machine one of them can miss a deadline. Failed tests get one
    # more run, alone, and the retry is reported loudly; a test that fails twice fails the suite.
    echo "== WARNING: $dir: retrying the failed tests once, one at a time"
    (cd "$root/$dir" && ctest --rerun-failed --output-on-failure --timeout 300)
  fi
}

run_suite build
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_suite build-asan -DCMESOS_SANITIZE=ON
# Coverage-guided fuzzing: a short pass (about 10 s per harness) from the kept corpora.
bash scripts/fuzz.sh short
echo "== all tests passed (normal and sanitizer builds, fuzzing)"
