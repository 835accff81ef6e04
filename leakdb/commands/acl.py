"""ACL: the server's users, logins, permission checks on restricted clients, ACL LOG and the ACL command.

The rules themselves are aclrules.py.  A client logged in as an unrestricted user (the default
``+@all ~* &*``) keeps the plain dispatch tables, so checking costs it nothing.  A client of a
restricted user changes class to a subclass whose ``dispatch`` hands out a checking copy of
whatever table its session calls for (normal, MULTI, subscribed): each entry checks the command,
its keys and channels, then runs the entry of the table it copies.
"""

from __future__ import annotations

import os
import secrets
import time
from typing import Any

from .. import errors
from ..engine.numbers import parse_int
from ..errors import CommandError
from ..resp import OK, bulk
from . import aclrules, acltable, connection
from .aclrules import DENIED_CHANNEL, DENIED_COMMAND, DENIED_KEY, READ, WRITE, Request, RuleError, User
from .connection import describe, help_reply
from .pubsub import subscribed_table
from .registry import COMMANDS, DISPATCH, Command, command, dispatch_sub, subcommand
from .transactions import queue_error, queueing_table

LOG_GROUPING_MS = 60_000


# -- the universe of command names -------------------------------------------------------------------


def _flag_categories(declared: Command) -> frozenset[str]:
    """Categories for a command Redis does not have, from its flags as Redis derives them."""
    flags = set(declared.flags)
    cats = {"write"} if "write" in flags else {"read"} if "readonly" in flags else set()
    cats |= {"admin", "dangerous"} if "admin" in flags else set()
    cats |= {"pubsub"} if "pubsub" in flags else set()
    cats |= {"blocking"} if "blocking" in flags else set()
    cats.add("fast" if "fast" in flags else "slow")
    return frozenset(cats)


_universe: aclrules.Universe | None = None


def universe() -> aclrules.Universe:
    global _universe
    if _universe is None:
        extra = {}
        for declared in COMMANDS.values():
            extra[declared.name] = _flag_categories(declared)
            for sub in declared.subcommands.values():
                extra[sub.name] = _flag_categories(sub)
        _universe = aclrules.redis_universe(extra)
    return _universe


# -- the server's users ---------------------------------------------------------------------------


class LogEntry:
    __slots__ = (
        "client_info",
        "context",
        "count",
        "created_ms",
        "object",
        "reason",
        "updated_ms",
        "username",
    )

    def __init__(self, reason: str, context: str, obj: str, username: str, client_info: str) -> None:
        self.count = 1
        self.reason = reason
        self.context = context
        self.object = obj
        self.username = username
        self.client_info = client_info
        self.created_ms = self.updated_ms = time.time() * 1000


class AclState:
    """The users of one server and its ACL LOG."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.users: dict[str, User] = {}
        self.log: list[LogEntry] = []
        self.reset_default()
        self.requirepass = server.config["requirepass"]
        self.set_requirepass(self.requirepass)

    def reset_default(self) -> None:
        self.users["default"] = aclrules.default_user(universe())

    @property
    def default(self) -> User:
        return self.users["default"]

    def pubsub_default_all(self) -> bool:
        try:
            return self.server.config["acl-pubsub-default"] == "allchannels"
        except KeyError:
            return False

    def set_requirepass(self, password: str) -> None:
        """requirepass is the default user's password (CONFIG SET requirepass changes it)."""
        user = self.default
        if password:
            user.apply("resetpass", universe())
            user.apply(">" + password, universe())
        else:
            user.apply("nopass", universe())

    def setuser(self, name: str, rules: list[str]) -> User:
        """Apply rules to a copy of the user (a new one when unknown) and keep it if all apply."""
        pubsub_all = self.pubsub_default_all()
        existing = self.users.get(name)
        user = _copy(existing) if existing is not None else aclrules.new_user(name, pubsub_all)
        for rule in aclrules.merge_selectors(rules):
            try:
                user.apply(rule, universe(), pubsub_all)
            except RuleError as exc:
                raise CommandError(errors.ACL_SETUSER_MODIFIER.format(rule, exc)) from None
        if existing is not None:
            existing.__dict__.update(user.__dict__)  # clients logged in as the user see it at once
            user = existing
        self.users[name] = user
        refresh_clients(self.server, user)
        return user

    def add_log(self, client: Any, reason: str, context: str, obj: str, username: str, name: str) -> None:
        now = time.time() * 1000
        info = describe(client, client, name).rstrip("\n")
        for index, entry in enumerate(self.log):
            if (
                entry.reason == reason
                and entry.context == context
                and entry.object == obj
                and entry.username == username
                and now - entry.updated_ms <= LOG_GROUPING_MS
            ):
                entry.count += 1
                entry.updated_ms = now
                entry.client_info = info
                self.log.insert(0, self.log.pop(index))
                return
        self.log.insert(0, LogEntry(reason, context, obj, username, info))
        try:
            limit = int(self.server.config["acllog-max-len"])
        except KeyError:
            limit = 128
        del self.log[limit:]


