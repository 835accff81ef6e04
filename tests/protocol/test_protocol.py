"""Request framing over real sockets: split frames, big pipelines, redis-cli --pipe, protocol errors."""

from __future__ import annotations

import socket
import subprocess

import redis
from conftest import HANG_SECONDS, raw_exchange, require, wait_until


def encode(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def read_replies(sock: socket.socket, count: int, timeout: float = HANG_SECONDS) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while data.count(b"\r\n") < count:
        chunk = sock.recv(1 << 20)
        assert chunk, "server closed the connection"
        data += chunk
    return data


class ReadCounter:
    """Tells when the server has read a number of bytes more, from INFO's total_net_input_bytes (less
    what the INFO requests themselves add): a split request is then known to arrive in two reads."""

    def __init__(self, admin: redis.Redis) -> None:
        self.admin = admin
        first = self._total()
        self.per_request = self._total() - first
        self.base = self._total()

    def _total(self) -> int:
        return self.admin.info("stats")["total_net_input_bytes"]

    def wait_for(self, count: int) -> None:
        asked = 0

        def read_enough() -> bool:
            nonlocal asked
            asked += 1
            return self._total() - self.base - asked * self.per_request >= count

        wait_until(read_enough, f"the server to read {count} bytes")
        self.base = self._total()


def test_requests_split_between_elements_after_a_large_read(leakdb_server, r):
    # hiredis compacts its buffer after 1 KiB; a read that then ends between two elements of a
    # request used to make the next read look like an inline command.
    head = b"".join(encode(b"SET", b"key:%05d" % i, b"v" * 20) for i in range(100))
    partial = b"*3\r\n$3\r\nSET\r\n"
    rest = b"$5\r\nsplit\r\n$5\r\nvalue\r\n"
    counter = ReadCounter(r)
    with socket.create_connection(("127.0.0.1", leakdb_server.port)) as sock:
        sock.sendall(head + partial)
        counter.wait_for(len(head + partial))
        sock.sendall(rest)
        replies = read_replies(sock, 101)
    assert replies == b"+OK\r\n" * 101
    assert r.get("split") == b"value"


def test_every_split_point_of_a_request(leakdb_server, r):
    value = b"\x00*3\r\n$1\r\n"
    request = encode(b"SET", b"k\r\nx", value) + encode(b"GET", b"k\r\nx")
    expected = b"+OK\r\n$%d\r\n%s\r\n" % (len(value), value)
    counter = ReadCounter(r)
    for cut in range(1, len(request)):
        with socket.create_connection(("127.0.0.1", leakdb_server.port)) as sock:
            sock.sendall(request[:cut])
            counter.wait_for(cut)  # the first part is read on its own
            sock.sendall(request[cut:])
            assert read_replies(sock, expected.count(b"\r\n")) == expected, cut


def test_redis_cli_pipe_mass_insert(leakdb_server, r):
    redis_cli = require("redis-cli")
    count = 20000
    payload = b"".join(encode(b"SET", b"mass:%06d" % i, b"%d" % i) for i in range(count))
    result = subprocess.run(
        [redis_cli, "-p", str(leakdb_server.port), "--pipe"],
        input=payload,
        capture_output=True,
        timeout=HANG_SECONDS,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert b"errors: 0, replies: %d" % count in result.stdout
    assert r.dbsize() == count
    assert r.get("mass:019999") == b"19999"


def test_inline_then_multibulk_on_one_connection(leakdb_server):
    payload = b"SET a 1\r\n" + encode(b"GET", b"a") + encode(b"INCR", b"a")
    assert raw_exchange(leakdb_server.port, payload) == b"+OK\r\n$1\r\n1\r\n:2\r\n"


def test_protocol_error_leaves_other_clients_and_data_alone(leakdb_server, r):
    r.set("kept", "yes")
    with socket.create_connection(("127.0.0.1", leakdb_server.port)) as other:
        other.sendall(encode(b"PING"))
        assert read_replies(other, 1) == b"+PONG\r\n"
        reply = raw_exchange(leakdb_server.port, b"*2\r\n$3\r\nGET\r\n$abc\r\n", expect_close=True)
        assert reply == b"-ERR Protocol error: invalid bulk length\r\n"
        other.sendall(encode(b"GET", b"kept"))
        assert read_replies(other, 2) == b"$3\r\nyes\r\n"


def test_auth_applies_to_the_requests_pipelined_after_it(start_leakdb):
    server = start_leakdb("--storage", "memory", "--requirepass", "secret")
    payload = encode(b"PING") + encode(b"AUTH", b"secret") + encode(b"PING") + encode(b"RESET")
    payload += encode(b"PING")
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(payload)
        replies = read_replies(sock, 5)
    assert replies == (
        b"-NOAUTH Authentication required.\r\n+OK\r\n+PONG\r\n+RESET\r\n-NOAUTH Authentication required.\r\n"
    )
