#!/usr/bin/env python3
"""Prints the flag tables of docs/flags.md from the daemons' --help.

Usage: scripts/flags_doc.py BUILD_BIN_DIR [--write DOC]
Without --write the tables go to stdout; with it they replace everything from the line
"## mesos-master" to the end of DOC (docs/flags.md). tests/unit/check_flags_doc.sh checks that
the doc and --help agree. A flag whose help starts with "cmesos:" is marked "cmesos only".
"""
import re
import subprocess
import sys

SECTIONS = {
    "Mesos flags accepted with no effect": "no effect",
    "Mesos flags cmesos refuses": "refused",
    "Mesos flags implemented by a module": "implemented by",
}


def parse(text):
    rows, status, cur = [], "implemented", None
    for line in text.splitlines():
        for head, st in SECTIONS.items():
            if line.startswith(head):
                status = st
        m = re.match(r"^  --(\[no-\])?([a-z0-9_]+)(=VALUE)?\s*(.*)$", line)
        if m:
            cur = [m.group(2), status, m.group(4).strip()]
            rows.append(cur)
        elif cur and line.startswith(" " * 40):
            extra = line.strip()
            if extra.startswith("(also --"):
                cur[2] += " Deprecated name: `" + extra[6:-1] + "`."
            else:
                cur[2] += " " + extra
        elif not line.strip():
            cur = None
    return rows


def table(prog, binary, lines):
    out = subprocess.run([binary, "--help"], capture_output=True, text=True).stdout
    lines.append(f"| `{prog}` flag | cmesos | What cmesos does |")
    lines.append("|---|---|---|")
    for name, status, note in sorted(parse(out)):
        if status == "implemented by":
            m = re.match(r"^(.*?)( Deprecated name.*)?$", note)
            status = "implemented by " + m.group(1)
            note = "A build without it refuses the flag, naming the module." + (m.group(2) or "")
        if note.startswith("cmesos:"):
            status = "cmesos only"
        m = re.search(r"\(accepted with no effect: ([^)]*)\)", note)
        if status == "refused" and m:
            status = "refused (accepted: " + m.group(1) + ")"
        note = note.replace("|", "\\|").strip()
        lines.append(f"| `--{name}` | {status} | {note} |")
    lines.append("")


lines = ["## mesos-master", ""]
table("mesos-master", sys.argv[1] + "/mesos-master", lines)
lines += ["## mesos-agent", ""]
table("mesos-agent", sys.argv[1] + "/mesos-agent", lines)
text = "\n".join(lines)
if len(sys.argv) == 4 and sys.argv[2] == "--write":
    with open(sys.argv[3]) as f:
        doc = f.read()
    head = doc[: doc.index("## mesos-master")]
    with open(sys.argv[3], "w") as f:
        f.write(head + text)
else:
    sys.stdout.write(text)
