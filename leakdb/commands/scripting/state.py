"""The scripting state of one keyspace: its Lua engines, the script cache, the function libraries, the
script running now, and what ``redis.call`` does.

A script's commands run as Redis runs them for its Lua client: through the command table, on a client of
their own whose database starts as the caller's and whose protocol is RESP2 until ``redis.setresp(3)``;
commands flagged ``noscript`` are refused, blocking ones return at once (as inside MULTI), read-only
scripts refuse writes, and the first write is refused under a disk error or when memory was over
``maxmemory`` as the script started.  Writes go through the keyspace like any other, so persistence,
WATCH, blocked clients and eviction see them.
"""

from __future__ import annotations

import logging
import time
import weakref
from time import perf_counter_ns
from typing import Any

from ... import errors
from ...engine.keyspace import Keyspace
from ...errors import CommandError
from ...resp import RESP2, RESP3, Protocol
from ..acl import script_denial
from ..registry import DENYOOM, DISPATCH, NOSCRIPT, WRITE, Command, Suspend, lookup
from .convert import ERROR, reply_to_lua
from .engine import EVAL, FUNCTION, Engine, Random48

log = logging.getLogger("leakdb.scripting")

LOG_LEVELS = (logging.DEBUG, logging.INFO, logging.WARNING, logging.WARNING)
VERBOSITY = {"debug": 0, "verbose": 1, "notice": 2, "warning": 3}
LOAD_TIMEOUT_SECONDS = 0.5
MAY_REPLICATE = "may_replicate"


class ScriptClient:
    """The client a script's commands run as (Redis's Lua client): never blocks, never subscribed."""

    lua = True  # MONITOR shows its commands as "[db lua]"

    __slots__ = (
        "authenticated",
        "close_after_reply",
        "closed",
        "db",
        "db_index",
        "dispatch",
        "id",
        "in_exec",
        "keyspace",
        "lib_name",
        "lib_ver",
        "multi",
        "name",
        "no_evict",
        "no_touch",
        "resp",
        "server",
        "subscriptions",
        "watch",
    )

    def __init__(self, keyspace: Keyspace, server: Any) -> None:
        self.keyspace = keyspace
        self.server = server
        self.db = keyspace[0]
        self.db_index = 0
        self.resp: Protocol = RESP2
        self.in_exec = True  # blocking commands answer at once, as inside MULTI
        self.multi = None
        self.watch = None
        self.subscriptions = None
        self.name = b""
        self.id = 0
        self.dispatch = DISPATCH
        self.authenticated = True
        self.no_touch = False
        self.no_evict = False
        self.close_after_reply = False
        self.closed = False
        self.lib_name = ""
        self.lib_ver = ""

    def select(self, index: int) -> None:
        self.db = self.keyspace[index]
        self.db_index = index

    def set_protocol(self, version: int) -> None:
        self.resp = RESP3 if version == 3 else RESP2


class Run:
    """One script invocation: who called, what it may do, and what it has done."""

    __slots__ = (
        "allow_oom",
        "busy",
        "caller",
        "command",
        "dirty",
        "engine",
        "is_eval",
        "killed",
        "name",
        "oom",
        "read_only",
        "started",
    )

    def __init__(self, caller: Any, engine: Engine, name: bytes, command: list[bytes], is_eval: bool) -> None:
        self.caller = caller
        self.engine = engine
        self.name = name
        self.command = command
        self.is_eval = is_eval
        self.read_only = False
        self.allow_oom = False
        self.oom = False
        self.dirty = False
        self.killed = False
        self.busy = None  # a busy.Busy once the script has run past busy-reply-threshold
        self.started = time.monotonic()


class Script:
    """A cached EVAL script: its body, shebang flags (None without a shebang) and compiled function."""

    __slots__ = ("body", "flags", "function")

    def __init__(self, body: bytes, flags: int | None, function: Any) -> None:
        self.body = body
        self.flags = flags
        self.function = function


