"""Sorted set commands, each reply compared with a real redis-server's reply to the same command, in
RESP2 and RESP3 (and byte for byte where redis-py would hide score digits); random sequences of
commands; random replies checked for shape; sorted sets surviving restarts and the stored layout."""

from __future__ import annotations

import pytest
from conftest import assert_deadline, assert_same, raw_commands, raw_exchange, reply_of, wall_ms
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leakdb import DefaultStorage, PersistentStorage
from leakdb.engine.zset import ZSet
from leakdb.errors import CommandError, StorageError
from leakdb.persistence.base import deserialize, serialize

SCORED = ["0.1", "a", "1e17", "b", "-0", "c", "0.3333333333333333", "d", "inf", "e"]
SCORED += ["123456789012345678", "f", "1.1", "g", "1.5", "h", "-inf", "i", "5", "j"]
BIG = [part for i in range(200) for part in (str(i / 7), f"m{i}")]


def load_sample(client) -> None:
    client.flushall()
    client.execute_command("ZADD", "z", *SCORED)
    client.execute_command("ZADD", "lex", *["0", "a", "0", "b", "0", "c", "0", "d", "0", "e"])
    client.execute_command("ZADD", "mixed", *["1", "d", "2", "a", "3", "c", "4", "b", "5", "e"])
    client.execute_command("ZADD", "a", *["1", "x", "2", "y", "3", "z", "inf", "w"])
    client.execute_command("ZADD", "b", *["10", "y", "20", "z", "30", "q", "-inf", "w"])
    client.execute_command("ZADD", "big", *BIG)
    client.sadd("s", "y", "q", "r")
    client.set("str", "v")


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def protocol_pair(request, redis_server, leakdb_server):
    """(redis, leakdb) clients speaking RESP2 or RESP3, on flushed servers holding the sample data."""
    clients = (redis_server.client(protocol=request.param), leakdb_server.client(protocol=request.param))
    for client in clients:
        client.response_callbacks.clear()  # compare replies as sent, not as redis-py converts them
        load_sample(client)
    yield clients
    for client in clients:
        client.close()


@pytest.fixture
def pair2(redis_server, leakdb_server):
    """(redis, leakdb) RESP2 clients on flushed servers: scores arrive as the exact text sent."""
    clients = (redis_server.client(protocol=2), leakdb_server.client(protocol=2))
    for client in clients:
        client.response_callbacks.clear()
        client.flushall()
    yield clients
    for client in clients:
        client.close()


STATE_KEYS = ("z", "d", "a", "b", "nk", "lex", "mixed")


def assert_state_same(pair) -> None:
    for key in STATE_KEYS:
        assert_same(pair, "TYPE", key)
        assert_same(pair, "ZRANGE", key, "0", "-1", "WITHSCORES")
        assert_same(pair, "OBJECT", "ENCODING", key)
    assert_same(pair, "ZCARD", "big")


def cases(text: str) -> list[tuple[str, ...]]:
    import shlex

    return [tuple(shlex.split(line)) for line in text.strip().splitlines() if line.strip()]


ZADD_CASES = cases("""
ZADD z 1e400 x
ZADD z nan y
ZADD z 1e-320 y
ZADD z 5e-324 q
ZADD z 1e-400 q
ZADD z 0e-999 q
ZADD z 0x10 hx
ZADD z 0x1.8p1 hx
ZADD z 0x hx
ZADD z " 1" sp
ZADD z "1 " sp
ZADD z "" sp
ZADD z 1_000 sp
ZADD z 1e sp
ZADD z .5 sp
ZADD z 5. sp
ZADD z +inf pi
ZADD z -INF mi
ZADD z Infinity ii
ZADD z infinit ii
ZADD z XX NX 1 a
ZADD z GT LT 1 a
ZADD z NX GT 1 a
ZADD z NX LT 1 a
ZADD z XX GT 1 a
ZADD z INCR 1 a 2 b
ZADD z INCR
ZADD z 1
ZADD z NX
ZADD z 1 a 2
ZADD z CH 5 a 6 newm 1e17 b
ZADD z GT CH 1 a 10 b 3 new
ZADD z LT CH 1 a 10 b
ZADD z XX CH 7 a 8 nope
ZADD z NX CH 7 a 8 nope
ZADD z XX 1 nope
ZADD z XX INCR 1 nope
ZADD z NX INCR 1 a
ZADD z NX INCR 1 newone
ZADD z INCR -inf e
ZADD z INCR inf e
ZADD z INCR 1 e
ZADD z GT INCR 0 a
ZADD z GT INCR 1 a
ZADD z LT INCR 1 a
ZADD z INCR -0 a
ZADD z incr ch 2 a
ZADD z 1 a x b
ZADD z 0 c
ZADD z -0 a
ZADD nk XX 1 a
ZADD nk INCR -0 a
ZADD nk -0 a 1 b
ZADD str 1 a
ZADD str x a
ZINCRBY z 1 c
ZINCRBY z abc a
ZINCRBY z nx a
ZINCRBY z -inf e
ZINCRBY z 0.2 a
ZINCRBY nk 1.5 m
ZINCRBY str 1 a
ZINCRBY z 1
""")

