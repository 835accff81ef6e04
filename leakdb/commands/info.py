"""INFO: the server's state as Redis formats it, one ``# Section`` of ``field:value`` lines per part.

Each section is a function of the server returning (field, value) pairs; the section order is Redis's,
whatever order the client asks in.  A ``leakdb`` section reports the storage (mode, file, queue).
"""

from __future__ import annotations

import os
import platform
import resource
import sys
import time
import weakref
from collections.abc import Callable
from typing import Any

from ..engine.keyspace import now_ms
from ..resp import Verbatim
from ..system import peak_rss_bytes, rss_bytes, total_system_memory
from ..version import REDIS_VERSION, __version__
from . import blocking
from .diskerror import storage_failing
from .instruments import instruments_of
from .pubsub import hub_of
from .registry import command
from .scripting.state import existing_state

Fields = list[tuple[str, Any]]

# How many keys with a deadline avg_ttl looks at per database; Redis estimates it by sampling too.
TTL_SAMPLE = 1000


def human_bytes(size: float) -> str:
    """Redis's bytesToHuman: 1015616 -> '991.81K'."""
    if size < 1024:
        return f"{int(size)}B"
    for unit in "KMGTP":
        size /= 1024
        if size < 1024 or unit == "P":
            return f"{size:.2f}{unit}"
    return f"{size:.2f}P"  # unreachable; keeps type checkers content


# -- sections --------------------------------------------------------------------------------------


