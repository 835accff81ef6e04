"""The sorted set type: members with float scores, ordered by (score, member) as Redis orders them.

A :class:`ZSet` keeps a member -> score dict for O(1) score lookups and a ``SortedList`` of
``(score, member)`` pairs, so ranks, rank ranges and score ranges cost O(log n) plus the items they
return.  The type registers itself with the keyspace (``TYPE`` says "zset") and with persistence.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

from sortedcontainers import SortedList

from .encodings import LIMITS
from .keyspace import TYPE_NAMES

# Redis 7.0 keeps a sorted set of at most this many members, none longer than this, in a listpack.

Pair = tuple[float, bytes]  # (score, member): the order of the index


class ZSet:
    """A Redis sorted set.

    ``compact`` mirrors Redis's listpack encoding, which shows through in three places: OBJECT
    ENCODING, ZSCAN replies (a listpack is returned whole, in order, integral scores as integers),
    and -0.0, which a listpack stores as the integer 0.  Like Redis, a set never becomes compact
    again once it has outgrown the listpack, except when it is written anew (stores, loading).
    """

    __slots__ = ("compact", "index", "scan_order", "scores")

    def __init__(self, compact: bool = True) -> None:
        self.scores: dict[bytes, float] = {}
        self.index: SortedList = SortedList()
        self.compact = compact
        self.scan_order = None  # the member order of a ZSCAN in progress (see commands.zsets)

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[bytes, float]]) -> ZSet:
        """A set holding (member, score) pairs, encoded as Redis encodes a set it writes whole."""
        zset = cls(compact=False)
        scores = dict(pairs)
        zset.scores = scores
        zset.index = SortedList((score, member) for member, score in scores.items())
        zset.fit_listpack()
        return zset

    def __len__(self) -> int:
        return len(self.scores)

    def __iter__(self) -> Iterator[bytes]:
        """The members in ascending order (the order ZSCAN returns a compact set in)."""
        return (member for _, member in self.index)

    def __contains__(self, member: object) -> bool:
        return member in self.scores

    def __repr__(self) -> str:
        return f"ZSet({[(member, score) for score, member in self.index]!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ZSet) and self.scores == other.scores

    __hash__ = None  # type: ignore[assignment]  (mutable)

    def copy(self) -> ZSet:
        duplicate = ZSet(self.compact)
        duplicate.scores = self.scores.copy()
        duplicate.index = SortedList(self.index)
        return duplicate

    # -- reading -------------------------------------------------------------------------------------

    def score(self, member: bytes) -> float | None:
        return self.scores.get(member)

    def rank(self, member: bytes) -> int | None:
        """0-based position of `member` in ascending order, or None."""
        score = self.scores.get(member)
        if score is None:
            return None
        return self.index.index((score, member))

    def pairs(self, start: int, stop: int, reverse: bool = False) -> Iterator[Pair]:
        """(score, member) of positions start..stop-1, highest position first when `reverse`."""
        return self.index.islice(start, stop, reverse=reverse)

    def score_span(self, low: float, low_open: bool, high: float, high_open: bool) -> tuple[int, int]:
        """Positions [start, stop) of the members whose score lies in the range."""
        index = self.index
        if low_open:
            start = len(index) if low == math.inf else index.bisect_left((math.nextafter(low, math.inf),))
        else:
            start = index.bisect_left((low,))
        if high_open:
            stop = index.bisect_left((high,))
        else:
            stop = len(index) if high == math.inf else index.bisect_left((math.nextafter(high, math.inf),))
        return start, max(start, stop)

    def lex_span(self, low: LexBound, high: LexBound, reverse: bool = False) -> tuple[int, int]:
        """Positions [start, stop) of the members in the lex range.

        Lex ranges are defined for sets whose members all have one score; there they are a bisection.
        With mixed scores Redis's listpack walk is followed instead: forwards from the first member at
        or above `low` while members stay at or below `high` (backwards from the last member at or
        below `high` when `reverse`), which costs O(n) but gives the answer Redis gives.
        """
        index = self.index
        if not index or lex_range_empty(low, high):
            return 0, 0
        if index[0][0] == index[-1][0]:
            score = index[0][0]
            start = _lex_position(index, low, score, True)
            stop = _lex_position(index, high, score, False)
            return start, max(start, stop)
        return _lex_walk([member for _, member in index], low, high, reverse)

    # -- writing -------------------------------------------------------------------------------------

    def add(self, member: bytes, score: float) -> None:
        """Insert `member` or move it to `score`."""
        scores = self.scores
        if self.compact:
            outgrown = (
                len(scores) >= LIMITS.zset_max_listpack_entries
                or len(member) > LIMITS.zset_max_listpack_value
            )
            if outgrown and member not in scores:
                self.compact = False
            elif score == 0.0:
                score = 0.0  # a listpack stores -0.0 as the integer 0
        old = scores.get(member)
        if old is not None:
            if old == score:
                return  # Redis keeps the stored score, so -0.0 does not replace 0.0
            self.index.remove((old, member))
        scores[member] = score
        self.index.add((score, member))

    def remove(self, member: bytes) -> bool:
        score = self.scores.pop(member, None)
        if score is None:
            return False
        self.index.remove((score, member))
        return True

    def remove_span(self, start: int, stop: int) -> int:
        """Remove the members at positions [start, stop); return how many went."""
        if stop <= start:
            return 0
        index = self.index
        scores = self.scores
        for _, member in index.islice(start, stop):
            del scores[member]
        del index[start:stop]
        return stop - start

    def pop(self, count: int, highest: bool) -> list[Pair]:
        """Remove and return up to `count` members from the low end (or the high end)."""
        index = self.index
        count = min(count, len(index))
        if highest:
            taken = list(index.islice(len(index) - count, len(index), reverse=True))
            del index[len(index) - count :]
        else:
            taken = list(index.islice(0, count))
            del index[:count]
        scores = self.scores
        for _, member in taken:
            del scores[member]
        return taken

    def fit_listpack(self) -> None:
        """Take the listpack encoding if the set fits it, as Redis does when it writes a set whole."""
        limit = LIMITS.zset_max_listpack_value
        if len(self.scores) <= LIMITS.zset_max_listpack_entries and all(
            len(member) <= limit for member in self.scores
        ):
            self.compact = True
            if any(score == 0.0 and math.copysign(1.0, score) < 0 for score in self.scores.values()):
                self.scores = {member: (score or 0.0) for member, score in self.scores.items()}
                self.index = SortedList((score, member) for member, score in self.scores.items())
        else:
            self.compact = False


# -- lex ranges ------------------------------------------------------------------------------------

# A lex range bound: (kind, member, open).  Kind -1 is "-" (below everything), 1 is "+" (above
# everything), 0 a member given as "[member" (open False) or "(member" (open True).
LexBound = tuple[int, bytes, bool]


def lex_compare(a: LexBound, b: LexBound) -> int:
    """Redis's sdscmplex: "-" and "+" below and above every member."""
    if a[0] == b[0] and a[0] != 0:
        return 0
    if a[0] == -1 or b[0] == 1:
        return -1
    if a[0] == 1 or b[0] == -1:
        return 1
    return (a[1] > b[1]) - (a[1] < b[1])


