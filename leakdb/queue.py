"""The write-behind queue: changes wait in memory and are handed over in batches by a flush.

A flush runs when asked, when the queue reaches ``maxsize`` (in the writer, synchronously), on a timer
thread every ``flush_interval`` seconds, and on close.  A batch that fails is put back in front of newer
writes and retried with back-off; nothing is ever dropped.  A write-through storage passes `discard`
instead: a batch the file refused is handed to it (to undo in memory) and not retried.  Each batch
records how it ended (``outcome``), so whoever waits on a batch learns its fate, whichever thread or
caller flushed it.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from .engine.keyspace import EXPIRE, FLUSHDB, SET, Change, now_ms
from .errors import StorageError

logger = logging.getLogger("leakdb.queue")


class QueueItem(NamedTuple):
    """One write as QueueStorage's ``worker_process`` sees it.

    ``operation`` is a change op (``"set"``, ``"del"``, ``"expire"``, ``"flushdb"``, ``"swapdb"``); ``key``
    is bytes (None for whole-database operations); ``value`` is the decoded value for ``set`` (the other
    database's index for ``swapdb``); ``timestamp`` is the time of the write (``time.time()``).
    """

    operation: str
    key: bytes | None
    value: Any
    db: int
    timestamp: float
    expire_at_ms: int | None = None


class FifoLog(list):
    """Every pending item, oldest first."""

    add = list.append
    outcome: bool | None = None  # set when the batch was flushed: True written, False refused

    def items(self) -> list[Any]:
        return self

    def merged_after(self, failed: list[Any]) -> FifoLog:
        return FifoLog(failed + self)


class CoalescingLog:
    """Pending changes keeping only the latest per (db, key), so a batch writes each key once.

    FLUSHDB and SWAPDB act on whole databases and cannot be folded into per-key entries, so they end
    a segment: changes after them coalesce among themselves and are applied after them.
    """

    __slots__ = ("_current", "_frozen", "_segments", "outcome")

    def __init__(self, changes: Iterable[Change] = ()) -> None:
        self.outcome: bool | None = None  # set when the batch was flushed: True written, False refused
        self._current: dict[tuple[int, bytes], Change] = {}
        self._frozen = 0  # entries in the segments before the current one
        self._segments: list[dict[tuple[int, bytes], Change] | Change] = [self._current]
        for change in changes:
            self.add(change)

    def add(self, change: Change) -> None:
        key = change.key
        if key is not None and change.op is not EXPIRE:  # SET and DELETE: the hot case
            self._current[(change.db, key)] = change
            return
        if key is None:
            if change.op == FLUSHDB:
                index = change.db
                current = self._current
                for pending in [k for k in current if k[0] == index]:
                    del current[pending]
            self._frozen += len(self._current) + 1
            self._current = {}
            self._segments.append(change)
            self._segments.append(self._current)
            return
        slot = (change.db, key)
        current = self._current
        if change.op == EXPIRE:
            previous = current.get(slot)
            if previous is not None and previous.op == SET:
                change = previous._replace(expire_at_ms=change.expire_at_ms)
        current[slot] = change

    def __len__(self) -> int:
        return self._frozen + len(self._current)

    def holds(self, db: int, key: bytes) -> bool:
        """Whether a change to `key` is pending (in any segment)."""
        slot = (db, key)
        return any(type(segment) is dict and slot in segment for segment in self._segments)

    def items(self) -> list[Change]:
        changes: list[Change] = []
        for segment in self._segments:
            if type(segment) is dict:
                changes.extend(segment.values())
            else:
                changes.append(segment)
        return changes

    def merged_after(self, failed: list[Change]) -> CoalescingLog:
        # Replaying the newer changes over the failed ones lets newer writes to a key win.
        merged = CoalescingLog(failed)
        for change in self.items():
            merged.add(change)
        return merged


class WriteQueue:
    """Pending writes, the locks around them, the flush timer and the counters INFO reports.

    `process` takes a batch (a list) and returns the items it could not handle (an empty list when all
    went well); raising means the whole batch failed.  ``_lock`` guards only appending and swapping the
    pending log; ``_flush_lock`` serialises flushes.
    """

    retry_delay = 0.05  # seconds before the first retry of a failed batch; doubles per failure
    max_backoff = 30.0
    force_attempts = 5  # passes flush(force=True) makes before giving up (items stay queued)

    def __init__(
        self,
        process: Callable[[list[Any]], list[Any]],
        new_log: Callable[[], Any] = FifoLog,
        maxsize: int = 0,
        name: str = "",
        discard: Callable[[list[Any]], None] | None = None,
    ) -> None:
        self._process = process
        self._discard = discard
        self._new_log = new_log
        self._pending = new_log()
        self.maxsize = maxsize
        self.name = name
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._flushing_thread: int | None = None
        self._in_flight: Any = None  # the batch being processed, while it is
        self._failures = 0
        self._retry_at = 0.0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._timer: threading.Thread | None = None
        self.flushes = 0
        self.flush_errors = 0
        self.last_flush_ms = 0
        self.last_error = ""
        # Called (from the flushing thread) when a flush fails after a success, or the reverse.
        self.on_state_change: Callable[[], None] | None = None

    @property
    def failing(self) -> bool:
        """True while the last flush failed: its writes are kept for a retry."""
        return self._failures > 0

    def __len__(self) -> int:
        return len(self._pending)

    @property
    def pending_log(self) -> Any:
        """The batch new writes go to; its ``outcome`` is set once it has been flushed."""
        return self._pending

    def put(self, item: Any) -> None:
        lock = self._lock
        lock.acquire()
        try:
            pending = self._pending
            pending.add(item)
            full = self.maxsize and len(pending) >= self.maxsize
        finally:
            lock.release()
        if full:
            self._auto_flush()

    # -- flushing ------------------------------------------------------------------------------------

    def _auto_flush(self) -> None:
        if self._flushing_thread == threading.get_ident():
            return  # a worker writing to the storage during a flush; the next flush takes it
        if time.monotonic() < self._retry_at:
            return  # backing off after a failure: the queue grows past maxsize, nothing is dropped
        if self._timer is not None:
            # The flush thread writes the batch while the writer goes on (a server's event loop is
            # not held up by the file).  A writer that outruns it waits: with a flush already in
            # flight, or twice maxsize pending, the writer flushes itself, which bounds what a
            # crash can lose to about two batches.
            in_flight = self._flush_lock.locked()
            if not in_flight and len(self._pending) < 2 * self.maxsize:
                if not self._wake.is_set():
                    self._wake.set()
                return
        with self._flush_lock:
            if len(self._pending) >= self.maxsize:
                self._flush_once()

    def flush(self, force: bool = False) -> bool:
        """Hand pending items over; True when everything pending at the call was handled.

        Without `force`, skip if another flush is running or a failed batch is backing off.  With
        `force`, wait for a running flush, then retry failures (with back-off) up to `force_attempts`.
        """
        if self._flushing_thread == threading.get_ident():
            return False
        if not force:
            if time.monotonic() < self._retry_at or not self._flush_lock.acquire(blocking=False):
                return False
            try:
                return self._flush_once()
            finally:
                self._flush_lock.release()
        with self._flush_lock:
            if self._discard is not None:
                return self._flush_once()  # a refused batch is undone, not retried
            for attempt in range(self.force_attempts):
                if self._flush_once():
                    return True
                if attempt + 1 < self.force_attempts:
                    time.sleep(min(self.max_backoff, self.retry_delay * 2**attempt))
        logger.error(
            "%s: %d items still queued after %d attempts: %s",
            self.name,
            len(self._pending),
            self.force_attempts,
            self.last_error,
        )
        return False

    def flush_or_raise(self) -> None:
        """One flush pass now, raising StorageError if it fails (write-through storages)."""
        if not len(self._pending) or self._flushing_thread == threading.get_ident():
            return
        with self._flush_lock:
            if not self._flush_once():
                raise StorageError(f"{self.name}: write failed: {self.last_error}")

    @property
    def unsaved(self) -> int:
        """Changes not yet written: those waiting plus those of a batch being written now."""
        in_flight = self._in_flight
        return len(self._pending) + (len(in_flight) if in_flight is not None else 0)

    def holds(self, db: int, key: bytes) -> bool:
        """Whether a change to `key` waits in the queue or is being written now (coalescing logs)."""
        in_flight = self._in_flight
        return self._pending.holds(db, key) or (in_flight is not None and in_flight.holds(db, key))

    def _flush_once(self) -> bool:
        """One pass over the pending batch; the caller holds ``_flush_lock``."""
        with self._lock:
            batch = self._pending
            if not len(batch):
                return True
            self._in_flight = batch
            self._pending = self._new_log()
        items = batch.items()
        self._flushing_thread = threading.get_ident()
        try:
            failed = self._process(items)
        except Exception as error:
            failed = items
            self.last_error = f"{type(error).__name__}: {error}"
            logger.warning("%s: flushing %d items failed", self.name, len(items), exc_info=True)
        finally:
            self._flushing_thread = None
        if failed:
            batch.outcome = False
            self._keep_or_discard(list(failed), len(items))
            self._in_flight = None
            self.record_failure()
            return False
        batch.outcome = True
        self._in_flight = None
        self.record_success()
        return True

    def _keep_or_discard(self, failed: list[Any], total: int) -> None:
        if self._discard is not None:
            try:
                self._discard(failed)
                logger.warning("%s: %d items refused by the file were undone", self.name, len(failed))
                return
            except Exception:
                logger.exception(
                    "%s: undoing %d refused items failed; they are retried", self.name, len(failed)
                )
        with self._lock:
            self._pending = self._pending.merged_after(failed)
        logger.warning("%s: %d of %d items kept for a retry", self.name, len(failed), total)

    def record_failure(self, error: str | None = None) -> None:
        """Count a failed write (a flush, or a probe of the file) and back off."""
        if error is not None:
            self.last_error = error
        self._failures += 1
        self.flush_errors += 1
        if self._failures == 1 and self.on_state_change is not None:
            self.on_state_change()
        self._retry_at = time.monotonic() + min(
            self.max_backoff, self.retry_delay * 2 ** (self._failures - 1)
        )

    def record_success(self) -> None:
        """Count a write that reached the file: failing ends."""
        if self._failures and self.on_state_change is not None:
            self._failures = 0
            self.on_state_change()
        self._failures = 0
        self._retry_at = 0.0
        self.flushes += 1
        self.last_flush_ms = now_ms()

    # -- the timer -----------------------------------------------------------------------------------

    def start_timer(self, interval: float) -> None:
        """Flush every `interval` seconds from a daemon OS thread (works whether or not anything
        yields to gevent).  The thread holds the queue weakly so an abandoned queue can be collected."""
        if interval <= 0:
            raise ValueError("flush_interval must be positive")
        queue_ref = weakref.ref(self)
        stop = self._stop
        wake = self._wake

        def tick() -> None:
            # Runs every `interval` seconds, and at once when a writer reaches maxsize.
            while True:
                wake.wait(interval)
                if stop.is_set():
                    return
                wake.clear()
                queue = queue_ref()
                if queue is None:
                    return
                try:
                    queue.flush()
                except Exception:
                    logger.exception("%s: timed flush failed", queue.name)
                del queue

        self._timer = threading.Thread(target=tick, name=f"leakdb-flush {self.name}", daemon=True)
        self._timer.start()

    def stop_timer(self) -> None:
        self._stop.set()
        self._wake.set()
        timer = self._timer
        if timer is not None and timer is not threading.current_thread():
            timer.join()
        self._timer = None
