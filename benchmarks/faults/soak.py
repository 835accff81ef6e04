"""The soak: a steady key count under a mixed write load for a long time, and the slope of RSS.

Two client threads run pipelines of random commands over a fixed key space (strings overwritten,
deleted and set again, hashes, capped lists, counters, keys that expire and come back), so the
dataset stays the same size while every code path that allocates runs.  The server's RSS is read
from /proc every second; the slope is a least-squares fit over the samples after the first quarter
(start-up and the dataset's first growth), in MB per hour.  A leak shows as a steady positive slope.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass

import redis

from ..servers import ServerPool, leakdb_spec

KEYS = 10_000
PIPELINE = 200


@dataclass
class SoakResult:
    mode: str
    backend: str
    seconds: float
    keys: int
    commands: int
    rss_start_mb: float
    rss_end_mb: float
    rss_peak_mb: float
    slope_mb_per_hour: float
    dbsize_end: int


def slope(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) samples, in MB per hour."""
    if len(samples) < 2:
        return 0.0
    mean_t = sum(t for t, _ in samples) / len(samples)
    mean_m = sum(m for _, m in samples) / len(samples)
    spread = sum((t - mean_t) ** 2 for t, _ in samples)
    if not spread:
        return 0.0
    return sum((t - mean_t) * (m - mean_m) for t, m in samples) / spread * 3600


def _load(port: int, stop: threading.Event, seed: int, counted: list[int]) -> None:
    rng = random.Random(seed)
    client = redis.Redis(port=port, socket_timeout=60)
    try:
        while not stop.is_set():
            pipe = client.pipeline(transaction=False)
            for _ in range(PIPELINE):
                n = rng.randrange(KEYS)
                roll = rng.random()
                if roll < 0.35:
                    pipe.set(f"s:{n}", rng.randbytes(rng.randrange(10, 300)))
                elif roll < 0.55:
                    pipe.get(f"s:{n}")
                elif roll < 0.62:
                    pipe.delete(f"s:{n}")
                elif roll < 0.72:
                    pipe.hset(f"h:{n % 1000}", f"f{rng.randrange(20)}", rng.randbytes(50))
                elif roll < 0.80:
                    pipe.lpush(f"l:{n % 1000}", rng.randbytes(30))
                    pipe.ltrim(f"l:{n % 1000}", 0, 9)
                elif roll < 0.90:
                    pipe.incr(f"c:{n % 1000}")
                else:
                    pipe.set(f"t:{n % 1000}", b"x" * 20, px=rng.randrange(50, 2000))
            pipe.execute()
            counted[0] += PIPELINE
    except (redis.ConnectionError, redis.TimeoutError):
        pass
    finally:
        client.close()


def run(pool: ServerPool, mode: str, backend: str, seconds: float) -> SoakResult:
    spec = leakdb_spec(mode, backend)
    server = pool.start(spec)
    stop = threading.Event()
    counted = [0]
    threads = [
        threading.Thread(target=_load, args=(server.port, stop, seed, counted), daemon=True)
        for seed in (1, 2)
    ]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    samples: list[tuple[float, float]] = []
    while (elapsed := time.monotonic() - started) < seconds:
        samples.append((elapsed, server.rss_mb()))
        time.sleep(1.0)
    stop.set()
    for thread in threads:
        thread.join(60)
    dbsize = redis.Redis(port=server.port).dbsize()
    pool.stop(server)
    steady = samples[len(samples) // 4 :]
    return SoakResult(
        mode=mode,
        backend=backend if mode.startswith("persistent") else "-",
        seconds=seconds,
        keys=KEYS,
        commands=counted[0],
        rss_start_mb=samples[0][1] if samples else 0.0,
        rss_end_mb=samples[-1][1] if samples else 0.0,
        rss_peak_mb=max((m for _, m in samples), default=0.0),
        slope_mb_per_hour=slope(steady),
        dbsize_end=dbsize,
    )


def describe(result: SoakResult) -> list[str]:
    return [
        result.mode,
        result.backend,
        f"{result.seconds:.0f}",
        f"{result.commands:,}",
        str(result.dbsize_end),
        f"{result.rss_start_mb:.1f} / {result.rss_end_mb:.1f} / {result.rss_peak_mb:.1f}",
        f"{result.slope_mb_per_hour:+.2f}",
    ]
