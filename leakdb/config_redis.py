"""Redis 7.0's settings that LeakDB's own table (:mod:`leakdb.config`) did not already have, by Redis's
names, types, ranges and defaults: the encoding thresholds, the settings other parts of the server
read (notifications, SLOWLOG, LATENCY, ACL), and the many that only make sense for Redis's replication,
cluster, AOF or allocator, which LeakDB reads, keeps and reports with the reason they have no effect.
"""

from __future__ import annotations

from typing import Any

from . import errors
from .config_values import (
    INT_MAX,
    INT_MIN,
    LONG_MAX,
    UINT_MAX,
    Setting,
    choice,
    format_bool,
    format_words,
    integer,
    memory,
    named_nonempty,
    parse_bool,
    parse_hostname,
    parse_memory,
    parse_oom_values,
    parse_proc_title_template,
    parse_replicaof,
    text,
)

# Why a setting has no effect in LeakDB, one reason per family (README's settings table shows them).
NO_REPLICATION = "LeakDB has no replication"
NO_CLUSTER = "LeakDB has no cluster mode"
NO_AOF = "LeakDB keeps no append-only file: its storage mode decides durability"
NO_RDB = "LeakDB writes its own data file (storage mode and backend), not RDB snapshots"
NO_DEFRAG = "no active defragmentation: Python's allocator manages memory"
NO_THREADS = "LeakDB serves every client from one event loop"
NO_AFFINITY = "LeakDB pins no thread or child process to CPUs"
NO_SYSLOG = "LeakDB logs to logfile or standard error"
NO_SUPERVISION = "LeakDB runs in the foreground: a service manager supervises it"
NO_PROC_TITLE = "LeakDB leaves its process title as Python sets it"
NO_LAZYFREE = "LeakDB frees memory when Python drops the value"
NO_MODULES = "LeakDB loads no Redis modules"


def _bool(name: str, default: bool, help: str, **options: Any) -> Setting:
    return Setting(name, default, parse_bool, help, format=format_bool, **options)


def _int(name: str, default: int, low: int, high: int, help: str, **options: Any) -> Setting:
    return Setting(name, default, integer(low, high), help, **options)


def _mem(name: str, default: int, help: str, low: int = 0, **options: Any) -> Setting:
    return Setting(name, default, memory(low), help, **options)


def _enum(name: str, default: str, choices: tuple[str, ...], help: str, **options: Any) -> Setting:
    return Setting(name, default, choice(*choices), help, choices=choices, **options)


def _text(name: str, default: str, help: str, **options: Any) -> Setting:
    return Setting(name, default, options.pop("parse", text), help, **options)


_OOM_MODES = choice("no", "yes", "relative", "absolute")
_YES_NO_LOCAL = ("no", "yes", "local")
_SHUTDOWN = ("default", "save", "nosave", "now", "force")

