"""Kili labels -> FiftyOne labels.

:func:`json_response_to_labels` converts one field of a ``jsonResponse``:
its annotations become :class:`~..core.regions.Region` objects (a ``mid``
that carries an uploaded label id keeps the region with that label), and
:mod:`..core.regions` makes the labels; new labels get the ids of their
first load back through ``new_ids`` (origins ``mid:<mid>``,
``markers:<class>``, ``category:<class>``, ``segmentation``).
:func:`foreign_labels` returns what a person drew in a field's job with a
tool of another label type (a point in a detections job), for FiftyOne's
``unexpected`` handling.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..core import geometry, regions
from ..core.idmap import split_part_id
from ..core.regions import NewLabelIds, Region, require_image_size
from ..core.secrets import get_logger
from .interface import CHECKBOX_KEY

if TYPE_CHECKING:
    from fiftyone.core.labels import Label

    from ..core.schema import FieldSpec, ScalarValue
    from .convert import ImageSize, Json
    from .interface import KiliInterface

__all__ = ["NewLabelIds", "foreign_labels", "json_response_to_labels", "parse_number", "require_image_size"]

logger = get_logger(__name__)

#: the label type (FiftyOne return type) each Kili tool draws
_RETURN_TYPE_OF_TOOL = {
    "rectangle": "detections",
    "semantic": "detections",
    "polygon": "polylines",
    "polyline": "polylines",
    "vector": "polylines",
    "marker": "keypoints",
    "pose": "keypoints",
}


def json_response_to_labels(
    interface: KiliInterface,
    spec: FieldSpec,
    json_response: Mapping[str, Any] | None,
    current_labels: Mapping[str, Label],
    image_size: ImageSize | None = None,
    uploaded_ids: Iterable[str] | None = (),
    new_ids: NewLabelIds | None = None,
) -> dict[str, Label] | ScalarValue | None:
    """The FiftyOne labels of one field in one Kili label.

    Args:
        interface: the :class:`KiliInterface`
        spec: the field's ``FieldSpec``
        json_response: the decoded ``jsonResponse`` (jobs of other fields
            and unknown jobs are ignored)
        current_labels: ``{label_id: Label}`` of this field's uploaded labels
            that still exist in the dataset (for ids, closed/filled flags and
            keypoint point counts)
        image_size (None): ``(width, height)`` in pixels, required to read
            masks (instances, segmentation)
        uploaded_ids (()): ids of uploaded labels the dataset no longer has
            that keep their ids all the same (the field was deleted:
            FiftyOne adds back whatever comes)
        new_ids (None): a :class:`NewLabelIds` of this asset and field

    Returns:
        ``{label_id: Label}``, or the scalar value (or ``None``) for scalar
        fields. Regions drawn with another label type's tool are left out
        (see :func:`foreign_labels`)
    """
    job_response = (json_response or {}).get(interface.job_name(spec.name)) or {}
    if spec.type == "scalar":
        return _scalar_from_response(interface, spec, job_response)
    known_ids = [i for i in uploaded_ids or () if i not in current_labels]
    ids = new_ids if new_ids is not None else NewLabelIds()
    if spec.type in ("classification", "classifications"):
        choices: list[tuple[str, dict[str, Any]]] = []
        for entry in job_response.get("categories") or []:
            if not isinstance(entry, dict):
                continue
            name = _class_of_key(interface, spec, entry.get("name"))
            if name is None:
                _warn_unknown_key(spec, entry.get("name"))
                continue
            choices.append((name, _attributes_of(interface, spec, entry.get("children"))))
        return regions.classifications_to_labels(
            spec,
            choices,
            current_labels,
            known_ids,
            lambda label, _: ids.assign(label, "category:%s" % label.label),
        )
    annotations = [a for a in job_response.get("annotations") or [] if isinstance(a, dict)]
    if spec.type == "segmentation":
        # a region of an unknown class paints nothing, but is not an erased mask
        parsed = [_region(interface, spec, item) or Region() for item in annotations]
        return regions.segmentation_to_labels(
            spec,
            parsed,
            current_labels,
            known_ids,
            image_size,
            lambda label, _: ids.assign(label, "segmentation"),
        )
    own = [_region(interface, spec, a) for a in annotations if _foreign_type(spec, a) is None]
    return regions.regions_to_labels(
        spec,
        [r for r in own if r is not None],
        current_labels,
        known_ids,
        image_size,
        _remember(ids, "mid:", "markers:"),
    )


def foreign_labels(
    interface: KiliInterface,
    spec: FieldSpec,
    json_response: Mapping[str, Any] | None,
    new_ids: NewLabelIds | None = None,
) -> dict[str, dict[str, Label]]:
    """What a person drew in ``spec``'s job with the tool of another label
    type (a point in a detections job): ``{return type: {label_id: Label}}``,
    for FiftyOne's ``unexpected`` handling. New points of one class are one
    keypoint, as in a keypoints field."""
    if spec.type in ("scalar", "classification", "classifications", "segmentation"):
        return {}
    new_ids = new_ids if new_ids is not None else NewLabelIds()
    job_response = (json_response or {}).get(interface.job_name(spec.name)) or {}
    by_type: dict[str, list[Region]] = {}
    for item in job_response.get("annotations") or []:
        label_type = _foreign_type(spec, item) if isinstance(item, dict) else None
        region = _foreign_region(interface, spec, item) if label_type else None
        if label_type is not None and region is not None:
            by_type.setdefault(label_type, []).append(region)
    return regions.foreign_labels(spec, by_type, _remember(new_ids, "foreign:", "foreign markers:"))


def _remember(new_ids: NewLabelIds, mid_prefix: str, markers_prefix: str) -> regions.OnNew:
    """The ``on_new`` of object labels: the new markers of a class are one
    origin, any other new label is its region's ``mid``."""

    def on_new(label: Label, parts: regions.Parts) -> None:
        head = parts[0][1]
        origin: str | None
        if head.points is not None and not head.skeleton:
            origin = markers_prefix + str(label.label)
        else:
            origin = mid_prefix + head.region_id if head.region_id else None
        new_ids.assign(label, origin)

    return on_new


