"""Kili labels -> FiftyOne labels.

:func:`json_response_to_labels` converts one field of a ``jsonResponse``:
regions whose ``mid`` carries an uploaded label id come back under that id,
others are new labels whose ids are kept for the next load (``new_ids``).
:func:`foreign_labels` returns what a person drew in a field's job with a
tool of another label type (a point in a detections job), for FiftyOne's
``unexpected`` handling.
"""

import math
import re

import fiftyone.core.labels as fol
import numpy as np

from ..core import geometry, masks
from ..core.idmap import split_part_id
from ..core.secrets import get_logger
from .interface import CHECKBOX_KEY

logger = get_logger(__name__)


def require_image_size(spec, image_size):
    """``(width, height)`` of ``image_size``; an error naming the field when
    it is unknown (masks are drawn at the image's pixel size)."""
    if not image_size or not image_size[0] or not image_size[1]:
        raise ValueError("Field '%s' (%s) needs the image size" % (spec.name, spec.type))
    return int(image_size[0]), int(image_size[1])


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


class NewLabelIds:
    """The ids of labels a person added, by where they come from in one
    asset (``{origin: label id}``): the next load gives them the same ids,
    so that FiftyOne merges them instead of replacing them.

    Args:
        previous (None): the map of the previous load
    """

    def __init__(self, previous=None):
        self.previous = dict(previous or {})
        #: the origins seen in this load (what the next load gets)
        self.current = {}

    def assign(self, label, origin):
        """Gives ``label`` the id ``origin`` had, or records its new id."""
        if origin:
            if origin in self.previous:
                label.id = self.previous[origin]
            self.current[origin] = label.id
        return label


def json_response_to_labels(
    interface, spec, json_response, current_labels, image_size=None, uploaded_ids=(), new_ids=None
):
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
    known = dict(current_labels)
    for label_id in uploaded_ids or ():
        known.setdefault(label_id, None)
    new_ids = new_ids if new_ids is not None else NewLabelIds()
    if spec.type in ("classification", "classifications"):
        return _classifications_from_response(interface, spec, job_response, known, new_ids)
    annotations = [a for a in job_response.get("annotations") or [] if isinstance(a, dict)]
    if spec.type == "segmentation":
        return _segmentation_from_annotations(interface, spec, annotations, known, image_size, new_ids)
    own = [a for a in annotations if _foreign_type(spec, a) is None]
    return _objects_from_annotations(interface, spec, own, known, image_size, new_ids)


def foreign_labels(interface, spec, json_response, new_ids=None):
    """What a person drew in ``spec``'s job with the tool of another label
    type (a point in a detections job): ``{return type: {label_id: Label}}``,
    for FiftyOne's ``unexpected`` handling. New points of one class are one
    keypoint, as in a keypoints field."""
    if spec.type in ("scalar", "classification", "classifications", "segmentation"):
        return {}
    new_ids = new_ids if new_ids is not None else NewLabelIds()
    job_response = (json_response or {}).get(interface.job_name(spec.name)) or {}
    out = {}
    markers = {}
    for item in job_response.get("annotations") or []:
        return_type = _foreign_type(spec, item) if isinstance(item, dict) else None
        if return_type is None:
            continue
        name = _annotation_class(interface, spec, item)
        if name is None:
            continue
        if item.get("type") == "marker":
            markers.setdefault(name, []).append(item)
            continue
        attributes = _attributes_from_children(interface, spec, [item.get("children")], new=True)
        label = _foreign_label(spec, item, name, attributes)
        if label is not None:
            mid = item.get("mid")
            new_ids.assign(label, "foreign:%s" % mid if mid else None)
            out.setdefault(return_type, {})[label.id] = label
    for name, items in markers.items():
        attributes = _attributes_from_children(interface, spec, [i.get("children") for i in items], new=True)
        points = [
            [float(p["x"]), float(p["y"])] for p in (i.get("point") or {} for i in items) if "x" in p and "y" in p
        ]
        label = new_ids.assign(fol.Keypoint(label=name, points=points, **attributes), "foreign markers:%s" % name)
        out.setdefault("keypoints", {})[label.id] = label
    return out


