"""HyperLogLog as Redis 7.0 keeps it in a string, so an HLL moves between LeakDB and Redis as plain bytes.

The string is a 16-byte header ("HYLL", the encoding byte, three unused bytes, the cached cardinality
as 8 little-endian bytes whose top bit marks it stale) and 16384 registers: packed 6 bits each, least
significant bit first (dense, 12288 bytes), or as run-length opcodes (sparse: ZERO ``00xxxxxx`` for
1-64 empty registers, XZERO ``01xxxxxx yyyyyyyy`` for up to 16384, VAL ``1vvvvvxx`` for 1-4 registers
holding 1-32).  An element is hashed with MurmurHash64A (seed 0xadc83b19): the low 14 bits choose the
register, and one plus the number of zeros above them is the value it offers.  Every edit takes
Redis's steps (which opcode splits, which neighbours merge, when the string turns dense), so the
bytes are the ones redis-server would hold after the same commands; the count is Redis's estimator
(Ertl's, with its tau and sigma series) on the register histogram.

Walking a sparse string costs O(its length) per element in Python, so the opcodes of recently used
HLLs are kept parsed in a small cache keyed by the exact bytes object stored in the keyspace, with the
first register of each opcode for a binary search and the register histogram kept up to date.
"""

from __future__ import annotations

import math
import re
import struct
from bisect import bisect_right
from collections.abc import Iterable, Sequence

from ..errors import CorruptHLLError

P = 14
REGISTERS = 1 << P
Q = 64 - P
HEADER_SIZE = 16
DENSE_BYTES = REGISTERS * 6 // 8
DENSE_SIZE = HEADER_SIZE + DENSE_BYTES
DENSE, SPARSE = 0, 1
MAGIC = b"HYLL"
DEFAULT_SPARSE_MAX_BYTES = 3000
VAL_MAX_VALUE = 32
VAL_MAX_LEN = 4
ZERO_MAX_LEN = 64
ALPHA_INF = 0.721347520444481703680  # 1 / (2 ln 2)
STALE = 0x80  # set in the last cached-cardinality byte when the cache is out of date

# A new HLL: sparse, one XZERO covering every register, cached cardinality 0 (valid).
EMPTY = MAGIC + bytes((SPARSE, 0, 0, 0)) + bytes(8) + b"\x7f\xff"

_M = 0xC6A4A7935BD1E995
_MASK = (1 << 64) - 1
_SEED = 0xADC83B19
_Q_BIT = 1 << Q
_BLOCKS: dict[int, struct.Struct] = {}
_BYTE = [bytes((i,)) for i in range(256)]
PROMOTE = 2  # _sparse_set's answer when the string has to turn dense


def is_hll(value: bytes) -> bool:
    """Whether a string passes Redis's header check (isHLLObjectOrReply)."""
    return (
        len(value) >= HEADER_SIZE
        and value[:4] == MAGIC
        and value[4] <= SPARSE
        and (value[4] == SPARSE or len(value) == DENSE_SIZE)
    )


# -- hashing -------------------------------------------------------------------------------------


def patterns(elements: Iterable[bytes]) -> list[tuple[int, int]]:
    """(register, value) offered by each element (hllPatLen): MurmurHash64A, its 8-byte blocks read
    little-endian as Redis reads them on every platform, inlined because hashing is PFADD's cost."""
    out = []
    append = out.append
    from_bytes = int.from_bytes
    seed, m, mask = _SEED, _M, _MASK
    for data in elements:
        length = len(data)
        h = seed ^ ((length * m) & mask)
        if length >= 8:
            body = length & ~7
            if body == 8:
                k = (from_bytes(data[:8], "little") * m) & mask
                h = ((h ^ (((k ^ (k >> 47)) * m) & mask)) * m) & mask
            else:
                blocks = _BLOCKS.get(body)
                if blocks is None:
                    blocks = _BLOCKS[body] = struct.Struct("<%dQ" % (body >> 3))
                for k in blocks.unpack_from(data):
                    k = (k * m) & mask
                    h = ((h ^ (((k ^ (k >> 47)) * m) & mask)) * m) & mask
            if length & 7:
                h = ((h ^ from_bytes(data[body:], "little")) * m) & mask
        elif length:
            h = ((h ^ from_bytes(data, "little")) * m) & mask
        h = ((h ^ (h >> 47)) * m) & mask
        h ^= h >> 47
        rest = (h >> P) | _Q_BIT
        append((h & (REGISTERS - 1), (rest & -rest).bit_length()))
    return out


