"""Geo commands: GEOADD, GEOPOS, GEODIST, GEOHASH, GEOSEARCH, GEOSEARCHSTORE, GEORADIUS and
GEORADIUSBYMEMBER (and their _RO forms) on sorted sets whose scores are 52-bit geohashes.

A geo key is an ordinary sorted set (ZRANGE shows the same scores Redis stores); the position
arithmetic, the search areas and the ordering of results live in :mod:`leakdb.engine.geohash`.
Arguments are checked in the order Redis checks them, so a command with several mistakes gets the
same error.
"""

from __future__ import annotations

import re

from .. import errors
from ..engine import geohash
from ..engine.numbers import parse_int, strtod
from ..engine.zset import ZSet
from ..resp import EMPTY_ARRAY, ZERO, bulk
from .registry import command
from .zsets import zadd

# A plain decimal this short can neither overflow nor underflow, and float() reads it as strtod does.
_PLAIN_DECIMAL = re.compile(rb"-?[0-9]{1,15}(?:\.[0-9]{1,15})?\Z")


def _double(raw: bytes) -> float | None:
    """An argument as getDoubleFromObject reads it: strtod over the whole string, no NaN, no range error."""
    if _PLAIN_DECIMAL.match(raw):
        return float(raw)
    parsed = strtod(raw)
    if parsed is None or parsed[1]:
        return None
    return parsed[0]


def _position(longitude: bytes, latitude: bytes) -> tuple[float, float] | bytes:
    """(longitude, latitude) from two arguments, or the error reply (extractLongLatOrReply)."""
    x, y = _double(longitude), _double(latitude)
    if x is None or y is None:
        return errors.NOT_FLOAT
    if not (geohash.LONG_MIN <= x <= geohash.LONG_MAX and geohash.LAT_MIN <= y <= geohash.LAT_MAX):
        return errors.GEO_INVALID_POSITION % (x, y)
    return x, y


def _unit(raw: bytes) -> float | None:
    return geohash.UNITS.get(raw.lower())


def _coordinates(resp, longitude: float, latitude: float) -> bytes:
    """A [longitude, latitude] pair as addReplyHumanLongDouble writes it: "%.17Lf" less its zeros."""
    parts = [b"*2\r\n"]
    for number in (longitude, latitude):
        text = b"%.17f" % number
        text = text.rstrip(b"0").rstrip(b".")
        if text == b"-0":
            text = b"0"
        parts.append(b",%s\r\n" % text if resp.resp3 else b"$%d\r\n%s\r\n" % (len(text), text))
    return b"".join(parts)


def _distance_reply(meters: float) -> bytes:
    return bulk(b"%.4f" % meters)


# -- GEOADD, GEOPOS, GEODIST, GEOHASH --------------------------------------------------------------


@command(
    "geoadd",
    -5,
    "write denyoom",
    1,
    1,
    group="geo",
    since="3.2.0",
    summary="Add one or more geospatial items in the geospatial index represented using a sorted set",
)
def geoadd(client, args):
    nx = xx = False
    first = 2
    while first < len(args):
        option = args[first].lower()
        if option == b"nx":
            nx = True
        elif option == b"xx":
            xx = True
        elif option != b"ch":  # CH is ZADD's to handle
            break
        first += 1
    if (len(args) - first) % 3 or (nx and xx):
        return errors.SYNTAX
    zadd_args = [b"zadd", *args[1:first]]
    for i in range(first, len(args), 3):
        position = _position(args[i], args[i + 1])
        if type(position) is bytes:
            return position
        zadd_args.append(b"%d" % geohash.encode(*position))
        zadd_args.append(args[i + 2])
    return zadd(client, zadd_args)


@command(
    "geopos",
    -2,
    "readonly",
    1,
    1,
    group="geo",
    since="3.2.0",
    summary="Returns longitude and latitude of members of a geospatial index",
)
def geopos(client, args):
    zset = client.db.get_typed(args[1], ZSet)
    scores = {} if zset is None else zset.scores
    resp = client.resp
    parts = [b"*%d\r\n" % (len(args) - 2)]
    for member in args[2:]:
        score = scores.get(member)
        parts.append(resp.null_array if score is None else _coordinates(resp, *geohash.decode(score)))
    return b"".join(parts)


