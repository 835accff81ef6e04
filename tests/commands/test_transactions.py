"""MULTI, EXEC, DISCARD, WATCH and UNWATCH against a real redis-server.

Raw request batches are sent to both servers and the reply bytes compared (RESP2 and RESP3); WATCH
races use two real connections per server; redis-py's ``pipeline(transaction=True)`` and
``Redis.transaction`` helpers run against both.
"""

from __future__ import annotations

import re
import time

import pytest
import redis
from conftest import raw_exchange, raw_session, wait_until, wall_ms

HELLO3 = b"HELLO 3\r\n"


def without_id(replies: bytes) -> bytes:
    return re.sub(rb"\$2\r\nid\r\n:\d+", b"$2\r\nid\r\n:N", replies)  # HELLO's client id


def exchange(port: int, payload: bytes) -> bytes:
    """Send raw bytes; return every reply (HELLO's client id masked), up to QUIT's, which ends the read."""
    return without_id(raw_exchange(port, payload))


@pytest.fixture
def ports(pair, redis_server, leakdb_server) -> tuple[int, int]:
    return redis_server.port, leakdb_server.port


def assert_same_bytes(ports: tuple[int, int], payload: bytes) -> bytes:
    """The same payload (and a QUIT) to both servers: the whole reply streams must be equal."""
    expected = without_id(raw_session(ports[0], payload))
    actual = without_id(raw_session(ports[1], payload))
    assert actual == expected, f"{payload!r}:\n redis  {expected!r}\n leakdb {actual!r}"
    return actual


def lines(*commands: str) -> bytes:
    return b"".join(command.encode() + b"\r\n" for command in commands)


# -- reply bytes, RESP2 and RESP3 ------------------------------------------------------------------

BATCHES = [
    ("MULTI", "SET a 1", "INCR a", "GET a", "EXEC"),
    ("MULTI", "EXEC"),
    ("MULTI", "MULTI", "SET a 1", "EXEC"),
    ("MULTI", "WATCH a", "SET a 1", "EXEC"),
    ("EXEC",),
    ("DISCARD",),
    ("MULTI", "SET a 1", "DISCARD", "GET a", "EXEC"),
    ("MULTI", "NOSUCH x", "SET a 1", "EXEC", "GET a"),
    ("MULTI", "GET", "SET a 1", "EXEC", "EXEC"),
    ("MULTI", "CONFIG NOSUCH", "EXEC"),
    ("MULTI", "CONFIG GET", "EXEC"),
    ("MULTI", "CONFIG GET maxclients", "CLIENT ID x", "EXEC"),
    ("MULTI", "SHUTDOWN", "EXEC"),
    ("MULTI", "SAVE", "EXEC"),
    ("MULTI", "EXEC x", "EXEC"),
    ("MULTI", "DISCARD x", "EXEC"),
    ("SET s x", "MULTI", "INCR s", "SET t 1", "LPUSH s 1", "GET t", "EXEC"),
    ("MULTI", "SET a 1", "RESET", "EXEC", "GET a"),
    ("MULTI", "HELLO 3", "PING", "EXEC", "PING"),
    ("MULTI", "SELECT 3", "SET a 3", "EXEC", "GET a", "SELECT 0", "GET a"),
    ("MULTI", "BLPOP nolist 0", "EXEC"),
    ("MULTI", "UNWATCH", "EXEC"),
    ("WATCH a", "SET a 1", "MULTI", "GET a", "EXEC", "UNWATCH"),
    ("WATCH a b", "MULTI", "SET a 2", "EXEC", "GET a"),
    ("WATCH a", "UNWATCH", "SET a 1", "MULTI", "GET a", "EXEC"),
    ("WATCH a", "SET a 1", "UNWATCH", "MULTI", "GET a", "EXEC"),
    ("WATCH a", "SET a 1", "WATCH b", "MULTI", "PING", "EXEC"),
    ("WATCH a", "MULTI", "DISCARD", "SET a 1", "MULTI", "PING", "EXEC"),
    ("WATCH a", "SET a 1", "RESET", "MULTI", "PING", "EXEC"),
    ("WATCH", "UNWATCH x", "MULTI x"),
    ("MULTI", "SUBSCRIBE c1 c2", "PING", "EXEC", "PING", "GET a"),
    ("MULTI", "PING x y", "EXEC"),
    ("MULTI", "SET a 1", "QUIT"),
    ("CLIENT SETNAME t", "MULTI", "CLIENT GETNAME", "EXEC"),
]


