"""Blocking pops with real connections: wake-ups, FIFO fairness, timeouts, disconnects, persistence.

Scenarios run against redis-server too where they can and must give the same replies.  Blocked
clients run in threads, each on its own named connection; each is started only once the server lists
the one before as blocked (CLIENT LIST's ``b`` flag), so the server sees them block in that order.
Whether a client is still waiting is asked of the server too: after a write's reply, the server has
already served (or not) every waiter that write could wake, however slow the machine is.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time

import pytest
import redis
from conftest import HANG_SECONDS, read_replies, wait_until
from redis.backoff import NoBackoff
from redis.retry import Retry

_names = itertools.count()


def blocked_count(port: int) -> int:
    """INFO's blocked_clients."""
    with redis.Redis(port=port) as client:
        return client.info("clients")["blocked_clients"]


class Blocked:
    """A command running on its own connection in a thread; `result()` waits for its reply.

    The constructor returns once the server lists the connection as blocked (or the command has
    already answered: a short timeout may run out first).
    """

    def __init__(self, port: int, *args, protocol: int = 3) -> None:
        self.name = f"blocked-{next(_names)}"
        # No retries: redis-py 8 would otherwise reconnect a killed client and block it again.
        self.client = redis.Redis(
            port=port, protocol=protocol, retry=Retry(NoBackoff(), 0), client_name=self.name
        )
        self.admin = redis.Redis(port=port)
        self.reply: object = None
        self.thread = threading.Thread(target=self._run, args=args, daemon=True)
        self.thread.start()
        wait_until(lambda: not self.thread.is_alive() or self.blocked, f"{args[0]} to block")

    def _run(self, *args) -> None:
        try:
            self.reply = self.client.execute_command(*args)
        except redis.ResponseError as exc:
            self.reply = ("error", str(exc))
        except redis.ConnectionError:
            self.reply = "disconnected"

    def result(self) -> object:
        self.thread.join(HANG_SECONDS)
        assert not self.thread.is_alive(), "still blocked"
        self.client.close()
        self.admin.close()
        return self.reply

    @property
    def blocked(self) -> bool:
        """Whether the server lists this connection as blocked (flag ``b``) right now."""
        return any(entry["name"] == self.name and "b" in entry["flags"] for entry in self.admin.client_list())

    @property
    def served(self) -> object:
        """The reply once the server has let the client go (waiting for it to arrive), else None."""
        if self.blocked:
            return None
        self.thread.join(HANG_SECONDS)
        assert not self.thread.is_alive(), "unblocked, but no reply arrived"
        return self.reply


@pytest.fixture
def ports(redis_server, leakdb_server):
    """(redis port, leakdb port) on flushed servers."""
    for server in (redis_server, leakdb_server):
        with server.client() as client:
            client.flushall()
    return redis_server.port, leakdb_server.port


@pytest.fixture
def leak(leakdb_server):
    """The leakdb server, flushed."""
    with leakdb_server.client() as client:
        client.flushall()
    return leakdb_server


def on_both(ports, scenario):
    """Run `scenario(port, client)` against redis-server and leakdb; their outcomes must be equal."""
    outcomes = []
    for port in ports:
        with redis.Redis(port=port) as client:
            outcomes.append(scenario(port, client))
    assert outcomes[1] == outcomes[0]
    return outcomes[1]


# -- wake-ups, compared with Redis -----------------------------------------------------------------


def test_push_from_another_client_wakes_blpop_and_brpop(ports):
    def scenario(port, client):
        left = Blocked(port, "BLPOP", "q", 0)
        right = Blocked(port, "BRPOP", "r", 0)
        pushed = (client.rpush("q", "a", "b"), client.rpush("r", "a", "b"))
        return pushed, left.result(), right.result(), client.lrange("q", 0, -1), client.lrange("r", 0, -1)

    outcome = on_both(ports, scenario)
    assert outcome[1] == [b"q", b"a"] and outcome[2] == [b"r", b"b"]


def test_first_blocked_client_is_served_first(ports):
    def scenario(port, client):
        waiters = [Blocked(port, "BLPOP", "q", 0) for _ in range(3)]
        replies = []
        for element in ("a", "b", "c"):
            client.rpush("q", element)
            replies.append([w.served for w in waiters])
        return replies, [w.result() for w in waiters]

    replies, results = on_both(ports, scenario)
    assert results == [[b"q", b"a"], [b"q", b"b"], [b"q", b"c"]]
    assert replies[0] == [[b"q", b"a"], None, None]


