"""How each engine type is stored: a small length-prefixed binary layout, safe to read back.

Each value starts with a one-byte layout version.  A container is first copied with one C-level call
(``dict(...)``, ``list(...)``, ``set(...)``), which holds the GIL throughout, so a flush running on
another thread always stores a consistent snapshot of a container the server is changing.  Nothing
here unpickles or evaluates: a damaged blob raises StorageError.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Iterable, Iterator

from ..engine.stream import Stream
from ..engine.zset import ZSet
from ..errors import StorageError

LAYOUT = 1
_LENGTH = struct.Struct("<I")
_DOUBLE = struct.Struct("<d")


def pack_items(items: Iterable[bytes], count: int) -> bytes:
    """Version byte, item count, then each item as a 4-byte length and its bytes."""
    parts = [bytes((LAYOUT,)), _LENGTH.pack(count)]
    pack = _LENGTH.pack
    for item in items:
        parts.append(pack(len(item)))
        parts.append(item)
    return b"".join(parts)


def unpack_items(blob: bytes) -> Iterator[bytes]:
    if not blob or blob[0] != LAYOUT:
        raise StorageError("stored container has an unknown layout")
    view = memoryview(blob)
    try:
        (count,) = _LENGTH.unpack_from(view, 1)
        offset = 1 + _LENGTH.size
        for _ in range(count):
            (size,) = _LENGTH.unpack_from(view, offset)
            offset += _LENGTH.size
            if offset + size > len(blob):
                raise StorageError("stored container is truncated")
            yield bytes(view[offset : offset + size])
            offset += size
    except struct.error:
        raise StorageError("stored container is truncated") from None
    if offset != len(blob):
        raise StorageError("stored container has trailing bytes")


def dump_hash(value: dict[bytes, bytes]) -> bytes:
    snapshot = list(value.items())  # one C call: a consistent copy
    return pack_items((part for pair in snapshot for part in pair), 2 * len(snapshot))


def load_hash(blob: bytes) -> dict[bytes, bytes]:
    items = list(unpack_items(blob))
    if len(items) % 2:
        raise StorageError("stored hash has an odd number of items")
    return dict(zip(items[0::2], items[1::2], strict=True))


def dump_list(value: deque[bytes]) -> bytes:
    snapshot = list(value)
    return pack_items(snapshot, len(snapshot))


def load_list(blob: bytes) -> deque[bytes]:
    return deque(unpack_items(blob))


def dump_set(value: set[bytes]) -> bytes:
    snapshot = list(value)
    return pack_items(snapshot, len(snapshot))


def load_set(blob: bytes) -> set[bytes]:
    return set(unpack_items(blob))


def pack_scored(pairs: list[tuple[bytes, float]]) -> bytes:
    """Members with their scores (sorted sets): each member as an item, then its score as a double."""
    parts = [bytes((LAYOUT,)), _LENGTH.pack(len(pairs))]
    for member, score in pairs:
        parts.append(_LENGTH.pack(len(member)))
        parts.append(member)
        parts.append(_DOUBLE.pack(score))
    return b"".join(parts)


def unpack_scored(blob: bytes) -> list[tuple[bytes, float]]:
    if not blob or blob[0] != LAYOUT:
        raise StorageError("stored sorted set has an unknown layout")
    pairs = []
    try:
        (count,) = _LENGTH.unpack_from(blob, 1)
        offset = 1 + _LENGTH.size
        for _ in range(count):
            (size,) = _LENGTH.unpack_from(blob, offset)
            offset += _LENGTH.size
            member = blob[offset : offset + size]
            offset += size
            (score,) = _DOUBLE.unpack_from(blob, offset)
            offset += _DOUBLE.size
            pairs.append((member, score))
    except struct.error:
        raise StorageError("stored sorted set is truncated") from None
    if offset != len(blob):
        raise StorageError("stored sorted set has trailing bytes")
    return pairs


def dump_zset(zset: ZSet) -> bytes:
    # One C-level copy of the dict: a flush on another thread sees a consistent snapshot.
    return pack_scored(list(zset.scores.items()))


def load_zset(blob: bytes) -> ZSet:
    return ZSet.from_pairs(unpack_scored(blob))


_ID_BYTES = 16


def dump_stream(stream: Stream) -> bytes:
    # One C-level copy of the dict: a flush on another thread sees a consistent snapshot.  The last
    # ID is read after it, so it is never below an ID in the copy.
    items = list(stream.entries.items())
    parts = [stream.last_id.to_bytes(_ID_BYTES, "big")]
    for entry_id, fields in items:
        parts.append(entry_id.to_bytes(_ID_BYTES, "big"))
        parts.append(pack_items(fields, len(fields)))
    return pack_items(parts, len(parts))


def load_stream(blob: bytes) -> Stream:
    parts = list(unpack_items(blob))
    ids = [parts[0], *parts[1::2]] if parts else []
    if len(parts) % 2 == 0 or any(len(part) != _ID_BYTES for part in ids):
        raise StorageError("stored stream is malformed")
    last_id = int.from_bytes(parts[0], "big")
    items = []
    previous = 0
    for raw_id, packed in zip(parts[1::2], parts[2::2], strict=True):
        entry_id = int.from_bytes(raw_id, "big")
        fields = tuple(unpack_items(packed))
        if entry_id <= previous or entry_id > last_id or not fields or len(fields) % 2:
            raise StorageError("stored stream has an entry out of order or without fields")
        items.append((entry_id, fields))
        previous = entry_id
    return Stream.from_entries(items, last_id)
