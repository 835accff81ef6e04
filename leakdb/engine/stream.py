"""The stream type: entries of field/value pairs under increasing IDs, as Redis keeps them (t_stream.c).

An ID ``ms-seq`` is held as one int, ``ms << 64 | seq``, so IDs compare, sort and increment as plain
integers.  A :class:`Stream` keeps its live entries in a dict (insertion order is ID order, since IDs
only grow) and a ``SortedList`` of their IDs, so XRANGE costs O(log n + k).

Approximate trimming (``MAXLEN ~``) is visible in replies, and Redis trims only whole radix-tree nodes
(listpacks of at most stream-node-max-entries entries and stream-node-max-bytes bytes).  So a stream
also keeps a light model of its nodes: each node's counters and listpack size, never its entries,
which is enough to decide where Redis would have cut.  Like Redis, an empty stream stays a key.
Entries that XDEL or an exact trim removed stay in Redis's node, flagged deleted, until the node
empties; their fields are kept aside (``tombstones``) for as long, so DUMP can write the node as
Redis holds it.

Redis 7.0 also counts the entries ever added and remembers the highest deleted ID, from which it
derives each consumer group's lag; the groups themselves are in :mod:`.stream_groups`, and reading
through a group (delivering entries, serving a consumer's history) is here, beside the entries.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from itertools import islice

from sortedcontainers import SortedDict, SortedList

from .keyspace import TYPE_NAMES
from .numbers import parse_int
from .stream_groups import Consumer, ConsumerGroup

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

    def copy(self) -> Node:
        twin = Node.__new__(Node)
        twin.master_id, twin.last_id, twin.fields = self.master_id, self.last_id, self.fields
        twin.count, twin.deleted, twin.body = self.count, self.deleted, self.body
        return twin

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
    """A Redis stream: live entries by ID, their sorted IDs, the node model, the last ID given out, the
    counters consumer groups' lag is derived from, and the groups (None until the first is created)."""

    __slots__ = (
        "entries",
        "entries_added",
        "groups",
        "index",
        "last_id",
        "max_deleted_id",
        "node_starts",
        "nodes",
        "tombstones",
    )

    def __init__(self) -> None:
        self.entries: dict[int, Fields] = {}
        self.index: SortedList = SortedList()
        self.nodes: list[Node] = []
        self.node_starts: list[int] = []  # master ID of each node, for bisection
        self.last_id = 0
        self.entries_added = 0  # entries ever appended (XSETID may set it)
        self.max_deleted_id = 0  # the highest ID XDEL removed (XSETID may set it)
        self.groups: dict[bytes, ConsumerGroup] | None = None
        # Removed entries still flagged in their node, by ID (None until the first removal).
        self.tombstones: SortedDict | None = None

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[Fields]:
        return iter(self.entries.values())

    def copy(self) -> Stream:
        """An independent copy with the same nodes, counters and groups (Redis's streamDup)."""
        twin = Stream()
        twin.entries = dict(self.entries)
        twin.index = SortedList(self.index)
        twin.nodes = [node.copy() for node in self.nodes]
        twin.node_starts = list(self.node_starts)
        twin.last_id = self.last_id
        twin.entries_added = self.entries_added
        twin.max_deleted_id = self.max_deleted_id
        if self.groups:
            twin.groups = {name: group.copy() for name, group in self.groups.items()}
        if self.tombstones:
            twin.tombstones = self.tombstones.copy()
        return twin

    @classmethod
    def from_entries(cls, items: list[tuple[int, Fields]], last_id: int) -> Stream:
        """A stream of these entries (in ID order), with nodes packed as appending them would pack them;
        its entries-added counter starts at their number, as Redis's for a stream loaded from an older
        format."""
        stream = cls()
        for entry_id, fields in items:
            stream.append(entry_id, fields)
        stream.last_id = last_id
        return stream

    def restore_nodes(self, nodes: list[tuple[int, int, int, int, int, Fields]]) -> bool:
        """Put back a saved node model, (master ID, last ID, live, deleted, body bytes, master fields)
        per node, if it accounts for the live entries exactly; otherwise keep the repacked one."""
        starts = [node[0] for node in nodes]
        if starts != sorted(set(starts)) or (starts and self.index and self.index[0] < starts[0]):
            return False
        index = self.index
        for position, (master_id, last_id, count, _deleted, _body, _fields) in enumerate(nodes):
            upper = starts[position + 1] if position + 1 < len(starts) else MAX_ID + 1
            if count < 1 or index.bisect_left(upper) - index.bisect_left(master_id) != count:
                return False
            if last_id >= upper or index[index.bisect_left(upper) - 1] > last_id:
                return False
        if sum(node[2] for node in nodes) != len(index):
            return False
        self.nodes = []
        for master_id, last_id, count, deleted, body, fields in nodes:
            node = Node(master_id, fields)
            node.last_id, node.count, node.deleted, node.body = last_id, count, deleted, body
            self.nodes.append(node)
        self.node_starts = starts
        return True

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
        self.entries_added += 1

    def delete(self, entry_id: int) -> bool:
        """XDEL one entry; the highest ID deleted this way is remembered (it makes lag unknowable)."""
        fields = self.entries.pop(entry_id, None)
        if fields is None:
            return False
        if entry_id > self.max_deleted_id:
            self.max_deleted_id = entry_id
        self.index.remove(entry_id)
        position = bisect_right(self.node_starts, entry_id) - 1
        node = self.nodes[position]
        node.count -= 1
        if node.count:
            node.deleted += 1
            self._bury(entry_id, fields)
        else:  # Redis frees a node when its last live entry goes
            self._forget_node(node)
            del self.nodes[position]
            del self.node_starts[position]
        return True

    def _bury(self, entry_id: int, fields: Fields) -> None:
        if self.tombstones is None:
            self.tombstones = SortedDict()
        self.tombstones[entry_id] = fields

    def _forget_node(self, node: Node) -> None:
        """Drop the tombstones of a node that goes."""
        tombstones = self.tombstones
        if tombstones:
            for entry_id in list(tombstones.irange(node.master_id, node.last_id)):
                del tombstones[entry_id]

    def node_entries(self, node: Node) -> list[tuple[int, Fields, bool]] | None:
        """A node's entries in ID order as (ID, fields, deleted), or None when the removed ones are not
        all known (a node model loaded from a file keeps their count only)."""
        live = [
            (entry_id, self.entries[entry_id], False)
            for entry_id in self.index.irange(node.master_id, node.last_id)
        ]
        if not node.deleted:
            return live
        tombstones = self.tombstones
        if not tombstones:
            return None
        dead = [
            (entry_id, tombstones[entry_id], True)
            for entry_id in tombstones.irange(node.master_id, node.last_id)
        ]
        if len(dead) != node.deleted:
            return None
        return sorted(live + dead)

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
            self._forget_node(node)
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
        self._drop_head(some, bury=True)
        node.count -= some
        node.deleted += some
        return some

    def _drop_head(self, count: int, bury: bool = False) -> None:
        entries = self.entries
        for entry_id in self.index.islice(0, count):
            fields = entries.pop(entry_id)
            if bury:
                self._bury(entry_id, fields)
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

    def radix_tree_nodes(self) -> int:
        """The node count of Redis's radix tree of this stream's listpacks (XINFO's radix-tree-nodes)."""
        return radix_tree_nodes(self.node_starts)

    # -- what consumer groups derive from the stream ---------------------------------------------------

    @property
    def first_id(self) -> int:
        """The first live entry's ID, 0 when there is none (Redis's recorded first entry ID)."""
        return self.index[0] if self.index else 0

    def has_tombstones(self, start: int, end: int = MAX_ID) -> bool:
        """Whether an entry XDEL removed may lie between `start` and `end` (streamRangeHasTombstones)."""
        deleted = self.max_deleted_id
        if not self.entries or not deleted or self.first_id > deleted:
            return False
        return start <= deleted <= end

    def estimate_entries_read(self, entry_id: int) -> int | None:
        """How many entries were added up to `entry_id`, when that can be known (None otherwise): Redis
        7.0's streamEstimateDistanceFromFirstEverEntry."""
        added = self.entries_added
        if not added:
            return 0
        if not self.entries and entry_id <= self.last_id:
            return added
        if entry_id == self.last_id:
            return added
        if entry_id > self.last_id:
            return None
        first = self.first_id
        deleted = self.max_deleted_id
        if not deleted or deleted < first:  # no deletion inside the live entries
            if entry_id < first:
                return added - len(self.entries)
            if entry_id == first:
                return added - len(self.entries) + 1
        return None

    def lag(self, group: ConsumerGroup) -> int | None:
        """Entries added that the group has not read yet, or None when that cannot be known."""
        if not self.entries_added:
            return 0
        if group.entries_read is not None and not self.has_tombstones(group.last_id):
            return self.entries_added - group.entries_read
        read = self.estimate_entries_read(group.last_id)
        return None if read is None else self.entries_added - read

    # -- consumer groups -------------------------------------------------------------------------------

    def group(self, name: bytes) -> ConsumerGroup | None:
        groups = self.groups
        return None if groups is None else groups.get(name)

    def create_group(self, name: bytes, last_id: int, entries_read: int | None) -> bool:
        if self.groups is None:
            self.groups = {}
        elif name in self.groups:
            return False
        self.groups[name] = ConsumerGroup(last_id, entries_read)
        return True

    def destroy_group(self, name: bytes) -> bool:
        return self.groups is not None and self.groups.pop(name, None) is not None

    def sorted_groups(self) -> list[tuple[bytes, ConsumerGroup]]:
        groups = self.groups
        return [] if not groups else sorted(groups.items())

    def read_new(
        self, group: ConsumerGroup, consumer: Consumer, start: int, count: int, noack: bool, now: int
    ) -> list[tuple[int, Fields]]:
        """Deliver entries from `start` on (at most `count`, 0: all) to `consumer`: the group's last ID
        and read counter move past them and, unless `noack`, each becomes pending for the consumer."""
        items = self.range(start, MAX_ID, count, False)
        for entry_id, _fields in items:
            if entry_id > group.last_id:
                if group.entries_read is not None and not self.has_tombstones(entry_id):
                    group.entries_read += 1
                elif self.entries_added:
                    group.entries_read = self.estimate_entries_read(entry_id)
                group.last_id = entry_id
            if not noack:
                group.deliver(entry_id, consumer, now)
        return items

    def read_history(
        self, group: ConsumerGroup, consumer: Consumer, start: int, count: int, now: int
    ) -> list[tuple[int, Fields | None]]:
        """The consumer's own pending entries from `start` on, delivered again (None for an entry that
        was deleted meanwhile, which stays pending)."""
        items: list[tuple[int, Fields | None]] = []
        entries = self.entries
        for entry_id in consumer.pending.irange(minimum=start):
            if count and len(items) == count:
                break
            fields = entries.get(entry_id)
            if fields is not None:
                pending = group.pending[entry_id]
                pending.delivery_time = now
                pending.delivery_count += 1
            items.append((entry_id, fields))
        return items


