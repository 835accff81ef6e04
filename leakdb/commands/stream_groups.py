"""Consumer group commands: XGROUP (CREATE, SETID, DESTROY, CREATECONSUMER, DELCONSUMER, HELP), XACK,
XPENDING, XCLAIM and XAUTOCLAIM, over the groups of :mod:`leakdb.engine.stream_groups`.

Each follows its t_stream.c counterpart's order of checks, so a request gets the error Redis gives
(XPENDING and XAUTOCLAIM parse their arguments before looking the key up, XCLAIM and XACK after).
Idle times are measured with the keyspace's clock, ``keyspace.now_ms``, read once per command.
Reading through a group (XREADGROUP) is in stream_reads.py.
"""

from __future__ import annotations

import os

from .. import errors
from ..engine import keyspace
from ..engine.numbers import parse_int
from ..engine.stream import MAX_ID, Stream
from ..errors import CommandError, SyntaxErrorReply, error_reply, error_with, subcommand_syntax
from ..resp import OK, ONE, ZERO, bulk
from . import blocking
from .connection import help_reply
from .registry import command, dispatch_sub, subcommand
from .streams import CONSUMER_CREATED, entry_reply, id_reply, long_long, parse_id, parse_interval

_XGROUP_HELP = [
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
]


def _c_string(raw: bytes) -> bytes:
    return raw.split(b"\x00", 1)[0]


def _entries_read(raw: bytes) -> int | None:
    """ENTRIESREAD's value: a count, or -1 (None) for "unknown"."""
    value = long_long(raw)
    if value < 0 and value != -1:
        raise CommandError(errors.XGROUP_ENTRIES_READ)
    return None if value == -1 else value


def _group_id(raw: bytes, stream: Stream | None, strict: bool) -> int:
    """CREATE's and SETID's ID: "$" for the stream's last ID (0 for a stream still to be made)."""
    if _c_string(raw) == b"$":
        return 0 if stream is None else stream.last_id
    return parse_id(raw, strict=strict)[0]


# -- XGROUP ----------------------------------------------------------------------------------------


@command("xgroup", -2, "", group="stream", since="5.0.0", summary="A container for consumer groups commands")
def xgroup(client, args):
    return dispatch_sub(client, args)


def _xgroup(client, args):
    """Every XGROUP subcommand but HELP, in the order Redis's xgroupCommand checks them."""
    sub, argc = args[1].lower(), len(args)
    mkstream, entries_read = False, None
    if sub in (b"create", b"setid") and argc >= 5:
        i = 5
        while i < argc:
            option = args[i].lower()
            if option == b"mkstream" and sub == b"create":
                mkstream = True
                i += 1
            elif option == b"entriesread" and i + 1 < argc:
                entries_read = _entries_read(args[i + 1])
                i += 2
            else:
                return subcommand_syntax(args)
    db, key, name = client.db, args[2], args[3]
    stream = db.get_typed(key, Stream)
    group = None
    if not mkstream:
        if stream is None:
            raise CommandError(errors.XGROUP_KEY_MISSING)
        group = stream.group(name)
        if group is None and sub in (b"setid", b"createconsumer", b"delconsumer"):
            return error_with(errors.NOGROUP_FOR_KEY, name, key)
    if sub == b"create" and argc <= 8:
        return _create(db, key, stream, name, args[4], entries_read)
    if sub == b"setid" and argc in (5, 7):
        last_id = _group_id(args[4], stream, strict=False)
        group.last_id, group.entries_read = last_id, entries_read
        db.changed(key, "xgroup-setid")
        return OK
    if sub == b"destroy" and argc == 4:
        if not stream.destroy_group(name):
            return ZERO
        db.changed(key, "xgroup-destroy")
        blocking.signal(client, key)  # its blocked readers get NOGROUP
        return ONE
    if sub == b"createconsumer" and argc == 5:
        if not group.create_consumer(args[4], keyspace.now_ms()):
            return ZERO
        db.changed(key, "xgroup-createconsumer")
        return ONE
    if sub == b"delconsumer" and argc == 5:
        owned = group.delete_consumer(args[4])
        if owned is None:
            return ZERO
        db.changed(key, "xgroup-delconsumer")
        return b":%d\r\n" % owned
    return subcommand_syntax(args)


