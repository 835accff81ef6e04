# ruff: noqa: E501  (the cases are one Lua library per line)
"""Redis 7 functions against a real redis-server: FUNCTION LOAD (library metadata, register_function in
both forms, flags, every load error), FCALL and FCALL_RO, LIST, DELETE, FLUSH, DUMP/RESTORE with every
policy and payloads moved between the two servers, STATS and HELP; and libraries surviving a restart in
every persistent storage mode, with both backends.
"""

from __future__ import annotations

import signal
import socket

import pytest
import redis
from lua_exchange import encode, exchange, split_replies


@pytest.fixture
def fresh(pair):
    """Both servers with no data, no scripts and no libraries."""
    for client in pair:
        client.function_flush()
        client.script_flush()
    yield pair
    for client in pair:
        client.function_flush()


def lib(name: str, body: str) -> str:
    return f"#!lua name={name}\n{body}"


def exchange_until_closed(port: int, command: tuple) -> bytes:
    """Send one command and read until the server closes the connection (SHUTDOWN replies nothing)."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(encode(command))
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def library_names(client: redis.Redis) -> list[bytes]:
    """The names FUNCTION LIST gives (RESP2: each library is a flat list of fields and values)."""
    return sorted(entry[entry.index(b"library_name") + 1] for entry in client.function_list())


# Each case is a sequence of commands, compared reply by reply (FUNCTION LIST lists one library at a
# time: Redis lists libraries in hash order, LeakDB in the order they were loaded).
CASES = {
    "load and call": [
        (
            "FUNCTION",
            "LOAD",
            lib(
                "lib1",
                "local s = string.format('%d', 1)\nredis.register_function('f1', function() return s end)",
            ),
        ),
        (
            "FUNCTION",
            "LOAD",
            lib("lib1", "redis.register_function('f1', function(keys, args) return {keys[1], args[1]} end)"),
        ),
        ("FCALL", "f1", "1", "k", "a"),
        ("FCALL", "F1", "0"),
        ("FCALL", "nosuch", "0"),
        ("FCALL", "f1", "x"),
        ("FCALL", "f1", "-1"),
        ("FCALL", "f1", "3", "a"),
    ],
    "named arguments and flags": [
        (
            "FUNCTION",
            "LOAD",
            lib(
                "lib2",
                "redis.register_function{function_name='f2', callback=function(keys, args) return {keys[1], args[1]} end, flags={'no-writes'}, description='d'}",
            ),
        ),
        ("FCALL", "f2", "1", "k", "a"),
        ("FCALL_RO", "f2", "0"),
        ("FUNCTION", "LIST"),
        ("FUNCTION", "LIST", "WITHCODE"),
        ("FUNCTION", "LIST", "LIBRARYNAME", "lib*"),
        ("FUNCTION", "LIST", "LIBRARYNAME", "nomatch*"),
    ],
    "every flag": [
        (
            "FUNCTION",
            "LOAD",
            lib(
                "lib9",
                "redis.register_function{function_name='ff', callback=function() return 1 end, flags={'no-writes', 'allow-oom', 'ALLOW-STALE', 'no-cluster', 'allow-cross-slot-keys'}}",
            ),
        ),
        ("FUNCTION", "LIST"),
        ("FCALL", "ff", "0"),
    ],
    "writes and read-only calls": [
        (
            "FUNCTION",
            "LOAD",
            lib(
                "lib3",
                "redis.register_function('f3', function(keys, args) return redis.call('set', keys[1], args[1]) end)",
            ),
        ),
        ("FCALL_RO", "f3", "1", "x", "1"),
        ("FCALL", "f3", "1", "x", "1"),
        ("GET", "x"),
        (
            "FUNCTION",
            "LOAD",
            lib(
                "ro",
                "redis.register_function{function_name='w', callback=function() return redis.call('set', 'y', 1) end, flags={'no-writes'}}",
            ),
        ),
        ("FCALL", "w", "0"),
        ("FUNCTION", "LIST", "LIBRARYNAME", "lib3"),
    ],
    "replace and delete": [
        ("FUNCTION", "LOAD", lib("lib3", "redis.register_function('f3', function() return 'first' end)")),
        ("FUNCTION", "LOAD", lib("lib3", "redis.register_function('f3', function() return 'second' end)")),
        (
            "FUNCTION",
            "LOAD",
            "REPLACE",
            lib("lib3", "redis.register_function('f3', function() return 'replaced' end)"),
        ),
        ("FCALL", "f3", "0"),
        ("FUNCTION", "LOAD", "REPLACE"),
        ("FUNCTION", "LOAD", "BAD", "x"),
        ("FUNCTION", "DELETE", "nolib"),
        ("FUNCTION", "DELETE", "lib3"),
        ("FCALL", "f3", "0"),
        ("FUNCTION", "LIST"),
    ],
    "load errors": [
        ("FUNCTION", "LOAD", lib("lib4", "x = 1")),
        ("FUNCTION", "LOAD", lib("lib4", "redis.call('ping')")),
        ("FUNCTION", "LOAD", lib("lib4", "local s = string.rep('x', 2)")),
        ("FUNCTION", "LOAD", lib("lib4", "return 1")),
        ("FUNCTION", "LOAD", lib("lib4", "return +")),
        ("FUNCTION", "LOAD", "#!lua"),
        ("FUNCTION", "LOAD", "#!lua name=a b"),
        ("FUNCTION", "LOAD", "#!lua name=a name=b\nx"),
        ("FUNCTION", "LOAD", "#!lua other=a\nx"),
        ("FUNCTION", "LOAD", "#!lux name=a\nx"),
        ("FUNCTION", "LOAD", "#!LUA name=upper\nredis.register_function('up', function() return 1 end)"),
        ("FUNCTION", "LOAD", "#!lua name=bad-name\nx"),
        ("FUNCTION", "LOAD", "abc"),
        ("FUNCTION", "LOAD", lib("lib4", "redis.register_function('bad-name', function() end)")),
        ("FUNCTION", "LOAD", lib("lib4", "redis.register_function('up', function() end)")),
        ("FUNCTION", "LOAD", lib("lib4", "redis.register_function('UP', function() end)")),
    ],
    "register_function arguments": [
        ("FUNCTION", "LOAD", lib("lib8", "redis.register_function()")),
        ("FUNCTION", "LOAD", lib("lib8", "redis.register_function(1,2,3)")),
        ("FUNCTION", "LOAD", lib("lib8", "redis.register_function('a')")),
        ("FUNCTION", "LOAD", lib("lib8", "redis.register_function({})")),
        ("FUNCTION", "LOAD", lib("lib8", "redis.register_function('x', 'y')")),
        ("FUNCTION", "LOAD", lib("lib8", "redis.register_function({function_name='x'})")),
        ("FUNCTION", "LOAD", lib("lib8", "redis.register_function({callback=function() end})")),
        (
            "FUNCTION",
            "LOAD",
            lib(
                "lib8",
                "redis.register_function({function_name='x', callback=function() end, flags={'nope'}})",
            ),
        ),
        (
            "FUNCTION",
            "LOAD",
            lib("lib8", "redis.register_function({function_name='x', callback=function() end, other=1})"),
        ),
        (
            "FUNCTION",
            "LOAD",
            lib(
                "lib8",
                "redis.register_function({function_name='x', callback=function() end, flags='no-writes'})",
            ),
        ),
        (
            "FUNCTION",
            "LOAD",
            lib("lib8", "redis.register_function({function_name={}, callback=function() end})"),
        ),
        (
            "FUNCTION",
            "LOAD",
            lib(
                "lib8",
                "redis.register_function('x', function() end) redis.register_function('x', function() end)",
            ),
        ),
        (
            "FUNCTION",
            "LOAD",
            lib(
                "lib8",
                "redis.log(redis.LOG_DEBUG, 'loading') redis.register_function('lx', function() return 1 end)",
            ),
        ),
        ("FCALL", "lx", "0"),
    ],
    "the API inside functions": [
        (
            "FUNCTION",
            "LOAD",
            lib(
                "lib6",
                "redis.register_function('g', function() return redis.setresp end)\nredis.register_function('h', function() return tostring(redis.breakpoint) end)",
            ),
        ),
        ("FCALL", "g", "0"),
        ("FCALL", "h", "0"),
        (
            "FUNCTION",
            "LOAD",
            lib(
                "glob",
                "redis.register_function('gl', function() x = 1 end)\nredis.register_function('gk', function() return ARGV end)",
            ),
        ),
        ("FCALL", "gl", "0"),
        ("FCALL", "gk", "0"),
    ],
    "errors with their lines": [
        (
            "FUNCTION",
            "LOAD",
            lib(
                "errs",
                "redis.register_function('e1', function(keys, args)\n  local x = nil\n  return x.y\nend)\nredis.register_function('e2', function() return redis.call('nosuch') end)\nredis.register_function('e3', function() error('boom') end)",
            ),
        ),
        ("FCALL", "e1", "0"),
        ("FCALL", "e2", "0"),
        ("FCALL", "e3", "0"),
    ],
    "argument errors": [
        ("FUNCTION", "LIST", "withcode", "withcode"),
        ("FUNCTION", "LIST", "libraryname"),
        ("FUNCTION", "LIST", "foo"),
        ("FUNCTION", "FLUSH", "a", "b"),
        ("FUNCTION", "FLUSH", "x"),
        ("FUNCTION", "FLUSH", "ASYNC"),
        ("FUNCTION", "RESTORE", "abc", "x", "y"),
        ("FUNCTION", "RESTORE", "abc", "bad"),
        ("FUNCTION", "RESTORE", "abc"),
        ("FUNCTION", "HELP"),
        ("FUNCTION", "nosuch"),
        ("FUNCTION", "KILL"),
        ("FUNCTION", "STATS"),
        ("FUNCTION",),
        ("FCALL",),
    ],
    "a load that runs too long": [
        ("FUNCTION", "LOAD", lib("loop", "while true do end")),
        ("FUNCTION", "LIST"),
    ],
}


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
@pytest.mark.parametrize("name", list(CASES))
def test_functions_as_redis(fresh, redis_server, leakdb_server, name, resp3):
    commands = CASES[name]
    expected = split_replies(exchange(redis_server.port, *commands, resp3=resp3))
    actual = split_replies(exchange(leakdb_server.port, *commands, resp3=resp3))
    for command, want, got in zip(commands, expected, actual, strict=True):
        assert got == want, f"{command!r}: redis {want!r}, leakdb {got!r}"


LIBRARY = lib(
    "moved", "redis.register_function('moved', function(keys, args) return 'moved ' .. args[1] end)"
)
OTHER = lib(
    "other",
    "redis.register_function{function_name='other', callback=function() return 2 end, flags={'no-writes'}}",
)


@pytest.mark.parametrize("direction", ["redis to leakdb", "leakdb to redis"])
def test_dump_payloads_move_between_servers(fresh, direction):
    oracle, ours = fresh
    source, target = (oracle, ours) if direction == "redis to leakdb" else (ours, oracle)
    source.function_load(LIBRARY)
    source.function_load(OTHER)
    payload = source.function_dump()
    assert target.function_restore(payload)
    assert target.fcall("moved", 0, "there") == b"moved there"
    assert target.fcall_ro("other", 0) == 2
    assert library_names(target) == [b"moved", b"other"]


@pytest.mark.parametrize("policy", ["APPEND", "REPLACE", "FLUSH"])
def test_restore_policies_as_redis(fresh, redis_server, leakdb_server, policy):
    oracle, _ = fresh
    oracle.function_load(LIBRARY)
    payload = oracle.function_dump()
    replacement = lib("moved", "redis.register_function('moved', function() return 'new' end)")
    conflict = lib("conflict", "redis.register_function('moved', function() return 'clash' end)")
    commands = [
        ("FUNCTION", "FLUSH"),
        ("FUNCTION", "LOAD", replacement),
        ("FUNCTION", "RESTORE", payload, policy),
        ("FCALL", "moved", "0", "x"),
        ("FUNCTION", "FLUSH"),
        ("FUNCTION", "LOAD", conflict),
        ("FUNCTION", "RESTORE", payload, policy),
        ("FCALL", "moved", "0", "x"),
        ("FUNCTION", "RESTORE", payload[:-1] + bytes([payload[-1] ^ 1])),
        ("FUNCTION", "RESTORE", b"\xf5" + payload[1:]),
    ]
    assert exchange(leakdb_server.port, *commands) == exchange(redis_server.port, *commands)


def test_function_stats_counts_libraries(fresh, redis_server, leakdb_server):
    commands = [("FUNCTION", "LOAD", LIBRARY), ("FUNCTION", "LOAD", OTHER), ("FUNCTION", "STATS")]
    for resp3 in (False, True):
        assert exchange(leakdb_server.port, *commands, resp3=resp3) == exchange(
            redis_server.port, *commands, resp3=resp3
        )
        exchange(leakdb_server.port, ("FUNCTION", "FLUSH"))
        exchange(redis_server.port, ("FUNCTION", "FLUSH"))


@pytest.mark.parametrize(
    ("mode", "backend", "stop"),
    [
        ("persistent", "sqlite", "SIGTERM"),
        ("persistent", "shelve", "SIGTERM"),
        ("persistent-queue", "sqlite", "SIGTERM"),
        ("persistent-queue", "shelve", "SHUTDOWN"),
    ],
)
def test_libraries_survive_a_restart(start_leakdb, tmp_path, mode, backend, stop):
    flags = ("--storage", mode, "--backend", backend, "--dir", str(tmp_path))
    first = start_leakdb(*flags)
    client = first.client()
    client.function_load(LIBRARY)
    client.function_load(OTHER)
    client.set("data", "kept")
    if stop == "SIGTERM":
        first.stop(signal.SIGTERM)
    else:
        assert exchange_until_closed(first.port, ("SHUTDOWN",)) == b""
        assert first.process.wait(15) == 0
    client.close()
    second = start_leakdb(*flags).client()
    assert second.fcall("moved", 0, "back") == b"moved back"
    assert library_names(second) == [b"moved", b"other"]
    assert second.get("data") == b"kept"
    second.function_delete("moved")
    second.close()


def test_write_through_keeps_libraries_through_a_kill(start_leakdb, tmp_path):
    """persistent (write-through) commits FUNCTION LOAD before replying, so SIGKILL cannot lose it."""
    flags = ("--storage", "persistent", "--dir", str(tmp_path))
    first = start_leakdb(*flags)
    client = first.client()
    client.function_load(LIBRARY)
    first.stop(signal.SIGKILL)
    client.close()
    second = start_leakdb(*flags).client()
    assert second.fcall("moved", 0, "after kill") == b"moved after kill"
    second.function_flush()
    second.close()
    third = start_leakdb(*flags).client()
    assert third.function_list() == []
    third.close()


def test_libraries_persist_through_the_python_api(tmp_path):
    from leakdb import PersistentStorage

    path = tmp_path / "functions.db"
    storage = PersistentStorage(path)
    assert storage.execute_command("FUNCTION", "LOAD", LIBRARY) == b"moved"
    assert storage.execute_command("FCALL", "moved", 0, "in process") == b"moved in process"
    storage.close()
    reopened = PersistentStorage(path)
    assert reopened.execute_command("FCALL", "moved", 0, "again") == b"moved again"
    assert len(reopened) == 0  # the libraries are not a key
    reopened.close()
