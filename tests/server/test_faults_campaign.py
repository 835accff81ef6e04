"""Short runs of ``python -m benchmarks.faults``: the kill -9 campaign (with injected faults), atheris
fuzzing, the soak and the slow readers, each for seconds, so the campaign itself keeps working.  The
long runs (1000 cycles, an hour of fuzzing) are made by hand; their figures are in
benchmarks/RESULTS.md.  Each run exits 1 if a promise broke, and its report must show every part.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def campaign(tmp_path: Path, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.faults", *args, "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert (out / "FAULTS.md").exists()
    return json.loads((out / "faults.json").read_text())


def test_kill_campaign_with_faults(tmp_path):
    figures = campaign(
        tmp_path, "kill", "--cycles", "1", "--faults", "--modes", "write-through,write-behind,save"
    )
    runs = figures["kill"]["runs"]
    assert {(run["mode"], run["backend"]) for run in runs} == {
        (mode, backend)
        for mode in ("write-through", "write-behind", "save")
        for backend in ("sqlite", "shelve")
    }
    through = [run for run in runs if run["mode"] == "write-through"]
    assert all(run["lost"] == 0 and run["refused_found"] == 0 for run in through)
    assert sum(run["acknowledged"] for run in runs) > 0


def test_fuzzing(tmp_path):
    try:
        import atheris  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("atheris is in the test extra: CI must have it (pip install -e '.[test]')")
        pytest.skip("atheris is not installed (pip install atheris)")
    figures = campaign(tmp_path, "fuzz", "--fuzz-seconds", "4")
    assert figures["fuzz"]["executions"] > 100 and figures["fuzz"]["crashes"] == []


def test_soak_and_slow_readers(tmp_path):
    figures = campaign(
        tmp_path,
        "soak",
        "slow",
        "--soak-seconds",
        "3",
        "--soak-modes",
        "persistent-queue:sqlite",
        "--slow-clients",
        "4",
        "--slow-seconds",
        "1",
    )
    (soaked,) = figures["soak"]
    assert soaked["commands"] > 0 and soaked["rss_end_mb"] > 0
    assert {result["contender"] for result in figures["slow"]} == {"leakdb memory", "redis-server"}
