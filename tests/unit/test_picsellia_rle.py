"""COCO compressed RLE (``fo_annotation_backends.picsellia.rle``): known-good
strings, round trips, agreement with FiftyOne's uncompressed counts, and
refusals of malformed strings."""

import numpy as np
import pytest
from fiftyone.utils.coco import _mask_to_rle

from fo_annotation_backends.picsellia import rle


def _reference_masks():
    """The masks of the reference vectors, built by formula (no RNG)."""
    y, x = np.mgrid[0:7, 0:5]
    yield "pattern_7x5", (x * x + 3 * y) % 4 == 1
    y, x = np.mgrid[0:40, 0:100]
    yield "disc_40x100", ((x - 60) ** 2 + (y - 15) ** 2 <= 144) | ((x >= 5) & (x < 20) & (y >= 30) & (y < 38))
    yield "full_3x2", np.ones((3, 2), bool)
    yield "empty_6x9", np.zeros((6, 9), bool)
    y, x = np.mgrid[0:60, 0:45]
    yield "frame_60x45", (y >= 5) & (y < 50) & (x >= 3) & (x < 40) & ~((y >= 20) & (y < 30) & (x >= 10) & (x < 35))
    mask = np.zeros((10, 4), bool)
    index = np.arange(7, 13)
    mask[index % 10, index // 10] = True  # one run from column 0 into column 1
    yield "wrap_10x4", mask
    mask = np.zeros((700, 3), bool)
    mask[0, 0] = True
    mask[5:690, 1] = True
    yield "long_700x3", mask
    yield "corner_1x1", np.ones((1, 1), bool)


#: name -> (counts, area, bbox), produced once by pycocotools 2.0.11 (``mask.encode`` of the Fortran-ordered uint8
#: mask, ``mask.area``, ``mask.toBbox``) in a throwaway virtualenv; pycocotools is not a dependency
REFERENCE = {
    "pattern_7x5": ("31300020N00020N", 7, [0, 0, 5, 5]),
    "disc_40x100": (
        "V78P1000000000000000000000000000aR1IbmN8J4M2N2N2N2O0O2O00000O20N1000001N101N2N2N2N3L6H]Q1",
        561,
        [5, 3, 68, 35],
    ),
    "full_3x2": ("06", 6, [0, 0, 2, 3]),
    "empty_6x9": ("f1", 0, [0, 0, 0, 0]),
    "frame_60x45": (
        "i5]1?000000000000ROK55KK55KK55KK55KK55KK55KK55KK55KK55KK55KK55KK55KK55KK55KK55KK55KK55KK55KK55KK55KK55KK55"
        "KK55KK55KK55i000000000W9",
        1415,
        [3, 5, 37, 45],
    ),
    "wrap_10x4": ("76k0", 6, [0, 0, 2, 10]),
    "long_700x3": ("01Pf0\\e06", 686, [0, 0, 2, 690]),
    "corner_1x1": ("01", 1, [0, 0, 1, 1]),
}


@pytest.mark.parametrize("name,mask", list(_reference_masks()), ids=[n for n, _ in _reference_masks()])
def test_known_good_strings(name, mask):
    counts, area, bbox = REFERENCE[name]
    height, width = mask.shape
    assert rle.encode(mask) == counts
    decoded = rle.decode(counts, height, width)
    assert decoded.dtype == bool and decoded.shape == (height, width)
    assert np.array_equal(decoded, mask)
    assert rle.area(counts) == area == int(mask.sum())
    assert rle.bbox(counts, height, width) == bbox


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (7, 13), (13, 7), (31, 17), (64, 3), (101, 99)])
@pytest.mark.parametrize("density", [0.05, 0.5, 0.95])
def test_round_trips_on_random_masks(shape, density):
    generator = np.random.default_rng(hash((shape, density)) % 2**32)
    for _ in range(5):
        mask = generator.random(shape) < density
        counts = rle.encode(mask)
        assert np.array_equal(rle.decode(counts, *shape), mask)
        assert rle.area(counts) == int(mask.sum())
        # the uncompressed counts are FiftyOne's own (column-major, a leading zero run)
        assert rle.runs(mask) == _mask_to_rle(mask.astype(np.uint8))["counts"]
        assert rle.string_to_counts(counts) == rle.runs(mask)
        assert rle.bbox(counts, *shape) == _bbox_of(mask)


