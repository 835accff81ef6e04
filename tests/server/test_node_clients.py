"""Node.js clients that run Lua on the server, from the npm registry, against leakdb-server and
redis-server: ioredis's defineCommand (EVALSHA, with EVAL after NOSCRIPT, pipelined too) and a BullMQ
queue whose worker processes a delayed job.  The scripts live in tests/node (package.json and
package-lock.json pin the packages); ``npm ci`` installs them when node_modules is missing.
"""

from __future__ import annotations

import fcntl
import json
import subprocess
from pathlib import Path

import pytest
import redis
from conftest import require

NODE_DIR = Path(__file__).resolve().parent.parent / "node"
PACKAGES = ("ioredis", "bullmq")
# One worker runs every test here; the lock also keeps a second pytest from running `npm ci` (which
# empties node_modules first) while another one's tests load the packages.
pytestmark = pytest.mark.xdist_group("node-clients")


@pytest.fixture(scope="module")
def node() -> str:
    binary = require("node")
    with open(NODE_DIR / ".install-lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not all((NODE_DIR / "node_modules" / name / "package.json").is_file() for name in PACKAGES):
            npm = require("npm")
            subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE_DIR, check=True
            )
    return binary


@pytest.fixture(params=["redis", "leakdb"])
def port(request, redis_server, leakdb_server) -> int:
    process = redis_server if request.param == "redis" else leakdb_server
    client = redis.Redis(port=process.port)
    client.flushall()
    client.script_flush()
    client.close()
    return process.port


def run(node: str, script: str, port: int) -> dict:
    done = subprocess.run(
        [node, script, str(port)], cwd=NODE_DIR, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_ioredis_define_command(node, port):
    summary = run(node, "ioredis_define_command.js", port)
    assert summary["third"] == [2, "capped"]
    assert "Unknown Redis command called from script" in summary["failure"]


def test_bullmq_processes_a_delayed_job(node, port):
    summary = run(node, "bullmq_delayed_job.js", port)
    assert summary["results"] == {"now": 2, "delayed": 42}
