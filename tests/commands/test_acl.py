"""ACL against a real redis-server: the same ACL SETUSER sequences on both, then ACL LIST, GETUSER,
NOPERM replies, ACL LOG entries, DRYRUN, scripts, MULTI and pub/sub compared (RESP2 and RESP3);
logins through redis-py's ``username=``/``password=``; an aclfile loaded at startup, ACL SAVE/LOAD
and the saved file loaded by redis-server too.
"""

from __future__ import annotations

import re

import pytest
import redis
from conftest import (
    ServerProcess,
    free_port,
    leakdb_argv,
    raw_commands,
    redis_argv,
    wait_until,
)

RULE_SEQUENCES = [
    ["on", ">pw", "+@all", "-@dangerous", "+get", "-config|set", "~a*", "%R~r*", "&ch*"],
    ["+get", "-get", "+get", "+@read", "-@read", "nocommands", "+set"],
    ["+@all", "-get", "+get", "+config", "-config|get", "+config"],
    ["(~x* +get)", "(+set", "~y*)"],
    ["reset", "+get", "+@read"],
    ["reset", "+@all", "-@read", "+get"],
    ["reset", "+@string", "-set"],
    ["reset", "+@read", "+@write"],
    ["reset", "+client|list", "+client"],
    ["reset", "+client", "-client|kill"],
    ["reset", "+@all", "-client|kill", "-@connection"],
    ["reset", "+select|0", "+select|1"],
    ["reset", "+@all", "-debug", "+debug|object"],
    ["on", "nopass", "%W~w*", "%RW~b*", "%R~b*", "allchannels", "skip-sanitize-payload"],
    ["#" + "a" * 64, "#" + "b" * 64, "!" + "a" * 64, ">x", "<x", ">y"],
    ["allkeys", "resetkeys", "~k1", "~k2", "resetchannels", "&c1", "clearselectors", "(&z +ping)"],
    ["resetpass", "nopass", "on", "off"],
]

BAD_RULES = [
    ["foo"],
    ["+nosuch"],
    ["+@nosuch"],
    ["#abc"],
    ["<nosuch"],
    ["!abc"],
    ["("],
    ["(+get"],
    ["+client|nosuch"],
    ["+get|"],
    ["-select|0"],
    ["%X~a"],
    ["allkeys", "~a"],
    ["allchannels", "&a"],
    ["(on)"],
]


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """A private redis-server and leakdb-server (ACL changes must not leak into other tests)."""
    workdir = tmp_path_factory.mktemp("acl")
    oracle_port, our_port = free_port(), free_port()
    oracle = ServerProcess(redis_argv(oracle_port), oracle_port, cwd=str(workdir))
    ours = ServerProcess(leakdb_argv(our_port, "--storage", "memory"), our_port, cwd=str(workdir))
    yield oracle, ours
    oracle.stop()
    ours.stop()


@pytest.fixture
def both(servers):
    clients = [server.client(decode_responses=True) for server in servers]
    for client in clients:
        for name in client.execute_command("ACL", "USERS"):
            if name != "default":
                client.execute_command("ACL", "DELUSER", name)
        client.execute_command("ACL", "SETUSER", "default", "reset", "on", "nopass", "+@all", "~*", "&*")
        client.execute_command("ACL", "LOG", "RESET")
        client.flushall()
    yield clients
    for client in clients:
        client.close()


def reply(client: redis.Redis, *args):
    try:
        return client.execute_command(*args)
    except redis.RedisError as exc:
        return ("error", str(exc))


def same(both, *args):
    expected, actual = (reply(client, *args) for client in both)
    assert actual == expected, f"{args!r}: redis {expected!r}, leakdb {actual!r}"
    return actual


def as_user(server: ServerProcess, user: str, password: str = "pw", **kwargs) -> redis.Redis:
    return server.client(username=user, password=password, decode_responses=True, **kwargs)


@pytest.mark.parametrize("rules", RULE_SEQUENCES, ids=lambda rules: " ".join(rules)[:40])
def test_setuser_then_list_and_getuser(both, rules):
    same(both, "ACL", "SETUSER", "u", *rules)
    same(both, "ACL", "LIST")
    same(both, "ACL", "GETUSER", "u")


