"""DUMP and RESTORE against a real redis-server: LeakDB's DUMP bytes equal Redis's wherever the two
hold a value in the same encoding; payloads cross both ways for every type and encoding; every
RESTORE option and error is answered with Redis's bytes in RESP2 and RESP3 and writes nothing;
payloads in the encodings of older Redis versions read as Redis 7.0 reads them; a hypothesis
property moves random values of every type across and back."""

from __future__ import annotations

import math
import os
import random
import signal
import struct
import time

import hiredis
import pytest
from conftest import reply_of
from dumps import RawSession, length, payload, rdb_string, read_value, start_redis, ziplist, zipmap
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leakdb.rdb.crc64 import crc64
from leakdb.rdb.listpack import encode_listpack

__all__ = ["start_redis"]  # a fixture, used by name

EXAMPLES = int(os.environ.get("LEAKDB_DUMP_EXAMPLES", "60"))
_random = random.Random(7)
NOISE = bytes(_random.randrange(256) for _ in range(300))
TEXT = b"".join(b"entry %d of the log: all quiet; " % n for n in range(3000))


def build(client, commands) -> None:
    for command in commands:
        client.execute_command(*command)


def both(pair, commands) -> None:
    for client in pair:
        build(client, commands)


def fields(count: int, width: int = 3) -> list[str]:
    return [part for n in range(count) for part in (f"f{n:0{width}}", f"v{n}")]


# Values whose DUMP must be byte for byte Redis's: (name, commands building key "k").
SAME_BYTES = [
    ("int8", [("SET", "k", "12")]),
    ("int16", [("SET", "k", "-300")]),
    ("int32", [("SET", "k", "70000")]),
    ("beyond int32", [("SET", "k", "123456789012")]),
    ("leading zero", [("SET", "k", "0012")]),
    ("minus zero", [("SET", "k", "-0")]),
    ("empty", [("SET", "k", "")]),
    ("short", [("SET", "k", "hello")]),
    ("21 bytes", [("SET", "k", "a" * 21)]),
    ("lzf", [("SET", "k", "abc" * 20)]),
    ("incompressible", [("SET", "k", NOISE)]),
    ("binary", [("SET", "k", bytes(range(256)) * 3)]),
    ("long text", [("SET", "k", TEXT)]),
    ("hash listpack", [("HSET", "k", "f", "v", "n", "12", "neg", "-5", "big", "99999999999", "", "x")]),
    ("hash 512", [("HSET", "k", *fields(512))]),
    ("hash 64-byte values", [("HSET", "k", "a" * 64, "b" * 64)]),
    ("intset", [("SADD", "k", 3, 1, 2)]),
    ("intset wide", [("SADD", "k", 1, 70000, -5000000000)]),
    ("intset 512", [("SADD", "k", *range(0, 1024, 2))]),
    (
        "zset listpack",
        [
            (
                "ZADD",
                *("k", 1, "a", 1.5, "b", "-0", "c", 0.1, "d", "inf", "e", "-inf", "f"),
                *(1e18, "g", 2**62, "h", 2**63, "i", 1e300, "j", -2.5e-7, "m", 3, "12"),
            )
        ],
    ),
    ("zset 128", [("ZADD", "k", *[part for n in range(128) for part in (n * 1.25, f"m{n}")])]),
    ("zset skiplist", [("ZADD", "k", *[part for n in range(129) for part in (n % 7, f"m{n}")])]),
    ("zset long member", [("ZADD", "k", 1, "x" * 65, 2, "y", "-inf", "z")]),
    ("list small", [("RPUSH", "k", "a", "1", "200", "-5", "hello", "")]),
    ("list integers", [("RPUSH", "k", *range(-500, 500))]),
    ("list nodes", [("RPUSH", "k", *[f"element number {n:05}" for n in range(3000)])]),
    # 126 elements of 62 bytes fill a node to 8071 bytes: one of 113 more is exactly at the 8 KB limit.
    ("list at the node limit", [("RPUSH", "k", *["n" * 62] * 126, "m" * 113, "a", "b")]),
    ("list big element", [("RPUSH", "k", "small", "x" * 10000, "small", "y" * 8180, "z")]),
    ("list grown", [("RPUSH", "k", *range(100)), ("RPUSH", "k", "more", "and more")]),
    (
        "stream",
        [("XADD", "k", "1-1", "f", "v"), ("XADD", "k", "1-2", "f", "w"), ("XADD", "k", "2-2", "g", "w")],
    ),
    ("stream nodes", [("XADD", "k", f"{n}-0", "field", n, "other", "x" * (n % 5)) for n in range(1, 251)]),
    ("stream bytes", [("XADD", "k", f"{n}-{n}", "payload", "p" * 900) for n in range(1, 12)]),
    (
        "stream fields",
        [("XADD", "k", f"{2**40 + n}-{n}", *fields(1 + n % 3, 1)) for n in range(30)],
    ),
    # Removed entries stay in their node, flagged, until it empties.
    (
        "stream deleted",
        [*[("XADD", "k", f"{n}-1", "f", n) for n in range(1, 300)], ("XDEL", "k", "1-1", "150-1", "299-1")],
    ),
    (
        "stream node emptied",
        [
            *[("XADD", "k", f"{n}-1", "f", n, *(("g", n) if n % 3 else ())) for n in range(1, 250)],
            ("XDEL", "k", *[f"{n}-1" for n in range(101, 201)]),
            ("XDEL", "k", "5-1", "6-1"),
        ],
    ),
    (
        "stream trimmed",
        [*[("XADD", "k", f"{n}-1", "f", n) for n in range(1, 300)], ("XTRIM", "k", "MAXLEN", 120)],
    ),
    (
        "stream trimmed by id",
        [*[("XADD", "k", f"{n}-1", "f", n) for n in range(1, 300)], ("XTRIM", "k", "MINID", "137-1")],
    ),
    (
        "stream trimmed approximately",
        [*[("XADD", "k", f"{n}-1", "f", n) for n in range(1, 300)], ("XTRIM", "k", "MAXLEN", "~", 120)],
    ),
    ("stream emptied", [("XADD", "k", "5-5", "f", "v"), ("XDEL", "k", "5-5")]),
    (
        "stream emptied in a node",
        [("XADD", "k", "5-5", "f", "v"), ("XADD", "k", "6-6", "f", "v"), ("XDEL", "k", "5-5")],
    ),
]


