"""RESP2 and RESP3, sans I/O: request parsing (hiredis for multibulk, our own for inline) and reply encoding.

Nothing here touches a socket.  :class:`RequestParser` turns bytes into commands (lists of ``bytes``);
:data:`RESP2` and :data:`RESP3` encode reply values as bytes ready to send.  Hot commands use the
constants and :func:`bulk` / :func:`integer` directly; everything else may call ``protocol.encode``.
"""

from __future__ import annotations

import math
import re
from collections import deque
from typing import Any

import hiredis

from .errors import CommandError

CRLF = b"\r\n"
OK = b"+OK\r\n"
PONG = b"+PONG\r\n"
QUEUED = b"+QUEUED\r\n"
ZERO = b":0\r\n"
ONE = b":1\r\n"
EMPTY_ARRAY = b"*0\r\n"

PROTO_INLINE_MAX_SIZE = 64 * 1024
DEFAULT_MAX_BULK_LEN = 512 * 1024 * 1024
DEFAULT_MAX_MULTIBULK_LEN = 2**31 - 1  # Redis 7.0 refuses a multibulk count above INT_MAX
DEFAULT_QUERY_BUFFER_LIMIT = 1024 * 1024 * 1024
# The end of a read that may be the start of a header line whose number is still to come.
# One translated copy of a read answers two questions with a find() each: digits read as '0' and '*'
# as '$' show a header with a long length ("$000000000"); '\r' read as '\n' shows a blank line as
# three newlines in a row (a line end is two).
_SHAPE = bytes.maketrans(b"0123456789*\r", b"0000000000$\n")
_PARTIAL_HEADER = re.compile(rb"[*$][0-9]{0,20}\r?\Z")
_NEGATIVE_COUNT = re.compile(rb"\*-[0-9]+\r\n")


class ProtocolError(Exception):
    """Bytes that are not a valid request; the reply is ``-ERR Protocol error: <message>``."""

    def reply(self) -> bytes:
        return b"-ERR Protocol error: %s\r\n" % str(self).encode()


class QueryBufferLimit(ProtocolError):
    """A client whose unparsed request outgrew client-query-buffer-limit: closed with no reply, as
    Redis closes it."""

    def reply(self) -> bytes:
        return b""


class SimpleString(str):
    """A str to be sent as a RESP simple string (``+text``) rather than a bulk string."""


class Verbatim(str):
    """A str sent as a RESP3 verbatim string (``=``), a bulk string in RESP2 (INFO uses it)."""


class Push(list):
    """An out-of-band RESP3 push (``>``); an array in RESP2 (pub/sub messages)."""


class BigNumber(int):
    """An int sent as a RESP3 big number (``(``), a bulk string in RESP2."""


def bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


def integer(value: int) -> bytes:
    return b":%d\r\n" % value


def simple(text: str) -> bytes:
    return b"+" + text.encode() + CRLF


def error(message: str) -> bytes:
    return b"-" + message.replace("\r", " ").replace("\n", " ").encode() + CRLF


def bulk_array(values: list[bytes]) -> bytes:
    """An array of bulk strings, the most common composite reply (MGET without nulls, KEYS)."""
    parts = [b"*%d\r\n" % len(values)]
    parts.extend(b"$%d\r\n%s\r\n" % (len(v), v) for v in values)
    return b"".join(parts)


def format_double(value: float) -> bytes:
    """A double as Redis writes it in replies: shortest round-trip digits, inf and -inf spelled out."""
    if math.isinf(value):
        return b"inf" if value > 0 else b"-inf"
    if value == int(value) and abs(value) < 1e17:
        return b"%d" % int(value)
    return repr(value).encode()


