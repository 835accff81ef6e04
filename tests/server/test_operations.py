"""Operating LeakDB as Redis is operated: the order clients are served in, tiny blocking timeouts,
and the small replies tools read (EXEC refused, OBJECT ENCODING after in-place writes, WAIT, ROLE...).

Every scenario runs against redis-server as well and must come out the same; order is asserted by
what each client received, never by how long anything took.
"""

from __future__ import annotations

import socket

import hiredis
import pytest
import redis
from conftest import HANG_SECONDS, assert_same, assert_same_bytes, wait_until


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=HANG_SECONDS)


class Replies:
    """Whole replies read from a raw connection that stays open."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = hiredis.Reader()

    def next(self) -> object:
        while True:
            reply = self.reader.gets()
            if reply is not False:
                return reply
            chunk = self.sock.recv(65536)
            assert chunk, "the server closed the connection"
            self.reader.feed(chunk)


def blocked_clients(port: int) -> int:
    with redis.Redis(port=port) as client:
        return client.info("clients")["blocked_clients"]


@pytest.fixture
def ports(redis_server, leakdb_server):
    for server in (redis_server, leakdb_server):
        with server.client() as client:
            client.flushall()
    return redis_server.port, leakdb_server.port


# -- arrival order across connections ---------------------------------------------------------------


def unsubscribed_but_counted(port: int, tries: int) -> int:
    """How often a PUBLISH sent right after another client's UNSUBSCRIBE still counts that client."""
    subscriber, publisher = connect(port), connect(port)
    sub, pub = Replies(subscriber), Replies(publisher)
    counted = 0
    try:
        for _ in range(tries):
            subscriber.sendall(b"SUBSCRIBE ch\r\n")
            sub.next()
            subscriber.sendall(b"UNSUBSCRIBE ch\r\n")
            publisher.sendall(b"PUBLISH ch x\r\n")
            counted += pub.next() != 0
            assert sub.next()[0] == b"unsubscribe"
    finally:
        subscriber.close()
        publisher.close()
    return counted


def test_unsubscribe_before_another_clients_publish(ports):
    assert [unsubscribed_but_counted(port, 50) for port in ports] == [0, 0]


def waiters_served_in_arrival_order(port: int, tries: int) -> list[bool]:
    """Two BRPOPLPUSH sent back to back on two connections: whether the first got the first push."""
    outcomes = []
    with redis.Redis(port=port) as admin:
        for _ in range(tries):
            first, second = connect(port), connect(port)
            try:
                first.sendall(b"BRPOPLPUSH q dst 0\r\n")
                second.sendall(b"BRPOPLPUSH q dst 0\r\n")
                wait_until(lambda: blocked_clients(port) == 2, "both waiters to block")
                admin.lpush("q", "one")
                admin.lpush("q", "two")
                outcomes.append((Replies(first).next(), Replies(second).next()) == (b"one", b"two"))
            finally:
                first.close()
                second.close()
            admin.delete("q", "dst")
    return outcomes


def test_blocked_waiters_are_served_in_arrival_order(ports):
    assert [waiters_served_in_arrival_order(port, 20) for port in ports] == [[True] * 20] * 2


# -- blocking timeouts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ("BLPOP", "none", "0.001"),
        ("BRPOP", "none", "0.0001"),
        ("BLMPOP", "0.001", "1", "none", "LEFT"),
        ("BRPOPLPUSH", "none", "dst", "1e-300"),
        ("BLMOVE", "none", "dst", "LEFT", "RIGHT", "0.0009"),
        ("BZPOPMIN", "none", "0.001"),
        ("BZPOPMAX", "none", "0.001"),
        ("BZMPOP", "0.001", "1", "none", "MIN"),
    ],
)
def test_a_sub_millisecond_timeout_times_out(ports, command):
    for port in ports:
        with redis.Redis(port=port, socket_timeout=HANG_SECONDS) as client:
            assert client.execute_command(*command) is None


# -- small replies ----------------------------------------------------------------------------------


def test_exec_with_arguments_aborts(redis_server, leakdb_server, ports):
    payload = b"EXEC blahblah\r\nMULTI\r\nSET a 1\r\nEXEC x\r\nEXEC\r\nGET a\r\n"
    replies = assert_same_bytes(redis_server.port, leakdb_server.port, payload)
    assert replies.startswith(b"-EXECABORT")


