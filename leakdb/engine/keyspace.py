"""The keyspace: numbered databases of binary-safe keys, per-key expiry, and the single change hook.

Keys are ``bytes``.  A value's Python type is its Redis type: ``bytes`` is a string, and the other Redis
types get their own container types (see :data:`TYPE_NAMES`), so a command checks the type with one
``type(value) is bytes`` test and raises :class:`~leakdb.errors.WrongTypeError` on a mismatch.

Bit-level writes (SETBIT, BITFIELD) are the one exception to "a string is bytes": so that each costs
O(1) rather than a copy of the whole string, :meth:`Database.write_bits` keeps a string as a
``bytearray`` changed in place.  It never leaks: :meth:`Database.lookup` (every other read) turns it
back into bytes where it lies, the few readers of ``data`` itself do the same, and change records
always carry bytes.

Every mutation goes through a :class:`Database` method that ends by calling ``database.notify`` with a
change record.  ``notify`` is ``None`` while nothing listens (memory mode), so the hook costs one
attribute test.  Persistence, the write-behind queue, WATCH and keyspace notifications are listeners.
"""

from __future__ import annotations

import heapq
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from ..errors import DBIndexError, NotAnIntegerError, OverflowError_, WrongTypeError
from .numbers import INT64_MAX, INT64_MIN, parse_int

DEFAULT_DATABASES = 16

# Redis type name of each engine value type: a string is bytes, a hash a dict of bytes to bytes, a list a
# deque of bytes, a set a set of bytes; the sorted set type registers itself here.
TYPE_NAMES: dict[type, str] = {bytes: "string", bytearray: "string", dict: "hash", deque: "list", set: "set"}


# Change operations.
SET = "set"  # key now holds `value` with deadline `expire_at_ms` (None: no expiry)
DELETE = "del"  # key is gone (deleted, expired, moved away or evicted)
EXPIRE = "expire"  # only the key's deadline changed, to `expire_at_ms` (None: persisted)
FLUSHDB = "flushdb"  # every key of database `db` is gone
SWAPDB = "swapdb"  # databases `db` and `value` (an int) exchanged their contents

# Events the engine itself names: a key removed by its deadline, and one an EXPIRE in the past removed.
EXPIRED_EVENT = "expired"
DEL_EVENT = "del"

# The database index of records that belong to no database (function libraries): changes to them are
# SET and DELETE of `key` in this "database", so they travel to the storage with every other write.
META_DB = -(2**31)


class Change(NamedTuple):
    """One mutation, as listeners see it."""

    op: str
    db: int
    key: bytes | None
    value: Any
    expire_at_ms: int | None
    # What a keyspace notification calls this change (Redis's event name: "lpush", "expired"), or
    # None for a change that has no event; see :func:`events_of` for the forms it takes.
    event: Any = None


Listener = Callable[[Change], None]

# Change(...) runs a Python-level __new__; building the tuple directly costs less than half as much,
# and a change is built for every write while anything listens.
_new_change = tuple.__new__


# The event of a change that created its key, when "new" events are asked for (Database.announce).
NEW_EVENT = "new"


def created(event: Any) -> Any:
    """The event of a change that also created its key: "new" comes first, as Redis sends it."""
    if event is None:
        return NEW_EVENT
    if event.__class__ is tuple:
        return (NEW_EVENT, *event)
    return (NEW_EVENT, event)


def now_ms() -> int:
    return int(time.time() * 1000)


