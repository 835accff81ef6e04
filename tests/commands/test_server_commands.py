"""Server commands (FLUSH*, SWAPDB, INFO, CONFIG, COMMAND, SAVE/BGSAVE, SHUTDOWN, DEBUG, TIME, ROLE).

Deterministic replies are compared byte for byte with a real redis-server; saving and shutting down
run against leakdb-server processes started for the test, with persistent storage where it matters.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time

import pytest
import redis
from conftest import (
    HANG_SECONDS,
    assert_same,
    assert_same_bytes,
    raw_exchange,
    read_replies,
    require,
    wait_until,
)

SAME_REPLIES = [
    b"FLUSHALL foo\r\nFLUSHALL ASYNC\r\nFLUSHALL sync\r\nFLUSHDB SYNC\r\nFLUSHDB a b\r\nFLUSHDB x\r\n",
    b"SWAPDB 0 x\r\nSWAPDB x 0\r\nSWAPDB 0 99\r\nSWAPDB -1 0\r\nSWAPDB 0 0\r\nSWAPDB 2147483648 0\r\n",
    b"SWAPDB 0\r\nSWAPDB 0 1 2\r\n",
    b"CONFIG\r\nCONFIG FOO\r\nCONFIG GET\r\nCONFIG SET\r\nCONFIG SET a\r\nCONFIG SET a b c\r\n",
    b"CONFIG SET nosuch 1\r\nCONFIG SET maxclients x\r\nCONFIG SET databases 3\r\n",
    b"CONFIG SET maxclients 100 maxclients 200\r\nCONFIG SET timeout 5 TIMEOUT 6\r\n",
    b"CONFIG SET timeout 5 nosuch 1\r\nCONFIG SET timeout x nosuch 1\r\n",
    b"CONFIG SET timeout 7 databases 3\r\nCONFIG SET timeout x databases 3\r\n",
    b"CONFIG SET loglevel foo\r\nCONFIG SET protected-mode maybe\r\nCONFIG SET proto-max-bulk-len 1x\r\n",
    b"CONFIG SET timeout 5 maxclients x\r\nCONFIG GET timeout\r\n",
    b"CONFIG SET timeout 0 maxclients 10000\r\nCONFIG GET timeout\r\nCONFIG GET TIMEOUT\r\n",
    b"CONFIG GET maxclients\r\nCONFIG GET nosuch\r\nCONFIG GET maxcl*\r\n",
    b"HELLO 3\r\nCONFIG GET maxclients\r\n",
    b"CONFIG REWRITE\r\nCONFIG RESETSTAT\r\nCONFIG RESETSTAT x\r\nCONFIG HELP\r\n",
    b"SHUTDOWN ABORT\r\nSHUTDOWN ABORT NOW\r\nSHUTDOWN SAVE NOSAVE\r\n",
    b"SHUTDOWN foo\r\nSHUTDOWN NOW FORCE foo\r\n",
    b"BGSAVE foo\r\nBGSAVE a b\r\nLASTSAVE x\r\nTIME x\r\nSAVE x\r\n",
    b"ROLE\r\nHELLO 3\r\nROLE\r\nREADONLY\r\nREADWRITE\r\nREADONLY x\r\n",
    b"FUNCTION FLUSH\r\nFUNCTION FLUSH async\r\nFUNCTION FLUSH SYNC\r\nFUNCTION FLUSH x\r\n",
    b"SCRIPT FLUSH\r\nSCRIPT FLUSH ASYNC\r\nSCRIPT FLUSH x\r\nSCRIPT\r\nFUNCTION\r\n",
    b"COMMAND INFO nosuch\r\nCOMMAND COUNT x\r\nCOMMAND GETKEYS\r\nCOMMAND GETKEYS get\r\n",
    b"COMMAND GETKEYS get a\r\nCOMMAND GETKEYS set a\r\n",
    b"COMMAND GETKEYS ping x\r\nCOMMAND GETKEYS nosuch a\r\n",
    b"COMMAND GETKEYS mset a 1 b 2\r\nCOMMAND GETKEYS config get x\r\n",
    b"COMMAND LIST FILTERBY MODULE x\r\nCOMMAND LIST FILTERBY foo x\r\nCOMMAND LIST foo\r\n",
    b"COMMAND LIST FILTERBY PATTERN\r\nCOMMAND DOCS nosuch\r\nCOMMAND FOO\r\n",
    b"INFO nosuch\r\nHELLO 3\r\nINFO nosuch\r\n",
    b"INFO keyspace\r\nSET a 1\r\nSELECT 3\r\nSET b 2\r\nSET c 3\r\n"
    b"INFO keyspace\r\nINFO KEYSPACE nosuch\r\n",
    b"SET a 1\r\nSWAPDB 0 1\r\nGET a\r\nSELECT 1\r\nGET a\r\nFLUSHDB\r\nGET a\r\n",
    b"SET a 1\r\nSELECT 2\r\nSET b 1\r\nFLUSHALL\r\nDBSIZE\r\nSELECT 0\r\nDBSIZE\r\n",
]


@pytest.fixture
def ports(pair, redis_server, leakdb_server) -> tuple[int, int]:
    return redis_server.port, leakdb_server.port


@pytest.mark.parametrize("payload", SAME_REPLIES, ids=lambda p: p.decode("latin-1")[:60])
def test_replies_match_redis(ports, payload):
    assert_same_bytes(*ports, payload)


# -- INFO ------------------------------------------------------------------------------------------

DEFAULT_HEADERS = [
    "# Server",
    "# Clients",
    "# Memory",
    "# Persistence",
    "# Stats",
    "# Replication",
    "# CPU",
    "# Modules",
    "# Errorstats",
    "# Cluster",
    "# Keyspace",
    "# LeakDB",
]


def info_text(port: int, *sections: str) -> str:
    """INFO's text as sent (redis-py would parse it into a dict)."""
    reply = raw_exchange(port, " ".join(["INFO", *sections]).encode() + b"\r\n")
    return reply.split(b"\r\n", 1)[1].decode()