def test_exec_with_arguments_drops_the_watch(redis_server, leakdb_server, ports):
    payload = b"WATCH k\r\nEXEC now\r\nSET k 1\r\nMULTI\r\nEXEC\r\n"
    assert_same_bytes(redis_server.port, leakdb_server.port, payload)


@pytest.mark.parametrize(
    "workload",
    [
        [("SET", "k", "1234"), ("SETRANGE", "k", "0", "2")],
        [("SET", "k", "12"), ("APPEND", "k", "3")],
        [("APPEND", "k", "12")],
        [("SETRANGE", "k", "0", "12")],
        [("SET", "k", "5"), ("SETBIT", "k", "1", "1")],
        [("SET", "k", "5"), ("BITFIELD", "k", "SET", "u8", "0", "49")],
        [("SET", "x", "1"), ("BITOP", "AND", "k", "x", "x")],
        [("SET", "k", "12"), ("APPEND", "k", "3"), ("SET", "k", "123")],
        [("SET", "k", "hello"), ("SETRANGE", "k", "1", "a"), ("GETRANGE", "k", "0", "1")],
    ],
)
def test_object_encoding_after_in_place_writes(pair, workload):
    for command in workload:
        assert_same(pair, *command)
    assert_same(pair, "OBJECT", "ENCODING", "k")


# -- WATCH and writes that change nothing -----------------------------------------------------------

# (setup, another client's write that leaves the key as it was): Redis breaks the watch for some and
# not for others; LeakDB must agree for each.
NO_OP_WRITES = [
    ([("RPUSH", "k", "a", "b")], ("LTRIM", "k", "0", "-1")),
    ([("RPUSH", "k", "a", "b")], ("LSET", "k", "0", "a")),
    ([("RPUSH", "k", "a", "b")], ("LREM", "k", "0", "z")),
    ([("RPUSH", "k", "a", "b")], ("LMOVE", "k", "k", "LEFT", "LEFT")),
    ([("HSET", "k", "f", "v")], ("HSET", "k", "f", "v")),
    ([("HSET", "k", "f", "v")], ("HDEL", "k", "zz")),
    ([("HSET", "k", "f", "1")], ("HINCRBY", "k", "f", "0")),
    ([("SADD", "k", "a")], ("SADD", "k", "a")),
    ([("SADD", "k", "a")], ("SMOVE", "k", "k", "a")),
    ([("ZADD", "k", "1", "a")], ("ZADD", "k", "1", "a")),
    ([("ZADD", "k", "1", "a")], ("ZINCRBY", "k", "0", "a")),
    ([("SET", "k", "v")], ("SETRANGE", "k", "0", "")),
    ([("SET", "k", "v")], ("SETRANGE", "k", "0", "v")),
    ([("SET", "k", "v")], ("APPEND", "k", "")),
    ([("SET", "k", "1")], ("INCRBY", "k", "0")),
    ([("SET", "k", "v")], ("SETBIT", "k", "0", "0")),
    ([("SET", "k", "v")], ("PERSIST", "k")),
    ([("SET", "k", "v")], ("RENAME", "k", "k")),
    ([], ("LTRIM", "k", "0", "-1")),
]


def watch_survives(port: int, setup, write) -> bool:
    with redis.Redis(port=port, single_connection_client=True) as watcher, redis.Redis(port=port) as other:
        watcher.flushall()
        for command in setup:
            watcher.execute_command(*command)
        watcher.execute_command("WATCH", "k")
        other.execute_command(*write)
        watcher.execute_command("MULTI")
        return watcher.execute_command("EXEC") is not None


@pytest.mark.parametrize(("setup", "write"), NO_OP_WRITES, ids=[" ".join(w) for _, w in NO_OP_WRITES])
def test_no_op_writes_and_watch(ports, setup, write):
    oracle, ours = (watch_survives(port, setup, write) for port in ports)
    assert ours == oracle


# -- replication: a master with no replicas ---------------------------------------------------------

