"""The upstream backend: a real Redis (standalone or a Redis Cluster) as the system of record.

Every key is written in Redis's own types, so any other Redis client reads it directly: strings with
SET, and each container replaced atomically by one small Lua script (delete, rebuild, deadline) in the
key's own slot.  Writes go through redis-py's ``Redis`` / ``RedisCluster`` (which follow MOVED and ASK)
in one pipeline per batch; a failed batch raises, and the storage's queue keeps it and retries.

Coherence between LeakDB hosts in front of one upstream: every connection this backend writes through
has ``CLIENT TRACKING ON REDIRECT <id> BCAST NOLOOP``, the id being a subscriber of
``__redis__:invalidate`` on the same node.  So each host hears of every key another client changes,
and never of its own writes.  The subscriber runs on a thread and hands key names to
``on_invalidate``; losing it (a node restart, a failover) asks for a full resync.
"""

from __future__ import annotations

import logging
import threading
import urllib.parse
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from ..engine.keyspace import DELETE, EXPIRE, FLUSHDB, SET, SWAPDB, Change
from ..engine.stream import Stream
from ..engine.zset import ZSet
from ..errors import StorageError
from .base import Backend, Record

log = logging.getLogger("leakdb.upstream")

# Replace a container in one step: KEYS[1]; ARGV = type, deadline (ms, 0 for none), then the items.
# Items are pushed in chunks because Lua's unpack has a small stack.
_REPLACE = """
local kind, deadline, key = ARGV[1], tonumber(ARGV[2]), KEYS[1]
redis.call('DEL', key)
local function each(first, step, command)
  local i = first
  while i <= #ARGV do
    local last = math.min(#ARGV, i + 999 * step + step - 1)
    redis.call(command, key, unpack(ARGV, i, last))
    i = last + 1
  end
end
if kind == 'hash' then each(3, 2, 'HSET')
elseif kind == 'list' then each(3, 1, 'RPUSH')
elseif kind == 'set' then each(3, 1, 'SADD')
elseif kind == 'zset' then each(3, 2, 'ZADD')
elseif kind == 'stream' then
  local i = 4
  while i <= #ARGV do
    local count = tonumber(ARGV[i + 1])
    redis.call('XADD', key, ARGV[i], unpack(ARGV, i + 2, i + 1 + count))
    i = i + 2 + count
  end
  if redis.call('EXISTS', key) == 1 then redis.call('XSETID', key, ARGV[3]) end
end
if deadline > 0 and redis.call('EXISTS', key) == 1 then redis.call('PEXPIREAT', key, deadline) end
return 1
"""

SCAN_BATCH = 500
TIMEOUT = 5.0  # seconds an upstream read or write may take before it counts as failed
_URL_OPTIONS = ("protocol", "socket_timeout", "socket_connect_timeout")  # the rest comes from the URL


def redacted(url: str) -> str:
    """`url` (or a comma-separated list of them) without any password."""
    parts = []
    for one in url.split(","):
        parsed = urllib.parse.urlsplit(one.strip())
        if parsed.password is not None:
            user = parsed.username or ""
            netloc = f"{user}:***@{parsed.hostname}" + (f":{parsed.port}" if parsed.port else "")
            parsed = parsed._replace(netloc=netloc)
        parts.append(urllib.parse.urlunsplit(parsed))
    return ",".join(parts)


def _format_id(entry_id: int) -> bytes:
    return b"%d-%d" % (entry_id >> 64, entry_id & ((1 << 64) - 1))


def _parse_id(raw: bytes) -> int:
    ms, _, seq = raw.partition(b"-")
    return (int(ms) << 64) | int(seq or 0)


def _flat(fields: dict[bytes, bytes]) -> tuple[bytes, ...]:
    return tuple(item for pair in fields.items() for item in pair)


def _field(info: Any, name: str) -> bytes:
    """A field of XINFO STREAM's reply, which redis-py gives as a dict or a flat list."""
    if isinstance(info, dict):
        value = info.get(name, info.get(name.encode()))
    else:
        pairs = dict(zip(info[0::2], info[1::2], strict=False))
        value = pairs.get(name.encode(), pairs.get(name))
    return value if isinstance(value, bytes) else str(value).encode()


