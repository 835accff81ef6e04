"""LCS: the longest common subsequence of two strings, its length, and the matching ranges (IDX).

Redis fills the whole (len(a)+1) x (len(b)+1) table and walks back from its corner.  Filling it cell by
cell in Python would take minutes where Redis takes a second, so the table is held as bit vectors, one
per position of the shorter string (Hyyro's bit-parallel LCS: a row costs a few big-integer
operations), and read back with popcounts.  The walk back takes exactly Redis's path, so the LCS
string and the ranges are the ones Redis replies with, not merely a valid LCS.
"""

from __future__ import annotations

from typing import Any

from .. import errors
from ..errors import CommandError, SyntaxErrorReply
from ..resp import bulk
from .bitmaps import int_arg, max_bulk
from .registry import command


def _masks(text: bytes, wanted: set[int]) -> dict[int, int]:
    """For each byte in `wanted`, the integer whose bit k is set where ``text[k]`` is that byte."""
    masks = {}
    for byte in wanted:
        table = bytearray(b"0" * 256)
        table[byte] = ord("1")
        marks = text.translate(table)[::-1]  # int(..., 2) reads the most significant digit first
        masks[byte] = int(marks, 2) if marks else 0
    return masks


def lcs_vectors(rows: bytes, columns: bytes, keep: bool) -> tuple[int, list[bytes], dict[int, int]]:
    """The LCS length of `rows` and `columns`; with `keep`, every row of the table and the match masks.

    Row i (after i bytes of `rows`) is a bit string over the positions of `columns`: bit k is set
    where the LCS grows by one from column k to column k+1.  Each row is kept as little-endian bytes
    so the walk back can read one bit in O(1).  A mask has bit k set where ``columns[k]`` is its byte.
    """
    width = len(columns)
    full = (1 << width) - 1
    masks = _masks(columns, set(rows))
    vector = full  # the complement of row 0: no increments anywhere
    kept = [bytes((width + 7) >> 3)] if keep else []
    size = (width + 7) >> 3
    for byte in rows:
        matches = vector & masks[byte]
        vector = ((vector + matches) | (vector - matches)) & full
        if keep:
            kept.append((~vector & full).to_bytes(size, "little"))
    return width - vector.bit_count(), kept, masks


def _bit(row: bytes, k: int) -> int:
    return row[k >> 3] >> (k & 7) & 1


def _prefix(row: bytes, k: int) -> int:
    """The table's value at column k of this row: the increments before position k."""
    count = int.from_bytes(row[: k >> 3], "little").bit_count()
    if k & 7:
        count += (row[k >> 3] & ((1 << (k & 7)) - 1)).bit_count()
    return count


def _last_stop(stops: int, below: int) -> int:
    """The highest set bit of `stops` under position `below`, or -1."""
    return (stops & ((1 << below) - 1)).bit_length() - 1


# Consecutive steps along a row before the walk jumps to the end of the run with bit operations.  A
# run's length is found in O(row/64); stepping costs O(1) each, so short runs are stepped.
JUMP_AFTER = 32


def walk_back(a: bytes, b: bytes) -> list[tuple[int, int]]:
    """The matched positions (i in a, j in b) along Redis's path, from the ends of the strings back.

    Redis steps back in a when LCS(i-1, j) > LCS(i, j-1) and in b otherwise.  The rows of the table
    run over the shorter string's positions so that the long steps along a row cost O(1); a step
    across rows recounts one row prefix.  A long run of steps along a row keeps both LCS values, and
    ends at the first position where a bit of the row (or the row before) is set or the bytes
    match, so it is crossed in one jump.
    """
    if not a or not b:
        return []
    if len(a) <= len(b):
        return _walk_rows_over_a(a, b)
    return _walk_rows_over_b(a, b)


def _walk_rows_over_a(a: bytes, b: bytes) -> list[tuple[int, int]]:
    _, rows, masks = lcs_vectors(a, b, keep=True)
    i, j = len(a), len(b)
    here, up = rows[i], rows[i - 1]
    value, value_up = _prefix(here, j), _prefix(up, j)  # LCS(i, j) and LCS(i-1, j)
    matched = []
    streak = 0
    while i > 0 and j > 0:
        if a[i - 1] == b[j - 1]:
            matched.append((i - 1, j - 1))
            value = value_up - _bit(up, j - 1)
            i -= 1
            j -= 1
        else:
            left = value - _bit(here, j - 1)  # LCS(i, j-1)
            if value_up > left:
                value = value_up
                i -= 1
            else:
                value = left
                value_up -= _bit(up, j - 1)
                j -= 1
                streak += 1
                if streak >= JUMP_AFTER:
                    # Steps go on while the bytes differ and row i has no increment there (nor
                    # row i-1, when the two rows are level): the values stay as they are.
                    stops = int.from_bytes(here, "little") | masks[a[i - 1]]
                    if value == value_up:
                        stops |= int.from_bytes(up, "little")
                    j = _last_stop(stops, j) + 1
                    streak = 0
                continue
        streak = 0
        if i > 0:
            here, up = up, rows[i - 1]
            value_up = _prefix(up, j)
    return matched


