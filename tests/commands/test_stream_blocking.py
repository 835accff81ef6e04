"""Blocking XREAD and XREADGROUP with real connections, each scenario run on redis-server and on leakdb.

A scenario blocks one or more raw connections (in order: each is seen blocked, through INFO's
blocked_clients, before the next one is sent), then runs actions on a control connection, asking
INFO after each how many clients are still blocked; then it reads every blocked connection's reply.
The two servers must give the same replies byte for byte (clock readings compared within the test's
running time).  Nothing waits for a duration: order is asserted, never time.
"""

from __future__ import annotations

import re
import time

import pytest
import redis
from stream_oracle import Connection, same_but_times

BLOCKED = re.compile(rb"blocked_clients:(\d+)")

XREADGROUP = ("XREADGROUP", "GROUP", "g", "alice", "BLOCK", "0", "STREAMS", "s", ">")
MAKE_GROUP = ("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")


def blocked_count(control: Connection) -> int:
    return int(BLOCKED.search(control.call("INFO", "clients")).group(1))


def wait_blocked(control: Connection, count: int, exactly: bool = False) -> None:
    """Until the server reports `count` blocked clients (at least, or `exactly`): an order, not a time;
    the deadline only turns a hang into a failure."""
    deadline = time.monotonic() + 30
    while True:
        blocked = blocked_count(control)
        if blocked == count or (blocked > count and not exactly):
            return
        assert time.monotonic() < deadline, f"{blocked} clients blocked, waiting for {count}"
        time.sleep(0.005)


def run_scenario(port: int, protocol: int, setup, blocked, actions) -> list[bytes]:
    """Everything the clients received, in order: setup and action replies (each followed by the
    number of clients still blocked, outside MULTI), then each blocked client's reply."""
    control = Connection(port, protocol)
    waiters: list[Connection] = []
    try:
        wait_blocked(control, 0, exactly=True)  # clients of an earlier test have hung up
        transcript = [control.call("FLUSHALL")]
        transcript.extend(control.call(*command) for command in setup)
        for index, command in enumerate(blocked):
            waiter = Connection(port, protocol)
            waiter.send(command)
            waiters.append(waiter)
            wait_blocked(control, index + 1)
        queueing = False
        for command in actions:
            transcript.append(control.call(*command))
            queueing = command[0] == "MULTI" or (queueing and command[0] != "EXEC")
            if not queueing:
                transcript.append(b"blocked %d" % blocked_count(control))
        transcript.extend(waiter.receive()[0] for waiter in waiters)
    finally:
        for connection in (control, *waiters):
            connection.close()
    return transcript


