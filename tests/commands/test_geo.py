"""Geo commands against a real redis-server: every option and every error, replies compared in RESP2
and RESP3 (byte for byte where redis-py would round coordinates), the sorted sets they leave, result
order with and without sorting (ties included), random positions and searches, and redis-py's geo
helpers."""

from __future__ import annotations

import os
import random
import shlex

import pytest
from conftest import assert_same, raw_commands, reply_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leakdb import DefaultStorage

CITIES = [
    ("13.361389", "38.115556", "Palermo"),
    ("15.087269", "37.502669", "Catania"),
    ("12.496366", "41.902782", "Rome"),
    ("2.352222", "48.856613", "Paris"),
    ("-0.127758", "51.507351", "London"),
    ("-74.005974", "40.712776", "NewYork"),
    ("151.209290", "-33.868820", "Sydney"),
    ("139.691711", "35.689487", "Tokyo"),
    ("-21.942400", "64.146600", "Reykjavik"),
    ("166.668200", "-77.846300", "McMurdo"),
    ("179.990000", "-17.713400", "Fiji"),
    ("-179.990000", "-13.833300", "Samoa"),
    ("0", "85.05112878", "Top"),
    ("0", "-85.05112878", "Bottom"),
    ("-180", "0", "West"),
    ("180", "0", "East"),
    ("0", "0", "Origin"),
    ("-0.0001", "-0.0001", "NearOrigin"),
]
_rng = random.Random(7)
MANY = [
    (f"{2.35 + _rng.uniform(-0.5, 0.5):.6f}", f"{48.85 + _rng.uniform(-0.3, 0.3):.6f}", f"p{i}")
    for i in range(200)
]
DUPS = [("10", "10", f"d{i:02}") for i in range(20)] + [("10.001", "10", f"e{i}") for i in range(10)]
LONG = [("1", "1", "x" * 70), ("1.001", "1", "y" * 70), ("1.002", "1", "short")]


def flat(points) -> list[str]:
    return [part for point in points for part in point]


def load_sample(client) -> None:
    client.flushall()
    client.execute_command("GEOADD", "cities", *flat(CITIES))
    client.execute_command("GEOADD", "many", *flat(MANY))
    client.execute_command("GEOADD", "dups", *flat(DUPS))
    client.execute_command("GEOADD", "long", *flat(LONG))
    # Scores no GEOADD writes: negative, beyond 52 bits, infinite.
    client.execute_command("ZADD", "weird", "-1", "neg", "1e20", "huge", "inf", "inf", "-inf", "minf")
    client.execute_command(
        "ZADD", "weird", "4503599627370496", "bit52", "9007199254740992", "bit53", "0", "zero"
    )
    client.execute_command("ZADD", "weird", "1e-300", "tiny", "3479099956230698", "palermo")
    client.execute_command("GEOADD", "ttl", "1", "2", "a")
    client.expire("ttl", 1000)
    client.set("str", "v")
    client.rpush("list", "x")


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def protocol_pair(request, redis_server, leakdb_server):
    clients = (redis_server.client(protocol=request.param), leakdb_server.client(protocol=request.param))
    for client in clients:
        client.response_callbacks.clear()
        load_sample(client)
    yield clients
    for client in clients:
        client.close()


STATE_KEYS = ("cities", "dups", "long", "ttl", "dst", "new", "str")


def assert_state_same(pair) -> None:
    for key in STATE_KEYS:
        assert_same(pair, "TYPE", key)
        assert_same(pair, "ZRANGE", key, "0", "-1", "WITHSCORES")
        assert_same(pair, "OBJECT", "ENCODING", key)
    for key in ("ttl", "dst"):
        assert_same_ttl(pair, key)


def assert_same_ttl(pair, key: str) -> None:
    """Whether the key has a deadline (the seconds left tick on their own, so only the kind is compared)."""
    kinds = [min(reply_of(client, "TTL", key), 1) for client in pair]
    assert kinds[0] == kinds[1], (key, kinds)


def cases(text: str) -> list[tuple[str, ...]]:
    return [tuple(shlex.split(line)) for line in text.strip().splitlines() if line.strip()]


