"""HTTP load on loopback: 50 concurrent clients for 20 s against GET /events and against a sample
app behind EventLoggingMiddleware, each beside its floor and the seed's design, in one run.

- sample app: floor = the same FastAPI app without any middleware; anchor = the seed's design
  (BaseHTTPMiddleware writing each event synchronously on the event loop); ours = the pure ASGI
  middleware handing events to its writer thread.
- GET /events (a user key: authenticate, scope, read 100 events, record the read): floor =
  GET /health on the same server (no key, no read, no record).

Every server runs in its own process with MFN_EVENT_FSYNC=always (the default); after SIGTERM the
bench checks that every request left exactly its events, that every line parses and that the hash
chain is intact. Prints requests/s, p50 and p99 latency, and ratios to the floor.

    .venv/bin/python bench/bench_http.py [--seconds 20] [--clients 50]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers.events import all_events, chain_ok  # noqa: E402
from tests.http.load import LoadResult, hammer  # noqa: E402
from tests.http.server import process  # noqa: E402

USER_KEY_FILE = "user.key"


def seed_app() -> Any:
    """The anchor: the seed's middleware shape (a synchronous write inside ``dispatch``)."""
    from starlette.middleware.base import BaseHTTPMiddleware

    from mfn_tracker.settings import load_settings
    from mfn_tracker.store.writer import EventWriter
    from tests.http.sample_app import KeyGate, inner_app

    writer = EventWriter(load_settings())

    class SeedStyle(BaseHTTPMiddleware):
        async def dispatch(self, request: Any, call_next: Any) -> Any:
            started = time.perf_counter()
            response = await call_next(request)
            writer.write(
                {
                    "event_type": "api_request",
                    "user_id": "anonymous",
                    "action_description": f"{request.method} {request.url.path}",
                    "status": "success" if response.status_code < 400 else "failure",
                    "duration_ms": (time.perf_counter() - started) * 1000,
                    "metadata": {"query_params": dict(request.query_params)},
                }
            )
            return response

    return SeedStyle(KeyGate(inner_app()))


def serve(kind: str) -> None:
    """Child process: serve one sample app variant on a free port."""
    import uvicorn

    from mfn_tracker.http.server import bind
    from mfn_tracker.settings import load_settings
    from tests.http.sample_app import inner_app, sample_app

    apps = {"bare": inner_app, "ours": lambda: sample_app(load_settings()), "seed": seed_app}
    app = apps[kind]()
    sock = bind("127.0.0.1", 0)
    print(f"serving http://127.0.0.1:{sock.getsockname()[1]}", file=sys.stderr, flush=True)
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


def run_sample(kind: str, base: Path, *, clients: int, seconds: float) -> tuple[LoadResult, str]:
    storage = base / f"sample-{kind}"
    env = {"MFN_EVENT_STORAGE_PATH": str(storage)}
    with process([sys.executable, str(Path(__file__).resolve()), "--serve", kind], env=env) as url:
        result = hammer(f"{url}/hello?page=1&token=t0p-s3cret", clients=clients, seconds=seconds)
    if kind == "bare":
        return result, "no events (no middleware)"
    events = all_events(storage)
    ok = len(events) == result.requests and chain_ok(storage)
    leaked = any(b"t0p-s3cret" in p.read_bytes() for p in storage.glob("events_*"))
    check = f"{len(events)} events for {result.requests} requests, chain {'ok' if ok else 'BROKEN'}"
    return result, check + (", TOKEN ON DISK" if leaked else ", token scrubbed")


def run_api(base: Path, *, clients: int, seconds: float) -> tuple[LoadResult, LoadResult, str]:
    from mfn_tracker.access.keys import create_key
    from mfn_tracker.settings import load_settings
    from mfn_tracker.store.writer import EventWriter

    storage = base / "api"
    env = {"MFN_EVENT_STORAGE_PATH": str(storage)}
    os.environ.update(env)
    settings = load_settings()
    writer = EventWriter(settings)
    for i in range(2000):  # a day with some history to read from
        user = ("alice", "bob", "carol")[i % 3]
        writer.write({"event_type": "commit", "user_id": user, "action_description": f"c{i}"})
    writer.close()
    _, key = create_key(settings, user_id="alice", role="user")
    argv = [sys.executable, "-m", "mfn_tracker", "serve", "--port", "0", "--log-level", "warning"]
    with process(argv, env=env) as url:
        floor = hammer(f"{url}/health", clients=clients, seconds=seconds / 2)
        events = hammer(
            f"{url}/events", clients=clients, seconds=seconds, headers={"X-API-Key": key}
        )
    kinds = Counter(e["event_type"] for e in all_events(storage))
    ok = (
        kinds["api_request"] == events.requests
        and kinds["api_response"] == events.requests
        and chain_ok(storage)
    )
    check = (
        f"{kinds['api_request']} reads + {kinds['api_response']} responses recorded for "
        f"{events.requests} requests, chain {'ok' if ok else 'BROKEN'}"
    )
    return floor, events, check


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", choices=["bare", "ours", "seed"])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=50)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    clients, seconds = args.clients, args.seconds
    failed = False
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        base = Path(tmp)
        os.environ.update(
            {
                "MFN_EVENT_FSYNC": "always",
                "MFN_CONFIG_DIR": str(base / "config"),
                "MFN_EVENT_STORAGE_PATH": str(base / "unused"),
            }
        )
        os.environ.pop("MFN_ADMIN_KEYS", None)
        print(f"{clients} clients on 127.0.0.1, fsync=always, {os.cpu_count()} CPUs")
        print("sample app (GET /hello?page=1&token=...):")
        bare, _ = run_sample("bare", base, clients=clients, seconds=seconds / 2)
        print("  " + bare.line("floor: no middleware"))
        rows = {}
        for kind, label, share in (
            ("seed", "anchor: seed-style sync write", 0.5),
            ("ours", "ours: EventLoggingMiddleware", 1.0),
        ):
            result, check = run_sample(kind, base, clients=clients, seconds=seconds * share)
            rows[kind] = result
            print("  " + result.line(label) + f"   [{check}]")
            failed |= result.errors > 0 or "BROKEN" in check or "TOKEN" in check
        print(
            f"  ratios: ours/floor {rows['ours'].per_second / bare.per_second:.2f} req/s, "
            f"ours/seed {rows['ours'].per_second / rows['seed'].per_second:.2f} req/s, "
            f"p99 ours {rows['ours'].percentile(99):.1f} ms vs seed "
            f"{rows['seed'].percentile(99):.1f} ms"
        )
        print("API (mfn-tracker serve):")
        floor, events, check = run_api(base, clients=clients, seconds=seconds)
        print("  " + floor.line("floor: GET /health"))
        print("  " + events.line("GET /events (user key)") + f"   [{check}]")
        print(f"  ratio: /events / /health {events.per_second / floor.per_second:.2f} req/s")
        failed |= events.errors > 0 or floor.errors > 0 or "BROKEN" in check
        summary = {
            "sample_ours_rps": round(rows["ours"].per_second),
            "sample_ours_p99_ms": round(rows["ours"].percentile(99), 1),
            "events_rps": round(events.per_second),
            "events_p99_ms": round(events.percentile(99), 1),
        }
        print(json.dumps(summary))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
