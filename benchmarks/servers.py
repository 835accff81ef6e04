"""Start and stop the servers under test: leakdb-server in each storage mode and redis-server.

Every server gets a free loopback port and its own directory under one temporary directory, dies with
the suite (PR_SET_PDEATHSIG) and is stopped by :class:`ServerPool` on exit, error or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .common import REPO_ROOT, progress

PING = b"*1\r\n$4\r\nPING\r\n"
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ServerSpec:
    """A contender: how to start it, and the label the report gives it."""

    name: str
    kind: str  # "leakdb" or "redis"
    options: tuple[str, ...] = ()
    source: Path | None = None  # a LeakDB checkout to run instead of this working tree

    @property
    def is_redis(self) -> bool:
        return self.kind == "redis"


def leakdb_spec(mode: str, backend: str = "sqlite") -> ServerSpec:
    persistent = mode.startswith("persistent")
    name = f"leakdb {mode} {backend}" if persistent else f"leakdb {mode}"
    options = ("--storage", mode, "--backend", backend) if persistent else ("--storage", mode)
    return ServerSpec(name, "leakdb", options)


REDIS = ServerSpec("redis-server", "redis", ("--appendonly", "no"))
REDIS_AOF = ServerSpec(
    "redis-server aof everysec", "redis", ("--appendonly", "yes", "--appendfsync", "everysec")
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ping(port: int, timeout: float = 1.0) -> bytes:
    """The first line a server answers to PING (b"+PONG", b"-LOADING ...", ...) or b"" if none."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(PING)
            return sock.recv(256).split(b"\r\n", 1)[0]
    except OSError:
        return b""


def _die_with_parent() -> None:
    """Runs in the child before exec: the kernel kills it if the suite dies without cleaning up."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class RunningServer:
    spec: ServerSpec
    port: int
    directory: Path
    process: subprocess.Popen[bytes]
    started_s: float = 0.0  # from exec until PING answered PONG
    extra: tuple[str, ...] = field(default=())

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_mb(self) -> float:
        """Resident set size from /proc/PID/status (VmRSS), in MiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def log_tail(self) -> str:
        log = self.directory / "server.log"
        return log.read_text(errors="replace")[-1500:] if log.exists() else ""

    def stop(self, timeout: float = 120.0) -> None:
        """SIGTERM (LeakDB flushes its queue, Redis exits), then SIGKILL after `timeout` seconds."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            progress(f"{self.spec.name} did not stop in {timeout:.0f}s; killing pid {self.pid}")
            self.process.kill()
            self.process.wait(10)


def _command(spec: ServerSpec, port: int, directory: Path, extra: tuple[str, ...]) -> list[str]:
    if spec.is_redis:
        return [
            "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory),
            "--save", "", "--daemonize", "no", "--logfile", "", *spec.options, *extra,
        ]  # fmt: skip
    # Checkouts from before leakdb/server/ became a package start through leakdb.cli.
    source = spec.source or REPO_ROOT
    entry = "leakdb.server" if (source / "leakdb" / "server" / "__main__.py").exists() else "leakdb.cli"
    return [
        sys.executable, "-m", entry, "--port", str(port), "--dir", str(directory),
        "--loglevel", "warning", *spec.options, *extra,
    ]  # fmt: skip


class ServerPool:
    """Owns every server the suite starts, so that all of them are stopped however the suite ends."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.servers: list[RunningServer] = []
        for tool in ("redis-server", "redis-cli", "redis-benchmark"):
            if shutil.which(tool) is None:
                raise SystemExit(
                    f"benchmarks: {tool} is not on PATH; install Redis's tools "
                    "(Debian: apt-get install redis-server redis-tools) and run again"
                )

    def __enter__(self) -> ServerPool:
        signal.signal(signal.SIGTERM, _raise_interrupt)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop_all()

    def start(
        self,
        spec: ServerSpec,
        directory: Path | None = None,
        extra: tuple[str, ...] = (),
        ready_timeout: float = 300.0,
        environment: dict[str, str] | None = None,
    ) -> RunningServer:
        """Start `spec` (with `environment` added to ours) and wait until it answers PING with PONG
        (not -LOADING)."""
        port = free_port()
        directory = directory or self.root / f"{spec.name.replace(' ', '-')}-{port}"
        directory.mkdir(parents=True, exist_ok=True)
        # The working tree's leakdb (or the spec's checkout), whatever is installed.
        source = spec.source or REPO_ROOT
        python_path = os.pathsep.join([str(source), os.environ.get("PYTHONPATH", "")])
        env = {**os.environ, **(environment or {}), "PYTHONPATH": python_path}
        started = time.perf_counter()
        with open(directory / "server.log", "ab") as log:
            process = subprocess.Popen(
                _command(spec, port, directory, extra),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=directory,
                env=env,
                preexec_fn=_die_with_parent,
            )
        server = RunningServer(spec, port, directory, process, extra=extra)
        self.servers.append(server)
        server.started_s = self._wait_ready(server, started, ready_timeout)
        return server

    def _wait_ready(self, server: RunningServer, started: float, timeout: float) -> float:
        deadline = started + timeout
        while time.perf_counter() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(f"{server.spec.name} exited at start:\n{server.log_tail()}")
            if ping(server.port) == b"+PONG":
                return time.perf_counter() - started
            time.sleep(0.005)
        server.stop()
        raise RuntimeError(f"{server.spec.name} did not answer PING within {timeout:.0f}s")

    def restart(self, server: RunningServer, extra: tuple[str, ...] = ()) -> RunningServer:
        """Stop `server` and start the same contender on the same directory (and its data file)."""
        self.stop(server)
        return self.start(server.spec, server.directory, extra or server.extra)

    def stop(self, server: RunningServer) -> None:
        server.stop()
        if server in self.servers:
            self.servers.remove(server)

    def stop_all(self) -> None:
        for server in list(self.servers):
            with contextlib.suppress(Exception):
                self.stop(server)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")
