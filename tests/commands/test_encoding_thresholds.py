"""The encoding thresholds (hash-max-listpack-*, set-max-intset-entries, zset-max-listpack-*,
list-max-listpack-size) decide what OBJECT ENCODING reports as redis-server 7.0 converts: a write that
grows a value past a threshold converts it, shrinking does not convert it back.  Each step is asked of
both servers after the same threshold change.
"""

from __future__ import annotations

import pytest
from conftest import assert_same

DEFAULTS = {
    "hash-max-listpack-entries": "512",
    "hash-max-listpack-value": "64",
    "set-max-intset-entries": "512",
    "zset-max-listpack-entries": "128",
    "zset-max-listpack-value": "64",
    "list-max-listpack-size": "-2",
    "list-compress-depth": "0",
}


@pytest.fixture
def thresholds(pair):
    """Set thresholds on both servers; the defaults come back after the test."""

    def configure(**values: object) -> None:
        for name, value in values.items():
            for client in pair:
                client.config_set(name.replace("_", "-"), value)

    yield configure
    for client in pair:
        client.config_set(*[item for pair_ in DEFAULTS.items() for item in pair_])


def encodings(pair, *keys: str) -> None:
    for key in keys:
        assert_same(pair, "OBJECT", "ENCODING", key)


def test_a_hash_converts_past_the_entries_threshold_and_stays_converted(pair, thresholds):
    thresholds(hash_max_listpack_entries=4)
    for client in pair:
        client.hset("h", mapping={f"f{i}": "v" for i in range(4)})
    encodings(pair, "h")  # listpack: 4 fields
    for client in pair:
        client.hset("h", "f4", "v")
    encodings(pair, "h")  # hashtable: 5 fields
    for client in pair:
        client.hdel("h", "f4", "f3", "f2")
    encodings(pair, "h")  # still hashtable with 2
    thresholds(hash_max_listpack_entries=512)
    for client in pair:
        client.hset("h", "f9", "v")
    encodings(pair, "h")  # raising the threshold converts nothing back


def test_a_hash_converts_on_a_long_value_by_the_old_alias_too(pair, thresholds):
    for client in pair:
        client.config_set("hash-max-ziplist-value", 8)
        client.hset("short", "a", "12345678")
        client.hset("long", "a", "123456789")
        client.hset("grows", "a", "1")
    encodings(pair, "short", "long", "grows")
    for client in pair:
        client.hincrbyfloat("grows", "a", 0.123456789)
        client.hsetnx("nx", "field-long-name", "1")
    encodings(pair, "grows", "nx")
    for client in pair:
        client.hset("long", "a", "1")
    encodings(pair, "long")  # a short value again: still hashtable
    thresholds(hash_max_listpack_value=64)


def test_a_set_leaves_intset_past_the_threshold_or_with_a_word(pair, thresholds):
    thresholds(set_max_intset_entries=3)
    for client in pair:
        client.sadd("s", 1, 2, 3)
        client.sadd("mixed", 1, "a")
    encodings(pair, "s", "mixed")
    for client in pair:
        client.sadd("s", 4)
        client.srem("mixed", "a")
    encodings(pair, "s", "mixed")
    for client in pair:
        client.srem("s", 4, 3)
        client.smove("s", "moved", 1)
        client.smove("mixed", "moved", 1)
    encodings(pair, "s", "moved")
    thresholds(set_max_intset_entries=0)
    for client in pair:
        client.sadd("zero", 1)
    encodings(pair, "zero")


def test_a_sorted_set_becomes_a_skiplist_past_either_threshold(pair, thresholds):
    thresholds(zset_max_listpack_entries=2, zset_max_listpack_value=3)
    for client in pair:
        client.zadd("z", {"a": 1, "b": 2})
        client.zadd("long", {"abcd": 1})
    encodings(pair, "z", "long")
    for client in pair:
        client.zadd("z", {"c": 3})
    encodings(pair, "z")
    for client in pair:
        client.zrem("z", "c", "b")
    encodings(pair, "z")
    thresholds(zset_max_listpack_entries=0)
    for client in pair:
        client.zadd("none", {"a": 1})
    encodings(pair, "none")
    for client in pair:
        client.config_set("zset-max-ziplist-entries", 128)
        client.zadd("fresh", {"a": 1})
    encodings(pair, "fresh")


def test_lists_are_quicklists_whatever_the_node_size_as_in_redis_7_0(pair, thresholds):
    thresholds(list_max_listpack_size=1, list_compress_depth=1)
    for client in pair:
        client.rpush("l", "a", "b", "c")
    encodings(pair, "l")
    thresholds(list_max_listpack_size=-5)
    for client in pair:
        client.rpush("l2", "a")
    encodings(pair, "l", "l2")
