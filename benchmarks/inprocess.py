"""In process: LeakDB's storage classes against dict, shelve, sqlitedict, diskcache and pickledb.

For each store and value size: N sets (including the final flush, commit or save), N gets, a 90/10
read/write mix, and the time to reopen the file holding the data (open plus one get).  Stores whose
package is missing are skipped with a note.  Standalone: ``python -m benchmarks.inprocess [--n N]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import shelve
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leakdb import DefaultStorage, PersistentQueueStorage, PersistentStorage, QueueStorage

from .common import Measurement, Results, median, progress

VALUE_SIZES = (16, 1024)


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


class MappingStore:
    """set/get/flush/close over a dict-like store (shelve, sqlitedict, diskcache)."""

    def __init__(self, mapping: Any, commit: Callable[[], object] = lambda: None) -> None:
        self.mapping = mapping
        self.get = mapping.get
        self.commit = commit

    def set(self, key: str, value: object) -> None:
        self.mapping[key] = value

    def flush(self, force: bool = False) -> None:
        self.commit()

    def close(self) -> None:
        self.mapping.close()


class PickleStore:
    """pickledb 1.x: an in-memory dict saved whole to one JSON file."""

    def __init__(self, path: Path) -> None:
        import pickledb

        self.db = pickledb.PickleDB(str(path)).load()
        self.set = self.db.set
        self.get = self.db.get

    def flush(self, force: bool = False) -> None:
        self.db.save()

    def close(self) -> None:
        self.db.save()


def _shelve(path: Path) -> MappingStore:
    return MappingStore(shelve.open(str(path)))


def _sqlitedict(path: Path) -> MappingStore:
    from sqlitedict import SqliteDict

    mapping = SqliteDict(str(path), autocommit=False)
    return MappingStore(mapping, mapping.commit)


def _diskcache(path: Path) -> MappingStore:
    from diskcache import Cache

    return MappingStore(Cache(str(path)))


@dataclass(frozen=True)
class Contender:
    """A store to measure: how to open it on a path, its package, and its share of N (slow stores)."""

    name: str
    open: Callable[[Path], Any]
    package: str = ""
    share: int = 1  # runs on N // share keys
    persistent: bool = False


CONTENDERS = [
    Contender("dict (baseline)", lambda path: DictBaseline()),
    Contender("DefaultStorage", lambda path: DefaultStorage()),
    Contender("QueueStorage", lambda path: QueueStorage(maxsize=1000)),
    Contender("PersistentStorage sqlite", lambda path: PersistentStorage(path), share=10, persistent=True),
    Contender(
        "PersistentStorage shelve", lambda path: PersistentStorage(path, "shelve"), share=100, persistent=True
    ),
    Contender("PersistentQueueStorage sqlite", lambda path: PersistentQueueStorage(path), persistent=True),
    Contender(
        "PersistentQueueStorage shelve",
        lambda path: PersistentQueueStorage(path, backend="shelve"),
        share=10,
        persistent=True,
    ),
    Contender("shelve (dbm.dumb)", _shelve, share=10, persistent=True),
    Contender("sqlitedict", _sqlitedict, "sqlitedict", share=10, persistent=True),
    Contender("diskcache", _diskcache, "diskcache", share=4, persistent=True),
    Contender("pickledb", PickleStore, "pickledb", share=10, persistent=True),
]


def _time_sets(store: Any, keys: list[str], value: str) -> float:
    set_ = store.set
    started = time.perf_counter()
    for key in keys:
        set_(key, value)
    store.flush(force=True)
    return time.perf_counter() - started


def _time_gets(store: Any, keys: list[str]) -> float:
    get = store.get
    started = time.perf_counter()
    for key in keys:
        get(key)
    return time.perf_counter() - started


def _time_mixed(store: Any, keys: list[str], value: str) -> float:
    """Nine gets then one set, over every key; the final flush is inside the time."""
    get, set_ = store.get, store.set
    started = time.perf_counter()
    for index, key in enumerate(keys):
        if index % 10 == 9:
            set_(key, value)
        else:
            get(key)
    store.flush(force=True)
    return time.perf_counter() - started


def _time_reopen(contender: Contender, path: Path, key: str) -> float:
    started = time.perf_counter()
    store = contender.open(path)
    found = store.get(key)
    seconds = time.perf_counter() - started
    store.close()
    if found is None:
        raise RuntimeError(f"{contender.name} lost {key!r} across a reopen")
    return seconds


def run_once(contender: Contender, path: Path, n: int, value_size: int) -> dict[str, float]:
    """ops/s for sets, gets and the mix, and seconds to reopen, on one fresh store."""
    keys = [f"key:{i}" for i in range(n)]
    value = "v" * value_size
    store = contender.open(path)
    rates = {
        "set": n / _time_sets(store, keys, value),
        "get": n / _time_gets(store, keys),
        "mixed 90/10": n / _time_mixed(store, keys, value),
    }
    store.close()
    if contender.persistent:
        rates["reopen"] = _time_reopen(contender, path, keys[-1])
    return rates


def _missing(contender: Contender) -> bool:
    return bool(contender.package) and importlib.util.find_spec(contender.package) is None


def measure(results: Results, directory: Path, n: int, rounds: int, value_sizes=VALUE_SIZES) -> None:
    """Every contender at every value size; medians over `rounds` fresh stores."""
    for contender in CONTENDERS:
        if _missing(contender):
            results.note(f"in-process: {contender.name} skipped: package {contender.package!r} is missing")
            continue
        keys = max(1, n // contender.share)
        for value_size in value_sizes:
            progress(f"in-process: {contender.name}, {keys} keys of {value_size} B values")
            samples: dict[str, list[float]] = {}
            for round_number in range(rounds):
                path = directory / f"{contender.name.split()[0]}-{value_size}-{round_number}-{keys}"
                for test, value in run_once(contender, path, keys, value_size).items():
                    samples.setdefault(test, []).append(value)
            for test, values in samples.items():
                metric = "seconds" if test == "reopen" else "ops_per_s"
                results.add(
                    Measurement(
                        "inprocess",
                        contender.name,
                        test,
                        metric,
                        median(values),
                        keys=keys,
                        value_size=value_size,
                    )
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="keys per run (default 100000)")
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    results = Results()
    with tempfile.TemporaryDirectory() as directory:
        measure(results, Path(directory), options.n, options.runs)
    print(f"{'store':32} {'value':>6} {'keys':>8} {'test':>12} {'result':>14}")
    for m in results.items:
        unit = "s" if m.metric == "seconds" else "ops/s"
        print(f"{m.contender:32} {m.value_size:>6} {m.keys:>8} {m.test:>12} {m.value:>14,.3f} {unit}")


if __name__ == "__main__":
    main()
