"""Bitmap and bitfield commands (SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD, BITFIELD_RO), each reply
compared byte for byte with a real redis-server's in RESP2 and RESP3; random command sequences mixed with
string and key commands; the offset bound, maxmemory, WATCH, persistence, redis-py's helpers and the
Python API.
"""

from __future__ import annotations

import signal

import pytest
import redis
from conftest import raw_exchange
from differential import RawPair, case_id, cases, differential_machine
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from leakdb import DefaultStorage

# Every case starts from this keyspace: strings of several shapes, one written bit by bit (which
# leakdb keeps mutable), one with a deadline, and a list for the type errors.
SAMPLE = cases(r"""
SET s foobar
SET ff "\xff\xff\x00\xf0"
SETBIT b 100 1
SETBIT b 3 1
SET e ""
SET n 12345
SET ttl "\x0f\xf0"
PEXPIREAT ttl 99999999999000
RPUSH l x
""")
PROBES = cases("""
GET s
GET ff
GET b
GET e
GET n
GET ttl
PEXPIRETIME ttl
GET d
GET k
GET nk
TYPE l
DBSIZE
""")

SETBIT_CASES = cases(r"""
SETBIT s 0 1
SETBIT s 1 1
SETBIT s 1 0
SETBIT s 47 1
SETBIT s 48 1
SETBIT s 1000 0
SETBIT b 100 1
SETBIT b 100 0
SETBIT b 3 0
SETBIT b 101 1
SETBIT nk 0 0
SETBIT nk 7 1
SETBIT nk 8 1
SETBIT nk 123456 1
SETBIT e 0 1
SETBIT e 9 0
SETBIT n 0 1
SETBIT ttl 15 1
SETBIT ttl 16 1
SETBIT ttl 0 0
SETBIT l 0 1
SETBIT s x 1
SETBIT s -1 1
SETBIT s 1.5 1
SETBIT s " 1" 1
SETBIT s 01 1
SETBIT s 4294967296 1
SETBIT s 9223372036854775807 1
SETBIT s 9223372036854775808 1
SETBIT s 0 2
SETBIT s 0 -1
SETBIT s 0 x
SETBIT s 0 ""
SETBIT s 0 01
SETBIT s #1 1
SETBIT l x 1
SETBIT l 0 2
SETBIT s 1
SETBIT s 1 1 1
GETBIT s 0
GETBIT s 1
GETBIT s 47
GETBIT s 48
GETBIT s 4294967295
GETBIT b 100
GETBIT b 3
GETBIT b 999
GETBIT nk 0
GETBIT e 0
GETBIT n 2
GETBIT l 0
GETBIT l x
GETBIT nk x
GETBIT s -1
GETBIT s 4294967296
GETBIT s
""")

BITCOUNT_CASES = cases(r"""
BITCOUNT s
BITCOUNT ff
BITCOUNT b
BITCOUNT e
BITCOUNT n
BITCOUNT nk
BITCOUNT l
BITCOUNT s 0 0
BITCOUNT s 1 1
BITCOUNT s 0 -1
BITCOUNT s -2 -1
BITCOUNT s -1 -2
BITCOUNT s -100 100
BITCOUNT s 3 1
BITCOUNT s 100 200
BITCOUNT s 0 -1 BYTE
BITCOUNT s 0 -1 BIT
BITCOUNT s 5 30 bit
BITCOUNT s 1 1 bit
BITCOUNT s 7 8 bit
BITCOUNT s -5 -1 bit
BITCOUNT s -1 -5 bit
BITCOUNT s 40 1000 bit
BITCOUNT ff 3 27 bit
BITCOUNT b 100 100 bit
BITCOUNT e 0 -1 bit
BITCOUNT s 1
BITCOUNT s a b
BITCOUNT s 0 b
BITCOUNT s 0 1 bits
BITCOUNT s 0 1 bit x
BITCOUNT nk a b
BITCOUNT nk 1
BITCOUNT l 0 1
BITCOUNT
""")

