"""Conversions between FiftyOne labels and Kili's formats.

- :func:`labels_to_json_response`: the FiftyOne labels of one sample -> the
  ``jsonResponse`` of one Kili label, whose annotation ``mid`` values are
  FiftyOne label ids (part ids for labels made of several regions).
- :func:`json_response_to_labels` (``from_kili.py``, here for convenience):
  one field of a ``jsonResponse`` -> FiftyOne labels under their original
  ids, new labels under new ids.

The names of jobs and categories come from a :class:`~.interface.KiliInterface`.
Kili coordinates are normalised to ``[0, 1]`` like FiftyOne's; masks travel
as polygons with holes (``core.masks``) and must be rasterised at the
image's pixel size.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from ..core import geometry, masks
from ..core.idmap import iter_labels, part_id
from ..core.masks import Polygon
from ..core.schema import FieldSpec
from ..core.secrets import get_logger
from .from_kili import foreign_labels, json_response_to_labels, require_image_size
from .interface import CHECKBOX_KEY, CONFIDENCE, POSE_TOOL, TOOLS, KiliInterface

if TYPE_CHECKING:
    from fiftyone.core.labels import Label

__all__ = [
    "CHECKBOX_KEY",
    "CONFIDENCE",
    "POSE_TOOL",
    "TOOLS",
    "KiliInterface",
    "foreign_labels",
    "json_response_to_labels",
    "labels_to_json_response",
]

logger = get_logger(__name__)

#: ``(width, height)`` in pixels
ImageSize = tuple[int, int]
#: one annotation (or job answer) of a ``jsonResponse``, JSON
Json = dict[str, Any]
#: a point as FiftyOne stores it: ``[x, y]`` (``NaN`` or missing when not placed)
Point = Optional[Sequence[float]]

# --------------------------------------------------------------------------
# FiftyOne -> Kili
# --------------------------------------------------------------------------


def labels_to_json_response(
    interface: KiliInterface, values: Mapping[str, Any], image_size: ImageSize | None = None
) -> Json:
    """The ``jsonResponse`` of one asset.

    Args:
        interface: the :class:`KiliInterface`
        values: ``{field: value}`` of the sample (a label, a container, a
            scalar, or ``None``); fields of the interface that are missing
            are left out
        image_size (None): ``(width, height)`` in pixels, required for
            instance fields (see :meth:`KiliInterface.needs_image_size`)

    Returns:
        the ``jsonResponse`` dict; ``{}`` when there is nothing to send
    """
    response: Json = {}
    for field, spec in interface.fields.items():
        value = values.get(field)
        if value is None:
            continue
        job_response = _field_response(interface, spec, value, image_size)
        if job_response:
            response[interface.job_name(field)] = job_response
    return response


def _field_response(interface: KiliInterface, spec: FieldSpec, value: Any, image_size: ImageSize | None) -> Json | None:
    if spec.type == "scalar":
        return _scalar_response(interface, spec, value)
    labels = iter_labels(value)
    if spec.type in ("classification", "classifications"):
        entries: list[Json] = []
        for label in labels[:1] if spec.type == "classification" else labels:
            entry = _category_entry(interface, spec, label.label)
            if entry is None or any(e["name"] == entry["name"] for e in entries):
                continue
            children = _children_response(interface, spec, label)
            if children:
                entry["children"] = children
            entries.append(entry)
        return {"categories": entries} if entries else None

    if spec.type == "segmentation":
        annotations = _segmentation_annotations(interface, spec, labels[:1])
    else:
        annotations = []
        for label in labels:
            annotations.extend(_label_annotations(interface, spec, label, image_size))
    return {"annotations": annotations} if annotations else None


def _scalar_response(interface: KiliInterface, spec: FieldSpec, value: Any) -> Json | None:
    if interface.category_keys(spec.name):
        key = interface.category_key(spec.name, value)
        if key is None:
            logger.warning("Field '%s': value %r is not one of its classes; not sent to Kili", spec.name, value)
            return None
        return {"categories": [{"name": key, "confidence": CONFIDENCE}]}
    if spec.scalar_type == "float" and not isinstance(value, str):
        text = repr(float(value))
    elif spec.scalar_type == "int" and not isinstance(value, str):
        text = str(int(value))
    else:
        text = str(value)
    return {"text": text}


def _category_entry(interface: KiliInterface, spec: FieldSpec, name: object) -> Json | None:
    key = interface.category_key(spec.name, name)
    if key is None:
        logger.warning("Field '%s': class %r is not in the label schema; label not sent to Kili", spec.name, name)
        return None
    return {"name": key, "confidence": CONFIDENCE}


def _children_response(interface: KiliInterface, spec: FieldSpec, label: Label) -> Json:
    children: Json = {}
    for name, job in interface.attribute_jobs(spec.name).items():
        attr = spec.attributes[name]
        value = label.get_attribute_value(name, None)
        if value is None:
            continue
        if attr.type == "text":
            children[job] = {"text": str(value)}
        elif attr.type == "checkbox":
            if value:
                children[job] = {"categories": [{"name": CHECKBOX_KEY, "confidence": CONFIDENCE}]}
        else:
            key = interface.attribute_value_key(spec.name, name, value)
            if key is None:
                logger.warning("Field '%s': attribute '%s' value %r is not one of its values", spec.name, name, value)
                continue
            children[job] = {"categories": [{"name": key, "confidence": CONFIDENCE}]}
    return children


def _annotation(mid: str, key: str | None, type_: str, children: Json, **shape: Any) -> Json:
    annotation: Json = {"mid": mid, "type": type_, "categories": [{"name": key, "confidence": CONFIDENCE}]}
    annotation.update(shape)
    annotation["children"] = children
    return annotation


def _vertices(points: Iterable[Sequence[float]]) -> list[dict[str, float]]:
    return [{"x": float(x), "y": float(y)} for x, y in points]


def _label_annotations(
    interface: KiliInterface, spec: FieldSpec, label: Label, image_size: ImageSize | None
) -> list[Json]:
    entry = _category_entry(interface, spec, label.label)
    if entry is None:
        return []
    key = entry["name"]
    children = _children_response(interface, spec, label)
    if interface.is_pose(spec.name):
        return [_pose_annotation(interface, spec, label, key, children)]

    annotations: list[Json] = []
    for index, (type_, shape) in enumerate(_label_shapes(spec, label, image_size)):
        if shape is None:  # a missing point or an unusable shape keeps its index free
            continue
        # attributes travel on the first region of a label
        region_children = children if not annotations else {}
        annotations.append(_annotation(part_id(label.id, index), key, type_, region_children, **shape))
    return annotations


def _label_shapes(spec: FieldSpec, label: Label, image_size: ImageSize | None) -> list[tuple[str, Json | None]]:
    """``[(annotation type, shape keys)]``, one per region of the label."""
    if spec.type == "detections":
        if label.bounding_box is None:
            return []
        x, y, w, h = (float(v) for v in label.bounding_box)
        corners = [(x, y + h), (x, y), (x + w, y), (x + w, y + h)]
        return [("rectangle", {"boundingPoly": [{"normalizedVertices": _vertices(corners)}]})]
    if spec.type == "polygons":
        return [("polygon", _polygon_shape(spec, label, shape)) for shape in label.points or []]
    if spec.type == "polylines":
        out: list[tuple[str, Json | None]] = []
        for shape in label.points or []:
            ok = len(shape) >= 2
            if not ok:
                logger.warning("Field '%s': a polyline shape with fewer than 2 points is not sent", spec.name)
            out.append(("polyline", {"polyline": _vertices(shape)} if ok else None))
        return out
    if spec.type == "keypoints":
        return [
            ("marker", None if geometry.is_missing(point) else {"point": _vertices([point])[0]})
            for point in label.points or []
        ]
    if spec.type == "instances":
        width, height = require_image_size(spec, image_size)
        if label.bounding_box is None:
            return []
        mask = label.get_mask() if hasattr(label, "get_mask") else label.mask
        full = geometry.instance_to_full_mask(label.bounding_box, mask, width, height)
        polygons = masks.mask_to_polygons(full)
        if not polygons:
            logger.warning("Field '%s': instance %s has an empty mask; not sent", spec.name, label.id)
        return [("semantic", {"boundingPoly": _bounding_poly(p, width, height)}) for p in polygons]
    raise ValueError("Unsupported label type %s" % spec.type)


def _polygon_shape(spec: FieldSpec, label: Label, shape: Sequence[Sequence[float]]) -> Json | None:
    ring = [list(p) for p in shape]
    if len(ring) > 1 and ring[0] == ring[-1]:
        ring = ring[:-1]  # Kili's rings are open
    if len(ring) < 3:
        logger.warning("Field '%s': a polygon shape of label %s has fewer than 3 points; not sent", spec.name, label.id)
        return None
    return {"boundingPoly": [{"normalizedVertices": _vertices(ring)}]}


def _bounding_poly(polygon: Polygon, width: int, height: int) -> list[Json]:
    """A polygon in pixel-edge coordinates -> ``[{outer}, {hole}, ...]``."""
    scale = np.array([1.0 / width, 1.0 / height])
    return [{"normalizedVertices": _vertices(np.asarray(ring) * scale)} for ring in polygon]


def _pose_annotation(interface: KiliInterface, spec: FieldSpec, label: Label, key: str, children: Json) -> Json:
    codes = interface.pose_codes(spec.name)
    label_points = list(label.points or [])
    if len(label_points) > len(codes):
        logger.warning(
            "Field '%s': keypoint %s has %d points but the skeleton %d; the extra points are not sent "
            "(and are kept as they are on download)",
            spec.name,
            label.id,
            len(label_points),
            len(codes),
        )
    points: list[Json] = []
    for index, (code, point) in enumerate(zip(codes, label_points)):
        if geometry.is_missing(point):
            continue
        x, y = point[:2]
        points.append(
            {
                "code": code,
                "point": {"x": float(x), "y": float(y)},
                "type": "marker",
                "mid": part_id(label.id, index + 1),
            }
        )
    return _annotation(label.id, key, POSE_TOOL, children, points=points)


def _segmentation_annotations(interface: KiliInterface, spec: FieldSpec, labels: Sequence[Label]) -> list[Json]:
    annotations: list[Json] = []
    for label in labels:
        mask = label.get_mask()
        if mask is None:
            continue
        mask = np.asarray(mask)
        if mask.ndim == 3:
            mask = mask[:, :, 0]
        # normalised by the mask's own size: it is drawn over the whole image
        height, width = mask.shape
        # a segmentation field always has mask targets (normalize_label_schema)
        for value, name in sorted((spec.mask_targets or {}).items()):
            if value == 0:
                continue
            key = interface.category_key(spec.name, name)
            for polygon in masks.mask_to_polygons(mask == value):
                annotations.append(
                    _annotation(
                        part_id(label.id, len(annotations)),
                        key,
                        "semantic",
                        {},
                        boundingPoly=_bounding_poly(polygon, width, height),
                    )
                )
    return annotations
