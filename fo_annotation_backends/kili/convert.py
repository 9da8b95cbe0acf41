"""Conversions between FiftyOne labels and Kili's formats.

- :func:`labels_to_json_response`: the FiftyOne labels of one sample -> the
  ``jsonResponse`` of one Kili label, whose annotation ``mid`` values are
  FiftyOne label ids (part ids for labels made of several regions).
- :func:`json_response_to_labels`: one field of a ``jsonResponse`` ->
  FiftyOne labels under their original ids, new labels under new ids.

The names of jobs and categories come from a :class:`~.interface.KiliInterface`.
Kili coordinates are normalised to ``[0, 1]`` like FiftyOne's; masks travel
as polygons with holes (``core.masks``) and must be rasterised at the
image's pixel size.
"""

import math
import re

import numpy as np

import fiftyone.core.labels as fol

from ..core import geometry, masks
from ..core.idmap import iter_labels, part_id, split_part_id
from ..core.secrets import get_logger
from .interface import CHECKBOX_KEY, CONFIDENCE, POSE_TOOL, TOOLS, KiliInterface

__all__ = [
    "CHECKBOX_KEY",
    "CONFIDENCE",
    "POSE_TOOL",
    "TOOLS",
    "KiliInterface",
    "json_response_to_labels",
    "labels_to_json_response",
]

logger = get_logger(__name__)

# --------------------------------------------------------------------------
# FiftyOne -> Kili
# --------------------------------------------------------------------------


def labels_to_json_response(interface, values, image_size=None):
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
    response = {}
    for field, spec in interface.fields.items():
        value = values.get(field)
        if value is None:
            continue
        job_response = _field_response(interface, spec, value, image_size)
        if job_response:
            response[interface.job_name(field)] = job_response
    return response


def _field_response(interface, spec, value, image_size):
    if spec.type == "scalar":
        return _scalar_response(interface, spec, value)
    labels = iter_labels(value)
    if spec.type in ("classification", "classifications"):
        entries = []
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


def _scalar_response(interface, spec, value):
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


def _category_entry(interface, spec, name):
    key = interface.category_key(spec.name, name)
    if key is None:
        logger.warning("Field '%s': class %r is not in the label schema; label not sent to Kili", spec.name, name)
        return None
    return {"name": key, "confidence": CONFIDENCE}


def _children_response(interface, spec, label):
    children = {}
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


def _annotation(mid, key, type_, children, **shape):
    annotation = {"mid": mid, "type": type_, "categories": [{"name": key, "confidence": CONFIDENCE}]}
    annotation.update(shape)
    annotation["children"] = children
    return annotation


def _vertices(points):
    return [{"x": float(x), "y": float(y)} for x, y in points]


def _label_annotations(interface, spec, label, image_size):
    entry = _category_entry(interface, spec, label.label)
    if entry is None:
        return []
    key = entry["name"]
    children = _children_response(interface, spec, label)
    if interface.is_pose(spec.name):
        return [_pose_annotation(interface, spec, label, key, children)]

    annotations = []
    for index, (type_, shape) in enumerate(_label_shapes(spec, label, image_size)):
        if shape is None:  # a missing point or an unusable shape keeps its index free
            continue
        # attributes travel on the first region of a label
        region_children = children if not annotations else {}
        annotations.append(_annotation(part_id(label.id, index), key, type_, region_children, **shape))
    return annotations


def _label_shapes(spec, label, image_size):
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
        out = []
        for shape in label.points or []:
            ok = len(shape) >= 2
            if not ok:
                logger.warning("Field '%s': a polyline shape with fewer than 2 points is not sent", spec.name)
            out.append(("polyline", {"polyline": _vertices(shape)} if ok else None))
        return out
    if spec.type == "keypoints":
        return [
            ("marker", None if _is_missing(point) else {"point": _vertices([point])[0]}) for point in label.points or []
        ]
    if spec.type == "instances":
        width, height = _require_size(spec, image_size)
        if label.bounding_box is None:
            return []
        mask = label.get_mask() if hasattr(label, "get_mask") else label.mask
        full = geometry.instance_to_full_mask(label.bounding_box, mask, width, height)
        polygons = masks.mask_to_polygons(full)
        if not polygons:
            logger.warning("Field '%s': instance %s has an empty mask; not sent", spec.name, label.id)
        return [("semantic", {"boundingPoly": _bounding_poly(p, width, height)}) for p in polygons]
    raise ValueError("Unsupported label type %s" % spec.type)


def _polygon_shape(spec, label, shape):
    ring = [list(p) for p in shape]
    if len(ring) > 1 and ring[0] == ring[-1]:
        ring = ring[:-1]  # Kili's rings are open
    if len(ring) < 3:
        logger.warning("Field '%s': a polygon shape of label %s has fewer than 3 points; not sent", spec.name, label.id)
        return None
    return {"boundingPoly": [{"normalizedVertices": _vertices(ring)}]}


def _bounding_poly(polygon, width, height):
    """A polygon in pixel-edge coordinates -> ``[{outer}, {hole}, ...]``."""
    scale = np.array([1.0 / width, 1.0 / height])
    return [{"normalizedVertices": _vertices(np.asarray(ring) * scale)} for ring in polygon]


