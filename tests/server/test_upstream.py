"""LeakDB as a near tier in front of a real Redis: a standalone redis-server and a Redis Cluster of
three masters and three replicas, both started here from Debian's redis-server on loopback.

Everything is read back with redis-py straight from the upstream, as another application would.
Waits poll for a condition and are bounded only to turn a hang into a failure, never as a window a
busy machine could miss.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import redis
import redis.cluster
from conftest import ServerProcess, free_port, leakdb_argv, require

HANG = 60.0  # seconds after which a wait that should end much sooner is reported as hung


def eventually(condition, what: str, seconds: float = HANG):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError(f"hung: {what}")


def redis_node(directory: Path, port: int, *flags: str) -> ServerProcess:
    directory.mkdir(parents=True, exist_ok=True)
    argv = [require("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--stop-writes-on-bgsave-error", "no", "--dir", str(directory),
            *flags]  # fmt: skip
    return ServerProcess(argv, port, cwd=str(directory))


@pytest.fixture
def upstream(tmp_path) -> ServerProcess:
    server = redis_node(tmp_path / "upstream", free_port())
    yield server
    server.stop()


def cluster_port() -> int:
    """A free port whose cluster bus port (10000 higher) is free too, as cluster nodes need."""
    while True:
        port = random.randrange(20000, 45000)
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port


class Cluster:
    def __init__(self, root: Path) -> None:
        self.ports = [cluster_port() for _ in range(6)]
        self.nodes = {
            port: redis_node(root / str(port), port, "--cluster-enabled", "yes",
                             "--cluster-node-timeout", "1000", "--cluster-config-file", "nodes.conf")
            for port in self.ports
        }  # fmt: skip
        subprocess.run(
            [require("redis-cli"), "--cluster", "create", *[f"127.0.0.1:{port}" for port in self.ports],
             "--cluster-replicas", "1", "--cluster-yes"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        for port in self.ports:
            eventually(lambda p=port: b"cluster_state:ok" in self.raw(p, "CLUSTER", "INFO"), "cluster ok")
        self.urls = ",".join(f"redis://127.0.0.1:{port}" for port in self.ports[:3])

    def raw(self, port: int, *args: str):
        with redis.Redis(port=port, protocol=2) as client:
            return client.execute_command(*args)

    def client(self) -> redis.cluster.RedisCluster:
        alive = next(port for port in self.ports if self.nodes[port].process.poll() is None)
        return redis.cluster.RedisCluster(host="127.0.0.1", port=alive, protocol=2)

    def flush(self) -> None:
        for port in self.ports:
            alive = self.nodes[port].process.poll() is None
            if alive and self.raw(port, "ROLE")[0] == b"master":
                self.raw(port, "FLUSHALL")

    def stop(self) -> None:
        for node in self.nodes.values():
            node.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Cluster:
    made = Cluster(tmp_path_factory.mktemp("cluster"))
    yield made
    made.stop()


@pytest.fixture(params=["standalone", "cluster"])
def target(request, tmp_path):
    """(flags for leakdb-server, a redis-py client reading the upstream directly)."""
    if request.param == "standalone":
        server = redis_node(tmp_path / "upstream", free_port())
        request.addfinalizer(server.stop)
        return ["--upstream", f"redis://127.0.0.1:{server.port}"], redis.Redis(port=server.port, protocol=2)
    made = request.getfixturevalue("cluster")
    made.flush()
    return ["--upstream-cluster", made.urls], made.client()


def near(start_leakdb, flags: list[str], mode: str = "persistent", *extra: str) -> ServerProcess:
    return start_leakdb("--storage", mode, "--backend", "redis", *flags, *extra)


DEADLINE_MS = 4102444800000  # 2100-01-01, an exact PXAT to compare with PEXPIRETIME


def write_every_type(client: redis.Redis) -> None:
    client.set("str", "text", pxat=DEADLINE_MS)
    client.set("number", 42)
    client.hset("hash", mapping={"f1": "v1", "f2": "v2"})
    client.rpush("list", *[f"item{i}" for i in range(2500)])  # more than one Lua push chunk
    client.sadd("set", "a", "b", "c")
    client.zadd("zset", {"low": 1.5, "high": 1e17, "neg": -0.25})
    client.xadd("stream", {"f": "v"}, id="5-1")
    client.xadd("stream", {"g": "w", "h": "x"}, id="7-0")
    client.pexpireat("hash", DEADLINE_MS)


def assert_every_type(upstream: redis.Redis) -> None:
    assert upstream.get("str") == b"text" and upstream.pexpiretime("str") == DEADLINE_MS
    assert upstream.get("number") == b"42" and upstream.pttl("number") == -1
    assert upstream.hgetall("hash") == {b"f1": b"v1", b"f2": b"v2"}
    assert upstream.pexpiretime("hash") == DEADLINE_MS
    assert upstream.lrange("list", 0, -1) == [f"item{i}".encode() for i in range(2500)]
    assert upstream.smembers("set") == {b"a", b"b", b"c"}
    assert upstream.zrange("zset", 0, -1, withscores=True) == [
        (b"neg", -0.25),
        (b"low", 1.5),
        (b"high", 1e17),
    ]
    assert upstream.xrange("stream") == [(b"5-1", {b"f": b"v"}), (b"7-0", {b"g": b"w", b"h": b"x"})]


def test_every_type_and_deadline_is_written_in_redis_types(start_leakdb, target):
    flags, upstream = target
    server = near(start_leakdb, flags)
    write_every_type(server.client())
    assert_every_type(upstream)
    # Deleting, persisting and re-expiring reach the upstream too.
    client = server.client()
    client.delete("set")
    client.persist("str")
    client.pexpireat("number", DEADLINE_MS)
    assert upstream.exists("set") == 0
    assert upstream.pttl("str") == -1
    assert upstream.pexpiretime("number") == DEADLINE_MS


def test_a_new_host_loads_the_upstream_fully_or_lazily(start_leakdb, target):
    flags, upstream = target
    write_every_type(near(start_leakdb, flags).client())
    full = near(start_leakdb, flags).client()
    info = full.info("leakdb")
    assert info["storage_keys_loaded"] == 7
    assert full.lrange("list", 0, 2) == [b"item0", b"item1", b"item2"]
    assert full.xrange("stream", "-", "+")[-1] == (b"7-0", {b"g": b"w", b"h": b"x"})
    lazy = near(start_leakdb, flags, "persistent", "--upstream-load", "lazy").client()
    assert lazy.info("leakdb")["storage_keys_loaded"] == 0
    assert lazy.dbsize() == 0
    assert lazy.get("str") == b"text"
    assert lazy.pexpiretime("str") == DEADLINE_MS
    assert lazy.zscore("zset", "high") == 1e17
    assert lazy.get("never-written") is None
    assert lazy.info("leakdb")["upstream_read_throughs"] == 3
    assert lazy.get("never-written") is None  # remembered as absent: no second read-through
    assert lazy.info("leakdb")["upstream_read_throughs"] == 3
    upstream.set("never-written", "now it is")  # ...until the upstream says it changed
    eventually(lambda: lazy.get("never-written") == b"now it is", "the created key to read through")


@pytest.mark.parametrize("mode", ["persistent", "persistent-queue"])
def test_two_hosts_see_each_others_writes(start_leakdb, target, mode):
    flags, upstream = target
    extra = ("--flush-interval", "0.05") if mode == "persistent-queue" else ()
    first = near(start_leakdb, flags, mode, *extra).client()
    second = near(start_leakdb, flags, mode, *extra).client()
    first.set("shared", "from first")
    eventually(lambda: second.get("shared") == b"from first", "the second host to see the write")
    for n in range(50):
        second.hset("counter", "n", n)
    eventually(lambda: first.hget("counter", "n") == b"49", "the last of fifty writes on the first host")
    first.delete("shared")
    eventually(lambda: second.exists("shared") == 0, "the delete to reach the second host")
    upstream.set("outside", "written by another client")
    eventually(lambda: first.get("outside") == second.get("outside") == b"written by another client", "both")
    # A host's own writes never come back to it as invalidations.
    assert first.info("leakdb")["upstream_resyncs"] == 0


def test_write_through_keeps_every_acknowledged_write_after_sigkill(start_leakdb, upstream):
    server = near(start_leakdb, ["--upstream", f"redis://127.0.0.1:{upstream.port}"])
    acknowledged: list[int] = []
    stop = threading.Event()

    def writer() -> None:
        client = server.client()
        n = 0
        try:
            while not stop.is_set():
                client.set(f"k{n}", n)
                acknowledged.append(n)
                n += 1
        except redis.ConnectionError:
            pass

    thread = threading.Thread(target=writer)
    thread.start()
    eventually(lambda: len(acknowledged) >= 300, "300 acknowledged writes")
    server.process.send_signal(signal.SIGKILL)
    stop.set()
    thread.join(HANG)
    direct = redis.Redis(port=upstream.port)
    missing = [n for n in acknowledged if direct.get(f"k{n}") != str(n).encode()]
    assert not missing, f"{len(missing)} acknowledged writes lost, first {missing[:5]}"


def test_write_behind_rides_out_an_upstream_stall_and_loses_nothing(start_leakdb, upstream):
    server = near(start_leakdb, ["--upstream", f"redis://127.0.0.1:{upstream.port}"], "persistent-queue",
                  "--flush-interval", "0.05")  # fmt: skip
    client = server.client()
    client.set("before", 1)
    direct = redis.Redis(port=upstream.port)
    eventually(lambda: direct.get("before") == b"1", "the first flush")
    upstream.process.send_signal(signal.SIGSTOP)  # the upstream stops answering, as in a network stall
    try:
        for n in range(200):
            client.set(f"during{n}", n)
        assert client.get("during199") == b"199", "reads and writes go on locally"
        eventually(lambda: client.info("leakdb")["upstream_state"] == "down", "the failed flush to show")
        assert client.info("leakdb")["upstream_pending_writes"] > 0
    finally:
        upstream.process.send_signal(signal.SIGCONT)
    eventually(lambda: client.info("leakdb")["upstream_pending_writes"] == 0, "the queue to drain")
    assert client.info("leakdb")["upstream_state"] == "up"
    assert [direct.get(f"during{n}") for n in range(200)] == [str(n).encode() for n in range(200)]


def test_an_upstream_restart_loses_nothing_and_resyncs(start_leakdb, tmp_path):
    """The upstream dies (kill -9) and comes back on the same port with its append-only file: the
    write-behind queue waits and is written, and the host re-reads what it holds (the invalidation
    channel was lost, so changes made meanwhile by others are picked up)."""
    port = free_port()
    flags = ("--appendonly", "yes", "--appendfsync", "always")
    upstream = redis_node(tmp_path / "restarting", port, *flags)
    # Writes made while the upstream is down are to wait in the queue, not be refused with MISCONF
    # (which they would be once a flush has failed, with stop-writes-on-bgsave-error yes).
    server = near(start_leakdb, ["--upstream", f"redis://127.0.0.1:{port}"], "persistent-queue",
                  "--flush-interval", "0.05", "--stop-writes-on-bgsave-error", "no")  # fmt: skip
    client = server.client()
    client.set("before", "1")
    eventually(lambda: client.info("leakdb")["upstream_pending_writes"] == 0, "the first flush")
    upstream.process.send_signal(signal.SIGKILL)
    upstream.process.wait()
    for n in range(100):
        client.set(f"during{n}", n)
    eventually(lambda: client.info("leakdb")["upstream_state"] == "down", "the failed flush to show")
    upstream = redis_node(tmp_path / "restarting", port, *flags)
    try:
        direct = redis.Redis(port=port)
        eventually(lambda: client.info("leakdb")["upstream_pending_writes"] == 0, "the queue to drain")
        assert direct.get("before") == b"1"
        assert [direct.get(f"during{n}") for n in range(100)] == [str(n).encode() for n in range(100)]
        eventually(lambda: client.info("leakdb")["upstream_resyncs"] >= 1, "a resync after the lost channel")
        direct.set("before", "changed while the channel was being rebuilt")
        eventually(
            lambda: client.get("before") == b"changed while the channel was being rebuilt", "coherence"
        )
    finally:
        upstream.stop()


def set_until_accepted(client: redis.Redis, key: str, value: int) -> None:
    def accepted() -> bool:
        try:
            return client.set(key, value)
        except redis.ResponseError as error:
            assert str(error).startswith("MISCONF"), error
            return False

    eventually(accepted, f"SET {key} accepted")


def test_a_master_failover_during_write_behind_loses_nothing(start_leakdb, cluster):
    cluster.flush()
    server = near(
        start_leakdb, ["--upstream-cluster", cluster.urls], "persistent-queue", "--flush-interval", "0.05"
    )
    client = server.client()
    direct = cluster.client()
    for n in range(300):
        client.set(f"before{n}", n)
    eventually(lambda: client.info("leakdb")["upstream_pending_writes"] == 0, "the first batch")
    victim_port = direct.get_node_from_key("before0").port
    cluster.raw(
        victim_port, "WAIT", "1", "5000"
    )  # its replica has everything: only LeakDB's writes are tested
    cluster.nodes[victim_port].process.send_signal(signal.SIGKILL)
    for n in range(300):
        # Some land on the dead master's slots: their flushes fail and retry.  While a flush is
        # failing, writes are refused with MISCONF (stop-writes-on-bgsave-error, as for a file) and
        # are not applied, so the writer retries them until the promoted replica takes the flush.
        set_until_accepted(client, f"during{n}", n)
    eventually(lambda: client.info("leakdb")["upstream_pending_writes"] == 0, "the flush after the failover")
    fresh = cluster.client()
    for prefix in ("before", "during"):
        values = [fresh.get(f"{prefix}{n}") for n in range(300)]
        assert values == [str(n).encode() for n in range(300)], prefix
    # The killed master comes back as a replica of the promoted one.
    node = cluster.nodes[victim_port]
    cluster.nodes[victim_port] = ServerProcess(node.argv, victim_port, cwd=node.cwd)


def test_credentials_never_show(start_leakdb, tmp_path):
    secret = "s3cret-upstream"
    upstream = redis_node(tmp_path / "locked", free_port(), "--requirepass", secret)
    try:
        server = near(start_leakdb, ["--upstream", f"redis://:{secret}@127.0.0.1:{upstream.port}/2"])
        client = server.client()
        client.set("k", "v")
        assert redis.Redis(port=upstream.port, password=secret, db=2).get("k") == b"v"
        shown = [
            str(client.info("everything")),
            str(client.config_get("*")),
            str(client.execute_command("CLIENT", "LIST")),
        ]
        assert all(secret not in text for text in shown)
        assert client.config_get("upstream")["upstream"] == f"redis://:***@127.0.0.1:{upstream.port}/2"
        assert secret not in server.output()
    finally:
        upstream.stop()


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--upstream", "redis://127.0.0.1:1"], "cannot reach the upstream Redis at redis://127.0.0.1:1"),
        ([], "--backend redis needs --upstream URL"),
        (["--upstream", "redis://:pw@127.0.0.1:1"], "redis://:***@127.0.0.1:1"),
    ],
)
def test_an_unusable_upstream_is_one_line(tmp_path, flags, expected):
    argv = leakdb_argv(free_port(), "--storage", "persistent", "--backend", "redis", *flags)
    result = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=HANG)
    assert result.returncode in (1, 2)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0] and "Traceback" not in result.stderr, result.stderr
    assert "pw@" not in result.stderr
    assert os.listdir(tmp_path) == []
