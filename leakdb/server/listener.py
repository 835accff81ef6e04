"""The listener: a gevent StreamServer accepts connections, and the server owns the clients, timers,
signals and shutdown.

Every client socket gets a read watcher on the gevent hub (see client.py): no greenlet switch per
request.  Work that must wait (SAVE, DEBUG SLEEP, SHUTDOWN) runs in a greenlet of its own while the
client's later commands stay queued.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import socket
import stat
import time
from typing import Any

import gevent
import gevent.event
import gevent.socket
from gevent.server import StreamServer

from .. import errors
from ..commands import diskerror
from ..commands.eviction import configure_memory
from ..commands.instruments import Instruments
from ..commands.notifications import configure as configure_notifications
from ..config import Config, client_memory_limit
from ..engine import encodings
from ..engine.keyspace import Keyspace
from ..errors import MAX_CLIENTS, MISCONF
from ..version import REDIS_VERSION, __version__
from .client import Client, TLSClient
from .tls import Handshake, TLSConfigError, build_context

log = logging.getLogger("leakdb.server")


class Stats:
    """Counters INFO reports."""

    def __init__(self) -> None:
        self.connections_received = 0
        self.commands_processed = 0
        self.rejected_connections = 0
        self.expired_keys = 0
        self.evicted_keys = 0
        self.evicted_clients = 0
        self.net_input_bytes = 0
        self.net_output_bytes = 0


class _Acceptor(StreamServer):
    """A StreamServer that hands sockets over instead of closing them when the handler returns."""

    def do_close(self, sock: Any, *args: Any) -> None:
        pass


class Server:
    """A LeakDB server: a keyspace (with its storage), the clients, and the listening sockets."""

    def __init__(self, storage: Any = None, config: Config | None = None, **settings: Any) -> None:
        self.config = config if config is not None else Config()
        for name, value in settings.items():
            self.config.values[name.replace("_", "-")] = value
        if storage is None:
            from ..storage import DefaultStorage

            storage = DefaultStorage(databases=self.config["databases"])
        self.storage = storage
        self.keyspace: Keyspace = storage.keyspace
        self.clients: dict[int, Client] = {}
        self.watches = None  # the WATCH registry, made by the first WATCH
        self.pubsub = None  # channels and patterns, made by the first subscription
        self.client_pause = None  # a commands.pause.Pause while CLIENT PAUSE holds commands
        self._held: list[tuple[Client, list[bytes], Any]] = []  # (client, replies, their batch)
        self.ready: list[Client] = []  # clients whose data arrived in this loop iteration, last first
        self.stats = Stats()
        self.active_expire = True
        self.instruments = Instruments(self.config)  # commandstats, SLOWLOG, LATENCY, MONITOR
        self.start_time = time.time()
        self.lastsave = int(time.time())
        self.loop = gevent.get_hub().loop
        self._next_id = 0
        self._acceptors: list[_Acceptor] = []
        self._timers: list[Any] = []
        self._stopped = gevent.event.Event()
        self.port = self.config["port"]
        self.tls_port = self.config["tls-port"]
        self.tls_context: Any = None  # an ssl.SSLContext while tls-port is set
        self.unix_socket: str | None = None  # the socket file this server made, removed at shutdown
        self.shutting_down = False
        self.close_error: Exception | None = None  # why the storage could not be closed at shutdown
        self.memory = None  # a leakdb.evict.Memory while maxmemory is set
        configure_memory(self)
        encodings.configure(self.config.values)
        self.notifications = None  # the keyspace listener of notify-keyspace-events, while it is set
        configure_notifications(self)
        self.tracking = None  # CLIENT TRACKING's table, while some client tracks (commands/tracking.py)
        self.refusing_writes = False  # while the storage cannot write (commands/diskerror.py)
        # Client memory: unsent replies of every client (kept on the slow path of a send), the
        # eviction limit from maxmemory-clients (0: off), and INFO's recent maxima.
        self.output_bytes = 0
        self.client_memory_limit = 0
        self.recent_max_output = 0
        self.recent_max_input = 0
        self._client_timer: Any = None

    def release_after_commit(self, client: Client, replies: list[bytes], batch: Any = None) -> None:
        """Hold `client`'s replies until one commit covers every write made in this loop iteration.

        Replies are held with the batch of changes pending when they were made: if that batch
        reaches the file they leave as they are, if the file refuses it (and it is undone) every one
        of them becomes MISCONF, whoever flushed the batch.  With nothing pending (reads only, or
        writes refused) there is nothing to wait for.
        """
        if batch is None:
            queue = self.storage.queue
            if self.refusing_writes or not len(queue):
                client.release(replies)
                return
            batch = queue.pending_log
        if batch.outcome is not None:  # already committed, or refused and undone
            client.release(replies if batch.outcome else [MISCONF] * len(replies))
            return
        if not self._held:
            # Callbacks run after the I/O callbacks of the current loop iteration, before polling.
            self.loop.run_callback(self._commit_and_release)
        self._held.append((client, replies, batch))

    def serve_ready(self) -> None:
        """Serve the clients whose data arrived in the last loop iteration, in the order it arrived.

        The kernel reports ready sockets in arrival order, and libev hands their watchers over last
        first; reversing that order serves clients as Redis does (an UNSUBSCRIBE sent before another
        client's PUBLISH is applied before it).
        """
        ready, self.ready = self.ready, []
        for client in reversed(ready):
            if client._reading and not client.closed:
                client._on_readable()

    def pending_batch(self) -> Any:
        """Write-through: the batch the changes made now go to (None otherwise)."""
        return self.storage.queue.pending_log if self.storage.write_through else None

    def _commit_and_release(self) -> None:
        held, self._held = self._held, []
        try:
            self.storage.sync()
        except Exception as exc:
            log.error("write-through commit failed, its writes are undone: %s", exc)
        diskerror.update(self)
        for client, replies, batch in held:
            if not client.closed:
                client.release(replies if batch.outcome is not False else [MISCONF] * len(replies))

    def next_client_id(self) -> int:
        self._next_id += 1
        return self._next_id

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self, listeners: list[tuple[str, Any]] | None = None) -> None:
        """Listen and start serving from the gevent hub (returns at once).

        `listeners` are ``(kind, socket)`` pairs from :func:`bind_sockets`; without them every address
        the settings name (TCP, TLS, unix socket) is bound here, raising :class:`ListenError` or
        :class:`ListenSetupError`.
        """
        if listeners is None:
            listeners = bind_sockets(self.config)
        if any(kind == "tls" for kind, _ in listeners):
            try:
                self.tls_context = build_context(self.config)
            except TLSConfigError as exc:
                for _, sock in listeners:
                    sock.close()
                raise ListenSetupError(f"cannot start TLS: {exc}") from None
        self._listen(listeners)
        expiry = self._expiry_timer()
        housekeeping = self.loop.timer(1.0, 1.0)
        housekeeping.start(self._housekeeping)
        self._timers = [expiry, housekeeping]
        near = getattr(self.storage, "near", None)
        if near is not None:
            # The upstream's invalidations arrive on a thread; they are applied on the hub.
            upstream_changes = self.loop.async_()
            upstream_changes.start(near.apply)
            near.wake = upstream_changes.send
            self._timers.append(upstream_changes)
        self.configure_clients()
        queue = getattr(self.storage, "queue", None)
        if queue is not None and hasattr(queue, "on_state_change"):
            # The queue's timer thread reports a failed or recovered flush; react on the hub.
            storage_state = self.loop.async_()
            storage_state.start(diskerror.update, self)
            queue.on_state_change = storage_state.send
            self._timers.append(storage_state)

    def _listen(self, listeners: list[tuple[str, Any]]) -> None:
        ports: dict[str, int] = {}
        for kind, sock in listeners:
            sock.listen(self.config["tcp-backlog"] or 511)
            acceptor = _Acceptor(sock, self._accept_tls if kind == "tls" else self._accept, spawn=None)
            acceptor.kind = kind
            acceptor.start()
            self._acceptors.append(acceptor)
            if kind == "unix":
                self.unix_socket = self.config["unixsocket"]
            else:
                ports.setdefault(kind, acceptor.server_port)
        self.port = ports.get("tcp", 0)
        self.tls_port = ports.get("tls", 0)

    def _expiry_timer(self) -> Any:
        hz = max(1, min(500, int(self.config["hz"])))
        expiry = self.loop.timer(1.0 / hz, 1.0 / hz)
        expiry.start(self._expire_cycle)
        return expiry

    def configure_hz(self) -> None:
        """Run the expiry cycle at the current hz (CONFIG SET hz)."""
        if self._timers:
            self._timers[0].stop()
            self._timers[0] = self._expiry_timer()

    def relisten(self, previous: dict[str, Any]) -> None:
        """Listen at the current port, bind and tls-port (CONFIG SET), as Redis does: the old TCP
        and TLS listeners close, the new ones are bound, and if one cannot be, the `previous` values'
        listeners come back and OSError is raised.  Connected clients stay connected."""
        if self.config["tls-port"] and self.tls_context is None:
            self.tls_context = build_context(self.config)
        old = [acceptor for acceptor in self._acceptors if acceptor.kind != "unix"]
        for acceptor in old:
            acceptor.close()
            self._acceptors.remove(acceptor)
        try:
            fresh = self._bind_network(self.config)
        except OSError:
            self._listen(self._bind_network(previous))
            raise
        self._listen(fresh)

    @staticmethod
    def _bind_network(settings: Any) -> list[tuple[str, Any]]:
        sockets: list[tuple[str, Any]] = []
        try:
            for kind, number in (("tcp", settings["port"]), ("tls", settings["tls-port"])):
                if number:
                    sockets.extend((kind, sock) for sock in _bind_tcp(settings["bind"], number))
        except BaseException:
            for _, sock in sockets:
                sock.close()
            raise
        return sockets

    def _close_listeners(self) -> None:
        for acceptor in self._acceptors:
            acceptor.close()
        self._acceptors = []
        if self.unix_socket is not None:
            try:
                os.unlink(self.unix_socket)
            except OSError:
                pass
            self.unix_socket = None

    def reload_tls(self) -> None:
        """Build a new TLS context from the current settings; new connections use it (CONFIG SET).
        As in Redis, the certificates must load whenever TLS is on for anything."""
        if self.config["tls-port"] or self.config["tls-replication"] or self.config["tls-cluster"]:
            self.tls_context = build_context(self.config)

    def serve_forever(self) -> None:
        """Serve until SHUTDOWN, SIGTERM or SIGINT (Ctrl-C); starts the server first if needed.

        A signal shuts down as SHUTDOWN does: the storage is flushed and closed, one line is logged,
        and this returns with the signal handlers the program had before.
        """
        if not self._acceptors:
            self.start()
        previous = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
        handlers = [gevent.signal_handler(signum, self._on_signal, signum) for signum in previous]
        try:
            self._stopped.wait()
        finally:
            for handler in handlers:
                handler.cancel()
            for signum, handler in previous.items():
                if handler is not None:
                    signal.signal(signum, handler)

    def _on_signal(self, signum: int) -> None:
        gevent.spawn(self.shutdown, True, f"received {signal.Signals(signum).name}")

    def shutdown(self, save: bool = True, reason: str = "") -> None:
        """Stop accepting, close every client, flush the storage (unless told not to) and stop.

        Logs one line: what ended the server and whether the data was saved.  A storage that cannot
        be closed is logged and kept in ``close_error``.
        """
        if self.shutting_down:
            return
        self.shutting_down = True
        self._close_listeners()
        for timer in self._timers:
            timer.stop()
        if self._client_timer is not None:
            self._client_timer.stop()
        for client in list(self.clients.values()):
            client.close()
        lead = f"{reason}: " if reason else ""
        try:
            if save:
                self.storage.close()
            else:
                self.storage.close(flush=False)
        except Exception as exc:
            self.close_error = exc
            log.error("%sclosing the storage failed, queued writes are lost: %s", lead, exc)
        else:
            saved = "data saved; " if save and getattr(self.storage, "mode", "") != "memory" else ""
            log.warning("%s%sLeakDB is now ready to exit, bye bye...", lead, saved)
        self._stopped.set()

    def stop(self) -> None:
        """Stop serving without touching the storage (for servers embedded in a program)."""
        self._close_listeners()
        for timer in self._timers:
            timer.stop()
        if self._client_timer is not None:
            self._client_timer.stop()
        for client in list(self.clients.values()):
            client.close()
        self._stopped.set()

    # -- callbacks --------------------------------------------------------------------------------

    def _take(self, gsock: Any) -> socket.socket | None:
        """The accepted socket as a plain non-blocking one, or None when maxclients refuses it."""
        sock = socket.socket(gsock.family, gsock.type, gsock.proto, fileno=gsock.detach())
        sock.setblocking(False)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.stats.connections_received += 1
        if len(self.clients) >= self.config["maxclients"]:
            self.stats.rejected_connections += 1
            try:
                sock.send(MAX_CLIENTS)
            except OSError:
                pass
            sock.close()
            return None
        return sock

    def _accept(self, gsock: Any, address: Any) -> None:
        sock = self._take(gsock)
        if sock is not None:
            self._serve(Client(self, sock, address))

    def _accept_tls(self, gsock: Any, address: Any) -> None:
        sock = self._take(gsock)
        if sock is not None:
            Handshake(self.loop, self.tls_context, sock, address, self._tls_ready)

    def _tls_ready(self, sock: Any, address: Any) -> None:
        if self.shutting_down:
            sock.close()
            return
        self._serve(TLSClient(self, sock, address))

    def _serve(self, client: Client) -> None:
        self.clients[client.id] = client
        client.start()

    def serve_while_busy(self, caller: Client, prepare: Any) -> None:
        """While a slow script holds the event loop, accept and read what is ready, once, without
        returning to the loop (Redis's processEventsWhileBlocked); `caller`, running the script, is
        left alone, and `prepare(client)` runs before a client's requests are.  Timers wait."""
        poller = select.poll()
        acceptors = {}
        for acceptor in self._acceptors:
            fd = acceptor.socket.fileno()
            acceptors[fd] = acceptor
            poller.register(fd, select.POLLIN)
        by_fd = {}
        for client in self.clients.values():
            if client is not caller and not client.closed:
                by_fd[client.fd] = client
                poller.register(client.fd, select.POLLIN)
        for fd, _ in poller.poll(0):
            acceptor = acceptors.get(fd)
            if acceptor is not None:
                listening = acceptor.socket
                try:
                    fd, address = listening._accept()
                except OSError:
                    continue
                self._accept(socket.socket(listening.family, listening.type, fileno=fd), address)
                continue
            client = by_fd.get(fd)
            if client is not None and not client.closed:
                prepare(client)
                client.read_now()

    def _expire_cycle(self) -> None:
        if not self.active_expire:  # DEBUG SET-ACTIVE-EXPIRE 0
            return
        started = time.monotonic()
        if self.client_pause is not None:
            return  # CLIENT PAUSE: keys do not expire actively while writes are held
        self.stats.expired_keys += self.keyspace.expire_cycle()
        if self.instruments.latency_ms:
            self.instruments.add_latency("expire-cycle", int((time.monotonic() - started) * 1000))

    def _housekeeping(self) -> None:
        idle_limit = self.config["timeout"]
        if idle_limit:
            deadline = time.monotonic() - idle_limit
            for client in list(self.clients.values()):
                if client.last_active < deadline and not client.suspended:
                    client.close()
        self._close_slow_readers()
        if self.refusing_writes and self.storage.write_through:
            self._retry_commit()
        diskerror.update(self)

    def _close_slow_readers(self) -> None:
        """Close clients whose unsent replies stayed over the soft output limit for more than its
        seconds (Redis's rule), and note the largest buffers for INFO."""
        now = time.monotonic()
        largest_output = largest_input = 0
        for client in list(self.clients.values()):
            largest_input = max(largest_input, client.parser.pending())
            if not client.output:
                client.over_soft_limit_since = None
                continue
            largest_output = max(largest_output, len(client.output))
            _, soft, seconds = client.output_limits()
            if not soft or len(client.output) <= soft:
                client.over_soft_limit_since = None
            elif client.over_soft_limit_since is None:
                client.over_soft_limit_since = now
            elif now - client.over_soft_limit_since > seconds:
                client.drop_for_output_limit()
        self.recent_max_output, self.recent_max_input = largest_output, largest_input

    # -- client eviction (maxmemory-clients) ---------------------------------------------------------

    def configure_clients(self) -> None:
        """Apply maxmemory-clients (and maxmemory, which a percentage refers to): a timer checks
        the clients' memory hz times a second while a limit is set; without one nothing runs."""
        self.client_memory_limit = client_memory_limit(self.config)
        if self.client_memory_limit and self._client_timer is None and self._acceptors:
            hz = max(1, min(500, int(self.config["hz"])))
            self._client_timer = self.loop.timer(1.0 / hz, 1.0 / hz)
            self._client_timer.start(self.evict_clients)
        elif not self.client_memory_limit and self._client_timer is not None:
            self._client_timer.stop()
            self._client_timer = None
        if self.client_memory_limit:
            self.evict_clients()

    def clients_memory(self) -> int:
        return sum(client.memory() for client in self.clients.values())

    def evict_clients(self) -> None:
        """While all clients together use at least maxmemory-clients, evict the ones in the biggest
        memory bucket first, as Redis does: buckets double from 32 KB, and clients that set CLIENT
        NO-EVICT are never evicted."""
        limit = self.client_memory_limit
        if not limit:
            return
        usage = {client: client.memory() for client in self.clients.values()}
        total = sum(usage.values())
        if total < limit:
            return
        candidates = sorted(
            (client for client in usage if not client.no_evict and not client.closed),
            key=lambda client: (-_bucket(usage[client]), client.id),
        )
        for client in candidates:
            if total < limit:
                return
            total -= usage[client]
            client.evict()
        if total >= limit:
            log.warning("Over client maxmemory after evicting all evictable clients")

    def _retry_commit(self) -> None:
        """Write-through: learn whether the file takes writes again, so the refusal can end.  Writes
        made meanwhile (expiry) are committed by the next commit; nothing pending is touched here."""
        probe = getattr(self.storage, "probe", None)
        if probe is not None and not probe():
            log.warning("the data file still cannot be written: %s", self.storage.info().get("last_error"))


def _bucket(memory: int) -> int:
    """Redis's client memory bucket: 0 below 32 KB, then one per doubling."""
    return max(0, memory.bit_length() - 15)


class ListenError(OSError):
    """A listening address that could not be bound: ``host``, ``port`` and the reason."""

    def __init__(self, host: str, port: int, error: OSError) -> None:
        self.reason = error.strerror or str(error)
        super().__init__(error.errno, f"{host}:{port}: {self.reason}")
        self.host, self.port = host, port


class ListenSetupError(Exception):
    """The listening settings cannot work (nowhere to listen, a unix socket path, TLS files); the text
    is the one line the user sees."""


def _socket_answers(path: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        return False
    finally:
        probe.close()
    return True


def bind_sockets(config: Any) -> list[tuple[str, Any]]:
    """Bind (without listening) every socket the settings ask for, as ``(kind, socket)`` pairs:
    ``tcp`` for each ``bind`` address at ``port``, ``tls`` likewise at ``tls-port``, and ``unix`` at
    ``unixsocket``.

    A port in use fails here, before any data file is opened; until :meth:`Server.start` listens,
    connections are refused rather than queued.  With port 0 there is no TCP listener, as in Redis.
    """
    port, tls_port, unix_path = config["port"], config["tls-port"], config["unixsocket"]
    if not (port or tls_port or unix_path):
        raise ListenSetupError(errors.LISTEN_NOWHERE)
    if tls_port:
        try:
            build_context(config)  # a certificate that does not load fails before anything is bound
        except TLSConfigError as exc:
            raise ListenSetupError(f"cannot start TLS: {exc}") from None
    sockets: list[tuple[str, Any]] = []
    try:
        for kind, number in (("tcp", port), ("tls", tls_port)):
            if number:
                sockets.extend((kind, sock) for sock in _bind_tcp(config["bind"], number))
        if unix_path:
            sockets.append(("unix", _bind_unix(unix_path, config["unixsocketperm"])))
    except BaseException:
        for _, sock in sockets:
            sock.close()
        raise
    return sockets


def _bind_tcp(bind: str, port: int) -> list[Any]:
    sockets: list[Any] = []
    try:
        for host in bind.split() or ["127.0.0.1"]:
            host = host.lstrip("-")
            try:
                family, kind, proto, _, address = socket.getaddrinfo(
                    host, port, 0, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
                )[0]
                sock = gevent.socket.socket(family, kind, proto)
                sockets.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(address)
            except OSError as exc:
                raise ListenError(host, port, exc) from None
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _bind_unix(path: str, permissions: int) -> Any:
    """A unix socket bound at `path`; a socket file left by a crashed server is replaced."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ListenSetupError(errors.UNIX_SOCKET_ERROR.format(path, f"no directory {directory}"))
    if os.path.lexists(path):
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise ListenSetupError(errors.UNIX_SOCKET_ERROR.format(path, "it exists and is not a socket"))
        if _socket_answers(path):
            raise ListenSetupError(errors.UNIX_SOCKET_ERROR.format(path, "another server is listening on it"))
        os.unlink(path)
    sock = gevent.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        if permissions:
            os.chmod(path, permissions)
    except OSError as exc:
        sock.close()
        raise ListenSetupError(errors.UNIX_SOCKET_ERROR.format(path, exc.strerror or exc)) from None
    return sock


def serve(storage: Any = None, port: int = 6379, bind: str = "127.0.0.1", **settings: Any) -> Server:
    """Serve `storage` (any LeakDB storage object) over the Redis protocol from this program.

    The server runs on the gevent hub of the calling thread; it makes progress whenever that thread
    waits in gevent (``gevent.sleep``, ``server.serve_forever()``).  Returns the started server;
    ``server.serve_forever()`` serves until Ctrl-C, SIGTERM or SHUTDOWN, then flushes and closes
    the storage.
    """
    server = Server(storage, port=port, bind=bind, **settings)
    server.start()
    return server


def banner(server: Server) -> str:
    return (
        f"LeakDB {__version__} (Redis {REDIS_VERSION} protocol) pid={os.getpid()} "
        f"port={server.port} storage={server.storage.mode}"
    )
