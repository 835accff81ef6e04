"""The command layer: Redis commands, one module per family, over the engine.

registry.py holds the table (importing this package fills it); blocking.py, eviction.py and
diskerror.py are the run-time mechanisms commands share; inprocess.py runs commands without a socket.
"""

from __future__ import annotations

from . import (  # noqa: F401  (each import registers a family)
    acl,
    bitfield,
    bitmaps,
    clientctl,
    connection,
    debug,
    diagnostics,
    dump,
    geo,
    hashes,
    hyperloglog,
    keys,
    lcs,
    lists,
    pause,
    pubsub,
    replication,
    scripting,
    server,
    sets,
    settings,
    sort,
    standalone,
    stream_groups,
    stream_info,
    stream_reads,
    streams,
    strings,
    transactions,
    zblocking,
    zranges,
    zsetops,
    zsets,
)
from .keyfinders import install_key_finders
from .registry import COMMANDS, DISPATCH, Command, Suspend, command, lookup, subcommand

install_key_finders()

__all__ = ["COMMANDS", "DISPATCH", "Command", "Suspend", "command", "lookup", "subcommand"]
