"""``cmsgpack``, lua-cmsgpack 0.4.0 as Redis loads it: MessagePack to and from Lua values.

pack(...) concatenates one encoding per argument: strings as raw (fixraw, 0xd9, 0xda, 0xdb), numbers
that are exact 64-bit integers as the smallest integer form and others as a float32 when that is exact
(else a float64), a table whose keys are exactly 1..n as an array (the empty table too) and any other as
a map, nil and other values as nil; tables nested 16 deep become nil.  unpack returns every value in the
string; unpack_one and unpack_limit return the next offset first (-1 at the end).
"""

from __future__ import annotations

import math
import struct as _struct
from typing import Any

from lupa.lua51 import lua_type

from .common import Library, LuaError, to_c_integer

MAX_NESTING = 16
_FLOAT = _struct.Struct(">f")
_DOUBLE = _struct.Struct(">d")


class MessagePack(Library):
    """The functions of the ``cmsgpack`` table."""

    def functions(self) -> dict[bytes, Any]:
        return {
            b"pack": self.guarded(self.pack),
            b"unpack": self.guarded(self.unpack),
            b"unpack_one": self.guarded(self.unpack_one),
            b"unpack_limit": self.guarded(self.unpack_limit),
        }

    # -- packing -------------------------------------------------------------------------------------

    def pack(self, *args: Any) -> tuple:
        if not args:
            raise LuaError("bad argument #0 to 'pack' (MessagePack pack needs input.)")
        out = bytearray()
        for value in args:
            self._encode(value, out, 0)
        return (bytes(out),)

    def _encode(self, value: Any, out: bytearray, level: int) -> None:
        kind = type(value)
        if kind is bytes:
            _raw(value, out)
        elif kind is bool:
            out.append(0xC3 if value else 0xC2)
        elif kind is int or kind is float:
            _number(value, out)
        elif value is not None and lua_type(value) == "table" and level != MAX_NESTING:
            self._table(value, out, level)
        else:
            out.append(0xC0)

    def _table(self, table: Any, out: bytearray, level: int) -> None:
        keys = list(table.keys())
        if _is_array(keys):
            _header(len(keys), out, 0x90, 0xDC, 0xDD)
            for index in range(1, len(keys) + 1):
                self._encode(table[index], out, level + 1)
            return
        _header(len(keys), out, 0x80, 0xDE, 0xDF)
        for key, value in table.items():
            self._encode(key, out, level + 1)
            self._encode(value, out, level + 1)

    # -- unpacking -----------------------------------------------------------------------------------

    def unpack(self, *args: Any) -> tuple:
        return self._unpack(args, "unpack", 0, 0)

    def unpack_one(self, *args: Any) -> tuple:
        offset = 0
        if len(args) >= 2 and args[1] is not None:
            offset = self.checkinteger("unpack_one", 2, args)
        return self._unpack(args[:1], "unpack_one", 1, offset)

    def unpack_limit(self, *args: Any) -> tuple:
        limit = self.checkinteger("unpack_limit", 2, args)
        offset = 0
        if len(args) >= 3 and args[2] is not None:
            offset = self.checkinteger("unpack_limit", 3, args)
        return self._unpack(args[:1], "unpack_limit", limit, offset)

    def _unpack(self, args: tuple, name: str, limit: int, offset: int) -> tuple:
        data = self.checkstring(name, 1, args)
        decode_all = not limit and not offset
        if offset < 0 or limit < 0:
            raise LuaError(
                f"Invalid request to unpack with offset of {to_c_integer(offset, 32)} and limit of "
                f"{to_c_integer(len(data), 32)}."
            )
        if offset > len(data):
            raise LuaError(f"Start offset {offset} greater than input length {len(data)}.")
        if decode_all:
            limit = 2**31 - 1
        reader = _Reader(data, offset, self)
        values: list[Any] = []
        while reader.position < len(data) and len(values) < limit:
            values.append(reader.value())
        if decode_all:
            return tuple(values)
        next_offset = -1 if reader.position >= len(data) else reader.position
        return (next_offset, *values)


def _raw(data: bytes, out: bytearray) -> None:
    length = len(data)
    if length < 32:
        out.append(0xA0 | length)
    elif length <= 0xFF:
        out += bytes((0xD9, length))
    elif length <= 0xFFFF:
        out += b"\xda" + length.to_bytes(2, "big")
    else:
        out += b"\xdb" + (length & 0xFFFFFFFF).to_bytes(4, "big")
    out += data


