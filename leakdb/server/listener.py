"""The Redis-protocol server: a gevent StreamServer accepts, and each client is served by callbacks.

Every client socket gets a read watcher on the gevent hub.  When bytes arrive the callback parses every
complete command, runs each through the command table and sends all their replies with one ``send``:
no greenlet switch per request.  Replies the kernel does not take are kept in the client's output
buffer and written from a write watcher; while that buffer is large the client is not read
(back-pressure).  Work that must wait (SAVE, DEBUG SLEEP, SHUTDOWN) runs in a greenlet of its own
while the client's later commands stay queued.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from typing import Any

import gevent
import gevent.event
import hiredis
from gevent.server import StreamServer

from .. import REDIS_VERSION, __version__
from ..commands import DISPATCH, diskerror, lookup
from ..commands.eviction import configure_memory
from ..commands.pubsub import session_table, unsubscribe_all
from ..commands.registry import Suspend, noauth_table
from ..commands.transactions import refused_in_multi, unwatch
from ..config import Config
from ..engine.keyspace import Keyspace
from ..errors import MAX_CLIENTS, CommandError, unknown_command, wrong_arity
from ..resp import RESP2, RESP3, Protocol, ProtocolError, RequestParser, bad_element, translate_error

log = logging.getLogger("leakdb.server")

READ_SIZE = 256 * 1024
# Stop reading a client whose unsent replies pass this size, and start again below it.
OUTPUT_HIGH_WATER = 4 * 1024 * 1024


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


class Client:
    """One connection: its socket, parser, output buffer and session state (db, protocol, auth)."""

    # Slots: every command reads several of these, and slot access is the cheapest there is.
    __slots__ = (
        "__weakref__",
        "_read_watcher",
        "_reading",
        "_write_watcher",
        "addr",
        "close_after_reply",
        "closed",
        "created",
        "db",
        "db_index",
        "dispatch",
        "fd",
        "id",
        "in_exec",
        "laddr",
        "last_active",
        "last_command",
        "lib_name",
        "lib_ver",
        "multi",
        "name",
        "no_evict",
        "no_touch",
        "output",
        "over_soft_limit_since",
        "parser",
        "resp",
        "server",
        "sock",
        "subscriptions",
        "suspended",
        "watch",
        "write_through",
    )

    def __init__(self, server: Server, sock: socket.socket, address: Any) -> None:
        self.server = server
        self.sock = sock
        self.fd = sock.fileno()
        self.id = server.next_client_id()
        self.addr = _format_address(address)
        try:
            self.laddr = _format_address(sock.getsockname())
        except OSError:
            self.laddr = ""
        self.parser = RequestParser(
            server.config["proto-max-bulk-len"],
            query_buffer_limit=server.config["client-query-buffer-limit"],
        )
        self.db_index = 0
        self.db = server.keyspace[0]
        self.resp: Protocol = RESP2
        self.name = b""
        self.lib_name = ""
        self.lib_ver = ""
        self.dispatch = DISPATCH
        self.authenticated = not server.config["requirepass"]
        # Transactions and pub/sub (commands/transactions.py, commands/pubsub.py); None when unused.
        self.multi = None
        self.in_exec = False
        self.watch = None
        self.subscriptions = None
        self.no_evict = False
        self.no_touch = False
        self.created = time.time()
        self.last_active = time.monotonic()
        self.last_command = "NULL"
        self.closed = False
        self.close_after_reply = False
        self.suspended = False
        self.output = bytearray()
        self.over_soft_limit_since: float | None = None
        loop = server.loop
        self._read_watcher = loop.io(self.fd, 1)
        self._write_watcher = loop.io(self.fd, 2)
        self._reading = False
        self.write_through = server.storage.write_through

    @property
    def authenticated(self) -> bool:
        return self.dispatch is not noauth_table()

    @authenticated.setter
    def authenticated(self, value: bool) -> None:
        # An unauthenticated client dispatches through a table whose entries answer NOAUTH, so the
        # per-command path has no authentication test.  An authenticated client keeps its table
        # (MULTI's or subscribed mode's).
        if not value:
            self.dispatch = noauth_table()
        elif self.dispatch is noauth_table():
            self.dispatch = DISPATCH

    # -- session state used by commands ---------------------------------------------------------

    def select(self, index: int) -> None:
        self.db = self.server.keyspace[index]
        self.db_index = index

    def set_protocol(self, version: int) -> None:
        self.resp = RESP3 if version == 3 else RESP2
        if self.subscriptions is not None and self.multi is None and not self.in_exec:
            self.dispatch = session_table(self)  # subscribed mode restricts RESP2 clients only

    def clear_session(self) -> None:
        """Drop the transaction, the watched keys and the subscriptions (RESET, and closing)."""
        self.multi = None
        unwatch(self)
        unsubscribe_all(self)
        if self.authenticated:
            self.dispatch = DISPATCH

    # -- I/O -------------------------------------------------------------------------------------

    def start(self) -> None:
        self._resume_reading()

    def _resume_reading(self) -> None:
        if not self._reading and not self.closed:
            self._reading = True
            self._read_watcher.start(self._on_readable)

    def _pause_reading(self) -> None:
        if self._reading:
            self._reading = False
            self._read_watcher.stop()

    def _on_readable(self) -> None:
        try:
            data = self.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close()
            return
        if not data:
            self.close()
            return
        self.last_active = time.monotonic()
        self.server.stats.net_input_bytes += len(data)
        try:
            self.parser.feed(data)
        except ProtocolError as exc:
            self._protocol_error(exc)
            return
        self.process()

    def process(self) -> None:
        """Run every complete command in the parser and send their replies together."""
        parser = self.parser
        # Multibulk requests come straight from hiredis (the hot path); inline ones, which are rare,
        # go through the parser's own splitter.
        inline = not parser.fast()
        get = parser.get if inline else parser.reader.gets
        replies: list[bytes] = []
        append = replies.append
        count = 0
        while True:
            try:
                args = get()
            except (ProtocolError, hiredis.ProtocolError) as exc:
                self._send_replies(replies, count)
                self._protocol_error(exc if type(exc) is ProtocolError else translate_error(exc))
                return
            if args is False:
                break
            if not inline:
                if args.__class__ is not list or not args:
                    if not args:  # "*0" or "*-1": nothing to run, as in Redis
                        continue
                    self._send_replies(replies, count)
                    self._protocol_error(ProtocolError("expected '*'"))
                    return
                for arg in args:
                    if arg.__class__ is not bytes:
                        self._send_replies(replies, count)
                        self._protocol_error(bad_element(arg))
                        return
            elif args is None:
                continue
            count += 1
            # Read per command: AUTH, RESET and MULTI change the table for the requests after them.
            entry = self.dispatch.get(args[0])
            if entry is None:
                entry = lookup(args[0], self.dispatch)
                if entry is None:
                    reply = unknown_command(args[0], args[1:])
                    # Inside MULTI a refusal makes EXEC abort.
                    append(reply if self.multi is None else refused_in_multi(self, None, reply))
                    continue
            handler, min_args, max_args, declared = entry
            if not min_args <= len(args) <= max_args:
                reply = wrong_arity(declared.name)
                append(reply if self.multi is None else refused_in_multi(self, declared, reply))
                continue
            try:
                append(handler(self, args))
            except CommandError as exc:
                append(b"-%s\r\n" % str(exc).encode())
            except Suspend as pending:
                self._send_replies(replies, count)
                self._suspend(pending.work)
                return
            except Exception:
                log.exception("command %r failed", declared.name)
                append(b"-ERR internal error while running '%s'\r\n" % declared.name.encode())
            if self.close_after_reply:
                break
            if inline and parser.fast():
                # The rest of the buffer is multibulk again: continue on the fast path.
                inline = False
                get = parser.reader.gets
        self._send_replies(replies, count)

    def _send_replies(self, replies: list[bytes], count: int) -> None:
        if count:
            self.server.stats.commands_processed += count
            if self.write_through and replies:
                # Write-through: replies wait until the writes of every client served in this loop
                # iteration are committed together (group commit), then leave.
                self.server.release_after_commit(self, replies)
                return
        if replies:
            self.send(b"".join(replies) if len(replies) > 1 else replies[0])
        if self.close_after_reply and not self.output:
            self.close()

    def release(self, replies: list[bytes]) -> None:
        """Send replies that were held for a commit."""
        self.send(b"".join(replies))
        if self.close_after_reply and not self.output:
            self.close()

    def send(self, data: bytes) -> None:
        if self.closed:
            return
        self.server.stats.net_output_bytes += len(data)
        if self.output:
            self.output += data
            if len(self.output) > OUTPUT_HIGH_WATER:
                self._pause_reading()
            self._check_output_limit()
            return
        try:
            sent = self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self.close()
            return
        if sent < len(data):
            self.output += data[sent:]
            self._write_watcher.start(self._on_writable)
            if len(self.output) > OUTPUT_HIGH_WATER:
                self._pause_reading()
            self._check_output_limit()

    def output_limits(self) -> tuple[int, int, int]:
        """(hard, soft, soft seconds) of client-output-buffer-limit for this client's class."""
        limits = self.server.config["client-output-buffer-limit"]
        return limits["pubsub" if self.subscriptions else "normal"]

    def _check_output_limit(self) -> None:
        # Only reached while replies are waiting for a slow reader: never on the fast path.
        hard = self.output_limits()[0]
        if hard and len(self.output) > hard:
            self.drop_for_output_limit()

    def drop_for_output_limit(self) -> None:
        """Close a client that does not read its replies, after the current callback (a PUBLISH
        may be iterating over its subscribers)."""
        log.warning("client %s closed for overcoming of output buffer limits", self.addr)
        self.output.clear()
        self._pause_reading()
        self.server.loop.run_callback(self.close)

    def _on_writable(self) -> None:
        try:
            sent = self.sock.send(self.output)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close()
            return
        del self.output[:sent]
        if not self.output:
            self._write_watcher.stop()
            if self.close_after_reply:
                self.close()
                return
            if not self.suspended:
                self._resume_reading()

    def _protocol_error(self, exc: ProtocolError) -> None:
        log.info("protocol error from %s: %s", self.addr, exc)
        self.close_after_reply = True
        self.send(exc.reply())
        if not self.output:
            self.close()

    def _suspend(self, work: Any) -> None:
        self.suspended = True
        self._pause_reading()
        gevent.spawn(self._run_suspended, work)

    def _run_suspended(self, work: Any) -> None:
        try:
            reply = work()
        except CommandError as exc:
            reply = b"-%s\r\n" % str(exc).encode()
        except Exception:
            log.exception("suspended command failed")
            reply = b"-ERR internal error\r\n"
        self.suspended = False
        if self.closed:
            return
        self.send(reply)
        if self.close_after_reply:
            if not self.output:
                self.close()
            return
        self.process()
        if not self.output:
            self._resume_reading()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.clear_session()
        self._read_watcher.stop()
        self._write_watcher.stop()
        self._read_watcher.close()
        self._write_watcher.close()
        try:
            self.sock.close()
        except OSError:
            pass
        self.server.clients.pop(self.id, None)


def _format_address(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host = address[0]
        return f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"
    return str(address)


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