def _pose_annotation(interface, spec, label, key, children):
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
    points = []
    for index, (code, point) in enumerate(zip(codes, label_points)):
        if _is_missing(point):
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


def _segmentation_annotations(interface, spec, labels):
    annotations = []
    for label in labels:
        mask = label.get_mask()
        if mask is None:
            continue
        mask = np.asarray(mask)
        if mask.ndim == 3:
            mask = mask[:, :, 0]
        # normalised by the mask's own size: it is drawn over the whole image
        height, width = mask.shape
        for value, name in sorted(spec.mask_targets.items()):
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


def _require_size(spec, image_size):
    if not image_size or not image_size[0] or not image_size[1]:
        raise ValueError("Field '%s' (%s) needs the image size" % (spec.name, spec.type))
    return int(image_size[0]), int(image_size[1])


def _is_missing(point):
    if point is None or len(point) < 2:
        return True
    try:
        return math.isnan(point[0]) or math.isnan(point[1])
    except TypeError:
        return True


# --------------------------------------------------------------------------
# Kili -> FiftyOne
# --------------------------------------------------------------------------


def json_response_to_labels(interface, spec, json_response, current_labels, image_size=None):
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

    Returns:
        ``{label_id: Label}``, or the scalar value (or ``None``) for scalar
        fields
    """
    job_response = (json_response or {}).get(interface.job_name(spec.name)) or {}
    if spec.type == "scalar":
        return _scalar_from_response(interface, spec, job_response)
    if spec.type in ("classification", "classifications"):
        return _classifications_from_response(interface, spec, job_response, current_labels)
    annotations = [a for a in job_response.get("annotations") or [] if isinstance(a, dict)]
    if spec.type == "segmentation":
        return _segmentation_from_annotations(interface, spec, annotations, current_labels, image_size)
    return _objects_from_annotations(interface, spec, annotations, current_labels, image_size)


def _scalar_from_response(interface, spec, job_response):
    categories = job_response.get("categories") or []
    if categories:
        key = categories[0].get("name")
        name = interface.class_of_key(spec.name, key)
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


def parse_number(text):
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


def _warn_unknown_key(spec, key):
    logger.warning(
        "Field '%s': Kili category %r is not in the label schema (added on the server?); skipped", spec.name, key
    )


def _annotation_class(interface, spec, item):
    categories = item.get("categories") or []
    key = categories[0].get("name") if categories else None
    name = interface.class_of_key(spec.name, key)
    if name is None:
        _warn_unknown_key(spec, key)
    return name


def _attributes_from_children(interface, spec, children_dicts, new):
    """Typed attribute values from the ``children`` of the label's regions
    (the first region that sets an attribute provides it)."""
    found = {}
    for children in children_dicts:
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
    return spec.complete_attributes(found, new)


def _classifications_from_response(interface, spec, job_response, current_labels):
    entries = [e for e in job_response.get("categories") or [] if isinstance(e, dict)]
    by_name = {label.label: label_id for label_id, label in current_labels.items()}
    single_id = next(iter(current_labels), None) if spec.type == "classification" else None
    labels = {}
    seen = set()
    for entry in entries:
        name = interface.class_of_key(spec.name, entry.get("name"))
        if name is None:
            _warn_unknown_key(spec, entry.get("name"))
            continue
        if name in seen:
            continue
        seen.add(name)
        label_id = single_id or by_name.get(name)
        attributes = _attributes_from_children(interface, spec, [entry.get("children")], new=label_id is None)
        label = fol.Classification(label=name, **attributes)
        if label_id is not None:
            label.id = label_id
        labels[label.id] = label
        if spec.type == "classification":
            break
    return labels


def _objects_from_annotations(interface, spec, annotations, current_labels, image_size):
    # regions of one FiftyOne label share its id (part ids); others are new
    groups = {}
    for position, item in enumerate(annotations):
        name = _annotation_class(interface, spec, item)
        if name is None:
            continue
        mid = str(item.get("mid") or "")
        base_id, index = split_part_id(mid)
        if base_id not in current_labels:
            base_id, index = None, 0
        key = base_id or mid or "new-%d" % position
        groups.setdefault(key, []).append((index, name, item, base_id is not None))

    if spec.type == "keypoints" and not interface.is_pose(spec.name):
        groups = _group_new_markers(groups)

    labels = {}
    for key, group in groups.items():
        group.sort(key=lambda entry: entry[0])
        existing = group[0][3]
        name = group[0][1]
        attributes = _attributes_from_children(
            interface, spec, [item.get("children") for _, _, item, _ in group], new=not existing
        )
        current = current_labels.get(key) if existing else None
        parts = [(index, item) for index, _, item, _ in group]
        labels.update(
            _make_label(interface, spec, key if existing else None, name, parts, attributes, current, image_size)
        )
    return labels


def _group_new_markers(groups):
    """New markers of one class in one asset are one keypoint, their points
    in placement order; markers carrying an uploaded label id stay with it."""
    out = {}
    for key, group in groups.items():
        if group[0][3]:
            out[key] = group
            continue
        for _, name, item, _ in group:
            placed = out.setdefault(("new markers", name), [])
            placed.append((len(placed), name, item, False))
    return out


def _make_label(interface, spec, label_id, name, parts, attributes, current, image_size):
    kwargs = dict(attributes)
    if spec.type == "detections":
        points = [p for _, item in parts[:1] for polygon in _polygons_of(item) for ring in polygon for p in ring]
        if not points:
            return {}
        label = fol.Detection(label=name, bounding_box=geometry.corners_to_box(points), **kwargs)
    elif spec.type in ("polylines", "polygons"):
        shapes = [shape for shape in (_line_of(item) for _, item in parts) if shape]
        if not shapes:
            return {}
        if current is not None:
            closed, filled = bool(current.closed), bool(current.filled)
        else:
            closed = filled = spec.type == "polygons"
        label = fol.Polyline(label=name, points=shapes, closed=closed, filled=filled, **kwargs)
    elif spec.type == "keypoints":
        if interface.is_pose(spec.name):
            points = _pose_points(interface, spec, parts[0][1], current)
        else:
            points = _marker_points(parts, current)
        label = fol.Keypoint(label=name, points=points, **kwargs)
    elif spec.type == "instances":
        width, height = _require_size(spec, image_size)
        polygons = [polygon for _, item in parts for polygon in _polygons_of(item)]
        full = masks.polygons_to_mask(_scale_polygons(polygons, width, height), width, height)
        instance = geometry.full_mask_to_instance(full)
        if instance is None:
            return {}
        box, mask = instance
        label = fol.Detection(label=name, bounding_box=box, mask=mask, **kwargs)
    else:
        raise ValueError("Unsupported label type %s" % spec.type)
    if label_id is not None:
        label.id = label_id
    return {label.id: label}


def _marker_points(parts, current):
    count = len(current.points) if current is not None and current.points else 0
    count = max([count] + [index + 1 for index, _ in parts])
    points = [[float("nan"), float("nan")] for _ in range(count)]
    for index, item in parts:
        point = item.get("point") or {}
        if "x" in point and "y" in point:
            points[index] = [float(point["x"]), float(point["y"])]
    return points


def _pose_points(interface, spec, item, current):
    codes = interface.pose_codes(spec.name)
    index_of = {code: i for i, code in enumerate(codes)}
    points = [[float("nan"), float("nan")] for _ in codes]
    for entry in item.get("points") or []:
        point = entry.get("point") or {}
        index = index_of.get(entry.get("code"))
        if index is None or "x" not in point or "y" not in point:
            logger.warning("Field '%s': unknown pose point %r; skipped", spec.name, entry.get("code"))
            continue
        points[index] = [float(point["x"]), float(point["y"])]
    if current is not None and current.points and len(current.points) > len(codes):
        # points beyond the skeleton were never sent: keep them
        points.extend([list(p) for p in current.points[len(codes) :]])
    return points


def _segmentation_from_annotations(interface, spec, annotations, current_labels, image_size):
    current_id = next(iter(current_labels), None)
    if not annotations and current_id is None:
        return {}
    # an uploaded mask is read back at its own size (it was sent normalised
    # by it); erasing every region leaves it all zeros, under the same id
    width, height = _mask_size(current_labels.get(current_id)) or _require_size(spec, image_size)
    class_to_value = spec.class_to_value
    mask = np.zeros((height, width), dtype=np.uint8)
    for item in annotations:
        name = _annotation_class(interface, spec, item)
        if name is None or name not in class_to_value:
            continue
        polygons = _scale_polygons(_polygons_of(item), width, height)
        mask[masks.polygons_to_mask(polygons, width, height)] = class_to_value[name]
    label = fol.Segmentation(mask=mask)
    if current_id is not None:
        label.id = current_id
    return {label.id: label}


def _mask_size(label):
    """``(width, height)`` of a segmentation's mask, or ``None``."""
    if label is None:
        return None
    mask = label.get_mask()
    if mask is None:
        return None
    height, width = np.asarray(mask).shape[:2]
    return (int(width), int(height)) if width and height else None


def _polygons_of(item):
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
    polygons = []
    for group in groups:
        rings = [_ring_of(entry) for entry in group if isinstance(entry, dict)]
        rings = [ring for ring in rings if ring]
        if rings:
            polygons.append(rings)
    return polygons


def _ring_of(entry):
    ring = [[float(v["x"]), float(v["y"])] for v in entry.get("normalizedVertices") or []]
    if len(ring) > 1 and ring[0] == ring[-1]:
        ring = ring[:-1]
    return ring


def _line_of(item):
    if item.get("polyline"):
        return [[float(v["x"]), float(v["y"])] for v in item["polyline"]]
    polygons = _polygons_of(item)
    return polygons[0][0] if polygons else None


def _scale_polygons(polygons, width, height):
    scale = np.array([float(width), float(height)])
    return [[np.asarray(ring, dtype=float) * scale for ring in polygon] for polygon in polygons]