READ_CASES = cases("""
ZSCORE z c
ZSCORE z nope
ZSCORE nk a
ZSCORE str a
ZSCORE z
ZMSCORE z a nope e i
ZMSCORE nk a b
ZMSCORE str a
ZMSCORE z
ZCARD z
ZCARD nk
ZCARD str
ZCOUNT z -inf +inf
ZCOUNT z (1 5
ZCOUNT z (0.1 (5
ZCOUNT z 5 1
ZCOUNT z a b
ZCOUNT z 1 b
ZCOUNT nk a b
ZCOUNT nk 0 1
ZCOUNT str 0 1
ZCOUNT big 1 10
ZLEXCOUNT lex - +
ZLEXCOUNT lex [b [d
ZLEXCOUNT lex (a [d
ZLEXCOUNT lex b d
ZLEXCOUNT lex [d [b
ZLEXCOUNT mixed [b [d
ZLEXCOUNT mixed [a [b
ZLEXCOUNT nk [a [b
ZLEXCOUNT str - +
ZRANK z a
ZRANK z i
ZRANK z e
ZRANK z nope
ZRANK nk a
ZRANK str a
ZRANK z a extra
ZREVRANK z a
ZREVRANK z nope
ZRANK big m100
ZREVRANK big m100
""")

RANGE_CASES = cases("""
ZRANGE z 0 -1 WITHSCORES
ZRANGE z -3 -1
ZRANGE z -100 100
ZRANGE z 5 2
ZRANGE z 10 20
ZRANGE z 0 1 REV WITHSCORES
ZRANGE z 0 0 rev
ZRANGE z a 1
ZRANGE z 0 1 withscores WITHSCORES
ZRANGE z (1 5 BYSCORE WITHSCORES
ZRANGE z 5 (1 BYSCORE REV WITHSCORES
ZRANGE z -inf +inf BYSCORE LIMIT 1 2
ZRANGE z -inf +inf BYSCORE LIMIT -1 2
ZRANGE z -inf +inf BYSCORE LIMIT 2 -1
ZRANGE z -inf +inf BYSCORE LIMIT 2 0
ZRANGE z -inf +inf BYSCORE LIMIT 10 1
ZRANGE z -inf +inf BYSCORE LIMIT 9 5
ZRANGE z +inf -inf BYSCORE REV LIMIT 1 3 WITHSCORES
ZRANGE z 0 1 LIMIT 0 1
ZRANGE z 0 1 LIMIT 0 -1
ZRANGE z 0 1 LIMIT 1
ZRANGE z 0 1 LIMIT a b
ZRANGE z 0 1 LIMIT 0 b
ZRANGE lex - + BYLEX WITHSCORES
ZRANGE lex - + BYLEX
ZRANGE lex + - BYLEX REV
ZRANGE lex [b [d BYLEX LIMIT 1 1
ZRANGE lex (e [b BYLEX REV
ZRANGE lex a c BYLEX
ZRANGE z a c BYSCORE
ZRANGE z 0 1 REV REV
ZRANGE z 0 1 BYSCORE BYLEX
ZRANGE z 0 1 BYSCORE BYSCORE
ZRANGE z 0 1 FOO
ZRANGE nk 0 -1
ZRANGE nk a b
ZRANGE str 0 -1
ZRANGE big 10 15 WITHSCORES
ZRANGE big 5 (6 BYSCORE WITHSCORES
ZRANGE big 20 10 BYSCORE REV LIMIT 3 4 WITHSCORES
ZRANGEBYSCORE z -inf +inf WITHSCORES
ZRANGEBYSCORE z -inf +inf REV
ZRANGEBYSCORE z -inf +inf BYSCORE
ZRANGEBYSCORE z (0.1 (1.5
ZRANGEBYSCORE z "" ""
ZRANGEBYSCORE z ( 0
ZRANGEBYSCORE z "( 1" +inf
ZRANGEBYSCORE z " 1" +inf
ZRANGEBYSCORE z "1 " +inf
ZRANGEBYSCORE z "  " +inf
ZRANGEBYSCORE z nan +inf
ZRANGEBYSCORE z 0x1p0 +inf
ZRANGEBYSCORE z (inf +inf WITHSCORES
ZRANGEBYSCORE z -inf (-inf WITHSCORES
ZRANGEBYSCORE z 1e400 inf WITHSCORES
ZRANGEBYSCORE z 1 1
ZRANGEBYSCORE z (5 5
ZRANGEBYSCORE z -inf +inf LIMIT 1
ZRANGEBYSCORE z -inf +inf LIMIT 1 2 3
ZRANGEBYSCORE z -inf +inf WITHSCORES LIMIT 1 2
ZRANGEBYSCORE nk -inf +inf
ZREVRANGEBYSCORE z +inf -inf WITHSCORES LIMIT 0 3
ZREVRANGEBYSCORE z 1 5
ZREVRANGEBYSCORE z (5 (0.1
ZREVRANGEBYSCORE z a b
ZREVRANGE z 0 2 WITHSCORES
ZREVRANGE z -2 -1
ZREVRANGE z 0 2 LIMIT 0 1
ZREVRANGE z 0 2 REV
ZRANGEBYLEX lex - +
ZRANGEBYLEX lex - + WITHSCORES
ZRANGEBYLEX lex - + LIMIT 1 1
ZRANGEBYLEX lex - + LIMIT 1 -1
ZRANGEBYLEX lex - + LIMIT -1 1
ZRANGEBYLEX lex (a [c
ZRANGEBYLEX lex [c (a
ZRANGEBYLEX lex [a [a
ZRANGEBYLEX lex (a (a
ZRANGEBYLEX lex - -
ZRANGEBYLEX lex + +
ZRANGEBYLEX lex + -
ZRANGEBYLEX lex -x +
ZRANGEBYLEX lex "" +
ZRANGEBYLEX lex [ +
ZRANGEBYLEX lex ( +
ZRANGEBYLEX lex [b (d
ZRANGEBYLEX lex b d
ZRANGEBYLEX mixed [b [d
ZRANGEBYLEX mixed - [c
ZRANGEBYLEX mixed [c +
ZRANGEBYLEX mixed [e +
ZRANGEBYLEX mixed - (d
ZRANGEBYLEX nk - +
ZREVRANGEBYLEX lex + -
ZREVRANGEBYLEX lex [d (a LIMIT 1 2
ZREVRANGEBYLEX lex (d [b
ZREVRANGEBYLEX mixed [d [b
ZREVRANGEBYLEX mixed + [c
ZREVRANGEBYLEX mixed [b -
""")

