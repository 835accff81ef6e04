"""LCS compared byte for byte with a real redis-server in RESP2 and RESP3: a table of options and errors,
random strings (short and long, both ways round, so both walks of the bit-parallel table run), and the
bound on the table Redis would allocate.  A plain dynamic-programming LCS, walked back the way
Redis's lcsCommand walks, checks the bit-parallel table without a server.
"""

from __future__ import annotations

import random

import pytest
from differential import RawPair, case_id, cases
from hypothesis import given, settings
from hypothesis import strategies as st

from leakdb import DefaultStorage
from leakdb.commands import lcs
from leakdb.commands.lcs import lcs_vectors, ranges, walk_back

SAMPLE = cases(r"""
SET a ohmytext
SET b mynewtext
SET x ACCGGTCGAGTGCGCGGAAGCCGGCCGAA
SET y GTCGTTCGGAATGCCGTTGCTCTGTAAA
SET p aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab
SET q ababababababababababababababababa
SET e ""
SET bin "\x00\xff\x00\r\n\x00"
SET bin2 "\xff\x00\n\x00"
RPUSH l x
""")

LCS_CASES = cases(r"""
LCS a b
LCS b a
LCS a b LEN
LCS a b len
LCS a b IDX
LCS a b idx MINMATCHLEN 4
LCS a b IDX MINMATCHLEN 4 WITHMATCHLEN
LCS a b IDX WITHMATCHLEN
LCS a b WITHMATCHLEN IDX MINMATCHLEN -3
LCS a b IDX MINMATCHLEN 0
LCS a b IDX MINMATCHLEN 100
LCS a b IDX MINMATCHLEN 1 MINMATCHLEN 3
LCS a b LEN WITHMATCHLEN
LCS a b LEN MINMATCHLEN 2
LCS a b WITHMATCHLEN
LCS a b IDX IDX
LCS a a
LCS a a IDX WITHMATCHLEN
LCS x y
LCS y x
LCS x y IDX WITHMATCHLEN
LCS y x IDX WITHMATCHLEN
LCS p q
LCS q p IDX
LCS p q IDX WITHMATCHLEN MINMATCHLEN 2
LCS bin bin2
LCS bin bin2 IDX WITHMATCHLEN
LCS a e
LCS e a IDX
LCS e e LEN
LCS a nk
LCS nk a IDX
LCS nk nk2
LCS nk nk2 IDX WITHMATCHLEN
LCS a l
LCS l a
LCS l nk
LCS l a IDX LEN
LCS a b IDX LEN
LCS a b LEN IDX
LCS a b MINMATCHLEN
LCS a b MINMATCHLEN x
LCS a b MINMATCHLEN 1.5
LCS a b FOO
LCS a b IDX FOO
LCS a
LCS
""")


@pytest.fixture(scope="module", params=[2, 3], ids=["resp2", "resp3"])
def raw_pair(request, redis_server, leakdb_server):
    pair = RawPair(redis_server.port, leakdb_server.port, request.param)
    pair.run([[b"FLUSHALL"], *SAMPLE])
    yield pair
    pair.close()


@pytest.mark.parametrize("command", LCS_CASES, ids=case_id)
def test_lcs_matches_redis(raw_pair, command):
    raw_pair.same(command)


FORMS = [[], [b"LEN"], [b"IDX"], [b"IDX", b"WITHMATCHLEN"], [b"IDX", b"MINMATCHLEN", b"3", b"WITHMATCHLEN"]]


def compare_strings(pair: RawPair, a: bytes, b: bytes) -> None:
    pair.same([b"MSET", b"ra", a, b"rb", b])
    for form in FORMS:
        pair.same([b"LCS", b"ra", b"rb", *form], [b"LCS", b"rb", b"ra", *form])


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=40), st.binary(max_size=40), st.sampled_from([b"ab", b"abc", b"acgt", b"\x00\xff"]))
def test_random_strings_match_redis(redis_server, leakdb_server, a, b, alphabet):
    pair = RawPair(redis_server.port, leakdb_server.port, 3)
    try:
        # Bytes folded onto a small alphabet, so that the strings share long subsequences.
        fold = bytes(alphabet[byte % len(alphabet)] for byte in range(256))
        compare_strings(pair, a.translate(fold), b.translate(fold))
    finally:
        pair.close()