SCENARIOS = {
    "xadd wakes xread $": (
        [("XADD", "s", "1-1", "f", "v")],
        [("XREAD", "BLOCK", "0", "STREAMS", "s", "$")],
        [("XADD", "s", "2-1", "g", "w")],
    ),
    "xread $ on a missing key": (
        [],
        [("XREAD", "BLOCK", "0", "STREAMS", "s", "$")],
        [("SET", "other", "x"), ("XADD", "s", "5-5", "f", "v")],
    ),
    "the first key made ready serves": (
        [],
        [("XREAD", "COUNT", "1", "BLOCK", "0", "STREAMS", "a", "b", "$", "$")],
        [
            ("MULTI",),
            ("XADD", "b", "1-1", "f", "v"),
            ("XADD", "b", "1-2", "f", "v"),
            ("XADD", "a", "1-1", "f", "v"),
            ("EXEC",),
        ],
    ),
    "an id not yet reached": (
        [("XADD", "s", "1-1", "f", "v")],
        [("XREAD", "BLOCK", "0", "STREAMS", "s", "3-0")],
        [("XADD", "s", "2-1", "f", "v"), ("XADD", "s", "3-1", "f", "v")],
    ),
    "xdel and xsetid do not wake": (
        [("XADD", "s", "1-1", "f", "v"), ("XADD", "s", "2-1", "f", "v"), ("XDEL", "s", "2-1")],
        [("XREAD", "BLOCK", "0", "STREAMS", "s", "1-5")],
        [
            ("XDEL", "s", "1-1"),
            ("XSETID", "s", "9-9"),
            ("XTRIM", "s", "MAXLEN", "0"),
            ("XADD", "s", "10-1", "f", "v"),
        ],
    ),
    "xadd with maxlen 0 serves an empty read": (
        [("XADD", "s", "1-1", "f", "v")],
        [("XREAD", "BLOCK", "0", "STREAMS", "s", "$")],
        [("XADD", "s", "MAXLEN", "0", "2-1", "f", "v")],
    ),
    "a stream renamed onto the key": (
        [("XADD", "t", "1-1", "f", "v")],
        [("XREAD", "BLOCK", "0", "STREAMS", "s", "0")],
        [("LPUSH", "s", "x"), ("DEL", "s"), ("RENAME", "t", "s")],
    ),
    "xread is not woken by deletion": (
        [("XADD", "s", "1-1", "f", "v")],
        [("XREAD", "BLOCK", "0", "STREAMS", "s", "$")],
        [("DEL", "s"), ("XADD", "s", "1-1", "f", "v"), ("XADD", "s", "1-2", "f", "v")],
    ),
    "xreadgroup gets new entries": (
        [MAKE_GROUP],
        [XREADGROUP],
        [
            ("XGROUP", "CREATECONSUMER", "s", "g", "bob"),
            ("XADD", "s", "1-1", "f", "v"),
            ("XPENDING", "s", "g"),
        ],
    ),
    "xreadgroup noack and count": (
        [MAKE_GROUP],
        [("XREADGROUP", "GROUP", "g", "alice", "COUNT", "1", "NOACK", "BLOCK", "0", "STREAMS", "s", ">")],
        [
            ("MULTI",),
            ("XADD", "s", "1-1", "f", "v"),
            ("XADD", "s", "2-1", "f", "v"),
            ("EXEC",),
            ("XPENDING", "s", "g"),
        ],
    ),
    "first blocked, first served": (
        [MAKE_GROUP],
        [XREADGROUP, ("XREADGROUP", "GROUP", "g", "bob", "BLOCK", "0", "STREAMS", "s", ">")],
        [
            ("XADD", "s", "1-1", "f", "v"),
            ("XADD", "s", "2-1", "f", "v"),
            ("XPENDING", "s", "g", "-", "+", "9"),
        ],
    ),
    "xreadgroup and xread on one key": (
        [MAKE_GROUP],
        [XREADGROUP, ("XREAD", "BLOCK", "0", "STREAMS", "s", "$")],
        [("XADD", "s", "1-1", "f", "v")],
    ),
    "setid backwards waits for the next xadd": (
        [("XADD", "s", "1-1", "f", "v"), ("XGROUP", "CREATE", "s", "g", "$")],
        [XREADGROUP],
        [("XGROUP", "SETID", "s", "g", "0"), ("XACK", "s", "g", "1-1"), ("XADD", "s", "2-1", "f", "v")],
    ),
    "the stream deleted": ([MAKE_GROUP], [XREADGROUP], [("DEL", "s")]),
    "the stream replaced by a string": ([MAKE_GROUP], [XREADGROUP], [("SET", "s", "x")]),
    "the stream replaced by a list": (
        [MAKE_GROUP],
        [XREADGROUP],
        [("MULTI",), ("DEL", "s"), ("LPUSH", "s", "a"), ("EXEC",)],
    ),
    "flushall": ([MAKE_GROUP], [XREADGROUP], [("FLUSHALL",)]),
    "flushdb": ([MAKE_GROUP], [XREADGROUP], [("FLUSHDB",)]),
    "swapdb": ([MAKE_GROUP], [XREADGROUP], [("SWAPDB", "0", "1")]),
    "renamed away": ([MAKE_GROUP], [XREADGROUP], [("RENAME", "s", "t")]),
    "moved away": ([MAKE_GROUP], [XREADGROUP], [("MOVE", "s", "1")]),
    "the group destroyed": (
        [MAKE_GROUP, ("XGROUP", "CREATE", "s", "h", "$")],
        [XREADGROUP],
        [("XGROUP", "DESTROY", "s", "h"), ("XGROUP", "DESTROY", "s", "g")],
    ),
    "deleted and made again without the group": (
        [MAKE_GROUP],
        [XREADGROUP],
        [("MULTI",), ("DEL", "s"), ("XADD", "s", "1-1", "f", "v"), ("EXEC",)],
    ),
    "a stream with the group renamed onto the key": (
        [MAKE_GROUP, ("XADD", "t", "1-1", "f", "v"), ("XGROUP", "CREATE", "t", "g", "0")],
        [XREADGROUP],
        [("RENAME", "t", "s")],
    ),
    "copied over without the group": (
        [MAKE_GROUP, ("XADD", "t", "1-1", "f", "v")],
        [XREADGROUP],
        [("COPY", "t", "s", "REPLACE")],
    ),
    "one of two streams deleted": (
        [MAKE_GROUP, ("XGROUP", "CREATE", "s2", "g", "$", "MKSTREAM")],
        [("XREADGROUP", "GROUP", "g", "alice", "BLOCK", "0", "STREAMS", "s", "s2", ">", ">")],
        [("DEL", "s2")],
    ),
}


