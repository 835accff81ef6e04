"""The interchange formats of ``leakdb export`` and ``leakdb import``: JSON lines and RESP commands.

Pure code over bytes, no files: writers turn one stored key into output bytes, readers turn input lines
into a :class:`Dataset`, raising :class:`FormatError` with the line number at the first bad line.
Sorted set scores are written so they read back as the very same double: repr() in RESP and on
``get``, a JSON number in JSON lines, and "inf" / "-inf" (as strings in JSON, which has no infinity).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from ..engine.keyspace import DEFAULT_DATABASES
from ..engine.numbers import parse_int, parse_score
from ..engine.zset import ZSet
from ..errors import NotAFloatError


def score_text(score: float) -> bytes:
    """A score as text that reads back as the same double, in Redis (strtod) and Python alike.

    repr() is the shortest exact form and keeps -0.0's sign; it spells infinities "inf" / "-inf",
    which ZADD accepts.  (Redis's own "%.17g" replies are exact too, but print -0.0 of a listpack as 0.)
    """
    return repr(score).encode()


# Members of each container type, flattened to a list of byte strings as ``leakdb get`` prints them
# (a sorted set like ZRANGE ... WITHSCORES: member, score, in ascending order).
# Strings are a single byte string and handled on their own.
_FLATTEN: dict[str, Callable[[Any], list[bytes]]] = {
    "hash": lambda value: [part for pair in value.items() for part in pair],
    "list": list,
    "set": sorted,
    "zset": lambda value: [part for score, member in value.index for part in (member, score_text(score))],
}
# The Redis command that writes each type, so a RESP export replays into any Redis.
WRITE_COMMAND = {"string": b"SET", "hash": b"HSET", "list": b"RPUSH", "set": b"SADD", "zset": b"ZADD"}
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


def command_arguments(type_name: str, value: Any) -> list[bytes]:
    """What follows the key in the WRITE_COMMAND that recreates `value` (ZADD takes score, member)."""
    if type_name == "zset":
        return [part for score, member in value.index for part in (score_text(score), member)]
    return flatten(type_name, value)


def build(type_name: str, members: list[bytes]) -> Any:
    """The engine value of `type_name` made of `members`, the arguments its WRITE_COMMAND takes after
    the key (a string is its one member)."""
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
    if type_name == "zset":
        if len(members) % 2:
            raise ValueError("a sorted set needs an even number of scores and members")
        return ZSet.from_pairs(zip(members[1::2], map(_score_argument, members[0::2]), strict=True))
    raise ValueError(f"unknown type {type_name!r}")


def _score_argument(raw: bytes) -> float:
    try:
        return parse_score(raw)  # Redis's own rules: strtod syntax, inf/-inf, no NaN, no overflow
    except NotAFloatError:
        raise ValueError(f"score {raw[:40]!r} is not a valid float") from None


# -- JSON lines --------------------------------------------------------------------------------------


def _text_or_b64(name: str, parts: list[bytes], single: bool) -> dict[str, Any]:
    # UTF-8 text stays readable; anything else (invalid UTF-8) goes to the "_b64" field, all-or-nothing.
    try:
        texts = [part.decode("utf-8") for part in parts]
        return {name: texts[0] if single else texts}
    except UnicodeDecodeError:
        encoded = [base64.b64encode(part).decode("ascii") for part in parts]
        return {name + "_b64": encoded[0] if single else encoded}


def _zset_json(zset: ZSet) -> dict[str, Any]:
    # [[member, score], ...] in ascending order; members text or base64 (all-or-nothing, as elsewhere).
    encoded = _text_or_b64("value", [member for _, member in zset.index], False)
    ((name, members),) = encoded.items()
    scores = [_json_score(score) for score, _ in zset.index]
    return {name: [list(pair) for pair in zip(members, scores, strict=True)]}


def _json_score(score: float) -> float | str:
    if math.isinf(score):
        return "inf" if score > 0 else "-inf"  # JSON numbers have no infinity
    return score


def json_line(db: int, key: bytes, type_name: str, value: Any, ttl_ms: int | None) -> bytes:
    """One key as a JSON object on one line (newline included)."""
    record: dict[str, Any] = {"db": db, **_text_or_b64("key", [key], True), "type": type_name}
    if type_name == "zset":
        record.update(_zset_json(value))
    else:
        record.update(_text_or_b64("value", flatten(type_name, value), type_name == "string"))
    record["ttl_ms"] = ttl_ms
    return json.dumps(record, ensure_ascii=False, allow_nan=False).encode("utf-8") + b"\n"


def _present_field(record: dict, name: str) -> str:
    present = [field for field in (name, name + "_b64") if field in record]
    if len(present) != 1:
        raise ValueError(f"needs exactly one of {name!r} and {name + '_b64'!r}")
    return present[0]


def _decode_strings(field: str, items: list[str]) -> list[bytes]:
    if not field.endswith("_b64"):
        return [item.encode("utf-8", "surrogatepass") for item in items]
    try:
        return [base64.b64decode(item, validate=True) for item in items]
    except binascii.Error:
        raise ValueError(f"{field!r} is not valid base64") from None


def _bytes_field(record: dict, name: str, single: bool) -> list[bytes]:
    field = _present_field(record, name)
    raw = record[field]
    items = [raw] if single else raw
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        kind = "a string" if single else "a list of strings"
        raise ValueError(f"{field!r} must be {kind}")
    return _decode_strings(field, items)


def _zset_field(record: dict) -> ZSet:
    field = _present_field(record, "value")
    raw = record[field]
    if not isinstance(raw, list) or not all(
        isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str) for pair in raw
    ):
        raise ValueError(f"{field!r} of a zset must be a list of [member, score] pairs")
    members = _decode_strings(field, [member for member, _ in raw])
    return ZSet.from_pairs(zip(members, [_json_score_value(score) for _, score in raw], strict=True))


def _json_score_value(score: Any) -> float:
    if isinstance(score, str):
        if score not in ("inf", "+inf", "-inf"):
            raise ValueError(f"score {score[:40]!r} is not a number; the only strings are 'inf' and '-inf'")
        return -math.inf if score == "-inf" else math.inf
    if type(score) not in (int, float):
        raise ValueError("a score must be a JSON number, 'inf' or '-inf'")
    try:
        value = float(score)
    except OverflowError:
        raise ValueError(f"score {score} is out of the range of a double") from None
    if math.isnan(value):
        raise ValueError("a score cannot be NaN")
    return value


def _json_float(text: str) -> float:
    # A JSON number beyond a double would silently become inf or 0 in float(); Redis refuses those.
    try:
        return parse_score(text.encode())
    except NotAFloatError:
        raise ValueError(f"number {text[:40]} is out of the range of a double") from None


def parse_json_record(line: bytes, databases: int) -> tuple[int, bytes, Any, int | None]:
    """(db, key, value, ttl_ms) of one JSON line; ValueError says what is wrong."""
    try:
        record = json.loads(line, parse_float=_json_float)
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
    if type_name == "zset":
        value = _zset_field(record)
    else:
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
    out = resp_command(WRITE_COMMAND[type_name], key, *command_arguments(type_name, value))
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
    return {dict: "hash", deque: "list", set: "set", ZSet: "zset"}[type(value)]


def _add_members(target: Any, members: Any) -> None:
    if isinstance(target, ZSet):
        for member, score in members.scores.items():
            target.add(member, score)
    elif isinstance(target, dict):
        target.update(members)
    elif isinstance(target, deque):
        target.extend(members)
    else:
        target.update(members)


def _container_command(type_name: str) -> Callable[[Dataset, list[bytes]], None]:
    def add(dataset: Dataset, args: list[bytes]) -> None:
        if len(args) < 2:
            raise ValueError(f"{WRITE_COMMAND[type_name].decode()} needs a key and members")
        if type_name == "zset" and args[1].lower() in _ZADD_OPTIONS:
            raise ValueError("ZADD options (NX, XX, GT, LT, CH, INCR) are not supported by import")
        entry = dataset.keys.get((dataset.db, args[0]))
        if entry is None:
            entry = dataset.keys[dataset.db, args[0]] = [type_name, build(type_name, []), None]
        if entry[0] != type_name:
            raise ValueError(f"key {args[0]!r} already holds a {entry[0]}")
        _add_members(entry[1], build(type_name, args[1:]))

    return add


_ZADD_OPTIONS = {b"nx", b"xx", b"gt", b"lt", b"ch", b"incr"}


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
    "ZADD": _container_command("zset"),
    "PEXPIREAT": _expire_command(1, False),
    "EXPIREAT": _expire_command(1000, False),
    "PEXPIRE": _expire_command(1, True),
    "EXPIRE": _expire_command(1000, True),
}
