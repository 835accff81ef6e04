"""dbm.dumb's file format, written so that a killed process never loses a committed change.

The files are dbm.dumb's own: ``NAME.dat`` holds the values at 512-byte aligned offsets and ``NAME.dir``
is the index, one ``'key', (offset, size)`` line per entry, a later line for a key overriding an
earlier one.  Any Python reads them with ``dbm.open(NAME, "r")``.  What differs from dbm.dumb is how
they are written:

* A value is never overwritten in place.  It goes to blocks that no index line on disk points at; the
  blocks of a replaced or deleted value become reusable only once an index without them is on disk.
* The index is a journal.  A whole index is written as the *marker* key's line (the store's header
  record, which every store has), every other key's line, and the marker's line again; it goes to
  ``NAME.dir.tmp`` and is moved over ``NAME.dir`` with :func:`os.replace`.  :meth:`DumbStore.commit`
  then appends each batch in one write: the lines of the keys it set, closed by the marker's line
  (dbm.dumb reads duplicate keys, the last line winning, so the journal is plain dbm.dumb to it).  A
  batch that deletes a key, or a journal grown past twice the live keys, gets a whole new index.
* On open, lines after the last marker of a journal (one that starts with a marker and has another)
  are a batch whose commit never finished, and are dropped with a torn last line; a leftover
  ``NAME.dir.tmp`` is a rewrite that never finished.  An index in dbm.dumb's own form (one line per
  key) counts line by line, as dbm.dumb reads it; if its last line is torn and dbm.dumb's ``NAME.bak``
  is there, dbm.dumb was killed rewriting it, and keys it had not rewritten yet keep their ``.bak``
  entry.  A ``NAME.bak`` without ``NAME.dir`` (dbm.dumb renames the index to ``.bak`` first) is used
  as the index.  Opening for writing then writes a whole fresh index and removes ``.bak``/``.dir.tmp``.

Nothing is fsynced: this survives the process being killed, not the machine losing power.
"""

from __future__ import annotations

import ast
import os
import shutil

from ..errors import StorageError

BLOCK = 512  # dbm.dumb's _BLOCKSIZE: values start on these boundaries
Entry = tuple[int, int]  # (offset in .dat, size)


def _blocks(size: int) -> int:
    return (size + BLOCK - 1) // BLOCK


def _line(key: bytes, entry: Entry) -> str:
    return "%r, %r\n" % (key.decode("latin-1"), entry)  # exactly what dbm.dumb writes


def _read_text(name: str) -> str | None:
    try:
        with open(name, encoding="latin-1", newline="") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise StorageError(f"{name} is unreadable: {error}") from error


def _entry(line: str, name: str, number: int) -> tuple[bytes, Entry]:
    try:
        key, (offset, size) = ast.literal_eval(line.rstrip())
        if not (isinstance(offset, int) and isinstance(size, int) and offset >= 0 and size >= 0):
            raise ValueError("bad offset or size")
        return key.encode("latin-1"), (offset, size)
    except (ValueError, TypeError, SyntaxError, AttributeError, MemoryError, RecursionError):
        raise StorageError(f"{name} is damaged at line {number}") from None


def _parse(text: str, name: str, marker: bytes) -> tuple[dict[bytes, Entry], bool, bool]:
    """(index, whether its last line is torn, whether it is a journal) of the index file `text`."""
    lines = text.split("\n")
    entries = [_entry(line, name, number) for number, line in enumerate(lines[:-1], 1)]
    marks = [number for number, (key, _) in enumerate(entries) if key == marker]
    journal = len(marks) >= 2 and marks[0] == 0
    if journal:
        del entries[marks[-1] + 1 :]  # a batch whose closing marker never made it to disk
    return dict(entries), lines[-1] != "", journal


def read_index(path: str, marker: bytes) -> dict[bytes, Entry]:
    """The committed index of the store at `path`, read without changing anything."""
    current = _read_text(path + ".dir")
    backup = _read_text(path + ".bak")
    if current is None and backup is None:
        raise StorageError(f"{path}.dir, the index of the dbm store, is missing")
    if current is None:  # dbm.dumb was killed between renaming its index to .bak and rewriting it
        return _parse(backup, path + ".bak", marker)[0]
    index, torn, journal = _parse(current, path + ".dir", marker)
    if torn and not journal and backup is not None:
        # dbm.dumb was killed while rewriting its index: each key not rewritten yet keeps its old entry.
        older = _parse(backup, path + ".bak", marker)[0]
        older.update(index)
        index = older
    return index