def _foreign_type(spec: FieldSpec, item: Mapping[str, Any]) -> str | None:
    """The label type of an annotation drawn with another label type's tool
    (``None`` for the field's own; a segmentation job is one mask)."""
    tool = item.get("type")
    return_type = _RETURN_TYPE_OF_TOOL.get(tool) if isinstance(tool, str) else None
    if return_type is None or spec.type == "segmentation" or return_type == spec.return_type:
        return None
    return return_type


def _region(interface: KiliInterface, spec: FieldSpec, item: Json) -> Region | None:
    """One of the field's own annotations as a region, or ``None`` when its
    class is unknown."""
    region = _bare_region(interface, spec, item)
    if region is None:
        return None
    region.label_id, region.part = split_part_id(region.region_id)
    if spec.type == "detections":
        region.box = _box_of(item)
    elif spec.type in ("polylines", "polygons"):
        line = _line_of(item)
        region.shapes = [line] if line else None
    elif spec.type == "keypoints":
        if interface.is_pose(spec.name):
            region.skeleton = True
            region.points = _pose_points(interface, spec, item)
        else:
            region.points = [_marker_point(item)]
    else:  # instances, segmentation
        region.polygons = _polygons_of(item)
    return region


def _foreign_region(interface: KiliInterface, spec: FieldSpec, item: Json) -> Region | None:
    """An annotation drawn with another label type's tool as a region of
    that type (always a new label), or ``None`` when it holds no shape."""
    region = _bare_region(interface, spec, item)
    if region is None:
        return None
    type_ = item.get("type")
    if type_ == "rectangle":
        region.box = _box_of(item)
    elif type_ in ("polygon", "polyline", "vector"):
        line = _line_of(item)
        region.shapes = [line] if line else None
        region.closed = type_ == "polygon"
    elif type_ == "pose":
        region.skeleton = True
        region.points = [
            [float(p["point"]["x"]), float(p["point"]["y"])] for p in item.get("points") or [] if p.get("point")
        ] or None
    elif type_ == "marker":
        region.points = [_marker_point(item)]
    if region.box is None and region.shapes is None and region.points is None:
        logger.warning("Field '%s': a %s region drawn in it is not read", spec.name, type_)
        return None
    return region


def _bare_region(interface: KiliInterface, spec: FieldSpec, item: Json) -> Region | None:
    """A region with the annotation's class, ``mid`` and attributes."""
    name = _annotation_class(interface, spec, item)
    if name is None:
        return None
    mid = str(item.get("mid") or "")
    return Region(label=name, region_id=mid or None, attributes=_attributes_of(interface, spec, item.get("children")))


def _box_of(item: Json) -> list[float] | None:
    points = [p for polygon in _polygons_of(item) for ring in polygon for p in ring]
    return geometry.corners_to_box(points) if points else None


def _marker_point(item: Json) -> list[float]:
    point = item.get("point") or {}
    if "x" in point and "y" in point:
        return [float(point["x"]), float(point["y"])]
    return [math.nan, math.nan]


def _pose_points(interface: KiliInterface, spec: FieldSpec, item: Json) -> list[list[float]]:
    """The skeleton's points of a pose annotation, NaN for those not placed."""
    codes = interface.pose_codes(spec.name)
    index_of = {code: i for i, code in enumerate(codes)}
    points = [[math.nan, math.nan] for _ in codes]
    for entry in item.get("points") or []:
        point = entry.get("point") or {}
        index = index_of.get(entry.get("code"))
        if index is None or "x" not in point or "y" not in point:
            logger.warning("Field '%s': unknown pose point %r; skipped", spec.name, entry.get("code"))
            continue
        points[index] = [float(point["x"]), float(point["y"])]
    return points


