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

from sortedcontainers import SortedDict

from ..engine.stream import Stream
from ..engine.stream_groups import ConsumerGroup
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
# Streams have their own layout versions: 1 holds the entries and the last ID (files written before
# consumer groups, still read), 2 adds Redis 7.0's counters, the node model and the consumer groups,
# 3 the removed entries still flagged in their nodes (so DUMP stays Redis's bytes after a restart).
_STREAM_LAYOUT = 3
_STREAM_LAYOUT_2 = 2
_STREAM_HEADER = struct.Struct("<16s16sQ")  # last ID, highest deleted ID, entries added
_NODE = struct.Struct("<16s16sIII")  # master ID, last ID, live entries, deleted entries, listpack bytes
_GROUP = struct.Struct("<16sq")  # last delivered ID, entries read (-1: unknown)
_PENDING = struct.Struct("<16sqQ")  # entry ID, delivery time, delivery count; the owner's name follows
_CONSUMER = struct.Struct("<q")  # seen time; the name follows


def _id_bytes(entry_id: int) -> bytes:
    return entry_id.to_bytes(_ID_BYTES, "big")


def _id_of(raw: bytes) -> int:
    return int.from_bytes(raw, "big")


def dump_stream(stream: Stream) -> bytes:
    # Each container is copied with one C-level call, so a flush running on another thread sees each
    # piece whole.  Counters and the last ID are read after the entries, so they are never behind the
    # copy; a pending entry caught between two steps of a claim may be left out, and is written with
    # the next change, which the command that made it reports.
    items = list(stream.entries.items())
    nodes = list(stream.nodes)
    groups = list(stream.groups.items()) if stream.groups else []
    tombstones = sorted(dict.items(stream.tombstones)) if stream.tombstones else []
    header = _STREAM_HEADER.pack(
        _id_bytes(stream.last_id), _id_bytes(stream.max_deleted_id), stream.entries_added
    )
    entries = _entry_items(items)
    node_records = [
        _NODE.pack(_id_bytes(n.master_id), _id_bytes(n.last_id), n.count, n.deleted, n.body)
        + pack_items(n.fields, len(n.fields))
        for n in nodes
    ]
    parts = [
        header,
        pack_items(entries, len(entries)),
        pack_items(node_records, len(node_records)),
        pack_items([_dump_group(name, group) for name, group in groups], len(groups)),
        pack_items(_entry_items(tombstones), 2 * len(tombstones)),
    ]
    return bytes((_STREAM_LAYOUT,)) + pack_items(parts, len(parts))


def _entry_items(items: list[tuple[int, tuple[bytes, ...]]]) -> list[bytes]:
    """Alternating ID and packed-fields items."""
    packed = []
    for entry_id, fields in items:
        packed.append(_id_bytes(entry_id))
        packed.append(pack_items(fields, len(fields)))
    return packed


def _dump_group(name: bytes, group: ConsumerGroup) -> bytes:
    pending = list(dict.items(group.pending))
    consumers = list(group.consumers.items())
    entries_read = -1 if group.entries_read is None else group.entries_read
    pending_records = [
        _PENDING.pack(_id_bytes(entry_id), entry.delivery_time, entry.delivery_count) + entry.consumer.name
        for entry_id, entry in pending
        if entry.consumer is not None
    ]
    consumer_records = [
        _CONSUMER.pack(consumer.seen_time) + consumer_name for consumer_name, consumer in consumers
    ]
    parts = [
        name,
        _GROUP.pack(_id_bytes(group.last_id), entries_read),
        pack_items(pending_records, len(pending_records)),
        pack_items(consumer_records, len(consumer_records)),
    ]
    return pack_items(parts, len(parts))