@pytest.mark.parametrize("rules", BAD_RULES, ids=lambda rules: " ".join(rules))
def test_refused_rules(both, rules):
    assert same(both, "ACL", "SETUSER", "u", *rules)[0] == "error"
    same(both, "ACL", "LIST")


def test_getuser_bytes_in_both_protocols(servers, both):
    for client in both:
        client.execute_command("ACL", "SETUSER", "u", "on", ">pw", "~a*", "&c", "+get", "(~b +set)")
    for resp3 in (False, True):
        commands = [("ACL", "GETUSER", "u"), ("ACL", "GETUSER", "nosuch"), ("ACL", "LIST"), ("ACL", "USERS")]
        expected, actual = (raw_commands(s.port, *commands, resp3=resp3) for s in servers)
        mask = rb"\$2\r\nid\r\n:\d+"
        assert re.sub(mask, b"", actual) == re.sub(mask, b"", expected)


def test_simple_subcommands(both):
    for args in [
        ("ACL", "WHOAMI"),
        ("ACL", "CAT"),
        ("ACL", "CAT", "nosuch"),
        ("ACL", "GENPASS", "0"),
        ("ACL", "GENPASS", "5000"),
        ("ACL", "GENPASS", "x"),
        ("ACL", "DELUSER", "default"),
        ("ACL", "DELUSER", "nosuch"),
        ("ACL", "LOG", "x"),
        ("ACL", "NOSUCH"),
        ("ACL", "SETUSER", "bad name", "on"),
        ("ACL", "SAVE"),
        ("ACL", "LOAD"),
    ]:
        same(both, *args)
    for client in both:
        assert len(client.execute_command("ACL", "GENPASS")) == 64
        assert len(client.execute_command("ACL", "GENPASS", "5")) == 2


@pytest.mark.parametrize("category", ["read", "string", "pubsub", "transaction", "connection", "hash"])
def test_cat_lists_the_served_commands_of_redis_categories(both, category):
    oracle, ours = (set(client.execute_command("ACL", "CAT", category)) for client in both)
    assert ours <= oracle
    assert len(ours) > 0


def test_noperm_texts_and_log(servers, both):
    for client in both:
        client.execute_command(
            "ACL", "SETUSER", "alice", "on", ">pw", "+@all", "-@dangerous", "~a*", "%R~r*", "&ch*"
        )
    replies = []
    for server in servers:
        alice = as_user(server, "alice")
        replies.append(
            [
                reply(alice, "GET", "b"),
                reply(alice, "GET", "a1"),
                reply(alice, "FLUSHALL"),
                reply(alice, "CONFIG", "SET", "maxmemory", "1"),
                reply(alice, "SET", "r1", "v"),
                reply(alice, "GET", "r1"),
                reply(alice, "PUBLISH", "x", "y"),
                reply(alice, "PUBLISH", "ch1", "y"),
                reply(alice, "ACL", "WHOAMI"),
            ]
        )
        alice.close()
    assert replies[1] == replies[0]
    logs = [client.execute_command("ACL", "LOG") for client in both]
    fields = [
        [{k: v for k, v in entry.items() if k not in ("age-seconds", "client-info")} for entry in log]
        for log in logs
    ]
    assert fields[1] == fields[0]
    assert "cmd=publish user=alice" in logs[1][0]["client-info"]
    assert [len(client.execute_command("ACL", "LOG", "1")) for client in both] == [1, 1]


def test_auth_failures_are_logged_and_grouped(servers, both):
    for client in both:
        client.execute_command("ACL", "SETUSER", "bob", "on", ">pw", "+@all", "~*")
    for server in servers:
        client = server.client(decode_responses=True)
        for _ in range(3):
            reply(client, "AUTH", "bob", "wrong")
        reply(client, "AUTH", "nosuch", "x")
        assert reply(client, "AUTH", "bob", "pw") is True
        assert client.execute_command("ACL", "WHOAMI") == "bob"
        client.close()
    logs = [client.execute_command("ACL", "LOG") for client in both]
    stripped = [
        [(e["count"], e["reason"], e["context"], e["object"], e["username"]) for e in log] for log in logs
    ]
    assert stripped[1] == stripped[0]