def headers(text: str) -> list[str]:
    return [line for line in text.split("\r\n") if line.startswith("#")]


# "all" and "everything" add the per-command sections, in Redis's places.
ALL_HEADERS = [*DEFAULT_HEADERS[:8], "# Commandstats", "# Errorstats", "# Latencystats", *DEFAULT_HEADERS[9:]]


@pytest.mark.parametrize("section", [None, "default", "all", "everything"])
def test_info_sections(leakdb_server, section):
    text = info_text(leakdb_server.port, *([] if section is None else [section]))
    assert headers(text) == (ALL_HEADERS if section in ("all", "everything") else DEFAULT_HEADERS)
    assert "\r\n\r\n# Clients\r\n" in text


def test_info_server_fields(r, leakdb_server):
    info = r.info("server")
    assert info["redis_version"] == "7.0.15"
    assert info["redis_mode"] == "standalone"
    assert info["tcp_port"] == leakdb_server.port
    assert info["leakdb_version"]
    assert info["uptime_in_seconds"] >= 0
    assert len(info["run_id"]) == 40
    assert r.info("server")["run_id"] == info["run_id"]


def test_info_sections_in_redis_order(ports):
    for port in ports:
        assert headers(info_text(port, "keyspace", "server")) == ["# Server", "# Keyspace"]


def test_info_counters(r):
    r.set("k", "v", ex=100)
    before = r.info("stats")["total_commands_processed"]
    r.ping()
    info = r.info()
    assert info["total_commands_processed"] >= before + 1
    assert info["connected_clients"] >= 1
    assert info["used_memory"] > 0 and info["used_memory_human"]
    assert info["role"] == "master"
    assert info["db0"]["keys"] == 1 and info["db0"]["expires"] == 1
    assert 0 < info["db0"]["avg_ttl"] <= 100_000
    assert info["storage_mode"] == "memory"
    assert info["storage_queue_length"] == 0


def test_config_resetstat_clears_counters(r):
    r.ping()
    r.config_resetstat()
    assert r.info("stats")["total_commands_processed"] <= 2


def test_info_is_verbatim_in_resp3(leakdb_server):
    reply = raw_exchange(leakdb_server.port, b"HELLO 3\r\nINFO server\r\n")
    assert b"=" in reply and b"txt:# Server\r\nredis_version:7.0.15\r\n" in reply
    client = redis.Redis(port=leakdb_server.port, protocol=3)
    try:
        assert client.info("server")["redis_version"] == "7.0.15"
    finally:
        client.close()


