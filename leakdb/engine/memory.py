"""Memory accounting for ``maxmemory``: what each key costs, kept up to date as the keyspace changes.

Python cannot ask its allocator what one object tree costs, and measuring RSS after each write is both
slow and useless (freed memory stays in the process).  So each key gets a size estimate when it is
written: the allocator blocks of its key and value objects (pymalloc rounds to 16 bytes, malloc adds
a header) plus a per-key constant for the tracking record and the sampling snapshot, measured with
tracemalloc and RSS on CPython 3.11.  The dicts holding the keys are measured whole, which follows
their resizes exactly.  Containers are estimated from their own size and a
sample of their elements, as Redis's MEMORY USAGE does.  A :class:`MemoryTracker` is a keyspace
listener, installed only while maxmemory is set, so a server without a limit pays nothing.

``used_memory``, what maxmemory limits, is the dicts plus the sum of the estimates (and, in the
server, the clients' buffers); the interpreter's own size is reported beside it, not counted.
Each key also carries a 42-bit access stamp next to its size, which
evict.py reads and writes: milliseconds for LRU, Redis's 16-bit minutes and 8-bit counter for LFU.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable
from itertools import islice
from typing import Any

from .keyspace import DELETE, EXPIRE, FLUSHDB, SET, SWAPDB, Change, Keyspace
from .stream import Stream

STAMP_BITS = 42
STAMP_MASK = (1 << STAMP_BITS) - 1

BYTES_HEADER = sys.getsizeof(b"")  # 33 on 64-bit CPython: object header, length, hash, nul
FLOAT_SIZE = 32  # a float object in its pymalloc block
# Per key, besides its key and value objects: the packed size/stamp int in the tracker's dict, and the
# key's slot in a sampling snapshot with its share of deleted keys the snapshot still holds.  The dicts
# themselves are measured whole (sys.getsizeof is O(1) for a dict), see `structure_bytes`.
KEY_OVERHEAD = 56
# Per key with a deadline: the deadline int and the (deadline, key) tuple of the expiry heap.
VOLATILE_OVERHEAD = 112
DICT_HEADER = 80  # the dict object and its keys-object header
DICT_ENTRY = 24  # hash, key and value pointers
# A deleted or re-deadlined key's entry left in the expiry heap until it surfaces: its tuple, its deadline
# and the key object it keeps alive.  The heap is rebuilt once stale entries outnumber live ones, so it
# is counted at that size from the start: as many stale entries as keys with a deadline.
STALE_HEAP_ENTRY = 160
# A key's share of its database dict's table, which MEMORY USAGE adds to what the tracker counts.
DICT_ENTRY_SHARE = 64
# Per element of a sorted set: its score float, the (score, member) tuple and its SortedList slot.
ZSET_ELEMENT_OVERHEAD = 112
# Per stream entry besides its fields: the ID int, its slots in the entries dict and the sorted index.
STREAM_ENTRY_OVERHEAD = 112
# Per pending entry of a consumer group: the PendingEntry, its ID int, its slots in the group's sorted
# PEL and in its consumer's sorted list (measured with tracemalloc: about 110 bytes).
PENDING_ENTRY_SIZE = 112
# Per consumer group and per consumer: the object, its dicts and sorted containers when nearly empty.
GROUP_OVERHEAD = 600
CONSUMER_OVERHEAD = 250
DEFAULT_SAMPLES = 5


def block(size: int) -> int:
    """Bytes an allocation of `size` occupies: pymalloc rounds to 16; above 512 malloc adds a header."""
    if size > 512:
        size += 8
    return (size + 15) & ~15


def bytes_size(raw: bytes) -> int:
    return block(BYTES_HEADER + len(raw))


def _element_size(element: Any) -> int:
    if element.__class__ is bytes:
        return bytes_size(element)
    return block(sys.getsizeof(element))


def _sampled_average(elements: Any, samples: int, size_of: Callable[[Any], int]) -> float:
    taken = list(islice(elements, samples)) if samples else list(elements)
    if not taken:
        return 0.0
    return sum(size_of(element) for element in taken) / len(taken)


def _pair_size(pair: tuple[bytes, bytes]) -> int:
    return bytes_size(pair[0]) + bytes_size(pair[1])


def _fields_size(fields: tuple[bytes, ...]) -> int:
    return block(sys.getsizeof(fields)) + sum(bytes_size(part) for part in fields)


def stream_size(stream: Stream, samples: int = DEFAULT_SAMPLES) -> int:
    """A stream's entries (sampled) and its consumer groups (counted: groups are few, and a PEL's
    entries all cost the same)."""
    per_entry = _sampled_average(iter(stream.entries.values()), samples, _fields_size) + STREAM_ENTRY_OVERHEAD
    size = block(sys.getsizeof(stream)) + int(len(stream.entries) * per_entry) + 64 * len(stream.nodes)
    for name, group in (stream.groups or {}).items():
        size += GROUP_OVERHEAD + bytes_size(name) + len(group.pending) * PENDING_ENTRY_SIZE
        size += sum(CONSUMER_OVERHEAD + bytes_size(consumer) for consumer in group.consumers)
    return size


def value_size(value: Any, samples: int = DEFAULT_SAMPLES) -> int:
    """Estimated bytes held by a value; containers average `samples` elements (0: every element)."""
    if value.__class__ is bytes or value.__class__ is bytearray:
        return bytes_size(value)
    count = len(value)
    own = block(sys.getsizeof(value))
    if value.__class__ is dict:
        return own + int(count * _sampled_average(iter(value.items()), samples, _pair_size))
    if value.__class__ is set or value.__class__ is deque:
        return own + int(count * _sampled_average(iter(value), samples, _element_size))
    if value.__class__ is Stream:
        return stream_size(value, samples)
    scores = getattr(value, "scores", None)
    if scores.__class__ is dict:  # a sorted set: member -> score dict plus the ordered index
        per_member = _sampled_average(iter(scores), samples, bytes_size) + ZSET_ELEMENT_OVERHEAD
        return own + block(sys.getsizeof(scores)) + int(count * per_member)
    try:
        return own + int(count * _sampled_average(iter(value), samples, _element_size))
    except TypeError:
        return own


def dict_bytes(table: dict[Any, Any]) -> int:
    """What a dict costs, counting a resize before it happens.

    CPython resizes a dict to the power of two above three times its live entries, and a dict whose
    keys come and go (a cache) keeps that size, so that is its cost: the larger of it and the size the
    dict has now.  Counting it early keeps the doubling of a big table from overshooting maxmemory.
    """
    slots = 8
    while slots < 3 * len(table):
        slots *= 2
    index_width = 1 if slots <= 128 else 2 if slots <= 2**15 else 4 if slots <= 2**31 else 8
    settled = DICT_HEADER + slots * index_width + (slots * 2 // 3) * DICT_ENTRY
    return max(settled, sys.getsizeof(table))


def key_size(key: bytes, value: Any, volatile: bool, samples: int = DEFAULT_SAMPLES) -> int:
    """Estimated bytes one key costs: key, value, and the keyspace's bookkeeping for it."""
    size = KEY_OVERHEAD + bytes_size(key) + value_size(value, samples)
    return size + VOLATILE_OVERHEAD if volatile else size


