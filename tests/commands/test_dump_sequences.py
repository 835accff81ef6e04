"""A hypothesis state machine over DUMP and RESTORE mixed with the writes of every type: payloads are
taken from either server and restored into both (over existing keys, with REPLACE, TTLs and ABSTTL),
every reply compared with redis-server's, the keyspaces compared after each step, and DUMP bytes
compared wherever the two servers hold a key in the same encoding (lists aside: their node layouts
follow their history, which test_dump.py covers).  Streams get consumer groups, reads and acks too,
and their payloads are compared but for the clock readings in the groups.  LEAKDB_DUMP_SEQUENCES
raises the number of runs."""

from __future__ import annotations

import os

import pytest
from conftest import reply_of, wall_ms
from dumps import read_value, stream_clocks
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

EXAMPLES = int(os.environ.get("LEAKDB_DUMP_SEQUENCES", "20"))
KEYS = ["a", "b", "c"]
ITEMS = ["0", "1", "-7", "300", "x", "hello", "y" * 70, "2.5"]

key = st.sampled_from(KEYS)
items = st.lists(st.sampled_from(ITEMS), min_size=1, max_size=6)
scores = st.sampled_from(["0", "1", "-1.5", "1e300", "inf", "-inf", "3"])
WRITES = st.one_of(
    st.tuples(st.just("SET"), key, st.sampled_from(ITEMS)),
    st.tuples(st.sampled_from(["RPUSH", "LPUSH", "SADD", "SREM"]), key, items).map(lambda c: (*c[:2], *c[2])),
    st.tuples(st.just("HSET"), key, items, items).map(
        lambda c: ("HSET", c[1], *[part for pair in zip(c[2], c[3], strict=False) for part in pair])
    ),
    st.tuples(st.just("HDEL"), key, items).map(lambda c: ("HDEL", c[1], *c[2])),
    st.tuples(st.just("ZADD"), key, scores, st.sampled_from(ITEMS)),
    st.tuples(st.just("ZREM"), key, st.sampled_from(ITEMS)),
    st.tuples(st.sampled_from(["LPOP", "RPOP", "DEL", "PERSIST"]), key),
    st.tuples(st.just("EXPIRE"), key, st.sampled_from(["1000", "5000"])),
    st.tuples(st.just("XDEL"), key, st.sampled_from(["1-0", "2-0", "3-0"])),
)


def make_machine(redis_port: int, leakdb_port: int) -> type[RuleBasedStateMachine]:
    import redis

    class DumpAndRestore(RuleBasedStateMachine):
        payloads = Bundle("payloads")

        def __init__(self) -> None:
            super().__init__()
            self.oracle = redis.Redis(port=redis_port)
            self.ours = redis.Redis(port=leakdb_port)
            self.stream_ids = 0
            self.started = wall_ms()
            for client in (self.oracle, self.ours):
                client.flushall()

        def both(self, *command) -> object:
            expected = reply_of(self.oracle, *command)
            assert reply_of(self.ours, *command) == expected, command
            return expected

        @rule(command=WRITES)
        def write(self, command):
            self.both(*command)

        @rule(target_key=key, fields=items)
        def append_to_stream(self, target_key, fields):
            self.stream_ids += 1
            pairs = [part for item in fields for part in ("f", item)]
            self.both("XADD", target_key, f"{self.stream_ids}-0", *pairs)

        @rule(target_key=key, group=st.sampled_from(["g", "h"]), consumer=st.sampled_from(["c1", "c2"]))
        def read_in_a_group(self, target_key, group, consumer):
            self.both("XGROUP", "CREATE", target_key, group, "0")
            self.both("XREADGROUP", "GROUP", group, consumer, "COUNT", "2", "STREAMS", target_key, ">")

        @rule(target_key=key, ids=st.lists(st.sampled_from(["1-0", "2-0", "3-0", "4-0"]), min_size=1))
        def acknowledge(self, target_key, ids):
            self.both("XACK", target_key, "g", *ids)

        @rule(target=payloads, source_key=key, from_leakdb=st.booleans())
        def dump(self, source_key, from_leakdb):
            expected = self.oracle.dump(source_key)
            actual = self.ours.dump(source_key)
            assert (actual is None) == (expected is None)
            if expected is not None and self.oracle.type(source_key) == b"stream":
                (body, clocks), (our_body, our_clocks) = stream_clocks(expected), stream_clocks(actual)
                assert our_body == body, source_key
                now = wall_ms()
                assert all(self.started <= clock <= now for clock in clocks + our_clocks)
                assert len(clocks) == len(our_clocks)
                same = False
            elif expected is not None and self.oracle.type(source_key) != b"list":
                encoding = self.oracle.object("encoding", source_key)
                same = encoding == self.ours.object("encoding", source_key) and encoding != b"hashtable"
            else:
                same = False
            if same:
                assert actual == expected, (source_key, encoding)
            return actual if from_leakdb else expected

        @rule(
            payload=payloads.filter(lambda payload: payload is not None),
            target_key=key,
            ttl=st.sampled_from(["0", "100000", "4102444800000"]),
            options=st.lists(st.sampled_from(["REPLACE", "ABSTTL"]), max_size=2, unique=True),
        )
        def restore(self, payload, target_key, ttl, options):
            # With ABSTTL, 100000 is a moment of 1970: the key is expired at once on both servers.
            self.both("RESTORE", target_key, ttl, payload, *options)

        @invariant()
        def same_keyspace(self):
            for name in KEYS:
                assert read_value(self.ours, name) == read_value(self.oracle, name), name
                assert (self.ours.pttl(name) > 0) == (self.oracle.pttl(name) > 0), name

        def teardown(self):
            self.oracle.close()
            self.ours.close()

    return DumpAndRestore


@pytest.mark.parametrize("run", range(1))
def test_dump_and_restore_sequences_match_redis(redis_server, leakdb_server, run):
    machine = make_machine(redis_server.port, leakdb_server.port)
    machine.TestCase.settings = settings(
        max_examples=EXAMPLES, stateful_step_count=30, deadline=None, suppress_health_check=list(HealthCheck)
    )
    machine.TestCase().runTest()
