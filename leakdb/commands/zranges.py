"""The ZRANGE family: ranges by rank, score or lex, forwards or in reverse, with LIMIT and WITHSCORES,
and ZRANGESTORE.  One parser (:class:`RangeRequest`, Redis's zrangeGenericCommand) serves all eight.
"""

from __future__ import annotations

from .. import errors
from ..engine.encodings import LIMITS
from ..engine.zset import ZSet
from ..errors import CommandError, SyntaxErrorReply
from ..resp import EMPTY_ARRAY
from .registry import command
from .scores import members_reply, pairs_reply
from .zsets import lex_range, long_arg, rank_span, score_range, store

# -- the ZRANGE family -----------------------------------------------------------------------------

BY_RANK, BY_SCORE, BY_LEX = "rank", "score", "lex"


def _limit(start: int, stop: int, offset: int, limit: int, length: int) -> tuple[int, int]:
    """Narrow a span to LIMIT offset count (offsets counted in the direction of the walk)."""
    if offset < 0 or (offset > 0 and offset >= length):
        return 0, 0
    available = stop - start - offset
    take = available if limit < 0 else min(limit, available)
    if take <= 0:
        return 0, 0
    return offset, offset + take


class RangeRequest:
    """A parsed ZRANGE-style request (zrangeGenericCommand's options and range)."""

    __slots__ = ("by", "high", "limit", "low", "offset", "reverse", "withscores")

    def __init__(self, args: list[bytes], first: int, by: str | None, reverse: bool | None, storing: bool):
        self.withscores = False
        self.offset, self.limit = 0, -1
        i = first + 3
        while i < len(args):
            option = args[i].lower()
            if not storing and option == b"withscores":
                self.withscores = True
            elif option == b"limit" and len(args) - i - 1 >= 2:
                self.offset, self.limit = long_arg(args[i + 1]), long_arg(args[i + 2])
                i += 2
            elif reverse is None and option == b"rev":
                reverse = True
            elif by is None and option in (b"bylex", b"byscore"):
                by = BY_LEX if option == b"bylex" else BY_SCORE
            else:
                raise SyntaxErrorReply()
            i += 1
        self.by = by or BY_RANK
        self.reverse = bool(reverse)
        if self.limit != -1 and self.by == BY_RANK:
            raise CommandError(errors.LIMIT_NEEDS_BY)
        if self.withscores and self.by == BY_LEX:
            raise CommandError(errors.WITHSCORES_BYLEX)
        low, high = args[first + 1], args[first + 2]
        if self.reverse and self.by != BY_RANK:
            low, high = high, low  # given as max, min
        if self.by == BY_RANK:
            self.low, self.high = long_arg(low), long_arg(high)
        elif self.by == BY_SCORE:
            bounds = score_range(low, high)
            self.low, self.high = bounds[:2], bounds[2:]
        else:
            self.low, self.high = lex_range(low, high)

    def pairs(self, zset: ZSet) -> list[tuple[float, bytes]]:
        """The (score, member) pairs the request selects, in reply order."""
        length = len(zset)
        if self.by == BY_RANK:
            start, stop = rank_span(self.low, self.high, length)
            if self.reverse:
                start, stop = length - stop, length - start
            return list(zset.pairs(start, stop, self.reverse))
        if self.by == BY_SCORE:
            start, stop = zset.score_span(*self.low, *self.high)
        else:
            start, stop = zset.lex_span(self.low, self.high, self.reverse)
        skip, end = _limit(start, stop, self.offset, self.limit, length)
        if self.reverse:
            return list(zset.pairs(stop - end, stop - skip, True))
        return list(zset.pairs(start + skip, start + end))


def _range(client, args, by: str | None = None, reverse: bool | None = None) -> bytes:
    request = RangeRequest(args, 1, by, reverse, storing=False)
    zset = client.db.get_typed(args[1], ZSet)
    if zset is None:
        return EMPTY_ARRAY
    return pairs_reply(client.resp, request.pairs(zset), request.withscores)


@command(
    "zrange",
    -4,
    "readonly",
    1,
    1,
    group="sorted-set",
    since="1.2.0",
    summary="Return a range of members in a sorted set",
)
def zrange(client, args):
    if len(args) == 4:
        # "ZRANGE key start stop": a rank range with no options needs none of RangeRequest's parsing.
        low, high = long_arg(args[2]), long_arg(args[3])
        zset = client.db.get_typed(args[1], ZSet)
        if zset is None:
            return EMPTY_ARRAY
        start, stop = rank_span(low, high, len(zset))
        return members_reply([member for _, member in zset.index.islice(start, stop)])
    return _range(client, args)


@command(
    "zrangebyscore",
    -4,
    "readonly",
    1,
    1,
    group="sorted-set",
    since="1.0.5",
    summary="Return a range of members in a sorted set, by score",
)
def zrangebyscore(client, args):
    return _range(client, args, BY_SCORE, False)


@command(
    "zrevrangebyscore",
    -4,
    "readonly",
    1,
    1,
    group="sorted-set",
    since="2.2.0",
    summary="Return a range of members in a sorted set, by score, with scores ordered from high to low",
)
def zrevrangebyscore(client, args):
    return _range(client, args, BY_SCORE, True)


@command(
    "zrevrange",
    -4,
    "readonly",
    1,
    1,
    group="sorted-set",
    since="1.2.0",
    summary="Return a range of members in a sorted set, by index, with scores ordered from high to low",
)
def zrevrange(client, args):
    return _range(client, args, BY_RANK, True)


@command(
    "zrangebylex",
    -4,
    "readonly",
    1,
    1,
    group="sorted-set",
    since="2.8.9",
    summary="Return a range of members in a sorted set, by lexicographical range",
)
def zrangebylex(client, args):
    return _range(client, args, BY_LEX, False)


@command(
    "zrevrangebylex",
    -4,
    "readonly",
    1,
    1,
    group="sorted-set",
    since="2.8.9",
    summary="Return a range of members in a sorted set, by lexicographical range, from higher to lower",
)
def zrevrangebylex(client, args):
    return _range(client, args, BY_LEX, True)


@command(
    "zrangestore",
    -5,
    "write denyoom",
    1,
    2,
    group="sorted-set",
    since="6.2.0",
    summary="Store a range of members from sorted set into another key",
)
def zrangestore(client, args):
    request = RangeRequest(args, 2, None, None, storing=True)
    db = client.db
    source = db.get_typed(args[2], ZSet)
    pairs = [] if source is None else request.pairs(source)
    # Redis starts the result as a listpack unless a rank range says it will not fit.
    target = ZSet(compact=request.by != BY_RANK or len(pairs) <= LIMITS.zset_max_listpack_entries)
    for score, member in pairs:
        target.add(member, score)
    return store(db, args[1], target, "zrangestore")
