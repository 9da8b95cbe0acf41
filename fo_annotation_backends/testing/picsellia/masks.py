"""Masks of the Picsellia emulator: COCO compressed RLE ``counts`` strings,
checked against the asset's size, with their area and bounding box.

Written from COCO's ``rleFrString``/``rleToBbox`` in plain Python, apart
from the backend's :mod:`fo_annotation_backends.picsellia.rle`: the
emulator checks the backend's encoder independently, and runs without
numpy or FiftyOne (the official SDK's virtualenv starts it too).
"""

from __future__ import annotations


def mask_runs(counts: object, width: int, height: int) -> list[int]:
    """The run lengths of a compressed RLE string covering exactly
    ``width * height`` pixels with at least one in.

    Raises:
        ValueError: a malformed string, another size or an empty mask
    """
    if not isinstance(counts, str) or not counts:
        raise ValueError("mask must be a non-empty COCO RLE counts string")
    runs: list[int] = []
    value = shift = 0
    for position, char in enumerate(counts):
        group = ord(char) - 48
        if not 0 <= group < 64:
            raise ValueError("mask: invalid character %r at %d of the RLE counts" % (char, position))
        value |= (group & 0x1F) << shift
        shift += 5
        if group & 0x20:
            continue
        if group & 0x10:
            value -= 1 << shift
        if len(runs) > 2:
            value += runs[-2]
        if value < 0:
            raise ValueError("mask: negative run length at character %d of the RLE counts" % position)
        runs.append(value)
        value = shift = 0
    if shift:
        raise ValueError("mask: the RLE counts end inside a run length")
    if sum(runs) != width * height:
        raise ValueError("mask: the RLE runs cover %d pixels, not %d x %d" % (sum(runs), width, height))
    if not any(runs[1::2]):
        raise ValueError("mask: the mask is empty")
    return runs


def mask_area_bbox(runs: list[int], height: int) -> tuple[int, list[int]]:
    """The area and ``[x, y, w, h]`` of a mask's runs (COCO's ``toBbox``: a
    run that crosses a column spans the whole height)."""
    xs: list[int] = []
    ys: list[int] = []
    start = 0
    for index, length in enumerate(runs):
        if index % 2 and length:
            end = start + length - 1
            xs += [start // height, end // height]
            ys += [start % height, end % height] if xs[-1] == xs[-2] else [0, height - 1]
        start += length
    return sum(runs[1::2]), [min(xs), min(ys), max(xs) - min(xs) + 1, max(ys) - min(ys) + 1]
