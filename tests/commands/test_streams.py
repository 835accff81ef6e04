"""Stream commands (XADD, XRANGE, XREVRANGE, XLEN, XDEL, XTRIM), each reply compared with a real
redis-server's reply to the same command in RESP2 and RESP3; approximate trimming against Redis's node
boundaries; generated IDs checked for shape and order; streams surviving restarts in every backend."""

from __future__ import annotations

import random
import re

import pytest
from conftest import assert_deadline, assert_same, raw_commands, raw_exchange, reply_of, wall_ms

from leakdb.engine.stream import Stream
from leakdb.errors import STREAM_ID_TOO_SMALL, StorageError
from leakdb.persistence.base import deserialize, serialize

SAMPLE = [("1-1", "a", "1"), ("1-2", "b", "2"), ("2-0", "a", "3"), ("5-7", "c", "x"), ("9-0", "a", "4")]
GENERATED_ID = re.compile(rb"\A([0-9]+)-([0-9]+)\Z")


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def protocol_pair(request, redis_server, leakdb_server):
    """(redis, leakdb) clients speaking RESP2 or RESP3, on flushed servers holding a sample stream."""
    clients = (redis_server.client(protocol=request.param), leakdb_server.client(protocol=request.param))
    for client in clients:
        client.flushall()
        for entry_id, field, value in SAMPLE:
            client.execute_command("XADD", "s", entry_id, field, value, "f2", "v2")
        client.set("str", "x")
    yield clients
    for client in clients:
        client.close()


def assert_state_same(pair) -> None:
    for key in ("s", "fresh"):
        assert_same(pair, "TYPE", key)
        assert_same(pair, "XLEN", key)
        assert_same(pair, "XRANGE", key, "-", "+")


