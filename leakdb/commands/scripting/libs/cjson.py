"""``cjson``, the JSON library Redis loads into Lua (lua-cjson 2.1.0), as Redis configures it.

Encoding: a table whose keys are all integers >= 1 is an array (holes become null) unless it is
excessively sparse; any other table, the empty one included, is an object.  Numbers are written with
"%.14g" and NaN or infinity is refused; ``cjson.null`` is JSON's null.  Decoding follows lua-cjson's
tokenizer: numbers are read by C's strtod, so hexadecimal numbers, inf and nan are accepted, and the
text ends at the first NUL byte.  Error messages are lua-cjson's.
"""

from __future__ import annotations

import math
import re
from typing import Any

from lupa.lua51 import lua_type

from .common import Library, LuaError, check_count, lua_typename, strtod, tonumber_text

ESCAPES = {i: b"\\u%04x" % i for i in range(32)}
ESCAPES.update({8: b"\\b", 9: b"\\t", 10: b"\\n", 12: b"\\f", 13: b"\\r"})
ESCAPES.update({34: b'\\"', 47: b"\\/", 92: b"\\\\", 127: b"\\u007f"})
_NEEDS_ESCAPE = re.compile(rb'[\x00-\x1f"/\\\x7f]')

TOKEN_NAMES = [
    "T_OBJ_BEGIN",
    "T_OBJ_END",
    "T_ARR_BEGIN",
    "T_ARR_END",
    "T_STRING",
    "T_NUMBER",
    "T_BOOLEAN",
    "T_NULL",
    "T_COLON",
    "T_COMMA",
    "T_END",
]
OBJ_BEGIN, OBJ_END, ARR_BEGIN, ARR_END, STRING, NUMBER, BOOLEAN, NULL, COLON, COMMA, END = range(11)
_SINGLE = {ord("{"): OBJ_BEGIN, ord("}"): OBJ_END, ord("["): ARR_BEGIN, ord("]"): ARR_END}
_SINGLE.update({ord(","): COMMA, ord(":"): COLON})
_STRING_ESCAPES = {ord('"'): 34, ord("\\"): 92, ord("/"): 47, ord("b"): 8, ord("t"): 9}
_STRING_ESCAPES.update({ord("n"): 10, ord("f"): 12, ord("r"): 13})


class Config:
    """One cjson instance's settings (cjson.new() makes another)."""

    def __init__(self) -> None:
        self.sparse_convert = False
        self.sparse_ratio = 2
        self.sparse_safe = 10
        self.encode_max_depth = 1000
        self.decode_max_depth = 1000
        self.precision = 14
        self.keep_buffer = True
        self.encode_invalid = False
        self.decode_invalid = True


