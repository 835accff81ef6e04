"""Running one script or function for a client: Redis's checks before it starts, the run itself, and
its result (or error) as the caller's reply.

The checks are scriptPrepareForRun's: a script declaring flags may write only if it lacks
``no-writes`` and the command is not a ``_RO`` one, and only while the data file can be written; it
may start over ``maxmemory`` only with ``allow-oom`` or ``no-writes``.  Scripts without a shebang
(Redis's compatibility mode) skip them; their writes are checked one by one instead.
"""

from __future__ import annotations

import time
from typing import Any

from ... import errors
from ...errors import CommandError
from ...resp import RESP2
from ..diskerror import MISCONF
from .convert import lua_to_reply, to_integer
from .engine import FLAG_ALLOW_OOM, FLAG_NO_WRITES, Engine
from .libs.common import deep_recursion
from .state import Run, Scripting


def parse_numkeys(args: list[bytes], bad_number: str) -> int:
    """EVAL's and FCALL's key count, checked against the arguments as Redis checks it."""
    try:
        text = args[2]
        numkeys = int(text)
        if text != b"%d" % numkeys or not -(2**63) <= numkeys < 2**63:
            raise ValueError
    except ValueError:
        raise CommandError(bad_number) from None
    if numkeys > len(args) - 3:
        raise CommandError(errors.NUMKEYS_TOO_MANY_TEXT)
    if numkeys < 0:
        raise CommandError(errors.NUMKEYS_NEGATIVE)
    return numkeys


def over_memory(server: Any) -> bool:
    """Whether memory is over maxmemory once eviction has done what it can (performEvictions)."""
    memory = None if server is None else server.memory
    if memory is None:
        return False
    if memory.tracker.total > memory.budget:
        return not memory.make_room()
    return False


def prepare(client: Any, flags: int | None, read_only_command: bool) -> tuple[bool, bool, bool]:
    """(read only, allow oom, over memory) for a run, or CommandError with Redis's refusal."""
    server = client.server
    oom = over_memory(server)
    if flags is None:
        return read_only_command, False, oom
    in_transaction = client.in_exec
    if not flags & FLAG_NO_WRITES:
        if server is not None and server.refusing_writes:
            if not in_transaction:
                raise CommandError(MISCONF[1:-2].decode())
            raise CommandError(errors.SCRIPT_MISCONF)
        if read_only_command:
            raise CommandError(errors.SCRIPT_WRITE_WITH_RO)
    if oom and not flags & (FLAG_ALLOW_OOM | FLAG_NO_WRITES):
        raise CommandError(errors.OOM[1:-2].decode() if not in_transaction else errors.SCRIPT_OOM)
    read_only = read_only_command or bool(flags & FLAG_NO_WRITES)
    return read_only, bool(flags & FLAG_ALLOW_OOM), oom


def execute(
    state: Scripting,
    client: Any,
    engine: Engine,
    name: bytes,
    is_eval: bool,
    target: Any,
    keys: list[bytes],
    args: list[bytes],
    flags: int | None,
    read_only_command: bool,
    command: list[bytes],
) -> bytes:
    """Run `target` (a compiled script, or a function's callback) and encode its reply for `client`."""
    read_only, allow_oom, oom = prepare(client, flags, read_only_command)
    run = Run(client, engine, name, command, is_eval)
    run.read_only, run.allow_oom, run.oom = read_only, allow_oom, oom
    script_client = state.client
    script_client.select(client.db_index)
    script_client.resp = RESP2
    state.running = run
    try:
        if is_eval:
            ok, result = engine.run_eval(target, keys, args)
        else:
            ok, result = engine.run_function(target, keys, args)
        caller = client.resp
        if ok:
            return _reply(result, caller, script_client.resp is not RESP2)
        return _error_reply(result, name, engine)
    except Exception as problem:  # lupa's own errors (memory) surface here, outside the sandbox
        engine.gc()
        return errors.error_reply(errors.SCRIPT_RUN_FAILED.format(name.decode("utf-8", "replace"), problem))
    finally:
        state.running = None
        if run.busy is not None:
            run.busy.finish()


def _reply(result: Any, caller: Any, script_resp3: bool) -> bytes:
    kind = type(result)
    if kind is bytes or kind is int or kind is float or kind is bool or result is None:
        return lua_to_reply(result, caller, script_resp3)
    with deep_recursion():
        return lua_to_reply(result, caller, script_resp3)


def _error_reply(problem: Any, name: bytes, engine: Engine) -> bytes:
    """Redis's reply for a failed run: "-<err> script: <name>, on <source>:<line>."."""
    shown = name.decode("utf-8", "replace")
    if type(problem) is not bytes and problem is not None and not isinstance(problem, int | float | bool):
        try:
            message = problem[b"err"]
            source = problem[b"source"]
            line = problem[b"line"]
        except Exception:
            message = None
        if message is not None:
            text = _text(message)
            if source is not None and line is not None:
                text += b" script: %s, on %s:%s." % (name, _text(source), _text(line))
            return b"-" + text.replace(b"\r", b" ").replace(b"\n", b" ") + b"\r\n"
    # Not an error table (out of memory, or the error handler failed): Redis's generic wording.
    engine.gc()
    detail = problem.decode("utf-8", "replace") if type(problem) is bytes else "execution failure"
    return errors.error_reply(errors.SCRIPT_RUN_FAILED.format(shown, detail[:100]))


def _text(value: Any) -> bytes:
    if type(value) is bytes:
        return value.split(b"\0", 1)[0]
    if type(value) is int or (type(value) is float and value == int(value)):
        return b"%d" % to_integer(value)
    return str(value).encode()


def elapsed_ms(run: Run) -> int:
    return int((time.monotonic() - run.started) * 1000)