def server_section(server: Any) -> Fields:
    uptime = int(time.time() - server.start_time)
    config = server.config
    return [
        ("redis_version", REDIS_VERSION),
        ("redis_git_sha1", "00000000"),
        ("redis_git_dirty", 0),
        ("redis_build_id", "0"),
        ("redis_mode", "standalone"),
        ("os", f"{platform.system()} {platform.release()} {platform.machine()}"),
        ("arch_bits", 64 if sys.maxsize > 2**32 else 32),
        ("monotonic_clock", "POSIX clock_gettime"),
        ("multiplexing_api", "libev"),
        ("atomicvar_api", "none"),
        ("gcc_version", "0.0.0"),
        ("process_id", os.getpid()),
        ("process_supervised", "no"),
        ("run_id", run_id(server)),
        ("tcp_port", server.port),
        ("server_time_usec", time.time_ns() // 1000),
        ("uptime_in_seconds", uptime),
        ("uptime_in_days", uptime // 86400),
        ("hz", config["hz"]),
        ("configured_hz", config["hz"]),
        ("lru_clock", int(time.time()) & (2**24 - 1)),
        ("executable", sys.executable),
        ("config_file", config.file or ""),
        ("io_threads_active", 0),
        ("leakdb_version", __version__),
        ("python_version", platform.python_version()),
    ]


class ServerState:
    """What the server commands remember about one server beyond its own attributes: the run id and
    the SAVE/BGSAVE history that INFO persistence reports."""

    def __init__(self) -> None:
        self.run_id = os.urandom(20).hex()
        self.repl_id = os.urandom(20).hex()
        self.repl_id2 = "0" * 40
        self.bgsave_started: float | None = None  # time.monotonic() of the running BGSAVE
        self.bgsave_scheduled = False
        self.last_ok = True
        self.last_failed_ms = 0  # when the last SAVE/BGSAVE failed
        self.last_seconds = -1
        self.saves = 0

    def change_repl_id(self) -> None:
        """DEBUG CHANGE-REPL-ID: a new replication id; the old one becomes the secondary."""
        self.repl_id2, self.repl_id = self.repl_id, os.urandom(20).hex()

    @property
    def in_progress(self) -> bool:
        return self.bgsave_started is not None

    def current_seconds(self) -> int:
        if self.bgsave_started is None:
            return -1
        return int(time.monotonic() - self.bgsave_started)


_STATES: weakref.WeakKeyDictionary[Any, ServerState] = weakref.WeakKeyDictionary()


def state_of(server: Any) -> ServerState:
    state = _STATES.get(server)
    if state is None:
        state = _STATES[server] = ServerState()
    return state


def run_id(server: Any) -> str:
    """A random 40-hex-digit id per server, as Redis gives each run."""
    return state_of(server).run_id


def clients_section(server: Any) -> Fields:
    # Only clients waiting in a blocking command: SAVE or DEBUG SLEEP hold a client without blocking it.
    blocked, in_timeout_table = blocking.blocked_counts(server)
    return [
        ("connected_clients", len(server.clients)),
        ("cluster_connections", 0),
        ("maxclients", server.config["maxclients"]),
        ("client_recent_max_input_buffer", max(server.recent_max_input, _largest(server, "input"))),
        ("client_recent_max_output_buffer", max(server.recent_max_output, _largest(server, "output"))),
        ("blocked_clients", blocked),
        ("tracking_clients", 0),
        ("clients_in_timeout_table", in_timeout_table),
    ]


def _largest(server: Any, kind: str) -> int:
    if kind == "output":
        return max((len(client.output) for client in server.clients.values()), default=0)
    return max((client.parser.pending() for client in server.clients.values()), default=0)


def memory_section(server: Any) -> Fields:
    # Without maxmemory nothing is accounted per key (that would cost every write), so the process's
    # resident size stands in for used_memory; with it, used_memory is the estimate eviction holds
    # under the limit (see leakdb/memory.py), and RSS over it shows as fragmentation.
    rss = rss_bytes()
    memory = server.memory
    used = rss if memory is None else memory.used
    startup = 0 if memory is None else memory.baseline  # the interpreter: not part of used_memory
    peak = max(peak_rss_bytes(), rss) if memory is None else memory.peak
    system = total_system_memory()
    maxmemory = server.config["maxmemory"]
    dataset = 0 if memory is None else memory.tracker.total
    return [
        ("used_memory", used),
        ("used_memory_human", human_bytes(used)),
        ("used_memory_rss", rss),
        ("used_memory_rss_human", human_bytes(rss)),
        ("used_memory_peak", peak),
        ("used_memory_peak_human", human_bytes(peak)),
        ("used_memory_peak_perc", f"{100 * used / (peak or 1):.2f}%"),
        ("used_memory_overhead", 0 if memory is None else memory.overhead),
        ("used_memory_startup", startup),
        ("used_memory_dataset", dataset),
        ("used_memory_dataset_perc", f"{100 * dataset / used if used else 0:.2f}%"),
        ("allocator_allocated", used),
        ("allocator_active", rss),
        ("allocator_resident", rss),
        ("total_system_memory", system),
        ("total_system_memory_human", human_bytes(system)),
        *scripting_memory(server),
        ("maxmemory", maxmemory),
        ("maxmemory_human", human_bytes(maxmemory)),
        ("maxmemory_policy", server.config["maxmemory-policy"]),
        ("allocator_frag_ratio", f"{rss / (used or 1):.2f}"),
        ("allocator_frag_bytes", rss - used),
        ("allocator_rss_ratio", "1.00"),
        ("allocator_rss_bytes", 0),
        ("rss_overhead_ratio", "1.00"),
        ("rss_overhead_bytes", 0),
        ("mem_fragmentation_ratio", f"{rss / (used + startup):.2f}"),
        ("mem_fragmentation_bytes", rss - used - startup),
        ("mem_not_counted_for_evict", 0),
        ("mem_replication_backlog", 0),
        ("mem_total_replication_buffers", 0),
        ("mem_clients_slaves", 0),
        ("mem_clients_normal", server.clients_memory()),
        ("mem_cluster_links", 0),
        ("mem_aof_buffer", 0),
        ("mem_allocator", "pymalloc"),
        ("active_defrag_running", 0),
        ("lazyfree_pending_objects", 0),
        ("lazyfreed_objects", 0),
    ]


def scripting_memory(server: Any) -> Fields:
    """Redis's Lua and function memory fields: interpreter memory as each Lua reports it, the script
    cache and the function libraries by the size of their code."""
    state = existing_state(server)
    vm_eval = state.engine_memory("eval") if state is not None else 0
    vm_functions = state.engine_memory("function") if state is not None else 0
    scripts = state.scripts_memory if state is not None else 0
    functions = sum(len(lib.code) + 64 for lib in state.libraries.values()) if state is not None else 0
    return [
        ("used_memory_lua", vm_eval),
        ("used_memory_vm_eval", vm_eval),
        ("used_memory_lua_human", human_bytes(vm_eval)),
        ("used_memory_scripts_eval", scripts),
        ("number_of_cached_scripts", len(state.scripts) if state is not None else 0),
        ("number_of_functions", len(state.functions) if state is not None else 0),
        ("number_of_libraries", len(state.libraries) if state is not None else 0),
        ("used_memory_vm_functions", vm_functions),
        ("used_memory_vm_total", vm_eval + vm_functions),
        ("used_memory_vm_total_human", human_bytes(vm_eval + vm_functions)),
        ("used_memory_functions", functions),
        ("used_memory_scripts", scripts + functions),
        ("used_memory_scripts_human", human_bytes(scripts + functions)),
    ]


def persistence_section(server: Any) -> Fields:
    state = state_of(server)
    storage = server.storage.info()
    failing = storage_failing(server.storage)
    # A failed SAVE stays reported until a write reaches the file again (a flush, or a probe).
    recovered = storage.get("last_flush_ms", 0) >= state.last_failed_ms
    return [
        ("loading", 0),
        ("async_loading", 0),
        ("current_cow_peak", 0),
        ("current_cow_size", 0),
        ("current_cow_size_age", 0),
        ("current_fork_perc", "0.00"),
        ("current_save_keys_processed", 0),
        ("current_save_keys_total", 0),
        ("rdb_changes_since_last_save", storage.get("queue_length", 0)),
        ("rdb_bgsave_in_progress", int(state.in_progress)),
        ("rdb_last_save_time", server.lastsave),
        ("rdb_last_bgsave_status", "ok" if (state.last_ok or recovered) and not failing else "err"),
        ("rdb_last_bgsave_time_sec", state.last_seconds),
        ("rdb_current_bgsave_time_sec", state.current_seconds()),
        ("rdb_saves", state.saves),
        ("rdb_last_cow_size", 0),
        ("rdb_last_load_keys_expired", 0),
        ("rdb_last_load_keys_loaded", storage.get("keys_loaded", 0)),
        ("aof_enabled", 0),
        ("aof_rewrite_in_progress", 0),
        ("aof_rewrite_scheduled", 0),
        ("aof_last_rewrite_time_sec", -1),
        ("aof_current_rewrite_time_sec", -1),
        ("aof_last_bgrewrite_status", "ok"),
        ("aof_rewrites", 0),
        ("aof_rewrites_consecutive_failures", 0),
        ("aof_last_write_status", "ok"),
        ("aof_last_cow_size", 0),
        ("module_fork_in_progress", 0),
        ("module_fork_last_cow_size", 0),
    ]


def stats_section(server: Any) -> Fields:
    stats = server.stats
    hub = hub_of(server)
    return [
        ("total_connections_received", stats.connections_received),
        ("total_commands_processed", stats.commands_processed),
        ("instantaneous_ops_per_sec", 0),
        ("total_net_input_bytes", stats.net_input_bytes),
        ("total_net_output_bytes", stats.net_output_bytes),
        ("total_net_repl_input_bytes", 0),
        ("total_net_repl_output_bytes", 0),
        ("instantaneous_input_kbps", "0.00"),
        ("instantaneous_output_kbps", "0.00"),
        ("instantaneous_input_repl_kbps", "0.00"),
        ("instantaneous_output_repl_kbps", "0.00"),
        ("rejected_connections", stats.rejected_connections),
        ("sync_full", 0),
        ("sync_partial_ok", 0),
        ("sync_partial_err", 0),
        ("expired_keys", stats.expired_keys),
        ("expired_stale_perc", "0.00"),
        ("expired_time_cap_reached_count", 0),
        ("expire_cycle_cpu_milliseconds", 0),
        ("evicted_keys", stats.evicted_keys),
        ("evicted_clients", stats.evicted_clients),
        ("total_eviction_exceeded_time", 0),
        ("current_eviction_exceeded_time", 0),
        ("keyspace_hits", 0),
        ("keyspace_misses", 0),
        ("pubsub_channels", len(hub.channels)),
        ("pubsub_patterns", len(hub.patterns)),
        ("pubsubshard_channels", 0),
        ("latest_fork_usec", 0),
        ("total_forks", 0),
        ("migrate_cached_sockets", 0),
        ("slave_expires_tracked_keys", 0),
        ("active_defrag_hits", 0),
        ("active_defrag_misses", 0),
        ("active_defrag_key_hits", 0),
        ("active_defrag_key_misses", 0),
        ("total_active_defrag_time", 0),
        ("current_active_defrag_time", 0),
        ("tracking_total_keys", 0),
        ("tracking_total_items", 0),
        ("tracking_total_prefixes", 0),
        ("unexpected_error_replies", 0),
        ("total_error_replies", instruments_of(server).error_replies),
        ("dump_payload_sanitizations", 0),
        ("total_reads_processed", 0),
        ("total_writes_processed", 0),
        ("io_threaded_reads_processed", 0),
        ("io_threaded_writes_processed", 0),
        ("reply_buffer_shrinks", 0),
        ("reply_buffer_expands", 0),
    ]


def replication_section(server: Any) -> Fields:
    return [
        ("role", "master"),
        ("connected_slaves", 0),
        ("master_failover_state", "no-failover"),
        ("master_replid", state_of(server).repl_id),
        ("master_replid2", state_of(server).repl_id2),
        ("master_repl_offset", 0),
        ("second_repl_offset", -1),
        ("repl_backlog_active", 0),
        ("repl_backlog_size", 1048576),
        ("repl_backlog_first_byte_offset", 0),
        ("repl_backlog_histlen", 0),
    ]


def cpu_section(server: Any) -> Fields:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return [
        ("used_cpu_sys", f"{own.ru_stime:.6f}"),
        ("used_cpu_user", f"{own.ru_utime:.6f}"),
        ("used_cpu_sys_children", f"{children.ru_stime:.6f}"),
        ("used_cpu_user_children", f"{children.ru_utime:.6f}"),
        ("used_cpu_sys_main_thread", f"{own.ru_stime:.6f}"),
        ("used_cpu_user_main_thread", f"{own.ru_utime:.6f}"),
    ]


def commandstats_section(server: Any) -> Fields:
    fields = []
    for name, stats in instruments_of(server).commandstats.items():
        usec = stats.ns // 1000
        per_call = usec / stats.calls if stats.calls else 0.0
        fields.append(
            (
                f"cmdstat_{name}",
                f"calls={stats.calls},usec={usec},usec_per_call={per_call:.2f},"
                f"rejected_calls={stats.rejected},failed_calls={stats.failed}",
            )
        )
    return fields


def errorstats_section(server: Any) -> Fields:
    return [
        (f"errorstat_{kind}", f"count={count}") for kind, count in instruments_of(server).errorstats.items()
    ]


def latencystats_section(server: Any) -> Fields:
    instruments = instruments_of(server)
    fields = []
    for name, stats in instruments.commandstats.items():
        if not stats.calls:
            continue
        values = ",".join(
            f"p{percent:g}={stats.percentile(percent):.3f}" for percent in instruments.percentiles
        )
        fields.append((f"latency_percentiles_usec_{name}", values))
    return fields


def empty_section(server: Any) -> Fields:
    return []


def cluster_section(server: Any) -> Fields:
    return [("cluster_enabled", 0)]


def average_ttl_ms(expires: dict[bytes, int]) -> int:
    if not expires:
        return 0
    now = now_ms()
    sample = [deadline - now for _, deadline in zip(range(TTL_SAMPLE), expires.values(), strict=False)]
    live = [ttl for ttl in sample if ttl > 0]
    return sum(live) // len(live) if live else 0


def keyspace_section(server: Any) -> Fields:
    return [
        (
            f"db{db.index}",
            f"keys={len(db.data)},expires={len(db.expires)},avg_ttl={average_ttl_ms(db.expires)}",
        )
        for db in server.keyspace.databases
        if db.data
    ]


def leakdb_section(server: Any) -> Fields:
    info = server.storage.info()
    return [
        ("leakdb_version", __version__),
        ("storage_mode", info.get("mode", "")),
        ("storage_backend", info.get("backend") or ""),
        ("storage_file", info.get("filename") or ""),
        ("storage_file_size", info.get("file_size", 0)),
        ("storage_queue_length", info.get("queue_length", 0)),
        ("storage_flushes", info.get("flushes", 0)),
        ("storage_flush_errors", info.get("flush_errors", 0)),
        ("storage_last_flush_ms", info.get("last_flush_ms", 0)),
        ("storage_last_error", _one_line(str(info.get("last_error") or ""))),
        ("storage_keys_loaded", info.get("keys_loaded", 0)),
        ("storage_load_time_ms", info.get("load_time_ms", 0)),
        *_upstream_fields(info),
    ]


def _upstream_fields(info: dict[str, Any]) -> Fields:
    """The upstream Redis behind the storage (backend redis): its state, and how far behind it is."""
    if "upstream" not in info:
        return []
    pending = info.get("upstream_unsaved", 0)
    lag_ms = max(0, now_ms() - info["last_flush_ms"]) if pending and info.get("last_flush_ms") else 0
    return [
        ("upstream", info["upstream"]),
        ("upstream_state", info.get("upstream_state", "")),
        ("upstream_writes", info.get("upstream_writes", 0)),
        ("upstream_pending_writes", pending),
        ("upstream_lag_ms", lag_ms),
        ("upstream_refreshed_keys", info.get("upstream_refreshed", 0)),
        ("upstream_read_throughs", info.get("upstream_read_throughs", 0)),
        ("upstream_resyncs", info.get("upstream_resyncs", 0)),
    ]


def _one_line(text: str) -> str:
    return text.replace("\r", " ").replace("\n", " ")


# name -> (title, builder), in the order Redis prints them.
SECTIONS: dict[str, tuple[str, Callable[[Any], Fields]]] = {
    "server": ("Server", server_section),
    "clients": ("Clients", clients_section),
    "memory": ("Memory", memory_section),
    "persistence": ("Persistence", persistence_section),
    "stats": ("Stats", stats_section),
    "replication": ("Replication", replication_section),
    "cpu": ("CPU", cpu_section),
    "modules": ("Modules", empty_section),
    "commandstats": ("Commandstats", commandstats_section),
    "errorstats": ("Errorstats", errorstats_section),
    "latencystats": ("Latencystats", latencystats_section),
    "cluster": ("Cluster", cluster_section),
    "keyspace": ("Keyspace", keyspace_section),
    "leakdb": ("LeakDB", leakdb_section),
}
# "all" and "everything" add the per-command sections to the default ones (LeakDB has no modules,
# whose sections are what "everything" adds to "all").
PER_COMMAND = frozenset({"commandstats", "latencystats"})
DEFAULT_SECTIONS = frozenset(SECTIONS) - PER_COMMAND


def wanted_sections(args: list[bytes]) -> set[str]:
    names = {raw.lower().decode("utf-8", "replace") for raw in args} or {"default"}
    wanted = names & SECTIONS.keys()
    if "default" in names:
        wanted |= DEFAULT_SECTIONS
    if names & {"all", "everything"}:
        wanted |= set(SECTIONS)
    return wanted


def render(server: Any, wanted: set[str]) -> str:
    """The INFO text: the wanted sections in Redis's order, separated by an empty line."""
    blocks = []
    for name, (title, build) in SECTIONS.items():
        if name in wanted:
            lines = [f"# {title}"] + [f"{field}:{value}" for field, value in build(server)]
            blocks.append("\r\n".join(lines) + "\r\n")
    return "\r\n".join(blocks)


@command(
    "info", -1, "loading stale", group="server", summary="Get information and statistics about the server"
)
def info(client, args):
    return client.resp.encode(Verbatim(render(client.server, wanted_sections(args[1:]))))
