"""Geometry conversions shared by the backends.

FiftyOne stores boxes as ``[x, y, w, h]`` and points as ``(x, y)``, both
normalised to ``[0, 1]`` with the origin at the top-left. Services use
percentages (Label Studio), normalised vertices (Kili) or pixels (FastLabel).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

#: ``[x, y]`` pairs as the converters return them
Points = list[list[float]]


def is_missing(point: Any) -> bool:
    """Whether a keypoint is missing: ``None``, fewer than two coordinates,
    or NaN (FiftyOne's way of keeping a skeleton's place for a point)."""
    if point is None:
        return True
    try:
        return len(point) < 2 or math.isnan(point[0]) or math.isnan(point[1])
    except TypeError:
        return True


def scale_points(points: Iterable[Sequence[float]], sx: float, sy: float) -> Points:
    """Scales ``[(x, y), ...]`` by ``(sx, sy)``."""
    return [[float(x) * sx, float(y) * sy] for x, y in points]


def to_percent(points: Iterable[Sequence[float]]) -> Points:
    """Normalised points -> percentages of the image size."""
    return scale_points(points, 100.0, 100.0)


def from_percent(points: Iterable[Sequence[float]]) -> Points:
    """Percentages of the image size -> normalised points."""
    return scale_points(points, 0.01, 0.01)


def to_pixels(points: Iterable[Sequence[float]], width: float, height: float) -> Points:
    """Normalised points -> pixel coordinates."""
    return scale_points(points, width, height)


def from_pixels(points: Iterable[Sequence[float]], width: float, height: float) -> Points:
    """Pixel coordinates -> normalised points."""
    return scale_points(points, 1.0 / width, 1.0 / height)


def box_to_corners(bounding_box: Sequence[float]) -> Points:
    """``[x, y, w, h]`` -> the 4 corners, clockwise from the top-left."""
    x, y, w, h = bounding_box
    return [[x, y], [x + w, y], [x + w, y + h], [x, y + h]]


def corners_to_box(points: Sequence[Sequence[float]]) -> list[float]:
    """Any points -> the ``[x, y, w, h]`` box that encloses them."""
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    return [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]


def rotated_rect_corners(x: float, y: float, w: float, h: float, degrees: float | None) -> Points:
    """The 4 corners of a ``w x h`` rectangle rotated about its top-left.

    Coordinates must be in one isotropic unit (pixels), since a rotation in
    percent units would shear non-square images.
    """
    theta = math.radians(degrees or 0.0)
    cos, sin = math.cos(theta), math.sin(theta)
    corners = []
    for dx, dy in ((0, 0), (w, 0), (w, h), (0, h)):
        corners.append([x + dx * cos - dy * sin, y + dx * sin + dy * cos])
    return corners


def clip_box(bounding_box: Sequence[float]) -> list[float]:
    """Clips a normalised ``[x, y, w, h]`` box to the image."""
    x, y, w, h = bounding_box
    x0, y0 = min(max(x, 0.0), 1.0), min(max(y, 0.0), 1.0)
    x1, y1 = min(max(x + w, 0.0), 1.0), min(max(y + h, 0.0), 1.0)
    return [x0, y0, x1 - x0, y1 - y0]


def mask_bbox(mask: npt.ArrayLike) -> tuple[int, int, int, int] | None:
    """The tight ``(x0, y0, x1, y1)`` pixel bounds (exclusive) of a mask.

    Returns ``None`` for an empty mask.
    """
    rows = np.any(mask, axis=1)
    cols = np.any(mask, axis=0)
    if not rows.any():
        return None
    y0, y1 = np.where(rows)[0][[0, -1]]
    x0, x1 = np.where(cols)[0][[0, -1]]
    return int(x0), int(y0), int(x1) + 1, int(y1) + 1


def instance_to_full_mask(
    bounding_box: Sequence[float], mask: npt.ArrayLike | None, width: int, height: int
) -> npt.NDArray[np.bool_]:
    """Pastes an instance mask (relative to its box) into a full-image mask.

    Args:
        bounding_box: the normalised ``[x, y, w, h]`` box
        mask: the instance's 2D mask, or ``None`` for a filled box
        width: the image width in pixels
        height: the image height in pixels

    Returns:
        a ``height x width`` boolean array
    """
    full = np.zeros((height, width), dtype=bool)
    x, y, w, h = bounding_box
    x0 = int(round(x * width))
    y0 = int(round(y * height))
    if mask is None:
        x1 = int(round((x + w) * width))
        y1 = int(round((y + h) * height))
        full[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = True
        return full
    mask = np.asarray(mask).astype(bool)
    mh, mw = mask.shape[:2]
    ys0, xs0 = max(y0, 0), max(x0, 0)
    ys1, xs1 = min(y0 + mh, height), min(x0 + mw, width)
    if ys1 > ys0 and xs1 > xs0:
        full[ys0:ys1, xs0:xs1] = mask[ys0 - y0 : ys1 - y0, xs0 - x0 : xs1 - x0]
    return full


def full_mask_to_instance(full_mask: npt.ArrayLike) -> tuple[list[float], npt.NDArray[np.bool_]] | None:
    """A full-image mask -> ``(normalised box, cropped mask)``, or ``None``."""
    full_mask = np.asarray(full_mask).astype(bool)
    bounds = mask_bbox(full_mask)
    if bounds is None:
        return None
    height, width = full_mask.shape[:2]
    x0, y0, x1, y1 = bounds
    box = [x0 / width, y0 / height, (x1 - x0) / width, (y1 - y0) / height]
    return box, full_mask[y0:y1, x0:x1]
