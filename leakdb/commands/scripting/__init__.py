"""Scripting: EVAL/EVALSHA, SCRIPT, FUNCTION and FCALL on a real Lua 5.1 (lupa's lua51 runtime).

The package holds the engine (engine.py over the Lua sandbox in sandbox.lua), the conversions between
replies and Lua values (convert.py), the libraries Redis loads (libs/), the per-keyspace state and
``redis.call`` (state.py), running a script (invoke.py), busy replies for slow scripts (busy.py), and
the commands (evalcmds.py, functions.py, with dump.py for FUNCTION DUMP's payload).
"""

from __future__ import annotations

from . import evalcmds, functions  # noqa: F401  (each import registers its commands)
