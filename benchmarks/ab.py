"""``python -m benchmarks.ab [--rounds N] REV [REV ...]``: the hot path of git revisions side by side.

Each revision is checked out into a temporary worktree and served in memory mode beside this working
tree and a redis-server, all started once; redis-benchmark -c 50 runs SET and GET at pipeline 1 and
16 against each in turn, alternating within every round, and the medians are printed with their
ratio to redis-server.  This is the before/after check for a change on the hot path: a busy machine
slows every contender in a round alike, so the ratios stay comparable where the raw rates do not.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

from . import wire
from .common import REPO_ROOT
from .servers import REDIS, ServerPool, ServerSpec

LOADS = [wire.Load(pipeline=depth, seconds_per_test=1.0, tests="set,get") for depth in (1, 16)]


def checkout(rev: str, root: Path) -> Path:
    """A detached worktree of `rev` under `root`."""
    target = root / rev.replace("/", "_")
    subprocess.run(
        ["git", "-C", str(REPO_ROOT), "worktree", "add", "--detach", "-q", str(target), rev], check=True
    )
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ab", description=__doc__.splitlines()[0])
    parser.add_argument("revisions", nargs="+", help="git revisions to compare with the working tree")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (medians are reported)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="leakdb-ab-") as tmp:
        root = Path(tmp)
        trees = []
        try:
            specs = [ServerSpec("working tree", "leakdb", ("--storage", "memory"))]
            for rev in args.revisions:
                trees.append(checkout(rev, root))
                specs.append(ServerSpec(rev, "leakdb", ("--storage", "memory"), source=trees[-1]))
            specs.append(REDIS)
            with ServerPool(root / "servers") as pool:
                servers = [pool.start(spec) for spec in specs]
                results = wire.compare(servers, LOADS, args.rounds, section="ab")
        finally:
            for tree in trees:
                subprocess.run(["git", "-C", str(REPO_ROOT), "worktree", "remove", "--force", str(tree)])
    rps = {(m.contender, m.test, m.pipeline): m.value for m in results if m.metric == "rps"}
    print(f"{'contender':<16} {'test':<5} {'P':>3} {'req/s':>10} {'vs redis':>9}")
    for spec in specs:
        for load in LOADS:
            for test in ("SET", "GET"):
                value = rps[(spec.name, test, load.pipeline)]
                ratio = value / rps[(REDIS.name, test, load.pipeline)]
                print(f"{spec.name:<16} {test:<5} {load.pipeline:>3} {value:>10,.0f} {ratio:>8.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