def _walk_rows_over_b(a: bytes, b: bytes) -> list[tuple[int, int]]:
    _, columns, masks = lcs_vectors(b, a, keep=True)  # columns[j]: bits over the positions of a
    i, j = len(a), len(b)
    here, left_column = columns[j], columns[j - 1]
    value, value_left = _prefix(here, i), _prefix(left_column, i)  # LCS(i, j) and LCS(i, j-1)
    matched = []
    streak = 0
    while i > 0 and j > 0:
        if a[i - 1] == b[j - 1]:
            matched.append((i - 1, j - 1))
            value = value_left - _bit(left_column, i - 1)
            i -= 1
            j -= 1
        else:
            up = value - _bit(here, i - 1)  # LCS(i-1, j)
            if up > value_left:
                value = up
                value_left -= _bit(left_column, i - 1)
                i -= 1
                streak += 1
                if streak >= JUMP_AFTER:
                    # Steps go on while the bytes differ and column j has no increment there.
                    i = _last_stop(int.from_bytes(here, "little") | masks[b[j - 1]], i) + 1
                    streak = 0
                continue
            value = value_left
            j -= 1
        streak = 0
        if j > 0:
            here, left_column = left_column, columns[j - 1]
            value_left = _prefix(left_column, i)
    return matched


def ranges(matched: list[tuple[int, int]]) -> list[tuple[int, int, int, int]]:
    """Runs of consecutive matches as (a_start, a_end, b_start, b_end), in the order Redis emits them."""
    found: list[tuple[int, int, int, int]] = []
    for i, j in matched:
        if found and found[-1][0] == i + 1 and found[-1][2] == j + 1:
            _, a_end, _, b_end = found[-1]
            found[-1] = (i, a_end, j, b_end)
        else:
            found.append((i, i, j, j))
    return found


def _options(args: list[bytes]) -> tuple[bool, bool, bool, int]:
    get_len = get_idx = with_match_len = False
    min_match_len = 0
    position = 3
    while position < len(args):
        option = args[position].lower()
        if option == b"idx":
            get_idx = True
        elif option == b"len":
            get_len = True
        elif option == b"withmatchlen":
            with_match_len = True
        elif option == b"minmatchlen" and position + 1 < len(args):
            min_match_len = max(int_arg(args[position + 1]), 0)
            position += 1
        else:
            raise SyntaxErrorReply()
        position += 1
    if get_idx and get_len:
        raise CommandError(errors.LCS_IDX_AND_LEN)
    return get_len, get_idx, with_match_len, min_match_len


@command("lcs", -3, "readonly", 1, 2, group="string", since="7.0.0", summary="Find longest common substring")
def lcs(client, args):
    db = client.db
    a, b = db.lookup(args[1]), db.lookup(args[2])
    if (a is not None and type(a) is not bytes) or (b is not None and type(b) is not bytes):
        raise CommandError(errors.LCS_NOT_STRINGS)
    a = a or b""
    b = b or b""
    get_len, get_idx, with_match_len, min_match_len = _options(args)
    if (len(a) + 1) * (len(b) + 1) * 4 > max_bulk(client):  # the table Redis would allocate
        raise CommandError(errors.LCS_TABLE_TOO_BIG)
    if get_len:
        shorter, longer = (a, b) if len(a) <= len(b) else (b, a)
        length, _, _ = lcs_vectors(shorter, longer, keep=False)
        return b":%d\r\n" % length
    matched = walk_back(a, b)
    if not get_idx:
        return bulk(bytes(a[i] for i, _ in reversed(matched)))
    return _idx_reply(client, matched, with_match_len, min_match_len)


def _idx_reply(client: Any, matched: list[tuple[int, int]], with_match_len: bool, min_length: int) -> bytes:
    entries = []
    for a_start, a_end, b_start, b_end in ranges(matched):
        length = a_end - a_start + 1
        if min_length and length < min_length:
            continue
        entry = b"*%d\r\n*2\r\n:%d\r\n:%d\r\n*2\r\n:%d\r\n:%d\r\n" % (
            3 if with_match_len else 2,
            a_start,
            a_end,
            b_start,
            b_end,
        )
        entries.append(entry + b":%d\r\n" % length if with_match_len else entry)
    head = b"%2\r\n" if client.resp.resp3 else b"*4\r\n"
    return b"".join(
        (head, b"$7\r\nmatches\r\n*%d\r\n" % len(entries), *entries, b"$3\r\nlen\r\n:%d\r\n" % len(matched))
    )