def test_redis_cli_info(leakdb_server):
    cli = require("redis-cli")
    done = subprocess.run(
        [cli, "-p", str(leakdb_server.port), "info", "server"],
        capture_output=True,
        text=True,
        timeout=HANG_SECONDS,
    )
    assert done.stdout.startswith("# Server\nredis_version:7.0.15\n")


# -- CONFIG ----------------------------------------------------------------------------------------


def test_config_set_is_atomic(r):
    r.config_set("timeout", "0")
    with pytest.raises(redis.ResponseError, match="maxclients"):
        r.execute_command("CONFIG SET timeout 50 maxclients notanumber")
    assert r.config_get("timeout") == {"timeout": "0"}
    assert r.execute_command("CONFIG SET timeout 50 maxclients 500") == b"OK"
    assert r.config_get("timeout", "maxclients") == {"timeout": "50", "maxclients": "500"}
    r.execute_command("CONFIG SET timeout 0 maxclients 10000")


LEAKDB_ONLY_SETTINGS = {"storage", "backend", "workers", "maxsize", "flush-interval", "storage-class"}


def test_config_get_patterns(pair):
    oracle, ours = pair
    for patterns in (["maxclients"], ["max*"], ["timeout", "time*"], ["MAXCLIENTS"], ["save", "appendonly"]):
        expected = oracle.config_get(*patterns)
        actual = ours.config_get(*patterns)
        shared = {name: value for name, value in expected.items() if name in actual}
        assert shared == {name: actual[name] for name in shared}
        assert set(actual) - set(expected) <= LEAKDB_ONLY_SETTINGS


def test_config_rewrite_updates_the_file(start_leakdb, tmp_path):
    config_file = tmp_path / "leakdb.conf"
    config_file.write_text("# my settings\nstorage memory\ntimeout 10\n")
    server = start_leakdb(str(config_file))
    client = server.client()
    client.config_set("timeout", "25")
    client.config_set("maxclients", "77")
    assert client.config_rewrite() in (True, b"OK")
    text = config_file.read_text()
    assert text.startswith("# my settings\nstorage memory\ntimeout 25\n")
    assert "maxclients 77" in text
    assert client.info("server")["config_file"] == str(config_file)
    client.close()
    again = start_leakdb(str(config_file))
    assert again.client().config_get("timeout", "maxclients") == {"timeout": "25", "maxclients": "77"}


# -- COMMAND ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["get", "config|get", "config|rewrite"])
@pytest.mark.parametrize("hello", [b"", b"HELLO 3\r\n"])
def test_command_info_matches_redis(ports, name, hello):
    assert_same_bytes(*ports, hello + b"COMMAND INFO " + name.encode() + b"\r\n")


OWN_COMMANDS = [
    "ping",
    "echo",
    "select",
    "auth",
    "hello",
    "quit",
    "reset",
    "client",
    "info",
    "config",
    "command",
    "time",
    "lastsave",
    "save",
    "bgsave",
    "shutdown",
    "flushdb",
    "flushall",
    "swapdb",
    "role",
    "lolwut",
    "debug",
    "readonly",
    "readwrite",
]


def test_command_table_matches_redis(pair):
    oracle, ours = (client.command() for client in pair)
    fields = ("arity", "flags", "first_key_pos", "last_key_pos", "step_count", "acl_categories")
    for name in OWN_COMMANDS:
        expected = {field: oracle[name][field] for field in fields}
        assert {field: ours[name][field] for field in fields} == expected, name


def test_command_lists_subcommands(r):
    names = set(r.execute_command("COMMAND LIST"))
    assert {b"config|get", b"client|list", b"command|docs", b"get", b"info"} <= names
    assert r.execute_command("COMMAND COUNT") == len(r.execute_command("COMMAND"))
    assert set(r.execute_command("COMMAND LIST FILTERBY PATTERN conf*")) == {
        b"config",
        b"config|get",
        b"config|set",
        b"config|resetstat",
        b"config|rewrite",
        b"config|help",
    }
    assert b"ping" in r.execute_command("COMMAND LIST FILTERBY ACLCAT connection")
    (config,) = r.execute_command("COMMAND INFO config")
    assert {entry[0] for entry in config[9]} >= {b"config|get", b"config|set"}


