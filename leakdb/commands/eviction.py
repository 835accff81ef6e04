"""maxmemory: eviction policies, approximated LRU/LFU by sampling, and the OOM refusal (Redis's evict.c).

While a server has ``maxmemory`` set it owns a :class:`Memory`: a :class:`~leakdb.memory.MemoryTracker`
listening to the keyspace, the policy's settings, and a pool of eviction candidates.  Commands reach it
through wrapped entries of the command table, swapped in only while some server has a limit: a denyoom
command first makes room (or gets ``-OOM``), and under an LRU or LFU policy every command that names
keys stamps them as accessed.  With maxmemory 0 the table holds the plain handlers, so the hot path is
unchanged.

Eviction is Redis's: each round samples ``maxmemory-samples`` keys per database into a 16-entry pool
ordered by idleness (LRU: ms since last access; LFU: 255 minus the decayed logarithmic counter; TTL:
the nearest deadline) and evicts the best candidate with :meth:`Database.delete`, so the change hook
reports the eviction to persistence like any other delete.
"""

from __future__ import annotations

import random
import sys
import time
import weakref
from bisect import insort
from typing import Any

from ..engine.keyspace import Database
from ..engine.memory import STAMP_MASK, MemoryTracker
from ..errors import OOM
from ..system import rss_bytes
from .registry import DENYOOM, DISPATCH, Command, Handler

POOL_SIZE = 16  # EVPOOL_SIZE
STRUCTURE_REFRESH = 0.1  # seconds between measurements of the key tables
LFU_INIT_VAL = 5
# Commands that name keys without counting as an access (Redis looks these up with LOOKUP_NOTOUCH).
NO_TOUCH_COMMANDS = frozenset({"type", "ttl", "pttl", "expiretime", "pexpiretime", "exists", "object"})
# The process's resident size before any data was loaded: the part of used_memory that is not keys.
STARTUP_RSS = rss_bytes()


def lru_clock() -> int:
    return int(time.time() * 1000) & STAMP_MASK


