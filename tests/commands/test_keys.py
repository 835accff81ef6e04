"""Generic key commands, each reply compared with a real redis-server's reply to the same command.

Replies are compared whole, errors by exception type and text.  Deadlines are absolute and far in the
future (or in the past) wherever a reply depends on them, so the comparisons are deterministic.
"""

from __future__ import annotations

import time
from collections import deque
from types import SimpleNamespace

import pytest
import redis
from conftest import wall_ms

FAR = 4102444800123  # 2100-01-01, in ms: a deadline no test outlives
FAR_SECONDS = FAR // 1000


def outcome(client: redis.Redis, *args) -> object:
    try:
        return client.execute_command(*args)
    except redis.RedisError as exc:
        return (type(exc).__name__, str(exc))


def same(pair, *args, sort: bool = False) -> object:
    """Run a command on both servers; the replies (or errors) must be identical."""
    expected, actual = (outcome(client, *args) for client in pair)
    if sort:
        expected, actual = sorted(expected), sorted(actual)
    assert actual == expected, f"{args!r}: redis replied {expected!r}, leakdb {actual!r}"
    return actual


def both(pair, *args) -> None:
    for client in pair:
        client.execute_command(*args)


def setup_state(pair, state: str, key: str = "k") -> None:
    """missing | plain (no deadline) | volatile (deadline FAR)."""
    if state != "missing":
        both(pair, "SET", key, "v")
    if state == "volatile":
        both(pair, "PEXPIREAT", key, FAR)


def timed_same(pair, *args) -> tuple[int, int]:
    """same(), with the wall clock (ms) read just before and just after: each server's "now" for a
    relative EXPIRE lies between the two."""
    before = wall_ms()
    same(pair, *args)
    return before, wall_ms()


def assert_same_deadline(pair, window: tuple[int, int], key: str = "k") -> None:
    """Both servers hold the same deadline, or ones set by the same relative command within `window`."""
    expected, actual = (client.pexpiretime(key) for client in pair)
    if expected < 0:
        assert actual == expected, (expected, actual)
    else:
        assert abs(expected - actual) <= window[1] - window[0], (expected, actual, window)


# -- arity ---------------------------------------------------------------------------------------

ARITY_ERRORS = [
    ("DEL",),
    ("UNLINK",),
    ("EXISTS",),
    ("TOUCH",),
    ("TYPE",),
    ("TYPE", "a", "b"),
    ("EXPIRE", "k"),
    ("PEXPIREAT", "k"),
    ("TTL",),
    ("PTTL", "a", "b"),
    ("EXPIRETIME",),
    ("PEXPIRETIME", "a", "b"),
    ("PERSIST",),
    ("KEYS",),
    ("KEYS", "a", "b"),
    ("SCAN",),
    ("RANDOMKEY", "x"),
    ("RENAME", "a"),
    ("RENAMENX", "a", "b", "c"),
    ("COPY", "a"),
    ("MOVE", "a"),
    ("DBSIZE", "x"),
    ("OBJECT",),
    ("OBJECT", "ENCODING"),
    ("OBJECT", "ENCODING", "a", "b"),
    ("OBJECT", "HELP", "x"),
    ("OBJECT", "FOO"),
    ("OBJECT", "FOO", "k"),
]


@pytest.mark.parametrize("command", ARITY_ERRORS, ids=" ".join)
def test_arity_and_subcommand_errors(pair, command):
    same(pair, *command)


# -- DEL UNLINK EXISTS TOUCH TYPE ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["DEL", "UNLINK", "EXISTS", "TOUCH"])
@pytest.mark.parametrize(
    "keys", [("a",), ("missing",), ("a", "a"), ("a", "b", "missing", "b"), ("a", "volatile", "a")]
)
def test_counting_commands(pair, name, keys):
    both(pair, "MSET", "a", "1", "b", "2")
    both(pair, "SET", "volatile", "3", "PXAT", FAR)
    same(pair, name, *keys)
    same(pair, "EXISTS", "a", "b", "volatile")


@pytest.mark.parametrize("state", ["missing", "plain", "volatile"])
def test_type(pair, state):
    setup_state(pair, state)
    same(pair, "TYPE", "k")


# -- EXPIRE PEXPIRE EXPIREAT PEXPIREAT -----------------------------------------------------------

