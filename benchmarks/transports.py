"""``python -m benchmarks.transports [--rounds N]``: SET and GET over TCP, a unix socket and TLS.

LeakDB (memory mode) and redis-server each listen on all three at once; redis-benchmark -c 50 runs
SET and GET at pipeline 1 and 16 over each transport, alternating the two servers within every
round.  Medians are printed with LeakDB's ratio to redis-server on the same transport.
Certificates are made with the ``openssl`` command in a temporary directory.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
from collections import defaultdict
from pathlib import Path

from .common import progress, run
from .servers import REDIS, ServerPool, free_port, leakdb_spec
from .wire import KEYSPACE, VALUE_SIZE, parse_csv

REQUESTS = {1: 100_000, 16: 400_000}


def make_certificates(directory: Path) -> dict[str, Path]:
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-days", "2",
            "-subj", "/CN=bench CA", "-out", "ca.crt")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-subj", "/CN=bench",
            "-out", "server.csr")  # fmt: skip
    (directory / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "server.ext", "-out", "server.crt")  # fmt: skip
    return {name: directory / f"{name}" for name in ("ca.crt", "server.crt", "server.key")}


def transport_flags(certs: dict[str, Path], tls_port: int, socket_path: Path) -> tuple[str, ...]:
    return (
        "--unixsocket", str(socket_path), "--tls-port", str(tls_port),
        "--tls-cert-file", str(certs["server.crt"]), "--tls-key-file", str(certs["server.key"]),
        "--tls-ca-cert-file", str(certs["ca.crt"]), "--tls-auth-clients", "no",
    )  # fmt: skip


def benchmark(target: list[str], pipeline: int) -> dict[str, float]:
    command = [
        "redis-benchmark", *target, "-c", "50", "-P", str(pipeline), "-n", str(REQUESTS[pipeline]),
        "-r", str(KEYSPACE), "-d", str(VALUE_SIZE), "-t", "set,get", "--csv", "-q",
    ]  # fmt: skip
    rows = parse_csv(run(command, timeout=600).stdout)
    return {test: metrics["rps"] for test, metrics in rows.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.transports", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    samples: dict[tuple[str, str, int, str], list[float]] = defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="leakdb-transports-") as tmp:
        root = Path(tmp)
        certs = make_certificates(root)
        targets = {}
        with ServerPool(root / "servers") as pool:
            for spec in (leakdb_spec("memory"), REDIS):
                tls_port, path = free_port(), root / f"{spec.kind}.sock"
                server = pool.start(spec, extra=transport_flags(certs, tls_port, path))
                targets[spec.name] = {
                    "tcp": ["-p", str(server.port)],
                    "unix": ["-s", str(path)],
                    "tls": ["--tls", "--cacert", str(certs["ca.crt"]), "-p", str(tls_port)],
                }
            for round_number in range(1, args.rounds + 1):
                for transport in ("tcp", "unix", "tls"):
                    for pipeline in (1, 16):
                        for name, target in targets.items():
                            progress(f"transports: round {round_number} {transport} -P {pipeline} {name}")
                            for test, rps in benchmark(target[transport], pipeline).items():
                                samples[(name, transport, pipeline, test)].append(rps)
    medians = {key: statistics.median(values) for key, values in samples.items()}
    print(f"{'transport':<9} {'P':>3} {'test':<4} {'leakdb':>10} {'redis':>10} {'ratio':>7}")
    for transport in ("tcp", "unix", "tls"):
        for pipeline in (1, 16):
            for test in ("SET", "GET"):
                ours = medians[(leakdb_spec("memory").name, transport, pipeline, test)]
                theirs = medians[(REDIS.name, transport, pipeline, test)]
                ratio = ours / theirs
                print(
                    f"{transport:<9} {pipeline:>3} {test:<4} {ours:>10,.0f} {theirs:>10,.0f} {ratio:>6.2f}x"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
