"""Server settings: one table that the command line, the config file, CONFIG GET/SET and the docs read.

Each :class:`Setting` has a Redis-style name (``flush-interval``), a type, a default and whether
``CONFIG SET`` may change it while the server runs.  :class:`Config` holds the values of one server.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .resp import ProtocolError, split_inline


class ConfigError(ValueError):
    """A setting name or value that is not acceptable; the text is what the user sees."""


def _parse_bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("yes", "true", "1"):
        return True
    if lowered in ("no", "false", "0"):
        return False
    raise ValueError(raw)


def _format_bool(value: bool) -> str:
    return "yes" if value else "no"


_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1024,
    "m": 1000**2,
    "mb": 1024**2,
    "g": 1000**3,
    "gb": 1024**3,
}


def parse_memory(raw: str) -> int:
    """Redis memory units: ``100mb`` is 100 * 1024**2 bytes, ``1g`` is 10**9, a bare number is bytes."""
    text = raw.strip().lower()
    digits = text.rstrip("kmgb")
    unit = text[len(digits) :]
    if unit not in _UNITS or not digits.lstrip("-").isdigit():
        raise ValueError(raw)
    return int(digits) * _UNITS[unit]


def _parse_float(raw: str) -> float:
    value = float(raw)
    if value != value or value < 0:
        raise ValueError(raw)
    return value


def _parse_nonnegative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError(raw)
    return value


# client-output-buffer-limit: class -> (hard bytes, soft bytes, soft seconds), Redis's defaults.
OUTPUT_LIMIT_DEFAULTS = {
    "normal": (0, 0, 0),
    "slave": (256 * 1024**2, 64 * 1024**2, 60),
    "pubsub": (32 * 1024**2, 8 * 1024**2, 60),
}


def parse_output_limits(raw: str) -> dict[str, tuple[int, int, int]]:
    """``normal 0 0 0 pubsub 32mb 8mb 60``: classes not named keep Redis's defaults."""
    words = raw.split()
    if len(words) % 4:
        raise ValueError(raw)
    limits = dict(OUTPUT_LIMIT_DEFAULTS)
    for i in range(0, len(words), 4):
        name = words[i].lower()
        name = "slave" if name == "replica" else name
        if name not in limits:
            raise ValueError(raw)
        seconds = int(words[i + 3])
        hard, soft = parse_memory(words[i + 1]), parse_memory(words[i + 2])
        if min(hard, soft, seconds) < 0:
            raise ValueError(raw)
        limits[name] = (hard, soft, seconds)
    return limits


def format_output_limits(limits: dict[str, tuple[int, int, int]]) -> str:
    return " ".join(f"{name} {hard} {soft} {seconds}" for name, (hard, soft, seconds) in limits.items())


def _parse_positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError(raw)
    return value


# maxmemory-policy values, in the order Redis lists them when refusing another.
MAXMEMORY_POLICIES = (
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
)


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    parse: Callable[[str], Any]
    help: str
    mutable: bool = True
    format: Callable[[Any], str] = str
    choices: tuple[str, ...] = ()
    metavar: str = ""


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        lowered = raw.lower()
        if lowered not in choices:
            raise ValueError(raw)
        return lowered

    return parse


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in [
        Setting("port", 6379, int, "TCP port to listen on (0: pick a free one)", mutable=False),
        Setting("bind", "127.0.0.1", str, "addresses to listen on, space separated", mutable=False),
        Setting(
            "protected-mode",
            True,
            _parse_bool,
            "refuse to listen beyond loopback without a password",
            format=_format_bool,
        ),
        Setting("requirepass", "", str, "password clients must send with AUTH (empty: none)"),
        Setting("databases", 16, int, "number of logical databases", mutable=False),
        Setting("maxclients", 10000, _parse_nonnegative_int, "maximum simultaneous clients"),
        Setting("timeout", 0, _parse_nonnegative_int, "close clients idle this many seconds (0: never)"),
        Setting("dir", ".", str, "directory holding the data file", mutable=False),
        Setting("dbfilename", "leakdb.db", str, "data file name inside dir", mutable=False),
        Setting(
            "storage",
            "persistent-queue",
            _choice("memory", "queue", "persistent", "persistent-queue"),
            "storage mode: memory, queue, persistent (write-through) or persistent-queue (write-behind)",
            mutable=False,
            choices=("memory", "queue", "persistent", "persistent-queue"),
        ),
        Setting(
            "backend",
            "sqlite",
            _choice("sqlite", "shelve"),
            "file backend for the persistent modes",
            mutable=False,
            choices=("sqlite", "shelve"),
        ),
        Setting("maxsize", 1000, _parse_nonnegative_int, "queued writes that trigger a flush"),
        Setting("flush-interval", 1.0, _parse_float, "seconds between timed flushes", mutable=False),
        Setting("workers", 1, _parse_nonnegative_int, "queue worker greenlets", mutable=False),
        Setting(
            "storage-class",
            "",
            str,
            "serve a user's storage class, given as module:Class",
            mutable=False,
            metavar="MODULE:CLASS",
        ),
        Setting(
            "proto-max-bulk-len",
            512 * 1024 * 1024,
            parse_memory,
            "largest bulk string a client may send",
        ),
        Setting(
            "client-query-buffer-limit",
            1024 * 1024 * 1024,
            parse_memory,
            "largest unparsed request a client may send",
        ),
        Setting(
            "client-output-buffer-limit",
            parse_output_limits(""),
            parse_output_limits,
            "per client class: hard limit, soft limit, soft seconds (0: none)",
            format=format_output_limits,
        ),
        Setting(
            "stop-writes-on-bgsave-error",
            True,
            _parse_bool,
            "refuse write commands (MISCONF) while the data file cannot be written",
            format=_format_bool,
        ),
        Setting(
            "maxmemory",
            0,
            parse_memory,
            "evict or refuse writes once memory use passes this, e.g. 100mb or 1gb (0: no limit)",
        ),
        Setting(
            "maxmemory-policy",
            "noeviction",
            _choice(*MAXMEMORY_POLICIES),
            "what to do at maxmemory: evict by LRU, LFU, random or TTL among all or volatile keys, "
            "or refuse writes (noeviction)",
            choices=MAXMEMORY_POLICIES,
            metavar="POLICY",
        ),
        Setting("maxmemory-samples", 5, _parse_positive_int, "keys sampled per eviction round"),
        Setting("lfu-log-factor", 10, _parse_nonnegative_int, "how slowly the LFU counter grows"),
        Setting("lfu-decay-time", 1, _parse_nonnegative_int, "minutes per LFU counter decay step"),
        Setting("hz", 10, int, "active expiry cycles per second"),
        Setting(
            "loglevel",
            "notice",
            _choice("debug", "verbose", "notice", "warning"),
            "log verbosity",
            choices=("debug", "verbose", "notice", "warning"),
        ),
        Setting("logfile", "", str, "log to this file (empty: standard output)", mutable=False),
        Setting("save", "", str, "accepted for compatibility; LeakDB saves by its storage mode"),
        Setting("appendonly", False, _parse_bool, "accepted for compatibility", format=_format_bool),
        Setting(
            "busy-reply-threshold",
            5000,
            _parse_nonnegative_int,
            "milliseconds a script runs before other clients get -BUSY and SCRIPT KILL works (0: never)",
            metavar="MS",
        ),
        Setting(
            "lua-maxmemory",
            256 * 1024**2,
            parse_memory,
            "memory each Lua interpreter may allocate; a script needing more fails (0: no limit)",
        ),
    ]
}

