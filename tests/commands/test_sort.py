"""SORT and SORT_RO compared byte for byte with a real redis-server in RESP2 and RESP3: a table of every
option and error over lists, sets and sorted sets (BY weights and hash fields, nosort, LIMIT, GET
patterns, ALPHA, STORE); random requests and random command sequences; and what a STORE is to the rest
of the server: a write that WATCH, blocked pops and persistence see, with the keys COMMAND GETKEYS gives.
"""

from __future__ import annotations

import threading
import time

import hiredis
import pytest
import redis
from conftest import raw_exchange
from differential import RawPair, case_id, cases, differential_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leakdb import DefaultStorage

SAMPLE = cases(r"""
RPUSH l 3 1 2 10 -5 1.5 0x10 inf -inf
RPUSH words banana Apple cherry apple "b\x00z" "b\x00a" "" date
RPUSH dup 2 1 2 1 3
RPUSH bad 1 x 2
RPUSH nums "" " 4" 0x1p3 1e5 -0 0 "5\x00x" infinity
SADD s 5 2 9 1 -3 40
SADD names bob alice carol dave
ZADD z 3 c 1 a 2 b 10 j 5 e
ZADD zn 1 30 2 10 3 20
MSET w_3 30 w_1 100 w_2 -1 w_10 5 w_-5 2 w_1.5 0 w_0x10 8 w_inf 7 w_-inf 6
MSET w_5 3 w_9 1 w_40 4 w_-3 2.5 w_c 3 w_a 1 w_b 2 w_j 0 w_e 9
MSET wa_bob zz wa_alice aa wa_carol mm wx_3 notanumber wx_1 1
MSET wa_3 c wa_1 a wa_2 b wa_10 j wa_-5 e wa_1.5 g wa_0x10 h wa_inf i wa_-inf k
HSET h_3 f c3 n 1
HSET h_1 f c1 n 2
HSET h_2 f c2
HSET h_10 n x
HSET h_a f A n 3
HSET h_b f B n 1
HSET h_c f C n 2
HSET "h_a->" f odd
SET str x
RPUSH dst old
PEXPIREAT dst 99999999999000
""")
PROBES = cases("""
LRANGE dst 0 -1
TYPE dst
PEXPIRETIME dst
LRANGE l 0 -1
OBJECT ENCODING z
TYPE str
DBSIZE
""")