MASTER_REPLIES = [
    ("WAIT", "0", "0"),
    ("WAIT", "-1", "0"),
    ("WAIT", "1", "10"),
    ("WAIT", "x", "0"),
    ("WAIT", "0", "x"),
    ("WAIT", "0", "-1"),
    ("ROLE",),
    ("REPLICAOF", "NO", "ONE"),
    ("SLAVEOF", "no", "one"),
    ("REPLICAOF", "no"),
    ("REPLICAOF", "host", "port"),
    ("REPLICAOF", "host", "99999"),
    ("REPLICAOF", "no", "two"),
    ("FAILOVER",),
    ("FAILOVER", "ABORT"),
    ("FAILOVER", "ABORT", "TIMEOUT", "5"),
    ("FAILOVER", "TO", "127.0.0.1", "1"),
    ("FAILOVER", "TO", "a"),
    ("FAILOVER", "TO", "a", "x"),
    ("FAILOVER", "TO", "a", "1", "TO", "b", "2"),
    ("FAILOVER", "TIMEOUT", "0"),
    ("FAILOVER", "TIMEOUT", "x"),
    ("FAILOVER", "FORCE", "TIMEOUT", "5"),
    ("FAILOVER", "bogus"),
]


@pytest.mark.parametrize("command", MASTER_REPLIES, ids=" ".join)
def test_replication_commands_answer_as_a_lone_master(pair, command):
    assert_same(pair, *command)


def test_lastsave_is_a_recent_unix_time(pair):
    oracle, ours = pair
    assert abs(ours.lastsave().timestamp() - oracle.lastsave().timestamp()) < 24 * 3600


@pytest.mark.parametrize("command", ["REPLICAOF", "SLAVEOF"])
def test_becoming_a_replica_is_refused_with_a_reason(r, command):
    with pytest.raises(redis.ResponseError, match="LeakDB does not replicate"):
        r.execute_command(command, "127.0.0.1", "6379")
    assert r.execute_command("ROLE") == [b"master", 0, []]


# -- CLIENT REPLY ---------------------------------------------------------------------------------

CLIENT_REPLY_SESSIONS = [
    b"CLIENT REPLY OFF\r\nSET a 1\r\nBOGUS\r\nGET\r\nCLIENT REPLY SKIP\r\nPING\r\n"
    b"CLIENT REPLY ON\r\nGET a\r\n",
    b"CLIENT REPLY SKIP\r\nPING one\r\nPING two\r\nCLIENT REPLY SKIP\r\nCLIENT REPLY SKIP\r\nPING three\r\n"
    b"PING four\r\n",
    b"CLIENT REPLY OFF\r\nMULTI\r\nINCR n\r\nEXEC\r\nCLIENT REPLY ON\r\nGET n\r\n",
    b"CLIENT REPLY bad\r\nCLIENT REPLY\r\nCLIENT REPLY ON\r\nCLIENT REPLY ON extra\r\n",
    b"CLIENT REPLY SKIP\r\nBLPOP nothing 0.01\r\nCLIENT REPLY OFF\r\nBLPOP nothing 0.01\r\n"
    b"CLIENT REPLY ON\r\nPING\r\n",
]


@pytest.mark.parametrize("payload", CLIENT_REPLY_SESSIONS)
def test_client_reply(redis_server, leakdb_server, ports, payload):
    assert_same_bytes(redis_server.port, leakdb_server.port, payload)


def test_a_subscriber_with_replies_off_still_gets_messages(ports):
    received = []
    for port in ports:
        subscriber = connect(port)
        replies = Replies(subscriber)
        subscriber.sendall(b"HELLO 3\r\nCLIENT REPLY OFF\r\nSUBSCRIBE ch\r\nPING\r\n")
        replies.next()  # HELLO's map
        confirmation = replies.next()
        with redis.Redis(port=port) as publisher:
            assert publisher.publish("ch", "hi") == 1
        received.append((confirmation, replies.next()))
        subscriber.close()
    assert received[0] == received[1] == ([b"subscribe", b"ch", 1], [b"message", b"ch", b"hi"])


