"""Clients that do not read their replies: client-output-buffer-limit (normal, replica, pubsub; hard
and soft limits), maxmemory-clients (client eviction) and the back-pressure that keeps LeakDB from
building replies nobody reads.  CONFIG GET/SET is compared with a real redis-server byte for byte;
the disconnections and evictions are checked through INFO and CLIENT LIST, never by timing.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
import redis
from conftest import ServerProcess, free_port, raw_exchange, require

BIG = 1024 * 1024


@pytest.fixture
def oracle() -> Iterator[ServerProcess]:
    """A redis-server of this test's own, since these tests change its limits."""
    port = free_port()
    server = ServerProcess([require("redis-server"), "--port", str(port), "--save", ""], port)
    yield server
    server.stop()


def command(*args: str) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a.encode()), a.encode()) for a in args)


CONFIG_CASES = [
    ("client-output-buffer-limit", "normal 1mb 0 0"),
    ("client-output-buffer-limit", "Normal 1MB 2Gb 5"),
    ("client-output-buffer-limit", "replica 1k 2k 3"),
    ("client-output-buffer-limit", "slave 256mb 64mb 60 pubsub 1 2 3"),
    ("client-output-buffer-limit", "normal 1 2 3 normal 4 5 6"),
    ("client-output-buffer-limit", ""),
    ("client-output-buffer-limit", "normal 1mb 0"),
    ("client-output-buffer-limit", "foo 1 2 3"),
    ("client-output-buffer-limit", "master 1 2 3"),
    ("client-output-buffer-limit", "normal x 0 0"),
    ("client-output-buffer-limit", "normal 1 2 -1"),
    ("client-output-buffer-limit", "normal -1 2 3"),
    ("client-output-buffer-limit", "pubsub 1 2 3.5"),
    ("client-output-buffer-limit", "normal 1 2 99999999999999999999"),
    ("client-output-buffer-limit", "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"),
    ("maxmemory-clients", "10%"),
    ("maxmemory-clients", "1mb"),
    ("maxmemory-clients", "5k"),
    ("maxmemory-clients", "100%"),
    ("maxmemory-clients", "0%"),
    ("maxmemory-clients", "-1"),
    ("maxmemory-clients", "101%"),
    ("maxmemory-clients", "1.5%"),
    ("maxmemory-clients", "abc"),
    ("maxmemory-clients", " 10%"),
    ("maxmemory-clients", "0"),
]


@pytest.mark.parametrize("resp3", [False, True])
def test_config_get_and_set_of_the_limits_match_redis_byte_for_byte(start_leakdb, oracle, resp3):
    ours = start_leakdb("--storage", "memory")
    # HELLO's reply holds a connection id: compare what follows the echoed marker after it.
    hello = command("HELLO", "3") + command("ECHO", "MARK") if resp3 else b""
    for name, value in CONFIG_CASES:
        payload = hello + command("CONFIG", "SET", name, value) + command("CONFIG", "GET", name)
        expected = raw_exchange(oracle.port, payload).split(b"$4\r\nMARK\r\n")[-1]
        actual = raw_exchange(ours.port, payload).split(b"$4\r\nMARK\r\n")[-1]
        assert actual == expected, f"CONFIG SET {name} {value!r}: redis {expected!r}, leakdb {actual!r}"
    get_all = command("CONFIG", "GET", "*output-buffer*") + command("CONFIG", "GET", "maxmemory-c*")
    assert raw_exchange(ours.port, get_all) == raw_exchange(oracle.port, get_all)


def test_the_limits_from_flags_merge_into_redis_defaults(start_leakdb):
    server = start_leakdb(
        "--storage",
        "memory",
        "--client-output-buffer-limit",
        "pubsub 1mb 512kb 5",
        "--maxmemory-clients",
        "5%",
    )
    client = server.client()
    assert client.config_get("client-output-buffer-limit") == {
        "client-output-buffer-limit": "normal 0 0 0 slave 268435456 67108864 60 pubsub 1048576 524288 5"
    }
    assert client.config_get("maxmemory-clients") == {"maxmemory-clients": "5%"}


