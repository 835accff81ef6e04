"""Redis 7 functions: FUNCTION (LOAD, LIST, DELETE, FLUSH, DUMP, RESTORE, STATS, KILL, HELP), FCALL and
FCALL_RO.

A library is Lua code opening with ``#!lua name=<library>``; loading it runs the code with only
``redis.register_function`` (and redis.log) in reach, and each registered function becomes callable by
FCALL under its name, with its flags (``no-writes``, ``allow-oom``, ...).  Libraries live in the
FUNCTION interpreter, apart from EVAL's.  Every change is written as one meta record (the FUNCTION DUMP
payload) through the keyspace's change hook, so the persistent storage modes keep libraries across
restarts as Redis keeps them in its RDB.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from ... import errors
from ...engine.glob import match
from ...errors import CommandError
from ...resp import OK, ProtocolError, SimpleString, split_inline
from ..connection import help_reply
from ..registry import command, dispatch_sub, subcommand
from . import dump
from .engine import SCRIPT_FLAGS
from .evalcmds import kill
from .invoke import elapsed_ms, execute, over_memory, parse_numkeys
from .state import ON_CREATE, Scripting, scripting_of

log = logging.getLogger("leakdb.scripting")

META_NAME = b"functions"  # the keyspace meta record holding every library
ENGINE_NAME = "LUA"
FCALL_FLAGS = "noscript stale skip_monitor no_mandatory_keys movablekeys"
_VALID_NAME = re.compile(rb"[A-Za-z0-9_]+")


class Function:
    __slots__ = ("callback", "description", "flags", "library", "name")

    def __init__(self, name: bytes, library: Library, callback: Any, flags: int, description: Any) -> None:
        self.name = name
        self.library = library
        self.callback = callback
        self.flags = flags
        self.description = description


class Library:
    """A loaded library: its code (shebang included) and its functions in registration order."""

    def __init__(self, name: bytes, code: bytes) -> None:
        self.name = name
        self.code = code
        self.functions: dict[bytes, Function] = {}

    def add(self, name: bytes, callback: Any, flags: int, description: Any) -> bytes | None:
        """redis.register_function's checks; the error text, or None once the function is in."""
        if not _VALID_NAME.fullmatch(name):
            return errors.LIBRARY_NAME_INVALID.encode()
        if name in self.functions:
            return errors.FUNCTION_EXISTS_IN_LIBRARY.encode()
        self.functions[name] = Function(name, self, callback, flags, description)
        return None


def _metadata(code: bytes) -> tuple[bytes, bytes, bytes]:
    """(engine, library name, code after the first line) of a library, checked as Redis checks it."""
    if not code.startswith(b"#!"):
        raise CommandError("ERR " + errors.LIBRARY_METADATA_MISSING)
    end = code.find(b"\n")
    if end < 0:
        raise CommandError("ERR " + errors.LIBRARY_METADATA_INVALID)
    try:
        parts = split_inline(code[:end])
    except ProtocolError:
        parts = []
    if not parts:
        raise CommandError("ERR " + errors.LIBRARY_METADATA_INVALID)
    name = None
    for part in parts[1:]:
        if part[:5].lower() == b"name=":
            if name is not None:
                raise CommandError("ERR " + errors.LIBRARY_METADATA_NAME_TWICE)
            name = part[5:]
            continue
        raise CommandError("ERR " + errors.LIBRARY_METADATA_VALUE.format(part.decode("utf-8", "replace")))
    if name is None:
        raise CommandError("ERR " + errors.LIBRARY_NAME_MISSING)
    return parts[0][2:], name, code[end:]


def _load_error(problem: Any) -> str:
    """The message of an error raised while a library's code ran (no handler: string or table)."""
    if type(problem) is bytes:
        return "ERR " + problem.decode("utf-8", "replace")
    try:
        message = problem[b"err"]
    except Exception:
        message = None
    if type(message) is bytes:
        return message.decode("utf-8", "replace")
    return "ERR unknown error"


