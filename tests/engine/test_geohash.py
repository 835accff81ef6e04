"""Geohash arithmetic on its own: bit interleaving, C's double-to-integer conversion, cell decoding,
neighbour moves at the edges, and the two sorts Redis orders search results with."""

from __future__ import annotations

import functools
import random

from hypothesis import given
from hypothesis import strategies as st

from leakdb.engine import geohash


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_interleaving_round_trips(lat_cell, long_cell):
    spread = geohash._spread_pair(lat_cell, long_cell)
    bits = (spread & (2**64 - 1)) | (spread >> 64) << 1
    assert geohash._squash(bits) == lat_cell
    assert geohash._squash(bits >> 1) == long_cell


def test_scores_convert_to_integers_as_c_does():
    assert geohash.score_bits(3479099956230698.0) == 3479099956230698
    assert geohash.score_bits(-1.0) == 2**64 - 1
    assert geohash.score_bits(-0.5) == 0
    assert geohash.score_bits(float("inf")) == 0
    assert geohash.score_bits(float("-inf")) == 2**63
    assert geohash.score_bits(1e19) == 10**19
    assert geohash.score_bits(1e20) == 0


@given(st.floats(-180, 180), st.floats(geohash.LAT_MIN, geohash.LAT_MAX))
def test_a_position_decodes_to_the_centre_of_its_cell(longitude, latitude):
    decoded_long, decoded_lat = geohash.decode(float(geohash.encode(longitude, latitude)))
    assert abs(decoded_long - longitude) <= 360 / 2**26
    assert abs(decoded_lat - latitude) <= 171 / 2**26


def test_neighbours_wrap_around_the_grid():
    step = 3
    corner = geohash.encode(179.9, 85, step)
    east = geohash._neighbour(corner, step, 1, 0)[0]
    assert geohash.decode_area(east, step).long_min == -180.0
    west = geohash._neighbour(east, step, -1, 0)[0]
    assert west == corner


def test_distance_is_the_haversine_on_redis_radius():
    assert geohash.distance(0, 0, 0, 0) == 0
    quarter = geohash.distance(0, 0, 90, 0)
    assert abs(quarter - geohash.EARTH_RADIUS * 3.141592653589793 / 2) < 1e-6


def _cmp(a, b):
    return (a[0] > b[0]) - (a[0] < b[0])


@given(st.lists(st.integers(0, 5), max_size=120), st.integers(1, 130))
def test_partial_quicksort_sorts_the_kept_prefix(keys, keep):
    points = [(float(k), i) for i, k in enumerate(keys)]
    ordered = list(points)
    geohash._partial_quicksort(ordered, 0, len(ordered), geohash._ascending, 0, min(keep, len(points)) - 1)
    expected = sorted(k for k, _ in points)[:keep]
    assert [k for k, _ in ordered[:keep]] == expected
    assert sorted(ordered) == sorted(points)


def test_merge_sort_is_stable_like_glibc_qsort():
    rng = random.Random(3)
    points = [(float(rng.randrange(4)), i) for i in range(200)]
    assert geohash._merge_sort(points, geohash._ascending) == sorted(points, key=functools.cmp_to_key(_cmp))
    nan = float("nan")
    with_nan = [(1.0, 0), (nan, 1), (0.5, 2)]
    assert [i for _, i in geohash.order_by_distance(with_nan, False, 3)] == [
        i for _, i in geohash._merge_sort(with_nan, geohash._ascending)
    ]
