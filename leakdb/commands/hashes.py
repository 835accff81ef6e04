"""Hash commands: fields of a key held in a ``dict`` of bytes to bytes (t_hash.c in Redis).

A hash is created by the first write to it and deleted when its last field goes, as in Redis.  Writes
to an existing hash modify the dict in place and report it with ``Database.changed``.
"""

from __future__ import annotations

from fractions import Fraction

from .. import errors
from ..engine.encodings import hash_encoding, hash_grew
from ..engine.numbers import (
    INT64_MAX,
    INT64_MIN,
    format_long_double,
    parse_int,
    parse_long_double,
    round_long_double,
)
from ..resp import OK, ONE, ZERO, bulk
from .members import count_arg, forget, random_member, sample, scan_container, scan_reply
from .registry import command

LONG_MAX = 2**63 - 1


def _set_fields(client, args) -> int:
    """Store the field/value pairs of ``args[2:]``; return how many fields are new."""
    db = client.db
    key = args[1]
    fields = db.get_typed(key, dict)
    created = fields is None
    if created:
        fields = {}
    before = len(fields)
    for i in range(2, len(args), 2):
        fields[args[i]] = args[i + 1]
    hash_grew(fields, args[2:])
    if created:
        db.set(key, fields, None, "hset")
    else:
        forget(fields)
        db.changed(key, "hset")
    return len(fields) - before


@command(
    "hset",
    -4,
    "write denyoom fast",
    1,
    1,
    group="hash",
    since="2.0.0",
    summary="Set the string value of a hash field",
)
def hset(client, args):
    if len(args) % 2:
        return errors.wrong_arity("hset")
    return b":%d\r\n" % _set_fields(client, args)


@command(
    "hmset",
    -4,
    "write denyoom fast",
    1,
    1,
    group="hash",
    since="2.0.0",
    summary="Set multiple hash fields to multiple values",
)
def hmset(client, args):
    if len(args) % 2:
        return errors.wrong_arity("hmset")
    _set_fields(client, args)
    return OK


@command(
    "hsetnx",
    4,
    "write denyoom fast",
    1,
    1,
    group="hash",
    since="2.0.0",
    summary="Set the value of a hash field, only if the field does not exist",
)
def hsetnx(client, args):
    db = client.db
    fields = db.get_typed(args[1], dict)
    if fields is None:
        fields = {args[2]: args[3]}
        hash_grew(fields, args[2:])
        db.set(args[1], fields, None, "hset")
        return ONE
    if args[2] in fields:
        return ZERO
    fields[args[2]] = args[3]
    hash_grew(fields, args[2:])
    forget(fields)
    db.changed(args[1], "hset")
    return ONE


@command(
    "hget", 3, "readonly fast", 1, 1, group="hash", since="2.0.0", summary="Get the value of a hash field"
)
def hget(client, args):
    fields = client.db.get_typed(args[1], dict)
    value = None if fields is None else fields.get(args[2])
    return client.resp.null if value is None else b"$%d\r\n%s\r\n" % (len(value), value)


@command(
    "hmget",
    -3,
    "readonly fast",
    1,
    1,
    group="hash",
    since="2.0.0",
    summary="Get the values of all the given hash fields",
)
def hmget(client, args):
    fields = client.db.get_typed(args[1], dict) or {}
    null = client.resp.null
    parts = [b"*%d\r\n" % (len(args) - 2)]
    for name in args[2:]:
        value = fields.get(name)
        parts.append(null if value is None else b"$%d\r\n%s\r\n" % (len(value), value))
    return b"".join(parts)


@command(
    "hdel", -3, "write fast", 1, 1, group="hash", since="2.0.0", summary="Delete one or more hash fields"
)
def hdel(client, args):
    db = client.db
    fields = db.get_typed(args[1], dict)
    if fields is None:
        return ZERO
    removed = 0
    for name in args[2:]:
        if fields.pop(name, None) is not None:
            removed += 1
    if removed:
        forget(fields)
        if fields:
            db.changed(args[1], "hdel")
        else:
            db.delete(args[1], ("hdel", "del"))
    return b":%d\r\n" % removed


@command(
    "hexists",
    3,
    "readonly fast",
    1,
    1,
    group="hash",
    since="2.0.0",
    summary="Determine if a hash field exists",
)
def hexists(client, args):
    fields = client.db.get_typed(args[1], dict)
    return ONE if fields is not None and args[2] in fields else ZERO


@command(
    "hlen",
    2,
    "readonly fast",
    1,
    1,
    group="hash",
    since="2.0.0",
    summary="Get the number of fields in a hash",
)
def hlen(client, args):
    fields = client.db.get_typed(args[1], dict)
    return b":%d\r\n" % (0 if fields is None else len(fields))


@command(
    "hstrlen",
    3,
    "readonly fast",
    1,
    1,
    group="hash",
    since="3.2.0",
    summary="Get the length of the value of a hash field",
)
def hstrlen(client, args):
    fields = client.db.get_typed(args[1], dict)
    value = None if fields is None else fields.get(args[2])
    return b":%d\r\n" % (0 if value is None else len(value))


# -- whole-hash reads ----------------------------------------------------------------------------


def _all_fields(client, key: bytes) -> dict[bytes, bytes]:
    return client.db.get_typed(key, dict) or {}


@command("hkeys", 2, "readonly", 1, 1, group="hash", since="2.0.0", summary="Get all the fields in a hash")
def hkeys(client, args):
    fields = _all_fields(client, args[1])
    parts = [b"*%d\r\n" % len(fields)]
    parts.extend(b"$%d\r\n%s\r\n" % (len(name), name) for name in fields)
    return b"".join(parts)


