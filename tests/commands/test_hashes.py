"""Hash commands, each reply compared with a real redis-server's reply to the same command, in RESP2
and RESP3; random replies (HRANDFIELD) checked for shape and membership; hashes surviving restarts."""

from __future__ import annotations

import signal

import pytest
from conftest import assert_deadline, assert_same, raw_commands, raw_exchange, reply_of, wall_ms
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leakdb import DefaultStorage, PersistentStorage
from leakdb.errors import CommandError

FIELDS = {
    "a": "1",
    "n": "10",
    "f": "1.5",
    "big": "9223372036854775807",
    "neg": "-9223372036854775808",
    "inf": "inf",
    "nan": "nan",
    "s": "abc",
    "sp": " 1",
    "e": "",
    "hex": "0x10",
}


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def protocol_pair(request, redis_server, leakdb_server):
    """(redis, leakdb) clients speaking RESP2 or RESP3, on flushed servers holding the sample data."""
    clients = (redis_server.client(protocol=request.param), leakdb_server.client(protocol=request.param))
    for client in clients:
        client.flushall()
        client.hset("h", mapping=FIELDS)
        client.set("str", "x")
        client.sadd("set", "m")
    yield clients
    for client in clients:
        client.close()


def assert_state_same(pair, *keys) -> None:
    for key in keys:
        assert_same(pair, "TYPE", key)
        assert_same(pair, "HGETALL", key)


