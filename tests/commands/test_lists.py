"""List commands, each reply compared with a real redis-server's reply, in RESP2 and RESP3.

Every case starts from the same lists on both servers, runs one command and then compares the
command's reply and the resulting contents of every key involved.  A property test sends random
sequences of list commands over a small alphabet and compares every reply.
"""

from __future__ import annotations

import socket

import pytest
import redis
from conftest import HANG_SECONDS, QUIT, QUIT_REPLY, assert_same, read_replies, read_until_closed, reply_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leakdb.storage import DefaultStorage

KEYS = ("l", "one", "s", "missing", "dst")


def seed(client: redis.Redis) -> None:
    client.rpush("l", "a", "b", "c", "a", "b", "c", "d")
    client.rpush("one", "x")
    client.set("s", "string")


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def seeded(request, redis_server, leakdb_server):
    """(redis, leakdb) clients speaking the requested protocol, on flushed and seeded servers."""
    clients = (
        redis.Redis(port=redis_server.port, protocol=request.param),
        redis.Redis(port=leakdb_server.port, protocol=request.param),
    )
    for client in clients:
        client.flushall()
        seed(client)
    yield clients
    for client in clients:
        client.close()


def assert_same_keys(pair) -> None:
    for key in KEYS:
        assert_same(pair, "TYPE", key)
        if reply_of(pair[0], "TYPE", key) in (b"list", "list"):
            assert_same(pair, "LRANGE", key, 0, -1)


