"""Streams in RDB form (RDB_TYPE_STREAM_LISTPACKS_2, what Redis 7.0 writes; type 15 is read too).

A stream is its radix-tree nodes, each a 16-byte master ID and a listpack, then its length, last ID,
first ID, largest deleted ID, entries-added counter and consumer groups.  A node's listpack opens with
a master entry (live count, deleted count, the field names of the node's first entry, 0), and each
entry follows as flags, ID deltas from the master ID, then its values alone when it has the master's
field names (the SAMEFIELDS flag) or a field count and its fields and values, then its element count.

LeakDB writes each node of the stream's node model (:class:`~leakdb.engine.stream.Node`) with its live
entries and the removed ones the stream still keeps flagged (its tombstones), so the nodes are
written byte for byte as Redis writes them; a node whose removed entries are not known (a node model
read back from a data file keeps only their count) is written with its live entries alone, which
Redis reads the same.  Reading a node keeps its real size and its removed entries, so XADD, XDEL and
XTRIM after a RESTORE act where Redis would.

Consumer groups follow, in name order: each group's last delivered ID and entries-read counter
(UINT64_MAX for unknown), its pending entries list (16-byte ID, delivery time in ms, delivery count)
and its consumers in name order (name, seen time, the IDs of the pending entries each owns).  They
pass through :class:`Group` records, made from the engine's groups by :func:`groups_of` and checked
and turned back into them by :func:`attach_groups`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sortedcontainers import SortedDict, SortedList

from ..engine.numbers import parse_int
from ..engine.stream import UINT64_MAX, Node, Stream
from ..engine.stream_groups import ConsumerGroup
from ..errors import BadDataFormatError
from .listpack import Element, as_bytes, decode_listpack, encode_listpack
from .strings import Reader, encode_length, encode_string

DELETED = 1  # entry flags
SAME_FIELDS = 2


@dataclass
class Group:
    """A consumer group as the RDB format holds it."""

    name: bytes
    last_id: int
    entries_read: int | None  # None in the format before RDB 10 (type 15)
    pending: list[tuple[int, int, int]] = field(default_factory=list)  # (id, delivery ms, count)
    consumers: list[tuple[bytes, int, list[int]]] = field(default_factory=list)  # (name, seen ms, ids)


def groups_of(stream: Stream) -> list[Group]:
    """The stream's consumer groups as records, in the order Redis writes them."""
    records = []
    for name, group in stream.sorted_groups():
        pending = [(entry_id, p.delivery_time, p.delivery_count) for entry_id, p in group.pending.items()]
        consumers = [(c.name, c.seen_time, list(c.pending)) for c in group.sorted_consumers()]
        records.append(Group(name, group.last_id, group.entries_read, pending, consumers))
    return records


def attach_groups(stream: Stream, records: list[Group]) -> None:
    """Give `stream` the groups read from a payload, refusing what Redis's loader (sanitizing) refuses:
    a group or consumer named twice, a pending entry twice, a consumer owning an entry the group does
    not hold as pending or another consumer owns, and a pending entry nobody owns."""
    if not records:
        return
    stream.groups = {}
    for record in records:
        if record.name in stream.groups:
            raise BadDataFormatError()
        entries_read = record.entries_read
        if entries_read is None:  # type 15 kept no counter: Redis estimates it from the stream
            entries_read = stream.estimate_entries_read(record.last_id)
        elif entries_read == UINT64_MAX:
            entries_read = None
        times = {entry_id: (delivered, count) for entry_id, delivered, count in record.pending}
        if len(times) != len(record.pending):
            raise BadDataFormatError()
        owners: dict[int, bytes] = {}
        consumers = []
        for name, seen_time, ids in record.consumers:
            consumers.append((name, seen_time))
            for entry_id in ids:
                if entry_id not in times or entry_id in owners:
                    raise BadDataFormatError()
                owners[entry_id] = name
        if len(owners) != len(times) or len({name for name, _ in consumers}) != len(consumers):
            raise BadDataFormatError()
        pending = [(entry_id, owners[entry_id], *times[entry_id]) for entry_id in sorted(times)]
        stream.groups[record.name] = ConsumerGroup.restore(record.last_id, entries_read, consumers, pending)