def replace_arguments(value: Any, deadline: int | None) -> tuple[str, list[Any]] | None:
    """(type, ARGV after type and deadline) for a container; None for a string."""
    kind = type(value)
    if kind is bytes:
        return None
    if kind is dict:
        return "hash", [item for pair in value.items() for item in pair]
    if kind is deque:
        return "list", list(value)
    if kind is set:
        return "set", list(value)
    if kind is ZSet:
        return "zset", [item for member, score in value.scores.items() for item in (repr(score), member)]
    if kind is Stream:
        items: list[Any] = [_format_id(value.last_id)]
        for entry_id, fields in list(value.entries.items()):
            items.extend((_format_id(entry_id), len(fields), *fields))
        return "stream", items
    raise StorageError(f"the upstream backend cannot store values of type {kind.__name__}")


def value_from_reply(kind: bytes, reply: Any) -> Any:
    """The engine value for what the type's read command returned; None if the key vanished."""
    if kind == b"string":
        return reply
    if kind == b"hash":
        return dict(reply) or None
    if kind == b"list":
        return deque(reply) or None
    if kind == b"set":
        return set(reply) or None
    if kind == b"zset":
        return ZSet.from_pairs([(member, float(score)) for member, score in reply]) if reply else None
    if kind == b"stream":
        entries, info = reply
        last_id = _parse_id(_field(info, "last-generated-id"))
        items = [(_parse_id(entry_id), _flat(fields)) for entry_id, fields in entries]
        return Stream.from_entries(items, last_id)
    return None