GEOADD_CASES = cases("""
GEOADD new 13.361389 38.115556 Palermo
GEOADD new 13.361389 38.115556 Palermo 15.087269 37.502669 Catania
GEOADD cities 1 1 Palermo
GEOADD cities CH 1 1 Palermo 2 2 fresh
GEOADD cities NX 1 1 Palermo 2 2 fresh
GEOADD cities XX 1 1 Palermo 2 2 fresh
GEOADD cities XX CH 1 1 Palermo 2 2 fresh
GEOADD cities NX CH 1 1 Palermo 2 2 fresh
GEOADD cities ch nx 3 3 other
GEOADD cities CH CH 3 3 other
GEOADD cities NX XX 1 1 a
GEOADD cities GT 1 1 a
GEOADD cities LT 1 1 a
GEOADD cities INCR 1 1 a
GEOADD cities NX CH CH
GEOADD cities 1 1
GEOADD cities 1 1 a 2
GEOADD cities 181 1 a
GEOADD cities -180.0001 1 a
GEOADD cities 1 85.06 a
GEOADD cities 1 -85.06 a
GEOADD cities 1 90 a
GEOADD cities inf 1 a
GEOADD cities 1 -inf a
GEOADD cities nan 1 a
GEOADD cities x 1 a
GEOADD cities 1 y a
GEOADD cities 1e400 1 a
GEOADD cities " 1" 1 a
GEOADD cities 0x10 1 a
GEOADD cities 1 1 a 500 1 b
GEOADD cities 1 1 a x 1 b
GEOADD cities -0 -0 negzero
GEOADD cities 180 85.05112878 corner
GEOADD cities -180 -85.05112878 corner2
GEOADD cities 1e-320 1e-320 denormal
GEOADD str 1 1 a
GEOADD str 500 1 a
GEOADD list 1 1 a
GEOADD new XX 1 1 a
GEOADD long 1.003 1 zzz
GEOADD dups 10 10 d00
""")

READ_CASES = cases("""
GEOPOS cities Palermo Catania nope
GEOPOS cities
GEOPOS cities Top Bottom West East Origin NearOrigin Fiji Samoa
GEOPOS nokey a b
GEOPOS str a
GEOPOS weird neg huge inf minf bit52 bit53 zero tiny palermo
GEOPOS many p0 p1 p199
GEODIST cities Palermo Catania
GEODIST cities Palermo Catania km
GEODIST cities Palermo Catania KM
GEODIST cities Palermo Catania mi
GEODIST cities Palermo Catania ft
GEODIST cities Palermo Catania m
GEODIST cities Palermo Catania yards
GEODIST cities Palermo Catania km extra
GEODIST cities Palermo nope
GEODIST cities nope Palermo km
GEODIST nokey a b
GEODIST nokey a b yards
GEODIST str a b
GEODIST cities Palermo Palermo
GEODIST cities Fiji Samoa
GEODIST cities Top Bottom km
GEODIST cities West East
GEODIST cities Origin NearOrigin
GEODIST cities Sydney NewYork mi
GEODIST weird neg huge
GEODIST weird inf zero
GEODIST weird bit52 palermo
GEODIST cities
GEOHASH cities Palermo Catania nope
GEOHASH cities Top Bottom West East Origin Fiji Samoa McMurdo
GEOHASH cities
GEOHASH nokey a
GEOHASH str a
GEOHASH weird neg huge inf minf bit52 bit53 zero tiny palermo
""")

