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

Masks are full-image COCO RLE strings (:mod:`.rle`): an instance is one mask
shape, a semantic segmentation one mask shape per class it holds. Attribute
values travel under the version's attribute names (see
:class:`~.interface.PicselliaInterface`), checked against their definitions
before anything is sent; a scalar field is an attribute of the whole
annotation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import fiftyone.core.labels as fol
import numpy as np
from PIL import Image

from ..core import geometry, regions
from ..core.errors import SchemaError
from ..core.idmap import iter_labels, part_id, split_part_id
from ..core.schema import FieldSpec
from .interface import PicselliaInterface, shape_kind
from .rle import decode as decode_rle, encode as encode_rle

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
        interface: the run's interface (label and attribute names)
        value: the field's value (a label, a list label, or ``None``)
        label_ids: ``{label name: Picsellia label id}`` of the version
        width, height: the image's size in pixels

    Raises:
        SchemaError: an attribute value its Picsellia definition refuses
    """
    kind = shape_kind(spec)
    names = interface.label_names[spec.name]
    out: Shapes = {}
    if spec.type == "segmentation":
        for label in iter_labels(value):
            out.setdefault(kind, []).extend(_segmentation_shapes(spec, names, label, label_ids, width, height))
        return out
    for label in iter_labels(value):
        name = getattr(label, "label", None)
        if name not in names:
            continue  # a class outside the schema: FiftyOne's annotate() refuses it first
        common: Shape = {"label_id": label_ids[names[name]]}
        attributes = shape_attributes(spec, interface, label)
        if attributes:
            common["attributes"] = attributes
        for index, shape in enumerate(_geometries(kind, label, width, height)):
            out.setdefault(kind, []).append(dict(common, text=part_id(label.id, index), **shape))
    return out


def _segmentation_shapes(
    spec: FieldSpec, names: Mapping[str, str], label: fol.Label, label_ids: Mapping[str, str], width: int, height: int
) -> list[Shape]:
    """One mask shape per class the segmentation holds (at the image's size)."""
    mask = label.get_mask() if isinstance(label, fol.Segmentation) else None
    if mask is None:
        return []
    mask = np.asarray(mask)
    if mask.ndim == 3:
        mask = mask[:, :, 0]
    if mask.shape[:2] != (height, width):
        mask = np.asarray(Image.fromarray(mask).resize((width, height), Image.Resampling.NEAREST))
    shapes = []
    for index, (pixel_value, class_name) in enumerate(sorted((spec.mask_targets or {}).items())):
        area = mask == pixel_value
        if class_name in names and area.any():
            shapes.append(
                {"label_id": label_ids[names[class_name]], "mask": encode_rle(area), "text": part_id(label.id, index)}
            )
    return shapes


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
    if kind == "masks":
        if label.bounding_box is None:
            return []
        mask = label.get_mask() if hasattr(label, "get_mask") else label.mask
        full = geometry.instance_to_full_mask(label.bounding_box, mask, width, height)
        return [{"mask": encode_rle(full)}] if full.any() else []
    return [{}]  # a classification: the label is all there is


def shape_attributes(spec: FieldSpec, interface: PicselliaInterface, label: fol.Label) -> dict[str, Any]:
    """``{attribute name: wire value}`` of a label's attributes that are set."""
    names = interface.attribute_names.get(spec.name, {})
    out = {}
    for attr, full_name in names.items():
        value = label.get_attribute_value(attr, None)
        if value is not None:
            out[full_name] = wire_value(interface.attributes[full_name], value, "%s.%s" % (spec.name, attr))
    return out


def annotation_attributes(interface: PicselliaInterface, values: Mapping[str, Any]) -> dict[str, Any]:
    """The image-level attributes of one sample: its scalar fields' values
    (``values``: ``{field: value}``) that are set."""
    out = {}
    for field, name in interface.scalar_names.items():
        value = values.get(field)
        if value is not None:
            out[name] = wire_value(interface.attributes[name], value, field)
    return out


def wire_value(definition: Mapping[str, Any], value: Any, where: str) -> Any:
    """A FiftyOne value as its Picsellia attribute holds it.

    Raises:
        SchemaError: the definition cannot hold the value
    """
    input_type = definition.get("input_type")
    out: Any = value.item() if isinstance(value, np.generic) else value
    if input_type == "STRING":
        out = out if isinstance(out, str) else str(out)
    elif input_type == "BOOLEAN":
        if not isinstance(out, bool):
            raise SchemaError("'%s': %r is not a boolean (its Picsellia attribute is BOOLEAN)" % (where, value))
    elif input_type == "INTEGER":
        if isinstance(out, bool) or not isinstance(out, (int, float)) or int(out) != out:
            raise SchemaError("'%s': %r is not an integer (its Picsellia attribute is INTEGER)" % (where, value))
        out = int(out)
    elif input_type == "FLOAT":
        if isinstance(out, bool) or not isinstance(out, (int, float)) or not math.isfinite(out):
            raise SchemaError("'%s': %r is not a finite number (its Picsellia attribute is FLOAT)" % (where, value))
    choices = definition.get("choices")
    if choices and out not in choices:
        raise SchemaError("'%s': %r is not one of the attribute's choices %s" % (where, value, choices))
    return out


def scalar_value(spec: FieldSpec, interface: PicselliaInterface, annotation: Mapping[str, Any]) -> Any:
    """A scalar field's value in a loaded annotation (``None`` when unset)."""
    raw = (annotation.get("attributes") or {}).get(interface.scalar_names[spec.name])
    if raw is None:
        return None
    if interface.is_numeric_scalar(spec.name) and spec.scalar_type == "str":
        return raw  # a new field read back as numbers (FiftyOne types the field from them)
    return spec.parse_scalar(raw)


def shapes_to_regions(
    interface: PicselliaInterface,
    annotation: Mapping[str, Any],
    width: int,
    height: int,
    current: Mapping[str, fol.Label],
    field: str | None = None,
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
        field (None): only the regions of this field
    """
    out: dict[str, list[regions.Region]] = {}
    for kind in ("rectangles", "polygons", "lines", "keypoints", "points", "classifications", "masks"):
        for shape in annotation.get(kind) or []:
            # a single point of a keypoints field's label is one of its keypoints
            owner = interface.owner("keypoints" if kind == "points" else kind, label_name(shape))
            if owner is None or (field is not None and owner[0] != field):
                continue
            region = _region(interface, owner[0], owner[1], kind, shape, width, height, current)
            out.setdefault(owner[0], []).append(region)
    return out


#: shape kind -> the FiftyOne label type of a shape drawn in a field of another kind
FOREIGN_TYPES = {
    "rectangles": "detections",
    "polygons": "polylines",
    "lines": "polylines",
    "keypoints": "keypoints",
    "points": "keypoints",
    "masks": "instances",
}


def foreign_regions(
    interface: PicselliaInterface, annotation: Mapping[str, Any], width: int, height: int, field: str
) -> dict[str, list[regions.Region]]:
    """``{label type: [Region]}`` of the shapes a person drew with another
    tool than the field's, naming one of the field's labels (a ``MULTI``
    version lets any tool use any label): FiftyOne's unexpected labels."""
    names = {name: class_name for class_name, name in interface.label_names.get(field, {}).items()}
    own_kind = shape_kind(interface.fields[field])
    out: dict[str, list[regions.Region]] = {}
    for kind, label_type in FOREIGN_TYPES.items():
        if kind == own_kind or (kind == "points" and own_kind == "keypoints"):
            continue
        for shape in annotation.get(kind) or []:
            name = label_name(shape)
            if name not in names or interface.owner("keypoints" if kind == "points" else kind, name) is not None:
                continue  # not this field's label, or a label of a field of that kind
            region = _region(interface, field, names[name], kind, shape, width, height, {})
            region.label_id = None  # drawn here: a new label
            out.setdefault(label_type, []).append(region)
    return out


def _region(
    interface: PicselliaInterface,
    field: str,
    class_name: str,
    kind: str,
    shape: Mapping[str, Any],
    width: int,
    height: int,
    current: Mapping[str, fol.Label],
) -> regions.Region:
    label_id, part = split_part_id(shape.get("text") or "")
    region = regions.Region(
        label=class_name,
        label_id=label_id,
        part=part,
        region_id=shape.get("id"),
        attributes=_read_attributes(interface, interface.fields[field], shape),
    )
    old = current.get(label_id) if label_id else None
    _set_geometry(region, kind, shape, width, height, old)
    return region


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
    elif kind == "points":
        x, y = (float(v) for v in (shape.get("point") or [math.nan, math.nan])[:2])
        region.points = [[x / width, y / height]]
    elif kind == "masks":
        region.mask = decode_rle(str(shape.get("mask") or ""), height, width)


def unchanged_instances(
    annotation: Mapping[str, Any], current: Mapping[str, fol.Label], width: int, height: int
) -> set[str]:
    """The ids of the uploaded instances whose mask came back exactly as it
    was sent (their own box and mask are kept: a mask rebuilt from its
    pixels would lose the box's margins and sub-pixel position)."""
    out = set()
    for shape in annotation.get("masks") or []:
        label_id, _ = split_part_id(shape.get("text") or "")
        old = current.get(label_id) if label_id else None
        if isinstance(old, fol.Detection) and old.bounding_box is not None:
            sent = geometry.instance_to_full_mask(old.bounding_box, old.get_mask(), width, height)
            if shape.get("mask") == encode_rle(sent):
                out.add(str(label_id))
    return out


def label_name(shape: Mapping[str, Any]) -> str | None:
    """The label name of a loaded shape (Picsellia gives the label object,
    or its name)."""
    label = shape.get("label")
    if isinstance(label, Mapping):
        name = label.get("name")
        return name if isinstance(name, str) else None
    return label if isinstance(label, str) else None


def _read_attributes(interface: PicselliaInterface, spec: FieldSpec, shape: Mapping[str, Any]) -> dict[str, Any]:
    raw = shape.get("attributes") or {}
    out = {}
    for attr, full_name in interface.attribute_names.get(spec.name, {}).items():
        if raw.get(full_name) is not None:
            out[attr] = spec.attributes[attr].parse(raw[full_name])
    return out


def _triples(points: Sequence[Sequence[float]]) -> list[tuple[float, float, int]]:
    return [(float(p[0]), float(p[1]), int(p[2]) if len(p) > 2 else 2) for p in points]


def _same_pixel(point: Sequence[float], x: float, y: float, width: int, height: int) -> bool:
    return math.isclose(float(point[0]) * width, x, abs_tol=1e-6) and math.isclose(
        float(point[1]) * height, y, abs_tol=1e-6
    )
