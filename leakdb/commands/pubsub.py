"""Publish/subscribe: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH and PUBSUB, as in Redis 7.0,
and sharded pub/sub (SSUBSCRIBE, SUNSUBSCRIBE, SPUBLISH): on a server without a cluster a shard
channel is a channel of its own namespace, which patterns never match.

The server's :class:`PubSub` maps channels and patterns to their subscribers; PUBLISH writes each
message straight into the receivers' output with ``client.send``.  A RESP2 client with subscriptions
dispatches through a restricted table (only (P)SUBSCRIBE, (P)UNSUBSCRIBE, PING, QUIT and RESET run;
PING answers ["pong", arg]); a RESP3 client keeps the full table and gets messages as push frames.
"""

from __future__ import annotations

from typing import Any

from .. import errors
from ..engine.glob import compile_glob
from ..resp import RESP2, RESP3
from .connection import help_reply
from .registry import DISPATCH, Command, Handler, command, dispatch_sub, subcommand

PUBSUB_FLAGS = "pubsub noscript loading stale"
SUBSCRIBED_CONTEXT = (
    "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed "
    "in this context"
)


class PubSub:
    """One server's channels and patterns, each with its subscribers in subscription order."""

    def __init__(self) -> None:
        self.channels: dict[bytes, dict[Any, None]] = {}
        self.patterns: dict[bytes, dict[Any, None]] = {}
        self.shards: dict[bytes, dict[Any, None]] = {}

    def spublish(self, publisher: Any, channel: bytes, message: bytes) -> tuple[int, bytes]:
        """Deliver a message to a shard channel's subscribers (as publish does, without patterns)."""
        subscribers = self.shards.get(channel)
        if not subscribers:
            return 0, b""
        frames = _frames([b"smessage", channel, message])
        own = b""
        for client in subscribers:
            own += _deliver(client, publisher, frames)
        return len(subscribers), own

    def publish(self, publisher: Any, channel: bytes, message: bytes) -> tuple[int, bytes]:
        """Deliver a message; return the receiver count and what the publisher itself must get first.

        The publisher's own copy travels with its reply, so it comes after the replies to its
        earlier commands of the same batch, where Redis puts it.
        """
        count = 0
        own = b""
        subscribers = self.channels.get(channel)
        if subscribers:
            frames = _frames([b"message", channel, message])
            for client in subscribers:
                own += _deliver(client, publisher, frames)
            count += len(subscribers)
        for pattern, subscribers in list(self.patterns.items()):
            if compile_glob(pattern)(channel):
                frames = _frames([b"pmessage", pattern, channel, message])
                for client in subscribers:
                    own += _deliver(client, publisher, frames)
                count += len(subscribers)
        return count, own


def _frames(items: list[bytes]) -> dict[int, bytes]:
    return {2: RESP2.push(items), 3: RESP3.push(items)}


def _deliver(client: Any, publisher: Any, frames: dict[int, bytes]) -> bytes:
    frame = frames[client.resp.version]
    if client is publisher:
        return frame
    client.send(frame)
    return b""


class Subscriptions:
    """A client's channels, patterns and shard channels, in the order they were subscribed."""

    __slots__ = ("channels", "patterns", "shards")

    def __init__(self) -> None:
        self.channels: dict[bytes, None] = {}
        self.patterns: dict[bytes, None] = {}
        self.shards: dict[bytes, None] = {}

    def count(self) -> int:
        """Every subscription: while there is one, the client is in subscribed mode."""
        return len(self.channels) + len(self.patterns) + len(self.shards)

    def counted(self, which: str) -> int:
        """The number the confirmations of `which` report: shard channels count apart, as in Redis."""
        if which == "shards":
            return len(self.shards)
        return len(self.channels) + len(self.patterns)


def hub_of(server: Any) -> PubSub:
    hub = server.pubsub
    if hub is None:
        hub = server.pubsub = PubSub()
    return hub


# -- which table a client dispatches through -------------------------------------------------------

_subscribed: dict[bytes, tuple[Handler, int, int, Command]] = {}
ALLOWED_WHILE_SUBSCRIBED = frozenset(
    {"subscribe", "unsubscribe", "psubscribe", "punsubscribe", "ssubscribe", "sunsubscribe", "quit", "reset"}
)


def subscribed_table() -> dict[bytes, tuple[Handler, int, int, Command]]:
    """The table of a RESP2 client with subscriptions: everything else is refused, PING changes shape."""
    if len(_subscribed) != len(DISPATCH):
        for name, (handler, low, high, declared) in DISPATCH.items():
            if declared.name in ALLOWED_WHILE_SUBSCRIBED:
                acting = handler
            elif declared.name == "ping":
                acting = _subscribed_ping
            else:
                acting = _refuser(declared)
            _subscribed[name] = (acting, low, high, declared)
    return _subscribed


