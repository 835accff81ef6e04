"""XREAD and XREADGROUP: read streams after given IDs, or through a consumer group, waiting with BLOCK.

Both are parsed as Redis's xreadCommand parses them (options up to STREAMS, then keys and IDs, each
key checked before its ID), so a bad request gets the error Redis gives.  A read that finds nothing
and was given BLOCK waits as a judging waiter of the blocking registry: Redis wakes stream readers
when XADD (or a new key, or XGROUP DESTROY) signals the key, not on every change, so the judge
replies only when the key was signalled or holds another value than before.  A blocked XREADGROUP is
told when its stream goes (UNBLOCKED) or its group does (NOGROUP), as in Redis 7.0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import errors
from ..engine import keyspace
from ..engine.keyspace import Database
from ..engine.numbers import parse_int
from ..engine.stream import MAX_ID, Fields, Stream
from ..errors import CommandError, SyntaxErrorReply, error_with
from ..resp import bulk
from . import blocking
from .registry import command
from .streams import CONSUMER_CREATED, entries_reply, entry_reply, long_long, parse_id

NEW_ENTRIES = MAX_ID  # the ">" ID; Redis reads the largest ID the same way
BLOCKED_DEFAULT_COUNT = 1000  # a blocked read without COUNT gets at most this many entries


@dataclass
class ReadRequest:
    """What XREAD/XREADGROUP asked for, parsed."""

    keys: list[bytes] = field(default_factory=list)
    ids: list[bytes] = field(default_factory=list)
    timeout_ms: int | None = None  # None: no BLOCK
    count: int = 0  # 0: no limit
    group: bytes | None = None
    consumer: bytes = b""
    noack: bool = False


def _timeout(raw: bytes) -> int:
    milliseconds = parse_int(raw)
    if milliseconds is None:
        raise CommandError(errors.TIMEOUT_NOT_INTEGER)
    if milliseconds < 0:
        raise CommandError(errors.TIMEOUT_NEGATIVE)
    return milliseconds


def parse_request(args: list[bytes], grouped: bool) -> ReadRequest:
    request = ReadRequest()
    streams_at = 0
    i, argc = 1, len(args)
    while i < argc:
        more = argc - i - 1
        option = args[i].lower()
        if option == b"block" and more:
            i += 1
            request.timeout_ms = _timeout(args[i])
        elif option == b"count" and more:
            i += 1
            request.count = max(long_long(args[i]), 0)
        elif option == b"streams" and more:
            streams_at = i + 1
            if (argc - streams_at) % 2:
                raise CommandError(errors.XREAD_UNBALANCED)
            break
        elif option == b"group" and more >= 2:
            if not grouped:
                raise CommandError(errors.XREAD_GROUP_OPTION)
            request.group, request.consumer = args[i + 1], args[i + 2]
            i += 2
        elif option == b"noack":
            if not grouped:
                raise CommandError(errors.XREAD_NOACK_OPTION)
            request.noack = True
        else:
            raise SyntaxErrorReply()
        i += 1
    if not streams_at:
        raise SyntaxErrorReply()
    if grouped and request.group is None:
        raise CommandError(errors.XREADGROUP_NO_GROUP_OPTION)
    half = (argc - streams_at) // 2
    request.keys = args[streams_at : streams_at + half]
    request.ids = args[streams_at + half :]
    return request


def _c_string(raw: bytes) -> bytes:
    return raw.split(b"\x00", 1)[0]


def _resolve(db: Database, request: ReadRequest) -> list[tuple[bytes, Stream | None, int]] | bytes:
    """(key, stream, ID to read after) per stream, each key checked before its ID; or an error reply."""
    grouped = request.group is not None
    resolved = []
    for key, raw in zip(request.keys, request.ids, strict=True):
        stream = db.get_typed(key, Stream)
        if grouped and (stream is None or stream.group(request.group) is None):
            return error_with(errors.XREADGROUP_NOGROUP, key, request.group)
        text = _c_string(raw)
        if text == b"$":
            if grouped:
                raise CommandError(errors.XREADGROUP_DOLLAR)
            after = 0 if stream is None else stream.last_id
        elif text == b">":
            if not grouped:
                raise CommandError(errors.XREAD_GREATER_THAN)
            after = NEW_ENTRIES
        else:
            after = parse_id(raw, strict=True)[0]
        resolved.append((key, stream, after))
    return resolved


def _reply(client: Any, parts: list[tuple[bytes, bytes]]) -> bytes:
    """Each stream's entries: [[key, entries], ...] in RESP2, a map of key to entries in RESP3."""
    resp3 = client.resp.resp3
    out = [(b"%" if resp3 else b"*") + b"%d\r\n" % len(parts)]
    for key, body in parts:
        out.append(bulk(key) + body if resp3 else b"*2\r\n" + bulk(key) + body)
    return b"".join(out)


