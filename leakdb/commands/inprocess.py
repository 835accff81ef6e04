"""Running Redis commands in process, against a storage's keyspace, through the server's command table.

``storage.execute_command("HSET", "h", "f", "v")`` gives a Python program every command the server
serves, with the same semantics and the same data a Redis client sees, without a socket.  Replies are
decoded by hiredis from RESP3: maps become dicts, doubles floats, sets and arrays lists.
"""

from __future__ import annotations

from typing import Any

import hiredis

from ..config import Config
from ..engine.keyspace import Keyspace
from ..errors import CommandError
from ..resp import RESP3
from . import DISPATCH, lookup
from .registry import Suspend


class EmbeddedServer:
    """What commands read from their server, for calls made in process: the keyspace (FLUSHALL,
    SWAPDB, MOVE, COPY ... DB, SELECT) and default settings.  It has no event loop, so a command
    that would block or wait is refused."""

    memory = None
    refusing_writes = False
    loop = None

    def __init__(self, keyspace: Keyspace) -> None:
        self.keyspace = keyspace
        self.config = Config(databases=len(keyspace))


class EmbeddedClient:
    """The session state a command handler expects from a client, for calls made in process."""

    authenticated = True
    close_after_reply = False
    in_exec = False
    multi = None
    name = b""
    id = 0

    def __init__(self, keyspace: Keyspace, db: int = 0) -> None:
        self.keyspace = keyspace
        self.server = EmbeddedServer(keyspace)
        self.select(db)
        self.resp = RESP3

    def select(self, index: int) -> None:
        self.db = self.keyspace[index]
        self.db_index = index

    def set_protocol(self, version: int) -> None:
        """In-process calls always decode RESP3; the request is accepted and ignored."""


def encode_arg(arg: Any) -> bytes:
    if isinstance(arg, bytes):
        return arg
    if isinstance(arg, str):
        return arg.encode()
    if isinstance(arg, bool):
        raise TypeError("booleans are not Redis arguments; pass 0/1 or a string")
    if isinstance(arg, int | float):
        return repr(arg).encode()
    if isinstance(arg, memoryview | bytearray):
        return bytes(arg)
    raise TypeError(f"cannot send {type(arg).__name__} as a Redis argument")


def execute(keyspace: Keyspace, args: tuple[Any, ...], db: int = 0) -> Any:
    """Run one command and return its decoded reply; an error reply raises CommandError."""
    if not args:
        raise ValueError("no command given")
    request = [encode_arg(arg) for arg in args]
    entry = DISPATCH.get(request[0]) or lookup(request[0])
    if entry is None:
        raise CommandError(f"ERR unknown command '{request[0].decode('utf-8', 'replace')}'")
    handler, min_args, max_args, declared = entry
    if not min_args <= len(request) <= max_args:
        raise CommandError(f"ERR wrong number of arguments for '{declared.name}' command")
    if declared.name in _SERVER_ONLY:
        raise CommandError(f"ERR '{declared.name}' needs a running server")
    try:
        reply = handler(EmbeddedClient(keyspace, db), request)
    except Suspend:
        raise CommandError(f"ERR '{declared.name}' would block, which needs a running server") from None
    return decode_reply(reply)


# Commands about connections and the server process rather than data.
_SERVER_ONLY = frozenset(
    {
        "auth",
        "hello",
        "quit",
        "reset",
        "client",
        "info",
        "config",
        "shutdown",
        "save",
        "bgsave",
        "lastsave",
        "debug",
        "monitor",
        "subscribe",
        "psubscribe",
        "unsubscribe",
        "punsubscribe",
        "ssubscribe",
        "sunsubscribe",
        "spublish",
        "publish",
        "wait",
        "replicaof",
        "slaveof",
        "failover",
        "pubsub",
        "multi",
        "exec",
        "discard",
        "watch",
        "unwatch",
    }
)


def decode_reply(reply: bytes) -> Any:
    reader = hiredis.Reader()
    reader.feed(reply)
    value = reader.gets()
    if isinstance(value, hiredis.ReplyError):
        raise CommandError(str(value))
    return value
