"""A hypothesis property: small generated scripts over redis.call and redis.pcall get the same reply bytes
from leakdb as from redis-server, in RESP2 and RESP3, with redis.setresp(2|3) inside, and leave the same
data behind.

Scripts are a few lines, one command each, over three keys of every type (so WRONGTYPE errors and their
line numbers come up), collecting what each call returned into the table the script returns, or
returning one reply as is.  ``LEAKDB_SCRIPT_EXAMPLES`` runs a longer search.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lua_exchange import exchange

EXAMPLES = int(os.environ.get("LEAKDB_SCRIPT_EXAMPLES", "40"))
KEYS = ["KEYS[1]", "KEYS[2]", "'plain'"]
VALUES = ["'v'", "'10'", "ARGV[1]", "3", "2.5", "'-1'"]

key = st.sampled_from(KEYS)
value = st.sampled_from(VALUES)

COMMANDS = st.one_of(
    st.tuples(st.just("set"), key, value),
    st.tuples(st.just("get"), key),
    st.tuples(st.just("incr"), key),
    st.tuples(st.just("incrbyfloat"), key, value),
    st.tuples(st.just("del"), key),
    st.tuples(st.just("exists"), key, key),
    st.tuples(st.just("type"), key),
    st.tuples(st.just("rpush"), key, value, value),
    st.tuples(st.just("lrange"), key, st.just("0"), st.just("-1")),
    st.tuples(st.just("lpop"), key),
    st.tuples(st.just("hset"), key, value, value),
    st.tuples(st.just("hgetall"), key),
    st.tuples(st.just("hincrby"), key, value, st.just("2")),
    st.tuples(st.just("sadd"), key, value),
    st.tuples(st.just("sismember"), key, value),
    st.tuples(st.just("scard"), key),
    st.tuples(st.just("zadd"), key, st.just("1.5"), value),
    st.tuples(st.just("zscore"), key, value),
    st.tuples(st.just("zrange"), key, st.just("0"), st.just("-1"), st.just("'WITHSCORES'")),
    st.tuples(st.just("ping")),
    st.tuples(st.just("nosuchcommand")),
)


def call(command: tuple, protected: bool) -> str:
    name, *args = command
    quoted = ", ".join([f"'{name}'", *args])
    return f"redis.{'pcall' if protected else 'call'}({quoted})"


@st.composite
def scripts(draw) -> str:
    lines = ["local r = {}"]
    if draw(st.booleans()):
        lines.append(f"redis.setresp({draw(st.sampled_from([2, 3]))})")
    for command in draw(st.lists(COMMANDS, min_size=1, max_size=6)):
        lines.append(f"r[#r + 1] = {call(command, draw(st.booleans()))}")
    ending = draw(st.sampled_from(["return r", "return r[#r]", "return #r", "return {r, {ok = 'done'}}"]))
    lines.append(ending)
    return "\n".join(lines)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(script=scripts(), resp3=st.booleans())
def test_generated_scripts_reply_as_redis(pair, redis_server, leakdb_server, script, resp3):
    commands = [("FLUSHALL",), ("EVAL", script, "2", "alpha", "beta", "7")]
    expected = exchange(redis_server.port, *commands, resp3=resp3)
    actual = exchange(leakdb_server.port, *commands, resp3=resp3)
    assert actual == expected, f"{script}\nredis  {expected!r}\nleakdb {actual!r}"
    left = ("EVAL", "return {redis.call('type', KEYS[1]), redis.call('type', KEYS[2])}", "2", "alpha", "beta")
    assert exchange(leakdb_server.port, left) == exchange(redis_server.port, left)
