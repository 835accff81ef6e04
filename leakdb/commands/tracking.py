"""Client-side caching: CLIENT TRACKING, CACHING, GETREDIR and TRACKINGINFO, as Redis 7.0 runs them.

A tracking client's reads are remembered in the server's :class:`TrackingTable` (key -> client ids;
databases are not told apart, as in Redis), and any change to such a key -- a write, an expiry, an
eviction -- sends those clients an ``invalidate`` message once and forgets them.  BCAST clients name
prefixes instead, and get every changed key under them in one message per prefix after the loop
iteration.  Messages go as RESP3 pushes, or to a REDIRECT client: as a push if it speaks RESP3, as a
``__redis__:invalidate`` message if it is subscribed in RESP2.  FLUSHDB and FLUSHALL send a null.

Nothing here runs for a client that does not track: the table and its keyspace listener exist only
while some client tracks, and the client loop runs a tracking client's commands through
:func:`call` (one attribute test per command).
"""

from __future__ import annotations

from typing import Any

from .. import errors
from ..engine.keyspace import META_DB, Change
from ..engine.numbers import parse_int
from ..errors import CommandError, SyntaxErrorReply
from ..resp import OK, RESP3, bulk
from .registry import READONLY, subcommand

INVALIDATE_CHANNEL = b"__redis__:invalidate"
_RESP2_MESSAGE = b"*3\r\n$7\r\nmessage\r\n$%d\r\n%s\r\n" % (len(INVALIDATE_CHANNEL), INVALIDATE_CHANNEL)
_RESP3_INVALIDATE = b">2\r\n$10\r\ninvalidate\r\n"
_NULL = {2: b"$-1\r\n", 3: b"_\r\n"}


class ClientTracking:
    """One client's tracking mode (CLIENT TRACKING ON and its options)."""

    __slots__ = ("bcast", "broken", "caching", "noloop", "optin", "optout", "prefixes", "redirect")

    def __init__(self) -> None:
        self.bcast = self.optin = self.optout = self.noloop = self.broken = False
        self.redirect = 0
        self.prefixes: list[bytes] = []
        self.caching: bool | None = None  # CLIENT CACHING yes/no, for the next command


class _Prefix:
    __slots__ = ("clients", "pending")

    def __init__(self) -> None:
        self.clients: dict[Any, None] = {}
        self.pending: dict[bytes, Any] = {}  # changed key -> the client that changed it (NOLOOP)


class TrackingTable:
    """The tracked keys and prefixes of one server, and the keyspace listener that invalidates them."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.keys: dict[bytes, dict[int, None]] = {}
        self.items = 0  # (key, client) pairs in `keys`, INFO's tracking_total_items
        self.prefixes: dict[bytes, _Prefix] = {}
        self.clients = 0
        self.current: Any = None  # the tracking client whose command is running
        self.own: list[bytes] = []  # messages for `current`, sent after its reply
        self._scheduled = False
        server.keyspace.add_listener(self.on_change)

    def close(self) -> None:
        self.server.keyspace.remove_listener(self.on_change)

    # -- remembering -------------------------------------------------------------------------------

    def remember(self, client: Any, keys: list[bytes]) -> None:
        table, ident = self.keys, client.id
        for key in keys:
            ids = table.get(key)
            if ids is None:
                ids = table[key] = {}
            if ident not in ids:
                ids[ident] = None
                self.items += 1
        limit = self.server.config["tracking-table-max-keys"]
        if limit and len(table) > limit:
            self._schedule()

    # -- invalidating ------------------------------------------------------------------------------

    def on_change(self, change: Change) -> None:
        key = change.key
        if key is None or change.db == META_DB:
            return  # FLUSHDB/FLUSHALL are announced by the commands themselves; SWAPDB not at all
        self.invalidate(key)

    def invalidate(self, key: bytes) -> None:
        if self.prefixes:
            for prefix, state in self.prefixes.items():
                if key.startswith(prefix):
                    state.pending[key] = self.current
                    self._schedule()
        ids = self.keys.pop(key, None)
        if not ids:
            return
        self.items -= len(ids)
        clients = self.server.clients
        array = b"*1\r\n" + bulk(key)
        for ident in ids:
            target = clients.get(ident)
            if target is None:
                continue
            state = target.tracking
            if state is None or state.bcast or (state.noloop and target is self.current):
                continue
            self.send(target, array)

    def flushed(self) -> None:
        """FLUSHDB or FLUSHALL: every tracking client gets a null invalidation; the table empties."""
        for client in list(self.server.clients.values()):
            if client.tracking is not None:
                self.send(client, _NULL[client.resp.version])
        self.keys = {}
        self.items = 0

    def send(self, client: Any, payload: bytes) -> None:
        """Send an invalidation (`payload` is the encoded key array, or a null) where `client` wants it."""
        state = client.tracking
        target = client
        redirected = False
        if state.redirect:
            target = self.server.clients.get(state.redirect)
            if target is None or target.closed:
                state.broken = True
                if client.resp is RESP3:
                    self._deliver(client, b">2\r\n$21\r\ntracking-redir-broken\r\n:%d\r\n" % state.redirect)
                return
            redirected = True
        if target.resp is RESP3:
            self._deliver(target, _RESP3_INVALIDATE + payload)
        elif redirected and target.subscriptions:
            self._deliver(target, _RESP2_MESSAGE + payload)

    def _deliver(self, target: Any, frame: bytes) -> None:
        if target is self.current:
            self.own.append(frame)  # after its reply, as Redis 7.0 delivers them
        else:
            target.send(frame)

    # -- after the loop iteration: BCAST messages and the table limit ------------------------------

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            self.server.loop.run_callback(self._after_iteration)

    def _after_iteration(self) -> None:
        self._scheduled = False
        for state in list(self.prefixes.values()):
            if not state.pending:
                continue
            pending, state.pending = state.pending, {}
            for client in list(state.clients):
                if client.closed or client.tracking is None:
                    continue
                noloop = client.tracking.noloop
                keys = [key for key, writer in pending.items() if not (noloop and writer is client)]
                if keys:
                    self.send(client, b"*%d\r\n" % len(keys) + b"".join(bulk(key) for key in keys))
        limit = self.server.config["tracking-table-max-keys"]
        while limit and len(self.keys) > limit:
            self.invalidate(next(iter(self.keys)))


def table_of(server: Any) -> TrackingTable:
    table = server.tracking
    if table is None:
        table = server.tracking = TrackingTable(server)
    return table


def tracking_info(server: Any) -> dict[str, int]:
    """INFO's tracking fields (stats section): clients tracking, keys, (key, client) items, prefixes."""
    table = getattr(server, "tracking", None)
    if table is None:
        return {
            "tracking_clients": 0,
            "tracking_total_keys": 0,
            "tracking_total_items": 0,
            "tracking_total_prefixes": 0,
        }
    return {
        "tracking_clients": table.clients,
        "tracking_total_keys": len(table.keys),
        "tracking_total_items": table.items,
        "tracking_total_prefixes": len(table.prefixes),
    }


