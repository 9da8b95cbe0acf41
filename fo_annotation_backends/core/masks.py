"""Exact conversions between boolean masks and polygons with holes.

Services that store masks as polygons (Kili's semantic tool, FastLabel)
get the outline of every connected component of a mask; reading them back
must give the very same pixels.

Coordinates are pixel-edge coordinates ``(x, y)``: pixel ``(row, col)``
covers ``[col, col + 1] x [row, row + 1]``, so its centre is at
``(col + 0.5, row + 0.5)``. Divide by the image size to normalise.

Why this is exact: the outlines are marching-squares contours at level 0.5
(``skimage.measure.find_contours``), whose vertices lie halfway between
neighbouring pixel centres. No pixel centre is ever closer than ~0.35 px to
such an outline, so an even-odd test of the pixel centres against it gives
back exactly the traced pixels, even after the coordinates went through
floating-point normalisation. Foreground components are 4-connected
(diagonal neighbours are separate components), matching the contours'
``fully_connected="low"`` rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Union

import numpy as np
import numpy.typing as npt
from scipy import ndimage
from skimage import measure

#: a ring of ``(x, y)`` pixel-edge coordinates, an ``(N, 2)`` float array
Ring = npt.NDArray[np.float64]
#: a polygon with holes: ``[outer, hole, ...]``
Polygon = list[Ring]
#: a ring as the rasterisers accept it: an ``(N, 2)`` array or ``[[x, y], ...]``
RingLike = Union[npt.NDArray[Any], Sequence[Sequence[float]]]
BoolMask = npt.NDArray[np.bool_]

_FOUR_CONNECTED = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=bool)


def mask_to_polygons(mask: npt.ArrayLike) -> list[Polygon]:
    """The outlines of every 4-connected component of a mask.

    Args:
        mask: a 2D array; non-zero pixels are foreground

    Returns:
        a list with one polygon per component, in scan order; a polygon is a
        list of rings ``[outer, hole, ...]``, each ring an ``(N, 2)`` float
        array of ``(x, y)`` pixel-edge coordinates, not closed (the first
        vertex is not repeated), without collinear vertices. Outer rings
        have a positive signed area (clockwise on screen), holes a negative
        one, so non-zero and even-odd fill rules agree.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError("Expected a 2D mask, got shape %s" % (mask.shape,))
    components, count = ndimage.label(mask != 0, structure=_FOUR_CONNECTED)
    polygons = []
    for index, window in enumerate(ndimage.find_objects(components), start=1):
        if window is None:
            continue
        rows, cols = window
        component = components[window] == index
        polygons.append(_component_rings(component, rows.start, cols.start))
    return polygons


def _component_rings(component: BoolMask, row0: int, col0: int) -> Polygon:
    padded = np.pad(component, 1).astype(np.float32)
    rings = []
    for contour in measure.find_contours(padded, 0.5, fully_connected="low"):
        # (row, col) of the padded crop, pixel centres at integers -> (x, y)
        # pixel-edge coordinates, snapped to the half-pixel grid they lie on
        xy = np.round(2 * (contour[:, ::-1] + [col0 - 0.5, row0 - 0.5])) / 2
        ring = simplify_ring(xy[:-1] if len(xy) > 1 and np.array_equal(xy[0], xy[-1]) else xy)
        if len(ring) >= 3:
            rings.append(ring)
    # the outer ring encloses the holes, so its area is the largest
    rings.sort(key=lambda r: -abs(signed_area(r)))
    oriented = []
    for k, ring in enumerate(rings):
        want_positive = k == 0
        oriented.append(ring if (signed_area(ring) > 0) == want_positive else ring[::-1])
    return oriented


