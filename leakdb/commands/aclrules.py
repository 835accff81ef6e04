"""The ACL rule model of Redis 7.0, pure: users, selectors, the rule language and permission checks.

A user has flags (on/off, nopass), password hashes (SHA-256 hex, as Redis keeps them), a root
selector and more selectors; a selector allows a set of commands (full names: ``get``,
``config|set``), key patterns with read/write flags and channel patterns.  ``describe`` rebuilds
the rules from the allowed set as Redis 7.0 does (start from +@all or -@all, then the categories
that fit best, then single commands), so ACL LIST and GETUSER read as Redis's.  No sockets here:
commands/acl.py applies it to clients.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from ..engine.glob import match
from . import acltable

CATEGORIES: tuple[str, ...] = acltable.CATEGORIES

READ, WRITE = 1, 2
FLAG_NAMES = {READ | WRITE: "", READ: "R", WRITE: "W"}


class RuleError(ValueError):
    """A rule Redis refuses; the message is Redis's reason (after "modifier '...': ")."""


SYNTAX = "Syntax error"
UNKNOWN_NAME = "Unknown command or category name in ACL"
BAD_HASH = "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters"
NO_SUCH_PASSWORD = "The password you are trying to remove from the user does not exist"
AFTER_ALLKEYS = (
    "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any "
    "effect. Try 'resetkeys' to start with an empty list of patterns"
)
AFTER_ALLCHANNELS = (
    "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have "
    "any effect. Try 'resetchannels' to start with an empty list of channels"
)


class Universe:
    """The commands rules can name: each full name's categories, and each container's subcommands.

    Built from Redis's table (so category counts, and thus descriptions, match Redis's) plus the
    server's own commands, whose categories come from their flags when Redis has no entry.
    """

    def __init__(self, categories: dict[str, frozenset[str]]) -> None:
        self.categories = categories
        self.subcommands: dict[str, list[str]] = {}
        for name in sorted(categories):
            parent, bar, _ = name.partition("|")
            if bar:
                self.subcommands.setdefault(parent, []).append(name)
        self.parents = sorted(name for name in categories if "|" not in name)
        self.everything = frozenset(categories)
        self.members = {
            cat: frozenset(name for name, cats in categories.items() if cat in cats) for cat in CATEGORIES
        }

    def family(self, name: str) -> list[str]:
        """A command with its subcommands (what +cmd and -cmd change)."""
        return [name, *self.subcommands.get(name, ())]


def redis_universe(extra: dict[str, frozenset[str]] | None = None) -> Universe:
    table = {name: frozenset(entry[0]) for name, entry in acltable.COMMANDS.items()}
    for name, cats in (extra or {}).items():
        table.setdefault(name, cats)
    return Universe(table)


def hash_password(password: bytes) -> str:
    return hashlib.sha256(password).hexdigest()


def _valid_hash(text: str) -> bool:
    return len(text) == 64 and all(char in "0123456789abcdef" for char in text)


