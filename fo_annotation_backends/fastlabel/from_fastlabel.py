"""A FastLabel task as the server returns it -> FiftyOne labels under their
original ids (through the FastLabel annotation ids recorded at upload), new
labels under new ids."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ..core import geometry, regions
from ..core.idmap import part_id, split_part_id
from ..core.regions import Region
from ..core.secrets import get_logger
from .interface import CHOICE_TYPES, CLASSIFICATION_TYPE, IMAGE_CLASSIFICATION

if TYPE_CHECKING:
    from fiftyone.core.labels import Label

    from ..core.schema import FieldSpec, ScalarValue
    from .interface import FastLabelInterface, Json

logger = get_logger(__name__)


def task_to_labels(
    interface: FastLabelInterface,
    spec: FieldSpec,
    task: Mapping[str, Any] | None,
    annotation_ids: Mapping[str, str] | None,
    current_labels: Mapping[str, Label] | None,
    new_ids: MutableMapping[str, str] | None = None,
) -> dict[str, Label] | ScalarValue | None:
    """The FiftyOne labels of one field in one FastLabel task.

    Args:
        interface: the :class:`FastLabelInterface`
        spec: the field's ``FieldSpec``
        task: the task as the server returns it (``width``, ``height``,
            ``annotations``, or ``attributes`` for image_classification
            tasks)
        annotation_ids: ``{FastLabel annotation id: FiftyOne part id}``
            recorded at upload; an annotation whose id is not in it is new
        current_labels: ``{label_id: Label}`` of this field's uploaded labels
            that still exist in the dataset (for ids, closed/filled flags,
            keypoint point counts and mask resolutions)
        new_ids (None): a dict filled with ``{FastLabel annotation id:
            FiftyOne part id}`` of the new labels made here, so that a run
            remembers them (a second load keeps their ids)

    Returns:
        ``{label_id: Label}``, or the scalar value (or ``None``) for scalar
        fields
    """
    task = task or {}
    annotation_ids = annotation_ids or {}
    current_labels = current_labels or {}
    if spec.type in CHOICE_TYPES:
        values = _choice_values(interface, spec, task)
        if spec.type == "scalar":
            return _scalar_from_values(interface, spec, values)
        if values.get(interface.field_key(spec.name)) is None:
            return {}
        found = _parse_attributes(interface, spec, values)
        return regions.classifications_to_labels(
            spec, [(name, found) for name in _chosen(interface, spec, values)], current_labels
        )

    # the annotator's annotations of this field, in task order
    expected = interface.annotation_type(spec.name)
    report = spec.name == interface.first_spatial_field  # unknown classes: warned once per task
    mine: list[tuple[int, str | None, Json]] = []
    for position, item in enumerate(task.get("annotations") or []):
        if not isinstance(item, dict):
            continue
        value = item.get("value")
        if value is None or (field := interface.field_of_value(value)) is None:
            if report:
                logger.warning(
                    "Task %s: FastLabel class %r is not in the label schema (added on the server?); skipped",
                    task.get("id"),
                    value,
                )
            continue
        if field != spec.name:
            continue
        if item.get("type") != expected:
            logger.warning(
                "Field '%s': annotation %s is a %s annotation, expected %s; skipped",
                spec.name,
                item.get("id"),
                item.get("type"),
                expected,
            )
            continue
        mine.append((position, interface.class_of_value(spec.name, value), item))

    width, height = _task_size(spec, task)
    parsed = [_region(interface, spec, name, item, annotation_ids, width, height) for _, name, item in mine]
    # an annotation id recorded at upload (or by an earlier load) keeps its
    # label's id, even if the label was deleted in the dataset since
    recorded = [region.label_id for region in parsed if region.label_id is not None]
    if spec.type == "segmentation":
        return regions.segmentation_to_labels(spec, parsed, current_labels, recorded, (width, height))

    def remember(label: Label, parts: regions.Parts) -> None:
        if new_ids is not None:
            new_ids.update((r.region_id, part_id(label.id, index)) for index, r in parts if r.region_id)

    return regions.regions_to_labels(spec, parsed, current_labels, recorded, (width, height), remember)


def _region(
    interface: FastLabelInterface,
    spec: FieldSpec,
    name: str | None,
    item: Json,
    annotation_ids: Mapping[str, str],
    width: int,
    height: int,
) -> Region:
    """An annotation as a region in normalised coordinates."""
    item_id = item.get("id")
    recorded = annotation_ids.get(item_id) if item_id is not None else None
    label_id, part = split_part_id(recorded) if isinstance(recorded, str) else (None, None)
    attributes = _parse_attributes(interface, spec, _attribute_items(item.get("attributes")))
    region = Region(label=name, label_id=label_id, part=part, region_id=item.get("id"), attributes=attributes)
    if spec.type == "detections":
        region.box = _box_of(item.get("points"), item.get("rotation"), width, height)
    elif spec.type in ("polygons", "polylines"):
        shape = _points_of(item.get("points"), width, height)
        region.shapes = [shape] if shape else None
    elif spec.type == "keypoints" and interface.is_pose(spec.name):
        region.skeleton = True
        region.points = _pose_points(interface, spec, item, width, height)
    elif spec.type == "keypoints":
        point = _points_of(item.get("points"), width, height)
        region.points = point[:1] if point else None
    else:  # instances, segmentation
        scale = np.array([float(width), float(height)])
        region.polygons = [[ring / scale for ring in polygon] for polygon in _polygons_of(item.get("points"))]
    return region


def _task_size(spec: FieldSpec, task: Mapping[str, Any]) -> tuple[int, int]:
    width, height = task.get("width"), task.get("height")
    if not width or not height:
        raise ValueError("Field '%s' (%s): the task has no width/height" % (spec.name, spec.type))
    return int(width), int(height)


def _attribute_items(items: Iterable[Any] | None) -> dict[str, Any]:
    """``{key: value}`` of ``[{key, value}]``: the first non-empty value of
    each key."""
    out: dict[str, Any] = {}
    for item in items or []:
        if not isinstance(item, dict):
            continue
        key, value = item.get("key"), item.get("value")
        # keys are strings: an item without one names no attribute (no lookup could find it)
        if isinstance(key, str) and key not in out and not _is_empty(value):
            out[key] = value
    return out


def _is_empty(value: object) -> bool:
    """Whether an attribute value is FastLabel's "not set" (null, "" or [])."""
    return value is None or (isinstance(value, (str, list)) and not value)


