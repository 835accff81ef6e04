"""Where the keys of the movable-key commands are (Redis's getkeys procedures): a key count argument
(ZUNIONSTORE, EVAL, LMPOP ...), a STREAMS list (XREAD), MIGRATE's KEYS, the STORE of a GEORADIUS.

The finders are attached to the declared commands once, when the table is complete; only COMMAND
GETKEYS and the access stamps of scripts' calls read them, never the dispatch path.  A finder returns
None when the request cannot say where its keys are (a count that is not a number, or more keys
than arguments): COMMAND GETKEYS then answers Redis's "Invalid arguments".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ..engine.numbers import parse_int
from .registry import COMMANDS, DISPATCH

Finder = Callable[[list[bytes]], "list[int] | None"]


def counted(count_at: int, before: tuple[int, ...] = ()) -> Finder:
    """Keys counted by the argument at `count_at` and following it, after the fixed keys `before`."""

    def find(args: list[bytes]) -> list[int] | None:
        if count_at >= len(args):
            return None
        number = parse_int(args[count_at])
        first = count_at + 1
        if number is None or number < 0 or number > len(args) - first:
            return None
        if number == 0:  # no keys at all (EVAL script 0); with a destination, a request in error
            return None if before else []
        return [*before, *range(first, first + number)]

    return find


def _streams(args: list[bytes]) -> list[int] | None:
    """XREAD / XREADGROUP: the first half of what follows STREAMS."""
    for position in range(1, len(args)):
        if args[position].lower() == b"streams":
            rest = len(args) - position - 1
            if rest < 2:
                return None
            return list(range(position + 1, position + 1 + rest // 2))
    return None


def _migrate(args: list[bytes]) -> list[int] | None:
    """MIGRATE host port key|"" db timeout [...] [KEYS key ...]: the one key, or those after KEYS."""
    if len(args) > 3 and args[3] == b"":
        for position in range(6, len(args)):
            option = args[position].lower()
            if option == b"keys":
                return list(range(position + 1, len(args)))
            if option == b"auth":
                break
        return None
    return [3]


def _georadius(first_option: int) -> Finder:
    """GEORADIUS(BYMEMBER): the key, and the STORE or STOREDIST key if there is one."""

    def find(args: list[bytes]) -> list[int] | None:
        keys = [1]
        position = first_option
        while position < len(args):
            option = args[position].lower()
            if option in (b"store", b"storedist") and position + 1 < len(args):
                keys.append(position + 1)
                position += 1
            position += 1
        return keys[:1] + keys[-1:] if len(keys) > 1 else keys

    return find


FINDERS: dict[str, Finder] = {
    "zunionstore": counted(2, (1,)),
    "zinterstore": counted(2, (1,)),
    "zdiffstore": counted(2, (1,)),
    "zunion": counted(1),
    "zinter": counted(1),
    "zdiff": counted(1),
    "zintercard": counted(1),
    "sintercard": counted(1),
    "lmpop": counted(1),
    "zmpop": counted(1),
    "blmpop": counted(2),
    "bzmpop": counted(2),
    "eval": counted(2),
    "evalsha": counted(2),
    "eval_ro": counted(2),
    "evalsha_ro": counted(2),
    "fcall": counted(2),
    "fcall_ro": counted(2),
    "xread": _streams,
    "xreadgroup": _streams,
    "migrate": _migrate,
    "georadius": _georadius(5),
    "georadiusbymember": _georadius(4),
}


def install_key_finders() -> None:
    """Attach each finder to its declared command (in COMMANDS and every DISPATCH entry)."""
    for name, finder in FINDERS.items():
        declared = COMMANDS.get(name)
        if declared is None or declared.find_keys is not None:
            continue
        flags = declared.flags if "movablekeys" in declared.flags else (*declared.flags, "movablekeys")
        updated = COMMANDS[name] = replace(declared, find_keys=finder, flags=flags)
        for spelling, entry in list(DISPATCH.items()):
            if entry[3] is declared:
                DISPATCH[spelling] = (*entry[:3], updated)
