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
    out = bytearray(1)  # the control byte of the first literal run, filled in when the run ends
    control = 0  # position of the open run's control byte
    literals = 0
    table: dict[int, int] = {}
    position = 0
    end = size - 2
    while position < end:
        prefix = data[position] << 16 | data[position + 1] << 8 | data[position + 2]
        slot = ((prefix >> 8) - prefix * 5) & 0xFFFF
        candidate = table.get(slot, 0)
        table[slot] = position
        offset = position - candidate - 1
        if (
            candidate
            and offset < MAX_OFFSET
            and data[candidate] == data[position]
            and data[candidate + 1] == data[position + 1]
            and data[candidate + 2] == data[position + 2]
        ):
            # Close the literal run (dropping its control byte if it is empty).
            if literals:
                out[control] = literals - 1
            else:
                del out[-1]
            if len(out) + 4 >= limit:
                return None
            length = _match_length(data, candidate, position, min(size - position - 2, MAX_REFERENCE))
            length -= 2  # stored as the bytes copied minus 2
            if length < 7:
                out.append((offset >> 8) + (length << 5))
            else:
                out.append((offset >> 8) + (7 << 5))
                out.append(length - 7)
            out.append(offset & 0xFF)
            control = len(out)
            out.append(0)
            literals = 0
            position += length + 2
            if position >= end:
                break
            # Only the last two positions of the match enter the table.
            for back in (position - 2, position - 1):
                prefix = data[back] << 16 | data[back + 1] << 8 | data[back + 2]
                table[((prefix >> 8) - prefix * 5) & 0xFFFF] = back
        else:
            if len(out) >= limit:
                return None
            literals += 1
            out.append(data[position])
            position += 1
            if literals == MAX_LITERAL:
                out[control] = MAX_LITERAL - 1
                control = len(out)
                out.append(0)
                literals = 0
    if len(out) + 3 > limit:
        return None
    while position < size:
        literals += 1
        out.append(data[position])
        position += 1
        if literals == MAX_LITERAL:
            out[control] = MAX_LITERAL - 1
            control = len(out)
            out.append(0)
            literals = 0
    if literals:
        out[control] = literals - 1
    else:
        del out[-1]
    return bytes(out)


def _match_length(data: bytes, candidate: int, position: int, longest: int) -> int:
    """How many bytes from `position` repeat those from `candidate`, as liblzf counts them: the first
    16 past the 3 known ones are compared even when that passes `longest`."""
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
