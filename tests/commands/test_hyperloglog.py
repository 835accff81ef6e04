"""HyperLogLog commands against a real redis-server: every reply and every resulting string compared,
in RESP2 and RESP3; counts and bytes for 1 to 1M inserts; corrupt strings; strings moved between the
servers; the sparse size limit; a state machine mixing PF commands with string commands; restarts;
redis-py, pottery and walrus as clients."""

from __future__ import annotations

import os
import shlex
import signal
import warnings

import pottery
import pytest
import redis
import walrus
from conftest import assert_same, raw_commands, raw_exchange, reply_of
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from leakdb import DefaultStorage
from leakdb.errors import CommandError

STALE = b"\x00" * 7 + b"\x80"


def sparse(opcodes: bytes, card: bytes = STALE) -> bytes:
    """A sparse HLL string built by hand: the header, then the opcodes."""
    return b"HYLL\x01\x00\x00\x00" + card + opcodes


# Strings a client could SET: valid, corrupt in the ways Redis detects, and not HLLs at all.
CRAFTED = {
    "empty": sparse(b"\x7f\xff", bytes(8)),  # what PFADD creates, cache valid
    "short": sparse(b"\x7f\xfe"),  # covers 16383 registers
    "short_cached": sparse(b"\x7f\xfe", b"\x07" + bytes(7)),  # corrupt, but its cache says 7
    "long": sparse(b"\x7f\xff\x00"),  # covers 16385 registers
    "nothing": sparse(b""),  # a header with no opcodes
    "cut": sparse(b"\x7f\xfe\x80\x7f"),  # ends in an XZERO missing its second byte
    "vals": sparse(b"\x7f\xf0" + b"\x93" * 4 + b"\x7f\xff"),  # VAL opcodes overflowing the end
    "encoding2": b"HYLL\x02\x00\x00\x00" + STALE + b"\x7f\xff",
    "dense_short": b"HYLL\x00\x00\x00\x00" + STALE + bytes(100),
    "badmagic": b"HYLX\x01\x00\x00\x00" + STALE + b"\x7f\xff",
    "tiny": b"HYLL\x01",
    "number": b"12345678901234567",
    "dense_junk": b"HYLL\x00\x07\x08\x09" + STALE + bytes(range(256)) * 48,
}
SMALL = [f"s{i}" for i in range(5)]
MEDIUM = [f"m{i}" for i in range(300)]
LARGE = [f"l{i}" for i in range(3000)]


def load_sample(client) -> None:
    client.flushall()
    client.execute_command("PFADD", "small", *SMALL)
    client.execute_command("PFADD", "medium", *MEDIUM)
    client.execute_command("PFADD", "large", *LARGE)
    client.execute_command("PFADD", "ttl", "a", "b")
    client.expire("ttl", 1000)
    for key, value in CRAFTED.items():
        client.set(key, value)
    client.set("str", "hello")
    client.rpush("list", "x")


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def protocol_pair(request, redis_server, leakdb_server):
    """(redis, leakdb) clients speaking RESP2 or RESP3 on flushed servers holding the sample."""
    clients = (redis_server.client(protocol=request.param), leakdb_server.client(protocol=request.param))
    for client in clients:
        client.response_callbacks.clear()
        load_sample(client)
    yield clients
    for client in clients:
        client.close()


STATE_KEYS = ["small", "medium", "large", "ttl", "new", "dst", "str", *CRAFTED]


def assert_state_same(pair) -> None:
    """Every key's type and exact string, and the TTL the PF commands must keep."""
    for key in STATE_KEYS:
        assert_same(pair, "TYPE", key)
        assert_same(pair, "GET", key)
    assert_same_ttl(pair, "ttl")


def assert_same_ttl(pair, key: str) -> None:
    """Whether the key has a deadline (the seconds left tick on their own, so only the kind is compared)."""
    kinds = [min(reply_of(client, "TTL", key), 1) for client in pair]
    assert kinds[0] == kinds[1], (key, kinds)


def cases(text: str) -> list[tuple[str, ...]]:
    return [tuple(shlex.split(line)) for line in text.strip().splitlines() if line.strip()]


PFADD_CASES = cases("""
PFADD small
PFADD small s1
PFADD small s1 s2 x
PFADD new
PFADD new a b c
PFADD medium m1 m299 brand-new
PFADD large l1 l2
PFADD large fresh1 fresh2 fresh3
PFADD ttl c
PFADD ttl a
PFADD str a
PFADD list a
PFADD empty a
PFADD empty
PFADD short a b c d e f g h i j k l m n o p
PFADD short_cached x
PFADD long a b c
PFADD nothing a
PFADD cut a b c d e f g h i j
PFADD vals a b c d e f g h i j
PFADD encoding2 a
PFADD dense_short a
PFADD badmagic a
PFADD tiny a
PFADD number a
PFADD dense_junk a b c
PFADD
""")