BITPOS_CASES = cases(r"""
BITPOS s 1
BITPOS s 0
BITPOS ff 0
BITPOS ff 1
BITPOS b 1
BITPOS e 0
BITPOS e 1
BITPOS n 1
BITPOS nk 0
BITPOS nk 1
BITPOS nk 1 a
BITPOS l 1
BITPOS s 1 2
BITPOS s 0 -1
BITPOS s 1 -2 -1
BITPOS s 1 100
BITPOS s 1 3 1
BITPOS ff 0 0
BITPOS ff 0 0 1
BITPOS ff 0 0 -1
BITPOS ff 0 2
BITPOS ff 1 2
BITPOS ff 0 0 -1 byte
BITPOS ff 0 0 -1 bit
BITPOS ff 0 3 10 bit
BITPOS ff 0 16 23 bit
BITPOS ff 0 17 17 bit
BITPOS ff 1 16 23 bit
BITPOS ff 1 19 27 bit
BITPOS ff 1 28 31 bit
BITPOS ff 0 28 31 bit
BITPOS ff 0 -4 -1 bit
BITPOS s 1 3 3 bit
BITPOS s 0 100 200 bit
BITPOS s 1 -1000 1000 bit
BITPOS s 2
BITPOS s -1
BITPOS s x
BITPOS s 1 x
BITPOS s 1 0 x
BITPOS s 1 0 x bit
BITPOS s 1 0 1 foo
BITPOS s 1 0 x foo
BITPOS s 1 0 1 bit extra
BITPOS l 2
BITPOS s
""")

BITOP_CASES = cases(r"""
BITOP AND d s ff
BITOP and d s ff b
BITOP OR d s ff
BITOP XOR d s b
BITOP XOR d s s
BITOP NOT d s
BITOP NOT d e
BITOP NOT d b
BITOP AND d s nk
BITOP OR d nk s
BITOP OR d nk nk2
BITOP AND d e e
BITOP OR ttl s
BITOP AND s s ff
BITOP NOT l s
BITOP OR d s l
BITOP OR d l s
BITOP NOT d s ff
BITOP NOT d nk
BITOP NAND d s
BITOP "" d s
BITOP AND d
BITOP
""")

