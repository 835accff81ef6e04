"""The kill -9 campaign: writers, a SIGKILL at a random moment, a restart, and a check of every write.

Per cycle, WRITERS threads each SET ``w<i>:<n>`` = n for n = 0, 1, ... through redis-py until the
server dies; each keeps which writes were acknowledged (+OK), which were refused (an error reply,
MISCONF under an injected fault) and which one was in flight at the kill.  The server is then
started again on the same directory and every write is looked up:

* write-through (``--storage persistent``): every acknowledged write is there, no refused one is;
* write-behind (``--storage persistent-queue``): what survives of each writer is a prefix of what it
  wrote (no refused write in it), and the acknowledged writes lost are at most ``2 x maxsize``;
* save: every key is rewritten to a new generation and SAVE is killed part-way: the file holds
  one generation, the old or the new, never a mixture.

With ``faults``, each cycle of the first two also turns an injected disk fault (ENOSPC, EIO or
EROFS on every commit, through LEAKDB_FAULTS) on and off at random moments while writing.  Each
cycle ends with a FLUSHALL (saved), so the file stays small however many cycles run.
"""

from __future__ import annotations

import json
import random
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..common import progress
from ..servers import RunningServer, ServerPool, leakdb_spec

WRITERS = 4
MAXSIZE = 50  # --maxsize in write-behind: the loss bound is 2 x MAXSIZE per writer
SAVE_KEYS = 20_000
MODES = {"write-through": "persistent", "write-behind": "persistent-queue", "save": "persistent-queue"}
FAULTS = ["ENOSPC", "EIO", "EROFS"]
EVERY_COMMIT = {"sqlite": "sqlite.commit", "shelve": "write"}


@dataclass
class Tally:
    """What one (mode, backend) campaign saw."""

    mode: str
    backend: str
    faults: bool
    cycles: int = 0
    acknowledged: int = 0
    refused: int = 0
    lost: int = 0  # acknowledged writes missing after the restart
    refused_found: int = 0  # refused writes present after the restart
    holes: int = 0  # write-behind: a write kept after an older one was lost
    worst_loss: int = 0  # write-behind: most acknowledged writes one writer lost in one cycle
    mixed: int = 0  # save: restarts that found more than one generation
    outcomes: dict[str, int] = field(default_factory=dict)  # save: old / new
    seconds: float = 0.0
    save_seconds: float = 0.3  # save: how long the first SAVE took (the kills land within it)
    failures: list[str] = field(default_factory=list)

    @property
    def bound(self) -> int:
        return 2 * MAXSIZE if self.mode == "write-behind" else 0

    @property
    def ok(self) -> bool:
        if self.mode == "save":
            return self.mixed == 0 and not self.failures
        if self.mode == "write-through" and self.lost:
            return False
        # The write-behind bound is a healthy disk's: under faults, flushes fail and writes wait.
        within = self.faults or self.worst_loss <= self.bound
        return not self.refused_found and not self.holes and within and not self.failures


class Writer(threading.Thread):
    def __init__(self, port: int, prefix: str) -> None:
        super().__init__(daemon=True)
        # No retries: a connection that drops is the kill, and the thread stops at once.
        self.client = redis.Redis(port=port, socket_timeout=30, retry=Retry(NoBackoff(), 0))
        self.prefix = prefix
        self.acknowledged: list[int] = []
        self.refused: list[int] = []
        self.sent = 0  # numbers sent so far (the last may be in flight at the kill)

    def run(self) -> None:
        n = 0
        try:
            while True:
                self.sent = n + 1
                try:
                    self.client.set(f"{self.prefix}:{n}", n)
                    self.acknowledged.append(n)
                except redis.ResponseError:
                    self.refused.append(n)
                n += 1
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            pass
        finally:
            self.client.close()