CASES = [
    # pushes
    ("LPUSH", "l", "x", "y"),
    ("RPUSH", "l", "x", "y"),
    ("LPUSH", "missing", "x", "y"),
    ("RPUSH", "missing", "x"),
    ("LPUSH", "s", "x"),
    ("LPUSH", "l"),
    ("LPUSHX", "l", "x", "y"),
    ("RPUSHX", "l", "x"),
    ("LPUSHX", "missing", "x"),
    ("RPUSHX", "missing", "x"),
    ("RPUSHX", "s", "x"),
    # pops, with and without count
    ("LPOP", "l"),
    ("RPOP", "l"),
    ("LPOP", "one"),
    ("LPOP", "missing"),
    ("LPOP", "s"),
    ("LPOP", "l", 3),
    ("RPOP", "l", 3),
    ("RPOP", "l", 100),
    ("LPOP", "l", 0),
    ("LPOP", "missing", 0),
    ("LPOP", "missing", 2),
    ("RPOP", "l", -1),
    ("LPOP", "l", "x"),
    ("LPOP", "missing", -1),
    ("LPOP", "s", 0),
    ("LPOP", "l", 1, 2),
    # reading
    ("LLEN", "l"),
    ("LLEN", "missing"),
    ("LLEN", "s"),
    *[
        ("LRANGE", "l", a, b)
        for a, b in [
            (0, -1),
            (1, 3),
            (-3, -1),
            (-100, 100),
            (5, 2),
            (7, 10),
            (-1, -1),
            (0, 0),
            (-8, -7),
            (3, -3),
            (6, 6),
            (2, 1000),
        ]
    ],
    ("LRANGE", "missing", 0, -1),
    ("LRANGE", "s", 0, -1),
    ("LRANGE", "l", "x", 1),
    ("LRANGE", "missing", 0, "x"),
    *[("LINDEX", "l", i) for i in (0, 3, 6, 7, -1, -7, -8, 100)],
    ("LINDEX", "missing", 0),
    ("LINDEX", "missing", "x"),
    ("LINDEX", "l", "x"),
    ("LINDEX", "s", 0),
    # LSET
    ("LSET", "l", 0, "z"),
    ("LSET", "l", -1, "z"),
    ("LSET", "l", 7, "z"),
    ("LSET", "l", -8, "z"),
    ("LSET", "missing", 0, "z"),
    ("LSET", "l", "x", "z"),
    ("LSET", "missing", "x", "z"),
    ("LSET", "s", 0, "z"),
    # LINSERT
    ("LINSERT", "l", "BEFORE", "a", "z"),
    ("LINSERT", "l", "after", "d", "z"),
    ("LINSERT", "l", "AFTER", "c", "z"),
    ("LINSERT", "l", "before", "nope", "z"),
    ("LINSERT", "missing", "BEFORE", "a", "z"),
    ("LINSERT", "l", "MIDDLE", "a", "z"),
    ("LINSERT", "missing", "MIDDLE", "a", "z"),
    ("LINSERT", "s", "BEFORE", "a", "z"),
    # LREM
    *[("LREM", "l", count, "a") for count in (0, 1, 2, 5, -1, -2, -5)],
    ("LREM", "l", 0, "nope"),
    ("LREM", "one", 0, "x"),
    ("LREM", "missing", 0, "x"),
    ("LREM", "l", "x", "a"),
    ("LREM", "s", 0, "a"),
    # LTRIM
    *[
        ("LTRIM", "l", a, b)
        for a, b in [
            (0, -1),
            (1, 3),
            (-3, -1),
            (-100, 100),
            (5, 2),
            (7, 10),
            (0, 0),
            (-1, -1),
            (2, -2),
            (10, 20),
        ]
    ],
    ("LTRIM", "missing", 0, 1),
    ("LTRIM", "l", 0, "x"),
    ("LTRIM", "s", 0, 1),
    # LPOS
    ("LPOS", "l", "b"),
    ("LPOS", "l", "nope"),
    ("LPOS", "missing", "b"),
    ("LPOS", "missing", "b", "COUNT", 0),
    ("LPOS", "s", "b"),
    *[
        ("LPOS", "l", "a", *options)
        for options in [
            ("RANK", 1),
            ("RANK", 2),
            ("RANK", 3),
            ("RANK", -1),
            ("RANK", -2),
            ("RANK", -3),
            ("COUNT", 0),
            ("COUNT", 1),
            ("COUNT", 5),
            ("RANK", -1, "COUNT", 0),
            ("RANK", 2, "COUNT", 0),
            ("MAXLEN", 1),
            ("MAXLEN", 4),
            ("MAXLEN", 4, "COUNT", 0),
            ("RANK", -1, "MAXLEN", 3),
            ("RANK", -1, "MAXLEN", 4, "COUNT", 0),
            ("MAXLEN", 0, "COUNT", 0),
            ("count", 0, "rank", 2),
            ("RANK", 0),
            ("RANK", "x"),
            ("RANK", "-9223372036854775808"),
            ("RANK", "-9223372036854775808", "COUNT", 0),
            ("RANK", "9223372036854775807"),
            ("COUNT", -1),
            ("COUNT", "x"),
            ("MAXLEN", -1),
            ("MAXLEN", "x"),
            ("RANK",),
            ("COUNT",),
            ("FOO", 1),
            ("RANK", 1, "COUNT"),
        ]
    ],
    ("LPOS", "missing", "a", "RANK", 0),
    # LMOVE and RPOPLPUSH
    *[("LMOVE", "l", "dst", a, b) for a in ("LEFT", "RIGHT") for b in ("LEFT", "RIGHT")],
    ("LMOVE", "l", "l", "LEFT", "RIGHT"),
    ("LMOVE", "l", "l", "RIGHT", "LEFT"),
    ("LMOVE", "one", "one", "LEFT", "RIGHT"),
    ("LMOVE", "one", "dst", "left", "right"),
    ("LMOVE", "one", "l", "LEFT", "LEFT"),
    ("LMOVE", "missing", "dst", "LEFT", "RIGHT"),
    ("LMOVE", "missing", "s", "LEFT", "RIGHT"),
    ("LMOVE", "l", "s", "LEFT", "RIGHT"),
    ("LMOVE", "s", "dst", "LEFT", "RIGHT"),
    ("LMOVE", "l", "dst", "UP", "RIGHT"),
    ("LMOVE", "missing", "dst", "LEFT", "DOWN"),
    ("RPOPLPUSH", "l", "dst"),
    ("RPOPLPUSH", "l", "l"),
    ("RPOPLPUSH", "one", "dst"),
    ("RPOPLPUSH", "missing", "dst"),
    ("RPOPLPUSH", "l", "s"),
    ("RPOPLPUSH", "s", "l"),
    # LMPOP
    ("LMPOP", 1, "l", "LEFT"),
    ("LMPOP", 1, "l", "RIGHT", "COUNT", 3),
    ("LMPOP", 2, "missing", "l", "right", "count", 100),
    ("LMPOP", 2, "missing", "one", "LEFT", "COUNT", 2),
    ("LMPOP", 1, "missing", "LEFT"),
    ("LMPOP", 2, "s", "l", "LEFT"),
    ("LMPOP", 2, "l", "s", "LEFT"),
    ("LMPOP", 0, "l", "LEFT"),
    ("LMPOP", -1, "l", "LEFT"),
    ("LMPOP", "x", "l", "LEFT"),
    ("LMPOP", 5, "l", "LEFT"),
    ("LMPOP", 2, "l", "LEFT"),
    ("LMPOP", 1, "l", "MIDDLE"),
    ("LMPOP", 1, "l", "LEFT", "COUNT", 0),
    ("LMPOP", 1, "l", "LEFT", "COUNT", -1),
    ("LMPOP", 1, "l", "LEFT", "COUNT", "x"),
    ("LMPOP", 1, "l", "LEFT", "COUNT"),
    ("LMPOP", 1, "l", "LEFT", "COUNT", 1, "COUNT", 2),
    ("LMPOP", 1, "l", "LEFT", "FOO"),
    ("LMPOP", 1, "l"),
    # wrong arity
    ("LLEN",),
    ("LRANGE", "l", 0),
    ("LINSERT", "l", "BEFORE", "a"),
    ("LMOVE", "l", "dst", "LEFT"),
    ("RPOPLPUSH", "l"),
]