# -- running a tracking client's command ---------------------------------------------------------


def call(client: Any, handler: Any, args: list[bytes], declared: Any) -> bytes:
    """Run one command of a tracking client: note the keys it reads, and send the invalidations its
    own writes caused right after its reply (where Redis 7.0 puts them)."""
    table = client.server.tracking
    state = client.tracking
    # EXEC runs the queued commands itself: their reads are remembered once it has run them.
    queued = client.multi.queued if declared.name == "exec" and client.multi is not None else None
    table.current = client
    try:
        reply = handler(client, args)
    finally:
        table.current = None
        own, table.own = table.own, []
        if declared.name != "client" and client.multi is None:
            caching, state.caching = state.caching, None
        else:
            caching = state.caching
    wanted = not (state.optin and caching is not True) and not (state.optout and caching is False)
    if wanted and client.tracking is state and not state.bcast:
        if READONLY in declared.flags and client.multi is None:  # (a read MULTI queued has not run)
            table.remember(client, [args[i] for i in declared.key_positions(args) if i < len(args)])
        elif queued and reply[:1] == b"*" and reply[:3] != b"*-1":  # EXEC ran them
            for _handler, queued_args, queued_declared in queued:
                if READONLY in queued_declared.flags:
                    positions = queued_declared.key_positions(queued_args)
                    table.remember(client, [queued_args[i] for i in positions if i < len(queued_args)])
    return reply + b"".join(own) if own else reply


def disable(client: Any) -> None:
    """Turn tracking off for `client` (CLIENT TRACKING OFF, RESET, closing)."""
    state = client.tracking
    if state is None:
        return
    client.tracking = None
    server = client.server
    table = server.tracking
    for prefix in state.prefixes:
        entry = table.prefixes.get(prefix)
        if entry is not None:
            entry.clients.pop(client, None)
            if not entry.clients:
                del table.prefixes[prefix]
    table.clients -= 1
    if not table.clients:
        table.close()
        server.tracking = None


def flushed(server: Any) -> None:
    """Called by FLUSHDB and FLUSHALL (also in process, where the server has no clients)."""
    table = getattr(server, "tracking", None)
    if table is not None:
        table.flushed()


# -- CLIENT TRACKING / CACHING / GETREDIR / TRACKINGINFO -------------------------------------------

_CLIENT_FLAGS = "noscript loading stale"


def _parse_tracking(client: Any, args: list[bytes]) -> tuple[ClientTracking, bool]:
    options = ClientTracking()
    on = args[2].lower()
    if on not in (b"on", b"off"):
        raise SyntaxErrorReply()
    i = 3
    while i < len(args):
        option = args[i].lower()
        more = i + 1 < len(args)
        if option == b"redirect" and more:
            i += 1
            ident = parse_int(args[i])
            if ident is None:
                raise errors.NotAnIntegerError()
            if options.redirect:
                raise CommandError(errors.TRACKING_ONE_REDIRECT)
            if ident == client.id or ident in client.server.clients:
                options.redirect = ident
            else:
                raise CommandError(errors.TRACKING_NO_REDIRECT_CLIENT)
        elif option == b"bcast":
            options.bcast = True
        elif option == b"optin":
            options.optin = True
        elif option == b"optout":
            options.optout = True
        elif option == b"noloop":
            options.noloop = True
        elif option == b"prefix" and more:
            i += 1
            options.prefixes.append(args[i])
        else:
            raise SyntaxErrorReply()
        i += 1
    return options, on == b"on"


