"""Clients blocked on keys (BLPOP, BLMOVE, BLMPOP ...): a per-server registry of waiters served on the hub.

A blocking command that finds nothing to pop calls :func:`block`, which queues a :class:`Waiter` under
every (db index, key) it waits for, in arrival order, and raises ``Suspend``: the server pauses the client
and runs the wait in a greenlet.  While at least one client waits, a keyspace listener watches for
writes to waited-on keys and schedules serving them on the hub after the current command.  Serving pops
for the first live waiter (on the hub, so no other command interleaves) and hands it the finished reply;
an element is only ever popped for a waiter that is still connected and has not timed out.  With no
waiter the listener is removed, so the hot path pays nothing.  The registry also answers what INFO
and CLIENT LIST show about blocked clients (``blocked_clients``, the ``b`` flag, ``cmd=``).

Stream reads (XREAD, XREADGROUP) wait for more than "the key holds a value": a waiter that *judges*
is shown every change to its keys (deletions and flushes included), with whether a stream command
signalled the key (:func:`signal`, Redis's signalKeyAsReady from XADD), and decides itself whether to
reply or keep waiting.
"""

from __future__ import annotations

import logging
import math
import re
from collections import deque
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import gevent.event

from .. import errors
from ..engine.keyspace import DELETE, FLUSHDB, SET, SWAPDB, Change, Database
from ..engine.numbers import INT64_MAX, INT64_MIN, parse_long_double, round_long_double
from ..errors import CommandError, error_reply
from ..resp import ProtocolError
from .registry import Suspend

log = logging.getLogger("leakdb.blocking")

# serve(client, db, key, value) -> reply bytes; called on the hub with the key's live, non-empty value.
Serve = Callable[[Any, Database, bytes, Any], bytes]
# judge(client, db, key, value, signalled) -> reply bytes, or None to keep waiting; called on the hub
# after any change to the key, with whatever it holds now (None when it is gone).
Judge = Callable[[Any, Database, bytes, Any, bool], "bytes | None"]

# How often clients closed from elsewhere (CLIENT KILL) are swept out while anyone waits.
SWEEP_SECONDS = 1.0
READ_SIZE = 64 * 1024


# -- timeouts --------------------------------------------------------------------------------------

_HEX_FLOAT = re.compile(rb"[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?")
_INFINITY = re.compile(rb"[+-]?inf(?:inity)?", re.IGNORECASE)


def _seconds(raw: bytes) -> Fraction | float | None:
    """`raw` as strtold reads it (decimal, hexadecimal or infinity); None if it is not a number."""
    if _INFINITY.fullmatch(raw):
        return -math.inf if raw[:1] == b"-" else math.inf
    if _HEX_FLOAT.fullmatch(raw):
        return Fraction(float.fromhex(raw.decode()))
    return parse_long_double(raw)


def timeout_ms(raw: bytes) -> int:
    """A blocking command's timeout in whole milliseconds (0: forever), validated as Redis does it.

    Redis multiplies in long double and casts to a 64-bit integer; values beyond that range (and
    infinity) come out negative on x86, hence "timeout is negative" for them.  A fraction of a
    millisecond rounds up, as Redis 7.0 does, so a tiny timeout times out rather than blocking forever.
    """
    seconds = _seconds(raw)
    if seconds is None:
        raise CommandError(errors.TIMEOUT_NOT_FLOAT)
    scaled = round_long_double(seconds * 1000) if isinstance(seconds, Fraction) else None
    milliseconds = math.ceil(scaled) if scaled is not None else INT64_MIN
    if not INT64_MIN <= milliseconds <= INT64_MAX:
        milliseconds = INT64_MIN
    if milliseconds < 0:
        raise CommandError(errors.TIMEOUT_NEGATIVE)
    return milliseconds


class Waiter:
    """One blocked client: the keys it waits on, how to serve it, and the reply once served."""

    __slots__ = (
        "client",
        "command",
        "db_index",
        "done",
        "event",
        "judges",
        "keys",
        "kind",
        "reply",
        "serve",
        "timeout_ms",
        "watcher",
    )

    def __init__(
        self,
        client: Any,
        keys: list[bytes],
        kind: type,
        serve: Serve | Judge,
        command: str = "",
        timeout_ms: int = 0,
        judges: bool = False,
    ) -> None:
        self.client = client
        self.kind = kind  # the value type that can serve it: deque for the list pops, ZSet for BZPOPMIN
        self.command = command  # the blocking command's name, lower case, as CLIENT LIST shows it
        self.timeout_ms = timeout_ms
        self.db_index: int = client.db_index
        self.keys = list(dict.fromkeys(keys))  # BLPOP k k waits once on k
        self.serve = serve
        self.judges = judges  # `serve` is a Judge: it sees every change and may decline
        self.reply: bytes | None = None
        self.done = False
        self.event = gevent.event.Event()
        self.watcher: Any = None