class FaultSwitch(threading.Thread):
    """Turns a random injected fault on and off at random moments until stopped."""

    def __init__(self, plan: Path, backend: str, rng: random.Random) -> None:
        super().__init__(daemon=True)
        self.plan, self.backend, self.rng = plan, backend, rng
        self.stopping = threading.Event()

    def run(self) -> None:
        on = False
        while not self.stopping.wait(self.rng.uniform(0.02, 0.2)):
            on = not on
            fault = [{"point": EVERY_COMMIT[self.backend], "error": self.rng.choice(FAULTS)}] if on else []
            write_plan(self.plan, fault)


def write_plan(plan: Path, faults: list[dict]) -> None:
    temporary = plan.with_suffix(".tmp")
    temporary.write_text(json.dumps(faults))
    temporary.replace(plan)


def found(client: redis.Redis, prefix: str, count: int) -> list[bool]:
    """For n in range(count), whether the restarted server holds prefix:n = n."""
    keys = [f"{prefix}:{n}" for n in range(count)]
    present: list[bool] = []
    for start in range(0, count, 5000):
        values = client.mget(keys[start : start + 5000])
        present.extend(value == str(start + i).encode() for i, value in enumerate(values))
    return present


def check_writer(tally: Tally, present: list[bool], writer: Writer, where: str) -> None:
    refused = set(writer.refused)
    tally.acknowledged += len(writer.acknowledged)
    tally.refused += len(refused)
    back = [n for n in refused if present[n]]
    tally.refused_found += len(back)
    if back:
        tally.failures.append(f"{where}: refused writes present: {back[:5]}")
    if tally.mode == "write-through":
        missing = [n for n in writer.acknowledged if not present[n]]
        tally.lost += len(missing)
        if missing:
            tally.failures.append(f"{where}: acknowledged writes lost: {missing[:5]}")
        return
    # Write-behind: the survivors (refused writes aside) are a prefix of the writer's sequence.
    kept = [n for n in range(len(present)) if n not in refused]
    first_missing = next((i for i, n in enumerate(kept) if not present[n]), len(kept))
    holes = [n for n in kept[first_missing:] if present[n]]
    tally.holes += len(holes)
    if holes:
        tally.failures.append(f"{where}: writes {holes[:5]} kept after an older one was lost")
    lost = sum(1 for n in writer.acknowledged if not present[n])
    tally.lost += lost
    tally.worst_loss = max(tally.worst_loss, lost)


def flags(mode: str) -> tuple[str, ...]:
    if mode == "write-behind":
        return ("--maxsize", str(MAXSIZE), "--flush-interval", "0.2")
    if mode == "save":
        return ("--maxsize", "0", "--flush-interval", "3600")
    return ()


def run(
    pool: ServerPool, workdir: Path, mode: str, backend: str, cycles: int, faults: bool, seed: int
) -> Tally:
    """`cycles` kill/restart cycles of one mode and backend; every failure is kept in the tally."""
    rng = random.Random(seed)
    tally = Tally(mode, backend, faults and mode != "save")
    directory = workdir / f"kill-{mode}-{backend}{'-faults' if tally.faults else ''}"
    directory.mkdir(parents=True, exist_ok=True)
    plan = directory / "faults.json"
    environment = {"LEAKDB_FAULTS": str(plan)} if tally.faults else {}
    spec = leakdb_spec(MODES[mode], backend)
    started = time.monotonic()
    server = pool.start(spec, directory, flags(mode), environment=environment)
    for cycle in range(cycles):
        where = f"{mode}/{backend} seed {seed} cycle {cycle}"
        if mode == "save":
            server = save_cycle(pool, server, tally, cycle, rng, where)
        else:
            server = write_cycle(pool, server, tally, cycle, rng, plan if tally.faults else None, where)
        tally.cycles += 1
        if cycle % 50 == 49:
            progress(f"kill {mode}/{backend}: {cycle + 1}/{cycles} cycles, {tally.acknowledged} acknowledged")
    pool.stop(server)
    tally.seconds = time.monotonic() - started
    return tally


def _killed(pool: ServerPool, server: RunningServer) -> None:
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(30)
    pool.servers.remove(server)


