"""Set commands: members of a key held in a Python ``set`` of bytes (t_set.c in Redis).

A set is created by the first SADD (or a store command) and deleted when its last member goes.
Whole-set replies are RESP3 sets (``~``) where Redis sends them so, and arrays elsewhere
(SRANDMEMBER); their order is unspecified, as in Redis.
"""

from __future__ import annotations

from .. import errors
from ..engine.encodings import set_encoding, set_grew
from ..engine.numbers import parse_int
from ..resp import ONE, ZERO, bulk
from .members import count_arg, forget, pop_random, random_member, sample, scan_container, scan_reply
from .registry import command

EMPTY_ARRAY = b"*0\r\n"


def _members_reply(client, members) -> bytes:
    """A whole-set reply: a set in RESP3, an array in RESP2."""
    parts = [(b"~%d\r\n" if client.resp.resp3 else b"*%d\r\n") % len(members)]
    parts.extend(b"$%d\r\n%s\r\n" % (len(member), member) for member in members)
    return b"".join(parts)


def _array_reply(members: list[bytes]) -> bytes:
    parts = [b"*%d\r\n" % len(members)]
    parts.extend(b"$%d\r\n%s\r\n" % (len(member), member) for member in members)
    return b"".join(parts)


# -- members -------------------------------------------------------------------------------------


@command("sadd", -3, "write denyoom fast", 1, 1, group="set", summary="Add one or more members to a set")
def sadd(client, args):
    db = client.db
    members = db.get_typed(args[1], set)
    if members is None:
        members = set(args[2:])
        set_grew(members, args[2:])
        db.set(args[1], members, None, "sadd")
        return b":%d\r\n" % len(members)
    before = len(members)
    members.update(args[2:])
    added = len(members) - before
    if added:
        set_grew(members, args[2:])
        forget(members)
        db.changed(args[1], "sadd")
    return b":%d\r\n" % added


@command("srem", -3, "write fast", 1, 1, group="set", summary="Remove one or more members from a set")
def srem(client, args):
    db = client.db
    members = db.get_typed(args[1], set)
    if members is None:
        return ZERO
    before = len(members)
    members.difference_update(args[2:])
    removed = before - len(members)
    if removed:
        _changed_or_deleted(db, args[1], members, "srem")
    return b":%d\r\n" % removed


def _changed_or_deleted(db, key: bytes, members: set[bytes], event: str) -> None:
    """Report an in-place change, or delete the key when its set became empty (then "del")."""
    forget(members)
    if members:
        db.changed(key, event)
    else:
        db.delete(key, (event, "del"))


@command(
    "sismember",
    3,
    "readonly fast",
    1,
    1,
    group="set",
    summary="Determine if a given value is a member of a set",
)
def sismember(client, args):
    members = client.db.get_typed(args[1], set)
    return ONE if members is not None and args[2] in members else ZERO


@command(
    "smismember",
    -3,
    "readonly fast",
    1,
    1,
    group="set",
    since="6.2.0",
    summary="Returns the membership associated with the given elements for a set",
)
def smismember(client, args):
    members = client.db.get_typed(args[1], set) or ()
    parts = [b"*%d\r\n" % (len(args) - 2)]
    parts.extend(ONE if member in members else ZERO for member in args[2:])
    return b"".join(parts)


@command("smembers", 2, "readonly", 1, 1, group="set", summary="Get all the members in a set")
def smembers(client, args):
    return _members_reply(client, client.db.get_typed(args[1], set) or ())


@command("scard", 2, "readonly fast", 1, 1, group="set", summary="Get the number of members in a set")
def scard(client, args):
    members = client.db.get_typed(args[1], set)
    return b":%d\r\n" % (0 if members is None else len(members))


@command("smove", 4, "write fast", 1, 2, group="set", summary="Move a member from one set to another")
def smove(client, args):
    db = client.db
    source, target, member = args[1], args[2], args[3]
    source_members = db.lookup(source)
    if source_members is None:
        return ZERO
    target_members = db.get_typed(target, set)
    if type(source_members) is not set:
        return errors.WRONGTYPE
    if source == target:
        return ONE if member in source_members else ZERO
    if member not in source_members:
        return ZERO
    source_members.discard(member)
    _changed_or_deleted(db, source, source_members, "srem")
    if target_members is None:
        target_members = {member}
        set_grew(target_members, (member,))
        db.set(target, target_members, None, "sadd")
    elif member not in target_members:
        target_members.add(member)
        set_grew(target_members, (member,))
        forget(target_members)
        db.changed(target, "sadd")
    return ONE


# -- random members ------------------------------------------------------------------------------


@command(
    "spop",
    -2,
    "write fast",
    1,
    1,
    group="set",
    summary="Remove and return one or multiple random members from a set",
)
def spop(client, args):
    if len(args) == 2:
        return _pop_one(client, args[1])
    if len(args) > 3:
        return errors.SYNTAX
    count = parse_int(args[2])
    if count is None or count < 0:
        return errors.MUST_BE_POSITIVE
    db = client.db
    members = db.get_typed(args[1], set)
    if members is None or count == 0:
        return _members_reply(client, ())
    if count >= len(members):
        forget(members)
        db.delete(args[1], ("spop", "del"))
        return _members_reply(client, members)
    chosen = pop_random(members, count)
    db.changed(args[1], "spop")
    return _members_reply(client, chosen)


