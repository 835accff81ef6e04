"""Differential conformance: random command sequences go to redis-server and to leakdb; replies must match.

A hypothesis state machine drives two raw RESP connections, one per server, with commands drawn over
a small alphabet of keys, fields and values so that collisions, wrong types and edge numbers happen
often.  Replies are compared byte for byte (after sorting the members of replies whose order Redis
leaves unspecified).  Some runs speak RESP3, some pipeline their commands, and they move between
databases.  The CI profile runs a bounded number of examples; set LEAKDB_CONFORMANCE_EXAMPLES for
a longer local run.
"""

from __future__ import annotations

import os
import socket

import hiredis
import pytest
from conftest import HANG_SECONDS
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

EXAMPLES = int(os.environ.get("LEAKDB_CONFORMANCE_EXAMPLES", "60"))
STEPS = int(os.environ.get("LEAKDB_CONFORMANCE_STEPS", "40"))

KEYS = [b"a", b"b", b"c", b"n", b"{k}x", b"\x00\r\n"]
FIELDS = [b"f", b"g", b"h"]
VALUES = [b"", b"0", b"1", b"-1", b"10", b"007", b"3.5", b"-0.25", b"abc", b"9223372036854775807"]
VALUES += [b"-9223372036854775808", b"1e3", b"inf", b" 1", b"x\x00y"]
NUMBERS = [b"0", b"1", b"-1", b"2", b"-3", b"100", b"9223372036854775807", b"-9223372036854775808"]
NUMBERS += [b"abc", b"1.5", b""]
FLOATS = [b"0.1", b"-1.5", b"3", b"1e2", b"inf", b"-inf", b"nan", b"abc", b"0x10", b"5.0e3"]
FUTURE = [b"1000", b"5000"]  # seconds: far enough out that nothing expires during a run

key = st.sampled_from(KEYS)
field = st.sampled_from(FIELDS)
value = st.sampled_from(VALUES)
number = st.sampled_from(NUMBERS)
floating = st.sampled_from(FLOATS)
index = st.sampled_from([b"0", b"1", b"-1", b"2", b"-2", b"5", b"-100", b"100"])