def _bbox_of(mask):
    """[x, y, w, h] by COCO's rule: a run that crosses a column spans the whole height."""
    height, width = mask.shape
    flat = mask.ravel(order="F")
    if not flat.any():
        return [0, 0, 0, 0]
    cols, rows = [], []
    counts = rle.runs(mask)
    start = 0
    for index, length in enumerate(counts):
        if index % 2 and length:
            end = start + length - 1
            cols += [start // height, end // height]
            rows += [start % height, end % height] if start // height == end // height else [0, height - 1]
        start += length
    return [min(cols), min(rows), max(cols) - min(cols) + 1, max(rows) - min(rows) + 1]


def test_empty_and_full_masks():
    for shape in ((4, 6), (6, 4), (1, 1)):
        empty, full = np.zeros(shape, bool), np.ones(shape, int)
        assert rle.runs(empty) == [shape[0] * shape[1]]
        assert rle.runs(full) == [0, shape[0] * shape[1]]
        for mask in (empty, full):
            counts = rle.encode(mask)
            assert np.array_equal(rle.decode(counts, *shape), mask.astype(bool))
        assert rle.area(rle.encode(empty)) == 0 and rle.bbox(rle.encode(empty), *shape) == [0, 0, 0, 0]
        assert rle.bbox(rle.encode(full), *shape) == [0, 0, shape[1], shape[0]]


def test_non_square_masks_keep_height_and_width_apart():
    mask = np.zeros((3, 8), bool)  # 3 rows, 8 columns
    mask[1, 2:6] = True
    counts = rle.encode(mask)
    assert rle.runs(mask) == [7, 1, 2, 1, 2, 1, 2, 1, 7]  # column-major: one pixel per column
    assert rle.bbox(counts, 3, 8) == [2, 1, 4, 1]
    assert np.array_equal(rle.decode(counts, 3, 8), mask)
    with pytest.raises(ValueError):
        rle.decode(counts, 8, 4)  # 32 pixels, not 24
    swapped = rle.decode(counts, 8, 3)  # same pixel count, other shape: a different mask
    assert swapped.shape == (8, 3) and not np.array_equal(swapped.T, mask)


def test_integer_masks_and_nonzero_values():
    mask = np.array([[0, 2, 0], [-1, 0, 255]])
    assert np.array_equal(rle.decode(rle.encode(mask), 2, 3), mask != 0)


@pytest.mark.parametrize(
    "counts,height,width",
    [
        ("06", 3, 3),  # 6 pixels for a 9-pixel image
        ("06", 2, 2),  # too many pixels
        ("0 6", 3, 2),  # space is not in COCO's alphabet
        ("0~", 3, 2),  # nor is anything above "o"
        ("0/", 3, 2),  # nor below "0"
        ("0\u00e96", 3, 2),
        ("0P", 3, 2),  # ends inside a count (the 0x20 continuation bit is set)
        ("", 3, 2),  # no runs at all
        ("00N", 3, 2),  # a negative run (a lone sign-extended group)
        ("0000N", 3, 2),  # a delta below the count two places before
    ],
)
def test_malformed_strings_are_refused(counts, height, width):
    with pytest.raises(ValueError):
        rle.decode(counts, height, width)
    with pytest.raises(ValueError):
        rle.bbox(counts, height, width)


def test_malformed_inputs_are_refused():
    with pytest.raises(ValueError):
        rle.string_to_counts(b"06")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        rle.area("0P")
    with pytest.raises(ValueError):
        rle.encode(np.zeros((2, 2, 3), bool))
    with pytest.raises(ValueError):
        rle.counts_to_string([3, -1])
    with pytest.raises(ValueError):
        rle.decode("06", -3, -2)


def test_large_counts_and_negative_deltas_round_trip():
    counts = [0, 100000, 3, 1, 99990, 5, 1]
    text = rle.counts_to_string(counts)
    assert rle.string_to_counts(text) == counts
    assert rle.area(text) == 100000 + 1 + 5
