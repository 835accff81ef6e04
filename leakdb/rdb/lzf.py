"""LZF, the compression RDB files and DUMP payloads use for strings longer than 20 bytes.

:func:`decompress` reads any valid LZF stream.  :func:`compress` makes the stream Redis's liblzf makes
(a 2**16-slot hash table of 3-byte prefixes, the "very fast" variant that re-hashes only the last two
positions of a match), so LeakDB's DUMP of a value holds the bytes Redis's DUMP would.  liblzf leaves
its table uninitialised between calls; LeakDB starts each call from an empty table, which gives the
same stream except for the rare input where a stale slot of Redis's table would have found a match.

The stream is a sequence of literal runs (a byte ``L`` below 32, then ``L + 1`` bytes) and back
references (``LLLooooo oooooooo`` or ``111ooooo LLLLLLLL oooooooo``: copy length + 2 bytes that start
offset + 1 bytes back).
"""

from __future__ import annotations

from ..errors import BadDataFormatError

MAX_LITERAL = 32  # bytes in one literal run
MAX_OFFSET = 1 << 13  # how far back a reference reaches
MAX_REFERENCE = (1 << 8) + (1 << 3)  # the longest match one reference copies


def compress(data: bytes, limit: int) -> bytes | None:
    """`data` compressed into at most `limit` bytes as liblzf does, or None when it does not fit."""
    size = len(data)
    if not size or limit <= 0:
        return None
    end = size - 2  # positions with three bytes ahead: the ones hashed and matched
    out = bytearray()
    table: dict[int, int] = {}
    lookup = table.get
    start = 0  # the first byte of the literals not written yet
    refused_at = _literal_limit(start, 0, limit)
    literals = _literals
    position = 0
    prefix = data[0] << 8 | data[1] if size > 1 else 0
    while position < end:
        prefix = (prefix << 8 | data[position + 2]) & 0xFFFFFF
        slot = ((prefix >> 8) - prefix * 5) & 0xFFFF
        candidate = lookup(slot, 0)
        table[slot] = position
        # Position 0 is never referred to: liblzf reads a slot holding it as empty.
        if (
            candidate
            and position - candidate <= MAX_OFFSET
            and data[candidate] == data[position]
            and data[candidate + 1] == data[position + 1]
            and data[candidate + 2] == data[position + 2]
        ):
            if position - start <= MAX_LITERAL:
                if position > start:
                    out.append(position - start - 1)
                    out += data[start:position]
            else:
                literals(out, data, start, position)
            if len(out) + 4 >= limit:
                return None
            length = _match_length(data, candidate, position, min(size - position - 2, MAX_REFERENCE))
            length -= 2  # stored as the bytes copied minus 2
            offset = position - candidate - 1
            if length < 7:
                out.append((offset >> 8) + (length << 5))
            else:
                out.append((offset >> 8) + (7 << 5))
                out.append(length - 7)
            out.append(offset & 0xFF)
            position += length + 2
            start = position
            refused_at = _literal_limit(start, len(out), limit)
            if position >= end:
                break
            # Only the last two positions of the match enter the table.
            prefix = data[position - 2] << 16 | data[position - 1] << 8 | data[position]
            table[((prefix >> 8) - prefix * 5) & 0xFFFF] = position - 2
            prefix = (prefix << 8 | data[position + 1]) & 0xFFFFFF
            table[((prefix >> 8) - prefix * 5) & 0xFFFF] = position - 1
        else:
            if position >= refused_at:
                return None
            position += 1
    pending = position - start
    if len(out) + 1 + pending + (pending >> 5) + 3 > limit:
        return None
    _literals(out, data, start, size)
    return bytes(out)


def _literal_limit(start: int, written: int, limit: int) -> int:
    """The position whose literal no longer fits: liblzf gives up before writing a literal when the
    output, counting the control byte of each run of 32 literals, has reached `limit`."""
    room = limit - written - 1  # the open run's control byte counts before its first literal
    # The fewest literals n with n + n // 32 >= room.
    return start + (room - room // 33 if room > 0 else 0)


def _literals(out: bytearray, data: bytes, start: int, stop: int) -> None:
    """Write data[start:stop] as literal runs of at most 32 bytes, each after its control byte."""
    for first in range(start, stop, MAX_LITERAL):
        run = data[first : min(first + MAX_LITERAL, stop)]
        out.append(len(run) - 1)
        out += run


def _match_length(data: bytes, candidate: int, position: int, longest: int) -> int:
    """How many bytes from `position` repeat those from `candidate`, as liblzf counts them: past the 3
    known ones, the next 16 are compared even when that goes beyond `longest`."""
    length = 2
    if longest > 16:
        for _ in range(16):
            length += 1
            if data[candidate + length] != data[position + length]:
                return length
    length += 1
    while length < longest and data[candidate + length] == data[position + length]:
        length += 1
    return length


def decompress(data: bytes, size: int) -> bytes:
    """The `size` bytes an LZF stream holds; BadDataFormatError for a stream that does not hold that."""
    # Each 3 stream bytes make at most MAX_REFERENCE + 2 output bytes: a bound checked before any work.
    if size <= 0 or size > len(data) * (MAX_REFERENCE + 2):
        raise BadDataFormatError()
    out = bytearray()
    index = 0
    count = len(data)
    while index < count:
        control = data[index]
        index += 1
        if control < MAX_LITERAL:
            run = control + 1
            if index + run > count:
                raise BadDataFormatError()
            out += data[index : index + run]
            index += run
        else:
            length = control >> 5
            if length == 7:
                if index >= count:
                    raise BadDataFormatError()
                length += data[index]
                index += 1
            if index >= count:
                raise BadDataFormatError()
            start = len(out) - ((control & 0x1F) << 8) - data[index] - 1
            index += 1
            if start < 0:
                raise BadDataFormatError()
            length += 2
            stop = start + length
            if stop <= len(out):
                out += out[start:stop]
            else:  # the copy overlaps what it writes: a repeating pattern
                pattern = out[start:]
                out += (pattern * (length // len(pattern) + 1))[:length]
        if len(out) > size:
            raise BadDataFormatError()
    if len(out) != size:
        raise BadDataFormatError()
    return bytes(out)
