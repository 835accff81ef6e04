"""Stream commands: XADD, XRANGE, XREVRANGE, XLEN, XDEL, XTRIM and XSETID over
:class:`~leakdb.engine.stream.Stream`, and the ID parsing and entry replies every stream command shares.

Argument parsing follows t_stream.c step by step (streamParseAddOrTrimArgsOrReply, the ID parsers
built on string2ull), because the order of its checks decides which error a bad request gets.
Reading (XREAD, XREADGROUP) is in stream_reads.py, consumer groups (XGROUP, XACK, XPENDING, XCLAIM,
XAUTOCLAIM) in stream_groups.py and XINFO in stream_info.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import errors
from ..engine import keyspace
from ..engine.numbers import parse_int
from ..engine.stream import MAX_ID, UINT64_MAX, Fields, Stream, format_id
from ..errors import CommandError, NoSuchKeyError, NotAnIntegerError, SyntaxErrorReply
from ..resp import OK, ZERO
from . import blocking
from .registry import command

# Without LIMIT, `~` trimming does at most 100 * stream-node-max-entries entries of work.
# The event of a consumer that a read or a claim created (as XGROUP CREATECONSUMER names it).
CONSUMER_CREATED = "xgroup-createconsumer"
APPROX_TRIM_LIMIT = 10000
_ID_MAX_LENGTH = 127  # Redis copies an ID into a 128-byte buffer
_C_SPACE = b" \t\n\v\f\r"

# -- IDs -------------------------------------------------------------------------------------------


def _invalid_id() -> CommandError:
    return CommandError(errors.STREAM_INVALID_ID)


def _string2ull(text: bytes) -> int | None:
    """Redis's string2ull: strict string2ll for non-negative numbers, then whatever strtoull takes
    (leading spaces, a sign, leading zeros; "-5" is refused but "-05" wraps around, as in C)."""
    number = parse_int(text)
    if number is not None:
        return number if number >= 0 else None
    body = text.lstrip(_C_SPACE)
    negative = body[:1] == b"-"
    if body[:1] in (b"+", b"-"):
        body = body[1:]
    if not body.isdigit():
        return None
    value = int(body)
    if value > UINT64_MAX:
        return None
    return -value & UINT64_MAX if negative else value


def parse_id(
    raw: bytes, missing_seq: int = 0, strict: bool = False, star_seq: bool = False
) -> tuple[int, bool]:
    """An ID argument as (id, sequence given); ``<ms>-*`` is accepted when `star_seq` (XADD).

    `strict` refuses "-" and "+"; `missing_seq` completes an ID given as milliseconds only.
    """
    if len(raw) > _ID_MAX_LENGTH:
        raise _invalid_id()
    text = raw.split(b"\x00", 1)[0]  # Redis parses a C string
    if text == b"-" or text == b"+":
        if strict:
            raise _invalid_id()
        return (0 if text == b"-" else MAX_ID), True
    ms_text, dash, seq_text = text.partition(b"-")
    ms = _string2ull(ms_text)
    if ms is None:
        raise _invalid_id()
    if not dash:
        return ms << 64 | missing_seq, True
    if star_seq and seq_text == b"*":
        return ms << 64, False
    seq = _string2ull(seq_text)
    if seq is None:
        raise _invalid_id()
    return ms << 64 | seq, True


def parse_interval(raw: bytes, missing_seq: int) -> tuple[int, bool]:
    """A range end as (id, exclusive): "-", "+", an ID, or "(" and an ID."""
    if len(raw) > 1 and raw[:1] == b"(":
        return parse_id(raw[1:], missing_seq, strict=True)[0], True
    return parse_id(raw, missing_seq)[0], False


# -- XADD / XTRIM options --------------------------------------------------------------------------


@dataclass
class AddOrTrimArgs:
    """What streamParseAddOrTrimArgsOrReply reads: trimming, and for XADD the ID and NOMKSTREAM."""

    maxlen: int | None = None  # MAXLEN's threshold, None unless MAXLEN was given
    minid: int = 0
    trim: bool = False  # MAXLEN or MINID given
    approx: bool = False
    limit: int = 0
    entry_id: int | None = None  # an explicit ID (None: "*")
    seq_given: bool = True
    no_mkstream: bool = False
    position: int = 0  # where the ID is (XADD)


def long_long(raw: bytes) -> int:
    number = parse_int(raw)
    if number is None:
        raise NotAnIntegerError()
    return number


def _trim_threshold(args: list[bytes], i: int, parsed: AddOrTrimArgs, is_maxlen: bool) -> int:
    """Read ``[=|~] threshold`` after MAXLEN/MINID at ``args[i]``; return the threshold's position."""
    if parsed.trim:
        raise CommandError(errors.STREAM_TRIM_CONFLICT)
    parsed.approx = False
    if len(args) - 1 - i >= 2 and args[i + 1] in (b"~", b"="):
        parsed.approx = args[i + 1] == b"~"
        i += 1
    if is_maxlen:
        parsed.maxlen = long_long(args[i + 1])
        if parsed.maxlen < 0:
            raise CommandError(errors.STREAM_MAXLEN_NEGATIVE)
    else:
        parsed.minid = parse_id(args[i + 1], strict=True)[0]
    parsed.trim = True
    return i + 1