MAX = "18446744073709551615"
CASES = [
    # XADD: IDs, the ordering errors, arity
    ("XADD", "s", "10-1", "f", "v"),
    ("XADD", "s", "10", "f", "v", "g", "w"),
    ("XADD", "s", "9-*", "f", "v"),
    ("XADD", "s", "12-*", "f", "v"),
    ("XADD", "s", "9-0", "f", "v"),
    ("XADD", "s", "1-5", "f", "v"),
    ("XADD", "s", "0-0", "f", "v"),
    ("XADD", "s", "0", "f", "v"),
    ("XADD", "fresh", "0-0", "f", "v"),
    ("XADD", "fresh", "0-*", "f", "v"),
    ("XADD", "fresh", "0-1", "f", "v"),
    ("XADD", "str", "0-0", "f", "v"),
    ("XADD", "str", "1-1", "f", "v"),
    ("XADD", "s", "-", "f", "v"),
    ("XADD", "s", "+", "f", "v"),
    ("XADD", "s", "-5", "f", "v"),
    ("XADD", "s", "-05", "f", "v"),
    ("XADD", "s", "12--01", "f", "v"),
    ("XADD", "s", "12-1-1", "f", "v"),
    ("XADD", "s", "12-", "f", "v"),
    ("XADD", "s", " 12-+3", "f", "v"),
    ("XADD", "s", "1x", "f", "v"),
    ("XADD", "s", "*-1", "f", "v"),
    ("XADD", "s", f"{MAX}1-0", "f", "v"),
    ("XADD", "s", f"{MAX}-{MAX}", "f", "v"),
    ("XADD", "s", "10-1", "f"),
    ("XADD", "s", "10-1", "f", "v", "g"),
    ("XADD", "s", "f", "v"),
    ("XADD", "s"),
    # XADD options
    ("XADD", "fresh", "NOMKSTREAM", "1-1", "f", "v"),
    ("XADD", "s", "nomkstream", "10-1", "f", "v"),
    ("XADD", "str", "NOMKSTREAM", "1-1", "f", "v"),
    ("XADD", "s", "MAXLEN", "2", "10-1", "f", "v"),
    ("XADD", "s", "MAXLEN", "=", "0", "10-1", "f", "v"),
    ("XADD", "fresh", "MAXLEN", "0", "1-1", "f", "v"),
    ("XADD", "s", "MAXLEN", "~", "2", "10-1", "f", "v"),
    ("XADD", "s", "MAXLEN", "~", "2", "LIMIT", "10", "10-1", "f", "v"),
    ("XADD", "s", "MAXLEN", "2", "LIMIT", "10", "10-1", "f", "v"),
    ("XADD", "s", "LIMIT", "10", "10-1", "f", "v"),
    ("XADD", "s", "LIMIT", "0", "10-1", "f", "v"),
    ("XADD", "s", "LIMIT", "-1", "10-1", "f", "v"),
    ("XADD", "s", "MAXLEN", "-1", "10-1", "f", "v"),
    ("XADD", "s", "MAXLEN", "x", "10-1", "f", "v"),
    ("XADD", "s", "MAXLEN", "~", "10-1", "f", "v"),
    ("XADD", "s", "MINID", "5", "10-1", "f", "v"),
    ("XADD", "s", "minid", "=", "5-7", "10-1", "f", "v"),
    ("XADD", "s", "MINID", "~", "5", "10-1", "f", "v"),
    ("XADD", "s", "MINID", "-", "10-1", "f", "v"),
    ("XADD", "s", "MINID", "5-*", "10-1", "f", "v"),
    ("XADD", "s", "MAXLEN", "1", "MINID", "5", "10-1", "f", "v"),
    ("XADD", "s", "MINID", "1", "MAXLEN", "5", "10-1", "f", "v"),
    ("XADD", "s", "MAXLEN", "1", "NOMKSTREAM", "10-1", "f", "v"),
    # XRANGE / XREVRANGE
    ("XRANGE", "s", "-", "+"),
    ("XRANGE", "s", "1", "2"),
    ("XRANGE", "s", "1-2", "5-7"),
    ("XRANGE", "s", "(1-2", "(5-7"),
    ("XRANGE", "s", "(1", "+"),
    ("XRANGE", "s", "-", "(9"),
    ("XRANGE", "s", "(-", "+"),
    ("XRANGE", "s", "-", "(+"),
    ("XRANGE", "s", "(", "+"),
    ("XRANGE", "s", "5", "1"),
    ("XRANGE", "s", f"({MAX}-{MAX}", "+"),
    ("XRANGE", "s", "-", "(0-0"),
    ("XRANGE", "s", "(0-0", f"({MAX}-{MAX}"),
    ("XRANGE", "s", "-", "+", "COUNT", "2"),
    ("XRANGE", "s", "-", "+", "count", "0"),
    ("XRANGE", "s", "-", "+", "COUNT", "-3"),
    ("XRANGE", "s", "-", "+", "COUNT", "x"),
    ("XRANGE", "s", "-", "+", "COUNT"),
    ("XRANGE", "s", "-", "+", "COUNT", "1", "COUNT", "3"),
    ("XRANGE", "s", "-", "+", "LIMIT", "1"),
    ("XRANGE", "fresh", "-", "+"),
    ("XRANGE", "fresh", "-", "+", "COUNT", "0"),
    ("XRANGE", "fresh", "x", "+"),
    ("XRANGE", "str", "-", "+"),
    ("XRANGE", "s", "x", "+"),
    ("XRANGE", "s", "-"),
    ("XREVRANGE", "s", "+", "-"),
    ("XREVRANGE", "s", "+", "-", "COUNT", "2"),
    ("XREVRANGE", "s", "(9", "(1-1"),
    ("XREVRANGE", "s", "5", "1"),
    ("XREVRANGE", "s", "1", "5"),
    ("XREVRANGE", "s", "+", "-", "COUNT", "0"),
    ("XREVRANGE", "s", "x", "y"),
    ("XREVRANGE", "s", "+", "(0-0"),
    ("XREVRANGE", "str", "+", "-"),
    # XLEN, XDEL
    ("XLEN", "s"),
    ("XLEN", "fresh"),
    ("XLEN", "str"),
    ("XLEN", "s", "x"),
    ("XDEL", "s", "1-1"),
    ("XDEL", "s", "1-1", "1-1", "2", "7-7"),
    ("XDEL", "s", "1-1", "bad"),
    ("XDEL", "s", "1-*"),
    ("XDEL", "s", "-"),
    ("XDEL", "fresh", "bad"),
    ("XDEL", "str", "1-1"),
    ("XDEL", "s", "1-1", "1-2", "2-0", "5-7", "9-0"),
    ("XDEL", "s"),
    # XTRIM
    ("XTRIM", "s", "MAXLEN", "2"),
    ("XTRIM", "s", "MAXLEN", "=", "0"),
    ("XTRIM", "s", "maxlen", "~", "2"),
    ("XTRIM", "s", "MAXLEN", "~", "0", "LIMIT", "0"),
    ("XTRIM", "s", "MAXLEN", "2", "LIMIT", "1"),
    ("XTRIM", "s", "MAXLEN", "~"),
    ("XTRIM", "s", "MAXLEN", "-1"),
    ("XTRIM", "s", "MAXLEN", "2", "extra"),
    ("XTRIM", "s", "MINID", "5"),
    ("XTRIM", "s", "MINID", "(5"),
    ("XTRIM", "s", "MINID", "~", "100"),
    ("XTRIM", "s", "MINID", "100"),
    ("XTRIM", "s", "MINID", "+"),
    ("XTRIM", "s", "MAXLEN", "1", "MINID", "5"),
    ("XTRIM", "s", "LIMIT", "5", "MAXLEN", "1"),
    ("XTRIM", "s", "LIMIT", "5"),
    ("XTRIM", "s", "NOMKSTREAM", "MAXLEN", "1"),
    ("XTRIM", "s", "foo", "bar"),
    ("XTRIM", "fresh", "MAXLEN", "0"),
    ("XTRIM", "fresh", "MAXLEN", "x"),
    ("XTRIM", "str", "MAXLEN", "0"),
    ("XTRIM", "s", "MAXLEN"),
]


