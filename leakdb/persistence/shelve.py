"""The ``shelve`` backend: the original LeakDB's file family, the standard library's dbm.

Stores are dbm.dumb's ``NAME.dat`` + ``NAME.dir`` pair (what ``dbm.open`` creates where no gdbm or ndbm
is built in, and what every Python reads), written by :mod:`.dumbdbm` so that a SIGKILL never loses a
batch :meth:`ShelveBackend.apply` has returned from, and a batch is on disk whole or not at all.
Every record is verified (by the rules ``leakdb check`` applies) before anything is written to an
existing store.  A gdbm or ndbm store made on another machine is still opened, through :mod:`dbm` as
before, with only that library's own crash safety.  Records are written through dbm directly rather
than through :mod:`shelve`, so opening a file never unpickles (runs) anything from it.

Format versions: 1 is LeakDB's first layout (a 512-byte block per value); 2 packs values, which
dbm.dumb still reads but an older LeakDB must not write, so it refuses version 2.  A version 1 store
becomes version 2 when this LeakDB opens it for writing.
"""

from __future__ import annotations

import dbm
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

from ..engine.keyspace import DELETE, EXPIRE, FLUSHDB, SET, SWAPDB, Change
from ..errors import StorageError
from . import verify
from .base import APPLICATION, Backend, Record, serialize
from .dumbdbm import BLOCK, DumbStore

logger = logging.getLogger("leakdb.storage")

META_KEY = b"\x00leakdb"  # data keys start with a database number, so they never collide with it
# Files a dbm implementation may create for one store, depending on which one the platform has.
SUFFIXES = ("", ".db", ".dat", ".dir", ".pag")
DUMB = "dbm.dumb"
FORMAT_VERSION = 2  # the shelve layout this LeakDB writes: packed values (see the module's notes)


def _header() -> bytes:
    return json.dumps({"application": APPLICATION, "format_version": FORMAT_VERSION}).encode()


def _nothing() -> None:
    pass


class ShelveBackend(Backend):
    name = "shelve"

    def __init__(self, filename: str) -> None:
        super().__init__(filename)
        self._dbm: Any = None
        self._commit: Callable[[], None] = _nothing
        self._rollback: Callable[[], None] = _nothing
        self._loaded: list[Record] = []
        self._lock = threading.Lock()

    def open(self) -> None:
        kind = self._kind()
        if kind == DUMB:
            store = self._open_dumb()
        elif kind is None:
            store = self._create_dumb()
        else:
            store = self._open_other(kind)
        self._dbm = store
        if isinstance(store, DumbStore):
            self._commit, self._rollback = store.commit, store.rollback
        else:
            self._commit = getattr(store, "sync", _nothing)

    def _kind(self) -> str | None:
        """The dbm module of the store at filename, or None when there is none yet."""
        kind = dbm.whichdb(self.filename)
        if kind not in (None, "", DUMB):
            return kind  # gdbm or ndbm, made where Python has them
        if kind == DUMB or self._has_dumb_files():
            return DUMB
        if kind == "" and not self._plain_file_empty():
            raise StorageError(f"{self.filename} is not a LeakDB file (not a dbm database)")
        return None  # nothing there, or an empty file: a new store

    def _has_dumb_files(self) -> bool:
        """Whether a dbm.dumb store is there, even one whose index a crash left as .bak only.  A .dat
        alone holding at most our header is a store whose creation was interrupted: not a store."""
        base = self.filename
        if os.path.exists(base + ".dir") or os.path.exists(base + ".bak"):
            return True
        try:
            with open(base + ".dat", "rb") as handle:
                start = handle.read(BLOCK + 1)
        except FileNotFoundError:
            return False
        if start == b"":
            return False
        try:  # nothing but a header value: a creation killed before its first index
            header = json.loads(start.rstrip(b"\0"))
        except ValueError:
            return True
        return not (isinstance(header, dict) and header.get("application") == APPLICATION)

    def _plain_file_empty(self) -> bool:
        try:
            return os.path.getsize(self.filename) == 0
        except OSError:
            return False

    def _open_dumb(self) -> DumbStore:
        store = DumbStore.open(self.filename, META_KEY)  # read-only until every record is verified
        try:
            self._loaded, version = _validate(store, self.filename, self.databases, store.items())
            store.start_writing()
            if version < FORMAT_VERSION:
                store[META_KEY] = _header()  # before any value is packed: older LeakDBs now refuse it
                store.commit()
            if store.wasteful():
                store.compact()
        except StorageError:
            store.close()
            raise
        except OSError as error:
            store.close()
            raise StorageError(f"{self.filename}: cannot open for writing: {_os_reason(error)}") from error
        return store

    def _create_dumb(self) -> DumbStore:
        try:
            store = DumbStore.create(self.filename, META_KEY, _header())
        except OSError as error:
            raise StorageError(f"{self.filename}: cannot create: {_os_reason(error)}") from error
        return store

    def _open_other(self, kind: str) -> Any:
        try:
            reader = dbm.open(self.filename, "r")  # noqa: SIM115 (closed in finally)
        except Exception as error:
            raise StorageError(f"{self.filename} is damaged or unreadable: {error}") from error
        try:
            pairs = ((name, reader[name]) for name in reader.keys())  # noqa: SIM118 (dbm.gnu)
            self._loaded, _ = _validate(reader, self.filename, self.databases, pairs)
        finally:
            reader.close()
        try:
            return dbm.open(self.filename, "w")
        except Exception as error:
            raise StorageError(f"{self.filename}: cannot open {kind} for writing: {error}") from error

    def load(self) -> Iterator[Record]:
        records, self._loaded = self._loaded, []
        yield from records

    def apply(self, changes: list[Change]) -> None:
        with self._lock:
            store = self._require()
            try:
                for change in changes:
                    _write(store, change)
                self._commit()
            except BaseException:
                self._rollback()
                raise

    def probe(self) -> None:
        with self._lock:
            store = self._require()
            try:
                store[META_KEY] = _header()
                self._commit()
            except BaseException:
                self._rollback()
                raise

    def fetch(self, db: int, key: bytes) -> tuple[Any, int | None] | None:
        with self._lock:
            store = self._require()
            name = _record_key(db, key)
            if name not in store:
                return None
            _, _, value, deadline = decode_record(name, store[name])
            return value, deadline

    def fetch_db(self, db: int) -> Iterator[tuple[bytes, Any, int | None]]:
        with self._lock:
            store = self._require()
            records = [decode_record(name, store[name]) for name in _keys_of(store, db)]
        for _, key, value, deadline in records:
            yield key, value, deadline

    def _require(self) -> Any:
        if self._dbm is None:
            raise StorageError(f"{self.filename} is not open")
        return self._dbm

    def close(self) -> None:
        with self._lock:
            store = self._dbm
            if store is None:
                return
            self._dbm = None
            try:
                if isinstance(store, DumbStore):
                    store.finish()
            except OSError as error:  # the journal stays valid; the next open reads it as it is
                logger.warning("%s: folding the index at close failed: %s", self.filename, error)
            finally:
                store.close()

    def file_size(self) -> int:
        size = 0
        for suffix in SUFFIXES:
            try:
                size += os.path.getsize(self.filename + suffix)
            except OSError:
                pass
        return size