SEARCH_CASES = cases("""
GEOSEARCH cities FROMLONLAT 15 37 BYRADIUS 200 km
GEOSEARCH cities FROMLONLAT 15 37 BYRADIUS 200 km ASC
GEOSEARCH cities FROMLONLAT 15 37 BYRADIUS 200 km DESC WITHDIST
GEOSEARCH cities FROMLONLAT 15 37 BYRADIUS 200 km WITHCOORD WITHDIST WITHHASH
GEOSEARCH cities FROMLONLAT 15 37 BYRADIUS 200 km withhash
GEOSEARCH cities FROMLONLAT 15 37 BYRADIUS 2000 km COUNT 3
GEOSEARCH cities FROMLONLAT 15 37 BYRADIUS 2000 km COUNT 3 DESC
GEOSEARCH cities FROMLONLAT 15 37 BYRADIUS 2000 km COUNT 3 ANY
GEOSEARCH cities FROMLONLAT 15 37 BYRADIUS 2000 km COUNT 3 ANY ASC
GEOSEARCH cities FROMLONLAT 15 37 BYRADIUS 2000 km COUNT 100
GEOSEARCH cities FROMLONLAT 15 37 BYRADIUS 20000 km
GEOSEARCH cities FROMLONLAT 15 37 BYRADIUS 20000 km ASC WITHDIST
GEOSEARCH cities FROMLONLAT 0 0 BYRADIUS 1000 mi WITHDIST
GEOSEARCH cities FROMLONLAT 0 0 BYRADIUS 0 m
GEOSEARCH cities FROMLONLAT 0 0 BYRADIUS 30 m WITHDIST
GEOSEARCH cities FROMLONLAT 180 0 BYRADIUS 500 km WITHDIST
GEOSEARCH cities FROMLONLAT -179.9 -15 BYRADIUS 1000 km WITHDIST
GEOSEARCH cities FROMLONLAT 0 85 BYRADIUS 100 km WITHCOORD
GEOSEARCH cities FROMLONLAT 170 -78 BYRADIUS 500 km WITHDIST
GEOSEARCH cities FROMMEMBER Palermo BYRADIUS 300 km WITHDIST
GEOSEARCH cities FROMMEMBER Palermo BYBOX 400 400 km WITHDIST ASC
GEOSEARCH cities FROMMEMBER Paris BYBOX 2000 1000 km
GEOSEARCH cities FROMMEMBER Paris BYBOX 2000 1000 km DESC WITHCOORD
GEOSEARCH cities FROMMEMBER Paris BYBOX 20000 20000 km ASC
GEOSEARCH cities FROMMEMBER Paris BYBOX 0 0 km
GEOSEARCH cities FROMMEMBER Sydney BYBOX 5000 5000 mi
GEOSEARCH cities FROMMEMBER McMurdo BYBOX 3000 3000 km WITHDIST
GEOSEARCH cities FROMMEMBER nope BYRADIUS 10 km
GEOSEARCH cities FROMLONLAT 200 0 BYRADIUS 10 km
GEOSEARCH cities FROMLONLAT x 0 BYRADIUS 10 km
GEOSEARCH cities FROMLONLAT 0 0 BYRADIUS x km
GEOSEARCH cities FROMLONLAT 0 0 BYRADIUS -1 km
GEOSEARCH cities FROMLONLAT 0 0 BYRADIUS 1 yards
GEOSEARCH cities FROMLONLAT 0 0 BYBOX x 1 km
GEOSEARCH cities FROMLONLAT 0 0 BYBOX 1 x km
GEOSEARCH cities FROMLONLAT 0 0 BYBOX -1 1 km
GEOSEARCH cities FROMLONLAT 0 0 BYBOX 1 -1 km
GEOSEARCH cities FROMLONLAT 0 0 BYBOX 1 1 yards
GEOSEARCH cities FROMLONLAT 0 0 BYBOX 1 1
GEOSEARCH cities FROMLONLAT 0 0 BYRADIUS 1
GEOSEARCH cities FROMLONLAT 0 BYRADIUS 1 km
GEOSEARCH cities FROMLONLAT 0 0 FROMMEMBER Paris BYRADIUS 1 km
GEOSEARCH cities FROMMEMBER Paris FROMLONLAT 0 0 BYRADIUS 1 km
GEOSEARCH cities FROMMEMBER Paris BYRADIUS 1 km BYBOX 1 1 km
GEOSEARCH cities FROMMEMBER Paris BYBOX 1 1 km BYRADIUS 1 km
GEOSEARCH cities BYRADIUS 1 km
GEOSEARCH cities FROMMEMBER Paris WITHDIST ASC
GEOSEARCH cities FROMMEMBER Paris BYRADIUS 10 km COUNT 0
GEOSEARCH cities FROMMEMBER Paris BYRADIUS 10 km COUNT -1
GEOSEARCH cities FROMMEMBER Paris BYRADIUS 10 km COUNT x
GEOSEARCH cities FROMMEMBER Paris BYRADIUS 10 km COUNT
GEOSEARCH cities FROMMEMBER Paris BYRADIUS 10 km ANY
GEOSEARCH cities FROMMEMBER Paris BYRADIUS 10 km STORE dst
GEOSEARCH cities FROMMEMBER Paris BYRADIUS 10 km STOREDIST
GEOSEARCH cities FROMMEMBER Paris BYRADIUS 10 km FOO
geosearch cities BYRADIUS 10 km FOO
geosearch cities FROMMEMBER Paris
GeoSearch cities FROMMEMBER Paris WITHHASH
GEOSEARCH nokey FROMMEMBER Paris BYRADIUS 10 km
GEOSEARCH nokey FROMMEMBER Paris BYRADIUS x km
GEOSEARCH nokey FROMLONLAT 500 0 BYRADIUS 10 km
GEOSEARCH nokey BYRADIUS 10 km
GEOSEARCH str FROMMEMBER Paris BYRADIUS 10 km
GEOSEARCH str FROMLONLAT 500 0 BYRADIUS 10 km
GEOSEARCH many FROMLONLAT 2.35 48.85 BYRADIUS 20 km
GEOSEARCH many FROMLONLAT 2.35 48.85 BYRADIUS 20 km ASC WITHDIST
GEOSEARCH many FROMLONLAT 2.35 48.85 BYRADIUS 20 km COUNT 7 WITHDIST
GEOSEARCH many FROMLONLAT 2.35 48.85 BYBOX 30 20 km COUNT 5 DESC
GEOSEARCH many FROMLONLAT 2.35 48.85 BYBOX 30 20 km COUNT 5 ANY
GEOSEARCH many FROMMEMBER p17 BYRADIUS 5000 m WITHDIST WITHCOORD
GEOSEARCH many FROMLONLAT 2.35 48.85 BYRADIUS 500 km COUNT 150
GEOSEARCH dups FROMLONLAT 10 10 BYRADIUS 1 km
GEOSEARCH dups FROMLONLAT 10 10 BYRADIUS 1 km ASC
GEOSEARCH dups FROMLONLAT 10 10 BYRADIUS 1 km DESC
GEOSEARCH dups FROMLONLAT 10 10 BYRADIUS 1 km COUNT 5
GEOSEARCH dups FROMLONLAT 10 10 BYRADIUS 1 km COUNT 12 DESC
GEOSEARCH dups FROMLONLAT 10 10 BYRADIUS 1 km COUNT 25 WITHDIST
GEOSEARCH dups FROMLONLAT 10 10 BYRADIUS 1 km COUNT 29 DESC
GEOSEARCH dups FROMLONLAT 10.0005 10 BYRADIUS 1 km COUNT 7
GEOSEARCH dups FROMLONLAT 10.0005 10 BYRADIUS 1 km COUNT 17 DESC WITHDIST
GEOSEARCH dups FROMLONLAT 10 10 BYRADIUS 1 km COUNT 3 ANY
GEOSEARCH weird FROMLONLAT 0 0 BYRADIUS 20000 km WITHHASH
GEOSEARCH weird FROMMEMBER huge BYRADIUS 20000 km
GEOSEARCH long FROMLONLAT 1 1 BYRADIUS 10 km WITHDIST
GEOSEARCHSTORE dst cities FROMLONLAT 15 37 BYRADIUS 200 km
GEOSEARCHSTORE dst cities FROMLONLAT 15 37 BYRADIUS 200 km STOREDIST
GEOSEARCHSTORE dst cities FROMLONLAT 15 37 BYRADIUS 2000 km COUNT 2 DESC STOREDIST
GEOSEARCHSTORE dst cities FROMLONLAT 15 37 BYRADIUS 2000 km COUNT 2 ANY
GEOSEARCHSTORE dst cities FROMLONLAT 0 0 BYRADIUS 1 m
GEOSEARCHSTORE ttl cities FROMLONLAT 0 0 BYRADIUS 1 m
GEOSEARCHSTORE ttl cities FROMLONLAT 15 37 BYRADIUS 200 km
GEOSEARCHSTORE str cities FROMLONLAT 15 37 BYRADIUS 200 km
GEOSEARCHSTORE dst nokey FROMLONLAT 15 37 BYRADIUS 200 km
GEOSEARCHSTORE str nokey FROMLONLAT 15 37 BYRADIUS 200 km
GEOSEARCHSTORE dst str FROMLONLAT 15 37 BYRADIUS 200 km
GEOSEARCHSTORE dst cities FROMLONLAT 15 37 BYRADIUS 200 km WITHDIST
GEOSEARCHSTORE dst cities FROMLONLAT 15 37 BYRADIUS 200 km WITHCOORD
GEOSEARCHSTORE dst cities FROMLONLAT 15 37 BYRADIUS 200 km STORE x
GEOSEARCHSTORE dst cities FROMLONLAT 15 37 BYRADIUS 200 km STOREDIST x
GEOSEARCHSTORE dst cities BYRADIUS 200 km
GEOSEARCHSTORE dst long FROMLONLAT 1 1 BYRADIUS 10 km
GEOSEARCHSTORE dst many FROMLONLAT 2.35 48.85 BYRADIUS 100 km
GEOSEARCHSTORE cities cities FROMMEMBER Palermo BYRADIUS 300 km STOREDIST
""")

