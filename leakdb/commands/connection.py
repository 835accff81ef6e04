"""Connection commands: PING, ECHO, QUIT, SELECT, AUTH, HELLO, RESET and the CLIENT family.

They act on the calling client's session (database, protocol, name, authentication) and, for CLIENT
LIST and KILL, on the server's table of connected clients.  Replies and errors follow Redis 7.0.
"""

from __future__ import annotations

import hmac
import time
from typing import Any

from .. import errors
from ..engine.numbers import parse_int
from ..errors import CommandError, DBIndexError, NotAnIntegerError, SyntaxErrorReply
from ..resp import OK, PONG, SimpleString, bulk
from ..version import REDIS_VERSION
from . import blocking
from .registry import command, dispatch_sub, subcommand

CONNECTION_FLAGS = "noscript loading stale fast no_auth allow_busy"


def help_reply(client: Any, name: str, lines: list[str]) -> bytes:
    """A Redis-style HELP reply: one simple string per line, ending with HELP itself."""
    header = f"{name.upper()} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    body = [header, *lines, "HELP", "    Prints this help."]
    return client.resp.array([SimpleString(line) for line in body])


# -- PING, ECHO, QUIT, SELECT ------------------------------------------------------------------------


@command("ping", -1, "fast", group="connection", summary="Ping the server")
def ping(client, args):
    if len(args) > 2:
        return errors.wrong_arity("ping")
    return PONG if len(args) == 1 else bulk(args[1])


@command("echo", 2, "loading stale fast", group="connection", summary="Echo the given string")
def echo(client, args):
    return bulk(args[1])


@command("quit", -1, CONNECTION_FLAGS, group="connection", summary="Close the connection")
def quit_(client, args):
    client.close_after_reply = True
    return OK


@command("select", 2, "loading stale fast", group="connection", summary="Change the selected database")
def select(client, args):
    index = parse_int(args[1])
    if index is None:
        raise NotAnIntegerError()
    if not -(2**31) <= index < 2**31:
        raise CommandError(errors.INT32_RANGE)
    if not 0 <= index < len(client.server.keyspace):
        raise DBIndexError()
    client.select(index)
    return OK


# -- AUTH, HELLO, RESET ------------------------------------------------------------------------------


def _login_as_default(client: Any, user: bytes, password: bytes, command: bytes) -> bool:
    """Whether `user`/`password` log in as "default" (any password when none is set)."""
    if user != b"default":
        return False
    required = client.server.config["requirepass"]
    return not required or hmac.compare_digest(password, required.encode())


def _start_session(client: Any) -> None:
    client.authenticated = not client.server.config["requirepass"]


def _default_needs_password(server: Any) -> bool:
    return bool(server.config["requirepass"])


# The user database: commands/acl.py installs its own functions here at import (it imports this
# module, which therefore cannot import it).
login = _login_as_default
start_session = _start_session
default_needs_password = _default_needs_password


def authenticate(client: Any, user: bytes, password: bytes, command: bytes = b"auth") -> None:
    """Log in (`command`: AUTH or HELLO as sent, which ACL LOG shows for a refusal)."""
    if not login(client, user, password, command):
        raise CommandError(errors.WRONGPASS_TEXT)
    client.authenticated = True


@command("auth", -2, CONNECTION_FLAGS, group="connection", summary="Authenticate to the server")
def auth(client, args):
    if len(args) > 3:
        raise SyntaxErrorReply()
    if len(args) == 2 and not default_needs_password(client.server):
        raise CommandError(errors.AUTH_NOT_CONFIGURED)
    if len(args) == 2:
        authenticate(client, b"default", args[1], args[0])
    else:
        authenticate(client, args[1], args[2], args[0])
    return OK


