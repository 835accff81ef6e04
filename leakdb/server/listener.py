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
import time
from typing import Any

import gevent
import gevent.event
from gevent.server import StreamServer

from ..commands import diskerror
from ..commands.eviction import configure_memory
from ..config import Config
from ..engine.keyspace import Keyspace
from ..errors import MAX_CLIENTS
from ..version import REDIS_VERSION, __version__
from .client import Client

log = logging.getLogger("leakdb.server")


class Stats:
    """Counters INFO reports."""

    def __init__(self) -> None:
        self.connections_received = 0
        self.commands_processed = 0
        self.rejected_connections = 0
        self.expired_keys = 0
        self.evicted_keys = 0
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
        self._held: list[tuple[Client, list[bytes]]] = []
        self.stats = Stats()
        self.start_time = time.time()
        self.lastsave = int(time.time())
        self.loop = gevent.get_hub().loop
        self._next_id = 0
        self._acceptors: list[_Acceptor] = []
        self._timers: list[Any] = []
        self._stopped = gevent.event.Event()
        self.port = self.config["port"]
        self.shutting_down = False
        self.memory = None  # a leakdb.evict.Memory while maxmemory is set
        configure_memory(self)
        self.refusing_writes = False  # while the storage cannot write (commands/diskerror.py)

    def release_after_commit(self, client: Client, replies: list[bytes]) -> None:
        """Hold `client`'s replies until one commit covers every write made in this loop iteration."""
        if self.refusing_writes:
            # Write commands are refused, so these replies wait for nothing; housekeeping retries.
            client.release(replies)
            return
        if not self._held:
            # Callbacks run after the I/O callbacks of the current loop iteration, before polling.
            self.loop.run_callback(self._commit_and_release)
        self._held.append((client, replies))

    def _commit_and_release(self) -> None:
        held, self._held = self._held, []
        try:
            self.storage.sync()
        except Exception as exc:
            log.error("write-through commit failed: %s", exc)
            diskerror.update(self)
            refusal = b"-MISCONF LeakDB could not write to its data file (%s); the change is kept in "
            refusal = refusal % str(exc).replace("\r", " ").replace("\n", " ").encode()
            refusal += b"memory and will be retried\r\n"
            held = [(client, [refusal] * len(replies)) for client, replies in held]
        for client, replies in held:
            if not client.closed:
                client.release(replies)

    def next_client_id(self) -> int:
        self._next_id += 1
        return self._next_id

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        """Bind the listening sockets and start serving from the gevent hub (returns at once)."""
        binds = self.config["bind"].split() or ["127.0.0.1"]
        port = self.config["port"]
        for host in binds:
            host = host.lstrip("-")
            acceptor = _Acceptor((host, port), self._accept, spawn=None, backlog=511)
            acceptor.start()
            port = acceptor.server_port  # with port 0, every address shares the first one's port
            self._acceptors.append(acceptor)
        self.port = port
        hz = max(1, min(500, int(self.config["hz"])))
        expiry = self.loop.timer(1.0 / hz, 1.0 / hz)
        expiry.start(self._expire_cycle)
        housekeeping = self.loop.timer(1.0, 1.0)
        housekeeping.start(self._housekeeping)
        self._timers = [expiry, housekeeping]
        queue = getattr(self.storage, "queue", None)
        if queue is not None and hasattr(queue, "on_state_change"):
            # The queue's timer thread reports a failed or recovered flush; react on the hub.
            storage_state = self.loop.async_()
            storage_state.start(diskerror.update, self)
            queue.on_state_change = storage_state.send
            self._timers.append(storage_state)

    def serve_forever(self) -> None:
        """Serve until SHUTDOWN, SIGTERM or SIGINT; starts the server first if needed."""
        if not self._acceptors:
            self.start()
        for signum in (signal.SIGTERM, signal.SIGINT):
            gevent.signal_handler(signum, self._on_signal, signum)
        self._stopped.wait()

    def _on_signal(self, signum: int) -> None:
        log.warning("received %s, shutting down", signal.Signals(signum).name)
        gevent.spawn(self.shutdown, True)

    def shutdown(self, save: bool = True) -> None:
        """Stop accepting, close every client, flush the storage (unless told not to) and stop."""
        if self.shutting_down:
            return
        self.shutting_down = True
        for acceptor in self._acceptors:
            acceptor.close()
        for timer in self._timers:
            timer.stop()
        for client in list(self.clients.values()):
            client.close()
        try:
            if save:
                self.storage.close()
            else:
                self.storage.close(flush=False)
        except Exception:
            log.exception("closing the storage failed")
        log.warning("LeakDB is now ready to exit, bye bye...")
        self._stopped.set()

    def stop(self) -> None:
        """Stop serving without touching the storage (for servers embedded in a program)."""
        for acceptor in self._acceptors:
            acceptor.close()
        for timer in self._timers:
            timer.stop()
        for client in list(self.clients.values()):
            client.close()
        self._stopped.set()

    # -- callbacks --------------------------------------------------------------------------------

    def _accept(self, gsock: Any, address: Any) -> None:
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
            return
        client = Client(self, sock, address)
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
        self.stats.expired_keys += self.keyspace.expire_cycle()

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
        """Close clients whose unsent replies stayed over the soft output limit too long."""
        now = time.monotonic()
        for client in list(self.clients.values()):
            if not client.output:
                client.over_soft_limit_since = None
                continue
            _, soft, seconds = client.output_limits()
            if not soft or len(client.output) <= soft:
                client.over_soft_limit_since = None
            elif client.over_soft_limit_since is None:
                client.over_soft_limit_since = now
            elif now - client.over_soft_limit_since >= seconds:
                client.drop_for_output_limit()

    def _retry_commit(self) -> None:
        """Write-through: retry the writes a failed commit kept, so the refusal can end."""
        try:
            self.storage.sync()
        except Exception as exc:
            log.warning("write-through commit still failing: %s", exc)


def serve(storage: Any = None, port: int = 6379, bind: str = "127.0.0.1", **settings: Any) -> Server:
    """Serve `storage` (any LeakDB storage object) over the Redis protocol from this program.

    The server runs on the gevent hub of the calling thread; it makes progress whenever that thread
    waits in gevent (``gevent.sleep``, ``server.serve_forever()``).  Returns the started server.
    """
    server = Server(storage, port=port, bind=bind, **settings)
    server.start()
    return server


def banner(server: Server) -> str:
    return (
        f"LeakDB {__version__} (Redis {REDIS_VERSION} protocol) pid={os.getpid()} "
        f"port={server.port} storage={server.storage.mode}"
    )