SORT_CASES = cases(r"""
SORT l
SORT l ASC
SORT l DESC
SORT l desc asc
SORT l LIMIT 1 3
SORT l LIMIT 1 3 DESC
SORT l LIMIT -1 2
SORT l LIMIT 5 -1
SORT l LIMIT 100 2
SORT l LIMIT 0 0
SORT l LIMIT 2 9223372036854775807
SORT l LIMIT 9223372036854775807 9223372036854775807
SORT l LIMIT 0 1 LIMIT 2 2
SORT l ALPHA
SORT l ALPHA DESC LIMIT 0 4
SORT words
SORT words ALPHA
SORT words ALPHA DESC
SORT words ALPHA LIMIT 1 3
SORT dup
SORT dup DESC
SORT dup ALPHA
SORT bad
SORT bad ALPHA
SORT bad LIMIT 0 1
SORT nums
SORT nums DESC
SORT s
SORT s DESC
SORT s ALPHA
SORT s ALPHA DESC LIMIT 1 2
SORT s LIMIT 1 2
SORT names ALPHA
SORT names
SORT z
SORT z ALPHA
SORT z ALPHA DESC
SORT zn
SORT zn DESC LIMIT 1 1
SORT l BY nosort
SORT l BY nosort DESC
SORT l BY nosort LIMIT 2 3
SORT l BY nosort DESC LIMIT 2 3
SORT l BY nosort DESC LIMIT 20 3
SORT l BY nosort LIMIT -5 2
SORT l BY nosort ALPHA
SORT dup BY nosort DESC LIMIT 1 3
SORT words BY nosort DESC GET # LIMIT 0 2
SORT zn BY nosort DESC LIMIT 0 1
SORT zn BY nosort DESC LIMIT 2 1
SORT zn BY nosort DESC LIMIT 3 1
SORT l BY w_nothing
SORT z BY nosort
SORT z BY nosort DESC
SORT z BY nosort LIMIT 1 2
SORT z BY nosort DESC LIMIT 1 2
SORT z BY nosort DESC LIMIT 4 9
SORT z BY nosort LIMIT 0 0
SORT zn BY nosort GET #
SORT l BY w_*
SORT l BY w_* DESC
SORT l BY w_* LIMIT 2 3
SORT l BY w_* LIMIT 2 3 DESC
SORT l BY wx_*
SORT l BY wa_* ALPHA
SORT l BY wa_* ALPHA DESC
SORT l BY wa_* ALPHA LIMIT 1 4
SORT s BY w_*
SORT s BY w_* DESC LIMIT 0 3
SORT names BY wa_* ALPHA
SORT names BY wa_* ALPHA DESC
SORT z BY w_*
SORT z BY w_* DESC
SORT z BY h_*->n
SORT z BY h_*->n DESC GET h_*->f
SORT l BY h_*->n
SORT l BY h_*->f ALPHA
SORT l BY h_*->
SORT l BY h_*-> ALPHA
SORT l BY *
SORT l BY w_*_suffix
SORT l BY str
SORT l BY nosort BY w_*
SORT l BY w_* BY nosort
SORT l GET #
SORT l GET # GET w_*
SORT l GET w_* GET #
SORT l BY w_* GET # GET w_* GET nosuch_* GET const
SORT l BY w_* GET h_*->f
SORT l GET h_*->f GET h_*->n
SORT l GET h_*->
SORT l GET str
SORT l GET *
SORT l GET "#\x00x"
SORT l GET "w_*\x00x"
SORT l GET h_*->f LIMIT 1 2 DESC
SORT z GET h_*->f
SORT z BY nosort GET h_*->f GET #
SORT l BY w_* GET h_*->f STORE dst
SORT l STORE dst
SORT l DESC LIMIT 1 3 STORE dst
SORT l BY nosort STORE dst
SORT s STORE dst
SORT s BY nosort STORE dst
SORT s BY nosort GET w_* STORE dst
SORT names BY nosort STORE dst
SORT z STORE dst ALPHA
SORT z BY nosort DESC STORE dst
SORT words ALPHA STORE dst
SORT words ALPHA DESC STORE dst
SORT l GET nosuch_* STORE dst
SORT l GET # GET nosuch_* STORE dst
SORT l LIMIT 0 0 STORE dst
SORT nk STORE dst
SORT nk STORE nk2
SORT l STORE l
SORT l STORE str
SORT l STORE dst STORE dst2
SORT bad STORE dst
SORT l BY wx_* STORE dst
SORT nk
SORT nk BY nosort
SORT nk LIMIT 0 10 DESC
SORT nk ALPHA GET #
SORT str
SORT str BY nosort
SORT str STORE dst
SORT h_1
SORT l FOO
SORT l BY
SORT l GET
SORT l STORE
SORT l LIMIT
SORT l LIMIT 1
SORT l LIMIT a 1
SORT l LIMIT 0 b
SORT l LIMIT 1.5 2
SORT l ASC FOO
SORT bad FOO
SORT str FOO
SORT
SORT_RO l
SORT_RO l BY w_* GET # DESC
SORT_RO s ALPHA
SORT_RO z BY nosort LIMIT 1 2
SORT_RO z BY h_*->n GET h_*->f
SORT_RO l STORE dst
SORT_RO l store
SORT_RO str
SORT_RO bad
SORT_RO
""")

# A set's own order is unspecified: replies of these are compared as sorted lists.
UNORDERED_CASES = cases("""
SORT s BY nosort
SORT s BY nosort DESC
SORT s BY nosort GET #
SORT names BY nosort GET wa_*
SORT_RO s BY nosort
""")


@pytest.fixture(scope="module", params=[2, 3], ids=["resp2", "resp3"])
def raw_pair(request, redis_server, leakdb_server):
    pair = RawPair(redis_server.port, leakdb_server.port, request.param)
    yield pair
    pair.close()