# -- the estimator -------------------------------------------------------------------------------


def _sigma(x: float) -> float:
    if x == 1.0:
        return math.inf
    y = 1.0
    z = x
    while True:
        x *= x
        previous = z
        z += x * y
        y += y
        if previous == z:
            return z


def _tau(x: float) -> float:
    if x == 0.0 or x == 1.0:
        return 0.0
    y = 1.0
    z = 1 - x
    while True:
        x = math.sqrt(x)
        previous = z
        y *= 0.5
        z -= (1 - x) ** 2 * y
        if previous == z:
            return z / 3


def estimate(histogram: Sequence[int]) -> int:
    """Redis's cardinality estimate from the count of registers holding each value 0..63."""
    m = float(REGISTERS)
    z = m * _tau((m - histogram[Q + 1]) / m)
    for j in range(Q, 0, -1):
        z += histogram[j]
        z *= 0.5
    z += m * _sigma(histogram[0] / m)
    e = ALPHA_INF * m * m / z
    whole = math.floor(e)
    return int(whole) + (e - whole >= 0.5)  # llroundl: halves away from zero


def histogram_of(raw: bytes) -> list[int]:
    """How many of the one-byte-per-register values hold each value 0..63."""
    counts = [0] * 64
    left = len(raw)
    for value in range(64):
        if not left:
            break
        found = raw.count(value)
        counts[value] = found
        left -= found
    return counts


# -- dense registers -----------------------------------------------------------------------------


def _table(function) -> bytes:
    return bytes(function(b) & 0xFF for b in range(256))


_LOW6, _HIGH2, _LOW4_UP2 = _table(lambda b: b & 63), _table(lambda b: b >> 6), _table(lambda b: (b & 15) << 2)
_HIGH4, _LOW2_UP4, _HIGH6 = _table(lambda b: b >> 4), _table(lambda b: (b & 3) << 4), _table(lambda b: b >> 2)
_UP6, _DOWN2, _UP4, _DOWN4, _UP2 = (
    _table(lambda b: b << 6),
    _table(lambda b: b >> 2),
    _table(lambda b: b << 4),
    _table(lambda b: b >> 4),
    _table(lambda b: b << 2),
)
_GROUPS = REGISTERS // 4


def _or(a: bytes, b: bytes) -> bytes:
    """Byte-wise OR of two strings of equal length whose bits do not overlap, at C speed."""
    return (int.from_bytes(a, "little") | int.from_bytes(b, "little")).to_bytes(len(a), "little")


def unpack(packed: bytes) -> bytearray:
    """The 16384 registers of a dense body (12288 bytes), one byte each."""
    s0, s1, s2 = packed[0::3], packed[1::3], packed[2::3]
    raw = bytearray(REGISTERS)
    raw[0::4] = s0.translate(_LOW6)
    raw[1::4] = _or(s0.translate(_HIGH2), s1.translate(_LOW4_UP2))
    raw[2::4] = _or(s1.translate(_HIGH4), s2.translate(_LOW2_UP4))
    raw[3::4] = s2.translate(_HIGH6)
    return raw