def test_one_push_of_several_elements_serves_waiters_in_order(ports):
    def scenario(port, client):
        waiters = [Blocked(port, "BLPOP", "q", 0) for _ in range(3)]
        waiters.append(Blocked(port, "BRPOP", "q", "3600"))  # a waiter with a timeout is served alike
        pushed = client.rpush("q", "a", "b", "c", "d", "e")
        return pushed, [w.result() for w in waiters], client.lrange("q", 0, -1)

    outcome = on_both(ports, scenario)
    assert outcome[1][3] == [b"q", b"e"] and outcome[2] == [b"d"]


def test_several_keys_served_by_whichever_gets_data(ports):
    def scenario(port, client):
        waiter = Blocked(port, "BLPOP", "k1", "k2", "k3", 0)
        client.rpush("k2", "x")
        first = waiter.result()
        client.rpush("k3", "y")
        return first, client.lrange("k3", 0, -1), client.exists("k2")

    assert on_both(ports, scenario)[0] == [b"k2", b"x"]


def test_blmove_and_brpoplpush_wake_up_and_chain_to_the_destination(ports):
    def scenario(port, client):
        mover = Blocked(port, "BLMOVE", "src", "dst", "LEFT", "RIGHT", 0)
        popper = Blocked(port, "BLPOP", "dst", 0)
        legacy = Blocked(port, "BRPOPLPUSH", "src2", "dst2", 0)
        client.rpush("src", "a", "b")
        client.rpush("src2", "c")
        return (
            mover.result(),
            popper.result(),
            legacy.result(),
            client.lrange("src", 0, -1),
            client.lrange("dst", 0, -1),
            client.lrange("dst2", 0, -1),
        )

    assert on_both(ports, scenario)[:2] == (b"a", [b"dst", b"a"])


def test_blmpop_wakes_up_with_count(ports):
    def scenario(port, client):
        waiter = Blocked(port, "BLMPOP", 0, 2, "a", "b", "RIGHT", "COUNT", 2)
        client.rpush("b", "1", "2", "3")
        return waiter.result(), client.lrange("b", 0, -1)

    assert on_both(ports, scenario)[0] == [b"b", [b"3", b"2"]]


def test_blmove_to_a_destination_of_another_type_gets_wrongtype(ports):
    def scenario(port, client):
        mover = Blocked(port, "BLMOVE", "src", "dst", "LEFT", "RIGHT", 0)
        client.set("dst", "string")
        client.rpush("src", "a")
        return mover.result(), client.lrange("src", 0, -1)

    outcome = on_both(ports, scenario)
    assert outcome[0][0] == "error" and outcome[1] == [b"a"]


def test_a_key_set_to_another_type_keeps_the_client_blocked(ports):
    def scenario(port, client):
        waiter = Blocked(port, "BLPOP", "q", 0)
        client.set("q", "string")
        still_waiting = waiter.blocked
        client.delete("q")
        client.rpush("q", "a")
        return still_waiting, waiter.result()

    assert on_both(ports, scenario) == (True, [b"q", b"a"])


def test_rename_swapdb_and_exec_wake_waiters(ports):
    def scenario(port, client):
        renamed = Blocked(port, "BLPOP", "target", 0)
        client.rpush("source", "a")
        client.rename("source", "target")
        swapped = Blocked(port, "BLPOP", "other", 0)
        with redis.Redis(port=port, db=1) as db1:
            db1.rpush("other", "b")
        client.swapdb(0, 1)
        transaction = Blocked(port, "BRPOP", "t", 0)
        pipe = client.pipeline(transaction=True)
        pipe.rpush("t", "c", "d")
        pipe.lpop("t")
        executed = pipe.execute()
        return renamed.result(), swapped.result(), executed, transaction.result()

    assert on_both(ports, scenario)[3] == [b"t", b"d"]


@pytest.mark.parametrize("protocol", [2, 3])
def test_timeout_replies_null_array(ports, protocol):
    for port in ports:
        started = time.monotonic()
        waiters = [
            Blocked(port, "BLPOP", "none", "0.3", protocol=protocol),
            Blocked(port, "BLMOVE", "none", "dst", "LEFT", "LEFT", "0.3", protocol=protocol),
            Blocked(port, "BLMPOP", "0.3", 1, "none", "LEFT", protocol=protocol),
        ]
        assert [w.result() for w in waiters] == [None, None, None]
        assert time.monotonic() - started >= 0.3


# -- leakdb only: timing and connections ----------------------------------------------------------


def test_timeout_waits_at_least_the_timeout(leak):
    started = time.monotonic()
    with leak.client(socket_timeout=HANG_SECONDS) as client:  # a timeout that never fires: an error
        assert client.execute_command("BLPOP", "none", "0.4") is None
    assert time.monotonic() - started >= 0.4