class Protocol:
    """Encoding rules of one RESP version; a client holds the instance for the version it speaks."""

    def __init__(self, version: int) -> None:
        self.version = version
        resp3 = version == 3
        self.null = b"_\r\n" if resp3 else b"$-1\r\n"
        self.null_array = b"_\r\n" if resp3 else b"*-1\r\n"
        self._map_prefix = b"%" if resp3 else b"*"
        self._set_prefix = b"~" if resp3 else b"*"
        self._push_prefix = b">" if resp3 else b"*"
        self.resp3 = resp3

    def map(self, pairs: list[tuple[Any, Any]] | dict) -> bytes:
        if isinstance(pairs, dict):
            pairs = list(pairs.items())
        count = len(pairs) if self.resp3 else 2 * len(pairs)
        parts = [self._map_prefix + b"%d\r\n" % count]
        for key, value in pairs:
            parts.append(self.encode(key))
            parts.append(self.encode(value))
        return b"".join(parts)

    def set(self, members: Any) -> bytes:
        members = list(members)
        parts = [self._set_prefix + b"%d\r\n" % len(members)]
        parts.extend(self.encode(m) for m in members)
        return b"".join(parts)

    def array(self, items: list[Any]) -> bytes:
        parts = [b"*%d\r\n" % len(items)]
        parts.extend(self.encode(item) for item in items)
        return b"".join(parts)

    def push(self, items: list[Any]) -> bytes:
        parts = [self._push_prefix + b"%d\r\n" % len(items)]
        parts.extend(self.encode(item) for item in items)
        return b"".join(parts)

    def double(self, value: float) -> bytes:
        text = format_double(value)
        if self.resp3:
            return b"," + text + CRLF
        return bulk(text)

    def boolean(self, value: bool) -> bytes:
        if self.resp3:
            return b"#t\r\n" if value else b"#f\r\n"
        return b":1\r\n" if value else b":0\r\n"

    def verbatim(self, text: str, kind: str = "txt") -> bytes:
        data = text.encode()
        if self.resp3:
            return b"=%d\r\n%s:%s\r\n" % (len(data) + 4, kind.encode(), data)
        return bulk(data)

    def big_number(self, value: int) -> bytes:
        if self.resp3:
            return b"(%d\r\n" % value
        return bulk(b"%d" % value)

    def encode(self, value: Any) -> bytes:
        """Encode a Python value: bytes bulk, str bulk (UTF-8), int integer, None null, list array..."""
        kind = type(value)
        if kind is bytes:
            return bulk(value)
        if kind is int:
            return b":%d\r\n" % value
        if kind is str:
            return bulk(value.encode())
        if value is None:
            return self.null
        if kind is bool:
            return self.boolean(value)
        if kind is list or kind is tuple:
            return self.array(list(value))
        if kind is dict:
            return self.map(value)
        if kind is SimpleString:
            return simple(value)
        if kind is Verbatim:
            return self.verbatim(value)
        if kind is Push:
            return self.push(list(value))
        if kind is BigNumber:
            return self.big_number(int(value))
        if kind is float:
            return self.double(value)
        if kind is set or kind is frozenset:
            return self.set(value)
        if isinstance(value, CommandError):
            return error(str(value))
        raise TypeError(f"cannot encode {kind.__name__} as RESP")


RESP2 = Protocol(2)
RESP3 = Protocol(3)


# -- request parsing -------------------------------------------------------------------------------

_HIREDIS_ERRORS = {
    "Bad multi-bulk length": "invalid multibulk length",
    "Bad bulk string length": "invalid bulk length",
    "Bulk string length out of range": "invalid bulk length",
    "Multi-bulk length out of range": "invalid multibulk length",
}


def translate_error(exc: Exception) -> ProtocolError:
    """Turn hiredis's wording into the words Redis uses for the same protocol error."""
    if isinstance(exc, TypeError):
        # hiredis builds RESP3 maps and sets as dicts and sets, and fails on an aggregate used as
        # a key or member: a map or set where Redis wants a bulk string.
        return ProtocolError("expected '$', got '%'")
    text = str(exc)
    if text in _HIREDIS_ERRORS:
        return ProtocolError(_HIREDIS_ERRORS[text])
    if text.startswith('Protocol error, got "') and len(text) > 21:
        return ProtocolError("expected '$', got '%s'" % text[21])
    return ProtocolError(text)


def split_inline(line: bytes) -> list[bytes]:
    """Split an inline command as redis-cli and Redis do: whitespace, "quotes" with escapes, 'quotes'."""
    args: list[bytes] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in b" \t\n\r\x0b\x0c":
            i += 1
        if i >= n:
            return args
        current = bytearray()
        if line[i] == 0x22:  # "
            i += 1
            while True:
                if i >= n:
                    raise ProtocolError("unbalanced quotes in request")
                c = line[i]
                if c == 0x5C and i + 3 < n and line[i + 1] == 0x78 and _is_hex(line[i + 2 : i + 4]):
                    current.append(int(line[i + 2 : i + 4], 16))
                    i += 4
                elif c == 0x5C and i + 1 < n:
                    current.append(_ESCAPES.get(line[i + 1], line[i + 1]))
                    i += 2
                elif c == 0x22:
                    if i + 1 < n and line[i + 1] not in b" \t\n\r\x0b\x0c":
                        raise ProtocolError("unbalanced quotes in request")
                    i += 1
                    break
                else:
                    current.append(c)
                    i += 1
        elif line[i] == 0x27:  # '
            i += 1
            while True:
                if i >= n:
                    raise ProtocolError("unbalanced quotes in request")
                c = line[i]
                if c == 0x5C and i + 1 < n and line[i + 1] == 0x27:
                    current.append(0x27)
                    i += 2
                elif c == 0x27:
                    if i + 1 < n and line[i + 1] not in b" \t\n\r\x0b\x0c":
                        raise ProtocolError("unbalanced quotes in request")
                    i += 1
                    break
                else:
                    current.append(c)
                    i += 1
        else:
            while i < n and line[i] not in b" \t\n\r\x0b\x0c":
                current.append(line[i])
                i += 1
        args.append(bytes(current))