PFCOUNT_CASES = cases("""
PFCOUNT small
PFCOUNT medium
PFCOUNT large
PFCOUNT nokey
PFCOUNT small medium large
PFCOUNT small nokey
PFCOUNT nokey nokey2
PFCOUNT small small
PFCOUNT small str
PFCOUNT str small
PFCOUNT list
PFCOUNT small list
PFCOUNT empty
PFCOUNT short
PFCOUNT short_cached
PFCOUNT short_cached small
PFCOUNT long
PFCOUNT nothing
PFCOUNT cut
PFCOUNT vals
PFCOUNT vals small
PFCOUNT short str
PFCOUNT encoding2
PFCOUNT dense_short
PFCOUNT badmagic
PFCOUNT tiny
PFCOUNT number
PFCOUNT dense_junk
PFCOUNT dense_junk small
PFCOUNT ttl
PFCOUNT
""")

PFMERGE_CASES = cases("""
PFMERGE dst small medium
PFMERGE dst small large
PFMERGE dst large
PFMERGE dst
PFMERGE dst nokey
PFMERGE small medium
PFMERGE small large
PFMERGE large small
PFMERGE medium medium
PFMERGE ttl small
PFMERGE dst small str
PFMERGE str small
PFMERGE list small
PFMERGE dst list
PFMERGE dst short
PFMERGE dst long
PFMERGE dst short_cached
PFMERGE dst cut
PFMERGE dst empty small
PFMERGE empty medium
PFMERGE dst dense_junk small
PFMERGE dst encoding2
PFMERGE
""")

PFDEBUG_CASES = cases("""
PFDEBUG GETREG small
PFDEBUG GETREG large
PFDEBUG getreg ttl
PFDEBUG DECODE small
PFDEBUG DECODE medium
PFDEBUG DECODE large
PFDEBUG DECODE cut
PFDEBUG DECODE nothing
PFDEBUG ENCODING small
PFDEBUG ENCODING large
PFDEBUG TODENSE small
PFDEBUG TODENSE large
PFDEBUG TODENSE short
PFDEBUG TODENSE long
PFDEBUG GETREG short
PFDEBUG GETREG dense_junk
PFDEBUG FOO small
PFDEBUG FOO nokey
PFDEBUG GETREG nokey
PFDEBUG GETREG str
PFDEBUG GETREG list
PFDEBUG GETREG badmagic
PFDEBUG GETREG
PFDEBUG GETREG small extra
PFSELFTEST extra
""")

ALL_CASES = PFADD_CASES + PFCOUNT_CASES + PFMERGE_CASES + PFDEBUG_CASES


def test_case_table_is_broad():
    assert len(ALL_CASES) > 100


@pytest.mark.parametrize("command", ALL_CASES, ids=lambda c: " ".join(c)[:60])
def test_hll_commands_match_redis(protocol_pair, command):
    assert_same(protocol_pair, *command)
    assert_state_same(protocol_pair)
    assert_same(protocol_pair, "PFCOUNT", "small", "medium", "large")


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_reply_bytes_match_redis(pair, redis_server, leakdb_server, resp3):
    commands = [
        ("PFADD", "h", "a", "b", "c"),
        ("PFADD", "h", "a"),
        ("PFCOUNT", "h"),
        ("PFCOUNT", "h", "nokey"),
        ("PFDEBUG", "ENCODING", "h"),
        ("PFDEBUG", "DECODE", "h"),
        ("PFDEBUG", "TODENSE", "h"),
        ("PFDEBUG", "GETREG", "h"),
        ("PFMERGE", "d", "h"),
        ("GET", "d"),
        ("SET", "s", "not an hll at all"),
        ("PFADD", "s", "a"),
        ("PFCOUNT", "h", "s"),
        ("PFDEBUG", "DECODE", "d"),
        ("PFDEBUG", "x\r\ny", "d"),
        ("PFDEBUG", "nope", "missing"),
    ]
    expected = raw_commands(redis_server.port, *commands, resp3=resp3)
    actual = raw_commands(leakdb_server.port, *commands, resp3=resp3)
    if resp3:  # HELLO's reply (server name, version, client id) differs; it ends with the modules
        end = b"$7\r\nmodules\r\n*0\r\n"
        expected = expected[expected.index(end) + len(end) :]
        actual = actual[actual.index(end) + len(end) :]
    assert actual == expected


