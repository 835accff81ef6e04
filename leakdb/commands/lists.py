"""List commands: pushes and pops at both ends, ranges and positions, LPOS, moves between lists, LMPOP,
and the blocking forms (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP) built on :mod:`leakdb.blocking`.

A list is a ``collections.deque`` of bytes changed in place and reported with ``db.changed``; a list
that becomes empty is deleted, as in Redis.  Arguments are checked in the order Redis checks them, so
the same bad request gets the same error.
"""

from __future__ import annotations

from collections import deque
from itertools import islice

from .. import errors
from ..engine.keyspace import Database
from ..engine.numbers import INT64_MIN, parse_int
from ..errors import CommandError, NotAnIntegerError, SyntaxErrorReply
from ..resp import EMPTY_ARRAY, OK, ZERO, bulk, bulk_array, integer
from . import blocking
from .registry import command

LEFT, RIGHT = 0, 1
_WHERE = {b"left": LEFT, b"right": RIGHT}
MINUS_ONE = b":-1\r\n"
# Shared error replies, as the text a CommandError carries.
_POP_COUNT_NEGATIVE = errors.MUST_BE_POSITIVE[1:-2].decode()
_NUMKEYS_NOT_POSITIVE = errors.NUMKEYS_NOT_POSITIVE[1:-2].decode()


# -- shared helpers ------------------------------------------------------------------------------


def _int(raw: bytes) -> int:
    number = parse_int(raw)
    if number is None:
        raise NotAnIntegerError()
    return number


def _bounded(raw: bytes, low: int, message: str) -> int:
    """An integer argument of at least `low`; `message` for anything else (Redis's getRangeLong...)."""
    number = parse_int(raw)
    if number is None or number < low:
        raise CommandError(message)
    return number


def _where(raw: bytes) -> int:
    where = _WHERE.get(raw.lower())
    if where is None:
        raise SyntaxErrorReply()
    return where


def _list(db: Database, key: bytes) -> deque | None:
    return db.get_typed(key, deque)


def _settle(db: Database, key: bytes, items: deque) -> None:
    """Report an in-place change; an emptied list is deleted."""
    if items:
        db.changed(key)
    else:
        db.delete(key)


def _pop_many(db: Database, key: bytes, items: deque, where: int, count: int) -> list[bytes]:
    take = items.popleft if where == LEFT else items.pop
    popped = [take() for _ in range(min(count, len(items)))]
    _settle(db, key, items)
    return popped


def _key_and_items(key: bytes, popped: list[bytes]) -> bytes:
    return b"*2\r\n" + bulk(key) + bulk_array(popped)


def _key_and_value(key: bytes, value: bytes) -> bytes:
    return b"*2\r\n" + bulk(key) + bulk(value)


def _range(start: int, stop: int, length: int) -> tuple[int, int] | None:
    """Redis's inclusive range normalisation; None when the range is empty."""
    if start < 0:
        start += length
    if stop < 0:
        stop += length
    if start < 0:
        start = 0
    if start > stop or start >= length:
        return None
    return start, min(stop, length - 1)


# -- pushes --------------------------------------------------------------------------------------


def _push(client, args, where: int, only_existing: bool) -> bytes:
    db = client.db
    key = args[1]
    items = _list(db, key)
    if items is None:
        if only_existing:
            return ZERO
        items = deque()
        _extend(items, args, where)
        db.set(key, items)
        return integer(len(items))
    _extend(items, args, where)
    db.changed(key)
    return integer(len(items))


def _extend(items: deque, args: list[bytes], where: int) -> None:
    if where == LEFT:
        items.extendleft(islice(args, 2, None))
    else:
        items.extend(islice(args, 2, None))


_WRITE = dict(first_key=1, last_key=1, group="list")


@command("lpush", -3, "write denyoom fast", **_WRITE, summary="Prepend elements to a list")
def lpush(client, args):
    return _push(client, args, LEFT, False)


@command("rpush", -3, "write denyoom fast", **_WRITE, summary="Append elements to a list")
def rpush(client, args):
    return _push(client, args, RIGHT, False)


@command("lpushx", -3, "write denyoom fast", **_WRITE, since="2.2.0", summary="Prepend if the list exists")
def lpushx(client, args):
    return _push(client, args, LEFT, True)


@command("rpushx", -3, "write denyoom fast", **_WRITE, since="2.2.0", summary="Append if the list exists")
def rpushx(client, args):
    return _push(client, args, RIGHT, True)


# -- pops ----------------------------------------------------------------------------------------


