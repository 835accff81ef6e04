"""Crash safety of the shelve backend: SIGKILLed writers, and commits interrupted between their steps.

A killed child process must not lose a write it reported as done; a commit that fails at any step
(simulated by making a system call raise, or by leaving behind the files a killed commit leaves) must
reopen to the old or the new state of the batch, in files dbm.dumb itself still reads.
"""

from __future__ import annotations

import dbm.dumb
import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import HANG_SECONDS, crash_iterations
from test_crash import child

from leakdb import PersistentStorage, StorageError
from leakdb.engine.keyspace import DELETE, SET, Change
from leakdb.persistence import diskio, dumbdbm
from leakdb.persistence.shelve import META_KEY, ShelveBackend

ITERATIONS = crash_iterations(5)

WRITER = """
    import sys
    from leakdb import PersistentStorage
    storage = PersistentStorage(sys.argv[1], backend="shelve")
    prefix = sys.argv[2]
    i = 0
    while True:
        storage.set(f"{prefix}-{i}", i)  # one key: an appended index line
        if i % 10 == 0:
            storage.set_multi({f"{prefix}-m{i}-{j}": j for j in range(3)})  # a whole new index
            storage.set("scratch", i)
            storage.delete("scratch")  # a deletion: a whole new index
        print(i, flush=True)  # acknowledged: every call above has returned
        i += 1
"""


def missing_writes(path: str, prefix: str, acknowledged: list[str]) -> list[str]:
    with PersistentStorage(path, backend="shelve") as reopened:
        missing = [n for n in acknowledged if reopened.get(f"{prefix}-{n}") != int(n)]
        for n in (n for n in acknowledged if int(n) % 10 == 0):
            if [reopened.get(f"{prefix}-m{n}-{j}") for j in range(3)] != [0, 1, 2]:
                missing.append(f"m{n}")
    return missing


def test_sigkilled_writer_loses_no_acknowledged_write(tmp_path):
    path = str(tmp_path / "killed.db")
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    for iteration in range(ITERATIONS):
        prefix = f"r{iteration}"
        process = child(WRITER, path, prefix)
        acknowledged = []
        for line in process.stdout:
            acknowledged.append(line.strip())
            if len(acknowledged) >= 20:
                break
        time.sleep(rng.uniform(0, 0.3))  # a random moment, well into the write loop
        process.kill()
        rest, errors = process.communicate(timeout=HANG_SECONDS)
        assert process.returncode == -9, errors
        acknowledged.extend(line for line in rest.splitlines() if line)
        assert not missing_writes(path, prefix, acknowledged), f"seed {seed}: acknowledged writes lost"
        with dbm.dumb.open(path, "r") as plain:  # still dbm.dumb's format once reopened
            assert f"0:{prefix}-{acknowledged[-1]}".encode() in plain


# -- commits interrupted between their steps ------------------------------------------------------------


def sets(values: dict[str, int]) -> list[Change]:
    return [Change(SET, 0, key.encode(), str(value).encode(), None) for key, value in values.items()]


def opened(path: Path) -> ShelveBackend:
    backend = ShelveBackend(str(path))
    backend.open()
    return backend


def contents(path: Path) -> dict[bytes, bytes]:
    """What a fresh open loads, checked against what dbm.dumb itself reads from the same files."""
    backend = opened(path)
    loaded = {key: value for _, key, value, _ in backend.load()}
    backend.close()
    with dbm.dumb.open(str(path), "r") as plain:
        assert {k[2:]: plain[k].partition(b"\n")[2] for k in plain if k != META_KEY} == loaded
    assert not os.path.exists(f"{path}.dir.tmp") and not os.path.exists(f"{path}.bak")
    return loaded


OLD = {"a": 1, "b": 2, "c": 3}
NEW = {"a": 10, "b": 20, "c": 30, "d": 40}


def as_bytes(values: dict[str, int]) -> dict[bytes, bytes]:
    return {key.encode(): str(value).encode() for key, value in values.items()}


@pytest.fixture
def store(tmp_path) -> Path:
    path = tmp_path / "store.db"
    backend = opened(path)
    backend.apply(sets(OLD))
    for key, value in OLD.items():  # single-key commits: index lines appended to the journal
        backend.apply(sets({key: value}))
    backend.close()
    return path


# The shelve writer's steps, as points of the fault layer: a value, the journal append, the moving
# into place of a whole new index.
STEPS = {"pwrite": ("write", ".dat"), "write": ("write", ".dir"), "replace": ("rename", ".dir")}


@contextmanager
def fail_on_call(name: str, number: int) -> Iterator[None]:
    """Make call `number` (0-based) of the shelve writer's step `name` fail, as if killed there."""
    point, suffix = STEPS[name]
    diskio.install(diskio.Plan([diskio.Fault(point, "EIO", suffix, after=number, count=1)]))
    try:
        yield
    finally:
        diskio.install(None)


DELETE_C = [Change(DELETE, 0, b"c", None, None)]


