"""dbm.dumb's file format, written so that a killed process never loses a committed change.

The files are dbm.dumb's own: ``NAME.dat`` holds the values and ``NAME.dir`` is the index, one
``'key', (offset, size)`` line per entry, a later line for a key overriding an earlier one.  Any
Python reads them with ``dbm.open(NAME, "r")``.  What differs from dbm.dumb is how they are written:

* Values are packed: a value takes its size rounded up to 16 bytes (to 512 from 512 bytes on), not
  a 512-byte block, so a small value costs tens of bytes.  dbm.dumb reads any offset; its *writer*
  assumes block alignment and may overwrite a packed neighbour, so these files are written by LeakDB
  only (the shelve backend marks them with a format version older LeakDBs refuse).
* A value is never overwritten in place.  It goes to space that no index line on disk points at; the
  space of a replaced or deleted value becomes reusable only once an index without it is on disk.
* The index is a journal.  A whole index is written as the *marker* key's line (the store's header
  record, which every store has), every other key's line, and the marker's line again; it goes to
  ``NAME.dir.tmp``, is fsynced and moved over ``NAME.dir`` with :func:`os.replace`.
  :meth:`DumbStore.commit` then appends each batch in one write: the lines of the keys it set, closed
  by the marker's line (dbm.dumb reads duplicate keys, the last line winning, so the journal is plain
  dbm.dumb to it).  A deleted key's line points at an empty value (a *tombstone*: no LeakDB record
  is empty), so a deletion costs one line too.  A journal grown past twice the live keys gets a
  whole new index, without tombstones; so does a store at a clean close.  dbm.dumb reading a store
  that is open, or was killed, sees deleted keys as empty values until then.
* Reading an index (:func:`inspect`) tells a crash from damage.  Lines after the last marker of a
  journal are a batch whose commit never finished, dropped with a torn last line; a leftover
  ``NAME.dir.tmp`` is a rewrite that never finished.  An index in dbm.dumb's own form (one line per
  key) counts line by line, as dbm.dumb reads it; if its last line is torn and dbm.dumb's ``NAME.bak``
  is there, dbm.dumb was killed rewriting it, and keys it had not rewritten yet keep their ``.bak``
  entry.  A ``NAME.bak`` without ``NAME.dir`` is used as the index.  Anything else (a whole index
  without its closing marker line, a line that does not parse, a value past the end of ``NAME.dat``,
  two values sharing bytes) is damage: the store is refused and nothing is written to it.
* Closing cleanly folds the journal into one whole index, so a cleanly closed store that lost
  its end (a truncated copy, a full disk elsewhere) is refused, not read as a crash.
* Opening for writing writes nothing to a store in the form LeakDB leaves it.  A store a crash left
  behind gets a fresh whole index first; one that is more than half unused space is compacted, in two
  steps that each end with a whole index (the live values copied past the end, then back to the
  start), so a crash at any point leaves a readable store.

Nothing else is fsynced: appended batches survive the process being killed, not the machine losing
power.  All writes go through :mod:`.diskio`, where tests inject disk failures.
"""

from __future__ import annotations

import ast
import mmap
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..errors import StorageError
from . import diskio

BLOCK = 512  # dbm.dumb's _BLOCKSIZE: where dbm.dumb itself puts values
GRAIN = 16  # LeakDB's packed values start on these boundaries
COMPACT_SLACK = 1024 * 1024  # unused bytes always tolerated before compacting
Entry = tuple[int, int]  # (offset in .dat, size)
# The journal line of a deleted key: an empty value, which no LeakDB record is.
TOMBSTONE: Entry = (0, 0)

# The line dbm.dumb writes for a key whose repr needs no escape: the fast path of reading an index.
_PLAIN_LINE = re.compile(r"'([^'\\]*)', \((\d+), (\d+)\)\Z")
_PLAIN_LINES = re.compile(r"^'([^'\\\n]*)', \((\d+), (\d+)\)$", re.MULTILINE)