BITFIELD_CASES = cases(r"""
BITFIELD s GET u8 0
BITFIELD s GET u8 0 GET i8 0 GET u4 4 GET i4 4 GET u63 0 GET i64 0 GET u1 47 GET i1 1
BITFIELD s GET u16 40 GET u8 #5 GET u8 #6 GET i16 #3 GET u8 #100
BITFIELD nk GET u8 0
BITFIELD b GET u8 #12 GET i3 100
BITFIELD e GET i64 0
BITFIELD s SET u8 0 255 GET u8 0
BITFIELD s SET i8 #0 -1 GET u8 0
BITFIELD nk SET u8 #2 42 GET u8 16
BITFIELD nk INCRBY u2 100 1 INCRBY u2 100 1 INCRBY u2 100 1 INCRBY u2 100 1
BITFIELD ttl INCRBY i5 3 1
BITFIELD s INCRBY u8 0 1000 GET u8 0
BITFIELD s OVERFLOW SAT INCRBY u8 0 1000 INCRBY u8 0 -1000 INCRBY i8 8 1000 INCRBY i8 8 -1000
BITFIELD s OVERFLOW FAIL INCRBY u8 0 1000 INCRBY u8 0 -1000 INCRBY i8 8 1000 INCRBY i8 8 -1000 GET u16 0
BITFIELD s OVERFLOW WRAP INCRBY u8 0 1000 INCRBY u8 0 -1000 INCRBY i8 8 1000 INCRBY i8 8 -1000
BITFIELD s INCRBY u2 0 1 OVERFLOW SAT INCRBY u2 0 7 OVERFLOW FAIL INCRBY u2 0 1 OVERFLOW wrap INCRBY u2 0 1
BITFIELD nk OVERFLOW FAIL SET u2 0 7
BITFIELD nk OVERFLOW FAIL INCRBY u2 100 7 SET u2 4 9
BITFIELD nk SET i64 0 -9223372036854775808 INCRBY i64 0 -1 OVERFLOW SAT INCRBY i64 0 -1
BITFIELD nk SET i64 0 9223372036854775807 INCRBY i64 0 1 OVERFLOW FAIL INCRBY i64 0 1
BITFIELD nk INCRBY i64 0 9223372036854775807 INCRBY i64 0 9223372036854775807 OVERFLOW SAT INCRBY i64 0 1
BITFIELD nk SET u63 0 -1 OVERFLOW SAT SET u63 0 -1 OVERFLOW FAIL SET u63 0 -1
BITFIELD nk OVERFLOW SAT SET i8 0 -9223372036854775808 SET i8 0 -9223372036854775680 SET i8 0 -129
BITFIELD nk OVERFLOW SAT SET i8 0 128 SET i8 0 -9223372036854775681
BITFIELD nk OVERFLOW WRAP SET i8 0 9223372036854775807 SET i8 0 -129 INCRBY i8 0 -9223372036854775808
BITFIELD nk OVERFLOW SAT SET u8 0 9223372036854775807 SET u8 0 -129 SET u8 0 256
BITFIELD nk OVERFLOW SAT SET u8 0 3 INCRBY u8 0 -9223372036854775808
BITFIELD nk OVERFLOW FAIL SET u8 0 -1 SET u8 0 256 SET u8 0 255 INCRBY u8 0 9223372036854775807
BITFIELD nk SET u8 #1000 1 GET u8 #536870911
BITFIELD nk GET u8 #2305843009213693952
BITFIELD nk GET u8 #1152921504606846976
BITFIELD nk GET u8 #536870912
BITFIELD nk GET i64 #67108864
BITFIELD nk GET u8 #-1
BITFIELD nk GET u8 #x
BITFIELD nk GET u8 -1
BITFIELD nk GET u8 4294967296
BITFIELD nk GET u8 x
BITFIELD s GET u8
BITFIELD s GET
BITFIELD s SET u8 0
BITFIELD s INCRBY u8 0
BITFIELD s FOO u8 0
BITFIELD s GET x8 0
BITFIELD s GET I8 0
BITFIELD s GET U8 0
BITFIELD s GET u64 0
BITFIELD s GET i65 0
BITFIELD s GET i0 0
BITFIELD s GET u08 0
BITFIELD s GET u 0
BITFIELD s GET "u8\x00" 0
BITFIELD s GET "u\x008" 0
BITFIELD s GET "i8\x00x" 0 GET "\x00i8" 0
BITFIELD s SET u8 0 a
BITFIELD s SET u8 0 1.5
BITFIELD s SET u8 0 9223372036854775808
BITFIELD s GET u8 0 SET u8 x 1
BITFIELD s OVERFLOW
BITFIELD s OVERFLOW maybe GET u8 0
BITFIELD s GET u8 0 OVERFLOW maybe
BITFIELD s OVERFLOW WRAP
BITFIELD s
BITFIELD nk
BITFIELD l
BITFIELD l GET u8 0
BITFIELD l SET u8 0 1
BITFIELD l GET x 0
BITFIELD_RO s GET u8 0 GET i16 4
BITFIELD_RO nk GET u8 100
BITFIELD_RO s GET u8 0 SET u8 0 1
BITFIELD_RO s INCRBY u8 0 1
BITFIELD_RO s GET u8 0 SET u8 0 x
BITFIELD_RO s OVERFLOW SAT GET u8 0
BITFIELD_RO s GET u8 0 foo
BITFIELD_RO l GET u8 0
BITFIELD_RO l SET u8 0 1
BITFIELD_RO s
BITFIELD_RO
BITFIELD
""")

ALL_CASES = SETBIT_CASES + BITCOUNT_CASES + BITPOS_CASES + BITOP_CASES + BITFIELD_CASES


@pytest.fixture(scope="module", params=[2, 3], ids=["resp2", "resp3"])
def raw_pair(request, redis_server, leakdb_server):
    pair = RawPair(redis_server.port, leakdb_server.port, request.param)
    yield pair
    pair.close()


