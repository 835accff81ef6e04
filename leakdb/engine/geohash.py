"""Geohashes as Redis's geo commands use them: positions as 52-bit sorted-set scores, and the search areas.

A position is stored as the score of a sorted-set member: latitude (between -85.05112878 and
85.05112878, the Web Mercator limits) and longitude are each cut into 2**26 steps and their bits
interleaved, latitude in the even bits.  A score decodes to the centre of its cell.  Distances are
the haversine formula on a sphere of radius 6372797.560856 m.  A radius or box search looks at the
cell holding the centre, at a precision chosen from the search size, and its eight neighbours, in
Redis's order, so that results arrive in the order Redis gives them.  Arithmetic is C's double
arithmetic step for step (Python floats are C doubles and ``math`` is the C library), so every digit
of a reply matches.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

LONG_MIN, LONG_MAX = -180.0, 180.0
LAT_MIN, LAT_MAX = -85.05112878, 85.05112878
STEP_MAX = 26
EARTH_RADIUS = 6372797.560856
MERCATOR_MAX = 20037726.37
_D_R = math.pi / 180.0
_MASK = (1 << 64) - 1
_EVEN = 0x5555555555555555
_ODD = 0xAAAAAAAAAAAAAAAA
_ALPHABET = b"0123456789bcdefghjkmnpqrstuvwxyz"

# Units as Redis names them, with their size in meters.
UNITS = {b"m": 1.0, b"km": 1000.0, b"ft": 0.3048, b"mi": 1609.34}


def _squash(x: int) -> int:
    """The even bits of a 64-bit word, gathered into 32 bits."""
    x &= _EVEN
    x = (x | (x >> 1)) & 0x3333333333333333
    x = (x | (x >> 2)) & 0x0F0F0F0F0F0F0F0F
    x = (x | (x >> 4)) & 0x00FF00FF00FF00FF
    x = (x | (x >> 8)) & 0x0000FFFF0000FFFF
    return (x | (x >> 16)) & 0xFFFFFFFF


_WIDE = 1 << 64


def _spread_pair(low: int, high: int) -> int:
    """_spread of two 32-bit numbers at once, in the two halves of one 128-bit integer."""
    x = low | high << 64
    x = (x | (x << 16)) & 0x0000FFFF0000FFFF_0000FFFF0000FFFF
    x = (x | (x << 8)) & 0x00FF00FF00FF00FF_00FF00FF00FF00FF
    x = (x | (x << 4)) & 0x0F0F0F0F0F0F0F0F_0F0F0F0F0F0F0F0F
    x = (x | (x << 2)) & 0x3333333333333333_3333333333333333
    return (x | (x << 1)) & 0x5555555555555555_5555555555555555


def encode(
    longitude: float,
    latitude: float,
    step: int = STEP_MAX,
    lat_min: float = LAT_MIN,
    lat_max: float = LAT_MAX,
) -> int:
    """geohashEncode: the interleaved cell number of a position (already checked to be in range)."""
    cells = float(1 << step)
    lat_offset = (latitude - lat_min) / (lat_max - lat_min) * cells
    long_offset = (longitude - LONG_MIN) / (LONG_MAX - LONG_MIN) * cells
    # C converts each offset to uint32_t, truncating; the two are interleaved latitude first.
    spread = _spread_pair(int(lat_offset) & 0xFFFFFFFF, int(long_offset) & 0xFFFFFFFF)
    return (spread & _MASK) | (spread >> 64) << 1


def score_bits(score: float) -> int:
    """A sorted-set score as C converts a double to uint64_t on x86-64 (out-of-range scores too)."""
    if score < 9223372036854775808.0:
        return 1 << 63 if score < -9223372036854775808.0 else int(score) & _MASK
    if score != score or score - 9223372036854775808.0 >= 9223372036854775808.0:
        return 1 << 63 if score != score else 0
    return int(score - 9223372036854775808.0) ^ (1 << 63)


@dataclass(frozen=True)
class Area:
    lat_min: float
    lat_max: float
    long_min: float
    long_max: float


def decode_area(bits: int, step: int, lat_min: float = LAT_MIN, lat_max: float = LAT_MAX) -> Area:
    """geohashDecode: the latitude and longitude span of a cell."""
    lat_cell = _squash(bits)
    long_cell = _squash(bits >> 1)
    cells = float(1 << step)
    lat_scale = lat_max - lat_min
    long_scale = LONG_MAX - LONG_MIN
    return Area(
        lat_min + (lat_cell / cells) * lat_scale,
        lat_min + (((lat_cell + 1) & 0xFFFFFFFF) / cells) * lat_scale,
        LONG_MIN + (long_cell / cells) * long_scale,
        LONG_MIN + (((long_cell + 1) & 0xFFFFFFFF) / cells) * long_scale,
    )


_CELLS = float(1 << STEP_MAX)
_LAT_SCALE = LAT_MAX - LAT_MIN
_LONG_SCALE = LONG_MAX - LONG_MIN


def _squash_pair(bits: int) -> tuple[int, int]:
    """(_squash(bits), _squash(bits >> 1)): both halves of a cell number, gathered in one pass."""
    x = (bits & _EVEN) | (bits >> 1 & _EVEN) << 64
    x = (x | (x >> 1)) & 0x3333333333333333_3333333333333333
    x = (x | (x >> 2)) & 0x0F0F0F0F0F0F0F0F_0F0F0F0F0F0F0F0F
    x = (x | (x >> 4)) & 0x00FF00FF00FF00FF_00FF00FF00FF00FF
    x = (x | (x >> 8)) & 0x0000FFFF0000FFFF_0000FFFF0000FFFF
    x = (x | (x >> 16)) & 0x00000000FFFFFFFF_00000000FFFFFFFF
    return x & 0xFFFFFFFF, x >> 64


def decode(score: float) -> tuple[float, float]:
    """(longitude, latitude) of a member's score: the centre of its cell, clamped to the valid range.

    decode_area and the centre computation inlined: searches decode every candidate."""
    bits = int(score) if 0.0 <= score < 4503599627370496.0 else score_bits(score)
    lat_cell, long_cell = _squash_pair(bits)
    lat_low = LAT_MIN + (lat_cell / _CELLS) * _LAT_SCALE
    lat_high = LAT_MIN + (((lat_cell + 1) & 0xFFFFFFFF) / _CELLS) * _LAT_SCALE
    long_low = LONG_MIN + (long_cell / _CELLS) * _LONG_SCALE
    long_high = LONG_MIN + (((long_cell + 1) & 0xFFFFFFFF) / _CELLS) * _LONG_SCALE
    longitude = (long_low + long_high) / 2
    latitude = (lat_low + lat_high) / 2
    if longitude > LONG_MAX:
        longitude = LONG_MAX
    elif longitude < LONG_MIN:
        longitude = LONG_MIN
    if latitude > LAT_MAX:
        latitude = LAT_MAX
    elif latitude < LAT_MIN:
        latitude = LAT_MIN
    return longitude, latitude


def distance(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Haversine great-circle distance in meters (geohashGetDistance in Redis 7.0)."""
    lat1r = lat1 * _D_R
    lon1r = lon1 * _D_R
    lat2r = lat2 * _D_R
    lon2r = lon2 * _D_R
    u = math.sin((lat2r - lat1r) / 2)
    v = math.sin((lon2r - lon1r) / 2)
    return 2.0 * EARTH_RADIUS * math.asin(math.sqrt(u * u + math.cos(lat1r) * math.cos(lat2r) * v * v))


