"""One Lua 5.1 interpreter (lupa's ``lua51`` runtime) with Redis's sandbox loaded into it.

Redis runs EVAL scripts and function libraries in two interpreters; so does LeakDB, each an
:class:`Engine`.  lupa can hand Lua any Python object, so every such door is shut: no ``python`` module,
no builtins, ``eval`` not registered, attribute access on Python objects refused, and Lua only ever
receives strings, numbers, booleans, nil, Lua tables and the Lua functions of ``sandbox.lua`` (Python
callables stay in the sandbox's upvalues, out of scripts' reach).  A script's memory is capped by
lupa's allocator limit.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import Any, Protocol

import lupa.lua51 as lua51

from ... import errors
from ...version import REDIS_VERSION
from .bytecode import without_tail_calls
from .libs.bitop import Bit
from .libs.cjson import CJSON
from .libs.cmsgpack import MessagePack
from .libs.structlib import Struct

SANDBOX_SOURCE = os.path.join(os.path.dirname(__file__), "sandbox.lua")
UNLIMITED = 1 << 62
# Past this many keys and arguments, EVAL hands Lua two tables rather than a call's arguments.
MAX_CALL_ARGUMENTS = 1000
LRAND48_MAX = 2**31 - 1

# Script flags, as in Redis's scripts_flags_def, with the bit each one has.
FLAG_NO_WRITES = 1
FLAG_ALLOW_OOM = 2
FLAG_ALLOW_STALE = 4
FLAG_NO_CLUSTER = 8
FLAG_ALLOW_CROSS_SLOT = 16
SCRIPT_FLAGS = {
    "no-writes": FLAG_NO_WRITES,
    "allow-oom": FLAG_ALLOW_OOM,
    "allow-stale": FLAG_ALLOW_STALE,
    "no-cluster": FLAG_NO_CLUSTER,
    "allow-cross-slot-keys": FLAG_ALLOW_CROSS_SLOT,
}

EVAL = "eval"
FUNCTION = "function"


def redis_version_number(version: str = REDIS_VERSION) -> int:
    major, minor, patch = (int(part) for part in version.split("."))
    return major << 16 | minor << 8 | patch


class Host(Protocol):
    """What the sandbox's Redis API calls into: the scripting state of one server."""

    def call(self, *args: Any) -> tuple[int, Any]: ...
    def acl_check(self, *args: Any) -> tuple[int, Any]: ...
    def log(self, level: int, message: bytes) -> None: ...
    def setresp(self, version: int) -> None: ...
    def tick(self) -> int: ...
    def register_function(self, name: bytes, callback: Any, flags: int, description: Any) -> Any: ...


class Random48:
    """Redis's redisLrand48: the 48-bit linear congruential generator behind math.random."""

    def __init__(self) -> None:
        self.state = 0x1234ABCD330E

    def next(self) -> int:
        self.state = (0x5DEECE66D * self.state + 0xB) & (2**48 - 1)
        return self.state >> 17

    def seed(self, seed: int) -> None:
        self.state = ((seed & 0xFFFFFFFF) << 16) | 0x330E


def _texts() -> dict[bytes, bytes]:
    """The messages the sandbox raises, from leakdb/errors.py ("{}" becomes Lua's "%s")."""
    names = {
        "readonly": errors.LUA_READONLY_TABLE,
        "nonexistent_global": errors.LUA_NONEXISTENT_GLOBAL,
        "killed": errors.LUA_KILLED,
        "load_timeout": errors.LUA_LOAD_TIMEOUT,
        "wrong_number": errors.LUA_WRONG_NUMBER,
        "wrong_number_or_type": errors.LUA_WRONG_NUMBER_OR_TYPE,
        "log_arguments": errors.LUA_LOG_ARGUMENTS,
        "log_level_type": errors.LUA_LOG_LEVEL_TYPE,
        "log_level": errors.LUA_LOG_LEVEL,
        "setresp_arguments": errors.LUA_SETRESP_ARGUMENTS,
        "setresp_version": errors.LUA_SETRESP_VERSION,
        "set_repl_arguments": errors.LUA_SET_REPL_ARGUMENTS,
        "set_repl_flags": errors.LUA_SET_REPL_FLAGS,
        "register_arguments": errors.LUA_REGISTER_ARGUMENTS,
        "register_named_not_table": errors.LUA_REGISTER_NAMED_NOT_TABLE,
        "register_key_not_string": errors.LUA_REGISTER_KEY_NOT_STRING,
        "register_name_not_string": errors.LUA_REGISTER_NAME_NOT_STRING,
        "register_description_not_string": errors.LUA_REGISTER_DESCRIPTION_NOT_STRING,
        "register_callback_not_function": errors.LUA_REGISTER_CALLBACK_NOT_FUNCTION,
        "register_flags_not_table": errors.LUA_REGISTER_FLAGS_NOT_TABLE,
        "register_unknown_flag": errors.LUA_REGISTER_UNKNOWN_FLAG,
        "register_unknown_argument": errors.LUA_REGISTER_UNKNOWN_ARGUMENT,
        "register_no_name": errors.LUA_REGISTER_NO_NAME,
        "register_no_callback": errors.LUA_REGISTER_NO_CALLBACK,
        "register_first_not_string": errors.LUA_REGISTER_FIRST_NOT_STRING,
        "register_second_not_function": errors.LUA_REGISTER_SECOND_NOT_FUNCTION,
    }
    return {name.encode(): text.replace("{}", "%s").encode() for name, text in names.items()}


