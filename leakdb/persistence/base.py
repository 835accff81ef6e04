"""The interface every persistence backend implements, and how engine values become stored blobs.

A backend is told about changes in batches (:meth:`Backend.apply`) and reads everything back once at
start-up (:meth:`Backend.load`).  Implement those plus ``open``, ``close`` and ``file_size`` to add one.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from ..engine.keyspace import DEFAULT_DATABASES, Change
from ..engine.stream import Stream
from ..engine.zset import ZSet
from ..errors import StorageError
from . import containers

# The version of the on-disk layout this LeakDB writes.  Files of a higher version are refused.
FORMAT_VERSION = 1
APPLICATION = "leakdb"

Record = tuple[int, bytes, Any, "int | None"]  # (db, key, value, expire_at_ms)

# Engine value type -> (stored type name, to-bytes function); stored type name -> from-bytes function.
# Every type the engine holds is registered below, with its layout from containers.py.
_SERIALIZERS: dict[type, tuple[str, Callable[[Any], bytes]]] = {bytes: ("string", bytes)}
_DESERIALIZERS: dict[str, Callable[[bytes], Any]] = {"string": bytes}


def register_type(kind: type, name: str, dump: Callable[[Any], bytes], load: Callable[[bytes], Any]) -> None:
    """Teach every backend to store values of engine type `kind` under the type name `name`."""
    _SERIALIZERS[kind] = (name, dump)
    _DESERIALIZERS[name] = load


def _register_containers() -> None:
    register_type(dict, "hash", containers.dump_hash, containers.load_hash)
    register_type(deque, "list", containers.dump_list, containers.load_list)
    register_type(set, "set", containers.dump_set, containers.load_set)
    register_type(ZSet, "zset", containers.dump_zset, containers.load_zset)
    register_type(Stream, "stream", containers.dump_stream, containers.load_stream)


_register_containers()


def serialize(value: Any) -> tuple[str, bytes]:
    """(type name, blob) for an engine value."""
    try:
        name, dump = _SERIALIZERS[type(value)]
    except KeyError:
        raise StorageError(f"cannot store values of type {type(value).__name__}") from None
    return name, dump(value)


def deserialize(type_name: str, blob: bytes) -> Any:
    try:
        load = _DESERIALIZERS[type_name]
    except KeyError:
        raise StorageError(
            f"stored value of unknown type {type_name!r}; was the file written by a newer LeakDB?"
        ) from None
    return load(blob)


def known_type(type_name: str) -> bool:
    return type_name in _DESERIALIZERS


class Backend(ABC):
    """Durable home of a keyspace.

    The life of a backend: ``open()`` validates the file read-only (raising StorageError, and changing
    nothing, for a file it does not recognise) and then creates or opens it for writing; ``load()`` yields
    every stored key once; ``apply()`` writes batches of changes; ``close()`` releases the file.
    ``apply`` may be called from another thread than ``open``; callers never call it concurrently.
    """

    #: Short name shown by INFO and ``str(storage)``.
    name: str = ""
    #: Databases the keyspace has; the storage sets it before open(), and a record outside them is damage.
    databases: int = DEFAULT_DATABASES

    def __init__(self, filename: str) -> None:
        self.filename = os.fspath(filename)

    @abstractmethod
    def open(self) -> None:
        """Validate the file (never modifying one that is not ours) and get ready to write."""

    @abstractmethod
    def load(self) -> Iterator[Record]:
        """Every stored key as (db, key, value, expire_at_ms); expired keys may be included."""

    @abstractmethod
    def apply(self, changes: list[Change]) -> None:
        """Write a batch of changes (SET, DELETE, EXPIRE, FLUSHDB, SWAPDB) in order, atomically if the
        format allows; raise on failure, in which case the caller keeps the batch and retries it."""

    @abstractmethod
    def close(self) -> None:
        """Release the file; idempotent."""

    def probe(self) -> None:
        """One small real write, to learn whether the file can be written again after a failure;
        raises as apply() does.  The default applies an empty batch."""
        self.apply([])

    def fetch(self, db: int, key: bytes) -> tuple[Any, int | None] | None:
        """The committed (value, deadline) of one key, or None; a write-through storage reads it to
        undo a batch the file refused.  Backends without it cannot undo (the batch is retried)."""
        raise NotImplementedError

    def fetch_db(self, db: int) -> Iterator[tuple[bytes, Any, int | None]]:
        """Every committed (key, value, deadline) of one database, as fetch() reads one key."""
        raise NotImplementedError

    def file_size(self) -> int:
        """Bytes the store takes on disk."""
        try:
            return os.path.getsize(self.filename)
        except OSError:
            return 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.filename!r}>"