# -- counts and bytes at every size ------------------------------------------------------------------


def insert(client, key: str, count: int, prefix: str = "e", batch: int = 1000) -> None:
    pipeline = client.pipeline(transaction=False)
    for start in range(0, count, batch):
        pipeline.execute_command(
            "PFADD", key, *(f"{prefix}{i}" for i in range(start, min(count, start + batch)))
        )
        if len(pipeline) >= 50:
            pipeline.execute()
    pipeline.execute()


@pytest.mark.parametrize("count", [1, 100, 10_000, 1_000_000])
def test_counts_and_strings_match_redis_at_every_size(pair, count):
    for client in pair:
        insert(client, "h", count)
    oracle, ours = pair
    expected_count = oracle.pfcount("h")
    assert ours.pfcount("h") == expected_count
    assert abs(expected_count - count) <= max(2, count * 0.02)
    assert ours.get("h") == oracle.get("h")
    assert_same(pair, "PFDEBUG", "ENCODING", "h")


def test_merged_keys_count_as_in_redis(pair):
    sizes = {"a": 50, "b": 2000, "c": 20_000, "d": 7}
    for client in pair:
        for key, size in sizes.items():
            insert(client, key, size, prefix=key)
        insert(client, "overlap", 1500, prefix="a")  # shares a's elements
    assert_same(pair, "PFCOUNT", "a", "b", "c", "d", "overlap")
    assert_same(pair, "PFCOUNT", "a", "overlap")
    for keys in (["m1", "a", "d"], ["m2", "a", "b"], ["m3", "c", "d", "a"], ["a", "overlap"], ["d", "c"]):
        assert_same(pair, "PFMERGE", *keys)
        assert_same(pair, "GET", keys[0])
        assert_same(pair, "PFCOUNT", keys[0])
        assert_same(pair, "GET", keys[0])  # the count is now cached in the string


def test_strings_written_by_redis_count_the_same_in_leakdb(pair):
    oracle, ours = pair
    for key, size in (("sparse", 40), ("fuller", 900), ("dense", 5000)):
        insert(oracle, key, size, prefix=key)
        ours.set(key, oracle.get(key))
        assert_same(pair, "PFDEBUG", "ENCODING", key)
        assert_same(pair, "PFCOUNT", key)
        assert_same(pair, "GET", key)
        for client in pair:
            insert(client, key, 300, prefix="more")
        assert_same(pair, "GET", key)
        assert_same(pair, "PFCOUNT", key)
    # and the other way: strings LeakDB wrote, read by redis-server
    insert(ours, "ours", 2500, prefix="o")
    oracle.set("ours", ours.get("ours"))
    assert oracle.pfcount("ours") == ours.pfcount("ours")


@pytest.mark.parametrize("limit", ["0", "40", "300", "1000", "20000"])
def test_sparse_size_limit_matches_redis(pair, limit):
    try:
        for client in pair:
            client.config_set("hll-sparse-max-bytes", limit)
        assert_same(pair, "CONFIG", "GET", "hll-sparse-max-bytes")
        for step in range(6):
            for client in pair:
                insert(client, "h", 50 * 2**step, prefix=f"x{step}")
            assert_same(pair, "GET", "h")
            assert_same(pair, "PFDEBUG", "ENCODING", "h")
        assert_same(pair, "PFMERGE", "merged", "h", "nokey")
        assert_same(pair, "GET", "merged")
    finally:
        for client in pair:
            client.config_set("hll-sparse-max-bytes", "3000")


def test_sparse_size_setting_is_read_as_redis_reads_it(pair):
    try:
        for value in ("1kb", "2k", "-1", "abc", "1.5", "", "9223372036854775807"):
            assert_same(pair, "CONFIG", "SET", "hll-sparse-max-bytes", value)
            assert_same(pair, "CONFIG", "GET", "hll-sparse-max-bytes")
    finally:
        for client in pair:
            client.config_set("hll-sparse-max-bytes", "3000")


def test_selftest_passes(pair):
    assert_same(pair, "PFSELFTEST")  # Redis runs its own checks; LeakDB runs them on its code


