"""Keyspace notifications: ``__keyspace@<db>__:<key>`` and ``__keyevent@<db>__:<event>`` messages.

Every write names its event in its change record (``Change.event``, Redis 7.0's event names), so the
one keyspace listener that persistence and WATCH use also serves notifications: :class:`Notifier`
turns each change into messages and publishes them.  It is a listener only while
``notify-keyspace-events`` asks for something, so a server without notifications pays nothing.

A change's event is None (nothing to announce), an event name, or a tuple of them, in the order
Redis sends them; an item of the tuple may also be ``(name, db, key)`` for an event on another key
(RENAME's ``rename_to``, MOVE's ``move_to``) that Redis sends right after this one.
"""

from __future__ import annotations

from typing import Any

from ..config import NOTIFY_FLAGS
from ..engine.keyspace import Change
from .pubsub import hub_of

KEYSPACE, KEYEVENT = NOTIFY_FLAGS["K"], NOTIFY_FLAGS["E"]
_CLASS_LETTERS = {
    "g": "del expire persist rename_from rename_to move_from move_to copy_to restore",
    "$": "set setrange incrby incrbyfloat append setbit pfadd",
    "l": "lpush rpush lpop rpop linsert lset lrem ltrim sortstore",
    "s": "sadd srem spop sinterstore sunionstore sdiffstore",
    "h": "hset hincrby hincrbyfloat hdel",
    "z": "zadd zincr zrem zremrangebyscore zremrangebyrank zremrangebylex zpopmin zpopmax "
    "zinterstore zunionstore zdiffstore zrangestore georadiusstore geosearchstore",
    "t": "xadd xtrim xdel xsetid xgroup-create xgroup-setid xgroup-destroy xgroup-createconsumer "
    "xgroup-delconsumer",
    "x": "expired",
    "e": "evicted",
    "n": "new",
}
# The class bit of each event name.
EVENT_CLASS: dict[str, int] = {
    name: NOTIFY_FLAGS[letter] for letter, names in _CLASS_LETTERS.items() for name in names.split()
}


class Notifier:
    """The keyspace listener that publishes the events of the classes ``flags`` selects."""

    def __init__(self, server: Any, flags: int) -> None:
        self.server = server
        self.flags = flags

    def __call__(self, change: Change) -> None:
        event = change.event
        if event is None:
            return
        if event.__class__ is str:
            self.emit(event, change.db, change.key)
            return
        for item in event:
            if item.__class__ is str:
                self.emit(item, change.db, change.key)
            else:
                self.emit(*item)

    def emit(self, event: str, db: int, key: bytes) -> None:
        flags = self.flags
        if not flags & EVENT_CLASS.get(event, 0):
            return
        hub = hub_of(self.server)
        if not (hub.channels or hub.patterns):
            return
        name = event.encode()
        if flags & KEYSPACE:
            hub.publish(None, b"__keyspace@%d__:%s" % (db, key), name)
        if flags & KEYEVENT:
            hub.publish(None, b"__keyevent@%d__:%s" % (db, name), key)


def configure(server: Any) -> None:
    """Follow ``notify-keyspace-events``: listen to the keyspace only while it selects events."""
    flags = server.config["notify-keyspace-events"]
    keyspace = server.keyspace
    current = getattr(server, "notifications", None)
    if current is not None:
        keyspace.remove_listener(current)
        server.notifications = None
    active = bool(flags & (KEYSPACE | KEYEVENT)) and bool(flags & ~(KEYSPACE | KEYEVENT))
    keyspace.announce_new_keys(active and bool(flags & NOTIFY_FLAGS["n"]))
    if active:
        server.notifications = Notifier(server, flags)
        keyspace.add_listener(server.notifications)
