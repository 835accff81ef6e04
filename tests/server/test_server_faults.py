"""Disk faults under a real leakdb-server: injected through LEAKDB_FAULTS (a plan file the server's
I/O layer follows), and a real full filesystem on a small tmpfs.

For each: the client sees Redis's MISCONF text, reads keep working, INFO reports it, writes are
accepted again once the fault goes, and after a SIGKILL and a restart every acknowledged write is
there and no refused one is.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis
from conftest import free_port, leakdb_argv

from leakdb.errors import MISCONF

ROOT = Path(__file__).resolve().parents[2]
REFUSED = MISCONF.rstrip(b"\r\n")
EXECABORT = b"-EXECABORT Transaction discarded because of previous errors."
# A fault that refuses every commit of each backend.
EVERY_COMMIT = {"sqlite": {"point": "sqlite.commit"}, "shelve": {"point": "write"}}


class Faults:
    """The plan file a server started in this test follows."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def set(self, **fault: object) -> None:
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps([fault]))
        os.replace(temporary, self.path)  # a new inode: the server sees a new plan

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


@pytest.fixture
def faults(tmp_path, monkeypatch) -> Faults:
    path = tmp_path / "faults.json"
    monkeypatch.setenv("LEAKDB_FAULTS", str(path))
    return Faults(path)


def raw(port: int, *commands: tuple[str, ...]) -> list[bytes]:
    """The raw reply lines (first line of each reply) of pipelined commands on a fresh connection."""
    payload = b"".join(
        b"*%d\r\n" % len(c) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a.encode()) for a in c) for c in commands
    )
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(payload)
        data = b""
        while data.count(b"\r\n") < len(commands):
            chunk = sock.recv(65536)
            assert chunk, f"connection closed after {data!r}"
            data += chunk
    return data.split(b"\r\n")[: len(commands)]


def wait_for(condition, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def snapshot(client: redis.Redis) -> dict:
    """Every key of databases 0 and 1 with its type and contents."""
    found = {}
    for db in (0, 1):
        client.select(db)
        for key in client.scan_iter():
            kind = client.type(key).decode()
            reader = {
                "string": client.get,
                "hash": client.hgetall,
                "list": lambda k: client.lrange(k, 0, -1),
                "set": lambda k: sorted(client.smembers(k)),
                "zset": lambda k: client.zrange(k, 0, -1, withscores=True),
                "stream": lambda k: client.xrange(k),
            }[kind]
            found[(db, key)] = (kind, reader(key))
    client.select(0)
    return found


def seed(client: redis.Redis) -> None:
    client.set("s", "v")
    client.hset("h", mapping={"f": "1"})
    client.rpush("l", "a", "b")
    client.sadd("st", "m")
    client.zadd("z", {"m": 1})
    client.xadd("x", {"f": "v"}, id="1-1")
    client.execute_command("SELECT", "1")
    client.set("in-db-1", "1")
    client.execute_command("SELECT", "0")


WRITES = [
    ("SET", "s", "changed"),
    ("HSET", "h", "f", "2"),
    ("RPUSH", "l", "c"),
    ("SADD", "st", "n"),
    ("ZADD", "z", "2", "n"),
    ("XADD", "x", "2-1", "g", "w"),
    ("DEL", "s"),
    ("SWAPDB", "0", "1"),
    ("FLUSHALL",),
]


@pytest.mark.parametrize("backend", ["sqlite", "shelve"])
def test_write_through_refused_commits_are_undone_and_reported(start_leakdb, tmp_path, faults, backend):
    flags = ["--storage", "persistent", "--backend", backend]
    server = start_leakdb(*flags, cwd=tmp_path)
    client = server.client()
    seed(client)
    before = snapshot(client)
    faults.set(**EVERY_COMMIT[backend], error="ENOSPC")
    assert raw(server.port, ("SET", "s", "first")) == [REFUSED]  # refused by the file: undone
    assert client.get("s") == b"v"

    # Writes attempted anyway (stop-writes-on-bgsave-error no): each alone, a pipeline, a
    # transaction, all refused by the file, and nothing changed.
    client.config_set("stop-writes-on-bgsave-error", "no")
    for command in WRITES:
        assert raw(server.port, command) == [REFUSED], command
    assert raw(server.port, *WRITES) == [REFUSED] * len(WRITES)
    transaction = [("MULTI",), ("SET", "s", "x"), ("LPOP", "l"), ("EXEC",)]
    assert raw(server.port, *transaction) == [REFUSED] * 4
    assert snapshot(client) == before  # reads keep working, and show the file's state
    client.config_set("stop-writes-on-bgsave-error", "yes")

    # Refusing now, as Redis does after a failed save (PING too, and writes queued in MULTI, which
    # then aborts); INFO says why.
    assert raw(server.port, ("PING",)) == [REFUSED]
    assert raw(server.port, *transaction) == [b"+OK", REFUSED, REFUSED, EXECABORT]
    assert client.info("persistence")["rdb_last_bgsave_status"] == "err"
    info = client.info("leakdb")
    full = {"sqlite": "database or disk is full", "shelve": "No space left on device"}[backend]
    assert info["storage_flush_errors"] >= 1 and full in info["storage_last_error"]
    save = raw(server.port, ("SAVE",))[0]
    assert save.startswith(b"-ERR") and full.encode() in save

    faults.clear()
    wait_for(lambda: raw(server.port, ("SET", "after", "1")) == [b"+OK"], "writes accepted again")
    assert client.info("persistence")["rdb_last_bgsave_status"] == "ok"
    expected = snapshot(client)
    assert expected == {**before, (0, b"after"): ("string", b"1")}
    client.close()
    server.stop(signal.SIGKILL)
    restarted = start_leakdb(*flags, cwd=tmp_path).client()
    assert snapshot(restarted) == expected


@pytest.mark.parametrize("backend", ["sqlite", "shelve"])
def test_write_behind_keeps_acknowledged_writes_while_flushes_fail(start_leakdb, tmp_path, faults, backend):
    flags = ["--storage", "persistent-queue", "--backend", backend, "--flush-interval", "0.1"]
    server = start_leakdb(*flags, cwd=tmp_path)
    client = server.client()
    faults.set(**EVERY_COMMIT[backend], error="EIO")
    seed(client)  # acknowledged from memory; the flush that follows fails
    wait_for(lambda: raw(server.port, ("SET", "probe", "1")) == [REFUSED], "MISCONF")
    acknowledged = snapshot(client)
    assert client.info("leakdb")["storage_queue_length"] > 0
    eio = {"sqlite": "disk I/O error", "shelve": "Input/output error"}[backend]
    assert eio in client.info("leakdb")["storage_last_error"]
    faults.clear()
    wait_for(lambda: client.info("leakdb")["storage_queue_length"] == 0, "the retried flush")
    assert raw(server.port, ("PING",)) == [b"+PONG"]
    client.close()
    server.stop(signal.SIGKILL)
    restarted = start_leakdb(*flags, cwd=tmp_path).client()
    assert snapshot(restarted) == acknowledged


def test_a_blocked_pop_served_by_a_refused_push_is_undone(start_leakdb, tmp_path, faults):
    server = start_leakdb("--storage", "persistent", cwd=tmp_path)
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as blocked:
        blocked.sendall(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n")
        wait_for(lambda: server.client().info("clients")["blocked_clients"] == 1, "BLPOP to block")
        faults.set(point="sqlite.commit", error="EIO")
        assert raw(server.port, ("RPUSH", "q", "job")) == [REFUSED]
        assert blocked.recv(1000).rstrip(b"\r\n") == REFUSED  # the pop went with the push
    faults.clear()
    client = server.client()
    wait_for(lambda: raw(server.port, ("PING",)) == [b"+PONG"], "writes accepted again")
    assert client.exists("q") == 0


def test_injected_permission_error_at_start_is_one_clear_line(tmp_path, faults):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = leakdb_argv(free_port(), "--storage", "persistent", "--backend", "shelve")
    first = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True)
    wait_for(lambda: (tmp_path / "leakdb.db.dir").exists(), "the store")
    first.send_signal(signal.SIGTERM)
    first.wait(30)
    faults.set(point="open", file=".dat", error="EACCES")
    started = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60, env=env)
    assert started.returncode == 1
    assert started.stderr.count("\n") == 1, started.stderr
    assert "Permission denied" in started.stderr and "leakdb.db.dat" in started.stderr
    assert "Bad file descriptor" not in started.stderr


