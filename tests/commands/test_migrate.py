"""MIGRATE between real servers: from LeakDB into redis-server and from redis-server into LeakDB, for
every type (a stream with consumer groups too), with COPY, REPLACE, KEYS, AUTH and AUTH2, other
databases and TTLs; its replies compared with the replies redis-server gives as the source of the
same migration; a target that never answers or is not there; and a key written while its migration
is in flight, which stays."""

from __future__ import annotations

import socket
import threading

import hiredis
import pytest
from conftest import free_port, reply_of
from dumps import RawSession, read_value, start_redis

__all__ = ["start_redis"]  # a fixture, used by name

TYPES = [
    ("string", [("SET", "string", "v" * 100)]),
    ("integer", [("SET", "integer", "12")]),
    ("big string", [("SET", "big string", b"0123456789abcdef" * 70000)]),
    ("list", [("RPUSH", "list", *range(5000))]),
    ("hash", [("HSET", "hash", "f", "v", "n", "1")]),
    ("big hash", [("HSET", "big hash", *[f"f{n}" for n in range(1200)])]),
    ("set", [("SADD", "set", 1, 2, 3)]),
    ("strings set", [("SADD", "strings set", "a", "b")]),
    ("zset", [("ZADD", "zset", 1, "a", 2.5, "b")]),
    ("big zset", [("ZADD", "big zset", *[part for n in range(300) for part in (n / 3, f"m{n}")])]),
    ("stream", [("XADD", "stream", f"{n}-1", "f", n) for n in range(1, 400)]),
    ("ttl", [("SET", "ttl", "v"), ("PEXPIRE", "ttl", 500000)]),
]
KEYS = [name for name, _ in TYPES]


def build(client, commands) -> None:
    for command in commands:
        client.execute_command(*command)


def setup_all(client) -> None:
    client.flushall()
    for _, commands in TYPES:
        build(client, commands)


@pytest.fixture
def target(start_redis):
    server = start_redis()
    client = server.client()
    yield server, client
    client.close()


@pytest.mark.parametrize("key", KEYS)
def test_migrate_moves_each_type_into_redis(leakdb_server, target, key):
    server, client = target
    ours = leakdb_server.client()
    setup_all(ours)
    expected = read_value(ours, key)
    assert ours.execute_command("MIGRATE", "127.0.0.1", server.port, key, 0, 5000) == b"OK"
    assert read_value(client, key) == expected
    assert ours.exists(key) == 0
    if key == "ttl":
        assert 0 < client.pttl(key) <= 500000
    else:
        assert client.pttl(key) == -1
    ours.close()


def test_migrate_from_redis_into_leakdb(redis_server, start_leakdb):
    leakdb = start_leakdb()
    ours = leakdb.client()
    oracle = redis_server.client()
    setup_all(oracle)
    expected = {key: read_value(oracle, key) for key in KEYS}
    reply = oracle.execute_command("MIGRATE", "127.0.0.1", leakdb.port, "", 0, 5000, "KEYS", *KEYS)
    assert reply == b"OK"
    assert {key: read_value(ours, key) for key in KEYS} == expected
    assert oracle.exists(*KEYS) == 0
    assert 0 < ours.pttl("ttl") <= 500000
    # Redis keeps its connection to the target and sends SELECT only when the database changes.
    build(oracle, [("SET", "again", "1"), ("SET", "other db", "2")])
    assert oracle.execute_command("MIGRATE", "127.0.0.1", leakdb.port, "again", 0, 5000) == b"OK"
    assert oracle.execute_command("MIGRATE", "127.0.0.1", leakdb.port, "other db", 5, 5000) == b"OK"
    assert ours.get("again") == b"1"
    ours.execute_command("SELECT", 5)
    assert ours.get("other db") == b"2"
    oracle.close()
    ours.close()


def test_migrate_from_redis_into_leakdb_with_a_password(redis_server, start_leakdb):
    leakdb = start_leakdb("--requirepass", "secret")
    oracle = redis_server.client()
    oracle.flushall()
    build(oracle, [("SET", "a", "1"), ("SET", "b", "2"), ("SET", "c", "3")])
    port = leakdb.port
    refused = reply_of(oracle, "MIGRATE", "127.0.0.1", port, "c", 0, 5000, "AUTH", "wrong")
    wrongpass = "WRONGPASS invalid username-password pair or user is disabled."
    assert refused == ("error", f"Target instance replied with error: {wrongpass}")
    assert oracle.execute_command("MIGRATE", "127.0.0.1", port, "a", 0, 5000, "AUTH", "secret") == b"OK"
    assert (
        oracle.execute_command("MIGRATE", "127.0.0.1", port, "b", 0, 5000, "AUTH2", "default", "secret")
        == b"OK"
    )
    ours = leakdb.client(password="secret")
    assert ours.mget("a", "b", "c") == [b"1", b"2", None]
    assert oracle.mget("a", "b", "c") == [None, None, b"3"]
    oracle.close()
    ours.close()


# -- streams with consumer groups -------------------------------------------------------------------

