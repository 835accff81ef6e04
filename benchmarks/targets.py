"""LeakDB's performance targets, each a ratio between two measurements of the same run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .common import Results

Lookup = Callable[[Results], "float | None"]
MEMORY = "leakdb memory"
PQ_SQLITE = "leakdb persistent-queue sqlite"
REDIS = "redis-server"
REDIS_AOF = "redis-server aof everysec"
REDIS_AOF_ALWAYS = "redis-server aof always"
PERSISTENT_SQLITE = "leakdb persistent sqlite"
FALLBACK_LOAD = "batched socket load (fallback)"


@dataclass(frozen=True)
class Target:
    """`measured / baseline` must be >= `bound` (or <= `bound` where lower is better)."""

    name: str
    measured: Lookup
    baseline: Lookup
    bound: float
    lower_is_better: bool = False
    # Tells a run where the measurement failed (a MISS) from one that skipped it (NOT RUN).
    failed: Callable[[Results], bool] = lambda results: False

    def evaluate(self, results: Results) -> tuple[float | None, str]:
        measured, baseline = self.measured(results), self.baseline(results)
        if measured is None or baseline is None or baseline == 0:
            return None, "MISS (failed, see notes)" if self.failed(results) else "NOT RUN"
        ratio = measured / baseline
        met = ratio <= self.bound if self.lower_is_better else ratio >= self.bound
        return ratio, "PASS" if met else "MISS"

    @property
    def condition(self) -> str:
        return f"{'<=' if self.lower_is_better else '>='} {self.bound:g}x"


def wire(contender: str, test: str, pipeline: int) -> Lookup:
    return lambda r: r.find("wire", contender, test, "rps", pipeline=pipeline)


def inprocess(contender: str, test: str) -> Lookup:
    return lambda r: r.find("inprocess", contender, test, "ops_per_s", value_size=16)


def clients(count: int, test: str) -> Lookup:
    return lambda r: r.find("clients", MEMORY, test, "rps", clients=count)


def scale(section: str, contender: str, test: str, metric: str) -> Lookup:
    return lambda r: r.find(section, contender, test, metric, keys=1_000_000)


def load(contender: str) -> Lookup:
    """The --pipe load time; the fallback load does not count for this target."""
    return lambda r: r.find("load", contender, "redis-cli --pipe", "seconds", keys=1_000_000)


def types(contender: str, test: str, pipeline: int) -> Lookup:
    return lambda r: r.find("types", contender, test, "rps", pipeline=pipeline)


def writes(contender: str, test: str, pipeline: int) -> Lookup:
    return lambda r: r.find("writes", contender, test, "rps", pipeline=pipeline)


def _versus_redis(test: str, pipeline: int, bound: float, section: Callable = wire) -> Target:
    name = f"memory -c 50 -P {pipeline} {test} vs redis-server"
    return Target(name, section(MEMORY, test, pipeline), section(REDIS, test, pipeline), bound)


def _default_mode(test: str, pipeline: int) -> Target:
    return Target(
        f"persistent-queue sqlite -P {pipeline} {test} (100k keys) vs LeakDB memory",
        writes(PQ_SQLITE, test, pipeline),
        writes(MEMORY, test, pipeline),
        0.85,
    )


# The rows of issue #15, in its order; each ratio compares two servers measured in the same run.
TARGETS = [
    *(_versus_redis(test, 1, 1.0) for test in ("SET", "GET", "INCR")),
    *(_versus_redis(test, 16, 0.6) for test in ("SET", "GET", "INCR")),
    *(_versus_redis(test, pipeline, 0.6) for pipeline in (1, 16) for test in ("MSET", "MGET")),
    *(
        _versus_redis(test, pipeline, bound, types)
        for pipeline, bound in ((1, 0.8), (16, 0.5))
        for test in ("LPUSH", "LPOP", "HSET", "SADD", "ZADD", "ZRANGE")
    ),
    *(_default_mode(test, pipeline) for pipeline in (1, 16) for test in ("SET", "INCR")),
    Target(
        "persistent sqlite -P 16 SET (100k keys) vs redis-server appendfsync always",
        writes(PERSISTENT_SQLITE, "SET", 16),
        writes(REDIS_AOF_ALWAYS, "SET", 16),
        1.0,
    ),
    Target(
        "persistent sqlite -P 1 SET (100k keys) vs redis-server appendfsync always",
        writes(PERSISTENT_SQLITE, "SET", 1),
        writes(REDIS_AOF_ALWAYS, "SET", 1),
        1.0,
    ),
    Target(
        "persistent-queue sqlite -P 1 SET vs redis-server appendfsync everysec",
        wire(PQ_SQLITE, "SET", 1),
        wire(REDIS_AOF, "SET", 1),
        0.8,
    ),
    Target(
        "in-process PersistentQueueStorage set vs diskcache set",
        inprocess("PersistentQueueStorage sqlite", "set"),
        inprocess("diskcache", "set"),
        5.0,
    ),
    Target(
        "in-process PersistentQueueStorage get vs diskcache get",
        inprocess("PersistentQueueStorage sqlite", "get"),
        inprocess("diskcache", "get"),
        3.0,
    ),
    Target(
        "in-process DefaultStorage get vs a dict lookup in a Python method",
        inprocess("DefaultStorage", "get"),
        inprocess("dict (baseline)", "get"),
        0.3,
    ),
    Target(
        "RSS holding 1M keys vs redis-server",
        scale("memory", MEMORY, "RSS", "rss_mb"),
        scale("memory", REDIS, "RSS", "rss_mb"),
        1.2,
        lower_is_better=True,
    ),
    Target(
        "redis-cli --pipe load of 1M SETs vs redis-server",
        load(MEMORY),
        load(REDIS),
        1.2,
        lower_is_better=True,
        failed=lambda r: r.find("load", MEMORY, FALLBACK_LOAD, "seconds", keys=1_000_000) is not None,
    ),
    Target(
        "restart on 1M keys (persistent-queue sqlite) vs redis-server RDB load",
        scale("restart", PQ_SQLITE, "restart", "seconds"),
        scale("restart", REDIS, "restart", "seconds"),
        2.0,
        lower_is_better=True,
    ),
    Target("1000 connections SET vs LeakDB's own at 50", clients(1000, "SET"), clients(50, "SET"), 0.7),
    Target("1000 connections GET vs LeakDB's own at 50", clients(1000, "GET"), clients(50, "GET"), 0.7),
]


def evaluate(results: Results) -> list[tuple[Target, float | None, str]]:
    return [(target, *target.evaluate(results)) for target in TARGETS]
