"""Transactions: MULTI, EXEC, DISCARD, WATCH and UNWATCH, as Redis 7.0's multi.c runs them.

MULTI swaps the client's dispatch table for a queueing one whose entries record the request and answer
+QUEUED, so clients outside a transaction pay nothing.  WATCH registers (db, key) pairs in the server's
:class:`WatchRegistry`, which listens to the keyspace only while some key is watched and marks the
watching clients dirty when their key is written, expires, or is flushed or swapped away.
"""

from __future__ import annotations

import logging
from time import perf_counter_ns
from typing import Any

from .. import errors
from ..engine.keyspace import DELETE, FLUSHDB, SWAPDB, Change, now_ms
from ..errors import MISCONF, CommandError
from ..resp import OK, QUEUED
from .pubsub import ping_in_context, session_table
from .registry import DISPATCH, WRITE, Command, Handler, Suspend, command

log = logging.getLogger("leakdb.server")

MULTI_NESTED = b"-ERR MULTI calls can not be nested\r\n"
EXEC_WITHOUT_MULTI = "ERR EXEC without MULTI"
DISCARD_WITHOUT_MULTI = "ERR DISCARD without MULTI"
WATCH_INSIDE_MULTI = b"-ERR WATCH inside MULTI is not allowed\r\n"
EXECABORT = "EXECABORT Transaction discarded because of previous errors."
EXECABORT_BECAUSE = "EXECABORT Transaction discarded because of: {}"
NOT_IN_MULTI = b"-ERR Command not allowed inside a transaction\r\n"

TRANSACTION_FLAGS = "noscript loading stale fast allow_busy"


class Transaction:
    """The commands a client queued since MULTI, and whether one of them was refused."""

    __slots__ = ("failed", "queued")

    def __init__(self) -> None:
        self.queued: list[tuple[Handler | None, list[bytes], Command]] = []
        self.failed = False


# -- WATCH bookkeeping -------------------------------------------------------------------------------


class WatchedKey:
    """The clients watching one (db, key), and what the key looked like to them.

    ``present`` says whether the key is in the database's dict (possibly past its deadline);
    ``expired`` is Redis's flag for a key that was already expired when it came into view, whose
    deletion is therefore no change.
    """

    __slots__ = ("clients", "expired", "present")

    def __init__(self, present: bool) -> None:
        self.clients: dict[Any, None] = {}
        self.present = present
        self.expired = False


class ClientWatch:
    """A client's watched keys, and whether one of them changed (EXEC will then fail)."""

    __slots__ = ("dirty", "keys")

    def __init__(self) -> None:
        self.keys: dict[tuple[int, bytes], None] = {}
        self.dirty = False


class WatchRegistry:
    """Every watched key of one server, and the keyspace listener that invalidates watches."""

    def __init__(self, keyspace: Any) -> None:
        self.keyspace = keyspace
        self.keys: dict[tuple[int, bytes], WatchedKey] = {}
        self.listening = False

    def watch(self, client: Any, db: int, key: bytes) -> None:
        state = client.watch
        slot = (db, key)
        if slot in state.keys:
            return
        watched = self.keys.get(slot)
        if watched is None:
            # Looking the key up first deletes it if it is past its deadline: a key already expired
            # at WATCH time counts as absent, as Redis's wk->expired flag makes it.
            database = self.keyspace[db]
            database.lookup(key)
            watched = self.keys[slot] = WatchedKey(key in database.data)
        watched.clients[client] = None
        state.keys[slot] = None
        if not self.listening:
            self.listening = True
            self.keyspace.add_listener(self.on_change)

    def unwatch_all(self, client: Any) -> None:
        """Forget every key `client` watches (its dirty flag is left to the caller)."""
        state = client.watch
        for slot in state.keys:
            watched = self.keys.get(slot)
            if watched is None:
                continue
            watched.clients.pop(client, None)
            if not watched.clients:
                del self.keys[slot]
        state.keys = {}
        if not self.keys and self.listening:
            self.listening = False
            self.keyspace.remove_listener(self.on_change)

    def signal(self, db: int, key: bytes) -> None:
        """A write that changed nothing but that Redis still reports as a modification (a no-op
        LTRIM): the clients watching `key` see it as changed."""
        watched = self.keys.get((db, key))
        if watched is not None:
            self.touch(watched)

    def touch(self, watched: WatchedKey) -> None:
        for client in list(watched.clients):
            client.watch.dirty = True
            # A dirty client's other keys cannot matter any more.
            self.unwatch_all(client)

    def expired_since_watch(self, client: Any) -> bool:
        """Whether a key `client` watches has passed its deadline (Redis 7.0 counts that as a change)."""
        now = now_ms()
        for db, key in client.watch.keys:
            watched = self.keys.get((db, key))
            if watched is None or watched.expired:
                continue
            deadline = self.keyspace[db].expires.get(key)
            if deadline is not None and deadline <= now:
                return True
        return False

    # -- the listener ---------------------------------------------------------------------------

    def on_change(self, change: Change) -> None:
        op = change.op
        if op == FLUSHDB:
            self._flushed(change.db)
        elif op == SWAPDB:
            self._swapped(change.db, change.value)
        else:
            watched = self.keys.get((change.db, change.key))
            if watched is None:
                return
            if op == DELETE and watched.expired:
                watched.expired = watched.present = False
                return
            self.touch(watched)

    def _flushed(self, db: int) -> None:
        for (index, _key), watched in list(self.keys.items()):
            if index != db or not watched.present:
                continue
            if watched.expired:
                watched.expired = watched.present = False
            else:
                self.touch(watched)

    def _swapped(self, first: int, second: int) -> None:
        now = now_ms()
        for (index, key), watched in list(self.keys.items()):
            if index not in (first, second):
                continue
            database = self.keyspace[index]
            arrived = key in database.data
            deadline = database.expires.get(key) if arrived else None
            arrived_expired = deadline is not None and deadline <= now
            self._replaced(watched, arrived, arrived_expired)

    def _replaced(self, watched: WatchedKey, arrived: bool, arrived_expired: bool) -> None:
        # Redis's touchAllWatchedKeysInDb: the key that was here is gone and `arrived` took its place.
        if not (watched.present or arrived):
            return
        if watched.expired:
            if not arrived:
                watched.expired = watched.present = False
                return
            if arrived_expired:
                watched.present = True
                return
        elif not watched.present and arrived_expired:
            watched.expired = watched.present = True
            return
        self.touch(watched)


