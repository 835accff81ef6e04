"""The write-behind queue: worker hand-over, retries with back-off, auto-flush, the timer thread."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

import gevent
import pytest
from conftest import HANG_SECONDS

from leakdb import PersistentQueueStorage, QueueItem, QueueStorage


def wait_until(condition, timeout: float = HANG_SECONDS) -> bool:
    """Poll `condition`; a generous timeout only bounds a failure, it is never a timing assertion."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return condition()


class Recorder(QueueStorage):
    def __init__(self, **options):
        self.seen: list[QueueItem] = []
        super().__init__(**options)
        self.queue.retry_delay = 0.001

    def worker_process(self, item):
        self.seen.append(item)
        return True


def test_every_write_is_a_fifo_queue_item():
    storage = Recorder()
    before = time.time()
    storage.set("a", {"x": 1})
    storage.set("a", 2)
    storage.expire("a", 100)
    storage.delete("a")
    storage.set("b", b"raw", db=3)
    assert len(storage.queue) == 5  # not coalesced
    assert storage.flush() is True
    ops = [(item.operation, item.key, item.value, item.db) for item in storage.seen]
    assert ops == [
        ("set", b"a", {"x": 1}, 0),
        ("set", b"a", 2, 0),
        ("expire", b"a", None, 0),
        ("del", b"a", None, 0),
        ("set", b"b", b"raw", 3),
    ]
    assert all(before <= item.timestamp <= time.time() for item in storage.seen)
    assert storage.seen[2].expire_at_ms > 0
    assert len(storage.queue) == 0
    storage.close()


def test_default_worker_consumes_items():
    with QueueStorage() as storage:
        storage.set("a", 1)
        assert storage.flush(force=True)
        assert storage.info()["flushes"] == 1
        assert str(storage) == "0 items in queue :: 1 items in storage memory"


class Flaky(QueueStorage):
    """Fails on each key twice (once by returning False, once by raising), then succeeds."""

    def __init__(self, **options):
        self.attempts: dict[bytes, int] = {}
        self.done: list[bytes] = []
        super().__init__(**options)
        self.queue.retry_delay = 0.001

    def worker_process(self, item):
        count = self.attempts[item.key] = self.attempts.get(item.key, 0) + 1
        if count == 1:
            return False
        if count == 2:
            raise RuntimeError("backend unavailable")
        self.done.append(item.key)
        return True


def test_failing_worker_keeps_the_item_and_retries(caplog):
    storage = Flaky()
    storage.set("k", 1)
    with caplog.at_level(logging.WARNING, logger="leakdb"):
        assert storage.flush() is False
        assert len(storage.queue) == 1
        storage.queue._retry_at = 0.0  # skip the back-off for the next non-forced flush
        assert storage.flush() is False
    assert len(storage.queue) == 1
    assert "backend unavailable" in caplog.text
    info = storage.info()
    assert info["flush_errors"] == 2 and "backend unavailable" in info["last_error"]
    storage.queue._retry_at = 0.0
    assert storage.flush() is True
    assert storage.done == [b"k"] and len(storage.queue) == 0
    storage.close()


def test_forced_flush_retries_until_the_worker_succeeds():
    storage = Flaky()
    storage.set_multi({"a": 1, "b": 2})
    assert storage.flush(force=True) is True
    assert sorted(storage.done) == [b"a", b"b"]
    assert storage.attempts == {b"a": 3, b"b": 3}
    storage.close()


def test_back_off_skips_unforced_flushes():
    storage = Flaky()
    storage.queue.retry_delay = 60.0
    storage.set("k", 1)
    assert storage.flush() is False
    assert storage.flush() is False  # backing off: the worker is not called again
    assert storage.attempts == {b"k": 1}
    storage.queue.retry_delay = 0.001
    storage.close()
    assert storage.done == [b"k"]


class AlwaysFails(QueueStorage):
    def worker_process(self, item):
        return False


def test_items_are_never_dropped(caplog):
    storage = AlwaysFails()
    storage.queue.retry_delay = 0.001
    storage.set_multi({"a": 1, "b": 2})
    with caplog.at_level(logging.ERROR, logger="leakdb"):
        assert storage.flush(force=True) is False
        storage.close()
    assert len(storage.queue) == 2
    assert "2 items" in caplog.text


def test_writes_during_a_failed_flush_stay_in_order():
    storage = AlwaysFails()
    storage.queue.retry_delay = 0.001
    storage.set("a", 1)
    storage.flush()
    storage.set("b", 2)
    assert [item.key for item in storage.queue._pending] == [b"a", b"b"]
    storage.worker_process = lambda item: True
    storage.close()


def test_maxsize_flushes_in_the_writer():
    storage = Recorder(maxsize=3)
    storage.set("a", 1)
    storage.set("b", 1)
    assert storage.seen == []
    storage.set("c", 1)
    assert [item.key for item in storage.seen] == [b"a", b"b", b"c"]
    assert len(storage.queue) == 0
    storage.close()


