"""Redis commands, one module per family; importing this package builds the command table."""

from __future__ import annotations

from . import (  # noqa: F401  (each import registers a family)
    connection,
    hashes,
    keys,
    lists,
    pubsub,
    scripting,
    server,
    sets,
    streams,
    strings,
    transactions,
    zblocking,
    zranges,
    zsetops,
    zsets,
)
from .registry import COMMANDS, DISPATCH, Command, Suspend, command, lookup, subcommand

__all__ = ["COMMANDS", "DISPATCH", "Command", "Suspend", "command", "lookup", "subcommand"]