GROUPED_STREAM = [
    *[("XADD", "grouped", f"{n}-1", "f", n, "pad", "p" * (n % 50)) for n in range(1, 300)],
    ("XGROUP", "CREATE", "grouped", "workers", "0"),
    ("XGROUP", "CREATE", "grouped", "audit", "$"),
    ("XGROUP", "CREATE", "grouped", "late", "150-1", "ENTRIESREAD", 150),
    *[
        ("XREADGROUP", "GROUP", "workers", f"w{n % 4}", "COUNT", 11, "STREAMS", "grouped", ">")
        for n in range(12)
    ],
    ("XREADGROUP", "GROUP", "late", "solo", "COUNT", 5, "STREAMS", "grouped", ">"),
    ("XACK", "grouped", "workers", *[f"{n}-1" for n in range(1, 120, 2)]),
    ("XCLAIM", "grouped", "workers", "w9", 0, "2-1", "4-1", "TIME", 1700000000000, "RETRYCOUNT", 3),
    ("XGROUP", "CREATECONSUMER", "grouped", "audit", "watcher"),
]
GROUP_STATE = [
    ("XINFO", "STREAM", "grouped", "FULL"),
    ("XINFO", "GROUPS", "grouped"),
    ("XPENDING", "grouped", "workers"),
    ("XPENDING", "grouped", "late"),
]


def group_state(port: int) -> list[bytes]:
    """The exact reply bytes of the group views without idle times (XINFO STREAM FULL shows
    absolute times, which a migration keeps)."""
    session = RawSession(port)
    try:
        return [session.send(view) for view in GROUP_STATE]
    finally:
        session.close()


def build_raw(port: int, commands) -> None:
    session = RawSession(port)
    try:
        for command in commands:
            assert not session.send(command).startswith(b"-"), command
    finally:
        session.close()


@pytest.mark.parametrize("direction", ["leakdb to redis", "redis to leakdb"])
def test_migrate_moves_a_stream_with_its_groups(redis_server, leakdb_server, direction):
    """Groups, pending entries (times and counts), consumers and the entries-read counters arrive as
    they were: the target shows the source's XINFO and XPENDING bytes and DUMPs the source's payload."""
    servers = [leakdb_server, redis_server]
    if direction == "redis to leakdb":
        servers.reverse()
    source, destination = servers
    for server in servers:
        server.client().flushall()
    build_raw(source.port, GROUPED_STREAM)
    before = group_state(source.port)
    payload = source.client().dump("grouped")
    reply = source.client().execute_command("MIGRATE", "127.0.0.1", destination.port, "grouped", 0, 5000)
    assert reply == b"OK"
    assert source.client().exists("grouped") == 0
    assert group_state(destination.port) == before
    assert destination.client().dump("grouped") == payload
    # The migrated groups go on as the source's would have: the same payload restored in the source.
    source.client().restore("grouped", 0, payload)
    next_steps = [
        ("XREADGROUP", "GROUP", "workers", "w1", "COUNT", 3, "STREAMS", "grouped", ">"),
        ("XACK", "grouped", "workers", "2-1", "3-1"),
        ("XAUTOCLAIM", "grouped", "late", "solo", 0, "0", "JUSTID"),
        ("XINFO", "GROUPS", "grouped"),
    ]
    for step in next_steps:
        sessions = [RawSession(server.port) for server in servers]
        assert sessions[1].send(step) == sessions[0].send(step), step
        for session in sessions:
            session.close()


# -- LeakDB's replies are the replies Redis gives as the source of the same migration -------------

SCENARIOS = [
    ("one key", [], ("k", 0, 5000)),
    ("copy", [], ("k", 0, 5000, "COPY")),
    ("copy replace", [], ("k", 0, 5000, "copy", "replace")),
    ("busy target", [("SET", "k", "there")], ("k", 0, 5000)),
    ("replace", [("SET", "k", "there")], ("k", 0, 5000, "REPLACE")),
    ("keys", [("SET", "a", "there")], ("", 0, 5000, "KEYS", "k", "a", "missing", "h")),
    ("keys replace copy", [("SET", "a", "there")], ("", 0, 5000, "REPLACE", "COPY", "KEYS", "k", "a", "h")),
    ("no key", [], ("missing", 0, 5000)),
    ("no keys", [], ("", 0, 5000, "KEYS", "missing", "gone")),
    ("keys with key", [], ("k", 0, 5000, "KEYS", "a")),
    ("other db", [], ("k", 3, 5000)),
    ("db out of range", [], ("k", 99, 5000)),
    ("negative timeout", [], ("k", 0, -5)),
    ("timeout not a number", [], ("k", 0, "soon")),
    ("db not a number", [], ("k", "zero", 5000)),
    ("unknown option", [], ("k", 0, 5000, "NOW")),
    ("auth without password", [], ("k", 0, 5000, "AUTH")),
    ("auth2 without password", [], ("k", 0, 5000, "AUTH2", "default")),
    ("auth not needed", [], ("k", 0, 5000, "AUTH", "pw")),
    ("auth2 unknown user", [], ("k", 0, 5000, "AUTH2", "nobody", "pw")),
    ("wrong arity", [], ("k", 0)),
]


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
@pytest.mark.parametrize(
    ("on_target", "args"), [case[1:] for case in SCENARIOS], ids=[case[0] for case in SCENARIOS]
)
def test_migrate_replies_are_redis_replies(redis_server, leakdb_server, target, on_target, args, resp3):
    server, client = target
    outcomes = []
    for source in (redis_server, leakdb_server):
        client.flushall()
        build(client, on_target)
        session = RawSession(source.port, resp3)
        session.send(("FLUSHALL",), ("SET", "k", "v"), ("HSET", "h", "f", "v"), ("PEXPIRE", "h", 900000))
        reply = session.send(("MIGRATE", "127.0.0.1", server.port, *args))
        local = session.send(("GET", "k"), ("HGETALL", "h"), ("GET", "a"))
        session.close()
        remote = [read_value(client, key) for key in ("k", "h", "a")]
        client.execute_command("SELECT", 3)
        remote.append(read_value(client, "k"))
        client.execute_command("SELECT", 0)
        outcomes.append((reply, local, remote, client.pttl("h") > 0))
    assert outcomes[1] == outcomes[0]