class Concurrent(QueueStorage):
    def __init__(self, **options):
        self.running = 0
        self.peak = 0
        self.done = 0
        super().__init__(**options)

    def worker_process(self, item):
        self.running += 1
        self.peak = max(self.peak, self.running)
        gevent.sleep(0.001)
        self.running -= 1
        self.done += 1
        return True


def test_workers_are_gevent_greenlets():
    storage = Concurrent(workers=4)
    storage.set_multi({f"k{i}": i for i in range(12)})
    assert storage.flush(force=True)
    assert storage.done == 12
    assert storage.peak == 4
    storage.close()


def test_workers_run_inside_another_thread():
    storage = Concurrent(workers=3)
    storage.set_multi({f"k{i}": i for i in range(9)})
    results = []
    thread = threading.Thread(target=lambda: results.append(storage.flush(force=True)))
    thread.start()
    thread.join()
    assert results == [True] and storage.done == 9 and storage.peak == 3
    storage.close()


class WritesBack(QueueStorage):
    def worker_process(self, item):
        if item.key == b"trigger":
            self.set("written-by-worker", 1)  # re-entrant write: must not deadlock
        return True


def test_worker_may_write_to_its_own_storage():
    storage = WritesBack(maxsize=1)
    storage.set("trigger", 1)
    assert storage.get("written-by-worker") == 1
    assert storage.flush(force=True)
    assert len(storage.queue) == 0
    storage.close()


def test_timer_thread_flushes_without_yielding_to_gevent():
    storage = Recorder(flush_interval=0.01)
    storage.set("a", 1)
    assert wait_until(lambda: storage.seen)
    assert storage.seen[0].key == b"a"
    storage.close()
    assert storage.queue._timer is None


def read_rows(path) -> dict[bytes, bytes]:
    connection = sqlite3.connect(path)
    try:
        return {bytes(k): bytes(v) for k, v in connection.execute("SELECT key, value FROM keys")}
    finally:
        connection.close()


def test_persistent_queue_coalesces_by_key(tmp_path):
    path = str(tmp_path / "q.db")
    with PersistentQueueStorage(path, flush_interval=None) as storage:
        storage.set("bar", {"foo": "bar"})
        storage.set("foo", 2, key_prefix="bar_")
        storage.incr("bar_foo", delta=5)
        storage.incr("foobar", initial_value=1000)
        assert storage.info()["queue_length"] == 3
        assert read_rows(path) == {}
        assert storage.flush(force=True)
        assert read_rows(path) == {b"bar": b'{"foo": "bar"}', b"bar_foo": b"7", b"foobar": b"1000"}


def test_persistent_queue_auto_flush_at_maxsize(tmp_path):
    path = str(tmp_path / "q.db")
    with PersistentQueueStorage(path, maxsize=3, flush_interval=None) as storage:
        storage.set("a", 1)
        storage.set("a", 2)  # coalesced: still one pending item
        storage.set("b", 1)
        assert read_rows(path) == {}
        storage.set("c", 1)
        assert read_rows(path) == {b"a": b"2", b"b": b"1", b"c": b"1"}
        assert storage.info()["flushes"] == 1


def test_persistent_queue_timer_flush(tmp_path):
    path = str(tmp_path / "q.db")
    with PersistentQueueStorage(path, flush_interval=0.01) as storage:
        storage.set("a", 1)
        assert wait_until(lambda: read_rows(path) == {b"a": b"1"})
        assert wait_until(lambda: storage.info()["flushes"] >= 1)
        assert storage.info()["last_flush_ms"] > 0


def test_persistent_queue_failed_batch_is_retried_and_newer_writes_win(tmp_path):
    path = str(tmp_path / "q.db")
    storage = PersistentQueueStorage(path, flush_interval=None)
    storage.queue.retry_delay = 0.001
    real_apply = storage.backend.apply
    failures = []

    def flaky_apply(changes):
        if len(failures) < 2:
            failures.append(len(changes))
            raise OSError("disk full")
        real_apply(changes)

    storage.backend.apply = flaky_apply
    storage.set_multi({"a": 1, "b": 1})
    assert storage.flush() is False
    storage.set("a", 2)
    storage.set("c", 3)
    assert storage.info()["queue_length"] == 3
    assert storage.info()["flush_errors"] == 1 and "disk full" in storage.info()["last_error"]
    assert storage.flush(force=True) is True
    assert read_rows(path) == {b"a": b"2", b"b": b"1", b"c": b"3"}
    storage.close()


def test_close_raises_when_writes_cannot_be_saved(tmp_path):
    storage = PersistentQueueStorage(str(tmp_path / "q.db"), flush_interval=None)
    storage.queue.retry_delay = 0.001

    def broken(changes):
        raise OSError("read-only file system")

    real_apply = storage.backend.apply
    storage.backend.apply = broken
    storage.set("a", 1)
    with pytest.raises(Exception, match="could not be saved"):
        storage.close()
    assert not storage.closed and len(storage.queue) == 1
    storage.backend.apply = real_apply
    storage.close()
    assert read_rows(str(tmp_path / "q.db")) == {b"a": b"1"}
