"""Consumer groups of a stream: each group's last delivered ID, its pending entries list and its consumers.

A :class:`ConsumerGroup` is Redis's streamCG.  Its pending entries list (PEL) maps the ID of every
entry delivered and not yet acknowledged to a :class:`PendingEntry` (streamNACK: owner, last delivery
time, delivery count); each :class:`Consumer` keeps the sorted IDs it owns, so both "the group's
pending entries in a range" and "this consumer's" are range queries.  Times are milliseconds of the
caller's clock (the commands pass the keyspace's ``now_ms``), so nothing here reads a clock itself.
Groups and consumers are listed in byte order of their names, as Redis's radix trees list them.
"""

from __future__ import annotations

from sortedcontainers import SortedDict, SortedList


class Consumer:
    """A consumer of a group: when it was last seen, and the IDs of the entries it owns."""

    __slots__ = ("name", "pending", "seen_time")

    def __init__(self, name: bytes, seen_time: int) -> None:
        self.name = name
        self.seen_time = seen_time
        self.pending: SortedList = SortedList()


class PendingEntry:
    """An entry delivered to a consumer and not acknowledged yet (Redis's streamNACK)."""

    __slots__ = ("consumer", "delivery_count", "delivery_time")

    def __init__(self, consumer: Consumer | None, delivery_time: int, delivery_count: int = 1) -> None:
        self.consumer = consumer  # None only for a moment, while XCLAIM FORCE creates it
        self.delivery_time = delivery_time
        self.delivery_count = delivery_count


class ConsumerGroup:
    """A consumer group: the last ID delivered, how many entries that is (None: unknown), the PEL and
    the consumers by name."""

    __slots__ = ("consumers", "entries_read", "last_id", "pending")

    def __init__(self, last_id: int, entries_read: int | None = None) -> None:
        self.last_id = last_id
        # The group's logical read counter: entries delivered since the first entry ever added, when
        # that can be known (see Stream.estimate_entries_read).
        self.entries_read = entries_read
        self.pending: SortedDict = SortedDict()  # entry ID -> PendingEntry
        self.consumers: dict[bytes, Consumer] = {}

    # -- consumers -----------------------------------------------------------------------------------

    def consumer(self, name: bytes, now: int) -> Consumer:
        """The consumer called `name`, created if missing; either way it was seen `now`."""
        consumer = self.consumers.get(name)
        if consumer is None:
            consumer = self.consumers[name] = Consumer(name, now)
        else:
            consumer.seen_time = now
        return consumer

    def create_consumer(self, name: bytes, now: int) -> bool:
        if name in self.consumers:
            return False
        self.consumers[name] = Consumer(name, now)
        return True

    def delete_consumer(self, name: bytes) -> int | None:
        """Remove a consumer and the entries it owns from the PEL; how many it owned (None: no such one)."""
        consumer = self.consumers.pop(name, None)
        if consumer is None:
            return None
        for entry_id in consumer.pending:
            del self.pending[entry_id]
        return len(consumer.pending)

    def sorted_consumers(self) -> list[Consumer]:
        return [self.consumers[name] for name in sorted(self.consumers)]

    # -- the pending entries list --------------------------------------------------------------------

    def deliver(self, entry_id: int, consumer: Consumer, now: int) -> None:
        """Record that `entry_id` went to `consumer`: a new pending entry, or one taken over (XGROUP
        SETID can make a group deliver an entry that another consumer still owns)."""
        pending = self.pending.get(entry_id)
        if pending is None:
            self.pending[entry_id] = PendingEntry(consumer, now)
            consumer.pending.add(entry_id)
            return
        if pending.consumer is not consumer:
            self._move(entry_id, pending, consumer)
        pending.delivery_time = now
        pending.delivery_count = 1

    def acknowledge(self, entry_id: int) -> bool:
        pending = self.pending.pop(entry_id, None)
        if pending is None:
            return False
        if pending.consumer is not None:
            pending.consumer.pending.remove(entry_id)
        return True

    def claim(self, entry_id: int, pending: PendingEntry, consumer: Consumer) -> None:
        """Give a pending entry to `consumer` (the caller sets its time and count)."""
        if pending.consumer is not consumer:
            self._move(entry_id, pending, consumer)

    def force_pending(self, entry_id: int, now: int) -> PendingEntry:
        """A pending entry without an owner yet, for XCLAIM FORCE on an entry nobody owns."""
        pending = self.pending[entry_id] = PendingEntry(None, now)
        return pending

    def _move(self, entry_id: int, pending: PendingEntry, consumer: Consumer) -> None:
        if pending.consumer is not None:
            pending.consumer.pending.remove(entry_id)
        consumer.pending.add(entry_id)
        pending.consumer = consumer

    def copy(self) -> ConsumerGroup:
        group = ConsumerGroup(self.last_id, self.entries_read)
        consumers = group.consumers
        for name, consumer in self.consumers.items():
            twin = consumers[name] = Consumer(name, consumer.seen_time)
            twin.pending = SortedList(consumer.pending)
        group.pending = SortedDict(
            (entry_id, PendingEntry(consumers[p.consumer.name], p.delivery_time, p.delivery_count))
            for entry_id, p in self.pending.items()
        )
        return group

    @classmethod
    def restore(
        cls,
        last_id: int,
        entries_read: int | None,
        consumers: list[tuple[bytes, int]],
        pending: list[tuple[int, bytes, int, int]],
    ) -> ConsumerGroup:
        """A group rebuilt from its parts: consumers as (name, seen time), pending entries as (ID,
        owner's name, delivery time, delivery count).  An owner missing from `consumers` is added."""
        group = cls(last_id, entries_read)
        for name, seen_time in consumers:
            group.consumers[name] = Consumer(name, seen_time)
        for entry_id, owner, delivery_time, delivery_count in pending:
            consumer = group.consumers.get(owner)
            if consumer is None:
                consumer = group.consumers[owner] = Consumer(owner, delivery_time)
            group.pending[entry_id] = PendingEntry(consumer, delivery_time, delivery_count)
            consumer.pending.add(entry_id)
        return group
