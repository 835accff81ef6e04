"""Read-only access to LeakDB data files for the ``leakdb`` tool, whichever backend wrote them.

:func:`open_data_file` recognises a file and returns a :class:`DataFile` that can list, look up and
verify its records without writing a byte, while a server may still have the file open.
"""

from __future__ import annotations

import dbm
import json
import math
import os
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..engine.keyspace import DEFAULT_DATABASES, META_DB
from ..errors import StorageError
from ..persistence.base import APPLICATION, FORMAT_VERSION, deserialize, known_type
from ..persistence.containers import unpack_scored
from ..persistence.shelve import META_KEY, SUFFIXES, decode_record
from ..persistence.sqlite import SQLITE_MAGIC, connect_readonly

# Deadlines past year 9999 are not something LeakDB writes; such a number is damage, not a long TTL.
MAX_DEADLINE_MS = 253_402_300_800_000


@dataclass(frozen=True)
class Entry:
    """One stored key as the file holds it: the value still in its stored (serialized) form."""

    db: int
    key: bytes
    type_name: str
    blob: bytes
    expire_at_ms: int | None

    def value(self) -> Any:
        return deserialize(self.type_name, self.blob)


@dataclass(frozen=True)
class BadRecord:
    """A record that cannot be read back; `where` names it as precisely as the file allows."""

    where: str
    problem: str

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}"


def entry_problem(entry: Entry, databases: int = DEFAULT_DATABASES) -> str | None:
    """Why LeakDB could not load `entry`, or None when it is sound."""
    if not 0 <= entry.db < databases and entry.db != META_DB:  # META_DB: the function libraries
        return f"database {entry.db} is outside 0..{databases - 1}"
    if not known_type(entry.type_name):
        return f"unknown value type {entry.type_name!r} (written by a newer LeakDB?)"
    deadline = entry.expire_at_ms
    if deadline is not None and not 0 < deadline <= MAX_DEADLINE_MS:
        return f"expiry deadline {deadline} ms is not a plausible Unix time"
    try:
        entry.value()
    except (StorageError, ValueError) as error:
        return f"{entry.type_name} value does not decode: {error}"
    if entry.type_name == "zset":
        return _zset_problem(entry.blob)
    return None


def _zset_problem(blob: bytes) -> str | None:
    # Loading keeps the last of a repeated member and would order a NaN score arbitrarily; LeakDB
    # never writes either, so both are damage.
    seen: set[bytes] = set()
    for member, score in unpack_scored(blob):
        if math.isnan(score):
            return f"zset member {member!r} has a NaN score"
        if member in seen:
            return f"zset member {member!r} is stored twice"
        seen.add(member)
    return None


def describe(db: int, key: bytes) -> str:
    return f"db {db} key {key!r}"