@command(
    "geodist",
    -4,
    "readonly",
    1,
    1,
    group="geo",
    since="3.2.0",
    summary="Returns the distance between two members of a geospatial index",
)
def geodist(client, args):
    to_meters = 1.0
    if len(args) == 5:
        to_meters = _unit(args[4])
        if to_meters is None:
            return errors.GEO_UNIT
    elif len(args) > 5:
        return errors.SYNTAX
    zset = client.db.get_typed(args[1], ZSet)
    if zset is None:
        return client.resp.null
    first, second = zset.scores.get(args[2]), zset.scores.get(args[3])
    if first is None or second is None:
        return client.resp.null
    return _distance_reply(geohash.distance(*geohash.decode(first), *geohash.decode(second)) / to_meters)


@command(
    "geohash",
    -2,
    "readonly",
    1,
    1,
    group="geo",
    since="3.2.0",
    summary="Returns members of a geospatial index as standard geohash strings",
)
def geohash_(client, args):
    zset = client.db.get_typed(args[1], ZSet)
    scores = {} if zset is None else zset.scores
    null = client.resp.null
    parts = [b"*%d\r\n" % (len(args) - 2)]
    for member in args[2:]:
        score = scores.get(member)
        parts.append(null if score is None else b"$11\r\n%s\r\n" % geohash.geohash_text(score))
    return b"".join(parts)


# -- searches ------------------------------------------------------------------------------------

BY_COORDINATES, BY_MEMBER, NO_STORE, SEARCH, SEARCH_STORE = 1, 2, 4, 8, 16


class _Search:
    """The options of one search as georadiusGeneric collects them."""

    def __init__(self) -> None:
        self.shape = geohash.Shape(0.0, 0.0, conversion=0.0)
        self.store_key: bytes | None = None
        self.store_distance = False
        self.with_distance = self.with_hash = self.with_coordinates = False
        self.from_member = self.from_position = self.by_radius = self.by_box = False
        self.sort = 0  # 0 none, 1 ascending, 2 descending
        self.any = False
        self.count = 0


def _radius(search: _Search, raw: bytes, unit: bytes) -> bytes | None:
    """extractDistanceOrReply: the radius and unit into the shape, or the error reply."""
    radius = _double(raw)
    if radius is None:
        return errors.GEO_NEED_RADIUS
    if radius < 0:
        return errors.GEO_RADIUS_NEGATIVE
    to_meters = _unit(unit)
    if to_meters is None:
        return errors.GEO_UNIT
    search.shape.radius, search.shape.conversion, search.shape.box = radius, to_meters, False
    return None


def _box(search: _Search, width_raw: bytes, height_raw: bytes, unit: bytes) -> bytes | None:
    width = _double(width_raw)
    if width is None:
        return errors.GEO_NEED_WIDTH
    height = _double(height_raw)
    if height is None:
        return errors.GEO_NEED_HEIGHT
    if height < 0 or width < 0:
        return errors.GEO_BOX_NEGATIVE
    to_meters = _unit(unit)
    if to_meters is None:
        return errors.GEO_UNIT
    shape = search.shape
    shape.width, shape.height, shape.conversion, shape.box = width, height, to_meters, True
    return None


def _centre_at(search: _Search, zset: ZSet, member: bytes) -> bytes | None:
    score = zset.scores.get(member)
    if score is None:
        return errors.GEO_MEMBER_UNKNOWN
    search.shape.longitude, search.shape.latitude = geohash.decode(score)
    return None


