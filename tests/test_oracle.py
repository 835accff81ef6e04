"""The suite knows its oracle: without redis-server, redis-cli and redis-benchmark it stops at once with
one line saying how to install them, unless LEAKDB_SKIP_ORACLE=1 asks it to skip what needs them,
which it then counts.  Each case runs pytest in a subprocess whose PATH holds no Redis tools.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import HANG_SECONDS

ROOT = Path(__file__).resolve().parents[1]


def pytest_without_redis(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """`python -m pytest ARGS` in the repository, with an empty directory as the whole PATH."""
    bare = tmp_path / "bin"
    bare.mkdir(exist_ok=True)
    environment = {**os.environ, "PATH": str(bare), "PYTHONPATH": str(ROOT), **env}
    environment.pop("LEAKDB_SKIP_ORACLE", None)
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "0", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=HANG_SECONDS,
    )


def test_a_missing_oracle_stops_the_session_with_one_line(tmp_path):
    result = pytest_without_redis(tmp_path, "tests/engine/test_glob.py")
    assert result.returncode == 4, result.stdout + result.stderr  # a usage error: nothing ran
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("ERROR: redis-server, redis-cli, redis-benchmark not found")
    assert "apt-get install redis-server redis-tools" in lines[0]
    assert "LEAKDB_SKIP_ORACLE=1" in lines[0]


def test_the_opt_out_skips_the_oracle_tests_and_counts_them(tmp_path):
    result = pytest_without_redis(tmp_path, "tests/engine/test_glob.py", "-rs", LEAKDB_SKIP_ORACLE="1")
    assert result.returncode == 0, result.stdout + result.stderr
    counted = re.search(r"LEAKDB_SKIP_ORACLE is set: (\d+) tests that need", result.stdout)
    summary = re.search(r"(\d+) passed, (\d+) skipped", result.stdout)
    assert counted and summary, result.stdout
    assert int(summary.group(1)) > 0  # the glob tests that need no oracle still ran
    assert int(counted.group(1)) == int(summary.group(2)) > 0