WRITE_CASES = cases("""
ZREM z a b nope
ZREM z nope
ZREM nk a
ZREM str a
ZREM z a b c d e f g h i j
ZREMRANGEBYRANK z 0 0
ZREMRANGEBYRANK z -2 -1
ZREMRANGEBYRANK z 5 2
ZREMRANGEBYRANK z 0 -1
ZREMRANGEBYRANK z a 1
ZREMRANGEBYRANK nk 0 1
ZREMRANGEBYRANK str 0 1
ZREMRANGEBYSCORE z (1 2
ZREMRANGEBYSCORE z -inf +inf
ZREMRANGEBYSCORE z a 2
ZREMRANGEBYSCORE nk a 2
ZREMRANGEBYSCORE str 0 1
ZREMRANGEBYLEX lex (a [c
ZREMRANGEBYLEX lex - +
ZREMRANGEBYLEX lex a c
ZREMRANGEBYLEX mixed [a [c
ZREMRANGEBYLEX str - +
ZPOPMIN z
ZPOPMIN z 3
ZPOPMAX z
ZPOPMAX z 2
ZPOPMAX z 100
ZPOPMIN z 0
ZPOPMIN z -1
ZPOPMIN z x
ZPOPMIN z 1 2
ZPOPMIN str 0
ZPOPMIN str
ZPOPMIN nk
ZPOPMIN nk 2
ZMPOP 2 nk a MIN
ZMPOP 2 nk a MAX COUNT 2
ZMPOP 1 a MIN COUNT 10
ZMPOP 1 nk MIN
ZMPOP 2 str a MIN
ZMPOP 2 a str MIN
ZMPOP 0 a MIN
ZMPOP -1 a MIN
ZMPOP x a MIN
ZMPOP 1 a MID
ZMPOP 3 a MIN
ZMPOP 1 b MIN COUNT 0
ZMPOP 1 b MIN COUNT x
ZMPOP 1 b MIN COUNT 1 COUNT 1
ZMPOP 1 b MIN COUNT
ZMPOP 1 b max count 2
""")

