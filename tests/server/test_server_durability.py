"""Durability of a real leakdb-server under faults: SIGKILL under write load, failing flushes, damaged
data files and a crash in the middle of SAVE.

Several client threads write through redis-py while the server is killed at a random moment; the
server is then restarted on the same directory and every write it acknowledged is looked for.  The
loop runs LEAKDB_CRASH_ITERATIONS times (3 by default; raise it for a longer local run), each kill in
its own slice of the write window, so even a few rounds kill early, midway and late; it prints what
it verified.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
from conftest import HANG_SECONDS, crash_iterations, free_port, leakdb_argv, wait_until
from redis.backoff import NoBackoff
from redis.retry import Retry

from leakdb import PersistentStorage
from leakdb.commands.diskerror import MISCONF
from leakdb.persistence.shelve import META_KEY, SUFFIXES

ROOT = Path(__file__).resolve().parents[2]
ITERATIONS = crash_iterations(3)
WRITERS = 4
WRITE_WINDOW = (0.1, 1.0)  # seconds of writing before a kill, split into one slice per iteration
MAXSIZE = 50  # --maxsize of the write-behind crash test


# -- write load ----------------------------------------------------------------------------------------


class Writer(threading.Thread):
    """SETs ``prefix:n`` = n for n = 0, 1, ... until the connection drops; keeps what was acknowledged."""

    def __init__(self, port: int, prefix: str) -> None:
        super().__init__(daemon=True)
        # No retries: the kill ends the writer at once (redis-py would reconnect, backing off, for seconds).
        self.client = redis.Redis(port=port, socket_timeout=HANG_SECONDS, retry=Retry(NoBackoff(), 0))
        self.prefix = prefix
        self.acknowledged: list[int] = []

    def run(self) -> None:
        n = 0
        try:
            while True:
                self.client.set(f"{self.prefix}:{n}", n)
                self.acknowledged.append(n)
                n += 1
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            pass
        finally:
            self.client.close()


def kill_moment(rng: random.Random, iteration: int) -> float:
    """A random moment in this iteration's slice of WRITE_WINDOW."""
    start, end = WRITE_WINDOW
    width = (end - start) / ITERATIONS
    return start + width * (iteration + rng.random())


def write_until_killed(server, rng: random.Random, iteration: int) -> list[Writer]:
    writers = [Writer(server.port, f"i{iteration}w{w}") for w in range(WRITERS)]
    for writer in writers:
        writer.start()
    wait_until(lambda: all(writer.acknowledged for writer in writers), "every writer to be acknowledged")
    time.sleep(kill_moment(rng, iteration))
    server.stop(signal.SIGKILL)
    for writer in writers:
        writer.join(HANG_SECONDS)
        assert not writer.is_alive(), "a writer is still writing to a killed server"
    return writers


def stored_numbers(client: redis.Redis, writer: Writer) -> list[bool]:
    """For each number the writer sent (acknowledged or not yet), whether the restarted server has it."""
    count = len(writer.acknowledged) + 1  # the write in flight at the kill may or may not be there
    keys = [f"{writer.prefix}:{n}" for n in range(count)]
    found: list[bool] = []
    for start in range(0, count, 5000):
        values = client.mget(keys[start : start + 5000])
        found.extend(value == str(start + i).encode() for i, value in enumerate(values))
    return found


def crash_loop(start_leakdb, tmp_path: Path, flags: list[str], check) -> tuple[int, int]:
    """Run the kill/restart loop; `check(found, writer)` asserts per writer.  Returns the counts."""
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    verified = 0
    server = start_leakdb(*flags, cwd=tmp_path)
    for iteration in range(ITERATIONS):
        writers = write_until_killed(server, rng, iteration)
        server = start_leakdb(*flags, cwd=tmp_path)
        client = server.client()
        for writer in writers:
            found = stored_numbers(client, writer)
            check(found, writer, f"seed {seed} iteration {iteration}")
            verified += len(writer.acknowledged)
        client.close()
    server.stop()
    return ITERATIONS, verified


