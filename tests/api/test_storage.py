"""The Python API as a user sees it, for every storage class (and both backends where there is a file)."""

from __future__ import annotations

import json
import time

import pytest

from leakdb import (
    DefaultStorage,
    PersistentQueueStorage,
    PersistentStorage,
    QueueStorage,
    ValueNotAnIntegerError,
    make_storage,
)
from leakdb.engine.keyspace import now_ms
from leakdb.errors import NotAnIntegerError, StorageError

KINDS = [
    "memory",
    "queue",
    "persistent-sqlite",
    "persistent-shelve",
    "persistent-queue-sqlite",
    "persistent-queue-shelve",
]


def open_storage(kind: str, path, **options):
    if kind == "memory":
        return DefaultStorage(**options)
    if kind == "queue":
        return QueueStorage(**options)
    mode, _, backend = kind.rpartition("-")
    cls = PersistentStorage if mode == "persistent" else PersistentQueueStorage
    return cls(str(path / "store.db"), backend=backend, **options)


@pytest.fixture(params=KINDS)
def storage(request, tmp_path):
    store = open_storage(request.param, tmp_path)
    yield store
    store.close()


def test_set_get_and_json_values(storage):
    assert storage.set("bar", {"foo": "bar"}) is True
    assert storage.set("list", [1, "two", None])
    assert storage.set(b"bytes", b"\x00\xff raw")
    assert storage.get("bar") == {"foo": "bar"}
    assert storage.get(b"bar") == {"foo": "bar"}
    assert storage.get("list") == [1, "two", None]
    assert storage.get("bytes") == b"\x00\xff raw"
    assert storage.get("missing") is None
    assert storage.get("missing", default=5) == 5
    # What a Redis client reading the key sees.
    assert storage.keyspace[0].get_string(b"bar") == b'{"foo": "bar"}'


def test_unicode_keys_and_values(storage):
    storage.set("clé", "värde ✓")
    assert storage.get("clé") == "värde ✓"
    assert "clé".encode() in list(storage)


def test_key_prefix_and_multi(storage):
    storage.set("foo", 2, key_prefix="bar_")
    assert storage.get("bar_foo") == 2
    assert storage.set_multi({"a": 1, "b": {"x": 1}}, key_prefix="p:") is True
    assert storage.get_multi(["a", "b"], key_prefix="p:") == {"a": 1, "b": {"x": 1}}
    assert storage.get_multi(keys=["p:a", b"p:b", "nope"]) == {"p:a": 1, b"p:b": {"x": 1}}


def test_incr_and_decr(storage):
    storage.set("n", 2)
    assert storage.incr("n", delta=5) == 7
    assert storage.keyspace[0].get_string(b"n") == b"7"
    assert storage.incr("fresh") == 1
    assert storage.incr("start", initial_value=1000) == 1000
    assert storage.incr("start", initial_value=1000) == 1001
    assert storage.decr("down") == -1
    assert storage.decr("down2", delta=3) == -3
    assert storage.decr("from", delta=3, initial_value=10) == 10
    assert storage.decr("from", delta=3) == 7
    assert storage.get("from") == 7


def test_incr_on_a_non_integer_names_the_key(storage):
    storage.set("doc", {"a": 1})
    with pytest.raises(ValueNotAnIntegerError) as raised:
        storage.incr("doc")
    assert isinstance(raised.value, ValueError)
    assert isinstance(raised.value, NotAnIntegerError)
    assert "doc" in str(raised.value)
    assert storage.get("doc") == {"a": 1}


def test_delete_contains_len_iter(storage):
    storage.set_multi({"a": 1, "b": 2, "c": 3})
    assert len(storage) == 3
    assert "a" in storage and b"b" in storage and "z" not in storage
    assert sorted(storage) == [b"a", b"b", b"c"]
    assert storage.delete("a") is True
    assert storage.delete("a") is False
    assert "a" not in storage
    assert len(storage) == 2


def test_expire_and_ttl(storage):
    storage.set("k", 1)
    assert storage.ttl("k") == -1
    assert storage.ttl("missing") == -2
    assert storage.expire("missing", 10) is False
    before = now_ms()
    assert storage.expire("k", 100) is True
    after = now_ms()
    assert before + 100_000 <= storage.keyspace[0].deadline(b"k") <= after + 100_000
    assert 0 < storage.ttl("k") <= 100
    storage.keyspace[0].set_expire(b"k", int(time.time() * 1000) + 1)
    time.sleep(0.005)
    assert storage.get("k") is None
    assert storage.ttl("k") == -2
    storage.set("gone", 1)
    assert storage.expire("gone", 0) is True
    assert "gone" not in storage


def test_set_replaces_the_deadline(storage):
    storage.set("k", 1)
    storage.expire("k", 100)
    storage.set("k", 2)
    assert storage.ttl("k") == -1


def test_other_databases(storage):
    storage.set("k", "zero")
    storage.set("k", "one", db=1)
    assert storage.get("k") == "zero"
    assert storage.get("k", db=1) == "one"
    assert storage.incr("n", db=3) == 1
    assert storage.get_multi(["k"], db=1) == {"k": "one"}


def test_values_written_by_redis_clients(storage):
    database = storage.keyspace[0]
    database.set(b"plain", b"hello world")
    database.set(b"binary", b"\xff\xfe")
    database.set(b"number", b"42")
    assert storage.get("plain") == b"hello world"
    assert storage.get("binary") == b"\xff\xfe"
    assert storage.get("number") == 42