@dataclass
class Selector:
    allowed: set[str] = field(default_factory=set)
    future: bool = False  # +@all: commands added later are allowed too (Redis's reserved bit)
    firstargs: dict[str, list[str]] = field(default_factory=dict)
    allkeys: bool = False
    keys: list[list] = field(default_factory=list)  # [flags, pattern]
    allchannels: bool = False
    channels: list[str] = field(default_factory=list)

    # -- rules ------------------------------------------------------------------------------------

    def apply(self, rule: str, universe: Universe) -> None:
        lowered = rule.lower()
        if lowered in ("allcommands", "+@all"):
            self.allowed = set(universe.everything)
            self.future = True
            self.firstargs.clear()
        elif lowered in ("nocommands", "-@all"):
            self.allowed = set()
            self.future = False
            self.firstargs.clear()
        elif lowered in ("allkeys", "~*"):
            self.allkeys = True
            self.keys.clear()
        elif lowered == "resetkeys":
            self.allkeys = False
            self.keys.clear()
        elif lowered in ("allchannels", "&*"):
            self.allchannels = True
            self.channels.clear()
        elif lowered == "resetchannels":
            self.allchannels = False
            self.channels.clear()
        elif rule[:1] == "~":
            self._add_key(READ | WRITE, rule[1:])
        elif rule[:1] == "%":
            self._add_key_with_flags(rule)
        elif rule[:1] == "&":
            if self.allchannels:
                raise RuleError(AFTER_ALLCHANNELS)
            if rule[1:] not in self.channels:
                self.channels.append(rule[1:])
        elif rule[:2] in ("+@", "-@"):
            category = lowered[2:]
            if category not in universe.members:
                raise RuleError(UNKNOWN_NAME)
            self.set_category(universe, category, rule[0] == "+")
        elif rule[:1] in ("+", "-"):
            self._command_rule(lowered, universe)
        else:
            raise RuleError(SYNTAX)

    def _add_key_with_flags(self, rule: str) -> None:
        flags_text, tilde, pattern = rule[1:].partition("~")
        if not tilde or not flags_text:
            raise RuleError(SYNTAX)
        flags = 0
        for letter in flags_text.upper():
            if letter == "R":
                flags |= READ
            elif letter == "W":
                flags |= WRITE
            else:
                raise RuleError(SYNTAX)
        self._add_key(flags, pattern)

    def _add_key(self, flags: int, pattern: str) -> None:
        if self.allkeys:
            raise RuleError(AFTER_ALLKEYS)
        if flags == READ | WRITE and pattern == "*":
            self.allkeys = True
            self.keys.clear()
            return
        for entry in self.keys:
            if entry[1] == pattern:
                entry[0] |= flags
                return
        self.keys.append([flags, pattern])

    def set_category(self, universe: Universe, category: str, allow: bool) -> None:
        # As Redis: a container in the category changes with all its subcommands, then each
        # subcommand in the category changes on its own.
        for parent in universe.parents:
            if category in universe.categories[parent]:
                self.change(universe, parent, allow)
            for sub in universe.subcommands.get(parent, ()):
                if category in universe.categories[sub]:
                    self.change(universe, sub, allow)

    def change(self, universe: Universe, name: str, allow: bool) -> None:
        for member in universe.family(name):
            if allow:
                self.allowed.add(member)
            else:
                self.allowed.discard(member)
        self.firstargs.pop(name, None)

    def _command_rule(self, lowered: str, universe: Universe) -> None:
        allow = lowered[0] == "+"
        name = lowered[1:]
        if name in universe.categories:
            self.change(universe, name, allow)
            return
        parent, bar, first = name.partition("|")
        if not bar or parent not in universe.categories:
            raise RuleError(UNKNOWN_NAME)
        if not first or "|" in first:
            raise RuleError(SYNTAX)
        if parent in universe.subcommands or not allow:
            raise RuleError(UNKNOWN_NAME)
        # A first argument of a command without subcommands (+select|0): allowed alone.
        allowed = self.firstargs.setdefault(parent, [])
        if first not in allowed:
            allowed.append(first)

    # -- description --------------------------------------------------------------------------------

    def describe_commands(self, universe: Universe) -> str:
        """The command rules as Redis 7.0 regenerates them from what is allowed."""
        additive = not self.future
        rules = ["-@all" if additive else "+@all"]
        fake = Selector()
        fake.apply(rules[0], universe)
        remaining = set(self.allowed)  # Redis's temp selector: what categories have not yet covered
        applied: set[str] = set()
        while True:
            best, mindiff, maxsame = None, None, 0
            for category in CATEGORIES:
                if category in applied:
                    continue
                members = universe.members[category]
                on = len(members & remaining)
                off = len(members) - on
                diff, same = (off, on) if additive else (on, off)
                better = mindiff is None or diff < mindiff or (diff == mindiff and same > maxsame)
                if same > diff and better:
                    best, mindiff, maxsame = category, diff, same
            if best is None:
                break
            rules.append(("+@" if additive else "-@") + best)
            fake.set_category(universe, best, additive)
            inverse = Selector(allowed=remaining)
            inverse.set_category(universe, best, not additive)
            applied.add(best)
        for parent in universe.parents:
            for name in universe.family(parent):
                mine = name in self.allowed
                if mine != (name in fake.allowed):
                    rules.append(("+" if mine else "-") + name)
                    fake.change(universe, name, mine)
            if parent not in self.allowed:
                rules.extend(f"+{parent}|{first}" for first in self.firstargs.get(parent, ()))
        return " ".join(rules)

    def describe_keys(self) -> str:
        if self.allkeys:
            return "~*"
        return " ".join(
            f"%{FLAG_NAMES[flags]}~{pattern}" if FLAG_NAMES[flags] else f"~{pattern}"
            for flags, pattern in self.keys
        )

    def describe_channels(self) -> str:
        if self.allchannels:
            return "&*"
        return " ".join(f"&{pattern}" for pattern in self.channels)

    def describe(self, universe: Universe) -> str:
        """Keys, channels and commands, as ACL LIST shows a selector."""
        parts = [self.describe_keys()]
        channels = self.describe_channels()
        parts.append(channels if self.allchannels else f"resetchannels {channels}".rstrip())
        parts.append(self.describe_commands(universe))
        return " ".join(part for part in parts if part)

    # -- checks -------------------------------------------------------------------------------------

    def unrestricted(self, universe: Universe) -> bool:
        return self.future and self.allkeys and self.allchannels and self.allowed >= universe.everything

    def check(self, request: Request) -> tuple[int, int]:
        """(DENIED_* or OK, the position of the refused argument)."""
        name = request.name
        if name not in self.allowed and not (
            request.first is not None and request.first in self.firstargs.get(name, ())
        ):
            return DENIED_COMMAND, 0
        if not self.allkeys:
            for position, flags in request.keys:
                key = request.args[position]
                if not any(
                    entry[0] & flags == flags and match(entry[1].encode(), key) for entry in self.keys
                ):
                    return DENIED_KEY, position
        if not self.allchannels:
            for position, literal in request.channels:
                channel = request.args[position]
                if literal:  # PSUBSCRIBE's pattern must be one of the user's, literally
                    allowed = channel.decode("utf-8", "surrogateescape") in self.channels
                else:
                    allowed = any(match(p.encode("utf-8", "surrogateescape"), channel) for p in self.channels)
                if not allowed:
                    return DENIED_CHANNEL, position
        return OK, 0