def test_dryrun(both):
    for client in both:
        client.execute_command(
            "ACL", "SETUSER", "alice", "on", ">pw", "+@all", "-@dangerous", "~a*", "%R~r*", "&ch*"
        )
    for args in [
        ("nosuch", "get", "a"),
        ("alice", "nosuch"),
        ("alice", "get", "a"),
        ("alice", "get", "b"),
        ("alice", "set", "r1", "v"),
        ("alice", "flushall"),
        ("alice", "get"),
        ("alice", "publish", "x", "y"),
        ("alice", "config", "set", "maxmemory", "1"),
    ]:
        same(both, "ACL", "DRYRUN", *args)


def test_scripts_check_the_callers_user(servers, both):
    for client in both:
        client.execute_command("ACL", "SETUSER", "alice", "on", ">pw", "+@all", "-@dangerous", "~a*", "&ch*")
    replies = []
    for server in servers:
        alice = as_user(server, "alice")
        replies.append(
            [
                reply(alice, "EVAL", "return redis.call('get','b')", "0"),
                reply(alice, "EVAL", "return redis.call('flushall')", "0"),
                reply(alice, "EVAL", "return redis.pcall('publish','x','y')", "0"),
                reply(alice, "EVAL", "return redis.call('set','a1','v')", "0"),
            ]
        )
        alice.close()
    assert replies[1] == replies[0]
    logs = [[(e["reason"], e["context"], e["object"]) for e in c.execute_command("ACL", "LOG")] for c in both]
    assert logs[1] == logs[0]


def test_multi_refuses_at_queue_time(servers, both):
    for client in both:
        client.execute_command("ACL", "SETUSER", "alice", "on", ">pw", "+@all", "~a*")
    outputs = []
    for server in servers:
        payload = [
            ("AUTH", "alice", "pw"),
            ("MULTI",),
            ("GET", "b"),
            ("SET", "a", "1"),
            ("EXEC",),
            ("GET", "a"),
        ]
        outputs.append(raw_commands(server.port, *payload, resp3=False))
    assert outputs[1] == outputs[0]
    logs = [[(e["reason"], e["context"], e["object"]) for e in c.execute_command("ACL", "LOG")] for c in both]
    assert logs[1] == logs[0]


@pytest.mark.parametrize("resp3", [False, True])
def test_subscribe_checks_channels(servers, both, resp3):
    for client in both:
        client.execute_command("ACL", "SETUSER", "sub", "on", ">pw", "+@all", "&news.*", "&lit*")
    outputs = []
    for server in servers:
        payload = [
            ("AUTH", "sub", "pw"),
            ("SUBSCRIBE", "other"),
            ("SUBSCRIBE", "news.1"),
            ("PSUBSCRIBE", "lit*"),
            ("PSUBSCRIBE", "li*"),
            ("UNSUBSCRIBE",),
            ("PUNSUBSCRIBE",),
        ]
        outputs.append(raw_commands(server.port, *payload, resp3=resp3))
    mask = rb"\$2\r\nid\r\n:\d+"
    assert re.sub(mask, b"", outputs[1]) == re.sub(mask, b"", outputs[0])


def test_hello_auth_and_redis_py_login(servers, both):
    for client in both:
        client.execute_command(
            "ACL", "SETUSER", "carol", "on", ">secret", "-@all", "+get", "+acl|whoami", "~*"
        )
    for server in servers:
        carol = as_user(server, "carol", "secret", protocol=3)
        assert carol.execute_command("ACL", "WHOAMI") == "carol"
        assert carol.get("k") is None
        with pytest.raises(redis.exceptions.NoPermissionError, match="'set' command"):
            carol.set("k", "v")
        carol.close()
        with pytest.raises(redis.AuthenticationError):
            as_user(server, "carol", "wrong").ping()
    outputs = [
        raw_commands(
            s.port,
            ("HELLO", "3", "AUTH", "carol", "bad"),
            ("HELLO", "2", "AUTH", "carol", "secret"),
            ("CLIENT", "ID"),
            resp3=False,
        )
        for s in servers
    ]
    mask = rb"(\$2\r\nid\r\n|\r\n):\d+\r\n"
    assert re.sub(mask, b"", outputs[1]) == re.sub(mask, b"", outputs[0])


