"""Generic key commands: existence and deletion, expiry, TYPE, renaming, copying and moving keys,
walking the keyspace (KEYS, SCAN, RANDOMKEY, DBSIZE) and OBJECT introspection.

Every read goes through ``Database.lookup`` so expired keys are absent, and every write through a
``Database`` method so the change hook sees it.
"""

from __future__ import annotations

import copy
import random
import re
from bisect import bisect_left
from collections import deque
from collections.abc import Callable
from itertools import islice
from typing import Any

from .. import errors
from ..engine.encodings import hash_encoding, set_encoding, string_encoding
from ..engine.glob import compile_glob
from ..engine.keyspace import TYPE_NAMES, Database, now_ms
from ..engine.numbers import INT64_MAX, INT64_MIN, parse_int
from ..engine.stream import Stream
from ..engine.zset import ZSet
from ..errors import CommandError, NoSuchKeyError, NotAnIntegerError, SyntaxErrorReply
from ..resp import EMPTY_ARRAY, OK, ONE, ZERO, bulk, bulk_array
from .registry import command, dispatch_sub, subcommand

INT_MIN = -(2**31)
INT_MAX = 2**31 - 1
MINUS_ONE = b":-1\r\n"
MINUS_TWO = b":-2\r\n"

# -- existence, deletion, type -------------------------------------------------------------------


def _delete_keys(client, args):
    delete = client.db.delete
    removed = 0
    for key in islice(args, 1, None):
        if delete(key, "del"):
            removed += 1
    return b":%d\r\n" % removed


@command("del", -2, "write", 1, -1, summary="Delete a key")
def del_(client, args):
    return _delete_keys(client, args)


@command("unlink", -2, "write fast", 1, -1, since="4.0.0", summary="Delete a key asynchronously")
def unlink(client, args):
    return _delete_keys(client, args)


def _count_existing(client, args):
    lookup = client.db.lookup
    found = 0
    for key in islice(args, 1, None):
        if lookup(key) is not None:
            found += 1
    return b":%d\r\n" % found


@command("exists", -2, "readonly fast", 1, -1, summary="Determine if a key exists")
def exists(client, args):
    return _count_existing(client, args)


@command("touch", -2, "readonly fast", 1, -1, since="3.2.1", summary="Alter the last access time of a key")
def touch(client, args):
    return _count_existing(client, args)


@command("type", 2, "readonly fast", 1, 1, summary="Determine the type stored at key")
def type_(client, args):
    return b"+%s\r\n" % client.db.type_name(args[1]).encode()


# -- expiry --------------------------------------------------------------------------------------

