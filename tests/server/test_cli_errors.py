"""leakdb-server's answer to a user's mistakes: one line on stderr, no traceback, exit status 2 for a
wrong setting (as argparse), 1 when the server cannot start with it, and nothing left behind.

Every case runs the real command in an empty directory and checks that the directory is still empty
afterwards: the data file is only created once the server can really start.  Where Redis has the
setting, a real redis-server reads the same config file and must refuse it for the same reason.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from conftest import free_port, require, wait_for_port

from leakdb import PersistentStorage
from leakdb.config import SETTINGS, BadValue

ROOT = Path(__file__).resolve().parents[2]

# One value each setting refuses, the exit status it must give, and flags that let the check be
# reached (a bind address beyond loopback is refused by protected mode before it is tried).
BAD_VALUES: dict[str, tuple[str, int, tuple[str, ...]]] = {
    "port": ("70000", 2, ()),
    "bind": ("999.1.1.1", 1, ("--protected-mode", "no")),
    "protected-mode": ("maybe", 2, ()),
    "databases": ("0", 2, ()),
    "maxclients": ("0", 2, ()),
    "timeout": ("-1", 2, ()),
    "dir": ("/nonexistent/leakdb", 1, ()),
    "dbfilename": ("data/leakdb.db", 2, ()),
    "storage": ("disk", 2, ()),
    "backend": ("lmdb", 2, ()),
    "maxsize": ("-1", 2, ()),
    "flush-interval": ("soon", 2, ()),
    "workers": ("0", 2, ()),
    "storage-class": ("no_such_module:Storage", 2, ()),
    "proto-max-bulk-len": ("1kb", 2, ()),
    "client-query-buffer-limit": ("lots", 2, ()),
    "client-output-buffer-limit": ("normal 1mb", 2, ()),
    "stop-writes-on-bgsave-error": ("maybe", 2, ()),
    "maxmemory": ("-1", 2, ()),
    "maxmemory-policy": ("lru", 2, ()),
    "maxmemory-samples": ("0", 2, ()),
    "lfu-log-factor": ("-1", 2, ()),
    "lfu-decay-time": ("often", 2, ()),
    "hz": ("-1", 2, ()),
    "loglevel": ("loud", 2, ()),
    "logfile": ("/nonexistent/leakdb.log", 1, ()),
    "save": ("sometimes", 2, ()),
    "appendonly": ("maybe", 2, ()),
    "unixsocket": ("/nonexistent/leakdb.sock", 1, ()),
    "unixsocketperm": ("999", 2, ()),
    "tls-port": ("70000", 2, ()),
    "tls-cert-file": ("/nonexistent/server.crt", 1, ("--tls-port", "1", "--tls-key-file", "/nonexistent/k")),
    "tls-key-file": ("/nonexistent/server.key", 1, ("--tls-port", "1", "--tls-cert-file", "/nonexistent/c")),
    "tls-ca-cert-file": ("/nonexistent/ca.crt", 1, ("--tls-port", "1")),
    "tls-ca-cert-dir": ("/nonexistent/ca", 1, ("--tls-port", "1")),
    "tls-auth-clients": ("maybe", 2, ()),
    "tls-protocols": ("TLSv9", 1, ("--tls-port", "1")),
    "tls-ciphers": ("NO-SUCH-CIPHER", 1, ("--tls-port", "1")),
    "tls-prefer-server-ciphers": ("maybe", 2, ()),
    "tls-session-caching": ("maybe", 2, ()),
    "tls-session-cache-size": ("-1", 2, ()),
    "tls-session-cache-timeout": ("-1", 2, ()),
    "tls-dh-params-file": ("/nonexistent/dh.pem", 1, ("--tls-port", "1")),
    "tls-replication": ("maybe", 2, ()),
    "tls-cluster": ("maybe", 2, ()),
    "upstream": ("redis://127.0.0.1:1", 1, ("--storage", "persistent", "--backend", "redis")),
    "upstream-cluster": ("redis://127.0.0.1:1", 1, ("--storage", "persistent", "--backend", "redis")),
    "upstream-load": ("eager", 2, ()),
    "hll-sparse-max-bytes": ("lots", 2, ()),
    "notify-keyspace-events": ("KEZ", 2, ()),
    "tracking-table-max-keys": ("-1", 2, ()),
    "maxmemory-clients": ("lots", 2, ()),
    "busy-reply-threshold": ("-1", 2, ()),
    "lua-maxmemory": ("lots", 2, ()),
    # Redis 7.0's other parameters (leakdb/config_redis.py)
    "hash-max-listpack-entries": ("maybe", 2, ()),
    "hash-max-listpack-value": ("-1", 2, ()),
    "set-max-intset-entries": ("maybe", 2, ()),
    "zset-max-listpack-entries": ("maybe", 2, ()),
    "zset-max-listpack-value": ("maybe", 2, ()),
    "list-max-listpack-size": ("maybe", 2, ()),
    "list-compress-depth": ("-1", 2, ()),
    "slowlog-log-slower-than": ("-2", 2, ()),
    "slowlog-max-len": ("-1", 2, ()),
    "latency-monitor-threshold": ("maybe", 2, ()),
    "latency-tracking": ("maybe", 2, ()),
    "latency-tracking-info-percentiles": ("50 101", 2, ()),
    "acllog-max-len": ("maybe", 2, ()),
    "acl-pubsub-default": ("maybe", 2, ()),
    "tcp-backlog": ("-1", 2, ()),
    "appendfsync": ("maybe", 2, ()),
    "replicaof": ("localhost", 2, ()),
    "daemonize": ("maybe", 2, ()),
    "supervised": ("maybe", 2, ()),
    "tcp-keepalive": ("maybe", 2, ()),
    "socket-mark-id": ("4294967296", 2, ()),
    "always-show-logo": ("maybe", 2, ()),
    "set-proc-title": ("maybe", 2, ()),
    "proc-title-template": ("{nope}", 2, ()),
    "syslog-enabled": ("maybe", 2, ()),
    "syslog-facility": ("maybe", 2, ()),
    "crash-log-enabled": ("maybe", 2, ()),
    "crash-memcheck-enabled": ("maybe", 2, ()),
    "rdbcompression": ("maybe", 2, ()),
    "rdbchecksum": ("maybe", 2, ()),
    "rdb-del-sync-files": ("maybe", 2, ()),
    "rdb-save-incremental-fsync": ("maybe", 2, ()),
    "sanitize-dump-payload": ("maybe", 2, ()),
    "appendfilename": ("", 2, ()),
    "appenddirname": ("", 2, ()),
    "no-appendfsync-on-rewrite": ("maybe", 2, ()),
    "auto-aof-rewrite-percentage": ("maybe", 2, ()),
    "auto-aof-rewrite-min-size": ("10tb", 2, ()),
    "aof-load-truncated": ("maybe", 2, ()),
    "aof-use-rdb-preamble": ("maybe", 2, ()),
    "aof-timestamp-enabled": ("maybe", 2, ()),
    "aof-rewrite-incremental-fsync": ("maybe", 2, ()),
    "aof-disable-auto-gc": ("maybe", 2, ()),
    "replica-serve-stale-data": ("maybe", 2, ()),
    "replica-read-only": ("maybe", 2, ()),
    "replica-ignore-maxmemory": ("maybe", 2, ()),
    "replica-lazy-flush": ("maybe", 2, ()),
    "replica-announced": ("maybe", 2, ()),
    "replica-ignore-disk-write-errors": ("maybe", 2, ()),
    "replica-priority": ("maybe", 2, ()),
    "replica-announce-port": ("65536", 2, ()),
    "repl-diskless-sync": ("maybe", 2, ()),
    "repl-diskless-sync-delay": ("maybe", 2, ()),
    "repl-diskless-sync-max-replicas": ("maybe", 2, ()),
    "repl-diskless-load": ("maybe", 2, ()),
    "repl-disable-tcp-nodelay": ("maybe", 2, ()),
    "repl-ping-replica-period": ("maybe", 2, ()),
    "repl-timeout": ("0", 2, ()),
    "repl-backlog-size": ("0", 2, ()),
    "repl-backlog-ttl": ("maybe", 2, ()),
    "min-replicas-to-write": ("maybe", 2, ()),
    "min-replicas-max-lag": ("maybe", 2, ()),
    "propagation-error-behavior": ("maybe", 2, ()),
    "cluster-enabled": ("maybe", 2, ()),
    "cluster-port": ("maybe", 2, ()),
    "cluster-node-timeout": ("maybe", 2, ()),
    "cluster-replica-validity-factor": ("maybe", 2, ()),
    "cluster-migration-barrier": ("maybe", 2, ()),
    "cluster-allow-replica-migration": ("maybe", 2, ()),
    "cluster-require-full-coverage": ("maybe", 2, ()),
    "cluster-replica-no-failover": ("maybe", 2, ()),
    "cluster-allow-reads-when-down": ("maybe", 2, ()),
    "cluster-allow-pubsubshard-when-down": ("maybe", 2, ()),
    "cluster-announce-hostname": ("a_b", 2, ()),
    "cluster-announce-port": ("maybe", 2, ()),
    "cluster-announce-tls-port": ("maybe", 2, ()),
    "cluster-announce-bus-port": ("maybe", 2, ()),
    "cluster-preferred-endpoint-type": ("maybe", 2, ()),
    "cluster-link-sendbuf-limit": ("maybe", 2, ()),
    "activedefrag": ("maybe", 2, ()),
    "active-defrag-ignore-bytes": ("maybe", 2, ()),
    "active-defrag-threshold-lower": ("maybe", 2, ()),
    "active-defrag-threshold-upper": ("maybe", 2, ()),
    "active-defrag-cycle-min": ("maybe", 2, ()),
    "active-defrag-cycle-max": ("100", 2, ()),
    "active-defrag-max-scan-fields": ("maybe", 2, ()),
    "jemalloc-bg-thread": ("maybe", 2, ()),
    "activerehashing": ("maybe", 2, ()),
    "disable-thp": ("maybe", 2, ()),
    "oom-score-adj": ("maybe", 2, ()),
    "oom-score-adj-values": ("0 200 3000", 2, ()),
    "io-threads": ("129", 2, ()),
    "io-threads-do-reads": ("maybe", 2, ()),
    "lazyfree-lazy-eviction": ("maybe", 2, ()),
    "lazyfree-lazy-expire": ("maybe", 2, ()),
    "lazyfree-lazy-server-del": ("maybe", 2, ()),
    "lazyfree-lazy-user-del": ("maybe", 2, ()),
    "lazyfree-lazy-user-flush": ("maybe", 2, ()),
    "dynamic-hz": ("maybe", 2, ()),
    "active-expire-effort": ("11", 2, ()),
    "maxmemory-eviction-tenacity": ("101", 2, ()),
    "stream-node-max-bytes": ("maybe", 2, ()),
    "stream-node-max-entries": ("maybe", 2, ()),
    "shutdown-on-sigint": ("maybe", 2, ()),
    "shutdown-on-sigterm": ("maybe", 2, ()),
    "shutdown-timeout": ("maybe", 2, ()),
    "enable-debug-command": ("maybe", 2, ()),
    "enable-module-command": ("maybe", 2, ()),
    "enable-protected-configs": ("maybe", 2, ()),
    "key-load-delay": ("maybe", 2, ()),
    "rdb-key-save-delay": ("maybe", 2, ()),
    "loading-process-events-interval-bytes": ("maybe", 2, ()),
}
# Settings for which no value is wrong: any text is a password, or a setting kept for compatibility
# that LeakDB never reads (replication's client certificates, TLSv1.3 suites), and paths and names
# Redis takes as they come (pidfile, aclfile, syslog-ident, the cpu lists).
ANY_VALUE = {
    "requirepass",
    "aclfile",
    "tls-key-file-pass",
    "tls-client-cert-file",
    "tls-client-key-file",
    "tls-client-key-file-pass",
    "tls-ciphersuites",
    "pidfile",
    "bind-source-addr",
    "syslog-ident",
    "masterauth",
    "masteruser",
    "replica-announce-ip",
    "cluster-config-file",
    "cluster-announce-ip",
    "server_cpulist",
    "bio_cpulist",
    "aof_rewrite_cpulist",
    "bgsave_cpulist",
    "ignore-warnings",
}
# Settings Redis does not have; the others are read by a real redis-server too.
LEAKDB_ONLY = {
    "storage", "backend", "maxsize", "flush-interval", "workers", "storage-class",
    "upstream", "upstream-cluster", "upstream-load", "lua-maxmemory",
}  # fmt: skip


def run_server(*args: str, cwd: Path, unprivileged: bool = False) -> subprocess.CompletedProcess:
    """leakdb-server with `args` in `cwd`; it must give up on its own (a start would time out)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "leakdb.server", "--port", str(free_port()), *args]
    preexec = without_permission_override if unprivileged else None
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=60, preexec_fn=preexec
    )


