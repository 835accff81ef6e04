"""Values in RDB form, and the DUMP payload around them.

:func:`encode_value` writes a value as Redis 7.0 (RDB version 10) writes it: a type byte, then the
encoding Redis would hold the value in (a listpack for small hashes and sorted sets, an intset for
small sets of integers, quicklist nodes for lists, a skiplist's pairs from the highest score down).
:func:`decode_value` reads every object type of RDB versions up to 10, including the ziplist, zipmap
and quicklist forms older versions wrote, and validates all of it.  A DUMP payload is the value, the
RDB version (2 bytes) and the CRC-64 of both (8 bytes), little-endian.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import Any

from ..engine.encodings import LIMITS, hash_encoding
from ..engine.numbers import parse_int
from ..engine.stream import Stream
from ..engine.zset import ZSet
from ..errors import BadDataFormatError, DumpPayloadError
from .crc64 import crc64
from .listpack import (
    as_bytes,
    decode_intset,
    decode_listpack,
    decode_ziplist,
    decode_zipmap,
    encode_element,
    encode_integer,
    encode_intset,
    encode_listpack,
)
from .streams import decode_stream, encode_stream
from .strings import Reader, encode_binary_double, encode_length, encode_string

RDB_VERSION = 10

# Object type bytes.
STRING = 0
LIST = 1
SET = 2
ZSET = 3
HASH = 4
ZSET_2 = 5
MODULE = 6
MODULE_2 = 7
HASH_ZIPMAP = 9
LIST_ZIPLIST = 10
SET_INTSET = 11
ZSET_ZIPLIST = 12
HASH_ZIPLIST = 13
LIST_QUICKLIST = 14
STREAM_LISTPACKS = 15
HASH_LISTPACK = 16
ZSET_LISTPACK = 17
LIST_QUICKLIST_2 = 18
STREAM_LISTPACKS_2 = 19

# Quicklist nodes: list-max-listpack-size -2 fills a node up to 8 KB, counting each new element at its
# length plus 8; an element of 1 GB or more gets a node of its own, stored bare (PLAIN).
QUICKLIST_NODE_BYTES = 8192
QUICKLIST_ELEMENT_OVERHEAD = 8
QUICKLIST_PLAIN_THRESHOLD = 1 << 30
PLAIN = 1
PACKED = 2
# The double2ll range: an integral score within it is stored in a listpack as an integer.
_INTEGRAL_SCORE_LIMIT = float(2**62)


# -- writing ---------------------------------------------------------------------------------------


def _encode_list(items: deque[bytes]) -> bytes:
    """The quicklist Redis builds by pushing the elements at the tail one by one."""
    nodes: list[bytes] = []
    current: list[bytes] = []
    current_bytes = 0  # the listpack size of the open node

    def close() -> None:
        if current:
            count = len(current) if len(current) < 65535 else 65535
            body = b"".join(current)
            blob = (7 + len(body)).to_bytes(4, "little") + count.to_bytes(2, "little") + body + b"\xff"
            nodes.append(encode_length(PACKED) + encode_string(blob))
            current.clear()

    for item in list(items):  # one C-level copy: a consistent snapshot
        if len(item) >= QUICKLIST_PLAIN_THRESHOLD:
            close()
            current_bytes = 0
            nodes.append(encode_length(PLAIN) + encode_string(item))
            continue
        element = encode_element(item)
        if current and current_bytes + len(item) + QUICKLIST_ELEMENT_OVERHEAD <= QUICKLIST_NODE_BYTES:
            current.append(element)
            current_bytes += len(element)
        else:
            close()
            current.append(element)
            current_bytes = 7 + len(element)
    close()
    return bytes((LIST_QUICKLIST_2,)) + encode_length(len(nodes)) + b"".join(nodes)


def _encode_set(members: set[bytes]) -> bytes:
    snapshot = list(members)
    if len(snapshot) <= LIMITS.set_max_intset_entries:
        numbers = [parse_int(member) for member in snapshot]
        if None not in numbers:
            return bytes((SET_INTSET,)) + encode_string(encode_intset(numbers))  # type: ignore[arg-type]
    parts = [bytes((SET,)), encode_length(len(snapshot))]
    parts += [encode_string(member) for member in snapshot]
    return b"".join(parts)


def _score_element(score: float) -> bytes:
    """A score as a sorted-set listpack holds it: an integer when it is one, else its %.17g text."""
    if score.is_integer() and -_INTEGRAL_SCORE_LIMIT <= score <= _INTEGRAL_SCORE_LIMIT:
        return encode_integer(int(score))
    if math.isinf(score):
        return encode_element(b"inf" if score > 0 else b"-inf")
    return encode_element(b"%.17g" % score)


def _encode_zset(zset: ZSet) -> bytes:
    pairs = list(zset.index)  # (score, member) in ascending order
    if zset.compact:
        parts = []
        for score, member in pairs:
            parts.append(encode_element(member))
            parts.append(_score_element(score))
        body = b"".join(parts)
        count = min(2 * len(pairs), 65535)
        blob = (7 + len(body)).to_bytes(4, "little") + count.to_bytes(2, "little") + body + b"\xff"
        return bytes((ZSET_LISTPACK,)) + encode_string(blob)
    parts = [bytes((ZSET_2,)), encode_length(len(pairs))]
    for score, member in reversed(pairs):  # highest first, as Redis walks its skiplist
        parts.append(encode_string(member))
        parts.append(encode_binary_double(score))
    return b"".join(parts)


def _encode_hash(fields: dict[bytes, bytes]) -> bytes:
    items = list(fields.items())
    if hash_encoding(fields) == "listpack":
        blob = encode_listpack(part for pair in items for part in pair)
        return bytes((HASH_LISTPACK,)) + encode_string(blob)
    parts = [bytes((HASH,)), encode_length(len(items))]
    for name, value in items:
        parts.append(encode_string(name))
        parts.append(encode_string(value))
    return b"".join(parts)


_ENCODERS: dict[type, Callable[[Any], bytes]] = {
    bytes: lambda value: b"\x00" + encode_string(value),
    deque: _encode_list,
    set: _encode_set,
    ZSet: _encode_zset,
    dict: _encode_hash,
    Stream: lambda value: bytes((STREAM_LISTPACKS_2,)) + encode_stream(value),
}


def encode_value(value: Any) -> bytes:
    """A value's type byte and body, as Redis's rdbSaveObjectType and rdbSaveObject write them."""
    return _ENCODERS[type(value)](value)


def dump_payload(value: Any) -> bytes:
    """What DUMP replies with: the value, the RDB version and the CRC-64."""
    body = encode_value(value) + RDB_VERSION.to_bytes(2, "little")
    return body + crc64(body).to_bytes(8, "little")


# -- reading ---------------------------------------------------------------------------------------


def check_payload(payload: bytes) -> None:
    """DumpPayloadError unless the footer names RDB version 10 or older and the CRC-64 matches."""
    if len(payload) < 10:
        raise DumpPayloadError()
    version = int.from_bytes(payload[-10:-8], "little")
    if version > RDB_VERSION or crc64(memoryview(payload)[:-8]) != int.from_bytes(payload[-8:], "little"):
        raise DumpPayloadError()


def load_payload(payload: bytes) -> Any:
    """The value a DUMP payload holds; DumpPayloadError or BadDataFormatError when it holds none.

    As in Redis, the value is read from the start of the whole payload and bytes left before the
    footer are not looked at.
    """
    check_payload(payload)
    reader = Reader(payload)
    return decode_value(reader.byte(), reader)


def _nonempty(items: list) -> list:
    if not items:
        raise BadDataFormatError()  # Redis refuses an empty key
    return items


def _pairs(items: list[bytes]) -> dict[bytes, bytes]:
    if len(items) % 2:
        raise BadDataFormatError()
    fields = dict(zip(items[0::2], items[1::2], strict=True))
    if len(fields) * 2 != len(items):
        raise BadDataFormatError()  # a field twice
    return fields


def _members(items: list[bytes]) -> set[bytes]:
    members = set(items)
    if len(members) != len(items):
        raise BadDataFormatError()
    return members


def _score(raw: bytes) -> float:
    try:
        score = float(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise BadDataFormatError() from None
    if math.isnan(score):
        raise BadDataFormatError()
    return score


def _zset(pairs: list[tuple[bytes, float]], from_listpack: bool) -> ZSet:
    if any(math.isnan(score) for _, score in pairs):
        raise BadDataFormatError()
    zset = ZSet.from_pairs(pairs)
    if len(zset) != len(pairs):
        raise BadDataFormatError()
    if from_listpack and not zset.compact and len(zset) <= LIMITS.zset_max_listpack_entries:
        zset.compact = True  # Redis keeps a listpack it loads unless it holds too many members
    return zset


def _scored(items: list[bytes]) -> list[tuple[bytes, float]]:
    if len(items) % 2:
        raise BadDataFormatError()
    return [(member, _score(raw)) for member, raw in zip(items[0::2], items[1::2], strict=True)]


def _read_quicklist(reader: Reader, version2: bool) -> deque[bytes]:
    items: deque[bytes] = deque()
    for _ in range(_positive(reader.length())):
        container = reader.length() if version2 else PACKED
        blob = reader.string()
        if not blob:
            raise BadDataFormatError()
        if container == PLAIN and version2:
            items.append(blob)
        elif container == PACKED:
            # An empty node is skipped, as Redis skips it; a list left empty is refused below.
            items.extend(map(as_bytes, decode_listpack(blob)) if version2 else decode_ziplist(blob))
        else:
            raise BadDataFormatError()
    if not items:
        raise BadDataFormatError()
    return items


def _positive(count: int) -> int:
    if count == 0:
        raise BadDataFormatError()
    return count


def _read_strings(reader: Reader, count: int) -> list[bytes]:
    return [reader.string() for _ in range(count)]


def decode_value(kind: int, reader: Reader) -> Any:
    """The engine value of an object of type `kind` read from `reader`."""
    if kind == STRING:
        return reader.string()
    if kind == LIST:
        return deque(_read_strings(reader, _positive(reader.length())))
    if kind == SET:
        return _members(_read_strings(reader, _positive(reader.length())))
    if kind in (ZSET, ZSET_2):
        count = _positive(reader.length())
        read_score = reader.binary_double if kind == ZSET_2 else reader.text_double
        pairs = []
        for _ in range(count):
            member = reader.string()
            pairs.append((member, read_score()))
        return _zset(pairs, from_listpack=False)
    if kind == HASH:
        return _pairs(_read_strings(reader, 2 * _positive(reader.length())))
    if kind in (LIST_QUICKLIST, LIST_QUICKLIST_2):
        return _read_quicklist(reader, kind == LIST_QUICKLIST_2)
    if kind in (STREAM_LISTPACKS, STREAM_LISTPACKS_2):
        return decode_stream(reader, kind == STREAM_LISTPACKS_2)
    decode = _BLOB_DECODERS.get(kind)
    if decode is None:
        raise BadDataFormatError()  # modules, and type bytes this RDB version does not define
    return decode(reader.string())


_BLOB_DECODERS: dict[int, Callable[[bytes], Any]] = {
    HASH_ZIPMAP: lambda blob: _pairs(_nonempty(decode_zipmap(blob))),
    LIST_ZIPLIST: lambda blob: deque(_nonempty(decode_ziplist(blob))),
    SET_INTSET: lambda blob: {b"%d" % number for number in decode_intset(blob)},
    ZSET_ZIPLIST: lambda blob: _zset(_scored(_nonempty(decode_ziplist(blob))), from_listpack=True),
    HASH_ZIPLIST: lambda blob: _pairs(_nonempty(decode_ziplist(blob))),
    ZSET_LISTPACK: lambda blob: _zset(
        _scored([as_bytes(item) for item in _nonempty(decode_listpack(blob))]), from_listpack=True
    ),
    HASH_LISTPACK: lambda blob: _pairs([as_bytes(item) for item in _nonempty(decode_listpack(blob))]),
}
