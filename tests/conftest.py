"""Shared fixtures: real server processes on free ports, and waits that never guess at timing.

``redis_server`` is a real redis-server, the oracle for what Redis replies; ``leakdb_server`` is a real
``leakdb-server`` process in memory mode.  Both live for the whole session (one pair per xdist
worker); tests that need a clean slate use the ``pair`` fixture, which flushes both.  ``start_leakdb``
starts extra servers with any flags (persistence modes, passwords) and stops them at the end of the
test.  Every server listens on a free port of its own: nothing here touches a Redis on 6379.

The oracle is required: without redis-server, redis-cli and redis-benchmark (Redis 7.0) the session
stops at once with one line saying how to install them, unless LEAKDB_SKIP_ORACLE=1 is set, in which
case the tests that need them are skipped and the run says how many.

No test decides anything by how long something took.  Raw exchanges read until the server closes the
connection after a trailing QUIT (never "until it goes quiet"), waits poll for a condition with a
deadline that only a hung process reaches (:data:`HANG_SECONDS`), and deadlines are checked against
the wall clock read just before and just after the command that set them.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import redis
from hypothesis import HealthCheck, settings
from redis.backoff import NoBackoff
from redis.retry import Retry

# -- the oracle ------------------------------------------------------------------------------------------

ORACLE_TOOLS = ("redis-server", "redis-cli", "redis-benchmark")
ORACLE_VERSION = "7.0."  # the Redis whose replies LeakDB reproduces (7.0.15)
INSTALL = "apt-get install redis-server redis-tools"
SKIP_ORACLE = os.environ.get("LEAKDB_SKIP_ORACLE", "") not in ("", "0")
SKIP_REASON = "needs the Redis oracle, skipped by LEAKDB_SKIP_ORACLE"


def oracle_problem() -> str | None:
    """Why the oracle cannot be used (one line), or None when redis-server 7.0 and its tools are there."""
    missing = [tool for tool in ORACLE_TOOLS if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} not found"
    version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True, timeout=60)
    found = re.search(r"v=(\S+)", version.stdout)
    if found is None or not found.group(1).startswith(ORACLE_VERSION):
        return (
            f"redis-server is {found.group(1) if found else 'of an unknown version'}, not {ORACLE_VERSION}x"
        )
    return None


def pytest_configure(config: pytest.Config) -> None:
    if SKIP_ORACLE or hasattr(config, "workerinput"):  # xdist workers: the controller has checked
        return
    problem = oracle_problem()
    if problem is not None:
        raise pytest.UsageError(
            f"{problem}: the tests compare LeakDB with a real Redis 7.0; install it with "
            f"`{INSTALL}` (Debian 12, Ubuntu 24.04) or run scripts/test, which does; "
            "LEAKDB_SKIP_ORACLE=1 skips the tests that need it"
        )


_oracle_skips: list[str] = []  # ids of the tests skipped for want of the oracle (xdist: all workers')


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and SKIP_REASON in str(report.longrepr):
        _oracle_skips.append(report.nodeid)


def pytest_terminal_summary(terminalreporter) -> None:
    if SKIP_ORACLE:
        terminalreporter.write_line(
            f"LEAKDB_SKIP_ORACLE is set: {len(_oracle_skips)} tests that need redis-server, redis-cli "
            "or redis-benchmark were skipped",
            yellow=True,
        )


def require(tool: str) -> str:
    """The path of an oracle tool; the session has already failed if it is missing, unless opted out."""
    path = shutil.which(tool)
    if path is None or SKIP_ORACLE:
        if SKIP_ORACLE:
            pytest.skip(f"{tool} {SKIP_REASON}")
        pytest.fail(f"{tool} is not installed ({INSTALL})")
    return path


# Hypothesis: no per-example deadline and no "too slow" health check, both of which measure time.
settings.register_profile("leakdb", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("leakdb")


# -- waiting without timing assertions ------------------------------------------------------------------

# Bounds every wait for something that must happen.  Only a stuck process gets near it, on any
# machine; it is never how long something is expected to take.
HANG_SECONDS = 120.0
T = TypeVar("T")


def wait_until(condition: Callable[[], T], what: str, timeout: float = HANG_SECONDS) -> T:
    """Poll `condition` until it returns something true, and return that; fail if it never does."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting for {what} after {timeout:.0f}s: something is stuck")
        time.sleep(0.01)


def wall_ms() -> int:
    """The wall clock in whole milliseconds, truncated as Redis's mstime() and LeakDB's now_ms() are."""
    return time.time_ns() // 1_000_000


def assert_deadline(deadline: int, ttl_ms: int, before_ms: int, after_ms: int) -> None:
    """`deadline` was set to now + `ttl_ms` by a command sent after `before_ms` and answered by `after_ms`."""
    assert before_ms + ttl_ms <= deadline <= after_ms + ttl_ms, (deadline, ttl_ms, before_ms, after_ms)


def crash_iterations(default: int) -> int:
    """How many kill/restart rounds a crash loop runs: LEAKDB_CRASH_ITERATIONS, for a longer search."""
    return int(os.environ.get("LEAKDB_CRASH_ITERATIONS", default))


# -- server processes --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, output: Callable[[], str] | None = None) -> None:
    deadline = time.monotonic() + HANG_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}: {output() if output else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=HANG_SECONDS):
                return
        except OSError:
            time.sleep(0.02)
    process.kill()
    raise RuntimeError(f"server did not listen on port {port} within {HANG_SECONDS:.0f}s")


