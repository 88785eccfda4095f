"""A bounded load generator on loopback: N concurrent clients for T seconds (or a request cap).

Shared by the test suite (a few seconds) and ``bench/bench_http.py`` (20 s).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

MAX_REQUESTS = 200_000  # a hard cap, whatever the duration


@dataclass
class LoadResult:
    seconds: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)  # transport errors (timeouts, resets)
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values()) + len(self.failures)

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]

    @property
    def errors(self) -> int:
        """Anything but 200: a status or a transport failure."""
        return len(self.failures) + sum(n for s, n in self.statuses.items() if s != 200)

    def line(self, label: str) -> str:
        return (
            f"{label:<34} {self.requests:>7} req {self.per_second:>8.0f} req/s "
            f"p50 {self.percentile(50):>6.1f} ms  p99 {self.percentile(99):>6.1f} ms  "
            f"errors {self.errors}"
        )


async def _client(
    url: httpx.URL,
    headers: dict[str, str],
    deadline: float,
    budget: list[int],
    result: LoadResult,
) -> None:
    """One keep-alive HTTP/1.1 connection, spoken with asyncio streams.

    httpx is what the functional tests use; as a load generator on two shared cores it spends
    more CPU than the server it measures, so this loop sends bytes and reads one response each.
    """
    host, port = url.host, url.port or 80
    lines = [f"GET {url.raw_path.decode()} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.monotonic() < deadline and budget[0] > 0:
            budget[0] -= 1
            started = time.perf_counter()
            try:
                writer.write(request)
                status = await _read_response(reader)
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                result.failures.append(f"{type(exc).__name__}: {exc}")
                return
            result.latencies_ms.append((time.perf_counter() - started) * 1000)
            result.statuses[status] += 1
    finally:
        writer.close()


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            await reader.readexactly(int(value))
            return status
    raise ValueError("response without Content-Length")


async def _hammer(
    url: str, *, clients: int, seconds: float, headers: dict[str, str], max_requests: int
) -> LoadResult:
    result = LoadResult()
    started = time.monotonic()
    deadline = started + seconds
    budget = [max_requests]
    target = httpx.URL(url)
    await asyncio.gather(
        *(_client(target, headers, deadline, budget, result) for _ in range(clients))
    )
    result.seconds = time.monotonic() - started
    return result


def hammer(
    url: str,
    *,
    clients: int = 50,
    seconds: float = 3.0,
    headers: dict[str, str] | None = None,
    max_requests: int = MAX_REQUESTS,
) -> LoadResult:
    """GET ``url`` from ``clients`` concurrent keep-alive connections until time or budget ends."""
    return asyncio.run(
        _hammer(
            url, clients=clients, seconds=seconds, headers=headers or {}, max_requests=max_requests
        )
    )
