"""Every Redis 7.0 configuration parameter, against a real redis-server: the names CONFIG GET lists,
and for each parameter CONFIG SET of a valid value, of one out of range and of one of the wrong type,
compared byte for byte.  The cases come from the settings table, so a parameter added to it is
tested too.  Values are put back after each case: the servers are shared with other tests.
"""

from __future__ import annotations

import socket

import pytest
import redis
from conftest import HANG_SECONDS, read_replies

from leakdb.config import ALIASES, SETTINGS, canonical
from leakdb.config_values import INT_MAX, INT_MIN, LONG_MAX, LONG_MIN

# Parameters whose valid value cannot be the same on both servers (each has its own port).
DIFFERENT_PER_SERVER = {"port"}
# Sending a new value here would lock the test's own connection out.
NOT_SENT = {"requirepass"}
# redis-server spends minutes lowering its file descriptor limit step by step to refuse this one.
NOT_ASKED = {("maxclients", str(INT_MAX + 1))}
# Where LeakDB answers otherwise on purpose: (parameter, value) -> LeakDB's reply.
STORAGE_FIXED = (
    b"LeakDB's storage mode is chosen at start-up (--storage, or appendonly and appendfsync in the "
    b"config file) and can't change while it runs\r\n"
)
DIFFERENCES = {
    # This redis-server's build has no defragmenting allocator; LeakDB keeps the value (no effect).
    ("activedefrag", "YES"): b"+OK\r\n",
    # Redis then listens on every interface; LeakDB will not open up unasked while running.
    (
        "bind",
        "",
    ): b"-ERR CONFIG SET failed (possibly related to argument 'bind') - argument can't be empty\r\n",
    ("appendonly", "YES"): b"-ERR CONFIG SET failed (possibly related to argument 'appendonly') - "
    + STORAGE_FIXED,
    **{
        ("appendfsync", value): b"-ERR CONFIG SET failed (possibly related to argument 'appendfsync') - "
        + STORAGE_FIXED
        for value in ("no", "NO", "ALWAYS")
    },
}