def _copy(user: User) -> User:
    import copy

    return copy.deepcopy(user)


def state_of(server: Any) -> AclState:
    state = server.__dict__.get("acl")
    if state is None:
        state = AclState(server)
        server.acl = state
        load_configured_users(state)
    elif state.requirepass != server.config["requirepass"]:
        # CONFIG SET requirepass sets the default user's password, as Redis does.
        state.requirepass = server.config["requirepass"]
        state.set_requirepass(state.requirepass)
    return state


def user_of(client: Any) -> User:
    user = getattr(client, "user", None)
    return user if user is not None else state_of(client.server).default


# -- logins --------------------------------------------------------------------------------------


def login(client: Any, name: bytes, password: bytes, command: bytes = b"auth") -> bool:
    """AUTH and HELLO AUTH: log the client in as the user, or log the refusal in ACL LOG."""
    state = state_of(client.server)
    text = name.decode("utf-8", "surrogateescape")
    user = state.users.get(text)
    if user is None or not user.enabled or not user.password_matches(password):
        state.add_log(client, "auth", "toplevel", _text(command), text, "auth")
        return False
    bind(client, user)
    return True


def on_connect(client: Any) -> None:
    """A new connection (or RESET): the default user, logged in when it needs no password."""
    default = state_of(client.server).default
    bind(client, default)
    client.authenticated = default.enabled and default.nopass


def bind(client: Any, user: User) -> None:
    client.user = user
    _choose_class(client, user)
    client.authenticated = True


def refresh_clients(server: Any, user: User) -> None:
    for other in list(getattr(server, "clients", {}).values()):
        if getattr(other, "user", None) is user:
            _choose_class(other, user)


def disconnect_user(server: Any, user: User, current: Any) -> None:
    """Close the connections logged in as a deleted user (the caller's after its reply)."""
    for other in list(getattr(server, "clients", {}).values()):
        if getattr(other, "user", None) is user:
            if other is current:
                current.close_after_reply = True
            else:
                other.close()


# -- checking --------------------------------------------------------------------------------------


def _key_needs(name: str, declared: Command, position: int, args: list[bytes]) -> int:
    """What a key at `position` needs (READ, WRITE, both or none), from Redis's key specs."""
    facts = acltable.COMMANDS.get(name)
    if facts is None:
        flags = declared.flags
        return (READ if "readonly" in flags else 0) | (WRITE if "write" in flags else 0)
    specs = facts[1]
    exact = [access for begin, access in specs if begin == position]
    if exact:
        access = exact[0]
    elif any(begin == -1 for begin, _ in specs):
        access = "".join(access for begin, access in specs if begin == -1)
    else:
        before = [access for begin, access in specs if 0 <= begin <= position]
        access = before[-1] if before else "RW"
    if name == "set" and not any(arg.lower() == b"get" for arg in args[3:]):
        access = "W"  # SET reads its key only with GET, as Redis's key flags say
    return (READ if "R" in access else 0) | (WRITE if "W" in access else 0)


CHANNEL_ARGS = {
    "publish": "one",
    "spublish": "one",
    "subscribe": "all",
    "ssubscribe": "all",
    "psubscribe": "pattern",
}


def request_for(declared: Command, args: list[bytes]) -> Request | None:
    """The request as the checks see it, or None when lookup or arity fails (the command answers)."""
    target = declared
    first = None
    if declared.subcommands:
        if len(args) < 2:
            return None
        target = declared.subcommands.get(args[1].lower().decode("utf-8", "replace"))
        if target is None or not target.min_args <= len(args) <= target.max_args:
            return None
    elif len(args) > 1:
        first = args[1].lower().decode("utf-8", "replace")
    if "no_auth" in target.flags:
        return None  # AUTH, HELLO, RESET and QUIT: every user may run them, as in Redis
    name = target.name
    request = Request(name, args, first=first)
    try:
        positions = target.key_positions(args)
    except Exception:
        positions = []
    request.keys = [(p, _key_needs(name, target, p, args)) for p in positions if p < len(args)]
    kind = CHANNEL_ARGS.get(name)
    if kind == "one" and len(args) > 1:
        request.channels = [(1, False)]
    elif kind is not None:
        request.channels = [(p, kind == "pattern") for p in range(1, len(args))]
    return request


