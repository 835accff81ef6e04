"""Pieces every part of the suite shares: progress on stderr, measurements, and bounded subprocesses."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
_STARTED = time.monotonic()


def progress(message: str) -> None:
    """One line on stderr, stamped with the seconds since the suite started."""
    print(f"[{time.monotonic() - _STARTED:7.1f}s] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Measurement:
    """One number the suite measured (a median over rounds where there were several)."""

    section: str  # wire, types, inprocess, clients, dataset, memory, load, restart
    contender: str
    test: str
    metric: str  # rps, p50_ms, p99_ms, ops_per_s, seconds, rss_mb
    value: float
    pipeline: int = 0
    clients: int = 0
    keys: int = 0
    value_size: int = 0

    @classmethod
    def columns(cls) -> list[str]:
        return [field.name for field in fields(cls)]

    def row(self) -> dict[str, object]:
        return asdict(self)


class Results:
    """Every measurement of one run, with lookups for the report and the targets."""

    def __init__(self) -> None:
        self.items: list[Measurement] = []
        self.notes: list[str] = []

    def add(self, measurement: Measurement) -> None:
        self.items.append(measurement)

    def extend(self, measurements: Iterable[Measurement]) -> None:
        self.items.extend(measurements)

    def note(self, text: str) -> None:
        text = " ".join(text.split())  # one line, for the Markdown list
        progress(f"note: {text}")
        self.notes.append(text)

    def section(self, name: str) -> list[Measurement]:
        return [m for m in self.items if m.section == name]

    def find(self, section: str, contender: str, test: str, metric: str, **where: int) -> float | None:
        """The value matching every given field, or None when it was not measured."""
        for m in self.items:
            if (m.section, m.contender, m.test, m.metric) != (section, contender, test, metric):
                continue
            if all(getattr(m, name) == wanted for name, wanted in where.items()):
                return m.value
        return None


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def run(
    command: Sequence[str], timeout: float, stdin_path: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion within `timeout` seconds, capturing its output as text."""
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL  # noqa: SIM115
    try:
        completed = subprocess.run(
            list(command), stdin=stdin, capture_output=True, text=True, timeout=timeout, check=False
        )
    finally:
        if stdin_path:
            stdin.close()
    if check and completed.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command[:4])} ... exited {completed.returncode}: "
            f"{(completed.stderr or completed.stdout).strip()[-500:]}"
        )
    return completed