RADIUS_CASES = cases("""
GEORADIUS cities 15 37 200 km
GEORADIUS cities 15 37 200 km WITHDIST WITHCOORD WITHHASH ASC
GEORADIUS cities 15 37 2000 km COUNT 2 DESC
GEORADIUS cities 15 37 2000 km COUNT 2 ANY
GEORADIUS cities 15 37 2000 km STORE dst
GEORADIUS cities 15 37 2000 km STOREDIST dst COUNT 3
GEORADIUS cities 15 37 2000 km STORE dst STOREDIST dst
GEORADIUS cities 15 37 2000 km STORE dst WITHDIST
GEORADIUS cities 15 37 2000 km STORE
GEORADIUS cities 15 37 1 m STORE dst
GEORADIUS cities 15 37 2000 km FROMMEMBER Paris
GEORADIUS cities 15 37 2000 km BYRADIUS 1 km
GEORADIUS cities 15 37 2000 km STOREDIST
GEORADIUS cities 15 37 -1 km
GEORADIUS cities 15 37 x km
GEORADIUS cities 15 37 1 yards
GEORADIUS cities 15 91 1 km
GEORADIUS cities x 37 1 km
GEORADIUS cities 15 37 1
GEORADIUS nokey 15 37 1 km
GEORADIUS nokey 15 37 1 km STORE dst
GEORADIUS nokey 15 37 x km
GEORADIUS str 15 37 1 km
GEORADIUS_RO cities 15 37 200 km WITHDIST
GEORADIUS_RO cities 15 37 200 km STORE dst
GEORADIUS_RO cities 15 37 200 km STOREDIST dst
GEORADIUSBYMEMBER cities Palermo 200 km WITHDIST
GEORADIUSBYMEMBER cities Palermo 2000 km COUNT 3 WITHCOORD
GEORADIUSBYMEMBER cities Palermo 2000 km STORE dst
GEORADIUSBYMEMBER cities Palermo 2000 km STOREDIST dst DESC
GEORADIUSBYMEMBER cities nope 200 km
GEORADIUSBYMEMBER cities nope x km
GEORADIUSBYMEMBER cities Palermo x km
GEORADIUSBYMEMBER cities Palermo 1 yards
GEORADIUSBYMEMBER nokey Palermo 200 km
GEORADIUSBYMEMBER nokey Palermo x yards
GEORADIUSBYMEMBER nokey Palermo x yards STORE dst
GEORADIUSBYMEMBER nokey Palermo 1 km WITHDIST STORE dst
GEORADIUSBYMEMBER nokey Palermo 1 km COUNT 0
GEORADIUSBYMEMBER str Palermo 200 km
GEORADIUSBYMEMBER_RO cities Palermo 200 km WITHDIST
GEORADIUSBYMEMBER_RO cities Palermo 200 km STORE dst
GEORADIUSBYMEMBER dups d05 1 km COUNT 4
GEORADIUSBYMEMBER dups e3 1 km COUNT 14 DESC WITHDIST
GEORADIUS
GEORADIUS cities 15 37 200
GEORADIUSBYMEMBER cities Palermo 200
GEOSEARCH cities FROMMEMBER Paris BYRADIUS
GEOSEARCHSTORE dst cities FROMMEMBER Paris
""")