def _create(db, key: bytes, stream: Stream | None, name: bytes, raw_id: bytes, entries_read: int | None):
    last_id = _group_id(raw_id, stream, strict=True)
    if stream is None:  # MKSTREAM, now that nothing can fail
        stream = Stream()
        stream.create_group(name, last_id, entries_read)
        db.set(key, stream, None, "xgroup-create")
        return OK
    if not stream.create_group(name, last_id, entries_read):
        return error_reply(errors.XGROUP_BUSYGROUP)
    db.changed(key, "xgroup-create")
    return OK


_SUBCOMMANDS = [
    ("create", -5, "write denyoom", "Create a consumer group."),
    ("setid", -5, "write", "Set a consumer group to an arbitrary last delivered ID value."),
    ("destroy", 4, "write", "Destroy a consumer group."),
    ("createconsumer", 5, "write denyoom", "Create a consumer in a consumer group."),
    ("delconsumer", 5, "write", "Delete a consumer from a consumer group."),
]
for _name, _arity, _flags, _summary in _SUBCOMMANDS:
    subcommand("xgroup", _name, _arity, _flags, _summary, 2, 2, 1)(_xgroup)


@subcommand("xgroup", "help", 2, "loading stale", summary="Show helpful text about the different subcommands")
def xgroup_help(client, args):
    return help_reply(client, "xgroup", _XGROUP_HELP)


# -- XACK ------------------------------------------------------------------------------------------


@command(
    "xack",
    -4,
    "write fast",
    1,
    1,
    group="stream",
    since="5.0.0",
    summary="Marks a pending message as correctly processed, effectively removing it from the pending "
    "entries list of the consumer group. Return value of the command is the number of messages "
    "successfully acknowledged, that is, the IDs we were actually able to resolve in the PEL.",
)
def xack(client, args):
    db = client.db
    stream = db.get_typed(args[1], Stream)
    group = None if stream is None else stream.group(args[2])
    if group is None:
        return ZERO
    ids = [parse_id(raw, strict=True)[0] for raw in args[3:]]  # all or nothing
    acknowledged = sum(1 for entry_id in ids if group.acknowledge(entry_id))
    if acknowledged:
        db.changed(args[1])  # no event: Redis announces nothing for XACK
    return b":%d\r\n" % acknowledged


# -- XPENDING --------------------------------------------------------------------------------------


def _pending_range(args: list[bytes]) -> tuple[int, int, int, int, bytes | None]:
    """(min idle, start, end, count, consumer) of the extended form, parsed before the key is looked up."""
    position, min_idle = 3, 0
    if args[3].lower() == b"idle":
        min_idle = long_long(args[4])
        if len(args) < 8:
            raise SyntaxErrorReply()
        position = 5
    count = max(long_long(args[position + 2]), 0)
    start, exclusive = parse_interval(args[position], 0)
    if exclusive:
        if start == MAX_ID:
            raise CommandError(errors.STREAM_INVALID_START)
        start += 1
    end, exclusive = parse_interval(args[position + 1], (1 << 64) - 1)
    if exclusive:
        if end == 0:
            raise CommandError(errors.STREAM_INVALID_END)
        end -= 1
    consumer = args[position + 3] if position + 3 < len(args) else None
    return min_idle, start, end, count, consumer


@command(
    "xpending",
    -3,
    "readonly",
    1,
    1,
    group="stream",
    since="5.0.0",
    summary="Return information and entries from a stream consumer group pending entries list, that "
    "are messages fetched but never acknowledged.",
)
def xpending(client, args):
    argc = len(args)
    if argc != 3 and not 6 <= argc <= 9:
        raise SyntaxErrorReply()
    extended = _pending_range(args) if argc >= 6 else None
    stream = client.db.get_typed(args[1], Stream)
    group = None if stream is None else stream.group(args[2])
    if group is None:
        return error_with(errors.NOGROUP_KEY_OR_GROUP, args[1], args[2])
    if extended is None:
        return _pending_summary(client, group)
    min_idle, start, end, count, consumer_name = extended
    pending = group.pending
    if consumer_name is not None:
        consumer = group.consumers.get(consumer_name)
        if consumer is None:
            return b"*0\r\n"
        ids = consumer.pending.irange(start, end)
    else:
        ids = pending.irange(start, end)
    now = keyspace.now_ms()
    rows = []
    for entry_id in ids:
        if len(rows) == count:
            break
        entry = pending[entry_id]
        idle = now - entry.delivery_time
        if min_idle and idle < min_idle:
            continue
        name = entry.consumer.name
        rows.append(
            b"*4\r\n%s%s:%d\r\n:%d\r\n" % (id_reply(entry_id), bulk(name), max(idle, 0), entry.delivery_count)
        )
    return b"*%d\r\n" % len(rows) + b"".join(rows)