def _common_prefix(a: int, b: int) -> int:
    """How many leading bytes two 128-bit keys share."""
    return (128 - (a ^ b).bit_length()) // 8


def radix_tree_nodes(keys: list[int]) -> int:
    """The nodes of Redis's radix tree (rax) holding these sorted 128-bit keys.

    A rax keeps one node per branching point and per key end, plus one compressed node for each run of
    two or more bytes between them, and merges again on deletion; so the count follows from the keys.
    """
    if not keys:
        return 1  # the empty root
    if len(keys) == 1:
        return 2  # the root compressing all 16 bytes, and the key's node
    top = _common_prefix(keys[0], keys[-1])
    return (1 if top else 0) + _subtree_nodes(keys, 0, len(keys), top)


def _subtree_nodes(keys: list[int], low: int, high: int, depth: int) -> int:
    """Nodes under (and including) the branch of keys[low:high], which share `depth` bytes."""
    if high - low == 1:
        return 1
    total = 1
    shift = 8 * (15 - depth)
    start = low
    while start < high:
        byte = (keys[start] >> shift) & 0xFF
        end = start + 1
        while end < high and (keys[end] >> shift) & 0xFF == byte:
            end += 1
        child_depth = 16 if end - start == 1 else _common_prefix(keys[start], keys[end - 1])
        total += (1 if child_depth - depth >= 2 else 0) + _subtree_nodes(keys, start, end, child_depth)
        start = end
    return total


TYPE_NAMES[Stream] = "stream"
