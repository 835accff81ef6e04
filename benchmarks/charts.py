"""PNG charts of the results with matplotlib's Agg backend (no display needed)."""

from __future__ import annotations

from pathlib import Path

from .common import Results

CHART_TESTS = ("SET", "GET", "MGET")


def _pyplot():  # imported late: matplotlib is an optional extra, and Agg must be chosen first
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def throughput(results: Results, path: Path) -> bool:
    """Horizontal bars: requests/s per contender for SET, GET and MGET, one panel per pipeline depth."""
    items = results.section("wire")
    pipelines = sorted({m.pipeline for m in items})
    if not pipelines:
        return False
    plt = _pyplot()
    contenders = list(dict.fromkeys(m.contender for m in items))
    figure, axes = plt.subplots(1, len(pipelines), figsize=(6 * len(pipelines), 0.45 * len(contenders) + 1.8))
    for axis, pipeline in zip(list(getattr(axes, "flat", [axes])), pipelines, strict=True):
        height = 0.8 / len(CHART_TESTS)
        for index, test in enumerate(CHART_TESTS):
            values = [results.find("wire", c, test, "rps", pipeline=pipeline) or 0 for c in contenders]
            positions = [row + index * height for row in range(len(contenders))]
            axis.barh(positions, values, height=height, label=test)
        axis.set_yticks([row + 0.4 - height / 2 for row in range(len(contenders))], contenders)
        axis.invert_yaxis()
        axis.set_title(f"redis-benchmark -c 50 -P {pipeline}")
        axis.set_xlabel("requests/s")
        axis.xaxis.set_major_formatter(lambda value, _: f"{value / 1000:,.0f}k")
        axis.grid(axis="x", alpha=0.3)
    handles, labels = axis.get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=len(CHART_TESTS), frameon=False)
    figure.tight_layout(rect=(0, 0.07, 1, 1))
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def inprocess(results: Results, path: Path) -> bool:
    """Horizontal bars, log scale: set and get ops/s of each store with 16-byte values."""
    items = [m for m in results.section("inprocess") if m.value_size == 16 and m.test in ("set", "get")]
    if not items:
        return False
    plt = _pyplot()
    stores = list(dict.fromkeys(m.contender for m in items))
    figure, axis = plt.subplots(figsize=(8, 0.4 * len(stores) + 1.5))
    for index, test in enumerate(("set", "get")):
        values = [results.find("inprocess", s, test, "ops_per_s", value_size=16) or 0 for s in stores]
        axis.barh([row + index * 0.4 for row in range(len(stores))], values, height=0.4, label=test)
    axis.set_yticks([row + 0.2 for row in range(len(stores))], stores)
    axis.invert_yaxis()
    axis.set_xscale("log")
    axis.set_xlabel("operations/s (log scale)")
    axis.set_title("In process, 16-byte values")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def scaling(results: Results, section: str, field: str, path: Path) -> bool:
    """Lines: requests/s of each server and test as `field` (clients or keys) grows."""
    items = [m for m in results.section(section) if m.metric == "rps"]
    if not items:
        return False
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7, 4))
    for contender in dict.fromkeys(m.contender for m in items):
        for test in ("SET", "GET"):
            points = sorted(
                (getattr(m, field), m.value) for m in items if (m.contender, m.test) == (contender, test)
            )
            axis.plot(*zip(*points, strict=True), marker="o", label=f"{contender} {test}")
    axis.set_xscale("log")
    axis.set_xlabel(field)
    axis.set_ylabel("requests/s")
    axis.set_ylim(bottom=0)
    axis.grid(alpha=0.3)
    axis.legend(fontsize="small")
    axis.set_title(f"Throughput as {field} grow (-P 1)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def write_all(results: Results, directory: Path) -> list[Path]:
    """Every chart there is data for; matplotlib missing means no charts, with a note."""
    try:
        _pyplot()
    except ImportError:
        results.note("charts skipped: matplotlib is not installed (pip install -e '.[bench]')")
        return []
    planned = [
        (directory / "throughput.png", lambda p: throughput(results, p)),
        (directory / "inprocess.png", lambda p: inprocess(results, p)),
        (directory / "clients.png", lambda p: scaling(results, "clients", "clients", p)),
        (directory / "dataset.png", lambda p: scaling(results, "dataset", "keys", p)),
    ]
    return [path for path, draw in planned if draw(path)]