def registry_of(server: Any) -> WatchRegistry:
    registry = server.watches
    if registry is None:
        registry = server.watches = WatchRegistry(server.keyspace)
    return registry


def unwatch(client: Any) -> None:
    """Drop the client's watches and their dirty flag (UNWATCH, EXEC, DISCARD, RESET, closing)."""
    if client.watch is None:
        return
    registry_of(client.server).unwatch_all(client)
    client.watch = None


# -- the queueing table ----------------------------------------------------------------------------

_queueing: dict[bytes, tuple[Handler, int, int, Command]] = {}


def queueing_table() -> dict[bytes, tuple[Handler, int, int, Command]]:
    """The dispatch table of a client inside MULTI: most entries queue the request."""
    if len(_queueing) != len(DISPATCH):
        for name, entry in DISPATCH.items():
            handler, low, high, declared = entry
            acting = _ACTING.get(declared.name)
            if acting is None:
                acting = _queuer(declared)
            elif acting is _SAME:
                acting = handler
            _queueing[name] = (acting, low, high, declared)
    return _queueing


def refused_in_multi(client: Any, declared: Command | None, reply: bytes) -> bytes:
    """The server's refusal of a request (unknown command, wrong arity) while in MULTI.

    EXEC itself refused ends the transaction at once, naming the reason, as Redis's
    execCommandAbort does; any other refusal makes the coming EXEC fail.
    """
    if declared is not None and declared.name == "exec":
        end_transaction(client)
        reason = reply[1:-2].decode().removeprefix("ERR ")
        return errors.error_reply(EXECABORT_BECAUSE.format(reason))
    return queue_error(client, reply)


def queue_error(client: Any, reply: bytes) -> bytes:
    """A refusal at queue time: EXEC will answer EXECABORT."""
    client.multi.failed = True
    return reply


def _queuer(declared: Command) -> Handler:
    # EXEC looks the handler up again (None here), since guards such as maxmemory's are swapped
    # into DISPATCH while the server runs; PING looks at subscribed mode when it runs.
    handler = ping_in_context if declared.name == "ping" else None
    if declared.subcommands:

        def queue_container(client: Any, args: list[bytes]) -> bytes:
            refusal = _subcommand_refusal(declared, args)
            if refusal is not None:
                return queue_error(client, refusal)
            _queue(client, (handler, args, declared))
            return QUEUED

        return queue_container
    if "no_multi" in declared.flags:
        return lambda client, args: queue_error(client, NOT_IN_MULTI)
    if WRITE in declared.flags or declared.name == "ping":

        def queue_unless_refused(client: Any, args: list[bytes]) -> bytes:
            # As Redis does, a write refused for a disk error fails the transaction at queue time.
            server = client.server
            if server is not None and server.refusing_writes:
                return queue_error(client, MISCONF)
            _queue(client, (handler, args, declared))
            return QUEUED

        return queue_unless_refused

    def queue(client: Any, args: list[bytes]) -> bytes:
        _queue(client, (handler, args, declared))
        return QUEUED

    return queue


def _queue(client: Any, request: tuple[Handler | None, list[bytes], Command]) -> None:
    transaction = client.multi
    # As Redis does, a transaction that cannot run any more keeps nothing (CLIENT LIST: multi=0).
    if not transaction.failed and (client.watch is None or not client.watch.dirty):
        transaction.queued.append(request)


