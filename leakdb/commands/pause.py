"""CLIENT PAUSE and UNPAUSE: hold clients' commands back for a while, as Redis 7.0 does.

``ALL`` holds every command (CLIENT UNPAUSE too, as in Redis: only the timeout ends it); ``WRITE``
holds writes and the commands that may replicate (EVAL, EVALSHA, FCALL, PUBLISH, SPUBLISH, PFCOUNT,
SCRIPT LOAD/FLUSH, and an EXEC whose transaction holds one of those).  A held command waits in a
greenlet, so the client's later commands stay queued behind it; when the pause ends the held clients
run in the order they were held, which is the order their commands arrived.  Active expiry waits too.

While no server is paused the command table holds the plain handlers: the wrappers are swapped in by
the first pause and out by the last unpause.
"""

from __future__ import annotations

import time
import weakref
from typing import Any

import gevent.event

from .. import errors
from ..engine.numbers import parse_int
from ..errors import CommandError
from ..resp import OK
from . import connection as _connection  # noqa: F401  (declares CLIENT, the parent)
from .registry import DISPATCH, Command, Handler, Suspend, subcommand

MAY_REPLICATE = frozenset({"eval", "evalsha", "fcall", "publish", "spublish", "pfcount"})
MAY_REPLICATE_SUBCOMMANDS = {"script": {"load", "flush"}}


class Pause:
    """One server's pause: its mode, when it ends, and the event held commands wait for."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.all = False
        self.until = 0.0
        self.ended = gevent.event.Event()
        self.timer: Any = None

    def holds(self, declared: Command, args: list[bytes], client: Any = None) -> bool:
        if self.all:
            return True
        if declared.name == "exec":  # held when the transaction would write, as in Redis
            queued = client.multi.queued if client is not None and client.multi is not None else []
            return any(self.holds(command, argv) for _, argv, command in queued)
        if "write" in declared.flags or declared.name in MAY_REPLICATE:
            return True
        subs = MAY_REPLICATE_SUBCOMMANDS.get(declared.name)
        return subs is not None and len(args) > 1 and args[1].lower().decode("utf-8", "replace") in subs

    def extend(self, milliseconds: int, all_commands: bool) -> None:
        # A second pause keeps the later end and the stronger mode, as Redis does.
        self.all = self.all or all_commands
        self.until = max(self.until, time.monotonic() + milliseconds / 1000)
        if self.timer is not None:
            self.timer.stop()
        self.timer = self.server.loop.timer(max(0.0, self.until - time.monotonic()))
        self.timer.start(self.end)

    def end(self) -> None:
        if self.timer is not None:
            self.timer.stop()
            self.timer = None
        if self.server.client_pause is self:
            self.server.client_pause = None
            _paused.discard(self.server)
            if not _paused:
                _remove_wrappers()
        self.ended.set()  # the held commands resume in the order they were held


def is_paused(server: Any) -> bool:
    """Whether writes (and so active expiry) are paused on `server`."""
    return getattr(server, "client_pause", None) is not None


# -- the command table -------------------------------------------------------------------------------

_paused: weakref.WeakSet[Any] = weakref.WeakSet()
_originals: dict[bytes, tuple[Any, ...]] = {}  # name -> the entry a wrapper replaced
_wrappers: dict[bytes, tuple[Any, ...]] = {}  # name -> the wrapping entry installed


def _held(handler: Handler, declared: Command) -> Handler:
    def held(client: Any, args: list[bytes]) -> bytes:
        pause = getattr(client.server, "client_pause", None)
        if pause is None or client.in_exec or not pause.holds(declared, args, client):
            return handler(client, args)

        def resume() -> bytes:
            pause.ended.wait()
            try:
                return handler(client, args)
            except Suspend as waiting:  # a blocking command held by the pause, now blocking
                return waiting.work()

        raise Suspend(resume)

    return held


def _install_wrappers() -> None:
    if _wrappers:
        return
    made: dict[int, tuple[Any, ...]] = {}
    for name, entry in list(DISPATCH.items()):
        handler, low, high, declared = entry
        if id(entry) not in made:
            made[id(entry)] = (_held(handler, declared), low, high, declared)
        _originals[name] = entry
        _wrappers[name] = DISPATCH[name] = made[id(entry)]


def _remove_wrappers() -> None:
    for name, wrapper in _wrappers.items():
        if DISPATCH.get(name) is wrapper:  # not wrapped again since (maxmemory's guards)
            DISPATCH[name] = _originals[name]
    _wrappers.clear()
    _originals.clear()


# -- CLIENT PAUSE / UNPAUSE ------------------------------------------------------------------------


@subcommand("client", "pause", -3, "admin noscript loading stale", summary="Stop processing commands")
def client_pause(client, args):
    timeout = parse_int(args[2])
    if timeout is None:
        raise CommandError(errors.PAUSE_TIMEOUT_INVALID)
    if timeout < 0:
        raise CommandError(errors.PAUSE_TIMEOUT_NEGATIVE)
    if len(args) > 4:
        raise CommandError(errors.CLIENT_SUBCOMMAND_USAGE.format("PAUSE", "CLIENT"))
    if len(args) == 4 and args[3].lower() not in (b"write", b"all"):
        raise CommandError(errors.PAUSE_MODE_INVALID)
    server = client.server
    pause = getattr(server, "client_pause", None)
    if pause is None:
        pause = server.client_pause = Pause(server)
        _paused.add(server)
        _install_wrappers()
    pause.extend(timeout, len(args) == 3 or args[3].lower() == b"all")
    return OK


@subcommand("client", "unpause", 2, "admin noscript loading stale", summary="Resume processing commands")
def client_unpause(client, args):
    pause = getattr(client.server, "client_pause", None)
    if pause is not None:
        pause.end()
    return OK
