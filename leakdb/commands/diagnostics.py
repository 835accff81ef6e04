"""MONITOR, SLOWLOG and LATENCY: watching the commands a server runs, over the records that
commands/instruments.py keeps.

LATENCY's events are ``command`` and ``fast-command`` (a command that took at least
``latency-monitor-threshold`` milliseconds) and ``expire-cycle``; LATENCY HISTOGRAM and INFO
latencystats read the per-command statistics, kept while ``latency-tracking`` is yes.
"""

from __future__ import annotations

import time
from typing import Any

from ..errors import CommandError, wrong_arity
from ..resp import OK
from .connection import help_reply
from .instruments import instruments_of
from .registry import command, dispatch_sub, subcommand

ADMIN_FLAGS = "admin loading stale"

# -- MONITOR ---------------------------------------------------------------------------------------


@command("monitor", 1, "admin noscript loading stale", group="server", since="1.0.0",
         summary="Listen for all requests received by the server in real time")  # fmt: skip
def monitor(client, args):
    # Every command any client runs from now on is sent to this one, in Redis's line format.
    instruments_of(client.server).attach(client)
    return OK


# -- SLOWLOG ---------------------------------------------------------------------------------------


@command("slowlog", -2, "", group="server", since="2.2.12", summary="A container for slow log commands")
def slowlog(client, args):
    return dispatch_sub(client, args)


@subcommand("slowlog", "get", -2, ADMIN_FLAGS, summary="Get the slow log's entries")
def slowlog_get(client, args):
    if len(args) > 3:
        return wrong_arity("slowlog|get")
    entries = instruments_of(client.server).slowlog
    count = 10
    if len(args) == 3:
        try:
            count = int(args[2])
        except ValueError:
            count = -2
        if count < -1:
            raise CommandError("ERR count should be greater than or equal to -1")
        if count == -1:
            count = len(entries)
    return client.resp.array([list(entry) for entry in list(entries)[:count]])


@subcommand("slowlog", "len", 2, ADMIN_FLAGS, summary="Get the slow log's length")
def slowlog_len(client, args):
    return b":%d\r\n" % len(instruments_of(client.server).slowlog)


@subcommand("slowlog", "reset", 2, ADMIN_FLAGS, summary="Clear all entries from the slow log")
def slowlog_reset(client, args):
    instruments_of(client.server).slowlog.clear()
    return OK


@subcommand(
    "slowlog", "help", 2, "loading stale", summary="Show helpful text about the different subcommands"
)
def slowlog_help(client, args):
    return help_reply(client, "slowlog", SLOWLOG_HELP)


SLOWLOG_HELP = [
    "GET [<count>]",
    "    The <count> newest entries (10 by default, -1 for all), each: id, unix time, duration in",
    "    microseconds, the command's arguments, the client's address and the client's name.",
    "LEN",
    "    How many entries the slow log holds.",
    "RESET",
    "    Empty the slow log.",
]


# -- LATENCY ---------------------------------------------------------------------------------------


@command("latency", -2, "", group="server", since="2.8.13", summary="A container for latency diagnostics")
def latency(client, args):
    return dispatch_sub(client, args)


@subcommand("latency", "latest", 2, ADMIN_FLAGS, summary="Return the latest latency samples for all events")
def latency_latest(client, args):
    events = instruments_of(client.server).latency
    return client.resp.array(
        [[name, event.samples[-1][0], event.samples[-1][1], event.max_ms] for name, event in events.items()]
    )


@subcommand("latency", "history", 3, ADMIN_FLAGS, summary="Return timestamp-latency samples for the event")
def latency_history(client, args):
    event = instruments_of(client.server).latency.get(args[2].decode("utf-8", "replace"))
    return client.resp.array([list(sample) for sample in event.samples] if event else [])


@subcommand("latency", "reset", -2, ADMIN_FLAGS, summary="Reset latency data for one or more events")
def latency_reset(client, args):
    events = instruments_of(client.server).latency
    if len(args) == 2:
        count = len(events)
        events.clear()
        return b":%d\r\n" % count
    count = 0
    for raw in args[2:]:
        if events.pop(raw.decode("utf-8", "replace"), None) is not None:
            count += 1
    return b":%d\r\n" % count


