"""Random sequences of stream and consumer-group commands, mixed with key commands, sent to
redis-server and to leakdb; every reply, and both streams' XINFO STREAM FULL after every step, must be
the same bytes (clock readings compared within the run's duration, see stream_oracle.py).

Times that decide a reply are kept far from any threshold: an entry is either fresh (delivered during
the run) or delivered at time 1 / a trillion milliseconds ago (XCLAIM TIME, IDLE), and idle filters are
0 or a trillion.  The CI profile runs a bounded number of examples; LEAKDB_STREAM_EXAMPLES and
LEAKDB_STREAM_STEPS make longer local runs.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from stream_oracle import Pair

EXAMPLES = int(os.environ.get("LEAKDB_STREAM_EXAMPLES", "40"))
STEPS = int(os.environ.get("LEAKDB_STREAM_STEPS", "30"))

OLD = b"1000000000000"  # ms: only entries delivered "long ago" (TIME 1, IDLE OLD) are this idle
key = st.sampled_from([b"s", b"s", b"s", b"t", b"x"])
NEXT = b"<next>"  # replaced by an ID above every one used so far, so most XADDs succeed
group = st.sampled_from([b"g", b"g", b"g", b"g", b"h"])
consumer = st.sampled_from([b"c1", b"c2", b"c3"])
ms = st.sampled_from([0, 1, 2, 3, 4, 5, 9, 101, 102, 103, 104, 105])
entry_id = st.one_of(
    st.builds(lambda m, s: b"%d-%d" % (m, s), ms, st.integers(0, 2)),
    st.builds(lambda m: b"%d" % m, ms),
)
add_id = st.one_of(
    st.just(NEXT), st.just(NEXT), st.just(NEXT), entry_id, st.builds(lambda m: b"%d-*" % m, ms)
)
start_id = st.one_of(entry_id, st.sampled_from([b"-", b"+", b"0", b"(3-1"]))
end_id = st.one_of(entry_id, st.sampled_from([b"+", b"-", b"(9"]))
read_id = st.one_of(entry_id, st.sampled_from([b">", b">", b">", b"0", b"$"]))
group_key = st.sampled_from([b"s", b"s", b"s", b"t"])
group_id = st.one_of(entry_id, st.sampled_from([b"$", b"0", b"+"]))
count = st.sampled_from([b"0", b"1", b"2", b"5"])
min_idle = st.sampled_from([b"0", OLD])
ids = st.lists(entry_id, min_size=1, max_size=3)
field_value = st.sampled_from([[b"f", b"v"], [b"f", b"w", b"g", b"1"], [b"n", b"123"]])


def _optional(strategy: st.SearchStrategy, *words: bytes) -> st.SearchStrategy[list[bytes]]:
    return st.one_of(st.just([]), strategy.map(lambda value: [*words, value]))


def _commands() -> st.SearchStrategy[list[bytes]]:
    c = st.tuples
    trim = st.one_of(
        st.just([]),
        c(
            st.sampled_from([b"MAXLEN", b"MINID"]),
            st.sampled_from([b"=", b"~"]),
            st.sampled_from([b"0", b"2", b"5"]),
        ).map(list),
    )
    writes = st.one_of(
        c(key, trim, add_id, field_value).map(lambda t: [b"XADD", t[0], *t[1], t[2], *t[3]]),
        c(key, ids).map(lambda t: [b"XDEL", t[0], *t[1]]),
        c(key, st.sampled_from([b"MAXLEN", b"MINID"]), st.sampled_from([b"1", b"3", b"4-1"])).map(
            lambda t: [b"XTRIM", *t]
        ),
        c(key, entry_id, _optional(st.sampled_from([b"0", b"9", b"20"]), b"ENTRIESADDED")).map(
            lambda t: [b"XSETID", t[0], t[1], *t[2]]
        ),
    )
    groups = st.one_of(
        c(key, group, group_id, st.sampled_from([[], [b"MKSTREAM"], [b"ENTRIESREAD", b"2"]])).map(
            lambda t: [b"XGROUP", b"CREATE", t[0], t[1], t[2], *t[3]]
        ),
        c(key, group, group_id, _optional(st.sampled_from([b"1", b"-1"]), b"ENTRIESREAD")).map(
            lambda t: [b"XGROUP", b"SETID", t[0], t[1], t[2], *t[3]]
        ),
        c(key, group).map(lambda t: [b"XGROUP", b"DESTROY", *t]),
        c(st.sampled_from([b"CREATECONSUMER", b"DELCONSUMER"]), key, group, consumer).map(
            lambda t: [b"XGROUP", *t]
        ),
    )
    reads = st.one_of(
        c(group, consumer, _optional(count, b"COUNT"), st.booleans(), group_key, read_id).map(
            lambda t: [
                b"XREADGROUP",
                b"GROUP",
                t[0],
                t[1],
                *t[2],
                *([b"NOACK"] if t[3] else []),
                b"STREAMS",
                t[4],
                t[5],
            ]
        ),
        c(group, consumer, read_id).map(
            lambda t: [b"XREADGROUP", b"GROUP", t[0], t[1], b"STREAMS", b"s", b"t", t[2], b">"]
        ),
        c(_optional(count, b"COUNT"), key, read_id).map(lambda t: [b"XREAD", *t[0], b"STREAMS", t[1], t[2]]),
        c(key, start_id, end_id, count).map(lambda t: [b"XRANGE", t[0], t[1], t[2], b"COUNT", t[3]]),
    )
    pel = st.one_of(
        c(group_key, group, ids).map(lambda t: [b"XACK", t[0], t[1], *t[2]]),
        c(group_key, group).map(lambda t: [b"XPENDING", *t]),
        c(
            key,
            group,
            _optional(min_idle, b"IDLE"),
            start_id,
            end_id,
            count,
            st.one_of(st.just([]), consumer.map(lambda n: [n])),
        ).map(lambda t: [b"XPENDING", t[0], t[1], *t[2], t[3], t[4], t[5], *t[6]]),
        c(
            key,
            group,
            consumer,
            min_idle,
            ids,
            st.lists(
                st.sampled_from(
                    [
                        [b"FORCE"],
                        [b"JUSTID"],
                        [b"RETRYCOUNT", b"4"],
                        [b"TIME", b"1"],
                        [b"IDLE", OLD],
                        [b"LASTID", b"6-0"],
                    ]
                ),
                max_size=2,
            ),
        ).map(lambda t: [b"XCLAIM", t[0], t[1], t[2], t[3], *t[4], *[w for option in t[5] for w in option]]),
        c(
            key,
            group,
            consumer,
            min_idle,
            start_id,
            _optional(st.sampled_from([b"1", b"2", b"10"]), b"COUNT"),
            st.booleans(),
        ).map(lambda t: [b"XAUTOCLAIM", t[0], t[1], t[2], t[3], t[4], *t[5], *([b"JUSTID"] if t[6] else [])]),
    )
    info = st.one_of(
        c(key).map(lambda t: [b"XINFO", b"STREAM", *t]),
        c(key).map(lambda t: [b"XINFO", b"GROUPS", *t]),
        c(key, group).map(lambda t: [b"XINFO", b"CONSUMERS", *t]),
        c(key).map(lambda t: [b"XLEN", *t]),
    )
    keyspace = st.one_of(
        c(st.sampled_from([b"DEL", b"TYPE", b"EXISTS"]), key).map(list),
        c(key, key).map(lambda t: [b"RENAME", *t]),
        c(key, key).map(lambda t: [b"COPY", *t, b"REPLACE"]),
        st.just([b"SET", b"x", b"text"]),
    )
    return st.one_of(writes, writes, reads, reads, pel, pel, groups, info, keyspace)


class StreamConformance(RuleBasedStateMachine):
    ports: tuple[int, int] = (0, 0)

    def __init__(self) -> None:
        super().__init__()
        self.pair: Pair | None = None

    @initialize(protocol=st.sampled_from([2, 3]))
    def connect(self, protocol):
        self.pair = Pair(*self.ports, protocol)
        self.next_ms = 100
        for command in [
            ("FLUSHALL",),
            ("XADD", "s", "1-1", "f", "v"),
            ("XADD", "s", "2-1", "f", "v"),
            ("XADD", "s", "3-1", "f", "v"),
            ("XGROUP", "CREATE", "s", "g", "0"),
            ("XGROUP", "CREATE", "t", "h", "$", "MKSTREAM"),
            ("XREADGROUP", "GROUP", "g", "c1", "COUNT", "2", "STREAMS", "s", ">"),
            ("XCLAIM", "s", "g", "c2", "0", "1-1", "TIME", "1"),
        ]:
            self.pair.same(*command)

    @rule(command=_commands())
    def run(self, command):
        if NEXT in command:
            self.next_ms += 1
            command = [b"%d-1" % self.next_ms if arg == NEXT else arg for arg in command]
        self.pair.same(*command)

    @invariant()
    def same_streams(self):
        if self.pair is not None:
            for name in (b"s", b"t"):
                self.pair.same("XINFO", "STREAM", name, "FULL")

    def teardown(self):
        if self.pair is not None:
            self.pair.close()


def test_random_stream_sequences_match_redis(redis_server, leakdb_server):
    StreamConformance.ports = (redis_server.port, leakdb_server.port)
    StreamConformance.TestCase.settings = settings(
        max_examples=EXAMPLES,
        stateful_step_count=STEPS,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    StreamConformance.TestCase().runTest()