@pytest.mark.parametrize("command", CASES, ids=lambda c: " ".join(map(str, c))[:60])
def test_stream_commands_match_redis(protocol_pair, command):
    assert_same(protocol_pair, *command)
    assert_state_same(protocol_pair)


def test_emptied_streams_stay_and_ids_stay_monotonic(pair):
    for oracle_or_ours in pair:
        oracle_or_ours.execute_command("XADD", "s", "5-5", "f", "v")
    assert_same(pair, "XDEL", "s", "5-5")
    assert_same(pair, "EXISTS", "s")
    assert_same(pair, "XLEN", "s")
    assert_same(pair, "XADD", "s", "5-5", "f", "v")
    assert_same(pair, "XADD", "s", "5-*", "f", "v")
    assert_same(pair, "XTRIM", "s", "MAXLEN", "0")
    assert_same(pair, "XADD", "s", "5-6", "f", "v")
    assert_same(pair, "XADD", "s", "5", "f", "v")
    assert_same(pair, "XADD", "s", "MAXLEN", "0", "6-*", "f", "v")
    assert_same(pair, "TYPE", "s")
    assert_same(pair, "XRANGE", "s", "-", "+")


def test_the_last_possible_id(pair):
    assert_same(pair, "XADD", "s", "7-18446744073709551615", "f", "v")
    assert_same(pair, "XADD", "s", "7-*", "f", "v")  # Redis 7.0 says "Elements are too large"
    assert_same(pair, "XADD", "s", "8-*", "f", "v")
    assert_same(pair, "XADD", "s", "18446744073709551615-18446744073709551615", "f", "v")
    assert_same(pair, "XADD", "s", "*", "f", "v")
    assert_same(pair, "XADD", "s", "MAXLEN", "0", "1-1", "f", "v")
    assert_same(pair, "XRANGE", "s", "(18446744073709551615-18446744073709551614", "+")


def _fill(pair, key: str, count: int, value_size=lambda n: n % 50) -> None:
    for client in pair:
        pipe = client.pipeline(transaction=False)
        for n in range(1, count + 1):
            pipe.execute_command("XADD", key, f"{n}-1", "field", "v" * value_size(n))
        pipe.execute()


@pytest.mark.parametrize(
    "trim",
    [
        ("MAXLEN", "~", "120"),
        ("MAXLEN", "~", "10"),
        ("MAXLEN", "~", "200"),
        ("MAXLEN", "~", "0"),
        ("MAXLEN", "~", "10", "LIMIT", "150"),
        ("MAXLEN", "~", "10", "LIMIT", "99"),
        ("MAXLEN", "~", "10", "LIMIT", "0"),
        ("MINID", "~", "150"),
        ("MINID", "~", "250"),
        ("MINID", "~", "20"),
        ("MAXLEN", "=", "130"),
        ("MINID", "130"),
    ],
    ids=" ".join,
)
def test_approximate_trimming_follows_redis_nodes(pair, trim):
    """Redis trims whole nodes of 100 entries (fewer when they outgrow 4096 bytes) under `~`."""
    _fill(pair, "s", 250)
    assert_same(pair, "XDEL", "s", "3-1", "101-1", "205-1")
    assert_same(pair, "XTRIM", "s", *trim)
    assert_same(pair, "XADD", "s", *trim, "300-1", "f", "v")
    assert_same(pair, "XLEN", "s")
    assert_same(pair, "XRANGE", "s", "-", "+", "COUNT", "3")
    assert_same(pair, "XREVRANGE", "s", "+", "-", "COUNT", "3")


