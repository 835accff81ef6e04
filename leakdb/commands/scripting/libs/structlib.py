"""``struct``, Roberto Ierusalimschy's struct 0.2 library as Redis loads it: pack, unpack and size of
binary records described by a format string (``>``/``<`` byte order, ``!n`` alignment, ``bBhHlLT``,
``i``/``I`` with a size, ``f``, ``d``, ``cn``, ``s`` and ``x``), for a 64-bit Linux build of Redis.
"""

from __future__ import annotations

import struct as _struct
from typing import Any

from .common import Library, LuaError, lua_tonumber, lua_typename

SIZES = {"b": 1, "B": 1, "h": 2, "H": 2, "l": 8, "L": 8, "T": 8, "f": 4, "d": 8, "x": 1}
INT_SIZE = 4
MAX_INT_SIZE = 32
MAX_ALIGN = 8
INT_MAX = 2**31 - 1
LITTLE, BIG = 1, 0


class _Format:
    """A cursor over a format string, with the byte order and alignment it has set so far."""

    def __init__(self, text: bytes) -> None:
        self.text = text
        self.position = 0
        self.endian = LITTLE
        self.align = 1

    def __iter__(self) -> _Format:
        return self

    def __next__(self) -> str:
        if self.position >= len(self.text) or self.text[self.position] == 0:
            raise StopIteration
        option = chr(self.text[self.position])
        self.position += 1
        return option

    def number(self, default: int) -> int:
        text = self.text
        if self.position >= len(text) or not chr(text[self.position]).isdigit():
            return default
        value = 0
        while self.position < len(text) and chr(text[self.position]).isdigit():
            digit = text[self.position] - 48
            if value > INT_MAX // 10 or value * 10 > INT_MAX - digit:
                raise LuaError("integral size overflow")
            value = value * 10 + digit
            self.position += 1
        return value

    def size(self, option: str) -> int:
        if option in SIZES:
            return SIZES[option]
        if option == "c":
            return self.number(1)
        if option in "iI":
            size = self.number(INT_SIZE)
            if size > MAX_INT_SIZE:
                raise LuaError(f"integral size {size} is larger than limit of {MAX_INT_SIZE}")
            return size
        return 0

    def padding(self, length: int, option: str, size: int) -> int:
        if size == 0 or option == "c":
            return 0
        size = min(size, self.align)
        return (size - (length & (size - 1))) & (size - 1)

    def control(self, option: str) -> None:
        if option == " ":
            return
        if option == ">":
            self.endian = BIG
        elif option == "<":
            self.endian = LITTLE
        elif option == "!":
            align = self.number(MAX_ALIGN)
            if align <= 0 or align & (align - 1):
                raise LuaError(f"alignment {align} is not a power of 2")
            self.align = align
        else:
            raise LuaError(f"bad argument #1 to '{self.function}' (invalid format option '{option}')")

    function = ""