# -- SIGKILL under load ----------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "shelve"])
def test_write_through_keeps_every_acknowledged_write_after_sigkill(start_leakdb, tmp_path, backend):
    def check(found: list[bool], writer: Writer, where: str) -> None:
        missing = [n for n in writer.acknowledged if not found[n]]
        assert not missing, f"{where}: acknowledged writes lost: {missing[:5]}"

    flags = ["--storage", "persistent", "--backend", backend]
    iterations, verified = crash_loop(start_leakdb, tmp_path, flags, check)
    print(f"write-through/{backend}: {iterations} SIGKILLs, {verified} acknowledged writes verified")
    assert verified > 0


def test_write_behind_loses_only_the_unflushed_tail_after_sigkill(start_leakdb, tmp_path):
    """Each flush writes the whole pending batch in one transaction, in order: what survives is a
    prefix of every writer's sequence (nothing older than the last completed flush is lost), and
    what is lost is at most two batches (the one being written and the next one, which the writer
    flushes itself when it reaches --maxsize)."""
    lost_total = 0

    def check(found: list[bool], writer: Writer, where: str) -> None:
        nonlocal lost_total
        kept = found.index(False) if False in found else len(found)
        holes = [n for n in range(kept, len(found)) if found[n]]
        assert not holes, f"{where}: writes {holes[:5]} kept after an older one was lost"
        lost = max(0, len(writer.acknowledged) - kept)
        assert lost <= 2 * MAXSIZE, f"{where}: {lost} acknowledged writes lost"
        lost_total += lost

    flags = ["--storage", "persistent-queue", "--maxsize", str(MAXSIZE), "--flush-interval", "0.2"]
    iterations, verified = crash_loop(start_leakdb, tmp_path, flags, check)
    print(
        f"write-behind: {iterations} SIGKILLs, {verified} acknowledged writes checked, "
        f"{lost_total} unflushed writes lost (bound {2 * MAXSIZE} per writer)"
    )


@pytest.mark.parametrize("ending", ["SIGTERM", "SHUTDOWN"])
def test_sigterm_and_shutdown_lose_nothing_queued(start_leakdb, tmp_path, ending):
    # Nothing flushes on its own here: everything is still queued when the server is told to stop.
    flags = ["--storage", "persistent-queue", "--maxsize", "0", "--flush-interval", "3600"]
    server = start_leakdb(*flags, cwd=tmp_path)
    client = server.client()
    pipe = client.pipeline(transaction=False)
    for n in range(5000):
        pipe.set(f"k{n}", n)
    pipe.execute()
    assert client.info("leakdb")["storage_queue_length"] == 5000
    if ending == "SIGTERM":
        assert server.stop(signal.SIGTERM) == 0
    else:
        with pytest.raises(redis.ConnectionError):
            client.execute_command("SHUTDOWN")
        assert server.wait() == 0
    client.close()
    restarted = start_leakdb(*flags, cwd=tmp_path).client()
    assert restarted.dbsize() == 5000
    assert restarted.mget([f"k{n}" for n in range(5000)]) == [str(n).encode() for n in range(5000)]


# -- failing flushes -------------------------------------------------------------------------------------

FAILING_STORAGE = '''
"""Storages whose writes fail while a file named disk-full exists next to this module."""
import os

from leakdb.storage import PersistentQueueStorage

FLAG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "disk-full")


class Failing:
    def _write(self, changes):
        if os.path.exists(FLAG):
            raise OSError(28, "No space left on device (simulated)")
        return super()._write(changes)


class FailingQueueStorage(Failing, PersistentQueueStorage):
    pass
'''


@pytest.fixture
def failing_storage(tmp_path, monkeypatch) -> Path:
    """A module directory on PYTHONPATH with storage classes that fail on demand; returns the flag."""
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "failing_storage.py").write_text(FAILING_STORAGE)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(modules), str(ROOT)]))
    return modules / "disk-full"


