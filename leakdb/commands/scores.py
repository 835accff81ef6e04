"""Scores as Redis reads and writes them: C's strtod for arguments and range bounds, lex range bounds,
and "%.17g" (RESP2 bulk strings, RESP3 doubles) for replies, as Redis 7.0 prints them.

Sorted set commands share these; nothing here touches a keyspace.
"""

from __future__ import annotations

import math

from ..engine.numbers import C_SPACE, strtod
from ..engine.zset import LexBound
from ..resp import bulk


def parse_score_bound(raw: bytes) -> tuple[float, bool] | None:
    """A score range bound, "(1.5" being exclusive (zslParseRange); None if it is not one.

    Redis reads the argument as a C string with strtod: leading spaces are skipped, an empty number
    reads as 0, and out-of-range values become infinities or zero rather than errors.
    """
    text = raw.split(b"\x00", 1)[0]
    is_open = text[:1] == b"("
    if is_open:
        text = text[1:]
    if not text:
        return 0.0, is_open
    parsed = strtod(text.lstrip(C_SPACE))
    if parsed is None:
        return None
    return parsed[0], is_open


def parse_lex_bound(raw: bytes) -> LexBound | None:
    """A lex range bound: "-", "+", "[member" or "(member" (zslParseLexRangeItem)."""
    first = raw[:1]
    if first == b"[":
        return 0, raw[1:], False
    if first == b"(":
        return 0, raw[1:], True
    if (first == b"-" or first == b"+") and (len(raw) == 1 or raw[1] == 0):
        return (-1 if first == b"-" else 1), b"", True
    return None


def format_score(score: float) -> bytes:
    """A score as Redis 7.0 prints it in replies ("%.17g"; inf and -inf spelled out)."""
    if math.isinf(score):
        return b"inf" if score > 0 else b"-inf"
    return b"%.17g" % score


def listpack_score_text(score: float) -> bytes:
    """A score as a listpack holds it (ZSCAN shows it): an integer when it is one, else "%.17g"."""
    if not math.isinf(score) and score == int(score) and abs(score) <= 2.0**62:
        return b"%d" % int(score)
    return format_score(score)


def score_reply(resp, score: float) -> bytes:
    text = format_score(score)
    return b",%s\r\n" % text if resp.resp3 else b"$%d\r\n%s\r\n" % (len(text), text)


def members_reply(members: list[bytes]) -> bytes:
    """An array of members as bulk strings (what bulk_array gives), built with one join."""
    return b"*%d\r\n%s" % (len(members), b"".join([b"$%d\r\n%s\r\n" % (len(m), m) for m in members]))


def pairs_reply(resp, pairs: list[tuple[float, bytes]], withscores: bool) -> bytes:
    """Members, or members with scores: flat in RESP2, [member, score] pairs in RESP3."""
    if not withscores:
        return members_reply([member for _, member in pairs])
    if resp.resp3:
        parts = [b"*%d\r\n" % len(pairs)]
        for score, member in pairs:
            parts.append(b"*2\r\n$%d\r\n%s\r\n,%s\r\n" % (len(member), member, format_score(score)))
        return b"".join(parts)
    parts = [b"*%d\r\n" % (2 * len(pairs))]
    for score, member in pairs:
        text = format_score(score)
        parts.append(b"$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(member), member, len(text), text))
    return b"".join(parts)


def nested_pairs(resp, pairs: list[tuple[float, bytes]]) -> bytes:
    """[member, score] pairs in both protocols (ZMPOP)."""
    parts = [b"*%d\r\n" % len(pairs)]
    for score, member in pairs:
        parts.append(b"*2\r\n" + bulk(member) + score_reply(resp, score))
    return b"".join(parts)