def _pending_summary(client, group) -> bytes:
    pending = group.pending
    if not pending:
        resp = client.resp
        return b"*4\r\n:0\r\n" + resp.null + resp.null + resp.null_array
    owners = [c for c in group.sorted_consumers() if c.pending]
    parts = [
        b"*4\r\n:%d\r\n" % len(pending),
        id_reply(pending.peekitem(0)[0]),
        id_reply(pending.peekitem(-1)[0]),
    ]
    parts.append(b"*%d\r\n" % len(owners))
    parts.extend(b"*2\r\n%s%s" % (bulk(c.name), bulk(b"%d" % len(c.pending))) for c in owners)
    return b"".join(parts)


# -- XCLAIM ----------------------------------------------------------------------------------------


def _option_number(raw: bytes, name: str) -> int:
    number = parse_int(raw)
    if number is None:
        raise CommandError(errors.XCLAIM_OPTION_VALUE.format(name))
    return number


def _strict_id(raw: bytes) -> int | None:
    try:
        return parse_id(raw, strict=True)[0]
    except CommandError:
        return None


@command(
    "xclaim",
    -6,
    "write fast",
    1,
    1,
    group="stream",
    since="5.0.0",
    summary="Changes (or acquires) ownership of a message in a consumer group, as if the message was "
    "delivered to the specified consumer.",
)
def xclaim(client, args):
    db, key = client.db, args[1]
    stream = db.get_typed(key, Stream)
    group = None if stream is None else stream.group(args[2])
    if group is None:
        return error_with(errors.NOGROUP_KEY_OR_GROUP, key, args[2])
    min_idle = parse_int(args[4])
    if min_idle is None:
        raise CommandError(errors.XCLAIM_MIN_IDLE)
    ids = []
    position = 5
    while position < len(args):
        entry_id = _strict_id(args[position])
        if entry_id is None:
            break
        ids.append(entry_id)
        position += 1
    now = keyspace.now_ms()
    force = justid = False
    retry_count, delivery_time, last_id = -1, -1, 0
    while position < len(args):
        option, more = args[position].lower(), position + 1 < len(args)
        if option == b"force":
            force = True
        elif option == b"justid":
            justid = True
        elif option == b"idle" and more:
            position += 1
            delivery_time = now - _option_number(args[position], "IDLE")
        elif option == b"time" and more:
            position += 1
            delivery_time = _option_number(args[position], "TIME")
        elif option == b"retrycount" and more:
            position += 1
            retry_count = _option_number(args[position], "RETRYCOUNT")
        elif option == b"lastid" and more:
            position += 1
            last_id = parse_id(args[position], strict=True)[0]
        else:
            return error_with(errors.XCLAIM_UNRECOGNIZED, args[position])
        position += 1
    changed = False
    if last_id > group.last_id:
        group.last_id, changed = last_id, True
    if delivery_time < 0 or delivery_time > now:  # not given, or bogus: now, as Redis does
        delivery_time = now
    consumer = None
    known = args[3] in group.consumers
    replies = []
    for entry_id in ids:
        pending = group.pending.get(entry_id)
        if entry_id not in stream.entries:  # deleted meanwhile: it leaves the PEL
            if pending is not None:
                group.acknowledge(entry_id)
                changed = True
            continue
        if pending is None:
            if not force:
                continue
            pending = group.force_pending(entry_id, now)
        elif min_idle > 0 and now - pending.delivery_time < min_idle:
            continue
        if consumer is None:
            consumer = group.consumer(args[3], now)
        group.claim(entry_id, pending, consumer)
        pending.delivery_time = delivery_time
        if retry_count >= 0:
            pending.delivery_count = retry_count
        elif not justid:
            pending.delivery_count += 1
        replies.append(id_reply(entry_id) if justid else entry_reply(entry_id, stream.entries[entry_id]))
        changed = True
    if changed:
        db.changed(key, None if known or consumer is None else CONSUMER_CREATED)
    return b"*%d\r\n" % len(replies) + b"".join(replies)