ALGEBRA_CASES = cases("""
ZUNION 2 a b WITHSCORES
ZUNION 2 a b WEIGHTS 2 0.5 WITHSCORES
ZUNION 2 a b WEIGHTS 0 1 WITHSCORES
ZUNION 2 a b WEIGHTS -1 1 WITHSCORES
ZUNION 2 a b AGGREGATE MIN WITHSCORES
ZUNION 2 a b AGGREGATE max WITHSCORES
ZUNION 2 a b AGGREGATE SUM WEIGHTS 1 1 WITHSCORES
ZUNION 3 a b s WITHSCORES
ZUNION 2 a str
ZUNION 2 a nk WITHSCORES
ZUNION 1 z WITHSCORES
ZUNION 0 a
ZUNION -1 a
ZUNION x a
ZUNION 3 a b
ZUNION 2 a b WEIGHTS 1
ZUNION 2 a b WEIGHTS 1 x
ZUNION 2 a b WEIGHTS 1 nan
ZUNION 2 a b AGGREGATE avg
ZUNION 2 a b AGGREGATE
ZUNION 2 a b WITHSCORES WITHSCORES
ZUNION 2 str b WEIGHTS x y
ZINTER 2 a b WITHSCORES
ZINTER 2 a b WEIGHTS 0 1 WITHSCORES
ZINTER 2 a b WEIGHTS 1 -1 WITHSCORES
ZINTER 2 a b AGGREGATE MIN WITHSCORES
ZINTER 2 a b AGGREGATE MAX WITHSCORES
ZINTER 3 a b s WITHSCORES
ZINTER 2 a nk WITHSCORES
ZINTER 2 a a WITHSCORES
ZINTER 2 s s WITHSCORES
ZINTER 1 big
ZDIFF 2 a b WITHSCORES
ZDIFF 2 a s WITHSCORES
ZDIFF 2 nk a
ZDIFF 2 a b WEIGHTS 1 1
ZDIFF 2 a b AGGREGATE SUM
ZDIFF 1 s WITHSCORES
ZDIFF 2 a nk WITHSCORES
ZUNIONSTORE d 2 a b
ZUNIONSTORE d 2 a b WEIGHTS 1 -1
ZUNIONSTORE d 2 a b WITHSCORES
ZUNIONSTORE d 2 big a
ZUNIONSTORE a 2 a b
ZUNIONSTORE d 0 a
ZUNIONSTORE str 1 a
ZINTERSTORE d 2 a b AGGREGATE MAX
ZINTERSTORE d 2 a nk
ZINTERSTORE z 2 a nk
ZINTERSTORE d 2 a str
ZDIFFSTORE d 2 a b
ZDIFFSTORE d 2 a b WEIGHTS 1 2
ZDIFFSTORE d 2 a b WITHSCORES
ZDIFFSTORE d 1 s
ZINTERCARD 2 a b
ZINTERCARD 2 a b LIMIT 1
ZINTERCARD 2 a b LIMIT 0
ZINTERCARD 2 a b LIMIT -1
ZINTERCARD 2 a b LIMIT x
ZINTERCARD 2 a b LIMIT
ZINTERCARD 2 a b WEIGHTS 1 1
ZINTERCARD 2 a b WITHSCORES
ZINTERCARD 0 a
ZINTERCARD 3 a b s
ZINTERCARD 2 a str
ZINTERCARD 2 a nk
ZRANGESTORE d a 0 -1
ZRANGESTORE d a (1 +inf BYSCORE LIMIT 0 1
ZRANGESTORE d a 0 -1 WITHSCORES
ZRANGESTORE d nk 0 -1
ZRANGESTORE d str 0 -1
ZRANGESTORE d a [x + BYLEX REV
ZRANGESTORE d z 0 -1 REV
ZRANGESTORE d z 1 0
ZRANGESTORE d z 0 -1 LIMIT 0 1
ZRANGESTORE d big 0 150
ZRANGESTORE z z 1 2
""")

