"""Unix domain sockets and TLS, with real clients (redis-py, redis-cli, redis-benchmark) and a real
redis-server beside LeakDB where Redis has something to compare with.

Certificates are made per session with the ``openssl`` command: a CA, a server certificate for
127.0.0.1/localhost, a second server certificate (to see a reload take effect) and a client
certificate for mutual TLS.
"""

from __future__ import annotations

import os
import re
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import redis
from conftest import ServerProcess, free_port, leakdb_argv, require, wait_for_port

# -- certificates ---------------------------------------------------------------------------------


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run([require("openssl"), *args], cwd=cwd, check=True, capture_output=True)


def _signed(cwd: Path, name: str, subject: str, extensions: str) -> None:
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-subj", subject,
             "-out", f"{name}.csr", cwd=cwd)  # fmt: skip
    (cwd / f"{name}.ext").write_text(extensions)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.crt",
             cwd=cwd)  # fmt: skip


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tls")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-days", "2",
             "-subj", "/CN=LeakDB test CA", "-out", "ca.crt", cwd=root)  # fmt: skip
    server_ext = "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
    _signed(root, "server", "/CN=first", server_ext)
    _signed(root, "server2", "/CN=second", server_ext)
    _signed(root, "client", "/CN=client", "extendedKeyUsage=clientAuth\n")
    return root


def tls_flags(certs: Path, tls_port: int, auth: str = "no") -> list[str]:
    return [
        "--tls-port", str(tls_port), "--tls-cert-file", str(certs / "server.crt"),
        "--tls-key-file", str(certs / "server.key"), "--tls-ca-cert-file", str(certs / "ca.crt"),
        "--tls-auth-clients", auth,
    ]  # fmt: skip


def tls_client(port: int, certs: Path, with_cert: bool = False, **kwargs) -> redis.Redis:
    extra = {}
    if with_cert:
        extra = {"ssl_certfile": str(certs / "client.crt"), "ssl_keyfile": str(certs / "client.key")}
    return redis.Redis(port=port, ssl=True, ssl_ca_certs=str(certs / "ca.crt"), **extra, **kwargs)


def start_server(argv: list[str], cwd: Path, ready: Path | int) -> ServerProcess:
    """A server that may listen on no TCP port: ready when `ready` (a socket path or port) answers."""
    if isinstance(ready, int):
        return ServerProcess(argv, ready, cwd=str(cwd))
    process = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    server = ServerProcess.__new__(ServerProcess)
    server.argv, server.port, server.cwd, server.process = argv, 0, str(cwd), process
    wait_for_socket(ready, process)
    return server


def wait_for_socket(path: Path, process: subprocess.Popen) -> None:
    for _ in range(1500):
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}: {process.stdout.read()}")
        try:
            with socket.socket(socket.AF_UNIX) as probe:
                probe.connect(str(path))
                return
        except OSError:
            process_wait(process)
    raise RuntimeError(f"nothing listened on {path}")


def process_wait(process: subprocess.Popen) -> None:
    try:
        process.wait(0.02)
    except subprocess.TimeoutExpired:
        pass


def redis_argv(*flags: str) -> list[str]:
    return [require("redis-server"), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1", *flags]


def failed_start(tmp_path: Path, *flags: str) -> subprocess.CompletedProcess:
    argv = leakdb_argv(free_port(), "--storage", "memory", *flags)
    return subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60)


# -- unix domain sockets --------------------------------------------------------------------------