def test_default_user_password_and_requirepass(servers, both):
    for client in both:
        client.config_set("requirepass", "foo")
    same(both, "ACL", "LIST")
    refusals = [raw_commands(server.port, ("GET", "x"), resp3=False) for server in servers]
    assert refusals[1] == refusals[0] == b"-NOAUTH Authentication required.\r\n"
    for server in servers:
        client = server.client(password="foo", decode_responses=True)
        client.config_set("requirepass", "")
        client.close()
    same(both, "ACL", "LIST")
    for client in both:
        client.execute_command("ACL", "SETUSER", "default", "resetpass", ">bar")
    refusals = [raw_commands(server.port, ("PING",), resp3=False) for server in servers]
    assert refusals[1] == refusals[0] == b"-NOAUTH Authentication required.\r\n"
    for server in servers:
        client = server.client(password="bar")
        assert client.ping()
        client.execute_command("ACL", "SETUSER", "default", "nopass")
        client.close()


def test_deluser_disconnects_its_clients(servers, both):
    for client in both:
        client.execute_command("ACL", "SETUSER", "gone", "on", ">pw", "+@all", "~*")
    for server in servers:
        victim = as_user(server, "gone")
        assert victim.ping()
        other = server.client(decode_responses=True)
        assert other.execute_command("ACL", "DELUSER", "gone") == 1
        with pytest.raises(redis.ConnectionError):
            victim.ping()
        other.close()


def test_restricting_a_logged_in_user_applies_at_once(servers, both):
    for client in both:
        client.execute_command("ACL", "SETUSER", "live", "on", ">pw", "+@all", "~*", "&*")
    for server, admin in zip(servers, both, strict=True):
        live = as_user(server, "live")
        assert live.set("k", "v")
        admin.execute_command("ACL", "SETUSER", "live", "-set")
        assert reply(live, "SET", "k", "v") == (
            "error",
            "this user has no permissions to run the 'set' command",
        )
        admin.execute_command("ACL", "SETUSER", "live", "+set")
        assert live.set("k", "v")
        live.close()


def test_client_list_names_the_user(servers, both):
    for client in both:
        client.execute_command("ACL", "SETUSER", "lister", "on", ">pw", "+@all", "~*")
    for server in servers:
        lister = as_user(server, "lister")
        assert "user=lister" in lister.execute_command("CLIENT", "INFO")
        lister.close()


ACL_FILE = """\
user default on nopass ~* &* +@all
user alice on #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 ~a* resetchannels -@all +get
"""


def test_aclfile_at_startup_save_and_load(tmp_path, start_leakdb):
    path = tmp_path / "users.acl"
    path.write_text(ACL_FILE)
    server = start_leakdb("--aclfile", str(path))
    admin = server.client(decode_responses=True)
    assert admin.execute_command("ACL", "LIST") == sorted(ACL_FILE.splitlines())
    alice = as_user(server, "alice")
    assert alice.get("a1") is None
    admin.execute_command("ACL", "SETUSER", "bob", "on", ">pw2", "+@read", "~b*", "(+set ~c*)")
    listed = admin.execute_command("ACL", "LIST")
    assert admin.execute_command("ACL", "SAVE") == "OK"
    assert path.read_text().splitlines() == listed
    admin.execute_command("ACL", "DELUSER", "bob")
    assert admin.execute_command("ACL", "LOAD") == "OK"
    assert admin.execute_command("ACL", "LIST") == listed
    # The saved file is one redis-server loads, to the same users.
    port = free_port()
    oracle = ServerProcess(redis_argv(port, "--aclfile", str(path)), port, cwd=str(tmp_path))
    try:
        assert oracle.client(decode_responses=True).execute_command("ACL", "LIST") == listed
    finally:
        oracle.stop()
    alice.close()
    admin.close()


def test_user_directives_in_the_config_file(tmp_path, start_leakdb):
    config = tmp_path / "leakdb.conf"
    config.write_text("user worker on >pw ~jobs:* +@list\n")
    server = start_leakdb(str(config))
    worker = as_user(server, "worker")
    assert worker.lpush("jobs:1", "x") == 1
    assert wait_until(lambda: reply(worker, "LPUSH", "other", "x")[0] == "error", "refused")
    worker.close()
