"""COMMAND: the command table described to clients (COMMAND, INFO, DOCS, COUNT, LIST, GETKEYS).

Everything is read from :data:`~leakdb.commands.registry.COMMANDS` at call time, so families that
register later are listed too.  The shapes are Redis 7.0's; redis-cli reads COMMAND DOCS at start-up.
"""

from __future__ import annotations

import fnmatch
from typing import Any

from .. import errors
from ..errors import CommandError, SyntaxErrorReply
from ..resp import SimpleString
from .connection import help_reply
from .registry import COMMANDS, Command, command, dispatch_sub, subcommand

# ACL category of each command group, as Redis files its commands.
GROUP_CATEGORIES = {
    "generic": "keyspace",
    "string": "string",
    "hash": "hash",
    "list": "list",
    "set": "set",
    "sorted-set": "sortedset",
    "sorted_set": "sortedset",
    "bitmap": "bitmap",
    "hyperloglog": "hyperloglog",
    "geo": "geo",
    "stream": "stream",
    "pubsub": "pubsub",
    "transactions": "transaction",
    "scripting": "scripting",
    "connection": "connection",
}


# Redis lists a command's categories in the order of its ACL category table.
CATEGORY_ORDER = [
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
]


# Categories Redis gives these commands beyond what their flags and group imply (from Redis's
# command table, where categories are declared rather than derived).
EXTRA_CATEGORIES: dict[str, set[str]] = {
    "info": {"dangerous"},
    "lastsave": {"admin", "dangerous"},
    "role": {"admin", "dangerous"},
    "flushdb": {"keyspace", "dangerous"},
    "flushall": {"keyspace", "dangerous"},
    "swapdb": {"keyspace", "dangerous"},
    "restore": {"dangerous"},
    "migrate": {"dangerous"},
    "command": {"connection"},
    "readonly": {"connection"},
    "readwrite": {"connection"},
    "client|list": {"connection"},
    "client|kill": {"connection"},
}


# Commands whose categories Redis declares outright, not from one group: SORT reads every container.
DECLARED_CATEGORIES: dict[str, list[str]] = {
    "sort": ["write", "set", "sortedset", "list", "slow", "dangerous"],
    "sort_ro": ["read", "set", "sortedset", "list", "slow", "dangerous"],
}


def categories(declared: Command) -> list[str]:
    """The ACL categories Redis would give a command with these flags and this group."""
    if declared.name in DECLARED_CATEGORIES:
        return DECLARED_CATEGORIES[declared.name]
    flags = declared.flags
    if declared.subcommands and not flags:
        return ["slow"]  # a pure container (CLIENT, CONFIG): its subcommands carry the categories
    found = {"fast" if "fast" in flags else "slow"}
    if "write" in flags:
        found.add("write")
    if "readonly" in flags:
        found.add("read")
    if "admin" in flags:
        found |= {"admin", "dangerous"}
    if "blocking" in flags:
        found.add("blocking")
    group = GROUP_CATEGORIES.get(declared.group)
    if group:
        found.add(group)
    found |= EXTRA_CATEGORIES.get(declared.name, set())
    return [name for name in CATEGORY_ORDER if name in found]


def key_specs(client: Any, declared: Command) -> list[bytes]:
    """One range key spec built from the legacy (first, last, step) triple, as Redis would list it."""
    if declared.first_key <= 0:
        return []
    last = declared.last_key
    relative_last = last if last < 0 else last - declared.first_key
    access = ["RW", "update"] if "write" in declared.flags else ["RO", "access"]
    resp = client.resp
    spec = [
        ("flags", _Encoded(resp.set([SimpleString(flag) for flag in access]))),
        ("begin_search", {"type": "index", "spec": {"index": declared.first_key}}),
        (
            "find_keys",
            {
                "type": "range",
                "spec": {"lastkey": relative_last, "keystep": declared.key_step or 1, "limit": 0},
            },
        ),
    ]
    return [_raw_map(client, spec)]


class _Encoded(bytes):
    """Already-encoded RESP, passed through by :func:`_raw_map`."""


def _raw_map(client: Any, pairs: list[tuple[str, Any]]) -> _Encoded:
    resp = client.resp
    body = [(key, value if isinstance(value, _Encoded) else resp.encode(value)) for key, value in pairs]
    count = len(body) if resp.resp3 else 2 * len(body)
    prefix = b"%" if resp.resp3 else b"*"
    parts = [prefix + b"%d\r\n" % count]
    for key, value in body:
        parts.append(resp.encode(key))
        parts.append(value)
    return _Encoded(b"".join(parts))


