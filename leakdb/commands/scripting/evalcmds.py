"""EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT (LOAD, EXISTS, FLUSH, KILL, DEBUG, HELP).

Every script EVAL or SCRIPT LOAD sees is compiled once into the EVAL interpreter and cached under the
SHA1 of its body until SCRIPT FLUSH, as in Redis 7.0.  A ``#!lua flags=...`` first line declares flags
(``no-writes``, ``allow-oom``, ...); without one a script runs in Redis's compatibility mode.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ... import errors
from ...errors import CommandError
from ...resp import OK, ProtocolError, SimpleString, bulk, split_inline
from ..connection import help_reply
from ..registry import command, dispatch_sub, subcommand
from .engine import SCRIPT_FLAGS
from .invoke import execute, parse_numkeys
from .state import Script, Scripting, scripting_of

EVAL_FLAGS = "noscript stale skip_monitor no_mandatory_keys movablekeys"
EVAL_RO_FLAGS = "readonly " + EVAL_FLAGS
CHUNK_NAME = b"@user_script"


def shebang(body: bytes) -> tuple[int | None, int]:
    """(flags, length of the first line) of a script; (None, 0) without a shebang."""
    if not body.startswith(b"#!"):
        return None, 0
    end = body.find(b"\n")
    if end < 0 or body.find(b"\0", 0, end) >= 0:
        raise CommandError(errors.SHEBANG_INVALID)
    try:
        parts = split_inline(body[:end])
    except ProtocolError:
        raise CommandError(errors.SHEBANG_ENGINE_INVALID) from None
    if not parts:
        raise CommandError(errors.SHEBANG_ENGINE_INVALID)
    if parts[0] != b"#!lua":
        raise CommandError(errors.SHEBANG_ENGINE_UNEXPECTED.format(_shown(parts[0])))
    flags = 0
    for part in parts[1:]:
        if not part.startswith(b"flags="):
            raise CommandError(errors.SHEBANG_OPTION_UNKNOWN.format(_shown(part)))
        listed = part[6:]
        for name in listed.split(b",") if listed else []:
            bit = SCRIPT_FLAGS.get(name.decode("utf-8", "replace"))
            if bit is None:
                raise CommandError(errors.SHEBANG_FLAG_UNEXPECTED.format(_shown(name)))
            flags |= bit
    return flags, end


def _shown(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def cached_script(state: Scripting, body: bytes) -> tuple[bytes, Script]:
    """The script with this body, compiled and cached on first sight (Redis's luaCreateFunction)."""
    sha = hashlib.sha1(body).hexdigest().encode()
    script = state.scripts.get(sha)
    if script is not None:
        return sha, script
    flags, skip = shebang(body)
    # The shebang line is left out, its newline kept, so line numbers stay the user's.
    function, problem = state.eval_engine.compile(body[skip:], CHUNK_NAME)
    if function is None:
        raise CommandError(errors.SCRIPT_COMPILE.format(_shown(problem or b"")))
    script = state.scripts[sha] = Script(body, flags, function)
    state.scripts_memory += len(sha) + len(body) + 64
    return sha, script


def _run(client: Any, args: list[bytes], sha: bytes, script: Script, numkeys: int, read_only: bool) -> bytes:
    state = scripting_of(client)
    keys = args[3 : 3 + numkeys]
    argv = args[3 + numkeys :]
    return execute(
        state,
        client,
        state.eval_engine,
        sha,
        True,
        script.function,
        keys,
        argv,
        script.flags,
        read_only,
        args,
    )


def _eval(client: Any, args: list[bytes], read_only: bool) -> bytes:
    numkeys = parse_numkeys(args, errors.NotAnIntegerError.message)
    sha, script = cached_script(scripting_of(client), args[1])
    return _run(client, args, sha, script, numkeys, read_only)


def _evalsha(client: Any, args: list[bytes], read_only: bool) -> bytes:
    if len(args[1]) != 40:
        raise CommandError(errors.NOSCRIPT)
    numkeys = parse_numkeys(args, errors.NotAnIntegerError.message)
    sha = args[1].lower()
    script = scripting_of(client).scripts.get(sha)
    if script is None:
        raise CommandError(errors.NOSCRIPT)
    return _run(client, args, sha, script, numkeys, read_only)


@command("eval", -3, EVAL_FLAGS, group="scripting", since="2.6.0", summary="Execute a Lua script server side")
def eval_(client, args):
    return _eval(client, args, False)


@command(
    "evalsha", -3, EVAL_FLAGS, group="scripting", since="2.6.0", summary="Execute a Lua script server side"
)
def evalsha(client, args):
    return _evalsha(client, args, False)


@command(
    "eval_ro",
    -3,
    EVAL_RO_FLAGS,
    group="scripting",
    since="7.0.0",
    summary="Execute a read-only Lua script server side",
)
def eval_ro(client, args):
    return _eval(client, args, True)


@command(
    "evalsha_ro",
    -3,
    EVAL_RO_FLAGS,
    group="scripting",
    since="7.0.0",
    summary="Execute a read-only Lua script server side",
)
def evalsha_ro(client, args):
    return _evalsha(client, args, True)


# -- SCRIPT ----------------------------------------------------------------------------------------


@command(
    "script",
    -2,
    "",
    group="scripting",
    since="2.6.0",
    summary="A container for Lua scripts management commands",
)
def script_(client, args):
    return dispatch_sub(client, args)


@subcommand(
    "script", "load", 3, "noscript stale", summary="Load the specified Lua script into the script cache."
)
def script_load(client, args):
    sha, _ = cached_script(scripting_of(client), args[2])
    return bulk(sha)


@subcommand("script", "exists", -3, "noscript", summary="Check existence of scripts in the script cache.")
def script_exists(client, args):
    scripts = scripting_of(client).scripts
    found = [b":1\r\n" if sha.lower() in scripts else b":0\r\n" for sha in args[2:]]
    return b"*%d\r\n" % len(found) + b"".join(found)


@subcommand("script", "flush", -2, "noscript", summary="Remove all the scripts from the script cache.")
def script_flush(client, args):
    if len(args) > 3 or (len(args) == 3 and args[2].lower() not in (b"async", b"sync")):
        raise CommandError(errors.SCRIPT_FLUSH_MODE)
    scripting_of(client).reset_eval()
    return OK


def kill(client: Any, is_eval: bool) -> bytes:
    """SCRIPT KILL and FUNCTION KILL: stop the running script if it has not written yet."""
    run = scripting_of(client).running
    if run is None:
        raise CommandError(errors.NOTBUSY)
    if run.dirty:
        raise CommandError(errors.UNKILLABLE)
    if is_eval and not run.is_eval:
        raise CommandError(errors.BUSY_FUNCTION)
    if not is_eval and run.is_eval:
        raise CommandError(errors.BUSY_EVAL)
    run.killed = True
    return OK


@subcommand("script", "kill", 2, "noscript allow_busy", summary="Kill the script currently in execution.")
def script_kill(client, args):
    return kill(client, True)


@subcommand("script", "debug", 3, "noscript", summary="Set the debug mode for executed scripts.")
def script_debug(client, args):
    mode = args[2].lower()
    if mode == b"no":
        return OK  # debugging is never on
    if mode in (b"yes", b"sync"):
        raise CommandError(errors.SCRIPT_DEBUG_UNSUPPORTED)
    raise CommandError(errors.SCRIPT_DEBUG_USAGE)


SCRIPT_HELP = [
    "DEBUG (YES|SYNC|NO)",
    "    Set the debug mode for subsequent scripts executed.",
    "EXISTS <sha1> [<sha1> ...]",
    "    Return information about the existence of the scripts in the script cache.",
    "FLUSH [ASYNC|SYNC]",
    "    Flush the Lua scripts cache. Very dangerous on replicas.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the scripts cache.",
    "    * SYNC: Synchronously flush the scripts cache.",
    "KILL",
    "    Kill the currently executing Lua script.",
    "LOAD <script>",
    "    Load a script into the scripts cache without executing it.",
]


@subcommand("script", "help", 2, "loading stale", summary="Show helpful text about the different subcommands")
def script_help(client, args):
    return help_reply(client, "script", SCRIPT_HELP)


__all__ = ["SimpleString", "cached_script", "kill", "shebang"]