def test_migrate_with_a_password(leakdb_server, redis_server, start_redis):
    server = start_redis("--requirepass", "secret")
    outcomes = []
    for source in (redis_server, leakdb_server):
        session = RawSession(source.port)
        replies = []
        # Redis keeps its connection to a target for 10 s, so an AUTH that succeeded would count for
        # later MIGRATEs from Redis; the failing forms go first.
        for options in [(), ("AUTH", "wrong"), ("AUTH", "secret"), ("AUTH2", "default", "secret")]:
            session.send(("SET", "k", "v"))
            replies.append(
                session.send(("MIGRATE", "127.0.0.1", server.port, "k", 0, 5000, "REPLACE", *options))
            )
        outcomes.append(replies)
        session.close()
    assert outcomes[1] == outcomes[0]
    assert outcomes[0][2:] == [b"+OK\r\n", b"+OK\r\n"]


def test_migrate_to_nothing_or_to_a_silent_server(redis_server, leakdb_server):
    closed = free_port()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # connections are accepted by the kernel, and never answered
    try:
        for port, timeout in [(closed, 5000), (silent.getsockname()[1], 100)]:
            replies = []
            for source in (redis_server, leakdb_server):
                session = RawSession(source.port)
                session.send(("SET", "k", "v"))
                replies.append(session.send(("MIGRATE", "127.0.0.1", port, "k", 0, timeout), ("GET", "k")))
                session.close()
            assert replies[1] == replies[0]
            assert replies[0].startswith(b"-IOERR error or timeout ") and replies[0].endswith(b"$1\r\nv\r\n")
    finally:
        silent.close()


class HeldTarget:
    """A target that reads a whole MIGRATE request, then waits to be told before it answers (OK to
    every command, unless told otherwise)."""

    def __init__(self, commands: int, reply: bytes = b"+OK\r\n") -> None:
        self.reply = reply
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen()
        self.port = self.listener.getsockname()[1]
        self.commands = commands
        self.received: list[list[bytes]] = []
        self.request_read = threading.Event()
        self.answer = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        connection, _ = self.listener.accept()
        with connection:
            reader = hiredis.Reader()
            while len(self.received) < self.commands:
                request = reader.gets()
                if request is False:
                    reader.feed(connection.recv(65536))
                else:
                    self.received.append(request)
            self.request_read.set()
            self.answer.wait(30)
            connection.sendall(self.reply * self.commands)

    def close(self) -> None:
        self.listener.close()


def test_a_key_written_during_its_migration_stays(leakdb_server):
    target = HeldTarget(commands=3)  # SELECT and two RESTOREs
    ours = leakdb_server.client()
    other = leakdb_server.client()
    ours.flushall()
    ours.mset({"moved": "1", "written": "2"})
    outcome = {}

    def migrate() -> None:
        outcome["reply"] = ours.execute_command(
            "MIGRATE", "127.0.0.1", target.port, "", 0, 30000, "KEYS", "moved", "written"
        )

    worker = threading.Thread(target=migrate)
    worker.start()
    try:
        assert target.request_read.wait(30)
        assert [request[0] for request in target.received] == [b"SELECT", b"RESTORE", b"RESTORE"]
        other.append("written", "+")  # the server goes on serving while the migration waits
        assert other.get("moved") == b"1"
    finally:
        target.answer.set()
        worker.join(30)
        target.close()
    assert outcome["reply"] == b"OK"
    assert other.get("moved") is None
    assert other.get("written") == b"2+"
    ours.close()
    other.close()


def test_a_target_that_does_not_speak_resp_keeps_the_keys(leakdb_server):
    target = HeldTarget(commands=2, reply=b"hello\r\n")  # SELECT and one RESTORE
    target.answer.set()
    ours = leakdb_server.client()
    ours.set("k", "v")
    reply = reply_of(ours, "MIGRATE", "127.0.0.1", target.port, "k", 0, 5000)
    target.close()
    assert reply == ("error", "IOERR error or timeout reading to target instance")
    assert ours.get("k") == b"v"
    ours.close()
