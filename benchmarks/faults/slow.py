"""Slow readers: clients that pipeline big MGETs and never read, and another client's PING latency.

Each stalled client sends MGETS requests for KEYS_PER_MGET keys of VALUE_SIZE bytes (2 MB replies)
with a tiny receive window and never reads; meanwhile a probe client sends PING every 10 ms for a
few seconds.  Reported: the probe's median, p99 and worst latency, the server's peak RSS, and how many
stalled clients are still connected (client eviction may drop some).  The same script runs against
redis-server where its memory allows (it builds every reply: clients x MGETS x 2 MB).
"""

from __future__ import annotations

import socket
import statistics
import threading
import time
from dataclasses import dataclass

import redis

from ..servers import ServerPool, ServerSpec

MGETS = 20
KEYS_PER_MGET = 20
VALUE_SIZE = 100_000


@dataclass
class SlowResult:
    contender: str
    clients: int
    settings: str
    ping_p50_ms: float
    ping_p99_ms: float
    ping_max_ms: float
    rss_peak_mb: float
    connected: int
    evicted: int


def _request() -> bytes:
    keys = [b"v%d" % n for n in range(KEYS_PER_MGET)]
    mget = b"*%d\r\n$4\r\nMGET\r\n" % (len(keys) + 1) + b"".join(b"$%d\r\n%s\r\n" % (len(k), k) for k in keys)
    return mget * MGETS


def run(
    pool: ServerPool, spec: ServerSpec, clients: int, seconds: float, extra: tuple[str, ...] = ()
) -> SlowResult:
    server = pool.start(spec, extra=extra)
    admin = redis.Redis(port=server.port, socket_timeout=120)
    for n in range(KEYS_PER_MGET):
        admin.set(f"v{n}", b"x" * VALUE_SIZE)
    request = _request()
    stalled: list[socket.socket] = []
    latencies: list[float] = []
    peak = [server.rss_mb()]
    done = threading.Event()

    def watch_memory() -> None:
        while not done.wait(0.2):
            peak[0] = max(peak[0], server.rss_mb())

    watcher = threading.Thread(target=watch_memory, daemon=True)
    watcher.start()
    probe = redis.Redis(port=server.port, socket_timeout=300)
    for _ in range(clients):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", server.port))
        sock.setblocking(False)
        try:
            sock.send(request)
        except BlockingIOError:
            pass
        stalled.append(sock)
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        started = time.perf_counter()
        probe.ping()
        latencies.append((time.perf_counter() - started) * 1000)
        time.sleep(0.01)
    done.set()
    watcher.join(5)
    info = admin.info()
    connected = int(info["connected_clients"]) - 2  # the admin and the probe
    evicted = int(info.get("evicted_clients", 0))
    for sock in stalled:
        sock.close()
    probe.close()
    admin.close()
    pool.stop(server)
    latencies.sort()
    return SlowResult(
        contender=spec.name,
        clients=clients,
        settings=" ".join(extra) or "defaults",
        ping_p50_ms=statistics.median(latencies),
        ping_p99_ms=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        ping_max_ms=latencies[-1],
        rss_peak_mb=peak[0],
        connected=connected,
        evicted=evicted,
    )


def describe(result: SlowResult) -> list[str]:
    return [
        result.contender,
        str(result.clients),
        result.settings,
        f"{result.ping_p50_ms:.2f}",
        f"{result.ping_p99_ms:.2f}",
        f"{result.ping_max_ms:.1f}",
        f"{result.rss_peak_mb:.0f}",
        f"{result.connected} / {result.evicted}",
    ]
