"""Writes with 100k random keys: what each storage mode costs a SET and an INCR.

The wire section's 10k-key keyspace lets write-behind coalesce most writes into few rows; here every
flush carries mostly distinct keys, so the file's cost per write shows.  leakdb-server in memory,
persistent-queue (sqlite, the default mode) and persistent (write-through sqlite) modes against
redis-server without persistence and with ``appendonly yes appendfsync always`` (an fsync per write,
the durability write-through gives), -c 50 at pipelines 1 and 16, alternated within each round.
"""

from __future__ import annotations

from . import wire
from .common import Results, progress
from .servers import REDIS, ServerPool, ServerSpec, leakdb_spec

SECTION = "writes"
KEYSPACE = 100_000
PIPELINES = (1, 16)
TESTS = ("SET", "INCR")
REDIS_AOF_ALWAYS = ServerSpec(
    "redis-server aof always", "redis", ("--appendonly", "yes", "--appendfsync", "always")
)
CONTENDERS = (
    leakdb_spec("memory"),
    leakdb_spec("persistent-queue", "sqlite"),
    leakdb_spec("persistent", "sqlite"),
    REDIS,
    REDIS_AOF_ALWAYS,
)


def measure(pool: ServerPool, results: Results, rounds: int, seconds_per_test: float) -> None:
    servers = []
    for spec in CONTENDERS:
        progress(f"{SECTION}: starting {spec.name}")
        servers.append(pool.start(spec))
    loads = [
        wire.Load(pipeline=depth, keyspace=KEYSPACE, seconds_per_test=seconds_per_test, tests="set,incr")
        for depth in PIPELINES
    ]
    results.extend(wire.compare(servers, loads, rounds, section=SECTION))
    for server in servers:
        pool.stop(server)


def report_section(results: Results) -> list[str]:
    items = results.section(SECTION)
    lines = ["", "## Writes with 100k random keys (redis-benchmark -c 50 -r 100000, 32-byte values)", ""]
    if not items:
        return [*lines, "Not measured (the run stopped before this section)."]
    lines.append(
        "Requests/s, median over rounds; in brackets the ratio to redis-server without persistence, "
        "measured in the same run."
    )
    header = ["-P", "contender", *TESTS]
    rows = []
    for pipeline in PIPELINES:
        for contender in dict.fromkeys(m.contender for m in items):
            cells = [str(pipeline), contender]
            for test in TESTS:
                value = results.find(SECTION, contender, test, "rps", pipeline=pipeline)
                redis = results.find(SECTION, REDIS.name, test, "rps", pipeline=pipeline)
                ratio = f" ({value / redis:.2f}x)" if value and redis else ""
                cells.append("-" if value is None else f"{value:,.0f}{ratio}")
            rows.append(cells)
    table = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return [*lines, "", *table, *("| " + " | ".join(row) + " |" for row in rows)]
