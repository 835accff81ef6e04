"""Server settings: one table that the command line, the config file, CONFIG GET/SET and the docs read.

Each :class:`Setting` has a Redis-style name (``flush-interval``), a type, a default and whether
``CONFIG SET`` may change it while the server runs.  :class:`Config` holds the values of one server.
"""

from __future__ import annotations

import fnmatch
import glob
import math
import os
import re
from typing import Any

from . import errors
from .config_redis import NO_CLUSTER, NO_RDB, NO_REPLICATION, REDIS_PARITY
from .config_values import (
    INT_MAX,
    LONG_MAX,
    UINT_MAX,
    BadValue,
    Setting,
    choice,
    format_bool,
    format_octal,
    format_percentiles,
    integer,
    memory,
    parse_bool,
    parse_memory,
    parse_octal,
    parse_percentiles,
    parse_save,
)
from .resp import ProtocolError, split_inline

__all__ = ["INT_MAX", "LONG_MAX", "UINT_MAX", "BadValue", "parse_memory"]

# The names the settings below were written with (other helpers' additions use them too).
_integer = integer
_parse_bool = parse_bool
_format_bool = format_bool
_memory = memory
_parse_save = parse_save
_parse_octal = parse_octal
_format_octal = format_octal
_choice = choice


class ConfigError(ValueError):
    """A setting name or value that is not acceptable; the text is what the user sees.

    ``reason`` is why the value was refused in Redis's words (``argument must be between 0 and 65535
    inclusive``), for callers that word the rest of the message themselves.
    """

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message


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


# notify-keyspace-events: one bit per class letter Redis accepts.  "A" is every data class (not "m",
# key misses, nor "n", new keys), and a class is announced only with "K" or "E" (or both).
NOTIFY_FLAGS = {
    "K": 1 << 0,  # __keyspace@<db>__:<key> channels
    "E": 1 << 1,  # __keyevent@<db>__:<event> channels
    "g": 1 << 2,  # generic: del, expire, rename_from, ...
    "$": 1 << 3,  # strings
    "l": 1 << 4,  # lists
    "s": 1 << 5,  # sets
    "h": 1 << 6,  # hashes
    "z": 1 << 7,  # sorted sets
    "x": 1 << 8,  # expired keys
    "e": 1 << 9,  # evicted keys
    "t": 1 << 10,  # streams
    "m": 1 << 11,  # key misses
    "d": 1 << 12,  # modules (none in LeakDB)
    "n": 1 << 13,  # new keys
}
NOTIFY_ALL = sum(NOTIFY_FLAGS[letter] for letter in "g$lshzxetd")


def parse_notify_flags(raw: str) -> int:
    """``notify-keyspace-events`` as Redis reads it: any order, "A" for every data class."""
    flags = 0
    for letter in raw:
        bit = NOTIFY_ALL if letter == "A" else NOTIFY_FLAGS.get(letter)
        if bit is None:
            raise BadValue(errors.CONFIG_BAD_EVENT_CLASS)
        flags |= bit
    return flags


def format_notify_flags(flags: int) -> str:
    """The letters as CONFIG GET shows them: "A" (which hides "n") or the classes, then K, E, m."""
    if flags & NOTIFY_ALL == NOTIFY_ALL:
        text = "A"
    else:
        text = "".join(letter for letter in "g$lshzxetdn" if flags & NOTIFY_FLAGS[letter])
    return text + "".join(letter for letter in "KEm" if flags & NOTIFY_FLAGS[letter])


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
    if value > LONG_MAX:
        # Redis keeps a percentage as a negative number, so a value past LONG_MAX reads as one.
        value -= 2**64
        if -value > 100:
            raise BadValue(errors.CONFIG_PERCENT_TOO_BIG)
    return value


def parse_hz(raw: str) -> int:
    """hz: any int, kept between 1 and 500 as Redis keeps it."""
    return max(1, min(500, _integer(0, INT_MAX)(raw)))


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


STORAGE_MODES = ("memory", "queue", "persistent", "persistent-queue")
BACKENDS = ("sqlite", "shelve", "redis")
LOG_LEVELS = ("debug", "verbose", "notice", "warning")


def _table(settings: list[Setting]) -> dict[str, Setting]:
    table: dict[str, Setting] = {}
    for setting in settings:
        if setting.name in table:
            raise AssertionError(f"setting {setting.name!r} is defined twice")
        table[setting.name] = setting
    return table


