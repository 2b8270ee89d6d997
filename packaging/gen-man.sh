#!/usr/bin/env bash
# gen-man.sh: writes a man page for a cmesos program from its --help and --version.
#
#   gen-man.sh PROGRAM SECTION "one-line description" OUT
#
# help2man is used when installed; otherwise the page is built here: NAME, SYNOPSIS (the
# usage line), DESCRIPTION (the summary), OPTIONS (one .TP entry per flag, with the help text
# joined from its wrapped lines, and the sections --help prints after the flags), VERSION.
set -euo pipefail
prog=${1:?program} section=${2:?section} desc=${3:?description} out=${4:?output}
name=$(basename "$prog")
if command -v help2man >/dev/null 2>&1; then
  exec help2man --no-info --section="$section" --name="$desc" --output="$out" "$prog"
fi
help=$("$prog" --help)
version=$("$prog" --version 2>/dev/null || true)
version=${version%%$'\n'*}
esc() { sed -e 's/\\/\\e/g' -e 's/^\./\\\&./' -e "s/^'/\\\\\\&'/" -e 's/-/\\-/g'; }
{
  echo ".TH \"$(echo "$name" | tr '[:lower:]' '[:upper:]')\" \"$section\" \"\" \"$version\" \"cmesos\""
  echo ".SH NAME"
  echo "$name \\- $desc" | sed 's/-/\\-/g; s/^\(.*\)\\\\-/\1\\-/'
  echo ".SH SYNOPSIS"
  # Here-strings, not pipes from printf: a reader that stops early (sed q, awk exit) would kill
  # the writer with SIGPIPE, which pipefail turns into a failed build once --help is long.
  sed -n '/^Usage: /{s/^Usage: //p;q}' <<<"$help" | esc
  echo ".SH DESCRIPTION"
  awk 'NR > 1 && /^  --/ { exit } NR > 1 && !/^Usage:/ && NF' <<<"$help" | esc
  echo ".SH OPTIONS"
  awk '
    /^  --/ {
      if (flag != "") print ".TP\n" flag "\n" text
      line = substr($0, 3); split(line, parts, /  +/); flag = "\\fB" parts[1] "\\fR"
      text = substr(line, length(parts[1]) + 1); sub(/^ +/, "", text); started = 1; next
    }
    started && substr($0, 1, 20) ~ /^ +$/ { t = $0; sub(/^ +/, "", t); text = (text == "" ? t : text " " t); next }
    started && NF && !/^ / {
      if (flag != "") print ".TP\n" flag "\n" text; flag = ""; text = ""
      print ".SS \"" $0 "\""; next
    }
    END { if (flag != "") print ".TP\n" flag "\n" text }' <<<"$help" |
    sed -e 's/-/\\-/g' -e 's/\\\\fB/\\fB/; s/\\\\fR/\\fR/'
  echo ".SH VERSION"
  echo "$version" | esc
  echo ".SH SEE ALSO"
  echo "The cmesos documentation: docs/flags.md lists what cmesos does with every Mesos flag."
} >"$out"