def create_library(state: Scripting, code: bytes, replace: bool, libraries: dict, functions: dict) -> Library:
    """Compile and run a library's code into `libraries`/`functions` (the live ones or a staging copy)."""
    engine_name, name, body = _metadata(code)
    if not _VALID_NAME.fullmatch(name):
        raise CommandError("ERR " + errors.LIBRARY_NAME_INVALID)
    if engine_name.decode("utf-8", "replace").upper() != ENGINE_NAME:
        raise CommandError(
            "ERR " + errors.LIBRARY_ENGINE_NOT_FOUND.format(engine_name.decode("utf-8", "replace"))
        )
    old = libraries.get(name)
    if old is not None and not replace:
        raise CommandError("ERR " + errors.LIBRARY_EXISTS.format(name.decode("utf-8", "replace")))
    if old is not None:
        _unlink(old, libraries, functions)
    library = Library(name, code)
    try:
        state.loading, state.loading_started = library, time.monotonic()
        try:
            ok, problem, compile_failed = state.function_engine.load_library(body)
        finally:
            state.loading = None
        if compile_failed:
            message = (problem or b"").decode("utf-8", "replace")
            raise CommandError("ERR " + errors.LIBRARY_COMPILE.format(message))
        if not ok:
            raise CommandError("ERR " + errors.LIBRARY_REGISTER.format(_load_error(problem)))
        if not library.functions:
            raise CommandError("ERR " + errors.LIBRARY_NO_FUNCTIONS)
        for function_name in library.functions:
            if function_name.lower() in functions:
                raise CommandError(
                    "ERR " + errors.FUNCTION_EXISTS.format(function_name.decode("utf-8", "replace"))
                )
    except CommandError:
        if old is not None:
            _link(old, libraries, functions)
        raise
    _link(library, libraries, functions)
    return library


def _link(library: Library, libraries: dict, functions: dict) -> None:
    libraries[library.name] = library
    for name, function in library.functions.items():
        functions[name.lower()] = function


def _unlink(library: Library, libraries: dict, functions: dict) -> None:
    del libraries[library.name]
    for name in library.functions:
        functions.pop(name.lower(), None)


def save(state: Scripting) -> None:
    """Write the libraries through the keyspace, where the storage persists them."""
    codes = [library.code for library in state.libraries.values()]
    state.keyspace.set_meta(META_NAME, dump.dump(codes) if codes else None)


def load_saved_libraries(state: Scripting) -> None:
    """Bring back the libraries a persistent storage loaded (once, when scripting is first used)."""
    payload = state.keyspace.meta.get(META_NAME)
    if not payload:
        return
    try:
        dump.verify(payload)
        for code in dump.library_codes(payload):
            create_library(state, code, True, state.libraries, state.functions)
    except (dump.PayloadError, CommandError) as problem:
        log.error("could not restore the saved function libraries: %s", problem)


ON_CREATE.append(load_saved_libraries)


# -- FCALL -----------------------------------------------------------------------------------------


def _fcall(client: Any, args: list[bytes], read_only: bool) -> bytes:
    state = scripting_of(client)
    function = state.functions.get(args[1].lower())
    if function is None:
        raise CommandError(errors.FUNCTION_NOT_FOUND)
    numkeys = parse_numkeys(args, errors.NUMKEYS_BAD)
    keys, rest = args[3 : 3 + numkeys], args[3 + numkeys :]
    engine = state.function_engine
    return execute(
        state,
        client,
        engine,
        function.name,
        False,
        function.callback,
        keys,
        rest,
        function.flags,
        read_only,
        args,
    )


@command("fcall", -3, FCALL_FLAGS, group="scripting", since="7.0.0", summary="Invoke a function")
def fcall(client, args):
    return _fcall(client, args, False)


@command(
    "fcall_ro",
    -3,
    "readonly " + FCALL_FLAGS,
    group="scripting",
    since="7.0.0",
    summary="Invoke a read-only function",
)
def fcall_ro(client, args):
    return _fcall(client, args, True)


# -- FUNCTION ----------------------------------------------------------------------------------------


@command("function", -2, "", group="scripting", since="7.0.0", summary="A container for function commands")
def function_(client, args):
    return dispatch_sub(client, args)


