"""SORT and SORT_RO: the elements of a list, set or sorted set, ordered (or not), fetched, stored.

The options and their quirks are Redis's sort.c: BY with a pattern sorts by other keys (``w_*``) or
hash fields (``h_*->f``), BY without ``*`` skips sorting; GET ``#`` is the element itself and GET
patterns read other keys; numbers are read with C's strtod and a value it cannot read fails the
command; ALPHA compares bytes up to the first NUL (strcoll in the C locale) unless the result is
STOREd, where whole values are compared.  Both commands read keys named by their arguments' contents,
so the table marks them movablekeys, and STORE is found by :func:`sort_keys`.
"""

from __future__ import annotations

from collections import deque
from itertools import islice
from typing import Any

from .. import errors
from ..engine.numbers import C_SPACE, strtod
from ..engine.zset import ZSet
from ..errors import CommandError, SyntaxErrorReply, WrongTypeError
from ..resp import EMPTY_ARRAY, ZERO, bulk
from .bitmaps import int_arg
from .registry import command

SMALLEST_NORMAL = 2.2250738585072014e-308  # glibc's strtod reports ERANGE below it


class Sort:
    """One SORT request, parsed."""

    __slots__ = ("alpha", "by", "count", "descending", "dont_sort", "gets", "offset", "store")

    def __init__(self) -> None:
        self.descending = False
        self.alpha = False
        self.by: bytes | None = None
        self.dont_sort = False
        self.offset = 0
        self.count = -1
        self.gets: list[bytes] = []
        self.store: bytes | None = None


def _c_string(raw: bytes) -> bytes:
    """What C string functions see of a value: the bytes before the first NUL."""
    end = raw.find(b"\x00")
    return raw if end < 0 else raw[:end]


def parse(args: list[bytes], read_only: bool) -> Sort:
    request = Sort()
    position = 2
    argc = len(args)
    while position < argc:
        left = argc - position - 1
        option = args[position].lower()
        if option == b"asc":
            request.descending = False
        elif option == b"desc":
            request.descending = True
        elif option == b"alpha":
            request.alpha = True
        elif option == b"limit" and left >= 2:
            request.offset = int_arg(args[position + 1])
            request.count = int_arg(args[position + 2])
            position += 2
        elif option == b"store" and left >= 1 and not read_only:
            request.store = args[position + 1]
            position += 1
        elif option == b"by" and left >= 1:
            request.by = args[position + 1]
            if b"*" not in _c_string(request.by):
                request.dont_sort = True  # BY nosort: and it stays so, whatever BY follows
            position += 1
        elif option == b"get" and left >= 1:
            request.gets.append(args[position + 1])
            position += 1
        else:
            raise SyntaxErrorReply()
        position += 1
    return request


def sort_keys(args: list[bytes]) -> list[int]:
    """The key positions of a SORT request: the sorted key and the last STORE's (sortGetKeys)."""
    skips = {b"limit": 2, b"get": 1, b"by": 1}
    store = None
    position = 2
    while position < len(args):
        option = args[position].lower()
        if option in skips:
            position += skips[option]
        elif option == b"store" and position + 1 < len(args):
            store = position + 1  # Redis does not skip the key itself
        position += 1
    return [1] if store is None else [1, store]


# -- patterns --------------------------------------------------------------------------------------


def lookup_pattern(db: Any, pattern: bytes, element: bytes) -> bytes | None:
    """The value a BY or GET pattern names for `element`: a string key, or a hash field after ``->``."""
    text = _c_string(pattern)
    if text == b"#":
        return element
    star = text.find(b"*")
    if star < 0:
        return None
    arrow = text.find(b"->", star + 1)
    if arrow >= 0 and arrow + 2 < len(text):
        key = pattern[:star] + element + pattern[star + 1 : arrow]
        value = db.lookup(key)
        if type(value) is not dict:
            return None
        return value.get(pattern[arrow + 2 :])
    value = db.lookup(pattern[:star] + element + pattern[star + 1 :])
    return value if type(value) is bytes else None


def sort_number(raw: bytes) -> float | None:
    """A value read as SORT reads it: strtod over the C string; None when Redis refuses it."""
    text = _c_string(raw)
    if not text:
        return 0.0  # nothing to read: strtod stops at once, on the terminating NUL
    parsed = strtod(text.lstrip(C_SPACE))
    if parsed is None or parsed[1]:
        return None
    value = parsed[0]
    if value != value or (value != 0.0 and abs(value) < SMALLEST_NORMAL):
        return None  # NaN, or a subnormal result, for which strtod sets ERANGE
    return value


# -- the elements ----------------------------------------------------------------------------------


def _window(request: Sort, length: int) -> tuple[int, int]:
    """LIMIT as Redis applies it: [start, end] positions of the sorted elements, end < start if none."""
    start = max(request.offset, 0)
    end = length - 1 if request.count < 0 else start + request.count - 1
    if start >= length:
        start, end = length - 1, length - 2
    return start, min(end, length - 1)