OPTION_SETS = [
    (),
    ("NX",),
    ("XX",),
    ("GT",),
    ("LT",),
    ("nx",),
    ("NX", "NX"),
    ("XX", "GT"),
    ("XX", "LT"),
    ("NX", "XX"),
    ("NX", "GT"),
    ("LT", "NX"),
    ("GT", "LT"),
    ("lt", "gt", "nx"),
    ("FOO",),
    ("NX", "FOO"),
    ("GT", "LT", "BAR"),
]


def expire_times(name: str) -> dict[str, object]:
    """Sooner / later than the volatile key's deadline FAR, plus past and malformed values."""
    now_s, now_ms = int(time.time()), int(time.time() * 1000)
    sooner_ms, later_ms = FAR - 10**9, FAR + 10**9
    return {
        "EXPIRE": {"sooner": (sooner_ms - now_ms) // 1000, "later": (later_ms - now_ms) // 1000},
        "PEXPIRE": {"sooner": sooner_ms - now_ms, "later": later_ms - now_ms},
        "EXPIREAT": {"sooner": sooner_ms // 1000, "later": later_ms // 1000, "now": now_s},
        "PEXPIREAT": {"sooner": sooner_ms, "later": later_ms, "now": now_ms},
    }[name] | {"zero": 0, "negative": -10, "junk": "1x", "float": "1.5", "empty": ""}


@pytest.mark.parametrize("options", OPTION_SETS, ids=lambda o: " ".join(o) or "plain")
@pytest.mark.parametrize("when", ["sooner", "later", "zero", "negative", "junk"])
@pytest.mark.parametrize("state", ["missing", "plain", "volatile"])
@pytest.mark.parametrize("name", ["EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"])
def test_expire_options(pair, name, state, when, options):
    setup_state(pair, state)
    window = timed_same(pair, name, "k", expire_times(name)[when], *options)
    same(pair, "EXISTS", "k")
    assert_same_deadline(pair, window)


EDGE_VALUES = [(name, when) for name in ("EXPIREAT", "PEXPIREAT") for when in ("now", "float", "empty")]


@pytest.mark.parametrize(("name", "when"), [*EDGE_VALUES, ("EXPIRE", "float"), ("EXPIRE", "empty")])
def test_expire_edge_values(pair, name, when):
    setup_state(pair, "plain")
    same(pair, name, "k", expire_times(name)[when])
    same(pair, "EXISTS", "k")


OVERFLOWS = [
    ("EXPIRE", "9223372036854775807"),
    ("EXPIRE", "9223372036854775"),
    ("EXPIRE", "9223372036854774"),
    ("EXPIRE", "-9223372036854775808"),
    ("EXPIRE", "9223372036854775808"),
    ("PEXPIRE", "9223372036854775807"),
    ("PEXPIRE", "-9223372036854775808"),
    ("EXPIREAT", "9223372036854775"),
    ("EXPIREAT", "9223372036854776"),
    ("EXPIREAT", "-9223372036854775"),
    ("EXPIREAT", "-9223372036854776"),
    ("PEXPIREAT", "9223372036854775807"),
    ("PEXPIREAT", "-9223372036854775808"),
]


@pytest.mark.parametrize(("name", "amount"), OVERFLOWS)
@pytest.mark.parametrize("state", ["missing", "plain"])
def test_expire_overflow(pair, state, name, amount):
    setup_state(pair, state)
    same(pair, name, "k", amount)
    same(pair, "EXISTS", "k")
    same(pair, "PEXPIRETIME", "k")


def test_expire_errors_come_before_the_key_lookup(pair):
    same(pair, "EXPIRE", "missing", "x", "BAD")
    same(pair, "EXPIRE", "missing", "x", "NX", "XX")
    same(pair, "EXPIRE", "missing", "x")
    same(pair, "EXPIRE", "missing", "9223372036854775807")


# -- TTL PTTL EXPIRETIME PEXPIRETIME PERSIST ------------------------------------------------------


@pytest.mark.parametrize("state", ["missing", "plain", "volatile"])
def test_ttl_family(pair, state):
    setup_state(pair, state)
    for name in ("EXPIRETIME", "PEXPIRETIME"):
        same(pair, name, "k")
    for name in ("TTL", "PTTL"):
        before = wall_ms()
        expected, actual = (client.execute_command(name, "k") for client in pair)
        after = wall_ms()
        if state != "volatile":
            assert expected < 0 and actual == expected, (expected, actual)
            continue
        # The deadline is FAR; each server read its clock between `before` and `after`.
        if name == "PTTL":
            least, most = FAR - after, FAR - before
        else:  # seconds, rounded to the nearest as Redis does
            least, most = (FAR - after + 500) // 1000, (FAR - before + 500) // 1000
        assert least <= expected <= most and least <= actual <= most, (name, expected, actual, least, most)


@pytest.mark.parametrize("deadline_ms", [FAR, FAR + 499, FAR + 500, FAR + 999])
def test_expiretime_rounds_like_redis(pair, deadline_ms):
    both(pair, "SET", "k", "v", "PXAT", deadline_ms)
    same(pair, "EXPIRETIME", "k")
    same(pair, "PEXPIRETIME", "k")


@pytest.mark.parametrize("state", ["missing", "plain", "volatile"])
def test_persist(pair, state):
    setup_state(pair, state)
    same(pair, "PERSIST", "k")
    same(pair, "PERSIST", "k")
    same(pair, "PTTL", "k")


def test_expired_keys_are_absent_everywhere(pair):
    both(pair, "SET", "gone", "v", "PX", "30")
    both(pair, "SET", "other", "v", "PX", "30")
    time.sleep(0.2)
    for command in [
        ("EXISTS", "gone"),
        ("TYPE", "gone"),
        ("TTL", "gone"),
        ("PEXPIRETIME", "gone"),
        ("PERSIST", "gone"),
        ("EXPIRE", "gone", "100"),
        ("OBJECT", "ENCODING", "gone"),
        ("RENAME", "gone", "x"),
        ("RENAMENX", "gone", "x"),
        ("COPY", "gone", "x"),
        ("MOVE", "gone", "1"),
        ("KEYS", "*"),
        ("KEYS", "gone"),
        ("SCAN", "0"),
        ("RANDOMKEY",),
        ("DBSIZE",),
        ("DEL", "gone", "other"),
    ]:
        same(pair, *command)


def test_key_expires_after_pexpire(pair):
    both(pair, "SET", "k", "v")
    same(pair, "PEXPIRE", "k", "50")
    time.sleep(0.25)
    same(pair, "EXISTS", "k")
    same(pair, "TTL", "k")


# -- KEYS ----------------------------------------------------------------------------------------

GLOB_KEYS = [
    "",
    "a",
    "ab",
    "a*b",
    "a?",
    "[",
    "]",
    "\\",
    "^x",
    "a-b",
    "hallo",
    "hello",
    "hillo",
    "hbllo",
    "hllo",
    "heeello",
    b"h\xffllo",
    "foo:1",
    "foo:12",
    "foo:bar",
]
GLOB_PATTERNS = [
    "*",
    "**",
    "",
    "a",
    "nomatch",
    "h?llo",
    "h*llo",
    "h[ae]llo",
    "h[^e]llo",
    "h[a-b]llo",
    "h[b-a]llo",
    "h[a-]llo",
    b"h[a-\xff]llo",
    b"h[\xff]llo",
    "[]",
    "[]]",
    "[^]",
    "[\\]]",
    "[",
    "[a",
    "[^a",
    "\\[",
    "\\*",
    "a\\*b",
    "a\\",
    "\\",
    "\\\\",
    "?",
    "??",
    "a*",
    "*b",
    "foo:*",
    "foo:?",
    "foo:[0-9]*",
    "*o*l*",
    "^*",
    "[\\^]*",
]


@pytest.mark.parametrize("pattern", GLOB_PATTERNS)
def test_keys_patterns(pair, pattern):
    for key in GLOB_KEYS:
        both(pair, "SET", key, "1")
    same(pair, "KEYS", pattern, sort=True)


def test_keys_skips_other_databases_and_expired_keys(pair):
    both(pair, "SET", "here", "1")
    both(pair, "SET", "soon", "1", "PXAT", 1)
    for client in pair:
        client.execute_command("MOVE", "here", 3)
        client.execute_command("SET", "stay", "1")
    same(pair, "KEYS", "*", sort=True)
    same(pair, "KEYS", "here")
    same(pair, "KEYS", "stay")


# -- SCAN ----------------------------------------------------------------------------------------

SCAN_ERRORS = [
    ("x",),
    (" 1",),
    ("1 ",),
    ("0x10",),
    ("18446744073709551616",),
    ("-18446744073709551616",),
    ("+",),
    ("0", "COUNT", "0"),
    ("0", "COUNT", "-1"),
    ("0", "COUNT", "x"),
    ("0", "COUNT", "9223372036854775808"),
    ("0", "COUNT"),
    ("0", "MATCH"),
    ("0", "TYPE"),
    ("0", "FOO", "bar"),
    ("0", "MATCH", "*", "COUNT"),
]


@pytest.mark.parametrize("args", SCAN_ERRORS, ids=" ".join)
def test_scan_errors(pair, args):
    both(pair, "SET", "k", "v")
    same(pair, "SCAN", *args)


@pytest.mark.parametrize("cursor", ["", "+0", "00", "-0", "-1", "18446744073709551615", "7"])
def test_scan_accepts_cursors_as_strtoul_reads_them(pair, cursor):
    expected, actual = (outcome(client, "SCAN", cursor) for client in pair)
    assert type(expected) is type(actual) is tuple  # (cursor, keys), not an error


def full_scan(client: redis.Redis, *options) -> list[bytes]:
    found: list[bytes] = []
    cursor = 0
    while True:
        cursor, batch = client.execute_command("SCAN", cursor, *options)
        found.extend(batch)
        if int(cursor) == 0:
            return sorted(set(found))


@pytest.mark.parametrize(
    "options",
    [
        (),
        ("COUNT", "1"),
        ("COUNT", "7"),
        ("count", "1000"),
        ("MATCH", "key:1*"),
        ("MATCH", "*"),
        ("MATCH", "**"),
        ("MATCH", "nothing"),
        ("MATCH", "key:[2-3]?", "COUNT", "3"),
        ("TYPE", "string"),
        ("TYPE", "STRING"),
        ("TYPE", "list"),
        ("TYPE", "bogus"),
        ("MATCH", "key:5", "TYPE", "string", "COUNT", "2"),
        ("COUNT", "5", "COUNT", "2"),
    ],
    ids=" ".join,
)
def test_scan_returns_every_key_once_complete(pair, options):
    both(pair, "MSET", *[x for i in range(200) for x in (f"key:{i}", "v")])
    both(pair, "SET", "", "empty key")
    both(pair, "SET", "dead", "v", "PXAT", 1)
    expected, actual = (full_scan(client, *options) for client in pair)
    assert actual == expected


def test_scan_small_database_in_one_call(pair):
    both(pair, "MSET", "a", "1", "b", "2", "c", "3")
    cursor, keys = pair[1].execute_command("SCAN", 0)
    assert (int(cursor), sorted(keys)) == (0, [b"a", b"b", b"c"])


def test_scan_returns_keys_present_for_the_whole_scan_despite_deletions(r):
    stable = {f"stable:{i}".encode() for i in range(300)}
    doomed = [f"doomed:{i}".encode() for i in range(600)]
    r.mset({key: b"v" for key in [*stable, *doomed]})
    seen: set[bytes] = set()
    cursor, rounds = 0, 0
    while True:
        cursor, batch = r.execute_command("SCAN", cursor, "COUNT", 7)
        seen.update(batch)
        rounds += 1
        # Churn between calls: delete keys (seen or not) and add new ones.
        if doomed:
            r.delete(*[doomed.pop() for _ in range(min(9, len(doomed)))])
        r.set(f"new:{rounds}", "v")
        if int(cursor) == 0:
            break
    assert stable <= seen
    assert not {key for key in seen if key.startswith(b"doomed:")} - set(
        f"doomed:{i}".encode() for i in range(600)
    )


def test_scan_survives_another_client_starting_a_scan(leakdb_server, r):
    r.mset({f"k{i}": "v" for i in range(500)})
    other = leakdb_server.client()
    seen: set[bytes] = set()
    cursor = 0
    while True:
        cursor, batch = r.execute_command("SCAN", cursor, "COUNT", 20)
        seen.update(batch)
        other.execute_command("SCAN", 0, "COUNT", 5)  # rebuilds the shared order mid-scan
        r.delete(f"k{len(seen) % 500}x")
        if int(cursor) == 0:
            break
    other.close()
    assert len(seen) == 500


def test_scan_type_none_returns_nothing(pair):
    # Redis 7.0 lists a key that expired but was not yet reclaimed under TYPE none (it checks the
    # type, which deletes the key, before it checks expiry); LeakDB keeps expired keys absent.
    both(pair, "SET", "live", "v")
    both(pair, "SET", "dead", "v", "PXAT", 1)
    assert full_scan(pair[0], "TYPE", "none") in ([], [b"dead"])
    assert full_scan(pair[1], "TYPE", "none") == []


def test_scan_with_one_huge_count(pair):
    both(pair, "MSET", *[x for i in range(50) for x in (f"k{i}", "v")])
    expected, actual = (full_scan(client, "COUNT", "9223372036854775807") for client in pair)
    assert actual == expected


# -- RANDOMKEY DBSIZE ----------------------------------------------------------------------------


def test_randomkey_and_dbsize(pair):
    same(pair, "RANDOMKEY")
    same(pair, "DBSIZE")
    both(pair, "SET", "only", "1")
    same(pair, "DBSIZE")
    both(pair, "SET", "dead", "1", "PXAT", 1)
    same(pair, "RANDOMKEY")
    # Redis counts an expired key until it reclaims it; LeakDB never counts expired keys.
    assert pair[1].dbsize() == 1
    both(pair, "MSET", "a", "1", "b", "2")
    keys = {pair[1].randomkey() for _ in range(50)}
    assert keys <= {b"only", b"a", b"b"} and len(keys) > 1


# -- RENAME RENAMENX -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["RENAME", "RENAMENX"])
@pytest.mark.parametrize("source", ["missing", "plain", "volatile"])
@pytest.mark.parametrize("target", ["missing", "plain", "volatile", "same"])
def test_rename(pair, name, source, target):
    setup_state(pair, source, "src")
    if target == "plain":
        both(pair, "SET", "dst", "old")
    elif target == "volatile":
        both(pair, "SET", "dst", "old", "PXAT", FAR + 777)
    destination = "src" if target == "same" else "dst"
    same(pair, name, "src", destination)
    for key in ("src", "dst"):
        same(pair, "GET", key)
        same(pair, "PEXPIRETIME", key)


# -- COPY MOVE -----------------------------------------------------------------------------------

COPY_OPTIONS = [
    (),
    ("REPLACE",),
    ("replace", "REPLACE"),
    ("DB", "0"),
    ("DB", "1"),
    ("DB", "1", "REPLACE"),
    ("DB", "15"),
    ("DB", "16"),
    ("DB", "-1"),
    ("DB", "x"),
    ("DB", "4294967296"),
    ("DB",),
    ("DB", "1", "DB", "2"),
    ("FOO",),
    ("REPLACE", "FOO"),
]


@pytest.mark.parametrize("options", COPY_OPTIONS, ids=lambda o: " ".join(o) or "plain")
@pytest.mark.parametrize("target", ["missing", "plain", "same-key"])
@pytest.mark.parametrize("source", ["missing", "volatile"])
def test_copy(pair, source, target, options):
    setup_state(pair, source, "src")
    if target == "plain":
        both(pair, "SET", "dst", "old")
    destination = "src" if target == "same-key" else "dst"
    same(pair, "COPY", "src", destination, *options)
    same(pair, "GET", "dst")
    same(pair, "PEXPIRETIME", "dst")


def test_copy_into_other_database_keeps_deadline(redis_server, leakdb_server):
    clients = []
    for server in (redis_server, leakdb_server):
        client = server.client(single_connection_client=True)
        client.flushall()
        client.set("src", "v", pxat=FAR)
        client.execute_command("SELECT", 2)
        client.set("dst", "old")
        client.execute_command("SELECT", 0)
        clients.append(client)
    same(clients, "COPY", "src", "dst", "DB", "2")
    same(clients, "COPY", "src", "dst", "DB", "2", "REPLACE")
    same(clients, "SELECT", "2")
    same(clients, "GET", "dst")
    same(clients, "PEXPIRETIME", "dst")
    for client in clients:
        client.close()


def test_copy_of_a_container_is_independent(r):
    r.rpush("src", "a")
    r.copy("src", "dst")
    r.rpush("src", "b")
    assert r.lrange("dst", 0, -1) == [b"a"]


MOVE_CASES = ["0", "1", "15", "16", "-1", "x", "4294967296", "2147483648"]


@pytest.mark.parametrize("db", MOVE_CASES)
@pytest.mark.parametrize("state", ["missing", "plain", "volatile", "taken"])
def test_move(redis_server, leakdb_server, state, db):
    clients = []
    for server in (redis_server, leakdb_server):
        client = server.client(single_connection_client=True)
        client.flushall()
        if state != "missing":
            client.set("k", "v")
        if state == "volatile":
            client.pexpireat("k", FAR)
        if state == "taken":
            client.execute_command("SELECT", 1)
            client.set("k", "other")
            client.execute_command("SELECT", 0)
        clients.append(client)
    same(clients, "MOVE", "k", db)
    same(clients, "GET", "k")
    same(clients, "SELECT", "1")
    same(clients, "GET", "k")
    same(clients, "PEXPIRETIME", "k")
    for client in clients:
        client.close()


# -- OBJECT --------------------------------------------------------------------------------------

ENCODING_VALUES = [
    "0",
    "1",
    "-1",
    "9999",
    "10000",
    "-0",
    "01",
    "+1",
    " 1",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "12345678901234567890",
    "1.5",
    "",
    "x" * 44,
    "x" * 45,
    "1" * 44,
    "hello",
]


@pytest.mark.parametrize("value", ENCODING_VALUES)
def test_object_encoding_and_refcount(pair, value):
    both(pair, "SET", "k", value)
    same(pair, "OBJECT", "ENCODING", "k")
    same(pair, "OBJECT", "REFCOUNT", "k")


@pytest.mark.parametrize("sub", ["ENCODING", "FREQ", "IDLETIME", "REFCOUNT", "encoding"])
@pytest.mark.parametrize("state", ["missing", "plain"])
def test_object_subcommands(pair, sub, state):
    setup_state(pair, state)
    same(pair, "OBJECT", sub, "k")


def test_object_help(pair):
    same(pair, "OBJECT", "HELP")
    same(pair, "object", "help")


def test_object_encoding_is_null_in_resp3(redis_server, leakdb_server):
    replies = []
    for server in (redis_server, leakdb_server):
        client = server.client(protocol=3)
        replies.append(client.execute_command("OBJECT", "ENCODING", "nothing-here"))
        client.close()
    assert replies == [None, None]


# -- containers, in process (until their commands are served) -------------------------------------


class _Client:
    """Just enough of a server connection for a key command handler."""

    def __init__(self) -> None:
        from leakdb.engine.keyspace import Keyspace
        from leakdb.resp import RESP2

        self.server = SimpleNamespace(keyspace=Keyspace(), config=SimpleNamespace(values={}))
        self.db = self.server.keyspace[0]
        self.resp = RESP2


def _run(client: _Client, *args: bytes) -> bytes:
    from leakdb.commands import DISPATCH

    return DISPATCH[args[0]][0](client, list(args))


CONTAINERS = [
    (deque([b"a", b"b"]), b"list", b"quicklist"),
    ({b"f": b"v"}, b"hash", b"listpack"),
    ({b"f": b"x" * 65}, b"hash", b"hashtable"),
    ({b"%d" % i: b"" for i in range(513)}, b"hash", b"hashtable"),
    ({b"1", b"-2"}, b"set", b"intset"),
    ({b"1", b"a"}, b"set", b"hashtable"),
    ({b"%d" % i for i in range(513)}, b"set", b"hashtable"),
]


@pytest.mark.parametrize(("value", "type_name", "encoding"), CONTAINERS)
def test_container_type_encoding_and_independent_copy(value, type_name, encoding):
    client = _Client()
    client.db.set(b"src", value, FAR)
    assert _run(client, b"TYPE", b"src") == b"+%s\r\n" % type_name
    assert _run(client, b"OBJECT", b"ENCODING", b"src") == b"$%d\r\n%s\r\n" % (len(encoding), encoding)
    assert _run(client, b"SCAN", b"0", b"TYPE", type_name) == b"*2\r\n$1\r\n0\r\n*1\r\n$3\r\nsrc\r\n"
    assert _run(client, b"COPY", b"src", b"dst", b"DB", b"1") == b":1\r\n"
    copied = client.server.keyspace[1].lookup(b"dst")
    assert copied == value and copied is not value
    assert client.server.keyspace[1].deadline(b"dst") == FAR
