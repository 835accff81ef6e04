"""Over the wire: redis-benchmark against leakdb-server in each mode and against redis-server.

Contenders run one after another inside each round (A B A B ...), every figure is the median over the
rounds, and every ratio compares servers measured in the same run on the same machine.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .common import Measurement, median, progress, run
from .servers import RunningServer

TESTS = "set,get,incr,ping_mbulk"
MULTI_KEY_SHARE = 4  # MSET and MGET touch ten keys a request: a quarter of the requests
MGET_KEYS = 10
MGET = ["MGET", *["key:__rand_int__"] * MGET_KEYS]
TEST_NAMES = {"MSET (10 keys)": "MSET", " ".join(MGET): "MGET"}
KEYSPACE = 10_000
VALUE_SIZE = 32


@dataclass(frozen=True)
class Load:
    """How hard and how long redis-benchmark pushes: clients, pipeline depth, keyspace, test time."""

    clients: int = 50
    pipeline: int = 1
    keyspace: int = KEYSPACE
    seconds_per_test: float = 1.0
    tests: str = "all"  # or redis-benchmark -t names, e.g. "set,get"


# One contender's tests at one load: (server, load, requests per test) -> {test: {metric: value}}.
Measure = Callable[[RunningServer, Load, int], dict[str, dict[str, float]]]


def parse_csv(text: str) -> dict[str, dict[str, float]]:
    """redis-benchmark --csv output -> {test: {"rps": ..., "p50_ms": ..., "p99_ms": ...}}."""
    rows: dict[str, dict[str, float]] = {}
    for record in csv.reader(io.StringIO(text)):
        if len(record) < 7 or record[0] == "test":
            continue
        name = TEST_NAMES.get(record[0], record[0])
        rows[name] = {"rps": float(record[1]), "p50_ms": float(record[4]), "p99_ms": float(record[6])}
    return rows


def redis_benchmark(
    port: int, load: Load, requests: int, tests: str = "", command: Sequence[str] = ()
) -> dict[str, dict[str, float]]:
    """One redis-benchmark run: the built-in `tests` (``-t`` names), or one custom `command`."""
    base = [
        "redis-benchmark", "-p", str(port), "-c", str(load.clients), "-P", str(load.pipeline),
        "-n", str(requests), "-r", str(load.keyspace), "-d", str(VALUE_SIZE), "--csv", "-q",
    ]  # fmt: skip
    words = ["-t", tests] if tests else list(command)
    # Generous bound: a run is sized to take seconds; a stuck server must not stall the suite forever.
    completed = run([*base, *words], timeout=300)
    rows = parse_csv(completed.stdout)
    if not rows:
        raise RuntimeError(f"redis-benchmark printed no results: {completed.stderr.strip()[-300:]}")
    return rows


def calibrate(server: RunningServer, load: Load) -> int:
    """Requests per test so that SET takes about `seconds_per_test` on this contender."""
    floor = load.clients * load.pipeline  # every client sends at least one full pipeline
    probe = max(1000, floor)
    rps = redis_benchmark(server.port, load, probe, "set")["SET"]["rps"]
    return int(min(2_000_000, max(floor, rps * load.seconds_per_test)))


def measure(server: RunningServer, load: Load, requests: int) -> dict[str, dict[str, float]]:
    """SET, GET, INCR, PING (bulk), MSET and MGET of ten keys (or `load.tests`), on one contender."""
    if load.tests != "all":
        return redis_benchmark(server.port, load, requests, load.tests)
    rows = redis_benchmark(server.port, load, requests, TESTS)
    fewer = max(load.clients, requests // MULTI_KEY_SHARE)
    rows.update(redis_benchmark(server.port, load, fewer, "mset"))
    rows.update(redis_benchmark(server.port, load, fewer, command=MGET))
    return rows


def compare(
    servers: Sequence[RunningServer],
    loads: Sequence[Load],
    rounds: int,
    section: str = "wire",
    measure_with: Measure = measure,
) -> list[Measurement]:
    """Run every load on every server, alternating servers within each round; medians over rounds.

    `measure_with` runs the tests; requests per test are sized once per server and load by SET's rate.
    """
    samples: dict[tuple[str, Load, str, str], list[float]] = defaultdict(list)
    sizes: dict[tuple[str, Load], int] = {}
    for round_number in range(1, rounds + 1):
        for load in loads:
            for server in servers:
                progress(
                    f"{section}: round {round_number}/{rounds} -c {load.clients} -P {load.pipeline} "
                    f"-r {load.keyspace} {server.spec.name}"
                )
                key = (server.spec.name, load)
                if key not in sizes:
                    sizes[key] = calibrate(server, load)
                for test, metrics in measure_with(server, load, sizes[key]).items():
                    for metric, value in metrics.items():
                        samples[(server.spec.name, load, test, metric)].append(value)
    return [
        Measurement(
            section,
            name,
            test,
            metric,
            median(values),
            load.pipeline,
            load.clients,
            load.keyspace,
            VALUE_SIZE,
        )
        for (name, load, test, metric), values in samples.items()
    ]
