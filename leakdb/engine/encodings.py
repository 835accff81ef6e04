"""Which of Redis's internal encodings a value would have: what OBJECT ENCODING reports, what HSCAN
and SSCAN shapes follow, and which compact form DUMP writes.

LeakDB stores every hash as a dict and every set as a set; Redis keeps small ones compact (a listpack,
an intset) and converts them for good once they outgrow Redis 7.0's compiled-in thresholds.  These
functions name the encoding Redis gives a value it writes whole (RESTORE, a store command, loading).
Sorted sets keep their own flag (:attr:`~leakdb.engine.zset.ZSet.compact`), since Redis's history
shows in their replies.
"""

from __future__ import annotations

from .numbers import parse_int

HASH_MAX_LISTPACK_ENTRIES = 512
HASH_MAX_LISTPACK_VALUE = 64
SET_MAX_INTSET_ENTRIES = 512


def string_encoding(value: bytes) -> str:
    """The encoding Redis picks for a string it stores (tryObjectEncoding)."""
    if len(value) <= 20 and parse_int(value) is not None:
        return "int"
    if value[:4] == b"HYLL":
        return "raw"  # the PF commands write their strings raw, however short
    return "embstr" if len(value) <= 44 else "raw"


def hash_encoding(value: dict[bytes, bytes]) -> str:
    if len(value) > HASH_MAX_LISTPACK_ENTRIES:
        return "hashtable"
    limit = HASH_MAX_LISTPACK_VALUE
    small = all(len(field) <= limit and len(item) <= limit for field, item in value.items())
    return "listpack" if small else "hashtable"


def set_encoding(value: set[bytes]) -> str:
    if len(value) <= SET_MAX_INTSET_ENTRIES and all(parse_int(member) is not None for member in value):
        return "intset"
    return "hashtable"
