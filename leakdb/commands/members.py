"""Helpers the container families share: Redis's rules for random-sample counts, picking random
members, and walking one container with a cursor (HSCAN, SSCAN) through the SCAN cursor scheme.

No commands are declared here.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from .. import errors
from ..engine.glob import compile_glob
from ..engine.numbers import parse_int
from ..resp import bulk_array
from .keys import parse_cursor, scan_batch, scan_options

LONG_MAX = 2**63 - 1
EMPTY_SCAN = b"*2\r\n$1\r\n0\r\n*0\r\n"


def count_arg(raw: bytes) -> int | bytes:
    """A random-sample count (HRANDFIELD, SRANDMEMBER): a C long above LONG_MIN, else the error reply."""
    count = parse_int(raw)
    if count is None:
        return errors.NOT_INTEGER
    if count < -LONG_MAX:
        return errors.LONG_RANGE
    return count


# Random picks need indexable members, and listing a big container is O(n) per pick.  So the list of a
# big container is kept between commands, tied to the container object: every command that changes a
# container in place calls `forget` (SPOP instead keeps the list in step), and a length mismatch
# rebuilds it too.  Few are kept, and each holds its container, so the memory stays bounded.
_SNAPSHOTS: dict[int, tuple[Any, list[bytes]]] = {}
_MAX_SNAPSHOTS = 16
_SNAPSHOT_MIN_SIZE = 128


def _members(container: Any) -> list[bytes]:
    """The members (fields, for a dict) of `container` as a list, cached for big containers."""
    if len(container) < _SNAPSHOT_MIN_SIZE:
        return list(container)
    entry = _SNAPSHOTS.get(id(container))
    if entry is not None and entry[0] is container and len(entry[1]) == len(container):
        return entry[1]
    if entry is None and len(_SNAPSHOTS) >= _MAX_SNAPSHOTS:
        del _SNAPSHOTS[next(iter(_SNAPSHOTS))]
    members = list(container)
    _SNAPSHOTS[id(container)] = (container, members)
    return members


def forget(container: Any) -> None:
    """Drop the cached member list of a container that was just changed in place (or deleted)."""
    if _SNAPSHOTS:
        _SNAPSHOTS.pop(id(container), None)


def random_member(container: Any) -> Any:
    """One uniformly random member (a field, for a dict) of a non-empty container."""
    members = _members(container)
    return members[random.randrange(len(members))]


def sample(container: Any, count: int) -> list[Any]:
    """`count` members as Redis picks them: distinct when positive (all of them at most), with
    repetitions allowed when negative (exactly -count picks)."""
    if count < 0:
        return random.choices(_members(container), k=-count)
    if count >= len(container):
        return list(container)
    return random.sample(_members(container), count)


def pop_random(members: set[bytes], count: int) -> list[bytes]:
    """Remove `count` (fewer than all) random members from a set and return them, in O(count) once
    the member list exists: picked slots are refilled from the end of the cached list."""
    listed = _members(members)
    picked = []
    for index in sorted(random.sample(range(len(listed)), count), reverse=True):
        picked.append(listed[index])
        listed[index] = listed[-1]
        listed.pop()
    members.difference_update(picked)
    return picked


def scan_container(
    client: Any, args: list[bytes], kind: type, compact: Callable[[Any], bool]
) -> tuple[Any, int, list[Any]] | bytes:
    """The common part of HSCAN/SSCAN: (container, next cursor, candidate members) or a full reply.

    Redis checks the cursor, then the key, and only then the options.  A container in a compact
    encoding (`compact`) is returned whole with cursor 0, whatever COUNT says, as Redis does (an
    intset in numeric order).
    Candidates may include members removed since the scan began; callers skip those.
    """
    cursor = parse_cursor(args[2])
    if cursor is None:
        return errors.INVALID_CURSOR
    db = client.db
    container = db.get_typed(args[1], kind)
    if container is None:
        return EMPTY_SCAN
    count, pattern, _ = scan_options(args, 3, allow_type=False)
    if compact(container):
        next_cursor, batch = 0, list(container) if kind is not set else sorted(container, key=int)
    else:
        next_cursor, batch = scan_batch((db, args[1]), container, cursor, count)
    if pattern is not None and pattern != b"*":
        matches = compile_glob(pattern)
        batch = [member for member in batch if matches(member)]
    return container, next_cursor, batch


def scan_reply(next_cursor: int, items: list[bytes]) -> bytes:
    cursor_text = b"%d" % next_cursor
    return b"*2\r\n$%d\r\n%s\r\n%s" % (len(cursor_text), cursor_text, bulk_array(items))