def write_cycle(
    pool: ServerPool,
    server: RunningServer,
    tally: Tally,
    cycle: int,
    rng: random.Random,
    plan: Path | None,
    where: str,
) -> RunningServer:
    writers = [Writer(server.port, f"c{cycle}w{w}") for w in range(WRITERS)]
    switch = FaultSwitch(plan, tally.backend, rng) if plan is not None else None
    for thread in [*writers, *([switch] if switch else [])]:
        thread.start()
    time.sleep(rng.uniform(0.05, 0.6))
    _killed(pool, server)
    if switch is not None:
        switch.stopping.set()
        switch.join(10)
        write_plan(plan, [])
    for writer in writers:
        writer.join(60)
    server = pool.start(server.spec, server.directory, server.extra)
    client = server_client(server)
    for writer in writers:
        check_writer(tally, found(client, writer.prefix, writer.sent), writer, where)
    client.flushall()
    client.save()  # an empty file for the next cycle, in either mode
    client.close()
    return server


def server_client(server: RunningServer) -> redis.Redis:
    return redis.Redis(port=server.port, socket_timeout=120)


def save_cycle(
    pool: ServerPool, server: RunningServer, tally: Tally, cycle: int, rng: random.Random, where: str
) -> RunningServer:
    client = server_client(server)
    generation = f"generation-{cycle}"
    pipe = client.pipeline(transaction=False)
    for n in range(SAVE_KEYS):
        pipe.set(f"k{n}", generation)
    pipe.execute()
    started = time.monotonic()
    save = threading.Thread(target=_save_until_killed, args=(server.port,), daemon=True)
    save.start()
    time.sleep(rng.uniform(0, tally.save_seconds * 1.2))
    _killed(pool, server)
    save.join(30)
    client.close()
    server = pool.start(server.spec, server.directory, server.extra)
    client = server_client(server)
    values = set(client.mget([f"k{n}" for n in range(SAVE_KEYS)]))
    previous = f"generation-{cycle - 1}".encode() if cycle else None
    if len(values) != 1 or next(iter(values)) not in (previous, generation.encode()):
        tally.mixed += 1
        tally.failures.append(f"{where}: after SIGKILL during SAVE: {sorted(map(repr, values))[:3]}")
    outcome = "new" if values == {generation.encode()} else "old"
    tally.outcomes[outcome] = tally.outcomes.get(outcome, 0) + 1
    if outcome == "old":  # the next cycle starts from this generation
        pipe = client.pipeline(transaction=False)
        for n in range(SAVE_KEYS):
            pipe.set(f"k{n}", generation)
        pipe.execute()
        client.save()
    elif cycle == 0:
        tally.save_seconds = max(0.05, time.monotonic() - started)
    client.close()
    return server


def _save_until_killed(port: int) -> None:
    try:
        redis.Redis(port=port, socket_timeout=60).save()
    except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError, OSError):
        pass


def describe(tally: Tally) -> list[str]:
    """Report cells: mode, backend, faults, cycles, acknowledged, lost, refused (found), verdict."""
    if tally.mode == "save":
        old, new = tally.outcomes.get("old", 0), tally.outcomes.get("new", 0)
        detail = f"{tally.cycles} SAVEs killed: {old} old, {new} new, {tally.mixed} mixed"
    elif tally.mode == "write-through":
        detail = f"{tally.lost} acknowledged lost, {tally.refused_found} of {tally.refused} refused found"
    else:
        detail = (
            f"{tally.lost} unflushed lost (worst {tally.worst_loss}/writer, bound {tally.bound}), "
            f"{tally.holes} holes, {tally.refused_found} of {tally.refused} refused found"
        )
    return [
        tally.mode,
        tally.backend,
        "yes" if tally.faults else "no",
        str(tally.cycles),
        str(tally.acknowledged),
        detail,
        f"{tally.seconds:.0f}",
        "PASS" if tally.ok else "FAIL",
    ]
