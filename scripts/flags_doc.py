#!/usr/bin/env python3
"""Prints the flag tables of docs/flags.md from the daemons' --help.

Usage: scripts/flags_doc.py BUILD_BIN_DIR > /tmp/tables.md, then paste the tables into
docs/flags.md. tests/unit/check_flags_doc.sh checks that the two agree.
"""
import re
import subprocess
import sys

SECTIONS = {
    "Mesos flags accepted with no effect": "no effect",
    "Mesos flags cmesos refuses": "refused",
    "Mesos flags implemented by a module": "implemented by",
}
CMESOS_ONLY = {"port_file", "cgroups_max_pids", "fetcher_timeout"}


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


def table(prog, binary):
    out = subprocess.run([binary, "--help"], capture_output=True, text=True).stdout
    print(f"| `{prog}` flag | cmesos | What cmesos does |")
    print("|---|---|---|")
    for name, status, note in sorted(parse(out)):
        if status == "implemented by":
            m = re.match(r"^(.*?)( Deprecated name.*)?$", note)
            status = "implemented by " + m.group(1)
            note = "A build without it refuses the flag, naming the module." + (m.group(2) or "")
        if name in CMESOS_ONLY:
            status = "cmesos only"
        m = re.search(r"\(accepted with no effect: ([^)]*)\)", note)
        if status == "refused" and m:
            status = "refused (accepted: " + m.group(1) + ")"
        note = note.replace("|", "\\|").strip()
        print(f"| `--{name}` | {status} | {note} |")
    print()


table("mesos-master", sys.argv[1] + "/mesos-master")
table("mesos-agent", sys.argv[1] + "/mesos-agent")