CASES = [
    # arity
    ("HSET", "h"),
    ("HSET", "h", "f"),
    ("HSET", "h", "f", "v", "g"),
    ("HMSET", "h", "f"),
    ("HMSET", "h", "f", "v", "g"),
    ("HSETNX", "h", "f"),
    ("HGET", "h"),
    ("HMGET", "h"),
    ("HDEL", "h"),
    ("HEXISTS", "h"),
    ("HLEN",),
    ("HSTRLEN", "h"),
    ("HKEYS",),
    ("HVALS", "h", "x"),
    ("HGETALL",),
    ("HINCRBY", "h", "a"),
    ("HINCRBYFLOAT", "h", "a", "1", "2"),
    ("HRANDFIELD",),
    ("HSCAN", "h"),
    # writes
    ("HSET", "h", "a", "2"),
    ("HSET", "h", "new", "v", "a", "3", "new", "w"),
    ("HSET", "fresh", "f", "v"),
    ("HSET", "str", "f", "v"),
    ("HSET", "h", b"\x00\r\n", b"\xff\x00"),
    ("HMSET", "h", "a", "9", "z", "26"),
    ("HMSET", "fresh", "f", "v"),
    ("HMSET", "set", "f", "v"),
    ("HSETNX", "h", "a", "x"),
    ("HSETNX", "h", "new", "x"),
    ("HSETNX", "fresh", "f", "v"),
    ("HSETNX", "str", "f", "v"),
    ("HDEL", "h", "a", "a", "missing", "n"),
    ("HDEL", "h", *FIELDS),
    ("HDEL", "missing", "a"),
    ("HDEL", "str", "a"),
    # reads
    ("HGET", "h", "a"),
    ("HGET", "h", "missing"),
    ("HGET", "missing", "a"),
    ("HGET", "str", "a"),
    ("HMGET", "h", "a", "missing", "e", "a"),
    ("HMGET", "missing", "a", "b"),
    ("HMGET", "str", "a"),
    ("HEXISTS", "h", "a"),
    ("HEXISTS", "h", "missing"),
    ("HEXISTS", "missing", "a"),
    ("HEXISTS", "set", "a"),
    ("HLEN", "h"),
    ("HLEN", "missing"),
    ("HLEN", "str"),
    ("HSTRLEN", "h", "big"),
    ("HSTRLEN", "h", "e"),
    ("HSTRLEN", "h", "missing"),
    ("HSTRLEN", "missing", "a"),
    ("HSTRLEN", "str", "a"),
    ("HKEYS", "h"),
    ("HKEYS", "missing"),
    ("HKEYS", "str"),
    ("HVALS", "h"),
    ("HVALS", "missing"),
    ("HVALS", "set"),
    ("HGETALL", "h"),
    ("HGETALL", "missing"),
    ("HGETALL", "str"),
    # HINCRBY
    ("HINCRBY", "h", "a", "5"),
    ("HINCRBY", "h", "a", "-100"),
    ("HINCRBY", "h", "new", "7"),
    ("HINCRBY", "fresh", "f", "-9223372036854775808"),
    ("HINCRBY", "h", "big", "1"),
    ("HINCRBY", "h", "big", "0"),
    ("HINCRBY", "h", "neg", "-1"),
    ("HINCRBY", "h", "neg", "9223372036854775807"),
    ("HINCRBY", "h", "f", "1"),
    ("HINCRBY", "h", "s", "1"),
    ("HINCRBY", "h", "sp", "1"),
    ("HINCRBY", "h", "e", "1"),
    ("HINCRBY", "h", "a", "x"),
    ("HINCRBY", "h", "a", "1.0"),
    ("HINCRBY", "h", "a", "9223372036854775808"),
    ("HINCRBY", "h", "a", " 1"),
    ("HINCRBY", "h", "a", "01"),
    ("HINCRBY", "str", "a", "1"),
    ("HINCRBY", "str", "a", "x"),
    # HINCRBYFLOAT
    ("HINCRBYFLOAT", "h", "f", "0.1"),
    ("HINCRBYFLOAT", "h", "a", "1e3"),
    ("HINCRBYFLOAT", "h", "new", "-0.0"),
    ("HINCRBYFLOAT", "h", "new", "3.0e-3"),
    ("HINCRBYFLOAT", "h", "big", "1"),
    ("HINCRBYFLOAT", "h", "neg", "-1.5"),
    ("HINCRBYFLOAT", "h", "hex", "1"),
    ("HINCRBYFLOAT", "h", "a", "0x1p-2"),
    ("HINCRBYFLOAT", "h", "a", "1.23456789012345678901"),
    ("HINCRBYFLOAT", "h", "a", "inf"),
    ("HINCRBYFLOAT", "h", "a", "-Infinity"),
    ("HINCRBYFLOAT", "h", "a", "nan"),
    ("HINCRBYFLOAT", "h", "a", "x"),
    ("HINCRBYFLOAT", "h", "a", ""),
    ("HINCRBYFLOAT", "h", "a", " 1"),
    ("HINCRBYFLOAT", "h", "a", "1e5000"),
    ("HINCRBYFLOAT", "h", "a", "1e-5000"),
    ("HINCRBYFLOAT", "h", "a", "1e308"),
    ("HINCRBYFLOAT", "h", "inf", "1"),
    ("HINCRBYFLOAT", "h", "nan", "1"),
    ("HINCRBYFLOAT", "h", "s", "1"),
    ("HINCRBYFLOAT", "h", "sp", "1"),
    ("HINCRBYFLOAT", "h", "e", "1"),
    ("HINCRBYFLOAT", "str", "a", "1"),
    ("HINCRBYFLOAT", "str", "a", "x"),
    ("HINCRBYFLOAT", "str", "a", "inf"),
    ("HINCRBYFLOAT", "fresh", "f", "2.5"),
    # HRANDFIELD arguments (replies that do not depend on chance)
    ("HRANDFIELD", "missing"),
    ("HRANDFIELD", "missing", "3"),
    ("HRANDFIELD", "missing", "-3", "WITHVALUES"),
    ("HRANDFIELD", "h", "0"),
    ("HRANDFIELD", "h", "0", "withvalues"),
    ("HRANDFIELD", "str"),
    ("HRANDFIELD", "str", "1"),
    ("HRANDFIELD", "str", "0"),
    ("HRANDFIELD", "h", "x"),
    ("HRANDFIELD", "h", "x", "foo"),
    ("HRANDFIELD", "h", "1", "foo"),
    ("HRANDFIELD", "h", "1", "withvalues", "x"),
    ("HRANDFIELD", "h", "-9223372036854775808"),
    ("HRANDFIELD", "h", "-9223372036854775807", "withvalues"),
    ("HRANDFIELD", "h", "4611686018427387904", "withvalues"),
    ("HRANDFIELD", "h", "-4611686018427387904", "withvalues"),
    ("HRANDFIELD", "h", "100"),
    ("HRANDFIELD", "h", "100", "WITHVALUES"),
    # HSCAN (small hashes come back whole, whatever the cursor and COUNT)
    ("HSCAN", "h", "0"),
    ("HSCAN", "h", "7"),
    ("HSCAN", "h", "0", "COUNT", "1"),
    ("HSCAN", "h", "0", "MATCH", "*"),
    ("HSCAN", "h", "0", "MATCH", "[a-f]*", "COUNT", "100"),
    ("HSCAN", "h", "0", "match", "nomatch"),
    ("HSCAN", "h", "0", "COUNT", "0"),
    ("HSCAN", "h", "0", "COUNT", "-1"),
    ("HSCAN", "h", "0", "COUNT", "x"),
    ("HSCAN", "h", "0", "COUNT"),
    ("HSCAN", "h", "0", "MATCH"),
    ("HSCAN", "h", "0", "TYPE", "string"),
    ("HSCAN", "h", "0", "NOVALUES"),
    ("HSCAN", "h", "x"),
    ("HSCAN", "h", "-1"),
    ("HSCAN", "h", "18446744073709551616"),
    ("HSCAN", "missing", "0"),
    ("HSCAN", "missing", "0", "COUNT", "0"),
    ("HSCAN", "missing", "x"),
    ("HSCAN", "str", "0"),
    ("HSCAN", "str", "0", "COUNT", "0"),
]


