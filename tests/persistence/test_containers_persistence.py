"""The stored layout of hashes, lists and sets: exact round trips, and damaged blobs refused."""

from __future__ import annotations

from collections import deque

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leakdb.errors import StorageError
from leakdb.persistence.base import deserialize, serialize

members = st.binary(max_size=20)


@given(st.dictionaries(members, members, max_size=30))
def test_hash_round_trip(value):
    assert deserialize(*serialize(value)) == value


@given(st.lists(members, max_size=30))
def test_list_round_trip_keeps_order(items):
    value = deque(items)
    name, blob = serialize(value)
    assert name == "list"
    assert list(deserialize(name, blob)) == items


@given(st.sets(members, max_size=30))
def test_set_round_trip(value):
    assert deserialize(*serialize(value)) == value


@pytest.mark.parametrize("value", [{b"k": b"v" * 10}, deque([b"a", b"bc"]), {b"x", b"yz"}])
def test_damaged_blobs_are_refused(value):
    name, blob = serialize(value)
    for damaged in (blob[:-1], blob + b"\x00", b"\x09" + blob[1:], b""):
        with pytest.raises(StorageError):
            deserialize(name, damaged)