def denial(
    client: Any, user: User, declared: Command, args: list[bytes], context: str
) -> tuple[int, str] | None:
    """(reason, object) when the user may not run the request; logged in ACL LOG."""
    request = request_for(declared, args)
    if request is None:
        return None
    verdict, position = user.check(request)
    if verdict == aclrules.OK:
        return None
    obj = request.name if verdict == DENIED_COMMAND else args[position].decode("utf-8", "replace")
    reason = {DENIED_COMMAND: "command", DENIED_KEY: "key", DENIED_CHANNEL: "channel"}[verdict]
    state_of(client.server).add_log(client, reason, context, obj, user.name, request.name)
    return verdict, obj


def _noperm(verdict: int, obj: str) -> bytes:
    if verdict == DENIED_COMMAND:
        return errors.error_reply(errors.NOPERM_COMMAND.format(obj))
    return errors.error_reply(errors.NOPERM_KEY if verdict == DENIED_KEY else errors.NOPERM_CHANNEL)


def script_denial(caller: Any, declared: Command, args: list[bytes]) -> bytes | None:
    """The error redis.call raises when the script's user may not run the command (None: may)."""
    if not hasattr(caller.__class__, "acl_plain"):
        return None  # an unrestricted user's client keeps its plain class: nothing to check
    user = caller.user
    refused = denial(caller, user, declared, args, "lua")
    if refused is None:
        return None
    return {
        DENIED_COMMAND: errors.SCRIPT_NOPERM_COMMAND,
        DENIED_KEY: errors.SCRIPT_NOPERM_KEY,
        DENIED_CHANNEL: errors.SCRIPT_NOPERM_CHANNEL,
    }[refused[0]].encode()


def _checker(name: bytes, declared: Command, base: dict) -> Any:
    def checked(client: Any, args: list[bytes]) -> bytes:
        user = client.user
        context = "multi" if client.multi is not None else "toplevel"
        refused = denial(client, user, declared, args, context)
        if refused is not None:
            reply = _noperm(*refused)
            return queue_error(client, reply) if client.multi is not None else reply
        # The base entry is read now: guards such as maxmemory's are swapped into DISPATCH at run time.
        return base[name][0](client, args)

    return checked


_checking: dict[int, tuple[dict, dict]] = {}


def checking_table(base: dict) -> dict:
    cached = _checking.get(id(base))
    if cached is not None and cached[0] is base and len(cached[1]) == len(base):
        return cached[1]
    table = {
        name: (_checker(name, entry[3], base), entry[1], entry[2], entry[3]) for name, entry in base.items()
    }
    _checking[id(base)] = (base, table)
    return table


_restricted: dict[type, type] = {}


def _restricted_class(plain: type) -> type:
    made = _restricted.get(plain)
    if made is None:
        slot = next(k.__dict__["dispatch"] for k in plain.__mro__ if "dispatch" in k.__dict__)

        def get_table(self: Any) -> dict:
            table = slot.__get__(self)
            if table is DISPATCH or table is queueing_table() or table is subscribed_table():
                return checking_table(table)
            return table  # NOAUTH's, and a busy script's view (already built over a checking one)

        made = type(
            "Restricted" + plain.__name__,
            (plain,),
            {"__slots__": (), "dispatch": property(get_table, slot.__set__), "acl_plain": plain},
        )
        _restricted[plain] = made
    return made


def _choose_class(client: Any, user: User) -> None:
    if not hasattr(client, "sock"):
        return  # a script's or an in-process client: checked where it calls commands
    plain = client.__class__.__dict__.get("acl_plain", client.__class__)
    wanted = plain if user.unrestricted(universe()) else _restricted_class(plain)
    if client.__class__ is not wanted:
        client.__class__ = wanted


# -- the aclfile and config users ---------------------------------------------------------------------


def _config(server: Any, name: str) -> Any:
    try:
        return server.config[name]
    except KeyError:
        return None


def load_configured_users(state: AclState) -> None:
    """At start-up: the aclfile, or the config file's ``user`` lines (not both, as Redis says)."""
    path = _config(state.server, "aclfile")
    users = getattr(state.server.config, "users", [])
    if path and users:
        raise CommandError(errors.ACL_FILE_USER_CONFIG)
    if path:
        try:
            load_file(state, path)
        except OSError as exc:
            raise CommandError(errors.ACL_LOAD_OPEN.format(path, exc.strerror)) from None
    elif users:
        _load_lines(state, [" ".join(["user", *words]) for words in users], "config")