def _hello_options(args: list[bytes]) -> tuple[tuple[bytes, bytes] | None, bytes | None]:
    """HELLO's AUTH and SETNAME options, checked as Redis checks them (all parsed before any applies)."""
    credentials = None
    name = None
    i = 2
    while i < len(args):
        option = args[i].lower()
        remaining = len(args) - 1 - i
        if option == b"auth" and remaining >= 2:
            credentials = (args[i + 1], args[i + 2])
            i += 3
        elif option == b"setname" and remaining >= 1:
            name = args[i + 1]
            i += 2
        else:
            raise CommandError(errors.HELLO_SYNTAX.format(args[i].decode("utf-8", "replace")))
    return credentials, name


def _hello_version(client: Any, args: list[bytes]) -> int:
    if len(args) < 2:
        return client.resp.version
    version = parse_int(args[1])
    if version is None:
        raise CommandError(errors.PROTOCOL_VERSION_NOT_INTEGER)
    if version not in (2, 3):
        raise CommandError(errors.NOPROTO)
    return version


@command("hello", -1, CONNECTION_FLAGS, group="connection", since="6.0.0", summary="Handshake with Redis")
def hello(client, args):
    try:
        return _hello(client, args)
    except CommandError as exc:  # AUTH may have succeeded before a later option failed
        return errors.error_reply(str(exc))


def _hello(client: Any, args: list[bytes]) -> bytes:
    version = _hello_version(client, args)
    credentials, name = _hello_options(args)
    if credentials is not None:
        authenticate(client, *credentials, args[0])
    if not client.authenticated:
        raise CommandError(errors.HELLO_NOAUTH)
    if name is not None:
        client.name = checked_name(name)
    client.set_protocol(version)
    return client.resp.map(
        [
            ("server", "redis"),
            ("version", REDIS_VERSION),
            ("proto", version),
            ("id", client.id),
            ("mode", "standalone"),
            ("role", "master"),
            ("modules", []),
        ]
    )


@command("reset", 1, CONNECTION_FLAGS, group="connection", since="6.2.0", summary="Reset the connection")
def reset(client, args):
    client.clear_session()
    client.select(0)
    client.set_protocol(2)
    client.name = b""
    client.no_evict = False
    client.no_touch = False
    start_session(client)
    return b"+RESET\r\n"


# -- CLIENT ----------------------------------------------------------------------------------------


@command("client", -2, "", group="connection", since="2.4.0", summary="A container for client commands")
def client_(client, args):
    return dispatch_sub(client, args)


def _valid_attribute(value: bytes) -> bool:
    # Redis allows the printable ASCII range without space: '!' (33) to '~' (126).
    return all(33 <= byte <= 126 for byte in value)


def checked_name(name: bytes) -> bytes:
    if not _valid_attribute(name):
        raise CommandError(errors.CLIENT_NAME_INVALID)
    return name


@subcommand("client", "id", 2, "noscript loading stale", summary="Returns the client ID")
def client_id(client, args):
    return b":%d\r\n" % client.id


@subcommand("client", "setname", 3, "noscript loading stale", summary="Set the connection name")
def client_setname(client, args):
    client.name = checked_name(args[2])
    return OK


@subcommand("client", "getname", 2, "noscript loading stale", summary="Get the connection name")
def client_getname(client, args):
    return bulk(client.name) if client.name else client.resp.null


@subcommand("client", "setinfo", 4, "noscript loading stale", summary="Set client library name/version")
def client_setinfo(client, args):
    attribute = args[2].lower()
    if attribute not in (b"lib-name", b"lib-ver"):
        raise CommandError(errors.UNRECOGNIZED_OPTION.format(args[2].decode("utf-8", "replace")))
    if not _valid_attribute(args[3]):
        raise CommandError(errors.CLIENT_LIB_INVALID.format(attribute.decode()))
    if attribute == b"lib-name":
        client.lib_name = args[3].decode()
    else:
        client.lib_ver = args[3].decode()
    return OK


def _on_off(raw: bytes) -> bool:
    lowered = raw.lower()
    if lowered not in (b"on", b"off"):
        raise SyntaxErrorReply()
    return lowered == b"on"