def _pop(client, args, where: int) -> bytes:
    if len(args) > 3:
        return errors.wrong_arity(args[0].decode("utf-8", "replace"))
    count = None if len(args) == 2 else _bounded(args[2], 0, _POP_COUNT_NEGATIVE)
    db = client.db
    key = args[1]
    items = _list(db, key)
    if items is None:
        return client.resp.null if count is None else client.resp.null_array
    if count is None:
        return bulk(_pop_many(db, key, items, where, 1)[0])
    if count == 0:
        return EMPTY_ARRAY
    return bulk_array(_pop_many(db, key, items, where, count))


@command("lpop", -2, "write fast", **_WRITE, summary="Remove and get the first elements of a list")
def lpop(client, args):
    return _pop(client, args, LEFT)


@command("rpop", -2, "write fast", **_WRITE, summary="Remove and get the last elements of a list")
def rpop(client, args):
    return _pop(client, args, RIGHT)


# -- reading -------------------------------------------------------------------------------------

_READ = dict(first_key=1, last_key=1, group="list")


@command("llen", 2, "readonly fast", **_READ, summary="Get the length of a list")
def llen(client, args):
    items = _list(client.db, args[1])
    return ZERO if items is None else integer(len(items))


@command("lrange", 4, "readonly", **_READ, summary="Get a range of elements from a list")
def lrange(client, args):
    start, stop = _int(args[2]), _int(args[3])
    items = _list(client.db, args[1])
    if items is None:
        return EMPTY_ARRAY
    bounds = _range(start, stop, len(items))
    if bounds is None:
        return EMPTY_ARRAY
    start, stop = bounds
    if start > len(items) // 2:  # a deque is walked cheapest from its nearer end
        values = list(islice(reversed(items), len(items) - 1 - stop, len(items) - start))
        values.reverse()
        return bulk_array(values)
    return bulk_array(list(islice(items, start, stop + 1)))


@command("lindex", 3, "readonly", **_READ, summary="Get an element from a list by its index")
def lindex(client, args):
    items = _list(client.db, args[1])
    if items is None:
        return client.resp.null
    index = _int(args[2])
    if index < 0:
        index += len(items)
    if not 0 <= index < len(items):
        return client.resp.null
    return bulk(items[index])


_LPOS_OPTIONS = (b"rank", b"count", b"maxlen")


def _lpos_options(args: list[bytes]) -> tuple[int, int | None, int]:
    rank, count, maxlen = 1, None, 0
    i = 3
    while i < len(args):
        option = args[i].lower()
        if option not in _LPOS_OPTIONS or i + 1 >= len(args):
            raise SyntaxErrorReply()
        i += 1
        if option == b"rank":
            rank = _int(args[i])
            if rank == INT64_MIN:
                rank = -1  # Redis negates it, which overflows back to itself: a scan from the tail
            if rank == 0:
                raise CommandError(errors.LPOS_RANK_ZERO)
        elif option == b"count":
            count = _bounded(args[i], 0, errors.LPOS_COUNT_NEGATIVE)
        else:
            maxlen = _bounded(args[i], 0, errors.LPOS_MAXLEN_NEGATIVE)
        i += 1
    return rank, count, maxlen


def _matches(items: deque, element: bytes, rank: int, count: int, maxlen: int) -> list[int]:
    """Indexes of `element`, skipping the first |rank|-1 matches, scanning from the tail if rank < 0."""
    found: list[int] = []
    skip = abs(rank) - 1
    length = len(items)
    scan = enumerate(items) if rank > 0 else ((length - 1 - i, v) for i, v in enumerate(reversed(items)))
    for compared, (index, value) in enumerate(scan):
        if maxlen and compared >= maxlen:
            break
        if value == element:
            if skip:
                skip -= 1
                continue
            found.append(index)
            if count and len(found) >= count:
                break
    return found


@command("lpos", -3, "readonly", **_READ, since="6.0.6", summary="Index of matching elements in a list")
def lpos(client, args):
    rank, count, maxlen = _lpos_options(args)
    items = _list(client.db, args[1])
    if items is None:
        return client.resp.null if count is None else EMPTY_ARRAY
    found = _matches(items, args[2], rank, 1 if count is None else count, maxlen)
    if count is not None:
        return b"*%d\r\n" % len(found) + b"".join(integer(i) for i in found)
    return integer(found[0]) if found else client.resp.null


# -- changing in place ---------------------------------------------------------------------------


