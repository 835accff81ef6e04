"""Bloom filters as applications use them, on bitmaps: walrus's BloomFilter (BITFIELD SET/GET u1) and
pottery's BloomFilter (SETBIT, GETBIT and BITCOUNT in MULTI/EXEC pipelines), each scenario run
against redis-server and against leakdb-server, with the same answers and the same bitmap bytes."""

from __future__ import annotations

import warnings

import pottery
import walrus

ADDED = [f"user:{n}" for n in range(300)]
PROBES = [*ADDED[::7], *[f"stranger:{n}" for n in range(300)]]


def _walrus_scenario(port: int) -> tuple:
    db = walrus.Database(port=port)
    try:
        db.flushall()
        small = db.bloom_filter("small", size=64)  # 512 bits: false positives show
        big = db.bloom_filter("big")  # walrus's default: 64 KB
        for item in ADDED:
            small.add(item)
            big.add(item)
        answers = ([probe in small for probe in PROBES], [big.contains(probe) for probe in PROBES])
        return answers, db.get("small"), db.get("big"), db.strlen("big"), db.bitcount("small")
    finally:
        db.close()


def test_walrus_bloom_filter_matches_redis(redis_server, leakdb_server):
    expected = _walrus_scenario(redis_server.port)
    assert _walrus_scenario(leakdb_server.port) == expected
    answers = expected[0]
    assert all(answers[1][: len(ADDED[::7])])  # no false negatives, on either server
    assert any(answers[0][len(ADDED[::7]) :])  # the small filter says yes to some strangers


def _pottery_scenario(port: int) -> tuple:
    client = walrus.Database(port=port)  # a redis.Redis
    try:
        client.flushall()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pottery warns about a key name it picked itself
            emails = pottery.BloomFilter(
                ADDED[:200], redis=client, key="emails", num_elements=500, false_positives=0.01
            )
            emails.update(ADDED[200:])
            emails.add("one more")
            tight = pottery.BloomFilter(redis=client, key="tight", num_elements=20, false_positives=0.3)
            tight.update(ADDED[:30])
            answers = (
                [probe in emails for probe in PROBES],
                list(emails.contains_many(*PROBES[:50])),
                [probe in tight for probe in PROBES[-40:]],
                len(emails),
                len(tight),
                "one more" in emails,
            )
        return answers, client.get("emails"), client.get("tight")
    finally:
        client.close()


def test_pottery_bloom_filter_matches_redis(redis_server, leakdb_server):
    expected = _pottery_scenario(redis_server.port)
    assert _pottery_scenario(leakdb_server.port) == expected
    answers = expected[0]
    assert all(answers[0][: len(ADDED[::7])]) and answers[5]
    assert abs(answers[3] - len(ADDED) - 1) < 30  # pottery estimates the count from BITCOUNT
