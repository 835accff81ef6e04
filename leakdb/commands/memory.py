"""MEMORY USAGE / STATS / DOCTOR / MALLOC-STATS / PURGE / HELP, from LeakDB's memory accounting.

Per-key figures are the estimates maxmemory counts (leakdb/memory.py), with or without a limit set;
process-wide figures come from the server's :class:`~leakdb.evict.Memory` when maxmemory is set, and
from the resident size otherwise.
"""

from __future__ import annotations

import gc
from typing import Any

from ..engine.memory import DEFAULT_SAMPLES, DICT_ENTRY_SHARE, key_size
from ..engine.numbers import parse_int
from ..errors import NotAnIntegerError, SyntaxErrorReply
from ..resp import OK, Verbatim
from ..system import rss_bytes
from .connection import help_reply
from .registry import command, dispatch_sub, subcommand

# Below this much data MEMORY DOCTOR has nothing to say, as Redis below 5 MB allocated.
DOCTOR_MIN_DATASET = 5 * 1024 * 1024
FRAGMENTATION_WARNING = 1.4

DOCTOR_EMPTY = (
    "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used "
    "in these conditions. Please, leave for your mission on Earth and fill it with some data. The new "
    "Sam and I will be back to our programming as soon as I finished rebooting."
)
DOCTOR_FINE = (
    "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base."
)
DOCTOR_FRAGMENTED = (
    "Sam, I detected a few issues in this Redis instance memory implants:\n\n"
    " * High total RSS: This instance has a memory fragmentation and RSS overhead greater than 1.4 "
    "(the resident size of the LeakDB process is much larger than the memory it accounts for keys). "
    "Python keeps freed memory for reuse, so this happens after a peak or a large FLUSHALL; it is "
    "reused by later writes. MEMORY PURGE runs the garbage collector.\n\n"
    "I'm here to keep you safe, Sam. I want to help you.\n"
)

MEMORY_HELP = [
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
]


@command("memory", -2, "", group="server", since="4.0.0", summary="A container for memory diagnostics")
def memory_(client, args):
    return dispatch_sub(client, args)


def _samples(args: list[bytes]) -> int:
    """SAMPLES of MEMORY USAGE (the last one given counts), as Redis parses it."""
    samples = DEFAULT_SAMPLES
    position = 3
    while position < len(args):
        if args[position].lower() != b"samples" or position + 1 >= len(args):
            raise SyntaxErrorReply()
        number = parse_int(args[position + 1])
        if number is None:
            raise NotAnIntegerError()
        if number < 0:
            raise SyntaxErrorReply()
        samples = number
        position += 2
    return samples


@subcommand("memory", "usage", -3, "readonly", summary="Estimate the memory usage of a key")
def memory_usage(client, args):
    samples = _samples(args)
    db = client.db
    value = db.lookup(args[2])
    if value is None:
        return client.resp.null
    size = key_size(args[2], value, args[2] in db.expires, samples) + DICT_ENTRY_SHARE
    return b":%d\r\n" % size


def figures(server: Any) -> dict[str, Any]:
    """The process-wide numbers MEMORY STATS and MEMORY DOCTOR report."""
    rss = rss_bytes()
    memory = server.memory
    keys = server.keyspace.key_count()
    if memory is None:
        dataset = sum(
            key_size(key, value, key in db.expires, 1) + DICT_ENTRY_SHARE
            for db in server.keyspace.databases
            for key, value in db.data.items()
        )
        startup, peak = max(rss - dataset, 0), rss
    else:
        dataset, startup, peak = memory.tracker.total, memory.baseline, memory.peak
    total = startup + dataset
    return {
        "peak": max(peak, total),
        "total": total,
        "startup": startup,
        "clients": sum(len(client.output) for client in server.clients.values()),
        "keys": keys,
        "dataset": dataset,
        "rss": rss,
    }


@subcommand("memory", "stats", 2, "", summary="Show memory usage details")
def memory_stats(client, args):
    f = figures(client.server)
    overhead = f["startup"] + f["clients"]
    total, dataset, rss = f["total"], f["dataset"], f["rss"]
    stats: list[tuple[str, Any]] = [
        ("peak.allocated", f["peak"]),
        ("total.allocated", total),
        ("startup.allocated", f["startup"]),
        ("replication.backlog", 0),
        ("clients.slaves", 0),
        ("clients.normal", f["clients"]),
        ("cluster.links", 0),
        ("aof.buffer", 0),
        ("lua.caches", 0),
        ("functions.caches", 0),
        ("overhead.total", overhead),
        ("keys.count", f["keys"]),
        ("keys.bytes-per-key", dataset // f["keys"] if f["keys"] else 0),
        ("dataset.bytes", dataset),
        ("dataset.percentage", 100.0 * dataset / max(total - f["startup"], 1) if dataset else 0.0),
        ("peak.percentage", 100.0 * total / max(f["peak"], 1)),
        ("fragmentation", rss / max(total, 1)),
        ("fragmentation.bytes", rss - total),
    ]
    return client.resp.map(stats)


@subcommand("memory", "doctor", 2, "", summary="Outputs memory problems report")
def memory_doctor(client, args):
    f = figures(client.server)
    if f["dataset"] < DOCTOR_MIN_DATASET:
        return client.resp.encode(Verbatim(DOCTOR_EMPTY))
    if f["rss"] > FRAGMENTATION_WARNING * f["total"]:
        return client.resp.encode(Verbatim(DOCTOR_FRAGMENTED))
    return client.resp.encode(Verbatim(DOCTOR_FINE))


@subcommand("memory", "malloc-stats", 2, "", summary="Show allocator internal stats")
def memory_malloc_stats(client, args):
    return client.resp.encode(Verbatim("Stats not supported for the current allocator"))


@subcommand("memory", "purge", 2, "", summary="Ask the allocator to release memory")
def memory_purge(client, args):
    gc.collect()
    return OK


@subcommand("memory", "help", 2, "loading stale", summary="Show helpful text about the different subcommands")
def memory_help(client, args):
    return help_reply(client, "memory", MEMORY_HELP)
