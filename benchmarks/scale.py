"""Scale (skipped with --quick): clients, dataset size, memory, bulk load and restart time.

leakdb-server (memory mode; persistent-queue on SQLite for the restart) against redis-server: throughput
as connections and keys grow, RSS holding the data, ``redis-cli --pipe`` load time, and the time from
exec until a restarted server answers PING with PONG (LeakDB reading its file, Redis its RDB).
"""

from __future__ import annotations

import resource
from collections.abc import Callable
from pathlib import Path

from . import resp_load, targets, wire
from .common import Measurement, Results, median, progress
from .servers import REDIS, RunningServer, ServerPool, leakdb_spec

CLIENT_COUNTS = (1, 10, 50, 200, 1000)
DATASET_SIZES = (10_000, 100_000, 1_000_000)
MEMORY = leakdb_spec("memory")
RESTARTABLE = leakdb_spec("persistent-queue", "sqlite")


def raise_open_file_limit() -> None:
    """1000 clients need more descriptors than a default soft limit; children inherit this one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def clients(pool: ServerPool, results: Results, rounds: int, seconds: float) -> None:
    """SET and GET at -P 1 as the number of connections grows."""
    raise_open_file_limit()
    servers = [pool.start(MEMORY), pool.start(REDIS)]
    loads = [wire.Load(clients=count, seconds_per_test=seconds, tests="set,get") for count in CLIENT_COUNTS]
    results.extend(wire.compare(servers, loads, rounds, section="clients"))
    for server in servers:
        pool.stop(server)


def load_keys(server: RunningServer, directory: Path, keys: int, results: Results) -> tuple[str, float]:
    """Load `keys` SETs with redis-cli --pipe; if that fails, note why and load with whole batches."""
    try:
        return "redis-cli --pipe", resp_load.pipe_load(server.port, resp_load.load_file(directory, keys))
    except RuntimeError as exc:
        results.note(
            f"{server.spec.name}: redis-cli --pipe of {keys} SETs failed ({str(exc)[:160]}); "
            "loaded with pipelined batches of whole commands instead"
        )
        resp_load.command(server.port, "FLUSHALL")
        return targets.FALLBACK_LOAD, resp_load.socket_load(server.port, keys)


def _loaded_pair(pool: ServerPool, directory: Path, keys: int, results: Results) -> list[RunningServer]:
    """Fresh leakdb memory and redis-server holding `keys` keys; load time and RSS recorded."""
    servers = []
    for spec in (MEMORY, REDIS):
        server = pool.start(spec)
        progress(f"dataset: loading {keys} keys into {spec.name}")
        how, seconds = load_keys(server, directory, keys, results)
        results.add(Measurement("load", spec.name, how, "seconds", seconds, keys=keys, value_size=32))
        results.add(
            Measurement("memory", spec.name, "RSS", "rss_mb", server.rss_mb(), keys=keys, value_size=32)
        )
        servers.append(server)
    return servers


def dataset(pool: ServerPool, directory: Path, results: Results, rounds: int, seconds: float) -> None:
    """SET and GET at -P 1 over a keyspace of 10k, 100k and 1M loaded keys."""
    for keys in DATASET_SIZES:
        servers = _loaded_pair(pool, directory, keys, results)
        load = wire.Load(keyspace=keys, seconds_per_test=seconds, tests="set,get")
        results.extend(wire.compare(servers, [load], rounds, section="dataset"))
        for server in servers:
            pool.stop(server)


def _timed_restarts(pool: ServerPool, server: RunningServer, rounds: int, keys: int) -> list[float]:
    times = []
    for _ in range(rounds):
        server = pool.restart(server)
        times.append(server.started_s)
    held = resp_load.command(server.port, "DBSIZE")
    pool.stop(server)
    if held != str(keys):
        raise RuntimeError(f"{server.spec.name} came back with {held} keys instead of {keys}")
    return times


def restart(pool: ServerPool, directory: Path, results: Results, rounds: int, keys: int = 1_000_000) -> None:
    """Exec-to-PONG time of a server restarted on a file holding `keys` keys."""
    prepare: dict[str, Callable[[RunningServer], tuple[str, ...]]] = {
        RESTARTABLE.name: lambda server: (),
        REDIS.name: lambda server: _save_rdb(server),
    }
    for spec in (RESTARTABLE, REDIS):
        server = pool.start(spec)
        progress(f"restart: loading {keys} keys into {spec.name}")
        how, seconds = load_keys(server, directory, keys, results)
        results.add(Measurement("load", spec.name, how, "seconds", seconds, keys=keys, value_size=32))
        server.extra = prepare[spec.name](server)
        progress(f"restart: {rounds} restart(s) of {spec.name} on {keys} keys")
        times = _timed_restarts(pool, server, rounds, keys)
        results.add(
            Measurement("restart", spec.name, "restart", "seconds", median(times), keys=keys, value_size=32)
        )


def _save_rdb(server: RunningServer) -> tuple[str, ...]:
    """SAVE, and the flags that make the restarted redis-server load that RDB file."""
    reply = resp_load.command(server.port, "SAVE")
    if reply != "OK":
        raise RuntimeError(f"SAVE answered {reply!r}")
    return ("--dbfilename", "dump.rdb")


def measure(pool: ServerPool, directory: Path, results: Results, rounds: int, seconds: float) -> None:
    """Each scale experiment; one that fails is noted and the others still run."""
    experiments: list[tuple[str, Callable[[], None]]] = [
        ("clients", lambda: clients(pool, results, rounds, seconds)),
        ("dataset", lambda: dataset(pool, directory, results, rounds, seconds)),
        ("restart", lambda: restart(pool, directory, results, rounds)),
    ]
    for name, experiment in experiments:
        try:
            experiment()
        except (RuntimeError, OSError) as exc:
            results.note(f"scale/{name} did not finish: {exc}")
            pool.stop_all()
