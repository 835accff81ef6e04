"""The commands of features a standalone LeakDB does not have, answered as Redis answers them when
they are off, or refused with a reason: never acknowledged and ignored.

CLUSTER (every subcommand) and ASKING give Redis's "cluster support disabled"; MODULE LIST is empty
and a module can't be loaded; BGREWRITEAOF has no append-only file to rewrite; SYNC, PSYNC and
REPLCONF, which a replica sends, are refused. RESTORE-ASKING is RESTORE, as on a server outside a
cluster.
"""

from __future__ import annotations

import logging

from .. import errors
from ..errors import CommandError
from .connection import help_reply
from .dump import restore
from .registry import command, dispatch_sub, subcommand

log = logging.getLogger("leakdb.server")


def _cluster_disabled(client, args):
    raise CommandError(errors.CLUSTER_DISABLED)


@command("cluster", -2, group="cluster", since="3.0.0", summary="A container for Redis Cluster commands")
def cluster(client, args):
    return dispatch_sub(client, args)


# Redis 7.0's CLUSTER subcommands: (name, arity, flags).
_CLUSTER = [
    ("addslots", -3, "admin stale no_async_loading"),
    ("addslotsrange", -4, "admin stale no_async_loading"),
    ("bumpepoch", 2, "admin stale no_async_loading"),
    ("count-failure-reports", 3, "admin stale"),
    ("countkeysinslot", 3, "stale"),
    ("delslots", -3, "admin stale no_async_loading"),
    ("delslotsrange", -4, "admin stale no_async_loading"),
    ("failover", -2, "admin stale no_async_loading"),
    ("flushslots", 2, "admin stale no_async_loading"),
    ("forget", 3, "admin stale no_async_loading"),
    ("getkeysinslot", 4, "stale"),
    ("help", 2, "loading stale"),
    ("info", 2, "stale"),
    ("keyslot", 3, "stale"),
    ("links", 2, "stale"),
    ("meet", -4, "admin stale no_async_loading"),
    ("myid", 2, "stale"),
    ("nodes", 2, "stale"),
    ("replicas", 3, "admin stale"),
    ("replicate", 3, "admin stale no_async_loading"),
    ("reset", -2, "admin noscript stale"),
    ("saveconfig", 2, "admin stale no_async_loading"),
    ("set-config-epoch", 3, "admin stale no_async_loading"),
    ("setslot", -4, "admin stale no_async_loading"),
    ("shards", 2, "stale"),
    ("slaves", 3, "admin stale"),
    ("slots", 2, "stale"),
]
for _name, _arity, _flags in _CLUSTER:
    subcommand("cluster", _name, _arity, _flags, summary="Not served: cluster support is disabled")(
        _cluster_disabled
    )


@command(
    "asking",
    1,
    "fast",
    group="cluster",
    since="3.0.0",
    summary="Sent by cluster clients after an -ASK redirect",
)
def asking(client, args):
    raise CommandError(errors.CLUSTER_DISABLED)


@command("module", -2, group="server", since="4.0.0", summary="A container for module commands")
def module(client, args):
    return dispatch_sub(client, args)


@subcommand("module", "list", 2, "admin noscript", summary="List all modules loaded by the server")
def module_list(client, args):
    return client.resp.array([])


def _module_load(client, args):
    log.warning(
        "MODULE %s %s refused: LeakDB cannot load Redis modules",
        args[1].decode().upper(),
        args[2].decode(errors="replace"),
    )
    return errors.MODULE_LOAD_FAILED


subcommand("module", "load", -3, "admin noscript no_async_loading", summary="Load a module")(_module_load)
subcommand(
    "module",
    "loadex",
    -3,
    "admin noscript no_async_loading",
    summary="Load a module with extended parameters",
)(_module_load)


@subcommand("module", "unload", 3, "admin noscript no_async_loading", summary="Unload a module")
def module_unload(client, args):
    return errors.MODULE_NOT_LOADED


MODULE_HELP = [
    "LIST",
    "    Return a list of loaded modules.",
    "LOAD <path> [<arg> ...]",
    "    Load a module library from <path>, passing to it any optional arguments.",
    "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
    "    Load a module library from <path>, while passing it module configurations and optional arguments.",
    "UNLOAD <name>",
    "    Unload a module.",
]


@subcommand("module", "help", 2, "loading stale", summary="Show helpful text about the different subcommands")
def module_help(client, args):
    return help_reply(client, "module", MODULE_HELP)


@command(
    "bgrewriteaof",
    1,
    "admin noscript no_async_loading",
    group="server",
    since="1.0.0",
    summary="Asynchronously rewrite the append-only file",
)
def bgrewriteaof(client, args):
    return errors.NO_APPEND_ONLY_FILE


def _no_replicas(client, args):
    return errors.NO_REPLICAS


_REPLICA_FLAGS = "admin noscript no_async_loading no_multi"
command(
    "sync", 1, _REPLICA_FLAGS, group="server", since="1.0.0", summary="Internal command used for replication"
)(_no_replicas)
command(
    "psync",
    -3,
    _REPLICA_FLAGS,
    group="server",
    since="2.8.0",
    summary="Internal command used for replication",
)(_no_replicas)
command(
    "replconf",
    -1,
    "admin noscript loading stale allow_busy",
    group="server",
    since="3.0.0",
    summary="An internal command for configuring the replication stream",
)(_no_replicas)

command(
    "restore-asking",
    -4,
    "write denyoom asking",
    1,
    1,
    since="3.0.0",
    summary="An internal command for migrating keys in a cluster",
)(restore)