class CJSON(Library):
    """The functions of one cjson instance, for the sandbox to wrap."""

    def __init__(self, lua: Any, null: Any) -> None:
        super().__init__(lua)
        self.null = null
        self.config = Config()

    def functions(self) -> dict[bytes, Any]:
        return {
            b"encode": self.guarded(self.encode),
            b"decode": self.guarded(self.decode),
            b"encode_sparse_array": self.guarded(self.encode_sparse_array),
            b"encode_max_depth": self.guarded(self.encode_max_depth),
            b"decode_max_depth": self.guarded(self.decode_max_depth),
            b"encode_number_precision": self.guarded(self.encode_number_precision),
            b"encode_keep_buffer": self.guarded(self.encode_keep_buffer),
            b"encode_invalid_numbers": self.guarded(self.encode_invalid_numbers),
            b"decode_invalid_numbers": self.guarded(self.decode_invalid_numbers),
        }

    # -- settings ------------------------------------------------------------------------------------

    def _integer_option(self, name: str, args: tuple, low: int, high: int, current: int) -> int:
        check_count(name, args, 1)
        if args and args[0] is not None:
            value = self.checkinteger(name, 1, args)
            if not low <= value <= high:
                raise LuaError(f"bad argument #1 to '{name}' (expected integer between {low} and {high})")
            return value
        return current

    def _bool_option(self, name: str, args: tuple, index: int, current: Any, options: tuple) -> Any:
        if len(args) < index or args[index - 1] is None:
            return current
        value = args[index - 1]
        if type(value) is bool:
            return value
        if type(value) is bytes and value.decode("latin-1") in options:
            return value.decode("latin-1")
        shown = value.decode("utf-8", "replace") if type(value) is bytes else None
        if shown is None:
            raise LuaError(f"bad argument #{index} to '{name}' (string expected, got {lua_typename(value)})")
        raise LuaError(f"bad argument #{index} to '{name}' (invalid option '{shown}')")

    @staticmethod
    def _shown(value: Any) -> Any:
        if value is True or value is False:
            return value
        return value.encode()

    def encode_sparse_array(self, *args: Any) -> tuple:
        check_count("encode_sparse_array", args, 3)
        config = self.config
        convert = self._bool_option("encode_sparse_array", args, 1, config.sparse_convert, ("off", "on"))
        config.sparse_convert = convert in (True, "on")
        for index, field in ((2, "sparse_ratio"), (3, "sparse_safe")):
            if len(args) >= index and args[index - 1] is not None:
                value = self.checkinteger("encode_sparse_array", index, args)
                if not 0 <= value <= 2**31 - 1:
                    raise LuaError(
                        f"bad argument #1 to 'encode_sparse_array' (expected integer between 0 and "
                        f"{2**31 - 1})"
                    )
                setattr(config, field, value)
        return (config.sparse_convert, config.sparse_ratio, config.sparse_safe)

    def encode_max_depth(self, *args: Any) -> tuple:
        config = self.config
        config.encode_max_depth = self._integer_option(
            "encode_max_depth", args, 1, 2**31 - 1, config.encode_max_depth
        )
        return (config.encode_max_depth,)

    def decode_max_depth(self, *args: Any) -> tuple:
        config = self.config
        config.decode_max_depth = self._integer_option(
            "decode_max_depth", args, 1, 2**31 - 1, config.decode_max_depth
        )
        return (config.decode_max_depth,)

    def encode_number_precision(self, *args: Any) -> tuple:
        config = self.config
        config.precision = self._integer_option("encode_number_precision", args, 1, 14, config.precision)
        return (config.precision,)

    def encode_keep_buffer(self, *args: Any) -> tuple:
        check_count("encode_keep_buffer", args, 1)
        value = self._bool_option("encode_keep_buffer", args, 1, self.config.keep_buffer, ("off", "on"))
        self.config.keep_buffer = value in (True, "on")
        return (self.config.keep_buffer,)

    def encode_invalid_numbers(self, *args: Any) -> tuple:
        check_count("encode_invalid_numbers", args, 1)
        options = ("off", "on", "null")
        value = self._bool_option("encode_invalid_numbers", args, 1, self.config.encode_invalid, options)
        self.config.encode_invalid = {"off": False, "on": True}.get(value, value)
        return (self._shown(self.config.encode_invalid),)

    def decode_invalid_numbers(self, *args: Any) -> tuple:
        check_count("decode_invalid_numbers", args, 1)
        value = self._bool_option(
            "decode_invalid_numbers", args, 1, self.config.decode_invalid, ("off", "on")
        )
        self.config.decode_invalid = value in (True, "on")
        return (self.config.decode_invalid,)

    # -- encoding ------------------------------------------------------------------------------------

    def encode(self, *args: Any) -> tuple:
        if len(args) != 1:
            raise LuaError("bad argument #1 to 'encode' (expected 1 argument)")
        parts: list[bytes] = []
        self._append(args[0], parts, 0)
        return (b"".join(parts),)

    def _number(self, value: int | float, parts: list[bytes]) -> None:
        number = float(value)
        if math.isinf(number) or number != number:
            invalid = self.config.encode_invalid
            if invalid == "null":
                parts.append(b"null")
                return
            if not invalid:
                raise LuaError("Cannot serialise number: must not be NaN or Inf")
            parts.append(b"nan" if number != number else (b"inf" if number > 0 else b"-inf"))
            return
        parts.append(b"%.*g" % (self.config.precision, number))

    def _append(self, value: Any, parts: list[bytes], depth: int) -> None:
        kind = type(value)
        if kind is bytes:
            parts.append(quote(value))
        elif kind is int or kind is float:
            self._number(value, parts)
        elif kind is bool:
            parts.append(b"true" if value else b"false")
        elif value is None:
            parts.append(b"null")
        else:
            category = lua_type(value)
            if category == "table":
                self._table(value, parts, depth + 1)
            elif category == "userdata":
                parts.append(b"null")  # the only userdata a script can hold is cjson.null
            else:
                raise LuaError(f"Cannot serialise {category}: type not supported")

    def _table(self, table: Any, parts: list[bytes], depth: int) -> None:
        if depth > self.config.encode_max_depth:
            raise LuaError(f"Cannot serialise, excessive nesting ({depth})")
        length = self._array_length(table)
        if length > 0:
            parts.append(b"[")
            for index in range(1, length + 1):
                if index > 1:
                    parts.append(b",")
                self._append(table[index], parts, depth)
            parts.append(b"]")
            return
        parts.append(b"{")
        first = True
        for key, value in table.items():
            if not first:
                parts.append(b",")
            first = False
            if type(key) is bytes:
                parts.append(quote(key))
                parts.append(b":")
            elif type(key) is int or type(key) is float:
                parts.append(b'"')
                self._number(key, parts)
                parts.append(b'":')
            else:
                raise LuaError(f"Cannot serialise {lua_typename(key)}: table key must be a number or string")
            self._append(value, parts, depth)
        parts.append(b"}")

    def _array_length(self, table: Any) -> int:
        """The array length of `table`, or -1 when it must be an object (lua-cjson's rules)."""
        largest = 0
        items = 0
        for key in table:
            if (type(key) is int or type(key) is float) and key >= 1 and math.floor(key) == key:
                largest = max(largest, int(key))
                items += 1
                continue
            return -1
        config = self.config
        if config.sparse_ratio > 0 and largest > items * config.sparse_ratio and largest > config.sparse_safe:
            if not config.sparse_convert:
                raise LuaError("Cannot serialise table: excessively sparse array")
            return -1
        return largest

    # -- decoding ------------------------------------------------------------------------------------

    def decode(self, *args: Any) -> tuple:
        if len(args) != 1:
            raise LuaError("bad argument #1 to 'decode' (expected 1 argument)")
        text = args[0]
        if type(text) is int or type(text) is float:
            text = tonumber_text(text)
        if type(text) is not bytes:
            raise LuaError(f"bad argument #1 to 'decode' (string expected, got {lua_typename(text)})")
        if len(text) >= 2 and (text[0] == 0 or text[1] == 0):
            raise LuaError("JSON parser does not support UTF-16 or UTF-32")
        parser = _Parser(text.split(b"\0", 1)[0], self)
        token = parser.next_token()
        value = parser.value(token)
        token = parser.next_token()
        if token[0] != END:
            parser.fail("the end", token)
        return (value,)