def test_flush_close_and_context_manager(storage):
    storage.set("a", 1)
    assert storage.flush(force=True) is True
    assert storage.flush() is True
    assert storage.info()["queue_length"] == 0
    storage.close()
    storage.close()  # idempotent


def test_sync_and_write_through_flags(storage):
    storage.set("a", 1)
    storage.sync()
    assert storage.write_through is (storage.mode == "persistent")


def test_info_keys(storage):
    storage.set("a", 1)
    info = storage.info()
    assert set(info) == {
        "mode",
        "backend",
        "filename",
        "file_size",
        "queue_length",
        "flushes",
        "flush_errors",
        "last_flush_ms",
        "last_error",
        "keys_loaded",
        "load_time_ms",
    }
    assert info["mode"] == storage.mode
    if storage.mode.startswith("persistent"):
        assert info["backend"] in ("sqlite", "shelve")
        assert info["file_size"] > 0
        storage.flush(force=True)
        assert storage.info()["flushes"] >= 1
        assert storage.info()["last_flush_ms"] > 0
    else:
        assert info["backend"] == "" and info["filename"] == ""


def test_str_formats(tmp_path):
    memory = DefaultStorage()
    memory.set_multi({"a": 1, "b": 2, "c": 3})
    assert str(memory) == "3 items in storage memory"
    with QueueStorage() as queued:
        queued.set_multi({"a": 1, "b": 2, "c": 3})
        assert str(queued) == "3 items in queue :: 3 items in storage memory"
        queued.flush(force=True)
        assert str(queued) == "0 items in queue :: 3 items in storage memory"
    path = tmp_path / "x.db"
    with PersistentStorage(str(path)) as persistent:
        persistent.set("a", 1)
        size = path.stat().st_size + (tmp_path / "x.db-wal").stat().st_size
        assert str(persistent) == f"{path} {size} bytes :: 1 items in storage memory"
    with PersistentQueueStorage(str(path), flush_interval=None) as write_behind:
        write_behind.set("b", 1)
        assert str(write_behind).startswith(f"{path} ")
        assert str(write_behind).endswith(" bytes :: 1 items in queue :: 2 items in storage memory")


def test_codecs():
    raw = DefaultStorage(codec="raw")
    raw.set("s", "text")
    raw.set("n", 5)
    assert raw.get("s") == b"text"
    assert raw.incr("n") == 6
    with pytest.raises(TypeError):
        raw.set("d", {"a": 1})
    pickled = DefaultStorage(codec="pickle")
    pickled.set("obj", {1, 2})
    pickled.set("n", 5)
    assert pickled.get("obj") == {1, 2}
    assert pickled.incr("n") == 6
    assert pickled.get("n") == 6
    pickled.keyspace[0].set(b"plain", b"hi")
    assert pickled.get("plain") == b"hi"
    with pytest.raises(ValueError):
        DefaultStorage(codec="yaml")


def test_keys_must_be_str_or_bytes():
    with pytest.raises(TypeError):
        DefaultStorage().set(3, "x")


def test_make_storage(tmp_path):
    assert type(make_storage("memory")) is DefaultStorage
    queued = make_storage("queue", flush_interval=None)
    assert type(queued) is QueueStorage and queued.queue.maxsize == 1000
    queued.close()
    persistent = make_storage("persistent", str(tmp_path / "p.db"), databases=4)
    assert type(persistent) is PersistentStorage and len(persistent.keyspace) == 4
    persistent.close()
    write_behind = make_storage("persistent-queue", str(tmp_path / "q.db"), backend="shelve")
    assert type(write_behind) is PersistentQueueStorage
    assert write_behind.info()["backend"] == "shelve"
    write_behind.close()
    with pytest.raises(ValueError):
        make_storage("persistent")
    with pytest.raises(ValueError):
        make_storage("disk")


def test_keyspace_writes_are_persisted_like_api_writes(tmp_path):
    """The server writes to the keyspace directly; the listener persists those writes too."""
    path = str(tmp_path / "shared.db")
    with PersistentStorage(path) as storage:
        storage.keyspace[0].set(b"from-redis", b"value")
        storage.sync()  # what the server does after a pipeline batch
    with PersistentStorage(path) as reopened:
        assert reopened.get("from-redis") == b"value"


def test_write_through_failure_that_cannot_be_undone_keeps_the_write_for_a_retry(tmp_path):
    """A backend that can neither write nor read (here: closed) cannot undo: the write is kept and
    retried, the one case where a write-through call that raised may still reach the file."""
    storage = PersistentStorage(str(tmp_path / "w.db"))
    storage.backend.close()
    with pytest.raises(StorageError):
        storage.set("a", 1)
    assert storage.info()["flush_errors"] == 1
    assert storage.info()["queue_length"] == 1
    assert "not open" in storage.info()["last_error"]
    storage.backend.open()
    assert list(storage.backend.load()) == []  # verified (empty: the write never got in), then writable
    storage.sync()
    storage.close()
    with PersistentStorage(str(tmp_path / "w.db")) as reopened:
        assert reopened.get("a") == 1


def test_json_output_matches_json_dumps():
    storage = DefaultStorage()
    storage.set("d", {"foo": "bar", "n": [1, 2]})
    assert storage.keyspace[0].get_string(b"d") == json.dumps({"foo": "bar", "n": [1, 2]}).encode()
