"""Turning a compiled script's tail calls into ordinary calls, so errors name the script's line.

Redis's API functions are C functions, which a ``return redis.call(...)`` cannot tail-call: the
script's frame stays on the stack and an error reports its line.  LeakDB's are Lua functions, which
Lua would tail-call, dropping that frame.  Scripts are therefore compiled, dumped, and every
OP_TAILCALL in the Lua 5.1 bytecode becomes OP_CALL with the same operands (the compiler always
follows it with the OP_RETURN that returns the call's results), then loaded back.  Results and
line numbers are unchanged; only endless tail recursion ends in a stack overflow instead of looping.
"""

from __future__ import annotations

import struct

OP_CALL = 28
OP_TAILCALL = 29
_OPCODE_MASK = 0x3F
HEADER = b"\x1bLua\x51\x00\x01\x04\x08\x04\x08\x00"  # 5.1, little endian, int 4, size_t 8, double


class BytecodeError(ValueError):
    """A dump this module does not understand (never from lupa's own string.dump)."""


def without_tail_calls(dump: bytes) -> bytes:
    """The same chunk with OP_TAILCALL replaced by OP_CALL in every function prototype."""
    if not dump.startswith(HEADER):
        raise BytecodeError("unexpected Lua bytecode header")
    code = bytearray(dump)
    _Patcher(code, len(HEADER)).function()
    return bytes(code)


class _Patcher:
    def __init__(self, code: bytearray, position: int) -> None:
        self.code = code
        self.position = position

    def _int(self) -> int:
        (value,) = struct.unpack_from("<i", self.code, self.position)
        self.position += 4
        return value

    def _size(self) -> int:
        (value,) = struct.unpack_from("<Q", self.code, self.position)
        self.position += 8
        return value

    def _string(self) -> None:
        length = self._size()
        self.position += length

    def function(self) -> None:
        self._string()  # source
        self.position += 4 + 4 + 4  # line defined, last line defined, nups/params/vararg/stack
        for _ in range(self._int()):  # instructions
            (instruction,) = struct.unpack_from("<I", self.code, self.position)
            if instruction & _OPCODE_MASK == OP_TAILCALL:
                struct.pack_into("<I", self.code, self.position, (instruction & ~_OPCODE_MASK) | OP_CALL)
            self.position += 4
        for _ in range(self._int()):  # constants
            kind = self.code[self.position]
            self.position += 1
            if kind == 1:
                self.position += 1
            elif kind == 3:
                self.position += 8
            elif kind == 4:
                self._string()
            elif kind != 0:
                raise BytecodeError(f"unknown constant type {kind}")
        for _ in range(self._int()):  # nested functions
            self.function()
        lines = self._int()  # line info
        self.position += 4 * lines
        for _ in range(self._int()):  # local variables
            self._string()
            self.position += 8
        for _ in range(self._int()):  # upvalue names
            self._string()