ALL_CASES = GEOADD_CASES + READ_CASES + SEARCH_CASES + RADIUS_CASES


def test_case_table_is_broad():
    assert len(ALL_CASES) > 220


@pytest.mark.parametrize("command", ALL_CASES, ids=lambda c: " ".join(c)[:70])
def test_geo_commands_match_redis(protocol_pair, command):
    assert_same(protocol_pair, *command)
    assert_state_same(protocol_pair)


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_reply_bytes_match_redis(pair, redis_server, leakdb_server, resp3):
    commands = [
        ("GEOADD", "g", *flat(CITIES)),
        ("GEOPOS", "g", *(name for _, _, name in CITIES), "nope"),
        ("GEODIST", "g", "Palermo", "Catania", "km"),
        ("GEODIST", "g", "Palermo", "nope"),
        ("GEODIST", "nokey", "a", "b"),
        ("GEOHASH", "g", "Palermo", "nope"),
        (
            "GEOSEARCH",
            "g",
            "FROMLONLAT",
            "15",
            "37",
            "BYRADIUS",
            "20000",
            "km",
            "WITHCOORD",
            "WITHDIST",
            "WITHHASH",
        ),
        ("GEORADIUS", "g", "0", "0", "10000", "mi", "WITHCOORD", "ASC", "COUNT", "4"),
        ("GEOSEARCH", "g", "FROMMEMBER", "Top", "BYBOX", "3000", "3000", "km", "WITHCOORD"),
        ("GEOSEARCH", "nokey", "FROMMEMBER", "Top", "BYBOX", "3000", "3000", "km"),
        ("GEOSEARCHSTORE", "d", "g", "FROMMEMBER", "Paris", "BYRADIUS", "1000", "km", "STOREDIST"),
        ("ZRANGE", "d", "0", "-1", "WITHSCORES"),
        ("GEOPOS", "g", "West", "East", "Top", "Bottom"),
        ("GEOADD", "g", "500", "1", "bad"),
        ("GEOADD", "g", "-inf", "1", "bad"),
    ]
    expected = raw_commands(redis_server.port, *commands, resp3=resp3)
    actual = raw_commands(leakdb_server.port, *commands, resp3=resp3)
    if resp3:
        end = b"$7\r\nmodules\r\n*0\r\n"
        expected = expected[expected.index(end) + len(end) :]
        actual = actual[actual.index(end) + len(end) :]
    assert actual == expected