def reply(client: redis.Redis, *args: str) -> bytes:
    """The raw reply of one command on a fresh connection (redis-py would strip "ERR ")."""
    port = client.connection_pool.connection_kwargs["port"]
    payload = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a.encode()) for a in args)
    with socket.create_connection(("127.0.0.1", port), timeout=HANG_SECONDS) as sock:
        sock.sendall(payload)
        data = b""
        while not data.endswith(b"\r\n"):
            chunk = sock.recv(65536)
            assert chunk, "connection closed"
            data += chunk
    return data.rstrip(b"\r\n")


def refuses_writes(client: redis.Redis) -> bool:
    return reply(client, "SET", "probe", "1") == MISCONF.rstrip(b"\r\n")


def test_failing_flush_refuses_writes_keeps_data_and_recovers(start_leakdb, tmp_path, failing_storage):
    flags = ["--storage", "persistent-queue", "--storage-class", "failing_storage:FailingQueueStorage"]
    server = start_leakdb(*flags, "--flush-interval", "0.2", cwd=tmp_path)
    client = server.client()
    client.set("before", "1")
    failing_storage.touch()
    client.set("queued", "2")  # accepted: no flush has failed yet
    wait_until(lambda: refuses_writes(client), "MISCONF")

    # Reads still work; the queued write is kept in memory; INFO says what is wrong.
    assert client.get("queued") == b"2"
    assert reply(client, "PING") == MISCONF.rstrip(b"\r\n")  # as Redis refuses PING too
    info = client.info("leakdb")
    assert info["storage_flush_errors"] >= 1
    assert "No space left on device (simulated)" in info["storage_last_error"]
    assert client.info("persistence")["rdb_last_bgsave_status"] == "err"
    save = reply(client, "SAVE")
    assert save.startswith(b"-ERR ") and b"No space left" in save
    assert reply(client, "BGSAVE") == b"+Background saving started"

    # stop-writes-on-bgsave-error no: writes are accepted (and queued) although flushes fail.
    client.config_set("stop-writes-on-bgsave-error", "no")
    assert client.set("accepted", "3") is True
    client.config_set("stop-writes-on-bgsave-error", "yes")
    assert refuses_writes(client)

    failing_storage.unlink()
    wait_until(lambda: not refuses_writes(client), "writes accepted again")
    wait_until(lambda: client.info("leakdb")["storage_queue_length"] == 0, "the retried flush")
    assert client.info("persistence")["rdb_last_bgsave_status"] == "ok"
    assert client.save() is True
    client.close()
    server.stop(signal.SIGKILL)
    log = server.printed()
    assert "flushing" in log and "failed" in log and "refusing write commands with MISCONF" in log
    restarted = start_leakdb("--storage", "persistent-queue", cwd=tmp_path).client()
    assert restarted.mget("before", "queued", "accepted", "probe") == [b"1", b"2", b"3", b"1"]


# Write-through commits the file refuses: tests/server/test_server_faults.py (injected faults, a full tmpfs).


# -- damaged data files ----------------------------------------------------------------------------------


def store_files(path: Path) -> list[Path]:
    return [Path(f"{path}{suffix}") for suffix in SUFFIXES if Path(f"{path}{suffix}").is_file()]


def fingerprint(path: Path) -> dict[str, str]:
    files = [*store_files(path), *(Path(f"{path}{s}") for s in ("-wal", "-shm", "-journal", ".bak"))]
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files if f.exists()}


def make_store(path: Path, backend: str) -> None:
    with PersistentStorage(path, backend=backend) as storage:
        for n in range(2000):
            storage.set(f"key:{n}", "x" * 50)


