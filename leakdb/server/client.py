"""One client connection: its socket, request parser, output buffer and session state.

Bytes that arrive are parsed into every complete command, each runs through the dispatch table that
fits the session (normal, NOAUTH, MULTI, subscribed), and their replies go out with one ``send``.
Replies the kernel does not take wait in the output buffer, written from a write watcher.

Slow readers are bounded three ways, as Redis bounds them plus one: a pass over a client's pipeline
stops once its replies pass PASS_REPLY_BYTES, and the rest waits until the output buffer is empty
(so replies nobody reads are never built ahead, and one client's pipeline never holds the loop); a
client is not read while its buffer is over OUTPUT_HIGH_WATER; and ``client-output-buffer-limit``
and ``maxmemory-clients`` disconnect or evict as Redis 7.0 does.  All of it runs only once a send
did not complete, except one subtraction per command for the pass budget.  Work that must wait runs
in a greenlet.
"""

from __future__ import annotations

import logging
import socket
import ssl
import time
from time import perf_counter, perf_counter_ns
from typing import Any

import gevent
import gevent.event
import hiredis

from ..commands import DISPATCH, connection, lookup
from ..commands.clientctl import muted
from ..commands.pubsub import session_table, unsubscribe_all
from ..commands.registry import Suspend, noauth_table
from ..commands.tracking import call as tracking_call
from ..commands.tracking import disable as disable_tracking
from ..commands.transactions import refused_in_multi, unwatch
from ..errors import CommandError, unknown_command, wrong_arity
from ..resp import RESP2, RESP3, Protocol, ProtocolError, RequestParser, bad_element, translate_error

log = logging.getLogger("leakdb.server")

READ_SIZE = 256 * 1024
# Stop reading a client whose unsent replies pass this size, and start again below it.
OUTPUT_HIGH_WATER = 4 * 1024 * 1024
# Replies one pass over a client's pipeline builds before it yields to the other clients.
PASS_REPLY_BYTES = 1024 * 1024
# What an idle connection costs the process (measured: RSS over 2000 idle clients), the base of the
# per-client memory that CLIENT LIST's tot-mem and maxmemory-clients count.
CLIENT_BASE_BYTES = 2560