# -- random positions and searches --------------------------------------------------------------------

LONGITUDE = st.one_of(
    st.floats(-180, 180, allow_nan=False), st.sampled_from([-180.0, 180.0, 0.0, 179.99999, -179.99999, 2.35])
)
LATITUDE = st.one_of(
    st.floats(-85.05112878, 85.05112878, allow_nan=False),
    st.sampled_from([85.05112878, -85.05112878, 0.0, 84.9, -84.9, 48.85, 66.5, -80.5]),
)
POINT = st.tuples(LONGITUDE, LATITUDE)
DISTANCE = st.sampled_from(["0", "1", "50", "500", "2500", "9000", "20000", "0.5"])
UNIT = st.sampled_from(["m", "km", "mi", "ft"])
SHAPE = st.one_of(
    st.tuples(st.just("BYRADIUS"), DISTANCE, UNIT),
    st.tuples(st.just("BYBOX"), DISTANCE, DISTANCE, UNIT),
)
OPTIONS = st.lists(
    st.sampled_from(
        [
            ("ASC",),
            ("DESC",),
            ("WITHDIST",),
            ("WITHHASH",),
            ("WITHCOORD",),
            ("COUNT", "3"),
            ("COUNT", "1"),
            ("COUNT", "10", "ANY"),
            ("COUNT", "40"),
        ]
    ),
    max_size=3,
)
EXAMPLES = int(os.environ.get("LEAKDB_GEO_EXAMPLES", "60"))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    points=st.lists(POINT, min_size=1, max_size=60),
    repeats=st.integers(0, 8),
    centre=POINT,
    shape=SHAPE,
    options=OPTIONS,
)
def test_random_searches_match_redis(pair, points, repeats, centre, shape, options):
    """Random positions (some repeated, so distances tie) and a random search of every kind."""
    args = [part for i, (lon, lat) in enumerate(points) for part in (repr(lon), repr(lat), f"m{i}")]
    if repeats:
        lon, lat = points[0]
        args += [part for i in range(repeats) for part in (repr(lon), repr(lat), f"r{i}")]
    for client in pair:
        client.flushall()
        client.execute_command("GEOADD", "g", *args)
    assert_same(pair, "ZRANGE", "g", "0", "-1", "WITHSCORES")
    extra = [word for option in options for word in option]
    centre_args = ("FROMLONLAT", repr(centre[0]), repr(centre[1]))
    assert_same(pair, "GEOSEARCH", "g", *centre_args, *shape, *extra)
    assert_same(pair, "GEOSEARCH", "g", "FROMMEMBER", "m0", *shape, *extra)
    stored = [word for word in extra if word not in ("WITHDIST", "WITHHASH", "WITHCOORD")]
    assert_same(pair, "GEOSEARCHSTORE", "d", "g", *centre_args, *shape, *stored, "STOREDIST")
    assert_same(pair, "ZRANGE", "d", "0", "-1", "WITHSCORES")
    assert_same(pair, "GEOPOS", "g", "m0", f"m{len(points) - 1}")
    assert_same(pair, "GEOHASH", "g", "m0", f"m{len(points) - 1}")
    assert_same(pair, "GEODIST", "g", "m0", f"m{len(points) - 1}", "mi")


