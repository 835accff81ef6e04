"""Publish/subscribe against a real redis-server: reply bytes, deliveries, and redis-py's PubSub helpers.

Raw batches compare the exact frames (RESP2 arrays, RESP3 pushes) and the RESP2 subscribed-mode
restrictions; deliveries use real subscriber and publisher connections on both servers.
"""

from __future__ import annotations

import itertools
import re
import socket
import threading

import pytest
import redis
from conftest import HANG_SECONDS, wait_until
from test_transactions import HELLO3, assert_same_bytes, exchange, lines

_marks = itertools.count()


@pytest.fixture
def ports(pair, redis_server, leakdb_server) -> tuple[int, int]:
    return redis_server.port, leakdb_server.port


BATCHES = [
    ("SUBSCRIBE a b a", "UNSUBSCRIBE b x", "UNSUBSCRIBE", "UNSUBSCRIBE", "GET k"),
    ("PSUBSCRIBE n* n?", "PUNSUBSCRIBE n?", "PUNSUBSCRIBE", "PUNSUBSCRIBE", "PING"),
    ("SUBSCRIBE a", "PSUBSCRIBE p*", "UNSUBSCRIBE a", "PUNSUBSCRIBE p*", "PING"),
    ("UNSUBSCRIBE", "PUNSUBSCRIBE", "UNSUBSCRIBE x", "PUNSUBSCRIBE y", "GET k"),
    ("SUBSCRIBE a", "GET k", "SET k v", "MULTI", "PING", "PING hi", "PING a b", "ECHO x"),
    ("SUBSCRIBE a", "PUBSUB NUMSUB a", "PUBSUB NOSUCH", "PUBSUB NUMPAT x", "CONFIG GET", "NOSUCH"),
    ("SUBSCRIBE a", "CLIENT NOSUCH", "CLIENT GETNAME", "HELLO 3", "AUTH x", "SELECT 1", "QUIT"),
    ("SUBSCRIBE a", "RESET", "GET k", "PUBSUB NUMSUB a"),
    ("PSUBSCRIBE *", "RESET", "PUBSUB NUMPAT"),
    ("SUBSCRIBE", "PSUBSCRIBE", "PUBLISH a", "PUBSUB", "PUBSUB CHANNELS a b"),
    ("PUBLISH nobody hello", "PUBSUB NUMPAT", "PUBSUB NUMSUB", "PUBSUB NUMSUB a b", "PUBSUB CHANNELS"),
    ("PUBSUB HELP", "PUBSUB help", "PUBSUB SHARDCHANNELS", "PUBSUB SHARDNUMSUB a", "PUBSUB channels a b"),
    ("SUBSCRIBE c1 d2", "PUBSUB CHANNELS c*", "PUBSUB CHANNELS [cd]2", "PUBLISH c1 self"),
]


@pytest.mark.parametrize("hello", [b"", HELLO3], ids=["resp2", "resp3"])
@pytest.mark.parametrize("batch", BATCHES, ids=[" / ".join(b) for b in BATCHES])
def test_reply_bytes_match_redis(ports, batch, hello):
    assert_same_bytes(ports, hello + lines(*batch))


def test_resp3_subscriber_runs_any_command_and_gets_pushes(ports):
    batch = ("SUBSCRIBE a", "SET k v", "GET k", "PING", "PUBLISH a mine", "PSUBSCRIBE *", "PUBLISH a two")
    assert_same_bytes(ports, HELLO3 + lines(*batch, "HELLO 2", "GET k", "PING", "UNSUBSCRIBE", "PING"))


# -- deliveries between connections -------------------------------------------------------------------


class Subscriber:
    """A raw connection that subscribes, then collects whatever the server pushes to it.

    Each read ends with a ``PING <mark>`` the subscriber sends itself: its reply comes after every
    message published before it, so nothing depends on how fast the messages arrive.  The PING
    replies stay in what is read (both servers must send them alike).
    """

    def __init__(self, port: int, request: bytes) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=HANG_SECONDS)
        self.sock.sendall(request)
        self.pending = self._until_mark()  # the subscriptions are in place once this returns

    def _until_mark(self) -> bytes:
        mark = b"mark-%06d" % next(_marks)  # one width: the same bulk length on both servers
        self.sock.sendall(b"PING " + mark + b"\r\n")
        received = b""
        while not received.endswith(mark + b"\r\n"):
            chunk = self.sock.recv(65536)
            assert chunk, f"connection closed after {received!r}"
            received += chunk
        return received

    def received(self) -> bytes:
        """Everything pushed since the last read, up to and including this read's PING reply."""
        frames, self.pending = self.pending + self._until_mark(), b""
        frames = re.sub(rb"\$2\r\nid\r\n:\d+", b"$2\r\nid\r\n:N", frames)
        return re.sub(rb"mark-\d+", b"mark", frames)


