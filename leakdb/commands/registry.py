"""The command table: each command declared once with its name, arity, flags and key positions.

Family modules register handlers with :func:`command`; the server looks a request's name up in
:data:`DISPATCH` (built at import, keyed by the upper- and lower-case name) and checks arity there,
generically, before any handler runs.  COMMAND INFO/DOCS/LIST read the same table.

A handler is ``handler(client, args) -> bytes``: ``args[0]`` is the command name as sent, and the
return value is the complete encoded reply.  Handlers raise :class:`~leakdb.errors.CommandError` for
error replies and :class:`Suspend` for work that has to wait.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Handler = Callable[[Any, list[bytes]], bytes]

# Flags as Redis names them in COMMAND INFO.
WRITE = "write"
READONLY = "readonly"
DENYOOM = "denyoom"
ADMIN = "admin"
PUBSUB = "pubsub"
NOSCRIPT = "noscript"
BLOCKING = "blocking"
LOADING = "loading"
STALE = "stale"
FAST = "fast"
NO_AUTH = "no_auth"
ALLOW_BUSY = "allow_busy"


@dataclass(frozen=True)
class Command:
    name: str
    handler: Handler
    arity: int
    flags: tuple[str, ...] = ()
    first_key: int = 0
    last_key: int = 0
    key_step: int = 0
    group: str = "generic"
    summary: str = ""
    since: str = "1.0.0"
    subcommands: dict[str, Command] = field(default_factory=dict)
    # Movable keys (SORT's STORE): the positions of the keys in a whole request, when the legacy
    # (first, last, step) triple cannot say where they are.
    find_keys: Callable[[list[bytes]], list[int]] | None = None

    @property
    def min_args(self) -> int:
        return self.arity if self.arity > 0 else -self.arity

    @property
    def max_args(self) -> int:
        return self.arity if self.arity > 0 else 1 << 62

    def key_positions(self, args: list[bytes]) -> list[int]:
        if self.find_keys is not None:
            return self.find_keys(args)
        if self.first_key <= 0:
            return []
        last = self.last_key if self.last_key >= 0 else len(args) + self.last_key
        return list(range(self.first_key, last + 1, self.key_step or 1))


class Suspend(Exception):
    """Raised by a handler whose reply must wait: the server runs ``work()`` in a greenlet.

    The client's later commands stay queued until ``work()`` returns the reply bytes, so replies keep
    their order.
    """

    def __init__(self, work: Callable[[], bytes]) -> None:
        super().__init__()
        self.work = work


COMMANDS: dict[str, Command] = {}

# name (as bytes, upper and lower case) -> (handler, min_args, max_args, command)
DISPATCH: dict[bytes, tuple[Handler, int, int, Command]] = {}


def command(
    name: str,
    arity: int,
    flags: str = "",
    first_key: int = 0,
    last_key: int = 0,
    key_step: int = 0,
    group: str = "generic",
    summary: str = "",
    since: str = "1.0.0",
    find_keys: Callable[[list[bytes]], list[int]] | None = None,
) -> Callable[[Handler], Handler]:
    """Declare the decorated function as the handler of `name` (arity as Redis counts it)."""

    def register(handler: Handler) -> Handler:
        key = name.lower()
        if key in COMMANDS:
            raise ValueError(f"command {name!r} is declared twice")
        declared = Command(
            name=key,
            handler=handler,
            arity=arity,
            flags=tuple(flags.split()),
            first_key=first_key,
            last_key=last_key,
            key_step=key_step or (1 if first_key else 0),
            group=group,
            summary=summary,
            since=since,
            find_keys=find_keys,
        )
        COMMANDS[key] = declared
        entry = (handler, declared.min_args, declared.max_args, declared)
        DISPATCH[key.encode()] = entry
        DISPATCH[key.upper().encode()] = entry
        return handler

    return register


def subcommand(
    parent: str,
    name: str,
    arity: int,
    flags: str = "",
    summary: str = "",
    first_key: int = 0,
    last_key: int = 0,
    key_step: int = 0,
) -> Callable[[Handler], Handler]:
    """Declare a subcommand (``CONFIG GET``); the parent's handler dispatches with :func:`dispatch_sub`.

    The parent must be declared first.  Arity and key positions count the parent name, as Redis does
    (``CONFIG GET x`` has arity 3, ``XGROUP CREATE key ...`` its key at 2).
    """

    def register(handler: Handler) -> Handler:
        owner = COMMANDS[parent.lower()]
        key = name.lower()
        owner.subcommands[key] = Command(
            name=f"{owner.name}|{key}",
            handler=handler,
            arity=arity,
            flags=tuple(flags.split()),
            first_key=first_key,
            last_key=last_key,
            key_step=key_step or (1 if first_key else 0),
            group=owner.group,
            summary=summary,
        )
        return handler

    return register


# Commands the config file renamed: new name -> the name they were declared with.
_RENAMED: dict[str, str] = {}


def rename_command(old: str, new: str) -> str:
    """The config file's ``rename-command old new`` (``""`` removes the command), before any client
    connects; "" when done, else Redis's reason."""
    from ..errors import CONFIG_NO_SUCH_COMMAND, CONFIG_RENAME_EXISTS

    entry = DISPATCH.get(old.lower().encode())
    if entry is None:
        return CONFIG_NO_SUCH_COMMAND
    for key in (old.lower().encode(), old.upper().encode()):
        DISPATCH.pop(key, None)
    if new:
        if new.lower().encode() in DISPATCH:
            return CONFIG_RENAME_EXISTS
        DISPATCH[new.lower().encode()] = entry
        DISPATCH[new.upper().encode()] = entry
        _RENAMED[new.lower()] = entry[3].name
    return ""


def lookup(name: bytes, table: dict | None = None) -> tuple[Handler, int, int, Command] | None:
    """The entry for a command name in any letter case (the mixed-case slow path)."""
    return (DISPATCH if table is None else table).get(name.lower())


_noauth: dict[bytes, tuple[Handler, int, int, Command]] = {}


def _reply_noauth(client: Any, args: list[bytes]) -> bytes:
    from ..errors import NOAUTH

    return NOAUTH


def noauth_table() -> dict[bytes, tuple[Handler, int, int, Command]]:
    """The dispatch table of a client that has not authenticated: only no_auth commands run.

    Lookup and arity are checked as usual first, so errors come in the order Redis gives them.
    """
    if len(_noauth) != len(DISPATCH):
        for name, (handler, low, high, declared) in DISPATCH.items():
            allowed = NO_AUTH in declared.flags
            _noauth[name] = (handler if allowed else _reply_noauth, low, high, declared)
    return _noauth


def dispatch_sub(client: Any, args: list[bytes]) -> bytes:
    """Run the subcommand named by ``args[1]`` of the command named by ``args[0]``."""
    from ..errors import unknown_subcommand, wrong_arity

    key = args[0].lower().decode()
    owner = COMMANDS[_RENAMED.get(key, key)]
    name = args[1].lower().decode("utf-8", "replace")
    sub = owner.subcommands.get(name)
    if sub is None:
        return unknown_subcommand(args[1], owner.name)
    if not sub.min_args <= len(args) <= sub.max_args:
        return wrong_arity(sub.name)
    return sub.handler(client, args)