def _refuse_attribute(obj: Any, name: Any, *value: Any) -> Any:
    raise AttributeError("Lua scripts cannot reach Python objects")


def _answering(function: Callable[..., Any]) -> Callable[..., Any]:
    """`function` never raising into Lua: an unexpected exception becomes an error reply."""

    def safe(*args: Any) -> Any:
        try:
            return function(*args)
        except Exception as problem:
            from .libs.common import log

            log.exception("scripting callback failed")
            return 2, b"ERR internal error in the scripting engine: " + type(problem).__name__.encode()

    return safe


def _ticking(tick: Callable[[], int]) -> Callable[[], int]:
    """The count hook's callback, which must never raise into Lua."""

    def safe() -> int:
        try:
            return tick()
        except Exception:
            from .libs.common import log

            log.exception("serving clients during a slow script failed")
            return 0

    return safe


class Engine:
    """A Lua runtime with the sandbox, in EVAL or FUNCTION mode, serving one :class:`Host`."""

    def __init__(self, mode: str, host: Host, random: Random48, max_memory: int = 0) -> None:
        self.mode = mode
        self.lua = lua51.LuaRuntime(
            encoding=None,
            register_eval=False,
            register_builtins=False,
            unpack_returned_tuples=True,
            attribute_handlers=(_refuse_attribute, _refuse_attribute),
            max_memory=max_memory or UNLIMITED,
        )
        lua = self.lua
        null = lua.eval("newproxy()")  # cjson.null: a userdata no script can make
        self.cjson = CJSON(lua, null)
        bridge = {
            b"texts": lua.table_from(_texts()),
            b"untail": without_tail_calls,
            b"tick": _ticking(host.tick),
            b"call": _answering(host.call),
            b"acl_check": _answering(host.acl_check),
            b"log": host.log,
            b"setresp": host.setresp,
            b"sha1hex": lambda text: hashlib.sha1(text).hexdigest().encode(),
            b"lrand48": random.next,
            b"srand48": random.seed,
            b"version": REDIS_VERSION.encode(),
            b"version_num": redis_version_number(),
            b"cjson": lua.table_from(self.cjson.functions()),
            b"cmsgpack": lua.table_from(MessagePack(lua).functions()),
            b"bit": lua.table_from(Bit(lua).functions()),
            b"struct": lua.table_from(Struct(lua).functions()),
        }
        if mode == FUNCTION:
            bridge[b"register_function"] = _answering(host.register_function)
            bridge[b"flag_names"] = lua.table_from({name.encode(): bit for name, bit in SCRIPT_FLAGS.items()})
        with open(SANDBOX_SOURCE, "rb") as source:
            sandbox = source.read()
        exports = lua.execute(sandbox, mode.encode(), lua.table_from(bridge), name="=leakdb-sandbox")
        self._finish_cjson(exports, null)
        self.compile_chunk = exports[b"compile"]
        self._run_eval = exports[b"run_eval"]
        self._run_eval_tables = exports[b"run_eval_tables"]
        self._run_function = exports[b"run_function"]
        self.load_library_chunk = exports[b"load_library"]
        self.table = lua.table
        self.table_from = lua.table_from
        self.gc = lua.gccollect

    def _finish_cjson(self, exports: Any, null: Any) -> None:
        """cjson.null, _NAME, _VERSION and new(), which the sandbox cannot make alone."""
        add = exports[b"add_cjson_extras"]
        add(null, self._new_cjson)

    def _new_cjson(self) -> Any:
        return self.lua.table_from(CJSON(self.lua, self.cjson.null).functions())

    # -- running --------------------------------------------------------------------------------------

    def compile(self, code: bytes, name: bytes) -> tuple[Any, bytes | None]:
        """(function, None) or (None, Lua's compile error) for a script body."""
        result = self.compile_chunk(code, name)
        if isinstance(result, tuple):
            return None, result[1]
        return result, None

    def run_eval(self, body: Any, keys: list[bytes], argv: list[bytes]) -> tuple[bool, Any]:
        """Run an EVAL script with KEYS and ARGV; (True, result) or (False, error object)."""
        if len(keys) + len(argv) <= MAX_CALL_ARGUMENTS:
            return self._run_eval(body, len(keys), *keys, *argv)
        return self._run_eval_tables(body, self.table_from(keys), self.table_from(argv))

    def run_function(self, callback: Any, keys: list[bytes], args: list[bytes]) -> tuple[bool, Any]:
        return self._run_function(callback, self.table_from(keys), self.table_from(args))

    def load_library(self, code: bytes) -> tuple[bool, Any, bool]:
        """Run a library's code under the load API: (ok, error, whether it failed to compile)."""
        result = self.load_library_chunk(code)
        if not isinstance(result, tuple):
            return bool(result), None, False
        ok, problem, compile_failed = (*result, None, None)[:3]
        return bool(ok), problem, bool(compile_failed)

    def memory(self) -> int:
        return int(self.lua.get_memory_used() or 0)

    def set_max_memory(self, limit: int) -> None:
        self.lua.set_max_memory(limit or UNLIMITED)
