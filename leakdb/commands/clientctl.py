"""CLIENT subcommands that steer how the server treats one connection: REPLY (ON, OFF, SKIP) and
UNBLOCK (TIMEOUT or ERROR) for a client waiting in a blocking command.

CLIENT REPLY is applied by the client's command loop (leakdb/server/client.py), which looks at one
attribute, ``reply_mode``, per command: 0 while replies flow, so a client that never sends CLIENT
REPLY pays one test.  Pub/sub confirmations and messages still reach a client whose replies are off,
as Redis 7.0 sends them.
"""

from __future__ import annotations

from typing import Any

from .. import errors
from ..engine.numbers import parse_int
from ..errors import CommandError, NotAnIntegerError, SyntaxErrorReply
from ..resp import OK, ONE, ZERO
from . import connection as _connection  # noqa: F401  (declares CLIENT, the parent)
from .registry import subcommand

REPLY_ON = 0
REPLY_OFF = 1
REPLY_SKIP_NEXT = 2  # the next command's reply is dropped
REPLY_SKIP_SET = 3  # CLIENT REPLY SKIP itself is running: its own reply is dropped, then SKIP_NEXT

# Commands whose replies are pub/sub confirmations: sent whatever CLIENT REPLY says.
PUSHING = frozenset({"subscribe", "unsubscribe", "psubscribe", "punsubscribe", "ssubscribe", "sunsubscribe"})


@subcommand("client", "reply", 3, "noscript loading stale", summary="Instruct the server whether to reply")
def client_reply(client, args):
    mode = args[2].lower()
    if mode == b"on":
        client.reply_mode = REPLY_ON
        return OK
    if mode == b"off":
        client.reply_mode = REPLY_OFF
        return b""
    if mode == b"skip":
        if client.reply_mode != REPLY_OFF:  # SKIP while OFF changes nothing, as in Redis
            client.reply_mode = REPLY_SKIP_SET
        return b""
    raise SyntaxErrorReply()


def muted(client: Any, reply: bytes, name: str | None) -> bytes:
    """The reply to send for a command that ran while CLIENT REPLY is OFF or SKIP (`name`: the
    command's name, None for a reply that was waiting, such as a blocked pop's)."""
    mode = client.reply_mode
    if mode == REPLY_SKIP_SET:
        client.reply_mode = REPLY_SKIP_NEXT
        return reply
    if name in PUSHING:
        return reply
    if mode == REPLY_SKIP_NEXT:
        client.reply_mode = REPLY_ON
    return b""


# -- CLIENT UNBLOCK --------------------------------------------------------------------------------

UNBLOCKED = b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"


@subcommand("client", "unblock", -3, "admin noscript loading stale", summary="Unblock a blocked client")
def client_unblock(client, args):
    if len(args) > 4:
        return errors.error_reply(
            errors.SUBCOMMAND_SYNTAX.format(args[1].decode("utf-8", "replace"), "CLIENT")
        )
    target = parse_int(args[2])
    if target is None:
        raise NotAnIntegerError()
    as_error = False
    if len(args) == 4:
        reason = args[3].lower()
        if reason not in (b"timeout", b"error"):
            raise CommandError(errors.UNBLOCK_REASON)
        as_error = reason == b"error"
    registry = getattr(client.server, "blocking", None)
    waiter = None if registry is None else registry.by_client.get(target)
    if waiter is None or waiter.done:
        return ZERO
    if as_error:
        waiter.reply = UNBLOCKED
    registry.forget(waiter)  # without a reply the waiter answers as its timeout would
    return ONE
