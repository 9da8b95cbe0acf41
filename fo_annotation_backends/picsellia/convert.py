"""Conversions between FiftyOne labels and Picsellia shapes.

Picsellia works in pixels (origin top-left): a rectangle is ``x, y`` (its
top-left corner) and ``w, h``, all integers; polygons and lines are
``[[x, y], ...]``; a pose is ``keypoints`` ``[[x, y, v], ...]`` (``v`` 0 for a
missing point, 2 for a visible one); a classification names a label. Written
shapes name their class by ``label_id``; loaded shapes give the label's name.

Every shape carries the FiftyOne label id it comes from in its ``text``
(``<id>`` or ``<id>_<k>`` for part ``k`` of a polyline with several shapes),
so that edits come back to the right label; a shape without one is a label
the annotator added. Pixel rounding never passes for an edit: a rectangle or
a point that comes back exactly as it was sent keeps the label's own float
geometry.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import fiftyone.core.labels as fol

from ..core import geometry, regions
from ..core.idmap import iter_labels, part_id, split_part_id
from ..core.schema import FieldSpec
from .interface import PicselliaInterface, shape_kind

#: a shape as the API sends or returns it
Shape = dict[str, Any]
#: ``{shape kind: [shape, ...]}`` of one asset
Shapes = dict[str, list[Shape]]


def rectangle_of(bounding_box: Sequence[float], width: int, height: int) -> dict[str, int]:
    """A normalised ``[x, y, w, h]`` box as Picsellia's integer pixels."""
    x, y, w, h = bounding_box
    x0, y0 = round(x * width), round(y * height)
    x1, y1 = round((x + w) * width), round((y + h) * height)
    return {"x": x0, "y": y0, "w": max(1, x1 - x0), "h": max(1, y1 - y0)}


def labels_to_shapes(
    spec: FieldSpec,
    interface: PicselliaInterface,
    value: Any,
    label_ids: Mapping[str, str],
    width: int,
    height: int,
) -> Shapes:
    """The Picsellia shapes of one field of one sample.

    Args:
        spec: the field
        interface: the run's interface (label names)
        value: the field's value (a label, a list label, or ``None``)
        label_ids: ``{label name: Picsellia label id}`` of the version
        width, height: the image's size in pixels
    """
    kind = shape_kind(spec)
    names = interface.label_names[spec.name]
    out: Shapes = {}
    for label in iter_labels(value):
        name = getattr(label, "label", None)
        if name not in names:
            continue  # a class outside the schema: FiftyOne's annotate() refuses it first
        common: Shape = {"label_id": label_ids[names[name]]}
        attributes = _attributes(spec, label)
        if attributes:
            common["attributes"] = attributes
        for index, shape in enumerate(_geometries(kind, label, width, height)):
            out.setdefault(kind, []).append(dict(common, text=part_id(label.id, index), **shape))
    return out


def _geometries(kind: str, label: fol.Label, width: int, height: int) -> list[Shape]:
    if kind == "rectangles":
        return [rectangle_of(label.bounding_box, width, height)]
    if kind in ("polygons", "lines"):
        key = "polygon" if kind == "polygons" else "line"
        return [{key: geometry.to_pixels(shape, width, height)} for shape in label.points or [] if shape]
    if kind == "keypoints":
        points = []
        for point in label.points or []:
            if geometry.is_missing(point):
                points.append([0.0, 0.0, 0])
            else:
                points.append([float(point[0]) * width, float(point[1]) * height, 2])
        return [{"keypoints": points}]
    return [{}]  # a classification: the label is all there is


def _attributes(spec: FieldSpec, label: fol.Label) -> dict[str, Any]:
    out = {}
    for name in spec.attributes:
        value = label.get_attribute_value(name, None)
        if value is not None:
            out[name] = value
    return out


def shapes_to_regions(
    interface: PicselliaInterface,
    annotation: Mapping[str, Any],
    width: int,
    height: int,
    current: Mapping[str, fol.Label],
) -> dict[str, list[regions.Region]]:
    """``{field: [Region]}`` of one loaded annotation (shapes whose label no
    field of the run has are left out).

    Args:
        interface: the run's interface
        annotation: the annotation with its shapes (``rectangles``,
            ``polygons``, ``lines``, ``keypoints``, ``classifications``)
        width, height: the image's size in pixels
        current: ``{label id: Label}`` of the run's labels on this sample
            (a shape that comes back exactly as sent keeps their geometry)
    """
    out: dict[str, list[regions.Region]] = {}
    for kind in ("rectangles", "polygons", "lines", "keypoints", "classifications"):
        for shape in annotation.get(kind) or []:
            owner = interface.owner(kind, shape.get("label"))
            if owner is None:
                continue
            field, class_name = owner
            label_id, part = split_part_id(shape.get("text") or "")
            region = regions.Region(
                label=class_name,
                label_id=label_id,
                part=part,
                region_id=shape.get("id"),
                attributes=dict(shape.get("attributes") or {}),
            )
            old = current.get(label_id) if label_id else None
            _set_geometry(region, kind, shape, width, height, old)
            out.setdefault(field, []).append(region)
    return out


def _set_geometry(
    region: regions.Region, kind: str, shape: Mapping[str, Any], width: int, height: int, old: fol.Label | None
) -> None:
    if kind == "rectangles":
        sent = rectangle_of(old.bounding_box, width, height) if isinstance(old, fol.Detection) else None
        pixels = {key: int(shape[key]) for key in ("x", "y", "w", "h")}
        if sent == pixels and old is not None:
            region.box = list(old.bounding_box)
        else:
            region.box = [pixels["x"] / width, pixels["y"] / height, pixels["w"] / width, pixels["h"] / height]
    elif kind in ("polygons", "lines"):
        points = shape.get("polygon" if kind == "polygons" else "line") or []
        region.shapes = [geometry.from_pixels(points, width, height)]
        region.closed = kind == "polygons"
    elif kind == "keypoints":
        sent_points = old.points if isinstance(old, fol.Keypoint) else None
        points = []
        for index, (x, y, visible) in enumerate(_triples(shape.get("keypoints") or [])):
            if not visible:
                points.append([math.nan, math.nan])
                continue
            kept = sent_points[index] if sent_points and index < len(sent_points) else None
            if kept is not None and not geometry.is_missing(kept) and _same_pixel(kept, x, y, width, height):
                points.append([float(kept[0]), float(kept[1])])
            else:
                points.append([x / width, y / height])
        region.points = points
        region.skeleton = True


def _triples(points: Sequence[Sequence[float]]) -> list[tuple[float, float, int]]:
    return [(float(p[0]), float(p[1]), int(p[2]) if len(p) > 2 else 2) for p in points]


def _same_pixel(point: Sequence[float], x: float, y: float, width: int, height: int) -> bool:
    return math.isclose(float(point[0]) * width, x, abs_tol=1e-6) and math.isclose(
        float(point[1]) * height, y, abs_tol=1e-6
    )