class Database:
    """One numbered database: ``data`` maps keys to values, ``expires`` maps keys to deadlines (ms)."""

    __slots__ = ("data", "deadlines", "expires", "index", "notify", "raw_strings")

    def __init__(self, index: int) -> None:
        self.index = index
        self.data: dict[bytes, Any] = {}
        self.expires: dict[bytes, int] = {}
        # (deadline, key) min-heap for active expiry; entries go stale when a deadline changes and are
        # checked against `expires` when they reach the top.
        self.deadlines: list[tuple[int, bytes]] = []
        self.notify: Listener | None = None
        # Strings changed in place (APPEND, SETRANGE, bit writes), which Redis keeps "raw" rather than
        # re-encoding: key -> the value object so marked.  A mark counts only while that very object
        # is the key's value, so no write path has to clear it; stale marks are pruned as they pile up.
        self.raw_strings: dict[bytes, Any] = {}

    def __len__(self) -> int:
        return len(self.data)

    # -- reading -------------------------------------------------------------------------------------

    def lookup(self, key: bytes) -> Any:
        """The live value of `key`, or None.  An expired key is deleted on the way (lazy expiry)."""
        value = self.data.get(key)
        if value is not None:
            if self.expires:
                deadline = self.expires.get(key)
                if deadline is not None and deadline <= now_ms():
                    self._expire_now(key)
                    return None
            if value.__class__ is bytearray:  # a bitmap a bit write left mutable: bytes again
                value = self.data[key] = bytes(value)
                self.mark_raw(key)
        return value

    def mark_raw(self, key: bytes) -> None:
        """Note that the string now at `key` was changed in place (OBJECT ENCODING says ``raw``)."""
        marks = self.raw_strings
        marks[key] = self.data[key]
        if len(marks) > 1024 and len(marks) > 2 * len(self.data) // 3:
            data = self.data
            self.raw_strings = {k: v for k, v in marks.items() if data.get(k) is v}

    def is_raw(self, key: bytes, value: Any) -> bool:
        """Whether `value`, the string at `key`, was changed in place."""
        return value.__class__ is bytearray or self.raw_strings.get(key) is value

    def get_string(self, key: bytes) -> bytes | None:
        value = self.lookup(key)
        if value is not None and type(value) is not bytes:
            raise WrongTypeError()
        return value

    def get_typed(self, key: bytes, kind: type) -> Any:
        """The value of `key` if it has type `kind`, None if missing; WrongTypeError otherwise."""
        value = self.lookup(key)
        if value is not None and type(value) is not kind:
            raise WrongTypeError()
        return value

    def read_bits(self, key: bytes) -> bytes | bytearray | None:
        """The string at `key` for a bit command to read, as it is stored (no copy back to bytes)."""
        value = self.data.get(key)
        if value is None:
            return None
        if self.expires:
            deadline = self.expires.get(key)
            if deadline is not None and deadline <= now_ms():
                self._expire_now(key)
                return None
        if value.__class__ is not bytes and value.__class__ is not bytearray:
            raise WrongTypeError()
        return value

    def write_bits(self, key: bytes) -> bytearray | None:
        """The string at `key` as a bytearray to change in place, or None; report with bits_changed."""
        value = self.read_bits(key)
        if value is None or value.__class__ is bytearray:
            return value
        value = self.data[key] = bytearray(value)
        return value

    def exists(self, key: bytes) -> bool:
        return self.lookup(key) is not None

    def deadline(self, key: bytes) -> int | None:
        """The key's expiry deadline in ms, or None.  Callers check the key exists first."""
        return self.expires.get(key)

    def keys(self) -> list[bytes]:
        """A snapshot of the live keys."""
        if self.expires:
            self.expire_due()
        return list(self.data)

    def type_name(self, key: bytes) -> str:
        value = self.lookup(key)
        return "none" if value is None else TYPE_NAMES[type(value)]

    # -- writing -------------------------------------------------------------------------------------

    def set(self, key: bytes, value: Any, expire_at_ms: int | None = None, event: Any = None) -> None:
        """Store `value` under `key`, replacing any value and any deadline; `event` names the write."""
        self.data[key] = value
        if self.raw_strings:  # CPython shares short strings: identity alone cannot tell them apart
            self.raw_strings.pop(key, None)
        if expire_at_ms is not None:
            self.expires[key] = expire_at_ms
            heapq.heappush(self.deadlines, (expire_at_ms, key))
        elif self.expires:
            self.expires.pop(key, None)
        if self.notify is not None:
            self.notify(_new_change(Change, (SET, self.index, key, value, expire_at_ms, event)))

    def set_keep_ttl(self, key: bytes, value: Any, event: Any = None) -> None:
        """Store `value` under `key`, keeping the deadline the key has (if it is live)."""
        self.data[key] = value
        if self.notify is not None:
            self.notify(_new_change(Change, (SET, self.index, key, value, self.expires.get(key), event)))

    def put_bits(self, key: bytes, value: bytearray) -> None:
        """Store a new mutable string under the missing `key`; report it with bits_changed."""
        self.data[key] = value
        if self.expires:
            self.expires.pop(key, None)

    def bits_changed(self, key: bytes, event: Any = None) -> None:
        """Report a string changed in place through write_bits; listeners get a bytes copy."""
        if self.notify is not None:
            value = bytes(self.data[key])
            self.notify(_new_change(Change, (SET, self.index, key, value, self.expires.get(key), event)))

    def changed(self, key: bytes, event: Any = None) -> None:
        """Report that the container stored at `key` was modified in place; `event` names the write."""
        if self.notify is not None:
            value = self.data.get(key)
            if value is None:
                self.notify(_new_change(Change, (DELETE, self.index, key, None, None, event)))
            else:
                change = (SET, self.index, key, value, self.expires.get(key), event)
                self.notify(_new_change(Change, change))

    def event(self, key: bytes, event: Any) -> None:
        """Report an event that changed nothing stored (XGROUP SETID on an unchanged id, a no-op
        LTRIM): listeners see the key's current state again, as with any in-place change."""
        self.changed(key, event)

    def delete(self, key: bytes, event: Any = None) -> bool:
        if self.lookup(key) is None:
            return False
        self._remove(key, event)
        return True

    def pop(self, key: bytes, event: Any = None) -> Any:
        """Remove `key` and return its live value (None if there was none)."""
        value = self.lookup(key)
        if value is not None:
            self._remove(key, event)
        return value

    def set_expire(self, key: bytes, expire_at_ms: int | None, event: Any = None) -> None:
        """Give the existing `key` a deadline, or none (persist).  A past deadline deletes the key
        (a "del" event, as Redis reports it)."""
        if expire_at_ms is None:
            if self.expires.pop(key, None) is not None and self.notify is not None:
                self.notify(_new_change(Change, (EXPIRE, self.index, key, None, None, event)))
            return
        if expire_at_ms <= now_ms():
            self._remove(key, DEL_EVENT if event is not None else None)
            return
        self.expires[key] = expire_at_ms
        heapq.heappush(self.deadlines, (expire_at_ms, key))
        if self.notify is not None:
            self.notify(_new_change(Change, (EXPIRE, self.index, key, None, expire_at_ms, event)))

    def restore(self, key: bytes, value: Any, expire_at_ms: int | None) -> None:
        """Put `key` back as a file holds it (`value` None: absent), reported like any write; a
        deadline already past leaves the key absent."""
        if value is None or (expire_at_ms is not None and expire_at_ms <= now_ms()):
            if key in self.data:
                self._remove(key)
            return
        self.set(key, value, expire_at_ms)

    def flush(self) -> None:
        self.data = self.data.__class__()  # a read-through dict stays one
        self.expires = {}
        self.deadlines = []
        if self.notify is not None:
            self.notify(_new_change(Change, (FLUSHDB, self.index, None, None, None, None)))

    def _remove(self, key: bytes, event: Any = None) -> None:
        del self.data[key]
        if self.expires:
            self.expires.pop(key, None)
        if self.notify is not None:
            self.notify(_new_change(Change, (DELETE, self.index, key, None, None, event)))

    def _expire_now(self, key: bytes) -> None:
        self._remove(key, EXPIRED_EVENT)

    def incr(self, key: bytes, delta: int, initial: int | None = None, event: Any = None) -> int:
        """Add `delta` to the integer stored at `key` and return the result, keeping its deadline.

        A missing key starts at 0, or becomes `initial` itself when one is given (the Python API's
        ``initial_value``).  Raises NotAnIntegerError for a value that is not a 64-bit integer and
        OverflowError_ when the result would leave the 64-bit range, as Redis does.
        """
        current = self.lookup(key)
        if current is None:
            result = delta if initial is None else initial
            if not INT64_MIN <= result <= INT64_MAX:
                raise OverflowError_()
            self.set(key, b"%d" % result, None, event)
            return result
        if type(current) is not bytes:
            raise WrongTypeError()
        number = parse_int(current)
        if number is None:
            raise NotAnIntegerError()
        result = number + delta
        if not INT64_MIN <= result <= INT64_MAX:
            raise OverflowError_()
        self.set_keep_ttl(key, b"%d" % result, event)
        return result

    # -- active expiry -------------------------------------------------------------------------------

    def expire_due(self, limit: int | None = None) -> int:
        """Delete keys whose deadline has passed, at most `limit` of them; return how many."""
        heap = self.deadlines
        expires = self.expires
        now = now_ms()
        removed = 0
        while heap and heap[0][0] <= now:
            deadline, key = heapq.heappop(heap)
            if expires.get(key) == deadline:
                self._remove(key, EXPIRED_EVENT)
                removed += 1
                if limit is not None and removed >= limit:
                    break
        # Stale entries pile up when deadlines are rewritten often; rebuild when they dominate.
        if len(heap) > 64 and len(heap) > 2 * len(expires):
            self.deadlines = [(d, k) for k, d in expires.items()]
            heapq.heapify(self.deadlines)
        return removed


