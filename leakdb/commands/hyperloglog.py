"""HyperLogLog commands: PFADD, PFCOUNT (one key or the union of several), PFMERGE, PFDEBUG and
PFSELFTEST.

An HLL is a string in Redis's own layout (see :mod:`leakdb.engine.hyperloglog`), so GET, SET, DUMP-free
copies between servers, persistence and the string commands all see the bytes Redis would hold.
Like Redis, PFCOUNT of one key writes the computed cardinality into the string's cache bytes.
"""

from __future__ import annotations

from .. import errors
from ..engine import hyperloglog as hll
from ..errors import NotAnHLLError
from ..resp import OK, ONE, ZERO, bulk
from .registry import command


def sparse_max_bytes(client) -> int:
    """hll-sparse-max-bytes of the serving process (Redis's default when called in process)."""
    server = client.server
    return hll.DEFAULT_SPARSE_MAX_BYTES if server is None else server.config["hll-sparse-max-bytes"]


def _hll(db, key: bytes) -> bytes | None:
    """The HLL string at `key`, None if there is none; WRONGTYPE errors as isHLLObjectOrReply gives."""
    value = db.get_string(key)
    if value is not None and not hll.is_hll(value):
        raise NotAnHLLError()
    return value


def _checked(db, keys: list[bytes]):
    """The existing keys' HLL strings, each checked just before it is used (errors come in key order)."""
    for key in keys:
        value = _hll(db, key)
        if value is not None:
            yield value


@command(
    "pfadd",
    -2,
    "write denyoom fast",
    1,
    1,
    group="hyperloglog",
    since="2.8.9",
    summary="Adds the specified elements to the specified HyperLogLog.",
)
def pfadd(client, args):
    db = client.db
    key = args[1]
    value = _hll(db, key)
    new, changed, intact = hll.add(value, args[2:], sparse_max_bytes(client))
    if value is None:
        db.set(key, new)
    elif new is not value:
        db.set_keep_ttl(key, new)
    if not intact:
        return errors.HLL_INVALID
    return ONE if changed else ZERO


@command(
    "pfcount",
    -2,
    "readonly",
    1,
    -1,
    group="hyperloglog",
    since="2.8.9",
    summary="Return the approximated cardinality of the set(s) observed by the HyperLogLog at key(s).",
)
def pfcount(client, args):
    db = client.db
    if len(args) > 2:
        return b":%d\r\n" % hll.union_cardinality(_checked(db, args[1:]))
    value = _hll(db, args[1])
    if value is None:
        return ZERO
    count, cached = hll.cardinality(value)
    if cached is not None:
        db.set_keep_ttl(args[1], cached)
    return b":%d\r\n" % count


@command(
    "pfmerge",
    -2,
    "write denyoom",
    1,
    -1,
    group="hyperloglog",
    since="2.8.9",
    summary="Merge N different HyperLogLogs into a single one.",
)
def pfmerge(client, args):
    db = client.db
    merged, dense = hll.union(_checked(db, args[1:]))
    key = args[1]
    value = db.lookup(key)
    new = hll.merge(value, merged, dense, sparse_max_bytes(client))
    if value is None:
        db.set(key, new)
    else:
        db.set_keep_ttl(key, new)
    return OK


@command(
    "pfdebug",
    3,
    "write denyoom admin",
    2,
    2,
    group="hyperloglog",
    since="2.8.9",
    summary="Internal commands for debugging HyperLogLog values",
)
def pfdebug(client, args):
    db = client.db
    key = args[2]
    value = _hll(db, key)
    if value is None:
        return errors.HLL_NO_KEY
    name = args[1].lower()
    if name == b"getreg":
        dense = hll.to_dense(value)
        if dense is not value:
            db.set_keep_ttl(key, dense)
        registers = hll.unpack(dense[hll.HEADER_SIZE :])
        return b"*%d\r\n" % hll.REGISTERS + b"".join([b":%d\r\n" % register for register in registers])
    if name == b"decode":
        if value[4] != hll.SPARSE:
            return errors.HLL_NOT_SPARSE
        return bulk(hll.decode(value))
    if name == b"encoding":
        return b"+sparse\r\n" if value[4] == hll.SPARSE else b"+dense\r\n"
    if name == b"todense":
        dense = hll.to_dense(value)
        if dense is value:
            return ZERO
        db.set_keep_ttl(key, dense)
        return ONE
    shown = args[1].split(b"\x00", 1)[0].replace(b"\r", b" ").replace(b"\n", b" ")
    return errors.PFDEBUG_UNKNOWN % shown


@command(
    "pfselftest",
    1,
    "admin",
    group="hyperloglog",
    since="2.8.9",
    summary="An internal command for testing HyperLogLog values",
)
def pfselftest(client, args):
    failure = hll.selftest(sparse_max_bytes(client))
    return OK if failure is None else errors.error_reply("ERR " + failure)