@pytest.mark.parametrize("command", CASES, ids=lambda c: " ".join(map(str, c))[:60])
def test_hash_commands_match_redis(protocol_pair, command):
    assert_same(protocol_pair, *command)
    assert_state_same(protocol_pair, "h", "fresh", "str")


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_reply_bytes_match_redis(pair, redis_server, leakdb_server, resp3):
    """The exact reply types: HGETALL a map, HRANDFIELD WITHVALUES pairs, HINCRBYFLOAT a bulk string."""
    commands = [
        ("HSET", "h", "f", "v"),
        ("HGETALL", "h"),
        ("HGETALL", "missing"),
        ("HRANDFIELD", "h", "-2", "WITHVALUES"),
        ("HRANDFIELD", "h", "1"),
        ("HRANDFIELD", "missing"),
        ("HRANDFIELD", "missing", "1"),
        ("HINCRBYFLOAT", "h", "x", "1.5"),
        ("HMGET", "h", "f", "nope"),
        ("HGET", "h", "nope"),
        ("HSCAN", "h", "0"),
        ("HSCAN", "missing", "0"),
        ("HKEYS", "h"),
        ("HVALS", "h"),
    ]
    expected = raw_commands(redis_server.port, *commands, resp3=resp3)
    actual = raw_commands(leakdb_server.port, *commands, resp3=resp3)
    if resp3:  # HELLO's reply names the server and its version
        expected = expected[expected.index(b":1\r\n") :]
        actual = actual[actual.index(b":1\r\n") :]
    assert actual == expected


def test_hincrbyfloat_digits_match_redis(pair):
    steps = ["0.1", "0.2", "1e-17", "3.0e3", "-5", "1.23456789012345678", "0x1p-3", "10.5E+2", "-0.3", "7"]
    steps += ["1e17", "123456789.987654321", "-1e-10", "5.0000000000000001"]
    for step in steps:
        assert_same(pair, "HINCRBYFLOAT", "h", "f", step)
        assert_same(pair, "HINCRBYFLOAT", "h", "g" + step, step)
        assert_same(pair, "INCRBYFLOAT", "counter", step)  # shares the long-double reader
    for bad in ["1e-5000", "0x", "0x1p", "0xg", "0x1p99999", "+-1", "1e5000"]:
        assert_same(pair, "HINCRBYFLOAT", "h", "f", bad)
        assert_same(pair, "INCRBYFLOAT", "counter", bad)
    assert_same(pair, "HGETALL", "h")


# -- random fields ---------------------------------------------------------------------------------


