"""DUMP, RESTORE and MIGRATE: values moved between servers in Redis's serialization format.

DUMP replies with a key's value as :mod:`leakdb.rdb` writes it (Redis 7.0's bytes), RESTORE creates a
key from such a payload (from LeakDB or from redis-server), checking the version and CRC-64 and
decoding it whole before anything is written, and MIGRATE sends keys to another server as RESTORE
commands.  MIGRATE's network exchange runs in a suspended greenlet, so other clients are served
meanwhile; a key written by someone else in that time is left in place rather than deleted.
"""

from __future__ import annotations

from typing import Any

import gevent.socket
import hiredis

from .. import errors
from ..engine.keyspace import FLUSHDB, SWAPDB, Change, Database, now_ms
from ..engine.numbers import parse_int
from ..rdb import dump_payload, load_payload
from ..resp import OK, bulk
from .registry import Suspend, command

MIGRATE_CHUNK = 64 * 1024  # Redis writes MIGRATE's request in pieces of this size
MIGRATE_DEFAULT_TIMEOUT_MS = 1000


@command(
    "dump",
    2,
    "readonly",
    1,
    1,
    since="2.6.0",
    summary="Return a serialized version of the value stored at the specified key.",
)
def dump(client, args):
    value = client.db.lookup(args[1])
    if value is None:
        return client.resp.null
    return bulk(dump_payload(value))


# -- RESTORE ---------------------------------------------------------------------------------------


def _restore_options(args: list[bytes]) -> tuple[bool, bool, int, int] | bytes:
    """(REPLACE, ABSTTL, IDLETIME seconds, FREQ) with -1 for an absent number, or the error reply."""
    replace = absttl = False
    idle = frequency = -1
    position, count = 4, len(args)
    while position < count:
        option = args[position].lower()
        more = count - position - 1
        if option == b"replace":
            replace = True
        elif option == b"absttl":
            absttl = True
        elif option == b"idletime" and more and frequency == -1:
            position += 1
            idle = parse_int(args[position])
            if idle is None:
                return errors.NOT_INTEGER
            if idle < 0:
                return errors.RESTORE_IDLETIME_INVALID
        elif option == b"freq" and more and idle == -1:
            position += 1
            frequency = parse_int(args[position])
            if frequency is None:
                return errors.NOT_INTEGER
            if not 0 <= frequency <= 255:
                return errors.RESTORE_FREQ_INVALID
        else:
            return errors.SYNTAX
        position += 1
    return replace, absttl, idle, frequency


@command(
    "restore",
    -4,
    "write denyoom",
    1,
    1,
    since="2.6.0",
    summary="Create a key using the provided serialized value, previously obtained using DUMP.",
)
def restore(client, args):
    options = _restore_options(args)
    if type(options) is bytes:
        return options
    replace, absttl, idle, frequency = options
    db = client.db
    key = args[1]
    if not replace and db.lookup(key) is not None:
        return errors.BUSYKEY
    ttl = parse_int(args[2])
    if ttl is None:
        return errors.NOT_INTEGER
    if ttl < 0:
        return errors.RESTORE_TTL_INVALID
    value = load_payload(args[3])  # raises the payload's error reply before anything is written
    deadline = None
    if ttl:
        deadline = ttl if absttl else now_ms() + ttl
        if deadline <= now_ms():
            if replace:
                db.delete(key, "del")  # the old value goes, and the restored one is already expired
            return OK
    if replace:
        db.delete(key)  # Redis deletes the old value first: the restored key is a new one
    db.set(key, value, deadline, "restore")
    memory = getattr(client.server, "memory", None)  # access stamps are kept under maxmemory only
    if memory is not None:
        memory.stamp_restored(client.db_index, key, idle, frequency)
    return OK


# -- MIGRATE ---------------------------------------------------------------------------------------


def _encode_command(*parts: bytes) -> bytes:
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(part), part) for part in parts)


class _Migration:
    """One MIGRATE: the keys it carries, whether they stay (COPY), and which changed meanwhile."""

    def __init__(self, db: Database, keys: list[bytes], copy: bool) -> None:
        self.db = db
        self.keys = keys
        self.copy = copy
        self.changed: set[bytes] = set()

    def __call__(self, change: Change) -> None:
        """A keyspace listener while the exchange runs: note keys written by anyone else."""
        index = self.db.index
        if change.op in (FLUSHDB, SWAPDB):
            if change.db == index or change.value == index:
                self.changed.update(self.keys)
        elif change.db == index:
            self.changed.add(change.key)

    def settle(self, restored: list[bool]) -> None:
        """Delete the local keys the target took (unless COPY), except those changed meanwhile."""
        if self.copy:
            return
        for key, taken in zip(self.keys, restored, strict=True):
            if taken and key not in self.changed:
                self.db.delete(key, "del")