class DataFile(ABC):
    """A LeakDB data file opened for reading only."""

    backend = ""

    def __init__(self, path: str) -> None:
        self.path = path
        self.meta: dict[str, str] = {}

    @abstractmethod
    def count(self) -> int:
        """Stored records, expired ones included."""

    @abstractmethod
    def entries(self) -> Iterator[Entry | BadRecord]:
        """Every stored record ordered by (db, key); damaged ones as BadRecord."""

    @abstractmethod
    def lookup(self, db: int, key: bytes) -> Entry | None:
        """The record of one key (None when absent); raises StorageError if it is damaged."""

    @abstractmethod
    def files(self) -> list[str]:
        """The paths that make up the store."""

    def summary(self, now_ms: int) -> list[tuple[int, str, int, int, int]]:
        """(db, type, keys, keys with a deadline, keys past their deadline) of every readable record."""
        counts: dict[tuple[int, str], list[int]] = {}
        for entry in self.entries():
            if isinstance(entry, Entry):
                row = counts.setdefault((entry.db, entry.type_name), [0, 0, 0])
                row[0] += 1
                if entry.expire_at_ms is not None:
                    row[1] += 1
                    row[2] += entry.expire_at_ms <= now_ms
        return [(db, type_name, *row) for (db, type_name), row in sorted(counts.items())]

    def structure_problems(self) -> Iterator[str]:
        """Damage below the level of records (page checks and the like)."""
        return iter(())

    @abstractmethod
    def close(self) -> None:
        """Release the file."""

    @property
    def format_version(self) -> int:
        return int(self.meta.get("format_version", 0))

    def file_size(self) -> int:
        return sum(os.path.getsize(path) for path in self.files())

    def mtime(self) -> float:
        return max(os.path.getmtime(path) for path in self.files())

    def __enter__(self) -> DataFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class SQLiteFile(DataFile):
    """An SQLite store read in one read transaction, so every answer comes from one snapshot."""

    backend = "sqlite"

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self._connection = connect_readonly(path)
        try:
            self._connection.execute("BEGIN")
            self.meta = self._read_meta()
        except sqlite3.DatabaseError as error:
            self._connection.close()
            raise StorageError(f"{path} is damaged or unreadable: {error}") from error
        except StorageError:
            self._connection.close()
            raise

    def _read_meta(self) -> dict[str, str]:
        tables = {row[0] for row in self._connection.execute("SELECT name FROM sqlite_master")}
        if not {"leakdb_meta", "keys"} <= tables:
            raise StorageError(f"{self.path} is an SQLite database but not a LeakDB file")
        rows = self._connection.execute("SELECT name, value FROM leakdb_meta")
        meta = {str(name): str(value) for name, value in rows}
        _check_meta(self.path, meta)
        return meta

    def count(self) -> int:
        with self._reading():
            return self._connection.execute("SELECT count(*) FROM keys").fetchone()[0]

    @contextmanager
    def _reading(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.DatabaseError as error:
            raise StorageError(f"{self.path} is damaged: {error}") from error

    def entries(self) -> Iterator[Entry | BadRecord]:
        try:
            rows = self._connection.execute(
                "SELECT db, key, type, value, expire_at_ms, typeof(db), typeof(key), typeof(value),"
                " typeof(expire_at_ms) FROM keys ORDER BY db, key"
            )
            for row in rows:
                yield _sqlite_entry(row)
        except sqlite3.DatabaseError as error:
            yield BadRecord("keys table", f"reading stopped: {error}")

    def lookup(self, db: int, key: bytes) -> Entry | None:
        with self._reading():
            row = self._connection.execute(
                "SELECT db, key, type, value, expire_at_ms, typeof(db), typeof(key), typeof(value),"
                " typeof(expire_at_ms) FROM keys WHERE db = ? AND key = ?",
                (db, key),
            ).fetchone()
        if row is None:
            return None
        entry = _sqlite_entry(row)
        if isinstance(entry, BadRecord):
            raise StorageError(f"{self.path}: {entry}")
        return entry

    def summary(self, now_ms: int) -> list[tuple[int, str, int, int, int]]:
        # Counted by SQLite, which is much quicker than decoding every row on a big file.
        with self._reading():
            return self._connection.execute(
                "SELECT db, type, count(*), count(expire_at_ms), count(*) FILTER (WHERE expire_at_ms <= ?)"
                " FROM keys GROUP BY db, type ORDER BY db, type",
                (now_ms,),
            ).fetchall()

    def structure_problems(self) -> Iterator[str]:
        try:
            for (message,) in self._connection.execute("PRAGMA integrity_check"):
                if message != "ok":
                    yield f"SQLite integrity check: {message}"
        except sqlite3.DatabaseError as error:
            yield f"SQLite integrity check failed: {error}"

    def files(self) -> list[str]:
        return [p for p in (self.path, self.path + "-wal") if os.path.exists(p)]

    def close(self) -> None:
        self._connection.close()


def _sqlite_entry(row: tuple) -> Entry | BadRecord:
    db, key, type_name, blob, deadline, db_kind, key_kind, blob_kind, deadline_kind = row
    where = describe(db, key if isinstance(key, bytes) else str(key).encode())
    if db_kind != "integer":
        return BadRecord(where, f"database number is stored as {db_kind}")
    if key_kind != "blob" or blob_kind != "blob":
        return BadRecord(where, f"key and value must be blobs, found {key_kind} and {blob_kind}")
    if deadline_kind not in ("integer", "null"):
        return BadRecord(where, f"expiry deadline is stored as {deadline_kind}")
    return Entry(db, bytes(key), str(type_name), bytes(blob), deadline)


class ShelveFile(DataFile):
    """A dbm store.  dbm has no locks: a server writing at the same time can be seen half-way."""

    backend = "shelve"

    def __init__(self, path: str) -> None:
        super().__init__(path)
        try:
            self._dbm: Any = dbm.open(path, "r")  # noqa: SIM115 (closed by close())
        except Exception as error:
            raise StorageError(f"{path} is damaged or unreadable: {error}") from error
        try:
            self.meta = self._read_meta()
            self._names = sorted(
                (n for n in self._dbm.keys() if n != META_KEY),  # noqa: SIM118 (dbm.gnu is not iterable)
                key=_name_order,
            )
        except BaseException:
            self._dbm.close()
            raise

    def _read_meta(self) -> dict[str, str]:
        raw = self._dbm.get(META_KEY)
        if raw is None:
            raise StorageError(f"{self.path} is a dbm database but not a LeakDB file")
        try:
            meta = {str(k): str(v) for k, v in json.loads(raw).items()}
        except (ValueError, AttributeError):
            raise StorageError(f"{self.path} has a damaged LeakDB header") from None
        _check_meta(self.path, meta)
        return meta

    def count(self) -> int:
        return len(self._names)

    def entries(self) -> Iterator[Entry | BadRecord]:
        for name in self._names:
            yield self._entry(name)

    def _entry(self, name: bytes) -> Entry | BadRecord:
        try:
            record = self._dbm[name]
        except Exception as error:
            return BadRecord(f"record {name!r}", f"cannot be read: {error}")
        db_text, _, key = name.partition(b":")
        where = describe(int(db_text), key) if db_text.isdigit() else f"record {name!r}"
        try:
            header = record.partition(b"\n")[0]
            type_name = header.split(b" ")[0].decode()
            db, key, _, deadline = decode_record(name, record)
        except (ValueError, UnicodeDecodeError):
            return BadRecord(where, f"malformed record header {record[:40]!r}")
        except StorageError as error:
            return BadRecord(where, str(error))
        return Entry(db, key, type_name, record.partition(b"\n")[2], deadline)

    def lookup(self, db: int, key: bytes) -> Entry | None:
        name = b"%d:" % db + key
        if name not in self._dbm:
            return None
        entry = self._entry(name)
        if isinstance(entry, BadRecord):
            raise StorageError(f"{self.path}: {entry}")
        return entry

    def files(self) -> list[str]:
        return [self.path + s for s in SUFFIXES if os.path.isfile(self.path + s)]

    def close(self) -> None:
        self._dbm.close()


def _name_order(name: bytes) -> tuple[int, bytes]:
    db_text, _, key = name.partition(b":")
    return (int(db_text) if db_text.isdigit() else -1), key


def _check_meta(path: str, meta: dict[str, str]) -> None:
    if meta.get("application") != APPLICATION:
        raise StorageError(f"{path} is not a LeakDB file (application is not {APPLICATION!r})")
    try:
        version = int(meta.get("format_version", ""))
    except ValueError:
        raise StorageError(f"{path} has no valid LeakDB format version") from None
    if version > FORMAT_VERSION:
        raise StorageError(
            f"{path} has LeakDB format version {version}, newer than the version {FORMAT_VERSION} "
            "this LeakDB reads; upgrade LeakDB to read it"
        )


def detect_backend(path: str) -> str | None:
    """'sqlite' or 'shelve' for a store at `path`, None when nothing is there; StorageError otherwise."""
    if os.path.isfile(path):
        with open(path, "rb") as file:
            header = file.read(len(SQLITE_MAGIC))
        if header == SQLITE_MAGIC:
            return "sqlite"
    kind = dbm.whichdb(path)
    if kind:
        return "shelve"
    if kind is None and not os.path.exists(path):
        return None
    raise StorageError(f"{path} is not a LeakDB file (neither an SQLite nor a dbm database)")


def open_data_file(path: str) -> DataFile:
    """The store at `path`, read-only; StorageError for a missing, foreign, newer or unreadable file."""
    backend = detect_backend(path)
    if backend is None:
        raise StorageError(f"{path} does not exist")
    return SQLiteFile(path) if backend == "sqlite" else ShelveFile(path)


def sound_entries(data: DataFile, databases: int = DEFAULT_DATABASES) -> Iterator[Entry]:
    """Every record, raising StorageError at the first one LeakDB could not load."""
    for entry in data.entries():
        problem = str(entry) if isinstance(entry, BadRecord) else entry_problem(entry, databases)
        if problem is not None:
            where = "" if isinstance(entry, BadRecord) else describe(entry.db, entry.key) + ": "
            raise StorageError(f"{data.path}: {where}{problem} (run 'leakdb check' for a full report)")
        yield entry
