"""HyperLogLog commands: PFADD, PFCOUNT (one key or the union of several), PFMERGE, PFDEBUG and
PFSELFTEST.

An HLL is a string in Redis's own layout (see :mod:`leakdb.engine.hyperloglog`), so GET, SET, DUMP-free
copies between servers, persistence and the string commands all see the bytes Redis would hold.
Like Redis, PFCOUNT of one key writes the computed cardinality into the string's cache bytes.
"""

from __future__ import annotations

import math
import random

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
        db.set(key, new, None, "pfadd")
    elif new is not value:
        db.set_keep_ttl(key, new, "pfadd" if changed else None)
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
        db.set(key, new, None, "pfadd")
    else:
        db.set_keep_ttl(key, new, "pfadd")
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
    failure = _selftest(sparse_max_bytes(client))
    return OK if failure is None else errors.error_reply("ERR " + failure)


def _selftest(max_bytes: int, cycles: int = 10, limit: int = 100_000) -> str | None:
    """PFSELFTEST's checks on this implementation; the failure text, or None when all pass.

    Registers are set to random values and read back; then elements go into a dense and a sparse HLL
    at once, which must agree, stay sparse while small, and count within six standard errors at 1, 10,
    100, ... elements.  Redis runs 1000 cycles and 10 million elements; `cycles` and `limit` scale that
    to what Python does in about a second.
    """
    generator = random.Random()
    dense = bytearray(hll.EMPTY[:4] + bytes(1 + 11) + bytes(hll.DENSE_BYTES) + b"\x00")
    for _ in range(cycles):
        expected = [generator.randrange(64) for _ in range(hll.REGISTERS)]
        for index, count in enumerate(expected):
            hll.set_register(dense, index, count)
        for index, count in enumerate(expected):
            found = hll.get_register(dense, index)
            if found != count:
                return f"TESTFAILED Register {index} should be {count} but is {found}"
    relative_error = 1.04 / math.sqrt(hll.REGISTERS)
    seed = generator.getrandbits(64)
    dense_value = hll.stale(hll.EMPTY[:4] + bytes(12)) + bytes(hll.DENSE_BYTES)
    sparse_value = hll.EMPTY
    checkpoint = 1
    batch: list[bytes] = []
    for j in range(1, limit + 1):
        batch.append(((j ^ seed) & (2**64 - 1)).to_bytes(8, "little"))
        if j != checkpoint:
            continue
        dense_value = hll.add(dense_value, batch, max_bytes)[0]
        sparse_value = hll.add(sparse_value, batch, max_bytes)[0]
        batch = []
        if j < max_bytes // 2 and sparse_value[4] != hll.SPARSE:
            return "TESTFAILED sparse encoding not used"
        count = hll.cardinality(dense_value)[0]
        if count != hll.cardinality(sparse_value)[0]:
            return "TESTFAILED dense/sparse disagree"
        allowed = 1 if j == 10 else math.ceil(relative_error * 6 * checkpoint)
        if abs(checkpoint - count) > allowed:
            return f"TESTFAILED Too big error. card:{checkpoint} abserr:{abs(checkpoint - count)}"
        checkpoint *= 10
    return None
