"""BITFIELD and BITFIELD_RO: signed and unsigned integers of 1 to 64 bits at any bit offset of a string.

Every operation is parsed and checked before any runs, as Redis does; then they run in order over one
mutable copy of the string, which is written back once.  Overflow handling (WRAP, SAT, FAIL) follows
Redis's checks exactly, including how it reads a SET value as a 64-bit integer of the field's
signedness before deciding whether it fits.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .. import errors
from ..engine.numbers import INT64_MAX, parse_int
from ..errors import CommandError, SyntaxErrorReply
from .bitmaps import U64, bit_offset, grow_bits, int_arg, wrap64
from .registry import command

GET, SET, INCRBY = 0, 1, 2
WRAP, SAT, FAIL = 0, 1, 2
_OPCODES = {b"get": (GET, 2), b"set": (SET, 3), b"incrby": (INCRBY, 3)}
_OVERFLOW = {b"wrap": WRAP, b"sat": SAT, b"fail": FAIL}


class Operation(NamedTuple):
    opcode: int
    signed: bool
    bits: int
    offset: int
    value: int  # SET's value or INCRBY's increment
    overflow: int


def field_type(raw: bytes) -> tuple[bool, int]:
    """(signed, bits) of a type argument: i1..i64 or u1..u63, lower case only.

    Redis reads the width as a C string, so anything from a NUL on is ignored.
    """
    end = raw.find(b"\x00")
    if end >= 0:
        raw = raw[:end]
    kind = raw[:1]
    if kind != b"i" and kind != b"u":
        raise CommandError(errors.BITFIELD_TYPE_INVALID)
    signed = kind == b"i"
    bits = parse_int(raw[1:])
    if bits is None or bits < 1 or bits > (64 if signed else 63):
        raise CommandError(errors.BITFIELD_TYPE_INVALID)
    return signed, bits


def parse_operations(client: Any, args: list[bytes]) -> list[Operation]:
    operations = []
    overflow = WRAP
    position = 2
    argc = len(args)
    while position < argc:
        remaining = argc - position - 1
        word = args[position].lower()
        if word == b"overflow" and remaining >= 1:
            overflow = _OVERFLOW.get(args[position + 1].lower(), -1)
            if overflow < 0:
                raise CommandError(errors.BITFIELD_OVERFLOW_INVALID)
            position += 2
            continue
        opcode, needs = _OPCODES.get(word, (-1, 0))
        if opcode < 0 or remaining < needs:
            raise SyntaxErrorReply()
        signed, bits = field_type(args[position + 1])
        offset = bit_offset(client, args[position + 2], bits)
        value = 0 if opcode == GET else int_arg(args[position + 3])
        operations.append(Operation(opcode, signed, bits, offset, value, overflow))
        position += needs + 1
    return operations


# -- reading and writing fields --------------------------------------------------------------------


def read_field(data: bytes | bytearray, offset: int, bits: int, signed: bool) -> int:
    """The field at `offset`; bits past the end of the string read as zeros."""
    first, last = offset >> 3, (offset + bits - 1) >> 3
    chunk = data[first : last + 1]
    number = int.from_bytes(chunk, "big") << (8 * (last - first + 1 - len(chunk)))
    number = (number >> ((last + 1) * 8 - offset - bits)) & ((1 << bits) - 1)
    if signed and number >> (bits - 1):
        number -= 1 << bits
    return number


def write_field(data: bytearray, offset: int, bits: int, value: int) -> None:
    first, last = offset >> 3, (offset + bits - 1) >> 3
    shift = (last + 1) * 8 - offset - bits
    mask = ((1 << bits) - 1) << shift
    number = int.from_bytes(data[first : last + 1], "big")
    number = (number & ~mask) | ((value << shift) & mask)
    data[first : last + 1] = number.to_bytes(last - first + 1, "big")


def unsigned_overflow(value: int, increment: int, bits: int, mode: int) -> tuple[bool, int]:
    """(overflowed, value to store) for an unsigned field (checkUnsignedBitfieldOverflow).

    `value` is a uint64: the field's value, or SET's argument read as unsigned.
    """
    highest = (1 << bits) - 1
    if value > highest or (increment > 0 and increment > wrap64(highest - value)):
        return True, (value + increment) & highest if mode == WRAP else highest
    if increment < 0 and increment < wrap64(-value):
        return True, (value + increment) & highest if mode == WRAP else 0
    return False, value + increment


def signed_overflow(value: int, increment: int, bits: int, mode: int) -> tuple[bool, int]:
    """(overflowed, value to store) for a signed field (checkSignedBitfieldOverflow).

    Redis computes the headroom in 64-bit integers; a SET value far below the range wraps there and
    is then taken as too high, so SAT stores the maximum.  The wrapping is kept for that reason.
    """
    highest = INT64_MAX if bits == 64 else (1 << (bits - 1)) - 1
    lowest = -highest - 1
    up = wrap64(highest - value)
    down = wrap64(lowest - value)
    too_high = bits != 64 and increment > up
    if value > highest or too_high or (value >= 0 and increment > 0 and increment > up):
        return True, _wrapped(value, increment, bits) if mode == WRAP else highest
    too_low = bits != 64 and increment < down
    if value < lowest or too_low or (value < 0 and increment < 0 and increment < down):
        return True, _wrapped(value, increment, bits) if mode == WRAP else lowest
    return False, value + increment


def _wrapped(value: int, increment: int, bits: int) -> int:
    """The sum in two's complement of `bits` bits, sign-extended."""
    total = (value + increment) & ((1 << bits) - 1)
    return total - (1 << bits) if total >> (bits - 1) else total


