"""A hypothesis state machine over the geo commands mixed with sorted-set, string and key commands:
every reply compared byte for byte with redis-server's (RESP2 or RESP3, alone or pipelined), and the
keys' scores and types after every step.  LEAKDB_GEO_SEQUENCES raises the number of runs."""

from __future__ import annotations

import os

from differential import cases, differential_machine
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("LEAKDB_GEO_SEQUENCES", "40"))

KEYS = st.sampled_from([b"g", b"h", b"s"])
MEMBER = st.sampled_from([b"rome", b"paris", b"oslo", b"cape", b"pole", b"x", b"missing"])
# Places, a repeated one (distances tie), the edges of the geo range, and positions Redis refuses.
POSITION = st.sampled_from(
    [
        (b"12.4964", b"41.9028"),
        (b"2.3522", b"48.8566"),
        (b"10.7522", b"59.9139"),
        (b"18.4241", b"-33.9249"),
        (b"2.3522", b"48.8566"),
        (b"180", b"85.05112878"),
        (b"-180", b"-85.05112878"),
        (b"0", b"0"),
        (b"181", b"10"),
        (b"10", b"86"),
        (b"nan", b"1"),
        (b"east", b"1"),
    ]
)
UNIT = st.sampled_from([b"m", b"km", b"mi", b"ft", b"parsec"])
DISTANCE = st.sampled_from([b"0", b"1", b"500", b"1500", b"3000", b"20000", b"-1", b"far"])
SHAPE = st.one_of(
    st.tuples(st.just(b"BYRADIUS"), DISTANCE, UNIT),
    st.tuples(st.just(b"BYBOX"), DISTANCE, DISTANCE, UNIT),
)
ORIGIN = st.one_of(
    st.tuples(st.just(b"FROMMEMBER"), MEMBER),
    POSITION.map(lambda position: (b"FROMLONLAT", *position)),
)
SEARCH_OPTIONS = st.lists(
    st.sampled_from(
        [
            (b"ASC",),
            (b"DESC",),
            (b"COUNT", b"2"),
            (b"COUNT", b"1", b"ANY"),
            (b"COUNT", b"0"),
            (b"WITHDIST",),
            (b"WITHHASH",),
            (b"WITHCOORD",),
        ]
    ),
    max_size=3,
).map(lambda options: [word for option in options for word in option])
STORE_OPTIONS = st.lists(
    st.sampled_from([(b"ASC",), (b"DESC",), (b"COUNT", b"2"), (b"STOREDIST",)]), max_size=2
).map(lambda options: [word for option in options for word in option])
ADD_FLAGS = st.lists(st.sampled_from([b"NX", b"XX", b"CH"]), max_size=2, unique=True)
RADIUS_OPTIONS = st.lists(
    st.sampled_from([(b"WITHDIST",), (b"WITHCOORD",), (b"ASC",), (b"COUNT", b"2"), (b"STORE", b"s")]),
    max_size=2,
).map(lambda options: [word for option in options for word in option])

c = st.tuples
GEO_COMMANDS = st.one_of(
    c(KEYS, ADD_FLAGS, st.lists(c(POSITION, MEMBER), min_size=1, max_size=3)).map(
        lambda t: [b"GEOADD", t[0], *t[1], *[word for (lon, lat), m in t[2] for word in (lon, lat, m)]]
    ),
    c(KEYS, st.lists(MEMBER, max_size=3)).map(lambda t: [b"GEOPOS", t[0], *t[1]]),
    c(KEYS, st.lists(MEMBER, max_size=3)).map(lambda t: [b"GEOHASH", t[0], *t[1]]),
    c(KEYS, MEMBER, MEMBER, st.sampled_from([(), (b"km",), (b"mi",), (b"ft",), (b"yards",)])).map(
        lambda t: [b"GEODIST", t[0], t[1], t[2], *t[3]]
    ),
    c(KEYS, ORIGIN, SHAPE, SEARCH_OPTIONS).map(lambda t: [b"GEOSEARCH", t[0], *t[1], *t[2], *t[3]]),
    c(KEYS, KEYS, ORIGIN, SHAPE, STORE_OPTIONS).map(
        lambda t: [b"GEOSEARCHSTORE", t[0], t[1], *t[2], *t[3], *t[4]]
    ),
    c(st.sampled_from([b"GEORADIUS", b"GEORADIUS_RO"]), KEYS, POSITION, DISTANCE, UNIT, RADIUS_OPTIONS).map(
        lambda t: [t[0], t[1], *t[2], t[3], t[4], *t[5]]
    ),
    c(
        st.sampled_from([b"GEORADIUSBYMEMBER", b"GEORADIUSBYMEMBER_RO"]),
        KEYS,
        MEMBER,
        DISTANCE,
        UNIT,
        RADIUS_OPTIONS,
    ).map(lambda t: [t[0], t[1], t[2], t[3], t[4], *t[5]]),
)
OTHER_COMMANDS = st.one_of(
    c(st.just(b"ZADD"), KEYS, st.sampled_from([b"0", b"1", b"3471579339700058", b"-5", b"inf"]), MEMBER).map(
        list
    ),
    c(st.sampled_from([b"ZREM", b"ZSCORE", b"ZRANK"]), KEYS, MEMBER).map(list),
    c(st.just(b"ZRANGE"), KEYS, st.just(b"0"), st.just(b"-1"), st.just(b"WITHSCORES")).map(list),
    c(st.just(b"SET"), KEYS, st.sampled_from([b"v", b"12"])).map(list),
    c(st.sampled_from([b"DEL", b"TYPE", b"ZCARD", b"OBJECT"]), KEYS).map(
        lambda t: [t[0], b"ENCODING", t[1]] if t[0] == b"OBJECT" else list(t)
    ),
    c(st.sampled_from([b"RENAME", b"ZUNIONSTORE"]), KEYS, KEYS).map(
        lambda t: [t[0], t[1], b"1", t[2]] if t[0] == b"ZUNIONSTORE" else list(t)
    ),
    c(st.just(b"COPY"), KEYS, KEYS, st.just(b"REPLACE")).map(list),
)
STATE = cases("""
ZRANGE g 0 -1 WITHSCORES
ZRANGE h 0 -1 WITHSCORES
ZRANGE s 0 -1 WITHSCORES
TYPE g
TYPE s
""")


def test_random_geo_sequences_match_redis(redis_server, leakdb_server):
    commands = st.one_of(GEO_COMMANDS, GEO_COMMANDS, OTHER_COMMANDS)
    machine = differential_machine(redis_server.port, leakdb_server.port, commands, probes=STATE)
    machine.TestCase.settings = settings(
        max_examples=EXAMPLES, stateful_step_count=30, deadline=None, suppress_health_check=list(HealthCheck)
    )
    machine.TestCase().runTest()
