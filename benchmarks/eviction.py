"""Eviction as a cache: hit rate on a Zipf stream under allkeys-lru and allkeys-lfu, LeakDB next to
redis-server, and how far each process's RSS strays from maxmemory.

Each contender runs a cache-aside loop (GET; SET on a miss) over the same Zipf-distributed stream with
the same policy and ``maxmemory``.  A LeakDB process starts at tens of MB where Redis starts at one, so
at the same limit Redis holds more keys; a second Redis run is given a limit that holds about as many
keys as LeakDB did, which compares the eviction algorithms alone.  An exact LRU simulation with that
capacity is the reference.

    python -m benchmarks.eviction [--maxmemory 64mb] [--ops 200000] [--universe 200000]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import OrderedDict
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path

import redis

from leakdb.config import parse_memory

from .common import progress
from .servers import REDIS, RunningServer, ServerPool, ServerSpec, leakdb_spec

VALUE_SIZE = 500
BATCH = 100
POLICIES = ("allkeys-lru", "allkeys-lfu")


@dataclass
class Outcome:
    contender: str
    policy: str
    maxmemory: int
    hit_rate: float
    keys: int
    evicted: int
    peak_rss: int
    final_rss: int
    ops_per_s: float


def zipf_stream(universe: int, length: int, exponent: float, seed: int) -> list[int]:
    rng = random.Random(seed)
    weights = list(accumulate(1.0 / (rank**exponent) for rank in range(1, universe + 1)))
    names = list(range(universe))
    rng.shuffle(names)
    return [names[rank] for rank in rng.choices(range(universe), cum_weights=weights, k=length)]


def exact_lru(stream: list[int], capacity: int, warmup: int) -> float:
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


def cache_aside(
    client: redis.Redis, server: RunningServer, stream: list[int], warmup: int
) -> tuple[float, int, float]:
    """(hit rate after warmup, peak RSS in bytes sampled every batch, requests per second)."""
    value = b"v" * VALUE_SIZE
    hits = 0
    peak_rss = 0
    started = time.perf_counter()
    for start in range(0, len(stream), BATCH):
        batch = stream[start : start + BATCH]
        pipe = client.pipeline(transaction=False)
        for key in batch:
            pipe.get(b"key:%d" % key)
        replies = pipe.execute()
        for offset, reply in enumerate(replies):
            if reply is None:
                pipe.set(b"key:%d" % batch[offset], value)
            elif start + offset >= warmup:
                hits += 1
        pipe.execute()
        if start % (BATCH * 20) == 0:
            peak_rss = max(peak_rss, int(server.rss_mb() * 1024 * 1024))
    elapsed = time.perf_counter() - started
    return hits / (len(stream) - warmup), peak_rss, len(stream) / elapsed


def run_one(
    pool: ServerPool, spec: ServerSpec, name: str, policy: str, maxmemory: int, stream: list[int], warmup: int
) -> Outcome:
    server = pool.start(spec, extra=("--maxmemory", str(maxmemory), "--maxmemory-policy", policy))
    client = redis.Redis(port=server.port)
    try:
        hit_rate, peak_rss, rate = cache_aside(client, server, stream, warmup)
        final_rss = int(server.rss_mb() * 1024 * 1024)
        return Outcome(
            contender=name,
            policy=policy,
            maxmemory=maxmemory,
            hit_rate=hit_rate,
            keys=client.dbsize(),
            evicted=client.info("stats")["evicted_keys"],
            peak_rss=max(peak_rss, final_rss),
            final_rss=final_rss,
            ops_per_s=rate,
        )
    finally:
        client.close()
        pool.stop(server)


def redis_limit_for(keys: int) -> int:
    """A redis-server maxmemory holding about `keys` keys of VALUE_SIZE bytes (measured per key)."""
    per_key = VALUE_SIZE + 90  # jemalloc bin of the value, the key, dictEntry and robj
    return 1_000_000 + keys * per_key


def report(outcomes: list[Outcome], ideal: dict[str, tuple[int, float]]) -> str:
    mb = 1024 * 1024
    lines = [
        f"{'contender':34} {'policy':12} {'maxmemory':>10} {'hit rate':>8} {'keys':>8} "
        f"{'evicted':>8} {'peak RSS':>9} {'RSS/max':>7} {'req/s':>8}",
    ]
    for o in outcomes:
        lines.append(
            f"{o.contender:34} {o.policy:12} {o.maxmemory / mb:8.1f}MB {o.hit_rate:8.3f} {o.keys:8d} "
            f"{o.evicted:8d} {o.peak_rss / mb:7.1f}MB {o.peak_rss / o.maxmemory:7.2f} {o.ops_per_s:8.0f}"
        )
    for policy, (capacity, rate) in ideal.items():
        lines.append(f"exact LRU simulation, {capacity} keys (LeakDB's {policy} capacity): {rate:.3f}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.eviction", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--maxmemory", default="64mb", help="the limit every contender gets (default 64mb)")
    parser.add_argument("--ops", type=int, default=200_000, help="requests in the stream")
    parser.add_argument("--universe", type=int, default=200_000, help="distinct keys")
    parser.add_argument("--exponent", type=float, default=0.9, help="Zipf exponent")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    maxmemory = parse_memory(options.maxmemory)
    stream = zipf_stream(options.universe, options.ops, options.exponent, seed=11)
    warmup = options.ops // 4
    outcomes: list[Outcome] = []
    ideal: dict[str, tuple[int, float]] = {}
    with tempfile.TemporaryDirectory(prefix="leakdb-evict-") as workdir, ServerPool(Path(workdir)) as pool:
        for policy in POLICIES:
            progress(f"eviction: leakdb {policy}")
            ours = run_one(pool, leakdb_spec("memory"), "leakdb memory", policy, maxmemory, stream, warmup)
            outcomes.append(ours)
            progress(f"eviction: redis-server {policy}")
            outcomes.append(
                run_one(pool, REDIS, "redis-server (same maxmemory)", policy, maxmemory, stream, warmup)
            )
            limit = redis_limit_for(ours.keys)
            progress(f"eviction: redis-server {policy}, as many keys as LeakDB")
            outcomes.append(
                run_one(pool, REDIS, "redis-server (LeakDB's key count)", policy, limit, stream, warmup)
            )
            ideal[policy] = (ours.keys, exact_lru(stream, ours.keys, warmup))
    print(report(outcomes, ideal))
    return 0


if __name__ == "__main__":
    sys.exit(main())