def start_server(*args: str, cwd: Path) -> subprocess.Popen:
    """leakdb-server with `args`, left running; stdout and stderr are kept apart."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "leakdb.server", *args]
    pipe = subprocess.PIPE
    return subprocess.Popen(argv, cwd=cwd, env=env, stdout=pipe, stderr=pipe, text=True)


def without_permission_override() -> None:
    """In the child: make file permissions apply even to root, by dropping CAP_DAC_OVERRIDE and
    CAP_DAC_READ_SEARCH from the bounding set before exec (a normal user has neither)."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "cannot drop root's permission override")


def one_line(result: subprocess.CompletedProcess, status: int) -> str:
    """The single line leakdb-server printed; checks the exit status and that nothing else came out."""
    lines = result.stderr.splitlines()
    assert result.returncode == status, (result.returncode, result.stderr)
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == "", result.stdout
    assert lines[0].startswith("leakdb-server: "), lines[0]
    return lines[0]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """An empty directory to start leakdb-server in; it must still be empty after a failed start."""
    path = tmp_path / "run"
    path.mkdir()
    yield path
    os.chmod(path, 0o755)
    assert sorted(os.listdir(path)) == [], "a failed start left files behind"


def refused_by_the_table(name: str, value: str) -> bool:
    """Whether the settings table refuses `value` as it reads it (others are refused at start-up:
    a directory that does not exist, a module that does not import)."""
    try:
        SETTINGS[name].parse(value)
    except BadValue:
        return True
    return False