def test_a_count_that_refreshes_the_cache_touches_watched_keys(pair):
    for client in pair:
        client.execute_command("PFADD", "h", "a", "b")
    outcomes = []
    for client in pair:
        watcher = client.pipeline(transaction=True)
        watcher.watch("h")
        client.pfcount("h")  # writes the count into the string: a modification, as in Redis
        watcher.multi()
        watcher.get("h")
        try:
            outcomes.append(watcher.execute())
        except redis.WatchError:
            outcomes.append("aborted")
        watcher.reset()
    assert outcomes[0] == outcomes[1] == "aborted"


def test_python_api_reaches_hll_commands():
    storage = DefaultStorage()
    assert storage.execute_command("PFADD", "h", "a", "b", "c") == 1
    assert storage.execute_command("PFCOUNT", "h") == 3
    assert storage.execute_command("PFMERGE", "d", "h") == b"OK"
    assert storage.execute_command("GET", "d")[:4] == b"HYLL"
    storage.execute_command("SET", "s", "abc")
    with pytest.raises(CommandError, match=r"^WRONGTYPE Key is not a valid HyperLogLog string value\.$"):
        storage.execute_command("PFADD", "s", "x")


# -- random sequences mixing PF commands with string and key commands -------------------------------

KEYS = ["h1", "h2", "h3", "s"]
ELEMENT = st.integers(0, 400).map(lambda n: f"e{n}")
key = st.sampled_from(KEYS)


class HLLMachine(RuleBasedStateMachine):
    """PF commands and the string commands that can reach an HLL's bytes, on both servers."""

    pair: tuple[redis.Redis, redis.Redis]

    def __init__(self) -> None:
        super().__init__()
        for client in self.pair:
            client.flushall()

    def both(self, *command):
        oracle, ours = self.pair
        expected, actual = reply_of(oracle, *command), reply_of(ours, *command)
        assert actual == expected, f"{command}: redis {expected!r}, leakdb {actual!r}"

    @rule(k=key, elements=st.lists(ELEMENT, max_size=6))
    def pfadd(self, k, elements):
        self.both("PFADD", k, *elements)

    @rule(k=key, first=st.integers(0, 5000), size=st.sampled_from([50, 300, 1500]))
    def pfadd_many(self, k, first, size):
        self.both("PFADD", k, *(f"many{i}" for i in range(first, first + size)))

    @rule(keys=st.lists(key, min_size=1, max_size=3))
    def pfcount(self, keys):
        self.both("PFCOUNT", *keys)

    @rule(keys=st.lists(key, min_size=1, max_size=3))
    def pfmerge(self, keys):
        self.both("PFMERGE", *keys)

    @rule(k=key, sub=st.sampled_from(["ENCODING", "DECODE", "TODENSE"]))
    def pfdebug(self, k, sub):
        self.both("PFDEBUG", sub, k)

    @rule(k=key, value=st.sampled_from(["", "x", "HYLL", "HYLL\x01\x00\x00\x00" + "\x00" * 8 + "\x7f\xff"]))
    def set_string(self, k, value):
        self.both("SET", k, value)

    @rule(
        k=key,
        offset=st.sampled_from(["0", "4", "15", "16", "17", "40"]),
        value=st.sampled_from(["\x00", "\xff", "ab"]),
    )
    def setrange(self, k, offset, value):
        self.both("SETRANGE", k, offset, value)

    @rule(k=key, value=st.sampled_from(["\x00", "\x80", "zz"]))
    def append(self, k, value):
        self.both("APPEND", k, value)

    @rule(source=key, other=key)
    def copy_or_rename(self, source, other):
        self.both("COPY", source, other, "REPLACE")
        self.both("RENAME", other, source)

    @rule(k=key)
    def delete(self, k):
        self.both("DEL", k)

    @rule(k=key)
    def reads(self, k):
        self.both("STRLEN", k)
        self.both("GETRANGE", k, "0", "20")
        self.both("TYPE", k)

    @invariant()
    def same_strings(self):
        for k in KEYS:
            self.both("GET", k)


EXAMPLES = int(os.environ.get("LEAKDB_HLL_EXAMPLES", "25"))


def test_random_hll_sequences_match_redis(pair):
    HLLMachine.pair = pair
    HLLMachine.TestCase.settings = settings(
        max_examples=EXAMPLES, stateful_step_count=30, deadline=None, suppress_health_check=list(HealthCheck)
    )
    HLLMachine.TestCase().runTest()