def quote(text: bytes) -> bytes:
    if _NEEDS_ESCAPE.search(text) is None:
        return b'"' + text + b'"'
    return b'"' + _NEEDS_ESCAPE.sub(lambda found: ESCAPES[found.group(0)[0]], text) + b'"'


class _Parser:
    """lua-cjson's decoder over one text; tokens are (type, position, value), errors type -1."""

    def __init__(self, text: bytes, owner: CJSON) -> None:
        self.text = text
        self.position = 0
        self.owner = owner
        self.depth = 0

    def fail(self, expected: str, token: tuple) -> None:
        found = token[2] if token[0] == -1 else TOKEN_NAMES[token[0]]
        raise LuaError(f"Expected {expected} but found {found} at character {token[1] + 1}")

    def next_token(self) -> tuple:
        text = self.text
        position = self.position
        length = len(text)
        while position < length and text[position] in b" \t\n\r":
            position += 1
        self.position = position
        if position >= length:
            return (END, position, None)
        char = text[position]
        single = _SINGLE.get(char)
        if single is not None:
            self.position = position + 1
            return (single, position, None)
        if char == 34:
            return self._string(position)
        if char == 45 or 48 <= char <= 57:
            return self._number(position)
        if text.startswith(b"true", position):
            self.position = position + 4
            return (BOOLEAN, position, True)
        if text.startswith(b"false", position):
            self.position = position + 5
            return (BOOLEAN, position, False)
        if text.startswith(b"null", position):
            self.position = position + 4
            return (NULL, position, None)
        if char in b"+iInN" and self.owner.config.decode_invalid and self._invalid_number(position):
            return self._number(position)
        return (-1, position, "invalid token")

    def _invalid_number(self, position: int) -> bool:
        text = self.text
        if text[position : position + 1] == b"+":
            return True
        rest = text[position : position + 3].lower()
        return rest in (b"inf", b"nan")

    def _number(self, position: int) -> tuple:
        if not self.owner.config.decode_invalid and self._strict_invalid(position):
            return (-1, position, "invalid number")
        parsed = strtod(self.text[position:])
        if parsed is None:
            return (-1, position, "invalid number")
        value, used = parsed
        self.position = position + used
        return (NUMBER, position, value)

    def _strict_invalid(self, position: int) -> bool:
        text = self.text
        index = position
        if text[index : index + 1] == b"+":
            return True
        if text[index : index + 1] == b"-":
            index += 1
        if text[index : index + 1] == b"0":
            following = text[index + 1 : index + 2]
            return following.lower() == b"x" or following.isdigit()
        if text[index : index + 1] <= b"9":
            return False
        return text[index : index + 3].lower() in (b"inf", b"nan")

    def _string(self, start: int) -> tuple:
        text = self.text
        position = start + 1
        length = len(text)
        out = bytearray()
        while True:
            if position >= length:
                return (-1, position, "unexpected end of string")
            char = text[position]
            if char == 34:
                break
            if char == 92:
                code = text[position + 1] if position + 1 < length else 0
                if code == 117:  # u
                    decoded = _unicode_escape(text, position)
                    if decoded is None:
                        return (-1, position, "invalid unicode escape code")
                    data, used = decoded
                    out += data
                    position += used
                    continue
                translated = _STRING_ESCAPES.get(code)
                if translated is None:
                    return (-1, position, "invalid escape code")
                out.append(translated)
                position += 2
                continue
            out.append(char)
            position += 1
        self.position = position + 1
        return (STRING, start, bytes(out))

    def value(self, token: tuple) -> Any:
        kind = token[0]
        if kind in (STRING, NUMBER, BOOLEAN):
            return token[2]
        if kind == NULL:
            return self.owner.null
        if kind == OBJ_BEGIN:
            return self._object()
        if kind == ARR_BEGIN:
            return self._array()
        self.fail("value", token)
        return None

    def _descend(self) -> None:
        self.depth += 1
        if self.depth > self.owner.config.decode_max_depth:
            raise LuaError(
                f"Found too many nested data structures ({self.depth}) at character {self.position}"
            )

    def _object(self) -> Any:
        self._descend()
        result = self.owner.new_table()
        token = self.next_token()
        if token[0] == OBJ_END:
            self.depth -= 1
            return result
        while True:
            if token[0] != STRING:
                self.fail("object key string", token)
            key = token[2]
            token = self.next_token()
            if token[0] != COLON:
                self.fail("colon", token)
            result[key] = self.value(self.next_token())
            token = self.next_token()
            if token[0] == OBJ_END:
                self.depth -= 1
                return result
            if token[0] != COMMA:
                self.fail("comma or object end", token)
            token = self.next_token()

    def _array(self) -> Any:
        self._descend()
        result = self.owner.new_table()
        token = self.next_token()
        if token[0] == ARR_END:
            self.depth -= 1
            return result
        index = 1
        while True:
            result[index] = self.value(token)
            token = self.next_token()
            if token[0] == ARR_END:
                self.depth -= 1
                return result
            if token[0] != COMMA:
                self.fail("comma or array end", token)
            token = self.next_token()
            index += 1