def _options(search: _Search, args: list[bytes], base: int, flags: int, zset: ZSet | None) -> bytes | None:
    """The optional arguments after `base`, each checked as it is read; the first error reply."""
    i, n = base, len(args)
    geo_search = flags & SEARCH
    while i < n:
        option = args[i].lower()
        left = n - i - 1
        error = None
        if option == b"withdist":
            search.with_distance = True
        elif option == b"withhash":
            search.with_hash = True
        elif option == b"withcoord":
            search.with_coordinates = True
        elif option == b"any":
            search.any = True
        elif option == b"asc":
            search.sort = 1
        elif option == b"desc":
            search.sort = 2
        elif option == b"count" and left >= 1:
            count = parse_int(args[i + 1])
            if count is None:
                return errors.NOT_INTEGER
            if count <= 0:
                return errors.GEO_COUNT
            search.count = count
            i += 1
        elif option in (b"store", b"storedist") and left >= 1 and not flags & (NO_STORE | SEARCH):
            search.store_key = args[i + 1]
            search.store_distance = option == b"storedist"
            i += 1
        elif option == b"storedist" and flags & SEARCH_STORE:
            search.store_distance = True
        elif option == b"frommember" and left >= 1 and geo_search and not search.from_position:
            if zset is not None:
                error = _centre_at(search, zset, args[i + 1])
            search.from_member = True
            i += 1
        elif option == b"fromlonlat" and left >= 2 and geo_search and not search.from_member:
            position = _position(args[i + 1], args[i + 2])
            if type(position) is bytes:
                return position
            search.shape.longitude, search.shape.latitude = position
            search.from_position = True
            i += 2
        elif option == b"byradius" and left >= 2 and geo_search and not search.by_box:
            error = _radius(search, args[i + 1], args[i + 2])
            search.by_radius = True
            i += 2
        elif option == b"bybox" and left >= 3 and geo_search and not search.by_radius:
            error = _box(search, args[i + 1], args[i + 2], args[i + 3])
            search.by_box = True
            i += 3
        else:
            return errors.SYNTAX
        if error is not None:
            return error
        i += 1
    return None


def _search(client, args: list[bytes], source: int, flags: int) -> bytes:
    """georadiusGeneric: parse, find the points in the shape, order them, reply or store."""
    db = client.db
    zset = db.get_typed(args[source], ZSet)
    search = _Search()
    if flags & BY_COORDINATES:
        base = 6
        position = _position(args[2], args[3])
        if type(position) is bytes:
            return position
        search.shape.longitude, search.shape.latitude = position
        error = _radius(search, args[4], args[5])
        if error is not None:
            return error
    elif flags & BY_MEMBER:
        base = 5
        if zset is not None:
            error = _centre_at(search, zset, args[2]) or _radius(search, args[3], args[4])
            if error is not None:
                return error
    else:
        base = 3 if flags & SEARCH_STORE else 2
        if flags & SEARCH_STORE:
            search.store_key = args[1]
    error = _options(search, args, base, flags, zset)
    if error is not None:
        return error
    name = args[0]
    if search.store_key is not None and (search.with_distance or search.with_hash or search.with_coordinates):
        option = b"GEOSEARCHSTORE" if flags & SEARCH_STORE else b"STORE option in GEORADIUS"
        return errors.GEO_STORE_OPTIONS % option
    if flags & SEARCH and not (search.from_member or search.from_position):
        return errors.GEO_FROM % name
    if flags & SEARCH and not (search.by_radius or search.by_box):
        return errors.GEO_BY % name
    if search.any and not search.count:
        return errors.GEO_ANY
    if zset is None:
        if search.store_key is None:
            return EMPTY_ARRAY
        db.delete(search.store_key, "del")
        return ZERO
    if search.count and not search.sort and not search.any:
        search.sort = 1
    points = _points_in_shape(zset, search.shape, search.count if search.any else 0)
    if not points and search.store_key is None:
        return EMPTY_ARRAY
    keep = len(points) if not search.count else min(search.count, len(points))
    if search.sort:
        points = geohash.order_by_distance(points, search.sort == 2, keep)
    points = points[:keep]
    conversion = search.shape.conversion
    if search.store_key is not None:
        event = "geosearchstore" if flags & SEARCH_STORE else "georadiusstore"
        return _store(db, search, points, conversion, event)
    return _reply(client.resp, search, points, conversion)