def test_a_blocked_client_does_not_block_others(leak):
    port = leak.port
    waiter = Blocked(port, "BLPOP", "q", 0)
    with leak.client(socket_timeout=HANG_SECONDS) as client:  # served while the waiter is blocked
        assert client.ping() is True
        assert client.set("x", "1") is True
        assert waiter.blocked
        client.rpush("q", "a")
    assert waiter.result() == [b"q", b"a"]


def _block_raw(port: int, request: bytes) -> socket.socket:
    """A raw connection that sent `request`, once the server counts one more blocked client."""
    before = blocked_count(port)
    sock = socket.create_connection(("127.0.0.1", port), timeout=HANG_SECONDS)
    sock.sendall(request)
    wait_until(lambda: blocked_count(port) > before, "the raw request to block")
    return sock


def test_disconnected_waiter_does_not_swallow_an_element(leak):
    port = leak.port
    gone = _block_raw(port, b"BLPOP q 0\r\n")
    gone.close()
    wait_until(lambda: blocked_count(port) == 0, "the server to see the waiter go")
    live = Blocked(port, "BLPOP", "q", 0)
    with leak.client() as client:
        client.rpush("q", "a", "b")
        assert live.result() == [b"q", b"a"]
        assert client.lrange("q", 0, -1) == [b"b"]


def test_killed_waiter_does_not_swallow_an_element(leak):
    port = leak.port
    killed = Blocked(port, "BLMOVE", "q", "dst", "LEFT", "LEFT", 0)
    with leak.client() as client:
        client.execute_command("CLIENT", "KILL", "SKIPME", "yes", "TYPE", "normal")
        # Still queued (LeakDB sweeps killed waiters out every second): serving must skip it.
        assert client.rpush("q", "a") == 1
        assert client.lrange("q", 0, -1) == [b"a"]
        assert client.exists("dst") == 0
    assert killed.result() == "disconnected"


def test_commands_sent_while_blocked_run_after_the_reply(leak):
    port = leak.port
    sock = _block_raw(port, b"BLPOP q 0\r\nPING\r\n")
    sock.sendall(b"LLEN q\r\n")  # arrives while blocked: buffered, not run
    with leak.client() as client:
        buffered = len(b"PING\r\nLLEN q\r\n")
        wait_until(lambda: max(int(c["qbuf"]) for c in client.client_list()) == buffered, "LLEN to arrive")
        client.rpush("q", "a", "b")
    assert read_replies(sock, 3) == b"*2\r\n$1\r\nq\r\n$1\r\na\r\n+PONG\r\n:1\r\n"
    sock.close()


def test_blocked_clients_in_different_databases_are_kept_apart(leak):
    port = leak.port
    waiter = Blocked(port, "BLPOP", "q", 0)
    with redis.Redis(port=port, db=3) as other:
        other.rpush("q", "in-db-3")
        assert waiter.blocked
        assert other.llen("q") == 1
    with leak.client() as client:
        client.rpush("q", "in-db-0")
    assert waiter.result() == [b"q", b"in-db-0"]


def test_many_waiters_and_pushes_lose_nothing(leak):
    port = leak.port
    waiters = [Blocked(port, "BRPOP", f"q{i % 3}", "q9", 0) for i in range(12)]
    with leak.client() as client:
        for i in range(12):
            client.lpush(f"q{i % 3}", f"e{i}")
        received = sorted(w.result()[1] for w in waiters)
        assert received == sorted(f"e{i}".encode() for i in range(12))
        assert client.dbsize() == 0


# -- persistence -----------------------------------------------------------------------------------


def test_list_survives_a_restart_in_persistent_queue_mode(start_leakdb, tmp_path):
    first = start_leakdb("--storage", "persistent-queue", cwd=tmp_path)
    with first.client() as client:
        client.rpush("q", "a", "b", "c")
        client.lpush("q", "z")
        client.lmove("q", "moved", "RIGHT", "LEFT")
        client.rpush("emptied", "x")
        client.lpop("emptied")
        mover = Blocked(first.port, "BLMOVE", "in", "out", "LEFT", "RIGHT", 0)
        client.rpush("in", "served")
        assert mover.result() == b"served"
        try:
            client.shutdown()
        except redis.ConnectionError:
            pass
    first.wait()
    second = start_leakdb("--storage", "persistent-queue", cwd=tmp_path, port=first.port)
    with second.client() as client:
        assert client.lrange("q", 0, -1) == [b"z", b"a", b"b"]
        assert client.lrange("moved", 0, -1) == [b"c"]
        assert client.lrange("out", 0, -1) == [b"served"]
        assert client.exists("emptied", "in") == 0
        assert client.type("q") == b"list"