class AnnouncingDatabase(Database):
    """A database whose writes that create a key say so (Redis's "new" event, class ``n``).

    A database becomes one (its ``__class__`` is swapped) only while notifications ask for "new"
    events, so that the plain writes never pay for the test.
    """

    __slots__ = ()

    def set(self, key: bytes, value: Any, expire_at_ms: int | None = None, event: Any = None) -> None:
        if key not in self.data:
            event = created(event)
        Database.set(self, key, value, expire_at_ms, event)

    def set_keep_ttl(self, key: bytes, value: Any, event: Any = None) -> None:
        if key not in self.data:
            event = created(event)
        Database.set_keep_ttl(self, key, value, event)

    def put_bits(self, key: bytes, value: bytearray) -> None:
        if self.notify is not None:
            self.notify(_new_change(Change, (SET, self.index, key, bytes(value), None, NEW_EVENT)))
        Database.put_bits(self, key, value)


class Keyspace:
    """The numbered databases of one store, and the listeners that every mutation is reported to."""

    def __init__(self, databases: int = DEFAULT_DATABASES) -> None:
        if databases < 1:
            raise ValueError("a keyspace needs at least one database")
        self.databases = [Database(i) for i in range(databases)]
        self._listeners: list[Listener] = []
        self.meta: dict[bytes, Any] = {}  # records outside every database, by name (see META_DB)

    def __getitem__(self, index: int) -> Database:
        if not 0 <= index < len(self.databases):
            raise DBIndexError()
        return self.databases[index]

    def __len__(self) -> int:
        return len(self.databases)

    def key_count(self) -> int:
        return sum(len(db.data) for db in self.databases)

    # -- listeners -----------------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)
        self._install()

    def remove_listener(self, listener: Listener) -> None:
        self._listeners.remove(listener)
        self._install()

    def _install(self) -> None:
        listeners = tuple(self._listeners)
        notify: Listener | None
        if not listeners:
            notify = None
        elif len(listeners) == 1:
            notify = listeners[0]
        else:

            def notify(change: Change) -> None:
                for listener in listeners:
                    listener(change)

        for db in self.databases:
            db.notify = notify

    def announce_new_keys(self, on: bool) -> None:
        """Whether writes that create a key carry a "new" event (see AnnouncingDatabase)."""
        for db in self.databases:
            db.__class__ = AnnouncingDatabase if on else Database

    # -- whole-keyspace operations -------------------------------------------------------------------

    def flushall(self) -> None:
        for db in self.databases:
            if db.data or db.expires:
                db.flush()

    def swap(self, a: int, b: int) -> None:
        first, second = self[a], self[b]
        if a == b:
            return
        first.data, second.data = second.data, first.data
        first.expires, second.expires = second.expires, first.expires
        first.deadlines, second.deadlines = second.deadlines, first.deadlines
        if first.notify is not None:
            first.notify(_new_change(Change, (SWAPDB, a, None, b, None, None)))

    def expire_cycle(self, budget_per_db: int = 200) -> int:
        """One round of active expiry over every database; the server runs it on a timer."""
        removed = 0
        for db in self.databases:
            if db.deadlines:
                removed += db.expire_due(budget_per_db)
        return removed

    def set_meta(self, name: bytes, value: Any) -> None:
        """Store (or, with None, drop) the record `name` outside every database, reported as a change
        of META_DB so that persistence keeps it."""
        if value is None:
            if self.meta.pop(name, None) is None:
                return
            change = (DELETE, META_DB, name, None, None, None)
        else:
            self.meta[name] = value
            change = (SET, META_DB, name, value, None, None)
        notify = self.databases[0].notify
        if notify is not None:
            notify(_new_change(Change, change))

    def load(self, db: int, key: bytes, value: Any, expire_at_ms: int | None) -> None:
        """Put a key loaded from a file in place without reporting it as a change."""
        if db == META_DB:
            self.meta[key] = value
            return
        database = self[db]
        database.data[key] = value
        if expire_at_ms is not None:
            database.expires[key] = expire_at_ms
            heapq.heappush(database.deadlines, (expire_at_ms, key))

    def items(self) -> Iterator[tuple[int, bytes, Any, int | None]]:
        """Every live key as (db, key, value, deadline); used to write a full snapshot."""
        now = now_ms()
        for db in self.databases:
            expires = db.expires
            for key, value in list(db.data.items()):
                deadline = expires.get(key)
                if deadline is None or deadline > now:
                    yield db.index, key, bytes(value) if value.__class__ is bytearray else value, deadline