def load_stream(blob: bytes) -> Stream:
    if blob[:1] == bytes((LAYOUT,)):
        return _load_stream_v1(blob)
    if blob[:1] not in (bytes((_STREAM_LAYOUT,)), bytes((_STREAM_LAYOUT_2,))):
        raise StorageError("stored stream has an unknown layout; was the file written by a newer LeakDB?")
    try:
        parts = list(unpack_items(blob[1:]))
        if blob[0] == _STREAM_LAYOUT_2:
            parts.append(pack_items((), 0))  # no removed entries known
        header, entries, nodes, groups, tombstones = parts
        last_raw, deleted_raw, entries_added = _STREAM_HEADER.unpack(header)
        stream = Stream.from_entries(
            _entries(list(unpack_items(entries)), _id_of(last_raw)), _id_of(last_raw)
        )
        stream.entries_added = entries_added
        stream.max_deleted_id = _id_of(deleted_raw)
        kept_nodes = stream.restore_nodes([_node(record) for record in unpack_items(nodes)])
        for record in unpack_items(groups):
            name, group = _load_group(record)
            if stream.groups is None:
                stream.groups = {}
            if name in stream.groups:
                raise StorageError("stored stream has a consumer group twice")
            stream.groups[name] = group
        removed = _entries(list(unpack_items(tombstones)), stream.last_id)
        if removed and kept_nodes:  # a repacked node model has no removed entries
            if any(entry_id in stream.entries for entry_id, _ in removed):
                raise StorageError("stored stream has an entry both live and removed")
            stream.tombstones = SortedDict(removed)
    except (ValueError, struct.error):
        raise StorageError("stored stream is malformed") from None
    return stream


def _entries(parts: list[bytes], last_id: int) -> list[tuple[int, tuple[bytes, ...]]]:
    """(ID, fields) pairs from alternating ID and packed-fields items, checked for order and shape."""
    if len(parts) % 2 or any(len(raw) != _ID_BYTES for raw in parts[0::2]):
        raise StorageError("stored stream is malformed")
    items = []
    previous = 0
    for raw_id, packed in zip(parts[0::2], parts[1::2], strict=True):
        entry_id = _id_of(raw_id)
        fields = tuple(unpack_items(packed))
        if entry_id <= previous or entry_id > last_id or not fields or len(fields) % 2:
            raise StorageError("stored stream has an entry out of order or without fields")
        items.append((entry_id, fields))
        previous = entry_id
    return items


def _node(record: bytes) -> tuple[int, int, int, int, int, tuple[bytes, ...]]:
    master_raw, last_raw, count, deleted, body = _NODE.unpack_from(record)
    fields = tuple(unpack_items(record[_NODE.size :]))
    return _id_of(master_raw), _id_of(last_raw), count, deleted, body, fields


def _load_group(record: bytes) -> tuple[bytes, ConsumerGroup]:
    name, meta, pending, consumers = unpack_items(record)
    last_raw, entries_read = _GROUP.unpack(meta)
    if entries_read < -1:
        raise StorageError("stored consumer group has a bad read counter")
    owners = []
    for item in unpack_items(consumers):
        (seen_time,) = _CONSUMER.unpack_from(item)
        owners.append((item[_CONSUMER.size :], seen_time))
    entries = []
    for item in unpack_items(pending):
        id_raw, delivery_time, delivery_count = _PENDING.unpack_from(item)
        entries.append((_id_of(id_raw), item[_PENDING.size :], delivery_time, delivery_count))
    if len({entry[0] for entry in entries}) != len(entries) or len({o[0] for o in owners}) != len(owners):
        raise StorageError("stored consumer group has a pending entry or a consumer twice")
    group = ConsumerGroup.restore(
        _id_of(last_raw), None if entries_read == -1 else entries_read, owners, entries
    )
    return name, group


def _load_stream_v1(blob: bytes) -> Stream:
    parts = list(unpack_items(blob))
    if not parts or len(parts[0]) != _ID_BYTES:
        raise StorageError("stored stream is malformed")
    last_id = _id_of(parts[0])
    return Stream.from_entries(_entries(parts[1:], last_id), last_id)