def _migrate_options(args: list[bytes]) -> tuple[bool, bool, bytes | None, bytes | None, list[bytes]] | bytes:
    """(COPY, REPLACE, username, password, keys), or the error reply for a bad option."""
    copy = replace = False
    username = password = None
    keys = [args[3]]
    position, count = 6, len(args)
    while position < count:
        option = args[position].lower()
        more = count - position - 1
        if option == b"copy":
            copy = True
        elif option == b"replace":
            replace = True
        elif option == b"auth":
            if not more:
                return errors.SYNTAX
            position += 1
            password = args[position]
        elif option == b"auth2":
            if more < 2:
                return errors.SYNTAX
            username, password = args[position + 1], args[position + 2]
            position += 2
        elif option == b"keys":
            if args[3]:
                return errors.MIGRATE_KEYS_NEED_EMPTY_KEY
            keys = args[position + 1 :]
            break
        else:
            return errors.SYNTAX
        position += 1
    return copy, replace, username, password, keys


@command(
    "migrate",
    -6,
    "write movablekeys",
    3,
    3,
    since="2.6.0",
    summary="Atomically transfer a key from a Redis instance to another one.",
)
def migrate(client, args):
    options = _migrate_options(args)
    if type(options) is bytes:
        return options
    copy, replace, username, password, keys = options
    timeout_ms = parse_int(args[5])
    target_db = parse_int(args[4])
    if timeout_ms is None or target_db is None:
        return errors.NOT_INTEGER
    if timeout_ms <= 0:
        timeout_ms = MIGRATE_DEFAULT_TIMEOUT_MS
    db = client.db
    present = [(key, value) for key in keys if (value := db.lookup(key)) is not None]
    if not present:
        return errors.MIGRATE_NOKEY
    # The payloads are made now, while no other client runs; only the exchange is suspended.
    request = []
    if password is not None:
        credentials = (password,) if username is None else (username, password)
        request.append(_encode_command(b"AUTH", *credentials))
    request.append(_encode_command(b"SELECT", b"%d" % target_db))
    now = now_ms()
    sent: list[bytes] = []
    for key, value in present:
        ttl = 0
        deadline = db.deadline(key)
        if deadline is not None:
            ttl = deadline - now
            if ttl < 0:
                continue
            ttl = max(ttl, 1)
        restore_args = [b"RESTORE", key, b"%d" % ttl, dump_payload(value)]
        if replace:
            restore_args.append(b"REPLACE")
        request.append(_encode_command(*restore_args))
        sent.append(key)
    migration = _Migration(db, sent, copy)
    host = args[1].decode("utf-8", "replace")
    port = parse_int(args[2]) or 0
    preamble = len(request) - len(sent)  # the AUTH and SELECT replies come first
    payload = b"".join(request)

    def work() -> bytes:
        keyspace = client.server.keyspace
        keyspace.add_listener(migration)
        try:
            return _exchange(migration, host, port, timeout_ms / 1000, payload, preamble)
        finally:
            keyspace.remove_listener(migration)

    raise Suspend(work)


def _exchange(
    migration: _Migration, host: str, port: int, timeout: float, payload: bytes, preamble: int
) -> bytes:
    """Send the request, read one reply per command, settle the local keys; the MIGRATE reply."""
    try:
        sock = gevent.socket.create_connection((host, port), timeout=timeout)
    except (TimeoutError, gevent.socket.gaierror, ValueError):
        return errors.MIGRATE_CONNECT_FAILED
    except OSError:
        # Redis connects without waiting for the outcome, so a refusal shows when it writes.
        return errors.error_reply(errors.MIGRATE_IO_ERROR.format("writing"))
    with sock:
        try:
            for start in range(0, len(payload), MIGRATE_CHUNK):
                sock.sendall(payload[start : start + MIGRATE_CHUNK])
        except OSError:
            return errors.error_reply(errors.MIGRATE_IO_ERROR.format("writing"))
        replies = _read_replies(sock, preamble + len(migration.keys))
    if len(replies) < preamble:
        return errors.error_reply(errors.MIGRATE_IO_ERROR.format("reading"))
    # A failed AUTH or SELECT fails every key, as Redis counts it; the first error is the one shown.
    preamble_error = next(
        (reply for reply in replies[:preamble] if isinstance(reply, hiredis.ReplyError)), None
    )
    first_error = None
    restored = []
    for reply in replies[preamble:]:
        error = preamble_error if preamble_error is not None else reply
        failed = isinstance(error, hiredis.ReplyError)
        if failed and first_error is None:
            first_error = error
        restored.append(not failed)
    missing = len(migration.keys) - len(restored)
    migration.settle(restored + [False] * missing)
    if first_error is not None:
        return errors.error_reply(errors.MIGRATE_TARGET_ERROR.format(first_error))
    if missing:
        return errors.error_reply(errors.MIGRATE_IO_ERROR.format("reading"))
    return OK


def _read_replies(sock: Any, wanted: int) -> list[Any]:
    """Up to `wanted` replies; fewer when the target times out, closes or does not speak RESP."""
    reader = hiredis.Reader()
    replies: list[Any] = []
    try:
        while len(replies) < wanted:
            reply = reader.gets()
            if reply is not False:
                replies.append(reply)
                continue
            data = sock.recv(65536)
            if not data:
                break
            reader.feed(data)
    except (OSError, hiredis.ProtocolError):
        pass  # the replies read so far count; the rest is a reading error
    return replies