def test_every_setting_has_a_bad_value_in_the_sweep():
    assert set(BAD_VALUES) | ANY_VALUE == set(SETTINGS)


@pytest.mark.parametrize("name", sorted(BAD_VALUES))
def test_a_bad_flag_is_one_line(name, workdir):
    value, status, extra = BAD_VALUES[name]
    line = one_line(run_server(*extra, f"--{name}", value, cwd=workdir), status)
    assert name in line


@pytest.mark.parametrize("name", sorted(BAD_VALUES))
def test_a_bad_config_line_is_one_line_naming_file_line_and_directive(name, workdir, tmp_path):
    value, status, extra = BAD_VALUES[name]
    config = tmp_path / "leakdb.conf"
    config.write_text(f'# my server\n\nmaxclients 100\n{name} "{value}"\n')
    line = one_line(run_server(str(config), *extra, cwd=workdir), status)
    if refused_by_the_table(name, value):
        assert f"{config}:4: '{name}': " in line, line
        assert line.endswith(f"""(>>> '{name} "{value}"')"""), line
    else:
        assert name in line
    if name in LEAKDB_ONLY or not refused_by_the_table(name, value):
        return
    # redis-server refuses the same line at the same place for the same reason.
    redis_server = require("redis-server")
    try:
        oracle = subprocess.run(
            [redis_server, str(config), "--port", "0"], capture_output=True, text=True, timeout=20
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"redis-server accepted {name} {value!r}")
    output = [text for text in (oracle.stdout + oracle.stderr).splitlines() if text.strip()]
    assert "Reading the configuration file, at line 4" in output, output
    assert f": {output[-1]} (>>> " in line, (output[-1], line)