def _subcommand_refusal(declared: Command, args: list[bytes]) -> bytes | None:
    """The error Redis gives at lookup time for an unknown subcommand or a wrong arity, if any."""
    sub = declared.subcommands.get(args[1].lower().decode("utf-8", "replace"))
    if sub is None:
        return errors.unknown_subcommand(args[1], declared.name)
    if not sub.min_args <= len(args) <= sub.max_args:
        return errors.wrong_arity(sub.name)
    if "no_multi" in sub.flags:
        return NOT_IN_MULTI
    return None


# -- the commands ---------------------------------------------------------------------------------


@command("multi", 1, TRANSACTION_FLAGS, group="transactions", since="1.2.0", summary="Start a transaction")
def multi(client, args):
    client.multi = Transaction()
    client.dispatch = queueing_table()
    return OK


def _multi_nested(client: Any, args: list[bytes]) -> bytes:
    return MULTI_NESTED


def _watch_inside_multi(client: Any, args: list[bytes]) -> bytes:
    return WATCH_INSIDE_MULTI


def end_transaction(client: Any) -> None:
    """Leave MULTI and unwatch: back to the table the session's state calls for."""
    client.multi = None
    unwatch(client)
    client.dispatch = session_table(client)


@command("discard", 1, TRANSACTION_FLAGS, group="transactions", since="2.0.0", summary="Discard MULTI")
def discard(client, args):
    if client.multi is None:
        raise CommandError(DISCARD_WITHOUT_MULTI)
    end_transaction(client)
    return OK


@command("exec", 1, "noscript loading stale skip_slowlog", group="transactions", since="1.2.0")
def exec_(client, args):
    transaction = client.multi
    if transaction is None:
        raise CommandError(EXEC_WITHOUT_MULTI)
    watch = client.watch
    dirty = watch is not None and (watch.dirty or registry_of(client.server).expired_since_watch(client))
    end_transaction(client)
    if transaction.failed:
        raise CommandError(EXECABORT)
    if dirty:
        return client.resp.null_array
    replies = [b"*%d\r\n" % len(transaction.queued)]
    return _run(client, transaction.queued, replies, 0)


def _run(client: Any, queued: list, replies: list[bytes], start: int) -> bytes:
    """Run the queued commands from `start`; a command that must wait moves the rest to a greenlet."""
    client.in_exec = True
    instruments = getattr(client.server, "instruments", None)
    record = instruments is not None and instruments.per_command
    try:
        for position in range(start, len(queued)):
            handler, args, declared = queued[position]
            if handler is None:
                handler = DISPATCH[declared.name.encode()][0]
            began = perf_counter_ns() if record else 0
            try:
                replies.append(handler(client, args))
            except CommandError as exc:
                replies.append(errors.error_reply(str(exc)))
            except Suspend as pending:
                raise Suspend(_resume(client, queued, replies, position, pending.work)) from None
            except Exception:
                log.exception("command %r failed inside EXEC", declared.name)
                replies.append(b"-ERR internal error while running '%s'\r\n" % declared.name.encode())
            if record:  # statistics and MONITOR count each command of the transaction
                instruments.inner(client, declared, args, replies[-1], perf_counter_ns() - began)
    finally:
        client.in_exec = False
    client.dispatch = session_table(client)  # a queued SUBSCRIBE, HELLO or AUTH may call for another
    return b"".join(replies)


def _resume(client: Any, queued: list, replies: list[bytes], position: int, work: Any) -> Any:
    """The rest of EXEC, run in the greenlet the server gives suspended work."""

    def finish() -> bytes:
        client.in_exec = True
        try:
            replies.append(work())
        except CommandError as exc:
            replies.append(errors.error_reply(str(exc)))
        finally:
            client.in_exec = False
        return _run_inline(client, queued, replies, position + 1)

    return finish


def _run_inline(client: Any, queued: list, replies: list[bytes], start: int) -> bytes:
    # Inside the greenlet, later commands that must wait can simply be waited for.
    try:
        return _run(client, queued, replies, start)
    except Suspend as pending:
        return pending.work()


@command(
    "watch",
    -2,
    TRANSACTION_FLAGS,
    first_key=1,
    last_key=-1,
    group="transactions",
    since="2.2.0",
    summary="Monitor changes to keys",
)
def watch(client, args):
    if client.watch is None:
        client.watch = ClientWatch()
    elif client.watch.dirty:
        return OK  # no point watching more: EXEC fails anyway
    registry = registry_of(client.server)
    for key in args[1:]:
        registry.watch(client, client.db_index, key)
    return OK


@command("unwatch", 1, TRANSACTION_FLAGS, group="transactions", since="2.2.0", summary="Forget watched keys")
def unwatch_(client, args):
    unwatch(client)
    return OK


_SAME = object()  # keep the command's own handler inside MULTI
_ACTING: dict[str, Any] = {
    "exec": _SAME,
    "discard": _SAME,
    "quit": _SAME,
    "reset": _SAME,
    "multi": _multi_nested,
    "watch": _watch_inside_multi,
}
