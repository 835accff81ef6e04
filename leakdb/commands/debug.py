"""DEBUG: the subcommands tools and test suites written for Redis call.

DIGEST and DIGEST-VALUE compute the digests Redis computes for the same data (SHA1 mixing, ordered
for a list's elements and a stream's entries, xor-combined for the members of sets, hashes and sorted
sets and for the keys of a database), so two servers' contents can be compared.  RELOAD writes
pending changes to the storage and re-encodes every value as loading it would.  PROTOCOL answers
each RESP3 type with the bytes Redis sends.  Subcommands about Redis's C internals (SEGFAULT, PANIC,
MALLCTL, ...) are refused with a reason.
"""

from __future__ import annotations

import hashlib
import logging
import re
import struct
import time
from collections import deque
from typing import Any

import gevent

from .. import errors
from ..config import parse_memory
from ..engine.stream import Stream, format_id
from ..engine.zset import ZSet
from ..errors import CommandError
from ..rdb import dump_payload, load_payload
from ..resp import OK
from .connection import help_reply
from .keys import ENCODINGS
from .registry import Suspend, command

log = logging.getLogger("leakdb.server")

# Redis's object type numbers, which the digest mixes in.
_TYPE_NUMBERS = {bytes: 0, bytearray: 0, deque: 1, set: 2, ZSet: 3, dict: 4, Stream: 6}
_EXPIRE_MARK = b"!!expire!!"
_ZERO = bytes(20)


def _xor(digest: bytearray, data: bytes) -> None:
    for position, byte in enumerate(hashlib.sha1(data).digest()):
        digest[position] ^= byte


def _mix(digest: bytearray, data: bytes) -> None:
    _xor(digest, data)
    digest[:] = hashlib.sha1(bytes(digest)).digest()


def _score_text(score: float) -> bytes:
    """A score as C's %.17g writes it."""
    if score != score:
        return b"nan"
    if score in (float("inf"), float("-inf")):
        return b"inf" if score > 0 else b"-inf"
    return b"%.17g" % score


def value_digest(value: Any, expires: bool, start: bytes = _ZERO) -> bytearray:
    """One value's digest, mixed on from `start` (DEBUG DIGEST-VALUE starts from zero, DIGEST from
    the key's name): its type, its contents, and whether it expires."""
    digest = bytearray(start)
    kind = type(value)
    _mix(digest, struct.pack(">I", _TYPE_NUMBERS[kind]))
    if kind is bytes or kind is bytearray:
        _mix(digest, bytes(value))
    elif kind is deque:
        for element in value:
            _mix(digest, element)
    elif kind is set:
        for member in value:
            _xor(digest, member)
    elif kind is ZSet or kind is dict:
        pairs = ((m, _score_text(s)) for m, s in value.scores.items()) if kind is ZSet else value.items()
        for first, second in pairs:
            element = bytearray(20)
            _mix(element, first)
            _mix(element, second)
            _xor(digest, bytes(element))
    elif kind is Stream:
        for entry_id in value.index:
            _mix(digest, format_id(entry_id).replace(b"-", b"."))
            for part in value.entries[entry_id]:
                _mix(digest, part)
    if expires:
        _xor(digest, _EXPIRE_MARK)
    return digest


def dataset_digest(server: Any) -> bytes:
    """DEBUG DIGEST: zero for an empty dataset; else each database's number mixed in, and each key's
    digest (its name, then its value mixed on) xor-ed in."""
    final = bytearray(20)
    for db in server.keyspace.databases:
        if not db.data:
            continue
        _mix(final, struct.pack(">I", db.index))
        for key, value in db.data.items():
            named = bytearray(20)
            _mix(named, key)
            _xor(final, bytes(value_digest(value, key in db.expires, bytes(named))))
    return bytes(final)


# -- the command -----------------------------------------------------------------------------------

