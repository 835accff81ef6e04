"""Comparing stream replies of redis-server and leakdb byte for byte, except the clock readings in them.

Consumer groups report times: idle times (XPENDING, XINFO CONSUMERS) and absolute times (XINFO STREAM
FULL's delivery and seen times).  Two servers read their clocks at slightly different moments, so
those integers may differ; everything else in a reply must be the same bytes.  :func:`same_but_times`
parses both replies into RESP trees, finds the time fields by where they sit, and accepts two values
that differ by no more than the time the test has been running (any two readings of one machine's
clock during the test do): a bound that a slow machine only widens, never breaks.  Exact idle values
are checked separately, against LeakDB with its clock under the test's control.
"""

from __future__ import annotations

import re
import socket
import time
from dataclasses import dataclass, field

STREAM_ID = re.compile(rb"\A[0-9]+-[0-9]+\Z")


@dataclass
class Node:
    """One RESP value: its type byte, and its payload (bytes) or children (aggregates)."""

    kind: bytes
    payload: bytes = b""
    children: list[Node] = field(default_factory=list)


def parse(raw: bytes, position: int = 0) -> tuple[Node, int]:
    line_end = raw.index(b"\r\n", position)
    kind, head = raw[position : position + 1], raw[position + 1 : line_end]
    position = line_end + 2
    if kind in b"$=!":
        size = int(head)
        if size < 0:
            return Node(kind, head), position
        return Node(kind, raw[position : position + size]), position + size + 2
    if kind in b"*~>%|":
        count = int(head)
        node = Node(kind, head)
        for _ in range(max(count, 0) * (2 if kind in b"%|" else 1)):
            child, position = parse(raw, position)
            node.children.append(child)
        return node, position
    return Node(kind, head), position


def parse_all(raw: bytes) -> list[Node]:
    nodes, position = [], 0
    while position < len(raw):
        node, position = parse(raw, position)
        nodes.append(node)
    return nodes


def _is_id(node: Node) -> bool:
    return node.kind == b"$" and STREAM_ID.match(node.payload) is not None


def _time_positions(node: Node) -> set[int]:
    """Which children of an aggregate are clock readings: the value after "idle" or "seen-time", the
    third of an [id, consumer, time, count] row, the second of an [id, time, count] row."""
    children = node.children
    found = set()
    for index, child in enumerate(children[:-1]):
        if child.kind == b"$" and child.payload in (b"idle", b"seen-time"):
            found.add(index + 1)
    if node.kind != b"*" or not children or not _is_id(children[0]):
        return found
    kinds = [child.kind for child in children]
    if kinds[1:] == [b"$", b":", b":"]:
        found.add(2)
    elif kinds[1:] == [b":", b":"]:
        found.add(1)
    return found


def _compare(expected: Node, actual: Node, tolerance_ms: int, path: str) -> None:
    assert (expected.kind, len(expected.children)) == (actual.kind, len(actual.children)), path
    if not expected.children:
        assert expected.payload == actual.payload, f"{path}: {expected.payload!r} != {actual.payload!r}"
        return
    times = _time_positions(expected)
    for index, (mine, theirs) in enumerate(zip(expected.children, actual.children, strict=True)):
        where = f"{path}[{index}]"
        if index in times and mine.kind == b":" and theirs.kind == b":":
            gap = abs(int(mine.payload) - int(theirs.payload))
            assert gap <= tolerance_ms, f"{where}: times {mine.payload!r} and {theirs.payload!r}"
            assert int(theirs.payload) >= 0, where
        else:
            _compare(mine, theirs, tolerance_ms, where)


def same_but_times(expected: bytes, actual: bytes, tolerance_ms: int) -> None:
    """Assert two replies are identical but for clock readings at most `tolerance_ms` apart."""
    if expected == actual:
        return
    try:
        mine, theirs = parse_all(expected), parse_all(actual)
    except (ValueError, IndexError):
        raise AssertionError(f"redis {expected!r}, leakdb {actual!r}") from None
    assert len(mine) == len(theirs), f"redis {expected!r}, leakdb {actual!r}"
    for index, (one, other) in enumerate(zip(mine, theirs, strict=True)):
        try:
            _compare(one, other, tolerance_ms, f"reply {index}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nredis  {expected!r}\nleakdb {actual!r}") from None


def reply_end(buffer: bytes, position: int) -> int:
    """The index just past the reply starting at `position`, or -1 while it is incomplete."""
    try:
        return parse(buffer, position)[1] if position < len(buffer) else -1
    except (ValueError, IndexError):
        return -1


class Connection:
    """A raw RESP connection to one server: send commands, receive each reply's exact bytes."""

    def __init__(self, port: int, protocol: int = 2) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buffer = b""
        if protocol == 3:
            self.call(b"HELLO", b"3")

    def send(self, *commands: tuple[bytes | str, ...]) -> None:
        payload = []
        for args in commands:
            parts = [arg if isinstance(arg, bytes) else str(arg).encode() for arg in args]
            payload.append(b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))
        self.sock.sendall(b"".join(payload))

    def receive(self, count: int = 1) -> list[bytes]:
        replies = []
        while len(replies) < count:
            end = reply_end(self.buffer, 0)
            if end < 0:
                chunk = self.sock.recv(1 << 16)
                assert chunk, "connection closed"
                self.buffer += chunk
                continue
            replies.append(self.buffer[:end])
            self.buffer = self.buffer[end:]
        return replies

    def call(self, *args: bytes | str) -> bytes:
        self.send(args)
        return self.receive()[0]

    def close(self) -> None:
        self.sock.close()


class Pair:
    """The same commands to redis-server and leakdb, their replies compared with :func:`same_but_times`."""

    def __init__(self, oracle_port: int, our_port: int, protocol: int = 2) -> None:
        self.started = time.monotonic()
        self.oracle = Connection(oracle_port, protocol)
        self.ours = Connection(our_port, protocol)

    def tolerance_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000) + 2

    def same(self, *args: bytes | str) -> bytes:
        expected, actual = self.oracle.call(*args), self.ours.call(*args)
        same_but_times(expected, actual, self.tolerance_ms())
        return actual

    def same_batch(self, *commands: tuple[bytes | str, ...]) -> list[bytes]:
        """Pipeline `commands` to each server (one round trip each) and compare every reply."""
        self.oracle.send(*commands)
        self.ours.send(*commands)
        expected, actual = self.oracle.receive(len(commands)), self.ours.receive(len(commands))
        tolerance = self.tolerance_ms()
        for command, want, got in zip(commands, expected, actual, strict=True):
            try:
                same_but_times(want, got, tolerance)
            except AssertionError as exc:
                raise AssertionError(f"{command!r}: {exc}") from None
        return actual

    def both(self, *args: bytes | str) -> tuple[bytes, bytes]:
        return self.oracle.call(*args), self.ours.call(*args)

    def close(self) -> None:
        self.oracle.close()
        self.ours.close()
