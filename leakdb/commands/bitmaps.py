"""Bitmap commands: SETBIT, GETBIT, BITCOUNT, BITPOS and BITOP over string values (Redis's bitops.c).

A bitmap is a string: bit 0 is the most significant bit of the first byte, and a write past the end
zero-fills the string up to the byte it needs.  Bit writes change the string in place through
:meth:`~leakdb.engine.keyspace.Database.write_bits` (a bytearray, O(1) a write; any other reader gets
bytes back), and bit reads take it as stored.  Offsets are bounded by ``proto-max-bulk-len`` as in
Redis, and growth that would pass ``maxmemory`` is refused up front
(:func:`~leakdb.commands.eviction.room_for`).  The helpers at the top are shared with BITFIELD.
"""

from __future__ import annotations

from typing import Any

from .. import errors
from ..engine.keyspace import Database
from ..engine.numbers import parse_int
from ..errors import CommandError, NotAnIntegerError, SyntaxErrorReply
from ..resp import ONE, ZERO
from .eviction import room_for
from .registry import command

DEFAULT_MAX_BULK = 512 * 1024 * 1024  # proto-max-bulk-len when no server is configured (in process)
CHUNK = 1 << 20  # bytes converted to one int at a time, so a big string costs no big transient copy
MINUS_ONE = b":-1\r\n"
U64 = (1 << 64) - 1

_INVERT = bytes(255 - value for value in range(256))


def wrap64(number: int) -> int:
    """`number` as a C int64_t holds it after wrapping arithmetic."""
    number &= U64
    return number - (1 << 64) if number >> 63 else number


def int_arg(raw: bytes) -> int:
    number = parse_int(raw)
    if number is None:
        raise NotAnIntegerError()
    return number


def max_bulk(client: Any) -> int:
    server = client.server
    return DEFAULT_MAX_BULK if server is None else server.config["proto-max-bulk-len"]


def bit_offset(client: Any, raw: bytes, bits: int = 0) -> int:
    """A bit offset argument (getBitOffsetFromArgument); BITFIELD passes its width for ``#N`` offsets."""
    by_width = bits > 0 and raw[:1] == b"#"
    number = parse_int(raw[1:] if by_width else raw)
    if number is None:
        raise CommandError(errors.BIT_OFFSET_INVALID)
    if by_width:
        number = wrap64(number * bits)  # Redis multiplies in a 64-bit integer, wrapping
    if number < 0 or number >> 3 >= max_bulk(client):
        raise CommandError(errors.BIT_OFFSET_INVALID)
    return number


def grow_bits(client: Any, db: Database, key: bytes, size: int) -> bytearray | None:
    """The string at `key` to change in place, zero-filled to at least `size` bytes (created if
    missing); None when the growth does not fit under maxmemory.  Report the change with
    ``db.bits_changed``."""
    bits = db.write_bits(key)
    have = 0 if bits is None else len(bits)
    if size > have and not room_for(client, size - have):
        return None
    if bits is None:
        db.put_bits(key, bytearray(size))  # zeroed pages the kernel maps only once written
        return db.data[key]
    if size > have:
        bits.extend(bytes(size - have))
    return bits


def popcount(value: bytes | bytearray, start: int, stop: int) -> int:
    """Set bits in ``value[start:stop]``."""
    if stop - start <= CHUNK:
        return int.from_bytes(value[start:stop], "big").bit_count()
    total = 0
    with memoryview(value) as view:
        for position in range(start, stop, CHUNK):
            total += int.from_bytes(view[position : min(position + CHUNK, stop)], "big").bit_count()
    return total


# -- SETBIT and GETBIT -----------------------------------------------------------------------------


@command(
    "setbit",
    4,
    "write denyoom",
    1,
    1,
    group="bitmap",
    since="2.2.0",
    summary="Sets or clears the bit at offset in the string value stored at key",
)
def setbit(client, args):
    offset = bit_offset(client, args[2])
    raw = args[3]
    if raw == b"1" or raw == b"0":
        on = raw[0] - 48
    else:
        number = parse_int(raw)
        if number is None or number & ~1:
            raise CommandError(errors.BIT_VALUE_INVALID)
        on = number
    db = client.db
    key = args[1]
    current = db.read_bits(key)
    index = offset >> 3
    shift = 7 - (offset & 7)
    if current is not None and index < len(current):
        old = current[index] >> shift & 1
        if old != on:  # an unchanged bit is no write: nothing is reported, WATCH stays clean
            bits = current if current.__class__ is bytearray else db.write_bits(key)
            bits[index] ^= 1 << shift
            db.bits_changed(key, "setbit")
        return ONE if old else ZERO
    bits = grow_bits(client, db, key, index + 1)  # a grown or new string is a write, even for a 0
    if bits is None:
        return errors.OOM
    bits[index] = on << shift
    db.bits_changed(key, "setbit")
    return ZERO


@command(
    "getbit",
    3,
    "readonly fast",
    1,
    1,
    group="bitmap",
    since="2.2.0",
    summary="Returns the bit value at offset in the string value stored at key",
)
def getbit(client, args):
    offset = bit_offset(client, args[2])
    value = client.db.read_bits(args[1])
    index = offset >> 3
    if value is None or index >= len(value):
        return ZERO
    return ONE if value[index] >> (7 - (offset & 7)) & 1 else ZERO


# -- BITCOUNT and BITPOS ---------------------------------------------------------------------------


def _unit_is_bit(raw: bytes) -> bool:
    unit = raw.lower()
    if unit == b"bit":
        return True
    if unit != b"byte":
        raise SyntaxErrorReply()
    return False