@subcommand("client", "no-evict", 3, "admin noscript loading stale", summary="Set client eviction mode")
def client_no_evict(client, args):
    client.no_evict = _on_off(args[2])
    return OK


@subcommand("client", "no-touch", 3, "noscript loading stale", summary="Set client no-touch mode")
def client_no_touch(client, args):
    client.no_touch = _on_off(args[2])
    return OK


# -- CLIENT LIST / INFO / KILL -----------------------------------------------------------------------


def describe(client: Any, current: Any, command_name: str) -> str:
    """One line of CLIENT LIST in Redis's format; `current` is the client running the command."""
    now = time.time()
    output = len(client.output)
    # NO-EVICT / NO-TOUCH live as plain attributes: Client only gains them once a command sets them.
    blocked_in = blocking.blocked_command(client)
    flags = _session_flags(client, blocked_in is not None)
    flags += "e" if getattr(client, "no_evict", False) else ""
    flags += "T" if getattr(client, "no_touch", False) else ""
    subscriptions = client.subscriptions
    channels = len(subscriptions.channels) if subscriptions is not None else 0
    patterns = len(subscriptions.patterns) if subscriptions is not None else 0
    shards = len(subscriptions.shards) if subscriptions is not None else 0
    multi = len(client.multi.queued) if client.multi is not None else -1
    last = command_name if client is current else blocked_in or client.last_command
    user = getattr(client, "user", None)
    user_name = user.name if user is not None else "default"
    return (
        f"id={client.id} addr={client.addr} laddr={client.laddr} fd={client.fd} "
        f"name={client.name.decode('utf-8', 'replace')} age={int(now - client.created)} "
        f"idle={int(time.monotonic() - client.last_active)} flags={flags or 'N'} db={client.db_index} "
        f"sub={channels} psub={patterns} ssub={shards} multi={multi} qbuf={client.parser.pending()} "
        "qbuf-free=0 argv-mem=0 "
        f"multi-mem=0 rbs=0 rbp=0 obl=0 oll={int(output > 0)} omem={output} tot-mem={client.memory()} "
        f"events={'rw' if output else 'r'} cmd={last} user={user_name} redir={_redirect(client)} "
        f"resp={client.resp.version} lib-name={client.lib_name} lib-ver={client.lib_ver}\n"
    )


def _session_flags(client: Any, blocked: bool) -> str:
    # Redis's letters, in its order: P while subscribed, x in MULTI, b while blocked, d when a
    # watched key changed.
    flags = "P" if client.subscriptions is not None else ""
    flags += "x" if client.multi is not None else ""
    flags += "b" if blocked else ""
    flags += _tracking_flags(client)
    flags += "d" if client.watch is not None and client.watch.dirty else ""
    return flags + ("U" if getattr(client, "unix", False) else "")


def _tracking_flags(client: Any) -> str:
    # t while tracking, R when its redirect client has gone, B in BCAST mode.
    state = getattr(client, "tracking", None)
    if state is None:
        return ""
    return "t" + ("R" if state.broken else "") + ("B" if state.bcast else "")


def _redirect(client: Any) -> int:
    state = getattr(client, "tracking", None)
    return -1 if state is None else state.redirect


CLIENT_TYPES = ("normal", "master", "slave", "replica", "pubsub")


def _client_type(raw: bytes) -> str:
    kind = raw.lower().decode("utf-8", "replace")
    if kind not in CLIENT_TYPES:
        raise CommandError(errors.UNKNOWN_CLIENT_TYPE.format(raw.decode("utf-8", "replace")))
    return kind