@pytest.mark.parametrize("args", CASES, ids=lambda args: " ".join(map(str, args)))
def test_list_command_matches_redis(seeded, args):
    assert_same(seeded, *args)
    assert_same_keys(seeded)


# Blocking forms that find data, or fail before they could block, answer at once like Redis.
IMMEDIATE_BLOCKING_CASES = [
    ("BLPOP", "l", 0),
    ("BRPOP", "l", 0),
    ("BLPOP", "missing", "one", "l", 0),
    ("BRPOP", "missing", "l", 1),
    ("BLPOP", "missing", "s", 0),
    ("BLPOP", "s", "l", 0),
    ("BLPOP", "l", "x"),
    ("BLPOP", "l", -1),
    ("BLPOP", "l", "-0.5"),
    ("BLPOP", "l", "inf"),
    ("BLPOP", "l", "-inf"),
    ("BLPOP", "l", "nan"),
    ("BLPOP", "l", "1e400"),
    ("BLPOP", "l", "1e5000"),
    ("BLPOP", "l", " 1"),
    ("BLPOP", "l", "1_0"),
    ("BLPOP", "l", ""),
    ("BLPOP", "l", "0x10"),
    ("BLPOP", "l", "0.001"),
    ("BLPOP", "l", "+2.5"),
    ("BLPOP", "l", "-0x1p70"),
    ("BLPOP", "l", "9.3e15"),
    ("BRPOP", "l"),
    ("BLMOVE", "l", "dst", "LEFT", "RIGHT", 0),
    ("BLMOVE", "l", "dst", "RIGHT", "LEFT", "0.5"),
    ("BLMOVE", "l", "s", "LEFT", "RIGHT", 0),
    ("BLMOVE", "s", "dst", "LEFT", "RIGHT", 0),
    ("BLMOVE", "l", "dst", "UP", "RIGHT", 0),
    ("BLMOVE", "l", "dst", "LEFT", "RIGHT", "x"),
    ("BLMOVE", "l", "dst", "LEFT", "RIGHT", -1),
    ("BLMOVE", "l", "dst", "UP", "RIGHT", "x"),
    ("BRPOPLPUSH", "l", "dst", 0),
    ("BRPOPLPUSH", "l", "l", 0),
    ("BRPOPLPUSH", "l", "dst", "x"),
    ("BRPOPLPUSH", "l", "s", 0),
    ("BLMPOP", 0, 1, "l", "LEFT"),
    ("BLMPOP", 0, 2, "missing", "l", "RIGHT", "COUNT", 3),
    ("BLMPOP", "0.1", 2, "one", "l", "LEFT", "COUNT", 5),
    ("BLMPOP", 0, 1, "s", "LEFT"),
    ("BLMPOP", "x", 1, "l", "LEFT"),
    ("BLMPOP", -1, 1, "l", "LEFT"),
    ("BLMPOP", "x", 0, "l", "LEFT"),
    ("BLMPOP", 0, 0, "l", "LEFT"),
    ("BLMPOP", 0, 3, "l", "LEFT"),
    ("BLMPOP", 0, 1, "l", "UP"),
    ("BLMPOP", 0, 1, "l", "LEFT", "COUNT", 0),
    ("BLMPOP", 0, 1, "l", "LEFT", "COUNT", "x"),
    ("BLMPOP", 0, 1, "l", "LEFT", "COUNT", 1, "COUNT", 1),
    ("BLMPOP", 0, 1, "l", "LEFT", "BAR"),
    ("BLMPOP", 0, 1, "l"),
]


