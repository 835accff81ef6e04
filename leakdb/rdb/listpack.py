"""The compact blobs inside RDB values: listpacks (what Redis 7.0 writes for small hashes, sorted sets,
list nodes and stream nodes), intsets (small sets of integers), and the ziplists and zipmaps that
older Redis versions wrote, which RESTORE still reads.

A listpack is a 6-byte header (total bytes, element count), the elements, and 0xFF.  Each element is
an encoding byte with its data (an integer of 7, 13, 16, 24, 32 or 64 bits, or a string with a 6, 12
or 32-bit length), then the size of those two written backwards in 7-bit groups, so the list can be
walked from either end.  A string that reads as a 64-bit integer is stored as one, as Redis stores it.

Readers validate everything (sizes, back-lengths, counts, the end byte) and raise
:class:`~leakdb.errors.BadDataFormatError`; elements come back as ``bytes``, or ``int`` for the
integer encodings.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from itertools import pairwise

from ..engine.numbers import parse_int
from ..errors import BadDataFormatError

Element = bytes | int

LISTPACK_END = 0xFF
LISTPACK_HEADER = 6
LISTPACK_UNKNOWN_COUNT = 65535  # the count field saturates here; readers then count the elements

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_HEADER = struct.Struct("<IH")


# -- listpack: writing -----------------------------------------------------------------------------


def _backlen(size: int) -> bytes:
    """The element size as the 1-5 bytes that follow the element (high bit: more bytes before)."""
    if size <= 127:
        return bytes((size,))
    if size < 16383:
        return bytes((size >> 7, (size & 127) | 128))
    if size < 2097151:
        return bytes((size >> 14, ((size >> 7) & 127) | 128, (size & 127) | 128))
    if size < 268435455:
        return bytes((size >> 21, ((size >> 14) & 127) | 128, ((size >> 7) & 127) | 128, (size & 127) | 128))
    return bytes(
        (
            size >> 28,
            ((size >> 21) & 127) | 128,
            ((size >> 14) & 127) | 128,
            ((size >> 7) & 127) | 128,
            (size & 127) | 128,
        )
    )


def encode_integer(value: int) -> bytes:
    """One integer element, back-length included, in the smallest encoding that holds it."""
    if 0 <= value <= 127:
        return bytes((value, 1))
    if -4096 <= value <= 4095:
        value &= 0x1FFF
        return bytes((0xC0 | value >> 8, value & 0xFF, 2))
    if -32768 <= value <= 32767:
        return b"\xf1" + (value & 0xFFFF).to_bytes(2, "little") + b"\x03"
    if -8388608 <= value <= 8388607:
        return b"\xf2" + (value & 0xFFFFFF).to_bytes(3, "little") + b"\x04"
    if -(2**31) <= value < 2**31:
        return b"\xf3" + (value & 0xFFFFFFFF).to_bytes(4, "little") + b"\x05"
    return b"\xf4" + (value & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little") + b"\x09"


def encode_element(value: bytes) -> bytes:
    """One string element (stored as an integer when it reads as one), back-length included."""
    if len(value) <= 20:
        number = parse_int(value)
        if number is not None:
            return encode_integer(number)
    size = len(value)
    if size < 64:
        head = bytes((0x80 | size,))
    elif size < 4096:
        head = bytes((0xE0 | size >> 8, size & 0xFF))
    else:
        head = b"\xf0" + _U32.pack(size)
    return head + value + _backlen(len(head) + size)


def encode_listpack(elements: Iterable[Element]) -> bytes:
    """A listpack of these elements (``bytes`` as strings or integers, ``int`` as integers)."""
    parts = [encode_integer(item) if type(item) is int else encode_element(item) for item in elements]
    body = b"".join(parts)
    count = len(parts) if len(parts) < LISTPACK_UNKNOWN_COUNT else LISTPACK_UNKNOWN_COUNT
    return _HEADER.pack(LISTPACK_HEADER + len(body) + 1, count) + body + b"\xff"


# -- listpack: reading -----------------------------------------------------------------------------


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value >> (bits - 1) else value


def decode_listpack(blob: bytes) -> list[Element]:
    """The elements of a listpack; BadDataFormatError unless it is whole and consistent."""
    size = len(blob)
    if size < LISTPACK_HEADER + 1:
        raise BadDataFormatError()
    total, count = _HEADER.unpack_from(blob)
    if total != size or blob[-1] != LISTPACK_END:
        raise BadDataFormatError()
    elements: list[Element] = []
    append = elements.append
    position = LISTPACK_HEADER
    end = size - 1
    while position < end:
        start = position
        kind = blob[position]
        if kind < 0x80:  # 7-bit unsigned integer
            value: Element = kind
            position += 1
        elif kind < 0xC0:  # string, 6-bit length
            length = kind & 0x3F
            position += 1 + length
            value = blob[start + 1 : position]
        elif kind < 0xE0:  # 13-bit signed integer
            if position + 2 > end:
                raise BadDataFormatError()
            value = _signed((kind & 0x1F) << 8 | blob[position + 1], 13)
            position += 2
        elif kind < 0xF0:  # string, 12-bit length
            if position + 2 > end:
                raise BadDataFormatError()
            length = (kind & 0x0F) << 8 | blob[position + 1]
            position += 2 + length
            value = blob[start + 2 : position]
        elif kind == 0xF0:  # string, 32-bit length
            if position + 5 > end:
                raise BadDataFormatError()
            length = _U32.unpack_from(blob, position + 1)[0]
            position += 5 + length
            value = blob[start + 5 : position]
        elif 0xF1 <= kind <= 0xF4:  # 16, 24, 32 and 64-bit signed integers
            width = (2, 3, 4, 8)[kind - 0xF1]
            if position + 1 + width > end:
                raise BadDataFormatError()
            value = _signed(int.from_bytes(blob[position + 1 : position + 1 + width], "little"), 8 * width)
            position += 1 + width
        else:
            raise BadDataFormatError()
        if position > end:
            raise BadDataFormatError()
        backlen = _backlen(position - start)
        if blob[position : position + len(backlen)] != backlen:
            raise BadDataFormatError()
        position += len(backlen)
        append(value)
    if position != end or (count != LISTPACK_UNKNOWN_COUNT and count != len(elements)):
        raise BadDataFormatError()
    return elements


def as_bytes(element: Element) -> bytes:
    return element if type(element) is bytes else b"%d" % element


# -- intset ----------------------------------------------------------------------------------------

_INTSET_FORMATS = {2: "h", 4: "i", 8: "q"}


def encode_intset(numbers: Iterable[int]) -> bytes:
    """A sorted intset of distinct integers, in the narrowest width (2, 4 or 8 bytes) that holds them."""
    ordered = sorted(numbers)
    low, high = (ordered[0], ordered[-1]) if ordered else (0, 0)
    if low >= -(2**15) and high < 2**15:
        width = 2
    elif low >= -(2**31) and high < 2**31:
        width = 4
    else:
        width = 8
    return struct.pack(f"<II{len(ordered)}{_INTSET_FORMATS[width]}", width, len(ordered), *ordered)


def decode_intset(blob: bytes) -> list[int]:
    """The members of an intset: BadDataFormatError unless the width, size and strict order hold."""
    if len(blob) < 8:
        raise BadDataFormatError()
    width, count = struct.unpack_from("<II", blob)
    code = _INTSET_FORMATS.get(width)
    if code is None or count == 0 or len(blob) != 8 + width * count:
        raise BadDataFormatError()
    numbers = list(struct.unpack_from(f"<{count}{code}", blob, 8))
    if any(a >= b for a, b in pairwise(numbers)):
        raise BadDataFormatError()
    return numbers


# -- ziplist (RDB versions before 10) --------------------------------------------------------------

_ZIPLIST_HEADER = 10
# Integer encodings of a ziplist entry and their widths in bytes.
_ZIPLIST_INTEGERS = {0xC0: 2, 0xD0: 4, 0xE0: 8, 0xF0: 3, 0xFE: 1}


def decode_ziplist(blob: bytes) -> list[bytes]:
    """The elements of a ziplist (integers as their decimal strings), validated as a listpack is."""
    size = len(blob)
    if size < _ZIPLIST_HEADER + 1:
        raise BadDataFormatError()
    total, tail, count = struct.unpack_from("<IIH", blob)
    if total != size or blob[-1] != LISTPACK_END or tail >= size:
        raise BadDataFormatError()
    elements = []
    position = _ZIPLIST_HEADER
    previous = 0  # the size of the previous entry, which each entry repeats
    last = position
    end = size - 1
    while position < end:
        start = position
        if blob[position] < 254:
            stored_previous = blob[position]
            position += 1
        else:
            if blob[position] != 254 or position + 5 > end:
                raise BadDataFormatError()
            stored_previous = _U32.unpack_from(blob, position + 1)[0]
            position += 5
        if stored_previous != previous or position >= end:
            raise BadDataFormatError()
        kind = blob[position]
        marker = kind >> 6
        if marker == 0:
            length = kind & 0x3F
            position += 1
        elif marker == 1:
            if position + 2 > end:
                raise BadDataFormatError()
            length = (kind & 0x3F) << 8 | blob[position + 1]
            position += 2
        elif marker == 2:
            if kind != 0x80 or position + 5 > end:
                raise BadDataFormatError()
            length = int.from_bytes(blob[position + 1 : position + 5], "big")
            position += 5
        else:
            length = -1
        if length >= 0:
            value = blob[position : position + length]
            position += length
        elif 0xF1 <= kind <= 0xFD:  # a small integer in the encoding byte itself
            value = b"%d" % ((kind & 0x0F) - 1)
            position += 1
        else:
            width = _ZIPLIST_INTEGERS.get(kind, 0)
            if not width or position + 1 + width > end:
                raise BadDataFormatError()
            number = _signed(int.from_bytes(blob[position + 1 : position + 1 + width], "little"), 8 * width)
            value = b"%d" % number
            position += 1 + width
        if position > end:
            raise BadDataFormatError()
        elements.append(value)
        previous = position - start
        last = start
    if position != end or (elements and last != tail) or (count != 65535 and count != len(elements)):
        raise BadDataFormatError()
    return elements


# -- zipmap (RDB version 3 and older hashes) -------------------------------------------------------


def decode_zipmap(blob: bytes) -> list[bytes]:
    """A zipmap's fields and values, alternating."""
    size = len(blob)
    items = []
    position = 1  # the first byte is a saturating count that readers ignore
    while position < size and blob[position] != LISTPACK_END:
        length, position = _zipmap_length(blob, position)
        if position + length > size:
            raise BadDataFormatError()
        field = blob[position : position + length]
        length, position = _zipmap_length(blob, position + length)
        if position + 1 + length > size:
            raise BadDataFormatError()
        free = blob[position]  # unused bytes after the value, left by in-place updates
        value = blob[position + 1 : position + 1 + length]
        position += 1 + length + free
        items += (field, value)
    if position != size - 1:
        raise BadDataFormatError()
    return items


def _zipmap_length(blob: bytes, position: int) -> tuple[int, int]:
    """A zipmap length (one byte below 254, or 254 and four bytes) and the position after it."""
    if position >= len(blob):
        raise BadDataFormatError()
    first = blob[position]
    if first < 254:
        return first, position + 1
    if first != 254 or position + 5 > len(blob):
        raise BadDataFormatError()
    return _U32.unpack_from(blob, position + 1)[0], position + 5
