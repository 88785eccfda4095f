"""Read the watcher's day files inside the test container (its python3, stdlib only).

Usage: events_probe.py STORAGE (count TYPE | files TYPE | sources TYPE | last | chain)
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path


def lines(storage: Path) -> list[bytes]:
    out: list[bytes] = []
    for path in sorted(storage.glob("events_*.jsonl")):
        out.extend(line for line in path.read_bytes().split(b"\n") if line)
    return sorted(out, key=lambda line: json.loads(line)["seq"])


def main(argv: list[str]) -> int:
    raw = lines(Path(argv[1]))
    events = [json.loads(line) for line in raw]
    command = argv[2]
    picked = [e for e in events if len(argv) < 4 or e["event_type"] == argv[3]]
    if command == "count":
        print(len(picked))
    elif command == "files":
        for e in picked:
            print("\n".join(e.get("files_changed") or []))
    elif command == "sources":
        for e in picked:
            print(" ".join(e.get("files_changed") or []), e["metadata"].get("source"))
    elif command == "last":
        print(events[-1]["event_type"] if events else "")
    elif command == "chain":
        prev = "0" * 64
        for seq, line in enumerate(raw, 1):
            event = json.loads(line)
            if event["seq"] != seq or event["prev"] != prev:
                print(f"chain broken at seq {seq}")
                return 1
            prev = hashlib.sha256(line).hexdigest()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
