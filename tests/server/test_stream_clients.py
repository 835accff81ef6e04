"""Stream consumer groups as applications use them: redis-py's helpers (xgroup_*, xreadgroup, xack,
xpending, xpending_range, xclaim, xautoclaim, xinfo_*) and walrus's ConsumerGroup, each scenario run
against redis-server and against leakdb-server, with the same results (idle times left out: they
are the servers' clocks)."""

from __future__ import annotations

import pytest
import redis
import walrus

IDLE_FIELDS = {"idle", "time_since_delivered", "seen-time", "inactive"}


def _without_times(value):
    if isinstance(value, dict):
        return {k: _without_times(v) for k, v in value.items() if k not in IDLE_FIELDS}
    if isinstance(value, list | tuple):
        return [_without_times(item) for item in value]
    if isinstance(value, int) and value > 10**12:  # a delivery or seen time, in ms since the epoch
        return "time"
    return value


def _redis_py_scenario(client: redis.Redis) -> list:
    client.flushall()
    out = []
    for n in range(1, 8):
        out.append(client.xadd("jobs", {"job": n, "payload": "x" * n}, id=f"{n}-0"))
    out.append(client.xgroup_create("jobs", "workers", id="0"))
    out.append(client.xgroup_create("fresh", "workers", id="$", mkstream=True))
    out.append(client.xgroup_createconsumer("jobs", "workers", "idle-worker"))
    out.append(client.xreadgroup("workers", "w1", {"jobs": ">"}, count=3))
    out.append(client.xreadgroup("workers", "w2", {"jobs": ">"}, count=2, noack=True))
    out.append(client.xreadgroup("workers", "w3", {"jobs": ">", "fresh": ">"}, block=10))
    out.append(client.xreadgroup("workers", "w1", {"jobs": "0"}))
    out.append(client.xack("jobs", "workers", "1-0", "6-0"))
    out.append(client.xpending("jobs", "workers"))
    out.append(client.xpending_range("jobs", "workers", "-", "+", 10))
    out.append(client.xpending_range("jobs", "workers", "-", "+", 10, consumername="w1"))
    out.append(client.xclaim("jobs", "workers", "w4", 0, ["2-0"]))
    out.append(client.xclaim("jobs", "workers", "w4", 0, ["3-0"], justid=True, retrycount=5))
    out.append(client.xclaim("jobs", "workers", "w5", 0, ["4-0"], force=True, idle=1000))
    out.append(client.xautoclaim("jobs", "workers", "w6", 0, "0-0", count=2))
    out.append(client.xautoclaim("jobs", "workers", "w6", 0, "0-0", justid=True))
    out.append(client.xinfo_groups("jobs"))
    out.append(client.xinfo_consumers("jobs", "workers"))
    out.append(client.xinfo_stream("jobs"))
    out.append(client.xinfo_stream("jobs", full=True))
    out.append(client.xgroup_delconsumer("jobs", "workers", "w6"))
    out.append(client.xgroup_setid("jobs", "workers", "0", entries_read=0))
    out.append(client.xread({"jobs": "5-0"}, count=1))
    out.append(client.xread({"jobs": "$"}, block=10))
    out.append(client.xgroup_destroy("jobs", "workers"))
    out.append(client.xinfo_groups("jobs"))
    try:
        client.xreadgroup("workers", "w1", {"jobs": ">"})
    except redis.ResponseError as exc:
        out.append(str(exc))
    return _without_times(out)


@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
def test_redis_py_stream_helpers_match_redis(redis_server, leakdb_server, protocol):
    results = []
    for server in (redis_server, leakdb_server):
        with server.client(protocol=protocol) as client:
            results.append(_redis_py_scenario(client))
    assert results[1] == results[0]


def _walrus_scenario(port: int) -> list:
    db = walrus.Database(port=port)
    db.flushall()
    out = []
    group = db.consumer_group("workers", ["orders", "events"])
    out.append(group.create())
    orders, events = group.orders, group.events
    for n in range(5):
        out.append(orders.add({"order": n}, id=f"{n + 1}-0"))
    out.append(events.add({"kind": "started"}, id="1-1"))
    out.append(group.read(count=2))
    out.append(group.read())
    other = group.consumer("second")
    out.append(other.read())
    out.append(orders.ack("1-0", "2-0"))
    out.append(orders.pending())
    out.append(orders.claim("3-0", min_idle_time=0))
    out.append(other.orders.autoclaim("third", min_idle_time=0, count=2))
    out.append(group.stream_info())
    out.append(orders.groups_info())
    out.append(orders.consumers_info())
    out.append(orders.info())
    out.append(group.set_id("0"))
    out.append(group.read(count=1))
    out.append(group.destroy())
    db.close()
    return _without_times(out)


def test_walrus_consumer_groups_match_redis(redis_server, leakdb_server):
    results = [_walrus_scenario(server.port) for server in (redis_server, leakdb_server)]
    assert results[1] == results[0]