# -- protocol edges ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        b"*-10\r\nPING\r\n",
        b"*-10\r\n*1\r\n$4\r\nPING\r\n",
        b"*1\r\n$4\r\nPING\r\n*-3\r\n*2\r\n$4\r\nECHO\r\n$4\r\n*-10\r\n",
        b"*2\r\n$4\r\nECHO\r\n$6\r\n*-10\r\n\r\n",
    ],
)
def test_a_negative_multibulk_count_is_ignored(redis_server, leakdb_server, payload):
    assert_same_bytes(redis_server.port, leakdb_server.port, payload)


# -- CLIENT LIST ------------------------------------------------------------------------------------


def listed_commands(port: int) -> dict[str, str]:
    """CLIENT LIST's cmd= of connections that each ran a few commands and stayed open."""
    sessions = {
        "subscriber": b"SUBSCRIBE ch\r\n",
        "pinger": b"PING\r\nECHO x\r\n",
        "configurer": b"CONFIG GET port\r\n",
        "mistaken": b"CONFIG GET port\r\nBOGUS\r\n",
        "miscounted": b"GET\r\n",
        "waiter": b"BLPOP nothing 0\r\n",
    }
    socks = []
    try:
        for name, payload in sessions.items():
            sock = connect(port)
            socks.append(sock)
            sock.sendall(b"CLIENT SETNAME %s\r\n" % name.encode())
            Replies(sock).next()
            sock.sendall(payload)
        with redis.Redis(port=port) as admin:

            def listed():
                entries = {e["name"]: e["cmd"] for e in admin.client_list() if e["name"] in sessions}
                # Every session has run its commands once none shows CLIENT SETNAME any more.
                return entries if "client|setname" not in entries.values() and len(entries) == 6 else None

            return wait_until(listed, "every session's commands to run")
    finally:
        for sock in socks:
            sock.close()


def test_client_list_shows_each_clients_last_command(ports):
    oracle, ours = (listed_commands(port) for port in ports)
    assert ours == oracle
    assert oracle["subscriber"] == "subscribe"


# -- sharded pub/sub --------------------------------------------------------------------------------

SHARD_SESSIONS = [
    b"SUNSUBSCRIBE\r\nSUNSUBSCRIBE a\r\nSUBSCRIBE a\r\nSSUBSCRIBE b c\r\nPSUBSCRIBE p*\r\nSSUBSCRIBE b\r\n"
    b"SUNSUBSCRIBE c\r\nSUNSUBSCRIBE\r\nSUNSUBSCRIBE\r\nSSUBSCRIBE x\r\nPING\r\nGET k\r\nUNSUBSCRIBE\r\n"
    b"PUNSUBSCRIBE\r\nSUNSUBSCRIBE x\r\nPING\r\n",
    b"HELLO 3\r\nSSUBSCRIBE sh\r\nGET x\r\nSPUBLISH sh me\r\nPUBLISH sh me\r\nSUNSUBSCRIBE\r\n",
    b"MULTI\r\nSSUBSCRIBE a\r\nSPUBLISH a b\r\nEXEC\r\nPUBSUB SHARDCHANNELS\r\n",
    b"SPUBLISH nobody hi\r\nPUBSUB SHARDCHANNELS\r\nPUBSUB SHARDCHANNELS a b\r\nPUBSUB SHARDNUMSUB\r\n"
    b"PUBSUB SHARDNUMSUB a b\r\nSSUBSCRIBE\r\n",
]


@pytest.mark.parametrize("payload", SHARD_SESSIONS)
def test_sharded_pubsub_sessions(redis_server, leakdb_server, ports, payload):
    assert_same_bytes(redis_server.port, leakdb_server.port, payload)


@pytest.mark.parametrize("protocol", [2, 3])
def test_spublish_reaches_shard_subscribers_only(ports, protocol):
    seen = []
    for port in ports:
        shard, plain, pattern = connect(port), connect(port), connect(port)
        hello = b"HELLO 3\r\n" if protocol == 3 else b""
        shard.sendall(hello + b"SSUBSCRIBE news\r\n")
        plain.sendall(hello + b"SUBSCRIBE news\r\n")
        pattern.sendall(hello + b"PSUBSCRIBE *\r\n")
        readers = [Replies(sock) for sock in (shard, plain, pattern)]
        for reader in readers:
            if protocol == 3:
                reader.next()
            reader.next()
        with redis.Redis(port=port, protocol=protocol) as publisher:
            counts = (
                publisher.execute_command("SPUBLISH", "news", "shard"),
                publisher.execute_command("PUBLISH", "news", "plain"),
                publisher.execute_command("PUBSUB", "SHARDCHANNELS"),
                publisher.execute_command("PUBSUB", "SHARDNUMSUB", "news", "other"),
                [e["ssub"] for e in publisher.client_list() if e["ssub"] != "0"],
            )
        seen.append((counts, [reader.next() for reader in readers]))
        for sock in (shard, plain, pattern):
            sock.close()
    assert seen[0] == seen[1]
    assert seen[0][1][0] == [b"smessage", b"news", b"shard"]


