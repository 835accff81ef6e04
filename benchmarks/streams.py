"""Streams with a consumer group: XADD, then XREADGROUP + XACK, on leakdb-server and redis-server.

redis-benchmark cannot acknowledge what it read, so one Python connection drives both servers with
the same pre-encoded requests: XADD in pipelines of BATCH entries, then a consumer that reads BATCH
entries with XREADGROUP and acknowledges them with one XACK, until the group has consumed them all.
Entries per second for each phase and for the whole (add, read and acknowledge every entry), medians
over rounds, servers alternated within each round.  The client's own cost is in both measurements.
"""

from __future__ import annotations

import socket
import time
from collections import defaultdict

import hiredis

from .common import Measurement, Results, median, progress
from .servers import REDIS, RunningServer, ServerPool, leakdb_spec

SECTION = "streams"
CONTENDERS = (leakdb_spec("memory"), REDIS)
BATCH = 100
VALUE = b"v" * 32
TESTS = ("XADD", "XREADGROUP+XACK", "XADD+XREADGROUP+XACK")


def _command(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(arg), arg) for arg in args)


class _Client:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.reader = hiredis.Reader()

    def replies(self, payload: bytes, count: int) -> list:
        self.sock.sendall(payload)
        out: list = []
        while len(out) < count:
            reply = self.reader.gets()
            if reply is False:
                chunk = self.sock.recv(1 << 20)
                if not chunk:
                    raise RuntimeError("server closed the connection")
                self.reader.feed(chunk)
                continue
            if isinstance(reply, hiredis.ReplyError):
                raise RuntimeError(f"server error: {reply}")
            out.append(reply)
        return out

    def close(self) -> None:
        self.sock.close()


def run_once(port: int, key: bytes, entries: int) -> dict[str, float]:
    """Seconds-derived entries/s of each phase on a fresh stream `key`."""
    client = _Client(port)
    client.replies(_command(b"XGROUP", b"CREATE", key, b"workers", b"$", b"MKSTREAM"), 1)
    add = _command(b"XADD", key, b"*", b"field", VALUE) * BATCH
    started = time.perf_counter()
    for _ in range(entries // BATCH):
        client.replies(add, BATCH)
    added = time.perf_counter()
    read = _command(
        b"XREADGROUP", b"GROUP", b"workers", b"c1", b"COUNT", b"%d" % BATCH, b"STREAMS", key, b">"
    )
    consumed = 0
    while consumed < entries:
        (reply,) = client.replies(read, 1)
        ids = [entry[0] for entry in reply[0][1]]
        (acked,) = client.replies(_command(b"XACK", key, b"workers", *ids), 1)
        if acked != len(ids):
            raise RuntimeError(f"XACK acknowledged {acked} of {len(ids)}")
        consumed += len(ids)
    done = time.perf_counter()
    client.replies(_command(b"DEL", key), 1)
    client.close()
    return {
        "XADD": entries / (added - started),
        "XREADGROUP+XACK": entries / (done - added),
        "XADD+XREADGROUP+XACK": entries / (done - started),
    }


def measure(pool: ServerPool, results: Results, rounds: int, entries: int) -> None:
    servers: list[RunningServer] = []
    for spec in CONTENDERS:
        progress(f"{SECTION}: starting {spec.name}")
        servers.append(pool.start(spec))
    samples: dict[tuple[str, str], list[float]] = defaultdict(list)
    for round_number in range(1, rounds + 1):
        for server in servers:
            progress(f"{SECTION}: round {round_number}/{rounds} {entries} entries {server.spec.name}")
            key = b"bench:stream:%d" % round_number
            for test, rate in run_once(server.port, key, entries).items():
                samples[(server.spec.name, test)].append(rate)
    for (contender, test), values in samples.items():
        results.add(Measurement(SECTION, contender, test, "ops_per_s", median(values), BATCH, 1, entries))
    for server in servers:
        pool.stop(server)


def report_section(results: Results) -> list[str]:
    items = results.section(SECTION)
    lines = ["", "## Streams with a consumer group (one connection, batches of 100 entries)", ""]
    if not items:
        return [*lines, "Not measured (the run stopped before this section)."]
    lines.append(
        "Entries/s, median over rounds, ratio to redis-server in brackets: XADD pipelined, then "
        "XREADGROUP COUNT 100 and one XACK per batch until the group has read and acknowledged all."
    )
    header = ["contender", *TESTS]
    rows = []
    for contender in dict.fromkeys(m.contender for m in items):
        cells = [contender]
        for test in TESTS:
            value = results.find(SECTION, contender, test, "ops_per_s")
            redis = results.find(SECTION, REDIS.name, test, "ops_per_s")
            ratio = f" ({value / redis:.2f}x)" if value and redis else ""
            cells.append("-" if value is None else f"{value:,.0f}{ratio}")
        rows.append(cells)
    table = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return [*lines, "", *table, *("| " + " | ".join(row) + " |" for row in rows)]
