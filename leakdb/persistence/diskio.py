"""LeakDB's boundary with the disk: every write, fsync, rename and SQLite commit its backends make.

Both backends write through these functions, so a test (or ``python -m benchmarks.faults``) can make
any of them fail the way a disk does (ENOSPC, EIO, EROFS, EACCES, EDQUOT, a short write) at the
call it chooses, in process (:func:`install`) or in a server it started (the ``LEAKDB_FAULTS``
environment variable names a JSON plan file, re-read whenever it changes).  With no plan, each
function is the plain operating-system or SQLite call plus one test of a module global.

The points a :class:`Fault` can name:

``open``
    opening a file for writing (the shelve backend's ``.dat`` and ``.dir``)
``write``
    a write of bytes to a file (``.dat`` values, ``.dir`` index lines, a whole new index)
``fsync``
    an fsync LeakDB asks for (the shelve backend's whole-index rewrite and compaction)
``rename``
    moving a finished file into place
``sqlite.execute``
    a statement that changes the SQLite file
``sqlite.commit``
    an SQLite COMMIT (where SQLite itself writes and fsyncs: a failure there is SQLite's
    "disk I/O error", the report of a failed write or fsync)
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

POINTS = ("open", "write", "fsync", "rename", "sqlite.execute", "sqlite.commit")
# Errors a fault may raise: an errno name, or "short" (a write that stores only part of its bytes).
ERRORS = ("ENOSPC", "EDQUOT", "EIO", "EROFS", "EACCES", "EPERM", "short")
ENVIRONMENT = "LEAKDB_FAULTS"

# What SQLite says for each operating-system error (sqlite3_errstr of the code it maps it to).
_SQLITE_TEXT = {
    errno.ENOSPC: "database or disk is full",
    errno.EDQUOT: "database or disk is full",
    errno.EIO: "disk I/O error",
    errno.EROFS: "attempt to write a readonly database",
    errno.EACCES: "attempt to write a readonly database",
    errno.EPERM: "attempt to write a readonly database",
}


@dataclass
class Fault:
    """Fail calls at `point` (on files whose name ends with `file`, if given) with `error`: the
    first `after` matching calls succeed, then `count` of them fail (None: every later one)."""

    point: str
    error: str = "EIO"
    file: str = ""
    after: int = 0
    count: int | None = None
    seen: int = field(default=0, compare=False)
    failed: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if self.point not in POINTS:
            raise ValueError(f"unknown fault point {self.point!r}; choose one of {', '.join(POINTS)}")
        if self.error not in ERRORS:
            raise ValueError(f"unknown fault error {self.error!r}; choose one of {', '.join(ERRORS)}")

    def fires(self, point: str, path: str) -> bool:
        if point != self.point or not path.endswith(self.file):
            return False
        self.seen += 1
        if self.seen <= self.after or (self.count is not None and self.failed >= self.count):
            return False
        self.failed += 1
        return True

    def errno(self) -> int:
        return errno.EIO if self.error == "short" else getattr(errno, self.error)


class Plan:
    """The faults in force; `fired` counts the calls they made fail."""

    def __init__(self, faults: Iterable[Fault] = ()) -> None:
        self.faults = list(faults)
        self.fired = 0
        self._lock = threading.Lock()

    def match(self, point: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.fires(point, path):
                    self.fired += 1
                    return fault
        return None

    @classmethod
    def from_json(cls, text: str) -> Plan:
        rules = json.loads(text) if text.strip() else []
        return cls(Fault(**rule) for rule in rules)


_plan: Plan | None = None
_watched: tuple[str, Any] | None = None  # (plan file, its stat signature when last read)


def install(plan: Plan | None) -> None:
    """Put `plan` in force in this process (None: no faults)."""
    global _plan
    _plan = plan


def current() -> Plan | None:
    return _plan


def watch_file(path: str) -> None:
    """Follow the plan in the JSON file at `path` (a list of Fault fields), re-read when it changes;
    a missing or empty file means no faults."""
    global _watched
    _watched = (path, None)
    _refresh()


def _refresh() -> None:
    global _watched
    path, signature = _watched  # type: ignore[misc]
    try:
        status = os.stat(path)
        now = (status.st_ino, status.st_mtime_ns, status.st_size)
    except FileNotFoundError:
        now = None
    if now == signature:
        return
    _watched = (path, now)
    if now is None:
        install(None)
        return
    with open(path, encoding="utf-8") as handle:
        install(Plan.from_json(handle.read()))


def _fault(point: str, path: str) -> Fault | None:
    if _watched is not None:
        _refresh()
    plan = _plan
    return None if plan is None else plan.match(point, path)


def _raise(fault: Fault, path: str) -> None:
    code = fault.errno()
    raise OSError(code, f"{os.strerror(code)} (injected at {fault.point})", path)


# -- the operating system's calls ------------------------------------------------------------------


def open_for_writing(path: str, flags: int, mode: int = 0o666) -> int:
    if _plan is not None or _watched is not None:
        fault = _fault("open", path)
        if fault is not None:
            _raise(fault, path)
    return os.open(path, flags, mode)


def _short(fault: Fault | None, data: bytes | memoryview, path: str) -> bytes | memoryview | None:
    """The part of `data` a short write stores; None when the call must not happen at all."""
    if fault is None:
        return data
    if fault.error != "short":
        _raise(fault, path)
    return data[: len(data) // 2]


def write_all(fd: int, data: bytes, path: str) -> None:
    """Write all of `data` at the file's position, going on after short writes as POSIX asks; a
    write that stores nothing means there is no room (ENOSPC)."""
    view = memoryview(data)
    while view:
        chunk = view
        if _plan is not None or _watched is not None:
            chunk = _short(_fault("write", path), view, path)
        written = os.write(fd, chunk) if chunk else 0
        if written == 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        view = view[written:]


def pwrite_all(fd: int, data: bytes, offset: int, path: str) -> None:
    """Write all of `data` at `offset`, going on after short writes."""
    view = memoryview(data)
    while view:
        chunk = view
        if _plan is not None or _watched is not None:
            chunk = _short(_fault("write", path), view, path)
        written = os.pwrite(fd, chunk, offset) if chunk else 0
        if written == 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        view = view[written:]
        offset += written


def fsync(fd: int, path: str) -> None:
    if _plan is not None or _watched is not None:
        fault = _fault("fsync", path)
        if fault is not None:
            _raise(fault, path)
    os.fsync(fd)


def replace(source: str, target: str) -> None:
    if _plan is not None or _watched is not None:
        fault = _fault("rename", target)
        if fault is not None:
            _raise(fault, target)
    os.replace(source, target)


def write_file(path: str, data: bytes, mode_from: str | None = None) -> None:
    """Create `path` holding `data`, fsynced (with the permission bits of `mode_from`, if it exists)."""
    fd = open_for_writing(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        if mode_from is not None:
            try:
                os.fchmod(fd, os.stat(mode_from).st_mode & 0o7777)
            except FileNotFoundError:
                pass
        write_all(fd, data, path)
        fsync(fd, path)
    finally:
        os.close(fd)


# -- SQLite ------------------------------------------------------------------------------------------


def _sqlite_fault(point: str, path: str) -> None:
    fault = _fault(point, path)
    if fault is not None:
        text = _SQLITE_TEXT.get(fault.errno(), "disk I/O error")
        raise sqlite3.OperationalError(f"{text} (injected at {point})")


def execute(connection: sqlite3.Connection, path: str, sql: str, parameters: Any = ()) -> sqlite3.Cursor:
    """A statement that changes the file."""
    if _plan is not None or _watched is not None:
        _sqlite_fault("sqlite.execute", path)
    return connection.execute(sql, parameters)


def executemany(connection: sqlite3.Connection, path: str, sql: str, rows: Any) -> sqlite3.Cursor:
    if _plan is not None or _watched is not None:
        _sqlite_fault("sqlite.execute", path)
    return connection.executemany(sql, rows)


def commit(connection: sqlite3.Connection, path: str) -> None:
    if _plan is not None or _watched is not None:
        _sqlite_fault("sqlite.commit", path)
    connection.execute("COMMIT")


if os.environ.get(ENVIRONMENT):
    watch_file(os.environ[ENVIRONMENT])