@pytest.mark.parametrize("protocol", [2, 3])
def test_command_through_redis_py(leakdb_server, protocol):
    client = redis.Redis(port=leakdb_server.port, protocol=protocol)
    try:
        table = client.command()
        assert table["get"]["arity"] == 2
        docs = client.execute_command("COMMAND DOCS get ping")
        as_dict = docs if isinstance(docs, dict) else dict(zip(docs[::2], docs[1::2], strict=True))
        assert set(as_dict) == {b"get", b"ping"}
        assert client.command_getkeys("MSET", "a", "1", "b", "2") in ([b"a", b"b"], ["a", "b"])
    finally:
        client.close()


def test_redis_cli_command_docs(leakdb_server):
    cli = require("redis-cli")
    done = subprocess.run(
        [cli, "-p", str(leakdb_server.port), "command", "docs", "get"],
        capture_output=True,
        text=True,
        timeout=HANG_SECONDS,
    )
    assert done.returncode == 0 and "summary" in done.stdout and "ERR" not in done.stdout


# -- TIME, LASTSAVE, SAVE, BGSAVE ------------------------------------------------------------------


def test_time_and_lastsave(pair):
    for client in pair:
        before = time.time_ns() // 1000
        seconds, micros = client.time()
        after = time.time_ns() // 1000
        assert 0 <= micros < 1_000_000
        assert before <= seconds * 1_000_000 + micros <= after  # the server's clock, read in between
        assert client.lastsave().timestamp() <= after / 1_000_000  # no save yet: its start, in the past


def test_save_and_bgsave_in_memory_mode(r):
    assert r.save() is True
    assert r.bgsave() is True
    wait_until(lambda: r.info("persistence")["rdb_bgsave_in_progress"] == 0, "BGSAVE to finish")
    info = r.info("persistence")
    assert info["rdb_last_bgsave_status"] == "ok" and info["rdb_saves"] >= 1


PERSISTENT = ("--storage", "persistent-queue", "--flush-interval", "3600", "--maxsize", "100000")


def test_save_flushes_the_write_behind_queue(start_leakdb, tmp_path):
    server = start_leakdb(*PERSISTENT)
    client = server.client()
    client.mset({"a": "1", "b": "2"})
    before = client.info("leakdb")
    assert before["storage_queue_length"] == 2
    assert before["storage_file"].endswith("leakdb.db")
    started = client.lastsave().timestamp()
    # LASTSAVE has one-second resolution: let a new second begin, so the save shows.
    wait_until(lambda: time.time() >= started + 1, "the next second")
    saved_from = int(time.time())
    assert client.save() is True
    saved_by = time.time()
    after = client.info()
    assert after["storage_queue_length"] == 0
    assert after["storage_flushes"] >= before["storage_flushes"] + 1
    assert after["rdb_changes_since_last_save"] == 0
    assert started < saved_from <= client.lastsave().timestamp() <= saved_by
    client.close()
    # Killed without a chance to flush: what SAVE wrote is on disk.
    server.stop(signal.SIGKILL)
    again = start_leakdb(*PERSISTENT)
    assert again.client().mget("a", "b") == [b"1", b"2"]


def test_bgsave_flushes_without_blocking(start_leakdb):
    server = start_leakdb(*PERSISTENT)
    client = server.client()
    client.set("k", "v")
    assert client.bgsave() is True
    assert client.ping() is True
    wait_until(lambda: client.info("leakdb")["storage_queue_length"] == 0, "the queue to be flushed")
    wait_until(lambda: client.info("persistence")["rdb_bgsave_in_progress"] == 0, "BGSAVE to finish")
    assert client.info("persistence")["rdb_last_bgsave_status"] == "ok"
    client.close()
    server.stop(signal.SIGKILL)
    assert start_leakdb(*PERSISTENT).client().get("k") == b"v"


def test_bgsave_schedule_reply(r):
    replies = raw_exchange(r.connection_pool.connection_kwargs["port"], b"BGSAVE\r\nBGSAVE SCHEDULE\r\n")
    assert replies.startswith(b"+Background saving started\r\n+Background saving")


# -- SHUTDOWN and signals --------------------------------------------------------------------------


def port_is_closed(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=HANG_SECONDS):
            return False
    except OSError:
        return True


