"""The shelve backend's layout: packed values (size proportional to the data), the first layout
packed when it is next opened, compaction that survives a failure at any step, deletions that
cost one journal line, and a store that is opened and closed without writes left byte for byte.
"""

from __future__ import annotations

import dbm.dumb
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from leakdb import PersistentQueueStorage, PersistentStorage, StorageError
from leakdb.persistence import diskio, dumbdbm
from leakdb.persistence.shelve import META_KEY

ROOT = Path(__file__).resolve().parents[2]
KEYS = 20_000


def fingerprint(path: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in path.parent.iterdir()
        if p.name.startswith(path.name)
    }


def fill(path: Path, keys: int = KEYS) -> None:
    with PersistentQueueStorage(path, backend="shelve", maxsize=5000, flush_interval=None) as storage:
        for n in range(keys):
            storage.execute_command("SET", f"key:{n:06d}", f"v{n}")


def first_layout(path: Path, keys: int) -> None:
    """A store as LeakDB's first layout had it: dbm.dumb's own writer, a 512-byte block per value."""
    with dbm.dumb.open(str(path), "c") as store:
        store[META_KEY] = json.dumps({"application": "leakdb", "format_version": 1}).encode()
        for n in range(keys):
            value = f"v{n}".encode()
            store[f"0:key:{n:06d}".encode()] = b"string -1 %d\n" % len(value) + value


def leakdb_tool(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "leakdb.tool", *args], capture_output=True, text=True, env=env
    )


def test_small_values_take_space_in_proportion(tmp_path):
    path = tmp_path / "small.db"
    fill(path)
    size = os.path.getsize(f"{path}.dat")
    assert size <= 32 * KEYS, size  # records of 13-18 bytes; the first layout took 512 bytes each
    with dbm.dumb.open(str(path), "r") as plain:  # still what dbm.dumb reads
        assert plain[b"0:key:012345"] == b"string -1 6\nv12345"
    with PersistentStorage(path, backend="shelve") as storage:
        assert storage.keys_loaded == KEYS and storage.get("key:012345") == b"v12345"


def test_the_first_layout_is_packed_when_opened_and_still_read_by_dbm_dumb(tmp_path):
    path = tmp_path / "old.db"
    first_layout(path, 3000)
    assert os.path.getsize(f"{path}.dat") >= 512 * 3000
    report = leakdb_tool("info", str(path))
    assert "warning: this shelve file has LeakDB's first layout" in report.stdout, report.stdout
    with PersistentStorage(path, backend="shelve") as storage:
        assert storage.keys_loaded == 3000
    assert os.path.getsize(f"{path}.dat") <= 32 * 3000
    with dbm.dumb.open(str(path), "r") as plain:
        assert json.loads(plain[META_KEY])["format_version"] == 2  # older LeakDBs refuse to write it
        assert plain[b"0:key:002999"] == b"string -1 5\nv2999"
    assert "warning" not in leakdb_tool("info", str(path)).stdout
    assert leakdb_tool("check", str(path)).returncode == 0


@pytest.mark.parametrize(
    ("point", "file", "after"), [("rename", ".dir", 1), ("rename", ".dir", 2), ("fsync", ".dat", 1)]
)
def test_compaction_that_fails_at_any_step_leaves_a_readable_store(tmp_path, point, file, after):
    """Compaction: values copied past the end, an index there; copied to the start, an index again.
    Opening first replaces dbm.dumb's own index with a whole one (rename 1), then each compaction
    step's index (renames 2 and 3, or the fsync of the values before the second) fails in turn."""
    path = tmp_path / "old.db"
    first_layout(path, 3000)
    diskio.install(diskio.Plan([diskio.Fault(point, "EIO", file, after=after, count=1)]))
    try:
        with pytest.raises(StorageError, match="injected"):
            PersistentStorage(path, backend="shelve")
    finally:
        diskio.install(None)
    assert leakdb_tool("check", str(path)).returncode == 0
    with PersistentStorage(path, backend="shelve") as storage:
        assert storage.keys_loaded == 3000 and storage.get("key:001234") == b"v1234"
    assert os.path.getsize(f"{path}.dat") <= 32 * 3000


def test_deletions_append_a_line_and_a_clean_close_folds_them(tmp_path):
    path = tmp_path / "del.db"
    fill(path, 5000)
    index_size = os.path.getsize(f"{path}.dir")
    with PersistentStorage(path, backend="shelve") as storage:
        storage.delete("key:000001")
        # One tombstone line and a marker line: the index is not rewritten for a deletion.
        assert index_size < os.path.getsize(f"{path}.dir") < index_size + 200
        assert storage.get("key:000001") is None
    assert os.path.getsize(f"{path}.dir") < index_size  # folded: no tombstone, one line fewer
    with dbm.dumb.open(str(path), "r") as plain:
        assert b"0:key:000001" not in plain
    with PersistentStorage(path, backend="shelve") as storage:
        assert storage.keys_loaded == 4999


def test_opening_and_closing_without_writes_changes_no_byte(tmp_path):
    path = tmp_path / "quiet.db"
    fill(path, 500)
    before = fingerprint(path)
    with PersistentStorage(path, backend="shelve") as storage:
        assert storage.keys_loaded == 500
    assert fingerprint(path) == before


def test_a_cleanly_closed_store_cut_short_is_refused_untouched(tmp_path):
    path = tmp_path / "cut.db"
    fill(path, 2000)
    index = Path(f"{path}.dir")
    text = index.read_bytes()
    index.write_bytes(text[: text.index(b"\n", len(text) // 2) - 5])  # in the middle of a line
    before = fingerprint(path)
    with pytest.raises(StorageError, match="ends before the closing line of its index"):
        PersistentStorage(path, backend="shelve")
    assert fingerprint(path) == before
    report = leakdb_tool("check", str(path))
    assert report.returncode == 1 and "ends before the closing line" in report.stdout
    assert fingerprint(path) == before


def test_info_warns_about_many_keys_in_a_shelve_file(tmp_path, monkeypatch):
    path = tmp_path / "many.db"
    fill(path, 100_001)
    report = leakdb_tool("info", str(path))
    assert "warning: 100001 keys in a shelve file" in report.stdout, report.stdout


def test_an_index_line_that_does_not_parse_is_damage(tmp_path):
    path = tmp_path / "bad.db"
    fill(path, 10)
    index = Path(f"{path}.dir")
    lines = index.read_text("latin-1").split("\n")
    lines[3] = "'0:key:000002', (12, "  # a whole line (not the last) that is not an entry
    index.write_text("\n".join(lines), "latin-1")
    with pytest.raises(StorageError, match="damaged at line 4"):
        PersistentStorage(path, backend="shelve")
    assert dumbdbm.inspect(str(path), META_KEY).problems