def geohash_text(score: float) -> bytes:
    """GEOHASH's 11-character string: the position re-encoded with latitudes -90..90, as is standard."""
    longitude, latitude = decode(score)
    bits = encode(longitude, latitude, STEP_MAX, -90.0, 90.0)
    characters = bytes(_ALPHABET[(bits >> (52 - (i + 1) * 5)) & 0x1F] for i in range(10))
    return characters + b"0"


# -- searches --------------------------------------------------------------------------------------


@dataclass
class Shape:
    """A search: its centre, a radius or a width and height, and the unit's size in meters."""

    longitude: float
    latitude: float
    conversion: float = 1.0
    radius: float = 0.0
    width: float = 0.0
    height: float = 0.0
    box: bool = False

    def contains(self, longitude: float, latitude: float) -> float | None:
        """The distance in meters from the centre to a point inside the shape, None for one outside."""
        if not self.box:
            found = distance(self.longitude, self.latitude, longitude, latitude)
            # NaN (antipodal rounding) compares false, and Redis keeps such a point too.
            return None if found > self.radius * self.conversion else found
        lon_distance = distance(longitude, latitude, self.longitude, latitude)
        lat_distance = distance(longitude, latitude, longitude, self.latitude)
        if lon_distance > self.width * self.conversion / 2:
            return None
        if lat_distance > self.height * self.conversion / 2:
            return None
        return distance(self.longitude, self.latitude, longitude, latitude)

    def measurer(self) -> Callable[[float, float], float | None]:
        """`contains` for many points: a radius search's centre terms computed once (the same values
        distance() computes each time, so every distance keeps its digits)."""
        if self.box:
            return self.contains
        sin, cos, asin, sqrt = math.sin, math.cos, math.asin, math.sqrt
        lat1r = self.latitude * _D_R
        lon1r = self.longitude * _D_R
        cos1 = cos(lat1r)
        limit = self.radius * self.conversion
        diameter = 2.0 * EARTH_RADIUS

        def measure(longitude: float, latitude: float) -> float | None:
            lat2r = latitude * _D_R
            u = sin((lat2r - lat1r) / 2)
            v = sin((longitude * _D_R - lon1r) / 2)
            found = diameter * asin(sqrt(u * u + cos1 * cos(lat2r) * v * v))
            return None if found > limit else found

        return measure

    def bounds(self) -> tuple[float, float, float, float]:
        """geohashBoundingBox: (min longitude, min latitude, max longitude, max latitude)."""
        half_height = self.conversion * (self.height / 2 if self.box else self.radius)
        half_width = self.conversion * (self.width / 2 if self.box else self.radius)
        lat_delta = (half_height / EARTH_RADIUS) / _D_R
        top = (half_width / EARTH_RADIUS / math.cos((self.latitude + lat_delta) * _D_R)) / _D_R
        bottom = (half_width / EARTH_RADIUS / math.cos((self.latitude - lat_delta) * _D_R)) / _D_R
        spread = bottom if self.latitude < 0 else top
        return (
            self.longitude - spread,
            self.latitude - lat_delta,
            self.longitude + spread,
            self.latitude + lat_delta,
        )