def _points_in_shape(zset: ZSet, shape: geohash.Shape, limit: int) -> list[tuple]:
    """(distance, member, score, longitude, latitude) of the members inside the shape, in the order
    Redis visits them (box by box, ascending scores within a box), at most `limit` if it is set."""
    found: list[tuple] = []
    decode, contains = geohash.decode, shape.measurer()
    seen: dict[float, tuple] = {}  # members at one position share a score: decode and measure once
    for low, high in geohash.search_ranges(shape):
        if limit and found and len(found) >= limit:
            break
        start, stop = zset.score_span(low, False, high, True)
        for score, member in zset.pairs(start, stop):
            known = seen.get(score)
            if known is None:
                longitude, latitude = decode(score)
                known = seen[score] = (contains(longitude, latitude), longitude, latitude)
            meters = known[0]
            if meters is not None:
                found.append((meters, member, score, known[1], known[2]))
                if limit and len(found) >= limit:
                    break
    return found


def _reply(resp, search: _Search, points: list[tuple], conversion: float) -> bytes:
    extras = search.with_distance + search.with_hash + search.with_coordinates
    parts = [b"*%d\r\n" % len(points)]
    for meters, member, score, longitude, latitude in points:
        if extras:
            parts.append(b"*%d\r\n" % (extras + 1))
        parts.append(b"$%d\r\n%s\r\n" % (len(member), member))
        if search.with_distance:
            parts.append(_distance_reply(meters / conversion))
        if search.with_hash:
            parts.append(b":%d\r\n" % int(score))
        if search.with_coordinates:
            parts.append(_coordinates(resp, longitude, latitude))
    return b"".join(parts)


def _store(db, search: _Search, points: list[tuple], conversion: float, event: str) -> bytes:
    key = search.store_key
    if not points:
        db.delete(key, "del")
        return ZERO
    by_distance = search.store_distance
    pairs = [(point[1], point[0] / conversion if by_distance else point[2]) for point in points]
    db.set(key, ZSet.from_pairs(pairs), None, event)
    return b":%d\r\n" % len(points)


_QUERY = "Query a sorted set representing a geospatial index to fetch members "
_AREA = _QUERY + "inside an area of a box or a circle"
_DISTANCE = _QUERY + "matching a given maximum distance"


@command("geosearch", -7, "readonly", 1, 1, group="geo", since="6.2.0", summary=_AREA + ".")
def geosearch(client, args):
    return _search(client, args, 1, SEARCH)


@command(
    "geosearchstore",
    -8,
    "write denyoom",
    1,
    2,
    group="geo",
    since="6.2.0",
    summary=_AREA + ", and store the result in another key.",
)
def geosearchstore(client, args):
    return _search(client, args, 2, SEARCH | SEARCH_STORE)


@command(
    "georadius",
    -6,
    "write denyoom movablekeys",
    1,
    1,
    group="geo",
    since="3.2.0",
    summary=_DISTANCE + " from a point",
)
def georadius(client, args):
    return _search(client, args, 1, BY_COORDINATES)


@command(
    "georadius_ro",
    -6,
    "readonly",
    1,
    1,
    group="geo",
    since="3.2.10",
    summary="A read-only variant for GEORADIUS",
)
def georadius_ro(client, args):
    return _search(client, args, 1, BY_COORDINATES | NO_STORE)


@command(
    "georadiusbymember",
    -5,
    "write denyoom movablekeys",
    1,
    1,
    group="geo",
    since="3.2.0",
    summary=_DISTANCE + " from a member",
)
def georadiusbymember(client, args):
    return _search(client, args, 1, BY_MEMBER)


@command(
    "georadiusbymember_ro",
    -5,
    "readonly",
    1,
    1,
    group="geo",
    since="3.2.10",
    summary="A read-only variant for GEORADIUSBYMEMBER",
)
def georadiusbymember_ro(client, args):
    return _search(client, args, 1, BY_MEMBER | NO_STORE)