class Client:
    """One connection: its socket, parser, output buffer and session state (db, protocol, auth)."""

    # What a non-blocking recv or send raises when it must wait for the socket (read only when one is
    # raised, so it costs nothing per command); TLSClient adds the SSL variants.
    WOULD_BLOCK: tuple[type[BaseException], ...] = (BlockingIOError, InterruptedError)

    # Slots: every command reads several of these, and slot access is the cheapest there is.
    __slots__ = (
        "__weakref__",
        "_read_watcher",
        "_reading",
        "_write_watcher",
        "addr",
        "backlogged",
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
        "reply_batch",
        "reply_mode",
        "resp",
        "server",
        "sock",
        "subscriptions",
        "suspended",
        "tracking",
        "unix",
        "user",
        "watch",
        "write_through",
    )

    def __init__(self, server: Any, sock: socket.socket, address: Any) -> None:
        self.server = server
        self.sock = sock
        self.fd = sock.fileno()
        self.id = server.next_client_id()
        self.unix = sock.family == socket.AF_UNIX
        if self.unix:
            # As Redis shows unix clients: the socket's path and port 0, for both ends, cut to the
            # 77 characters of its address buffer.
            self.addr = self.laddr = f"{server.config['unixsocket']}:0"[:77]
        else:
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
        self.user = None  # the ACL user (commands/acl.py), None until the login state is set
        connection.start_session(self)
        # Transactions and pub/sub (commands/transactions.py, commands/pubsub.py); None when unused.
        self.multi = None
        self.in_exec = False
        self.watch = None
        self.subscriptions = None
        self.no_evict = False
        self.no_touch = False
        self.tracking = None  # CLIENT TRACKING's state (commands/tracking.py) while it is on
        self.created = time.time()
        self.last_active = time.monotonic()
        self.last_command = "NULL"
        self.closed = False
        self.close_after_reply = False
        self.suspended = False
        self.reply_batch = None  # write-through: the batch a blocked client's reply depends on
        self.reply_mode = 0  # CLIENT REPLY: 0 on; OFF and SKIP are applied by commands.clientctl.muted
        self.backlogged = False  # commands wait in the parser until the output buffer empties
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
        if self.tracking is not None:
            disable_tracking(self)
        if self.authenticated:
            self.dispatch = DISPATCH

    # -- I/O -------------------------------------------------------------------------------------

    def start(self) -> None:
        self._resume_reading()

    def _resume_reading(self) -> None:
        if not self._reading and not self.closed:
            self._reading = True
            self._read_watcher.start(self._arrived)

    def read_now(self) -> None:
        """Read and serve this client now, outside the event loop (while a slow script holds it)."""
        if self._reading and not self.closed and not self.suspended:
            self._on_readable()

    def _arrived(self) -> None:
        """Data is ready: queue this client to be served in arrival order (see Server.serve_ready)."""
        ready = self.server.ready
        if not ready:
            self.server.loop.run_callback(self.server.serve_ready)
        ready.append(self)

    def _pause_reading(self) -> None:
        if self._reading:
            self._reading = False
            self._read_watcher.stop()

    def _on_readable(self) -> None:
        try:
            data = self.sock.recv(READ_SIZE)
        except self.WOULD_BLOCK:
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
        """Run the complete commands in the parser and send their replies together; stop early
        once they pass PASS_REPLY_BYTES, leaving the rest for when the output buffer is empty."""
        parser = self.parser
        # Multibulk requests come straight from hiredis (the hot path); inline ones, which are rare,
        # go through the parser's own splitter.
        inline = not parser.fast()
        get = parser.get if inline else parser.reader.gets
        replies: list[bytes] = []
        append = replies.append
        count = 0
        declared = named = None
        budget = PASS_REPLY_BYTES - len(self.output)
        # Per-command statistics, or else one duration per pass for SLOWLOG and LATENCY.
        instruments = self.server.instruments
        per_command = instruments.per_command
        declared = command_args = None
        started = perf_counter()
        while True:
            try:
                args = get()
            except (ProtocolError, hiredis.ProtocolError, TypeError) as exc:
                # TypeError: hiredis building a RESP3 map or set whose key is an aggregate.
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
                    declared = None  # CLIENT LIST shows cmd=NULL after an unknown command
                    reply = unknown_command(args[0], args[1:])
                    instruments.rejected(None, reply)
                    # Inside MULTI a refusal makes EXEC abort.
                    reply = reply if self.multi is None else refused_in_multi(self, None, reply)
                    append(muted(self, reply, None) if self.reply_mode else reply)
                    continue
            handler, min_args, max_args, declared = entry
            named = args  # the request CLIENT LIST's cmd= names (a local: no cost to speak of)
            if not min_args <= len(args) <= max_args:
                reply = wrong_arity(declared.name)
                instruments.rejected(declared, reply)
                # EXEC refused aborts (and ends) the transaction even outside MULTI, as in Redis.
                if self.multi is not None or declared.name == "exec":
                    reply = refused_in_multi(self, declared, reply)
                append(muted(self, reply, None) if self.reply_mode else reply)
                continue
            command_args = args
            try:
                if per_command:
                    reply = self._run_recorded(instruments, handler, declared, args)
                else:
                    if self.tracking is None:
                        reply = handler(self, args)
                    else:
                        reply = tracking_call(self, handler, args, declared)
                    if reply and reply[0] == 45:  # "-": errorstats and failed_calls count in every mode
                        instruments.failed_lean(declared, args, reply)
            except CommandError as exc:
                reply = b"-%s\r\n" % str(exc).encode()
                instruments.failed_lean(declared, args, reply)
            except Suspend as pending:
                self._send_replies(replies, count)
                self._suspend(pending.work)
                return
            except Exception:
                log.exception("command %r failed", declared.name)
                reply = b"-ERR internal error while running '%s'\r\n" % declared.name.encode()
            if self.reply_mode:  # CLIENT REPLY OFF or SKIP
                reply = muted(self, reply, declared.name)
            append(reply)
            budget -= len(reply)
            if budget < 0 or self.close_after_reply:
                if not self.close_after_reply:
                    self._backlog()
                break
            if inline and parser.fast():
                # The rest of the buffer is multibulk again: continue on the fast path.
                inline = False
                get = parser.reader.gets
        if not per_command and perf_counter() - started > instruments.pass_threshold:
            instruments.slow_pass(self, count, command_args, declared, perf_counter() - started)
        if count:  # once per batch: CLIENT LIST's cmd=
            self.last_command = "NULL" if declared is None else last_command_name(declared, named)
        self._send_replies(replies, count)
        if self.backlogged and not self.closed and self._may_build_ahead():
            # The rest of the pipeline runs after the other clients have had their turn.
            self.server.loop.run_callback(self._resume_backlog)

    def _run_recorded(self, instruments: Any, handler: Any, declared: Any, args: list[bytes]) -> bytes:
        """Run one command and record it (statistics, slow log, monitors): the per-command loop."""
        if instruments.monitors:
            instruments.before(self, declared, args)
        began = perf_counter_ns()
        try:
            if self.tracking is None:
                reply = handler(self, args)
            else:
                reply = tracking_call(self, handler, args, declared)
        except CommandError as exc:
            reply = b"-%s\r\n" % str(exc).encode()
        except Suspend:
            instruments.after(self, declared, args, b"+\r\n", perf_counter_ns() - began)
            raise
        instruments.after(self, declared, args, reply, perf_counter_ns() - began)
        return reply

    def _backlog(self) -> None:
        """Stop reading: commands are waiting in the parser for the output buffer to empty."""
        self.backlogged = True
        self._pause_reading()

    def _may_build_ahead(self) -> bool:
        """Whether to build more replies now: when the buffer is empty, or, under an output limit,
        until the buffer passes it (the client is then disconnected, as Redis would)."""
        if not self.output:
            return True
        hard, soft, _ = self.output_limits()
        ceiling = max(hard, soft)
        return bool(ceiling) and len(self.output) <= ceiling

    def _resume_backlog(self) -> None:
        if self.closed or self.suspended or not self.backlogged or not self._may_build_ahead():
            return
        self.backlogged = False
        self.process()
        if not self.backlogged and not self.output and not self.suspended:
            self._resume_reading()

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
            self._buffer(data)
            return
        try:
            sent = self.sock.send(data)
        except self.WOULD_BLOCK:
            sent = 0
        except OSError:
            self.close()
            return
        if sent < len(data):
            self._write_watcher.start(self._on_writable)
            self._buffer(data[sent:] if sent else data)

    def _buffer(self, data: bytes) -> None:
        """Keep replies the kernel did not take (the slow path), and apply the limits."""
        self.output += data
        server = self.server
        server.output_bytes += len(data)
        if len(self.output) > OUTPUT_HIGH_WATER:
            self._pause_reading()
        hard = self.output_limits()[0]
        if hard and len(self.output) > hard:
            self.drop_for_output_limit()
        elif server.client_memory_limit and (
            server.output_bytes + CLIENT_BASE_BYTES * len(server.clients) >= server.client_memory_limit
        ):
            server.evict_clients()  # over the limit on unsent replies alone; the timer sees the rest

    def memory(self) -> int:
        """Bytes this client holds: its base, unsent replies and unparsed requests (tot-mem)."""
        return CLIENT_BASE_BYTES + len(self.output) + self.parser.pending()

    def output_limits(self) -> tuple[int, int, int]:
        """(hard, soft, soft seconds) of client-output-buffer-limit for this client's class."""
        limits = self.server.config["client-output-buffer-limit"]
        return limits["pubsub" if self.subscriptions else "normal"]

    def drop_for_output_limit(self) -> None:
        """Close a client that does not read its replies, after the current callback (a PUBLISH
        may be iterating over its subscribers)."""
        log.warning(
            "Client %s scheduled to be closed ASAP for overcoming of output buffer limits.", self.addr
        )
        self._discard_output()
        self._pause_reading()
        self.server.loop.run_callback(self.close)

    def evict(self) -> None:
        """Close this client for maxmemory-clients, after the current callback."""
        log.warning("Evicting client: id=%d addr=%s tot-mem=%d", self.id, self.addr, self.memory())
        self.server.stats.evicted_clients += 1
        self._discard_output()
        self._pause_reading()
        self.server.loop.run_callback(self.close)

    def _discard_output(self) -> None:
        self.server.output_bytes -= len(self.output)
        self.output.clear()

    def _on_writable(self) -> None:
        try:
            sent = self.sock.send(self.output)
        except self.WOULD_BLOCK:
            return
        except OSError:
            self.close()
            return
        del self.output[:sent]
        self.server.output_bytes -= sent
        if not self.output:
            self._write_watcher.stop()
            if self.close_after_reply:
                self.close()
                return
            if self.backlogged:
                self._resume_backlog()
            elif not self.suspended:
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
        if self.reply_mode:
            reply = muted(self, reply, None)
        if self.write_through and reply:
            # A pop or an EXEC waits for the commit of its changes.
            batch, self.reply_batch = self.reply_batch, None
            self.server.release_after_commit(self, [reply], batch)
        else:
            self.send(reply)
        if self.close_after_reply:
            if not self.output:
                self.close()
            return
        self.process()
        if not self.output and not self.backlogged:
            self._resume_reading()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._discard_output()
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


class TLSClient(Client):
    """A client on a TLS connection whose handshake is done.

    OpenSSL may hold decrypted bytes that the kernel no longer reports as readable, so every read
    drains them, and reading that resumes after back-pressure looks at them first.
    """

    __slots__ = ()
    WOULD_BLOCK = (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError)

    def _on_readable(self) -> None:
        super()._on_readable()
        while self._reading and not self.closed and self.sock.pending():
            super()._on_readable()

    def _resume_reading(self) -> None:
        was_reading = self._reading
        super()._resume_reading()
        if not was_reading and self._reading and self.sock.pending():
            self.server.loop.run_callback(self._on_readable)


def last_command_name(declared: Any, args: list[bytes]) -> str:
    """The name CLIENT LIST shows for a client's last command: ``config|get`` for a subcommand."""
    if declared.subcommands and len(args) > 1:
        sub = args[1].lower().decode("utf-8", "replace")
        if sub in declared.subcommands:
            return f"{declared.name}|{sub}"
    return declared.name


def _format_address(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host = address[0]
        return f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"
    return str(address)