def parse_add_or_trim(args: list[bytes], xadd: bool) -> AddOrTrimArgs:
    parsed = AddOrTrimArgs()
    limit_given = False
    i, argc = 2, len(args)
    while i < argc:
        more = argc - 1 - i
        option = args[i].lower()
        if xadd and args[i] == b"*":
            break
        if option == b"maxlen" and more:
            i = _trim_threshold(args, i, parsed, True)
        elif option == b"minid" and more:
            i = _trim_threshold(args, i, parsed, False)
        elif option == b"limit" and more:
            parsed.limit = long_long(args[i + 1])
            if parsed.limit < 0:
                raise CommandError(errors.STREAM_LIMIT_NEGATIVE)
            limit_given = True
            i += 1
        elif xadd and option == b"nomkstream":
            parsed.no_mkstream = True
        elif xadd:
            parsed.entry_id, parsed.seq_given = parse_id(args[i], strict=True, star_seq=True)
            break
        else:
            raise SyntaxErrorReply()
        i += 1
    parsed.position = i
    _check_trim_options(parsed, limit_given, xadd)
    return parsed


def _check_trim_options(parsed: AddOrTrimArgs, limit_given: bool, xadd: bool) -> None:
    if parsed.limit and not parsed.trim:
        raise CommandError(errors.STREAM_LIMIT_NO_STRATEGY)
    if not xadd and not parsed.trim:
        raise CommandError(errors.XTRIM_NO_STRATEGY)
    if limit_given:
        if not parsed.approx:
            raise CommandError(errors.STREAM_LIMIT_NOT_APPROX)
    elif parsed.approx:
        parsed.limit = APPROX_TRIM_LIMIT
    else:
        parsed.limit = 0  # exact trimming is never limited


def _trim(stream: Stream, parsed: AddOrTrimArgs) -> int:
    return stream.trim(parsed.maxlen, parsed.minid, parsed.approx, parsed.limit)


# -- commands --------------------------------------------------------------------------------------


def _new_id(stream: Stream, parsed: AddOrTrimArgs) -> int:
    """The ID of the entry XADD adds (streamAppendItem), or the error Redis gives."""
    last = stream.last_id
    if parsed.entry_id is None:
        return stream.next_id(keyspace.now_ms())
    entry_id = parsed.entry_id
    if not parsed.seq_given and entry_id >> 64 == last >> 64:
        if last & UINT64_MAX == UINT64_MAX:
            raise CommandError(errors.STREAM_TOO_LARGE)
        entry_id = last + 1
    if entry_id <= last:
        raise CommandError(errors.STREAM_ID_TOO_SMALL)
    return entry_id


@command(
    "xadd",
    -5,
    "write denyoom fast",
    1,
    1,
    group="stream",
    since="5.0.0",
    summary="Appends a new entry to a stream",
)
def xadd(client, args):
    parsed = parse_add_or_trim(args, xadd=True)
    field_count = len(args) - parsed.position - 1
    if field_count < 2 or field_count % 2:
        return errors.wrong_arity("xadd")
    if parsed.entry_id == 0 and parsed.seq_given:
        raise CommandError(errors.STREAM_ID_ZERO)
    db = client.db
    key = args[1]
    stream = db.get_typed(key, Stream)
    created = stream is None
    if created:
        if parsed.no_mkstream:
            return client.resp.null
        stream = Stream()
    elif stream.last_id == MAX_ID:
        raise CommandError(errors.STREAM_EXHAUSTED)
    entry_id = _new_id(stream, parsed)
    stream.append(entry_id, tuple(args[parsed.position + 1 :]))
    event = "xadd"
    if parsed.trim and _trim(stream, parsed):
        event = ("xadd", "xtrim")
    if created:
        db.set(key, stream, None, event)
    else:
        db.changed(key, event)
    blocking.signal(client, key)  # XREAD and XREADGROUP waiters
    return id_reply(entry_id)


@command("xtrim", -4, "write", 1, 1, group="stream", since="5.0.0", summary="Trims the stream")
def xtrim(client, args):
    parsed = parse_add_or_trim(args, xadd=False)
    db = client.db
    stream = db.get_typed(args[1], Stream)
    if stream is None:
        return ZERO
    removed = _trim(stream, parsed)
    if removed:
        db.changed(args[1], "xtrim")
    return b":%d\r\n" % removed


@command("xdel", -3, "write fast", 1, 1, group="stream", since="5.0.0", summary="Removes stream entries")
def xdel(client, args):
    db = client.db
    stream = db.get_typed(args[1], Stream)
    if stream is None:
        return ZERO
    ids = [parse_id(raw, strict=True)[0] for raw in args[2:]]  # all checked before any is deleted
    removed = sum(1 for entry_id in ids if stream.delete(entry_id))
    if removed:
        db.changed(args[1], "xdel")  # an emptied stream stays, as in Redis
    return b":%d\r\n" % removed