def session_table(client: Any) -> dict[bytes, tuple[Handler, int, int, Command]]:
    """The table for an authenticated client outside MULTI: restricted while subscribed in RESP2."""
    subscriptions = client.subscriptions
    if subscriptions is not None and client.resp is RESP2:
        return subscribed_table()
    return DISPATCH


def _refuser(declared: Command) -> Handler:
    def refuse(client: Any, args: list[bytes]) -> bytes:
        name = declared.name
        if declared.subcommands:
            # Redis names the subcommand, after checking it exists and its arity.
            sub = declared.subcommands.get(args[1].lower().decode("utf-8", "replace"))
            if sub is None:
                return errors.unknown_subcommand(args[1], declared.name)
            if not sub.min_args <= len(args) <= sub.max_args:
                return errors.wrong_arity(sub.name)
            name = sub.name
        return errors.error_reply(SUBSCRIBED_CONTEXT.format(name))

    return refuse


def ping_in_context(client: Any, args: list[bytes]) -> bytes:
    """PING as it answers from inside EXEC, where a queued SUBSCRIBE may have changed its shape."""
    if client.subscriptions is not None and client.resp is RESP2:
        return _subscribed_ping(client, args)
    return DISPATCH[b"ping"][0](client, args)


def _subscribed_ping(client: Any, args: list[bytes]) -> bytes:
    if len(args) > 2:
        return errors.wrong_arity("ping")
    return client.resp.array([b"pong", args[1] if len(args) == 2 else b""])


def _entered(client: Any) -> Subscriptions:
    if client.subscriptions is None:
        client.subscriptions = Subscriptions()
    return client.subscriptions


def _left(client: Any) -> None:
    """After unsubscribing: a client with nothing left leaves subscribed mode."""
    if client.subscriptions is not None and not client.subscriptions.count():
        client.subscriptions = None
    if client.multi is None and not client.in_exec:
        client.dispatch = session_table(client)


# -- SUBSCRIBE / UNSUBSCRIBE ------------------------------------------------------------------------


def _confirm(client: Any, kind: bytes, name: bytes | None, count: int) -> bytes:
    return client.resp.push([kind, name, count])


@command("subscribe", -2, PUBSUB_FLAGS, group="pubsub", since="2.0.0", summary="Listen for messages")
def subscribe(client, args):
    mine = _entered(client)
    hub = hub_of(client.server)
    replies = []
    for channel in args[1:]:
        if channel not in mine.channels:
            mine.channels[channel] = None
            hub.channels.setdefault(channel, {})[client] = None
        replies.append(_confirm(client, b"subscribe", channel, mine.counted("channels")))
    _left(client)
    return b"".join(replies)


@command("psubscribe", -2, PUBSUB_FLAGS, group="pubsub", since="2.0.0", summary="Listen for patterns")
def psubscribe(client, args):
    mine = _entered(client)
    hub = hub_of(client.server)
    replies = []
    for pattern in args[1:]:
        if pattern not in mine.patterns:
            mine.patterns[pattern] = None
            hub.patterns.setdefault(pattern, {})[client] = None
        replies.append(_confirm(client, b"psubscribe", pattern, mine.counted("patterns")))
    _left(client)
    return b"".join(replies)


@command(
    "ssubscribe", -2, PUBSUB_FLAGS, 1, -1, group="pubsub", since="7.0.0", summary="Listen for shard messages"
)
def ssubscribe(client, args):
    if client.in_exec:
        return errors.error_reply(errors.DENY_BLOCKING.format("SSUBSCRIBE"))
    mine = _entered(client)
    hub = hub_of(client.server)
    replies = []
    for channel in args[1:]:
        if channel not in mine.shards:
            mine.shards[channel] = None
            hub.shards.setdefault(channel, {})[client] = None
        replies.append(_confirm(client, b"ssubscribe", channel, mine.counted("shards")))
    _left(client)
    return b"".join(replies)


_UNSUBSCRIBED = {"channels": b"unsubscribe", "patterns": b"punsubscribe", "shards": b"sunsubscribe"}


