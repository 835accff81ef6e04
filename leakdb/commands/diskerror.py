"""Refusing writes while the data file cannot be written, as Redis does with
``stop-writes-on-bgsave-error yes`` after a failed save.

While a server's storage reports that its last flush failed, write commands (and PING, as in Redis)
answer ``-MISCONF``; reads still run.  The refusal costs nothing while all is well: the entries of
the command table are wrapped only while some server in this process is refusing, and put back
when none is.
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

from ..errors import MISCONF
from .registry import DISPATCH, WRITE, Handler

__all__ = ["MISCONF", "storage_failing", "update"]

log = logging.getLogger("leakdb.server")

_refusing: weakref.WeakSet[Any] = weakref.WeakSet()
_originals: dict[bytes, tuple[Handler, int, int, Any]] = {}


def storage_failing(storage: Any) -> bool:
    """True while the storage's last flush failed (its writes wait in memory for a retry)."""
    return bool(getattr(getattr(storage, "queue", None), "failing", False))


def update(server: Any) -> None:
    """Start or stop refusing writes on `server` to match its storage and its configuration."""
    refuse = bool(server.config["stop-writes-on-bgsave-error"]) and storage_failing(server.storage)
    if refuse == server.refusing_writes:
        return
    server.refusing_writes = refuse
    if refuse:
        _refusing.add(server)
        log.warning("the data file cannot be written: refusing write commands with MISCONF")
    else:
        _refusing.discard(server)
        log.warning("writes are accepted again")
    _wrap_table(bool(_refusing))


def _guarded(handler: Handler) -> Handler:
    def refuse_while_failing(client: Any, args: list[bytes]) -> bytes:
        if client.server.refusing_writes:
            return MISCONF
        return handler(client, args)

    return refuse_while_failing


def _wrap_table(wrap: bool) -> None:
    if wrap == bool(_originals):
        return
    if not wrap:
        DISPATCH.update(_originals)
        _originals.clear()
        return
    for name, entry in list(DISPATCH.items()):
        declared = entry[3]
        if WRITE in declared.flags or declared.name == "ping":
            _originals[name] = entry
            DISPATCH[name] = (_guarded(entry[0]), *entry[1:])