# Redis 7.0's other settings, in its names.  Those that act in LeakDB say so in their help; the others
# name why they have no effect (inert), and are read, kept and reported all the same.
REDIS_PARITY = [
    # -- what LeakDB acts on --------------------------------------------------------------------------
    _int("hash-max-listpack-entries", 512, 0, LONG_MAX, "a hash with more fields becomes a hashtable"),
    _mem("hash-max-listpack-value", 64, "a hash with a longer field or value becomes a hashtable"),
    _int("set-max-intset-entries", 512, 0, LONG_MAX, "an integer set with more members becomes a hashtable"),
    _int("zset-max-listpack-entries", 128, 0, LONG_MAX, "a sorted set with more members becomes a skiplist"),
    _mem("zset-max-listpack-value", 64, "a sorted set with a longer member becomes a skiplist"),
    _int(
        "list-max-listpack-size",
        -2,
        INT_MIN,
        INT_MAX,
        "quicklist node size",
        inert="Redis 7.0 reports every list as quicklist; LeakDB's DUMP writes 8 KB nodes",
    ),
    _int(
        "list-compress-depth",
        0,
        0,
        INT_MAX,
        "uncompressed quicklist nodes at each end",
        inert="LeakDB never compresses list nodes",
    ),
    _int("acllog-max-len", 128, 0, LONG_MAX, "entries ACL LOG keeps"),
    _enum(
        "acl-pubsub-default",
        "resetchannels",
        ("allchannels", "resetchannels"),
        "channels a new ACL user may use",
    ),
    _text("pidfile", "", "write the server's process id to this file", mutable=False),
    _int("tcp-backlog", 511, 0, INT_MAX, "pending connections the listening sockets queue", mutable=False),
    _enum(
        "appendfsync",
        "everysec",
        ("everysec", "always", "no"),
        "with appendonly yes at start-up: always writes through, everysec and no write behind",
        fixed=errors.CONFIG_STORAGE_FIXED,
    ),
    Setting(
        "replicaof",
        "",
        parse_replicaof,
        "LeakDB is always a master: only 'no one' is accepted",
        mutable=False,
        many_words=True,
    ),
    # -- kept, with no effect ------------------------------------------------------------------------
    _bool("daemonize", False, "run in the background", mutable=False, inert=NO_SUPERVISION),
    _enum(
        "supervised",
        "no",
        ("upstart", "systemd", "auto", "no"),
        "service manager protocol",
        mutable=False,
        inert=NO_SUPERVISION,
    ),
    _int("tcp-keepalive", 300, 0, INT_MAX, "TCP keepalive seconds", inert="LeakDB keeps the OS's keepalive"),
    _text("bind-source-addr", "", "source address of outgoing connections", inert=NO_REPLICATION),
    _int("socket-mark-id", 0, 0, UINT_MAX, "SO_MARK of the sockets", mutable=False, inert="no socket marks"),
    _bool("always-show-logo", False, "the ASCII logo at start-up", mutable=False, inert="no logo"),
    _bool("set-proc-title", True, "set the process title", mutable=False, inert=NO_PROC_TITLE),
    Setting(
        "proc-title-template",
        "{title} {listen-addr} {server-mode}",
        parse_proc_title_template,
        "process title",
        inert=NO_PROC_TITLE,
    ),
    _bool("syslog-enabled", False, "log to syslog", mutable=False, inert=NO_SYSLOG),
    _text("syslog-ident", "redis", "syslog identity", mutable=False, inert=NO_SYSLOG),
    _enum(
        "syslog-facility",
        "local0",
        ("user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"),
        "syslog facility",
        mutable=False,
        inert=NO_SYSLOG,
    ),
    _bool("crash-log-enabled", True, "log a stack trace on a crash", inert="Python reports its own errors"),
    _bool("crash-memcheck-enabled", True, "memory test after a crash", inert="no memory test"),
    _bool("rdbcompression", True, "LZF in RDB files", inert=NO_RDB),
    _bool("rdbchecksum", True, "CRC64 in RDB files", mutable=False, inert=NO_RDB),
    _bool("rdb-del-sync-files", False, "delete RDB files used only for replication", inert=NO_RDB),
    _bool("rdb-save-incremental-fsync", True, "fsync RDB files as they are written", inert=NO_RDB),
    _enum(
        "sanitize-dump-payload",
        "no",
        ("no", "yes", "clients"),
        "deep checks of RESTORE payloads",
        inert="LeakDB always checks a RESTORE payload whole",
    ),
    _text(
        "appendfilename",
        "appendonly.aof",
        "AOF base name",
        parse=named_nonempty("appendfilename"),
        mutable=False,
        inert=NO_AOF,
    ),
    _text(
        "appenddirname",
        "appendonlydir",
        "AOF directory",
        parse=named_nonempty("appenddirname"),
        mutable=False,
        inert=NO_AOF,
    ),
    _bool("no-appendfsync-on-rewrite", False, "skip fsync during AOF rewrites", inert=NO_AOF),
    _int("auto-aof-rewrite-percentage", 100, 0, INT_MAX, "AOF growth that triggers a rewrite", inert=NO_AOF),
    _mem("auto-aof-rewrite-min-size", 64 * 1024**2, "smallest AOF that is rewritten", inert=NO_AOF),
    _bool("aof-load-truncated", True, "load a truncated AOF", inert=NO_AOF),
    _bool("aof-use-rdb-preamble", True, "RDB preamble in the AOF", inert=NO_AOF),
    _bool("aof-timestamp-enabled", False, "timestamps in the AOF", inert=NO_AOF),
    _bool("aof-rewrite-incremental-fsync", True, "fsync the AOF as it is rewritten", inert=NO_AOF),
    _bool("aof-disable-auto-gc", False, "keep old AOF files", inert=NO_AOF),
    _text("masterauth", "", "password for the master", inert=NO_REPLICATION),
    _text("masteruser", "", "user for the master", inert=NO_REPLICATION),
    _bool("replica-serve-stale-data", True, "serve while the link is down", inert=NO_REPLICATION),
    _bool("replica-read-only", True, "refuse writes as a replica", inert=NO_REPLICATION),
    _bool("replica-ignore-maxmemory", True, "replicas do not evict", inert=NO_REPLICATION),
    _bool("replica-lazy-flush", False, "flush asynchronously on a full sync", inert=NO_REPLICATION),
    _bool("replica-announced", True, "listed by Sentinel", inert=NO_REPLICATION),
    _bool("replica-ignore-disk-write-errors", False, "go on when the disk fails", inert=NO_REPLICATION),
    _int("replica-priority", 100, 0, INT_MAX, "failover priority", inert=NO_REPLICATION),
    _text("replica-announce-ip", "", "address announced to the master", inert=NO_REPLICATION),
    _int("replica-announce-port", 0, 0, 65535, "port announced to the master", inert=NO_REPLICATION),
    _bool("repl-diskless-sync", True, "full syncs over the socket", inert=NO_REPLICATION),
    _int("repl-diskless-sync-delay", 5, 0, INT_MAX, "seconds before a diskless sync", inert=NO_REPLICATION),
    _int("repl-diskless-sync-max-replicas", 0, 0, INT_MAX, "replicas to wait for", inert=NO_REPLICATION),
    _enum(
        "repl-diskless-load",
        "disabled",
        ("disabled", "on-empty-db", "swapdb"),
        "load a full sync from the socket",
        inert=NO_REPLICATION,
    ),
    _bool("repl-disable-tcp-nodelay", False, "batch replication packets", inert=NO_REPLICATION),
    _int("repl-ping-replica-period", 10, 1, INT_MAX, "seconds between pings", inert=NO_REPLICATION),
    _int("repl-timeout", 60, 1, INT_MAX, "replication timeout", inert=NO_REPLICATION),
    Setting(
        "repl-backlog-size",
        1024**2,
        lambda raw: max(16384, memory(1)(raw)),  # Redis's smallest backlog
        "replication backlog",
        inert=NO_REPLICATION,
    ),
    _int(
        "repl-backlog-ttl",
        3600,
        0,
        LONG_MAX,
        "seconds the backlog outlives its replicas",
        inert=NO_REPLICATION,
    ),
    _int("min-replicas-to-write", 0, 0, INT_MAX, "replicas needed to accept writes", inert=NO_REPLICATION),
    _int("min-replicas-max-lag", 10, 0, INT_MAX, "their largest lag in seconds", inert=NO_REPLICATION),
    _enum(
        "propagation-error-behavior",
        "ignore",
        ("ignore", "panic", "panic-on-replicas"),
        "a write that fails on a replica",
        inert=NO_REPLICATION,
    ),
    _bool("cluster-enabled", False, "cluster mode", mutable=False, inert=NO_CLUSTER),
    _text("cluster-config-file", "nodes.conf", "cluster state file", mutable=False, inert=NO_CLUSTER),
    _int("cluster-port", 0, 0, 65535, "cluster bus port", mutable=False, inert=NO_CLUSTER),
    _int("cluster-node-timeout", 15000, 0, LONG_MAX, "milliseconds before a node fails", inert=NO_CLUSTER),
    _int("cluster-replica-validity-factor", 10, 0, INT_MAX, "failover validity", inert=NO_CLUSTER),
    _int("cluster-migration-barrier", 1, 0, INT_MAX, "replicas a master keeps", inert=NO_CLUSTER),
    _bool("cluster-allow-replica-migration", True, "replicas move to orphaned masters", inert=NO_CLUSTER),
    _bool("cluster-require-full-coverage", True, "stop when a slot is uncovered", inert=NO_CLUSTER),
    _bool("cluster-replica-no-failover", False, "never fail over", inert=NO_CLUSTER),
    _bool("cluster-allow-reads-when-down", False, "serve reads while down", inert=NO_CLUSTER),
    _bool("cluster-allow-pubsubshard-when-down", True, "serve sharded pub/sub while down", inert=NO_CLUSTER),
    _text("cluster-announce-ip", "", "announced address", inert=NO_CLUSTER),
    Setting("cluster-announce-hostname", "", parse_hostname, "announced hostname", inert=NO_CLUSTER),
    _int("cluster-announce-port", 0, 0, 65535, "announced port", inert=NO_CLUSTER),
    _int("cluster-announce-tls-port", 0, 0, 65535, "announced TLS port", inert=NO_CLUSTER),
    _int("cluster-announce-bus-port", 0, 0, 65535, "announced bus port", inert=NO_CLUSTER),
    _enum(
        "cluster-preferred-endpoint-type",
        "ip",
        ("ip", "hostname", "unknown-endpoint"),
        "endpoint shown to clients",
        inert=NO_CLUSTER,
    ),
    Setting("cluster-link-sendbuf-limit", 0, parse_memory, "bus link buffer limit", inert=NO_CLUSTER),
    _bool("activedefrag", False, "active defragmentation", inert=NO_DEFRAG),
    _mem("active-defrag-ignore-bytes", 100 * 1024**2, "fragmentation ignored", low=1, inert=NO_DEFRAG),
    _int("active-defrag-threshold-lower", 10, 0, 1000, "percent that starts it", inert=NO_DEFRAG),
    _int("active-defrag-threshold-upper", 100, 0, 1000, "percent of full effort", inert=NO_DEFRAG),
    _int("active-defrag-cycle-min", 1, 1, 99, "least CPU percent", inert=NO_DEFRAG),
    _int("active-defrag-cycle-max", 25, 1, 99, "most CPU percent", inert=NO_DEFRAG),
    _int("active-defrag-max-scan-fields", 1000, 1, LONG_MAX, "fields per scan step", inert=NO_DEFRAG),
    _bool("jemalloc-bg-thread", True, "jemalloc's purge thread", inert=NO_DEFRAG),
    _bool("activerehashing", True, "incremental rehashing", inert="Python's dicts resize themselves"),
    _bool(
        "disable-thp", True, "turn transparent huge pages off", mutable=False, inert="LeakDB leaves THP alone"
    ),
    Setting(
        "oom-score-adj",
        "no",
        lambda raw: {"relative": "yes"}.get(_OOM_MODES(raw), _OOM_MODES(raw)),  # relative is yes
        "set oom_score_adj",
        choices=("no", "yes", "relative", "absolute"),
        inert="LeakDB leaves oom_score_adj alone",
    ),
    Setting(
        "oom-score-adj-values",
        (0, 200, 800),
        parse_oom_values,
        "oom_score_adj of master, replica and child",
        format=format_words,
        many_words=True,
        inert="LeakDB leaves oom_score_adj alone",
    ),
    _int("io-threads", 1, 1, 128, "I/O threads", mutable=False, inert=NO_THREADS),
    _bool("io-threads-do-reads", False, "I/O threads also read", mutable=False, inert=NO_THREADS),
    _text("server_cpulist", "", "CPUs of the main thread", mutable=False, inert=NO_AFFINITY),
    _text("bio_cpulist", "", "CPUs of background threads", mutable=False, inert=NO_AFFINITY),
    _text("aof_rewrite_cpulist", "", "CPUs of AOF rewrites", mutable=False, inert=NO_AFFINITY),
    _text("bgsave_cpulist", "", "CPUs of BGSAVE", mutable=False, inert=NO_AFFINITY),
    _bool("lazyfree-lazy-eviction", False, "free evicted values in the background", inert=NO_LAZYFREE),
    _bool("lazyfree-lazy-expire", False, "free expired values in the background", inert=NO_LAZYFREE),
    _bool("lazyfree-lazy-server-del", False, "free overwritten values in the background", inert=NO_LAZYFREE),
    _bool("lazyfree-lazy-user-del", False, "DEL as UNLINK", inert=NO_LAZYFREE),
    _bool("lazyfree-lazy-user-flush", False, "FLUSHALL as FLUSHALL ASYNC", inert=NO_LAZYFREE),
    _bool("dynamic-hz", True, "raise hz with many clients", inert="hz stays as set"),
    _int(
        "active-expire-effort", 1, 1, 10, "effort of the expiry cycle", inert="LeakDB's cycle has one effort"
    ),
    _int(
        "maxmemory-eviction-tenacity",
        10,
        0,
        100,
        "eviction effort per command",
        inert="LeakDB evicts until under the limit",
    ),
    _mem(
        "stream-node-max-bytes",
        4096,
        "bytes per stream radix-tree node",
        inert="stream nodes are Redis's defaults",
    ),
    _int(
        "stream-node-max-entries",
        100,
        0,
        LONG_MAX,
        "entries per stream node",
        inert="stream nodes are Redis's defaults",
    ),
    _enum(
        "shutdown-on-sigint", "default", _SHUTDOWN, "what SIGINT does", inert="SIGINT shuts down and saves"
    ),
    _enum(
        "shutdown-on-sigterm", "default", _SHUTDOWN, "what SIGTERM does", inert="SIGTERM shuts down and saves"
    ),
    _int("shutdown-timeout", 10, 0, INT_MAX, "seconds to wait for replicas", inert=NO_REPLICATION),
    _enum(
        "enable-debug-command",
        "no",
        _YES_NO_LOCAL,
        "allow DEBUG",
        mutable=False,
        inert="DEBUG is always allowed",
    ),
    _enum("enable-module-command", "no", _YES_NO_LOCAL, "allow MODULE", mutable=False, inert=NO_MODULES),
    _enum(
        "enable-protected-configs",
        "no",
        _YES_NO_LOCAL,
        "allow CONFIG SET dir and dbfilename",
        mutable=False,
        inert="dir and dbfilename never change while LeakDB runs",
    ),
    _text("ignore-warnings", "", "start-up warnings to silence", inert="LeakDB has none of Redis's warnings"),
    # Redis's hidden settings: only by their exact name.
    _int("key-load-delay", 0, INT_MIN, INT_MAX, "debugging delay", hidden=True, inert="a Redis test hook"),
    _int(
        "rdb-key-save-delay", 0, INT_MIN, INT_MAX, "debugging delay", hidden=True, inert="a Redis test hook"
    ),
    _int(
        "loading-process-events-interval-bytes",
        2 * 1024**2,
        1024,
        INT_MAX,
        "loading event interval",
        hidden=True,
        inert="a Redis test hook",
    ),
]
