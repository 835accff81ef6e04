"""Disk faults injected at LeakDB's boundary (leakdb.persistence.diskio), in process, on both backends.

Write-through: a command whose commit the file refused raises StorageError and leaves memory exactly
as the file holds it; a command that returned is in the file.  Both are checked after every command
of a sequence covering every type (and whole-database commands), then again after reopening.
Write-behind: acknowledged writes wait in memory while flushes fail and reach the file once the
fault is gone.  Also: short writes are completed, and each fault names itself in the error.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from leakdb import PersistentQueueStorage, PersistentStorage, StorageError
from leakdb.engine.stream import Stream
from leakdb.engine.zset import ZSet
from leakdb.errors import CommandError
from leakdb.persistence import diskio, serialize

SEED = [
    ("SET", "s", "v"),
    ("SET", "ttl", "v", "EX", "1000"),
    ("SET", "n", "10"),
    ("HSET", "h", "f0", "a", "f1", "b"),
    ("RPUSH", "l", "a", "b", "c"),
    ("SADD", "st", "m0", "m1", "m2"),
    ("ZADD", "z", "1", "m0", "2", "m1"),
    ("XADD", "x", "1-1", "f", "v"),
]
# Every kind of change: new keys, in-place container edits, deletions, deadlines, moves, whole databases.
WRITES = [
    ("SET", "s", "w"),
    ("APPEND", "s", "x"),
    ("INCR", "n"),
    ("SET", "new", "1"),
    ("DEL", "s"),
    ("EXPIRE", "n", "500"),
    ("PERSIST", "ttl"),
    ("RENAME", "ttl", "moved"),
    ("HSET", "h", "f2", "c"),
    ("HDEL", "h", "f0"),
    ("LPUSH", "l", "z"),
    ("RPOP", "l"),
    ("LMOVE", "l", "l2", "LEFT", "RIGHT"),
    ("SADD", "st", "m9"),
    ("SREM", "st", "m0"),
    ("SUNIONSTORE", "st2", "st", "st"),
    ("ZADD", "z", "5", "m5"),
    ("ZREM", "z", "m0"),
    ("XADD", "x", "2-1", "g", "w"),
    ("XTRIM", "x", "MAXLEN", "1"),
    ("COPY", "h", "h2"),
    ("MSET", "a", "1", "b", "2"),
    ("SWAPDB", "0", "1"),
    ("MOVE", "a", "2"),
    ("SWAPDB", "0", "1"),
    ("FLUSHDB",),
    ("SET", "last", "1"),
]

# (backend, point, file, error): faults that refuse every commit, each backend's way.
REFUSING = [
    ("sqlite", "sqlite.commit", "", "ENOSPC"),
    ("sqlite", "sqlite.execute", "", "EIO"),
    ("sqlite", "sqlite.commit", "", "EROFS"),
    ("sqlite", "sqlite.execute", "", "EACCES"),
    ("shelve", "write", "", "ENOSPC"),
    ("shelve", "write", "", "EIO"),
    ("shelve", "write", "", "short"),  # every write short: no progress is no room
]
# Faults that only some commits of the shelve backend meet: journal appends (.dir), or whole-index
# rewrites (.dir.tmp: a deletion, a journal grown long).
PARTIAL = [
    ("shelve", "write", ".dir", "EDQUOT"),
    ("shelve", "rename", ".dir", "EROFS"),
    ("shelve", "fsync", ".dir.tmp", "EIO"),
    ("shelve", "open", ".dir.tmp", "EACCES"),
]


@contextmanager
def fault(point: str, file: str, error: str, **kwargs: Any) -> Iterator[diskio.Plan]:
    plan = diskio.Plan([diskio.Fault(point, error, file, **kwargs)])
    diskio.install(plan)
    try:
        yield plan
    finally:
        diskio.install(None)


def normal(value: Any) -> Any:
    if isinstance(value, set):
        return sorted(value)
    if isinstance(value, dict):
        return sorted(value.items())
    if isinstance(value, ZSet):
        return sorted(value.scores.items())
    if isinstance(value, Stream):
        return serialize(value)
    return list(value) if not isinstance(value, bytes) else value


def state(storage: Any) -> dict:
    """Everything the keyspace holds, comparable across reloads."""
    return {(db, key): (normal(value), deadline) for db, key, value, deadline in storage.keyspace.items()}


def run_all(storage: Any, commands: list[tuple[str, ...]]) -> tuple[int, int]:
    """Run each command; after each, memory must be the file's state: unchanged by a command that
    raised, changed as the command says otherwise.  Returns (refused, done with a change): a
    command that changes nothing (HDEL of a missing field) needs no write, and is neither."""
    refused = done = 0
    for command in commands:
        before = state(storage)
        try:
            storage.execute_command(*command)
        except CommandError:  # the command's own refusal (RENAME of a key an earlier step moved)
            assert state(storage) == before
            continue
        except StorageError as error:
            # A fault names itself; every write short ends in a write that stores nothing: no room.
            assert "injected" in str(error) or "No space left" in str(error), error
            assert state(storage) == before, f"{command}: refused, yet memory changed"
            refused += 1
        else:
            done += state(storage) != before
    return refused, done


@pytest.mark.parametrize(("backend", "point", "file", "error"), REFUSING + PARTIAL)
def test_write_through_refused_writes_are_undone_and_acknowledged_ones_kept(
    tmp_path, backend, point, file, error
):
    path = tmp_path / "data.db"
    storage = PersistentStorage(path, backend=backend)
    run_all(storage, SEED)
    # Whole-index rewrites happen when the journal has grown long: enough single-key commits.
    writes = WRITES + [("INCR", "counter")] * 600 if (backend, point, file, error) in PARTIAL else WRITES
    with fault(point, file, error) as plan:
        refused, done = run_all(storage, writes)
        during = state(storage)
        assert storage.info()["flush_errors"] == refused
        assert any(word in storage.info()["last_error"] for word in ("injected", "No space left"))
    assert plan.fired >= refused > 0
    if (backend, point, file, error) in REFUSING:
        assert done == 0, "a fault on every write refused only some commands"
    storage.close()
    with PersistentStorage(path, backend=backend) as reopened:
        assert state(reopened) == during  # told OK: in the file; told error: not in the file
        run_all(reopened, WRITES)  # the fault is gone: everything is accepted
        after = state(reopened)
    with PersistentStorage(path, backend=backend) as again:
        assert state(again) == after


@pytest.mark.parametrize("backend", ["sqlite", "shelve"])
def test_write_through_recovers_when_the_fault_goes(tmp_path, backend):
    storage = PersistentStorage(tmp_path / "data.db", backend=backend)
    storage.set("before", 1)
    point = "sqlite.commit" if backend == "sqlite" else "write"
    with fault(point, "", "ENOSPC"):
        with pytest.raises(StorageError, match=r"No space left on device|disk is full"):
            storage.set("during", 2)
        assert storage.get("during") is None and storage.get("before") == 1  # reads still work
        assert storage.queue.failing and not storage.probe()
    assert storage.probe() and not storage.queue.failing
    storage.set("after", 3)
    storage.close()
    with PersistentStorage(tmp_path / "data.db", backend=backend) as reopened:
        assert [reopened.get(k) for k in ("before", "during", "after")] == [1, None, 3]


@pytest.mark.parametrize("backend", ["sqlite", "shelve"])
def test_write_behind_keeps_acknowledged_writes_until_the_file_takes_them(tmp_path, backend):
    path = tmp_path / "data.db"
    storage = PersistentQueueStorage(path, backend=backend, maxsize=0, flush_interval=None)
    storage.queue.retry_delay = 0.001
    point = "sqlite.commit" if backend == "sqlite" else "write"
    with fault(point, "", "EIO"):
        run_all(storage, SEED + WRITES)  # acknowledged from memory
        acknowledged = state(storage)
        assert storage.flush(force=True) is False
        assert storage.queue.failing and storage.queue_length() > 0
        assert state(storage) == acknowledged  # nothing is undone in write-behind
    assert storage.flush(force=True) is True
    storage.close()
    with PersistentQueueStorage(path, backend=backend) as reopened:
        assert state(reopened) == acknowledged


def test_short_writes_are_completed(tmp_path):
    """A write that stores only part of its bytes is continued, as POSIX asks of a writer.  (Only
    the shelve backend writes bytes itself; SQLite's own writes are out of LeakDB's reach.)"""
    backend = "shelve"
    storage = PersistentStorage(tmp_path / "data.db", backend=backend)
    with fault("write", "", "short", count=3) as plan:
        run_all(storage, SEED + WRITES)
        expected = state(storage)
    assert plan.fired == 3 and storage.info()["flush_errors"] == 0
    storage.close()
    with PersistentStorage(tmp_path / "data.db", backend=backend) as reopened:
        assert state(reopened) == expected


def test_a_fault_plan_file_is_followed_and_reread(tmp_path):
    plan = tmp_path / "plan.json"
    plan.write_text('[{"point": "sqlite.commit", "error": "EROFS"}]')
    diskio.watch_file(str(plan))
    try:
        storage = PersistentStorage(tmp_path / "data.db")  # creating the file commits: refused
    except StorageError as error:
        assert "readonly database" in str(error)
    else:
        pytest.fail("the plan file's fault did not fire")
    finally:
        plan.write_text("")
    try:
        with PersistentStorage(tmp_path / "data.db") as storage:
            storage.set("k", 1)
            plan.write_text('[{"point": "sqlite.commit", "error": "ENOSPC", "after": 1}]')
            storage.set("k", 2)  # the first matching commit passes
            with pytest.raises(StorageError, match="database or disk is full"):
                storage.set("k", 3)
            assert storage.get("k") == 2
            Path(plan).unlink()
            storage.probe()
    finally:
        diskio._watched = None
        diskio.install(None)


def test_unknown_fault_points_and_errors_are_refused():
    with pytest.raises(ValueError, match="unknown fault point"):
        diskio.Fault("disk", "EIO")
    with pytest.raises(ValueError, match="unknown fault error"):
        diskio.Fault("write", "EAGAIN")