def _scalar_from_response(
    interface: KiliInterface, spec: FieldSpec, job_response: Mapping[str, Any]
) -> ScalarValue | None:
    categories = job_response.get("categories") or []
    if categories:
        key = categories[0].get("name")
        name = _class_of_key(interface, spec, key)
        if name is None:
            _warn_unknown_key(spec, key)
            return None
        return spec.parse_scalar(name)
    text = job_response.get("text")
    numeric = interface.is_numeric_scalar(spec.name)
    if text is None or (text == "" and (numeric or spec.scalar_type != "str")):
        return None
    if numeric and spec.scalar_type == "str":
        return parse_number(text)
    return spec.parse_scalar(text)


_INT_RE = re.compile(r"^\s*[-+]?\d+\s*$")


def parse_number(text: ScalarValue) -> ScalarValue:
    """A transcription answer of a numeric field: an int when it is written
    as one, a float when it parses as one, else the text as it is (nothing
    a person typed is dropped)."""
    if isinstance(text, bool):
        return text
    if isinstance(text, (int, float)):
        return text
    if _INT_RE.match(str(text)):
        return int(str(text).strip())
    try:
        value = float(text)
    except (TypeError, ValueError):
        return text
    return value if math.isfinite(value) else text


def _warn_unknown_key(spec: FieldSpec, key: object) -> None:
    logger.warning(
        "Field '%s': Kili category %r is not in the label schema (added on the server?); skipped", spec.name, key
    )


def _annotation_class(interface: KiliInterface, spec: FieldSpec, item: Json) -> str | None:
    categories = item.get("categories") or []
    key = categories[0].get("name") if categories else None
    name = _class_of_key(interface, spec, key)
    if name is None:
        _warn_unknown_key(spec, key)
    return name


def _class_of_key(interface: KiliInterface, spec: FieldSpec, key: object) -> str | None:
    """The class of category ``key`` of the field, or ``None`` (for a key
    that is not a string too)."""
    return interface.class_of_key(spec.name, key) if isinstance(key, str) else None


def _attributes_of(interface: KiliInterface, spec: FieldSpec, children: Mapping[str, Any] | None) -> dict[str, Any]:
    """``{attribute: typed value}`` set in a region's ``children``."""
    found: dict[str, Any] = {}
    for job, value in (children or {}).items():
        name = interface.attribute_of_job(spec.name, job)
        if name is None or name in found or not isinstance(value, dict):
            continue
        attr = spec.attributes[name]
        if attr.type == "text":
            if value.get("text") is not None:
                found[name] = attr.parse(value["text"])
            continue
        keys = [c.get("name") for c in value.get("categories") or []]
        if attr.type == "checkbox":
            found[name] = CHECKBOX_KEY in keys
        elif keys:
            raw = interface.attribute_value_of_key(spec.name, name, keys[0])
            if raw is None:
                logger.warning("Field '%s': unknown value %r of attribute '%s'; skipped", spec.name, keys[0], name)
                continue
            found[name] = attr.parse(raw)
    return found


def _polygons_of(item: Json) -> list[regions.Polygon]:
    """The polygons of an annotation's ``boundingPoly``: ``[[ring, ...], ...]``
    with rings as open ``[[x, y], ...]`` lists (normalised).

    Accepts the flat form ``[{outer}, {hole}, ...]`` (one polygon) and the
    nested multipolygon form ``[[{outer}, {hole}], [{outer}], ...]``.
    """
    bounding_poly = item.get("boundingPoly") or []
    if bounding_poly and isinstance(bounding_poly[0], list):
        groups = bounding_poly
    else:
        groups = [bounding_poly]
    polygons: list[regions.Polygon] = []
    for group in groups:
        rings: regions.Polygon = [_ring_of(entry) for entry in group if isinstance(entry, dict)]
        rings = [ring for ring in rings if ring]
        if rings:
            polygons.append(rings)
    return polygons


def _ring_of(entry: Json) -> list[list[float]]:
    ring = [[float(v["x"]), float(v["y"])] for v in entry.get("normalizedVertices") or []]
    if len(ring) > 1 and ring[0] == ring[-1]:
        ring = ring[:-1]
    return ring


def _line_of(item: Json) -> list[list[float]] | None:
    if item.get("polyline"):
        return [[float(v["x"]), float(v["y"])] for v in item["polyline"]]
    polygons = _polygons_of(item)
    return [list(point) for point in polygons[0][0]] if polygons else None