def test_case_table_is_broad():
    assert len(SORT_CASES) > 150
    words = {word.upper() for case in SORT_CASES for word in case}
    assert {b"BY", b"LIMIT", b"GET", b"ASC", b"DESC", b"ALPHA", b"STORE", b"NOSORT", b"SORT_RO"} <= words


@pytest.mark.parametrize("command", SORT_CASES, ids=case_id)
def test_sort_matches_redis(raw_pair, command):
    raw_pair.run([[b"FLUSHALL"], *SAMPLE])
    raw_pair.same(command)
    raw_pair.same(*PROBES)


def elements(raw: bytes) -> list[bytes | None]:
    """The elements of an array reply, in a sorted list (nulls first)."""
    reader = hiredis.Reader()
    reader.feed(raw)
    return sorted(reader.gets(), key=lambda element: (element is not None, element or b""))


@pytest.mark.parametrize("command", UNORDERED_CASES, ids=case_id)
def test_sort_of_a_set_without_sorting_has_redis_elements(raw_pair, command):
    raw_pair.run([[b"FLUSHALL"], *SAMPLE])
    ((expected, actual),) = raw_pair.run([command])
    assert actual.split(b"\r\n", 1)[0] == expected.split(b"\r\n", 1)[0]  # the same count
    assert elements(actual) == elements(expected) and elements(expected)


# -- what a STORE is to the rest of the server ----------------------------------------------------------


def test_store_is_a_write_watch_sees(redis_server, leakdb_server):
    outcomes = {}
    for port in (redis_server.port, leakdb_server.port):
        client, other = redis.Redis(port=port), redis.Redis(port=port)
        client.flushall()
        client.rpush("src", 3, 1, 2)
        results = []
        for command in (["SORT", "src"], ["SORT", "src", "STORE", "dst"], ["SORT", "nk", "STORE", "dst"]):
            with client.pipeline() as pipe:
                pipe.watch("dst")
                other.execute_command(*command)
                pipe.multi()
                pipe.lrange("dst", 0, -1)
                try:
                    results.append(pipe.execute())
                except redis.WatchError:
                    results.append("aborted")
        outcomes[port] = results
        client.close()
        other.close()
    assert outcomes[leakdb_server.port] == outcomes[redis_server.port]
    assert outcomes[redis_server.port] == [[[]], "aborted", "aborted"]


def wait_blocked(client: redis.Redis, count: int) -> None:
    for _ in range(1000):
        if client.info("clients")["blocked_clients"] >= count:
            return
        time.sleep(0.01)
    raise AssertionError("the client never blocked")


def blocked_pop(port: int, popped: list[object]) -> None:
    with redis.Redis(port=port) as client:
        popped.append(client.blpop("dst", 30))


def test_store_wakes_a_blocked_pop(redis_server, leakdb_server):
    served = {}
    for port in (redis_server.port, leakdb_server.port):
        client = redis.Redis(port=port)
        client.flushall()
        client.rpush("src", 3, 1, 2)
        popped: list[object] = []
        waiter = threading.Thread(target=blocked_pop, args=(port, popped))
        waiter.start()
        wait_blocked(client, 1)
        stored = client.sort("src", store="dst")
        waiter.join(30)
        served[port] = (stored, popped, client.lrange("dst", 0, -1))
        client.close()
    assert served[leakdb_server.port] == served[redis_server.port]
    assert served[redis_server.port] == (3, [(b"dst", b"1")], [b"2", b"3"])


def test_stored_lists_survive_a_restart(start_leakdb):
    flags = ("--storage", "persistent", "--backend", "sqlite")
    server = start_leakdb(*flags)
    client = server.client()
    client.rpush("src", 3, 1, 2)
    client.mset({"w_1": "c", "w_2": "b", "w_3": "a"})
    assert client.sort("src", by="w_*", alpha=True, store="dst") == 3
    client.rpush("old", "x")
    assert client.sort("nk", store="old") == 0
    raw_exchange(server.port, b"SHUTDOWN\r\n", expect_close=True)
    server.process.wait(15)
    client.close()
    again = start_leakdb(*flags).client()
    assert again.lrange("dst", 0, -1) == [b"3", b"2", b"1"] and again.exists("old") == 0
    again.close()