OK, DENIED_COMMAND, DENIED_KEY, DENIED_CHANNEL = 0, 1, 2, 4


@dataclass
class Request:
    """What a check needs of a request: the full command name, its keys and channels."""

    name: str
    args: list[bytes]
    keys: list[tuple[int, int]] = field(default_factory=list)  # (position, READ|WRITE needed)
    channels: list[tuple[int, bool]] = field(default_factory=list)  # (position, literal pattern)
    first: str | None = None  # the first argument, lowered, for +select|0 rules


@dataclass
class User:
    name: str
    enabled: bool = False
    nopass: bool = False
    sanitize: str = ""  # "", "sanitize-payload" or "skip-sanitize-payload"
    passwords: list[str] = field(default_factory=list)
    root: Selector = field(default_factory=Selector)
    selectors: list[Selector] = field(default_factory=list)

    def apply(self, rule: str, universe: Universe, pubsub_default_all: bool = False) -> None:
        """Apply one SETUSER argument (already merged when a selector spanned several)."""
        lowered = rule.lower()
        if rule.startswith("(") and rule.endswith(")"):
            selector = new_selector(pubsub_default_all)
            for word in rule[1:-1].split():
                selector.apply(word, universe)
            self.selectors.append(selector)
        elif lowered == "on":
            self.enabled = True
        elif lowered == "off":
            self.enabled = False
        elif lowered == "nopass":
            self.nopass = True
            self.passwords.clear()
        elif lowered == "resetpass":
            self.nopass = False
            self.passwords.clear()
        elif lowered in ("sanitize-payload", "skip-sanitize-payload"):
            self.sanitize = lowered
        elif lowered == "clearselectors":
            self.selectors.clear()
        elif lowered == "reset":
            for word in ("resetpass", "resetkeys", "resetchannels", "off", "clearselectors", "-@all"):
                self.apply(word, universe)
            if pubsub_default_all:
                self.apply("allchannels", universe)
            self.sanitize = "sanitize-payload"
        elif rule[:1] in (">", "<", "#", "!"):
            self._password_rule(rule)
        else:
            self.root.apply(rule, universe)

    def _password_rule(self, rule: str) -> None:
        kind, text = rule[0], rule[1:]
        if kind in ">":
            digest = hash_password(text.encode("utf-8", "surrogateescape"))
        else:
            digest = text
            if kind in "#!" and not _valid_hash(digest):
                raise RuleError(BAD_HASH)
            if kind == "<":
                digest = hash_password(text.encode("utf-8", "surrogateescape"))
        if kind in ">#":
            if digest not in self.passwords:
                self.passwords.append(digest)
            self.nopass = False
        else:
            if digest not in self.passwords:
                raise RuleError(NO_SUCH_PASSWORD)
            self.passwords.remove(digest)

    def flags(self) -> list[str]:
        flags = ["on" if self.enabled else "off"]
        if self.nopass:
            flags.append("nopass")
        if self.sanitize == "skip-sanitize-payload":
            flags.append("skip-sanitize-payload")
        elif self.sanitize:
            flags.append("sanitize-payload")
        return flags

    def describe(self, universe: Universe) -> str:
        """The user as one ACL LIST line (and an aclfile line)."""
        parts = ["user", self.name, *self.flags(), *(f"#{digest}" for digest in self.passwords)]
        parts.append(self.root.describe(universe))
        parts.extend(f"({selector.describe(universe)})" for selector in self.selectors)
        return " ".join(parts)

    def password_matches(self, password: bytes) -> bool:
        if self.nopass:
            return True
        return hash_password(password) in self.passwords

    def unrestricted(self, universe: Universe) -> bool:
        return self.root.unrestricted(universe)

    def check(self, request: Request) -> tuple[int, int]:
        """The root selector's verdict, else the first other that allows; else the most specific
        refusal (a key refused says more than a command refused), as Redis reports it."""
        verdict = self.root.check(request)
        if verdict[0] == OK:
            return verdict
        for selector in self.selectors:
            other = selector.check(request)
            if other[0] == OK:
                return other
            if other[0] > verdict[0]:
                verdict = other
        return verdict


def new_selector(pubsub_default_all: bool = False) -> Selector:
    return Selector(allchannels=pubsub_default_all)


def new_user(name: str, pubsub_default_all: bool = False) -> User:
    """A user as ACL SETUSER creates one: off, no passwords, no commands, keys or channels."""
    return User(name=name, root=new_selector(pubsub_default_all))


def default_user(universe: Universe) -> User:
    user = User(name="default", enabled=True, nopass=True)
    for rule in ("+@all", "~*", "&*"):
        user.apply(rule, universe)
    return user


def merge_selectors(words: list[str]) -> list[str]:
    """SETUSER's arguments with a selector spread over several of them joined into one, as Redis
    joins them; a selector that does not close raises RuleError with Redis's whole message."""
    merged: list[str] = []
    opening: list[str] | None = None
    for word in words:
        if opening is not None:
            opening.append(word)
            if word.endswith(")"):
                merged.append(" ".join(opening))
                opening = None
        elif word.startswith("(") and not word.endswith(")"):
            opening = [word]
        else:
            merged.append(word)
    if opening is not None:
        raise RuleError(f"Unmatched parenthesis in acl selector starting at '{opening[0]}'.")
    return merged


def valid_username(name: str) -> bool:
    return " " not in name and "\0" not in name
