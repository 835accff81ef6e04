"""``python -m benchmarks.upstream [--seconds S] [--keys N]``: LeakDB as a near tier before a Redis Cluster.

A Redis Cluster (3 masters, 3 replicas) is started on loopback.  Then:

* a read-heavy Zipf workload (90% GET, 10% SET, Zipf s=1.1 over N keys), from 4 client processes
  sending one request at a time, goes straight to the cluster (redis-py RedisCluster) and through a
  LeakDB near tier (write-behind, full load; and lazy load, whose hit rate is the share of GETs served
  without a read-through); ops/s and p50/p99 latency are reported for each;
* write-behind throughput: redis-benchmark SET (-c 50, -P 1 and 16) against the near tier and against
  the cluster itself (``redis-benchmark --cluster``).
"""

from __future__ import annotations

import argparse
import bisect
import multiprocessing
import random
import statistics
import subprocess
import sys
import tempfile
import time
from itertools import accumulate
from pathlib import Path

import redis
import redis.cluster

from .common import REPO_ROOT
from .servers import free_port
from .wire import parse_csv

PROCESSES = 4


def cluster_port() -> int:
    import socket

    while True:
        port = random.randrange(20000, 45000)
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port


def start_cluster(root: Path) -> tuple[list[subprocess.Popen], list[int]]:
    ports = [cluster_port() for _ in range(6)]
    processes = []
    for port in ports:
        directory = root / f"node-{port}"
        directory.mkdir()
        processes.append(subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--dir", str(directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))  # fmt: skip
    for port in ports:
        wait(lambda p=port: _answers(p))
    subprocess.run(
        ["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in ports], "--cluster-replicas", "1",
         "--cluster-yes"], check=True, capture_output=True,
    )  # fmt: skip
    for port in ports:
        wait(lambda p=port: b"cluster_state:ok" in redis.Redis(port=p).execute_command("CLUSTER", "INFO"))
    return processes, ports


def _answers(port: int) -> bool:
    try:
        return redis.Redis(port=port).ping()
    except redis.ConnectionError:
        return False


def wait(condition, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("benchmarks.upstream: a server did not come up")
        time.sleep(0.05)


def start_near(root: Path, urls: str, load: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "leakdb.server", "--port", str(port), "--storage", "persistent-queue",
         "--backend", "redis", "--upstream-cluster", urls, "--upstream-load", load, "--loglevel", "warning"],
        cwd=root, env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait(lambda: _answers(port))
    return process, port


def zipf_keys(keys: int, count: int, seed: int) -> list[str]:
    weights = list(accumulate(1.0 / (rank**1.1) for rank in range(1, keys + 1)))
    chooser = random.Random(seed)
    total = weights[-1]
    return [f"key:{bisect.bisect(weights, chooser.random() * total)}" for _ in range(count)]


def _client_loop(target: tuple[str, int], keys: int, seconds: float, seed: int, out) -> None:
    kind, port = target
    if kind == "cluster":
        client = redis.cluster.RedisCluster(host="127.0.0.1", port=port)
    else:
        client = redis.Redis(port=port)
    sample = zipf_keys(keys, 200_000, seed)
    chooser = random.Random(seed + 1)
    latencies = []
    deadline = time.perf_counter() + seconds
    i = 0
    while time.perf_counter() < deadline:
        key = sample[i % len(sample)]
        i += 1
        started = time.perf_counter()
        if chooser.random() < 0.9:
            client.get(key)
        else:
            client.set(key, "v" * 32)
        latencies.append(time.perf_counter() - started)
    out.put(latencies)


def zipf_run(target: tuple[str, int], keys: int, seconds: float) -> dict[str, float]:
    queue: multiprocessing.Queue = multiprocessing.Queue()
    workers = [
        multiprocessing.Process(target=_client_loop, args=(target, keys, seconds, seed, queue))
        for seed in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    latencies = sorted(x for _ in workers for x in queue.get())
    for worker in workers:
        worker.join()
    return {
        "ops": len(latencies) / seconds,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
    }


def preload(port: int, keys: int) -> None:
    client = redis.cluster.RedisCluster(host="127.0.0.1", port=port)
    pipe = client.pipeline()
    for n in range(keys):
        pipe.set(f"key:{n}", "v" * 32)
    pipe.execute()


def set_throughput(target: list[str], pipeline: int) -> float:
    command = ["redis-benchmark", *target, "-c", "50", "-P", str(pipeline), "-n", "200000", "-r", "10000",
               "-d", "32", "-t", "set", "--csv", "-q"]  # fmt: skip
    return parse_csv(subprocess.run(command, capture_output=True, text=True, timeout=600).stdout)["SET"][
        "rps"
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.upstream", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="per Zipf run")
    parser.add_argument("--keys", type=int, default=10_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="leakdb-upstream-") as tmp:
        root = Path(tmp)
        processes, ports = start_cluster(root)
        urls = ",".join(f"redis://127.0.0.1:{p}" for p in ports[:3])
        try:
            preload(ports[0], args.keys)
            rows = {"cluster (RedisCluster)": zipf_run(("cluster", ports[0]), args.keys, args.seconds)}
            for load in ("full", "lazy"):
                near, port = start_near(root, urls, load)
                processes.append(near)
                rows[f"LeakDB near tier, {load} load"] = zipf_run(("near", port), args.keys, args.seconds)
                info = redis.Redis(port=port).info("leakdb")
                gets = 0.9 * rows[f"LeakDB near tier, {load} load"]["ops"] * args.seconds
                rows[f"LeakDB near tier, {load} load"]["hit"] = 1 - info["upstream_read_throughs"] / gets
                if load == "full":
                    writes = {p: set_throughput(["-p", str(port)], p) for p in (1, 16)}
            direct = {p: set_throughput(["--cluster", "-p", str(ports[0])], p) for p in (1, 16)}
        finally:
            for process in processes:
                process.kill()
    print(f"Zipf 90/10 GET/SET over {args.keys} keys, {PROCESSES} clients, {args.seconds:.0f}s each")
    print(f"{'target':<30} {'ops/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'hit rate':>9}")
    for name, row in rows.items():
        hit = f"{row['hit']:.1%}" if "hit" in row else "-"
        print(f"{name:<30} {row['ops']:>9,.0f} {row['p50_ms']:>8.3f} {row['p99_ms']:>8.3f} {hit:>9}")
    print("redis-benchmark SET -c 50 (requests/s)")
    for pipeline in (1, 16):
        near_rps, cluster_rps = writes[pipeline], direct[pipeline]
        ratio = near_rps / cluster_rps
        print(f"  P{pipeline:<3} near tier {near_rps:>10,.0f}   cluster {cluster_rps:>10,.0f}   {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
