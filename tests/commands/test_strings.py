"""String commands, each reply compared with a real redis-server's reply to the same command."""

from __future__ import annotations

import pytest
from conftest import assert_same, raw_exchange, wall_ms

SET_OPTION_SEQUENCES = [
    (),
    ("NX",),
    ("XX",),
    ("GET",),
    ("NX", "GET"),
    ("XX", "GET"),
    ("KEEPTTL",),
    ("KEEPTTL", "GET"),
    ("EX", "100"),
    ("PX", "100000"),
    ("EXAT", "4102444800"),  # 2100-01-01: a fixed deadline keeps test ids stable
    ("PXAT", "4102444800000"),
    ("EX", "100", "NX"),
    ("EX", "100", "XX", "GET"),
    ("NX", "XX"),
    ("EX", "10", "PX", "100"),
    ("EX", "10", "KEEPTTL"),
    ("KEEPTTL", "EX", "10"),
    ("EX",),
    ("EX", "0"),
    ("EX", "-5"),
    ("EX", "abc"),
    ("EX", "1.5"),
    ("PX", "9223372036854775807"),
    ("EX", "9223372036854775807"),
    ("EXAT", "1"),
    ("FOO",),
    ("nx", "get"),
    ("GET", "GET"),
    ("NX", "NX"),
    ("EX", "10", "EX", "20"),
]


@pytest.mark.parametrize("options", SET_OPTION_SEQUENCES, ids=lambda o: " ".join(o) or "plain")
@pytest.mark.parametrize("initial", ["missing", "string", "string-with-ttl", "list"])
def test_set_options_match_redis(pair, options, initial):
    before = wall_ms()
    for client in pair:
        if initial.startswith("string"):
            client.set("k", "old")
        if initial == "string-with-ttl":
            client.expire("k", 500)
        if initial == "list":
            client.rpush("k", "x")
    assert_same(pair, "SET", "k", "new", *options)
    after = wall_ms()
    assert_same(pair, "GET", "k")
    # Relative deadlines were set by each server between `before` and `after`: they differ by less.
    oracle_deadline, our_deadline = (client.pexpiretime("k") for client in pair)
    if oracle_deadline < 0:
        assert our_deadline == oracle_deadline
    else:
        assert abs(oracle_deadline - our_deadline) <= after - before, (oracle_deadline, our_deadline)


def test_get_and_set_binary_keys_and_values(pair):
    for key, value in [(b"a\x00b", b"\r\n\x00\xff"), (b"", b""), (b"\r\n", b"x" * 100000)]:
        assert_same(pair, "SET", key, value)
        assert_same(pair, "GET", key)
        assert_same(pair, "STRLEN", key)


@pytest.mark.parametrize(
    "command",
    [
        ("SETNX", "k", "1"),
        ("SETEX", "k", "10", "v"),
        ("SETEX", "k", "0", "v"),
        ("SETEX", "k", "-1", "v"),
        ("SETEX", "k", "x", "v"),
        ("PSETEX", "k", "10000", "v"),
        ("PSETEX", "k", "0", "v"),
        ("GETSET", "k", "v"),
        ("GETDEL", "k"),
        ("GETEX", "k"),
        ("GETEX", "k", "EX", "100"),
        ("GETEX", "k", "PX", "100000"),
        ("GETEX", "k", "PERSIST"),
        ("GETEX", "k", "EX"),
        ("GETEX", "k", "EX", "0"),
        ("GETEX", "k", "PERSIST", "EX", "10"),
        ("GETEX", "k", "FOO"),
        ("APPEND", "k", "more"),
        ("STRLEN", "k"),
        ("INCR", "k"),
        ("DECR", "k"),
        ("INCRBY", "k", "5"),
        ("DECRBY", "k", "5"),
        ("INCRBY", "k", "x"),
        ("DECRBY", "k", "-9223372036854775808"),
        ("INCRBYFLOAT", "k", "1.5"),
        ("MSET", "k", "1", "j"),
        ("MSETNX", "k", "1", "j", "2"),
        ("MGET", "k", "missing", "j"),
    ],
    ids=lambda c: " ".join(c),
)
@pytest.mark.parametrize("initial", [None, b"10", b"abc", b"-"])
def test_string_commands_match_redis(pair, command, initial):
    if initial is not None:
        for client in pair:
            client.set("k", initial)
    assert_same(pair, *command)
    assert_same(pair, "GET", "k")
    assert_same(pair, "TTL", "k")


@pytest.mark.parametrize(
    "start,value",
    [
        (b"9223372036854775806", "1"),
        (b"9223372036854775807", "1"),
        (b"-9223372036854775808", "-1"),
        (b"0", "9223372036854775807"),
        (b"0", "-9223372036854775808"),
        (b"007", "1"),
        (b"+1", "1"),
        (b" 1", "1"),
        (b"1 ", "1"),
        (b"-0", "1"),
        (b"1e3", "1"),
        (b"12345678901234567890", "1"),
        (b"", "1"),
    ],
)
def test_counter_edges_match_redis(pair, start, value):
    for client in pair:
        client.set("n", start)
    assert_same(pair, "INCRBY", "n", value)
    assert_same(pair, "GET", "n")
    assert_same(pair, "DECRBY", "n", value)


