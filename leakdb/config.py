"""Server settings: one table that the command line, the config file, CONFIG GET/SET and the docs read.

Each :class:`Setting` has a Redis-style name (``flush-interval``), a type, a default and whether
``CONFIG SET`` may change it while the server runs.  :class:`Config` holds the values of one server.
"""

from __future__ import annotations

import fnmatch
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import errors
from .resp import ProtocolError, split_inline

INT_MAX = 2**31 - 1
UINT_MAX = 2**32 - 1
LONG_MAX = 2**63 - 1


class ConfigError(ValueError):
    """A setting name or value that is not acceptable; the text is what the user sees.

    ``reason`` is why the value was refused in Redis's words (``argument must be between 0 and 65535
    inclusive``), for callers that word the rest of the message themselves.
    """

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message


class BadValue(ValueError):
    """Raised by a setting's parser; ``str()`` is the reason in Redis's words."""


_INTEGER = re.compile(r"-?[0-9]+")


def _integer(low: int, high: int) -> Callable[[str], int]:
    """A parser for integers from `low` to `high`, refusing what Redis refuses with Redis's words."""

    def parse(raw: str) -> int:
        if not _INTEGER.fullmatch(raw):
            raise BadValue(errors.CONFIG_NOT_INTEGER)
        value = int(raw)
        if not low <= value <= high:
            raise BadValue(errors.CONFIG_OUT_OF_RANGE.format(low, high))
        return value

    return parse


def _parse_bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered == "yes":
        return True
    if lowered == "no":
        return False
    raise BadValue(errors.CONFIG_NOT_BOOL)


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
    if unit not in _UNITS or not digits.isdigit():
        raise BadValue(errors.CONFIG_NOT_MEMORY)
    value = int(digits) * _UNITS[unit]
    if value > LONG_MAX:
        raise BadValue(errors.CONFIG_NOT_MEMORY)
    return value


def _memory(low: int) -> Callable[[str], int]:
    """A memory value of at least `low` bytes."""

    def parse(raw: str) -> int:
        value = parse_memory(raw)
        if value < low:
            raise BadValue(errors.CONFIG_OUT_OF_RANGE.format(low, LONG_MAX))
        return value

    return parse


def _parse_seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise BadValue(errors.CONFIG_NOT_SECONDS) from None
    if not math.isfinite(value) or value < 0:
        raise BadValue(errors.CONFIG_NOT_SECONDS)
    return value


# client-output-buffer-limit: class -> (hard bytes, soft bytes, soft seconds), Redis's defaults.
OUTPUT_LIMIT_DEFAULTS = {
    "normal": (0, 0, 0),
    "slave": (256 * 1024**2, 64 * 1024**2, 60),
    "pubsub": (32 * 1024**2, 8 * 1024**2, 60),
}
_INT64_MAX = 2**63 - 1


def _limit_number(raw: str, memory: bool) -> int:
    try:
        value = parse_memory(raw) if memory else int(raw) if raw.isdigit() else -1
    except ValueError:
        value = -1
    if not 0 <= value <= (2**64 - 1 if memory else _INT64_MAX):
        raise BadValue(errors.BUFFER_LIMIT_VALUES)
    return value


def parse_output_limits(raw: str) -> dict[str, tuple[int, int, int]]:
    """``normal 0 0 0 pubsub 32mb 8mb 60``: the classes named, with Redis's checks and words; the
    setting merges them into the classes it has (see Setting.merge)."""
    words = raw.split()
    if len(words) % 4:
        raise BadValue(errors.BUFFER_LIMIT_ARGUMENTS)
    limits = {}
    for i in range(0, len(words), 4):
        name = words[i].lower()
        name = "slave" if name == "replica" else name
        if name not in OUTPUT_LIMIT_DEFAULTS:
            raise BadValue(errors.BUFFER_LIMIT_CLASS)
        hard, soft = _limit_number(words[i + 1], True), _limit_number(words[i + 2], True)
        limits[name] = (hard, soft, _limit_number(words[i + 3], False))
    return limits