SETTINGS: dict[str, Setting] = _table(
    [
        Setting("port", 6379, _integer(0, 65535), "TCP port to listen on (0: no TCP); CONFIG SET rebinds"),
        Setting(
            "bind",
            "127.0.0.1",
            _parse_nonempty,
            "addresses to listen on, space separated; CONFIG SET rebinds",
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
        Setting("dir", ".", _parse_nonempty, "directory holding the data file", protected=True),
        Setting("dbfilename", "leakdb.db", _parse_dbfilename, "data file name inside dir", protected=True),
        Setting(
            "storage",
            "persistent-queue",
            _choice(*STORAGE_MODES),
            "storage mode: persistent writes through, persistent-queue writes behind",
            mutable=False,
            choices=STORAGE_MODES,
            hidden=True,
        ),
        Setting(
            "backend",
            "sqlite",
            _choice(*BACKENDS),
            "backend for the persistent modes: a sqlite or shelve file, or an upstream redis",
            mutable=False,
            choices=BACKENDS,
            hidden=True,
        ),
        Setting(
            "upstream",
            "",
            str,
            "with --backend redis: the upstream server, redis[s]://[user:pass@]host:port[/db]",
            mutable=False,
            format=_redacted,
            metavar="URL",
            hidden=True,
        ),
        Setting(
            "upstream-cluster",
            "",
            str,
            "with --backend redis: a Redis Cluster's nodes, redis://host:port,host:port,...",
            mutable=False,
            format=_redacted,
            metavar="URLS",
            hidden=True,
        ),
        Setting(
            "upstream-load",
            "full",
            _choice("full", "lazy"),
            "with --backend redis: load every upstream key at start (full) or read misses through (lazy)",
            mutable=False,
            choices=("full", "lazy"),
            hidden=True,
        ),
        Setting(
            "maxsize",
            1000,
            _integer(0, LONG_MAX),
            "queued writes that trigger a flush (0: no limit)",
            hidden=True,
        ),
        Setting(
            "flush-interval",
            1.0,
            _parse_seconds,
            "seconds between timed flushes (0: none)",
            mutable=False,
            hidden=True,
        ),
        Setting("workers", 1, _integer(1, INT_MAX), "queue worker greenlets", mutable=False, hidden=True),
        Setting(
            "storage-class",
            "",
            _parse_class_path,
            "serve your own storage class, given as module:Class",
            mutable=False,
            metavar="MODULE:CLASS",
            hidden=True,
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
        Setting("hz", 10, parse_hz, "active expiry cycles per second (kept between 1 and 500)"),
        Setting(
            "hll-sparse-max-bytes",
            3000,
            _memory(0),
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
            "RDB snapshot points (seconds changes ...)",
            many_words=True,
            inert=NO_RDB,
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
            "tls-port",
            0,
            _integer(0, 65535),
            "also listen for TLS on this port (0: no TLS); CONFIG SET rebinds",
        ),
        Setting("tls-cert-file", "", str, "the server's certificate (PEM) for TLS"),
        Setting("tls-key-file", "", str, "the private key of tls-cert-file (PEM)"),
        Setting("tls-key-file-pass", "", str, "passphrase of tls-key-file, if it is encrypted"),
        Setting("tls-client-cert-file", "", str, "client certificate for replication", inert=NO_REPLICATION),
        Setting("tls-client-key-file", "", str, "its private key", inert=NO_REPLICATION),
        Setting("tls-client-key-file-pass", "", str, "its passphrase", inert=NO_REPLICATION),
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
        Setting(
            "tls-ciphersuites",
            "",
            str,
            "TLSv1.3 cipher suites",
            inert="Python's ssl module keeps OpenSSL's TLSv1.3 suites",
        ),
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
            "TLS for replication links",
            format=_format_bool,
            inert=NO_REPLICATION,
        ),
        Setting(
            "tls-cluster",
            False,
            _parse_bool,
            "TLS for the cluster bus",
            format=_format_bool,
            inert=NO_CLUSTER,
        ),
        Setting(
            "appendonly",
            False,
            _parse_bool,
            "at start-up, yes picks a persistent storage mode by appendfsync (see --storage)",
            format=_format_bool,
            fixed=errors.CONFIG_STORAGE_FIXED,
        ),
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
            "tracking-table-max-keys",
            1_000_000,
            _integer(0, LONG_MAX),
            "keys CLIENT TRACKING remembers before it invalidates some to make room (0: no limit)",
        ),
        Setting(
            "notify-keyspace-events",
            0,
            parse_notify_flags,
            "keyspace notification classes, as Redis's letters (KEA: every event; empty: none)",
            format=format_notify_flags,
            metavar="CLASSES",
        ),
        Setting(
            "busy-reply-threshold",
            5000,
            _integer(0, LONG_MAX),
            "milliseconds a script runs before other clients get -BUSY and SCRIPT KILL works (0: never)",
            metavar="MS",
        ),
        Setting(
            "slowlog-log-slower-than",
            10000,
            _integer(-1, LONG_MAX),
            "microseconds a command runs before SLOWLOG keeps it (0: every command, -1: none)",
            metavar="US",
        ),
        Setting("slowlog-max-len", 128, _integer(0, LONG_MAX), "entries SLOWLOG keeps, the oldest dropped"),
        Setting(
            "latency-monitor-threshold",
            0,
            _integer(0, LONG_MAX),
            "milliseconds an event takes before LATENCY records it (0: none)",
            metavar="MS",
        ),
        Setting(
            "latency-tracking",
            False,
            _parse_bool,
            "keep per-command statistics (INFO commandstats and latencystats, LATENCY HISTOGRAM); "
            "off by default in LeakDB, where they cost throughput",
            format=_format_bool,
        ),
        Setting(
            "latency-tracking-info-percentiles",
            (50.0, 99.0, 99.9),
            parse_percentiles,
            "the percentiles INFO latencystats reports, space separated",
            format=format_percentiles,
            many_words=True,
        ),
        Setting(
            "lua-maxmemory",
            256 * 1024**2,
            parse_memory,
            "memory each Lua interpreter may allocate; a script needing more fails (0: no limit)",
            hidden=True,
        ),
        *REDIS_PARITY,
    ]
)