# -- writing ---------------------------------------------------------------------------------------


def _split(entry_id: int) -> tuple[int, int]:
    return entry_id >> 64, entry_id & UINT64_MAX


def _delta(value: int) -> int:
    """A uint64 difference as the int64 that Redis stores in the listpack."""
    value &= UINT64_MAX
    return value - (1 << 64) if value >> 63 else value


def _node_listpack(node: Node, items: list[tuple[int, tuple[bytes, ...], bool]]) -> bytes:
    master_ms, master_seq = _split(node.master_id)
    names = node.fields
    deleted = sum(1 for item in items if item[2])
    elements: list[Element] = [len(items) - deleted, deleted, len(names), *names, 0]
    for entry_id, fields, removed in items:
        ms, seq = _split(entry_id)
        pairs = len(fields) // 2
        flags = DELETED if removed else 0
        if fields[0::2] == names:
            elements += [flags | SAME_FIELDS, _delta(ms - master_ms), _delta(seq - master_seq), *fields[1::2]]
            elements.append(pairs + 3)
        else:
            elements += [flags, _delta(ms - master_ms), _delta(seq - master_seq), pairs, *fields]
            elements.append(2 * pairs + 4)
    return encode_listpack(elements)


def _id_lengths(entry_id: int) -> bytes:
    ms, seq = _split(entry_id)
    return encode_length(ms) + encode_length(seq)


def encode_stream(stream: Stream) -> bytes:
    """The body of a RDB_TYPE_STREAM_LISTPACKS_2 value."""
    parts = [encode_length(len(stream.nodes))]
    entries = stream.entries
    for node in stream.nodes:
        items = stream.node_entries(node)
        if items is None:  # the removed entries are not known: the live ones alone make a valid node
            items = [
                (entry_id, entries[entry_id], False)
                for entry_id in stream.index.irange(node.master_id, node.last_id)
            ]
        parts.append(encode_string(node.master_id.to_bytes(16, "big")))
        parts.append(encode_string(_node_listpack(node, items)))
    first_id = stream.first_id
    parts += [
        encode_length(len(stream)),
        _id_lengths(stream.last_id),
        _id_lengths(first_id),
        _id_lengths(stream.max_deleted_id),
        encode_length(stream.entries_added),
    ]
    groups = groups_of(stream)
    parts.append(encode_length(len(groups)))
    for group in groups:
        parts += [encode_string(group.name), _id_lengths(group.last_id)]
        parts.append(encode_length(group.entries_read if group.entries_read is not None else UINT64_MAX))
        parts.append(encode_length(len(group.pending)))
        for entry_id, delivered_ms, count in group.pending:
            parts.append(entry_id.to_bytes(16, "big"))
            parts.append(delivered_ms.to_bytes(8, "little", signed=True))
            parts.append(encode_length(count))
        parts.append(encode_length(len(group.consumers)))
        for name, seen_ms, ids in group.consumers:
            parts += [encode_string(name), seen_ms.to_bytes(8, "little", signed=True)]
            parts.append(encode_length(len(ids)))
            parts += [entry_id.to_bytes(16, "big") for entry_id in ids]
    return b"".join(parts)


# -- reading ---------------------------------------------------------------------------------------


def _integer(element: Element) -> int:
    if type(element) is int:
        return element
    number = parse_int(element)
    if number is None:
        raise BadDataFormatError()
    return number


