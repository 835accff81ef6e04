"""Values between Redis replies and Lua, both ways, by the conversion table Redis documents.

A command run by ``redis.call`` replies in RESP bytes, as for any client; :func:`reply_to_lua` turns them
into the Lua value the script gets (integers to numbers, bulk strings to strings, nil to false in RESP2
and to nil in RESP3, status and error replies to ``{ok=...}`` and ``{err=...}`` tables, RESP3 maps, sets,
doubles, big numbers and verbatim strings to their tagged tables).  :func:`lua_to_reply` encodes what a
script returns for its caller: numbers truncated to integers, arrays cut at the first nil, booleans by
the script's RESP version, tagged tables to their RESP3 types (downgraded for RESP2 callers).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from lupa.lua51 import lua_type

from ...resp import Protocol

# reply_to_lua's first result: how the Lua side wraps the value.
VALUE = 0  # the value itself
STATUS = 1  # {ok = value}
ERROR = 2  # {err = value}: raised by redis.call, returned by redis.pcall

INT64_MIN = -(2**63)
MAX_DEPTH = 1000  # nesting of a returned table beyond which Redis would run out of Lua stack

Tables = Callable[[Any], Any]  # builds a Lua table from a Python list or dict


def error_text(message: bytes) -> bytes:
    """An error reply's text as Redis hands it to Lua: "CODE message", ERR when there is no code."""
    code, space, rest = message.partition(b" ")
    if not space:
        return b"ERR " + message.strip(b"\r\n")
    return code + b" " + rest.strip(b"\r\n")


def reply_to_lua(reply: bytes, table: Tables) -> tuple[int, Any]:
    """(VALUE, STATUS or ERROR, the Lua value) for one complete RESP reply."""
    first = reply[0]
    if first == 36:  # $: the most common reply (GET)
        if reply[1] == 45:
            return VALUE, False
        return VALUE, reply[reply.index(b"\n") + 1 : -2]
    if first == 58:  # :
        return VALUE, _number(int(reply[1:-2]))
    if first == 43:  # +
        return STATUS, reply[1:-2]
    if first == 45:  # -
        return ERROR, error_text(reply[1:-2])
    value, _ = _parse(reply, 0, table)
    return VALUE, value


def _number(value: int) -> int | float:
    # Lua numbers are doubles; lupa refuses integers it cannot hold exactly.
    return value if -(2**53) <= value <= 2**53 else float(value)


def _line(reply: bytes, position: int) -> tuple[bytes, int]:
    end = reply.index(b"\r\n", position)
    return reply[position + 1 : end], end + 2


def _parse(reply: bytes, position: int, table: Tables) -> tuple[Any, int]:
    kind = reply[position]
    header, position = _line(reply, position)
    if kind == 36 or kind == 61:  # $ bulk, = verbatim
        length = int(header)
        if length < 0:
            return False, position
        data = reply[position : position + length]
        position += length + 2
        if kind == 36:
            return data, position
        inner = table({b"format": data[:3], b"string": data[4:]})
        return table({b"verbatim_string": inner}), position
    if kind == 58:  # :
        return _number(int(header)), position
    if kind == 43:  # +
        return table({b"ok": header}), position
    if kind == 45:  # -
        return table({b"err": error_text(header)}), position
    if kind == 42:  # * array
        count = int(header)
        if count < 0:
            return False, position
        items = []
        for _ in range(count):
            item, position = _parse(reply, position, table)
            items.append(item)
        return table(items), position
    if kind == 37:  # % map
        entries = []
        for _ in range(int(header)):
            key, position = _parse(reply, position, table)
            value, position = _parse(reply, position, table)
            entries.append((key, value))
        return table({b"map": _table_of(entries, table)}), position
    if kind == 126:  # ~ set
        members = []
        for _ in range(int(header)):
            member, position = _parse(reply, position, table)
            members.append(member)
        return table({b"set": _table_of([(m, True) for m in members], table)}), position
    if kind == 95:  # _ null
        return None, position
    if kind == 35:  # # boolean
        return header == b"t", position
    if kind == 44:  # , double
        return table({b"double": _double(header)}), position
    if kind == 40:  # ( big number
        return table({b"big_number": header}), position
    if kind == 124:  # | attributes: skipped, as Redis does
        for _ in range(2 * int(header)):
            _, position = _parse(reply, position, table)
        return _parse(reply, position, table)
    if kind == 62:  # > push: an array to a script
        items = []
        for _ in range(int(header)):
            item, position = _parse(reply, position, table)
            items.append(item)
        return table(items), position
    raise ValueError(f"unexpected reply type {chr(kind)!r}")


def _table_of(entries: list[tuple[Any, Any]], table: Tables) -> Any:
    result = table({})
    for key, value in entries:
        if key is not None:
            result[key] = value
    return result