def command_strategy() -> st.SearchStrategy[list[bytes]]:
    """One command: every family, valid and invalid arguments alike."""
    c = st.tuples
    strings = st.one_of(
        c(st.just(b"SET"), key, value).map(list),
        c(st.just(b"SET"), key, value, st.sampled_from([b"NX", b"XX", b"GET", b"KEEPTTL"])).map(list),
        c(st.just(b"SET"), key, value, st.sampled_from([b"EX", b"PX"]), st.sampled_from(FUTURE)).map(list),
        c(st.sampled_from([b"GET", b"STRLEN", b"GETDEL", b"INCR", b"DECR"]), key).map(list),
        c(st.sampled_from([b"INCRBY", b"DECRBY"]), key, number).map(list),
        c(st.just(b"INCRBYFLOAT"), key, floating).map(list),
        c(st.sampled_from([b"APPEND", b"SETNX", b"GETSET"]), key, value).map(list),
        c(st.just(b"GETRANGE"), key, index, index).map(list),
        c(st.just(b"SETRANGE"), key, st.sampled_from([b"0", b"3", b"-1", b"x"]), value).map(list),
        st.lists(key, min_size=1, max_size=4).map(lambda ks: [b"MGET", *ks]),
        st.lists(c(key, value), min_size=1, max_size=3).map(
            lambda kv: [b"MSET", *[part for pair in kv for part in pair]]
        ),
        c(st.just(b"MSETNX"), key, value, key, value).map(list),
    )
    keyspace = st.one_of(
        st.lists(key, min_size=1, max_size=3).map(lambda ks: [b"DEL", *ks]),
        st.lists(key, min_size=1, max_size=3).map(lambda ks: [b"EXISTS", *ks]),
        c(st.sampled_from([b"TYPE", b"PERSIST"]), key).map(list),
        c(st.sampled_from([b"TTL", b"PTTL"]), key).map(list),
        c(
            st.sampled_from([b"EXPIRE", b"PEXPIRE"]),
            key,
            st.sampled_from([b"100000", b"0", b"-5", b"x"]),
        ).map(list),
        c(st.just(b"EXPIRE"), key, st.just(b"2000"), st.sampled_from([b"NX", b"XX", b"GT", b"LT"])).map(list),
        c(st.sampled_from([b"RENAME", b"RENAMENX"]), key, key).map(list),
        c(st.just(b"COPY"), key, key).map(list),
        c(st.just(b"COPY"), key, key, st.just(b"REPLACE")).map(list),
        c(st.just(b"MOVE"), key, st.sampled_from([b"0", b"1", b"16"])).map(list),
        st.just([b"KEYS", b"*"]),
        st.sampled_from([b"?", b"[ab]*", b"{*", b"\\*", b"[^a]"]).map(lambda p: [b"KEYS", p]),
        st.just([b"DBSIZE"]),
    )
    hashes = st.one_of(
        c(st.just(b"HSET"), key, field, value).map(list),
        c(st.sampled_from([b"HGET", b"HEXISTS", b"HSTRLEN", b"HDEL"]), key, field).map(list),
        c(st.sampled_from([b"HGETALL", b"HKEYS", b"HVALS", b"HLEN"]), key).map(list),
        c(st.just(b"HINCRBY"), key, field, number).map(list),
        c(st.just(b"HINCRBYFLOAT"), key, field, floating).map(list),
        c(st.just(b"HSETNX"), key, field, value).map(list),
        c(st.just(b"HMGET"), key, field, field).map(list),
    )
    sets = st.one_of(
        st.lists(value, min_size=1, max_size=3).map(lambda vs: [b"SADD", b"s", *vs]),
        c(st.sampled_from([b"SADD", b"SREM", b"SISMEMBER"]), key, value).map(list),
        c(st.sampled_from([b"SMEMBERS", b"SCARD"]), key).map(list),
        c(st.sampled_from([b"SINTER", b"SUNION", b"SDIFF"]), key, key).map(list),
        c(st.sampled_from([b"SINTERSTORE", b"SUNIONSTORE", b"SDIFFSTORE"]), key, key, key).map(list),
        c(st.just(b"SMOVE"), key, key, value).map(list),
    )
    zsets = st.one_of(
        c(st.just(b"ZADD"), key, floating, value).map(list),
        c(st.just(b"ZADD"), key, st.sampled_from([b"NX", b"XX", b"GT", b"LT", b"CH"]), number, value).map(
            list
        ),
        c(st.just(b"ZINCRBY"), key, floating, value).map(list),
        c(st.sampled_from([b"ZSCORE", b"ZRANK", b"ZREVRANK", b"ZREM"]), key, value).map(list),
        c(st.just(b"ZRANGE"), key, index, index).map(list),
        c(st.just(b"ZRANGE"), key, index, index, st.just(b"WITHSCORES")).map(list),
        c(st.just(b"ZRANGEBYSCORE"), key, st.sampled_from([b"-inf", b"(1", b"0"]), st.just(b"+inf")).map(
            list
        ),
        c(st.sampled_from([b"ZCARD", b"ZPOPMIN", b"ZPOPMAX"]), key).map(list),
        c(st.just(b"ZUNIONSTORE"), key, st.just(b"2"), key, key).map(list),
    )
    lists = st.one_of(
        c(st.sampled_from([b"LPUSH", b"RPUSH", b"LPUSHX", b"RPUSHX"]), key, value).map(list),
        c(st.sampled_from([b"LPOP", b"RPOP", b"LLEN"]), key).map(list),
        c(st.just(b"LRANGE"), key, index, index).map(list),
        c(st.just(b"LINDEX"), key, index).map(list),
        c(st.just(b"LSET"), key, index, value).map(list),
        c(st.just(b"LREM"), key, index, value).map(list),
        c(st.just(b"LTRIM"), key, index, index).map(list),
        c(st.just(b"LMOVE"), key, key, st.sampled_from([b"LEFT", b"RIGHT"]), st.just(b"LEFT")).map(list),
    )
    mistakes = st.one_of(
        st.sampled_from([[b"GET"], [b"SET", b"a"], [b"HSET", b"a", b"f"], [b"LPUSH"], [b"ZADD", b"a"]]),
        st.sampled_from([[b"NOSUCH", b"a"], [b"gEt", b"a"], [b"SELECT", b"99"], [b"SELECT", b"x"]]),
    )
    databases = st.one_of(
        st.sampled_from([[b"SELECT", b"0"], [b"SELECT", b"1"], [b"SWAPDB", b"0", b"1"], [b"FLUSHDB"]]),
    )
    return st.one_of(strings, keyspace, hashes, sets, zsets, lists, mistakes, databases)


