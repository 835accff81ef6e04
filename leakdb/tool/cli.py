"""The ``leakdb`` command: inspect, verify, export, import and convert LeakDB data files offline.

Every command but ``import`` and ``convert`` only reads; those two write a whole store or nothing.
No server is needed, and an SQLite file may be read while a server has it open.
"""

from __future__ import annotations

import argparse
import datetime
import fnmatch
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from ..engine.keyspace import DEFAULT_DATABASES, META_DB, now_ms
from ..errors import StorageError
from ..persistence import BACKENDS
from ..version import __version__
from .files import (
    BadRecord,
    DataFile,
    Entry,
    ShelveFile,
    detect_backend,
    entry_problem,
    open_data_file,
    sound_entries,
)
from .formats import Dataset, FormatError, flatten, json_line, resp_command, resp_key
from .progress import Progress
from .write import build_store, merge_in_place, store_files

try:
    from ..engine.glob import compile_glob
except ImportError:  # pragma: no cover - leakdb/glob.py ships with the server's KEYS command
    compile_glob = None

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
MAX_REPORTED_PROBLEMS = 100

DESCRIPTION = """\
Work on a LeakDB data file (sqlite or shelve backend) without a running server.

info, check, get, keys and export never write to FILE.  An SQLite file may be read while
leakdb-server has it open: it is read as a WAL reader, from the last committed transaction.
A shelve (dbm) file has no locks: read it while a server writes and you may see a half-written
state; stop the server, or use the sqlite backend, for a reliable reading.
"""
EPILOG = """\
exit status: 0 on success; 1 when check finds problems, get finds no key, or FILE cannot be
used; 2 for a usage error.  Run 'leakdb COMMAND --help' for each command's options.
"""
JSON_FORMAT = """\
JSON lines: one object per key, {"db": 0, "key": "k", "type": "string", "value": "v",
"ttl_ms": null}.  Keys and values that are valid UTF-8 are written as text (NUL, CR and LF
are JSON escapes); anything else goes in "key_b64" / "value_b64" instead, as base64.  A hash,
list or set has a list of strings as its value (a hash: field, value, field, value...).
A zset ("type": "zset") has a list of [member, score] pairs in ascending order, e.g.
"value": [["a", 1.5], ["b", "inf"]]: members are text, or all base64 under "value_b64";
a score is a JSON number that reads back as the exact double (-0.0 included), or the
string "inf" / "-inf", since JSON numbers cannot be infinite.  NaN is refused.
ttl_ms is the time left to live in milliseconds when exported, or null.
"""
RESP_FORMAT = """\
RESP: the commands that recreate the data in any Redis, ready for 'redis-cli --pipe':
SELECT before the first key of each database, SET / HSET / RPUSH / SADD / ZADD per key, and
PEXPIREAT with the absolute deadline for keys that expire.  ZADD scores are written exactly
(Python's repr of the double: 0.1, 1e-300, -0.0, inf, -inf).
"""


# -- the parser ---------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="leakdb",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"leakdb {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (handler, summary, details, arguments) in COMMANDS.items():
        command = commands.add_parser(
            name,
            help=summary,
            description=f"{summary}.\n\n{details}" if details else summary + ".",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        arguments(command)
        command.set_defaults(handler=handler)
    return parser


def _file_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="the data file (for shelve: the name without .dat/.dir)")


def _db_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", type=int, default=0, metavar="N", help="database number (default: 0)")


def _databases_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--databases",
        type=int,
        default=DEFAULT_DATABASES,
        metavar="N",
        help=f"number of databases the server is configured with (default: {DEFAULT_DATABASES})",
    )


