"""Sorted set commands: ZADD and ZINCRBY, scores, ranks and counts, removal by member and by range,
popping (ZPOPMIN/ZPOPMAX/ZMPOP), ZSCAN and ZRANDMEMBER.

The engine type is :class:`leakdb.zset.ZSet`; :mod:`.scores` reads and writes scores as Redis does.
The ZRANGE family lives in :mod:`.zranges`, union, intersection and difference in :mod:`.zsetops`.
"""

from __future__ import annotations

import math
import random

from .. import errors
from ..engine.encodings import LIMITS
from ..engine.numbers import parse_int, parse_score
from ..engine.zset import LexBound, ZSet
from ..errors import CommandError, NotAnIntegerError, SyntaxErrorReply
from ..resp import EMPTY_ARRAY, ONE, ZERO, bulk
from .members import count_arg, scan_container, scan_reply
from .registry import command
from .scores import (
    format_score,
    listpack_score_text,
    nested_pairs,
    pairs_reply,
    parse_lex_bound,
    parse_score_bound,
    score_reply,
)


def long_arg(raw: bytes) -> int:
    number = parse_int(raw)
    if number is None:
        raise NotAnIntegerError()
    return number


def store(db, key: bytes, zset: ZSet, event: str) -> bytes:
    """Write a computed set to `key` (deleting the key when it is empty) and reply its size."""
    if not zset:
        db.delete(key, "del")
        return ZERO
    db.set(key, zset, None, event)
    return b":%d\r\n" % len(zset)


def after_removal(db, key: bytes, zset: ZSet, removed: int, event: str) -> None:
    """Report members removed from the set at `key`; an emptied set takes its key with it."""
    if not removed:
        return
    if zset:
        db.changed(key, event)
    else:
        db.delete(key, (event, "del"))


# -- ZADD and ZINCRBY ------------------------------------------------------------------------------

NX, XX, GT, LT, CH, INCR = 1, 2, 4, 8, 16, 32
_ZADD_FLAGS = {b"nx": NX, b"xx": XX, b"gt": GT, b"lt": LT, b"ch": CH, b"incr": INCR}


def _zadd_flags(args: list[bytes]) -> tuple[int, int]:
    """The option bits and the position of the first score, checked as zaddGenericCommand does."""
    flags = 0
    position = 2
    while position < len(args):
        flag = _ZADD_FLAGS.get(args[position].lower())
        if flag is None:
            break
        flags |= flag
        position += 1
    remaining = len(args) - position
    if remaining % 2 or not remaining:
        raise SyntaxErrorReply()
    if flags & NX and flags & XX:
        raise CommandError(errors.ZADD_XX_AND_NX)
    if (flags & NX and flags & (GT | LT)) or (flags & GT and flags & LT):
        raise CommandError(errors.ZADD_GT_LT_NX)
    if flags & INCR and remaining > 2:
        raise CommandError(errors.ZADD_INCR_PAIRS)
    return flags, position


def _zadd_one(zset: ZSet, member: bytes, score: float, flags: int) -> tuple[int, float | None]:
    """Apply one score-member pair (zsetAdd): (1 added / 2 updated / 0 neither, new score or None)."""
    current = zset.scores.get(member)
    if current is None:
        if flags & XX:
            return 0, None
        zset.add(member, score)
        return 1, score
    if flags & NX:
        return 0, None
    if flags & INCR:
        score += current
        if math.isnan(score):
            raise CommandError(errors.SCORE_NAN)
    if (flags & LT and score >= current) or (flags & GT and score <= current):
        return 0, None
    if score == current:
        return 0, score
    zset.add(member, score)
    return 2, score


def _starts_compact(member: bytes) -> bool:
    """Whether ZADD creates its sorted set as a listpack (its first member decides, as in Redis)."""
    return LIMITS.zset_max_listpack_entries != 0 and len(member) <= LIMITS.zset_max_listpack_value


def _zadd(client, args: list[bytes], flags: int) -> bytes:
    parsed_flags, position = _zadd_flags(args)
    flags |= parsed_flags
    scores = [parse_score(args[i]) for i in range(position, len(args), 2)]
    db = client.db
    key = args[1]
    zset = db.get_typed(key, ZSet)
    created = zset is None
    if created and not flags & XX:
        zset = ZSet(compact=_starts_compact(args[position + 1]))
    added = updated = 0
    new_score = None
    if zset is not None:
        # Only INCR can fail (NaN), and it has one pair: an error never leaves a half-applied ZADD.
        for score, i in zip(scores, range(position + 1, len(args), 2), strict=True):
            outcome, new_score = _zadd_one(zset, args[i], score, flags)
            added += outcome == 1
            updated += outcome == 2
        event = "zincr" if flags & INCR else "zadd"
        if created:
            db.set(key, zset, None, event if added or updated else None)
        elif added or updated:
            db.changed(key, event)
    if flags & INCR:
        return client.resp.null if new_score is None else score_reply(client.resp, new_score)
    return b":%d\r\n" % (added + updated if flags & CH else added)


