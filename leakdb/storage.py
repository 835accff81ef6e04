"""The Python API of LeakDB: DefaultStorage and its queued and persistent variants.

Every storage wraps a :class:`~leakdb.keyspace.Keyspace`, which the Redis server can serve at the same
time.  Persistence and queueing are keyspace change listeners, so writes made over the Redis protocol are
persisted and queued exactly like writes made through these methods.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from .codec import Codec, get_codec
from .engine.keyspace import DEFAULT_DATABASES, FLUSHDB, META_DB, SWAPDB, Change, Database, Keyspace, now_ms
from .errors import CommandError, NotAnIntegerError, StorageError, ValueNotAnIntegerError
from .persistence import Backend, open_backend
from .queue import CoalescingLog, FifoLog, QueueItem, WriteQueue

logger = logging.getLogger("leakdb.storage")

Key = str | bytes

# Storages with a queue or a file that are still open; whatever is pending is flushed at exit.
_open_storages: weakref.WeakSet[DefaultStorage] = weakref.WeakSet()


def _close_open_storages() -> None:
    for storage in list(_open_storages):
        try:
            storage.close()
        except Exception:
            logger.exception("closing %s at exit failed", storage)


atexit.register(_close_open_storages)


_MISSING = object()


def _key(key: Key, prefix: Key | None = None) -> bytes:
    if type(key) is str:
        key = key.encode()
    elif type(key) is not bytes:
        if not isinstance(key, (bytes, bytearray, memoryview)):
            raise TypeError(f"keys are str or bytes, not {type(key).__name__}")
        key = bytes(key)
    if prefix:
        return _key(prefix) + key
    return key


class DefaultStorage:
    """An in-memory store; values go through a codec (JSON by default)."""

    mode = "memory"
    #: True when every mutating call has reached the file before it returns.
    write_through = False

    def __init__(
        self,
        codec: str | Codec = "json",
        databases: int = DEFAULT_DATABASES,
        keyspace: Keyspace | None = None,
    ) -> None:
        self.keyspace = keyspace if keyspace is not None else Keyspace(databases)
        self.codec = get_codec(codec)
        self._encode = self.codec.encode
        self._decode = self.codec.decode
        self._memo_get = getattr(self.codec, "memo", {}).get
        self._db0 = self.keyspace[0]
        self.closed = False
        self.keys_loaded = 0
        self.load_time_ms = 0

    # -- writing -------------------------------------------------------------------------------------

    def set(self, key: Key, value: Any, key_prefix: Key | None = None, db: int = 0) -> bool:
        self.keyspace[db].set(_key(key, key_prefix), self._encode(value))
        if self.write_through:
            self.sync()
        return True

    def set_multi(self, mapping: Mapping[Key, Any], key_prefix: Key | None = None, db: int = 0) -> bool:
        database = self.keyspace[db]
        encode = self._encode
        for key, value in mapping.items():
            database.set(_key(key, key_prefix), encode(value))
        if self.write_through:
            self.sync()
        return True

    def incr(self, key: Key, delta: int = 1, initial_value: int | None = None, db: int = 0) -> int:
        """Add `delta` to the integer at `key`.  A missing key becomes `initial_value` if given, else
        `delta`.  Raises ValueNotAnIntegerError (a ValueError) if the value is not an integer."""
        result = self._add(key, delta, initial_value, db)
        if self.write_through:
            self.sync()
        return result

    def decr(self, key: Key, delta: int = 1, initial_value: int | None = None, db: int = 0) -> int:
        """Subtract `delta`.  A missing key becomes `initial_value` if given, else ``-delta``."""
        result = self._add(key, -delta, initial_value, db)
        if self.write_through:
            self.sync()
        return result

    def _add(self, key: Key, delta: int, initial_value: int | None, db: int) -> int:
        if not isinstance(delta, int) or not (initial_value is None or isinstance(initial_value, int)):
            raise TypeError("delta and initial_value must be integers")
        raw_key = _key(key)
        try:
            return self.keyspace[db].incr(raw_key, delta, initial_value)
        except NotAnIntegerError:
            raise ValueNotAnIntegerError(raw_key) from None

    def delete(self, key: Key, db: int = 0) -> bool:
        existed = self.keyspace[db].delete(_key(key))
        if existed and self.write_through:
            self.sync()
        return existed

    def expire(self, key: Key, seconds: float, db: int = 0) -> bool:
        """Give `key` a time to live; False if it does not exist.  Zero or less deletes it."""
        database = self.keyspace[db]
        raw_key = _key(key)
        if not database.exists(raw_key):
            return False
        database.set_expire(raw_key, now_ms() + int(seconds * 1000))
        if self.write_through:
            self.sync()
        return True

    # -- reading -------------------------------------------------------------------------------------

    def get(self, key: Key, default: Any = None, db: int = 0) -> Any:
        # The most frequent call of the API: the common case (str key, db 0, no expiry, a value
        # decoded before) avoids every helper call.
        if key.__class__ is str:
            key = key.encode()
        elif key.__class__ is not bytes:
            key = _key(key)
        database = self._db0 if db == 0 else self.keyspace[db]
        value = database.data.get(key)
        if value is None:
            return default
        if database.expires and key in database.expires:
            value = database.lookup(key)
            if value is None:
                return default
        if value.__class__ is bytes:
            decoded = self._memo_get(value, _MISSING)
            return self._decode(value) if decoded is _MISSING else decoded
        if value.__class__ is bytearray:  # a bitmap left mutable by a bit write: bytes again
            return self._decode(database.lookup(key))
        return value

    def get_multi(self, keys: Iterable[Key], key_prefix: Key | None = None, db: int = 0) -> dict:
        """The keys that exist, keyed as passed in."""
        lookup = self.keyspace[db].lookup
        decode = self._decode
        found = {}
        for key in keys:
            value = lookup(_key(key, key_prefix))
            if value is not None:
                found[key] = decode(value) if type(value) is bytes else value
        return found

    def ttl(self, key: Key, db: int = 0) -> int:
        """Seconds to live as Redis reports them: -2 for a missing key, -1 for one without expiry."""
        database = self.keyspace[db]
        raw_key = _key(key)
        if not database.exists(raw_key):
            return -2
        deadline = database.deadline(raw_key)
        if deadline is None:
            return -1
        return max(0, (deadline - now_ms() + 500) // 1000)

    def _live_db(self, db: int = 0) -> Database:
        database = self.keyspace[db]
        if database.expires:
            database.expire_due()
        return database

    def __len__(self) -> int:
        return len(self._live_db())

    def __contains__(self, key: Key) -> bool:
        return self.keyspace[0].exists(_key(key))

    def __iter__(self) -> Iterator[bytes]:
        """Keys of database 0, as bytes."""
        return iter(self._live_db().keys())

    def execute_command(self, *args: Any, db: int = 0) -> Any:
        """Run any command the server serves against this storage (``"HSET", "h", "f", "v"``).

        Values are raw bytes here, not codec-encoded: this is the Redis view of the same data.  Replies
        decode as a RESP3 client decodes them; an error reply raises :class:`CommandError`.
        """
        from .commands.inprocess import execute

        result = execute(self.keyspace, args, db)
        self.sync()
        return result

    def register_script(self, code: str | bytes) -> Script:
        """A Lua script run with ``script(keys=[...], args=[...], db=0)``, as redis-py's register_script:
        by EVALSHA, loading it again when the cache was flushed."""
        return Script(self, code)

    # -- lifecycle -----------------------------------------------------------------------------------

    def sync(self) -> None:
        """Make every write so far durable (write-through storages); a no-op otherwise.  The server
        calls it once per batch of pipelined commands, before replying."""

    def flush(self, force: bool = False) -> bool:
        """Hand queued writes over; True when nothing is left pending."""
        return True

    def close(self, flush: bool = True) -> None:
        """Release the storage.  ``flush=False`` drops queued writes instead of saving them (the
        server's SHUTDOWN NOSAVE); by default everything queued is saved first."""
        self.closed = True

    def __enter__(self) -> DefaultStorage:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- reporting -----------------------------------------------------------------------------------

    def queue_length(self) -> int:
        return 0

    def _describe(self) -> list[str]:
        return [f"{self.keyspace.key_count()} items in storage memory"]

    def __str__(self) -> str:
        return " :: ".join(self._describe())

    def info(self) -> dict[str, Any]:
        """Counters for the server's INFO persistence section."""
        return {
            "mode": self.mode,
            "backend": "",
            "filename": "",
            "file_size": 0,
            "queue_length": self.queue_length(),
            "flushes": 0,
            "flush_errors": 0,
            "last_flush_ms": 0,
            "last_error": "",
            "keys_loaded": self.keys_loaded,
            "load_time_ms": self.load_time_ms,
        }


class _QueuedMixin:
    """Shared by the storages that own a WriteQueue: flushing, closing, counters."""

    queue: WriteQueue
    keyspace: Keyspace
    closed: bool

    def queue_length(self) -> int:
        return len(self.queue)

    def flush(self, force: bool = False) -> bool:
        return self.queue.flush(force=force)

    def _queue_info(self, info: dict[str, Any]) -> dict[str, Any]:
        queue = self.queue
        info.update(
            queue_length=len(queue),
            flushes=queue.flushes,
            flush_errors=queue.flush_errors,
            last_flush_ms=queue.last_flush_ms,
            last_error=queue.last_error,
        )
        return info

    def _drain(self, flush: bool = True) -> bool:
        self.queue.stop_timer()
        return self.queue.flush(force=True) if flush else True

    def __del__(self) -> None:
        # Last resort for a storage dropped without close(); close() and exit are the normal paths.
        if not getattr(self, "closed", True) and hasattr(self, "queue"):
            try:
                self.close()  # type: ignore[attr-defined]
            except Exception:
                pass


class Script:
    """A Lua script bound to a storage (see :meth:`DefaultStorage.register_script`)."""

    def __init__(self, storage: DefaultStorage, code: str | bytes) -> None:
        self.storage = storage
        self.code = code.encode() if isinstance(code, str) else code
        self.sha = hashlib.sha1(self.code).hexdigest()

    def __call__(self, keys: Iterable[Key] = (), args: Iterable[Any] = (), db: int = 0) -> Any:
        keys, args = list(keys), list(args)
        try:
            return self.storage.execute_command("EVALSHA", self.sha, len(keys), *keys, *args, db=db)
        except CommandError as problem:
            if not str(problem).startswith("NOSCRIPT"):
                raise
        return self.storage.execute_command("EVAL", self.code, len(keys), *keys, *args, db=db)


class QueueStorage(_QueuedMixin, DefaultStorage):
    """In memory, and every write is queued as a QueueItem for ``worker_process`` (override it).

    A truthy return from ``worker_process`` consumes the item; a falsy return or an exception keeps it
    for a retry.  With ``workers > 1`` a batch is processed by that many gevent greenlets.
    """

    mode = "queue"

    def __init__(
        self,
        maxsize: int = 0,
        workers: int = 1,
        flush_interval: float | None = None,
        codec: str | Codec = "json",
        databases: int = DEFAULT_DATABASES,
        keyspace: Keyspace | None = None,
    ) -> None:
        super().__init__(codec=codec, databases=databases, keyspace=keyspace)
        self.workers = max(1, workers)
        self.queue = WriteQueue(self._process, FifoLog, maxsize, name=type(self).__name__)
        self.keyspace.add_listener(self._on_change)
        _open_storages.add(self)
        if flush_interval:
            self.queue.start_timer(flush_interval)

    def worker_process(self, item: QueueItem) -> Any:
        """Handle one queued write; return truthy when done.  The default just consumes it."""
        return True

    def _on_change(self, change: Change) -> None:
        if change.db == META_DB:
            return  # function libraries are the server's, not writes for worker_process
        self.queue.put(
            QueueItem(change.op, change.key, change.value, change.db, time.time(), change.expire_at_ms)
        )

    def _process(self, items: list[QueueItem]) -> list[QueueItem]:
        if self.workers == 1 or len(items) == 1:
            return [item for item in items if not self._attempt(item)]
        import gevent.pool  # only when asked for; each OS thread gets its own gevent hub

        results = gevent.pool.Pool(self.workers).map(self._attempt, items)
        return [item for item, done in zip(items, results, strict=True) if not done]

    def _attempt(self, item: QueueItem) -> bool:
        value = item.value
        if type(value) is bytes:
            item = item._replace(value=self._decode(value))
        try:
            if self.worker_process(item):
                return True
            self.queue.last_error = f"worker_process returned a false value for {item.key!r}"
        except Exception as error:
            self.queue.last_error = f"{type(error).__name__}: {error}"
            logger.warning("worker_process failed on %r", item.key, exc_info=True)
        return False

    def close(self, flush: bool = True) -> None:
        if self.closed:
            return
        if not self._drain(flush):
            logger.error("%s closed with %d items not processed", self, len(self.queue))
        self.keyspace.remove_listener(self._on_change)
        _open_storages.discard(self)
        self.closed = True

    def _describe(self) -> list[str]:
        return [f"{len(self.queue)} items in queue", *super()._describe()]

    def info(self) -> dict[str, Any]:
        return self._queue_info(super().info())


class _FileMixin:
    """Opening a backend and loading its file into the keyspace."""

    def close(self, flush: bool = True) -> None:
        if self.closed:
            return
        if not self._drain(flush):
            raise StorageError(f"{self.filename}: {len(self.queue)} writes could not be saved")
        self.keyspace.remove_listener(self.queue.put)
        self.backend.close()
        _open_storages.discard(self)
        self.closed = True

    backend: Backend
    filename: str
    keyspace: Keyspace
    keys_loaded: int
    load_time_ms: int

    def _open_file(self, filename: str | os.PathLike | None, backend: str | Backend) -> None:
        self.filename = os.fspath(filename) if filename else getattr(backend, "filename", "")
        self.backend = open_backend(backend, self.filename)
        self.backend.databases = len(self.keyspace)
        self.backend.open()
        try:
            self._load()
        except BaseException:
            self.backend.close()
            raise

    def _load(self) -> None:
        started = time.perf_counter()
        now = now_ms()
        load = self.keyspace.load
        databases = len(self.keyspace)
        count = 0
        for db, key, value, expire_at_ms in self.backend.load():
            if expire_at_ms is not None and expire_at_ms <= now:
                continue
            if not 0 <= db < databases and db != META_DB:
                raise StorageError(
                    f"{self.filename} has keys in database {db}, but only {databases} are configured"
                )
            load(db, key, value, expire_at_ms)
            count += 1
        self.keys_loaded = count
        self.load_time_ms = int((time.perf_counter() - started) * 1000)

    def _file_info(self, info: dict[str, Any]) -> dict[str, Any]:
        info.update(backend=self.backend.name, filename=self.filename, file_size=self.file_size())
        if self.near is not None:
            info.update(self.backend.info(), **self.near.info(), upstream_unsaved=self.queue.unsaved)
        return info

    near: Any = None  # the NearCache keeping this storage coherent with an upstream Redis

    def _attach_upstream(self) -> None:
        from .persistence.upstream import NearCache, UpstreamBackend

        if isinstance(self.backend, UpstreamBackend):
            self.near = NearCache(self.backend, self.keyspace, self.queue, self.queue.put)

    def file_size(self) -> int:
        return self.backend.file_size()


class PersistentStorage(_FileMixin, _QueuedMixin, DefaultStorage):
    """Write-through: every mutating call is committed to the file before it returns.

    A change reaches memory first (commands change the keyspace in place) and the file at the next
    :meth:`sync`.  When the file refuses a batch, :meth:`_undo` puts every key the batch touched back
    to what the file holds, so memory never keeps a write the caller was told failed.  The batch is
    known only by its change records, so whatever changes the keyspace (a command, a transaction,
    a script, expiry) is undone the same way.  Undoing reads the file, so it needs a backend that
    can :meth:`~leakdb.persistence.base.Backend.fetch`; with one that cannot, or a file that cannot
    even be read, the batch is kept and retried instead (and logged).  Use one writing thread (the
    server's event loop is one): the undo runs on the thread whose sync failed.
    """

    mode = "persistent"
    write_through = True

    def __init__(
        self,
        filename: str | os.PathLike | None = None,
        backend: str | Backend = "sqlite",
        codec: str | Codec = "json",
        databases: int = DEFAULT_DATABASES,
        keyspace: Keyspace | None = None,
        upstream: str | None = None,
        upstream_cluster: bool = False,
        upstream_load: str = "full",
    ) -> None:
        backend = upstream_backend(backend, upstream, upstream_cluster, upstream_load)
        super().__init__(codec=codec, databases=1 if upstream else databases, keyspace=keyspace)
        self._open_file(filename, backend)
        self.queue = WriteQueue(self._write, CoalescingLog, name=self.filename, discard=self._undo)
        self.keyspace.add_listener(self.queue.put)
        self._attach_upstream()
        _open_storages.add(self)

    def _write(self, changes: list[Change]) -> list[Change]:
        self.backend.apply(changes)
        return []

    def sync(self) -> None:
        """Commit every change made so far (one transaction).  Raises StorageError if the write fails,
        after undoing the changes in memory: the keys they touched hold what the file holds."""
        self.queue.flush_or_raise()

    def flush(self, force: bool = False) -> bool:
        return self.queue.flush(force=True)

    def probe(self) -> bool:
        """Whether the file takes a write again after a failure: one small real write (nothing
        pending is touched, so any thread may ask).  Success ends the failing state."""
        try:
            self.backend.probe()
        except Exception as error:
            self.queue.record_failure(f"{type(error).__name__}: {error}")
            return False
        self.queue.record_success()
        return True

    def _undo(self, changes: list[Change]) -> None:
        """Put every key `changes` touched back to its committed state, read from the file.  Other
        listeners (WATCH, memory accounting, blocked clients) see the restores as writes; this
        storage's own queue does not, since the file already holds them."""
        whole: set[int] = set()
        keys: dict[tuple[int, bytes], None] = {}
        for change in changes:
            if change.op == FLUSHDB:
                whole.add(change.db)
            elif change.op == SWAPDB:
                whole.update((change.db, change.value))
            else:
                keys[(change.db, change.key)] = None
        backend, keyspace = self.backend, self.keyspace
        # Read everything first: a file that cannot be read leaves memory as it was (and raises).
        databases = {db: list(backend.fetch_db(db)) for db in whole}
        committed = {slot: backend.fetch(*slot) for slot in keys if slot[0] not in whole}
        keyspace.remove_listener(self.queue.put)
        try:
            for db, records in databases.items():
                database = keyspace[db]
                database.flush()
                for key, value, deadline in records:
                    database.restore(key, value, deadline)
            for (db, key), record in committed.items():
                value, deadline = record if record is not None else (None, None)
                keyspace[db].restore(key, value, deadline)
        finally:
            keyspace.add_listener(self.queue.put)

    def _describe(self) -> list[str]:
        return [f"{self.filename} {self.file_size()} bytes", *super()._describe()]

    def info(self) -> dict[str, Any]:
        return self._file_info(self._queue_info(super().info()))


class PersistentQueueStorage(_FileMixin, _QueuedMixin, DefaultStorage):
    """Write-behind: writes coalesce in memory by (db, key) and a flush writes the batch in one
    transaction — at ``maxsize`` pending keys, every ``flush_interval`` seconds, on ``flush()``,
    on ``close()`` and at interpreter exit."""

    mode = "persistent-queue"

    def __init__(
        self,
        filename: str | os.PathLike | None = None,
        maxsize: int = 1000,
        workers: int = 1,
        flush_interval: float | None = 1.0,
        backend: str | Backend = "sqlite",
        codec: str | Codec = "json",
        databases: int = DEFAULT_DATABASES,
        keyspace: Keyspace | None = None,
        upstream: str | None = None,
        upstream_cluster: bool = False,
        upstream_load: str = "full",
    ) -> None:
        backend = upstream_backend(backend, upstream, upstream_cluster, upstream_load)
        super().__init__(codec=codec, databases=1 if upstream else databases, keyspace=keyspace)
        # `workers` is accepted for symmetry with QueueStorage: one transaction per batch needs one.
        self.workers = workers
        self._open_file(filename, backend)
        self.queue = WriteQueue(self._write, CoalescingLog, maxsize, name=self.filename)
        self.keyspace.add_listener(self.queue.put)
        self._attach_upstream()
        _open_storages.add(self)
        if flush_interval:
            self.queue.start_timer(flush_interval)

    def _write(self, changes: list[Change]) -> list[Change]:
        self.backend.apply(changes)
        return []

    def _describe(self) -> list[str]:
        return [
            f"{self.filename} {self.file_size()} bytes",
            f"{len(self.queue)} items in queue",
            *DefaultStorage._describe(self),
        ]

    def info(self) -> dict[str, Any]:
        return self._file_info(self._queue_info(super().info()))


MODES: dict[str, type[DefaultStorage]] = {
    "memory": DefaultStorage,
    "queue": QueueStorage,
    "persistent": PersistentStorage,
    "persistent-queue": PersistentQueueStorage,
}


def upstream_backend(backend: str | Backend, upstream: str | None, cluster: bool, load: str) -> str | Backend:
    """The backend to open: an upstream Redis when `backend` is "redis" or `upstream` is given."""
    if backend != "redis" and not upstream:
        return backend
    if not upstream:
        raise ValueError("the redis backend needs upstream='redis://host:port' (or a list for a cluster)")
    if load not in ("full", "lazy"):
        raise ValueError(f"upstream_load is 'full' or 'lazy', not {load!r}")
    from .persistence.upstream import UpstreamBackend

    return UpstreamBackend(upstream, cluster=cluster, lazy=load == "lazy")


def make_storage(
    mode: str,
    filename: str | None = None,
    backend: str = "sqlite",
    maxsize: int = 1000,
    flush_interval: float | None = 1.0,
    workers: int = 1,
    codec: str = "json",
    databases: int = DEFAULT_DATABASES,
    upstream: str | None = None,
    upstream_cluster: bool = False,
    upstream_load: str = "full",
) -> DefaultStorage:
    """The storage for a server's ``--storage`` mode: memory, queue, persistent or persistent-queue."""
    if mode not in MODES:
        raise ValueError(f"unknown storage mode {mode!r}; choose one of {', '.join(MODES)}")
    if mode in ("persistent", "persistent-queue") and not filename and backend != "redis":
        raise ValueError(f"storage mode {mode} needs a filename")
    upstream_options = {
        "upstream": upstream,
        "upstream_cluster": upstream_cluster,
        "upstream_load": upstream_load,
    }
    if backend != "redis":
        upstream_options = {}
    if mode == "memory":
        return DefaultStorage(codec=codec, databases=databases)
    if mode == "queue":
        return QueueStorage(
            maxsize=maxsize,
            workers=workers,
            flush_interval=flush_interval,
            codec=codec,
            databases=databases,
        )
    if mode == "persistent":
        return PersistentStorage(
            filename, backend=backend, codec=codec, databases=databases, **upstream_options
        )
    return PersistentQueueStorage(
        filename,
        maxsize=maxsize,
        workers=workers,
        flush_interval=flush_interval,
        backend=backend,
        codec=codec,
        databases=databases,
        **upstream_options,
    )
