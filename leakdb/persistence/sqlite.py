"""The default backend: an ordinary SQLite database (WAL mode) that the sqlite3 shell can open.

Every batch of changes is one transaction, so a process crash loses nothing that was committed.
Layout: ``leakdb_meta(name, value)`` holds the application name and format version; ``keys`` holds one
row per key with its Redis type, its serialized value and its deadline.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator

from ..engine.keyspace import DELETE, EXPIRE, FLUSHDB, SET, SWAPDB, Change, now_ms
from ..errors import StorageError
from .base import APPLICATION, FORMAT_VERSION, Backend, Record, deserialize, known_type, serialize

SQLITE_MAGIC = b"SQLite format 3\x00"

SCHEMA = """
CREATE TABLE IF NOT EXISTS leakdb_meta (name TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS keys (
    db INTEGER NOT NULL,
    key BLOB NOT NULL,
    type TEXT NOT NULL,
    value BLOB NOT NULL,
    expire_at_ms INTEGER,
    PRIMARY KEY (db, key)
) WITHOUT ROWID;
"""

UPSERT = "INSERT OR REPLACE INTO keys (db, key, type, value, expire_at_ms) VALUES (?, ?, ?, ?, ?)"
REMOVE = "DELETE FROM keys WHERE db = ? AND key = ?"
SET_DEADLINE = "UPDATE keys SET expire_at_ms = ? WHERE db = ? AND key = ?"


class SQLiteBackend(Backend):
    name = "sqlite"

    def __init__(self, filename: str) -> None:
        super().__init__(filename)
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    # -- opening -------------------------------------------------------------------------------------

    def open(self) -> None:
        if self._has_content():
            self._validate()
        # check_same_thread=False: write-behind flushes run on the timer thread; self._lock serialises.
        connection = sqlite3.connect(self.filename, check_same_thread=False, isolation_level=None)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.executescript(SCHEMA)
            connection.execute("BEGIN IMMEDIATE")
            connection.execute(
                "INSERT OR IGNORE INTO leakdb_meta VALUES ('application', ?), ('format_version', ?)",
                (APPLICATION, str(FORMAT_VERSION)),
            )
            connection.execute(
                "DELETE FROM keys WHERE expire_at_ms IS NOT NULL AND expire_at_ms <= ?", (now_ms(),)
            )
            connection.execute("COMMIT")
        except sqlite3.Error as error:
            connection.close()
            raise StorageError(f"{self.filename}: cannot open for writing: {error}") from error
        self._connection = connection

    def _has_content(self) -> bool:
        try:
            return os.path.getsize(self.filename) > 0
        except FileNotFoundError:
            return False
        except OSError as error:
            raise StorageError(f"{self.filename}: {error}") from error

    def _validate(self) -> None:
        """Refuse, without writing a byte, anything that is not a healthy LeakDB file we can read."""
        try:
            with open(self.filename, "rb") as file:
                header = file.read(len(SQLITE_MAGIC))
        except OSError as error:
            raise StorageError(f"{self.filename}: {error}") from error
        if header != SQLITE_MAGIC:
            raise StorageError(f"{self.filename} is not a LeakDB file (not an SQLite database)")
        reader = connect_readonly(self.filename)
        try:
            self._check(reader)
        except sqlite3.Error as error:
            raise StorageError(f"{self.filename} is damaged or unreadable: {error}") from error
        finally:
            reader.close()

    def _check(self, reader: sqlite3.Connection) -> None:
        tables = {row[0] for row in reader.execute("SELECT name FROM sqlite_master")}
        if not tables:
            return  # an empty SQLite database: ours to initialise
        if "leakdb_meta" not in tables or "keys" not in tables:
            raise StorageError(f"{self.filename} is an SQLite database but not a LeakDB file")
        meta = dict(reader.execute("SELECT name, value FROM leakdb_meta"))
        if meta.get("application") != APPLICATION:
            raise StorageError(f"{self.filename} is not a LeakDB file (application is not leakdb)")
        try:
            version = int(meta.get("format_version", ""))
        except ValueError:
            raise StorageError(f"{self.filename} has no valid LeakDB format version") from None
        if version > FORMAT_VERSION:
            raise StorageError(
                f"{self.filename} has LeakDB format version {version}, newer than the version "
                f"{FORMAT_VERSION} this LeakDB reads; upgrade LeakDB to open it"
            )
        problem = reader.execute("PRAGMA quick_check").fetchone()[0]
        if problem != "ok":
            raise StorageError(f"{self.filename} is damaged: {problem}")
        for (type_name,) in reader.execute("SELECT DISTINCT type FROM keys"):
            if not known_type(type_name):
                raise StorageError(
                    f"{self.filename} holds values of unknown type {type_name!r}; "
                    "was it written by a newer LeakDB?"
                )

    # -- reading and writing -------------------------------------------------------------------------

    def load(self) -> Iterator[Record]:
        connection = self._require()
        with self._lock:
            rows = connection.execute("SELECT db, key, type, value, expire_at_ms FROM keys")
            for db, key, type_name, blob, expire_at_ms in rows:
                yield db, bytes(key), deserialize(type_name, bytes(blob)), expire_at_ms

    def apply(self, changes: list[Change]) -> None:
        connection = self._require()
        with self._lock:
            connection.execute("BEGIN")
            try:
                _write_batch(connection, changes)
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def file_size(self) -> int:
        """The database plus its write-ahead log, which holds recent commits until a checkpoint."""
        size = 0
        for path in (self.filename, self.filename + "-wal"):
            try:
                size += os.path.getsize(path)
            except OSError:
                pass
        return size

    def _require(self) -> sqlite3.Connection:
        if self._connection is None:
            raise StorageError(f"{self.filename} is not open")
        return self._connection


def _write_batch(connection: sqlite3.Connection, changes: list[Change]) -> None:
    # Runs of SETs (nearly every batch) go through one executemany; order is kept across other ops.
    upserts = []
    for change in changes:
        if change.op == SET:
            type_name, blob = serialize(change.value)
            upserts.append((change.db, change.key, type_name, blob, change.expire_at_ms))
            continue
        if upserts:
            connection.executemany(UPSERT, upserts)
            upserts = []
        _write(connection, change)
    if upserts:
        connection.executemany(UPSERT, upserts)


def _write(connection: sqlite3.Connection, change: Change) -> None:
    op = change.op
    if op == SET:
        type_name, blob = serialize(change.value)
        connection.execute(UPSERT, (change.db, change.key, type_name, blob, change.expire_at_ms))
    elif op == DELETE:
        connection.execute(REMOVE, (change.db, change.key))
    elif op == EXPIRE:
        connection.execute(SET_DEADLINE, (change.expire_at_ms, change.db, change.key))
    elif op == FLUSHDB:
        connection.execute("DELETE FROM keys WHERE db = ?", (change.db,))
    elif op == SWAPDB:
        # Three steps through negative numbers, because (db, key) is unique at every row update.
        first, second = change.db, change.value
        connection.execute("UPDATE keys SET db = -1 - db WHERE db = ?", (first,))
        connection.execute("UPDATE keys SET db = ? WHERE db = ?", (first, second))
        connection.execute("UPDATE keys SET db = ? WHERE db = ?", (second, -1 - first))
    else:
        raise StorageError(f"unknown change operation {op!r}")


def connect_readonly(filename: str) -> sqlite3.Connection:
    """A connection that cannot write to `filename` and leaves no -wal or -shm file behind.

    Without a write-ahead log the main file is the whole database, and reading it as immutable keeps
    SQLite from creating sidecar files.  With one (a server has the file open, or crashed), it is read
    as an ordinary WAL reader, which sees the last committed transaction and blocks no writer.
    """
    uri = "file:" + _quote_path(os.path.abspath(filename)) + "?mode=ro"
    if not os.path.exists(filename + "-wal"):
        uri += "&immutable=1"
    try:
        return sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as error:
        raise StorageError(f"{filename}: cannot open read-only: {error}") from error


def _quote_path(path: str) -> str:
    # Characters with a meaning in SQLite URIs must be percent-encoded.
    return path.replace("%", "%25").replace("?", "%3f").replace("#", "%23")