class UpstreamBackend(Backend):
    """A Redis server or Redis Cluster behind a LeakDB storage (see the module docstring)."""

    name = "redis"

    def __init__(self, url: str, cluster: bool = False, lazy: bool = False) -> None:
        super().__init__(redacted(url))
        self.url = url
        self.cluster = cluster
        self.lazy = lazy
        self.client: Any = None  # writes go through here (tracking on, NOLOOP)
        self.reader: Any = None  # reads (load, read-through, refresh)
        self.on_invalidate: Callable[[list[bytes] | None], None] | None = None
        self.read_throughs = 0
        self.state = "connecting"
        self.last_error = ""
        self.writes = 0
        self._subscribers: dict[tuple[str, int], _Subscriber] = {}
        self._lock = threading.Lock()
        self._closed = False
        self.options: dict[str, Any] = {}  # credentials and TLS, for the subscribers' connections

    # -- connecting -------------------------------------------------------------------------------

    def open(self) -> None:
        import redis
        import redis.cluster

        try:
            if self.cluster:
                nodes = [redis.cluster.ClusterNode(*self._host_port(one)) for one in self.url.split(",")]
                first = self.url.split(",")[0].strip()
                self.options = _credentials(
                    urllib.parse.urlsplit(first if "://" in first else f"redis://{first}")
                )
                self.client = redis.cluster.RedisCluster(
                    startup_nodes=nodes, redis_connect_func=self._tracking_on, **self.options
                )
                self.reader = redis.cluster.RedisCluster(startup_nodes=nodes, **self.options)
            else:
                parsed = urllib.parse.urlsplit(self.url)
                self.options = _credentials(parsed)
                options = {key: value for key, value in self.options.items() if key in _URL_OPTIONS}
                self.client = redis.Redis.from_url(self.url, redis_connect_func=self._tracking_on, **options)
                self.reader = redis.Redis.from_url(self.url, **options)
            self.reader.ping()
            self.ensure_tracking()
        except Exception as exc:  # redis-py's cluster client raises its own family at start
            self.close()
            setting = "upstream-cluster" if self.cluster else "upstream"
            raise StorageError(
                f"cannot reach the upstream Redis at {self.filename} ({setting}): {exc}"
            ) from None
        self.state = "up"

    def ensure_tracking(self) -> None:
        """Open a tracking connection to every primary, so each one reports changes to this host."""
        if not self.cluster:
            self.client.ping()
            return
        for node in self.client.get_primaries():
            self.client.get_redis_connection(node).ping()

    @staticmethod
    def _host_port(url: str) -> tuple[str, int]:
        parsed = urllib.parse.urlsplit(url.strip() if "://" in url else f"redis://{url.strip()}")
        return parsed.hostname or "127.0.0.1", parsed.port or 6379

    def _tracking_on(self, connection: Any) -> None:
        """redis-py's connect hook: handshake, then turn tracking on towards this node's subscriber."""
        connection.on_connect()
        subscriber = self._subscriber_for(connection)
        connection.send_command(
            "CLIENT", "TRACKING", "ON", "REDIRECT", subscriber.client_id, "BCAST", "NOLOOP"
        )
        if connection.read_response() not in (b"OK", "OK"):
            raise StorageError("the upstream refused CLIENT TRACKING")

    def _subscriber_for(self, connection: Any) -> _Subscriber:
        node = (connection.host, connection.port)
        with self._lock:
            subscriber = self._subscribers.get(node)
            if subscriber is None or not subscriber.alive:
                subscriber = _Subscriber(*node, self.options, self._invalidated, self._subscriber_lost)
                self._subscribers[node] = subscriber
            return subscriber

    def _invalidated(self, keys: list[bytes] | None) -> None:
        if self.on_invalidate is not None:
            self.on_invalidate(keys)

    def _subscriber_lost(self) -> None:
        # Invalidations may have been missed: reconnect the writers (their tracking points at the
        # lost subscriber) and let the storage resync everything it holds.
        if self._closed:
            return
        try:
            self.client.close() if self.cluster else self.client.connection_pool.disconnect()
        except Exception:
            pass
        self._invalidated(None)

    # -- reading ----------------------------------------------------------------------------------

    def load(self) -> Iterator[Record]:
        if self.lazy:
            return iter(())
        return self._scan()

    def _scan(self) -> Iterator[Record]:
        batch: list[bytes] = []
        for key in self.reader.scan_iter(count=SCAN_BATCH):
            batch.append(key)
            if len(batch) >= SCAN_BATCH:
                yield from self._records(batch)
                batch = []
        if batch:
            yield from self._records(batch)

    def fetch(self, keys: list[bytes]) -> dict[bytes, tuple[Any, int | None] | None]:
        """The current upstream value and deadline of each key (None where there is none)."""
        found: dict[bytes, tuple[Any, int | None] | None] = dict.fromkeys(keys)
        for _, key, value, deadline in self._records(keys):
            found[key] = (value, deadline)
        return found

    def _records(self, keys: list[bytes]) -> Iterator[Record]:
        pipe = self.reader.pipeline(transaction=False)
        for key in keys:
            pipe.type(key)
            pipe.execute_command("PEXPIRETIME", key)  # the exact deadline, where PTTL would round
        answers = pipe.execute()
        kinds = answers[0::2]
        deadlines = answers[1::2]
        pipe = self.reader.pipeline(transaction=False)
        wanted = []
        for key, kind in zip(keys, kinds, strict=True):
            read = _READS.get(kind)
            if read is not None:
                wanted.append((key, kind, read(pipe, key)))
        replies = iter(pipe.execute(raise_on_error=False) if wanted else [])
        deadline_of = dict(zip(keys, deadlines, strict=True))
        for key, kind, count in wanted:
            answer = [next(replies) for _ in range(count)]
            if any(isinstance(part, Exception) for part in answer):
                continue  # changed type or vanished between the two round trips
            value = value_from_reply(kind, answer[0] if count == 1 else answer)
            if value is None:
                continue
            deadline = deadline_of[key]
            yield 0, key, value, (deadline if deadline is not None and deadline > 0 else None)

    # -- writing ----------------------------------------------------------------------------------

    def apply(self, changes: list[Change]) -> None:
        import redis

        try:
            pipe = self.client.pipeline(transaction=False)
            for change in changes:
                self._queue_change(pipe, change)
            pipe.execute()
        except (redis.RedisError, OSError) as exc:
            self.state, self.last_error = "down", str(exc)
            raise StorageError(f"the upstream Redis did not take the write: {exc}") from None
        self.state, self.last_error = "up", ""
        self.writes += len(changes)

    def _queue_change(self, pipe: Any, change: Change) -> None:
        op, db, key, value, deadline, _event = change
        if db != 0 and self.cluster:
            raise StorageError("a Redis Cluster has only database 0")
        if op == SET:
            replace = replace_arguments(value, deadline)
            if replace is None:
                if deadline is None:
                    pipe.set(key, value)
                else:
                    pipe.set(key, value, pxat=deadline)
            else:
                kind, items = replace
                pipe.execute_command("EVAL", _REPLACE, 1, key, kind, deadline or 0, *items)
        elif op == DELETE:
            pipe.unlink(key)
        elif op == EXPIRE:
            if deadline is None:
                pipe.persist(key)
            else:
                pipe.pexpireat(key, deadline)
        elif op == FLUSHDB:
            if self.cluster:
                self.client.flushdb(target_nodes=self.client.PRIMARIES)
            else:
                pipe.flushdb()
        elif op == SWAPDB:
            raise StorageError("SWAPDB cannot be replayed on the upstream Redis")

    def close(self) -> None:
        self._closed = True
        with self._lock:
            subscribers, self._subscribers = list(self._subscribers.values()), {}
        for subscriber in subscribers:
            subscriber.stop()
        for client in (self.client, self.reader):
            if client is not None:
                try:
                    client.close()
                except Exception:
                    pass

    def file_size(self) -> int:
        return 0

    def info(self) -> dict[str, Any]:
        return {
            "upstream": self.filename,
            "upstream_state": self.state,
            "upstream_writes": self.writes,
            "upstream_read_throughs": self.read_throughs,
        }