def _load_lines(state: AclState, lines: list[str], source: str) -> None:
    pubsub_all = state.pubsub_default_all()
    for number, line in enumerate(lines, 1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        try:
            if words[0] != "user" or len(words) < 2:
                raise RuleError("should start with user keyword")
            name = words[1]
            user = aclrules.new_user(name, pubsub_all)
            for rule in aclrules.merge_selectors(words[2:]):
                user.apply(rule, universe(), pubsub_all)
        except RuleError as exc:
            raise CommandError(errors.ACL_FILE_LINE.format(source, number, exc)) from None
        state.users[name] = user


def load_file(state: AclState, path: str) -> None:
    """Replace the users by the file's (ACL LOAD): all of it applies, or nothing does."""
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    before = state.users
    state.users = {}
    state.reset_default()
    default = before.get("default")
    try:
        _load_lines(state, lines, path)
    except CommandError:
        state.users = before
        raise
    loaded = state.users
    if default is not None:  # keep the default user's object: its clients stay logged in
        default.__dict__.update(loaded["default"].__dict__)
        loaded["default"] = default
        refresh_clients(state.server, default)
    for name, user in before.items():
        replacement = loaded.get(name)
        if replacement is None or replacement is user:
            if replacement is None:
                disconnect_user(state.server, user, None)
            continue
        user.__dict__.update(replacement.__dict__)
        loaded[name] = user
        refresh_clients(state.server, user)


def save_file(state: AclState, path: str) -> None:
    text = "".join(user.describe(universe()) + "\n" for _, user in sorted(state.users.items()))
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)


# -- ACL ------------------------------------------------------------------------------------------

ACL_FLAGS = "admin noscript loading stale"


@command("acl", -2, "", group="server", since="6.0.0", summary="A container for Access List Control commands")
def acl(client, args):
    return dispatch_sub(client, args)


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


@subcommand("acl", "setuser", -3, ACL_FLAGS, summary="Modify or create the rules for a specific ACL user")
def acl_setuser(client, args):
    name = _text(args[2])
    if not aclrules.valid_username(name):
        raise CommandError(errors.ACL_BAD_USERNAME)
    try:
        state_of(client.server).setuser(name, [_text(arg) for arg in args[3:]])
    except RuleError as exc:
        raise CommandError(f"ERR {exc}") from None
    return OK


def _selector_map(selector: aclrules.Selector) -> list[tuple[str, Any]]:
    return [
        ("commands", selector.describe_commands(universe())),
        ("keys", selector.describe_keys()),
        ("channels", selector.describe_channels()),
    ]


@subcommand("acl", "getuser", 3, ACL_FLAGS, summary="Get the rules for a specific ACL user")
def acl_getuser(client, args):
    user = state_of(client.server).users.get(_text(args[2]))
    if user is None:
        return client.resp.null
    resp = client.resp
    pairs = [("flags", user.flags()), ("passwords", list(user.passwords))]
    pairs.extend(_selector_map(user.root))
    pairs.append(("selectors", [RawReply(resp.map(_selector_map(s))) for s in user.selectors]))
    count = len(pairs) if resp.resp3 else 2 * len(pairs)
    parts = [(b"%" if resp.resp3 else b"*") + b"%d\r\n" % count]
    for key, value in pairs:
        parts.append(bulk(key.encode()))
        if key == "selectors":
            parts.append(b"*%d\r\n" % len(value) + b"".join(item.data for item in value))
        elif key == "flags":
            parts.append(resp.set(value))
        else:
            parts.append(resp.encode(value))
    return b"".join(parts)


class RawReply:
    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


@subcommand("acl", "deluser", -3, ACL_FLAGS, summary="Remove the specified ACL users")
def acl_deluser(client, args):
    state = state_of(client.server)
    names = [_text(arg) for arg in args[2:]]
    if "default" in names:
        raise CommandError(errors.ACL_DELETE_DEFAULT)
    deleted = 0
    for name in names:
        user = state.users.pop(name, None)
        if user is not None:
            deleted += 1
            disconnect_user(client.server, user, client)
    return b":%d\r\n" % deleted


@subcommand("acl", "list", 2, ACL_FLAGS, summary="List the current ACL rules in ACL config file format")
def acl_list(client, args):
    users = state_of(client.server).users
    return client.resp.array([users[name].describe(universe()) for name in sorted(users)])


@subcommand("acl", "users", 2, ACL_FLAGS, summary="List the username of all the configured ACL users")
def acl_users(client, args):
    return client.resp.array(sorted(state_of(client.server).users))


@subcommand("acl", "whoami", 2, "noscript loading stale", summary="Return the name of the current user")
def acl_whoami(client, args):
    return bulk(user_of(client).name.encode("utf-8", "surrogateescape"))


