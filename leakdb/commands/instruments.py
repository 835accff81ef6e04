"""What the server records about the commands it runs: per-command statistics (INFO commandstats,
latencystats, LATENCY HISTOGRAM), error counts (INFO errorstats), the slow log, latency events and
the MONITOR feed.

One :class:`Instruments` per server.  The client's loop calls :meth:`Instruments.after` for each
command only while :attr:`Instruments.per_command` is true (``latency-tracking yes`` or a MONITOR
attached); otherwise it times whole passes over a pipeline and calls :meth:`Instruments.slow_pass`
when one passes a threshold, so the lean path pays two clock reads per pass and nothing per command.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from ..resp import QUEUED

# Error replies that refuse a command before it runs: Redis counts them as rejected_calls.
REJECTIONS = (b"-NOAUTH", b"-NOPERM", b"-OOM", b"-MISCONF", b"-BUSY", b"-LOADING", b"-EXECABORT")
WRONG_ARITY = b"-ERR wrong number of arguments"
# Redis stops tracking new error kinds past this many (INFO errorstats).
MAX_ERROR_KINDS = 128
# The slow log's limits on what an entry keeps of a command.
SLOWLOG_ARGS = 32
SLOWLOG_ARG_BYTES = 128
# Latency samples kept per event, as Redis keeps them.
LATENCY_SAMPLES = 160
REDACTED = b"(redacted)"
_SCRIPT_COMMANDS = frozenset({"eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"})


class CommandStats:
    """One command's counters; ``histogram`` maps a duration bucket to the number of calls that fell
    in it. Buckets are Redis's: a duration keeps its top 8 significant bits (its histogram's two
    significant digits), and a bucket is named by the lowest duration in it, in nanoseconds."""

    __slots__ = ("calls", "failed", "histogram", "ns", "rejected")

    def __init__(self) -> None:
        self.calls = 0
        self.ns = 0
        self.rejected = 0
        self.failed = 0
        self.histogram: dict[int, int] = {}

    def record(self, elapsed_ns: int) -> None:
        self.calls += 1
        self.ns += elapsed_ns
        shift = elapsed_ns.bit_length() - 8
        if shift > 0:
            elapsed_ns = elapsed_ns >> shift << shift
        histogram = self.histogram
        histogram[elapsed_ns] = histogram.get(elapsed_ns, 0) + 1

    def percentile(self, percent: float) -> float:
        """The duration in microseconds that `percent` of the calls did not exceed: the highest
        duration of the bucket that holds that call, as Redis reports it."""
        total = sum(self.histogram.values())
        if not total:
            return 0.0
        wanted = max(1, -(-total * percent // 100))
        seen = 0
        for bucket in sorted(self.histogram):
            seen += self.histogram[bucket]
            if seen >= wanted:
                break
        return (bucket + (1 << max(0, bucket.bit_length() - 8)) - 1) / 1000

    def levels(self) -> list[tuple[int, int]]:
        """LATENCY HISTOGRAM's buckets, cumulative, for the bounds some call fell under. The levels
        are Redis's: 1024 << k nanoseconds, each reported as the highest duration its bucket holds
        ((1032 << k) - 1 ns) in whole microseconds: 1, 2, 4, 8, 16, 33, 66, 132..."""
        counts: dict[int, int] = {}
        for bucket, calls in self.histogram.items():
            step = (max(0, bucket - 1) // 1024).bit_length()
            counts[step] = counts.get(step, 0) + calls
        cumulative, total = [], 0
        for step in sorted(counts):
            total += counts[step]
            cumulative.append((((1032 << step) - 1) // 1000, total))
        return cumulative


class LatencyEvent:
    """One latency event's samples: (unix second, milliseconds), one per second, and the maximum."""

    __slots__ = ("max_ms", "samples")

    def __init__(self) -> None:
        self.samples: deque[list[int]] = deque(maxlen=LATENCY_SAMPLES)
        self.max_ms = 0

    def add(self, now_s: int, ms: int) -> None:
        if self.samples and self.samples[-1][0] == now_s:
            self.samples[-1][1] = max(self.samples[-1][1], ms)
        else:
            self.samples.append([now_s, ms])
        self.max_ms = max(self.max_ms, ms)


