"""``python -m benchmarks [--quick] [--out DIR] [--publish]``: run the suite and write its report.

``--quick`` (about a minute) is the before/after check for a hot-path change: one round over the wire
(strings, then the data types) and a smaller in-process run, no scale experiments.  ``--publish`` also
copies the report and the throughput chart to ``benchmarks/RESULTS.md`` and ``benchmarks/throughput.png``,
the copies README shows.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import bitmaps, charts, datatypes, inprocess, machine, report, scale, streams, targets, wire, writes
from .common import Results, progress
from .servers import REDIS, REDIS_AOF, ServerPool, leakdb_spec

HERE = Path(__file__).resolve().parent
WIRE_CONTENDERS = [
    leakdb_spec("memory"),
    leakdb_spec("queue"),
    leakdb_spec("persistent", "sqlite"),
    leakdb_spec("persistent", "shelve"),
    leakdb_spec("persistent-queue", "sqlite"),
    leakdb_spec("persistent-queue", "shelve"),
    REDIS,
    REDIS_AOF,
]


@dataclass(frozen=True)
class Plan:
    """How much of everything a run does."""

    rounds: int
    seconds_per_test: float
    inprocess_keys: int
    stream_entries: int
    scale: bool

    @classmethod
    def for_options(cls, quick: bool) -> Plan:
        if quick:
            return cls(
                rounds=1, seconds_per_test=0.4, inprocess_keys=20_000, stream_entries=20_000, scale=False
            )
        return cls(rounds=3, seconds_per_test=1.0, inprocess_keys=100_000, stream_entries=100_000, scale=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about a minute: 1 round, no scale tests")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="results directory")
    parser.add_argument("--publish", action="store_true", help="copy to benchmarks/RESULTS.md too")
    return parser.parse_args(argv)


def over_the_wire(pool: ServerPool, results: Results, plan: Plan) -> None:
    servers = []
    for spec in WIRE_CONTENDERS:
        progress(f"wire: starting {spec.name}")
        servers.append(pool.start(spec))
    loads = [wire.Load(pipeline=depth, seconds_per_test=plan.seconds_per_test) for depth in (1, 16)]
    results.extend(wire.compare(servers, loads, plan.rounds))
    for server in servers:
        pool.stop(server)


def run(plan: Plan, results: Results, workdir: Path) -> None:
    with ServerPool(workdir / "servers") as pool:
        over_the_wire(pool, results, plan)
        datatypes.measure(pool, results, plan.rounds, plan.seconds_per_test)
        writes.measure(pool, results, plan.rounds, plan.seconds_per_test)
        bitmaps.measure(pool, results, plan.rounds, workdir, 50_000 if plan.rounds == 1 else bitmaps.COMMANDS)
        streams.measure(pool, results, plan.rounds, plan.stream_entries)
        inprocess.measure(results, workdir, plan.inprocess_keys, plan.rounds)
        if plan.scale:
            scale.measure(pool, workdir, results, plan.rounds, plan.seconds_per_test)


def write(results: Results, out: Path, command: str, publish: bool) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    facts = machine.describe()
    pictures = charts.write_all(results, out)
    text = report.markdown(results, facts, command)
    if any(p.name == "throughput.png" for p in pictures):
        text += "\n![Requests/s over the wire](throughput.png)\n"
    (out / "RESULTS.md").write_text(text)
    report.write_csv(out / "results.csv", results, facts)
    if publish:
        published = HERE / "RESULTS.md"
        faults = _faults_block(published.read_text() if published.exists() else "")
        published.write_text(text + (f"\n{faults}\n" if faults else ""))
        if (out / "throughput.png").exists():
            shutil.copyfile(out / "throughput.png", HERE / "throughput.png")
    return out / "RESULTS.md"


def _faults_block(published: str) -> str:
    """The tables ``python -m benchmarks.faults --publish`` keeps in RESULTS.md, carried over."""
    begin, end = "<!-- faults: begin -->", "<!-- faults: end -->"
    if begin in published and end in published:
        return published[published.index(begin) : published.index(end) + len(end)]
    return ""


def print_targets(results: Results) -> None:
    print(f"{'target':72} {'ratio':>8} {'needs':>8}  result")
    for target, ratio, status in targets.evaluate(results):
        shown = "-" if ratio is None else f"{ratio:.2f}x"
        print(f"{target.name:72} {shown:>8} {target.condition:>8}  {status}")


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    plan = Plan.for_options(options.quick)
    command = "python -m benchmarks " + shlex.join(sys.argv[1:] if argv is None else argv)
    results = Results()
    try:
        with tempfile.TemporaryDirectory(prefix="leakdb-bench-") as workdir:
            run(plan, results, Path(workdir))
    except KeyboardInterrupt:
        progress("interrupted: servers stopped, writing what was measured")
    path = write(results, options.out, command.strip(), options.publish)
    print_targets(results)
    progress(f"report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
