"""Raw replies of redis-server and leakdb to the same commands: table cases and state machines.

A :class:`RawPair` holds one raw RESP connection to each server, speaking RESP2 or RESP3, and runs
commands on both, returning every reply's bytes as sent.  :func:`parse_case` reads a table line
(shell quoting, ``\\xNN`` escapes for binary), and :func:`differential_machine` builds a hypothesis
state machine that sends drawn commands to both servers and compares the replies byte for byte.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from test_conformance import Connection

Command = list[bytes]


def parse_case(line: str) -> Command:
    return [word.encode("latin-1").decode("unicode_escape").encode("latin-1") for word in shlex.split(line)]


def cases(text: str) -> list[Command]:
    lines = text.strip().splitlines()
    return [parse_case(line) for line in lines if line.strip() and not line.startswith("#")]


def case_id(command: Command) -> str:
    return b" ".join(command).decode("latin-1")[:70]


class RawPair:
    """One raw connection to redis-server and one to leakdb, in the same protocol."""

    def __init__(self, redis_port: int, leakdb_port: int, protocol: int = 2) -> None:
        self.oracle = Connection(redis_port)
        self.ours = Connection(leakdb_port)
        self.protocol = protocol
        self.transcript: list[Command] = []
        self.run([[b"HELLO", b"%d" % protocol]])

    def run(self, commands: list[Command]) -> list[tuple[bytes, bytes]]:
        """(redis reply, leakdb reply) for each command, as raw bytes."""
        self.transcript.extend(commands)
        self.oracle.send(commands)
        self.ours.send(commands)
        expected = self.oracle.replies(len(commands))
        actual = self.ours.replies(len(commands))
        return [(e[0], a[0]) for e, a in zip(expected, actual, strict=True)]

    def same(self, *commands: Command) -> list[bytes]:
        """Run `commands` on both servers; every reply must be the same bytes."""
        replies = self.run(list(commands))
        for command, (expected, actual) in zip(commands, replies, strict=True):
            assert actual == expected, f"{case_id(command)}: redis {expected!r}, leakdb {actual!r}"
        return [actual for _, actual in replies]

    def close(self) -> None:
        self.oracle.close()
        self.ours.close()


def differential_machine(
    redis_port: int,
    leakdb_port: int,
    commands: st.SearchStrategy[Command],
    normalise: Callable[[Command, bytes], object] = lambda command, raw: raw,
    probes: list[Command] = (),
) -> type[RuleBasedStateMachine]:
    """A state machine sending drawn commands (alone or pipelined) to both servers; replies must match.

    `normalise` maps a reply before the comparison (for replies whose order Redis leaves open);
    after every step the `probes` (reads of the keys the commands use) must match too.
    """

    class Differential(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.pair: RawPair | None = None

        @initialize(protocol=st.sampled_from([2, 3]))
        def connect(self, protocol):
            self.pair = RawPair(redis_port, leakdb_port, protocol)
            self.pair.run([[b"FLUSHALL"]])

        @rule(command=commands)
        def one(self, command):
            self.compare([command])

        @rule(batch=st.lists(commands, min_size=2, max_size=5))
        def pipelined(self, batch):
            self.compare(batch)

        @invariant()
        def same_state(self):
            if self.pair is not None and probes:
                self.compare(list(probes))

        def compare(self, batch: list[Command]) -> None:
            for command, (expected, actual) in zip(batch, self.pair.run(batch), strict=True):
                assert normalise(command, actual) == normalise(command, expected), (
                    f"{case_id(command)}: redis {expected!r}, leakdb {actual!r}\n"
                    f"after {[case_id(c) for c in self.pair.transcript[-30:]]}"
                )

        def teardown(self):
            if self.pair is not None:
                self.pair.close()

    return Differential
