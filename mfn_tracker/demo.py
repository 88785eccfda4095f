"""``make demo``: the main job end to end, on a throwaway remote, two clones and a fresh log.

Hooks record commits, a push, a fetch and a merge; the watch daemon records file changes; keys
scope what each reader sees; ``verify`` proves the chain; ``report`` writes the reviewer's page.
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


class Demo:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.env = {
            **os.environ,
            "MFN_EVENT_STORAGE_PATH": str(work / "events"),
            "MFN_CONFIG_DIR": str(work / "config"),
            "MFN_EVENT_FSYNC": "batch",
            "GIT_AUTHOR_NAME": "Alice",
            "GIT_AUTHOR_EMAIL": "alice@example.com",
            "GIT_COMMITTER_NAME": "Alice",
            "GIT_COMMITTER_EMAIL": "alice@example.com",
        }
        self.env.pop("MFN_API_KEY", None)

    def run(self, *args: str, cwd: Path | None = None, show: bool = True, key: str = "") -> str:
        env = {**self.env, **({"MFN_API_KEY": key} if key else {})}
        if show:
            print(f"\n$ {' '.join(args)}", flush=True)
        proc = subprocess.run(
            args, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=120
        )
        if show:
            sys.stdout.write(proc.stdout)
            sys.stdout.write(proc.stderr)
        if proc.returncode not in (0, 3):  # 3: the access denial the demo shows on purpose
            raise SystemExit(f"demo step failed ({proc.returncode}): {' '.join(args)}")
        return proc.stdout

    def tracker(self, *args: str, key: str = "", show: bool = True) -> str:
        return self.run(sys.executable, "-m", "mfn_tracker", *args, key=key, show=show)

    def git(self, repo: Path, *args: str) -> None:
        self.run("git", *args, cwd=repo, show=False)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="mfn-demo-"))
    demo = Demo(work)
    remote, alice, bob = work / "remote.git", work / "alice", work / "bob"
    print(f"Demo directory: {work}")
    demo.run("git", "init", "-q", "--bare", "-b", "main", str(remote), show=False)
    demo.run("git", "clone", "-q", str(remote), str(alice), show=False)
    demo.tracker("hooks", "install", "--repo", str(alice))

    write(alice / "src" / "parser.py", "def parse(text):\n    return text.split()\n")
    demo.git(alice, "add", ".")
    demo.git(alice, "commit", "-q", "-m", "Add parser")
    demo.git(alice, "push", "-q", "origin", "main")

    demo.run("git", "clone", "-q", str(remote), str(bob), show=False)
    demo.tracker("hooks", "install", "--repo", str(bob), show=False)
    write(bob / "README.md", "# Demo\n")
    demo.git(bob, "add", ".")
    demo.git(bob, "commit", "-q", "-m", "Add README")
    demo.git(bob, "push", "-q", "origin", "main")
    demo.git(alice, "fetch", "-q", "origin")
    demo.git(alice, "merge", "-q", "--no-edit", "origin/main")

    print(f"\n$ mfn-tracker watch {alice}   (in the background)", flush=True)
    watcher = subprocess.Popen(
        [sys.executable, "-m", "mfn_tracker", "watch", str(alice)],
        env=demo.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(3)  # the initial scan
    write(alice / "notes.txt", "first draft\n")
    write(alice / "src" / "parser.py", "def parse(text):\n    return text.split(',')\n")
    (alice / "README.md").unlink()
    time.sleep(2)  # settle period, then one event per path
    watcher.send_signal(signal.SIGTERM)
    watcher.wait(timeout=30)

    admin = demo.tracker("keys", "create", "--user", "auditor", "--role", "admin", show=False)
    me = pwd.getpwuid(os.geteuid()).pw_name  # hooks record the OS account that ran git
    user = demo.tracker("keys", "create", "--user", me, "--role", "user", show=False)
    print("\n(keys created for an admin and for a user; only their hashes are stored)")
    demo.tracker("events", "list", "--limit", "20", key=admin.strip())
    demo.tracker("events", "list", "--user", "someone-else", "--limit", "5", key=user.strip())
    demo.tracker("events", "list")  # anonymous: denied, exit 3
    demo.tracker("events", "stats", key=admin.strip())
    demo.tracker("verify")
    report = work / "report.html"
    demo.tracker("report", "-o", str(report), key=admin.strip())
    print(f"\nDemo files are in {work} (open {report} in a browser)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