def lex_range_empty(low: LexBound, high: LexBound) -> bool:
    order = lex_compare(low, high)
    return order > 0 or (order == 0 and (low[2] or high[2]))


def above_low(member: bytes, low: LexBound) -> bool:
    kind, value, is_open = low
    if kind:
        return kind < 0
    return member > value if is_open else member >= value


def below_high(member: bytes, high: LexBound) -> bool:
    kind, value, is_open = high
    if kind:
        return kind > 0
    return member < value if is_open else member <= value


def _lex_position(index: SortedList, bound: LexBound, score: float, is_low: bool) -> int:
    kind, value, is_open = bound
    if kind:
        return 0 if kind < 0 else len(index)
    if is_open == is_low:
        return index.bisect_right((score, value))
    return index.bisect_left((score, value))


def _lex_walk(members: list[bytes], low: LexBound, high: LexBound, reverse: bool) -> tuple[int, int]:
    """The listpack walk of a lex range over members of mixed scores (see ZSet.lex_span)."""
    if not above_low(members[-1], low) or not below_high(members[0], high):
        return 0, 0
    if reverse:
        last = len(members) - 1
        while not below_high(members[last], high):
            last -= 1
        first = last + 1
        while first > 0 and above_low(members[first - 1], low):
            first -= 1
        return first, last + 1
    first = 0
    while not above_low(members[first], low):
        first += 1
    stop = first
    while stop < len(members) and below_high(members[stop], high):
        stop += 1
    return first, stop


TYPE_NAMES[ZSet] = "zset"