@command("xlen", 2, "readonly fast", 1, 1, group="stream", since="5.0.0", summary="Return the stream length")
def xlen(client, args):
    stream = client.db.get_typed(args[1], Stream)
    return b":%d\r\n" % (0 if stream is None else len(stream))


def _range_bounds(args: list[bytes], reverse: bool) -> tuple[int, int]:
    """(start, end) of XRANGE/XREVRANGE, exclusive ends already stepped over."""
    start_arg, end_arg = (args[3], args[2]) if reverse else (args[2], args[3])
    start, exclusive = parse_interval(start_arg, 0)
    if exclusive:
        if start == MAX_ID:
            raise CommandError(errors.STREAM_INVALID_START)
        start += 1
    end, exclusive = parse_interval(end_arg, UINT64_MAX)
    if exclusive:
        if end == 0:
            raise CommandError(errors.STREAM_INVALID_END)
        end -= 1
    return start, end


def _range_count(args: list[bytes]) -> int:
    """COUNT's value (negative counts as 0), or -1 when absent."""
    count = -1
    i = 4
    while i < len(args):
        if args[i].lower() == b"count" and i + 1 < len(args):
            count = max(long_long(args[i + 1]), 0)
            i += 2
        else:
            raise SyntaxErrorReply()
    return count


def id_reply(entry_id: int) -> bytes:
    text = format_id(entry_id)
    return b"$%d\r\n%s\r\n" % (len(text), text)


def entry_reply(entry_id: int, fields: Fields | None, null_array: bytes = b"*-1\r\n") -> bytes:
    """One entry, [id, [field, value, ...]]; a deleted one (fields None) as [id, null array]."""
    text = format_id(entry_id)
    if fields is None:
        return b"*2\r\n$%d\r\n%s\r\n%s" % (len(text), text, null_array)
    parts = [b"*2\r\n$%d\r\n%s\r\n*%d\r\n" % (len(text), text, len(fields))]
    parts.extend(b"$%d\r\n%s\r\n" % (len(part), part) for part in fields)
    return b"".join(parts)


def entries_reply(items: list[tuple[int, Fields]]) -> bytes:
    """Entries as Redis sends them, in RESP2 and RESP3 alike: [[id, [field, value, ...]], ...]."""
    return b"*%d\r\n" % len(items) + b"".join(entry_reply(entry_id, fields) for entry_id, fields in items)


def _range(client, args, reverse: bool) -> bytes:
    start, end = _range_bounds(args, reverse)
    count = _range_count(args)
    stream = client.db.get_typed(args[1], Stream)
    if stream is None:
        return b"*0\r\n"
    if count == 0:
        return client.resp.null_array
    return entries_reply(stream.range(start, end, max(count, 0), reverse))


@command(
    "xrange",
    -4,
    "readonly",
    1,
    1,
    group="stream",
    since="5.0.0",
    summary="Return a range of elements in a stream, with IDs matching the specified IDs interval",
)
def xrange(client, args):
    return _range(client, args, False)


@command(
    "xrevrange",
    -4,
    "readonly",
    1,
    1,
    group="stream",
    since="5.0.0",
    summary="Return a range of elements in a stream, with IDs matching the specified IDs interval, "
    "in reverse order (from greater to smaller IDs) compared to XRANGE",
)
def xrevrange(client, args):
    return _range(client, args, True)


# -- XSETID ----------------------------------------------------------------------------------------


@command(
    "xsetid",
    -3,
    "write denyoom fast",
    1,
    1,
    group="stream",
    since="5.0.0",
    summary="An internal command for replicating stream values",
)
def xsetid(client, args):
    last_id = parse_id(args[2], strict=True)[0]
    entries_added: int | None = None
    max_deleted = 0
    i = 3
    while i < len(args):
        option = args[i].lower()
        if option == b"entriesadded" and i + 1 < len(args):
            entries_added = long_long(args[i + 1])
            if entries_added < 0:
                raise CommandError(errors.XSETID_ENTRIES_ADDED_NEGATIVE)
        elif option == b"maxdeletedid" and i + 1 < len(args):
            max_deleted = parse_id(args[i + 1], strict=True)[0]
            if last_id < max_deleted:
                raise CommandError(errors.XSETID_BELOW_MAX_DELETED)
        else:
            raise SyntaxErrorReply()
        i += 2
    db = client.db
    stream = db.get_typed(args[1], Stream)
    if stream is None:
        raise NoSuchKeyError()
    if stream.entries:
        if last_id < stream.index[-1]:
            raise CommandError(errors.XSETID_BELOW_TOP)
        if entries_added is not None and len(stream) > entries_added:
            raise CommandError(errors.XSETID_ENTRIES_ADDED_SMALL)
    stream.last_id = last_id
    if entries_added is not None:
        stream.entries_added = entries_added
    if max_deleted:
        stream.max_deleted_id = max_deleted
    db.changed(args[1], "xsetid")
    return OK
