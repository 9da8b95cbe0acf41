"""Geometry conversions: boxes, corners, scaling, rotation and masks."""

import numpy as np
import pytest

from fo_annotation_backends.core import geometry


def test_box_to_corners_is_clockwise_from_top_left():
    assert geometry.box_to_corners([0.1, 0.2, 0.3, 0.4]) == [
        [0.1, 0.2],
        [pytest.approx(0.4), 0.2],
        [pytest.approx(0.4), pytest.approx(0.6)],
        [0.1, pytest.approx(0.6)],
    ]


def test_corners_to_box_encloses_any_points():
    assert geometry.corners_to_box([[3, 1], [1, 4], [2, 2], [5, 3]]) == [1, 1, 4, 3]


def test_box_corners_round_trip():
    box = [0.125, 0.25, 0.5, 0.375]
    assert geometry.corners_to_box(geometry.box_to_corners(box)) == box


def test_percent_scaling_round_trip():
    points = [(0.1, 0.2), (0.5, 1.0), (0.0, 0.75)]
    percent = geometry.to_percent(points)
    assert percent == [[pytest.approx(10.0), pytest.approx(20.0)], [50.0, 100.0], [0.0, 75.0]]
    assert geometry.from_percent(percent) == [[pytest.approx(x), pytest.approx(y)] for x, y in points]


def test_pixel_scaling_uses_width_for_x_and_height_for_y():
    assert geometry.to_pixels([(0.5, 0.25)], 200, 80) == [[100.0, 20.0]]
    assert geometry.from_pixels([[100.0, 20.0]], 200, 80) == [[0.5, 0.25]]


def test_rotated_rect_90_degrees_about_top_left():
    corners = geometry.rotated_rect_corners(10, 20, 4, 2, 90)
    expected = [[10, 20], [10, 24], [8, 24], [8, 20]]
    for (x, y), (ex, ey) in zip(corners, expected):
        assert x == pytest.approx(ex, abs=1e-9)
        assert y == pytest.approx(ey, abs=1e-9)
    assert geometry.corners_to_box(corners) == [pytest.approx(8), pytest.approx(20), pytest.approx(2), pytest.approx(4)]


@pytest.mark.parametrize("degrees", [0, None])
def test_unrotated_rect_is_its_box(degrees):
    assert geometry.rotated_rect_corners(1, 2, 3, 4, degrees) == geometry.box_to_corners([1, 2, 3, 4])


def test_rotated_rect_180_degrees():
    corners = geometry.rotated_rect_corners(10, 10, 4, 2, 180)
    box = geometry.corners_to_box(corners)
    assert box == [pytest.approx(6), pytest.approx(8), pytest.approx(4), pytest.approx(2)]


@pytest.mark.parametrize(
    "box, clipped",
    [
        ([0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4]),
        ([-0.1, -0.2, 0.3, 0.4], [0.0, 0.0, 0.2, 0.2]),
        ([0.8, 0.9, 0.5, 0.5], [0.8, 0.9, 0.2, 0.1]),
        ([1.5, 0.5, 0.2, 0.2], [1.0, 0.5, 0.0, 0.2]),
        ([-1.0, -1.0, 3.0, 3.0], [0.0, 0.0, 1.0, 1.0]),
        ([-0.5, -0.5, 0.2, 0.2], [0.0, 0.0, 0.0, 0.0]),
    ],
)
def test_clip_box_to_the_image(box, clipped):
    assert geometry.clip_box(box) == [pytest.approx(v) for v in clipped]


def test_mask_bbox_of_empty_mask_is_none():
    assert geometry.mask_bbox(np.zeros((5, 7), dtype=bool)) is None
    assert geometry.full_mask_to_instance(np.zeros((5, 7), dtype=np.uint8)) is None


def test_mask_bbox_is_tight_and_exclusive():
    mask = np.zeros((6, 8), dtype=bool)
    mask[2, 3] = mask[4, 6] = True
    assert geometry.mask_bbox(mask) == (3, 2, 7, 5)


def test_instance_mask_round_trip_on_pixel_aligned_box():
    width, height = 10, 8
    box = [0.2, 0.25, 0.3, 0.5]  # pixels x 2..5, y 2..6
    mask = np.array(
        [
            [1, 0, 0],
            [1, 1, 0],
            [0, 1, 1],
            [0, 0, 1],
        ],
        dtype=bool,
    )

    full = geometry.instance_to_full_mask(box, mask, width, height)

    assert full.shape == (height, width)
    assert full.dtype == bool
    assert full.sum() == mask.sum()
    assert np.array_equal(full[2:6, 2:5], mask)

    out_box, out_mask = geometry.full_mask_to_instance(full)
    assert out_box == box
    assert np.array_equal(out_mask, mask)


def test_instance_without_mask_fills_its_box():
    full = geometry.instance_to_full_mask([0.5, 0.0, 0.5, 0.25], None, 4, 4)
    expected = np.zeros((4, 4), dtype=bool)
    expected[0:1, 2:4] = True
    assert np.array_equal(full, expected)


def test_instance_mask_crossing_the_border_is_cropped():
    mask = np.arange(16).reshape(4, 4) % 3 == 0  # no symmetry to hide offsets
    # pixels x 6..10, y -2..2 on an 8x8 image: mask rows 2..4, cols 0..2 remain
    full = geometry.instance_to_full_mask([0.75, -0.25, 0.5, 0.5], mask, 8, 8)
    expected = np.zeros((8, 8), dtype=bool)
    expected[0:2, 6:8] = mask[2:4, 0:2]
    assert expected.any()
    assert np.array_equal(full, expected)
