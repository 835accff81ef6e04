"""MONITOR, SLOWLOG, LATENCY and INFO's per-command sections, compared with a real redis-server.

Each test gets its own pair of servers (these commands change server-wide settings and records);
timestamps, ports and durations are masked, everything else must match.
"""

from __future__ import annotations

import re
import subprocess
import time

import pytest
import redis

from tests.conftest import (
    ServerProcess,
    free_port,
    leakdb_argv,
    masked,
    raw_commands,
    redis_argv,
    require,
)


@pytest.fixture
def servers(tmp_path):
    """(redis-server, leakdb-server) processes, fresh, each with a unix socket."""
    port_r, port_l = free_port(), free_port()
    oracle = ServerProcess(redis_argv(port_r, "--unixsocket", str(tmp_path / "r.sock")), port_r)
    ours = ServerProcess(
        # Redis's default; LeakDB's is no (per-command statistics cost throughput).
        leakdb_argv(
            port_l,
            "--storage",
            "memory",
            "--unixsocket",
            str(tmp_path / "l.sock"),
            "--latency-tracking",
            "yes",
        ),
        port_l,
        cwd=str(tmp_path),
    )
    yield oracle, ours
    oracle.stop()
    ours.stop()


def plain_client(server: ServerProcess) -> redis.Redis:
    """A redis-py client that sends no CLIENT SETINFO (Redis 7.0 has none, LeakDB has it)."""
    return server.client(lib_name=None, lib_version=None)


def both(servers, *args):
    replies = []
    for server in servers:
        client = plain_client(server)
        try:
            replies.append(client.execute_command(*args))
        finally:
            client.close()
    return replies


# -- MONITOR ---------------------------------------------------------------------------------------

WORKLOAD = [
    ("set", "a", 'he"l\\lo\nx'),
    ("get", "a"),
    ("auth", "foo"),
    ("hello", "3", "auth", "someone", "secret"),
    ("config", "get", "maxmemory"),
    ("eval", "redis.call('set','k',1) return 1", "0"),
    ("multi",),
    ("set", "x", "1"),
    ("incr", "x"),
    ("exec",),
    ("nocmd",),
    ("get",),
    ("set", "\x01\x7f", "\t"),
    ("incr", "a"),
    ("client", "setname", "x"),
    ("select", "3"),
    ("set", "in3", "v"),
]


def monitor_lines(server: ServerProcess, unix_socket: str) -> list[str]:
    """What `redis-cli monitor` prints while the workload runs (and one PING over the unix socket)."""
    cli = require("redis-cli")
    watcher = subprocess.Popen([cli, "-p", str(server.port), "monitor"], stdout=subprocess.PIPE, text=True)
    try:
        assert watcher.stdout is not None
        assert watcher.stdout.readline().strip() == "OK"  # attached
        connection = redis.Connection(port=server.port, protocol=2, lib_name=None, lib_version=None)
        for command in WORKLOAD:
            connection.send_command(*command)
            try:
                connection.read_response()
            except (redis.ResponseError, redis.AuthenticationError):
                pass
        connection.disconnect()
        redis.Redis(unix_socket_path=unix_socket, lib_name=None, lib_version=None).ping()
        plain_client(server).execute_command("echo", "last")
        lines: list[str] = []
        while not lines or '"last"' not in lines[-1]:
            lines.append(watcher.stdout.readline().rstrip("\n"))
    finally:
        watcher.kill()
        watcher.wait()
    return [re.sub(r"^\d+\.\d{6} ", "T ", re.sub(r"127\.0\.0\.1:\d+", "ADDR", line)) for line in lines]


def test_monitor_shows_what_redis_shows(servers, tmp_path):
    oracle, ours = servers
    expected = monitor_lines(oracle, str(tmp_path / "r.sock"))
    actual = monitor_lines(ours, str(tmp_path / "l.sock"))
    # The unix socket's path differs by name only.
    assert [line.replace("l.sock", "r.sock") for line in actual] == expected
    assert 'T [0 lua] "set" "k" "1"' in actual
    assert 'T [0 ADDR] "auth" "(redacted)"' in actual


