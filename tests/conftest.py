"""Shared fixtures: real server processes on free ports.

``redis_server`` is a real redis-server, the oracle for what Redis replies; ``leakdb_server`` is a real
``leakdb-server`` process in memory mode.  Both live for the whole session; tests that need a clean
slate use the ``pair`` fixture, which flushes both.  ``start_leakdb`` starts extra servers with any
flags (persistence modes, passwords) and stops them at the end of the test.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

IN_CI = os.environ.get("CI") == "true"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise RuntimeError(f"server exited with {process.returncode}: {output}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    process.kill()
    raise RuntimeError(f"server did not listen on port {port} within {timeout}s")


class ServerProcess:
    """A server child process listening on ``port``."""

    def __init__(self, argv: list[str], port: int, cwd: str | None = None) -> None:
        self.argv = argv
        self.port = port
        self.cwd = cwd
        self.process = subprocess.Popen(
            argv,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        wait_for_port(port, self.process)

    def client(self, **kwargs) -> redis.Redis:
        return redis.Redis(port=self.port, **kwargs)

    def stop(self, sig: int | None = None, timeout: float = 15.0) -> int:
        if self.process.poll() is None:
            if sig is None:
                self.process.terminate()
            else:
                self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def output(self) -> str:
        self.stop()
        return self.process.stdout.read() if self.process.stdout else ""


def leakdb_argv(port: int, *flags: str) -> list[str]:
    return [sys.executable, "-m", "leakdb.server", "--port", str(port), *flags]


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if IN_CI:
            pytest.fail(f"{tool} is required in CI (.ci/run installs it)")
        pytest.skip(f"{tool} is not installed")
    return path


@pytest.fixture(scope="session")
def redis_server() -> Iterator[ServerProcess]:
    binary = require("redis-server")
    port = free_port()
    server = ServerProcess(
        [binary, "--port", str(port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"],
        port,
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def leakdb_server(tmp_path_factory) -> Iterator[ServerProcess]:
    port = free_port()
    workdir = tmp_path_factory.mktemp("leakdb-memory")
    server = ServerProcess(leakdb_argv(port, "--storage", "memory"), port, cwd=str(workdir))
    yield server
    server.stop()


@pytest.fixture
def pair(redis_server, leakdb_server) -> Iterator[tuple[redis.Redis, redis.Redis]]:
    """(redis, leakdb) clients on freshly flushed servers."""
    oracle = redis_server.client()
    ours = leakdb_server.client()
    oracle.flushall()
    ours.flushall()
    yield oracle, ours
    oracle.close()
    ours.close()


@pytest.fixture
def r(leakdb_server) -> Iterator[redis.Redis]:
    """A redis-py client on a flushed leakdb-server."""
    client = leakdb_server.client()
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def start_leakdb(tmp_path: Path):
    """Start a leakdb-server with extra flags in tmp_path (or `cwd`); stopped after the test."""
    started: list[ServerProcess] = []

    def start(*flags: str, cwd: Path | None = None, port: int | None = None) -> ServerProcess:
        port = port or free_port()
        server = ServerProcess(leakdb_argv(port, *flags), port, cwd=str(cwd or tmp_path))
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def raw_exchange(port: int, payload: bytes, timeout: float = 2.0, expect_close: bool = False) -> bytes:
    """Send raw bytes and return everything the server answers until it goes quiet (or closes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(payload)
        chunks = []
        sock.settimeout(0.3 if not expect_close else timeout)
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def raw_commands(port: int, *commands: tuple[str, ...], resp3: bool = True) -> bytes:
    """Send whole commands (after HELLO 3 when `resp3`) over a raw socket; return the reply bytes."""
    payload = b"HELLO 3\r\n" if resp3 else b""
    for command in commands:
        parts = [b"*%d\r\n" % len(command)]
        parts.extend(b"$%d\r\n%s\r\n" % (len(arg.encode()), arg.encode()) for arg in command)
        payload += b"".join(parts)
    return raw_exchange(port, payload)


def reply_of(client: redis.Redis, *args) -> object:
    """The reply to one command, or ('error', text) when the server answers with an error."""
    try:
        return client.execute_command(*args)
    except redis.ResponseError as exc:
        return ("error", str(exc))


def assert_same(pair: tuple[redis.Redis, redis.Redis], *args) -> object:
    """Send one command to redis-server and to leakdb; their replies must be identical."""
    oracle, ours = pair
    expected = reply_of(oracle, *args)
    actual = reply_of(ours, *args)
    assert actual == expected, f"{args!r}: redis replied {expected!r}, leakdb {actual!r}"
    return actual


def masked(reply: bytes) -> bytes:
    """The reply with integers, client ids and addresses replaced, so two servers can be compared."""
    reply = re.sub(rb":\d+\r\n", b":N\r\n", reply)
    return re.sub(rb"(id|addr|laddr|fd|age|idle)=\S+", rb"\1=X", reply)


def assert_same_bytes(oracle_port: int, our_port: int, payload: bytes) -> bytes:
    expected = masked(raw_exchange(oracle_port, payload))
    actual = masked(raw_exchange(our_port, payload))
    assert actual == expected, f"{payload!r}: redis {expected!r}, leakdb {actual!r}"
    return actual
