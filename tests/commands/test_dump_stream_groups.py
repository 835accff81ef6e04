"""DUMP and RESTORE of streams with consumer groups, against a real redis-server.

After the same commands on both servers, LeakDB's DUMP is Redis's byte for byte except the clock
readings (each pending entry's delivery time and each consumer's seen time, which are the two
servers' own clocks); those are compared as times read during the test, or exactly where a command
fixed them (XCLAIM TIME).  A payload from either server restores into the other with every time
kept, so there the bytes are equal without any masking, and XINFO STREAM FULL, XINFO GROUPS and
XPENDING of the restored key are Redis's (idle times within the test's duration).  Payloads with
broken group sections are refused as a sanitizing Redis refuses them.
"""

from __future__ import annotations

import pytest
from conftest import reply_of, wall_ms
from dumps import payload, rdb_string, start_redis, stream_clocks
from stream_oracle import Connection, Pair, same_but_times

from leakdb.rdb.listpack import encode_listpack

__all__ = ["start_redis"]  # a fixture, used by name

CLAIMED_AT = 1700000000000  # a delivery time fixed by XCLAIM TIME, the same on both servers


def entries(count: int, first: int = 1) -> list[tuple]:
    return [("XADD", "k", f"{n}-1", "f", n, "g", "v" * (n % 4)) for n in range(first, first + count)]


def read(group: str, consumer: str, count: int = 0, *extra: str) -> tuple:
    limit = ("COUNT", count) if count else ()
    return ("XREADGROUP", "GROUP", group, consumer, *limit, *extra, "STREAMS", "k", ">")