def _apply(data: bytearray, operation: Operation) -> int | None:
    """Run one SET or INCRBY; the reply value, or None when OVERFLOW FAIL refused it."""
    opcode, signed, bits, offset, argument, mode = operation
    old = read_field(data, offset, bits, signed)
    check = signed_overflow if signed else unsigned_overflow
    if opcode == INCRBY:
        overflowed, new = check(old, argument, bits, mode)
        reply = new
    else:
        overflowed, new = check(argument if signed else argument & U64, 0, bits, mode)
        reply = old
    if overflowed and mode == FAIL:
        return None
    write_field(data, offset, bits, new)
    return reply


# -- the commands ----------------------------------------------------------------------------------


def _bitfield(client: Any, args: list[bytes], read_only: bool) -> bytes:
    operations = parse_operations(client, args)
    writes = [op for op in operations if op.opcode != GET]
    db = client.db
    key = args[1]
    null = client.resp.null
    if not writes:
        value = db.read_bits(key)
        data = b"" if value is None else value
        parts = [b":%d\r\n" % read_field(data, op.offset, op.bits, op.signed) for op in operations]
        return b"*%d\r\n" % len(parts) + b"".join(parts)
    if read_only:
        raise CommandError(errors.BITFIELD_RO_GET_ONLY)
    data = grow_bits(client, db, key, (max(op.offset + op.bits - 1 for op in writes) >> 3) + 1)
    if data is None:
        return errors.OOM
    parts = []
    for op in operations:
        if op.opcode == GET:
            parts.append(b":%d\r\n" % read_field(data, op.offset, op.bits, op.signed))
        else:
            reply = _apply(data, op)
            parts.append(null if reply is None else b":%d\r\n" % reply)
    # Redis counts every SET and INCRBY as a change, even one that OVERFLOW FAIL refused.
    db.bits_changed(key, "setbit")
    return b"*%d\r\n" % len(parts) + b"".join(parts)


@command(
    "bitfield",
    -2,
    "write denyoom",
    1,
    1,
    group="bitmap",
    since="3.2.0",
    summary="Perform arbitrary bitfield integer operations on strings",
)
def bitfield(client, args):
    return _bitfield(client, args, False)


@command(
    "bitfield_ro",
    -2,
    "readonly fast",
    1,
    1,
    group="bitmap",
    since="6.0.0",
    summary="Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD",
)
def bitfield_ro(client, args):
    return _bitfield(client, args, True)