@pytest.mark.parametrize("hello", [b"", HELLO3], ids=["resp2", "resp3"])
@pytest.mark.parametrize("batch", BATCHES, ids=[" / ".join(b) for b in BATCHES])
def test_reply_bytes_match_redis(ports, batch, hello):
    assert_same_bytes(ports, hello + lines(*batch))


def test_commands_that_wait_inside_exec(ports):
    # DEBUG SLEEP waits in a greenlet (the oracle refuses DEBUG): the rest of EXEC follows it there.
    payload = lines(
        "MULTI", "SET a 1", "DEBUG SLEEP 0", "GET a", "DEBUG SLEEP 0.01", "INCR a", "EXEC", "GET a"
    )
    reply = exchange(ports[1], payload)
    assert (
        reply == b"+OK\r\n" + b"+QUEUED\r\n" * 5 + b"*5\r\n+OK\r\n+OK\r\n$1\r\n1\r\n+OK\r\n:2\r\n$1\r\n2\r\n"
    )


def test_subscribe_inside_exec_then_hello_2(ports):
    assert_same_bytes(ports, HELLO3 + lines("MULTI", "SUBSCRIBE c", "HELLO 2", "EXEC", "PING", "GET a"))


def session_fields(port: int, dirty: bool) -> list[bytes]:
    me, other = clients(port)
    my_id = me.client_id()
    me.execute_command("WATCH", "a")
    if dirty:
        me.execute_command("SET", "a", "1")
    for command in (("MULTI",), ("GET", "a"), ("SET", "b", "2")):
        me.execute_command(*command)
    listed = other.execute_command("CLIENT", "LIST", "ID", my_id)
    me.execute_command("DISCARD")
    idle = other.execute_command("CLIENT", "LIST", "ID", my_id)
    text = (listed + idle).encode() if isinstance(listed, str) else listed + idle
    return re.findall(rb"(?:flags|multi|sub|psub)=\S*", text)


@pytest.mark.parametrize("dirty", [False, True])
def test_client_list_shows_the_transaction(pair, redis_server, leakdb_server, dirty):
    expected = session_fields(redis_server.port, dirty)
    assert session_fields(leakdb_server.port, dirty) == expected
    # A transaction that can no longer run keeps nothing queued.
    assert expected[:5] == ([b"flags=xd"] if dirty else [b"flags=x"]) + expected[1:4] + [
        b"multi=0" if dirty else b"multi=2"
    ]


# -- WATCH against other clients ---------------------------------------------------------------------


def clients(port: int, protocol: int = 2) -> tuple[redis.Redis, redis.Redis]:
    make = lambda: redis.Redis(port=port, protocol=protocol, single_connection_client=True)  # noqa: E731
    return make(), make()


def watched_exec(me: redis.Redis, keys: list[str], commands: list[tuple]) -> object:
    """WATCH keys, MULTI, queue `commands`, EXEC: the raw EXEC reply (None when a key changed)."""
    if keys:
        me.execute_command("WATCH", *keys)
    me.execute_command("MULTI")
    for command in commands:
        me.execute_command(*command)
    return me.execute_command("EXEC")


