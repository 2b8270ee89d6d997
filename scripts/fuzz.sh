#!/usr/bin/env bash
# Builds the libFuzzer harnesses (tests/fuzz, clang, ASan+UBSan) into build-fuzz/ and runs them.
#
#   scripts/fuzz.sh build              build only
#   scripts/fuzz.sh short [names...]   about FUZZ_SECONDS (10) s per harness from the kept corpora (CI)
#   scripts/fuzz.sh long N [names...]  N inputs per harness (-runs=N), one harness after another
#   scripts/fuzz.sh merge [names...]   minimize the kept corpora (-merge=1) with what runs found
#
# Names are harness names without the fuzz_ prefix (default: all). New inputs a run finds go to
# build-fuzz/corpus/<name>/ (never into the tree); crashes to build-fuzz/artifacts/<name>/.
# Exits non-zero when a harness crashes, leaks, times out or fails to build.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bdir=${FUZZ_BUILD_DIR:-$root/build-fuzz}
mode=${1:-short}
shift || true
runs=
if [ "$mode" = long ]; then
  runs=${1:?usage: scripts/fuzz.sh long N [names...]}
  shift
fi

build() {
  local cc=${FUZZ_CC:-clang}
  command -v "$cc" >/dev/null || { echo "fuzz: $cc not found (apt-get install clang)" >&2; exit 1; }
  local launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache)
  CC=$cc cmake -S "$root" -B "$bdir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMESOS_FUZZ=ON \
    "${launcher[@]}" >/dev/null
  cmake --build "$bdir" -j"$(nproc 2>/dev/null || echo 2)" --target fuzz_all
}

harnesses() {
  if [ $# -gt 0 ]; then
    printf '%s\n' "$@"
  else
    # Those the tree builds (fuzz_auth and fuzz_acls need their modules, tests/fuzz/CMakeLists.txt).
    for f in "$root"/tests/fuzz/fuzz_*.c; do
      [ -x "$bdir/bin/$(basename "$f" .c)" ] && basename "$f" .c | sed 's/^fuzz_//'
    done
  fi
}

# Runs one harness with the given libFuzzer options; the kept corpus is read, never written.
run_one() {
  local name=$1; shift
  local bin=$bdir/bin/fuzz_$name kept=$root/tests/fuzz/corpus/$name
  local work=$bdir/corpus/$name art=$bdir/artifacts/$name/
  mkdir -p "$work" "$art" "$kept"
  local opts=(-timeout=25 -rss_limit_mb=2048 -max_len=65536 -artifact_prefix="$art"
              -print_final_stats=1)
  local dict=$root/tests/fuzz/dict/$name.dict
  # The harnesses that read Mesos messages share the dictionary of their JSON names.
  case $name in pbjson|codec|recordio|master_*|agent) dict=$root/tests/fuzz/dict/mesos.dict ;; esac
  [ -f "$dict" ] && opts+=(-dict="$dict")
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    "$bin" "${opts[@]}" "$@" "$work" "$kept"
}

case "$mode" in
  build) build ;;
  short)
    build
    failed=()
    mkdir -p "$bdir/logs"
    for h in $(harnesses "$@"); do
      log=$bdir/logs/$h.log
      if run_one "$h" -max_total_time="${FUZZ_SECONDS:-10}" >"$log" 2>&1; then
        echo "== fuzz $h: $(grep -E '^Done [0-9]+ runs' "$log" | tail -n1)," \
          "$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n1)"
      else
        tail -n 60 "$log"
        echo "== fuzz $h: FAILED (log $log)"
        failed+=("$h")
      fi
    done
    if [ ${#failed[@]} -gt 0 ]; then
      echo "== fuzz: FAILED: ${failed[*]} (inputs in $bdir/artifacts/)" >&2
      exit 1
    fi
    echo "== fuzz: all harnesses ran clean"
    ;;
  long)
    build
    for h in $(harnesses "$@"); do
      run_one "$h" -runs="$runs"
    done
    ;;
  merge)
    build
    for h in $(harnesses "$@"); do
      kept=$root/tests/fuzz/corpus/$h
      mkdir -p "$kept"
      tmp=$(mktemp -d)
      mkdir -p "$bdir/corpus/$h"
      mkdir -p "$bdir/artifacts/$h"
      "$bdir/bin/fuzz_$h" -merge=1 -max_len=65536 -timeout=25 -artifact_prefix="$bdir/artifacts/$h/" "$tmp" "$kept" "$bdir/corpus/$h"
      rm -rf "$kept"
      mkdir -p "$kept"
      # Files named by content, as libFuzzer names them.
      cp "$tmp"/* "$kept"/ 2>/dev/null || true
      rm -rf "$tmp"
      echo "== $h: $(ls "$kept" | wc -l) files, $(du -sb "$kept" | cut -f1) bytes"
    done
    ;;
  *) echo "usage: scripts/fuzz.sh build|short|long N|merge [names...]" >&2; exit 2 ;;
esac