def test_case_table_is_broad():
    assert len(ALL_CASES) > 230
    names = {case[0].upper() for case in ALL_CASES}
    assert names == {b"SETBIT", b"GETBIT", b"BITCOUNT", b"BITPOS", b"BITOP", b"BITFIELD", b"BITFIELD_RO"}


@pytest.mark.parametrize("command", ALL_CASES, ids=case_id)
def test_bitmap_commands_match_redis(raw_pair, command):
    raw_pair.run([[b"FLUSHALL"], *SAMPLE])
    raw_pair.same(command)
    raw_pair.same(*PROBES)


# -- bitmaps are strings ------------------------------------------------------------------------------

# After bit writes, every other reader sees the string Redis holds (leakdb turns a string that bit
# writes left mutable back into bytes for them), and a copy is a copy.
STRING_READERS = cases(r"""
SETBIT m 9 1
BITFIELD m SET u8 #3 200
GET m
STRLEN m
GETRANGE m 1 2
MGET m s m
SETBIT m 0 1
APPEND m tail
SETBIT m 1 1
SETRANGE m 2 xy
SETBIT m 2 1
GETDEL m
SETBIT m 200 1
COPY m c
SETBIT c 0 1
GET m
GET c
RENAME c r
SETBIT r 1 1
GET r
TYPE r
EXISTS r m
SCAN 0 TYPE string MATCH r
SETBIT i 15 1
SETBIT i 10 1
SETBIT i 11 1
INCR i
SETBIT i 7 1
GET i
SET g 0
SETBIT g 7 0
GETSET g x
SETBIT g 1 1
SET g v GET
SETBIT big 80000 1
LCS big m LEN
SETBIT x 0 1
MOVE r 1
SELECT 1
GET r
SETBIT r 2 1
SWAPDB 0 1
GET r
""")


def test_bit_writes_leave_strings_every_command_reads(raw_pair):
    raw_pair.run([[b"FLUSHALL"], *SAMPLE])
    for command in STRING_READERS:
        raw_pair.same(command)
    raw_pair.run([[b"SELECT", b"0"]])


def test_the_last_offset_of_a_512mb_string(redis_server, leakdb_server):
    """SETBIT at the last offset proto-max-bulk-len allows: a 512 MB string, answered and readable."""
    raw_pair = RawPair(redis_server.port, leakdb_server.port)
    raw_pair.run([[b"FLUSHALL"]])
    try:
        raw_pair.same([b"SETBIT", b"huge", b"4294967295", b"1"])
        raw_pair.same([b"PING"], [b"STRLEN", b"huge"], [b"GETBIT", b"huge", b"4294967295"])
        raw_pair.same([b"BITCOUNT", b"huge"], [b"BITPOS", b"huge", b"1"], [b"BITPOS", b"huge", b"0", b"-1"])
        raw_pair.same([b"SETBIT", b"huge", b"0", b"1"], [b"BITCOUNT", b"huge", b"0", b"1000"])
        raw_pair.same([b"SETBIT", b"huge", b"4294967296", b"1"], [b"STRLEN", b"huge"])
    finally:
        raw_pair.run([[b"FLUSHALL"]])
        raw_pair.close()


def test_offsets_are_bounded_by_proto_max_bulk_len(raw_pair):
    bound = b"%d" % (1024 * 1024 * 8)  # bits in 1 MB, the smallest proto-max-bulk-len Redis allows
    raw_pair.run([[b"FLUSHALL"]])
    raw_pair.same([b"CONFIG", b"SET", b"proto-max-bulk-len", b"1mb"])
    try:
        raw_pair.same([b"SETBIT", b"k", b"%d" % (int(bound) - 1), b"1"], [b"SETBIT", b"k", bound, b"1"])
        raw_pair.same([b"GETBIT", b"k", bound], [b"BITFIELD", b"k", b"GET", b"u8", b"#131072"])
        raw_pair.same([b"BITFIELD", b"k", b"SET", b"u8", b"#131071", b"1"], [b"STRLEN", b"k"])
    finally:
        raw_pair.run([[b"CONFIG", b"SET", b"proto-max-bulk-len", b"512mb"], [b"FLUSHALL"]])


