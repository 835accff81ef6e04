"""BZPOPMIN, BZPOPMAX and BZMPOP, and how blocked clients show in INFO and CLIENT LIST.

Every scenario runs against redis-server and leakdb-server and must give the same replies: argument
errors and immediate pops in RESP2 and RESP3, wake-ups by every kind of write that can create a sorted
set, FIFO order among waiters, timeouts, transactions, and the ``b`` flag / ``cmd=`` / blocked_clients
while clients wait.  Blocked clients run in threads on their own connections (see test_blocking).
"""

from __future__ import annotations

import re
import socket
import time

import pytest
import redis
from conftest import HANG_SECONDS, raw_exchange, reply_of, wait_until
from test_blocking import Blocked, blocked_count, on_both


@pytest.fixture
def ports(redis_server, leakdb_server):
    """(redis port, leakdb port) on flushed servers."""
    for server in (redis_server, leakdb_server):
        with server.client() as client:
            client.flushall()
    return redis_server.port, leakdb_server.port


# -- without blocking: errors and immediate pops ---------------------------------------------------

IMMEDIATE = [
    ("BZPOPMIN", "z", 0),
    ("BZPOPMAX", "z", "0.5"),
    ("BZPOPMIN", "nokey", "z", 0),
    ("BZPOPMAX", "z", "z", 0),
    ("bzpopmin", "z", "0x10"),
    ("BZMPOP", 0, 1, "z", "MIN"),
    ("BZMPOP", 0, 2, "nokey", "z", "max", "count", 2),
    ("BZMPOP", 0, 1, "z", "MIN", "COUNT", 100),
    ("BZMPOP", "1e3", 1, "z", "MAX"),
    # errors, in the order Redis checks them
    ("BZPOPMIN", "z"),
    ("BZPOPMIN", "z", -1),
    ("BZPOPMIN", "z", "abc"),
    ("BZPOPMIN", "z", "inf"),
    ("BZPOPMIN", "z", "nan"),
    ("BZPOPMIN", "s", "z", "abc"),
    ("BZPOPMIN", "nokey", "s", "z", 0),
    ("BZPOPMAX", "z", "s", 0),
    ("BZMPOP", 0, 1, "z"),
    ("BZMPOP", "abc", 1, "s", "MIN"),
    ("BZMPOP", "abc", 0, "s", "MIN"),
    ("BZMPOP", "abc", -1, "s", "MIN"),
    ("BZMPOP", "abc", "x", "s", "MIN"),
    ("BZMPOP", "abc", 3, "s", "MIN"),
    ("BZMPOP", "abc", 1, "s", "LEFT"),
    ("BZMPOP", "abc", 1, "s", "MIN", "COUNT", 0),
    ("BZMPOP", "abc", 1, "s", "MIN", "COUNT", "x"),
    ("BZMPOP", "abc", 1, "s", "MIN", "COUNT"),
    ("BZMPOP", "abc", 1, "s", "MIN", "COUNT", 1, "COUNT", 1),
    ("BZMPOP", "abc", 1, "s", "MIN", "FOO"),
    ("BZMPOP", -1, 1, "s", "MIN"),
    ("BZMPOP", 0, 1, "s", "MIN"),
    ("BZMPOP", 0, 2, "nokey", "s", "MIN"),
    ("BZMPOP", 0, 9223372036854775807, "s", "MIN"),
    ("BZMPOP", 0, 9223372036854775808, "s", "MIN"),
]


@pytest.mark.parametrize("protocol", [2, 3])
def test_immediate_pops_and_errors_match_redis(redis_server, leakdb_server, protocol):
    replies = []
    for server in (redis_server, leakdb_server):
        with server.client(protocol=protocol) as client:
            client.flushall()
            client.set("s", "string")
            outcome = []
            for args in IMMEDIATE:
                client.zadd("z", {"a": 1, "b": 2.5, "c": 3, "d": "-inf", "e": 1e300})
                outcome.append((args, reply_of(client, *args)))
            outcome.append(("left", client.zrange("z", 0, -1, withscores=True)))
            replies.append(outcome)
    for expected, actual in zip(*replies, strict=True):
        assert actual == expected


def _raw_replies(port: int, request: bytes) -> bytes:
    """Send raw commands (the last one PING) on a fresh connection and return the raw replies."""
    received = raw_exchange(port, request)
    return re.sub(rb"\$2\r\nid\r\n:\d+\r\n", b"", received)  # HELLO's client id differs


def test_reply_bytes_in_resp2_and_resp3(ports):
    """RESP2 sends the score as a bulk string, RESP3 as a double; BZMPOP nests [member, score]."""
    request = (
        b"ZADD z 1.5 a 2 b 3 c 4 d 5 e\r\nBZPOPMIN z 0\r\nBZMPOP 0 1 z MAX COUNT 2\r\n"
        b"HELLO 3\r\nBZPOPMAX z 0\r\nBZMPOP 0 2 x z MIN\r\nBZPOPMIN z 0.01\r\nBZMPOP 0.01 1 z MIN\r\n"
        b"HELLO 2\r\nBZPOPMIN z 0.01\r\nBZMPOP 0.01 1 z MIN\r\nPING\r\n"
    )
    results = [_raw_replies(port, request) for port in ports]
    assert results[1] == results[0]
    assert b"*3\r\n$1\r\nz\r\n$1\r\na\r\n$3\r\n1.5\r\n" in results[1]  # RESP2: a bulk score
    assert b"*3\r\n$1\r\nz\r\n$1\r\nc\r\n,3\r\n" in results[1]  # RESP3: a double
    assert results[1].endswith(b"*-1\r\n*-1\r\n+PONG\r\n")


