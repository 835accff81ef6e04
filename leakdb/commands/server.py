"""Server commands: FLUSHDB/FLUSHALL, SWAPDB, SAVE/BGSAVE/LASTSAVE, SHUTDOWN, DEBUG, TIME, ROLE.

CONFIG lives in :mod:`.settings`, INFO in :mod:`.info` and COMMAND in :mod:`.introspection`;
importing this module registers the last two too.  Saving means flushing the storage's queue: the
work runs in gevent's thread pool, so other clients keep being served while the file is written.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import gevent

from .. import errors
from ..engine.keyspace import now_ms
from ..engine.numbers import parse_int
from ..errors import CommandError, SyntaxErrorReply
from ..resp import OK, Verbatim, bulk
from ..version import REDIS_VERSION, __version__
from . import info as _info  # noqa: F401  (registers INFO)
from . import introspection as _introspection  # noqa: F401  (registers COMMAND)
from . import memory as _memory  # noqa: F401  (registers MEMORY)
from . import tracking
from .info import state_of
from .registry import Suspend, command

log = logging.getLogger("leakdb.server")

# -- FLUSHDB, FLUSHALL, SWAPDB ---------------------------------------------------------------------


def _check_flush_mode(args: list[bytes]) -> None:
    # ASYNC and SYNC are accepted; dropping a dict is quick either way.
    if len(args) > 2 or (len(args) == 2 and args[1].lower() not in (b"async", b"sync")):
        raise SyntaxErrorReply()


@command("flushdb", -1, "write", group="server", summary="Remove all keys from the current database")
def flushdb(client, args):
    _check_flush_mode(args)
    client.db.flush()
    tracking.flushed(client.server)
    return OK


@command("flushall", -1, "write", group="server", summary="Remove all keys from all databases")
def flushall(client, args):
    _check_flush_mode(args)
    client.server.keyspace.flushall()
    tracking.flushed(client.server)
    return OK


def _db_index(raw: bytes, message: str) -> int:
    index = parse_int(raw)
    if index is None or not -(2**31) <= index < 2**31:
        raise CommandError(message)
    return index


@command("swapdb", 3, "write fast", group="server", since="4.0.0", summary="Swaps two Redis databases")
def swapdb(client, args):
    first = _db_index(args[1], errors.INVALID_FIRST_DB)
    second = _db_index(args[2], errors.INVALID_SECOND_DB)
    client.server.keyspace.swap(first, second)
    return OK


# -- SAVE, BGSAVE, LASTSAVE ------------------------------------------------------------------------


def flush_storage(server: Any) -> str | None:
    """Flush the storage's queue and sync its file; None on success, else why it failed.

    A write-through storage has nothing to flush: every acknowledged write is in the file, and the
    writes of this loop iteration are committed (or undone) by the event loop before their replies
    leave.  Saving then asks whether the file takes writes, which is safe from this thread.
    """
    storage = server.storage
    probe = getattr(storage, "probe", None)
    if storage.write_through and probe is not None:
        return None if probe() else f"saving failed: {storage.info().get('last_error')}"
    try:
        done = storage.flush(force=True)
    except Exception as exc:
        return str(exc) or type(exc).__name__
    if not done:
        reason = storage.info().get("last_error") or "writes are still pending"
        return f"saving failed: {reason}"
    return None


def _save_in_thread(server: Any) -> str | None:
    """Run :func:`flush_storage` in gevent's thread pool (file I/O must not stall other clients)."""
    state = state_of(server)
    started = time.monotonic()
    problem = gevent.get_hub().threadpool.spawn(flush_storage, server).get()
    state.last_ok = problem is None
    if problem is not None:
        state.last_failed_ms = now_ms()
    state.last_seconds = int(time.monotonic() - started)
    if problem is None:
        server.lastsave = int(time.time())
        state.saves += 1
    return problem