def test_many_points_with_ties_come_out_in_redis_order(pair):
    """Hundreds of members on a handful of spots: COUNT makes Redis partially sort, ties and all."""
    spots = [(2.0, 48.0), (2.001, 48.0), (2.002, 48.001), (1.999, 47.999)]
    args = [part for i in range(400) for part in (repr(spots[i % 4][0]), repr(spots[i % 4][1]), f"m{i}")]
    for client in pair:
        client.execute_command("GEOADD", "g", *args)
    for count in ("1", "7", "41", "99", "100", "101", "399", "400", "1000"):
        for order in ("ASC", "DESC"):
            assert_same(
                pair, "GEOSEARCH", "g", "FROMLONLAT", "2", "48", "BYRADIUS", "5", "km", "COUNT", count, order
            )
    assert_same(pair, "GEORADIUS", "g", "2", "48", "5", "km")


# -- client libraries and the Python API --------------------------------------------------------------


def test_redis_py_geo_helpers_match_redis(pair):
    results = []
    for client in pair:
        client.flushall()
        places = [float(part) if i % 3 < 2 else part for i, part in enumerate(flat(CITIES))]
        results.append(client.geoadd("cities", places))
        results.append(client.geoadd("cities", [1.0, 1.0, "Palermo", 2.0, 2.0, "new"], xx=True, ch=True))
        results.append(client.geopos("cities", "Palermo", "nope", "Top"))
        results.append(client.geodist("cities", "Paris", "London", unit="km"))
        results.append(client.geohash("cities", "Rome", "Tokyo"))
        results.append(client.georadius("cities", 15, 37, 2000, unit="km", withdist=True, sort="ASC"))
        results.append(client.georadiusbymember("cities", "Paris", 1500, unit="km", count=3, sort="DESC"))
        results.append(
            client.geosearch(
                "cities",
                longitude=2.35,
                latitude=48.85,
                radius=1200,
                unit="km",
                withcoord=True,
                withhash=True,
            )
        )
        results.append(
            client.geosearch("cities", member="Rome", width=2000, height=1500, unit="km", sort="ASC")
        )
        results.append(
            client.geosearchstore("near", "cities", member="Rome", radius=800, unit="km", storedist=True)
        )
        results.append(client.zrange("near", 0, -1, withscores=True))
        results.append(client.georadius("cities", 15, 37, 800, unit="km", store="stored"))
        results.append(client.zrange("stored", 0, -1, withscores=True))
    half = len(results) // 2
    assert results[:half] == results[half:]


def test_python_api_reaches_geo_commands():
    storage = DefaultStorage()
    assert (
        storage.execute_command(
            "GEOADD", "g", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"
        )
        == 2
    )
    assert storage.execute_command("GEODIST", "g", "Palermo", "Catania", "km") == b"166.2742"
    assert storage.execute_command("GEOSEARCH", "g", "FROMMEMBER", "Palermo", "BYRADIUS", "100", "km") == [
        b"Palermo"
    ]
    assert storage.execute_command("ZSCORE", "g", "Palermo") == 3479099956230698.0


GEO_COMMANDS = ["geoadd", "geopos", "geodist", "geohash", "geosearch", "geosearchstore", "georadius"]
GEO_COMMANDS += ["georadius_ro", "georadiusbymember", "georadiusbymember_ro"]


def test_command_table_matches_redis(pair):
    """Name, arity, flags, key positions and ACL categories as COMMAND INFO gives them."""
    for client in pair:
        client.response_callbacks.clear()
    for name in GEO_COMMANDS:
        entries = [client.execute_command("COMMAND", "INFO", name) for client in pair]
        expected, actual = (entry[0][:7] for entry in entries)
        assert actual == expected, name