# -- persistence -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "stop"),
    [
        (("--storage", "persistent-queue", "--backend", "sqlite"), signal.SIGTERM),
        (("--storage", "persistent-queue", "--backend", "shelve"), signal.SIGTERM),
        (("--storage", "persistent", "--backend", "sqlite"), signal.SIGKILL),
    ],
    ids=["sqlite-sigterm", "shelve-sigterm", "write-through-kill-9"],
)
def test_hlls_and_geo_keys_survive_a_restart(start_leakdb, flags, stop):
    server = start_leakdb(*flags)
    client = server.client()
    insert(client, "sparse", 200)
    insert(client, "dense", 5000)
    client.pfcount("dense")
    client.execute_command(
        "GEOADD", "geo", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"
    )
    expected = {key: client.get(key) for key in ("sparse", "dense")}
    union = client.pfcount("sparse", "dense")
    positions = client.geopos("geo", "Palermo", "Catania")
    client.close()
    server.stop(stop)
    again = start_leakdb(*flags).client()
    assert {key: again.get(key) for key in ("sparse", "dense")} == expected
    assert again.pfcount("sparse", "dense") == union > 4900
    assert again.execute_command("PFDEBUG", "ENCODING", "dense") == b"dense"
    assert again.geopos("geo", "Palermo", "Catania") == positions
    assert again.geodist("geo", "Palermo", "Catania", "km") == 166.2742
    again.close()


# -- client libraries --------------------------------------------------------------------------------


def test_redis_py_hll_helpers_match_redis(pair):
    results = []
    for client in pair:
        client.pfadd("visits", *(f"user{i}" for i in range(500)))
        client.pfadd("other", *(f"user{i}" for i in range(250, 900)))
        client.pfmerge("all", "visits", "other")
        results.append((client.pfcount("visits"), client.pfcount("visits", "other"), client.pfcount("all")))
        results.append(client.get("all"))
    assert results[0] == results[2]
    assert results[1] == results[3]


def test_pottery_hyperloglog_matches_redis(pair):
    seen = []
    for client in pair:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            searches = pottery.HyperLogLog(redis=client, key="searches")
            searches.update({f"query {i}" for i in range(200)})
            searches.add("one more")
            other = pottery.HyperLogLog({f"query {i}" for i in range(150, 400)}, redis=client, key="other")
            union = searches.union(other, redis=client, key="union")
            seen.append(
                (
                    len(searches),
                    len(union),
                    "query 3" in searches,
                    "never added" in searches,
                    list(searches.contains_many("query 1", "nope", "one more")),
                    client.get("searches"),
                    client.get("union"),
                )
            )
    assert seen[0] == seen[1]
    assert seen[1][2] is True and seen[1][4][0] is True


def test_walrus_hyperloglog_matches_redis(redis_server, leakdb_server):
    seen = []
    for server in (redis_server, leakdb_server):
        db = walrus.Database(port=server.port)
        db.flushall()
        hll = db.HyperLogLog("pages")
        hll.add(*(f"page{i}" for i in range(120)))
        other = db.HyperLogLog("more")
        other.add(*(f"page{i}" for i in range(100, 300)))
        merged = hll.merge("merged", other)
        hll |= other
        seen.append((len(hll), len(other), len(merged), db.get("merged"), db.get("pages")))
        db.close()
    assert seen[0] == seen[1]


def test_raw_pfadd_over_a_socket_keeps_the_connection(leakdb_server):
    reply = raw_exchange(leakdb_server.port, b"SET bad HYLLxx\r\nPFADD bad a\r\nPING\r\n")
    assert reply == b"+OK\r\n-WRONGTYPE Key is not a valid HyperLogLog string value.\r\n+PONG\r\n"


def test_strings_the_pf_commands_write_are_raw_strings(pair):
    for client in pair:
        client.execute_command("PFADD", "h", "a")
        client.execute_command("PFMERGE", "m", "h")
        client.execute_command("PFADD", "dense", *(f"e{i}" for i in range(4000)))
        client.set("copied", client.get("h"))
        client.pfcount("copied")  # Redis makes a string it edits raw
    for key in ("h", "m", "dense", "copied"):
        assert_same(pair, "TYPE", key)
        assert_same(pair, "OBJECT", "ENCODING", key)
    scans = [sorted(client.scan(0, _type="string", count=100)[1]) for client in pair]
    assert scans[0] == scans[1] == [b"copied", b"dense", b"h", b"m"]


def test_command_table_matches_redis(pair):
    """Name, arity, flags, key positions and ACL categories as COMMAND INFO gives them."""
    for client in pair:
        client.response_callbacks.clear()
    for name in ("pfadd", "pfcount", "pfmerge", "pfdebug", "pfselftest"):
        entries = [client.execute_command("COMMAND", "INFO", name) for client in pair]
        expected, actual = (entry[0][:7] for entry in entries)
        assert actual == expected, name