def stalled(port: int, requests: bytes) -> socket.socket:
    """A connection that sends `requests` and never reads (with a tiny receive window)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(requests)
    return sock


def wait_for(condition, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def listed(client: redis.Redis, name: str) -> dict | None:
    return next((c for c in client.client_list() if c["name"] == name), None)


def test_replies_nobody_reads_are_not_built_ahead_and_arrive_whole_later(start_leakdb):
    server = start_leakdb("--storage", "memory")
    admin = server.client()
    admin.set("big", b"v" * BIG)
    produced_before = admin.info("stats")["total_net_output_bytes"]
    reader = stalled(server.port, command("CLIENT", "SETNAME", "reader") + command("GET", "big") * 100)
    wait_for(lambda: (listed(admin, "reader") or {}).get("omem", "0") != "0", "its buffer to fill")
    assert admin.ping() is True
    produced = admin.info("stats")["total_net_output_bytes"] - produced_before
    assert produced < 10 * BIG, produced  # 100 MB were asked for; a few replies were built
    assert int(listed(admin, "reader")["qbuf"]) > 0  # the other requests wait, unparsed
    # Reading now gets every reply, whole and in order.
    expected = b"+OK\r\n" + (b"$%d\r\n" % BIG + b"v" * BIG + b"\r\n") * 100
    received = bytearray()
    reader.settimeout(30)
    while len(received) < len(expected):
        chunk = reader.recv(1 << 20)
        assert chunk, "connection closed"
        received += chunk
    assert bytes(received) == expected
    reader.close()


def test_hard_limit_of_the_pubsub_class_drops_a_subscriber_that_never_reads(start_leakdb):
    server = start_leakdb("--storage", "memory")
    admin = server.client()
    admin.config_set("client-output-buffer-limit", "pubsub 256kb 0 0")
    subscriber = stalled(server.port, command("CLIENT", "SETNAME", "sub") + command("SUBSCRIBE", "news"))
    wait_for(lambda: admin.pubsub_numsub("news") == [(b"news", 1)], "the subscription")
    message = "m" * 10_000
    for _ in range(3000):  # up to 30 MB, never read: past what the kernel buffers, then past 256 KB
        if admin.publish("news", message) == 0:
            break
    wait_for(lambda: listed(admin, "sub") is None, "the subscriber to be dropped")
    assert admin.pubsub_numsub("news") == [(b"news", 0)]
    assert admin.ping() is True
    subscriber.close()


def test_soft_limit_drops_a_client_over_it_for_longer_than_its_seconds(start_leakdb):
    server = start_leakdb("--storage", "memory")
    admin = server.client()
    admin.set("big", b"v" * 100_000)
    admin.config_set("client-output-buffer-limit", "normal 0 512kb 1")
    slow = stalled(server.port, command("CLIENT", "SETNAME", "slow") + command("GET", "big") * 300)
    # Replies are built up to the soft limit (the client is then over it, as in Redis) ...
    wait_for(lambda: int((listed(admin, "slow") or {"omem": 10**9})["omem"]) > 512 * 1024, "over soft")
    # ... and after more than 1 second over it the client is gone.
    wait_for(lambda: listed(admin, "slow") is None, "the soft limit to drop it")
    assert admin.ping() is True
    slow.close()


def test_maxmemory_clients_evicts_the_biggest_clients_first_but_never_no_evict_ones(start_leakdb):
    server = start_leakdb("--storage", "memory")
    admin = server.client()
    admin.client_no_evict("on")
    admin.set("big", b"v" * BIG)
    requests = command("GET", "big") * 20
    kept = stalled(
        server.port, command("CLIENT", "SETNAME", "kept") + command("CLIENT", "NO-EVICT", "on") + requests
    )
    gone = stalled(server.port, command("CLIENT", "SETNAME", "gone") + requests)
    for name in ("kept", "gone"):
        wait_for(lambda name=name: int((listed(admin, name) or {"omem": 0})["omem"]) > 0, f"{name} to stall")
    for name in ("kept", "gone"):
        entry = listed(admin, name)
        assert int(entry["tot-mem"]) >= int(entry["omem"]) + int(entry["qbuf"]) > 0
    clients_memory = admin.info("memory")["mem_clients_normal"]
    assert clients_memory >= sum(int(listed(admin, n)["omem"]) for n in ("kept", "gone"))
    assert admin.info("clients")["client_recent_max_output_buffer"] > 0
    assert "e" in listed(admin, "kept")["flags"]
    admin.config_set("maxmemory-clients", "128kb")  # far below what the two hold
    wait_for(lambda: listed(admin, "gone") is None, "the eviction")
    assert listed(admin, "kept") is not None  # NO-EVICT: over the limit, and kept
    assert admin.info("stats")["evicted_clients"] == 1
    assert admin.ping() is True
    admin.config_set("maxmemory-clients", "0")
    for sock in (kept, gone):
        sock.close()


def test_maxmemory_clients_as_a_percentage_needs_maxmemory(start_leakdb):
    server = start_leakdb("--storage", "memory", "--maxmemory-clients", "1%")
    admin = server.client()
    admin.set("big", b"v" * BIG)
    sock = stalled(server.port, command("CLIENT", "SETNAME", "big") + command("GET", "big") * 5)
    wait_for(lambda: int((listed(admin, "big") or {"omem": 0})["omem"]) > 0, "it to stall")
    assert admin.info("stats")["evicted_clients"] == 0  # 1% of no maxmemory: no limit
    admin.config_set("maxmemory", "10mb")  # 1% is 100 KB, so Redis's floor of 128 KB: far exceeded
    wait_for(lambda: listed(admin, "big") is None, "the eviction")
    assert admin.info("stats")["evicted_clients"] == 1
    sock.close()
