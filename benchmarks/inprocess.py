"""In-process throughput of the Python API: set and get ops/s for each storage class.

Run ``python benchmarks/inprocess.py [--n 100000]``.  Each figure is the median of three runs; queued
storages include their flushes (the final flush is inside the timed set loop).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from leakdb import DefaultStorage, PersistentQueueStorage, PersistentStorage, QueueStorage


class DictBaseline:
    """A bare dict behind the same two methods, to show what the API costs over Python itself."""

    def __init__(self) -> None:
        self.data: dict[str, object] = {}

    def set(self, key: str, value: object) -> bool:
        self.data[key] = value
        return True

    def get(self, key: str) -> object:
        return self.data.get(key)

    def flush(self, force: bool = False) -> bool:
        return True

    def close(self) -> None:
        pass


def candidates(directory: Path, n: int) -> list[tuple[str, int, Callable[[Path], object]]]:
    """(label, key count, factory): write-through commits once per set, so it runs on fewer keys."""
    slow = max(1, n // 10)
    return [
        ("dict (baseline)", n, lambda path: DictBaseline()),
        ("DefaultStorage", n, lambda path: DefaultStorage()),
        ("QueueStorage", n, lambda path: QueueStorage(maxsize=1000)),
        ("PersistentStorage sqlite", slow, lambda path: PersistentStorage(str(path))),
        ("PersistentStorage shelve", max(1, n // 100), lambda path: PersistentStorage(str(path), "shelve")),
        ("PersistentQueueStorage sqlite", n, lambda path: PersistentQueueStorage(str(path))),
        (
            "PersistentQueueStorage shelve",
            slow,
            lambda path: PersistentQueueStorage(str(path), backend="shelve"),
        ),
    ]


def run_once(factory: Callable[[Path], object], path: Path, n: int) -> tuple[float, float]:
    storage = factory(path)
    keys = [f"key:{i}" for i in range(n)]
    value = "value-0123456789"
    started = time.perf_counter()
    set_ = storage.set
    for key in keys:
        set_(key, value)
    storage.flush(force=True)
    set_seconds = time.perf_counter() - started
    get = storage.get
    started = time.perf_counter()
    for key in keys:
        get(key)
    get_seconds = time.perf_counter() - started
    storage.close()
    return n / set_seconds, n / get_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="keys per run (default 100000)")
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    print(f"Python {sys.version.split()[0]}, median of {options.runs} runs")
    print(f"{'storage':32} {'keys':>8} {'set ops/s':>12} {'get ops/s':>12}")
    with tempfile.TemporaryDirectory() as directory:
        for label, n, factory in candidates(Path(directory), options.n):
            sets, gets = [], []
            for run in range(options.runs):
                path = Path(directory) / f"{label.replace(' ', '-')}-{run}.db"
                set_rate, get_rate = run_once(factory, path, n)
                sets.append(set_rate)
                gets.append(get_rate)
            print(f"{label:32} {n:>8} {statistics.median(sets):>12,.0f} {statistics.median(gets):>12,.0f}")


if __name__ == "__main__":
    main()
