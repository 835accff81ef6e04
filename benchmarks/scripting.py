"""Scripting: EVALSHA of a small script (GET + INCR + EXPIRE) on leakdb-server and on redis-server in the
same run, and what a plain SET costs once scripting exists (it must cost nothing).

SET is measured on a leakdb-server before any script ever ran there, then again once the script is
loaded and EVALSHA has run (the Lua interpreter and the scripting state exist); with ``--baseline
PATH`` it is also measured on a leakdb-server run from another checkout (one without scripting, say),
in the same rounds.  Contenders alternate within each round and figures are medians over the rounds.

    python -m benchmarks.scripting [--rounds 3] [--seconds 1.0] [--pipeline 1] [--baseline PATH]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import redis

from .common import median, progress
from .servers import REDIS, RunningServer, ServerPool, ServerSpec, free_port, leakdb_spec, ping
from .wire import Load, redis_benchmark

SCRIPT = (
    "local value = redis.call('GET', KEYS[1]) "
    "redis.call('INCR', KEYS[1]) "
    "redis.call('EXPIRE', KEYS[1], ARGV[1]) "
    "return value"
)
LEAKDB = leakdb_spec("memory")


def evalsha_command(sha: str) -> list[str]:
    return ["EVALSHA", sha, "1", "counter:__rand_int__", "100"]


def flush(server: RunningServer) -> None:
    client = redis.Redis(port=server.port)
    client.flushall()
    client.close()


def start_baseline(pool: ServerPool, tree: Path) -> RunningServer:
    """A memory-mode leakdb-server run from another checkout, owned by the pool like the others."""
    port = free_port()
    directory = pool.root / f"baseline-{port}"
    directory.mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": str(tree)}
    argv = [sys.executable, "-m", "leakdb.server", "--port", str(port), "--storage", "memory"]
    with open(directory / "server.log", "ab") as log:
        process = subprocess.Popen(argv, cwd=directory, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = RunningServer(ServerSpec(f"leakdb {tree.name} (baseline)", "leakdb"), port, directory, process)
    pool.servers.append(server)
    for _ in range(3000):
        if ping(port) == b"+PONG":
            return server
        time.sleep(0.01)
    raise RuntimeError(f"the baseline server did not start:\n{server.log_tail()}")


def measure(
    rounds: int, seconds: float, pipeline: int, baseline: Path | None
) -> dict[tuple[str, str], float]:
    load = Load(pipeline=pipeline)
    samples: dict[tuple[str, str], list[float]] = defaultdict(list)
    with (
        tempfile.TemporaryDirectory(prefix="leakdb-bench-scripting-") as workdir,
        ServerPool(Path(workdir)) as pool,
    ):
        ours = pool.start(LEAKDB)
        oracle = pool.start(REDIS)
        others = [start_baseline(pool, baseline)] if baseline else []
        probe = redis_benchmark(ours.port, load, 20_000, "set")["SET"]["rps"]
        requests = max(1000, int(probe * seconds))
        for round_number in range(1, rounds + 1):
            progress(f"scripting: round {round_number}/{rounds}, SET before any script")
            for server in (ours, *others):
                rps = redis_benchmark(server.port, load, requests, "set")["SET"]["rps"]
                samples[(server.spec.name, "SET, no script run yet")].append(rps)
        shas = {}
        for server in (ours, oracle):
            client = redis.Redis(port=server.port)
            shas[server.spec.name] = client.script_load(SCRIPT)
            client.close()
        for round_number in range(1, rounds + 1):
            progress(f"scripting: round {round_number}/{rounds}, EVALSHA and SET")
            for server in (ours, oracle):
                command = evalsha_command(shas[server.spec.name])
                rows = redis_benchmark(server.port, load, requests, command=command)
                samples[(server.spec.name, "EVALSHA GET+INCR+EXPIRE")].append(
                    next(iter(rows.values()))["rps"]
                )
            # The same (empty) data everywhere for SET: EVALSHA's counters and their TTLs go.
            for server in (ours, oracle, *others):
                flush(server)
            for server in (ours, *others):
                rps = redis_benchmark(server.port, load, requests, "set")["SET"]["rps"]
                samples[(server.spec.name, "SET, scripts loaded and run")].append(rps)
    return {key: median(values) for key, values in samples.items()}


def table(figures: dict[tuple[str, str], float], pipeline: int) -> str:
    ours = LEAKDB.name
    lines = [f"| test (-c 50 -P {pipeline}) | contender | requests/s | ratio |", "|---|---|---:|---:|"]
    evalsha_redis = figures.get((REDIS.name, "EVALSHA GET+INCR+EXPIRE"))
    set_before = figures.get((ours, "SET, no script run yet"))
    for (contender, test), rps in sorted(figures.items(), key=lambda item: (item[0][1], item[0][0])):
        if test.startswith("EVALSHA") and evalsha_redis:
            ratio = f"{rps / evalsha_redis:.2f}x redis"
        elif test.startswith("SET") and set_before:
            ratio = f"{rps / set_before:.2f}x of SET before scripts"
        else:
            ratio = ""
        lines.append(f"| {test} | {contender} | {rps:,.0f} | {ratio} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.scripting", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=1.0, help="seconds per test and round")
    parser.add_argument("--pipeline", type=int, default=1)
    parser.add_argument("--baseline", type=Path, help="another checkout whose leakdb-server SET is compared")
    options = parser.parse_args(argv)
    figures = measure(options.rounds, options.seconds, options.pipeline, options.baseline)
    print(table(figures, options.pipeline))
    return 0


if __name__ == "__main__":
    sys.exit(main())
