"""The benchmark's targets table: each of issue 15's rows is a ratio of two measurements of one run."""

from __future__ import annotations

from benchmarks import report, targets, writes
from benchmarks.common import Measurement, Results


def _rps(results: Results, section: str, contender: str, test: str, pipeline: int, value: float) -> None:
    results.add(Measurement(section, contender, test, "rps", value, pipeline, 50, writes.KEYSPACE, 32))


def _statuses(results: Results) -> dict[str, tuple[float | None, str]]:
    return {target.name: (ratio, status) for target, ratio, status in targets.evaluate(results)}


def test_default_mode_rows_compare_write_behind_with_memory_on_100k_keys() -> None:
    results = Results()
    for pipeline in writes.PIPELINES:
        _rps(results, writes.SECTION, targets.MEMORY, "SET", pipeline, 100_000)
        _rps(results, writes.SECTION, targets.PQ_SQLITE, "SET", pipeline, 90_000)
        _rps(results, writes.SECTION, targets.MEMORY, "INCR", pipeline, 100_000)
        _rps(results, writes.SECTION, targets.PQ_SQLITE, "INCR", pipeline, 80_000)
    statuses = _statuses(results)
    assert statuses["persistent-queue sqlite -P 16 SET (100k keys) vs LeakDB memory"] == (0.9, "PASS")
    assert statuses["persistent-queue sqlite -P 1 INCR (100k keys) vs LeakDB memory"] == (0.8, "MISS")
    assert statuses["memory -c 50 -P 1 SET vs redis-server"] == (None, "NOT RUN")
    table = "\n".join(writes.report_section(results))
    assert "| 16 | leakdb persistent-queue sqlite | 90,000 | 80,000 |" in table


def test_write_through_row_is_against_redis_with_an_fsync_per_write() -> None:
    results = Results()
    _rps(results, writes.SECTION, targets.PERSISTENT_SQLITE, "SET", 16, 30_000)
    _rps(results, writes.SECTION, writes.REDIS_AOF_ALWAYS.name, "SET", 16, 20_000)
    ratio, status = _statuses(results)[
        "persistent sqlite -P 16 SET (100k keys) vs redis-server appendfsync always"
    ]
    assert (ratio, status) == (1.5, "PASS")
    assert writes.REDIS_AOF_ALWAYS.options[-2:] == ("--appendfsync", "always")


def test_every_row_of_the_issue_is_in_the_table() -> None:
    names = {target.name for target in targets.TARGETS}
    bounds = {target.name: target.condition for target in targets.TARGETS}
    for pipeline, bound in ((1, ">= 1x"), (16, ">= 0.6x")):
        for test in ("SET", "GET", "INCR"):
            assert bounds[f"memory -c 50 -P {pipeline} {test} vs redis-server"] == bound
    for pipeline in (1, 16):
        for test in ("MSET", "MGET", "LPUSH", "LPOP", "HSET", "SADD", "ZADD", "ZRANGE"):
            assert f"memory -c 50 -P {pipeline} {test} vs redis-server" in names
    assert bounds["RSS holding 1M keys vs redis-server"] == "<= 1.2x"
    assert bounds["restart on 1M keys (persistent-queue sqlite) vs redis-server RDB load"] == "<= 2x"
    assert bounds["redis-cli --pipe load of 1M SETs vs redis-server"] == "<= 1.2x"


def test_the_report_shows_the_writes_section_or_says_it_did_not_run() -> None:
    assert "Not measured" in "\n".join(
        report.markdown(Results(), {}, "python -m benchmarks").split("## Writes")[1:2]
    )


def test_sqlite_rows_reports_a_figure_for_each_layout() -> None:
    from benchmarks import sqlite_rows

    figures = sqlite_rows.measure(keys=200, batch=10, batches=2)
    assert list(figures) == list(sqlite_rows.LAYOUTS)
    assert all(value >= 0 for value in figures.values())