def error_reply(port: int, *args: str) -> bytes:
    """The one-line reply to one command, read until its CRLF (an error reply is one line)."""
    payload = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a.encode()) for a in args)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(payload)
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = sock.recv(65536)
            assert chunk, "connection closed"
            reply += chunk
    return reply


def test_config_set_refuses_what_redis_refuses_with_the_same_words(redis_server, leakdb_server):
    for name, (value, _, _) in sorted(BAD_VALUES.items()):
        setting = SETTINGS[name]
        if name in LEAKDB_ONLY or not setting.mutable or not refused_by_the_table(name, value):
            continue  # a value refused only at start-up (a missing file) is not CONFIG SET's to refuse
        command = ("CONFIG", "SET", name, value)
        expected = error_reply(redis_server.port, *command)
        assert expected.startswith(b"-ERR CONFIG SET failed"), (name, expected)
        assert error_reply(leakdb_server.port, *command) == expected


# -- the mistakes users make, one by one -------------------------------------------------------------


def test_help_names_the_choices_and_defaults(workdir):
    result = run_server("--help", cwd=workdir)
    assert result.returncode == 0 and result.stderr == ""

    def flat(text: str) -> str:  # argparse wraps lines, also after a hyphen
        return " ".join(text.split()).replace("- ", "-")

    text = flat(result.stdout)
    assert (
        "--backend BACKEND backend for the persistent modes: a sqlite or shelve file, or an upstream redis "
        "(one of sqlite, shelve, redis; default: sqlite)" in text
    )
    for setting in SETTINGS.values():
        if setting.choices:
            assert (
                flat(f"one of {', '.join(setting.choices)}; default: {setting.format(setting.default)}")
                in text
            ), setting.name