OTHER_CASES = cases("""
ZSCAN z 0
ZSCAN z 0 MATCH [a-c]
ZSCAN z 0 COUNT 1
ZSCAN z 0 COUNT 0
ZSCAN z 0 COUNT x
ZSCAN z 0 TYPE zset
ZSCAN z 0 NOVALUES
ZSCAN z 0 MATCH
ZSCAN z x
ZSCAN z -1
ZSCAN nk 0 COUNT 0
ZSCAN nk x
ZSCAN str 0
ZSCAN str x
ZRANDMEMBER z 0
ZRANDMEMBER z 10
ZRANDMEMBER z 100 WITHSCORES
ZRANDMEMBER z 1 WITHSCORES x
ZRANDMEMBER z 1 x
ZRANDMEMBER z x
ZRANDMEMBER z -9223372036854775808
ZRANDMEMBER z 9223372036854775807 WITHSCORES
ZRANDMEMBER z -4611686018427387904 WITHSCORES
ZRANDMEMBER nk
ZRANDMEMBER nk 3
ZRANDMEMBER nk 3 WITHSCORES
ZRANDMEMBER str
ZRANDMEMBER str 0
COPY z d
COPY big d REPLACE
TYPE z
OBJECT ENCODING big
RENAME z d
SCAN 0 TYPE zset MATCH z
SCAN 0 TYPE zset MATCH str
""")

ALL_CASES = ZADD_CASES + READ_CASES + RANGE_CASES + WRITE_CASES + ALGEBRA_CASES + OTHER_CASES


def test_case_table_is_broad():
    assert len(ALL_CASES) > 300


@pytest.mark.parametrize("command", ALL_CASES, ids=lambda c: " ".join(c)[:60])
def test_zset_commands_match_redis(protocol_pair, command):
    assert_same(protocol_pair, *command)
    assert_state_same(protocol_pair)


# -- exact reply bytes: score digits, RESP3 doubles and reply shapes ---------------------------------


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_reply_bytes_match_redis(pair, redis_server, leakdb_server, resp3):
    commands = [
        ("ZADD", "z", *SCORED),
        ("ZADD", "z", "2.5", "k", "1e-320", "l", "4503599627370497", "m", "1e300", "n"),
        ("ZSCORE", "z", "a"),
        ("ZSCORE", "z", "e"),
        ("ZSCORE", "z", "nope"),
        ("ZMSCORE", "z", "a", "nope", "i"),
        ("ZRANGE", "z", "0", "-1", "WITHSCORES"),
        ("ZRANGE", "z", "0", "-1"),
        ("ZRANGEBYSCORE", "z", "-inf", "+inf", "WITHSCORES", "LIMIT", "0", "3"),
        ("ZINCRBY", "z", "1", "a"),
        ("ZADD", "z", "INCR", "0.1", "a"),
        ("ZADD", "z", "NX", "INCR", "1", "a"),
        ("ZADD", "fresh", "INCR", "-0", "x"),
        ("ZSCAN", "z", "0"),
        ("ZUNION", "1", "z", "WITHSCORES"),
        ("ZPOPMIN", "z"),
        ("ZPOPMIN", "z", "2"),
        ("ZPOPMAX", "z", "1"),
        ("ZPOPMIN", "nokey"),
        ("ZMPOP", "1", "z", "MAX", "COUNT", "2"),
        ("ZMPOP", "1", "nokey", "MAX"),
        ("ZRANDMEMBER", "z", "100", "WITHSCORES"),
        ("ZRANDMEMBER", "nokey"),
        ("ZRANDMEMBER", "nokey", "1"),
    ]
    expected = raw_commands(redis_server.port, *commands, resp3=resp3)
    actual = raw_commands(leakdb_server.port, *commands, resp3=resp3)
    if resp3:  # HELLO's reply (server name, version, client id) differs; it ends with the modules
        end = b"$7\r\nmodules\r\n*0\r\n"
        expected = expected[expected.index(end) + len(end) :]
        actual = actual[actual.index(end) + len(end) :]
    assert actual == expected


