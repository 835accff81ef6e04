"""Durability against real processes: SIGKILL mid-write, exit without close, and the README example.

Each test runs a child Python process on a file in tmp_path; the parent decides when it dies and then
reopens the file to check that every write the child reported as done is there.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import HANG_SECONDS, crash_iterations

from leakdb import PersistentQueueStorage, PersistentStorage
from leakdb.engine.keyspace import now_ms

ROOT = Path(__file__).resolve().parents[2]
ITERATIONS = crash_iterations(5)


def child(code: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def kill_after(process: subprocess.Popen, lines: int) -> list[str]:
    """Read `lines` lines of output, SIGKILL the child, and return every line it managed to print."""
    seen = []
    for line in process.stdout:
        seen.append(line.strip())
        if len(seen) >= lines:
            break
    process.send_signal(signal.SIGKILL)
    rest, errors = process.communicate(timeout=HANG_SECONDS)
    assert process.returncode == -signal.SIGKILL, errors
    seen.extend(line for line in rest.splitlines() if line)
    return seen


WRITE_THROUGH_CHILD = """
    import sys
    from leakdb import PersistentStorage
    storage = PersistentStorage(sys.argv[1])
    prefix = sys.argv[2]
    i = 0
    while True:
        storage.set(f"{prefix}-{i}", i)
        print(i, flush=True)  # acknowledged: set() has returned
        i += 1
"""


def test_write_through_keeps_every_acknowledged_write_after_sigkill(tmp_path):
    path = str(tmp_path / "wt.db")
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    for iteration in range(ITERATIONS):
        acknowledged = kill_after(child(WRITE_THROUGH_CHILD, path, f"r{iteration}"), rng.randint(1, 300))
        with PersistentStorage(path) as reopened:
            missing = [n for n in acknowledged if reopened.get(f"r{iteration}-{n}") != int(n)]
        assert not missing, f"seed {seed}: acknowledged writes lost: {missing[:5]}"


WRITE_BEHIND_CHILD = """
    import sys
    from leakdb import PersistentQueueStorage
    storage = PersistentQueueStorage(sys.argv[1], maxsize=50, flush_interval=0.005)
    prefix = sys.argv[2]
    batch = 0
    while True:
        storage.set_multi({f"{prefix}-{batch}-{j}": j for j in range(20)})
        storage.flush(force=True)
        print(batch, flush=True)  # every key of this batch has been flushed
        batch += 1
"""


def test_write_behind_keeps_every_flushed_write_after_sigkill(tmp_path):
    path = str(tmp_path / "wb.db")
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    for iteration in range(ITERATIONS):
        flushed = kill_after(child(WRITE_BEHIND_CHILD, path, f"r{iteration}"), rng.randint(1, 60))
        with PersistentQueueStorage(path, flush_interval=None) as reopened:
            missing = [
                (batch, j)
                for batch in flushed
                for j in range(20)
                if reopened.get(f"r{iteration}-{batch}-{j}") != j
            ]
        assert not missing, f"seed {seed}: flushed writes lost: {missing[:5]}"


CLEAN_EXIT_CHILD = """
    import sys
    from leakdb import PersistentQueueStorage, PersistentStorage
    cls = PersistentStorage if sys.argv[3] == "persistent" else PersistentQueueStorage
    storage = cls(sys.argv[1], backend=sys.argv[2])
    for i in range(500):
        storage.set(f"k{i}", i)
    storage.expire("k0", 1000)
    if sys.argv[4] == "close":
        storage.close()
    print("done", flush=True)
    # without close, the atexit hook must flush what is still queued
"""


@pytest.mark.parametrize("backend", ["sqlite", "shelve"])
@pytest.mark.parametrize("ending", ["close", "exit"])
@pytest.mark.parametrize("mode", ["persistent", "persistent-queue"])
def test_clean_close_and_exit_without_close_lose_nothing(tmp_path, backend, ending, mode):
    path = str(tmp_path / "clean.db")
    started = now_ms()  # before the child's EXPIRE k0 1000
    process = child(CLEAN_EXIT_CHILD, path, backend, mode, ending)
    output, errors = process.communicate(timeout=HANG_SECONDS)
    ended = now_ms()
    assert process.returncode == 0 and output.strip() == "done", errors
    with PersistentStorage(path, backend=backend) as reopened:
        assert len(reopened) == 500
        assert all(reopened.get(f"k{i}") == i for i in range(500))
        assert started + 1_000_000 <= reopened.keyspace[0].deadline(b"k0") <= ended + 1_000_000


EXAMPLE = """
from leakdb import PersistentQueueStorage
leak = PersistentQueueStorage(filename='/tmp/foobar.db')
leak.set('bar', {'foo': 'bar'})
leak.set('foo', 2, key_prefix='bar_')
print(leak.incr(key='bar_foo', delta=5))          # 7
print(leak.incr(key='foobar', initial_value=1000)) # 1000
print(leak.get_multi(keys=['bar', 'foobar']))     # {'foobar': 1000, 'bar': {'foo': 'bar'}}
print(leak)   # /tmp/foobar.db N bytes :: 3 items in queue :: 3 items in storage memory
leak.flush(force=True)
print(leak)   # ... :: 0 items in queue :: 3 items in storage memory
leak.close()
"""


def test_readme_example(tmp_path):
    """The README example, with its results printed and its file moved into tmp_path."""
    path = str(tmp_path / "foobar.db")
    process = child(EXAMPLE.replace("/tmp/foobar.db", path))
    output, errors = process.communicate(timeout=HANG_SECONDS)
    assert process.returncode == 0, errors
    lines = output.splitlines()
    assert lines[:3] == ["7", "1000", str({"bar": {"foo": "bar"}, "foobar": 1000})]
    name = re.escape(path)
    assert re.fullmatch(rf"{name} \d+ bytes :: 3 items in queue :: 3 items in storage memory", lines[3])
    assert re.fullmatch(rf"{name} \d+ bytes :: 0 items in queue :: 3 items in storage memory", lines[4])
    assert len(lines) == 5