def _credentials(parsed: urllib.parse.SplitResult) -> dict[str, Any]:
    # RESP2 throughout: the invalidation channel is then an ordinary subscription reply stream.
    # A stalled upstream must turn into an error (and a retry), not a flush that waits forever.
    options: dict[str, Any] = {"protocol": 2, "socket_timeout": TIMEOUT, "socket_connect_timeout": TIMEOUT}
    if parsed.password is not None:
        options["password"] = urllib.parse.unquote(parsed.password)
    if parsed.username:
        options["username"] = urllib.parse.unquote(parsed.username)
    if parsed.scheme == "rediss":
        options["ssl"] = True
    return options


def _read_stream(pipe: Any, key: bytes) -> int:
    pipe.xrange(key)
    pipe.execute_command("XINFO", "STREAM", key)
    return 2


def _one(read: Callable[[Any, bytes], Any]) -> Callable[[Any, bytes], int]:
    def queue(pipe: Any, key: bytes) -> int:
        read(pipe, key)
        return 1

    return queue


# Each type's read: queue the commands on a pipeline, return how many replies they make.
_READS: dict[bytes, Callable[[Any, bytes], int]] = {
    b"string": _one(lambda pipe, key: pipe.get(key)),
    b"hash": _one(lambda pipe, key: pipe.hgetall(key)),
    b"list": _one(lambda pipe, key: pipe.lrange(key, 0, -1)),
    b"set": _one(lambda pipe, key: pipe.smembers(key)),
    b"zset": _one(lambda pipe, key: pipe.zrange(key, 0, -1, withscores=True)),
    b"stream": _read_stream,
}