class Blocking:
    """The waiters of one server, in FIFO order per (db index, key)."""

    def __init__(self, server: Any) -> None:
        self.keyspace = server.keyspace
        self.loop = server.loop
        self.pending_batch: Callable[[], Any] = getattr(server, "pending_batch", lambda: None)
        self.queues: dict[tuple[int, bytes], deque[Waiter]] = {}
        self.by_client: dict[int, Waiter] = {}  # client id -> its waiter, while it is blocked
        self.waiting = 0
        self.ready: dict[tuple[int, bytes], None] = {}  # an ordered set: keys to serve, oldest first
        self.signalled: set[tuple[int, bytes]] = set()  # ready keys a stream command signalled
        self.scheduled = False
        self._sweeper: Any = None

    # -- registering ---------------------------------------------------------------------------------

    def add(self, waiter: Waiter) -> None:
        for key in waiter.keys:
            self.queues.setdefault((waiter.db_index, key), deque()).append(waiter)
        self.by_client[waiter.client.id] = waiter
        self.waiting += 1
        if self.waiting == 1:
            self.keyspace.add_listener(self._on_change)
            self._sweeper = self.loop.timer(SWEEP_SECONDS, SWEEP_SECONDS)
            self._sweeper.start(self._sweep)

    def forget(self, waiter: Waiter) -> None:
        """Take a waiter out of every queue (served, timed out or disconnected); idempotent."""
        if waiter.done:
            return
        waiter.done = True
        self._stop_watching(waiter)
        for key in waiter.keys:
            queue = self.queues.get((waiter.db_index, key))
            if queue is not None:
                queue.remove(waiter)
                if not queue:
                    del self.queues[(waiter.db_index, key)]
        if self.by_client.get(waiter.client.id) is waiter:
            del self.by_client[waiter.client.id]
        self.waiting -= 1
        if self.waiting == 0:
            self.keyspace.remove_listener(self._on_change)
            self._sweeper.stop()
            self._sweeper = None
        waiter.event.set()

    # -- waking --------------------------------------------------------------------------------------

    def _on_change(self, change: Change) -> None:
        op = change.op
        if op in (SET, DELETE):  # deletions matter to judging waiters only (XREADGROUP)
            if (change.db, change.key) in self.queues:
                self._mark_ready((change.db, change.key))
        elif op == SWAPDB:
            # Both databases have new contents: any waited-on key in them may now hold a list.
            for db_key in list(self.queues):
                if db_key[0] in (change.db, change.value):
                    self._mark_ready(db_key)
        elif op == FLUSHDB:
            for db_key in list(self.queues):
                if db_key[0] == change.db:
                    self._mark_ready(db_key)

    def signal(self, db_index: int, key: bytes) -> None:
        db_key = (db_index, key)
        if db_key in self.queues:
            self.signalled.add(db_key)
            self._mark_ready(db_key)

    def _mark_ready(self, db_key: tuple[int, bytes]) -> None:
        self.ready[db_key] = None
        if not self.scheduled:
            self.scheduled = True
            self.loop.run_callback(self._serve_ready)

    def _serve_ready(self) -> None:
        # Serving a BLMOVE pushes to its destination, which may make more keys ready: keep going.
        try:
            while self.ready:
                db_key = next(iter(self.ready))
                del self.ready[db_key]
                self._serve_key(*db_key)
        finally:
            self.scheduled = False

    def _serve_key(self, db_index: int, key: bytes) -> None:
        signalled = (db_index, key) in self.signalled
        self.signalled.discard((db_index, key))
        queue = self.queues.get((db_index, key))
        if queue is None:
            return
        db = self.keyspace[db_index]
        judging = any(waiter.judges for waiter in queue)
        for waiter in list(queue):  # FIFO; a waiter for another type (BZPOPMIN on a list) stays
            if waiter.done:
                continue
            value = db.lookup(key)
            if waiter.judges:
                if waiter.client.closed:
                    self.forget(waiter)
                    continue
                reply = _judge(waiter, db, key, value, signalled)
                if reply is not None:
                    waiter.reply = reply
                    self.forget(waiter)
                continue
            if not value:
                if judging:
                    continue
                return
            if type(value) is not waiter.kind:
                continue
            if waiter.client.closed:
                self.forget(waiter)
                continue
            waiter.reply = _serve(waiter, db, key, value)
            # A write-through server sends the reply only once the batch holding this pop is
            # committed (and MISCONF if the file refuses it and the pop is undone).
            waiter.client.reply_batch = self.pending_batch()
            self.forget(waiter)

    # -- disconnects ---------------------------------------------------------------------------------

    def watch(self, waiter: Waiter) -> None:
        """Read the blocked client's socket: a closed connection ends the wait; requests that arrive
        meanwhile are buffered in its parser and run after the reply, as Redis does."""
        watcher = self.loop.io(waiter.client.fd, 1)
        waiter.watcher = watcher
        watcher.start(self._on_readable, waiter)

    def _on_readable(self, waiter: Waiter) -> None:
        client = waiter.client
        if client.closed:
            self.forget(waiter)
            return
        try:
            data = client.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if data:
            try:
                client.parser.feed(data)
                return
            except ProtocolError:
                pass
        self.forget(waiter)
        client.close()

    def _stop_watching(self, waiter: Waiter) -> None:
        if waiter.watcher is not None:
            waiter.watcher.stop()
            waiter.watcher.close()
            waiter.watcher = None

    def _sweep(self) -> None:
        gone = {id(w): w for queue in self.queues.values() for w in queue if w.client.closed}
        for waiter in gone.values():
            self.forget(waiter)

    # -- waiting -------------------------------------------------------------------------------------

    def wait(self, waiter: Waiter, timeout_ms: int) -> bytes:
        """Block the calling greenlet until the waiter is served, times out or its client goes away."""
        if not waiter.done:
            self.watch(waiter)
        waiter.event.wait(None if timeout_ms == 0 else timeout_ms / 1000)
        # Served and timed out at once: the reply was decided on the hub first, so it stands.
        self.forget(waiter)
        if waiter.reply is not None:
            return waiter.reply
        return waiter.client.resp.null_array