def test_node_size_limits_match_redis(pair):
    """Big values and varied fields close nodes early, by listpack bytes; small ones by entry count."""
    _fill(pair, "big", 120, value_size=lambda n: (n * 37) % 600)
    _fill(pair, "small", 30, value_size=lambda n: 2000 if n % 7 == 0 else n)
    for key in ("big", "small"):
        for maxlen in ("100", "60", "25", "3"):
            assert_same(pair, "XTRIM", key, "MAXLEN", "~", maxlen)
            assert_same(pair, "XLEN", key)
    for client in pair:
        client.execute_command("XADD", "mixed", "1-1", "a", "1", "b", "-7")
        for n in range(2, 140):
            fields = ("a", str(n), "b", "x") if n % 3 else ("c", "12345678901", "d", "y" * (n % 70))
            client.execute_command("XADD", "mixed", f"{n * 4096}-{n}", *fields)
    for maxlen in ("130", "80", "20"):
        assert_same(pair, "XTRIM", "mixed", "MAXLEN", "~", maxlen)
    assert_same(pair, "XRANGE", "mixed", "-", "+")


def test_random_sequences_match_redis(pair):
    rng = random.Random(7)
    ms = 1
    for _ in range(300):
        roll = rng.random()
        if roll < 0.7:
            ms += rng.choice([0, 1, 3000, 70000])
            fields = [rng.choice(["f", "g", "123"]), rng.choice(["1", "-5", "v" * rng.randint(0, 80)])]
            trim = ["MAXLEN", rng.choice(["~", "="]), str(rng.randint(0, 150))] if rng.random() < 0.2 else []
            command = ["XADD", "s", *trim, rng.choice([f"{ms}-*", f"{ms}", f"{ms}-2"]), *fields]
        elif roll < 0.85:
            command = ["XDEL", "s", *(f"{rng.randint(1, ms)}-{rng.randint(0, 2)}" for _ in range(3))]
        else:
            threshold = str(rng.randint(0, 200)) if rng.random() < 0.5 else str(rng.randint(0, ms))
            command = ["XTRIM", "s", rng.choice(["MAXLEN", "MINID"]), rng.choice(["~", "="]), threshold]
        expected, actual = reply_of(pair[0], *command), reply_of(pair[1], *command)
        assert actual == expected, f"{command}: redis {expected!r}, leakdb {actual!r}"
    assert_same(pair, "XRANGE", "s", "-", "+")


def test_generated_ids_are_increasing(pair):
    for client in pair:
        client.execute_command("XADD", "future", "99999999999999-5", "f", "v")
    for client in pair:
        ids = [client.execute_command("XADD", "s", "*", "n", str(n)) for n in range(50)]
        parsed = [tuple(map(int, GENERATED_ID.match(entry_id).groups())) for entry_id in ids]
        assert parsed == sorted(set(parsed))
        assert client.execute_command("XRANGE", "s", "-", "+", "COUNT", "1")[0][0] == ids[0]
        assert client.execute_command("XREVRANGE", "s", "+", "-", "COUNT", "1")[0][0] == ids[-1]
        assert client.execute_command("XADD", "future", "*", "f", "v") == b"99999999999999-6"
        assert client.execute_command("XADD", "s", "MAXLEN", "~", "10", "*", "f", "v").count(b"-") == 1
        assert client.xlen("s") == 51