def test_inside_multi_they_do_not_block(ports):
    def scenario(port, client):
        client.zadd("z", {"a": 1})
        pipe = client.pipeline(transaction=True)
        pipe.execute_command("BZPOPMIN", "none", 0)
        pipe.execute_command("BZMPOP", 0, 2, "none", "z", "MAX", "COUNT", 5)
        pipe.execute_command("BZPOPMAX", "z", 0)
        pipe.execute_command("BZMPOP", 0, 1, "z", "MIN")
        return pipe.execute()

    assert on_both(ports, scenario)[1] == [b"z", [[b"a", b"1"]]]


# -- wake-ups ----------------------------------------------------------------------------------------


def test_every_write_that_creates_a_sorted_set_wakes_a_waiter(ports):
    writes = [
        ("ZADD", "t0", 5, "m"),
        ("ZINCRBY", "t1", 2, "m"),
        ("ZUNIONSTORE", "t2", 2, "src", "src2"),
        ("ZINTERSTORE", "t3", 2, "src", "src2"),
        ("ZDIFFSTORE", "t4", 1, "src"),
        ("ZRANGESTORE", "t5", "src", 0, 0),
        ("COPY", "src", "t6"),
        ("RENAME", "src2", "t7"),
    ]
    targets = [f"t{i}" for i in range(len(writes))]

    def scenario(port, client):
        client.zadd("src", {"x": 1, "y": 2})
        client.zadd("src2", {"x": 10})
        waiters = [Blocked(port, "BZPOPMIN", target, 0, protocol=2) for target in targets]
        for write in writes:
            client.execute_command(*write)
        return [w.result() for w in waiters], sorted(client.keys())

    replies, keys = on_both(ports, scenario)
    assert replies[0] == (b"t0", b"m", 5.0) and replies[7] == (b"t7", b"x", 10.0)
    assert keys == [b"src", b"t2", b"t4", b"t6"]


def test_waiters_are_served_first_come_first_served(ports):
    def scenario(port, client):
        waiters = [
            Blocked(port, "BZPOPMIN", "z", 0),
            Blocked(port, "BZPOPMAX", "z", 0),
            Blocked(port, "BZMPOP", 0, 1, "z", "MIN", "COUNT", 2),
            Blocked(port, "BZPOPMIN", "z", 0),
        ]
        added = client.zadd("z", {"a": 1, "b": 2, "c": 3, "d": 4})
        still_waiting = [w.blocked for w in waiters]
        client.zadd("z", {"e": 5, "f": 6})
        return added, still_waiting, [w.result() for w in waiters], client.zrange("z", 0, -1)

    outcome = on_both(ports, scenario)
    assert outcome[1] == [False, False, False, True]
    assert outcome[2][:2] == [[b"z", b"a", 1.0], [b"z", b"d", 4.0]]
    assert outcome[3] == [b"f"]


def test_waiter_on_several_keys_takes_the_first_that_gets_a_set(ports):
    def scenario(port, client):
        single = Blocked(port, "BZPOPMAX", "k1", "k2", "k3", "1000")
        multi = Blocked(port, "BZMPOP", "1000", 3, "k1", "k2", "k3", "MAX", "COUNT", 10)
        transaction = client.pipeline(transaction=True)
        transaction.zadd("k3", {"c": 3})
        transaction.zadd("k2", {"b": 2, "bb": 22})
        transaction.execute()
        return single.result(), multi.result(), client.keys()

    assert on_both(ports, scenario)[0] == [b"k3", b"c", 3.0]


def test_a_key_of_another_type_or_emptied_in_multi_keeps_waiting(ports):
    def scenario(port, client):
        zset_waiter = Blocked(port, "BZPOPMIN", "q", 0)
        list_waiter = Blocked(port, "BLPOP", "q", 0)
        client.rpush("q", "element")  # serves BLPOP only
        emptied = client.pipeline(transaction=True)
        emptied.zadd("q", {"gone": 1})
        emptied.zrem("q", "gone")
        emptied.execute()
        still_waiting = zset_waiter.blocked
        client.zadd("q", {"m": 1})
        return list_waiter.result(), still_waiting, zset_waiter.result()

    assert on_both(ports, scenario) == ([b"q", b"element"], True, [b"q", b"m", 1.0])