def test_unix_socket_alone_serves_redis_py_redis_cli_and_redis_benchmark(tmp_path):
    path = tmp_path / "leakdb.sock"
    argv = [sys.executable, "-m", "leakdb.server", "--port", "0", "--storage", "memory",
            "--unixsocket", str(path), "--unixsocketperm", "700"]  # fmt: skip
    server = start_server(argv, tmp_path, path)
    try:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o700
        client = redis.Redis(unix_socket_path=str(path))
        assert client.set("k", "v") and client.get("k") == b"v"
        assert redis.from_url(f"unix://{path}").get("k") == b"v"
        assert client.config_get("unixsocket*") == {"unixsocket": str(path), "unixsocketperm": "700"}
        cli = subprocess.run(
            [require("redis-cli"), "-s", str(path), "get", "k"], capture_output=True, text=True
        )
        assert cli.stdout == "v\n"
        bench = subprocess.run(
            [require("redis-benchmark"), "-s", str(path), "-t", "set,get", "-n", "2000", "-q", "--csv"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert bench.returncode == 0 and '"SET"' in bench.stdout and '"GET"' in bench.stdout, bench.stderr
        client.close()
    finally:
        server.stop()
    assert not path.exists(), "the socket file is removed at shutdown"


@pytest.mark.parametrize("long_path", [False, True])
def test_client_list_shows_unix_clients_as_redis_does(long_path):
    """addr and laddr are the socket path with port 0 (cut as Redis cuts it), and the flags hold U."""
    fields = {}
    with tempfile.TemporaryDirectory(dir="/tmp") as short_root:  # unix socket paths must be short
        root = Path(short_root)
        for name in ("redis", "leakdb"):
            # Both sockets sit at paths of the same length, so a cut falls in the same place.
            path = root / name[0] / ("d" * 55 if long_path else "d") / "s.sock"
            path.parent.mkdir(parents=True)
            argv = (
                redis_argv("--port", "0", "--unixsocket", str(path))
                if name == "redis"
                else [sys.executable, "-m", "leakdb.server", "--port", "0", "--storage", "memory",
                      "--unixsocket", str(path)]
            )  # fmt: skip
            server = start_server(argv, root, path)
            try:
                client = redis.Redis(unix_socket_path=str(path))
                line = client.execute_command("CLIENT", "LIST").decode()
                client.close()
            finally:
                server.stop()
            fields[name] = {
                field.split("=")[0]: field.split("=", 1)[1] for field in line.split() if "=" in field
            }
            for field in ("addr", "laddr"):
                assert fields[name][field] == f"{path}:0"[:77]
                fields[name][field] = fields[name][field].replace(str(root / name[0]), "DIR")
    for field in ("addr", "laddr", "flags"):
        assert fields["leakdb"][field] == fields["redis"][field], field
    assert fields["leakdb"]["flags"] == "U"
    assert (len(f"{path}:0") > 77) is long_path


def test_unix_socket_beside_tcp(start_leakdb, tmp_path):
    path = tmp_path / "both.sock"
    server = start_leakdb("--storage", "memory", "--unixsocket", str(path))
    redis.Redis(unix_socket_path=str(path)).set("shared", "1")
    assert server.client().get("shared") == b"1"


def test_a_stale_socket_file_is_replaced(tmp_path):
    path = tmp_path / "stale.sock"
    leftover = socket.socket(socket.AF_UNIX)
    leftover.bind(str(path))  # bound, never listening: what a crashed server leaves
    leftover.close()
    argv = [sys.executable, "-m", "leakdb.server", "--port", "0", "--storage", "memory",
            "--unixsocket", str(path)]  # fmt: skip
    server = start_server(argv, tmp_path, path)
    try:
        assert redis.Redis(unix_socket_path=str(path)).ping()
    finally:
        server.stop()


@pytest.mark.parametrize("case", ["regular file", "missing directory", "live socket", "nowhere"])
def test_unusable_listen_settings_are_one_line(tmp_path, case):
    path = tmp_path / "x.sock"
    flags = ["--unixsocket", str(path)]
    live = None
    if case == "regular file":
        path.write_text("not a socket")
    elif case == "missing directory":
        flags = ["--unixsocket", str(tmp_path / "no" / "such" / "x.sock")]
    elif case == "live socket":
        live = socket.socket(socket.AF_UNIX)
        live.bind(str(path))
        live.listen(1)
    else:
        flags = []
    result = failed_start(tmp_path, "--port", "0", *flags)
    if live is not None:
        live.close()
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    expected = {
        "regular file": "is not a socket",
        "missing directory": "no directory",
        "live socket": "another server is listening",
        "nowhere": "Configured to not listen anywhere, exiting.",
    }[case]
    assert expected in lines[0]
    if case == "regular file":
        assert path.read_text() == "not a socket"


# -- TLS ------------------------------------------------------------------------------------------


@pytest.fixture
def tls_server(start_leakdb, certs):
    tls_port = free_port()
    server = start_leakdb("--storage", "memory", *tls_flags(certs, tls_port))
    wait_for_port(tls_port, server.process)
    server.tls_port = tls_port
    return server


def test_tls_and_tcp_ports_serve_the_same_data(tls_server, certs):
    secure = tls_client(tls_server.tls_port, certs)
    assert secure.set("k", "over tls")
    assert tls_server.client().get("k") == b"over tls"
    assert (
        redis.from_url(f"rediss://127.0.0.1:{tls_server.tls_port}", ssl_ca_certs=str(certs / "ca.crt")).get(
            "k"
        )
        == b"over tls"
    )
    tls_args = ["--tls", "--cacert", str(certs / "ca.crt"), "-p", str(tls_server.tls_port)]
    cli = subprocess.run([require("redis-cli"), *tls_args, "get", "k"], capture_output=True, text=True)
    assert cli.stdout == "over tls\n", cli.stderr
    # A large value crosses many TLS records in both directions.
    big = os.urandom(3 * 1024 * 1024)
    secure.set("big", big)
    assert secure.get("big") == big
    assert secure.info("server")["redis_version"]
    secure.close()


def test_redis_benchmark_over_tls(tls_server, certs):
    bench = subprocess.run(
        [require("redis-benchmark"), "--tls", "--cacert", str(certs / "ca.crt"),
         "-p", str(tls_server.tls_port), "-t", "set,get", "-n", "2000", "-P", "16", "-q", "--csv"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert bench.returncode == 0 and '"SET"' in bench.stdout and '"GET"' in bench.stdout, bench.stderr


def test_mutual_tls_refuses_a_client_without_a_certificate(start_leakdb, certs):
    tls_port = free_port()
    server = start_leakdb("--storage", "memory", *tls_flags(certs, tls_port, auth="yes"))
    wait_for_port(tls_port, server.process)
    assert tls_client(tls_port, certs, with_cert=True).ping()
    with pytest.raises(redis.ConnectionError):
        tls_client(tls_port, certs).ping()
    assert server.client().ping(), "the server survives the refused handshake"


def test_a_plain_tcp_client_on_the_tls_port_is_closed(tls_server):
    with socket.create_connection(("127.0.0.1", tls_server.tls_port), timeout=30) as sock:
        sock.sendall(b"*1\r\n$4\r\nPING\r\n")
        received = b""
        while True:
            try:
                chunk = sock.recv(4096)
            except ConnectionResetError:
                break  # closed with a reset: the server dropped the failed handshake
            if not chunk:
                break
            received += chunk
    assert b"PONG" not in received


def test_stalled_and_bogus_handshakes_do_not_hold_up_others(tls_server, certs):
    stalled = socket.create_connection(("127.0.0.1", tls_server.tls_port))
    bogus = socket.create_connection(("127.0.0.1", tls_server.tls_port))
    bogus.sendall(b"\x16\x03\x01\x00\x05hello")  # the start of a TLS record, then nonsense
    half = socket.create_connection(("127.0.0.1", tls_server.tls_port))
    half.sendall(ssl_client_hello_prefix(tls_server.tls_port, certs))  # a real hello, cut short
    try:
        for _ in range(5):
            assert tls_client(tls_server.tls_port, certs).ping()
            assert tls_server.client().ping()
    finally:
        for sock in (stalled, bogus, half):
            sock.close()


def ssl_client_hello_prefix(port: int, certs: Path) -> bytes:
    """The first bytes of a genuine ClientHello, as an ssl.MemoryBIO client writes them."""
    context = ssl.create_default_context(cafile=str(certs / "ca.crt"))
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    session = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        session.do_handshake()
    hello = outgoing.read()
    return hello[: len(hello) // 2]


def peer_common_name(port: int, certs: Path) -> str:
    context = ssl.create_default_context(cafile=str(certs / "ca.crt"))
    with (
        socket.create_connection(("127.0.0.1", port)) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        subject = dict(item[0] for item in tls.getpeercert()["subject"])
    return subject["commonName"]


def test_config_set_reloads_certificates_for_new_connections(tls_server, certs):
    assert peer_common_name(tls_server.tls_port, certs) == "first"
    before = tls_client(tls_server.tls_port, certs)
    assert before.ping()
    admin = tls_server.client()
    # A key that does not match the certificate is refused and changes nothing.
    with pytest.raises(redis.ResponseError, match="Unable to update TLS configuration"):
        admin.config_set("tls-key-file", str(certs / "ca.key"))
    assert admin.config_get("tls-key-file")["tls-key-file"] == str(certs / "server.key")
    assert peer_common_name(tls_server.tls_port, certs) == "first"
    admin.execute_command(
        "CONFIG",
        "SET",
        "tls-cert-file",
        str(certs / "server2.crt"),
        "tls-key-file",
        str(certs / "server2.key"),
    )
    assert peer_common_name(tls_server.tls_port, certs) == "second"
    assert before.ping(), "connections made before the reload stay up"


def test_config_set_tls_refusals_match_redis(start_leakdb, certs, tmp_path):
    """A CONFIG SET that would break TLS is refused with Redis's words, and the settings stay."""
    replies = {}
    redis_tls = free_port()
    oracle = ServerProcess(redis_argv("--port", str(free_port()), *tls_flags(certs, redis_tls)), redis_tls,
                           cwd=str(tmp_path))  # fmt: skip
    try:
        ours_tls = free_port()
        ours = start_leakdb("--storage", "memory", *tls_flags(certs, ours_tls))
        wait_for_port(ours_tls, ours.process)
        for name, port in (("redis", redis_tls), ("leakdb", ours_tls)):
            client = tls_client(port, certs)
            try:
                client.config_set("tls-cert-file", str(tmp_path / "missing.crt"))
                replies[name] = "OK"
            except redis.ResponseError as exc:
                replies[name] = str(exc)
            replies[name + " kept"] = client.config_get("tls-cert-file")["tls-cert-file"]
            client.close()
    finally:
        oracle.stop()
    assert replies["leakdb"] == replies["redis"]
    assert replies["leakdb kept"] == replies["redis kept"] == str(certs / "server.crt")


def test_tls_settings_in_config_get_match_redis(certs, tmp_path):
    """The tls-* and unixsocket* names CONFIG GET knows, with their defaults, are Redis's."""
    from conftest import ServerProcess as Process

    port, ours_port = free_port(), free_port()
    oracle = Process(redis_argv("--port", str(port)), port, cwd=str(tmp_path))
    ours = Process(leakdb_argv(ours_port, "--storage", "memory"), ours_port, cwd=str(tmp_path))
    try:
        expected = redis.Redis(port=port).config_get("tls-*")
        expected.update(redis.Redis(port=port).config_get("unixsocket*"))
        actual = redis.Redis(port=ours_port).config_get("tls-*")
        actual.update(redis.Redis(port=ours_port).config_get("unixsocket*"))
    finally:
        oracle.stop()
        ours.stop()
    assert actual == expected
    assert re.fullmatch(r"\d+", actual["tls-port"])