def test_generic_key_commands_on_streams(pair):
    for client in pair:
        client.execute_command("XADD", "s", "1-1", "f", "v")
        client.execute_command("XADD", "s", "2-1", "f", "w")
    for client in pair:  # SCAN's order is the server's own
        assert sorted(client.scan(0, _type="stream")[1]) == [b"s"]
    for command in [
        ("TYPE", "s"),
        ("OBJECT", "ENCODING", "s"),
        ("COPY", "s", "c"),
        ("XADD", "c", "3-1", "g", "x"),
        ("XRANGE", "s", "-", "+"),
        ("XRANGE", "c", "-", "+"),
        ("XDEL", "c", "1-1", "2-1", "3-1"),
        ("XADD", "c", "3-1", "g", "x"),  # the copy keeps its own last ID
        ("RENAME", "s", "r"),
        ("XRANGE", "r", "-", "+"),
        ("XADD", "r", "2-1", "f", "v"),
        ("KEYS", "c"),
        ("DEL", "r", "c"),
        ("XADD", "r", "1-1", "f", "v"),  # a deleted stream's IDs start over
        ("EXISTS", "r", "c"),
    ]:
        result = assert_same(pair, *command)
    assert result == 1


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_reply_bytes_match_redis(pair, redis_server, leakdb_server, resp3):
    """Null arrays for COUNT 0, a null for NOMKSTREAM, and entries as nested arrays in both protocols."""
    commands = [
        ("XADD", "s", "1-1", "f", "v", "g", ""),
        ("XADD", "missing", "NOMKSTREAM", "*", "f", "v"),
        ("XRANGE", "s", "-", "+"),
        ("XRANGE", "s", "-", "+", "COUNT", "0"),
        ("XREVRANGE", "s", "+", "-", "COUNT", "-1"),
        ("XRANGE", "missing", "-", "+", "COUNT", "0"),
        ("XRANGE", "s", "5", "+"),
        ("XLEN", "s"),
        ("XTRIM", "s", "MAXLEN", "~", "0"),
        ("XDEL", "s", "1-1"),
        ("XRANGE", "s", "-", "+"),
        ("OBJECT", "ENCODING", "s"),
    ]
    expected = raw_commands(redis_server.port, *commands, resp3=resp3)
    actual = raw_commands(leakdb_server.port, *commands, resp3=resp3)
    if resp3:  # HELLO's reply names the server and its version
        expected = expected[expected.index(b"$3\r\n1-1\r\n") :]
        actual = actual[actual.index(b"$3\r\n1-1\r\n") :]
    assert actual == expected


# -- persistence -----------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "shelve"])
def test_streams_survive_a_restart(start_leakdb, backend):
    flags = ("--storage", "persistent-queue", "--backend", backend)
    server = start_leakdb(*flags)
    client = server.client()
    for n in range(1, 150):
        client.execute_command("XADD", "s", f"{n}-{n}", "field", f"value {n}", "n", str(n))
    last = client.execute_command("XADD", "s", "*", "f", "v")
    client.execute_command("XDEL", "s", "3-3", "7-7", last)
    client.execute_command("XADD", "emptied", "5-5", "f", "v")
    client.execute_command("XDEL", "emptied", "5-5")
    client.execute_command("XADD", "ttl", "1-1", "f", "v")
    set_from = wall_ms()
    client.expire("ttl", 1000)
    deadline = client.pexpiretime("ttl")
    assert_deadline(deadline, 1_000_000, set_from, wall_ms())
    expected = client.execute_command("XRANGE", "s", "-", "+")
    raw_exchange(server.port, b"SHUTDOWN\r\n", expect_close=True)
    server.wait()
    client.close()

    again = start_leakdb(*flags).client()
    assert again.execute_command("XRANGE", "s", "-", "+") == expected
    assert len(expected) == 147
    assert again.type("s") == b"stream" and again.type("emptied") == b"stream"
    assert again.xlen("emptied") == 0 and again.pexpiretime("ttl") == deadline
    new = again.execute_command("XADD", "s", "*", "f", "v")
    assert _id(new) > _id(last)
    assert reply_of(again, "XADD", "emptied", "5-5", "f", "v") == ("error", STREAM_ID_TOO_SMALL[4:])
    again.close()


def _id(raw: bytes) -> tuple[int, int]:
    ms, seq = raw.split(b"-")
    return int(ms), int(seq)


def test_stream_blobs_round_trip_and_damage_is_refused():
    stream = Stream()
    stream.append(1 << 64 | 1, (b"f", b"v"))
    stream.append(2 << 64, (b"a", b"1", b"b", b""))
    stream.delete(2 << 64)
    name, blob = serialize(stream)
    loaded = deserialize(name, blob)
    assert name == "stream" and loaded.entries == stream.entries and loaded.last_id == 2 << 64
    for damaged in (blob[:-1], blob + b"\x00", b"\x09" + blob[1:], b""):
        with pytest.raises(StorageError):
            deserialize(name, damaged)
