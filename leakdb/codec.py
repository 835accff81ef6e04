"""Value codecs of the Python API: how a Python value becomes the bytes a Redis client sees, and back.

JSON is the default, so values written from Python read naturally from ``redis-cli`` and integers stay
``INCR``-able.  ``bytes`` are always stored raw; stored bytes a codec cannot decode come back as bytes.
"""

from __future__ import annotations

import json
import pickle
from typing import Any, Protocol

from .engine.numbers import parse_int


class Codec(Protocol):
    """Turns API values into stored bytes and back.  ``decode`` must accept any bytes."""

    name: str

    def encode(self, value: Any) -> bytes: ...

    def decode(self, raw: bytes) -> Any: ...


_MISSING = object()
_IMMUTABLE = (str, int, float, bool, type(None))
MEMO_SIZE = 100_000


class JSONCodec:
    """Values are stored as JSON text; integers as plain digits (valid JSON and valid for INCR)."""

    name = "json"

    def __init__(self) -> None:
        self._dumps = json.JSONEncoder(ensure_ascii=False).encode
        self._loads = json.JSONDecoder().decode
        # Reads of an unchanged value skip the JSON parser: decoded immutable results are kept by the
        # stored bytes they came from (dicts and lists are decoded afresh, as callers may change them).
        self.memo: dict[bytes, Any] = {}

    def encode(self, value: Any) -> bytes:
        kind = type(value)
        if kind is bytes:
            return value
        if kind is int:
            return b"%d" % value
        return self._dumps(value).encode()

    def decode(self, raw: bytes) -> Any:
        memo = self.memo
        value = memo.get(raw, _MISSING)
        if value is not _MISSING:
            return value
        try:
            value = self._loads(raw.decode())
        except ValueError:  # not UTF-8 or not JSON: something a Redis client wrote
            return raw
        if type(value) in _IMMUTABLE:
            if len(memo) >= MEMO_SIZE:
                memo.clear()
            memo[raw] = value
        return value


class RawCodec:
    """No serialization: bytes stay bytes, str is UTF-8, integers are digits; reads return bytes."""

    name = "raw"

    def encode(self, value: Any) -> bytes:
        kind = type(value)
        if kind is bytes:
            return value
        if kind is str:
            return value.encode()
        if kind is int:
            return b"%d" % value
        if isinstance(value, (bytearray, memoryview)):
            return bytes(value)
        raise TypeError(f"the raw codec stores bytes, str or int, not {kind.__name__}")

    def decode(self, raw: bytes) -> Any:
        return raw


class PickleCodec:
    """Any picklable value; integers stay plain digits so INCR works.

    Unsafe for data others can write: unpickling runs code.  Only use it when every writer of the store
    (and every client of its Redis port) is trusted.
    """

    name = "pickle"
    _MAGIC = b"\x80"  # every pickle of protocol 2 or later starts with PROTO

    def encode(self, value: Any) -> bytes:
        if type(value) is int:
            return b"%d" % value
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)

    def decode(self, raw: bytes) -> Any:
        if raw[:1] == self._MAGIC:
            try:
                return pickle.loads(raw)
            except Exception:
                return raw
        number = parse_int(raw)
        return raw if number is None else number


CODECS: dict[str, type] = {"json": JSONCodec, "raw": RawCodec, "pickle": PickleCodec}


def get_codec(codec: str | Codec) -> Codec:
    """The codec named `codec` (json, raw, pickle), or `codec` itself when it is a codec object."""
    if isinstance(codec, str):
        try:
            return CODECS[codec]()
        except KeyError:
            raise ValueError(f"unknown codec {codec!r}; choose one of {', '.join(CODECS)}") from None
    return codec