def _pop_one(client, key: bytes) -> bytes:
    db = client.db
    members = db.get_typed(key, set)
    if members is None:
        return client.resp.null
    member = pop_random(members, 1)[0]
    if members:
        db.changed(key, "spop")  # pop_random kept the cached member list in step
    else:
        forget(members)
        db.delete(key, ("spop", "del"))
    return bulk(member)


@command(
    "srandmember", -2, "readonly", 1, 1, group="set", summary="Get one or multiple random members from a set"
)
def srandmember(client, args):
    if len(args) == 2:
        members = client.db.get_typed(args[1], set)
        return client.resp.null if members is None else bulk(random_member(members))
    if len(args) > 3:
        return errors.SYNTAX
    count = count_arg(args[2])
    if type(count) is bytes:
        return count
    members = client.db.get_typed(args[1], set)
    if members is None or count == 0:
        return EMPTY_ARRAY
    return _array_reply(sample(members, count))


# -- algebra -------------------------------------------------------------------------------------


def _load_sets(client, keys: list[bytes]) -> list[set[bytes] | None]:
    """The set at each key (None when missing); WrongTypeError if any key holds another type."""
    get_typed = client.db.get_typed
    return [get_typed(key, set) for key in keys]


def _intersection(sets: list[set[bytes] | None], limit: int = 0) -> set[bytes]:
    if any(members is None for members in sets):
        return set()
    ordered = sorted(sets, key=len)
    smallest, others = ordered[0], ordered[1:]
    if not limit:
        return smallest.intersection(*others)
    found: set[bytes] = set()
    for member in smallest:
        if all(member in other for other in others):
            found.add(member)
            if len(found) >= limit:
                break
    return found


def _union(sets: list[set[bytes] | None]) -> set[bytes]:
    return set().union(*(members for members in sets if members is not None))


def _difference(sets: list[set[bytes] | None]) -> set[bytes]:
    first = sets[0]
    if first is None:
        return set()
    return first.difference(*(members for members in sets[1:] if members is not None))


def _store(client, target: bytes, result: set[bytes], event: str) -> bytes:
    """Replace `target` with `result` (deleting it when empty) and reply with its size."""
    db = client.db
    if result:
        db.set(target, result, None, event)
    else:
        db.delete(target, "del")
    return b":%d\r\n" % len(result)


@command("sinter", -2, "readonly", 1, -1, group="set", summary="Intersect multiple sets")
def sinter(client, args):
    return _members_reply(client, _intersection(_load_sets(client, args[1:])))


@command("sunion", -2, "readonly", 1, -1, group="set", summary="Add multiple sets")
def sunion(client, args):
    return _members_reply(client, _union(_load_sets(client, args[1:])))


@command("sdiff", -2, "readonly", 1, -1, group="set", summary="Subtract multiple sets")
def sdiff(client, args):
    return _members_reply(client, _difference(_load_sets(client, args[1:])))


@command(
    "sinterstore",
    -3,
    "write denyoom",
    1,
    -1,
    group="set",
    summary="Intersect multiple sets and store the resulting set in a key",
)
def sinterstore(client, args):
    return _store(client, args[1], _intersection(_load_sets(client, args[2:])), "sinterstore")


@command(
    "sunionstore",
    -3,
    "write denyoom",
    1,
    -1,
    group="set",
    summary="Add multiple sets and store the resulting set in a key",
)
def sunionstore(client, args):
    return _store(client, args[1], _union(_load_sets(client, args[2:])), "sunionstore")


@command(
    "sdiffstore",
    -3,
    "write denyoom",
    1,
    -1,
    group="set",
    summary="Subtract multiple sets and store the resulting set in a key",
)
def sdiffstore(client, args):
    return _store(client, args[1], _difference(_load_sets(client, args[2:])), "sdiffstore")


@command(
    "sintercard",
    -3,
    "readonly movablekeys",
    group="set",
    since="7.0.0",
    summary="Intersect multiple sets and return the cardinality of the result",
)
def sintercard(client, args):
    numkeys = parse_int(args[1])
    if numkeys is None or numkeys < 1:
        return errors.NUMKEYS_NOT_POSITIVE
    if numkeys > len(args) - 2:
        return errors.NUMKEYS_TOO_MANY
    limit = 0
    i = 2 + numkeys
    while i < len(args):
        if args[i].lower() != b"limit" or i + 1 >= len(args):
            return errors.SYNTAX
        limit = parse_int(args[i + 1])
        if limit is None or limit < 0:
            return errors.LIMIT_NEGATIVE
        i += 2
    sets = _load_sets(client, args[2 : 2 + numkeys])
    return b":%d\r\n" % len(_intersection(sets, limit))


# -- scanning ------------------------------------------------------------------------------------


def _set_is_compact(members: set[bytes]) -> bool:
    return set_encoding(members) == "intset"


@command(
    "sscan", -3, "readonly", 1, 1, group="set", since="2.8.0", summary="Incrementally iterate Set elements"
)
def sscan(client, args):
    found = scan_container(client, args, set, _set_is_compact)
    if type(found) is bytes:
        return found
    members, next_cursor, candidates = found
    return scan_reply(next_cursor, [member for member in candidates if member in members])
