"""SETBIT over the wire: ``redis-cli --pipe`` sends SETBITs at random offsets of one bitmap to leakdb-server
in memory mode and to redis-server, alternated within each round, in the same run.

Two bitmap sizes: 10k bits (1.2 KB) and 8M bits (1 MB), where a copy of the whole string per write would
show.  redis-benchmark cannot drive SETBIT (its ``__rand_int__`` is zero-padded, which Redis refuses as
an offset), hence a file of commands.  Reported, no target.

    python -m benchmarks.bitmaps [--commands 200000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

from .common import Measurement, Results, median, progress
from .resp_load import command, pipe_load
from .servers import REDIS, ServerPool, leakdb_spec

SECTION = "bitmaps"
CONTENDERS = (leakdb_spec("memory"), REDIS)
BITMAPS = {"SETBIT 10k bits": 10_000, "SETBIT 8M bits": 8 * 1024 * 1024}
KEY = b"bitmap"
COMMANDS = 200_000


def commands_file(directory: Path, bits: int, count: int) -> Path:
    """`count` SETBITs of KEY at offsets drawn from [0, bits), the same file for every contender."""
    path = directory / f"setbit-{bits}-{count}.resp"
    if not path.exists():
        rng = random.Random(bits)
        with open(path, "wb") as out:
            for _ in range(count):
                offset = b"%d" % rng.randrange(bits)
                value = b"1" if rng.random() < 0.5 else b"0"
                out.write(
                    b"*4\r\n$6\r\nSETBIT\r\n$6\r\n%s\r\n$%d\r\n%s\r\n$1\r\n%s\r\n"
                    % (KEY, len(offset), offset, value)
                )
    return path


def measure(pool: ServerPool, results: Results, rounds: int, workdir: Path, count: int = COMMANDS) -> None:
    files = {test: commands_file(workdir, bits, count) for test, bits in BITMAPS.items()}
    servers = []
    for spec in CONTENDERS:
        progress(f"{SECTION}: starting {spec.name}")
        servers.append(pool.start(spec))
    seconds: dict[tuple[str, str], list[float]] = {}
    for round_number in range(rounds):
        for test, path in files.items():
            for server in servers:
                # The bitmap is created at its full size first, so every round measures writes to it.
                command(server.port, "DEL", KEY.decode())
                command(server.port, "SETBIT", KEY.decode(), str(BITMAPS[test] - 1), "0")
                seconds.setdefault((server.spec.name, test), []).append(pipe_load(server.port, path))
        progress(f"{SECTION}: round {round_number + 1}/{rounds} done")
    for (contender, test), times in seconds.items():
        results.add(Measurement(SECTION, contender, test, "rps", count / median(times), keys=count))
    for server in servers:
        pool.stop(server)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bitmaps", description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=COMMANDS, help="SETBITs per run")
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args(argv)
    results = Results()
    with tempfile.TemporaryDirectory(prefix="leakdb-bench-") as workdir, ServerPool(Path(workdir)) as pool:
        measure(pool, results, options.rounds, Path(workdir), options.commands)
    rps = {(m.contender, m.test): m.value for m in results.items}
    for test in BITMAPS:
        leak, redis = rps[(CONTENDERS[0].name, test)], rps[(REDIS.name, test)]
        print(f"{test:18} leakdb {leak:12,.0f}/s  redis {redis:12,.0f}/s  ratio {leak / redis:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
