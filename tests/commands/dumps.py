"""Helpers for the DUMP / RESTORE / MIGRATE tests: exact reply bytes over a raw socket, a value read
back whole through commands, extra redis-server processes, and RDB payloads built by hand (the old
encodings Redis 7.0 reads but no longer writes)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import hiredis
import pytest
import redis
from conftest import ServerProcess, free_port, require

from leakdb.rdb.crc64 import crc64

Arg = bytes | str | int | float


def encode_request(*args: Arg) -> bytes:
    parts = [arg if isinstance(arg, bytes) else str(arg).encode() for arg in args]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(part), part) for part in parts)


class RawSession:
    """A socket that returns the exact bytes of each reply (counted with hiredis, never by waiting)."""

    def __init__(self, port: int, resp3: bool = False) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.reader = hiredis.Reader()
        self.buffer = b""
        if resp3:
            self.send(("HELLO", "3"))

    def send(self, *commands: tuple[Arg, ...]) -> bytes:
        """The replies to these commands, concatenated as they arrived."""
        self.sock.sendall(b"".join(encode_request(*command) for command in commands))
        received = bytearray()
        replies = 0
        while replies < len(commands):
            if self.reader.gets() is not False:
                replies += 1
                continue
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            received += chunk
            self.reader.feed(chunk)
        return bytes(received)

    def close(self) -> None:
        self.sock.close()


def read_value(client: redis.Redis, key: Arg) -> tuple[Any, ...]:
    """Everything a client can see of a key's value, in the order the server gives it."""
    kind = client.type(key)
    if kind == b"string":
        content: Any = client.get(key)
    elif kind == b"list":
        content = client.lrange(key, 0, -1)
    elif kind == b"set":
        content = sorted(client.smembers(key))
    elif kind == b"zset":
        content = client.zrange(key, 0, -1, withscores=True)
    elif kind == b"hash":
        content = sorted(client.hgetall(key).items())
    elif kind == b"stream":
        content = client.xrange(key)
    else:
        content = None
    return kind, content


def listed_order(client: redis.Redis, key: Arg) -> list[bytes]:
    """The field order HGETALL gives: the insertion order of a listpack-encoded hash."""
    return list(client.hgetall(key))


@pytest.fixture
def start_redis() -> Iterator[Any]:
    """Start a redis-server with extra arguments; stopped after the test."""
    started: list[ServerProcess] = []

    def start(*extra: str) -> ServerProcess:
        port = free_port()
        argv = [require("redis-server"), "--port", str(port), "--save", "", "--appendonly", "no"]
        server = ServerProcess([*argv, "--bind", "127.0.0.1", *extra], port)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


# -- payloads by hand ------------------------------------------------------------------------------


def payload(body: bytes, version: int = 10) -> bytes:
    """A DUMP payload around `body` (type byte and value): version and a correct CRC-64."""
    framed = body + version.to_bytes(2, "little")
    return framed + crc64(framed).to_bytes(8, "little")


def length(value: int) -> bytes:
    if value < 64:
        return bytes((value,))
    if value < 16384:
        return bytes((0x40 | value >> 8, value & 0xFF))
    return b"\x80" + value.to_bytes(4, "big")


def rdb_string(value: bytes) -> bytes:
    return length(len(value)) + value