def deliveries(port: int) -> list:
    subscribers = [
        Subscriber(port, lines("SUBSCRIBE news", "PSUBSCRIBE n*")),
        Subscriber(port, HELLO3 + lines("SUBSCRIBE news other", "PSUBSCRIBE *s")),
        Subscriber(port, lines("PSUBSCRIBE [a-z]ews")),
        Subscriber(port, lines("SUBSCRIBE other")),
    ]
    publisher = redis.Redis(port=port, protocol=2)
    counts = [
        publisher.publish("news", "hello"),
        publisher.publish("other", b"\x00binary\r\n"),
        publisher.publish("nobody", "x"),
        publisher.execute_command("PUBSUB", "NUMSUB", "news", "other", "nobody"),
        publisher.execute_command("PUBSUB", "NUMPAT"),
        sorted(publisher.execute_command("PUBSUB", "CHANNELS")),
    ]
    frames = [subscriber.received() for subscriber in subscribers]
    subscribers[1].sock.close()  # a closed subscriber is forgotten
    wait_until(
        lambda: publisher.execute_command("PUBSUB", "NUMSUB", "news")[1] == 1,
        "the server to see the subscriber go",
    )
    counts += [publisher.publish("news", "after close"), publisher.execute_command("PUBSUB", "NUMPAT")]
    return counts + frames + [subscribers[0].received()]


def test_deliveries_match_redis(pair, redis_server, leakdb_server):
    expected = deliveries(redis_server.port)
    assert deliveries(leakdb_server.port) == expected
    assert expected[0] == 5


def test_publish_inside_multi_reaches_subscribers(pair, redis_server, leakdb_server):
    def run(port: int) -> list:
        subscriber = Subscriber(port, lines("SUBSCRIBE t"))
        reply = exchange(port, lines("MULTI", "PUBLISH t one", "PUBLISH t two", "EXEC"))
        return [reply, subscriber.received()]

    assert run(leakdb_server.port) == run(redis_server.port)


def test_client_list_counts_subscriptions(pair, redis_server, leakdb_server):
    def fields(port: int) -> list[bytes]:
        subscriber = Subscriber(port, lines("CLIENT ID", "SUBSCRIBE a b", "PSUBSCRIBE p*"))
        client_id = re.match(rb":(\d+)\r\n", subscriber.received()).group(1)
        listed = exchange(port, b"CLIENT LIST ID " + client_id + b"\r\n")
        return re.findall(rb"(?:flags|sub|psub|multi)=\S*", listed)

    expected = fields(redis_server.port)
    assert fields(leakdb_server.port) == expected
    assert expected[:3] == [b"flags=P", b"sub=2", b"psub=1"]


# -- redis-py's PubSub --------------------------------------------------------------------------------


def listen_session(port: int, protocol: int) -> list:
    client = redis.Redis(port=port, protocol=protocol)
    pubsub = client.pubsub()
    pubsub.subscribe("chan")
    pubsub.psubscribe("pat.*")
    seen = [pubsub.get_message(timeout=HANG_SECONDS), pubsub.get_message(timeout=HANG_SECONDS)]
    client.publish("chan", "one")
    client.publish("pat.x", "two")
    seen += [pubsub.get_message(timeout=HANG_SECONDS), pubsub.get_message(timeout=HANG_SECONDS)]
    pubsub.unsubscribe("chan")
    messages = pubsub.listen()
    seen.append(next(messages))  # the confirmation: the server has unsubscribed before the PUBLISH
    client.publish("pat.y", "three")
    seen.append(next(messages))
    pubsub.punsubscribe()
    seen.append(pubsub.get_message(timeout=HANG_SECONDS))
    seen.append(pubsub.get_message(timeout=0.05))
    pubsub.close()
    client.close()
    return seen


@pytest.mark.parametrize("protocol", [2, 3])
def test_listen_and_get_message_match_redis(pair, redis_server, leakdb_server, protocol):
    expected = listen_session(redis_server.port, protocol)
    assert listen_session(leakdb_server.port, protocol) == expected
    assert expected[2]["data"] == b"one" and expected[3]["type"] == "pmessage"


@pytest.mark.parametrize("protocol", [2, 3])
def test_run_in_thread_with_handlers(leakdb_server, protocol):
    client = redis.Redis(port=leakdb_server.port, protocol=protocol)
    pubsub = client.pubsub()
    received = []
    done = threading.Event()

    def handler(message: dict) -> None:
        received.append((message["type"], message["channel"], message["data"]))
        if len(received) == 3:
            done.set()

    pubsub.subscribe(**{"jobs": handler})
    pubsub.psubscribe(**{"events.*": handler})
    worker = pubsub.run_in_thread(sleep_time=0.01, daemon=True)
    try:
        wait_until(lambda: client.execute_command("PUBSUB", "NUMPAT") == 1, "the pattern subscription")
        assert client.publish("jobs", "j1") == 1
        assert client.publish("events.a", "e1") == 1
        assert client.publish("jobs", "j2") == 1
        assert done.wait(HANG_SECONDS)
    finally:
        worker.stop()
        worker.join(HANG_SECONDS)
        pubsub.close()
    assert received == [
        ("message", b"jobs", b"j1"),
        ("pmessage", b"events.a", b"e1"),
        ("message", b"jobs", b"j2"),
    ]


def test_subscriber_is_restricted_in_resp2_through_redis_py(pair, redis_server, leakdb_server):
    def run(port: int) -> list:
        pubsub = redis.Redis(port=port, protocol=2).pubsub()
        pubsub.subscribe("c")
        pubsub.get_message(timeout=HANG_SECONDS)
        pubsub.execute_command("GET", "k")
        try:
            error = pubsub.parse_response(timeout=HANG_SECONDS)
        except redis.ResponseError as exc:
            error = exc
        pubsub.ping("hi")
        pong = pubsub.get_message(timeout=HANG_SECONDS)
        pubsub.close()
        return [str(error), pong]

    expected = run(redis_server.port)
    assert run(leakdb_server.port) == expected
    assert "only (P|S)SUBSCRIBE" in expected[0]
