"""What the Lua libraries written in Python share: raising Lua errors without handing Lua a Python
exception, Lua's argument rules and type names, and deep recursion for nested tables.

Every function a library gives the sandbox answers ``(True, results...)`` or ``(False, message)``; the
sandbox's wrapper raises the message as a Lua error at the script's line, as luaL_error would.  No
Python exception and no Python object ever reaches Lua.
"""

from __future__ import annotations

import logging
import math
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from lupa.lua51 import lua_type

log = logging.getLogger("leakdb.scripting")

# Nested tables are converted recursively; lua-cjson and cmsgpack allow 1000 levels, which takes more
# Python frames than the default limit.
DEEP_RECURSION = 12000


class LuaError(Exception):
    """An error to raise in the script, with Lua's message (at the script's line unless `bare`)."""

    def __init__(self, message: str, bare: bool = False) -> None:
        super().__init__(message)
        self.bare = bare


@contextmanager
def deep_recursion() -> Iterator[None]:
    previous = sys.getrecursionlimit()
    if previous < DEEP_RECURSION:
        sys.setrecursionlimit(DEEP_RECURSION)
    try:
        yield
    finally:
        if previous < DEEP_RECURSION:
            sys.setrecursionlimit(previous)


def lua_typename(value: Any) -> str:
    """Lua's name for the type of a value lupa handed over."""
    if value is None:
        return "nil"
    kind = type(value)
    if kind is bytes:
        return "string"
    if kind is bool:
        return "boolean"
    if kind is int or kind is float:
        return "number"
    return lua_type(value) or "userdata"


def tonumber_text(number: int | float) -> bytes:
    """A number as Lua converts it to a string ("%.14g")."""
    if type(number) is int and abs(number) < 10**14:
        return b"%d" % number
    number = float(number)
    if math.isinf(number):
        return b"inf" if number > 0 else b"-inf"
    if number != number:
        return b"-nan" if math.copysign(1.0, number) < 0 else b"nan"
    return b"%.14g" % number


# What C's strtod accepts at the start of a string (after lua-cjson has skipped whitespace).
_STRTOD = re.compile(
    rb"[+-]?(?:0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?"
    rb"|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
    rb"|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?|[nN][aA][nN](?:\([0-9A-Za-z_]*\))?)"
)


def strtod(text: bytes) -> tuple[float, int] | None:
    """(value, characters used) as C's strtod reads the start of `text`, or None."""
    found = _STRTOD.match(text)
    if found is None:
        return None
    token = found.group(0)
    body = token.lstrip(b"+-").lower()
    negative = token.startswith(b"-")
    if body.startswith(b"0x"):
        digits = body[2:] or b"0"
        if b"p" not in digits:
            digits += b"p0"
        value = float.fromhex(("-" if negative else "") + "0x" + digits.decode())
    elif body.startswith(b"inf"):
        value = -math.inf if negative else math.inf
    elif body.startswith(b"nan"):
        value = math.nan
    else:
        value = float(token)
    return value, len(token)


def lua_tonumber(value: Any) -> float | int | None:
    """A value as lua_tonumber reads it: numbers, and strings that strtod reads whole (spaces around
    allowed), hexadecimal, inf and nan included."""
    if type(value) is int or type(value) is float:
        return value
    if type(value) is bytes:
        text = value.strip(b" \t\n\r\x0b\x0c")
        parsed = strtod(text)
        if parsed is None or parsed[1] != len(text):
            return None
        return parsed[0]
    return None


def to_c_integer(number: float | int, bits: int = 64) -> int:
    """(lua_Integer) or (int) of a Lua number: truncation, then the C cast's wrap-around."""
    if number != number or math.isinf(number):
        return -(2 ** (bits - 1)) if bits == 64 else 0
    value = int(number)
    if bits == 64:
        if not -(2**63) <= value < 2**63:
            return -(2**63)
        return value
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >= 1 << (bits - 1) else value


def check_count(name: str, args: tuple, most: int) -> None:
    if len(args) > most:
        raise LuaError(f"bad argument #{most + 1} to '{name}' (found too many arguments)")


class Library:
    """Base of the Python-written libraries: the runtime's table constructor and argument checks."""

    def __init__(self, lua: Any) -> None:
        self.lua = lua
        self.new_table: Callable[[], Any] = lua.table

    @staticmethod
    def guarded(function: Callable[..., tuple]) -> Callable[..., tuple]:
        """`function` answering (True, results...) or (False, message), never raising into Lua."""

        def answer(*args: Any) -> tuple:
            try:
                with deep_recursion():
                    return (True, *function(*args))
            except LuaError as problem:
                return (False, str(problem).encode("utf-8", "replace"), problem.bare)
            except RecursionError:
                return (False, b"stack overflow")
            except MemoryError:
                return (False, b"not enough memory")
            except Exception as problem:  # a bug here must not hand Lua a Python exception
                log.exception("Lua library function failed")
                return (False, f"internal error: {type(problem).__name__}".encode())

        return answer

    @staticmethod
    def checkinteger(name: str, index: int, args: tuple) -> int:
        value = args[index - 1] if index <= len(args) else None
        number = lua_tonumber(value)
        if number is None:
            got = "no value" if index > len(args) else lua_typename(value)
            raise LuaError(f"bad argument #{index} to '{name}' (number expected, got {got})")
        return to_c_integer(number)

    @staticmethod
    def checkstring(name: str, index: int, args: tuple) -> bytes:
        value = args[index - 1] if index <= len(args) else None
        if type(value) is bytes:
            return value
        if type(value) is int or type(value) is float:
            return tonumber_text(value)
        got = "no value" if index > len(args) else lua_typename(value)
        raise LuaError(f"bad argument #{index} to '{name}' (string expected, got {got})")