_ESCAPES = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("a"): 7}


def _is_hex(pair: bytes) -> bool:
    return len(pair) == 2 and all(c in b"0123456789abcdefABCDEF" for c in pair)


class RequestParser:
    """Bytes in, commands out.  Multibulk requests go through hiredis; inline ones are split here.

    ``get()`` returns the next complete command as a list of bytes, ``None`` for a request with no
    arguments (an empty line or ``*0``), or ``False`` when more bytes are needed; it raises
    :class:`ProtocolError` for bytes that can never become a valid request.
    """

    def __init__(
        self,
        max_bulk_len: int = DEFAULT_MAX_BULK_LEN,
        max_multibulk_len: int = DEFAULT_MAX_MULTIBULK_LEN,
        query_buffer_limit: int = DEFAULT_QUERY_BUFFER_LIMIT,
    ) -> None:
        self.reader = hiredis.Reader()
        self.inline = bytearray()
        self.ready: deque[list[bytes] | None] = deque()
        self.error: ProtocolError | None = None
        self.line_start = True
        self.max_bulk_len = max_bulk_len
        self.max_multibulk_len = max_multibulk_len
        self.query_buffer_limit = query_buffer_limit
        # hiredis keeps a declared length without checking it against ours, so each read is scanned
        # for headers with enough digits to pass a limit; only those are looked at closely.  The shape
        # of such a header is looked for first (two passes in C, several times faster than the regex,
        # which runs only when the shape is found).  A header split between reads is held back until
        # its line is complete.
        digits = len(str(min(max_bulk_len, max_multibulk_len)))
        self._long_header = re.compile(rb"[*$]([0-9]{%d,})\r\n" % digits)
        self._long_shape = b"$" + b"0" * digits
        self.held = b""

    def feed(self, data: bytes) -> None:
        """Take the bytes of one read; raises QueryBufferLimit when too much is left unparsed."""
        self._feed(data)
        limit = self.query_buffer_limit
        if limit and (self.inline or self.held or self.reader.has_data()) and self.pending() > limit:
            raise QueryBufferLimit("query buffer limit reached")

    def _feed(self, data: bytes) -> None:
        if self.held:
            data = self.held + data
            self.held = b""
        if self.inline:
            self.inline += data
            return
        if self.line_start and data[:1] not in b"*$" and not self.reader.has_data():
            # hiredis stands at a request boundary (or between two elements of a request, where
            # only '$' may come): these bytes are an inline request or blank lines.  hiredis
            # consumes a type byte before the rest of its line arrives, so "all bytes parsed" only
            # means a boundary when the last byte fed ended a line.
            self.inline += data
            return
        # A header cut short can only end a read that does not end a line.
        partial = None if data[-1:] == b"\n" else _PARTIAL_HEADER.search(data, max(0, len(data) - 23))
        if partial is not None:
            self.held = data[partial.start() :]
            data = data[: partial.start()]
            if not data:
                return
        if data.find(b"*-") >= 0:
            data = self._skip_negative_counts(data)
            if self.error is not None:
                return
        shape = data.translate(_SHAPE)
        if shape.find(self._long_shape) >= 0 and self._long_header.search(data):
            data = self._check_headers(data)
            shape = data.translate(_SHAPE)
        self.line_start = data[-1:] == b"\n"
        if shape.find(b"\n\n\n") >= 0 or data[:1] == b"\n":
            self._feed_with_blank_lines(data)
            if self.inline and self.held:  # what was held comes after what went inline
                self.inline += self.held
                self.held = b""
        else:
            self.reader.feed(data)

    def _check_headers(self, data: bytes) -> bytes:
        """Refuse a header declaring more than a limit allows, as Redis does when it reads one; return
        what is still to be fed.  A match may lie inside a bulk string's payload, so it counts only
        where hiredis, fed up to it, has consumed everything: an element or request boundary."""
        fed = 0
        for match in self._long_header.finditer(data):
            star = data[match.start()] == 0x2A
            if int(match.group(1)) <= (self.max_multibulk_len if star else self.max_bulk_len):
                continue
            at = match.start()
            if at < fed or not (data[at - 1] == 0x0A if at else self.line_start):
                continue
            self.reader.feed(data[fed:at])
            fed = at
            self._parse_ready()
            if self.error is not None:
                return b""
            if not self.reader.has_data():
                self.error = ProtocolError("invalid multibulk length" if star else "invalid bulk length")
                return b""
        return data[fed:]

    def _skip_negative_counts(self, data: bytes) -> bytes:
        """Drop a request header with a negative count (``*-10``): Redis ignores it, hiredis refuses
        all but ``*-1``.  As in _check_headers, a match counts only at a request boundary."""
        fed = dropped = 0
        for match in _NEGATIVE_COUNT.finditer(data):
            at = match.start()
            if at < fed or not (data[at - 1] == 0x0A if at else self.line_start):
                continue
            self.reader.feed(data[fed:at])
            fed = at
            self._parse_ready()
            if self.error is not None:
                return b""
            if not self.reader.has_data():
                fed = dropped = match.end()  # at a boundary: the header is dropped
        rest = data[fed:]
        if rest and dropped and fed == dropped and rest[:1] not in b"*$":
            self.inline += rest  # an inline request after the dropped header, as Redis reads it
            return b""
        return rest

    def _feed_with_blank_lines(self, data: bytes) -> None:
        """Blank lines between multibulk requests are legal (redis-cli --pipe sends one) but hiredis
        rejects them: parse up to each candidate and see whether hiredis stands at a boundary there."""
        start = 0
        while True:
            cut = _blank_line_after(data, start)
            if cut < 0:
                self.reader.feed(data[start:])
                return
            self.reader.feed(data[start:cut])
            self._parse_ready()
            if self.error is not None:
                return
            if not self.reader.has_data():
                self.inline += data[cut:]
                return
            start = cut  # the candidate was inside a bulk string

    def _parse_ready(self) -> None:
        """Move every complete request out of hiredis into ``ready``; keep an error for later."""
        while True:
            try:
                command = self._next_multibulk()
            except ProtocolError as exc:
                self.error = exc
                return
            if command is False:
                return
            self.ready.append(command)

    def fast(self) -> bool:
        """True when the next requests come straight from hiredis (what the server's hot loop uses)."""
        return not (self.inline or self.ready or self.error is not None)

    def get(self) -> list[bytes] | bool | None:
        if self.ready:
            return self.ready.popleft()
        if self.error is not None:
            error, self.error = self.error, None
            raise error
        if self.inline:
            return self._get_inline()
        return self._next_multibulk()

    def _next_multibulk(self) -> list[bytes] | bool | None:
        try:
            command = self.reader.gets()
        except (hiredis.ProtocolError, TypeError) as exc:
            raise translate_error(exc) from None
        if command is False or command is None:
            return command
        if type(command) is not list:
            raise ProtocolError("expected '*', got '%s'" % _type_char(command))
        for arg in command:
            if arg.__class__ is not bytes:
                raise bad_element(arg)
        return command or None

    def pending(self) -> int:
        """Bytes received but not yet parsed into a command (the query buffer)."""
        return len(self.inline) + len(self.held) + (self.reader.len() if self.reader.has_data() else 0)

    def _get_inline(self) -> list[bytes] | bool | None:
        buffer = self.inline
        end = buffer.find(b"\n")
        if end < 0:
            if len(buffer) > PROTO_INLINE_MAX_SIZE:
                raise ProtocolError("too big inline request")
            return False
        line = bytes(buffer[:end])
        rest = bytes(buffer[end + 1 :])
        self.inline = bytearray()
        self.line_start = True
        if rest:
            self.feed(rest)
        if line.endswith(b"\r"):
            line = line[:-1]
        return split_inline(line) or None


def _blank_line_after(data: bytes, start: int) -> int:
    """The index just after the first newline at or after `start` that a blank line follows, or -1."""
    crlf = data.find(b"\n\r\n", start)
    lf = data.find(b"\n\n", start)
    if crlf < 0:
        return -1 if lf < 0 else lf + 1
    return crlf + 1 if lf < 0 or crlf < lf else lf + 1


def bad_element(value: Any) -> ProtocolError:
    """The error for a multibulk element that is not a bulk string."""
    if value is None:  # "$-1" where Redis wants a length of 0 or more
        return ProtocolError("invalid bulk length")
    return ProtocolError("expected '$', got '%s'" % _type_char(value))


def _type_char(value: Any) -> str:
    if isinstance(value, bool):
        return "#"
    if isinstance(value, int):
        return ":"
    if isinstance(value, float):
        return ","
    if isinstance(value, list):
        return "*"
    if isinstance(value, dict):
        return "%"
    if isinstance(value, set):
        return "~"
    if value is None:
        return "$"
    return "+"
