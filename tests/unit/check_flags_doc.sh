#!/usr/bin/env bash
# docs/flags.md must agree with the daemons' --help: every flag a daemon knows is in the doc's
# table for that daemon with the same status, and every row of the table is a flag the daemon
# knows. Usage: check_flags_doc.sh BIN_DIR DOC
set -u
bin=$1 doc=$2
fail=0

# "name status" lines from --help: implemented | no effect | refused | elsewhere.
help_classes() {
  "$bin/$1" --help | awk '
    /^Mesos flags accepted with no effect/ { st = "noeffect" }
    /^Mesos flags cmesos refuses/ { st = "refused" }
    /^Mesos flags implemented by a module/ { st = "elsewhere" }
    match($0, /^  --(\[no-\])?[a-z0-9_]+/) {
      name = substr($0, RSTART + 4, RLENGTH - 4); sub(/^\[no-\]/, "", name)
      print name, (st == "" ? "implemented" : st)
    }' | sort
}

# The same from the doc's table for the program.
doc_classes() {
  awk -v prog="$1" '
    index($0, "| `" prog "` flag |") == 1 { on = 1; next }
    on && !/^\|/ { on = 0 }
    on && /^\| `--/ {
      split($0, c, "|"); name = c[2]; st = c[3]
      gsub(/[ `]/, "", name); sub(/^--/, "", name); sub(/^ +/, "", st)
      if (st ~ /^implemented by /) cls = "elsewhere"
      else if (st ~ /^(implemented|cmesos only)/) cls = "implemented"
      else if (st ~ /^no effect/) cls = "noeffect"
      else if (st ~ /^refused/) cls = "refused"
      else cls = "BAD:" st
      print name, cls
    }' "$doc" | sort
}

for prog in mesos-master mesos-agent; do
  h=$(help_classes $prog) d=$(doc_classes $prog)
  [ -n "$h" ] || { echo "FAIL: $prog --help lists no flags"; fail=1; continue; }
  [ -n "$d" ] || { echo "FAIL: $doc has no table for $prog"; fail=1; continue; }
  echo "$prog: $(echo "$h" | wc -l) flags in --help, $(echo "$d" | wc -l) rows in $doc"
  # One pass over both lists. A flag the module now implements may still be marked
  # "implemented by" in the doc.
  problems=$(awk -v prog="$prog" -v doc="$doc" '
    FNR == NR { h[$1] = $2; next }
    { d[$1] = $2 }
    END {
      for (n in h) {
        if (!(n in d)) print "FAIL: " prog " --" n " (" h[n] ") is missing from " doc
        else if (d[n] != h[n] && !(d[n] == "elsewhere" && h[n] == "implemented"))
          print "FAIL: " prog " --" n " is \x27" h[n] "\x27 in --help but \x27" d[n] "\x27 in " doc
      }
      for (n in d) if (!(n in h)) print "FAIL: " doc " lists " prog " --" n ", which " prog " does not know"
    }' <(echo "$h") <(echo "$d"))
  if [ -n "$problems" ]; then
    echo "$problems" | sort
    fail=1
  fi
done
[ $fail = 0 ] && echo "docs/flags.md agrees with --help" ||
  echo "Regenerate the tables: scripts/flags_doc.py BUILD/bin --write docs/flags.md"
exit $fail