class _Subscriber:
    """A connection subscribed to ``__redis__:invalidate`` on one node, read by a daemon thread."""

    def __init__(
        self,
        host: str,
        port: int,
        options: dict[str, Any],
        on_keys: Callable[[list[bytes] | None], None],
        on_lost: Callable[[], None],
    ) -> None:
        import redis

        self.client = redis.Redis(host=host, port=port, single_connection_client=True, **options)
        # Never a client name or library info push of our own on this connection: it only listens.
        self.connection = self.client.connection
        self.connection.send_command("CLIENT", "ID")
        self.client_id = self.connection.read_response()
        self.connection.send_command("SUBSCRIBE", "__redis__:invalidate")
        self.connection.read_response()
        self.alive = True
        self._on_keys, self._on_lost = on_keys, on_lost
        self._stopping = False
        self.thread = threading.Thread(target=self._run, name="leakdb-upstream-invalidate", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            while not self._stopping:
                if not self.connection.can_read(timeout=0.5):
                    continue
                message = self.connection.read_response()
                if isinstance(message, list) and len(message) == 3 and message[0] in (b"message", "message"):
                    self._on_keys(message[2])
        except Exception as exc:
            if not self._stopping:
                log.warning("lost the upstream invalidation channel: %s", exc)
        self.alive = False
        if not self._stopping:
            self._on_lost()

    def stop(self) -> None:
        self._stopping = True
        try:
            self.connection.disconnect()
        except Exception:
            pass


# -- the near tier: keeping a local keyspace coherent with the upstream -----------------------------

MISSING_LIMIT = 100_000  # keys remembered as absent upstream (lazy mode), so misses stay local


class NearCache:
    """Applies the upstream's invalidations to a local keyspace, and reads misses through (lazy).

    Invalidated keys are re-read from the upstream and stored locally through the ordinary database
    methods, so WATCH, blocking pops and keyspace notifications see them, but with the storage's own
    write queue unhooked, so they are not written back.  A key this host has written and not yet
    flushed (or is flushing) keeps its local value: its write will reach the upstream after the other
    host's, and wins there too.  `wake` is called from the subscriber's thread; the owner runs
    :meth:`apply` on the thread that owns the keyspace (the server's hub, or at once by default).
    """

    def __init__(self, backend: UpstreamBackend, keyspace: Any, queue: Any, listener: Any) -> None:
        self.backend = backend
        self.keyspace = keyspace
        self.queue = queue
        self.listener = listener
        self.pending: deque[list[bytes] | None] = deque()
        self.wake: Callable[[], None] = self.apply
        self.missing: set[bytes] = set()
        self.refreshed = 0
        self.resyncs = 0
        backend.on_invalidate = self._heard
        if backend.lazy:
            self._read_through()

    def _heard(self, keys: list[bytes] | None) -> None:
        self.pending.append(keys)
        self.wake()

    def apply(self) -> None:
        """Bring every key the upstream reported changed up to date."""
        keys: set[bytes] = set()
        resync = False
        while self.pending:
            batch = self.pending.popleft()
            if batch is None:
                resync = True
            else:
                keys.update(batch)
        db = self.keyspace[0]
        if resync:
            self.resyncs += 1
            self.missing.clear()
            keys.update(dict.keys(db.data))
            try:
                self.backend.ensure_tracking()
            except Exception as exc:  # still down: the next lost-channel report resyncs again
                log.warning("upstream tracking not restored yet: %s", exc)
                self.pending.append(None)
                return
        self.missing.difference_update(keys)
        keys = {key for key in keys if not self.queue.holds(0, key)}
        if not keys and not resync:
            return
        found = self.backend.fetch(list(keys)) if keys else {}
        self.keyspace.remove_listener(self.listener)
        try:
            for key, current in found.items():
                if current is None:
                    if dict.get(db.data, key) is not None:
                        db.delete(key)
                elif self.backend.lazy and not dict.__contains__(db.data, key):
                    continue  # not held here: the next read fetches it
                else:
                    db.set(key, current[0], current[1])
                self.refreshed += 1
            if resync and not self.backend.lazy:
                for _, key, value, deadline in self.backend.load():
                    if not dict.__contains__(db.data, key) and not self.queue.holds(0, key):
                        db.set(key, value, deadline)
        finally:
            self.keyspace.add_listener(self.listener)

    def _read_through(self) -> None:
        """Give database 0 a dict that fetches a key it does not hold from the upstream."""
        near = self

        class ReadThrough(dict):
            __slots__ = ()

            def get(self, key: Any, default: Any = None) -> Any:
                value = dict.get(self, key)
                if value is None:
                    value = near.fetch_one(self, key)
                return default if value is None else value

            def __contains__(self, key: object) -> bool:
                return dict.__contains__(self, key) or near.fetch_one(self, key) is not None

        db = self.keyspace[0]
        db.data = ReadThrough(db.data)

    def fetch_one(self, data: dict, key: Any) -> Any:
        if key in self.missing or type(key) is not bytes:
            return None
        self.backend.read_throughs += 1
        try:
            found = self.backend.fetch([key]).get(key)
        except Exception as exc:  # the upstream is down: a miss, not remembered as one
            log.warning("read-through of %r failed: %s", key, exc)
            return None
        if found is None:
            if len(self.missing) >= MISSING_LIMIT:
                self.missing.clear()
            self.missing.add(key)
            return None
        value, deadline = found
        self.keyspace.load(0, key, value, deadline)
        return value

    def info(self) -> dict[str, Any]:
        return {"upstream_refreshed": self.refreshed, "upstream_resyncs": self.resyncs}