@subcommand("latency", "graph", 3, ADMIN_FLAGS, summary="Return a latency graph for the event")
def latency_graph(client, args):
    name = args[2].decode("utf-8", "replace")
    event = instruments_of(client.server).latency.get(name)
    if event is None:
        raise CommandError(f"ERR No samples available for event '{name}'")
    return client.resp.verbatim(graph(name, event))


def graph(name: str, event: Any) -> str:
    """An ASCII chart of the event's samples, oldest left: one column per sample, its height scaled
    between the lowest and highest, and under each the age of the sample."""
    values = [ms for _, ms in event.samples]
    high, low = max(values), min(values)
    rows = 4
    lines = [f"{name} - high {high} ms, low {low} ms (all time high {event.max_ms} ms)", "-" * 80]
    span = max(1, high - low)
    heights = [1 + (ms - low) * (rows - 1) // span for ms in values]
    for row in range(rows, 0, -1):
        lines.append("".join("#" if height >= row else " " for height in heights).rstrip() or " ")
    now = int(time.time())
    ages = [_age(now - stamp) for stamp, _ in event.samples]
    width = max(len(age) for age in ages)
    for position in range(width):
        lines.append("".join(age[position] if position < len(age) else " " for age in ages))
    return "\n".join(lines) + "\n"


def _age(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@subcommand("latency", "doctor", 2, ADMIN_FLAGS, summary="Return a human readable latency analysis report")
def latency_doctor(client, args):
    return client.resp.verbatim(doctor(instruments_of(client.server)))


def doctor(instruments: Any) -> str:
    events = instruments.latency
    if not events:
        if not instruments.latency_ms:
            return (
                "Latency monitoring is off (latency-monitor-threshold is 0): no event was recorded.\n"
                "Enable it with CONFIG SET latency-monitor-threshold <milliseconds>.\n"
            )
        return "No latency spike was recorded since the server started or LATENCY RESET.\n"
    lines = ["Latency spikes were recorded:", ""]
    for number, (name, event) in enumerate(events.items(), start=1):
        values = [ms for _, ms in event.samples]
        mean = sum(values) / len(values)
        deviation = sum(abs(ms - mean) for ms in values) / len(values)
        stamps = [stamp for stamp, _ in event.samples]
        period = (stamps[-1] - stamps[0]) / (len(stamps) - 1) if len(stamps) > 1 else 1.0
        lines.append(
            f"{number}. {name}: {len(values)} latency spikes (average {mean:.0f}ms, mean deviation "
            f"{deviation:.0f}ms, period {period:.2f} sec). Worst all time event {event.max_ms}ms."
        )
    lines += [
        "",
        "Advice:",
        "",
        "- SLOWLOG GET lists the slowest commands with their arguments.",
        "- Commands over many elements (KEYS, SMEMBERS, LRANGE 0 -1, DEL of a large value) block the "
        "server for their whole run; prefer SCAN and its family, and split large values.",
    ]
    return "\n".join(lines) + "\n"


@subcommand(
    "latency", "histogram", -2, ADMIN_FLAGS, summary="Return the cumulative distribution of latencies"
)
def latency_histogram(client, args):
    stats = instruments_of(client.server).commandstats
    names = [raw.lower().decode("utf-8", "replace") for raw in args[2:]] or list(stats)
    pairs = []
    for name in names:
        record = stats.get(name)
        if record is None or not record.calls or any(key == name for key, _ in pairs):
            continue
        pairs.append((name, {"calls": record.calls, "histogram_usec": dict(record.levels())}))
    return client.resp.map(pairs)


@subcommand(
    "latency", "help", 2, "loading stale", summary="Show helpful text about the different subcommands"
)
def latency_help(client, args):
    return help_reply(client, "latency", LATENCY_HELP)


LATENCY_HELP = [
    "DOCTOR",
    "    A report on the recorded latency events, in words.",
    "GRAPH <event>",
    "    A text chart of the <event>'s samples.",
    "HISTORY <event>",
    "    The <event>'s samples: unix time and milliseconds.",
    "LATEST",
    "    Each event's latest sample and its maximum.",
    "RESET [<event> ...]",
    "    Forget the samples of the events named, or of every event.",
    "HISTOGRAM [COMMAND ...]",
    "    Each command's calls and the cumulative count of calls per power-of-two microseconds",
    "    (every command that ran when none is named).",
]