@pytest.mark.parametrize("protocol", [2, 3])
def test_woken_reply_bytes_match_redis(ports, protocol):
    replies = []
    for port in ports:
        sock = socket.create_connection(("127.0.0.1", port), timeout=HANG_SECONDS)
        hello = b"HELLO 3\r\n" if protocol == 3 else b""
        sock.sendall(hello + b"BZPOPMIN z 0\r\nBZMPOP 0 2 y z MAX COUNT 5\r\nPING\r\n")
        wait_until(lambda: blocked_count(port) == 1, "BZPOPMIN to block")  # noqa: B023
        with redis.Redis(port=port) as client:
            client.zadd("z", {"a": 1.5})  # serves BZPOPMIN; BZMPOP blocks next
            wait_until(lambda: blocked_count(port) == 1, "BZMPOP to block")  # noqa: B023
            client.zadd("z", {"b": 2, "c": "inf"})
        received = b""
        while not received.endswith(b"+PONG\r\n"):
            received += sock.recv(65536)
        sock.close()
        replies.append(re.sub(rb"\$2\r\nid\r\n:\d+\r\n", b"", received))
    assert replies[1] == replies[0]


# -- timeouts --------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [2, 3])
def test_timeouts_reply_a_null_array(ports, protocol):
    for port in ports:
        started = time.monotonic()
        waiters = [
            Blocked(port, "BZPOPMIN", "none", "0.3", protocol=protocol),
            Blocked(port, "BZPOPMAX", "none", "other", "0.3", protocol=protocol),
            Blocked(port, "BZMPOP", "0.3", 1, "none", "MIN", protocol=protocol),
        ]
        assert [w.result() for w in waiters] == [None, None, None]
        assert time.monotonic() - started >= 0.3
    raw = [
        _raw_replies(port, b"HELLO 3\r\nBZPOPMIN none 0.05\r\nBZMPOP 0.05 1 none MAX\r\nPING\r\n")
        for port in ports
    ]
    assert raw[1] == raw[0] and raw[1].endswith(b"_\r\n_\r\n+PONG\r\n")


# -- INFO and CLIENT LIST --------------------------------------------------------------------------


def _flags_and_commands(client: redis.Redis, names: list[str]) -> list[tuple[str, str]]:
    """(flags, cmd) of the caller's own connection and of the connections named `names`."""
    own = str(client.client_id())
    listing = client.execute_command("CLIENT", "LIST").decode()
    fields = [dict(part.split("=", 1) for part in line.split()) for line in listing.splitlines()]
    return sorted(
        (line["flags"], line["cmd"]) for line in fields if line["id"] == own or line["name"] in names
    )


def _blocked_counts(client: redis.Redis) -> tuple[int, int]:
    section = client.info("clients")
    return section["blocked_clients"], section["clients_in_timeout_table"]


def test_blocked_clients_in_info_and_client_list(ports):
    def scenario(port, client):
        before = _flags_and_commands(client, []), _blocked_counts(client)
        waiters = [
            Blocked(port, "BLPOP", "q", "100"),
            Blocked(port, "bzpopmin", "z", 0),
            Blocked(port, "BZMPOP", "100", 1, "z2", "MIN"),
            Blocked(port, "BLMOVE", "q2", "dst", "LEFT", "RIGHT", 0),
        ]
        watcher = socket.create_connection(("127.0.0.1", port), timeout=HANG_SECONDS)
        watcher.sendall(b"CLIENT SETNAME watcher\r\nWATCH w\r\nBZPOPMAX z3 0\r\n")
        wait_until(lambda: _blocked_counts(client)[0] == 5, "the watcher to block")
        client.set("w", "touched")
        names = ["watcher", *(waiter.name for waiter in waiters)]
        blocked = _flags_and_commands(client, names), _blocked_counts(client)
        client.rpush("q", "a")
        client.zadd("z", {"m": 1})
        client.zadd("z2", {"m": 1})
        client.rpush("q2", "b")
        results = [w.result() for w in waiters]
        client.zadd("z3", {"m": 1})
        watcher.recv(1024)
        watcher.close()
        return before, blocked, results, _blocked_counts(client)

    before, blocked, _, after = on_both(ports, scenario)
    assert before[1] == (0, 0) and blocked[1] == (5, 2) and after == (0, 0)
    assert ("bd", "bzpopmax") in blocked[0] and ("b", "blpop") in blocked[0]


def test_a_disconnected_waiter_stops_counting_and_takes_nothing(ports):
    def scenario(port, client):
        gone = socket.create_connection(("127.0.0.1", port), timeout=HANG_SECONDS)
        gone.sendall(b"BZPOPMIN z 0\r\n")
        wait_until(lambda: _blocked_counts(client)[0] == 1, "the first waiter to block")
        live = Blocked(port, "BZPOPMIN", "z", 0)
        counted = _blocked_counts(client)
        gone.close()
        wait_until(lambda: _blocked_counts(client)[0] == 1, "the server to see the first waiter go")
        left = _blocked_counts(client)
        client.zadd("z", {"a": 1, "b": 2})
        return counted, left, live.result(), client.zrange("z", 0, -1)

    assert on_both(ports, scenario) == ((2, 0), (1, 0), [b"z", b"a", 1.0], [b"b"])
