"""CLIENT TRACKING compared with redis-server: the bytes each connection receives after each step of
a scripted session (RESP3 pushes, RESP2 ``__redis__:invalidate`` messages through REDIRECT), the
error texts of bad option combinations, and redis-py's ``client_tracking_on`` with a redirect
connection.

After every step each connection is sent ``PING <marker>`` and read up to the marker's reply, so
a step's output is exactly what arrived before it: no test waits for "quiet" or for a time.
"""

from __future__ import annotations

import re
import socket

import pytest
import redis

from tests.conftest import HANG_SECONDS, assert_same, wait_until


def _encode(*parts: str) -> bytes:
    data = [part.encode() for part in parts]
    return b"*%d\r\n" % len(data) + b"".join(b"$%d\r\n%s\r\n" % (len(part), part) for part in data)


class Connection:
    """A raw connection that reads exactly up to a PING marker's reply."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=HANG_SECONDS)
        self.marks = 0
        self.subscribed = False
        self.resp3 = False
        self.id = int(self.step("CLIENT", "ID")[1:-2])

    def step(self, *command: str) -> bytes:
        self.sock.sendall(_encode(*command))
        return self.sync()

    def sync(self) -> bytes:
        self.marks += 1
        marker = f"mark-{self.marks}"
        self.sock.sendall(_encode("PING", marker))
        reply = b"$%d\r\n%s\r\n" % (len(marker), marker.encode())
        if self.subscribed and not self.resp3:
            reply = b"*2\r\n$4\r\npong\r\n" + reply
        data = b""
        while not data.endswith(reply):
            chunk = self.sock.recv(65536)
            assert chunk, "the server closed the connection"
            data += chunk
        return data[: -len(reply)]

    def close(self) -> None:
        self.sock.close()


# (who, command...) with the redirect target's id written as "{B}"; ("gone", key) waits until
# the key has expired (asked on C, which tracks nothing); ("A", "MULTI", "cmd|cmd|EXEC") sends a
# whole transaction at once.
SESSION = [
    ("A", "HELLO", "3"),
    ("A", "CLIENT", "TRACKING", "on"),
    ("A", "GET", "k"),
    ("A", "MGET", "k", "k2", "k3"),
    ("B", "SET", "k", "1"),
    ("B", "SET", "k", "2"),
    ("A", "SET", "k2", "x"),
    ("A", "HGET", "h", "f"),
    ("B", "HSET", "h", "f", "v"),
    ("A", "GET", "k"),
    ("B", "FLUSHALL"),
    ("A", "GET", "k"),
    ("B", "FLUSHDB"),
    ("A", "CLIENT", "TRACKINGINFO"),
    ("A", "CLIENT", "GETREDIR"),
    ("A", "CLIENT", "TRACKING", "on", "bcast"),
    ("A", "CLIENT", "TRACKING", "off"),
    ("A", "CLIENT", "TRACKINGINFO"),
    ("A", "CLIENT", "GETREDIR"),
    ("A", "CLIENT", "TRACKING", "on", "bcast", "prefix", "p:", "prefix", "q:", "noloop"),
    ("B", "MSET", "p:1", "1", "p:2", "2", "q:1", "x", "r", "y"),
    ("A", "SET", "p:3", "z"),
    ("B", "DEL", "p:1", "q:1"),
    ("A", "CLIENT", "TRACKINGINFO"),
    ("A", "CLIENT", "TRACKING", "on", "bcast", "prefix", "s:"),
    ("A", "CLIENT", "TRACKINGINFO"),
    ("A", "SET", "p:4", "own"),
    ("A", "CLIENT", "TRACKING", "off"),
    ("A", "CLIENT", "TRACKING", "on", "bcast"),
    ("B", "SET", "any", "1"),
    ("A", "CLIENT", "TRACKING", "off"),
    ("B", "SUBSCRIBE", "__redis__:invalidate"),
    ("A", "CLIENT", "TRACKING", "on", "redirect", "{B}"),
    ("A", "CLIENT", "TRACKINGINFO"),
    ("A", "GET", "rk"),
    ("A", "SET", "rk", "1"),
    ("C", "GET", "rk"),
    ("A", "GET", "rk"),
    ("C", "FLUSHALL"),
    ("A", "CLIENT", "TRACKING", "off"),
    ("A", "CLIENT", "TRACKING", "on", "optin"),
    ("A", "GET", "o1"),
    ("A", "CLIENT", "CACHING", "yes"),
    ("A", "CLIENT", "TRACKINGINFO"),
    ("A", "GET", "o2"),
    ("C", "SET", "o1", "1"),
    ("C", "SET", "o2", "1"),
    ("C", "SET", "o2", "2"),
    ("A", "CLIENT", "TRACKING", "off"),
    ("A", "CLIENT", "TRACKING", "on", "optout"),
    ("A", "CLIENT", "CACHING", "no"),
    ("A", "GET", "o3"),
    ("A", "GET", "o4"),
    ("C", "MSET", "o3", "1", "o4", "1"),
    ("A", "CLIENT", "TRACKING", "off"),
    ("A", "CLIENT", "TRACKING", "on"),
    ("A", "GET", "ex"),
    ("C", "SET", "ex", "1", "PX", "1"),
    ("gone", "ex"),
    # A key read while it has a deadline is invalidated when it expires (3 s leave time to read it).
    ("C", "SET", "ex2", "1", "PX", "3000"),
    ("A", "GET", "ex2"),
    ("gone", "ex2"),
    ("A", "GET", "ex3"),
    ("C", "LPUSH", "ex3", "a"),
    ("A", "LRANGE", "ex3", "0", "-1"),
    ("C", "LPOP", "ex3"),
    ("A", "MULTI", "GET inmulti|SET other 1|EXEC"),
    ("C", "SET", "inmulti", "1"),
    ("A", "WATCH", "w"),
    ("C", "SET", "w", "1"),
    ("A", "MULTI", "GET aborted|EXEC"),
    ("C", "SET", "aborted", "1"),
    ("A", "CLIENT", "TRACKING", "off"),
    ("A", "HELLO", "2"),
    ("A", "CLIENT", "TRACKING", "on"),
    ("A", "GET", "two"),
    ("C", "SET", "two", "1"),
    ("B", "UNSUBSCRIBE"),
    ("A", "CLIENT", "TRACKING", "on", "redirect", "{B}"),
    ("A", "HELLO", "3"),
    ("A", "CLIENT", "TRACKING", "off"),
]


def _mask(data: bytes) -> bytes:
    data = re.sub(rb":\d+\r\n", b":N\r\n", data)
    return re.sub(rb"\$\d+\r\n\d+\r\n", b"$N\r\nN\r\n", data)


def session_output(port: int) -> list[tuple[str, tuple[str, ...], bytes, bytes, bytes]]:
    client = redis.Redis(port=port)
    client.flushall()
    connections = {name: Connection(port) for name in "ABC"}
    output = []
    try:
        for step in SESSION:
            if step[0] == "gone":
                checker, key = connections["C"], step[1]
                wait_until(lambda c=checker, k=key: c.step("EXISTS", k) == b":0\r\n", f"{key} to expire")
                received = {name: conn.sync() for name, conn in connections.items()}
                output.append(("gone", step[1:], received["A"], received["B"], received["C"]))
                continue
            who, command = step[0], [arg.replace("{B}", str(connections["B"].id)) for arg in step[1:]]
            conn = connections[who]
            if command[0] == "HELLO":
                conn.resp3 = command[1] == "3"
            if command[0] == "MULTI":  # a whole transaction in one write: PING would be queued
                conn.sock.sendall(
                    b"".join(_encode(*part.split()) for part in ["MULTI", *command[1].split("|")])
                )
                reply = conn.sync()
            elif command[0] == "SUBSCRIBE":
                conn.sock.sendall(_encode(*command))
                conn.subscribed = True
                reply = conn.sync()
            elif command[0] == "UNSUBSCRIBE":
                conn.sock.sendall(_encode(*command))
                conn.subscribed = False
                reply = conn.sync()
            else:
                reply = conn.step(*command)
            received = {name: (reply if name == who else other.sync()) for name, other in connections.items()}
            output.append(
                (who, tuple(step[1:]), _mask(received["A"]), _mask(received["B"]), _mask(received["C"]))
            )
    finally:
        for conn in connections.values():
            conn.close()
        client.flushall()
        client.close()
    return output


def test_tracking_session_matches_redis_byte_for_byte(redis_server, leakdb_server):
    expected = session_output(redis_server.port)
    actual = session_output(leakdb_server.port)
    assert any(b"invalidate" in part for step in expected for part in step[2:]), "the session invalidates"
    for want, got in zip(expected, actual, strict=True):
        assert got == want


@pytest.mark.parametrize(
    "command",
    [
        "client tracking on redirect 999999",
        "client tracking on redirect x",
        "client tracking on prefix a",
        "client tracking on bcast optin",
        "client tracking on bcast optout",
        "client tracking on optin optout",
        "client tracking on bcast prefix a prefix ab",
        "client tracking on bcast prefix a prefix a",
        "client tracking on bcast prefix",
        "client tracking maybe",
        "client tracking on foo",
        "client tracking",
        "client tracking off optin",
        "client caching yes",
        "client caching no",
        "client caching maybe",
        "client caching",
        "client getredir",
        "client trackinginfo",
        "client getredir extra",
    ],
)
def test_bad_combinations_get_redis_errors(pair, command):
    assert_same(pair, *command.split())


@pytest.mark.parametrize(
    "first, second",
    [
        ("on optin", "on optout"),
        ("on optout", "on optin"),
        ("on bcast", "on"),
        ("on", "on bcast"),
        ("on bcast prefix a", "on bcast prefix ab"),
        ("on optin", "on optin"),
    ],
)
def test_switching_modes_while_on_is_refused_as_in_redis(pair, first, second):
    replies = []
    for client in pair:
        client.execute_command("client", "tracking", *first.split())
        try:
            replies.append(client.execute_command("client", "tracking", *second.split()))
        except redis.ResponseError as exc:
            replies.append(str(exc))
        replies.append(client.execute_command("client", "trackinginfo"))
        client.execute_command("client", "tracking", "off")
    assert replies[:2] == replies[2:]


@pytest.mark.parametrize("caching, optin_value, optout_value", [("yes", True, False), ("no", False, True)])
def test_client_caching_needs_the_matching_mode(pair, caching, optin_value, optout_value):
    replies = []
    for client in pair:
        for mode in ("optin", "optout"):
            client.execute_command("client", "tracking", "on", mode)
            try:
                replies.append(client.execute_command("client", "caching", caching))
            except redis.ResponseError as exc:
                replies.append(str(exc))
            client.execute_command("client", "tracking", "off")
    assert replies[:2] == replies[2:]


def test_redis_py_client_tracking_with_a_redirect_connection(leakdb_server):
    client = leakdb_server.client()
    # One pooled connection: the id asked on it is the id of the connection the listener then uses.
    # RESP2, where invalidations come as __redis__:invalidate messages (a RESP3 target gets pushes).
    pool = redis.ConnectionPool(port=leakdb_server.port, max_connections=1, protocol=2)
    redirect_id = redis.Redis(connection_pool=pool).client_id()
    listener = redis.Redis(connection_pool=pool).pubsub()
    try:
        listener.subscribe("__redis__:invalidate")
        assert listener.get_message(timeout=HANG_SECONDS)["type"] == "subscribe"
        tracked = leakdb_server.client(single_connection_client=True)
        tracked.client_tracking_on(clientid=redirect_id, bcast=True, prefix=["user:", "session:"])
        assert tracked.client_getredir() == redirect_id
        client.set("user:1", "ann")
        client.set("other", "x")
        client.mset({"session:9": "s", "user:2": "bob"})
        seen: list[bytes] = []
        while len(seen) < 3:
            message = listener.get_message(timeout=HANG_SECONDS)
            assert message is not None, seen
            if message["type"] == "message":
                assert message["channel"] == b"__redis__:invalidate"
                seen.extend(message["data"])
        assert sorted(seen) == [b"session:9", b"user:1", b"user:2"]
        tracked.client_tracking_off()
        assert tracked.client_getredir() == -1
        tracked.close()
    finally:
        listener.close()
        pool.disconnect()
        client.close()


def test_tracking_table_max_keys_invalidates_to_make_room(pair, redis_server, leakdb_server):
    counts = []
    for server in (redis_server, leakdb_server):
        admin = server.client()
        admin.config_set("tracking-table-max-keys", "2")
        conn = Connection(server.port)
        try:
            conn.step("HELLO", "3")
            conn.step("CLIENT", "TRACKING", "on")
            received = b"".join(conn.step("GET", f"key:{i}") for i in range(5)) + conn.sync()
            counts.append(received.count(b"invalidate"))
        finally:
            conn.close()
            admin.config_set("tracking-table-max-keys", "1000000")
            admin.close()
    assert counts[1] == counts[0] == 3


def test_an_evicted_key_is_invalidated(start_leakdb):
    server = start_leakdb("--storage", "memory", "--maxmemory-policy", "allkeys-random", "--maxmemory", "1gb")
    admin = server.client()
    conn = Connection(server.port)
    conn.step("HELLO", "3")
    conn.step("CLIENT", "TRACKING", "on")
    for i in range(100):
        admin.set(f"key:{i}", "x" * 1000)
    for i in range(100):
        conn.step("GET", f"key:{i}")
    used = admin.info("memory")["used_memory"]
    admin.config_set("maxmemory", str(used - 20_000))
    admin.set("trigger", "x")
    received = conn.sync()
    missing = [i for i in range(100) if not admin.exists(f"key:{i}")]
    assert missing, "something was evicted"
    for i in missing:
        key = f"key:{i}".encode()
        assert b"$%d\r\n%s\r\n" % (len(key), key) in received
    conn.close()


def _flags_and_redir(info: bytes) -> tuple[bytes, bytes]:
    fields = dict(part.split(b"=", 1) for part in info.split() if b"=" in part)
    return fields[b"flags"], b"redir=" + (b"N" if fields[b"redir"] not in (b"-1", b"0") else fields[b"redir"])


def test_client_info_shows_tracking_flags_and_redirect_as_redis_does(redis_server, leakdb_server):
    results = []
    for server in (redis_server, leakdb_server):
        seen = []
        conn = Connection(server.port)
        target = Connection(server.port)
        writer = Connection(server.port)
        for options in (("on",), ("on", "bcast"), ("on", "optin"), ("on", "redirect", str(target.id))):
            conn.step("CLIENT", "TRACKING", *options)
            seen.append(_flags_and_redir(conn.step("CLIENT", "INFO")))
            if options[-1] != str(target.id):
                conn.step("CLIENT", "TRACKING", "off")
        conn.step("GET", "watched")
        target.close()
        wait_until(lambda c=conn, t=target.id: f"id={t} ".encode() not in c.step("CLIENT", "LIST"), "close")
        writer.step("SET", "watched", "1")
        seen.append(_flags_and_redir(conn.step("CLIENT", "INFO")))
        seen.append(_mask(conn.step("CLIENT", "TRACKINGINFO")))
        conn.step("CLIENT", "TRACKING", "off")
        seen.append(_flags_and_redir(conn.step("CLIENT", "INFO")))
        for each in (conn, writer):
            each.close()
        results.append(seen)
    assert results[1] == results[0]
    assert results[0][4][0] == b"tR"


def test_flushes_run_in_process_where_nothing_tracks():
    from leakdb import DefaultStorage

    storage = DefaultStorage()
    storage.execute_command("SET", "k", "v")
    assert storage.execute_command("FLUSHALL") == b"OK"
    assert storage.execute_command("FLUSHDB") == b"OK"


def test_the_counters_info_reads():
    from types import SimpleNamespace

    from leakdb.commands import DISPATCH
    from leakdb.commands.tracking import call, client_tracking, tracking_info
    from leakdb.engine.keyspace import Keyspace
    from leakdb.resp import RESP3

    keyspace = Keyspace()
    server = SimpleNamespace(
        keyspace=keyspace, config={"tracking-table-max-keys": 0}, clients={}, tracking=None
    )
    assert tracking_info(server) == dict.fromkeys(
        ("tracking_clients", "tracking_total_keys", "tracking_total_items", "tracking_total_prefixes"), 0
    )
    clients = []
    for ident in (1, 2, 3):
        client = type("Client", (), {})()  # hashable, as server clients are
        client.__dict__.update(
            id=ident, server=server, tracking=None, resp=RESP3, multi=None, closed=False, db=keyspace[0]
        )
        server.clients[ident] = client
        clients.append(client)
    client_tracking(clients[0], [b"client", b"tracking", b"on"])
    client_tracking(clients[1], [b"client", b"tracking", b"on"])
    client_tracking(clients[2], [b"client", b"tracking", b"on", b"bcast", b"prefix", b"a", b"prefix", b"b"])
    handler, _, _, declared = DISPATCH[b"mget"]
    call(clients[0], handler, [b"mget", b"x", b"y"], declared)
    call(clients[1], handler, [b"mget", b"y", b"z"], declared)
    assert tracking_info(server) == {
        "tracking_clients": 3,
        "tracking_total_keys": 3,
        "tracking_total_items": 4,
        "tracking_total_prefixes": 2,
    }