@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
@pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=SCENARIOS)
def test_blocked_stream_reads_match_redis(redis_server, leakdb_server, protocol, scenario):
    started = time.monotonic()
    expected = run_scenario(redis_server.port, protocol, *scenario)
    actual = run_scenario(leakdb_server.port, protocol, *scenario)
    assert len(actual) == len(expected)
    tolerance = int((time.monotonic() - started) * 1000) + 2
    for want, got in zip(expected, actual, strict=True):
        same_but_times(want, got, tolerance)


@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
def test_timeouts_and_transactions_reply_null(redis_server, leakdb_server, protocol):
    for port in (redis_server.port, leakdb_server.port):
        control = Connection(port, protocol)
        control.call("FLUSHALL")
        control.call(*MAKE_GROUP)
        null = b"_\r\n" if protocol == 3 else b"*-1\r\n"
        assert control.call("XREAD", "BLOCK", "1", "STREAMS", "s", "$") == null
        assert control.call("XREADGROUP", "GROUP", "g", "c", "BLOCK", "1", "STREAMS", "s", ">") == null
        control.call("MULTI")
        control.call("XREAD", "BLOCK", "0", "STREAMS", "s", "$")
        control.call("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "s", ">")
        assert control.call("EXEC") == b"*2\r\n" + null + null
        control.close()


def test_blocked_clients_are_listed(leakdb_server):
    control = Connection(leakdb_server.port)
    control.call("FLUSHALL")
    control.call(*MAKE_GROUP)
    reader = Connection(leakdb_server.port)
    reader.send(("XREAD", "BLOCK", "0", "STREAMS", "s", "$"))
    wait_blocked(control, 1)
    grouped = Connection(leakdb_server.port)
    grouped.send(XREADGROUP)
    wait_blocked(control, 2)
    listing = control.call("CLIENT", "LIST")
    assert re.search(rb"flags=b .*cmd=xread\b", listing) and re.search(
        rb"flags=b .*cmd=xreadgroup\b", listing
    )
    assert control.call("XADD", "s", "1-1", "f", "v") == b"$3\r\n1-1\r\n"
    assert b"1-1" in reader.receive()[0] and b"1-1" in grouped.receive()[0]
    assert blocked_count(control) == 0
    for connection in (control, reader, grouped):
        connection.close()


def test_a_reader_that_hung_up_takes_nothing(leakdb_server):
    control = Connection(leakdb_server.port)
    control.call("FLUSHALL")
    control.call(*MAKE_GROUP)
    gone = Connection(leakdb_server.port)
    gone.send(XREADGROUP)
    wait_blocked(control, 1)
    gone.close()
    deadline = time.monotonic() + 30
    while blocked_count(control) and time.monotonic() < deadline:
        time.sleep(0.005)
    staying = Connection(leakdb_server.port)
    staying.send(("XREADGROUP", "GROUP", "g", "bob", "BLOCK", "0", "STREAMS", "s", ">"))
    wait_blocked(control, 1)
    control.call("XADD", "s", "1-1", "f", "v")
    assert b"1-1" in staying.receive()[0]
    assert (
        control.call("XPENDING", "s", "g")
        == b"*4\r\n:1\r\n$3\r\n1-1\r\n$3\r\n1-1\r\n*1\r\n*2\r\n$3\r\nbob\r\n$1\r\n1\r\n"
    )
    for connection in (control, staying):
        connection.close()


def test_many_consumers_share_the_entries_exactly_once(leakdb_server):
    """Each of 20 blocked consumers gets one of 20 entries added one by one: none lost, none twice."""
    control = Connection(leakdb_server.port)
    control.call("FLUSHALL")
    control.call(*MAKE_GROUP)
    consumers = []
    for n in range(20):
        connection = Connection(leakdb_server.port)
        connection.send(("XREADGROUP", "GROUP", "g", f"c{n}", "BLOCK", "0", "STREAMS", "s", ">"))
        consumers.append(connection)
        wait_blocked(control, n + 1)
    for n in range(20):
        control.call("XADD", "s", f"{n + 1}-1", "n", str(n))
    replies = [connection.receive()[0] for connection in consumers]
    assert [re.search(rb"\$\d+\r\n(\d+-1)\r\n", reply).group(1) for reply in replies] == [
        f"{n + 1}-1".encode() for n in range(20)
    ]
    with redis.Redis(port=leakdb_server.port) as client:
        assert client.xpending("s", "g")["pending"] == 20
    for connection in (control, *consumers):
        connection.close()
