"""A Celery app for tests/server/test_script_clients.py, imported by a real ``celery worker`` process:
broker and result backend both on the server named by ``LEAKDB_TEST_REDIS_URL``."""

from __future__ import annotations

import os

from celery import Celery

URL = os.environ.get("LEAKDB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
app = Celery("leakdb_test", broker=URL, backend=URL)
app.conf.update(
    broker_connection_retry_on_startup=True,
    result_expires=600,
    task_default_queue="leakdb-test",
    worker_hijack_root_logger=False,
)


@app.task
def add(x: int, y: int) -> int:
    return x + y


@app.task
def total(numbers: list[int]) -> int:
    return sum(numbers)