def signed_area(ring: RingLike) -> float:
    """The shoelace area of a ring (positive = clockwise with y down)."""
    ring = np.asarray(ring, dtype=float)
    x, y = ring[:, 0], ring[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def simplify_ring(ring: RingLike) -> Ring:
    """Drops the vertices of a closed ring that sit on a straight run.

    Only vertices whose neighbours continue in the same direction are
    removed, so the ring keeps exactly the same outline.
    """
    ring = np.asarray(ring, dtype=float)
    if len(ring) < 3:
        return ring
    incoming = ring - np.roll(ring, 1, axis=0)
    outgoing = np.roll(ring, -1, axis=0) - ring
    cross = incoming[:, 0] * outgoing[:, 1] - incoming[:, 1] * outgoing[:, 0]
    dot = incoming[:, 0] * outgoing[:, 0] + incoming[:, 1] * outgoing[:, 1]
    keep = ~((cross == 0) & (dot > 0))
    if not keep.any():
        return ring[:0]
    return ring[keep]


def rings_to_mask(rings: Iterable[RingLike], width: int, height: int) -> BoolMask:
    """Rasterises rings with the even-odd rule, testing pixel centres.

    Args:
        rings: a list of ``(N, 2)`` arrays or ``[[x, y], ...]`` lists in
            pixel-edge coordinates, closed or not
        width: the mask width in pixels
        height: the mask height in pixels

    Returns:
        a ``height x width`` boolean array
    """
    out = np.zeros((int(height), int(width)), dtype=bool)
    _paint(out, rings)
    return out


def _paint(out: BoolMask, rings: Iterable[RingLike]) -> None:
    """ORs the even-odd fill of ``rings`` into ``out``, within their bounds."""
    height, width = out.shape
    arrays = [np.asarray(r, dtype=float).reshape(-1, 2) for r in rings if len(r) >= 3]
    if not arrays or width <= 0 or height <= 0:
        return
    points = np.concatenate(arrays)
    if not np.isfinite(points).all():
        raise ValueError("A polygon has non-finite coordinates")
    col0 = min(max(int(np.floor(points[:, 0].min())), 0), width)
    row0 = min(max(int(np.floor(points[:, 1].min())), 0), height)
    col1 = min(max(int(np.ceil(points[:, 0].max())), 0), width)
    row1 = min(max(int(np.ceil(points[:, 1].max())), 0), height)
    if col1 <= col0 or row1 <= row0:
        return
    window = _even_odd_fill([r - [col0, row0] for r in arrays], col1 - col0, row1 - row0)
    out[row0:row1, col0:col1] |= window


def _even_odd_fill(rings: Sequence[Ring], width: int, height: int) -> BoolMask:
    # Scanline fill: every edge toggles the pixels right of where it crosses
    # a row of pixel centres. The half-open rule (ymin <= y < ymax) counts a
    # vertex lying on a row once, whichever way its float value rounded.
    toggles = np.zeros((height, width + 1), dtype=np.uint8)
    for ring in rings:
        x0, y0 = ring[:, 0], ring[:, 1]
        x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
        first = np.clip(np.ceil(np.minimum(y0, y1) - 0.5), 0, height).astype(np.int64)
        stop = np.clip(np.ceil(np.maximum(y0, y1) - 0.5), 0, height).astype(np.int64)
        counts = stop - first
        if not counts.any():
            continue
        edges = np.repeat(np.arange(len(ring)), counts)
        offsets = np.arange(len(edges)) - np.repeat(np.cumsum(counts) - counts, counts)
        rows = first[edges] + offsets
        centre_y = rows + 0.5
        ex0, ey0, ex1, ey1 = x0[edges], y0[edges], x1[edges], y1[edges]
        cross_x = ex0 + (centre_y - ey0) * (ex1 - ex0) / (ey1 - ey0)
        # first pixel whose centre (col + 0.5) lies right of the crossing
        cols = np.clip(np.floor(cross_x - 0.5) + 1, 0, width).astype(np.int64)
        np.add.at(toggles, (rows, cols), 1)
    parity = np.bitwise_xor.accumulate(toggles & 1, axis=1)
    return parity[:, :width].astype(bool)


def polygons_to_mask(polygons: Iterable[Iterable[RingLike]], width: int, height: int) -> BoolMask:
    """The union of polygons with holes, rasterised.

    Args:
        polygons: a list of polygons, each a list of rings (outer ring and
            holes; even-odd rule within a polygon), in pixel-edge coordinates
        width: the mask width in pixels
        height: the mask height in pixels

    Returns:
        a ``height x width`` boolean array
    """
    out = np.zeros((int(height), int(width)), dtype=bool)
    for rings in polygons:
        _paint(out, rings)
    return out