_LEADING_NUMBER = re.compile(rb"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_LEADING_INT = re.compile(rb"\s*[+-]?\d+")


def c_atof(raw: bytes) -> float:
    """The number at the start of `raw`, 0 if none: C's atof, which DEBUG SLEEP uses."""
    found = _LEADING_NUMBER.match(raw)
    return float(found.group(0)) if found else 0.0


def c_atoi(raw: bytes) -> int:
    found = _LEADING_INT.match(raw)
    return int(found.group(0)) if found else 0


# Subcommands that act on Redis's C process or its allocator: nothing in LeakDB to act on.
NOT_IN_LEAKDB = frozenset(
    {
        b"segfault", b"panic", b"restart", b"crash-and-recover", b"assert", b"oom",
        b"mallctl", b"mallctl-str", b"leak", b"structsize", b"sdslen", b"ziplist", b"replybuffer",
        b"pause-cron", b"dict-resizing", b"client-eviction", b"script",
    }
)  # fmt: skip

# name: (lowest, highest) count of arguments after the subcommand's name.
_ARITY = {
    b"help": (0, 0),
    b"sleep": (1, 1),
    b"object": (1, 1),
    b"digest": (0, 0),
    b"digest-value": (0, 1 << 30),
    b"reload": (0, 3),
    b"set-active-expire": (1, 1),
    b"change-repl-id": (0, 0),
    b"quicklist-packed-threshold": (1, 1),
    b"listpack": (1, 1),
    b"quicklist": (1, 2),
    b"protocol": (1, 1),
    b"log": (1, 1),
}


@command("debug", -2, "admin noscript loading stale", group="server", summary="A container for debugging")
def debug(client, args):
    name = args[1].lower()
    limits = _ARITY.get(name)
    if name in NOT_IN_LEAKDB and limits is None:
        raise CommandError(errors.DEBUG_NOT_IN_LEAKDB.format(args[1].decode("utf-8", "replace").upper()))
    if limits is None or not limits[0] <= len(args) - 2 <= limits[1]:
        raise CommandError(errors.DEBUG_UNKNOWN.format(args[1].decode("utf-8", "replace")))
    return _SUBCOMMANDS[name](client, args)


def _sleep(client: Any, args: list[bytes]) -> bytes:
    seconds = max(0.0, c_atof(args[2]))

    def work() -> bytes:
        gevent.sleep(seconds)
        return OK

    raise Suspend(work)


def _help(client: Any, args: list[bytes]) -> bytes:
    return help_reply(client, "debug", DEBUG_HELP)


def _object(client: Any, args: list[bytes]) -> bytes:
    value = client.db.lookup(args[2])
    if value is None:
        return errors.NO_SUCH_KEY
    encoding = ENCODINGS[type(value)](value)
    serialized = (
        len(dump_payload(bytes(value) if type(value) is bytearray else value)) - 11
    )  # without the type byte, the version and the CRC
    memory = getattr(client.server, "memory", None)
    idle = memory.idle_seconds(client.db_index, args[2]) if memory is not None else 0
    clock = (int(time.time()) - idle) & (2**24 - 1)
    refcount = 2147483647 if encoding == "int" and 0 <= int(value) < 10000 else 1
    line = (
        f"Value at:0x{id(value):x} refcount:{refcount} encoding:{encoding} serializedlength:{serialized} "
        f"lru:{clock} lru_seconds_idle:{idle}"
    )
    if type(value) is deque:
        nodes = max(1, -(-serialized // 8192))
        line += (
            f" ql_nodes:{nodes} ql_avg_node:{len(value) / nodes:.2f} "
            f"ql_listpack_max:{client.server.config.values.get('list-max-listpack-size', -2)} "
            f"ql_compressed:{int(bool(client.server.config.values.get('list-compress-depth', 0)))} "
            f"ql_uncompressed_size:{serialized}"
        )
    return b"+%s\r\n" % line.encode()


def _digest(client: Any, args: list[bytes]) -> bytes:
    return b"+%s\r\n" % dataset_digest(client.server).hex().encode()


def _digest_value(client: Any, args: list[bytes]) -> bytes:
    db = client.db
    parts = [b"*%d\r\n" % (len(args) - 2)]
    for key in args[2:]:
        value = db.data.get(key)  # logically expired keys count too, as in Redis
        digest = value_digest(value, key in db.expires) if value is not None else _ZERO
        parts.append(b"+%s\r\n" % bytes(digest).hex().encode())
    return b"".join(parts)


def _reload(client: Any, args: list[bytes]) -> bytes:
    """Write what is pending to the storage, then re-encode every value as loading it would (a
    list, set, hash or sorted set that shrank takes its compact encoding again)."""
    server = client.server
    server.storage.flush(force=True)
    for db in server.keyspace.databases:
        for key, value in list(db.data.items()):
            # Strings keep their bytes; a stream's groups live beside its entries.
            if type(value) in _RELOADED:
                db.data[key] = load_payload(dump_payload(value))
    return OK


_RELOADED = (deque, set, dict, ZSet)


def _set_active_expire(client: Any, args: list[bytes]) -> bytes:
    client.server.active_expire = bool(c_atoi(args[2]))
    return OK


def _change_repl_id(client: Any, args: list[bytes]) -> bytes:
    from .info import state_of

    state_of(client.server).change_repl_id()
    return OK


def _packed_threshold(client: Any, args: list[bytes]) -> bytes:
    # Accepted (LeakDB's lists have no packed nodes to size); checked as Redis checks it.
    try:
        size = parse_memory(args[2].decode("utf-8", "replace"))
    except ValueError:
        size = 0
    if not 1 <= size < 4 * 1024**3:
        raise CommandError(errors.DEBUG_PACKED_THRESHOLD)
    return OK


def _listpack(client: Any, args: list[bytes]) -> bytes:
    value = client.db.lookup(args[2])
    if value is None:
        return errors.NO_SUCH_KEY
    if ENCODINGS[type(value)](value) != "listpack":
        raise CommandError(errors.DEBUG_NOT_LISTPACK)
    log.warning("Listpack of %r:\n%s", args[2], readable(value))
    return b"+Listpack structure printed on stdout\r\n"


def _quicklist(client: Any, args: list[bytes]) -> bytes:
    value = client.db.lookup(args[2])
    if value is None:
        return errors.NO_SUCH_KEY
    if type(value) is not deque:
        raise CommandError(errors.DEBUG_NOT_QUICKLIST)
    log.warning("Quicklist of %r:\n%s", args[2], readable(value))
    return b"+Quicklist structure printed on stdout\r\n"


def readable(value: Any) -> str:
    """A value's entries, one a line, as the LISTPACK and QUICKLIST dumps print them."""
    if type(value) is ZSet:
        entries = [part for member, score in value.scores.items() for part in (member, _score_text(score))]
    elif type(value) is dict:
        entries = [part for pair in value.items() for part in pair]
    else:
        entries = list(value)
    lines = [f"{{total entries {len(entries)}}}"]
    lines += [f"{{entry {n}}} {entry!r}" for n, entry in enumerate(entries)]
    return "\n".join(lines)


def _log(client: Any, args: list[bytes]) -> bytes:
    log.warning("DEBUG LOG: %s", args[2].decode("utf-8", "replace"))
    return OK


# What each DEBUG PROTOCOL type sends, in RESP2 and in RESP3 (Redis's sample values).
_ATTRIBUTE_REPLY = b"$39\r\nSome real reply following the attribute\r\n"
_PROTOCOL = {
    b"string": (b"$11\r\nHello World\r\n",) * 2,
    b"integer": (b":12345\r\n",) * 2,
    b"double": (b"$5\r\n3.141\r\n", b",3.141\r\n"),
    b"bignum": (
        b"$37\r\n1234567999999999999999999999999999999\r\n",
        b"(1234567999999999999999999999999999999\r\n",
    ),
    b"null": (b"$-1\r\n", b"_\r\n"),
    b"array": (b"*3\r\n:0\r\n:1\r\n:2\r\n",) * 2,
    b"set": (b"*3\r\n:0\r\n:1\r\n:2\r\n", b"~3\r\n:0\r\n:1\r\n:2\r\n"),
    b"map": (b"*6\r\n:0\r\n:0\r\n:1\r\n:1\r\n:2\r\n:0\r\n", b"%3\r\n:0\r\n#f\r\n:1\r\n#t\r\n:2\r\n#f\r\n"),
    b"attrib": (
        _ATTRIBUTE_REPLY,
        b"|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n" + _ATTRIBUTE_REPLY,
    ),
    b"push": (
        b"-ERR RESP2 is not supported by this command\r\n",
        b">2\r\n$16\r\nserver-cpu-usage\r\n:42\r\n$40\r\nSome real reply following the push reply\r\n",
    ),
    b"verbatim": (b"$25\r\nThis is a verbatim\nstring\r\n", b"=29\r\ntxt:This is a verbatim\nstring\r\n"),
    b"true": (b":1\r\n", b"#t\r\n"),
    b"false": (b":0\r\n", b"#f\r\n"),
}


def _protocol(client: Any, args: list[bytes]) -> bytes:
    replies = _PROTOCOL.get(args[2].lower())
    if replies is None:
        raise CommandError(errors.DEBUG_PROTOCOL_TYPES)
    return replies[1 if client.resp.resp3 else 0]


_SUBCOMMANDS = {
    b"help": _help,
    b"sleep": _sleep,
    b"object": _object,
    b"digest": _digest,
    b"digest-value": _digest_value,
    b"reload": _reload,
    b"set-active-expire": _set_active_expire,
    b"change-repl-id": _change_repl_id,
    b"quicklist-packed-threshold": _packed_threshold,
    b"listpack": _listpack,
    b"quicklist": _quicklist,
    b"protocol": _protocol,
    b"log": _log,
}

DEBUG_HELP = [
    "CHANGE-REPL-ID",
    "    Give the server a new replication id (INFO replication's master_replid).",
    "DIGEST",
    "    The digest of the whole dataset, equal to Redis's for the same data.",
    "DIGEST-VALUE <key> [<key> ...]",
    "    The digest of each key's value (zeros for a missing key).",
    "LISTPACK <key>",
    "    Write the entries of a listpack-encoded value to the server's log.",
    "LOG <message>",
    "    Write <message> to the server's log.",
    "OBJECT <key>",
    "    The value's encoding, serialized length and idle time, in Redis's format.",
    "PROTOCOL <type>",
    "    A sample reply of a RESP type: string|integer|double|bignum|null|array|set|map|attrib|push|",
    "    verbatim|true|false.",
    "QUICKLIST <key> [<0|1>]",
    "    Write the elements of a list to the server's log.",
    "QUICKLIST-PACKED-THRESHOLD <size>",
    "    Accepted for compatibility (checked as Redis checks it, no effect in LeakDB).",
    "RELOAD [MERGE] [NOFLUSH] [NOSAVE]",
    "    Write pending changes to the storage and re-encode every value as loading it would.",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Stop (0) or resume (1) expiring keys in the background; keys still expire when read.",
    "SLEEP <seconds>",
    "    Stop answering this client for <seconds> (may be fractional); others are still served.",
]