def _double(text: bytes) -> float:
    lowered = text.lower()
    if lowered in (b"inf", b"+inf"):
        return math.inf
    if lowered == b"-inf":
        return -math.inf
    if lowered in (b"nan", b"-nan"):
        return math.nan
    return float(text)


# -- Lua to RESP -------------------------------------------------------------------------------------


def to_integer(number: int | float) -> int:
    """A Lua number as C's (long long) cast makes it: truncated; NaN and overflow give LLONG_MIN."""
    if type(number) is int:
        return number if INT64_MIN <= number < 2**63 else INT64_MIN
    if number != number or not -9.2233720368547758e18 <= number < 9.2233720368547758e18:
        return INT64_MIN
    return int(number)


def format_double(number: float) -> bytes:
    """A double as Redis 7.0's addReplyDouble prints it: "%.17g", with inf, -inf and -nan spelt out."""
    if math.isinf(number):
        return b"inf" if number > 0 else b"-inf"
    if number != number:
        return b"-nan" if math.copysign(1.0, number) < 0 else b"nan"
    return b"%.17g" % number


def _one_line(data: bytes) -> bytes:
    return data.replace(b"\r", b" ").replace(b"\n", b" ")


def lua_to_reply(value: Any, caller: Protocol, script_resp3: bool, depth: int = 0) -> bytes:
    """Encode a script's return value for a caller speaking `caller`'s protocol."""
    kind = type(value)
    if kind is bytes:
        return b"$%d\r\n%s\r\n" % (len(value), value)
    if kind is int or kind is float:
        return b":%d\r\n" % to_integer(value)
    if kind is bool:
        if not script_resp3:
            return b":1\r\n" if value else caller.null
        if caller.resp3:
            return b"#t\r\n" if value else b"#f\r\n"
        return b":1\r\n" if value else b":0\r\n"
    if value is None or lua_type(value) != "table":
        return caller.null
    if depth > MAX_DEPTH:
        return b"-ERR reached lua stack limit\r\n"
    return _table_reply(value, caller, script_resp3, depth)


def _string(value: Any) -> bytes | None:
    """A table field as lua_isstring reads it: strings, and numbers in Lua's "%.14g"."""
    if type(value) is bytes:
        return value
    if type(value) is int or type(value) is float:
        return lua_number_text(value)
    return None


def lua_number_text(number: int | float) -> bytes:
    """A number as Lua's tostring writes it ("%.14g")."""
    if type(number) is int and abs(number) < 10**14:
        return b"%d" % number
    number = float(number)
    if math.isinf(number):
        return b"inf" if number > 0 else b"-inf"
    if number != number:
        return b"-nan" if math.copysign(1.0, number) < 0 else b"nan"
    return b"%.14g" % number


def _table_reply(table: Any, caller: Protocol, script_resp3: bool, depth: int) -> bytes:
    field = table[b"err"]
    if type(field) is bytes:
        return b"-" + _one_line(field.split(b"\0", 1)[0]) + b"\r\n"
    field = table[b"ok"]
    if type(field) is bytes:
        return b"+" + _one_line(field.split(b"\0", 1)[0]) + b"\r\n"
    field = table[b"double"]
    if type(field) is int or type(field) is float:
        text = format_double(float(field))
        return b"," + text + b"\r\n" if caller.resp3 else b"$%d\r\n%s\r\n" % (len(text), text)
    field = table[b"big_number"]
    if type(field) is bytes:
        number = _one_line(field)
        return b"(" + number + b"\r\n" if caller.resp3 else b"$%d\r\n%s\r\n" % (len(number), number)
    field = table[b"verbatim_string"]
    if field is not None and lua_type(field) == "table":
        text, form = field[b"string"], field[b"format"]
        if type(form) is bytes and type(text) is bytes:
            if not caller.resp3:
                return b"$%d\r\n%s\r\n" % (len(text), text)
            form = (form + b"\0\0\0")[:3]
            return b"=%d\r\n%s:%s\r\n" % (len(text) + 4, form, text)
    deeper = depth + 1
    field = table[b"map"]
    if field is not None and lua_type(field) == "table":
        parts = []
        for key, item in field.items():
            parts.append(lua_to_reply(key, caller, script_resp3, deeper))
            parts.append(lua_to_reply(item, caller, script_resp3, deeper))
        count = len(parts) // 2 if caller.resp3 else len(parts)
        return (b"%" if caller.resp3 else b"*") + b"%d\r\n" % count + b"".join(parts)
    field = table[b"set"]
    if field is not None and lua_type(field) == "table":
        parts = [lua_to_reply(member, caller, script_resp3, deeper) for member in field]
        return (b"~" if caller.resp3 else b"*") + b"%d\r\n" % len(parts) + b"".join(parts)
    parts = []
    index = 1
    while True:
        item = table[index]
        if item is None:
            break
        parts.append(lua_to_reply(item, caller, script_resp3, deeper))
        index += 1
    return b"*%d\r\n" % len(parts) + b"".join(parts)
