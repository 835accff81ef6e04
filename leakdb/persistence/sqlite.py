"""The default backend: an ordinary SQLite database (WAL mode) that the sqlite3 shell can open.

Every batch of changes is one transaction, so a process crash loses nothing that was committed.
Layout: ``leakdb_meta(name, value)`` holds the application name and format version; ``keys`` holds one
row per key with its Redis type, its serialized value and its deadline.

An existing file is read through a read-only connection first: its header, SQLite's integrity check
and, while :meth:`SQLiteBackend.load` streams them, every record by the rules ``leakdb check``
applies.  Only once all of that passed is it opened for writing, so a damaged file is never written
to.  Statements and commits that change the file go through :mod:`.diskio`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

from ..engine.keyspace import DELETE, EXPIRE, FLUSHDB, SET, SWAPDB, Change, now_ms
from ..errors import StorageError
from . import diskio, verify
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
        self._verified = True  # False between open() of an existing file and the end of load()
        self._lock = threading.Lock()

    # -- opening -------------------------------------------------------------------------------------

    def open(self) -> None:
        if self._has_content() and self._validate():
            self._verified = False  # the writer opens once load() has read every record
        else:
            self._open_writer()

    def _open_writer(self) -> None:
        # check_same_thread=False: write-behind flushes run on the timer thread; self._lock serialises.
        path = self.filename
        try:
            connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as error:
            raise StorageError(f"{path}: cannot open for writing: {error}") from error
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            # One transaction creates the tables and the header: a failed creation leaves none of it.
            diskio.execute(connection, path, "BEGIN IMMEDIATE")
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    connection.execute(statement)
            diskio.execute(
                connection,
                path,
                "INSERT OR IGNORE INTO leakdb_meta VALUES ('application', ?), ('format_version', ?)",
                (APPLICATION, str(FORMAT_VERSION)),
            )
            diskio.execute(
                connection,
                path,
                "DELETE FROM keys WHERE expire_at_ms IS NOT NULL AND expire_at_ms <= ?",
                (now_ms(),),
            )
            diskio.commit(connection, path)
        except sqlite3.Error as error:
            connection.close()
            raise StorageError(f"{path}: cannot open for writing: {error}") from error
        self._connection = connection
        self._verified = True

    def _has_content(self) -> bool:
        try:
            return os.path.getsize(self.filename) > 0
        except FileNotFoundError:
            return False
        except OSError as error:
            raise StorageError(f"{self.filename}: {error}") from error

    def _validate(self) -> bool:
        """Refuse, without writing a byte, anything that is not a healthy LeakDB file we can read;
        False for an SQLite database with no tables yet (ours to initialise)."""
        try:
            with open(self.filename, "rb") as file:
                header = file.read(len(SQLITE_MAGIC))
        except OSError as error:
            raise StorageError(f"{self.filename}: {error}") from error
        if header != SQLITE_MAGIC:
            raise StorageError(f"{self.filename} is not a LeakDB file (not an SQLite database)")
        reader = connect_readonly(self.filename)
        try:
            return self._check(reader)
        except sqlite3.Error as error:
            raise StorageError(f"{self.filename} is damaged or unreadable: {error}") from error
        finally:
            reader.close()

    def _check(self, reader: sqlite3.Connection) -> bool:
        tables = {row[0] for row in reader.execute("SELECT name FROM sqlite_master")}
        if not tables:
            return False  # an empty SQLite database: ours to initialise
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
        problem = reader.execute("PRAGMA integrity_check").fetchone()[0]
        if problem != "ok":
            raise StorageError(
                f"{self.filename} is damaged: {problem} (run 'leakdb check' for a full report)"
            )
        for (type_name,) in reader.execute("SELECT DISTINCT type FROM keys"):
            if not known_type(type_name):
                raise StorageError(
                    f"{self.filename} holds values of unknown type {type_name!r}; "
                    "was it written by a newer LeakDB?"
                )
        return True

    # -- reading and writing -------------------------------------------------------------------------

    def load(self) -> Iterator[Record]:
        if self._verified:
            connection = self._require()  # a new file: nothing to check
            with self._lock:
                rows = connection.execute("SELECT db, key, type, value, expire_at_ms FROM keys")
                for db, key, type_name, blob, expire_at_ms in rows:
                    yield db, bytes(key), deserialize(type_name, bytes(blob)), expire_at_ms
            return
        reader = connect_readonly(self.filename)
        try:
            rows = reader.execute(f"SELECT {ROW_COLUMNS} FROM keys")
            for row in rows:
                yield self._checked(row)
        except sqlite3.DatabaseError as error:
            raise StorageError(f"{self.filename} is damaged: {error}") from error
        finally:
            reader.close()
        self._open_writer()  # every record was sound

    def _checked(self, row: tuple) -> Record:
        db, key, type_name, blob, deadline, *kinds = row
        problem = row_problem(db, key, kinds)
        if problem is None:
            try:
                return (
                    db,
                    key,
                    verify.sound_value(db, key, type_name, blob, deadline, self.databases),
                    deadline,
                )
            except StorageError as error:
                problem = str(error)
        else:
            problem = (
                f"{verify.describe(db, key if isinstance(key, bytes) else str(key).encode())}: {problem}"
            )
        raise StorageError(f"{self.filename}: {problem} (run 'leakdb check' for a full report)")

    def apply(self, changes: list[Change]) -> None:
        connection = self._writer()
        path = self.filename
        with self._lock:
            diskio.execute(connection, path, "BEGIN")
            try:
                _write_batch(connection, path, changes)
                diskio.commit(connection, path)
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise

    def probe(self) -> None:
        connection = self._writer()
        path = self.filename
        with self._lock:
            diskio.execute(connection, path, "BEGIN")
            try:
                diskio.execute(
                    connection,
                    path,
                    "UPDATE leakdb_meta SET value = value WHERE name = 'format_version'",
                )
                diskio.commit(connection, path)
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise

    def fetch(self, db: int, key: bytes) -> tuple[Any, int | None] | None:
        connection = self._require()
        with self._lock:
            row = connection.execute(
                "SELECT type, value, expire_at_ms FROM keys WHERE db = ? AND key = ?", (db, key)
            ).fetchone()
        if row is None:
            return None
        return deserialize(row[0], bytes(row[1])), row[2]

    def fetch_db(self, db: int) -> Iterator[tuple[bytes, Any, int | None]]:
        connection = self._require()
        with self._lock:
            rows = connection.execute(
                "SELECT key, type, value, expire_at_ms FROM keys WHERE db = ?", (db,)
            ).fetchall()
        for key, type_name, blob, deadline in rows:
            yield bytes(key), deserialize(type_name, bytes(blob)), deadline

    def _writer(self) -> sqlite3.Connection:
        if self._connection is None and not self._verified:
            raise StorageError(f"{self.filename}: not verified yet (load() it before writing)")
        return self._require()

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


# The columns a row is verified by: the values, then SQLite's storage class of each.
ROW_COLUMNS = (
    "db, key, type, value, expire_at_ms, typeof(db), typeof(key), typeof(value), typeof(expire_at_ms)"
)


def row_problem(db: Any, key: Any, kinds: list[str]) -> str | None:
    """What is wrong with a row's storage classes (ROW_COLUMNS' typeof() values), if anything."""
    db_kind, key_kind, blob_kind, deadline_kind = kinds
    if db_kind != "integer":
        return f"database number is stored as {db_kind}"
    if key_kind != "blob" or blob_kind != "blob":
        return f"key and value must be blobs, found {key_kind} and {blob_kind}"
    if deadline_kind not in ("integer", "null"):
        return f"expiry deadline is stored as {deadline_kind}"
    return None


def _write_batch(connection: sqlite3.Connection, path: str, changes: list[Change]) -> None:
    # Runs of SETs (nearly every batch) go through one executemany; order is kept across other ops.
    upserts = []
    for change in changes:
        if change.op == SET:
            type_name, blob = serialize(change.value)
            upserts.append((change.db, change.key, type_name, blob, change.expire_at_ms))
            continue
        if upserts:
            diskio.executemany(connection, path, UPSERT, upserts)
            upserts = []
        _write(connection, path, change)
    if upserts:
        diskio.executemany(connection, path, UPSERT, upserts)


def _write(connection: sqlite3.Connection, path: str, change: Change) -> None:
    op = change.op
    run = diskio.execute
    if op == DELETE:
        run(connection, path, REMOVE, (change.db, change.key))
    elif op == EXPIRE:
        run(connection, path, SET_DEADLINE, (change.expire_at_ms, change.db, change.key))
    elif op == FLUSHDB:
        run(connection, path, "DELETE FROM keys WHERE db = ?", (change.db,))
    elif op == SWAPDB:
        # Three steps through negative numbers, because (db, key) is unique at every row update.
        first, second = change.db, change.value
        run(connection, path, "UPDATE keys SET db = -1 - db WHERE db = ?", (first,))
        run(connection, path, "UPDATE keys SET db = ? WHERE db = ?", (first, second))
        run(connection, path, "UPDATE keys SET db = ? WHERE db = ?", (second, -1 - first))
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
