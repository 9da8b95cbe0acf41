"""FiftyOne labels -> the annotations (or task attributes) of a FastLabel task."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from ..core import geometry, masks
from ..core.idmap import iter_labels, part_id
from ..core.masks import Polygon
from ..core.schema import FieldSpec
from ..core.secrets import get_logger
from .interface import CHOICE_TYPES, CLASSIFICATION_TYPE, IMAGE_CLASSIFICATION, VISIBLE, FastLabelInterface, Json

if TYPE_CHECKING:
    from fiftyone.core.labels import Label

logger = get_logger(__name__)

#: a point as FiftyOne stores it: ``[x, y]`` (``NaN`` or missing when not placed)
Point = Optional[Sequence[float]]


def labels_to_task(
    interface: FastLabelInterface, values: Mapping[str, Any], image_size: tuple[int, int] | None = None
) -> tuple[list[Json], list[Json], list[str | None]]:
    """The annotations (or task attributes) of one sample's task.

    Args:
        interface: the :class:`FastLabelInterface`
        values: ``{field: value}`` of the sample (a label, a container, a
            scalar, or ``None``); fields of the interface that are missing
            are left out
        image_size (None): ``(width, height)`` in pixels, required for
            spatial fields (see :meth:`FastLabelInterface.needs_image_size`)

    Returns:
        ``(annotations, attributes, part_ids)``: the task's annotation list
        as sent (``image_all`` projects), the task-level attributes
        (``image_classification`` projects, else ``[]``), and a list aligned
        with ``annotations`` holding the FiftyOne part id each annotation
        carries (the first label's id for a classification(s) annotation,
        ``None`` for a scalar's)
    """
    annotations: list[Json] = []
    attributes: list[Json] = []
    part_ids: list[str | None] = []
    classification_project = interface.project_type == IMAGE_CLASSIFICATION
    for field, spec in interface.fields.items():
        value = values.get(field)
        if value is None:
            continue
        if spec.type in CHOICE_TYPES:
            items = _choice_attribute_values(interface, spec, value)
            if not items:
                continue
            if classification_project:
                attributes.extend(items)
            else:
                annotations.append(
                    {"type": CLASSIFICATION_TYPE, "value": interface.field_key(field), "attributes": items}
                )
                labels = iter_labels(value) if spec.type != "scalar" else []
                part_ids.append(labels[0].id if labels else None)
            continue
        width, height = _require_size(spec, image_size)
        labels = iter_labels(value)
        if spec.type == "segmentation":
            for label in labels[:1]:
                for index, annotation in _segmentation_annotations(interface, spec, label, width, height):
                    annotations.append(annotation)
                    part_ids.append(part_id(label.id, index))
            continue
        for label in labels:
            class_value = interface.class_value(field, label.label)
            if class_value is None:
                logger.warning(
                    "Field '%s': class %r of label %s is not in the label schema; not sent to FastLabel",
                    field,
                    label.label,
                    label.id,
                )
                continue
            label_attributes = _label_attribute_values(interface, spec, label)
            for index, shape in _label_shapes(interface, spec, label, width, height):
                annotation = {"type": interface.annotation_type(field), "value": class_value}
                annotation.update(shape)
                annotation["attributes"] = [dict(a) for a in label_attributes]
                annotations.append(annotation)
                part_ids.append(part_id(label.id, index))
    return annotations, attributes, part_ids


def _require_size(spec: FieldSpec, image_size: tuple[int, int] | None) -> tuple[int, int]:
    if not image_size or not image_size[0] or not image_size[1]:
        raise ValueError("Field '%s' (%s) needs the image size in pixels" % (spec.name, spec.type))
    return int(image_size[0]), int(image_size[1])


def _attribute_value(interface: FastLabelInterface, spec: FieldSpec, name: str, value: object) -> bool | str | None:
    """The FastLabel value of FiftyOne attribute ``name``, or ``None``."""
    attr = spec.attributes[name]
    if value is None:
        return None
    if attr.type == "checkbox":
        return bool(value)
    if attr.type == "text":
        return str(value)
    option = interface.option_value(spec.name, name, value)
    if option is None:
        logger.warning(
            "Field '%s': value %r of attribute '%s' is not one of its values; not sent", spec.name, value, name
        )
    return option


def _label_attribute_values(interface: FastLabelInterface, spec: FieldSpec, label: Label) -> list[Json]:
    out: list[Json] = []
    for name, key in interface.attribute_keys(spec.name).items():
        value = _attribute_value(interface, spec, name, label.get_attribute_value(name, None))
        if value is not None:
            out.append({"key": key, "value": value})
    return out


def _choice_attribute_values(interface: FastLabelInterface, spec: FieldSpec, value: Any) -> list[Json]:
    """The choice attribute and attributes of a choice field's value."""
    key = interface.field_key(spec.name)
    if spec.type == "scalar":
        choice = _scalar_choice(interface, spec, value)
        return [] if choice is None else [{"key": key, "value": choice}]

    names: list[str] = []
    labels: list[Label] = []
    for label in iter_labels(value)[: 1 if spec.type == "classification" else None]:
        option = interface.choice_values(spec.name).get(str(label.label))
        if option is None:
            logger.warning(
                "Field '%s': class %r is not in the label schema; not sent to FastLabel", spec.name, label.label
            )
            continue
        if option not in names:
            names.append(option)
            labels.append(label)
    if not names:
        return []
    items: list[Json] = [{"key": key, "value": names[0] if spec.type == "classification" else names}]
    # one value per attribute: the first label that sets it provides it
    for name, attr_key in interface.attribute_keys(spec.name).items():
        sent = None
        for label in labels:
            raw = label.get_attribute_value(name, None)
            if raw is None:
                continue
            if sent is None:
                sent = _attribute_value(interface, spec, name, raw)
                if sent is not None:
                    items.append({"key": attr_key, "value": sent})
            elif _attribute_value(interface, spec, name, raw) != sent:
                logger.warning(
                    "Field '%s': the labels of a sample disagree on attribute '%s'; FastLabel holds one value "
                    "per classification, the first label's is sent",
                    spec.name,
                    name,
                )
                break
    return items


def _scalar_choice(interface: FastLabelInterface, spec: FieldSpec, value: Any) -> bool | str | None:
    if spec.scalar_type == "bool":
        parsed = spec.parse_scalar(value)
        return None if parsed is None else bool(parsed)
    choices = interface.choice_values(spec.name)
    if choices:
        option = choices.get(str(value))
        if option is None:
            logger.warning("Field '%s': value %r is not one of its classes; not sent to FastLabel", spec.name, value)
        return option
    if spec.scalar_type == "float" and not isinstance(value, str):
        return repr(float(value))
    if spec.scalar_type == "int" and not isinstance(value, str):
        return str(int(value))
    return str(value)


def _label_shapes(
    interface: FastLabelInterface, spec: FieldSpec, label: Label, width: int, height: int
) -> list[tuple[int, Json]]:
    """``[(part index, shape keys)]`` of one label."""
    if spec.type == "detections":
        if label.bounding_box is None:
            return []
        x, y, w, h = (float(v) for v in label.bounding_box)
        xs = sorted((x * width, (x + w) * width))
        ys = sorted((y * height, (y + h) * height))
        return [(0, {"points": [xs[0], ys[0], xs[1], ys[1]], "rotation": 0})]
    if spec.type in ("polygons", "polylines"):
        minimum = 3 if spec.type == "polygons" else 2
        out: list[tuple[int, Json]] = []
        for index, shape in enumerate(label.points or []):
            ring = [list(p) for p in shape]
            if spec.type == "polygons" and len(ring) > 1 and ring[0] == ring[-1]:
                ring = ring[:-1]  # FastLabel's polygons are not closed
            if len(ring) < minimum or any(geometry.is_missing(p) for p in ring):
                logger.warning(
                    "Field '%s': shape %d of label %s has fewer than %d points; not sent",
                    spec.name,
                    index,
                    label.id,
                    minimum,
                )
                continue
            out.append((index, {"points": _flat(ring, width, height)}))
        return out
    if spec.type == "keypoints":
        if interface.is_pose(spec.name):
            return [(0, {"keypoints": _pose_keypoints(interface, spec, label, width, height)})]
        return [
            (index, {"points": _flat([point], width, height)})
            for index, point in enumerate(label.points or [])
            if not geometry.is_missing(point)
        ]
    if spec.type == "instances":
        if label.bounding_box is None:
            return []
        mask = label.get_mask() if hasattr(label, "get_mask") else label.mask
        full = geometry.instance_to_full_mask(label.bounding_box, mask, width, height)
        regions = _regions(masks.mask_to_polygons(full), 1.0, 1.0)
        if not regions:
            logger.warning("Field '%s': instance %s has an empty mask; not sent", spec.name, label.id)
            return []
        return [(0, {"points": regions})]
    raise ValueError("Unsupported label type %s" % spec.type)


def _flat(points: Iterable[Sequence[float]], width: float, height: float) -> list[float]:
    out: list[float] = []
    for x, y in (p[:2] for p in points):
        out.extend((float(x) * width, float(y) * height))
    return out


def _pose_keypoints(
    interface: FastLabelInterface, spec: FieldSpec, label: Label, width: int, height: int
) -> list[Json]:
    keys = interface.pose_keys(spec.name)
    points = list(label.points or [])
    if len(points) > len(keys):
        logger.warning(
            "Field '%s': keypoint %s has %d points but the skeleton %d; the extra points are not sent "
            "(and are kept as they are on download)",
            spec.name,
            label.id,
            len(points),
            len(keys),
        )
    out: list[Json] = []
    for index, key in enumerate(keys):
        point = points[index] if index < len(points) else None
        if point is None or geometry.is_missing(point):
            out.append({"key": key, "value": []})
        else:
            out.append({"key": key, "value": _flat([point], width, height) + [VISIBLE]})
    return out


def _regions(polygons: Iterable[Polygon], sx: float, sy: float) -> list[list[list[float]]]:
    """``core.masks`` polygons -> FastLabel regions: closed flat rings."""
    regions: list[list[list[float]]] = []
    for polygon in polygons:
        region: list[list[float]] = []
        for ring in polygon:
            ring = np.asarray(ring, dtype=float) * [sx, sy]
            closed = np.concatenate([ring, ring[:1]])
            region.append([float(v) for v in closed.reshape(-1)])
        regions.append(region)
    return regions


def _segmentation_annotations(
    interface: FastLabelInterface, spec: FieldSpec, label: Label, width: int, height: int
) -> list[tuple[int, Json]]:
    """``[(pixel value, annotation)]``: one annotation per class present."""
    mask = label.get_mask() if hasattr(label, "get_mask") else label.mask
    if mask is None:
        return []
    mask = np.asarray(mask)
    if mask.ndim == 3:
        mask = mask[:, :, 0]
    # the mask may have another resolution than the image: scale to pixels
    mask_height, mask_width = mask.shape
    # a segmentation field always has mask targets (normalize_label_schema)
    targets = spec.mask_targets or {}
    sx, sy = width / float(mask_width), height / float(mask_height)
    unknown = sorted(set(np.unique(mask).tolist()) - set(targets) - {0})
    if unknown:
        logger.warning(
            "Field '%s': mask values %s of segmentation %s are not mask targets; not sent",
            spec.name,
            unknown,
            label.id,
        )
    out: list[tuple[int, Json]] = []
    for value, name in sorted(targets.items()):
        class_value = interface.class_value(spec.name, name)
        if value == 0 or class_value is None:
            continue
        regions = _regions(masks.mask_to_polygons(mask == value), sx, sy)
        if regions:
            annotation = {"type": "segmentation", "value": class_value, "points": regions, "attributes": []}
            out.append((value, annotation))
    return out