# Other names a setting answers to, as Redis keeps old names working (CONFIG GET lists both).
ALIASES = {"lua-time-limit": "busy-reply-threshold"}


class Config:
    """The values of one server's settings."""

    def __init__(self, **overrides: Any) -> None:
        self.values: dict[str, Any] = {name: s.default for name, s in SETTINGS.items()}
        self.file: str | None = None  # the config file read at start-up, which CONFIG REWRITE updates
        for key, value in overrides.items():
            self.values[key.replace("_", "-")] = value

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def set(self, name: str, raw: str, *, starting: bool = False) -> None:
        """Parse and store one setting; raise ConfigError with Redis's wording when it is refused."""
        setting = SETTINGS.get(canonical(name))
        if setting is None:
            raise ConfigError(f"Unknown option or number of arguments for CONFIG SET - '{name}'")
        if not setting.mutable and not starting:
            raise ConfigError(
                f"CONFIG SET failed (possibly related to argument '{name}') - can't set immutable config"
            )
        try:
            value = setting.parse(raw)
        except (ValueError, TypeError):
            raise ConfigError(
                f"CONFIG SET failed (possibly related to argument '{name}') - argument couldn't "
                "be parsed into an integer"
                if setting.parse in (int, _parse_nonnegative_int, parse_memory)
                else f"CONFIG SET failed (possibly related to argument '{name}') - argument "
                "must be one of the allowed values"
            ) from None
        self.values[setting.name] = value

    def get(self, pattern: str) -> list[tuple[str, str]]:
        """Every (name, value as text) whose name matches the glob `pattern`, as CONFIG GET lists them."""
        pattern = pattern.lower()
        found = [
            (name, SETTINGS[name].format(value))
            for name, value in self.values.items()
            if fnmatch.fnmatchcase(name, pattern)
        ]
        for alias, name in ALIASES.items():
            if fnmatch.fnmatchcase(alias, pattern):
                found.append((alias, SETTINGS[name].format(self.values[name])))
        return found

    def load_file(self, path: str) -> None:
        """Read a file in redis.conf syntax: ``name value`` per line, ``#`` comments, quotes allowed."""
        self.file = os.path.abspath(path)
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                stripped = line.strip()
                if not stripped or stripped.startswith("#"):
                    continue
                try:
                    words = [w.decode() for w in split_inline(stripped.encode())]
                except ProtocolError:
                    raise ConfigError(f"{path}:{number}: unbalanced quotes") from None
                name, args = canonical(words[0]), words[1:]
                if name not in SETTINGS:
                    raise ConfigError(f"{path}:{number}: unknown setting '{words[0]}'")
                try:
                    self.set(name, " ".join(args), starting=True)
                except ConfigError:
                    raise ConfigError(
                        f"{path}:{number}: bad value for '{name}': {' '.join(args)!r}"
                    ) from None


def canonical(name: str) -> str:
    """A setting's own name for `name`, which may be an alias (lua-time-limit)."""
    lowered = name.lower()
    return ALIASES.get(lowered, lowered)


def value_kind(setting: Setting) -> str:
    """What a setting's value is ("bool", "choice", "memory", "integer", "float" or "text"), so that
    CONFIG SET can word a refusal as Redis does."""
    if setting.choices:
        return "choice"
    if setting.parse is _parse_bool:
        return "bool"
    if setting.parse is parse_memory:
        return "memory"
    if setting.parse in (int, _parse_nonnegative_int, _parse_positive_int):
        return "integer"
    if setting.parse is _parse_float:
        return "float"
    return "text"
