"""What the numbers were measured on: CPU, cores, memory, and the versions of everything involved."""

from __future__ import annotations

import datetime
import os
import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path

from .common import REPO_ROOT


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> str:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return f"{int(line.split()[1]) / 1024**2:.1f} GiB"
    return "unknown"


def _package(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _tool_version(command: list[str]) -> str:
    try:
        text = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False).stdout
    except OSError:
        return "not installed"
    found = re.search(r"v=(\S+)|(\d+\.\d+\.\d+)", text)
    return (found.group(1) or found.group(2)) if found else text.strip()


def _git_commit() -> str:
    try:
        completed = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except OSError:
        return "unknown"
    return completed.stdout.strip() or "unknown"


def describe() -> dict[str, str]:
    """Machine and software facts, in the order the report prints them."""
    from leakdb import __version__

    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cores": str(os.cpu_count()),
        "memory": _memory_gib(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "leakdb": f"{__version__} ({_git_commit()})",
        "gevent": _package("gevent"),
        "hiredis": _package("hiredis"),
        "redis-server": _tool_version(["redis-server", "--version"]),
        "redis-benchmark": _tool_version(["redis-benchmark", "--version"]),
    }
