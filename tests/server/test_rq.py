"""RQ, the Redis job queue, against a real leakdb-server: jobs enqueued with redis-py are run by a real
``rq worker --burst`` process, as an application would deploy it.

What the worker executed is read from a list the jobs themselves append to (``tests/rq_jobs.py``).
RQ's own bookkeeping (statuses, return values, the failed registry, dependencies, retries) is checked
separately: RQ stores each job's result with XADD (``MAXLEN ~ 10``) and reads it back with XREVRANGE,
and the test names any command the worker sent that LeakDB refused as unknown.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from conftest import HANG_SECONDS

rq = pytest.importorskip("rq")
from rq.registry import FailedJobRegistry  # noqa: E402

TESTS_DIR = Path(__file__).resolve().parent
UNKNOWN_COMMAND = re.compile(r"unknown command '([^']+)'")


@pytest.fixture
def rq_server(start_leakdb) -> Iterator[redis.Redis]:
    """A redis-py client on a fresh memory-mode leakdb-server of its own."""
    client = start_leakdb("--storage", "memory").client()
    yield client
    client.close()


def run_burst_worker(client: redis.Redis) -> subprocess.CompletedProcess:
    """Run ``rq worker --burst`` until the queue is empty; it imports the jobs from tests/."""
    port = client.connection_pool.connection_kwargs["port"]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")])),
    }
    argv = [sys.executable, "-m", "rq.cli", "worker", "--burst", "--url", f"redis://127.0.0.1:{port}"]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=HANG_SECONDS)


def unknown_commands(worker: subprocess.CompletedProcess) -> list[str]:
    """The commands the worker sent that the server refused as unknown, in order of first sight."""
    return list(dict.fromkeys(UNKNOWN_COMMAND.findall(worker.stdout + worker.stderr)))


def ran(client: redis.Redis) -> list[str]:
    return [line.decode() for line in client.lrange("rq-test:ran", 0, -1)]


def test_burst_worker_runs_every_enqueued_job(rq_server):
    queue = rq.Queue("default", connection=rq_server)
    for n in range(5):
        queue.enqueue("rq_jobs.add", n, 10 * n)
    queue.enqueue("rq_jobs.fail", "boom")
    assert queue.count == 6

    worker = run_burst_worker(rq_server)

    assert worker.returncode == 0, worker.stderr
    assert ran(rq_server) == [f"add {n} {10 * n}" for n in range(5)] + ["fail boom"]
    assert queue.count == 0


def test_results_failures_dependencies_and_retries(rq_server):
    queue = rq.Queue("default", connection=rq_server)
    sums = [queue.enqueue("rq_jobs.add", n, n) for n in range(3)]
    failing = queue.enqueue("rq_jobs.fail", "boom")
    first = queue.enqueue("rq_jobs.record", "first")
    second = queue.enqueue("rq_jobs.record", "second", depends_on=first)
    flaky = queue.enqueue("rq_jobs.fails_once", retry=rq.Retry(max=2))

    worker = run_burst_worker(rq_server)

    assert unknown_commands(worker) == [], "RQ sent commands LeakDB does not have"
    assert worker.returncode == 0, worker.stderr
    for n, job in enumerate(sums):
        assert job.get_status() == "finished"
        assert job.return_value() == 2 * n
    assert failing.get_status() == "failed"
    assert failing.id in FailedJobRegistry(queue=queue).get_job_ids()
    traceback = failing.latest_result().exc_string
    assert "ValueError: boom" in traceback and "rq_jobs.py" in traceback
    assert second.get_status() == "finished"
    assert ran(rq_server).index("first") < ran(rq_server).index("second")
    assert flaky.get_status() == "finished" and flaky.return_value() == 2