@pytest.mark.parametrize("commands", [case[1] for case in SAME_BYTES], ids=[case[0] for case in SAME_BYTES])
def test_dump_bytes_are_redis_bytes(pair, commands):
    oracle, ours = pair
    both(pair, commands)
    expected = oracle.dump("k")
    assert ours.dump("k") == expected
    # ... and Redis's payload restores into LeakDB as the same value, in the same encoding.
    ours.restore("copy", 0, expected)
    assert read_value(ours, "copy") == read_value(oracle, "k")
    assert ours.object("encoding", "copy") == oracle.object("encoding", "k")
    assert ours.dump("copy") == expected


# Values whose bytes may differ (a hash table's order, node layouts made by other commands), so
# they are compared as values after crossing each way.
CROSSING = [
    ("hash table", [("HSET", "k", *fields(513))]),
    ("hash long value", [("HSET", "k", "f", "v" * 65, "g", "w")]),
    ("hash shrunk", [("HSET", "k", "f", "v" * 65, "g", "w"), ("HDEL", "k", "f")]),
    ("set strings", [("SADD", "k", "a", "b", "1", "")]),
    ("set 513 integers", [("SADD", "k", *range(513))]),
    (
        "set big integers",
        [("SADD", "k", "9223372036854775807", "-9223372036854775808", "9223372036854775808")],
    ),
    ("list pushed left", [("LPUSH", "k", *[f"e{n:04}" for n in range(2500)])]),
    ("list edited", [("RPUSH", "k", *range(2000)), ("LREM", "k", 0, 7), ("LSET", "k", 5, "x" * 100)]),
    ("list trimmed", [("RPUSH", "k", *range(3000)), ("LTRIM", "k", 1000, 1500), ("LPOP", "k")]),
    ("zset shrunk", [("ZADD", "k", 1, "x" * 65, 2, "y"), ("ZREM", "k", "x" * 65)]),
]


