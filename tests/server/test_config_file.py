"""Config files as Redis reads them, against a real redis-server reading the same file: Debian's stock
redis.conf, include, quoting, repeated save lines, rename-command, unknown directives, and CONFIG
REWRITE leaving a file that both servers load.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from conftest import ServerProcess, free_port, require

from leakdb.config import SETTINGS, canonical

ROOT = Path(__file__).resolve().parents[2]
DEBIAN_CONF = Path("/etc/redis/redis.conf")
# The flags that let a system-wide config run in a test's directory, for both servers.
HERE_FLAGS = ("--logfile", "", "--daemonize", "no")


def start_redis(config: Path, workdir: Path, *flags: str) -> ServerProcess:
    port = free_port()
    argv = [require("redis-server"), str(config), "--port", str(port), "--dir", str(workdir), *flags]
    return ServerProcess(argv, port, cwd=str(workdir))


def start_ours(config: Path, workdir: Path, *flags: str) -> ServerProcess:
    port = free_port()
    argv = [sys.executable, "-m", "leakdb.server", str(config), "--port", str(port), "--dir", str(workdir)]
    env_path = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(ROOT)
    try:
        return ServerProcess([*argv, *flags], port, cwd=str(workdir))
    finally:
        if env_path is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = env_path


@pytest.fixture
def servers():
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.stop()


def inert_directives(config: Path) -> list[str]:
    """The warning LeakDB must print for each line of `config` setting a parameter with no effect."""
    expected = []
    for number, line in enumerate(config.read_text().splitlines(), 1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        setting = SETTINGS.get(canonical(words[0]))
        if setting is not None and setting.inert:
            expected.append(f"{config}:{number}: '{words[0]}' has no effect in LeakDB: {setting.inert}")
    return expected


@pytest.mark.skipif(not DEBIAN_CONF.is_file(), reason="needs Debian's redis-server package")
def test_debian_redis_conf_starts_with_one_warning_per_directive_without_effect(tmp_path, servers):
    ours_dir, redis_dir = tmp_path / "ours", tmp_path / "redis"
    ours_dir.mkdir()
    redis_dir.mkdir()
    ours = start_ours(DEBIAN_CONF, ours_dir, *HERE_FLAGS, "--pidfile", str(ours_dir / "leakdb.pid"))
    servers.append(ours)
    oracle = start_redis(DEBIAN_CONF, redis_dir, *HERE_FLAGS, "--pidfile", str(redis_dir / "redis.pid"))
    servers.append(oracle)
    client = ours.client()
    assert client.ping()
    assert (ours_dir / "leakdb.pid").read_text().strip().isdigit()
    warnings = [line.split(" W ", 1)[1] for line in ours.printed().splitlines() if " W " in line]
    expected = inert_directives(DEBIAN_CONF)
    assert len(expected) > 40  # replication, AOF, lazyfree, daemonize, ...
    assert [w for w in warnings if w.startswith(f"{DEBIAN_CONF}:")] == expected
    assert "--daemonize has no effect in LeakDB: " + SETTINGS["daemonize"].inert in warnings
    # Every parameter reads back as redis-server reads it from the same file, but for these:
    per_server = {
        "port": "each server has its own",
        "dir": "each server has its own",
        "pidfile": "each server has its own",
        "save": "Debian's file has no save line: Redis's built-in points, LeakDB's ''",
        "latency-tracking": "LeakDB's default is no (per-command statistics cost throughput)",
    }
    theirs, mine = oracle.client().config_get("*"), client.config_get("*")
    differing = {name: (theirs[name], mine[name]) for name in theirs if theirs[name] != mine[name]}
    assert set(differing) == set(per_server), differing


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_include_quoting_repeated_save_and_rename_command_as_redis_reads_them(tmp_path, servers):
    workdir = tmp_path / "run"
    workdir.mkdir()
    write(tmp_path / "extra-1.conf", "hz 25\n")
    write(tmp_path / "extra-2.conf", "slowlog-max-len 50\n")
    config = write(
        tmp_path / "main.conf",
        f"include {tmp_path}/extra-*.conf\n"
        "save 3600 1\n"
        "save 300 100\n"
        "client-output-buffer-limit pubsub 64mb 16mb 90\n"
        "client-output-buffer-limit normal 1mb 512kb 10\n"
        'proc-title-template "{title} {port}"\n'
        "notify-keyspace-events 'Kx'\n"
        'requirepass "it\'s \\"quoted\\""\n'
        'rename-command FLUSHALL ""\n'
        "rename-command CONFIG SETTINGS\n",
    )
    ours = start_ours(config, workdir)
    servers.append(ours)
    oracle = start_redis(config, workdir)
    servers.append(oracle)
    password = 'it\'s "quoted"'
    names = ("hz", "slowlog-max-len", "save", "client-output-buffer-limit", "proc-title-template")
    names += ("notify-keyspace-events", "requirepass")
    replies = []
    for server in (oracle, ours):
        client = server.client(password=password)
        reply = {name: client.execute_command("SETTINGS", "GET", name) for name in names}
        for refused in (("FLUSHALL",), ("CONFIG", "GET", "hz")):
            try:
                client.execute_command(*refused)
            except redis.ResponseError as exc:
                reply[refused[0]] = str(exc)
        replies.append(reply)
    assert replies[0] == replies[1]
    assert replies[1]["save"] == {b"save": b"300 100"}  # Redis 7.0: the last save line wins
    assert replies[1]["FLUSHALL"].startswith("unknown command 'FLUSHALL'")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("no-such-directive 1", "Bad directive or wrong number of arguments"),
        ("hz 10 20", "wrong number of arguments"),
        ("rename-command NOSUCHCOMMAND other", "No such command in rename-command"),
        ("rename-command GET SET", "Target command name already exists"),
    ],
)
def test_a_line_redis_refuses_stops_start_up_with_redis_message(line, reason, tmp_path):
    config = write(tmp_path / "bad.conf", f"# settings\nport 0\n{line}\n")
    oracle = subprocess.run(
        [require("redis-server"), str(config)], capture_output=True, text=True, timeout=30
    )
    said = [text for text in (oracle.stdout + oracle.stderr).splitlines() if text.strip()]
    assert said[-4:] == [
        "*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***",
        "Reading the configuration file, at line 3",
        f">>> '{line}'",
        reason,
    ]
    ours = subprocess.run(
        [sys.executable, "-m", "leakdb.server", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=tmp_path,
    )
    assert ours.returncode == 2
    directive = line.split()[0]
    assert ours.stderr == (
        f"leakdb-server: *** FATAL CONFIG FILE ERROR (Redis 7.0.15) *** {config}:3: '{directive}': "
        f"{reason} (>>> '{line}')\n"
    )


def test_loadmodule_and_replicaof_a_master_stop_with_the_reason(tmp_path):
    for line, reason in (
        ("loadmodule /usr/lib/redis/modules/redisearch.so", "LeakDB can't load Redis modules"),
        ("replicaof 10.0.0.1 6379", "LeakDB has no replication"),
    ):
        config = write(tmp_path / "leakdb.conf", f"{line}\n")
        ours = subprocess.run(
            [sys.executable, "-m", "leakdb.server", str(config), "--port", str(free_port())],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            cwd=tmp_path,
        )
        assert ours.returncode == 2 and reason in ours.stderr and len(ours.stderr.splitlines()) == 1


@pytest.mark.skipif(not DEBIAN_CONF.is_file(), reason="needs Debian's redis-server package")
def test_config_rewrite_leaves_a_file_both_servers_load(tmp_path, servers):
    ours_dir, redis_dir = tmp_path / "ours", tmp_path / "redis"
    ours_dir.mkdir()
    redis_dir.mkdir()
    config = tmp_path / "redis.conf"
    shutil.copy(DEBIAN_CONF, config)
    with config.open("a") as handle:
        handle.write("hash-max-ziplist-entries 256\nsave 900 1\nsave 300 10\n")
    ours = start_ours(
        config, ours_dir, *HERE_FLAGS, "--pidfile", str(ours_dir / "pid"), "--storage", "memory"
    )
    servers.append(ours)
    client = ours.client()
    changes = {
        "hz": "25",
        "hash-max-listpack-entries": "300",
        "save": "600 5",
        "client-output-buffer-limit": "pubsub 64mb 16mb 90",
        "notify-keyspace-events": "KEA",
        "maxmemory": "100mb",
        "maxmemory-policy": "allkeys-lru",
        "tcp-keepalive": "60",
        "repl-backlog-size": "2mb",
    }
    for name, value in changes.items():
        client.config_set(name, value)
    assert client.config_rewrite()
    text = config.read_text()
    assert "storage" not in re.findall(r"^(\S+)", text, re.M)  # a flag of LeakDB's own stays a flag
    assert text.count("\nsave ") == 1 and "hash-max-ziplist-entries" not in text
    expected = client.config_get("*")
    # redis-server loads the rewritten file, and reads every changed value the same.
    oracle = start_redis(config, redis_dir, "--daemonize", "no", "--pidfile", str(redis_dir / "pid"))
    servers.append(oracle)
    theirs = oracle.client().config_get("*")
    for name in (*changes, "logfile", "daemonize", "hash-max-ziplist-entries"):
        assert theirs[name] == expected[name], name
    # And LeakDB starts again from it with the same values.
    again = start_ours(config, ours_dir, "--pidfile", str(ours_dir / "pid2"), "--storage", "memory")
    servers.append(again)
    mine = again.client().config_get("*")
    assert {name: mine[name] for name in changes} == {name: expected[name] for name in changes}


@pytest.mark.parametrize(
    ("lines", "storage", "flush_interval"),
    [
        ("appendonly yes\nappendfsync always\n", "persistent", "1"),
        ("appendonly yes\nappendfsync everysec\nflush-interval 5\n", "persistent-queue", "5"),
        ("appendonly yes\nappendfsync no\n", "persistent-queue", "1"),
        ("appendonly yes\nstorage memory\n", "memory", "1"),
        ("appendonly no\n", "persistent-queue", "1"),
    ],
)
def test_appendonly_picks_a_storage_mode_at_start_up(lines, storage, flush_interval, tmp_path, servers):
    config = write(tmp_path / "leakdb.conf", lines)
    server = start_ours(config, tmp_path)
    servers.append(server)
    client = server.client()
    got = client.config_get("storage")["storage"], client.config_get("flush-interval")["flush-interval"]
    assert got[0] == storage and float(got[1]) == float(flush_interval)
    assert client.info("server").get("storage_mode", storage) == storage
    # While running, only the current value is accepted.
    current = client.config_get("appendonly")["appendonly"]
    assert client.config_set("appendonly", current)
    with pytest.raises(redis.ResponseError, match="storage mode is chosen at start-up"):
        client.config_set("appendonly", "no" if current == "yes" else "yes")


def test_the_readme_table_says_what_each_parameter_does():
    text = (ROOT / "README.rst").read_text()
    rows = dict(re.findall(r"^``([a-z_-]+)``(?:, ``[a-z_-]+``)*\s+(acts|no effect): ", text, re.M))
    visible = {name for name, setting in SETTINGS.items() if not setting.hidden}
    assert set(rows) == visible
    for name in visible:
        assert rows[name] == ("no effect" if SETTINGS[name].inert else "acts"), name