def _info_arguments(parser: argparse.ArgumentParser) -> None:
    _file_argument(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def _check_arguments(parser: argparse.ArgumentParser) -> None:
    _file_argument(parser)
    _databases_argument(parser)


def _get_arguments(parser: argparse.ArgumentParser) -> None:
    _file_argument(parser)
    parser.add_argument("key", metavar="KEY", help="the key, as bytes of the command line")
    _db_argument(parser)
    parser.add_argument("--json", action="store_true", help="print the key as a JSON line, as export does")


def _keys_arguments(parser: argparse.ArgumentParser) -> None:
    _file_argument(parser)
    parser.add_argument("pattern", metavar="PATTERN", nargs="?", default="*", help="Redis glob (default: *)")
    _db_argument(parser)
    parser.add_argument("-0", "--null", action="store_true", help="end each key with NUL instead of newline")


def _export_arguments(parser: argparse.ArgumentParser) -> None:
    _file_argument(parser)
    parser.add_argument("--format", choices=("json", "resp"), default="json", help="default: json")
    parser.add_argument("-o", "--output", metavar="OUT", help="write to OUT (atomically) instead of stdout")
    _databases_argument(parser)


def _import_arguments(parser: argparse.ArgumentParser) -> None:
    _file_argument(parser)
    parser.add_argument("source", metavar="SOURCE", help="a file written by export, or - for stdin")
    parser.add_argument(
        "--format", choices=("json", "resp"), help="default: resp if SOURCE starts with '*', else json"
    )
    parser.add_argument("--backend", choices=tuple(BACKENDS), help="backend of a new FILE (default: sqlite)")
    _databases_argument(parser)


def _convert_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("src", metavar="SRC", help="the data file to read")
    parser.add_argument("dst", metavar="DST", help="the data file to write")
    parser.add_argument("--backend", choices=tuple(BACKENDS), required=True, help="backend of DST")
    parser.add_argument("--force", action="store_true", help="replace DST if it exists")
    _databases_argument(parser)


# -- read-only commands --------------------------------------------------------------------------------


def cmd_info(args: argparse.Namespace) -> int:
    with open_data_file(args.file) as data:
        report = file_info(data)
    if args.json:
        print(json.dumps(report, indent=2))
        return EXIT_OK
    last_write = datetime.datetime.fromtimestamp(report["last_write"]).astimezone().isoformat(" ", "seconds")
    print(f"file: {report['file']}")
    print(f"backend: {report['backend']}")
    print(f"format version: {report['format_version']}")
    print(f"size: {report['size']} bytes")
    print(f"last write: {last_write}")
    expiry = f"{report['expires']} with expiry, {report['expired']} expired not yet removed"
    print(f"keys: {report['keys']} ({expiry})")
    for db, counts in report["databases"].items():
        types = ",".join(f"{name}={count}" for name, count in sorted(counts["types"].items()))
        print(
            f"db{db}: keys={counts['keys']},expires={counts['expires']},expired={counts['expired']} {types}"
        )
    for warning in report["warnings"]:
        print(f"warning: {warning}")
    return EXIT_OK


def file_info(data: DataFile) -> dict[str, Any]:
    """Everything ``leakdb info`` reports, as a JSON-ready dict."""
    databases: dict[int, dict[str, Any]] = {}
    for db, type_name, keys, expires, expired in data.summary(now_ms()):
        if db == META_DB:
            continue  # the function libraries' record, not a key
        counts = databases.setdefault(db, {"keys": 0, "expires": 0, "expired": 0, "types": {}})
        counts["keys"] += keys - expired
        counts["expires"] += expires - expired
        counts["expired"] += expired
        if keys > expired:
            counts["types"][type_name] = counts["types"].get(type_name, 0) + keys - expired
    return {
        "file": data.path,
        "backend": data.backend,
        "format_version": data.format_version,
        "size": data.file_size(),
        "last_write": data.mtime(),
        "keys": sum(c["keys"] for c in databases.values()),
        "expires": sum(c["expires"] for c in databases.values()),
        "expired": sum(c["expired"] for c in databases.values()),
        "databases": {str(db): databases[db] for db in sorted(databases)},
        "warnings": file_warnings(data),
    }


def file_warnings(data: DataFile) -> list[str]:
    """What makes a file slow or big beyond its data: the shelve layouts' costs."""
    if not isinstance(data, ShelveFile):
        return []
    warnings = []
    unused = data.unused_bytes()
    if data.format_version < 2:
        warnings.append(
            "this shelve file has LeakDB's first layout, a 512-byte block per value: big, and slow "
            "to load; leakdb-server packs it when it next opens it (the file then needs this "
            "LeakDB, or a newer one, to be written)"
        )
    elif unused > 1024 * 1024 and unused > data.file_size() // 2:
        warnings.append(
            f"{unused} bytes of {data.path}.dat are unused; leakdb-server compacts the file when "
            "it next opens it"
        )
    if data.count() > 100_000:
        warnings.append(
            f"{data.count()} keys in a shelve file: every key is read and checked one by one at "
            "start-up, and the index is rewritten whole as it grows; the sqlite backend "
            "('leakdb convert') loads faster and writes less"
        )
    return warnings


def cmd_check(args: argparse.Namespace) -> int:
    try:
        data = open_data_file(args.file)
    except StorageError as error:
        print(f"{args.file}: NOT SOUND\n  {error}")
        return EXIT_FAIL
    with data:
        problems, checked, expired = check_file(data, args.databases)
    if not problems:
        print(
            f"{args.file}: sound ({data.backend} backend, format version {data.format_version}, "
            f"{checked} keys, {expired} expired not yet removed)"
        )
        return EXIT_OK
    print(f"{args.file}: NOT SOUND, {len(problems)} problem(s) ({checked} records read):")
    for problem in problems[:MAX_REPORTED_PROBLEMS]:
        print(f"  {problem}")
    if len(problems) > MAX_REPORTED_PROBLEMS:
        print(f"  ... and {len(problems) - MAX_REPORTED_PROBLEMS} more")
    return EXIT_FAIL


def check_file(data: DataFile, databases: int) -> tuple[list[str], int, int]:
    """(problems, records checked, expired records) for every record and the file's structure."""
    problems = list(data.structure_problems())
    try:
        total = data.count()
    except StorageError as error:
        problems.append(str(error))
        total = 0
    progress = Progress("checking", total)
    now = now_ms()
    checked = expired = 0
    for entry in data.entries():
        checked += 1
        progress.advance()
        if isinstance(entry, BadRecord):
            problems.append(str(entry))
            continue
        problem = entry_problem(entry, databases)
        if problem is not None:
            problems.append(f"db {entry.db} key {entry.key!r}: {problem}")
        elif entry.expire_at_ms is not None and entry.expire_at_ms <= now:
            expired += 1
    progress.finish()
    return problems, checked, expired


def cmd_get(args: argparse.Namespace) -> int:
    key = os.fsencode(args.key)
    with open_data_file(args.file) as data:
        entry = data.lookup(args.db, key)
        now = now_ms()
        if entry is None or (entry.expire_at_ms is not None and entry.expire_at_ms <= now):
            print(f"leakdb: no key {key!r} in db {args.db} of {args.file}", file=sys.stderr)
            return EXIT_FAIL
        problem = entry_problem(entry, DEFAULT_DATABASES)
        if problem is not None:
            raise StorageError(f"{args.file}: db {entry.db} key {entry.key!r}: {problem}")
        out = sys.stdout.buffer
        if args.json:
            out.write(json_line(entry.db, entry.key, entry.type_name, entry.value(), _ttl(entry, now)))
        elif entry.type_name == "string":
            out.write(entry.blob + (b"\n" if out.isatty() else b""))
        else:
            out.write(b"".join(member + b"\n" for member in _members(entry)))
    return EXIT_OK


def _members(entry: Entry) -> list[bytes]:
    return flatten(entry.type_name, entry.value())


def _ttl(entry: Entry, now: int) -> int | None:
    return None if entry.expire_at_ms is None else entry.expire_at_ms - now


def cmd_keys(args: argparse.Namespace) -> int:
    matches = _matcher(os.fsencode(args.pattern))
    end = b"\0" if args.null else b"\n"
    out = sys.stdout.buffer
    now = now_ms()
    with open_data_file(args.file) as data:
        for entry in data.entries():
            if isinstance(entry, BadRecord) or entry.db != args.db:
                continue
            if (entry.expire_at_ms is None or entry.expire_at_ms > now) and matches(entry.key):
                out.write(entry.key + end)
    return EXIT_OK


def _matcher(pattern: bytes) -> Callable[[bytes], bool]:
    if compile_glob is not None:
        return compile_glob(pattern)
    text = pattern.decode("utf-8", "surrogateescape")
    return lambda key: fnmatch.fnmatchcase(key.decode("utf-8", "surrogateescape"), text)


def cmd_export(args: argparse.Namespace) -> int:
    with open_data_file(args.file) as data:
        if args.output:
            written, skipped = _export_to_file(data, args)
        else:
            output_is_tty = sys.stdout.isatty()
            written, skipped = export(data, sys.stdout.buffer, args.format, args.databases, output_is_tty)
    if args.output:
        print(f"exported {written} keys to {args.output} ({skipped} expired keys left out)", file=sys.stderr)
    return EXIT_OK


def _export_to_file(data: DataFile, args: argparse.Namespace) -> tuple[int, int]:
    directory = os.path.dirname(os.path.abspath(args.output))
    handle, temp = tempfile.mkstemp(prefix=".leakdb-export-", dir=directory)
    try:
        with os.fdopen(handle, "wb") as out:
            counts = export(data, out, args.format, args.databases)
        os.replace(temp, args.output)
    except BaseException:
        os.unlink(temp)
        raise
    return counts


def export(
    data: DataFile, out: BinaryIO, fmt: str, databases: int, output_is_tty: bool = False
) -> tuple[int, int]:
    """Write every live key of `data` to `out`; (keys written, expired keys left out)."""
    progress = Progress("exporting", data.count(), output_is_tty=output_is_tty)
    now = now_ms()
    written = skipped = 0
    selected = None
    for entry in sound_entries(data, databases):
        progress.advance()
        if entry.expire_at_ms is not None and entry.expire_at_ms <= now:
            skipped += 1
            continue
        if fmt == "json":
            out.write(json_line(entry.db, entry.key, entry.type_name, entry.value(), _ttl(entry, now)))
        elif entry.db == META_DB:
            continue  # function libraries: Redis loads them with FUNCTION RESTORE, not commands
        else:
            if entry.db != selected:
                out.write(resp_command(b"SELECT", b"%d" % entry.db))
                selected = entry.db
            out.write(resp_key(entry.key, entry.type_name, entry.value(), entry.expire_at_ms))
        written += 1
    progress.finish()
    return written, skipped


# -- writing commands ----------------------------------------------------------------------------------


def cmd_import(args: argparse.Namespace) -> int:
    dataset = Dataset(now_ms(), args.databases)
    try:
        _read_source(dataset, args.source, args.format)
    except FormatError as error:
        raise StorageError(f"{args.source}, {error}; {args.file} is unchanged") from None
    records = list(dataset.records())
    existing = detect_backend(args.file)
    if existing is not None and args.backend and args.backend != existing:
        raise StorageError(f"{args.file} is a {existing} store, not {args.backend}; use convert first")
    backend = existing or args.backend or "sqlite"
    if existing == "sqlite":
        merge_in_place(args.file, backend, records)
    else:
        base = args.file if existing else ""  # a shelve store is copied, merged, and moved back
        build_store(args.file, backend, records, Progress("importing", len(records)), base=base)
    print(f"imported {len(records)} keys into {args.file} ({backend} backend)", file=sys.stderr)
    return EXIT_OK


def _read_source(dataset: Dataset, source: str, fmt: str | None) -> None:
    stream = sys.stdin.buffer if source == "-" else open(source, "rb")  # noqa: SIM115 (closed below)
    try:
        if fmt is None:
            fmt = "resp" if stream.peek(1)[:1] == b"*" else "json"
        if fmt == "resp":
            dataset.read_resp(stream)
        else:
            dataset.read_json(stream)
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


def cmd_convert(args: argparse.Namespace) -> int:
    if os.path.abspath(args.src) == os.path.abspath(args.dst):
        raise StorageError("SRC and DST are the same file")
    if (store_files(args.dst) or os.path.exists(args.dst)) and not args.force:
        raise StorageError(f"{args.dst} exists; pass --force to replace it")
    with open_data_file(args.src) as data:
        progress = Progress("converting", data.count())
        build_store(args.dst, args.backend, _live_records(data, args.databases), progress)
    print(f"converted {args.src} ({data.backend}) to {args.dst} ({args.backend})", file=sys.stderr)
    return EXIT_OK


def _live_records(data: DataFile, databases: int) -> Iterator[tuple[int, bytes, Any, int | None]]:
    now = now_ms()
    for entry in sound_entries(data, databases):
        if entry.expire_at_ms is None or entry.expire_at_ms > now:
            yield entry.db, entry.key, entry.value(), entry.expire_at_ms


# -- dispatch ------------------------------------------------------------------------------------------

Handler = Callable[[argparse.Namespace], int]
# name -> (handler, one-line summary, details for the command's --help, arguments)
COMMANDS: dict[str, tuple[Handler, str, str, Callable[[argparse.ArgumentParser], None]]] = {
    "info": (
        cmd_info,
        "show backend, format version, key counts per database and type, size and last write time",
        "Expired keys that are still stored (removed when a server next opens the file) are counted apart.",
        _info_arguments,
    ),
    "check": (
        cmd_check,
        "verify a data file without modifying it",
        "Checks the header and format version, the file's own structure (SQLite integrity_check),\n"
        "that every record decodes, and that database numbers and expiry deadlines are sane.\n"
        "Exit status 0 when sound; 1 with a report of every problem otherwise.",
        _check_arguments,
    ),
    "get": (
        cmd_get,
        "print the value of one key",
        "A string is written as its exact bytes (a newline is added only on a terminal); a hash,\n"
        "list or set as one member per line (a hash: field, value, ...); a zset as ZRANGE ...\n"
        "WITHSCORES shows it: member, score, ... in ascending order, scores exact (repr of the\n"
        "double).  A missing or expired key exits with status 1.",
        _get_arguments,
    ),
    "keys": (
        cmd_keys,
        "list the live keys of a database matching a Redis glob pattern",
        "PATTERN follows Redis's KEYS syntax: * ? [abc] [^a] [a-z] and \\ escapes.",
        _keys_arguments,
    ),
    "export": (
        cmd_export,
        "write every live key as JSON lines or as Redis commands",
        JSON_FORMAT + "\n" + RESP_FORMAT,
        _export_arguments,
    ),
    "import": (
        cmd_import,
        "add the keys of an export to a data file, all or nothing",
        "FILE is created if missing (with --backend, default sqlite); keys already in FILE are kept\n"
        "unless SOURCE sets them.  SOURCE is read completely first: a bad line aborts with its line\n"
        "number and FILE is left unchanged.  An SQLite FILE takes the keys in one transaction; a new\n"
        "or shelve FILE is built under a temporary name and moved into place.  Do not import into a\n"
        "file a running server uses: the server would not see the keys and could overwrite them.\n\n"
        + JSON_FORMAT
        + "\n"
        + RESP_FORMAT
        + "RESP import also accepts SET with EX/PX/EXAT/PXAT, EXPIRE, PEXPIRE and EXPIREAT; ZADD\n"
        "takes score/member pairs (no NX, XX, GT, LT, CH or INCR) with scores read as Redis reads\n"
        "them.  A zset is stored as Redis loads a whole one: a set small enough for the listpack\n"
        "encoding (128 members of 64 bytes or less) keeps a score of -0 as 0, as Redis does.",
        _import_arguments,
    ),
    "convert": (
        cmd_convert,
        "copy a data file to a new file of another (or the same) backend",
        "Live keys are copied with their deadlines; expired ones are dropped.  DST is written under\n"
        "a temporary name and moved into place; it must not exist unless --force is given.",
        _convert_arguments,
    ),
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except BrokenPipeError:  # e.g. 'leakdb keys FILE | head': the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAIL
    except (StorageError, OSError, ValueError) as error:
        print(f"leakdb: error: {error}", file=sys.stderr)
        return EXIT_FAIL
