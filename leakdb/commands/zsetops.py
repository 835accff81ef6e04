"""Sorted set algebra: ZUNION, ZINTER and ZDIFF, their STORE forms, and ZINTERCARD.

Inputs may be sorted sets or plain sets (whose members score 1).  The arithmetic follows
zunionInterDiffGenericCommand step by step, because floating-point sums depend on their order:
inputs are visited smallest first (a stable sort, as glibc's qsort is), a weighted score that is
NaN (inf * 0) counts as 0, and so does a SUM that is (inf + -inf).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from .. import errors
from ..engine.numbers import parse_int, parse_score
from ..engine.zset import ZSet
from ..errors import CommandError, NotAFloatError, NotAnIntegerError, SyntaxErrorReply, WrongTypeError
from ..resp import ZERO
from .registry import command
from .scores import pairs_reply
from .zsets import store

UNION, INTER, DIFF = "union", "inter", "diff"
Scores = dict[bytes, float]


def _sum(total: float, value: float) -> float:
    total += value
    return 0.0 if math.isnan(total) else total


def _min(total: float, value: float) -> float:
    return value if value < total else total


def _max(total: float, value: float) -> float:
    return value if value > total else total


_AGGREGATES: dict[bytes, Callable[[float, float], float]] = {b"sum": _sum, b"min": _min, b"max": _max}


def load_sources(db, args: list[bytes], numkeys_at: int, name: str) -> list[Scores]:
    """The scores of each input key (empty for a missing key), checked as Redis checks them."""
    numkeys = parse_int(args[numkeys_at])
    if numkeys is None:
        raise NotAnIntegerError()
    if numkeys < 1:
        raise CommandError(errors.NEEDS_INPUT_KEY.format(name))
    if numkeys > len(args) - numkeys_at - 1:
        raise SyntaxErrorReply()
    sources = []
    for key in args[numkeys_at + 1 : numkeys_at + 1 + numkeys]:
        value = db.lookup(key)
        if value is None:
            sources.append({})
        elif type(value) is ZSet:
            sources.append(value.scores)
        elif type(value) is set:
            sources.append(dict.fromkeys(value, 1.0))
        else:
            raise WrongTypeError()
    return sources


class Options:
    """WEIGHTS, AGGREGATE and WITHSCORES after the input keys."""

    __slots__ = ("aggregate", "weights", "withscores")

    def __init__(self, args: list[bytes], start: int, count: int, op: str, storing: bool) -> None:
        self.weights = [1.0] * count
        self.aggregate = _sum
        self.withscores = False
        i, n = start, len(args)
        while i < n:
            option = args[i].lower()
            if op != DIFF and option == b"weights" and n - i >= count + 1:
                self.weights = [_weight(raw) for raw in args[i + 1 : i + 1 + count]]
                i += count + 1
            elif op != DIFF and option == b"aggregate" and n - i >= 2:
                aggregate = _AGGREGATES.get(args[i + 1].lower())
                if aggregate is None:
                    raise SyntaxErrorReply()
                self.aggregate = aggregate
                i += 2
            elif not storing and option == b"withscores":
                self.withscores = True
                i += 1
            else:
                raise SyntaxErrorReply()


def _weight(raw: bytes) -> float:
    try:
        return parse_score(raw)
    except NotAFloatError:
        raise CommandError(errors.WEIGHT_NOT_FLOAT) from None


def _by_size(sources: list[Scores]) -> list[int]:
    return sorted(range(len(sources)), key=lambda i: len(sources[i]))


def union(sources: list[Scores], options: Options) -> Scores:
    result: Scores = {}
    aggregate = options.aggregate
    for i in _by_size(sources):
        weight = options.weights[i]
        for member, score in sources[i].items():
            value = weight * score
            if value != value:
                value = 0.0
            current = result.get(member)
            result[member] = value if current is None else aggregate(current, value)
    return result


def intersection(sources: list[Scores], options: Options, limit: int = 0) -> Scores:
    """Members in every input; `limit` (ZINTERCARD) stops after that many when non-zero."""
    order = _by_size(sources)
    first, others = order[0], order[1:]
    aggregate = options.aggregate
    weights = options.weights
    result: Scores = {}
    for member, score in sources[first].items():
        value = weights[first] * score
        if value != value:
            value = 0.0
        for i in others:
            other = sources[i].get(member)
            if other is None:
                break
            value = aggregate(value, other * weights[i])
        else:
            result[member] = value
            if len(result) == limit:
                break
    return result


def difference(sources: list[Scores]) -> Scores:
    others = [source for source in sources[1:] if source]
    return {
        member: score for member, score in sources[0].items() if not any(member in other for other in others)
    }


def _compute(op: str, sources: list[Scores], options: Options) -> Scores:
    if op == UNION:
        return union(sources, options)
    if op == INTER:
        return intersection(sources, options)
    return difference(sources)


def _reply(client, args: list[bytes], op: str, name: str) -> bytes:
    sources = load_sources(client.db, args, 1, name)
    options = Options(args, 2 + len(sources), len(sources), op, storing=False)
    result = _compute(op, sources, options)
    pairs = sorted((score, member) for member, score in result.items())
    return pairs_reply(client.resp, pairs, options.withscores)


def _store(client, args: list[bytes], op: str, name: str) -> bytes:
    db = client.db
    sources = load_sources(db, args, 2, name)
    options = Options(args, 3 + len(sources), len(sources), op, storing=True)
    result = _compute(op, sources, options)
    return store(db, args[1], ZSet.from_pairs(result.items()), name)


@command(
    "zunion",
    -3,
    "readonly movablekeys",
    group="sorted-set",
    since="6.2.0",
    summary="Add multiple sorted sets",
)
def zunion(client, args):
    return _reply(client, args, UNION, "zunion")


@command(
    "zinter",
    -3,
    "readonly movablekeys",
    group="sorted-set",
    since="6.2.0",
    summary="Intersect multiple sorted sets",
)
def zinter(client, args):
    return _reply(client, args, INTER, "zinter")


@command(
    "zdiff",
    -3,
    "readonly movablekeys",
    group="sorted-set",
    since="6.2.0",
    summary="Subtract multiple sorted sets",
)
def zdiff(client, args):
    return _reply(client, args, DIFF, "zdiff")


@command(
    "zunionstore",
    -4,
    "write denyoom movablekeys",
    1,
    1,
    group="sorted-set",
    since="2.0.0",
    summary="Add multiple sorted sets and store the resulting sorted set in a new key",
)
def zunionstore(client, args):
    return _store(client, args, UNION, "zunionstore")


@command(
    "zinterstore",
    -4,
    "write denyoom movablekeys",
    1,
    1,
    group="sorted-set",
    since="2.0.0",
    summary="Intersect multiple sorted sets and store the resulting sorted set in a new key",
)
def zinterstore(client, args):
    return _store(client, args, INTER, "zinterstore")


@command(
    "zdiffstore",
    -4,
    "write denyoom movablekeys",
    1,
    1,
    group="sorted-set",
    since="6.2.0",
    summary="Subtract multiple sorted sets and store the resulting sorted set in a new key",
)
def zdiffstore(client, args):
    return _store(client, args, DIFF, "zdiffstore")


@command(
    "zintercard",
    -3,
    "readonly movablekeys",
    group="sorted-set",
    since="7.0.0",
    summary="Intersect multiple sorted sets and return the cardinality of the result",
)
def zintercard(client, args):
    sources = load_sources(client.db, args, 1, "zintercard")
    limit = 0
    i = 2 + len(sources)
    while i < len(args):
        if args[i].lower() != b"limit" or len(args) - i < 2:
            return errors.SYNTAX
        limit = parse_int(args[i + 1])
        if limit is None or limit < 0:
            return errors.LIMIT_NEGATIVE
        i += 2
    if not all(sources):
        return ZERO
    options = Options(args, len(args), len(sources), INTER, storing=True)
    return b":%d\r\n" % len(intersection(sources, options, limit))