def test_monitor_line_quotes_bytes_as_redis(servers):
    for server in servers:
        connection = redis.Connection(port=server.port, protocol=2, lib_name=None, lib_version=None)
        connection.send_command("MONITOR")
        assert connection.read_response() == b"OK"
        other = plain_client(server)
        other.set(b"\x00\xfe \x07\x08", b"\r")
        line = connection.read_response()
        while b'"HELLO"' in line:
            line = connection.read_response()
        assert line.lower().endswith(b'"set" "\\x00\\xfe \\a\\b" "\\r"'), line
        assert re.match(rb"^\d{10}\.\d{6} \[0 127\.0\.0\.1:\d+\] ", line), line
        other.close()
        connection.disconnect()


# -- SLOWLOG ---------------------------------------------------------------------------------------


def test_slowlog_entries_have_redis_shape_and_truncation(servers):
    for server in servers:
        client = plain_client(server)
        client.config_set("slowlog-log-slower-than", 0)
        client.slowlog_reset()
        client.client_setname("namer")
        client.set("k", "x" * 200)
        client.rpush("l", *range(40))
        client.close()
    replies = [
        raw_commands(server.port, ("SLOWLOG", "GET", "2"), ("SLOWLOG", "LEN"), resp3=False)
        for server in servers
    ]

    def mask(reply: bytes) -> bytes:
        reply = re.sub(rb"\*6\r\n:\d+\r\n:\d+\r\n:\d+\r\n", b"*6\r\n:ID\r\n:T\r\n:D\r\n", reply)
        reply = re.sub(rb"127\.0\.0\.1:\d+", b"127.0.0.1:P", reply)
        return re.sub(rb":\d+\r\n$", b":N\r\n", reply)

    assert mask(replies[1]) == mask(replies[0])
    assert b"... (11 more arguments)" in replies[1]
    assert b"... (72 more bytes)" in replies[1]
    assert b"namer" in replies[1]


def test_slowlog_settings(servers):
    for server in servers:
        client = plain_client(server)
        client.config_set("slowlog-log-slower-than", -1)
        client.slowlog_reset()
        client.set("a", 1)
        assert client.slowlog_len() == 0
        client.config_set("slowlog-log-slower-than", 0)
        client.config_set("slowlog-max-len", 3)
        for n in range(10):
            client.set("a", n)
        entries = client.slowlog_get(-1)
        assert len(entries) == 3
        assert entries[0]["command"].lower() == b"set a 9"
        client.config_set("slowlog-max-len", 128)
        client.close()
    for args in [
        ("SLOWLOG", "GET", "-2"),
        ("SLOWLOG", "GET", "abc"),
        ("SLOWLOG", "LEN", "x"),
        ("SLOWLOG", "RESET", "x"),
        ("SLOWLOG", "FOO"),
        ("CONFIG", "SET", "slowlog-log-slower-than", "-2"),
        ("CONFIG", "SET", "slowlog-max-len", "-1"),
    ]:
        replies = [raw_commands(server.port, args, resp3=False) for server in servers]
        assert replies[1] == replies[0], args


def test_default_threshold_logs_a_slow_command_only(servers):
    for server in servers:
        client = plain_client(server)
        client.slowlog_reset()
        client.set("fast", 1)
        client.eval(SLOW_SCRIPT.replace("120000", "30000"), 0)
        entries = client.slowlog_get()
        # Redis also logs a script's own commands when one is slow (a busy machine may pause one).
        commands = [entry["command"][:4].lower() for entry in entries]
        assert b"eval" in commands and b"set " not in commands
        assert entries[commands.index(b"eval")]["duration"] >= 30000
        client.close()


def test_slowlog_help_lists_the_subcommands(servers):
    _, ours = servers
    lines = ours.client().execute_command("SLOWLOG", "HELP")
    assert [line.split()[0] for line in lines if not line.startswith(b" ")] == [
        b"SLOWLOG", b"GET", b"LEN", b"RESET", b"HELP"
    ]  # fmt: skip


