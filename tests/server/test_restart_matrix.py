"""What a real leakdb-server keeps across a restart, in every storage mode and backend, and how it
stands up to redis-benchmark.

A fixed data set (strings with and without a TTL, a hash, a list, a set, a sorted set and a stream
with a consumer group in several databases, then deletes, a FLUSHDB of another database and a
SWAPDB) is written with redis-py.  The server's whole keyspace is dumped (TYPE, the type's read
command, PEXPIRETIME), the server is stopped by SHUTDOWN or by SIGTERM and started again on the same
--dir, and the keyspace is dumped again.  persistent and persistent-queue (sqlite and shelve) must
give back exactly the first dump; memory and queue mode keep nothing, and memory mode writes no
file at all (its documented behaviour).
"""

from __future__ import annotations

import re
import signal
import subprocess
from pathlib import Path

import pytest
import redis
from conftest import HANG_SECONDS, require
from redis.backoff import NoBackoff
from redis.retry import Retry

DATABASES = 16
TTL_SECONDS = 1000
ENDINGS = ["SHUTDOWN", "SIGTERM"]
DURABLE = [(mode, backend) for mode in ("persistent", "persistent-queue") for backend in ("sqlite", "shelve")]

# A key's state: (TYPE, value as the type's read command gives it, PEXPIRETIME in ms or -1): the
# absolute deadline, so a restart must give it back exactly, however long it took.
KeyState = tuple[str, object, int]
Keyspace = dict[tuple[int, bytes], KeyState]


# -- the data set ----------------------------------------------------------------------------------------


def write_containers(client: redis.Redis, tag: str) -> None:
    """One key of each type, some with a TTL, then partial deletes inside the containers."""
    client.set(f"{tag}:plain", f"{tag} value")
    client.set(f"{tag}:binary", b"\x00\xff\r\n" + tag.encode())
    client.set(f"{tag}:ttl", "expires", ex=TTL_SECONDS)
    client.incrby(f"{tag}:counter", 41)
    client.incr(f"{tag}:counter")
    client.hset(f"{tag}:hash", mapping={"field": "one", "number": 2, "gone": "x"})
    client.hdel(f"{tag}:hash", "gone")
    client.rpush(f"{tag}:list", "a", "b", "c", "d")
    client.lpop(f"{tag}:list")
    client.sadd(f"{tag}:set", "x", "y", "z")
    client.srem(f"{tag}:set", "y")
    client.zadd(f"{tag}:zset", {"low": -3, "mid": 2.5, "high": 1e6})
    client.expire(f"{tag}:zset", TTL_SECONDS)
    for n in range(1, 6):
        client.xadd(f"{tag}:stream", {"n": n}, id=f"{n}-1")
    client.xgroup_create(f"{tag}:stream", "workers", id="0")
    client.xreadgroup("workers", "alice", {f"{tag}:stream": ">"}, count=3)
    client.xack(f"{tag}:stream", "workers", "2-1")
    client.xdel(f"{tag}:stream", "5-1")
    client.set(f"{tag}:deleted", "soon gone")
    client.delete(f"{tag}:deleted")


def write_dataset(port: int) -> None:
    clients = {db: redis.Redis(port=port, db=db) for db in (0, 1, 2, 3, 5)}
    write_containers(clients[0], "db0")
    write_containers(clients[3], "db3")
    clients[3].persist("db3:ttl")
    write_containers(clients[5], "flushed")
    clients[5].flushdb()
    clients[1].set("was-in-db1", "1")
    clients[2].rpush("was-in-db2", "2")
    clients[0].swapdb(1, 2)
    for client in clients.values():
        client.close()


def expected_names() -> dict[int, set[bytes]]:
    kinds = ["plain", "binary", "ttl", "counter", "hash", "list", "set", "zset", "stream"]
    return {
        0: {f"db0:{kind}".encode() for kind in kinds},
        1: {b"was-in-db2"},
        2: {b"was-in-db1"},
        3: {f"db3:{kind}".encode() for kind in kinds},
    }


# -- dumping a keyspace ----------------------------------------------------------------------------------


def read_value(client: redis.Redis, key: bytes, kind: str) -> object:
    if kind == "string":
        return client.get(key)
    if kind == "hash":
        return client.hgetall(key)
    if kind == "list":
        return client.lrange(key, 0, -1)
    if kind == "set":
        return sorted(client.smembers(key))
    if kind == "zset":
        return client.zrange(key, 0, -1, withscores=True)
    if kind == "stream":  # entries, counters, groups, and who owns what (idle times move on)
        info = client.xinfo_stream(key)
        pending = client.xpending_range(key, "workers", "-", "+", 100)
        return (
            client.xrange(key),
            [info[name] for name in ("last-generated-id", "entries-added", "max-deleted-entry-id")],
            client.xinfo_groups(key),
            [(row["message_id"], row["consumer"], row["times_delivered"]) for row in pending],
        )
    raise AssertionError(f"unexpected type {kind} of {key!r}")