class ServerProcess:
    """A server child process listening on ``port``; what it prints goes to a file (a pipe nobody
    reads could fill up and stall it), read back by :meth:`output`."""

    def __init__(self, argv: list[str], port: int, cwd: str | None = None) -> None:
        self.argv = argv
        self.port = port
        self.cwd = cwd
        # Read after the process ends (output()); deleted by the OS once this object is gone.
        self.log = tempfile.TemporaryFile(mode="w+", prefix="leakdb-test-server-")  # noqa: SIM115
        self.process = subprocess.Popen(argv, cwd=cwd, stdout=self.log, stderr=subprocess.STDOUT, text=True)
        wait_for_port(port, self.process, self.printed)

    def client(self, **kwargs) -> redis.Redis:
        """A redis-py client that does not retry: a dropped connection shows at once (redis-py 8 would
        reconnect, backing off for seconds, and hide it)."""
        return redis.Redis(port=self.port, **{"retry": Retry(NoBackoff(), 0), **kwargs})

    def wait(self) -> int:
        """The exit status, once the process has ended by itself (SHUTDOWN, a signal sent elsewhere)."""
        return self.process.wait(HANG_SECONDS)

    def stop(self, sig: int | None = None) -> int:
        if self.process.poll() is None:
            if sig is None:
                self.process.terminate()
            else:
                self.process.send_signal(sig)
            try:
                self.process.wait(HANG_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def printed(self) -> str:
        """Everything the process has printed so far."""
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def output(self) -> str:
        self.stop()
        return self.printed()


def leakdb_argv(port: int, *flags: str) -> list[str]:
    return [sys.executable, "-m", "leakdb.server", "--port", str(port), *flags]


def redis_argv(port: int, *flags: str) -> list[str]:
    """A private redis-server: no RDB/AOF files, loopback only."""
    binary = require("redis-server")
    return [binary, "--port", str(port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1", *flags]


@pytest.fixture(scope="session")
def redis_server() -> Iterator[ServerProcess]:
    port = free_port()
    server = ServerProcess(redis_argv(port), port)
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


# -- raw exchanges ---------------------------------------------------------------------------------------

# Multibulk: LeakDB refuses an inline request that follows a multibulk one in the same read (Redis
# takes it), so an inline QUIT after a multibulk payload would end the exchange with an error.
QUIT = b"*1\r\n$4\r\nQUIT\r\n"
QUIT_REPLY = b"+OK\r\n"


def read_until_closed(sock: socket.socket, timeout: float = HANG_SECONDS) -> bytes:
    """Everything the server sends until it closes the connection."""
    sock.settimeout(timeout)
    chunks = []
    while True:
        try:
            chunk = sock.recv(1 << 20)
        except ConnectionResetError:
            break
        except TimeoutError:
            raise AssertionError(f"the server neither answered nor closed for {timeout:.0f}s") from None
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def raw_session(port: int, payload: bytes, timeout: float = HANG_SECONDS) -> bytes:
    """Send `payload` then QUIT on a fresh connection; every byte the server sends until it closes.

    QUIT runs at once in any state a payload can leave (inside MULTI, subscribed, not authenticated),
    so the read ends when the server has answered everything, however slow it is.  Its ``+OK`` is
    the last reply, unless the payload closed the connection itself.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(payload + QUIT)
        except OSError:
            pass  # closed by the server already (a protocol error): read what it said
        return read_until_closed(sock, timeout)


def raw_exchange(
    port: int, payload: bytes, timeout: float = HANG_SECONDS, expect_close: bool = False
) -> bytes:
    """The replies to `payload` on a fresh connection.

    `expect_close`: the payload itself makes the server close the connection (a protocol error,
    QUIT, SHUTDOWN); nothing is added and the read ends at the close.  Otherwise a trailing QUIT ends
    the exchange and its ``+OK`` is cut off.
    """
    if expect_close:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            try:
                sock.sendall(payload)
            except OSError:
                pass
            return read_until_closed(sock, timeout)
    replies = raw_session(port, payload, timeout)
    assert replies.endswith(QUIT_REPLY), f"{payload!r}: the connection closed before QUIT: {replies!r}"
    return replies[: -len(QUIT_REPLY)]


def raw_commands(port: int, *commands: tuple[str, ...], resp3: bool = True) -> bytes:
    """Send whole commands (after HELLO 3 when `resp3`) over a raw socket; return the reply bytes."""
    payload = b"HELLO 3\r\n" if resp3 else b""
    for command in commands:
        parts = [b"*%d\r\n" % len(command)]
        parts.extend(b"$%d\r\n%s\r\n" % (len(arg.encode()), arg.encode()) for arg in command)
        payload += b"".join(parts)
    return raw_exchange(port, payload)


def read_replies(sock: socket.socket, count: int, timeout: float = HANG_SECONDS) -> bytes:
    """Exactly `count` whole replies from a connection that stays open: their raw bytes."""
    import hiredis

    reader = hiredis.Reader()
    received = b""
    sock.settimeout(timeout)
    parsed = 0
    while parsed < count:
        while parsed < count and reader.gets() is not False:
            parsed += 1
        if parsed == count:
            break
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection after {received!r}"
        received += chunk
        reader.feed(chunk)
    unread = reader.len() if reader.has_data() else 0
    assert unread == 0, f"more than {count} replies: {received!r}"
    return received


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
    """The same payload (and a QUIT) to both servers: the whole streams must match, masked."""
    expected = masked(raw_session(oracle_port, payload))
    actual = masked(raw_session(our_port, payload))
    assert actual == expected, f"{payload!r}: redis {expected!r}, leakdb {actual!r}"
    return actual
