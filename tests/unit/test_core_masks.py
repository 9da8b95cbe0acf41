"""Masks <-> polygons with holes: exact round trips, pixel for pixel."""

import numpy as np
import pytest

from fo_annotation_backends.core import masks


def grid(text):
    """A boolean mask from rows of ``#`` (foreground) and ``.``."""
    return np.array([[c == "#" for c in row] for row in text.split()], dtype=bool)


def normalised_round_trip(mask):
    """Traces ``mask``, normalises the vertices like a service would, and
    rasterises them back at the mask's size."""
    height, width = mask.shape
    polygons = masks.mask_to_polygons(mask)
    scale = np.array([width, height], dtype=float)
    # through normalised floats, as sent to and read from a service
    travelled = [[(ring / scale) * scale for ring in polygon] for polygon in polygons]
    return polygons, masks.polygons_to_mask(travelled, width, height)


SHAPES = {
    "single pixel": "... .#. ...",
    "full image": "### ###",
    "touching every border": "#..# .... #..#",
    "square with hole": "##### #...# #.#.# #...# #####",
    "diagonal saddle": "#. .#",
    "anti-diagonal saddle": ".# #.",
    "checkerboard": "#.#. .#.# #.#. .#.#",
    "ring around an island": "####### #.....# #.###.# #.#.#.# #.###.# #.....# #######",
    "hole touching a diagonal": "###. #.#. ####",
    "non-square": "#.##...# ..##..## ........",
    "staircase": "#.... ##... ###.. ####.",
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_shapes_round_trip_exactly(name):
    mask = grid(SHAPES[name])
    _, back = normalised_round_trip(mask)
    assert np.array_equal(back, mask)


def test_random_masks_round_trip_exactly():
    rng = np.random.default_rng(7)
    for _ in range(200):
        height, width = rng.integers(1, 30, size=2)
        mask = rng.random((height, width)) < rng.random()
        _, back = normalised_round_trip(mask)
        assert np.array_equal(back, mask)


def test_one_polygon_per_four_connected_component():
    # diagonal neighbours are separate components
    polygons = masks.mask_to_polygons(grid("#. .#"))
    assert len(polygons) == 2
    assert all(len(polygon) == 1 for polygon in polygons)


def test_holes_follow_their_outer_ring_with_opposite_orientation():
    mask = grid("####### #.....# #.###.# #.#.#.# #.###.# #.....# #######")
    polygons = masks.mask_to_polygons(mask)
    # the frame with one hole, and the island with its own hole
    assert sorted(len(polygon) for polygon in polygons) == [2, 2]
    for outer, *holes in polygons:
        assert masks.signed_area(outer) > 0
        assert all(masks.signed_area(hole) < 0 for hole in holes)
        assert all(abs(masks.signed_area(hole)) < abs(masks.signed_area(outer)) for hole in holes)


def test_single_pixel_is_a_diamond_between_pixel_centres():
    (polygon,) = masks.mask_to_polygons(grid("... .#. ..."))
    (ring,) = polygon
    assert sorted(map(tuple, ring.tolist())) == [(1.0, 1.5), (1.5, 1.0), (1.5, 2.0), (2.0, 1.5)]


def test_collinear_vertices_are_removed():
    mask = np.zeros((50, 80), dtype=bool)
    mask[5:45, 10:70] = True
    (polygon,) = masks.mask_to_polygons(mask)
    (ring,) = polygon
    # a rectangle with cut corners
    assert len(ring) == 8
    assert np.array_equal(masks.polygons_to_mask([polygon], 80, 50), mask)


def test_simplify_ring_keeps_reversals():
    ring = [[0, 0], [1, 0], [2, 0], [2, 2], [0, 2]]
    assert masks.simplify_ring(ring).tolist() == [[0, 0], [2, 0], [2, 2], [0, 2]]


def test_rings_are_open():
    for polygon in masks.mask_to_polygons(grid("##. ### .##")):
        for ring in polygon:
            assert not np.array_equal(ring[0], ring[-1])


def test_empty_mask_has_no_polygons():
    assert masks.mask_to_polygons(np.zeros((4, 5), dtype=bool)) == []
    assert not masks.polygons_to_mask([], 5, 4).any()


def test_integer_masks_count_non_zero_pixels():
    mask = np.array([[0, 3], [7, 0]], dtype=np.uint8)
    assert len(masks.mask_to_polygons(mask)) == 2


def test_rasterising_clips_to_the_image_and_accepts_closed_rings():
    square = [[-2.0, -2.0], [2.0, -2.0], [2.0, 2.0], [-2.0, 2.0], [-2.0, -2.0]]
    out = masks.rings_to_mask([square], 4, 3)
    expected = np.zeros((3, 4), dtype=bool)
    expected[:2, :2] = True
    assert np.array_equal(out, expected)


def test_overlapping_polygons_are_united_not_cancelled():
    a = [[[0, 0], [3, 0], [3, 3], [0, 3]]]
    b = [[[1, 1], [4, 1], [4, 4], [1, 4]]]
    out = masks.polygons_to_mask([a, b], 4, 4)
    assert out[1:3, 1:3].all() and out.sum() == 9 + 9 - 4


def test_even_odd_within_a_polygon_makes_holes():
    outer = [[0, 0], [4, 0], [4, 4], [0, 4]]
    hole = [[1, 1], [3, 1], [3, 3], [1, 3]]
    out = masks.rings_to_mask([outer, hole], 4, 4)
    assert out.sum() == 12 and not out[1:3, 1:3].any()


def test_a_large_mask_round_trips():
    rng = np.random.default_rng(3)
    mask = np.zeros((240, 320), dtype=bool)
    for _ in range(30):
        y, x = rng.integers(0, 240), rng.integers(0, 320)
        r = rng.integers(3, 25)
        yy, xx = np.ogrid[:240, :320]
        mask ^= (yy - y) ** 2 + (xx - x) ** 2 <= r * r
    _, back = normalised_round_trip(mask)
    assert np.array_equal(back, mask)