# -- encodings: what the listpack/skiplist choice shows ---------------------------------------------


def test_score_digits_match_redis(pair2):
    scores = ["0.1", "1e17", "-0", "0.3333333333333333", "1.1", "inf", "-inf", "123456789012345678"]
    scores += ["9007199254740993", "1e-320", "4.9406564584124654e-324", "2.5e-5", "-1e21", "1e16"]
    for i, score in enumerate(scores):
        assert_same(pair2, "ZADD", "z", score, f"m{i}")
        assert_same(pair2, "ZSCORE", "z", f"m{i}")
        assert_same(pair2, "ZINCRBY", "w", score, f"m{i}")
    assert_same(pair2, "ZRANGE", "z", "0", "-1", "WITHSCORES")
    assert_same(pair2, "ZSCAN", "z", "0")
    assert_same(pair2, "ZINCRBY", "w", "1", "m0")


@pytest.mark.parametrize("long_member", [False, True], ids=["short", "long"])
def test_negative_zero_and_encoding_follow_redis(pair2, long_member):
    """A listpack stores -0 as 0; a skiplist keeps -0.  Growth converts; stores may convert back."""
    first = "x" * (70 if long_member else 1)
    commands = [
        ("ZADD", "k", "1", first, "-0", "neg"),
        ("ZSCORE", "k", "neg"),
        ("OBJECT", "ENCODING", "k"),
        ("ZADD", "k", *(part for i in range(130) for part in (str(i), f"m{i}"))),
        ("OBJECT", "ENCODING", "k"),
        ("ZADD", "k", "-0", "later"),
        ("ZSCORE", "k", "later"),
        ("ZADD", "k", "-0", "neg"),
        ("ZSCORE", "k", "neg"),
        ("ZREMRANGEBYRANK", "k", "5", "-1"),
        ("OBJECT", "ENCODING", "k"),
        ("ZUNIONSTORE", "u", "1", "k", "WEIGHTS", "-1"),
        ("OBJECT", "ENCODING", "u"),
        ("ZRANGE", "u", "0", "-1", "WITHSCORES"),
        ("ZUNION", "1", "k", "WEIGHTS", "-1", "WITHSCORES"),
        ("ZRANGESTORE", "r", "k", "0", "-1"),
        ("ZRANGE", "r", "0", "-1", "WITHSCORES"),
        ("COPY", "k", "c"),
        ("OBJECT", "ENCODING", "c"),
        ("ZADD", "big", *(part for i in range(129) for part in (str(i), f"b{i}"))),
        ("OBJECT", "ENCODING", "big"),
        ("ZRANGESTORE", "small", "big", "0", "9"),
        ("OBJECT", "ENCODING", "small"),
    ]
    for command in commands:
        assert_same(pair2, *command)
    # A skiplist's ZSCAN comes in hash-table order: compare (member, score text) pairs as a set.
    scans = [client.execute_command("ZSCAN", "k", "0") for client in pair2]
    expected, actual = ({(m, s) for m, s in zip(items[::2], items[1::2], strict=True)} for _, items in scans)
    assert actual == expected and (b"later", b"-0") in actual


def test_zscan_walks_a_skiplist_set_in_batches(pair2):
    members = {f"m{i}".encode(): str(i * 1.5).encode() for i in range(300)}
    for client in pair2:
        client.execute_command("ZADD", "big", *(part for m, s in members.items() for part in (s, m)))
    for client in pair2:
        cursor, seen, calls = b"0", {}, 0
        while True:
            cursor, batch = client.execute_command("ZSCAN", "big", cursor, "COUNT", "20")
            seen.update(zip(batch[::2], batch[1::2], strict=True))
            calls += 1
            if cursor == b"0":
                break
        assert calls > 5
        assert seen == {member: client.execute_command("ZSCORE", "big", member) for member in members}
    assert_same(pair2, "OBJECT", "ENCODING", "big")


def test_zrandmember_shapes(pair):
    for client in pair:
        client.execute_command("ZADD", "z", *SCORED)
    members = set(SCORED[1::2])
    for client in pair:
        assert client.execute_command("ZRANDMEMBER", "z").decode() in members
        picked = client.execute_command("ZRANDMEMBER", "z", "4")
        assert len(picked) == len(set(picked)) == 4 and {m.decode() for m in picked} <= members
        repeated = client.execute_command("ZRANDMEMBER", "z", "-30", "WITHSCORES")
        assert len(repeated) == 30 and all(len(item) == 2 for item in repeated)
        for member, score in repeated:
            assert client.zscore("z", member) == score
        assert len(client.execute_command("ZRANDMEMBER", "z", "-3")) == 3


