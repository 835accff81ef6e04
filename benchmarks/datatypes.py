"""Data types over the wire: list, hash, set and sorted-set commands driven by redis-benchmark.

leakdb-server in memory mode against redis-server without persistence, -c 50 at pipelines 1 and 16:
redis-benchmark's built-in LPUSH then LPOP (of the same list), HSET, SADD and ZADD (members random over
the keyspace), then ZRANGE of the first ten members of the sorted set ZADD filled, PFADD of random elements
to one HyperLogLog and GEOADD of random members at one position.  Reported, no target.
"""

from __future__ import annotations

from . import wire
from .common import Results, progress
from .servers import REDIS, RunningServer, ServerPool, leakdb_spec

SECTION = "types"
CONTENDERS = (leakdb_spec("memory"), REDIS)
PIPELINES = (1, 16)
BUILT_IN = "lpush,lpop,hset,sadd,zadd"  # redis-benchmark runs them in its own order: LPUSH before LPOP
ZSET_KEY = "myzset"  # the key redis-benchmark's zadd test writes
ZRANGE = ("ZRANGE", ZSET_KEY, "0", "9")
# One HyperLogLog and one geo set, each given random members of the keyspace.
PFADD = ("PFADD", "hll", "element:__rand_int__")
GEOADD = ("GEOADD", "places", "13.361389", "38.115556", "place:__rand_int__")
TESTS = ("LPUSH", "LPOP", "HSET", "SADD", "ZADD", "ZRANGE", "PFADD", "GEOADD")


def measure_types(server: RunningServer, load: wire.Load, requests: int) -> dict[str, dict[str, float]]:
    """Every test on one contender; ZRANGE last, so that it reads the sorted set ZADD just filled."""
    rows = wire.redis_benchmark(server.port, load, requests, BUILT_IN)
    for name, command in (("ZRANGE", ZRANGE), ("PFADD", PFADD), ("GEOADD", GEOADD)):
        (rows[name],) = wire.redis_benchmark(server.port, load, requests, command=command).values()
    return rows


def measure(pool: ServerPool, results: Results, rounds: int, seconds_per_test: float) -> None:
    """Fresh servers (their own keyspaces), alternated within each round as the wire section does."""
    servers = []
    for spec in CONTENDERS:
        progress(f"{SECTION}: starting {spec.name}")
        servers.append(pool.start(spec))
    loads = [wire.Load(pipeline=depth, seconds_per_test=seconds_per_test) for depth in PIPELINES]
    results.extend(wire.compare(servers, loads, rounds, section=SECTION, measure_with=measure_types))
    for server in servers:
        pool.stop(server)
