"""XINFO STREAM [FULL [COUNT n]], XINFO GROUPS, XINFO CONSUMERS and XINFO HELP: Redis 7.0's reports
on a stream, its consumer groups and their consumers, maps in RESP3 and flat arrays in RESP2.

The radix-tree figures come from the stream's node model (see leakdb/engine/stream.py); times are
milliseconds of the keyspace's clock.
"""

from __future__ import annotations

from typing import Any

from .. import errors
from ..engine import keyspace
from ..engine.stream import MAX_ID, Stream
from ..engine.stream_groups import ConsumerGroup
from ..errors import NoSuchKeyError, error_with, subcommand_syntax
from ..resp import bulk
from .connection import help_reply
from .registry import command, dispatch_sub, subcommand
from .streams import entries_reply, entry_reply, id_reply, long_long

_XINFO_HELP = [
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
]
FULL_DEFAULT_COUNT = 10


def _map(client: Any, pairs: list[tuple[bytes, bytes]]) -> bytes:
    """A map of field names to already-encoded values."""
    resp3 = client.resp.resp3
    head = b"%%%d\r\n" % len(pairs) if resp3 else b"*%d\r\n" % (2 * len(pairs))
    return head + b"".join(bulk(name) + value for name, value in pairs)


def _integer(value: int) -> bytes:
    return b":%d\r\n" % value


def _optional(client: Any, value: int | None) -> bytes:
    return client.resp.null if value is None else _integer(value)


def _stream(client: Any, args: list[bytes]) -> Stream:
    stream = client.db.get_typed(args[2], Stream)
    if stream is None:
        raise NoSuchKeyError()
    return stream


@command(
    "xinfo", -2, "", group="stream", since="5.0.0", summary="A container for stream introspection commands"
)
def xinfo(client, args):
    return dispatch_sub(client, args)


@subcommand("xinfo", "help", 2, "loading stale", summary="Show helpful text about the different subcommands")
def xinfo_help(client, args):
    return help_reply(client, "xinfo", _XINFO_HELP)


@subcommand("xinfo", "consumers", 4, "readonly", "List the consumers in a consumer group", 2, 2, 1)
def xinfo_consumers(client, args):
    stream = _stream(client, args)
    group = stream.group(args[3])
    if group is None:
        return error_with(errors.NOGROUP_FOR_KEY, args[3], args[2])
    now = keyspace.now_ms()
    rows = [
        _map(
            client,
            [
                (b"name", bulk(consumer.name)),
                (b"pending", _integer(len(consumer.pending))),
                (b"idle", _integer(max(now - consumer.seen_time, 0))),
            ],
        )
        for consumer in group.sorted_consumers()
    ]
    return b"*%d\r\n" % len(rows) + b"".join(rows)


@subcommand("xinfo", "groups", 3, "readonly", "List the consumer groups of a stream", 2, 2, 1)
def xinfo_groups(client, args):
    stream = _stream(client, args)
    rows = [
        _map(
            client,
            [
                (b"name", bulk(name)),
                (b"consumers", _integer(len(group.consumers))),
                (b"pending", _integer(len(group.pending))),
                (b"last-delivered-id", id_reply(group.last_id)),
                (b"entries-read", _optional(client, group.entries_read)),
                (b"lag", _optional(client, stream.lag(group))),
            ],
        )
        for name, group in stream.sorted_groups()
    ]
    return b"*%d\r\n" % len(rows) + b"".join(rows)


@subcommand("xinfo", "stream", -3, "readonly", "Get information about a stream", 2, 2, 1)
def xinfo_stream(client, args):
    stream = _stream(client, args)
    options = [arg.lower() for arg in args[3:]]
    count = FULL_DEFAULT_COUNT
    if not options:
        return _stream_summary(client, stream)
    if options[0] != b"full" or len(options) not in (1, 3) or (len(options) == 3 and options[1] != b"count"):
        return subcommand_syntax(args)
    if len(options) == 3:
        count = long_long(args[5])
        if count < 0:
            count = FULL_DEFAULT_COUNT
    return _stream_full(client, stream, count)


def _stream_head(stream: Stream) -> list[tuple[bytes, bytes]]:
    return [
        (b"length", _integer(len(stream))),
        (b"radix-tree-keys", _integer(len(stream.nodes))),
        (b"radix-tree-nodes", _integer(stream.radix_tree_nodes())),
        (b"last-generated-id", id_reply(stream.last_id)),
        (b"max-deleted-entry-id", id_reply(stream.max_deleted_id)),
        (b"entries-added", _integer(stream.entries_added)),
        (b"recorded-first-entry-id", id_reply(stream.first_id)),
    ]


def _stream_summary(client: Any, stream: Stream) -> bytes:
    null = client.resp.null
    first = stream.range(0, MAX_ID, 1, False)
    last = stream.range(0, MAX_ID, 1, True)
    pairs = _stream_head(stream)
    pairs.append((b"groups", _integer(len(stream.groups or ()))))
    pairs.append((b"first-entry", entry_reply(*first[0]) if first else null))
    pairs.append((b"last-entry", entry_reply(*last[0]) if last else null))
    return _map(client, pairs)


def _stream_full(client: Any, stream: Stream, count: int) -> bytes:
    pairs = _stream_head(stream)
    pairs.append((b"entries", entries_reply(stream.range(0, MAX_ID, count, False))))
    groups = [_group_full(client, stream, name, group, count) for name, group in stream.sorted_groups()]
    pairs.append((b"groups", b"*%d\r\n" % len(groups) + b"".join(groups)))
    return _map(client, pairs)


def _group_full(client: Any, stream: Stream, name: bytes, group: ConsumerGroup, count: int) -> bytes:
    pending = group.pending
    rows = []
    for entry_id in pending.islice(0, count or None):
        entry = pending[entry_id]
        rows.append(
            b"*4\r\n%s%s:%d\r\n:%d\r\n"
            % (id_reply(entry_id), bulk(entry.consumer.name), entry.delivery_time, entry.delivery_count)
        )
    consumers = []
    for consumer in group.sorted_consumers():
        owned = [
            b"*3\r\n%s:%d\r\n:%d\r\n"
            % (id_reply(entry_id), pending[entry_id].delivery_time, pending[entry_id].delivery_count)
            for entry_id in consumer.pending.islice(0, count or None)
        ]
        consumers.append(
            _map(
                client,
                [
                    (b"name", bulk(consumer.name)),
                    (b"seen-time", _integer(consumer.seen_time)),
                    (b"pel-count", _integer(len(consumer.pending))),
                    (b"pending", b"*%d\r\n" % len(owned) + b"".join(owned)),
                ],
            )
        )
    return _map(
        client,
        [
            (b"name", bulk(name)),
            (b"last-delivered-id", id_reply(group.last_id)),
            (b"entries-read", _optional(client, group.entries_read)),
            (b"lag", _optional(client, stream.lag(group))),
            (b"pel-count", _integer(len(pending))),
            (b"pending", b"*%d\r\n" % len(rows) + b"".join(rows)),
            (b"consumers", b"*%d\r\n" % len(consumers) + b"".join(consumers)),
        ],
    )