# Other names a setting answers to, as Redis keeps old names working (CONFIG GET lists both).
ALIASES = {
    "lua-time-limit": "busy-reply-threshold",
    "hash-max-ziplist-entries": "hash-max-listpack-entries",
    "hash-max-ziplist-value": "hash-max-listpack-value",
    "zset-max-ziplist-entries": "zset-max-listpack-entries",
    "zset-max-ziplist-value": "zset-max-listpack-value",
    "list-max-ziplist-size": "list-max-listpack-size",
    "slaveof": "replicaof",
    "slave-serve-stale-data": "replica-serve-stale-data",
    "slave-read-only": "replica-read-only",
    "slave-announce-ip": "replica-announce-ip",
    "slave-announce-port": "replica-announce-port",
    "slave-ignore-maxmemory": "replica-ignore-maxmemory",
    "slave-lazy-flush": "replica-lazy-flush",
    "slave-priority": "replica-priority",
    "repl-ping-slave-period": "repl-ping-replica-period",
    "min-slaves-to-write": "min-replicas-to-write",
    "min-slaves-max-lag": "min-replicas-max-lag",
    "cluster-slave-no-failover": "cluster-replica-no-failover",
    "cluster-slave-validity-factor": "cluster-replica-validity-factor",
}
# Names Redis 7.0 reads from a config file with a warning and ignores.
DEPRECATED = ("list-max-ziplist-entries", "list-max-ziplist-value", "lua-replicate-commands")


