"""DEBUG against a real redis-server (started with enable-debug-command): the digests after the same
workload over every type, PROTOCOL's bytes in both RESP versions, and the replies tools rely on."""

from __future__ import annotations

import re
import time

import pytest
import redis

from tests.conftest import ServerProcess, free_port, leakdb_argv, raw_commands, redis_argv


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    port_r, port_l = free_port(), free_port()
    # DEBUG RELOAD makes redis-server write dump.rdb in its directory: a temporary one.
    oracle_dir = tmp_path_factory.mktemp("redis-debug")
    oracle = ServerProcess(redis_argv(port_r, "--enable-debug-command", "yes"), port_r, cwd=str(oracle_dir))
    workdir = tmp_path_factory.mktemp("leakdb-debug")
    ours = ServerProcess(leakdb_argv(port_l, "--storage", "memory"), port_l, cwd=str(workdir))
    yield oracle, ours
    oracle.stop()
    ours.stop()


def clients(servers) -> list[redis.Redis]:
    return [server.client(protocol=2) for server in servers]


def workload(client: redis.Redis) -> None:
    client.flushall()
    client.set("s", "hello")
    client.set("n", 12)
    client.set("big", "x" * 100)
    client.set("e", "x", ex=100)
    client.rpush("l", "a", "b", 3, "c", -7)
    client.sadd("ints", 1, 2, 3)
    client.sadd("st", "x", "y", 1, 2)
    client.zadd("z", {"a": 1, "b": 2.5, "c": -0.1, "d": 1e20, "e": 0.30000000000000004})
    client.zadd("zinf", {"a": float("inf"), "b": float("-inf")})
    client.hset("h", mapping={"f": "v", "g": 1})
    client.xadd("x", {"a": "1", "b": "2"}, id="1-1")
    client.xadd("x", {"c": "3"}, id="5-0")
    client.pfadd("hll", "a", "b")
    client.setbit("bits", 100, 1)
    client.execute_command("SELECT", 5)
    client.set("in5", "v")
    client.execute_command("SELECT", 0)


KEYS = ["s", "n", "big", "e", "l", "ints", "st", "z", "zinf", "h", "x", "hll", "bits", "nokey"]


def test_digests_equal_redis_after_the_same_workload(servers):
    replies = []
    for client in clients(servers):
        assert client.execute_command("DEBUG", "DIGEST") != b""
        workload(client)
        client.execute_command("SELECT", 0)
        replies.append(
            (
                client.execute_command("DEBUG", "DIGEST"),
                client.execute_command("DEBUG", "DIGEST-VALUE", *KEYS),
            )
        )
        client.close()
    assert replies[1] == replies[0]
    assert replies[1][1][-1] == b"0" * 40


def test_digest_of_an_empty_dataset_is_zeros_and_changes_with_any_write(servers):
    for client in clients(servers):
        client.flushall()
        assert client.execute_command("DEBUG", "DIGEST") == b"0" * 40
        client.set("a", "1")
        first = client.execute_command("DEBUG", "DIGEST")
        client.set("a", "2")
        assert client.execute_command("DEBUG", "DIGEST") not in (first, b"0" * 40)
        client.close()


@pytest.mark.parametrize(
    "kind",
    ["string", "integer", "double", "bignum", "null", "array", "set", "map", "attrib", "push", "verbatim",
     "true", "false", "nope"],
)  # fmt: skip
def test_protocol_bytes_equal_redis(servers, kind):
    for resp3 in (False, True):
        replies = [raw_commands(server.port, ("DEBUG", "PROTOCOL", kind), resp3=resp3) for server in servers]
        if resp3:
            replies = [reply.split(b"*0\r\n", 1)[1] for reply in replies]  # after HELLO's reply
        assert replies[1] == replies[0], (kind, resp3)


@pytest.mark.parametrize(
    "args",
    [
        ("DEBUG", "OBJECT", "nokey"),
        ("DEBUG", "OBJECT"),
        ("DEBUG", "SLEEP"),
        ("DEBUG", "STRINGMATCH-LEN"),
        ("DEBUG", "JMAP"),
        ("DEBUG", "SET-ACTIVE-EXPIRE", "1"),
        ("DEBUG", "CHANGE-REPL-ID"),
        ("DEBUG", "QUICKLIST-PACKED-THRESHOLD", "100"),
        ("DEBUG", "QUICKLIST-PACKED-THRESHOLD", "x"),
        ("DEBUG", "LISTPACK", "nokey"),
        ("DEBUG", "LISTPACK", "l"),
        ("DEBUG", "LISTPACK", "s"),
        ("DEBUG", "QUICKLIST", "s"),
        ("DEBUG", "QUICKLIST", "l"),
        ("DEBUG", "DIGEST-VALUE"),
        ("DEBUG", "RELOAD"),
        ("DEBUG",),
    ],
)
def test_replies_equal_redis(servers, args):
    for client in clients(servers):
        workload(client)
        client.close()
    replies = [raw_commands(server.port, args, resp3=False) for server in servers]
    assert replies[1] == replies[0]


def test_object_line_has_redis_fields(servers):
    lines = []
    for client in clients(servers):
        workload(client)
        lines.append(
            [
                client.execute_command("DEBUG", "OBJECT", key).decode()
                for key in ("s", "n", "big", "l", "h", "z")
            ]
        )
        client.close()
    for theirs, ours in zip(lines[0], lines[1], strict=True):
        assert [field.split(":")[0] for field in ours.split()] == [
            field.split(":")[0] for field in theirs.split()
        ]
        pick = re.compile(r"(encoding|serializedlength):\S+")
        if "quicklist" not in theirs:
            assert pick.findall(ours) == pick.findall(theirs), (ours, theirs)


def test_refused_subcommands_say_why(servers):
    _, ours = servers
    client = ours.client()
    for name in ("SEGFAULT", "PANIC", "MALLCTL"):
        with pytest.raises(redis.ResponseError, match=f"DEBUG {name} acts on Redis's C process"):
            client.execute_command("DEBUG", name)
    assert client.ping()
    client.close()


def test_set_active_expire_stops_the_background_cycle(start_leakdb):
    server = start_leakdb("--storage", "memory", "--hz", "100")
    client = server.client()
    client.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "0")
    client.set("gone", "v", px=50)
    time.sleep(0.5)

    def held() -> bool:  # DIGEST-VALUE reads the value even when it is logically expired
        return client.execute_command("DEBUG", "DIGEST-VALUE", "gone")[0] != b"0" * 40

    assert held()  # expired, never read, and no cycle removed it
    client.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "1")
    deadline = time.monotonic() + 30
    while held() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not held()
    client.close()


def test_change_repl_id_and_reload(start_leakdb, tmp_path):
    server = start_leakdb("--storage", "persistent")
    client = server.client()
    before = client.info("replication")["master_replid"]
    assert client.execute_command("DEBUG", "CHANGE-REPL-ID") == b"OK"
    after = client.info("replication")
    assert after["master_replid"] != before and after["master_replid2"] == before
    client.rpush("l", *range(200))
    client.ltrim("l", 0, 1)
    client.set("k", "v")
    digest = client.execute_command("DEBUG", "DIGEST")
    assert client.execute_command("DEBUG", "RELOAD") == b"OK"
    assert client.execute_command("DEBUG", "DIGEST") == digest
    assert client.lrange("l", 0, -1) == [b"0", b"1"]
    client.close()