@command(
    "zadd",
    -4,
    "write denyoom fast",
    1,
    1,
    group="sorted-set",
    since="1.2.0",
    summary="Add one or more members to a sorted set, or update their scores",
)
def zadd(client, args):
    # The plain "ZADD key score member" form skips the option parser and the per-pair bookkeeping.
    if len(args) == 4 and args[2].lower() not in _ZADD_FLAGS:
        return _zadd_plain(client, args[1], parse_score(args[2]), args[3])
    return _zadd(client, args, 0)


def _zadd_plain(client, key: bytes, score: float, member: bytes) -> bytes:
    """ZADD of one pair with no options: what _zadd does for that case, without its generality."""
    db = client.db
    zset = db.get_typed(key, ZSet)
    if zset is None:
        zset = ZSet(compact=_starts_compact(member))
        zset.add(member, score)
        db.set(key, zset, None, "zadd")
        return ONE
    current = zset.scores.get(member)
    if current is not None and score == current:
        return ZERO
    zset.add(member, score)
    db.changed(key, "zadd")
    return ZERO if current is not None else ONE


@command(
    "zincrby",
    4,
    "write denyoom fast",
    1,
    1,
    group="sorted-set",
    since="1.2.0",
    summary="Increment the score of a member in a sorted set",
)
def zincrby(client, args):
    return _zadd(client, args, INCR)


# -- scores, ranks and counts ----------------------------------------------------------------------


@command(
    "zscore",
    3,
    "readonly fast",
    1,
    1,
    group="sorted-set",
    since="1.2.0",
    summary="Get the score associated with the given member in a sorted set",
)
def zscore(client, args):
    zset = client.db.get_typed(args[1], ZSet)
    score = None if zset is None else zset.scores.get(args[2])
    return client.resp.null if score is None else score_reply(client.resp, score)


@command(
    "zmscore",
    -3,
    "readonly fast",
    1,
    1,
    group="sorted-set",
    since="6.2.0",
    summary="Get the score associated with the given members in a sorted set",
)
def zmscore(client, args):
    zset = client.db.get_typed(args[1], ZSet)
    scores = {} if zset is None else zset.scores
    resp = client.resp
    parts = [b"*%d\r\n" % (len(args) - 2)]
    for member in args[2:]:
        score = scores.get(member)
        parts.append(resp.null if score is None else score_reply(resp, score))
    return b"".join(parts)


@command(
    "zcard",
    2,
    "readonly fast",
    1,
    1,
    group="sorted-set",
    since="1.2.0",
    summary="Get the number of members in a sorted set",
)
def zcard(client, args):
    zset = client.db.get_typed(args[1], ZSet)
    return b":%d\r\n" % (0 if zset is None else len(zset))


def score_range(low_raw: bytes, high_raw: bytes) -> tuple[float, bool, float, bool]:
    low = parse_score_bound(low_raw)
    high = parse_score_bound(high_raw)
    if low is None or high is None:
        raise CommandError(errors.MIN_MAX_NOT_FLOAT)
    return low[0], low[1], high[0], high[1]


def lex_range(low_raw: bytes, high_raw: bytes) -> tuple[LexBound, LexBound]:
    low = parse_lex_bound(low_raw)
    high = parse_lex_bound(high_raw)
    if low is None or high is None:
        raise CommandError(errors.MIN_MAX_NOT_LEX)
    return low, high


@command(
    "zcount",
    4,
    "readonly fast",
    1,
    1,
    group="sorted-set",
    since="2.0.0",
    summary="Count the members in a sorted set with scores within the given values",
)
def zcount(client, args):
    bounds = score_range(args[2], args[3])
    zset = client.db.get_typed(args[1], ZSet)
    if zset is None:
        return ZERO
    start, stop = zset.score_span(*bounds)
    return b":%d\r\n" % (stop - start)


@command(
    "zlexcount",
    4,
    "readonly fast",
    1,
    1,
    group="sorted-set",
    since="2.8.9",
    summary="Count the number of members in a sorted set between a given lexicographical range",
)
def zlexcount(client, args):
    low, high = lex_range(args[2], args[3])
    zset = client.db.get_typed(args[1], ZSet)
    if zset is None:
        return ZERO
    start, stop = zset.lex_span(low, high)
    return b":%d\r\n" % (stop - start)


