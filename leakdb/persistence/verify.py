"""What makes a stored record unloadable: one set of rules for ``leakdb check`` and for a server
opening the file, so a file the check calls damaged is one the server refuses."""

from __future__ import annotations

import math
from typing import Any

from ..engine.keyspace import DEFAULT_DATABASES, META_DB
from ..errors import StorageError
from .base import deserialize, known_type
from .containers import unpack_scored

# Deadlines past year 9999 are not something LeakDB writes; such a number is damage, not a long TTL.
MAX_DEADLINE_MS = 253_402_300_800_000


def record_problem(
    db: int, type_name: str, blob: bytes, expire_at_ms: int | None, databases: int = DEFAULT_DATABASES
) -> str | None:
    """Why LeakDB could not load this record, or None when it is sound."""
    return _examine(db, type_name, blob, expire_at_ms, databases)[1]


def sound_value(
    db: int, key: bytes, type_name: str, blob: bytes, expire_at_ms: int | None, databases: int
) -> Any:
    """The record's value, decoded once; StorageError naming the record if it is not sound."""
    value, problem = _examine(db, type_name, blob, expire_at_ms, databases)
    if problem is not None:
        raise StorageError(f"{describe(db, key)}: {problem}")
    return value


def _examine(
    db: int, type_name: str, blob: bytes, expire_at_ms: int | None, databases: int
) -> tuple[Any, str | None]:
    if not 0 <= db < databases and db != META_DB:  # META_DB: records outside every database
        return None, f"database {db} is outside 0..{databases - 1}"
    if not known_type(type_name):
        return None, f"unknown value type {type_name!r} (written by a newer LeakDB?)"
    if expire_at_ms is not None and not 0 < expire_at_ms <= MAX_DEADLINE_MS:
        return None, f"expiry deadline {expire_at_ms} ms is not a plausible Unix time"
    try:
        value = deserialize(type_name, blob)
    except (StorageError, ValueError) as error:
        return None, f"{type_name} value does not decode: {error}"
    if type_name == "zset":
        return value, zset_problem(blob)
    return value, None


def zset_problem(blob: bytes) -> str | None:
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