class Struct(Library):
    """The functions of the ``struct`` table."""

    def functions(self) -> dict[bytes, Any]:
        return {
            b"pack": self.guarded(self.pack),
            b"unpack": self.guarded(self.unpack),
            b"size": self.guarded(self.size),
        }

    @staticmethod
    def _number(name: str, index: int, args: tuple) -> float | int:
        value = args[index - 1] if index <= len(args) else None
        number = lua_tonumber(value)
        if number is None:
            got = "no value" if index > len(args) else lua_typename(value)
            raise LuaError(f"bad argument #{index} to '{name}' (number expected, got {got})")
        return number

    def pack(self, *args: Any) -> tuple:
        form = _Format(self.checkstring("pack", 1, args))
        form.function = "pack"
        out = bytearray()
        argument = 2
        for option in form:
            size = form.size(option)
            out += b"\0" * form.padding(len(out), option, size)
            if option in "bBhHlLTiI":
                number = self._number("pack", argument, _padded(args))
                argument += 1
                out += _integer_bytes(number, size, form.endian)
            elif option == "x":
                out += b"\0"
            elif option in "fd":
                number = float(self._number("pack", argument, _padded(args)))
                argument += 1
                code = ("<" if form.endian == LITTLE else ">") + option
                try:
                    out += _struct.pack(code, number)
                except OverflowError:
                    out += _struct.pack(code, float("inf") if number > 0 else float("-inf"))
            elif option in "cs":
                text = self.checkstring("pack", argument, args)
                argument += 1
                length = size or len(text)
                if len(text) < length:
                    raise LuaError(f"bad argument #{argument} to 'pack' (string too short)")
                out += text[:length]
                if option == "s":
                    out += b"\0"
            else:
                form.control(option)
        return (bytes(out),)

    def unpack(self, *args: Any) -> tuple:
        form = _Format(self.checkstring("unpack", 1, args))
        form.function = "unpack"
        data = self.checkstring("unpack", 2, args)
        start = 1
        if len(args) >= 3 and args[2] is not None:
            start = self.checkinteger("unpack", 3, args)
        position = start - 1
        if not 0 <= position <= len(data):
            raise LuaError("bad argument #3 to 'unpack' (offset must be 1 or greater)")
        results: list[Any] = []
        for option in form:
            size = form.size(option)
            position += form.padding(position, option, size)
            if size > len(data) or position > len(data) - size:
                raise LuaError("bad argument #2 to 'unpack' (data string too short)")
            if option in "bBhHlLTiI":
                results.append(
                    _integer_value(data[position : position + size], form.endian, option.islower())
                )
            elif option in "fd":
                code = ("<" if form.endian == LITTLE else ">") + option
                results.append(_struct.unpack(code, data[position : position + size])[0])
            elif option == "c":
                if size == 0:
                    if not results or lua_tonumber(results[-1]) is None:
                        raise LuaError("format 'c0' needs a previous size")
                    size = int(lua_tonumber(results.pop()))
                    if size > len(data) or position > len(data) - size:
                        raise LuaError("bad argument #2 to 'unpack' (data string too short)")
                results.append(data[position : position + size])
            elif option == "s":
                end = data.find(b"\0", position)
                if end < 0:
                    raise LuaError("unfinished string in data")
                size = end - position + 1
                results.append(data[position:end])
            elif option != "x":
                form.control(option)
            position += size
        results.append(position + 1)
        return tuple(results)

    def size(self, *args: Any) -> tuple:
        form = _Format(self.checkstring("size", 1, args))
        form.function = "size"
        position = 0
        for option in form:
            size = form.size(option)
            position += form.padding(position, option, size)
            if option == "s":
                raise LuaError("bad argument #1 to 'size' (option 's' has no fixed size)")
            if option == "c" and size == 0:
                raise LuaError("bad argument #1 to 'size' (option 'c0' has no fixed size)")
            if not option.isalnum():
                form.control(option)
            position += size
        return (position,)


def _padded(args: tuple) -> tuple:
    # struct.pack pushes a nil after its arguments: the first missing one is "nil", not "no value".
    return (*args, None)


def _integer_bytes(number: float | int, size: int, endian: int) -> bytes:
    """struct's putinteger: the number through C's (long) or (unsigned long) cast, `size` bytes."""
    if number != number or number in (float("inf"), float("-inf")):
        value = 1 << 63
    elif number < 0:
        value = int(number)
        value = (value if value >= -(2**63) else -(2**63)) & (2**64 - 1)
    else:
        value = int(number)
        value = value if value < 2**64 else 0
    raw = bytearray(size)
    for index in range(size):
        raw[index] = value & 0xFF
        value >>= 8
    return bytes(raw if endian == LITTLE else reversed(raw))


def _integer_value(raw: bytes, endian: int, is_signed: bool) -> float | int:
    ordered = raw if endian == BIG else raw[::-1]
    value = 0
    for byte in ordered:
        value = ((value << 8) | byte) & (2**64 - 1)
    if not is_signed:
        return value if value < 2**53 else float(value)
    bits = min(len(raw) * 8, 64)
    if bits and value & (1 << (bits - 1)):
        value |= (2**64 - 1) & ~((1 << bits) - 1) if bits < 64 else 0
    if value >= 2**63:
        value -= 2**64
    return value if abs(value) <= 2**53 else float(value)