def pack(raw: bytes) -> bytes:
    """A dense body from 16384 one-byte registers (each below 64)."""
    r0, r1, r2, r3 = raw[0::4], raw[1::4], raw[2::4], raw[3::4]
    packed = bytearray(DENSE_BYTES)
    packed[0::3] = _or(r0, r1.translate(_UP6))
    packed[1::3] = _or(r1.translate(_DOWN2), r2.translate(_UP4))
    packed[2::3] = _or(r2.translate(_DOWN4), r3.translate(_UP2))
    return bytes(packed)


_LANE_HIGH = int.from_bytes(b"\x80" * REGISTERS, "little")
_LANE_LOW = int.from_bytes(b"\x01" * REGISTERS, "little")


def register_max(a: bytes, b: bytes) -> bytes:
    """Register-wise maximum of two one-byte-per-register arrays, as big-integer lane arithmetic."""
    x, y = int.from_bytes(a, "little"), int.from_bytes(b, "little")
    # Each lane holds 128 + y - x, which never borrows from its neighbour (values are below 128);
    # its top bit says y >= x.
    take_y = (((y | _LANE_HIGH) - x) >> 7) & _LANE_LOW
    take_y *= 0xFF
    return ((y & take_y) | (x & ~take_y)).to_bytes(REGISTERS, "little")


def get_register(buf: bytearray | bytes, index: int) -> int:
    position = index * 6
    byte = HEADER_SIZE + (position >> 3)
    shift = position & 7
    if shift <= 2:
        return (buf[byte] >> shift) & 63
    return ((buf[byte] >> shift) | (buf[byte + 1] << (8 - shift))) & 63


def set_register(buf: bytearray, index: int, count: int) -> None:
    """HLL_DENSE_SET_REGISTER; `buf` has one spare byte past the registers (Redis's terminator)."""
    position = index * 6
    byte = HEADER_SIZE + (position >> 3)
    shift = position & 7
    buf[byte] = (buf[byte] & ~(63 << shift) & 0xFF) | ((count << shift) & 0xFF)
    buf[byte + 1] = (buf[byte + 1] & ~(63 >> (8 - shift)) & 0xFF) | (count >> (8 - shift))


# -- sparse opcodes ------------------------------------------------------------------------------


def _span(op: bytes) -> int:
    first = op[0]
    if first & 0x80:
        return (first & 3) + 1
    if first & 0x40:  # an XZERO cut short at the end of the string reads Redis's terminator, 0
        return ((first & 0x3F) << 8 | (op[1] if len(op) > 1 else 0)) + 1
    return (first & 0x3F) + 1


def _val(value: int, length: int) -> bytes:
    return _BYTE[0x80 | (value - 1) << 2 | (length - 1)]


def _zeros(length: int) -> bytes:
    if length > ZERO_MAX_LEN:
        return bytes((0x40 | (length - 1) >> 8, (length - 1) & 0xFF))
    return _BYTE[length - 1]


