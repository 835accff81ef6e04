"""The commands of features a standalone server does not have (cluster, modules, the append-only file,
serving replicas): the same replies as redis-server where Redis's are not about its own state, and a
refusal with a reason where LeakDB can't do what the command asks."""

from __future__ import annotations

import pytest
import redis

from tests.conftest import masked, raw_commands

SAME_AS_REDIS = [
    ("ASKING",),
    ("CLUSTER", "INFO"),
    ("CLUSTER", "HELP"),
    ("CLUSTER", "KEYSLOT", "k"),
    ("CLUSTER", "SLOTS"),
    ("CLUSTER", "NODES"),
    ("CLUSTER", "SHARDS"),
    ("CLUSTER", "ADDSLOTS", "1", "2"),
    ("CLUSTER", "nope"),
    ("CLUSTER", "KEYSLOT"),
    ("CLUSTER", "INFO", "extra"),
    ("CLUSTER",),
    ("ASKING", "extra"),
    ("MODULE", "LIST"),
    ("MODULE", "HELP"),
    ("MODULE", "nope"),
    ("MODULE", "LOAD"),
    ("MODULE", "UNLOAD"),
    ("PSYNC", "?"),
]


@pytest.mark.parametrize("args", SAME_AS_REDIS, ids=" ".join)
def test_same_reply_as_redis(redis_server, leakdb_server, args):
    def reply(port: int, resp3: bool) -> bytes:
        hello = masked(raw_commands(port, ("HELLO", "3"), resp3=False)) if resp3 else b""
        both = masked(raw_commands(port, args, resp3=resp3))
        assert both.startswith(hello)
        return both[len(hello) :]

    for resp3 in (False, True):
        assert reply(leakdb_server.port, resp3) == reply(redis_server.port, resp3)


def test_command_table_has_redis_names(redis_server, leakdb_server):
    oracle, ours = (redis.Redis(port=server.port, protocol=2) for server in (redis_server, leakdb_server))
    for client in (oracle, ours):
        client.set_response_callback("COMMAND", lambda reply, **options: reply)
    redis_names = set(oracle.execute_command("COMMAND", "LIST"))
    our_names = set(ours.execute_command("COMMAND", "LIST"))
    # CLIENT SETINFO and CLIENT NO-TOUCH (Redis 7.2) are served for the clients that send them.
    assert redis_names - our_names == {b"command|getkeysandflags"}
    assert our_names - redis_names == {b"client|setinfo", b"client|no-touch"}
    assert ours.execute_command("COMMAND", "COUNT") == oracle.execute_command("COMMAND", "COUNT") == 240
    for name in (
        "asking",
        "cluster",
        "module",
        "bgrewriteaof",
        "sync",
        "psync",
        "replconf",
        "restore-asking",
    ):
        (theirs,) = oracle.execute_command("COMMAND", "INFO", name)
        (mine,) = ours.execute_command("COMMAND", "INFO", name)
        assert mine[:6] == theirs[:6], name  # name, arity, flags, first, last and step of the keys
    oracle.close()
    ours.close()


def test_restore_asking_is_restore(pair):
    oracle, ours = pair
    oracle.rpush("list", "a", "b", "c")
    payload = oracle.dump("list")
    assert ours.execute_command("RESTORE-ASKING", "copy", 0, payload) == b"OK"
    assert ours.lrange("copy", 0, -1) == [b"a", b"b", b"c"]
    with pytest.raises(redis.ResponseError, match=r"^BUSYKEY Target key name already exists\.$"):
        ours.execute_command("RESTORE-ASKING", "copy", 0, payload)


def test_refused_with_a_reason_and_nothing_changes(leakdb_server):
    client = leakdb_server.client()
    client.flushall()
    client.set("kept", "1")
    for args, reason in [
        (
            ("MODULE", "LOAD", "/nonexistent/module.so"),
            "^Error loading the extension. Please check the server logs.$",
        ),
        (("MODULE", "LOADEX", "/nonexistent/module.so"), "^Error loading the extension"),
        (("MODULE", "UNLOAD", "search"), "^Error unloading module: no such module with that name$"),
        (("BGREWRITEAOF",), "^LeakDB has no append-only file to rewrite"),
        (("SYNC",), "^LeakDB does not replicate: it cannot serve replicas"),
        (("REPLCONF", "listening-port", "6380"), "^LeakDB does not replicate"),
    ]:
        with pytest.raises(redis.ResponseError, match=reason):
            client.execute_command(*args)
    assert client.execute_command("MODULE", "LIST") == []
    assert client.get("kept") == b"1" and client.dbsize() == 1
    client.close()
