"""Which of Redis's internal encodings a value would have: what OBJECT ENCODING reports, what HSCAN
and SSCAN shapes follow, and which compact form DUMP writes.

LeakDB stores every hash as a dict and every set as a set; Redis keeps small ones compact (a listpack,
an intset) and converts them for good once a write makes them outgrow the thresholds in :data:`LIMITS`
(``hash-max-listpack-*``, ``set-max-intset-entries``, ``zset-max-listpack-*``, which CONFIG SET
changes).  A value written whole (RESTORE, a store command, loading) gets the encoding its content
calls for; a write that grows a compact one past a threshold marks it converted (:func:`hash_grew`,
:func:`set_grew`),
and it stays so however small it becomes, as in Redis.  Sorted sets keep their own flag
(:attr:`~leakdb.engine.zset.ZSet.compact`), since Redis's history shows in their replies.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import Any

from .numbers import parse_int


class Limits:
    """The encoding thresholds in force (Redis 7.0's defaults until the server configures them)."""

    hash_max_listpack_entries = 512
    hash_max_listpack_value = 64
    set_max_intset_entries = 512
    zset_max_listpack_entries = 128
    zset_max_listpack_value = 64


LIMITS = Limits()

# The settings that name them, as the server's settings table spells them.
_SETTINGS = {
    "hash-max-listpack-entries": "hash_max_listpack_entries",
    "hash-max-listpack-value": "hash_max_listpack_value",
    "set-max-intset-entries": "set_max_intset_entries",
    "zset-max-listpack-entries": "zset_max_listpack_entries",
    "zset-max-listpack-value": "zset_max_listpack_value",
}


def configure(values: dict[str, Any]) -> None:
    """Take the thresholds from a server's settings (a name -> value mapping)."""
    for name, attribute in _SETTINGS.items():
        if name in values:
            setattr(LIMITS, attribute, values[name])


# Hashes and sets a write made outgrow their compact encoding, by id; each entry holds its value so
# that the id stays its own.  Entries whose value nothing else holds any more are dropped as the
# registry grows, so a deleted value costs nothing for long.
_CONVERTED: dict[int, Any] = {}
_prune_at = 64


def _mark_converted(value: Any) -> None:
    global _prune_at
    _CONVERTED[id(value)] = value
    if len(_CONVERTED) >= _prune_at:
        # The registry's reference, getrefcount's argument and the loop's: nothing else holds it.
        for key, held in list(_CONVERTED.items()):
            if sys.getrefcount(held) <= 3:
                del _CONVERTED[key]
        _prune_at = max(64, 2 * len(_CONVERTED))


def string_encoding(value: bytes) -> str:
    """The encoding Redis picks for a string it stores (tryObjectEncoding)."""
    if len(value) <= 20 and parse_int(value) is not None:
        return "int"
    if value[:4] == b"HYLL":
        return "raw"  # the PF commands write their strings raw, however short
    return "embstr" if len(value) <= 44 else "raw"


def _hash_fits(value: dict[bytes, bytes]) -> bool:
    if len(value) > LIMITS.hash_max_listpack_entries:
        return False
    limit = LIMITS.hash_max_listpack_value
    return all(len(field) <= limit and len(item) <= limit for field, item in value.items())


def _set_fits(value: set[bytes]) -> bool:
    return len(value) <= LIMITS.set_max_intset_entries and all(
        parse_int(member) is not None for member in value
    )


def hash_encoding(value: dict[bytes, bytes]) -> str:
    if id(value) in _CONVERTED or not _hash_fits(value):
        return "hashtable"
    return "listpack"


def set_encoding(value: set[bytes]) -> str:
    if id(value) in _CONVERTED or not _set_fits(value):
        return "hashtable"
    return "intset"


def hash_grew(value: dict[bytes, bytes], written: Sequence[bytes]) -> None:
    """After a write put the fields and values `written` into a hash: convert it for good when it
    outgrows a listpack, checking what Redis checks (its length, and the new strings only)."""
    if id(value) in _CONVERTED:
        return
    limit = LIMITS.hash_max_listpack_value
    if len(value) > LIMITS.hash_max_listpack_entries or any(len(part) > limit for part in written):
        _mark_converted(value)


def set_grew(value: set[bytes], added: Iterable[bytes]) -> None:
    """After a write added `added` to a set: convert it for good when it outgrows an intset."""
    if id(value) in _CONVERTED:
        return
    if len(value) > LIMITS.set_max_intset_entries or any(parse_int(member) is None for member in added):
        _mark_converted(value)