NX, XX, GT, LT = 1, 2, 4, 8
_EXPIRE_OPTIONS = {b"nx": NX, b"xx": XX, b"gt": GT, b"lt": LT}
# C's LLONG_MIN / 1000 truncates towards zero.
_MIN_SECONDS = -(-INT64_MIN // 1000)
_MAX_SECONDS = INT64_MAX // 1000


def _expire_options(args: list[bytes]) -> int | bytes:
    """The NX/XX/GT/LT bits, or the error reply for an unknown or conflicting option."""
    flags = 0
    for raw in islice(args, 3, None):
        flag = _EXPIRE_OPTIONS.get(raw.lower())
        if flag is None:
            option = raw.split(b"\x00", 1)[0].decode("utf-8", "replace")  # Redis prints a C string
            return errors.error_reply(errors.UNSUPPORTED_OPTION.format(option))
        flags |= flag
    if flags & NX and flags & (XX | GT | LT):
        return errors.EXPIRE_NX_CONFLICT
    if flags & GT and flags & LT:
        return errors.EXPIRE_GT_LT_CONFLICT
    return flags


def _expire(client, args, in_seconds: bool, relative: bool, name: str) -> bytes:
    flags = 0
    if len(args) > 3:
        flags = _expire_options(args)
        if type(flags) is bytes:
            return flags
    when = parse_int(args[2])
    if when is None:
        raise NotAnIntegerError()
    if in_seconds:
        if not _MIN_SECONDS <= when <= _MAX_SECONDS:
            raise CommandError(errors.EXPIRE_TIME_INVALID.format(name))
        when *= 1000
    if relative:
        base = now_ms()
        if when > INT64_MAX - base:
            raise CommandError(errors.EXPIRE_TIME_INVALID.format(name))
        when += base
    db = client.db
    key = args[1]
    if db.lookup(key) is None:
        return ZERO
    if flags and not _expire_allowed(flags, when, db.deadline(key)):
        return ZERO
    db.set_expire(key, when, "expire")  # a deadline already past deletes the key ("del")
    return ONE


def _expire_allowed(flags: int, when: int, current: int | None) -> bool:
    """NX/XX/GT/LT as Redis applies them; a key without a deadline counts as an infinite TTL."""
    if flags & NX and current is not None:
        return False
    if flags & XX and current is None:
        return False
    if flags & GT and (current is None or when <= current):
        return False
    return not (flags & LT and current is not None and when >= current)


@command("expire", -3, "write fast", 1, 1, summary="Set a key's time to live in seconds")
def expire(client, args):
    return _expire(client, args, True, True, "expire")


@command("pexpire", -3, "write fast", 1, 1, since="2.6.0", summary="Set a key's time to live in ms")
def pexpire(client, args):
    return _expire(client, args, False, True, "pexpire")


@command("expireat", -3, "write fast", 1, 1, since="1.2.0", summary="Set a key's expiry as a timestamp")
def expireat(client, args):
    return _expire(client, args, True, False, "expireat")


@command("pexpireat", -3, "write fast", 1, 1, since="2.6.0", summary="Set a key's expiry in unix ms")
def pexpireat(client, args):
    return _expire(client, args, False, False, "pexpireat")


def _ttl(client, key: bytes, in_ms: bool, absolute: bool) -> bytes:
    db = client.db
    if db.lookup(key) is None:
        return MINUS_TWO
    deadline = db.expires.get(key)
    if deadline is None:
        return MINUS_ONE
    remaining = deadline if absolute else deadline - now_ms()
    if remaining < 0:
        remaining = 0
    return b":%d\r\n" % (remaining if in_ms else (remaining + 500) // 1000)


@command("ttl", 2, "readonly fast", 1, 1, summary="Get the time to live for a key in seconds")
def ttl(client, args):
    return _ttl(client, args[1], False, False)


@command("pttl", 2, "readonly fast", 1, 1, since="2.6.0", summary="Get the time to live in ms")
def pttl(client, args):
    return _ttl(client, args[1], True, False)


@command("expiretime", 2, "readonly fast", 1, 1, since="7.0.0", summary="Get the expiry unix time")
def expiretime(client, args):
    return _ttl(client, args[1], False, True)


@command("pexpiretime", 2, "readonly fast", 1, 1, since="7.0.0", summary="Get the expiry unix ms")
def pexpiretime(client, args):
    return _ttl(client, args[1], True, True)


@command("persist", 2, "write fast", 1, 1, since="2.2.0", summary="Remove the expiration from a key")
def persist(client, args):
    db = client.db
    key = args[1]
    if db.lookup(key) is None or db.deadline(key) is None:
        return ZERO
    db.set_expire(key, None, "persist")
    return ONE


# -- walking the keyspace ------------------------------------------------------------------------

_GLOB_CHAR = re.compile(rb"[*?\[\\]").search


@command("keys", 2, "readonly", summary="Find all keys matching the given pattern")
def keys(client, args):
    pattern = args[1]
    db = client.db
    if _GLOB_CHAR(pattern) is None:  # a literal pattern names at most one key
        return bulk_array([pattern]) if db.lookup(pattern) is not None else EMPTY_ARRAY
    live = db.keys()
    if pattern == b"*":
        return bulk_array(live)
    matches = compile_glob(pattern)
    return bulk_array([key for key in live if matches(key)])


@command("dbsize", 1, "readonly fast", summary="Return the number of keys in the selected database")
def dbsize(client, args):
    db = client.db
    if db.expires:
        db.expire_due()
    return b":%d\r\n" % len(db)


@command("randomkey", 1, "readonly", summary="Return a random key from the keyspace")
def randomkey(client, args):
    db = client.db
    if db.expires:
        db.expire_due()  # afterwards every key left is live, so any pick will do
    if not db.data:
        return client.resp.null
    return bulk(next(islice(db.data, random.randrange(len(db.data)), None)))


# SCAN visits keys in the order of their (per-process) hash, and a cursor is a position in hash
# space: "every key whose hash is at least this".  That order does not depend on what else is in the
# database, so deleting or adding keys never moves a key across a cursor.  Finding the keys after a
# cursor needs them sorted; the sorted order is built when a scan starts (cursor 0) and shared by
# every scan of the database, which is correct because a key present for a whole scan is in any
# order built after that scan started.
_HASH_OFFSET = 2**63  # hash() is a signed 64-bit value; cursors are unsigned
_CURSOR_MAX = 2**64 - 1
_CURSOR = re.compile(rb"([+-]?)([0-9]+)\Z")


class _ScanOrder:
    """A database's keys sorted by hash, and the dict they were taken from."""

    __slots__ = ("data_id", "hashes", "keys")

    def __init__(self, data: Any) -> None:
        self.data_id = id(data)
        self.keys = sorted(data, key=hash)
        self.hashes = [hash(key) for key in self.keys]


# Scan orders by owner: a Database for SCAN, (Database, key) for HSCAN/SSCAN/ZSCAN.  Abandoned scans
# leave their order behind, so the oldest goes once there are many; a scan that finds its order gone
# rebuilds it, which is correct for the same reason sharing one is.
_SCAN_ORDERS: dict[Any, _ScanOrder] = {}
_MAX_SCAN_ORDERS = 256


def parse_cursor(raw: bytes) -> int | None:
    """The cursor as Redis reads it with strtoul (signs wrap, "" is 0), or None if it is invalid."""
    text = raw.split(b"\x00", 1)[0]
    if not text:
        return 0
    found = _CURSOR.match(text)
    if found is None:
        return None
    value = int(found.group(2))
    if value > _CURSOR_MAX:
        return None
    return -value & _CURSOR_MAX if found.group(1) == b"-" else value


def scan_options(
    args: list[bytes], start: int = 2, allow_type: bool = True
) -> tuple[int, bytes | None, str | None]:
    """COUNT, MATCH and (for SCAN only: `allow_type`) TYPE from ``args[start:]``, as Redis parses them."""
    count, pattern, type_name = 10, None, None
    i, n = start, len(args)
    while i < n:
        option = args[i].lower()
        if n - i < 2:
            raise SyntaxErrorReply()
        if option == b"count":
            count = parse_int(args[i + 1])
            if count is None:
                raise NotAnIntegerError()
            if count < 1:
                raise SyntaxErrorReply()
        elif option == b"match":
            pattern = args[i + 1]
        elif option == b"type" and allow_type:
            type_name = args[i + 1].decode("utf-8", "replace").lower()
        else:
            raise SyntaxErrorReply()
        i += 2
    return count, pattern, type_name


def scan_batch(owner: Any, data: Any, cursor: int, count: int) -> tuple[int, list[bytes]]:
    """Up to about `count` members of `data` (a dict or set) from `cursor` on, and the next cursor.

    `owner` names the collection across calls (see ``_SCAN_ORDERS``).  Members removed since the scan
    started may be included: callers look each one up again.
    """
    if cursor == 0 and len(data) <= count:
        return 0, list(data)
    order = _SCAN_ORDERS.get(owner)
    if cursor == 0 or order is None or order.data_id != id(data):
        if order is None and len(_SCAN_ORDERS) >= _MAX_SCAN_ORDERS:
            del _SCAN_ORDERS[next(iter(_SCAN_ORDERS))]
        order = _SCAN_ORDERS[owner] = _ScanOrder(data)
    hashes = order.hashes
    start = bisect_left(hashes, cursor - _HASH_OFFSET)
    end = min(start + count, len(hashes))
    while end < len(hashes) and hashes[end] == hashes[end - 1]:
        end += 1  # keys sharing a hash share a cursor, so they go out together
    if end < len(hashes):
        return hashes[end] + _HASH_OFFSET, order.keys[start:end]
    if _SCAN_ORDERS.get(owner) is order:
        del _SCAN_ORDERS[owner]  # the memory goes back when a scan completes
    return 0, order.keys[start:end]


@command("scan", -2, "readonly", since="2.8.0", summary="Incrementally iterate the keys space")
def scan(client, args):
    cursor = parse_cursor(args[1])
    if cursor is None:
        return errors.INVALID_CURSOR
    count, pattern, type_name = scan_options(args)
    db = client.db
    next_cursor, batch = scan_batch(db, db.data, cursor, count)
    matches = compile_glob(pattern) if pattern is not None and pattern != b"*" else None
    found = []
    for key in batch:
        if matches is not None and not matches(key):
            continue
        value = db.lookup(key)
        if value is None:
            continue
        if type_name is not None and TYPE_NAMES[type(value)] != type_name:
            continue
        found.append(key)
    cursor_text = b"%d" % next_cursor
    return b"*2\r\n$%d\r\n%s\r\n%s" % (len(cursor_text), cursor_text, bulk_array(found))


# -- renaming, copying, moving -------------------------------------------------------------------


def _rename(client, args, only_new: bool) -> bytes:
    db = client.db
    source, target = args[1], args[2]
    value = db.lookup(source)
    if value is None:
        raise NoSuchKeyError()
    if source == target:
        return ZERO if only_new else OK
    if only_new and db.lookup(target) is not None:
        return ZERO
    deadline = db.deadline(source)
    if not only_new:
        db.delete(target)  # Redis deletes a key it overwrites, so the target is a new key again
    db.set(target, value, deadline)
    db.delete(source, ("rename_from", ("rename_to", db.index, target)))
    return ONE if only_new else OK


@command("rename", 3, "write", 1, 2, summary="Rename a key")
def rename(client, args):
    return _rename(client, args, False)


@command("renamenx", 3, "write fast", 1, 2, summary="Rename a key, only if the new key does not exist")
def renamenx(client, args):
    return _rename(client, args, True)


# Containers of immutable bytes need only a shallow copy; any other type is deep-copied.
_COPIERS: dict[type, Callable[[Any], Any]] = {
    dict: dict.copy,
    deque: deque.copy,
    set: set.copy,
    ZSet: ZSet.copy,
    Stream: Stream.copy,
}


def copy_value(value: Any) -> Any:
    """An independent copy of a stored value (strings are immutable and shared)."""
    if type(value) is bytes:
        return value
    copier = _COPIERS.get(type(value))
    return copier(value) if copier is not None else copy.deepcopy(value)


def _copy_options(client, args) -> tuple[Database, bool] | bytes:
    target_db = client.db
    replace = False
    i, n = 3, len(args)
    while i < n:
        option = args[i].lower()
        if option == b"replace":
            replace = True
        elif option == b"db" and i + 1 < n:
            index = _int_arg(args[i + 1])
            if type(index) is bytes:
                return index
            if not 0 <= index < len(client.server.keyspace):
                return errors.DB_INDEX
            target_db = client.server.keyspace[index]
            i += 1
        else:
            return errors.SYNTAX
        i += 1
    return target_db, replace


def _int_arg(raw: bytes) -> int | bytes:
    """A C int argument, or the error reply Redis gives (getIntFromObjectOrReply)."""
    number = parse_int(raw)
    if number is None:
        return errors.NOT_INTEGER
    if not INT_MIN <= number <= INT_MAX:
        return errors.INT_RANGE
    return number


@command("copy", -3, "write denyoom", 1, 2, since="6.2.0", summary="Copy a key")
def copy_(client, args):
    options = _copy_options(client, args)
    if type(options) is bytes:
        return options
    target_db, replace = options
    db = client.db
    source, target = args[1], args[2]
    if target_db is db and source == target:
        return errors.SAME_OBJECT
    value = db.lookup(source)
    if value is None:
        return ZERO
    if target_db.lookup(target) is not None:
        if not replace:
            return ZERO
        target_db.delete(target)  # replaced by a new key, as Redis does it
    target_db.set(target, copy_value(value), db.deadline(source), "copy_to")
    return ONE


@command("move", 3, "write fast", 1, 1, summary="Move a key to another database")
def move(client, args):
    index = _int_arg(args[2])
    if type(index) is bytes:
        return index
    if not 0 <= index < len(client.server.keyspace):
        return errors.DB_INDEX
    db = client.db
    target_db = client.server.keyspace[index]
    if target_db is db:
        return errors.SAME_OBJECT
    key = args[1]
    value = db.lookup(key)
    if value is None or target_db.lookup(key) is not None:
        return ZERO
    target_db.set(key, value, db.deadline(key))
    db.delete(key, ("move_from", ("move_to", target_db.index, key)))
    return ONE


# -- OBJECT --------------------------------------------------------------------------------------

SHARED_INTEGERS = 10000  # Redis shares the objects of 0..9999, whose refcount reads as INT_MAX
SHARED_REFCOUNT = 2**31 - 1


# Value type -> function naming the encoding Redis would use.  Redis never converts a value back to
# a compact encoding, so a container that once grew past a threshold may differ; LeakDB does not
# keep that history.
ENCODINGS: dict[type, Callable[[Any], str]] = {
    bytes: string_encoding,
    dict: hash_encoding,
    deque: lambda value: "quicklist",
    set: set_encoding,
    ZSet: lambda value: "listpack" if value.compact else "skiplist",
    Stream: lambda value: "stream",
}

_OBJECT_HELP = [
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
]
OBJECT_HELP = b"*%d\r\n" % len(_OBJECT_HELP) + b"".join(b"+%s\r\n" % line.encode() for line in _OBJECT_HELP)


@command("object", -2, "", summary="A container for object introspection commands", since="2.2.3")
def object_(client, args):
    return dispatch_sub(client, args)


def _eviction_policy(client) -> str:
    return client.server.config.values.get("maxmemory-policy", "noeviction")


@subcommand("object", "encoding", 3, "readonly", summary="Inspect the internal encoding of an object")
def object_encoding(client, args):
    db = client.db
    value = db.lookup(args[2])
    if value is None:
        return client.resp.null
    if value.__class__ is bytes and db.is_raw(args[2], value):
        return bulk(b"raw")
    return bulk(ENCODINGS[type(value)](value).encode())


@subcommand("object", "freq", 3, "readonly", summary="Get the logarithmic access frequency counter")
def object_freq(client, args):
    if client.db.lookup(args[2]) is None:
        return client.resp.null
    if "lfu" not in _eviction_policy(client):
        return errors.LFU_NOT_SELECTED
    memory = getattr(client.server, "memory", None)  # None without maxmemory: nothing is tracked
    return b":%d\r\n" % (memory.frequency(client.db_index, args[2]) if memory else 0)


@subcommand("object", "idletime", 3, "readonly", summary="Get the time since an object was last accessed")
def object_idletime(client, args):
    if client.db.lookup(args[2]) is None:
        return client.resp.null
    if "lfu" in _eviction_policy(client):
        return errors.LRU_NOT_SELECTED
    memory = getattr(client.server, "memory", None)  # None without maxmemory: nothing is tracked
    return b":%d\r\n" % (memory.idle_seconds(client.db_index, args[2]) if memory else 0)


@subcommand("object", "refcount", 3, "readonly", summary="Get the number of references to an object")
def object_refcount(client, args):
    value = client.db.lookup(args[2])
    if value is None:
        return client.resp.null
    if type(value) is bytes and len(value) <= 20:
        number = parse_int(value)
        if number is not None and 0 <= number < SHARED_INTEGERS:
            return b":%d\r\n" % SHARED_REFCOUNT
    return ONE


@subcommand("object", "help", 2, "loading stale", summary="Show helpful text about the different subcommands")
def object_help(client, args):
    return OBJECT_HELP
