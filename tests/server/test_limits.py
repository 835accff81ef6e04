"""Limits and access control on a real leakdb-server: declared lengths, query and output buffers,
maxclients, idle timeout, slow clients, protected mode, and nothing from the network is unpickled.
"""

from __future__ import annotations

import os
import pickle
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import redis
from conftest import (
    HANG_SECONDS,
    ServerProcess,
    free_port,
    leakdb_argv,
    raw_exchange,
    read_until_closed,
    redis_argv,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[2]


closed_by_server = read_until_closed


def test_declared_lengths_over_the_limits_are_refused_as_redis_does(start_leakdb, redis_server):
    server = start_leakdb("--storage", "memory", "--proto-max-bulk-len", "1mb")
    too_long = b"*2\r\n$4\r\nECHO\r\n$1048577\r\n"
    assert raw_exchange(server.port, too_long, expect_close=True) == (
        b"-ERR Protocol error: invalid bulk length\r\n"
    )
    fits = b"*2\r\n$4\r\nECHO\r\n$1048576\r\n" + b"x" * 1048576 + b"\r\n"
    assert raw_exchange(server.port, fits).startswith(b"$1048576\r\nxxx")
    for payload in (b"*2147483648\r\n", b"*1\r\n$536870913\r\n"):
        assert raw_exchange(server.port, payload, expect_close=True) == raw_exchange(
            redis_server.port, payload, expect_close=True
        )


def test_query_buffer_limit_disconnects_only_that_client(start_leakdb):
    server = start_leakdb("--storage", "memory", "--client-query-buffer-limit", "1mb")
    other = server.client()
    with socket.create_connection(("127.0.0.1", server.port)) as greedy:
        greedy.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000000\r\n")
        try:
            for _ in range(64):
                greedy.sendall(b"x" * 65536)
        except OSError:
            pass
        assert closed_by_server(greedy) == b""
    assert other.ping() is True and other.exists("k") == 0


def test_output_buffer_limit_drops_a_client_that_never_reads(start_leakdb, redis_server):
    server = start_leakdb("--storage", "memory", "--client-output-buffer-limit", "normal 1mb 0 0")
    admin = server.client()
    oracle_default = redis_server.client().config_get("client-output-buffer-limit")
    admin.config_set("client-output-buffer-limit", "normal 0 0 0")
    assert admin.config_get("client-output-buffer-limit") == oracle_default
    admin.config_set("client-output-buffer-limit", "normal 1mb 0 0")
    admin.set("big", b"v" * 100_000)
    sleeper = socket.create_connection(("127.0.0.1", server.port))
    sleeper.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sleeper.sendall(b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n" * 300)  # 30 MB of replies, never read
    # Dropped once its unsent replies pass 1 MB (after the server has produced them).
    wait_until(
        lambda: admin.info("stats")["total_net_output_bytes"] > 2_000_000 and len(admin.client_list()) == 1,
        "the server to drop the client that never reads",
    )
    assert admin.ping() is True
    sleeper.close()


def accepted(port: int) -> socket.socket:
    """A connection that got a slot (the start-up probe's may take a moment to be released)."""

    def connect() -> socket.socket | None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=HANG_SECONDS)
        try:
            sock.sendall(b"PING\r\n")
            if sock.recv(100) == b"+PONG\r\n":
                return sock
        except ConnectionResetError:
            pass  # refused: the server closed it with our PING unread
        sock.close()
        return None

    return wait_until(connect, "a free client slot")


def test_maxclients(start_leakdb):
    server = start_leakdb("--storage", "memory", "--maxclients", "3")
    held = [accepted(server.port) for _ in range(3)]
    with socket.create_connection(("127.0.0.1", server.port)) as extra:
        assert closed_by_server(extra) == b"-ERR max number of clients reached\r\n"
    held.pop().close()
    accepted(server.port).close()  # a slot is free again once the server has seen the close
    for sock in held:
        sock.close()


def test_idle_timeout_closes_idle_clients(start_leakdb):
    server = start_leakdb("--storage", "memory", "--timeout", "1")
    started = time.monotonic()  # before the server can have accepted the connection
    with socket.create_connection(("127.0.0.1", server.port)) as idle:
        assert closed_by_server(idle) == b""
        assert time.monotonic() - started > 1  # idle for more than the timeout first


def test_slow_and_stalled_clients_do_not_block_others(start_leakdb):
    """Others are served while one request arrives byte by byte and stays incomplete, and while
    another client never reads its 100 MB of replies; the slow request is then answered too."""
    server = start_leakdb("--storage", "memory")
    server.client().set("big", b"v" * 1_000_000)
    request = b"*3\r\n$3\r\nSET\r\n$4\r\nslow\r\n$5\r\nvalue\r\n"
    finish = threading.Event()
    answered: list[bytes] = []
    slow = socket.create_connection(("127.0.0.1", server.port), timeout=HANG_SECONDS)

    def slowloris() -> None:
        for byte in request[:-1]:
            slow.send(bytes([byte]))
            time.sleep(0.01)
        finish.wait(HANG_SECONDS)  # the last byte only once the others have been served
        slow.send(request[-1:])
        answered.append(slow.recv(100))

    stalled = socket.create_connection(("127.0.0.1", server.port))
    stalled.sendall(b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n" * 100)  # 100 MB of replies, never read
    thread = threading.Thread(target=slowloris, daemon=True)
    thread.start()
    client = server.client(socket_timeout=HANG_SECONDS)  # a server stuck on either would time out
    for n in range(20):  # while the slow request is still arriving, and after it stopped short
        assert client.ping() is True
        assert client.set(f"k{n}", n) is True
    assert thread.is_alive() and not answered  # the slow request is still incomplete
    finish.set()
    thread.join(HANG_SECONDS)
    assert answered == [b"+OK\r\n"]
    assert client.get("slow") == b"value"
    stalled.close()
    slow.close()


# -- access control --------------------------------------------------------------------------------------


def start_process(*flags: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = leakdb_argv(free_port(), "--storage", "memory", *flags)
    return subprocess.run(argv, capture_output=True, text=True, timeout=HANG_SECONDS, env=env)


def test_protected_mode_refuses_non_loopback_bind_without_password(tmp_path):
    refused = start_process("--bind", "0.0.0.0")
    assert refused.returncode != 0
    assert "refusing to listen on 0.0.0.0 without a password" in refused.stderr


@pytest.mark.parametrize("flags", [["--requirepass", "pw"], ["--protected-mode", "no"]])
def test_non_loopback_bind_starts_with_a_password_or_without_protection(start_leakdb, flags):
    server = start_leakdb("--storage", "memory", "--bind", "0.0.0.0", *flags)  # probed on 127.0.0.1
    expected = b"-NOAUTH Authentication required.\r\n" if flags[0] == "--requirepass" else b"+PONG\r\n"
    assert raw_exchange(server.port, b"PING\r\n") == expected


def test_default_bind_is_loopback(leakdb_server):
    assert leakdb_server.client().config_get("bind") == {"bind": "127.0.0.1"}


def test_requirepass_from_a_config_file(start_leakdb, tmp_path):
    (tmp_path / "leakdb.conf").write_text('requirepass "two words"\n')
    server = start_leakdb(str(tmp_path / "leakdb.conf"), "--storage", "memory")
    assert raw_exchange(server.port, b"GET k\r\n") == b"-NOAUTH Authentication required.\r\n"
    assert raw_exchange(server.port, b'AUTH "two words"\r\nPING\r\n') == b"+OK\r\n+PONG\r\n"


def test_noauth_for_every_command_as_redis_says(start_leakdb, redis_server):
    """Every command both servers know, sent with as many arguments as its arity asks, before AUTH."""
    oracle_port = free_port()
    oracle = ServerProcess(redis_argv(oracle_port, "--requirepass", "pw"), oracle_port)
    try:
        server = start_leakdb("--storage", "memory", "--requirepass", "pw")
        ours = _commands(server.port, "pw")
        theirs = _commands(redis_server.port)
        checked = 0
        differences: list[str] = []
        with (
            socket.create_connection(("127.0.0.1", oracle_port), timeout=HANG_SECONDS) as oracle_sock,
            socket.create_connection(("127.0.0.1", server.port), timeout=HANG_SECONDS) as our_sock,
        ):
            for name in sorted(set(ours) & set(theirs)):
                if name in ("shutdown", "debug", "monitor", "sync", "psync", "subscribe", "psubscribe"):
                    continue
                if name == "quit":  # answered, then the connection closes: checked elsewhere
                    continue
                if name == "exec":  # Redis answers EXECABORT ... NOAUTH (a refused command flags MULTI)
                    continue
                arity = int(ours[name]["arity"])
                filler = b"help" if theirs[name].get("subcommands") else b"x"  # a container's subcommand
                args = [name.encode()] + [filler] * (abs(arity) - 1)
                payload = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
                expected = _one_line_reply(oracle_sock, payload)
                actual = _one_line_reply(our_sock, payload)
                if actual != expected:
                    differences.append(f"{name}: redis {expected!r}, leakdb {actual!r}")
                checked += 1
        assert not differences, "\n".join(differences)
        print(f"NOAUTH compared for {checked} commands")
        assert checked > 100
    finally:
        oracle.stop()


def _one_line_reply(sock: socket.socket, payload: bytes) -> bytes:
    """Send one request and read its reply, which before AUTH is always a single line."""
    sock.sendall(payload)
    reply = b""
    while not reply.endswith(b"\r\n"):
        chunk = sock.recv(4096)
        assert chunk, "connection closed"
        reply += chunk
    return reply


def _commands(port: int, password: str | None = None) -> dict:
    client = redis.Redis(port=port, password=password)
    try:
        return client.command()
    finally:
        client.close()


SITECUSTOMIZE = """
import pickle, os
MARK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "unpickled")
def _refuse(*args, **kwargs):
    open(MARK, "w").close()
    raise RuntimeError("unpickling attempted")
pickle.loads = pickle.load = _refuse
class _Refusing(pickle.Unpickler):
    def load(self):
        _refuse()
pickle.Unpickler = _Refusing
"""


class Exploit:
    def __reduce__(self):
        return (open, ("/tmp/leakdb-pickle-exploit-ran", "w"))


def test_nothing_from_the_network_is_unpickled(start_leakdb, tmp_path, monkeypatch):
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(hooks), str(ROOT)]))
    payload = pickle.dumps(Exploit())
    server = start_leakdb("--storage", "persistent-queue", cwd=tmp_path)
    client = server.client()
    client.set(payload, payload)
    client.hset("h", payload, payload)
    client.rpush("l", payload) if hasattr(client, "rpush") else None
    client.sadd("s", payload)
    assert client.get(payload) == payload
    assert client.hget("h", payload) == payload
    client.save()
    client.close()
    server.stop()
    restarted = start_leakdb("--storage", "persistent-queue", cwd=tmp_path).client()
    assert restarted.get(payload) == payload
    assert not (hooks / "unpickled").exists()
    assert not Path("/tmp/leakdb-pickle-exploit-ran").exists()