class Config:
    """The values of one server's settings."""

    def __init__(self, **overrides: Any) -> None:
        self.values: dict[str, Any] = {name: s.default for name, s in SETTINGS.items()}
        self.file: str | None = None  # the config file read at start-up, which CONFIG REWRITE updates
        self.given: set[str] = set()  # the settings a config file or a flag set at start-up
        # What the config file said beyond settings, for the server to apply once it has its parts:
        # rename-command lines as (file, line number, line, old name, new name), and ACL user lines
        # (their words).
        self.renames: list[tuple[str, int, str, str, str]] = []
        self.users: list[list[str]] = []
        self.warnings: list[str] = []  # one line per directive with no effect, logged at start-up
        self._including: list[str] = []
        self._line: tuple[str, int, str] = ("", 0, "")  # the config file line being read
        for key, value in overrides.items():
            self.values[key.replace("_", "-")] = value

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def set(self, name: str, raw: str, *, starting: bool = False) -> None:
        """Parse and store one setting; raise ConfigError with Redis's wording when it is refused."""
        setting = SETTINGS.get(canonical(name))
        if setting is None:
            raise ConfigError(errors.CONFIG_UNKNOWN.format(name).removeprefix("ERR "))
        if not starting and not setting.mutable:
            raise ConfigError(errors.CONFIG_IMMUTABLE.format(name).removeprefix("ERR "))
        if not starting and setting.protected:
            raise ConfigError(errors.CONFIG_PROTECTED.format(name).removeprefix("ERR "))
        value = self.parse(name, raw)
        if setting.merge is not None:
            value = setting.merge(self.values[setting.name], value)
        self.values[setting.name] = value
        if starting:
            self.given.add(setting.name)

    def parse(self, name: str, raw: str) -> Any:
        """The value `raw` gives setting `name` (which must exist), or ConfigError in Redis's words."""
        setting = SETTINGS[canonical(name)]
        try:
            return setting.parse(raw)
        except BadValue as exc:
            message = errors.CONFIG_BAD_VALUE.format(name, exc).removeprefix("ERR ")
            raise ConfigError(message, str(exc)) from None

    def get(self, pattern: str) -> list[tuple[str, str]]:
        """Every (name, value as text) whose name matches the glob `pattern`, as CONFIG GET lists them.

        Hidden settings (LeakDB's own, and Redis's debugging ones) match only their exact name."""
        pattern = pattern.lower()
        found = [
            (name, SETTINGS[name].format(value))
            for name, value in self.values.items()
            if name == pattern or (not SETTINGS[name].hidden and fnmatch.fnmatchcase(name, pattern))
        ]
        for alias, name in ALIASES.items():
            if fnmatch.fnmatchcase(alias, pattern):
                found.append((alias, SETTINGS[name].format(self.values[name])))
        return found

    def load_file(self, path: str) -> None:
        """Read a file in redis.conf syntax: ``name value`` per line, ``#`` comments, quotes allowed,
        ``include`` of other files (glob patterns too), as Redis reads it.

        A line that cannot be used raises ConfigError naming the file, the line number and the
        directive, as Redis's "FATAL CONFIG FILE ERROR" does, on one line.
        """
        self.file = os.path.abspath(path)
        self._read(path)

    def _read(self, path: str, included: bool = False) -> None:
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            message = errors.CONFIG_INCLUDE_UNREADABLE if included else errors.CONFIG_FILE_UNREADABLE
            raise ConfigError(message.format(path, exc.strerror or exc)) from None
        real = os.path.realpath(path)
        if real in self._including:
            raise ConfigError(errors.CONFIG_INCLUDE_LOOP.format(path))
        self._including.append(real)
        try:
            for number, raw_line in enumerate(data.splitlines(), 1):
                self._load_line(path, number, raw_line)
        finally:
            self._including.pop()

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
            self._line = (path, number, text)
            reason = self._apply_line(words, f"{path}:{number}")
            if not reason:
                return
        raise ConfigError(errors.CONFIG_FILE_ERROR.format(path, number, directive, reason, text))

    def _apply_line(self, words: list[str], where: str) -> str:
        """Act on one config file line; why it cannot be used, or "" once it is."""
        name, args = canonical(words[0]), words[1:]
        if name == "user" and args:
            self.users.append(args)
            return ""
        setting = SETTINGS.get(name)
        if setting is None:
            return self._directive(name, args, where)
        if len(args) != 1 and not setting.many_words:
            return errors.CONFIG_WRONG_ARGUMENTS
        try:
            # A later line replaces an earlier one (Redis 7.0 does so for save lines too), except
            # where a setting merges its parts (client-output-buffer-limit's classes).
            self.set(name, " ".join(args), starting=True)
        except ConfigError as exc:
            return exc.reason
        if setting.inert:
            self.warnings.append(errors.CONFIG_NO_EFFECT.format(where, words[0], setting.inert))
        return ""

    def _directive(self, name: str, args: list[str], where: str) -> str:
        """The config file's directives that are not settings, as Redis reads them."""
        if name in DEPRECATED:
            self.warnings.append(errors.CONFIG_DEPRECATED.format(name))
        elif name == "include" and len(args) == 1:
            paths = sorted(glob.glob(args[0])) if glob.has_magic(args[0]) else [args[0]]
            for path in paths:
                self._read(path, included=True)
        elif name == "rename-command" and len(args) == 2:
            self.renames.append((*self._line, args[0], args[1]))
        elif name == "user" and args:
            self.users.append(args)
        elif name == "loadmodule" and args:
            return errors.CONFIG_NO_MODULES
        elif name == "sentinel":
            return errors.CONFIG_SENTINEL
        else:
            return errors.CONFIG_BAD_DIRECTIVE
        return ""


def check_protected_mode(config: Config) -> str | None:
    """Why the server must not start (listening beyond loopback with no password), or None."""
    if not config["protected-mode"] or config["requirepass"]:
        return None
    loopback = {"127.0.0.1", "::1", "localhost", "-::1"}
    exposed = [host for host in config["bind"].split() if host not in loopback]
    if exposed:
        return errors.PROTECTED_MODE.format(" ".join(exposed))
    return None


def canonical(name: str) -> str:
    """A setting's own name for `name`, which may be an alias (lua-time-limit)."""
    lowered = name.lower()
    return ALIASES.get(lowered, lowered)