@pytest.mark.parametrize(
    ("deletes", "call", "number"),
    [
        ([], "pwrite", 0),  # before any value is written
        ([], "pwrite", 3),  # after three of the four values
        ([], "write", 0),  # all values written, the journal append fails
        (DELETE_C, "pwrite", 2),
        (DELETE_C, "write", 0),  # the values written, the journal append with the tombstone fails
    ],
)
def test_batch_interrupted_between_steps_reopens_old_then_retries_to_new(store, deletes, call, number):
    new = as_bytes({key: value for key, value in NEW.items() if not (deletes and key == "c")})
    backend = opened(store)
    with fail_on_call(call, number), pytest.raises(OSError, match="injected"):
        backend.apply(sets(NEW) + deletes)
    backend.close()  # closing writes nothing more: the same as being killed here
    assert contents(store) == as_bytes(OLD)

    backend = opened(store)
    with fail_on_call(call, number), pytest.raises(OSError, match="injected"):
        backend.apply(sets(NEW) + deletes)
    backend.apply(sets(NEW) + deletes)  # the caller's retry of the same batch, in the same process
    backend.apply(sets({"e": 5}))
    backend.close()
    assert contents(store) == {**new, b"e": b"5"}


@pytest.mark.parametrize("call", ["pwrite", "write"])
def test_single_key_commit_interrupted_keeps_the_old_value(store, call):
    backend = opened(store)
    with fail_on_call(call, 0), pytest.raises(OSError, match="injected"):
        backend.apply(sets({"b": 99}))
    backend.close()
    assert contents(store) == as_bytes(OLD)


def test_torn_index_line_is_dropped_and_repaired(store):
    with open(f"{store}.dir", "a", encoding="latin-1") as index:
        index.write("'0:b', (40")  # an append killed half-way: never acknowledged
    assert contents(store) == as_bytes(OLD)
    assert Path(f"{store}.dir").read_text("latin-1").endswith(")\n")


def test_batch_without_its_closing_marker_line_is_dropped_whole(store):
    index = dumbdbm.read_index(str(store), META_KEY)
    c_entry = index[b"0:c"]
    with open(f"{store}.dir", "a", encoding="latin-1") as journal:
        journal.write("%r, %r\n" % ("0:a", c_entry))  # one complete line of a two-key batch
    assert contents(store) == as_bytes(OLD)


def test_leftover_temporary_index_is_ignored_and_removed(store):
    Path(f"{store}.dir.tmp").write_text("'0:a', (0, 1")  # a rewrite killed before os.replace
    assert contents(store) == as_bytes(OLD)


def test_dbm_dumb_killed_after_renaming_its_index_to_bak(store):
    """The data loss found with SIGKILL: dbm.dumb's commit had moved .dir to .bak, then died."""
    os.rename(f"{store}.dir", f"{store}.bak")
    assert contents(store) == as_bytes(OLD)


def test_dbm_dumb_killed_while_rewriting_its_index(store):
    """dbm.dumb moved the index to .bak and died writing its one-line-per-key dump to .dir: keys not
    dumped yet keep their .bak entry."""
    index = dumbdbm.read_index(str(store), META_KEY)
    dump = "".join("%r, %r\n" % (key.decode("latin-1"), entry) for key, entry in index.items())
    os.rename(f"{store}.dir", f"{store}.bak")
    Path(f"{store}.dir").write_text(dump[: len(dump) // 2], "latin-1")
    assert contents(store) == as_bytes(OLD)


def test_store_whose_creation_was_interrupted_is_created_again(tmp_path):
    path = tmp_path / "new.db"
    backend = opened(path)
    backend.close()
    os.remove(f"{path}.dir")  # killed after writing the header value, before the first index
    assert contents(path) == {}


def test_data_file_without_any_index_is_refused_untouched(store):
    os.remove(f"{store}.dir")
    before = Path(f"{store}.dat").read_bytes()
    with pytest.raises(StorageError, match="index of the dbm store, is missing"):
        opened(store)
    assert Path(f"{store}.dat").read_bytes() == before
    assert sorted(p.name for p in store.parent.iterdir()) == ["store.db.dat"]


def test_overwrites_and_deletes_reuse_space(tmp_path):
    path = tmp_path / "reuse.db"
    backend = opened(path)
    for n in range(3000):
        backend.apply(sets({"counter": n, f"k{n % 5}": n}))
        backend.apply(sets({"counter": n}))
        backend.apply([Change(DELETE, 0, f"k{n % 5}".encode(), None, None)])
    backend.close()
    assert os.path.getsize(f"{path}.dat") <= 20 * dumbdbm.BLOCK
    assert os.path.getsize(f"{path}.dir") < 2000
    assert contents(path) == {b"counter": b"2999"}


@pytest.mark.parametrize("call", ["replace", "write"])
def test_interrupted_whole_index_rewrite_keeps_the_journal(tmp_path, call):
    """A journal grown past twice the live keys is replaced by a whole new index; a rewrite that
    fails (not moved into place, or its file not written) leaves the journal as it was."""
    path = tmp_path / "long.db"
    backend = opened(path)
    n = 0
    while backend._dbm._journal_lines < 2 * len(backend._dbm) + 1024:  # appended batches
        backend.apply(sets({"counter": n}))
        n += 1
    step = {"replace": ("rename", ".dir"), "write": ("write", ".dir.tmp")}[call]
    diskio.install(diskio.Plan([diskio.Fault(step[0], "EIO", step[1])]))
    try:
        with pytest.raises(OSError, match="injected"):
            backend.apply(sets({"counter": -1}))
    finally:
        diskio.install(None)
    backend.close()  # the fold at close could not run either: killed here, in effect
    assert contents(path) == {b"counter": str(n - 1).encode()}
