"""Replication commands on a server that has none: LeakDB is a master with no replicas, always.

WAIT has no replica to wait for (it answers 0, after its timeout when it asks for any), FAILOVER
answers as a Redis master with no replicas does, and REPLICAOF / SLAVEOF accept only NO ONE: being
made a replica is refused with a reason, never acknowledged and ignored.
"""

from __future__ import annotations

import gevent

from .. import errors
from ..engine.numbers import parse_int
from ..errors import CommandError, NotAnIntegerError, SyntaxErrorReply
from ..resp import OK, ZERO
from .registry import Suspend, command


def _integer(raw: bytes) -> int:
    number = parse_int(raw)
    if number is None:
        raise NotAnIntegerError()
    return number


@command("wait", 3, "noscript", group="generic", since="3.0.0", summary="Wait for replicas to acknowledge")
def wait(client, args):
    replicas = _integer(args[1])
    timeout_ms = parse_int(args[2])
    if timeout_ms is None:
        raise CommandError(errors.TIMEOUT_NOT_INTEGER)
    if timeout_ms < 0:
        raise CommandError(errors.TIMEOUT_NEGATIVE)
    if replicas <= 0 or client.in_exec:
        return ZERO  # nothing to wait for; inside a transaction WAIT never blocks
    # No replica will ever acknowledge: wait out the timeout (0: forever, as in Redis) and count none.
    raise Suspend(lambda: _wait_out(client, timeout_ms))


def _wait_out(client, timeout_ms: int) -> bytes:
    if timeout_ms:
        gevent.sleep(timeout_ms / 1000)
    else:
        while not client.closed:  # forever, but not past the connection
            gevent.sleep(1)
    return ZERO


def _replicaof(client, args):
    if args[1].lower() == b"no" and args[2].lower() == b"one":
        return OK
    port = parse_int(args[2])
    if port is None or not 0 <= port <= 65535:
        raise CommandError(errors.INVALID_MASTER_PORT)
    raise CommandError(errors.NO_REPLICATION.format(args[0].decode(errors="replace").upper()))


command(
    "replicaof", 3, "admin noscript stale", group="server", since="5.0.0", summary="Make the server a replica"
)(_replicaof)
command(
    "slaveof", 3, "admin noscript stale", group="server", since="1.0.0", summary="Make the server a replica"
)(_replicaof)


@command("failover", -1, "admin noscript stale", group="server", since="6.2.0", summary="Start a failover")
def failover(client, args):
    target = timeout = None
    abort = force = False
    index = 1
    while index < len(args):
        option = args[index].lower()
        remaining = len(args) - index - 1
        if option == b"to" and remaining >= 2 and target is None:
            target = (args[index + 1], _integer(args[index + 2]))
            index += 3
        elif option == b"timeout" and remaining >= 1 and timeout is None:
            timeout = _integer(args[index + 1])
            index += 2
        elif option == b"force" and not force:
            force = True
            index += 1
        elif option == b"abort" and not abort:
            abort = True
            index += 1
        else:
            raise SyntaxErrorReply()
    if abort:
        if target is not None or timeout is not None or force:
            raise SyntaxErrorReply()
        raise CommandError(errors.FAILOVER_NOT_IN_PROGRESS)
    if timeout is not None and timeout <= 0:
        raise CommandError(errors.FAILOVER_TIMEOUT)
    raise CommandError(errors.FAILOVER_NO_REPLICAS)
