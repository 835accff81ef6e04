"""Sorted set scaling: per-call cost of ZRANK, ZRANGE BYSCORE LIMIT and ZREM as a set grows to 1M members.

A sorted set is filled with ZADD (batches of 1000 pairs, through ``storage.execute_command``, the server's
command table in process) and measured when it holds 10k, 100k and 1M members, both through
``execute_command`` (the full command path: argument encoding, dispatch, reply decoding) and on the
:class:`leakdb.zset.ZSet` engine alone.  Logarithmic operations cost about the same at every size;
a linear one would cost 100 times more at 1M than at 10k.

    python -m benchmarks.zset_scale [--calls N]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

from leakdb import DefaultStorage
from leakdb.engine.zset import ZSet

SIZES = (10_000, 100_000, 1_000_000)
BATCH = 1000


def per_call_us(calls: int, operation: Callable[[int], object]) -> float:
    """Mean microseconds per call of operation(i) over `calls` calls."""
    started = time.perf_counter()
    for i in range(calls):
        operation(i)
    return (time.perf_counter() - started) / calls * 1e6


def fill(storage: DefaultStorage, start: int, stop: int, rng: random.Random) -> None:
    for first in range(start, stop, BATCH):
        pairs: list[object] = []
        for i in range(first, min(first + BATCH, stop)):
            pairs += [rng.random() * 1e6, b"member:%d" % i]
        storage.execute_command("ZADD", "z", *pairs)


def measure(storage: DefaultStorage, size: int, calls: int, rng: random.Random) -> dict[str, float]:
    execute = storage.execute_command
    zset: ZSet = storage.keyspace[0].data[b"z"]
    members = [b"member:%d" % rng.randrange(size) for _ in range(calls)]
    lows = [rng.random() * 1e6 for _ in range(calls)]

    def command_zrem(i: int) -> None:  # remove and put back, so the size holds
        execute("ZREM", "z", members[i])
        execute("ZADD", "z", lows[i], members[i])

    def engine_zrem(i: int) -> None:
        zset.remove(members[i])
        zset.add(members[i], lows[i])

    return {
        "ZRANK": per_call_us(calls, lambda i: execute("ZRANK", "z", members[i])),
        "ZRANGE BYSCORE LIMIT 0 10": per_call_us(
            calls, lambda i: execute("ZRANGE", "z", lows[i], "+inf", "BYSCORE", "LIMIT", 0, 10)
        ),
        "ZREM + ZADD": per_call_us(calls, command_zrem),
        "engine rank": per_call_us(calls, lambda i: zset.rank(members[i])),
        "engine score range (10)": per_call_us(calls, lambda i: list(zset.pairs(*_first_ten(zset, lows[i])))),
        "engine remove + add": per_call_us(calls, engine_zrem),
    }


def _first_ten(zset: ZSet, low: float) -> tuple[int, int]:
    start, stop = zset.score_span(low, False, float("inf"), False)
    return start, min(stop, start + 10)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000, help="calls per operation and size")
    options = parser.parse_args(argv)
    rng = random.Random(7)
    storage = DefaultStorage()
    results: dict[int, dict[str, float]] = {}
    filled = 0
    for size in SIZES:
        started = time.perf_counter()
        fill(storage, filled, size, rng)
        seconds = time.perf_counter() - started
        print(
            f"ZADD {size - filled:>9,} members: {seconds:6.2f} s ({(size - filled) / seconds:,.0f} members/s)"
        )
        filled = size
        results[size] = measure(storage, size, options.calls, rng)
    names = list(results[SIZES[0]])
    print(f"\n{'us per call':<28}" + "".join(f"{size:>12,}" for size in SIZES) + f"{'1M / 10k':>10}")
    for name in names:
        row = [results[size][name] for size in SIZES]
        print(f"{name:<28}" + "".join(f"{value:>12.2f}" for value in row) + f"{row[-1] / row[0]:>10.2f}")


if __name__ == "__main__":
    main()