def _syntax(args: list[bytes]) -> CommandError:
    return CommandError(errors.SUBCOMMAND_SYNTAX.format(args[1].decode("utf-8", "replace"), "FUNCTION"))


def _refuse_over_memory(client: Any) -> None:
    """FUNCTION LOAD and RESTORE are denyoom: refused over maxmemory as any such command (the table's
    memory guard sees containers, not their subcommands)."""
    if over_memory(client.server):
        raise CommandError(errors.OOM[1:-2].decode())


@subcommand(
    "function",
    "load",
    -3,
    "write denyoom noscript",
    summary="Create a function with the given arguments (name, code, description)",
)
def function_load(client, args):
    _refuse_over_memory(client)
    replace = False
    position = 2
    while position < len(args) - 1:
        option = args[position]
        position += 1
        if option.lower() == b"replace":
            replace = True
            continue
        raise CommandError(errors.FUNCTION_LOAD_OPTION.format(option.decode("utf-8", "replace")))
    if position >= len(args):
        raise CommandError(errors.FUNCTION_CODE_MISSING)
    state = scripting_of(client)
    library = create_library(state, args[position], replace, state.libraries, state.functions)
    save(state)
    return b"$%d\r\n%s\r\n" % (len(library.name), library.name)


def _header(resp: Any, pairs: int) -> bytes:
    return b"%%%d\r\n" % pairs if resp.resp3 else b"*%d\r\n" % (2 * pairs)


def _function_entry(resp: Any, function: Function) -> bytes:
    flags = [SimpleString(name) for name, bit in SCRIPT_FLAGS.items() if function.flags & bit]
    fields = [b"name", function.name, b"description", function.description, b"flags"]
    return _header(resp, 3) + b"".join(resp.encode(field) for field in fields) + resp.set(flags)


def _library_entry(resp: Any, library: Library, with_code: bool) -> bytes:
    functions = [_function_entry(resp, function) for function in library.functions.values()]
    parts = [
        resp.encode(b"library_name"),
        resp.encode(library.name),
        resp.encode(b"engine"),
        resp.encode(ENGINE_NAME.encode()),
        resp.encode(b"functions"),
        b"*%d\r\n" % len(functions) + b"".join(functions),
    ]
    if with_code:
        parts += [resp.encode(b"library_code"), resp.encode(library.code)]
    return _header(resp, 4 if with_code else 3) + b"".join(parts)


@subcommand("function", "list", -2, "noscript", summary="List information about all the functions")
def function_list(client, args):
    with_code = False
    pattern = None
    position = 2
    while position < len(args):
        option = args[position].lower()
        if not with_code and option == b"withcode":
            with_code = True
        elif pattern is None and option == b"libraryname":
            if position >= len(args) - 1:
                raise CommandError(errors.FUNCTION_LIST_NAME_MISSING)
            position += 1
            pattern = args[position]
        else:
            raise CommandError(
                errors.FUNCTION_LIST_ARGUMENT.format(args[position].decode("utf-8", "replace"))
            )
        position += 1
    entries = [
        _library_entry(client.resp, library, with_code)
        for library in scripting_of(client).libraries.values()
        if pattern is None or match(pattern, library.name)
    ]
    return b"*%d\r\n" % len(entries) + b"".join(entries)


@subcommand("function", "delete", 3, "write noscript", summary="Delete a function by name")
def function_delete(client, args):
    state = scripting_of(client)
    library = state.libraries.get(args[2])
    if library is None:
        raise CommandError(errors.LIBRARY_NOT_FOUND)
    _unlink(library, state.libraries, state.functions)
    save(state)
    return OK


@subcommand("function", "flush", -2, "write noscript", summary="Deleting all functions")
def function_flush(client, args):
    if len(args) > 3:
        raise _syntax(args)
    if len(args) == 3 and args[2].lower() not in (b"async", b"sync"):
        raise CommandError(errors.FUNCTION_FLUSH_MODE)
    state = scripting_of(client)
    state.libraries.clear()
    state.functions.clear()
    save(state)
    return OK