# Streams with groups: (name, commands building key "k").
GROUPED = [
    (
        "one group",
        [*entries(3), ("XGROUP", "CREATE", "k", "g", "0"), read("g", "alice", 2), read("g", "bob")],
    ),
    (
        "acked",
        [
            *entries(5),
            ("XGROUP", "CREATE", "k", "g", "0"),
            read("g", "alice", 3),
            read("g", "bob"),
            ("XACK", "k", "g", "1-1", "4-1"),
        ],
    ),
    (
        "groups and consumers in name order",
        [
            *entries(4),
            ("XGROUP", "CREATE", "k", "zeta", "0"),
            ("XGROUP", "CREATE", "k", "12", "$"),  # a name RDB stores as an integer
            ("XGROUP", "CREATE", "k", "a" * 70, "2-1", "ENTRIESREAD", "2"),
            ("XGROUP", "CREATE", "k", "unknown", "2-1"),
            read("zeta", "7", 1),
            read("zeta", "c" * 80, 1),
            read("zeta", "Bob", 1),
            read("a" * 70, "x"),
            read("unknown", "y", 1),
            ("XGROUP", "CREATECONSUMER", "k", "zeta", "idle"),
        ],
    ),
    (
        "noack and history",
        [
            *entries(6),
            ("XGROUP", "CREATE", "k", "g", "0"),
            read("g", "alice", 2, "NOACK"),
            read("g", "alice", 3),
            ("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "k", "0"),  # delivery counts go to 2
            ("XREADGROUP", "GROUP", "g", "alice", "COUNT", 1, "STREAMS", "k", "0"),
        ],
    ),
    (
        "claims",
        [
            *entries(6),
            ("XGROUP", "CREATE", "k", "g", "0"),
            read("g", "alice", 4),
            ("XCLAIM", "k", "g", "bob", 0, "1-1", "3-1", "TIME", CLAIMED_AT, "RETRYCOUNT", 7),
            ("XCLAIM", "k", "g", "carol", 0, "6-1", "FORCE", "TIME", CLAIMED_AT),
            ("XCLAIM", "k", "g", "carol", 0, "2-1", "JUSTID"),
            ("XAUTOCLAIM", "k", "g", "dave", 0, "0", "COUNT", 1),
        ],
    ),
    (
        "setid and redelivery",
        [
            *entries(5),
            ("XGROUP", "CREATE", "k", "g", "0"),
            read("g", "alice"),
            ("XGROUP", "SETID", "k", "g", "2-1"),
            read("g", "bob", 2),
            ("XGROUP", "SETID", "k", "g", "4-1", "ENTRIESREAD", 9),
        ],
    ),
    (
        "delconsumer",
        [
            *entries(4),
            ("XGROUP", "CREATE", "k", "g", "0"),
            read("g", "alice", 2),
            read("g", "bob"),
            ("XGROUP", "DELCONSUMER", "k", "g", "alice"),
        ],
    ),
    ("empty with a group", [("XGROUP", "CREATE", "k", "g", "$", "MKSTREAM")]),
    (
        "xsetid",
        [
            *entries(3),
            ("XGROUP", "CREATE", "k", "g", "0"),
            read("g", "alice", 1),
            ("XSETID", "k", "9-0", "ENTRIESADDED", 40, "MAXDELETEDID", "8-0"),
        ],
    ),
    (
        "many nodes and pending entries",
        [
            *entries(260),
            ("XGROUP", "CREATE", "k", "g", "0"),
            ("XGROUP", "CREATE", "k", "h", "100-1"),
            *[read("g", f"worker{n % 5}", 9) for n in range(25)],
            *[read("h", f"w{n % 3}", 40) for n in range(3)],
            ("XACK", "k", "g", *[f"{n}-1" for n in range(1, 200, 3)]),
        ],
    ),
]


def build(client, commands) -> None:
    """Run the commands over a raw connection to the client's server (redis-py's reply parsers do
    not know every XCLAIM and XAUTOCLAIM form)."""
    connection = Connection(client.connection_pool.connection_kwargs["port"])
    try:
        connection.send(*commands)
        for reply in connection.receive(len(commands)):
            assert not reply.startswith(b"-"), reply
    finally:
        connection.close()


def group_names(commands) -> list[str]:
    return sorted({command[3] for command in commands if command[:2] == ("XGROUP", "CREATE")})


def assert_same_clocks(expected: list[int], actual: list[int], started: int, ended: int) -> None:
    """Each pair of readings is equal, or both are clock readings taken while the commands ran."""
    assert len(expected) == len(actual)
    for index, (mine, theirs) in enumerate(zip(expected, actual, strict=True)):
        if mine != theirs:
            assert started <= mine <= ended and started <= theirs <= ended, (index, mine, theirs)


@pytest.mark.parametrize("commands", [case[1] for case in GROUPED], ids=[case[0] for case in GROUPED])
def test_dump_is_redis_bytes_but_for_clocks(pair, commands):
    oracle, ours = pair
    started = wall_ms()
    for client in pair:
        build(client, commands)
    ended = wall_ms()
    expected, actual = oracle.dump("k"), ours.dump("k")
    expected_body, expected_clocks = stream_clocks(expected)
    actual_body, actual_clocks = stream_clocks(actual)
    assert actual_body == expected_body
    assert_same_clocks(expected_clocks, actual_clocks, started, ended)
    if any(command[0] == "XCLAIM" for command in commands):
        assert CLAIMED_AT in actual_clocks


EXACT_VIEWS = [
    ("XINFO", "STREAM", "FULL"),
    ("XINFO", "STREAM", "FULL", "COUNT", 3),
    ("XINFO", "STREAM"),
    ("XINFO", "GROUPS"),
]


def exact_view(view: tuple, key: str) -> tuple:
    return (*view[:2], key, *view[2:])


def idle_views(key: str, group: bytes) -> list[tuple]:
    """Views with idle times in them, compared within the test's duration."""
    return [
        ("XINFO", "CONSUMERS", key, group),
        ("XPENDING", key, group),
        ("XPENDING", key, group, "-", "+", 1000),
        ("XPENDING", key, group, "IDLE", 0, "-", "+", 10),
    ]


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("commands", [case[1] for case in GROUPED], ids=[case[0] for case in GROUPED])
def test_payloads_cross_with_their_groups(redis_server, leakdb_server, pair, commands, protocol):
    """Redis's payload in LeakDB, and LeakDB's in Redis: the same bytes back, the same group state."""
    oracle, ours = pair
    for client in pair:
        build(client, commands)
    from_redis, from_leakdb = oracle.dump("k"), ours.dump("k")
    ours.restore("from-redis", 0, from_redis)
    oracle.restore("from-leakdb", 0, from_leakdb)
    assert ours.dump("from-redis") == from_redis
    assert oracle.dump("from-leakdb") == from_leakdb
    groups = group_names(commands)
    raw = Pair(redis_server.port, leakdb_server.port, protocol)
    try:
        # A key restored from the other server's payload shows exactly what that server shows for its
        # own key, times included.
        for oracle_key, our_key in (("k", "from-redis"), ("from-leakdb", "k")):
            for view in EXACT_VIEWS:
                expected = raw.oracle.call(*exact_view(view, oracle_key))
                assert raw.ours.call(*exact_view(view, our_key)) == expected, view
        # The same payload in both: the same state, idle times aside, and the groups go on from there.
        raw.oracle.call("RESTORE", "k2", 0, from_leakdb)
        raw.ours.call("RESTORE", "k2", 0, from_leakdb)
        for name in groups:
            for view in idle_views("k2", name):
                raw.same(*view)
        first, last = groups[0], groups[-1]
        raw.same_batch(
            ("XADD", "k2", "1000000-0", "f", "new"),
            ("XREADGROUP", "GROUP", last, "alice", "STREAMS", "k2", ">"),
            ("XACK", "k2", first, "1-1", "2-1", "3-1"),
            ("XAUTOCLAIM", "k2", first, "zed", 0, "0", "COUNT", 2, "JUSTID"),
            ("XINFO", "GROUPS", "k2"),
            ("XPENDING", "k2", first),
        )
    finally:
        raw.close()


def test_a_restored_group_goes_on_delivering(redis_server, leakdb_server, pair):
    """Redis's payload restored into LeakDB serves the next reads, acks and claims as Redis does, and
    LeakDB's state after them reads back into Redis as the state Redis reached."""
    oracle, ours = pair
    build(oracle, GROUPED[0][1])
    ours.restore("k", 0, oracle.dump("k"))
    raw = Pair(redis_server.port, leakdb_server.port)
    try:
        raw.same_batch(
            ("XADD", "k", "10-0", "f", "new"),
            read("g", "carol"),
            read("g", "alice"),
            ("XACK", "k", "g", "1-1", "10-0"),
            ("XPENDING", "k", "g"),
            ("XINFO", "GROUPS", "k"),
            ("XCLAIM", "k", "g", "alice", 0, "3-1", "TIME", CLAIMED_AT, "JUSTID"),
        )
        oracle.restore("check", 0, ours.dump("k"))
        expected = raw.oracle.call("XINFO", "STREAM", "k", "FULL")
        same_but_times(expected, raw.oracle.call("XINFO", "STREAM", "check", "FULL"), raw.tolerance_ms())
    finally:
        raw.close()


# -- payloads built by hand ------------------------------------------------------------------------


def _id(ms: int, seq: int = 1) -> bytes:
    return ms.to_bytes(8, "big") + seq.to_bytes(8, "big")


_UNKNOWN = b"\x81" + b"\xff" * 8  # entries-read unknown: UINT64_MAX
_CLOCK = CLAIMED_AT.to_bytes(8, "little")
# One node holding 1-1, 2-1 and 3-1 (f=v), then length 3, last ID 3-1, first ID 1-1, nothing
# deleted, 3 added.
_NODE = encode_listpack([3, 0, 1, b"f", 0, 2, 0, 0, b"v", 4, 2, 1, 0, b"v", 4, 2, 2, 0, b"v", 4])
_STREAM = b"\x01" + rdb_string(_id(1)) + rdb_string(_NODE) + b"\x03\x03\x01\x01\x01\x00\x00\x03"
_OLD_STREAM = b"\x01" + rdb_string(_id(1)) + rdb_string(_NODE) + b"\x03\x03\x01"


def group(
    name: bytes, pel: list[int], consumers: list[tuple[bytes, list[int]]], read: bytes = b"\x02"
) -> bytes:
    """A group whose last delivered ID is 2-1, `read` its entries-read (b"" in type 15)."""
    parts = [rdb_string(name), b"\x02\x01", read, bytes((len(pel),))]
    parts += [_id(ms) + _CLOCK + b"\x01" for ms in pel]
    parts.append(bytes((len(consumers),)))
    for consumer, owned in consumers:
        parts += [rdb_string(consumer), _CLOCK, bytes((len(owned),)), *[_id(ms) for ms in owned]]
    return b"".join(parts)


def stream(*groups: bytes, old: bool = False) -> bytes:
    head = b"\x0f" + _OLD_STREAM if old else b"\x13" + _STREAM
    return head + bytes((len(groups),)) + b"".join(groups)


HANDMADE = [
    ("ok", stream(group(b"g", [1, 2], [(b"a", [1]), (b"b", [2])]))),
    ("unknown entries read", stream(group(b"g", [1], [(b"a", [1])], _UNKNOWN))),
    ("pending entry of a deleted ID", stream(group(b"g", [1, 9], [(b"a", [1, 9])]))),
    ("consumer with nothing", stream(group(b"g", [], [(b"a", [])]), group(b"h", [], []))),
    ("type 15 estimates entries read", stream(group(b"g", [1], [(b"a", [1])], b""), old=True)),
    ("type 15 two groups", stream(group(b"g", [], [], b""), group(b"h", [2], [(b"x", [2])], b""), old=True)),
    ("group twice", stream(group(b"g", [], []), group(b"g", [], []))),
    ("pending entry twice", stream(group(b"g", [1, 1], [(b"a", [1])]))),
    ("consumer twice", stream(group(b"g", [1], [(b"a", [1]), (b"a", [])]))),
    ("owned but not pending", stream(group(b"g", [1], [(b"a", [1, 2])]))),
    ("owned twice by one", stream(group(b"g", [1], [(b"a", [1, 1])]))),
    ("pending without owner", stream(group(b"g", [1, 2], [(b"a", [1])]))),
    ("truncated", stream(group(b"g", [1], [(b"a", [1])]))[:-9]),
]


@pytest.mark.parametrize("body", [case[1] for case in HANDMADE], ids=[case[0] for case in HANDMADE])
def test_handmade_group_sections_load_as_a_sanitizing_redis_loads_them(start_redis, leakdb_server, body):
    oracle = start_redis("--sanitize-dump-payload", "yes").client()
    ours = leakdb_server.client()
    ours.delete("k")
    data = payload(body)
    outcome = reply_of(oracle, "RESTORE", "k", 0, data)
    assert reply_of(ours, "RESTORE", "k", 0, data) == outcome
    if outcome == b"OK":
        for view in (("XINFO", "STREAM", "k", "FULL"), ("XINFO", "GROUPS", "k")):
            assert reply_of(ours, *view) == reply_of(oracle, *view), view
        assert ours.dump("k") == oracle.dump("k")
    else:
        assert ours.exists("k") == 0
    oracle.close()
    ours.close()


def test_clocks_in_a_payload_are_the_ones_xinfo_shows(r):
    """The masking above looks where the clocks are: a payload's times are what XINFO reports."""
    r.restore("k", 0, payload(stream(group(b"g", [1], [(b"a", [1])]))))
    body, clocks = stream_clocks(r.dump("k"))
    assert clocks == [CLAIMED_AT, CLAIMED_AT]
    full = Connection(r.connection_pool.connection_kwargs["port"]).call("XINFO", "STREAM", "k", "FULL")
    # The group's pending entry, the consumer's seen time and the consumer's pending entry.
    assert full.count(b":%d\r\n" % CLAIMED_AT) == 3
    assert _CLOCK not in body and _CLOCK in r.dump("k")