def estimate_steps(range_meters: float, latitude: float) -> int:
    """geohashEstimateStepsByRadius: the cell precision whose cells are about the search's size."""
    if range_meters == 0:
        return STEP_MAX
    step = 1
    while range_meters < MERCATOR_MAX:
        range_meters *= 2
        step += 1
    step -= 2
    if latitude > 66 or latitude < -66:
        step -= 1
        if latitude > 80 or latitude < -80:
            step -= 1
    return min(max(step, 1), STEP_MAX)


def _move(bits: int, step: int, direction: int, mask: int) -> int:
    """geohash_move_x (mask: the odd, longitude bits) or geohash_move_y (the even, latitude bits)."""
    moving = bits & mask
    kept = bits & (_MASK ^ mask)
    filler = (_MASK ^ mask) >> (64 - step * 2)
    step_up = filler + 1
    moving = (moving + step_up if direction > 0 else (moving | filler) - step_up) & _MASK
    return (moving & (mask >> (64 - step * 2))) | kept


def _neighbour(bits: int, step: int, east: int, north: int) -> tuple[int, int]:
    if east:
        bits = _move(bits, step, east, _ODD)
    if north:
        bits = _move(bits, step, north, _EVEN)
    return bits, step


# The order membersOfAllNeighbors visits the boxes in: centre, N, S, E, W, NE, NW, SE, SW.
_ORDER = ((0, 0), (0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (-1, 1), (1, -1), (-1, -1))


def search_ranges(shape: Shape) -> list[tuple[float, float]]:
    """The score ranges [min, max) to scan, in Redis's order (geohashCalculateAreasByShapeWGS84 and
    membersOfAllNeighbors): the centre's cell and its neighbours, minus those outside the bounds and
    a neighbour equal to the one visited just before it."""
    min_lon, min_lat, max_lon, max_lat = shape.bounds()
    if shape.box:
        half_width, half_height = shape.width / 2, shape.height / 2
        range_meters = math.sqrt(half_width * half_width + half_height * half_height)
    else:
        range_meters = shape.radius
    range_meters *= shape.conversion
    steps = estimate_steps(range_meters, shape.latitude)
    centre = encode(shape.longitude, shape.latitude, steps)
    north = decode_area(*_neighbour(centre, steps, 0, 1))
    south = decode_area(*_neighbour(centre, steps, 0, -1))
    east = decode_area(*_neighbour(centre, steps, 1, 0))
    west = decode_area(*_neighbour(centre, steps, -1, 0))
    too_small = (
        north.lat_max < max_lat
        or south.lat_min > min_lat
        or east.long_max < max_lon
        or west.long_min > min_lon
    )
    if steps > 1 and too_small:
        steps -= 1
        centre = encode(shape.longitude, shape.latitude, steps)
    area = decode_area(centre, steps)
    boxes: list[tuple[int, int] | None] = [_neighbour(centre, steps, e, n) for e, n in _ORDER]
    if steps >= 2:
        for position, (e, n) in enumerate(_ORDER):
            if (
                (n < 0 and area.lat_min < min_lat)
                or (n > 0 and area.lat_max > max_lat)
                or (e < 0 and area.long_min < min_lon)
                or (e > 0 and area.long_max > max_lon)
            ):
                boxes[position] = None
    ranges = []
    last = 0
    for position, box in enumerate(boxes):
        if box is None:
            continue
        # Redis skips a box equal to the last one it visited, but never compares with the centre.
        if last and box == boxes[last]:
            continue
        bits, step = box
        shift = 52 - step * 2
        ranges.append((float(bits << shift), float((bits + 1) << shift)))
        last = position
    return ranges


# -- ordering results ------------------------------------------------------------------------------
#
# Redis sorts found points by distance with the C library's qsort (glibc's is a stable merge sort)
# when it returns them all, and with its own partial quicksort (pqsort, from NetBSD's qsort) when
# COUNT keeps fewer.  Points at equal distances come out in the order those algorithms leave them,
# so both are followed exactly where it can matter: ties, or a NaN distance.


def order_by_distance(points: list, descending: bool, keep: int) -> list:
    """The first `keep` of `points` (sequences whose item 0 is the distance) as Redis orders them."""
    distances = [point[0] for point in points]
    has_nan = any(d != d for d in distances)
    if keep >= len(points):
        if not has_nan:
            return sorted(points, key=_first, reverse=descending)
        return _merge_sort(points, _descending if descending else _ascending)
    if not has_nan and len(set(distances)) == len(distances):
        return sorted(points, key=_first, reverse=descending)[:keep]
    ordered = list(points)
    _partial_quicksort(ordered, 0, len(ordered), _descending if descending else _ascending, 0, keep - 1)
    return ordered[:keep]


def _first(point) -> float:
    return point[0]


def _ascending(a, b) -> int:
    if a[0] > b[0]:
        return 1
    return 0 if a[0] == b[0] else -1


def _descending(a, b) -> int:
    return -_ascending(a, b)


def _merge_sort(items: list, compare) -> list:
    """glibc's msort: split in halves (the first one shorter or equal), merge taking left on ties."""
    if len(items) <= 1:
        return list(items)
    half = len(items) // 2
    left, right = _merge_sort(items[:half], compare), _merge_sort(items[half:], compare)
    merged = []
    i = j = 0
    while i < len(left) and j < len(right):
        if compare(left[i], right[j]) <= 0:
            merged.append(left[i])
            i += 1
        else:
            merged.append(right[j])
            j += 1
    return merged + left[i:] + right[j:]


def _median(a: list, i: int, j: int, k: int, compare) -> int:
    if compare(a[i], a[j]) < 0:
        return j if compare(a[j], a[k]) < 0 else (k if compare(a[i], a[k]) < 0 else i)
    return j if compare(a[j], a[k]) > 0 else (i if compare(a[i], a[k]) < 0 else k)


def _insertion_sort(a: list, base: int, n: int, compare) -> None:
    for m in range(base + 1, base + n):
        j = m
        while j > base and compare(a[j - 1], a[j]) > 0:
            a[j - 1], a[j] = a[j], a[j - 1]
            j -= 1


def _partial_quicksort(a: list, base: int, n: int, compare, low: int, high: int) -> None:
    """Redis's pqsort over a[base:base+n]: Bentley-McIlroy quicksort that only descends into the
    parts overlapping positions low..high."""
    while True:
        if n < 7:
            _insertion_sort(a, base, n, compare)
            return
        middle = base + n // 2
        if n > 7:
            first, last = base, base + n - 1
            if n > 40:
                d = n // 8
                first = _median(a, first, first + d, first + 2 * d, compare)
                middle = _median(a, middle - d, middle, middle + d, compare)
                last = _median(a, last - 2 * d, last - d, last, compare)
            middle = _median(a, first, middle, last, compare)
        a[base], a[middle] = a[middle], a[base]
        pa = pb = base + 1
        pc = pd = base + n - 1
        swapped = False
        while True:
            while pb <= pc:
                order = compare(a[pb], a[base])
                if order > 0:
                    break
                if order == 0:
                    swapped = True
                    a[pa], a[pb] = a[pb], a[pa]
                    pa += 1
                pb += 1
            while pb <= pc:
                order = compare(a[pc], a[base])
                if order < 0:
                    break
                if order == 0:
                    swapped = True
                    a[pc], a[pd] = a[pd], a[pc]
                    pd -= 1
                pc -= 1
            if pb > pc:
                break
            a[pb], a[pc] = a[pc], a[pb]
            swapped = True
            pb += 1
            pc -= 1
        if not swapped:
            _insertion_sort(a, base, n, compare)
            return
        end = base + n
        r = min(pa - base, pb - pa)
        _swap_runs(a, base, pb - r, r)
        r = min(pd - pc, end - pd - 1)
        _swap_runs(a, pb, end - r, r)
        r = pb - pa
        if r > 1 and not (high < base or low >= base + r):
            _partial_quicksort(a, base, r, compare, low, high)
        r = pd - pc
        if r <= 1:
            return
        base, n = end - r, r
        if high < base or low >= base + n:
            return


def _swap_runs(a: list, i: int, j: int, n: int) -> None:
    for k in range(n):
        a[i + k], a[j + k] = a[j + k], a[i + k]