class Instruments:
    """The statistics, slow log, latency events and monitors of one server."""

    def __init__(self, config: Any) -> None:
        self.monitors: list[Any] = []
        self.commandstats: dict[str, CommandStats] = {}
        self.errorstats: dict[str, int] = {}
        self.error_replies = 0
        self.slowlog: deque[list[Any]] = deque()
        self.slowlog_next_id = 0
        self.latency: dict[str, LatencyEvent] = {}
        self.configure(config)

    def configure(self, config: Any) -> None:
        """Read the settings again (after CONFIG SET) and choose the lean or the per-command loop."""
        slower_than = config["slowlog-log-slower-than"]
        self.slowlog_ns = slower_than * 1000 if slower_than >= 0 else None
        self.slowlog_max = config["slowlog-max-len"]
        while len(self.slowlog) > self.slowlog_max:
            self.slowlog.pop()
        self.latency_ms = config["latency-monitor-threshold"]
        self.tracking = config["latency-tracking"]
        self.percentiles = config["latency-tracking-info-percentiles"]
        thresholds = [self.slowlog_ns / 1e9] if self.slowlog_ns is not None else []
        if self.latency_ms > 0:
            thresholds.append(self.latency_ms / 1000)
        # The lean loop compares each pass's duration with this (infinite: nothing to record).
        self.pass_threshold = min(thresholds, default=float("inf"))
        # The per-command loop compares each duration with this (nanoseconds).
        self.rare_ns = int(self.pass_threshold * 1e9) if thresholds else 1 << 62
        self.per_command = bool(self.tracking or self.monitors)

    # -- the per-command loop -------------------------------------------------------------------------

    def after(self, client: Any, declared: Any, args: list[bytes], reply: bytes, elapsed_ns: int) -> None:
        """Record one command the client's loop ran (kept lean: it runs for every command)."""
        if client.multi is not None and reply == QUEUED:
            return  # queued: it runs, and is counted, at EXEC
        target = resolve(declared, args) if declared.subcommands else declared
        if reply and reply[0] == 45:  # "-"
            stats = self.error(declared, target, reply)
            if stats is None:
                return
        else:
            stats = self.commandstats.get(target.name)
            if stats is None:
                stats = self.commandstats[target.name] = CommandStats()
        stats.record(elapsed_ns)
        if self.monitors and "admin" not in target.flags and "skip_monitor" not in target.flags:
            self.feed(client, args)
        if elapsed_ns >= self.rare_ns:  # over a slow log or latency threshold
            self._slow(client, target, args, elapsed_ns)

    def _slow(self, client: Any, target: Any, args: list[bytes], elapsed_ns: int) -> None:
        if (
            self.slowlog_ns is not None
            and elapsed_ns >= self.slowlog_ns
            and "skip_slowlog" not in target.flags
        ):
            self.log_slow(client, args, elapsed_ns // 1000)
        if self.latency_ms and elapsed_ns >= self.latency_ms * 1_000_000:
            self.add_latency("fast-command" if "fast" in target.flags else "command", elapsed_ns // 1_000_000)

    def error(self, declared: Any, target: Any, reply: bytes) -> CommandStats | None:
        """Count an error reply (errorstats, and the command's rejected or failed calls); the
        command's statistics when it ran and failed, None when it was refused before running."""
        self.count_error(reply)
        if target is declared and declared.subcommands:
            return None  # an unknown subcommand: refused before it ran, and no command to count
        stats = self._stats(target)
        if reply.startswith(REJECTIONS) or (target is not declared and reply.startswith(WRONG_ARITY)):
            stats.rejected += 1
            return None
        stats.failed += 1
        return stats

    def failed_lean(self, declared: Any, args: list[bytes], reply: bytes) -> None:
        """An error reply in the lean loop: counted as in the per-command loop, without a call."""
        self.error(declared, resolve(declared, args), reply)

    def _stats(self, target: Any) -> CommandStats:
        stats = self.commandstats.get(target.name)
        if stats is None:
            stats = self.commandstats[target.name] = CommandStats()
        return stats

    def before(self, client: Any, declared: Any, args: list[bytes]) -> None:
        """Scripts show in MONITOR before the commands they run, as Redis shows them."""
        if declared.name in _SCRIPT_COMMANDS and client.multi is None:
            self.feed(client, args)

    def inner(self, client: Any, declared: Any, args: list[bytes], reply: bytes, elapsed_ns: int) -> None:
        """Record a command run by EXEC or by a script (``client.lua`` for the latter)."""
        target = resolve(declared, args)
        stats = self.commandstats.get(target.name)
        if stats is None:
            stats = self.commandstats[target.name] = CommandStats()
        if reply[:1] == b"-":
            self.count_error(reply)
            stats.failed += 1
        stats.record(elapsed_ns)
        if self.monitors and "admin" not in target.flags:
            self.feed(client, args)
        if (
            self.slowlog_ns is not None
            and elapsed_ns >= self.slowlog_ns
            and "skip_slowlog" not in target.flags
        ):
            self.log_slow(client, args, elapsed_ns // 1000)

    def rejected(self, declared: Any | None, reply: bytes) -> None:
        """A command refused before it ran (unknown, wrong arity): counted in every loop."""
        self.count_error(reply)
        if declared is not None:
            stats = self.commandstats.get(declared.name)
            if stats is None:
                stats = self.commandstats[declared.name] = CommandStats()
            stats.rejected += 1

    def count_error(self, reply: bytes) -> None:
        self.error_replies += 1
        end = reply.find(b" ")
        kind = reply[1 : end if end > 0 else -2].decode("utf-8", "replace")
        counts = self.errorstats
        if kind in counts:
            counts[kind] += 1
        elif len(counts) < MAX_ERROR_KINDS:
            counts[kind] = 1

    # -- the lean loop -----------------------------------------------------------------------------

    def slow_pass(self, client: Any, count: int, args: list[bytes], declared: Any, elapsed: float) -> None:
        """A pass over a client's commands took longer than a threshold.  A pass of one command is
        that command's duration; a longer pipeline's cannot be shared out, so it records nothing."""
        if count != 1 or declared is None:
            return
        elapsed_ns = int(elapsed * 1e9)
        if (
            self.slowlog_ns is not None
            and elapsed_ns >= self.slowlog_ns
            and "skip_slowlog" not in declared.flags
        ):
            self.log_slow(client, args, elapsed_ns // 1000)
        if self.latency_ms and elapsed_ns >= self.latency_ms * 1_000_000:
            self.add_latency(
                "fast-command" if "fast" in declared.flags else "command", elapsed_ns // 1_000_000
            )

    # -- slow log, latency, monitors ---------------------------------------------------------------

    def log_slow(self, client: Any, args: list[bytes], micros: int) -> None:
        if not self.slowlog_max:
            return
        kept = [arg if len(arg) <= SLOWLOG_ARG_BYTES else _cut(arg) for arg in redact(args)[:SLOWLOG_ARGS]]
        if len(args) > SLOWLOG_ARGS:
            kept[-1] = b"... (%d more arguments)" % (len(args) - SLOWLOG_ARGS + 1)
        address = getattr(client, "addr", "")  # a script's client has no connection
        entry = [self.slowlog_next_id, int(time.time()), micros, kept, address, client.name]
        self.slowlog_next_id += 1
        self.slowlog.appendleft(entry)
        if len(self.slowlog) > self.slowlog_max:
            self.slowlog.pop()

    def add_latency(self, event: str, ms: int) -> None:
        """Record an event that took `ms` milliseconds, if latency monitoring wants it."""
        if not self.latency_ms or ms < self.latency_ms:
            return
        record = self.latency.get(event)
        if record is None:
            record = self.latency[event] = LatencyEvent()
        record.add(int(time.time()), ms)

    def attach(self, client: Any) -> None:
        if client not in self.monitors:
            self.monitors.append(client)
        self.per_command = True

    def feed(self, client: Any, args: list[bytes]) -> None:
        """Send one command to every monitor, as ``redis-cli monitor`` prints it."""
        now_us = time.time_ns() // 1000
        if getattr(client, "lua", False):
            origin = "lua"
        elif getattr(client, "unix", False):
            origin = "unix:" + client.server.config["unixsocket"]
        else:
            origin = client.addr
        line = b"+%d.%06d [%d %s] %s\r\n" % (
            now_us // 1_000_000,
            now_us % 1_000_000,
            client.db_index,
            origin.encode(),
            b" ".join(quote(arg) for arg in redact(args)),
        )
        alive = []
        for monitor in self.monitors:
            if not monitor.closed:
                alive.append(monitor)
                monitor.send(line)
        if len(alive) != len(self.monitors):
            self.monitors[:] = alive
            self.per_command = bool(self.tracking or alive)

    def reset_stats(self) -> None:
        """CONFIG RESETSTAT."""
        self.commandstats.clear()
        self.errorstats.clear()
        self.error_replies = 0


def resolve(declared: Any, args: list[bytes]) -> Any:
    """The command or, for a container (CLIENT SETNAME), the subcommand a request names."""
    if declared.subcommands and len(args) > 1:
        return declared.subcommands.get(args[1].lower().decode("utf-8", "replace"), declared)
    return declared


def redact(args: list[bytes]) -> list[bytes]:
    """The arguments with passwords replaced, as MONITOR and SLOWLOG show them."""
    name = args[0].lower()
    if name == b"auth":
        return [args[0]] + [REDACTED] * (len(args) - 1)
    secrets = _SECRETS.get(name)
    if secrets is None:
        return args
    shown = list(args)
    for position, arg in enumerate(args):
        count = secrets.get(arg.lower(), 0)
        for secret in range(position + 1, min(position + 1 + count, len(args))):
            shown[secret] = REDACTED
    return shown


# Options that a password follows, and how many words they take (AUTH username password).
_SECRETS = {b"hello": {b"auth": 2}, b"migrate": {b"auth": 1, b"auth2": 2}}


def _cut(arg: bytes) -> bytes:
    return arg[:SLOWLOG_ARG_BYTES] + b"... (%d more bytes)" % (len(arg) - SLOWLOG_ARG_BYTES)


_ESCAPES = {ord("\\"): b"\\\\", ord('"'): b'\\"', 10: b"\\n", 13: b"\\r", 9: b"\\t", 7: b"\\a", 8: b"\\b"}
_QUOTED = [
    _ESCAPES.get(byte) or (bytes([byte]) if 32 <= byte < 127 else b"\\x%02x" % byte) for byte in range(256)
]


def quote(arg: bytes) -> bytes:
    """An argument as Redis's sdscatrepr shows it: in double quotes, with C escapes."""
    return b'"' + b"".join([_QUOTED[byte] for byte in arg]) + b'"'


def instruments_of(server: Any) -> Instruments:
    """The server's instruments, made on first use for a server built without them."""
    instruments = getattr(server, "instruments", None)
    if instruments is None:
        instruments = Instruments(server.config)
        server.instruments = instruments
    return instruments
