"""Serving other clients while a script runs past ``busy-reply-threshold``, as Redis does.

The script holds the event loop, so the count hook calls :meth:`Busy.serve` every 100000 instructions
once the threshold has passed; the server then reads whatever other clients have sent (never the
script's caller) and runs it through a busy view of each client's dispatch table: commands flagged
``allow_busy`` (AUTH, HELLO, MULTI, ..., SCRIPT KILL, FUNCTION KILL, FUNCTION STATS) run, SHUTDOWN runs
only with NOSAVE (and ends the script), everything else answers ``-BUSY``.  Nothing of this exists
until a script is slow, so a fast script pays nothing.
"""

from __future__ import annotations

from typing import Any

from ... import errors
from ..registry import ALLOW_BUSY, Command, Handler
from ..transactions import refused_in_multi

Entry = tuple[Handler, int, int, Command]


class Busy:
    """The clients of one server while a slow script runs: their real tables, swapped for busy views."""

    def __init__(self, server: Any, scripting: Any, run: Any) -> None:
        self.server = server
        self.scripting = scripting
        self.run = run
        text = errors.BUSY_EVAL if run.is_eval else errors.BUSY_FUNCTION
        self.reply = errors.error_reply(text)
        self.real: dict[Any, dict[bytes, Entry]] = {}  # client -> its own dispatch table
        self.write_through: dict[Any, bool] = {}
        self.views: dict[int, tuple[dict[bytes, Entry], dict[bytes, Entry]]] = {}

    def serve(self) -> None:
        """Let the server answer what other clients have sent since the last call."""
        self.server.serve_while_busy(self.run.caller, self.prepare)

    def prepare(self, client: Any) -> None:
        """Put `client` in busy mode before its requests are read (once per client)."""
        if client in self.real:
            return
        self.real[client] = client.dispatch
        client.dispatch = self.view(client.dispatch)
        # Write-through replies wait for a commit on the event loop, which is busy: send them now.
        self.write_through[client] = client.write_through
        client.write_through = False

    def finish(self) -> None:
        """The script is over: every client gets its own table back."""
        for client, table in self.real.items():
            if client.closed:
                continue
            if client.dispatch is self.view(table):
                client.dispatch = table
            client.write_through = self.write_through[client]
        self.real.clear()

    def view(self, table: dict[bytes, Entry]) -> dict[bytes, Entry]:
        cached = self.views.get(id(table))
        if cached is not None and cached[0] is table:
            return cached[1]
        view = {name: self._busy_entry(entry) for name, entry in table.items()}
        self.views[id(table)] = (table, view)
        return view

    def _busy_entry(self, entry: Entry) -> Entry:
        handler, low, high, declared = entry
        if declared.name == "shutdown":
            return (self._shutdown(handler), low, high, declared)
        if ALLOW_BUSY in declared.flags or _busy_subcommands(declared):
            return (self._allowed(handler, declared), low, high, declared)
        return (self._refused(declared), low, high, declared)

    def _refused(self, declared: Command) -> Handler:
        reply = self.reply

        def refuse(client: Any, args: list[bytes]) -> bytes:
            if client.multi is None:
                return reply
            # A refused EXEC ends the transaction, which puts the client's real table back.
            answer = refused_in_multi(client, declared, reply)
            if client.dispatch is not self.view(self.real[client]):
                self.real[client] = client.dispatch
                client.dispatch = self.view(client.dispatch)
            return answer

        return refuse

    def _allowed(self, handler: Handler, declared: Command) -> Handler:
        subcommands = _busy_subcommands(declared)
        refuse = self._refused(declared)

        def run_allowed(client: Any, args: list[bytes]) -> bytes:
            if subcommands is not None and args[1].lower().decode("utf-8", "replace") not in subcommands:
                return refuse(client, args)
            return self._with_real_table(client, handler, args)

        return run_allowed

    def _shutdown(self, handler: Handler) -> Handler:
        def shutdown(client: Any, args: list[bytes]) -> bytes:
            if b"nosave" not in (arg.lower() for arg in args[1:]):
                return self.reply
            self.run.killed = True  # SHUTDOWN NOSAVE ends the script, whatever it wrote
            return self._with_real_table(client, handler, args)

        return shutdown

    def _with_real_table(self, client: Any, handler: Handler, args: list[bytes]) -> bytes:
        # The command may change the table (AUTH, MULTI, RESET): keep the new one as the real one.
        client.dispatch = self.real[client]
        try:
            return handler(client, args)
        finally:
            self.real[client] = client.dispatch
            client.dispatch = self.view(client.dispatch)


def _busy_subcommands(declared: Command) -> set[str] | None:
    """The subcommands allowed while busy, for a container that has some (SCRIPT, FUNCTION)."""
    allowed = {name for name, sub in declared.subcommands.items() if ALLOW_BUSY in sub.flags}
    return allowed or None
