"""String commands: GET, SET and its options, counters, ranges, and the multi-key forms."""

from __future__ import annotations

from fractions import Fraction

from .. import errors
from ..engine.keyspace import now_ms
from ..engine.numbers import (
    INT64_MAX,
    INT64_MIN,
    format_long_double,
    is_infinity,
    parse_int,
    parse_long_double,
    round_long_double,
)
from ..errors import CommandError, NotAnIntegerError, SyntaxErrorReply, WrongTypeError
from ..resp import OK, ONE, ZERO, bulk
from .registry import command

MAX_STRING = 512 * 1024 * 1024
WRONGTYPE = errors.WRONGTYPE
# A SET with a deadline reports two events, as Redis does: the write, then the new deadline.
SET_AND_EXPIRE = ("set", "expire")


def int_arg(raw: bytes) -> int:
    number = parse_int(raw)
    if number is None:
        raise NotAnIntegerError()
    return number


def expire_deadline(raw: bytes, unit_ms: int, absolute: bool, name: str) -> int:
    """The absolute deadline (ms) an EX/PX/EXAT/PXAT argument asks for, checked as Redis checks it."""
    amount = int_arg(raw)
    if amount <= 0 or (unit_ms == 1000 and amount > INT64_MAX // 1000):
        raise CommandError(errors.EXPIRE_TIME_INVALID.format(name))
    deadline = amount * unit_ms
    if not absolute:
        deadline += now_ms()
        if deadline > INT64_MAX:
            raise CommandError(errors.EXPIRE_TIME_INVALID.format(name))
    return deadline


# -- GET and SET ---------------------------------------------------------------------------------


@command("get", 2, "readonly fast", 1, 1, group="string", summary="Get the value of a key")
def get(client, args):
    db = client.db
    key = args[1]
    value = db.data.get(key)
    if value is None:
        return client.resp.null
    if db.expires and key in db.expires:
        value = db.lookup(key)
        if value is None:
            return client.resp.null
    if type(value) is not bytes:
        if type(value) is not bytearray:
            return WRONGTYPE
        value = db.lookup(key)  # a bitmap left mutable by a bit write: bytes again
    return b"$%d\r\n%s\r\n" % (len(value), value)


_SET_FLAGS = {
    b"nx": "nx",
    b"xx": "xx",
    b"get": "get",
    b"keepttl": "keepttl",
    b"ex": "ex",
    b"px": "px",
    b"exat": "exat",
    b"pxat": "pxat",
}
_EXPIRE_UNITS = {"ex": (1000, False), "px": (1, False), "exat": (1000, True), "pxat": (1, True)}


def parse_set_options(args: list[bytes], start: int, allow_get: bool = True):
    """Parse SET-style options; return (condition, get_old, keepttl, expire option, expire arg)."""
    condition = None
    get_old = False
    keepttl = False
    expire = None
    expire_arg = b""
    i = start
    n = len(args)
    while i < n:
        option = _SET_FLAGS.get(args[i].lower())
        if option is None:
            raise SyntaxErrorReply()
        if option in ("nx", "xx"):
            if condition is not None and condition != option:
                raise SyntaxErrorReply()
            condition = option
        elif option == "get" and allow_get:
            get_old = True
        elif option == "keepttl":
            if expire is not None:
                raise SyntaxErrorReply()
            keepttl = True
        elif option in _EXPIRE_UNITS:
            if keepttl or (expire is not None and expire != option) or i + 1 >= n:
                raise SyntaxErrorReply()
            expire = option
            i += 1
            expire_arg = args[i]
        else:
            raise SyntaxErrorReply()
        i += 1
    return condition, get_old, keepttl, expire, expire_arg


@command("set", -3, "write denyoom", 1, 1, group="string", summary="Set the string value of a key")
def set_(client, args):
    if len(args) == 3:
        client.db.set(args[1], args[2], None, "set")
        return OK
    condition, get_old, keepttl, expire, expire_arg = parse_set_options(args, 3)
    deadline = None
    if expire is not None:
        unit, absolute = _EXPIRE_UNITS[expire]
        deadline = expire_deadline(expire_arg, unit, absolute, "set")
    db = client.db
    key = args[1]
    current = db.lookup(key)
    reply = OK
    if get_old:
        if current is not None and type(current) is not bytes:
            raise WrongTypeError()
        reply = client.resp.null if current is None else bulk(current)
    if (condition == "nx" and current is not None) or (condition == "xx" and current is None):
        return reply if get_old else client.resp.null
    if keepttl and current is not None:
        db.set_keep_ttl(key, args[2], "set")
    elif deadline is not None and deadline <= now_ms():
        # Redis keeps the key until it is next looked at, which then expires it: the same events,
        # with "expired" at once rather than at the next access.
        db.set(key, args[2], None, SET_AND_EXPIRE)
        db.delete(key, "expired")
    else:
        db.set(key, args[2], deadline, "set" if deadline is None else SET_AND_EXPIRE)
    return reply


@command("setnx", 3, "write denyoom fast", 1, 1, group="string")
def setnx(client, args):
    db = client.db
    if db.lookup(args[1]) is not None:
        return ZERO
    db.set(args[1], args[2], None, "set")
    return ONE


def _set_with_expiry(client, args, unit_ms: int, name: str) -> bytes:
    deadline = expire_deadline(args[2], unit_ms, False, name)
    client.db.set(args[1], args[3], deadline, SET_AND_EXPIRE)
    return OK


@command("setex", 4, "write denyoom", 1, 1, group="string")
def setex(client, args):
    return _set_with_expiry(client, args, 1000, "setex")


@command("psetex", 4, "write denyoom", 1, 1, group="string")
def psetex(client, args):
    return _set_with_expiry(client, args, 1, "psetex")


@command("getset", 3, "write denyoom fast", 1, 1, group="string")
def getset(client, args):
    db = client.db
    old = db.get_string(args[1])
    db.set(args[1], args[2], None, "set")
    return client.resp.null if old is None else bulk(old)


@command("getdel", 2, "write fast", 1, 1, group="string", since="6.2.0")
def getdel(client, args):
    db = client.db
    value = db.get_string(args[1])
    if value is None:
        return client.resp.null
    db.delete(args[1], "del")
    return bulk(value)


@command("getex", -2, "write fast", 1, 1, group="string", since="6.2.0")
def getex(client, args):
    deadline = None
    persist = False
    expire = None
    i = 2
    while i < len(args):
        option = args[i].lower()
        if option == b"persist" and expire is None and not persist:
            persist = True
        elif option in (b"ex", b"px", b"exat", b"pxat") and not persist and expire is None:
            if i + 1 >= len(args):
                raise SyntaxErrorReply()
            expire = option.decode()
            i += 1
        else:
            raise SyntaxErrorReply()
        i += 1
    db = client.db
    value = db.get_string(args[1])
    if value is None:
        return client.resp.null
    if expire is not None:
        # Redis looks the key up before it validates the expiry argument.
        unit, absolute = _EXPIRE_UNITS[expire]
        deadline = expire_deadline(args[i - 1], unit, absolute, "getex")
    if deadline is not None:
        db.set_expire(args[1], deadline, "expire")
    elif persist:
        db.set_expire(args[1], None, "persist")
    return bulk(value)


# -- multi-key -----------------------------------------------------------------------------------


@command("mget", -2, "readonly fast", 1, -1, group="string")
def mget(client, args):
    db = client.db
    data = db.data
    null = client.resp.null
    parts = [b"*%d\r\n" % (len(args) - 1)]
    append = parts.append
    check_expiry = bool(db.expires)
    for key in args[1:]:
        value = db.lookup(key) if check_expiry else data.get(key)
        if value is None or type(value) is not bytes:
            if type(value) is bytearray:  # a bitmap left mutable by a bit write: bytes again
                append(bulk(db.lookup(key)))
            else:
                append(null)
        else:
            append(b"$%d\r\n%s\r\n" % (len(value), value))
    return b"".join(parts)


@command("mset", -3, "write denyoom", 1, -1, 2, group="string")
def mset(client, args):
    if len(args) % 2 == 0:
        return errors.wrong_arity("mset")
    db = client.db
    for i in range(1, len(args), 2):
        db.set(args[i], args[i + 1], None, "set")
    return OK


@command("msetnx", -3, "write denyoom", 1, -1, 2, group="string")
def msetnx(client, args):
    if len(args) % 2 == 0:
        return errors.wrong_arity("msetnx")
    db = client.db
    for i in range(1, len(args), 2):
        if db.lookup(args[i]) is not None:
            return ZERO
    for i in range(1, len(args), 2):
        db.set(args[i], args[i + 1], None, "set")
    return ONE


# -- counters ------------------------------------------------------------------------------------


def _incr(client, key: bytes, delta: int) -> bytes:
    return b":%d\r\n" % client.db.incr(key, delta, None, "incrby")


@command("incr", 2, "write denyoom fast", 1, 1, group="string")
def incr(client, args):
    return _incr(client, args[1], 1)


@command("decr", 2, "write denyoom fast", 1, 1, group="string")
def decr(client, args):
    return _incr(client, args[1], -1)


@command("incrby", 3, "write denyoom fast", 1, 1, group="string")
def incrby(client, args):
    return _incr(client, args[1], int_arg(args[2]))


@command("decrby", 3, "write denyoom fast", 1, 1, group="string")
def decrby(client, args):
    delta = int_arg(args[2])
    if delta == INT64_MIN:
        raise CommandError("ERR decrement would overflow")
    return _incr(client, args[1], -delta)


@command("incrbyfloat", 3, "write denyoom fast", 1, 1, group="string", since="2.6.0")
def incrbyfloat(client, args):
    db = client.db
    current = db.get_string(args[1])
    base = Fraction(0) if current is None else parse_long_double(current)
    increment = parse_long_double(args[2])
    if base is None or increment is None:
        # Infinity is a valid long double to Redis, whose sum it then refuses.
        base_valid = base is not None or is_infinity(current)
        increment_valid = increment is not None or is_infinity(args[2])
        return errors.NAN_OR_INFINITY if base_valid and increment_valid else errors.NOT_FLOAT
    total = round_long_double(base + increment)
    if total is None:
        return errors.NAN_OR_INFINITY
    text = format_long_double(total)
    db.set_keep_ttl(args[1], text, "incrbyfloat")
    return bulk(text)


# -- ranges and lengths --------------------------------------------------------------------------


@command("append", 3, "write denyoom fast", 1, 1, group="string", since="2.0.0")
def append(client, args):
    db = client.db
    current = db.get_string(args[1])
    if current is None:
        db.set(args[1], args[2], None, "append")
        return b":%d\r\n" % len(args[2])
    if len(current) + len(args[2]) > MAX_STRING:
        return errors.STRING_TOO_LONG
    value = current + args[2]
    db.set_keep_ttl(args[1], value, "append")
    db.mark_raw(args[1])
    return b":%d\r\n" % len(value)


@command("strlen", 2, "readonly fast", 1, 1, group="string", since="2.2.0")
def strlen(client, args):
    value = client.db.read_bits(args[1])  # a bitmap is measured as it is, not copied back to bytes
    return b":%d\r\n" % (0 if value is None else len(value))


@command("getrange", 4, "readonly", 1, 1, group="string", since="2.4.0")
def getrange(client, args):
    start, end = int_arg(args[2]), int_arg(args[3])
    value = client.db.get_string(args[1]) or b""
    size = len(value)
    if start < 0 and end < 0 and start > end:
        return b"$0\r\n\r\n"
    if start < 0:
        start += size
    if end < 0:
        end += size
    start = max(start, 0)
    end = max(end, 0)
    if end >= size:
        end = size - 1
    if start > end or size == 0:
        return b"$0\r\n\r\n"
    return bulk(value[start : end + 1])


@command("substr", 4, "readonly", 1, 1, group="string")
def substr(client, args):
    return getrange(client, args)


@command("setrange", 4, "write denyoom", 1, 1, group="string", since="2.2.0")
def setrange(client, args):
    offset = int_arg(args[2])
    piece = args[3]
    if offset < 0:
        return errors.OFFSET_OUT_OF_RANGE
    db = client.db
    current = db.get_string(args[1])
    if current is None:
        if not piece:
            return ZERO
        if offset + len(piece) > MAX_STRING:
            return errors.STRING_TOO_LONG
        db.set(args[1], b"\x00" * offset + piece, None, "setrange")
        db.mark_raw(args[1])
        return b":%d\r\n" % (offset + len(piece))
    if not piece:
        return b":%d\r\n" % len(current)
    if offset + len(piece) > MAX_STRING:
        return errors.STRING_TOO_LONG
    if len(current) < offset:
        current = current + b"\x00" * (offset - len(current))
    value = current[:offset] + piece + current[offset + len(piece) :]
    db.set_keep_ttl(args[1], value, "setrange")
    db.mark_raw(args[1])
    return b":%d\r\n" % len(value)
