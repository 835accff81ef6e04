"""Keyspace notifications compared with redis-server: the same workload on both servers, and the
messages a PSUBSCRIBE '__key*__:*' listener gets, compared one by one.

Expiry is waited for (the key is polled until it is gone, which expires it lazily if the active cycle
has not), so every "expired" message comes at the same place in both streams; no test depends on
how long anything takes.
"""

from __future__ import annotations

import pytest
import redis

from tests.conftest import HANG_SECONDS, reply_of, wait_until

END = b"__keydone__:end"  # published after a workload: the listener reads up to it

# One workload per family; ("gone", key) waits until the key has expired.
STRINGS = [
    ("set", "s", "1"),
    ("set", "s", "2", "ex", "100"),
    ("set", "s", "3", "keepttl"),
    ("set", "s", "4", "nx"),
    ("set", "s", "5", "xx", "get"),
    ("setnx", "s2", "x"),
    ("setex", "s3", "100", "v"),
    ("psetex", "s4", "100000", "v"),
    ("getset", "s", "6"),
    ("mset", "m1", "1", "m2", "2"),
    ("msetnx", "m3", "1", "m4", "2"),
    ("incr", "n"),
    ("incrby", "n", "5"),
    ("decr", "n"),
    ("decrby", "n", "2"),
    ("incrbyfloat", "f", "1.5"),
    ("append", "a", "x"),
    ("append", "a", "y"),
    ("setrange", "r", "2", "ab"),
    ("setrange", "r", "0", "z"),
    ("getex", "s", "ex", "50"),
    ("getex", "s", "persist"),
    ("getdel", "s"),
    ("setbit", "b", "7", "1"),
    ("setbit", "b", "7", "1"),
    ("setbit", "b", "100", "0"),
    ("bitfield", "bf", "set", "u8", "0", "255", "incrby", "u8", "8", "1"),
    ("bitop", "and", "bo", "b", "bf"),
    ("bitop", "or", "bo", "nothing", "nothing2"),
    ("pfadd", "h", "a", "b"),
    ("pfadd", "h", "a"),
    ("pfadd", "h2", "c"),
    ("pfmerge", "h3", "h", "h2"),
    ("pfcount", "h"),
]
KEYS = [
    ("set", "k", "1"),
    ("set", "k2", "2"),
    ("expire", "k", "100"),
    ("pexpire", "k", "200000", "gt"),
    ("expireat", "k", "99999999999"),
    ("persist", "k"),
    ("persist", "k"),
    ("rename", "k", "k3"),
    ("rename", "k3", "k2"),
    ("renamenx", "k2", "k4"),
    ("renamenx", "k4", "k4"),
    ("copy", "k4", "k5"),
    ("copy", "k4", "k5", "replace"),
    ("copy", "k4", "k6", "db", "1"),
    ("move", "k5", "2"),
    ("del", "k4", "k5", "missing"),
    ("unlink", "k6"),
    ("set", "gone", "x"),
    ("expire", "gone", "0"),
    ("set", "gone2", "x"),
    ("pexpireat", "gone2", "1"),
    ("set", "late", "x"),
    ("pexpire", "late", "1"),
    ("gone", "late"),
    ("set", "late2", "x", "px", "1"),
    ("gone", "late2"),
    ("set", "past", "x", "pxat", "1"),
    ("gone", "past"),
    ("set", "d", "payload"),
    ("restore-of", "d", "d2"),
    ("touch", "d"),
    ("rpush", "sortme", "3", "1", "2"),
    ("sort", "sortme", "store", "sorted"),
    ("sort", "nothing", "store", "sorted"),
    ("swapdb", "0", "1"),
    ("swapdb", "0", "1"),
    ("flushdb",),
]
LISTS = [
    ("lpush", "l", "a", "b"),
    ("rpush", "l", "c"),
    ("lpushx", "l", "d"),
    ("rpushx", "nol", "d"),
    ("linsert", "l", "before", "a", "x"),
    ("linsert", "l", "before", "nope", "x"),
    ("lset", "l", "0", "y"),
    ("lrem", "l", "0", "x"),
    ("lrem", "l", "0", "nope"),
    ("ltrim", "l", "0", "-1"),
    ("ltrim", "l", "0", "2"),
    ("lpop", "l"),
    ("rpop", "l", "1"),
    ("lmove", "l", "l2", "left", "right"),
    ("rpoplpush", "l2", "l2"),
    ("lmove", "l2", "l3", "right", "left"),
    ("rpush", "l4", "1", "2", "3"),
    ("lmpop", "2", "none", "l4", "right", "count", "2"),
    ("blpop", "l4", "0"),
    ("rpush", "l5", "1"),
    ("brpop", "l5", "0"),
    ("rpush", "l6", "1", "2"),
    ("ltrim", "l6", "5", "10"),
    ("rpush", "l7", "1"),
    ("blmove", "l7", "l8", "left", "left", "0"),
    ("rpush", "l9", "x"),
    ("lrem", "l9", "1", "x"),
]
HASHES = [
    ("hset", "h", "a", "1", "b", "2"),
    ("hset", "h", "a", "1"),
    ("hmset", "h", "c", "3"),
    ("hsetnx", "h", "c", "4"),
    ("hsetnx", "h", "d", "4"),
    ("hsetnx", "h2", "d", "4"),
    ("hincrby", "h", "n", "2"),
    ("hincrbyfloat", "h", "f", "1.5"),
    ("hincrby", "h3", "n", "1"),
    ("hdel", "h", "a", "zz"),
    ("hdel", "h", "zz"),
    ("hdel", "h2", "d"),
]
SETS = [
    ("sadd", "s", "a", "b", "c"),
    ("sadd", "s", "a"),
    ("srem", "s", "a", "zz"),
    ("srem", "s", "zz"),
    ("smove", "s", "s2", "b"),
    ("smove", "s", "s2", "zz"),
    ("sadd", "s2", "c"),
    ("smove", "s", "s2", "c"),
    ("sadd", "t", "1"),
    ("spop", "t"),
    ("sadd", "t", "1"),
    ("spop", "t", "1"),
    ("sadd", "t", "2"),
    ("spop", "t", "5"),
    ("spop", "t", "0"),
    ("sadd", "u", "1", "2"),
    ("sadd", "v", "2", "3"),
    ("sinterstore", "w", "u", "v"),
    ("sunionstore", "w", "u", "v"),
    ("sdiffstore", "w", "u", "v"),
    ("sinterstore", "w", "u", "none"),
    ("sinterstore", "w", "u", "none"),
]
ZSETS = [
    ("zadd", "z", "1", "a"),
    ("zadd", "z", "1", "a"),
    ("zadd", "z", "2", "b", "3", "c", "4", "d"),
    ("zadd", "z", "xx", "5", "zz"),
    ("zadd", "z", "incr", "1", "a"),
    ("zincrby", "z", "1", "e"),
    ("zadd", "z2", "nx", "1", "a"),
    ("zadd", "z3", "xx", "1", "a"),
    ("zrem", "z", "a", "zz"),
    ("zrem", "z", "zz"),
    ("zremrangebyscore", "z", "100", "200"),
    ("zremrangebyscore", "z", "0", "2"),
    ("zremrangebyrank", "z", "0", "0"),
    ("zremrangebylex", "z2", "-", "+"),
    ("zadd", "p", "1", "a", "2", "b", "3", "c", "4", "d"),
    ("zpopmin", "p"),
    ("zpopmax", "p", "2"),
    ("zmpop", "1", "p", "min"),
    ("zadd", "p", "1", "a"),
    ("bzpopmin", "p", "0"),
    ("zadd", "p", "1", "a"),
    ("bzpopmax", "p", "0"),
    ("zadd", "q", "1", "a", "2", "b"),
    ("zadd", "r", "2", "b", "3", "c"),
    ("zunionstore", "o", "2", "q", "r"),
    ("zinterstore", "o", "2", "q", "r"),
    ("zdiffstore", "o", "2", "q", "r"),
    ("zrangestore", "o2", "q", "0", "-1"),
    ("zinterstore", "o", "2", "q", "none"),
    ("zrangestore", "o2", "none", "0", "-1"),
    ("geoadd", "g", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"),
    ("georadius", "g", "15", "37", "200", "km", "store", "g2"),
    ("geosearchstore", "g3", "g", "fromlonlat", "15", "37", "byradius", "200", "km"),
    ("geosearchstore", "g3", "g", "fromlonlat", "0", "0", "byradius", "1", "km"),
]
STREAMS = [
    ("xadd", "x", "1-1", "a", "1"),
    ("xadd", "x", "2-1", "a", "2"),
    ("xadd", "x", "maxlen", "2", "3-1", "a", "3"),
    ("xadd", "x", "maxlen", "5", "4-1", "a", "4"),
    ("xadd", "nox", "nomkstream", "*", "a", "1"),
    ("xtrim", "x", "maxlen", "1"),
    ("xtrim", "x", "maxlen", "1"),
    ("xdel", "x", "4-1", "9-9"),
    ("xdel", "x", "9-9"),
    ("xsetid", "x", "10-1"),
    ("xgroup", "create", "x", "g", "0"),
    ("xgroup", "create", "x2", "g", "$", "mkstream"),
    ("xgroup", "setid", "x", "g", "0"),
    ("xgroup", "createconsumer", "x", "g", "c1"),
    ("xgroup", "createconsumer", "x", "g", "c1"),
    ("xadd", "x", "11-1", "b", "1"),
    ("xreadgroup", "group", "g", "c2", "streams", "x", ">"),
    ("xreadgroup", "group", "g", "c2", "streams", "x", "0"),
    ("xclaim", "x", "g", "c3", "0", "11-1"),
    ("xautoclaim", "x", "g", "c4", "0", "0"),
    ("xack", "x", "g", "11-1"),
    ("xgroup", "delconsumer", "x", "g", "c1"),
    ("xgroup", "destroy", "x", "g"),
    ("xgroup", "destroy", "x", "g"),
    ("del", "x2"),
]
TRANSACTIONS = [
    ("multi",),
    ("set", "t", "1"),
    ("lpush", "tl", "a"),
    ("exec",),
    ("eval", "redis.call('set', KEYS[1], 'v'); redis.call('del', KEYS[1])", "1", "ev"),
]
WORKLOADS = {
    "strings": STRINGS,
    "keys": KEYS,
    "lists": LISTS,
    "hashes": HASHES,
    "sets": SETS,
    "zsets": ZSETS,
    "streams": STREAMS,
    "transactions": TRANSACTIONS,
}


def run_workload(client: redis.Redis, workload: list[tuple[str, ...]]) -> list[object]:
    """Run each step; the replies (errors as text), so a step the servers answer differently shows."""
    replies: list[object] = []
    pipe = None
    for step in workload:
        if step[0] == "gone":
            wait_until(lambda key=step[1]: not client.exists(key), f"{step[1]} to expire")
            continue
        if step[0] == "restore-of":
            payload = client.dump(step[1])
            replies.append(client.restore(step[2], 0, payload))
            replies.append(client.restore(step[2], 100000, payload, replace=True))
            continue
        if step[0] == "multi":
            pipe = client.pipeline(transaction=True)
            continue
        if step[0] == "exec":
            replies.append(pipe.execute())
            pipe = None
            continue
        if pipe is not None:
            pipe.execute_command(*step)
            continue
        try:
            replies.append(client.execute_command(*step))
        except redis.ResponseError as exc:
            replies.append(("error", str(exc)))
    return replies


def stream_of(server, workload, classes: str) -> tuple[list[tuple[bytes, bytes, bytes]], list[object]]:
    """The (pattern, channel, message) triples a '__key*__:*' listener receives during `workload`."""
    client = server.client()
    client.flushall()
    client.config_set("notify-keyspace-events", classes)
    listener = server.client().pubsub()
    try:
        listener.psubscribe("__key*__:*")
        assert listener.get_message(timeout=HANG_SECONDS)["type"] == "psubscribe"
        replies = run_workload(client, workload)
        client.publish(END, "x")
        messages = []
        while True:
            message = listener.get_message(timeout=HANG_SECONDS)
            assert message is not None, "the end marker never arrived"
            if message["channel"] == END:
                return messages, replies
            messages.append((message["pattern"], message["channel"], message["data"]))
    finally:
        listener.close()
        client.config_set("notify-keyspace-events", "")
        client.flushall()
        client.close()


@pytest.mark.parametrize("family", sorted(WORKLOADS))
@pytest.mark.parametrize("classes", ["KEA", "KEAn"])
def test_notification_stream_matches_redis(redis_server, leakdb_server, family, classes):
    expected, expected_replies = stream_of(redis_server, WORKLOADS[family], classes)
    actual, actual_replies = stream_of(leakdb_server, WORKLOADS[family], classes)
    assert actual_replies == expected_replies
    assert expected, "the workload announces something"
    for number, (want, got) in enumerate(zip(expected, actual, strict=False)):
        assert got == want, f"message {number}: {got} instead of {want}"
    assert len(actual) == len(expected), actual[len(expected) :] or expected[len(actual) :]


@pytest.mark.parametrize(
    "classes", ["K$", "Eg", "Kl", "Eh", "Ks", "Ez", "Kt", "Ex", "KEgn", "E$lshzxet", "g$lshzxet", "KA"]
)
def test_each_class_selects_its_events_as_in_redis(redis_server, leakdb_server, classes):
    workload = STRINGS + KEYS + LISTS + HASHES + SETS + ZSETS + STREAMS
    expected, _ = stream_of(redis_server, workload, classes)
    actual, _ = stream_of(leakdb_server, workload, classes)
    assert actual == expected


@pytest.mark.parametrize("value", ["A", "An", "KEA", "g$lshzxetdn", "AKEmn", "KEAnm", "x", "", "Klg", "ExZ"])
def test_config_set_and_get_of_the_classes_match_redis(pair, value):
    oracle, ours = pair
    try:
        assert reply_of(ours, "config", "set", "notify-keyspace-events", value) == reply_of(
            oracle, "config", "set", "notify-keyspace-events", value
        )
        assert ours.config_get("notify-keyspace-events") == oracle.config_get("notify-keyspace-events")
    finally:
        for client in pair:
            client.config_set("notify-keyspace-events", "")


def test_nothing_is_published_without_k_or_e(pair):
    for client in pair:
        client.config_set("notify-keyspace-events", "A")
    try:
        for client in pair:
            listener = client.pubsub()
            listener.psubscribe("*")
            listener.get_message(timeout=HANG_SECONDS)
            client.set("k", "v")
            client.publish("end", "x")
            message = listener.get_message(timeout=HANG_SECONDS)
            assert message["channel"] == b"end"
            listener.close()
    finally:
        for client in pair:
            client.config_set("notify-keyspace-events", "")


def test_redis_py_listener_gets_keyspace_events(start_leakdb):
    server = start_leakdb("--storage", "memory", "--notify-keyspace-events", "Kx$")
    client = server.client()
    seen = []
    listener = client.pubsub(ignore_subscribe_messages=True)
    listener.psubscribe(**{"__keyspace@0__:*": seen.append})
    while listener.get_message(timeout=0.01) is not None or not listener.subscribed:
        pass
    client.set("other", "v")
    client.set("session", "token", px=1)
    wait_until(lambda: not client.exists("session"), "the session to expire")
    while len(seen) < 3:
        assert listener.get_message(timeout=HANG_SECONDS) is None, "handlers take every message"
    assert [(m["channel"], m["data"]) for m in seen] == [
        (b"__keyspace@0__:other", b"set"),
        (b"__keyspace@0__:session", b"set"),
        (b"__keyspace@0__:session", b"expired"),
    ]
    listener.close()


def test_evicted_keys_are_announced(start_leakdb):
    server = start_leakdb("--storage", "memory", "--notify-keyspace-events", "Ee")
    client = server.client()
    listener = client.pubsub()
    listener.subscribe("__keyevent@0__:evicted")
    listener.get_message(timeout=HANG_SECONDS)
    client.config_set("maxmemory-policy", "allkeys-lru")
    client.config_set("maxmemory", "1gb")  # memory is counted from here on
    for i in range(200):
        client.set(f"key:{i}", "x" * 1000)
    used = client.info("memory")["used_memory"]
    client.config_set("maxmemory", str(used - 50_000))
    client.set("trigger", "x")
    client.publish("__keyevent@0__:evicted", "end")
    evicted = []
    while True:
        message = listener.get_message(timeout=HANG_SECONDS)
        assert message is not None
        if message["data"] == b"end":
            break
        evicted.append(message["data"])
    assert evicted, "some keys were evicted"
    assert all(not client.exists(key) for key in evicted)
    assert client.dbsize() == 201 - len(evicted)
    listener.close()


def _blocked_events(server) -> list[tuple[bytes, bytes]]:
    """The events of pops that wait: LPUSH serving a BLPOP, RPUSH serving a BLMOVE."""
    import threading

    client = server.client()
    client.flushall()
    client.config_set("notify-keyspace-events", "KEAn")
    listener = server.client().pubsub()
    waiter = server.client()
    try:
        listener.psubscribe("__key*__:*")
        listener.get_message(timeout=HANG_SECONDS)
        for block, push in (
            (lambda: waiter.blpop("q", 0), lambda: client.lpush("q", "1")),
            (lambda: waiter.blmove("q2", "d", 0, "LEFT", "LEFT"), lambda: client.rpush("q2", "1", "2")),
        ):
            thread = threading.Thread(target=block)
            thread.start()
            wait_until(lambda: any(c["cmd"] in ("blpop", "blmove") for c in client.client_list()), "a waiter")
            push()
            thread.join(HANG_SECONDS)
        client.publish(END, "x")
        events = []
        while True:
            message = listener.get_message(timeout=HANG_SECONDS)
            assert message is not None
            if message["channel"] == END:
                return events
            events.append((message["channel"], message["data"]))
    finally:
        listener.close()
        client.config_set("notify-keyspace-events", "")
        waiter.close()
        client.close()


def test_pops_that_waited_are_announced_as_in_redis(redis_server, leakdb_server):
    expected = _blocked_events(redis_server)
    assert (b"__keyevent@0__:lpop", b"q") in expected
    assert _blocked_events(leakdb_server) == expected


def test_every_event_name_the_commands_use_has_its_class():
    import re
    from pathlib import Path

    from leakdb.commands import notifications

    source = "\n".join(path.read_text() for path in Path(notifications.__file__).parent.glob("*.py"))
    calls = re.findall(
        r"\.(?:set|set_keep_ttl|changed|delete|set_expire|bits_changed|incr)\(([^\n]*)\)", source
    )
    used = {name for call in calls for name in re.findall(r'"([a-z_-]+)"', call)}
    assert used, "event names are found"
    assert used <= set(notifications.EVENT_CLASS)