# -- COMMAND GETKEYS with movable keys -------------------------------------------------------------

GETKEYS = [
    "ZUNIONSTORE t 2 a b",
    "ZUNIONSTORE t 3 a b",
    "ZUNIONSTORE t x a b",
    "ZUNIONSTORE t 0 a",
    "ZINTERSTORE t 2 a b WEIGHTS 1 2",
    "ZDIFFSTORE t 1 a",
    "ZUNION 2 a b",
    "ZINTER 1 a WITHSCORES",
    "ZDIFF 2 a b",
    "ZINTERCARD 2 a b LIMIT 3",
    "SINTERCARD 1 a",
    "EVAL s 2 a b c",
    "EVAL s 0",
    "EVALSHA s 1 a",
    "EVAL_RO s 1 a",
    "FCALL f 1 k x",
    "FCALL_RO f 0",
    "LMPOP 2 a b LEFT",
    "BLMPOP 0 2 a b LEFT",
    "ZMPOP 1 a MIN",
    "BZMPOP 0 1 a MIN",
    "XREAD COUNT 2 STREAMS a b 0 0",
    "XREAD STREAMS a b 0",
    "XREADGROUP GROUP g c STREAMS a 0",
    "SORT k STORE d",
    "SORT k",
    "MIGRATE h 1 k 0 5",
    "GEORADIUS g 0 0 1 km STORE d",
    "GEORADIUSBYMEMBER g m 1 km STOREDIST d",
    "GEORADIUS g 0 0 1 km",
    "SET k v",
    "MSET a 1 b 2",
    "PING",
]


def multibulk(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(arg), arg) for arg in args)


@pytest.mark.parametrize("request_", GETKEYS)
def test_command_getkeys(redis_server, leakdb_server, request_):
    payload = multibulk(b"COMMAND", b"GETKEYS", *request_.encode().split())
    assert_same_bytes(redis_server.port, leakdb_server.port, payload)


def test_command_getkeys_of_migrate_keys(redis_server, leakdb_server):
    payload = multibulk(b"COMMAND", b"GETKEYS", b"MIGRATE", b"h", b"1", b"", b"0", b"5", b"KEYS", b"a", b"b")
    assert (
        assert_same_bytes(redis_server.port, leakdb_server.port, payload)
        == b"*2\r\n$1\r\na\r\n$1\r\nb\r\n+OK\r\n"
    )


def command_flags(port: int, name: str) -> set[bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=HANG_SECONDS) as sock:
        sock.sendall(multibulk(b"COMMAND", b"INFO", name.encode()))
        return set(Replies(sock).next()[0][2])


@pytest.mark.parametrize("name", ["zunionstore", "eval", "xread", "lmpop", "migrate", "georadius", "sort"])
def test_movable_key_commands_are_flagged(ports, name):
    oracle, ours = (command_flags(port, name) for port in ports)
    assert ours == oracle
    assert b"movablekeys" in ours


# -- CLIENT UNBLOCK ---------------------------------------------------------------------------------


