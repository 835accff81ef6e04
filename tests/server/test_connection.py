"""Connection commands (PING ECHO QUIT SELECT AUTH HELLO RESET CLIENT) against a real redis-server.

Byte-level comparisons send the same raw requests to both servers; numbers that differ by nature
(client ids, addresses) are masked first.  redis-py (RESP2, RESP3, asyncio) and redis-cli are used as
users would use them.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess

import pytest
import redis
import redis.asyncio
from conftest import (
    HANG_SECONDS,
    ServerProcess,
    assert_same,
    assert_same_bytes,
    free_port,
    raw_exchange,
    read_replies,
    read_until_closed,
    redis_argv,
    require,
)
from redis.backoff import NoBackoff
from redis.retry import Retry

PASSWORD = "secret"


@pytest.fixture
def ports(pair, redis_server, leakdb_server) -> tuple[int, int]:
    return redis_server.port, leakdb_server.port


@pytest.fixture(scope="module")
def password_oracle():
    port = free_port()
    server = ServerProcess(redis_argv(port, "--requirepass", PASSWORD), port)
    yield server
    server.stop()


@pytest.fixture
def password_ports(password_oracle, start_leakdb) -> tuple[int, int]:
    ours = start_leakdb("--storage", "memory", "--requirepass", PASSWORD)
    return password_oracle.port, ours.port


# -- byte-for-byte against redis-server ------------------------------------------------------------

SAME_REPLIES = [
    b"PING\r\n",
    b"PING hello\r\n",
    b"PING a b\r\n",
    b"ECHO\r\n",
    b'ECHO ""\r\n',
    b"ECHO a b\r\n",
    b"QUIT\r\nPING\r\n",
    b"QUIT extra\r\n",
    b"SELECT 1\r\nSELECT 15\r\nSELECT 16\r\nSELECT -1\r\nSELECT x\r\nSELECT 2147483648\r\nSELECT 01\r\n",
    b"AUTH x\r\n",
    b"AUTH a b c\r\n",
    b"AUTH default anything\r\n",
    b"AUTH bob x\r\n",
    b"HELLO\r\n",
    b"HELLO 3\r\nPING\r\nPING x\r\nCLIENT GETNAME\r\n",
    b"HELLO 2\r\n",
    b"HELLO 1\r\nHELLO 4\r\nHELLO 0\r\nHELLO -1\r\nHELLO x\r\nHELLO 99999999999999999999\r\n",
    b"HELLO 3 AUTH\r\nHELLO 3 SETNAME\r\nHELLO 3 foo\r\nHELLO 3 AUTH default\r\n",
    b"HELLO 3 SETNAME conn\r\nCLIENT GETNAME\r\n",
    b'HELLO 3 SETNAME "a b"\r\nPING\r\n',
    b"HELLO 2 AUTH bob x\r\n",
    b"HELLO 3\r\nRESET\r\nPING\r\nCLIENT GETNAME\r\n",
    b"SELECT 3\r\nCLIENT SETNAME n\r\nRESET\r\nCLIENT GETNAME\r\n",
    b"CLIENT\r\nCLIENT FOO\r\nCLIENT ID x\r\nCLIENT GETNAME x\r\nCLIENT SETNAME\r\n",
    b'CLIENT SETNAME "a b"\r\nCLIENT SETNAME "a\\nb"\r\nCLIENT SETNAME "\xc3\xa9"\r\n',
    b'CLIENT SETNAME name\r\nCLIENT GETNAME\r\nCLIENT SETNAME ""\r\nCLIENT GETNAME\r\n',
    b"CLIENT KILL\r\nCLIENT KILL 1.1.1.1:1\r\nCLIENT KILL ADDR\r\nCLIENT KILL 127.0.0.1:1 extra\r\n",
    b"CLIENT KILL ID 999999\r\nCLIENT KILL ID 0\r\nCLIENT KILL ID -5\r\nCLIENT KILL ID x\r\n",
    b"CLIENT KILL ID 1 ID 2\r\nCLIENT KILL SKIPME maybe\r\nCLIENT KILL FOO bar\r\n",
    b"CLIENT KILL USER bob\r\nCLIENT KILL TYPE foo\r\nCLIENT KILL TYPE master\r\nCLIENT KILL TYPE normal\r\n",
    b"CLIENT KILL ADDR 1.1.1.1:1\r\nCLIENT KILL LADDR 1.1.1.1:1\r\nCLIENT KILL USER default\r\n",
    b"CLIENT LIST TYPE\r\nCLIENT LIST foo\r\nCLIENT LIST TYPE foo\r\nCLIENT LIST TYPE master\r\n",
    b"CLIENT LIST TYPE pubsub\r\nCLIENT LIST ID x\r\nCLIENT LIST ID 0\r\nCLIENT LIST ID 999999\r\n",
    b"CLIENT LIST TYPE normal ID 1\r\nHELLO 3\r\nCLIENT LIST ID 999999\r\n",
    b"CLIENT NO-EVICT on\r\nCLIENT NO-EVICT off\r\nCLIENT NO-EVICT maybe\r\nCLIENT NO-EVICT\r\n",
    b"CLIENT PAUSE 10\r\nCLIENT PAUSE 10 write\r\nCLIENT PAUSE 10 ALL\r\nCLIENT UNPAUSE\r\n",
    b"CLIENT PAUSE -1\r\nCLIENT PAUSE x\r\nCLIENT PAUSE 10 foo\r\nCLIENT PAUSE 10 write x\r\n",
    b"CLIENT GETREDIR\r\n",
]


@pytest.mark.parametrize("payload", SAME_REPLIES, ids=lambda p: p.decode("latin-1")[:60])
def test_replies_match_redis(ports, payload):
    assert_same_bytes(*ports, payload)


AUTH_REPLIES = [
    b"PING\r\n",
    b"ECHO\r\n",
    b"FOO\r\n",
    b"SELECT 1\r\nCLIENT ID\r\nGET k\r\n",
    b"AUTH wrong\r\nPING\r\n",
    b"AUTH secret\r\nPING\r\n",
    b"AUTH default secret\r\nPING\r\n",
    b"AUTH bob secret\r\nPING\r\n",
    b"AUTH default wrong\r\n",
    b"HELLO 3\r\nHELLO\r\nHELLO 2 SETNAME x\r\n",
    b"HELLO 3 AUTH default wrong\r\nPING\r\n",
    b"HELLO 3 AUTH default secret SETNAME n\r\nCLIENT GETNAME\r\n",
    b"HELLO 3 SETNAME n AUTH default secret\r\nCLIENT GETNAME\r\n",
    b"HELLO 4 AUTH default secret\r\nPING\r\n",
    b'HELLO 3 AUTH default secret SETNAME "a b"\r\nPING\r\n',
    b"RESET\r\nPING\r\n",
    b"AUTH secret\r\nRESET\r\nPING\r\nAUTH secret\r\nPING\r\n",
    b"QUIT\r\nPING\r\n",
    b"AUTH secret\r\nAUTH wrong\r\nPING\r\n",
]


@pytest.mark.parametrize("payload", AUTH_REPLIES, ids=lambda p: p.decode("latin-1")[:60])
def test_password_replies_match_redis(password_ports, payload):
    assert_same_bytes(*password_ports, payload)


# -- redis-py ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_py_session(leakdb_server, protocol):
    client = redis.Redis(port=leakdb_server.port, protocol=protocol, decode_responses=True)
    try:
        assert client.ping() is True
        assert client.echo("hi") == "hi"
        assert client.client_setname("worker-1") is True
        assert client.client_getname() == "worker-1"
        info = client.client_info()
        assert info["name"] == "worker-1"
        assert info["resp"] == str(protocol)
        assert info["lib-name"] == "redis-py"  # redis-py sends CLIENT SETINFO on connect
        assert int(info["id"]) == client.client_id()
        listed = {int(entry["id"]) for entry in client.client_list()}
        assert client.client_id() in listed
        assert client.client_list(client_id=[client.client_id()])[0]["name"] == "worker-1"
    finally:
        client.close()


def test_hello_switches_protocol(leakdb_server):
    client = redis.Redis(port=leakdb_server.port, protocol=3)
    try:
        reply = client.execute_command("HELLO", "3")
        assert reply[b"server"] == b"redis"
        assert reply[b"version"] == b"7.0.15"
        assert reply[b"proto"] == 3
        assert reply[b"mode"] == b"standalone"
        assert reply[b"role"] == b"master"
        assert reply[b"modules"] == []
    finally:
        client.close()


def test_select_keeps_databases_apart(r, leakdb_server):
    other = redis.Redis(port=leakdb_server.port, db=5)
    try:
        r.set("k", "zero")
        other.set("k", "five")
        assert r.get("k") == b"zero"
        assert other.get("k") == b"five"
        assert other.client_info()["db"] == 5
    finally:
        other.flushdb()
        other.close()


def open_victim(port: int) -> tuple[socket.socket, int]:
    """A raw connection and its client id."""
    victim = socket.create_connection(("127.0.0.1", port), timeout=HANG_SECONDS)
    victim.sendall(b"CLIENT ID\r\n")
    return victim, int(read_replies(victim, 1)[1:-2])


def assert_closed(victim: socket.socket) -> None:
    assert read_until_closed(victim) == b""
    victim.close()


def test_client_kill_by_id_closes_the_other_connection(r, leakdb_server):
    victim, victim_id = open_victim(leakdb_server.port)
    assert r.client_kill_filter(_id=victim_id) == 1
    assert_closed(victim)
    assert victim_id not in {int(c["id"]) for c in r.client_list()}


def test_client_kill_old_form_by_address(r, leakdb_server):
    victim, victim_id = open_victim(leakdb_server.port)
    address = next(c["addr"] for c in r.client_list() if int(c["id"]) == victim_id)
    assert r.client_kill(address) is True
    assert_closed(victim)
    with pytest.raises(redis.ResponseError, match="No such client"):
        r.client_kill(address)


def test_client_kill_by_type_spares_the_caller(r, leakdb_server):
    victim, _ = open_victim(leakdb_server.port)
    assert r.client_kill_filter(_type="normal") >= 1
    assert_closed(victim)
    assert r.ping() is True


def test_client_kill_self_replies_then_closes(leakdb_server):
    victim, own_id = open_victim(leakdb_server.port)
    victim.sendall(b"CLIENT KILL ID %d SKIPME no\r\nPING\r\n" % own_id)
    assert read_until_closed(victim) == b":1\r\n"  # and no PONG
    victim.close()


def test_client_list_line_format(leakdb_server):
    line = raw_exchange(leakdb_server.port, b"CLIENT SETNAME fmt\r\nSELECT 2\r\nCLIENT INFO\r\n")
    text = line.split(b"\r\n", 3)[3].decode()
    fields = dict(item.split("=", 1) for item in text.strip().split(" "))
    expected = [
        "id",
        "addr",
        "laddr",
        "fd",
        "name",
        "age",
        "idle",
        "flags",
        "db",
        "sub",
        "psub",
        "ssub",
        "multi",
        "qbuf",
        "qbuf-free",
        "argv-mem",
        "multi-mem",
        "rbs",
        "rbp",
        "obl",
        "oll",
        "omem",
        "tot-mem",
        "events",
        "cmd",
        "user",
        "redir",
        "resp",
        "lib-name",
        "lib-ver",
    ]
    assert list(fields) == expected
    assert fields["name"] == "fmt"
    assert fields["db"] == "2"
    assert fields["flags"] == "N"
    assert fields["cmd"] == "client|info"
    assert text.endswith("\n")


def test_client_flags_and_setinfo(r):
    assert r.execute_command("CLIENT NO-EVICT on") == b"OK"
    assert r.execute_command("CLIENT NO-TOUCH on") == b"OK"
    assert r.client_info()["flags"] == "eT"
    assert r.execute_command("CLIENT SETINFO LIB-NAME mylib") == b"OK"
    assert r.execute_command("CLIENT SETINFO lib-ver 1.2") == b"OK"
    info = r.client_info()
    assert (info["lib-name"], info["lib-ver"]) == ("mylib", "1.2")
    with pytest.raises(redis.ResponseError, match="Unrecognized option 'foo'"):
        r.execute_command("CLIENT SETINFO foo x")
    with pytest.raises(redis.ResponseError, match="lib-name cannot contain spaces"):
        r.execute_command("CLIENT SETINFO lib-name", "a b")
    r.execute_command("RESET")
    assert r.client_info()["flags"] == "N"


def test_client_help_is_simple_strings(r):
    lines = r.execute_command("CLIENT HELP")
    assert lines[0].startswith(b"CLIENT <subcommand>")
    assert b"KILL <ip:port>" in lines
    assert lines[-1] == b"    Prints this help."


def test_client_errors_match_redis(pair):
    for args in [("CLIENT", "KILL", "ID", "x"), ("CLIENT", "LIST", "TYPE", "x"), ("CLIENT", "NOPE")]:
        assert_same(pair, *args)


# -- authentication through clients --------------------------------------------------------------


def test_redis_py_with_password(start_leakdb):
    server = start_leakdb("--storage", "memory", "--requirepass", PASSWORD)
    no_retry = Retry(NoBackoff(), 0)
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=server.port, retry=no_retry).ping()
    for protocol in (2, 3):
        client = redis.Redis(port=server.port, password=PASSWORD, protocol=protocol)
        assert client.ping() is True
        assert client.set("k", "v") is True
        client.close()
    wrong = redis.Redis(port=server.port, password="wrong", retry=no_retry)
    with pytest.raises(redis.AuthenticationError):
        wrong.ping()
    wrong.close()


def test_config_set_requirepass_applies_to_new_connections(start_leakdb):
    server = start_leakdb("--storage", "memory")
    admin = redis.Redis(port=server.port)
    assert admin.config_set("requirepass", "newpass") is True
    assert admin.ping() is True  # already connected: stays authenticated, as in Redis
    assert raw_exchange(server.port, b"PING\r\n") == b"-NOAUTH Authentication required.\r\n"
    assert raw_exchange(server.port, b"AUTH newpass\r\nPING\r\n") == b"+OK\r\n+PONG\r\n"
    admin.config_set("requirepass", "")
    admin.close()


def test_redis_cli_with_password(start_leakdb):
    cli = require("redis-cli")
    server = start_leakdb("--storage", "memory", "--requirepass", PASSWORD)
    base = [cli, "-p", str(server.port), "--no-auth-warning"]
    denied = subprocess.run([*base, "ping"], capture_output=True, text=True, timeout=HANG_SECONDS)
    assert "NOAUTH" in denied.stdout
    allowed = subprocess.run(
        [*base, "-a", PASSWORD, "ping"], capture_output=True, text=True, timeout=HANG_SECONDS
    )
    assert allowed.stdout.strip() == "PONG"
    resp3 = subprocess.run(
        [*base, "-a", PASSWORD, "-3", "client", "info"], capture_output=True, text=True, timeout=HANG_SECONDS
    )
    assert "resp=3" in resp3.stdout


# -- asyncio redis-py and redis-cli ------------------------------------------------------------------


def test_asyncio_client(leakdb_server):
    async def session() -> list:
        client = redis.asyncio.Redis(port=leakdb_server.port, protocol=3)
        try:
            return [
                await client.ping(),
                await client.echo("x"),
                await client.client_setname("async"),
                await client.client_getname(),
                (await client.client_info())["resp"],
            ]
        finally:
            await client.aclose()

    assert asyncio.run(session()) == [True, b"x", True, b"async", "3"]


@pytest.mark.parametrize(
    "args",
    [["ping"], ["ping", "hello"], ["echo", "hi"], ["select", "99"], ["client", "getname"], ["client", "foo"]],
)
def test_redis_cli_matches_redis(redis_server, leakdb_server, args):
    cli = require("redis-cli")

    def run(port: int) -> str:
        done = subprocess.run(
            [cli, "-p", str(port), *args], capture_output=True, text=True, timeout=HANG_SECONDS
        )
        return done.stdout

    assert run(leakdb_server.port) == run(redis_server.port)


def test_redis_cli_client_list_no_raw(leakdb_server):
    cli = require("redis-cli")
    done = subprocess.run(
        [cli, "-p", str(leakdb_server.port), "--no-raw", "client", "list"],
        capture_output=True,
        text=True,
        timeout=HANG_SECONDS,
    )
    assert done.stdout.startswith("id=")
    assert "cmd=client|list" in done.stdout