def _drop(client: Any, names: list[bytes], which: str, notify: bool) -> bytes:
    """Unsubscribe from `names` of `which` ("channels", "patterns" or "shards"; every one of them
    when empty); the confirmations."""
    kind = _UNSUBSCRIBED[which]
    mine = client.subscriptions
    hub = hub_of(client.server)
    table = getattr(hub, which)
    own: dict[bytes, None] = {}
    if mine is not None:
        own = getattr(mine, which)
    if not names:
        names = list(own)
        if not names:
            return _confirm(client, kind, None, mine.counted(which) if mine else 0) if notify else b""
    replies = []
    for name in names:
        if name in own:
            del own[name]
            subscribers = table[name]
            del subscribers[client]
            if not subscribers:
                del table[name]
        if notify:
            replies.append(_confirm(client, kind, name, mine.counted(which) if mine else 0))
    return b"".join(replies)


@command("unsubscribe", -1, PUBSUB_FLAGS, group="pubsub", since="2.0.0", summary="Stop listening")
def unsubscribe(client, args):
    reply = _drop(client, args[1:], "channels", notify=True)
    _left(client)
    return reply


@command("punsubscribe", -1, PUBSUB_FLAGS, group="pubsub", since="2.0.0", summary="Stop pattern listening")
def punsubscribe(client, args):
    reply = _drop(client, args[1:], "patterns", notify=True)
    _left(client)
    return reply


@command(
    "sunsubscribe", -1, PUBSUB_FLAGS, 1, -1, group="pubsub", since="7.0.0", summary="Stop shard listening"
)
def sunsubscribe(client, args):
    reply = _drop(client, args[1:], "shards", notify=True)
    _left(client)
    return reply


def unsubscribe_all(client: Any) -> None:
    """Drop every subscription without confirmations (RESET, and a closing connection)."""
    if client.subscriptions is None:
        return
    for which in _UNSUBSCRIBED:
        _drop(client, [], which, notify=False)
    client.subscriptions = None


# -- PUBLISH and PUBSUB -----------------------------------------------------------------------------


@command("publish", 3, "pubsub loading stale fast", group="pubsub", since="2.0.0", summary="Post a message")
def publish(client, args):
    hub = client.server.pubsub
    if hub is None:
        return b":0\r\n"
    count, own = hub.publish(client, args[1], args[2])
    return own + b":%d\r\n" % count


@command(
    "spublish",
    3,
    "pubsub loading stale fast",
    1,
    1,
    group="pubsub",
    since="7.0.0",
    summary="Post a shard message",
)
def spublish(client, args):
    hub = client.server.pubsub
    if hub is None:
        return b":0\r\n"
    count, own = hub.spublish(client, args[1], args[2])
    return own + b":%d\r\n" % count


@command("pubsub", -2, "", group="pubsub", since="2.8.0", summary="A container for Pub/Sub commands")
def pubsub_(client, args):
    return dispatch_sub(client, args)


SUB_FLAGS = "pubsub loading stale"


@subcommand("pubsub", "channels", -2, SUB_FLAGS, summary="List active channels")
def pubsub_channels(client, args):
    return _active(client, args, hub_of(client.server).channels)


def _active(client: Any, args: list[bytes], table: dict[bytes, Any]) -> bytes:
    """PUBSUB CHANNELS / SHARDCHANNELS: the channels of `table`, matching the pattern if given."""
    if len(args) > 3:
        return errors.error_reply(
            errors.CLIENT_SUBCOMMAND_USAGE.format(args[1].decode("utf-8", "replace"), "PUBSUB")
        )
    channels = list(table)
    if len(args) == 3:
        matches = compile_glob(args[2])
        channels = [channel for channel in channels if matches(channel)]
    return client.resp.array(channels)


@subcommand("pubsub", "numsub", -2, SUB_FLAGS, summary="Count subscribers of channels")
def pubsub_numsub(client, args):
    return _numsub(client, args, hub_of(client.server).channels)


def _numsub(client: Any, args: list[bytes], channels: dict[bytes, Any]) -> bytes:
    items: list[Any] = []
    for channel in args[2:]:
        items += [channel, len(channels.get(channel, ()))]
    return client.resp.array(items)


@subcommand("pubsub", "numpat", 2, SUB_FLAGS, summary="Count pattern subscriptions")
def pubsub_numpat(client, args):
    return b":%d\r\n" % len(hub_of(client.server).patterns)


@subcommand("pubsub", "shardchannels", -2, SUB_FLAGS, summary="List active shard channels")
def pubsub_shardchannels(client, args):
    return _active(client, args, hub_of(client.server).shards)


@subcommand("pubsub", "shardnumsub", -2, SUB_FLAGS, summary="Count subscribers of shard channels")
def pubsub_shardnumsub(client, args):
    return _numsub(client, args, hub_of(client.server).shards)


PUBSUB_HELP = [
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
]


@subcommand("pubsub", "help", 2, "loading stale", summary="Show help on the subcommands")
def pubsub_help(client, args):
    return help_reply(client, "pubsub", PUBSUB_HELP)
