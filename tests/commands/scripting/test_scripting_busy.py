"""Slow scripts, on both servers: past busy-reply-threshold other clients get -BUSY (except the commands
Redis allows then), SCRIPT KILL and FUNCTION KILL stop a script that has not written, a script that has
written is UNKILLABLE, and SHUTDOWN NOSAVE still stops the server.

Each test gets its own redis-server and leakdb-server with a 50 ms threshold.  Nothing waits on the
clock: a client keeps sending PING until it is answered -BUSY, which can only happen once the script is
running past the threshold.
"""

from __future__ import annotations

import socket

import pytest
from conftest import ServerProcess, free_port, require
from lua_exchange import encode, split_replies

LOOP = "local i = 0 while true do i = i + 1 end"
LIBRARY = (
    "#!lua name=slow\nredis.register_function('spin', function() local i = 0 while true do i = i + 1 end end)"
)
BUSY_EVAL = b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n"
BUSY_FUNCTION = (
    b"-BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.\r\n"
)
KILLED = b"-ERR Script killed by user with SCRIPT KILL... script: "


class Connection:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.pending = b""

    def send(self, *args) -> None:
        self.sock.sendall(encode(args))

    def reply(self) -> bytes:
        while True:
            replies = split_replies(self.pending) if self.pending else []
            if replies and b"".join(replies) == self.pending:
                first = replies[0]
                self.pending = self.pending[len(first) :]
                return first
            chunk = self.sock.recv(65536)
            if not chunk:
                return b""
            self.pending += chunk

    def call(self, *args) -> bytes:
        self.send(*args)
        return self.reply()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(params=["redis", "leakdb"])
def server(request, tmp_path):
    port = free_port()
    if request.param == "redis":
        argv = [require("redis-server"), "--port", str(port), "--save", "", "--appendonly", "no"]
    else:
        from conftest import leakdb_argv

        argv = leakdb_argv(port, "--storage", "memory")
    process = ServerProcess(argv, port, cwd=str(tmp_path))
    setup = Connection(port)
    assert setup.call("CONFIG", "SET", "busy-reply-threshold", "50") == b"+OK\r\n"
    setup.close()
    yield process
    process.stop()


def wait_until_busy(other: Connection) -> bytes:
    """PING until the answer is no longer PONG (the script has run past the threshold)."""
    for _ in range(100000):
        answer = other.call("PING")
        if answer != b"+PONG\r\n":
            return answer
    raise AssertionError("the script never made the server busy")


def test_other_clients_get_busy_until_script_kill(server):
    runner, other = Connection(server.port), Connection(server.port)
    runner.send("EVAL", LOOP, "0")
    assert wait_until_busy(other) == BUSY_EVAL
    assert other.call("GET", "k") == BUSY_EVAL
    assert other.call("MULTI") == b"+OK\r\n"
    assert other.call("SET", "k", "v") == BUSY_EVAL
    assert other.call("EXEC").startswith(b"-EXECABORT Transaction discarded because of: BUSY")
    assert other.call("FUNCTION", "STATS") == BUSY_EVAL
    assert other.call("FUNCTION", "KILL") == BUSY_EVAL
    assert other.call("SHUTDOWN") == BUSY_EVAL
    newcomer = Connection(server.port)
    assert newcomer.call("PING") == BUSY_EVAL
    assert other.call("SCRIPT", "KILL") == b"+OK\r\n"
    assert runner.reply().startswith(KILLED)
    assert other.call("PING") == b"+PONG\r\n"
    assert runner.call("GET", "k") == b"$-1\r\n"
    assert newcomer.call("SCRIPT", "KILL") == b"-NOTBUSY No scripts in execution right now.\r\n"
    for connection in (runner, other, newcomer):
        connection.close()


@pytest.mark.parametrize(
    "script",
    [
        "while true do pcall(function() local i = 0 while true do i = i + 1 end end) end",
        "local spin = coroutine.wrap(function() local i = 0 while true do i = i + 1 end end) spin()",
        "local co = coroutine.create(function() while 1 do end end)\nwhile 1 do coroutine.resume(co) end",
    ],
)
def test_kill_cannot_be_caught_or_escaped(server, script):
    runner, other = Connection(server.port), Connection(server.port)
    runner.send("EVAL", script, "0")
    assert wait_until_busy(other) == BUSY_EVAL
    assert other.call("SCRIPT", "KILL") == b"+OK\r\n"
    assert runner.reply().startswith(b"-ERR Script killed by user with SCRIPT KILL...")
    assert other.call("PING") == b"+PONG\r\n"
    runner.close()
    other.close()


def test_function_kill(server):
    runner, other = Connection(server.port), Connection(server.port)
    assert runner.call("FUNCTION", "LOAD", LIBRARY) == b"$4\r\nslow\r\n"
    runner.send("FCALL", "spin", "0")
    assert wait_until_busy(other) == BUSY_FUNCTION
    assert other.call("SCRIPT", "KILL") == BUSY_FUNCTION
    stats = other.call("FUNCTION", "STATS")
    assert stats.startswith(
        b"*4\r\n$14\r\nrunning_script\r\n*6\r\n$4\r\nname\r\n$4\r\nspin\r\n$7\r\ncommand\r\n"
    )
    assert other.call("FUNCTION", "KILL") == b"+OK\r\n"
    assert (
        runner.reply()
        == b"-ERR Script killed by user with SCRIPT KILL... script: spin, on @user_function:2.\r\n"
    )
    assert other.call("FUNCTION", "STATS").startswith(b"*4\r\n$14\r\nrunning_script\r\n$-1\r\n")
    runner.close()
    other.close()


def test_a_script_that_wrote_is_unkillable_but_shutdown_nosave_stops_the_server(server):
    runner, other = Connection(server.port), Connection(server.port)
    runner.send("EVAL", "redis.call('set', 'w', '1') " + LOOP, "0")
    assert wait_until_busy(other) == BUSY_EVAL
    assert other.call("SCRIPT", "KILL").startswith(
        b"-UNKILLABLE Sorry the script already executed write commands"
    )
    assert other.call("SHUTDOWN", "NOSAVE") == b""
    assert server.process.wait(30) is not None
    runner.close()
    other.close()


def test_fast_scripts_never_make_anyone_wait(server):
    runner, other = Connection(server.port), Connection(server.port)
    for n in range(200):
        runner.send("EVAL", "return redis.call('incr', KEYS[1])", "1", "counter")
        assert other.call("PING") == b"+PONG\r\n"
        assert runner.reply() == b":%d\r\n" % (n + 1)
    runner.close()
    other.close()