@pytest.mark.parametrize("commands", [case[1] for case in CROSSING], ids=[case[0] for case in CROSSING])
def test_values_cross_both_ways(pair, commands):
    oracle, ours = pair
    both(pair, commands)
    expected = read_value(oracle, "k")
    assert read_value(ours, "k") == expected
    ours.restore("from-redis", 0, oracle.dump("k"))
    oracle.restore("from-leakdb", 0, ours.dump("k"))
    assert read_value(ours, "from-redis") == expected
    assert read_value(oracle, "from-leakdb") == expected
    # Written whole, a value takes the encoding its content calls for, on both servers.
    assert ours.object("encoding", "from-redis") == oracle.object("encoding", "from-leakdb")


def test_restored_stream_keeps_its_last_id_and_nodes(pair):
    oracle, ours = pair
    commands = [("XADD", "k", f"{n}-1", "f", n) for n in range(1, 300)]
    build(oracle, [*commands, ("XDEL", "k", "299-1", "3-1"), ("XTRIM", "k", "MAXLEN", "=", 250)])
    ours.restore("k", 0, oracle.dump("k"))
    for command in [
        ("XADD", "k", "299-1", "f", "v"),
        ("XADD", "k", "300-0", "f", "v"),
        ("XTRIM", "k", "MAXLEN", "~", 120),
        ("XLEN", "k"),
        ("XRANGE", "k", "-", "+", "COUNT", 3),
    ]:
        assert reply_of(ours, *command) == reply_of(oracle, *command), command


def test_dump_of_a_missing_key_is_null(redis_server, leakdb_server):
    for resp3 in (False, True):
        replies = []
        for server in (redis_server, leakdb_server):
            session = RawSession(server.port, resp3)
            replies.append(session.send(("DEL", "nothing"), ("DUMP", "nothing")))
            session.close()
        assert replies[0] == replies[1]


def test_restore_keeps_a_ttl(pair):
    oracle, ours = pair
    both(pair, [("SET", "k", "v")])
    data = oracle.dump("k")
    ours.restore("rel", 100000, data)
    assert 0 < ours.pttl("rel") <= 100000
    far = 4102444800000  # 2100-01-01, in ms
    ours.restore("abs", far, data, absttl=True)
    oracle.restore("abs", far, data, absttl=True)
    assert ours.pexpiretime("abs") == oracle.pexpiretime("abs") == far
    migrated = ours.dump("abs")
    assert migrated == oracle.dump("abs")  # a payload carries no TTL


# -- RESTORE's options and errors, byte for byte ---------------------------------------------------