def test_hrandfield_shapes(pair):
    ours = pair[1]
    fields = {f"f{i}": f"v{i}" for i in range(5)}
    for client in pair:
        client.hset("h", mapping=fields)
    names = {name.encode() for name in fields}
    for _ in range(20):
        assert ours.hrandfield("h") in names
    for count in (1, 3, 5, 9):
        for client in pair:
            picked = client.hrandfield("h", count)
            assert len(picked) == min(count, 5) and len(set(picked)) == len(picked)
            assert set(picked) <= names
    for client in pair:
        picked = client.hrandfield("h", -12)
        assert len(picked) == 12 and set(picked) <= names
        with_values = client.execute_command("HRANDFIELD", "h", "-7", "WITHVALUES")
        assert len(with_values) == 7  # pairs in RESP3
        for name, value in with_values:
            assert fields[name.decode()].encode() == value
    # A negative count repeats fields: over many draws from two fields both appear, some twice.
    for client in pair:
        client.delete("h")
        client.hset("small", mapping={"x": "1", "y": "2"})
        drawn = client.hrandfield("small", -50)
        assert len(drawn) == 50 and set(drawn) == {b"x", b"y"}


def test_hrandfield_withvalues_flat_in_resp2(redis_server, leakdb_server):
    for server in (redis_server, leakdb_server):
        client = server.client(protocol=2)
        client.flushall()
        client.hset("h", mapping={"a": "1", "b": "2"})
        reply = client.execute_command("HRANDFIELD", "h", "2", "WITHVALUES")
        assert len(reply) == 4
        assert dict(zip(reply[::2], reply[1::2], strict=True)) == {b"a": b"1", b"b": b"2"}
        client.close()


# -- HSCAN over a large hash -----------------------------------------------------------------------


def _full_hscan(client, key, **options) -> tuple[dict, int]:
    cursor, found, calls = 0, {}, 0
    while True:
        cursor, batch = client.hscan(key, cursor, **options)
        found.update(batch)
        calls += 1
        if cursor == 0:
            return found, calls


def test_hscan_walks_a_large_hash_in_batches(pair):
    fields = {f"field:{i}": str(i) for i in range(1500)}
    for client in pair:
        client.hset("big", mapping=fields)
    oracle_found, _ = _full_hscan(pair[0], "big", count=50)
    ours_found, calls = _full_hscan(pair[1], "big", count=50)
    assert ours_found == oracle_found
    assert calls > 10
    assert (
        _full_hscan(pair[1], "big", match="field:1?")[0] == _full_hscan(pair[0], "big", match="field:1?")[0]
    )
    # A long value turns even a small hash into a hashtable; COUNT then applies.
    for client in pair:
        client.hset("wide", mapping={"long": "x" * 100, **{f"k{i}": "v" for i in range(30)}})
    assert _full_hscan(pair[1], "wide", count=5)[0] == _full_hscan(pair[0], "wide", count=5)[0]


def test_hscan_returns_fields_present_for_the_whole_scan(r):
    r.hset("h", mapping={f"f{i}": "v" for i in range(1000)})
    cursor, seen = 0, set()
    step = 0
    while True:
        cursor, batch = r.hscan("h", cursor, count=20)
        seen.update(batch)
        step += 1
        r.hdel("h", f"f{500 + step}")  # fields removed mid-scan may or may not appear
        r.hset("h", f"new{step}", "v")  # nor may fields added mid-scan
        if cursor == 0:
            break
    stable = {f"f{i}".encode() for i in range(1000) if not 500 < i <= 500 + step}
    assert stable <= seen


# -- property test ---------------------------------------------------------------------------------

KEYS = st.sampled_from(["h1", "h2", "s"])
FIELD = st.sampled_from(["a", "b", "c", "1", "-2", ""])
VALUE = st.sampled_from(["0", "1", "-3", "1.5", "x", "", "9223372036854775807", "10"])
NUMBER = st.sampled_from(["1", "-1", "0", "2.5", "x", "9223372036854775807", "-0.5", "1e2"])