def _choice_values(interface: FastLabelInterface, spec: FieldSpec, task: Mapping[str, Any]) -> dict[str, Any]:
    """``{attribute key: value}`` of a choice field in a task."""
    if interface.project_type == IMAGE_CLASSIFICATION:
        items = task.get("attributes") or []
        if spec.name == next(iter(interface.fields)):
            known = {interface.field_key(f) for f in interface.fields}
            for f in interface.fields:
                known.update(interface.attribute_keys(f).values())
            for item in items:
                key = item.get("key") if isinstance(item, dict) else None
                if key not in known:
                    logger.warning("Task %s: attribute %r is not in the label schema; skipped", task.get("id"), key)
        return _attribute_items(items)
    key = interface.field_key(spec.name)
    items = []
    for item in task.get("annotations") or []:
        if isinstance(item, dict) and item.get("type") == CLASSIFICATION_TYPE and item.get("value") == key:
            items.extend(item.get("attributes") or [])
    return _attribute_items(items)


def _scalar_from_values(
    interface: FastLabelInterface, spec: FieldSpec, values: Mapping[str, Any]
) -> ScalarValue | None:
    raw = values.get(interface.field_key(spec.name))
    if raw is None:
        return None
    if spec.scalar_type == "bool":
        return spec.parse_scalar(raw)
    if interface.choice_values(spec.name):
        name = interface.choice_of_value(spec.name, raw)
        if name is None:
            _warn_unknown_option(spec, spec.name, raw)
            return None
        return spec.parse_scalar(name)
    if raw == "" and spec.scalar_type != "str":
        return None
    if interface.is_numeric_scalar(spec.name):
        return _number(spec, raw)
    return spec.parse_scalar(raw)


def _number(spec: FieldSpec, raw: object) -> int | float | None:
    """The int or float typed in a numeric scalar field, or ``None`` (with a
    warning) for text that is not a number."""
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return raw
    text = str(raw).strip()
    for parse in (int, float):
        try:
            value = parse(text)
        except ValueError:
            continue
        if isinstance(value, float) and not math.isfinite(value):
            break
        return value
    logger.warning("Field '%s' holds numbers; %r is not one, so it is not loaded", spec.name, raw)
    return None


def _warn_unknown_option(spec: FieldSpec, attribute: str, option: object) -> None:
    logger.warning(
        "Field '%s': option %r of '%s' is not in the label schema (added on the server?); skipped",
        spec.name,
        option,
        attribute,
    )


