"""The interchange formats of ``leakdb export`` and ``leakdb import``: JSON lines and RESP commands.

Pure code over bytes, no files: writers turn one stored key into output bytes, readers turn input lines
into a :class:`Dataset`, raising :class:`FormatError` with the line number at the first bad line.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from .keyspace import DEFAULT_DATABASES, parse_int

# Members of each container type, flattened to a list of byte strings, and built back from one.
# Strings are a single byte string and handled on their own.
_FLATTEN: dict[str, Callable[[Any], list[bytes]]] = {
    "hash": lambda value: [part for pair in value.items() for part in pair],
    "list": list,
    "set": sorted,
}
# The Redis command that writes each type, so a RESP export replays into any Redis.
WRITE_COMMAND = {"string": b"SET", "hash": b"HSET", "list": b"RPUSH", "set": b"SADD"}
JSON_FIELDS = {"db", "key", "key_b64", "type", "value", "value_b64", "ttl_ms"}


class FormatError(ValueError):
    """A line of an import source that cannot be imported."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


def flatten(type_name: str, value: Any) -> list[bytes]:
    if type_name == "string":
        return [value]
    try:
        return _FLATTEN[type_name](value)
    except KeyError:
        raise ValueError(f"values of type {type_name!r} cannot be exported yet") from None


def build(type_name: str, members: list[bytes]) -> Any:
    """The engine value of `type_name` made of `members` (a string is its one member)."""
    if type_name == "string":
        return members[0]
    if type_name == "hash":
        if len(members) % 2:
            raise ValueError("a hash needs an even number of fields and values")
        return dict(zip(members[0::2], members[1::2], strict=True))
    if type_name == "list":
        return deque(members)
    if type_name == "set":
        return set(members)
    raise ValueError(f"unknown type {type_name!r}")


# -- JSON lines --------------------------------------------------------------------------------------


def _text_or_b64(name: str, parts: list[bytes], single: bool) -> dict[str, Any]:
    # UTF-8 text stays readable; anything else (invalid UTF-8) goes to the "_b64" field, all-or-nothing.
    try:
        texts = [part.decode("utf-8") for part in parts]
        return {name: texts[0] if single else texts}
    except UnicodeDecodeError:
        encoded = [base64.b64encode(part).decode("ascii") for part in parts]
        return {name + "_b64": encoded[0] if single else encoded}


def json_line(db: int, key: bytes, type_name: str, value: Any, ttl_ms: int | None) -> bytes:
    """One key as a JSON object on one line (newline included)."""
    record: dict[str, Any] = {"db": db, **_text_or_b64("key", [key], True), "type": type_name}
    record.update(_text_or_b64("value", flatten(type_name, value), type_name == "string"))
    record["ttl_ms"] = ttl_ms
    return json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n"


def _bytes_field(record: dict, name: str, single: bool) -> list[bytes]:
    present = [field for field in (name, name + "_b64") if field in record]
    if len(present) != 1:
        raise ValueError(f"needs exactly one of {name!r} and {name + '_b64'!r}")
    raw = record[present[0]]
    items = [raw] if single else raw
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        kind = "a string" if single else "a list of strings"
        raise ValueError(f"{present[0]!r} must be {kind}")
    if present[0] == name:
        return [item.encode("utf-8", "surrogatepass") for item in items]
    try:
        return [base64.b64decode(item, validate=True) for item in items]
    except binascii.Error:
        raise ValueError(f"{present[0]!r} is not valid base64") from None


def parse_json_record(line: bytes, databases: int) -> tuple[int, bytes, Any, int | None]:
    """(db, key, value, ttl_ms) of one JSON line; ValueError says what is wrong."""
    try:
        record = json.loads(line)
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"not JSON: {error}") from None
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    unknown = set(record) - JSON_FIELDS
    if unknown:
        raise ValueError(f"unknown field {sorted(unknown)[0]!r}")
    db = record.get("db", 0)
    if type(db) is not int or not 0 <= db < databases:
        raise ValueError(f"'db' must be an integer from 0 to {databases - 1}")
    type_name = record.get("type", "string")
    if type_name not in WRITE_COMMAND:
        raise ValueError(f"unknown type {type_name!r}")
    ttl_ms = record.get("ttl_ms")
    if ttl_ms is not None and (type(ttl_ms) is not int or ttl_ms <= 0):
        raise ValueError("'ttl_ms' must be a positive integer or null")
    key = _bytes_field(record, "key", True)[0]
    value = build(type_name, _bytes_field(record, "value", type_name == "string"))
    return db, key, value, ttl_ms


# -- RESP --------------------------------------------------------------------------------------------