def _clamp(start: int, end: int, total: int) -> tuple[int, int]:
    """Negative indexes count from the end; both are then held within the string."""
    if start < 0:
        start += total
    if end < 0:
        end += total
    return max(start, 0), min(max(end, 0), total - 1)


def count_bits(value: bytes | bytearray, first_bit: int, last_bit: int) -> int:
    """Set bits from `first_bit` to `last_bit`, both included."""
    first, last = first_bit >> 3, last_bit >> 3
    count = popcount(value, first, last + 1)
    head = first_bit & 7  # bits of the first byte before the range
    if head:
        count -= (value[first] >> (8 - head)).bit_count()
    tail = 7 - (last_bit & 7)  # bits of the last byte after the range
    if tail:
        count -= (value[last] & ((1 << tail) - 1)).bit_count()
    return count


@command(
    "bitcount", -2, "readonly", 1, 1, group="bitmap", since="2.6.0", summary="Count set bits in a string"
)
def bitcount(client, args):
    value = client.db.read_bits(args[1])  # a missing key counts 0 before the arguments are read
    if value is None:
        return ZERO
    argc = len(args)
    if argc == 2:
        return b":%d\r\n" % popcount(value, 0, len(value))
    if argc not in (4, 5):
        raise SyntaxErrorReply()
    start, end = int_arg(args[2]), int_arg(args[3])
    in_bits = argc == 5 and _unit_is_bit(args[4])
    total = len(value) * 8 if in_bits else len(value)
    if start < 0 and end < 0 and start > end:
        return ZERO
    start, end = _clamp(start, end, total)
    if start > end:
        return ZERO
    if in_bits:
        return b":%d\r\n" % count_bits(value, start, end)
    return b":%d\r\n" % popcount(value, start, end + 1)


def find_bit(value: bytes | bytearray, bit: int, first_bit: int, last_bit: int) -> int | None:
    """The first position from `first_bit` to `last_bit` (included) holding `bit`, or None."""
    position = first_bit
    skip = b"\x00" if bit else b"\xff"  # a byte without the bit looked for
    while position <= last_bit:
        stop = min(last_bit, ((position >> 3) + CHUNK) * 8 - 1)
        first, last = position >> 3, stop >> 3
        if last - first > 64 and value.count(skip, first, last + 1) == last + 1 - first:
            position = stop + 1  # a chunk of skip bytes only: counted in C, without a big integer
            continue
        number = int.from_bytes(value[first : last + 1], "big")
        number >>= 7 - (stop & 7)  # drop the bits after the range
        width = stop - position + 1
        number &= (1 << width) - 1  # and those before it
        if not bit:
            number ^= (1 << width) - 1
        if number:
            return position + width - number.bit_length()
        position = stop + 1
    return None


@command(
    "bitpos",
    -3,
    "readonly",
    1,
    1,
    group="bitmap",
    since="2.8.7",
    summary="Find first bit set or clear in a string",
)
def bitpos(client, args):
    bit = int_arg(args[2])
    if bit != 0 and bit != 1:
        raise CommandError(errors.BITPOS_BIT_INVALID)
    value = client.db.read_bits(args[1])
    if value is None:  # an endless run of zeros
        return MINUS_ONE if bit else ZERO
    argc = len(args)
    size = len(value)
    end_given = in_bits = False
    if argc == 3:
        start, end = 0, size - 1
    elif argc <= 6:
        start = int_arg(args[3])
        in_bits = argc == 6 and _unit_is_bit(args[5])  # Redis reads the unit before the end
        if argc >= 5:
            end = int_arg(args[4])
            end_given = True
        else:
            end = size - 1
        start, end = _clamp(start, end, size * 8 if in_bits else size)
    else:
        raise SyntaxErrorReply()
    if start > end:
        return MINUS_ONE
    first_bit, last_bit = (start, end) if in_bits else (start * 8, end * 8 + 7)
    found = find_bit(value, bit, first_bit, last_bit)
    if found is not None:
        return b":%d\r\n" % found
    if bit or end_given:
        return MINUS_ONE
    return b":%d\r\n" % (last_bit + 1)  # no end given: the zeros past the string count


# -- BITOP -----------------------------------------------------------------------------------------

_AND, _OR, _XOR, _NOT = b"and", b"or", b"xor", b"not"


@command(
    "bitop",
    -4,
    "write denyoom",
    2,
    -1,
    group="bitmap",
    since="2.6.0",
    summary="Perform bitwise operations between strings",
)
def bitop(client, args):
    operation = args[1].lower()
    if operation not in (_AND, _OR, _XOR, _NOT):
        raise SyntaxErrorReply()
    if operation == _NOT and len(args) != 4:
        raise CommandError(errors.BITOP_NOT_ONE_KEY)
    db = client.db
    sources = [db.read_bits(key) or b"" for key in args[3:]]  # a missing key is an empty string
    size = max(len(source) for source in sources)
    destination = args[2]
    if size == 0:
        db.delete(destination, "del")
        return ZERO
    if operation == _NOT:
        result = bytes(sources[0].translate(_INVERT))
    else:
        # Shorter strings are zero-padded on the right: shift each to the same width.
        numbers = [int.from_bytes(source, "big") << (8 * (size - len(source))) for source in sources]
        combined = numbers[0]
        if operation == _AND:
            for number in numbers[1:]:
                combined &= number
        elif operation == _OR:
            for number in numbers[1:]:
                combined |= number
        else:
            for number in numbers[1:]:
                combined ^= number
        result = combined.to_bytes(size, "big")
    old = db.data.get(destination)
    if not room_for(client, size - (len(old) if type(old) is bytes else 0)):
        return errors.OOM
    db.set(destination, result, None, "set")
    db.mark_raw(destination)
    return b":%d\r\n" % size
