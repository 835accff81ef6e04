"""Writing LeakDB data files for the ``leakdb`` tool, all or nothing.

A new store is built under a temporary name next to its destination and moved into place with
:func:`os.replace`; keys merged into an existing SQLite store go in one transaction.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from typing import Any

from ..engine.keyspace import SET, Change
from ..persistence import Backend, open_backend
from ..persistence.shelve import SUFFIXES
from .progress import Progress

Record = tuple[int, bytes, Any, "int | None"]
BATCH = 5000  # keys per apply() when building a temporary store, so progress can be shown
# dbm.dumb keeps a backup of its index; it belongs to the store but is not needed to read it.
SIDECARS = (*SUFFIXES, ".bak", "-wal", "-shm", "-journal")


def store_files(path: str) -> list[str]:
    """Every file that belongs to the store at `path`."""
    return [path + suffix for suffix in SIDECARS if os.path.isfile(path + suffix)]


def build_store(
    path: str, backend: str, records: Iterable[Record], progress: Progress, base: str = ""
) -> None:
    """Write `records` into a store at `path` (plus, first, a copy of the store `base`), atomically."""
    directory = os.path.dirname(os.path.abspath(path))
    temp = tempfile.mkdtemp(prefix=".leakdb-", dir=directory)
    try:
        staged = os.path.join(temp, "store")
        if base:
            for source in store_files(base):
                shutil.copyfile(source, staged + source[len(base) :])
        _fill(open_backend(backend, staged), records, progress)
        _move_into_place(staged, path)
    finally:
        progress.finish()
        shutil.rmtree(temp, ignore_errors=True)


def _fill(store: Backend, records: Iterable[Record], progress: Progress) -> None:
    store.open()
    try:
        batch: list[Change] = []
        for db, key, value, deadline in records:
            batch.append(Change(SET, db, key, value, deadline))
            if len(batch) >= BATCH:
                store.apply(batch)
                progress.advance(len(batch))
                batch = []
        if batch:
            store.apply(batch)
            progress.advance(len(batch))
    finally:
        store.close()


def _move_into_place(staged: str, path: str) -> None:
    # The data file goes first and the index (dbm.dumb's .dir) last, so a reader never finds an index
    # pointing into data that is not there yet.  Files of the old store that the new one lacks go.
    produced = sorted(store_files(staged), key=lambda name: name.endswith(".dir"))
    targets = {path + name[len(staged) :] for name in produced}
    for name in produced:
        os.replace(name, path + name[len(staged) :])
    for stale in store_files(path):
        if stale not in targets:
            os.remove(stale)


def merge_in_place(path: str, backend: str, records: Iterable[Record]) -> None:
    """Add `records` to the existing SQLite store at `path` in a single transaction."""
    store = open_backend(backend, path)
    store.open()
    try:
        for _ in store.load():  # every record is verified before the file is written to
            pass
        store.apply([Change(SET, db, key, value, deadline) for db, key, value, deadline in records])
    finally:
        store.close()
