"""The HyperLogLog engine on its own: the hash against the register redis-server picks for each
element, the packed-register codecs, the register-wise maximum, the parse cache, and random edit
sequences whose strings must be the bytes redis-server holds."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leakdb.engine import hyperloglog as hll
from leakdb.errors import CorruptHLLError

ELEMENTS = [b"", b"a", b"ab", b"hello", b"1234567", b"12345678", b"123456789", b"x" * 15, b"y" * 16]
ELEMENTS += [b"z" * 17, bytes(range(256)), b"\x00\xff" * 40, "ünïcode".encode(), b"element:12345"]


def test_hash_picks_the_register_and_value_redis_picks(redis_server):
    """One element in a fresh HLL: PFDEBUG DECODE shows which register it set and to what."""
    client = redis_server.client()
    for element in ELEMENTS:
        client.delete("h")
        client.pfadd("h", element)
        decoded = client.execute_command("PFDEBUG", "DECODE", "h").decode()
        found = re.fullmatch(r"(?:Z:(\d+) )?v:(\d+),1(?: Z:\d+)?", decoded)
        assert found, decoded
        index = int(found.group(1) or 0)
        assert hll.patterns([element]) == [(index, int(found.group(2)))], element
    client.close()


def _registers(seed: int) -> bytes:
    generator = random.Random(seed)
    top = generator.choice([1, 8, 33, 64])  # sparse-sized values, typical ones, every 6-bit value
    return bytes(generator.randrange(top) for _ in range(hll.REGISTERS))


registers = st.one_of(
    st.sampled_from([bytes(hll.REGISTERS), b"\x3f" * hll.REGISTERS]), st.integers(0, 2**32).map(_registers)
)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(registers)
def test_pack_and_unpack_are_inverse(raw):
    packed = hll.pack(raw)
    assert len(packed) == hll.DENSE_BYTES
    assert bytes(hll.unpack(packed)) == raw
    value = b"HYLL" + bytes(12) + packed
    assert all(hll.get_register(value, i) == raw[i] for i in range(0, hll.REGISTERS, 97))


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(registers, registers)
def test_register_max_is_the_maximum_of_each_register(a, b):
    assert hll.register_max(a, b) == bytes(map(max, a, b))


def test_estimate_of_an_empty_histogram_is_zero():
    assert hll.estimate([hll.REGISTERS] + [0] * 63) == 0
    assert hll.histogram_of(bytes(hll.REGISTERS))[0] == hll.REGISTERS


def test_edits_never_change_a_string_another_key_still_holds():
    """The parse cache follows the exact bytes object: editing one copy leaves the other alone."""
    first, _, _ = hll.add(None, [b"a", b"b"], 3000)
    shared = first
    second, changed, intact = hll.add(first, [b"c"], 3000)
    again, _, _ = hll.add(shared, [b"c"], 3000)
    assert changed and intact and second == again and second != shared
    assert hll.add(shared, [b"d"], 3000)[0] != second
    assert hll.cardinality(shared)[0] == 2
    assert hll.cardinality(second)[0] == 3


def test_corrupt_sparse_strings_are_reported():
    short = b"HYLL\x01\x00\x00\x00" + bytes(7) + b"\x80" + b"\x7f\xfe"
    with pytest.raises(CorruptHLLError):
        hll.cardinality(short)
    with pytest.raises(CorruptHLLError):
        hll.to_dense(short)
    assert hll.registers(short) is None
    assert not hll.is_hll(b"HYLL\x00" + bytes(11))
    assert hll.is_hll(hll.EMPTY)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    batches=st.lists(st.lists(st.integers(0, 3000), max_size=80), min_size=1, max_size=12),
    limit=st.sampled_from([0, 30, 200, 3000]),
)
def test_random_additions_leave_the_bytes_redis_holds(redis_server, batches, limit):
    client = redis_server.client()
    try:
        client.config_set("hll-sparse-max-bytes", limit)
        client.delete("h")
        value = None
        for batch in batches:
            elements = [b"%d" % n for n in batch]
            client.execute_command("PFADD", "h", *elements)
            value = hll.add(value, elements, limit)[0]
            assert value == client.get("h")
        count, cached = hll.cardinality(value)
        assert count == client.pfcount("h")
        assert cached == client.get("h")
    finally:
        client.config_set("hll-sparse-max-bytes", 3000)
        client.close()
