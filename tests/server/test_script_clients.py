"""The libraries that need server-side Lua, run for real against leakdb-server and, as the reference,
against redis-server: every test is parametrised over both and must pass on both.

redis-py's Lock (sync and asyncio), a Celery worker (kombu's broker and the result backend: a task, a
group, a chord), RQ's scheduler (``rq worker --with-scheduler`` running an ``enqueue_in`` job), Huey's
schedule, dramatiq's Redis broker, every ``limits`` strategy, python-redis-lock, django-redis's
cache.lock and pottery's Redlock.  Workers run in burst or short modes and waits are bounded, never
timed.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

TESTS_DIR = Path(__file__).resolve().parent


@pytest.fixture(params=["redis", "leakdb"])
def server(request, redis_server, leakdb_server) -> Iterator[tuple[int, redis.Redis]]:
    """(port, client) of a flushed server with no scripts or functions: redis-server or leakdb-server."""
    process = redis_server if request.param == "redis" else leakdb_server
    client = process.client()
    client.flushall()
    client.script_flush()
    client.function_flush()
    yield process.port, client
    client.close()


def url(port: int) -> str:
    return f"redis://127.0.0.1:{port}/0"


def wait_for(condition, attempts: int = 600, pause: float = 0.05):
    """Poll `condition` until it is truthy (bounded by attempts, not by a deadline)."""
    for _ in range(attempts):
        value = condition()
        if value:
            return value
        time.sleep(pause)
    raise AssertionError("condition never became true")


# -- redis-py Lock ---------------------------------------------------------------------------------


def test_redis_py_lock(server):
    _, client = server
    lock = client.lock("resource", timeout=30)
    assert lock.acquire(blocking=False)
    rival = client.lock("resource", timeout=30)
    assert not rival.acquire(blocking=False)
    assert lock.extend(30)
    assert 30_000 < client.pttl("resource") <= 60_000
    assert lock.reacquire()
    rival.local.token = b"a token that does not own the lock"
    with pytest.raises(redis.exceptions.LockNotOwnedError):
        rival.release()
    lock.release()
    assert not lock.locked()
    assert rival.acquire(blocking=True, blocking_timeout=5)
    rival.release()


def test_redis_py_asyncio_lock(server):
    import redis.asyncio

    port, _ = server

    async def scenario() -> None:
        client = redis.asyncio.Redis(port=port)
        lock = client.lock("async-resource", timeout=30)
        assert await lock.acquire(blocking=False)
        rival = client.lock("async-resource", timeout=30)
        assert not await rival.acquire(blocking=False)
        assert await lock.extend(10)
        assert await lock.reacquire()
        rival.local.token = b"a token that does not own the lock"
        with pytest.raises(redis.exceptions.LockNotOwnedError):
            await rival.release()
        await lock.release()
        assert await rival.acquire(blocking=True, blocking_timeout=5)
        await rival.release()
        await client.aclose()

    asyncio.run(scenario())


# -- Celery ----------------------------------------------------------------------------------------


@pytest.fixture
def celery_worker(server):
    pytest.importorskip("celery")
    port, _ = server
    env = {
        **os.environ,
        "LEAKDB_TEST_REDIS_URL": url(port),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")])),
    }
    argv = [
        sys.executable, "-m", "celery", "-A", "celery_tasks", "worker", "--pool=solo", "--without-gossip",
        "--without-mingle", "--without-heartbeat", "--loglevel=WARNING",
    ]  # fmt: skip
    worker = subprocess.Popen(
        argv, env=env, cwd=TESTS_DIR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    from celery import Celery

    # A client app of its own: the tasks are sent by name to the worker's app.
    app = Celery("leakdb_test", broker=url(port), backend=url(port))
    app.conf.update(task_default_queue="leakdb-test", broker_connection_retry_on_startup=True)
    yield app
    app.close()
    worker.terminate()
    output, _ = worker.communicate(timeout=30)
    assert "unknown command" not in output, output


def test_celery_task_group_and_chord(celery_worker):
    from celery import chord, group

    app = celery_worker
    add = app.signature("celery_tasks.add")
    assert app.send_task("celery_tasks.add", (2, 3)).get(timeout=60) == 5
    assert group(add.clone((n, n)) for n in range(4)).apply_async().get(timeout=60) == [0, 2, 4, 6]
    total = app.signature("celery_tasks.total")
    assert chord(add.clone((n, 1)) for n in range(3))(total).get(timeout=60) == 6


# -- RQ --------------------------------------------------------------------------------------------


def test_rq_scheduler_runs_an_enqueue_in_job(server):
    rq = pytest.importorskip("rq")
    port, client = server
    queue = rq.Queue("scheduled", connection=client)
    job = queue.enqueue_in(datetime.timedelta(seconds=1), "rq_jobs.add", 20, 22)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")])),
    }
    argv = [sys.executable, "-m", "rq.cli", "worker", "--with-scheduler", "--url", url(port), "scheduled"]
    worker = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: (job.refresh() or job.get_status()) == "finished", attempts=1200)
        assert job.return_value() == 42
    finally:
        worker.terminate()
        output, _ = worker.communicate(timeout=30)
    assert "unknown command" not in output, output


# -- Huey ------------------------------------------------------------------------------------------


def test_huey_scheduled_task(server):
    huey_module = pytest.importorskip("huey")
    port, _ = server
    huey = huey_module.RedisHuey(f"leakdb-{uuid.uuid4().hex}", url=url(port), results=True)

    @huey.task()
    def multiply(a: int, b: int) -> int:
        return a * b

    result = multiply.schedule(args=(6, 7), delay=3600)
    # What a consumer's worker does with a task whose time has not come: put it on the schedule.
    waiting = huey.dequeue()
    assert waiting.id == result.id
    huey.add_schedule(waiting)
    assert huey.scheduled_count() == 1
    # The consumer's scheduler asks for the tasks due by a time; an hour ahead, this one is due.
    later = datetime.datetime.now() + datetime.timedelta(hours=2)
    due = huey.read_schedule(later)
    assert [task.id for task in due] == [result.id]
    huey.execute(due[0], timestamp=later)
    assert result.get() == 42
    assert huey.scheduled_count() == 0


# -- dramatiq --------------------------------------------------------------------------------------


def test_dramatiq_redis_broker(server):
    dramatiq = pytest.importorskip("dramatiq")
    from dramatiq.brokers.redis import RedisBroker
    from dramatiq.results import Results
    from dramatiq.results.backends import RedisBackend

    port, client = server
    namespace = f"leakdb-{uuid.uuid4().hex}"
    broker = RedisBroker(url=url(port), namespace=namespace)
    broker.add_middleware(Results(backend=RedisBackend(url=url(port), namespace=namespace)))
    dramatiq.set_broker(broker)

    @dramatiq.actor(broker=broker, store_results=True, queue_name="leakdb")
    def square(n: int) -> int:
        client.rpush("dramatiq:ran", n)
        return n * n

    messages = [square.send(n) for n in range(5)]
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        broker.join(square.queue_name, timeout=60_000)
        worker.join()
        assert sorted(int(n) for n in client.lrange("dramatiq:ran", 0, -1)) == list(range(5))
        assert [message.get_result(block=True, timeout=10_000) for message in messages] == [0, 1, 4, 9, 16]
    finally:
        worker.stop()
        broker.close()


# -- limits ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "strategy", ["FixedWindowRateLimiter", "MovingWindowRateLimiter", "SlidingWindowCounterRateLimiter"]
)
def test_limits_strategies(server, strategy):
    limits = pytest.importorskip("limits")
    from limits.storage import storage_from_string

    port, _ = server
    storage = storage_from_string(url(port))
    limiter = getattr(limits.strategies, strategy)(storage)
    rule = limits.parse("3/minute")
    assert [limiter.hit(rule, "user", "42") for _ in range(4)] == [True, True, True, False]
    assert not limiter.test(rule, "user", "42")
    assert limiter.test(rule, "user", "other")
    stats = limiter.get_window_stats(rule, "user", "42")
    assert stats.remaining == 0
    limiter.clear(rule, "user", "42")
    assert limiter.hit(rule, "user", "42")
    assert storage.check()


# -- python-redis-lock, django-redis, pottery -------------------------------------------------------


def test_python_redis_lock(server):
    redis_lock = pytest.importorskip("redis_lock")
    _, client = server
    lock = redis_lock.Lock(client, "shared", expire=60, auto_renewal=False)
    assert lock.acquire(blocking=False)
    rival = redis_lock.Lock(client, "shared", expire=60)
    assert not rival.acquire(blocking=False)
    lock.extend(expire=120)
    assert 60 < client.ttl("lock:shared") <= 120
    with pytest.raises(redis_lock.NotAcquired):
        rival.release()
    lock.release()
    assert rival.acquire(blocking=False)
    redis_lock.reset_all(client)
    assert not client.exists("lock:shared")


def test_django_redis_cache_lock(server):
    pytest.importorskip("django_redis")
    import django
    from django.conf import settings

    port, _ = server
    location = url(port)
    if not settings.configured:
        settings.configure(CACHES={})
        django.setup()
    from django.core.cache.backends.base import InvalidCacheBackendError  # noqa: F401
    from django_redis.cache import RedisCache

    cache = RedisCache(location, {"OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"}})
    lock = cache.lock("report", timeout=30)
    assert lock.acquire(blocking=False)
    assert not cache.lock("report", timeout=30).acquire(blocking=False)
    lock.release()
    with cache.lock("report", timeout=30, blocking_timeout=5):
        cache.set("inside", 1)
    assert cache.get("inside") == 1


def test_pottery_redlock(server):
    pottery = pytest.importorskip("pottery")
    _, client = server
    lock = pottery.Redlock(key="printer", masters={client}, auto_release_time=30)
    assert lock.acquire(blocking=False)
    rival = pottery.Redlock(key="printer", masters={client}, auto_release_time=30)
    assert not rival.acquire(blocking=False)
    assert lock.locked() > 0
    lock.extend()
    lock.release()
    assert rival.acquire(blocking=False)
    rival.release()