# Replies whose element order Redis does not define: compared as sorted lists.
UNORDERED = {b"KEYS", b"SMEMBERS", b"SINTER", b"SUNION", b"SDIFF", b"HKEYS", b"HVALS", b"HGETALL"}


class Connection:
    """A raw RESP connection returning each reply's bytes, as the server sent them."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=HANG_SECONDS)
        self.buffer = b""

    def send(self, commands: list[list[bytes]]) -> None:
        payload = b"".join(
            b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
            for args in commands
        )
        self.sock.sendall(payload)

    def replies(self, count: int) -> list[tuple[bytes, object]]:
        """`count` replies as (raw bytes, decoded value)."""
        out = []
        while len(out) < count:
            end = reply_end(self.buffer, 0)
            if end < 0:
                chunk = self.sock.recv(1 << 16)
                assert chunk, "connection closed"
                self.buffer += chunk
                continue
            raw, self.buffer = self.buffer[:end], self.buffer[end:]
            reader = hiredis.Reader()
            reader.feed(raw)
            out.append((raw, reader.gets()))
        return out

    def close(self) -> None:
        self.sock.close()


def reply_end(buffer: bytes, pos: int) -> int:
    """The index just past the RESP reply starting at `pos`, or -1 if it is not complete yet."""
    line_end = buffer.find(b"\r\n", pos)
    if line_end < 0:
        return -1
    kind = buffer[pos : pos + 1]
    if kind in b"$=!":
        size = int(buffer[pos + 1 : line_end])
        if size < 0:
            return line_end + 2
        end = line_end + 2 + size + 2
        return end if end <= len(buffer) else -1
    if kind in b"*~>%|":
        count = int(buffer[pos + 1 : line_end])
        position = line_end + 2
        for _ in range(max(count, 0) * (2 if kind in b"%|" else 1)):
            position = reply_end(buffer, position)
            if position < 0:
                return -1
        return position
    return line_end + 2


def normalise(name: bytes, raw: bytes, decoded: object) -> object:
    if name in (b"TTL", b"PTTL") and isinstance(decoded, int) and decoded > 0:
        return "positive"
    if name in UNORDERED and isinstance(decoded, list):
        return ("unordered", sorted(map(repr, decoded)))
    return raw


def make_machine(redis_port: int, leakdb_port: int) -> type[RuleBasedStateMachine]:
    class Conformance(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.oracle = Connection(redis_port)
            self.ours = Connection(leakdb_port)
            self.transcript: list[list[bytes]] = []
            self.run_both([[b"FLUSHALL"]])

        @initialize(protocol=st.sampled_from([2, 3]))
        def speak(self, protocol):
            self.run_both([[b"HELLO", b"%d" % protocol]], compare=False)

        @rule(args=command_strategy())
        def one_command(self, args):
            self.run_both([args])

        @rule(batch=st.lists(command_strategy(), min_size=2, max_size=6))
        def pipeline(self, batch):
            self.run_both(batch)

        @invariant()
        def same_keys(self):
            oracle, ours = self.run_both([[b"KEYS", b"*"]], compare=False)
            assert sorted(oracle[0][1]) == sorted(ours[0][1]), self.transcript

        def run_both(self, commands, compare=True):
            self.transcript.extend(commands)
            self.oracle.send(commands)
            self.ours.send(commands)
            expected = self.oracle.replies(len(commands))
            actual = self.ours.replies(len(commands))
            if compare:
                for args, (raw_e, dec_e), (raw_a, dec_a) in zip(commands, expected, actual, strict=True):
                    name = args[0].upper()
                    assert normalise(name, raw_a, dec_a) == normalise(name, raw_e, dec_e), (
                        f"{args!r}: redis {raw_e!r}, leakdb {raw_a!r}"
                    )
            return expected, actual

        def teardown(self):
            self.oracle.close()
            self.ours.close()

    return Conformance


@pytest.mark.parametrize("run", range(1))
def test_random_command_sequences_match_redis(redis_server, leakdb_server, run):
    machine = make_machine(redis_server.port, leakdb_server.port)
    machine.TestCase.settings = settings(
        max_examples=EXAMPLES,
        stateful_step_count=STEPS,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    machine.TestCase().runTest()