def _serve(waiter: Waiter, db: Database, key: bytes, value: Any) -> bytes:
    try:
        return waiter.serve(waiter.client, db, key, value)
    except CommandError as exc:  # BLMOVE onto a destination of another type
        return error_reply(str(exc))
    except Exception:
        log.exception("serving a blocked client failed")
        return b"-ERR internal error\r\n"


def _judge(waiter: Waiter, db: Database, key: bytes, value: Any, signalled: bool) -> bytes | None:
    try:
        return waiter.serve(waiter.client, db, key, value, signalled)
    except CommandError as exc:
        return error_reply(str(exc))
    except Exception:
        log.exception("serving a blocked client failed")
        return b"-ERR internal error\r\n"


def registry(server: Any) -> Blocking:
    """The server's waiter registry, created on first use."""
    blocking = getattr(server, "blocking", None)
    if blocking is None:
        blocking = server.blocking = Blocking(server)
    return blocking


def block(
    client: Any,
    keys: list[bytes],
    timeout_ms: int,
    kind: type,
    serve: Serve | Judge,
    command: bytes = b"",
    judges: bool = False,
) -> None:
    """Suspend `client` until one of `keys` (checked by the caller: all empty) holds a `kind` value,
    or, when `judges`, until `serve` (a Judge) replies to a change of one of them.

    `timeout_ms` 0 waits forever; on timeout the reply is a null array.  `command` is the name the
    client sent (``args[0]``), for CLIENT LIST.  Never returns: raises Suspend (in process, without a
    server, the caller sees that the command would block).
    """
    if getattr(client.server, "loop", None) is None:  # in process: nothing could wake it
        raise Suspend(lambda: client.resp.null_array)
    blocking = registry(client.server)
    name = command.decode("utf-8", "replace").lower()
    waiter = Waiter(client, keys, kind, serve, name, timeout_ms, judges)
    blocking.add(waiter)
    raise Suspend(lambda: blocking.wait(waiter, timeout_ms))


def signal(client: Any, key: bytes) -> None:
    """A stream command gave `key` something its waiters may want (XADD, XGROUP DESTROY): wake them to
    judge.  Costs an attribute lookup while nobody waits."""
    blocking = getattr(client.server, "blocking", None)
    if blocking is not None and blocking.waiting:
        blocking.signal(client.db_index, key)


# -- what INFO and CLIENT LIST show ---------------------------------------------------------------


def blocked_command(client: Any) -> str | None:
    """The name of the command `client` is blocked in ("" if unnamed), or None if it is not blocked."""
    blocking = getattr(client.server, "blocking", None)
    waiter = None if blocking is None else blocking.by_client.get(client.id)
    return None if waiter is None else waiter.command


def blocked_counts(server: Any) -> tuple[int, int]:
    """(blocked clients, those among them with a timeout): INFO's blocked_clients and
    clients_in_timeout_table, which in Redis 7.0 holds only blocked clients with a deadline."""
    blocking = getattr(server, "blocking", None)
    if blocking is None:
        return 0, 0
    waiters = blocking.by_client.values()
    return len(waiters), sum(1 for waiter in waiters if waiter.timeout_ms)