@command("hvals", 2, "readonly", 1, 1, group="hash", since="2.0.0", summary="Get all the values in a hash")
def hvals(client, args):
    fields = _all_fields(client, args[1])
    parts = [b"*%d\r\n" % len(fields)]
    parts.extend(b"$%d\r\n%s\r\n" % (len(value), value) for value in fields.values())
    return b"".join(parts)


@command(
    "hgetall",
    2,
    "readonly",
    1,
    1,
    group="hash",
    since="2.0.0",
    summary="Get all the fields and values in a hash",
)
def hgetall(client, args):
    fields = _all_fields(client, args[1])
    header = b"%%%d\r\n" % len(fields) if client.resp.resp3 else b"*%d\r\n" % (2 * len(fields))
    parts = [header]
    for name, value in fields.items():
        parts.append(b"$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(name), name, len(value), value))
    return b"".join(parts)


# -- counters ------------------------------------------------------------------------------------


def _hash_for_write(client, key: bytes) -> dict[bytes, bytes]:
    """The hash at `key`, created empty (and not yet stored) when missing."""
    fields = client.db.get_typed(key, dict)
    return {} if fields is None else fields


def _store_field(
    client, key: bytes, fields: dict[bytes, bytes], name: bytes, value: bytes, event: str
) -> None:
    created = not fields
    fields[name] = value
    hash_grew(fields, (name, value))
    if created:
        client.db.set(key, fields, None, event)
    else:
        forget(fields)
        client.db.changed(key, event)


@command(
    "hincrby",
    4,
    "write denyoom fast",
    1,
    1,
    group="hash",
    since="2.0.0",
    summary="Increment the integer value of a hash field by the given number",
)
def hincrby(client, args):
    increment = parse_int(args[3])
    if increment is None:
        return errors.NOT_INTEGER
    fields = _hash_for_write(client, args[1])
    current = fields.get(args[2])
    number = 0 if current is None else parse_int(current)
    if number is None:
        return errors.HASH_NOT_INTEGER
    result = number + increment
    if not INT64_MIN <= result <= INT64_MAX:
        return errors.OVERFLOW
    _store_field(client, args[1], fields, args[2], b"%d" % result, "hincrby")
    return b":%d\r\n" % result


@command(
    "hincrbyfloat",
    4,
    "write denyoom fast",
    1,
    1,
    group="hash",
    since="2.6.0",
    summary="Increment the float value of a hash field by the given amount",
)
def hincrbyfloat(client, args):
    increment = parse_long_double(args[3])
    if increment is None:
        return errors.INCREMENT_NAN_OR_INFINITY if _is_infinity(args[3]) else errors.NOT_FLOAT
    fields = _hash_for_write(client, args[1])
    current = fields.get(args[2])
    if current is None:
        base = Fraction(0)
    else:
        base = parse_long_double(current)
        if base is None:
            return errors.NAN_OR_INFINITY if _is_infinity(current) else errors.HASH_NOT_FLOAT
    total = round_long_double(base + increment)
    if total is None:
        return errors.NAN_OR_INFINITY
    text = format_long_double(total)
    _store_field(client, args[1], fields, args[2], text, "hincrbyfloat")
    return bulk(text)


def _is_infinity(raw: bytes) -> bool:
    """Whether strtold reads `raw` as an infinity (which Redis accepts as a number, then refuses)."""
    body = raw[1:] if raw[:1] in (b"+", b"-") else raw
    return body.lower() in (b"inf", b"infinity")


# -- random fields and scanning ------------------------------------------------------------------


@command(
    "hrandfield",
    -2,
    "readonly",
    1,
    1,
    group="hash",
    since="6.2.0",
    summary="Get one or multiple random fields from a hash",
)
def hrandfield(client, args):
    if len(args) == 2:
        fields = client.db.get_typed(args[1], dict)
        return client.resp.null if fields is None else bulk(random_member(fields))
    count = count_arg(args[2])
    if type(count) is bytes:
        return count
    if len(args) > 4 or (len(args) == 4 and args[3].lower() != b"withvalues"):
        return errors.SYNTAX
    with_values = len(args) == 4
    if with_values and not -(LONG_MAX // 2) <= count <= LONG_MAX // 2:
        return errors.VALUE_OUT_OF_RANGE
    fields = client.db.get_typed(args[1], dict)
    if fields is None or count == 0:
        return b"*0\r\n"
    chosen = sample(fields, count)
    if not with_values:
        parts = [b"*%d\r\n" % len(chosen)]
        parts.extend(b"$%d\r\n%s\r\n" % (len(name), name) for name in chosen)
        return b"".join(parts)
    return _pairs_reply(client, fields, chosen)


def _pairs_reply(client, fields: dict[bytes, bytes], chosen: list[bytes]) -> bytes:
    """Fields with their values: a flat array in RESP2, an array of pairs in RESP3."""
    resp3 = client.resp.resp3
    parts = [b"*%d\r\n" % (len(chosen) if resp3 else 2 * len(chosen))]
    pair = b"*2\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" if resp3 else b"$%d\r\n%s\r\n$%d\r\n%s\r\n"
    for name in chosen:
        value = fields[name]
        parts.append(pair % (len(name), name, len(value), value))
    return b"".join(parts)


def _hash_is_compact(fields: dict[bytes, bytes]) -> bool:
    return hash_encoding(fields) == "listpack"


@command(
    "hscan",
    -3,
    "readonly",
    1,
    1,
    group="hash",
    since="2.8.0",
    summary="Incrementally iterate hash fields and associated values",
)
def hscan(client, args):
    found = scan_container(client, args, dict, _hash_is_compact)
    if type(found) is bytes:
        return found
    fields, next_cursor, names = found
    items = []
    for name in names:
        value = fields.get(name)
        if value is not None:
            items.append(name)
            items.append(value)
    return scan_reply(next_cursor, items)