def test_port_out_of_range(workdir):
    for port in ("70000", "-1"):
        line = one_line(run_server("--port", port, cwd=workdir), 2)
        assert line == (
            f"leakdb-server: bad value for --port '{port}': argument must be between 0 and 65535 inclusive"
        )


def test_zero_databases(workdir):
    line = one_line(run_server("--databases", "0", cwd=workdir), 2)
    assert "argument must be between 1 and 2147483647 inclusive" in line


def test_unknown_flag_is_one_line_not_the_whole_usage(workdir):
    line = one_line(run_server("--prot", "6380", cwd=workdir), 2)
    assert "unrecognized arguments: --prot " in line and "--help" in line


def test_data_directory_that_does_not_exist(workdir):
    line = one_line(run_server("--dir", str(workdir / "missing"), cwd=workdir), 1)
    assert line.endswith("(dir): no such directory")


def test_data_directory_that_is_a_file(workdir, tmp_path):
    (tmp_path / "a-file").write_text("")
    line = one_line(run_server("--dir", str(tmp_path / "a-file"), cwd=workdir), 1)
    assert line.endswith("(dir): not a directory")


def test_data_directory_in_proc(workdir):
    line = one_line(run_server("--dir", "/proc", cwd=workdir), 1)
    assert "'/proc' (dir): cannot create files there" in line


@pytest.mark.parametrize("backend", ["sqlite", "shelve"])
def test_data_directory_not_writable(workdir, backend):
    os.chmod(workdir, 0o555)
    line = one_line(run_server("--backend", backend, cwd=workdir, unprivileged=True), 1)
    assert line.endswith("(dir): cannot create files there (Permission denied)")


