"""Blocking sorted-set pops: BZPOPMIN, BZPOPMAX and BZMPOP, built on :mod:`leakdb.blocking`.

Each first pops like its non-blocking form (ZPOPMIN/ZPOPMAX with the key in front, ZMPOP); with
every key missing it waits until a sorted set appears at one of them (ZADD, ZINCRBY, ZUNIONSTORE ...
from another client), or replies a null array once the timeout passes.  Inside MULTI/EXEC it never
waits, as in Redis: an empty pop there is a null array at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..engine.keyspace import Database
from ..engine.zset import Pair, ZSet
from ..resp import Protocol, bulk
from . import blocking
from .registry import command
from .scores import score_reply
from .zsets import after_removal, mpop_arguments, mpop_reply

Reply = Callable[[Protocol, bytes, list[Pair]], bytes]  # (resp, key, popped) -> reply bytes


def _member_reply(resp: Protocol, key: bytes, popped: list[Pair]) -> bytes:
    """[key, member, score]: BZPOPMIN's reply, the score a bulk string in RESP2 and a double in RESP3."""
    score, member = popped[0]
    return b"*3\r\n" + bulk(key) + bulk(member) + score_reply(resp, score)


def _serve(highest: bool, count: int, reply: Reply) -> blocking.Serve:
    """Pop for a waiter once its key holds a sorted set again (called on the hub)."""

    def serve(client: Any, db: Database, key: bytes, zset: ZSet) -> bytes:
        popped = zset.pop(count, highest)
        after_removal(db, key, zset, len(popped), "zpopmax" if highest else "zpopmin")
        return reply(client.resp, key, popped)

    return serve


_SERVE_MIN, _SERVE_MAX = _serve(False, 1, _member_reply), _serve(True, 1, _member_reply)


def _pop_or_block(
    client: Any, name: bytes, keys: list[bytes], timeout_ms: int, serve: blocking.Serve
) -> bytes:
    """blockingGenericZpopCommand: pop from the first sorted set among `keys` (WRONGTYPE for a value
    of another type met before it) with `serve`, else block; inside a transaction a null array."""
    db = client.db
    for key in keys:
        zset = db.get_typed(key, ZSet)
        if zset is not None:  # never empty: an emptied set is deleted
            return serve(client, db, key, zset)
    if client.in_exec:
        return client.resp.null_array
    blocking.block(client, keys, timeout_ms, ZSet, serve, name)
    raise AssertionError("block() suspends")


_SUMMARY = (
    "Remove and return the member with the {} score from one or more sorted sets,"
    " or block until one is available"
)


@command(
    "bzpopmin",
    -3,
    "write noscript blocking fast",
    1,
    -2,
    group="sorted-set",
    since="5.0.0",
    summary=_SUMMARY.format("lowest"),
)
def bzpopmin(client, args):
    timeout_ms = blocking.timeout_ms(args[-1])  # before anything else, as in Redis
    return _pop_or_block(client, args[0], args[1:-1], timeout_ms, _SERVE_MIN)


@command(
    "bzpopmax",
    -3,
    "write noscript blocking fast",
    1,
    -2,
    group="sorted-set",
    since="5.0.0",
    summary=_SUMMARY.format("highest"),
)
def bzpopmax(client, args):
    timeout_ms = blocking.timeout_ms(args[-1])
    return _pop_or_block(client, args[0], args[1:-1], timeout_ms, _SERVE_MAX)


@command(
    "bzmpop",
    -5,
    "write blocking movablekeys",
    group="sorted-set",
    since="7.0.0",
    summary="Remove and return members with scores in a sorted set or block until one is available",
)
def bzmpop(client, args):
    keys, highest, count = mpop_arguments(args, 2)
    timeout_ms = blocking.timeout_ms(args[1])  # after the other arguments, as in Redis
    return _pop_or_block(client, args[0], keys, timeout_ms, _serve(highest, count, mpop_reply))
