"""The ``shelve`` backend: the original LeakDB's file family, the standard library's dbm.

Records are written through :mod:`dbm` directly rather than through :mod:`shelve`, so opening a file
never unpickles (runs) anything from it.  dbm has no transactions: a batch is written and then synced,
and a crash in the middle of a batch can leave part of it applied.  Prefer ``sqlite`` for durability.
"""

from __future__ import annotations

import dbm
import json
import os
import threading
from collections.abc import Iterator
from typing import Any

from ..errors import StorageError
from ..keyspace import DELETE, EXPIRE, FLUSHDB, SET, SWAPDB, Change
from .base import APPLICATION, FORMAT_VERSION, Backend, Record, deserialize, serialize

META_KEY = b"\x00leakdb"  # data keys start with a database number, so they never collide with it
# Files a dbm implementation may create for one store, depending on which one the platform has.
SUFFIXES = ("", ".db", ".dat", ".dir", ".pag")


class ShelveBackend(Backend):
    name = "shelve"

    def __init__(self, filename: str) -> None:
        super().__init__(filename)
        self._dbm: Any = None
        self._loaded: list[Record] = []
        self._lock = threading.Lock()

    def open(self) -> None:
        kind = dbm.whichdb(self.filename)
        if kind == "" and self._plain_file_empty():
            kind = None  # an empty file is a new store
        if kind == "":
            raise StorageError(f"{self.filename} is not a LeakDB file (not a dbm database)")
        if kind is not None:
            self._loaded = self._validate()
        try:
            # "n" for a new store: dbm.open("c") refuses an existing empty file it cannot identify.
            flag = "n" if kind is None else "w"
            self._dbm = dbm.open(self.filename, flag)  # noqa: SIM115 (kept open until close())
            if kind is None:
                meta = {"application": APPLICATION, "format_version": FORMAT_VERSION}
                self._dbm[META_KEY] = json.dumps(meta).encode()
                self._sync()
        except Exception as error:
            raise StorageError(f"{self.filename}: cannot open for writing: {error}") from error

    def _plain_file_empty(self) -> bool:
        try:
            return os.path.getsize(self.filename) == 0
        except OSError:
            return False

    def _validate(self) -> list[Record]:
        """Read the whole store read-only; refuse foreign, damaged or newer files untouched."""
        try:
            reader = dbm.open(self.filename, "r")  # noqa: SIM115 (closed in finally)
        except Exception as error:
            raise StorageError(f"{self.filename} is damaged or unreadable: {error}") from error
        try:
            raw_meta = reader.get(META_KEY)
            if raw_meta is None:
                raise StorageError(f"{self.filename} is a dbm database but not a LeakDB file")
            try:
                meta = json.loads(raw_meta)
                version = int(meta["format_version"])
                application = meta["application"]
            except (ValueError, KeyError, TypeError):
                raise StorageError(f"{self.filename} has a damaged LeakDB header") from None
            if application != APPLICATION:
                raise StorageError(f"{self.filename} is not a LeakDB file")
            if version > FORMAT_VERSION:
                raise StorageError(
                    f"{self.filename} has LeakDB format version {version}, newer than the version "
                    f"{FORMAT_VERSION} this LeakDB reads; upgrade LeakDB to open it"
                )
            records = []
            for name in reader.keys():  # noqa: SIM118 (dbm.gnu objects are not iterable)
                if name != META_KEY:
                    records.append(decode_record(name, reader[name]))
            return records
        except StorageError:
            raise
        except Exception as error:
            raise StorageError(f"{self.filename} is damaged: {error}") from error
        finally:
            reader.close()

    def load(self) -> Iterator[Record]:
        records, self._loaded = self._loaded, []
        yield from records

    def apply(self, changes: list[Change]) -> None:
        with self._lock:
            store = self._dbm
            if store is None:
                raise StorageError(f"{self.filename} is not open")
            for change in changes:
                _write(store, change)
            self._sync()

    def _sync(self) -> None:
        sync = getattr(self._dbm, "sync", None)
        if sync is not None:
            sync()

    def close(self) -> None:
        with self._lock:
            if self._dbm is not None:
                self._dbm.close()
                self._dbm = None

    def file_size(self) -> int:
        size = 0
        for suffix in SUFFIXES:
            try:
                size += os.path.getsize(self.filename + suffix)
            except OSError:
                pass
        return size


def _record_key(db: int, key: bytes) -> bytes:
    return b"%d:" % db + key


def _encode_record(value: Any, expire_at_ms: int | None) -> bytes:
    type_name, blob = serialize(value)
    deadline = -1 if expire_at_ms is None else expire_at_ms
    return b"%s %d %d\n" % (type_name.encode(), deadline, len(blob)) + blob


def decode_record(name: bytes, record: bytes) -> Record:
    """One stored (name, record) pair as a Record; raises ValueError or StorageError if it is damaged."""
    db, _, key = name.partition(b":")
    header, _, blob = record.partition(b"\n")
    type_name, deadline, length = header.split(b" ")
    if int(length) != len(blob):
        raise StorageError(f"record {key!r} is truncated")
    expire_at_ms = int(deadline)
    return int(db), key, deserialize(type_name.decode(), blob), None if expire_at_ms < 0 else expire_at_ms


def _keys_of(store: Any, db: int) -> list[bytes]:
    prefix = b"%d:" % db
    return [name for name in store.keys() if name.startswith(prefix)]  # noqa: SIM118


def _write(store: Any, change: Change) -> None:
    op = change.op
    if op == SET:
        store[_record_key(change.db, change.key)] = _encode_record(change.value, change.expire_at_ms)
    elif op == DELETE:
        name = _record_key(change.db, change.key)
        if name in store:
            del store[name]
    elif op == EXPIRE:
        name = _record_key(change.db, change.key)
        if name in store:
            _, _, value, _ = decode_record(name, store[name])
            store[name] = _encode_record(value, change.expire_at_ms)
    elif op == FLUSHDB:
        for name in _keys_of(store, change.db):
            del store[name]
    elif op == SWAPDB:
        first, second = change.db, change.value
        moved = {}
        for source, target in ((first, second), (second, first)):
            for name in _keys_of(store, source):
                moved[_record_key(target, name.partition(b":")[2])] = store[name]
                del store[name]
        for name, record in moved.items():
            store[name] = record
    else:
        raise StorageError(f"unknown change operation {op!r}")