def _elements(source: Any, request: Sort) -> list[bytes]:
    if source is None:
        return []
    if type(source) is deque:
        return list(source)
    if type(source) is set:
        return list(source)
    return [member for _, member in source.index]


def _in_native_order(source: Any, request: Sort, start: int, end: int) -> list[bytes]:
    """A list's or sorted set's own order (reversed by DESC), cut to the window: BY nosort."""
    if end < start or source is None:
        return []
    if type(source) is deque:
        return list(islice(reversed(source) if request.descending else source, start, end + 1))
    if request.descending:  # positions counted from the highest score
        start, end = len(source) - 1 - end, len(source) - 1 - start
    return [member for _, member in source.pairs(start, end + 1, reverse=request.descending)]


def _sorted(db: Any, elements: list[bytes], request: Sort) -> list[bytes]:
    """`elements` in SORT order; CommandError when a value cannot be read as a number."""
    by = request.by
    descending = request.descending
    if request.alpha:
        whole = request.store is not None  # a stored result compares whole values, binary
        if by is None:
            keyed = elements if whole else [_c_string(element) for element in elements]
            order = sorted(range(len(elements)), key=keyed.__getitem__, reverse=descending)
            return [elements[i] for i in order]
        values = [lookup_pattern(db, by, element) for element in elements]
        # A missing value sorts before every present one.
        keys = [(0, b"") if v is None else (1, v if whole else _c_string(v)) for v in values]
        order = sorted(range(len(elements)), key=keys.__getitem__, reverse=descending)
        return [elements[i] for i in order]
    scores = []
    for element in elements:
        if by is None:
            value: bytes | None = element
        else:
            value = lookup_pattern(db, by, element)
            if value is None:
                scores.append((0.0, element))  # a missing weight counts 0
                continue
        score = sort_number(value)
        if score is None:
            raise CommandError(errors.SORT_NOT_DOUBLE)
        scores.append((score, element))
    # Equal scores fall back to comparing the elements, so the order is total.
    scores.sort(reverse=descending)
    return [element for _, element in scores]


def _sort(client: Any, args: list[bytes], read_only: bool) -> bytes:
    request = parse(args, read_only)
    db = client.db
    source = db.lookup(args[1])
    kind = type(source)
    if source is not None and kind is not deque and kind is not set and kind is not ZSet:
        raise WrongTypeError()
    stored = request.store is not None or getattr(client, "in_script", False)
    if request.dont_sort and kind is set and stored:
        # A set has no order of its own: what is stored (or replicated from a script) gets one.
        request.dont_sort = False
        request.alpha = True
        request.by = None
    if kind is ZSet:
        source.compact = False  # Redis converts a listpack sorted set to a skiplist to sort it
    length = 0 if source is None else len(source)
    start, end = _window(request, length)
    if request.dont_sort and kind is not set:
        chosen = _in_native_order(source, request, start, end)
    else:
        elements = _elements(source, request)
        if not request.dont_sort:
            elements = _sorted(db, elements, request)
        chosen = elements[start : end + 1] if end >= start else []
    if request.store is not None:
        return _store(db, request, chosen)
    return _reply(client, db, request, chosen)


def _fetched(db: Any, request: Sort, chosen: list[bytes]) -> list[bytes | None]:
    if not request.gets:
        return list(chosen)
    return [lookup_pattern(db, pattern, element) for element in chosen for pattern in request.gets]


def _reply(client: Any, db: Any, request: Sort, chosen: list[bytes]) -> bytes:
    values = _fetched(db, request, chosen)
    if not values:
        return EMPTY_ARRAY
    null = client.resp.null
    parts = [b"*%d\r\n" % len(values)]
    parts.extend(null if value is None else bulk(value) for value in values)
    return b"".join(parts)


def _store(db: Any, request: Sort, chosen: list[bytes]) -> bytes:
    values = [b"" if value is None else value for value in _fetched(db, request, chosen)]
    destination = request.store
    if not values:
        db.delete(destination, "del")
        return ZERO
    db.set(destination, deque(values), None, "sortstore")  # a new list, without the old key's deadline
    return b":%d\r\n" % len(values)


@command(
    "sort",
    -2,
    "write denyoom movablekeys",
    1,
    1,
    group="generic",
    since="1.0.0",
    summary="Sort the elements in a list, set or sorted set",
    find_keys=sort_keys,
)
def sort(client, args):
    return _sort(client, args, False)


@command(
    "sort_ro",
    -2,
    "readonly movablekeys",
    1,
    1,
    group="generic",
    since="7.0.0",
    summary="Sort the elements in a list, set or sorted set. Read-only variant of SORT.",
)
def sort_ro(client, args):
    return _sort(client, args, True)