def extent(size: int) -> int:
    """Bytes a value of `size` bytes occupies in ``.dat``."""
    if size < BLOCK:
        return max(GRAIN, (size + GRAIN - 1) // GRAIN * GRAIN)
    return (size + BLOCK - 1) // BLOCK * BLOCK


def _line(key: bytes, entry: Entry) -> str:
    return "%r, %r\n" % (key.decode("latin-1"), entry)  # exactly what dbm.dumb writes


def _read_text(name: str) -> str | None:
    try:
        with open(name, encoding="latin-1", newline="") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise StorageError(f"{name} is unreadable: {error.strerror or error}") from error


def _entry(line: str) -> tuple[bytes, Entry] | None:
    plain = _PLAIN_LINE.match(line)
    if plain is not None:
        return plain.group(1).encode("latin-1"), (int(plain.group(2)), int(plain.group(3)))
    try:
        key, (offset, size) = ast.literal_eval(line)
        if isinstance(key, str) and type(offset) is int and type(size) is int and offset >= 0 and size >= 0:
            return key.encode("latin-1"), (offset, size)
    except (ValueError, TypeError, SyntaxError, AttributeError, MemoryError, RecursionError):
        pass
    return None


@dataclass
class IndexFile:
    """What an index says, read without changing anything: the committed entries, the damage found
    (`problems`), what a crash left behind (`notes`), and whether it must be rewritten before LeakDB
    appends to it (`repair`)."""

    entries: dict[bytes, Entry] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    repair: bool = False
    lines: int = 0  # lines of NAME.dir, live or overridden: the journal's length


def _parse(text: str, name: str, marker: bytes, found: IndexFile) -> tuple[list[tuple[bytes, Entry]], bool]:
    """The (key, entry) lines of one index file and whether its last line is torn; bad lines are
    recorded in `found.problems`."""
    lines = text.split("\n")
    torn = lines.pop() != ""
    plain = _PLAIN_LINES.findall(text)
    if len(plain) == len(lines):  # every line in the plain form (nearly always): parsed in one pass
        return [(key.encode("latin-1"), (int(offset), int(size))) for key, offset, size in plain], torn
    entries = []
    for number, line in enumerate(lines, 1):
        parsed = _entry(line.rstrip())
        if parsed is None:
            found.problems.append(f"{name} is damaged at line {number}: {line[:60]!r}")
        else:
            entries.append(parsed)
    return entries, torn


def inspect(path: str, marker: bytes) -> IndexFile:
    """Read the index of the store at `path` (``.dir``, or ``.bak`` where dbm.dumb left only that)."""
    found = IndexFile()
    current = _read_text(path + ".dir")
    backup = _read_text(path + ".bak")
    if current is None and backup is None:
        found.problems.append(f"{path}.dir, the index of the dbm store, is missing")
        return found
    if os.path.exists(path + ".dir.tmp"):
        found.notes.append(f"{path}.dir.tmp is an index rewrite that never finished; it is ignored")
        found.repair = True
    if current is None:  # dbm.dumb was killed between renaming its index to .bak and rewriting it
        found.notes.append(f"{path}.dir is missing; dbm.dumb's {path}.bak is the index")
        entries, _ = _parse(backup, path + ".bak", marker, found)
        found.entries, found.repair = dict(entries), True
        return found
    entries, torn = _parse(current, path + ".dir", marker, found)
    found.lines = len(entries)
    marks = [number for number, (key, _) in enumerate(entries) if key == marker]
    if marks and marks[0] == 0 and (len(marks) >= 2 or backup is None):
        # LeakDB's journal: a whole index (marker, lines, marker), then batches each closed by a marker.
        if len(marks) < 2:
            found.problems.append(
                f"{path}.dir ends before the closing line of its index (truncated after {len(entries)} lines)"
            )
            return found
        if marks[-1] + 1 < len(entries) or torn:
            dropped = len(entries) - marks[-1] - 1 + torn
            found.notes.append(
                f"{path}.dir ends with an interrupted batch ({dropped} line(s) never committed); "
                "it is dropped when LeakDB next opens the store for writing"
            )
            found.repair = True
        del entries[marks[-1] + 1 :]
        found.entries = {key: entry for key, entry in dict(entries).items() if entry != TOMBSTONE}
        return found
    # dbm.dumb's own form: every line counts, the last one for a key winning.
    found.repair = True
    index = dict(entries)
    if torn:
        if backup is None:
            found.problems.append(
                f"{path}.dir ends in a torn line, and there is no {path}.bak to recover from"
            )
            return found
        # dbm.dumb was killed while rewriting its index: each key not rewritten yet keeps its old entry.
        found.notes.append(f"{path}.dir was being rewritten by dbm.dumb; keys not rewritten come from .bak")
        older, _ = _parse(backup, path + ".bak", marker, found)
        index = {**dict(older), **index}
    found.entries = index
    return found


def layout_problems(path: str, index: dict[bytes, Entry]) -> list[str]:
    """Values that run past the end of ``.dat`` or share bytes with another value."""
    try:
        data_size = os.path.getsize(path + ".dat")
    except OSError as error:
        return [f"{path}.dat is unreadable: {error.strerror or error}"]
    problems = []
    previous: tuple[int, bytes] | None = None  # (end, key) of the value before, by offset
    for key, (offset, size) in sorted(index.items(), key=lambda item: item[1]):
        if offset + size > data_size:
            problems.append(
                f"{path}.dat is truncated: the value of {key!r} ({size} bytes at {offset}) ends "
                f"past its end ({data_size} bytes)"
            )
        if size and previous is not None and offset < previous[0]:
            problems.append(
                f"{path}.dat is damaged: the values of {previous[1]!r} and {key!r} share bytes "
                "(written by another dbm writer?)"
            )
        if size:
            previous = (max(offset + size, previous[0]) if previous else offset + size, key)
    return problems


def read_index(path: str, marker: bytes) -> dict[bytes, Entry]:
    """The committed index of the store at `path`; StorageError if it is damaged."""
    found = inspect(path, marker)
    if found.problems:
        raise StorageError(_summary(found.problems))
    return found.entries


def _summary(problems: list[str]) -> str:
    more = f" (and {len(problems) - 1} more problem(s); run 'leakdb check')" if len(problems) > 1 else ""
    return problems[0] + more


class DumbStore:
    """One dbm.dumb store: read like a dict of bytes, changed in batches published by :meth:`commit`.

    Changes are visible to reads at once; :meth:`rollback` undoes those made since the last commit.
    """

    def __init__(self, path: str, found: IndexFile, marker: bytes) -> None:
        self.path = path
        self.marker = marker  # the key whose line closes every batch in the journal
        self._index = found.entries
        self._repair = found.repair
        self._journal_lines = found.lines  # lines in the index file, live or overridden
        self._dat_fd = os.open(path + ".dat", os.O_RDONLY)
        self._dir_fd = -1
        self._free: dict[int, list[int]] = {}  # extent size -> offsets no index on disk points at
        self._end = 0  # offset after the last value in use
        self._rewrite = False  # the next commit must write a whole new index
        self._undo: list[tuple[bytes, Entry | None]] = []
        self._released: list[tuple[int, int]] = []  # (offset, extent) dropped by this batch

    @classmethod
    def open(cls, path: str, marker: bytes) -> DumbStore:
        """Open an existing store read-only, changing nothing (StorageError if it is damaged);
        :meth:`start_writing` to write."""
        found = inspect(path, marker)
        problems = found.problems or layout_problems(path, found.entries)
        if problems:
            raise StorageError(_summary(problems))
        try:
            return cls(path, found, marker)
        except OSError as error:
            raise StorageError(f"{path}.dat is unreadable: {error.strerror or error}") from error

    @classmethod
    def create(cls, path: str, marker: bytes, value: bytes) -> DumbStore:
        """A new store holding `marker` = `value`: its index appears on disk whole, with that key."""
        os.close(diskio.open_for_writing(path + ".dat", os.O_WRONLY | os.O_CREAT | os.O_TRUNC))
        store = cls(path, IndexFile(), marker)
        try:
            store._open_data_for_writing()
            store[marker] = value
            store._write_whole_index()
        except BaseException:
            store.close()
            raise
        store._undo.clear()
        return store

    def start_writing(self) -> None:
        """Get ready to commit: check that every file can be written (StorageError, with nothing
        written, if not), then replace an index a crash left behind with a fresh one."""
        if self.marker not in self._index:
            raise StorageError(f"{self.path} has no {self.marker!r} record to close its batches with")
        self._check_writable()
        self._open_data_for_writing()
        self._find_free_space()
        if self._repair or not os.path.exists(self.path + ".dir"):
            self._write_whole_index()
        else:
            self._reopen_index()
        for leftover in (self.path + ".bak", self.path + ".dir.tmp"):
            if os.path.exists(leftover):
                os.remove(leftover)

    def _check_writable(self) -> None:
        directory = os.path.dirname(os.path.abspath(self.path))
        for name in (self.path + ".dat", self.path + ".dir", directory):
            if os.path.exists(name) and not os.access(name, os.W_OK):
                raise StorageError(f"{name} is not writable by this user: fix its permissions or owner")

    def _open_data_for_writing(self) -> None:
        try:
            fd = diskio.open_for_writing(self.path + ".dat", os.O_RDWR)
        except OSError as error:
            raise StorageError(
                f"{self.path}.dat: cannot open for writing: {error.strerror or error}"
            ) from error
        os.close(self._dat_fd)
        self._dat_fd = fd

    def _find_free_space(self) -> None:
        # Gaps between values (left by dead writes or by dbm.dumb's blocks) are not reused; they
        # count as unused space, which compact() gives back.
        self._end = max((offset + extent(size) for offset, size in self._index.values()), default=0)

    def unused_bytes(self) -> int:
        """Bytes of ``.dat`` no value uses."""
        try:
            total = os.fstat(self._dat_fd).st_size
        except OSError:
            return 0
        return max(0, total - self.live_bytes())

    def live_bytes(self) -> int:
        return sum(extent(size) for _, size in self._index.values())

    def wasteful(self) -> bool:
        """More than half of ``.dat`` unused (and more than COMPACT_SLACK): worth compacting."""
        unused = self.unused_bytes()
        return unused > COMPACT_SLACK and unused > self.live_bytes()

    # -- reading -------------------------------------------------------------------------------------

    def keys(self) -> list[bytes]:
        return list(self._index)

    def __contains__(self, key: bytes) -> bool:
        return key in self._index

    def __len__(self) -> int:
        return len(self._index)

    def __getitem__(self, key: bytes) -> bytes:
        offset, size = self._index[key]
        data = os.pread(self._dat_fd, size, offset)
        if len(data) != size:
            raise StorageError(f"{self.path}.dat is truncated: the value of {key!r} is cut short")
        return data

    def get(self, key: bytes, default: bytes | None = None) -> bytes | None:
        return self[key] if key in self._index else default

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        """Every (key, value), read through one mapping of ``.dat`` (loading a store)."""
        if not self._index:
            return
        size = os.fstat(self._dat_fd).st_size
        if size == 0:
            yield from ((key, self[key]) for key in self.keys())
            return
        with mmap.mmap(self._dat_fd, size, prot=mmap.PROT_READ) as data:
            for key, (offset, length) in list(self._index.items()):
                value = data[offset : offset + length]
                if len(value) != length:
                    raise StorageError(f"{self.path}.dat is truncated: the value of {key!r} is cut short")
                yield key, value

    # -- changing --------------------------------------------------------------------------------------

    def __setitem__(self, key: bytes, value: bytes) -> None:
        offset = self._allocate(extent(len(value)))
        diskio.pwrite_all(self._dat_fd, value, offset, self.path + ".dat")
        self._record(key, (offset, len(value)))

    def __delitem__(self, key: bytes) -> None:
        if key not in self._index:
            raise KeyError(key)
        self._record(key, None)

    def _allocate(self, size: int) -> int:
        offsets = self._free.get(size)
        if offsets:
            return offsets.pop()
        offset = self._end
        self._end += size
        return offset

    def _record(self, key: bytes, entry: Entry | None) -> None:
        old = self._index.get(key)
        self._undo.append((key, old))
        if old is not None:
            self._released.append((old[0], extent(old[1])))
        if entry is None:
            del self._index[key]
        else:
            self._index[key] = entry

    def commit(self) -> None:
        """Publish every change since the last commit; on an exception, call :meth:`rollback`."""
        if not self._undo:
            return
        try:
            changed = list(dict.fromkeys(key for key, _ in self._undo))
            if self._needs_whole_index(changed):
                self._write_whole_index()
            else:
                self._append(changed)
        except BaseException:
            self._rewrite = True  # the index may end in a torn line now; replace it whole next time
            raise
        for offset, size in self._released:
            self._free.setdefault(size, []).append(offset)
        self._undo.clear()
        self._released.clear()

    def rollback(self) -> None:
        """Forget the changes since the last commit.  Their new space is not reused before the
        store is reopened: after a failed commit the disk may still point at it."""
        for key, old in reversed(self._undo):
            if old is None:
                self._index.pop(key, None)
            else:
                self._index[key] = old
        self._undo.clear()
        self._released.clear()

    def _needs_whole_index(self, changed: list[bytes]) -> bool:
        if self._rewrite:
            return True
        return self._journal_lines >= 2 * len(self._index) + 1024

    def _append(self, changed: list[bytes]) -> None:
        index = self._index
        lines = [_line(key, index.get(key, TOMBSTONE)) for key in changed if key != self.marker]
        lines.append(_line(self.marker, self._index[self.marker]))
        diskio.write_all(self._dir_fd, "".join(lines).encode("latin-1"), self.path + ".dir")
        self._journal_lines += len(lines)

    def _write_whole_index(self) -> None:
        temp = self.path + ".dir.tmp"
        marker_line = _line(self.marker, self._index[self.marker])
        body = [_line(key, entry) for key, entry in self._index.items() if key != self.marker]
        data = (marker_line + "".join(body) + marker_line).encode("latin-1")
        try:
            diskio.write_file(temp, data, mode_from=self.path + ".dir")
            diskio.replace(temp, self.path + ".dir")
        except BaseException:
            if os.path.exists(temp):
                os.remove(temp)
            raise
        self._journal_lines = len(self._index) + 1
        self._rewrite = False
        self._repair = False
        self._reopen_index()

    def _reopen_index(self) -> None:
        if self._dir_fd >= 0:
            os.close(self._dir_fd)
            self._dir_fd = -1
        self._dir_fd = diskio.open_for_writing(self.path + ".dir", os.O_WRONLY | os.O_APPEND)

    # -- compaction ----------------------------------------------------------------------------------

    def compact(self) -> None:
        """Give unused space back: copy the live values past the end of ``.dat`` and publish an
        index pointing there, then copy them to the start, publish again and cut the file.  Call
        it with nothing uncommitted."""
        if self._undo:
            raise StorageError("compact() with uncommitted changes")
        tail = max(os.fstat(self._dat_fd).st_size, self._end)
        tail = (tail + BLOCK - 1) // BLOCK * BLOCK
        self._move_all(tail)
        self._move_all(0)
        os.ftruncate(self._dat_fd, self._end)
        self._free.clear()

    def _move_all(self, start: int) -> None:
        moved: dict[bytes, Entry] = {}
        chunk: list[bytes] = []
        chunk_start = cursor = start
        for key, value in self.items():
            size = extent(len(value))
            chunk.append(value + b"\0" * (size - len(value)))
            moved[key] = (cursor, len(value))
            cursor += size
            if cursor - chunk_start >= 1024 * 1024:
                diskio.pwrite_all(self._dat_fd, b"".join(chunk), chunk_start, self.path + ".dat")
                chunk, chunk_start = [], cursor
        if chunk:
            diskio.pwrite_all(self._dat_fd, b"".join(chunk), chunk_start, self.path + ".dat")
        diskio.fsync(self._dat_fd, self.path + ".dat")  # the values are on disk before an index says so
        previous = self._index
        self._index = moved
        try:
            self._write_whole_index()
        except BaseException:
            self._index = previous
            self._rewrite = True
            raise
        self._end = cursor

    def finish(self) -> None:
        """Before a clean close: fold the journal into one whole index.  A store closed cleanly is
        then a single index, ending in its marker line, so a truncation anywhere in it is damage
        that :func:`inspect` reports (after a crash, a torn last batch is expected instead)."""
        if self._dir_fd >= 0 and not self._undo and self._journal_lines > len(self._index) + 1:
            self._write_whole_index()

    def close(self) -> None:
        """Close the files; uncommitted changes are dropped.  Idempotent."""
        for fd in (self._dat_fd, self._dir_fd):
            if fd >= 0:
                os.close(fd)
        self._dat_fd = self._dir_fd = -1