GETKEYS = [
    ["SORT", "a"],
    ["SORT", "a", "STORE", "b"],
    ["SORT", "a", "STORE", "b", "STORE", "c"],
    ["SORT", "a", "LIMIT", "0", "1", "STORE", "x"],
    ["SORT", "a", "GET", "store", "STORE", "k"],
    ["SORT", "a", "BY", "store", "GET", "#"],
    ["SORT", "a", "STORE", "get", "x"],
    ["SORT", "a", "STORE"],
    ["SORT_RO", "a", "BY", "w_*"],
]


def test_command_table_entries_match_redis(pair):
    oracle, ours = pair
    for name in ("sort", "sort_ro"):
        (expected,) = oracle.execute_command("COMMAND", "INFO", name)
        (actual,) = ours.execute_command("COMMAND", "INFO", name)
        assert actual[:7] == expected[:7], name  # name, arity, flags (movablekeys), keys, categories
    for command in GETKEYS:
        assert ours.command_getkeys(*command) == oracle.command_getkeys(*command), command


def redis_py_sorts(client: redis.Redis) -> list[object]:
    client.rpush("l", 3, 1, 2, 10)
    client.mset({"w_1": 4, "w_2": 3, "w_3": 2, "w_10": 1, "n_1": "one", "n_10": "ten"})
    client.hset("h_3", "f", "three")
    return [
        client.sort("l"),
        client.sort("l", desc=True, start=1, num=2),
        client.sort("l", by="w_*", get=["#", "n_*", "h_*->f"], groups=True),
        client.sort("l", by="nosort", get="w_*"),
        client.sort("l", alpha=True, store="out"),
        client.lrange("out", 0, -1),
        client.sort_ro("l", by="w_*", desc=True),
    ]


def test_redis_py_sort(pair):
    oracle, ours = pair
    expected = redis_py_sorts(oracle)
    assert redis_py_sorts(ours) == expected and expected[2][1] == (b"3", None, b"three")


def test_the_python_api_reaches_sort():
    storage = DefaultStorage()
    storage.execute_command("RPUSH", "l", 3, 1, 2)
    storage.execute_command("MSET", "w_1", 9, "w_2", 8, "w_3", 7)
    assert storage.execute_command("SORT", "l") == [b"1", b"2", b"3"]
    assert storage.execute_command("SORT", "l", "BY", "w_*", "GET", "#", "GET", "w_*") == [
        b"3", b"7", b"2", b"8", b"1", b"9"
    ]  # fmt: skip
    assert storage.execute_command("SORT", "l", "DESC", "STORE", "d") == 3
    assert storage.execute_command("LRANGE", "d", 0, -1) == [b"3", b"2", b"1"]


# -- random requests and sequences ---------------------------------------------------------------------

ELEMENT = st.sampled_from([b"1", b"2", b"10", b"-3", b"2.5", b"a", b"B", b"b", b"", b"1e400", b" 7", b"0x1A"])
OPTION = st.one_of(
    st.sampled_from(
        [[b"ASC"], [b"DESC"], [b"ALPHA"], [b"BY", b"nosort"], [b"BY", b"w_*"], [b"BY", b"h_*->f"]]
    ),
    st.sampled_from([[b"GET", b"#"], [b"GET", b"w_*"], [b"GET", b"h_*->f"], [b"STORE", b"out"]]),
    st.tuples(st.sampled_from([b"0", b"1", b"3", b"-1"]), st.sampled_from([b"0", b"2", b"-1", b"10"])).map(
        lambda window: [b"LIMIT", *window]
    ),
)


