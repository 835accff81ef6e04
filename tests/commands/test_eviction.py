"""maxmemory through a real leakdb-server: every eviction policy holds memory near the limit, volatile
policies spare persistent keys, LRU keeps a Zipf working set, noeviction refuses writes with Redis's
error, and INFO / MEMORY / OBJECT / CONFIG report and change it all at runtime.

maxmemory counts the data, the key tables and the clients' buffers, not the interpreter (INFO's
used_memory_startup, tens of megabytes for Python where Redis's is one): a limit holds about as much
data as the same limit does in Redis, and RSS stays near startup size plus the limit.
"""

from __future__ import annotations

import random
import time
from collections import OrderedDict
from collections.abc import Iterator
from itertools import accumulate

import pytest
import redis
from conftest import ServerProcess, free_port, leakdb_argv, redis_argv, reply_of, wait_until

MB = 1024 * 1024
DATA_ROOM = 24 * MB  # the limit of the fill tests
VALUE = 2000  # bytes per value in the fills: enough keys to evict thousands, few enough to be quick
RSS_MARGIN = 1.15  # RSS over the startup size may pass maxmemory by this factor (allocator slack)
OOM_TEXT = "command not allowed when used memory > 'maxmemory'."
EVICTING = [
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
]


def memory_info(client: redis.Redis) -> dict:
    return client.info("memory")


def fill(client: redis.Redis, prefix: str, count: int, size: int, volatile: bool = False) -> int:
    """SET `count` keys of `size` bytes in pipelined batches; return how many were refused."""
    value = b"v" * size
    refused = 0
    pipe = client.pipeline(transaction=False)
    for start in range(0, count, 500):
        for i in range(start, min(start + 500, count)):
            pipe.set(f"{prefix}:{i}", value, ex=3600 + i % 1000 if volatile else None)
        refused += sum(isinstance(reply, Exception) for reply in pipe.execute(raise_on_error=False))
    return refused


@pytest.fixture(scope="module")
def limited(tmp_path_factory) -> Iterator[tuple[ServerProcess, int]]:
    """A memory-mode leakdb-server with maxmemory = DATA_ROOM."""
    port = free_port()
    server = ServerProcess(
        leakdb_argv(port, "--storage", "memory", "--maxmemory", "1gb"),
        port,
        cwd=str(tmp_path_factory.mktemp("evict")),
    )
    client = server.client()
    limit = DATA_ROOM
    client.config_set("maxmemory", limit)
    client.close()
    yield server, limit
    server.stop()


@pytest.fixture
def cache(limited) -> Iterator[tuple[redis.Redis, int]]:
    server, limit = limited
    client = server.client()
    client.config_set("maxmemory", limit)
    client.config_set("maxmemory-policy", "noeviction")
    client.flushall()
    yield client, limit
    client.close()


@pytest.fixture(scope="module")
def oracle() -> Iterator[redis.Redis]:
    """A private redis-server (its settings are changed here) with the limit the OOM test uses."""
    port = free_port()
    server = ServerProcess(redis_argv(port, "--maxmemory", "48mb"), port)
    client = server.client()
    yield client
    client.close()
    server.stop()


# -- filling far past the limit ------------------------------------------------------------------