@command("lset", 4, "write denyoom", **_WRITE, summary="Set the value of an element by its index")
def lset(client, args):
    db = client.db
    items = _list(db, args[1])
    if items is None:
        raise errors.NoSuchKeyError()
    index = _int(args[2])
    if index < 0:
        index += len(items)
    if not 0 <= index < len(items):
        raise errors.OutOfRangeError()
    items[index] = args[3]
    db.changed(args[1])
    return OK


@command("linsert", 5, "write denyoom", **_WRITE, since="2.2.0", summary="Insert before or after a pivot")
def linsert(client, args):
    position = args[2].lower()
    if position not in (b"before", b"after"):
        raise SyntaxErrorReply()
    db = client.db
    items = _list(db, args[1])
    if items is None:
        return ZERO
    pivot = args[3]
    for index, value in enumerate(items):
        if value == pivot:
            items.insert(index if position == b"before" else index + 1, args[4])
            db.changed(args[1])
            return integer(len(items))
    return MINUS_ONE


@command("lrem", 4, "write", **_WRITE, summary="Remove elements from a list")
def lrem(client, args):
    count = _int(args[2])
    db = client.db
    items = _list(db, args[1])
    if items is None:
        return ZERO
    element = args[3]
    limit = abs(count) or len(items)
    ordered = items if count >= 0 else reversed(items)
    kept: list[bytes] = []
    removed = 0
    for value in ordered:
        if removed < limit and value == element:
            removed += 1
        else:
            kept.append(value)
    if removed:
        items.clear()
        items.extend(kept if count >= 0 else reversed(kept))
        _settle(db, args[1], items)
    return integer(removed)


@command("ltrim", 4, "write", **_WRITE, summary="Trim a list to the specified range")
def ltrim(client, args):
    start, stop = _int(args[2]), _int(args[3])
    db = client.db
    items = _list(db, args[1])
    if items is None:
        return OK
    length = len(items)
    bounds = _range(start, stop, length)
    if bounds is None:
        items.clear()
    else:
        for _ in range(length - 1 - bounds[1]):
            items.pop()
        for _ in range(bounds[0]):
            items.popleft()
    if len(items) != length:
        _settle(db, args[1], items)
    elif client.server.watches is not None:
        client.server.watches.signal(client.db_index, args[1])  # Redis signals even a no-op trim
    return OK


# -- moving between lists ------------------------------------------------------------------------


def _move(
    db: Database, source: bytes, items: deque, destination: bytes, wherefrom: int, whereto: int
) -> bytes:
    """Pop from the non-empty `items` at `source` and push onto `destination`; the moved element."""
    target = _list(db, destination)  # WRONGTYPE before anything moves
    value = items.popleft() if wherefrom == LEFT else items.pop()
    if target is None:
        _settle(db, source, items)
        db.set(destination, deque((value,)))
        return bulk(value)
    if whereto == LEFT:
        target.appendleft(value)
    else:
        target.append(value)
    if target is not items:
        _settle(db, source, items)
    db.changed(destination)
    return bulk(value)


def _lmove(client, source: bytes, destination: bytes, wherefrom: int, whereto: int) -> bytes:
    db = client.db
    items = _list(db, source)
    if items is None:
        return client.resp.null
    return _move(db, source, items, destination, wherefrom, whereto)


@command(
    "lmove",
    5,
    "write denyoom",
    1,
    2,
    group="list",
    since="6.2.0",
    summary="Pop from one list, push to another",
)
def lmove(client, args):
    wherefrom, whereto = _where(args[3]), _where(args[4])
    return _lmove(client, args[1], args[2], wherefrom, whereto)


@command("rpoplpush", 3, "write denyoom", 1, 2, group="list", since="1.2.0", summary="Pop right, push left")
def rpoplpush(client, args):
    return _lmove(client, args[1], args[2], RIGHT, LEFT)


def _mpop_arguments(args: list[bytes], numkeys_at: int) -> tuple[list[bytes], int, int]:
    """(keys, where, count) of LMPOP / BLMPOP, checked in Redis's order."""
    numkeys = _bounded(args[numkeys_at], 1, _NUMKEYS_NOT_POSITIVE)
    where_at = numkeys_at + numkeys + 1
    if where_at >= len(args):
        raise SyntaxErrorReply()
    where = _where(args[where_at])
    count = None
    i = where_at + 1
    while i < len(args):
        if count is not None or args[i].lower() != b"count" or i + 1 >= len(args):
            raise SyntaxErrorReply()
        count = _bounded(args[i + 1], 1, errors.COUNT_NOT_POSITIVE)
        i += 2
    return args[numkeys_at + 1 : where_at], where, 1 if count is None else count