def test_an_unchanged_bit_is_not_a_write(redis_server, leakdb_server):
    """WATCH sees a SETBIT that flips a bit or grows the string, and not one that leaves it as it was."""
    for port in (redis_server.port, leakdb_server.port):
        client = redis.Redis(port=port)
        client.flushall()
        client.setbit("k", 3, 1)
        outcomes = []
        for offset, value in ((3, 1), (4, 0), (3, 0), (100, 0)):
            with client.pipeline() as pipe:
                pipe.watch("k")
                redis.Redis(port=port).setbit("k", offset, value)
                pipe.multi()
                pipe.get("k")
                try:
                    pipe.execute()
                    outcomes.append("ran")
                except redis.WatchError:
                    outcomes.append("aborted")
        assert outcomes == ["ran", "ran", "aborted", "aborted"], port
        client.close()


# -- maxmemory ------------------------------------------------------------------------------------------


MB = 1024 * 1024


def test_growth_past_maxmemory_is_refused(start_leakdb):
    """One write must not take a string far past maxmemory (Redis would, and refuse the next write)."""
    client = start_leakdb("--maxmemory", "100mb").client()
    client.set("kept", "v")
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        client.setbit("huge", 4294967295, 1)
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        client.bitfield("huge").set("u8", "#400000000", 1).execute()
    assert client.exists("huge") == 0
    assert client.setbit("small", 8 * MB, 1) == 0  # a megabyte fits
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        client.setbit("small", 8 * 200 * MB, 1)
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        client.bitop("OR", "wide", *["small"] * 2, "huge-missing") and client.bitfield("small").set(
            "u8", "#300000000", 1
        ).execute()
    assert client.strlen("small") == MB + 1 and client.get("kept") == b"v"
    assert client.bitop("NOT", "copy", "small") == MB + 1
    client.close()


def test_growth_under_an_eviction_policy_makes_room(start_leakdb):
    client = start_leakdb("--maxmemory", "100mb", "--maxmemory-policy", "allkeys-random").client()
    fillers = 0
    while fillers < 40:  # fill until a 16 MB growth no longer fits
        memory = client.info("memory")
        if memory["used_memory"] > memory["maxmemory"] - 12 * MB:
            break
        client.setrange(f"filler:{fillers}", 4 * MB, "x")
        fillers += 1
    assert client.setbit("bitmap", 8 * 16 * MB, 1) == 0
    assert client.strlen("bitmap") == 16 * MB + 1
    assert client.dbsize() <= fillers  # some fillers were evicted to make the room
    memory = client.info("memory")
    assert memory["used_memory"] <= memory["maxmemory"]
    client.close()


# -- persistence, clients, the Python API --------------------------------------------------------------


def write_bitmaps(client: redis.Redis) -> dict[bytes, bytes]:
    client.setbit("flags", 7, 1)
    client.setbit("flags", 1000, 1)
    client.setbit("flags", 7, 0)
    client.bitfield("counters").set("u16", "#0", 500).incrby("i8", "#5", -3).execute()
    client.set("plain", "abc")
    client.setbit("plain", 2, 1)
    client.expire("plain", 1000)
    client.bitop("XOR", "mixed", "flags", "counters")
    client.setbit("gone", 1, 1)
    client.delete("gone")
    return {key: client.get(key) for key in (b"flags", b"counters", b"plain", b"mixed")}


@pytest.mark.parametrize("backend", ["sqlite", "shelve"])
@pytest.mark.parametrize("mode", ["persistent", "persistent-queue"])
def test_bitmaps_survive_a_restart(start_leakdb, mode, backend):
    flags = ("--storage", mode, "--backend", backend)
    server = start_leakdb(*flags)
    client = server.client()
    expected = write_bitmaps(client)
    raw_exchange(server.port, b"SHUTDOWN\r\n", expect_close=True)
    server.process.wait(15)
    client.close()
    again = start_leakdb(*flags).client()
    assert {key: again.get(key) for key in expected} == expected
    assert again.exists("gone") == 0 and 990 <= again.ttl("plain") <= 1000
    assert again.getbit("flags", 1000) == 1 and again.bitfield("counters").get("u16", 0).execute() == [500]
    again.close()