@pytest.mark.parametrize("options", [b"", b" NOSAVE", b" SAVE", b" NOW FORCE"])
def test_shutdown_stops_the_server(start_leakdb, options):
    server = start_leakdb("--storage", "memory")
    reply = raw_exchange(server.port, b"SHUTDOWN" + options + b"\r\n", expect_close=True)
    assert reply == b""  # the connection simply closes, as with Redis
    assert server.wait() == 0
    assert port_is_closed(server.port)


def test_shutdown_saves_pending_writes(start_leakdb):
    server = start_leakdb(*PERSISTENT)
    server.client().set("kept", "yes")
    raw_exchange(server.port, b"SHUTDOWN\r\n", expect_close=True)
    assert server.wait() == 0
    assert start_leakdb(*PERSISTENT).client().get("kept") == b"yes"


def test_sigterm_exits_cleanly_and_saves(start_leakdb):
    server = start_leakdb(*PERSISTENT)
    server.client().set("kept", "yes")
    assert server.stop(signal.SIGTERM) == 0
    assert port_is_closed(server.port)
    assert start_leakdb(*PERSISTENT).client().get("kept") == b"yes"


def test_shutdown_through_redis_cli(start_leakdb):
    cli = require("redis-cli")
    server = start_leakdb("--storage", "memory")
    subprocess.run([cli, "-p", str(server.port), "shutdown"], capture_output=True, timeout=HANG_SECONDS)
    assert server.wait() == 0


# -- DEBUG -----------------------------------------------------------------------------------------


def test_debug_sleep_does_not_block_other_clients(start_leakdb):
    """A client sleeps for an hour on a server of its own; others are served meanwhile."""
    server = start_leakdb("--storage", "memory")
    sleeper = socket.create_connection(("127.0.0.1", server.port), timeout=HANG_SECONDS)
    sleeper.sendall(b"CLIENT SETNAME sleeper\r\nDEBUG SLEEP 3600\r\n")
    # The batch's replies leave when DEBUG SLEEP starts waiting: CLIENT SETNAME's +OK, alone.
    assert read_replies(sleeper, 1) == b"+OK\r\n"
    client = server.client(socket_timeout=HANG_SECONDS)
    assert client.ping() is True and client.set("k", "v") is True  # while the sleep has an hour to go
    assert [c["name"] for c in client.client_list()] == ["sleeper", ""]
    sleeper.setblocking(False)
    with pytest.raises(BlockingIOError):
        sleeper.recv(100)  # and nothing from DEBUG SLEEP yet
    sleeper.close()
    client.close()


def test_debug_sleep_replies_after_the_delay(leakdb_server):
    with socket.create_connection(("127.0.0.1", leakdb_server.port), timeout=HANG_SECONDS) as sock:
        started = time.monotonic()
        sock.sendall(b"DEBUG SLEEP 0.3\r\nPING\r\n")
        reply = b""
        while reply.count(b"\r\n") < 2:
            reply += sock.recv(100)
        assert reply == b"+OK\r\n+PONG\r\n"
        assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize(
    ("payload", "reply"),
    [
        (
            b"DEBUG JMAP\r\n",
            b"-ERR unknown subcommand or wrong number of arguments for 'JMAP'. Try DEBUG HELP.\r\n",
        ),
        (
            b"DEBUG SLEEP\r\n",
            b"-ERR unknown subcommand or wrong number of arguments for 'SLEEP'. Try DEBUG HELP.\r\n",
        ),
        (b"DEBUG\r\n", b"-ERR wrong number of arguments for 'debug' command\r\n"),
        (b"DEBUG SLEEP x\r\nDEBUG SLEEP -1\r\nDEBUG SLEEP 0\r\n", b"+OK\r\n+OK\r\n+OK\r\n"),
    ],
)
def test_debug_replies(leakdb_server, payload, reply):
    # Redis 7 refuses DEBUG unless enable-debug-command is set; these are its replies when it is.
    assert raw_exchange(leakdb_server.port, payload) == reply


def test_lolwut_and_errors(pair):
    ours = pair[1]
    assert b"Redis ver. 7.0.15" in ours.execute_command("LOLWUT")
    assert_same(pair, "SWAPDB", "0", "nope")
