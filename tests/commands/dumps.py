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