STRING = payload(b"\x00\x05hello")
BAD_CRC = STRING[:-1] + bytes((STRING[-1] ^ 1,))
RESTORE_CASES = [
    ("RESTORE", "new", 0, STRING),
    ("RESTORE", "k", 0, STRING),
    ("RESTORE", "k", 0, STRING, "REPLACE"),
    ("RESTORE", "k", 0, STRING, "replace", "replace"),
    ("RESTORE", "new", 5000, STRING, "ABSTTL"),
    ("RESTORE", "k", 5000, STRING, "ABSTTL", "REPLACE"),
    ("RESTORE", "new", 4102444800000, STRING, "ABSTTL"),
    ("RESTORE", "new", -1, STRING),
    ("RESTORE", "new", "x", STRING),
    ("RESTORE", "new", "1.5", STRING),
    ("RESTORE", "k", "x", STRING),
    ("RESTORE", "new", 0, STRING, "IDLETIME", 100),
    ("RESTORE", "new", 0, STRING, "IDLETIME", -1),
    ("RESTORE", "new", 0, STRING, "IDLETIME", "x"),
    ("RESTORE", "new", 0, STRING, "IDLETIME"),
    ("RESTORE", "new", 0, STRING, "FREQ", 100),
    ("RESTORE", "new", 0, STRING, "FREQ", 256),
    ("RESTORE", "new", 0, STRING, "FREQ", -1),
    ("RESTORE", "new", 0, STRING, "FREQ", "x"),
    ("RESTORE", "new", 0, STRING, "FREQ"),
    ("RESTORE", "new", 0, STRING, "IDLETIME", 5, "FREQ", 5),
    ("RESTORE", "new", 0, STRING, "FREQ", 5, "IDLETIME", 5),
    ("RESTORE", "new", 0, STRING, "IDLETIME", 5, "IDLETIME", 6),
    ("RESTORE", "new", 0, STRING, "NOPE"),
    ("RESTORE", "k", 0, STRING, "NOPE"),
    ("RESTORE", "new", 0, BAD_CRC),
    ("RESTORE", "k", 0, BAD_CRC, "REPLACE"),
    ("RESTORE", "new", 0, payload(b"\x00\x05hello", version=11)),
    ("RESTORE", "new", 0, payload(b"\x00\x05hello", version=9)),
    ("RESTORE", "new", 0, STRING[:9]),
    ("RESTORE", "new", 0, b""),
    ("RESTORE", "new", 0, payload(b"")),
    ("RESTORE", "new", 0, payload(b"\x08\x01x")),
    ("RESTORE", "new", 0, payload(b"\x14\x01x")),
    ("RESTORE", "k", 0, payload(b"\x63"), "REPLACE"),
    ("RESTORE", "new", 0, payload(b"\x00\xc4\x00")),
    ("RESTORE", "new", 0, payload(b"\x01\x00")),
    ("RESTORE", "new", 0, payload(b"\x02\x00")),
    ("RESTORE", "new", 0, payload(b"\x04\x00")),
    ("RESTORE", "new", 0, payload(b"\x05\x00")),
    ("RESTORE", "new", 0, payload(b"\x12\x00")),
    ("RESTORE", "new", 0, payload(b"\x00\x05hello" + b"trailing")),
    ("RESTORE", "new", 0, payload(b"\x02\x02\x01a\x01a")),
    ("RESTORE", "new", 0, payload(b"\x05\x01\x01a" + struct.pack("<d", float("nan")))),
    ("RESTORE", "new", 0, payload(b"\x00\xc3\x02\x05\x00a")),
    ("RESTORE",),
    ("RESTORE", "new", 0),
    ("DUMP",),
    ("DUMP", "a", "b"),
]


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_restore_replies_are_redis_bytes(redis_server, leakdb_server, resp3):
    for command in RESTORE_CASES:
        replies = []
        for server in (redis_server, leakdb_server):
            session = RawSession(server.port, resp3)
            session.send(("FLUSHALL",), ("SET", "k", "old"))
            reply = session.send(command)
            after = session.send(("GET", "k"), ("GET", "new"), ("PEXPIRETIME", "k"), ("PEXPIRETIME", "new"))
            replies.append((reply, after))
            session.close()
        assert replies[1] == replies[0], command


@pytest.mark.parametrize(
    ("policy", "option", "probe", "expected"),
    [
        ("allkeys-lru", ("IDLETIME", 1000), "IDLETIME", 1000),
        ("allkeys-lru", ("FREQ", 77), "IDLETIME", 0),
        ("allkeys-lfu", ("FREQ", 77), "FREQ", 77),
        ("allkeys-lfu", ("IDLETIME", 1000), "FREQ", 5),
        ("allkeys-lfu", (), "FREQ", 5),
    ],
)
def test_restore_sets_idle_time_or_frequency(start_redis, start_leakdb, policy, option, probe, expected):
    """The option that fits the policy sets the key's stamp; the other is ignored, as in Redis."""
    flags = ("--maxmemory", "100mb", "--maxmemory-policy", policy, "--lfu-decay-time", "0")
    for server in (start_redis(*flags), start_leakdb(*flags)):
        client = server.client()
        started = time.monotonic()
        client.execute_command("RESTORE", "k", 0, STRING, *option)
        seen = client.execute_command("OBJECT", probe, "k")
        elapsed = math.ceil(time.monotonic() - started)
        client.close()
        if probe == "FREQ":
            assert seen == expected, server.argv
        else:  # idle time keeps growing: it lies between the value set and that plus the time passed
            assert expected <= seen <= expected + elapsed, server.argv


# -- payloads in older encodings, read as Redis 7.0 reads them ------------------------------------

