"""Property: a coalesced batch leaves a backend in the same state as the full change stream would."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from leakdb.engine.keyspace import DELETE, EXPIRE, FLUSHDB, SET, SWAPDB, Change, Keyspace
from leakdb.queue import CoalescingLog

FAR = 2**40  # a deadline that never passes during the test

operation = st.one_of(
    st.tuples(st.just("set"), st.integers(0, 2), st.sampled_from([b"a", b"b"]), st.integers(0, 9)),
    st.tuples(st.just("delete"), st.integers(0, 2), st.sampled_from([b"a", b"b"]), st.none()),
    st.tuples(st.just("expire"), st.integers(0, 2), st.sampled_from([b"a", b"b"]), st.integers(0, 9)),
    st.tuples(st.just("persist"), st.integers(0, 2), st.sampled_from([b"a", b"b"]), st.none()),
    st.tuples(st.just("flushdb"), st.integers(0, 2), st.none(), st.none()),
    st.tuples(st.just("swapdb"), st.integers(0, 2), st.none(), st.integers(0, 2)),
)


def run(operations) -> list[Change]:
    """Drive a real keyspace and return the change stream it reports."""
    keyspace = Keyspace(3)
    changes: list[Change] = []
    keyspace.add_listener(changes.append)
    for name, db, key, argument in operations:
        database = keyspace[db]
        if name == "set":
            database.set(key, b"%d" % argument)
        elif name == "delete":
            database.delete(key)
        elif name == "expire" and database.exists(key):
            database.set_expire(key, FAR + argument)
        elif name == "persist" and database.exists(key):
            database.set_expire(key, None)
        elif name == "flushdb":
            database.flush()
        elif name == "swapdb":
            keyspace.swap(db, argument)
    return changes


def apply(state: dict, changes: list[Change]) -> dict:
    """What a backend does with a batch, on a dict of (db, key) -> (value, deadline)."""
    state = dict(state)
    for change in changes:
        slot = (change.db, change.key)
        if change.op == SET:
            state[slot] = (change.value, change.expire_at_ms)
        elif change.op == DELETE:
            state.pop(slot, None)
        elif change.op == EXPIRE and slot in state:
            state[slot] = (state[slot][0], change.expire_at_ms)
        elif change.op == FLUSHDB:
            state = {s: v for s, v in state.items() if s[0] != change.db}
        elif change.op == SWAPDB:
            swap = {change.db: change.value, change.value: change.db}
            state = {(swap.get(db, db), key): v for (db, key), v in state.items()}
    return state


@settings(max_examples=200, deadline=None)
@given(st.lists(operation, max_size=30), st.integers(0, 30))
def test_coalesced_batches_apply_like_the_full_stream(operations, cut):
    changes = run(operations)
    assert apply({}, CoalescingLog(changes).items()) == apply({}, changes)
    # A failed first batch merged back in front of newer writes gives the same final state too.
    older, newer = changes[:cut], changes[cut:]
    merged = CoalescingLog(newer).merged_after(CoalescingLog(older).items())
    assert apply({}, merged.items()) == apply({}, changes)