LONG = [(3000, 2000, b"acgt"), (700, 5000, b"acgt"), (1, 9000, b"acgt"), (200, 20000, b"ab" + bytes(30))]


@pytest.mark.parametrize(("length_a", "length_b", "alphabet"), LONG)
def test_long_strings_match_redis(redis_server, leakdb_server, length_a, length_b, alphabet):
    rng = random.Random(length_a * length_b)
    a = bytes(rng.choice(alphabet) for _ in range(length_a))
    b = bytes(rng.choice(alphabet) for _ in range(length_b))
    pair = RawPair(redis_server.port, leakdb_server.port, 2)
    try:
        compare_strings(pair, a, b)
    finally:
        pair.close()


def test_the_table_is_bounded_by_proto_max_bulk_len(redis_server, leakdb_server):
    pair = RawPair(redis_server.port, leakdb_server.port, 2)
    try:
        pair.same([b"CONFIG", b"SET", b"proto-max-bulk-len", b"1mb"])
        pair.same([b"SET", b"big", b"x" * 600], [b"SET", b"small", b"y" * 400])
        for form in ([], [b"LEN"], [b"IDX"]):
            pair.same([b"LCS", b"big", b"big", *form], [b"LCS", b"big", b"small", *form])
        pair.same([b"LCS", b"big", b"nk"])
    finally:
        pair.run([[b"CONFIG", b"SET", b"proto-max-bulk-len", b"512mb"], [b"DEL", b"big", b"small"]])
        pair.close()


def test_the_python_api_reaches_lcs():
    storage = DefaultStorage()
    storage.execute_command("MSET", "a", "ohmytext", "b", "mynewtext")
    assert storage.execute_command("LCS", "a", "b") == b"mytext"
    assert storage.execute_command("LCS", "a", "b", "LEN") == 6
    reply = storage.execute_command("LCS", "a", "b", "IDX", "MINMATCHLEN", 4, "WITHMATCHLEN")
    assert reply == {b"matches": [[[4, 7], [5, 8], 4]], b"len": 6}


# -- the bit-parallel table against the plain one -----------------------------------------------------


def plain_table(a: bytes, b: bytes) -> list[list[int]]:
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            if a[i - 1] == b[j - 1]:
                table[i][j] = table[i - 1][j - 1] + 1
            else:
                table[i][j] = max(table[i - 1][j], table[i][j - 1])
    return table


def plain_walk(a: bytes, b: bytes) -> list[tuple[int, int]]:
    """lcsCommand's walk: step back in a when LCS(i-1, j) > LCS(i, j-1), else in b."""
    table = plain_table(a, b)
    i, j, matched = len(a), len(b), []
    while i > 0 and j > 0:
        if a[i - 1] == b[j - 1]:
            matched.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif table[i - 1][j] > table[i][j - 1]:
            i -= 1
        else:
            j -= 1
    return matched


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=30), st.binary(max_size=30), st.integers(1, 4), st.sampled_from([1, 2, 32]))
def test_bit_parallel_table_walks_as_the_plain_table(a, b, letters, jump_after):
    a = bytes(byte % letters for byte in a)
    b = bytes(byte % letters for byte in b)
    lcs.JUMP_AFTER = jump_after  # jumping after one or two steps walks every run by jumps
    table = plain_table(a, b)
    assert lcs_vectors(a, b, keep=False)[0] == table[len(a)][len(b)]
    assert lcs_vectors(b, a, keep=False)[0] == table[len(a)][len(b)]
    try:
        matched = walk_back(a, b)
    finally:
        lcs.JUMP_AFTER = 32
    assert matched == plain_walk(a, b)
    assert sum(a_end - a_start + 1 for a_start, a_end, _, _ in ranges(matched)) == len(matched)