def unblocked(port: int, blocking: bytes, how: tuple[str, ...], protocol: int) -> tuple:
    """What CLIENT UNBLOCK answers, and what the blocked client gets, for one blocking command."""
    sock = connect(port)
    replies = Replies(sock)
    try:
        sock.sendall((b"HELLO 3\r\n" if protocol == 3 else b"") + b"CLIENT ID\r\n")
        if protocol == 3:
            replies.next()
        client_id = replies.next()
        sock.sendall(blocking)
        wait_until(lambda: blocked_clients(port) == 1, "the client to block")
        with redis.Redis(port=port) as admin:
            answer = admin.execute_command("CLIENT", "UNBLOCK", client_id, *how)
            again = admin.execute_command("CLIENT", "UNBLOCK", client_id)
        got = replies.next()
        if isinstance(got, hiredis.ReplyError):  # hiredis hands errors over as values
            got = ("error", str(got))
        return answer, again, got
    finally:
        sock.close()


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("how", [(), ("TIMEOUT",), ("ERROR",)])
@pytest.mark.parametrize(
    "blocking",
    [b"BLPOP q 0\r\n", b"BZPOPMIN z 0\r\n", b"XREAD BLOCK 0 STREAMS s $\r\n", b"BLMOVE a b LEFT LEFT 0\r\n"],
)
def test_client_unblock(ports, blocking, how, protocol):
    oracle, ours = (unblocked(port, blocking, how, protocol) for port in ports)
    assert ours == oracle
    assert oracle[:2] == (1, 0)


@pytest.mark.parametrize(
    "command",
    [
        ("CLIENT", "UNBLOCK", "x"),
        ("CLIENT", "UNBLOCK", "1", "foo"),
        ("CLIENT", "UNBLOCK", "999999"),
        ("CLIENT", "UNBLOCK", "1", "timeout", "extra"),
        ("CLIENT", "UNBLOCK"),
    ],
)
def test_client_unblock_arguments(pair, command):
    assert_same(pair, *command)


# -- CLIENT PAUSE ---------------------------------------------------------------------------------


def paused_writes(port: int) -> tuple:
    """WRITE pause: another client's SET is held (a reader does not see it, reads and EVAL_RO are
    served, PUBLISH is held too) until CLIENT UNPAUSE, then everything held runs in arrival order."""
    writer, publisher = connect(port), connect(port)
    try:
        with redis.Redis(port=port) as admin, redis.Redis(port=port) as reader:
            admin.delete("k")
            reader.ping()  # connected before the pause: redis-py's handshake would be held
            assert admin.execute_command("CLIENT", "PAUSE", "100000", "WRITE") == b"OK"
            writer.sendall(b"SET k first\r\nGET k\r\n")
            publisher.sendall(b"SET k second\r\nPUBLISH ch x\r\n")
            during = (
                reader.get("k"),
                reader.execute_command("EVAL_RO", "return redis.call('get', 'k')", "0"),
                reader.pipeline().get("k").execute(),
            )
            assert admin.execute_command("CLIENT", "UNPAUSE") == b"OK"
            written = Replies(writer)
            writer_replies = (written.next(), written.next())
            sink = Replies(publisher)
            publisher_replies = (sink.next(), sink.next())
            return during, writer_replies, publisher_replies, reader.get("k")
    finally:
        writer.close()
        publisher.close()


def test_client_pause_write_holds_writes_until_unpause(ports):
    oracle, ours = (paused_writes(port) for port in ports)
    assert ours == oracle
    assert oracle[0] == (None, None, [None])


def paused_all(port: int) -> bytes:
    """ALL pause: every command is held, and held clients run in the order they arrived."""
    first, second = connect(port), connect(port)
    try:
        with redis.Redis(port=port) as admin:
            admin.delete("k")
            assert admin.execute_command("CLIENT", "PAUSE", "500", "ALL") == b"OK"
            first.sendall(b"SET k first\r\n")
            second.sendall(b"SET k second\r\n")
            assert Replies(first).next() == Replies(second).next() == b"OK"
            return admin.get("k")
    finally:
        first.close()
        second.close()


def test_client_pause_all_serves_held_clients_in_arrival_order(ports):
    assert [paused_all(port) for port in ports] == [b"second", b"second"]


@pytest.mark.parametrize(
    "command",
    [
        ("CLIENT", "PAUSE", "x"),
        ("CLIENT", "PAUSE", "-1"),
        ("CLIENT", "PAUSE", "10", "bogus"),
        ("CLIENT", "PAUSE", "10", "WRITE", "x"),
        ("CLIENT", "PAUSE"),
        ("CLIENT", "UNPAUSE", "x"),
    ],
)
def test_client_pause_arguments(pair, command):
    assert_same(pair, *command)