def test_bit_writes_survive_kill_9_in_write_through_mode(start_leakdb):
    flags = ("--storage", "persistent", "--backend", "sqlite")
    server = start_leakdb(*flags)
    client = server.client()
    expected = write_bitmaps(client)
    for offset in range(0, 4000, 7):
        client.setbit("many", offset, 1)
    expected[b"many"] = client.get("many")
    assert server.stop(signal.SIGKILL) == -signal.SIGKILL
    client.close()
    again = start_leakdb(*flags).client()
    assert {key: again.get(key) for key in expected} == expected
    again.close()


def bitmap_helpers(client: redis.Redis) -> list[object]:
    """redis-py's bitmap helpers, each reply in order."""
    client.set("s", "foobar")
    replies = [client.setbit("b", 7, 1), client.setbit("b", 7, 1), client.getbit("b", 7)]
    replies.append(client.getbit("b", 8))
    replies += [client.bitcount("s"), client.bitcount("s", 1, 1), client.bitcount("s", 5, 30, "BIT")]
    replies += [client.bitpos("s", 1), client.bitpos("s", 0, 2, -1), client.bitpos("s", 1, 7, 15, "BIT")]
    replies += [client.bitop("AND", "d", "s", "b"), client.get("d")]
    replies += [client.bitop("NOT", "n", "b"), client.get("n")]
    field = client.bitfield("f", default_overflow="WRAP")
    field.set("u8", "#0", 255).incrby("u8", "#0", 10).overflow("SAT").incrby("i4", 8, 100)
    replies.append(field.overflow("FAIL").incrby("u2", 20, 5).get("u16", 0).execute())
    replies.append(client.bitfield_ro("f", "u8", 0, [("i4", 8)]))
    try:
        client.bitfield("f").get("u64", 0).execute()
    except redis.ResponseError as exc:
        replies.append(str(exc))
    return replies


def test_redis_py_bitmap_helpers(pair):
    oracle, ours = pair
    expected = bitmap_helpers(oracle)
    assert bitmap_helpers(ours) == expected
    assert None in expected[-3] and "Invalid bitfield type" in expected[-1]  # FAIL and the error ran


def test_the_python_api_reaches_bitmap_commands():
    storage = DefaultStorage()
    assert storage.execute_command("SETBIT", "b", 9, 1) == 0
    assert storage.execute_command("BITFIELD", "b", "INCRBY", "u4", 12, 3) == [3]
    assert storage.get("b") == b"\x00\x43" and storage.execute_command("GET", "b") == b"\x00\x43"
    assert storage.execute_command("BITCOUNT", "b") == 3 and storage.execute_command("BITPOS", "b", 1) == 9
    assert storage.execute_command("BITOP", "NOT", "n", "b") == 2 and storage.get("n") == b"\xff\xbc"
    assert storage.execute_command("BITFIELD_RO", "b", "GET", "i8", 8) == [67]


def test_command_table_entries_match_redis(pair):
    names = ["setbit", "getbit", "bitcount", "bitpos", "bitop", "bitfield", "bitfield_ro"]
    oracle, ours = pair
    for name in names:
        (expected,) = oracle.execute_command("COMMAND", "INFO", name)
        (actual,) = ours.execute_command("COMMAND", "INFO", name)
        assert actual[:7] == expected[:7], name  # name, arity, flags, key positions, categories
    for command in (["BITOP", "AND", "d", "a", "b"], ["BITFIELD_RO", "k", "GET", "u8", "0"]):
        assert ours.command_getkeys(*command) == oracle.command_getkeys(*command)


# -- random sequences ---------------------------------------------------------------------------------