def alpha_ties(options: list[list[bytes]], items: list[bytes], weights: dict[bytes, bytes]) -> bool:
    """Whether ALPHA sorts by a pattern under which two different elements have the same key."""
    patterns = [option[1] for option in options if option[0] == b"BY"]
    if [b"ALPHA"] not in options or not patterns or b"nosort" in patterns:
        return False
    distinct = set(items)
    return len({weights.get(item) for item in distinct}) < len(distinct)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(ELEMENT, min_size=1, max_size=12),
    st.dictionaries(ELEMENT, st.sampled_from([b"1", b"2", b"-1", b"0.5", b"x", b"a", b"b"]), max_size=8),
    st.lists(OPTION, max_size=4),
    st.sampled_from([b"RPUSH", b"ZADD"]),
)
def test_random_sorts_match_redis(redis_server, leakdb_server, items, weights, options, kind):
    pair = RawPair(redis_server.port, leakdb_server.port, 2)
    try:
        if kind == b"RPUSH":
            load = [b"RPUSH", b"src", *items]
        else:
            load = [
                b"ZADD",
                b"src",
                *[part for i, item in enumerate(items) for part in (b"%d" % (i % 3), item)],
            ]
        setup = [[b"FLUSHALL"], load]
        for element, weight in weights.items():
            setup += [[b"SET", b"w_" + element, weight], [b"HSET", b"h_" + element, b"f", weight]]
        pair.run(setup)
        words = [word for option in options for word in option]
        if alpha_ties(options, items, weights) and (kind == b"ZADD" or b"LIMIT" in words):
            return  # equal ALPHA keys under BY come in an order Redis leaves to its hash table or pqsort
        read_only = [word for option in options if option[0] != b"STORE" for word in option]
        pair.same(
            [b"SORT", b"src", *words], [b"LRANGE", b"out", b"0", b"-1"], [b"SORT_RO", b"src", *read_only]
        )
    finally:
        pair.close()


KEYS = st.sampled_from([b"l", b"s", b"z", b"w_1", b"h_2"])
MEMBER = st.sampled_from([b"1", b"2", b"3", b"10", b"x", b"-1"])


def sort_command(name: bytes, key: bytes, options: list[list[bytes]]) -> list[bytes]:
    return [
        name,
        key,
        *[word for option in options if name == b"SORT" or option[0] != b"STORE" for word in option],
    ]


def order_is_defined(command: list[bytes]) -> bool:
    """Leave out what Redis does not order: a set's own order, and equal ALPHA keys under BY."""
    if command[1] == b"s" and b"nosort" in command and b"STORE" not in command:
        return False
    return not (b"ALPHA" in command and (b"w_*" in command or b"h_*->f" in command))


SORT_COMMANDS = st.one_of(
    st.builds(
        sort_command,
        st.sampled_from([b"SORT", b"SORT_RO"]),
        st.sampled_from([b"l", b"z", b"s"]),
        st.lists(OPTION, max_size=3),
    ).filter(order_is_defined),
    st.tuples(st.sampled_from([b"RPUSH", b"LPUSH", b"LREM"]), st.sampled_from([b"l", b"s"]), MEMBER).map(
        list
    ),
    # Only "s" is ever a set: a set's own order (BY nosort) is Redis's to choose, see order_is_defined.
    st.tuples(st.just(b"SADD"), st.just(b"s"), MEMBER).map(list),
    st.tuples(st.just(b"ZADD"), st.just(b"z"), st.sampled_from([b"1", b"2", b"-1"]), MEMBER).map(list),
    st.tuples(st.just(b"SET"), st.sampled_from([b"w_1", b"w_2", b"w_3", b"w_10", b"w_x"]), MEMBER).map(list),
    st.tuples(st.just(b"HSET"), st.sampled_from([b"h_1", b"h_2", b"h_x"]), st.just(b"f"), MEMBER).map(list),
    st.tuples(st.sampled_from([b"DEL", b"TYPE", b"LLEN"]), KEYS).map(list),
    st.tuples(st.just(b"RENAME"), st.just(b"out"), KEYS).map(list),
)
SORT_STATE = cases("""
LRANGE out 0 -1
LRANGE l 0 -1
""")


def test_random_sort_sequences_match_redis(redis_server, leakdb_server):
    machine = differential_machine(redis_server.port, leakdb_server.port, SORT_COMMANDS, probes=SORT_STATE)
    machine.TestCase.settings = settings(
        max_examples=50, stateful_step_count=25, deadline=None, suppress_health_check=list(HealthCheck)
    )
    machine.TestCase().runTest()