def race(me, other, db_of_me: int = 0) -> dict:
    """Each scenario: a setup, a change between WATCH and EXEC, and the EXEC reply."""
    outcome = {}

    def run(name, setup, keys, change, select=0):
        other.execute_command("FLUSHALL")
        for command in setup:
            other.execute_command(*command)
        me.execute_command("SELECT", select)
        me.execute_command("WATCH", *keys)
        for command in change:
            other.execute_command(*command)
        me.execute_command("MULTI")
        me.execute_command("SET", "done", name)
        outcome[name] = me.execute_command("EXEC")
        me.execute_command("SELECT", 0)

    run("other-writes", [("SET", "k", "1")], ["k"], [("SET", "k", "2")])
    run("untouched", [("SET", "k", "1")], ["k"], [("SET", "other", "2")])
    run("other-creates", [], ["k"], [("SET", "k", "1")])
    run("other-deletes", [("SET", "k", "1")], ["k"], [("DEL", "k")])
    run("delete-missing", [], ["k"], [("DEL", "k")])
    run("other-expires", [("SET", "k", "1")], ["k"], [("EXPIRE", "k", "100")])
    run("other-persists", [("SET", "k", "1", "EX", "100")], ["k"], [("PERSIST", "k")])
    run("persist-without-ttl", [("SET", "k", "1")], ["k"], [("PERSIST", "k")])
    run("flushall-existing", [("SET", "k", "1")], ["k"], [("FLUSHALL",)])
    run("flushall-missing", [("SET", "x", "1")], ["k"], [("FLUSHALL",)])
    run("flushdb-existing", [("SET", "k", "1")], ["k"], [("FLUSHDB",)])
    run("flushdb-other-db", [("SET", "k", "1")], ["k"], [("SELECT", 1), ("FLUSHDB",), ("SELECT", 0)])
    run("swapdb-brings-key", [("SELECT", 1), ("SET", "k", "1"), ("SELECT", 0)], ["k"], [("SWAPDB", 0, 1)])
    run("swapdb-takes-key", [("SET", "k", "1")], ["k"], [("SWAPDB", 0, 1)])
    run("swapdb-neither", [("SET", "x", "1")], ["k"], [("SWAPDB", 0, 1)])
    run("swapdb-other-dbs", [("SET", "k", "1")], ["k"], [("SWAPDB", 2, 3)])
    run("same-key-other-db", [("SET", "k", "1")], ["k"], [("SELECT", 1), ("SET", "k", "2"), ("SELECT", 0)])
    run("watch-in-db-1", [], ["k"], [("SELECT", 1), ("SET", "k", "2"), ("SELECT", 0)], select=1)
    run("hash-field", [("HSET", "h", "f", "1")], ["h"], [("HSET", "h", "g", "2")])
    run("append", [("SET", "k", "a")], ["k"], [("APPEND", "k", "b")])
    run("incr", [("SET", "k", "1")], ["k"], [("INCR", "k")])
    run("rename-away", [("SET", "k", "1")], ["k"], [("RENAME", "k", "j")])
    run("rename-onto", [("SET", "j", "1")], ["k"], [("RENAME", "j", "k")])
    return outcome


@pytest.mark.parametrize("protocol", [2, 3])
def test_watch_races_match_redis(pair, redis_server, leakdb_server, protocol):
    expected = race(*clients(redis_server.port, protocol))
    actual = race(*clients(leakdb_server.port, protocol))
    assert actual == expected
    assert actual["other-writes"] is None and actual["untouched"] == [b"OK"]


def watch_before_expiry(me: redis.Redis, other: redis.Redis, key: str) -> int:
    """`other` SETs `key` with a TTL and `me` WATCHes it before it expires (a TTL too short for a slow
    machine is retried, four times longer); returns a time (ms) by which the key has expired."""
    ttl = 100
    while True:
        me.execute_command("UNWATCH")
        sent = wall_ms()
        other.execute_command("SET", key, "1", "PX", ttl)
        set_by = wall_ms()
        me.execute_command("WATCH", key)
        if wall_ms() < sent + ttl:  # WATCH answered before the earliest deadline the SET can have set
            return set_by + ttl
        ttl *= 4


def expired_keys(client: redis.Redis) -> int:
    return client.info("stats")["expired_keys"]


def expiry_outcomes(port: int) -> dict:
    me, other = clients(port)
    outcome = {}
    other.execute_command("FLUSHALL")
    # A key that expires between WATCH and EXEC counts as modified (Redis 7.0), deleted or not.
    # Deleted by active expiry first (the only volatile key, so the counter tells it is gone):
    before = expired_keys(other)
    watch_before_expiry(me, other, "k3")
    wait_until(lambda: expired_keys(other) > before, "active expiry to delete the key")
    outcome["actively-expired"] = watched_exec(me, [], [("PING",)])
    # Not touched since it expired:
    expired_by = watch_before_expiry(me, other, "k")
    wait_until(lambda: wall_ms() > expired_by, "the key's deadline")
    outcome["expires-after-watch"] = watched_exec(me, [], [("PING",)])
    me.execute_command("WATCH", "k2")
    other.execute_command("SET", "k2", "1", "PX", "60")  # created after WATCH: dirty anyway
    outcome["created-with-ttl"] = watched_exec(me, [], [("PING",)])
    # Keys that expired before WATCH (a sleep lasts at least as long as it is asked to):
    other.execute_command("SET", "k4", "1", "PX", "30")
    time.sleep(0.06)
    outcome["already-expired"] = watched_exec(me, ["k4"], [("PING",)])
    other.execute_command("SET", "k5", "1", "PX", "30")
    time.sleep(0.06)
    me.execute_command("WATCH", "k5")
    other.execute_command("GET", "k5")  # the expired key is deleted now: no change for the watcher
    outcome["already-expired-then-deleted"] = watched_exec(me, [], [("PING",)])
    other.execute_command("SET", "k6", "1", "PX", "30")
    time.sleep(0.06)
    me.execute_command("WATCH", "k6")
    other.execute_command("SET", "k6", "2")
    outcome["already-expired-then-set"] = watched_exec(me, [], [("PING",)])
    return outcome


