"""One client connection: its socket, request parser, output buffer and session state.

Bytes that arrive are parsed into every complete command, each runs through the dispatch table that
fits the session (normal, NOAUTH, MULTI, subscribed), and their replies go out with one ``send``.
Replies the kernel does not take wait in the output buffer, written from a write watcher; while that
buffer is large the client is not read (back-pressure).  Work that must wait runs in a greenlet.
"""

from __future__ import annotations

import logging
import socket
import time
from typing import Any

import gevent
import gevent.event
import hiredis

from ..commands import DISPATCH, lookup
from ..commands.pubsub import session_table, unsubscribe_all
from ..commands.registry import Suspend, noauth_table
from ..commands.transactions import refused_in_multi, unwatch
from ..errors import CommandError, unknown_command, wrong_arity
from ..resp import RESP2, RESP3, Protocol, ProtocolError, RequestParser, bad_element, translate_error

log = logging.getLogger("leakdb.server")

READ_SIZE = 256 * 1024
# Stop reading a client whose unsent replies pass this size, and start again below it.
OUTPUT_HIGH_WATER = 4 * 1024 * 1024


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

    def __init__(self, server: Any, sock: socket.socket, address: Any) -> None:
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

    def read_now(self) -> None:
        """Read and serve this client now, outside the event loop (while a slow script holds it)."""
        if self._reading and not self.closed and not self.suspended:
            self._on_readable()

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
