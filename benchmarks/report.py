"""Writing the results: a Markdown report, a CSV of every measurement, and PNG charts (matplotlib, Agg)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from . import bitmaps, datatypes, streams, targets, writes
from .common import Measurement, Results

WIRE_TESTS = ("SET", "GET", "INCR", "MSET", "MGET", "PING_MBULK")
INPROCESS_TESTS = ("set", "get", "mixed 90/10")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _number(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _ordered(items: Sequence[Measurement]) -> list[str]:
    return list(dict.fromkeys(m.contender for m in items))


def machine_section(machine: dict[str, str], command: str) -> list[str]:
    return ["# LeakDB benchmark results", "", f"`{command}`", "", *_table(["", ""], list(machine.items()))]


def targets_section(results: Results) -> list[str]:
    rows = [
        [target.name, "-" if ratio is None else f"{ratio:.2f}x", target.condition, f"**{status}**"]
        for target, ratio, status in targets.evaluate(results)
    ]
    return ["", "## Targets", "", *_table(["target", "ratio", "needs", "result"], rows)]


def _rps_with_ratio(results: Results, section: str, contender: str, test: str, pipeline: int) -> str:
    """Requests/s, and in brackets the ratio to redis-server at the same pipeline depth."""
    rps = results.find(section, contender, test, "rps", pipeline=pipeline)
    redis = results.find(section, targets.REDIS, test, "rps", pipeline=pipeline)
    return _number(rps) + (f" ({rps / redis:.2f}x)" if rps and redis else "")


def wire_section(results: Results) -> list[str]:
    items = results.section("wire")
    lines = ["", "## Over the wire (redis-benchmark -c 50, 10k-key keyspace, 32-byte values)", ""]
    lines.append(
        "Requests/s, median over rounds; in brackets the ratio to redis-server measured in the same run."
    )
    for pipeline in sorted({m.pipeline for m in items}):
        rows, latency = [], []
        for contender in _ordered(items):
            rows.append(
                [contender] + [_rps_with_ratio(results, "wire", contender, t, pipeline) for t in WIRE_TESTS]
            )
            latency.append(
                [contender]
                + [
                    _number(results.find("wire", contender, test, metric, pipeline=pipeline), 3)
                    for test in ("SET", "GET")
                    for metric in ("p50_ms", "p99_ms")
                ]
            )
        lines += ["", f"### Pipeline {pipeline}", "", *_table(["contender", *WIRE_TESTS], rows), ""]
        lines += _table(["contender", "SET p50 ms", "SET p99 ms", "GET p50 ms", "GET p99 ms"], latency)
    return lines


def types_section(results: Results) -> list[str]:
    """One table: each data-type command on leakdb memory and redis-server, at each pipeline depth."""
    items = results.section(datatypes.SECTION)
    lines = [
        "",
        "## Data types over the wire (redis-benchmark -c 50, 10k-member keyspace, 32-byte values)",
        "",
    ]
    if not items:
        return [*lines, "Not measured (the run stopped before this section)."]
    lines.append(
        "Requests/s, median over rounds, ratio to redis-server in brackets. LPUSH then LPOP one list; "
        "HSET, SADD and ZADD random members; ZRANGE the first 10 members of the sorted set ZADD filled; "
        "PFADD random elements to one HyperLogLog; GEOADD random members to one geo set."
    )
    rows = [
        [str(pipeline), contender]
        + [_rps_with_ratio(results, datatypes.SECTION, contender, test, pipeline) for test in datatypes.TESTS]
        for pipeline in sorted({m.pipeline for m in items})
        for contender in _ordered(items)
    ]
    return [*lines, "", *_table(["-P", "contender", *datatypes.TESTS], rows)]


def bitmaps_section(results: Results) -> list[str]:
    """SETBIT piped to leakdb memory and redis-server, for a small and a large bitmap."""
    lines = ["", "## Bitmaps (redis-cli --pipe of SETBITs at random offsets of one bitmap)", ""]
    if not results.section(bitmaps.SECTION):
        return [*lines, "Not measured (the run stopped before this section)."]
    rows = []
    for test in bitmaps.BITMAPS:
        leak = results.find(bitmaps.SECTION, targets.MEMORY, test, "rps")
        redis = results.find(bitmaps.SECTION, targets.REDIS, test, "rps")
        ratio = f"{leak / redis:.2f}x" if leak and redis else "-"
        rows.append([test, _number(leak), _number(redis), ratio])
    return [*lines, *_table(["test", "leakdb memory /s", "redis-server /s", "ratio"], rows)]


def _inprocess_row(results: Results, contender: str, size: int) -> list[str]:
    items = [m for m in results.section("inprocess") if m.contender == contender and m.value_size == size]
    values = {m.test: m.value for m in items}
    cells = [_number(values.get(test)) for test in INPROCESS_TESTS]
    return [contender, f"{items[0].keys:,}", *cells, _number(values.get("reopen"), 4)]


def inprocess_section(results: Results) -> list[str]:
    items = results.section("inprocess")
    lines = ["", "## In process (ops/s; reopen = open the file holding the keys, then one get)"]
    header = ["store", "keys", "set", "get", "mixed 90/10", "reopen s"]
    for size in sorted({m.value_size for m in items}):
        rows = [_inprocess_row(results, contender, size) for contender in _ordered(items)]
        lines += ["", f"### {size}-byte values", "", *_table(header, rows)]
    return lines


def _scale_rows(results: Results, section: str, field: str) -> list[list[str]]:
    items = results.section(section)
    rows = []
    for value in sorted({getattr(m, field) for m in items}):
        cells = [f"{value:,}"]
        for test in ("SET", "GET"):
            leak = results.find(section, targets.MEMORY, test, "rps", **{field: value})
            redis = results.find(section, targets.REDIS, test, "rps", **{field: value})
            ratio = f"{leak / redis:.2f}x" if leak and redis else "-"
            cells += [_number(leak), _number(redis), ratio]
        rows.append(cells)
    return rows


def scale_section(results: Results) -> list[str]:
    if not results.section("clients") and not results.section("restart") and not results.section("dataset"):
        return ["", "## Scale", "", "Not run (`--quick`)."]
    header = ["SET leakdb", "SET redis", "SET ratio", "GET leakdb", "GET redis", "GET ratio"]
    lines = ["", "## Scale (leakdb memory vs redis-server, -P 1, requests/s)", ""]
    lines += [
        "### Connections",
        "",
        *_table(["clients", *header], _scale_rows(results, "clients", "clients")),
    ]
    lines += ["", "### Keys loaded", "", *_table(["keys", *header], _scale_rows(results, "dataset", "keys"))]
    rows = [
        [
            m.section,
            m.contender,
            m.test,
            f"{m.keys:,}",
            f"{m.value:,.3f}",
            "MiB" if m.metric == "rss_mb" else "s",
        ]
        for name in ("memory", "load", "restart")
        for m in results.section(name)
    ]
    lines += ["", "### Memory, bulk load and restart (16-byte keys, 32-byte values)", ""]
    return lines + _table(["measure", "server", "how", "keys", "value", "unit"], rows)


def markdown(results: Results, machine: dict[str, str], command: str) -> str:
    lines = machine_section(machine, command) + targets_section(results)
    lines += wire_section(results) + types_section(results) + writes.report_section(results)
    lines += bitmaps_section(results)
    lines += streams.report_section(results)
    lines += inprocess_section(results) + scale_section(results)
    if results.notes:
        lines += ["", "## Notes", "", *[f"- {note}" for note in results.notes]]
    return "\n".join(lines) + "\n"


def write_csv(path: Path, results: Results, machine: dict[str, str]) -> None:
    """Long format, one measurement a row; the machine facts come first as section 'machine' rows."""
    with open(path, "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=Measurement.columns())
        writer.writeheader()
        for key, value in machine.items():
            writer.writerow({"section": "machine", "contender": key, "test": value})
        for target, ratio, status in targets.evaluate(results):
            writer.writerow(
                {
                    "section": "target",
                    "contender": target.name,
                    "test": status,
                    "metric": "ratio",
                    "value": ratio,
                }
            )
        for m in results.items:
            writer.writerow(m.row())