class Scripting:
    """Everything scripting keeps for one keyspace (one server, or one storage in process)."""

    def __init__(self, keyspace: Keyspace) -> None:
        self.keyspace = keyspace
        self.random = Random48()
        self._eval: Engine | None = None
        self._function: Engine | None = None
        self.scripts: dict[bytes, Script] = {}
        self.scripts_memory = 0
        self.libraries: dict[bytes, Any] = {}  # name -> functions.Library
        self.functions: dict[bytes, Any] = {}  # name -> functions.Function
        self.running: Run | None = None
        self.loading: Any = None  # the library FUNCTION LOAD is building, while its code runs
        self.loading_started = 0.0
        self.max_memory = 0
        self.client = ScriptClient(keyspace, None)

    # -- engines --------------------------------------------------------------------------------------

    @property
    def eval_engine(self) -> Engine:
        if self._eval is None:
            self._eval = Engine(EVAL, self, self.random, self.max_memory)
        return self._eval

    @property
    def function_engine(self) -> Engine:
        if self._function is None:
            self._function = Engine(FUNCTION, self, self.random, self.max_memory)
        return self._function

    def reset_eval(self) -> None:
        """SCRIPT FLUSH: a new interpreter and an empty cache."""
        self._eval = None
        self.scripts = {}
        self.scripts_memory = 0

    def engine_memory(self, which: str) -> int:
        engine = self._eval if which == EVAL else self._function
        return engine.memory() if engine is not None else 0

    def configure_memory(self, limit: int) -> None:
        self.max_memory = limit
        for engine in (self._eval, self._function):
            if engine is not None:
                engine.set_max_memory(limit)

    # -- the Redis API, called from Lua ---------------------------------------------------------------

    def call(self, *args: Any) -> tuple[int, Any]:
        run = self.running
        if run is None:
            return ERROR, b"ERR " + errors.LUA_OUTSIDE_SCRIPT.encode()
        if not args:
            return ERROR, b"ERR " + errors.LUA_NO_ARGUMENTS.encode()
        argv = []
        for arg in args:
            kind = type(arg)
            if kind is bytes:
                argv.append(arg)
            elif kind is int or kind is float:
                argv.append(b"%.17g" % arg)
            else:
                return ERROR, b"ERR " + errors.LUA_BAD_ARGUMENTS.encode()
        entry = DISPATCH.get(argv[0]) or lookup(argv[0])
        if entry is None:
            return ERROR, b"ERR " + errors.LUA_UNKNOWN_COMMAND.encode()
        declared = entry[3]
        target = _target(declared, argv)
        if target is None:
            return ERROR, b"ERR " + errors.LUA_UNKNOWN_COMMAND.encode()
        if not target.min_args <= len(argv) <= target.max_args:
            return ERROR, b"ERR " + errors.LUA_WRONG_ARITY.encode()
        refusal = self._refusal(run, target)
        if refusal is None and run.caller is not None:
            refusal = script_denial(run.caller, declared, argv)
        if refusal is not None:
            return ERROR, refusal
        client = self.client
        server = client.server
        if server is not None and server.memory is not None:
            _touch(server.memory, client, declared, argv)
        instruments = getattr(server, "instruments", None)
        record = instruments is not None and instruments.per_command
        began = perf_counter_ns() if record else 0
        try:
            reply = declared.handler(client, argv)
        except CommandError as problem:
            reply = errors.error_reply(str(problem))
        except Suspend:
            reply = errors.error_reply("ERR " + errors.LUA_CANNOT_BLOCK)
        except Exception:
            log.exception("command %r failed inside a script", declared.name)
            reply = b"-ERR internal error while running '%s'\r\n" % declared.name.encode()
        if record:  # statistics and MONITOR (as "lua") count the script's commands
            instruments.inner(client, declared, argv, reply, perf_counter_ns() - began)
        return reply_to_lua(reply, run.engine.table_from)

    def _refusal(self, run: Run, target: Command) -> bytes | None:
        flags = target.flags
        if NOSCRIPT in flags:
            return b"ERR " + errors.LUA_NOSCRIPT_COMMAND.encode()
        write = WRITE in flags
        if run.read_only and (write or MAY_REPLICATE in flags):
            return b"ERR " + errors.LUA_WRITE_IN_READONLY.encode()
        if write and not run.dirty:
            server = self.client.server
            if server is not None and server.refusing_writes:
                from ..diskerror import MISCONF

                return MISCONF[1:-2]
        if DENYOOM in flags and run.oom and not run.allow_oom and not run.dirty:
            return errors.OOM[1:-2]
        if write:
            run.dirty = True
        return None

    def acl_check(self, *args: Any) -> tuple[int, Any]:
        # The default user, the only one LeakDB has, may run every command.
        if not args or any(type(arg) not in (bytes, int, float) for arg in args):
            return ERROR, b"ERR " + (
                errors.LUA_NO_ARGUMENTS if not args else errors.LUA_BAD_ARGUMENTS
            ).encode()
        name = args[0] if type(args[0]) is bytes else b"%.17g" % args[0]
        entry = DISPATCH.get(name) or lookup(name)
        if entry is None or _target(entry[3], [name, *(a for a in args[1:] if type(a) is bytes)]) is None:
            return ERROR, b"ERR " + errors.LUA_ACL_CHECK_INVALID.encode()
        return 0, True

    def log(self, level: int, message: bytes) -> None:
        server = self.client.server
        verbosity = VERBOSITY.get(server.config["loglevel"], 2) if server is not None else 2
        if level >= verbosity:
            log.log(LOG_LEVELS[level], "%s", message.decode("utf-8", "replace"))

    def setresp(self, version: int) -> None:
        self.client.resp = RESP3 if version == 3 else RESP2

    def tick(self) -> int:
        """Called by the count hook every 100000 Lua instructions: 0 go on, 1 stop (killed), 2 stop (a
        library's code ran past FUNCTION LOAD's time limit)."""
        run = self.running
        if run is None:
            if self.loading is not None and time.monotonic() - self.loading_started > LOAD_TIMEOUT_SECONDS:
                return 2
            return 0
        if run.killed:
            return 1
        server = run.caller.server
        if server is None:
            return 0
        if run.busy is None:
            threshold = server.config["busy-reply-threshold"]
            if threshold <= 0 or (time.monotonic() - run.started) * 1000 < threshold:
                return 0
            from .busy import Busy

            log.warning(
                "Slow script detected: still in execution after %d milliseconds. You can try killing "
                "the script using the %s command. Script name is: %s.",
                (time.monotonic() - run.started) * 1000,
                "SCRIPT KILL" if run.is_eval else "FUNCTION KILL",
                run.name.decode("utf-8", "replace"),
            )
            run.busy = Busy(server, self, run)
        run.busy.serve()
        return 1 if run.killed else 0

    def register_function(self, name: bytes, callback: Any, flags: int, description: Any) -> bytes | None:
        library = self.loading
        if library is None:
            return errors.LUA_REGISTER_OUTSIDE_LOAD.encode()
        return library.add(name, callback, flags, description)