class DumbStore:
    """One dbm.dumb store: read like a dict of bytes, changed in batches published by :meth:`commit`.

    Changes are visible to reads at once; :meth:`rollback` undoes those made since the last commit.
    """

    def __init__(self, path: str, index: dict[bytes, Entry], marker: bytes) -> None:
        self.path = path
        self.marker = marker  # the key whose line closes every batch in the journal
        self._index = index
        self._dat_fd = os.open(path + ".dat", os.O_RDONLY)
        self._dir_fd = -1
        self._free: dict[int, list[int]] = {}  # block count -> offsets no index on disk points at
        self._end = 0  # offset after the last block in use
        self._journal_lines = 0  # lines in the index file, live or overridden
        self._rewrite = False  # the next commit must write a whole new index
        self._undo: list[tuple[bytes, Entry | None]] = []
        self._released: list[tuple[int, int]] = []  # (offset, blocks) dropped by this batch

    @classmethod
    def open(cls, path: str, marker: bytes) -> DumbStore:
        """Open an existing store read-only, changing nothing; :meth:`start_writing` to write."""
        return cls(path, read_index(path, marker), marker)

    @classmethod
    def create(cls, path: str, marker: bytes, value: bytes) -> DumbStore:
        """A new store holding `marker` = `value`: its index appears on disk whole, with that key."""
        os.close(os.open(path + ".dat", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666))
        store = cls(path, {}, marker)
        store._open_data_for_writing()
        store[marker] = value
        store._write_whole_index()
        store._undo.clear()
        return store

    def start_writing(self) -> None:
        """Write a fresh, compact index (what a killed writer left behind goes) and get ready to commit."""
        if self.marker not in self._index:
            raise StorageError(f"{self.path} has no {self.marker!r} record to close its batches with")
        self._open_data_for_writing()
        self._find_free_blocks()
        self._write_whole_index()
        if os.path.exists(self.path + ".bak"):
            os.remove(self.path + ".bak")

    def _open_data_for_writing(self) -> None:
        os.close(self._dat_fd)
        self._dat_fd = os.open(self.path + ".dat", os.O_RDWR)

    def _find_free_blocks(self) -> None:
        cursor = 0
        for offset, size in sorted(self._index.values()):
            if offset >= cursor + BLOCK:
                self._free.setdefault((offset - cursor) // BLOCK, []).append(cursor)
            cursor = max(cursor, offset + _blocks(size) * BLOCK)
        self._end = cursor  # anything after the last value in use is garbage from dead writes

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

    # -- changing --------------------------------------------------------------------------------------

    def __setitem__(self, key: bytes, value: bytes) -> None:
        offset = self._allocate(_blocks(len(value)))
        if os.pwrite(self._dat_fd, value, offset) != len(value):
            raise OSError(f"short write to {self.path}.dat")
        self._record(key, (offset, len(value)))

    def __delitem__(self, key: bytes) -> None:
        if key not in self._index:
            raise KeyError(key)
        self._record(key, None)

    def _allocate(self, blocks: int) -> int:
        offsets = self._free.get(blocks)
        if offsets:
            return offsets.pop()
        offset = self._end
        self._end += blocks * BLOCK
        return offset

    def _record(self, key: bytes, entry: Entry | None) -> None:
        old = self._index.get(key)
        self._undo.append((key, old))
        if old is not None:
            self._released.append((old[0], _blocks(old[1])))
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
        for offset, blocks in self._released:
            if blocks:
                self._free.setdefault(blocks, []).append(offset)
        self._undo.clear()
        self._released.clear()

    def rollback(self) -> None:
        """Forget the changes since the last commit.  Their new blocks are not reused before the
        store is reopened: after a failed commit the disk may still point at them."""
        for key, old in reversed(self._undo):
            if old is None:
                self._index.pop(key, None)
            else:
                self._index[key] = old
        self._undo.clear()
        self._released.clear()

    def _needs_whole_index(self, changed: list[bytes]) -> bool:
        if self._rewrite or any(key not in self._index for key in changed):
            return True  # a deletion cannot be appended: dbm.dumb's index has no tombstones
        return self._journal_lines >= 2 * len(self._index) + 1024

    def _append(self, changed: list[bytes]) -> None:
        lines = [_line(key, self._index[key]) for key in changed if key != self.marker]
        lines.append(_line(self.marker, self._index[self.marker]))
        data = "".join(lines).encode("latin-1")
        if os.write(self._dir_fd, data) != len(data):
            raise OSError(f"short write to {self.path}.dir")
        self._journal_lines += len(lines)

    def _write_whole_index(self) -> None:
        temp = self.path + ".dir.tmp"
        try:
            with open(temp, "w", encoding="latin-1", newline="") as handle:
                handle.write(_line(self.marker, self._index[self.marker]))
                handle.writelines(
                    _line(key, entry) for key, entry in self._index.items() if key != self.marker
                )
                handle.write(_line(self.marker, self._index[self.marker]))
            if os.path.exists(self.path + ".dir"):
                shutil.copymode(self.path + ".dir", temp)
            os.replace(temp, self.path + ".dir")
        except BaseException:
            if os.path.exists(temp):
                os.remove(temp)
            raise
        self._journal_lines = len(self._index) + 1
        self._rewrite = False
        self._reopen_index()

    def _reopen_index(self) -> None:
        if self._dir_fd >= 0:
            os.close(self._dir_fd)
        self._dir_fd = os.open(self.path + ".dir", os.O_WRONLY | os.O_APPEND)

    def close(self) -> None:
        """Close the files; uncommitted changes are dropped.  Idempotent."""
        for fd in (self._dat_fd, self._dir_fd):
            if fd >= 0:
                os.close(fd)
        self._dat_fd = self._dir_fd = -1
