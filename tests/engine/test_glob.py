"""Redis glob matching: leakdb.glob on its own, and against the KEYS reply of a real redis-server."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leakdb.engine.glob import compile_glob, has_glob, match, tokenize

CASES = [
    (b"", b"", True),
    (b"", b"a", False),
    (b"*", b"", False),  # stringmatchlen never matches an empty key; KEYS * special-cases it
    (b"*", b"abc", True),
    (b"**", b"abc", True),
    (b"a*", b"a", True),
    (b"a*b*c", b"aXbYc", True),
    (b"a*b*c", b"aXbY", False),
    (b"*a*a*a*a*a*a*a*a*b", b"a" * 60, False),
    (b"h?llo", b"hallo", True),
    (b"h?llo", b"hllo", False),
    (b"h[ae]llo", b"hello", True),
    (b"h[ae]llo", b"hillo", False),
    (b"h[^e]llo", b"hallo", True),
    (b"h[^e]llo", b"hello", False),
    (b"h[a-b]llo", b"hbllo", True),
    (b"h[b-a]llo", b"hbllo", True),  # reversed ranges are swapped
    (b"[a-]", b"]", True),  # a range whose end is ']' ...
    (b"[a-]", b"_", True),
    (b"[a-]x]", b"_x", False),  # ... so the class goes on to the next ']'
    (b"[a-]x]", b"x", True),
    (b"[]", b"]", False),
    (b"[]]", b"]", False),  # '[]' is an empty class, then a literal ']'
    (b"[^]", b"z", True),
    (b"[", b"[", False),
    (b"[a", b"a", True),  # an unterminated class still matches
    (b"[^", b"q", True),
    (b"[\\]]", b"]", True),
    (b"[\\", b"\\", True),
    (b"\\*", b"*", True),
    (b"\\*", b"a", False),
    (b"a\\", b"a\\", True),
    (b"[a-\xff]", b"0", True),  # chars are signed: 0xff sorts below 'a'
    (b"[a-\xff]", b"z", False),
    (b"[a-\xff]", b"\xff", True),
    (b"[a-\xff]", b"\x80", False),
    (b"?", b"\n", True),
    (b"*", b"\r\n\x00", True),
]


@pytest.mark.parametrize(("pattern", "key", "expected"), CASES)
def test_match_table(pattern, key, expected):
    assert match(pattern, key) is expected


def test_compiled_patterns_are_cached():
    assert compile_glob(b"a*b[c-d]") is compile_glob(b"a*b[c-d]")


def test_has_glob():
    assert not has_glob(b"plain-key")
    assert all(has_glob(p) for p in (b"a*", b"?", b"[x", b"a\\b"))


def test_tokenize_collapses_stars():
    assert tokenize(b"a**b") == [frozenset(b"a"), None, frozenset(b"b")]


def test_many_stars_stay_fast():
    predicate = compile_glob(b"*a" * 30 + b"b")
    assert not predicate(b"a" * 5000)


# -- against the real redis-server ---------------------------------------------------------------

KEY_ALPHABET = [bytes([c]) for c in b"ab-]\\^*?[\xff"]
KEYS = sorted(
    {b"".join(p) for n in range(3) for p in itertools.product(KEY_ALPHABET, repeat=n)}
    | {b"".join(p) for n in (3, 4) for p in itertools.product([b"a", b"b", b"-"], repeat=n)}
)
PATTERN_ALPHABET = [bytes([c]) for c in b"ab-]\\^*?[[\xff0"]
ORACLE_DB = 7


@pytest.fixture(scope="module")
def oracle_keys(redis_server):
    client = redis_server.client(db=ORACLE_DB)
    client.flushdb()
    client.mset({key: b"1" for key in KEYS})
    yield client
    client.flushdb()
    client.close()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(PATTERN_ALPHABET), max_size=8).map(b"".join))
def test_glob_agrees_with_redis_keys(oracle_keys, pattern):
    if oracle_keys.dbsize() != len(KEYS):  # another test flushed every database
        oracle_keys.mset({key: b"1" for key in KEYS})
    expected = sorted(oracle_keys.execute_command("KEYS", pattern))
    # KEYS * lists every key without matching them, so the empty key too.
    ours = list(KEYS) if pattern == b"*" else [key for key in KEYS if match(pattern, key)]
    assert ours == expected, pattern