def dump(port: int) -> Keyspace:
    keyspace: Keyspace = {}
    for db in range(DATABASES):
        with redis.Redis(port=port, db=db) as client:
            for key in client.scan_iter(count=1000):
                kind = client.type(key).decode()
                keyspace[(db, key)] = (kind, read_value(client, key, kind), client.pexpiretime(key))
    return keyspace


def assert_same_keyspace(before: Keyspace, after: Keyspace) -> None:
    """Same keys, types, values and deadlines."""
    assert sorted(after) == sorted(before)
    for name, state in before.items():
        assert after[name] == state, name


# -- stopping and restarting -----------------------------------------------------------------------------


def stop(server, ending: str) -> None:
    if ending == "SIGTERM":
        assert server.stop(signal.SIGTERM) == 0
        return
    # No retries: redis-py would otherwise reconnect to the stopped server with a growing backoff.
    client = server.client(retry=Retry(NoBackoff(), 0))
    with pytest.raises(redis.ConnectionError):
        client.execute_command("SHUTDOWN")
    client.close()
    assert server.wait() == 0


def server_flags(tmp_path: Path, mode: str, backend: str | None = None) -> list[str]:
    data_dir = tmp_path / "data"
    data_dir.mkdir(exist_ok=True)
    flags = ["--storage", mode, "--dir", str(data_dir)]
    return [*flags, "--backend", backend] if backend else flags


@pytest.mark.parametrize("ending", ENDINGS)
@pytest.mark.parametrize(("mode", "backend"), DURABLE)
def test_durable_modes_give_back_the_whole_keyspace(start_leakdb, tmp_path, mode, backend, ending):
    flags = server_flags(tmp_path, mode, backend)
    server = start_leakdb(*flags)
    write_dataset(server.port)
    before = dump(server.port)
    names = {db: {key for (key_db, key) in before if key_db == db} for db in range(DATABASES)}
    assert {db: keys for db, keys in names.items() if keys} == expected_names()
    assert before[(0, b"db0:ttl")][2] > 0 and before[(3, b"db3:ttl")][2] == -1

    stop(server, ending)
    restarted = start_leakdb(*flags)
    after = dump(restarted.port)

    assert_same_keyspace(before, after)


@pytest.mark.parametrize("ending", ENDINGS)
@pytest.mark.parametrize("mode", ["memory", "queue"])
def test_volatile_modes_start_empty(start_leakdb, tmp_path, mode, ending):
    flags = server_flags(tmp_path, mode)
    server = start_leakdb(*flags)
    write_dataset(server.port)
    assert dump(server.port)

    stop(server, ending)
    if mode == "memory":
        assert list((tmp_path / "data").iterdir()) == [], "memory mode must store nothing"
    restarted = start_leakdb(*flags)

    assert dump(restarted.port) == {}


# -- redis-benchmark -------------------------------------------------------------------------------------

BENCHMARK_TESTS = ["PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "MSET (10 keys)"]
RESULT_LINE = re.compile(r"^(.+?): ([0-9.]+) requests per second")


def run_benchmark(binary: str, port: int, *extra: str) -> dict[str, float]:
    argv = [binary, "-p", str(port), "-t", "set,get,incr,mset,ping", "-c", "50", "-n", "2000", "-q"]
    run = subprocess.run([*argv, *extra], capture_output=True, text=True, timeout=HANG_SECONDS)
    lines = [line.strip() for line in re.split(r"[\r\n]", run.stdout + run.stderr) if line.strip()]
    assert run.returncode == 0, lines
    errors = [line for line in lines if "err" in line.lower()]
    assert not errors, errors
    return {m[1]: float(m[2]) for m in map(RESULT_LINE.match, lines) if m}


@pytest.mark.parametrize("mode", ["memory", "persistent-queue"])
def test_redis_benchmark_runs_clean(start_leakdb, tmp_path, mode):
    binary = require("redis-benchmark")
    server = start_leakdb(*server_flags(tmp_path, mode))
    for extra in ([], ["-P", "16"]):
        rates = run_benchmark(binary, server.port, *extra)
        assert sorted(rates) == sorted(BENCHMARK_TESTS), (extra, rates)
        assert all(rate > 0 for rate in rates.values()), (extra, rates)