@pytest.mark.parametrize(
    "start,increment",
    [
        (None, "0.1"),
        (b"10.5", "0.1"),
        (b"3", "1.0e3"),
        (b"5.0e3", "2.0e2"),
        (b"1", "-1"),
        (b"0.1", "0.2"),
        (b"1", "1e300"),
        (b"1", "1e-20"),
        (b"1", "inf"),
        (b"1", "-inf"),
        (b"1", "nan"),
        (b"1", " 1"),
        (b"1", "abc"),
        (b"abc", "1"),
        (b"1.7976931348623157e308", "1.7976931348623157e308"),
        (b"-3.14159", "3.14159"),
        (b"1", "0x10"),
        (b"100", "-100.25"),
        (b"12345678901234567890", "1"),
    ],
)
def test_incrbyfloat_formatting_matches_redis(pair, start, increment):
    if start is not None:
        for client in pair:
            client.set("f", start)
    assert_same(pair, "INCRBYFLOAT", "f", increment)
    assert_same(pair, "GET", "f")


@pytest.mark.parametrize(
    "start,end",
    [
        (0, -1),
        (0, 0),
        (2, 4),
        (-3, -1),
        (-1, -3),
        (5, 2),
        (0, 100),
        (-100, 2),
        (0, -100),
        (100, 200),
        (-100, -50),
        (3, -2),
    ],
)
def test_getrange_bounds_match_redis(pair, start, end):
    for client in pair:
        client.set("s", "Hello World")
        client.set("empty", "")
    assert_same(pair, "GETRANGE", "s", start, end)
    assert_same(pair, "GETRANGE", "empty", start, end)
    assert_same(pair, "GETRANGE", "missing", start, end)
    assert_same(pair, "SUBSTR", "s", start, end)


@pytest.mark.parametrize(
    "key_state,offset,value",
    [
        ("s", 0, "J"),
        ("s", 6, "Redis"),
        ("s", 20, "far"),
        ("s", 3, ""),
        ("missing", 5, "x"),
        ("missing", 0, ""),
        ("missing", 3, ""),
        ("s", -1, "x"),
        ("s", 536870912, "x"),
        ("s", "abc", "x"),
    ],
)
def test_setrange_matches_redis(pair, key_state, offset, value):
    for client in pair:
        client.set("s", "Hello World")
    assert_same(pair, "SETRANGE", key_state, offset, value)
    assert_same(pair, "GET", key_state)


@pytest.mark.parametrize(
    "command",
    [
        ("GET",),
        ("GET", "a", "b"),
        ("SET", "a"),
        ("MSET", "a"),
        ("MSET", "a", "1", "b"),
        ("MGET",),
        ("INCR",),
        ("INCRBY", "a"),
        ("GETRANGE", "a", "1"),
        ("SETEX", "a", "1"),
        ("APPEND", "a"),
        ("GETEX",),
        ("STRLEN", "a", "b"),
    ],
    ids=lambda c: " ".join(c),
)
def test_wrong_arity_errors_match_redis(pair, command):
    assert_same(pair, *command)


def test_unknown_command_error_matches_redis(pair):
    assert_same(pair, "NOSUCHCOMMAND", "a", "b")
    assert_same(pair, "nosuch")
    assert_same(pair, "GeT", "k")
    assert_same(pair, "sEt", "k", "v")


def test_pipeline_replies_in_order(pair):
    ours = pair[1]
    results = []
    for client in pair:
        pipe = client.pipeline(transaction=False)
        for i in range(200):
            pipe.set(f"k{i}", i)
            pipe.incr(f"k{i}")
            pipe.get(f"k{i}")
        pipe.get("missing")
        results.append(pipe.execute(raise_on_error=False))
    assert results[0] == results[1]
    assert ours.get("k199") == b"200"


def test_inline_commands_match_redis(redis_server, leakdb_server):
    payload = b'SET "a b" "x\\x41\\ny"\r\nGET "a b"\r\nPING\r\n\r\nECHO \'it\\\'s\'\r\nGET a\n'
    assert raw_exchange(leakdb_server.port, payload) == raw_exchange(redis_server.port, payload)


def test_protocol_errors_close_only_that_connection(redis_server, leakdb_server, r):
    r.set("survivor", "1")
    for payload in [b"*abc\r\n", b"*1\r\n$x\r\n", b"*1\r\n:5\r\n", b'SET "unbalanced\r\n']:
        expected = raw_exchange(redis_server.port, payload, expect_close=True)
        actual = raw_exchange(leakdb_server.port, payload, expect_close=True)
        assert actual == expected, payload
    assert r.get("survivor") == b"1"
