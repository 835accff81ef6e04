"""Byte-exact exchanges with two servers, for the scripting tests: send whole requests on one connection
and read the replies up to a sentinel, so a comparison costs one round trip instead of a timeout."""

from __future__ import annotations

import re
import socket

SENTINEL = b"__leakdb_scripting_sentinel__"
HELLO_3 = re.compile(rb"\A%7\r\n.*?\$7\r\nmodules\r\n\*0\r\n", re.DOTALL)


def encode(args: tuple) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def exchange(port: int, *commands: tuple, resp3: bool = False, timeout: float = 20.0) -> bytes:
    """The raw replies to `commands` (after HELLO 3 when `resp3`, whose own reply is left out)."""
    payload = (encode(("HELLO", "3")) if resp3 else b"") + b"".join(encode(c) for c in commands)
    ending = b"$%d\r\n%s\r\n" % (len(SENTINEL), SENTINEL)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(payload + encode(("ECHO", SENTINEL)))
        received = b""
        while not received.endswith(ending):
            chunk = sock.recv(65536)
            if not chunk:
                raise AssertionError(f"connection closed after {received!r}")
            received += chunk
    replies = received[: -len(ending)]
    return HELLO_3.sub(b"", replies, count=1) if resp3 else replies


def assert_same(oracle: int, ours: int, *commands: tuple, resp3: bool = False) -> bytes:
    expected = exchange(oracle, *commands, resp3=resp3)
    actual = exchange(ours, *commands, resp3=resp3)
    assert actual == expected, (
        f"{commands!r} (RESP{3 if resp3 else 2}):\n redis  {expected!r}\n leakdb {actual!r}"
    )
    return actual


def _reply_end(data: bytes, position: int) -> int:
    """Where the RESP2/RESP3 reply starting at `position` ends."""
    kind = data[position : position + 1]
    line_end = data.index(b"\r\n", position)
    header = data[position + 1 : line_end]
    position = line_end + 2
    if kind in (b"$", b"=", b"!"):
        length = int(header)
        return position if length < 0 else position + length + 2
    if kind in (b"*", b"~", b">", b"%", b"|"):
        count = int(header)
        if count < 0:
            return position
        if kind in (b"%", b"|"):
            count *= 2
        for _ in range(count):
            position = _reply_end(data, position)
        if kind == b"|":  # attributes precede the reply they describe
            position = _reply_end(data, position)
        return position
    return position  # + - : _ # , (


def split_replies(data: bytes) -> list[bytes]:
    replies = []
    position = 0
    while position < len(data):
        end = _reply_end(data, position)
        replies.append(data[position:end])
        position = end
    return replies


def assert_scripts_same(oracle: int, ours: int, scripts: list[str], resp3: bool = False) -> None:
    """Run each script with EVAL on both servers (one pipeline each) and compare reply by reply."""
    commands = [("EVAL", script, "0") for script in scripts]
    expected = split_replies(exchange(oracle, *commands, resp3=resp3))
    actual = split_replies(exchange(ours, *commands, resp3=resp3))
    assert len(expected) == len(actual) == len(scripts)
    wrong = [
        f"{script!r}:\n   redis  {want!r}\n   leakdb {got!r}"
        for script, want, got in zip(scripts, expected, actual, strict=True)
        if want != got
    ]
    assert not wrong, f"RESP{3 if resp3 else 2}, {len(wrong)} scripts differ:\n" + "\n".join(wrong)


def chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[start : start + size] for start in range(0, len(items), size)]