@command(
    "save", 1, "admin noscript no_async_loading no_multi", group="server", summary="Save the dataset to disk"
)
def save(client, args):
    server = client.server
    if state_of(server).in_progress:
        raise CommandError(errors.BGSAVE_IN_PROGRESS)

    def work() -> bytes:
        problem = _save_in_thread(server)
        return OK if problem is None else errors.error_reply(errors.SAVE_FAILED.format(problem))

    raise Suspend(work)


def _background_save(server: Any) -> None:
    state = state_of(server)
    try:
        while True:
            state.bgsave_scheduled = False
            _save_in_thread(server)
            if not state.bgsave_scheduled:
                return
    finally:
        state.bgsave_started = None


@command(
    "bgsave",
    -1,
    "admin noscript no_async_loading",
    group="server",
    summary="Save the dataset in the background",
)
def bgsave(client, args):
    schedule = len(args) == 2 and args[1].lower() == b"schedule"
    if len(args) > 2 or (len(args) == 2 and not schedule):
        raise SyntaxErrorReply()
    state = state_of(client.server)
    if state.in_progress:
        if not schedule:
            raise CommandError(errors.BGSAVE_IN_PROGRESS)
        state.bgsave_scheduled = True
        return b"+Background saving scheduled\r\n"
    state.bgsave_started = time.monotonic()
    gevent.spawn(_background_save, client.server)
    return b"+Background saving started\r\n"


@command("lastsave", 1, "loading stale fast", group="server", summary="Get the time of the last save")
def lastsave(client, args):
    return b":%d\r\n" % client.server.lastsave


# -- SHUTDOWN --------------------------------------------------------------------------------------

_SHUTDOWN_OPTIONS = {b"nosave", b"save", b"now", b"force", b"abort"}


def _shutdown_options(args: list[bytes]) -> set[bytes]:
    options = {raw.lower() for raw in args[1:]}
    if len(options) != len(args) - 1 or not options <= _SHUTDOWN_OPTIONS:
        raise SyntaxErrorReply()
    if {b"save", b"nosave"} <= options or (b"abort" in options and len(options) > 1):
        raise SyntaxErrorReply()
    if b"abort" in options:
        raise CommandError(errors.NO_SHUTDOWN_IN_PROGRESS)
    return options


@command("shutdown", -1, "admin noscript loading stale no_multi allow_busy", group="server")
def shutdown(client, args):
    options = _shutdown_options(args)
    server = client.server
    save_first = b"nosave" not in options

    def work() -> bytes:
        if save_first and _save_in_thread(server) is not None and b"force" not in options:
            return errors.error_reply(errors.SHUTDOWN_FAILED)
        # Every client, this one included, is closed without a reply, as Redis does.
        server.shutdown(save=save_first)
        return b""

    raise Suspend(work)


# -- TIME, ROLE and cluster stand-ins -----------------------------------------------------


@command("time", 1, "loading stale fast", group="server", since="2.6.0", summary="The server time")
def time_(client, args):
    now_us = time.time_ns() // 1000
    return b"*2\r\n" + bulk(b"%d" % (now_us // 1_000_000)) + bulk(b"%d" % (now_us % 1_000_000))


@command("role", 1, "noscript loading stale fast", group="server", since="2.8.12", summary="Return the role")
def role(client, args):
    return client.resp.array(["master", 0, []])


@command("readonly", 1, "loading stale fast", group="cluster", since="3.0.0", summary="Cluster read-only")
def readonly(client, args):
    raise CommandError(errors.CLUSTER_DISABLED)


@command("readwrite", 1, "loading stale fast", group="cluster", since="3.0.0", summary="Leave read-only mode")
def readwrite(client, args):
    raise CommandError(errors.CLUSTER_DISABLED)


@command("lolwut", -1, "readonly fast", group="server", since="5.0.0", summary="Display some computer art")
def lolwut(client, args):
    text = f"LeakDB ver. {__version__}, speaking the protocol of Redis ver. {REDIS_VERSION}\n"
    return client.resp.encode(Verbatim(text))
