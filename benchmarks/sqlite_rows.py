"""``python -m benchmarks.sqlite_rows``: what one write-behind row costs SQLite, by table layout.

The write-behind flush upserts each changed key into the ``keys`` table (a WITHOUT ROWID B-tree on
(db, key)).  With random keys a batch of 1000 touches most leaf pages, and each commit copies every
page it touched into the write-ahead log, so SQLite's CPU per row outweighs a whole command in
memory mode.  This measures that cost (CPU seconds of this process, so a busy machine inflates it
less than wall time) beside the same rows appended to a rowid log table, the layout the next step
of issue 15 would flush to (appends fill the last page; a background fold would coalesce the log
into ``keys``).  Same pragmas as the backend: WAL, synchronous=NORMAL.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import tempfile
import time

KEYS_TABLE = (
    "CREATE TABLE keys (db INTEGER NOT NULL, key BLOB NOT NULL, type TEXT NOT NULL, value BLOB NOT NULL,"
    " expire_at_ms INTEGER, PRIMARY KEY (db, key)) WITHOUT ROWID"
)
LOG_TABLE = (
    "CREATE TABLE log (db INTEGER NOT NULL, key BLOB NOT NULL, type TEXT, value BLOB, expire_at_ms INTEGER)"
)
LAYOUTS = {
    "upsert into keys (today)": "INSERT OR REPLACE INTO keys VALUES (?, ?, ?, ?, ?)",
    "append to a log": "INSERT INTO log VALUES (?, ?, ?, ?, ?)",
}
VALUE = b"x" * 32


def _row(number: int) -> tuple[int, bytes, str, bytes, None]:
    return (0, b"key:%012d" % number, "string", VALUE, None)


def measure(keys: int = 100_000, batch: int = 1000, batches: int = 40) -> dict[str, float]:
    """CPU microseconds per row for each layout, flushing `batches` batches of `batch` random keys
    into a file already holding `keys` keys."""
    found: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="leakdb-sqlite-rows-") as directory:
        for number, (layout, sql) in enumerate(LAYOUTS.items()):
            connection = sqlite3.connect(os.path.join(directory, f"{number}.db"), isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute(KEYS_TABLE)
            connection.execute(LOG_TABLE)
            connection.execute("BEGIN")
            connection.executemany("INSERT INTO keys VALUES (?, ?, ?, ?, ?)", map(_row, range(keys)))
            connection.execute("COMMIT")
            work = [[_row(random.randrange(keys)) for _ in range(batch)] for _ in range(batches)]
            started = time.process_time()
            for rows in work:
                connection.execute("BEGIN")
                connection.executemany(sql, rows)
                connection.execute("COMMIT")
            found[layout] = (time.process_time() - started) / (batch * batches) * 1e6
            connection.close()
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.sqlite_rows", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--keys", type=int, default=100_000, help="keys in the file before the flushes")
    parser.add_argument("--batch", type=int, default=1000, help="rows per flush (the server's maxsize)")
    parser.add_argument("--batches", type=int, default=40)
    args = parser.parse_args(argv)
    for layout, micros in measure(args.keys, args.batch, args.batches).items():
        print(f"{layout:28} {micros:6.2f} us CPU per row")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