OLD_FORMATS = [
    ("list", b"\x01\x03" + rdb_string(b"a") + b"\xc0\x05" + rdb_string(b"c" * 70)),
    ("set", b"\x02\x03" + rdb_string(b"1") + rdb_string(b"2") + rdb_string(b"x")),
    ("set of integers", b"\x02\x02" + rdb_string(b"10") + b"\xc1\x00\x01"),
    ("zset text scores", b"\x03\x02" + rdb_string(b"a") + b"\x031.5" + rdb_string(b"b") + b"\xfe"),
    ("zset text nan", b"\x03\x01" + rdb_string(b"a") + b"\xfd"),
    ("hash", b"\x04\x02" + rdb_string(b"f") + rdb_string(b"v") + rdb_string(b"g") + b"\xc0\x07"),
    ("zipmap", b"\x09" + rdb_string(zipmap([(b"f", b"v"), (b"name", b"value")]))),
    ("list ziplist", b"\x0a" + rdb_string(ziplist([b"a", 7, -100, 30000, 2**20, 2**31, 2**40, b"x" * 70]))),
    ("intset", b"\x0b" + rdb_string(struct.pack("<II3i", 4, 3, -70000, 1, 70000))),
    ("intset empty", b"\x0b" + rdb_string(struct.pack("<II", 2, 0))),
    ("zset ziplist", b"\x0c" + rdb_string(ziplist([b"c", b"-inf", b"a", 1, b"b", b"2.5"]))),
    ("hash ziplist", b"\x0d" + rdb_string(ziplist([b"f", b"v", b"n", 12]))),
    ("hash ziplist odd", b"\x0d" + rdb_string(ziplist([b"f", b"v", b"n"]))),
    ("quicklist", b"\x0e\x02" + rdb_string(ziplist([b"a", 1])) + rdb_string(ziplist([b"b", b"c" * 300]))),
    ("listpack hash", b"\x10" + rdb_string(encode_listpack([b"f", b"v", b"g", 5]))),
    ("listpack zset", b"\x11" + rdb_string(encode_listpack([b"a", 1, b"b", b"2.5"]))),
    (
        "quicklist 2",
        b"\x12\x02\x02" + rdb_string(encode_listpack([b"a", 1])) + b"\x01" + rdb_string(b"plain"),
    ),
    (
        "quicklist 2 empty node",
        b"\x12\x02\x02" + rdb_string(encode_listpack([])) + b"\x02" + rdb_string(encode_listpack([b"z"])),
    ),
    ("quicklist 2 bad container", b"\x12\x01\x03" + rdb_string(encode_listpack([b"a"]))),
    (
        "stream 1",
        b"\x0f\x01"
        + rdb_string(b"\x00" * 7 + b"\x01" + b"\x00" * 7 + b"\x01")
        + rdb_string(encode_listpack([1, 0, 1, b"f", 0, 2, 0, 0, b"v", 4]))
        + b"\x01\x01\x01\x00",
    ),
    ("stream 2 no nodes", b"\x13\x00\x00\x05\x05\x00\x00\x00\x00\x01\x00"),
]


@pytest.mark.parametrize("body", [case[1] for case in OLD_FORMATS], ids=[case[0] for case in OLD_FORMATS])
def test_old_encodings_read_as_redis_reads_them(pair, body):
    oracle, ours = pair
    data = payload(body)
    outcome = reply_of(oracle, "RESTORE", "k", 0, data)
    assert reply_of(ours, "RESTORE", "k", 0, data) == outcome
    assert read_value(ours, "k") == read_value(oracle, "k")
    if outcome == b"OK":
        assert ours.object("encoding", "k") == oracle.object("encoding", "k")


def _listpack_with(blob: bytes, offset: int, byte: int) -> bytes:
    return blob[:offset] + bytes((byte,)) + blob[offset + 1 :]


