"""The stream type: entries of field/value pairs under increasing IDs, as Redis keeps them (t_stream.c).

An ID ``ms-seq`` is held as one int, ``ms << 64 | seq``, so IDs compare, sort and increment as plain
integers.  A :class:`Stream` keeps its live entries in a dict (insertion order is ID order, since IDs
only grow) and a ``SortedList`` of their IDs, so XRANGE costs O(log n + k).

Approximate trimming (``MAXLEN ~``) is visible in replies, and Redis trims only whole radix-tree nodes
(listpacks of at most stream-node-max-entries entries and stream-node-max-bytes bytes).  So a stream
also keeps a light model of its nodes: each node's counters and listpack size, never its entries,
which is enough to decide where Redis would have cut.  Like Redis, an empty stream stays a key.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from itertools import islice

from sortedcontainers import SortedList

from .keyspace import TYPE_NAMES
from .numbers import parse_int

UINT64_MAX = 2**64 - 1
MAX_ID = 2**128 - 1
NODE_MAX_ENTRIES = 100  # stream-node-max-entries
NODE_MAX_BYTES = 4096  # stream-node-max-bytes

Fields = tuple[bytes, ...]  # field, value, field, value, ...


def format_id(entry_id: int) -> bytes:
    return b"%d-%d" % (entry_id >> 64, entry_id & UINT64_MAX)


# -- listpack sizes: what Redis's node-full test sees --------------------------------------------


def _with_backlen(size: int) -> int:
    if size <= 127:
        return size + 1
    if size < 16383:
        return size + 2
    if size < 2097151:
        return size + 3
    return size + (4 if size < 268435455 else 5)


def _int_size(value: int) -> int:
    """Bytes a listpack spends on an integer element, its back-length included."""
    if 0 <= value <= 127:
        return 2
    if -4096 <= value <= 4095:
        return 3
    if -32768 <= value <= 32767:
        return 4
    if -8388608 <= value <= 8388607:
        return 5
    return 6 if -(2**31) <= value < 2**31 else 10


def _str_size(value: bytes) -> int:
    """Bytes a listpack spends on a string element; strings that read as integers are stored as such."""
    if len(value) <= 20:
        number = parse_int(value)
        if number is not None:
            return _int_size(number)
    length = len(value)
    return _with_backlen(length + (1 if length < 64 else 2 if length < 4096 else 5))


def _signed(value: int) -> int:
    """A uint64 difference as the int64 Redis passes to lpAppendInteger."""
    value &= UINT64_MAX
    return value - 2**64 if value >= 2**63 else value


class Node:
    """What Redis's listpack node holding a run of entries looks like from the outside."""

    __slots__ = ("body", "count", "deleted", "fields", "last_id", "master_id")

    def __init__(self, master_id: int, fields: Fields) -> None:
        self.master_id = master_id
        self.last_id = master_id  # the node's last entry, deleted or not
        self.fields = fields  # the master entry's field names
        self.count = 0  # live entries
        self.deleted = 0  # entries flagged deleted, still taking room
        # Listpack header and end byte, then the master entry less its two counters.
        self.body = 7 + _int_size(len(fields)) + sum(map(_str_size, fields)) + _int_size(0)

    def size(self) -> int:
        return self.body + _int_size(self.count) + _int_size(self.deleted)

    def full(self, element_bytes: int) -> bool:
        if self.size() + element_bytes >= NODE_MAX_BYTES:
            return True
        return self.count + self.deleted >= NODE_MAX_ENTRIES

    def add(self, entry_id: int, fields: Fields) -> None:
        names = fields[0::2]
        same = names == self.fields
        pairs = len(names)
        size = 2  # the flags
        size += _int_size(_signed((entry_id >> 64) - (self.master_id >> 64)))
        size += _int_size(_signed(entry_id - self.master_id))
        if same:
            size += sum(map(_str_size, fields[1::2])) + _int_size(pairs + 3)
        else:
            size += _int_size(pairs) + sum(map(_str_size, fields)) + _int_size(2 * pairs + 4)
        self.body += size
        self.count += 1
        self.last_id = entry_id