def _parse_attributes(interface: FastLabelInterface, spec: FieldSpec, values: Mapping[str, Any]) -> dict[str, Any]:
    """Typed FiftyOne attributes set in ``{attribute key: value}``."""
    found: dict[str, Any] = {}
    for key, raw in values.items():
        name = interface.attribute_of_key(spec.name, key)
        if name is None or name in found or _is_empty(raw):
            continue
        attr = spec.attributes[name]
        if attr.type in ("select", "radio"):
            text = interface.option_of_value(spec.name, name, raw) if isinstance(raw, str) else None
            if text is None:
                _warn_unknown_option(spec, name, raw)
                continue
            found[name] = attr.parse(text)
        elif attr.type == "checkbox":
            found[name] = attr.parse(raw)
        else:
            found[name] = attr.parse(raw if isinstance(raw, str) else str(raw))
    return found


def _chosen(interface: FastLabelInterface, spec: FieldSpec, values: Mapping[str, Any]) -> list[str]:
    """The classes chosen in a choice field (unknown options warned)."""
    raw = values.get(interface.field_key(spec.name))
    chosen: list[str] = []
    for option in raw if isinstance(raw, list) else [raw]:
        name = interface.choice_of_value(spec.name, option) if isinstance(option, str) else None
        if name is None:
            _warn_unknown_option(spec, spec.name, option)
            continue
        chosen.append(name)
    return chosen


def _numbers(points: object) -> list[float] | None:
    if not isinstance(points, list):
        return None
    try:
        return [float(v) for v in points]
    except (TypeError, ValueError):
        return None


def _box_of(points: object, rotation: float | str | None, width: int, height: int) -> list[float] | None:
    """``[x1, y1, x2, y2]`` rotated by ``rotation`` degrees about its centre
    -> the normalised ``[x, y, w, h]`` box that encloses it, clipped."""
    points = _numbers(points)
    if points is None or len(points) != 4:
        return None
    x1, y1, x2, y2 = points
    rotation = float(rotation or 0)
    if rotation % 360:
        cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
        theta = math.radians(rotation)
        cos, sin = math.cos(theta), math.sin(theta)
        corners = []
        for dx, dy in ((x1 - cx, y1 - cy), (x2 - cx, y1 - cy), (x2 - cx, y2 - cy), (x1 - cx, y2 - cy)):
            corners.append([cx + dx * cos - dy * sin, cy + dx * sin + dy * cos])
        x1, y1, bw, bh = geometry.corners_to_box(corners)
        x2, y2 = x1 + bw, y1 + bh
    box = [x1 / width, y1 / height, (x2 - x1) / width, (y2 - y1) / height]
    if box[0] < 0 or box[1] < 0 or box[0] + box[2] > 1 or box[1] + box[3] > 1:
        box = geometry.clip_box(box)
    return box


def _points_of(points: object, width: int, height: int) -> list[list[float]] | None:
    """A flat pixel list -> ``[[x, y], ...]`` normalised, or ``None``."""
    points = _numbers(points)
    if not points or len(points) % 2:
        return None
    return [[points[i] / width, points[i + 1] / height] for i in range(0, len(points), 2)]


def _pose_points(
    interface: FastLabelInterface, spec: FieldSpec, item: Json, width: int, height: int
) -> list[list[float]]:
    """The skeleton's points of a pose annotation, NaN for those not placed."""
    keys = interface.pose_keys(spec.name)
    index_of: dict[str | None, int] = {key: i for i, key in enumerate(keys)}
    points = [[math.nan, math.nan] for _ in keys]
    for entry in item.get("keypoints") or []:
        if not isinstance(entry, dict):
            continue
        index = index_of.get(entry.get("key"))
        if index is None:
            logger.warning("Field '%s': unknown pose keypoint %r; skipped", spec.name, entry.get("key"))
            continue
        value = _numbers(entry.get("value"))
        if value and len(value) >= 2:
            points[index] = [value[0] / width, value[1] / height]
    return points


def _polygons_of(points: object) -> list[list[npt.NDArray[np.float64]]]:
    """Segmentation regions -> ``[[ring, ...], ...]`` of ``(N, 2)`` pixel arrays."""
    polygons: list[list[npt.NDArray[np.float64]]] = []
    for region in points if isinstance(points, list) else []:
        rings: list[npt.NDArray[np.float64]] = []
        for ring in region if isinstance(region, list) else []:
            values = _numbers(ring)
            if values and len(values) >= 6 and len(values) % 2 == 0:
                rings.append(np.asarray(values, dtype=float).reshape(-1, 2))
        if rings:
            polygons.append(rings)
    return polygons