def _check(client: Any, options: ClientTracking) -> None:
    """Redis's checks of CLIENT TRACKING ON, in its order."""
    if not options.bcast and options.prefixes:
        raise CommandError(errors.TRACKING_PREFIX_NEEDS_BCAST)
    current = client.tracking
    if current is not None and current.bcast != options.bcast:
        raise CommandError(errors.TRACKING_SWITCH_BCAST)
    if options.optin and options.optout:
        raise CommandError(errors.TRACKING_OPTIN_AND_OPTOUT)
    if (options.optin or options.optout) and options.bcast:
        raise CommandError(errors.TRACKING_OPT_WITH_BCAST)
    if current is not None and ((options.optin and current.optout) or (options.optout and current.optin)):
        raise CommandError(errors.TRACKING_SWITCH_OPT)
    if options.bcast:
        existing = current.prefixes if current is not None else []
        _check_prefixes(options.prefixes, existing)


def _check_prefixes(given: list[bytes], existing: list[bytes]) -> None:
    for i, prefix in enumerate(given):
        for other in existing:
            if prefix.startswith(other) or other.startswith(prefix):
                raise CommandError(
                    errors.TRACKING_PREFIX_OVERLAPS_EXISTING.format(_text(prefix), _text(other))
                )
        for j, other in enumerate(given):
            if i != j and (prefix.startswith(other) or other.startswith(prefix)):
                raise CommandError(errors.TRACKING_PREFIX_OVERLAPS_GIVEN.format(_text(prefix), _text(other)))


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


@subcommand(
    "client",
    "tracking",
    -3,
    _CLIENT_FLAGS,
    summary="Enable or disable server assisted client side caching support",
)
def client_tracking(client, args):
    options, on = _parse_tracking(client, args)
    if not on:
        disable(client)
        return OK
    _check(client, options)
    table = table_of(client.server)
    state = client.tracking
    if state is None:
        state = client.tracking = ClientTracking()
        table.clients += 1
    state.bcast = options.bcast
    state.optin, state.optout, state.noloop = options.optin, options.optout, options.noloop
    state.redirect, state.broken = options.redirect, False
    state.caching = None
    for prefix in options.prefixes or ([b""] if options.bcast and not state.prefixes else []):
        if prefix not in state.prefixes:
            state.prefixes.append(prefix)
            entry = table.prefixes.get(prefix)
            if entry is None:
                entry = table.prefixes[prefix] = _Prefix()
            entry.clients[client] = None
    return OK


@subcommand(
    "client",
    "caching",
    3,
    _CLIENT_FLAGS,
    summary="Instruct the server about tracking or not keys in the next request",
)
def client_caching(client, args):
    state = client.tracking
    if state is None or not (state.optin or state.optout):
        raise CommandError(errors.CACHING_NEEDS_OPT)
    value = args[2].lower()
    if value == b"yes":
        if not state.optin:
            raise CommandError(errors.CACHING_YES_NEEDS_OPTIN)
        state.caching = True
    elif value == b"no":
        if not state.optout:
            raise CommandError(errors.CACHING_NO_NEEDS_OPTOUT)
        state.caching = False
    else:
        raise SyntaxErrorReply()
    return OK


@subcommand(
    "client", "getredir", 2, _CLIENT_FLAGS, summary="Get tracking notifications redirection client ID if any"
)
def client_getredir(client, args):
    state = client.tracking
    return b":%d\r\n" % (-1 if state is None else state.redirect)


@subcommand(
    "client",
    "trackinginfo",
    2,
    _CLIENT_FLAGS,
    summary="Return information about server assisted client side caching for the current connection",
)
def client_trackinginfo(client, args):
    state = client.tracking
    resp = client.resp
    if state is None:
        flags, redirect, prefixes = [b"off"], -1, []
    else:
        flags = [b"on"]
        flags += [b"bcast"] if state.bcast else []
        flags += [b"optin"] if state.optin else []
        flags += [b"optout"] if state.optout else []
        if state.caching is True:
            flags.append(b"caching-yes")
        elif state.caching is False:
            flags.append(b"caching-no")
        flags += [b"noloop"] if state.noloop else []
        flags += [b"broken_redirect"] if state.broken else []
        redirect, prefixes = state.redirect, state.prefixes
    return (
        (b"%3\r\n" if resp.resp3 else b"*6\r\n")
        + b"$5\r\nflags\r\n"
        + resp.set(flags)
        + b"$8\r\nredirect\r\n:%d\r\n" % redirect
        + b"$8\r\nprefixes\r\n"
        + resp.array(list(prefixes))
    )