class Stream:
    """A Redis stream: live entries by ID, their sorted IDs, the node model and the last ID given out."""

    __slots__ = ("entries", "index", "last_id", "node_starts", "nodes")

    def __init__(self) -> None:
        self.entries: dict[int, Fields] = {}
        self.index: SortedList = SortedList()
        self.nodes: list[Node] = []
        self.node_starts: list[int] = []  # master ID of each node, for bisection
        self.last_id = 0

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[Fields]:
        return iter(self.entries.values())

    def copy(self) -> Stream:
        return Stream.from_entries(list(self.entries.items()), self.last_id)

    @classmethod
    def from_entries(cls, items: list[tuple[int, Fields]], last_id: int) -> Stream:
        """A stream of these entries (in ID order), with nodes packed as appending them would pack them."""
        stream = cls()
        for entry_id, fields in items:
            stream.append(entry_id, fields)
        stream.last_id = last_id
        return stream

    # -- IDs -----------------------------------------------------------------------------------------

    def next_id(self, now_ms: int) -> int:
        """The ID ``*`` stands for: now, or one past the last ID when the clock is not ahead of it."""
        if now_ms > self.last_id >> 64:
            return now_ms << 64
        return self.last_id + 1  # a full sequence carries into the milliseconds, as streamIncrID does

    # -- writing -------------------------------------------------------------------------------------

    def append(self, entry_id: int, fields: Fields) -> None:
        """Add an entry whose ID is above every ID given out before."""
        nodes = self.nodes
        tail = nodes[-1] if nodes else None
        if tail is None or tail.full(sum(map(len, fields))):
            tail = Node(entry_id, fields[0::2])
            nodes.append(tail)
            self.node_starts.append(entry_id)
        tail.add(entry_id, fields)
        self.entries[entry_id] = fields
        self.index.add(entry_id)
        self.last_id = entry_id

    def delete(self, entry_id: int) -> bool:
        if self.entries.pop(entry_id, None) is None:
            return False
        self.index.remove(entry_id)
        position = bisect_right(self.node_starts, entry_id) - 1
        node = self.nodes[position]
        node.count -= 1
        if node.count:
            node.deleted += 1
        else:  # Redis frees a node when its last live entry goes
            del self.nodes[position]
            del self.node_starts[position]
        return True

    def trim(self, maxlen: int | None, minid: int, approx: bool, limit: int) -> int:
        """Remove entries from the head as Redis's streamTrim does; return how many went.

        Whole nodes go while the stream stays at or above `maxlen` (or while a node's last ID is below
        `minid`) and `limit` (0: none) allows; then, unless `approx`, entries of the first remaining node.
        """
        removed = 0
        while self.nodes:
            if maxlen is not None and len(self.entries) <= maxlen:
                break
            node = self.nodes[0]
            if limit and removed + node.count > limit:
                break
            if not self._node_goes(node, maxlen, minid):
                if not approx:
                    removed += self._trim_inside(node, maxlen, minid)
                break
            self._drop_head(node.count)
            del self.nodes[0]
            del self.node_starts[0]
            removed += node.count
        return removed

    def _node_goes(self, node: Node, maxlen: int | None, minid: int) -> bool:
        if maxlen is not None:
            return len(self.entries) - node.count >= maxlen
        return node.last_id < minid

    def _trim_inside(self, node: Node, maxlen: int | None, minid: int) -> int:
        """Flag the head node's first entries deleted, down to `maxlen` or up to `minid`."""
        if maxlen is not None:
            some = len(self.entries) - maxlen
        else:
            some = min(self.index.bisect_left(minid), node.count)
        self._drop_head(some)
        node.count -= some
        node.deleted += some
        return some

    def _drop_head(self, count: int) -> None:
        entries = self.entries
        for entry_id in self.index.islice(0, count):
            del entries[entry_id]
        del self.index[:count]

    # -- reading -------------------------------------------------------------------------------------

    def range(self, start: int, end: int, count: int, reverse: bool) -> list[tuple[int, Fields]]:
        """Entries with start <= ID <= end, at most `count` (0: all), from the high end if `reverse`."""
        if start > end:
            return []
        ids = self.index.irange(start, end, reverse=reverse)
        if count:
            ids = islice(ids, count)
        entries = self.entries
        return [(entry_id, entries[entry_id]) for entry_id in ids]


TYPE_NAMES[Stream] = "stream"