def _validate(reader: Any, filename: str, databases: int, pairs: Any) -> tuple[list[Record], int]:
    """Every record of an open store, and its format version; refuse foreign, damaged or newer
    files (read-only), naming the first bad record."""
    version = _check_header(reader.get(META_KEY), filename)
    records = []
    try:
        for name, raw in pairs:
            if name != META_KEY:
                records.append(checked_record(name, raw, databases))
    except StorageError as error:
        raise StorageError(f"{filename}: {error} (run 'leakdb check' for a full report)") from None
    return records, version


def _os_reason(error: OSError) -> str:
    reason = error.strerror or str(error)
    return f"{reason}: {error.filename}" if error.filename else reason


def _check_header(raw_meta: bytes | None, filename: str) -> int:
    if raw_meta is None:
        raise StorageError(f"{filename} is a dbm database but not a LeakDB file")
    try:
        meta = json.loads(raw_meta)
        version = int(meta["format_version"])
        application = meta["application"]
    except (ValueError, KeyError, TypeError):
        raise StorageError(f"{filename} has a damaged LeakDB header") from None
    if application != APPLICATION:
        raise StorageError(f"{filename} is not a LeakDB file")
    if version > FORMAT_VERSION:
        raise StorageError(
            f"{filename} has LeakDB format version {version}, newer than the version "
            f"{FORMAT_VERSION} this LeakDB reads; upgrade LeakDB to open it"
        )
    return version


def _record_key(db: int, key: bytes) -> bytes:
    return b"%d:" % db + key


def _encode_record(value: Any, expire_at_ms: int | None) -> bytes:
    type_name, blob = serialize(value)
    deadline = -1 if expire_at_ms is None else expire_at_ms
    return b"%s %d %d\n" % (type_name.encode(), deadline, len(blob)) + blob


def split_record(name: bytes, record: bytes) -> tuple[int, bytes, str, bytes, int | None]:
    """(db, key, type name, blob, deadline) of a stored pair; ValueError or StorageError if damaged."""
    db_text, _, key = name.partition(b":")
    header, _, blob = record.partition(b"\n")
    type_name, deadline, length = header.split(b" ")
    if int(length) != len(blob):
        raise StorageError(f"record {key!r} is truncated")
    expire_at_ms = int(deadline)
    return int(db_text), key, type_name.decode(), blob, None if expire_at_ms < 0 else expire_at_ms


def decode_record(name: bytes, record: bytes) -> Record:
    """One stored (name, record) pair as a Record; raises ValueError or StorageError if it is damaged."""
    db, key, type_name, blob, deadline = split_record(name, record)
    return db, key, verify.sound_value(db, key, type_name, blob, deadline, 1 << 62), deadline


def checked_record(name: bytes, record: bytes, databases: int) -> Record:
    """A stored pair as a Record after every check ``leakdb check`` makes; StorageError otherwise."""
    try:
        db, key, type_name, blob, deadline = split_record(name, record)
    except (ValueError, UnicodeDecodeError):
        raise StorageError(f"record {name!r}: malformed record header {record[:40]!r}") from None
    return db, key, verify.sound_value(db, key, type_name, blob, deadline, databases), deadline


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
            header, _, blob = store[name].partition(b"\n")
            type_name, _, length = header.split(b" ")
            deadline = -1 if change.expire_at_ms is None else change.expire_at_ms
            store[name] = b"%s %d %s\n" % (type_name, deadline, length) + blob
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
