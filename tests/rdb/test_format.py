"""The RDB value format without a server: checksums, LZF, listpacks and intsets round-trip, every
engine value survives encode and decode, and damaged input raises BadDataFormatError rather than
anything else (the byte-for-byte comparison with Redis is in tests/commands/test_dump.py)."""

from __future__ import annotations

import random
from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leakdb.engine.stream import Stream
from leakdb.engine.zset import ZSet
from leakdb.errors import BadDataFormatError, DumpPayloadError
from leakdb.rdb import dump_payload, load_payload
from leakdb.rdb.crc64 import _T0, crc64
from leakdb.rdb.listpack import decode_intset, decode_listpack, encode_intset, encode_listpack
from leakdb.rdb.lzf import compress, decompress
from leakdb.rdb.strings import Reader, encode_length, encode_string

QUICK = settings(max_examples=50, deadline=None)


def bytewise_crc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = _T0[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc


def test_crc64_check_value():
    assert crc64(b"123456789") == 0xE9C6D914C4B8D9CA  # the Jones polynomial's published check value


@QUICK
@given(st.binary(max_size=100), st.binary(max_size=100))
def test_crc64_eight_bytes_at_a_time_equals_one_at_a_time(first, second):
    assert crc64(first + second) == bytewise_crc(first + second)
    assert crc64(second, crc64(first)) == crc64(first + second)


texts = st.binary(max_size=3000) | st.lists(
    st.sampled_from([b"ab", b"abc", b"x" * 40, b"\x00"]), max_size=300
).map(b"".join)


@settings(max_examples=100, deadline=None)
@given(texts)
def test_lzf_round_trips_within_its_limit(data):
    limit = max(len(data) - 4, 0)
    packed = compress(data, limit)
    if packed is not None:
        assert len(packed) <= limit
        assert decompress(packed, len(data)) == data


def test_lzf_compresses_repetition_and_gives_up_on_noise():
    assert len(compress(b"a" * 10000, 9996)) < 200
    noise = random.Random(7).randbytes(5000)
    assert compress(noise, len(noise) - 4) is None


@pytest.mark.parametrize(
    ("stream", "size"),
    [
        (b"\x05abc", 6),  # a literal run that runs past the end
        (b"\x20\x00", 3),  # a back reference before anything was written
        (b"\x00a\x20\x05", 4),  # a reference further back than the output
        (b"\x00a\xe0", 10),  # a long reference cut short
        (b"\x02abc", 4),  # fewer bytes than promised
        (b"\x02abc", 2),  # more bytes than promised
        (b"\x00a", 10**9),  # a size the stream could never reach
        (b"", 1),
    ],
)
def test_lzf_refuses_damaged_streams(stream, size):
    with pytest.raises(BadDataFormatError):
        decompress(stream, size)


elements = st.lists(st.binary(max_size=100) | st.integers(-(2**63), 2**63 - 1), max_size=30)


@QUICK
@given(elements | st.just([b"x" * 70, b"y" * 5000, b"-12", b"012"]))
def test_listpack_round_trip(items):
    expected = [item if isinstance(item, int) else _as_element(item) for item in items]
    assert decode_listpack(encode_listpack(items)) == expected


def _as_element(raw: bytes) -> bytes | int:
    """A listpack keeps a string that reads as a 64-bit integer as that integer."""
    if len(raw) <= 20 and raw.lstrip(b"-").isdigit():
        number = int(raw)
        if b"%d" % number == raw and -(2**63) <= number < 2**63:
            return number
    return raw


@QUICK
@given(st.sets(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=100))
def test_intset_round_trip(numbers):
    assert decode_intset(encode_intset(numbers)) == sorted(numbers)


@pytest.mark.parametrize("cut", [1, 5, 7, 12])
def test_truncated_listpacks_are_refused(cut):
    blob = encode_listpack([b"field", 7, b"x" * 70, -5000])
    with pytest.raises(BadDataFormatError):
        decode_listpack(blob[:-cut])


@QUICK
@given(st.integers(0, 2**64 - 1))
def test_lengths_round_trip(value):
    reader = Reader(encode_length(value))
    assert reader.length() == value
    assert reader.position == len(reader.data)


@QUICK
@given(st.binary(max_size=300) | st.integers(-(2**40), 2**40).map(lambda n: b"%d" % n))
def test_strings_round_trip(value):
    reader = Reader(encode_string(value))
    assert reader.string() == value
    assert reader.position == len(reader.data)


def _zset(pairs: dict[bytes, float]) -> ZSet:
    return ZSet.from_pairs(pairs.items())


def _stream(entries: list[list[bytes]]) -> Stream:
    stream = Stream()
    for n, fields in enumerate(entries):
        stream.append((n + 1) << 64 | n % 3, tuple(fields))
    return stream


values = st.one_of(
    st.binary(max_size=200),
    st.lists(st.binary(max_size=100), min_size=1, max_size=300).map(deque),
    st.sets(st.binary(max_size=8) | st.integers(-(2**63), 2**63 - 1).map(lambda n: b"%d" % n), min_size=1),
    st.dictionaries(st.binary(max_size=80), st.binary(max_size=80), min_size=1, max_size=600),
    st.dictionaries(st.binary(max_size=80), st.floats(allow_nan=False), min_size=1, max_size=200).map(_zset),
    st.lists(st.lists(st.binary(max_size=20), min_size=1, max_size=4).map(lambda f: f + f), max_size=300).map(
        _stream
    ),
)


@settings(max_examples=80, deadline=None)
@given(values)
def test_every_value_survives_a_dump(value):
    restored = load_payload(dump_payload(value))
    assert type(restored) is type(value)
    if isinstance(value, Stream):
        assert list(restored.entries.items()) == list(value.entries.items())
        assert restored.last_id == value.last_id
        assert [(n.master_id, n.count, n.size()) for n in restored.nodes] == [
            (n.master_id, n.count, n.size()) for n in value.nodes
        ]
    elif isinstance(value, ZSet):
        assert restored.scores == value.scores and restored.compact == value.compact
    else:
        assert restored == value


@settings(max_examples=60, deadline=None)
@given(values, st.data())
def test_damaged_payloads_raise_only_payload_errors(value, data):
    payload = bytearray(dump_payload(value))
    position = data.draw(st.integers(0, len(payload) - 1))
    payload[position] ^= data.draw(st.integers(1, 255))
    with pytest.raises(DumpPayloadError):
        load_payload(bytes(payload))  # the CRC-64 catches any one damaged byte


@settings(max_examples=100, deadline=None)
@given(values, st.data())
def test_damaged_bodies_behind_a_valid_checksum_raise_bad_data_format(value, data):
    body = bytearray(dump_payload(value)[:-10])
    position = data.draw(st.integers(0, len(body) - 1))
    body[position] ^= data.draw(st.integers(1, 255))
    framed = bytes(body) + b"\x0a\x00"
    payload = framed + crc64(framed).to_bytes(8, "little")
    try:
        load_payload(payload)  # a damaged byte may still spell a valid value
    except BadDataFormatError:
        pass