class Sparse:
    """A sparse HLL, parsed: its header, its opcodes with the first register each covers, its size
    in bytes (header included, as hll-sparse-max-bytes counts it) and its register histogram."""

    __slots__ = ("header", "histogram", "ops", "size", "starts")

    def __init__(self, value: bytes) -> None:
        self.header = bytearray(value[:HEADER_SIZE])
        self.size = len(value)
        ops: list[bytes] = []
        starts: list[int] = []
        histogram = [0] * 64
        first = 0
        position, end = HEADER_SIZE, len(value)
        while position < end:
            byte = value[position]
            if byte & 0xC0 == 0x40:
                op = value[position : position + 2]
                position += 2
            else:
                op = _BYTE[byte]
                position += 1
            span = _span(op)
            histogram[((byte >> 2) & 0x1F) + 1 if byte & 0x80 else 0] += span
            ops.append(op)
            starts.append(first)
            first += span
        self.ops, self.starts, self.histogram = ops, starts, histogram

    @property
    def registers_covered(self) -> int:
        return self.starts[-1] + _span(self.ops[-1]) if self.ops else 0

    def value(self) -> bytes:
        return bytes(self.header) + b"".join(self.ops)

    def registers(self) -> bytearray | None:
        """The registers one byte each, read as hllSparseToDense reads them; None if corrupt."""
        raw = bytearray(REGISTERS)
        index = 0
        for op in self.ops:
            first = op[0]
            if first & 0x80:
                length = (first & 3) + 1
                if index + length > REGISTERS:
                    return None
                raw[index : index + length] = _BYTE[((first >> 2) & 0x1F) + 1] * length
                index += length
            else:
                index += _span(op)
        return raw if index == REGISTERS else None

    def decode(self) -> bytes:
        """PFDEBUG DECODE's text: z:len for ZERO, Z:len for XZERO, v:value,len for VAL."""
        words = []
        for op in self.ops:
            first = op[0]
            if first & 0x80:
                words.append(b"v:%d,%d" % (((first >> 2) & 0x1F) + 1, (first & 3) + 1))
            else:
                words.append(b"%s:%d" % (b"Z" if first & 0x40 else b"z", _span(op)))
        return b" ".join(words)

    def set(self, index: int, count: int, max_bytes: int) -> int:
        """hllSparseSet: 1 if the register grew, 0 if not, -1 if corrupt, PROMOTE to turn dense."""
        if count > VAL_MAX_VALUE:
            return PROMOTE
        ops, starts = self.ops, self.starts
        if not ops:
            return -1
        i = bisect_right(starts, index) - 1
        op = ops[i]
        first = starts[i]
        span = _span(op)
        if index >= first + span:
            return -1  # past the last opcode: the string covers too few registers
        code = op[0]
        if code & 0x80:
            old = ((code >> 2) & 0x1F) + 1
            if old >= count:
                return 0
            if span == 1:
                ops[i] = _val(count, 1)
                return self._updated(i, old, count)
        elif span == 1 and not code & 0x40:
            ops[i] = _val(count, 1)
            return self._updated(i, 0, count)
        # Split the opcode around the register: [before] VAL(count) [after].
        last = first + span - 1
        if code & 0x80:
            old = ((code >> 2) & 0x1F) + 1
            before = _val(old, index - first) if index != first else None
            after = _val(old, last - index) if index != last else None
        else:
            old = 0
            before = _zeros(index - first) if index != first else None
            after = _zeros(last - index) if index != last else None
        sequence = [piece for piece in (before, _val(count, 1), after) if piece is not None]
        delta = sum(map(len, sequence)) - (2 if code & 0xC0 == 0x40 else 1)
        if delta > 0 and self.size + delta > max_bytes:
            return PROMOTE
        if len(op) == 1 and code & 0xC0 == 0x40:
            # A truncated XZERO is the last opcode: Redis writes the new opcodes where it ends, and
            # the string's new length stops one byte short of them.
            sequence[-1] = sequence[-1][:-1]
            if not sequence[-1]:
                sequence.pop()
        positions = []
        position = first
        for piece in sequence:
            positions.append(position)
            position += _span(piece)
        ops[i : i + 1] = sequence
        starts[i : i + 1] = positions
        self.size += delta
        return self._updated(i, old, count)

    def _updated(self, i: int, old: int, count: int) -> int:
        """Merge equal VAL neighbours over the five opcodes from the one before `i`, as Redis does."""
        ops, starts = self.ops, self.starts
        j = i - 1 if i else 0
        scans = 5
        while j < len(ops) and scans:
            scans -= 1
            code = ops[j][0]
            if not code & 0x80:
                j += 1
                continue
            if j + 1 < len(ops):
                following = ops[j + 1][0]
                if following & 0x80 and (code >> 2) & 0x1F == (following >> 2) & 0x1F:
                    length = (code & 3) + (following & 3) + 2
                    if length <= VAL_MAX_LEN:
                        ops[j : j + 2] = [_val(((code >> 2) & 0x1F) + 1, length)]
                        del starts[j + 1]
                        self.size -= 1
                        continue
            j += 1
        self.histogram[old] -= 1
        self.histogram[count] += 1
        self.header[15] |= STALE
        return 1