def lfu_minutes() -> int:
    return (int(time.time()) // 60) & 0xFFFF


def lfu_new_stamp() -> int:
    return lfu_minutes() << 8 | LFU_INIT_VAL


def lfu_decayed(stamp: int, decay_minutes: int) -> int:
    """The counter of an LFU stamp after decaying one step per `decay_minutes` since it was stamped."""
    counter = stamp & 255
    if decay_minutes:
        periods = ((lfu_minutes() - (stamp >> 8)) & 0xFFFF) // decay_minutes
        if periods:
            counter = 0 if periods > counter else counter - periods
    return counter


def lfu_incremented(counter: int, log_factor: int) -> int:
    """Redis's LFULogIncr: the higher the counter, the less likely an access raises it."""
    if counter == 255:
        return 255
    base = max(counter - LFU_INIT_VAL, 0)
    if random.random() < 1.0 / (base * log_factor + 1):
        counter += 1
    return counter


class Sampler:
    """Random keys of one dict in O(1): a list of its keys, extended with the keys added since.

    A dict cannot pick a random key without walking it; the list can.  New keys are appended as the
    tracker reports them, so they are candidates at once, as in Redis.  Deleted keys stay in the list
    and are skipped; once most picks miss, the list is rebuilt, which keeps a pick O(1) amortized.
    """

    __slots__ = ("keys", "source_id")

    def __init__(self) -> None:
        self.keys: list[bytes] = []
        self.source_id = 0

    def sample(self, source: dict[bytes, Any], count: int, tracker: MemoryTracker, db: int) -> list[bytes]:
        keys = self.keys
        added = tracker.added[db]
        if added is None or id(source) != self.source_id or len(source) > 2 * len(keys) + 8:
            keys = self._rebuild(source, tracker, db)
        elif added:
            keys.extend(added)
            added.clear()
        if not keys:
            return []
        picks = [keys[random.randrange(len(keys))] for _ in range(count)]
        live = [key for key in picks if key in source]
        if len(live) * 2 < len(picks):
            keys = self._rebuild(source, tracker, db)
            live = [keys[random.randrange(len(keys))] for _ in range(count)] if keys else []
        return live

    def _rebuild(self, source: dict[bytes, Any], tracker: MemoryTracker, db: int) -> list[bytes]:
        self.keys = list(source)
        self.source_id = id(source)
        tracker.added[db] = []
        return self.keys


class Memory:
    """One server's memory limit: accounting, the policy, and the eviction pool."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.databases: list[Database] = server.keyspace.databases
        self.tracker = MemoryTracker(server.keyspace, lru_clock)
        self.samplers = [Sampler() for _ in self.databases]
        self.pool: list[tuple[int, int, bytes]] = []
        self.next_db = 0
        self.policy = "noeviction"
        self.maxmemory = 0
        self.budget = 0
        self.samples = 5
        self.log_factor = 10
        self.decay_minutes = 1
        self.peak = 0
        self.touch: Any = None  # the access-stamping function, or None when the policy needs none
        self.structure = 0  # bytes of the tables holding the keys, refreshed by a timer
        self.clients = 0  # bytes the clients hold (base, unsent replies, unparsed requests), likewise
        # The interpreter's own size (an empty server's RSS; over data already there, the size before
        # loading) is reported as used_memory_startup but not counted against the limit: a limit taken
        # from a Redis config then holds about as much data as it does in Redis.
        self.baseline = STARTUP_RSS if self.tracker.total else max(STARTUP_RSS, rss_bytes())
        server.keyspace.add_listener(self.tracker.on_change)
        # Dict resizes are seen within this period; between refreshes the per-key sums are exact.
        self._timer = server.loop.timer(STRUCTURE_REFRESH, STRUCTURE_REFRESH)
        self._timer.start(self.refresh)

    def close(self) -> None:
        self._timer.stop()
        self.server.keyspace.remove_listener(self.tracker.on_change)

    def refresh(self) -> None:
        """Measure the tables and the clients again and move the data budget accordingly."""
        samplers = sum(sys.getsizeof(sampler.keys) for sampler in self.samplers)
        self.structure = self.tracker.structure_bytes() + samplers
        clients_memory = getattr(self.server, "clients_memory", None)
        self.clients = clients_memory() if clients_memory is not None else 0
        self.budget = self.maxmemory - self.structure - self.clients

    # -- settings ------------------------------------------------------------------------------------

    def apply(self, config: Any) -> None:
        was_lfu = self.lfu
        self.policy = config["maxmemory-policy"]
        self.maxmemory = config["maxmemory"]
        self.samples = config["maxmemory-samples"]
        self.log_factor = config["lfu-log-factor"]
        self.decay_minutes = config["lfu-decay-time"]
        tracker = self.tracker
        tracker.new_stamp = lfu_new_stamp if self.lfu else lru_clock
        tracker.keep_stamp = self.lfu
        if was_lfu != self.lfu:
            tracker.restamp()
        self.pool = []
        self.refresh()
        if self.policy.endswith("-lru"):
            self.touch = self.touch_lru
        elif self.lfu:
            self.touch = self.touch_lfu
        else:
            self.touch = None

    @property
    def lfu(self) -> bool:
        return self.policy.endswith("-lfu")

    @property
    def overhead(self) -> int:
        """What is counted against the limit besides the data: key tables and client buffers."""
        return self.structure + self.clients

    @property
    def used(self) -> int:
        """What maxmemory limits (INFO's used_memory): data, key tables and client buffers."""
        used = self.structure + self.clients + self.tracker.total
        if used > self.peak:
            self.peak = used
        return used

    # -- access stamps -------------------------------------------------------------------------------

    def touch_lru(self, db: int, keys: list[bytes]) -> None:
        meta = self.tracker.meta[db]
        now = lru_clock()
        for key in keys:
            packed = meta.get(key)
            if packed is not None:
                meta[key] = packed - (packed & STAMP_MASK) + now

    def touch_lfu(self, db: int, keys: list[bytes]) -> None:
        meta = self.tracker.meta[db]
        minutes = lfu_minutes() << 8
        for key in keys:
            packed = meta.get(key)
            if packed is not None:
                stamp = packed & STAMP_MASK
                counter = lfu_incremented(lfu_decayed(stamp, self.decay_minutes), self.log_factor)
                meta[key] = packed - stamp + (minutes | counter)

    def stamp_restored(self, db: int, key: bytes, idle_seconds: int, frequency: int) -> None:
        """The access stamp RESTORE gives the key it created (-1: the option was not given): under an
        LFU policy FREQ's counter, or a new object's; under any other policy IDLETIME's age."""
        meta = self.tracker.meta[db]
        packed = meta.get(key)
        if packed is None:
            return
        if self.lfu:
            stamp = lfu_minutes() << 8 | (frequency if frequency >= 0 else LFU_INIT_VAL)
        elif idle_seconds >= 0:
            stamp = max(0, lru_clock() - idle_seconds * 1000)
        else:
            return
        meta[key] = packed - (packed & STAMP_MASK) + stamp

    def idle_seconds(self, db: int, key: bytes) -> int:
        packed = self.tracker.meta[db].get(key)
        if packed is None:
            return 0
        return max(0, lru_clock() - (packed & STAMP_MASK)) // 1000

    def frequency(self, db: int, key: bytes) -> int:
        packed = self.tracker.meta[db].get(key)
        return 0 if packed is None else lfu_decayed(packed & STAMP_MASK, self.decay_minutes)

    # -- eviction ------------------------------------------------------------------------------------

    def make_room(self) -> bool:
        """Evict until used memory is within the limit; False when it cannot (the caller answers OOM)."""
        self.used  # noqa: B018  (records the peak)
        if self.policy == "noeviction":
            return False
        evicted = 0
        tracker = self.tracker
        try:
            while tracker.total > self.budget:
                if not self._evict_one():
                    return False
                evicted += 1
        finally:
            self.server.stats.evicted_keys += evicted
        return True

    def _source(self, db: Database) -> dict[bytes, Any]:
        return db.data if self.policy.startswith("allkeys") else db.expires

    def _evict_one(self) -> bool:
        if self.policy.endswith("-random"):
            return self._evict_random()
        pool = self.pool
        self._populate(pool)
        while pool:
            _, index, key = pool.pop()
            db = self.databases[index]
            if key in self._source(db) and db.delete(key, "evicted"):
                return True
        return False

    def _evict_random(self) -> bool:
        for _ in range(len(self.databases)):
            index = self.next_db = (self.next_db + 1) % len(self.databases)
            db = self.databases[index]
            source = self._source(db)
            if source:
                picks = self.samplers[index].sample(source, 1, self.tracker, index)
                if picks and db.delete(picks[0], "evicted"):
                    return True
        return False

    def _populate(self, pool: list[tuple[int, int, bytes]]) -> None:
        """Add sampled keys of every database to the pool, keeping the POOL_SIZE idlest."""
        in_pool = {(index, key) for _, index, key in pool}
        for db in self.databases:
            source = self._source(db)
            if not source:
                continue
            index = db.index
            sampled = self.samplers[index].sample(source, self.samples, self.tracker, index)
            for key in sampled:
                if (index, key) in in_pool:
                    continue
                score = self._idleness(db, key)
                if len(pool) < POOL_SIZE or score > pool[0][0]:
                    insort(pool, (score, index, key))
                    in_pool.add((index, key))
                    if len(pool) > POOL_SIZE:
                        del pool[0]

    def _idleness(self, db: Database, key: bytes) -> int:
        """How good an eviction candidate `key` is: higher is evicted first."""
        if self.policy == "volatile-ttl":
            return -db.expires.get(key, 0)
        packed = self.tracker.meta[db.index].get(key, 0)
        if self.lfu:
            return 255 - lfu_decayed(packed & STAMP_MASK, self.decay_minutes)
        return lru_clock() - (packed & STAMP_MASK)


# -- the command table -----------------------------------------------------------------------------

_plain: dict[bytes, tuple[Handler, int, int, Command]] | None = None  # DISPATCH before wrapping
_limited: weakref.WeakSet[Any] = weakref.WeakSet()  # servers with a Memory


def _key_slice(declared: Command) -> slice | None:
    if declared.first_key <= 0:
        return None
    last = declared.last_key
    stop = last + 1 if last >= 0 or last < -1 else None
    return slice(declared.first_key, stop, declared.key_step or 1)


def no_touch(client: Any) -> bool:
    """CLIENT NO-TOUCH: the client's reads leave LRU/LFU stamps alone (TOUCH still stamps)."""
    return getattr(client, "no_touch", False)


def _guarded(handler: Handler, declared: Command) -> Handler:
    """`handler` behind the memory checks: room for a denyoom command, access stamps for its keys."""
    denyoom = DENYOOM in declared.flags
    keys = _key_slice(declared)
    if declared.name in NO_TOUCH_COMMANDS:
        keys = None
    always_touch = declared.name == "touch"

    def guarded(client: Any, args: list[bytes]) -> bytes:
        memory = getattr(client.server, "memory", None)
        if memory is not None:
            if denyoom and memory.tracker.total > memory.budget and not memory.make_room():
                return OOM
            touch = memory.touch
            if keys is not None and touch is not None and (always_touch or not no_touch(client)):
                touch(client.db_index, args[keys])
        return handler(client, args)

    return guarded


def _install_guards() -> None:
    global _plain
    if _plain is not None:
        return
    _plain = dict(DISPATCH)
    wrapped: dict[int, tuple[Handler, int, int, Command]] = {}
    for name, entry in _plain.items():
        handler, low, high, declared = entry
        if DENYOOM not in declared.flags and _key_slice(declared) is None:
            continue
        if id(entry) not in wrapped:
            wrapped[id(entry)] = (_guarded(handler, declared), low, high, declared)
        DISPATCH[name] = wrapped[id(entry)]


def _remove_guards() -> None:
    global _plain
    if _plain is None:
        return
    for name, entry in _plain.items():
        DISPATCH[name] = entry
    _plain = None


def configure_memory(server: Any) -> None:
    """Bring `server` in line with its maxmemory settings (at start and after CONFIG SET)."""
    config = server.config
    memory = getattr(server, "memory", None)
    if config["maxmemory"] <= 0:
        if memory is not None:
            memory.close()
            server.memory = None
            _limited.discard(server)
        if not _limited:
            _remove_guards()
        return
    if memory is None:
        memory = server.memory = Memory(server)
        _limited.add(server)
        _install_guards()
    memory.apply(config)
    if memory.tracker.total > memory.budget:
        memory.make_room()  # a lowered limit takes effect at once, as in Redis


def room_for(client: Any, growth: int) -> bool:
    """Whether a write that adds `growth` bytes of data fits under maxmemory, evicting first if the
    policy allows.

    The denyoom check before a command sees memory as it is, so one write that grows a value far
    (SETBIT at a distant offset, BITFIELD, BITOP) could still land well past the limit; such writes
    ask here first and are refused with -OOM instead.  Without a limit this is one attribute test.
    """
    memory = getattr(client.server, "memory", None)
    if memory is None or growth <= 0:
        return True
    if memory.tracker.total + growth <= memory.budget:
        return True
    memory.budget -= growth  # make room for the growth too, not only down to the limit
    try:
        memory.make_room()
    finally:
        memory.budget += growth
    return memory.tracker.total + growth <= memory.budget