def _number(value: int | float, out: bytearray) -> None:
    number = float(value)
    if not math.isinf(number) and number == number and -(2**63) <= number < 2**63 and int(number) == number:
        _integer(int(number), out)
        return
    try:
        single = _FLOAT.unpack(_FLOAT.pack(number))[0]
    except OverflowError:
        single = None
    if single is not None and single == number:
        out += b"\xca" + _FLOAT.pack(number)
    else:
        out += b"\xcb" + _DOUBLE.pack(number)


def _integer(number: int, out: bytearray) -> None:
    if number >= 0:
        if number <= 127:
            out.append(number)
        elif number <= 0xFF:
            out += bytes((0xCC, number))
        elif number <= 0xFFFF:
            out += b"\xcd" + number.to_bytes(2, "big")
        elif number <= 0xFFFFFFFF:
            out += b"\xce" + number.to_bytes(4, "big")
        else:
            out += b"\xcf" + number.to_bytes(8, "big")
    elif number >= -32:
        out.append(number & 0xFF)
    elif number >= -128:
        out += b"\xd0" + number.to_bytes(1, "big", signed=True)
    elif number >= -32768:
        out += b"\xd1" + number.to_bytes(2, "big", signed=True)
    elif number >= -(2**31):
        out += b"\xd2" + number.to_bytes(4, "big", signed=True)
    else:
        out += b"\xd3" + number.to_bytes(8, "big", signed=True)


def _header(count: int, out: bytearray, fixed: int, sixteen: int, thirty_two: int) -> None:
    if count <= 15:
        out.append(fixed | count)
    elif count <= 0xFFFF:
        out += bytes((sixteen,)) + count.to_bytes(2, "big")
    else:
        out += bytes((thirty_two,)) + (count & 0xFFFFFFFF).to_bytes(4, "big")


def _is_array(keys: list[Any]) -> bool:
    """lua-cmsgpack's test: every key a positive number that is an exact C int, and max == count."""
    largest = 0
    for key in keys:
        if not (type(key) is int or type(key) is float) or key <= 0:
            return False
        if math.isinf(key) or key != key or key >= 2**31 or int(key) != key:
            return False
        largest = max(largest, int(key))
    return largest == len(keys)


class _Reader:
    """A cursor decoding MessagePack values into Lua values."""

    def __init__(self, data: bytes, position: int, owner: MessagePack) -> None:
        self.data = data
        self.position = position
        self.owner = owner

    def _take(self, count: int) -> bytes:
        end = self.position + count
        if end > len(self.data):
            raise LuaError("Missing bytes in input.")
        chunk = self.data[self.position : end]
        self.position = end
        return chunk

    def value(self) -> Any:
        code = self._take(1)[0]
        if code <= 0x7F:
            return code
        if code >= 0xE0:
            return code - 256
        if 0xA0 <= code <= 0xBF:
            return self._take(code & 0x1F)
        if 0x90 <= code <= 0x9F:
            return self._array(code & 0x0F)
        if 0x80 <= code <= 0x8F:
            return self._map(code & 0x0F)
        return self._typed(code)

    def _typed(self, code: int) -> Any:
        if code == 0xC0:
            return None
        if code == 0xC2:
            return False
        if code == 0xC3:
            return True
        if code == 0xCA:
            return _FLOAT.unpack(self._take(4))[0]
        if code == 0xCB:
            return _DOUBLE.unpack(self._take(8))[0]
        widths = {0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8, 0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8}
        if code in widths:
            number = int.from_bytes(self._take(widths[code]), "big", signed=code >= 0xD0)
            if code == 0xCF and number >= 2**63:
                number -= 2**64  # lua_pushinteger of an unsigned 64-bit value
            return number if abs(number) <= 2**53 else float(number)
        if code == 0xD9:
            return self._take(self._take(1)[0])
        if code == 0xDA:
            return self._take(int.from_bytes(self._take(2), "big"))
        if code == 0xDB:
            return self._take(int.from_bytes(self._take(4), "big"))
        if code == 0xDC:
            return self._array(int.from_bytes(self._take(2), "big"))
        if code == 0xDD:
            return self._array(int.from_bytes(self._take(4), "big"))
        if code == 0xDE:
            return self._map(int.from_bytes(self._take(2), "big"))
        if code == 0xDF:
            return self._map(int.from_bytes(self._take(4), "big"))
        raise LuaError("Bad data format in input.")

    def _array(self, count: int) -> Any:
        table = self.owner.new_table()
        for index in range(1, count + 1):
            item = self.value()
            if item is not None:
                table[index] = item
        return table

    def _map(self, count: int) -> Any:
        table = self.owner.new_table()
        for _ in range(count):
            key = self.value()
            item = self.value()
            if key is None:
                raise LuaError("table index is nil", bare=True)
            if type(key) is float and key != key:
                raise LuaError("table index is NaN", bare=True)
            table[key] = item
        return table