# -- the parse cache -----------------------------------------------------------------------------


class _DenseHistogram:
    __slots__ = ("histogram",)

    def __init__(self, histogram: list[int]) -> None:
        self.histogram = histogram


_CACHE: dict[int, tuple[bytes, Sparse | _DenseHistogram]] = {}
CACHE_SIZE = 64


def _cached(value: bytes) -> Sparse | _DenseHistogram | None:
    entry = _CACHE.get(id(value))
    if entry is None or entry[0] is not value:
        return None
    return entry[1]


def _take(value: bytes) -> Sparse | _DenseHistogram | None:
    """The cached form of `value`, removed from the cache: the caller edits it and remembers the result."""
    entry = _CACHE.pop(id(value), None)
    return entry[1] if entry is not None and entry[0] is value else None


def _remember(value: bytes, state: Sparse | _DenseHistogram) -> None:
    if len(_CACHE) >= CACHE_SIZE:
        del _CACHE[next(iter(_CACHE))]
    _CACHE[id(value)] = (value, state)


def _sparse(value: bytes) -> Sparse:
    """The parsed form of a sparse HLL string, from the cache when it holds this very object."""
    state = _cached(value)
    if type(state) is not Sparse:
        state = Sparse(value)
        _remember(value, state)
    return state


def registers(value: bytes) -> bytearray | None:
    """One byte per register of a valid HLL string (None for a corrupt sparse one), as hllMerge reads."""
    if value[4] == DENSE:
        return unpack(value[HEADER_SIZE:DENSE_SIZE])
    return _sparse(value).registers()


def stale(value: bytes) -> bytes:
    """`value` with its cached cardinality marked out of date."""
    return value[:15] + _BYTE[value[15] | STALE] + value[HEADER_SIZE:]


def _dense_value(header: bytes | bytearray, raw: bytes) -> bytes:
    """A dense string with `header`'s bytes (encoding set to dense) holding `raw`'s registers."""
    return bytes(header[:4]) + _BYTE[DENSE] + bytes(header[5:HEADER_SIZE]) + pack(raw)


# -- the commands' operations ---------------------------------------------------------------------


def add(value: bytes | None, elements: Sequence[bytes], max_bytes: int) -> tuple[bytes, bool, bool]:
    """PFADD on a valid HLL string (None: a new one): (new string, whether it changed, intact).

    When a corrupt sparse string is found part way, the registers set before stay set, as in Redis.
    """
    created = value is None
    if created:
        value = EMPTY
    pending = patterns(elements)
    histogram = None
    if value[4] == SPARSE:
        state = _take(value)
        if type(state) is not Sparse:
            state = Sparse(value)
        changed = created
        for position, (index, count) in enumerate(pending):
            outcome = state.set(index, count, max_bytes)
            if outcome == 1:
                changed = True
            elif outcome == PROMOTE:
                raw = state.registers()
                if raw is None:
                    return _keep(value, state, changed), changed, False
                histogram = list(state.histogram)
                value = _dense_value(state.header, raw)
                pending = pending[position:]
                break
            elif outcome == -1:
                return _keep(value, state, changed), changed, False
        else:
            if created:
                state.header[15] |= STALE
            return _keep(value, state, changed), changed, True
    else:
        state = _take(value)
        if state is not None:
            histogram = state.histogram
    if len(pending) > _RAW_BATCH:
        changed = _add_unpacked(value, pending, histogram)
    else:
        changed = _add_packed(value, pending, histogram)
    if changed is not None:
        value = changed
    if histogram is not None:
        _remember(value, _DenseHistogram(histogram))
    return value, changed is not None, True


# Above this many elements, unpacking the registers to one byte each and packing them back costs
# less than reading and writing 6-bit fields one element at a time.
_RAW_BATCH = 48