# -- LATENCY ---------------------------------------------------------------------------------------

SLOW_SCRIPT = (
    "local t = redis.call('TIME') while true do local n = redis.call('TIME') "
    "if (n[1] - t[1]) * 1000000 + n[2] - t[2] > 120000 then break end end return 1"
)


def test_latency_events_shapes(servers):
    for server in servers:
        client = plain_client(server)
        assert client.execute_command("LATENCY", "LATEST") == []
        client.config_set("latency-monitor-threshold", 100)
        client.eval(SLOW_SCRIPT, 0)
        latest = client.execute_command("LATENCY", "LATEST")
        assert len(latest) == 1 and latest[0][0] == b"command", latest
        assert latest[0][2] >= 100 and latest[0][3] == latest[0][2]
        history = client.execute_command("LATENCY", "HISTORY", "command")
        assert len(history) == 1 and history[0][1] == latest[0][2]
        assert client.execute_command("LATENCY", "HISTORY", "nope") == []
        graph = client.execute_command("LATENCY", "GRAPH", "command").decode()
        assert graph.startswith("command - high ")
        assert b"command" in client.execute_command("LATENCY", "DOCTOR")
        assert client.execute_command("LATENCY", "RESET", "nope") == 0
        assert client.execute_command("LATENCY", "RESET") == 1
        assert client.execute_command("LATENCY", "LATEST") == []
        client.close()
    for args in [
        ("LATENCY", "GRAPH", "nope"),
        ("LATENCY", "HISTORY"),
        ("LATENCY", "FOO"),
        ("CONFIG", "SET", "latency-monitor-threshold", "-1"),
        ("CONFIG", "SET", "latency-tracking", "maybe"),
        ("CONFIG", "SET", "latency-tracking-info-percentiles", "101"),
        ("CONFIG", "SET", "latency-tracking-info-percentiles", "abc"),
        ("CONFIG", "GET", "latency-tracking-info-percentiles"),
        ("LATENCY", "HISTOGRAM", "nope"),
    ]:
        for resp3 in (False, True):
            replies = [masked(raw_commands(server.port, args, resp3=resp3)) for server in servers]
            assert replies[1] == replies[0], args


# Redis reports a bucket by the highest value its histogram holds as equal to 1024 << k ns, in us.
REDIS_HISTOGRAM_BOUNDS = [1, 2, 4, 8, 16, 33, 66, 132, 264, 528, 1056, 2113, 4227, 8454, 16908]
REDIS_HISTOGRAM_BOUNDS += [33816, 67633, 135266, 270532, 541065, 1082130, 2164260, 4328521]


def test_latency_histogram_shape(servers):
    for server in servers:
        client = plain_client(server)
        for n in range(5):
            client.set("a", n)
        for resp3 in (False, True):
            reply = raw_commands(server.port, ("LATENCY", "HISTOGRAM", "set", "get"), resp3=resp3)
            if resp3:
                reply = reply.split(b"\r\n%1\r\n$3\r\nset", 1)[1]
                assert reply.startswith(b"\r\n%2\r\n$5\r\ncalls\r\n:5\r\n$14\r\nhistogram_usec\r\n%")
            else:
                assert reply.startswith(
                    b"*2\r\n$3\r\nset\r\n*4\r\n$5\r\ncalls\r\n:5\r\n$14\r\nhistogram_usec"
                )
        raw = redis.Connection(port=server.port, protocol=2, lib_name=None, lib_version=None)
        raw.send_command("LATENCY", "HISTOGRAM", "set")
        (name, (calls_label, calls, label, buckets)) = raw.read_response()
        raw.disconnect()
        assert (name, calls_label, calls, label) == (b"set", b"calls", 5, b"histogram_usec")
        bounds, cumulative = buckets[0::2], buckets[1::2]
        assert set(bounds) <= set(REDIS_HISTOGRAM_BOUNDS) and bounds == sorted(bounds)
        assert cumulative == sorted(cumulative) and cumulative[-1] == 5
        client.close()