def test_watch_and_expiry_match_redis(pair, redis_server, leakdb_server):
    expected = expiry_outcomes(redis_server.port)
    assert expiry_outcomes(leakdb_server.port) == expected
    assert expected["actively-expired"] is None and expected["already-expired"] == [b"PONG"]


def test_watch_by_own_write_and_null_shapes(ports):
    for hello in (b"", HELLO3):
        assert_same_bytes(ports, hello + lines("WATCH k", "SET k 1", "MULTI", "PING", "EXEC"))


def test_watch_survives_many_clients_and_close(pair, leakdb_server):
    port = leakdb_server.port
    watchers = [redis.Redis(port=port, single_connection_client=True) for _ in range(5)]
    for watcher in watchers:
        watcher.execute_command("WATCH", "shared")
    watchers[0].close()  # a closing client leaves the registry
    writer = redis.Redis(port=port)
    writer.set("shared", "x")
    for watcher in watchers[1:]:
        watcher.execute_command("MULTI")
        assert watcher.execute_command("EXEC") is None
        watcher.close()
    again = redis.Redis(port=port, single_connection_client=True)
    assert watched_exec(again, ["shared"], [("GET", "shared")]) == [b"x"]


# -- redis-py helpers --------------------------------------------------------------------------------


def pipeline_results(client: redis.Redis) -> list:
    client.flushall()
    with client.pipeline(transaction=True) as pipe:
        pipe.set("a", "1").incr("a").lpush("l", "x", "y").lrange("l", 0, -1).get("missing")
        pipe.hset("h", mapping={"f": "v"}).hgetall("h").expire("a", 100).ttl("a")
        first = pipe.execute()
    with client.pipeline(transaction=True) as pipe:
        pipe.set("s", "x").incr("s").get("s")
        second = pipe.execute(raise_on_error=False)
    return first + [type(r).__name__ if isinstance(r, Exception) else r for r in second]


@pytest.mark.parametrize("protocol", [2, 3])
def test_pipeline_transaction_matches_redis(pair, redis_server, leakdb_server, protocol):
    expected = pipeline_results(redis.Redis(port=redis_server.port, protocol=protocol))
    assert pipeline_results(redis.Redis(port=leakdb_server.port, protocol=protocol)) == expected


def counter_with_interference(port: int, protocol: int) -> tuple[object, int]:
    client = redis.Redis(port=port, protocol=protocol)
    meddler = redis.Redis(port=port, protocol=protocol)
    client.flushall()
    client.set("counter", 10)
    calls = []

    def increment(pipe: redis.client.Pipeline) -> None:
        value = int(pipe.get("counter"))
        calls.append(value)
        if len(calls) == 1:
            meddler.incr("counter", 5)  # the first attempt must be retried
        pipe.multi()
        pipe.set("counter", value * 2)

    result = client.transaction(increment, "counter")
    return result, int(client.get("counter")), calls


@pytest.mark.parametrize("protocol", [2, 3])
def test_transaction_helper_retries_like_redis(pair, redis_server, leakdb_server, protocol):
    expected = counter_with_interference(redis_server.port, protocol)
    assert counter_with_interference(leakdb_server.port, protocol) == expected
    assert expected[1:] == (30, [10, 15])


def test_pipeline_watch_error(r):
    other = redis.Redis(port=r.connection_pool.connection_kwargs["port"])
    with r.pipeline() as pipe:
        pipe.watch("w")
        other.set("w", "changed")
        pipe.multi()
        pipe.set("w", "mine")
        with pytest.raises(redis.WatchError):
            pipe.execute()
    assert r.get("w") == b"changed"
