"""What scripts do to the rest of the server, on both servers: their writes invalidate WATCH and wake
blocked clients, maxmemory refuses what Redis refuses (compatibility-mode scripts at their first
write, flagged ones at the start, allow-oom and no-writes ones not at all), INFO counts scripts and
functions, and in persistent mode a script's writes reach the data file.
"""

from __future__ import annotations

import socket

import pytest
import redis
from lua_exchange import encode, exchange, split_replies

WRITE = "return redis.call('set', KEYS[1], ARGV[1])"


@pytest.mark.parametrize("which", ["redis", "leakdb"])
def test_script_writes_invalidate_watch(pair, which):
    client = pair[0] if which == "redis" else pair[1]
    watcher = redis.Redis(port=client.connection_pool.connection_kwargs["port"])
    with watcher.pipeline() as transaction:
        transaction.watch("watched")
        client.eval(WRITE, 1, "watched", "changed by a script")
        transaction.multi()
        transaction.set("watched", "from the transaction")
        with pytest.raises(redis.WatchError):
            transaction.execute()
    assert client.get("watched") == b"changed by a script"
    watcher.close()


@pytest.mark.parametrize("which", ["redis", "leakdb"])
def test_script_pushes_wake_blocked_clients(pair, which):
    client = pair[0] if which == "redis" else pair[1]
    port = client.connection_pool.connection_kwargs["port"]
    with socket.create_connection(("127.0.0.1", port), timeout=30) as blocked:
        blocked.sendall(encode(("BLPOP", "jobs", "0")))
        # The BLPOP is in before the script: CLIENT LIST shows it blocked (cmd=blpop).
        for _ in range(1000):
            if b"cmd=blpop" in client.execute_command("CLIENT", "LIST"):
                break
        assert (
            client.eval(
                "redis.call('rpush', KEYS[1], 'a', 'b') return redis.call('llen', KEYS[1])", 1, "jobs"
            )
            == 2
        )
        assert blocked.recv(1000) == b"*2\r\n$4\r\njobs\r\n$1\r\na\r\n"
    assert client.lrange("jobs", 0, -1) == [b"b"]


OOM_CASES = [
    ("EVAL", "return redis.call('get', 'k')", "0"),
    ("EVAL", "return redis.call('set', 'k', 'v')", "0"),
    ("EVAL", "redis.call('get', 'k') return redis.pcall('incr', 'n')", "0"),
    ("EVAL", "#!lua\nreturn redis.call('get', 'k')", "0"),
    ("EVAL", "#!lua flags=allow-oom\nreturn redis.call('set', 'k', 'allowed')", "0"),
    ("EVAL", "#!lua flags=no-writes\nreturn redis.call('get', 'k')", "0"),
    ("EVAL_RO", "return redis.call('get', 'k')", "0"),
    ("FUNCTION", "LOAD", "#!lua name=oom\nredis.register_function('f', function() return 1 end)"),
    ("FCALL", "f", "0"),
]


def test_maxmemory_refusals_as_redis(pair, redis_server, leakdb_server):
    """Over maxmemory (1 KB: both servers are over it from the start, LeakDB counting its tables
    and clients, not the interpreter), under noeviction."""
    for client in pair:
        client.function_flush()
        client.config_set("maxmemory-policy", "noeviction")
        client.config_set("maxmemory", "1kb")
    try:
        expected = split_replies(exchange(redis_server.port, *OOM_CASES))
        actual = split_replies(exchange(leakdb_server.port, *OOM_CASES))
    finally:
        for client in pair:
            client.config_set("maxmemory", "0")
            client.function_flush()
    for command, want, got in zip(OOM_CASES, expected, actual, strict=True):
        assert got == want, f"{command!r}: redis {want!r}, leakdb {got!r}"


FIELDS = [
    "used_memory_lua",
    "used_memory_vm_eval",
    "used_memory_lua_human",
    "used_memory_scripts_eval",
    "number_of_cached_scripts",
    "number_of_functions",
    "number_of_libraries",
    "used_memory_vm_functions",
    "used_memory_vm_total",
    "used_memory_vm_total_human",
    "used_memory_functions",
    "used_memory_scripts",
    "used_memory_scripts_human",
]


def test_info_reports_scripts_and_functions(pair):
    for client in pair:
        client.script_flush()
        client.function_flush()
        client.script_load("return 1")
        client.eval("return 2", 0)
        client.function_load(
            "#!lua name=info\nredis.register_function('a', function() return 1 end)\n"
            "redis.register_function('b', function() return 2 end)"
        )
    oracle, ours = (client.info("memory") for client in pair)
    assert [name for name in oracle if name in FIELDS] == [name for name in ours if name in FIELDS]
    for name in ("number_of_cached_scripts", "number_of_functions", "number_of_libraries"):
        assert ours[name] == oracle[name], name
    assert ours["number_of_cached_scripts"] == 2 and ours["number_of_libraries"] == 1
    assert ours["used_memory_vm_eval"] > 0 and ours["used_memory_vm_functions"] > 0
    for client in pair:
        client.function_flush()


def test_script_writes_reach_the_data_file(start_leakdb, tmp_path):
    flags = ("--storage", "persistent", "--dir", str(tmp_path))
    first = start_leakdb(*flags)
    client = first.client()
    client.eval(
        "redis.call('hset', KEYS[1], 'field', ARGV[1]) redis.call('expire', KEYS[1], 3600)", 1, "h", "v"
    )
    first.stop()
    client.close()
    again = start_leakdb(*flags).client()
    assert again.hget("h", "field") == b"v"
    assert 0 < again.ttl("h") <= 3600
    again.close()
