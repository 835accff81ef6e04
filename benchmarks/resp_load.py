"""Bulk loading with ``redis-cli --pipe``: the load files and the timed load itself.

Keys are ``key:%012d``, the names redis-benchmark's ``key:__rand_int__`` produces, so that a loaded
server answers redis-benchmark's GETs; each key is 16 bytes and each value 32.
"""

from __future__ import annotations

import time
from pathlib import Path

from .common import run

VALUE = b"v" * 32


def _set_command(index: int) -> bytes:
    key = b"key:%012d" % index
    return b"*3\r\n$3\r\nSET\r\n$16\r\n%s\r\n$32\r\n%s\r\n" % (key, VALUE)


def load_file(directory: Path, keys: int) -> Path:
    """A file of `keys` SET commands in RESP, written once per key count."""
    path = directory / f"load-{keys}.resp"
    if not path.exists():
        with open(path, "wb") as out:
            chunk = 50_000
            for start in range(0, keys, chunk):
                out.write(b"".join(_set_command(i) for i in range(start, min(keys, start + chunk))))
    return path


def pipe_load(port: int, path: Path, timeout: float = 900.0) -> float:
    """Seconds for ``redis-cli --pipe`` to send the file and read every reply."""
    started = time.perf_counter()
    completed = run(
        ["redis-cli", "-p", str(port), "--pipe", "--pipe-timeout", "60"], timeout, stdin_path=path
    )
    seconds = time.perf_counter() - started
    if "errors: 0" not in completed.stdout:
        raise RuntimeError(f"redis-cli --pipe reported errors: {completed.stdout.strip()[-300:]}")
    return seconds


def command(port: int, *args: str, timeout: float = 600.0) -> str:
    """One command through redis-cli, its reply as text."""
    return run(["redis-cli", "-p", str(port), *args], timeout).stdout.strip()


def socket_load(port: int, keys: int, batch: int = 200, timeout: float = 60.0) -> float:
    """Seconds to send the same SETs in pipelined batches of whole commands, reading every reply.

    The fallback when ``redis-cli --pipe`` fails: batches small enough to arrive in one read never
    split a command across reads.
    """
    import socket

    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        for start in range(0, keys, batch):
            count = min(keys, start + batch) - start
            sock.sendall(b"".join(_set_command(i) for i in range(start, start + count)))
            expected, received = count * len(b"+OK\r\n"), b""
            while len(received) < expected:
                chunk = sock.recv(expected - len(received))
                if not chunk:
                    raise RuntimeError("server closed the connection during the load")
                received += chunk
            if received != b"+OK\r\n" * count:
                raise RuntimeError(f"unexpected replies during the load: {received[:80]!r}")
    return time.perf_counter() - started