def info_text(server: ServerProcess, *wanted: str) -> str:
    reply = raw_commands(server.port, ("INFO", *wanted), resp3=False)
    return reply.split(b"\r\n", 1)[1].decode()


# -- INFO ------------------------------------------------------------------------------------------

# Fields LeakDB adds to Redis's sections.
LEAKDB_FIELDS = {"server": {"leakdb_version", "python_version"}}


def sections(text: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("# "):
            current = line[2:].lower()
            found[current] = set()
        elif ":" in line:
            found[current].add(line.split(":", 1)[0])
    return found


def test_info_everything_has_redis_sections_and_fields(servers):
    for server in servers:
        client = plain_client(server)
        client.flushall()  # the keyspace section lists each database that holds keys
        client.set("a", 1)
        client.client_setname("x")
        client.close()
    texts = [info_text(server, "everything") for server in servers]
    expected, actual = sections(texts[0]), sections(texts[1])
    assert [name for name in actual if name != "leakdb"] == list(expected)
    for name, fields in expected.items():
        if name != "keyspace":  # one field per database holding keys
            assert actual[name] - LEAKDB_FIELDS.get(name, set()) == fields, name


@pytest.mark.parametrize(
    "wanted",
    [(), ("default",), ("all",), ("everything",), ("server", "keyspace"), ("commandstats", "cpu"), ("nope",)],
)
def test_info_sections_chosen_as_redis_chooses(servers, wanted):
    titles = []
    for server in servers:
        client = plain_client(server)
        client.set("a", 1)
        text = info_text(server, *wanted)
        titles.append([line for line in text.splitlines() if line.startswith("# ") and line != "# LeakDB"])
        client.close()
    assert titles[1] == titles[0]


def test_commandstats_and_errorstats_count_as_redis(servers):
    texts = []
    for server in servers:
        client = plain_client(server)
        client.execute_command("CONFIG", "RESETSTAT")
        client.set("s", "v")
        client.set("n", "1")
        for args in [
            ("incr", "s"),
            ("lpush", "s", "x"),
            ("get",),
            ("nocmd",),
            ("client", "nosuch"),
            ("incr", "n"),
        ]:
            try:
                client.execute_command(*args)
            except redis.ResponseError:
                pass
        text = info_text(server, "commandstats", "errorstats", "stats")
        texts.append(
            sorted(
                re.sub(r"usec=\d+,usec_per_call=[\d.]+", "usec", line)
                for line in text.splitlines()
                if line.startswith(("cmdstat_", "errorstat_", "total_error_replies"))
                and not line.startswith(("cmdstat_info", "cmdstat_config"))
            )
        )
        client.close()
    assert texts[1] == texts[0]
    assert "errorstat_WRONGTYPE:count=1" in texts[1]
    assert "cmdstat_get:calls=0,usec,rejected_calls=1,failed_calls=0" in texts[1]


def test_latencystats_percentiles(servers):
    for server in servers:
        client = plain_client(server)
        client.config_set("latency-tracking-info-percentiles", "50 99.9 100")
        client.set("a", 1)
        text = info_text(server, "latencystats")
        line = next(line for line in text.splitlines() if line.startswith("latency_percentiles_usec_set:"))
        assert re.fullmatch(r"latency_percentiles_usec_set:p50=[\d.]+,p99\.9=[\d.]+,p100=[\d.]+", line), line
        client.close()


def test_latency_tracking_off_keeps_the_lean_path_and_the_slowlog(servers):
    _, ours = servers
    client = plain_client(ours)
    client.config_set("latency-tracking", "no")
    client.execute_command("CONFIG", "RESETSTAT")
    client.set("a", 1)
    assert "cmdstat_set" not in info_text(ours, "commandstats")
    client.config_set("slowlog-log-slower-than", 0)
    client.slowlog_reset()
    client.set("b", 2)
    assert client.slowlog_get(1)[0]["command"].lower() == b"set b 2"
    client.close()


def test_time_passes_between_commands(servers):
    # SLOWLOG's timestamps are unix seconds, as Redis's are.
    _, ours = servers
    client = plain_client(ours)
    client.config_set("slowlog-log-slower-than", 0)
    client.set("a", 1)
    assert abs(client.slowlog_get(1)[0]["start_time"] - time.time()) < 60
    client.close()


def test_lean_default_still_counts_errors_and_logs_slow_commands(start_leakdb):
    server = start_leakdb("--storage", "memory")
    client = plain_client(server)
    assert client.config_get("latency-tracking") == {"latency-tracking": "no"}
    client.execute_command("CONFIG", "RESETSTAT")
    for args in [("nocmd",), ("get",), ("incr", "a", "b"), ("lpush", "a", "b")]:
        try:
            client.execute_command(*args)
        except redis.ResponseError:
            pass
    client.set("s", "v")
    try:
        client.incr("s")
    except redis.ResponseError:
        pass
    text = info_text(server, "errorstats", "stats", "commandstats")
    assert "errorstat_ERR:count=4" in text
    assert "errorstat_WRONGTYPE" not in text or "errorstat_WRONGTYPE:count=1" in text
    assert "total_error_replies:" in text
    assert "cmdstat_get:calls=0,usec=0,usec_per_call=0.00,rejected_calls=1,failed_calls=0" in text
    assert "cmdstat_incr:calls=0,usec=0,usec_per_call=0.00,rejected_calls=1,failed_calls=0" in text
    assert "cmdstat_incrby:calls=0,usec=0,usec_per_call=0.00,rejected_calls=0,failed_calls=1" in text
    before = client.info("stats")["total_error_replies"]
    with pytest.raises(redis.ResponseError):
        client.execute_command("DEBUG", "OBJECT", "nokey")  # an error the command returns
    assert client.info("stats")["total_error_replies"] == before + 1
    client.config_set("slowlog-log-slower-than", 0)
    client.slowlog_reset()
    client.set("b", 2)
    assert client.slowlog_get(1)[0]["command"].lower() == b"set b 2"
    client.close()


def test_commandstats_count_transactions_and_scripts_as_redis(servers):
    texts = []
    for server in servers:
        client = plain_client(server)
        client.execute_command("CONFIG", "RESETSTAT")
        with client.pipeline(transaction=True) as pipe:
            pipe.set("a", 1).incr("a").get("a")
            pipe.execute()
        client.eval("redis.call('set', 'b', 1) redis.call('incr', 'b') return redis.call('get', 'b')", 0)
        try:
            client.eval("return redis.call('lpush', 'b', 1)", 0)
        except redis.ResponseError:
            pass
        text = info_text(server, "commandstats")
        texts.append(
            sorted(
                re.sub(r"usec=\d+,usec_per_call=[\d.]+", "usec", line)
                for line in text.splitlines()
                if line.startswith("cmdstat_") and not line.startswith(("cmdstat_info", "cmdstat_config"))
            )
        )
        client.close()
    assert texts[1] == texts[0]
    assert "cmdstat_set:calls=2,usec,rejected_calls=0,failed_calls=0" in texts[1]
    assert "cmdstat_lpush:calls=1,usec,rejected_calls=0,failed_calls=1" in texts[1]


def test_histogram_buckets_are_redis_buckets():
    # 1024 ns holds 1024..1031 (8 significant bits); Redis counts 1031 under 1 us and 1032 under 2.
    from leakdb.commands.instruments import CommandStats

    for elapsed_ns, bound in [(500, 1), (1024, 1), (1031, 1), (1032, 2), (33000, 33), (70000, 132)]:
        stats = CommandStats()
        stats.record(elapsed_ns)
        assert stats.levels() == [(bound, 1)], elapsed_ns
    stats = CommandStats()
    for elapsed_ns in (1031, 70001, 70001):
        stats.record(elapsed_ns)
    assert stats.levels() == [(1, 1), (132, 3)]
    assert (stats.percentile(33), stats.percentile(50), stats.percentile(100)) == (1.031, 70.143, 70.143)