class MemoryTracker:
    """Size estimates and access stamps of every key of a keyspace, and their running total.

    ``meta[db][key]`` packs ``size << STAMP_BITS | stamp`` in one int: one dict entry per key.
    ``new_stamp`` gives a new key's stamp; ``keep_stamp`` says an overwrite keeps the old one (LFU's
    counter survives a SET, as in Redis) rather than taking a new one.
    """

    def __init__(self, keyspace: Keyspace, new_stamp: Callable[[], int]) -> None:
        self.keyspace = keyspace
        self.meta: list[dict[bytes, int]] = [{} for _ in keyspace.databases]
        self.db_bytes = [0] * len(keyspace.databases)
        # Keys added per db since the eviction samplers last looked (None: too many, sample afresh).
        self.added: list[list[bytes] | None] = [[] for _ in keyspace.databases]
        self.total = 0
        self.new_stamp = new_stamp
        self.keep_stamp = False
        self.rescan()

    def rescan(self) -> None:
        """Estimate every key from scratch (when installed over a loaded keyspace)."""
        stamp = self.new_stamp()
        for db in self.keyspace.databases:
            expires = db.expires
            self.meta[db.index] = {
                key: key_size(key, value, key in expires) << STAMP_BITS | stamp
                for key, value in db.data.items()
            }
            self.db_bytes[db.index] = sum(packed >> STAMP_BITS for packed in self.meta[db.index].values())
            self.added[db.index] = None
        self.total = sum(self.db_bytes)

    def structure_bytes(self) -> int:
        """The tables holding the keys: database, expiry and tracking dicts, and the expiry heaps."""
        return sum(
            dict_bytes(db.data)
            + dict_bytes(db.expires)
            + dict_bytes(meta)
            + sys.getsizeof(db.deadlines)
            + max(len(db.deadlines) - len(db.expires), len(db.expires)) * STALE_HEAP_ENTRY
            for db, meta in zip(self.keyspace.databases, self.meta, strict=True)
        )

    def key_bytes(self, db: int, key: bytes) -> int | None:
        packed = self.meta[db].get(key)
        return None if packed is None else packed >> STAMP_BITS

    def on_change(self, change: Change) -> None:
        op, db, key, value, expire_at_ms, _event = change
        if db < 0:
            return  # a record outside the databases (META_DB): not data
        if op == SET:
            self._store(db, key, key_size(key, value, expire_at_ms is not None))
        elif op == DELETE:
            packed = self.meta[db].pop(key, None)
            if packed is not None:
                size = packed >> STAMP_BITS
                self.db_bytes[db] -= size
                self.total -= size
        elif op == EXPIRE:
            value = self.keyspace.databases[db].data.get(key)
            if value is not None:
                self._store(db, key, key_size(key, value, expire_at_ms is not None))
        elif op == FLUSHDB:
            self.meta[db] = {}
            self.added[db] = None
            self.total -= self.db_bytes[db]
            self.db_bytes[db] = 0
        elif op == SWAPDB:
            other = value
            self.meta[db], self.meta[other] = self.meta[other], self.meta[db]
            self.db_bytes[db], self.db_bytes[other] = self.db_bytes[other], self.db_bytes[db]
            self.added[db] = self.added[other] = None

    def _store(self, db: int, key: bytes, size: int) -> None:
        meta = self.meta[db]
        old = meta.get(key)
        if old is None:
            stamp = self.new_stamp()
            added = self.added[db]
            if added is not None:
                added.append(key)
                if len(added) > len(meta) + 64:  # nobody samples: stop holding deleted keys
                    self.added[db] = None
        else:
            old_size = old >> STAMP_BITS
            self.db_bytes[db] -= old_size
            self.total -= old_size
            stamp = old & STAMP_MASK if self.keep_stamp else self.new_stamp()
        meta[key] = size << STAMP_BITS | stamp
        self.db_bytes[db] += size
        self.total += size

    def restamp(self) -> None:
        """Give every key a new stamp (the policy switched between LRU and LFU)."""
        stamp = self.new_stamp()
        for meta in self.meta:
            for key, packed in meta.items():
                meta[key] = packed - (packed & STAMP_MASK) + stamp