_HASH_LISTPACK = encode_listpack([b"f", b"v", b"g", b"w"])
_STREAM_NODE = encode_listpack([1, 0, 1, b"f", 0, 2, 0, 0, b"v", 4])
MALFORMED = [
    ("hash duplicate", b"\x04\x02\x01a\x01b\x01a\x01c"),
    ("listpack hash duplicate", b"\x10" + rdb_string(encode_listpack([b"f", b"v", b"f", b"w"]))),
    ("listpack odd", b"\x10" + rdb_string(encode_listpack([b"f", b"v", b"g"]))),
    ("listpack total", b"\x10" + rdb_string(_listpack_with(_HASH_LISTPACK, 0, _HASH_LISTPACK[0] + 1))),
    ("listpack backlen", b"\x10" + rdb_string(_listpack_with(_HASH_LISTPACK, 8, 3))),
    ("listpack count", b"\x10" + rdb_string(_listpack_with(_HASH_LISTPACK, 4, 3))),
    ("listpack end", b"\x10" + rdb_string(_HASH_LISTPACK[:-1] + b"\x00")),
    ("zset listpack odd", b"\x11" + rdb_string(encode_listpack([b"a", 1, b"b"]))),
    ("zset listpack duplicate", b"\x11" + rdb_string(encode_listpack([b"a", 1, b"a", 2]))),
    ("intset unsorted", b"\x0b" + rdb_string(struct.pack("<II3h", 2, 3, 1, 3, 2))),
    ("intset duplicate", b"\x0b" + rdb_string(struct.pack("<II2h", 2, 2, 1, 1))),
    (
        "ziplist previous length",
        b"\x0a" + rdb_string(ziplist([b"a", b"b"])[:13] + b"\x07" + ziplist([b"a", b"b"])[14:]),
    ),
    ("quicklist listpack", b"\x12\x01\x02" + rdb_string(_listpack_with(encode_listpack([b"a"]), 8, 9))),
    (
        "stream entry count",
        b"\x13\x01"
        + rdb_string(b"\x00" * 7 + b"\x01" + b"\x00" * 7 + b"\x01")
        + rdb_string(_STREAM_NODE[:-3] + b"\x05\x01\xff")
        + b"\x01\x01\x01\x01\x01\x00\x00\x01\x00",
    ),
    (
        "stream ok",
        b"\x13\x01"
        + rdb_string(b"\x00" * 7 + b"\x01" + b"\x00" * 7 + b"\x01")
        + rdb_string(_STREAM_NODE)
        + b"\x01\x01\x01\x01\x01\x00\x00\x01\x00",
    ),
]


@pytest.mark.parametrize("body", [case[1] for case in MALFORMED], ids=[case[0] for case in MALFORMED])
def test_malformed_payloads_are_refused_as_a_sanitizing_redis_refuses_them(start_redis, leakdb_server, body):
    """LeakDB checks a payload whole, as Redis does with sanitize-dump-payload yes (without it,
    Redis takes some corrupt payloads as they are)."""
    oracle = start_redis("--sanitize-dump-payload", "yes").client()
    ours = leakdb_server.client()
    ours.delete("k")
    data = payload(body)
    assert reply_of(ours, "RESTORE", "k", 0, data) == reply_of(oracle, "RESTORE", "k", 0, data)
    assert read_value(ours, "k") == read_value(oracle, "k")
    oracle.close()
    ours.close()


# -- the property: random values of every type, across and back -----------------------------------