@pytest.mark.parametrize("policy", EVICTING)
def test_fill_past_maxmemory_stays_near_the_limit(start_leakdb, policy):
    """A fresh server each: RSS keeps the high-water mark of earlier fills."""
    server = start_leakdb("--storage", "memory", "--maxmemory-policy", policy, "--maxmemory", "1gb")
    client = server.client()
    limit = DATA_ROOM
    client.config_set("maxmemory", limit)
    volatile = policy.startswith("volatile")
    if volatile:
        fill(client, "keep", 1000, 100)  # no TTL: a volatile policy must never evict these
    assert fill(client, "fill", 2 * DATA_ROOM // VALUE, VALUE, volatile=True) == 0

    def write_within_limit() -> dict | None:
        # The key tables are measured every 0.1 s; the first write after a measurement evicts for it.
        client.set("last", "v", ex=60)
        info = memory_info(client)
        return info if info["used_memory"] <= limit + 4096 else None

    info = wait_until(write_within_limit, "a write that leaves used_memory within the limit")
    rss, startup = info["used_memory_rss"], info["used_memory_startup"]
    assert rss - startup <= limit * RSS_MARGIN, f"RSS {rss}, startup {startup}, limit {limit}"
    assert client.info("stats")["evicted_keys"] > 0
    assert 0 < client.dbsize() < 2 * DATA_ROOM // VALUE
    if volatile:
        assert client.exists(*[f"keep:{i}" for i in range(1000)]) == 1000
    client.close()


@pytest.mark.xdist_group("eviction-shared")  # the module's limited server and oracle
def test_volatile_policy_without_volatile_keys_refuses_writes(cache, oracle):
    client, _ = cache
    client.config_set("maxmemory-policy", "volatile-lru")
    refused = fill(client, "plain", 2 * DATA_ROOM // VALUE, VALUE)
    assert refused > 0
    assert client.info("stats")["evicted_keys"] == 0
    oracle.flushall()
    oracle.config_set("maxmemory-policy", "volatile-lru")
    assert fill(oracle, "plain", 2 * 48 * MB // VALUE, VALUE) > 0  # far past its limit
    # Redis counts each request's own query buffer, and a pipeline's is freed once it is read: top
    # up with writes as small as the one compared, one at a time, until one is refused.
    for n in range(100_000):
        if reply_of(oracle, "SET", f"more:{n}", "x") is not True:
            break
    expected = reply_of(oracle, "SET", "one-more", "x")
    assert expected == ("error", OOM_TEXT)
    assert reply_of(client, "SET", "one-more", "x") == expected
    assert client.get("plain:0") == b"v" * VALUE  # reads still work


def fill_until_refused(server: redis.Redis) -> tuple[str, str]:
    """Large values until one is refused, then small ones: the first refusal of the small ones."""
    for prefix, size in (("big", MB), ("small", 10_000)):
        for i in range(10_000):
            reply = reply_of(server, "SET", f"{prefix}:{i}", b"x" * size)
            if reply is not True:
                break
        else:
            pytest.fail("never ran out of memory")
    return reply


@pytest.mark.xdist_group("eviction-shared")  # the module's limited server and oracle
def test_noeviction_refuses_denyoom_commands_as_redis_does(cache, oracle):
    """Same limit on both servers.  When each refuses differs (Redis counts the refused request's
    own buffer), so the refusal is compared, then which commands LeakDB still serves."""
    client, _ = cache
    client.config_set("maxmemory", 48 * MB)  # the oracle's limit
    oracle.flushall()
    oracle.config_set("maxmemory-policy", "noeviction")
    refusal = fill_until_refused(oracle)
    assert refusal == ("error", OOM_TEXT)
    assert fill_until_refused(client) == refusal
    for args in [
        ("SET", "k", "v"),
        ("APPEND", "big:0", "x"),
        ("INCR", "counter"),
        ("LPUSH", "list", "a"),
        ("HSET", "hash", "f", "v"),
        ("SADD", "set", "m"),
        ("ZADD", "zset", "1", "m"),
    ]:
        assert reply_of(client, *args) == refusal, args
    for args in [
        ("GET", "big:0"),
        ("EXISTS", "big:0", "big:1", "nope"),
        ("STRLEN", "big:1"),
        ("TTL", "big:0"),
        ("EXPIRE", "nope", "10"),
        ("OBJECT", "FREQ", "big:0"),
    ]:
        assert reply_of(client, *args) == reply_of(oracle, *args), args
    assert client.delete("big:0", "big:1") == 2  # DEL is not denyoom, and frees room
    assert client.set("k", "v") is True


# -- LRU keeps the hot keys --------------------------------------------------------------------------


def zipf_stream(universe: int, length: int, exponent: float, seed: int) -> list[int]:
    rng = random.Random(seed)
    weights = list(accumulate(1.0 / (rank**exponent) for rank in range(1, universe + 1)))
    names = list(range(universe))
    rng.shuffle(names)  # hot keys spread over the keyspace, not key:0, key:1, ...
    return [names[rank] for rank in rng.choices(range(universe), cum_weights=weights, k=length)]


def hit_rate(client: redis.Redis, stream: list[int], size: int, warmup: int) -> float:
    """Cache-aside over `stream`: GET, and SET on a miss; the hit rate after `warmup` requests."""
    value = b"z" * size
    hits = lookups = 0
    for start in range(0, len(stream), 100):
        batch = stream[start : start + 100]
        pipe = client.pipeline(transaction=False)
        for key in batch:
            pipe.get(f"key:{key}")
        replies = pipe.execute()
        for offset, (key, reply) in enumerate(zip(batch, replies, strict=True)):
            if start + offset >= warmup:
                lookups += 1
                hits += reply is not None
            if reply is None:
                pipe.set(f"key:{key}", value)
        pipe.execute()
    return hits / lookups


def ideal_lru_hit_rate(stream: list[int], capacity: int, warmup: int) -> float:
    """The hit rate of an exact LRU cache holding `capacity` keys, for comparison."""
    cache: OrderedDict[int, None] = OrderedDict()
    hits = 0
    for position, key in enumerate(stream):
        if key in cache:
            cache.move_to_end(key)
            hits += position >= warmup
        else:
            cache[key] = None
            if len(cache) > capacity:
                cache.popitem(last=False)
    return hits / (len(stream) - warmup)


@pytest.mark.xdist_group("eviction-shared")  # the module's limited server and oracle
def test_lru_and_lfu_keep_a_zipf_working_set(cache):
    """On a Zipf stream even exact LRU beats random eviction by only a few points (about 4 here);
    the sampled LRU must get most of that, and LFU as much."""
    client, _ = cache
    client.config_set("maxmemory", 2 * MB)
    stream = zipf_stream(universe=20_000, length=40_000, exponent=0.9, seed=7)
    rates = {}
    for policy in ("allkeys-random", "allkeys-lru", "allkeys-lfu"):
        client.flushall()
        client.config_set("maxmemory-policy", policy)
        rates[policy] = hit_rate(client, stream, 600, warmup=10_000)
    ideal = ideal_lru_hit_rate(stream, client.dbsize(), warmup=10_000)
    assert client.info("stats")["evicted_keys"] > 0
    assert rates["allkeys-lru"] > rates["allkeys-random"] + 0.015, (rates, ideal)
    assert rates["allkeys-lru"] > ideal - 0.04, (rates, ideal)
    assert rates["allkeys-lfu"] > rates["allkeys-random"] + 0.015, (rates, ideal)


# -- INFO, MEMORY, OBJECT ----------------------------------------------------------------------------


@pytest.mark.xdist_group("eviction-shared")  # the module's limited server and oracle
def test_info_memory_and_stats_fields(cache):
    client, limit = cache
    client.config_set("maxmemory-policy", "allkeys-lru")
    fill(client, "k", 2000, 1000)
    info = memory_info(client)
    for field in (
        "used_memory",
        "used_memory_human",
        "used_memory_rss",
        "used_memory_peak",
        "maxmemory",
        "maxmemory_human",
        "maxmemory_policy",
        "mem_fragmentation_ratio",
    ):
        assert field in info
    assert info["maxmemory"] == limit
    assert info["maxmemory_policy"] == "allkeys-lru"
    assert info["maxmemory_human"].endswith("M")
    assert 0 < info["used_memory"] <= info["used_memory_peak"]
    assert info["used_memory_startup"] > 0  # the interpreter, reported beside used_memory
    assert info["used_memory_dataset"] > 2000 * 1000
    assert 0.5 < info["mem_fragmentation_ratio"] < 2
    assert "evicted_keys" in client.info("stats")


@pytest.mark.xdist_group("eviction-shared")  # the module's limited server and oracle
def test_memory_usage_stats_doctor(cache):
    client, _ = cache
    client.set("small", "x")
    client.set("large", b"y" * 10_000)
    client.hset("hash", mapping={f"f{i}": "v" * 50 for i in range(100)})
    small, large = client.memory_usage("small"), client.memory_usage("large")
    assert 0 < small < 400
    assert 10_000 < large < 11_000
    assert client.memory_usage("hash", samples=0) > 100 * 50
    assert client.memory_usage("nothing") is None
    stats = client.memory_stats()
    assert stats["keys.count"] == 3
    assert stats["dataset.bytes"] > 10_000
    assert stats["total.allocated"] >= stats["startup.allocated"]
    assert "Sam" in client.execute_command("MEMORY", "DOCTOR").decode()
    assert client.execute_command("MEMORY", "PURGE") == b"OK"


@pytest.mark.parametrize(
    "args",
    [
        ("MEMORY", "HELP"),
        ("MEMORY", "USAGE"),
        ("MEMORY", "USAGE", "k", "SAMPLES"),
        ("MEMORY", "USAGE", "k", "SAMPLES", "-1"),
        ("MEMORY", "USAGE", "k", "SAMPLES", "x"),
        ("MEMORY", "USAGE", "k", "FOO"),
        ("MEMORY", "USAGE", "missing"),
        ("MEMORY", "STATS", "x"),
        ("MEMORY", "NOPE"),
        ("OBJECT", "FREQ", "k"),
    ],
)
def test_memory_and_object_replies_match_redis(pair, args):
    for client in pair:
        client.set("k", "v")
    from conftest import assert_same

    assert_same(pair, *args)


@pytest.mark.xdist_group("eviction-shared")  # the module's limited server and oracle
def test_object_freq_and_idletime_follow_accesses(cache, oracle):
    client, _ = cache
    for server in (client, oracle):
        server.config_set("maxmemory-policy", "allkeys-lfu")
        server.set("fresh", "v")
    assert client.object("freq", "fresh") == oracle.object("freq", "fresh") == 5
    for _ in range(300):
        client.get("fresh")
    assert client.object("freq", "fresh") > 5
    expected = reply_of(oracle, "OBJECT", "IDLETIME", "fresh")
    assert expected[0] == "error"
    assert reply_of(client, "OBJECT", "IDLETIME", "fresh") == expected

    client.config_set("maxmemory-policy", "allkeys-lru")
    client.set("idle", "v")
    time.sleep(1.1)  # at least that long: a whole second idle
    assert client.object("idletime", "idle") >= 1
    client.execute_command("CLIENT", "NO-TOUCH", "ON")
    client.get("idle")
    assert client.object("idletime", "idle") >= 1  # a no-touch read leaves the stamp alone
    touched = time.monotonic()
    client.touch("idle")  # TOUCH stamps even in no-touch mode
    idle = client.object("idletime", "idle")
    assert idle <= time.monotonic() - touched  # whole seconds since TOUCH: 0 unless a second passed
    client.execute_command("CLIENT", "NO-TOUCH", "OFF")
    oracle.config_set("maxmemory-policy", "noeviction")


# -- settings at runtime and at start ------------------------------------------------------------------


@pytest.mark.xdist_group("eviction-shared")  # the module's limited server and oracle
def test_config_set_maxmemory_at_runtime(start_leakdb, oracle):
    server = start_leakdb("--storage", "memory")
    client = server.client()
    assert memory_info(client)["maxmemory"] == 0
    fill(client, "k", 5_000, 4000)
    before = client.dbsize()
    client.config_set("maxmemory-policy", "allkeys-lru")
    client.config_set("maxmemory", "1gb")  # accounting on; nothing to evict yet
    info = memory_info(client)
    assert client.dbsize() == before
    limit = info["used_memory"] // 2
    client.config_set("maxmemory", limit)  # half of what the data takes: evicts at once
    info = memory_info(client)
    assert info["maxmemory"] == limit
    assert info["used_memory"] <= limit
    assert client.dbsize() < before
    assert client.info("stats")["evicted_keys"] == before - client.dbsize()
    client.config_set("maxmemory", "100mb")
    assert client.config_get("maxmemory") == {"maxmemory": str(100 * MB)}
    client.config_set("maxmemory", "1gb")
    assert client.config_get("maxmemory") == {"maxmemory": str(1024 * MB)}
    client.config_set("maxmemory", 0)
    assert memory_info(client)["used_memory_startup"] == 0  # accounting off again
    assert client.set("after", "v")
    for args in [
        ("CONFIG", "SET", "maxmemory-policy", "sometimes"),
        ("CONFIG", "SET", "maxmemory", "12parsecs"),
        ("CONFIG", "GET", "maxmemory-samples"),
        ("CONFIG", "GET", "lfu-log-factor"),
        ("CONFIG", "GET", "lfu-decay-time"),
    ]:
        assert reply_of(client, *args) == reply_of(oracle, *args), args
    client.close()


def test_maxmemory_from_a_config_file(start_leakdb, tmp_path):
    conf = tmp_path / "leakdb.conf"
    conf.write_text("storage memory\nmaxmemory 200mb\nmaxmemory-policy allkeys-lfu\nmaxmemory-samples 10\n")
    server = start_leakdb(str(conf))
    client = server.client()
    info = memory_info(client)
    assert (info["maxmemory"], info["maxmemory_policy"]) == (200 * MB, "allkeys-lfu")
    assert client.config_get("maxmemory-samples") == {"maxmemory-samples": "10"}
    client.close()


def test_evictions_are_recorded_by_persistence(start_leakdb, tmp_path):
    server = start_leakdb("--storage", "persistent-queue", "--flush-interval", "0.1")
    client = server.client()
    client.config_set("maxmemory-policy", "allkeys-lru")
    client.config_set("maxmemory", 6 * MB)
    fill(client, "p", 5_000, 3000)
    assert client.info("stats")["evicted_keys"] > 0
    kept = client.dbsize()
    client.close()
    server.stop()
    restarted = start_leakdb("--storage", "persistent-queue")
    assert restarted.client().dbsize() == kept  # evicted keys were deleted from the file too


@pytest.mark.parametrize("size", [100, 1000])
def test_a_limit_from_a_redis_config_holds_as_much_data(start_leakdb, size):
    """maxmemory 8mb noeviction: the interpreter is not counted, so the first writes are taken and
    about as many keys fit as in a fresh redis-server under the same limit."""
    server = start_leakdb("--storage", "memory", "--maxmemory", "8mb")
    port = free_port()
    redis_process = ServerProcess(redis_argv(port), port)
    stored = []
    try:
        clients = (redis_process.client(), server.client())
        for client in clients:
            stored.append(_fill_under_8mb(client, size))
    finally:
        redis_process.stop()
    oracle, ours = stored
    assert 0.5 * oracle <= ours <= 1.6 * oracle, stored  # measured: 0.56x (100 B), 1.4x (1000 B)


def _fill_under_8mb(client: redis.Redis, size: int) -> int:
    """How many keys of `size` bytes a server takes under maxmemory 8mb noeviction."""
    client.flushall()
    client.config_set("maxmemory", 8 * MB)
    client.config_set("maxmemory-policy", "noeviction")
    value = b"v" * size
    try:
        for i in range(1_000_000):
            reply = reply_of(client, "SET", f"key:{i}", value)
            if reply is not True:
                break
    finally:
        client.config_set("maxmemory", 0)
    assert reply == ("error", OOM_TEXT)
    stored = client.dbsize()
    client.flushall()
    client.close()
    return stored
