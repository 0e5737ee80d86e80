"""Keep only the audit events of one process tree (used by record.sh).

Reads an audit log, follows pid -> ppid links from SYSCALL records in file order and writes every
record whose event belongs to a descendant of `--root-pid`. Anything else that ran on the machine
while recording (other users' commands) is dropped, so it never reaches the repository.
"""

from __future__ import annotations

import argparse
import re
import sys

SERIAL = re.compile(rb"msg=audit\(\d+\.\d+:(\d+)\)")
FIELD = re.compile(rb"(?:^| )(pid|ppid)=(\d+)")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root-pid", type=int, required=True)
    ap.add_argument("log")
    args = ap.parse_args()
    with open(args.log, "rb") as fh:
        lines = fh.read().splitlines(keepends=True)
    ours = {args.root_pid}
    keep: set[bytes] = set()
    for line in lines:
        if not line.startswith(b"type=SYSCALL "):
            continue
        m = SERIAL.search(line)
        fields = dict(FIELD.findall(line.split(b"\x1d", 1)[0]))
        if not m or b"pid" not in fields:
            continue
        pid, ppid = int(fields[b"pid"]), int(fields.get(b"ppid", b"0"))
        if ppid in ours or pid in ours:
            ours.add(pid)
            keep.add(m.group(1))
    out = sys.stdout.buffer
    for line in lines:
        m = SERIAL.search(line)
        if m and m.group(1) in keep:
            out.write(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