def _rank(client, args, reverse: bool) -> bytes:
    zset = client.db.get_typed(args[1], ZSet)
    rank = None if zset is None else zset.rank(args[2])
    if rank is None:
        return client.resp.null
    return b":%d\r\n" % (len(zset) - 1 - rank if reverse else rank)


@command(
    "zrank",
    3,
    "readonly fast",
    1,
    1,
    group="sorted-set",
    since="2.0.0",
    summary="Determine the index of a member in a sorted set",
)
def zrank(client, args):
    return _rank(client, args, False)


@command(
    "zrevrank",
    3,
    "readonly fast",
    1,
    1,
    group="sorted-set",
    since="2.0.0",
    summary="Determine the index of a member in a sorted set, with scores ordered from high to low",
)
def zrevrank(client, args):
    return _rank(client, args, True)


# -- ranges ----------------------------------------------------------------------------------------


def rank_span(start: int, end: int, length: int) -> tuple[int, int]:
    """Positions [first, stop) of an inclusive rank range with negative ranks counting from the end."""
    if start < 0:
        start += length
    if end < 0:
        end += length
    start = max(start, 0)
    if start > end or start >= length:
        return 0, 0
    return start, min(end, length - 1) + 1


# -- removing --------------------------------------------------------------------------------------


@command(
    "zrem",
    -3,
    "write fast",
    1,
    1,
    group="sorted-set",
    since="1.2.0",
    summary="Remove one or more members from a sorted set",
)
def zrem(client, args):
    db = client.db
    zset = db.get_typed(args[1], ZSet)
    if zset is None:
        return ZERO
    removed = 0
    for member in args[2:]:
        removed += zset.remove(member)
        if not zset:
            break  # Redis stops at an emptied set
    after_removal(db, args[1], zset, removed, "zrem")
    return b":%d\r\n" % removed


def _remove_span(client, key: bytes, span_of, event: str) -> bytes:
    db = client.db
    zset = db.get_typed(key, ZSet)
    if zset is None:
        return ZERO
    removed = zset.remove_span(*span_of(zset))
    after_removal(db, key, zset, removed, event)
    return b":%d\r\n" % removed


@command(
    "zremrangebyrank",
    4,
    "write",
    1,
    1,
    group="sorted-set",
    since="2.0.0",
    summary="Remove all members in a sorted set within the given indexes",
)
def zremrangebyrank(client, args):
    start, end = long_arg(args[2]), long_arg(args[3])
    return _remove_span(client, args[1], lambda zset: rank_span(start, end, len(zset)), "zremrangebyrank")


@command(
    "zremrangebyscore",
    4,
    "write",
    1,
    1,
    group="sorted-set",
    since="1.2.0",
    summary="Remove all members in a sorted set within the given scores",
)
def zremrangebyscore(client, args):
    bounds = score_range(args[2], args[3])
    return _remove_span(client, args[1], lambda zset: zset.score_span(*bounds), "zremrangebyscore")


@command(
    "zremrangebylex",
    4,
    "write",
    1,
    1,
    group="sorted-set",
    since="2.8.9",
    summary="Remove all members in a sorted set between the given lexicographical range",
)
def zremrangebylex(client, args):
    low, high = lex_range(args[2], args[3])
    return _remove_span(client, args[1], lambda zset: zset.lex_span(low, high), "zremrangebylex")


# -- popping ---------------------------------------------------------------------------------------

_NUMKEYS_NOT_POSITIVE = errors.NUMKEYS_NOT_POSITIVE[1:-2].decode()


def pop_first(client, keys: list[bytes], count: int, highest: bool) -> tuple[bytes, list] | None:
    """Pop from the first of `keys` holding a sorted set (genericZpopCommand); None if none does.

    A key of another type before it is an error, as in Redis.
    """
    db = client.db
    for key in keys:
        zset = db.get_typed(key, ZSet)
        if zset is None:
            continue
        taken = zset.pop(count, highest) if count else []
        after_removal(db, key, zset, len(taken), "zpopmax" if highest else "zpopmin")
        return key, taken
    return None


