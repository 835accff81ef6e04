"""DUMP and RESTORE throughput: leakdb-server (memory mode) against a redis-server started in the same
run, for a small string, a listpack hash, a 1000-element list, a 200-member skiplist sorted set, a
500-entry stream and a 64 KB compressible string, pipelined 100 deep over one connection.

    python -m benchmarks.dump_restore [--calls N]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import time
from pathlib import Path

import hiredis

from .servers import REDIS, ServerPool, leakdb_spec

PIPELINE = 100
VALUES = {
    "string 10 B": [("SET", "k", "0123456789")],
    "hash 20 fields": [("HSET", "k", *[f"field{n}" for n in range(40)])],
    "list 1000": [("RPUSH", "k", *[f"element {n}" for n in range(1000)])],
    "zset 200": [("ZADD", "k", *[part for n in range(200) for part in (n / 7, f"member {n}")])],
    "stream 500": [("XADD", "k", f"{n}-1", "field", f"value {n}") for n in range(1, 501)],
    "string 64 KB": [("SET", "k", "log line: nothing to report " * 2400)],
}


def _request(*args: object) -> bytes:
    parts = [arg if isinstance(arg, bytes) else str(arg).encode() for arg in args]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(part), part) for part in parts)


class Connection:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.reader = hiredis.Reader()

    def call(self, requests: list[bytes]) -> list[object]:
        self.sock.sendall(b"".join(requests))
        replies: list[object] = []
        while len(replies) < len(requests):
            reply = self.reader.gets()
            if reply is False:
                self.reader.feed(self.sock.recv(1 << 20))
            else:
                replies.append(reply)
        return replies


def rate(connection: Connection, request: bytes, calls: int) -> float:
    """Calls per second of `request`, sent in pipelines of PIPELINE."""
    batch = [request] * PIPELINE
    started = time.perf_counter()
    for _ in range(max(1, calls // PIPELINE)):
        connection.call(batch)
    return max(1, calls // PIPELINE) * PIPELINE / (time.perf_counter() - started)


def measure(port: int, calls: int) -> dict[str, tuple[float, float]]:
    connection = Connection(port)
    results = {}
    for name, commands in VALUES.items():
        connection.call([_request("DEL", "k"), *[_request(*command) for command in commands]])
        (payload,) = connection.call([_request("DUMP", "k")])
        dump_rate = rate(connection, _request("DUMP", "k"), calls)
        restore_rate = rate(connection, _request("RESTORE", "k", 0, payload, "REPLACE"), calls)
        results[name] = (dump_rate, restore_rate)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000, help="calls per measurement (default 5000)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians are shown")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as root, ServerPool(Path(root)) as pool:
        servers = [pool.start(REDIS), pool.start(leakdb_spec("memory"))]
        rounds: dict[str, list[dict[str, tuple[float, float]]]] = {"redis": [], "leakdb": []}
        for _ in range(options.rounds):
            for label, server in zip(rounds, servers, strict=True):
                rounds[label].append(measure(server.port, options.calls))
    header = ("value", "DUMP/s redis", "leakdb", "ratio", "RESTORE/s redis", "leakdb", "ratio")
    print("{:16} {:>13} {:>9} {:>6}   {:>16} {:>9} {:>6}".format(*header))
    for name in VALUES:
        medians = {
            label: [statistics.median(run[name][i] for run in runs) for i in (0, 1)]
            for label, runs in rounds.items()
        }
        (redis_dump, redis_restore), (ours_dump, ours_restore) = medians["redis"], medians["leakdb"]
        print(
            f"{name:16} {redis_dump:13.0f} {ours_dump:9.0f} {ours_dump / redis_dump:6.2f}   "
            f"{redis_restore:16.0f} {ours_restore:9.0f} {ours_restore / redis_restore:6.2f}"
        )


if __name__ == "__main__":
    main()
