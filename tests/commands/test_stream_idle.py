"""Idle and delivery times of consumer groups to the millisecond, with the keyspace's clock in the
test's hands: LeakDB runs the commands in process (``storage.execute_command``) while
``leakdb.engine.keyspace.now_ms`` returns what the test sets.  The differential tests compare these
figures with redis-server within a tolerance; here the thresholds (XPENDING IDLE, XCLAIM and
XAUTOCLAIM min-idle-time) are probed at their exact edge.
"""

from __future__ import annotations

import pytest

from leakdb import DefaultStorage
from leakdb.engine import keyspace

START = 1_700_000_000_000


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> int:
        return self.now

    def advance(self, milliseconds: int) -> None:
        self.now += milliseconds


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(keyspace, "now_ms", clock)
    return clock


@pytest.fixture
def db(clock):
    storage = DefaultStorage()
    run = storage.execute_command
    for n in range(1, 5):
        run("XADD", "s", f"{n}-1", "f", str(n))
    run("XGROUP", "CREATE", "s", "g", "0")
    run("XREADGROUP", "GROUP", "g", "alice", "COUNT", "2", "STREAMS", "s", ">")
    yield run
    storage.close()


def pending(run, *extra):
    return [
        (entry_id, name, idle, count) for entry_id, name, idle, count in run("XPENDING", "s", "g", *extra)
    ]


def test_idle_times_count_from_the_delivery(db, clock):
    clock.advance(1500)
    assert pending(db, "-", "+", "10") == [(b"1-1", b"alice", 1500, 1), (b"2-1", b"alice", 1500, 1)]
    assert db("XINFO", "CONSUMERS", "s", "g") == [{b"name": b"alice", b"pending": 2, b"idle": 1500}]
    full = db("XINFO", "STREAM", "s", "FULL")
    (group,) = full[b"groups"]
    assert group[b"pending"] == [[b"1-1", b"alice", START, 1], [b"2-1", b"alice", START, 1]]
    assert group[b"consumers"][0][b"seen-time"] == START
    assert group[b"consumers"][0][b"pending"] == [[b"1-1", START, 1], [b"2-1", START, 1]]


def test_xpending_idle_filter_at_its_edge(db, clock):
    clock.advance(1500)
    assert len(pending(db, "IDLE", "1500", "-", "+", "10")) == 2
    assert pending(db, "IDLE", "1501", "-", "+", "10") == []
    db("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "0")  # delivered again: idle starts over
    clock.advance(10)
    assert pending(db, "-", "+", "10") == [(b"1-1", b"alice", 10, 2), (b"2-1", b"alice", 10, 2)]


def test_xclaim_min_idle_time_at_its_edge(db, clock):
    clock.advance(1500)
    assert db("XCLAIM", "s", "g", "bob", "1501", "1-1", "JUSTID") == []
    assert db("XCLAIM", "s", "g", "bob", "1500", "1-1", "JUSTID") == [b"1-1"]
    assert pending(db, "-", "+", "10") == [(b"1-1", b"bob", 0, 1), (b"2-1", b"alice", 1500, 1)]


def test_xclaim_sets_the_delivery_time(db, clock):
    clock.advance(1000)
    db("XCLAIM", "s", "g", "bob", "0", "1-1", "IDLE", "300")
    assert pending(db, "-", "+", "1") == [(b"1-1", b"bob", 300, 2)]
    db("XCLAIM", "s", "g", "bob", "0", "1-1", "TIME", str(START + 100))
    assert pending(db, "-", "+", "1") == [(b"1-1", b"bob", 900, 3)]
    for bogus in (str(START + 5000), "-1"):  # in the future, or negative: now
        db("XCLAIM", "s", "g", "bob", "0", "1-1", "TIME", bogus)
        assert pending(db, "-", "+", "1")[0][2] == 0
    db("XCLAIM", "s", "g", "bob", "0", "1-1", "IDLE", str(START + 10**9))  # before the epoch: now
    assert pending(db, "-", "+", "1")[0][2] == 0


def test_xautoclaim_min_idle_time_at_its_edge(db, clock):
    clock.advance(700)
    db("XCLAIM", "s", "g", "alice", "0", "2-1", "JUSTID")  # 2-1 delivered again, now
    clock.advance(300)
    assert db("XAUTOCLAIM", "s", "g", "bob", "1001", "0", "JUSTID") == [b"0-0", [], []]
    assert db("XAUTOCLAIM", "s", "g", "bob", "1000", "0", "JUSTID") == [b"0-0", [b"1-1"], []]
    assert db("XAUTOCLAIM", "s", "g", "bob", "300", "0", "COUNT", "1", "JUSTID") == [b"0-0", [b"2-1"], []]
    assert pending(db, "-", "+", "10") == [(b"1-1", b"bob", 0, 1), (b"2-1", b"bob", 0, 1)]


def test_seen_time_moves_only_when_a_consumer_is_served(db, clock):
    clock.advance(100)
    db("XREADGROUP", "GROUP", "g", "alice", "COUNT", "0", "STREAMS", "s", ">")  # 3-1 and 4-1: served
    clock.advance(100)
    db("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", ">")  # nothing new: not seen
    db("XPENDING", "s", "g", "-", "+", "10", "alice")
    db("XCLAIM", "s", "g", "alice", "5000", "1-1")  # claims nothing
    assert db("XINFO", "CONSUMERS", "s", "g")[0][b"idle"] == 100
    db("XCLAIM", "s", "g", "alice", "0", "1-1")
    assert db("XINFO", "CONSUMERS", "s", "g")[0][b"idle"] == 0


def test_generated_ids_come_from_the_same_clock(db, clock):
    assert db("XADD", "s", "*", "f", "v") == b"%d-0" % START
    assert db("XADD", "s", "*", "f", "v") == b"%d-1" % START
    clock.advance(1)
    assert db("XADD", "s", "*", "f", "v") == b"%d-0" % (START + 1)


def test_idle_is_never_negative(db, clock):
    clock.advance(-5000)  # the clock went back
    assert [row[2] for row in pending(db, "-", "+", "10")] == [0, 0]
    assert db("XINFO", "CONSUMERS", "s", "g")[0][b"idle"] == 0