def _zpop(client, args, highest: bool) -> bytes:
    if len(args) > 3:
        raise SyntaxErrorReply()
    count = None
    if len(args) == 3:
        count = parse_int(args[2])
        if count is None or count < 0:
            return errors.MUST_BE_POSITIVE
    popped = pop_first(client, [args[1]], 1 if count is None else count, highest)
    if popped is None:
        return EMPTY_ARRAY
    resp = client.resp
    if count is not None and resp.resp3:
        return nested_pairs(resp, popped[1])
    parts = [b"*%d\r\n" % (2 * len(popped[1]))]
    for score, member in popped[1]:
        parts.append(bulk(member) + score_reply(resp, score))
    return b"".join(parts)


@command(
    "zpopmin",
    -2,
    "write fast",
    1,
    1,
    group="sorted-set",
    since="5.0.0",
    summary="Remove and return members with the lowest scores in a sorted set",
)
def zpopmin(client, args):
    return _zpop(client, args, False)


@command(
    "zpopmax",
    -2,
    "write fast",
    1,
    1,
    group="sorted-set",
    since="5.0.0",
    summary="Remove and return members with the highest scores in a sorted set",
)
def zpopmax(client, args):
    return _zpop(client, args, True)


@command(
    "zmpop",
    -4,
    "write movablekeys",
    group="sorted-set",
    since="7.0.0",
    summary="Remove and return members with scores in a sorted set",
)
def zmpop(client, args):
    keys, highest, count = mpop_arguments(args, 1)
    popped = pop_first(client, keys, count, highest)
    if popped is None:
        return client.resp.null_array
    return mpop_reply(client.resp, *popped)


def mpop_arguments(args: list[bytes], numkeys_at: int) -> tuple[list[bytes], bool, int]:
    """(keys, highest, count) of ZMPOP / BZMPOP, checked in zmpopGenericCommand's order."""
    numkeys = parse_int(args[numkeys_at])
    if numkeys is None or numkeys < 1:
        raise CommandError(_NUMKEYS_NOT_POSITIVE)
    where = numkeys_at + 1 + numkeys
    if where >= len(args) or args[where].lower() not in (b"min", b"max"):
        raise SyntaxErrorReply()
    count = None
    i = where + 1
    while i < len(args):
        if count is not None or args[i].lower() != b"count" or i + 1 >= len(args):
            raise SyntaxErrorReply()
        count = parse_int(args[i + 1])
        if count is None or count < 1:
            raise CommandError(errors.COUNT_NOT_POSITIVE)
        i += 2
    return args[numkeys_at + 1 : where], args[where].lower() == b"max", count or 1


def mpop_reply(resp, key: bytes, popped: list) -> bytes:
    """[key, [[member, score], ...]]: ZMPOP's reply, and BZMPOP's."""
    return b"*2\r\n" + bulk(key) + nested_pairs(resp, popped)


# -- ZSCAN and ZRANDMEMBER -------------------------------------------------------------------------


@command(
    "zscan",
    -3,
    "readonly",
    1,
    1,
    group="sorted-set",
    since="2.8.0",
    summary="Incrementally iterate sorted sets elements and associated scores",
)
def zscan(client, args):
    found = scan_container(client, args, ZSet, lambda zset: zset.compact)
    if type(found) is bytes:
        return found
    zset, next_cursor, batch = found
    scores = zset.scores
    text = listpack_score_text if zset.compact else format_score
    items = []
    for member in batch:
        score = scores.get(member)
        if score is not None:
            items.append(member)
            items.append(text(score))
    return scan_reply(next_cursor, items)


def _random_positions(length: int, count: int) -> list[int]:
    if count < 0:
        return random.choices(range(length), k=-count)
    if count >= length:
        return list(range(length - 1, -1, -1))  # Redis walks the whole set from its tail
    return random.sample(range(length), count)


@command(
    "zrandmember",
    -2,
    "readonly",
    1,
    1,
    group="sorted-set",
    since="6.2.0",
    summary="Get one or multiple random elements from a sorted set",
)
def zrandmember(client, args):
    db = client.db
    if len(args) == 2:
        zset = db.get_typed(args[1], ZSet)
        if zset is None:
            return client.resp.null
        return bulk(zset.index[random.randrange(len(zset))][1])
    count = count_arg(args[2])
    if type(count) is bytes:
        return count
    withscores = False
    if len(args) > 4 or (len(args) == 4 and args[3].lower() != b"withscores"):
        return errors.SYNTAX
    if len(args) == 4:
        withscores = True
        if abs(count) > (2**63 - 1) // 2:
            return errors.VALUE_OUT_OF_RANGE
    zset = db.get_typed(args[1], ZSet)
    if zset is None or count == 0:
        return EMPTY_ARRAY
    index = zset.index
    pairs = [index[position] for position in _random_positions(len(zset), count)]
    return pairs_reply(client.resp, pairs, withscores)