def _listed_clients(client: Any, args: list[bytes]) -> list[Any]:
    clients = client.server.clients
    if len(args) == 2:
        return list(clients.values())
    option = args[2].lower()
    if len(args) == 4 and option == b"type":
        # Every LeakDB connection is a normal client: no replicas, masters or subscribers yet.
        return list(clients.values()) if _client_type(args[3]) == "normal" else []
    if len(args) > 3 and option == b"id":
        wanted = [parse_int(raw) for raw in args[3:]]
        if any(number is None for number in wanted):
            raise CommandError(errors.CLIENT_LIST_ID_INVALID)
        return [clients[number] for number in wanted if number in clients]
    raise SyntaxErrorReply()


@subcommand("client", "list", -2, "admin noscript loading stale", summary="Get the list of clients")
def client_list(client, args):
    lines = [describe(other, client, "client|list") for other in _listed_clients(client, args)]
    return client.resp.verbatim("".join(lines))


@subcommand("client", "info", 2, "noscript loading stale", summary="Information about this client")
def client_info(client, args):
    return client.resp.verbatim(describe(client, client, "client|info"))


class KillFilter:
    """The conditions of a CLIENT KILL: every given one must match for a client to be killed."""

    def __init__(self) -> None:
        self.id: int | None = None
        self.addr: str | None = None
        self.laddr: str | None = None
        self.kind: str | None = None
        self.skipme = True

    def matches(self, other: Any, current: Any) -> bool:
        if self.addr is not None and other.addr != self.addr:
            return False
        if self.laddr is not None and other.laddr != self.laddr:
            return False
        if self.kind is not None and self.kind != "normal":
            return False
        if self.id is not None and other.id != self.id:
            return False
        return not (other is current and self.skipme)


def _kill_filter(args: list[bytes]) -> KillFilter:
    chosen = KillFilter()
    if len(args) % 2:
        raise SyntaxErrorReply()
    for i in range(2, len(args), 2):
        option, value = args[i].lower(), args[i + 1]
        text = value.decode("utf-8", "replace")
        if option == b"id":
            number = parse_int(value)
            if number is None or number < 1:
                raise CommandError(errors.CLIENT_ID_INVALID)
            chosen.id = number
        elif option == b"type":
            chosen.kind = _client_type(value)
        elif option == b"addr":
            chosen.addr = text
        elif option == b"laddr":
            chosen.laddr = text
        elif option == b"user":
            if value != b"default":
                raise CommandError(errors.NO_SUCH_USER.format(text))
        elif option == b"skipme" and value.lower() in (b"yes", b"no"):
            chosen.skipme = value.lower() == b"yes"
        else:
            raise SyntaxErrorReply()
    return chosen


def _kill(client: Any, chosen: KillFilter) -> int:
    killed = 0
    for other in list(client.server.clients.values()):
        if not chosen.matches(other, client):
            continue
        if other is client:
            client.close_after_reply = True
        else:
            other.close()
        killed += 1
    return killed


@subcommand("client", "kill", -3, "admin noscript loading stale", summary="Kill connections")
def client_kill(client, args):
    if len(args) == 3:  # the old form: CLIENT KILL addr:port, replying OK or an error
        chosen = KillFilter()
        chosen.addr = args[2].decode("utf-8", "replace")
        chosen.skipme = False
        if not _kill(client, chosen):
            raise CommandError(errors.NO_SUCH_CLIENT)
        return OK
    return b":%d\r\n" % _kill(client, _kill_filter(args))


CLIENT_HELP = [
    "GETNAME",
    "    Return the name of the current connection.",
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled (always -1).",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "    * ID <id> [<id> ...]",
    "      Return clients of specified IDs only.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Accepted for compatibility; LeakDB does not pause clients.",
    "UNPAUSE",
    "    Accepted for compatibility.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "SETINFO <LIB-NAME|LIB-VER> <value>",
    "    Set the client library name or version shown by CLIENT LIST.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "NO-TOUCH (ON|OFF)",
    "    Will not touch LRU/LFU stats when this mode is on.",
]


@subcommand("client", "help", 2, "loading stale", summary="Show help on the subcommands")
def client_help(client, args):
    return help_reply(client, "client", CLIENT_HELP)