# -- random command sequences ------------------------------------------------------------------------

KEYS = st.sampled_from(["k1", "k2", "s"])
MEMBER = st.sampled_from(["a", "b", "c", "d", "e"])
SCORE = st.sampled_from(["0", "1", "-1", "1.5", "0.1", "inf", "-inf", "-0", "2e3", "(1", "x", "nan"])
BOUND = st.sampled_from(["-inf", "+inf", "0", "(0", "1", "(1.5", "2e3", "x"])
LEX = st.sampled_from(["-", "+", "[a", "(a", "[c", "(c", "[e", "a"])
INDEX = st.sampled_from(["0", "1", "-1", "-2", "3", "10", "-10"])
FLAGS = st.lists(st.sampled_from(["NX", "XX", "GT", "LT", "CH", "INCR"]), max_size=2)
ZSET_COMMANDS = st.one_of(
    st.builds(lambda k, f, s, m: ("ZADD", k, *f, s, m), KEYS, FLAGS, SCORE, MEMBER),
    st.tuples(st.just("ZADD"), KEYS, SCORE, MEMBER, SCORE, MEMBER),
    st.tuples(st.just("ZINCRBY"), KEYS, SCORE, MEMBER),
    st.tuples(st.just("ZREM"), KEYS, MEMBER, MEMBER),
    st.tuples(st.just("ZSCORE"), KEYS, MEMBER),
    st.tuples(st.just("ZMSCORE"), KEYS, MEMBER, MEMBER),
    st.tuples(st.just("ZRANK"), KEYS, MEMBER),
    st.tuples(st.just("ZREVRANK"), KEYS, MEMBER),
    st.tuples(st.just("ZCARD"), KEYS),
    st.tuples(st.just("ZCOUNT"), KEYS, BOUND, BOUND),
    st.tuples(st.just("ZLEXCOUNT"), KEYS, LEX, LEX),
    st.tuples(st.just("ZRANGE"), KEYS, INDEX, INDEX, st.just("WITHSCORES")),
    st.tuples(
        st.just("ZRANGE"), KEYS, BOUND, BOUND, st.just("BYSCORE"), st.sampled_from(["REV", "WITHSCORES"])
    ),
    st.tuples(
        st.just("ZRANGE"), KEYS, LEX, LEX, st.just("BYLEX"), st.sampled_from(["REV", "LIMIT"]), INDEX, INDEX
    ),
    st.tuples(st.just("ZRANGEBYSCORE"), KEYS, BOUND, BOUND, st.just("LIMIT"), INDEX, INDEX),
    st.tuples(st.just("ZREVRANGEBYLEX"), KEYS, LEX, LEX),
    st.tuples(st.just("ZREMRANGEBYRANK"), KEYS, INDEX, INDEX),
    st.tuples(st.just("ZREMRANGEBYSCORE"), KEYS, BOUND, BOUND),
    st.tuples(st.just("ZREMRANGEBYLEX"), KEYS, LEX, LEX),
    st.tuples(st.sampled_from(["ZPOPMIN", "ZPOPMAX"]), KEYS, st.sampled_from(["0", "1", "2", "-1"])),
    st.tuples(st.just("ZMPOP"), st.just("2"), KEYS, KEYS, st.sampled_from(["MIN", "MAX"])),
    st.tuples(
        st.sampled_from(["ZUNIONSTORE", "ZINTERSTORE"]),
        KEYS,
        st.just("2"),
        KEYS,
        KEYS,
        st.just("AGGREGATE"),
        st.sampled_from(["SUM", "MIN", "MAX"]),
    ),
    st.tuples(
        st.sampled_from(["ZUNION", "ZINTER", "ZDIFF"]), st.just("2"), KEYS, KEYS, st.just("WITHSCORES")
    ),
    st.tuples(st.just("ZDIFFSTORE"), KEYS, st.just("2"), KEYS, KEYS),
    st.tuples(st.just("ZRANGESTORE"), KEYS, KEYS, INDEX, INDEX),
    st.tuples(st.just("ZINTERCARD"), st.just("2"), KEYS, KEYS),
    st.tuples(st.just("ZSCAN"), KEYS, st.just("0")),
    st.tuples(st.just("ZRANDMEMBER"), KEYS, st.just("100"), st.just("WITHSCORES")),
    st.tuples(st.just("SADD"), st.just("s"), MEMBER),
    st.tuples(st.just("DEL"), KEYS),
)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(ZSET_COMMANDS, min_size=1, max_size=25))
def test_random_zset_command_sequences_match_redis(pair2, commands):
    oracle, ours = pair2
    oracle.flushall()
    ours.flushall()
    for command in commands:
        expected = reply_of(oracle, *command)
        actual = reply_of(ours, *command)
        assert actual == expected, f"{command}: redis {expected!r}, leakdb {actual!r}"
    for key in ("k1", "k2"):
        assert_same(pair2, "ZRANGE", key, "0", "-1", "WITHSCORES")