def damage(path: Path, backend: str, kind: str) -> None:
    main = max(store_files(path), key=lambda f: f.stat().st_size)
    if kind == "index-truncated":  # the shelve index cut in the middle of a line
        index = Path(f"{path}.dir") if backend == "shelve" else path
        text = index.read_bytes()
        middle = text.index(b"\n", len(text) // 2) - 5
        index.write_bytes(text[:middle])
    elif kind == "truncated":
        with open(main, "r+b") as handle:
            handle.truncate(main.stat().st_size // 2 + 7)
    elif kind == "corrupt":
        data = bytearray(main.read_bytes())
        middle = len(data) // 2
        data[middle : middle + 4096] = os.urandom(4096)
        main.write_bytes(bytes(data))
    elif kind == "foreign":
        for file in store_files(path):
            file.unlink()
        path.write_bytes(b"GIF89a" + os.urandom(5000))
    elif kind == "future" and backend == "sqlite":
        with sqlite3.connect(path) as connection:
            connection.execute("UPDATE leakdb_meta SET value = '99' WHERE name = 'format_version'")
        connection.close()
    elif kind == "future":
        import dbm

        with dbm.open(str(path), "w") as store:
            store[META_KEY] = json.dumps({"application": "leakdb", "format_version": 99}).encode()


@pytest.mark.parametrize("kind", ["truncated", "index-truncated", "corrupt", "foreign", "future"])
@pytest.mark.parametrize("backend", ["sqlite", "shelve"])
def test_damaged_data_file_stops_startup_untouched(tmp_path, backend, kind):
    path = tmp_path / "leakdb.db"
    make_store(path, backend)
    damage(path, backend, kind)
    before = fingerprint(path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = leakdb_argv(free_port(), "--storage", "persistent-queue", "--backend", backend)
    started = subprocess.run(
        argv, cwd=tmp_path, capture_output=True, text=True, timeout=HANG_SECONDS, env=env
    )
    assert started.returncode == 1, started.stdout
    assert "cannot open the data file" in started.stderr, started.stderr
    assert started.stderr.count("\n") == 1, started.stderr  # one line, no traceback
    assert fingerprint(path) == before
    check = subprocess.run(
        [sys.executable, "-m", "leakdb.tool", "check", str(path)],
        capture_output=True,
        text=True,
        timeout=HANG_SECONDS,
        env=env,
    )
    assert check.returncode != 0
    print(f"{backend}/{kind}: server: {started.stderr.strip()} | check: {check.stdout.strip()[:200]}")
    assert fingerprint(path) == before


# -- atomic SAVE -----------------------------------------------------------------------------------------

SAVE_KEYS = 10000


def timed_save(client: redis.Redis) -> float:
    started = time.monotonic()
    client.save()
    return time.monotonic() - started


def set_all(client: redis.Redis, value: str) -> None:
    pipe = client.pipeline(transaction=False)
    for n in range(SAVE_KEYS):
        pipe.set(f"k{n}", value)
    pipe.execute()


def test_sigkill_during_save_leaves_all_old_or_all_new(start_leakdb, tmp_path):
    """One SAVE writes every queued change in one SQLite transaction: killed at any moment, the file
    holds the state before that SAVE or the state after it, never a mixture."""
    flags = ["--storage", "persistent-queue", "--maxsize", "0", "--flush-interval", "3600"]
    rng = random.Random()
    outcomes = []
    server = start_leakdb(*flags, cwd=tmp_path)
    client = server.client()
    set_all(client, "generation-0")
    duration = timed_save(client)
    for generation in range(1, 4):
        set_all(client, f"generation-{generation}")
        with socket.create_connection(("127.0.0.1", server.port)) as raw:
            raw.sendall(b"*1\r\n$4\r\nSAVE\r\n")
            # Early, midway and late (or after), in the time the first SAVE took.
            time.sleep(duration * 0.4 * (generation - 1 + rng.random()))
            server.stop(signal.SIGKILL)
        client.close()
        server = start_leakdb(*flags, cwd=tmp_path)
        client = server.client()
        values = set(client.mget([f"k{n}" for n in range(SAVE_KEYS)]))
        assert len(values) == 1, f"a mixture after SIGKILL during SAVE: {sorted(values)[:3]}"
        (value,) = values
        assert value in (f"generation-{generation - 1}".encode(), f"generation-{generation}".encode())
        outcomes.append("new" if value.endswith(str(generation).encode()) else "old")
        if outcomes[-1] == "old":  # bring the file to this generation for the next round
            set_all(client, f"generation-{generation}")
            client.save()
    client.close()
    print(f"SIGKILL during a {SAVE_KEYS}-key SAVE ({duration:.2f}s): {outcomes}")