def _hex4(text: bytes, position: int) -> int | None:
    digits = text[position : position + 4]
    if len(digits) != 4 or not all(c in b"0123456789abcdefABCDEF" for c in digits):
        return None
    return int(digits, 16)


def _unicode_escape(text: bytes, position: int) -> tuple[bytes, int] | None:
    """The UTF-8 bytes of the \\uXXXX escape (or surrogate pair) at `position`, and its length."""
    code = _hex4(text, position + 2)
    if code is None:
        return None
    used = 6
    if code & 0xF800 == 0xD800:
        if code & 0x400:
            return None
        if text[position + 6 : position + 8] != b"\\u":
            return None
        low = _hex4(text, position + 8)
        if low is None or low & 0xFC00 != 0xDC00:
            return None
        code = (((code & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000
        used = 12
    return _utf8(code), used


def _utf8(code: int) -> bytes:
    if code <= 0x7F:
        return bytes([code])
    if code <= 0x7FF:
        return bytes([0xC0 | code >> 6, 0x80 | code & 0x3F])
    if code <= 0xFFFF:
        return bytes([0xE0 | code >> 12, 0x80 | (code >> 6) & 0x3F, 0x80 | code & 0x3F])
    return bytes(
        [0xF0 | code >> 18, 0x80 | (code >> 12) & 0x3F, 0x80 | (code >> 6) & 0x3F, 0x80 | code & 0x3F]
    )