# -- persistence, the stored layout and the Python API -----------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "shelve"])
def test_zsets_survive_a_restart(start_leakdb, backend):
    flags = ("--storage", "persistent-queue", "--backend", backend)
    server = start_leakdb(*flags)
    client = server.client(protocol=2)
    client.execute_command("ZADD", "z", *SCORED)
    client.zincrby("z", 2, "a")
    client.zrem("z", "b")
    client.execute_command("ZADD", "big", *BIG)
    client.zpopmin("big", 3)
    client.zadd("gone", {"x": 1})
    client.zrem("gone", "x")
    client.zadd("ttl", {"x": 1})
    set_from = wall_ms()
    client.expire("ttl", 1000)
    deadline = client.pexpiretime("ttl")
    assert_deadline(deadline, 1_000_000, set_from, wall_ms())
    expected = client.zrange("z", 0, -1, withscores=True, score_cast_func=bytes)
    expected_big = client.zrange("big", 0, -1, withscores=True, score_cast_func=bytes)
    raw_exchange(server.port, b"SHUTDOWN\r\n", expect_close=True)
    server.wait()
    client.close()
    again = start_leakdb(*flags).client(protocol=2)
    assert again.zrange("z", 0, -1, withscores=True, score_cast_func=bytes) == expected
    assert again.zrange("big", 0, -1, withscores=True, score_cast_func=bytes) == expected_big
    assert len(expected_big) == 197 and (b"a", b"2.1000000000000001") in expected
    assert again.exists("gone") == 0
    assert again.pexpiretime("ttl") == deadline
    assert again.type("z") == b"zset"
    assert again.object("encoding", "z") == b"listpack" and again.object("encoding", "big") == b"skiplist"
    again.close()


@given(st.dictionaries(st.binary(max_size=20), st.floats(allow_nan=False), max_size=40))
def test_zset_round_trip(scores):
    name, blob = serialize(ZSet.from_pairs(scores.items()))
    assert name == "zset"
    assert deserialize(name, blob).scores == scores


def test_damaged_zset_blobs_are_refused():
    name, blob = serialize(ZSet.from_pairs([(b"m", 1.5), (b"n", 2.0)]))
    for damaged in (blob[:-1], blob + b"\x00", b"\x09" + blob[1:], b""):
        with pytest.raises(StorageError):
            deserialize(name, damaged)


def test_python_api_reaches_zset_commands(tmp_path):
    storage = DefaultStorage()
    assert storage.execute_command("ZADD", "z", 1, "a", 2.5, "b", "inf", "c") == 3
    assert storage.execute_command("ZRANGE", "z", 0, -1, "WITHSCORES") == [
        [b"a", 1.0],
        [b"b", 2.5],
        [b"c", float("inf")],
    ]
    assert storage.execute_command("ZRANK", "z", "b") == 1
    with pytest.raises(CommandError, match=r"^ERR min or max is not a float$"):
        storage.execute_command("ZCOUNT", "z", "x", 1)
    path = str(tmp_path / "store.db")
    with PersistentStorage(path) as persistent:
        persistent.execute_command("ZADD", "z", 1, "a", 2, "b")
        persistent.execute_command("ZINCRBY", "z", 5, "a")
        persistent.execute_command("ZREM", "z", "b")
    with PersistentStorage(path) as reopened:
        assert reopened.execute_command("ZRANGE", "z", 0, -1, "WITHSCORES") == [[b"a", 6.0]]