@pytest.mark.parametrize("args", IMMEDIATE_BLOCKING_CASES, ids=lambda args: " ".join(map(str, args)))
def test_blocking_command_without_waiting_matches_redis(seeded, args):
    assert_same(seeded, *args)
    assert_same_keys(seeded)


def test_short_timeouts_reply_null_like_redis(seeded):
    for args in [
        ("BLPOP", "missing", "0.05"),
        ("BRPOP", "missing", "nokey", "0.05"),
        ("BLMOVE", "missing", "dst", "LEFT", "LEFT", "0.05"),
        ("BRPOPLPUSH", "missing", "dst", "0.05"),
        ("BLMPOP", "0.05", 2, "missing", "nokey", "LEFT", "COUNT", 2),
    ]:
        assert_same(seeded, *args)


@pytest.mark.parametrize("protocol", [2, 3])
def test_blocking_pops_inside_multi_do_not_block(redis_server, leakdb_server, protocol):
    """Inside MULTI/EXEC an empty list answers at once: null array, or null for the BLMOVE forms."""
    replies = []
    for port in (redis_server.port, leakdb_server.port):
        client = redis.Redis(port=port, protocol=protocol)
        client.flushall()
        pipe = client.pipeline(transaction=True)
        pipe.execute_command("BLPOP", "empty", 0)
        pipe.execute_command("BRPOP", "empty", "other", 0)
        pipe.execute_command("BLMOVE", "empty", "dst", "LEFT", "RIGHT", 0)
        pipe.execute_command("BRPOPLPUSH", "empty", "dst", 0)
        pipe.execute_command("BLMPOP", 0, 1, "empty", "LEFT")
        pipe.execute_command("RPUSH", "full", "a", "b")
        pipe.execute_command("BLPOP", "empty", "full", 0)
        replies.append(pipe.execute())
        client.close()
    assert replies[1] == replies[0]


def _raw_replies(port: int, hello: bytes, requests: bytes) -> bytes:
    """The bytes answering `requests` on a connection that first sent `hello` (its reply dropped)."""
    with socket.create_connection(("127.0.0.1", port), timeout=HANG_SECONDS) as sock:
        if hello:
            sock.sendall(hello)
            read_replies(sock, 1)
        sock.sendall(requests + QUIT)
        replies = read_until_closed(sock)
    assert replies.endswith(QUIT_REPLY), replies
    return replies[: -len(QUIT_REPLY)]