@subcommand("function", "dump", 2, "noscript", summary="Dump all functions into a serialized binary payload")
def function_dump(client, args):
    payload = dump.dump([library.code for library in scripting_of(client).libraries.values()])
    return b"$%d\r\n%s\r\n" % (len(payload), payload)


@subcommand(
    "function",
    "restore",
    -3,
    "write denyoom noscript",
    summary="Restore all the functions on the given payload",
)
def function_restore(client, args):
    if len(args) > 4:
        raise _syntax(args)
    _refuse_over_memory(client)
    policy = b"append"
    if len(args) == 4:
        policy = args[3].lower()
        if policy not in (b"append", b"replace", b"flush"):
            raise CommandError(errors.FUNCTION_RESTORE_POLICY)
    payload = args[2]
    try:
        dump.verify(payload)
    except dump.PayloadError:
        raise CommandError(errors.FUNCTION_RESTORE_PAYLOAD) from None
    state = scripting_of(client)
    staged_libraries: dict[bytes, Library] = {}
    staged_functions: dict[bytes, Function] = {}
    try:
        for code in dump.library_codes(payload):
            create_library(state, code, False, staged_libraries, staged_functions)
    except dump.PayloadError as problem:
        raise CommandError("ERR " + str(problem)) from None
    _restore(state, policy, staged_libraries, staged_functions)
    save(state)
    return OK


def _restore(state: Scripting, policy: bytes, libraries: dict, functions: dict) -> None:
    """Join staged libraries into the live ones by FUNCTION RESTORE's policy (libraryJoin)."""
    if policy == b"flush":
        state.libraries, state.functions = libraries, functions
        return
    replaced = []
    for name in libraries:
        old = state.libraries.get(name)
        if old is None:
            continue
        if policy != b"replace":
            raise CommandError("ERR " + errors.LIBRARY_EXISTS_RESTORE.format(name.decode("utf-8", "replace")))
        _unlink(old, state.libraries, state.functions)
        replaced.append(old)
    for name, function in functions.items():
        if name in state.functions:
            for old in replaced:
                _link(old, state.libraries, state.functions)
            raise CommandError(
                "ERR " + errors.FUNCTION_EXISTS.format(function.name.decode("utf-8", "replace"))
            )
    for library in libraries.values():
        _link(library, state.libraries, state.functions)


@subcommand("function", "kill", 2, "noscript allow_busy", summary="Kill the function currently in execution.")
def function_kill(client, args):
    return kill(client, False)


@subcommand(
    "function",
    "stats",
    2,
    "noscript allow_busy",
    summary="Return information about the function currently running (name, description, duration)",
)
def function_stats(client, args):
    state = scripting_of(client)
    run = state.running
    if run is not None and run.is_eval:
        raise CommandError(errors.BUSY_EVAL)
    resp = client.resp
    running: Any = None
    if run is not None:
        running = {"name": run.name, "command": list(run.command), "duration_ms": elapsed_ms(run)}
    libraries = len(state.libraries)
    engines = {ENGINE_NAME: {"libraries_count": libraries, "functions_count": len(state.functions)}}
    return resp.map([("running_script", running), ("engines", engines)])


FUNCTION_HELP = [
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries:",
    "    * Library name",
    "    * The engine used to run the Library",
    "    * Library description",
    "    * Functions list",
    "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
    "STATS",
    "    Return information about the current function running:",
    "    * Function name",
    "    * Command used to run the function",
    "    * Duration in MS that the function is running",
    "    If no function is running, return nil",
    "    In addition, returns a list of available engines.",
    "KILL",
    "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.",
    "    * SYNC: Synchronously flush the libraries.",
    "DUMP",
    "    Return a serialized payload representing the current libraries, can be restored using FUNCTION "
    "RESTORE command",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
    "    control how to handle existing libraries (default APPEND):",
    "    * FLUSH: delete all existing libraries.",
    "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
    "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
    "      libraries with the new libraries (notice that even on this option there is a chance of failure",
    "      in case of functions name collision with another library).",
]


@subcommand(
    "function", "help", 2, "loading stale", summary="Show helpful text about the different subcommands"
)
def function_help(client, args):
    return help_reply(client, "function", FUNCTION_HELP)