def _read_node(master_id: int, blob: bytes, stream: Stream, previous_id: int) -> int:
    """Add one node's live entries to `stream`; return the node's last ID (deleted entries count)."""
    elements = decode_listpack(blob)
    if len(elements) < 4:
        raise BadDataFormatError()
    live, deleted, count = (_integer(element) for element in elements[:3])
    names = tuple(as_bytes(element) for element in elements[3 : 3 + count])
    position = 3 + count
    if count < 1 or len(names) != count or position >= len(elements) or _integer(elements[position]) != 0:
        raise BadDataFormatError()
    position += 1
    master_ms, master_seq = _split(master_id)
    node = Node(master_id, names)
    seen_live = seen_deleted = 0
    last_id = previous_id
    while position < len(elements):
        if position + 3 > len(elements):
            raise BadDataFormatError()
        flags = _integer(elements[position])
        ms = (master_ms + _integer(elements[position + 1])) & UINT64_MAX
        seq = (master_seq + _integer(elements[position + 2])) & UINT64_MAX
        position += 3
        if flags & SAME_FIELDS:
            values = [as_bytes(element) for element in elements[position : position + count]]
            if len(values) != count:
                raise BadDataFormatError()
            fields = tuple(part for pair in zip(names, values, strict=True) for part in pair)
            position += count
            expected = count + 3
        else:
            if position >= len(elements):
                raise BadDataFormatError()
            pairs = _integer(elements[position])
            fields = tuple(as_bytes(element) for element in elements[position + 1 : position + 1 + 2 * pairs])
            if pairs < 1 or len(fields) != 2 * pairs:
                raise BadDataFormatError()
            position += 1 + 2 * pairs
            expected = 2 * pairs + 4
        if position >= len(elements) or _integer(elements[position]) != expected:
            raise BadDataFormatError()
        position += 1
        entry_id = ms << 64 | seq
        if entry_id <= last_id or entry_id < master_id:
            raise BadDataFormatError()
        last_id = entry_id
        if flags & DELETED:
            seen_deleted += 1
            if stream.tombstones is None:
                stream.tombstones = SortedDict()
            stream.tombstones[entry_id] = fields
        else:
            seen_live += 1
            stream.entries[entry_id] = fields
    if seen_live != live or seen_deleted != deleted or not live:
        raise BadDataFormatError()
    node.count = live
    node.deleted = deleted
    node.last_id = last_id
    node.body += len(blob) - node.size()  # the model then sees the listpack's real size
    stream.nodes.append(node)
    stream.node_starts.append(master_id)
    return last_id


def _read_id(reader: Reader) -> int:
    ms = reader.length()
    seq = reader.length()
    if ms > UINT64_MAX or seq > UINT64_MAX:
        raise BadDataFormatError()
    return ms << 64 | seq


def decode_stream(reader: Reader, version2: bool) -> Stream:
    """A stream from the body of a type 15 or type 19 value."""
    stream = Stream()
    last_seen = -1
    for _ in range(reader.length()):
        key = reader.string()
        if len(key) != 16:
            raise BadDataFormatError()
        master_id = int.from_bytes(key, "big")
        if master_id <= last_seen:
            raise BadDataFormatError()
        last_seen = _read_node(master_id, reader.string(), stream, last_seen)
    length = reader.length()
    stream.last_id = _read_id(reader)
    if version2:
        _read_id(reader)  # the first ID, which the entries give
        stream.max_deleted_id = _read_id(reader)
        stream.entries_added = reader.length()
    else:
        stream.entries_added = length  # what Redis assumes for a stream from before 7.0
    if length != len(stream.entries) or (stream.entries and stream.last_id < last_seen):
        raise BadDataFormatError()
    stream.index = SortedList(stream.entries)
    groups = [_read_group(reader, version2) for _ in range(reader.length())]
    attach_groups(stream, groups)
    return stream


def _read_group(reader: Reader, version2: bool) -> Group:
    group = Group(reader.string(), _read_id(reader), reader.length() if version2 else None)
    for _ in range(reader.length()):
        entry_id = int.from_bytes(reader.take(16), "big")
        group.pending.append((entry_id, reader.millis(), reader.length()))
    for _ in range(reader.length()):
        name = reader.string()
        seen = reader.millis()
        ids = [int.from_bytes(reader.take(16), "big") for _ in range(reader.length())]
        group.consumers.append((name, seen, ids))
    return group