@pytest.mark.parametrize("backend", ["sqlite", "shelve"])
def test_data_file_not_writable(tmp_path, backend):
    data = tmp_path / "data"
    data.mkdir()
    with PersistentStorage(data / "leakdb.db", backend=backend) as storage:
        storage.set("kept", 1)
    before = {path.name: path.read_bytes() for path in data.iterdir()}
    for path in data.iterdir():
        path.chmod(0o444)
    result = run_server("--backend", backend, "--dir", str(data), cwd=tmp_path, unprivileged=True)
    line = one_line(result, 1)
    assert "cannot open the data file" in line and "is not writable: Permission denied" in line
    assert {path.name: path.read_bytes() for path in data.iterdir()} == before


def test_log_file_in_a_missing_directory(workdir):
    line = one_line(run_server("--logfile", str(workdir / "logs" / "leakdb.log"), cwd=workdir), 1)
    assert line.endswith("(logfile): No such file or directory")


def test_port_already_in_use_says_so_and_creates_no_file(workdir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # Neither the data file nor the log file is created: the port is tried before both.
        line = one_line(run_server("--port", str(port), "--logfile", "leakdb.log", cwd=workdir), 1)
    assert f"cannot listen on 127.0.0.1:{port} (bind, port): Address already in use" in line
    assert "--port" in line


def test_bind_address_that_does_not_resolve(workdir):
    line = one_line(run_server("--bind", "no-such-host.invalid", "--protected-mode", "no", cwd=workdir), 1)
    assert line.startswith("leakdb-server: cannot listen on no-such-host.invalid:")


# -- config files ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"port 6380\nfoo bar\n", "2: 'foo': Bad directive or wrong number of arguments (>>> 'foo bar')"),
        (b"port 6380\ndatabases 1 2\n", "2: 'databases': wrong number of arguments (>>> 'databases 1 2')"),
        (b"port\n", "1: 'port': wrong number of arguments (>>> 'port')"),
        (b'requirepass "open\n', "1: 'requirepass': Unbalanced quotes in configuration line"),
        (b"# caf\xc3\xa9\nport 63\xff80\n", "2: 'port': not UTF-8 text (byte 0xff) (>>> 'port 63\\xff80')"),
        (b"timeout 5.5\n", "1: 'timeout': argument couldn't be parsed into an integer (>>> 'timeout 5.5')"),
    ],
)
def test_config_file_mistakes(workdir, tmp_path, content, reason):
    config = tmp_path / "leakdb.conf"
    config.write_bytes(content)
    line = one_line(run_server(str(config), cwd=workdir), 2)
    assert line.startswith(
        f"leakdb-server: *** FATAL CONFIG FILE ERROR (Redis 7.0.15) *** {config}:{reason}"
    ), line


def test_config_file_that_does_not_exist(workdir):
    line = one_line(run_server("missing.conf", cwd=workdir), 2)
    assert line == "leakdb-server: cannot read config file 'missing.conf': No such file or directory"


def test_config_file_that_is_a_directory(workdir, tmp_path):
    line = one_line(run_server(str(tmp_path), cwd=workdir), 2)
    assert line.endswith(": Is a directory")


def test_flags_override_the_config_file_and_are_checked_the_same_way(workdir, tmp_path):
    config = tmp_path / "leakdb.conf"
    config.write_text("storage memory\nmaxclients 10\n")
    line = one_line(run_server(str(config), "--maxclients", "0", cwd=workdir), 2)
    assert line == (
        "leakdb-server: bad value for --maxclients '0': argument must be between 1 and 4294967295 inclusive"
    )


# -- --storage-class ------------------------------------------------------------------------------------

STORAGES = '''
import json
from leakdb import PersistentQueueStorage, QueueStorage

class Recording(QueueStorage):
    """Says which settings the server passed."""
    def __init__(self, **kwargs):
        print("kwargs", json.dumps(sorted(kwargs)), flush=True)
        super().__init__(**kwargs)

class NeedsAnArgument(QueueStorage):
    def __init__(self, url, maxsize=0):
        super().__init__(maxsize=maxsize)

class Exploding(QueueStorage):
    def __init__(self, **kwargs):
        raise RuntimeError("the queue service is down")

class OwnFile(PersistentQueueStorage):
    pass

class NotAStorage:
    pass
'''


