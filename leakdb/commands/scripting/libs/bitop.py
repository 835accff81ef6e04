"""``bit``, LuaBitOp 1.0: bitwise operations on 32-bit integers, as Redis loads it into Lua.

Arguments are numbers (or strings holding one) normalised as LuaBitOp does: the double plus 2^52 + 2^51,
whose low 32 bits are the operand; results are signed 32-bit numbers.
"""

from __future__ import annotations

import struct as _struct
from typing import Any

from .common import Library, LuaError, lua_tonumber, lua_typename

_MAGIC = 6755399441055744.0  # 2^52 + 2^51
_DOUBLE = _struct.Struct("<d")


def to_bits(number: float | int) -> int:
    """The unsigned 32 bits LuaBitOp makes of a number."""
    return int.from_bytes(_DOUBLE.pack(float(number) + _MAGIC)[:4], "little")


def signed(bits: int) -> int:
    bits &= 0xFFFFFFFF
    return bits - 0x100000000 if bits & 0x80000000 else bits


class Bit(Library):
    """The functions of the ``bit`` table."""

    def functions(self) -> dict[bytes, Any]:
        table = {
            b"tobit": self.tobit,
            b"bnot": self.bnot,
            b"band": self.band,
            b"bor": self.bor,
            b"bxor": self.bxor,
            b"lshift": self.lshift,
            b"rshift": self.rshift,
            b"arshift": self.arshift,
            b"rol": self.rol,
            b"ror": self.ror,
            b"bswap": self.bswap,
            b"tohex": self.tohex,
        }
        return {name: self.guarded(function) for name, function in table.items()}

    @staticmethod
    def _arg(name: str, index: int, args: tuple) -> int:
        value = args[index - 1] if index <= len(args) else None
        number = lua_tonumber(value)
        if number is None:
            got = "no value" if index > len(args) else lua_typename(value)
            raise LuaError(f"bad argument #{index} to '{name}' (number expected, got {got})")
        return to_bits(number)

    def tobit(self, *args: Any) -> tuple:
        return (signed(self._arg("tobit", 1, args)),)

    def bnot(self, *args: Any) -> tuple:
        return (signed(~self._arg("bnot", 1, args)),)

    def _fold(self, name: str, args: tuple, operation: Any) -> tuple:
        result = self._arg(name, 1, args)
        for index in range(len(args), 1, -1):  # LuaBitOp reads the others from the last one down
            result = operation(result, self._arg(name, index, args))
        return (signed(result),)

    def band(self, *args: Any) -> tuple:
        return self._fold("band", args, lambda a, b: a & b)

    def bor(self, *args: Any) -> tuple:
        return self._fold("bor", args, lambda a, b: a | b)

    def bxor(self, *args: Any) -> tuple:
        return self._fold("bxor", args, lambda a, b: a ^ b)

    def _shift(self, name: str, args: tuple) -> tuple[int, int]:
        return self._arg(name, 1, args), self._arg(name, 2, args) & 31

    def lshift(self, *args: Any) -> tuple:
        value, count = self._shift("lshift", args)
        return (signed(value << count),)

    def rshift(self, *args: Any) -> tuple:
        value, count = self._shift("rshift", args)
        return (signed(value >> count),)

    def arshift(self, *args: Any) -> tuple:
        value, count = self._shift("arshift", args)
        return (signed(signed(value) >> count),)

    def rol(self, *args: Any) -> tuple:
        value, count = self._shift("rol", args)
        return (signed((value << count) | (value >> (32 - count))),)

    def ror(self, *args: Any) -> tuple:
        value, count = self._shift("ror", args)
        return (signed((value >> count) | (value << (32 - count))),)

    def bswap(self, *args: Any) -> tuple:
        value = self._arg("bswap", 1, args)
        return (signed(int.from_bytes(value.to_bytes(4, "little"), "big")),)

    def tohex(self, *args: Any) -> tuple:
        value = self._arg("tohex", 1, args)
        digits = 8
        if len(args) >= 2:
            digits = signed(self._arg("tohex", 2, args))
        upper = digits < 0
        if upper:
            digits = -digits
        digits = min(digits, 8)
        if digits == 0:
            return (b"",)
        text = b"%0*x" % (digits, value & ((1 << (4 * digits)) - 1))
        return (text.upper() if upper else text,)