def resp_command(*args: bytes) -> bytes:
    """A command as a RESP array of bulk strings, the form ``redis-cli --pipe`` sends."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        parts.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(parts)


def resp_key(key: bytes, type_name: str, value: Any, expire_at_ms: int | None) -> bytes:
    """The commands that recreate one key in the currently selected database."""
    out = resp_command(WRITE_COMMAND[type_name], key, *flatten(type_name, value))
    if expire_at_ms is not None:
        out += resp_command(b"PEXPIREAT", key, b"%d" % expire_at_ms)
    return out


def read_resp(stream: BinaryIO) -> Iterator[tuple[int, list[bytes]]]:
    """(line number, arguments) of each RESP command in `stream`; FormatError on malformed input."""
    line = 1
    while True:
        header = stream.readline()
        if not header:
            return
        start = line
        count = _resp_length(header, b"*", line)
        line += 1
        args = []
        for _ in range(count):
            size = _resp_length(stream.readline(), b"$", line)
            payload = stream.read(size + 2)
            if len(payload) != size + 2 or not payload.endswith(b"\r\n"):
                raise FormatError(line + 1, "bulk string is truncated or not followed by CRLF")
            args.append(payload[:-2])
            line += 1 + payload.count(b"\n")
        yield start, args


def _resp_length(header: bytes, marker: bytes, line: int) -> int:
    number = parse_int(header[1:-2]) if header.endswith(b"\r\n") else None
    if not header.startswith(marker) or number is None or number < 0:
        kind = "array" if marker == b"*" else "bulk string"
        shown = header[:40].decode("utf-8", "replace") if header else "end of input"
        raise FormatError(line, f"expected a RESP {kind} header, found {shown!r}")
    return number


# -- building an import -------------------------------------------------------------------------------


class Dataset:
    """The keys an import source describes, later lines overriding earlier ones, as Redis would."""

    def __init__(self, now_ms: int, databases: int = DEFAULT_DATABASES) -> None:
        self.now_ms = now_ms
        self.databases = databases
        self.keys: dict[tuple[int, bytes], list[Any]] = {}  # (db, key) -> [type, value, deadline]
        self.db = 0

    def read_json(self, stream: BinaryIO) -> None:
        for number, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                db, key, value, ttl_ms = parse_json_record(line, self.databases)
            except ValueError as error:
                raise FormatError(number, str(error)) from None
            type_name = "string" if isinstance(value, bytes) else _type_of(value)
            deadline = None if ttl_ms is None else self.now_ms + ttl_ms
            self.keys[db, key] = [type_name, value, deadline]

    def read_resp(self, stream: BinaryIO) -> None:
        for number, args in read_resp(stream):
            try:
                self.apply_command(args)
            except ValueError as error:
                raise FormatError(number, str(error)) from None

    def apply_command(self, args: list[bytes]) -> None:
        if not args:
            raise ValueError("empty command")
        name = args[0].upper().decode("latin-1")
        handler = _COMMANDS.get(name)
        if handler is None:
            raise ValueError(f"unsupported command {name!r}; import understands {', '.join(_COMMANDS)}")
        handler(self, args[1:])

    def _select(self, args: list[bytes]) -> None:
        db = parse_int(args[0]) if len(args) == 1 else None
        if db is None or not 0 <= db < self.databases:
            raise ValueError(f"SELECT needs a database from 0 to {self.databases - 1}")
        self.db = db

    def _set(self, args: list[bytes]) -> None:
        if len(args) not in (2, 4):
            raise ValueError("SET takes a key, a value and optionally EX, PX, EXAT or PXAT with a number")
        deadline = self._deadline(args[2:]) if len(args) == 4 else None
        self.keys[self.db, args[0]] = ["string", args[1], deadline]

    def _deadline(self, option: list[bytes]) -> int:
        number = parse_int(option[1])
        scale = {b"EX": (1000, True), b"PX": (1, True), b"EXAT": (1000, False), b"PXAT": (1, False)}
        unit = scale.get(option[0].upper())
        if unit is None or number is None or number <= 0:
            raise ValueError(f"bad expiry option {option[0].decode('latin-1')!r} {option[1]!r}")
        factor, relative = unit
        return number * factor + (self.now_ms if relative else 0)

    def records(self) -> Iterator[tuple[int, bytes, Any, int | None]]:
        """(db, key, value, deadline) of every key still alive now."""
        for (db, key), (_, value, deadline) in self.keys.items():
            if deadline is None or deadline > self.now_ms:
                yield db, key, value, deadline


def _type_of(value: Any) -> str:
    return {dict: "hash", deque: "list", set: "set"}[type(value)]


def _add_members(target: Any, members: Any) -> None:
    if isinstance(target, dict):
        target.update(members)
    elif isinstance(target, deque):
        target.extend(members)
    else:
        target.update(members)


def _container_command(type_name: str) -> Callable[[Dataset, list[bytes]], None]:
    def add(dataset: Dataset, args: list[bytes]) -> None:
        if len(args) < 2:
            raise ValueError(f"{WRITE_COMMAND[type_name].decode()} needs a key and members")
        entry = dataset.keys.get((dataset.db, args[0]))
        if entry is None:
            entry = dataset.keys[dataset.db, args[0]] = [type_name, build(type_name, []), None]
        if entry[0] != type_name:
            raise ValueError(f"key {args[0]!r} already holds a {entry[0]}")
        _add_members(entry[1], build(type_name, args[1:]))

    return add


def _expire_command(factor: int, relative: bool) -> Callable[[Dataset, list[bytes]], None]:
    def expire(dataset: Dataset, args: list[bytes]) -> None:
        number = parse_int(args[1]) if len(args) == 2 else None
        if number is None:
            raise ValueError("an expire command takes a key and an integer")
        entry = dataset.keys.get((dataset.db, args[0]))
        if entry is None:
            raise ValueError(f"key {args[0]!r} is given an expiry before it is set")
        entry[2] = number * factor + (dataset.now_ms if relative else 0)

    return expire


# The commands a RESP import understands: what ``leakdb export --format resp`` writes, and their kin.
_COMMANDS: dict[str, Callable[[Dataset, list[bytes]], None]] = {
    "SELECT": Dataset._select,
    "SET": Dataset._set,
    "HSET": _container_command("hash"),
    "RPUSH": _container_command("list"),
    "SADD": _container_command("set"),
    "PEXPIREAT": _expire_command(1, False),
    "EXPIREAT": _expire_command(1000, False),
    "PEXPIRE": _expire_command(1, True),
    "EXPIRE": _expire_command(1000, True),
}
