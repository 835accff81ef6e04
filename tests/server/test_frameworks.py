"""Framework caches end to end against a real leakdb-server: Django's RedisCache, Flask-Caching's
RedisCache and redis-py's ``from_url`` defaults (CLIENT SETINFO on connect, health-check PINGs).

The server runs as the cache it is meant to be: memory mode, a maxmemory and allkeys-lru.  Django's
settings can be configured once per process, so one server serves the whole module.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis
from conftest import ServerProcess, assert_deadline, free_port, leakdb_argv, wall_ms

# One cache server and Django's process-wide settings for the module: run it on one xdist worker.
pytestmark = pytest.mark.xdist_group("frameworks")

django = pytest.importorskip("django")
flask_caching = pytest.importorskip("flask_caching")


@pytest.fixture(scope="module")
def cache_server(tmp_path_factory) -> Iterator[ServerProcess]:
    port = free_port()
    flags = ["--storage", "memory", "--maxmemory", "200mb", "--maxmemory-policy", "allkeys-lru"]
    server = ServerProcess(leakdb_argv(port, *flags), port, cwd=str(tmp_path_factory.mktemp("cache")))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def django_cache(cache_server):
    from django.conf import settings

    location = f"redis://127.0.0.1:{cache_server.port}/0"
    backend = "django.core.cache.backends.redis.RedisCache"
    if not settings.configured:
        settings.configure(CACHES={"default": {"BACKEND": backend, "LOCATION": location}})
        django.setup()
    from django.core.cache.backends.redis import RedisCache

    cache = RedisCache(location, {})
    yield cache
    cache.close()


@pytest.fixture
def dj(django_cache):
    django_cache.clear()
    return django_cache


# -- Django -----------------------------------------------------------------------------------------


def test_django_settings_cache_is_served(django_cache):
    from django.core.cache import caches

    cache = caches["default"]
    cache.set("greeting", {"text": "hello", "n": [1, 2, 3]})
    assert cache.get("greeting") == {"text": "hello", "n": [1, 2, 3]}
    assert cache.delete("greeting") is True
    assert cache.get("greeting", "gone") == "gone"


def test_django_get_set_add_delete(dj):
    assert dj.get("missing") is None
    assert dj.get("missing", 42) == 42
    dj.set("k", "v")
    assert dj.get("k") == "v"
    assert dj.add("k", "other") is False
    assert dj.add("new", "value") is True
    assert dj.get("new") == "value"
    assert dj.has_key("new")
    assert dj.delete("new") is True
    assert dj.delete("new") is False
    assert dj.get_or_set("computed", lambda: 7) == 7
    assert dj.get_or_set("computed", lambda: 8) == 7


def test_django_many(dj):
    assert dj.set_many({"a": 1, "b": b"two", "c": [3]}) == []
    assert dj.get_many(["a", "b", "c", "nope"]) == {"a": 1, "b": b"two", "c": [3]}
    dj.delete_many(["a", "b"])
    assert dj.get_many(["a", "b", "c"]) == {"c": [3]}
    before = wall_ms()
    dj.set_many({"x": 1, "y": 2}, timeout=60)
    after = wall_ms()
    client = redis.Redis.from_url(dj._servers[0])
    assert_deadline(client.pexpiretime(dj.make_and_validate_key("y")), 60_000, before, after)
    client.close()


def test_django_incr_decr(dj):
    dj.set("counter", 10)
    assert dj.incr("counter") == 11
    assert dj.incr("counter", 5) == 16
    assert dj.decr("counter", 6) == 10
    assert dj.get("counter") == 10
    with pytest.raises(ValueError):
        dj.incr("no-such-counter")


def test_django_timeouts_and_touch(dj):
    client = redis.Redis.from_url(dj._servers[0])
    key = dj.make_and_validate_key
    before = wall_ms()
    dj.set("short", "s", timeout=1)
    after_short = wall_ms()
    dj.set("forever", "f", timeout=None)
    dj.set("default", "d")  # Django's default timeout: 300 s
    after = wall_ms()
    short = client.pexpiretime(key("short"))
    if short == -2:  # gone already: only once its second is over
        assert wall_ms() >= before + 1000
    else:
        assert_deadline(short, 1000, before, after_short)
    assert client.ttl(key("forever")) == -1
    assert_deadline(client.pexpiretime(key("default")), 300_000, before, after)
    before = wall_ms()
    assert dj.touch("forever", 100) is True
    assert_deadline(client.pexpiretime(key("forever")), 100_000, before, wall_ms())
    assert dj.touch("default", None) is True
    assert client.ttl(dj.make_and_validate_key("default")) == -1
    assert dj.touch("missing", 10) is False
    dj.set("zero", "z", timeout=0)  # Django: a zero timeout expires the key at once
    assert dj.get("zero") is None
    time.sleep(1.05)
    assert dj.get("short") is None
    client.close()


def test_django_versioning(dj):
    dj.set("v", "one", version=1)
    dj.set("v", "two", version=2)
    assert dj.get("v") == "one"
    assert dj.get("v", version=2) == "two"
    assert dj.incr_version("v", version=2) == 3
    assert dj.get("v", version=3) == "two"
    assert dj.get("v", version=2) is None
    assert dj.decr_version("v", version=3) == 2
    assert dj.get("v", version=2) == "two"


def test_django_clear(dj):
    dj.set_many({"a": 1, "b": 2})
    dj.clear()
    assert dj.get_many(["a", "b"]) == {}


# -- Flask-Caching -----------------------------------------------------------------------------------


@pytest.fixture
def flask_app(cache_server):
    from flask import Flask
    from flask_caching import Cache

    app = Flask(__name__)
    app.config.update(
        CACHE_TYPE="RedisCache",
        CACHE_REDIS_URL=f"redis://localhost:{cache_server.port}/0",
        CACHE_DEFAULT_TIMEOUT=60,
        CACHE_KEY_PREFIX="flask_",
    )
    cache = Cache(app)
    with app.app_context():
        cache.clear()
    return app, cache


def test_flask_cached_view(flask_app):
    app, cache = flask_app
    calls = []

    @app.route("/page")
    @cache.cached(timeout=30)
    def page():
        calls.append(1)
        return f"rendered {len(calls)}"

    client = app.test_client()
    assert client.get("/page").get_data(as_text=True) == "rendered 1"
    assert client.get("/page").get_data(as_text=True) == "rendered 1"
    assert len(calls) == 1
    with app.app_context():
        cache.clear()
    assert client.get("/page").get_data(as_text=True) == "rendered 2"


def test_flask_memoize(flask_app):
    app, cache = flask_app
    calls = []

    @cache.memoize(timeout=30)
    def square(n):
        calls.append(n)
        return n * n

    with app.app_context():
        assert [square(3), square(3), square(4)] == [9, 9, 16]
        assert calls == [3, 4]
        cache.delete_memoized(square, 3)
        assert square(3) == 9
        assert calls == [3, 4, 3]
        cache.delete_memoized(square)
        assert square(4) == 16
        assert calls == [3, 4, 3, 4]


def test_flask_cache_api(flask_app):
    app, cache = flask_app
    with app.app_context():
        assert cache.set("a", {"x": 1})
        assert cache.get("a") == {"x": 1}
        assert cache.add("a", 2) is False
        assert cache.has("a")
        cache.set_many({"b": 2, "c": 3})
        assert cache.get_many("a", "b", "c", "d") == [{"x": 1}, 2, 3, None]
        backend = cache.cache  # flask_caching.backends.RedisCache: counters are INCRBY/DECRBY
        assert backend.inc("n") == 1
        assert backend.inc("n", 4) == 5
        assert backend.dec("n", 2) == 3
        assert cache.delete("a")
        assert cache.get("a") is None
        cache.delete_many("b", "c")
        assert cache.get_dict("b", "c") == {"b": None, "c": None}


# -- redis-py defaults ---------------------------------------------------------------------------------


def test_redis_from_url_defaults(cache_server):
    client = redis.Redis.from_url(f"redis://localhost:{cache_server.port}/0", health_check_interval=0.2)
    assert client.ping() is True
    info = client.client_info()  # redis-py sent CLIENT SETINFO lib-name/lib-ver on connect
    assert info["lib-name"] == "redis-py"
    assert info["lib-ver"] == redis.__version__
    observer = redis.Redis(port=cache_server.port)  # counts commands without health checks of its own
    processed = observer.info("stats")["total_commands_processed"]
    time.sleep(0.3)  # idle past the interval: the next command is preceded by a health-check PING
    assert client.set("hc", "1") is True
    # The observer's INFO, the health-check PING and the SET:
    assert observer.info("stats")["total_commands_processed"] == processed + 3
    observer.close()
    assert client.get("hc") == b"1"
    client.close()


def test_redis_from_url_database_and_pool(cache_server):
    pool = redis.ConnectionPool.from_url(f"redis://localhost:{cache_server.port}/3", decode_responses=True)
    client = redis.Redis(connection_pool=pool)
    client.set("in-three", "yes")
    assert client.get("in-three") == "yes"
    assert redis.Redis(port=cache_server.port, db=0).get("in-three") is None
    client.flushdb()
    pool.disconnect()
