"""``python -m benchmarks.faults [kill] [fuzz] [soak] [slow] [options]``: LeakDB's promises at scale.

``kill``: the kill -9 campaign, CYCLES per mode (write-through, write-behind, save) and backend;
``--faults`` adds injected disk faults to each cycle.  ``fuzz``: atheris over the RESP parser and the
command layer for FUZZ_SECONDS.  ``soak``: a steady key count for SOAK_SECONDS, reporting the slope
of RSS.  ``slow``: clients that never read their 2 MB replies, and another client's PING latency,
against redis-server too.  With no experiment named, all four run, briefly by default (about two
minutes); ``--long`` runs the full campaign (1000 cycles, an hour of fuzzing, a 30-minute soak).
Results go to OUT/FAULTS.md (and results.json); ``--publish`` puts the tables in
benchmarks/RESULTS.md too, between the faults markers.  The exit status is 1 if a promise broke.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from ..common import REPO_ROOT, progress
from ..servers import REDIS, ServerPool, leakdb_spec
from . import kill, slow, soak

HERE = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- faults: begin -->", "<!-- faults: end -->"
EXPERIMENTS = ("kill", "fuzz", "soak", "slow")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.faults", description=__doc__.splitlines()[0])
    parser.add_argument("experiments", nargs="*", help=f"what to run: {', '.join(EXPERIMENTS)} (all)")
    parser.add_argument(
        "--long",
        action="store_true",
        help="the full campaign: --cycles 1000 --fuzz-seconds 3600 --soak-seconds 1800",
    )
    parser.add_argument(
        "--cycles",
        type=int,
        nargs="?",
        const=1000,
        default=None,
        help="kill cycles per mode and backend (3; 1000 if given without a number)",
    )
    parser.add_argument(
        "--modes", default="write-through,write-behind,save", help="kill modes, comma separated"
    )
    parser.add_argument("--backends", default="sqlite,shelve", help="backends, comma separated")
    parser.add_argument("--faults", action="store_true", help="inject disk faults during the kill cycles")
    parser.add_argument("--fuzz-seconds", type=int, default=None, help="atheris time (10; 3600 with --long)")
    parser.add_argument("--soak-seconds", type=int, default=None, help="soak time (20; 1800 with --long)")
    parser.add_argument(
        "--soak-modes", default="persistent-queue:sqlite,persistent:shelve", help="mode:backend pairs"
    )
    parser.add_argument("--slow-clients", default="20", help="stalled client counts, comma separated (20)")
    parser.add_argument("--slow-seconds", type=float, default=3.0, help="PING probing time per run (3)")
    parser.add_argument("--seed", type=int, default=None, help="the kill campaign's random seed")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="results directory")
    parser.add_argument("--publish", action="store_true", help="put the tables in benchmarks/RESULTS.md")
    options = parser.parse_args(argv)
    unknown = set(options.experiments) - set(EXPERIMENTS)
    if unknown:
        parser.error(
            f"unknown experiment(s): {', '.join(sorted(unknown))}; choose from {', '.join(EXPERIMENTS)}"
        )
    options.experiments = options.experiments or list(EXPERIMENTS)
    options.cycles = options.cycles or (1000 if options.long else 3)
    options.fuzz_seconds = options.fuzz_seconds or (3600 if options.long else 10)
    options.soak_seconds = options.soak_seconds or (1800 if options.long else 20)
    return options


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(r) + " |" for r in rows),
    ]


def run_kill(pool: ServerPool, workdir: Path, options: argparse.Namespace, report: dict) -> bool:
    seed = options.seed if options.seed is not None else int.from_bytes(os.urandom(4), "big")
    tallies = []
    for mode in options.modes.split(","):
        for backend in options.backends.split(","):
            progress(
                f"kill: {mode}/{backend}, {options.cycles} cycles{' with faults' if options.faults else ''}"
            )
            tally = kill.run(pool, workdir, mode, backend, options.cycles, options.faults, seed)
            progress(f"kill: {' | '.join(kill.describe(tally))}")
            for failure in tally.failures[:5]:
                progress(f"  {failure}")
            tallies.append(tally)
    report["kill"] = {"seed": seed, "runs": [asdict(t) for t in tallies]}
    header = [
        "mode",
        "backend",
        "faults",
        "cycles",
        "acknowledged writes",
        "what the restarts found",
        "seconds",
        "verdict",
    ]
    report["sections"].append(
        [
            "### kill -9 campaign",
            "",
            f"Seed {seed}; {kill.WRITERS} writers per cycle.",
            "",
            *table(header, [kill.describe(t) for t in tallies]),
        ]
    )
    return all(t.ok for t in tallies)


def run_fuzz(workdir: Path, options: argparse.Namespace, report: dict) -> bool:
    corpus = workdir / "fuzz" / "corpus"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    progress(f"fuzz: atheris for {options.fuzz_seconds}s")
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.faults.fuzz", str(options.fuzz_seconds), str(corpus)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=options.fuzz_seconds + 600,
    )
    log = result.stderr
    runs = re.findall(r"Done (\d+) runs in (\d+) second", log)
    coverage = re.findall(r"cov: (\d+) ft: (\d+) corp: (\d+)", log)
    crashes = sorted(p.name for p in corpus.parent.glob("crash-*")) + sorted(
        p.name for p in corpus.parent.glob("timeout-*")
    )
    ok = result.returncode == 0 and not crashes
    executed = re.findall(r"stat::number_of_executed_units: (\d+)", log)
    executions = int(runs[-1][0]) if runs else int(executed[-1]) if executed else 0
    cov, _features, corpus_size = coverage[-1] if coverage else ("0", "0", "0")
    seconds = time.monotonic() - started
    report["fuzz"] = {
        "seconds": options.fuzz_seconds,
        "executions": executions,
        "coverage": int(cov),
        "crashes": crashes,
        "status": result.returncode,
    }
    if not ok:
        tail = log[-3000:]
        progress(f"fuzz: FAILED (exit {result.returncode}) {crashes}\n{tail}")
        (options.out / "fuzz-failure.log").write_text(log)
    progress(
        f"fuzz: {executions} inputs in {seconds:.0f}s, coverage {cov} edges, crashes: {crashes or 'none'}"
    )
    header = ["target", "seconds", "inputs", "inputs/s", "edges covered", "corpus", "crashes"]
    row = [
        "RESP parser + command table",
        f"{seconds:.0f}",
        f"{executions:,}",
        f"{executions / max(seconds, 1):.0f}",
        cov,
        corpus_size,
        str(len(crashes)),
    ]
    report["sections"].append(["### atheris (coverage-guided) fuzzing", "", *table(header, [row])])
    return ok


def run_soak(pool: ServerPool, options: argparse.Namespace, report: dict) -> bool:
    results = []
    for pair in options.soak_modes.split(","):
        mode, _, backend = pair.partition(":")
        progress(f"soak: {mode} {backend or ''} for {options.soak_seconds}s")
        result = soak.run(pool, mode, backend or "sqlite", options.soak_seconds)
        progress(f"soak: {' | '.join(soak.describe(result))}")
        results.append(result)
    report["soak"] = [asdict(r) for r in results]
    header = [
        "mode",
        "backend",
        "seconds",
        "commands",
        "keys at end",
        "RSS start / end / peak MB",
        "RSS slope MB/h",
    ]
    report["sections"].append(
        ["### soak (steady key count)", "", *table(header, [soak.describe(r) for r in results])]
    )
    return True


def run_slow(pool: ServerPool, options: argparse.Namespace, report: dict) -> bool:
    results = []
    for clients in (int(n) for n in options.slow_clients.split(",")):
        contenders = [(leakdb_spec("memory"), ()), (leakdb_spec("memory"), ("--maxmemory-clients", "256mb"))]
        if clients * slow.MGETS * slow.KEYS_PER_MGET * slow.VALUE_SIZE < 4 * 1024**3:  # what Redis builds
            contenders.append((REDIS, ()))
        for spec, extra in contenders:
            progress(f"slow: {spec.name} {' '.join(extra)} with {clients} stalled clients")
            result = slow.run(pool, spec, clients, options.slow_seconds, extra)
            progress(f"slow: {' | '.join(slow.describe(result))}")
            results.append(result)
    report["slow"] = [asdict(r) for r in results]
    header = [
        "server",
        "stalled clients",
        "settings",
        "PING p50 ms",
        "p99 ms",
        "max ms",
        "peak RSS MB",
        "stalled connected / evicted",
    ]
    report["sections"].append(
        [
            "### slow readers",
            "",
            f"Each stalled client pipelines {slow.MGETS} MGETs of {slow.KEYS_PER_MGET} x "
            f"{slow.VALUE_SIZE // 1000} KB values and never reads; another client PINGs every 10 ms.",
            "",
            *table(header, [slow.describe(r) for r in results]),
        ]
    )
    return True


def publish(text: str) -> None:
    """Put `text` between the faults markers of benchmarks/RESULTS.md (appended the first time)."""
    path = HERE / "RESULTS.md"
    current = path.read_text() if path.exists() else ""
    block = f"{BEGIN}\n{text}\n{END}"
    if BEGIN in current and END in current:
        current = current[: current.index(BEGIN)] + block + current[current.index(END) + len(END) :]
    else:
        current = current.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(current)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    command = "python -m benchmarks.faults " + shlex.join(sys.argv[1:] if argv is None else argv)
    options.out.mkdir(parents=True, exist_ok=True)
    report: dict = {
        "command": command.strip(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "sections": [],
    }
    verdicts = []
    with (
        tempfile.TemporaryDirectory(prefix="leakdb-faults-") as workdir,
        ServerPool(Path(workdir) / "servers") as pool,
    ):
        if "kill" in options.experiments:
            verdicts.append(run_kill(pool, Path(workdir), options, report))
        if "fuzz" in options.experiments:
            verdicts.append(run_fuzz(Path(workdir), options, report))
        if "soak" in options.experiments:
            verdicts.append(run_soak(pool, options, report))
        if "slow" in options.experiments:
            verdicts.append(run_slow(pool, options, report))
    lines = ["## Faults at scale", "", f"`{report['command']}` ({report['date']})", ""]
    for section in report["sections"]:
        lines.extend([*section, ""])
    text = "\n".join(lines).rstrip() + "\n"
    (options.out / "FAULTS.md").write_text(text)
    (options.out / "faults.json").write_text(
        json.dumps({k: v for k, v in report.items() if k != "sections"}, indent=2)
    )
    if options.publish:
        publish(text)
    progress(f"report: {options.out / 'FAULTS.md'}")
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