@pytest.fixture
def storages(workdir: Path) -> Path:
    """A module of storage classes in the directory the server starts in (not on PYTHONPATH)."""
    module = workdir / "my_storages.py"
    module.write_text(STORAGES)
    yield workdir
    module.unlink()
    for cached in workdir.glob("__pycache__"):
        for path in cached.iterdir():
            path.unlink()
        cached.rmdir()


@pytest.mark.parametrize(
    ("target", "status", "message"),
    [
        ("no_such_module:Storage", 2, "no module named 'no_such_module'"),
        ("my_storages:Missing", 2, "module 'my_storages' has no attribute 'Missing'"),
        ("my_storages:NotAStorage", 2, "NotAStorage is not a LeakDB storage class"),
        ("my_storages:NeedsAnArgument", 2, "cannot call NeedsAnArgument(url, maxsize=0): missing a required"),
        ("my_storages:Exploding", 1, "creating the storage failed: RuntimeError: the queue service is down"),
        ("json:JSONDecoder", 2, "JSONDecoder is not a LeakDB storage class"),
    ],
)
def test_storage_class_mistakes(storages, target, status, message):
    line = one_line(run_server("--storage-class", target, cwd=storages), status)
    assert line.startswith(f"leakdb-server: storage-class {target}: "), line
    assert message in line, line


def test_storage_class_module_that_fails_to_import(storages):
    (storages / "broken_storage.py").write_text("import no_such_dependency\n")
    try:
        line = one_line(run_server("--storage-class", "broken_storage:Storage", cwd=storages), 1)
    finally:
        (storages / "broken_storage.py").unlink()
    assert (
        "importing 'broken_storage' failed: ModuleNotFoundError: No module named 'no_such_dependency'" in line
    )


def test_storage_class_whose_mode_contradicts_storage(storages):
    line = one_line(
        run_server("--storage", "memory", "--storage-class", "my_storages:OwnFile", cwd=storages), 2
    )
    assert "storage memory does not match storage-class my_storages:OwnFile" in line
    assert "'persistent-queue'" in line


def test_storage_class_gets_the_settings_its_constructor_takes(storages):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [
        sys.executable,
        "-m",
        "leakdb.server",
        "--port",
        str(port),
        "--storage-class",
        "my_storages:Recording",
    ]
    process = subprocess.Popen(
        argv, cwd=storages, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for_port(port, process)
        client = redis.Redis(port=port)
        assert client.set("k", "v") is True
        assert client.info("leakdb")["storage_mode"] == "queue"
        client.close()
    finally:
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    # A QueueStorage has no file: it gets no filename or backend, and the server created none.
    assert stdout.splitlines()[0] == 'kwargs ["databases", "flush_interval", "maxsize", "workers"]'
    assert process.returncode == 0, stderr


# -- Ctrl-C ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "shelve"])
def test_ctrl_c_flushes_and_says_one_line(tmp_path, backend):
    """SIGINT with every write still queued (no size or timer flush): it is all in the file after."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    flags = ["--backend", backend, "--flush-interval", "0", "--maxsize", "0"]
    argv = [sys.executable, "-m", "leakdb.server", "--port", str(port), *flags]
    process = subprocess.Popen(
        argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for_port(port, process)
        client = redis.Redis(port=port)
        client.mset({f"key:{i}": str(i) for i in range(500)})
        assert client.info("leakdb")["storage_queue_length"] == 500  # nothing flushed yet
        client.close()
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert lines[0].endswith("received SIGINT: data saved; LeakDB is now ready to exit, bye bye..."), lines
    with PersistentStorage(tmp_path / "leakdb.db", backend=backend, codec="raw") as reopened:
        assert len(reopened) == 500 and reopened.get("key:499") == b"499"
    if backend == "sqlite":
        with sqlite3.connect(tmp_path / "leakdb.db") as connection:
            assert connection.execute("SELECT count(*) FROM keys").fetchone() == (500,)
        connection.close()