def merge_output_limits(
    current: dict[str, tuple[int, int, int]], named: dict
) -> dict[str, tuple[int, int, int]]:
    return {**current, **named}


def format_output_limits(limits: dict[str, tuple[int, int, int]]) -> str:
    return " ".join(f"{name} {hard} {soft} {seconds}" for name, (hard, soft, seconds) in limits.items())


def _parse_save(raw: str) -> str:
    """``""`` or pairs of ``seconds changes``, as Redis checks them (LeakDB saves by its storage mode)."""
    words = raw.split()
    if len(words) % 2 or not all(_INTEGER.fullmatch(word) and int(word) >= 0 for word in words):
        raise BadValue(errors.CONFIG_SAVE_INVALID)
    return raw


def _parse_dbfilename(raw: str) -> str:
    if not raw:
        raise BadValue(errors.CONFIG_EMPTY)
    if "/" in raw or os.sep in raw:
        raise BadValue(errors.CONFIG_DBFILENAME_PATH)
    return raw


def _parse_nonempty(raw: str) -> str:
    if not raw:
        raise BadValue(errors.CONFIG_EMPTY)
    return raw


_CLASS_PATH = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


def _parse_class_path(raw: str) -> str:
    """``module:Class`` (or empty: the storage mode's own class); whether it imports is checked at start."""
    if raw and not _CLASS_PATH.fullmatch(raw):
        raise BadValue(errors.CONFIG_NOT_CLASS_PATH)
    return raw


def _parse_size(raw: str) -> int:
    """A size setting that Redis reads as 0 when empty (hll-sparse-max-bytes)."""
    return parse_memory(raw) if raw else 0


def _parse_octal(raw: str) -> int:
    if not re.fullmatch(r"[0-7]+", raw):
        raise BadValue(errors.CONFIG_NOT_OCTAL)
    value = int(raw, 8)
    if value > 0o777:
        raise BadValue(errors.CONFIG_OUT_OF_RANGE.format(0, 777))
    return value


def parse_memory_or_percent(raw: str) -> int:
    """maxmemory-clients: bytes (``1gb``), or a percentage of maxmemory (``10%``, kept negative)."""
    if raw.endswith("%"):
        digits = raw[:-1]
        if not digits.isdigit():
            raise BadValue(errors.CONFIG_NOT_MEMORY_OR_PERCENT)
        if int(digits) > 100:
            raise BadValue(errors.CONFIG_PERCENT_TOO_BIG)
        return -int(digits)
    try:
        value = parse_memory(raw)
    except BadValue:
        raise BadValue(errors.CONFIG_NOT_MEMORY_OR_PERCENT) from None
    if value < 0 or raw.strip() != raw:
        raise BadValue(errors.CONFIG_NOT_MEMORY_OR_PERCENT)
    return value


def format_memory_or_percent(value: int) -> str:
    return f"{-value}%" if value < 0 else str(value)


def client_memory_limit(config: Config) -> int:
    """Bytes all clients together may use before one is evicted (0: no limit), as Redis computes it:
    a percentage of maxmemory (none without maxmemory), and never less than 128 KB."""
    setting, maxmemory = config["maxmemory-clients"], config["maxmemory"]
    if setting < 0:
        if not maxmemory:
            return 0
        limit = int(maxmemory * -setting / 100)
    elif setting > 0:
        limit = setting
    else:
        return 0
    return max(limit, 128 * 1024)


def _format_octal(value: int) -> str:
    return f"{value:o}"