def _foreign_type(spec, item):
    """The label type of an annotation drawn with another label type's tool
    (``None`` for the field's own; a segmentation job is one mask)."""
    return_type = _RETURN_TYPE_OF_TOOL.get(item.get("type"))
    if return_type is None or spec.type == "segmentation" or return_type == spec.return_type:
        return None
    return return_type


def _foreign_label(spec, item, name, attributes):
    type_ = item.get("type")
    if type_ == "rectangle":
        points = [p for polygon in _polygons_of(item)[:1] for ring in polygon for p in ring]
        if points:
            return fol.Detection(label=name, bounding_box=geometry.corners_to_box(points), **attributes)
    elif type_ in ("polygon", "polyline", "vector"):
        line = _line_of(item)
        if line:
            closed = type_ == "polygon"
            return fol.Polyline(label=name, points=[line], closed=closed, filled=closed, **attributes)
    elif type_ == "pose":
        points = [[float(p["point"]["x"]), float(p["point"]["y"])] for p in item.get("points") or [] if p.get("point")]
        if points:
            return fol.Keypoint(label=name, points=points, **attributes)
    logger.warning("Field '%s': a %s region drawn in it is not read", spec.name, type_)
    return None


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


def _classifications_from_response(interface, spec, job_response, known, new_ids):
    entries = [e for e in job_response.get("categories") or [] if isinstance(e, dict)]
    by_name = {label.label: label_id for label_id, label in known.items() if label is not None}
    single_id = next(iter(known), None) if spec.type == "classification" else None
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
        else:
            new_ids.assign(label, "category:%s" % name)
        labels[label.id] = label
        if spec.type == "classification":
            break
    return labels


def _objects_from_annotations(interface, spec, annotations, known, image_size, new_ids):
    # regions of one FiftyOne label share its id (part ids); others are new
    groups = {}
    for position, item in enumerate(annotations):
        name = _annotation_class(interface, spec, item)
        if name is None:
            continue
        mid = str(item.get("mid") or "")
        base_id, index = split_part_id(mid)
        if base_id not in known:
            base_id, index = None, 0
        key = base_id or mid or ("position", position)
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
        current = known.get(key) if existing else None
        parts = [(index, item) for index, _, item, _ in group]
        label = _make_label(interface, spec, key if existing else None, name, parts, attributes, current, image_size)
        if label is not None:
            if not existing:
                new_ids.assign(label, _origin_of(key))
            labels[label.id] = label
    return labels


def _origin_of(group_key):
    """Where a new label comes from: the new markers of a class, or a
    region's ``mid`` (``None`` for a region without one)."""
    if isinstance(group_key, tuple):
        kind, value = group_key
        return "markers:%s" % value if kind == "new markers" else None
    return "mid:%s" % group_key


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
    """One label from its regions, or ``None`` when they hold no shape."""
    kwargs = dict(attributes)
    if spec.type == "detections":
        points = [p for _, item in parts[:1] for polygon in _polygons_of(item) for ring in polygon for p in ring]
        if not points:
            return None
        label = fol.Detection(label=name, bounding_box=geometry.corners_to_box(points), **kwargs)
    elif spec.type in ("polylines", "polygons"):
        shapes = [shape for shape in (_line_of(item) for _, item in parts) if shape]
        if not shapes:
            return None
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
        width, height = require_image_size(spec, image_size)
        polygons = [polygon for _, item in parts for polygon in _polygons_of(item)]
        full = masks.polygons_to_mask(_scale_polygons(polygons, width, height), width, height)
        instance = geometry.full_mask_to_instance(full)
        if instance is None:
            return None
        box, mask = instance
        label = fol.Detection(label=name, bounding_box=box, mask=mask, **kwargs)
    else:
        raise ValueError("Unsupported label type %s" % spec.type)
    if label_id is not None:
        label.id = label_id
    return label


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


def _segmentation_from_annotations(interface, spec, annotations, known, image_size, new_ids):
    current_id = next(iter(known), None)
    if not annotations and current_id is None:
        return {}
    # an uploaded mask is read back at its own size (it was sent normalised
    # by it); erasing every region leaves it all zeros, under the same id
    width, height = _mask_size(known.get(current_id)) or require_image_size(spec, image_size)
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
    else:
        new_ids.assign(label, "segmentation")
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
