"""Redis glob patterns (KEYS, SCAN MATCH), matching exactly as Redis's ``stringmatchlen`` does.

A pattern is compiled once (and cached) into one regular expression that accepts the same keys,
quirks included: ranges compare signed chars, ``[a-]`` is a range up to ']', an unterminated '['
still forms a class, and no pattern but the empty one matches the empty key.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

GLOB_CHARS = frozenset(b"*?[\\")

# A token is STAR or the set of bytes one position of the key may hold.
STAR = None
ANY_BYTE = frozenset(range(256))


def has_glob(pattern: bytes) -> bool:
    """Whether `pattern` can match anything but itself (otherwise a key lookup answers it)."""
    return any(byte in GLOB_CHARS for byte in pattern)


def match(pattern: bytes, key: bytes) -> bool:
    """Whether `key` matches the Redis glob `pattern`."""
    return compile_glob(pattern)(key)


@lru_cache(maxsize=256)
def compile_glob(pattern: bytes) -> Callable[[bytes], bool]:
    """A predicate telling whether a key matches `pattern`; compiled patterns are cached."""
    if not pattern:
        return _is_empty
    fullmatch = re.compile(_to_regex(tokenize(pattern)), re.DOTALL).fullmatch

    def matches(key: bytes) -> bool:
        return bool(key) and fullmatch(key) is not None

    return matches


def _is_empty(key: bytes) -> bool:
    return not key


def tokenize(pattern: bytes) -> list[frozenset[int] | None]:
    """The pattern as stringmatchlen consumes it: STAR, or the byte set matched at one position."""
    tokens: list[frozenset[int] | None] = []
    i, n = 0, len(pattern)
    while i < n:
        byte = pattern[i]
        if byte == 0x2A:  # '*': runs of stars act as one
            if not tokens or tokens[-1] is not STAR:
                tokens.append(STAR)
            i += 1
        elif byte == 0x3F:  # '?'
            tokens.append(ANY_BYTE)
            i += 1
        elif byte == 0x5B:  # '['
            members, i = _bracket(pattern, i + 1)
            tokens.append(members)
        elif byte == 0x5C and i + 1 < n:  # '\\' escapes the next byte; a trailing one is literal
            tokens.append(frozenset((pattern[i + 1],)))
            i += 2
        else:
            tokens.append(frozenset((byte,)))
            i += 1
    return tokens


def _bracket(pattern: bytes, i: int) -> tuple[frozenset[int], int]:
    """Parse a class starting after its '['; return its byte set and the index after it."""
    n = len(pattern)
    negate = i < n and pattern[i] == 0x5E  # '^'
    if negate:
        i += 1
    members: set[int] = set()
    while i < n:
        byte = pattern[i]
        if byte == 0x5C and n - i >= 2:
            members.add(pattern[i + 1])
            i += 2
        elif byte == 0x5D:  # ']'
            i += 1
            break
        elif n - i >= 3 and pattern[i + 1] == 0x2D:  # 'x-y', whatever y is (even ']')
            members.update(_range(byte, pattern[i + 2]))
            i += 3
        else:
            members.add(byte)
            i += 1
    if negate:
        return ANY_BYTE - members, i
    return frozenset(members), i


def _range(first: int, last: int) -> list[int]:
    # Redis compares C chars, which are signed: bytes >= 0x80 sort below 0x00.
    low, high = _signed(first), _signed(last)
    if low > high:
        low, high = high, low
    return [value & 0xFF for value in range(low, high + 1)]


def _signed(byte: int) -> int:
    return byte - 256 if byte >= 128 else byte


def _to_regex(tokens: list[frozenset[int] | None]) -> bytes:
    """Translate tokens to a regex that cannot backtrack badly.

    Every non-star token takes exactly one byte, so the segments between stars can be matched
    greedily at their first occurrence (Redis reaches the same answer by giving up early); an
    atomic group commits to that occurrence and keeps the match linear in the key's length.
    """
    segments: list[bytes] = [b""]
    for token in tokens:
        if token is STAR:
            segments.append(b"")
        else:
            segments[-1] += _byte_class(token)
    if len(segments) == 1:
        return segments[0]
    # A lookahead capture followed by a backreference to it is an atomic group that Python 3.10's re
    # accepts ("(?>X)" needs 3.11).
    middle = b"".join(
        b"(?=(.*?%s))\\%d" % (segment, number)
        for number, segment in enumerate((s for s in segments[1:-1] if s), start=1)
    )
    return segments[0] + middle + b".*" + segments[-1]


def _byte_class(members: frozenset[int]) -> bytes:
    if len(members) == 256:
        return b"."
    if not members:
        return b"(?!)"
    if len(members) == 1:
        return re.escape(bytes(members))
    return b"[" + b"".join(b"\\x%02x" % byte for byte in sorted(members)) + b"]"
