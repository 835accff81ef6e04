"""Commands run in process through a storage: same semantics and same data as over the wire."""

from __future__ import annotations

import pytest

from leakdb import DefaultStorage, PersistentStorage
from leakdb.engine.keyspace import now_ms
from leakdb.errors import CommandError


def test_commands_run_against_the_storage_data():
    storage = DefaultStorage()
    storage.set("n", 2)
    assert storage.execute_command("INCRBY", "n", 5) == 7
    assert storage.get("n") == 7
    before = now_ms()
    assert storage.execute_command("set", b"k", "v", "EX", 100) == b"OK"
    after = now_ms()
    assert storage.execute_command("MGET", "k", "missing") == [b"v", None]
    assert before + 100_000 <= storage.keyspace[0].deadline(b"k") <= after + 100_000


def test_error_replies_raise_with_redis_words():
    storage = DefaultStorage()
    storage.execute_command("SET", "s", "abc")
    with pytest.raises(CommandError, match=r"^ERR value is not an integer or out of range$"):
        storage.execute_command("INCR", "s")
    with pytest.raises(CommandError, match="wrong number of arguments for 'get'"):
        storage.execute_command("GET")
    with pytest.raises(CommandError, match="unknown command"):
        storage.execute_command("NOSUCH")
    with pytest.raises(CommandError, match="needs a running server"):
        storage.execute_command("CONFIG", "GET", "port")


def test_other_databases(tmp_path):
    storage = PersistentStorage(filename=str(tmp_path / "data.db"))
    storage.execute_command("SET", "k", "in-db-3", db=3)
    assert storage.execute_command("GET", "k") is None
    storage.close()
    reopened = PersistentStorage(filename=str(tmp_path / "data.db"))
    assert reopened.execute_command("GET", "k", db=3) == b"in-db-3"
    reopened.close()