# -- XAUTOCLAIM ------------------------------------------------------------------------------------

_ATTEMPTS_FACTOR = 10
_MAX_COUNT = (2**63 - 1) // 16  # LONG_MAX / max(sizeof(streamID), attempts factor)


def _transient_allocation_fails(size: int) -> bool:
    """Whether Redis's malloc of `size` bytes for XAUTOCLAIM's deleted IDs would fail: more than the
    machine's memory and swap, which Linux refuses to promise (a COUNT in the billions)."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return False
    try:
        with open("/proc/meminfo", "rb") as meminfo:
            for line in meminfo:
                if line.startswith(b"SwapTotal:"):
                    memory += int(line.split()[1]) * 1024
    except OSError:
        pass
    return size > memory


@command(
    "xautoclaim",
    -6,
    "write fast",
    1,
    1,
    group="stream",
    since="6.2.0",
    summary="Changes (or acquires) ownership of messages in a consumer group, as if the messages were "
    "delivered to the specified consumer.",
)
def xautoclaim(client, args):
    min_idle = parse_int(args[4])
    if min_idle is None:
        raise CommandError(errors.XAUTOCLAIM_MIN_IDLE)
    start, exclusive = parse_interval(args[5], 0)
    if exclusive:
        if start == MAX_ID:
            raise CommandError(errors.STREAM_INVALID_START)
        start += 1
    count, justid = 100, False
    position = 6
    while position < len(args):
        option = args[position].lower()
        if option == b"count" and position + 1 < len(args):
            count = parse_int(args[position + 1])
            if count is None or not 1 <= count <= _MAX_COUNT:
                raise CommandError(errors.XAUTOCLAIM_COUNT)
            position += 1
        elif option == b"justid":
            justid = True
        else:
            raise SyntaxErrorReply()
        position += 1
    db, key = client.db, args[1]
    stream = db.get_typed(key, Stream)
    group = None if stream is None else stream.group(args[2])
    if group is None:
        return error_with(errors.NOGROUP_KEY_OR_GROUP, key, args[2])
    if _transient_allocation_fails(count * 16):
        raise CommandError(errors.XAUTOCLAIM_COUNT_MEMORY)
    now = keyspace.now_ms()
    pending = group.pending
    index = pending.bisect_left(start)
    attempts = count * _ATTEMPTS_FACTOR
    consumer = None
    known = args[3] in group.consumers
    claimed, deleted = [], []
    while attempts and count and index < len(pending):
        attempts -= 1
        entry_id, entry = pending.peekitem(index)
        fields = stream.entries.get(entry_id)
        if fields is None:  # deleted meanwhile: leaves the PEL, and counts toward COUNT
            group.acknowledge(entry_id)
            deleted.append(entry_id)
            count -= 1
            continue
        index += 1
        if min_idle > 0 and now - entry.delivery_time < min_idle:
            continue
        if consumer is None:
            consumer = group.consumer(args[3], now)
        group.claim(entry_id, entry, consumer)
        entry.delivery_time = now
        if not justid:
            entry.delivery_count += 1
        claimed.append(id_reply(entry_id) if justid else entry_reply(entry_id, fields))
        count -= 1
    cursor = pending.peekitem(index)[0] if index < len(pending) else 0
    if claimed or deleted:
        db.changed(key, None if known or consumer is None else CONSUMER_CREATED)
    parts = [b"*3\r\n", id_reply(cursor), b"*%d\r\n" % len(claimed), *claimed, b"*%d\r\n" % len(deleted)]
    parts.extend(id_reply(entry_id) for entry_id in deleted)
    return b"".join(parts)