@pytest.mark.parametrize("hello", [b"", b"HELLO 3\r\n"], ids=["resp2", "resp3"])
def test_raw_null_replies_match_redis(redis_server, leakdb_server, hello):
    """Byte-exact null forms: `*-1` (arrays) and `$-1` (strings) in RESP2, `_` for both in RESP3."""
    requests = (
        b"LPOP missing\r\nLPOP missing 2\r\nLPOP missing 0\r\nLINDEX missing 0\r\nLPOS missing a\r\n"
        b"LMPOP 1 missing LEFT\r\nRPOPLPUSH missing dst\r\nBLPOP missing 0.01\r\n"
        b"BLMOVE missing d LEFT LEFT 0.01\r\nBLMPOP 0.01 1 missing RIGHT\r\n"
    )
    expected = _raw_replies(redis_server.port, hello, requests)
    assert _raw_replies(leakdb_server.port, hello, requests) == expected


def test_lists_through_the_python_api(tmp_path):
    storage = DefaultStorage()
    run = storage.execute_command
    assert run("RPUSH", "q", "a", "b", "c") == 3
    assert run("LPUSH", "q", "z") == 4
    assert run("LRANGE", "q", 0, -1) == [b"z", b"a", b"b", b"c"]
    assert run("LPOS", "q", "b") == 2
    assert run("LMOVE", "q", "other", "RIGHT", "LEFT") == b"c"
    assert run("LMPOP", 2, "nothing", "q", "LEFT", "COUNT", 2) == [b"q", [b"z", b"a"]]
    assert run("BLPOP", "q", 0) == [b"q", b"b"]
    assert run("EXISTS", "q") == 0  # an emptied list is deleted
    assert run("LLEN", "other") == 1
    storage.close()


# -- random sequences ------------------------------------------------------------------------------

_KEY = st.sampled_from(["a", "b", "s"])
_ELEMENT = st.sampled_from(["x", "y", "z"])
_INDEX = st.integers(-4, 4)
_END = st.sampled_from(["LEFT", "RIGHT"])
_COMMAND = st.one_of(
    st.tuples(st.sampled_from(["LPUSH", "RPUSH", "LPUSHX", "RPUSHX"]), _KEY, _ELEMENT),
    st.tuples(st.sampled_from(["LPUSH", "RPUSH"]), _KEY, _ELEMENT, _ELEMENT),
    st.tuples(st.sampled_from(["LPOP", "RPOP"]), _KEY),
    st.tuples(st.sampled_from(["LPOP", "RPOP"]), _KEY, st.integers(-1, 3)),
    st.tuples(st.just("LLEN"), _KEY),
    st.tuples(st.sampled_from(["LRANGE", "LTRIM"]), _KEY, _INDEX, _INDEX),
    st.tuples(st.just("LINDEX"), _KEY, _INDEX),
    st.tuples(st.just("LSET"), _KEY, _INDEX, _ELEMENT),
    st.tuples(st.just("LINSERT"), _KEY, st.sampled_from(["BEFORE", "AFTER"]), _ELEMENT, _ELEMENT),
    st.tuples(st.just("LREM"), _KEY, _INDEX, _ELEMENT),
    st.tuples(st.just("LPOS"), _KEY, _ELEMENT, st.sampled_from(["RANK", "COUNT", "MAXLEN"]), _INDEX),
    st.tuples(st.just("LMOVE"), _KEY, _KEY, _END, _END),
    st.tuples(st.just("RPOPLPUSH"), _KEY, _KEY),
    st.tuples(st.just("LMPOP"), st.just(2), _KEY, _KEY, _END, st.just("COUNT"), st.integers(1, 3)),
    st.tuples(st.sampled_from(["BLPOP", "BRPOP"]), _KEY, _KEY, st.just("0.01")),
    st.tuples(st.just("BLMOVE"), _KEY, _KEY, _END, _END, st.just("0.01")),
    st.tuples(st.just("SET"), _KEY, _ELEMENT),
    st.tuples(st.just("DEL"), _KEY),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(commands=st.lists(_COMMAND, min_size=1, max_size=20))
def test_random_list_command_sequences_match_redis(pair, commands):
    for client in pair:
        client.flushall()
    for args in commands:
        assert_same(pair, *args)
    for key in ("a", "b", "s"):
        assert_same(pair, "TYPE", key)