def _add_unpacked(value: bytes, pending: list[tuple[int, int]], histogram: list[int] | None) -> bytes | None:
    raw = unpack(value[HEADER_SIZE:DENSE_SIZE])
    changed = False
    for index, count in pending:
        old = raw[index]
        if count > old:
            raw[index] = count
            changed = True
            if histogram is not None:
                histogram[old] -= 1
                histogram[count] += 1
    return stale(value[:HEADER_SIZE] + pack(raw)) if changed else None


def _add_packed(value: bytes, pending: list[tuple[int, int]], histogram: list[int] | None) -> bytes | None:
    buffer = None
    for index, count in pending:
        old = get_register(value if buffer is None else buffer, index)
        if count > old:
            if buffer is None:
                buffer = bytearray(value)
                buffer.append(0)  # Redis's string terminator, which the last register's writes touch
            set_register(buffer, index, count)
            if histogram is not None:
                histogram[old] -= 1
                histogram[count] += 1
    if buffer is None:
        return None
    del buffer[-1]
    buffer[15] |= STALE
    return bytes(buffer)


def _keep(value: bytes, state: Sparse, changed: bool) -> bytes:
    """The string a sparse edit leaves, with its parsed form cached under it."""
    if changed:
        value = state.value()
    _remember(value, state)
    return value


def cardinality(value: bytes) -> tuple[int, bytes | None]:
    """PFCOUNT of one key: (count, the string with the count cached, or None if it was cached)."""
    if not value[15] & STALE:
        return int.from_bytes(value[8:16], "little"), None
    state = _take(value)
    if value[4] == SPARSE:
        if type(state) is not Sparse:
            state = Sparse(value)
        if state.registers_covered != REGISTERS:
            _remember(value, state)
            raise CorruptHLLError()
    elif state is None:
        state = _DenseHistogram(histogram_of(unpack(value[HEADER_SIZE:])))
    count = estimate(state.histogram)
    cached = count.to_bytes(8, "little")
    if type(state) is Sparse:
        state.header[8:16] = cached
    new = value[:8] + cached + value[HEADER_SIZE:]
    _remember(new, state)
    return count, new


def union_cardinality(values: Iterable[bytes]) -> int:
    """PFCOUNT of several keys: the estimate of their register-wise maximum."""
    return estimate(histogram_of(union(values)[0]))


def union(values: Iterable[bytes]) -> tuple[bytes, bool]:
    """(register-wise maximum of the strings, one byte per register; whether any was dense)."""
    merged = bytes(REGISTERS)
    dense = False
    for value in values:
        raw = registers(value)
        if raw is None:
            raise CorruptHLLError()
        dense = dense or value[4] == DENSE
        merged = register_max(merged, raw)
    return merged, dense


def merge(dest: bytes | None, merged: bytes, dense: bool, max_bytes: int) -> bytes:
    """PFMERGE: the destination string (None: a new one) once its registers are `merged` (which
    already includes them); it turns dense when a source was dense, as Redis's target does."""
    target = EMPTY if dest is None else dest
    if dense or target[4] == DENSE:
        return stale(_dense_value(target, merged))
    state = _take(target)
    if type(state) is not Sparse:
        state = Sparse(target)
    for found in re.finditer(rb"[^\x00]", merged):
        index = found.start()
        if state.set(index, merged[index], max_bytes) == PROMOTE:
            return stale(_dense_value(state.header, merged))
    state.header[15] |= STALE
    new = state.value()
    _remember(new, state)
    return new


def to_dense(value: bytes) -> bytes:
    """The string in the dense encoding (the same object if already dense); CorruptHLLError if corrupt."""
    if value[4] == DENSE:
        return value
    raw = _sparse(value).registers()
    if raw is None:
        raise CorruptHLLError()
    return _dense_value(value, raw)


def decode(value: bytes) -> bytes:
    return _sparse(value).decode()