def describe(client: Any, declared: Command) -> bytes:
    """A command in COMMAND INFO's ten-element shape."""
    resp = client.resp
    parts = [
        resp.encode(declared.name),
        b":%d\r\n" % declared.arity,
        resp.set([SimpleString(flag) for flag in declared.flags]),
        b":%d\r\n" % declared.first_key,
        b":%d\r\n" % declared.last_key,
        b":%d\r\n" % declared.key_step,
        resp.set([SimpleString("@" + name) for name in categories(declared)]),
        # Tips, key specs and subcommands are sets in RESP3, as Redis 7.0 sends them.
        _array([], resp),
        _array(key_specs(client, declared), resp),
        _array([describe(client, sub) for sub in declared.subcommands.values()], resp),
    ]
    return _array(parts)


def _array(encoded: list[bytes], as_set_in: Any = None) -> bytes:
    prefix = b"~" if as_set_in is not None and as_set_in.resp3 else b"*"
    return prefix + b"%d\r\n" % len(encoded) + b"".join(encoded)


def find(name: bytes) -> Command | None:
    """A command or, written ``parent|sub``, a subcommand."""
    text = name.lower().decode("utf-8", "replace")
    parent, _, child = text.partition("|")
    declared = COMMANDS.get(parent)
    if declared is None or not child:
        return declared
    return declared.subcommands.get(child)


def docs(client: Any, declared: Command) -> bytes:
    pairs: list[tuple[str, Any]] = [
        ("summary", declared.summary),
        ("since", declared.since),
        ("group", declared.group),
        ("complexity", ""),
        ("arguments", []),
    ]
    if declared.subcommands:
        subs = [(sub.name, docs(client, sub)) for sub in declared.subcommands.values()]
        pairs.append(("subcommands", _raw_map(client, subs)))
    return _raw_map(client, pairs)


@command("command", -1, "loading stale", group="server", since="2.8.13", summary="Details about all commands")
def command_(client, args):
    if len(args) == 1:
        return _array([describe(client, declared) for declared in COMMANDS.values()])
    return dispatch_sub(client, args)


@subcommand("command", "count", 2, "loading stale", summary="Get total number of commands")
def command_count(client, args):
    return b":%d\r\n" % len(COMMANDS)


@subcommand("command", "info", -2, "loading stale", summary="Get details about specific commands")
def command_info(client, args):
    if len(args) == 2:
        return _array([describe(client, declared) for declared in COMMANDS.values()])
    found = [find(name) for name in args[2:]]
    return _array([client.resp.null if c is None else describe(client, c) for c in found])


@subcommand("command", "docs", -2, "loading stale", summary="Get documentary information about commands")
def command_docs(client, args):
    if len(args) == 2:
        chosen = list(COMMANDS.values())
    else:
        chosen = [c for c in (find(name) for name in args[2:]) if c is not None]
    return _raw_map(client, [(c.name, docs(client, c)) for c in chosen])


def _all_names() -> list[tuple[str, Command]]:
    names = []
    for declared in COMMANDS.values():
        names.append((declared.name, declared))
        names.extend((sub.name, sub) for sub in declared.subcommands.values())
    return names


def _list_filter(args: list[bytes]) -> Any:
    if len(args) == 2:
        return lambda name, declared: True
    if len(args) != 5 or args[2].lower() != b"filterby":
        raise SyntaxErrorReply()
    kind, value = args[3].lower(), args[4].decode("utf-8", "replace")
    if kind == b"module":
        return lambda name, declared: False
    if kind == b"aclcat":
        return lambda name, declared: value.lower() in categories(declared)
    if kind == b"pattern":
        return lambda name, declared: fnmatch.fnmatchcase(name, value.lower())
    raise SyntaxErrorReply()


@subcommand("command", "list", -2, "loading stale", summary="Get an array of command names")
def command_list(client, args):
    keep = _list_filter(args)
    return client.resp.array([name for name, declared in _all_names() if keep(name, declared)])


@subcommand("command", "getkeys", -4, "loading stale", summary="Extract keys given a full command")
def command_getkeys(client, args):
    target = args[2:]
    declared = find(target[0])
    if declared is not None and declared.subcommands and len(target) > 1:
        declared = declared.subcommands.get(target[1].lower().decode("utf-8", "replace"))
    if declared is None:
        raise CommandError(errors.INVALID_COMMAND)
    if not declared.min_args <= len(target) <= declared.max_args:
        raise CommandError(errors.INVALID_ARGS_FOR_KEYS)
    if declared.first_key <= 0 and declared.find_keys is None:
        raise CommandError(errors.NO_KEY_ARGS)
    positions = declared.key_positions(target)
    if not positions:
        if positions is not None and "no_mandatory_keys" in declared.flags:
            return client.resp.array([])  # EVAL script 0
        raise CommandError(errors.INVALID_ARGS_FOR_COMMAND)
    return client.resp.array([target[i] for i in positions if i < len(target)])


COMMAND_HELP = [
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST [FILTERBY (MODULE <module-name>|ACLCAT <category>|PATTERN <pattern>)]",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full Redis command.",
]


@subcommand("command", "help", 2, "loading stale", summary="Show help on the subcommands")
def command_help(client, args):
    return help_reply(client, "command", COMMAND_HELP)