HASH_COMMANDS = st.one_of(
    st.tuples(st.just("HSET"), KEYS, FIELD, VALUE),
    st.tuples(st.just("HSET"), KEYS, FIELD, VALUE, FIELD, VALUE),
    st.tuples(st.just("HSETNX"), KEYS, FIELD, VALUE),
    st.tuples(st.just("HMSET"), KEYS, FIELD, VALUE),
    st.tuples(st.just("HGET"), KEYS, FIELD),
    st.tuples(st.just("HMGET"), KEYS, FIELD, FIELD),
    st.tuples(st.just("HDEL"), KEYS, FIELD, FIELD),
    st.tuples(st.just("HEXISTS"), KEYS, FIELD),
    st.tuples(st.just("HLEN"), KEYS),
    st.tuples(st.just("HSTRLEN"), KEYS, FIELD),
    st.tuples(st.just("HKEYS"), KEYS),
    st.tuples(st.just("HVALS"), KEYS),
    st.tuples(st.just("HGETALL"), KEYS),
    st.tuples(st.just("HINCRBY"), KEYS, FIELD, NUMBER),
    st.tuples(st.just("HINCRBYFLOAT"), KEYS, FIELD, NUMBER),
    st.tuples(st.just("HSCAN"), KEYS, st.just("0")),
    st.tuples(st.just("HRANDFIELD"), KEYS, st.sampled_from(["0", "10"])),
    st.tuples(st.just("SADD"), st.just("s"), FIELD),
    st.tuples(st.just("DEL"), KEYS),
)

UNORDERED = {"HKEYS", "HVALS", "HRANDFIELD"}


def _normalized(command: tuple[str, ...], reply):
    if command[0] in UNORDERED and isinstance(reply, list):
        return sorted(reply)
    return reply


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(HASH_COMMANDS, min_size=1, max_size=25))
def test_random_hash_command_sequences_match_redis(pair, commands):
    oracle, ours = pair
    oracle.flushall()
    ours.flushall()
    for command in commands:
        expected = _normalized(command, reply_of(oracle, *command))
        actual = _normalized(command, reply_of(ours, *command))
        assert actual == expected, f"{command}: redis {expected!r}, leakdb {actual!r}"


# -- persistence and the Python API ----------------------------------------------------------------


@pytest.mark.parametrize("storage", ["persistent", "persistent-queue"])
@pytest.mark.parametrize("backend", ["sqlite", "shelve"])
@pytest.mark.parametrize("stop", ["shutdown", "sigterm"])
def test_hashes_survive_a_restart(start_leakdb, storage, backend, stop):
    flags = ("--storage", storage, "--backend", backend)
    server = start_leakdb(*flags)
    client = server.client()
    client.hset("h", mapping={"a": "1", "b": "2", "c": "3", b"\x00": b"\xff"})
    client.hdel("h", "b")
    client.hincrby("h", "a", 41)
    client.hincrbyfloat("h", "f", "0.5")
    client.hsetnx("h", "c", "ignored")
    client.hset("gone", "x", "1")
    client.hdel("gone", "x")
    client.hset("ttl", "x", "1")
    set_from = wall_ms()
    client.expire("ttl", 1000)
    deadline = client.pexpiretime("ttl")
    assert_deadline(deadline, 1_000_000, set_from, wall_ms())
    expected = client.hgetall("h")
    if stop == "shutdown":
        raw_exchange(server.port, b"SHUTDOWN\r\n", expect_close=True)
        server.wait()
    else:
        server.stop(signal.SIGTERM)
    client.close()
    again = start_leakdb(*flags).client()
    assert again.hgetall("h") == expected == {b"a": b"42", b"c": b"3", b"f": b"0.5", b"\x00": b"\xff"}
    assert again.exists("gone") == 0
    assert again.pexpiretime("ttl") == deadline
    assert again.type("h") == b"hash"
    again.close()


def test_python_api_reaches_hash_commands(tmp_path):
    storage = DefaultStorage()
    assert storage.execute_command("HSET", "h", "f", "v", "g", 2) == 2
    assert storage.execute_command("HGETALL", "h") == {b"f": b"v", b"g": b"2"}
    assert storage.execute_command("HINCRBY", "h", "g", 40) == 42
    assert storage.execute_command("HINCRBYFLOAT", "h", "x", "0.1") == b"0.1"
    assert storage.execute_command("HRANDFIELD", "h", -3) and storage.execute_command("HLEN", "h") == 3
    with pytest.raises(CommandError, match=r"^ERR hash value is not an integer$"):
        storage.execute_command("HINCRBY", "h", "f", 1)
    path = str(tmp_path / "store.db")
    with PersistentStorage(path) as persistent:
        persistent.execute_command("HSET", "h", "f", "v")
        persistent.execute_command("HSET", "h", "g", "w")
        persistent.execute_command("HDEL", "h", "f")
    with PersistentStorage(path) as reopened:
        assert reopened.execute_command("HGETALL", "h") == {b"g": b"w"}