# -- a real full disk ----------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path) -> Path:
    """A 5 MB tmpfs; skipped, saying so, where this process may not mount one."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command here: the real disk-full case needs a 5 MB tmpfs")
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=5m", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if result.returncode != 0:
        pytest.skip(f"mount refused ({result.stderr.strip()}): the real disk-full case needs a 5 MB tmpfs")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.parametrize("backend", ["sqlite", "shelve"])
def test_real_disk_full_write_through(start_leakdb, small_disk, backend):
    ballast = small_disk / "ballast"
    ballast.write_bytes(b"\0" * 1024 * 1024)  # deleted later, to free the disk from outside
    flags = ["--storage", "persistent", "--backend", backend]
    server = start_leakdb(*flags, cwd=small_disk)
    client = server.client()
    value = b"x" * 2000
    acknowledged: list[str] = []
    refused = None
    for n in range(5000):
        key = f"k{n}"
        reply = raw(server.port, ("SET", key, value.decode()))[0]
        if reply == REFUSED:
            refused = key
            break
        assert reply == b"+OK", reply
        acknowledged.append(key)
    assert refused is not None, "5 MB never filled up"
    assert client.get(refused) is None  # the refused write is not in memory
    assert client.get(acknowledged[-1]) == value  # reads keep working
    assert client.info("persistence")["rdb_last_bgsave_status"] == "err"
    assert "No space left on device" in client.info("leakdb")["storage_last_error"] or (
        "disk is full" in client.info("leakdb")["storage_last_error"]
    )
    ballast.unlink()
    wait_for(lambda: raw(server.port, ("SET", "after", "1")) == [b"+OK"], "writes accepted again")
    client.close()
    server.stop(signal.SIGKILL)
    restarted = start_leakdb(*flags, cwd=small_disk).client()
    assert restarted.mget(acknowledged) == [value] * len(acknowledged), "an acknowledged write was lost"
    assert restarted.get(refused) is None
    assert restarted.get("after") == b"1"
