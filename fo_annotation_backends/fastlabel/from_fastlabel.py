"""A FastLabel task as the server returns it -> FiftyOne labels under their
original ids (through the FastLabel annotation ids recorded at upload), new
labels under new ids."""

import math

import fiftyone.core.labels as fol
import numpy as np

from ..core import geometry, masks
from ..core.idmap import part_id, split_part_id
from ..core.secrets import get_logger
from .interface import CHOICE_TYPES, CLASSIFICATION_TYPE, IMAGE_CLASSIFICATION
from .to_fastlabel import _is_missing

logger = get_logger(__name__)


def task_to_labels(interface, spec, task, annotation_ids, current_labels, new_ids=None):
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
        return _classifications_from_values(interface, spec, values, current_labels)

    # the annotator's annotations of this field, in task order
    expected = interface.annotation_type(spec.name)
    report = spec.name == interface.first_spatial_field  # unknown classes: warned once per task
    mine = []
    for position, item in enumerate(task.get("annotations") or []):
        if not isinstance(item, dict):
            continue
        value = item.get("value")
        field = interface.field_of_value(value)
        if field is None:
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
    if spec.type == "segmentation":
        return _segmentation_from_annotations(spec, mine, annotation_ids, current_labels, width, height)
    return _objects_from_annotations(interface, spec, mine, annotation_ids, current_labels, width, height, new_ids)


def _task_size(spec, task):
    width, height = task.get("width"), task.get("height")
    if not width or not height:
        raise ValueError("Field '%s' (%s): the task has no width/height" % (spec.name, spec.type))
    return int(width), int(height)


def _attribute_items(items):
    """``{key: value}`` of ``[{key, value}]``: the first non-empty value of
    each key."""
    out = {}
    for item in items or []:
        if not isinstance(item, dict):
            continue
        key, value = item.get("key"), item.get("value")
        if key not in out and not _is_empty(value):
            out[key] = value
    return out


def _is_empty(value):
    """Whether an attribute value is FastLabel's "not set" (null, "" or [])."""
    return value is None or (isinstance(value, (str, list)) and not value)


def _choice_values(interface, spec, task):
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


def _scalar_from_values(interface, spec, values):
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


def _number(spec, raw):
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


def _warn_unknown_option(spec, attribute, option):
    logger.warning(
        "Field '%s': option %r of '%s' is not in the label schema (added on the server?); skipped",
        spec.name,
        option,
        attribute,
    )


def _parse_attributes(interface, spec, values, new):
    """Typed FiftyOne attributes from ``{attribute key: value}``."""
    found = {}
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
    return spec.complete_attributes(found, new)


def _classifications_from_values(interface, spec, values, current_labels):
    raw = values.get(interface.field_key(spec.name))
    if raw is None:
        return {}
    options = raw if isinstance(raw, list) else [raw]
    by_name = {label.label: label_id for label_id, label in current_labels.items()}
    single_id = next(iter(current_labels), None) if spec.type == "classification" else None
    labels = {}
    seen = set()
    for option in options:
        name = interface.choice_of_value(spec.name, option) if isinstance(option, str) else None
        if name is None:
            _warn_unknown_option(spec, spec.name, option)
            continue
        if name in seen:
            continue
        seen.add(name)
        label_id = single_id or by_name.get(name)
        attributes = _parse_attributes(interface, spec, values, new=label_id is None)
        label = fol.Classification(label=name, **attributes)
        if label_id is not None:
            label.id = label_id
        labels[label.id] = label
        if spec.type == "classification":
            break
    return labels


def _objects_from_annotations(interface, spec, mine, annotation_ids, current_labels, width, height, new_ids=None):
    # the annotations of one FiftyOne label share its id (part ids); others
    # are new: one label each, except new single points, which make one
    # Keypoint per class (points in placement order)
    single_points = spec.type == "keypoints" and not interface.is_pose(spec.name)
    groups = {}
    for position, name, item in mine:
        known = annotation_ids.get(item.get("id"))
        base_id, index = split_part_id(known) if isinstance(known, str) else (None, None)
        if base_id is not None:
            key = base_id  # recorded at upload: its id comes back, even if deleted in the dataset since
        elif single_points:
            key = ("new", name)
            index = len(groups.get(key, []))
        else:
            key, index = ("new", position), 0
        groups.setdefault(key, []).append((index, name, item))

    labels = {}
    for key, group in groups.items():
        group.sort(key=lambda entry: entry[0])
        recorded = isinstance(key, str)
        values = _attribute_items([a for _, _, item in group for a in item.get("attributes") or []])
        attributes = _parse_attributes(interface, spec, values, new=not recorded)
        current = current_labels.get(key) if recorded else None
        parts = [(index, item) for index, _, item in group]
        label = _make_label(interface, spec, group[0][1], parts, attributes, current, width, height)
        if label is None:
            continue
        if recorded:
            label.id = key
        elif new_ids is not None:
            new_ids.update((item.get("id"), part_id(label.id, index)) for index, item in parts if item.get("id"))
        labels[label.id] = label
    return labels