def _target(declared: Command, argv: list[bytes]) -> Command | None:
    """The command or subcommand `argv` names, as Redis's lookupCommand resolves it."""
    if not declared.subcommands or len(argv) < 2:
        return declared
    return declared.subcommands.get(argv[1].lower().decode("utf-8", "replace"))


def _touch(memory: Any, client: ScriptClient, declared: Command, argv: list[bytes]) -> None:
    touch = memory.touch
    if touch is None:
        return
    positions = declared.key_positions(argv)
    if positions:
        touch(client.db_index, [argv[i] for i in positions if i < len(argv)])


_STATES: weakref.WeakKeyDictionary[Keyspace, Scripting] = weakref.WeakKeyDictionary()
# Called with each new state; functions.py restores the libraries a restart brought back.
ON_CREATE: list[Any] = []


def scripting_of(client: Any) -> Scripting:
    """The scripting state of the keyspace `client` works on (made, with its libraries, on first use)."""
    server = client.server
    keyspace = server.keyspace if server is not None else client.keyspace
    state = _STATES.get(keyspace)
    if state is None:
        state = _STATES[keyspace] = Scripting(keyspace)
        for prepare in ON_CREATE:
            prepare(state)
    if server is not None:
        state.client.server = server
        limit = server.config["lua-maxmemory"]
        if limit != state.max_memory:
            state.configure_memory(limit)
    return state


def existing_state(server: Any) -> Scripting | None:
    """The scripting state of a server's keyspace if scripting has been used (INFO reads it)."""
    return _STATES.get(server.keyspace)