def _first_nonempty(db: Database, keys: list[bytes]) -> tuple[bytes, deque] | None:
    """The first key, in argument order, holding a list (WRONGTYPE for any other value on the way)."""
    for key in keys:
        items = _list(db, key)
        if items:
            return key, items
    return None


@command("lmpop", -4, "write", 0, 0, group="list", since="7.0.0", summary="Pop from the first non-empty list")
def lmpop(client, args):
    keys, where, count = _mpop_arguments(args, 1)
    db = client.db
    found = _first_nonempty(db, keys)
    if found is None:
        return client.resp.null_array
    key, items = found
    return _key_and_items(key, _pop_many(db, key, items, where, count))


# -- blocking forms ------------------------------------------------------------------------------


def _in_transaction(client) -> bool:
    return getattr(client, "in_exec", False)


def _serve_pop(where: int):
    def serve(client, db: Database, key: bytes, items: deque) -> bytes:
        return _key_and_value(key, _pop_many(db, key, items, where, 1)[0])

    return serve


def _serve_mpop(where: int, count: int):
    def serve(client, db: Database, key: bytes, items: deque) -> bytes:
        return _key_and_items(key, _pop_many(db, key, items, where, count))

    return serve


def _serve_move(destination: bytes, wherefrom: int, whereto: int):
    def serve(client, db: Database, key: bytes, items: deque) -> bytes:
        return _move(db, key, items, destination, wherefrom, whereto)

    return serve


_SERVE_LEFT, _SERVE_RIGHT = _serve_pop(LEFT), _serve_pop(RIGHT)


def _blocking_pop(client, args, where: int) -> bytes:
    timeout = blocking.timeout_ms(args[-1])
    keys = args[1:-1]
    db = client.db
    found = _first_nonempty(db, keys)
    if found is not None:
        key, items = found
        return _key_and_value(key, _pop_many(db, key, items, where, 1)[0])
    if _in_transaction(client):
        return client.resp.null_array
    serve = _SERVE_LEFT if where == LEFT else _SERVE_RIGHT
    blocking.block(client, keys, timeout, deque, serve, args[0])
    raise AssertionError("block() suspends")


_BLOCKING = "write blocking"
# Redis refuses BLPOP and BRPOP in scripts (noscript); BLMPOP it runs, without blocking.
_BLOCKING_POP = "write noscript blocking"


@command("blpop", -3, _BLOCKING_POP, 1, -2, group="list", since="2.0.0", summary="Blocking LPOP")
def blpop(client, args):
    return _blocking_pop(client, args, LEFT)


@command("brpop", -3, _BLOCKING_POP, 1, -2, group="list", since="2.0.0", summary="Blocking RPOP")
def brpop(client, args):
    return _blocking_pop(client, args, RIGHT)


def _blocking_move(client, args, wherefrom: int, whereto: int, timeout: int) -> bytes:
    source, destination = args[1], args[2]
    items = _list(client.db, source)
    if items is not None:
        return _move(client.db, source, items, destination, wherefrom, whereto)
    if _in_transaction(client):
        return client.resp.null
    serve = _serve_move(destination, wherefrom, whereto)
    blocking.block(client, [source], timeout, deque, serve, args[0])
    raise AssertionError("block() suspends")


@command(
    "blmove",
    6,
    "write denyoom noscript blocking",
    1,
    2,
    group="list",
    since="6.2.0",
    summary="Blocking LMOVE",
)
def blmove(client, args):
    wherefrom, whereto = _where(args[3]), _where(args[4])
    return _blocking_move(client, args, wherefrom, whereto, blocking.timeout_ms(args[5]))


@command(
    "brpoplpush",
    4,
    "write denyoom noscript blocking",
    1,
    2,
    group="list",
    since="2.2.0",
    summary="Blocking RPOPLPUSH",
)
def brpoplpush(client, args):
    return _blocking_move(client, args, RIGHT, LEFT, blocking.timeout_ms(args[3]))


@command("blmpop", -5, _BLOCKING, 0, 0, group="list", since="7.0.0", summary="Blocking LMPOP")
def blmpop(client, args):
    keys, where, count = _mpop_arguments(args, 2)
    timeout = blocking.timeout_ms(args[1])  # checked after the other arguments, as Redis does
    db = client.db
    found = _first_nonempty(db, keys)
    if found is not None:
        key, items = found
        return _key_and_items(key, _pop_many(db, key, items, where, count))
    if _in_transaction(client):
        return client.resp.null_array
    blocking.block(client, keys, timeout, deque, _serve_mpop(where, count), args[0])
    raise AssertionError("block() suspends")
