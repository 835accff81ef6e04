"""The ``leakdb`` command, run as a real subprocess on real data files of both backends.

Files are made with LeakDB's own storage classes; exports are replayed into a real redis-server with
``redis-cli --pipe`` and compared through redis-py; read-only commands must leave every byte in place.
"""

from __future__ import annotations

import dbm
import hashlib
import json
import math
import os
import pty
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import HANG_SECONDS, require, wall_ms

from leakdb import PersistentStorage
from leakdb.engine.keyspace import SET, Change, now_ms
from leakdb.engine.zset import ZSet
from leakdb.persistence import SQLiteBackend
from leakdb.persistence.containers import pack_scored
from leakdb.persistence.shelve import SUFFIXES

ROOT = Path(__file__).resolve().parents[2]
BACKENDS = ["sqlite", "shelve"]
BINARY_KEY = b"caf\xe9:\r\n\x00key"  # not UTF-8, with CRLF and NUL
BINARY_VALUE = b"\x00\xff\r\nline\r\n\x80"


def run(*args: str | bytes | Path, stdin: bytes | None = None, stderr: int | None = None):
    """`python -m leakdb.tool ARGS` in a subprocess; stdout and stderr are bytes."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "leakdb.tool", *map(os.fspath, args)],
        input=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if stderr is None else stderr,
        env=env,
        timeout=HANG_SECONDS,
    )


def fingerprint(path: Path) -> dict[str, str]:
    """sha256 of every file of the store at `path`, sidecars included."""
    found = {}
    for suffix in (*SUFFIXES, ".bak", "-wal", "-shm", "-journal"):
        candidate = Path(str(path) + suffix)
        if candidate.exists():
            found[candidate.name] = hashlib.sha256(candidate.read_bytes()).hexdigest()
    return found


def make_store(path: Path, backend: str) -> Path:
    """A store with text, binary, expiring, expired and non-zero-database keys."""
    storage = PersistentStorage(path, backend=backend)
    database = storage.keyspace[0]
    storage.set("greeting", "hello")
    database.set(BINARY_KEY, BINARY_VALUE)
    database.set(b"user:1", b"ann")
    database.set(b"user:2", b"bob")
    database.set(b"user:10", b"cy")
    database.set(b"session", b"token", now_ms() + 100_000)
    database.set(b"stale", b"old", now_ms() + 30)
    storage.keyspace[3].set(b"else\xffwhere", b"\xfe\xfd")
    storage.close()
    time.sleep(0.05)  # `stale` is now expired but still in the file
    return path


def contents(path: Path, backend: str) -> dict[tuple[int, bytes], tuple[bytes, int | None]]:
    """Every live key of a store, read back through the Python API."""
    storage = PersistentStorage(path, backend=backend)
    try:
        return {(db, key): (value, deadline) for db, key, value, deadline in storage.keyspace.items()}
    finally:
        storage.close()


def assert_same_data(actual: dict, expected: dict, drift: tuple[int, int] = (0, 0)) -> None:
    """Same keys and values; each deadline moved by `drift` (least, most ms) or, by default, the same.

    A JSON export carries the time left and an import adds its own now, so a deadline comes back
    later by the time between the two, which the caller measures around them.
    """
    assert actual.keys() == expected.keys()
    for name, (value, deadline) in expected.items():
        got_value, got_deadline = actual[name]
        assert got_value == value, name
        if deadline is None:
            assert got_deadline is None, name
        else:
            assert drift[0] <= got_deadline - deadline <= drift[1], (name, deadline, got_deadline, drift)


def timed_run(*args, **kwargs) -> tuple[subprocess.CompletedProcess, int, int]:
    """run(), with the wall clock (ms) read just before it starts and just after it ends."""
    before = wall_ms()
    result = run(*args, **kwargs)
    return result, before, wall_ms()


def assert_ttl_read_between(ttl_ms: int, deadline: int, before: int, after: int) -> None:
    """A TTL the tool computed as `deadline` minus its own now, which lies in [before, after]."""
    assert deadline - after <= ttl_ms <= deadline - before, (ttl_ms, deadline, before, after)


def store_files(path: Path) -> list[Path]:
    candidates = [Path(str(path) + suffix) for suffix in ("-wal", *SUFFIXES)]
    return [candidate for candidate in candidates if candidate.is_file()]


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def store(tmp_path, backend) -> Path:
    return make_store(tmp_path / "data.db", backend)


# -- help ---------------------------------------------------------------------------------------------


def test_help_documents_every_command():
    result = run("--help")
    assert result.returncode == 0
    text = result.stdout.decode()
    for command in ("info", "check", "get", "keys", "export", "import", "convert"):
        assert command in text
        sub = run(command, "--help")
        assert sub.returncode == 0, command
        assert b"usage: leakdb " + command.encode() in sub.stdout
    assert b"key_b64" in run("export", "--help").stdout
    assert b"PEXPIREAT" in run("import", "--help").stdout
    assert run().returncode == 2


# -- read-only commands ---------------------------------------------------------------------------------


def test_info(store, backend):
    before = fingerprint(store)
    result = run("info", store, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["backend"] == backend
    assert report["format_version"] == {"sqlite": 1, "shelve": 2}[backend]  # shelve 2: packed values
    assert report["keys"] == 7
    assert report["expires"] == 1
    assert report["expired"] == 1
    assert report["databases"]["0"]["types"] == {"string": 6}
    assert report["databases"]["3"]["keys"] == 1
    assert report["size"] > 0
    assert report["last_write"] == max(os.path.getmtime(file) for file in store_files(store))
    assert report["last_write"] <= time.time()
    text = run("info", store).stdout.decode()
    assert f"backend: {backend}" in text
    assert "db0: keys=6,expires=1,expired=1" in text
    assert fingerprint(store) == before


def test_check_sound_file_is_left_untouched(store, backend):
    before = fingerprint(store)
    result = run("check", store)
    assert result.returncode == 0, result.stdout
    assert b"sound" in result.stdout and b"8 keys" in result.stdout
    assert fingerprint(store) == before  # same bytes, and no -wal/-shm/.bak appeared


def test_get(store, backend):
    deadline = contents(store, backend)[0, b"session"][1]
    before = fingerprint(store)
    assert run("get", store, "greeting").stdout == b'"hello"'
    assert run("get", store, b"else\xffwhere", "--db", "3").stdout == b"\xfe\xfd"  # non-UTF-8 argv
    missing = run("get", store, "nope")
    assert missing.returncode == 1 and b"no key" in missing.stderr
    assert run("get", store, "stale").returncode == 1  # expired keys are gone, as for a server
    result, started, ended = timed_run("get", store, "session", "--json")
    record = json.loads(result.stdout)
    assert record["key"] == "session"
    assert_ttl_read_between(record["ttl_ms"], deadline, started, ended)
    assert fingerprint(store) == before


def test_keys(store):
    before = fingerprint(store)
    assert run("keys", store, "user:*").stdout.split() == [b"user:1", b"user:10", b"user:2"]
    assert run("keys", store, "user:?").stdout.split() == [b"user:1", b"user:2"]
    assert run("keys", store, "user:[^2]*").stdout.split() == [b"user:1", b"user:10"]
    everything = run("keys", store, "--null").stdout
    assert everything.startswith(BINARY_KEY + b"\0")  # sorted bytewise; CRLF and NUL kept exactly
    assert everything.count(b"\0") == 7 and b"\0greeting\0" in everything
    assert run("keys", store, "--db", "3").stdout == b"else\xffwhere\n"
    assert fingerprint(store) == before


# -- damaged and foreign files -------------------------------------------------------------------------


def test_check_reports_damaged_sqlite_records(tmp_path):
    path = make_store(tmp_path / "bad.db", "sqlite")
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE keys SET type = 'zset9' WHERE key = ?", (b"user:1",))
        connection.execute("UPDATE keys SET expire_at_ms = -5 WHERE key = ?", (b"user:2",))
        connection.execute("UPDATE keys SET db = 99 WHERE key = ?", (b"user:10",))
        connection.execute("UPDATE keys SET key = 'text' WHERE key = ?", (b"greeting",))
    connection.close()
    before = fingerprint(path)
    result = run("check", path)
    report = result.stdout.decode()
    assert result.returncode == 1
    assert "4 problem(s)" in report
    assert "db 0 key b'user:1': unknown value type 'zset9'" in report
    assert "db 0 key b'user:2': expiry deadline -5 ms" in report
    assert "db 99 key b'user:10': database 99 is outside 0..15" in report
    assert "key b'text': key and value must be blobs, found text and blob" in report
    assert fingerprint(path) == before
    exported = run("export", path)
    assert exported.returncode == 1 and b"leakdb check" in exported.stderr


def test_check_reports_corrupt_sqlite_pages(tmp_path):
    path = tmp_path / "torn.db"
    backend = SQLiteBackend(str(path))
    backend.open()
    backend.apply([Change(SET, 0, b"key%d" % i, b"v" * 50, None) for i in range(3000)])
    backend.close()
    data = bytearray(path.read_bytes())
    data[4096 * 3 : 4096 * 5] = os.urandom(8192)
    path.write_bytes(bytes(data))
    before = fingerprint(path)
    result = run("check", path)
    assert result.returncode == 1
    assert b"NOT SOUND" in result.stdout
    assert b"integrity" in result.stdout or b"malformed" in result.stdout
    assert fingerprint(path) == before


def test_check_reports_damaged_shelve_records(tmp_path):
    path = make_store(tmp_path / "bad.db", "shelve")
    with dbm.open(str(path), "w") as store:
        store[b"0:user:1"] = b"string -1 99\nshort"
        store[b"0:user:2"] = b"garbage without a header"
        store[b"0:user:10"] = b"string 12x 2\nab"
    before = fingerprint(path)
    result = run("check", path)
    report = result.stdout.decode()
    assert result.returncode == 1
    # dbm.dumb's writer rewrote two records in place, longer than LeakDB's packed space for them,
    # into the next value: damage beyond the three records, which check reports as well.
    assert "5 problem(s)" in report and report.count("share bytes") == 2
    assert "db 0 key b'user:1': record b'user:1' is truncated" in report
    assert "db 0 key b'user:2': malformed record header" in report
    assert "db 0 key b'user:10': malformed record header" in report
    assert fingerprint(path) == before


@pytest.mark.parametrize("kind", ["sqlite", "bytes"])
def test_foreign_files_are_refused_untouched(tmp_path, kind):
    path = tmp_path / "foreign"
    if kind == "bytes":
        path.write_bytes(os.urandom(3000))
    else:
        with sqlite3.connect(path) as connection:
            connection.execute("CREATE TABLE keys (x)")  # a table LeakDB uses, but no leakdb_meta
            connection.execute("INSERT INTO keys VALUES (1)")
        connection.close()
    before = fingerprint(path)
    for command in ("check", "info", "export"):
        result = run(command, path)
        assert result.returncode == 1, command
        assert b"not a LeakDB file" in result.stdout + result.stderr, command
    result = run("import", path, "-", stdin=b'{"key": "a", "value": "b"}\n')
    assert result.returncode == 1 and b"not a LeakDB file" in result.stderr
    assert fingerprint(path) == before


def test_missing_file(tmp_path):
    result = run("info", tmp_path / "absent.db")
    assert result.returncode == 1 and b"does not exist" in result.stderr
    assert list(tmp_path.iterdir()) == []


# -- export and import -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "resp"])
def test_export_import_round_trip(tmp_path, store, backend, fmt):
    expected = contents(store, backend)
    target_backend = "shelve" if backend == "sqlite" else "sqlite"
    exported = tmp_path / f"export.{fmt}"
    result, exported_from, _ = timed_run("export", store, "--format", fmt, "-o", exported)
    assert result.returncode == 0, result.stderr
    target = tmp_path / "copy.db"
    result, _, imported_by = timed_run("import", target, exported, "--backend", target_backend)
    assert result.returncode == 0, result.stderr
    assert b"imported 7 keys" in result.stderr
    # RESP carries absolute deadlines (PEXPIREAT); JSON the time left, which the import adds to its now.
    drift = (0, 0) if fmt == "resp" else (0, imported_by - exported_from)
    assert_same_data(contents(target, target_backend), expected, drift)
    assert run("check", target).returncode == 0


def test_json_export_is_readable_and_binary_safe(store, backend):
    deadline = contents(store, backend)[0, b"session"][1]
    result, started, ended = timed_run("export", store)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    by_key = {line.get("key") or line.get("key_b64"): line for line in lines}
    assert by_key["user:1"] == {"db": 0, "key": "user:1", "type": "string", "value": "ann", "ttl_ms": None}
    binary = [line for line in lines if "key_b64" in line]
    assert len(binary) == 2 and all("value_b64" in line for line in binary)
    assert [line["db"] for line in lines if line.get("key_b64") == "ZWxzZf93aGVyZQ=="] == [3]
    assert_ttl_read_between(by_key["session"]["ttl_ms"], deadline, started, ended)
    assert "stale" not in by_key


def test_import_text_with_control_characters_and_stdin(tmp_path):
    source = b"".join(
        json.dumps(record).encode() + b"\n"
        for record in [
            {"db": 0, "key": "a\r\nb\u0000", "type": "string", "value": "x\u0000\r\ny", "ttl_ms": None},
            {"db": 2, "key": "t", "type": "string", "value": "é", "ttl_ms": 5000},
        ]
    )
    target = tmp_path / "new.db"
    result, started, ended = timed_run("import", target, "-", stdin=source)
    assert result.returncode == 0
    data = contents(target, "sqlite")
    assert data[0, b"a\r\nb\x00"] == (b"x\x00\r\ny", None)
    value, deadline = data[2, b"t"]
    assert value == "é".encode()
    assert started + 5000 <= deadline <= ended + 5000  # the import's now plus ttl_ms


@pytest.mark.parametrize(
    ("source", "line", "message"),
    [
        (b'{"key": "a", "value": "1"}\n\n{"key": "b"}\n', 3, "exactly one of 'value'"),
        (b'{"key": "a", "value": "1"}\nnot json\n', 2, "not JSON"),
        (b'{"key": "a", "value": "1", "db": 16}\n', 1, "'db' must be an integer from 0 to 15"),
        (b'{"key": "a", "value_b64": "!!"}\n', 1, "not valid base64"),
        (b'{"key": "a", "value": "1", "ttl_ms": -3}\n', 1, "'ttl_ms' must be a positive integer"),
        (
            b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$3\r\nDEL\r\n$1\r\na\r\n",
            8,
            "unsupported command",
        ),
        (b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$5\r\nx\r\ny\r\n", 7, "truncated"),
        (b"*2\r\n$9\r\nPEXPIREAT\r\n$1\r\na\r\n", 1, "takes a key and an integer"),
        (b'{"key": "z", "type": "zset", "value": [["a", "nan"]]}\n', 1, "the only strings are 'inf'"),
        (b"*4\r\n$4\r\nZADD\r\n$1\r\nz\r\n$3\r\nnan\r\n$1\r\na\r\n", 1, "not a valid float"),
    ],
)
def test_bad_import_line_aborts_and_leaves_file_unchanged(tmp_path, source, line, message):
    target = make_store(tmp_path / "data.db", "sqlite")
    before = fingerprint(target)
    result = run("import", target, "-", stdin=source)
    assert result.returncode == 1
    assert f"line {line}: ".encode() in result.stderr
    assert message.encode() in result.stderr
    assert b"unchanged" in result.stderr
    assert fingerprint(target) == before
    fresh = tmp_path / "fresh.db"
    assert run("import", fresh, "-", stdin=source).returncode == 1
    assert not any(tmp_path.glob("fresh*")) and not any(tmp_path.glob(".leakdb-*"))


def test_bad_import_leaves_shelve_file_unchanged(tmp_path):
    target = make_store(tmp_path / "data.db", "shelve")
    before = fingerprint(target)
    result = run("import", target, "-", stdin=b'{"key": "a", "value": "1"}\n{"key": 5, "value": "1"}\n')
    assert result.returncode == 1 and b"line 2: 'key' must be a string" in result.stderr
    assert fingerprint(target) == before
    assert not any(tmp_path.glob(".leakdb-*"))


def test_import_merges_into_existing_file(store, backend):
    expected = contents(store, backend)
    source = b'{"key": "user:1", "value": "new"}\n{"db": 4, "key": "added", "value": "x"}\n'
    result = run("import", store, "-", stdin=source)
    assert result.returncode == 0, result.stderr
    expected[0, b"user:1"] = (b"new", None)
    expected[4, b"added"] = (b"x", None)
    assert_same_data(contents(store, backend), expected)
    other = "shelve" if backend == "sqlite" else "sqlite"
    refused = run("import", store, "-", "--backend", other, stdin=source)
    assert refused.returncode == 1 and b"use convert" in refused.stderr


def test_resp_export_replays_into_redis(tmp_path, store, backend, redis_server):
    redis_cli = require("redis-cli")
    client = redis_server.client()
    client.flushall()
    exported = run("export", store, "--format", "resp").stdout
    replay = subprocess.run(
        [redis_cli, "-p", str(redis_server.port), "--pipe"],
        input=exported,
        capture_output=True,
        timeout=HANG_SECONDS,
    )
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert b"errors: 0" in replay.stdout
    expected = contents(store, backend)
    for (db, key), (value, deadline) in expected.items():
        client.execute_command("SELECT", db)
        assert client.get(key) == value
        assert client.pexpiretime(key) == (-1 if deadline is None else deadline)  # PEXPIREAT, exactly
    client.execute_command("SELECT", 0)
    assert client.dbsize() == sum(1 for db, _ in expected if db == 0)
    client.flushall()
    client.close()


# -- sorted sets -------------------------------------------------------------------------------------------

LONG_MEMBER = b"m" * 80  # longer than a listpack member: the set is a skiplist, in LeakDB and Redis alike
ZSETS = {
    # A listpack-sized set (where Redis and LeakDB keep -0 as 0) with a binary member: value_b64.
    (0, b"board"): [(b"\xffbin\r\n\x00", -math.inf), (b"tiny", 1e-300), (b"tenth", 0.1), (b"top", math.inf)],
    # A skiplist set, where -0.0 keeps its sign; text members: value.
    (0, b"wide"): [
        (LONG_MEMBER, -math.inf),
        (b"neg-zero", -0.0),
        (b"zero", 0.0),
        (b"big", 1.7976931348623157e308),
    ],
    (2, BINARY_KEY): [(b"a", 1.0), (b"b", 2.5)],
}


def exact(zset: ZSet) -> list[tuple[bytes, str]]:
    """(member, repr of score) in ZRANGE order: equality that tells -0.0 from 0.0."""
    return [(member, repr(score)) for score, member in zset.index]


def make_zset_store(path: Path, backend: str) -> Path:
    storage = PersistentStorage(path, backend=backend)
    for (db, key), pairs in ZSETS.items():
        deadline = now_ms() + 100_000 if db == 2 else None
        storage.keyspace[db].set(key, ZSet.from_pairs(pairs), deadline)
    storage.keyspace[0].set(b"plain", b"string")
    storage.close()
    return path


def zset_contents(path: Path, backend: str) -> dict[tuple[int, bytes], list[tuple[bytes, str]]]:
    return {
        name: exact(value) for name, (value, _) in contents(path, backend).items() if isinstance(value, ZSet)
    }


EXPECTED_ZSETS = {name: exact(ZSet.from_pairs(pairs)) for name, pairs in ZSETS.items()}


@pytest.fixture
def zset_store(tmp_path, backend) -> Path:
    return make_zset_store(tmp_path / "zsets.db", backend)


def test_zset_json_representation(tmp_path):
    zset_store = make_zset_store(tmp_path / "zsets.db", "sqlite")  # the export is the same for both
    deadline = contents(zset_store, "sqlite")[2, BINARY_KEY][1]
    result, started, ended = timed_run("export", zset_store)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    by_key = {line.get("key") or line.get("key_b64"): line for line in lines}
    assert by_key["board"]["value_b64"] == [
        ["/2Jpbg0KAA==", "-inf"],
        ["dGlueQ==", 1e-300],
        ["dGVudGg=", 0.1],
        ["dG9w", "inf"],
    ]
    wide = by_key["wide"]
    assert wide["type"] == "zset" and wide["ttl_ms"] is None
    assert wide["value"] == [
        [LONG_MEMBER.decode(), "-inf"],
        ["neg-zero", -0.0],
        ["zero", 0.0],
        ["big", 1.7976931348623157e308],
    ]
    assert math.copysign(1, wide["value"][1][1]) == -1
    assert_ttl_read_between(by_key["Y2Fm6ToNCgBrZXk="]["ttl_ms"], deadline, started, ended)


@pytest.mark.parametrize("fmt", ["json", "resp"])
def test_zset_export_import_round_trip_is_exact(tmp_path, zset_store, backend, fmt):
    assert zset_contents(zset_store, backend) == EXPECTED_ZSETS
    other = "shelve" if backend == "sqlite" else "sqlite"
    exported = tmp_path / f"export.{fmt}"
    assert run("export", zset_store, "--format", fmt, "-o", exported).returncode == 0
    target = tmp_path / "copy.db"
    result = run("import", target, exported, "--backend", other)
    assert result.returncode == 0, result.stderr
    assert zset_contents(target, other) == EXPECTED_ZSETS
    assert contents(target, other)[0, b"plain"] == (b"string", None)
    again = run("export", target, "--format", fmt).stdout
    if fmt == "resp":  # absolute deadlines: the same bytes
        assert again == exported.read_bytes()
    else:  # relative TTLs shrink as time passes
        assert without_ttl(again) == without_ttl(exported.read_bytes())


def without_ttl(export: bytes) -> list[dict]:
    return [{**json.loads(line), "ttl_ms": None} for line in export.splitlines()]


def test_zset_resp_export_replays_into_redis(tmp_path, redis_server):
    zset_store = make_zset_store(tmp_path / "zsets.db", "sqlite")  # the export is the same for both
    redis_cli = require("redis-cli")
    client = redis_server.client()
    client.flushall()
    exported = run("export", zset_store, "--format", "resp").stdout
    replay = subprocess.run(
        [redis_cli, "-p", str(redis_server.port), "--pipe"],
        input=exported,
        capture_output=True,
        timeout=HANG_SECONDS,
    )
    assert replay.returncode == 0 and b"errors: 0" in replay.stdout, replay.stdout + replay.stderr
    for (db, key), expected in EXPECTED_ZSETS.items():
        client.execute_command("SELECT", db)
        pairs = client.zrange(key, 0, -1, withscores=True, score_cast_func=float)
        assert [(member, repr(score)) for member, score in pairs] == expected
    client.execute_command("SELECT", 2)
    assert client.pexpiretime(BINARY_KEY) == contents(zset_store, "sqlite")[2, BINARY_KEY][1]
    client.flushall()
    client.close()


def test_zset_convert_round_trip(tmp_path, zset_store, backend):
    other = "shelve" if backend == "sqlite" else "sqlite"
    there, back = tmp_path / "there.db", tmp_path / "back.db"
    assert run("convert", zset_store, there, "--backend", other).returncode == 0
    assert zset_contents(there, other) == EXPECTED_ZSETS
    assert run("convert", there, back, "--backend", backend).returncode == 0
    assert zset_contents(back, backend) == EXPECTED_ZSETS


def test_zset_get_info_check(tmp_path):
    zset_store = make_zset_store(tmp_path / "zsets.db", "sqlite")  # the export is the same for both
    assert run("get", zset_store, "wide").stdout == (
        LONG_MEMBER + b"\n-inf\nneg-zero\n-0.0\nzero\n0.0\nbig\n1.7976931348623157e+308\n"
    )
    record = json.loads(run("get", zset_store, "board", "--json").stdout)
    assert record["type"] == "zset" and record["value_b64"][0] == ["/2Jpbg0KAA==", "-inf"]
    report = json.loads(run("info", zset_store, "--json").stdout)
    assert report["databases"]["0"]["types"] == {"string": 1, "zset": 2}
    assert b"sound" in run("check", zset_store).stdout


def test_check_reports_damaged_zset(tmp_path):
    path = make_zset_store(tmp_path / "bad.db", "sqlite")
    with sqlite3.connect(path) as connection:
        for key, blob in [
            (b"board", pack_scored([(b"a", math.nan)])),
            (b"wide", pack_scored([(b"a", 1.0), (b"a", 2.0)])),
        ]:
            connection.execute("UPDATE keys SET value = ? WHERE key = ?", (blob, key))
    connection.close()
    report = run("check", path).stdout.decode()
    assert "db 0 key b'board': zset member b'a' has a NaN score" in report
    assert "db 0 key b'wide': zset member b'a' is stored twice" in report


def test_zset_import_by_hand(tmp_path):
    # JSON: integer scores, "+inf", a later pair of the same member wins.  RESP: two ZADDs merge,
    # scores read as Redis reads them (any case of inf, hexadecimal floats).
    json_source = (
        b'{"key": "j", "type": "zset", "value": [["a", 3], ["b", "+inf"], ["c", -2.5e-5], ["a", 1]]}\n'
    )
    resp_source = (
        b"*4\r\n$4\r\nZADD\r\n$1\r\nr\r\n$4\r\n-INF\r\n$1\r\nx\r\n"
        b"*6\r\n$4\r\nzadd\r\n$1\r\nr\r\n$6\r\n0x1p-2\r\n$1\r\ny\r\n$1\r\n7\r\n$1\r\nx\r\n"
    )
    target = tmp_path / "new.db"
    assert run("import", target, "-", stdin=json_source).returncode == 0
    assert run("import", target, "-", stdin=resp_source).returncode == 0
    assert zset_contents(target, "sqlite") == {
        (0, b"j"): [(b"c", "-2.5e-05"), (b"a", "1.0"), (b"b", "inf")],
        (0, b"r"): [(b"y", "0.25"), (b"x", "7.0")],
    }


# -- convert -----------------------------------------------------------------------------------------------


def test_convert_between_backends(tmp_path, store, backend):
    expected = contents(store, backend)
    other = "shelve" if backend == "sqlite" else "sqlite"
    target = tmp_path / "converted.db"
    result = run("convert", store, target, "--backend", other)
    assert result.returncode == 0, result.stderr
    assert_same_data(contents(target, other), expected)
    before = fingerprint(target)
    refused = run("convert", store, target, "--backend", other)
    assert refused.returncode == 1 and b"--force" in refused.stderr
    assert fingerprint(target) == before
    # --force replaces the store, even with one of another backend, leaving none of its files behind.
    assert run("convert", store, target, "--backend", backend, "--force").returncode == 0
    assert_same_data(contents(target, backend), expected)
    assert json.loads(run("info", target, "--json").stdout)["backend"] == backend
    assert run("convert", store, store, "--backend", backend, "--force").returncode == 1
    assert not any(tmp_path.glob(".leakdb-*"))


# -- a server's open file, and a big one -----------------------------------------------------------------


def test_reading_sqlite_file_of_running_server(tmp_path, start_leakdb):
    server = start_leakdb("--storage", "persistent", "--backend", "sqlite", "--dbfilename", "live.db")
    client = server.client()
    client.set("k", "v1")
    client.set("t", "x", px=60_000)
    path = tmp_path / "live.db"
    assert Path(str(path) + "-wal").exists()  # the server holds it open in WAL mode
    assert run("get", path, "k").stdout == b"v1"
    assert run("check", path).returncode == 0
    client.set("k", "v2")  # the server still writes while and after the tool reads
    assert run("get", path, "k").stdout == b"v2"
    assert run("keys", path).stdout.split() == [b"k", b"t"]
    assert client.get("k") == b"v2"
    client.close()


BIG = 30_000  # keys in the big file: three times what the tool needs before it shows progress


@pytest.fixture(scope="module")
def big_store(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("big") / "big.db"
    backend = SQLiteBackend(str(path))
    backend.open()
    deadline = now_ms() + 3_600_000
    backend.apply(
        [
            Change(SET, i % 4, b"key:%06d" % i, b"value %d" % i, deadline if i % 10 == 0 else None)
            for i in range(BIG)
        ]
    )
    backend.close()
    return path


@pytest.mark.xdist_group("big_store")  # one big file for both
def test_big_file(big_store, tmp_path):
    before = fingerprint(big_store)
    result = run("check", big_store)
    assert result.returncode == 0 and b"%d keys" % BIG in result.stdout
    assert result.stderr == b""  # piped: no progress
    report = json.loads(run("info", big_store, "--json").stdout)
    assert report["keys"] == BIG and report["expires"] == BIG // 10
    exported = run("export", big_store)
    assert exported.stdout.count(b"\n") == BIG and exported.stderr == b""
    last = b"key:%06d" % (BIG - 1)  # key:029999 in db 3 (i % 4 == 3), as are ...91 and ...95
    assert run("keys", big_store, last[:-1] + b"*", "--db", "3").stdout.split() == [
        last[:-1] + b"1",
        last[:-1] + b"5",
        last,
    ]
    assert fingerprint(big_store) == before


@pytest.mark.xdist_group("big_store")  # one big file for both
def test_progress_is_shown_on_a_terminal(big_store):
    controller, terminal = pty.openpty()
    try:
        result = run("check", big_store, stderr=terminal)
        os.close(terminal)
        terminal = -1
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
    finally:
        if terminal != -1:
            os.close(terminal)
        os.close(controller)
    assert result.returncode == 0
    assert b"checking: " in shown and b"/%d keys" % BIG in shown
    assert shown.endswith(b"\r\x1b[K")  # the status line is erased at the end