def _history_reply(client: Any, items: list[tuple[int, Fields | None]]) -> bytes:
    null_array = client.resp.null_array
    return b"*%d\r\n" % len(items) + b"".join(entry_reply(i, fields, null_array) for i, fields in items)


def _read_group(
    client: Any, db: Database, key: bytes, stream: Stream, after: int, request: ReadRequest
) -> bytes | None:
    """Serve one stream of an XREADGROUP at once: the consumer's history for an ID, new entries for
    ">" if there are any (None if not).  Only a consumer served is created or refreshed, as in Redis."""
    group = stream.group(request.group)
    if after == NEW_ENTRIES and (not stream.entries or stream.index[-1] <= group.last_id):
        return None
    now = keyspace.now_ms()
    event = None if request.consumer in group.consumers else CONSUMER_CREATED
    consumer = group.consumer(request.consumer, now)
    if after != NEW_ENTRIES:
        start = (after + 1) & MAX_ID  # Redis's streamIncrID wraps the largest ID to 0-0
        body = _history_reply(client, stream.read_history(group, consumer, start, request.count, now))
    else:
        body = entries_reply(
            stream.read_new(group, consumer, group.last_id + 1, request.count, request.noack, now)
        )
    db.changed(key, event)
    return body


def read(client: Any, args: list[bytes], grouped: bool) -> bytes:
    request = parse_request(args, grouped)
    db = client.db
    resolved = _resolve(db, request)
    if type(resolved) is bytes:
        return resolved
    parts = []
    for key, stream, after in resolved:
        if stream is None:
            continue
        if grouped:
            body = _read_group(client, db, key, stream, after, request)
        elif stream.entries and stream.index[-1] > after:
            body = entries_reply(stream.range(after + 1, MAX_ID, request.count, False))
        else:
            body = None
        if body is not None:
            parts.append((key, body))
    if parts:
        return _reply(client, parts)
    if request.timeout_ms is None or client.in_exec:
        return client.resp.null_array
    count = request.count or BLOCKED_DEFAULT_COUNT
    seen = {key: stream for key, stream, _after in resolved}
    judge = _group_judge(seen, request, count) if grouped else _read_judge(seen, resolved, count)
    keys = [key for key, _stream, _after in resolved]
    blocking.block(client, keys, request.timeout_ms, Stream, judge, args[0], judges=True)
    raise AssertionError("block() suspends")


# -- waiting -----------------------------------------------------------------------------------------


def _read_judge(
    seen: dict[bytes, Any], resolved: list[tuple[bytes, Stream | None, int]], count: int
) -> blocking.Judge:
    """XREAD's waiter: replies once a signalled (or new) stream at a key has an ID past the one asked.

    `seen` holds what each key held when the client blocked: a change to the same stream that no
    stream command signalled (XDEL, XSETID ...) does not wake a reader in Redis."""
    after = {key: position for key, _stream, position in resolved}

    def judge(client: Any, db: Database, key: bytes, value: Any, signalled: bool) -> bytes | None:
        if value is seen.get(key) and not signalled:
            return None
        seen[key] = value
        if type(value) is not Stream or value.last_id <= after[key]:
            return None
        items = value.range(after[key] + 1, MAX_ID, count, False)
        return _reply(client, [(key, entries_reply(items))])

    return judge


def _group_judge(seen: dict[bytes, Any], request: ReadRequest, count: int) -> blocking.Judge:
    """XREADGROUP's waiter: new entries once the group's last ID falls behind the stream's, or an error
    once the stream or the group is gone."""

    def judge(client: Any, db: Database, key: bytes, value: Any, signalled: bool) -> bytes | None:
        if value is seen[key] and not signalled:
            return None
        seen[key] = value
        if type(value) is not Stream:
            return errors.error_reply(errors.XREADGROUP_KEY_GONE)
        group = value.group(request.group)
        if group is None:
            return errors.error_reply(errors.XREADGROUP_GROUP_GONE)
        if value.last_id <= group.last_id:
            return None
        now = keyspace.now_ms()
        event = None if request.consumer in group.consumers else CONSUMER_CREATED
        consumer = group.consumer(request.consumer, now)
        items = value.read_new(group, consumer, group.last_id + 1, count, request.noack, now)
        db.changed(key, event)
        return _reply(client, [(key, entries_reply(items))])

    return judge


# -- the commands ------------------------------------------------------------------------------------


@command(
    "xread",
    -4,
    "readonly blocking movablekeys",
    group="stream",
    since="5.0.0",
    summary="Return never seen elements in multiple streams, with IDs greater than the ones reported by "
    "the caller for each stream. Can block.",
)
def xread(client, args):
    return read(client, args, grouped=False)


@command(
    "xreadgroup",
    -7,
    "write blocking movablekeys",
    group="stream",
    since="5.0.0",
    summary="Return new entries from a stream using a consumer group, or access the history of the "
    "pending entries for a given consumer. Can block.",
)
def xreadgroup(client, args):
    return read(client, args, grouped=True)
