"""The two primitives every RDB value is made of: lengths and strings.

A length is 6 bits in one byte (``00``), 14 bits in two (``01``), or a 32 or 64-bit big-endian number
after the byte 0x80 or 0x81.  A string is a length and its bytes, or, after a byte ``11xxxxxx``, an
integer of 8, 16 or 32 bits (little-endian) or an LZF block (compressed length, original length, data).
Redis writes a string as an integer when it is one that fits 32 bits, and compresses strings longer
than 20 bytes when LZF saves at least four bytes; :func:`encode_string` does the same.
"""

from __future__ import annotations

import struct
import zlib

from ..engine.numbers import parse_int
from ..errors import BadDataFormatError
from . import lzf

_DOUBLE = struct.Struct("<d")
_INT8, _INT16, _INT32, _LZF = 0, 1, 2, 3
# The largest string LZF data may claim to expand to (Redis's string limit): a guard against payloads
# that would make a few megabytes into gigabytes.
MAX_STRING_BYTES = 512 * 1024 * 1024
# Past this size a value zlib cannot shrink is not handed to LZF: it would fail too, after a long scan.
_PROBE_ABOVE = 4096


def encode_length(length: int) -> bytes:
    if length < 64:
        return bytes((length,))
    if length < 16384:
        return bytes((0x40 | length >> 8, length & 0xFF))
    if length <= 0xFFFFFFFF:
        return b"\x80" + length.to_bytes(4, "big")
    return b"\x81" + length.to_bytes(8, "big")


def encode_string(value: bytes) -> bytes:
    """A string as Redis's rdbSaveRawString writes it: an integer, LZF-compressed, or verbatim."""
    size = len(value)
    if size <= 11:
        number = parse_int(value)
        if number is not None:
            if -128 <= number <= 127:
                return b"\xc0" + (number & 0xFF).to_bytes(1, "little")
            if -32768 <= number <= 32767:
                return b"\xc1" + (number & 0xFFFF).to_bytes(2, "little")
            if -(2**31) <= number < 2**31:
                return b"\xc2" + (number & 0xFFFFFFFF).to_bytes(4, "little")
    if size > 20 and (size <= _PROBE_ABOVE or len(zlib.compress(value, 1)) < size):
        packed = lzf.compress(value, size - 4)
        if packed is not None:
            return b"\xc3" + encode_length(len(packed)) + encode_length(size) + packed
    return encode_length(size) + value


def encode_binary_double(value: float) -> bytes:
    return _DOUBLE.pack(value)


class Reader:
    """A cursor over a serialized value; every read past the end raises BadDataFormatError."""

    __slots__ = ("data", "position")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def byte(self) -> int:
        position = self.position
        if position >= len(self.data):
            raise BadDataFormatError()
        self.position = position + 1
        return self.data[position]

    def take(self, count: int) -> bytes:
        start = self.position
        stop = start + count
        if stop > len(self.data):
            raise BadDataFormatError()
        self.position = stop
        return self.data[start:stop]

    def length(self) -> int:
        first = self.byte()
        kind = first >> 6
        if kind == 0:
            return first
        if kind == 1:
            return (first & 0x3F) << 8 | self.byte()
        if first == 0x80:
            return int.from_bytes(self.take(4), "big")
        if first == 0x81:
            return int.from_bytes(self.take(8), "big")
        raise BadDataFormatError()  # an integer or LZF marker where a plain length belongs

    def string(self) -> bytes:
        first = self.data[self.position] if self.position < len(self.data) else -1
        if first >> 6 != 3:
            return self.take(self.length())
        self.position += 1
        encoding = first & 0x3F
        if encoding == _INT8:
            return b"%d" % int.from_bytes(self.take(1), "little", signed=True)
        if encoding == _INT16:
            return b"%d" % int.from_bytes(self.take(2), "little", signed=True)
        if encoding == _INT32:
            return b"%d" % int.from_bytes(self.take(4), "little", signed=True)
        if encoding == _LZF:
            packed_size = self.length()
            size = self.length()
            if size > MAX_STRING_BYTES:
                raise BadDataFormatError()
            return lzf.decompress(self.take(packed_size), size)
        raise BadDataFormatError()

    def binary_double(self) -> float:
        return _DOUBLE.unpack(self.take(8))[0]

    def text_double(self) -> float:
        """A double of the old sorted-set format: a length byte (253-255: nan, +inf, -inf) and text."""
        size = self.byte()
        if size == 253:
            return float("nan")
        if size == 254:
            return float("inf")
        if size == 255:
            return float("-inf")
        try:
            return float(self.take(size).decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            raise BadDataFormatError() from None

    def millis(self) -> int:
        """A millisecond timestamp: 8 bytes, little-endian, signed."""
        return int.from_bytes(self.take(8), "little", signed=True)