def ziplist(items: list[bytes | int]) -> bytes:
    """A ziplist as Redis 6 wrote them (previous-entry lengths, string and integer encodings)."""
    entries = []
    previous = 0
    for item in items:
        head = bytes((previous,)) if previous < 254 else b"\xfe" + previous.to_bytes(4, "little")
        if isinstance(item, int):
            if 0 <= item <= 12:
                encoded = bytes((0xF1 + item,))
            elif -128 <= item <= 127:
                encoded = b"\xfe" + item.to_bytes(1, "little", signed=True)
            elif -(2**15) <= item < 2**15:
                encoded = b"\xc0" + item.to_bytes(2, "little", signed=True)
            elif -(2**23) <= item < 2**23:
                encoded = b"\xf0" + item.to_bytes(3, "little", signed=True)
            elif -(2**31) <= item < 2**31:
                encoded = b"\xd0" + item.to_bytes(4, "little", signed=True)
            else:
                encoded = b"\xe0" + item.to_bytes(8, "little", signed=True)
        elif len(item) < 64:
            encoded = bytes((len(item),)) + item
        elif len(item) < 16384:
            encoded = bytes((0x40 | len(item) >> 8, len(item) & 0xFF)) + item
        else:
            encoded = b"\x80" + len(item).to_bytes(4, "big") + item
        entries.append(head + encoded)
        previous = len(head + encoded)
    body = b"".join(entries)
    tail = 10 + len(body) - (len(entries[-1]) if entries else 0)
    header = (11 + len(body)).to_bytes(4, "little") + tail.to_bytes(4, "little")
    return header + len(items).to_bytes(2, "little") + body + b"\xff"


def zipmap(pairs: list[tuple[bytes, bytes]]) -> bytes:
    """A zipmap as Redis 2.4 wrote small hashes (one free byte after each value)."""
    body = b"".join(bytes((len(f),)) + f + bytes((len(v),)) + b"\x00" + v for f, v in pairs)
    return bytes((len(pairs),)) + body + b"\xff"


# -- streams with consumer groups: the clock readings in a payload -----------------------------------


class _Cursor:
    """Reads RDB lengths and strings from a payload, written here independently of leakdb.rdb."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def take(self, count: int) -> bytes:
        chunk = self.data[self.position : self.position + count]
        assert len(chunk) == count, "payload ends early"
        self.position += count
        return chunk

    def length(self) -> int:
        first = self.take(1)[0]
        kind = first >> 6
        if kind == 0:
            return first & 0x3F
        if kind == 1:
            return (first & 0x3F) << 8 | self.take(1)[0]
        assert first in (0x80, 0x81), f"not a length: {first:#x}"
        return int.from_bytes(self.take(4 if first == 0x80 else 8), "big")

    def skip_string(self) -> None:
        first = self.data[self.position]
        if first >> 6 != 3:
            self.take(self.length())
            return
        self.position += 1
        special = first & 0x3F
        if special in (0, 1, 2):  # an integer of 1, 2 or 4 bytes
            self.take(1 << special)
        else:
            assert special == 3, "unknown string encoding"
            compressed = self.length()
            self.length()
            self.take(compressed)


def stream_clocks(payload: bytes) -> tuple[bytes, list[int]]:
    """A type-19 stream payload with its clock readings (each pending entry's delivery time, each
    consumer's seen time) zeroed and its CRC dropped, and the readings in the order they appear."""
    assert payload[0] == 19, "not a Redis 7.0 stream"
    cursor = _Cursor(payload)
    cursor.take(1)
    for _ in range(cursor.length()):  # nodes: a master ID and a listpack each
        cursor.skip_string()
        cursor.skip_string()
    for _ in range(8):  # length, last ID, first ID, largest deleted ID, entries added
        cursor.length()
    masked = bytearray(payload[:-8])
    times = []

    def clock() -> None:
        times.append(int.from_bytes(cursor.take(8), "little", signed=True))
        masked[cursor.position - 8 : cursor.position] = bytes(8)

    for _ in range(cursor.length()):  # groups
        cursor.skip_string()
        for _ in range(3):  # last delivered ID, entries read
            cursor.length()
        for _ in range(cursor.length()):  # the group's pending entries
            cursor.take(16)
            clock()
            cursor.length()
        for _ in range(cursor.length()):  # consumers
            cursor.skip_string()
            clock()
            cursor.take(16 * cursor.length())
    assert cursor.position == len(payload) - 10, "bytes left after the groups"
    return bytes(masked), times
