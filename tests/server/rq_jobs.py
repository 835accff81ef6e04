"""Job functions for tests/test_rq.py, imported by name in a separate ``rq worker`` process.

Each job that must be seen to have run appends a line to the list ``rq-test:ran`` on the server it
came from, so a test can tell what the worker executed, and in which order, without reading RQ's
results (which RQ keeps in streams).
"""

from __future__ import annotations

from rq import get_current_job

RAN_KEY = "rq-test:ran"
ATTEMPTS_KEY = "rq-test:attempts"


def record(line: str) -> str:
    get_current_job().connection.rpush(RAN_KEY, line)
    return line


def add(a: int, b: int) -> int:
    record(f"add {a} {b}")
    return a + b


def fail(message: str) -> None:
    record(f"fail {message}")
    raise ValueError(message)


def fails_once() -> int:
    """Raises on the first attempt and succeeds on the next: exercises RQ's Retry."""
    attempt = get_current_job().connection.incr(ATTEMPTS_KEY)
    record(f"attempt {attempt}")
    if attempt < 2:
        raise RuntimeError("first attempt fails")
    return attempt