def _redacted(url: str) -> str:
    """A URL (or a comma-separated list) with any password replaced, so CONFIG GET never shows it."""
    parts = []
    for one in url.split(","):
        scheme, sep, rest = one.partition("://")
        credentials, at, host = rest.rpartition("@")
        if sep and at and ":" in credentials:
            one = f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"
        parts.append(one)
    return ",".join(parts)


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
    """One setting: its parser raises :class:`BadValue` for a value it refuses, so the command line,
    the config file and CONFIG SET refuse the same values with the same words."""

    name: str
    default: Any
    parse: Callable[[str], Any]
    help: str
    mutable: bool = True
    format: Callable[[Any], str] = str
    choices: tuple[str, ...] = ()
    metavar: str = ""
    #: How many words the value may take on a config file line (``save 3600 1 300 100``).
    many_words: bool = False
    # For a setting given in parts (client-output-buffer-limit names some classes): how a parsed
    # value combines with the current one.
    merge: Callable[[Any, Any], Any] | None = None


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        lowered = raw.lower()
        if lowered not in choices:
            raise BadValue(errors.CONFIG_NOT_CHOICE.format(", ".join(choices)))
        return lowered

    return parse


STORAGE_MODES = ("memory", "queue", "persistent", "persistent-queue")
BACKENDS = ("sqlite", "shelve", "redis")
LOG_LEVELS = ("debug", "verbose", "notice", "warning")

SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in [
        Setting("port", 6379, _integer(0, 65535), "TCP port to listen on (0: no TCP)", mutable=False),
        Setting(
            "bind",
            "127.0.0.1",
            _parse_nonempty,
            "addresses to listen on, space separated",
            mutable=False,
            many_words=True,
        ),
        Setting(
            "protected-mode",
            True,
            _parse_bool,
            "refuse to listen beyond loopback without a password",
            format=_format_bool,
        ),
        Setting("requirepass", "", str, "password clients must send with AUTH (empty: none)"),
        Setting("aclfile", "", str, "file of ACL users (ACL SAVE / LOAD), read at start-up", mutable=False),
        Setting("databases", 16, _integer(1, INT_MAX), "number of logical databases", mutable=False),
        Setting("maxclients", 10000, _integer(1, UINT_MAX), "maximum simultaneous clients"),
        Setting("timeout", 0, _integer(0, INT_MAX), "close clients idle this many seconds (0: never)"),
        Setting("dir", ".", _parse_nonempty, "directory holding the data file", mutable=False),
        Setting("dbfilename", "leakdb.db", _parse_dbfilename, "data file name inside dir", mutable=False),
        Setting(
            "storage",
            "persistent-queue",
            _choice(*STORAGE_MODES),
            "storage mode: persistent writes through, persistent-queue writes behind",
            mutable=False,
            choices=STORAGE_MODES,
        ),
        Setting(
            "backend",
            "sqlite",
            _choice(*BACKENDS),
            "backend for the persistent modes: a sqlite or shelve file, or an upstream redis",
            mutable=False,
            choices=BACKENDS,
        ),
        Setting(
            "upstream",
            "",
            str,
            "with --backend redis: the upstream server, redis[s]://[user:pass@]host:port[/db]",
            mutable=False,
            format=_redacted,
            metavar="URL",
        ),
        Setting(
            "upstream-cluster",
            "",
            str,
            "with --backend redis: a Redis Cluster's nodes, redis://host:port,host:port,...",
            mutable=False,
            format=_redacted,
            metavar="URLS",
        ),
        Setting(
            "upstream-load",
            "full",
            _choice("full", "lazy"),
            "with --backend redis: load every upstream key at start (full) or read misses through (lazy)",
            mutable=False,
            choices=("full", "lazy"),
        ),
        Setting("maxsize", 1000, _integer(0, LONG_MAX), "queued writes that trigger a flush (0: no limit)"),
        Setting(
            "flush-interval",
            1.0,
            _parse_seconds,
            "seconds between timed flushes (0: none)",
            mutable=False,
        ),
        Setting("workers", 1, _integer(1, INT_MAX), "queue worker greenlets", mutable=False),
        Setting(
            "storage-class",
            "",
            _parse_class_path,
            "serve your own storage class, given as module:Class",
            mutable=False,
            metavar="MODULE:CLASS",
        ),
        Setting(
            "proto-max-bulk-len",
            512 * 1024 * 1024,
            _memory(1024 * 1024),
            "largest bulk string a client may send",
        ),
        Setting(
            "client-query-buffer-limit",
            1024 * 1024 * 1024,
            _memory(1024 * 1024),
            "largest unparsed request a client may send",
        ),
        Setting(
            "client-output-buffer-limit",
            dict(OUTPUT_LIMIT_DEFAULTS),
            parse_output_limits,
            "per client class (normal, replica, pubsub): hard limit, soft limit, soft seconds (0: none)",
            format=format_output_limits,
            many_words=True,
            merge=merge_output_limits,
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
        Setting("maxmemory-samples", 5, _integer(1, INT_MAX), "keys sampled per eviction round"),
        Setting("lfu-log-factor", 10, _integer(0, INT_MAX), "how slowly the LFU counter grows"),
        Setting("lfu-decay-time", 1, _integer(0, INT_MAX), "minutes per LFU counter decay step"),
        Setting("hz", 10, _integer(0, INT_MAX), "active expiry cycles per second (used between 1 and 500)"),
        Setting(
            "hll-sparse-max-bytes",
            3000,
            _parse_size,
            "largest sparse HyperLogLog (header included) before it turns dense",
        ),
        Setting(
            "loglevel",
            "notice",
            _choice(*LOG_LEVELS),
            "log verbosity",
            choices=LOG_LEVELS,
        ),
        Setting("logfile", "", str, "log to this file (empty: standard error)", mutable=False),
        Setting(
            "save",
            "",
            _parse_save,
            "accepted for compatibility; LeakDB saves by its storage mode",
            many_words=True,
        ),
        Setting("unixsocket", "", str, "also listen on this unix socket path (empty: none)", mutable=False),
        Setting(
            "unixsocketperm",
            0,
            _parse_octal,
            "permissions of the unix socket file, in octal (0: the umask's)",
            mutable=False,
            format=_format_octal,
        ),
        Setting(
            "tls-port", 0, _integer(0, 65535), "also listen for TLS on this port (0: no TLS)", mutable=False
        ),
        Setting("tls-cert-file", "", str, "the server's certificate (PEM) for TLS"),
        Setting("tls-key-file", "", str, "the private key of tls-cert-file (PEM)"),
        Setting("tls-key-file-pass", "", str, "passphrase of tls-key-file, if it is encrypted"),
        Setting("tls-client-cert-file", "", str, "accepted for compatibility (replication only)"),
        Setting("tls-client-key-file", "", str, "accepted for compatibility (replication only)"),
        Setting("tls-client-key-file-pass", "", str, "accepted for compatibility (replication only)"),
        Setting("tls-ca-cert-file", "", str, "CA certificates that client certificates must chain to"),
        Setting("tls-ca-cert-dir", "", str, "a directory of CA certificates (OpenSSL's hashed layout)"),
        Setting(
            "tls-auth-clients",
            "yes",
            _choice("no", "yes", "optional"),
            "require a client certificate (yes), verify one if sent (optional), or not (no)",
            choices=("no", "yes", "optional"),
        ),
        Setting("tls-protocols", "", str, "TLS versions to allow, e.g. 'TLSv1.2 TLSv1.3' (empty: both)"),
        Setting("tls-ciphers", "", str, "OpenSSL cipher list for TLSv1.2 and below"),
        Setting("tls-ciphersuites", "", str, "TLSv1.3 cipher suites (accepted; OpenSSL's defaults apply)"),
        Setting(
            "tls-prefer-server-ciphers",
            False,
            _parse_bool,
            "choose the cipher by the server's preference",
            format=_format_bool,
        ),
        Setting(
            "tls-session-caching",
            True,
            _parse_bool,
            "let clients resume TLS sessions",
            format=_format_bool,
        ),
        Setting("tls-session-cache-size", 20480, _integer(0, INT_MAX), "TLS sessions kept for resumption"),
        Setting("tls-session-cache-timeout", 300, _integer(0, INT_MAX), "seconds a TLS session is kept"),
        Setting("tls-dh-params-file", "", str, "DH parameters file (PEM) for DHE ciphers"),
        Setting(
            "tls-replication",
            False,
            _parse_bool,
            "accepted for compatibility (no replication)",
            format=_format_bool,
        ),
        Setting(
            "tls-cluster", False, _parse_bool, "accepted for compatibility (no cluster)", format=_format_bool
        ),
        Setting("appendonly", False, _parse_bool, "accepted for compatibility", format=_format_bool),
        Setting(
            "maxmemory-clients",
            0,
            parse_memory_or_percent,
            "evict clients once all of them together use this much memory, as bytes (1gb) or a "
            "percentage of maxmemory (10%); 0: no limit",
            format=format_memory_or_percent,
            metavar="BYTES|PERCENT",
        ),
        Setting(
            "busy-reply-threshold",
            5000,
            _integer(0, LONG_MAX),
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
        self.given: set[str] = set()  # the settings a config file or a flag set at start-up
        self.users: list[list[str]] = []  # the config file's ``user`` lines (ACL rules, commands/acl.py)
        for key, value in overrides.items():
            self.values[key.replace("_", "-")] = value

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def set(self, name: str, raw: str, *, starting: bool = False) -> None:
        """Parse and store one setting; raise ConfigError with Redis's wording when it is refused."""
        setting = SETTINGS.get(canonical(name))
        if setting is None:
            raise ConfigError(errors.CONFIG_UNKNOWN.format(name).removeprefix("ERR "))
        if not setting.mutable and not starting:
            raise ConfigError(errors.CONFIG_IMMUTABLE.format(name).removeprefix("ERR "))
        try:
            value = setting.parse(raw)
        except BadValue as exc:
            message = errors.CONFIG_BAD_VALUE.format(name, exc).removeprefix("ERR ")
            raise ConfigError(message, str(exc)) from None
        if setting.merge is not None:
            value = setting.merge(self.values[setting.name], value)
        self.values[setting.name] = value
        if starting:
            self.given.add(setting.name)

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
        """Read a file in redis.conf syntax: ``name value`` per line, ``#`` comments, quotes allowed.

        A line that cannot be used raises ConfigError naming the file, the line number and the
        directive, as Redis's "FATAL CONFIG FILE ERROR" does, on one line.
        """
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise ConfigError(errors.CONFIG_FILE_UNREADABLE.format(path, exc.strerror or exc)) from None
        self.file = os.path.abspath(path)
        for number, raw_line in enumerate(data.splitlines(), 1):
            self._load_line(path, number, raw_line)

    def _load_line(self, path: str, number: int, raw_line: bytes) -> None:
        text = raw_line.decode("utf-8", "backslashreplace").strip()
        if not text or text.startswith("#"):
            return
        directive = text.split()[0]
        try:
            raw_line.decode("utf-8")
            words = [word.decode() for word in split_inline(text.encode())]
        except UnicodeDecodeError as exc:
            reason = errors.CONFIG_NOT_UTF8.format(exc.object[exc.start])
        except ProtocolError:
            reason = errors.CONFIG_UNBALANCED_QUOTES
        else:
            reason = self._apply_line(words)
            if not reason:
                return
        raise ConfigError(errors.CONFIG_FILE_ERROR.format(path, number, directive, reason, text))

    def _apply_line(self, words: list[str]) -> str:
        """Set the directive on one config file line; why it cannot be set, or "" once it is."""
        name, args = canonical(words[0]), words[1:]
        if name == "user" and args:
            self.users.append(args)
            return ""
        setting = SETTINGS.get(name)
        if setting is None:
            return errors.CONFIG_BAD_DIRECTIVE
        if not args or (len(args) > 1 and not setting.many_words):
            return errors.CONFIG_WRONG_ARGUMENTS
        try:
            self.set(name, " ".join(args), starting=True)
        except ConfigError as exc:
            return exc.reason
        return ""


def canonical(name: str) -> str:
    """A setting's own name for `name`, which may be an alias (lua-time-limit)."""
    lowered = name.lower()
    return ALIASES.get(lowered, lowered)