KEYS = st.sampled_from([b"a", b"b", b"c"])
OFFSET = st.sampled_from([b"0", b"1", b"7", b"8", b"15", b"23", b"63", b"64", b"100", b"-1", b"x"])
INDEX = st.sampled_from([b"0", b"1", b"-1", b"2", b"-3", b"10", b"100", b"-100"])
TYPES = st.sampled_from([b"u1", b"i1", b"u3", b"i5", b"u8", b"i8", b"u16", b"i32", b"u63", b"i64", b"u64"])
FIELD_OFFSET = st.sampled_from([b"0", b"3", b"9", b"#0", b"#1", b"#3", b"100", b"-1"])
NUMBER = st.sampled_from([b"0", b"1", b"-1", b"5", b"127", b"-128", b"255", b"1000", b"-9223372036854775808"])
VALUE = st.sampled_from([b"", b"a", b"\xff", b"\x00\xf0", b"foobar", b"12"])
BIT = st.sampled_from([b"0", b"1"])
c = st.tuples

BITMAP_COMMANDS = st.one_of(
    c(st.just(b"SETBIT"), KEYS, OFFSET, st.sampled_from([b"0", b"1", b"2"])).map(list),
    c(st.just(b"GETBIT"), KEYS, OFFSET).map(list),
    c(st.just(b"BITCOUNT"), KEYS).map(list),
    c(st.just(b"BITCOUNT"), KEYS, INDEX, INDEX, st.sampled_from([b"BIT", b"BYTE"])).map(list),
    c(st.just(b"BITPOS"), KEYS, BIT).map(list),
    c(st.just(b"BITPOS"), KEYS, BIT, INDEX).map(list),
    c(st.just(b"BITPOS"), KEYS, BIT, INDEX, INDEX, st.sampled_from([b"BIT", b"BYTE"])).map(list),
    c(st.just(b"BITOP"), st.sampled_from([b"AND", b"OR", b"XOR"]), KEYS, KEYS, KEYS).map(list),
    c(st.just(b"BITOP"), st.just(b"NOT"), KEYS, KEYS).map(list),
    st.lists(
        st.one_of(
            c(st.just(b"GET"), TYPES, FIELD_OFFSET),
            c(st.sampled_from([b"SET", b"INCRBY"]), TYPES, FIELD_OFFSET, NUMBER),
            c(st.just(b"OVERFLOW"), st.sampled_from([b"WRAP", b"SAT", b"FAIL"])),
        ),
        min_size=1,
        max_size=4,
    ).map(lambda ops: [b"BITFIELD", b"a", *[word for op in ops for word in op]]),
    c(st.just(b"BITFIELD_RO"), KEYS, st.just(b"GET"), TYPES, FIELD_OFFSET).map(list),
    c(st.just(b"LCS"), KEYS, KEYS).map(list),
    c(st.just(b"LCS"), KEYS, KEYS, st.sampled_from([b"LEN", b"IDX"])).map(list),
)
STRING_COMMANDS = st.one_of(
    c(st.just(b"SET"), KEYS, VALUE).map(list),
    c(st.sampled_from([b"APPEND", b"GETSET"]), KEYS, VALUE).map(list),
    c(st.just(b"SETRANGE"), KEYS, st.sampled_from([b"0", b"2", b"9"]), VALUE).map(list),
    c(st.sampled_from([b"GET", b"STRLEN", b"INCR", b"DEL", b"TYPE", b"GETDEL"]), KEYS).map(list),
    c(st.just(b"GETRANGE"), KEYS, INDEX, INDEX).map(list),
    c(st.just(b"COPY"), KEYS, KEYS, st.just(b"REPLACE")).map(list),
    c(st.sampled_from([b"RENAME", b"MSET"]), KEYS, KEYS).map(list),
    c(st.just(b"EXPIRE"), KEYS, st.just(b"1000")).map(list),
    c(st.just(b"MGET"), KEYS, KEYS).map(list),
    c(st.just(b"RPUSH"), KEYS, VALUE).map(list),
)
STATE = cases("""
GET a
GET b
GET c
""")


def test_random_bitmap_sequences_match_redis(redis_server, leakdb_server):
    commands = st.one_of(BITMAP_COMMANDS, BITMAP_COMMANDS, STRING_COMMANDS)
    machine = differential_machine(redis_server.port, leakdb_server.port, commands, probes=STATE)
    machine.TestCase.settings = settings(
        max_examples=60, stateful_step_count=30, deadline=None, suppress_health_check=list(HealthCheck)
    )
    machine.TestCase().runTest()