small = st.binary(max_size=12) | st.integers(-(2**64), 2**64).map(lambda n: str(n).encode())
element = small | st.binary(min_size=13, max_size=90) | st.sampled_from([b"x" * 300, TEXT[:5000]])
scores = st.floats(allow_nan=False) | st.integers(-(2**53), 2**53)
values = st.one_of(
    element.map(lambda value: [("SET", "k", value)]),
    st.lists(element, min_size=1, max_size=600).map(lambda items: [("RPUSH", "k", *items)]),
    st.sets(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=600).map(lambda m: [("SADD", "k", *m)]),
    st.sets(small, min_size=1, max_size=40).map(lambda members: [("SADD", "k", *members)]),
    st.dictionaries(element, scores, min_size=1, max_size=200).map(
        lambda pairs: [("ZADD", "k", *[part for member, score in pairs.items() for part in (score, member)])]
    ),
    st.dictionaries(element, element, min_size=1, max_size=600).map(
        lambda pairs: [("HSET", "k", *[part for item in pairs.items() for part in item])]
    ),
    st.lists(
        st.lists(st.sampled_from([b"a", b"b", b"c"]) | small, min_size=2, max_size=8),
        min_size=1,
        max_size=150,
    ).map(
        lambda entries: [
            ("XADD", "k", f"{n + 1}-{n % 3}", *parts[: len(parts) // 2 * 2])
            for n, parts in enumerate(entries)
        ]
    ),
)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(commands=values)
def test_random_values_cross_and_come_back(redis_server, leakdb_server, commands):
    oracle, ours = redis_server.client(), leakdb_server.client()
    try:
        oracle.delete("k", "back")
        ours.delete("k")
        build(oracle, commands)
        expected = read_value(oracle, "k")
        data = oracle.dump("k")
        ours.restore("k", 0, data, replace=True)
        assert read_value(ours, "k") == expected
        encoding = oracle.object("encoding", "k")
        assert ours.object("encoding", "k") == encoding
        ours_data = ours.dump("k")
        if encoding != b"hashtable":  # a hash table's order is Redis's own
            assert ours_data == data
        oracle.restore("back", 0, ours_data)
        assert read_value(oracle, "back") == expected
    finally:
        oracle.close()
        ours.close()


def test_payload_footer_is_version_and_crc(r):
    ours = r
    ours.set("k", "value")
    data = ours.dump("k")
    assert data[-10:-8] == (10).to_bytes(2, "little")
    assert data[-8:] == crc64(data[:-8]).to_bytes(8, "little")
    assert length(5) + b"value" in data


GROUPED_STREAM = [
    *[("XADD", "k", f"{n}-1", "f", n) for n in range(1, 150)],
    ("XGROUP", "CREATE", "k", "g", "0"),
    ("XGROUP", "CREATE", "k", "h", "$"),
    ("XREADGROUP", "GROUP", "g", "alice", "COUNT", 40, "STREAMS", "k", ">"),
    ("XREADGROUP", "GROUP", "g", "bob", "COUNT", 7, "STREAMS", "k", ">"),
    ("XACK", "k", "g", "3-1", "41-1"),
    ("XGROUP", "CREATECONSUMER", "k", "h", "idle"),
]


# -- restored keys are writes like any other -------------------------------------------------------


@pytest.mark.parametrize(
    ("storage", "backend", "stop"),
    [
        ("persistent", "sqlite", "kill"),
        ("persistent", "shelve", "kill"),
        ("persistent-queue", "sqlite", "term"),
    ],
)
def test_restored_keys_survive_a_restart(redis_server, start_leakdb, storage, backend, stop):
    """RESTORE's write reaches the backend as a change record: after SIGKILL in the write-through
    mode, or a clean stop in write-behind, every restored type is there, TTL included."""
    oracle = redis_server.client()
    oracle.flushall()
    keys = [name for name, _ in SAME_BYTES if not name.startswith("long")][::3]
    payloads = {}
    for name, commands in SAME_BYTES:
        if name in keys:
            build(oracle, [tuple(name if part == "k" else part for part in command) for command in commands])
            payloads[name] = oracle.dump(name)
    flags = ("--storage", storage, "--backend", backend)
    server = start_leakdb(*flags)
    client = server.client()
    for name, data in payloads.items():
        client.restore(name, 0, data)
    client.restore("with ttl", 500000, payloads[keys[0]])
    # A stream with consumer groups: its pending entries' and consumers' times come back exactly.
    build(oracle, [tuple("grouped" if part == "k" else part for part in c) for c in GROUPED_STREAM])
    payloads["grouped"] = oracle.dump("grouped")
    client.restore("grouped", 0, payloads["grouped"])
    client.close()
    server.stop(signal.SIGKILL if stop == "kill" else signal.SIGTERM)
    again = start_leakdb(*flags).client()
    for name, data in payloads.items():
        assert read_value(again, name) == read_value(oracle, name), name
        assert again.dump(name) == data, name
    assert 0 < again.pttl("with ttl") <= 500000
    again.close()
    oracle.close()


def test_command_table_entries_match_redis(redis_server, leakdb_server):
    """Name, arity, flags, key positions and ACL categories in COMMAND INFO, as Redis lists them."""
    entries = []
    for server in (redis_server, leakdb_server):
        reader = hiredis.Reader()
        session = RawSession(server.port)
        reader.feed(session.send(("COMMAND", "INFO", "dump", "restore", "migrate")))
        session.close()
        entries.append([entry[:7] for entry in reader.gets()])
    assert entries[1] == entries[0]


def test_dump_and_restore_in_process():
    from leakdb.storage import DefaultStorage

    storage = DefaultStorage()
    storage.execute_command("RPUSH", "k", "a", "b")
    data = storage.execute_command("DUMP", "k")
    assert storage.execute_command("RESTORE", "copy", 0, data) == b"OK"
    assert storage.execute_command("LRANGE", "copy", 0, -1) == [b"a", b"b"]