class Connection:
    """One raw connection: a command in, the bytes of its one reply out."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=HANG_SECONDS)

    def __call__(self, *args: str) -> bytes:
        parts = [b"*%d\r\n" % len(args)]
        parts.extend(b"$%d\r\n%s\r\n" % (len(arg.encode()), arg.encode()) for arg in args)
        self.sock.sendall(b"".join(parts))
        return read_replies(self.sock, 1)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def both(redis_server, leakdb_server):
    connections = Connection(redis_server.port), Connection(leakdb_server.port)
    yield connections
    for connection in connections:
        connection.close()


def redis_names() -> list[str]:
    """The names CONFIG GET * lists: every visible setting and every alias."""
    return sorted([name for name, setting in SETTINGS.items() if not setting.hidden] + list(ALIASES))


def test_config_get_star_lists_exactly_redis_names(pair):
    oracle, ours = pair
    expected = set(oracle.config_get("*"))
    assert len(expected) == 192
    assert set(ours.config_get("*")) == expected
    assert set(redis_names()) == expected


def test_hidden_settings_answer_their_exact_names_only(pair):
    oracle, ours = pair
    for name in ("key-load-delay", "rdb-key-save-delay", "loading-process-events-interval-bytes"):
        assert ours.config_get(name) == oracle.config_get(name)
        assert name not in ours.config_get("*")
    assert ours.config_get("storage") == {"storage": "memory"}
    assert ours.config_get("stor*") == oracle.config_get("stor*") == {}


def test_config_get_several_patterns_aliases_and_spelling_match_redis(pair):
    oracle, ours = pair
    for patterns in (
        ("HZ", "hash-max-zip*", "Lua-time-limit"),
        ("*max-*-entries", "slave*", "replica-*"),
        ("maxmemory*", "maxmemory", "no-such-thing"),
        ("[ab]*",),
    ):
        assert ours.config_get(*patterns) == oracle.config_get(*patterns), patterns


def test_config_get_is_a_map_in_resp3(redis_server, leakdb_server):
    replies = []
    for port in (redis_server.port, leakdb_server.port):
        client = redis.Redis(port=port, protocol=3)
        replies.append(client.execute_command("CONFIG", "GET", "hz", "set-max-intset-entries"))
        client.close()
    assert replies[0] == replies[1] == {b"hz": b"10", b"set-max-intset-entries": b"512"}


def _takes(setting, raw: str) -> object:
    try:
        return setting.parse(raw)
    except ValueError:
        return None


def cases(name: str) -> list[tuple[str, str]]:
    """(what, value) to send for parameter `name`, by the kind of value it takes."""
    setting = SETTINGS[canonical(name)]
    found = [("wrong type", "not-a-value!"), ("empty", "")]
    if isinstance(_takes(setting, "5"), int) and not isinstance(_takes(setting, "5"), bool):
        found += [
            ("large", str(LONG_MAX)),
            ("overflow", "99999999999999999999999"),
            ("minus one", "-1"),
            ("int32 edges", str(INT_MAX + 1)),
            ("int32 low edge", str(INT_MIN - 1)),
            ("very low", str(LONG_MIN)),
            ("zero", "0"),
            ("leading zero", "010"),
            ("unit", "1kb"),
            ("unit upper case", "2MB"),
            ("fraction", "1.5"),
        ]
    if setting.choices or _takes(setting, "yes") is True:
        found += [("upper case", "YES"), ("no", "no")]
        found += [(f"choice {choice}", choice.upper()) for choice in setting.choices]
    return found


@pytest.mark.parametrize("name", redis_names())
def test_config_set_of_each_parameter_matches_redis_byte_for_byte(name, both, pair):
    oracle_conn, our_conn = both
    oracle, ours = pair
    before = oracle.config_get(name)[name], ours.config_get(name)[name]
    try:
        # The value each server has now, set again: accepted by both.
        if name not in DIFFERENT_PER_SERVER | NOT_SENT:
            expected = oracle_conn("CONFIG", "SET", name, before[0])
            assert our_conn("CONFIG", "SET", name, before[0]) == expected, ("current value", expected)
        for what, value in cases(name):
            if name in NOT_SENT or (name, value) in NOT_ASKED:
                continue
            expected = oracle_conn("CONFIG", "SET", name, value)
            actual = our_conn("CONFIG", "SET", name, value)
            if (name, value) in DIFFERENCES:
                assert actual == DIFFERENCES[name, value], (what, value, actual)
                ours.config_set(name, before[1])
                oracle.config_set(name, before[0])
                continue
            assert actual == expected, (what, value, expected, actual)
            if expected == b"+OK\r\n":
                assert ours.config_get(name) == oracle.config_get(name), (what, value)
                oracle.config_set(name, before[0])
                ours.config_set(name, before[1])
    finally:
        setting = SETTINGS[canonical(name)]
        if name not in NOT_SENT and setting.mutable and not setting.protected:
            oracle.config_set(name, before[0])
            ours.config_set(name, before[1])


def test_config_set_is_all_or_nothing_with_redis_errors(both, pair):
    oracle_conn, our_conn = both
    oracle, ours = pair
    attempts = [
        ("hz", "20", "maxmemory", "lots"),
        ("hz", "20", "no-such-setting", "1"),
        ("hz", "20", "daemonize", "no"),
        ("hz", "20", "dir", "/tmp"),
        ("hz", "20", "HZ", "30"),
        ("hz", "20", "maxmemory-policy", "lru"),
        ("hz", "20", "hz"),
    ]
    for attempt in attempts:
        expected = oracle_conn("CONFIG", "SET", *attempt)
        assert expected.startswith(b"-ERR")
        assert our_conn("CONFIG", "SET", *attempt) == expected, attempt
        assert ours.config_get("hz") == oracle.config_get("hz") == {"hz": "10"}
    # An alias and its parameter in one call are two parameters to Redis, not a duplicate.
    pairs = ("hash-max-ziplist-entries", "100", "hash-max-listpack-entries", "200")
    try:
        assert our_conn("CONFIG", "SET", *pairs) == oracle_conn("CONFIG", "SET", *pairs) == b"+OK\r\n"
        assert ours.config_get("hash-max-*") == oracle.config_get("hash-max-*")
    finally:
        for client in pair:
            client.config_set("hash-max-listpack-entries", 512)


def test_config_set_port_listens_on_the_new_port_at_once(start_leakdb):
    from conftest import free_port

    server = start_leakdb("--storage", "memory")
    client = server.client()
    client.set("kept", "yes")
    new_port = free_port()
    assert client.config_set("port", new_port)
    moved = redis.Redis(port=new_port)
    assert moved.get("kept") == b"yes"  # a new connection on the new port
    assert client.ping()  # the connection made before the move stays
    assert moved.config_get("port") == {"port": str(new_port)}
    with pytest.raises(redis.ConnectionError):
        redis.Redis(port=server.port, socket_connect_timeout=5).ping()
    # A port in use: Redis's error, and the server still listens where it did.
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    busy = holder.getsockname()[1]
    try:
        with pytest.raises(redis.ResponseError) as refused:
            moved.config_set("port", busy)
        assert str(refused.value) == (
            "CONFIG SET failed (possibly related to argument 'port') - "
            "Unable to listen on this port. Check server logs."
        )
        assert redis.Redis(port=new_port).ping()
        assert moved.config_get("port") == {"port": str(new_port)}
    finally:
        holder.close()
    with pytest.raises(redis.ResponseError, match="Failed to bind to specified addresses"):
        moved.config_set("bind", "192.0.2.1")
    assert redis.Redis(port=new_port).ping()
    assert moved.config_get("bind") == {"bind": "127.0.0.1"}
    # Beyond loopback without a password: protected mode refuses, as at start-up.
    with pytest.raises(redis.ResponseError, match=r"refusing to listen on 0\.0\.0\.0 without a password"):
        moved.config_set("bind", "0.0.0.0")
    assert moved.config_get("bind") == {"bind": "127.0.0.1"}
    assert redis.Redis(port=new_port).ping()
    server.port = new_port  # so that the fixture stops it where it listens


def test_notify_keyspace_events_reads_back_as_redis_writes_it(pair):
    oracle, ours = pair
    try:
        for flags in ("KEA", "An", "g$lshzxetdmnKE", "zg", "Kx", "E", "m", ""):
            for client in pair:
                client.config_set("notify-keyspace-events", flags)
            assert ours.config_get("notify-keyspace-events") == oracle.config_get("notify-keyspace-events")
    finally:
        for client in pair:
            client.config_set("notify-keyspace-events", "")
