"""Backends: reopen round trips, whole-database operations, and files that must be refused untouched."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from leakdb import PersistentQueueStorage, PersistentStorage, StorageError
from leakdb.engine.keyspace import DELETE, EXPIRE, FLUSHDB, SET, SWAPDB, Change, now_ms
from leakdb.persistence import SQLiteBackend
from leakdb.persistence.shelve import SUFFIXES
from leakdb.queue import CoalescingLog

BACKENDS = ["sqlite", "shelve"]
CLASSES = [PersistentStorage, PersistentQueueStorage]


def files_of(path: Path) -> dict[str, str]:
    """sha256 of every file that belongs to the store at `path`."""
    found = {}
    for suffix in (*SUFFIXES, "-wal", "-shm"):
        candidate = Path(str(path) + suffix)
        if candidate.exists():
            found[candidate.name] = hashlib.sha256(candidate.read_bytes()).hexdigest()
    return found


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.mark.parametrize("cls", CLASSES)
def test_reopen_round_trip(tmp_path, backend, cls):
    path = str(tmp_path / "store.db")
    with cls(path, backend=backend) as storage:
        storage.set("doc", {"a": [1, 2]})
        storage.set(b"\x00bin\xff", b"\x01\x02")
        storage.set("n", 1)
        storage.incr("n", 9)
        storage.set("k", "db5", db=5)
        storage.set("gone", 1)
        storage.delete("gone")
    with cls(path, backend=backend) as reopened:
        assert reopened.get("doc") == {"a": [1, 2]}
        assert reopened.get(b"\x00bin\xff") == b"\x01\x02"
        assert reopened.get("n") == 10
        assert reopened.get("k", db=5) == "db5"
        assert "gone" not in reopened
        assert reopened.info()["keys_loaded"] == 4
        assert reopened.info()["load_time_ms"] >= 0


@pytest.mark.parametrize("cls", CLASSES)
def test_expiry_is_persisted(tmp_path, backend, cls):
    path = str(tmp_path / "store.db")
    with cls(path, backend=backend) as storage:
        storage.set("long", 1)
        set_from = now_ms()
        storage.expire("long", 1000)
        long_deadline = storage.keyspace[0].deadline(b"long")
        assert set_from + 1_000_000 <= long_deadline <= now_ms() + 1_000_000
        storage.set("short", 1)
        storage.set("persisted", 1)
        storage.expire("persisted", 1000)
        storage.keyspace[0].set_expire(b"persisted", None)
        # A deadline about to pass: it is in the file, and must be dropped when loaded.
        storage.keyspace[0].set_expire(b"short", now_ms() + 30)
        storage.flush(force=True)
    deadline = now_ms() + 40
    while now_ms() < deadline:
        pass
    with cls(path, backend=backend) as reopened:
        assert reopened.keyspace[0].deadline(b"long") == long_deadline
        assert reopened.ttl("persisted") == -1
        assert "short" not in reopened
        assert reopened.info()["keys_loaded"] == 2


@pytest.mark.parametrize("cls", CLASSES)
def test_flushdb_and_swapdb_are_persisted(tmp_path, backend, cls):
    path = str(tmp_path / "store.db")
    with cls(path, backend=backend) as storage:
        keyspace = storage.keyspace
        storage.set("a", "zero-a")
        storage.set("b", "zero-b")
        storage.set("a", "one-a", db=1)
        storage.set("c", "two-c", db=2)
        storage.flush(force=True)
        keyspace.swap(0, 1)
        storage.set("after-swap", 1, db=1)
        keyspace[2].flush()
        storage.set("d", "two-d", db=2)
    with cls(path, backend=backend) as reopened:
        assert reopened.get_multi(["a", "b"]) == {"a": "one-a"}
        assert reopened.get_multi(["a", "b", "after-swap"], db=1) == {
            "a": "zero-a",
            "b": "zero-b",
            "after-swap": 1,
        }
        assert reopened.get_multi(["c", "d"], db=2) == {"d": "two-d"}


def test_sqlite_file_is_an_ordinary_database(tmp_path):
    path = tmp_path / "plain.db"
    with PersistentStorage(str(path)) as storage:
        storage.set("bar", {"foo": "bar"})
        storage.set("n", 7)
    connection = sqlite3.connect(path)
    meta = dict(connection.execute("SELECT name, value FROM leakdb_meta"))
    rows = connection.execute("SELECT db, key, type, value, expire_at_ms FROM keys ORDER BY key").fetchall()
    connection.close()
    assert meta == {"application": "leakdb", "format_version": "1"}
    assert rows == [(0, b"bar", "string", b'{"foo": "bar"}', None), (0, b"n", "string", b"7", None)]


def test_write_through_is_in_the_file_before_set_returns(tmp_path):
    path = tmp_path / "wt.db"
    with PersistentStorage(str(path)) as storage:
        storage.set("k", "v")
        other = sqlite3.connect(path)
        assert other.execute("SELECT value FROM keys WHERE key = ?", (b"k",)).fetchone() == (b'"v"',)
        other.close()


@pytest.mark.parametrize("contents", [b"", None])
def test_empty_or_missing_file_is_created(tmp_path, backend, contents):
    path = tmp_path / "new.db"
    if contents is not None:
        path.write_bytes(contents)
    with PersistentStorage(str(path), backend=backend) as storage:
        storage.set("a", 1)
    with PersistentStorage(str(path), backend=backend) as reopened:
        assert reopened.get("a") == 1


def assert_refused_untouched(path: Path, backend: str, match: str) -> None:
    before = files_of(path)
    assert before, "the test must start from an existing file"
    for cls in CLASSES:
        with pytest.raises(StorageError, match=match):
            cls(str(path), backend=backend, flush_interval=None) if cls is PersistentQueueStorage else cls(
                str(path), backend=backend
            )
    assert files_of(path) == before


def test_foreign_files_are_refused_untouched(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_bytes(b"just some text, not a database at all\n" * 10)
    assert_refused_untouched(text, "sqlite", "not a LeakDB file")
    assert_refused_untouched(text, "shelve", "not a LeakDB file")
    other = tmp_path / "other.sqlite"
    connection = sqlite3.connect(other)
    connection.execute("CREATE TABLE users (name TEXT)")
    connection.execute("INSERT INTO users VALUES ('ann')")
    connection.commit()
    connection.close()
    assert_refused_untouched(other, "sqlite", "not a LeakDB file")


def make_sqlite_store(path: Path, keys: int = 300) -> None:
    with PersistentStorage(str(path)) as storage:
        storage.set_multi({f"key{i}": "x" * 200 for i in range(keys)})


def test_future_format_version_is_refused_untouched(tmp_path):
    path = tmp_path / "future.db"
    make_sqlite_store(path)
    connection = sqlite3.connect(path)
    connection.execute("UPDATE leakdb_meta SET value = '99' WHERE name = 'format_version'")
    connection.commit()
    connection.close()
    assert_refused_untouched(path, "sqlite", "format version 99")


def test_unknown_value_type_is_refused_untouched(tmp_path):
    path = tmp_path / "types.db"
    make_sqlite_store(path, keys=3)
    connection = sqlite3.connect(path)
    connection.execute("INSERT INTO keys VALUES (0, x'71', 'hyperdimensional', x'00', NULL)")
    connection.commit()
    connection.close()
    assert_refused_untouched(path, "sqlite", "unknown type")


def test_truncated_sqlite_file_is_refused_untouched(tmp_path):
    path = tmp_path / "cut.db"
    make_sqlite_store(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert_refused_untouched(path, "sqlite", "damaged|unreadable|not a LeakDB")


def test_corrupt_sqlite_file_is_refused_untouched(tmp_path):
    path = tmp_path / "bad.db"
    make_sqlite_store(path)
    data = bytearray(path.read_bytes())
    for offset in range(4096, len(data), 4096):  # scribble over the start of every page after the first
        data[offset : offset + 64] = b"\xa5" * 64
    path.write_bytes(bytes(data))
    assert_refused_untouched(path, "sqlite", "damaged|unreadable|not a LeakDB")


def test_shelve_future_version_and_damage_are_refused_untouched(tmp_path):
    path = tmp_path / "old.db"
    with PersistentStorage(str(path), backend="shelve") as storage:
        storage.set_multi({f"k{i}": i for i in range(20)})
    import dbm

    with dbm.open(str(path), "w") as store:
        store[b"\x00leakdb"] = json.dumps({"application": "leakdb", "format_version": 7}).encode()
    assert_refused_untouched(path, "shelve", "format version 7")
    with dbm.open(str(path), "w") as store:
        store[b"\x00leakdb"] = json.dumps({"application": "leakdb", "format_version": 1}).encode()
        store[b"0:k3"] = b"string -1 999\nshort"
    assert_refused_untouched(path, "shelve", "damaged|truncated")


def test_foreign_dbm_is_refused_untouched(tmp_path):
    import dbm

    path = tmp_path / "foreign"
    with dbm.open(str(path), "c") as store:
        store[b"user"] = b"ann"
    assert_refused_untouched(path, "shelve", "not a LeakDB file")


def test_too_few_databases_is_an_error(tmp_path):
    path = str(tmp_path / "dbs.db")
    with PersistentStorage(path) as storage:
        storage.set("k", 1, db=9)
    with pytest.raises(StorageError, match="database 9"):
        PersistentStorage(path, databases=4)


def test_custom_backend_instance(tmp_path):
    backend = SQLiteBackend(str(tmp_path / "custom.db"))
    with PersistentStorage(None, backend=backend) as storage:
        storage.set("a", 1)
        assert storage.info()["filename"] == str(tmp_path / "custom.db")
    with PersistentStorage(str(tmp_path / "custom.db")) as reopened:
        assert reopened.get("a") == 1


def change(op, db, key=None, value=None, expire_at_ms=None):
    return Change(op, db, key, value, expire_at_ms)


def test_coalescing_log_keeps_the_latest_change_per_key():
    log = CoalescingLog()
    log.add(change(SET, 0, b"a", b"1"))
    log.add(change(SET, 0, b"b", b"1"))
    log.add(change(SET, 0, b"a", b"2"))
    log.add(change(EXPIRE, 0, b"a", None, 123))
    log.add(change(DELETE, 0, b"b"))
    assert len(log) == 2
    assert log.items() == [change(SET, 0, b"a", b"2", 123), change(DELETE, 0, b"b")]


def test_coalescing_log_orders_around_whole_database_changes():
    log = CoalescingLog()
    log.add(change(SET, 0, b"a", b"old"))
    log.add(change(SET, 1, b"x", b"1"))
    log.add(change(FLUSHDB, 0))
    log.add(change(SET, 0, b"a", b"new"))
    log.add(change(SWAPDB, 0, None, 1))
    log.add(change(SET, 0, b"a", b"newest"))
    assert log.items() == [
        change(SET, 1, b"x", b"1"),
        change(FLUSHDB, 0),
        change(SET, 0, b"a", b"new"),
        change(SWAPDB, 0, None, 1),
        change(SET, 0, b"a", b"newest"),
    ]
    assert len(log) == 5


def test_failed_batch_merges_back_and_newer_writes_win():
    pending = CoalescingLog([change(SET, 0, b"a", b"newer"), change(EXPIRE, 0, b"b", None, 5)])
    merged = pending.merged_after(
        [change(SET, 0, b"a", b"older"), change(SET, 0, b"b", b"1"), change(SET, 0, b"c", b"1")]
    )
    assert sorted(merged.items()) == sorted(
        [change(SET, 0, b"a", b"newer"), change(SET, 0, b"b", b"1", 5), change(SET, 0, b"c", b"1")]
    )