def _make_label(interface, spec, name, parts, attributes, current, width, height):
    if spec.type == "detections":
        item = parts[0][1]
        box = _box_of(item.get("points"), item.get("rotation"), width, height)
        if box is None:
            return None
        return fol.Detection(label=name, bounding_box=box, **attributes)
    if spec.type in ("polygons", "polylines"):
        shapes = [shape for shape in (_points_of(item.get("points"), width, height) for _, item in parts) if shape]
        if not shapes:
            return None
        if current is not None:
            closed, filled = bool(current.closed), bool(current.filled)
        else:
            closed = filled = spec.type == "polygons"
        return fol.Polyline(label=name, points=shapes, closed=closed, filled=filled, **attributes)
    if spec.type == "keypoints":
        if interface.is_pose(spec.name):
            points = _pose_points(interface, spec, parts[0][1], current, width, height)
        else:
            points = _keypoint_points(parts, current, width, height)
        if points is None:
            return None
        return fol.Keypoint(label=name, points=points, **attributes)
    if spec.type == "instances":
        polygons = [polygon for _, item in parts for polygon in _polygons_of(item.get("points"))]
        full = masks.polygons_to_mask(polygons, width, height)
        instance = geometry.full_mask_to_instance(full)
        if instance is None:
            return None
        box, mask = instance
        return fol.Detection(label=name, bounding_box=box, mask=mask, **attributes)
    raise ValueError("Unsupported label type %s" % spec.type)


def _numbers(points):
    if not isinstance(points, list):
        return None
    try:
        return [float(v) for v in points]
    except (TypeError, ValueError):
        return None


def _box_of(points, rotation, width, height):
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


def _points_of(points, width, height):
    """A flat pixel list -> ``[[x, y], ...]`` normalised, or ``None``."""
    points = _numbers(points)
    if not points or len(points) % 2:
        return None
    return [[points[i] / width, points[i + 1] / height] for i in range(0, len(points), 2)]


def _keypoint_points(parts, current, width, height):
    count = len(current.points) if current is not None and current.points else 0
    count = max([count] + [index + 1 for index, _ in parts])
    points = [[float("nan"), float("nan")] for _ in range(count)]
    placed = False
    for index, item in parts:
        point = _points_of(item.get("points"), width, height)
        if point:
            points[index] = point[0]
            placed = True
    return points if placed else None


def _pose_points(interface, spec, item, current, width, height):
    keys = interface.pose_keys(spec.name)
    index_of = {key: i for i, key in enumerate(keys)}
    points = [[float("nan"), float("nan")] for _ in keys]
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
    if current is not None and current.points is not None:
        known = len(current.points)
        if known > len(keys):
            # points beyond the skeleton were never sent: keep them
            points.extend([list(p) for p in current.points[len(keys) :]])
        else:
            # a label with fewer points than the skeleton keeps its length
            # unless the annotator placed the points beyond it
            while len(points) > known and _is_missing(points[-1]):
                points.pop()
    return points


def _polygons_of(points):
    """Segmentation regions -> ``[[ring, ...], ...]`` of ``(N, 2)`` pixel arrays."""
    polygons = []
    for region in points if isinstance(points, list) else []:
        rings = []
        for ring in region if isinstance(region, list) else []:
            values = _numbers(ring)
            if values and len(values) >= 6 and len(values) % 2 == 0:
                rings.append(np.asarray(values, dtype=float).reshape(-1, 2))
        if rings:
            polygons.append(rings)
    return polygons


def _segmentation_from_annotations(spec, mine, annotation_ids, current_labels, width, height):
    # the uploaded label: still in the dataset, else as recorded at upload
    recorded = [split_part_id(annotation_ids.get(item.get("id")) or "")[0] for _, _, item in mine]
    label_id = next((i for i in recorded if i in current_labels), None) or next(iter(current_labels), None)
    if label_id is None:
        label_id = next((i for i in recorded if i is not None), None)
    if not mine and label_id is None:
        return {}

    # drawn at the resolution of the uploaded mask when there is one
    current = current_labels.get(label_id) if label_id is not None else None
    current_mask = current.get_mask() if current is not None else None
    dtype = np.uint8
    mask_width, mask_height = width, height
    if current_mask is not None:
        current_mask = np.asarray(current_mask)
        mask_height, mask_width = current_mask.shape[:2]
        if np.issubdtype(current_mask.dtype, np.integer):
            dtype = current_mask.dtype
    scale = np.array([mask_width / float(width), mask_height / float(height)])

    class_to_value = spec.class_to_value
    mask = np.zeros((mask_height, mask_width), dtype=dtype)
    for _, name, item in mine:
        if name not in class_to_value:
            continue
        polygons = [[ring * scale for ring in polygon] for polygon in _polygons_of(item.get("points"))]
        mask[masks.polygons_to_mask(polygons, mask_width, mask_height)] = class_to_value[name]
    label = fol.Segmentation(mask=mask)
    if label_id is not None:
        label.id = label_id
    return {label.id: label}
