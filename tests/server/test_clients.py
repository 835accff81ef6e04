"""Client libraries and tools used the way applications use them: redis-py's features and redis-cli."""

from __future__ import annotations

import asyncio
import subprocess
import threading

import pytest
import redis
import redis.asyncio
from conftest import HANG_SECONDS, require


@pytest.mark.parametrize("protocol", [2, 3])
def test_from_url_with_decode_responses(leakdb_server, protocol):
    client = redis.Redis.from_url(
        f"redis://127.0.0.1:{leakdb_server.port}/2", decode_responses=True, protocol=protocol
    )
    client.flushdb()
    client.set("greeting", "héllo")
    assert client.get("greeting") == "héllo"
    client.hset("user:1", mapping={"name": "ada", "visits": 3})
    assert client.hgetall("user:1") == {"name": "ada", "visits": "3"}
    assert client.incrbyfloat("ratio", 0.5) == 0.5
    assert client.client_info()["db"] == 2
    assert redis.Redis(port=leakdb_server.port, db=0).get("greeting") is None
    client.close()


@pytest.mark.parametrize("transaction", [False, True])
def test_pipelines(r, transaction):
    with r.pipeline(transaction=transaction) as pipe:
        pipe.set("a", 1).incr("a").get("a").lpush("queue", "x", "y").lrange("queue", 0, -1)
        pipe.get("missing").hset("h", "f", "v").hgetall("h")
        assert pipe.execute() == [True, 2, b"2", 2, [b"y", b"x"], None, 1, {b"f": b"v"}]


def test_pipeline_errors_come_back_in_place(r):
    r.set("text", "abc")
    with r.pipeline(transaction=False) as pipe:
        pipe.incr("text").set("after", 1).get("after")
        results = pipe.execute(raise_on_error=False)
    assert isinstance(results[0], redis.ResponseError)
    assert str(results[0]) == "value is not an integer or out of range"
    assert results[1:] == [True, b"1"]


def test_transaction_helper_retries_after_a_concurrent_write(leakdb_server, r):
    r.set("balance", 10)
    other = leakdb_server.client()
    attempts = []

    def spend(pipe):
        attempts.append(1)
        balance = int(pipe.get("balance"))
        if len(attempts) == 1:
            other.incrby("balance", 5)  # another client writes between WATCH and EXEC
        pipe.multi()
        pipe.set("balance", balance - 3)

    r.transaction(spend, "balance")
    assert len(attempts) == 2
    assert r.get("balance") == b"12"
    other.close()


def test_connection_pool_shared_by_threads(leakdb_server, r):
    pool = redis.ConnectionPool(port=leakdb_server.port, max_connections=8)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        client = redis.Redis(connection_pool=pool)
        try:
            for i in range(200):
                client.incr("shared")
                client.set(f"w{worker}:{i}", i)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert r.get("shared") == b"1600"
    assert r.dbsize() == 1601
    pool.disconnect()


@pytest.mark.parametrize("protocol", [2, 3])
def test_asyncio_client(leakdb_server, protocol):
    async def scenario() -> list:
        client = redis.asyncio.Redis(port=leakdb_server.port, protocol=protocol)
        await client.flushdb()
        await client.set("k", "v", ex=100)
        async with client.pipeline(transaction=False) as pipe:
            pipe.get("k").ttl("k").zadd("z", {"m": 1.5}).zrange("z", 0, -1, withscores=True)
            results = await pipe.execute()
        await client.aclose()
        return results

    assert asyncio.run(scenario()) == [b"v", 100, 1, [[b"m", 1.5]] if protocol == 3 else [(b"m", 1.5)]]


def test_resp3_push_messages_reach_a_subscriber(leakdb_server, r):
    subscriber = redis.Redis(port=leakdb_server.port, protocol=3)
    pubsub = subscriber.pubsub()
    pubsub.subscribe("news")
    assert pubsub.get_message(timeout=HANG_SECONDS)["type"] == "subscribe"
    assert r.publish("news", "hello") == 1
    message = pubsub.get_message(timeout=HANG_SECONDS)
    assert message == {"type": "message", "pattern": None, "channel": b"news", "data": b"hello"}
    pubsub.close()
    subscriber.close()


def run_cli(port: int, *args: str, stdin: bytes | None = None) -> str:
    redis_cli = require("redis-cli")
    result = subprocess.run(
        [redis_cli, "-p", str(port), *args], input=stdin, capture_output=True, timeout=HANG_SECONDS
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.decode()


def test_redis_cli_argument_mode_matches_redis(redis_server, leakdb_server):
    script = [
        ("flushall",),
        ("set", "k", "hello world"),
        ("get", "k"),
        ("incrby", "n", "41"),
        ("mget", "k", "n", "missing"),
        ("rpush", "l", "a", "b"),
        ("lrange", "l", "0", "-1"),
        ("hset", "h", "f", "1"),
        ("hgetall", "h"),
        ("type", "l"),
        ("get", "l"),
        ("nosuchcommand",),
        ("ttl", "k"),
    ]
    for args in script:
        for flags in ((), ("--no-raw",)):
            expected = run_cli(redis_server.port, *flags, *args)
            assert run_cli(leakdb_server.port, *flags, *args) == expected, args


def test_redis_cli_reads_commands_from_stdin(leakdb_server, r):
    output = run_cli(leakdb_server.port, stdin=b"set a 1\nincr a\nget a\n")
    assert output.split() == ["OK", "2", "2"]
    assert r.get("a") == b"2"