@subcommand("acl", "cat", -2, "noscript loading stale", summary="List ACL categories or their commands")
def acl_cat(client, args):
    if len(args) > 3:
        return errors.wrong_arity("acl|cat")
    if len(args) == 2:
        return client.resp.array(list(aclrules.CATEGORIES))
    category = _text(args[2]).lower()
    members = universe().members.get(category)
    if members is None:
        raise CommandError(errors.ACL_UNKNOWN_CATEGORY.format(_text(args[2])))
    served = set(COMMANDS)
    for declared in COMMANDS.values():
        served.update(sub.name for sub in declared.subcommands.values())
    return client.resp.array(sorted(name for name in members if name in served))


@subcommand("acl", "genpass", -2, "noscript loading stale", summary="Generate a pseudorandom secure password")
def acl_genpass(client, args):
    if len(args) > 3:
        return errors.wrong_arity("acl|genpass")
    bits = 256
    if len(args) == 3:
        bits = parse_int(args[2])
        if bits is None:
            raise errors.NotAnIntegerError()
        if not 0 < bits <= 4096:
            raise CommandError(errors.ACL_GENPASS_BITS)
    chars = (bits + 3) // 4
    return bulk(secrets.token_hex((chars + 1) // 2)[:chars].encode())


@subcommand("acl", "log", -2, ACL_FLAGS, summary="List latest events denied by ACLs")
def acl_log(client, args):
    if len(args) > 3:
        return errors.wrong_arity("acl|log")
    state = state_of(client.server)
    count = len(state.log)
    if len(args) == 3:
        if args[2].lower() == b"reset":
            state.log.clear()
            return OK
        number = parse_int(args[2])
        if number is None:
            raise errors.NotAnIntegerError()
        count = max(number, 0)
    now = time.time() * 1000
    entries = [
        client.resp.map(
            [
                ("count", entry.count),
                ("reason", entry.reason),
                ("context", entry.context),
                ("object", entry.object),
                ("username", entry.username),
                ("age-seconds", (now - entry.created_ms) / 1000),
                ("client-info", entry.client_info),
            ]
        )
        for entry in state.log[:count]
    ]
    return b"*%d\r\n" % len(entries) + b"".join(entries)


@subcommand("acl", "dryrun", -4, ACL_FLAGS, summary="Whether a user may run a command")
def acl_dryrun(client, args):
    user = state_of(client.server).users.get(_text(args[2]))
    if user is None:
        raise CommandError(errors.ACL_USER_NOT_FOUND.format(_text(args[2])))
    entry = DISPATCH.get(args[3]) or DISPATCH.get(args[3].lower())
    if entry is None:
        raise CommandError(errors.ACL_COMMAND_NOT_FOUND.format(_text(args[3])))
    declared = entry[3]
    command_args = args[3:]
    if not declared.min_args <= len(command_args) <= declared.max_args:
        return errors.wrong_arity(declared.name)
    request = request_for(declared, command_args)
    if request is None:
        return OK
    verdict, position = user.check(request)
    if verdict == aclrules.OK:
        return OK
    if verdict == DENIED_COMMAND:
        return bulk(errors.DRYRUN_COMMAND.format(request.name).encode())
    template = errors.DRYRUN_KEY if verdict == DENIED_KEY else errors.DRYRUN_CHANNEL
    return bulk(template.format(_text(command_args[position])).encode())


def _aclfile(client: Any) -> str:
    path = _config(client.server, "aclfile")
    if not path:
        raise CommandError(errors.ACL_NO_FILE)
    return path


@subcommand("acl", "save", 2, ACL_FLAGS, summary="Save the current ACL rules in the configured ACL file")
def acl_save(client, args):
    try:
        save_file(state_of(client.server), _aclfile(client))
    except OSError:
        raise CommandError(errors.ACL_SAVE_FAILED) from None
    return OK


@subcommand("acl", "load", 2, ACL_FLAGS, summary="Reload the ACLs from the configured ACL file")
def acl_load(client, args):
    try:
        load_file(state_of(client.server), _aclfile(client))
    except OSError as exc:
        raise CommandError(errors.ACL_LOAD_OPEN.format(_aclfile(client), exc.strerror)) from None
    return OK


ACL_HELP = [
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
]


@subcommand("acl", "help", 2, "loading stale", summary="Show helpful text about the different subcommands")
def acl_help(client, args):
    return help_reply(client, "acl", ACL_HELP)


def _default_needs_password(server: Any) -> bool:
    return not state_of(server).default.nopass


connection.login = login
connection.start_session = on_connect
connection.default_needs_password = _default_needs_password
